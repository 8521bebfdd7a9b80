/* cuda_block_ops.h — C entry points of the model families' CUDA block operations one at a time
 * (cuda_block_ops.cuh), on host buffers, for the op-level tests against the CPU reference ops
 * (tests/test_cuda_block_ops.c). Only in the CUDA build. */
#ifndef LMC_CUDA_BLOCK_OPS_H
#define LMC_CUDA_BLOCK_OPS_H

#include "lmc.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* n_tok rows of qkv ((n_head + 2 n_head_kv) * hd each, in place) at positions pos0..: bias (may be
 * NULL), per-head RMSNorm with q_norm/k_norm (both NULL or both set), RoPE of the first n_rot dims
 * of each head with freq (n_rot/2 doubles) NEOX or normal pairing, cos and sin times attn_factor;
 * the rotated k and the v of each row also come back in k_out/v_out (n_tok, n_head_kv * hd) as the
 * cache holds them (kv_f16: an f16 cache, its elements widened to f32). */
lmc_status lmc_cuda_op_qkv_post(float *qkv, int32_t n_tok, int32_t pos0, int32_t n_head,
                                int32_t n_head_kv, int32_t hd, int32_t n_rot, const float *bias,
                                const float *q_norm, const float *k_norm, float eps, int neox,
                                const double *freq, float attn_factor, int kv_f16, float *k_out,
                                float *v_out);
/* out[i] = act(g[i]) * u[i], act gelu_tanh (gelu != 0) or silu. */
lmc_status lmc_cuda_op_gated_act(int gelu, const float *g, const float *u, int32_t n, float *out);
/* h[t] += rmsnorm(y[t]) * w for n_tok rows of n. */
lmc_status lmc_cuda_op_post_norm_add(const float *y, const float *w, int32_t n, int32_t n_tok,
                                     float eps, float *h);
/* The fused form the decode step runs: h[t] += rmsnorm(y[t]) * wp, then out[t] = rmsnorm(h[t]) * wn
 * for n_tok rows of n; with q and d set (n % 32 == 0) also out's 8-bit blocks: codes q (n_tok * n)
 * and scales d (n_tok * n / 32). */
lmc_status lmc_cuda_op_post_norm_add_norm(const float *y, const float *wp, const float *wn,
                                          int32_t n, int32_t n_tok, float eps, float *h, float *out,
                                          int8_t *q, float *d);
/* x = cap * tanh(x / cap) (cap > 0), or x *= scale (cap == 0), in place. */
lmc_status lmc_cuda_op_softcap_scale(float *x, int64_t n, float cap, float scale);
/* Attention of n_tok queries q (n_tok, n_head * hd) at positions pos0.. over keys/values
 * (pos0 + n_tok, n_head_kv * hd) with a query scale, a score soft-cap (0: none) and a sliding
 * window (0: none), through the split-context kernel (gemm == 0), the cuBLAS prompt path (1) or
 * the several-sequence step's per-token kernel (2: cuda_attention_rows_ex, one block per head
 * and token; 3: the same split in blocks of CUDA_ATT_CHUNK keys and merged). kv_f16: k and v go
 * into an f16 cache, each rounded to nearest even (lmc_f32_to_f16) on the way. */
lmc_status lmc_cuda_op_attention_variant(const float *q, const float *k, const float *v,
                                         int32_t n_head, int32_t n_head_kv, int32_t hd,
                                         int32_t pos0, int32_t n_tok, float scale, float softcap,
                                         int32_t window, int gemm, int kv_f16, float *out);
/* The KV shift's rotation of n rows of keys (n, kv_dim) by delta positions (k in place); the first
 * n_rot dims of each head turn. kv_f16: k is rounded into an f16 cache first and comes back
 * widened; llama: through the llama block's kernel (cuda_kv_rotate_copy: normal pairing only)
 * instead of the families' one. */
lmc_status lmc_cuda_op_kv_rotate(float *k, int32_t n, int32_t kv_dim, int32_t hd, int32_t n_rot,
                                 int32_t delta, int neox, const double *freq, int kv_f16,
                                 int llama);

#ifdef __cplusplus
}
#endif

#endif
