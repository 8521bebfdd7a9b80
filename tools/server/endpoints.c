/* endpoints.c — the endpoints of `lmc serve` besides generation: /tokenize and /detokenize
 * (llama-server's shapes), /v1/embeddings (OpenAI's shape; a CPU context of its own), /props and
 * /metrics (Prometheus text). Bodies in, bodies out: no HTTP here (server.c routes to them). */
#include "cli.h"
#include "server.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBED_MAX_INPUTS 256 /* inputs per /v1/embeddings request */

/* The body as a JSON object whose every field is one of known[] (NULL-terminated). */
static cJSON *parse_body(const char *body, size_t len, const char *const *known, const char *ep,
                         api_error *err) {
    if (!len) {
        api_fail(err, 400, NULL, "the request body is empty; send a JSON object");
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        api_fail(err, 400, NULL, "the request body must be a JSON object");
        return NULL;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *const *k = known;
        while (*k && strcmp(*k, it->string))
            k++;
        if (!*k) {
            api_fail(err, 400, it->string, "unknown field '%.64s': %s does not support it",
                     it->string, ep);
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

/* A boolean field: absent or null gives def; another type fails. */
static bool field_bool(const cJSON *root, const char *key, bool def, bool *out, api_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = def;
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsBool(v)) return api_fail(err, 400, key, "'%s' must be true or false", key);
    *out = cJSON_IsTrue(v);
    return true;
}

static char *print_delete(cJSON *root, api_error *err) {
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) api_fail(err, 500, NULL, "out of memory");
    return s;
}

/* Tokenizes text[0..len) into a malloc'ed array (*n tokens); NULL with *err on failure. */
static int32_t *tokenize(const lmc_model *m, const char *text, size_t len, bool add_special,
                         bool parse_special, int32_t *n, const char *param, api_error *err) {
    if (len > (size_t)INT32_MAX) {
        api_fail(err, 400, param, "'%s' is too long", param);
        return NULL;
    }
    int32_t *t = lmc_tokenize_alloc(m, text, (int32_t)len, add_special, parse_special, n);
    if (!t) api_fail(err, 500, NULL, "tokenizer failed: %s", lmc_last_error());
    return t;
}

/* ---- /tokenize, /detokenize ------------------------------------------------------------------ */
/* A piece as llama-server gives it: a string when it is valid UTF-8, else its bytes. */
static void add_piece(cJSON *obj, const lmc_model *m, int32_t tok) {
    char buf[256];
    int32_t n = lmc_token_to_piece(m, tok, buf, sizeof buf - 1, true);
    if (n < 0) n = 0;
    buf[n] = 0;
    char *clean = api_utf8_clean(buf, (size_t)n);
    if (clean && strlen(clean) == (size_t)n && !memcmp(clean, buf, (size_t)n)) {
        cJSON_AddStringToObject(obj, "piece", clean);
    } else {
        cJSON *bytes = cJSON_AddArrayToObject(obj, "piece");
        for (int32_t i = 0; i < n; i++)
            cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)buf[i]));
    }
    free(clean);
}

char *ep_tokenize(const lmc_model *m, const char *body, size_t len, api_error *err) {
    static const char *const known[] = {"content", "add_special", "parse_special", "with_pieces",
                                        NULL};
    cJSON *root = parse_body(body, len, known, "/tokenize", err);
    if (!root) return NULL;
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content");
    bool add_special, parse_special, with_pieces;
    int32_t n = 0, *toks = NULL;
    if (!cJSON_IsString(content))
        api_fail(err, 400, "content", "'content' (a string) is required");
    else if (field_bool(root, "add_special", false, &add_special, err) &&
             field_bool(root, "parse_special", true, &parse_special, err) &&
             field_bool(root, "with_pieces", false, &with_pieces, err))
        toks = tokenize(m, content->valuestring, strlen(content->valuestring), add_special,
                        parse_special, &n, "content", err);
    cJSON_Delete(root);
    if (!toks) return NULL;
    cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "tokens");
    for (int32_t i = 0; i < n; i++) {
        if (!with_pieces) {
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(toks[i]));
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddNumberToObject(o, "id", toks[i]);
        add_piece(o, m, toks[i]);
    }
    free(toks);
    return print_delete(out, err);
}

char *ep_detokenize(const lmc_model *m, const char *body, size_t len, api_error *err) {
    static const char *const known[] = {"tokens", NULL};
    cJSON *root = parse_body(body, len, known, "/detokenize", err);
    if (!root) return NULL;
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(root, "tokens"), *t;
    const int32_t n_vocab = lmc_model_n_vocab(m);
    if (!cJSON_IsArray(toks)) {
        cJSON_Delete(root);
        api_fail(err, 400, "tokens", "'tokens' (an array of token ids) is required");
        return NULL;
    }
    cJSON_ArrayForEach(t, toks) {
        if (!cJSON_IsNumber(t) || t->valuedouble != floor(t->valuedouble) || t->valuedouble < 0 ||
            t->valuedouble >= n_vocab) {
            cJSON_Delete(root);
            api_fail(err, 400, "tokens", "'tokens' must hold token ids in [0, %d)", n_vocab);
            return NULL;
        }
    }
    lmc_detok *d = lmc_detok_init(m, true);
    char *text = NULL;
    size_t n = 0, cap = 0, k;
    bool ok = d != NULL;
    for (t = toks->child; ok && t; t = t->next) {
        const char *p = lmc_detok_push(d, (int32_t)t->valuedouble, &k);
        for (int pass = 0; pass < 2 && ok; pass++) {
            if (pass) p = t->next ? NULL : lmc_detok_flush(d, &k);
            if (!p || !k) continue;
            if (n + k + 1 > cap) {
                cap = 2 * (n + k + 1);
                char *x = realloc(text, cap);
                ok = x != NULL;
                if (x) text = x;
            }
            if (ok) memcpy(text + n, p, k), n += k;
        }
    }
    lmc_detok_free(d);
    cJSON_Delete(root);
    char *clean = ok ? api_utf8_clean(text ? text : "", n) : NULL;
    free(text);
    if (!clean) return api_fail(err, 500, NULL, "out of memory"), NULL;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "content", clean);
    free(clean);
    return print_delete(out, err);
}

/* ---- /v1/embeddings -------------------------------------------------------------------------- */
struct srv_embedder {
    lmc_model *m;
    lmc_context *ctx;        /* CPU, one sequence */
    pthread_mutex_t mu;      /* one request at a time on ctx */
    pthread_mutex_t *tok_mu; /* the server's tokenizer lock */
    int32_t n_ctx, n_embd;
};

lmc_status srv_embedder_init(lmc_model *m, int32_t n_ctx, int32_t n_batch, int32_t n_threads,
                             pthread_mutex_t *tok_mu, srv_embedder **out) {
    *out = NULL;
    srv_embedder *e = calloc(1, sizeof *e);
    if (!e) return LMC_ERR_OOM;
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_seq = 1;
    cp.n_batch = n_batch;
    cp.n_threads = n_threads;
    cp.device = LMC_DEVICE_CPU;
    cp.n_gpu_layers = 0;
    lmc_status st = lmc_context_init(m, &cp, &e->ctx);
    if (st != LMC_OK) {
        free(e);
        return st;
    }
    pthread_mutex_init(&e->mu, NULL);
    e->m = m;
    e->tok_mu = tok_mu;
    e->n_ctx = lmc_context_n_ctx(e->ctx);
    e->n_embd = lmc_model_n_embd(m);
    *out = e;
    return LMC_OK;
}

void srv_embedder_free(srv_embedder *e) {
    if (!e) return;
    lmc_context_free(e->ctx);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

/* Mean over the rows of h (n, E), L2-normalized, into out (E). */
static void pool_normalize(const float *h, int32_t n, int32_t E, float *out) {
    double norm = 0;
    for (int32_t j = 0; j < E; j++) {
        double s = 0;
        for (int32_t i = 0; i < n; i++)
            s += h[(size_t)i * E + j];
        out[j] = (float)(s / n);
        norm += (double)out[j] * out[j];
    }
    norm = sqrt(norm);
    for (int32_t j = 0; norm > 0 && j < E; j++)
        out[j] = (float)(out[j] / norm);
}

static char *base64(const unsigned char *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = 0;
    return out;
}

/* One input's tokens: a string (tokenized with BOS/EOS as the model says) or an array of ids. */
static int32_t *input_tokens(srv_embedder *e, const cJSON *v, int idx, int32_t *n, api_error *err) {
    char param[32];
    snprintf(param, sizeof param, "input[%d]", idx);
    if (cJSON_IsString(v)) {
        size_t len = strlen(v->valuestring);
        if (!len) return api_fail(err, 400, param, "'%s' is an empty string", param), NULL;
        pthread_mutex_lock(e->tok_mu);
        int32_t *t = tokenize(e->m, v->valuestring, len, true, false, n, param, err);
        pthread_mutex_unlock(e->tok_mu);
        return t;
    }
    int count = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (!count)
        return api_fail(err, 400, param, "'%s' must be a string or an array of token ids", param),
               NULL;
    int32_t *t = malloc((size_t)count * sizeof *t), k = 0;
    if (!t) return api_fail(err, 500, NULL, "out of memory"), NULL;
    const cJSON *x;
    cJSON_ArrayForEach(x, v) {
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 0 ||
            x->valuedouble >= lmc_model_n_vocab(e->m)) {
            free(t);
            return api_fail(err, 400, param, "'%s' holds something other than a token id", param),
                   NULL;
        }
        t[k++] = (int32_t)x->valuedouble;
    }
    *n = k;
    return t;
}

/* Embeds one input into emb (n_embd); adds its tokens to *n_tokens. */
static bool embed_one(srv_embedder *e, const cJSON *v, int idx, float *emb, int64_t *n_tokens,
                      api_error *err) {
    int32_t n = 0, *t = input_tokens(e, v, idx, &n, err);
    if (!t) return false;
    char param[32];
    snprintf(param, sizeof param, "input[%d]", idx);
    bool ok = false;
    float *h = NULL;
    if (n > e->n_ctx) {
        api_fail(err, 400, param, "'%s' has %d tokens but the context holds %d", param, n,
                 e->n_ctx);
    } else if (!(h = malloc((size_t)n * e->n_embd * sizeof *h))) {
        api_fail(err, 500, NULL, "out of memory");
    } else {
        pthread_mutex_lock(&e->mu);
        lmc_status st = lmc_embed(e->ctx, 0, t, n, h);
        pthread_mutex_unlock(&e->mu);
        if (st != LMC_OK)
            api_fail(err, 500, NULL, "embedding failed: %s", lmc_last_error());
        else
            pool_normalize(h, n, e->n_embd, emb), ok = true;
    }
    *n_tokens += n;
    free(h);
    free(t);
    return ok;
}

char *ep_embeddings(srv_embedder *e, const char *model_id, const char *body, size_t len,
                    api_error *err) {
    static const char *const known[] = {"input",      "model", "encoding_format",
                                        "dimensions", "user",  NULL};
    cJSON *root = parse_body(body, len, known, "/v1/embeddings", err);
    if (!root) return NULL;
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "encoding_format");
    const cJSON *dim = cJSON_GetObjectItemCaseSensitive(root, "dimensions");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
    bool b64 = cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "base64");
    cJSON *out = NULL;
    float *emb = NULL;
    if (fmt && !cJSON_IsNull(fmt) && !b64 &&
        !(cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "float"))) {
        api_fail(err, 400, "encoding_format", "'encoding_format' must be 'float' or 'base64'");
        goto done;
    }
    if (dim && !cJSON_IsNull(dim) && !(cJSON_IsNumber(dim) && dim->valuedouble == e->n_embd)) {
        api_fail(err, 400, "dimensions", "'dimensions' can only be the model's %d", e->n_embd);
        goto done;
    }
    if (user && !cJSON_IsNull(user) && !cJSON_IsString(user)) {
        api_fail(err, 400, "user", "'user' must be a string");
        goto done;
    }
    /* one input (a string or one array of ids), or an array of them */
    bool many = cJSON_IsArray(input) && cJSON_GetArraySize(input) > 0 &&
                (cJSON_IsString(input->child) || cJSON_IsArray(input->child));
    int n_in = many ? cJSON_GetArraySize(input) : 1;
    if (!input || cJSON_IsNull(input)) {
        api_fail(err, 400, "input", "'input' is required");
        goto done;
    }
    if (n_in > EMBED_MAX_INPUTS) {
        api_fail(err, 400, "input", "'input' may hold at most %d inputs", EMBED_MAX_INPUTS);
        goto done;
    }
    emb = malloc((size_t)e->n_embd * sizeof *emb);
    out = cJSON_CreateObject();
    if (!emb || !out) {
        api_fail(err, 500, NULL, "out of memory");
        goto done;
    }
    cJSON_AddStringToObject(out, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(out, "data");
    int64_t n_tokens = 0;
    for (int i = 0; i < n_in; i++) {
        const cJSON *v = many ? cJSON_GetArrayItem(input, i) : input;
        if (!embed_one(e, v, i, emb, &n_tokens, err)) {
            cJSON_Delete(out);
            out = NULL;
            goto done;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(data, o);
        cJSON_AddStringToObject(o, "object", "embedding");
        cJSON_AddNumberToObject(o, "index", i);
        if (b64) { /* float32, little-endian (as every host lmc runs on stores them) */
            char *s = base64((const unsigned char *)emb, (size_t)e->n_embd * sizeof *emb);
            cJSON_AddStringToObject(o, "embedding", s ? s : "");
            free(s);
        } else {
            cJSON *arr = cJSON_AddArrayToObject(o, "embedding");
            for (int32_t j = 0; j < e->n_embd; j++)
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(emb[j]));
        }
    }
    cJSON_AddStringToObject(out, "model", model_id);
    cJSON *u = cJSON_AddObjectToObject(out, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)n_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)n_tokens);
done:
    free(emb);
    cJSON_Delete(root);
    return out ? print_delete(out, err) : NULL;
}

/* ---- /props ---------------------------------------------------------------------------------- */
char *ep_props(const srv_props *p) {
    cJSON *root = cJSON_CreateObject();
    const lmc_sampler_params sp = p->sp; /* the command line's request defaults */
    cJSON *dg = cJSON_AddObjectToObject(root, "default_generation_settings");
    cJSON_AddNumberToObject(dg, "n_ctx", p->n_ctx);
    cJSON *par = cJSON_AddObjectToObject(dg, "params");
    cJSON_AddNumberToObject(par, "temperature", sp.temp);
    cJSON_AddNumberToObject(par, "top_k", sp.top_k);
    cJSON_AddNumberToObject(par, "top_p", sp.top_p);
    cJSON_AddNumberToObject(par, "min_p", sp.min_p);
    cJSON_AddNumberToObject(par, "repeat_penalty", sp.repeat_penalty);
    cJSON_AddNumberToObject(par, "repeat_last_n", sp.repeat_last_n);
    cJSON_AddNumberToObject(par, "n_predict", p->n_predict > 0 ? p->n_predict : -1);
    cJSON_AddNumberToObject(root, "total_slots", p->n_slots);
    cJSON_AddStringToObject(root, "model_alias", p->model_id);
    cJSON_AddStringToObject(root, "model_path", p->model_path ? p->model_path : "");
    char desc[128];
    lmc_model_desc(p->model, desc, sizeof desc);
    cJSON_AddStringToObject(root, "model_desc", desc);
    cJSON_AddNumberToObject(root, "n_ctx", p->n_ctx);
    cJSON_AddNumberToObject(root, "n_ctx_train", lmc_model_n_ctx_train(p->model));
    cJSON_AddNumberToObject(root, "n_vocab", lmc_model_n_vocab(p->model));
    cJSON_AddNumberToObject(root, "n_embd", lmc_model_n_embd(p->model));
    /* the template the server renders with: --chat-template, else the GGUF's, else a built-in
     * chosen by vocabulary */
    const char *tmpl = p->tmpl ? p->tmpl : lmc_model_chat_template(p->model);
    if (tmpl)
        cJSON_AddStringToObject(root, "chat_template", tmpl);
    else
        cJSON_AddNullToObject(root, "chat_template");
    cJSON_AddBoolToObject(root, "embeddings", p->embeddings);
    cJSON_AddStringToObject(root, "build_info", "lmc " LMC_VERSION_STRING);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---- /metrics -------------------------------------------------------------------------------- */
typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} textbuf;

static void tb_printf(textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(textbuf *b, const char *fmt, ...) {
    for (int pass = 0; pass < 2 && !b->oom; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *x = realloc(b->p, cap);
        if (!x) b->oom = true;
        if (x) b->p = x, b->cap = cap;
    }
}

static void metric(textbuf *b, const char *name, const char *type, const char *help, double v) {
    tb_printf(b, "# HELP lmc_%s %s\n# TYPE lmc_%s %s\nlmc_%s %.17g\n", name, help, name, type, name,
              v);
}

char *ep_metrics(srv_engine *e, const char *const *name, const uint64_t *hits, int n) {
    srv_engine_metrics m;
    srv_engine_get_metrics(e, &m);
    textbuf b = {0};
    tb_printf(&b, "# HELP lmc_requests_total HTTP requests routed, by endpoint.\n"
                  "# TYPE lmc_requests_total counter\n");
    for (int i = 0; i < n; i++)
        tb_printf(&b, "lmc_requests_total{endpoint=\"%s\"} %llu\n", name[i],
                  (unsigned long long)hits[i]);
    metric(&b, "generations_total", "counter", "Generation requests that ended.",
           (double)m.n_finished);
    metric(&b, "prompt_tokens_total", "counter", "Prompt tokens decoded (not reused).",
           (double)m.n_prompt_tokens);
    metric(&b, "prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot cache.",
           (double)m.n_cached_tokens);
    metric(&b, "generated_tokens_total", "counter", "Tokens generated.", (double)m.n_gen_tokens);
    metric(&b, "prompt_seconds_total", "counter", "Seconds spent on prompts.", m.t_prompt);
    metric(&b, "generation_seconds_total", "counter", "Seconds spent generating.", m.t_gen);
    metric(&b, "prompt_tokens_per_second", "gauge",
           "Average prompt throughput per request since start.",
           m.t_prompt > 0 ? (double)m.n_prompt_tokens / m.t_prompt : 0);
    metric(&b, "generated_tokens_per_second", "gauge",
           "Average generation throughput per request since start.",
           m.t_gen > 0 ? (double)m.n_gen_tokens / m.t_gen : 0);
    metric(&b, "slots", "gauge", "Slots (requests generated at the same time).", m.n_slots);
    metric(&b, "slots_busy", "gauge", "Slots generating now.", m.n_busy);
    metric(&b, "queue_length", "gauge", "Requests waiting for a slot.", m.n_queued);
    metric(&b, "kv_cache_tokens", "gauge", "Tokens held in the slots' KV caches.",
           (double)m.kv_tokens);
    metric(&b, "kv_cache_capacity_tokens", "gauge", "Positions the slots' KV caches hold.",
           (double)m.kv_cap);
    metric(&b, "kv_cache_usage_ratio", "gauge", "kv_cache_tokens / kv_cache_capacity_tokens.",
           m.kv_cap > 0 ? (double)m.kv_tokens / (double)m.kv_cap : 0);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
