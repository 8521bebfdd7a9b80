/* schema_regex.c — a JSON schema's "pattern" as a GBNF expression: literals, escapes (\d \w \s and
 * their negations, \n \t \xhh \uhhhh, escaped punctuation), classes with ranges and negation, '.',
 * groups (plain and (?:...)), alternation, * + ? {m} {m,} {m,n} (lazy forms match the same
 * strings). The match covers the whole string (^ and $ at the ends are implied). Characters are
 * produced in their JSON encoding ('"' as \", controls escaped); where a class holds characters
 * JSON must escape, only those with a short escape are kept. Backreferences, lookaround, word
 * boundaries and inner anchors are refused with an error. */
#include "util.h"
#include "grammar.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s, *end;
    char *err;
    size_t n_err;
    bool failed;
    int depth;
} rx;

static bool rfail(rx *r, const char *fmt, ...) {
    if (r->failed) return false;
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->n_err, fmt, ap);
    va_end(ap);
    return false;
}

/* ---- code points in their JSON encoding ---------------------------------------------------- */
static void class_char(strbuf *b, uint32_t cp) {
    if (cp >= 0x20 && cp < 0x7F && !strchr("]\\-^[\"", (int)cp))
        strbuf_printf(b, "%c", (int)cp);
    else if (cp <= 0xFF)
        strbuf_printf(b, "\\x%02X", cp);
    else if (cp <= 0xFFFF)
        strbuf_printf(b, "\\u%04X", cp);
    else
        strbuf_printf(b, "\\U%08X", cp);
}

static void lit_cp(strbuf *b, uint32_t cp) {
    static const char *const ESC[32] = {[8] = "b", [9] = "t", [10] = "n", [12] = "f", [13] = "r"};
    if (cp == '"')
        strbuf_printf(b, "\"\\\\\\\"\"");
    else if (cp == '\\')
        strbuf_printf(b, "\"\\\\\\\\\"");
    else if (cp < 0x20 && ESC[cp])
        strbuf_printf(b, "\"\\\\%s\"", ESC[cp]);
    else if (cp < 0x20)
        strbuf_printf(b, "\"\\\\u%04x\"", cp);
    else {
        strbuf_printf(b, "[");
        class_char(b, cp);
        strbuf_printf(b, "]");
    }
}

/* ---- classes -------------------------------------------------------------------------------- */
typedef struct {
    uint32_t lo, hi;
} range;

#define MAX_RANGES 256

typedef struct {
    range r[MAX_RANGES];
    int n;
    bool neg;
} cclass;

static bool add_range(rx *r, cclass *c, uint32_t lo, uint32_t hi) {
    if (c->n == MAX_RANGES) return rfail(r, "a character class with too many items");
    c->r[c->n++] = (range){lo, hi};
    return true;
}

static bool has_cp(const cclass *c, uint32_t cp) {
    for (int i = 0; i < c->n; i++)
        if (c->r[i].lo <= cp && cp <= c->r[i].hi) return true;
    return false;
}

/* The class as GBNF: what JSON carries raw in one class, the escaped characters as literals. */
static bool emit_class(rx *r, strbuf *b, const cclass *c) {
    static const uint32_t SPECIAL[] = {'"', '\\', '\b', '\t', '\n', '\f', '\r'};
    int alts = 0;
    strbuf_printf(b, "(");
    if (c->neg) {
        strbuf_printf(b, "[^");
        for (int i = 0; i < c->n; i++) {
            class_char(b, c->r[i].lo);
            if (c->r[i].hi > c->r[i].lo) strbuf_printf(b, "-"), class_char(b, c->r[i].hi);
        }
        strbuf_printf(b, "\\x00-\\x1F\\x22\\x5C]");
        alts++;
        for (int k = 0; k < 2; k++) /* '"' and '\' unless excluded (controls: left out) */
            if (!has_cp(c, SPECIAL[k])) strbuf_printf(b, " | "), lit_cp(b, SPECIAL[k]), alts++;
    } else {
        strbuf in = {0};
        for (int i = 0; i < c->n; i++) { /* the ranges minus controls, '"' and '\' */
            uint32_t lo = c->r[i].lo < 0x20 ? 0x20 : c->r[i].lo, hi = c->r[i].hi;
            const uint32_t cut[2] = {0x22, 0x5C};
            for (int k = 0; k < 2 && lo <= hi; k++) {
                if (cut[k] < lo || cut[k] > hi) continue;
                if (cut[k] > lo) {
                    class_char(&in, lo);
                    if (cut[k] - 1 > lo) strbuf_printf(&in, "-"), class_char(&in, cut[k] - 1);
                }
                lo = cut[k] + 1;
            }
            if (lo <= hi) {
                class_char(&in, lo);
                if (hi > lo) strbuf_printf(&in, "-"), class_char(&in, hi);
            }
        }
        if (in.n) strbuf_printf(b, "[%s]", in.p), alts++;
        free(in.p);
        for (size_t k = 0; k < sizeof SPECIAL / sizeof SPECIAL[0]; k++)
            if (has_cp(c, SPECIAL[k]))
                strbuf_printf(b, alts ? " | " : ""), lit_cp(b, SPECIAL[k]), alts++;
    }
    strbuf_printf(b, ")");
    return alts ? true : rfail(r, "a character class that no JSON string character matches");
}

/* \d \w \s into c (negated forms only as whole atoms); false when e is not one of them. */
static bool class_escape(rx *r, cclass *c, char e) {
    switch (e) {
    case 'd':
        return add_range(r, c, '0', '9');
    case 'w':
        return add_range(r, c, 'a', 'z') && add_range(r, c, 'A', 'Z') &&
               add_range(r, c, '0', '9') && add_range(r, c, '_', '_');
    case 's':
        return add_range(r, c, ' ', ' ') && add_range(r, c, '\t', '\n') &&
               add_range(r, c, '\f', '\r') && add_range(r, c, 0x0B, 0x0B);
    default:
        return false;
    }
}

static int hexv(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* One literal code point (raw UTF-8 or an escape) at r->s. */
static bool read_cp(rx *r, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)r->s;
    if (*s == '\\') {
        char e = (char)s[1];
        const char *simple = "ntrfv0", *val = "\n\t\r\f\v";
        if (!e) return rfail(r, "a trailing backslash");
        if (e == 'x' || e == 'u') {
            int n = e == 'x' ? 2 : 4;
            uint32_t v = 0;
            for (int i = 0; i < n; i++) {
                int h = hexv((char)s[2 + i]);
                if (h < 0) return rfail(r, "a bad \\%c escape", e);
                v = v << 4 | (uint32_t)h;
            }
            *cp = v;
            r->s += 2 + n;
            return true;
        }
        const char *k = strchr(simple, e);
        if (k && e != '0') {
            *cp = (uint32_t)(unsigned char)val[k - simple];
        } else if (e >= '0' && e <= '9') {
            return rfail(r, "backreferences (\\%c) are not supported", e);
        } else if (strchr("bBAzZGkpPQE", e)) {
            return rfail(r, "the escape \\%c is not supported", e);
        } else if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) {
            return rfail(r, "the escape \\%c is not supported", e);
        } else {
            *cp = (uint32_t)(unsigned char)e;
        }
        r->s += 2;
        return true;
    }
    int len = s[0] < 0x80         ? 1
              : (s[0] >> 5) == 6  ? 2
              : (s[0] >> 4) == 14 ? 3
              : (s[0] >> 3) == 30 ? 4
                                  : 0;
    if (!len) return rfail(r, "invalid UTF-8");
    uint32_t v = len == 1 ? s[0] : s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return rfail(r, "invalid UTF-8");
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    r->s += len;
    return true;
}

static bool parse_class(rx *r, strbuf *b) {
    cclass c = {.n = 0};
    r->s++; /* '[' */
    if (*r->s == '^') c.neg = true, r->s++;
    bool first = true;
    while (*r->s && (*r->s != ']' || first)) {
        first = false;
        if (r->s[0] == '\\' && strchr("dws", r->s[1])) {
            if (!class_escape(r, &c, r->s[1])) return false;
            r->s += 2;
            continue;
        }
        if (r->s[0] == '\\' && strchr("DWS", r->s[1]))
            return rfail(r, "\\%c inside a class is not supported", r->s[1]);
        if (r->s[0] == '[' && r->s[1] == ':') return rfail(r, "POSIX classes are not supported");
        uint32_t lo, hi;
        if (!read_cp(r, &lo)) return false;
        hi = lo;
        if (r->s[0] == '-' && r->s[1] && r->s[1] != ']') {
            r->s++;
            if (!read_cp(r, &hi)) return false;
            if (hi < lo) return rfail(r, "a class range out of order");
        }
        if (!add_range(r, &c, lo, hi)) return false;
    }
    if (*r->s != ']') return rfail(r, "an unterminated character class");
    r->s++;
    return emit_class(r, b, &c);
}

/* ---- atoms, sequences, alternation ---------------------------------------------------------- */
static bool parse_alt(rx *r, strbuf *b);

static bool parse_atom(rx *r, strbuf *b) {
    const char *s = r->s;
    if (*s == '(') {
        if (++r->depth > 50) return rfail(r, "groups nested too deep");
        r->s++;
        if (*r->s == '?') {
            if (r->s[1] != ':')
                return rfail(r, "'(?%c' (lookaround, named groups, flags) is not supported",
                             r->s[1] ? r->s[1] : ' ');
            r->s += 2;
        }
        if (!parse_alt(r, b)) return false;
        if (*r->s != ')') return rfail(r, "a missing ')'");
        r->s++;
        r->depth--;
        return true;
    }
    if (*s == '[') return parse_class(r, b);
    if (*s == '.') {
        r->s++;
        cclass c = {.neg = true, .n = 1, .r = {{'\n', '\n'}}};
        return emit_class(r, b, &c);
    }
    if (*s == '^' || *s == '$') return rfail(r, "'%c' inside the pattern is not supported", *s);
    if (strchr("*+?{", *s)) return rfail(r, "'%c' with nothing to repeat", *s);
    if (*s == '\\' && strchr("dwsDWS", s[1]) && s[1]) {
        cclass c = {.n = 0};
        c.neg = s[1] >= 'A' && s[1] <= 'Z';
        class_escape(r, &c, (char)(s[1] | 0x20));
        r->s += 2;
        return emit_class(r, b, &c);
    }
    uint32_t cp;
    if (!read_cp(r, &cp)) return false;
    lit_cp(b, cp);
    return true;
}

static bool read_uint(rx *r, long *out) {
    if (*r->s < '0' || *r->s > '9') return false;
    long v = 0;
    while (*r->s >= '0' && *r->s <= '9') {
        v = v * 10 + (*r->s++ - '0');
        if (v > 1000) return false;
    }
    *out = v;
    return true;
}

static bool parse_quant(rx *r, strbuf *b) {
    char q = *r->s;
    if (q == '*' || q == '+' || q == '?') {
        strbuf_printf(b, "%c", q);
        r->s++;
    } else if (q == '{') {
        long m, n = -1;
        r->s++;
        if (!read_uint(r, &m)) return rfail(r, "a bad {m,n} repetition (counts up to 1000)");
        if (*r->s == ',') {
            r->s++;
            if (*r->s != '}' && !read_uint(r, &n))
                return rfail(r, "a bad {m,n} repetition (counts up to 1000)");
            if (n >= 0 && n < m) return rfail(r, "a {m,n} repetition with n < m");
            strbuf_printf(b, n >= 0 ? "{%ld,%ld}" : "{%ld,}", m, n);
        } else {
            strbuf_printf(b, "{%ld}", m);
        }
        if (*r->s != '}') return rfail(r, "a missing '}'");
        r->s++;
    } else {
        return true;
    }
    if (*r->s == '?') r->s++; /* lazy: the same strings */
    if (*r->s == '+') return rfail(r, "possessive quantifiers are not supported");
    if (*r->s && strchr("*+?{", *r->s)) return rfail(r, "a repeated quantifier");
    return true;
}

static bool parse_seq(rx *r, strbuf *b) {
    int n = 0;
    strbuf_printf(b, "(");
    while (r->s < r->end && *r->s != '|' && *r->s != ')') {
        if (n++) strbuf_printf(b, " ");
        strbuf_printf(b, "(");
        if (!parse_atom(r, b)) return false;
        strbuf_printf(b, ")");
        if (!parse_quant(r, b)) return false;
    }
    if (!n) strbuf_printf(b, "\"\"");
    strbuf_printf(b, ")");
    return true;
}

static bool parse_alt(rx *r, strbuf *b) {
    strbuf_printf(b, "(");
    if (!parse_seq(r, b)) return false;
    while (*r->s == '|') {
        r->s++;
        strbuf_printf(b, " | ");
        if (!parse_seq(r, b)) return false;
    }
    strbuf_printf(b, ")");
    return true;
}

char *schema_regex_to_gbnf(const char *re, char *err, size_t err_size) {
    size_t n = strlen(re);
    rx r = {.s = re, .end = re + n, .err = err, .n_err = err_size};
    if (*r.s == '^') r.s++;
    if (n > 0 && re[n - 1] == '$') {
        size_t k = 0; /* an escaped '$' is a literal */
        while (k + 2 <= n && re[n - 2 - k] == '\\')
            k++;
        if (k % 2 == 0) r.end--;
    }
    if (n > 10000) {
        snprintf(err, err_size, "a pattern longer than 10000 bytes");
        return NULL;
    }
    /* parse a copy that ends where the pattern does (a final '$' cut) */
    char *copy = strndup(r.s, (size_t)(r.end - r.s));
    strbuf b = {0};
    if (!copy) return NULL;
    r.s = copy;
    r.end = copy + strlen(copy);
    bool ok = parse_alt(&r, &b);
    if (ok && *r.s) ok = rfail(&r, "an unmatched ')'");
    free(copy);
    if (!ok || b.oom) {
        if (b.oom) snprintf(err, err_size, "out of memory");
        free(b.p);
        return NULL;
    }
    return b.p;
}
