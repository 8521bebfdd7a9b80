/* test_cuda_families.c — qwen2, qwen3, gemma2, gemma3 and phi3 on the CUDA backend against the
 * llama-cpp-python goldens of tests/data/families (scripts/make_family_goldens.py): logits after
 * the prompt within the bounds (NMSE <= 1e-4 F32/F16, 5e-3 quantized), the same argmax, and
 * greedy ids equal until the reference's top-1/top-2 margin falls below 0.05, through the decode
 * path (f32 and 8-bit activations, CUDA graph; qwen3/gemma3's q/k norms finished by the q/k/v
 * mat-vec and, LMC_CUDA_TAIL=0, as a kernel of their own) and the prompt GEMM path. The
 * quantized models are committed; F32/F16 ones are read from $LMC_FAMILY_MODELS when set (the
 * script's write_model makes them). Then CPU and CUDA contexts give the same greedy ids, a context
 * shift included (phi4mini-partial-rope: partial rotary, only the first rope.dimension_count dims
 * turn). Skips without the CUDA build or a GPU. */
#include "testutil.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lmc.h"
#ifdef LMC_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

#ifndef LMC_WITH_CUDA
int main(void) {
    printf("SKIP: built without the CUDA backend\n");
    return 77;
}
#else

#define MARGIN 0.05

static int ids_of(const cJSON *a, int32_t *out, int max) {
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) if (n < max) out[n++] = (int32_t)e->valuedouble;
    return n;
}

/* Where a golden's model file is: tests/data/families (quantized) or $LMC_FAMILY_MODELS. */
static const char *model_path(const char *file, const char *type) {
    static char buf[1024];
    const bool flt = !strcmp(type, "F32") || !strcmp(type, "F16");
    const char *dir = flt ? getenv("LMC_FAMILY_MODELS") : getenv("LMC_SOURCE_DIR");
    if (!dir) return NULL;
    snprintf(buf, sizeof buf, flt ? "%s/%s" : "%s/tests/data/families/%s", dir, file);
    FILE *f = fopen(buf, "rb");
    if (!f) return NULL;
    fclose(f);
    return buf;
}

/* One golden through one mode: 0 decode (f32 activations), 1 prompt GEMMs, 2 decode on 8-bit
 * activations, 3 decode with LMC_CUDA_TAIL=0 and LMC_CUDA_FOLD=0 (the q/k norms as a kernel of
 * their own, not finished by the q/k/v mat-vec, and every RMSNorm and post-norm a kernel of its
 * own, not folded into the mat-vecs around it, as in modes 0 and 2). */
static void run_golden(lmc_model *m, const cJSON *g, const char *file, bool flt, int mode) {
    const char *mname[] = {"decode", "gemm", "decode-q8", "decode-sep"};
    const int nv = lmc_model_n_vocab(m);
    int32_t prompt[64], want[64], got[64];
    double margins[64];
    const int np = ids_of(cJSON_GetObjectItem(g, "prompt_ids"), prompt, 64);
    const int ng = ids_of(cJSON_GetObjectItem(g, "greedy_ids"), want, 64);
    int nm = 0, i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(g, "margins")) if (nm < 64) margins[nm++] =
        e->valuedouble;
    double *ref = malloc(sizeof(double) * nv);
    float *logits = malloc(sizeof(float) * nv);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(g, "logits")) if (i < nv) ref[i++] = e->valuedouble;
    lmc_cuda_params p = {0};
    p.n_ctx = (int)cJSON_GetObjectItem(g, "n_ctx")->valuedouble;
    p.n_batch = 64;
    p.use_graph = 1;
    p.gemm_min = mode == 1 ? 2 : 1000;
    p.act_q8 = mode == 2 ? 1 : -1; /* 0 would be the default (8-bit where the type allows) */
    lmc_cuda_ctx *c = NULL;
    if (mode == 3) { /* read by the context's init */
        setenv("LMC_CUDA_TAIL", "0", 1);
        setenv("LMC_CUDA_FOLD", "0", 1);
    }
    lmc_status st = lmc_cuda_init(m, &p, &c);
    if (mode == 3) {
        unsetenv("LMC_CUDA_TAIL");
        unsetenv("LMC_CUDA_FOLD");
    }
    CHECK(st == LMC_OK, "%s: cuda init: %s", file, lmc_last_error());
    if (st == LMC_OK) st = lmc_cuda_forward(c, prompt, np, 0, logits, NULL);
    CHECK(st == LMC_OK, "%s: forward: %s", file, lmc_last_error());
    if (st == LMC_OK) {
        int ra = 0;
        for (int k = 1; k < nv; k++)
            if (ref[k] > ref[ra]) ra = k;
        const double err = t_nmse(logits, ref, nv), bound = flt ? 1e-4 : 5e-3;
        const int first = t_argmax(logits, nv);
        int n = 0, agree = 1, pos = np;
        /* ids equal while the reference is sure of its choice */
        for (; n < ng && n < nm && st == LMC_OK && margins[n] >= MARGIN; n++) {
            got[n] = t_argmax(logits, nv);
            if (got[n] != want[n]) {
                agree = 0;
                break;
            }
            st = lmc_cuda_forward(c, &got[n], 1, pos++, logits, NULL);
        }
        printf("%-32s n_ctx %4d %-9s: NMSE %.3g, argmax %s, greedy %s (%d ids)\n", file, p.n_ctx,
               mname[mode], err, first == ra ? "same" : "DIFFERS", agree ? "agrees" : "DIFFERS", n);
        CHECK(st == LMC_OK, "%s: decode: %s", file, lmc_last_error());
        CHECK(err <= bound, "%s %s: NMSE %g > %g", file, mname[mode], err, bound);
        CHECK(first == ra, "%s %s: argmax %d vs %d", file, mname[mode], first, ra);
        CHECK(agree, "%s %s: greedy id %d differs (%d vs %d)", file, mname[mode], n, got[n],
              want[n]);
    }
    lmc_cuda_free(c);
    free(ref);
    free(logits);
}

/* The prompts of the models the context parity check runs (their goldens' prompts: the reference's
 * margins after them are known to be large). */
#define N_PARITY 6
static const char *parity[N_PARITY] = {
    "qwen2-gqa-tied-Q8_0.gguf",
    "qwen3-k-hd128-Q4_K_M.gguf",
    "gemma2-k-Q4_K_M.gguf",
    "gemma3-k-hd256-Q4_K_M.gguf",
    "phi3-gqa-k-Q4_K_M.gguf",
    "phi4mini-partial-rope-Q4_K_M.gguf" /* partial rotary: the shift turns 48 of 64 dims */};
static int32_t parity_prompt[N_PARITY][64];
static int parity_np[N_PARITY];

static void test_goldens(void) {
    char path[1024];
    const char *src = getenv("LMC_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/data/families/goldens.json", src ? src : ".");
    size_t len;
    char *s = t_read_file(path, &len);
    CHECK(s != NULL, "cannot read %s", path);
    if (!s) return;
    cJSON *j = cJSON_Parse(s);
    free(s);
    const cJSON *g;
    int skipped = 0;
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(j, "goldens")) {
        const char *file = cJSON_GetObjectItem(g, "file")->valuestring;
        const char *type = cJSON_GetObjectItem(g, "type")->valuestring;
        for (int k = 0; k < N_PARITY; k++)
            if (!strcmp(file, parity[k]))
                parity_np[k] = ids_of(cJSON_GetObjectItem(g, "prompt_ids"), parity_prompt[k], 64);
        const char *mp = model_path(file, type);
        if (!mp) {
            skipped++;
            continue;
        }
        lmc_model *m = NULL;
        lmc_status st = lmc_model_load(mp, NULL, &m);
        CHECK(st == LMC_OK, "%s: %s", file, lmc_last_error());
        if (st != LMC_OK) continue;
        const bool flt = !strcmp(type, "F32") || !strcmp(type, "F16");
        for (int mode = 0; mode < 4; mode++)
            run_golden(m, g, file, flt, mode);
        lmc_model_free(m);
    }
    if (skipped) printf("%d goldens skipped (F32/F16 models: set LMC_FAMILY_MODELS)\n", skipped);
    cJSON_Delete(j);
}

/* Through the public API: greedy ids of a CPU context and a CUDA context equal (the CUDA context
 * must be granted: no CPU fallback), and a context shift gives the CPU's next token. */
static void test_ctx_parity(int k, int n_gen) {
    const char *file = parity[k];
    const int np = parity_np[k];
    const int32_t *prompt = parity_prompt[k];
    char path[1024];
    const char *src = getenv("LMC_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/data/families/%s", src ? src : ".", file);
    lmc_model *m = t_load_model_or_skip(path);
    if (!m) return;
    const int nv = lmc_model_n_vocab(m);
    int32_t ids[2][64];
    for (int dev = 0; dev < 2; dev++) {
        lmc_context_params cp = lmc_context_default_params();
        cp.n_ctx = 128;
        cp.device = dev ? LMC_DEVICE_CUDA : LMC_DEVICE_CPU;
        lmc_context *ctx = NULL;
        lmc_status st = lmc_context_init(m, &cp, &ctx);
        CHECK(st == LMC_OK, "%s context on %s: %s", file, dev ? "cuda" : "cpu", lmc_last_error());
        if (st != LMC_OK) break;
        const float *lg = NULL;
        st = lmc_decode(ctx, prompt, np, 0, &lg);
        int pos = np, n = 0;
        for (; n < n_gen && st == LMC_OK; n++) {
            ids[dev][n] = t_argmax(lg, nv);
            st = lmc_decode(ctx, &ids[dev][n], 1, pos++, &lg);
        }
        CHECK(st == LMC_OK, "%s decode on %s: %s", file, dev ? "cuda" : "cpu", lmc_last_error());
        if (st == LMC_OK) { /* drop positions 1..8, move the rest down, decode one more */
            st = lmc_seq_shift(ctx, 0, 9, pos - 9, 1);
            CHECK(st == LMC_OK, "%s shift on %s: %s", file, dev ? "cuda" : "cpu", lmc_last_error());
            pos -= 8;
            st = lmc_decode(ctx, &ids[dev][n_gen - 1], 1, pos, &lg);
            CHECK(st == LMC_OK, "%s decode after shift: %s", file, lmc_last_error());
            ids[dev][n_gen] = st == LMC_OK ? t_argmax(lg, nv) : -1;
        }
        lmc_context_free(ctx);
    }
    int same = 0;
    while (same <= n_gen && ids[0][same] == ids[1][same])
        same++;
    printf("%s: CPU and CUDA contexts: %d/%d greedy ids equal (the last after a shift)\n", file,
           same, n_gen + 1);
    CHECK(same == n_gen + 1, "%s: CPU/CUDA greedy ids differ at %d", file, same);
    lmc_model_free(m);
}

int main(void) {
    if (lmc_cuda_device_count() <= 0) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    test_goldens();
    for (int k = 0; k < N_PARITY; k++)
        if (parity_np[k] > 0) test_ctx_parity(k, 12);
    return t_done();
}
#endif
