/* test_cuda_split.c — partial offload (-ngl N: the first n_layer-N layers on the CPU, the last N
 * and the output on the GPU) against the CPU backend through the public API: for N = 1, n_layer/2,
 * n_layer-1 (and n_layer, the full-GPU path) prompt logits by NMSE, 32 greedy ids and one more
 * after a context shift, the prompt GEMM path, the observed residual of every layer (what --dump
 * writes) and logits, and the refusals. Exactness needs f32 activations on both sides: env
 * LMC_CUDA_Q8=0 on the GPU and LMC_KERNELS=ref on the CPU (its fast kernels round activations to 8
 * bits for quantized weights, as ggml does, which alone moves a random-weight model's logits by
 * NMSE ~1e-4). The default 8-bit GPU path is checked by argmax. The memory plan checks run without
 * a GPU; the rest skips without one. Prints every number it compares, so one run says where a split
 * goes wrong. Then stories260K and synthetic-A Q4_K_M again with f16 KV caches on both sides
 * (-ctk/-ctv f16: the CPU layers' cache and the GPU's), and, without a GPU, the f16 plan (half the
 * KV bytes, the prompt attention's f32 scratch) and the refusal of mixed types and of q8_0 on CUDA.
 */
#include "testutil.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lmc.h"
#include "model.h"
#ifdef LMC_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

#ifndef LMC_WITH_CUDA
int main(void) {
    printf("SKIP: built without the CUDA backend\n");
    return 77;
}
#else

enum { N_GEN = 32, SHORT = 8, LONG = 40, MAX_IDS = N_GEN + 1 };

/* The decode path on f32 activations (exact) or the default (8-bit activations where the type has
 * that path). The CUDA context reads the env at init. */
static void set_exact(bool exact) {
    if (exact)
        setenv("LMC_CUDA_Q8", "0", 1);
    else
        unsetenv("LMC_CUDA_Q8");
}

static lmc_kv_type g_kv = LMC_KV_F32; /* the KV cache type of both sides' contexts */

static lmc_context *open_ctx(lmc_model *m, lmc_device dev, int ngl, int n_seq, lmc_status *st_out) {
    lmc_context_params cp = lmc_context_default_params();
    cp.type_k = cp.type_v = g_kv;
    cp.n_ctx = 128;
    cp.n_batch = 64;
    cp.n_seq = n_seq;
    cp.n_threads = 2;
    cp.device = dev;
    cp.n_gpu_layers = ngl;
    lmc_context *ctx = NULL;
    lmc_status st = lmc_context_init(m, &cp, &ctx);
    if (st_out) *st_out = st;
    return ctx;
}

/* An lmc_observer keeping what it is shown of one token: the residual after each layer and the
 * logits, with how often each came. */
typedef struct {
    float *layers; /* (n_layer, n_embd) */
    float *logits; /* (n_vocab) */
    int n_layer, n_embd, n_vocab;
    int seen[512]; /* times each layer was shown (n_layer <= 512) */
    int n_logits, n_other;
} capture;

static bool capture_init(capture *c, int n_layer, int n_embd, int n_vocab) {
    memset(c, 0, sizeof *c);
    c->n_layer = n_layer, c->n_embd = n_embd, c->n_vocab = n_vocab;
    c->layers = malloc((size_t)n_layer * n_embd * sizeof(float));
    c->logits = malloc((size_t)n_vocab * sizeof(float));
    return n_layer <= 512 && c->layers && c->logits;
}

/* Forgets what was shown (the buffers stay). */
static void capture_reset(capture *c) {
    memset(c->seen, 0, sizeof c->seen);
    c->n_logits = c->n_other = 0;
}

static void capture_free(capture *c) {
    free(c->layers);
    free(c->logits);
}

static void capture_observe(void *user, lmc_observe_what what, int32_t layer, const float *v,
                            int32_t n) {
    capture *c = user;
    if (what == LMC_OBSERVE_LAYER && layer >= 0 && layer < c->n_layer && n == c->n_embd) {
        memcpy(c->layers + (size_t)layer * n, v, (size_t)n * sizeof(float));
        c->seen[layer]++;
    } else if (what == LMC_OBSERVE_LOGITS && layer == -1 && n == c->n_vocab) {
        memcpy(c->logits, v, (size_t)n * sizeof(float));
        c->n_logits++;
    } else if (what != LMC_OBSERVE_FINAL_NORM) {
        c->n_other++;
    }
}

/* What one context gives for the script: the logits after a prompt of np tokens (one decode call,
 * only the last token's logits), N_GEN greedy ids, then one more id after dropping positions 1..8
 * (lmc_seq_shift). With cap, the prompt's last token is observed into it (and nothing after it). */
typedef struct {
    float *prompt_logits; /* (n_vocab) */
    int32_t ids[MAX_IDS];
    int n_ids;
} script_out;

static bool run_script(lmc_context *ctx, const int32_t *prompt, int np, int n_vocab, capture *cap,
                       script_out *o) {
    const float *lg = NULL;
    if (cap) lmc_context_set_observer(ctx, capture_observe, cap);
    lmc_status st = lmc_decode(ctx, prompt, np, 0, &lg);
    lmc_context_set_observer(ctx, NULL, NULL);
    CHECK(st == LMC_OK, "prompt decode: %s", lmc_last_error());
    if (st != LMC_OK) return false;
    memcpy(o->prompt_logits, lg, (size_t)n_vocab * sizeof(float));
    int pos = np;
    o->n_ids = 0;
    for (int n = 0; n < N_GEN && st == LMC_OK; n++) {
        o->ids[o->n_ids++] = t_argmax(lg, n_vocab);
        st = lmc_decode(ctx, &o->ids[n], 1, pos++, &lg);
    }
    CHECK(st == LMC_OK, "greedy decode: %s", lmc_last_error());
    if (st != LMC_OK) return false;
    st = lmc_seq_shift(ctx, 0, 9, pos - 9, 1);
    CHECK(st == LMC_OK, "shift: %s", lmc_last_error());
    if (st == LMC_OK) st = lmc_decode(ctx, &o->ids[N_GEN - 1], 1, pos - 8, &lg);
    CHECK(st == LMC_OK, "decode after the shift: %s", lmc_last_error());
    if (st != LMC_OK) return false;
    o->ids[o->n_ids++] = t_argmax(lg, n_vocab);
    return true;
}

/* Every layer observed once in got and ref, NMSE <= 1e-6 against ref; got's logits observed once
 * and equal to the prompt logits the decode returned. */
static void compare_observed(const char *what, const capture *got, const capture *ref,
                             const float *prompt_logits) {
    double worst = 0;
    int worst_l = -1, missing = 0;
    for (int l = 0; l < got->n_layer; l++) {
        if (got->seen[l] != 1 || ref->seen[l] != 1) {
            missing++;
            printf("  %s: layer %d observed %d times (CPU %d)\n", what, l, got->seen[l],
                   ref->seen[l]);
            continue;
        }
        const size_t at = (size_t)l * got->n_embd;
        double e = t_nmse_f(got->layers + at, ref->layers + at, got->n_embd);
        if (!(e <= worst)) worst = e, worst_l = l;
    }
    printf("  %s: %d layers observed, worst layer NMSE vs CPU %.3g (layer %d)\n", what,
           got->n_layer - missing, worst, worst_l);
    CHECK(missing == 0, "%s: %d layers not observed once", what, missing);
    CHECK(worst <= 1e-6, "%s: layer %d observed NMSE %g", what, worst_l, worst);
    CHECK(got->n_logits == 1 && got->n_other == 0,
          "%s: logits observed %d times, %d unexpected calls", what, got->n_logits, got->n_other);
    CHECK(got->n_logits != 1 ||
              memcmp(got->logits, prompt_logits, (size_t)got->n_vocab * sizeof(float)) == 0,
          "%s: observed logits differ from the decode's", what);
}

/* real: a trained model (well separated logits), where greedy ids and argmaxes must agree on every
 * path; random-weight models put logits within rounding of each other, so there only the exact
 * path's NMSE and first id are asserted and the rest is printed. */
static void test_model(const char *path, bool real) {
    lmc_model *m = t_load_model_or_skip(path);
    if (!m) return;
    const int nv = m->hp.n_vocab, nl = m->hp.n_layer;
    printf("%s: %d layers\n", path, nl);
    int32_t prompt[LONG];
    for (int i = 0; i < LONG; i++)
        prompt[i] = (int32_t)((i == 0 ? 1 : 37 + 101 * i) % nv);
    capture cpu_cap, gpu_cap;
    bool ok = capture_init(&cpu_cap, nl, m->hp.n_embd, nv);
    ok = capture_init(&gpu_cap, nl, m->hp.n_embd, nv) && ok;
    CHECK(ok, "%s: capture buffers", path);

    /* the CPU references: short prompt (decode path) observed, long prompt (GEMM path) */
    script_out cs = {.prompt_logits = malloc((size_t)nv * 4)},
               cl = {.prompt_logits = malloc((size_t)nv * 4)};
    script_out g = {.prompt_logits = malloc((size_t)nv * 4)};
    lmc_context *cpu = open_ctx(m, LMC_DEVICE_CPU, 0, 1, NULL);
    ok = ok && cpu && run_script(cpu, prompt, SHORT, nv, &cpu_cap, &cs);
    lmc_context_free(cpu);
    cpu = open_ctx(m, LMC_DEVICE_CPU, 0, 1, NULL);
    ok = ok && cpu && run_script(cpu, prompt, LONG, nv, NULL, &cl);
    lmc_context_free(cpu);
    CHECK(ok, "%s: CPU reference failed", path);

    int ngls[4] = {1, nl / 2, nl - 1, nl}, done[4] = {0};
    for (int k = 0; ok && k < 4; k++) {
        const int N = ngls[k];
        bool dup = N < 1 || N > nl;
        for (int j = 0; j < k; j++)
            dup = dup || done[j] == N;
        if (dup) continue;
        done[k] = N;
        char what[64];
        snprintf(what, sizeof what, "-ngl %d of %d%s", N, nl, N == nl ? " (all)" : "");
        /* exact: f32 decode path */
        set_exact(true);
        lmc_status st;
        lmc_context *ctx = open_ctx(m, LMC_DEVICE_CUDA, N, 1, &st);
        CHECK(st == LMC_OK, "%s %s: init: %s", path, what, lmc_last_error());
        capture_reset(&gpu_cap);
        if (ctx && run_script(ctx, prompt, SHORT, nv, &gpu_cap, &g)) {
            const double e = t_nmse_f(g.prompt_logits, cs.prompt_logits, nv);
            int same = 0;
            while (same < g.n_ids && g.ids[same] == cs.ids[same])
                same++;
            printf(
                "  %s exact: prompt logits NMSE vs CPU %.3g, argmax %d (CPU %d), %d/%d ids equal",
                what, e, t_argmax(g.prompt_logits, nv), t_argmax(cs.prompt_logits, nv), same,
                g.n_ids);
            if (same < g.n_ids)
                printf(" (first difference at %d: %d vs CPU %d)", same, g.ids[same], cs.ids[same]);
            printf("\n");
            CHECK(e <= 1e-6, "%s %s: prompt logits NMSE %g", path, what, e);
            if (real)
                CHECK(same == g.n_ids, "%s %s: greedy ids differ at %d", path, what, same);
            else
                CHECK(same >= 1, "%s %s: first greedy id differs", path, what);
            compare_observed(what, &gpu_cap, &cpu_cap, g.prompt_logits);
        }
        lmc_context_free(ctx);
        /* the long prompt through the GEMMs (f16 operands: the bound of the GEMM path) */
        ctx = open_ctx(m, LMC_DEVICE_CUDA, N, 1, &st);
        if (ctx && run_script(ctx, prompt, LONG, nv, NULL, &g)) {
            const double e = t_nmse_f(g.prompt_logits, cl.prompt_logits, nv);
            printf("  %s gemm: %d-token prompt logits NMSE vs CPU %.3g, argmax %d (CPU %d)\n", what,
                   LONG, e, t_argmax(g.prompt_logits, nv), t_argmax(cl.prompt_logits, nv));
            CHECK(e <= 1e-4, "%s %s: GEMM prompt logits NMSE %g", path, what, e);
            if (real)
                CHECK(t_argmax(g.prompt_logits, nv) == t_argmax(cl.prompt_logits, nv),
                      "%s %s: GEMM argmax", path, what);
        }
        lmc_context_free(ctx);
        /* the default decode path (8-bit activations where the weight types have it) */
        set_exact(false);
        ctx = open_ctx(m, LMC_DEVICE_CUDA, N, 1, &st);
        CHECK(st == LMC_OK, "%s %s default: init: %s", path, what, lmc_last_error());
        if (ctx && run_script(ctx, prompt, SHORT, nv, NULL, &g)) {
            const double e = t_nmse_f(g.prompt_logits, cs.prompt_logits, nv);
            int same = 0;
            while (same < g.n_ids && g.ids[same] == cs.ids[same])
                same++;
            printf("  %s default: prompt logits NMSE vs CPU %.3g, argmax %d (CPU %d), %d/%d ids "
                   "equal\n",
                   what, e, t_argmax(g.prompt_logits, nv), t_argmax(cs.prompt_logits, nv), same,
                   g.n_ids);
            if (real)
                CHECK(t_argmax(g.prompt_logits, nv) == t_argmax(cs.prompt_logits, nv),
                      "%s %s default: argmax", path, what);
        }
        lmc_context_free(ctx);
    }
    if (nl > 1) {
        /* refusals: several sequences with a split; the token entry of a GPU part that starts later
         */
        lmc_status st;
        lmc_context *ctx = open_ctx(m, LMC_DEVICE_CUDA, nl - 1, 2, &st);
        printf("  n_seq 2 with -ngl %d: %s\n", nl - 1, lmc_last_error());
        CHECK(!ctx && st == LMC_ERR_UNSUPPORTED, "%s: n_seq 2 split not refused", path);
        lmc_context_free(ctx);
        ctx = open_ctx(m, LMC_DEVICE_AUTO, nl - 1, 1, &st);
        CHECK(ctx && st == LMC_OK, "%s: AUTO with -ngl %d: %s", path, nl - 1, lmc_last_error());
        lmc_context_free(ctx);
        lmc_cuda_params p = {0};
        p.n_ctx = 16, p.n_batch = 4, p.layer0 = 1;
        lmc_cuda_ctx *c = NULL;
        st = lmc_cuda_init(m, &p, &c);
        CHECK(st == LMC_OK, "%s: lmc_cuda_init layer0 1: %s", path, lmc_last_error());
        if (c) {
            int32_t t = 1;
            CHECK(lmc_cuda_forward(c, &t, 1, 0, NULL, NULL) == LMC_ERR_INVALID_ARG,
                  "token entry of a split part");
            CHECK(lmc_cuda_forward_hidden(c, NULL, 1, 0, NULL, NULL) == LMC_ERR_INVALID_ARG,
                  "NULL hidden");
        }
        lmc_cuda_free(c);
        /* a plan larger than any GPU (the attention scratch grows with n_batch * n_ctx) is refused
         * before anything is allocated, with a message that names the GPU's share */
        p.n_ctx = 1 << 20, p.n_batch = 1 << 16;
        c = NULL;
        st = lmc_cuda_init(m, &p, &c);
        printf("  oversized plan: %s\n", lmc_last_error());
        CHECK(st == LMC_ERR_OOM && !c, "%s: oversized plan not refused (%d)", path, (int)st);
        lmc_cuda_free(c);
    }
    capture_free(&cpu_cap);
    capture_free(&gpu_cap);
    free(cs.prompt_logits);
    free(cl.prompt_logits);
    free(g.prompt_logits);
    lmc_model_free(m);
}

/* The memory plan counts only the GPU's layers: KV in proportion, weights below the whole model's.
 * Needs no GPU. */
static void test_plan(const char *path) {
    lmc_model *m = NULL;
    if (lmc_model_load(path, NULL, &m) != LMC_OK) {
        CHECK(0, "load %s: %s", path, lmc_last_error());
        return;
    }
    const int nl = m->hp.n_layer;
    lmc_cuda_params p = {0};
    p.n_ctx = 256, p.n_batch = 32;
    uint64_t w0, kv0, s0, w1, kv1, s1;
    CHECK(lmc_cuda_plan(m, &p, &w0, &kv0, &s0) == LMC_OK, "plan: %s", lmc_last_error());
    for (int l0 = 1; l0 < nl; l0++) {
        p.layer0 = l0;
        CHECK(lmc_cuda_plan(m, &p, &w1, &kv1, &s1) == LMC_OK, "plan layer0 %d: %s", l0,
              lmc_last_error());
        CHECK(kv1 * (uint64_t)nl == kv0 * (uint64_t)(nl - l0), "plan layer0 %d: KV %llu of %llu",
              l0, (unsigned long long)kv1, (unsigned long long)kv0);
        CHECK(w1 < w0 && s1 <= s0, "plan layer0 %d: weights %llu (all: %llu)", l0,
              (unsigned long long)w1, (unsigned long long)w0);
    }
    /* an f16 cache: half the KV bytes; the scratch grows by the f32 rows the prompt attention
     * widens (K and V of one sequence's n_ctx positions) */
    p.layer0 = 0;
    p.kv_f16 = 1;
    CHECK(lmc_cuda_plan(m, &p, &w1, &kv1, &s1) == LMC_OK, "plan f16: %s", lmc_last_error());
    const uint64_t kv32 = 2ull * p.n_ctx * m->hp.n_head_kv * m->hp.head_dim * 4;
    CHECK(w1 == w0 && 2 * kv1 == kv0 && s1 == s0 + kv32,
          "plan f16: weights %llu (f32 cache: %llu), KV %llu (%llu), scratch %llu (%llu + %llu)",
          (unsigned long long)w1, (unsigned long long)w0, (unsigned long long)kv1,
          (unsigned long long)kv0, (unsigned long long)s1, (unsigned long long)s0,
          (unsigned long long)kv32);
    p.kv_f16 = 0;
    /* mixed cache types are the CPU's only; refused before any GPU is touched */
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = 64;
    cp.device = LMC_DEVICE_CUDA;
    cp.type_k = LMC_KV_F16;
    lmc_context *ctx = NULL;
    lmc_status st = lmc_context_init(m, &cp, &ctx);
    CHECK(st == LMC_ERR_UNSUPPORTED && !ctx && strstr(lmc_last_error(), "-ctk f16 -ctv f32"),
          "-ctk f16 -ctv f32 on CUDA: status %d '%s'", (int)st, lmc_last_error());
    lmc_context_free(ctx);
    /* so is a q8_0 cache (the CPU's only for now), with -ngl N too: the GPU layers would need it */
    cp.type_k = cp.type_v = LMC_KV_Q8_0;
    cp.n_gpu_layers = 1;
    ctx = NULL;
    st = lmc_context_init(m, &cp, &ctx);
    CHECK(
        st == LMC_ERR_UNSUPPORTED && !ctx &&
            (strstr(lmc_last_error(), "CPU backend only") || strstr(lmc_last_error(), "head_dim")),
        "-ctk q8_0 -ctv q8_0 on CUDA: status %d '%s'", (int)st, lmc_last_error());
    lmc_context_free(ctx);
    p.layer0 = nl;
    CHECK(lmc_cuda_plan(m, &p, &w1, &kv1, &s1) == LMC_ERR_INVALID_ARG,
          "plan with no GPU layer accepted");
    p.layer0 = -1;
    CHECK(lmc_cuda_plan(m, &p, &w1, &kv1, &s1) == LMC_ERR_INVALID_ARG,
          "plan with layer0 -1 accepted");
    lmc_model_free(m);
}

static const char *smollm2_path(char *buf, size_t size) {
    const char *env = getenv("LMC_SMOLLM2"), *cache = getenv("LMC_CACHE"),
               *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (env)
        snprintf(buf, size, "%s", env);
    else if (cache)
        snprintf(buf, size, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", cache);
    else if (xdg)
        snprintf(buf, size, "%s/lmc/SmolLM2-135M-Instruct.Q4_1.gguf", xdg);
    else
        snprintf(buf, size, "%s/.cache/lmc/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : ".");
    return buf;
}

int main(void) {
    t_require_shared();
    setenv("LMC_KERNELS", "ref",
           1); /* CPU matmuls on f32 activations (read once, at the first matmul) */
    test_plan(t_shared("models/stories260K.gguf"));
    test_plan(t_shared("models/synthetic/synthetic-A-Q4_K_M.gguf"));
    if (lmc_cuda_device_count() <= 0) {
        printf("plan checks: %d passed, %d failed; SKIP: no CUDA device for the rest\n", t_passed,
               t_failed);
        return t_failed ? 1 : 77;
    }
    test_model(t_shared("models/stories260K.gguf"), true);
    test_model(t_shared("models/llama-2-tiny-random.gguf"), true);
    /* quantized weights (the 8-bit activation path of Q4_0 / Q4_K / Q6_K), random values */
    test_model(t_shared("models/synthetic/synthetic-A-Q4_0.gguf"), false);
    test_model(t_shared("models/synthetic/synthetic-A-Q4_K_M.gguf"), false);
    char smol[4096];
    test_model(smollm2_path(smol, sizeof smol), true);
    g_kv = LMC_KV_F16; /* both sides' caches f16 (the CPU layers' too), the same bounds */
    printf("== f16 KV cache\n");
    test_model(t_shared("models/stories260K.gguf"), true);
    test_model(t_shared("models/synthetic/synthetic-A-Q4_K_M.gguf"), false);
    g_kv = LMC_KV_F32;
    return t_done();
}
#endif
