/* vmath.h — exp and tanh over arrays of floats, vectorized: the activation functions of the CPU
 * forward pass (SiLU's exp, GELU-tanh, the soft-caps) without a libm call per value. Within 2 ulp
 * of the exact exp and tanh over every float (tests/test_vmath.c sweeps them against libm's double
 * functions); exp over/underflows to inf / 0 (subnormals rounded once), tanh saturates to +-1 and
 * is x itself for tiny x; +-0, +-inf and NaN give what libm gives. One C source (vmath_body.h)
 * compiled twice: for the baseline x86-64 ISA (vmath.c) and for AVX2 (vmath_avx2.c), the latter
 * taken where the CPU has it. Both give the same bits for every input, so the choice changes speed
 * only (it is no kernel table of kernels.h: LMC_KERNELS does not move it). */
#ifndef LMC_CPU_VMATH_H
#define LMC_CPU_VMATH_H

#include <stdint.h>

/* y[i] = exp(x[i]) for i < n; y may be x (in place), otherwise the two must not overlap. */
void vmath_exp(float *y, const float *x, int64_t n);
/* y[i] = tanh(x[i]) for i < n; likewise. */
void vmath_tanh(float *y, const float *x, int64_t n);

/* The two copies, for tests and benchmarks: the baseline one runs anywhere, the AVX2 one only where
 * vmath_have_avx2() (on a CPU without AVX2 it would fault). */
void vmath_exp_c(float *y, const float *x, int64_t n);
void vmath_tanh_c(float *y, const float *x, int64_t n);
void vmath_exp_avx2(float *y, const float *x, int64_t n);
void vmath_tanh_avx2(float *y, const float *x, int64_t n);
int vmath_have_avx2(void);

#endif
