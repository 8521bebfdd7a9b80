/* cuda_internal.h — C++ declarations shared by the CUDA translation units: the device weight view
 * (GGUF blocks, or the "split" layout that moves the f16 scale out of each block so quants sit on
 * 16-byte boundaries) and the kernel launchers (cuda_matvec*.cu, cuda_matmul.cu, cuda_attention.cu,
 * cuda_norm_rope.cu). Not part of the C boundary. */
#ifndef LMC_CUDA_INTERNAL_H
#define LMC_CUDA_INTERNAL_H

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include "cuda_kv.cuh"
#include "lmc.h"
#include <stdint.h>

/* A weight matrix on the device: rows x cols (cols contiguous). For split types (Q4_0, Q8_0, Q6_K)
 * q holds each block without its scale (qbytes per block, rows * nb blocks in row order) and d the
 * scales (rows * nb halves); every other type keeps its GGUF block bytes in q and d is NULL. */
struct cuda_weight {
    uint32_t type;
    int64_t rows, cols;
    uint8_t *q;
    __half *d;
    uint64_t bytes; /* device bytes of q + d */
};

/* Split layout of a type: the scale's byte offset inside the GGUF block and the bytes left. Returns
 * false for types kept as GGUF blocks. */
bool cuda_split_layout(uint32_t type, int *d_off, int *qbytes);
/* Repacks `rows` GGUF rows (row pointers src[i]) into the device layout at host buffers q/d (row
 * offset row0 of the destination matrix). */
void cuda_repack_rows(uint32_t type, int64_t cols, const uint8_t *const *src, int64_t n_rows,
                      int64_t row0, uint8_t *q, uint8_t *d);

enum { EPI_STORE = 0, EPI_ADD = 1, EPI_SWIGLU = 2, EPI_QKV = 3, EPI_ADD_NORM = 4 };

/* What a mat-vec does with its results besides the plain store.
 * EPI_QKV: rows are q | k | v of one token; the bias (when set) is added to every row, then pairs
 * of q and k rows (2i, 2i+1) rotate at *pos (freq[i]: base^(-2i/n_rot) or a layer's own table,
 * double; cos and sin times attn_factor, 0 meaning 1), k and v go straight into the caches (kv:
 * f32 or f16 elements), q into y. NEOX models get there through rows stored interleaved
 * (cuda_rope_row). With q_norm and k_norm set (qwen3, gemma3) each q and k head is RMSNormed
 * (weights in the stored order, qk_eps) after the bias and before RoPE: the block that completes a
 * head's rows (head_cnt, n_head + n_head_kv counters that are zero between launches; head_dim a
 * multiple of the rows per block) does it. RMSNorm folded into the mat-vecs around it (decode
 * path): RMSNorm(h) . W = rsqrt(mean(h^2) + eps)
 * * (W . (h * nw)), and 8-bit blocks of h * nw are those of the normed h up to their scale. So
 * - EPI_ADD_NORM (the producer of h): y += W x, and for each new value v = y[i] also
 *   out32[i] = v * nw[i] and the sum of v^2 into *ss_out;
 * - any epilogue with ss set (the consumer): the results are first scaled by rsqrt(*ss / ss_n +
 * eps).
 * EPI_STORE with ss_out (gemma's post-norms folded): y = W x and the sum of its squares into
 * *ss_out, which cuda_post_add_fold reads. */
struct cuda_epi {
    const int32_t *pos;
    const double *freq;
    int n_head, n_head_kv, hd, n_rot;
    const float *bias;            /* EPI_QKV: bq | bk | bv in the stored row order, or NULL */
    float attn_factor;            /* EPI_QKV: LongRoPE's cos/sin scale (0: 1) */
    cuda_kv kv;                   /* EPI_QKV: the layer's cache */
    const float *q_norm, *k_norm; /* EPI_QKV: per-head RMSNorm weights (head_dim), or NULL */
    float qk_eps;
    int *head_cnt;
    const double *ss; /* consumer side */
    int ss_n;
    float eps;
    const float *nw; /* producer side */
    float *out32;
    double *ss_out;
    int gelu;      /* EPI_SWIGLU: the gate's activation is GELU-tanh (gemma) instead of SiLU */
    float softcap; /* EPI_STORE: y = softcap * tanh(y / softcap) when > 0 (gemma2's logits) */
};

/* y = W x (one activation vector). EPI_ADD: y += W x. EPI_SWIGLU: rows are interleaved gate/up
 * pairs and y[i] = silu(row 2i . x) * (row 2i+1 . x) (gelu_tanh with cuda_epi.gelu). */
cudaError_t cuda_matvec(const cuda_weight &w, const float *x, float *y, int epi, cudaStream_t s);
cudaError_t cuda_matvec_epi(const cuda_weight &w, const float *x, float *y, int epi,
                            const cuda_epi &e, cudaStream_t s);
/* 8-bit activations: x (n, n % 32 == 0) as blocks of 32, int8 q = rn(x * 127 / amax) in oq and
 * ods[b] = (d, d * sum q), d = amax / 127. cuda_matvec_q8 takes them for weights cuda_q8_ok
 * accepts (dp4a dot products); cuda_rmsnorm_q8 is RMSNorm of one row that also writes them. */
bool cuda_q8_ok(const cuda_weight &w); /* Q4_0, Q8_0, Q4_K, Q6_K in whole units */
cudaError_t cuda_quant_q8(const float *x, int64_t n, int8_t *oq, float2 *ods, cudaStream_t s);
cudaError_t cuda_matvec_q8(const cuda_weight &w, const int8_t *xq, const float2 *xds, float *y,
                           int epi, const cuda_epi &e, cudaStream_t s);
cudaError_t cuda_rmsnorm_q8(const float *x, const float *w, int n, float eps, float *out32,
                            int8_t *oq, float2 *ods, cudaStream_t s);
/* Small batches: y + b * ldy = W x[b] (or += with add) for nb <= CUDA_MVB_MAX activation rows x
 * (nb, cols) f32, every weight unit read once for all rows (cuda_matvec_batch.cu). F32, F16, Q4_0,
 * Q8_0, Q4_K, Q6_K; cudaErrorNotSupported for other types (run cuda_matvec per row). */
#define CUDA_MVB_MAX 16
cudaError_t cuda_matvec_batch(const cuda_weight &w, const float *x, int nb, float *y, int64_t ldy,
                              bool add, cudaStream_t s);
/* The same on 8-bit activations (cuda_matvec_q8.cu): nb rows quantized by cuda_quant_q8 over nb *
 * cols values (xq in row order, xds nb * cols / 32 blocks), dp4a dot products; the types
 * cuda_q8_ok takes, else cudaErrorNotSupported. Opt-in (LMC_CUDA_BATCH_Q8=1) until measured. */
cudaError_t cuda_matvec_batch_q8(const cuda_weight &w, const int8_t *xq, const float2 *xds, int nb,
                                 float *y, int64_t ldy, bool add, cudaStream_t s);
/* Small batches on tensor cores (cuda_matmul_mma.cu): y + b * ldy = W x16[b] (or += with add) for
 * 1 <= n <= CUDA_MMA_MAX f16 activation rows (n, cols), each weight unit read once and dequantized
 * to f16 in registers, f32 accumulation. Matrices of few rows are split over K into part (at most
 * part_cap floats; NULL: no split) and summed by a second kernel; ksplit 0 picks the split. Q4_0,
 * Q8_0, Q4_K, Q6_K with cols a multiple of 256 (Q6_K: 512); else cudaErrorNotSupported. */
#define CUDA_MMA_MAX 64
cudaError_t cuda_matmul_mma(const cuda_weight &w, const __half *x16, int n, float *y, int64_t ldy,
                            bool add, float *part, int64_t part_cap, int ksplit, cudaStream_t s);
/* The multi-sequence step's kernels (cuda_batch_ops.cu). Per token t: pos[t], kvrow[t] (the cache
 * row its k/v go to: seq * n_ctx + pos) and kv0[t] (the cache row of its sequence's first attended
 * position; < 0: the token's attention is done elsewhere and skipped). */
cudaError_t cuda_rope_kv_rows(float *qkv, int n_tok, const int32_t *pos, const int32_t *kvrow,
                              int n_head, int n_head_kv, int head_dim, int n_rot, float base,
                              const cuda_kv &kv, cudaStream_t s);
/* Token t attends to cache rows kv0[t]..kvrow[t] of its sequence (online softmax, one block per
 * head, token and CUDA_ATT_CHUNK keys); out (n_tok, n_head * head_dim). n_split: the most splits
 * of CUDA_ATT_CHUNK keys any token has (<= max_split; 0: no splits, one block over all of a
 * token's keys); tokens of several splits merge them through part (n_tok * n_head * max_split *
 * (head_dim + 2) floats) in a second kernel. */
cudaError_t cuda_attention_rows(const float *q, int q_stride, int n_tok, const int32_t *kv0,
                                const int32_t *kvrow, const cuda_kv &kv, int n_head, int n_head_kv,
                                int head_dim, float *part, int max_split, int n_split, float *out,
                                cudaStream_t s);
/* out[i] = x[rows[i]] for n rows of n_embd floats. */
cudaError_t cuda_gather_rows(const float *x, const int32_t *rows, int n, int n_embd, float *out,
                             cudaStream_t s);
/* Rows [row0, row0+n_rows) of W as f16 into out (n_rows, cols). */
cudaError_t cuda_dequant_f16(const cuda_weight &w, int64_t row0, int64_t n_rows, __half *out,
                             cudaStream_t s);
cudaError_t cuda_dequant_f32(const cuda_weight &w, float *out, cudaStream_t s);
/* out[t] = row tok[t] of W (embedding lookup) times scale (gemma's embedding scale; 1: none),
 * n_tok tokens, ids read on the device. */
cudaError_t cuda_get_rows(const cuda_weight &w, const int32_t *tok, int n_tok, float *out,
                          cudaStream_t s, float scale = 1.f);
/* RMSNorm of n_tok rows of n: out32 and/or out16 (either may be NULL). */
cudaError_t cuda_rmsnorm(const float *x, const float *w, int n, int n_tok, float eps, float *out32,
                         __half *out16, cudaStream_t s);
/* Rotates q and k in qkv rows (n_tok, (n_head + 2 n_head_kv) * head_dim) at positions *pos + t and
 * stores k, v into the layer's caches (n_ctx, n_head_kv * head_dim). */
cudaError_t cuda_rope_kv(float *qkv, int n_tok, const int32_t *pos, int n_head, int n_head_kv,
                         int head_dim, int n_rot, float base, const cuda_kv &kv, cudaStream_t s);
/* Rope alone on (n_head, head_dim) at a host position (op tests). */
cudaError_t cuda_rope(float *x, int n_head, int head_dim, int n_rot, int pos, float base,
                      cudaStream_t s);
/* Attention for n_tok queries whose rows sit in q (row stride q_stride floats); token t attends
 * to cache positions 0..*pos+t. part: (n_tok, n_head, max_split, head_dim + 2) floats; counters:
 * n_tok * n_head ints, zero before the first call (left zero after each). The last split block of
 * each head merges the splits into out; with oq/ods (one token, head_dim % 32 == 0) it also writes
 * the output's 8-bit activation blocks. */
#ifndef CUDA_ATT_CHUNK /* keys per split (a build may set 64: half the threads a decode block) */
#define CUDA_ATT_CHUNK 128
#endif
cudaError_t cuda_attention(const float *q, int q_stride, int n_tok, const int32_t *pos,
                           const cuda_kv &kv, int n_head, int n_head_kv, int head_dim,
                           int max_split, float *part, int *counters, float *out, int8_t *oq,
                           float2 *ods, cudaStream_t s);
/* Softmax of score rows S (row = head * nq + t, nkv each) in place, query t at position pos0 + t
 * seeing keys 0..pos0+t; the keys after it become 0. */
cudaError_t cuda_causal_softmax(float *S, int rows, int nq, int nkv, int pos0, cudaStream_t s);
/* Prompt attention through cuBLAS (TF32 tensor cores): for n_tok queries at positions pos0.. (rows
 * of q with stride q_stride), S = Q K^T / sqrt(head_dim) per head into the scratch S (s_floats
 * floats), causal softmax, out = P V (rows with stride out_stride). Queries go in chunks that fit
 * S; *done is false (nothing launched) when fewer than 16 query rows fit and the prompt is longer.
 * An f16 cache: its rows 0..pos0+n_tok-1 are first widened to f32 into kv32 (2 (pos0 + n_tok)
 * kv_dim floats: K, then V; exact, and TF32 keeps f16's 10 mantissa bits), then the same GEMMs.
 */
lmc_status cuda_attention_gemm(cublasHandle_t h, const float *q, int q_stride, int n_tok, int pos0,
                               const cuda_kv &kv, float *kv32, int n_head, int n_head_kv,
                               int head_dim, float *S, int64_t s_floats, float *out, int out_stride,
                               cudaStream_t s, bool *done);
/* out[t][i] = silu(g[t*row + i*step]) * g[t*row + i*step + uoff]; out32 or out16. */
cudaError_t cuda_swiglu(const float *g, int n, int n_tok, int row, int step, int uoff, float *out32,
                        __half *out16, cudaStream_t s);
/* The KV shift: n cache rows of src copied to dst (both of src's element type), each key turned
 * by delta positions (in f32, rounded again for f16, as the CPU's shift). */
cudaError_t cuda_kv_rotate_copy(const cuda_kv &src, const cuda_kv &dst, int n, int kv_dim, int hd,
                                int n_rot, int delta, const double *freq, cudaStream_t s);
cudaError_t cuda_f32_to_f16(const float *x, int64_t n, __half *out, cudaStream_t s);

/* Host helpers (cuda_ops.cu; cuda_gemm in cuda_matmul.cu). */
lmc_status cuda_check(cudaError_t e, const char *what);
/* n KV cache elements of device memory d (f32, or f16 widened exactly) into host floats h. */
lmc_status cuda_kv_copy_out(float *h, const void *d, size_t n, bool f16);
/* Host-side error flow of a function with `lmc_status st` and a `done:` label: TRY runs an lmc
 * call, TRYC a CUDA runtime call, and either jumps to done on failure. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        st = (expr);                                                                               \
        if (st != LMC_OK) goto done;                                                               \
    } while (0)
#define TRYC(expr, what) TRY(cuda_check((expr), what))
lmc_status cuda_weight_shape(cuda_weight *w, uint32_t type, int64_t rows, int64_t cols,
                             const char *name);
lmc_status cuda_weight_alloc(cuda_weight *w);
void cuda_weight_release(cuda_weight *w);
void cuda_weight_row_bytes(const cuda_weight *w, uint64_t *qb, uint64_t *db);
lmc_status cuda_weight_copy_rows(cuda_weight *w, const uint8_t *stage_q, const uint8_t *stage_d,
                                 int64_t row0, int64_t n, cudaStream_t s);
/* y (n_tok, rows; leading dim ldc) = beta*y + X W^T through cuBLAS on f16 (W dequantized into w16).
 */
lmc_status cuda_gemm(cublasHandle_t h, const cuda_weight &w, const __half *x16, int n_tok, float *y,
                     int ldc, float beta, __half *w16, cudaStream_t s);

#endif
