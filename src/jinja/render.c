/* render.c — the public entry (jinja.h): jinja_render prepares the source, lexes, parses and runs
 * a template over a JSON context inside one arena, and turns a failure into a status and message;
 * chat_render_json builds the chat context. Also the global functions templates can call. */
#include "jinja_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- global functions ------------------------------------------------------------------------ */
static jv g_range(jctx *c, jargs *A) {
    jv a0, a1, a2;
    int64_t start = 0, stop, stp = 1;
    if (!jargs_get(A, 0, NULL, &a0)) rfail(c, "range expected at least 1 argument, got 0");
    if (jargs_get(A, 1, NULL, &a1)) {
        if (!is_intlike(&a0) || !is_intlike(&a1))
            rfail(c, "'%s' object cannot be interpreted as an integer",
                  jv_type_name(is_intlike(&a0) ? &a1 : &a0));
        start = num_i(&a0);
        stop = num_i(&a1);
        if (jargs_get(A, 2, NULL, &a2)) {
            if (!is_intlike(&a2))
                rfail(c, "'%s' object cannot be interpreted as an integer", jv_type_name(&a2));
            stp = num_i(&a2);
        }
    } else {
        if (!is_intlike(&a0))
            rfail(c, "'%s' object cannot be interpreted as an integer", jv_type_name(&a0));
        stop = num_i(&a0);
    }
    if (stp == 0) rfail(c, "range() arg 3 must not be zero");
    double cnt = stp > 0 ? ceil(((double)stop - (double)start) / (double)stp)
                         : ceil(((double)start - (double)stop) / (double)-stp);
    if (cnt > 100000)
        rfail(c, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    jv r = jv_list_new(c, 0);
    for (int64_t i = start; stp > 0 ? i < stop : i > stop; i += stp)
        jlist_push(c, r.u.l, jv_int(i));
    return r;
}

/* dict(...) and namespace(...): from a mapping or (key, value) pairs, then keyword arguments */
static jv dict_from_args(jctx *c, jargs *A, int kind) {
    jv a0, r = jv_dict_new(c, kind);
    if (jargs_get(A, 0, NULL, &a0)) {
        if (a0.k == JV_DICT || a0.k == JV_NS)
            for (size_t i = 0; i < a0.u.d->n; i++)
                jdict_set(c, r.u.d, a0.u.d->k[i], a0.u.d->v[i]);
        else {
            jlist *l = jv_iter(c, &a0);
            for (size_t i = 0; i < l->n; i++) {
                jlist *kv = jv_iter(c, &l->v[i]);
                if (kv->n != 2)
                    rfail(c,
                          "dictionary update sequence element #%zu has length %zu; 2 is required",
                          i, kv->n);
                jdict_set(c, r.u.d, kv->v[0], kv->v[1]);
            }
        }
    }
    for (size_t k = 0; k < A->nkw; k++)
        jdict_set(c, r.u.d, jv_strn(A->kwn[k], A->kwl[k]), A->kwv[k]);
    return r;
}
static jv g_dict(jctx *c, jargs *A) {
    return dict_from_args(c, A, JV_DICT);
}
static jv g_namespace(jctx *c, jargs *A) {
    return dict_from_args(c, A, JV_NS);
}

/* raise_exception(msg): the error's message is exactly msg */
static jv g_raise(jctx *c, jargs *A) {
    jv msg = jargs_or(A, 0, NULL, jv_cstr(""));
    jv s = jv_to_str(c, &msg);
    c->raised = 1;
    rfail(c, "%.*s", (int)s.u.s.n, s.u.s.p);
}

static jv g_strftime(jctx *c, jargs *A) {
    jv a0;
    if (!jargs_get(A, 0, NULL, &a0) || a0.k != JV_STR)
        rfail(c, "strftime_now() expects a format string");
    char fmt[256], buf[1024];
    if (a0.u.s.n >= sizeof fmt) rfail(c, "strftime_now(): format too long");
    memcpy(fmt, a0.u.s.p, a0.u.s.n);
    fmt[a0.u.s.n] = 0;
    size_t k = strftime(buf, sizeof buf, fmt, &c->now);
    return jv_str_copy(c, buf, k);
}

/* A JV_FUNC value holds its index here. */
static const struct {
    const char *name;
    jv (*fn)(jctx *c, jargs *A);
} GLOBALS[] = {{"range", g_range},
               {"dict", g_dict},
               {"namespace", g_namespace},
               {"raise_exception", g_raise},
               {"strftime_now", g_strftime}};

jv global_call(jctx *c, int fn, jargs *A) {
    return GLOBALS[fn].fn(c, A);
}

/* ---- rendering ------------------------------------------------------------------------------- */
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

/* jinja2 turns \r\n and \r into \n and drops one trailing newline (keep_trailing_newline=False) */
static void load_source(jctx *c, const char *tmpl) {
    size_t n = strlen(tmpl), m = 0;
    if (n > JINJA_MAX_OUTPUT) rfail(c, "template larger than %u MiB", JINJA_MAX_OUTPUT >> 20);
    char *src = arena_alloc(c, n + 1);
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
}

/* The frame the template runs in: the context's keys over the global functions. */
static frame *top_frame(jctx *c, const cJSON *context) {
    frame *globals = frame_new(c, NULL);
    for (size_t i = 0; i < sizeof GLOBALS / sizeof GLOBALS[0]; i++) {
        jv fv = {.k = JV_FUNC};
        fv.u.fn = (int)i;
        frame_set(c, globals, GLOBALS[i].name, strlen(GLOBALS[i].name), fv);
    }
    frame *top = frame_new(c, globals);
    if (context)
        for (const cJSON *e = context->child; e; e = e->next) {
            size_t kl = strlen(e->string);
            frame_set(c, top, arena_strdup(c, e->string, kl), kl, jv_from_json(c, e));
        }
    return top;
}

/* After the longjmp: the status, lmc_last_error() and opts get the error; the arena goes. */
static lmc_status render_failed(jctx *c, jinja_opts *opts) {
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
    arena_free(c);
    free(c);
    return st;
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
    if (setjmp(c->jb)) return render_failed(c, opts);
    jbudget_start(c, opts ? opts->max_ms : 0);
    load_source(c, tmpl);
    lex_template(c);
    node *root = parse_template(c);

    const char *now = opts && opts->now ? opts->now : getenv("LMC_TEMPLATE_NOW");
    if (now && *now) {
        if (!parse_now(now, &c->now))
            rfail(c, "bad date for strftime_now: '%s' (want YYYY-MM-DD[THH:MM:SS])", now);
    } else {
        time_t t = time(NULL);
        localtime_r(&t, &c->now);
    }
    frame *top = top_frame(c, context);
    sbuf o = {0};
    c->out = &o;
    exec_body(c, root->kids, root->nk, top);
    /* callers take the text as a C string: a NUL inside would silently cut it short */
    const char *nul = o.n ? memchr(o.p, 0, o.n) : NULL;
    if (nul) {
        c->line = c->col = 0;
        rfail(c, "the rendered text contains a NUL byte (at byte %zu)", (size_t)(nul - o.p));
    }
    char *res = malloc(o.n + 1);
    if (!res) {
        c->st = LMC_ERR_OOM;
        rfail(c, "out of memory");
    }
    if (o.n) memcpy(res, o.p, o.n);
    res[o.n] = 0;
    arena_free(c);
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
