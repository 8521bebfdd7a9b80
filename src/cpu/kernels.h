/* kernels.h — the fast CPU matrix kernels behind cpu_matmul: per weight type a "gemm" over a tile of
 * weight rows x tokens, with the activations first converted once per matmul into the format the type
 * wants (f32, or 8-bit blocks for integer dot products). One table per ISA (scalar, AVX2, AVX-512 +
 * VNNI), chosen at run time. It does not thread and does not know about tensors: cpu_matmul does. */
#ifndef LMC_CPU_KERNELS_H
#define LMC_CPU_KERNELS_H

#include "quant.h"

#include <stddef.h>
#include <stdint.h>

/* Activation formats. Each is one row of K activations, laid out as:
 *  KX_F32:  float x[K].
 *  KX_Q8_0: int8 q[K] | float d[K/32] | int32 s[K/32]   (x ~ d[b]*q, s[b] = sum of block b's q;
 *           d is rounded to f16 precision, as ggml's Q8_0 activation blocks are). K % 32 == 0.
 *  KX_Q8_K: int8 q[K] | float d[K/256] | int16 bsum[K/16] (bsum: sums of 16 q). K % 256 == 0.
 * q = round-to-nearest-even(x / d) with d = max|x| / 127 over the block (|q| <= 127). */
typedef enum { KX_F32 = 0, KX_Q8_0, KX_Q8_K } kern_xfmt;

/* y[t*ldy + r] = dot(weight row r, activation row t) for r < nr, t < nt. Weight rows are w_stride
 * bytes apart (the GGUF rows, used in place), activation rows x_stride bytes apart. */
typedef void (*kern_gemm_fn)(int64_t K, const uint8_t *w, size_t w_stride, int nr, const uint8_t *x,
                             size_t x_stride, int nt, float *y, int64_t ldy);

typedef struct {
    const char *name;                       /* "scalar", "avx2", "avx512" */
    kern_gemm_fn gemm[LMC_TYPE_COUNT];      /* NULL: type not handled by this table */
    kern_xfmt xfmt[LMC_TYPE_COUNT];         /* the activation format gemm[type] reads */
} kern_table;

/* The table for this process: env LMC_KERNELS=scalar|avx2|avx512 when set and supported by the CPU,
 * else the best the CPU supports. ("ref" is handled by cpu_matmul: the exact reference path; then this
 * returns NULL.) Chosen once. */
const kern_table *kern_best(void);
/* A named table, or NULL when unknown or not supported by this CPU. */
const kern_table *kern_named(const char *name);

/* Bytes of one activation row of K values in format f (a multiple of 64; 0 if K does not fit f). */
size_t kern_x_row_bytes(kern_xfmt f, int64_t K);
/* Converts one row of K f32 activations into format f at dst (kern_x_row_bytes(f, K) bytes). */
void kern_quantize_x(kern_xfmt f, const float *x, uint8_t *dst, int64_t K);

/* The per-ISA tables (defined in kernels.c, kernels_avx2.c, kernels_avx512.c). */
extern const kern_table kern_table_scalar;
void kern_fill_avx2(kern_table *t);
void kern_fill_avx512(kern_table *t);

#endif
