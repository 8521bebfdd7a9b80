/* test_cuda_batch.c — several sequences in one CUDA step (lmc serve --parallel on the GPU) against
 * the CPU reference: each sequence's logits, decoded in mixed batches with others on the GPU
 * (prompts next to single decode tokens, sequences starting and finishing at different times, a
 * sequence cleared and reused, a context shift of one sequence), equal its logits decoded alone on
 * the CPU backend (LMC_KERNELS=ref: f32 activations). Rows of a sequence whose cache only steps of
 * up to LMC_CUDA_BATCH_MV tokens wrote (batched mat-vecs on f32 activations) by NMSE <= 1e-6, the
 * others (the tensor-core product or the cuBLAS GEMM, f16 operands) by 1e-4; greedy ids equal on
 * the real models. The llama block on ../shared's models; then every other model family
 * (tests/data/families: qwen2, qwen3, gemma2, gemma3, phi3 and the partial-rotary phi4-mini, in
 * their committed weight types, plus F16 copies this test writes) with 1, 3 and 8 sequences in
 * staggered prompt chunks next to decode tokens (greedy ids equal where the reference's top-2
 * margin is at least 0.05, as test_cuda_families). Three passes: BATCH_MV 16 (both paths of small
 * steps), BATCH_MV 8 with LMC_CUDA_MMA=0 (cuBLAS above it, the old default) and the defaults
 * (BATCH_MV 1, steps of 2+ tokens through the tensor-core product). The other switches (as
 * LMC_CUDA_MMA_LA, LMC_CUDA_ATT_SPLIT) stay as the caller set them in every pass. Then with f16 KV
 * caches (-ctk/-ctv f16) on both sides: some of the same scripts, and long decodes (640 positions:
 * five attention chunks, a context shift) of one sequence (the one-sequence step) and of two
 * (the batched step), each token's logits against the CPU's, same bounds. Skips without the CUDA
 * build or a GPU; the llama part without ../shared. */
#include "testutil.h"
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

enum { NS = 4, MAXS = 8, MAXV = 8, MAXT = 96, MAXW = 48, MAXB = 128 };

static int g_bmv;         /* LMC_CUDA_BATCH_MV of this pass: longer steps run on f16 operands */
static int g_nctx = MAXT; /* positions per sequence of the contexts (LongRoPE picks by it) */
static lmc_kv_type g_kv = LMC_KV_F32; /* the KV cache type of both sides' contexts */

/* One life of a sequence (a reused slot starts a new one): the tokens it was fed at positions
 * 0..n-1, which of them wanted logits, and the GPU's logits of those in order. */
typedef struct {
    int32_t tok[MAXT];
    int n;
    int8_t want[MAXT];
    float *logits[MAXW];
    int n_logits;
    bool gemm[MAXW]; /* the life had a token in a step through the GEMM path by this row */
    bool in_gemm;    /* it has had one so far (its cache holds rows made from f16 operands) */
    int shift_at;    /* > 0: after shift_at tokens, positions [4, shift_at) moved down to 1 */
} life;

static lmc_context *open_ctx(lmc_model *m, lmc_device dev, int n_seq) {
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = g_nctx;
    cp.n_batch = MAXB;
    cp.n_seq = n_seq;
    cp.n_threads = 2;
    cp.device = dev;
    cp.n_gpu_layers = -1;
    cp.type_k = cp.type_v = g_kv;
    lmc_context *ctx = NULL;
    lmc_status st = lmc_context_init(m, &cp, &ctx);
    CHECK(st == LMC_OK, "init (%s, n_seq %d, kv %s): %s", dev == LMC_DEVICE_CPU ? "cpu" : "cuda",
          n_seq, lmc_kv_type_name(g_kv), lmc_last_error());
    return ctx;
}

/* The GPU side: a batch under construction over the slots' current lives. */
typedef struct {
    lmc_context *ctx;
    int nv;
    life *lv[MAXS]; /* the life each slot runs */
    int len[MAXS];  /* positions the slot holds (after a shift: fewer than its life's tokens) */
    int32_t tok[MAXB], pos[MAXB], seq[MAXB];
    int8_t want[MAXB];
    int n;
} gpu_run;

static void add_tok(gpu_run *g, int s, int32_t t, bool want) {
    life *L = g->lv[s];
    if (g->n >= MAXB || L->n >= MAXT) {
        CHECK(false, "the script overflows a batch (%d) or a life (%d tokens)", g->n, L->n);
        return;
    }
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
    for (int i = 0; i < g->n; i++) /* GEMM tolerance for a GEMM step's rows and every later row */
        if (g->n > g_bmv) g->lv[g->seq[i]]->in_gemm = true; /* of its lives (f16 cache rows) */
    for (int i = 0; i < g->n; i++) {
        if (!g->want[i]) continue;
        life *L = g->lv[g->seq[i]];
        if (L->n_logits < MAXW) {
            L->gemm[L->n_logits] = L->in_gemm;
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
    return t_argmax(L->logits[L->n_logits - 1], g->nv);
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

/* The reference's top-1 / top-2 margin. */
static double margin_of(const float *a, int n) {
    const int b = t_argmax(a, n);
    double second = -INFINITY;
    for (int i = 0; i < n; i++)
        if (i != b && a[i] > second) second = a[i];
    return (double)a[b] - second;
}

#define MARGIN 0.05 /* greedy ids are compared where the reference is this sure (families) */
enum { IDS_NONE, IDS_ALL, IDS_SURE };

/* Each life alone on the CPU (n_seq 1): the same tokens, the same rows wanted (and the same shift);
 * rows compared, and greedy ids as ids says (IDS_SURE: where the reference's margin >= MARGIN). */
static void check_life(lmc_model *m, const life *L, const char *what, int ids) {
    lmc_context *cpu = open_ctx(m, LMC_DEVICE_CPU, 1);
    if (!cpu) return;
    const int nv = lmc_model_n_vocab(m);
    int row = 0, same = 0, len = 0, sure = 0, same_sure = 0;
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
            const double e = t_nmse_f(L->logits[row], ref, nv);
            if (L->gemm[row])
                worst_g = fmax(worst_g, e);
            else
                worst = fmax(worst, e);
            CHECK(e <= (L->gemm[row] ? 1e-4 : 1e-6), "%s: row %d (token %d) NMSE %g", what, row, i,
                  e);
            const bool eq = t_argmax(L->logits[row], nv) == t_argmax(ref, nv);
            same += eq;
            if (margin_of(ref, nv) >= MARGIN) {
                sure++;
                same_sure += eq;
                CHECK(eq || ids != IDS_SURE, "%s: row %d (token %d): greedy id %d vs CPU %d", what,
                      row, i, t_argmax(L->logits[row], nv), t_argmax(ref, nv));
            }
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
           "argmax equal %d/%d (%d/%d with margin >= %g)\n",
           what, L->n, row, worst, worst_g, same, row, same_sure, sure, MARGIN);
    if (ids == IDS_ALL)
        CHECK(same == row, "%s: greedy ids differ (%d of %d equal)", what, same, row);
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
        if (lives[v].n) check_life(m, &lives[v], names[v], real ? IDS_ALL : IDS_NONE);
    for (int v = 0; v < MAXV; v++)
        for (int r = 0; r < lives[v].n_logits; r++)
            free(lives[v].logits[r]);
    lmc_model_free(m);
}

/* ---- the other model families ----------------------------------------------------------------
 * n sequences (a context of max(n, 2), so that one sequence also runs the batched step): slot s
 * holds a prompt of 5..17 tokens, starts at step s % 3 with its first 1..3 tokens and sends the
 * rest in the next step, then decodes, so prompt chunks run next to decode tokens; the last slot
 * shifts its context at step 4; slot 0 is cleared at step 6 and reused by a 20-token prompt from
 * position 0 (the GEMM attention), next to the others' decodes. Positions pass the gemma models'
 * sliding window (8). */
enum { FAM_STEPS = 9, FAM_LIVES = MAXS + 1 };

static int fam_prompt_len(int s) {
    return 5 + (7 * s) % 13;
}

static int fam_first_chunk(int s) {
    return 1 + s % 3;
}

static void fam_run(lmc_model *m, const char *file, int n) {
    life lives[FAM_LIVES];
    memset(lives, 0, sizeof lives);
    gpu_run g = {.nv = lmc_model_n_vocab(m)};
    g.ctx = open_ctx(m, LMC_DEVICE_CUDA, n < 2 ? 2 : n);
    bool ok = g.ctx != NULL;
    int fed[MAXS] = {0};
    int32_t prompt[MAXS][32];
    for (int s = 0; s < n; s++) {
        g.lv[s] = &lives[s];
        prompt_of(prompt[s], fam_prompt_len(s), 20 + s, g.nv);
    }
    for (int step = 0; ok && step < FAM_STEPS; step++) {
        if (step == 4 && g.len[n - 1] > 4) { /* the last slot drops positions 1..3 */
            const int s = n - 1;
            g.lv[s]->shift_at = g.lv[s]->n;
            ok = lmc_seq_shift(g.ctx, s, 4, g.len[s] - 4, 1) == LMC_OK;
            CHECK(ok, "%s: GPU shift: %s", file, lmc_last_error());
            g.len[s] -= 3;
        }
        if (step == 6) { /* slot 0: a new sequence, its whole prompt in one chunk */
            lmc_seq_truncate(g.ctx, 0, 0);
            g.lv[0] = &lives[n];
            g.len[0] = 0;
            add_prompt(&g, 0, 20, 40);
        }
        for (int k = 0; k < n; k++) {
            const int s = step % 2 ? n - 1 - k : k; /* the slots' order in the batch varies */
            const int np = fam_prompt_len(s);
            if (step < s % 3 || (step == 6 && s == 0)) continue;
            if (fed[s] < np) { /* the first chunk, then the rest */
                const int upto = fed[s] == 0 ? fam_first_chunk(s) : np;
                for (int i = fed[s]; i < upto; i++)
                    add_tok(&g, s, prompt[s][i], i == np - 1);
                fed[s] = upto;
            } else {
                add_tok(&g, s, next_id(&g, s), true);
            }
        }
        ok = ok && flush(&g);
    }
    lmc_context_free(g.ctx);
    CHECK(ok, "%s, %d sequences: the GPU script failed", file, n);
    for (int v = 0; ok && v <= n; v++) {
        char what[96];
        snprintf(what, sizeof what, "%d seqs, %s %d", n, v == n ? "slot 0 reused" : "slot",
                 v == n ? 0 : v);
        if (lives[v].n) check_life(m, &lives[v], what, IDS_SURE);
    }
    for (int v = 0; v < FAM_LIVES; v++)
        for (int r = 0; r < lives[v].n_logits; r++)
            free(lives[v].logits[r]);
}

static void test_family(const char *path, const char *file, int n_ctx) {
    lmc_model *m = t_load_model_or_skip(path);
    if (!m) return;
    printf("%s (n_ctx %d)\n", file, n_ctx);
    g_nctx = n_ctx;
    const int ns[] = {1, 3, 8};
    for (int k = 0; k < 3; k++)
        fam_run(m, file, ns[k]);
    g_nctx = MAXT;
    lmc_model_free(m);
}

/* The committed family models (tests/data/families), with the positions per sequence: the phi3
 * LongRoPE models past their original 256 (the long factors) except one (the short ones). */
static const struct {
    const char *file;
    int n_ctx;
} fam_models[] = {
    {"qwen2-gqa-tied-Q4_0.gguf", MAXT},
    {"qwen2-gqa-tied-Q5_1.gguf", MAXT},
    {"qwen2-gqa-tied-Q8_0.gguf", MAXT},
    {"qwen2-mha-k-Q4_K_M.gguf", MAXT},
    {"qwen3-gqa-Q4_0.gguf", MAXT},
    {"qwen3-gqa-Q8_0.gguf", MAXT},
    {"qwen3-k-hd128-Q4_K_M.gguf", MAXT},
    {"gemma2-swa-Q4_0.gguf", MAXT},
    {"gemma2-swa-Q8_0.gguf", MAXT},
    {"gemma2-k-Q4_K_M.gguf", MAXT},
    {"gemma3-swa-linear-Q4_0.gguf", MAXT},
    {"gemma3-swa-linear-Q5_0.gguf", MAXT},
    {"gemma3-swa-linear-Q8_0.gguf", MAXT},
    {"gemma3-k-hd256-Q4_K_M.gguf", MAXT},
    {"phi3-fused-longrope-Q4_0.gguf", 512},
    {"phi3-fused-longrope-Q4_1.gguf", MAXT},
    {"phi3-fused-longrope-Q8_0.gguf", 512},
    {"phi3-gqa-k-Q4_K_M.gguf", MAXT},
    {"phi4mini-partial-rope-Q4_0.gguf", 512},
    {"phi4mini-partial-rope-Q4_K_M.gguf", 512},
    {"phi4mini-partial-rope-Q8_0.gguf", MAXT},
};
/* F16 copies of these (written once into a temporary folder): the F16 mat-vecs and GEMMs. */
static const char *fam_f16[] = {"qwen3-gqa-Q8_0.gguf", "gemma2-swa-Q8_0.gguf",
                                "gemma3-swa-linear-Q8_0.gguf", "phi4mini-partial-rope-Q8_0.gguf"};
enum {
    N_FAM = sizeof fam_models / sizeof fam_models[0],
    N_F16 = sizeof fam_f16 / sizeof fam_f16[0]
};

static char g_f16_path[N_F16][1200]; /* a folder (< 1024) and a name */

/* Writes the F16 copies into dir; a copy that cannot be written is a failure (and left out). */
static void make_f16(const char *src, const char *dir) {
    for (int k = 0; k < N_F16; k++) {
        char in[1024];
        snprintf(in, sizeof in, "%s/tests/data/families/%s", src, fam_f16[k]);
        char name[128]; /* "<model>-Q8_0.gguf" -> "<model>-F16.gguf" */
        snprintf(name, sizeof name, "%s", fam_f16[k]);
        char *q8 = strstr(name, "-Q8_0.gguf");
        if (q8) snprintf(q8, sizeof name - (size_t)(q8 - name), "-F16.gguf");
        snprintf(g_f16_path[k], sizeof g_f16_path[k], "%s/%s", dir, name);
        lmc_quantize_params qp = lmc_quantize_default_params();
        qp.ftype = LMC_FTYPE_F16;
        qp.allow_requantize = true;
        qp.pure = true;
        qp.force = true;
        qp.n_threads = 2;
        const lmc_status st = lmc_quantize(in, g_f16_path[k], &qp);
        CHECK(st == LMC_OK, "F16 copy of %s: %s", fam_f16[k], lmc_last_error());
        if (st != LMC_OK) g_f16_path[k][0] = 0;
    }
}

static void test_families(const char *src) {
    for (int k = 0; k < N_FAM; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/data/families/%s", src, fam_models[k].file);
        struct stat fs; /* committed with the repository: missing is a failure, not a skip */
        CHECK(stat(path, &fs) == 0,
              "%s is missing (run from the source root or set LMC_SOURCE_DIR)", path);
        test_family(path, fam_models[k].file, fam_models[k].n_ctx);
    }
    for (int k = 0; k < N_F16; k++)
        if (g_f16_path[k][0]) test_family(g_f16_path[k], strrchr(g_f16_path[k], '/') + 1, MAXT);
}

/* ---- long decodes ---------------------------------------------------------------------------
 * n_seq sequences (1: a context of one sequence, the graph-replayed one-sequence step; 2: the
 * batched step) decoded token by token to LONG_N positions with fixed tokens, each token's logits
 * against the same sequence on its own CPU context (same cache type): sequence 1 (and the lone
 * sequence) only through single-token or small steps (NMSE <= 1e-6 when those run on f32
 * activations; 1e-5 on f16 caches, see LONG_F16_BOUND), sequence 0 of two after a 24-token prompt
 * (the GEMM attention; 1e-4). Halfway every sequence drops positions [4, 4 + LONG_DROP) by a
 * context shift (the rotation kernels). */
enum { LONG_N = 600, LONG_DROP = 64, LONG_CTX = 640 };
/* An f16 cache rounds every key and value to 11 bits: a product that differs in its last f32 bit
 * between two correct engines (another summation order) can round the other way, and one such
 * flip reaches the logits. Measured between lmc's own CPU kernel tables on this decode (ref against
 * zen3 and avx2, stories260K, one sequence, 2026-12-07): NMSE up to 1.87e-6 (position 323, one of
 * 664 rows above 1e-6, 12 above 1e-8) with f16 caches, 3.7e-13 with f32 ones; the GPU against the
 * CPU showed the same 1.84e-6 at the same position. So small steps on an f16 cache are held to
 * 1e-5, on an f32 cache to 1e-6. */
#define LONG_F16_BOUND 1e-5

static void test_long(const char *path, int n_seq) {
    lmc_model *m = t_load_model_or_skip(path);
    if (!m) return;
    const int nv = lmc_model_n_vocab(m);
    const int saved = g_nctx;
    g_nctx = LONG_CTX;
    lmc_context *gpu = open_ctx(m, LMC_DEVICE_CUDA, n_seq);
    lmc_context *cpu[2] = {NULL, NULL};
    for (int s = 0; s < n_seq; s++)
        cpu[s] = open_ctx(m, LMC_DEVICE_CPU, 1);
    g_nctx = saved;
    bool ok = gpu && cpu[0] && (n_seq < 2 || cpu[1]);
    int len[2] = {0, 0}, rows = 0;
    bool gemm[2] = {false, false};
    double worst[2] = {0, 0}, worst_g = 0;
    int32_t tok[2 * MAXB], pos[2 * MAXB], seq[2 * MAXB];
    int8_t want[2 * MAXB];
    for (int step = 0; ok && len[n_seq - 1] < LONG_N; step++) {
        if (step == LONG_N / 2) { /* halfway: every sequence drops [4, 4 + LONG_DROP) */
            for (int s = 0; ok && s < n_seq; s++) {
                ok = lmc_seq_shift(gpu, s, 4 + LONG_DROP, len[s] - 4 - LONG_DROP, 4) == LMC_OK &&
                     lmc_seq_shift(cpu[s], 0, 4 + LONG_DROP, len[s] - 4 - LONG_DROP, 4) == LMC_OK;
                CHECK(ok, "%s: shift: %s", path, lmc_last_error());
                len[s] -= LONG_DROP;
            }
        }
        int n = 0;
        for (int s = 0; s < n_seq; s++) {
            /* two sequences: sequence 1 starts alone, then sequence 0's 24-token prompt alone (a
             * GEMM step of its own: sequence 1's cache keeps only rows of small steps) */
            const int k = n_seq == 2 && s == 0 && step == 1 ? 24 : 1;
            if (n_seq == 2 && step < 2 && s != 1 - step) continue;
            for (int i = 0; i < k; i++, n++) {
                tok[n] = (int32_t)((len[s] == 0 ? 1 : 7 + 131 * len[s] + 17 * s + 3 * step) % nv);
                pos[n] = len[s]++;
                seq[n] = s;
                want[n] = i == k - 1;
            }
        }
        lmc_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq_id = seq, .want_logits = want};
        const float *lg = NULL;
        ok = lmc_decode_batch(gpu, &b, &lg) == LMC_OK;
        CHECK(ok, "%s: GPU step %d: %s", path, step, lmc_last_error());
        for (int i = 0; n > g_bmv && n_seq > 1 && i < n; i++)
            gemm[seq[i]] = true; /* its cache has rows from f16 operands from here on */
        for (int i = 0, row = 0; ok && i < n; i++) {
            if (!want[i]) continue;
            const int s = seq[i];
            int i0 = i; /* the sequence's tokens of this step: i0..i */
            while (i0 > 0 && seq[i0 - 1] == s)
                i0--;
            lmc_batch cb = {.n_tokens = i - i0 + 1, .token = tok + i0, .pos = pos + i0};
            const float *ref = NULL;
            ok = lmc_decode_batch(cpu[s], &cb, &ref) == LMC_OK;
            CHECK(ok, "%s: CPU step %d: %s", path, step, lmc_last_error());
            if (!ok) break;
            const double e = t_nmse_f(lg + (size_t)row++ * nv, ref, nv);
            if (gemm[s])
                worst_g = fmax(worst_g, e);
            else
                worst[s] = fmax(worst[s], e);
            const double bound = gemm[s] ? 1e-4 : g_kv == LMC_KV_F16 ? LONG_F16_BOUND : 1e-6;
            CHECK(e <= bound, "%s, %d seq, kv %s: seq %d position %d NMSE %g", path, n_seq,
                  lmc_kv_type_name(g_kv), s, pos[i], e);
            rows++;
        }
    }
    printf("  long decode, %d sequence%s, kv %s: %d rows to position %d: NMSE vs CPU %.3g / %.3g "
           "(steps of <= %d tokens), %.3g (after GEMM steps)\n",
           n_seq, n_seq > 1 ? "s" : "", lmc_kv_type_name(g_kv), rows, LONG_N, worst[0], worst[1],
           g_bmv, worst_g);
    lmc_context_free(gpu);
    for (int s = 0; s < n_seq; s++)
        lmc_context_free(cpu[s]);
    lmc_model_free(m);
}

int main(void) {
    setenv("LMC_KERNELS", "ref", 1); /* CPU matmuls on f32 activations */
    if (lmc_cuda_device_count() <= 0) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    const char *src = getenv("LMC_SOURCE_DIR");
    if (!src) src = ".";
    const char *shared = t_shared("models");
    struct stat sb;
    const bool have_shared = shared && stat(shared, &sb) == 0;
    if (!have_shared) printf("the shared folder (LMC_SHARED) is absent: llama models skipped\n");
    const char *tdir = getenv("TMPDIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/lmc_cuda_batch_XXXXXX", tdir && *tdir ? tdir : "/tmp");
    const bool have_dir = mkdtemp(dir) != NULL;
    CHECK(have_dir, "cannot make a temporary folder %s", dir);
    if (have_dir) make_f16(src, dir);
    /* pass 1: steps of up to 16 tokens through the batched mat-vecs, so both paths of the small
     * steps are checked; pass 2: 8, cuBLAS GEMMs above (the old default); pass 3: the defaults
     * (1, the tensor-core product for steps of 2+ tokens). A row's tolerance follows its step's
     * size. */
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
        if (have_shared) test_model(t_shared("models/stories260K.gguf"), true);
        if (have_shared) test_model(t_shared("models/llama-2-tiny-random.gguf"), true);
        if (have_shared) test_model(t_shared("models/synthetic/synthetic-A-F16.gguf"), false);
        if (have_shared) test_model(t_shared("models/synthetic/synthetic-A-Q4_0.gguf"), false);
        if (have_shared) test_model(t_shared("models/synthetic/synthetic-A-Q4_K_M.gguf"), false);
        if (have_shared) test_model(t_shared("models/synthetic/synthetic-A-Q8_0.gguf"), false);
        if (have_shared) test_model(t_shared("models/synthetic/synthetic-A-Q6_K.gguf"), false);
        test_families(src);
    }
    /* f16 KV caches on both sides (-ctk/-ctv f16): steps of up to 16 tokens on f32 activations
     * (1e-6) next to cuBLAS steps (1e-4), then the long decodes on those and on the defaults. The
     * one-sequence context's decode mat-vecs on f32 activations too (LMC_CUDA_Q8=0), so that its
     * rows meet 1e-6. */
    g_kv = LMC_KV_F16;
    setenv("LMC_CUDA_Q8", "0", 1);
    for (int k = 0; k < 2; k++) {
        if (k == 0) {
            setenv("LMC_CUDA_BATCH_MV", "16", 1);
            setenv("LMC_CUDA_MMA", "0", 1);
            g_bmv = 16;
        } else {
            unsetenv("LMC_CUDA_BATCH_MV");
            unsetenv("LMC_CUDA_MMA");
            g_bmv = 1;
        }
        printf("== f16 KV cache, LMC_CUDA_BATCH_MV=%s\n",
               k == 0 ? "16 LMC_CUDA_MMA=0" : "(default)");
        if (k == 0 && have_shared) {
            test_model(t_shared("models/stories260K.gguf"), true);
            test_model(t_shared("models/synthetic/synthetic-A-Q4_K_M.gguf"), false);
        }
        const char *fam_long[] = {"qwen3-gqa-Q8_0.gguf", "gemma3-swa-linear-Q8_0.gguf",
                                  "phi4mini-partial-rope-Q8_0.gguf"};
        for (int f = 0; f < 3; f++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/tests/data/families/%s", src, fam_long[f]);
            if (k == 0) test_family(path, fam_long[f], MAXT);
            for (int n = 1; n <= 2; n++)
                if (f == 0) test_long(path, n);
        }
        for (int n = 1; have_shared && n <= 2; n++)
            test_long(t_shared("models/stories260K.gguf"), n);
    }
    unsetenv("LMC_CUDA_Q8");
    g_kv = LMC_KV_F32;
    for (int k = 0; have_dir && k < N_F16; k++)
        if (g_f16_path[k][0]) remove(g_f16_path[k]);
    if (have_dir) rmdir(dir);
    return t_done();
}
#endif
