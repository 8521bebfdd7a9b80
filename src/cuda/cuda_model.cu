// cuda_model.cu — the whole llama forward on the GPU: weights uploaded once (repacked, q/k/v and
// gate/up fused where their types agree), f32 or f16 KV cache and scratch allocated once after a
// memory check, decode steps replayed from one CUDA graph, prompts through cuBLAS GEMMs. The CPU
// forward is the reference this is tested against. With layer0 > 0 it holds only the last layers
// (partial offload) and starts from hidden states the caller's CPU layers computed; it never runs
// CPU layers.
#include "cuda_backend.h"
#include "cuda_ctx.h"
#include "cuda_tuning.h"
#include <algorithm>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

extern "C" {
#include "model.h"
#include "quant.h"
#include "util.h"
}

static const char *tname(const gguf_tensor *t) {
    static thread_local char buf[96];
    snprintf(buf, sizeof buf, "%.*s", (int)t->name.len, t->name.ptr);
    return buf;
}

// ---- planning ----------------------------------------------------------------------------------

struct plan {
    uint64_t weights, kv, scratch, w16;
};

static int max_split_of(int n_ctx) {
    return (n_ctx + CUDA_ATT_CHUNK - 1) / CUDA_ATT_CHUNK;
}

// K and V of n_layers layers for n_ctx positions, of the cache's element type.
static uint64_t kv_bytes(const lmc_hparams &hp, int n_ctx, int n_layers, bool f16) {
    return 2ull * n_layers * n_ctx * hp.n_head_kv * hp.head_dim * cuda_kv_elem(f16);
}

// An f16 cache's f32 scratch kv32: one sequence's K and V rows for n_ctx positions, widened for the
// cuBLAS prompt attention (cuda_attention_gemm).
static uint64_t kv32_bytes(const lmc_hparams &hp, int n_ctx) {
    return 2ull * n_ctx * hp.n_head_kv * hp.head_dim * 4;
}

// The folded RMSNorms' sums of squares: two per layer and the output norm's, with one to spare;
// then two per layer for the post-norms' inputs (gemma, post_ss).
static size_t ssq_bytes(const lmc_hparams &hp) {
    return (4 * (size_t)hp.n_layer + 2) * sizeof(double);
}

// Scratch of the multi-sequence step (n_seq > 1): f32 batch inputs, wanted rows' logits and
// residuals (device and pinned), per-token indices.
// Floats of the K-split partial sums of cuda_matmul_mma: 8 splits of up to CUDA_MMA_MAX tokens
// for matrices of up to max(n_embd, q/k/v) rows (the ones with few row blocks), 2 for the fused
// gate/up rows (so that 64-token steps fill the GPU there too).
static int64_t mma_part_floats(const lmc_hparams &hp, int n_batch) {
    const int64_t qkv = (int64_t)(hp.n_head + 2 * hp.n_head_kv) * hp.head_dim;
    return (int64_t)std::min(n_batch, CUDA_MMA_MAX) *
           std::max<int64_t>(8 * std::max<int64_t>(hp.n_embd, qkv), (int64_t)4 * hp.n_ff);
}

static uint64_t seqs_scratch_bytes(const lmc_hparams &hp, int n_batch, int n_seq) {
    if (n_seq <= 1) return 0;
    const uint64_t q_dim = (uint64_t)hp.n_head * hp.head_dim;
    const uint64_t wide = std::max<uint64_t>(std::max<uint64_t>(hp.n_embd, q_dim), hp.n_ff);
    return (uint64_t)n_batch * wide * 4 + (uint64_t)CUDA_LOGIT_ROWS * (hp.n_vocab + hp.n_embd) * 4 +
           (uint64_t)5 * n_batch * 4 + (uint64_t)CUDA_MVB_MAX * (wide + wide / 32 * 8) +
           (uint64_t)mma_part_floats(hp, n_batch) * 4;
}

static uint64_t scratch_bytes(const lmc_hparams &hp, int n_ctx, int n_batch, uint64_t w16,
                              bool kv_f16) {
    const uint64_t q_dim = (uint64_t)hp.n_head * hp.head_dim,
                   kv_dim = (uint64_t)hp.n_head_kv * hp.head_dim;
    const uint64_t wide = std::max<uint64_t>(std::max<uint64_t>(hp.n_embd, q_dim), hp.n_ff);
    uint64_t b = 0;
    b += (uint64_t)n_batch * hp.n_embd * 4 + hp.n_embd * 4; // h, x32
    b += 2 * (wide + wide / 32 * 8 + 8);                    // xq, xds, xq2, xds2
    b += ssq_bytes(hp);                                     // ssq
    b += (uint64_t)n_batch * wide * 2;                      // x16
    b += (uint64_t)n_batch * (q_dim + 2 * kv_dim) * 4;      // qkv
    b += (uint64_t)n_batch * q_dim * 4;                     // att
    b += (uint64_t)n_batch * 2 * hp.n_ff * 4 + hp.n_ff * 4; // gu, ff
    b += (uint64_t)n_batch * hp.n_head * max_split_of(n_ctx) * (hp.head_dim + 2) * 4; // part
    b += (uint64_t)n_batch * hp.n_head * 4;                                           // att_cnt
    b += (uint64_t)(hp.n_head + hp.n_head_kv) * 4;                                    // epi_cnt
    if (kv_f16) b += kv32_bytes(hp, n_ctx);                                           // kv32
    b += w16 + (uint64_t)hp.n_vocab * 4 + (n_batch + 1) * 4;
    return b + (64ull << 20); // cuBLAS workspace and allocation slack
}

// Bytes of the share local/full of t (a tensor-parallel rank's slice; the whole for one GPU).
static uint64_t share_bytes(const gguf_tensor *t, int64_t local, int64_t full) {
    return t ? t->nbytes * (uint64_t)local / (uint64_t)full : 0;
}

// Device bytes of layer l's weights (matrices as GGUF stores them, norms as f32) in the geometry
// hp (the model's, or a tensor-parallel rank's heads and FFN columns).
static uint64_t layer_weight_bytes(const lmc_model *m, const lmc_hparams &hp, int l) {
    const lmc_layer *L = &m->layers[l];
    const lmc_hparams &f = m->hp;
    uint64_t w = 2ull * m->hp.n_embd * 4;
    w += share_bytes(L->wq, hp.n_head, f.n_head) + share_bytes(L->wqkv, hp.n_head, f.n_head) +
         share_bytes(L->wo, hp.n_head, f.n_head); // wq/wk/wv or wqkv
    w += share_bytes(L->wk, hp.n_head_kv, f.n_head_kv) +
         share_bytes(L->wv, hp.n_head_kv, f.n_head_kv);
    w += share_bytes(L->ffn_gate, hp.n_ff, f.n_ff) + share_bytes(L->ffn_up, hp.n_ff, f.n_ff) +
         share_bytes(L->ffn_down, hp.n_ff, f.n_ff); // ffn_gate absent when ffn_up is fused
    return w;
}

// Device bytes of the weights outside the layers: nv rows of the output matrix and its norm (when
// the context ends with the output: out), and the embedding table when the GPU looks tokens up
// (layer0 == 0) or the output shares it (a tensor-parallel rank holds the whole table and its rows
// of the output).
static uint64_t outer_weight_bytes(const lmc_model *m, int layer0, int64_t nv, bool out) {
    uint64_t w = out ? share_bytes(m->output, nv, m->output->ne[1]) + m->hp.n_embd * 4 : 0;
    if ((m->output != m->tok_embd || nv != m->output->ne[1] || !out) && layer0 == 0)
        w += m->tok_embd->nbytes;
    return w;
}

// One past the last layer a context of p holds (p->layer1, 0 meaning n_layer).
static int layer1_of(const lmc_model *m, const lmc_cuda_params *p) {
    return p->layer1 > 0 ? p->layer1 : m->hp.n_layer;
}

// The plan of a context holding the geometry hp (the model's, or a tensor-parallel rank's) with nv
// output rows.
static lmc_status make_plan(const lmc_model *m, const lmc_hparams &hp, int64_t nv,
                            const lmc_cuda_params *p, plan *pl) {
    const int layer1 = layer1_of(m, p);
    const bool out = layer1 == hp.n_layer;
    if (p->layer0 < 0 || p->layer0 >= layer1 || layer1 > hp.n_layer)
        return lmc_err(LMC_ERR_INVALID_ARG, "CUDA: GPU layers [%d, %d) outside [0, %d)", p->layer0,
                       layer1, hp.n_layer);
    uint64_t w = outer_weight_bytes(m, p->layer0, nv, out), maxw = 0;
    auto add = [&](const gguf_tensor *t) {
        if (t) maxw = std::max<uint64_t>(maxw, (uint64_t)t->ne[0] * t->ne[1]);
    };
    if (p->layer0 == 0 || (out && m->output == m->tok_embd)) add(m->tok_embd);
    if (out) add(m->output);
    for (int l = p->layer0; l < layer1; l++) {
        const lmc_layer *L = &m->layers[l];
        add(L->wq);
        add(L->wk);
        add(L->wv);
        add(L->wo);
        add(L->ffn_gate);
        add(L->ffn_up);
        add(L->ffn_down);
        w += layer_weight_bytes(m, hp, l);
    }
    // Fused matrices dequantize as one: q+k+v rows, gate+up rows.
    maxw = std::max<uint64_t>(maxw,
                              (uint64_t)hp.n_embd * (hp.n_head + 2 * hp.n_head_kv) * hp.head_dim);
    maxw = std::max<uint64_t>(maxw, (uint64_t)hp.n_embd * 2 * hp.n_ff);
    pl->weights = w;
    pl->w16 = maxw * 2;
    const int n_seq = p->n_seq > 0 ? p->n_seq : 1;
    if (n_seq > 1 && (p->layer0 != 0 || !out))
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "CUDA: %d sequences need every layer on one GPU (this one holds [%d, %d) "
                       "of %d)",
                       n_seq, p->layer0, layer1, hp.n_layer);
    pl->kv = kv_bytes(hp, p->n_ctx, layer1 - p->layer0, p->kv_f16 != 0) * n_seq;
    pl->scratch = scratch_bytes(hp, p->n_ctx, p->n_batch, pl->w16, p->kv_f16 != 0) +
                  seqs_scratch_bytes(hp, p->n_batch, n_seq);
    if (!cuda_fam_plain(m)) pl->scratch += cuda_fam_bytes(m, p->n_batch);
    return LMC_OK;
}

extern "C" lmc_status lmc_cuda_plan(const lmc_model *m, const lmc_cuda_params *p, uint64_t *weights,
                                    uint64_t *kv, uint64_t *scratch) {
    plan pl;
    cuda_tp tp;
    lmc_hparams hp;
    cuda_tp_cut(m, p, &tp, &hp);
    lmc_status st = make_plan(m, hp, tp.nv, p, &pl);
    if (st != LMC_OK) return st;
    if (weights) *weights = pl.weights;
    if (kv) *kv = pl.kv;
    if (scratch) *scratch = pl.scratch;
    return LMC_OK;
}

// ---- upload
// --------------------------------------------------------------------------------------

#define STAGE_BYTES (64u << 20)

struct uploader {
    cudaStream_t s;
    uint8_t *stage[2];
    cudaEvent_t ev[2];
    int cur;
    uint64_t done, total;
    void (*progress)(float, void *);
    void *user;
};

// Uploads a matrix whose row r comes from src_of(r) (GGUF rows), in staged chunks.
template <class F> static lmc_status upload_rows(uploader &u, cuda_weight *w, F src_of) {
    uint64_t qb, db;
    cuda_weight_row_bytes(w, &qb, &db);
    const int64_t chunk = std::max<int64_t>(1, STAGE_BYTES / (qb + db));
    std::vector<const uint8_t *> src((size_t)std::min<int64_t>(chunk, w->rows));
    lmc_status st = cuda_weight_alloc(w);
    if (st != LMC_OK) return st;
    for (int64_t r0 = 0; r0 < w->rows; r0 += chunk) {
        const int64_t n = std::min<int64_t>(chunk, w->rows - r0);
        st = cuda_check(cudaEventSynchronize(u.ev[u.cur]), "weight upload");
        if (st != LMC_OK) return st;
        for (int64_t i = 0; i < n; i++)
            src[i] = src_of(r0 + i);
        uint8_t *sq = u.stage[u.cur], *sd = sq + n * qb;
        cuda_repack_rows(w->type, w->cols, src.data(), n, 0, sq, sd);
        st = cuda_weight_copy_rows(w, sq, sd, r0, n, u.s);
        if (st == LMC_OK) st = cuda_check(cudaEventRecord(u.ev[u.cur], u.s), "weight upload");
        if (st != LMC_OK) return st;
        u.cur ^= 1;
        u.done += n * (qb + db);
        if (u.progress) u.progress((float)((double)u.done / (double)u.total), u.user);
    }
    return LMC_OK;
}

static const uint8_t *row_ptr(const gguf_tensor *t, int64_t r) {
    return (const uint8_t *)t->data + (uint64_t)r * lmc_row_size(t->type, t->ne[0]);
}

// Rows [row0, row0 + rows) of t, of them the columns [col0, col0 + cols) (col0 on a block
// boundary): a tensor-parallel rank's slice, or the whole matrix.
static lmc_status upload_part(uploader &u, cuda_weight *w, const gguf_tensor *t, int64_t row0,
                              int64_t rows, int64_t col0, int64_t cols) {
    lmc_status st = cuda_weight_shape(w, t->type, rows, cols, tname(t));
    if (st != LMC_OK) return st;
    const uint64_t off = lmc_row_size(t->type, col0);
    return upload_rows(u, w, [&](int64_t r) { return row_ptr(t, row0 + r) + off; });
}

static lmc_status upload_one(uploader &u, cuda_weight *w, const gguf_tensor *t) {
    return upload_part(u, w, t, 0, t->ne[1], 0, t->ne[0]);
}

// The model's q or k row that stored row r holds (NEOX: interleaved, see cuda_rope_row).
static int64_t qk_row(const lmc_cuda_ctx *c, int64_t r) {
    return cuda_rope_row(c->hp.rope, c->hp.head_dim, c->hp.n_rot, r);
}

// Rows [row0, row0 + rows) of wq or wk (whole heads) in the stored order.
static lmc_status upload_qk(uploader &u, const lmc_cuda_ctx *c, cuda_weight *w,
                            const gguf_tensor *t, int64_t row0, int64_t rows) {
    lmc_status st = cuda_weight_shape(w, t->type, rows, t->ne[0], tname(t));
    if (st != LMC_OK) return st;
    return upload_rows(u, w, [&](int64_t r) { return row_ptr(t, row0 + qk_row(c, r)); });
}

static lmc_status upload_norm(float **d, const gguf_tensor *t, int n) {
    std::vector<float> tmp(n);
    const lmc_type_traits *tr = lmc_type_get(t->type);
    if (!tr || !tr->to_float || t->ne[0] != n)
        return lmc_err(LMC_ERR_UNSUPPORTED, "CUDA: %s: norm weight type %s", tname(t),
                       lmc_type_name(t->type));
    lmc_dequantize(t->type, t->data, tmp.data(), n);
    lmc_status st = cuda_check(cudaMalloc((void **)d, n * 4), "norm allocation");
    if (st == LMC_OK)
        st = cuda_check(cudaMemcpy(*d, tmp.data(), n * 4, cudaMemcpyHostToDevice), "norm upload");
    return st;
}

// Layer l's weights: this context's heads and FFN columns (c->tp: all of them for one GPU; a
// tensor-parallel rank's rows of wq/wk/wv and gate/up, its columns of wo and ffn_down).
static lmc_status upload_layer(uploader &u, lmc_cuda_ctx *c, int l) {
    const lmc_layer *S = &c->m->layers[l];
    cuda_layer &D = c->L[l];
    const cuda_tp &tp = c->tp;
    const int64_t nff = c->hp.n_ff;
    lmc_status st = upload_norm(&D.attn_norm, S->attn_norm, c->hp.n_embd);
    if (st == LMC_OK) st = upload_norm(&D.ffn_norm, S->ffn_norm, c->hp.n_embd);
    if (st != LMC_OK) return st;
    D.fused_qkv = S->wqkv || (S->wq->type == S->wk->type && S->wq->type == S->wv->type);
    // q and k rows in the stored order (qk_row; heads are aligned across the q | k boundary)
    const int64_t n_qk = (int64_t)c->q_dim + c->kv_dim;
    if (S->wqkv) { // the file's fused matrix (phi3): rows q | k | v already
        st = cuda_weight_shape(&D.qkv, S->wqkv->type, S->wqkv->ne[1], S->wqkv->ne[0],
                               tname(S->wqkv));
        if (st == LMC_OK)
            st = upload_rows(u, &D.qkv, [&](int64_t r) {
                return row_ptr(S->wqkv, r < n_qk ? qk_row(c, r) : r);
            });
    } else if (D.fused_qkv) {
        const int64_t nq = c->q_dim, nk = c->kv_dim, nv = c->kv_dim;
        st = cuda_weight_shape(&D.qkv, S->wq->type, nq + nk + nv, S->wq->ne[0], tname(S->wq));
        if (st == LMC_OK)
            st = upload_rows(u, &D.qkv, [&](int64_t r) {
                const int64_t m = r < n_qk ? qk_row(c, r) : r;
                return m < nq        ? row_ptr(S->wq, tp.q0 + m)
                       : m < nq + nk ? row_ptr(S->wk, tp.kv0 + m - nq)
                                     : row_ptr(S->wv, tp.kv0 + m - nq - nk);
            });
    } else {
        st = upload_qk(u, c, &D.wq, S->wq, tp.q0, c->q_dim);
        if (st == LMC_OK) st = upload_qk(u, c, &D.wk, S->wk, tp.kv0, c->kv_dim);
        if (st == LMC_OK) st = upload_part(u, &D.wv, S->wv, tp.kv0, c->kv_dim, 0, S->wv->ne[0]);
    }
    if (st == LMC_OK) st = upload_part(u, &D.wo, S->wo, 0, S->wo->ne[1], tp.q0, c->q_dim);
    if (st != LMC_OK) return st;
    D.fused_gu = !S->ffn_gate || S->ffn_gate->type == S->ffn_up->type;
    if (!S->ffn_gate) { // the file's fused gate | up (phi3), interleaved as below
        const int64_t nf = S->ffn_up->ne[1] / 2;
        st = cuda_weight_shape(&D.gu, S->ffn_up->type, 2 * nf, S->ffn_up->ne[0], tname(S->ffn_up));
        if (st == LMC_OK)
            st = upload_rows(u, &D.gu, [&](int64_t r) {
                return row_ptr(S->ffn_up, (r & 1 ? nf : 0) + (r >> 1));
            });
    } else if (D.fused_gu) {
        st = cuda_weight_shape(&D.gu, S->ffn_gate->type, 2 * nff, S->ffn_gate->ne[0],
                               tname(S->ffn_gate));
        if (st == LMC_OK)
            st = upload_rows(u, &D.gu, [&](int64_t r) {
                return row_ptr(r & 1 ? S->ffn_up : S->ffn_gate, tp.ff0 + (r >> 1));
            });
    } else {
        st = upload_part(u, &D.gate, S->ffn_gate, tp.ff0, nff, 0, S->ffn_gate->ne[0]);
        if (st == LMC_OK) st = upload_part(u, &D.up, S->ffn_up, tp.ff0, nff, 0, S->ffn_up->ne[0]);
    }
    if (st == LMC_OK) st = upload_part(u, &D.down, S->ffn_down, 0, S->ffn_down->ne[1], tp.ff0, nff);
    return st;
}

static void release_all(lmc_cuda_ctx *c) {
    for (auto &D : c->L) {
        cudaFree(D.attn_norm);
        cudaFree(D.ffn_norm);
        cuda_weight *ws[] = {&D.qkv, &D.wq, &D.wk, &D.wv, &D.wo, &D.gu, &D.gate, &D.up, &D.down};
        for (cuda_weight *w : ws)
            cuda_weight_release(w);
        cudaFree(D.kv.k);
        cudaFree(D.kv.v);
    }
    cuda_weight_release(&c->tok_embd);
    if (!c->tied) cuda_weight_release(&c->output);
    cudaFree(c->out_norm);
    cudaFree(c->rope_freq);
    cuda_fam_free(c->fam);
    cuda_tp_release(c);
    void *bufs[] = {c->xq,  c->xds,    c->xq2,      c->xds2,    c->ssq,      c->h,    c->x32,
                    c->x16, c->qkv,    c->att,      c->gu,      c->ff,       c->part, c->att_cnt,
                    c->w16, c->logits, c->d_i32,    c->xb32,    c->logits_b, c->hrow, c->d_b,
                    c->xbq, c->xbds,   c->mma_part, c->epi_cnt, c->kv32};
    for (void *b : bufs)
        cudaFree(b);
    cudaFreeHost(c->h_i32);
    cudaFreeHost(c->h_logits);
    cudaFreeHost(c->h_in);
    cudaFreeHost(c->h_logits_b);
    cudaFreeHost(c->h_b);
    if (c->graph_ready) cudaGraphExecDestroy(c->graph);
    if (c->blas) cublasDestroy(c->blas);
    if (c->st) cudaStreamDestroy(c->st);
}

extern "C" void lmc_cuda_free(lmc_cuda_ctx *c) {
    if (!c) return;
    cuda_prof_free(c->prof);
    release_all(c);
    delete c;
}

static double gib(uint64_t b) {
    return (double)b / (1024.0 * 1024.0 * 1024.0);
}

extern "C" int lmc_cuda_model_supported(const lmc_model *m, char *why, size_t size) {
    return cuda_fam_supported(m, why, size) ? 1 : 0;
}

extern "C" int lmc_cuda_model_batch_supported(const lmc_model *m) {
    char why[256];
    return cuda_fam_supported(m, why, sizeof why) ? 1 : 0; // the batched step runs every variant
}

extern "C" lmc_status lmc_cuda_init(const lmc_model *m, const lmc_cuda_params *p,
                                    lmc_cuda_ctx **out) {
    *out = NULL;
    lmc_status st = LMC_OK;
    cuda_tp tp;
    lmc_hparams hp_rank; // the model's geometry, or a tensor-parallel rank's narrower one
    cuda_tp_cut(m, p, &tp, &hp_rank);
    const lmc_hparams &hp = hp_rank;
    char why[768];
    if (!lmc_cuda_model_supported(m, why, sizeof why))
        return lmc_err(LMC_ERR_UNSUPPORTED, "CUDA: %s; use --device cpu (-ngl 0)", why);
    if (lmc_cuda_device_count() <= 0) return lmc_err(LMC_ERR_BACKEND, "CUDA: no GPU found");
    if (p->n_ctx <= 0 || p->n_batch <= 0)
        return lmc_err(LMC_ERR_INVALID_ARG, "CUDA: n_ctx and n_batch must be > 0");
    if (hp.head_dim > 256 || hp.n_head % hp.n_head_kv != 0 || hp.n_rot > hp.head_dim ||
        hp.n_rot % 2)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "CUDA: head_dim %d / n_rot %d / heads %d/%d not supported", hp.head_dim,
                       hp.n_rot, hp.n_head, hp.n_head_kv);
    // the several-sequence attention reads cache rows in 4-element vector loads (k_attention_rows);
    // refused here rather than at the first batched step
    if (p->n_seq > 1 && hp.head_dim % 4)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "CUDA: several sequences (%d) need head_dim %% 4 == 0, this model's is %d; "
                       "run one sequence (--parallel 1) or on the CPU (--device cpu)",
                       p->n_seq, hp.head_dim);
    if (tp.n_rank > 1 &&
        (p->layer0 != 0 || layer1_of(m, p) != hp.n_layer || !cuda_fam_plain(m) ||
         m->layers[0].wqkv || !m->layers[0].ffn_gate || p->tp_rank < 0 || p->tp_rank >= tp.n_rank))
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "CUDA: tensor parallelism (rank %d of %d) runs every layer of the plain "
                       "llama block with separate q/k/v and gate/up matrices (%s)",
                       p->tp_rank, tp.n_rank, m->hp.arch);
    plan pl;
    if ((st = make_plan(m, hp, tp.nv, p, &pl)) != LMC_OK) return st;
    size_t free_b = 0, total_b = 0;
    if ((st = cuda_check(cudaMemGetInfo(&free_b, &total_b), "memory query")) != LMC_OK) return st;
    const uint64_t need = pl.weights + pl.kv + pl.scratch;
    if (need > free_b) {
        // What would fit instead: a smaller context with these layers, or fewer layers (the last
        // ones, as -ngl counts them) with this context.
        char hint[224] = "";
        const int n_gpu = layer1_of(m, p) - p->layer0;
        const int n_seq = p->n_seq > 0 ? p->n_seq : 1;
        const bool f16 = p->kv_f16 != 0;
        // per position: the cache, the attention splits' part and (f16) the widened kv32 rows
        const uint64_t per_pos =
            kv_bytes(hp, 1, n_gpu, f16) * n_seq +
            (uint64_t)p->n_batch * hp.n_head * (hp.head_dim + 2) * 4 / CUDA_ATT_CHUNK +
            (f16 ? kv32_bytes(hp, 1) : 0);
        const uint64_t fixed = pl.weights + scratch_bytes(hp, 0, p->n_batch, pl.w16, f16);
        if (fixed < free_b && (free_b - fixed) / per_pos >= 256)
            snprintf(hint, sizeof hint, "-c %lld would fit",
                     (long long)std::min<uint64_t>((free_b - fixed) / per_pos / 256 * 256,
                                                   (uint64_t)INT32_MAX));
        uint64_t sum = outer_weight_bytes(m, 1, tp.nv, true) +
                       pl.scratch; // scratch does not shrink with fewer layers
        int ngl = 0;
        for (int l = hp.n_layer - 1; l > p->layer0; l--) {
            sum += layer_weight_bytes(m, hp, l) + kv_bytes(hp, p->n_ctx, 1, f16) * n_seq;
            if (sum > free_b) break;
            ngl++;
        }
        if (ngl > 0 && n_seq == 1) {
            const size_t len = strlen(hint);
            snprintf(hint + len, sizeof hint - len, "%s-ngl %d would fit (with -c %d)",
                     len ? ", or " : "", ngl, p->n_ctx);
        }
        // an f32 cache that would fit as f16 (half its bytes, plus the f32 rows kv32 widens)
        if (!f16 && pl.weights + pl.kv / 2 + pl.scratch + kv32_bytes(hp, p->n_ctx) <= free_b) {
            const size_t len = strlen(hint);
            snprintf(hint + len, sizeof hint - len, "%s-ctk f16 -ctv f16 would fit (with -c %d)",
                     len ? ", or " : "", p->n_ctx);
        }
        if (!hint[0])
            snprintf(hint, sizeof hint, "the weights do not fit: use --device cpu (-ngl 0)");
        if (n_seq > 1) {
            const size_t len = strlen(hint);
            snprintf(hint + len, sizeof hint - len, "%sor fewer sequences (--parallel)",
                     len ? ", " : "");
        }
        return lmc_err(LMC_ERR_OOM,
                       "CUDA: needs %.2f GiB on the GPU for %d of %d layers (weights %.2f, KV "
                       "cache %.2f (%s) for -c %d x %d sequence%s, "
                       "scratch %.2f) but %.2f GiB is free; %s",
                       gib(need), n_gpu, hp.n_layer, gib(pl.weights), gib(pl.kv),
                       f16 ? "f16" : "f32", p->n_ctx, n_seq, n_seq == 1 ? "" : "s", gib(pl.scratch),
                       gib(free_b), hint);
    }

    lmc_cuda_ctx *c = new lmc_cuda_ctx();
    c->m = m;
    c->hp = hp;
    c->tp = tp;
    c->n_ctx = p->n_ctx;
    c->n_batch = p->n_batch;
    c->layer0 = p->layer0;
    c->layer1 = layer1_of(m, p);
    c->n_seq = p->n_seq > 0 ? p->n_seq : 1;
    c->kv_f16 = p->kv_f16 != 0;
    c->max_split = max_split_of(p->n_ctx);
    c->q_dim = hp.n_head * hp.head_dim;
    c->kv_dim = hp.n_head_kv * hp.head_dim;
    c->qkv_dim = c->q_dim + 2 * c->kv_dim;
    // a rank's collectives run outside graphs; so does a layer range that hands its residual on
    c->use_graph = p->use_graph != 0 && tp.n_rank == 1 && c->layer1 == hp.n_layer;
    c->gemm_min = p->gemm_min > 0 ? p->gemm_min : 16;
    c->tune = cuda_tuning_read();
    // A norm follows the all-reduce, not the partial product; a range's last layer has no next
    // norm to fold.
    if (tp.n_rank > 1 || c->layer1 < hp.n_layer) c->tune.fold = 0;
    c->q8 = p->act_q8 != 0 ? p->act_q8 > 0 : c->tune.q8 != 0;
    c->L.resize(hp.n_layer);
    // a rank holds the table and its rows; a range without the output, the table alone
    c->tied = m->output == m->tok_embd && tp.n_rank == 1 && c->layer1 == hp.n_layer;
    uploader u = {};
    u.total = pl.weights;
    u.progress = p->progress;
    u.user = p->progress_user;
    const uint64_t wide = std::max<uint64_t>(std::max<uint64_t>(hp.n_embd, c->q_dim), hp.n_ff);
    TRYC(cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking), "stream");
    if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS) {
        st = lmc_err(LMC_ERR_BACKEND, "cuBLAS: cannot create a handle");
        goto done;
    }
    cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH);
    u.s = c->st;
    for (int i = 0; i < 2; i++) {
        TRYC(cudaMallocHost((void **)&u.stage[i], STAGE_BYTES), "pinned staging");
        TRYC(cudaEventCreateWithFlags(&u.ev[i], cudaEventDisableTiming), "event");
    }
    if (c->layer0 == 0 || c->tied) TRY(upload_one(u, &c->tok_embd, m->tok_embd));
    if (c->layer1 < hp.n_layer) { // no output here: this range hands its residual on
    } else if (c->tied) {
        c->output = c->tok_embd;
    } else {
        TRY(upload_part(u, &c->output, m->output, tp.v0, tp.nv, 0, m->output->ne[0]));
    }
    if (c->layer1 == hp.n_layer) TRY(upload_norm(&c->out_norm, m->output_norm, hp.n_embd));
    {
        std::vector<double> fr(hp.n_rot / 2 + 1);
        for (int i = 0; i < hp.n_rot / 2; i++)
            fr[i] = pow((double)hp.rope_base, -2.0 * i / hp.n_rot);
        TRYC(cudaMalloc((void **)&c->rope_freq, fr.size() * sizeof(double)), "rope table");
        TRYC(
            cudaMemcpy(c->rope_freq, fr.data(), fr.size() * sizeof(double), cudaMemcpyHostToDevice),
            "rope table");
    }
    for (int l = c->layer0; l < c->layer1; l++)
        TRY(upload_layer(u, c, l));
    if (!cuda_fam_plain(m)) TRY(cuda_fam_init(m, p->n_ctx, p->n_batch, c->layer0, &c->fam));
    TRYC(cudaStreamSynchronize(c->st), "weight upload");
    for (int l = c->layer0; l < c->layer1; l++) {
        const size_t kvb = (size_t)c->n_seq * p->n_ctx * c->kv_dim * cuda_kv_elem(c->kv_f16);
        c->L[l].kv.f16 = c->kv_f16;
        TRYC(cudaMalloc(&c->L[l].kv.k, kvb), "KV cache");
        TRYC(cudaMalloc(&c->L[l].kv.v, kvb), "KV cache");
    }
    if (c->kv_f16) TRYC(cudaMalloc((void **)&c->kv32, kv32_bytes(hp, p->n_ctx)), "scratch");
    TRYC(cudaMalloc((void **)&c->h, (size_t)p->n_batch * hp.n_embd * 4), "scratch");
    TRYC(cudaMalloc((void **)&c->x32, (size_t)hp.n_embd * 4), "scratch");
    TRYC(cudaMalloc((void **)&c->xq, (size_t)wide), "scratch");
    TRYC(cudaMalloc((void **)&c->xds, (size_t)(wide / 32 + 1) * 8), "scratch");
    TRYC(cudaMalloc((void **)&c->xq2, (size_t)wide), "scratch");
    TRYC(cudaMalloc((void **)&c->xds2, (size_t)(wide / 32 + 1) * 8), "scratch");
    TRYC(cudaMalloc((void **)&c->ssq, ssq_bytes(hp)), "scratch");
    TRYC(cudaMalloc((void **)&c->x16, (size_t)p->n_batch * wide * 2), "scratch");
    TRYC(cudaMalloc((void **)&c->qkv, (size_t)p->n_batch * c->qkv_dim * 4), "scratch");
    TRYC(cudaMalloc((void **)&c->att, (size_t)p->n_batch * c->q_dim * 4), "scratch");
    TRYC(cudaMalloc((void **)&c->gu, (size_t)p->n_batch * 2 * hp.n_ff * 4), "scratch");
    TRYC(cudaMalloc((void **)&c->ff, (size_t)hp.n_ff * 4), "scratch");
    TRYC(cudaMalloc((void **)&c->att_cnt, (size_t)p->n_batch * hp.n_head * 4), "scratch");
    TRYC(cudaMemset(c->att_cnt, 0, (size_t)p->n_batch * hp.n_head * 4), "scratch");
    TRYC(cudaMalloc((void **)&c->epi_cnt, (size_t)(hp.n_head + hp.n_head_kv) * 4), "scratch");
    TRYC(cudaMemset(c->epi_cnt, 0, (size_t)(hp.n_head + hp.n_head_kv) * 4), "scratch");
    TRYC(cudaMalloc((void **)&c->part,
                    (size_t)p->n_batch * hp.n_head * c->max_split * (hp.head_dim + 2) * 4),
         "scratch");
    TRYC(cudaMalloc((void **)&c->w16, pl.w16), "scratch");
    TRYC(cudaMalloc((void **)&c->logits, (size_t)hp.n_vocab * 4), "scratch");
    TRYC(cudaMalloc((void **)&c->d_i32, (size_t)(p->n_batch + 1) * 4), "scratch");
    TRYC(cudaMallocHost((void **)&c->h_i32, (size_t)(p->n_batch + 1) * 4), "pinned scratch");
    TRYC(cudaMallocHost((void **)&c->h_logits, (size_t)hp.n_vocab * 4), "pinned scratch");
    if (c->layer0 > 0)
        TRYC(cudaMallocHost((void **)&c->h_in, (size_t)hp.n_embd * 4), "pinned scratch");
    TRY(cuda_tp_alloc(c, c->n_seq > 1 ? CUDA_LOGIT_ROWS : 1));
    if (c->n_seq > 1) {
        const size_t lb = (size_t)CUDA_LOGIT_ROWS * hp.n_vocab * 4;
        TRYC(cudaMalloc((void **)&c->xb32, (size_t)p->n_batch * wide * 4), "scratch");
        TRYC(cudaMalloc((void **)&c->logits_b, lb), "scratch");
        TRYC(cudaMalloc((void **)&c->hrow, (size_t)CUDA_LOGIT_ROWS * hp.n_embd * 4), "scratch");
        TRYC(cudaMalloc((void **)&c->d_b, (size_t)5 * p->n_batch * 4), "scratch");
        TRYC(cudaMalloc((void **)&c->xbq, (size_t)CUDA_MVB_MAX * wide), "scratch");
        TRYC(cudaMalloc((void **)&c->xbds, (size_t)CUDA_MVB_MAX * (wide / 32 + 1) * 8), "scratch");
        c->mma_cap = mma_part_floats(hp, p->n_batch);
        if (c->tune.prof) c->prof = cuda_prof_new();
        TRYC(cudaMalloc((void **)&c->mma_part, (size_t)c->mma_cap * 4), "scratch");
        TRYC(cudaMallocHost((void **)&c->h_logits_b, lb), "pinned scratch");
        TRYC(cudaMallocHost((void **)&c->h_b, (size_t)5 * p->n_batch * 4), "pinned scratch");
    }
    {
        uint64_t b = c->output.bytes + (c->layer0 == 0 ? c->tok_embd.bytes / c->tok_embd.rows : 0);
        for (auto &D : c->L) {
            const cuda_weight *ws[] = {&D.qkv, &D.wq,   &D.wk, &D.wv,  &D.wo,
                                       &D.gu,  &D.gate, &D.up, &D.down};
            for (const cuda_weight *w : ws)
                b += w->q ? w->bytes : 0;
        }
        c->bytes_per_token = b;
    }
done:
    for (int i = 0; i < 2; i++) {
        cudaFreeHost(u.stage[i]);
        if (u.ev[i]) cudaEventDestroy(u.ev[i]);
    }
    if (st != LMC_OK) {
        lmc_cuda_free(c);
        return st;
    }
    *out = c;
    return LMC_OK;
}

extern "C" lmc_status lmc_cuda_kv_read(lmc_cuda_ctx *c, int32_t l, int32_t row, int32_t n, float *k,
                                       float *v) {
    if (l < c->layer0 || l >= c->layer1 || row < 0 || n < 0 || row + n > c->n_seq * c->n_ctx)
        return lmc_err(LMC_ERR_INVALID_ARG, "kv read: layer %d rows [%d, %d) outside the cache", l,
                       row, row + n);
    const size_t m = (size_t)n * c->kv_dim;
    const cuda_kv src = cuda_kv_rows(c->L[l].kv, row, c->kv_dim);
    lmc_status st = LMC_OK;
    TRYC(cudaStreamSynchronize(c->st), "kv read");
    TRY(cuda_kv_copy_out(k, src.k, m, c->kv_f16));
    TRY(cuda_kv_copy_out(v, src.v, m, c->kv_f16));
done:
    return st;
}

extern "C" void lmc_cuda_kv_shift(lmc_cuda_ctx *c, int32_t seq, int32_t from, int32_t n,
                                  int32_t to) {
    if (n <= 0 || to == from || seq < 0 || seq >= c->n_seq) return;
    from += seq * c->n_ctx; // the sequence's rows
    to += seq * c->n_ctx;
    const size_t bytes = (size_t)n * c->kv_dim * cuda_kv_elem(c->kv_f16);
    cuda_kv tmp = {NULL, NULL, c->kv_f16}; // the rotated rows, of the cache's type
    lmc_status st = LMC_OK;
    TRYC(cudaMalloc(&tmp.k, bytes), "kv shift");
    TRYC(cudaMalloc(&tmp.v, bytes), "kv shift");
    for (int l = c->layer0; l < c->layer1; l++) {
        cuda_layer &D = c->L[l];
        const cuda_kv src = cuda_kv_rows(D.kv, from, c->kv_dim),
                      dst = cuda_kv_rows(D.kv, to, c->kv_dim);
        TRYC(c->fam ? cuda_fam_kv_rotate_copy(src, tmp, n, c->kv_dim, c->hp.head_dim, c->hp.n_rot,
                                              to - from, c->fam->neox, c->fam->L[l].freq, c->st)
                    : cuda_kv_rotate_copy(src, tmp, n, c->kv_dim, c->hp.head_dim, c->hp.n_rot,
                                          to - from, c->rope_freq, c->st),
             "kv shift");
        TRYC(cudaMemcpyAsync(dst.k, tmp.k, bytes, cudaMemcpyDeviceToDevice, c->st), "kv shift");
        TRYC(cudaMemcpyAsync(dst.v, tmp.v, bytes, cudaMemcpyDeviceToDevice, c->st), "kv shift");
    }
    TRYC(cudaStreamSynchronize(c->st), "kv shift");
done:
    cudaFree(tmp.k);
    cudaFree(tmp.v);
    if (st != LMC_OK) {
        c->pending = st;
        snprintf(c->pending_msg, sizeof c->pending_msg, "%s", lmc_last_error());
    }
}

extern "C" uint64_t lmc_cuda_weight_bytes_per_token(const lmc_cuda_ctx *c) {
    return c->bytes_per_token;
}

// ---- forward
// -------------------------------------------------------------------------------------

// One token: token id at d_i32[1], position at d_i32[0]; logits land in c->logits. When dump is
// set, the residual after each layer is copied to dump (synchronously; not while capturing).
static bool use_q8(const lmc_cuda_ctx *c, const cuda_weight &w) {
    return c->q8 && cuda_q8_ok(w);
}

// RMSNorm of the residual into x32; also into the 8-bit blocks when `next` (the mat-vec that reads
// it) takes them. Returns whether xq now holds x32.
static cudaError_t norm_for(lmc_cuda_ctx *c, const float *wn, const cuda_weight &next,
                            bool *have_q8) {
    const lmc_hparams &hp = c->hp;
    *have_q8 = use_q8(c, next) && hp.n_embd % 32 == 0;
    if (*have_q8)
        return cuda_rmsnorm_q8(c->h, wn, hp.n_embd, hp.norm_eps, c->x32, c->xq, c->xds, c->st);
    return cuda_rmsnorm(c->h, wn, hp.n_embd, 1, hp.norm_eps, c->x32, NULL, c->st);
}

// y = W x on the 8-bit path when the weight allows (quantizing x first unless have_q8 says xq holds
// it already), else on f32 activations.
static cudaError_t mv(lmc_cuda_ctx *c, const cuda_weight &w, const float *x, float *y, int epi,
                      const cuda_epi &e, bool have_q8, int buf = 0) {
    if (!use_q8(c, w)) return cuda_matvec_epi(w, x, y, epi, e, c->st);
    int8_t *xq = buf ? c->xq2 : c->xq;
    float2 *xds = buf ? c->xds2 : c->xds;
    if (!have_q8) {
        cudaError_t r = cuda_quant_q8(x, w.cols, xq, xds, c->st);
        if (r != cudaSuccess) return r;
    }
    return cuda_matvec_q8(w, xq, xds, y, epi, e, c->st);
}

// LMC_CUDA_FOLD=0 keeps each RMSNorm and the quantizing of ffn_down's input as kernels of their own
// (for timing, and as the reference the folded form is tested against); by default the decode step
// folds each RMSNorm into the mat-vecs around it (cuda_epi: EPI_ADD_NORM, ss); 8-bit inputs then
// come from a quantizing pass over x32 = h * nw, which needs no block reduction. (Quantizing in the
// producer's epilogue through thread-block clusters, one per 32-row group, measured slower in run
// 23: Q8_0 tg128 58% vs 68% of the copy bandwidth; it is gone.)
// Post-norms (gemma) sit between a block's output and the residual add: the next RMSNorm cannot
// ride in that mat-vec. Folded, the mat-vec stores its rows and sums their squares (EPI_STORE with
// ss_out), and one parallel kernel adds the post-normed rows to h and is the next RMSNorm's
// producer side (mv_post_fold); unfolded, the post-norm, the residual add and the next RMSNorm are
// one row kernel (post_then_norm).
static bool fold_on(const lmc_cuda_ctx *c) {
    return c->tune.fold && c->hp.n_embd % 32 == 0 && c->hp.n_ff % 32 == 0 && c->q_dim % 32 == 0;
}

// Where the folded decode step sums the squares of layer l's post-norm input (which 0: after
// attention, 1: after the FFN).
static double *post_ss(lmc_cuda_ctx *c, int l, int which) {
    return c->ssq + 2 * (size_t)c->hp.n_layer + 2 + 2 * (size_t)l + which;
}

// The mat-vec that reads layer l's attention RMSNorm (q/k/v fused or q).
static const cuda_weight &norm1_reader(const cuda_layer &L) {
    return L.fused_qkv ? L.qkv : L.wq;
}
// The RMSNorm after layer l (the next layer's attention norm, or the output norm after the last)
// and the mat-vec that reads it.
static const float *norm_after(const lmc_cuda_ctx *c, int l) {
    return l + 1 == c->hp.n_layer ? c->out_norm : c->L[l + 1].attn_norm;
}
static const cuda_weight &reader_after(const lmc_cuda_ctx *c, int l) {
    return l + 1 == c->hp.n_layer ? c->output : norm1_reader(c->L[l + 1]);
}

// Folded decode step, post-norm models (gemma): the mat-vec of w (input x, already 8-bit when
// hq_in) that ends a block stores its rows into fam->tmp and sums their squares into *ssy; then
// h += post_norm(them), and the producer side of the RMSNorm with weights wn (x32, 8-bit blocks
// when `next` takes them, sum of squares into *ss) in a kernel after it (finishing it in the
// mat-vec's last block instead, LMC_CUDA_TAIL=2, was 35% slower on an H100, 2026-12-07). run =
// false leaves the mat-vec out (LMC_CUDA_SKIP). Returns through have_q8 as norm_for does.
static cudaError_t mv_post_fold(lmc_cuda_ctx *c, const cuda_weight &w, const float *x, bool hq_in,
                                bool run, const float *post, double *ssy, const float *wn,
                                double *ss, const cuda_weight &next, bool *have_q8) {
    const lmc_hparams &hp = c->hp;
    const bool q8 = use_q8(c, next);
    *have_q8 = q8;
    cuda_epi e = {};
    e.ss_out = ssy;
    if (run) {
        const cudaError_t r = mv(c, w, x, c->fam->tmp, EPI_STORE, e, hq_in, 1);
        if (r != cudaSuccess) return r;
    }
    return cuda_post_add_fold(c->fam->tmp, post, ssy, wn, hp.n_embd, hp.norm_eps, c->h, c->x32,
                              q8 ? c->xq : NULL, c->xds, ss, c->st);
}

// Decode step, post-norm models (gemma): h += post_norm(block output) and the RMSNorm with weights
// wn of the new h into x32 (and into the 8-bit blocks when `next`, the mat-vec that reads it, takes
// them), one kernel where llama's folded path has none. Returns through have_q8 as norm_for does.
static cudaError_t post_then_norm(lmc_cuda_ctx *c, const float *post, const float *wn,
                                  const cuda_weight &next, bool *have_q8) {
    const lmc_hparams &hp = c->hp;
    *have_q8 = use_q8(c, next) && hp.n_embd % 32 == 0;
    return cuda_post_norm_add_norm(c->fam->tmp, post, wn, hp.n_embd, 1, hp.norm_eps, c->h, c->x32,
                                   *have_q8 ? c->xq : NULL, c->xds, c->st);
}
// The residual epilogue of wo and ffn_down: add (one GPU, tensor-parallel rank 0), or store a
// rank's partial product for the all-reduce (cuda_tp_adds).
static int res_epi(const lmc_cuda_ctx *c) {
    return cuda_tp_adds(c) ? EPI_ADD : EPI_STORE;
}

// The producer side of a folded RMSNorm with weights nw: h * nw into x32 (the input of the mat-vecs
// that read the normed h, quantized by them where they take 8-bit blocks), the sum of squares into
// *ss.
static cuda_epi fold_into(lmc_cuda_ctx *c, const float *nw, double *ss) {
    cuda_epi e = {};
    e.nw = nw;
    e.out32 = c->x32;
    e.ss_out = ss;
    return e;
}

// Whether layer l's q/k/v post-processing can ride in the fused mat-vec's epilogue (EPI_QKV):
// always without q/k norms; with them (qwen3, gemma3) unless LMC_CUDA_TAIL=0, when a head is a
// whole number of every mat-vec kernel's row blocks (at most 16 rows; k_qkv_post, a kernel of its
// own, does them otherwise).
static bool qk_in_epi(const lmc_cuda_ctx *c, int l) {
    if (!c->fam || !c->fam->L[l].q_norm) return true;
    return c->tune.tail && c->hp.head_dim % 16 == 0;
}

// LMC_CUDA_SKIP=MASK leaves parts of the decode step out, for timing only (the logits are then
// wrong): 1 attention RMSNorm, 2 q/k/v, 4 attention, 8 wo, 16 FFN RMSNorm, 32 gate/up, 64
// quantizing down's input, 128 down, 256 output norm and mat-vec. Time with a part minus time
// without it is that part's share of a step, overlap with its neighbours included. The mask (SK_*
// in cuda_tuning.h) is read once into the context; a dump run leaves nothing out.

static lmc_status step_one(lmc_cuda_ctx *c, float *dump) {
    const lmc_hparams &hp = c->hp;
    cudaStream_t s = c->st;
    lmc_status st = LMC_OK;
    const int32_t *pos = c->d_i32;
    const cuda_epi no = {};
    const int sk = dump ? 0 : c->tune.skip;
    const bool fold = fold_on(c);
    bool hq = false;
    bool normed = false; // x32 (and xq when hq) hold the next RMSNorm's input already (a post-norm
                         // kernel wrote it: post_then_norm, or mv_post_fold's producer side)
    cuda_epi ein =
        {}; // the consumer side of the RMSNorm folded into the previous mat-vec (ss, ss_n, eps)
    ein.ss_n = hp.n_embd;
    ein.eps = hp.norm_eps;
    // the lookup applies gemma's embedding scale
    if (c->layer0 == 0)
        TRYC(cuda_get_rows(c->tok_embd, c->d_i32 + 1, 1, c->h, s, fam_embd_scale(c)), "embedding");
    if (fold) TRYC(cudaMemsetAsync(c->ssq, 0, ssq_bytes(hp), s), "fold sums");
    for (int l = c->layer0; l < c->layer1; l++) {
        cuda_layer &D = c->L[l];
        const cuda_weight &wq0 = norm1_reader(D), &wg0 = D.fused_gu ? D.gu : D.gate;
        // attention RMSNorm: folded into the previous layer's down, a kernel of its own in the
        // first
        ein.ss = NULL;
        if (fold && l > c->layer0) {
            ein.ss = c->ssq + 2 * l;
            if (!normed) hq = false; // else mv_post_fold wrote the 8-bit blocks (hq set there)
            normed = false;
        } else if (normed) {
            normed = false; // the previous layer's post-FFN norm kernel wrote it (hq set there)
        } else if (!(sk & SK_NORM1)) {
            TRYC(norm_for(c, D.attn_norm, wq0, &hq), "rmsnorm");
        } else {
            hq = use_q8(c, wq0);
        }
        if (sk & SK_QKV) {
        } else if (D.fused_qkv && D.qkv.cols % 32 == 0 && qk_in_epi(c, l)) {
            // bias, q/k norms, rope and the KV store ride in the mat-vec's epilogue
            cuda_epi e = ein;
            e.pos = pos;
            e.freq = c->fam ? c->fam->L[l].freq : c->rope_freq;
            e.bias = c->fam ? c->fam->L[l].bias : NULL;
            e.attn_factor = c->fam ? c->fam->attn_factor : 1.f;
            e.n_head = hp.n_head;
            e.n_head_kv = hp.n_head_kv;
            e.hd = hp.head_dim;
            e.n_rot = hp.n_rot;
            e.kv = D.kv;
            if (c->fam && c->fam->L[l].q_norm) {
                e.q_norm = c->fam->L[l].q_norm;
                e.k_norm = c->fam->L[l].k_norm;
                e.qk_eps = c->fam->eps;
                e.head_cnt = c->epi_cnt;
            }
            TRYC(mv(c, D.qkv, c->x32, c->qkv, EPI_QKV, e, hq), "matvec qkv");
        } else {
            if (D.fused_qkv) {
                TRYC(mv(c, D.qkv, c->x32, c->qkv, EPI_STORE, ein, hq), "matvec qkv");
            } else {
                TRYC(mv(c, D.wq, c->x32, c->qkv, EPI_STORE, ein, hq), "matvec q");
                hq = hq || use_q8(c, D.wq);
                TRYC(mv(c, D.wk, c->x32, c->qkv + c->q_dim, EPI_STORE, ein, hq), "matvec k");
                hq = hq || use_q8(c, D.wk);
                TRYC(mv(c, D.wv, c->x32, c->qkv + c->q_dim + c->kv_dim, EPI_STORE, ein, hq),
                     "matvec v");
            }
            TRYC(c->fam ? cuda_fam_qkv(c->fam, l, c->qkv, 1, pos, hp.n_head, hp.n_head_kv,
                                       hp.head_dim, D.kv, s)
                        : cuda_rope_kv(c->qkv, 1, pos, hp.n_head, hp.n_head_kv, hp.head_dim,
                                       hp.n_rot, hp.rope_base, D.kv, s),
                 "rope");
        }
        hq = use_q8(c, D.wo) &&
             hp.head_dim % 32 == 0; // the attention writes wo's 8-bit input too (buffer B)
        if (!(sk & SK_ATT))
            TRYC(cuda_attention_ex(c->qkv, c->qkv_dim, 1, pos, D.kv, hp.n_head, hp.n_head_kv,
                                   hp.head_dim, c->max_split, c->part, c->att_cnt, c->att,
                                   hq ? c->xq2 : NULL, c->xds2, att_opts(c, l), s),
                 "attention");
        // wo, and the FFN RMSNorm folded into it or a kernel of its own
        ein.ss = NULL;
        const float *post = post_attn(c, l); // gemma: h += post_norm(wo att)
        if (fold && post) {                  // ... and the FFN norm's sums
            TRYC(mv_post_fold(c, D.wo, c->att, hq, !(sk & SK_WO), post, post_ss(c, l, 0),
                              D.ffn_norm, c->ssq + 2 * l + 1, wg0, &hq),
                 "matvec wo + post-norm");
            ein.ss = c->ssq + 2 * l + 1;
        } else if (fold) {
            const cuda_epi e = fold_into(c, D.ffn_norm, c->ssq + 2 * l + 1);
            if (!(sk & SK_WO)) TRYC(mv(c, D.wo, c->att, c->h, EPI_ADD_NORM, e, hq, 1), "matvec wo");
            ein.ss = c->ssq + 2 * l + 1;
            hq = false;
        } else {
            if (!(sk & SK_WO))
                TRYC(
                    mv(c, D.wo, c->att, fam_out(c, post), post ? EPI_STORE : res_epi(c), no, hq, 1),
                    "matvec wo");
            // tensor parallel: every rank's part summed, before the post-norm (with one, into the
            // scratch that fam_post adds; without, into h, to which rank 0 added its part)
            TRY(cuda_tp_reduce(c, fam_out(c, post), hp.n_embd));
            if (post && !(sk & SK_NORM2)) { // and the FFN RMSNorm in the same kernel
                TRYC(post_then_norm(c, post, D.ffn_norm, wg0, &hq), "post-norm + rmsnorm");
            } else {
                TRYC(fam_post(c, post, 1), "post-norm");
                if (!(sk & SK_NORM2))
                    TRYC(norm_for(c, D.ffn_norm, wg0, &hq), "rmsnorm");
                else
                    hq = use_q8(c, wg0);
            }
        }
        const bool hq_down = (sk & SK_QUANT) != 0;
        if (sk & SK_GU) {
        } else if (D.fused_gu) { // interleaved gate/up rows: SiLU or GELU-tanh in the epilogue
            cuda_epi e = ein;
            e.gelu = fam_gelu(c);
            TRYC(mv(c, D.gu, c->x32, c->ff, EPI_SWIGLU, e, hq), "matvec gate/up");
        } else {
            TRYC(mv(c, D.gate, c->x32, c->gu, EPI_STORE, ein, hq), "matvec gate");
            hq = hq || use_q8(c, D.gate);
            TRYC(mv(c, D.up, c->x32, c->gu + hp.n_ff, EPI_STORE, ein, hq), "matvec up");
            TRYC(cuda_gated_act(fam_gelu(c), c->gu, hp.n_ff, 1, 2 * hp.n_ff, 1, hp.n_ff, c->ff,
                                NULL, s),
                 "swiglu");
        }
        // down, and the next RMSNorm (the next layer's attention norm, or the output norm) folded
        // into it
        post = post_ffn(c, l); // gemma: h += post_norm(down ff)
        if (fold && post) {    // ... and the next norm's sums
            TRYC(mv_post_fold(c, D.down, c->ff, hq_down, !(sk & SK_DOWN), post, post_ss(c, l, 1),
                              norm_after(c, l), c->ssq + 2 * (l + 1), reader_after(c, l), &hq),
                 "matvec down + post-norm");
            normed = true;
        } else if (fold) {
            const cuda_epi e = fold_into(c, norm_after(c, l), c->ssq + 2 * (l + 1));
            if (!(sk & SK_DOWN))
                TRYC(mv(c, D.down, c->ff, c->h, EPI_ADD_NORM, e, hq_down, 1), "matvec down");
        } else if (!(sk & SK_DOWN)) {
            TRYC(mv(c, D.down, c->ff, fam_out(c, post), post ? EPI_STORE : res_epi(c), no, hq_down,
                    1),
                 "matvec down");
            TRY(cuda_tp_reduce(c, fam_out(c, post), hp.n_embd)); // before the post-norm
            const bool last = l + 1 == hp.n_layer;
            // the next RMSNorm rides along when its weights are here: not at the end of a range
            // of layers that hands its residual on (-sm layer)
            const bool next_here = last || l + 1 < c->layer1;
            if (post && next_here && !(sk & (last ? SK_OUT : SK_NORM1))) {
                // and the next RMSNorm (the next layer's attention norm, or the output norm)
                TRYC(post_then_norm(c, post, norm_after(c, l), reader_after(c, l), &hq),
                     "post-norm + rmsnorm");
                normed = true;
            } else {
                TRYC(fam_post(c, post, 1), "post-norm");
            }
        } else if (!(sk & SK_QUANT) && use_q8(c, D.down)) {
            TRYC(cuda_quant_q8(c->ff, D.down.cols, c->xq2, c->xds2, s), "quantize");
        }
        if (dump)
            TRYC(cudaMemcpyAsync(dump + (size_t)(l - c->layer0) * hp.n_embd, c->h, hp.n_embd * 4,
                                 cudaMemcpyDeviceToHost, s),
                 "dump");
    }
    if (!(sk & SK_OUT) && c->layer1 == hp.n_layer) { // else a range hands its residual on
        ein.ss = NULL;
        if (fold) {
            ein.ss = c->ssq + 2 * hp.n_layer;
            if (!normed) hq = false; // else mv_post_fold wrote the 8-bit blocks
        } else if (!normed) {
            TRYC(norm_for(c, c->out_norm, c->output, &hq), "rmsnorm");
        }
        cuda_epi e = ein; // gemma2's final soft-cap in the epilogue (elementwise: a rank's rows)
        e.softcap = fam_final_softcap(c);
        int64_t ld;
        TRYC(mv(c, c->output, c->x32, cuda_tp_logits_dst(c, c->logits, hp.n_vocab, &ld), EPI_STORE,
                e, hq),
             "matvec output");
        TRY(cuda_tp_gather(c, 1, c->logits, hp.n_vocab)); // tensor parallel: every rank's rows
    }
done:
    return st;
}

// Prompt attention through cuBLAS (cuda_attention_gemm) unless LMC_CUDA_ATT_GEMM=0 (for timing: the
// attention kernel of the decode path, one block per query row, then does the prompt too).
// n tokens (d_i32[1..n]) at positions d_i32[0].. (h_i32[0] on the host) through the GEMM path;
// logits of the last.
static lmc_status step_batch(lmc_cuda_ctx *c, int n, float *dump) {
    const lmc_hparams &hp = c->hp;
    cudaStream_t s = c->st;
    lmc_status st = LMC_OK;
    const int32_t *pos = c->d_i32;
    const int nff = hp.n_ff;
    if (c->layer0 == 0)
        TRYC(cuda_get_rows(c->tok_embd, c->d_i32 + 1, n, c->h, s, fam_embd_scale(c)), "embedding");
    for (int l = c->layer0; l < c->layer1; l++) {
        cuda_layer &D = c->L[l];
        TRYC(cuda_rmsnorm(c->h, D.attn_norm, hp.n_embd, n, hp.norm_eps, NULL, c->x16, s),
             "rmsnorm");
        if (D.fused_qkv) {
            TRY(cuda_gemm(c->blas, D.qkv, c->x16, n, c->qkv, c->qkv_dim, 0.f, c->w16, s));
        } else {
            TRY(cuda_gemm(c->blas, D.wq, c->x16, n, c->qkv, c->qkv_dim, 0.f, c->w16, s));
            TRY(cuda_gemm(c->blas, D.wk, c->x16, n, c->qkv + c->q_dim, c->qkv_dim, 0.f, c->w16, s));
            TRY(cuda_gemm(c->blas, D.wv, c->x16, n, c->qkv + c->q_dim + c->kv_dim, c->qkv_dim, 0.f,
                          c->w16, s));
        }
        TRYC(c->fam ? cuda_fam_qkv(c->fam, l, c->qkv, n, pos, hp.n_head, hp.n_head_kv, hp.head_dim,
                                   D.kv, s)
                    : cuda_rope_kv(c->qkv, n, pos, hp.n_head, hp.n_head_kv, hp.head_dim, hp.n_rot,
                                   hp.rope_base, D.kv, s),
             "rope");
        bool att_done = false; // scores through tensor cores, in the split-merge scratch
        if (c->tune.att_gemm)
            TRY(cuda_attention_gemm_ex(c->blas, c->qkv, c->qkv_dim, n, c->h_i32[0], D.kv, c->kv32,
                                       hp.n_head, hp.n_head_kv, hp.head_dim, c->part,
                                       (int64_t)c->n_batch * hp.n_head * c->max_split *
                                           (hp.head_dim + 2),
                                       c->att, c->q_dim, att_opts(c, l), s, &att_done));
        if (!att_done)
            TRYC(cuda_attention_ex(c->qkv, c->qkv_dim, n, pos, D.kv, hp.n_head, hp.n_head_kv,
                                   hp.head_dim, c->max_split, c->part, c->att_cnt, c->att, NULL,
                                   NULL, att_opts(c, l), s),
                 "attention");
        TRYC(cuda_f32_to_f16(c->att, (int64_t)n * c->q_dim, c->x16, s), "convert");
        const float *post = post_attn(c, l);
        TRY(cuda_gemm(c->blas, D.wo, c->x16, n, fam_out(c, post), hp.n_embd,
                      post || !cuda_tp_adds(c) ? 0.f : 1.f, c->w16, s));
        TRY(cuda_tp_reduce(c, fam_out(c, post), (int64_t)n * hp.n_embd)); // before the post-norm
        TRYC(fam_post(c, post, n), "post-norm");
        TRYC(cuda_rmsnorm(c->h, D.ffn_norm, hp.n_embd, n, hp.norm_eps, NULL, c->x16, s), "rmsnorm");
        if (D.fused_gu) {
            TRY(cuda_gemm(c->blas, D.gu, c->x16, n, c->gu, 2 * nff, 0.f, c->w16, s));
            TRYC(cuda_gated_act(fam_gelu(c), c->gu, nff, n, 2 * nff, 2, 1, NULL, c->x16, s),
                 "swiglu");
        } else {
            TRY(cuda_gemm(c->blas, D.gate, c->x16, n, c->gu, 2 * nff, 0.f, c->w16, s));
            TRY(cuda_gemm(c->blas, D.up, c->x16, n, c->gu + nff, 2 * nff, 0.f, c->w16, s));
            TRYC(cuda_gated_act(fam_gelu(c), c->gu, nff, n, 2 * nff, 1, nff, NULL, c->x16, s),
                 "swiglu");
        }
        post = post_ffn(c, l);
        TRY(cuda_gemm(c->blas, D.down, c->x16, n, fam_out(c, post), hp.n_embd,
                      post || !cuda_tp_adds(c) ? 0.f : 1.f, c->w16, s));
        TRY(cuda_tp_reduce(c, fam_out(c, post), (int64_t)n * hp.n_embd)); // before the post-norm
        TRYC(fam_post(c, post, n), "post-norm");
        if (dump)
            TRYC(cudaMemcpyAsync(dump + (size_t)(l - c->layer0) * hp.n_embd,
                                 c->h + (size_t)(n - 1) * hp.n_embd, hp.n_embd * 4,
                                 cudaMemcpyDeviceToHost, s),
                 "dump");
    }
    if (c->layer1 < hp.n_layer) goto done; // a range hands its residual on
    TRYC(cuda_rmsnorm(c->h + (size_t)(n - 1) * hp.n_embd, c->out_norm, hp.n_embd, 1, hp.norm_eps,
                      c->x32, NULL, s),
         "rmsnorm");
    {
        cuda_epi e = {}; // gemma2's final soft-cap in the epilogue (elementwise: a rank's rows)
        e.softcap = fam_final_softcap(c);
        int64_t ld;
        TRYC(cuda_matvec_epi(c->output, c->x32, cuda_tp_logits_dst(c, c->logits, hp.n_vocab, &ld),
                             EPI_STORE, e, s),
             "matvec output");
    }
    TRY(cuda_tp_gather(c, 1, c->logits, hp.n_vocab));
done:
    return st;
}

// The inputs of one decode step from pinned memory: [pos, tok], and with layer0 > 0 the hidden
// state.
static cudaError_t copy_in_one(lmc_cuda_ctx *c) {
    cudaError_t e = cudaMemcpyAsync(c->d_i32, c->h_i32, 8, cudaMemcpyHostToDevice, c->st);
    if (e == cudaSuccess && c->layer0 > 0)
        e = cudaMemcpyAsync(c->h, c->h_in, (size_t)c->hp.n_embd * 4, cudaMemcpyHostToDevice, c->st);
    return e;
}

// Decode step through the graph: inputs copied in from pinned memory (copy_in_one), logits copied
// out.
static lmc_status decode_graph(lmc_cuda_ctx *c) {
    lmc_status st = LMC_OK;
    if (!c->graph_ready) {
        cudaGraph_t g = NULL;
        TRYC(cudaStreamBeginCapture(c->st, cudaStreamCaptureModeThreadLocal), "graph capture");
        copy_in_one(c);
        st = step_one(c, NULL);
        cudaMemcpyAsync(c->h_logits, c->logits, (size_t)c->hp.n_vocab * 4, cudaMemcpyDeviceToHost,
                        c->st);
        {
            cudaError_t e = cudaStreamEndCapture(c->st, &g);
            if (st != LMC_OK) {
                if (g) cudaGraphDestroy(g);
                goto done;
            }
            TRYC(e, "graph capture");
        }
        st = cuda_check(cudaGraphInstantiate(&c->graph, g, 0), "graph instantiate");
        cudaGraphDestroy(g);
        if (st != LMC_OK) goto done;
        c->graph_ready = true;
    }
    TRYC(cudaGraphLaunch(c->graph, c->st), "graph launch");
done:
    return st;
}

// n inputs at positions pos..: token ids (layer0 == 0) or hidden states (n, n_embd) (layer0 > 0).
// The output: the last token's logits (a context ending with the output), or every token's
// residual after the context's last layer into hidden_out (n, n_embd) (a layer range).
static lmc_status forward_run(lmc_cuda_ctx *c, const int32_t *tokens, const float *hidden,
                              int32_t n, int32_t pos, float *logits, float *hidden_out,
                              float *layer_out) {
    const lmc_hparams &hp = c->hp;
    lmc_status st = LMC_OK;
    if (c->pending != LMC_OK) return lmc_err(c->pending, "%s", c->pending_msg);
    if (n <= 0) return lmc_err(LMC_ERR_INVALID_ARG, "CUDA forward: no tokens");
    if (pos < 0 || (int64_t)pos + n > c->n_ctx)
        return lmc_err(LMC_ERR_CONTEXT_FULL, "CUDA forward: positions %d..%d beyond n_ctx %d", pos,
                       pos + n - 1, c->n_ctx);
    for (int i = 0; tokens && i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp.n_vocab)
            return lmc_err(LMC_ERR_INVALID_ARG, "CUDA forward: token %d out of range (n_vocab %d)",
                           tokens[i], hp.n_vocab);
    // Short runs go token by token through the decode path (exact f32); long prompts use the GEMMs.
    const int gemm_min = c->gemm_min;
    int done_n = 0;
    while (done_n < n) {
        const int left = n - done_n;
        const bool last_chunk_dump = layer_out != NULL;
        if (left >= gemm_min) {
            const int b = std::min(left, c->n_batch);
            c->h_i32[0] = pos + done_n;
            if (tokens) memcpy(c->h_i32 + 1, tokens + done_n, (size_t)b * 4);
            TRYC(cudaMemcpyAsync(c->d_i32, c->h_i32, (size_t)(tokens ? b + 1 : 1) * 4,
                                 cudaMemcpyHostToDevice, c->st),
                 "copy");
            if (hidden)
                TRYC(cudaMemcpyAsync(c->h, hidden + (size_t)done_n * hp.n_embd,
                                     (size_t)b * hp.n_embd * 4, cudaMemcpyHostToDevice, c->st),
                     "copy");
            TRY(step_batch(c, b, last_chunk_dump && done_n + b == n ? layer_out : NULL));
            if (hidden_out)
                TRYC(cudaMemcpyAsync(hidden_out + (size_t)done_n * hp.n_embd, c->h,
                                     (size_t)b * hp.n_embd * 4, cudaMemcpyDeviceToHost, c->st),
                     "copy");
            else
                TRYC(cudaMemcpyAsync(c->h_logits, c->logits, (size_t)hp.n_vocab * 4,
                                     cudaMemcpyDeviceToHost, c->st),
                     "copy");
            TRYC(cudaStreamSynchronize(c->st), "forward");
            done_n += b;
        } else {
            c->h_i32[0] = pos + done_n;
            c->h_i32[1] = tokens ? tokens[done_n] : 0;
            if (hidden) memcpy(c->h_in, hidden + (size_t)done_n * hp.n_embd, (size_t)hp.n_embd * 4);
            float *dump = layer_out && done_n == n - 1 ? layer_out : NULL;
            if (c->use_graph && !dump) {
                TRY(decode_graph(c));
            } else {
                TRYC(copy_in_one(c), "copy");
                TRY(step_one(c, dump));
                if (hidden_out)
                    TRYC(cudaMemcpyAsync(hidden_out + (size_t)done_n * hp.n_embd, c->h,
                                         (size_t)hp.n_embd * 4, cudaMemcpyDeviceToHost, c->st),
                         "copy");
                else
                    TRYC(cudaMemcpyAsync(c->h_logits, c->logits, (size_t)hp.n_vocab * 4,
                                         cudaMemcpyDeviceToHost, c->st),
                         "copy");
            }
            TRYC(cudaStreamSynchronize(c->st), "forward");
            done_n++;
        }
    }
    if (logits && !hidden_out) memcpy(logits, c->h_logits, (size_t)hp.n_vocab * 4);
done:
    return st;
}

// The output the context ends with must be the one asked for: logits, or a range's residual.
static lmc_status check_end(const lmc_cuda_ctx *c, bool want_hidden) {
    if (want_hidden == (c->layer1 < c->hp.n_layer)) return LMC_OK;
    return want_hidden ? lmc_err(LMC_ERR_INVALID_ARG,
                                 "CUDA forward: this context ends with the output; its forward "
                                 "gives logits")
                       : lmc_err(LMC_ERR_INVALID_ARG,
                                 "CUDA forward: this context holds layers [%d, %d) of %d and gives "
                                 "hidden states (lmc_cuda_forward_range)",
                                 c->layer0, c->layer1, c->hp.n_layer);
}

extern "C" lmc_status lmc_cuda_forward(lmc_cuda_ctx *c, const int32_t *tokens, int32_t n,
                                       int32_t pos, float *logits, float *layer_out) {
    if (c->layer0 > 0)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "CUDA forward: this context starts at layer %d and takes hidden states",
                       c->layer0);
    if (!tokens) return lmc_err(LMC_ERR_INVALID_ARG, "CUDA forward: no tokens");
    lmc_status st = check_end(c, false);
    return st != LMC_OK ? st : forward_run(c, tokens, NULL, n, pos, logits, NULL, layer_out);
}

extern "C" lmc_status lmc_cuda_forward_hidden(lmc_cuda_ctx *c, const float *hidden, int32_t n,
                                              int32_t pos, float *logits, float *layer_out) {
    if (c->layer0 == 0)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "CUDA forward: this context holds every layer and takes token ids");
    if (!hidden) return lmc_err(LMC_ERR_INVALID_ARG, "CUDA forward: no hidden states");
    lmc_status st = check_end(c, false);
    return st != LMC_OK ? st : forward_run(c, NULL, hidden, n, pos, logits, NULL, layer_out);
}

extern "C" lmc_status lmc_cuda_forward_range(lmc_cuda_ctx *c, const int32_t *tokens,
                                             const float *hidden, int32_t n, int32_t pos,
                                             float *hidden_out, float *layer_out) {
    if ((c->layer0 == 0) != (tokens != NULL) || (c->layer0 > 0) != (hidden != NULL) || !hidden_out)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "CUDA forward: layers [%d, %d) take %s and give hidden states", c->layer0,
                       c->layer1, c->layer0 == 0 ? "token ids" : "hidden states");
    lmc_status st = check_end(c, true);
    return st != LMC_OK ? st : forward_run(c, tokens, hidden, n, pos, NULL, hidden_out, layer_out);
}

// ---- copy bandwidth
// ------------------------------------------------------------------------------

extern "C" lmc_status lmc_cuda_copy_bandwidth(lmc_cuda_ctx *c, double *gb_s) {
    // 1 GiB device-to-device, once to warm up, then ten times between two events on c's stream
    const size_t nb = 1ull << 30;
    lmc_status st = LMC_OK;
    void *a = NULL, *b = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    float ms = 0;
    *gb_s = 0;
    TRYC(cudaEventCreate(&e0), "copy bandwidth: event");
    TRYC(cudaEventCreate(&e1), "copy bandwidth: event");
    TRYC(cudaMalloc(&a, nb), "copy bandwidth: 1 GiB buffer");
    TRYC(cudaMalloc(&b, nb), "copy bandwidth: 1 GiB buffer");
    TRYC(cudaMemsetAsync(a, 1, nb, c->st), "copy bandwidth: memset");
    TRYC(cudaMemcpyAsync(b, a, nb, cudaMemcpyDeviceToDevice, c->st), "copy bandwidth: copy");
    TRYC(cudaEventRecord(e0, c->st), "copy bandwidth: event");
    for (int i = 0; i < 10; i++)
        TRYC(cudaMemcpyAsync(b, a, nb, cudaMemcpyDeviceToDevice, c->st), "copy bandwidth: copy");
    TRYC(cudaEventRecord(e1, c->st), "copy bandwidth: event");
    TRYC(cudaEventSynchronize(e1), "copy bandwidth: sync");
    TRYC(cudaEventElapsedTime(&ms, e0, e1), "copy bandwidth: timing");
    if (ms > 0) *gb_s = 2.0 * nb * 10 / (ms * 1e-3) / 1e9;
done:
    cudaGetLastError(); // a failed allocation here must not show up in the next forward
    cudaFree(a);
    cudaFree(b);
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    return st;
}
