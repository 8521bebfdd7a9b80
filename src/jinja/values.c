/* values.c — the jv value type with Python's semantics: constructors, lists and dicts, UTF-8
 * helpers, str() and repr() (floats as Python prints them), jinja2's Undefined, truthiness,
 * equality and ordering, and JSON in and out. No operators (eval.c) and no string methods
 * (strings.c). */
#include "jinja_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const LK_NAMES[] = {
    "list", "tuple", "generator", "list_reverseiterator", "dict_items", "dict_keys", "dict_values"};

jv jv_str_copy(jctx *c, const char *p, size_t n) {
    return jv_strn(arena_strdup(c, p, n), n);
}
jv jv_sb(jctx *c, sbuf *b) {
    return jv_str_copy(c, b->p ? b->p : "", b->n);
}

jv jv_undef_msg(jctx *c, const char *msg, size_t n) {
    jv v = {.k = JV_UNDEF};
    v.u.s.p = arena_strdup(c, msg, n);
    v.u.s.n = n;
    return v;
}

jv jv_list_new(jctx *c, size_t cap) {
    jv v = {.k = JV_LIST};
    v.u.l = arena_calloc(c, sizeof(jlist));
    if (cap) {
        v.u.l->v = arena_alloc(c, cap * sizeof(jv));
        v.u.l->cap = cap;
    }
    return v;
}
void jlist_push(jctx *c, jlist *l, jv x) {
    l->v = arena_grow(c, l->v, sizeof(jv), l->n, &l->cap);
    l->v[l->n++] = x;
}
jv jv_dict_new(jctx *c, int kind) {
    jv v = {.k = (uint8_t)kind};
    v.u.d = arena_calloc(c, sizeof(jdict));
    return v;
}

int jdict_find(jctx *c, const jdict *d, const jv *key) {
    jstep(c, d->n / 16); /* a linear scan: big dicts spend the budget */
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(c, &d->k[i], key)) return (int)i;
    return -1;
}
int jdict_find_str(const jdict *d, const char *p, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].k == JV_STR && d->k[i].u.s.n == n && !memcmp(d->k[i].u.s.p, p, n))
            return (int)i;
    return -1;
}
void jdict_set(jctx *c, jdict *d, jv key, jv val) {
    int i = jdict_find(c, d, &key);
    if (i >= 0) {
        d->v[i] = val;
        return;
    }
    size_t cap = d->cap;
    d->k = arena_grow(c, d->k, sizeof(jv), d->n, &cap);
    cap = d->cap;
    d->v = arena_grow(c, d->v, sizeof(jv), d->n, &cap);
    d->cap = cap;
    d->k[d->n] = key;
    d->v[d->n++] = val;
}

/* ---- UTF-8 --------------------------------------------------------------------------------- */
uint32_t u8_next(const char *p, size_t n, size_t *i) {
    const unsigned char *s = (const unsigned char *)p;
    unsigned char b = s[*i];
    uint32_t cp;
    int len;
    if (b < 0x80) {
        cp = b;
        len = 1;
    } else if ((b & 0xe0) == 0xc0) {
        cp = b & 0x1f;
        len = 2;
    } else if ((b & 0xf0) == 0xe0) {
        cp = b & 0x0f;
        len = 3;
    } else if ((b & 0xf8) == 0xf0) {
        cp = b & 0x07;
        len = 4;
    } else {
        (*i)++;
        return b;
    }
    if (*i + (size_t)len > n) {
        (*i)++;
        return b;
    }
    for (int k = 1; k < len; k++) {
        if ((s[*i + k] & 0xc0) != 0x80) {
            (*i)++;
            return b;
        }
        cp = (cp << 6) | (s[*i + k] & 0x3f);
    }
    *i += (size_t)len;
    return cp;
}
size_t u8_len(const char *p, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; k++)
        u8_next(p, n, &i);
    return k;
}
void sb_put_cp(jctx *c, sbuf *b, uint32_t cp) {
    char t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (char)(0xc0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (char)(0xe0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        t[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        t[0] = (char)(0xf0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        t[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    sb_put(c, b, t, n);
}
size_t *u8_offsets(jctx *c, const char *p, size_t n, size_t *ncp) {
    jstep(c, n >> 10);
    size_t k = u8_len(p, n), *off = arena_alloc(c, (k + 1) * sizeof(size_t)), i = 0;
    for (size_t j = 0; j < k; j++) {
        off[j] = i;
        u8_next(p, n, &i);
    }
    off[k] = n;
    *ncp = k;
    return off;
}
int u8_isspace(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}
/* Python's str.isprintable() for repr(); an approximation outside Latin-1. */
static int py_printable(uint32_t cp) {
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad) return 0;
    if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f)) return 0;
    if ((cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff) return 0;
    if ((cp >= 0xd800 && cp <= 0xf8ff) || (cp >= 0xfff9 && cp <= 0xfffb)) return 0;
    if (cp >= 0xe0000) return 0;
    return 1;
}

/* ---- Python number formatting -------------------------------------------------------------- */
/* repr(float): the shortest string that reads back to the same double, in Python's layout. */
static void py_float_repr(double d, char *out, size_t size) {
    if (isnan(d)) {
        snprintf(out, size, "nan");
        return;
    }
    if (isinf(d)) {
        snprintf(out, size, d > 0 ? "inf" : "-inf");
        return;
    }
    char tmp[48];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d) break;
    }
    char digits[32];
    int nd = 0, neg = 0;
    const char *q = tmp;
    if (*q == '-') {
        neg = 1;
        q++;
    }
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[nd++] = *q;
    int e = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    char *o = out;
    size_t left = size;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(o, left, __VA_ARGS__);                                                   \
        if (w_ > 0 && (size_t)w_ < left) {                                                         \
            o += w_;                                                                               \
            left -= (size_t)w_;                                                                    \
        }                                                                                          \
    } while (0)
    if (neg) PUT("-");
    if (e >= -4 && e < 16) {
        if (e >= 0) {
            for (int k = 0; k <= e; k++)
                PUT("%c", k < nd ? digits[k] : '0');
            PUT(".");
            if (nd > e + 1)
                PUT("%s", digits + e + 1);
            else
                PUT("0");
        } else {
            PUT("0.");
            for (int k = 0; k < -e - 1; k++)
                PUT("0");
            PUT("%s", digits);
        }
    } else {
        PUT("%c", digits[0]);
        if (nd > 1) PUT(".%s", digits + 1);
        PUT("e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
#undef PUT
}

/* ---- str() and repr() ---------------------------------------------------------------------- */
void sb_put_str_repr(jctx *c, sbuf *b, const char *p, size_t n) {
    int has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    sb_putc(c, b, q);
    for (size_t i = 0; i < n;) {
        size_t st = i;
        uint32_t cp = u8_next(p, n, &i);
        if (cp == (uint32_t)q || cp == '\\') {
            sb_putc(c, b, '\\');
            sb_putc(c, b, (char)cp);
        } else if (cp == '\n')
            sb_puts(c, b, "\\n");
        else if (cp == '\r')
            sb_puts(c, b, "\\r");
        else if (cp == '\t')
            sb_puts(c, b, "\\t");
        else if (!py_printable(cp)) {
            if (cp < 0x100)
                sb_printf(c, b, "\\x%02x", cp);
            else if (cp < 0x10000)
                sb_printf(c, b, "\\u%04x", cp);
            else
                sb_printf(c, b, "\\U%08x", cp);
        } else
            sb_put(c, b, p + st, i - st);
    }
    sb_putc(c, b, q);
}

/* None, a bool or an int, spelled with names = {none, true, false}; 0 for other kinds. */
static int write_scalar(jctx *c, sbuf *b, const jv *v, const char *const names[3]) {
    if (v->k == JV_NONE)
        sb_puts(c, b, names[0]);
    else if (v->k == JV_BOOL)
        sb_puts(c, b, names[v->u.b ? 1 : 2]);
    else if (v->k == JV_INT)
        sb_printf(c, b, "%lld", (long long)v->u.i);
    else
        return 0;
    return 1;
}

/* Python str(v) (jinja2 prints Undefined as ""). */
void jv_write_str(jctx *c, sbuf *b, const jv *v) {
    char tmp[64];
    switch (v->k) {
    case JV_UNDEF:
        return;
    case JV_STR:
        sb_put(c, b, v->u.s.p, v->u.s.n);
        return;
    case JV_FLOAT:
        py_float_repr(v->u.f, tmp, sizeof tmp);
        sb_puts(c, b, tmp);
        return;
    default:
        jv_write_repr(c, b, v);
    }
}

static void write_repr(jctx *c, sbuf *b, const jv *v);

/* Nested (or self-containing) lists and dicts end in a template error, not a stack overflow. */
void jv_write_repr(jctx *c, sbuf *b, const jv *v) {
    jenter(c);
    write_repr(c, b, v);
    jleave(c);
}

static void write_repr(jctx *c, sbuf *b, const jv *v) {
    char tmp[64];
    static const char *const py_names[] = {"None", "True", "False"};
    if (write_scalar(c, b, v, py_names)) return;
    switch (v->k) {
    case JV_UNDEF:
        sb_puts(c, b, "Undefined");
        return;
    case JV_FLOAT:
        py_float_repr(v->u.f, tmp, sizeof tmp);
        sb_puts(c, b, tmp);
        return;
    case JV_STR:
        sb_put_str_repr(c, b, v->u.s.p, v->u.s.n);
        return;
    case JV_LIST:
        if (v->tuple == LK_GEN || v->tuple == LK_REVITER) {
            sb_printf(c, b, "<%s object>", LK_NAMES[v->tuple]);
            return;
        }
        if (v->tuple >= LK_ITEMS)
            sb_printf(c, b, "%s([", LK_NAMES[v->tuple]);
        else
            sb_putc(c, b, v->tuple ? '(' : '[');
        for (size_t i = 0; i < v->u.l->n; i++) {
            if (i) sb_puts(c, b, ", ");
            jv_write_repr(c, b, &v->u.l->v[i]);
        }
        if (v->tuple == LK_TUPLE && v->u.l->n == 1) sb_putc(c, b, ',');
        if (v->tuple >= LK_ITEMS)
            sb_puts(c, b, "])");
        else
            sb_putc(c, b, v->tuple ? ')' : ']');
        return;
    case JV_DICT:
    case JV_NS:
        if (v->k == JV_NS) sb_puts(c, b, "<Namespace ");
        sb_putc(c, b, '{');
        for (size_t i = 0; i < v->u.d->n; i++) {
            if (i) sb_puts(c, b, ", ");
            jv_write_repr(c, b, &v->u.d->k[i]);
            sb_puts(c, b, ": ");
            jv_write_repr(c, b, &v->u.d->v[i]);
        }
        sb_putc(c, b, '}');
        if (v->k == JV_NS) sb_putc(c, b, '>');
        return;
    case JV_MACRO:
        sb_puts(c, b, "<Macro>");
        return;
    case JV_FUNC:
        sb_puts(c, b, "<built-in function>");
        return;
    case JV_METHOD:
        sb_printf(c, b, "<built-in method %s>", v->u.bm->def->name);
        return;
    case JV_LOOP:
        sb_puts(c, b, "<LoopContext>");
        return;
    }
}

/* A string value of v: v itself when it is a string, else str(v). */
jv jv_to_str(jctx *c, const jv *v) {
    if (v->k == JV_STR) return *v;
    sbuf b = {0};
    jv_write_str(c, &b, v);
    return jv_sb(c, &b);
}

const char *jv_type_name(const jv *v) {
    switch (v->k) {
    case JV_UNDEF:
        return "Undefined";
    case JV_NONE:
        return "NoneType";
    case JV_BOOL:
        return "bool";
    case JV_INT:
        return "int";
    case JV_FLOAT:
        return "float";
    case JV_STR:
        return "str";
    case JV_LIST:
        return LK_NAMES[v->tuple];
    case JV_DICT:
        return "dict";
    case JV_NS:
        return "Namespace";
    case JV_MACRO:
        return "Macro";
    case JV_FUNC:
        return "builtin_function_or_method";
    case JV_METHOD:
        return "builtin_function_or_method";
    case JV_LOOP:
        return "LoopContext";
    }
    return "object";
}
/* jinja2's object_type_repr() */
static const char *object_type_repr(const jv *v) {
    switch (v->k) {
    case JV_NONE:
        return "None";
    case JV_NS:
        return "jinja2.utils.Namespace object";
    case JV_MACRO:
        return "jinja2.runtime.Macro object";
    case JV_LOOP:
        return "jinja2.runtime.LoopContext object";
    case JV_BOOL:
        return "bool object";
    case JV_INT:
        return "int object";
    case JV_FLOAT:
        return "float object";
    case JV_STR:
        return "str object";
    case JV_LIST:
        switch (v->tuple) {
        case LK_LIST:
            return "list object";
        case LK_TUPLE:
            return "tuple object";
        case LK_GEN:
            return "generator object";
        case LK_REVITER:
            return "list_reverseiterator object";
        case LK_ITEMS:
            return "dict_items object";
        case LK_KEYS:
            return "dict_keys object";
        default:
            return "dict_values object";
        }
    case JV_DICT:
        return "dict object";
    default:
        return "builtin_function_or_method object";
    }
}

jv jv_undef_name(jctx *c, const char *name, size_t n) {
    sbuf b = {0};
    sb_put_str_repr(c, &b, name, n);
    sb_puts(c, &b, " is undefined");
    return jv_undef_msg(c, b.p, b.n);
}
/* The Undefined for obj.name / obj[key] that does not exist. */
jv jv_undef_member(jctx *c, const jv *obj, const jv *key) {
    sbuf b = {0};
    if (key->k == JV_STR) {
        const char *t = object_type_repr(obj);
        sb_put_str_repr(c, &b, t, strlen(t));
        sb_puts(c, &b, " has no attribute ");
    } else {
        sb_puts(c, &b, object_type_repr(obj));
        sb_puts(c, &b, " has no element ");
    }
    jv_write_repr(c, &b, key);
    return jv_undef_msg(c, b.p, b.n);
}

void jv_fail_undef(jctx *c, const jv *u) {
    rfail(c, "%.*s", (int)u->u.s.n, u->u.s.p);
}

int jv_truthy(const jv *v) {
    switch (v->k) {
    case JV_UNDEF:
    case JV_NONE:
        return 0;
    case JV_BOOL:
        return v->u.b;
    case JV_INT:
        return v->u.i != 0;
    case JV_FLOAT:
        return v->u.f != 0;
    case JV_STR:
        return v->u.s.n != 0;
    case JV_LIST:
        return v->tuple == LK_GEN || v->tuple == LK_REVITER || v->u.l->n != 0;
    case JV_DICT:
        return v->u.d->n != 0;
    default:
        return 1;
    }
}

static int eq(jctx *c, const jv *a, const jv *b);
int jv_eq(jctx *c, const jv *a, const jv *b) {
    jenter(c);
    int r = eq(c, a, b);
    jleave(c);
    return r;
}

static int eq(jctx *c, const jv *a, const jv *b) {
    if (is_num(a) && is_num(b)) {
        if (is_intlike(a) && is_intlike(b)) return num_i(a) == num_i(b);
        return num_f(a) == num_f(b);
    }
    if (a->k != b->k) return 0;
    switch (a->k) {
    case JV_UNDEF:
    case JV_NONE:
        return 1;
    case JV_STR:
        return a->u.s.n == b->u.s.n && !memcmp(a->u.s.p, b->u.s.p, a->u.s.n);
    case JV_LIST:
        if (a->tuple != b->tuple || a->u.l->n != b->u.l->n) return 0;
        for (size_t i = 0; i < a->u.l->n; i++)
            if (!jv_eq(c, &a->u.l->v[i], &b->u.l->v[i])) return 0;
        return 1;
    case JV_DICT:
        if (a->u.d->n != b->u.d->n) return 0;
        for (size_t i = 0; i < a->u.d->n; i++) {
            int j = jdict_find(c, b->u.d, &a->u.d->k[i]);
            if (j < 0 || !jv_eq(c, &a->u.d->v[i], &b->u.d->v[j])) return 0;
        }
        return 1;
    case JV_NS:
        return a->u.d == b->u.d;
    case JV_MACRO:
        return a->u.m == b->u.m;
    case JV_FUNC:
        return a->u.fn == b->u.fn;
    case JV_LOOP:
        return a->u.lp == b->u.lp;
    default:
        return 0;
    }
}

static int cmp(jctx *c, const jv *a, const jv *b, const char *op);
int jv_cmp(jctx *c, const jv *a, const jv *b, const char *op) {
    jenter(c);
    int r = cmp(c, a, b, op);
    jleave(c);
    return r;
}

static int cmp(jctx *c, const jv *a, const jv *b, const char *op) {
    if (a->k == JV_UNDEF) jv_fail_undef(c, a);
    if (b->k == JV_UNDEF) jv_fail_undef(c, b);
    if (is_num(a) && is_num(b)) {
        if (is_intlike(a) && is_intlike(b)) return num_i(a) < num_i(b) ? -1 : num_i(a) > num_i(b);
        double x = num_f(a), y = num_f(b);
        return x < y ? -1 : x > y;
    }
    if (a->k == JV_STR && b->k == JV_STR) {
        size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int r = memcmp(a->u.s.p, b->u.s.p, n);
        if (r) return r < 0 ? -1 : 1;
        return a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n;
    }
    if (a->k == JV_LIST && b->k == JV_LIST && a->tuple == b->tuple) {
        size_t n = a->u.l->n < b->u.l->n ? a->u.l->n : b->u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (jv_eq(c, &a->u.l->v[i], &b->u.l->v[i])) continue;
            return jv_cmp(c, &a->u.l->v[i], &b->u.l->v[i], op);
        }
        return a->u.l->n < b->u.l->n ? -1 : a->u.l->n > b->u.l->n;
    }
    rfail(c, "'%s' not supported between instances of '%s' and '%s'", op, jv_type_name(a),
          jv_type_name(b));
}

/* ---- JSON ---------------------------------------------------------------------------------- */
static jv from_json(jctx *c, const cJSON *j);
jv jv_from_json(jctx *c, const cJSON *j) {
    jenter(c);
    jv v = from_json(c, j);
    jleave(c);
    return v;
}

static jv from_json(jctx *c, const cJSON *j) {
    if (!j || cJSON_IsNull(j)) return jv_none();
    if (cJSON_IsFalse(j)) return jv_bool(0);
    if (cJSON_IsTrue(j)) return jv_bool(1);
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* cJSON keeps no text: integral values within 2^53 are taken as Python ints */
        if (d == floor(d) && fabs(d) < 9007199254740992.0) return jv_int((int64_t)d);
        return jv_float(d);
    }
    if (cJSON_IsString(j)) return jv_str_copy(c, j->valuestring, strlen(j->valuestring));
    if (cJSON_IsArray(j)) {
        jv l = jv_list_new(c, 0);
        for (const cJSON *e = j->child; e; e = e->next)
            jlist_push(c, l.u.l, jv_from_json(c, e));
        return l;
    }
    if (cJSON_IsObject(j)) {
        jv d = jv_dict_new(c, JV_DICT);
        for (const cJSON *e = j->child; e; e = e->next)
            jdict_set(c, d.u.d, jv_str_copy(c, e->string, strlen(e->string)), jv_from_json(c, e));
        return d;
    }
    return jv_none();
}

static void json_str(jctx *c, sbuf *b, const char *p, size_t n, int ascii) {
    static const char *const to[] = {"\\\"", "\\\\", "\\n", "\\r", "\\t", "\\b", "\\f"};
    sb_putc(c, b, '"');
    for (size_t i = 0; i < n;) {
        size_t st = i;
        uint32_t cp = u8_next(p, n, &i);
        const char *esc = escape_of(cp, "\"\\\n\r\t\b\f", to);
        if (esc)
            sb_puts(c, b, esc);
        else if (cp < 0x20 || (ascii && cp >= 0x7f)) {
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                sb_printf(c, b, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
            } else
                sb_printf(c, b, "\\u%04x", cp);
        } else
            sb_put(c, b, p + st, i - st);
    }
    sb_putc(c, b, '"');
}

static void json_nl(jctx *c, sbuf *b, const json_fmt *f, int level) {
    sb_putc(c, b, '\n');
    for (int i = 0; i < level; i++)
        sb_put(c, b, f->indent, f->indent_n);
}

static void json_write_dict(jctx *c, sbuf *b, const jdict *d, const json_fmt *f, int level) {
    if (!d->n) {
        sb_puts(c, b, "{}");
        return;
    }
    size_t *ord = arena_alloc(c, d->n * sizeof(size_t));
    for (size_t i = 0; i < d->n; i++)
        ord[i] = i;
    if (f->sort_keys) { /* insertion sort: dicts in templates are small */
        for (size_t i = 1; i < d->n; i++)
            for (size_t j = i; j > 0; j--) {
                const jv *x = &d->k[ord[j - 1]], *y = &d->k[ord[j]];
                if (jv_cmp(c, x, y, "<") <= 0) break;
                size_t t = ord[j];
                ord[j] = ord[j - 1];
                ord[j - 1] = t;
            }
    }
    sb_putc(c, b, '{');
    for (size_t ii = 0; ii < d->n; ii++) {
        size_t i = ord[ii];
        if (ii) sb_put(c, b, f->item_sep, f->item_sep_n);
        if (f->indent) json_nl(c, b, f, level + 1);
        const jv *k = &d->k[i];
        if (k->k == JV_STR)
            json_str(c, b, k->u.s.p, k->u.s.n, f->ensure_ascii);
        else if (k->k == JV_INT || k->k == JV_FLOAT) {
            sb_putc(c, b, '"');
            jv_write_json(c, b, k, f, level + 1);
            sb_putc(c, b, '"');
        } else if (k->k == JV_BOOL)
            sb_puts(c, b, k->u.b ? "\"true\"" : "\"false\"");
        else if (k->k == JV_NONE)
            sb_puts(c, b, "\"null\"");
        else
            rfail(c, "keys must be str, int, float, bool or None, not %s", jv_type_name(k));
        sb_put(c, b, f->key_sep, f->key_sep_n);
        jv_write_json(c, b, &d->v[i], f, level + 1);
    }
    if (f->indent) json_nl(c, b, f, level);
    sb_putc(c, b, '}');
}

void jv_write_json(jctx *c, sbuf *b, const jv *v, const json_fmt *f, int level) {
    char tmp[64];
    static const char *const json_names[] = {"null", "true", "false"};
    if (level > JINJA_MAX_DEPTH) rfail(c, "tojson: nesting too deep");
    if (write_scalar(c, b, v, json_names)) return;
    switch (v->k) {
    case JV_FLOAT:
        if (isnan(v->u.f))
            sb_puts(c, b, "NaN");
        else if (isinf(v->u.f))
            sb_puts(c, b, v->u.f > 0 ? "Infinity" : "-Infinity");
        else {
            py_float_repr(v->u.f, tmp, sizeof tmp);
            sb_puts(c, b, tmp);
        }
        return;
    case JV_STR:
        json_str(c, b, v->u.s.p, v->u.s.n, f->ensure_ascii);
        return;
    case JV_LIST:
        if (!is_seq(v)) rfail(c, "Object of type %s is not JSON serializable", jv_type_name(v));
        if (!v->u.l->n) {
            sb_puts(c, b, "[]");
            return;
        }
        sb_putc(c, b, '[');
        for (size_t i = 0; i < v->u.l->n; i++) {
            if (i) sb_put(c, b, f->item_sep, f->item_sep_n);
            if (f->indent) json_nl(c, b, f, level + 1);
            jv_write_json(c, b, &v->u.l->v[i], f, level + 1);
        }
        if (f->indent) json_nl(c, b, f, level);
        sb_putc(c, b, ']');
        return;
    case JV_DICT:
        json_write_dict(c, b, v->u.d, f, level);
        return;
    default:
        rfail(c, "Object of type %s is not JSON serializable", jv_type_name(v));
    }
}
