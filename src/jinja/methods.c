/* methods.c — the Python methods templates call on values: str (startswith, split, format, ...),
 * dict (items, get, ...), list (index, count, copy) and loop.cycle, one function each behind a
 * table per type. Mutating methods are listed without a function: the sandbox refuses them. */
#include "jinja_int.h"

#include <stdio.h>

/* ---- str ------------------------------------------------------------------------------------- */
static jv m_startswith(jctx *c, const jv *self, const char *nm, jargs *A) {
    jv a0;
    if (!jargs_get(A, 0, NULL, &a0)) rfail(c, "%s() takes at least 1 argument (0 given)", nm);
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
            rfail(c, "%s first arg must be str or a tuple of str, not %s", nm, jv_type_name(&t));
        if (t.u.s.n <= self->u.s.n &&
            !memcmp(self->u.s.p + (ends ? self->u.s.n - t.u.s.n : 0), t.u.s.p, t.u.s.n))
            return jv_bool(1);
    }
    return jv_bool(0);
}

static jv m_strip(jctx *c, const jv *self, const char *nm, jargs *A) {
    int which = nm[0] == 'l' ? 1 : nm[0] == 'r' ? 2 : 3;
    jv a0;
    if (jargs_get(A, 0, NULL, &a0) && a0.k != JV_NONE) {
        a0 = jv_need_str(c, &a0, nm);
        return str_strip(c, self, &a0, which);
    }
    return str_strip(c, self, NULL, which);
}

static jv m_split(jctx *c, const jv *self, const char *nm, jargs *A) {
    jv sep = jargs_or(A, 0, "sep", jv_none()), ms = jargs_or(A, 1, "maxsplit", jv_int(-1));
    if (sep.k != JV_NONE) jv_need_str(c, &sep, nm);
    return str_split(c, self, sep.k == JV_STR ? &sep : NULL, num_i(&ms), nm[0] == 'r');
}

static jv m_upper(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)nm, (void)A;
    return str_map(c, self, up);
}
static jv m_lower(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)nm, (void)A;
    return str_map(c, self, lo);
}
static jv m_title(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)nm, (void)A;
    return str_title_py(c, self);
}
static jv m_capitalize(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)nm, (void)A;
    return str_capitalize(c, self);
}
static jv m_swapcase(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)nm, (void)A;
    jv r = str_map(c, self, lo);
    for (size_t i = 0; i < r.u.s.n; i++)
        ((char *)r.u.s.p)[i] = self->u.s.p[i] >= 'a' && self->u.s.p[i] <= 'z' ? up(self->u.s.p[i])
                                                                              : lo(self->u.s.p[i]);
    return r;
}

static jv m_replace(jctx *c, const jv *self, const char *nm, jargs *A) {
    jv a0, a1;
    if (!jargs_get(A, 0, NULL, &a0) || !jargs_get(A, 1, NULL, &a1))
        rfail(c, "replace expected at least 2 arguments");
    jv_need_str(c, &a0, nm);
    jv_need_str(c, &a1, nm);
    jv cnt = jargs_or(A, 2, "count", jv_int(-1));
    return str_replace(c, self, &a0, &a1, num_i(&cnt));
}

/* find, rfind, index (positions in code points) and count */
static jv m_find(jctx *c, const jv *self, const char *nm, jargs *A) {
    jv a0;
    if (!jargs_get(A, 0, NULL, &a0)) rfail(c, "%s() takes at least 1 argument (0 given)", nm);
    jv_need_str(c, &a0, nm);
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
    return jv_int((int64_t)u8_len(p, (size_t)(h - p)));
}

static jv m_join(jctx *c, const jv *self, const char *nm, jargs *A) {
    jv a0;
    (void)nm;
    if (!jargs_get(A, 0, NULL, &a0)) rfail(c, "join() takes exactly one argument (0 given)");
    jlist *l = jv_iter(c, &a0);
    sbuf o = {0};
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].k != JV_STR)
            rfail(c, "sequence item %zu: expected str instance, %s found", i,
                  jv_type_name(&l->v[i]));
        if (i) sb_put(c, &o, self->u.s.p, self->u.s.n);
        sb_put(c, &o, l->v[i].u.s.p, l->v[i].u.s.n);
    }
    return jv_sb(c, &o);
}

static jv m_format(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)nm;
    return str_format(c, self, A);
}
static jv m_splitlines(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)nm, (void)A;
    return str_splitlines(c, self->u.s.p, self->u.s.n);
}

/* isdigit, isalpha, ... (ASCII classes) */
static jv m_is(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)c, (void)A;
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

/* removeprefix, removesuffix */
static jv m_remove_affix(jctx *c, const jv *self, const char *nm, jargs *A) {
    jv a0;
    if (!jargs_get(A, 0, NULL, &a0)) rfail(c, "%s() takes exactly one argument (0 given)", nm);
    jv_need_str(c, &a0, nm);
    int suf = nm[6] == 's';
    if (a0.u.s.n <= self->u.s.n &&
        !memcmp(self->u.s.p + (suf ? self->u.s.n - a0.u.s.n : 0), a0.u.s.p, a0.u.s.n))
        return jv_strn(self->u.s.p + (suf ? 0 : a0.u.s.n), self->u.s.n - a0.u.s.n);
    return *self;
}

static jv m_partition(jctx *c, const jv *self, const char *nm, jargs *A) {
    jv a0;
    if (!jargs_get(A, 0, NULL, &a0)) rfail(c, "%s() takes exactly one argument (0 given)", nm);
    jv_need_str(c, &a0, nm);
    if (!a0.u.s.n) rfail(c, "empty separator");
    jv parts = str_split(c, self, &a0, 1, nm[0] == 'r');
    jv r = jv_list_new(c, 3), empty = jv_cstr("");
    r.tuple = 1;
    if (parts.u.l->n == 2) {
        jlist_push(c, r.u.l, parts.u.l->v[0]);
        jlist_push(c, r.u.l, a0);
        jlist_push(c, r.u.l, parts.u.l->v[1]);
    } else {
        int right = nm[0] == 'r';
        jlist_push(c, r.u.l, right ? empty : *self);
        jlist_push(c, r.u.l, empty);
        jlist_push(c, r.u.l, right ? *self : empty);
    }
    return r;
}

/* zfill, center, ljust, rjust (widths in code points) */
static jv m_pad(jctx *c, const jv *self, const char *nm, jargs *A) {
    jv a0;
    if (!jargs_get(A, 0, NULL, &a0) || !is_intlike(&a0))
        rfail(c, "%s() needs an integer width", nm);
    jv fill = jargs_or(A, 1, NULL, jv_cstr(nm[0] == 'z' ? "0" : " "));
    jv_need_str(c, &fill, nm);
    int64_t w = num_i(&a0), len = (int64_t)u8_len(self->u.s.p, self->u.s.n);
    if (w > (int64_t)JINJA_MAX_OUTPUT) rfail(c, "%s(): width too large", nm);
    if (w <= len) return *self;
    int64_t pad = w - len, left = nm[0] == 'l' ? 0 : nm[0] == 'c' ? pad / 2 + (pad & w & 1) : pad;
    sbuf o = {0};
    size_t sign = nm[0] == 'z' && self->u.s.n && (self->u.s.p[0] == '-' || self->u.s.p[0] == '+');
    sb_put(c, &o, self->u.s.p, sign);
    for (int64_t i = 0; i < left; i++)
        sb_put(c, &o, fill.u.s.p, fill.u.s.n);
    sb_put(c, &o, self->u.s.p + sign, self->u.s.n - sign);
    for (int64_t i = left; i < pad; i++)
        sb_put(c, &o, fill.u.s.p, fill.u.s.n);
    return jv_sb(c, &o);
}

static const jmethod_def STR_METHODS[] = {
    {"startswith", m_startswith},
    {"endswith", m_startswith},
    {"strip", m_strip},
    {"lstrip", m_strip},
    {"rstrip", m_strip},
    {"split", m_split},
    {"rsplit", m_split},
    {"upper", m_upper},
    {"lower", m_lower},
    {"title", m_title},
    {"capitalize", m_capitalize},
    {"swapcase", m_swapcase},
    {"replace", m_replace},
    {"find", m_find},
    {"rfind", m_find},
    {"index", m_find},
    {"count", m_find},
    {"join", m_join},
    {"format", m_format},
    {"splitlines", m_splitlines},
    {"isdigit", m_is},
    {"isalpha", m_is},
    {"isalnum", m_is},
    {"isspace", m_is},
    {"islower", m_is},
    {"isupper", m_is},
    {"isnumeric", m_is},
    {"isdecimal", m_is},
    {"zfill", m_pad},
    {"center", m_pad},
    {"ljust", m_pad},
    {"rjust", m_pad},
    {"removeprefix", m_remove_affix},
    {"removesuffix", m_remove_affix},
    {"partition", m_partition},
    {"rpartition", m_partition},
    {NULL, NULL},
};

/* ---- dict ------------------------------------------------------------------------------------ */
/* items, keys, values: views, as Python 3 returns them */
static jv m_dict_view(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)A;
    jdict *d = self->u.d;
    jv r = jv_list_new(c, d->n);
    r.tuple = nm[0] == 'k' ? LK_KEYS : nm[0] == 'v' ? LK_VALUES : LK_ITEMS;
    for (size_t i = 0; i < d->n; i++) {
        if (nm[0] == 'k')
            jlist_push(c, r.u.l, d->k[i]);
        else if (nm[0] == 'v')
            jlist_push(c, r.u.l, d->v[i]);
        else {
            jv t = jv_list_new(c, 2);
            t.tuple = 1;
            jlist_push(c, t.u.l, d->k[i]);
            jlist_push(c, t.u.l, d->v[i]);
            jlist_push(c, r.u.l, t);
        }
    }
    return r;
}

static jv m_dict_get(jctx *c, const jv *self, const char *nm, jargs *A) {
    jv a0;
    (void)nm;
    if (!jargs_get(A, 0, NULL, &a0)) rfail(c, "get expected at least 1 argument, got 0");
    int i = jdict_find(c, self->u.d, &a0);
    return i >= 0 ? self->u.d->v[i] : jargs_or(A, 1, NULL, jv_none());
}

static jv m_dict_copy(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)nm, (void)A;
    jv r = jv_dict_new(c, JV_DICT);
    for (size_t i = 0; i < self->u.d->n; i++)
        jdict_set(c, r.u.d, self->u.d->k[i], self->u.d->v[i]);
    return r;
}

static const jmethod_def DICT_METHODS[] = {
    {"items", m_dict_view}, {"keys", m_dict_view}, {"values", m_dict_view},
    {"get", m_dict_get},    {"copy", m_dict_copy}, {"pop", NULL},
    {"popitem", NULL},      {"update", NULL},      {"clear", NULL},
    {"setdefault", NULL},   {NULL, NULL},
};

/* ---- list ------------------------------------------------------------------------------------ */
/* index, count */
static jv m_list_index(jctx *c, const jv *self, const char *nm, jargs *A) {
    jv a0;
    if (!jargs_get(A, 0, NULL, &a0)) rfail(c, "%s() takes exactly one argument (0 given)", nm);
    int64_t k = 0;
    for (size_t i = 0; i < self->u.l->n; i++)
        if (jv_eq(c, &self->u.l->v[i], &a0)) {
            if (nm[0] == 'i') return jv_int((int64_t)i);
            k++;
        }
    if (nm[0] == 'i') rfail(c, "list.index(x): x not in list");
    return jv_int(k);
}

static jv m_list_copy(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)nm, (void)A;
    jv r = jv_list_new(c, self->u.l->n);
    for (size_t i = 0; i < self->u.l->n; i++)
        jlist_push(c, r.u.l, self->u.l->v[i]);
    return r;
}

static const jmethod_def LIST_METHODS[] = {
    {"index", m_list_index}, {"count", m_list_index}, {"copy", m_list_copy}, {"append", NULL},
    {"extend", NULL},        {"insert", NULL},        {"pop", NULL},         {"remove", NULL},
    {"clear", NULL},         {"sort", NULL},          {"reverse", NULL},     {NULL, NULL},
};

/* ---- loop ------------------------------------------------------------------------------------ */
static jv m_cycle(jctx *c, const jv *self, const char *nm, jargs *A) {
    (void)nm;
    if (!A->npos) rfail(c, "no items for cycling given");
    return A->pos[self->u.lp->i % A->npos];
}

static const jmethod_def LOOP_METHODS[] = {
    {"cycle", m_cycle},
    {NULL, NULL},
};

/* ---- lookup and calls ------------------------------------------------------------------------ */
const jmethod_def *method_find(const jv *self, const char *name, size_t n) {
    const jmethod_def *d = self->k == JV_STR    ? STR_METHODS
                           : self->k == JV_DICT ? DICT_METHODS
                           : self->k == JV_LIST ? LIST_METHODS
                           : self->k == JV_LOOP ? LOOP_METHODS
                                                : NULL;
    for (; d && d->name; d++)
        if (strlen(d->name) == n && !memcmp(d->name, name, n)) return d;
    return NULL;
}

jv method_bind(jctx *c, const jv *self, const jmethod_def *def) {
    jmethod *m = arena_alloc(c, sizeof(jmethod));
    m->self = *self;
    m->def = def;
    jv v = {.k = JV_METHOD};
    v.u.bm = m;
    return v;
}

jv method_invoke(jctx *c, jmethod *m, jargs *A) {
    if (!m->def->fn)
        rfail(c, "access to attribute '%s' of '%s' object is unsafe.", m->def->name,
              jv_type_name(&m->self));
    if (m->self.k == JV_STR) jstep(c, m->self.u.s.n >> 10); /* a scan: 1 step per KiB */
    if (m->self.k == JV_LIST) jstep(c, m->self.u.l->n >> 6);
    return m->def->fn(c, &m->self, m->def->name, A);
}

jv method_call(jctx *c, const jv *self, const char *name, jargs *A) {
    jmethod m = {*self, method_find(self, name, strlen(name))};
    return method_invoke(c, &m, A);
}
