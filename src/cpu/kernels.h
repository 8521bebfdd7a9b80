/* kernels.h — the CPU kernel tables behind cpu_matmul and the f32 vector helpers: per weight type a
 * "gemm" over a tile of weight rows x tokens, with the activations first converted once per matmul
 * into the format the type wants (f32, or 8-bit blocks for integer dot products), plus the f32 dot
 * and axpy of attention and their many-key forms (att_dot, att_wsum) for blocked attention. One
 * table per ISA, one CPU feature probe, chosen once per process. It does not thread and does not
 * know about tensors: cpu_matmul does.
 *
 * Env LMC_KERNELS chooses the table (the one place its values are defined):
 *   ref     no gemm at all: every matmul takes cpu_matmul's exact path (each weight row dequantized
 *           to the reference dequantizer's values, dotted with the f32 activations by the portable
 *           f32 dot), and the portable dot/axpy in attention: results that do not depend on the
 *           CPU's SIMD extensions. Slower; for verification.
 *   scalar  the portable C kernels (what a CPU without AVX2 runs), portable dot/axpy.
 *   avx2    AVX2 + FMA + F16C kernels (on Zen 4 with avx2np's for the float types and K-quants).
 *   avx512  AVX-512 (F, BW, VL, DQ, VNNI, BF16, VBMI) kernels.
 *   avx2np, avx512np  the same without software prefetch in decode's weight streams (avx512np:
 *           and one weight row at a time in the K-quant and Q4_0 decode tiles).
 *   zen4    avx512, with decode (< 4 tokens) of F32/F16/BF16 through avx2np's kernels and of the
 *           K-quants through avx512np's (kernels.c says why); where the CPU has avx512.
 *   zen3    avx2, with larger register tiles for the decode of Q4_0 and Q6_K, the Q6_K and
 *           Q4_K/Q5_K prompts (kernels_zen3_avx2.c), and prompts (4+ tokens) of F32, F16, BF16,
 *           Q8_0 and Q4_0 over weight panels packed at run time (kernels_panel_avx2.c; kernels.c);
 *           where the CPU has avx2.
 * Unset, empty, unknown or not supported by this CPU: the best the CPU supports, by its features
 * and microarchitecture: zen4 on AMD family 25 with AVX-512 (Zen 4), zen3 on AMD family 25 with
 * AVX2 only (Zen 3), else avx512, avx2, scalar.
 * Types a table has no gemm for (Q2_K, Q3_K, the IQ types, ...) take the exact path under every
 * table. */
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
/* f32 dot product of n floats, in an order fixed by the table (not by the caller or alignment). */
typedef float (*kern_dot_fn)(const float *a, const float *b, int64_t n);
/* y += a * x over n floats. */
typedef void (*kern_axpy_fn)(float *y, float a, const float *x, int64_t n);

/* Attention over a range of cached keys and values of one KV head, for one query row. The cache
 * holds them as f32, IEEE half (KV_F16: converted to f32 on load, exactly) or GGML's block_q8_0
 * (KV_Q8_0: 32 int8 codes and an IEEE half scale d per 32 elements, 34 bytes); rows are `stride`
 * elements apart (a multiple of 32 for Q8_0, as are hd and the offset of k and v in the cache: the
 * kernels turn it into bytes with kern_kv_bytes). F32 and F16 keep the bits of the table's dot_f32
 * / axpy_f32 calls they replace (the reference attention of src/cpu/forward.c is written with
 * those), so blocking attention changes no result:
 *   att_dot:  out[t] = dot_f32(q, k_t, hd) * scale for t < n (k_t converted to f32 first)
 *   att_wsum: axpy_f32(out, w[t], v_t, hd) for t = 0, 1, ..., n-1 in that order
 * Q8_0 does what ggml's CPU attention does with a q8_0 cache (whose vec_dot_type is q8_0):
 *   att_dot:  q is quantized to 8-bit blocks as KX_Q8_0 (kern_quantize_x: the cache's quantizer),
 *             then out[t] = (sum over blocks b, in order, of (float)isum_b * (dq_b * dk_b)) * scale
 *             with isum_b the exact int32 dot of block b's codes and dq_b, dk_b the blocks' scales
 *             as f32: one f32 multiply and one add per block, never fused. The same bits on every
 *             table (the integer sums are exact; SIMD only reorders them).
 *   att_wsum: axpy_f32(out, w[t], dequantized v_t, hd), as F16 (q * d is exact in f32). */
typedef enum { KV_F32 = 0, KV_F16 = 1, KV_Q8_0 = 2, KV_TYPE_COUNT } kern_kvtype;
/* The largest hd (arch.c caps head_dim at 1024): the f32 copy of one half row fits this. */
#define KERN_ATT_MAX_HD 1024
/* Bytes of n cached elements of a KV type (Q8_0: n a multiple of 32). */
static inline size_t kern_kv_bytes(int32_t type, size_t n) {
    return type == KV_Q8_0 ? n / 32 * 34 : type == KV_F16 ? 2 * n : 4 * n;
}
/* n f32 values (n % 32 == 0) into n/32 block_q8_0 at dst, quantized as KX_Q8_0 activations are
 * (kern_quantize_x): d = max|x|/127 stored as an IEEE half (round to nearest even), q =
 * nearest-even(x * (127/max|x|)). These are the bytes of ggml's quantize_row_q8_0 on x86 (its
 * AVX/AVX2 path, which llama.cpp's CPU backend stores a q8_0 cache with); ggml's portable
 * quantize_row_q8_0_ref (roundf(x / d)) can differ by one code at a tie. */
void kern_kv_quantize_q8_0(const float *x, void *dst, int64_t n);
typedef void (*kern_att_dot_fn)(const float *q, const void *k, size_t stride, int64_t n, int64_t hd,
                                float scale, float *out);
typedef void (*kern_att_wsum_fn)(float *out, const float *w, const void *v, size_t stride,
                                 int64_t n, int64_t hd);

typedef struct kern_table {
    const char *name;                       /* "ref", "scalar", "avx2", "avx512" */
    kern_gemm_fn gemm[LMC_TYPE_COUNT];      /* NULL: the type takes cpu_matmul's exact path */
    kern_xfmt xfmt[LMC_TYPE_COUNT];         /* the activation format gemm[type] reads */
    kern_dot_fn dot_f32;                    /* attention scores */
    kern_axpy_fn axpy_f32;                  /* attention's weighted sum of values */
    kern_att_dot_fn att_dot[KV_TYPE_COUNT]; /* the same, many keys per call, by cache type */
    kern_att_wsum_fn att_wsum[KV_TYPE_COUNT];
} kern_table;

/* The table for this process (env LMC_KERNELS, see above), chosen once; never NULL. Its name is the
 * kernel set's name ("ref", "scalar", "avx2", "avx512"). */
const kern_table *kern_best(void);
/* "vendor family F model M (name of the default table)" of this CPU, for benchmark output. */
const char *kern_cpu_description(void);
/* A named table ("ref" too), or NULL when unknown or not supported by this CPU. */
const kern_table *kern_named(const char *name);

/* cpu_matmul through the given table instead of kern_best()'s (&kern_table_ref: the exact path),
 * for benchmarks and tests that compare tables in one process (defined in matmul.c). */
struct gguf_tensor;
struct tp_pool;
void cpu_matmul_with(const kern_table *kt, const struct gguf_tensor *W, const float *x, float *y,
                     int n_tok, struct tp_pool *pool);

/* The portable f32 dot and axpy: the exact path's row dots, and the ref and scalar tables' dot_f32
 * / axpy_f32. The dot's result is defined by kern_dot_f32_c (16 partial sums in a fixed order, each
 * product rounded before it is added: no FMA); kern_dot_f32_portable gives the same bits through
 * AVX where the CPU has AVX2, so its results do not depend on the CPU either. */
float kern_dot_f32_portable(const float *a, const float *b, int64_t n);
float kern_dot_f32_c(const float *a, const float *b, int64_t n);
float kern_dot_f32_portable_avx2(const float *a, const float *b, int64_t n); /* kernels_avx2.c */
void kern_axpy_f32_portable(float *y, float a, const float *x, int64_t n);
/* att_dot / att_wsum of the ref and scalar tables: loops over kern_dot_f32_portable and
 * kern_axpy_f32_portable (a half row converted into a local f32 row first). */
void kern_att_dot_portable_f32(const float *q, const void *k, size_t stride, int64_t n, int64_t hd,
                               float scale, float *out);
void kern_att_dot_portable_f16(const float *q, const void *k, size_t stride, int64_t n, int64_t hd,
                               float scale, float *out);
void kern_att_wsum_portable_f32(float *out, const float *w, const void *v, size_t stride, int64_t n,
                                int64_t hd);
void kern_att_wsum_portable_f16(float *out, const float *w, const void *v, size_t stride, int64_t n,
                                int64_t hd);
void kern_att_dot_portable_q8_0(const float *q, const void *k, size_t stride, int64_t n, int64_t hd,
                                float scale, float *out);
void kern_att_wsum_portable_q8_0(float *out, const float *w, const void *v, size_t stride,
                                 int64_t n, int64_t hd);

/* Dequantizes n weights of a row of the given type (any type lmc_dequantize takes) into dst: the
 * same values as lmc_dequantize, bit for bit, through SIMD code where the CPU has it for the type
 * (F16, BF16, Q8_0, Q4_0 with AVX2; whatever LMC_KERNELS says, as the values do not change). NaN
 * weights stay NaN, their payload aside. The exact path's dequantizer. */
void kern_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);
typedef void (*kern_deq_fn)(const void *src, float *dst, int64_t n);
/* kern_dot_f32_portable(dequantized row, x, n) in one pass, the same bits (for decode, where the
 * dequantization pass is not shared by several tokens); NULL where the CPU has none for the type
 * (the exact path then dequantizes the row first). */
typedef float (*kern_xdot_fn)(const void *row, const float *x, int64_t n);
kern_xdot_fn kern_exact_dot(uint32_t type);

/* Bytes of one activation row of K values in format f (a multiple of 64; 0 if K does not fit f). */
size_t kern_x_row_bytes(kern_xfmt f, int64_t K);
/* Converts one row of K f32 activations into format f at dst (kern_x_row_bytes(f, K) bytes). */
void kern_quantize_x(kern_xfmt f, const float *x, uint8_t *dst, int64_t K);

/* The per-ISA tables (defined in kernels.c, kernels_avx2.c, kernels_avx512.c; the fill functions
 * are called once, by kern_best / kern_named, and only when the CPU has the ISA). */
extern const kern_table kern_table_ref;
extern const kern_table kern_table_scalar;
void kern_fill_avx2(kern_table *t);
void kern_fill_avx512(kern_table *t);
void kern_fill_avx2np(kern_table *t);    /* kernels_np_avx2.c: avx2 without software prefetch */
void kern_fill_avx512np(kern_table *t);  /* kernels_np_avx512.c: avx512 likewise (decode) */
void kern_fill_zen3_avx2(kern_table *t); /* kernels_zen3_avx2.c: avx2 with larger tiles */
/* kernels_panel_avx2.c: replaces the gemms of F32, F16, BF16, Q8_0 and Q4_0 with prompt kernels
 * over weight panels packed at run time (for batches of several tokens; same activation formats) */
void kern_fill_panel_avx2(kern_table *t);
/* kernels_avx2.c: kern_quantize_x for KX_Q8_0 / KX_Q8_K, the same bytes (where the CPU has AVX2) */
void kern_quantize_x_avx2(kern_xfmt f, const float *x, uint8_t *dst, int64_t K);
void kern_fill_dequant_avx2(kern_deq_fn *deq,
                            kern_xdot_fn *xdot); /* the exact path's SIMD helpers */

#endif
