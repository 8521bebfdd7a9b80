/* forward.h — the CPU backend: the reference llama forward pass over a batch of tokens, and the
 * op-level functions it is built from (exported so other backends can be compared with them op by op). */
#ifndef LMC_CPU_FORWARD_H
#define LMC_CPU_FORWARD_H

#include "context.h"
#include <stdint.h>

/* out = x / sqrt(mean(x^2) + eps) * w for one row of n values (out may equal x). */
void cpu_rmsnorm(const float *x, const float *w, float *out, int32_t n, float eps);
/* Rotates n_heads heads of head_dim values in place by position angles: llama's normal mode, pair
 * (v[2i], v[2i+1]) turned by theta_i = pos * base^(-2i/head_dim); cs holds (cos, sin) of theta_i for
 * i < head_dim/2 (see cpu_rope_cos_sin). */
void cpu_rope(float *v, int32_t n_heads, int32_t head_dim, const float *cs);
/* cs[2i], cs[2i+1] = cos, sin of pos * inv_freq[i] for i < head_dim/2, computed in double. */
void cpu_rope_cos_sin(double pos, const double *inv_freq, int32_t head_dim, float *cs);
/* out = silu(gate) * up, n values (out may alias gate). */
void cpu_swiglu(const float *gate, const float *up, float *out, int64_t n);

#endif
