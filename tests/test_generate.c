/* test_generate.c — the generation core (lmc_gen) against references on stories260K: greedy ids
 * equal to a plain lmc_decode + argmax loop and to the llama.cpp goldens; stop strings split across
 * tokens cut exactly; prefix reuse counts and ids; two sequences in one batch equal to each alone;
 * n_predict and context limits; UTF-8 held back, EOG and cancel through forced tokens;
 * log-probabilities and logit_bias on hand-made logits rows against a hand-computed log-softmax.
 * The front ends' behaviour on the default model is checked by the Python suites. */
#include "lmc.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#define MAXTOK 256

static lmc_model *g_model;
static int g_vocab;

static lmc_context *new_ctx(int n_ctx, int n_seq, int n_batch) {
    lmc_context_params p = lmc_context_default_params();
    p.n_ctx = n_ctx;
    p.n_seq = n_seq;
    p.n_threads = 2;
    p.n_batch = n_batch;
    p.device = LMC_DEVICE_CPU;
    lmc_context *ctx = NULL;
    lmc_status st = lmc_context_init(g_model, &p, &ctx);
    CHECK(st == LMC_OK, "context init: %s", lmc_last_error());
    return ctx;
}

static lmc_gen *new_gen(lmc_context *ctx, int seq) {
    lmc_gen *g = NULL;
    lmc_status st = lmc_gen_init(ctx, seq, &g);
    CHECK(st == LMC_OK, "lmc_gen_init: %s", lmc_last_error());
    return g;
}

static lmc_gen_params greedy(int n_predict) {
    lmc_gen_params p = lmc_gen_default_params();
    p.sampling.temp = 0;
    p.n_predict = n_predict;
    return p;
}

/* What one generation gave. */
typedef struct {
    int32_t ids[MAXTOK];
    int n_ids;
    char text[4096];
    size_t len;
    lmc_gen_end end;
    lmc_gen_stats st;
    bool overflow;    /* more text or ids than the buffers hold */
    bool text_on_eog; /* an event whose token was EOG carried new text of its own */
} run_out;

static void out_event(run_out *o, const lmc_gen_event *ev) {
    if (ev->token >= 0) {
        if (o->n_ids < MAXTOK)
            o->ids[o->n_ids++] = ev->token;
        else
            o->overflow = true;
    }
    if (ev->len) {
        if (o->len + ev->len >= sizeof o->text) {
            o->overflow = true;
        } else {
            memcpy(o->text + o->len, ev->text, ev->len);
            o->len += ev->len;
            o->text[o->len] = 0;
        }
    }
    o->end = ev->end;
    o->st = ev->stats;
}

/* Starts g on prompt and steps it to the end (the single-sequence driver). */
static lmc_status run_gen(lmc_gen *g, const int32_t *prompt, int n, const lmc_gen_params *p,
                          run_out *o) {
    memset(o, 0, sizeof *o);
    lmc_status st = lmc_gen_start(g, prompt, n, p);
    if (st != LMC_OK) return st;
    lmc_gen_event ev;
    do {
        st = lmc_gen_step(g, &ev);
        out_event(o, &ev);
    } while (st == LMC_OK && ev.end == LMC_GEN_END_NONE);
    return st;
}

/* The reference: lmc_decode of the prompt, then argmax and decode of one token at a time. */
static int ref_greedy(const int32_t *prompt, int n, int n_gen, int n_ctx, int32_t *out) {
    lmc_context *ctx = new_ctx(n_ctx, 1, 512);
    if (!ctx) return 0;
    const float *lg = NULL;
    int k = 0;
    lmc_status st = lmc_decode(ctx, prompt, n, 0, &lg);
    while (st == LMC_OK && k < n_gen) {
        int best = 0;
        for (int i = 1; i < g_vocab; i++)
            if (lg[i] > lg[best]) best = i;
        out[k++] = best;
        if (n + k - 1 >= n_ctx || k == n_gen) break;
        st = lmc_decode(ctx, &out[k - 1], 1, n + k - 1, &lg);
    }
    CHECK(st == LMC_OK, "reference decode: %s", lmc_last_error());
    lmc_context_free(ctx);
    return k;
}

/* The text of ids through a fresh streaming detokenizer (offs[i]: bytes after token i, if given).
 */
static size_t detok_text(const int32_t *ids, int n, char *buf, size_t cap, size_t *offs) {
    lmc_detok *d = lmc_detok_init(g_model, false);
    size_t len = 0, k;
    for (int i = 0; i <= n; i++) {
        const char *s = i < n ? lmc_detok_push(d, ids[i], &k) : lmc_detok_flush(d, &k);
        if (len + k < cap) memcpy(buf + len, s, k), len += k;
        if (offs && i < n) offs[i] = len;
    }
    buf[len] = 0;
    lmc_detok_free(d);
    return len;
}

static bool same_ids(const int32_t *a, const int32_t *b, int n) {
    return !memcmp(a, b, (size_t)n * 4);
}

static cJSON *load_golden(const char *rel, int32_t *prompt, int *n_prompt, int32_t *ids,
                          int *n_ids) {
    char *s = t_read_file(t_shared(rel), NULL);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    CHECK(j != NULL, "cannot read %s", rel);
    if (!j) return NULL;
    const cJSON *e;
    *n_prompt = *n_ids = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "prompt_ids")) prompt[(*n_prompt)++] =
        (int32_t)e->valuedouble;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "greedy_ids")) ids[(*n_ids)++] =
        (int32_t)e->valuedouble;
    return j;
}

#define ONCE "models/golden/stories260K.once-upon-a-time.greedy32.json"
#define BOS64 "models/golden/stories260K.bos.greedy64.json"

/* Just the prompt and greedy ids of a golden. */
static bool load_ids(const char *rel, int32_t *prompt, int *n_prompt, int32_t *ids, int *n_ids) {
    cJSON *j = load_golden(rel, prompt, n_prompt, ids, n_ids);
    cJSON_Delete(j);
    return j != NULL;
}

/* ---- greedy ids: lmc_gen == decode + argmax == golden; prompt chunking does not matter ------- */
static void test_golden(const char *rel, int n_batch) {
    int32_t prompt[64], gold[MAXTOK], ref[MAXTOK];
    int np, ng;
    cJSON *j = load_golden(rel, prompt, &np, gold, &ng);
    if (!j) return;
    lmc_context *ctx = new_ctx(256, 1, n_batch);
    lmc_gen *g = new_gen(ctx, 0);
    lmc_gen_params p = greedy(ng);
    run_out o;
    lmc_status st = run_gen(g, prompt, np, &p, &o);
    CHECK(st == LMC_OK, "%s: generation: %s", rel, lmc_last_error());
    int nr = ref_greedy(prompt, np, ng, 256, ref);
    int same = 0;
    while (same < o.n_ids && same < ng && o.ids[same] == gold[same])
        same++;
    printf("%s (n_batch %d): %d/%d ids equal the golden\n", rel, n_batch, same, ng);
    CHECK(o.n_ids == ng && same == ng, "%s: %d of %d ids equal the golden", rel, same, ng);
    CHECK(nr == ng && same_ids(ref, o.ids, ng), "%s: ids differ from the decode + argmax loop",
          rel);
    CHECK(o.end == LMC_GEN_END_LENGTH, "%s: end %d, want LENGTH", rel, o.end);
    CHECK(o.st.n_prompt == np && o.st.n_reused == 0 && o.st.n_processed == np && o.st.n_gen == ng,
          "%s: stats prompt %d reused %d processed %d gen %d", rel, o.st.n_prompt, o.st.n_reused,
          o.st.n_processed, o.st.n_gen);
    CHECK(o.st.t_first > 0 && o.st.t_prompt > 0 && o.st.t_first >= o.st.t_prompt && o.st.t_gen > 0,
          "%s: timings prompt %g first %g gen %g", rel, o.st.t_prompt, o.st.t_first, o.st.t_gen);
    char want[4096];
    detok_text(gold, ng, want, sizeof want, NULL);
    CHECK(!strcmp(o.text, want), "%s: text %s\n  want %s", rel, o.text, want);
    const cJSON *gt = cJSON_GetObjectItem(j, "greedy_text");
    if (gt && !strstr(gt->valuestring, "<0x")) /* llama.cpp writes byte tokens as <0xNN> */
        CHECK(!strcmp(o.text, gt->valuestring), "%s: text %s\n  golden %s", rel, o.text,
              gt->valuestring);
    lmc_gen_free(g);
    lmc_context_free(ctx);
    cJSON_Delete(j);
}

/* ---- stop strings ---------------------------------------------------------------------------- */
static void check_stop(lmc_gen *g, const int32_t *prompt, int np, const char *const *stops,
                       int n_stops, const char *want, lmc_gen_end want_end, int want_gen,
                       const char *what) {
    lmc_gen_params p = greedy(60);
    p.stop = stops;
    p.n_stop = n_stops;
    run_out o;
    lmc_status st = run_gen(g, prompt, np, &p, &o);
    CHECK(st == LMC_OK, "%s: %s", what, lmc_last_error());
    CHECK(o.len == strlen(want) && !memcmp(o.text, want, o.len), "%s: text\n  %s\n  want %s", what,
          o.text, want);
    CHECK(o.end == want_end, "%s: end %d, want %d", what, o.end, want_end);
    CHECK(want_gen < 0 || o.st.n_gen == want_gen, "%s: %d tokens sampled, want %d", what,
          o.st.n_gen, want_gen);
}

static void test_stop(void) {
    const int32_t bos = lmc_token_bos(g_model);
    int32_t ref[64];
    int n = ref_greedy(&bos, 1, 60, 256, ref);
    char full[4096];
    size_t offs[64];
    size_t len = detok_text(ref, n, full, sizeof full, offs);
    lmc_context *ctx = new_ctx(256, 1, 512);
    lmc_gen *g = new_gen(ctx, 0);
    int tested = 0;
    /* every token boundary with 2 bytes before it and 3 after in the next pieces: a stop across it
     */
    for (int i = 4; i < n - 4 && tested < 6; i += 7) {
        size_t b = offs[i];
        if (b < 2 || b + 3 > len) continue;
        char stop[8];
        memcpy(stop, full + b - 2, 5);
        stop[5] = 0;
        const char *first = strstr(full, stop);
        size_t cut = (size_t)(first - full);
        int end_tok = 0; /* the token whose text completes the first occurrence */
        while (offs[end_tok] < cut + 5)
            end_tok++;
        char want[4096];
        memcpy(want, full, cut);
        want[cut] = 0;
        char what[64];
        snprintf(what, sizeof what, "stop '%s' across token %d", stop, i);
        const char *stops[] = {"never appears", stop};
        check_stop(g, &bos, 1, stops, 2, want, LMC_GEN_END_STOP, end_tok + 1, what);
        /* a stop that only starts to match is held back, then emitted in full */
        char partial[8];
        memcpy(partial, stop, 4);
        partial[4] = '\x01';
        partial[5] = 0;
        const char *stops2[] = {partial};
        snprintf(what, sizeof what, "unfinished stop across token %d", i);
        check_stop(g, &bos, 1, stops2, 1, full, LMC_GEN_END_LENGTH, 60, what);
        tested++;
    }
    CHECK(tested >= 4, "only %d stop strings tested", tested);
    /* a stop spanning three tokens, and the earliest of two stops wins */
    if (n > 20) {
        size_t a = offs[10] - 1, z = offs[12] + 1;
        char stop3[64], want[4096];
        snprintf(stop3, sizeof stop3, "%.*s", (int)(z - a), full + a);
        size_t cut = (size_t)(strstr(full, stop3) - full);
        snprintf(want, sizeof want, "%.*s", (int)cut, full);
        const char *late = full + offs[20];
        char stop_late[8];
        snprintf(stop_late, sizeof stop_late, "%.4s", late);
        const char *stops[] = {stop_late, stop3};
        if (strstr(full, stop_late) > full + cut)
            check_stop(g, &bos, 1, stops, 2, want, LMC_GEN_END_STOP, -1,
                       "stop across three tokens");
    }
    printf("stop strings: %d boundaries\n", tested);
    lmc_gen_free(g);
    lmc_context_free(ctx);
}

/* ---- prefix reuse ---------------------------------------------------------------------------- */
static void test_prefix(void) {
    int32_t P[64], gold[MAXTOK];
    int np, ng;
    if (!load_ids(ONCE, P, &np, gold, &ng)) return;
    lmc_context *ctx = new_ctx(256, 1, 512);
    lmc_gen *g = new_gen(ctx, 0);
    lmc_gen_params p = greedy(ng);
    run_out o;
    run_gen(g, P, np, &p, &o);
    CHECK(o.n_ids == ng && same_ids(o.ids, gold, ng), "first generation equals the golden");

    /* the prompt continues with generated tokens: all but the last sampled one are in the cache */
    int32_t q[64];
    memcpy(q, P, (size_t)np * 4);
    memcpy(q + np, gold, 10 * 4);
    CHECK(lmc_gen_prefix(g, q, np + 10) == np + 10, "prefix %d, want %d",
          lmc_gen_prefix(g, q, np + 10), np + 10);
    p = greedy(ng - 10);
    run_gen(g, q, np + 10, &p, &o);
    CHECK(o.st.n_reused == np + 9 && o.st.n_processed == 1,
          "shared prompt: reused %d processed %d, want %d 1", o.st.n_reused, o.st.n_processed,
          np + 9);
    CHECK(o.n_ids == ng - 10 && same_ids(o.ids, gold + 10, ng - 10), "ids after a reused prefix");

    /* a prompt that differs after P + gold[0]: reuse stops there, ids equal a fresh context's */
    q[np + 1] = gold[1] == 300 ? 301 : 300;
    int32_t ref[MAXTOK];
    int nr = ref_greedy(q, np + 2, 20, 256, ref);
    p = greedy(20);
    run_gen(g, q, np + 2, &p, &o);
    CHECK(o.st.n_reused == np + 1 && o.st.n_processed == 1, "diverging prompt: reused %d, want %d",
          o.st.n_reused, np + 1);
    CHECK(nr == 20 && o.n_ids == 20 && same_ids(o.ids, ref, 20), "ids after a diverging prompt");

    /* the same prompt again reuses all but its last token; forget reuses nothing */
    run_gen(g, q, np + 2, &p, &o);
    CHECK(o.st.n_reused == np + 1 && same_ids(o.ids, ref, 20), "same prompt: reused %d",
          o.st.n_reused);
    lmc_gen_forget(g);
    run_gen(g, q, np + 2, &p, &o);
    CHECK(o.st.n_reused == 0 && o.st.n_processed == np + 2 && same_ids(o.ids, ref, 20),
          "after forget: reused %d processed %d", o.st.n_reused, o.st.n_processed);

    /* sampling: a fresh sampler per start repeats itself; keep_sampler continues the RNG stream */
    lmc_gen_params s = lmc_gen_default_params();
    s.sampling.temp = 1.0f;
    s.sampling.seed = 1234;
    s.n_predict = 24;
    run_out a, b, c;
    run_gen(g, P, np, &s, &a);
    run_gen(g, P, np, &s, &b);
    s.keep_sampler = true;
    run_gen(g, P, np, &s, &c);
    CHECK(a.n_ids == 24 && b.n_ids == 24 && same_ids(a.ids, b.ids, 24), "same seed, same ids");
    CHECK(c.n_ids == 24 && !same_ids(a.ids, c.ids, 24), "keep_sampler continues the RNG stream");
    printf("prefix reuse: reused %d / %d, sampling repeatable\n", np + 9, np + 10);
    lmc_gen_free(g);
    lmc_context_free(ctx);
}

/* ---- two sequences in one batch -------------------------------------------------------------- */
static void test_batched(void) {
    int32_t P1[64], gold1[MAXTOK], P2[64], gold2[MAXTOK];
    int n1, g1n, n2, g2n;
    if (!load_ids(ONCE, P1, &n1, gold1, &g1n) || !load_ids(BOS64, P2, &n2, gold2, &g2n)) return;
    /* the second sequence's prompt is longer, so that its chunks share batches with the first's
     * tokens */
    int32_t Q[64];
    memcpy(Q, P2, (size_t)n2 * 4);
    memcpy(Q + n2, gold2, 12 * 4);
    int nq = n2 + 12, want_q = g2n - 12;
    lmc_context *ctx = new_ctx(256, 2, 512);
    lmc_gen *g[2] = {new_gen(ctx, 0), new_gen(ctx, 1)};
    lmc_gen_params p0 = greedy(g1n), p1 = greedy(want_q);
    CHECK(lmc_gen_start(g[0], P1, n1, &p0) == LMC_OK, "start 0: %s", lmc_last_error());
    run_out o[2];
    memset(o, 0, sizeof o);
    int32_t tok[32], pos[32], seq[32];
    int8_t want[32];
    bool started1 = false, mixed = false;
    for (int step = 0; step < 200; step++) {
        if (step == 2) { /* the second joins while the first generates */
            CHECK(lmc_gen_start(g[1], Q, nq, &p1) == LMC_OK, "start 1: %s", lmc_last_error());
            started1 = true;
        }
        int n = 0, k[2] = {0, 0}, row[2] = {-1, -1}, rows = 0;
        for (int s = 0; s < 2; s++) {
            k[s] = lmc_gen_pending(g[s], 3, tok + n, pos + n, seq + n, want + n); /* chunks of 3 */
            if (k[s] && want[n + k[s] - 1]) row[s] = rows++;
            n += k[s];
        }
        if (k[0] && k[1]) mixed = true;
        if (n == 0) break;
        lmc_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq_id = seq, .want_logits = want};
        const float *lg = NULL;
        lmc_status st = lmc_decode_batch(ctx, &b, &lg);
        CHECK(st == LMC_OK, "decode batch: %s", lmc_last_error());
        if (st != LMC_OK) break;
        for (int s = 0; s < 2; s++) {
            if (!k[s]) continue;
            lmc_gen_event ev;
            st =
                lmc_gen_commit(g[s], k[s], row[s] >= 0 ? lg + (size_t)row[s] * g_vocab : NULL, &ev);
            CHECK(st == LMC_OK, "commit %d: %s", s, lmc_last_error());
            out_event(&o[s], &ev);
        }
    }
    CHECK(started1 && mixed, "the two sequences shared batches");
    CHECK(o[0].end == LMC_GEN_END_LENGTH && o[0].n_ids == g1n && same_ids(o[0].ids, gold1, g1n),
          "batched sequence 0: %d ids, end %d", o[0].n_ids, o[0].end);
    CHECK(o[1].end == LMC_GEN_END_LENGTH && o[1].n_ids == want_q &&
              same_ids(o[1].ids, gold2 + 12, want_q),
          "batched sequence 1: %d ids, end %d", o[1].n_ids, o[1].end);
    /* each alone, through the single-sequence driver, on the same context */
    run_out a;
    lmc_gen_forget(g[0]);
    run_gen(g[0], P1, n1, &p0, &a);
    CHECK(a.n_ids == o[0].n_ids && same_ids(a.ids, o[0].ids, a.n_ids) && !strcmp(a.text, o[0].text),
          "sequence 0 alone equals batched");
    lmc_gen_forget(g[1]);
    run_gen(g[1], Q, nq, &p1, &a);
    CHECK(a.n_ids == o[1].n_ids && same_ids(a.ids, o[1].ids, a.n_ids) && !strcmp(a.text, o[1].text),
          "sequence 1 alone equals batched");
    printf("batched: 2 sequences, %d + %d ids equal the goldens and each alone\n", o[0].n_ids,
           o[1].n_ids);
    lmc_gen_free(g[0]);
    lmc_gen_free(g[1]);
    lmc_context_free(ctx);
}

/* ---- limits ---------------------------------------------------------------------------------- */
static void test_limits(void) {
    int32_t P[64], gold[MAXTOK];
    int np, ng;
    if (!load_ids(ONCE, P, &np, gold, &ng)) return;
    lmc_context *ctx = new_ctx(16, 1, 4);
    lmc_gen *g = new_gen(ctx, 0);
    run_out o;
    lmc_gen_params p = greedy(5);
    run_gen(g, P, np, &p, &o);
    CHECK(o.end == LMC_GEN_END_LENGTH && o.n_ids == 5 && same_ids(o.ids, gold, 5),
          "n_predict 5: %d ids", o.n_ids);
    p = greedy(0);
    run_gen(g, P, np, &p, &o);
    CHECK(o.end == LMC_GEN_END_LENGTH && o.n_ids == 1 && o.ids[0] == gold[0],
          "n_predict 0 samples one");
    /* no limit: the sequence fills the context (16 positions; the last sampled token is not
     * decoded) */
    p = greedy(-1);
    run_gen(g, P, np, &p, &o);
    CHECK(o.end == LMC_GEN_END_CONTEXT && o.n_ids == 16 - np + 1 &&
              same_ids(o.ids, gold, 16 - np + 1),
          "context full: end %d, %d ids (want %d)", o.end, o.n_ids, 16 - np + 1);
    int32_t big[17];
    for (int i = 0; i < 17; i++)
        big[i] = i < np ? P[i] : gold[i - np];
    run_gen(g, big, 16, &p, &o);
    CHECK(o.end == LMC_GEN_END_CONTEXT && o.n_ids == 1 && o.ids[0] == gold[16 - np],
          "a prompt filling the context gives one token: %d", o.n_ids);
    CHECK(lmc_gen_start(g, big, 17, &p) == LMC_ERR_CONTEXT_FULL, "a prompt beyond the context");
    CHECK(lmc_gen_start(g, big, 0, &p) == LMC_ERR_INVALID_ARG, "an empty prompt");
    lmc_gen_event ev;
    CHECK(lmc_gen_step(g, &ev) == LMC_ERR_INVALID_ARG && ev.end == LMC_GEN_END_NONE,
          "a step when idle");
    /* a failed decode ends the generation; only the chunks decoded before it stay held */
    int32_t broken[8] = {P[0], P[1], P[2], P[3], P[4], gold[0], gold[1], g_vocab + 7};
    lmc_gen_forget(g);
    lmc_status st = run_gen(g, broken, 8, &p, &o);
    CHECK(st == LMC_ERR_INVALID_ARG && o.end == LMC_GEN_END_ERROR && o.n_ids == 0 && o.len == 0 &&
              lmc_gen_get_state(g) == LMC_GEN_IDLE,
          "a token outside the vocabulary: status %d end %d", st, o.end);
    p = greedy(4);
    run_gen(g, broken, 7, &p, &o);
    CHECK(o.st.n_reused == 4 && o.n_ids == 4 && same_ids(o.ids, gold + 2, 4),
          "after the failure: reused %d (the first chunk of 4), ids equal the golden",
          o.st.n_reused);
    lmc_gen_free(g);
    lmc_context_free(ctx);
    lmc_gen *bad = NULL;
    ctx = new_ctx(16, 1, 4);
    CHECK(lmc_gen_init(ctx, 1, &bad) == LMC_ERR_INVALID_ARG && !bad,
          "a sequence the context lacks");
    lmc_context_free(ctx);
}

/* ---- forced tokens: UTF-8 held back, EOG never emitted, cancel flushes ----------------------- */
static int32_t byte_token(int byte) {
    char want[16];
    snprintf(want, sizeof want, "<0x%02X>", byte);
    for (int32_t t = 0; t < g_vocab; t++)
        if (!strcmp(lmc_token_text(g_model, t), want)) return t;
    return -1;
}

/* One batched step of g whose sampled token is forced to `force` by one-hot logits. */
static lmc_status forced_step(lmc_context *ctx, lmc_gen *g, int32_t force, float *row,
                              lmc_gen_event *ev) {
    int32_t tok[8], pos[8], seq[8];
    int8_t want[8];
    int n = lmc_gen_pending(g, 8, tok, pos, seq, want);
    lmc_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq_id = seq, .want_logits = want};
    const float *lg;
    lmc_status st = lmc_decode_batch(ctx, &b, &lg);
    if (st != LMC_OK) return st;
    for (int i = 0; i < g_vocab; i++)
        row[i] = i == force ? 10.0f : 0.0f;
    return lmc_gen_commit(g, n, row, ev);
}

static void test_forced(void) {
    const int32_t c3 = byte_token(0xC3), a9 = byte_token(0xA9), bos = lmc_token_bos(g_model);
    const int32_t eos = lmc_token_eos(g_model);
    if (c3 < 0 || a9 < 0 || eos < 0 || !lmc_token_is_eog(g_model, eos)) {
        CHECK(0, "stories260K lacks byte tokens or an EOG token");
        return;
    }
    lmc_context *ctx = new_ctx(64, 1, 64);
    lmc_gen *g = new_gen(ctx, 0);
    float *row = malloc((size_t)g_vocab * sizeof *row);
    lmc_gen_event ev;
    lmc_gen_params p = greedy(-1);
    CHECK(lmc_gen_start(g, &bos, 1, &p) == LMC_OK, "start");
    /* "é" = C3 A9 in two tokens: nothing after the first, both bytes after the second; then EOG */
    forced_step(ctx, g, c3, row, &ev);
    CHECK(ev.token == c3 && ev.len == 0 && ev.end == LMC_GEN_END_NONE,
          "half a character is held back");
    forced_step(ctx, g, a9, row, &ev);
    CHECK(ev.len == 2 && !memcmp(ev.text, "\xC3\xA9", 2), "the character completes: %zu bytes",
          ev.len);
    forced_step(ctx, g, c3, row, &ev);
    CHECK(ev.len == 0, "half a character again");
    forced_step(ctx, g, eos, row, &ev);
    CHECK(ev.token == eos && ev.end == LMC_GEN_END_EOG && ev.len == 1 &&
              (uint8_t)ev.text[0] == 0xC3,
          "EOG: end %d, only the held-back byte goes out (%zu bytes)", ev.end, ev.len);
    CHECK(ev.stats.n_gen == 4 && lmc_gen_get_state(g) == LMC_GEN_IDLE,
          "EOG counted, generation over");

    /* a stop string half matched, then cancel: the held-back text is flushed, end CANCELLED */
    const int32_t x = byte_token('x'), y = byte_token('y');
    const char *stops[] = {"xyz"};
    p.stop = stops;
    p.n_stop = 1;
    CHECK(lmc_gen_start(g, &bos, 1, &p) == LMC_OK, "start");
    forced_step(ctx, g, x, row, &ev);
    CHECK(ev.len == 0, "'x' may start the stop string: held back");
    forced_step(ctx, g, y, row, &ev);
    CHECK(ev.len == 0, "'xy' may start the stop string: held back");
    forced_step(ctx, g, x, row, &ev);
    CHECK(ev.len == 2 && !memcmp(ev.text, "xy", 2), "'xyx': 'xy' goes out, 'x' is held");
    CHECK(lmc_gen_abort(g, LMC_ERR_CANCELLED, &ev) == LMC_OK, "abort");
    CHECK(ev.end == LMC_GEN_END_CANCELLED && ev.len == 1 && ev.text[0] == 'x',
          "cancel flushes 'x'");
    CHECK(lmc_gen_abort(g, LMC_ERR_CANCELLED, &ev) == LMC_ERR_INVALID_ARG, "abort when idle");

    /* the logits row is required exactly for the last pending token */
    p = greedy(-1);
    int32_t two[2] = {bos, x};
    lmc_gen_forget(g);
    CHECK(lmc_gen_start(g, two, 2, &p) == LMC_OK, "start");
    int32_t tok[8], pos[8], seq[8];
    int8_t want[8];
    int n = lmc_gen_pending(g, 1, tok, pos, seq, want);
    CHECK(n == 1 && want[0] == 0 && seq[0] == 0,
          "a chunk of 1 before the prompt's end wants no logits");
    CHECK(lmc_gen_commit(g, 1, row, &ev) == LMC_ERR_INVALID_ARG, "logits where none are expected");
    CHECK(lmc_gen_commit(g, 2, NULL, &ev) == LMC_ERR_INVALID_ARG, "more taken than pending");
    free(row);
    lmc_gen_free(g);
    lmc_context_free(ctx);
}

/* ---- log-probabilities and logit_bias on a hand-made row ------------------------------------- */
/* One batched step of g with the caller's logits row. */
static lmc_status row_step(lmc_context *ctx, lmc_gen *g, const float *row, lmc_gen_event *ev) {
    int32_t tok[8], pos[8], seq[8];
    int8_t want[8];
    int n = lmc_gen_pending(g, 8, tok, pos, seq, want);
    lmc_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq_id = seq, .want_logits = want};
    const float *lg;
    lmc_status st = lmc_decode_batch(ctx, &b, &lg);
    if (st != LMC_OK) return st;
    return lmc_gen_commit(g, n, row, ev);
}

/* log-softmax of row at token t, in double, by the definition */
static double ref_logprob(const float *row, int t) {
    double sum = 0;
    for (int i = 0; i < g_vocab; i++)
        if (row[i] > -INFINITY) sum += exp((double)row[i]);
    return (double)row[t] - log(sum);
}

static void test_logprobs(void) {
    lmc_context *ctx = new_ctx(64, 1, 64);
    lmc_gen *g = new_gen(ctx, 0);
    float *row = malloc((size_t)g_vocab * sizeof *row), *biased = malloc(g_vocab * sizeof *row);
    const int32_t bos = lmc_token_bos(g_model), ref_order[6] = {5, 7, 9, 11, 0, 1};
    for (int i = 0; i < g_vocab; i++)
        row[i] = 0.0f;
    row[5] = 3.0f, row[7] = 2.0f, row[9] = 2.0f, row[11] = 1.0f; /* 7 and 9 tie: 7 comes first */
    lmc_gen_event ev;
    lmc_gen_params p = greedy(-1);
    p.n_probs = 6;
    CHECK(lmc_gen_start(g, &bos, 1, &p) == LMC_OK, "start: %s", lmc_last_error());
    CHECK(row_step(ctx, g, row, &ev) == LMC_OK, "step");
    CHECK(ev.token == 5 && ev.n_probs == 6 && ev.probs, "greedy 5 with 6 alternatives: %d %d",
          ev.token, ev.n_probs);
    double total = 0;
    for (int j = 0; j < ev.n_probs && ev.probs; j++) {
        int32_t t = ev.probs[j].token;
        CHECK(t == ref_order[j], "alternative %d is %d, expected %d", j, t, ref_order[j]);
        CHECK(fabs(ev.probs[j].logprob - ref_logprob(row, t)) < 1e-5, "logprob of %d: %g vs %g", t,
              ev.probs[j].logprob, ref_logprob(row, t));
        CHECK(ev.probs[j].logprob <= 0, "log-probabilities are <= 0");
        total += exp(ev.probs[j].logprob);
    }
    CHECK(total <= 1.0 + 1e-6, "the alternatives hold at most all the mass: %g", total);
    CHECK(fabs(ev.logprob - ref_logprob(row, 5)) < 1e-5 && ev.probs &&
              ev.logprob == ev.probs[0].logprob,
          "the chosen token's logprob %g is the top entry's", ev.logprob);

    /* logit_bias: -100 removes 5 (greedy then picks 7), +1.5 on 11 joins the tie above it */
    lmc_logit_bias bias[2] = {{5, -100.0f}, {11, 1.5f}};
    p.logit_bias = bias;
    p.n_logit_bias = 2;
    CHECK(lmc_gen_start(g, &bos, 1, &p) == LMC_OK, "start with biases: %s", lmc_last_error());
    CHECK(row_step(ctx, g, row, &ev) == LMC_OK, "step");
    memcpy(biased, row, g_vocab * sizeof *row);
    biased[5] = -INFINITY, biased[11] = 2.5f;
    CHECK(ev.token == 11 && ev.probs && ev.probs[0].token == 11 && ev.probs[1].token == 7 &&
              ev.probs[2].token == 9,
          "biased greedy picks 11 then 7, 9: %d", ev.token);
    for (int j = 0; j < ev.n_probs && ev.probs; j++) {
        CHECK(ev.probs[j].token != 5, "the removed token is not an alternative");
        CHECK(fabs(ev.probs[j].logprob - ref_logprob(biased, ev.probs[j].token)) < 1e-5,
              "biased logprob of %d", ev.probs[j].token);
    }

    /* sampling at temperature 1: the dominant token, removed, never comes back */
    for (int i = 0; i < g_vocab; i++)
        row[i] = i == 5 ? 12.0f : 0.0f;
    p = lmc_gen_default_params();
    p.sampling.temp = 1.0f, p.sampling.top_k = 0, p.sampling.top_p = 1.0f, p.sampling.min_p = 0;
    p.sampling.seed = 42;
    p.logit_bias = bias;
    p.n_logit_bias = 1;
    p.n_predict = 40;
    CHECK(lmc_gen_start(g, &bos, 1, &p) == LMC_OK, "start");
    int seen5 = 0, steps = 0;
    do {
        if (row_step(ctx, g, row, &ev) != LMC_OK) break;
        seen5 += ev.token == 5;
        steps++;
    } while (ev.end == LMC_GEN_END_NONE);
    CHECK(seen5 == 0 && steps > 1, "token 5 sampled %d times in %d steps", seen5, steps);

    /* bad arguments */
    lmc_logit_bias bad = {g_vocab, 1.0f};
    p = greedy(-1);
    p.logit_bias = &bad;
    p.n_logit_bias = 1;
    CHECK(lmc_gen_start(g, &bos, 1, &p) == LMC_ERR_INVALID_ARG, "a token outside the vocabulary");
    p = greedy(-1);
    p.n_probs = LMC_GEN_MAX_PROBS + 1;
    CHECK(lmc_gen_start(g, &bos, 1, &p) == LMC_ERR_INVALID_ARG, "too many alternatives");
    free(row);
    free(biased);
    lmc_gen_free(g);
    lmc_context_free(ctx);
}

int main(void) {
    t_require_shared();
    g_model = t_load_model_or_skip(t_shared("models/stories260K.gguf"));
    if (!g_model) return t_failed ? 1 : 77;
    g_vocab = lmc_model_n_vocab(g_model);
    test_golden(ONCE, 512);
    test_golden(ONCE, 2);
    test_golden(BOS64, 512);
    test_stop();
    test_prefix();
    test_batched();
    test_limits();
    test_forced();
    test_logprobs();
    lmc_model_free(g_model);
    return t_done();
}
