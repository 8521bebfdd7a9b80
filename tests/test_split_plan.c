/* test_split_plan.c — tensor parallelism (issue 19) proven on the CPU: the cut of split_plan.h
 * (ranges cover every head, FFN column and vocabulary row once, on quant-block boundaries; the
 * impossible cuts refused with their rule; llama.cpp's --tensor-split layer assignment), the fake
 * communicator of comm.h against serial sums, and the llama block run over N = 1, 2, 4 fake ranks
 * with the per-layer collective schedule of docs/MULTI_GPU.md — each rank computing only its own
 * heads, FFN columns and vocabulary rows from its slices of the weights (the exact CPU path:
 * reference dequantization + the portable f32 dot), one all-reduce after wo and one after
 * ffn_down, the embedding as an all-reduce of vocabulary-split rows, logits all-gathered — against
 * the unsplit CPU forward (LMC_KERNELS=ref) through the public API, for a prompt batch and decode
 * steps, and the distributed argmax (each rank's best, all-gathered) against the gathered logits'.
 * N = 1 must give the same bits; N > 1 differs only by the order of the partial sums. stories260K
 * (F32, 4 KV heads) and synthetic-A Q4_K_M (Q4_K/Q6_K, 2 KV heads) from ../shared. Also the
 * context's checks of -sm/-ts/-mg/--tensor-parallel (ctx_resolve_split) with the number of GPUs
 * given, and once through lmc_context_init with the GPUs this machine has; the families' blocks
 * (tests/data/families) refused by -sm row over several ranks with a message naming them. */
#include "comm.h"
#include "context_split.h"
#include "cpu/forward.h"
#include "cpu/kernels.h"
#include "cpu/vmath.h"
#include "lmc.h"
#include "model.h"
#include "quant.h"
#include "split_plan.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N_PROMPT = 6, N_TOK = 9, N_CTX = 16 };

/* ---- the plan ---------------------------------------------------------------------------------
 */

/* Ranges of the plan tile [0, total) in rank order, none empty, each a multiple of unit wide. */
static void check_tiles(const split_range *r, int n, int32_t total, int32_t unit,
                        const char *what) {
    int32_t at = 0;
    for (int k = 0; k < n; k++) {
        CHECK(r[k].lo == at && r[k].hi > r[k].lo, "%s: rank %d [%d, %d) after %d", what, k, r[k].lo,
              r[k].hi, at);
        CHECK((r[k].lo % unit == 0 && r[k].hi % unit == 0) || r[k].hi == total,
              "%s: rank %d [%d, %d) not on %d", what, k, r[k].lo, r[k].hi, unit);
        at = r[k].hi;
    }
    CHECK(at == total, "%s: ends at %d of %d", what, at, total);
}

static split_geom llama70b(void) {
    split_geom g = {.n_head = 64,
                    .n_head_kv = 8,
                    .head_dim = 128,
                    .n_ff = 28672,
                    .n_vocab = 128256,
                    .wo_block = 256,
                    .down_block = 256};
    strcpy(g.wo_type, "Q4_K");
    strcpy(g.down_type, "Q6_K");
    return g;
}

static void expect_refusal(const split_geom *g, int n, const char *words) {
    split_tp_plan p;
    lmc_status st = split_tp_plan_make(g, n, &p);
    CHECK(st == LMC_ERR_INVALID_ARG && strstr(lmc_last_error(), words),
          "%d ranks: status %d, message '%s' (want '%s')", n, st, lmc_last_error(), words);
}

static void test_plan(void) {
    split_geom g = llama70b();
    for (int n = 1; n <= 8; n *= 2) {
        split_tp_plan p;
        CHECK(split_tp_plan_make(&g, n, &p) == LMC_OK, "70B over %d: %s", n, lmc_last_error());
        check_tiles(p.kv_head, n, 8, 1, "kv heads");
        check_tiles(p.q_head, n, 64, 1, "q heads");
        check_tiles(p.ff, n, 28672, 256, "ffn");
        check_tiles(p.vocab, n, 128256, 1, "vocab");
        for (int k = 0; k < n; k++) { /* query heads follow their KV group (8 per KV head) */
            CHECK(p.q_head[k].lo == p.kv_head[k].lo * 8 && p.q_head[k].hi == p.kv_head[k].hi * 8,
                  "70B/%d rank %d: q heads not the KV heads' groups", n, k);
            CHECK(p.ff[k].hi - p.ff[k].lo == 28672 / n, "70B/%d rank %d: ffn width %d", n, k,
                  p.ff[k].hi - p.ff[k].lo);
        }
        CHECK(p.vocab_max == (128256 + n - 1) / n, "70B/%d: vocab_max %d", n, p.vocab_max);
    }
    expect_refusal(&g, 16, "only 8 KV heads");
    expect_refusal(&g, 3, "do not split evenly");
    expect_refusal(&g, 0, "out of range");
    /* uneven FFN blocks: 6 blocks of 256 over 4 ranks are 2, 2, 1, 1 */
    split_geom s = {.n_head = 8, .n_head_kv = 4, .head_dim = 64, .n_ff = 1536, .n_vocab = 10};
    s.wo_block = s.down_block = 256;
    strcpy(s.wo_type, "Q4_K");
    strcpy(s.down_type, "Q4_K");
    split_tp_plan p;
    CHECK(split_tp_plan_make(&s, 4, &p) == LMC_ERR_INVALID_ARG &&
              strstr(lmc_last_error(), "attn_output"),
          "2 heads of 64 = 128 columns of a Q4_K wo must be refused: %s", lmc_last_error());
    s.wo_block = 32; /* Q8_0 wo: 128 columns are whole blocks */
    CHECK(split_tp_plan_make(&s, 4, &p) == LMC_OK, "uneven ffn: %s", lmc_last_error());
    int32_t want[4] = {512, 512, 256, 256};
    for (int k = 0; k < 4; k++)
        CHECK(p.ff[k].hi - p.ff[k].lo == want[k], "uneven ffn rank %d: %d columns", k,
              p.ff[k].hi - p.ff[k].lo);
    check_tiles(p.vocab, 4, 10, 1, "vocab 10/4");
    CHECK(p.vocab_max == 3, "vocab 10/4: widest %d", p.vocab_max);
    s.n_ff = 512; /* 2 blocks, 4 ranks */
    expect_refusal(&s, 4, "fewer than 4 ranks");
    s.n_ff = 1536;
    s.n_vocab = 3;
    expect_refusal(&s, 4, "vocabulary rows");

    /* layer split, llama.cpp's rule: layer l to the first device whose cumulative share exceeds
     * l / (n_layer + 1), the output being layer n_layer */
    split_range r[SPLIT_MAX_RANKS];
    int32_t out_dev = -1;
    float half[2] = {1, 1};
    CHECK(split_layer_plan(80, half, 2, r, &out_dev) == LMC_OK, "%s", lmc_last_error());
    CHECK(r[0].lo == 0 && r[0].hi == 41 && r[1].lo == 41 && r[1].hi == 80 && out_dev == 1,
          "80 layers 1,1: [%d,%d) [%d,%d) output %d", r[0].lo, r[0].hi, r[1].lo, r[1].hi, out_dev);
    float three[3] = {3, 0, 1}; /* a zero share gets nothing */
    CHECK(split_layer_plan(80, three, 3, r, &out_dev) == LMC_OK, "%s", lmc_last_error());
    CHECK(r[0].lo == 0 && r[0].hi == 61 && r[1].lo == r[1].hi && r[2].lo == 61 && r[2].hi == 80 &&
              out_dev == 2,
          "80 layers 3,0,1: [%d,%d) [%d,%d) [%d,%d) output %d", r[0].lo, r[0].hi, r[1].lo, r[1].hi,
          r[2].lo, r[2].hi, out_dev);
    CHECK(split_layer_plan(5, NULL, 4, r, &out_dev) == LMC_OK, "%s", lmc_last_error());
    int covered = 0;
    for (int d = 0; d < 4; d++) {
        CHECK(r[d].lo == covered || r[d].lo == r[d].hi, "5 layers/4: device %d starts %d", d,
              r[d].lo);
        if (r[d].hi > r[d].lo) covered = r[d].hi;
    }
    CHECK(covered == 5, "5 layers over 4 equal devices: %d covered", covered);
    float bad[2] = {1, -1};
    CHECK(split_layer_plan(80, bad, 2, r, &out_dev) == LMC_ERR_INVALID_ARG &&
              strstr(lmc_last_error(), "--tensor-split value 2"),
          "negative share: %s", lmc_last_error());
}

/* ---- the fake communicator --------------------------------------------------------------------
 */

typedef struct {
    float got[8][17 + 8 * 3]; /* each rank's all-reduced 17 floats, then 3 gathered per rank */
} comm_job;

static lmc_status comm_rank(lmc_comm *c, void *user) {
    comm_job *j = user;
    float *v = j->got[c->rank];
    for (int i = 0; i < 17; i++)
        v[i] = (float)(c->rank + 1) * 0.1f + (float)i;
    lmc_status st = c->all_reduce_sum(c, v, 17);
    float send[3] = {(float)c->rank, (float)c->rank * 10, -1};
    if (st == LMC_OK) st = c->all_gather(c, send, 3, v + 17);
    if (st == LMC_OK) st = c->barrier(c);
    return st;
}

static void test_fake_comm(void) {
    for (int n = 1; n <= 8; n++) {
        comm_job j;
        memset(&j, 0, sizeof j);
        CHECK(comm_fake_run(n, comm_rank, &j) == LMC_OK, "%d ranks: %s", n, lmc_last_error());
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < 17; i++) {
                float want = 0; /* the sum in rank order, as the fake promises */
                for (int k = 0; k < n; k++)
                    want += (float)(k + 1) * 0.1f + (float)i;
                CHECK(j.got[r][i] == want, "%d ranks, rank %d [%d]: %g != %g", n, r, i, j.got[r][i],
                      want);
            }
            for (int k = 0; k < n; k++)
                CHECK(j.got[r][17 + 3 * k] == k && j.got[r][18 + 3 * k] == 10 * k,
                      "%d ranks, rank %d: gathered part %d", n, r, k);
        }
    }
    CHECK(comm_fake_run(0, comm_rank, NULL) == LMC_ERR_INVALID_ARG, "0 ranks accepted");
}

/* ---- the llama block over fake ranks ----------------------------------------------------------
 */

typedef struct {
    const lmc_model *m;
    const split_tp_plan *p;
    const int32_t *tok;     /* N_TOK tokens: the first N_PROMPT one batch, then one at a time */
    float *out[16];         /* each rank's logits of every token, (N_TOK, n_vocab) */
    int32_t ids[16][N_TOK]; /* each rank's distributed argmax of every token */
    double *inv_freq;       /* (n_layer, head_dim/2) */
} tp_job;

/* Dot of inputs [c0, c0 + n) of weight row `row` with x: the slice dequantized by the reference
 * dequantizer (c0 on a block boundary) and dotted by the portable f32 dot, as the CPU exact path
 * does a whole row. */
static float slice_dot(const gguf_tensor *w, int64_t row, int64_t c0, int64_t n, const float *x,
                       float *tmp) {
    const lmc_type_traits *tr = lmc_type_get(w->type);
    const uint8_t *p = (const uint8_t *)w->data + (uint64_t)row * lmc_row_size(w->type, w->ne[0]) +
                       (uint64_t)(c0 / tr->blck_size) * (uint64_t)tr->type_size;
    lmc_dequantize(w->type, p, tmp, n);
    return kern_dot_f32_portable(tmp, x, n);
}

/* y[t * ld + j] = rows [r0, r0 + nr) of w (inputs [c0, c0 + nc)) times x[t] (nc floats apart) */
static void slice_matmul(const gguf_tensor *w, int32_t r0, int32_t nr, int32_t c0, int32_t nc,
                         const float *x, int32_t n, float *y, int32_t ld, float *tmp) {
    for (int32_t t = 0; t < n; t++)
        for (int32_t j = 0; j < nr; j++)
            y[(size_t)t * ld + j] = slice_dot(w, r0 + j, c0, nc, x + (size_t)t * nc, tmp);
}

typedef struct {
    float *kc, *vc; /* (n_layer, N_CTX, KV) this rank's heads */
    float *x, *xn, *q, *k, *v, *att, *part, *gate, *up, *tmp, *cs, *lg, *gath, *norm;
} tp_bufs;

/* The distributed argmax of one token: each rank's best (value, index) of its rows, all-gathered
 * (2 floats a rank instead of its rows; indices < 2^24 are exact floats); the first maximum wins,
 * as a full argmax picks it. */
static lmc_status tp_argmax(lmc_comm *c, const float *lg, int32_t nv, int32_t v0, float *pairs,
                            int32_t *id) {
    int32_t best = 0;
    for (int32_t i = 1; i < nv; i++)
        if (lg[i] > lg[best]) best = i;
    float mine[2] = {lg[best], (float)(v0 + best)};
    lmc_status st = c->all_gather(c, mine, 2, pairs);
    if (st != LMC_OK) return st;
    int32_t k_best = 0; /* ranks hold increasing vocabulary ranges: the first max is the lowest */
    for (int32_t k = 1; k < c->n_rank; k++)
        if (pairs[2 * k] > pairs[2 * k_best]) k_best = k;
    *id = (int32_t)pairs[2 * k_best + 1];
    return LMC_OK;
}

/* One forward of n tokens at positions pos0.. on rank c: the schedule of docs/MULTI_GPU.md. Writes
 * the gathered logits of each token to out (n rows) and its distributed argmax to ids (n). */
static lmc_status tp_forward(tp_job *j, lmc_comm *c, tp_bufs *b, const int32_t *tok, int32_t pos0,
                             int32_t n, float *out, int32_t *ids) {
    const lmc_model *m = j->m;
    const lmc_hparams *hp = &m->hp;
    const split_tp_plan *p = j->p;
    const int32_t r = c->rank, E = hp->n_embd, hd = hp->head_dim,
                  group = hp->n_head / hp->n_head_kv;
    const int32_t q0 = p->q_head[r].lo, nq = p->q_head[r].hi - q0;
    const int32_t k0 = p->kv_head[r].lo, nk = p->kv_head[r].hi - k0;
    const int32_t Q = nq * hd, KV = nk * hd, f0 = p->ff[r].lo, F = p->ff[r].hi - f0;
    const int32_t v0 = p->vocab[r].lo, nv = p->vocab[r].hi - v0;
    const kern_table *kt = kern_best();
    lmc_status st;
    /* embedding: the rank owning a token's row writes it, the others zeros; all-reduce */
    const uint64_t emb_row = lmc_row_size(m->tok_embd->type, E);
    memset(b->x, 0, (size_t)n * E * sizeof(float));
    for (int32_t t = 0; t < n; t++)
        if (tok[t] >= v0 && tok[t] < v0 + nv)
            lmc_dequantize(m->tok_embd->type,
                           (const uint8_t *)m->tok_embd->data + (uint64_t)tok[t] * emb_row,
                           b->x + (size_t)t * E, E);
    if ((st = c->all_reduce_sum(c, b->x, (size_t)n * E)) != LMC_OK) return st;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const lmc_layer *L = &m->layers[l];
        /* attention over this rank's heads; wo's row-parallel part, all-reduced */
        lmc_dequantize(L->attn_norm->type, L->attn_norm->data, b->norm, E);
        for (int32_t t = 0; t < n; t++)
            cpu_rmsnorm(b->x + (size_t)t * E, b->norm, b->xn + (size_t)t * E, E, hp->norm_eps);
        slice_matmul(L->wq, q0 * hd, Q, 0, E, b->xn, n, b->q, Q, b->tmp);
        slice_matmul(L->wk, k0 * hd, KV, 0, E, b->xn, n, b->k, KV, b->tmp);
        slice_matmul(L->wv, k0 * hd, KV, 0, E, b->xn, n, b->v, KV, b->tmp);
        for (int32_t t = 0; t < n; t++) {
            cpu_rope_cos_sin(pos0 + t, j->inv_freq + (size_t)l * (hd / 2), hd, b->cs);
            void (*rope)(float *, int32_t, int32_t, int32_t, const float *) =
                hp->rope == LMC_ROPE_NEOX ? cpu_rope_neox : cpu_rope;
            rope(b->q + (size_t)t * Q, nq, hd, hd, b->cs); /* the llama block rotates all dims */
            rope(b->k + (size_t)t * KV, nk, hd, hd, b->cs);
            size_t at = ((size_t)l * N_CTX + (size_t)(pos0 + t)) * KV;
            memcpy(b->kc + at, b->k + (size_t)t * KV, (size_t)KV * sizeof(float));
            memcpy(b->vc + at, b->v + (size_t)t * KV, (size_t)KV * sizeof(float));
        }
        for (int32_t t = 0; t < n; t++) {
            const int32_t pos = pos0 + t;
            for (int32_t h = 0; h < nq; h++) {
                const int32_t g = (q0 + h) / group - k0; /* this rank's KV head of query head */
                const float *kc = b->kc + (size_t)l * N_CTX * KV + (size_t)g * hd;
                const float *vc = b->vc + (size_t)l * N_CTX * KV + (size_t)g * hd;
                const float *q = b->q + (size_t)t * Q + (size_t)h * hd;
                float *score = b->tmp, mx = -INFINITY, sum = 0;
                for (int32_t s = 0; s <= pos; s++) {
                    score[s] = kt->dot_f32(q, kc + (size_t)s * KV, hd) * hp->attn_scale;
                    if (score[s] > mx) mx = score[s];
                }
                for (int32_t s = 0; s <= pos; s++)
                    score[s] -= mx;
                vmath_exp(score, score, pos + 1); /* as forward.c's att_rows */
                for (int32_t s = 0; s <= pos; s++)
                    sum += score[s];
                float inv = 1.0f / sum, *o = b->att + (size_t)t * Q + (size_t)h * hd;
                memset(o, 0, (size_t)hd * sizeof(float));
                for (int32_t s = 0; s <= pos; s++)
                    kt->axpy_f32(o, score[s] * inv, vc + (size_t)s * KV, hd);
            }
        }
        slice_matmul(L->wo, 0, E, q0 * hd, Q, b->att, n, b->part, E, b->tmp);
        if ((st = c->all_reduce_sum(c, b->part, (size_t)n * E)) != LMC_OK) return st;
        for (size_t i = 0; i < (size_t)n * E; i++)
            b->x[i] += b->part[i];
        /* FFN over this rank's columns; ffn_down's row-parallel part, all-reduced */
        lmc_dequantize(L->ffn_norm->type, L->ffn_norm->data, b->norm, E);
        for (int32_t t = 0; t < n; t++)
            cpu_rmsnorm(b->x + (size_t)t * E, b->norm, b->xn + (size_t)t * E, E, hp->norm_eps);
        slice_matmul(L->ffn_gate, f0, F, 0, E, b->xn, n, b->gate, F, b->tmp);
        slice_matmul(L->ffn_up, f0, F, 0, E, b->xn, n, b->up, F, b->tmp);
        cpu_swiglu(b->gate, b->up, b->gate, (int64_t)n * F);
        slice_matmul(L->ffn_down, 0, E, f0, F, b->gate, n, b->part, E, b->tmp);
        if ((st = c->all_reduce_sum(c, b->part, (size_t)n * E)) != LMC_OK) return st;
        for (size_t i = 0; i < (size_t)n * E; i++)
            b->x[i] += b->part[i];
    }
    /* output: this rank's vocabulary rows, padded to the widest, all-gathered */
    lmc_dequantize(m->output_norm->type, m->output_norm->data, b->norm, E);
    for (int32_t t = 0; t < n; t++) {
        cpu_rmsnorm(b->x + (size_t)t * E, b->norm, b->xn, E, hp->norm_eps);
        memset(b->lg, 0, (size_t)p->vocab_max * sizeof(float));
        slice_matmul(m->output, v0, nv, 0, E, b->xn, 1, b->lg, nv, b->tmp);
        if ((st = tp_argmax(c, b->lg, nv, v0, b->gath, &ids[t])) != LMC_OK) return st;
        if ((st = c->all_gather(c, b->lg, (size_t)p->vocab_max, b->gath)) != LMC_OK) return st;
        for (int32_t k = 0; k < c->n_rank; k++)
            memcpy(out + (size_t)t * hp->n_vocab + p->vocab[k].lo,
                   b->gath + (size_t)k * p->vocab_max,
                   (size_t)(p->vocab[k].hi - p->vocab[k].lo) * sizeof(float));
    }
    return LMC_OK;
}

static lmc_status tp_rank(lmc_comm *c, void *user) {
    tp_job *j = user;
    const lmc_hparams *hp = &j->m->hp;
    const split_tp_plan *p = j->p;
    const int32_t r = c->rank, hd = hp->head_dim, E = hp->n_embd;
    const size_t Q = (size_t)(p->q_head[r].hi - p->q_head[r].lo) * hd;
    const size_t KV = (size_t)(p->kv_head[r].hi - p->kv_head[r].lo) * hd;
    const size_t F = (size_t)(p->ff[r].hi - p->ff[r].lo), NB = N_PROMPT;
    size_t wide = (size_t)(hp->n_ff > E ? hp->n_ff : E);
    if (wide < (size_t)hp->n_head * hd) wide = (size_t)hp->n_head * hd;
    tp_bufs b = {
        .kc = malloc((size_t)hp->n_layer * N_CTX * KV * sizeof(float)),
        .vc = malloc((size_t)hp->n_layer * N_CTX * KV * sizeof(float)),
        .x = malloc(NB * E * sizeof(float)),
        .xn = malloc(NB * E * sizeof(float)),
        .q = malloc(NB * Q * sizeof(float)),
        .k = malloc(NB * KV * sizeof(float)),
        .v = malloc(NB * KV * sizeof(float)),
        .att = malloc(NB * Q * sizeof(float)),
        .part = malloc(NB * E * sizeof(float)),
        .gate = malloc(NB * F * sizeof(float)),
        .up = malloc(NB * F * sizeof(float)),
        .tmp = malloc(wide * sizeof(float)),
        .cs = malloc((size_t)hd * sizeof(float)),
        .lg = malloc((size_t)p->vocab_max * sizeof(float)),
        .gath = malloc((size_t)c->n_rank * (p->vocab_max > 2 ? p->vocab_max : 2) * sizeof(float)),
        .norm = malloc((size_t)E * sizeof(float)),
    };
    /* every rank learns whether any failed, so none waits in a collective for a rank that left */
    float fail = !b.kc || !b.vc || !b.x || !b.xn || !b.q || !b.k || !b.v || !b.att || !b.part ||
                 !b.gate || !b.up || !b.tmp || !b.cs || !b.lg || !b.gath || !b.norm;
    lmc_status st = c->all_reduce_sum(c, &fail, 1);
    if (st == LMC_OK && fail) st = LMC_ERR_OOM;
    float *out = j->out[r];
    if (st == LMC_OK) st = tp_forward(j, c, &b, j->tok, 0, N_PROMPT, out, j->ids[r]);
    for (int32_t t = N_PROMPT; st == LMC_OK && t < N_TOK; t++)
        st = tp_forward(j, c, &b, j->tok + t, t, 1, out + (size_t)t * hp->n_vocab, j->ids[r] + t);
    free(b.kc), free(b.vc), free(b.x), free(b.xn), free(b.q), free(b.k), free(b.v), free(b.att);
    free(b.part), free(b.gate), free(b.up), free(b.tmp), free(b.cs), free(b.lg), free(b.gath);
    free(b.norm);
    return st;
}

/* The unsplit CPU forward through the public API: the prompt as one batch (every row's logits),
 * then one token at a time. */
static bool reference_logits(lmc_model *m, const int32_t *tok, float *out) {
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = N_CTX;
    cp.n_threads = 2;
    cp.device = LMC_DEVICE_CPU;
    lmc_context *ctx = NULL;
    lmc_status st = lmc_context_init(m, &cp, &ctx);
    CHECK(st == LMC_OK, "reference context: %s", lmc_last_error());
    if (st != LMC_OK) return false;
    const int32_t nv = lmc_model_n_vocab(m);
    int32_t pos[N_PROMPT];
    int8_t want[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++)
        pos[i] = i, want[i] = 1;
    lmc_batch b = {N_PROMPT, tok, pos, NULL, want};
    const float *lg = NULL;
    st = lmc_decode_batch(ctx, &b, &lg);
    CHECK(st == LMC_OK, "reference prompt: %s", lmc_last_error());
    if (st == LMC_OK) memcpy(out, lg, (size_t)N_PROMPT * nv * sizeof(float));
    for (int t = N_PROMPT; st == LMC_OK && t < N_TOK; t++) {
        st = lmc_decode(ctx, tok + t, 1, t, &lg);
        CHECK(st == LMC_OK, "reference step %d: %s", t, lmc_last_error());
        if (st == LMC_OK) memcpy(out + (size_t)t * nv, lg, (size_t)nv * sizeof(float));
    }
    lmc_context_free(ctx);
    return st == LMC_OK;
}

static void test_model(const char *rel, const int *ranks, int n_cases, int refused) {
    lmc_model *m = t_load_model_or_skip(t_shared(rel));
    if (!m) return;
    const lmc_hparams *hp = &m->hp;
    if (hp->flags != 0 || strcmp(hp->arch, "llama") != 0 || hp->n_rot != hp->head_dim) {
        printf("%s: not the plain llama block, skipped\n", rel);
        lmc_model_free(m);
        return;
    }
    const int32_t nv = hp->n_vocab, hd = hp->head_dim;
    int32_t tok[N_TOK];
    for (int i = 0; i < N_TOK; i++) /* spread over the vocabulary: every rank owns some */
        tok[i] = (int32_t)(((int64_t)i * 7919 + 1) % nv);
    float *ref = malloc((size_t)N_TOK * nv * sizeof(float));
    double *inv_freq = malloc((size_t)hp->n_layer * (hd / 2) * sizeof(double));
    for (int32_t l = 0; l < hp->n_layer; l++)
        for (int32_t i = 0; i < hd / 2; i++) /* as the CPU forward: scale * base^(-2i/head_dim) */
            inv_freq[(size_t)l * (hd / 2) + i] = (double)m->layers[l].rope_scale *
                                                 pow((double)m->layers[l].rope_base, -2.0 * i / hd);
    if (!ref || !inv_freq || !reference_logits(m, tok, ref)) goto done;
    split_geom g;
    split_geom_of(m, &g);
    for (int ci = 0; ci < n_cases; ci++) {
        const int n = ranks[ci];
        split_tp_plan p;
        lmc_status st = split_tp_plan_make(&g, n, &p);
        CHECK(st == LMC_OK, "%s over %d ranks: %s", rel, n, lmc_last_error());
        if (st != LMC_OK) continue;
        tp_job j = {.m = m, .p = &p, .tok = tok, .inv_freq = inv_freq};
        for (int k = 0; k < n; k++)
            j.out[k] = calloc((size_t)N_TOK * nv, sizeof(float));
        st = comm_fake_run(n, tp_rank, &j);
        CHECK(st == LMC_OK, "%s over %d ranks: %s", rel, n, lmc_last_error());
        if (st == LMC_OK) {
            double worst = 0;
            int same_ids = 0, dist_ids = 0;
            for (int t = 0; t < N_TOK; t++) {
                double e = t_nmse_f(j.out[0] + (size_t)t * nv, ref + (size_t)t * nv, (size_t)nv);
                if (e > worst) worst = e;
                same_ids +=
                    t_argmax(j.out[0] + (size_t)t * nv, nv) == t_argmax(ref + (size_t)t * nv, nv);
                for (int k = 0; k < n; k++) /* the distributed argmax, on every rank */
                    dist_ids += j.ids[k][t] == t_argmax(j.out[0] + (size_t)t * nv, nv);
            }
            CHECK(dist_ids == n * N_TOK, "%s over %d ranks: distributed argmax %d/%d", rel, n,
                  dist_ids, n * N_TOK);
            bool bitwise = memcmp(j.out[0], ref, (size_t)N_TOK * nv * sizeof(float)) == 0;
            printf("%s over %d ranks (ffn %d..%d cols/rank, unit %d): worst token logits NMSE vs "
                   "unsplit CPU %.3g, %s, argmax %d/%d equal\n",
                   rel, n, p.ff[n - 1].hi - p.ff[n - 1].lo, p.ff[0].hi - p.ff[0].lo, p.ff_unit,
                   worst, bitwise ? "bitwise equal" : "not bitwise", same_ids, N_TOK);
            if (n == 1) CHECK(bitwise, "%s: one rank must be the unsplit forward bit for bit", rel);
            CHECK(worst <= 1e-10, "%s over %d ranks: logits NMSE %g", rel, n, worst);
            CHECK(same_ids == N_TOK, "%s over %d ranks: %d/%d argmax equal", rel, n, same_ids,
                  N_TOK);
            for (int k = 1; k < n; k++) /* replicated results stay the same bits on every rank */
                CHECK(memcmp(j.out[k], j.out[0], (size_t)N_TOK * nv * sizeof(float)) == 0,
                      "%s over %d ranks: rank %d's logits differ from rank 0's", rel, n, k);
        }
        for (int k = 0; k < n; k++)
            free(j.out[k]);
    }
    if (refused > 0) {
        split_tp_plan p;
        CHECK(split_tp_plan_make(&g, refused, &p) == LMC_ERR_INVALID_ARG &&
                  strstr(lmc_last_error(), "KV heads"),
              "%s over %d ranks: %s", rel, refused, lmc_last_error());
        printf("%s over %d ranks refused: %s\n", rel, refused, lmc_last_error());
    }
done:
    free(ref);
    free(inv_freq);
    lmc_model_free(m);
}

/* ---- the context's split parameters -----------------------------------------------------------
 */

static lmc_context_params split_params(lmc_split_mode mode, int tp, const float *ts, int n_ts) {
    lmc_context_params p = lmc_context_default_params();
    p.split_mode = mode;
    p.n_tensor_parallel = tp;
    for (int d = 0; d < n_ts; d++)
        p.tensor_split[d] = ts[d];
    return p;
}

/* ctx_resolve_split(p, present) fails with st and a message holding words (st LMC_OK: succeeds
 * and leaves the single-GPU path: CUDA, every layer). */
static void expect_split(const lmc_model *m, lmc_context_params p, int present, lmc_status want,
                         const char *words, const char *what) {
    lmc_status st = ctx_resolve_split(m, &p, present);
    if (want == LMC_OK) {
        CHECK(st == LMC_OK && p.device == LMC_DEVICE_CUDA && p.n_gpu_layers == m->hp.n_layer,
              "%s: status %d (%s), device %d", what, st, lmc_last_error(), (int)p.device);
    } else {
        CHECK(st == want && strstr(lmc_last_error(), words), "%s: status %d, '%s' (want '%s')",
              what, st, lmc_last_error(), words);
    }
}

static void test_context_split(void) {
    lmc_model *m = t_load_model_or_skip(t_shared("models/stories260K.gguf")); /* 4 KV heads */
    if (!m) return;
    const float one1[2] = {1, 1}, three1[2] = {3, 1}, neg[2] = {1, -2}, only1[1] = {1};
    expect_split(m, split_params(LMC_SPLIT_ROW, 2, NULL, 0), 1, LMC_ERR_INVALID_ARG,
                 "2 GPUs requested, 1 present", "row 2 on 1 GPU");
    expect_split(m, split_params(LMC_SPLIT_ROW, 4, NULL, 0), 0, LMC_ERR_INVALID_ARG,
                 "4 GPUs requested, 0 present", "row 4 on none");
    expect_split(m, split_params(LMC_SPLIT_ROW, 2, NULL, 0), -1, LMC_ERR_UNSUPPORTED,
                 "no CUDA backend", "row 2 without CUDA");
    expect_split(m, split_params(LMC_SPLIT_ROW, 1, NULL, 0), 1, LMC_OK, "", "row 1 on 1 GPU");
    expect_split(m, split_params(LMC_SPLIT_ROW, 0, NULL, 0), 1, LMC_OK, "", "row, all of 1 GPU");
    expect_split(m, split_params(LMC_SPLIT_LAYER, 0, only1, 1), 2, LMC_OK, "", "layer -ts 1");
    expect_split(m, split_params(LMC_SPLIT_ROW, 2, NULL, 0), 2, LMC_OK, "", "row 2 on 2 GPUs");
    lmc_context_params tp2 = split_params(LMC_SPLIT_ROW, 0, one1, 2); /* -sm row -ts 1,1 */
    CHECK(ctx_resolve_split(m, &tp2, 4) == LMC_OK && tp2.n_tensor_parallel == 2,
          "row -ts 1,1 of 4 GPUs: status '%s', %d ranks", lmc_last_error(), tp2.n_tensor_parallel);
    /* every rank on GPU 0 (the single-GPU test of the tensor-parallel path) */
    setenv("LMC_SPLIT_ONE_GPU", "1", 1);
    expect_split(m, split_params(LMC_SPLIT_ROW, 4, NULL, 0), 1, LMC_OK, "", "row 4, one GPU");
    expect_split(m, split_params(LMC_SPLIT_LAYER, 0, three1, 2), 1, LMC_OK, "",
                 "layer 3,1, one GPU");
    unsetenv("LMC_SPLIT_ONE_GPU");
    expect_split(m, split_params(LMC_SPLIT_LAYER, 0, three1, 2), 2, LMC_OK, "",
                 "layer 3,1 on 2 GPUs");
    lmc_context_params two_seq = split_params(LMC_SPLIT_LAYER, 0, three1, 2);
    two_seq.n_seq = 2;
    expect_split(m, two_seq, 2, LMC_ERR_UNSUPPORTED, "one sequence", "layer 3,1, 2 sequences");
    /* the model's rule comes before the GPU count: 8 ranks of 4 KV heads, on any machine */
    expect_split(m, split_params(LMC_SPLIT_ROW, 8, NULL, 0), 0, LMC_ERR_INVALID_ARG,
                 "only 4 KV heads", "row 8");
    expect_split(m, split_params(LMC_SPLIT_ROW, 3, NULL, 0), 8, LMC_ERR_INVALID_ARG,
                 "do not split evenly", "row 3");
    expect_split(m, split_params(LMC_SPLIT_ROW, 0, three1, 2), 2, LMC_ERR_INVALID_ARG, "same share",
                 "row with uneven -ts");
    expect_split(m, split_params(LMC_SPLIT_ROW, 3, one1, 2), 4, LMC_ERR_INVALID_ARG, "names 2 GPUs",
                 "row -tp 3 -ts 1,1");
    expect_split(m, split_params(LMC_SPLIT_LAYER, 2, NULL, 0), 2, LMC_ERR_INVALID_ARG,
                 "needs -sm row", "layer with -tp");
    expect_split(m, split_params(LMC_SPLIT_NONE, 0, one1, 2), 2, LMC_ERR_INVALID_ARG,
                 "needs -sm layer or -sm row", "none with -ts");
    expect_split(m, split_params(LMC_SPLIT_LAYER, 0, neg, 2), 2, LMC_ERR_INVALID_ARG,
                 "--tensor-split value 2", "negative share");
    expect_split(m, split_params((lmc_split_mode)7, 0, NULL, 0), 2, LMC_ERR_INVALID_ARG,
                 "unknown split mode", "mode 7");
    lmc_context_params p = split_params(LMC_SPLIT_ROW, 1, NULL, 0);
    p.device = LMC_DEVICE_CPU;
    expect_split(m, p, 1, LMC_ERR_INVALID_ARG, "needs the CUDA device", "row on --device cpu");
    p = split_params(LMC_SPLIT_NONE, 0, NULL, 0);
    p.main_gpu = 1;
    expect_split(m, p, 1, LMC_ERR_INVALID_ARG, "GPU 1 requested, 1 present", "-mg 1 of 1");
    CHECK(ctx_resolve_split(m, &p, 2) == LMC_OK && p.main_gpu == 1, "-mg 1 of 2: '%s'",
          lmc_last_error()); /* the split backend runs on GPU 1 */
    /* through the public API with this machine's GPUs: one more than present is refused */
    const int32_t present = lmc_device_count(LMC_DEVICE_CUDA);
    if (present >= 0 && present < 4) {
        lmc_context_params ap = split_params(LMC_SPLIT_ROW, present + 1, NULL, 0);
        lmc_context *ctx = NULL;
        char want[64];
        snprintf(want, sizeof want, "%d GPU%s requested, %d present", present + 1,
                 present + 1 == 1 ? "" : "s", present);
        lmc_status st = lmc_context_init(m, &ap, &ctx);
        CHECK(st == LMC_ERR_INVALID_ARG && !ctx && strstr(lmc_last_error(), want),
              "lmc_context_init row %d: status %d '%s'", present + 1, st, lmc_last_error());
    } else if (present < 0) {
        lmc_context_params ap = split_params(LMC_SPLIT_ROW, 1, NULL, 0);
        lmc_context *ctx = NULL;
        lmc_status st = lmc_context_init(m, &ap, &ctx);
        CHECK(st == LMC_ERR_UNSUPPORTED && !ctx && strstr(lmc_last_error(), "no CUDA backend"),
              "lmc_context_init row 1 without CUDA: status %d '%s'", st, lmc_last_error());
    }
    lmc_model_free(m);
}

/* The families' blocks (tests/data/families) under -sm row: refused with a message naming the
 * architecture, on any machine and with every rank on one GPU — the tensor-parallel cut is written
 * for the llama block, and a rank must never run a family's steps on a wrong slice; one rank and
 * -sm layer take them (the one-GPU forward of each range runs every family). */
static void test_family_split(void) {
    static const char *fam[] = {"qwen2-gqa-tied-Q8_0", "qwen3-k-hd128-Q4_K_M", "gemma2-k-Q4_K_M",
                                "gemma3-k-hd256-Q4_K_M", "phi3-gqa-k-Q4_K_M"};
    const char *src = getenv("LMC_SOURCE_DIR");
    const float one1[2] = {1, 1};
    for (size_t i = 0; i < sizeof fam / sizeof *fam; i++) {
        char path[1024], what[128];
        snprintf(path, sizeof path, "%s/tests/data/families/%s.gguf", src ? src : ".", fam[i]);
        lmc_model *m = t_load_model_or_skip(path);
        if (!m) continue;
        CHECK(!arch_plain_llama(m), "%s: taken for the plain llama block", fam[i]);
        char want[192];
        snprintf(want, sizeof want,
                 "-sm row supports llama/mistral (the plain llama block) for "
                 "now; %s's",
                 m->hp.arch);
        snprintf(what, sizeof what, "%s: row 2 on 2 GPUs", fam[i]);
        expect_split(m, split_params(LMC_SPLIT_ROW, 2, NULL, 0), 2, LMC_ERR_UNSUPPORTED, want,
                     what);
        setenv("LMC_SPLIT_ONE_GPU", "1", 1);
        snprintf(what, sizeof what, "%s: row 2, one GPU", fam[i]);
        expect_split(m, split_params(LMC_SPLIT_ROW, 2, NULL, 0), 1, LMC_ERR_UNSUPPORTED, want,
                     what);
        unsetenv("LMC_SPLIT_ONE_GPU");
        snprintf(what, sizeof what, "%s: row 1", fam[i]);
        expect_split(m, split_params(LMC_SPLIT_ROW, 1, NULL, 0), 1, LMC_OK, "", what);
        snprintf(what, sizeof what, "%s: layer 1,1", fam[i]);
        expect_split(m, split_params(LMC_SPLIT_LAYER, 0, one1, 2), 2, LMC_OK, "", what);
        lmc_model_free(m);
    }
    lmc_model *m = t_load_model_or_skip(t_shared("models/stories260K.gguf"));
    if (m) CHECK(arch_plain_llama(m), "stories260K: not taken for the plain llama block");
    lmc_model_free(m);
}

int main(void) {
    /* the unsplit reference takes the exact path: reference dequantization, portable dots */
    setenv("LMC_KERNELS", "ref", 1);
    test_plan();
    test_fake_comm();
    t_require_shared();
    test_context_split();
    test_family_split();
    const int all[3] = {1, 2, 4};
    test_model("models/stories260K.gguf", all, 3, 8);
    test_model("models/synthetic/synthetic-A-Q4_K_M.gguf", all, 2, 4);
    return t_done();
}
