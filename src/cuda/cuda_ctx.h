// cuda_ctx.h — the whole-model CUDA context (lmc_cuda_ctx of cuda_backend.h) as the model files
// see it: uploaded layers, the KV cache of every sequence and the scratch buffers. Shared by
// cuda_model.cu (upload, one sequence, graphs) and cuda_batch.cu (several sequences in one step).
#ifndef LMC_CUDA_CTX_H
#define LMC_CUDA_CTX_H

#include "cuda_backend.h"
#include "cuda_block_ops.cuh"
#include "cuda_internal.h"
#include "cuda_prof.h"
#include "cuda_tuning.h"
#include <vector>

extern "C" {
#include "model.h"
}

// Rows of logits one multi-sequence step computes at once (more wanted rows go in rounds).
#define CUDA_LOGIT_ROWS 32

struct cuda_layer {
    float *attn_norm, *ffn_norm; // (n_embd) f32
    bool fused_qkv, fused_gu;
    cuda_weight qkv;        // fused: rows q | k | v
    cuda_weight wq, wk, wv; // unfused
    cuda_weight wo;
    cuda_weight gu;       // fused: rows interleaved gate0, up0, gate1, up1, ...
    cuda_weight gate, up; // unfused
    cuda_weight down;
    cuda_kv kv; // K and V (n_seq * n_ctx, n_head_kv * head_dim), f32 or f16 (lmc_cuda_ctx.kv_f16):
                // sequence s at row s n_ctx
};

// This context's cut of the model under tensor parallelism (cuda_tp.cu); for one GPU n_rank is 1,
// the offsets 0 and the widths the whole model's, so the upload reads whole matrices.
struct cuda_tp {
    int rank, n_rank;
    int64_t q0, kv0, ff0; // first row of wq, of wk/wv, of gate/up (first input column of wo, down)
    int64_t v0, nv;       // output rows [v0, v0 + nv) of the vocabulary
    int64_t v_max;        // the widest rank's nv: every rank's logits rows padded to it
    split_range vocab[SPLIT_MAX_RANKS];
    lmc_comm *comm; // NULL for one GPU: the hooks below do nothing
    int rows;       // logit rows one gather moves at most
    float *part;    // (rows, v_max) this rank's logits, zero padded
    float *all;     // (n_rank, rows, v_max) every rank's, gathered
};

struct lmc_cuda_ctx {
    const lmc_model *m;
    lmc_hparams hp;
    int n_ctx, n_batch, max_split, q_dim, kv_dim, qkv_dim;
    int layer0; // first layer held here; L[l] for l < layer0 stays empty
    int layer1; // one past the last (n_layer, or a layer range that hands its residual on)
    bool use_graph;
    int gemm_min;
    cuda_tuning tune; // the LMC_CUDA_* switches, read once by lmc_cuda_init
    cudaStream_t st;
    cublasHandle_t blas;
    std::vector<cuda_layer> L;
    cuda_weight tok_embd, output;
    bool tied;
    float *out_norm;
    double *rope_freq; // (n_rot / 2) base^(-2i/n_rot)
    bool kv_f16;       // the KV cache holds f16 elements (-ctk/-ctv f16), else f32
    float *kv32;       // f16 cache: (2, n_ctx, kv_dim) one sequence's K and V widened for the
                       // cuBLAS prompt attention (cuda_attention_gemm); NULL with an f32 cache
    // scratch
    float *h;    // (n_batch, n_embd) residual stream
    float *x32;  // (n_embd) normed input of the decode path
    bool q8;     // decode mat-vecs on 8-bit activations where the weight type allows
    int8_t *xq;  // (wide) 8-bit activations of the current mat-vec input: buffer A (q/k/v, gate/up,
    float2 *xds; // (wide / 32) output), with their block scales
    int8_t *xq2; // buffer B (wo, down): a mat-vec that folds the next RMSNorm reads one and writes
    float2 *xds2;    // the other
    double *ssq;     // (2 n_layer + 2) sums of squares of the folded RMSNorms, zeroed per step
    __half *x16;     // (n_batch, max(n_embd, q_dim, n_ff)) GEMM inputs
    float *qkv;      // (n_batch, qkv_dim)
    float *att;      // (n_batch, q_dim)
    float *gu;       // (n_batch, 2 n_ff)
    float *ff;       // (n_ff) decode path
    float *part;     // (n_batch, n_head, max_split, head_dim + 2)
    int *att_cnt;    // (n_batch, n_head) split counters of the attention merge, kept zero
    int *epi_cnt;    // (n_head + n_head_kv) per-head counters of the q/k-norm epilogue
                     // (cuda_epi.head_cnt), kept zero
    __half *w16;     // (largest matrix) dequantized weights for the GEMMs
    float *logits;   // (n_vocab)
    int32_t *d_i32;  // [pos, tok0, tok1, ...] (1 + n_batch)
    int32_t *h_i32;  // pinned mirror
    float *h_logits; // pinned (n_vocab)
    float *h_in;     // pinned (n_embd) decode input when layer0 > 0 (the graph copies it into h)
    // several sequences (n_seq > 1, cuda_batch.cu); sequence s owns the cache rows from s n_ctx
    int n_seq;
    float *xb32;       // (n_batch, wide) f32 inputs of the small-batch mat-vecs
    float *logits_b;   // (CUDA_LOGIT_ROWS, n_vocab) logits of wanted rows
    float *h_logits_b; // pinned mirror
    float *hrow;       // (CUDA_LOGIT_ROWS, n_embd) the wanted rows' residuals, gathered
    int8_t *xbq;       // (CUDA_MVB_MAX, wide) 8-bit batched mat-vec inputs (LMC_CUDA_BATCH_Q8)
    float2 *xbds;      // (CUDA_MVB_MAX, wide / 32) their block scales
    float *mma_part;   // K-split partial sums of cuda_matmul_mma (mma_cap floats)
    int64_t mma_cap;
    cuda_prof *prof; // LMC_CUDA_PROFILE=1: per-part step timing, else NULL
    int32_t *d_b;    // (5, n_batch) per token: token, pos, kv row, first kv row, wanted rows
    int32_t *h_b;    // pinned mirror
    cudaGraphExec_t graph;
    bool graph_ready;
    uint64_t w_bytes, bytes_per_token;
    cuda_fam *fam;      // the block variant's state (cuda_block_ops.cuh); NULL for the llama block
    lmc_status pending; // an error of kv_shift, reported by the next forward
    char pending_msg[256];
    cuda_tp tp;
};

// ---- the variant steps of a block (cuda_block_ops.cuh), shared by the one-sequence forward
// (cuda_model.cu) and the several-sequence step (cuda_batch.cu); each is a no-op for the llama
// block (c->fam NULL), which runs no launch more for them.

static const cuda_att_opts cuda_no_att = {};
// Layer l's attention options (scale, soft-cap, sliding window).
static inline const cuda_att_opts &att_opts(const lmc_cuda_ctx *c, int l) {
    return c->fam ? c->fam->L[l].att : cuda_no_att;
}
// The embedding scale the lookup applies (gemma; 1: none).
static inline float fam_embd_scale(const lmc_cuda_ctx *c) {
    return c->fam && (c->fam->flags & LMC_BLK_EMBD_SCALE) ? c->fam->embd_scale : 1.f;
}
// The final logit soft-cap an output mat-vec applies in its epilogue (gemma2; 0: none).
static inline float fam_final_softcap(const lmc_cuda_ctx *c) {
    return c->fam && (c->fam->flags & LMC_BLK_FINAL_SOFTCAP) ? c->fam->final_softcap : 0.f;
}
// After an output product of rows of n_vocab logits that has no soft-cap epilogue (the GEMM of
// several rows): gemma2's final soft-cap.
static inline cudaError_t fam_logits(lmc_cuda_ctx *c, float *logits, int rows) {
    if (!c->fam || !(c->fam->flags & LMC_BLK_FINAL_SOFTCAP)) return cudaSuccess;
    return cuda_softcap(logits, (int64_t)rows * c->hp.n_vocab, c->fam->final_softcap, c->st);
}
// Where a block's output goes before the residual: c->h directly, or the variant's scratch
// ((n_batch, n_embd)) when a post-norm follows (fam_post then adds it).
static inline float *fam_out(lmc_cuda_ctx *c, const float *post) {
    return post ? c->fam->tmp : c->h;
}
static inline const float *post_attn(const lmc_cuda_ctx *c, int l) {
    return c->fam ? c->fam->L[l].attn_post : NULL;
}
static inline const float *post_ffn(const lmc_cuda_ctx *c, int l) {
    return c->fam ? c->fam->L[l].ffn_post : NULL;
}
// h[t] += RMSNorm(tmp[t]) * post for n rows (nothing without a post-norm).
static inline cudaError_t fam_post(lmc_cuda_ctx *c, const float *post, int n) {
    if (!post) return cudaSuccess;
    return cuda_post_norm_add(c->fam->tmp, post, c->hp.n_embd, n, c->hp.norm_eps, c->h, c->st);
}
static inline bool fam_gelu(const lmc_cuda_ctx *c) {
    return c->fam && c->fam->gelu;
}

// ---- the tensor-parallel hooks of the forward (cuda_tp.cu); each a no-op for one GPU -----------
// The cut of rank p->tp_rank (one GPU: the whole model), and the rank's narrower geometry: its
// query and KV heads and FFN columns (n_embd, head_dim and n_vocab stay the model's).
void cuda_tp_cut(const lmc_model *m, const lmc_cuda_params *p, cuda_tp *tp, lmc_hparams *hp);
// The residual add of a row-parallel product (wo, ffn_down): one GPU and rank 0 add W x into the
// residual, the other ranks store theirs there, and cuda_tp_reduce then sums the ranks.
static inline bool cuda_tp_adds(const lmc_cuda_ctx *c) {
    return c->tp.rank == 0;
}
// x (n floats on the device) = the sum over ranks of x, in place.
lmc_status cuda_tp_reduce(lmc_cuda_ctx *c, float *x, int64_t n);
// Where the output product writes `rows` logits rows meant for y (row stride ld): y itself for
// one GPU, else this rank's part (stride v_max, see *ld_out). cuda_tp_gather then fills y.
float *cuda_tp_logits_dst(lmc_cuda_ctx *c, float *y, int64_t ld, int64_t *ld_out);
lmc_status cuda_tp_gather(lmc_cuda_ctx *c, int rows, float *y, int64_t ld);
// Allocates part / all for rows logit rows (nothing for one GPU).
lmc_status cuda_tp_alloc(lmc_cuda_ctx *c, int rows);
void cuda_tp_release(lmc_cuda_ctx *c);

#endif
