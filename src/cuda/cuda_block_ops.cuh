// cuda_block_ops.cuh — the block operations of the model families beyond the llama block (qwen2,
// qwen3, gemma2, gemma3, phi3: arch.c's LMC_BLK_* flags) on the GPU: the per-model variant state
// uploaded once (biases, q/k norms, post norms, per-layer RoPE frequencies, attention options) and
// the kernels cuda_model.cu calls, one per variant step. The CPU forward (src/cpu/forward.c) is the
// reference each of them is tested against (tests/test_cuda_block_ops.c).
#ifndef LMC_CUDA_BLOCK_OPS_CUH
#define LMC_CUDA_BLOCK_OPS_CUH

#include "cuda_internal.h"
#include <vector>

struct lmc_model;

// What the attention of a layer does beyond softmax(q k^T / sqrt(head_dim)) v: its query scale (0:
// 1/sqrt(head_dim), as the llama kernel computes it), the score soft-cap (0: none) and the sliding
// window (0: none; else query at p sees keys > p - window).
struct cuda_att_opts {
    float scale;
    float softcap;
    int window;
};

// One layer's variant data on the device (NULL where the layer has none).
struct cuda_fam_layer {
    float *bias;                 // (q_dim + 2 kv_dim): bq | bk | bv
    float *q_norm, *k_norm;      // (head_dim)
    float *attn_post, *ffn_post; // (n_embd)
    double *freq;                // (head_dim / 2) scale * base^(-2i/n_rot) / factor_i, i < n_rot/2
    cuda_att_opts att;
};

// The variant state of a model whose block is not the plain llama block (NULL for llama).
struct cuda_fam {
    uint32_t flags; // LMC_BLK_*
    bool neox;      // NEOX RoPE pairing (i, i + n_rot/2); false once the rows are stored
                    // interleaved (cuda_rope_row: always, in cuda_fam_init)
    int n_rot;      // the first n_rot dims of a head turn (partial rotary: < head_dim)
    bool gelu;      // GELU-tanh gated FFN (else SiLU)
    float eps, attn_factor, embd_scale, final_softcap;
    std::vector<cuda_fam_layer> L; // n_layer (layers below layer0 stay empty)
    double *freq_all;              // the per-layer tables, one allocation
    float *tmp;                    // (n_batch, n_embd) a block output before its post-norm
};

// NEOX RoPE (qwen, gemma, phi3) pairs dims (i, i + n_rot/2) of a head; on the GPU the q and k rows
// of each head are stored interleaved instead, so that every model rotates adjacent pairs (2i,
// 2i+1) and the decode step's fused q/k/v epilogue (EPI_QKV) serves NEOX models too. Attention
// only takes dot products of q and k heads, which one permutation of both leaves unchanged; v is
// not permuted. Returns the model's row (of the q | k rows, heads aligned) that stored row r
// holds: r for normal RoPE and for the dims past n_rot; else row 2i holds i, row 2i+1 i + n_rot/2.
static inline int64_t cuda_rope_row(int rope, int head_dim, int n_rot, int64_t r) {
    const int64_t h = r / head_dim, j = r % head_dim, half = n_rot / 2;
    if (rope != 1 /* LMC_ROPE_NEOX */ || j >= n_rot) return r;
    return h * head_dim + (j & 1 ? j / 2 + half : j / 2);
}

// Whether the model's block is the plain llama one (normal RoPE with one base and no scaling, SiLU,
// the default query scale, no LMC_BLK_* flag): the llama path runs it unchanged, no cuda_fam.
bool cuda_fam_plain(const lmc_model *m);
// Whether every flag of the model is one this backend implements (else why says which).
bool cuda_fam_supported(const lmc_model *m, char *why, size_t size);
// Uploads the variant state of layers [layer0, n_layer) for a context of n_ctx positions per
// sequence (LongRoPE picks its divisors by it) and n_batch rows.
lmc_status cuda_fam_init(const lmc_model *m, int n_ctx, int n_batch, int layer0, cuda_fam **out);
void cuda_fam_free(cuda_fam *f);
// Device bytes cuda_fam_init allocates (for the memory plan).
uint64_t cuda_fam_bytes(const lmc_model *m, int n_batch);

// After the q/k/v projections of layer l (n_tok rows of qkv, (n_head + 2 n_head_kv) * hd each, at
// positions *pos + t): biases, per-head q/k RMSNorm, RoPE (pairing, per-layer frequencies,
// attn_factor; the first n_rot dims of each head), then k and v into the layer's caches. One
// kernel; the position is read on the device (graph friendly).
cudaError_t cuda_fam_qkv(const cuda_fam *f, int l, float *qkv, int n_tok, const int32_t *pos,
                         int n_head, int n_head_kv, int hd, const cuda_kv &kv, cudaStream_t s);
// The same for tokens of several sequences (cuda_batch.cu): token t at position pos[t], its k and
// v into cache row kvrow[t] (as cuda_rope_kv_rows).
cudaError_t cuda_fam_qkv_rows(const cuda_fam *f, int l, float *qkv, int n_tok, const int32_t *pos,
                              const int32_t *kvrow, int n_head, int n_head_kv, int hd,
                              const cuda_kv &kv, cudaStream_t s);
// The same with explicit pieces (op tests): bias/q_norm/k_norm may be NULL; freq (n_rot/2)
// doubles; n_rot even, <= hd.
cudaError_t cuda_qkv_post(float *qkv, int n_tok, const int32_t *pos, int n_head, int n_head_kv,
                          int hd, int n_rot, const float *bias, const float *q_norm,
                          const float *k_norm, float eps, bool neox, const double *freq,
                          float attn_factor, const cuda_kv &kv, cudaStream_t s);
// out[t][i] = act(g[t*row + i*step]) * g[t*row + i*step + uoff], act silu or gelu_tanh; out32 or
// out16 (as cuda_swiglu).
cudaError_t cuda_gated_act(bool gelu, const float *g, int n, int n_tok, int row, int step, int uoff,
                           float *out32, __half *out16, cudaStream_t s);
// h[t] += RMSNorm(y[t]) * w for n_tok rows of n (a post-attention / post-FFN norm).
cudaError_t cuda_post_norm_add(const float *y, const float *w, int n, int n_tok, float eps,
                               float *h, cudaStream_t s);
// The decode step's post-norm and the RMSNorm after it in one kernel (gemma): h[t] +=
// RMSNorm(y[t]) * wp, then out32[t] = RMSNorm(h[t]) * wn, and its 8-bit blocks into oq/ods when oq
// is set (n % 32 == 0), for n_tok rows of n. Same arithmetic as cuda_post_norm_add followed by
// cuda_rmsnorm(_q8); launched with PDL.
cudaError_t cuda_post_norm_add_norm(const float *y, const float *wp, const float *wn, int n,
                                    int n_tok, float eps, float *h, float *out32, int8_t *oq,
                                    float2 *ods, cudaStream_t s);
// The same for the decode step with folded RMSNorms: y's mat-vec summed sum(y^2) into *ssy; h +=
// y * (1 / sqrt(*ssy / n + eps)) * wp, then the next RMSNorm's producer side as EPI_ADD_NORM's
// (cuda_epi): out32 = h * wn, its 8-bit blocks into oq/ods when oq is set, sum(h^2) into *ss. One
// thread per value, no block reduction; n % 32 == 0; launched with PDL.
cudaError_t cuda_post_add_fold(const float *y, const float *wp, const double *ssy, const float *wn,
                               int n, float eps, float *h, float *out32, int8_t *oq, float2 *ods,
                               double *ss, cudaStream_t s);
// x *= a (the embedding scale), n values.
cudaError_t cuda_scale(float *x, int64_t n, float a, cudaStream_t s);
// x = cap * tanh(x / cap), n values (the final logit soft-cap).
cudaError_t cuda_softcap(float *x, int64_t n, float cap, cudaStream_t s);
// The KV shift's rotating copy with the variant's pairing and a layer's frequencies (the first
// n_rot dims of each head turn, the rest are copied); dst has src's element type.
cudaError_t cuda_fam_kv_rotate_copy(const cuda_kv &src, const cuda_kv &dst, int n, int kv_dim,
                                    int hd, int n_rot, int delta, bool neox, const double *freq,
                                    cudaStream_t s);

// The attention kernels (cuda_attention.cu) with a layer's options; cuda_attention and
// cuda_attention_gemm are these with the default options. Each reads an f32 or f16 cache (kv).
cudaError_t cuda_attention_ex(const float *q, int q_stride, int n_tok, const int32_t *pos,
                              const cuda_kv &kv, int n_head, int n_head_kv, int head_dim,
                              int max_split, float *part, int *counters, float *out, int8_t *oq,
                              float2 *ods, const cuda_att_opts &o, cudaStream_t s);
// cuda_attention_rows (cuda_batch_ops.cu: token t over cache rows kv0[t]..kvrow[t], split in
// n_split blocks of CUDA_ATT_CHUNK keys or, n_split 0, one block) with a layer's options; the
// window counts back from kvrow[t] (rows follow positions within a sequence) and the splits start
// at the window's first row.
cudaError_t cuda_attention_rows_ex(const float *q, int q_stride, int n_tok, const int32_t *kv0,
                                   const int32_t *kvrow, const cuda_kv &kv, int n_head,
                                   int n_head_kv, int head_dim, float *part, int max_split,
                                   int n_split, float *out, const cuda_att_opts &o, cudaStream_t s);
lmc_status cuda_attention_gemm_ex(cublasHandle_t h, const float *q, int q_stride, int n_tok,
                                  int pos0, const cuda_kv &kv, float *kv32, int n_head,
                                  int n_head_kv, int head_dim, float *S, int64_t s_floats,
                                  float *out, int out_stride, const cuda_att_opts &o,
                                  cudaStream_t s, bool *done);

#endif
