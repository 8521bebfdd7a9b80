/* filters.c — jinja2's filters (`x | name(args)`) and tests (`x is name(args)`), each a function
 * in a table by name; the parser asks these tables which names exist. Python methods called on
 * values are in methods.c, string algorithms in strings.c. */
#include "jinja_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static jv attr_path(jctx *c, jv v, const jv *attr) {
    if (attr->k != JV_STR) return jv_getitem(c, &v, attr);
    const char *p = attr->u.s.p, *end = p + attr->u.s.n;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot) dot = end;
        size_t len = (size_t)(dot - p);
        int digits = len > 0;
        for (size_t i = 0; i < len; i++)
            digits &= is_dig(p[i]);
        jv key = digits ? jv_int(strtoll(p, NULL, 10)) : jv_strn(p, len);
        v = jv_getitem(c, &v, &key);
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
    kvpair *tmp = arena_alloc(c, n * sizeof(kvpair));
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

/* The values of kv sorted by key (stable), as a list. */
static jv sorted_values(jctx *c, kvpair *kv, size_t n, int reverse) {
    merge_sort(c, kv, n, reverse);
    jv r = jv_list_new(c, n);
    for (size_t i = 0; i < n; i++)
        jlist_push(c, r.u.l, kv[i].val);
    return r;
}

static jv select_impl(jctx *c, jv v, jargs *A, int by_attr, int reject) {
    /* jinja2 iterates only `if value:`, so none/empty give nothing */
    jv r = jv_list_new(c, 0), attr = jv_none(), tname;
    r.tuple = LK_GEN;
    if (!jv_truthy(&v)) return r;
    jlist *l = jv_iter(c, &v);
    size_t off = 0;
    if (by_attr) {
        if (!jargs_get(A, 0, NULL, &attr)) rfail(c, "selectattr/rejectattr need an attribute");
        off = 1;
    }
    int has_test = jargs_get(A, off, NULL, &tname);
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
            ok = test_apply(c, tname.u.s.p, tname.u.s.n, &x, &T);
        } else
            ok = jv_truthy(&x);
        if (ok != reject) jlist_push(c, r.u.l, l->v[i]);
    }
    return r;
}

static int64_t to_int_or(jctx *c, const jv *v, int64_t dflt, int base, int *ok) {
    *ok = 1;
    if (is_intlike(v)) return num_i(v);
    if (v->k == JV_FLOAT) {
        if (isnan(v->u.f)) { /* Python: ValueError, which jinja2's int filter turns into default */
            *ok = 0;
            return dflt;
        }
        /* Python makes a big int (or OverflowError for inf); lmc's ints are 64-bit */
        if (!float_fits_i64(v->u.f)) rfail(c, "int: %g does not fit in a 64-bit integer", v->u.f);
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
            char *e = buf; /* strtoll leaves e alone for a base it rejects (e.g. 1) */
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

/* ---- filters: each gets the value, the arguments and the name it was called by ------------- */
static jv f_default(jctx *c, jv v, jargs *A, const char *nm) {
    (void)c, (void)nm;
    jv dflt = jargs_or(A, 0, "default_value", jv_cstr("")),
       boolean = jargs_or(A, 1, "boolean", jv_bool(0));
    if (v.k == JV_UNDEF || (jv_truthy(&boolean) && !jv_truthy(&v))) return dflt;
    return v;
}

static jv f_length(jctx *c, jv v, jargs *A, const char *nm) {
    (void)A, (void)nm;
    switch (v.k) {
    case JV_STR:
        jstep(c, v.u.s.n >> 10);
        return jv_int((int64_t)u8_len(v.u.s.p, v.u.s.n));
    case JV_LIST:
        if (v.tuple == LK_GEN || v.tuple == LK_REVITER)
            rfail(c, "object of type '%s' has no len()", jv_type_name(&v));
        return jv_int((int64_t)v.u.l->n);
    case JV_DICT:
        return jv_int((int64_t)v.u.d->n);
    case JV_UNDEF:
        return jv_int(0);
    default:
        rfail(c, "object of type '%s' has no len()", jv_type_name(&v));
    }
}

/* transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) */
static jv f_tojson(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv ea = jargs_or(A, 0, "ensure_ascii", jv_bool(0)), ind = jargs_or(A, 1, "indent", jv_none()),
       sep = jargs_or(A, 2, "separators", jv_none()), sk = jargs_or(A, 3, "sort_keys", jv_bool(0));
    json_fmt jf = {0};
    jf.ensure_ascii = jv_truthy(&ea);
    jf.sort_keys = jv_truthy(&sk);
    if (ind.k == JV_STR) {
        jf.indent = ind.u.s.p;
        jf.indent_n = ind.u.s.n;
    } else if (is_intlike(&ind)) {
        int64_t k = num_i(&ind);
        if (k > 64) rfail(c, "tojson: indent too large");
        char *sp = arena_alloc(c, (size_t)(k > 0 ? k : 0) + 1);
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
    jv_write_json(c, &o, &v, &jf, 0);
    return jv_sb(c, &o);
}

static jv f_safe(jctx *c, jv v, jargs *A, const char *nm) {
    (void)A, (void)nm;
    jv r = jv_to_str(c, &v);
    r.safe = 1;
    return r;
}

/* escape, e, forceescape */
static jv f_escape(jctx *c, jv v, jargs *A, const char *nm) {
    (void)A;
    if (v.k == JV_STR && v.safe && strcmp(nm, "forceescape")) return v;
    jv s = jv_to_str(c, &v);
    sbuf o = {0};
    sb_put_html(c, &o, s.u.s.p, s.u.s.n);
    jv r = jv_sb(c, &o);
    r.safe = 1;
    return r;
}

static jv f_string(jctx *c, jv v, jargs *A, const char *nm) {
    (void)A, (void)nm;
    return jv_to_str(c, &v);
}

static jv f_trim(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv s = jv_to_str(c, &v), ch = jargs_or(A, 0, "chars", jv_none());
    if (ch.k != JV_NONE) {
        ch = jv_need_str(c, &ch, "trim");
        return str_strip(c, &s, &ch, 3);
    }
    return str_strip(c, &s, NULL, 3);
}

/* upper, lower, capitalize, title (jinja2's own word rule, not str.title) */
static jv f_case(jctx *c, jv v, jargs *A, const char *nm) {
    (void)A;
    jv s = jv_to_str(c, &v);
    switch (nm[0]) {
    case 'u':
        return str_map(c, &s, up);
    case 'l':
        return str_map(c, &s, lo);
    case 'c':
        return str_capitalize(c, &s);
    default:
        return str_title_jinja(c, &s);
    }
}

static jv f_replace(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv a0, a1, s = jv_to_str(c, &v);
    if (!jargs_get(A, 0, "old", &a0) || !jargs_get(A, 1, "new", &a1))
        rfail(c, "replace needs old and new");
    a0 = jv_to_str(c, &a0);
    a1 = jv_to_str(c, &a1);
    jv cnt = jargs_or(A, 2, "count", jv_none());
    return str_replace(c, &s, &a0, &a1, cnt.k == JV_NONE ? -1 : num_i(&cnt));
}

static jv f_center(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv s = jv_to_str(c, &v), w = jargs_or(A, 0, "width", jv_int(80));
    jargs B = {0};
    B.pos = &w;
    B.npos = 1;
    return method_call(c, &s, "center", &B);
}

static jv f_indent(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv w = jargs_or(A, 0, "width", jv_int(4)), first = jargs_or(A, 1, "first", jv_bool(0)),
       blank = jargs_or(A, 2, "blank", jv_bool(0));
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
    jv s0 = jv_to_str(c, &v);
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

static jv f_join(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv d = jargs_or(A, 0, "d", jv_cstr("")), attr = jargs_or(A, 1, "attribute", jv_none());
    jlist *l = jv_iter(c, &v);
    jv ds = jv_to_str(c, &d);
    sbuf o = {0};
    for (size_t i = 0; i < l->n; i++) {
        if (i) sb_put(c, &o, ds.u.s.p, ds.u.s.n);
        jv x = attr.k != JV_NONE ? attr_path(c, l->v[i], &attr) : l->v[i];
        jv_write_str(c, &o, &x);
    }
    return jv_sb(c, &o);
}

/* first, last */
static jv f_first(jctx *c, jv v, jargs *A, const char *nm) {
    (void)A;
    int first = nm[0] == 'f';
    jlist *l = jv_iter(c, &v);
    if (!l->n)
        return jv_undef_msg(
            c, first ? "No first item, sequence was empty." : "No last item, sequence was empty.",
            first ? 34 : 33);
    return first ? l->v[0] : l->v[l->n - 1];
}

static jv f_list(jctx *c, jv v, jargs *A, const char *nm) {
    (void)A, (void)nm;
    jlist *l = jv_iter(c, &v);
    jv r = jv_list_new(c, l->n);
    for (size_t i = 0; i < l->n; i++)
        jlist_push(c, r.u.l, l->v[i]);
    return r;
}

static jv f_reverse(jctx *c, jv v, jargs *A, const char *nm) {
    (void)A, (void)nm;
    if (v.k == JV_STR) {
        jv none = jv_none(), m1 = jv_int(-1);
        return jv_slice(c, &v, &none, &none, &m1);
    }
    if (v.k == JV_LIST && !is_seq(&v)) rfail(c, "'%s' object is not reversible", jv_type_name(&v));
    jlist *l = jv_iter(c, &v);
    jv r = jv_list_new(c, l->n);
    r.tuple = LK_REVITER;
    for (size_t i = l->n; i-- > 0;)
        jlist_push(c, r.u.l, l->v[i]);
    return r;
}

static jv f_items(jctx *c, jv v, jargs *A, const char *nm) {
    (void)A, (void)nm;
    jv r = jv_list_new(c, 0);
    r.tuple = LK_GEN;
    if (v.k == JV_UNDEF) return r;
    if (v.k != JV_DICT) rfail(c, "Can only get item pairs from a mapping.");
    jargs B = {0};
    r = method_call(c, &v, "items", &B);
    r.tuple = LK_GEN;
    return r;
}

static jv f_dictsort(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    if (v.k != JV_DICT) rfail(c, "You can only sort by either \"key\" or \"value\"");
    jv cs = jargs_or(A, 0, "case_sensitive", jv_bool(0)), by = jargs_or(A, 1, "by", jv_cstr("key")),
       rev = jargs_or(A, 2, "reverse", jv_bool(0));
    int by_val = by.k == JV_STR && by.u.s.n == 5 && !memcmp(by.u.s.p, "value", 5);
    if (!by_val && !(by.k == JV_STR && by.u.s.n == 3 && !memcmp(by.u.s.p, "key", 3)))
        rfail(c, "You can only sort by either \"key\" or \"value\"");
    size_t n = v.u.d->n;
    kvpair *kv = arena_alloc(c, (n + 1) * sizeof(kvpair));
    for (size_t i = 0; i < n; i++) {
        jv t = jv_list_new(c, 2);
        t.tuple = 1;
        jlist_push(c, t.u.l, v.u.d->k[i]);
        jlist_push(c, t.u.l, v.u.d->v[i]);
        kv[i].key = lower_if_str(c, by_val ? v.u.d->v[i] : v.u.d->k[i], jv_truthy(&cs));
        kv[i].val = t;
    }
    return sorted_values(c, kv, n, jv_truthy(&rev));
}

/* sort, unique, min, max: all compare keys (attribute= picks them, case-insensitive by default) */
static jv f_sort(jctx *c, jv v, jargs *A, const char *nm) {
    int is_sort = !strcmp(nm, "sort"), is_uniq = !strcmp(nm, "unique");
    jv rev = is_sort ? jargs_or(A, 0, "reverse", jv_bool(0)) : jv_bool(0);
    jv cs = jargs_or(A, is_sort ? 1 : 0, "case_sensitive", jv_bool(0));
    jv attr = jargs_or(A, is_sort ? 2 : 1, "attribute", jv_none());
    jlist *l = jv_iter(c, &v);
    kvpair *kv = arena_alloc(c, (l->n + 1) * sizeof(kvpair));
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        jv key = attr.k != JV_NONE ? attr_path(c, l->v[i], &attr) : l->v[i];
        key = lower_if_str(c, key, jv_truthy(&cs));
        if (is_uniq) {
            int seen = 0;
            for (size_t j = 0; j < n && !seen; j++)
                seen = jv_eq(c, &kv[j].key, &key);
            if (seen) continue;
        }
        kv[n].key = key;
        kv[n++].val = l->v[i];
    }
    if (is_uniq) {
        jv r = jv_list_new(c, n);
        r.tuple = LK_GEN;
        for (size_t i = 0; i < n; i++)
            jlist_push(c, r.u.l, kv[i].val);
        return r;
    }
    if (is_sort) return sorted_values(c, kv, n, jv_truthy(&rev));
    if (!n) return jv_undef_msg(c, "No aggregated item, sequence was empty.", 39);
    size_t best = 0;
    for (size_t i = 1; i < n; i++) {
        int r = jv_cmp(c, &kv[i].key, &kv[best].key, "<");
        if (!strcmp(nm, "min") ? r < 0 : r > 0) best = i;
    }
    return kv[best].val;
}

static jv f_map(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv r = jv_list_new(c, 0), attr, a0;
    r.tuple = LK_GEN;
    if (!jv_truthy(&v)) return r;
    jlist *l = jv_iter(c, &v);
    if (jargs_get(A, SIZE_MAX, "attribute", &attr)) {
        jv dflt;
        int has_d = jargs_get(A, SIZE_MAX, "default", &dflt);
        for (size_t i = 0; i < l->n; i++) {
            jv x = attr_path(c, l->v[i], &attr);
            jlist_push(c, r.u.l, (x.k == JV_UNDEF && has_d) ? dflt : x);
        }
        return r;
    }
    if (!jargs_get(A, 0, NULL, &a0) || a0.k != JV_STR)
        rfail(c, "map: a filter name or attribute= is required");
    int sup;
    if (!filter_known(a0.u.s.p, a0.u.s.n, &sup) || !sup)
        rfail(c, "No filter named '%.*s'.", (int)a0.u.s.n, a0.u.s.p);
    jargs B = *A;
    B.pos = A->pos + 1;
    B.npos = A->npos - 1;
    for (size_t i = 0; i < l->n; i++)
        jlist_push(c, r.u.l, filter_apply(c, a0.u.s.p, a0.u.s.n, l->v[i], &B));
    return r;
}

/* select, reject, selectattr, rejectattr */
static jv f_select(jctx *c, jv v, jargs *A, const char *nm) {
    return select_impl(c, v, A, strstr(nm, "attr") != NULL, nm[0] == 'r');
}

static jv f_int(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv d = jargs_or(A, 0, "default", jv_int(0)), base = jargs_or(A, 1, "base", jv_int(10));
    int ok;
    int64_t r = to_int_or(c, &v, 0, (int)num_i(&base), &ok);
    return ok ? jv_int(r) : d;
}

static jv f_float(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv d = jargs_or(A, 0, "default", jv_float(0.0));
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

static jv f_abs(jctx *c, jv v, jargs *A, const char *nm) {
    (void)A, (void)nm;
    if (v.k == JV_FLOAT) return jv_float(fabs(v.u.f));
    if (is_intlike(&v)) {
        if (num_i(&v) == INT64_MIN) rfail(c, "integer overflow");
        return jv_int(num_i(&v) < 0 ? -num_i(&v) : num_i(&v));
    }
    rfail(c, "bad operand type for abs(): '%s'", jv_type_name(&v));
}

static jv f_round(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv pr = jargs_or(A, 0, "precision", jv_int(0)),
       meth = jargs_or(A, 1, "method", jv_cstr("common"));
    int64_t p = num_i(&pr);
    if (!is_num(&v)) rfail(c, "type %s doesn't define __round__ method", jv_type_name(&v));
    if (meth.k != JV_STR) rfail(c, "method must be common, ceil or floor");
    double x = num_f(&v);
    if (is_intlike(&v) && p >= 0) return jv_int(num_i(&v));
    /* Huge precisions (either sign) must not reach pow() or the text buffer: a double has nothing
     * to round past 340 digits or at |x| >= 2^53, and 10^-308 rounds everything to zero. */
    if (!isfinite(x) || (p >= 0 && fabs(x) >= 9007199254740992.0)) return jv_float(x);
    if (p < -308) return jv_float(x * 0.0);
    if (p > 340) p = 340;
    if (meth.u.s.n == 6 && !memcmp(meth.u.s.p, "common", 6)) {
        if (p < 0) {
            double m = pow(10.0, (double)p);
            return jv_float(rint(x * m) / m);
        }
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)p, x);
        return jv_float(strtod(buf, NULL));
    }
    if (p > 300) p = 300;
    double m = pow(10.0, (double)p);
    if (meth.u.s.n == 4 && !memcmp(meth.u.s.p, "ceil", 4)) return jv_float(ceil(x * m) / m);
    if (meth.u.s.n == 5 && !memcmp(meth.u.s.p, "floor", 5)) return jv_float(floor(x * m) / m);
    rfail(c, "method must be common, ceil or floor");
}

static jv f_sum(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv attr = jargs_or(A, 0, "attribute", jv_none()), total = jargs_or(A, 1, "start", jv_int(0));
    jlist *l = jv_iter(c, &v);
    for (size_t i = 0; i < l->n; i++) {
        jv x = attr.k != JV_NONE ? attr_path(c, l->v[i], &attr) : l->v[i];
        total = jv_binop(c, OP_ADD, &total, &x);
    }
    return total;
}

static jv f_wordcount(jctx *c, jv v, jargs *A, const char *nm) {
    (void)A, (void)nm;
    jv s = jv_to_str(c, &v);
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

/* "fmt" | format(args...): Python's '%' with the arguments as a tuple */
static jv f_format(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv s = jv_to_str(c, &v);
    if (A->nkw) rfail(c, "format: keyword arguments are not supported");
    jv t = jv_list_new(c, A->npos);
    t.tuple = 1;
    for (size_t i = 0; i < A->npos; i++)
        jlist_push(c, t.u.l, A->pos[i]);
    return str_percent_format(c, &s, &t);
}

static jv f_attr(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv a0;
    if (!jargs_get(A, 0, "name", &a0) || a0.k != JV_STR) rfail(c, "attr: a name is required");
    /* Python attributes only: a dict's keys are not attributes */
    if (v.k == JV_DICT && !method_find(&v, a0.u.s.p, a0.u.s.n)) return jv_undef_member(c, &v, &a0);
    return jv_getattr(c, &v, a0.u.s.p, a0.u.s.n);
}

static jv f_batch(jctx *c, jv v, jargs *A, const char *nm) {
    (void)nm;
    jv cnt = jargs_or(A, 0, "linecount", jv_int(1)), fill = jargs_or(A, 1, "fill_with", jv_none());
    int has_fill = jargs_get(A, 1, "fill_with", &fill);
    int64_t k = num_i(&cnt);
    if (k <= 0) rfail(c, "batch: linecount must be positive");
    jlist *l = jv_iter(c, &v);
    /* the padding of the last batch is made here: bound it as range() is bounded */
    if (has_fill && k > (int64_t)l->n + 100000) rfail(c, "batch: linecount too large to fill");
    jstep(c, l->n >> 6);
    jv r = jv_list_new(c, 0), cur = jv_list_new(c, 0);
    r.tuple = LK_GEN;
    for (size_t i = 0; i < l->n; i++) {
        jlist_push(c, cur.u.l, l->v[i]);
        if ((int64_t)cur.u.l->n == k) {
            jlist_push(c, r.u.l, cur);
            cur = jv_list_new(c, 0);
        }
    }
    if (cur.u.l->n) {
        if (has_fill)
            while ((int64_t)cur.u.l->n < k)
                jlist_push(c, cur.u.l, fill);
        jlist_push(c, r.u.l, cur);
    }
    return r;
}

/* jinja2's builtin filters; those without a function are known to jinja2 but not supported here
 * (a template using one fails to parse with a clear message). */
static const struct {
    const char *name;
    jv (*fn)(jctx *c, jv v, jargs *A, const char *nm);
} FILTERS[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"batch", f_batch},
    {"capitalize", f_case},
    {"center", f_center},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"filesizeformat", NULL},
    {"first", f_first},
    {"float", f_float},
    {"forceescape", f_escape},
    {"format", f_format},
    {"groupby", NULL},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", f_first},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_case},
    {"map", f_map},
    {"max", f_sort},
    {"min", f_sort},
    {"pprint", NULL},
    {"random", NULL},
    {"reject", f_select},
    {"rejectattr", f_select},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_select},
    {"slice", NULL},
    {"sort", f_sort},
    {"string", f_string},
    {"striptags", NULL},
    {"sum", f_sum},
    {"title", f_case},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"truncate", NULL},
    {"unique", f_sort},
    {"upper", f_case},
    {"urlencode", NULL},
    {"urlize", NULL},
    {"wordcount", f_wordcount},
    {"wordwrap", NULL},
    {"xmlattr", NULL},
};

static int filter_index(const char *p, size_t n) {
    for (size_t i = 0; i < sizeof FILTERS / sizeof FILTERS[0]; i++)
        if (strlen(FILTERS[i].name) == n && !memcmp(FILTERS[i].name, p, n)) return (int)i;
    return -1;
}

int filter_known(const char *p, size_t n, int *supported) {
    int i = filter_index(p, n);
    *supported = i >= 0 && FILTERS[i].fn;
    return i >= 0;
}

jv filter_apply(jctx *c, const char *name, size_t nlen, jv v, jargs *A) {
    int i = filter_index(name, nlen);
    if (i < 0 || !FILTERS[i].fn) rfail(c, "filter '%.*s' is not supported", (int)nlen, name);
    return FILTERS[i].fn(c, v, A, FILTERS[i].name);
}

/* ---- tests: `v is name(a)`, a the first positional argument where the test takes one ------- */
static int t_true(jctx *c, const jv *v, const jv *a, const char *nm) {
    (void)c, (void)a;
    return v->k == JV_BOOL && (nm[0] == 't' ? v->u.b : !v->u.b);
}

static int t_sequence(jctx *c, const jv *v, const jv *a, const char *nm) {
    (void)c, (void)a, (void)nm;
    return v->k == JV_STR || (v->k == JV_LIST && is_seq(v)) || v->k == JV_DICT || v->k == JV_UNDEF;
}

static int t_escaped(jctx *c, const jv *v, const jv *a, const char *nm) {
    (void)c, (void)a, (void)nm;
    return v->k == JV_STR && v->safe;
}

/* lower, upper: str.islower() / str.isupper() */
static int t_case(jctx *c, const jv *v, const jv *a, const char *nm) {
    (void)a;
    if (v->k != JV_STR) return 0;
    jargs B = {0};
    jv r = method_call(c, v, nm[0] == 'l' ? "islower" : "isupper", &B);
    return r.u.b;
}

/* filter, test: whether a filter / test of that name exists */
static int t_known(jctx *c, const jv *v, const jv *a, const char *nm) {
    (void)c, (void)a;
    int sup;
    if (v->k != JV_STR) return 0;
    return nm[0] == 'f' ? filter_known(v->u.s.p, v->u.s.n, &sup) && sup
                        : test_known(v->u.s.p, v->u.s.n, &sup);
}

/* odd, even */
static int t_odd(jctx *c, const jv *v, const jv *a, const char *nm) {
    (void)a;
    jv two = jv_int(2), r = jv_binop(c, OP_MOD, v, &two);
    return nm[0] == 'o' ? jv_truthy(&r) : !jv_truthy(&r);
}

/* eq, ne, lt, le, gt, ge and their aliases */
static int t_compare(jctx *c, const jv *v, const jv *a, const char *nm) {
    if (!strcmp(nm, "eq") || !strcmp(nm, "equalto")) return jv_eq(c, v, a);
    if (!strcmp(nm, "ne")) return !jv_eq(c, v, a);
    if (!strcmp(nm, "lt") || !strcmp(nm, "lessthan")) return jv_cmp(c, v, a, "<") < 0;
    if (!strcmp(nm, "le")) return jv_cmp(c, v, a, "<=") <= 0;
    if (!strcmp(nm, "gt") || !strcmp(nm, "greaterthan")) return jv_cmp(c, v, a, ">") > 0;
    return jv_cmp(c, v, a, ">=") >= 0;
}

static int t_in(jctx *c, const jv *v, const jv *a, const char *nm) {
    (void)nm;
    return jv_contains(c, a, v);
}

static int t_sameas(jctx *c, const jv *v, const jv *a, const char *nm) {
    (void)c, (void)nm;
    if (v->k != a->k) return 0;
    if (v->k == JV_LIST) return v->u.l == a->u.l;
    if (v->k == JV_DICT || v->k == JV_NS) return v->u.d == a->u.d;
    return jv_eq(c, v, a);
}

static int t_divisibleby(jctx *c, const jv *v, const jv *a, const char *nm) {
    (void)nm;
    jv r = jv_binop(c, OP_MOD, v, a);
    return !jv_truthy(&r);
}

#define K(kind) (1u << (kind))
/* jinja2's builtin tests. A test without a function is true when the value's kind is in `kinds`;
 * one with needs_arg fails without a first positional argument. */
static const struct {
    const char *name;
    int (*fn)(jctx *c, const jv *v, const jv *a, const char *nm);
    unsigned kinds;
    int needs_arg;
} TESTS[] = {
    {"boolean", NULL, K(JV_BOOL), 0},
    {"callable", NULL, K(JV_MACRO) | K(JV_FUNC) | K(JV_METHOD), 0},
    {"defined", NULL, ~K(JV_UNDEF), 0},
    {"divisibleby", t_divisibleby, 0, 1},
    {"eq", t_compare, 0, 1},
    {"equalto", t_compare, 0, 1},
    {"escaped", t_escaped, 0, 0},
    {"even", t_odd, 0, 0},
    {"false", t_true, 0, 0},
    {"filter", t_known, 0, 0},
    {"float", NULL, K(JV_FLOAT), 0},
    {"ge", t_compare, 0, 1},
    {"greaterthan", t_compare, 0, 1},
    {"gt", t_compare, 0, 1},
    {"in", t_in, 0, 1},
    {"integer", NULL, K(JV_INT), 0},
    {"iterable", NULL, K(JV_STR) | K(JV_LIST) | K(JV_DICT) | K(JV_UNDEF), 0},
    {"le", t_compare, 0, 1},
    {"lessthan", t_compare, 0, 1},
    {"lower", t_case, 0, 0},
    {"lt", t_compare, 0, 1},
    {"mapping", NULL, K(JV_DICT), 0},
    {"ne", t_compare, 0, 1},
    {"none", NULL, K(JV_NONE), 0},
    {"number", NULL, K(JV_INT) | K(JV_FLOAT) | K(JV_BOOL), 0},
    {"odd", t_odd, 0, 0},
    {"sameas", t_sameas, 0, 1},
    {"sequence", t_sequence, 0, 0},
    {"string", NULL, K(JV_STR), 0},
    {"test", t_known, 0, 0},
    {"true", t_true, 0, 0},
    {"undefined", NULL, K(JV_UNDEF), 0},
    {"upper", t_case, 0, 0},
};
#undef K

static int test_index(const char *p, size_t n) {
    for (size_t i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++)
        if (strlen(TESTS[i].name) == n && !memcmp(TESTS[i].name, p, n)) return (int)i;
    return -1;
}

int test_known(const char *p, size_t n, int *supported) {
    *supported = test_index(p, n) >= 0;
    return *supported;
}

int test_apply(jctx *c, const char *name, size_t nlen, const jv *v, jargs *A) {
    int i = test_index(name, nlen);
    if (i < 0) rfail(c, "test '%.*s' is not supported", (int)nlen, name);
    jv a0 = jv_none();
    int has0 = jargs_get(A, 0, NULL, &a0);
    if (TESTS[i].needs_arg && !has0) rfail(c, "test '%s' needs an argument", TESTS[i].name);
    if (!TESTS[i].fn) return (TESTS[i].kinds >> v->k) & 1;
    return TESTS[i].fn(c, v, &a0, TESTS[i].name);
}
