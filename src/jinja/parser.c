/* parser.c — tokens to an AST with jinja2's grammar and operator precedence: expressions (filters
 * and tests checked against the known names at parse time) and the statement tags. It evaluates
 * nothing; eval.c walks the tree. */
#include "jinja_int.h"

#include <stdio.h>

static node *nnew(jctx *c, int kind, const tok *t) {
    node *n = arena_calloc(c, sizeof(node));
    n->kind = (uint8_t)kind;
    n->line = t->line;
    n->col = t->col;
    return n;
}
static void nadd(jctx *c, node *n, node *kid) {
    n->kids = arena_grow(c, n->kids, sizeof(node *), n->nk, &n->kcap);
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
        char *s = arena_alloc(c, t->n + 3);
        snprintf(s, t->n + 3, "'%.*s'", (int)t->n, t->p);
        return s;
    }
    return names[t->t];
}
JNORET static void perr_unexpected(jctx *c, const tok *t, const char *want) {
    if (want) jfail_at(c, t->line, t->col, "expected %s, got %s", want, tok_desc(c, t));
    jfail_at(c, t->line, t->col, "unexpected %s", tok_desc(c, t));
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

static void enter(jctx *c) {
    if (++c->pdepth > JINJA_MAX_DEPTH)
        jfail_at(c, pk(c)->line, pk(c)->col, "expression or blocks nested too deeply (limit %d)",
                 JINJA_MAX_DEPTH);
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
                jfail_at(c, t->line, t->col, "*args and **kwargs calls are not supported");
            for (size_t i = 0; i < call->nk; i++)
                if (call->kids[i]->kind == E_KW)
                    jfail_at(c, t->line, t->col, "positional argument follows keyword argument");
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

/* A filter or test name (what: "filter" / "test") applied to x; the node sits at `at`, else at the
 * name. Unknown and unsupported names fail here, at parse time, as in jinja2. */
static node *parse_named(jctx *c, int kind, node *x, const tok *at, const char *what,
                         int (*known)(const char *, size_t, int *)) {
    size_t len;
    tok *nt = parse_dotted_name(c, &len);
    int sup;
    if (!known(nt->p, len, &sup))
        jfail_at(c, nt->line, nt->col, "No %s named '%.*s'.", what, (int)len, nt->p);
    if (!sup) jfail_at(c, nt->line, nt->col, "%s '%.*s' is not supported", what, (int)len, nt->p);
    node *f = nnew(c, kind, at ? at : nt);
    f->name = nt->p;
    f->nlen = len;
    f->a = x;
    return f;
}

/* name[(args)] after '|' (at: the '|'), or first in a filter block (at NULL) */
static node *parse_filter(jctx *c, node *x, const tok *at) {
    node *f = parse_named(c, E_FILTER, x, at, "filter", filter_known);
    if (t_op(pk(c), "(")) parse_call_args(c, f);
    return f;
}

static node *parse_call(jctx *c, node *x, const tok *t) {
    node *call = nnew(c, E_CALL, t);
    call->a = x;
    parse_call_args(c, call);
    return call;
}

static node *parse_test(jctx *c, node *x) {
    tok *t = adv(c); /* 'is' */
    int neg = 0;
    if (t_name(pk(c), "not")) {
        adv(c);
        neg = 1;
    }
    node *f = parse_named(c, E_TEST, x, t, "test", test_known);
    f->flag = (uint8_t)neg;
    tok *a = pk(c);
    if (t_op(a, "("))
        parse_call_args(c, f);
    else if ((a->t == T_NAME || a->t == T_STR || a->t == T_INT || a->t == T_FLOAT || t_op(a, "[") ||
              t_op(a, "{")) &&
             !t_name(a, "else") && !t_name(a, "or") && !t_name(a, "and")) {
        if (t_name(a, "is"))
            jfail_at(c, a->line, a->col, "You cannot chain multiple tests with is");
        int depth0 = c->pdepth;
        nadd(c, f, parse_postfix(c, parse_primary(c)));
        c->pdepth = depth0;
    }
    return f;
}

/* Postfix and filter chains build left-deep trees the evaluator recurses into: each link counts
 * as one level of nesting (restored by the caller, parse_unary). */
static node *parse_filter_expr(jctx *c, node *x) {
    for (;;) {
        tok *t = pk(c);
        enter(c);
        if (t_op(t, "|"))
            x = parse_filter(c, x, adv(c));
        else if (t_name(t, "is"))
            x = parse_test(c, x);
        else if (t_op(t, "("))
            x = parse_call(c, x, t);
        else
            return x;
    }
}

static node *parse_postfix(jctx *c, node *x) {
    for (;;) {
        tok *t = pk(c);
        enter(c);
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
        } else if (t_op(t, "("))
            x = parse_call(c, x, t);
        else
            return x;
    }
}

/* [a, b, ...] or {k: v, ...} from its opening bracket t to `close` (a trailing comma allowed) */
static node *parse_display(jctx *c, tok *t, int kind, const char *close) {
    adv(c);
    enter(c);
    node *n = nnew(c, kind, t);
    while (!t_op(pk(c), close)) {
        if (n->nk) expect_op(c, ",");
        if (t_op(pk(c), close)) break;
        nadd(c, n, parse_expr(c));
        if (kind == E_DICT) {
            expect_op(c, ":");
            nadd(c, n, parse_expr(c));
        }
    }
    adv(c);
    c->pdepth--;
    return n;
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
    if (t_op(t, "[")) return parse_display(c, t, E_LIST, "]");
    if (t_op(t, "{")) return parse_display(c, t, E_DICT, "}");
    perr_unexpected(c, t, NULL);
}

static node *parse_unary(jctx *c, int with_filter) {
    tok *t = pk(c);
    node *x;
    int depth0 = c->pdepth;
    enter(c);
    if (t_op(t, "-") || t_op(t, "+")) {
        adv(c);
        x = nnew(c, t->p[0] == '-' ? E_NEG : E_POS, t);
        x->a = parse_unary(c, 0);
    } else
        x = parse_primary(c);
    x = parse_postfix(c, x);
    if (with_filter) x = parse_filter_expr(c, x);
    c->pdepth = depth0;
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
        if (n->nk > sizeof ops) jfail_at(c, t->line, t->col, "comparison chain too long");
        ops[n->nk - 1] = (uint8_t)op;
        nadd(c, n, parse_math1(c));
    }
    if (!n) return x;
    n->ops = arena_alloc(c, n->nk);
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
/* A left-associative chain of operands joined by the keyword kw ("and", "or"), each parsed by next.
 */
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
static node *parse_and(jctx *c) {
    return parse_kw_chain(c, "and", E_AND, parse_not);
}
static node *parse_or(jctx *c) {
    return parse_kw_chain(c, "or", E_OR, parse_and);
}
static node *parse_expr(jctx *c) {
    int depth0 = c->pdepth;
    enter(c);
    node *x = parse_or(c);
    while (t_name(pk(c), "if")) {
        tok *t = adv(c);
        enter(c); /* x if a if b ...: a left-deep chain */
        node *n = nnew(c, E_COND, t);
        n->b = x;
        n->a = parse_or(c);
        if (t_name(pk(c), "else")) {
            adv(c);
            n->c = parse_expr(c);
        }
        x = n;
    }
    c->pdepth = depth0;
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
            jfail_at(
                c, opener->line, opener->col,
                "Unexpected end of template. Jinja was looking for the following tags: %s. The "
                "innermost "
                "block that needs to be closed is '%s'.",
                want, block);
        jfail_at(c, pk2(c)->line, pk2(c)->col,
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
                    jfail_at(c, t->line, t->col, "non-default argument follows default argument");
        nadd(c, m, p);
    }
    adv(c);
}

/* The filters of a {% filter %} block or a {% set x | f %} block, applied to an E_HOLE. */
static node *parse_filter_chain(jctx *c, tok *t) {
    node *x = nnew(c, E_HOLE, t);
    do {
        /* the first filter of a filter block has no '|' */
        x = t_op(pk(c), "|") ? parse_filter(c, x, adv(c)) : parse_filter(c, x, NULL);
    } while (t_op(pk(c), "|"));
    return x;
}

/* A body up to one of ends, then that end tag and its '%}'. */
static node *parse_closed_body(jctx *c, const char *block, const char *const *ends,
                               const tok *opener) {
    node *body = parse_body(c, ends);
    end_tag(c, block, ends, opener);
    expect_bend(c);
    return body;
}

/* Each statement parser starts after its tag name t and ends after its closing '%}'. */
static node *parse_if(jctx *c, tok *t) {
    static const char *const ends[] = {"elif", "else", "endif", NULL}, *const ends2[] = {"endif",
                                                                                         NULL};
    node *n = nnew(c, S_IF, t);
    n->a = parse_expr(c);
    expect_bend(c);
    n->b = parse_body(c, ends);
    for (node *cur = n;;) {
        tok *e = end_tag(c, "if", ends, t);
        if (t_name(e, "elif")) {
            node *k = nnew(c, S_IF, e);
            k->a = parse_expr(c);
            expect_bend(c);
            k->b = parse_body(c, ends);
            cur->c = k;
            cur = k;
            continue;
        }
        expect_bend(c);
        if (t_name(e, "else")) cur->c = parse_closed_body(c, "if", ends2, t);
        return n;
    }
}

static node *parse_for(jctx *c, tok *t) {
    static const char *const ends[] = {"endfor", "else", NULL}, *const ends2[] = {"endfor", NULL};
    node *n = nnew(c, S_FOR, t);
    n->a = parse_targets(c, 0);
    if (!t_name(pk(c), "in")) perr_unexpected(c, pk(c), "'in'");
    adv(c);
    n->b = parse_tuple(c, 0, 0);
    if (t_name(pk(c), "if")) {
        adv(c);
        n->d = parse_expr(c);
    }
    if (t_name(pk(c), "recursive"))
        jfail_at(c, pk(c)->line, pk(c)->col, "recursive loops are not supported");
    expect_bend(c);
    c->loopdepth++;
    node *body = parse_body(c, ends);
    c->loopdepth--;
    tok *e = end_tag(c, "for", ends, t);
    expect_bend(c);
    if (t_name(e, "else")) n->c = parse_closed_body(c, "for", ends2, t);
    n->kids = body->kids;
    n->nk = body->nk;
    return n;
}

static node *parse_set(jctx *c, tok *t) {
    static const char *const ends[] = {"endset", NULL};
    node *n, *tgt = parse_targets(c, 1);
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
    n->b = parse_closed_body(c, "set", ends, t);
    return n;
}

/* {% macro name(params) %} and {% call[(params)] macro(args) %} */
static node *parse_macro(jctx *c, tok *t) {
    static const char *const ends_m[] = {"endmacro", NULL}, *const ends_c[] = {"endcall", NULL};
    int is_call = t->p[0] == 'c';
    node *n = nnew(c, is_call ? S_CALLBLOCK : S_MACRO, t);
    if (is_call) {
        if (t_op(pk(c), "(")) parse_params(c, n);
        n->a = parse_expr(c);
        if (n->a->kind != E_CALL) jfail_at(c, t->line, t->col, "expected call");
    } else {
        tok *nm = expect_name(c);
        n->name = nm->p;
        n->nlen = nm->n;
        parse_params(c, n);
    }
    expect_bend(c);
    int saved = c->loopdepth;
    c->loopdepth = 0;
    n->b = parse_closed_body(c, is_call ? "call" : "macro", is_call ? ends_c : ends_m, t);
    c->loopdepth = saved;
    return n;
}

static node *parse_filter_block(jctx *c, tok *t) {
    static const char *const ends[] = {"endfilter", NULL};
    node *n = nnew(c, S_FILTERBLOCK, t);
    n->a = parse_filter_chain(c, t);
    expect_bend(c);
    n->b = parse_closed_body(c, "filter", ends, t);
    return n;
}

static node *parse_loop_control(jctx *c, tok *t) {
    if (!c->loopdepth) jfail_at(c, t->line, t->col, "'%.*s' outside of a loop", (int)t->n, t->p);
    node *n = nnew(c, t->p[0] == 'b' ? S_BREAK : S_CONTINUE, t);
    expect_bend(c);
    return n;
}

/* {% generation %} (transformers' marker, rendered as its body) and {% raw %} (the lexer made its
 * body one text token) */
static node *parse_plain_block(jctx *c, tok *t) {
    static const char *const ends_g[] = {"endgeneration", NULL}, *const ends_r[] = {"endraw", NULL};
    int raw = t->p[0] == 'r';
    expect_bend(c);
    return parse_closed_body(c, raw ? "raw" : "generation", raw ? ends_r : ends_g, t);
}

static node *parse_stmt(jctx *c) {
    static const struct {
        const char *name;
        node *(*parse)(jctx *c, tok *t);
    } tags[] = {{"if", parse_if},
                {"for", parse_for},
                {"set", parse_set},
                {"macro", parse_macro},
                {"call", parse_macro},
                {"filter", parse_filter_block},
                {"break", parse_loop_control},
                {"continue", parse_loop_control},
                {"generation", parse_plain_block},
                {"raw", parse_plain_block}};
    adv(c); /* {% */
    tok *t = pk(c);
    if (t->t != T_NAME) perr_unexpected(c, t, "a tag name");
    adv(c);
    /* blocks inside blocks: the same nesting limit as expressions */
    if (++c->pdepth > JINJA_MAX_DEPTH) jfail_at(c, t->line, t->col, "blocks nested too deeply");
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (t_name(t, tags[i].name)) {
            node *n = tags[i].parse(c, t);
            c->pdepth--;
            return n;
        }
    jfail_at(c, t->line, t->col, "Encountered unknown tag '%.*s'.", (int)t->n, t->p);
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

node *parse_template(jctx *c) {
    node *root = parse_body(c, NULL);
    if (pk(c)->t != T_EOF) perr_unexpected(c, pk(c), NULL);
    return root;
}
