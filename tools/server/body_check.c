/* body_check.c — the text-level check of a request body before it is parsed as JSON: UTF-8 only,
 * and no NUL (raw or as a \u0000 escape), so nothing is silently cut at a C string's end. It does
 * not parse JSON (cJSON does, in build_request) or look at fields (api.c does). */
#include "server.h"

/* JSON text is UTF-8 (RFC 8259), and lmc's strings are C strings: invalid UTF-8 and NUL (raw or
 * as \u0000, which cJSON would silently cut the string at) are refused, naming the byte. */
bool srv_check_body_text(const char *body, size_t n, api_error *err) {
    const unsigned char *s = (const unsigned char *)body;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == 0)
            return api_fail(err, 400, NULL, "the request body contains a NUL byte (byte %zu)", i);
        if (c == '\\' && i + 5 < n && s[i + 1] == 'u' && s[i + 2] == '0' && s[i + 3] == '0' &&
            s[i + 4] == '0' && s[i + 5] == '0')
            return api_fail(err, 400, NULL,
                            "the request body has \\u0000 (byte %zu): NUL characters are not "
                            "supported",
                            i);
        if (c == '\\') { /* an escape: its second character can be a backslash */
            i += 2;
            continue;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
        bool ok = c >= 0xC2 && c <= 0xF4 && i + (size_t)len <= n;
        for (int k = 1; ok && k < len; k++) {
            ok = (s[i + (size_t)k] & 0xC0) == 0x80;
            cp = (cp << 6) | (s[i + (size_t)k] & 0x3F);
        }
        if (ok) /* no overlong 3/4-byte forms, no surrogates, nothing past U+10FFFF */
            ok = !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) &&
                 !(cp >= 0xD800 && cp <= 0xDFFF);
        if (!ok)
            return api_fail(err, 400, NULL, "the request body is not valid UTF-8 (byte %zu)", i);
        i += (size_t)len;
    }
    return true;
}
