/* json_schema.c — converts a JSON Schema to GBNF, after llama.cpp's json_schema_to_grammar: types
 * and type lists, properties/required (in the order given), additionalProperties, enum, const,
 * items/prefixItems/minItems/maxItems, anyOf/oneOf, simple allOf, local $ref/$defs (recursion
 * allowed), string minLength/maxLength/format/pattern (a regex subset), integers with exact
 * minimum/maximum, numbers with integer bounds. Anything else is an error naming the keyword and
 * its path: never a silently weaker grammar. The pattern's regex is converted by schema_regex. */
#include "grammar.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s as the inside of a GBNF string literal (quotes, backslashes and control bytes escaped). */
static void sb_lit(strbuf *b, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            strbuf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            strbuf_printf(b, "\\x%02X", c);
        else
            strbuf_printf(b, "%c", c);
    }
}

/* ---- the converter -------------------------------------------------------------------------- */
typedef struct {
    char *name, *body;
} jrule;

typedef struct {
    jrule *rules;
    int n, cap;
    struct {
        char *ref, *name;
    } refs[256];
    int n_refs;
    const cJSON *root;
    lmc_status st;
    int depth;
} conv;

#define MAX_DEPTH 64
#define MAX_REPEAT 1000 /* bounded repetitions (lengths, item counts) spell out this many rules */

static const char *fail(conv *c, lmc_status st, const char *path, const char *fmt, ...)
    LMC_PRINTF(4, 5);
static const char *fail(conv *c, lmc_status st, const char *path, const char *fmt, ...) {
    if (c->st != LMC_OK) return NULL;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = lmc_err(st, "json schema: at %s: %s", *path ? path : "/", msg);
    return NULL;
}

static const char *oom(conv *c) {
    return fail(c, LMC_ERR_OOM, "", "out of memory");
}

/* Adds rule name ::= body (a name already holding the same body is reused; another body gets a
 * numbered name). Returns the rule's name (owned by c). */
static const char *add_rule(conv *c, const char *name, const char *body) {
    char base[128];
    size_t k = 0;
    for (const char *s = name; *s && k < 100; s++)
        base[k++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                                   (*s >= '0' && *s <= '9') || *s == '-'
                               ? *s
                               : '-');
    base[k] = 0;
    if (!k) strcpy(base, "r");
    char cand[160];
    snprintf(cand, sizeof cand, "%s", base);
    for (int i = 1;; i++) {
        int j = 0;
        while (j < c->n && strcmp(c->rules[j].name, cand))
            j++;
        if (j == c->n) break;
        if (body && c->rules[j].body && !strcmp(c->rules[j].body, body)) return c->rules[j].name;
        snprintf(cand, sizeof cand, "%s-%d", base, i);
    }
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 32;
        jrule *r = realloc(c->rules, (size_t)cap * sizeof *r);
        if (!r) return oom(c);
        c->rules = r;
        c->cap = cap;
    }
    jrule *r = &c->rules[c->n];
    r->name = strdup(cand);
    r->body = body ? strdup(body) : NULL;
    if (!r->name || (body && !r->body)) return oom(c);
    c->n++;
    return r->name;
}

static void set_body(conv *c, const char *name, const char *body) {
    for (int j = 0; j < c->n; j++)
        if (!strcmp(c->rules[j].name, name) && !c->rules[j].body) {
            c->rules[j].body = strdup(body);
            if (!c->rules[j].body) oom(c);
        }
}

/* The primitive rules, added with what they use. */
static const char *prim(conv *c, const char *name) {
    static const char *const P[][3] = {
        {"space", "| \" \" | \"\\n\"{1,2} [ \\t]{0,20}", ""},
        {"boolean", "(\"true\" | \"false\") space", "space"},
        {"null", "\"null\" space", "space"},
        {"integral-part", "[0] | [1-9] [0-9]{0,15}", ""},
        {"decimal-part", "[0-9]{1,16}", ""},
        {"number", "(\"-\"? integral-part) (\".\" decimal-part)? ([eE] [-+]? integral-part)? space",
         "integral-part decimal-part space"},
        {"integer", "(\"-\"? integral-part) space", "integral-part space"},
        {"char", "[^\"\\\\\\x7F\\x00-\\x1F] | [\\\\] ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})", ""},
        {"string", "\"\\\"\" char* \"\\\"\" space", "char space"},
        {"value", "object | array | string | number | boolean | null",
         "object array string number boolean null"},
        {"object",
         "\"{\" space ( string \":\" space value (\",\" space string \":\" space value)* )? \"}\" "
         "space",
         "string value space"},
        {"array", "\"[\" space ( value (\",\" space value)* )? \"]\" space", "value space"},
        /* the days each month has (February: 28; the 29th of leap years is never produced) */
        {"date",
         "[1-9] [0-9]{3} \"-\" ( ( \"0\" [13578] | \"1\" [02] ) \"-\" ( \"0\" [1-9] | [12] "
         "[0-9] | \"3\" [01] ) | ( \"0\" [469] | \"11\" ) \"-\" ( \"0\" [1-9] | [12] [0-9] | "
         "\"30\" ) | \"02-\" ( \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8] ) )",
         ""},
        {"time",
         "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{3} )? ( "
         "\"Z\" | ( \"+\" | \"-\" ) ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )",
         ""},
        {"date-time", "date \"T\" time", "date time"},
        {"date-string", "\"\\\"\" date \"\\\"\" space", "date space"},
        {"time-string", "\"\\\"\" time \"\\\"\" space", "time space"},
        {"date-time-string", "\"\\\"\" date-time \"\\\"\" space", "date-time space"},
        {"uuid",
         "\"\\\"\" [0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} "
         "\"-\" [0-9a-fA-F]{12} \"\\\"\" space",
         "space"},
    };
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
        if (strcmp(P[i][0], name)) continue;
        for (int j = 0; j < c->n; j++)
            if (!strcmp(c->rules[j].name, name)) return c->rules[j].name;
        const char *r = add_rule(c, name, P[i][1]);
        char deps[128], *save = NULL;
        snprintf(deps, sizeof deps, "%s", P[i][2]);
        for (char *d = strtok_r(deps, " ", &save); d; d = strtok_r(NULL, " ", &save))
            prim(c, d);
        return r;
    }
    return NULL;
}

static const char *visit(conv *c, const cJSON *s, const char *hint, const char *path);

/* A child path "<path>/<key>". */
static void child(char *out, size_t size, const char *path, const char *key) {
    snprintf(out, size, "%s/%s", path, key);
}

/* ---- keywords ------------------------------------------------------------------------------- */
static const char *const ANNOTATIONS[] = {"title",    "description", "$schema",  "$id",
                                          "$comment", "default",     "examples", "deprecated",
                                          "readOnly", "writeOnly",   "$defs",    "definitions",
                                          "strict",   "nullable_ok", "$anchor"};
static const char *const KNOWN[] = {"type",
                                    "properties",
                                    "required",
                                    "additionalProperties",
                                    "items",
                                    "prefixItems",
                                    "minItems",
                                    "maxItems",
                                    "enum",
                                    "const",
                                    "anyOf",
                                    "oneOf",
                                    "allOf",
                                    "$ref",
                                    "pattern",
                                    "minLength",
                                    "maxLength",
                                    "format",
                                    "minimum",
                                    "maximum",
                                    "exclusiveMinimum",
                                    "exclusiveMaximum"};

static bool in_list(const char *k, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k, list[i])) return true;
    return false;
}
#define IN(k, L) in_list(k, L, sizeof L / sizeof L[0])

static bool check_keywords(conv *c, const cJSON *s, const char *path) {
    for (const cJSON *k = s->child; k; k = k->next) {
        if (IN(k->string, ANNOTATIONS) || IN(k->string, KNOWN)) continue;
        if (!strcmp(k->string, "uniqueItems") && cJSON_IsFalse(k)) continue;
        fail(c, LMC_ERR_UNSUPPORTED, path, "unsupported keyword '%s'", k->string);
        return false;
    }
    return true;
}

/* Whether s has keywords besides annotations and those listed. */
static const char *other_keyword(const cJSON *s, const char *const *allowed, size_t n) {
    for (const cJSON *k = s->child; k; k = k->next)
        if (!IN(k->string, ANNOTATIONS) && !in_list(k->string, allowed, n)) return k->string;
    return NULL;
}

/* ---- literals: const and enum --------------------------------------------------------------- */
static void lit_json(strbuf *b, const cJSON *v) {
    char *t = cJSON_PrintUnformatted(v);
    if (!t) {
        b->oom = true;
        return;
    }
    strbuf_printf(b, "\"");
    sb_lit(b, t);
    strbuf_printf(b, "\"");
    free(t);
}

/* "\"key\"" as a GBNF literal of the key's JSON text. */
static void lit_key(strbuf *b, const char *key) {
    cJSON *k = cJSON_CreateString(key);
    if (!k) {
        b->oom = true;
        return;
    }
    lit_json(b, k);
    cJSON_Delete(k);
}

static const char *visit_literals(conv *c, const cJSON *e, bool is_enum, const char *hint,
                                  const char *path) {
    strbuf b = {0};
    if (is_enum) {
        if (!cJSON_IsArray(e) || !cJSON_GetArraySize(e)) {
            free(b.p);
            return fail(c, LMC_ERR_FORMAT, path, "'enum' must be a non-empty array");
        }
        strbuf_printf(&b, "(");
        int i = 0;
        for (const cJSON *v = e->child; v; v = v->next, i++) {
            if (i) strbuf_printf(&b, " | ");
            lit_json(&b, v);
        }
        strbuf_printf(&b, ") space");
    } else {
        lit_json(&b, e);
        strbuf_printf(&b, " space");
    }
    prim(c, "space");
    const char *r = b.oom ? oom(c) : add_rule(c, hint, b.p);
    free(b.p);
    return r;
}

/* ---- integers ------------------------------------------------------------------------------- */
/* Non-negative integers with as many digits as x and y, x <= y, as a GBNF expression. */
static void digits_range(strbuf *b, const char *x, const char *y) {
    size_t n = strlen(x);
    if (!n) return;
    bool zeros = strspn(x, "0") == n, nines = strspn(y, "9") == n;
    if (zeros && nines) {
        strbuf_printf(b, "[0-9]{%zu}", n);
        return;
    }
    if (strspn(x + 1, "0") == n - 1 && strspn(y + 1, "9") == n - 1) {
        strbuf_printf(b, "[%c-%c]", x[0], y[0]);
        if (n > 1) strbuf_printf(b, " [0-9]{%zu}", n - 1);
        return;
    }
    if (x[0] == y[0]) {
        strbuf_printf(b, "\"%c\"", x[0]);
        if (n > 1) strbuf_printf(b, " ");
        digits_range(b, x + 1, y + 1);
        return;
    }
    char lo[24], hi[24];
    memset(lo, '0', n - 1);
    lo[n - 1] = 0;
    memset(hi, '9', n - 1);
    hi[n - 1] = 0;
    strbuf_printf(b, "(");
    strbuf_printf(b, "\"%c\"", x[0]); /* x0 then x[1..] .. 99 */
    if (n > 1) strbuf_printf(b, " "), digits_range(b, x + 1, hi);
    if (x[0] + 1 <= y[0] - 1) {
        strbuf_printf(b, " | [%c-%c]", x[0] + 1, y[0] - 1);
        if (n > 1) strbuf_printf(b, " [0-9]{%zu}", n - 1);
    }
    strbuf_printf(b, " | \"%c\"", y[0]); /* y0 then 00 .. y[1..] */
    if (n > 1) strbuf_printf(b, " "), digits_range(b, lo, y + 1);
    strbuf_printf(b, ")");
}

#define INT_MAX_DIGITS 16 /* as llama.cpp's integral-part: at most 16 digits */

/* Non-negative integers in [a, b] (b < 0: unbounded) without leading zeros. */
static void uint_range(strbuf *b, int64_t a, int64_t hi) {
    char sa[24], sh[24];
    snprintf(sa, sizeof sa, "%lld", (long long)a);
    int la = (int)strlen(sa), lh = INT_MAX_DIGITS;
    if (hi >= 0) lh = snprintf(sh, sizeof sh, "%lld", (long long)hi);
    strbuf_printf(b, "(");
    for (int L = la; L <= lh; L++) {
        char lo_s[24], hi_s[24];
        if (L == la)
            snprintf(lo_s, sizeof lo_s, "%s", sa);
        else
            memset(lo_s, '0', (size_t)L), lo_s[0] = '1', lo_s[L] = 0;
        if (hi >= 0 && L == lh)
            snprintf(hi_s, sizeof hi_s, "%s", sh);
        else
            memset(hi_s, '9', (size_t)L), hi_s[L] = 0;
        if (L > la) strbuf_printf(b, " | ");
        digits_range(b, lo_s, hi_s);
    }
    strbuf_printf(b, ")");
}

/* Reads minimum/maximum (and the exclusive forms) as integer bounds for an integer. */
static bool int_bounds(conv *c, const cJSON *s, const char *path, bool *has_lo, int64_t *lo,
                       bool *has_hi, int64_t *hi) {
    const double LIM = 1e15;
    const char *keys[4] = {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"};
    *has_lo = *has_hi = false;
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, keys[i]);
        if (!v) continue;
        if (cJSON_IsBool(v)) {
            fail(c, LMC_ERR_UNSUPPORTED, path, "boolean '%s' (draft 4) is not supported", keys[i]);
            return false;
        }
        if (!cJSON_IsNumber(v)) {
            fail(c, LMC_ERR_FORMAT, path, "'%s' must be a number", keys[i]);
            return false;
        }
        double d = v->valuedouble;
        if (!(fabs(d) <= LIM)) {
            fail(c, LMC_ERR_UNSUPPORTED, path, "'%s' beyond +-1e15 is not supported", keys[i]);
            return false;
        }
        if (i < 2) {
            int64_t x = i == 0 ? (int64_t)ceil(d) : (int64_t)floor(d) + 1;
            if (!*has_lo || x > *lo) *lo = x;
            *has_lo = true;
        } else {
            int64_t x = i == 2 ? (int64_t)floor(d) : (int64_t)ceil(d) - 1;
            if (!*has_hi || x < *hi) *hi = x;
            *has_hi = true;
        }
    }
    if (*has_lo && *has_hi && *lo > *hi) {
        fail(c, LMC_ERR_FORMAT, path, "no integer lies between the minimum and the maximum");
        return false;
    }
    return true;
}

/* Integers in [lo, hi] (either side may be open) as a GBNF expression. */
static void int_range(strbuf *b, bool has_lo, int64_t lo, bool has_hi, int64_t hi) {
    bool neg = !has_lo || lo < 0, pos = !has_hi || hi >= 0;
    strbuf_printf(b, "(");
    if (neg) { /* -m for m in [max(1, -hi), -lo] */
        int64_t a = has_hi && hi < 0 ? -hi : 1, m = has_lo ? -lo : -1;
        strbuf_printf(b, "\"-\" ");
        uint_range(b, a, m);
    }
    if (neg && pos) strbuf_printf(b, " | ");
    if (pos) uint_range(b, has_lo && lo > 0 ? lo : 0, has_hi ? hi : -1);
    strbuf_printf(b, ")");
}

static const char *visit_integer(conv *c, const cJSON *s, const char *hint, const char *path) {
    bool hl, hh;
    int64_t lo = 0, hi = 0;
    if (!int_bounds(c, s, path, &hl, &lo, &hh, &hi)) return NULL;
    if (!hl && !hh) return prim(c, "integer");
    strbuf b = {0};
    int_range(&b, hl, lo, hh, hi);
    strbuf_printf(&b, " space");
    prim(c, "space");
    const char *r = b.oom ? oom(c) : add_rule(c, hint, b.p);
    free(b.p);
    return r;
}

/* Numbers: unbounded, or with integer bounds (magnitude ranges with an optional fraction). */
static void mag_range(strbuf *b, int64_t a, int64_t m) {
    /* magnitudes v with a <= v <= m (m < 0: unbounded), v = I or I.f */
    strbuf_printf(b, "(");
    if (m < 0) {
        uint_range(b, a, -1);
        strbuf_printf(b, " (\".\" decimal-part)?");
    } else {
        if (a <= m - 1) {
            uint_range(b, a, m - 1);
            strbuf_printf(b, " (\".\" decimal-part)? | ");
        }
        uint_range(b, m, m);
        strbuf_printf(b, " (\".\" \"0\"{1,16})?");
    }
    strbuf_printf(b, ")");
}

static const char *visit_number(conv *c, const cJSON *s, const char *hint, const char *path) {
    const char *keys[4] = {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"};
    bool any = false;
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, keys[i]);
        if (!v) continue;
        any = true;
        if (i == 1 || i == 3)
            return fail(c, LMC_ERR_UNSUPPORTED, path,
                        "'%s' on a 'number' is not supported (use 'minimum'/'maximum')", keys[i]);
        if (cJSON_IsNumber(v) && v->valuedouble != floor(v->valuedouble))
            return fail(c, LMC_ERR_UNSUPPORTED, path,
                        "'%s' on a 'number' must be an integer value (got %g)", keys[i],
                        v->valuedouble);
    }
    if (!any) return prim(c, "number");
    bool hl, hh;
    int64_t lo = 0, hi = 0;
    if (!int_bounds(c, s, path, &hl, &lo, &hh, &hi)) return NULL;
    strbuf b = {0};
    strbuf_printf(&b, "(");
    bool neg = !hl || lo < 0, pos = !hh || hi >= 0;
    if (neg) { /* -v, v in [max(0, -hi), -lo] */
        strbuf_printf(&b, "\"-\" ");
        mag_range(&b, hh && hi < 0 ? -hi : 0, hl ? -lo : -1);
    }
    if (neg && pos) strbuf_printf(&b, " | ");
    if (pos) mag_range(&b, hl && lo > 0 ? lo : 0, hh ? hi : -1);
    strbuf_printf(&b, ") space");
    prim(c, "decimal-part");
    prim(c, "space");
    const char *r = b.oom ? oom(c) : add_rule(c, hint, b.p);
    free(b.p);
    return r;
}

/* ---- strings -------------------------------------------------------------------------------- */

static bool get_count(conv *c, const cJSON *s, const char *key, const char *path, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
    if (!v) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble > 1e9) {
        fail(c, LMC_ERR_FORMAT, path, "'%s' must be a non-negative integer", key);
        return false;
    }
    *out = (int64_t)v->valuedouble;
    return true;
}

static const char *visit_string(conv *c, const cJSON *s, const char *hint, const char *path) {
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(s, "format");
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(s, "pattern");
    bool lens = cJSON_GetObjectItemCaseSensitive(s, "minLength") ||
                cJSON_GetObjectItemCaseSensitive(s, "maxLength");
    if ((fmt != NULL) + (pat != NULL) + lens > 1)
        return fail(c, LMC_ERR_UNSUPPORTED, path,
                    "combining 'format', 'pattern' and 'minLength'/'maxLength' is not supported");
    if (fmt) {
        const char *f = cJSON_IsString(fmt) ? fmt->valuestring : "";
        if (!strcmp(f, "date")) return prim(c, "date-string");
        if (!strcmp(f, "time")) return prim(c, "time-string");
        if (!strcmp(f, "date-time")) return prim(c, "date-time-string");
        if (!strcmp(f, "uuid")) return prim(c, "uuid");
        return fail(c, LMC_ERR_UNSUPPORTED, path,
                    "'format': '%s' is not supported (date, time, date-time, uuid are)", f);
    }
    strbuf b = {0};
    if (pat) {
        char err[200];
        if (!cJSON_IsString(pat))
            return fail(c, LMC_ERR_FORMAT, path, "'pattern' must be a string");
        char *re = schema_regex_to_gbnf(pat->valuestring, err, sizeof err);
        if (!re) return fail(c, LMC_ERR_UNSUPPORTED, path, "'pattern': %s", err);
        strbuf_printf(&b, "\"\\\"\" %s \"\\\"\" space", re);
        free(re);
    } else {
        int64_t lo = 0, hi = -1;
        if (!get_count(c, s, "minLength", path, &lo) || !get_count(c, s, "maxLength", path, &hi))
            return NULL;
        if (!lens) return prim(c, "string");
        if (hi >= 0 && hi < lo)
            return fail(c, LMC_ERR_FORMAT, path, "'maxLength' is below 'minLength'");
        if ((hi >= 0 ? hi : lo) > MAX_REPEAT)
            return fail(c, LMC_ERR_UNSUPPORTED, path, "string lengths above %d are not supported",
                        MAX_REPEAT);
        prim(c, "char");
        if (hi >= 0)
            strbuf_printf(&b, "\"\\\"\" char{%lld,%lld} \"\\\"\" space", (long long)lo,
                          (long long)hi);
        else
            strbuf_printf(&b, "\"\\\"\" char{%lld,} \"\\\"\" space", (long long)lo);
    }
    prim(c, "space");
    const char *r = b.oom ? oom(c) : add_rule(c, hint, b.p);
    free(b.p);
    return r;
}

/* ---- arrays --------------------------------------------------------------------------------- */
static const char *visit_array(conv *c, const cJSON *s, const char *hint, const char *path) {
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(s, "prefixItems");
    char p[512], name[160];
    strbuf b = {0};
    prim(c, "space");
    if (prefix) { /* a tuple: exactly these items (then more only when 'items' is a schema) */
        if (!cJSON_IsArray(prefix))
            return fail(c, LMC_ERR_FORMAT, path, "'prefixItems' must be an array");
        if (cJSON_GetObjectItemCaseSensitive(s, "minItems") ||
            cJSON_GetObjectItemCaseSensitive(s, "maxItems"))
            return fail(c, LMC_ERR_UNSUPPORTED, path,
                        "'minItems'/'maxItems' with 'prefixItems' are not supported");
        strbuf_printf(&b, "\"[\" space");
        int i = 0;
        for (const cJSON *it = prefix->child; it; it = it->next, i++) {
            snprintf(p, sizeof p, "%s/prefixItems/%d", path, i);
            snprintf(name, sizeof name, "%s-%d", hint, i);
            const char *r = visit(c, it, name, p);
            if (!r) break;
            strbuf_printf(&b, "%s %s", i ? " \",\" space" : "", r);
        }
        if (items && !cJSON_IsFalse(items)) {
            child(p, sizeof p, path, "items");
            snprintf(name, sizeof name, "%s-item", hint);
            const char *r = visit(c, items, name, p);
            if (r) strbuf_printf(&b, " (\",\" space %s)*", r);
        }
        strbuf_printf(&b, " \"]\" space");
    } else {
        const char *r = "value";
        if (items) {
            child(p, sizeof p, path, "items");
            snprintf(name, sizeof name, "%s-item", hint);
            r = visit(c, items, name, p);
        } else {
            prim(c, "value");
        }
        int64_t lo = 0, hi = -1;
        if (!r || !get_count(c, s, "minItems", path, &lo) ||
            !get_count(c, s, "maxItems", path, &hi)) {
            free(b.p);
            return NULL;
        }
        if (hi >= 0 && hi < lo)
            return fail(c, LMC_ERR_FORMAT, path, "'maxItems' is below 'minItems'");
        if ((hi >= 0 ? hi : lo) > MAX_REPEAT)
            return fail(c, LMC_ERR_UNSUPPORTED, path, "item counts above %d are not supported",
                        MAX_REPEAT);
        if (hi == 0) {
            strbuf_printf(&b, "\"[\" space \"]\" space");
        } else {
            strbuf_printf(&b, "\"[\" space ( %s (\",\" space %s)", r, r);
            if (hi < 0)
                strbuf_printf(&b, "{%lld,}", (long long)(lo > 0 ? lo - 1 : 0));
            else
                strbuf_printf(&b, "{%lld,%lld}", (long long)(lo > 0 ? lo - 1 : 0),
                              (long long)hi - 1);
            strbuf_printf(&b, " )%s \"]\" space", lo > 0 ? "" : "?");
        }
    }
    const char *r = c->st != LMC_OK ? NULL : b.oom ? oom(c) : add_rule(c, hint, b.p);
    free(b.p);
    return r;
}

/* ---- objects -------------------------------------------------------------------------------- */
static bool is_required(const cJSON *req, const char *key) {
    for (const cJSON *r = req ? req->child : NULL; r; r = r->next)
        if (cJSON_IsString(r) && !strcmp(r->valuestring, key)) return true;
    return false;
}

static const char *visit_object(conv *c, const cJSON *s, const cJSON *props, const cJSON *req,
                                const char *hint, const char *path) {
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    char p[512], name[200];
    prim(c, "space");
    if (props && !cJSON_IsObject(props))
        return fail(c, LMC_ERR_FORMAT, path, "'properties' must be an object");
    if (req && !cJSON_IsArray(req))
        return fail(c, LMC_ERR_FORMAT, path, "'required' must be an array");
    for (const cJSON *r = req ? req->child : NULL; r; r = r->next)
        if (!cJSON_IsString(r))
            return fail(c, LMC_ERR_FORMAT, path, "'required' must hold strings");
    if (!props && !req && (!addl || cJSON_IsTrue(addl))) return prim(c, "object");

    /* the key/value rules, in the order given; required keys absent from properties: any value */
    int n = 0;
    const char *kv[256];
    bool need[256];
    for (const cJSON *q = props ? props->child : NULL; q; q = q->next, n++) {
        if (n == 256) return fail(c, LMC_ERR_UNSUPPORTED, path, "more than 256 properties");
        snprintf(p, sizeof p, "%s/properties/%s", path, q->string);
        snprintf(name, sizeof name, "%s-%s", hint, q->string);
        const char *vr = visit(c, q, name, p);
        if (!vr) return NULL;
        strbuf b = {0};
        lit_key(&b, q->string);
        strbuf_printf(&b, " space \":\" space %s", vr);
        snprintf(name, sizeof name, "%s-%s-kv", hint, q->string);
        kv[n] = b.oom ? oom(c) : add_rule(c, name, b.p);
        free(b.p);
        need[n] = is_required(req, q->string);
        if (!kv[n]) return NULL;
    }
    for (const cJSON *r = req ? req->child : NULL; r; r = r->next) {
        if (props && cJSON_GetObjectItemCaseSensitive(props, r->valuestring)) continue;
        if (n == 256) return fail(c, LMC_ERR_UNSUPPORTED, path, "more than 256 properties");
        strbuf b = {0};
        lit_key(&b, r->valuestring);
        strbuf_printf(&b, " space \":\" space value");
        prim(c, "value");
        snprintf(name, sizeof name, "%s-%s-kv", hint, r->valuestring);
        kv[n] = b.oom ? oom(c) : add_rule(c, name, b.p);
        free(b.p);
        need[n++] = true;
        if (!kv[n - 1]) return NULL;
    }
    /* extra keys: any (true) or of a schema; absent or false: none */
    const char *extra = NULL;
    if (addl && !cJSON_IsFalse(addl)) {
        child(p, sizeof p, path, "additionalProperties");
        snprintf(name, sizeof name, "%s-additional", hint);
        const char *vr = cJSON_IsTrue(addl) ? prim(c, "value") : visit(c, addl, name, p);
        if (!vr) return NULL;
        strbuf b = {0};
        prim(c, "string");
        strbuf_printf(&b, "string \":\" space %s", vr);
        snprintf(name, sizeof name, "%s-additional-kv", hint);
        extra = b.oom ? oom(c) : add_rule(c, name, b.p);
        free(b.p);
        if (!extra) return NULL;
    }
    /* rest(i, first): the members from property i on, preceded by a comma unless first */
    const char *rest[2] = {NULL, NULL}; /* rest(i+1, first=false/true) */
    for (int i = n; i >= 0; i--) {
        const char *cur[2];
        for (int f = 0; f < 2; f++) {
            strbuf b = {0};
            const char *comma = f ? "" : "\",\" space ";
            if (i == n) {
                if (extra)
                    strbuf_printf(&b, "( %s%s (\",\" space %s)* )?", comma, extra, extra);
                else
                    strbuf_printf(&b, "\"\"");
            } else if (need[i]) {
                strbuf_printf(&b, "%s%s %s", comma, kv[i], rest[0]);
            } else {
                strbuf_printf(&b, "%s%s %s | %s", comma, kv[i], rest[0], rest[f]);
            }
            snprintf(name, sizeof name, "%s-rest%d%s", hint, i, f ? "-first" : "");
            cur[f] = b.oom ? oom(c) : add_rule(c, name, b.p);
            free(b.p);
            if (!cur[f]) return NULL;
        }
        rest[0] = cur[0];
        rest[1] = cur[1];
    }
    strbuf b = {0};
    strbuf_printf(&b, "\"{\" space %s \"}\" space", rest[1]);
    const char *r = b.oom ? oom(c) : add_rule(c, hint, b.p);
    free(b.p);
    return r;
}

/* ---- references and combinations ------------------------------------------------------------ */
/* "#/a/b" → the node (JSON pointer with ~0 ~1 escapes). */
static const cJSON *resolve(conv *c, const char *ref, const char *path) {
    if (ref[0] != '#') {
        fail(c, LMC_ERR_UNSUPPORTED, path, "'$ref': '%s' is not local (only '#/...' refs are)",
             ref);
        return NULL;
    }
    const cJSON *n = c->root;
    const char *s = ref + 1;
    while (n && *s == '/') {
        char key[256];
        size_t k = 0;
        for (s++; *s && *s != '/' && k < sizeof key - 1; s++) {
            if (*s == '~' && (s[1] == '0' || s[1] == '1'))
                key[k++] = s[1] == '0' ? '~' : '/', s++;
            else
                key[k++] = *s;
        }
        key[k] = 0;
        n = cJSON_IsArray(n) ? cJSON_GetArrayItem(n, atoi(key))
                             : cJSON_GetObjectItemCaseSensitive(n, key);
    }
    if (!n || *s) fail(c, LMC_ERR_FORMAT, path, "'$ref': '%s' points nowhere", ref);
    return n && !*s ? n : NULL;
}

static const char *visit_ref(conv *c, const cJSON *s, const char *path) {
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    static const char *const ALONE[] = {"$ref"};
    const char *other = other_keyword(s, ALONE, 1);
    if (other)
        return fail(c, LMC_ERR_UNSUPPORTED, path, "'$ref' beside '%s' is not supported", other);
    if (!cJSON_IsString(ref)) return fail(c, LMC_ERR_FORMAT, path, "'$ref' must be a string");
    for (int i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i].ref, ref->valuestring)) return c->refs[i].name;
    if (c->n_refs == 256) return fail(c, LMC_ERR_UNSUPPORTED, path, "more than 256 '$ref' targets");
    const cJSON *target = resolve(c, ref->valuestring, path);
    if (!target) return NULL;
    const char *last = strrchr(ref->valuestring, '/');
    char name[160];
    snprintf(name, sizeof name, "ref-%s", last && last[1] ? last + 1 : "root");
    const char *rn = add_rule(c, name, NULL); /* the body comes after the target (recursion) */
    if (!rn) return NULL;
    c->refs[c->n_refs].ref = strdup(ref->valuestring);
    c->refs[c->n_refs].name = (char *)rn;
    if (!c->refs[c->n_refs].ref) return oom(c);
    c->n_refs++;
    char p[512];
    snprintf(p, sizeof p, "%s", ref->valuestring + 1);
    char tname[170];
    snprintf(tname, sizeof tname, "%s-def", rn);
    const char *body = visit(c, target, tname, *p ? p : "/");
    if (!body) return NULL;
    set_body(c, rn, body);
    return rn;
}

static const char *visit_alternatives(conv *c, const cJSON *list, const char *key, const char *hint,
                                      const char *path) {
    char p[512], name[160];
    if (!cJSON_IsArray(list) || !cJSON_GetArraySize(list))
        return fail(c, LMC_ERR_FORMAT, path, "'%s' must be a non-empty array", key);
    strbuf b = {0};
    int i = 0;
    for (const cJSON *s = list->child; s; s = s->next, i++) {
        snprintf(p, sizeof p, "%s/%s/%d", path, key, i);
        snprintf(name, sizeof name, "%s-%d", hint, i);
        const char *r = visit(c, s, name, p);
        if (!r) break;
        strbuf_printf(&b, "%s%s", i ? " | " : "", r);
    }
    const char *r = c->st != LMC_OK ? NULL : b.oom ? oom(c) : add_rule(c, hint, b.p);
    free(b.p);
    return r;
}

/* allOf where simple: one schema, or object schemas whose properties and required merge. */
static const char *visit_all_of(conv *c, const cJSON *s, const char *hint, const char *path) {
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    static const char *const ALONE[] = {"allOf", "type"};
    if (!cJSON_IsArray(all) || !cJSON_GetArraySize(all))
        return fail(c, LMC_ERR_FORMAT, path, "'allOf' must be a non-empty array");
    const char *other = other_keyword(s, ALONE, 2);
    if (other)
        return fail(c, LMC_ERR_UNSUPPORTED, path, "'allOf' beside '%s' is not supported", other);
    if (cJSON_GetArraySize(all) == 1) {
        char p[512];
        snprintf(p, sizeof p, "%s/allOf/0", path);
        return visit(c, all->child, hint, p);
    }
    cJSON *props = cJSON_CreateObject(), *req = cJSON_CreateArray();
    int i = 0;
    for (const cJSON *t = all->child; t && c->st == LMC_OK; t = t->next, i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/allOf/%d", path, i);
        const cJSON *u = t;
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(t, "$ref");
        if (cJSON_IsString(ref) && !(u = resolve(c, ref->valuestring, p))) break;
        static const char *const OBJ[] = {"type", "properties", "required"};
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(u, "type");
        const char *o = cJSON_IsObject(u) ? other_keyword(u, OBJ, 3) : "(not an object)";
        if (o || (ty && !(cJSON_IsString(ty) && !strcmp(ty->valuestring, "object")))) {
            fail(c, LMC_ERR_UNSUPPORTED, p,
                 "'allOf' is supported only over object schemas with properties/required (found "
                 "'%s')",
                 o ? o : "type");
            break;
        }
        const cJSON *pp = cJSON_GetObjectItemCaseSensitive(u, "properties");
        for (const cJSON *q = pp ? pp->child : NULL; q; q = q->next) {
            if (cJSON_GetObjectItemCaseSensitive(props, q->string)) {
                fail(c, LMC_ERR_UNSUPPORTED, p, "'allOf' with property '%s' in two schemas",
                     q->string);
                break;
            }
            cJSON_AddItemReferenceToObject(props, q->string, (cJSON *)q);
        }
        const cJSON *rq = cJSON_GetObjectItemCaseSensitive(u, "required");
        for (const cJSON *q = rq ? rq->child : NULL; q; q = q->next)
            cJSON_AddItemReferenceToArray(req, (cJSON *)q);
    }
    const char *r = c->st == LMC_OK ? visit_object(c, s, props, req, hint, path) : NULL;
    cJSON_Delete(props);
    cJSON_Delete(req);
    return r;
}

/* ---- a schema ------------------------------------------------------------------------------- */
static const char *visit_type(conv *c, const cJSON *s, const char *type, const char *hint,
                              const char *path) {
    if (!strcmp(type, "string")) return visit_string(c, s, hint, path);
    if (!strcmp(type, "integer")) return visit_integer(c, s, hint, path);
    if (!strcmp(type, "number")) return visit_number(c, s, hint, path);
    if (!strcmp(type, "boolean")) return prim(c, "boolean");
    if (!strcmp(type, "null")) return prim(c, "null");
    if (!strcmp(type, "array")) return visit_array(c, s, hint, path);
    if (!strcmp(type, "object"))
        return visit_object(c, s, cJSON_GetObjectItemCaseSensitive(s, "properties"),
                            cJSON_GetObjectItemCaseSensitive(s, "required"), hint, path);
    return fail(c, LMC_ERR_FORMAT, path, "unknown 'type': '%s'", type);
}

static const char *visit(conv *c, const cJSON *s, const char *hint, const char *path) {
    if (c->st != LMC_OK) return NULL;
    if (cJSON_IsTrue(s)) return prim(c, "value");
    if (cJSON_IsFalse(s))
        return fail(c, LMC_ERR_UNSUPPORTED, path, "the schema 'false' matches nothing");
    if (!cJSON_IsObject(s)) return fail(c, LMC_ERR_FORMAT, path, "a schema must be an object");
    if (++c->depth > MAX_DEPTH) return fail(c, LMC_ERR_UNSUPPORTED, path, "schema nested too deep");
    const char *r = NULL;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type"), *v;
    if (!check_keywords(c, s, path)) {
        r = NULL;
    } else if (cJSON_GetObjectItemCaseSensitive(s, "$ref")) {
        r = visit_ref(c, s, path);
    } else if ((v = cJSON_GetObjectItemCaseSensitive(s, "const"))) {
        r = visit_literals(c, v, false, hint, path);
    } else if ((v = cJSON_GetObjectItemCaseSensitive(s, "enum"))) {
        r = visit_literals(c, v, true, hint, path);
    } else if ((v = cJSON_GetObjectItemCaseSensitive(s, "anyOf")) ||
               (v = cJSON_GetObjectItemCaseSensitive(s, "oneOf"))) {
        static const char *const ALONE[] = {"anyOf", "oneOf"};
        const char *other = other_keyword(s, ALONE, 2);
        r = other ? fail(c, LMC_ERR_UNSUPPORTED, path, "'%s' beside '%s' is not supported",
                         v->string, other)
                  : visit_alternatives(c, v, v->string, hint, path);
    } else if (cJSON_GetObjectItemCaseSensitive(s, "allOf")) {
        r = visit_all_of(c, s, hint, path);
    } else if (cJSON_IsString(type)) {
        r = visit_type(c, s, type->valuestring, hint, path);
    } else if (cJSON_IsArray(type)) {
        strbuf b = {0};
        int i = 0;
        for (const cJSON *t = type->child; t && c->st == LMC_OK; t = t->next, i++) {
            char name[160];
            snprintf(name, sizeof name, "%s-%s", hint, cJSON_IsString(t) ? t->valuestring : "?");
            const char *tr = cJSON_IsString(t) ? visit_type(c, s, t->valuestring, name, path)
                                               : fail(c, LMC_ERR_FORMAT, path,
                                                      "'type' must be a string or strings");
            if (tr) strbuf_printf(&b, "%s%s", i ? " | " : "", tr);
        }
        if (!i) fail(c, LMC_ERR_FORMAT, path, "'type' is an empty list");
        r = c->st != LMC_OK ? NULL : b.oom ? oom(c) : add_rule(c, hint, b.p);
        free(b.p);
    } else if (type) {
        r = fail(c, LMC_ERR_FORMAT, path, "'type' must be a string or strings");
    } else if (cJSON_GetObjectItemCaseSensitive(s, "properties") ||
               cJSON_GetObjectItemCaseSensitive(s, "additionalProperties") ||
               cJSON_GetObjectItemCaseSensitive(s, "required")) {
        r = visit_type(c, s, "object", hint, path);
    } else if (cJSON_GetObjectItemCaseSensitive(s, "items") ||
               cJSON_GetObjectItemCaseSensitive(s, "prefixItems")) {
        r = visit_type(c, s, "array", hint, path);
    } else {
        static const char *const NONE[] = {"uniqueItems"};
        const char *other = other_keyword(s, NONE, 1);
        r = other ? fail(c, LMC_ERR_UNSUPPORTED, path, "'%s' without a 'type' is not supported",
                         other)
                  : prim(c, "value");
    }
    c->depth--;
    return r;
}

static void conv_free(conv *c) {
    for (int i = 0; i < c->n; i++) {
        free(c->rules[i].name);
        free(c->rules[i].body);
    }
    free(c->rules);
    for (int i = 0; i < c->n_refs; i++)
        free(c->refs[i].ref);
}

lmc_status lmc_json_schema_to_gbnf(const char *schema_json, size_t len, char **gbnf) {
    if (!gbnf) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_json_schema_to_gbnf: no output pointer");
    *gbnf = NULL;
    if (!schema_json) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_json_schema_to_gbnf: no schema");
    if (len > GRAMMAR_MAX_TEXT)
        return lmc_err(LMC_ERR_UNSUPPORTED, "json schema: %zu bytes (at most %u)", len,
                       GRAMMAR_MAX_TEXT);
    size_t bad;
    lmc_json_text_fault fault = lmc_json_text_check(schema_json, len, &bad);
    if (fault != LMC_JSON_TEXT_OK) /* a key or string cut at a NUL, or bytes GBNF cannot carry */
        return lmc_err(LMC_ERR_FORMAT, "json schema: %s at byte %zu",
                       fault == LMC_JSON_TEXT_BAD_UTF8 ? "invalid UTF-8"
                       : fault == LMC_JSON_TEXT_NUL    ? "a NUL byte"
                                                       : "a \\u0000 escape (NUL is not supported)",
                       bad);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(schema_json, len, &end, false);
    if (!root) {
        size_t at = end && end >= schema_json ? (size_t)(end - schema_json) : 0;
        return lmc_err(LMC_ERR_FORMAT, "json schema: not valid JSON (near byte %zu)", at);
    }
    conv c = {.root = root};
    const char *top = visit(&c, root, "root", "");
    if (top && strcmp(top, "root")) add_rule(&c, "root", top); /* root ::= the schema's rule */
    for (int i = 0; top && i < c.n; i++) { /* no whitespace after the whole value */
        size_t l = c.rules[i].body ? strlen(c.rules[i].body) : 0;
        if (!strcmp(c.rules[i].name, "root") && l > 6 && !strcmp(c.rules[i].body + l - 6, " space"))
            c.rules[i].body[l - 6] = 0;
    }
    strbuf b = {0};
    for (int i = 0; c.st == LMC_OK && i < c.n; i++)
        strbuf_printf(&b, "%s ::= %s\n", c.rules[i].name,
                      c.rules[i].body ? c.rules[i].body : "\"\"");
    lmc_status st = c.st;
    if (st == LMC_OK && b.oom) st = lmc_err(LMC_ERR_OOM, "json schema: out of memory");
    if (st == LMC_OK)
        *gbnf = b.p;
    else
        free(b.p);
    conv_free(&c);
    cJSON_Delete(root);
    return st;
}

lmc_status lmc_grammar_init_json_schema(const char *schema_json, size_t len, lmc_grammar **out) {
    if (!out) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_grammar_init_json_schema: no output");
    *out = NULL;
    char *text = NULL;
    lmc_status st = lmc_json_schema_to_gbnf(schema_json, len, &text);
    if (st != LMC_OK) return st;
    st = lmc_grammar_init_gbnf(text, strlen(text), "root", out);
    if (st != LMC_OK) lmc_err_prefix("json schema converted to a bad grammar (a bug)");
    free(text);
    return st;
}
