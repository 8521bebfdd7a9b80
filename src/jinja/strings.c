/* strings.c — Python's str algorithms the methods and filters share: case mapping (ASCII only, as
 * the templates need), strip, replace, split, splitlines, '%' formatting and str.format, HTML
 * escaping. Which name calls which is methods.c's and filters.c's business. */
#include "jinja_int.h"

#include <stdio.h>
#include <stdlib.h>

jv str_map(jctx *c, const jv *s, char (*fn)(char)) {
    char *o = arena_alloc(c, s->u.s.n + 1);
    for (size_t i = 0; i < s->u.s.n; i++)
        o[i] = fn(s->u.s.p[i]);
    o[s->u.s.n] = 0;
    return jv_strn(o, s->u.s.n);
}
jv str_capitalize(jctx *c, const jv *s) {
    jv r = str_map(c, s, lo);
    if (r.u.s.n) ((char *)r.u.s.p)[0] = up(r.u.s.p[0]);
    return r;
}
/* Python str.title(): a letter after a non-letter is upper-cased, others lower-cased. */
jv str_title_py(jctx *c, const jv *s) {
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
jv str_title_jinja(jctx *c, const jv *s) {
    jv r = str_map(c, s, lo);
    char *o = (char *)r.u.s.p;
    int start = 1;
    for (size_t i = 0; i < r.u.s.n; i++) {
        char ch = o[i];
        if (is_ws(ch) || (ch && strchr("-([{<", ch))) {
            start = 1;
            continue;
        }
        if (start) o[i] = up(ch);
        start = 0;
    }
    return r;
}

static int in_chars(uint32_t cp, const jv *chars) {
    if (!chars) return u8_isspace(cp);
    for (size_t i = 0; i < chars->u.s.n;)
        if (u8_next(chars->u.s.p, chars->u.s.n, &i) == cp) return 1;
    return 0;
}
jv str_strip(jctx *c, const jv *s, const jv *chars, int which) {
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

jv str_replace(jctx *c, const jv *s, const jv *old, const jv *new_, int64_t count) {
    jstep(c, s->u.s.n >> 10);
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

jv str_split(jctx *c, const jv *s, const jv *sep, int64_t maxsplit, int right) {
    jstep(c, s->u.s.n >> 10);
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
                    jlist_push(c, r.u.l, jv_strn(p + i, n - i));
                    break;
                }
                jlist_push(c, r.u.l, jv_strn(p + i, (size_t)(h - p) - i));
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
                    jlist_push(c, tmp.u.l, jv_strn(p, e));
                    break;
                }
                jlist_push(c, tmp.u.l, jv_strn(h + sep->u.s.n, e - (size_t)(h - p) - sep->u.s.n));
                e = (size_t)(h - p);
                k++;
            }
            for (size_t j = tmp.u.l->n; j-- > 0;)
                jlist_push(c, r.u.l, tmp.u.l->v[j]);
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
            if (!u8_isspace(u8_next(p, n, &j))) break;
            st = j;
        }
        if (st >= n) break;
        if (maxsplit >= 0 && k >= maxsplit) {
            jv rest = str_strip(c, &(jv){.k = JV_STR, .u.s = {p + st, n - st}}, NULL, 2);
            jlist_push(c, r.u.l, rest);
            break;
        }
        size_t e = st;
        while (e < n) {
            j = e;
            if (u8_isspace(u8_next(p, n, &j))) break;
            e = j;
        }
        jlist_push(c, r.u.l, jv_strn(p + st, e - st));
        k++;
        i = e;
    }
    (void)right;
    return r;
}

/* str.splitlines() (keepends=False) */
jv str_splitlines(jctx *c, const char *p, size_t n) {
    jv r = jv_list_new(c, 0);
    size_t i = 0, st = 0;
    while (i < n) {
        size_t here = i;
        uint32_t cp = u8_next(p, n, &i);
        if (cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' || cp == 0x1c || cp == 0x1d ||
            cp == 0x1e || cp == 0x85 || cp == 0x2028 || cp == 0x2029) {
            jlist_push(c, r.u.l, jv_strn(p + st, here - st));
            if (cp == '\r' && i < n && p[i] == '\n') i++;
            st = i;
        }
    }
    if (st < n) jlist_push(c, r.u.l, jv_strn(p + st, n - st));
    return r;
}

jv jv_need_str(jctx *c, const jv *v, const char *what) {
    if (v->k == JV_STR) return *v;
    rfail(c, "%s: expected a string, got '%s'", what, jv_type_name(v));
}

/* Python's printf-style '%' with %s %r %d %i %f %e %g %x %o %c %% and flags/width/precision. */
jv str_percent_format(jctx *c, const jv *fmt, const jv *args) {
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
        while (i < n && p[i] && strchr("-+ #0", p[i]))
            if (sl < 8)
                spec[sl++] = p[i++];
            else
                i++;
        /* width and precision are numbers the budget bounds, not text copied into the spec */
        long width = -1, prec = -1;
        for (; i < n && is_dig(p[i]); i++)
            if ((width = (width < 0 ? 0 : width) * 10 + (p[i] - '0')) > JINJA_MAX_FORMAT)
                rfail(c, "format width larger than %d", JINJA_MAX_FORMAT);
        if (i < n && p[i] == '.')
            for (prec = 0, i++; i < n && is_dig(p[i]); i++)
                if ((prec = prec * 10 + (p[i] - '0')) > JINJA_MAX_FORMAT)
                    rfail(c, "format precision larger than %d", JINJA_MAX_FORMAT);
        if (width >= 0) sl += (size_t)snprintf(spec + sl, sizeof spec - sl, "%ld", width);
        if (prec >= 0) sl += (size_t)snprintf(spec + sl, sizeof spec - sl, ".%ld", prec);
        if (i >= n) rfail(c, "incomplete format");
        char conv = p[i];
        if (conv == '%') {
            sb_putc(c, &o, '%');
            continue;
        }
        if (ai >= argc) rfail(c, "not enough arguments for format string");
        const jv *a = &argv[ai++];
        /* a number is at most 320 digits before the point, then the precision and the width */
        size_t tcap = 400 + (size_t)(width > 0 ? width : 0) + (size_t)(prec > 0 ? prec : 0);
        char *tmp = arena_alloc(c, tcap);
        if (conv == 's' || conv == 'r') {
            sbuf s = {0};
            if (conv == 's')
                jv_write_str(c, &s, a);
            else
                jv_write_repr(c, &s, a);
            /* by code points, as Python counts, and byte-exact (a NUL is data) */
            size_t ncp, *off = u8_offsets(c, s.p, s.n, &ncp);
            if (prec >= 0 && (size_t)prec < ncp) ncp = (size_t)prec;
            size_t pad = width > 0 && (size_t)width > ncp ? (size_t)width - ncp : 0;
            int left = memchr(spec, '-', sl) != NULL;
            for (size_t k = 0; !left && k < pad; k++)
                sb_putc(c, &o, ' ');
            sb_put(c, &o, s.p, off[ncp]);
            for (size_t k = 0; left && k < pad; k++)
                sb_putc(c, &o, ' ');
        } else if (conv && strchr("diouxXc", conv)) {
            if (!is_num(a))
                rfail(c, "%%%c format: a real number is required, not %s", conv, jv_type_name(a));
            if (conv == 'i' || conv == 'u') conv = 'd';
            if (conv == 'c') {
                if (num_i(a) < 0 || num_i(a) > 0x10FFFF) rfail(c, "%%c arg not in range(0x110000)");
                sb_put_cp(c, &o, (uint32_t)num_i(a));
                continue;
            }
            spec[sl++] = 'l';
            spec[sl++] = 'l';
            spec[sl++] = conv;
            spec[sl] = 0;
            snprintf(tmp, tcap, spec, (long long)num_i(a));
            sb_puts(c, &o, tmp);
        } else if (conv && strchr("eEfFgG", conv)) {
            if (!is_num(a)) rfail(c, "must be real number, not %s", jv_type_name(a));
            spec[sl++] = conv;
            spec[sl] = 0;
            snprintf(tmp, tcap, spec, num_f(a));
            sb_puts(c, &o, tmp);
        } else
            rfail(c, "unsupported format character '%c' (0x%02x)", conv > 32 ? conv : '?',
                  (unsigned char)conv);
    }
    if (ai < argc && args->k == JV_LIST && args->tuple)
        rfail(c, "not all arguments converted during string formatting");
    return jv_sb(c, &o);
}

/* str.format() with {} {0} {name} fields (format specs other than empty are not supported). */
jv str_format(jctx *c, const jv *s, jargs *A) {
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
            if (!jargs_get(A, auto_i++, NULL, &v))
                rfail(c, "Replacement index %zu out of range for positional args tuple",
                      auto_i - 1);
        } else if (is_dig(f[0])) {
            size_t k = (size_t)atoi(f);
            if (!jargs_get(A, k, NULL, &v))
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
        jv_write_str(c, &o, &v);
        i = e;
    }
    return jv_sb(c, &o);
}

void sb_put_html(jctx *c, sbuf *b, const char *p, size_t n) {
    static const char *const to[] = {"&amp;", "&lt;", "&gt;", "&#34;", "&#39;"};
    for (size_t i = 0; i < n; i++) {
        const char *esc = escape_of((unsigned char)p[i], "&<>\"'", to);
        if (esc)
            sb_puts(c, b, esc);
        else
            sb_putc(c, b, p[i]);
    }
}

jv str_repeat(jctx *c, const jv *s, int64_t k) {
    sbuf b = {0};
    if (k > 0 && s->u.s.n && (uint64_t)k > JINJA_MAX_OUTPUT / s->u.s.n)
        rfail(c, "string repetition too large");
    for (int64_t i = 0; i < k; i++)
        sb_put(c, &b, s->u.s.p, s->u.s.n);
    return jv_sb(c, &b);
}
