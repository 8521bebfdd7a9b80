/* jinja.c — a Jinja2 subset for chat templates: lexer (with jinja2's whitespace rules), a parser to
 * an AST and a tree-walking evaluator with Python value semantics (str/repr of floats, truthiness,
 * jinja2's Undefined). Not supported: extends/include/import/block, recursive loops, autoescape.
 * Every allocation of one render comes from one arena freed at the end; errors longjmp back to
 * jinja_render, which is why the code below checks nothing after allocating. */
#include "jinja.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ================================================================================================
 * Arena, context, errors
 * ============================================================================================== */
typedef struct achunk {
    struct achunk *next;
    size_t used, cap;
    max_align_t data[];
} achunk;

typedef struct jv jv;
typedef struct node node;
typedef struct frame frame;
typedef struct tok tok;

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

typedef struct jctx {
    jmp_buf jb;
    achunk *chunks;
    size_t mem;
    lmc_status st;
    char err[512];
    int err_line, err_col, raised;
    int line, col; /* position of the node being evaluated, for runtime errors */
    /* lexer/parser */
    const char *src;
    size_t srclen;
    tok *toks;
    size_t ntok, tcap, tpos;
    int pdepth, loopdepth;
    /* evaluator */
    sbuf *out;
    frame *root;
    int depth;
    size_t steps;
    struct tm now;
    jv *hole; /* the value a {% filter %} / {% set x | f %} chain is applied to */
} jctx;

#if defined(__GNUC__)
#define JNORET __attribute__((noreturn))
#else
#define JNORET
#endif

JNORET LMC_PRINTF(4, 5) static void fail_at(jctx *c, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    c->err_line = line;
    c->err_col = col;
    if (c->st == LMC_OK) c->st = LMC_ERR_TEMPLATE;
    longjmp(c->jb, 1);
}
#define rfail(c, ...) fail_at((c), (c)->line, (c)->col, __VA_ARGS__)

static void *aalloc(jctx *c, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n == 0) n = sizeof(max_align_t);
    achunk *h = c->chunks;
    if (!h || h->cap - h->used < n) {
        size_t cap = n > (64u << 10) ? n : (64u << 10);
        if (c->mem + cap > JINJA_MAX_MEMORY) {
            c->st = LMC_ERR_TEMPLATE;
            rfail(c, "template needs more than %u MiB of memory", JINJA_MAX_MEMORY >> 20);
        }
        achunk *nc = malloc(sizeof(achunk) + cap);
        if (!nc) {
            c->st = LMC_ERR_OOM;
            rfail(c, "out of memory");
        }
        nc->used = 0;
        nc->cap = cap;
        c->mem += cap;
        if (h && h->cap - h->used > (4u << 10) &&
            n > (64u << 10)) { /* keep the current chunk on top */
            nc->next = h->next;
            h->next = nc;
            nc->used = n;
            return nc->data;
        }
        nc->next = h;
        c->chunks = nc;
        h = nc;
    }
    void *p = (char *)h->data + h->used;
    h->used += n;
    return p;
}

static void *acalloc(jctx *c, size_t n) {
    void *p = aalloc(c, n);
    memset(p, 0, n);
    return p;
}

static char *astrdup(jctx *c, const char *p, size_t n) {
    char *s = aalloc(c, n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* Grows an arena array (old storage is simply abandoned). */
static void *agrow(jctx *c, void *old, size_t elem, size_t n, size_t *cap) {
    if (n < *cap) return old;
    size_t nc = *cap ? *cap * 2 : 4;
    void *p = aalloc(c, nc * elem);
    if (old) memcpy(p, old, n * elem);
    *cap = nc;
    return p;
}

static void sb_reserve(jctx *c, sbuf *b, size_t extra) {
    if (b->n + extra > JINJA_MAX_OUTPUT)
        rfail(c, "rendered text exceeds %u MiB", JINJA_MAX_OUTPUT >> 20);
    if (b->n + extra + 1 <= b->cap) return;
    size_t nc = b->cap ? b->cap * 2 : 64;
    while (nc < b->n + extra + 1)
        nc *= 2;
    char *np = aalloc(c, nc);
    if (b->n) memcpy(np, b->p, b->n);
    b->p = np;
    b->cap = nc;
}
static void sb_put(jctx *c, sbuf *b, const char *p, size_t n) {
    if (!n) return;
    sb_reserve(c, b, n);
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_putc(jctx *c, sbuf *b, char ch) {
    sb_put(c, b, &ch, 1);
}
static void sb_puts(jctx *c, sbuf *b, const char *s) {
    sb_put(c, b, s, strlen(s));
}
LMC_PRINTF(3, 4) static void sb_printf(jctx *c, sbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_put(c, b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ================================================================================================
 * Values
 * ============================================================================================== */
enum {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,
    JV_DICT,
    JV_NS,
    JV_MACRO,
    JV_FUNC,
    JV_METHOD,
    JV_LOOP
};

typedef struct jlist {
    jv *v;
    size_t n, cap;
} jlist;
typedef struct jdict {
    jv *k, *v;
    size_t n, cap;
} jdict;
typedef struct jmacro {
    node *def; /* S_MACRO or S_CALLBLOCK */
    frame *closure;
} jmacro;
typedef struct jmethod jmethod;
typedef struct jloop {
    size_t i, n;
    jlist *items;
} jloop;

struct jv {
    uint8_t k;
    uint8_t safe; /* JV_STR: a Markup string (from |safe): '+' escapes the other operand */
    uint8_t
        tuple; /* JV_LIST: LK_* — list, tuple, or one of the lazy iterators jinja2 filters return */
    union {
        int b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s; /* JV_STR text; JV_UNDEF its message */
        jlist *l;
        jdict *d;
        jmacro *m;
        jmethod *bm;
        jloop *lp;
        int fn;
    } u;
};

struct jmethod {
    jv self;
    const char *name;
};

/* What a JV_LIST stands for in Python: jinja2's map/select/... return generators and dict.items() a
 * view; they print, test and serialise differently from lists (e.g. tojson fails on them). */
enum { LK_LIST, LK_TUPLE, LK_GEN, LK_REVITER, LK_ITEMS, LK_KEYS, LK_VALUES };
static const char *const LK_NAMES[] = {
    "list", "tuple", "generator", "list_reverseiterator", "dict_items", "dict_keys", "dict_values"};
static int is_seq(const jv *v) {
    return v->tuple <= LK_TUPLE;
}

enum { FN_RANGE, FN_DICT, FN_NAMESPACE, FN_RAISE, FN_STRFTIME, FN_CALLER_MISSING };

static jv jv_none(void) {
    jv v = {.k = JV_NONE};
    return v;
}
static jv jv_bool(int b) {
    jv v = {.k = JV_BOOL};
    v.u.b = !!b;
    return v;
}
static jv jv_int(int64_t i) {
    jv v = {.k = JV_INT};
    v.u.i = i;
    return v;
}
static jv jv_float(double f) {
    jv v = {.k = JV_FLOAT};
    v.u.f = f;
    return v;
}
static jv jv_strn(const char *p, size_t n) {
    jv v = {.k = JV_STR};
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}
static jv jv_cstr(const char *p) {
    return jv_strn(p, strlen(p));
}
static jv jv_str_copy(jctx *c, const char *p, size_t n) {
    return jv_strn(astrdup(c, p, n), n);
}
static jv jv_sb(jctx *c, sbuf *b) {
    return jv_str_copy(c, b->p ? b->p : "", b->n);
}

static jv jv_undef_msg(jctx *c, const char *msg, size_t n) {
    jv v = {.k = JV_UNDEF};
    v.u.s.p = astrdup(c, msg, n);
    v.u.s.n = n;
    return v;
}

static jv jv_list_new(jctx *c, size_t cap) {
    jv v = {.k = JV_LIST};
    v.u.l = acalloc(c, sizeof(jlist));
    if (cap) {
        v.u.l->v = aalloc(c, cap * sizeof(jv));
        v.u.l->cap = cap;
    }
    return v;
}
static void list_push(jctx *c, jlist *l, jv x) {
    l->v = agrow(c, l->v, sizeof(jv), l->n, &l->cap);
    l->v[l->n++] = x;
}
static jv jv_dict_new(jctx *c, int kind) {
    jv v = {.k = (uint8_t)kind};
    v.u.d = acalloc(c, sizeof(jdict));
    return v;
}

static int is_num(const jv *v) {
    return v->k == JV_INT || v->k == JV_FLOAT || v->k == JV_BOOL;
}
static double num_f(const jv *v) {
    return v->k == JV_FLOAT ? v->u.f : v->k == JV_INT ? (double)v->u.i : (double)v->u.b;
}
static int64_t num_i(const jv *v) {
    return v->k == JV_INT ? v->u.i : v->k == JV_BOOL ? v->u.b : (int64_t)v->u.f;
}
static int is_intlike(const jv *v) {
    return v->k == JV_INT || v->k == JV_BOOL;
}

static int jv_eq(const jv *a, const jv *b);

static int dict_find(const jdict *d, const jv *key) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(&d->k[i], key)) return (int)i;
    return -1;
}
static int dict_find_str(const jdict *d, const char *p, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].k == JV_STR && d->k[i].u.s.n == n && !memcmp(d->k[i].u.s.p, p, n))
            return (int)i;
    return -1;
}
static void dict_set(jctx *c, jdict *d, jv key, jv val) {
    int i = dict_find(d, &key);
    if (i >= 0) {
        d->v[i] = val;
        return;
    }
    size_t cap = d->cap;
    d->k = agrow(c, d->k, sizeof(jv), d->n, &cap);
    cap = d->cap;
    d->v = agrow(c, d->v, sizeof(jv), d->n, &cap);
    d->cap = cap;
    d->k[d->n] = key;
    d->v[d->n++] = val;
}

/* ---- UTF-8 --------------------------------------------------------------------------------- */
/* Decodes one code point at p[*i] (invalid bytes count as one code point each, like Latin-1). */
static uint32_t u8_next(const char *p, size_t n, size_t *i) {
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
static size_t u8_len(const char *p, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; k++)
        u8_next(p, n, &i);
    return k;
}
static void sb_put_cp(jctx *c, sbuf *b, uint32_t cp) {
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
/* Byte offsets of each code point (n_cp + 1 entries). */
static size_t *u8_offsets(jctx *c, const char *p, size_t n, size_t *ncp) {
    size_t k = u8_len(p, n), *off = aalloc(c, (k + 1) * sizeof(size_t)), i = 0;
    for (size_t j = 0; j < k; j++) {
        off[j] = i;
        u8_next(p, n, &i);
    }
    off[k] = n;
    *ncp = k;
    return off;
}
/* Python's str.isspace() */
static int py_space(uint32_t cp) {
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
static void write_repr(jctx *c, sbuf *b, const jv *v);

static void write_str_repr(jctx *c, sbuf *b, const char *p, size_t n) {
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

/* Python str(v) (jinja2 prints Undefined as ""). */
static void write_str(jctx *c, sbuf *b, const jv *v) {
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
        write_repr(c, b, v);
    }
}

static void write_repr(jctx *c, sbuf *b, const jv *v) {
    char tmp[64];
    switch (v->k) {
    case JV_UNDEF:
        sb_puts(c, b, "Undefined");
        return;
    case JV_NONE:
        sb_puts(c, b, "None");
        return;
    case JV_BOOL:
        sb_puts(c, b, v->u.b ? "True" : "False");
        return;
    case JV_INT:
        sb_printf(c, b, "%lld", (long long)v->u.i);
        return;
    case JV_FLOAT:
        py_float_repr(v->u.f, tmp, sizeof tmp);
        sb_puts(c, b, tmp);
        return;
    case JV_STR:
        write_str_repr(c, b, v->u.s.p, v->u.s.n);
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
            write_repr(c, b, &v->u.l->v[i]);
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
            write_repr(c, b, &v->u.d->k[i]);
            sb_puts(c, b, ": ");
            write_repr(c, b, &v->u.d->v[i]);
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
        sb_printf(c, b, "<built-in method %s>", v->u.bm->name);
        return;
    case JV_LOOP:
        sb_puts(c, b, "<LoopContext>");
        return;
    }
}

/* A string value of v: v itself when it is a string, else str(v). */
static jv to_str(jctx *c, const jv *v) {
    if (v->k == JV_STR) return *v;
    sbuf b = {0};
    write_str(c, &b, v);
    return jv_sb(c, &b);
}

static const char *type_name(const jv *v) {
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

static jv undef_name(jctx *c, const char *name, size_t n) {
    sbuf b = {0};
    write_str_repr(c, &b, name, n);
    sb_puts(c, &b, " is undefined");
    return jv_undef_msg(c, b.p, b.n);
}
/* The Undefined for obj.name / obj[key] that does not exist. */
static jv undef_member(jctx *c, const jv *obj, const jv *key) {
    sbuf b = {0};
    if (key->k == JV_STR) {
        const char *t = object_type_repr(obj);
        write_str_repr(c, &b, t, strlen(t));
        sb_puts(c, &b, " has no attribute ");
    } else {
        sb_puts(c, &b, object_type_repr(obj));
        sb_puts(c, &b, " has no element ");
    }
    write_repr(c, &b, key);
    return jv_undef_msg(c, b.p, b.n);
}

JNORET static void fail_undef(jctx *c, const jv *u) {
    rfail(c, "%.*s", (int)u->u.s.n, u->u.s.p);
}

static int jv_truthy(const jv *v) {
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

static int jv_eq(const jv *a, const jv *b) {
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
            if (!jv_eq(&a->u.l->v[i], &b->u.l->v[i])) return 0;
        return 1;
    case JV_DICT:
        if (a->u.d->n != b->u.d->n) return 0;
        for (size_t i = 0; i < a->u.d->n; i++) {
            int j = dict_find(b->u.d, &a->u.d->k[i]);
            if (j < 0 || !jv_eq(&a->u.d->v[i], &b->u.d->v[j])) return 0;
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

/* Python ordering; fails with Python's TypeError text for unorderable types. */
static int jv_cmp(jctx *c, const jv *a, const jv *b, const char *op) {
    if (a->k == JV_UNDEF) fail_undef(c, a);
    if (b->k == JV_UNDEF) fail_undef(c, b);
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
            if (jv_eq(&a->u.l->v[i], &b->u.l->v[i])) continue;
            return jv_cmp(c, &a->u.l->v[i], &b->u.l->v[i], op);
        }
        return a->u.l->n < b->u.l->n ? -1 : a->u.l->n > b->u.l->n;
    }
    rfail(c, "'%s' not supported between instances of '%s' and '%s'", op, type_name(a),
          type_name(b));
}

/* ---- JSON ---------------------------------------------------------------------------------- */
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
            list_push(c, l.u.l, from_json(c, e));
        return l;
    }
    if (cJSON_IsObject(j)) {
        jv d = jv_dict_new(c, JV_DICT);
        for (const cJSON *e = j->child; e; e = e->next)
            dict_set(c, d.u.d, jv_str_copy(c, e->string, strlen(e->string)), from_json(c, e));
        return d;
    }
    return jv_none();
}

typedef struct {
    const char *indent; /* NULL: none */
    size_t indent_n;
    const char *item_sep, *key_sep;
    size_t item_sep_n, key_sep_n;
    int sort_keys, ensure_ascii;
} json_fmt;

static void json_str(jctx *c, sbuf *b, const char *p, size_t n, int ascii) {
    sb_putc(c, b, '"');
    for (size_t i = 0; i < n;) {
        size_t st = i;
        uint32_t cp = u8_next(p, n, &i);
        switch (cp) {
        case '"':
            sb_puts(c, b, "\\\"");
            break;
        case '\\':
            sb_puts(c, b, "\\\\");
            break;
        case '\n':
            sb_puts(c, b, "\\n");
            break;
        case '\r':
            sb_puts(c, b, "\\r");
            break;
        case '\t':
            sb_puts(c, b, "\\t");
            break;
        case '\b':
            sb_puts(c, b, "\\b");
            break;
        case '\f':
            sb_puts(c, b, "\\f");
            break;
        default:
            if (cp < 0x20 || (ascii && cp >= 0x7f)) {
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000;
                    sb_printf(c, b, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
                } else
                    sb_printf(c, b, "\\u%04x", cp);
            } else
                sb_put(c, b, p + st, i - st);
        }
    }
    sb_putc(c, b, '"');
}

static void json_write(jctx *c, sbuf *b, const jv *v, const json_fmt *f, int level);

static void json_nl(jctx *c, sbuf *b, const json_fmt *f, int level) {
    sb_putc(c, b, '\n');
    for (int i = 0; i < level; i++)
        sb_put(c, b, f->indent, f->indent_n);
}

static void json_write(jctx *c, sbuf *b, const jv *v, const json_fmt *f, int level) {
    char tmp[64];
    if (level > JINJA_MAX_DEPTH) rfail(c, "tojson: nesting too deep");
    switch (v->k) {
    case JV_NONE:
        sb_puts(c, b, "null");
        return;
    case JV_BOOL:
        sb_puts(c, b, v->u.b ? "true" : "false");
        return;
    case JV_INT:
        sb_printf(c, b, "%lld", (long long)v->u.i);
        return;
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
        if (!is_seq(v)) rfail(c, "Object of type %s is not JSON serializable", type_name(v));
        if (!v->u.l->n) {
            sb_puts(c, b, "[]");
            return;
        }
        sb_putc(c, b, '[');
        for (size_t i = 0; i < v->u.l->n; i++) {
            if (i) sb_put(c, b, f->item_sep, f->item_sep_n);
            if (f->indent) json_nl(c, b, f, level + 1);
            json_write(c, b, &v->u.l->v[i], f, level + 1);
        }
        if (f->indent) json_nl(c, b, f, level);
        sb_putc(c, b, ']');
        return;
    case JV_DICT: {
        jdict *d = v->u.d;
        if (!d->n) {
            sb_puts(c, b, "{}");
            return;
        }
        size_t *ord = aalloc(c, d->n * sizeof(size_t));
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
                json_write(c, b, k, f, level + 1);
                sb_putc(c, b, '"');
            } else if (k->k == JV_BOOL)
                sb_puts(c, b, k->u.b ? "\"true\"" : "\"false\"");
            else if (k->k == JV_NONE)
                sb_puts(c, b, "\"null\"");
            else
                rfail(c, "keys must be str, int, float, bool or None, not %s", type_name(k));
            sb_put(c, b, f->key_sep, f->key_sep_n);
            json_write(c, b, &d->v[i], f, level + 1);
        }
        if (f->indent) json_nl(c, b, f, level);
        sb_putc(c, b, '}');
        return;
    }
    default:
        rfail(c, "Object of type %s is not JSON serializable", type_name(v));
    }
}

/* ================================================================================================
 * Lexer: text, {{ }}, {% %}, {# #} with trim_blocks, lstrip_blocks and '-'/'+' whitespace control
 * ============================================================================================== */
enum { T_EOF, T_TEXT, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_STR, T_INT, T_FLOAT, T_OP };

struct tok {
    uint8_t t;
    int line, col;
    const char *p; /* source text (T_TEXT: the text after whitespace control) */
    size_t n;
    jv v; /* T_STR, T_INT, T_FLOAT */
};

typedef struct {
    size_t pos;
    int line, col; /* at pos; col counts code points from 1 */
} lexpos;

/* Line and column of pos; positions mostly grow, so this walks forward from the last one. */
static void lex_where(jctx *c, lexpos *lp, size_t pos, int *line, int *col) {
    if (pos < lp->pos) {
        lp->pos = 0;
        lp->line = 1;
        lp->col = 1;
    }
    for (size_t i = lp->pos; i < pos; i++) {
        if (c->src[i] == '\n') {
            lp->line++;
            lp->col = 1;
        } else if (((unsigned char)c->src[i] & 0xc0) != 0x80)
            lp->col++;
    }
    lp->pos = pos;
    *line = lp->line;
    *col = lp->col;
}

static tok *tok_push(jctx *c, lexpos *lp, int t, size_t pos, const char *p, size_t n) {
    c->toks = agrow(c, c->toks, sizeof(tok), c->ntok, &c->tcap);
    tok *k = &c->toks[c->ntok++];
    memset(k, 0, sizeof *k);
    k->t = (uint8_t)t;
    k->p = p;
    k->n = n;
    lex_where(c, lp, pos, &k->line, &k->col);
    return k;
}

static int is_ws(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}
static int is_id0(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static int is_dig(char ch) {
    return ch >= '0' && ch <= '9';
}
static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* A string literal's value: Python's unicode-escape decoding, as jinja2 applies it. */
static jv lex_string(jctx *c, lexpos *lp, size_t start, size_t end) {
    sbuf b = {0};
    const char *s = c->src;
    for (size_t i = start; i < end;) {
        if (s[i] != '\\' || i + 1 >= end) {
            sb_putc(c, &b, s[i++]);
            continue;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case '\n':
            break;
        case '\\':
            sb_putc(c, &b, '\\');
            break;
        case '\'':
            sb_putc(c, &b, '\'');
            break;
        case '"':
            sb_putc(c, &b, '"');
            break;
        case 'a':
            sb_putc(c, &b, '\a');
            break;
        case 'b':
            sb_putc(c, &b, '\b');
            break;
        case 'f':
            sb_putc(c, &b, '\f');
            break;
        case 'n':
            sb_putc(c, &b, '\n');
            break;
        case 'r':
            sb_putc(c, &b, '\r');
            break;
        case 't':
            sb_putc(c, &b, '\t');
            break;
        case 'v':
            sb_putc(c, &b, '\v');
            break;
        case 'x':
        case 'u':
        case 'U': {
            int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int k = 0; k < nd; k++) {
                int h = i + (size_t)k < end ? hexval(s[i + k]) : -1;
                if (h < 0) {
                    int line, col;
                    lex_where(c, lp, i - 2, &line, &col);
                    fail_at(c, line, col, "truncated \\%cXXXX escape in a string literal", e);
                }
                cp = cp * 16 + (uint32_t)h;
            }
            i += (size_t)nd;
            if (cp > 0x10ffff) {
                int line, col;
                lex_where(c, lp, i, &line, &col);
                fail_at(c, line, col, "illegal Unicode character in a string literal");
            }
            sb_put_cp(c, &b, cp);
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                uint32_t cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i < end && s[i] >= '0' && s[i] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(s[i++] - '0');
                sb_put_cp(c, &b, cp);
            } else {
                sb_putc(c, &b, '\\');
                sb_putc(c, &b, e);
            }
        }
    }
    return jv_sb(c, &b);
}

static const char *const OPS2[] = {"//", "**", "==", "!=", "<=", ">="};
static const char OPS1[] = "+-*/%~<>=()[]{},.:|";

static void lex(jctx *c) {
    const char *s = c->src;
    size_t n = c->srclen, text_start = 0;
    int line_starting = 1;
    lexpos lp = {0, 1, 1};
    for (;;) {
        size_t p = text_start;
        for (; p + 1 < n; p++)
            if (s[p] == '{' && (s[p + 1] == '{' || s[p + 1] == '%' || s[p + 1] == '#')) break;
        if (p + 1 >= n) {
            if (text_start < n)
                tok_push(c, &lp, T_TEXT, text_start, s + text_start, n - text_start);
            break;
        }
        char kind = s[p + 1];
        char sign = (p + 2 < n && (s[p + 2] == '-' || s[p + 2] == '+')) ? s[p + 2] : 0;
        size_t te = p;
        if (sign == '-') {
            while (te > text_start && is_ws(s[te - 1]))
                te--;
        } else if (sign != '+' && kind != '{') { /* lstrip_blocks */
            size_t ls = te;
            while (ls > text_start && s[ls - 1] != '\n')
                ls--;
            if ((ls > text_start || line_starting) && ls < te) {
                size_t k = ls;
                while (k < te && is_ws(s[k]) && s[k] != '\n')
                    k++;
                if (k == te) te = ls;
            }
        }
        if (te > text_start) tok_push(c, &lp, T_TEXT, text_start, s + text_start, te - text_start);
        size_t q = p + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            const char *e = NULL;
            for (size_t k = q; k + 1 < n; k++)
                if (s[k] == '#' && s[k + 1] == '}') {
                    e = s + k;
                    break;
                }
            if (!e) {
                int line, col;
                lex_where(c, &lp, p, &line, &col);
                fail_at(c, line, col, "missing end of comment tag");
            }
            size_t end = (size_t)(e - s) + 2;
            if (e > s + q && e[-1] == '-') {
                while (end < n && is_ws(s[end]))
                    end++;
            } else if (!(e > s + q && e[-1] == '+') && end < n && s[end] == '\n')
                end++;
            line_starting = s[end - 1] == '\n';
            text_start = end;
            continue;
        }
        size_t first_tok = c->ntok;
        tok_push(c, &lp, kind == '{' ? T_VBEGIN : T_BBEGIN, p, s + p, q - p);
        size_t pos = q;
        int depth = 0;
        for (;;) {
            while (pos < n && is_ws(s[pos]))
                pos++;
            if (pos >= n) {
                int line, col;
                lex_where(c, &lp, pos, &line, &col);
                fail_at(c, line, col, "unexpected end of template, expected '%s'",
                        kind == '{' ? "}}" : "%}");
            }
            if (depth == 0) {
                char ec = kind == '{' ? '}' : '%';
                size_t k = pos;
                char esign = 0;
                if ((s[k] == '-' || s[k] == '+') && k + 2 < n + 0 && s[k + 1] == ec &&
                    s[k + 2] == '}')
                    esign = s[k++];
                if (k + 1 < n && s[k] == ec && s[k + 1] == '}' && (esign != '+' || kind == '%')) {
                    tok_push(c, &lp, kind == '{' ? T_VEND : T_BEND, pos, s + pos, k + 2 - pos);
                    size_t end = k + 2;
                    if (esign == '-') {
                        while (end < n && is_ws(s[end]))
                            end++;
                    } else if (kind == '%' && esign != '+' && end < n && s[end] == '\n')
                        end++;
                    line_starting = s[end - 1] == '\n';
                    text_start = end;
                    break;
                }
            }
            char ch = s[pos];
            if (is_id0(ch)) {
                size_t k = pos;
                while (k < n && (is_id0(s[k]) || is_dig(s[k])))
                    k++;
                tok_push(c, &lp, T_NAME, pos, s + pos, k - pos);
                pos = k;
            } else if (is_dig(ch)) {
                size_t k = pos;
                int isf = 0;
                while (k < n && (is_dig(s[k]) || (s[k] == '_' && k + 1 < n && is_dig(s[k + 1]))))
                    k++;
                if (k + 1 < n && s[k] == '.' && is_dig(s[k + 1])) {
                    isf = 1;
                    k++;
                    while (k < n &&
                           (is_dig(s[k]) || (s[k] == '_' && k + 1 < n && is_dig(s[k + 1]))))
                        k++;
                }
                if (k < n && (s[k] == 'e' || s[k] == 'E')) {
                    size_t m = k + 1;
                    if (m < n && (s[m] == '+' || s[m] == '-')) m++;
                    if (m < n && is_dig(s[m])) {
                        isf = 1;
                        k = m;
                        while (k < n && is_dig(s[k]))
                            k++;
                    }
                }
                char num[64];
                size_t nn = 0;
                for (size_t m = pos; m < k && nn + 1 < sizeof num; m++)
                    if (s[m] != '_') num[nn++] = s[m];
                num[nn] = 0;
                tok *t = tok_push(c, &lp, isf ? T_FLOAT : T_INT, pos, s + pos, k - pos);
                if (isf)
                    t->v = jv_float(strtod(num, NULL));
                else {
                    errno = 0;
                    long long v = strtoll(num, NULL, 10);
                    if (errno || nn >= sizeof num - 1)
                        fail_at(c, t->line, t->col, "integer literal too large");
                    t->v = jv_int(v);
                }
                pos = k;
            } else if (ch == '\'' || ch == '"') {
                size_t k = pos + 1;
                while (k < n && s[k] != ch)
                    k += (s[k] == '\\' && k + 1 < n) ? 2 : 1;
                if (k >= n) {
                    int line, col;
                    lex_where(c, &lp, pos, &line, &col);
                    fail_at(c, line, col, "unexpected end of string literal");
                }
                tok *t = tok_push(c, &lp, T_STR, pos, s + pos, k + 1 - pos);
                t->v = lex_string(c, &lp, pos + 1, k);
                pos = k + 1;
            } else {
                size_t len = 0;
                for (size_t k = 0; k < sizeof OPS2 / sizeof OPS2[0]; k++)
                    if (pos + 1 < n && s[pos] == OPS2[k][0] && s[pos + 1] == OPS2[k][1]) len = 2;
                if (!len && strchr(OPS1, ch) && ch) len = 1;
                tok *t = tok_push(c, &lp, T_OP, pos, s + pos, len ? len : 1);
                if (!len) fail_at(c, t->line, t->col, "unexpected char '%c'", ch);
                if (ch == '(' || ch == '[' || ch == '{')
                    depth++;
                else if (ch == ')' || ch == ']' || ch == '}') {
                    if (depth == 0) fail_at(c, t->line, t->col, "unexpected '%c'", ch);
                    depth--;
                }
                pos += len;
            }
        }
        /* {% raw %}: everything up to {% endraw %} is text */
        if (kind == '%' && c->ntok - first_tok == 3 && c->toks[first_tok + 1].t == T_NAME &&
            c->toks[first_tok + 1].n == 3 && !memcmp(c->toks[first_tok + 1].p, "raw", 3)) {
            size_t k = text_start, rs = 0, re = 0;
            for (; k + 1 < n; k++) {
                if (s[k] != '{' || s[k + 1] != '%') continue;
                size_t m = k + 2;
                if (m < n && (s[m] == '-' || s[m] == '+')) m++;
                while (m < n && is_ws(s[m]))
                    m++;
                if (m + 6 <= n && !memcmp(s + m, "endraw", 6)) {
                    rs = k;
                    re = m + 6;
                    break;
                }
            }
            if (!rs) {
                int line, col;
                lex_where(c, &lp, p, &line, &col);
                fail_at(c, line, col, "missing end of raw directive");
            }
            size_t te2 = rs;
            if (s[rs + 2] == '-')
                while (te2 > text_start && is_ws(s[te2 - 1]))
                    te2--;
            if (te2 > text_start)
                tok_push(c, &lp, T_TEXT, text_start, s + text_start, te2 - text_start);
            tok_push(c, &lp, T_BBEGIN, rs, s + rs, 2);
            tok_push(c, &lp, T_NAME, re - 6, s + re - 6, 6);
            while (re < n && is_ws(s[re]))
                re++;
            char esign = 0;
            if (re < n && (s[re] == '-' || s[re] == '+')) esign = s[re++];
            if (re + 1 >= n || s[re] != '%' || s[re + 1] != '}') {
                int line, col;
                lex_where(c, &lp, re, &line, &col);
                fail_at(c, line, col, "expected '%%}' after endraw");
            }
            tok_push(c, &lp, T_BEND, re, s + re, 2);
            size_t end = re + 2;
            if (esign == '-')
                while (end < n && is_ws(s[end]))
                    end++;
            else if (esign != '+' && end < n && s[end] == '\n')
                end++;
            line_starting = s[end - 1] == '\n';
            text_start = end;
        }
    }
    tok_push(c, &lp, T_EOF, n, s + n, 0);
}

/* ================================================================================================
 * Parser: tokens to an AST (jinja2's grammar and operator precedence)
 * ============================================================================================== */
enum {
    /* statements */
    S_BODY,
    S_TEXT,
    S_OUT,
    S_IF,
    S_FOR,
    S_SET,
    S_SETBLOCK,
    S_MACRO,
    S_CALLBLOCK,
    S_FILTERBLOCK,
    S_BREAK,
    S_CONTINUE,
    /* expressions */
    E_CONST,
    E_NAME,
    E_ATTR,
    E_ITEM,
    E_SLICE,
    E_CALL,
    E_FILTER,
    E_TEST,
    E_BIN,
    E_NEG,
    E_POS,
    E_NOT,
    E_AND,
    E_OR,
    E_COND,
    E_LIST,
    E_TUPLE,
    E_DICT,
    E_CMP,
    E_CONCAT,
    E_KW,
    E_HOLE
};
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FDIV, OP_MOD, OP_POW };
enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE, CMP_IN, CMP_NOTIN };

struct node {
    uint8_t kind, op, flag;
    int line, col;
    jv val;           /* E_CONST, S_TEXT */
    const char *name; /* E_NAME, E_ATTR, E_FILTER, E_TEST, E_KW, S_MACRO, S_SET (block) */
    size_t nlen;
    node *a, *b, *c, *d;
    node **kids; /* body statements, list items, call args (E_KW for keywords), macro params */
    size_t nk, kcap;
    uint8_t *ops; /* E_CMP */
};

static node *nnew(jctx *c, int kind, const tok *t) {
    node *n = acalloc(c, sizeof(node));
    n->kind = (uint8_t)kind;
    n->line = t->line;
    n->col = t->col;
    return n;
}
static void nadd(jctx *c, node *n, node *kid) {
    n->kids = agrow(c, n->kids, sizeof(node *), n->nk, &n->kcap);
    n->kids[n->nk++] = kid;
}

static tok *pk(jctx *c) {
    return &c->toks[c->tpos];
}
static tok *pk2(jctx *c) {
    return &c->toks[c->tpos + 1 < c->ntok ? c->tpos + 1 : c->tpos];
}
static tok *adv(jctx *c) {
    tok *t = pk(c);
    if (t->t != T_EOF) c->tpos++;
    return t;
}
static int t_op(const tok *t, const char *op) {
    return t->t == T_OP && t->n == strlen(op) && !memcmp(t->p, op, t->n);
}
static int t_name(const tok *t, const char *nm) {
    return t->t == T_NAME && t->n == strlen(nm) && !memcmp(t->p, nm, t->n);
}

static const char *tok_desc(jctx *c, const tok *t) {
    static const char *const names[] = {"end of template",
                                        "template data",
                                        "begin of print statement",
                                        "end of print statement",
                                        "begin of statement block",
                                        "end of statement block",
                                        "name",
                                        "string",
                                        "integer",
                                        "float",
                                        "operator"};
    if (t->t == T_NAME || t->t == T_OP) {
        char *s = aalloc(c, t->n + 3);
        snprintf(s, t->n + 3, "'%.*s'", (int)t->n, t->p);
        return s;
    }
    return names[t->t];
}
JNORET static void perr_unexpected(jctx *c, const tok *t, const char *want) {
    if (want) fail_at(c, t->line, t->col, "expected %s, got %s", want, tok_desc(c, t));
    fail_at(c, t->line, t->col, "unexpected %s", tok_desc(c, t));
}
static void expect_op(jctx *c, const char *op) {
    if (!t_op(pk(c), op)) {
        char w[8];
        snprintf(w, sizeof w, "'%s'", op);
        perr_unexpected(c, pk(c), w);
    }
    adv(c);
}
static tok *expect_name(jctx *c) {
    if (pk(c)->t != T_NAME) perr_unexpected(c, pk(c), "a name");
    return adv(c);
}
static void expect_bend(jctx *c) {
    if (pk(c)->t != T_BEND) perr_unexpected(c, pk(c), "end of statement block");
    adv(c);
}

static node *parse_expr(jctx *c);
static node *parse_or(jctx *c);
static node *parse_unary(jctx *c, int with_filter);
static node *parse_primary(jctx *c);
static node *parse_postfix(jctx *c, node *x);
static int filter_known(const char *p, size_t n, int *supported);
static int test_known(const char *p, size_t n, int *supported);

static void enter(jctx *c) {
    if (++c->pdepth > JINJA_MAX_DEPTH)
        fail_at(c, pk(c)->line, pk(c)->col, "expression nested too deeply");
}

/* a, b, c  (a tuple when there is a comma or the parentheses are explicit and empty) */
static node *parse_tuple(jctx *c, int with_cond, int explicit_parens) {
    tok *t0 = pk(c);
    node *tup = nnew(c, E_TUPLE, t0);
    int comma = 0;
    for (;;) {
        tok *t = pk(c);
        if (tup->nk && (t->t == T_VEND || t->t == T_BEND || t_op(t, ")") || t_name(t, "in") ||
                        t_name(t, "if") || t_op(t, "=")))
            break;
        if (!tup->nk && explicit_parens && t_op(t, ")")) break;
        nadd(c, tup, with_cond ? parse_expr(c) : parse_or(c));
        if (!t_op(pk(c), ",")) break;
        adv(c);
        comma = 1;
    }
    if (!comma && tup->nk == 1) return tup->kids[0];
    if (!tup->nk && !explicit_parens) perr_unexpected(c, t0, "an expression");
    return tup;
}

static void parse_call_args(jctx *c, node *call) {
    expect_op(c, "(");
    while (!t_op(pk(c), ")")) {
        if (call->nk) expect_op(c, ",");
        if (t_op(pk(c), ")")) break;
        tok *t = pk(c);
        if (t->t == T_NAME && t_op(pk2(c), "=")) {
            adv(c);
            adv(c);
            node *kw = nnew(c, E_KW, t);
            kw->name = t->p;
            kw->nlen = t->n;
            kw->a = parse_expr(c);
            nadd(c, call, kw);
        } else {
            if (t_op(t, "*") || t_op(t, "**"))
                fail_at(c, t->line, t->col, "*args and **kwargs calls are not supported");
            for (size_t i = 0; i < call->nk; i++)
                if (call->kids[i]->kind == E_KW)
                    fail_at(c, t->line, t->col, "positional argument follows keyword argument");
            nadd(c, call, parse_expr(c));
        }
    }
    expect_op(c, ")");
}

static tok *parse_dotted_name(jctx *c, size_t *len) {
    tok *t = expect_name(c);
    *len = t->n;
    while (t_op(pk(c), ".") && pk2(c)->t == T_NAME) {
        adv(c);
        tok *u = adv(c);
        *len = (size_t)(u->p + u->n - t->p);
    }
    return t;
}

static node *parse_filter(jctx *c, node *x) {
    tok *t = adv(c); /* '|' */
    size_t len;
    tok *nt = parse_dotted_name(c, &len);
    int sup;
    if (!filter_known(nt->p, len, &sup))
        fail_at(c, nt->line, nt->col, "No filter named '%.*s'.", (int)len, nt->p);
    if (!sup) fail_at(c, nt->line, nt->col, "filter '%.*s' is not supported", (int)len, nt->p);
    node *f = nnew(c, E_FILTER, t);
    f->name = nt->p;
    f->nlen = len;
    f->a = x;
    if (t_op(pk(c), "(")) parse_call_args(c, f);
    return f;
}

static node *parse_test(jctx *c, node *x) {
    tok *t = adv(c); /* 'is' */
    int neg = 0;
    if (t_name(pk(c), "not")) {
        adv(c);
        neg = 1;
    }
    size_t len;
    tok *nt = parse_dotted_name(c, &len);
    int sup;
    if (!test_known(nt->p, len, &sup))
        fail_at(c, nt->line, nt->col, "No test named '%.*s'.", (int)len, nt->p);
    if (!sup) fail_at(c, nt->line, nt->col, "test '%.*s' is not supported", (int)len, nt->p);
    node *f = nnew(c, E_TEST, t);
    f->name = nt->p;
    f->nlen = len;
    f->a = x;
    f->flag = (uint8_t)neg;
    tok *a = pk(c);
    if (t_op(a, "("))
        parse_call_args(c, f);
    else if ((a->t == T_NAME || a->t == T_STR || a->t == T_INT || a->t == T_FLOAT || t_op(a, "[") ||
              t_op(a, "{")) &&
             !t_name(a, "else") && !t_name(a, "or") && !t_name(a, "and")) {
        if (t_name(a, "is")) fail_at(c, a->line, a->col, "You cannot chain multiple tests with is");
        nadd(c, f, parse_postfix(c, parse_primary(c)));
    }
    return f;
}

static node *parse_filter_expr(jctx *c, node *x) {
    for (;;) {
        tok *t = pk(c);
        if (t_op(t, "|"))
            x = parse_filter(c, x);
        else if (t_name(t, "is"))
            x = parse_test(c, x);
        else if (t_op(t, "(")) {
            node *call = nnew(c, E_CALL, t);
            call->a = x;
            parse_call_args(c, call);
            x = call;
        } else
            return x;
    }
}

static node *parse_postfix(jctx *c, node *x) {
    for (;;) {
        tok *t = pk(c);
        if (t_op(t, ".")) {
            adv(c);
            tok *nt = pk(c);
            if (nt->t == T_NAME) {
                adv(c);
                node *a = nnew(c, E_ATTR, t);
                a->a = x;
                a->name = nt->p;
                a->nlen = nt->n;
                x = a;
            } else if (nt->t == T_INT) {
                adv(c);
                node *a = nnew(c, E_ITEM, t);
                a->a = x;
                a->b = nnew(c, E_CONST, nt);
                a->b->val = nt->v;
                x = a;
            } else
                perr_unexpected(c, nt, "a name");
        } else if (t_op(t, "[")) {
            adv(c);
            node *parts[3] = {NULL, NULL, NULL};
            int np = 0, is_slice = 0;
            for (;;) {
                tok *u = pk(c);
                if (t_op(u, ":")) {
                    adv(c);
                    is_slice = 1;
                    if (++np > 2) perr_unexpected(c, u, NULL);
                    continue;
                }
                if (t_op(u, "]")) break;
                if (parts[np]) perr_unexpected(c, u, "']'");
                parts[np] = is_slice ? parse_expr(c) : parse_tuple(c, 1, 0);
            }
            expect_op(c, "]");
            node *a = nnew(c, is_slice ? E_SLICE : E_ITEM, t);
            a->a = x;
            if (is_slice) {
                a->b = parts[0];
                a->c = parts[1];
                a->d = parts[2];
            } else {
                if (!parts[0]) perr_unexpected(c, t, NULL);
                a->b = parts[0];
            }
            x = a;
        } else if (t_op(t, "(")) {
            node *call = nnew(c, E_CALL, t);
            call->a = x;
            parse_call_args(c, call);
            x = call;
        } else
            return x;
    }
}

static node *parse_primary(jctx *c) {
    tok *t = pk(c);
    node *n;
    if (t->t == T_NAME) {
        adv(c);
        if (t_name(t, "true") || t_name(t, "True") || t_name(t, "false") || t_name(t, "False")) {
            n = nnew(c, E_CONST, t);
            n->val = jv_bool(t->p[0] == 't' || t->p[0] == 'T');
        } else if (t_name(t, "none") || t_name(t, "None")) {
            n = nnew(c, E_CONST, t);
            n->val = jv_none();
        } else {
            n = nnew(c, E_NAME, t);
            n->name = t->p;
            n->nlen = t->n;
        }
        return n;
    }
    if (t->t == T_STR) {
        adv(c);
        n = nnew(c, E_CONST, t);
        n->val = t->v;
        if (pk(c)->t == T_STR) { /* adjacent literals concatenate */
            sbuf b = {0};
            sb_put(c, &b, t->v.u.s.p, t->v.u.s.n);
            while (pk(c)->t == T_STR) {
                tok *u = adv(c);
                sb_put(c, &b, u->v.u.s.p, u->v.u.s.n);
            }
            n->val = jv_sb(c, &b);
        }
        return n;
    }
    if (t->t == T_INT || t->t == T_FLOAT) {
        adv(c);
        n = nnew(c, E_CONST, t);
        n->val = t->v;
        return n;
    }
    if (t_op(t, "(")) {
        adv(c);
        enter(c);
        n = parse_tuple(c, 1, 1);
        c->pdepth--;
        expect_op(c, ")");
        return n;
    }
    if (t_op(t, "[")) {
        adv(c);
        enter(c);
        n = nnew(c, E_LIST, t);
        while (!t_op(pk(c), "]")) {
            if (n->nk) expect_op(c, ",");
            if (t_op(pk(c), "]")) break;
            nadd(c, n, parse_expr(c));
        }
        adv(c);
        c->pdepth--;
        return n;
    }
    if (t_op(t, "{")) {
        adv(c);
        enter(c);
        n = nnew(c, E_DICT, t);
        while (!t_op(pk(c), "}")) {
            if (n->nk) expect_op(c, ",");
            if (t_op(pk(c), "}")) break;
            nadd(c, n, parse_expr(c));
            expect_op(c, ":");
            nadd(c, n, parse_expr(c));
        }
        adv(c);
        c->pdepth--;
        return n;
    }
    perr_unexpected(c, t, NULL);
}

static node *parse_unary(jctx *c, int with_filter) {
    tok *t = pk(c);
    node *x;
    enter(c);
    if (t_op(t, "-") || t_op(t, "+")) {
        adv(c);
        x = nnew(c, t->p[0] == '-' ? E_NEG : E_POS, t);
        x->a = parse_unary(c, 0);
    } else
        x = parse_primary(c);
    x = parse_postfix(c, x);
    if (with_filter) x = parse_filter_expr(c, x);
    c->pdepth--;
    return x;
}

static node *bin(jctx *c, int op, tok *t, node *a, node *b) {
    node *n = nnew(c, E_BIN, t);
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}
static node *parse_pow(jctx *c) {
    node *x = parse_unary(c, 1);
    while (t_op(pk(c), "**")) {
        tok *t = adv(c);
        x = bin(c, OP_POW, t, x, parse_unary(c, 1));
    }
    return x;
}
static node *parse_math2(jctx *c) {
    node *x = parse_pow(c);
    for (;;) {
        tok *t = pk(c);
        int op = t_op(t, "*")    ? OP_MUL
                 : t_op(t, "/")  ? OP_DIV
                 : t_op(t, "//") ? OP_FDIV
                 : t_op(t, "%")  ? OP_MOD
                                 : -1;
        if (op < 0) return x;
        adv(c);
        x = bin(c, op, t, x, parse_pow(c));
    }
}
static node *parse_concat(jctx *c) {
    node *x = parse_math2(c);
    if (!t_op(pk(c), "~")) return x;
    node *n = nnew(c, E_CONCAT, pk(c));
    nadd(c, n, x);
    while (t_op(pk(c), "~")) {
        adv(c);
        nadd(c, n, parse_math2(c));
    }
    return n;
}
static node *parse_math1(jctx *c) {
    node *x = parse_concat(c);
    for (;;) {
        tok *t = pk(c);
        int op = t_op(t, "+") ? OP_ADD : t_op(t, "-") ? OP_SUB : -1;
        if (op < 0) return x;
        adv(c);
        x = bin(c, op, t, x, parse_concat(c));
    }
}
static node *parse_compare(jctx *c) {
    node *x = parse_math1(c);
    node *n = NULL;
    uint8_t ops[64];
    for (;;) {
        tok *t = pk(c);
        int op = t_op(t, "==")                                ? CMP_EQ
                 : t_op(t, "!=")                              ? CMP_NE
                 : t_op(t, "<")                               ? CMP_LT
                 : t_op(t, "<=")                              ? CMP_LE
                 : t_op(t, ">")                               ? CMP_GT
                 : t_op(t, ">=")                              ? CMP_GE
                 : t_name(t, "in")                            ? CMP_IN
                 : (t_name(t, "not") && t_name(pk2(c), "in")) ? CMP_NOTIN
                                                              : -1;
        if (op < 0) break;
        adv(c);
        if (op == CMP_NOTIN) adv(c);
        if (!n) {
            n = nnew(c, E_CMP, t);
            nadd(c, n, x);
        }
        if (n->nk > sizeof ops) fail_at(c, t->line, t->col, "comparison chain too long");
        ops[n->nk - 1] = (uint8_t)op;
        nadd(c, n, parse_math1(c));
    }
    if (!n) return x;
    n->ops = aalloc(c, n->nk);
    memcpy(n->ops, ops, n->nk - 1);
    return n;
}
static node *parse_not(jctx *c) {
    if (t_name(pk(c), "not")) {
        tok *t = adv(c);
        enter(c);
        node *n = nnew(c, E_NOT, t);
        n->a = parse_not(c);
        c->pdepth--;
        return n;
    }
    return parse_compare(c);
}
/* A left-associative chain of operands joined by the keyword kw ("and", "or"), each parsed by next. */
static node *parse_kw_chain(jctx *c, const char *kw, int kind, node *(*next)(jctx *)) {
    node *x = next(c);
    while (t_name(pk(c), kw)) {
        tok *t = adv(c);
        node *n = nnew(c, kind, t);
        n->a = x;
        n->b = next(c);
        x = n;
    }
    return x;
}
static node *parse_and(jctx *c) { return parse_kw_chain(c, "and", E_AND, parse_not); }
static node *parse_or(jctx *c) { return parse_kw_chain(c, "or", E_OR, parse_and); }
static node *parse_expr(jctx *c) {
    enter(c);
    node *x = parse_or(c);
    while (t_name(pk(c), "if")) {
        tok *t = adv(c);
        node *n = nnew(c, E_COND, t);
        n->b = x;
        n->a = parse_or(c);
        if (t_name(pk(c), "else")) {
            adv(c);
            n->c = parse_expr(c);
        }
        x = n;
    }
    c->pdepth--;
    return x;
}

/* ---- statements ---------------------------------------------------------------------------- */
static node *parse_body(jctx *c, const char *const *ends);

static int at_tag(jctx *c, const char *const *ends) {
    if (pk(c)->t != T_BBEGIN) return 0;
    tok *t = pk2(c);
    for (; ends && *ends; ends++)
        if (t_name(t, *ends)) return 1;
    return 0;
}

/* After a body: the current tag must be one of ends; consumes '{%' and the name, returns it. */
static tok *end_tag(jctx *c, const char *block, const char *const *ends, const tok *opener) {
    if (!at_tag(c, ends)) {
        char want[128] = "";
        for (const char *const *e = ends; *e; e++) {
            size_t l = strlen(want);
            snprintf(want + l, sizeof want - l, "%s'%s'", l ? " or " : "", *e);
        }
        tok *t = pk(c);
        if (t->t == T_EOF)
            fail_at(c, opener->line, opener->col,
                    "Unexpected end of template. Jinja was looking for the following tags: %s. The "
                    "innermost "
                    "block that needs to be closed is '%s'.",
                    want, block);
        fail_at(c, pk2(c)->line, pk2(c)->col,
                "Encountered unknown tag '%.*s'. Jinja was looking for the following tags: %s.",
                (int)pk2(c)->n, pk2(c)->p, want);
    }
    adv(c);
    return adv(c);
}

/* {% for / set / macro %} targets: a name or names separated by commas */
static node *parse_targets(jctx *c, int allow_attr) {
    tok *t0 = pk(c);
    int paren = 0;
    if (t_op(t0, "(")) {
        adv(c);
        paren = 1;
    }
    node *tup = nnew(c, E_TUPLE, t0);
    for (;;) {
        tok *t = expect_name(c);
        node *nm = nnew(c, E_NAME, t);
        nm->name = t->p;
        nm->nlen = t->n;
        if (allow_attr && !paren && !tup->nk && t_op(pk(c), ".")) {
            adv(c);
            tok *at = expect_name(c);
            node *a = nnew(c, E_ATTR, t);
            a->a = nm;
            a->name = at->p;
            a->nlen = at->n;
            return a;
        }
        nadd(c, tup, nm);
        if (!t_op(pk(c), ",")) break;
        adv(c);
        if (paren && t_op(pk(c), ")")) break;
    }
    if (paren) expect_op(c, ")");
    return tup;
}

static node *parse_filter_chain(jctx *c, tok *t) {
    node *x = nnew(c, E_HOLE, t);
    do {
        /* parse_filter expects to sit on '|'; the first filter of a filter block has none */
        if (!t_op(pk(c), "|")) {
            size_t len;
            tok *nt = parse_dotted_name(c, &len);
            int sup;
            if (!filter_known(nt->p, len, &sup))
                fail_at(c, nt->line, nt->col, "No filter named '%.*s'.", (int)len, nt->p);
            if (!sup)
                fail_at(c, nt->line, nt->col, "filter '%.*s' is not supported", (int)len, nt->p);
            node *f = nnew(c, E_FILTER, nt);
            f->name = nt->p;
            f->nlen = len;
            f->a = x;
            if (t_op(pk(c), "(")) parse_call_args(c, f);
            x = f;
        } else
            x = parse_filter(c, x);
    } while (t_op(pk(c), "|"));
    return x;
}

static void parse_params(jctx *c, node *m) {
    expect_op(c, "(");
    while (!t_op(pk(c), ")")) {
        if (m->nk) expect_op(c, ",");
        if (t_op(pk(c), ")")) break;
        tok *t = expect_name(c);
        node *p = nnew(c, E_KW, t);
        p->name = t->p;
        p->nlen = t->n;
        if (t_op(pk(c), "=")) {
            adv(c);
            p->a = parse_expr(c);
        } else
            for (size_t i = 0; i < m->nk; i++)
                if (m->kids[i]->a)
                    fail_at(c, t->line, t->col, "non-default argument follows default argument");
        nadd(c, m, p);
    }
    adv(c);
}

static node *parse_stmt(jctx *c) {
    tok *open = adv(c); /* {% */
    tok *t = pk(c);
    if (t->t != T_NAME) perr_unexpected(c, t, "a tag name");
    adv(c);
    node *n;
    if (t_name(t, "if")) {
        n = nnew(c, S_IF, t);
        n->a = parse_expr(c);
        expect_bend(c);
        static const char *const ends[] = {"elif", "else", "endif", NULL};
        n->b = parse_body(c, ends);
        node *cur = n;
        for (;;) {
            tok *e = end_tag(c, "if", ends, t);
            if (t_name(e, "elif")) {
                node *k = nnew(c, S_IF, e);
                k->a = parse_expr(c);
                expect_bend(c);
                k->b = parse_body(c, ends);
                cur->c = k;
                cur = k;
            } else if (t_name(e, "else")) {
                expect_bend(c);
                static const char *const ends2[] = {"endif", NULL};
                cur->c = parse_body(c, ends2);
                end_tag(c, "if", ends2, t);
                expect_bend(c);
                break;
            } else {
                expect_bend(c);
                break;
            }
        }
        return n;
    }
    if (t_name(t, "for")) {
        n = nnew(c, S_FOR, t);
        n->a = parse_targets(c, 0);
        if (!t_name(pk(c), "in")) perr_unexpected(c, pk(c), "'in'");
        adv(c);
        n->b = parse_tuple(c, 0, 0);
        if (t_name(pk(c), "if")) {
            adv(c);
            n->d = parse_expr(c);
        }
        if (t_name(pk(c), "recursive"))
            fail_at(c, pk(c)->line, pk(c)->col, "recursive loops are not supported");
        expect_bend(c);
        static const char *const ends[] = {"endfor", "else", NULL};
        c->loopdepth++;
        node *body = parse_body(c, ends);
        c->loopdepth--;
        tok *e = end_tag(c, "for", ends, t);
        expect_bend(c);
        if (t_name(e, "else")) {
            static const char *const ends2[] = {"endfor", NULL};
            n->c = parse_body(c, ends2);
            end_tag(c, "for", ends2, t);
            expect_bend(c);
        }
        n->kids = body->kids;
        n->nk = body->nk;
        return n;
    }
    if (t_name(t, "set")) {
        node *tgt = parse_targets(c, 1);
        if (t_op(pk(c), "=")) {
            adv(c);
            n = nnew(c, S_SET, t);
            n->a = tgt;
            n->b = parse_tuple(c, 1, 0);
            expect_bend(c);
            return n;
        }
        if (tgt->kind != E_TUPLE || tgt->nk != 1) perr_unexpected(c, pk(c), "'='");
        n = nnew(c, S_SETBLOCK, t);
        n->name = tgt->kids[0]->name;
        n->nlen = tgt->kids[0]->nlen;
        if (t_op(pk(c), "|")) n->a = parse_filter_chain(c, pk(c));
        expect_bend(c);
        static const char *const ends[] = {"endset", NULL};
        n->b = parse_body(c, ends);
        end_tag(c, "set", ends, t);
        expect_bend(c);
        return n;
    }
    if (t_name(t, "macro") || t_name(t, "call")) {
        int is_call = t->p[0] == 'c';
        n = nnew(c, is_call ? S_CALLBLOCK : S_MACRO, t);
        if (is_call) {
            if (t_op(pk(c), "(")) parse_params(c, n);
            n->a = parse_expr(c);
            if (n->a->kind != E_CALL) fail_at(c, t->line, t->col, "expected call");
        } else {
            tok *nm = expect_name(c);
            n->name = nm->p;
            n->nlen = nm->n;
            parse_params(c, n);
        }
        expect_bend(c);
        int saved = c->loopdepth;
        c->loopdepth = 0;
        static const char *const ends_m[] = {"endmacro", NULL}, *const ends_c[] = {"endcall", NULL};
        n->b = parse_body(c, is_call ? ends_c : ends_m);
        c->loopdepth = saved;
        end_tag(c, is_call ? "call" : "macro", is_call ? ends_c : ends_m, t);
        expect_bend(c);
        return n;
    }
    if (t_name(t, "filter")) {
        n = nnew(c, S_FILTERBLOCK, t);
        n->a = parse_filter_chain(c, t);
        expect_bend(c);
        static const char *const ends[] = {"endfilter", NULL};
        n->b = parse_body(c, ends);
        end_tag(c, "filter", ends, t);
        expect_bend(c);
        return n;
    }
    if (t_name(t, "break") || t_name(t, "continue")) {
        if (!c->loopdepth) fail_at(c, t->line, t->col, "'%.*s' outside of a loop", (int)t->n, t->p);
        n = nnew(c, t->p[0] == 'b' ? S_BREAK : S_CONTINUE, t);
        expect_bend(c);
        return n;
    }
    if (t_name(t, "generation") || t_name(t, "raw")) {
        int raw = t->p[0] == 'r';
        expect_bend(c);
        static const char *const ends_g[] = {"endgeneration", NULL}, *const ends_r[] = {"endraw",
                                                                                        NULL};
        n = parse_body(c, raw ? ends_r : ends_g);
        end_tag(c, raw ? "raw" : "generation", raw ? ends_r : ends_g, t);
        expect_bend(c);
        return n;
    }
    (void)open;
    fail_at(c, t->line, t->col, "Encountered unknown tag '%.*s'.", (int)t->n, t->p);
}

static node *parse_body(jctx *c, const char *const *ends) {
    node *body = nnew(c, S_BODY, pk(c));
    for (;;) {
        tok *t = pk(c);
        if (t->t == T_EOF || at_tag(c, ends)) return body;
        if (t->t == T_TEXT) {
            adv(c);
            node *n = nnew(c, S_TEXT, t);
            n->val = jv_strn(t->p, t->n);
            nadd(c, body, n);
        } else if (t->t == T_VBEGIN) {
            adv(c);
            node *n = nnew(c, S_OUT, t);
            n->a = parse_tuple(c, 1, 0);
            if (pk(c)->t != T_VEND) perr_unexpected(c, pk(c), "end of print statement");
            adv(c);
            nadd(c, body, n);
        } else if (t->t == T_BBEGIN) {
            nadd(c, body, parse_stmt(c));
        } else
            perr_unexpected(c, t, NULL);
    }
}

/* ================================================================================================
 * Evaluator
 * ============================================================================================== */
struct frame {
    frame *parent;
    int captured; /* a macro or caller defined here keeps a reference: the frame cannot be reused */
    struct fvar {
        const char *p;
        size_t n;
        jv v;
    } * vars;
    size_t n, cap;
};

static frame *frame_new(jctx *c, frame *parent) {
    frame *f = acalloc(c, sizeof(frame));
    f->parent = parent;
    return f;
}
static void frame_set(jctx *c, frame *f, const char *p, size_t n, jv v) {
    for (size_t i = 0; i < f->n; i++)
        if (f->vars[i].n == n && !memcmp(f->vars[i].p, p, n)) {
            f->vars[i].v = v;
            return;
        }
    f->vars = agrow(c, f->vars, sizeof(struct fvar), f->n, &f->cap);
    f->vars[f->n].p = p;
    f->vars[f->n].n = n;
    f->vars[f->n++].v = v;
}
static int frame_get(const frame *f, const char *p, size_t n, jv *out) {
    for (; f; f = f->parent)
        for (size_t i = f->n; i-- > 0;)
            if (f->vars[i].n == n && !memcmp(f->vars[i].p, p, n)) {
                *out = f->vars[i].v;
                return 1;
            }
    return 0;
}

typedef struct {
    jv *pos;
    size_t npos;
    jv *kwv;
    const char **kwn;
    size_t *kwl;
    size_t nkw;
} jargs;

/* Positional argument i or keyword `kw`; 0 when absent. */
static int arg(const jargs *A, size_t i, const char *kw, jv *out) {
    if (i < A->npos) {
        *out = A->pos[i];
        return 1;
    }
    if (kw)
        for (size_t k = 0; k < A->nkw; k++)
            if (A->kwl[k] == strlen(kw) && !memcmp(A->kwn[k], kw, A->kwl[k])) {
                *out = A->kwv[k];
                return 1;
            }
    return 0;
}
static jv arg_or(const jargs *A, size_t i, const char *kw, jv dflt) {
    jv v;
    return arg(A, i, kw, &v) ? v : dflt;
}

static jv eval(jctx *c, node *n, frame *f);
static int exec_body(jctx *c, node **kids, size_t nk, frame *f);
static jv call_value(jctx *c, jv fn, jargs *A, jv caller);
static jv getattr_v(jctx *c, const jv *obj, const char *name, size_t n);

static const char *const STR_METHODS[] = {
    "startswith", "endswith", "strip",   "lstrip",     "rstrip",       "split",        "rsplit",
    "upper",      "lower",    "title",   "capitalize", "swapcase",     "replace",      "find",
    "rfind",      "index",    "count",   "join",       "format",       "splitlines",   "isdigit",
    "isalpha",    "isalnum",  "isspace", "islower",    "isupper",      "isnumeric",    "isdecimal",
    "zfill",      "center",   "ljust",   "rjust",      "removeprefix", "removesuffix", "partition",
    "rpartition", NULL};
static const char *const DICT_METHODS[] = {"items", "keys", "values", "get", "copy", NULL};
static const char *const DICT_UNSAFE[] = {"pop", "popitem", "update", "clear", "setdefault", NULL};
static const char *const LIST_METHODS[] = {"index", "count", "copy", NULL};
static const char *const LIST_UNSAFE[] = {"append", "extend", "insert",  "pop", "remove",
                                          "clear",  "sort",   "reverse", NULL};

static const char *in_names(const char *const *names, const char *p, size_t n) {
    for (; *names; names++)
        if (strlen(*names) == n && !memcmp(*names, p, n)) return *names;
    return NULL;
}
static jv method(jctx *c, const jv *self, const char *name) {
    jmethod *m = aalloc(c, sizeof(jmethod));
    m->self = *self;
    m->name = name;
    jv v = {.k = JV_METHOD};
    v.u.bm = m;
    return v;
}

/* obj.name: Python attribute first (methods), then item — jinja2's Environment.getattr. */
static jv getattr_v(jctx *c, const jv *obj, const char *name, size_t n) {
    const char *mn;
    jv key = jv_strn(name, n);
    switch (obj->k) {
    case JV_UNDEF:
        fail_undef(c, obj);
    case JV_DICT: {
        if ((mn = in_names(DICT_METHODS, name, n)) || (mn = in_names(DICT_UNSAFE, name, n)))
            return method(c, obj, mn);
        int i = dict_find_str(obj->u.d, name, n);
        if (i >= 0) return obj->u.d->v[i];
        break;
    }
    case JV_NS: {
        int i = dict_find_str(obj->u.d, name, n);
        if (i >= 0) return obj->u.d->v[i];
        break;
    }
    case JV_STR:
        if ((mn = in_names(STR_METHODS, name, n))) return method(c, obj, mn);
        break;
    case JV_LIST:
        if ((mn = in_names(LIST_METHODS, name, n)) || (mn = in_names(LIST_UNSAFE, name, n)))
            return method(c, obj, mn);
        break;
    case JV_LOOP: {
        jloop *l = obj->u.lp;
        char nm[16];
        if (n >= sizeof nm) break;
        memcpy(nm, name, n);
        nm[n] = 0;
        if (!strcmp(nm, "index")) return jv_int((int64_t)l->i + 1);
        if (!strcmp(nm, "index0")) return jv_int((int64_t)l->i);
        if (!strcmp(nm, "revindex")) return jv_int((int64_t)(l->n - l->i));
        if (!strcmp(nm, "revindex0")) return jv_int((int64_t)(l->n - l->i - 1));
        if (!strcmp(nm, "first")) return jv_bool(l->i == 0);
        if (!strcmp(nm, "last")) return jv_bool(l->i + 1 == l->n);
        if (!strcmp(nm, "length")) return jv_int((int64_t)l->n);
        if (!strcmp(nm, "depth")) return jv_int(1);
        if (!strcmp(nm, "depth0")) return jv_int(0);
        if (!strcmp(nm, "previtem"))
            return l->i > 0 ? l->items->v[l->i - 1]
                            : jv_undef_msg(c, "there is no previous item", 25);
        if (!strcmp(nm, "nextitem"))
            return l->i + 1 < l->n ? l->items->v[l->i + 1]
                                   : jv_undef_msg(c, "there is no next item", 21);
        if (!strcmp(nm, "cycle")) return method(c, obj, "cycle");
        break;
    }
    default:
        break;
    }
    return undef_member(c, obj, &key);
}

static int64_t norm_index(int64_t i, int64_t len) {
    return i < 0 ? i + len : i;
}

/* obj[key]: item first, then attribute — jinja2's Environment.getitem. */
static jv getitem_v(jctx *c, const jv *obj, const jv *key) {
    switch (obj->k) {
    case JV_UNDEF:
        fail_undef(c, obj);
    case JV_DICT: {
        int i = dict_find(obj->u.d, key);
        if (i >= 0) return obj->u.d->v[i];
        break;
    }
    case JV_LIST:
        if (is_intlike(key) && is_seq(obj)) {
            int64_t i = norm_index(num_i(key), (int64_t)obj->u.l->n);
            if (i >= 0 && i < (int64_t)obj->u.l->n) return obj->u.l->v[i];
            return undef_member(c, obj, key);
        }
        break;
    case JV_STR:
        if (is_intlike(key)) {
            size_t ncp, *off = u8_offsets(c, obj->u.s.p, obj->u.s.n, &ncp);
            int64_t i = norm_index(num_i(key), (int64_t)ncp);
            if (i >= 0 && i < (int64_t)ncp)
                return jv_strn(obj->u.s.p + off[i], off[i + 1] - off[i]);
            return undef_member(c, obj, key);
        }
        break;
    default:
        break;
    }
    if (key->k == JV_STR) return getattr_v(c, obj, key->u.s.p, key->u.s.n);
    return undef_member(c, obj, key);
}

/* Python's slice.indices() */
static void slice_idx(jctx *c, int64_t len, const jv *a, const jv *b, const jv *s, int64_t *start,
                      int64_t *stop, int64_t *step) {
    const jv *in[3] = {a, b, s};
    for (int k = 0; k < 3; k++)
        if (in[k]->k != JV_NONE && !is_intlike(in[k]))
            rfail(c, "slice indices must be integers or None or have an __index__ method");
    *step = s->k == JV_NONE ? 1 : num_i(s);
    if (*step == 0) rfail(c, "slice step cannot be zero");
    int64_t lo = *step < 0 ? -1 : 0, hi = *step < 0 ? len - 1 : len;
    if (a->k == JV_NONE)
        *start = *step < 0 ? hi : lo;
    else {
        *start = num_i(a);
        if (*start < 0) {
            *start += len;
            if (*start < lo) *start = lo;
        } else if (*start > hi)
            *start = hi;
    }
    if (b->k == JV_NONE)
        *stop = *step < 0 ? lo : hi;
    else {
        *stop = num_i(b);
        if (*stop < 0) {
            *stop += len;
            if (*stop < lo) *stop = lo;
        } else if (*stop > hi)
            *stop = hi;
    }
}

static jv slice_v(jctx *c, const jv *obj, const jv *a, const jv *b, const jv *s) {
    int64_t start, stop, step;
    if (obj->k == JV_LIST && is_seq(obj)) {
        slice_idx(c, (int64_t)obj->u.l->n, a, b, s, &start, &stop, &step);
        jv r = jv_list_new(c, 0);
        r.tuple = obj->tuple;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
            list_push(c, r.u.l, obj->u.l->v[i]);
        return r;
    }
    if (obj->k == JV_STR) {
        size_t ncp, *off = u8_offsets(c, obj->u.s.p, obj->u.s.n, &ncp);
        slice_idx(c, (int64_t)ncp, a, b, s, &start, &stop, &step);
        sbuf o = {0};
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
            sb_put(c, &o, obj->u.s.p + off[i], off[i + 1] - off[i]);
        return jv_sb(c, &o);
    }
    if (obj->k == JV_UNDEF) fail_undef(c, obj);
    return jv_undef_msg(c, "slice of a value that cannot be sliced", 38);
}

/* The items a for loop / filter iterates over. */
static jlist *iter_list(jctx *c, const jv *v) {
    switch (v->k) {
    case JV_LIST:
        return v->u.l;
    case JV_UNDEF:
        return acalloc(c, sizeof(jlist));
    case JV_DICT: {
        jlist *l = acalloc(c, sizeof(jlist));
        for (size_t i = 0; i < v->u.d->n; i++)
            list_push(c, l, v->u.d->k[i]);
        return l;
    }
    case JV_STR: {
        jlist *l = acalloc(c, sizeof(jlist));
        for (size_t i = 0; i < v->u.s.n;) {
            size_t st = i;
            u8_next(v->u.s.p, v->u.s.n, &i);
            list_push(c, l, jv_strn(v->u.s.p + st, i - st));
        }
        return l;
    }
    default:
        rfail(c, "'%s' object is not iterable", type_name(v));
    }
}

static void html_escape(jctx *c, sbuf *b, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        switch (p[i]) {
        case '&':
            sb_puts(c, b, "&amp;");
            break;
        case '<':
            sb_puts(c, b, "&lt;");
            break;
        case '>':
            sb_puts(c, b, "&gt;");
            break;
        case '"':
            sb_puts(c, b, "&#34;");
            break;
        case '\'':
            sb_puts(c, b, "&#39;");
            break;
        default:
            sb_putc(c, b, p[i]);
        }
    }
}

static jv str_repeat(jctx *c, const jv *s, int64_t k) {
    sbuf b = {0};
    if (k > 0 && s->u.s.n && (uint64_t)k > JINJA_MAX_OUTPUT / s->u.s.n)
        rfail(c, "string repetition too large");
    for (int64_t i = 0; i < k; i++)
        sb_put(c, &b, s->u.s.p, s->u.s.n);
    return jv_sb(c, &b);
}

static jv py_percent_format(jctx *c, const jv *fmt, const jv *args);

static jv binop(jctx *c, int op, const jv *a, const jv *b) {
    static const char *const sym[] = {"+", "-", "*", "/", "//", "%", "**"};
    if (a->k == JV_UNDEF) fail_undef(c, a);
    if (b->k == JV_UNDEF) fail_undef(c, b);
    if (is_num(a) && is_num(b)) {
        int ints = is_intlike(a) && is_intlike(b);
        int64_t x = num_i(a), y = num_i(b), r;
        double fx = num_f(a), fy = num_f(b);
        switch (op) {
        case OP_ADD:
            if (ints) {
                if (__builtin_add_overflow(x, y, &r)) rfail(c, "integer overflow");
                return jv_int(r);
            }
            return jv_float(fx + fy);
        case OP_SUB:
            if (ints) {
                if (__builtin_sub_overflow(x, y, &r)) rfail(c, "integer overflow");
                return jv_int(r);
            }
            return jv_float(fx - fy);
        case OP_MUL:
            if (ints) {
                if (__builtin_mul_overflow(x, y, &r)) rfail(c, "integer overflow");
                return jv_int(r);
            }
            return jv_float(fx * fy);
        case OP_DIV:
            if (fy == 0) rfail(c, "division by zero");
            return jv_float(fx / fy);
        case OP_FDIV:
            if (ints) {
                if (y == 0) rfail(c, "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) rfail(c, "integer overflow");
                int64_t q = x / y;
                if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
                return jv_int(q);
            }
            if (fy == 0) rfail(c, "float floor division by zero");
            return jv_float(floor(fx / fy));
        case OP_MOD:
            if (ints) {
                if (y == 0) rfail(c, "integer modulo by zero");
                if (y == -1) return jv_int(0);
                int64_t m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) m += y;
                return jv_int(m);
            }
            if (fy == 0) rfail(c, "float modulo");
            {
                double m = fmod(fx, fy);
                if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
                return jv_float(m);
            }
        case OP_POW:
            if (ints && y >= 0) {
                int64_t res = 1, base = x;
                for (int64_t e = y; e > 0; e >>= 1) {
                    if (e & 1)
                        if (__builtin_mul_overflow(res, base, &res)) rfail(c, "integer overflow");
                    if (e > 1)
                        if (__builtin_mul_overflow(base, base, &base)) rfail(c, "integer overflow");
                }
                return jv_int(res);
            }
            if (fx == 0 && fy < 0) rfail(c, "0.0 cannot be raised to a negative power");
            return jv_float(pow(fx, fy));
        }
    }
    if (op == OP_ADD && a->k == JV_STR && b->k == JV_STR) {
        sbuf o = {0};
        if (a->safe && !b->safe) {
            sb_put(c, &o, a->u.s.p, a->u.s.n);
            html_escape(c, &o, b->u.s.p, b->u.s.n);
        } else if (b->safe && !a->safe) {
            html_escape(c, &o, a->u.s.p, a->u.s.n);
            sb_put(c, &o, b->u.s.p, b->u.s.n);
        } else {
            sb_put(c, &o, a->u.s.p, a->u.s.n);
            sb_put(c, &o, b->u.s.p, b->u.s.n);
        }
        jv r = jv_sb(c, &o);
        r.safe = a->safe || b->safe;
        return r;
    }
    if (op == OP_ADD && a->k == JV_LIST && b->k == JV_LIST && a->tuple == b->tuple) {
        jv r = jv_list_new(c, a->u.l->n + b->u.l->n);
        r.tuple = a->tuple;
        for (size_t i = 0; i < a->u.l->n; i++)
            list_push(c, r.u.l, a->u.l->v[i]);
        for (size_t i = 0; i < b->u.l->n; i++)
            list_push(c, r.u.l, b->u.l->v[i]);
        return r;
    }
    if (op == OP_MUL && ((a->k == JV_STR && is_intlike(b)) || (b->k == JV_STR && is_intlike(a))))
        return a->k == JV_STR ? str_repeat(c, a, num_i(b)) : str_repeat(c, b, num_i(a));
    if (op == OP_MUL &&
        ((a->k == JV_LIST && is_intlike(b)) || (b->k == JV_LIST && is_intlike(a)))) {
        const jv *l = a->k == JV_LIST ? a : b;
        int64_t k = a->k == JV_LIST ? num_i(b) : num_i(a);
        jv r = jv_list_new(c, 0);
        r.tuple = l->tuple;
        if (k > 0 && l->u.l->n && (uint64_t)k > (JINJA_MAX_OUTPUT / 16) / l->u.l->n)
            rfail(c, "list repetition too large");
        for (int64_t i = 0; i < k; i++)
            for (size_t j = 0; j < l->u.l->n; j++)
                list_push(c, r.u.l, l->u.l->v[j]);
        return r;
    }
    if (op == OP_MOD && a->k == JV_STR) return py_percent_format(c, a, b);
    if (op == OP_ADD && (a->k == JV_STR || a->k == JV_LIST) && a->k != b->k)
        rfail(c, "can only concatenate %s (not \"%s\") to %s", type_name(a), type_name(b),
              type_name(a));
    rfail(c, "unsupported operand type(s) for %s: '%s' and '%s'", sym[op], type_name(a),
          type_name(b));
}

static int contains(jctx *c, const jv *hay, const jv *needle) {
    switch (hay->k) {
    case JV_STR:
        if (needle->k != JV_STR)
            rfail(c, "'in <string>' requires string as left operand, not %s", type_name(needle));
        if (!needle->u.s.n) return 1;
        return memmem(hay->u.s.p, hay->u.s.n, needle->u.s.p, needle->u.s.n) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < hay->u.l->n; i++)
            if (jv_eq(&hay->u.l->v[i], needle)) return 1;
        return 0;
    case JV_DICT:
        return dict_find(hay->u.d, needle) >= 0;
    case JV_UNDEF:
        return 0;
    default:
        rfail(c, "argument of type '%s' is not iterable", type_name(hay));
    }
}

static int compare(jctx *c, int op, const jv *a, const jv *b) {
    switch (op) {
    case CMP_EQ:
        return jv_eq(a, b);
    case CMP_NE:
        return !jv_eq(a, b);
    case CMP_LT:
        return jv_cmp(c, a, b, "<") < 0;
    case CMP_LE:
        return jv_cmp(c, a, b, "<=") <= 0;
    case CMP_GT:
        return jv_cmp(c, a, b, ">") > 0;
    case CMP_GE:
        return jv_cmp(c, a, b, ">=") >= 0;
    case CMP_IN:
        return contains(c, b, a);
    default:
        return !contains(c, b, a);
    }
}

static void eval_args(jctx *c, node *call, frame *f, jargs *A) {
    memset(A, 0, sizeof *A);
    size_t np = 0, nk = 0;
    for (size_t i = 0; i < call->nk; i++) {
        if (call->kids[i]->kind == E_KW)
            nk++;
        else
            np++;
    }
    A->pos = aalloc(c, (np + 1) * sizeof(jv));
    A->kwv = aalloc(c, (nk + 1) * sizeof(jv));
    A->kwn = aalloc(c, (nk + 1) * sizeof(char *));
    A->kwl = aalloc(c, (nk + 1) * sizeof(size_t));
    for (size_t i = 0; i < call->nk; i++) {
        node *k = call->kids[i];
        if (k->kind == E_KW) {
            A->kwn[A->nkw] = k->name;
            A->kwl[A->nkw] = k->nlen;
            A->kwv[A->nkw++] = eval(c, k->a, f);
        } else
            A->pos[A->npos++] = eval(c, k, f);
    }
}

static jv apply_filter(jctx *c, const char *name, size_t nlen, jv v, jargs *A, frame *f);
static int apply_test(jctx *c, const char *name, size_t nlen, const jv *v, jargs *A);

static void set_pos(jctx *c, node *n) {
    c->line = n->line;
    c->col = n->col;
}

static jv eval(jctx *c, node *n, frame *f) {
    jv a, b;
    switch (n->kind) {
    case E_CONST:
        return n->val;
    case E_NAME:
        if (frame_get(f, n->name, n->nlen, &a)) return a;
        return undef_name(c, n->name, n->nlen);
    case E_ATTR:
        a = eval(c, n->a, f);
        set_pos(c, n);
        return getattr_v(c, &a, n->name, n->nlen);
    case E_ITEM:
        a = eval(c, n->a, f);
        b = eval(c, n->b, f);
        set_pos(c, n);
        return getitem_v(c, &a, &b);
    case E_SLICE: {
        a = eval(c, n->a, f);
        jv none = jv_none();
        jv s0 = n->b ? eval(c, n->b, f) : none, s1 = n->c ? eval(c, n->c, f) : none,
           s2 = n->d ? eval(c, n->d, f) : none;
        set_pos(c, n);
        return slice_v(c, &a, &s0, &s1, &s2);
    }
    case E_CALL: {
        a = eval(c, n->a, f);
        jargs A;
        eval_args(c, n, f, &A);
        set_pos(c, n);
        jv none = {.k = JV_UNDEF};
        return call_value(c, a, &A, none);
    }
    case E_FILTER: {
        a = eval(c, n->a, f);
        jargs A;
        eval_args(c, n, f, &A);
        set_pos(c, n);
        return apply_filter(c, n->name, n->nlen, a, &A, f);
    }
    case E_TEST: {
        a = eval(c, n->a, f);
        jargs A;
        eval_args(c, n, f, &A);
        set_pos(c, n);
        int r = apply_test(c, n->name, n->nlen, &a, &A);
        return jv_bool(n->flag ? !r : r);
    }
    case E_BIN:
        a = eval(c, n->a, f);
        b = eval(c, n->b, f);
        set_pos(c, n);
        return binop(c, n->op, &a, &b);
    case E_NEG:
    case E_POS:
        a = eval(c, n->a, f);
        set_pos(c, n);
        if (a.k == JV_UNDEF) fail_undef(c, &a);
        if (!is_num(&a))
            rfail(c, "bad operand type for unary %c: '%s'", n->kind == E_NEG ? '-' : '+',
                  type_name(&a));
        if (n->kind == E_POS) return a.k == JV_BOOL ? jv_int(a.u.b) : a;
        if (a.k == JV_FLOAT) return jv_float(-a.u.f);
        if (num_i(&a) == INT64_MIN) rfail(c, "integer overflow");
        return jv_int(-num_i(&a));
    case E_NOT:
        a = eval(c, n->a, f);
        return jv_bool(!jv_truthy(&a));
    case E_AND:
        a = eval(c, n->a, f);
        return jv_truthy(&a) ? eval(c, n->b, f) : a;
    case E_OR:
        a = eval(c, n->a, f);
        return jv_truthy(&a) ? a : eval(c, n->b, f);
    case E_COND:
        a = eval(c, n->a, f);
        if (jv_truthy(&a)) return eval(c, n->b, f);
        if (n->c) return eval(c, n->c, f);
        return jv_undef_msg(
            c, "the inline if-expression evaluated to false and no else section was defined.", 75);
    case E_LIST:
    case E_TUPLE: {
        jv l = jv_list_new(c, n->nk);
        l.tuple = n->kind == E_TUPLE;
        for (size_t i = 0; i < n->nk; i++)
            list_push(c, l.u.l, eval(c, n->kids[i], f));
        return l;
    }
    case E_DICT: {
        jv d = jv_dict_new(c, JV_DICT);
        for (size_t i = 0; i + 1 < n->nk; i += 2) {
            jv k = eval(c, n->kids[i], f), v = eval(c, n->kids[i + 1], f);
            set_pos(c, n);
            if (k.k == JV_LIST && !k.tuple) rfail(c, "unhashable type: 'list'");
            if (k.k == JV_DICT) rfail(c, "unhashable type: 'dict'");
            dict_set(c, d.u.d, k, v);
        }
        return d;
    }
    case E_CMP: {
        a = eval(c, n->kids[0], f);
        for (size_t i = 1; i < n->nk; i++) {
            b = eval(c, n->kids[i], f);
            set_pos(c, n);
            if (!compare(c, n->ops[i - 1], &a, &b)) return jv_bool(0);
            a = b;
        }
        return jv_bool(1);
    }
    case E_CONCAT: {
        sbuf o = {0};
        for (size_t i = 0; i < n->nk; i++) {
            a = eval(c, n->kids[i], f);
            write_str(c, &o, &a);
        }
        return jv_sb(c, &o);
    }
    case E_HOLE:
        return *c->hole;
    default:
        set_pos(c, n);
        rfail(c, "internal error: unexpected node %d", n->kind);
    }
}

/* Renders kids into a fresh buffer and returns the text. */
static jv capture(jctx *c, node **kids, size_t nk, frame *f) {
    sbuf *saved = c->out, b = {0};
    c->out = &b;
    exec_body(c, kids, nk, f);
    c->out = saved;
    return jv_sb(c, &b);
}

static void step(jctx *c) {
    if (++c->steps > JINJA_MAX_STEPS)
        rfail(c, "template ran for too many steps (%u)", JINJA_MAX_STEPS);
}

/* Binds macro parameters and renders the macro body; returns its output as a string. */
static jv call_macro(jctx *c, jmacro *m, jargs *A, jv caller) {
    node *def = m->def;
    if (++c->depth > JINJA_MAX_DEPTH) rfail(c, "maximum recursion depth exceeded in macro calls");
    step(c);
    frame *fr = frame_new(c, m->closure);
    size_t np = def->nk;
    int *used = acalloc(c, (A->nkw + 1) * sizeof(int));
    for (size_t i = 0; i < np; i++) {
        node *p = def->kids[i];
        jv v;
        int have = 0;
        if (i < A->npos) {
            v = A->pos[i];
            have = 1;
        }
        for (size_t k = 0; k < A->nkw; k++)
            if (A->kwl[k] == p->nlen && !memcmp(A->kwn[k], p->name, p->nlen)) {
                if (have)
                    rfail(c, "macro got multiple values for argument '%.*s'", (int)p->nlen,
                          p->name);
                v = A->kwv[k];
                used[k] = 1;
                have = 1;
            }
        if (!have) {
            if (p->a)
                v = eval(c, p->a, fr);
            else {
                sbuf b = {0};
                sb_puts(c, &b, "parameter ");
                write_str_repr(c, &b, p->name, p->nlen);
                sb_puts(c, &b, " was not provided");
                v = jv_undef_msg(c, b.p, b.n);
            }
        }
        frame_set(c, fr, p->name, p->nlen, v);
    }
    jv varargs = jv_list_new(c, 0), kwargs = jv_dict_new(c, JV_DICT);
    varargs.tuple = 1;
    for (size_t i = np; i < A->npos; i++)
        list_push(c, varargs.u.l, A->pos[i]);
    for (size_t k = 0; k < A->nkw; k++)
        if (!used[k]) dict_set(c, kwargs.u.d, jv_strn(A->kwn[k], A->kwl[k]), A->kwv[k]);
    frame_set(c, fr, "varargs", 7, varargs);
    frame_set(c, fr, "kwargs", 6, kwargs);
    if (caller.k == JV_MACRO) frame_set(c, fr, "caller", 6, caller);
    jv out = capture(c, def->b->kids, def->b->nk, fr);
    c->depth--;
    return out;
}

static jv call_method(jctx *c, jmethod *m, jargs *A);
static jv call_global(jctx *c, int fn, jargs *A);

static jv call_value(jctx *c, jv fn, jargs *A, jv caller) {
    switch (fn.k) {
    case JV_MACRO:
        return call_macro(c, fn.u.m, A, caller);
    case JV_FUNC:
        return call_global(c, fn.u.fn, A);
    case JV_METHOD:
        return call_method(c, fn.u.bm, A);
    case JV_UNDEF:
        fail_undef(c, &fn);
    default:
        rfail(c, "'%s' object is not callable", type_name(&fn));
    }
}

enum { FLOW_NEXT, FLOW_BREAK, FLOW_CONTINUE };

static void assign_targets(jctx *c, node *tgt, jv v, frame *f) {
    if (tgt->kind == E_NAME) {
        frame_set(c, f, tgt->name, tgt->nlen, v);
        return;
    }
    if (tgt->nk == 1) {
        frame_set(c, f, tgt->kids[0]->name, tgt->kids[0]->nlen, v);
        return;
    }
    jlist *l = iter_list(c, &v);
    if (l->n > tgt->nk) rfail(c, "too many values to unpack (expected %zu)", tgt->nk);
    if (l->n < tgt->nk)
        rfail(c, "not enough values to unpack (expected %zu, got %zu)", tgt->nk, l->n);
    for (size_t i = 0; i < tgt->nk; i++)
        frame_set(c, f, tgt->kids[i]->name, tgt->kids[i]->nlen, l->v[i]);
}

static int exec_stmt(jctx *c, node *n, frame *f) {
    jv v;
    switch (n->kind) {
    case S_TEXT:
        sb_put(c, c->out, n->val.u.s.p, n->val.u.s.n);
        return FLOW_NEXT;
    case S_OUT:
        v = eval(c, n->a, f);
        write_str(c, c->out, &v);
        return FLOW_NEXT;
    case S_BODY:
        return exec_body(c, n->kids, n->nk, f);
    case S_IF:
        for (node *k = n; k;) {
            if (k->kind != S_IF) return exec_body(c, k->kids, k->nk, f);
            v = eval(c, k->a, f);
            if (jv_truthy(&v)) return exec_body(c, k->b->kids, k->b->nk, f);
            k = k->c;
        }
        return FLOW_NEXT;
    case S_FOR: {
        jv it = eval(c, n->b, f);
        set_pos(c, n);
        jlist *src = iter_list(c, &it), *items = src;
        if (n->d) { /* the loop filter sees the target names, not `loop` */
            items = acalloc(c, sizeof(jlist));
            for (size_t i = 0; i < src->n; i++) {
                frame *fr = frame_new(c, f);
                assign_targets(c, n->a, src->v[i], fr);
                jv ok = eval(c, n->d, fr);
                if (jv_truthy(&ok)) list_push(c, items, src->v[i]);
                step(c);
            }
        }
        if (!items->n) {
            if (n->c) return exec_body(c, n->c->kids, n->c->nk, frame_new(c, f));
            return FLOW_NEXT;
        }
        jloop *lp = acalloc(c, sizeof(jloop));
        lp->n = items->n;
        lp->items = items;
        jv lv = {.k = JV_LOOP};
        lv.u.lp = lp;
        frame *fr = NULL;
        for (size_t i = 0; i < items->n; i++) {
            step(c);
            lp->i = i;
            /* each iteration starts with no loop-local variables */
            if (!fr || fr->captured)
                fr = frame_new(c, f);
            else
                fr->n = 0;
            set_pos(c, n);
            assign_targets(c, n->a, items->v[i], fr);
            frame_set(c, fr, "loop", 4, lv);
            if (exec_body(c, n->kids, n->nk, fr) == FLOW_BREAK) break;
        }
        return FLOW_NEXT;
    }
    case S_SET:
        v = eval(c, n->b, f);
        set_pos(c, n);
        if (n->a->kind == E_ATTR) {
            jv ns;
            if (!frame_get(f, n->a->a->name, n->a->a->nlen, &ns) || ns.k != JV_NS)
                rfail(c, "cannot assign attribute on non-namespace object");
            dict_set(c, ns.u.d, jv_strn(n->a->name, n->a->nlen), v);
        } else
            assign_targets(c, n->a, v, f);
        return FLOW_NEXT;
    case S_SETBLOCK:
        v = capture(c, n->b->kids, n->b->nk, f);
        if (n->a) {
            jv *saved = c->hole, in = v;
            c->hole = &in;
            v = eval(c, n->a, f);
            c->hole = saved;
        }
        frame_set(c, f, n->name, n->nlen, v);
        return FLOW_NEXT;
    case S_FILTERBLOCK: {
        jv body = capture(c, n->b->kids, n->b->nk, f);
        jv *saved = c->hole;
        c->hole = &body;
        v = eval(c, n->a, f);
        c->hole = saved;
        write_str(c, c->out, &v);
        return FLOW_NEXT;
    }
    case S_MACRO: {
        jv m = {.k = JV_MACRO};
        m.u.m = aalloc(c, sizeof(jmacro));
        m.u.m->def = n;
        m.u.m->closure = f;
        f->captured = 1;
        frame_set(c, f, n->name, n->nlen, m);
        return FLOW_NEXT;
    }
    case S_CALLBLOCK: {
        jv caller = {.k = JV_MACRO};
        caller.u.m = aalloc(c, sizeof(jmacro));
        caller.u.m->def = n;
        caller.u.m->closure = f;
        f->captured = 1;
        jv fn = eval(c, n->a->a, f);
        jargs A;
        eval_args(c, n->a, f, &A);
        set_pos(c, n);
        if (fn.k != JV_MACRO) rfail(c, "{%% call %%} needs a macro");
        v = call_value(c, fn, &A, caller);
        write_str(c, c->out, &v);
        return FLOW_NEXT;
    }
    case S_BREAK:
        return FLOW_BREAK;
    case S_CONTINUE:
        return FLOW_CONTINUE;
    default:
        set_pos(c, n);
        rfail(c, "internal error: unexpected statement %d", n->kind);
    }
}

static int exec_body(jctx *c, node **kids, size_t nk, frame *f) {
    for (size_t i = 0; i < nk; i++) {
        c->line = kids[i]->line;
        c->col = kids[i]->col;
        int r = exec_stmt(c, kids[i], f);
        if (r != FLOW_NEXT) return r;
    }
    return FLOW_NEXT;
}

/* ================================================================================================
 * Strings (Python semantics; case mapping is ASCII-only)
 * ============================================================================================== */
static char up(char ch) {
    return ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch;
}
static char lo(char ch) {
    return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
}
static int is_alpha(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static jv str_map(jctx *c, const jv *s, char (*fn)(char)) {
    char *o = aalloc(c, s->u.s.n + 1);
    for (size_t i = 0; i < s->u.s.n; i++)
        o[i] = fn(s->u.s.p[i]);
    o[s->u.s.n] = 0;
    return jv_strn(o, s->u.s.n);
}
static jv str_capitalize(jctx *c, const jv *s) {
    jv r = str_map(c, s, lo);
    if (r.u.s.n) ((char *)r.u.s.p)[0] = up(r.u.s.p[0]);
    return r;
}
/* Python str.title(): a letter after a non-letter is upper-cased, others lower-cased. */
static jv str_title_py(jctx *c, const jv *s) {
    jv r = str_map(c, s, lo);
    char *o = (char *)r.u.s.p;
    int prev_cased = 0;
    for (size_t i = 0; i < r.u.s.n; i++) {
        if (is_alpha(o[i])) {
            if (!prev_cased) o[i] = up(o[i]);
            prev_cased = 1;
        } else
            prev_cased = (unsigned char)o[i] >= 0x80 && prev_cased;
    }
    return r;
}
/* jinja2's |title: words start after whitespace or one of -([{< */
static jv str_title_jinja(jctx *c, const jv *s) {
    jv r = str_map(c, s, lo);
    char *o = (char *)r.u.s.p;
    int start = 1;
    for (size_t i = 0; i < r.u.s.n; i++) {
        char ch = o[i];
        if (is_ws(ch) || strchr("-([{<", ch)) {
            start = 1;
            continue;
        }
        if (start) o[i] = up(ch);
        start = 0;
    }
    return r;
}

static int in_chars(uint32_t cp, const jv *chars) {
    if (!chars) return py_space(cp);
    for (size_t i = 0; i < chars->u.s.n;)
        if (u8_next(chars->u.s.p, chars->u.s.n, &i) == cp) return 1;
    return 0;
}
/* strip: which = 1 left, 2 right, 3 both; chars NULL = whitespace */
static jv str_strip(jctx *c, const jv *s, const jv *chars, int which) {
    (void)c;
    const char *p = s->u.s.p;
    size_t b = 0, e = s->u.s.n;
    if (which & 1)
        while (b < e) {
            size_t i = b;
            if (!in_chars(u8_next(p, e, &i), chars)) break;
            b = i;
        }
    if (which & 2)
        while (e > b) {
            size_t st = e - 1;
            while (st > b && ((unsigned char)p[st] & 0xc0) == 0x80)
                st--;
            size_t i = st;
            if (!in_chars(u8_next(p, e, &i), chars)) break;
            e = st;
        }
    return jv_strn(p + b, e - b);
}

static jv str_replace(jctx *c, const jv *s, const jv *old, const jv *new_, int64_t count) {
    sbuf o = {0};
    const char *p = s->u.s.p;
    size_t n = s->u.s.n, i = 0;
    int64_t done = 0;
    if (!old->u.s.n) {
        for (;;) {
            if (count < 0 || done < count) {
                sb_put(c, &o, new_->u.s.p, new_->u.s.n);
                done++;
            }
            if (i >= n) break;
            size_t st = i;
            u8_next(p, n, &i);
            sb_put(c, &o, p + st, i - st);
        }
        return jv_sb(c, &o);
    }
    while (i <= n) {
        const char *h =
            (count < 0 || done < count) ? memmem(p + i, n - i, old->u.s.p, old->u.s.n) : NULL;
        if (!h) {
            sb_put(c, &o, p + i, n - i);
            break;
        }
        sb_put(c, &o, p + i, (size_t)(h - (p + i)));
        sb_put(c, &o, new_->u.s.p, new_->u.s.n);
        i = (size_t)(h - p) + old->u.s.n;
        done++;
    }
    return jv_sb(c, &o);
}

static jv str_split(jctx *c, const jv *s, const jv *sep, int64_t maxsplit, int right) {
    jv r = jv_list_new(c, 0);
    const char *p = s->u.s.p;
    size_t n = s->u.s.n;
    if (sep && sep->k == JV_STR) {
        if (!sep->u.s.n) rfail(c, "empty separator");
        if (!right) {
            size_t i = 0;
            int64_t k = 0;
            for (;;) {
                const char *h = (maxsplit < 0 || k < maxsplit)
                                    ? memmem(p + i, n - i, sep->u.s.p, sep->u.s.n)
                                    : NULL;
                if (!h) {
                    list_push(c, r.u.l, jv_strn(p + i, n - i));
                    break;
                }
                list_push(c, r.u.l, jv_strn(p + i, (size_t)(h - p) - i));
                i = (size_t)(h - p) + sep->u.s.n;
                k++;
            }
        } else {
            size_t e = n;
            int64_t k = 0;
            jv tmp = jv_list_new(c, 0);
            for (;;) {
                const char *h = NULL;
                if ((maxsplit < 0 || k < maxsplit) && e >= sep->u.s.n)
                    for (size_t j = e - sep->u.s.n + 1; j-- > 0;)
                        if (!memcmp(p + j, sep->u.s.p, sep->u.s.n)) {
                            h = p + j;
                            break;
                        }
                if (!h) {
                    list_push(c, tmp.u.l, jv_strn(p, e));
                    break;
                }
                list_push(c, tmp.u.l, jv_strn(h + sep->u.s.n, e - (size_t)(h - p) - sep->u.s.n));
                e = (size_t)(h - p);
                k++;
            }
            for (size_t j = tmp.u.l->n; j-- > 0;)
                list_push(c, r.u.l, tmp.u.l->v[j]);
        }
        return r;
    }
    /* whitespace runs; leading/trailing whitespace yields no empty strings */
    size_t i = 0;
    int64_t k = 0;
    while (i < n) {
        size_t st = i, j = i;
        while (st < n) {
            j = st;
            if (!py_space(u8_next(p, n, &j))) break;
            st = j;
        }
        if (st >= n) break;
        if (maxsplit >= 0 && k >= maxsplit) {
            jv rest = str_strip(c, &(jv){.k = JV_STR, .u.s = {p + st, n - st}}, NULL, 2);
            list_push(c, r.u.l, rest);
            break;
        }
        size_t e = st;
        while (e < n) {
            j = e;
            if (py_space(u8_next(p, n, &j))) break;
            e = j;
        }
        list_push(c, r.u.l, jv_strn(p + st, e - st));
        k++;
        i = e;
    }
    (void)right;
    return r;
}

/* str.splitlines() (keepends=False) */
static jv str_splitlines(jctx *c, const char *p, size_t n) {
    jv r = jv_list_new(c, 0);
    size_t i = 0, st = 0;
    while (i < n) {
        size_t here = i;
        uint32_t cp = u8_next(p, n, &i);
        if (cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' || cp == 0x1c || cp == 0x1d ||
            cp == 0x1e || cp == 0x85 || cp == 0x2028 || cp == 0x2029) {
            list_push(c, r.u.l, jv_strn(p + st, here - st));
            if (cp == '\r' && i < n && p[i] == '\n') i++;
            st = i;
        }
    }
    if (st < n) list_push(c, r.u.l, jv_strn(p + st, n - st));
    return r;
}

static jv need_str(jctx *c, const jv *v, const char *what) {
    if (v->k == JV_STR) return *v;
    rfail(c, "%s: expected a string, got '%s'", what, type_name(v));
}

/* Python's printf-style '%' with %s %r %d %i %f %e %g %x %o %c %% and flags/width/precision. */
static jv py_percent_format(jctx *c, const jv *fmt, const jv *args) {
    sbuf o = {0};
    size_t ai = 0;
    const jv *argv = args;
    size_t argc = 1;
    if (args->k == JV_LIST && args->tuple) {
        argv = args->u.l->v;
        argc = args->u.l->n;
    }
    const char *p = fmt->u.s.p;
    size_t n = fmt->u.s.n;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '%') {
            sb_putc(c, &o, p[i]);
            continue;
        }
        if (++i >= n) rfail(c, "incomplete format");
        char spec[32] = "%";
        size_t sl = 1;
        while (i < n && strchr("-+ #0", p[i]) && sl < 8)
            spec[sl++] = p[i++];
        while (i < n && is_dig(p[i]) && sl < 16)
            spec[sl++] = p[i++];
        if (i < n && p[i] == '.') {
            spec[sl++] = p[i++];
            while (i < n && is_dig(p[i]) && sl < 24)
                spec[sl++] = p[i++];
        }
        if (i >= n) rfail(c, "incomplete format");
        char conv = p[i];
        if (conv == '%') {
            sb_putc(c, &o, '%');
            continue;
        }
        if (ai >= argc) rfail(c, "not enough arguments for format string");
        const jv *a = &argv[ai++];
        char tmp[512];
        if (conv == 's' || conv == 'r') {
            sbuf s = {0};
            if (conv == 's')
                write_str(c, &s, a);
            else
                write_repr(c, &s, a);
            spec[sl++] = 's';
            spec[sl] = 0;
            if (sl == 2) {
                sb_put(c, &o, s.p, s.n);
                continue;
            }
            char *t = aalloc(c, s.n + 256);
            snprintf(t, s.n + 256, spec, s.p ? s.p : "");
            sb_puts(c, &o, t);
        } else if (strchr("diouxXc", conv)) {
            if (!is_num(a))
                rfail(c, "%%%c format: a real number is required, not %s", conv, type_name(a));
            if (conv == 'i' || conv == 'u') conv = 'd';
            if (conv == 'c') {
                sb_put_cp(c, &o, (uint32_t)num_i(a));
                continue;
            }
            spec[sl++] = 'l';
            spec[sl++] = 'l';
            spec[sl++] = conv;
            spec[sl] = 0;
            snprintf(tmp, sizeof tmp, spec, (long long)num_i(a));
            sb_puts(c, &o, tmp);
        } else if (strchr("eEfFgG", conv)) {
            if (!is_num(a)) rfail(c, "must be real number, not %s", type_name(a));
            spec[sl++] = conv;
            spec[sl] = 0;
            snprintf(tmp, sizeof tmp, spec, num_f(a));
            sb_puts(c, &o, tmp);
        } else
            rfail(c, "unsupported format character '%c'", conv);
    }
    if (ai < argc && args->k == JV_LIST && args->tuple)
        rfail(c, "not all arguments converted during string formatting");
    return jv_sb(c, &o);
}

/* str.format() with {} {0} {name} fields (format specs other than empty are not supported). */
static jv str_format(jctx *c, const jv *s, jargs *A) {
    sbuf o = {0};
    size_t auto_i = 0;
    const char *p = s->u.s.p;
    size_t n = s->u.s.n;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '{' && i + 1 < n && p[i + 1] == '{') {
            sb_putc(c, &o, '{');
            i++;
            continue;
        }
        if (p[i] == '}' && i + 1 < n && p[i + 1] == '}') {
            sb_putc(c, &o, '}');
            i++;
            continue;
        }
        if (p[i] != '{') {
            sb_putc(c, &o, p[i]);
            continue;
        }
        size_t e = i + 1;
        while (e < n && p[e] != '}')
            e++;
        if (e >= n) rfail(c, "Single '{' encountered in format string");
        const char *f = p + i + 1;
        size_t fl = e - i - 1;
        jv v;
        if (!fl) {
            if (!arg(A, auto_i++, NULL, &v))
                rfail(c, "Replacement index %zu out of range for positional args tuple",
                      auto_i - 1);
        } else if (is_dig(f[0])) {
            size_t k = (size_t)atoi(f);
            if (!arg(A, k, NULL, &v))
                rfail(c, "Replacement index %zu out of range for positional args tuple", k);
        } else {
            int found = 0;
            for (size_t k = 0; k < A->nkw; k++)
                if (A->kwl[k] == fl && !memcmp(A->kwn[k], f, fl)) {
                    v = A->kwv[k];
                    found = 1;
                }
            if (!found) rfail(c, "'%.*s'", (int)fl, f);
        }
        write_str(c, &o, &v);
        i = e;
    }
    return jv_sb(c, &o);
}

static size_t cp_index(const char *p, size_t byte_off) {
    return u8_len(p, byte_off);
}

static jv call_method(jctx *c, jmethod *m, jargs *A) {
    jv *self = &m->self, a0, a1, a2;
    const char *nm = m->name;
    if (self->k == JV_STR) {
        int has0 = arg(A, 0, NULL, &a0);
        if (!strcmp(nm, "startswith") || !strcmp(nm, "endswith")) {
            if (!has0) rfail(c, "%s() takes at least 1 argument (0 given)", nm);
            int ends = nm[0] == 'e';
            jv *cands = &a0;
            size_t nc = 1;
            if (a0.k == JV_LIST && a0.tuple) {
                cands = a0.u.l->v;
                nc = a0.u.l->n;
            }
            for (size_t i = 0; i < nc; i++) {
                jv t = cands[i];
                if (t.k != JV_STR)
                    rfail(c, "%s first arg must be str or a tuple of str, not %s", nm,
                          type_name(&t));
                if (t.u.s.n <= self->u.s.n &&
                    !memcmp(self->u.s.p + (ends ? self->u.s.n - t.u.s.n : 0), t.u.s.p, t.u.s.n))
                    return jv_bool(1);
            }
            return jv_bool(0);
        }
        if (!strcmp(nm, "strip") || !strcmp(nm, "lstrip") || !strcmp(nm, "rstrip")) {
            int which = nm[0] == 'l' ? 1 : nm[0] == 'r' ? 2 : 3;
            if (has0 && a0.k != JV_NONE) {
                a0 = need_str(c, &a0, nm);
                return str_strip(c, self, &a0, which);
            }
            return str_strip(c, self, NULL, which);
        }
        if (!strcmp(nm, "split") || !strcmp(nm, "rsplit")) {
            jv sep = arg_or(A, 0, "sep", jv_none()), ms = arg_or(A, 1, "maxsplit", jv_int(-1));
            if (sep.k != JV_NONE) need_str(c, &sep, nm);
            return str_split(c, self, sep.k == JV_STR ? &sep : NULL, num_i(&ms), nm[0] == 'r');
        }
        if (!strcmp(nm, "upper")) return str_map(c, self, up);
        if (!strcmp(nm, "lower")) return str_map(c, self, lo);
        if (!strcmp(nm, "title")) return str_title_py(c, self);
        if (!strcmp(nm, "capitalize")) return str_capitalize(c, self);
        if (!strcmp(nm, "swapcase")) {
            jv r = str_map(c, self, lo);
            for (size_t i = 0; i < r.u.s.n; i++)
                ((char *)r.u.s.p)[i] = self->u.s.p[i] >= 'a' && self->u.s.p[i] <= 'z'
                                           ? up(self->u.s.p[i])
                                           : lo(self->u.s.p[i]);
            return r;
        }
        if (!strcmp(nm, "replace")) {
            if (!arg(A, 0, NULL, &a0) || !arg(A, 1, NULL, &a1))
                rfail(c, "replace expected at least 2 arguments");
            need_str(c, &a0, nm);
            need_str(c, &a1, nm);
            jv cnt = arg_or(A, 2, "count", jv_int(-1));
            return str_replace(c, self, &a0, &a1, num_i(&cnt));
        }
        if (!strcmp(nm, "find") || !strcmp(nm, "rfind") || !strcmp(nm, "index") ||
            !strcmp(nm, "count")) {
            if (!has0) rfail(c, "%s() takes at least 1 argument (0 given)", nm);
            need_str(c, &a0, nm);
            const char *p = self->u.s.p;
            size_t n = self->u.s.n;
            if (!strcmp(nm, "count")) {
                if (!a0.u.s.n) return jv_int((int64_t)u8_len(p, n) + 1);
                int64_t k = 0;
                for (const char *h = p; (h = memmem(h, n - (size_t)(h - p), a0.u.s.p, a0.u.s.n));
                     h += a0.u.s.n)
                    k++;
                return jv_int(k);
            }
            const char *h = NULL;
            if (nm[0] == 'r') {
                for (size_t j = n >= a0.u.s.n ? n - a0.u.s.n + 1 : 0; j-- > 0;)
                    if (!memcmp(p + j, a0.u.s.p, a0.u.s.n)) {
                        h = p + j;
                        break;
                    }
            } else
                h = memmem(p, n, a0.u.s.p, a0.u.s.n);
            if (!h && !a0.u.s.n) h = p;
            if (!h) {
                if (nm[0] == 'i') rfail(c, "substring not found");
                return jv_int(-1);
            }
            return jv_int((int64_t)cp_index(p, (size_t)(h - p)));
        }
        if (!strcmp(nm, "join")) {
            if (!has0) rfail(c, "join() takes exactly one argument (0 given)");
            jlist *l = iter_list(c, &a0);
            sbuf o = {0};
            for (size_t i = 0; i < l->n; i++) {
                if (l->v[i].k != JV_STR)
                    rfail(c, "sequence item %zu: expected str instance, %s found", i,
                          type_name(&l->v[i]));
                if (i) sb_put(c, &o, self->u.s.p, self->u.s.n);
                sb_put(c, &o, l->v[i].u.s.p, l->v[i].u.s.n);
            }
            return jv_sb(c, &o);
        }
        if (!strcmp(nm, "format")) return str_format(c, self, A);
        if (!strcmp(nm, "splitlines")) return str_splitlines(c, self->u.s.p, self->u.s.n);
        if (!strncmp(nm, "is", 2)) {
            if (!self->u.s.n) return jv_bool(0);
            int cased = 0;
            for (size_t i = 0; i < self->u.s.n; i++) {
                char ch = self->u.s.p[i];
                int ok;
                if (!strcmp(nm, "isdigit") || !strcmp(nm, "isnumeric") || !strcmp(nm, "isdecimal"))
                    ok = is_dig(ch);
                else if (!strcmp(nm, "isalpha"))
                    ok = is_alpha(ch);
                else if (!strcmp(nm, "isalnum"))
                    ok = is_alpha(ch) || is_dig(ch);
                else if (!strcmp(nm, "isspace"))
                    ok = is_ws(ch) || (ch >= 0x1c && ch <= 0x1f);
                else if (!strcmp(nm, "islower")) {
                    ok = !(ch >= 'A' && ch <= 'Z');
                    cased |= ch >= 'a' && ch <= 'z';
                } else {
                    ok = !(ch >= 'a' && ch <= 'z');
                    cased |= ch >= 'A' && ch <= 'Z';
                }
                if (!ok) return jv_bool(0);
            }
            if (!strcmp(nm, "islower") || !strcmp(nm, "isupper")) return jv_bool(cased);
            return jv_bool(1);
        }
        if (!strcmp(nm, "removeprefix") || !strcmp(nm, "removesuffix")) {
            if (!has0) rfail(c, "%s() takes exactly one argument (0 given)", nm);
            need_str(c, &a0, nm);
            int suf = nm[6] == 's';
            if (a0.u.s.n <= self->u.s.n &&
                !memcmp(self->u.s.p + (suf ? self->u.s.n - a0.u.s.n : 0), a0.u.s.p, a0.u.s.n))
                return jv_strn(self->u.s.p + (suf ? 0 : a0.u.s.n), self->u.s.n - a0.u.s.n);
            return *self;
        }
        if (!strcmp(nm, "partition") || !strcmp(nm, "rpartition")) {
            if (!has0) rfail(c, "%s() takes exactly one argument (0 given)", nm);
            need_str(c, &a0, nm);
            if (!a0.u.s.n) rfail(c, "empty separator");
            jv parts = str_split(c, self, &a0, 1, nm[0] == 'r');
            jv r = jv_list_new(c, 3);
            r.tuple = 1;
            if (parts.u.l->n == 2) {
                list_push(c, r.u.l, parts.u.l->v[0]);
                list_push(c, r.u.l, a0);
                list_push(c, r.u.l, parts.u.l->v[1]);
            } else if (nm[0] == 'r') {
                list_push(c, r.u.l, jv_cstr(""));
                list_push(c, r.u.l, jv_cstr(""));
                list_push(c, r.u.l, *self);
            } else {
                list_push(c, r.u.l, *self);
                list_push(c, r.u.l, jv_cstr(""));
                list_push(c, r.u.l, jv_cstr(""));
            }
            return r;
        }
        if (!strcmp(nm, "zfill") || !strcmp(nm, "center") || !strcmp(nm, "ljust") ||
            !strcmp(nm, "rjust")) {
            if (!has0 || !is_intlike(&a0)) rfail(c, "%s() needs an integer width", nm);
            jv fill = arg_or(A, 1, NULL, jv_cstr(nm[0] == 'z' ? "0" : " "));
            need_str(c, &fill, nm);
            int64_t w = num_i(&a0), len = (int64_t)u8_len(self->u.s.p, self->u.s.n);
            if (w > (int64_t)JINJA_MAX_OUTPUT) rfail(c, "%s(): width too large", nm);
            if (w <= len) return *self;
            int64_t pad = w - len, left = nm[0] == 'l'   ? 0
                                          : nm[0] == 'c' ? pad / 2 + (pad & w & 1)
                                                         : pad;
            sbuf o = {0};
            size_t sign =
                nm[0] == 'z' && self->u.s.n && (self->u.s.p[0] == '-' || self->u.s.p[0] == '+');
            sb_put(c, &o, self->u.s.p, sign);
            for (int64_t i = 0; i < left; i++)
                sb_put(c, &o, fill.u.s.p, fill.u.s.n);
            sb_put(c, &o, self->u.s.p + sign, self->u.s.n - sign);
            for (int64_t i = left; i < pad; i++)
                sb_put(c, &o, fill.u.s.p, fill.u.s.n);
            return jv_sb(c, &o);
        }
    }
    if (self->k == JV_DICT) {
        jdict *d = self->u.d;
        if (!strcmp(nm, "items") || !strcmp(nm, "keys") || !strcmp(nm, "values")) {
            jv r = jv_list_new(c, d->n);
            r.tuple = nm[0] == 'k' ? LK_KEYS : nm[0] == 'v' ? LK_VALUES : LK_ITEMS;
            for (size_t i = 0; i < d->n; i++) {
                if (nm[0] == 'k')
                    list_push(c, r.u.l, d->k[i]);
                else if (nm[0] == 'v')
                    list_push(c, r.u.l, d->v[i]);
                else {
                    jv t = jv_list_new(c, 2);
                    t.tuple = 1;
                    list_push(c, t.u.l, d->k[i]);
                    list_push(c, t.u.l, d->v[i]);
                    list_push(c, r.u.l, t);
                }
            }
            return r;
        }
        if (!strcmp(nm, "get")) {
            if (!arg(A, 0, NULL, &a0)) rfail(c, "get expected at least 1 argument, got 0");
            int i = dict_find(d, &a0);
            return i >= 0 ? d->v[i] : arg_or(A, 1, NULL, jv_none());
        }
        if (!strcmp(nm, "copy")) {
            jv r = jv_dict_new(c, JV_DICT);
            for (size_t i = 0; i < d->n; i++)
                dict_set(c, r.u.d, d->k[i], d->v[i]);
            return r;
        }
    }
    if (self->k == JV_LIST) {
        if (!strcmp(nm, "index") || !strcmp(nm, "count")) {
            if (!arg(A, 0, NULL, &a0)) rfail(c, "%s() takes exactly one argument (0 given)", nm);
            int64_t k = 0;
            for (size_t i = 0; i < self->u.l->n; i++)
                if (jv_eq(&self->u.l->v[i], &a0)) {
                    if (nm[0] == 'i') return jv_int((int64_t)i);
                    k++;
                }
            if (nm[0] == 'i') rfail(c, "list.index(x): x not in list");
            return jv_int(k);
        }
        if (!strcmp(nm, "copy")) {
            jv r = jv_list_new(c, self->u.l->n);
            for (size_t i = 0; i < self->u.l->n; i++)
                list_push(c, r.u.l, self->u.l->v[i]);
            return r;
        }
    }
    if (self->k == JV_LOOP && !strcmp(nm, "cycle")) {
        if (!A->npos) rfail(c, "no items for cycling given");
        return A->pos[self->u.lp->i % A->npos];
    }
    (void)a2;
    rfail(c, "access to attribute '%s' of '%s' object is unsafe.", nm, type_name(self));
}

/* ================================================================================================
 * Globals
 * ============================================================================================== */
static jv call_global(jctx *c, int fn, jargs *A) {
    jv a0, a1, a2;
    switch (fn) {
    case FN_RANGE: {
        int64_t start = 0, stop, stp = 1;
        if (!arg(A, 0, NULL, &a0)) rfail(c, "range expected at least 1 argument, got 0");
        if (arg(A, 1, NULL, &a1)) {
            if (!is_intlike(&a0) || !is_intlike(&a1))
                rfail(c, "'%s' object cannot be interpreted as an integer",
                      type_name(is_intlike(&a0) ? &a1 : &a0));
            start = num_i(&a0);
            stop = num_i(&a1);
            if (arg(A, 2, NULL, &a2)) {
                if (!is_intlike(&a2))
                    rfail(c, "'%s' object cannot be interpreted as an integer", type_name(&a2));
                stp = num_i(&a2);
            }
        } else {
            if (!is_intlike(&a0))
                rfail(c, "'%s' object cannot be interpreted as an integer", type_name(&a0));
            stop = num_i(&a0);
        }
        if (stp == 0) rfail(c, "range() arg 3 must not be zero");
        double cnt = stp > 0 ? ceil(((double)stop - (double)start) / (double)stp)
                             : ceil(((double)start - (double)stop) / (double)-stp);
        if (cnt > 100000)
            rfail(c, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        jv r = jv_list_new(c, 0);
        for (int64_t i = start; stp > 0 ? i < stop : i > stop; i += stp)
            list_push(c, r.u.l, jv_int(i));
        return r;
    }
    case FN_DICT:
    case FN_NAMESPACE: {
        jv r = jv_dict_new(c, fn == FN_DICT ? JV_DICT : JV_NS);
        if (arg(A, 0, NULL, &a0)) {
            if (a0.k == JV_DICT || a0.k == JV_NS)
                for (size_t i = 0; i < a0.u.d->n; i++)
                    dict_set(c, r.u.d, a0.u.d->k[i], a0.u.d->v[i]);
            else {
                jlist *l = iter_list(c, &a0);
                for (size_t i = 0; i < l->n; i++) {
                    jlist *kv = iter_list(c, &l->v[i]);
                    if (kv->n != 2)
                        rfail(
                            c,
                            "dictionary update sequence element #%zu has length %zu; 2 is required",
                            i, kv->n);
                    dict_set(c, r.u.d, kv->v[0], kv->v[1]);
                }
            }
        }
        for (size_t k = 0; k < A->nkw; k++)
            dict_set(c, r.u.d, jv_strn(A->kwn[k], A->kwl[k]), A->kwv[k]);
        return r;
    }
    case FN_RAISE: {
        jv msg = arg_or(A, 0, NULL, jv_cstr(""));
        jv s = to_str(c, &msg);
        c->raised = 1;
        rfail(c, "%.*s", (int)s.u.s.n, s.u.s.p);
    }
    case FN_STRFTIME: {
        if (!arg(A, 0, NULL, &a0) || a0.k != JV_STR)
            rfail(c, "strftime_now() expects a format string");
        char fmt[256], buf[1024];
        if (a0.u.s.n >= sizeof fmt) rfail(c, "strftime_now(): format too long");
        memcpy(fmt, a0.u.s.p, a0.u.s.n);
        fmt[a0.u.s.n] = 0;
        size_t k = strftime(buf, sizeof buf, fmt, &c->now);
        return jv_str_copy(c, buf, k);
    }
    default:
        rfail(c, "caller is not defined here");
    }
}

/* ================================================================================================
 * Filters and tests
 * ============================================================================================== */
static const char *const FILTERS[] = {
    "abs",       "attr",     "batch", "capitalize", "center", "count",      "d",
    "default",   "dictsort", "e",     "escape",     "first",  "float",      "forceescape",
    "format",    "indent",   "int",   "items",      "join",   "last",       "length",
    "list",      "lower",    "map",   "max",        "min",    "reject",     "rejectattr",
    "replace",   "reverse",  "round", "safe",       "select", "selectattr", "sort",
    "string",    "sum",      "title", "tojson",     "trim",   "unique",     "upper",
    "wordcount", NULL};
static const char *const FILTERS_UNSUPPORTED[] = {
    "filesizeformat", "groupby",   "pprint", "random",   "slice",   "striptags",
    "truncate",       "urlencode", "urlize", "wordwrap", "xmlattr", NULL};
static const char *const TESTS[] = {
    "boolean", "callable", "defined",  "divisibleby", "eq",       "equalto",     "escaped",
    "even",    "false",    "filter",   "float",       "ge",       "greaterthan", "gt",
    "in",      "integer",  "iterable", "le",          "lessthan", "lower",       "lt",
    "mapping", "ne",       "none",     "number",      "odd",      "sameas",      "sequence",
    "string",  "test",     "true",     "undefined",   "upper",    NULL};

static int filter_known(const char *p, size_t n, int *supported) {
    *supported = in_names(FILTERS, p, n) != NULL;
    return *supported || in_names(FILTERS_UNSUPPORTED, p, n) != NULL;
}
static int test_known(const char *p, size_t n, int *supported) {
    *supported = in_names(TESTS, p, n) != NULL;
    return *supported;
}

/* "a.b.0" lookups through getitem (jinja2's make_attrgetter) */
static jv attr_path(jctx *c, jv v, const jv *attr) {
    if (attr->k != JV_STR) return getitem_v(c, &v, attr);
    const char *p = attr->u.s.p, *end = p + attr->u.s.n;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot) dot = end;
        size_t len = (size_t)(dot - p);
        int digits = len > 0;
        for (size_t i = 0; i < len; i++)
            digits &= is_dig(p[i]);
        jv key = digits ? jv_int(strtoll(p, NULL, 10)) : jv_strn(p, len);
        v = getitem_v(c, &v, &key);
        p = dot + 1;
    }
    return v;
}

static jv lower_if_str(jctx *c, jv v, int case_sensitive) {
    return (!case_sensitive && v.k == JV_STR) ? str_map(c, &v, lo) : v;
}

typedef struct {
    jv key, val;
} kvpair;

static void merge_sort(jctx *c, kvpair *a, size_t n, int reverse) {
    if (n < 2) return;
    kvpair *tmp = aalloc(c, n * sizeof(kvpair));
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo_ = 0; lo_ < n; lo_ += 2 * w) {
            size_t mid = lo_ + w < n ? lo_ + w : n, hi = lo_ + 2 * w < n ? lo_ + 2 * w : n, i = lo_,
                   j = mid, k = lo_;
            while (i < mid && j < hi) {
                int r = jv_cmp(c, &a[j].key, &a[i].key, "<");
                /* stable: take from the right run only when strictly before */
                if (reverse ? r > 0 : r < 0)
                    tmp[k++] = a[j++];
                else
                    tmp[k++] = a[i++];
            }
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof(kvpair));
    }
}

static jv select_impl(jctx *c, jv v, jargs *A, int by_attr, int reject) {
    /* jinja2 iterates only `if value:`, so none/empty give nothing */
    jv r = jv_list_new(c, 0), attr = jv_none(), tname;
    r.tuple = LK_GEN;
    if (!jv_truthy(&v)) return r;
    jlist *l = iter_list(c, &v);
    size_t off = 0;
    if (by_attr) {
        if (!arg(A, 0, NULL, &attr)) rfail(c, "selectattr/rejectattr need an attribute");
        off = 1;
    }
    int has_test = arg(A, off, NULL, &tname);
    if (has_test && tname.k != JV_STR) rfail(c, "test name must be a string");
    jargs T = *A;
    T.pos = A->pos + (off + 1 <= A->npos ? off + 1 : A->npos);
    T.npos = A->npos > off + 1 ? A->npos - off - 1 : 0;
    for (size_t i = 0; i < l->n; i++) {
        jv x = by_attr ? attr_path(c, l->v[i], &attr) : l->v[i];
        int ok;
        if (has_test) {
            int sup;
            if (!test_known(tname.u.s.p, tname.u.s.n, &sup))
                rfail(c, "No test named '%.*s'.", (int)tname.u.s.n, tname.u.s.p);
            ok = apply_test(c, tname.u.s.p, tname.u.s.n, &x, &T);
        } else
            ok = jv_truthy(&x);
        if (ok != reject) list_push(c, r.u.l, l->v[i]);
    }
    return r;
}

static int64_t to_int_or(jctx *c, const jv *v, int64_t dflt, int base, int *ok) {
    *ok = 1;
    if (is_intlike(v)) return num_i(v);
    if (v->k == JV_FLOAT) {
        if (isnan(v->u.f) || isinf(v->u.f)) {
            *ok = 0;
            return dflt;
        }
        return (int64_t)v->u.f;
    }
    if (v->k == JV_STR) {
        jv s = str_strip(c, v, NULL, 3);
        char buf[128];
        size_t n = 0;
        for (size_t i = 0; i < s.u.s.n && n + 1 < sizeof buf; i++)
            if (s.u.s.p[i] != '_') buf[n++] = s.u.s.p[i];
        buf[n] = 0;
        if (n && n < sizeof buf - 1) {
            char *e;
            errno = 0;
            long long x = strtoll(buf, &e, base);
            if (!*e && !errno) return x;
            double d = strtod(buf, &e);
            if (!*e && !isnan(d) && !isinf(d) && fabs(d) < 9.2e18) return (int64_t)d;
        }
    }
    *ok = 0;
    return dflt;
}

static jv apply_filter(jctx *c, const char *name, size_t nlen, jv v, jargs *A, frame *f) {
    char nm[32];
    jv a0, a1;
    (void)f;
    snprintf(nm, sizeof nm, "%.*s", (int)(nlen < sizeof nm ? nlen : sizeof nm - 1), name);
#define IS(s) (!strcmp(nm, s))
    if (IS("default") || IS("d")) {
        jv dflt = arg_or(A, 0, "default_value", jv_cstr("")),
           boolean = arg_or(A, 1, "boolean", jv_bool(0));
        if (v.k == JV_UNDEF || (jv_truthy(&boolean) && !jv_truthy(&v))) return dflt;
        return v;
    }
    if (IS("length") || IS("count")) {
        switch (v.k) {
        case JV_STR:
            return jv_int((int64_t)u8_len(v.u.s.p, v.u.s.n));
        case JV_LIST:
            if (v.tuple == LK_GEN || v.tuple == LK_REVITER)
                rfail(c, "object of type '%s' has no len()", type_name(&v));
            return jv_int((int64_t)v.u.l->n);
        case JV_DICT:
            return jv_int((int64_t)v.u.d->n);
        case JV_UNDEF:
            return jv_int(0);
        default:
            rfail(c, "object of type '%s' has no len()", type_name(&v));
        }
    }
    if (IS("tojson")) {
        /* transformers' tojson(x, ensure_ascii=False, indent=None, separators=None,
         * sort_keys=False) */
        jv ea = arg_or(A, 0, "ensure_ascii", jv_bool(0)), ind = arg_or(A, 1, "indent", jv_none()),
           sep = arg_or(A, 2, "separators", jv_none()), sk = arg_or(A, 3, "sort_keys", jv_bool(0));
        json_fmt jf = {0};
        jf.ensure_ascii = jv_truthy(&ea);
        jf.sort_keys = jv_truthy(&sk);
        if (ind.k == JV_STR) {
            jf.indent = ind.u.s.p;
            jf.indent_n = ind.u.s.n;
        } else if (is_intlike(&ind)) {
            int64_t k = num_i(&ind);
            if (k > 64) rfail(c, "tojson: indent too large");
            char *sp = aalloc(c, (size_t)(k > 0 ? k : 0) + 1);
            memset(sp, ' ', (size_t)(k > 0 ? k : 0));
            jf.indent = sp;
            jf.indent_n = (size_t)(k > 0 ? k : 0);
        } else if (ind.k != JV_NONE)
            rfail(c, "tojson: indent must be an integer or a string");
        jf.item_sep = jf.indent ? "," : ", ";
        jf.key_sep = ": ";
        if (sep.k == JV_LIST && sep.u.l->n == 2 && sep.u.l->v[0].k == JV_STR &&
            sep.u.l->v[1].k == JV_STR) {
            jf.item_sep = sep.u.l->v[0].u.s.p;
            jf.item_sep_n = sep.u.l->v[0].u.s.n;
            jf.key_sep = sep.u.l->v[1].u.s.p;
            jf.key_sep_n = sep.u.l->v[1].u.s.n;
        } else {
            jf.item_sep_n = strlen(jf.item_sep);
            jf.key_sep_n = strlen(jf.key_sep);
        }
        sbuf o = {0};
        json_write(c, &o, &v, &jf, 0);
        return jv_sb(c, &o);
    }
    if (IS("safe")) {
        jv r = to_str(c, &v);
        r.safe = 1;
        return r;
    }
    if (IS("escape") || IS("e") || IS("forceescape")) {
        if (v.k == JV_STR && v.safe && !IS("forceescape")) return v;
        jv s = to_str(c, &v);
        sbuf o = {0};
        html_escape(c, &o, s.u.s.p, s.u.s.n);
        jv r = jv_sb(c, &o);
        r.safe = 1;
        return r;
    }
    if (IS("string")) {
        jv r = to_str(c, &v);
        return r;
    }
    if (IS("trim")) {
        jv s = to_str(c, &v), ch = arg_or(A, 0, "chars", jv_none());
        if (ch.k != JV_NONE) {
            ch = need_str(c, &ch, "trim");
            return str_strip(c, &s, &ch, 3);
        }
        return str_strip(c, &s, NULL, 3);
    }
    if (IS("upper")) {
        jv s = to_str(c, &v);
        return str_map(c, &s, up);
    }
    if (IS("lower")) {
        jv s = to_str(c, &v);
        return str_map(c, &s, lo);
    }
    if (IS("capitalize")) {
        jv s = to_str(c, &v);
        return str_capitalize(c, &s);
    }
    if (IS("title")) {
        jv s = to_str(c, &v);
        return str_title_jinja(c, &s);
    }
    if (IS("replace")) {
        jv s = to_str(c, &v);
        if (!arg(A, 0, "old", &a0) || !arg(A, 1, "new", &a1)) rfail(c, "replace needs old and new");
        a0 = to_str(c, &a0);
        a1 = to_str(c, &a1);
        jv cnt = arg_or(A, 2, "count", jv_none());
        return str_replace(c, &s, &a0, &a1, cnt.k == JV_NONE ? -1 : num_i(&cnt));
    }
    if (IS("center")) {
        jv s = to_str(c, &v), w = arg_or(A, 0, "width", jv_int(80));
        jmethod m = {s, "center"};
        jargs B = {0};
        B.pos = &w;
        B.npos = 1;
        return call_method(c, &m, &B);
    }
    if (IS("indent")) {
        jv w = arg_or(A, 0, "width", jv_int(4)), first = arg_or(A, 1, "first", jv_bool(0)),
           blank = arg_or(A, 2, "blank", jv_bool(0));
        jv ind;
        if (w.k == JV_STR)
            ind = w;
        else {
            int64_t k = num_i(&w);
            if (k < 0) k = 0;
            if (k > 1024) rfail(c, "indent: width too large");
            jv sp = jv_cstr(" ");
            ind = str_repeat(c, &sp, k);
        }
        sbuf sb = {0};
        jv s0 = to_str(c, &v);
        sb_put(c, &sb, s0.u.s.p, s0.u.s.n);
        sb_putc(c, &sb, '\n');
        jv lines = str_splitlines(c, sb.p, sb.n);
        sbuf o = {0};
        jlist *l = lines.u.l;
        for (size_t i = 0; i < l->n; i++) {
            if (i) sb_putc(c, &o, '\n');
            if ((i > 0 || jv_truthy(&first)) && (jv_truthy(&blank) || l->v[i].u.s.n))
                sb_put(c, &o, ind.u.s.p, ind.u.s.n);
            sb_put(c, &o, l->v[i].u.s.p, l->v[i].u.s.n);
        }
        if (!l->n && jv_truthy(&first)) sb_put(c, &o, ind.u.s.p, ind.u.s.n);
        return jv_sb(c, &o);
    }
    if (IS("join")) {
        jv d = arg_or(A, 0, "d", jv_cstr("")), attr = arg_or(A, 1, "attribute", jv_none());
        jlist *l = iter_list(c, &v);
        jv ds = to_str(c, &d);
        sbuf o = {0};
        for (size_t i = 0; i < l->n; i++) {
            if (i) sb_put(c, &o, ds.u.s.p, ds.u.s.n);
            jv x = attr.k != JV_NONE ? attr_path(c, l->v[i], &attr) : l->v[i];
            write_str(c, &o, &x);
        }
        return jv_sb(c, &o);
    }
    if (IS("first") || IS("last")) {
        jlist *l = iter_list(c, &v);
        if (!l->n)
            return jv_undef_msg(c,
                                IS("first") ? "No first item, sequence was empty."
                                            : "No last item, sequence was empty.",
                                IS("first") ? 34 : 33);
        return IS("first") ? l->v[0] : l->v[l->n - 1];
    }
    if (IS("list")) {
        jlist *l = iter_list(c, &v);
        jv r = jv_list_new(c, l->n);
        for (size_t i = 0; i < l->n; i++)
            list_push(c, r.u.l, l->v[i]);
        return r;
    }
    if (IS("reverse")) {
        if (v.k == JV_STR) {
            jv none = jv_none(), m1 = jv_int(-1);
            return slice_v(c, &v, &none, &none, &m1);
        }
        if (v.k == JV_LIST && !is_seq(&v)) rfail(c, "'%s' object is not reversible", type_name(&v));
        jlist *l = iter_list(c, &v);
        jv r = jv_list_new(c, l->n);
        r.tuple = LK_REVITER;
        for (size_t i = l->n; i-- > 0;)
            list_push(c, r.u.l, l->v[i]);
        return r;
    }
    if (IS("items")) {
        jv r = jv_list_new(c, 0);
        r.tuple = LK_GEN;
        if (v.k == JV_UNDEF) return r;
        if (v.k != JV_DICT) rfail(c, "Can only get item pairs from a mapping.");
        jmethod m = {v, "items"};
        jargs B = {0};
        r = call_method(c, &m, &B);
        r.tuple = LK_GEN;
        return r;
    }
    if (IS("dictsort")) {
        if (v.k != JV_DICT) rfail(c, "You can only sort by either \"key\" or \"value\"");
        jv cs = arg_or(A, 0, "case_sensitive", jv_bool(0)), by = arg_or(A, 1, "by", jv_cstr("key")),
           rev = arg_or(A, 2, "reverse", jv_bool(0));
        int by_val = by.k == JV_STR && by.u.s.n == 5 && !memcmp(by.u.s.p, "value", 5);
        if (!by_val && !(by.k == JV_STR && by.u.s.n == 3 && !memcmp(by.u.s.p, "key", 3)))
            rfail(c, "You can only sort by either \"key\" or \"value\"");
        size_t n = v.u.d->n;
        kvpair *kv = aalloc(c, (n + 1) * sizeof(kvpair));
        for (size_t i = 0; i < n; i++) {
            jv t = jv_list_new(c, 2);
            t.tuple = 1;
            list_push(c, t.u.l, v.u.d->k[i]);
            list_push(c, t.u.l, v.u.d->v[i]);
            kv[i].key = lower_if_str(c, by_val ? v.u.d->v[i] : v.u.d->k[i], jv_truthy(&cs));
            kv[i].val = t;
        }
        merge_sort(c, kv, n, jv_truthy(&rev));
        jv r = jv_list_new(c, n);
        for (size_t i = 0; i < n; i++)
            list_push(c, r.u.l, kv[i].val);
        return r;
    }
    if (IS("sort") || IS("unique") || IS("min") || IS("max")) {
        int is_sort = IS("sort"), is_uniq = IS("unique");
        jv rev = is_sort ? arg_or(A, 0, "reverse", jv_bool(0)) : jv_bool(0);
        jv cs = arg_or(A, is_sort ? 1 : 0, "case_sensitive", jv_bool(0));
        jv attr = arg_or(A, is_sort ? 2 : 1, "attribute", jv_none());
        jlist *l = iter_list(c, &v);
        kvpair *kv = aalloc(c, (l->n + 1) * sizeof(kvpair));
        size_t n = 0;
        for (size_t i = 0; i < l->n; i++) {
            jv key = attr.k != JV_NONE ? attr_path(c, l->v[i], &attr) : l->v[i];
            key = lower_if_str(c, key, jv_truthy(&cs));
            if (is_uniq) {
                int seen = 0;
                for (size_t j = 0; j < n && !seen; j++)
                    seen = jv_eq(&kv[j].key, &key);
                if (seen) continue;
            }
            kv[n].key = key;
            kv[n++].val = l->v[i];
        }
        if (is_uniq) {
            jv r = jv_list_new(c, n);
            r.tuple = LK_GEN;
            for (size_t i = 0; i < n; i++)
                list_push(c, r.u.l, kv[i].val);
            return r;
        }
        if (!is_sort) {
            if (!n)
                return jv_undef_msg(c,
                                    IS("min") ? "No aggregated item, sequence was empty."
                                              : "No aggregated item, sequence was empty.",
                                    39);
            size_t best = 0;
            for (size_t i = 1; i < n; i++) {
                int r = jv_cmp(c, &kv[i].key, &kv[best].key, "<");
                if (IS("min") ? r < 0 : r > 0) best = i;
            }
            return kv[best].val;
        }
        merge_sort(c, kv, n, jv_truthy(&rev));
        jv r = jv_list_new(c, n);
        for (size_t i = 0; i < n; i++)
            list_push(c, r.u.l, kv[i].val);
        return r;
    }
    if (IS("map")) {
        jv r = jv_list_new(c, 0), attr;
        r.tuple = LK_GEN;
        if (!jv_truthy(&v)) return r;
        jlist *l = iter_list(c, &v);
        if (arg(A, SIZE_MAX, "attribute", &attr)) {
            jv dflt;
            int has_d = arg(A, SIZE_MAX, "default", &dflt);
            for (size_t i = 0; i < l->n; i++) {
                jv x = attr_path(c, l->v[i], &attr);
                list_push(c, r.u.l, (x.k == JV_UNDEF && has_d) ? dflt : x);
            }
            return r;
        }
        if (!arg(A, 0, NULL, &a0) || a0.k != JV_STR)
            rfail(c, "map: a filter name or attribute= is required");
        int sup;
        if (!filter_known(a0.u.s.p, a0.u.s.n, &sup) || !sup)
            rfail(c, "No filter named '%.*s'.", (int)a0.u.s.n, a0.u.s.p);
        jargs B = *A;
        B.pos = A->pos + 1;
        B.npos = A->npos - 1;
        for (size_t i = 0; i < l->n; i++)
            list_push(c, r.u.l, apply_filter(c, a0.u.s.p, a0.u.s.n, l->v[i], &B, f));
        return r;
    }
    if (IS("select")) return select_impl(c, v, A, 0, 0);
    if (IS("reject")) return select_impl(c, v, A, 0, 1);
    if (IS("selectattr")) return select_impl(c, v, A, 1, 0);
    if (IS("rejectattr")) return select_impl(c, v, A, 1, 1);
    if (IS("int")) {
        jv d = arg_or(A, 0, "default", jv_int(0)), base = arg_or(A, 1, "base", jv_int(10));
        int ok;
        int64_t r = to_int_or(c, &v, 0, (int)num_i(&base), &ok);
        return ok ? jv_int(r) : d;
    }
    if (IS("float")) {
        jv d = arg_or(A, 0, "default", jv_float(0.0));
        if (is_num(&v)) return jv_float(num_f(&v));
        if (v.k == JV_STR) {
            jv s = str_strip(c, &v, NULL, 3);
            char buf[128];
            if (s.u.s.n && s.u.s.n < sizeof buf) {
                memcpy(buf, s.u.s.p, s.u.s.n);
                buf[s.u.s.n] = 0;
                char *e;
                double x = strtod(buf, &e);
                if (!*e && !(buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X'))) return jv_float(x);
            }
        }
        return d;
    }
    if (IS("abs")) {
        if (v.k == JV_FLOAT) return jv_float(fabs(v.u.f));
        if (is_intlike(&v)) {
            if (num_i(&v) == INT64_MIN) rfail(c, "integer overflow");
            return jv_int(num_i(&v) < 0 ? -num_i(&v) : num_i(&v));
        }
        rfail(c, "bad operand type for abs(): '%s'", type_name(&v));
    }
    if (IS("round")) {
        jv pr = arg_or(A, 0, "precision", jv_int(0)),
           meth = arg_or(A, 1, "method", jv_cstr("common"));
        int64_t p = num_i(&pr);
        if (!is_num(&v)) rfail(c, "type %s doesn't define __round__ method", type_name(&v));
        if (meth.k != JV_STR) rfail(c, "method must be common, ceil or floor");
        double x = num_f(&v);
        if (meth.u.s.n == 6 && !memcmp(meth.u.s.p, "common", 6)) {
            if (is_intlike(&v) && p >= 0) return jv_int(num_i(&v));
            if (p < 0 || p > 300) {
                double m = pow(10.0, (double)p);
                return jv_float(rint(x * m) / m);
            }
            char buf[400];
            snprintf(buf, sizeof buf, "%.*f", (int)p, x);
            return jv_float(strtod(buf, NULL));
        }
        double m = pow(10.0, (double)p);
        if (meth.u.s.n == 4 && !memcmp(meth.u.s.p, "ceil", 4)) return jv_float(ceil(x * m) / m);
        if (meth.u.s.n == 5 && !memcmp(meth.u.s.p, "floor", 5)) return jv_float(floor(x * m) / m);
        rfail(c, "method must be common, ceil or floor");
    }
    if (IS("sum")) {
        jv attr = arg_or(A, 0, "attribute", jv_none()), total = arg_or(A, 1, "start", jv_int(0));
        jlist *l = iter_list(c, &v);
        for (size_t i = 0; i < l->n; i++) {
            jv x = attr.k != JV_NONE ? attr_path(c, l->v[i], &attr) : l->v[i];
            total = binop(c, OP_ADD, &total, &x);
        }
        return total;
    }
    if (IS("wordcount")) {
        jv s = to_str(c, &v);
        int64_t k = 0;
        int in = 0;
        for (size_t i = 0; i < s.u.s.n; i++) {
            unsigned char ch = (unsigned char)s.u.s.p[i];
            int w = is_alpha((char)ch) || is_dig((char)ch) || ch == '_' || ch >= 0x80;
            if (w && !in) k++;
            in = w;
        }
        return jv_int(k);
    }
    if (IS("format")) {
        jv s = to_str(c, &v);
        if (A->nkw) {
            jv d = jv_dict_new(c, JV_DICT);
            for (size_t k = 0; k < A->nkw; k++)
                dict_set(c, d.u.d, jv_strn(A->kwn[k], A->kwl[k]), A->kwv[k]);
            rfail(c, "format: keyword arguments are not supported");
        }
        jv t = jv_list_new(c, A->npos);
        t.tuple = 1;
        for (size_t i = 0; i < A->npos; i++)
            list_push(c, t.u.l, A->pos[i]);
        return py_percent_format(c, &s, &t);
    }
    if (IS("attr")) {
        if (!arg(A, 0, "name", &a0) || a0.k != JV_STR) rfail(c, "attr: a name is required");
        /* Python attributes only: a dict's keys are not attributes */
        if (v.k == JV_DICT && !in_names(DICT_METHODS, a0.u.s.p, a0.u.s.n) &&
            !in_names(DICT_UNSAFE, a0.u.s.p, a0.u.s.n))
            return undef_member(c, &v, &a0);
        return getattr_v(c, &v, a0.u.s.p, a0.u.s.n);
    }
    if (IS("batch")) {
        jv cnt = arg_or(A, 0, "linecount", jv_int(1)), fill = arg_or(A, 1, "fill_with", jv_none());
        int has_fill = arg(A, 1, "fill_with", &fill);
        int64_t k = num_i(&cnt);
        if (k <= 0) rfail(c, "batch: linecount must be positive");
        jlist *l = iter_list(c, &v);
        jv r = jv_list_new(c, 0), cur = jv_list_new(c, 0);
        r.tuple = LK_GEN;
        for (size_t i = 0; i < l->n; i++) {
            list_push(c, cur.u.l, l->v[i]);
            if ((int64_t)cur.u.l->n == k) {
                list_push(c, r.u.l, cur);
                cur = jv_list_new(c, 0);
            }
        }
        if (cur.u.l->n) {
            if (has_fill)
                while ((int64_t)cur.u.l->n < k)
                    list_push(c, cur.u.l, fill);
            list_push(c, r.u.l, cur);
        }
        return r;
    }
#undef IS
    rfail(c, "filter '%s' is not supported", nm);
}

static int apply_test(jctx *c, const char *name, size_t nlen, const jv *v, jargs *A) {
    char nm[32];
    jv a0;
    snprintf(nm, sizeof nm, "%.*s", (int)(nlen < sizeof nm ? nlen : sizeof nm - 1), name);
    int has0 = arg(A, 0, NULL, &a0);
#define IS(s) (!strcmp(nm, s))
    if (IS("defined")) return v->k != JV_UNDEF;
    if (IS("undefined")) return v->k == JV_UNDEF;
    if (IS("none")) return v->k == JV_NONE;
    if (IS("boolean")) return v->k == JV_BOOL;
    if (IS("true")) return v->k == JV_BOOL && v->u.b;
    if (IS("false")) return v->k == JV_BOOL && !v->u.b;
    if (IS("integer")) return v->k == JV_INT;
    if (IS("float")) return v->k == JV_FLOAT;
    if (IS("number")) return is_num(v);
    if (IS("string")) return v->k == JV_STR;
    if (IS("mapping")) return v->k == JV_DICT;
    if (IS("iterable"))
        return v->k == JV_STR || v->k == JV_LIST || v->k == JV_DICT || v->k == JV_UNDEF;
    if (IS("sequence"))
        return v->k == JV_STR || (v->k == JV_LIST && is_seq(v)) || v->k == JV_DICT ||
               v->k == JV_UNDEF;
    if (IS("callable")) return v->k == JV_MACRO || v->k == JV_FUNC || v->k == JV_METHOD;
    if (IS("escaped")) return v->k == JV_STR && v->safe;
    if (IS("lower") || IS("upper")) {
        if (v->k != JV_STR) return 0;
        jmethod m = {*v, IS("lower") ? "islower" : "isupper"};
        jargs B = {0};
        jv r = call_method(c, &m, &B);
        return r.u.b;
    }
    if (IS("filter") || IS("test")) {
        int sup;
        if (v->k != JV_STR) return 0;
        return IS("filter") ? filter_known(v->u.s.p, v->u.s.n, &sup) && sup
                            : test_known(v->u.s.p, v->u.s.n, &sup);
    }
    if (IS("odd") || IS("even")) {
        jv two = jv_int(2), r = binop(c, OP_MOD, v, &two);
        return IS("odd") ? jv_truthy(&r) : !jv_truthy(&r);
    }
    if (!has0) rfail(c, "test '%s' needs an argument", nm);
    if (IS("eq") || IS("equalto")) return jv_eq(v, &a0);
    if (IS("ne")) return !jv_eq(v, &a0);
    if (IS("lt") || IS("lessthan")) return jv_cmp(c, v, &a0, "<") < 0;
    if (IS("le")) return jv_cmp(c, v, &a0, "<=") <= 0;
    if (IS("gt") || IS("greaterthan")) return jv_cmp(c, v, &a0, ">") > 0;
    if (IS("ge")) return jv_cmp(c, v, &a0, ">=") >= 0;
    if (IS("in")) return contains(c, &a0, v);
    if (IS("sameas")) {
        if (v->k != a0.k) return 0;
        if (v->k == JV_LIST) return v->u.l == a0.u.l;
        if (v->k == JV_DICT || v->k == JV_NS) return v->u.d == a0.u.d;
        return jv_eq(v, &a0);
    }
    if (IS("divisibleby")) {
        jv r = binop(c, OP_MOD, v, &a0);
        return !jv_truthy(&r);
    }
#undef IS
    rfail(c, "test '%s' is not supported", nm);
}

/* ================================================================================================
 * Entry points
 * ============================================================================================== */
/* "YYYY-MM-DD[THH:MM[:SS]]" (or a space instead of T) */
static int parse_now(const char *s, struct tm *tm) {
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (sscanf(s, "%d-%d-%d", &y, &mo, &d) != 3) return 0;
    const char *t = strpbrk(s, "T ");
    if (t && sscanf(t + 1, "%d:%d:%d", &h, &mi, &se) < 2) return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 ||
        se > 60)
        return 0;
    struct tm x = {0};
    x.tm_year = y - 1900;
    x.tm_mon = mo - 1;
    x.tm_mday = d;
    x.tm_hour = h;
    x.tm_min = mi;
    x.tm_sec = se;
    time_t tt = timegm(&x); /* normalises and fills weekday / day of year */
    gmtime_r(&tt, tm);
    return 1;
}

static void free_chunks(jctx *c) {
    for (achunk *h = c->chunks, *nx; h; h = nx) {
        nx = h->next;
        free(h);
    }
    c->chunks = NULL;
}

lmc_status jinja_render(const char *tmpl, const cJSON *context, jinja_opts *opts, char **out) {
    *out = NULL;
    if (opts) {
        opts->err_msg[0] = 0;
        opts->err_line = opts->err_col = 0;
        opts->raised = 0;
    }
    if (!tmpl) return lmc_err(LMC_ERR_INVALID_ARG, "jinja_render: no template");
    if (context && !cJSON_IsObject(context))
        return lmc_err(LMC_ERR_INVALID_ARG, "jinja_render: context must be a JSON object");
    jctx *c = calloc(1, sizeof *c);
    if (!c) return lmc_err(LMC_ERR_OOM, "jinja_render: out of memory");
    if (setjmp(c->jb)) {
        lmc_status st = c->st == LMC_OK ? LMC_ERR_TEMPLATE : c->st;
        if (c->raised)
            lmc_err(st, "%s", c->err);
        else if (c->err_line)
            lmc_err(st, "template line %d, column %d: %s", c->err_line, c->err_col, c->err);
        else
            lmc_err(st, "template: %s", c->err);
        if (opts) {
            snprintf(opts->err_msg, sizeof opts->err_msg, "%s", c->err);
            opts->err_line = c->err_line;
            opts->err_col = c->err_col;
            opts->raised = c->raised;
        }
        free_chunks(c);
        free(c);
        return st;
    }
    /* jinja2 turns \r\n and \r into \n and drops one trailing newline (keep_trailing_newline=False)
     */
    size_t n = strlen(tmpl), m = 0;
    if (n > JINJA_MAX_OUTPUT) rfail(c, "template larger than %u MiB", JINJA_MAX_OUTPUT >> 20);
    char *src = aalloc(c, n + 1);
    for (size_t i = 0; i < n; i++) {
        if (tmpl[i] == '\r') {
            src[m++] = '\n';
            if (i + 1 < n && tmpl[i + 1] == '\n') i++;
        } else
            src[m++] = tmpl[i];
    }
    if (m && src[m - 1] == '\n') m--;
    src[m] = 0;
    c->src = src;
    c->srclen = m;
    lex(c);
    node *root = parse_body(c, NULL);
    if (pk(c)->t != T_EOF) perr_unexpected(c, pk(c), NULL);

    const char *now = opts && opts->now ? opts->now : getenv("LMC_TEMPLATE_NOW");
    if (now && *now) {
        if (!parse_now(now, &c->now))
            rfail(c, "bad date for strftime_now: '%s' (want YYYY-MM-DD[THH:MM:SS])", now);
    } else {
        time_t t = time(NULL);
        localtime_r(&t, &c->now);
    }
    frame *globals = frame_new(c, NULL);
    static const struct {
        const char *name;
        int fn;
    } G[] = {{"range", FN_RANGE},
             {"dict", FN_DICT},
             {"namespace", FN_NAMESPACE},
             {"raise_exception", FN_RAISE},
             {"strftime_now", FN_STRFTIME}};
    for (size_t i = 0; i < sizeof G / sizeof G[0]; i++) {
        jv fv = {.k = JV_FUNC};
        fv.u.fn = G[i].fn;
        frame_set(c, globals, G[i].name, strlen(G[i].name), fv);
    }
    frame *top = frame_new(c, globals);
    if (context)
        for (const cJSON *e = context->child; e; e = e->next) {
            size_t kl = strlen(e->string);
            frame_set(c, top, astrdup(c, e->string, kl), kl, from_json(c, e));
        }
    sbuf o = {0};
    c->out = &o;
    exec_body(c, root->kids, root->nk, top);
    char *res = malloc(o.n + 1);
    if (!res) {
        c->st = LMC_ERR_OOM;
        rfail(c, "out of memory");
    }
    if (o.n) memcpy(res, o.p, o.n);
    res[o.n] = 0;
    free_chunks(c);
    free(c);
    *out = res;
    return LMC_OK;
}

lmc_status chat_render_json(const char *tmpl, const cJSON *messages, bool add_generation_prompt,
                            const char *bos_token, const char *eos_token, const cJSON *extra,
                            jinja_opts *opts, char **out) {
    *out = NULL;
    if (messages && !cJSON_IsArray(messages))
        return lmc_err(LMC_ERR_INVALID_ARG, "chat: messages must be a JSON array");
    cJSON *ctx = cJSON_CreateObject();
    if (!ctx) return lmc_err(LMC_ERR_OOM, "chat: out of memory");
    lmc_status st = LMC_ERR_OOM;
    if (extra && cJSON_IsObject(extra))
        for (const cJSON *e = extra->child; e; e = e->next) {
            cJSON *dup = cJSON_Duplicate(e, 1);
            if (!dup || !cJSON_AddItemToObject(ctx, e->string, dup)) {
                cJSON_Delete(dup);
                goto done;
            }
        }
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, "messages");
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, "add_generation_prompt");
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, "bos_token");
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, "eos_token");
    cJSON *msgs = messages ? cJSON_Duplicate(messages, 1) : cJSON_CreateArray();
    if (!msgs || !cJSON_AddItemToObject(ctx, "messages", msgs)) {
        cJSON_Delete(msgs);
        goto done;
    }
    if (!cJSON_AddBoolToObject(ctx, "add_generation_prompt", add_generation_prompt) ||
        !cJSON_AddStringToObject(ctx, "bos_token", bos_token ? bos_token : "") ||
        !cJSON_AddStringToObject(ctx, "eos_token", eos_token ? eos_token : ""))
        goto done;
    st = jinja_render(tmpl, ctx, opts, out);
    cJSON_Delete(ctx);
    return st;
done:
    cJSON_Delete(ctx);
    return lmc_err(st, "chat: out of memory");
}
