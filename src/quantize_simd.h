/* quantize_simd.h — SIMD variants of quantize.c's searches, bit-identical to the scalar ones (each
 * lane runs one sub-block's scalar arithmetic). Inputs are transposed: element i of lane j at
 * [8*i + j]. */
#ifndef LMC_QUANTIZE_SIMD_H
#define LMC_QUANTIZE_SIMD_H

/* fit_affine for 8 sub-blocks of n (<= 32) weights: xt, wt (n*8); Lt gets the levels as floats
 * (n*8), the_min and scale_out 8 values. */
void quant_fit_affine_x8_avx2(int n, int nmax, const float *xt, const float *wt, float *Lt,
                              float *the_min, float *scale_out, float rmin, float rdelta, int nstep,
                              int use_mad);

/* fit_symmetric (Q6_K's make_qx_quants with x*x weights) for 8 sub-blocks of n (<= 16) weights:
 * Lt gets level + nmax as floats (n*8), scale_out 8 values. */
void quant_fit_symmetric_x8_avx2(int n, int nmax, const float *xt, float *Lt, float *scale_out);

#endif
