/* matmul_kernels.h — the per-ISA row kernels cpu_matmul chooses from at run time (internal to
 * src/cpu/). A kernel computes the f32 dot product of one weight row (in its stored type) with n
 * activations. */
#ifndef LMC_CPU_MATMUL_KERNELS_H
#define LMC_CPU_MATMUL_KERNELS_H

#include <stdint.h>

typedef float (*cpu_row_dot_fn)(const void *row, const float *x, int64_t n);

/* matmul_avx2.c: the AVX2+FMA+F16C kernel for a type, or NULL when it has none. Only call when the
 * CPU supports those extensions. */
cpu_row_dot_fn cpu_row_dot_avx2(uint32_t type);
float cpu_dot_f32_avx2(const float *a, const float *b, int64_t n);
void cpu_axpy_f32_avx2(float *y, float a, const float *x, int64_t n);

#endif
