/* cpu.h — the CPU kernels the forward pass is built from: the matrix multiply over any supported
 * weight type, and the small f32 vector helpers. The reference kernels define the semantics (weights
 * dequantized exactly, products summed in f32); faster kernels must stay equivalent to them. */
#ifndef LMC_CPU_H
#define LMC_CPU_H

#include "gguf.h"
#include "threadpool.h"
#include <stdint.h>

/* Bytes of per-thread scratch cpu_matmul needs for weights with rows of ne0 inputs. */
size_t cpu_matmul_scratch_bytes(int64_t ne0);

/* y = x W^T for a batch of tokens: x is (n_tok, W->ne[0]) and y is (n_tok, W->ne[1]), both
 * row-major f32. Threads split the output rows; every output element is computed by one thread in a
 * fixed order, so the result does not depend on the thread count. Each weight row is dequantized once
 * per call (into the calling thread's scratch) and dotted with every token. */
void cpu_matmul(const gguf_tensor *W, const float *x, float *y, int n_tok, tp_pool *pool);
/* The same through lmc_vec_dot_ref one row and one token at a time: slow, the semantics to test
 * against. */
void cpu_matmul_ref(const gguf_tensor *W, const float *x, float *y, int n_tok, tp_pool *pool);

/* f32 dot product in a fixed order of 16 partial sums (vectorizable). */
float cpu_dot_f32(const float *a, const float *b, int64_t n);

#endif
