/* slots.c — the server's engine: one thread owns the lmc_context and serves N slots (one sequence
 * each) by continuous batching: every step decodes, in ONE lmc_decode_batch, the next token of each
 * generating slot plus prompt chunks of newly admitted ones. A bounded FIFO queue holds requests
 * waiting for a slot; a slot keeps the tokens of its KV cache so a new request goes to the slot
 * sharing the longest prompt prefix and only decodes from the first differing position.
 * It knows nothing about HTTP or JSON. */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double lmc_time_s(void); /* src/util.c */

typedef struct {
    int32_t id;       /* sequence id in the context */
    srv_request *req; /* NULL when idle */
    int32_t *cache;   /* (n_ctx) tokens whose K/V sit in the context for this sequence */
    int32_t n_cache;
    int32_t next_tok; /* sampled but not yet decoded; -1 while the prompt is being read */
    lmc_sampler *smp;
    lmc_detok *detok;
    int32_t row;    /* logits row of this slot in the current step, -1 none */
    int32_t n_step; /* tokens this slot put in the current batch */
    uint64_t last_used;
} srv_slot;

struct srv_engine {
    lmc_model *model;
    lmc_context *ctx;
    int32_t n_ctx, n_vocab, n_batch;
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

    uint64_t clock; /* admission counter for LRU */

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

void srv_request_release(srv_request *r) {
    if (!r) return;
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    pthread_cond_destroy(&r->cond);
    free(r->prompt);
    for (int i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->text);
    free(r);
}

/* ---- text output and stop strings (mutex held) ------------------------------------------------
 */
static bool req_append(srv_request *r, const char *s, size_t n) {
    if (r->text_len + n + 1 > r->text_cap) {
        size_t cap = r->text_cap ? r->text_cap : 256;
        while (cap < r->text_len + n + 1)
            cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) return false;
        r->text = t;
        r->text_cap = cap;
    }
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
    r->text[r->text_len] = 0;
    return true;
}

/* After new text from offset `from`: cut at the first stop string (true) or make visible all text
 * that cannot be the start of one. */
static bool req_check_stop(srv_request *r, size_t from) {
    size_t cut = SIZE_MAX;
    for (int i = 0; i < r->n_stop; i++) {
        size_t sl = strlen(r->stop[i]);
        size_t start = from >= sl ? from - sl + 1 : 0;
        if (start < r->n_visible) start = r->n_visible; /* visible text was checked already */
        char *hit = strstr(r->text + start, r->stop[i]);
        if (hit && (size_t)(hit - r->text) < cut) cut = (size_t)(hit - r->text);
    }
    if (cut != SIZE_MAX) {
        r->text_len = cut;
        r->text[cut] = 0;
        if (r->n_visible > cut) r->n_visible = cut;
        return true;
    }
    /* hold back the longest tail that is a proper prefix of some stop string */
    size_t held = 0;
    for (int i = 0; i < r->n_stop; i++) {
        size_t sl = strlen(r->stop[i]);
        for (size_t k = sl - 1; k > held; k--) {
            if (k <= r->text_len && !memcmp(r->text + r->text_len - k, r->stop[i], k)) {
                held = k;
                break;
            }
        }
    }
    if (r->text_len - held > r->n_visible) r->n_visible = r->text_len - held;
    return false;
}

/* ---- slots (engine thread) --------------------------------------------------------------------
 */
static void slot_finish(srv_engine *e, srv_slot *s, srv_finish f, int err_status, const char *err) {
    srv_request *r = s->req;
    pthread_mutex_lock(&e->mu);
    if (f == SRV_FINISH_STOP || f == SRV_FINISH_LENGTH) {
        if (r->finish == SRV_FINISH_STOP) {
            f = SRV_FINISH_STOP; /* a stop string cut the text already */
        } else if (s->detok) {   /* bytes the detokenizer held back, then the held-back tail */
            size_t n = 0, before = r->text_len;
            const char *tail = lmc_detok_flush(s->detok, &n);
            if (n && req_append(r, tail, n) && req_check_stop(r, before)) f = SRV_FINISH_STOP;
        }
        r->n_visible = r->text_len;
    }
    r->finish = f;
    if (f == SRV_FINISH_ERROR) {
        r->err_status = err_status;
        snprintf(r->err, sizeof r->err, "%s", err ? err : "generation failed");
    }
    r->t_end = lmc_time_s();
    r->done = true;
    pthread_cond_broadcast(&r->cond);
    s->req = NULL;
    e->n_busy--;
    pthread_mutex_unlock(&e->mu);

    if (e->verbose) {
        double tp = r->t_first > 0 ? r->t_first - r->t_start : 0,
               tg = r->t_first > 0 ? r->t_end - r->t_first : 0;
        fprintf(stderr,
                "lmc serve: %s slot %d: prompt %d tok (%d cached) %.0f ms, generated %d tok %.2f s "
                "(%.1f tok/s), %s\n",
                r->id, s->id, r->n_prompt, r->n_reused, tp * 1e3, r->n_gen, tg,
                tg > 0 && r->n_gen > 1 ? (r->n_gen - 1) / tg : 0.0, api_finish_str(f));
    }
    lmc_sampler_free(s->smp);
    s->smp = NULL;
    lmc_detok_free(s->detok);
    s->detok = NULL;
    s->next_tok = -1;
    srv_request_release(r);
}

static int32_t common_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
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
            int32_t l = common_prefix(s->cache, s->n_cache, r->prompt, r->n_prompt);
            if (l > best_lcp || (l == best_lcp && s->last_used < best->last_used)) {
                best = s;
                best_lcp = l;
            }
        }
        /* at least the last prompt token is decoded again: its logits start the generation */
        int32_t keep = best_lcp < r->n_prompt ? best_lcp : r->n_prompt - 1;
        lmc_seq_truncate(e->ctx, best->id, keep);
        best->n_cache = keep;
        best->req = r;
        best->next_tok = -1;
        best->last_used = ++e->clock;
        r->n_reused = keep;
        r->t_start = lmc_time_s();
        e->n_busy++;
        /* sampler and detokenizer are made outside the lock by the engine loop (slot_prepare) */
    }
}

static bool slot_prepare(srv_engine *e, srv_slot *s) {
    if (s->smp) return true;
    s->smp = lmc_sampler_init(&s->req->sp, e->n_vocab);
    s->detok = lmc_detok_init(e->model, false);
    if (!s->smp || !s->detok) {
        slot_finish(e, s, SRV_FINISH_ERROR, 500, "out of memory (sampler)");
        return false;
    }
    /* penalties see the prompt, as llama.cpp's server does */
    for (int32_t i = 0; i < s->req->n_prompt; i++)
        lmc_sampler_accept(s->smp, s->req->prompt[i]);
    return true;
}

/* One sampled token for slot s from its logits row. */
static void slot_sampled(srv_engine *e, srv_slot *s, const float *logits) {
    srv_request *r = s->req;
    int32_t tok = lmc_sampler_sample(s->smp, logits);
    lmc_sampler_accept(s->smp, tok);
    double now = lmc_time_s();
    if (r->n_gen == 0) r->t_first = now;
    r->n_gen++;
    if (tok < 0 || tok >= e->n_vocab) {
        slot_finish(e, s, SRV_FINISH_ERROR, 500, "sampler returned an invalid token");
        return;
    }
    if (lmc_token_is_eog(e->model, tok)) {
        slot_finish(e, s, SRV_FINISH_STOP, 0, NULL);
        return;
    }
    size_t n = 0;
    const char *piece = lmc_detok_push(s->detok, tok, &n);
    pthread_mutex_lock(&e->mu);
    size_t before = r->text_len;
    bool ok = !n || req_append(r, piece, n);
    bool stopped = ok && n && req_check_stop(r, before);
    if (stopped) r->finish = SRV_FINISH_STOP;
    if (n) pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&e->mu);
    if (!ok) {
        slot_finish(e, s, SRV_FINISH_ERROR, 500, "out of memory (text)");
        return;
    }
    if (stopped) {
        slot_finish(e, s, SRV_FINISH_STOP, 0, NULL);
        return;
    }
    if (r->n_gen >= r->max_tokens || s->n_cache >= e->n_ctx) {
        slot_finish(e, s, SRV_FINISH_LENGTH, 0, NULL);
        return;
    }
    s->next_tok = tok;
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

        /* cancelled requests leave first; then build one batch over all active slots */
        for (int32_t i = 0; i < e->n_slots; i++) {
            srv_slot *s = &e->slots[i];
            if (s->req && atomic_load(&s->req->cancel))
                slot_finish(e, s, SRV_FINISH_CANCELLED, 0, NULL);
            else if (s->req)
                slot_prepare(e, s);
        }
        int32_t n = 0, n_rows = 0;
        for (int32_t i = 0; i < e->n_slots; i++) { /* generating slots: one token each */
            srv_slot *s = &e->slots[i];
            s->row = -1;
            s->n_step = 0;
            if (!s->req || s->next_tok < 0 || n >= e->n_batch) continue;
            e->b_tok[n] = s->next_tok;
            e->b_pos[n] = s->n_cache;
            e->b_seq[n] = s->id;
            e->b_want[n] = 1;
            s->row = n_rows++;
            s->n_step = 1;
            n++;
        }
        for (int32_t i = 0; i < e->n_slots && n < e->n_batch; i++) { /* prompt chunks */
            srv_slot *s = &e->slots[i];
            if (!s->req || s->next_tok >= 0) continue;
            int32_t left = s->req->n_prompt - s->n_cache;
            int32_t k = left < e->n_batch - n ? left : e->n_batch - n;
            for (int32_t j = 0; j < k; j++) {
                e->b_tok[n + j] = s->req->prompt[s->n_cache + j];
                e->b_pos[n + j] = s->n_cache + j;
                e->b_seq[n + j] = s->id;
                e->b_want[n + j] = 0;
            }
            if (k == left) {
                e->b_want[n + k - 1] = 1;
                s->row = n_rows++;
            }
            s->n_step = k;
            n += k;
        }

        if (n > 0) {
            lmc_batch b = {.n_tokens = n,
                           .token = e->b_tok,
                           .pos = e->b_pos,
                           .seq_id = e->b_seq,
                           .want_logits = e->b_want};
            const float *logits = NULL;
            lmc_status st = lmc_decode_batch(e->ctx, &b, &logits);
            if (st != LMC_OK) {
                char msg[256];
                snprintf(msg, sizeof msg, "decode failed: %s", lmc_last_error());
                for (int32_t i = 0; i < e->n_slots; i++) {
                    srv_slot *s = &e->slots[i];
                    if (!s->req || !s->n_step) continue;
                    lmc_seq_truncate(e->ctx, s->id,
                                     s->n_cache); /* forget what may be half-written */
                    slot_finish(e, s, SRV_FINISH_ERROR, 500, msg);
                }
            } else {
                for (int32_t i = 0; i < e->n_slots; i++) { /* batch order == slot order per phase */
                    srv_slot *s = &e->slots[i];
                    if (!s->req || !s->n_step) continue;
                    if (s->next_tok >= 0) { /* generating: its token is now in the cache */
                        s->cache[s->n_cache++] = s->next_tok;
                    } else {
                        memcpy(s->cache + s->n_cache, s->req->prompt + s->n_cache,
                               (size_t)s->n_step * sizeof(int32_t));
                        s->n_cache += s->n_step;
                    }
                    if (s->row >= 0)
                        slot_sampled(e, s, logits + (size_t)s->row * (size_t)e->n_vocab);
                }
            }
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
    e->n_ctx = lmc_context_n_ctx(ctx);
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
        e->slots[i].next_tok = -1;
        e->slots[i].cache = malloc((size_t)e->n_ctx * sizeof(int32_t));
        if (!e->slots[i].cache) goto oom;
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
    r->t_submit = lmc_time_s();
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
    double t_end = lmc_time_s() + grace_s;
    for (;;) { /* let active generations finish for a while */
        pthread_mutex_lock(&e->mu);
        int busy = e->n_busy;
        pthread_mutex_unlock(&e->mu);
        if (!busy || lmc_time_s() >= t_end) break;
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
            free(e->slots[i].cache);
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
