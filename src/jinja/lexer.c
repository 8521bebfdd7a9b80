/* lexer.c — template source to tokens: text, {{ }}, {% %} and {# #} with jinja2's whitespace rules
 * (trim_blocks, lstrip_blocks, '-' and '+' markers), {% raw %}, and literals decoded as Python
 * does. It knows nothing of the grammar: the parser reads c->toks. */
#include "jinja_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
    c->toks = arena_grow(c, c->toks, sizeof(tok), c->ntok, &c->tcap);
    tok *k = &c->toks[c->ntok++];
    memset(k, 0, sizeof *k);
    k->t = (uint8_t)t;
    k->p = p;
    k->n = n;
    lex_where(c, lp, pos, &k->line, &k->col);
    return k;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

JNORET LMC_PRINTF(4, 5) static void lex_fail(jctx *c, lexpos *lp, size_t pos, const char *fmt,
                                             ...) {
    char msg[sizeof c->err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    lex_where(c, lp, pos, &line, &col);
    jfail_at(c, line, col, "%s", msg);
}

/* \x, \u, \U: nd hex digits at s[i] (i just past the letter e) as one code point. */
static uint32_t lex_hex_escape(jctx *c, lexpos *lp, size_t i, size_t end, char e, int nd) {
    const char *s = c->src;
    uint32_t cp = 0;
    for (int k = 0; k < nd; k++) {
        int h = i + (size_t)k < end ? hexval(s[i + k]) : -1;
        if (h < 0) lex_fail(c, lp, i - 2, "truncated \\%cXXXX escape in a string literal", e);
        cp = cp * 16 + (uint32_t)h;
    }
    if (cp > 0x10ffff)
        lex_fail(c, lp, i + (size_t)nd, "illegal Unicode character in a string literal");
    return cp;
}

/* A string literal's value: Python's unicode-escape decoding, as jinja2 applies it. */
static jv lex_string(jctx *c, lexpos *lp, size_t start, size_t end) {
    static const char from[] = "\\'\"abfnrtv", to[] = "\\'\"\a\b\f\n\r\t\v";
    sbuf b = {0};
    const char *s = c->src;
    for (size_t i = start; i < end;) {
        if (s[i] != '\\' || i + 1 >= end) {
            sb_putc(c, &b, s[i++]);
            continue;
        }
        char e = s[i + 1];
        const char *simple = e ? strchr(from, e) : NULL;
        i += 2;
        if (e == '\n') /* a backslash-newline continues the line */
            continue;
        if (simple)
            sb_putc(c, &b, to[simple - from]);
        else if (e == 'x' || e == 'u' || e == 'U') {
            int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            sb_put_cp(c, &b, lex_hex_escape(c, lp, i, end, e, nd));
            i += (size_t)nd;
        } else if (e >= '0' && e <= '7') {
            uint32_t cp = (uint32_t)(e - '0');
            for (int k = 0; k < 2 && i < end && s[i] >= '0' && s[i] <= '7'; k++)
                cp = cp * 8 + (uint32_t)(s[i++] - '0');
            sb_put_cp(c, &b, cp);
        } else {
            sb_putc(c, &b, '\\');
            sb_putc(c, &b, e);
        }
    }
    return jv_sb(c, &b);
}

/* Where the scan stands between tags: the pending text starts at text_start; line_starting says
 * whether it starts a line (for lstrip_blocks). */
typedef struct {
    lexpos lp;
    size_t text_start;
    int line_starting;
} lexstate;

/* Text resumes at end, just past a closing tag: '-' eats the whitespace that follows, and a tag
 * with trim_nl (a block or comment, with no '+') eats one newline (trim_blocks). */
static void lex_resume(jctx *c, lexstate *L, size_t end, char esign, int trim_nl) {
    const char *s = c->src;
    size_t n = c->srclen;
    if (esign == '-') {
        while (end < n && is_ws(s[end]))
            end++;
    } else if (trim_nl && esign != '+' && end < n && s[end] == '\n')
        end++;
    L->line_starting = s[end - 1] == '\n';
    L->text_start = end;
}

/* The end of the text before the tag at p: '-' strips trailing whitespace; otherwise a block or
 * comment tag alone on its line after only blanks strips those blanks (lstrip_blocks). */
static size_t lex_text_end(jctx *c, lexstate *L, size_t p, char kind, char sign) {
    const char *s = c->src;
    size_t te = p, ts = L->text_start;
    if (sign == '-') {
        while (te > ts && is_ws(s[te - 1]))
            te--;
    } else if (sign != '+' && kind != '{') {
        size_t ls = te;
        while (ls > ts && s[ls - 1] != '\n')
            ls--;
        if ((ls > ts || L->line_starting) && ls < te) {
            size_t k = ls;
            while (k < te && is_ws(s[k]) && s[k] != '\n')
                k++;
            if (k == te) te = ls;
        }
    }
    return te;
}

/* {# ... #} opening at p, its text starting at q */
static void lex_comment(jctx *c, lexstate *L, size_t p, size_t q) {
    const char *s = c->src, *e = NULL;
    size_t n = c->srclen;
    for (size_t k = q; k + 1 < n; k++)
        if (s[k] == '#' && s[k + 1] == '}') {
            e = s + k;
            break;
        }
    if (!e) lex_fail(c, &L->lp, p, "missing end of comment tag");
    char esign = e > s + q && (e[-1] == '-' || e[-1] == '+') ? e[-1] : 0;
    lex_resume(c, L, (size_t)(e - s) + 2, esign, 1);
}

/* An integer or float literal at pos (digits may be grouped by '_'); returns the end. */
static size_t lex_number(jctx *c, lexstate *L, size_t pos) {
    const char *s = c->src;
    size_t n = c->srclen, k = pos;
    int isf = 0;
    while (k < n && (is_dig(s[k]) || (s[k] == '_' && k + 1 < n && is_dig(s[k + 1]))))
        k++;
    if (k + 1 < n && s[k] == '.' && is_dig(s[k + 1])) {
        isf = 1;
        k++;
        while (k < n && (is_dig(s[k]) || (s[k] == '_' && k + 1 < n && is_dig(s[k + 1]))))
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
    tok *t = tok_push(c, &L->lp, isf ? T_FLOAT : T_INT, pos, s + pos, k - pos);
    if (isf)
        t->v = jv_float(strtod(num, NULL));
    else {
        errno = 0;
        long long v = strtoll(num, NULL, 10);
        if (errno || nn >= sizeof num - 1)
            jfail_at(c, t->line, t->col, "integer literal too large");
        t->v = jv_int(v);
    }
    return k;
}

/* A quoted string literal at pos; returns the end. */
static size_t lex_quoted(jctx *c, lexstate *L, size_t pos) {
    const char *s = c->src;
    size_t n = c->srclen, k = pos + 1;
    while (k < n && s[k] != s[pos])
        k += (s[k] == '\\' && k + 1 < n) ? 2 : 1;
    if (k >= n) lex_fail(c, &L->lp, pos, "unexpected end of string literal");
    tok *t = tok_push(c, &L->lp, T_STR, pos, s + pos, k + 1 - pos);
    t->v = lex_string(c, &L->lp, pos + 1, k);
    return k + 1;
}

/* An operator at pos, tracking bracket depth; returns the end. */
static size_t lex_op(jctx *c, lexstate *L, size_t pos, int *depth) {
    static const char *const ops2[] = {"//", "**", "==", "!=", "<=", ">="};
    static const char ops1[] = "+-*/%~<>=()[]{},.:|";
    const char *s = c->src;
    size_t n = c->srclen, len = 0;
    char ch = s[pos];
    for (size_t k = 0; k < sizeof ops2 / sizeof ops2[0]; k++)
        if (pos + 1 < n && s[pos] == ops2[k][0] && s[pos + 1] == ops2[k][1]) len = 2;
    if (!len && strchr(ops1, ch) && ch) len = 1;
    tok *t = tok_push(c, &L->lp, T_OP, pos, s + pos, len ? len : 1);
    if (!len) jfail_at(c, t->line, t->col, "unexpected char '%c'", ch);
    if (ch == '(' || ch == '[' || ch == '{')
        (*depth)++;
    else if (ch == ')' || ch == ']' || ch == '}') {
        if (*depth == 0) jfail_at(c, t->line, t->col, "unexpected '%c'", ch);
        (*depth)--;
    }
    return pos + len;
}

/* Whether the tag of this kind ('{' or '%') closes at pos ("}}", "%}", "-%}", "+%}", "-}}");
 * if so pushes the closing token and resumes the text after it. */
static int lex_tag_close(jctx *c, lexstate *L, size_t pos, char kind) {
    const char *s = c->src;
    size_t n = c->srclen, k = pos;
    char ec = kind == '{' ? '}' : '%', esign = 0;
    if ((s[k] == '-' || s[k] == '+') && k + 2 < n && s[k + 1] == ec && s[k + 2] == '}')
        esign = s[k++];
    if (!(k + 1 < n && s[k] == ec && s[k + 1] == '}' && (esign != '+' || kind == '%'))) return 0;
    tok_push(c, &L->lp, kind == '{' ? T_VEND : T_BEND, pos, s + pos, k + 2 - pos);
    lex_resume(c, L, k + 2, esign, kind == '%');
    return 1;
}

/* The tokens of a {{ }} or {% %} tag whose contents start at q. */
static void lex_tag(jctx *c, lexstate *L, size_t q, char kind) {
    const char *s = c->src;
    size_t n = c->srclen, pos = q;
    int depth = 0;
    for (;;) {
        while (pos < n && is_ws(s[pos]))
            pos++;
        if (pos >= n)
            lex_fail(c, &L->lp, pos, "unexpected end of template, expected '%s'",
                     kind == '{' ? "}}" : "%}");
        if (depth == 0 && lex_tag_close(c, L, pos, kind)) return;
        char ch = s[pos];
        if (is_id0(ch)) {
            size_t k = pos;
            while (k < n && (is_id0(s[k]) || is_dig(s[k])))
                k++;
            tok_push(c, &L->lp, T_NAME, pos, s + pos, k - pos);
            pos = k;
        } else if (is_dig(ch))
            pos = lex_number(c, L, pos);
        else if (ch == '\'' || ch == '"')
            pos = lex_quoted(c, L, pos);
        else
            pos = lex_op(c, L, pos, &depth);
    }
}

/* After {% raw %} (opened at p): everything up to {% endraw %} is text. */
static void lex_raw(jctx *c, lexstate *L, size_t p) {
    const char *s = c->src;
    size_t n = c->srclen, ts = L->text_start, k = ts, rs = 0, re = 0;
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
    if (!rs) lex_fail(c, &L->lp, p, "missing end of raw directive");
    size_t te = rs;
    if (s[rs + 2] == '-')
        while (te > ts && is_ws(s[te - 1]))
            te--;
    if (te > ts) tok_push(c, &L->lp, T_TEXT, ts, s + ts, te - ts);
    tok_push(c, &L->lp, T_BBEGIN, rs, s + rs, 2);
    tok_push(c, &L->lp, T_NAME, re - 6, s + re - 6, 6);
    while (re < n && is_ws(s[re]))
        re++;
    char esign = 0;
    if (re < n && (s[re] == '-' || s[re] == '+')) esign = s[re++];
    if (re + 1 >= n || s[re] != '%' || s[re + 1] != '}')
        lex_fail(c, &L->lp, re, "expected '%%}' after endraw");
    tok_push(c, &L->lp, T_BEND, re, s + re, 2);
    lex_resume(c, L, re + 2, esign, 1);
}

void lex_template(jctx *c) {
    const char *s = c->src;
    size_t n = c->srclen;
    lexstate L = {{0, 1, 1}, 0, 1};
    for (;;) {
        size_t p = L.text_start, ts = L.text_start;
        for (; p + 1 < n; p++)
            if (s[p] == '{' && (s[p + 1] == '{' || s[p + 1] == '%' || s[p + 1] == '#')) break;
        if (p + 1 >= n) {
            if (ts < n) tok_push(c, &L.lp, T_TEXT, ts, s + ts, n - ts);
            break;
        }
        char kind = s[p + 1];
        char sign = (p + 2 < n && (s[p + 2] == '-' || s[p + 2] == '+')) ? s[p + 2] : 0;
        size_t te = lex_text_end(c, &L, p, kind, sign);
        if (te > ts) tok_push(c, &L.lp, T_TEXT, ts, s + ts, te - ts);
        size_t q = p + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            lex_comment(c, &L, p, q);
            continue;
        }
        size_t first_tok = c->ntok;
        tok_push(c, &L.lp, kind == '{' ? T_VBEGIN : T_BBEGIN, p, s + p, q - p);
        lex_tag(c, &L, q, kind);
        if (kind == '%' && c->ntok - first_tok == 3 && c->toks[first_tok + 1].t == T_NAME &&
            c->toks[first_tok + 1].n == 3 && !memcmp(c->toks[first_tok + 1].p, "raw", 3))
            lex_raw(c, &L, p);
    }
    tok_push(c, &L.lp, T_EOF, n, s + n, 0);
}
