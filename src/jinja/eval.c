/* eval.c — the tree-walking evaluator: frames of variables, call arguments, attribute / item /
 * slice access, Python's operators, expressions, macro calls and the statements. Filters, tests,
 * methods and the global functions live in their own files; it never parses. */
#include "jinja_int.h"

#include <math.h>

frame *frame_new(jctx *c, frame *parent) {
    frame *f = arena_calloc(c, sizeof(frame));
    f->parent = parent;
    return f;
}
void frame_set(jctx *c, frame *f, const char *p, size_t n, jv v) {
    for (size_t i = 0; i < f->n; i++)
        if (f->vars[i].n == n && !memcmp(f->vars[i].p, p, n)) {
            f->vars[i].v = v;
            return;
        }
    f->vars = arena_grow(c, f->vars, sizeof(struct fvar), f->n, &f->cap);
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

int jargs_get(const jargs *A, size_t i, const char *kw, jv *out) {
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
jv jargs_or(const jargs *A, size_t i, const char *kw, jv dflt) {
    jv v;
    return jargs_get(A, i, kw, &v) ? v : dflt;
}

static jv eval(jctx *c, node *n, frame *f);
static jv call_value(jctx *c, jv fn, jargs *A, jv caller);

/* loop.index, loop.first, ... and loop.cycle */
static jv loop_attr(jctx *c, const jv *obj, const char *name, size_t n) {
    jloop *l = obj->u.lp;
    jv key = jv_strn(name, n);
    char nm[16];
    if (n >= sizeof nm) return jv_undef_member(c, obj, &key);
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
        return l->i > 0 ? l->items->v[l->i - 1] : jv_undef_msg(c, "there is no previous item", 25);
    if (!strcmp(nm, "nextitem"))
        return l->i + 1 < l->n ? l->items->v[l->i + 1]
                               : jv_undef_msg(c, "there is no next item", 21);
    if (!strcmp(nm, "cycle")) return method_bind(c, obj, method_find(obj, "cycle", 5));
    return jv_undef_member(c, obj, &key);
}

/* obj.name: Python attribute first (methods), then item — jinja2's Environment.getattr. */
jv jv_getattr(jctx *c, const jv *obj, const char *name, size_t n) {
    const jmethod_def *m;
    jv key = jv_strn(name, n);
    switch (obj->k) {
    case JV_UNDEF:
        jv_fail_undef(c, obj);
    case JV_LOOP:
        return loop_attr(c, obj, name, n);
    case JV_STR:
    case JV_LIST:
    case JV_DICT: /* a dict's keys are its other attributes */
        if ((m = method_find(obj, name, n))) return method_bind(c, obj, m);
        if (obj->k != JV_DICT) break;
        /* fall through */
    case JV_NS: {
        int i = jdict_find_str(obj->u.d, name, n);
        if (i >= 0) return obj->u.d->v[i];
        break;
    }
    default:
        break;
    }
    return jv_undef_member(c, obj, &key);
}

static int64_t norm_index(int64_t i, int64_t len) {
    return i < 0 ? i + len : i;
}

/* obj[key]: item first, then attribute — jinja2's Environment.getitem. */
jv jv_getitem(jctx *c, const jv *obj, const jv *key) {
    switch (obj->k) {
    case JV_UNDEF:
        jv_fail_undef(c, obj);
    case JV_DICT: {
        int i = jdict_find(c, obj->u.d, key);
        if (i >= 0) return obj->u.d->v[i];
        break;
    }
    case JV_LIST:
        if (is_intlike(key) && is_seq(obj)) {
            int64_t i = norm_index(num_i(key), (int64_t)obj->u.l->n);
            if (i >= 0 && i < (int64_t)obj->u.l->n) return obj->u.l->v[i];
            return jv_undef_member(c, obj, key);
        }
        break;
    case JV_STR:
        if (is_intlike(key)) {
            size_t ncp, *off = u8_offsets(c, obj->u.s.p, obj->u.s.n, &ncp);
            int64_t i = norm_index(num_i(key), (int64_t)ncp);
            if (i >= 0 && i < (int64_t)ncp)
                return jv_strn(obj->u.s.p + off[i], off[i + 1] - off[i]);
            return jv_undef_member(c, obj, key);
        }
        break;
    default:
        break;
    }
    if (key->k == JV_STR) return jv_getattr(c, obj, key->u.s.p, key->u.s.n);
    return jv_undef_member(c, obj, key);
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

jv jv_slice(jctx *c, const jv *obj, const jv *a, const jv *b, const jv *s) {
    int64_t start, stop, step;
    if (obj->k == JV_LIST && is_seq(obj)) {
        slice_idx(c, (int64_t)obj->u.l->n, a, b, s, &start, &stop, &step);
        jv r = jv_list_new(c, 0);
        r.tuple = obj->tuple;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
            jlist_push(c, r.u.l, obj->u.l->v[i]);
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
    if (obj->k == JV_UNDEF) jv_fail_undef(c, obj);
    return jv_undef_msg(c, "slice of a value that cannot be sliced", 38);
}

jlist *jv_iter(jctx *c, const jv *v) {
    switch (v->k) {
    case JV_LIST:
        return v->u.l;
    case JV_UNDEF:
        return arena_calloc(c, sizeof(jlist));
    case JV_DICT: {
        jlist *l = arena_calloc(c, sizeof(jlist));
        for (size_t i = 0; i < v->u.d->n; i++)
            jlist_push(c, l, v->u.d->k[i]);
        return l;
    }
    case JV_STR: {
        jlist *l = arena_calloc(c, sizeof(jlist));
        for (size_t i = 0; i < v->u.s.n;) {
            size_t st = i;
            u8_next(v->u.s.p, v->u.s.n, &i);
            jlist_push(c, l, jv_strn(v->u.s.p + st, i - st));
        }
        return l;
    }
    default:
        rfail(c, "'%s' object is not iterable", jv_type_name(v));
    }
}

/* Arithmetic on two numbers (bools count as ints), with Python's results and errors. */
static jv num_binop(jctx *c, int op, const jv *a, const jv *b) {
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
    default: /* OP_POW */
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

jv jv_binop(jctx *c, int op, const jv *a, const jv *b) {
    static const char *const sym[] = {"+", "-", "*", "/", "//", "%", "**"};
    if (a->k == JV_UNDEF) jv_fail_undef(c, a);
    if (b->k == JV_UNDEF) jv_fail_undef(c, b);
    if (is_num(a) && is_num(b)) return num_binop(c, op, a, b);
    if (op == OP_ADD && a->k == JV_STR && b->k == JV_STR) {
        sbuf o = {0};
        if (a->safe && !b->safe) {
            sb_put(c, &o, a->u.s.p, a->u.s.n);
            sb_put_html(c, &o, b->u.s.p, b->u.s.n);
        } else if (b->safe && !a->safe) {
            sb_put_html(c, &o, a->u.s.p, a->u.s.n);
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
            jlist_push(c, r.u.l, a->u.l->v[i]);
        for (size_t i = 0; i < b->u.l->n; i++)
            jlist_push(c, r.u.l, b->u.l->v[i]);
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
                jlist_push(c, r.u.l, l->u.l->v[j]);
        return r;
    }
    if (op == OP_MOD && a->k == JV_STR) return str_percent_format(c, a, b);
    if (op == OP_ADD && (a->k == JV_STR || a->k == JV_LIST) && a->k != b->k)
        rfail(c, "can only concatenate %s (not \"%s\") to %s", jv_type_name(a), jv_type_name(b),
              jv_type_name(a));
    rfail(c, "unsupported operand type(s) for %s: '%s' and '%s'", sym[op], jv_type_name(a),
          jv_type_name(b));
}

int jv_contains(jctx *c, const jv *hay, const jv *needle) {
    switch (hay->k) {
    case JV_STR:
        if (needle->k != JV_STR)
            rfail(c, "'in <string>' requires string as left operand, not %s", jv_type_name(needle));
        if (!needle->u.s.n) return 1;
        jstep(c, hay->u.s.n >> 10);
        return memmem(hay->u.s.p, hay->u.s.n, needle->u.s.p, needle->u.s.n) != NULL;
    case JV_LIST:
        jstep(c, hay->u.l->n >> 6);
        for (size_t i = 0; i < hay->u.l->n; i++)
            if (jv_eq(c, &hay->u.l->v[i], needle)) return 1;
        return 0;
    case JV_DICT:
        return jdict_find(c, hay->u.d, needle) >= 0;
    case JV_UNDEF:
        return 0;
    default:
        rfail(c, "argument of type '%s' is not iterable", jv_type_name(hay));
    }
}

static int compare(jctx *c, int op, const jv *a, const jv *b) {
    switch (op) {
    case CMP_EQ:
        return jv_eq(c, a, b);
    case CMP_NE:
        return !jv_eq(c, a, b);
    case CMP_LT:
        return jv_cmp(c, a, b, "<") < 0;
    case CMP_LE:
        return jv_cmp(c, a, b, "<=") <= 0;
    case CMP_GT:
        return jv_cmp(c, a, b, ">") > 0;
    case CMP_GE:
        return jv_cmp(c, a, b, ">=") >= 0;
    case CMP_IN:
        return jv_contains(c, b, a);
    default:
        return !jv_contains(c, b, a);
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
    A->pos = arena_alloc(c, (np + 1) * sizeof(jv));
    A->kwv = arena_alloc(c, (nk + 1) * sizeof(jv));
    A->kwn = arena_alloc(c, (nk + 1) * sizeof(char *));
    A->kwl = arena_alloc(c, (nk + 1) * sizeof(size_t));
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

static void set_pos(jctx *c, node *n) {
    c->line = n->line;
    c->col = n->col;
}

/* f(args), x | filter(args), x is test(args) */
static jv eval_call(jctx *c, node *n, frame *f) {
    jv a = eval(c, n->a, f);
    jargs A;
    eval_args(c, n, f, &A);
    set_pos(c, n);
    if (n->kind == E_FILTER) return filter_apply(c, n->name, n->nlen, a, &A);
    if (n->kind == E_TEST) {
        int r = test_apply(c, n->name, n->nlen, &a, &A);
        return jv_bool(n->flag ? !r : r);
    }
    jv none = {.k = JV_UNDEF};
    return call_value(c, a, &A, none);
}

/* unary - and + (kind E_NEG / E_POS) */
static jv eval_sign(jctx *c, int kind, const jv *a) {
    if (a->k == JV_UNDEF) jv_fail_undef(c, a);
    if (!is_num(a))
        rfail(c, "bad operand type for unary %c: '%s'", kind == E_NEG ? '-' : '+', jv_type_name(a));
    if (kind == E_POS) return a->k == JV_BOOL ? jv_int(a->u.b) : *a;
    if (a->k == JV_FLOAT) return jv_float(-a->u.f);
    if (num_i(a) == INT64_MIN) rfail(c, "integer overflow");
    return jv_int(-num_i(a));
}

static jv eval_dict(jctx *c, node *n, frame *f) {
    jv d = jv_dict_new(c, JV_DICT);
    for (size_t i = 0; i + 1 < n->nk; i += 2) {
        jv k = eval(c, n->kids[i], f), v = eval(c, n->kids[i + 1], f);
        set_pos(c, n);
        if (k.k == JV_LIST && !k.tuple) rfail(c, "unhashable type: 'list'");
        if (k.k == JV_DICT) rfail(c, "unhashable type: 'dict'");
        jdict_set(c, d.u.d, k, v);
    }
    return d;
}

/* a < b <= c ...: Python's chained comparison, stopping at the first false one */
static jv eval_compare(jctx *c, node *n, frame *f) {
    jv a = eval(c, n->kids[0], f), b;
    for (size_t i = 1; i < n->nk; i++) {
        b = eval(c, n->kids[i], f);
        set_pos(c, n);
        if (!compare(c, n->ops[i - 1], &a, &b)) return jv_bool(0);
        a = b;
    }
    return jv_bool(1);
}

/* A left-deep chain of E_BIN (a + b - c ...) or of one of E_AND / E_OR, walked without recursion
 * down its left spine: a chain of 10^5 terms costs no C stack. */
static jv eval_chain(jctx *c, node *n, frame *f) {
    size_t k = 0;
    for (node *x = n; x->kind == n->kind; x = x->a)
        k++;
    node **spine = arena_alloc(c, k * sizeof *spine); /* spine[0] = n, spine[k-1] the innermost */
    k = 0;
    for (node *x = n; x->kind == n->kind; x = x->a)
        spine[k++] = x;
    jv a = eval(c, spine[k - 1]->a, f);
    while (k--) {
        node *x = spine[k];
        jstep(c, 1);
        if (x->kind == E_AND && !jv_truthy(&a)) continue;
        if (x->kind == E_OR && jv_truthy(&a)) continue;
        jv b = eval(c, x->b, f);
        if (x->kind != E_BIN) {
            a = b;
            continue;
        }
        set_pos(c, x);
        a = jv_binop(c, x->op, &a, &b);
    }
    return a;
}

static jv eval_node(jctx *c, node *n, frame *f) {
    jv a, b;
    switch (n->kind) {
    case E_CONST:
        return n->val;
    case E_NAME:
        if (frame_get(f, n->name, n->nlen, &a)) return a;
        return jv_undef_name(c, n->name, n->nlen);
    case E_ATTR:
        a = eval(c, n->a, f);
        set_pos(c, n);
        return jv_getattr(c, &a, n->name, n->nlen);
    case E_ITEM:
        a = eval(c, n->a, f);
        b = eval(c, n->b, f);
        set_pos(c, n);
        return jv_getitem(c, &a, &b);
    case E_SLICE: {
        a = eval(c, n->a, f);
        jv none = jv_none();
        jv s0 = n->b ? eval(c, n->b, f) : none, s1 = n->c ? eval(c, n->c, f) : none,
           s2 = n->d ? eval(c, n->d, f) : none;
        set_pos(c, n);
        return jv_slice(c, &a, &s0, &s1, &s2);
    }
    case E_CALL:
    case E_FILTER:
    case E_TEST:
        return eval_call(c, n, f);
    case E_BIN:
    case E_AND:
    case E_OR:
        return eval_chain(c, n, f);
    case E_NEG:
    case E_POS:
        a = eval(c, n->a, f);
        set_pos(c, n);
        return eval_sign(c, n->kind, &a);
    case E_NOT:
        a = eval(c, n->a, f);
        return jv_bool(!jv_truthy(&a));
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
            jlist_push(c, l.u.l, eval(c, n->kids[i], f));
        return l;
    }
    case E_DICT:
        return eval_dict(c, n, f);
    case E_CMP:
        return eval_compare(c, n, f);
    case E_CONCAT: {
        sbuf o = {0};
        for (size_t i = 0; i < n->nk; i++) {
            a = eval(c, n->kids[i], f);
            jv_write_str(c, &o, &a);
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

/* Every expression node is one step of the budget and one level of recursion. */
static jv eval(jctx *c, node *n, frame *f) {
    jenter(c);
    jstep(c, 1);
    jv v = eval_node(c, n, f);
    jleave(c);
    return v;
}

/* Renders kids into a fresh buffer and returns the text. */
static jv capture(jctx *c, node **kids, size_t nk, frame *f) {
    sbuf *saved = c->out, b = {0};
    c->out = &b;
    exec_body(c, kids, nk, f);
    c->out = saved;
    return jv_sb(c, &b);
}

/* Binds macro parameters and renders the macro body; returns its output as a string. */
static jv call_macro(jctx *c, jmacro *m, jargs *A, jv caller) {
    node *def = m->def;
    if (++c->depth > JINJA_MAX_DEPTH) rfail(c, "maximum recursion depth exceeded in macro calls");
    jstep(c, 1);
    frame *fr = frame_new(c, m->closure);
    size_t np = def->nk;
    int *used = arena_calloc(c, (A->nkw + 1) * sizeof(int));
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
                sb_put_str_repr(c, &b, p->name, p->nlen);
                sb_puts(c, &b, " was not provided");
                v = jv_undef_msg(c, b.p, b.n);
            }
        }
        frame_set(c, fr, p->name, p->nlen, v);
    }
    jv varargs = jv_list_new(c, 0), kwargs = jv_dict_new(c, JV_DICT);
    varargs.tuple = 1;
    for (size_t i = np; i < A->npos; i++)
        jlist_push(c, varargs.u.l, A->pos[i]);
    for (size_t k = 0; k < A->nkw; k++)
        if (!used[k]) jdict_set(c, kwargs.u.d, jv_strn(A->kwn[k], A->kwl[k]), A->kwv[k]);
    frame_set(c, fr, "varargs", 7, varargs);
    frame_set(c, fr, "kwargs", 6, kwargs);
    if (caller.k == JV_MACRO) frame_set(c, fr, "caller", 6, caller);
    jv out = capture(c, def->b->kids, def->b->nk, fr);
    c->depth--;
    return out;
}

static jv call_value(jctx *c, jv fn, jargs *A, jv caller) {
    switch (fn.k) {
    case JV_MACRO:
        return call_macro(c, fn.u.m, A, caller);
    case JV_FUNC:
        return global_call(c, fn.u.fn, A);
    case JV_METHOD:
        return method_invoke(c, fn.u.bm, A);
    case JV_UNDEF:
        jv_fail_undef(c, &fn);
    default:
        rfail(c, "'%s' object is not callable", jv_type_name(&fn));
    }
}

static void assign_targets(jctx *c, node *tgt, jv v, frame *f) {
    if (tgt->kind == E_NAME) {
        frame_set(c, f, tgt->name, tgt->nlen, v);
        return;
    }
    if (tgt->nk == 1) {
        frame_set(c, f, tgt->kids[0]->name, tgt->kids[0]->nlen, v);
        return;
    }
    jlist *l = jv_iter(c, &v);
    if (l->n > tgt->nk) rfail(c, "too many values to unpack (expected %zu)", tgt->nk);
    if (l->n < tgt->nk)
        rfail(c, "not enough values to unpack (expected %zu, got %zu)", tgt->nk, l->n);
    for (size_t i = 0; i < tgt->nk; i++)
        frame_set(c, f, tgt->kids[i]->name, tgt->kids[i]->nlen, l->v[i]);
}

/* Evaluates a filter chain (parse_filter_chain) on the value in. */
static jv eval_on_hole(jctx *c, node *chain, jv in, frame *f) {
    jv *saved = c->hole, *hole = &in, v;
    c->hole = hole;
    v = eval(c, chain, f);
    c->hole = saved;
    return v;
}

/* A macro value for def (S_MACRO, or the body of S_CALLBLOCK as `caller`) closing over f. */
static jv macro_new(jctx *c, node *def, frame *f) {
    jv m = {.k = JV_MACRO};
    m.u.m = arena_alloc(c, sizeof(jmacro));
    m.u.m->def = def;
    m.u.m->closure = f;
    f->captured = 1;
    return m;
}

/* {% for targets in iterable [if cond] %}: each iteration gets a fresh frame (reused when no macro
 * captured the last one) holding the targets and `loop`. */
static int exec_for(jctx *c, node *n, frame *f) {
    jv it = eval(c, n->b, f);
    set_pos(c, n);
    jlist *src = jv_iter(c, &it), *items = src;
    if (n->d) { /* the loop filter sees the target names, not `loop` */
        items = arena_calloc(c, sizeof(jlist));
        for (size_t i = 0; i < src->n; i++) {
            frame *fr = frame_new(c, f);
            assign_targets(c, n->a, src->v[i], fr);
            jv ok = eval(c, n->d, fr);
            if (jv_truthy(&ok)) jlist_push(c, items, src->v[i]);
            jstep(c, 1);
        }
    }
    if (!items->n) {
        if (n->c) return exec_body(c, n->c->kids, n->c->nk, frame_new(c, f));
        return FLOW_NEXT;
    }
    jloop *lp = arena_calloc(c, sizeof(jloop));
    lp->n = items->n;
    lp->items = items;
    jv lv = {.k = JV_LOOP};
    lv.u.lp = lp;
    frame *fr = NULL;
    for (size_t i = 0; i < items->n; i++) {
        jstep(c, 1);
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

static int exec_stmt_node(jctx *c, node *n, frame *f) {
    jv v;
    switch (n->kind) {
    case S_TEXT:
        sb_put(c, c->out, n->val.u.s.p, n->val.u.s.n);
        return FLOW_NEXT;
    case S_OUT:
        v = eval(c, n->a, f);
        jv_write_str(c, c->out, &v);
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
    case S_FOR:
        return exec_for(c, n, f);
    case S_SET:
        v = eval(c, n->b, f);
        set_pos(c, n);
        if (n->a->kind == E_ATTR) {
            jv ns;
            if (!frame_get(f, n->a->a->name, n->a->a->nlen, &ns) || ns.k != JV_NS)
                rfail(c, "cannot assign attribute on non-namespace object");
            jdict_set(c, ns.u.d, jv_strn(n->a->name, n->a->nlen), v);
        } else
            assign_targets(c, n->a, v, f);
        return FLOW_NEXT;
    case S_SETBLOCK:
        v = capture(c, n->b->kids, n->b->nk, f);
        if (n->a) v = eval_on_hole(c, n->a, v, f);
        frame_set(c, f, n->name, n->nlen, v);
        return FLOW_NEXT;
    case S_FILTERBLOCK:
        v = eval_on_hole(c, n->a, capture(c, n->b->kids, n->b->nk, f), f);
        jv_write_str(c, c->out, &v);
        return FLOW_NEXT;
    case S_MACRO:
        frame_set(c, f, n->name, n->nlen, macro_new(c, n, f));
        return FLOW_NEXT;
    case S_CALLBLOCK: {
        jv caller = macro_new(c, n, f);
        jv fn = eval(c, n->a->a, f);
        jargs A;
        eval_args(c, n->a, f, &A);
        set_pos(c, n);
        if (fn.k != JV_MACRO) rfail(c, "{%% call %%} needs a macro");
        v = call_value(c, fn, &A, caller);
        jv_write_str(c, c->out, &v);
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

static int exec_stmt(jctx *c, node *n, frame *f) {
    jenter(c);
    jstep(c, 1);
    int r = exec_stmt_node(c, n, f);
    jleave(c);
    return r;
}

int exec_body(jctx *c, node **kids, size_t nk, frame *f) {
    for (size_t i = 0; i < nk; i++) {
        c->line = kids[i]->line;
        c->col = kids[i]->col;
        int r = exec_stmt(c, kids[i], f);
        if (r != FLOW_NEXT) return r;
    }
    return FLOW_NEXT;
}
