/* body_check.c — the text-level check of a request body before it is parsed as JSON: UTF-8 only,
 * and no NUL (raw or as a \u0000 escape), so nothing is silently cut at a C string's end. It does
 * not parse JSON (cJSON does, in build_request) or look at fields (api.c does); the scan itself
 * is the library's lmc_json_text_check, shared with the JSON-schema converter. */
#include "server.h"

/* JSON text is UTF-8 (RFC 8259), and lmc's strings are C strings: invalid UTF-8 and NUL (raw or
 * as \u0000, which cJSON would silently cut the string at) are refused, naming the byte. */
bool srv_check_body_text(const char *body, size_t n, api_error *err) {
    size_t at;
    switch (lmc_json_text_check(body, n, &at)) {
    case LMC_JSON_TEXT_OK:
        return true;
    case LMC_JSON_TEXT_NUL:
        return api_fail(err, 400, NULL, "the request body contains a NUL byte (byte %zu)", at);
    case LMC_JSON_TEXT_NUL_ESCAPE:
        return api_fail(err, 400, NULL,
                        "the request body has \\u0000 (byte %zu): NUL characters are not supported",
                        at);
    case LMC_JSON_TEXT_BAD_UTF8:
        break;
    }
    return api_fail(err, 400, NULL, "the request body is not valid UTF-8 (byte %zu)", at);
}
