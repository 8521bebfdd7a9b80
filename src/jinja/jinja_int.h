/* jinja_int.h — the internals the files of src/jinja/ share: the render context (arena, error
 * exit), values, tokens, AST nodes, frames and call arguments, and the functions each file offers
 * the others. Private to src/jinja/: the rest of the library includes only jinja.h. */
#ifndef LMC_JINJA_INT_H
#define LMC_JINJA_INT_H

#include "jinja.h"
#include "util.h"

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* ================================================================================================
 * Arena, context, errors (arena.c)
 *
 * Every allocation of one render comes from one arena freed at the end; errors longjmp back to
 * jinja_render, which is why the code checks nothing after allocating.
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
    int depth;    /* macro calls in progress */
    int edepth;   /* evaluator recursion (expressions, statements, value walks) */
    size_t steps; /* the step budget spent (JINJA_MAX_STEPS) */
    uint64_t started_ns, deadline_ns; /* CLOCK_MONOTONIC: when the render began, must end */
    struct tm now;
    jv *hole; /* the value a {% filter %} / {% set x | f %} chain is applied to */
} jctx;

#if defined(__GNUC__)
#define JNORET __attribute__((noreturn))
#else
#define JNORET
#endif

/* Records the error (LMC_ERR_TEMPLATE unless c->st says otherwise) and longjmps to jinja_render. */
JNORET LMC_PRINTF(4, 5) void jfail_at(jctx *c, int line, int col, const char *fmt, ...);
#define rfail(c, ...) jfail_at((c), (c)->line, (c)->col, __VA_ARGS__)

/* Budgets: jstep spends n steps (and looks at the clock now and then); jenter/jleave bracket
 * one level of evaluator recursion (failing past JINJA_MAX_EVAL_DEPTH, before the C stack runs
 * out). */
void jbudget_start(jctx *c, int max_ms);
void jstep(jctx *c, size_t n);
void jenter(jctx *c);
static inline void jleave(jctx *c) {
    c->edepth--;
}

void *arena_alloc(jctx *c, size_t n);
void *arena_calloc(jctx *c, size_t n);
char *arena_strdup(jctx *c, const char *p, size_t n);
/* Grows an arena array (old storage is simply abandoned). */
void *arena_grow(jctx *c, void *old, size_t elem, size_t n, size_t *cap);
void arena_free(jctx *c);

void sb_put(jctx *c, sbuf *b, const char *p, size_t n);
LMC_PRINTF(3, 4) void sb_printf(jctx *c, sbuf *b, const char *fmt, ...);
static inline void sb_putc(jctx *c, sbuf *b, char ch) {
    sb_put(c, b, &ch, 1);
}
static inline void sb_puts(jctx *c, sbuf *b, const char *s) {
    sb_put(c, b, s, strlen(s));
}

/* ================================================================================================
 * Values (values.c): Python semantics over arena memory (no reference counts: nothing is freed
 * before the render ends)
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
        int fn; /* JV_FUNC: which global function (render.c) */
    } u;
};

/* What a JV_LIST stands for in Python: jinja2's map/select/... return generators and dict.items() a
 * view; they print, test and serialise differently from lists (e.g. tojson fails on them). */
enum { LK_LIST, LK_TUPLE, LK_GEN, LK_REVITER, LK_ITEMS, LK_KEYS, LK_VALUES };
static inline int is_seq(const jv *v) {
    return v->tuple <= LK_TUPLE;
}

static inline jv jv_none(void) {
    jv v = {.k = JV_NONE};
    return v;
}
static inline jv jv_bool(int b) {
    jv v = {.k = JV_BOOL};
    v.u.b = !!b;
    return v;
}
static inline jv jv_int(int64_t i) {
    jv v = {.k = JV_INT};
    v.u.i = i;
    return v;
}
static inline jv jv_float(double f) {
    jv v = {.k = JV_FLOAT};
    v.u.f = f;
    return v;
}
static inline jv jv_strn(const char *p, size_t n) {
    jv v = {.k = JV_STR};
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}
static inline jv jv_cstr(const char *p) {
    return jv_strn(p, strlen(p));
}
jv jv_str_copy(jctx *c, const char *p, size_t n);
jv jv_sb(jctx *c, sbuf *b);
jv jv_undef_msg(jctx *c, const char *msg, size_t n);
jv jv_list_new(jctx *c, size_t cap);
void jlist_push(jctx *c, jlist *l, jv x);
jv jv_dict_new(jctx *c, int kind);

static inline int is_num(const jv *v) {
    return v->k == JV_INT || v->k == JV_FLOAT || v->k == JV_BOOL;
}
static inline double num_f(const jv *v) {
    return v->k == JV_FLOAT ? v->u.f : v->k == JV_INT ? (double)v->u.i : (double)v->u.b;
}
/* A float outside int64 saturates (NaN is 0): never undefined behaviour. Where Python would make
 * a big int (the int filter) the caller checks float_fits_i64 and fails instead. */
static inline int float_fits_i64(double f) {
    return f >= -9223372036854775808.0 && f < 9223372036854775808.0; /* false for NaN */
}
static inline int64_t num_i(const jv *v) {
    if (v->k != JV_FLOAT) return v->k == JV_INT ? v->u.i : v->u.b;
    if (float_fits_i64(v->u.f)) return (int64_t)v->u.f;
    return v->u.f != v->u.f ? 0 : v->u.f > 0 ? INT64_MAX : INT64_MIN;
}
static inline int is_intlike(const jv *v) {
    return v->k == JV_INT || v->k == JV_BOOL;
}

int jdict_find(jctx *c, const jdict *d, const jv *key);
int jdict_find_str(const jdict *d, const char *p, size_t n);
void jdict_set(jctx *c, jdict *d, jv key, jv val);

/* The escape for code point cp when it is one of the ASCII characters `from` (to[k] for from[k]),
 * else NULL. */
static inline const char *escape_of(uint32_t cp, const char *from, const char *const *to) {
    const char *e = cp && cp < 0x80 ? strchr(from, (int)cp) : NULL;
    return e ? to[e - from] : NULL;
}

/* UTF-8: u8_next decodes one code point at p[*i] (invalid bytes count as one code point each, like
 * Latin-1); u8_offsets gives the byte offset of each code point (n_cp + 1 entries). */
uint32_t u8_next(const char *p, size_t n, size_t *i);
size_t u8_len(const char *p, size_t n);
void sb_put_cp(jctx *c, sbuf *b, uint32_t cp);
size_t *u8_offsets(jctx *c, const char *p, size_t n, size_t *ncp);
int u8_isspace(uint32_t cp); /* Python's str.isspace() */

/* str(), repr() and the names Python gives types */
void sb_put_str_repr(jctx *c, sbuf *b, const char *p, size_t n);
void jv_write_str(jctx *c, sbuf *b, const jv *v);
void jv_write_repr(jctx *c, sbuf *b, const jv *v);
jv jv_to_str(jctx *c, const jv *v);
const char *jv_type_name(const jv *v);

/* jinja2's Undefined: the message it carries, and the error when it is used */
jv jv_undef_name(jctx *c, const char *name, size_t n);
jv jv_undef_member(jctx *c, const jv *obj, const jv *key);
JNORET void jv_fail_undef(jctx *c, const jv *u);

int jv_truthy(const jv *v);
int jv_eq(jctx *c, const jv *a, const jv *b);
/* Python ordering; fails with Python's TypeError text for unorderable types. */
int jv_cmp(jctx *c, const jv *a, const jv *b, const char *op);

/* JSON in (the render context) and out (|tojson, Python's json.dumps) */
jv jv_from_json(jctx *c, const cJSON *j);
typedef struct {
    const char *indent; /* NULL: none */
    size_t indent_n;
    const char *item_sep, *key_sep;
    size_t item_sep_n, key_sep_n;
    int sort_keys, ensure_ascii;
} json_fmt;
void jv_write_json(jctx *c, sbuf *b, const jv *v, const json_fmt *f, int level);

/* ================================================================================================
 * Strings (strings.c): Python's str algorithms; case mapping is ASCII-only
 * ============================================================================================== */
static inline int is_ws(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}
static inline int is_id0(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static inline int is_dig(char ch) {
    return ch >= '0' && ch <= '9';
}
static inline int is_alpha(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}
static inline char up(char ch) {
    return ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch;
}
static inline char lo(char ch) {
    return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
}

typedef struct jargs jargs;
jv str_map(jctx *c, const jv *s, char (*fn)(char));
jv str_capitalize(jctx *c, const jv *s);
jv str_title_py(jctx *c, const jv *s);
jv str_title_jinja(jctx *c, const jv *s);
/* strip: which = 1 left, 2 right, 3 both; chars NULL = whitespace */
jv str_strip(jctx *c, const jv *s, const jv *chars, int which);
jv str_replace(jctx *c, const jv *s, const jv *old, const jv *new_, int64_t count);
jv str_split(jctx *c, const jv *s, const jv *sep, int64_t maxsplit, int right);
jv str_splitlines(jctx *c, const char *p, size_t n);
jv str_repeat(jctx *c, const jv *s, int64_t k);
jv jv_need_str(jctx *c, const jv *v, const char *what);
void sb_put_html(jctx *c, sbuf *b, const char *p, size_t n);
jv str_percent_format(jctx *c, const jv *fmt, const jv *args);
jv str_format(jctx *c, const jv *s, jargs *A);

/* ================================================================================================
 * Lexer (lexer.c): the template's source to tokens in c->toks
 * ============================================================================================== */
enum { T_EOF, T_TEXT, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_STR, T_INT, T_FLOAT, T_OP };

struct tok {
    uint8_t t;
    int line, col;
    const char *p; /* source text (T_TEXT: the text after whitespace control) */
    size_t n;
    jv v; /* T_STR, T_INT, T_FLOAT */
};

void lex_template(jctx *c);

/* ================================================================================================
 * Parser (parser.c): tokens to an AST (jinja2's grammar and operator precedence)
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

/* The whole template as an S_BODY; fails on anything left over. */
node *parse_template(jctx *c);

/* ================================================================================================
 * Evaluator (eval.c): frames of variables, call arguments, Python operators, statements
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

frame *frame_new(jctx *c, frame *parent);
void frame_set(jctx *c, frame *f, const char *p, size_t n, jv v);

struct jargs {
    jv *pos;
    size_t npos;
    jv *kwv;
    const char **kwn;
    size_t *kwl;
    size_t nkw;
};

/* Positional argument i or keyword `kw`; 0 when absent. */
int jargs_get(const jargs *A, size_t i, const char *kw, jv *out);
jv jargs_or(const jargs *A, size_t i, const char *kw, jv dflt);

/* obj.name (attribute first, then item), obj[key] (item first, then attribute), obj[a:b:s] */
jv jv_getattr(jctx *c, const jv *obj, const char *name, size_t n);
jv jv_getitem(jctx *c, const jv *obj, const jv *key);
jv jv_slice(jctx *c, const jv *obj, const jv *a, const jv *b, const jv *s);
/* The items a for loop / filter iterates over. */
jlist *jv_iter(jctx *c, const jv *v);
jv jv_binop(jctx *c, int op, const jv *a, const jv *b);
int jv_contains(jctx *c, const jv *hay, const jv *needle);

enum { FLOW_NEXT, FLOW_BREAK, FLOW_CONTINUE };
int exec_body(jctx *c, node **kids, size_t nk, frame *f);

/* ================================================================================================
 * Methods (methods.c): str / dict / list methods and loop.cycle, looked up by name per type
 * ============================================================================================== */
typedef jv (*jmethod_fn)(jctx *c, const jv *self, const char *name, jargs *A);
typedef struct {
    const char *name;
    jmethod_fn fn; /* NULL: a Python method the sandbox refuses to call */
} jmethod_def;
struct jmethod {
    jv self;
    const jmethod_def *def;
};

/* The method `name` of values of self's type, or NULL. */
const jmethod_def *method_find(const jv *self, const char *name, size_t n);
/* self.name as a bound method value */
jv method_bind(jctx *c, const jv *self, const jmethod_def *def);
jv method_invoke(jctx *c, jmethod *m, jargs *A);
/* Calls self.name(*A) for a name method_find knows. */
jv method_call(jctx *c, const jv *self, const char *name, jargs *A);

/* ================================================================================================
 * Filters and tests (filters.c)
 * ============================================================================================== */
/* Whether jinja2 knows the filter / test, and (*supported) whether this interpreter has it. */
int filter_known(const char *p, size_t n, int *supported);
int test_known(const char *p, size_t n, int *supported);
jv filter_apply(jctx *c, const char *name, size_t nlen, jv v, jargs *A);
int test_apply(jctx *c, const char *name, size_t nlen, const jv *v, jargs *A);

/* ================================================================================================
 * Globals (render.c): range, dict, namespace, raise_exception, strftime_now
 * ============================================================================================== */
/* Calls the global function a JV_FUNC value stands for. */
jv global_call(jctx *c, int fn, jargs *A);

#endif
