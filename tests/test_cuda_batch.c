/* test_cuda_batch.c — several sequences in one CUDA step (lmc serve --parallel on the GPU) against
 * the CPU reference: each sequence's logits, decoded in mixed batches with others on the GPU
 * (prompts next to single decode tokens, sequences starting and finishing at different times, a
 * sequence cleared and reused, a context shift of one sequence), equal its logits decoded alone on
 * the CPU backend (LMC_KERNELS=ref: f32 activations). Steps of up to LMC_CUDA_BATCH_MV tokens
 * (batched mat-vecs on f32 activations) by NMSE <= 1e-6, longer ones (the tensor-core product or
 * the cuBLAS GEMM, f16 operands) by 1e-4; greedy ids equal on the real models. Three passes:
 * BATCH_MV 16 (both paths of small steps), BATCH_MV 8 with LMC_CUDA_MMA=0 (cuBLAS above it) and the
 * default (BATCH_MV 1: steps of 2+ tokens through the tensor-core product). Skips without the CUDA
 * build, a GPU or ../shared. */
#include "testutil.h"
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

enum { NS = 4, MAXV = 8, MAXT = 96, MAXW = 48 };

static int g_bmv; /* LMC_CUDA_BATCH_MV of this pass: longer steps run on f16 operands */

/* One life of a sequence (a reused slot starts a new one): the tokens it was fed at positions
 * 0..n-1, which of them wanted logits, and the GPU's logits of those in order. */
typedef struct {
    int32_t tok[MAXT];
    int n;
    int8_t want[MAXT];
    float *logits[MAXW];
    int n_logits;
    bool gemm[MAXW]; /* the row came from a step through the GEMM path */
    int shift_at;    /* > 0: after shift_at tokens, positions [4, shift_at) moved down to 1 */
} life;

static double nmse_ff(const float *a, const float *ref, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

static int argmax(const float *a, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (a[i] > a[b]) b = i;
    return b;
}

static lmc_context *open_ctx(lmc_model *m, lmc_device dev, int n_seq) {
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = MAXT;
    cp.n_batch = 128;
    cp.n_seq = n_seq;
    cp.n_threads = 2;
    cp.device = dev;
    cp.n_gpu_layers = -1;
    lmc_context *ctx = NULL;
    lmc_status st = lmc_context_init(m, &cp, &ctx);
    CHECK(st == LMC_OK, "init (%s, n_seq %d): %s", dev == LMC_DEVICE_CPU ? "cpu" : "cuda", n_seq,
          lmc_last_error());
    return ctx;
}

/* The GPU side: a batch under construction over the slots' current lives. */
typedef struct {
    lmc_context *ctx;
    int nv;
    life *lv[NS]; /* the life each slot runs */
    int len[NS];  /* positions the slot holds (after a shift: fewer than its life's tokens) */
    int32_t tok[128], pos[128], seq[128];
    int8_t want[128];
    int n;
} gpu_run;

static void add_tok(gpu_run *g, int s, int32_t t, bool want) {
    life *L = g->lv[s];
    g->tok[g->n] = t, g->pos[g->n] = g->len[s], g->seq[g->n] = s, g->want[g->n] = want;
    g->n++;
    L->tok[L->n] = t, L->want[L->n] = want;
    L->n++;
    g->len[s]++;
}

/* Runs the batch and hands each wanted row to its life; returns false on failure. */
static bool flush(gpu_run *g) {
    lmc_batch b = {
        .n_tokens = g->n, .token = g->tok, .pos = g->pos, .seq_id = g->seq, .want_logits = g->want};
    const float *lg = NULL;
    lmc_status st = lmc_decode_batch(g->ctx, &b, &lg);
    CHECK(st == LMC_OK, "GPU batch of %d: %s", g->n, lmc_last_error());
    if (st != LMC_OK) return false;
    int row = 0;
    for (int i = 0; i < g->n; i++) {
        if (!g->want[i]) continue;
        life *L = g->lv[g->seq[i]];
        if (L->n_logits < MAXW) {
            /* GEMM tolerance for a GEMM step's rows and every later row of that life (its
             * cache was written from f16 operands) */
            L->gemm[L->n_logits] = g->n > g_bmv || (L->n_logits > 0 && L->gemm[L->n_logits - 1]);
            L->logits[L->n_logits] = malloc((size_t)g->nv * 4);
            memcpy(L->logits[L->n_logits++], lg + (size_t)row * g->nv, (size_t)g->nv * 4);
        }
        row++;
    }
    g->n = 0;
    return true;
}

/* The slot's next greedy token from its last logits. */
static int32_t next_id(gpu_run *g, int s) {
    life *L = g->lv[s];
    return argmax(L->logits[L->n_logits - 1], g->nv);
}

static void prompt_of(int32_t *p, int n, int salt, int nv) {
    for (int i = 0; i < n; i++)
        p[i] = (int32_t)((i == 0 ? 1 : 11 + 97 * i + 31 * salt) % nv);
}

static void add_prompt(gpu_run *g, int s, int n, int salt) {
    int32_t p[64];
    prompt_of(p, n, salt, g->nv);
    for (int i = 0; i < n; i++)
        add_tok(g, s, p[i], i == n - 1);
}

/* Each life alone on the CPU (n_seq 1): the same tokens, the same rows wanted (and the same shift);
 * rows compared. */
static void check_life(lmc_model *m, const life *L, const char *what, bool real) {
    lmc_context *cpu = open_ctx(m, LMC_DEVICE_CPU, 1);
    if (!cpu) return;
    const int nv = lmc_model_n_vocab(m);
    int row = 0, same = 0, len = 0;
    double worst = 0, worst_g = 0;
    for (int i0 = 0; i0 < L->n;) {
        int i1 = L->shift_at > i0 ? L->shift_at : L->n;
        int32_t pos[MAXT];
        for (int i = i0; i < i1; i++)
            pos[i - i0] = len + i - i0;
        lmc_batch b = {
            .n_tokens = i1 - i0, .token = L->tok + i0, .pos = pos, .want_logits = L->want + i0};
        const float *lg = NULL;
        lmc_status st = lmc_decode_batch(cpu, &b, &lg);
        CHECK(st == LMC_OK, "CPU reference: %s", lmc_last_error());
        if (st != LMC_OK) break;
        len += i1 - i0;
        for (int i = i0, r = 0; i < i1; i++) {
            if (!L->want[i]) continue;
            const float *ref = lg + (size_t)r++ * nv;
            const double e = nmse_ff(L->logits[row], ref, nv);
            if (L->gemm[row])
                worst_g = fmax(worst_g, e);
            else
                worst = fmax(worst, e);
            CHECK(e <= (L->gemm[row] ? 1e-4 : 1e-6), "%s: row %d (token %d) NMSE %g", what, row, i,
                  e);
            same += argmax(L->logits[row], nv) == argmax(ref, nv);
            row++;
        }
        if (i1 == L->shift_at && i1 < L->n) {
            st = lmc_seq_shift(cpu, 0, 4, len - 4, 1);
            CHECK(st == LMC_OK, "CPU shift: %s", lmc_last_error());
            len -= 3;
        }
        i0 = i1;
    }
    printf("  %s: %d tokens, %d rows: NMSE vs CPU alone %.3g (mat-vec steps), %.3g (GEMM steps), "
           "argmax equal %d/%d\n",
           what, L->n, row, worst, worst_g, same, row);
    if (real) CHECK(same == row, "%s: greedy ids differ (%d of %d equal)", what, same, row);
    lmc_context_free(cpu);
}

static void test_model(const char *path, bool real) {
    lmc_model *m = t_load_model_or_skip(path);
    if (!m) return;
    printf("%s\n", path);
    life lives[MAXV];
    memset(lives, 0, sizeof lives);
    gpu_run g = {.nv = lmc_model_n_vocab(m)};
    /* A: small mixed batches (the batched mat-vecs) */
    g.ctx = open_ctx(m, LMC_DEVICE_CUDA, NS);
    bool ok = g.ctx != NULL;
    for (int s = 0; s < NS; s++)
        g.lv[s] = &lives[s];
    if (ok) {
        add_prompt(&g, 0, 5, 0); /* two prompts */
        add_prompt(&g, 1, 9, 1);
        ok = flush(&g);
    }
    if (ok) { /* decodes next to a prompt */
        add_tok(&g, 0, next_id(&g, 0), true);
        add_tok(&g, 1, next_id(&g, 1), true);
        add_prompt(&g, 2, 3, 2);
        ok = flush(&g);
    }
    if (ok) {
        add_prompt(&g, 3, 12, 3);
        for (int s = 0; s < 3; s++)
            add_tok(&g, s, next_id(&g, s), true);
        ok = flush(&g);
    }
    for (int step = 0; ok && step < 6; step++) { /* all four decode */
        for (int s = NS - 1; s >= 0; s--)
            add_tok(&g, s, next_id(&g, s), true);
        ok = flush(&g);
    }
    if (ok) { /* slot 1 finishes and is reused by a new sequence; slot 0 shifts its context */
        lmc_seq_truncate(g.ctx, 1, 0);
        g.lv[1] = &lives[NS];
        g.len[1] = 0;
        lives[0].shift_at = lives[0].n;
        ok = lmc_seq_shift(g.ctx, 0, 4, g.len[0] - 4, 1) == LMC_OK;
        CHECK(ok, "GPU shift: %s", lmc_last_error());
        g.len[0] -= 3;
        add_tok(&g, 0, next_id(&g, 0), true);
        add_prompt(&g, 1, 7, 4);
        add_tok(&g, 3, next_id(&g, 3), true);
        ok = ok && flush(&g);
    }
    for (int step = 0; ok && step < 4; step++) {
        for (int s = 0; s < NS; s++)
            if (s != 2) add_tok(&g, s, next_id(&g, s), true);
        ok = flush(&g);
    }
    lmc_context_free(g.ctx);
    /* B: long prompts of all four in one batch (the GEMMs and the GEMM attention), then decodes */
    g.ctx = open_ctx(m, LMC_DEVICE_CUDA, NS);
    ok = ok && g.ctx;
    for (int s = 0; s < NS; s++) {
        g.lv[s] = &lives[NS + 1 + s > MAXV - 1 ? MAXV - 1 : NS + 1 + s];
        g.len[s] = 0;
    }
    if (ok) {
        const int lens[NS] = {20, 24, 17, 30};
        for (int s = 0; s < 3; s++) /* three slots (lives 5..7) */
            add_prompt(&g, s, lens[s], 10 + s);
        ok = flush(&g);
    }
    for (int step = 0; ok && step < 4; step++) {
        for (int s = 0; s < 3; s++)
            add_tok(&g, s, next_id(&g, s), true);
        ok = flush(&g);
    }
    lmc_context_free(g.ctx);
    CHECK(ok, "%s: the GPU script failed", path);
    const char *names[MAXV] = {"A seq 0 (shifted)", "A seq 1", "A seq 2", "A seq 3",
                               "A seq 1 reused",    "B seq 0", "B seq 1", "B seq 2"};
    for (int v = 0; ok && v < MAXV; v++)
        if (lives[v].n) check_life(m, &lives[v], names[v], real);
    for (int v = 0; v < MAXV; v++)
        for (int r = 0; r < lives[v].n_logits; r++)
            free(lives[v].logits[r]);
    lmc_model_free(m);
}

int main(void) {
    t_require_shared();
    setenv("LMC_KERNELS", "ref", 1); /* CPU matmuls on f32 activations */
    if (lmc_cuda_device_count() <= 0) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    /* pass 1: steps of up to 16 tokens through the batched mat-vecs, so both paths of the small
     * steps are checked; pass 2: 8 with cuBLAS GEMMs above; pass 3: the default (1, the
     * tensor-core product for steps of 2+ tokens). A row's tolerance follows its step's size. */
    const int bmv[] = {16, 8, 1};
    const char *mma[] = {"0", "0", NULL};
    for (int k = 0; k < 3; k++) {
        char v[8];
        snprintf(v, sizeof v, "%d", bmv[k]);
        if (mma[k]) {
            setenv("LMC_CUDA_BATCH_MV", v, 1);
            setenv("LMC_CUDA_MMA", mma[k], 1);
        } else { /* the defaults */
            unsetenv("LMC_CUDA_BATCH_MV");
            unsetenv("LMC_CUDA_MMA");
        }
        g_bmv = bmv[k];
        printf("== LMC_CUDA_BATCH_MV=%d LMC_CUDA_MMA=%s\n", g_bmv, mma[k] ? mma[k] : "(default)");
        test_model(t_shared("models/stories260K.gguf"), true);
        test_model(t_shared("models/llama-2-tiny-random.gguf"), true);
        test_model(t_shared("models/synthetic/synthetic-A-F16.gguf"), false);
        test_model(t_shared("models/synthetic/synthetic-A-Q4_0.gguf"), false);
        test_model(t_shared("models/synthetic/synthetic-A-Q4_K_M.gguf"), false);
        test_model(t_shared("models/synthetic/synthetic-A-Q8_0.gguf"), false);
        test_model(t_shared("models/synthetic/synthetic-A-Q6_K.gguf"), false);
    }
    return t_done();
}
#endif
