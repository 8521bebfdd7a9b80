/* test_cuda_model.c — the CUDA forward end to end against independent references in ../shared:
 * greedy ids of stories260K and llama-2-tiny-random equal to the llama.cpp goldens, and logits of
 * every synthetic-A type against the float64 numpy forward (logits_exact), through both the decode
 * path (f32) and the prompt GEMM path (f16 operands). With an f16 KV cache (-ctk/-ctv f16): the
 * cache rows the GPU stores (prompt kernels, the q/k/v mat-vec epilogues incl. the q/k-norm one)
 * are the f16 rounding of the f32 cache's, bit for bit, and CPU/CUDA contexts with f16 caches give
 * the same greedy ids. Skips without the CUDA build, a GPU or shared. */
#include "testutil.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lmc.h"
#include "model.h"
#include "util.h"
#ifdef LMC_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

#ifndef LMC_WITH_CUDA
int main(void) {
    printf("SKIP: built without the CUDA backend\n");
    return 77;
}
#else

static cJSON *load_json(const char *path) {
    size_t len;
    char *s = t_read_file(path, &len);
    if (!s) return NULL;
    cJSON *j = cJSON_Parse(s);
    free(s);
    return j;
}

static int ids_of(const cJSON *a, int32_t *out, int max) {
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) if (n < max) out[n++] = (int32_t)e->valuedouble;
    return n;
}

static lmc_cuda_ctx *open_ctx(lmc_model *m, int gemm_min, int act_q8) {
    lmc_cuda_params p = {0};
    p.act_q8 = act_q8;
    p.n_ctx = 256;
    p.n_batch = 64;
    p.use_graph = 1;
    p.gemm_min = gemm_min;
    lmc_cuda_ctx *c = NULL;
    lmc_status st = lmc_cuda_init(m, &p, &c);
    CHECK(st == LMC_OK, "cuda init: %s", lmc_last_error());
    return c;
}

/* Greedy continuation after the golden prompt must equal the golden ids. */
static void test_golden(const char *model_rel, const char *golden_rel) {
    cJSON *g = load_json(t_shared(golden_rel));
    lmc_model *m = NULL;
    if (!g || lmc_model_load(t_shared(model_rel), NULL, &m) != LMC_OK) {
        CHECK(0, "cannot load %s / %s: %s", model_rel, golden_rel, lmc_last_error());
        cJSON_Delete(g);
        return;
    }
    int32_t prompt[64], want[128], got[128];
    const int np = ids_of(cJSON_GetObjectItem(g, "prompt_ids"), prompt, 64);
    const int ng = ids_of(cJSON_GetObjectItem(g, "greedy_ids"), want, 128);
    const int nv = lmc_model_n_vocab(m);
    float *logits = malloc(sizeof(float) * nv);
    for (int mode = 0; mode < 2;
         mode++) { /* 0: token by token (graph), 1: prompt through the GEMMs */
        lmc_cuda_ctx *c = open_ctx(m, mode ? 2 : 0, 0);
        if (!c) break;
        lmc_status st = lmc_cuda_forward(c, prompt, np, 0, logits, NULL);
        CHECK(st == LMC_OK, "forward: %s", lmc_last_error());
        const cJSON *all = cJSON_GetObjectItem(g, "logits_after_prompt_all");
        if (all && cJSON_GetArraySize(all) == nv) {
            double *ref = malloc(sizeof(double) * nv);
            int i = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, all) ref[i++] = e->valuedouble;
            double err = t_nmse(logits, ref, nv);
            printf("%s %s: prompt logits NMSE vs llama.cpp %.3g\n", model_rel,
                   mode ? "gemm" : "decode", err);
            CHECK(err <= (mode ? 1e-4 : 1e-6), "%s mode %d logits NMSE %g", model_rel, mode, err);
            free(ref);
        }
        int pos = np, n = 0;
        for (; n < ng && st == LMC_OK; n++) {
            got[n] = t_argmax(logits, nv);
            st = lmc_cuda_forward(c, &got[n], 1, pos++, logits, NULL);
            CHECK(st == LMC_OK, "forward: %s", lmc_last_error());
        }
        int same = 0;
        while (same < ng && got[same] == want[same])
            same++;
        printf("%s %s: %d/%d greedy ids equal the golden\n", model_rel, mode ? "gemm" : "decode",
               same, ng);
        CHECK(same == ng, "%s mode %d: greedy ids differ at %d (got %d want %d)", model_rel, mode,
              same, same < ng ? got[same] : -1, same < ng ? want[same] : -1);
        lmc_cuda_free(c);
    }
    free(logits);
    lmc_model_free(m);
    cJSON_Delete(g);
}

/* Logits after the prompt against the float64 forward over exactly dequantized weights. */
static void test_synthetic(const char *type) {
    char mp[128], rp[128];
    snprintf(mp, sizeof mp, "models/synthetic/synthetic-A-%s.gguf", type);
    snprintf(rp, sizeof rp, "models/synthetic/synthetic-A-%s.ref.json", type);
    const char *mpath = t_shared(mp);
    FILE *f = fopen(mpath, "rb");
    if (!f) {
        printf("synthetic %s: not present, skipped\n", type);
        return;
    }
    fclose(f);
    cJSON *g = load_json(t_shared(rp));
    lmc_model *m = NULL;
    if (!g || lmc_model_load(mpath, NULL, &m) != LMC_OK) {
        CHECK(0, "cannot load %s: %s", mp, lmc_last_error());
        cJSON_Delete(g);
        return;
    }
    int32_t prompt[64];
    const int np = ids_of(cJSON_GetObjectItem(g, "prompt_ids"), prompt, 64);
    const int nv = lmc_model_n_vocab(m);
    double *ref = malloc(sizeof(double) * nv);
    float *logits = malloc(sizeof(float) * nv);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(g, "logits_exact")) if (i < nv) ref[i++] =
        e->valuedouble;
    CHECK(i == nv, "%s: logits_exact has %d values", type, i);
    int ra = 0;
    for (int k = 1; k < nv; k++)
        if (ref[k] > ref[ra]) ra = k;
    /* 0: decode on f32 activations, 1: prompt GEMMs (f16 operands), 2: decode on 8-bit activations
     * (where the types have that path; the bound is the CPU test's for quantized types) */
    const char *mname[] = {"decode   ", "gemm     ", "decode-q8"};
    const double bound[] = {1e-6, 1e-4, 2e-3};
    for (int mode = 0; mode < 3; mode++) {
        lmc_cuda_ctx *c = open_ctx(m, mode == 1 ? 2 : 0, mode == 2 ? 1 : -1);
        if (!c) break;
        lmc_status st = lmc_cuda_forward(c, prompt, np, 0, logits, NULL);
        CHECK(st == LMC_OK, "%s forward: %s", type, lmc_last_error());
        double err = t_nmse(logits, ref, nv);
        printf("synthetic %-7s %s: logits NMSE vs exact %.3g, argmax %d (exact %d)\n", type,
               mname[mode], err, t_argmax(logits, nv), ra);
        CHECK(err <= bound[mode], "%s mode %d NMSE %g", type, mode, err);
        CHECK(t_argmax(logits, nv) == ra, "%s mode %d argmax %d vs %d", type, mode,
              t_argmax(logits, nv), ra);
        lmc_cuda_free(c);
    }
    free(ref);
    free(logits);
    lmc_model_free(m);
    cJSON_Delete(g);
}

/* Layer 0's K/V rows depend only on each position's token (its input is the embedding), so a
 * context with an f16 cache and one with an f32 cache fed the same tokens must store, in layer 0,
 * exactly the f16 rounding (to nearest even) of the f32 cache's elements. 20 prompt tokens (the
 * GEMM path's RoPE + KV store kernel, or k_qkv_post), then 20 single tokens (the decode step: the
 * q/k/v mat-vec's epilogue, mv_finish_qk_norm for q/k-norm models, or the kernels it replaces). */
/* batched: a context of two sequences (lmc_cuda_forward_batch: the per-token RoPE + KV store
 * kernels), 12 + 6 prompt tokens in one step, then 10 steps of one token each for both; the rows
 * compared are sequence 0's 22 and sequence 1's 16. */
static bool kv_store_batched(lmc_cuda_ctx *c, const int32_t *tok, float *lg) {
    int32_t t[18], pos[18], seq[18], start[2] = {0, 0};
    int8_t want[18];
    for (int i = 0; i < 18; i++) {
        seq[i] = i < 12 ? 0 : 1;
        pos[i] = i < 12 ? i : i - 12;
        t[i] = tok[i];
        want[i] = i == 11 || i == 17;
    }
    lmc_status st = lmc_cuda_forward_batch(c, 18, t, pos, seq, start, want, lg, -1, NULL);
    for (int k = 0; st == LMC_OK && k < 10; k++) {
        const int32_t t2[2] = {tok[18 + 2 * k], tok[19 + 2 * k]}, p2[2] = {12 + k, 6 + k},
                      s2[2] = {0, 1};
        const int8_t w2[2] = {1, 1};
        st = lmc_cuda_forward_batch(c, 2, t2, p2, s2, start, w2, lg, -1, NULL);
    }
    CHECK(st == LMC_OK, "batched forward: %s", lmc_last_error());
    return st == LMC_OK;
}

static void test_kv_store_bits(const char *path, bool batched) {
    lmc_model *m = t_load_model_or_skip(path);
    if (!m) return;
    enum { NP = 20, NT = 40, CTX = 64 };
    const int nv = lmc_model_n_vocab(m);
    lmc_cuda_ctx *c[2] = {NULL, NULL};
    for (int f16 = 0; f16 < 2; f16++) {
        lmc_cuda_params p = {0};
        p.n_ctx = CTX;
        p.n_seq = batched ? 2 : 1;
        p.n_batch = 32;
        p.use_graph = 1;
        p.kv_f16 = f16;
        lmc_status st = lmc_cuda_init(m, &p, &c[f16]);
        CHECK(st == LMC_OK, "%s: cuda init (kv_f16 %d): %s", path, f16, lmc_last_error());
    }
    int32_t tok[NT];
    for (int i = 0; i < NT; i++)
        tok[i] = (int32_t)((i == 0 ? 1 : 5 + 37 * i) % nv);
    float *lg = malloc((size_t)2 * nv * 4);
    float *kv[2][2]; /* [f16][k or v] (NT, kv_dim) */
    size_t n = 0;
    bool ok = c[0] && c[1];
    for (int f16 = 0; ok && f16 < 2; f16++) {
        if (batched) {
            ok = kv_store_batched(c[f16], tok, lg);
            continue;
        }
        lmc_status st = lmc_cuda_forward(c[f16], tok, NP, 0, lg, NULL);
        for (int i = NP; st == LMC_OK && i < NT; i++)
            st = lmc_cuda_forward(c[f16], tok + i, 1, i, lg, NULL);
        CHECK(st == LMC_OK, "%s: forward (kv_f16 %d): %s", path, f16, lmc_last_error());
        ok = st == LMC_OK;
    }
    int bad = 0, total = 0;
    if (ok) {
        lmc_hparams hp = m->hp;
        const size_t row = (size_t)hp.n_head_kv * hp.head_dim; /* one cache row's elements */
        n = (size_t)(batched ? 22 + 16 : NT) * row; /* batched: sequence 0's rows, then 1's */
        for (int f = 0; f < 2; f++)
            for (int j = 0; j < 2; j++)
                kv[f][j] = malloc(n * 4);
        for (int f = 0; ok && f < 2; f++) {
            lmc_status st = batched ? lmc_cuda_kv_read(c[f], 0, 0, 22, kv[f][0], kv[f][1])
                                    : lmc_cuda_kv_read(c[f], 0, 0, NT, kv[f][0], kv[f][1]);
            if (batched && st == LMC_OK)
                st = lmc_cuda_kv_read(c[f], 0, CTX, 16, kv[f][0] + 22 * row, kv[f][1] + 22 * row);
            CHECK(st == LMC_OK, "%s: kv read: %s", path, lmc_last_error());
            ok = st == LMC_OK;
        }
        for (size_t i = 0; ok && i < n; i++)
            for (int j = 0; j < 2; j++) {
                const float want = lmc_f16_to_f32(lmc_f32_to_f16(kv[0][j][i]));
                const bool same = memcmp(&kv[1][j][i], &want, 4) == 0;
                if (!same && bad < 4)
                    printf("  %s %zu (position %zu): f16 cache %a, f32 cache %a rounds to %a\n",
                           j ? "v" : "k", i, i / row, kv[1][j][i], kv[0][j][i], want);
                bad += !same;
                total++;
            }
        for (int f = 0; f < 2; f++)
            for (int j = 0; j < 2; j++)
                free(kv[f][j]);
    }
    if (batched)
        printf("%s: layer 0 K/V of two sequences batched (18-token step, then 2-token steps; 38 "
               "rows): %d of %d f16 cache elements differ from the f32 cache's rounding\n",
               path, bad, total);
    else
        printf("%s: layer 0 K/V of %d positions (%d prompt, %d decode): %d of %d f16 cache "
               "elements differ from the f32 cache's rounding\n",
               path, NT, NP, NT - NP, bad, total);
    CHECK(ok && bad == 0, "%s: %d f16 cache elements are not the rounding of the f32 cache's", path,
          bad);
    free(lg);
    lmc_cuda_free(c[0]);
    lmc_cuda_free(c[1]);
    lmc_model_free(m);
}

/* Through the public API: greedy ids of a CPU context and a CUDA context equal, and a context shift
 * (lmc_seq_shift) on the GPU gives the CPU's next token; both with KV caches of type kv. */
static void test_ctx_parity(const char *path, int n_gen, lmc_kv_type kv) {
    lmc_model *m = t_load_model_or_skip(path);
    if (!m) return;
    const int nv = lmc_model_n_vocab(m);
    int32_t ids[2][160];
    for (int dev = 0; dev < 2; dev++) {
        lmc_context_params cp = lmc_context_default_params();
        cp.n_ctx = 128;
        cp.device = dev ? LMC_DEVICE_CUDA : LMC_DEVICE_CPU;
        cp.type_k = cp.type_v = kv;
        lmc_context *ctx = NULL;
        lmc_status st = lmc_context_init(m, &cp, &ctx);
        CHECK(st == LMC_OK, "%s context on %s: %s", path, dev ? "cuda" : "cpu", lmc_last_error());
        if (st != LMC_OK) break;
        int32_t prompt[4] = {1, 403 % nv, 407 % nv, 261 % nv};
        const float *lg = NULL;
        st = lmc_decode(ctx, prompt, 4, 0, &lg);
        int pos = 4, n = 0;
        for (; n < n_gen && st == LMC_OK; n++) {
            ids[dev][n] = t_argmax(lg, nv);
            st = lmc_decode(ctx, &ids[dev][n], 1, pos++, &lg);
        }
        CHECK(st == LMC_OK, "%s decode on %s: %s", path, dev ? "cuda" : "cpu", lmc_last_error());
        /* shift: drop positions 1..8, move the rest down, decode one more token */
        if (st == LMC_OK) {
            st = lmc_seq_shift(ctx, 0, 9, pos - 9, 1);
            CHECK(st == LMC_OK, "%s shift on %s: %s", path, dev ? "cuda" : "cpu", lmc_last_error());
            pos -= 8;
            st = lmc_decode(ctx, &ids[dev][n_gen - 1], 1, pos, &lg);
            CHECK(st == LMC_OK, "%s decode after shift: %s", path, lmc_last_error());
            ids[dev][n_gen] = st == LMC_OK ? t_argmax(lg, nv) : -1;
        }
        lmc_context_free(ctx);
    }
    int same = 0;
    while (same <= n_gen && ids[0][same] == ids[1][same])
        same++;
    printf("%s: CPU and CUDA contexts (kv %s): %d/%d greedy ids equal (the last after a context "
           "shift)\n",
           path, lmc_kv_type_name(kv), same, n_gen + 1);
    CHECK(same == n_gen + 1, "%s: CPU/CUDA greedy ids differ at %d (kv %s)", path, same,
          lmc_kv_type_name(kv));
    lmc_model_free(m);
}

int main(void) {
    if (lmc_cuda_device_count() <= 0) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    t_require_shared();
    test_golden("models/stories260K.gguf",
                "models/golden/stories260K.once-upon-a-time.greedy32.json");
    test_golden("models/stories260K.gguf", "models/golden/stories260K.bos.greedy64.json");
    test_golden("models/llama-2-tiny-random.gguf",
                "models/golden/llama-2-tiny-random.hello-world.greedy16.json");
    const char *types[] = {"F16",  "BF16", "Q8_0",   "Q4_0",   "Q4_1",   "Q5_0",
                           "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"};
    /* the decode step with its RMSNorms folded into the mat-vecs (default) and with them as kernels
     */
    for (int fold = 1; fold >= 0; fold--) {
        printf("LMC_CUDA_FOLD=%d\n", fold);
        setenv("LMC_CUDA_FOLD", fold ? "1" : "0", 1);
        for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
            test_synthetic(types[k]);
    }
    unsetenv("LMC_CUDA_FOLD");
    test_ctx_parity(t_shared("models/stories260K.gguf"), 48, LMC_KV_F32);
    test_ctx_parity(t_shared("models/stories260K.gguf"), 48, LMC_KV_F16);
    /* f16 cache stores: the llama block, and q/k-norm models (qwen3: the epilogue finishes the
     * heads when head_dim % 16 == 0) with the decode tail on and off */
    for (int batched = 0; batched < 2; batched++)
        test_kv_store_bits(t_shared("models/stories260K.gguf"), batched);
    const char *src = getenv("LMC_SOURCE_DIR");
    const char *fam[] = {"qwen3-gqa-Q8_0.gguf", "qwen3-k-hd128-Q4_K_M.gguf",
                         "gemma3-swa-linear-Q8_0.gguf", "qwen2-gqa-tied-Q8_0.gguf"};
    for (int tail = 1; tail >= 0; tail--) {
        setenv("LMC_CUDA_TAIL", tail ? "1" : "0", 1);
        for (int f = 0; f < 4; f++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/tests/data/families/%s", src ? src : ".", fam[f]);
            printf("LMC_CUDA_TAIL=%d ", tail);
            test_kv_store_bits(path, false);
            if (tail) test_kv_store_bits(path, true); /* the batched step has no tail */
        }
    }
    unsetenv("LMC_CUDA_TAIL");
    const char *smol = getenv("LMC_SMOLLM2");
    if (smol)
        test_ctx_parity(smol, 32, LMC_KV_F32);
    else
        printf("SmolLM2 CPU/CUDA parity skipped (set LMC_SMOLLM2 to the GGUF's path)\n");
    return t_done();
}
#endif
