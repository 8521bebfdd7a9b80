/* util.c — the thread-local last-error message and small helpers. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Thread_local char g_err[2048];

const char *lmc_last_error(void) {
    return g_err;
}

lmc_status lmc_err(lmc_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return st;
}

void lmc_err_prefix(const char *fmt, ...) {
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix - 2, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t plen = strlen(prefix), old = strlen(g_err);
    memcpy(prefix + plen, ": ", 3);
    plen += 2;
    if (plen + old >= sizeof g_err) old = sizeof g_err - 1 - plen;
    memmove(g_err + plen, g_err,
            old); /* shift the old message right, then put the prefix in front */
    g_err[plen + old] = 0;
    memcpy(g_err, prefix, plen);
}

const char *lmc_status_str(lmc_status st) {
    switch (st) {
    case LMC_OK:
        return "ok";
    case LMC_ERR_IO:
        return "I/O error";
    case LMC_ERR_FORMAT:
        return "format error";
    case LMC_ERR_UNSUPPORTED:
        return "unsupported";
    case LMC_ERR_OOM:
        return "out of memory";
    case LMC_ERR_CONTEXT_FULL:
        return "context full";
    case LMC_ERR_BACKEND:
        return "backend error";
    case LMC_ERR_INVALID_ARG:
        return "invalid argument";
    case LMC_ERR_TEMPLATE:
        return "template error";
    case LMC_ERR_CANCELLED:
        return "cancelled";
    }
    return "unknown status";
}

double lmc_time_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void strbuf_printf(strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || b->oom) return;
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

/* One pass over the bytes: escapes are skipped two at a time (so "\\u0000" is text, not NUL), each
 * multi-byte UTF-8 sequence is decoded and checked for overlong forms, surrogates and range. */
lmc_json_text_fault lmc_json_text_check(const char *text, size_t n, size_t *at) {
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        *at = i;
        if (c == 0) return LMC_JSON_TEXT_NUL;
        if (c == '\\' && i + 5 < n && s[i + 1] == 'u' && s[i + 2] == '0' && s[i + 3] == '0' &&
            s[i + 4] == '0' && s[i + 5] == '0')
            return LMC_JSON_TEXT_NUL_ESCAPE;
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
        if (!ok) return LMC_JSON_TEXT_BAD_UTF8;
        i += (size_t)len;
    }
    *at = n;
    return LMC_JSON_TEXT_OK;
}
