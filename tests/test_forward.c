/* test_forward.c — the decode API against itself: one batch vs token by token vs small n_batch,
 * several sequences in one batch vs each alone, logits of every row, truncation, context shift
 * (against a fresh decode at the new positions), thread counts (bitwise), the observer, and the
 * error cases, on llama models and on one model of each other family (tests/data/families). The
 * logits against independent references are checked in test_logits.py and test_families.py. */
#include "lmc.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

/* The KV cache type of every context below (main runs the models with f32, then f16, then q8_0). */
static lmc_kv_type g_kv = LMC_KV_F32;

static lmc_context *new_ctx(lmc_model *m, int n_ctx, int n_seq, int n_threads, int n_batch) {
    lmc_context_params p = lmc_context_default_params();
    p.type_k = g_kv;
    p.type_v = g_kv;
    p.n_ctx = n_ctx;
    p.n_seq = n_seq;
    p.n_threads = n_threads;
    p.n_batch = n_batch;
    lmc_context *ctx = NULL;
    lmc_status st = lmc_context_init(m, &p, &ctx);
    CHECK(st == LMC_OK, "context init: %s", lmc_last_error());
    return ctx;
}

/* Logits after decoding toks at positions 0..n-1 in a fresh context, copied to out. */
static void decode_fresh(lmc_model *m, const int32_t *toks, int n, int n_threads, int n_batch,
                         float *out) {
    lmc_context *ctx = new_ctx(m, 64, 1, n_threads, n_batch);
    if (!ctx) return;
    const float *lg = NULL;
    lmc_status st = lmc_decode(ctx, toks, n, 0, &lg);
    CHECK(st == LMC_OK, "decode: %s", lmc_last_error());
    if (lg) memcpy(out, lg, (size_t)lmc_model_n_vocab(m) * sizeof(float));
    lmc_context_free(ctx);
}

/* An lmc_observer keeping what it was shown: layers (n_layer, n_embd), final norm, logits, and how
 * often each came. */
typedef struct {
    int n_layer, n_embd, n_vocab;
    float *layers, *norm, *logits;
    int seen[64], n_norm, n_logits, n_bad;
} capture;

static void capture_observe(void *user, lmc_observe_what what, int32_t layer, const float *v,
                            int32_t n) {
    capture *c = user;
    if (what == LMC_OBSERVE_LAYER && layer >= 0 && layer < c->n_layer && layer < 64 &&
        n == c->n_embd) {
        memcpy(c->layers + (size_t)layer * n, v, (size_t)n * 4);
        c->seen[layer]++;
    } else if (what == LMC_OBSERVE_FINAL_NORM && layer == -1 && n == c->n_embd) {
        memcpy(c->norm, v, (size_t)n * 4);
        c->n_norm++;
    } else if (what == LMC_OBSERVE_LOGITS && layer == -1 && n == c->n_vocab) {
        memcpy(c->logits, v, (size_t)n * 4);
        c->n_logits++;
    } else {
        c->n_bad++;
    }
}

static void capture_init(capture *c, const lmc_model *m) {
    memset(c, 0, sizeof *c);
    c->n_layer = lmc_model_n_layer(m), c->n_embd = lmc_model_n_embd(m),
    c->n_vocab = lmc_model_n_vocab(m);
    c->layers = malloc((size_t)c->n_layer * c->n_embd * 4);
    c->norm = malloc((size_t)c->n_embd * 4);
    c->logits = malloc((size_t)c->n_vocab * 4);
}

static void capture_free(capture *c) {
    free(c->layers);
    free(c->norm);
    free(c->logits);
}

/* True when every layer, the final norm and the logits were shown exactly once (and nothing else).
 */
static bool capture_once(const capture *c) {
    bool ok = c->n_norm == 1 && c->n_logits == 1 && c->n_bad == 0 && c->n_layer <= 64;
    for (int l = 0; l < c->n_layer && l < 64; l++)
        ok = ok && c->seen[l] == 1;
    return ok;
}

/* The observer sees the last token of a decode call, whatever n_batch cuts it, once per call and
 * nothing once unset; what it sees of the logits is what the decode returns. */
static void test_observer(lmc_model *m, const int32_t *toks, int n) {
    const int V = lmc_model_n_vocab(m), E = lmc_model_n_embd(m), L = lmc_model_n_layer(m);
    capture one, cut;
    capture_init(&one, m);
    capture_init(&cut, m);
    lmc_context *c1 = new_ctx(m, 64, 1, 2, 512), *c5 = new_ctx(m, 64, 1, 2, 5);
    if (!c1 || !c5 || !one.layers || !cut.layers || L > 64) goto done;
    const float *lg1 = NULL, *lg5 = NULL;
    lmc_context_set_observer(c1, capture_observe, &one);
    lmc_context_set_observer(c5, capture_observe, &cut);
    CHECK(lmc_decode(c1, toks, n, 0, &lg1) == LMC_OK, "observed decode: %s", lmc_last_error());
    CHECK(lmc_decode(c5, toks, n, 0, &lg5) == LMC_OK, "observed decode (n_batch 5): %s",
          lmc_last_error());
    if (!lg1 || !lg5) goto done;
    CHECK(capture_once(&one) && capture_once(&cut),
          "observer: not every layer, norm and logits once");
    CHECK(memcmp(one.logits, lg1, (size_t)V * 4) == 0 &&
              memcmp(cut.logits, lg5, (size_t)V * 4) == 0,
          "observed logits differ from the returned ones");
    /* n_batch 5 cuts the prompt into 5 + 5 + 2: the observed token is still the last one */
    double e = t_nmse_f(cut.layers + (size_t)(L - 1) * E, one.layers + (size_t)(L - 1) * E, E);
    double en = t_nmse_f(cut.norm, one.norm, E);
    printf("  observed last layer, n_batch 5 vs 512: nmse %.3g (final norm %.3g)\n", e, en);
    CHECK(e <= 1e-5 && en <= 1e-5, "observed token differs with n_batch 5: nmse %g, %g", e, en);
    /* every row wanted: the last token is observed, its logits are the last row */
    lmc_seq_truncate(c5, 0, 0);
    memset(&cut.seen, 0, sizeof cut.seen);
    cut.n_norm = cut.n_logits = cut.n_bad = 0;
    int32_t pos[16];
    int8_t want[16];
    for (int i = 0; i < n && i < 16; i++)
        pos[i] = i, want[i] = 1;
    lmc_batch b = {.n_tokens = n < 16 ? n : 16, .token = toks, .pos = pos, .want_logits = want};
    CHECK(lmc_decode_batch(c5, &b, &lg5) == LMC_OK, "observed batch: %s", lmc_last_error());
    CHECK(lg5 && capture_once(&cut) &&
              memcmp(cut.logits, lg5 + (size_t)(b.n_tokens - 1) * V, (size_t)V * 4) == 0,
          "all-rows batch: the observer did not see the last row once");
    /* unset: nothing more */
    lmc_context_set_observer(c1, NULL, NULL);
    CHECK(lmc_decode(c1, toks, 1, n, &lg1) == LMC_OK, "decode after unset: %s", lmc_last_error());
    CHECK(capture_once(&one), "observer called after it was unset");
done:
    lmc_context_free(c1);
    lmc_context_free(c5);
    capture_free(&one);
    capture_free(&cut);
}

/* lmc_embed: every token's final hidden state equals the observer's final norm of a decode that
 * ends at that token (n_batch 5 cuts the embedding into slices); the sequence holds the tokens. */
static void test_embed(lmc_model *m, const int32_t *toks, int n) {
    const int E = lmc_model_n_embd(m);
    capture cap;
    capture_init(&cap, m);
    float *h = malloc((size_t)n * E * 4);
    lmc_context *ce = new_ctx(m, 64, 2, 2, 5), *c1 = new_ctx(m, 64, 1, 2, 512);
    if (!ce || !c1 || !h || !cap.norm) goto done;
    CHECK(lmc_embed(ce, 1, toks, n, h) == LMC_OK, "embed: %s", lmc_last_error());
    lmc_context_set_observer(c1, capture_observe, &cap);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const float *lg;
        lmc_seq_truncate(c1, 0, 0);
        CHECK(lmc_decode(c1, toks, i + 1, 0, &lg) == LMC_OK, "decode: %s", lmc_last_error());
        double e = t_nmse_f(h + (size_t)i * E, cap.norm, E);
        if (e > worst) worst = e;
    }
    printf("  lmc_embed vs observed final norms, %d tokens: worst nmse %.3g\n", n, worst);
    CHECK(worst <= 1e-5, "embedding rows differ from the observed final norms: nmse %g", worst);
    int32_t pos = n, seq = 1, next = toks[0];
    lmc_batch b = {.n_tokens = 1, .token = &next, .pos = &pos, .seq_id = &seq};
    const float *lg;
    CHECK(lmc_decode_batch(ce, &b, &lg) == LMC_OK, "the embedded sequence continues: %s",
          lmc_last_error());
    CHECK(lmc_embed(ce, 2, toks, n, h) == LMC_ERR_INVALID_ARG, "a sequence outside n_seq");
    CHECK(lmc_embed(ce, 0, toks, 65, h) == LMC_ERR_CONTEXT_FULL, "more tokens than the context");
done:
    free(h);
    lmc_context_free(ce);
    lmc_context_free(c1);
    capture_free(&cap);
}

static void test_model(const char *path) {
    lmc_model *m = NULL;
    lmc_status st = lmc_model_load(path, NULL, &m);
    CHECK(st == LMC_OK, "load %s: %s", path, lmc_last_error());
    if (!m) return;
    const int V = lmc_model_n_vocab(m);
    printf("%s (KV cache %s)\n", path, lmc_kv_type_name(g_kv));
    int32_t A[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};
    int32_t B[] = {1, 300, 42, 7, 99, 123, 400};
    const int nA = 12, nB = 7;
    for (int i = 0; i < nA; i++) /* the family models have 320 tokens */
        A[i] %= V;
    for (int i = 0; i < nB; i++)
        B[i] %= V;
    float *ref = malloc((size_t)V * 4), *tmp = malloc((size_t)V * 4), *refB = malloc((size_t)V * 4);
    float *rows = malloc((size_t)V * 4 * nA);

    /* one batch (the reference below), with n_batch 5 (split), and token by token */
    decode_fresh(m, A, nA, 2, 512, ref);
    decode_fresh(m, A, nA, 2, 5, tmp);
    double e = t_nmse_f(tmp, ref, V);
    printf("  split batches vs one batch: nmse %.3g\n", e);
    CHECK(e <= 1e-5, "split batches: nmse %g", e);
    lmc_context *ctx = new_ctx(m, 64, 1, 2, 512);
    const float *lg = NULL;
    for (int i = 0; i < nA; i++) {
        st = lmc_decode(ctx, &A[i], 1, i, &lg);
        CHECK(st == LMC_OK, "decode token %d: %s", i, lmc_last_error());
        if (st != LMC_OK) break;
        memcpy(rows + (size_t)i * V, lg, (size_t)V * 4); /* logits after each prefix */
    }
    e = t_nmse_f(rows + (size_t)(nA - 1) * V, ref, V);
    printf("  token by token vs one batch: nmse %.3g\n", e);
    CHECK(e <= 1e-5, "token by token: nmse %g", e);

    /* every row's logits from one batch equal the prefixes' logits */
    lmc_seq_truncate(ctx, 0, 0);
    int32_t pos[16];
    int8_t want[16];
    for (int i = 0; i < nA; i++)
        pos[i] = i, want[i] = 1;
    lmc_batch b = {.n_tokens = nA, .token = A, .pos = pos, .want_logits = want};
    st = lmc_decode_batch(ctx, &b, &lg);
    CHECK(st == LMC_OK, "all-rows batch: %s", lmc_last_error());
    double worst = 0;
    for (int i = 0; st == LMC_OK && i < nA; i++) {
        double ei = t_nmse_f(lg + (size_t)i * V, rows + (size_t)i * V, V);
        if (ei > worst) worst = ei;
    }
    printf("  all rows of one batch vs prefixes: worst nmse %.3g\n", worst);
    CHECK(worst <= 1e-5, "all rows: nmse %g", worst);

    /* truncate and re-decode: decode 4 more tokens, forget them and 3 of the prompt, redo those 3
     */
    st = lmc_decode(ctx, B + 1, 4, nA, &lg);
    CHECK(st == LMC_OK, "decode more: %s", lmc_last_error());
    lmc_seq_truncate(ctx, 0, nA - 3);
    st = lmc_decode(ctx, A + nA - 3, 3, nA - 3, &lg);
    CHECK(st == LMC_OK, "re-decode: %s", lmc_last_error());
    if (st == LMC_OK) {
        e = t_nmse_f(lg, ref, V);
        printf("  truncate + re-decode vs one batch: nmse %.3g\n", e);
        CHECK(e <= 1e-5, "truncate: nmse %g", e);
    }
    /* decoding at an earlier position rewinds the sequence implicitly */
    st = lmc_decode(ctx, A + nA - 1, 1, nA - 1, &lg);
    CHECK(st == LMC_OK && t_nmse_f(lg, ref, V) <= 1e-5, "rewind by position: %s", lmc_last_error());
    lmc_context_free(ctx);

    /* two sequences in one batch, interleaved, each equal to itself alone */
    decode_fresh(m, B, nB, 2, 512, refB);
    ctx = new_ctx(m, 64, 2, 2, 512);
    int32_t tok2[32], pos2[32], seq2[32];
    int8_t want2[32];
    int n2 = 0;
    for (int i = 0; i < nA || i < nB; i++) {
        if (i < nA) tok2[n2] = A[i], pos2[n2] = i, seq2[n2] = 0, want2[n2++] = i == nA - 1;
        if (i < nB) tok2[n2] = B[i], pos2[n2] = i, seq2[n2] = 1, want2[n2++] = i == nB - 1;
    }
    lmc_batch b2 = {
        .n_tokens = n2, .token = tok2, .pos = pos2, .seq_id = seq2, .want_logits = want2};
    st = lmc_decode_batch(ctx, &b2, &lg);
    CHECK(st == LMC_OK, "two-sequence batch: %s", lmc_last_error());
    if (st == LMC_OK) {
        /* wanted rows come in batch order: B's last token (i = 6) precedes A's (i = 11) */
        double eA = t_nmse_f(lg + V, ref, V), eB = t_nmse_f(lg, refB, V);
        printf("  two sequences in one batch vs alone: nmse %.3g, %.3g\n", eA, eB);
        CHECK(eA <= 1e-5 && eB <= 1e-5, "two sequences: nmse %g %g", eA, eB);
    }

    /* context shift: seq 1 holds A at positions 20..31; move them down to 0..11 and decode B[1] at
     * 12. RoPE attention depends only on relative positions, so this must match A then B[1] decoded
     * from position 0. */
    lmc_seq_truncate(ctx, 1, 0);
    for (int i = 0; i < nA; i++)
        pos2[i] = 20 + i, seq2[i] = 1;
    lmc_batch b3 = {.n_tokens = nA, .token = A, .pos = pos2, .seq_id = seq2};
    st = lmc_decode_batch(ctx, &b3, &lg);
    CHECK(st == LMC_OK, "decode at 20: %s", lmc_last_error());
    st = lmc_seq_shift(ctx, 1, 20, nA, 0);
    CHECK(st == LMC_OK, "shift: %s", lmc_last_error());
    int32_t nxt = B[1], p12 = nA, s1 = 1;
    lmc_batch b4 = {.n_tokens = 1, .token = &nxt, .pos = &p12, .seq_id = &s1};
    st = lmc_decode_batch(ctx, &b4, &lg);
    CHECK(st == LMC_OK, "decode after shift: %s", lmc_last_error());
    int32_t AB[16];
    memcpy(AB, A, sizeof A);
    AB[nA] = B[1];
    decode_fresh(m, AB, nA + 1, 2, 512, tmp);
    if (st == LMC_OK) {
        e = t_nmse_f(lg, tmp, V);
        double limit = 1e-6;
        if (g_kv != LMC_KV_F32) { /* shifted half or q8_0 keys are rounded (quantized) twice,
                                   * rotated in f32 between: a few times what rounding them once
                                   * costs (f16 or q8_0 vs f32) */
            float *f32 = malloc((size_t)V * 4);
            const lmc_kv_type kv = g_kv;
            g_kv = LMC_KV_F32;
            decode_fresh(m, AB, nA + 1, 2, 512, f32);
            g_kv = kv;
            limit += 4 * t_nmse_f(tmp, f32, V);
            free(f32);
        }
        printf("  shifted cache vs fresh decode at the new positions: nmse %.3g (limit %.3g)\n", e,
               limit);
        CHECK(e <= limit, "shift: nmse %g > %g", e, limit);
    }
    /* a context shift that drops positions: [6, 13) moves to 2, the sequence is then 9 long */
    st = lmc_seq_shift(ctx, 1, 6, 7, 2);
    CHECK(st == LMC_OK, "shift down: %s", lmc_last_error());
    p12 = 10;
    st = lmc_decode_batch(ctx, &b4, &lg);
    CHECK(st == LMC_ERR_INVALID_ARG, "gap after shift accepted");
    p12 = 9;
    st = lmc_decode_batch(ctx, &b4, &lg);
    CHECK(st == LMC_OK, "decode after drop-shift: %s", lmc_last_error());
    CHECK(lmc_seq_shift(ctx, 1, 5, 20, 0) == LMC_ERR_INVALID_ARG,
          "shift beyond the sequence accepted");
    CHECK(lmc_seq_shift(ctx, 7, 0, 1, 0) == LMC_ERR_INVALID_ARG,
          "shift of a bad sequence accepted");

    /* errors leave a message and the state untouched */
    int32_t bad = V;
    int32_t p0 = 0;
    st = lmc_decode(ctx, &bad, 1, 0, &lg);
    CHECK(st == LMC_ERR_INVALID_ARG && strstr(lmc_last_error(), "vocabulary"), "token id %d: %d %s",
          bad, st, lmc_last_error());
    bad = -1;
    st = lmc_decode(ctx, &bad, 1, 0, &lg);
    CHECK(st == LMC_ERR_INVALID_ARG, "token id -1: %d", st);
    st = lmc_decode(ctx, A, 1, 64, &lg);
    CHECK(st == LMC_ERR_CONTEXT_FULL && strstr(lmc_last_error(), "-c"), "pos 64 of 64: %d %s", st,
          lmc_last_error());
    st = lmc_decode(ctx, A, 5, 62, &lg);
    CHECK(st == LMC_ERR_CONTEXT_FULL, "positions 62..66 of 64: %d", st);
    int32_t p64 = 64;
    lmc_batch b5 = {.n_tokens = 1, .token = A, .pos = &p64};
    st = lmc_decode_batch(ctx, &b5, &lg);
    CHECK(st == LMC_ERR_CONTEXT_FULL && strstr(lmc_last_error(), "n_ctx"), "batch pos 64: %d %s",
          st, lmc_last_error());
    int32_t s9 = 9;
    lmc_batch b6 = {.n_tokens = 1, .token = A, .pos = &p0, .seq_id = &s9};
    CHECK(lmc_decode_batch(ctx, &b6, &lg) == LMC_ERR_INVALID_ARG, "sequence id 9 accepted");
    int32_t pp[2] = {0, 2};
    lmc_batch b7 = {.n_tokens = 2, .token = A, .pos = pp};
    CHECK(lmc_decode_batch(ctx, &b7, &lg) == LMC_ERR_INVALID_ARG, "positions 0, 2 accepted");
    lmc_batch b8 = {.n_tokens = 0, .token = A, .pos = pp};
    CHECK(lmc_decode_batch(ctx, &b8, &lg) == LMC_ERR_INVALID_ARG, "empty batch accepted");
    lmc_context_free(ctx);

    /* thread counts: every output is computed by one thread in a fixed order: bitwise equal */
    decode_fresh(m, A, nA, 1, 512, tmp);
    CHECK(memcmp(tmp, ref, (size_t)V * 4) == 0, "1 thread differs from 2 (nmse %g)",
          t_nmse_f(tmp, ref, V));
    decode_fresh(m, A, nA, 3, 512, tmp);
    CHECK(memcmp(tmp, ref, (size_t)V * 4) == 0, "3 threads differ from 2 (nmse %g)",
          t_nmse_f(tmp, ref, V));

    test_observer(m, A, nA);
    test_embed(m, A, nA);

    free(ref);
    free(refB);
    free(tmp);
    free(rows);
    lmc_model_free(m);
}

/* A q8_0 cache is refused with a message that says why and what to use instead: for a head_dim
 * that is not a multiple of 32 (stories260K: 8), and on the CUDA backend (asked by name: refused
 * before any GPU is looked for, in builds with and without it). */
static const char *family_model(const char *name);
static void test_q8_0_refusals(void) {
    lmc_model *m = t_load_model_or_skip(t_shared("models/stories260K.gguf"));
    if (m) {
        for (int which = 0; which < 2; which++) {
            lmc_context_params p = lmc_context_default_params();
            p.n_ctx = 64;
            p.device = LMC_DEVICE_CPU;
            if (which == 0)
                p.type_k = LMC_KV_Q8_0;
            else
                p.type_v = LMC_KV_Q8_0;
            lmc_context *ctx = NULL;
            lmc_status st = lmc_context_init(m, &p, &ctx);
            CHECK(st == LMC_ERR_UNSUPPORTED && !ctx && strstr(lmc_last_error(), "head_dim is 8") &&
                      strstr(lmc_last_error(), "-ctk f16"),
                  "q8_0 %s with head_dim 8: status %d '%s'", which ? "V" : "K", (int)st,
                  lmc_last_error());
            lmc_context_free(ctx);
        }
        lmc_model_free(m);
    }
    m = t_load_model_or_skip(family_model("gemma2-swa-Q8_0.gguf"));
    if (!m) return;
    const lmc_kv_type pairs[][2] = {
        {LMC_KV_Q8_0, LMC_KV_Q8_0}, {LMC_KV_Q8_0, LMC_KV_F16}, {LMC_KV_F32, LMC_KV_Q8_0}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        lmc_context_params p = lmc_context_default_params();
        p.n_ctx = 64;
        p.device = LMC_DEVICE_CUDA;
        p.type_k = pairs[i][0];
        p.type_v = pairs[i][1];
        lmc_context *ctx = NULL;
        lmc_status st = lmc_context_init(m, &p, &ctx);
        CHECK(st == LMC_ERR_UNSUPPORTED && !ctx && strstr(lmc_last_error(), "CPU backend only") &&
                  strstr(lmc_last_error(), "--device cpu"),
              "q8_0 cache on CUDA (pair %zu): status %d '%s'", i, (int)st, lmc_last_error());
        lmc_context_free(ctx);
    }
    /* the name and its parsing; an unknown name lists the choices */
    lmc_kv_type t = LMC_KV_F32;
    CHECK(lmc_kv_type_from_name("q8_0", &t) == LMC_OK && t == LMC_KV_Q8_0 &&
              !strcmp(lmc_kv_type_name(LMC_KV_Q8_0), "q8_0"),
          "q8_0 by name");
    CHECK(lmc_kv_type_from_name("q4_0", &t) == LMC_ERR_INVALID_ARG &&
              strstr(lmc_last_error(), "f32, f16, q8_0"),
          "q4_0: '%s'", lmc_last_error());
    lmc_model_free(m);
}

/* A model of tests/data/families (scripts/make_family_goldens.py) in the source tree. */
static const char *family_model(const char *name) {
    static char path[1024];
    const char *src = getenv("LMC_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/data/families/%s", src ? src : "..", name);
    return path;
}

int main(void) {
    t_require_shared();
    test_model(t_shared("models/stories260K.gguf"));                  /* F32, GQA 8/4, 512 vocab */
    test_model(t_shared("models/synthetic/synthetic-A-Q4_K_M.gguf")); /* k-quants, GQA 8/2 */
    /* the other families: q/k/v biases; soft-caps and a sliding window of 8 over a 12-token
     * prompt; two RoPE bases (sliding and global layers) and linear scaling; fused qkv, fused
     * gate|up, LongRoPE factors and attn_factor */
    test_model(family_model("qwen2-gqa-tied-Q5_1.gguf"));
    test_model(family_model("gemma2-swa-Q8_0.gguf"));
    test_model(family_model("gemma3-swa-linear-Q8_0.gguf"));
    test_model(family_model("phi3-fused-longrope-Q4_0.gguf"));
    /* the same with a half cache: the paths must agree with each other as they do in f32 */
    g_kv = LMC_KV_F16;
    test_model(t_shared("models/stories260K.gguf"));
    test_model(family_model("gemma2-swa-Q8_0.gguf"));
    test_model(family_model("phi3-fused-longrope-Q4_0.gguf"));
    /* and a q8_0 cache (models whose head_dim is a multiple of 32: 64, 64, 32) */
    g_kv = LMC_KV_Q8_0;
    test_model(family_model("qwen2-gqa-tied-Q5_1.gguf"));
    test_model(family_model("gemma2-swa-Q8_0.gguf"));
    test_model(family_model("phi3-fused-longrope-Q4_0.gguf"));
    g_kv = LMC_KV_F32;
    test_q8_0_refusals();
    return t_done();
}
