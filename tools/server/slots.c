/* slots.c — the server's engine: one thread owns the lmc_context and serves N slots (one sequence
 * and one lmc_gen each) by continuous batching: every step decodes, in ONE lmc_decode_batch, the
 * next token of each generating slot plus prompt chunks of newly admitted ones. A bounded FIFO
 * queue holds requests waiting for a slot; a new request goes to the slot whose cache shares the
 * longest prompt prefix. Generation itself (prefix reuse, sampling, stop strings, limits) is the
 * library's lmc_gen; this file only schedules. It knows nothing about HTTP or JSON. */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    int32_t id;       /* sequence id in the context */
    lmc_gen *gen;     /* the generation core on that sequence (it remembers the cached tokens) */
    srv_request *req; /* NULL when idle */
    bool started;     /* req's generation was started on gen */
    int32_t row;      /* logits row of this slot in the current step, -1 none */
    int32_t n_step;   /* tokens this slot put in the current batch */
    int32_t n_cached; /* tokens in its KV cache (for /metrics; engine mutex) */
    uint64_t last_used;
} srv_slot;

struct srv_engine {
    lmc_model *model;
    lmc_context *ctx;
    int32_t n_vocab, n_batch;
    bool verbose;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* new request, cancel or shutdown */
    pthread_t thread;
    bool thread_started;
    bool accepting; /* false once shutdown began */
    bool quit;      /* engine thread leaves its loop */

    int32_t n_slots;
    srv_slot *slots;
    int32_t n_busy;

    srv_request **queue; /* ring of (queue_cap) */
    int32_t q_head, q_len, q_cap;

    uint64_t clock;       /* admission counter for LRU */
    srv_engine_metrics m; /* the counters of /metrics (engine mutex) */

    /* batch buffers, (n_batch) each */
    int32_t *b_tok, *b_pos, *b_seq;
    int8_t *b_want;
};

/* ---- requests ---------------------------------------------------------------------------------
 */
srv_request *srv_request_new(void) {
    srv_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_cond_init(&r->cond, NULL);
    atomic_init(&r->refs, 1);
    atomic_init(&r->cancel, false);
    r->sp = lmc_sampler_default_params();
    return r;
}

srv_request *srv_request_clone(srv_request *r, int32_t i) {
    srv_request *c = srv_request_new();
    if (!c) return NULL;
    c->kind = r->kind;
    c->stream = r->stream;
    c->include_usage = r->include_usage;
    c->max_tokens = r->max_tokens;
    c->sp = r->sp;
    if (r->sp.seed != LMC_DEFAULT_SEED) c->sp.seed = r->sp.seed + (uint64_t)i;
    c->logprobs = r->logprobs;
    c->top_logprobs = r->top_logprobs;
    c->grammar = r->grammar; /* shared read-only; r (held below) frees it */
    c->tools = r->tools;
    c->parallel_tools = r->parallel_tools;
    c->n_tools = r->n_tools;
    c->tool_only = r->tool_only;
    c->tool_syntax = r->tool_syntax;
    memcpy(c->tool_names, r->tool_names, sizeof r->tool_names);
    memcpy(c->id, r->id, sizeof r->id);
    c->created = r->created;
    c->n_choices = r->n_choices;
    c->index = i;
    c->parent = r;
    atomic_fetch_add(&r->refs, 1);
    bool ok = (c->prompt = malloc((size_t)r->n_prompt * sizeof *c->prompt)) != NULL;
    if (ok) memcpy(c->prompt, r->prompt, (size_t)r->n_prompt * sizeof *c->prompt);
    c->n_prompt = r->n_prompt;
    for (int k = 0; ok && k < r->n_stop; k++)
        ok = (c->stop[c->n_stop++] = strdup(r->stop[k])) != NULL;
    if (ok && r->n_bias) {
        ok = (c->bias = malloc((size_t)r->n_bias * sizeof *c->bias)) != NULL;
        if (ok) memcpy(c->bias, r->bias, (size_t)r->n_bias * sizeof *c->bias);
        c->n_bias = ok ? r->n_bias : 0;
    }
    if (!ok) {
        srv_request_release(c);
        return NULL;
    }
    return c;
}

void srv_request_release(srv_request *r) {
    if (!r) return;
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    if (r->parent) { /* a clone: the grammar is the original's */
        r->grammar = NULL;
        srv_request_release(r->parent);
    }
    pthread_cond_destroy(&r->cond);
    free(r->prompt);
    for (int i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->text);
    free(r->lp);
    free(r->bias);
    lmc_grammar_free(r->grammar);
    free(r);
}

/* ---- slots (engine thread) --------------------------------------------------------------------
 */
/* Appends generated text. A NUL byte (a model may emit <0x00>) becomes U+FFFD: the JSON writer
 * takes C strings and would silently cut the reply at it. */
static bool req_append(srv_request *r, const char *s, size_t n) { /* mutex held */
    size_t need = r->text_len + 3 * n + 1; /* every byte a NUL: 3 bytes each */
    if (need > r->text_cap) {
        size_t cap = r->text_cap ? r->text_cap : 256;
        while (cap < need)
            cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) return false;
        r->text = t;
        r->text_cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i])
            r->text[r->text_len++] = s[i];
        else {
            memcpy(r->text + r->text_len, "\xEF\xBF\xBD", 3);
            r->text_len += 3;
        }
    }
    r->text[r->text_len] = 0;
    return true;
}

static void slot_finish(srv_engine *e, srv_slot *s, srv_finish f, int err_status, const char *err) {
    srv_request *r = s->req;
    pthread_mutex_lock(&e->mu);
    r->finish = f;
    if (f == SRV_FINISH_ERROR) {
        r->err_status = err_status;
        snprintf(r->err, sizeof r->err, "%s", err ? err : "generation failed");
    }
    r->done = true;
    pthread_cond_broadcast(&r->cond);
    s->req = NULL;
    s->started = false;
    e->n_busy--;
    e->m.n_finished++;
    e->m.n_prompt_tokens += (uint64_t)(r->n_prompt - r->n_reused);
    e->m.n_cached_tokens += (uint64_t)r->n_reused;
    e->m.n_gen_tokens += (uint64_t)r->n_gen;
    e->m.t_prompt += r->t_first;
    e->m.t_gen += r->t_gen;
    pthread_mutex_unlock(&e->mu);

    if (e->verbose) {
        double tp = r->t_first, tg = r->t_gen;
        fprintf(stderr,
                "lmc serve: %s slot %d: prompt %d tok (%d cached) %.0f ms, generated %d tok %.2f s "
                "(%.1f tok/s), %s\n",
                r->id, s->id, r->n_prompt, r->n_reused, tp * 1e3, r->n_gen, tg,
                tg > 0 && r->n_gen > 1 ? (r->n_gen - 1) / tg : 0.0, api_finish_str(f));
    }
    srv_request_release(r);
}

/* Hands an event of slot s's generation to its request: the new text and counts, and at the end
 * the finish reason (err: the message when it ended in an error). */
/* Records the log-probabilities of a sampled token (mutex held); false when out of memory. */
static bool req_logprob(srv_engine *e, srv_request *r, const lmc_gen_event *ev) {
    if (!r->logprobs || ev->token < 0 || !ev->probs || lmc_token_is_eog(e->model, ev->token))
        return true;
    if (r->n_lp == r->cap_lp) {
        int32_t cap = r->cap_lp ? 2 * r->cap_lp : 64;
        srv_logprob *lp = realloc(r->lp, (size_t)cap * sizeof *lp);
        if (!lp) return false;
        r->lp = lp;
        r->cap_lp = cap;
    }
    srv_logprob *x = &r->lp[r->n_lp++];
    x->token = ev->token;
    x->logprob = ev->logprob;
    x->offset = r->lp_bytes;
    x->n_top = ev->n_probs < SRV_MAX_TOP ? ev->n_probs : SRV_MAX_TOP;
    memcpy(x->top, ev->probs, (size_t)x->n_top * sizeof *x->top);
    char buf[256];
    int32_t n = lmc_token_to_piece(e->model, ev->token, buf, sizeof buf, false);
    r->lp_bytes += n > 0 ? (size_t)n : 0;
    return true;
}

static void slot_event(srv_engine *e, srv_slot *s, const lmc_gen_event *ev, const char *err) {
    srv_request *r = s->req;
    pthread_mutex_lock(&e->mu);
    bool ok = (!ev->len || req_append(r, ev->text, ev->len)) && req_logprob(e, r, ev);
    s->n_cached = lmc_gen_n_cached(s->gen);
    r->n_gen = ev->stats.n_gen;
    r->n_reused = ev->stats.n_reused;
    r->t_first = ev->stats.t_first;
    r->t_gen = ev->stats.t_gen;
    if (ev->len) pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&e->mu);
    if (!ok) {
        lmc_gen_event end;
        if (ev->end == LMC_GEN_END_NONE) lmc_gen_abort(s->gen, LMC_ERR_OOM, &end);
        slot_finish(e, s, SRV_FINISH_ERROR, 500, "out of memory (text)");
        return;
    }
    switch (ev->end) {
    case LMC_GEN_END_NONE:
        break;
    case LMC_GEN_END_EOG:
    case LMC_GEN_END_STOP:
        slot_finish(e, s, SRV_FINISH_STOP, 0, NULL);
        break;
    case LMC_GEN_END_LENGTH:
    case LMC_GEN_END_CONTEXT:
        slot_finish(e, s, SRV_FINISH_LENGTH, 0, NULL);
        break;
    case LMC_GEN_END_CANCELLED:
        slot_finish(e, s, SRV_FINISH_CANCELLED, 0, NULL);
        break;
    case LMC_GEN_END_ERROR:
        slot_finish(e, s, SRV_FINISH_ERROR, 500, err);
        break;
    }
}

/* Moves queued requests into idle slots (mutex held). The slot with the longest common prefix wins;
 * among equals the least recently used, so other slots keep their caches. */
static void engine_admit(srv_engine *e) {
    /* requests whose clients left while waiting give their queue places back first */
    int32_t kept = 0;
    for (int32_t k = 0; k < e->q_len; k++) {
        srv_request *r = e->queue[(e->q_head + k) % e->q_cap];
        if (atomic_load(&r->cancel)) {
            r->finish = SRV_FINISH_CANCELLED;
            r->done = true;
            pthread_cond_broadcast(&r->cond);
            srv_request_release(r);
        } else {
            e->queue[(e->q_head + kept++) % e->q_cap] = r;
        }
    }
    e->q_len = kept;
    while (e->q_len > 0 && e->n_busy < e->n_slots) {
        srv_request *r = e->queue[e->q_head];
        e->q_head = (e->q_head + 1) % e->q_cap;
        e->q_len--;
        srv_slot *best = NULL;
        int32_t best_lcp = -1;
        for (int32_t i = 0; i < e->n_slots; i++) {
            srv_slot *s = &e->slots[i];
            if (s->req) continue;
            int32_t l = lmc_gen_prefix(s->gen, r->prompt, r->n_prompt);
            if (l > best_lcp || (l == best_lcp && s->last_used < best->last_used)) {
                best = s;
                best_lcp = l;
            }
        }
        best->req = r;
        best->started = false; /* lmc_gen_start runs outside the lock (slot_start) */
        best->last_used = ++e->clock;
        e->n_busy++;
    }
}

static bool slot_start(srv_engine *e, srv_slot *s) {
    srv_request *r = s->req;
    lmc_gen_params gp = lmc_gen_default_params();
    gp.sampling = r->sp;
    gp.n_predict = r->max_tokens;
    gp.stop = (const char *const *)r->stop;
    gp.n_stop = r->n_stop;
    gp.grammar = r->grammar;
    gp.accept_prompt = true; /* penalties see the prompt, as llama.cpp's server does */
    gp.logit_bias = r->bias;
    gp.n_logit_bias = r->n_bias;
    gp.n_probs = r->logprobs ? (r->top_logprobs > 0 ? r->top_logprobs : 1) : 0;
    lmc_status st = lmc_gen_start(s->gen, r->prompt, r->n_prompt, &gp);
    if (st != LMC_OK) {
        slot_finish(e, s, SRV_FINISH_ERROR, 500, lmc_last_error());
        return false;
    }
    lmc_gen_stats gs;
    lmc_gen_get_stats(s->gen, &gs);
    r->n_reused = gs.n_reused;
    s->started = true;
    return true;
}

/* Puts slot s's pending tokens (at most max) into the batch at *n. */
static void slot_batch(srv_engine *e, srv_slot *s, int32_t max, int32_t *n, int32_t *n_rows) {
    int32_t k =
        lmc_gen_pending(s->gen, max, e->b_tok + *n, e->b_pos + *n, e->b_seq + *n, e->b_want + *n);
    if (k > 0 && e->b_want[*n + k - 1]) s->row = (*n_rows)++;
    s->n_step = k;
    *n += k;
}

/* ---- the engine loop --------------------------------------------------------------------------
 */
static void *engine_main(void *arg) {
    srv_engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        engine_admit(e);
        if (e->quit && e->n_busy == 0) break;
        if (e->n_busy == 0) {
            pthread_cond_wait(&e->wake, &e->mu);
            continue;
        }
        pthread_mutex_unlock(&e->mu);

        /* new requests start; cancelled ones leave; then one batch over all active slots */
        lmc_gen_event ev;
        for (int32_t i = 0; i < e->n_slots; i++) {
            srv_slot *s = &e->slots[i];
            s->row = -1;
            s->n_step = 0;
            if (!s->req || (!s->started && !slot_start(e, s))) continue;
            if (atomic_load(&s->req->cancel)) {
                lmc_gen_abort(s->gen, LMC_ERR_CANCELLED, &ev);
                slot_event(e, s, &ev, NULL);
            }
        }
        int32_t n = 0, n_rows = 0;
        for (int32_t i = 0; i < e->n_slots && n < e->n_batch; i++) /* generating: a token each */
            if (e->slots[i].req && lmc_gen_get_state(e->slots[i].gen) == LMC_GEN_GENERATING)
                slot_batch(e, &e->slots[i], 1, &n, &n_rows);
        for (int32_t i = 0; i < e->n_slots && n < e->n_batch; i++) /* prompt chunks */
            if (e->slots[i].req && lmc_gen_get_state(e->slots[i].gen) == LMC_GEN_PROMPT)
                slot_batch(e, &e->slots[i], e->n_batch - n, &n, &n_rows);
        if (n == 0) {
            pthread_mutex_lock(&e->mu);
            continue;
        }

        lmc_batch b = {.n_tokens = n,
                       .token = e->b_tok,
                       .pos = e->b_pos,
                       .seq_id = e->b_seq,
                       .want_logits = e->b_want};
        const float *logits = NULL;
        lmc_status st = lmc_decode_batch(e->ctx, &b, &logits);
        char msg[256];
        if (st != LMC_OK) snprintf(msg, sizeof msg, "decode failed: %s", lmc_last_error());
        for (int32_t i = 0; i < e->n_slots; i++) {
            srv_slot *s = &e->slots[i];
            if (!s->req || !s->n_step) continue;
            if (st != LMC_OK) {
                lmc_gen_abort(s->gen, st, &ev);
                slot_event(e, s, &ev, msg);
                continue;
            }
            const float *row = s->row >= 0 ? logits + (size_t)s->row * (size_t)e->n_vocab : NULL;
            lmc_status cst = lmc_gen_commit(s->gen, s->n_step, row, &ev);
            slot_event(e, s, &ev, cst != LMC_OK ? lmc_last_error() : NULL);
        }
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ---- public -----------------------------------------------------------------------------------
 */
lmc_status srv_engine_init(lmc_model *model, lmc_context *ctx, const srv_engine_params *p,
                           srv_engine **out) {
    *out = NULL;
    srv_engine *e = calloc(1, sizeof *e);
    if (!e) return LMC_ERR_OOM;
    e->model = model;
    e->ctx = ctx;
    e->n_vocab = lmc_model_n_vocab(model);
    e->n_batch = p->n_batch > 0 ? p->n_batch : 256;
    if (e->n_batch < p->n_slots) e->n_batch = p->n_slots; /* room for one token of every slot */
    e->verbose = p->verbose;
    e->n_slots = p->n_slots;
    e->q_cap = p->queue_max + p->n_slots;
    e->accepting = true;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->wake, NULL);
    e->slots = calloc((size_t)e->n_slots, sizeof *e->slots);
    e->queue = calloc((size_t)e->q_cap, sizeof *e->queue);
    e->b_tok = malloc((size_t)e->n_batch * sizeof(int32_t));
    e->b_pos = malloc((size_t)e->n_batch * sizeof(int32_t));
    e->b_seq = malloc((size_t)e->n_batch * sizeof(int32_t));
    e->b_want = malloc((size_t)e->n_batch);
    if (!e->slots || !e->queue || !e->b_tok || !e->b_pos || !e->b_seq || !e->b_want) goto oom;
    for (int32_t i = 0; i < e->n_slots; i++) {
        e->slots[i].id = i;
        lmc_status st = lmc_gen_init(ctx, i, &e->slots[i].gen);
        if (st != LMC_OK) {
            srv_engine_free(e);
            return st;
        }
    }
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) goto oom;
    e->thread_started = true;
    *out = e;
    return LMC_OK;
oom:
    srv_engine_free(e);
    return LMC_ERR_OOM;
}

int srv_engine_submit(srv_engine *e, srv_request *r) {
    pthread_mutex_lock(&e->mu);
    if (!e->accepting || e->q_len >= e->q_cap || e->n_busy + e->q_len >= e->q_cap) {
        pthread_mutex_unlock(&e->mu);
        return 503;
    }
    atomic_fetch_add(&r->refs, 1);
    e->queue[(e->q_head + e->q_len) % e->q_cap] = r;
    e->q_len++;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

void srv_engine_lock(srv_engine *e) {
    pthread_mutex_lock(&e->mu);
}
void srv_engine_unlock(srv_engine *e) {
    pthread_mutex_unlock(&e->mu);
}

void srv_engine_wait(srv_engine *e, srv_request *r, int timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->cond, &e->mu, &ts);
}

void srv_engine_poke(srv_engine *e) {
    pthread_mutex_lock(&e->mu);
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
}

void srv_engine_counts(srv_engine *e, int *n_slots, int *n_busy, int *n_queued) {
    pthread_mutex_lock(&e->mu);
    *n_slots = e->n_slots;
    *n_busy = e->n_busy;
    *n_queued = e->q_len;
    pthread_mutex_unlock(&e->mu);
}

void srv_engine_get_metrics(srv_engine *e, srv_engine_metrics *m) {
    const int64_t n_ctx = lmc_context_n_ctx(e->ctx);
    pthread_mutex_lock(&e->mu);
    *m = e->m;
    m->n_slots = e->n_slots;
    m->n_busy = e->n_busy;
    m->n_queued = e->q_len;
    m->kv_tokens = 0;
    for (int32_t i = 0; i < e->n_slots; i++)
        m->kv_tokens += e->slots[i].n_cached;
    m->kv_cap = (int64_t)e->n_slots * n_ctx;
    pthread_mutex_unlock(&e->mu);
}

void srv_engine_shutdown(srv_engine *e, double grace_s) {
    if (!e || !e->thread_started) return;
    pthread_mutex_lock(&e->mu);
    e->accepting = false;
    while (e->q_len > 0) { /* queued requests never started: tell their clients to come back */
        srv_request *r = e->queue[e->q_head];
        e->q_head = (e->q_head + 1) % e->q_cap;
        e->q_len--;
        r->finish = SRV_FINISH_ERROR;
        r->err_status = 503;
        snprintf(r->err, sizeof r->err, "the server is shutting down");
        r->done = true;
        pthread_cond_broadcast(&r->cond);
        srv_request_release(r);
    }
    pthread_mutex_unlock(&e->mu);
    double t_end = mono_s() + grace_s;
    for (;;) { /* let active generations finish for a while */
        pthread_mutex_lock(&e->mu);
        int busy = e->n_busy;
        pthread_mutex_unlock(&e->mu);
        if (!busy || mono_s() >= t_end) break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&e->mu);
    for (int32_t i = 0; i < e->n_slots; i++)
        if (e->slots[i].req) atomic_store(&e->slots[i].req->cancel, true);
    e->quit = true;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    e->thread_started = false;
}

void srv_engine_free(srv_engine *e) {
    if (!e) return;
    srv_engine_shutdown(e, 0);
    if (e->slots)
        for (int32_t i = 0; i < e->n_slots; i++)
            lmc_gen_free(e->slots[i].gen);
    free(e->slots);
    free(e->queue);
    free(e->b_tok);
    free(e->b_pos);
    free(e->b_seq);
    free(e->b_want);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->wake);
    free(e);
}
