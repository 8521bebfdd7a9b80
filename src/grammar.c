/* grammar.c — parses llama.cpp's GBNF (rules, alternation, groups, * + ? {m,n}, character classes
 * with ranges and negation, \x \u \U escapes, comments, '.') into the element encoding of
 * grammar.h, then checks it: every rule defined, a root, no left recursion, size limits. Matching
 * is grammar_match.c. */
#include "grammar.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gelem *e;
    uint32_t n, cap;
    bool defined;
    char *name;
} prule;

typedef struct {
    const char *src, *end;
    prule *rules;
    uint32_t n_rules, cap_rules, n_elems;
    lmc_status st; /* first error */
    int nest;
} parser;

/* ---- errors with line and column ---------------------------------------------------------- */
static const char *perr(parser *p, const char *at, lmc_status st, const char *what,
                        const char *arg) {
    if (p->st != LMC_OK) return NULL;
    int line = 1, col = 1;
    for (const char *s = p->src; s < at && s < p->end; s++) {
        if (*s == '\n')
            line++, col = 1;
        else
            col++;
    }
    p->st = lmc_err(st, "grammar: line %d, column %d: %s%s%s%s", line, col, what, arg ? " '" : "",
                    arg ? arg : "", arg ? "'" : "");
    return NULL;
}

/* ---- rules ---------------------------------------------------------------------------------- */
static int32_t rule_id(parser *p, const char *name, size_t len) {
    for (uint32_t i = 0; i < p->n_rules; i++)
        if (strlen(p->rules[i].name) == len && !memcmp(p->rules[i].name, name, len))
            return (int32_t)i;
    if (p->n_rules >= GRAMMAR_MAX_RULES) return -1;
    if (p->n_rules == p->cap_rules) {
        uint32_t cap = p->cap_rules ? p->cap_rules * 2 : 64;
        prule *r = realloc(p->rules, cap * sizeof *r);
        if (!r) return -1;
        p->rules = r;
        p->cap_rules = cap;
    }
    prule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    r->name = malloc(len + 1);
    if (!r->name) return -1;
    memcpy(r->name, name, len);
    r->name[len] = 0;
    return (int32_t)p->n_rules++;
}

/* A fresh rule for a group or a repetition: "<base>_<n>". */
static int32_t new_rule(parser *p, uint32_t base) {
    char name[300];
    int n = snprintf(name, sizeof name, "%.250s_%u", p->rules[base].name, p->n_rules);
    return rule_id(p, name, (size_t)n);
}

typedef struct {
    gelem *e;
    uint32_t n, cap;
} seq;

static bool seq_push(parser *p, seq *s, uint32_t type, uint32_t value) {
    if (p->n_elems >= GRAMMAR_MAX_ELEMS) return false;
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 16;
        gelem *e = realloc(s->e, cap * sizeof *e);
        if (!e) return false;
        s->e = e;
        s->cap = cap;
    }
    s->e[s->n++] = (gelem){type, value};
    p->n_elems++;
    return true;
}

static bool seq_append(parser *p, seq *s, const gelem *e, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (!seq_push(p, s, e[i].type, e[i].value)) return false;
    return true;
}

/* Gives s to rule id (which must not be defined yet). */
static bool set_rule(parser *p, uint32_t id, seq *s) {
    prule *r = &p->rules[id];
    free(r->e);
    r->e = s->e;
    r->n = s->n;
    r->cap = s->cap;
    r->defined = true;
    s->e = NULL;
    s->n = s->cap = 0;
    return true;
}

/* ---- lexing --------------------------------------------------------------------------------- */
static const char *skip_space(parser *p, const char *s, bool newline_ok) {
    while (s < p->end) {
        if (*s == '#') {
            while (s < p->end && *s != '\n' && *s != '\r')
                s++;
        } else if (*s == ' ' || *s == '\t' || (newline_ok && (*s == '\n' || *s == '\r'))) {
            s++;
        } else {
            break;
        }
    }
    return s;
}

static bool is_word(char c) {
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

static const char *parse_name(parser *p, const char *s) {
    const char *t = s;
    while (t < p->end && is_word(*t))
        t++;
    return t == s ? perr(p, s, LMC_ERR_FORMAT, "expecting a rule name", NULL) : t;
}

static int hexval(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* One character (an escape or a UTF-8 sequence) into *cp. */
static const char *parse_char(parser *p, const char *s, uint32_t *cp) {
    if (s >= p->end) return perr(p, s, LMC_ERR_FORMAT, "unexpected end of input", NULL);
    if (*s == '\\') {
        if (s + 1 >= p->end) return perr(p, s, LMC_ERR_FORMAT, "unexpected end of input", NULL);
        char c = s[1];
        int nhex = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
        if (nhex) {
            uint32_t v = 0;
            for (int i = 0; i < nhex; i++) {
                int h = s + 2 + i < p->end ? hexval(s[2 + i]) : -1;
                if (h < 0) return perr(p, s, LMC_ERR_FORMAT, "bad hex escape", NULL);
                v = v << 4 | (uint32_t)h;
            }
            if (v > 0x10FFFF) return perr(p, s, LMC_ERR_FORMAT, "code point beyond U+10FFFF", NULL);
            *cp = v;
            return s + 2 + nhex;
        }
        switch (c) {
        case 't':
            *cp = '\t';
            break;
        case 'r':
            *cp = '\r';
            break;
        case 'n':
            *cp = '\n';
            break;
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
        case '.':
            *cp = (uint32_t)c;
            break;
        default: {
            char esc[3] = {'\\', c, 0};
            return perr(p, s, LMC_ERR_FORMAT, "unknown escape", esc);
        }
        }
        return s + 2;
    }
    unsigned char c = (unsigned char)*s;
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || s + len > p->end) return perr(p, s, LMC_ERR_FORMAT, "invalid UTF-8", NULL);
    uint32_t v = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (int i = 1; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            return perr(p, s, LMC_ERR_FORMAT, "invalid UTF-8", NULL);
        v = v << 6 | ((unsigned char)s[i] & 0x3F);
    }
    *cp = v;
    return s + len;
}

static const char *parse_int(parser *p, const char *s, uint32_t *out) {
    if (s >= p->end || !isdigit((unsigned char)*s))
        return perr(p, s, LMC_ERR_FORMAT, "expecting an integer", NULL);
    uint64_t v = 0;
    while (s < p->end && isdigit((unsigned char)*s)) {
        v = v * 10 + (uint64_t)(*s++ - '0');
        if (v > 100000)
            return perr(p, s, LMC_ERR_UNSUPPORTED, "repetition count above 100000", NULL);
    }
    *out = (uint32_t)v;
    return s;
}

/* ---- sequences and alternates --------------------------------------------------------------- */
static const char *parse_alternates(parser *p, const char *s, uint32_t rule, uint32_t id,
                                    bool nested);

/* Repeats the last item (out->e[last..]) min..max times (max UINT32_MAX: unbounded) the way
 * llama.cpp does: min copies, then a chain of optional rules (or one right-recursive rule). */
static bool repeat(parser *p, seq *out, uint32_t last, uint32_t rule, uint32_t min, uint32_t max) {
    uint32_t n_item = out->n - last;
    seq item = {0};
    if (!seq_append(p, &item, out->e + last, n_item)) goto fail;
    out->n = last;
    for (uint32_t i = 0; i < min; i++)
        if (!seq_append(p, out, item.e, n_item)) goto fail;
    uint32_t n_opt = max == UINT32_MAX ? 1 : max - min;
    int32_t last_rec = -1;
    for (uint32_t i = 0; i < n_opt; i++) {
        int32_t id = new_rule(p, rule);
        seq r = {0};
        if (id < 0 || !seq_append(p, &r, item.e, n_item)) {
            free(r.e);
            goto fail;
        }
        bool ok = true;
        if (max == UINT32_MAX)
            ok = seq_push(p, &r, GE_RULE_REF, (uint32_t)id);
        else if (i > 0)
            ok = seq_push(p, &r, GE_RULE_REF, (uint32_t)last_rec);
        ok = ok && seq_push(p, &r, GE_ALT, 0) && seq_push(p, &r, GE_END, 0);
        if (!ok) {
            free(r.e);
            goto fail;
        }
        set_rule(p, (uint32_t)id, &r);
        last_rec = id;
    }
    if (n_opt > 0 && !seq_push(p, out, GE_RULE_REF, (uint32_t)last_rec)) goto fail;
    free(item.e);
    return true;
fail:
    free(item.e);
    return false;
}

#define TOO_BIG(p, s) perr(p, s, LMC_ERR_UNSUPPORTED, "grammar too large (rules or elements)", NULL)

static const char *parse_class(parser *p, const char *s, seq *out) {
    uint32_t start = GE_CHAR, first = out->n, cp;
    if (s < p->end && *s == '^') start = GE_CHAR_NOT, s++;
    while (s < p->end && *s != ']') {
        if (!(s = parse_char(p, s, &cp))) return NULL;
        if (!seq_push(p, out, out->n > first ? GE_CHAR_ALT : start, cp)) return TOO_BIG(p, s);
        if (s + 1 < p->end && *s == '-' && s[1] != ']') {
            if (!(s = parse_char(p, s + 1, &cp))) return NULL;
            if (cp < out->e[out->n - 1].value)
                return perr(p, s, LMC_ERR_FORMAT, "character range out of order", NULL);
            if (!seq_push(p, out, GE_CHAR_RNG_UPPER, cp)) return TOO_BIG(p, s);
        }
    }
    if (s >= p->end) return perr(p, s, LMC_ERR_FORMAT, "unexpected end of input in a class", NULL);
    if (out->n == first) return perr(p, s, LMC_ERR_FORMAT, "empty character class", NULL);
    return s + 1;
}

static const char *parse_repeat_op(parser *p, const char *s, seq *out, uint32_t last, uint32_t rule,
                                   bool nested) {
    uint32_t min = 0, max = UINT32_MAX;
    if (last == out->n)
        return perr(p, s, LMC_ERR_FORMAT, "nothing before the repetition operator", NULL);
    if (*s == '+') {
        min = 1;
    } else if (*s == '?') {
        max = 1;
    } else if (*s == '{') {
        s = skip_space(p, s + 1, nested);
        if (!(s = parse_int(p, s, &min))) return NULL;
        s = skip_space(p, s, nested);
        if (s < p->end && *s == ',') {
            s = skip_space(p, s + 1, nested);
            if (s < p->end && isdigit((unsigned char)*s)) {
                if (!(s = parse_int(p, s, &max))) return NULL;
                s = skip_space(p, s, nested);
                if (max < min)
                    return perr(p, s, LMC_ERR_FORMAT, "repetition {m,n} with n < m", NULL);
            }
        } else {
            max = min;
        }
        if (s >= p->end || *s != '}') return perr(p, s, LMC_ERR_FORMAT, "expecting '}'", NULL);
    }
    if (!repeat(p, out, last, rule, min, max)) return TOO_BIG(p, s);
    return skip_space(p, s + 1, nested);
}

static const char *parse_sequence(parser *p, const char *s, uint32_t rule, seq *out, bool nested) {
    uint32_t last = out->n, cp;
    while (s && s < p->end) {
        char c = *s;
        if (c == '"') {
            last = out->n;
            s++;
            while (s < p->end && *s != '"') {
                if (!(s = parse_char(p, s, &cp))) return NULL;
                if (!seq_push(p, out, GE_CHAR, cp)) return TOO_BIG(p, s);
            }
            if (s >= p->end) return perr(p, s, LMC_ERR_FORMAT, "unterminated string", NULL);
            s = skip_space(p, s + 1, nested);
        } else if (c == '[') {
            last = out->n;
            if (!(s = parse_class(p, s + 1, out))) return NULL;
            s = skip_space(p, s, nested);
        } else if (is_word(c)) {
            const char *e = parse_name(p, s);
            int32_t id = rule_id(p, s, (size_t)(e - s));
            if (id < 0) return TOO_BIG(p, s);
            last = out->n;
            if (!seq_push(p, out, GE_RULE_REF, (uint32_t)id)) return TOO_BIG(p, s);
            s = skip_space(p, e, nested);
        } else if (c == '(') {
            if (++p->nest > GRAMMAR_MAX_NEST)
                return perr(p, s, LMC_ERR_UNSUPPORTED, "parentheses nested too deep", NULL);
            int32_t id = new_rule(p, rule);
            if (id < 0) return TOO_BIG(p, s);
            s = parse_alternates(p, skip_space(p, s + 1, true), rule, (uint32_t)id, true);
            if (!s) return NULL;
            if (s >= p->end || *s != ')') return perr(p, s, LMC_ERR_FORMAT, "expecting ')'", NULL);
            p->nest--;
            last = out->n;
            if (!seq_push(p, out, GE_RULE_REF, (uint32_t)id)) return TOO_BIG(p, s);
            s = skip_space(p, s + 1, nested);
        } else if (c == '.') {
            last = out->n;
            if (!seq_push(p, out, GE_CHAR_ANY, 0)) return TOO_BIG(p, s);
            s = skip_space(p, s + 1, nested);
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            s = parse_repeat_op(p, s, out, last, rule, nested);
        } else {
            break;
        }
    }
    return s;
}

static const char *parse_alternates(parser *p, const char *s, uint32_t rule, uint32_t id,
                                    bool nested) {
    seq out = {0};
    s = parse_sequence(p, s, rule, &out, nested);
    while (s && s < p->end && *s == '|') {
        if (!seq_push(p, &out, GE_ALT, 0)) {
            s = TOO_BIG(p, s);
            break;
        }
        s = parse_sequence(p, skip_space(p, s + 1, true), rule, &out, nested);
    }
    if (s && !seq_push(p, &out, GE_END, 0)) s = TOO_BIG(p, s);
    if (s) {
        if (p->rules[id].defined) {
            free(out.e);
            return perr(p, s, LMC_ERR_FORMAT, "rule defined twice:", p->rules[id].name);
        }
        set_rule(p, id, &out);
    }
    free(out.e);
    return s;
}

static const char *parse_rule(parser *p, const char *s) {
    const char *e = parse_name(p, s);
    if (!e) return NULL;
    int32_t id = rule_id(p, s, (size_t)(e - s));
    if (id < 0) return TOO_BIG(p, s);
    s = skip_space(p, e, false);
    if (p->end - s < 3 || memcmp(s, "::=", 3))
        return perr(p, s, LMC_ERR_FORMAT, "expecting ::=", NULL);
    s = parse_alternates(p, skip_space(p, s + 3, true), (uint32_t)id, (uint32_t)id, false);
    if (!s) return NULL;
    if (s < p->end && *s == '\r')
        s += s + 1 < p->end && s[1] == '\n' ? 2 : 1;
    else if (s < p->end && *s == '\n')
        s++;
    else if (s < p->end)
        return perr(p, s, LMC_ERR_FORMAT, "expecting a newline or the end, got", (char[]){*s, 0});
    return skip_space(p, s, true);
}

/* ---- checks --------------------------------------------------------------------------------- */
/* Left recursion: rule A reaches itself through leading rule references (a nullable reference lets
 * the next element lead too). state: 0 unvisited, 1 on the path, 2 done. */
static bool nullable_alt(const gelem *e, const bool *nul) {
    for (; e->type != GE_END && e->type != GE_ALT; e++)
        if (e->type != GE_RULE_REF || !nul[e->value]) return false;
    return true;
}

static int32_t left_rec(const lmc_grammar *g, uint32_t r, const bool *nul, uint8_t *state,
                        int depth) {
    if (state[r] == 1) return (int32_t)r;
    if (state[r] == 2 || depth > (int)GRAMMAR_MAX_RULES) return -1;
    state[r] = 1;
    for (const gelem *e = g->elems + g->rule_start[r];; e++) {
        /* e is the first element of an alternate */
        for (; e->type == GE_RULE_REF; e++) {
            int32_t hit = left_rec(g, e->value, nul, state, depth + 1);
            if (hit >= 0) return hit;
            if (!nul[e->value]) break;
        }
        while (e->type != GE_END && e->type != GE_ALT)
            e++;
        if (e->type == GE_END) break;
    }
    state[r] = 2;
    return -1;
}

static lmc_status check(const lmc_grammar *g, parser *p) {
    bool *nul = calloc(g->n_rules, 1);
    uint8_t *state = calloc(g->n_rules, 1);
    lmc_status st = LMC_OK;
    double work = 0;
    if (!nul || !state) {
        st = lmc_err(LMC_ERR_OOM, "grammar: out of memory");
        goto done;
    }
    for (bool changed = true; changed;) { /* nullable rules: a fixpoint */
        changed = false;
        if ((work += g->n_elems) > GRAMMAR_MAX_CHECK_WORK) {
            st = lmc_err(LMC_ERR_UNSUPPORTED, "grammar: too complex to check (%u rules)",
                         g->n_rules);
            goto done;
        }
        for (uint32_t r = 0; r < g->n_rules; r++) {
            if (nul[r]) continue;
            for (const gelem *e = g->elems + g->rule_start[r];; e++) {
                if (nullable_alt(e, nul)) {
                    nul[r] = changed = true;
                    break;
                }
                while (e->type != GE_END && e->type != GE_ALT)
                    e++;
                if (e->type == GE_END) break;
            }
        }
    }
    /* recursion depth of left_rec is bounded by the rule count; keep it small for thread stacks */
    for (uint32_t r = 0; r < g->n_rules && st == LMC_OK; r++) {
        int32_t hit = left_rec(g, r, nul, state, 0);
        if (hit >= 0)
            st = lmc_err(LMC_ERR_UNSUPPORTED, "grammar: rule '%s' is left-recursive",
                         p->rules[hit].name);
    }
done:
    free(nul);
    free(state);
    return st;
}

static lmc_status build(parser *p, const char *root, lmc_grammar **out) {
    for (uint32_t i = 0; i < p->n_rules; i++)
        if (!p->rules[i].defined)
            return lmc_err(LMC_ERR_FORMAT, "grammar: undefined rule '%s'", p->rules[i].name);
    int32_t r = -1;
    for (uint32_t i = 0; i < p->n_rules && r < 0; i++)
        if (!strcmp(p->rules[i].name, root)) r = (int32_t)i;
    if (r < 0) return lmc_err(LMC_ERR_FORMAT, "grammar: no rule named '%s'", root);
    lmc_grammar *g = calloc(1, sizeof *g);
    if (!g) return lmc_err(LMC_ERR_OOM, "grammar: out of memory");
    g->n_rules = p->n_rules;
    g->root = (uint32_t)r;
    g->rule_start = malloc(p->n_rules * sizeof *g->rule_start);
    g->elems = malloc(((size_t)p->n_elems + 1) * sizeof *g->elems);
    if (!g->rule_start || !g->elems) {
        lmc_grammar_free(g);
        return lmc_err(LMC_ERR_OOM, "grammar: out of memory");
    }
    for (uint32_t i = 0; i < p->n_rules; i++) {
        g->rule_start[i] = g->n_elems;
        memcpy(g->elems + g->n_elems, p->rules[i].e, p->rules[i].n * sizeof *g->elems);
        g->n_elems += p->rules[i].n;
    }
    lmc_status st = check(g, p);
    if (st != LMC_OK) {
        lmc_grammar_free(g);
        return st;
    }
    *out = g;
    return LMC_OK;
}

lmc_status lmc_grammar_init_gbnf(const char *text, size_t len, const char *root,
                                 lmc_grammar **out) {
    if (!out) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_grammar_init_gbnf: no output pointer");
    *out = NULL;
    if (!text) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_grammar_init_gbnf: no text");
    if (len > GRAMMAR_MAX_TEXT)
        return lmc_err(LMC_ERR_UNSUPPORTED, "grammar: %zu bytes (at most %u)", len,
                       GRAMMAR_MAX_TEXT);
    parser p = {.src = text, .end = text + len};
    const char *s = skip_space(&p, text, true);
    while (s && s < p.end)
        s = parse_rule(&p, s);
    lmc_status st = p.st;
    if (st == LMC_OK && p.n_rules == 0) st = lmc_err(LMC_ERR_FORMAT, "grammar: no rules");
    if (st == LMC_OK) st = build(&p, root ? root : "root", out);
    for (uint32_t i = 0; i < p.n_rules; i++) {
        free(p.rules[i].e);
        free(p.rules[i].name);
    }
    free(p.rules);
    return st;
}

void lmc_grammar_free(lmc_grammar *g) {
    if (!g) return;
    free(g->elems);
    free(g->rule_start);
    free(g);
}
