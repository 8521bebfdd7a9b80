/* cpu.h — the CPU kernels the forward pass is built from: the matrix multiply over any supported
 * weight type, and the small f32 vector helpers. The reference kernels define the semantics
 * (weights dequantized exactly, products summed in f32); faster kernels must stay equivalent to
 * them. */
#ifndef LMC_CPU_H
#define LMC_CPU_H

#include "gguf.h"
#include "threadpool.h"
#include <stdint.h>

/* Bytes of per-thread scratch cpu_matmul needs for weights with rows of at most ne0 inputs and at
 * most n_batch tokens per call (thread 0's holds the batch's 8-bit activations). */
size_t cpu_matmul_scratch_bytes(int64_t ne0, int32_t n_batch);

/* y = x W^T for a batch of tokens: x is (n_tok, W->ne[0]) and y is (n_tok, W->ne[1]), both
 * row-major f32. Threads split the output rows; every output element is computed by one thread in a
 * fixed order, so the result does not depend on the thread count. A token's outputs do not depend
 * on the other tokens of the batch, except that kernels switch layouts at 4 tokens (decode below:
 * one weight row at a time; F16 again past one token chunk), which adds the same products or
 * (exact) block sums in another f32 order. Quantized weights (where the kernels of kernels.h cover
 * the type) see the activations rounded to 8-bit blocks, as ggml does; float weights see them
 * exactly. Env LMC_KERNELS chooses the kernels (kernels.h says how); LMC_KERNELS=ref sends every
 * type through the exact path (reference dequantization, f32 activations). */
void cpu_matmul(const gguf_tensor *W, const float *x, float *y, int n_tok, tp_pool *pool);
/* y[i] = x W[i]^T for n_w <= 4 weights with the same input width (q/k/v, gate/up): the activations
 * are converted once and one parallel pass covers all rows. Same results as n_w cpu_matmul calls.
 */
void cpu_matmul_multi(const gguf_tensor *const *W, float *const *y, int n_w, const float *x,
                      int n_tok, tp_pool *pool);
/* The same through lmc_vec_dot_ref one row and one token at a time: slow, the semantics to test
 * against. */
void cpu_matmul_ref(const gguf_tensor *W, const float *x, float *y, int n_tok, tp_pool *pool);

/* f32 dot product in a fixed order of 16 partial sums, through the kernel table (kernels.h: with
 * FMA where the CPU has it, the portable one under LMC_KERNELS=ref or scalar). */
float cpu_dot_f32(const float *a, const float *b, int64_t n);
/* y += a * x over n floats (likewise). */
void cpu_axpy_f32(float *y, float a, const float *x, int64_t n);

#endif
