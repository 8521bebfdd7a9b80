/* kernels.c — activation formats (quantization into 8-bit blocks), the portable scalar kernels and
 * f32 helpers, and the run-time choice of kernel table (the one CPU feature probe). The scalar
 * kernels define what the SIMD ones compute: the same integer block sums (exact), combined with the
 * block scales in f32. They are not the exact reference (that is lmc_vec_dot_ref, which uses
 * unquantized activations, and cpu_matmul's exact path). */
#include "kernels.h"

#include "util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- activation formats -------------------------------------------------------------------------
 */

size_t kern_x_row_bytes(kern_xfmt f, int64_t K) {
    size_t n = 0;
    switch (f) {
    case KX_F32:
        n = (size_t)K * 4;
        break;
    case KX_Q8_0:
        if (K % 32) return 0;
        n = (size_t)K + (size_t)(K / 32) * 8;
        break;
    case KX_Q8_K:
        if (K % 256) return 0;
        n = (size_t)K + (size_t)(K / 256) * 4 + (size_t)(K / 16) * 2;
        break;
    }
    return (n + 63) & ~(size_t)63;
}

/* Quantizes n values to int8 with d = max|x|/127; returns d (0 for an all-zero block). */
static float quant_block(const float *x, int8_t *q, int n, float *d_out, int f16_scale) {
    float amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        amax = a > amax
                   ? a
                   : amax; /* not fmaxf: a libm call per value where NaN handling is not wanted */
    }
    const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < n; i++)
        q[i] = (int8_t)nearbyintf(x[i] * id);
    *d_out = f16_scale ? lmc_f16_to_f32(lmc_f32_to_f16(d)) : d;
    return d;
}

static int g_quantize_avx2; /* kern_quantize_x through kern_quantize_x_avx2 (same bytes) */
static pthread_once_t g_once;
static void kern_init(void);

void kern_quantize_x(kern_xfmt f, const float *x, uint8_t *dst, int64_t K) {
    pthread_once(&g_once, kern_init);
#if defined(__x86_64__) || defined(__i386__)
    if (g_quantize_avx2 && f != KX_F32) {
        kern_quantize_x_avx2(f, x, dst, K);
        return;
    }
#endif
    switch (f) {
    case KX_F32:
        memcpy(dst, x, (size_t)K * 4);
        return;
    case KX_Q8_0: {
        int8_t *q = (int8_t *)dst;
        float *d = (float *)(dst + K);
        int32_t *s = (int32_t *)(dst + K + (K / 32) * 4);
        for (int64_t b = 0; b < K / 32; b++) {
            quant_block(x + 32 * b, q + 32 * b, 32, &d[b], 1);
            int32_t sum = 0;
            for (int i = 0; i < 32; i++)
                sum += q[32 * b + i];
            s[b] = sum;
        }
        return;
    }
    case KX_Q8_K: {
        int8_t *q = (int8_t *)dst;
        float *d = (float *)(dst + K);
        int16_t *bs = (int16_t *)(dst + K + (K / 256) * 4);
        for (int64_t b = 0; b < K / 256; b++)
            quant_block(x + 256 * b, q + 256 * b, 256, &d[b], 0);
        for (int64_t g = 0; g < K / 16; g++) {
            int sum = 0;
            for (int i = 0; i < 16; i++)
                sum += q[16 * g + i];
            bs[g] = (int16_t)sum;
        }
        return;
    }
    }
}

/* --- portable f32 helpers --------------------------------------------------------------------- */

/* GCC/Clang vector extension: 8 floats, lowered to whatever SIMD the target has (two SSE registers
 * on baseline x86-64). Keeps the dot product vectorized without -ffast-math or intrinsics. */
typedef float v8f __attribute__((vector_size(32)));

float kern_dot_f32_c(const float *a, const float *b, int64_t n) {
    v8f acc0 = {0}, acc1 = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f a0, a1, b0, b1;
        memcpy(&a0, a + i, sizeof a0);
        memcpy(&a1, a + i + 8, sizeof a1);
        memcpy(&b0, b + i, sizeof b0);
        memcpy(&b1, b + i + 8, sizeof b1);
        acc0 += a0 * b0;
        acc1 += a1 * b1;
    }
    acc0 += acc1;
    float s =
        ((acc0[0] + acc0[4]) + (acc0[1] + acc0[5])) + ((acc0[2] + acc0[6]) + (acc0[3] + acc0[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void kern_axpy_f32_portable(float *y, float a, const float *x, int64_t n) {
    const v8f av = {a, a, a, a, a, a, a, a};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f xv, yv;
        memcpy(&xv, x + i, sizeof xv);
        memcpy(&yv, y + i, sizeof yv);
        yv += av * xv;
        memcpy(y + i, &yv, sizeof yv);
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* One cache row of hd halves as f32 (hd <= KERN_ATT_MAX_HD). */
static void att_half_row(const void *src, float *dst, int64_t hd) {
    const uint16_t *h = src;
    for (int64_t d = 0; d < hd; d++)
        dst[d] = lmc_f16_to_f32(h[d]);
}

void kern_att_dot_portable_f32(const float *q, const void *k, size_t stride, int64_t n, int64_t hd,
                               float scale, float *out) {
    const float *kf = k;
    for (int64_t t = 0; t < n; t++)
        out[t] = kern_dot_f32_portable(q, kf + (size_t)t * stride, hd) * scale;
}

void kern_att_dot_portable_f16(const float *q, const void *k, size_t stride, int64_t n, int64_t hd,
                               float scale, float *out) {
    float row[KERN_ATT_MAX_HD];
    for (int64_t t = 0; t < n; t++) {
        att_half_row((const uint16_t *)k + (size_t)t * stride, row, hd);
        out[t] = kern_dot_f32_portable(q, row, hd) * scale;
    }
}

void kern_att_wsum_portable_f32(float *out, const float *w, const void *v, size_t stride, int64_t n,
                                int64_t hd) {
    const float *vf = v;
    for (int64_t t = 0; t < n; t++)
        kern_axpy_f32_portable(out, w[t], vf + (size_t)t * stride, hd);
}

void kern_att_wsum_portable_f16(float *out, const float *w, const void *v, size_t stride, int64_t n,
                                int64_t hd) {
    float row[KERN_ATT_MAX_HD];
    for (int64_t t = 0; t < n; t++) {
        att_half_row((const uint16_t *)v + (size_t)t * stride, row, hd);
        kern_axpy_f32_portable(out, w[t], row, hd);
    }
}

/* --- the Q8_0 KV cache --------------------------------------------------------------------------
 */

void kern_kv_quantize_q8_0(const float *x, void *dst, int64_t n) {
    /* through kern_quantize_x's KX_Q8_0 (its SIMD copy where the CPU has it, the same bytes), 256
     * values at a time, then d as the half it already is exactly */
    _Alignas(64) uint8_t tmp[256 + 8 * 8];
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n; i += 256) {
        const int64_t m = n - i < 256 ? n - i : 256;
        kern_quantize_x(KX_Q8_0, x + i, tmp, m);
        const float *d = (const float *)(tmp + m);
        for (int64_t b = 0; b < m / 32; b++, y++) {
            y->d = lmc_f32_to_f16(d[b]);
            memcpy(y->qs, tmp + 32 * b, 32);
        }
    }
}

void kern_att_dot_portable_q8_0(const float *q, const void *k, size_t stride, int64_t n, int64_t hd,
                                float scale, float *out) {
    _Alignas(64) uint8_t qx[KERN_ATT_MAX_HD + KERN_ATT_MAX_HD / 32 * 8];
    kern_quantize_x(KX_Q8_0, q, qx, hd);
    const int8_t *qq = (const int8_t *)qx;
    const float *qd = (const float *)(qx + hd);
    const size_t row = kern_kv_bytes(KV_Q8_0, stride);
    for (int64_t t = 0; t < n; t++) {
        const block_q8_0 *kb = (const block_q8_0 *)((const uint8_t *)k + (size_t)t * row);
        float s = 0.0f;
        for (int64_t b = 0; b < hd / 32; b++) {
            int32_t isum = 0;
            for (int i = 0; i < 32; i++)
                isum += (int32_t)qq[32 * b + i] * kb[b].qs[i];
            s += (float)isum * (qd[b] * lmc_f16_to_f32(kb[b].d));
        }
        out[t] = s * scale;
    }
}

void kern_att_wsum_portable_q8_0(float *out, const float *w, const void *v, size_t stride,
                                 int64_t n, int64_t hd) {
    float row[KERN_ATT_MAX_HD];
    const size_t rb = kern_kv_bytes(KV_Q8_0, stride);
    for (int64_t t = 0; t < n; t++) {
        lmc_dequantize(LMC_TYPE_Q8_0, (const uint8_t *)v + (size_t)t * rb, row, hd);
        kern_axpy_f32_portable(out, w[t], row, hd);
    }
}

/* --- scalar kernels -----------------------------------------------------------------------------
 */

static inline float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return lmc_f16_to_f32(h);
}

/* One (weight row, activation row) dot per type; the gemm loops over the tile. */
typedef float (*dot1_fn)(int64_t K, const uint8_t *w, const uint8_t *x);

static inline float f32_at(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}
static inline float bf16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return lmc_bf16_to_f32(h);
}

/* Float weights: ESZ bytes each, read by AT; summed in order. */
#define DOT1_FLOAT(NAME, ESZ, AT)                                                                  \
    static float dot1_##NAME(int64_t K, const uint8_t *w, const uint8_t *x) {                      \
        const float *xf = (const float *)x;                                                        \
        float s = 0.0f;                                                                            \
        for (int64_t i = 0; i < K; i++)                                                            \
            s += AT(w + (ESZ)*i) * xf[i];                                                          \
        return s;                                                                                  \
    }
DOT1_FLOAT(f32, 4, f32_at)
DOT1_FLOAT(f16, 2, f16_at)
DOT1_FLOAT(bf16, 2, bf16_at)

#define Q8_0_VIEW(K, x)                                                                            \
    const int8_t *xq = (const int8_t *)(x);                                                        \
    const float *xd = (const float *)((x) + (K));                                                  \
    const int32_t *xs = (const int32_t *)((x) + (K) + ((K) / 32) * 4)

/* Q8_0 keeps exact f32 activations (see kernels_x86.h): q * d is exact in f32. */
static float dot1_q8_0(int64_t K, const uint8_t *w, const uint8_t *x) {
    const float *xf = (const float *)x;
    float s = 0.0f;
    for (int64_t b = 0; b < K / 32; b++, w += sizeof(block_q8_0)) {
        const float d = f16_at(w);
        for (int i = 0; i < 32; i++)
            s += (float)(int8_t)w[2 + i] * d * xf[32 * b + i];
    }
    return s;
}

/* Q4_0/Q4_1/Q5_0/Q5_1: the unsigned 4/5-bit codes dotted with the int8 activations; Q4_0/Q5_0 then
 * subtract offset * s (their values are code - offset), Q4_1/Q5_1 add m * d_x * s. */
static inline void q4_codes(const uint8_t *qs, int *c) {
    for (int j = 0; j < 16; j++) {
        c[j] = qs[j] & 15;
        c[j + 16] = qs[j] >> 4;
    }
}
static inline void q5_codes(const uint8_t *qh4, const uint8_t *qs, int *c) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    q4_codes(qs, c);
    for (int j = 0; j < 32; j++)
        c[j] |= (int)((qh >> j) & 1) << 4;
}
static inline int32_t codes_dot(const int *c, const int8_t *xq) {
    int32_t isum = 0;
    for (int i = 0; i < 32; i++)
        isum += c[i] * xq[i];
    return isum;
}

/* Q4_0 / Q5_0: value = code - offset (8 / 16). */
static float dot1_q45_0(int64_t K, const uint8_t *w, const uint8_t *x, int five) {
    Q8_0_VIEW(K, x);
    const size_t bsz = five ? sizeof(block_q5_0) : sizeof(block_q4_0);
    const int32_t offset = five ? 16 : 8;
    float s = 0.0f;
    int c[32];
    for (int64_t b = 0; b < K / 32; b++, w += bsz) {
        if (five)
            q5_codes(w + 2, w + 6, c);
        else
            q4_codes(w + 2, c);
        s += f16_at(w) * xd[b] * (float)(codes_dot(c, xq + 32 * b) - offset * xs[b]);
    }
    return s;
}
static float dot1_q4_0(int64_t K, const uint8_t *w, const uint8_t *x) {
    return dot1_q45_0(K, w, x, 0);
}
static float dot1_q5_0(int64_t K, const uint8_t *w, const uint8_t *x) {
    return dot1_q45_0(K, w, x, 1);
}

/* Q4_1 keeps exact f32 activations (see kernels_x86.h). */
static float dot1_q4_1(int64_t K, const uint8_t *w, const uint8_t *x) {
    const float *xf = (const float *)x;
    float s = 0.0f;
    int c[32];
    for (int64_t b = 0; b < K / 32; b++, w += sizeof(block_q4_1)) {
        q4_codes(w + 4, c);
        const float d = f16_at(w), m = f16_at(w + 2);
        for (int i = 0; i < 32; i++)
            s += (d * (float)c[i] + m) * xf[32 * b + i];
    }
    return s;
}

static float dot1_q5_1(int64_t K, const uint8_t *w, const uint8_t *x) {
    Q8_0_VIEW(K, x);
    float s = 0.0f;
    int c[32];
    for (int64_t b = 0; b < K / 32; b++, w += sizeof(block_q5_1)) {
        q5_codes(w + 4, w + 8, c);
        s += f16_at(w) * xd[b] * (float)codes_dot(c, xq + 32 * b) +
             f16_at(w + 2) * xd[b] * (float)xs[b];
    }
    return s;
}

#define Q8_K_VIEW(K, x)                                                                            \
    const int8_t *xq = (const int8_t *)(x);                                                        \
    const float *xd = (const float *)((x) + (K));                                                  \
    const int16_t *xb = (const int16_t *)((x) + (K) + ((K) / 256) * 4)

/* Q4_K/Q5_K: 8 sub-blocks of 32 with 6-bit scale and min: sum_j sc_j*(codes.x)_j*d*dx
 * - dmin*dx*sum_j m_j*(sum of x in sub-block j). */
static inline void k_scales(const uint8_t *b, int *sc, int *m) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            sc[j] = b[j] & 63;
            m[j] = b[j + 4] & 63;
        } else {
            sc[j] = (b[j + 4] & 15) | (b[j - 4] >> 6) << 4;
            m[j] = (b[j + 4] >> 4) | (b[j] >> 6) << 4;
        }
    }
}

static float dot1_q45_K(int64_t K, const uint8_t *w, const uint8_t *x, int five) {
    Q8_K_VIEW(K, x);
    const size_t bs = five ? sizeof(block_q5_K) : sizeof(block_q4_K);
    float s = 0.0f;
    for (int64_t b = 0; b < K / 256; b++, w += bs) {
        int sc[8], m[8];
        k_scales(w + 4, sc, m);
        const uint8_t *qh = w + 16, *qs = five ? w + 48 : w + 16;
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int32_t d = 0;
            for (int l = 0; l < 32; l++) {
                int c = (qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15;
                if (five) c |= ((qh[l] >> j) & 1) << 4;
                d += c * xq[256 * b + 32 * j + l];
            }
            isum += sc[j] * d;
            msum += m[j] * (xb[16 * b + 2 * j] + xb[16 * b + 2 * j + 1]);
        }
        s += xd[b] * (f16_at(w) * (float)isum - f16_at(w + 2) * (float)msum);
    }
    return s;
}
static float dot1_q4_K(int64_t K, const uint8_t *w, const uint8_t *x) {
    return dot1_q45_K(K, w, x, 0);
}
static float dot1_q5_K(int64_t K, const uint8_t *w, const uint8_t *x) {
    return dot1_q45_K(K, w, x, 1);
}

/* Q6_K: 16 sub-blocks of 16 with int8 scales; values are code - 32. */
static float dot1_q6_K(int64_t K, const uint8_t *w, const uint8_t *x) {
    Q8_K_VIEW(K, x);
    float s = 0.0f;
    for (int64_t b = 0; b < K / 256; b++, w += sizeof(block_q6_K)) {
        const uint8_t *ql = w, *qh = w + 128;
        const int8_t *sc = (const int8_t *)(w + 192);
        int32_t isum = 0;
        for (int g = 0; g < 16; g++) {
            int32_t d = 0;
            for (int l = 0; l < 16; l++) {
                const int i = 16 * g + l, h = i / 128, r = i % 128;
                int lo = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 15;
                int hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
                d += (lo | hi << 4) * xq[256 * b + i];
            }
            isum += sc[g] * (d - 32 * xb[16 * b + g]);
        }
        s += xd[b] * f16_at(w + 208) * (float)isum;
    }
    return s;
}

static void gemm_by_dot(dot1_fn dot, int64_t K, const uint8_t *w, size_t w_stride, int nr,
                        const uint8_t *x, size_t x_stride, int nt, float *y, int64_t ldy) {
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++)
            y[t * ldy + r] = dot(K, w + r * w_stride, x + t * x_stride);
}

#define SCALAR_GEMM(T)                                                                             \
    static void gemm_scalar_##T(int64_t K, const uint8_t *w, size_t ws, int nr, const uint8_t *x,  \
                                size_t xs, int nt, float *y, int64_t ldy) {                        \
        gemm_by_dot(dot1_##T, K, w, ws, nr, x, xs, nt, y, ldy);                                    \
    }
SCALAR_GEMM(f32)
SCALAR_GEMM(f16)
SCALAR_GEMM(bf16)
SCALAR_GEMM(q8_0)
SCALAR_GEMM(q4_0)
SCALAR_GEMM(q4_1)
SCALAR_GEMM(q5_0)
SCALAR_GEMM(q5_1)
SCALAR_GEMM(q4_K)
SCALAR_GEMM(q5_K)
SCALAR_GEMM(q6_K)

const kern_table kern_table_scalar = {
    .name = "scalar",
    .gemm = {[LMC_TYPE_F32] = gemm_scalar_f32,
             [LMC_TYPE_F16] = gemm_scalar_f16,
             [LMC_TYPE_BF16] = gemm_scalar_bf16,
             [LMC_TYPE_Q8_0] = gemm_scalar_q8_0,
             [LMC_TYPE_Q4_0] = gemm_scalar_q4_0,
             [LMC_TYPE_Q4_1] = gemm_scalar_q4_1,
             [LMC_TYPE_Q5_0] = gemm_scalar_q5_0,
             [LMC_TYPE_Q5_1] = gemm_scalar_q5_1,
             [LMC_TYPE_Q4_K] = gemm_scalar_q4_K,
             [LMC_TYPE_Q5_K] = gemm_scalar_q5_K,
             [LMC_TYPE_Q6_K] = gemm_scalar_q6_K},
    .xfmt = {[LMC_TYPE_Q8_0] = KX_F32,
             [LMC_TYPE_Q4_0] = KX_Q8_0,
             [LMC_TYPE_Q4_1] = KX_F32,
             [LMC_TYPE_Q5_0] = KX_Q8_0,
             [LMC_TYPE_Q5_1] = KX_Q8_0,
             [LMC_TYPE_Q4_K] = KX_Q8_K,
             [LMC_TYPE_Q5_K] = KX_Q8_K,
             [LMC_TYPE_Q6_K] = KX_Q8_K},
    .dot_f32 = kern_dot_f32_portable,
    .axpy_f32 = kern_axpy_f32_portable,
    .att_dot = {kern_att_dot_portable_f32, kern_att_dot_portable_f16, kern_att_dot_portable_q8_0},
    .att_wsum = {kern_att_wsum_portable_f32, kern_att_wsum_portable_f16,
                 kern_att_wsum_portable_q8_0},
};

const kern_table kern_table_ref = {
    .name = "ref",
    .dot_f32 = kern_dot_f32_portable,
    .axpy_f32 = kern_axpy_f32_portable,
    .att_dot = {kern_att_dot_portable_f32, kern_att_dot_portable_f16, kern_att_dot_portable_q8_0},
    .att_wsum = {kern_att_wsum_portable_f32, kern_att_wsum_portable_f16,
                 kern_att_wsum_portable_q8_0},
};

/* --- choosing a table: the one CPU feature probe ---------------------------------------------- */

static kern_table g_avx2, g_avx512, g_avx2np, g_avx512np, g_zen4, g_zen3_tiles,
    g_zen3; /* filled once by kern_init, when the CPU has the ISA */
static kern_deq_fn
    g_deq[LMC_TYPE_COUNT]; /* kern_dequantize_row's SIMD dequantizers, NULL: reference */
static kern_xdot_fn g_xdot[LMC_TYPE_COUNT];         /* kern_exact_dot's */
static kern_dot_fn g_dot_portable = kern_dot_f32_c; /* kern_dot_f32_portable's code */
static const kern_table *g_best;
static pthread_once_t g_once = PTHREAD_ONCE_INIT; /* declared above kern_quantize_x */
static char g_cpu_vendor[13] = "unknown";
static int g_cpu_family = -1, g_cpu_model = -1;
static char g_cpu_desc[96];

/* CPUID leaf 0 / 1: vendor string and the display family / model (base + extended fields). */
static void cpu_identify(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        memcpy(g_cpu_vendor, &b, 4);
        memcpy(g_cpu_vendor + 4, &d, 4);
        memcpy(g_cpu_vendor + 8, &c, 4);
        g_cpu_vendor[12] = 0;
    }
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        const int fam = (int)((a >> 8) & 15), mod = (int)((a >> 4) & 15);
        g_cpu_family = fam == 15 ? fam + (int)((a >> 20) & 255) : fam;
        g_cpu_model = fam == 6 || fam == 15 ? mod | (int)((a >> 16) & 15) << 4 : mod;
    }
#endif
}

/* A table by name among those filled (kern_init calls it, not kern_named: that waits for it). */
static const kern_table *kern_lookup(const char *name) {
    if (!strcmp(name, "ref")) return &kern_table_ref;
    if (!strcmp(name, "scalar")) return &kern_table_scalar;
    if (!strcmp(name, "avx2")) return g_avx2.name ? &g_avx2 : NULL;
    if (!strcmp(name, "avx512")) return g_avx512.name ? &g_avx512 : NULL;
    if (!strcmp(name, "avx2np")) return g_avx2np.name ? &g_avx2np : NULL;
    if (!strcmp(name, "avx512np")) return g_avx512np.name ? &g_avx512np : NULL;
    if (!strcmp(name, "zen4")) return g_zen4.name ? &g_zen4 : NULL;
    if (!strcmp(name, "zen3")) return g_zen3.name ? &g_zen3 : NULL;
    return NULL;
}

/* --- the Zen 4 table: avx512, with decode of some types from avx2np / avx512np -----------------
 * Zen 4 (AMD family 25 with AVX-512; Zen 3, the same family, has none) runs 512-bit operations as
 * two 256-bit halves. On the 2-core Zen 4 VM (family 25 model 17) the decode mat-vecs read from
 * DRAM at very different rates per table (bench/kernel_guard and kernel_bench, tables interleaved;
 * docs/PERFORMANCE.md, issue 20). One thread, 45056 x 2048 from DRAM (GB/s of weights): F16
 * avx512 12, 256-bit without prefetch 24-25; Q4_K avx512 11.6, avx2np 14.8, avx512np (one row per
 * tile, no prefetch) 17.4; Q6_K avx512 9.8, avx512np 16.1. Q4_0 in the model's decode (random
 * weights there were different): avx512 21.6 tok/s, avx512np 27.7 (1 thread). Q8_0 fastest with
 * avx512. So: batches under 4 tokens (decode) of the float types take avx2np's kernels, of Q4_0 and
 * the K-quants avx512np's, everything else avx512's (prompts are compute-bound: avx512's). */
enum { SPLIT_NT = 4 }; /* the token count where cpu_matmul's kernels switch layouts anyway */
/* gemm_split_TAB_T: batches under SPLIT_NT tokens through g_TAB_dec[T], others through g_TAB_pp[T]
 * (TAB: zen4 or zen3, each table its own pair of arrays) */
#define SPLIT_GEMM(TAB, T)                                                                         \
    static void gemm_split_##TAB##_##T(int64_t K, const uint8_t *w, size_t ws, int nr,             \
                                       const uint8_t *x, size_t xs, int nt, float *y,              \
                                       int64_t ldy) {                                              \
        (nt < SPLIT_NT ? g_##TAB##_dec[T] : g_##TAB##_pp[T])(K, w, ws, nr, x, xs, nt, y, ldy);     \
    }
static kern_gemm_fn g_zen4_dec[LMC_TYPE_COUNT], g_zen4_pp[LMC_TYPE_COUNT];
SPLIT_GEMM(zen4, LMC_TYPE_F32)
SPLIT_GEMM(zen4, LMC_TYPE_F16)
SPLIT_GEMM(zen4, LMC_TYPE_BF16)
SPLIT_GEMM(zen4, LMC_TYPE_Q4_0)
SPLIT_GEMM(zen4, LMC_TYPE_Q4_K)
SPLIT_GEMM(zen4, LMC_TYPE_Q5_K)
SPLIT_GEMM(zen4, LMC_TYPE_Q6_K)

static void fill_zen4(kern_table *t) {
    static const struct {
        uint32_t type;
        kern_gemm_fn fn;
        const kern_table *dec; /* where decode comes from */
    } split[] = {{LMC_TYPE_F32, gemm_split_zen4_LMC_TYPE_F32, &g_avx2np},
                 {LMC_TYPE_F16, gemm_split_zen4_LMC_TYPE_F16, &g_avx2np},
                 {LMC_TYPE_BF16, gemm_split_zen4_LMC_TYPE_BF16, &g_avx2np},
                 {LMC_TYPE_Q4_0, gemm_split_zen4_LMC_TYPE_Q4_0, &g_avx512np},
                 {LMC_TYPE_Q4_K, gemm_split_zen4_LMC_TYPE_Q4_K, &g_avx512np},
                 {LMC_TYPE_Q5_K, gemm_split_zen4_LMC_TYPE_Q5_K, &g_avx512np},
                 {LMC_TYPE_Q6_K, gemm_split_zen4_LMC_TYPE_Q6_K, &g_avx512np}};
    *t = g_avx512;
    t->name = "zen4";
    for (size_t i = 0; i < sizeof split / sizeof split[0]; i++) {
        const uint32_t ty = split[i].type;
        /* the two halves read the same activation format (both tables keep the scalar's) */
        if (split[i].dec->xfmt[ty] != g_avx512.xfmt[ty] || !split[i].dec->gemm[ty]) continue;
        g_zen4_dec[ty] = split[i].dec->gemm[ty];
        g_zen4_pp[ty] = g_avx512.gemm[ty];
        t->gemm[ty] = split[i].fn;
    }
}

/* --- the Zen 3 table: avx2, with the larger tiles of kernels_zen3_avx2.c for some types ----------
 * Zen 3 (AMD family 25 without AVX-512; the 2-core EPYC Milan VM, model 1) is compute-bound in
 * prompts and in the decode of Q4_0 and Q6_K, where the avx2 table's tiles leave pipes idle
 * (kernels_zen3_avx2.c has the measurements). Its hardware prefetcher, unlike Zen 4's, gains from
 * the software prefetches, so the avx2 kernels keep them. Decode (< 4 tokens): Q8_0 (the same
 * mat-vec), Q4_0 (4 rows) and Q6_K (2 rows) from zen3_tiles, the rest from avx2 (Q4_K/Q5_K: one
 * row per tile, 2 rows were slower). Prompts: F32/F16/BF16/Q8_0/Q4_0 over the run-time panels of
 * kernels_panel_avx2.c (lmc bench pp64, 2 threads, against zen3_tiles / avx2: Q4_0 +80%, Q8_0 and
 * F16 +15-30%; docs/PERFORMANCE.md), Q4_K/Q5_K/Q6_K from zen3_tiles. */
static kern_gemm_fn g_zen3_dec[LMC_TYPE_COUNT], g_zen3_pp[LMC_TYPE_COUNT];
SPLIT_GEMM(zen3, LMC_TYPE_F32)
SPLIT_GEMM(zen3, LMC_TYPE_F16)
SPLIT_GEMM(zen3, LMC_TYPE_BF16)
SPLIT_GEMM(zen3, LMC_TYPE_Q8_0)
SPLIT_GEMM(zen3, LMC_TYPE_Q4_0)
SPLIT_GEMM(zen3, LMC_TYPE_Q4_K)
SPLIT_GEMM(zen3, LMC_TYPE_Q5_K)

static void fill_zen3(kern_table *t) {
    static const struct {
        uint32_t type;
        kern_gemm_fn fn;
        const kern_table *dec, *pp; /* where decode and prompts come from (NULL: the panels) */
    } split[] = {{LMC_TYPE_F32, gemm_split_zen3_LMC_TYPE_F32, &g_avx2, NULL},
                 {LMC_TYPE_F16, gemm_split_zen3_LMC_TYPE_F16, &g_avx2, NULL},
                 {LMC_TYPE_BF16, gemm_split_zen3_LMC_TYPE_BF16, &g_avx2, NULL},
                 {LMC_TYPE_Q8_0, gemm_split_zen3_LMC_TYPE_Q8_0, &g_zen3_tiles, NULL},
                 {LMC_TYPE_Q4_0, gemm_split_zen3_LMC_TYPE_Q4_0, &g_zen3_tiles, NULL},
                 {LMC_TYPE_Q4_K, gemm_split_zen3_LMC_TYPE_Q4_K, &g_avx2, &g_zen3_tiles},
                 {LMC_TYPE_Q5_K, gemm_split_zen3_LMC_TYPE_Q5_K, &g_avx2, &g_zen3_tiles}};
    kern_table panel = g_avx2;
    kern_fill_panel_avx2(&panel);
    *t = g_avx2;
    t->name = "zen3";
    t->gemm[LMC_TYPE_Q6_K] = g_zen3_tiles.gemm[LMC_TYPE_Q6_K]; /* decode and prompts */
    for (size_t i = 0; i < sizeof split / sizeof split[0]; i++) {
        const uint32_t ty = split[i].type;
        g_zen3_dec[ty] = split[i].dec->gemm[ty];
        g_zen3_pp[ty] = (split[i].pp ? split[i].pp : &panel)->gemm[ty];
        t->gemm[ty] = split[i].fn;
    }
}

/* the types whose kernels come from avx2np when Zen 4 is forced onto AVX2 */
static const uint32_t k_zen4_np[] = {LMC_TYPE_F32,  LMC_TYPE_F16,  LMC_TYPE_BF16,
                                     LMC_TYPE_Q4_K, LMC_TYPE_Q5_K, LMC_TYPE_Q6_K};

static int cpu_is_zen4(void) {
    return !strcmp(g_cpu_vendor, "AuthenticAMD") && g_cpu_family == 25 && g_avx512.name;
}

/* AMD family 25 with AVX2 but not the AVX-512 set kern_init asks for: Zen 3 */
static int cpu_is_zen3(void) {
    return !strcmp(g_cpu_vendor, "AuthenticAMD") && g_cpu_family == 25 && g_avx2.name &&
           !g_avx512.name;
}

/* The table for this CPU when LMC_KERNELS does not choose: by features, then microarchitecture. */
static const kern_table *kern_default(void) {
    if (g_zen4.name && cpu_is_zen4()) return &g_zen4;
    if (g_zen3.name && cpu_is_zen3()) return &g_zen3;
    if (g_avx512.name) return &g_avx512;
    if (g_avx2.name) return &g_avx2;
    return &kern_table_scalar;
}

static void kern_init(void) {
    cpu_identify();
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                     __builtin_cpu_supports("f16c");
    const int avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                       __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
                       __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vbmi");
    if (avx2) kern_fill_avx2(&g_avx2);
    if (avx2) kern_fill_avx2np(&g_avx2np);
    if (avx2) kern_fill_dequant_avx2(g_deq, g_xdot);
    g_quantize_avx2 = avx2;
    if (avx2) g_dot_portable = kern_dot_f32_portable_avx2;
    if (avx512) kern_fill_avx512(&g_avx512);
    if (avx512) kern_fill_avx512np(&g_avx512np);
    if (avx512) fill_zen4(&g_zen4);
    if (avx2) kern_fill_zen3_avx2(&g_zen3_tiles);
    if (avx2) fill_zen3(&g_zen3); /* before Zen 4's avx2 changes below: on Zen 3 there are none */
    /* Zen 4 forced onto AVX2 (LMC_KERNELS=avx2): the float types and K-quants from avx2np too */
    if (avx2 && cpu_is_zen4())
        for (size_t i = 0; i < sizeof k_zen4_np / sizeof k_zen4_np[0]; i++)
            g_avx2.gemm[k_zen4_np[i]] = g_avx2np.gemm[k_zen4_np[i]];
#endif
    const char *env = getenv("LMC_KERNELS");
    const kern_table *t = env && *env ? kern_lookup(env) : NULL;
    if (!t) t = kern_default();
    g_best = t;
}

/* (one static buffer: for benchmarks' output, not for concurrent callers) */
const char *kern_cpu_description(void) {
    pthread_once(&g_once, kern_init);
    snprintf(g_cpu_desc, sizeof g_cpu_desc, "%s family %d model %d (default kernels: %s)",
             g_cpu_vendor, g_cpu_family, g_cpu_model, g_best->name);
    return g_cpu_desc;
}

const kern_table *kern_named(const char *name) {
    if (!name) return NULL;
    pthread_once(&g_once, kern_init);
    return kern_lookup(name);
}

const kern_table *kern_best(void) {
    pthread_once(&g_once, kern_init);
    return g_best;
}

void kern_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n) {
    pthread_once(&g_once, kern_init);
    if (type < LMC_TYPE_COUNT && g_deq[type])
        g_deq[type](src, dst, n);
    else
        lmc_dequantize(type, src, dst, n);
}

float kern_dot_f32_portable(const float *a, const float *b, int64_t n) {
    pthread_once(&g_once, kern_init);
    return g_dot_portable(a, b, n);
}

kern_xdot_fn kern_exact_dot(uint32_t type) {
    pthread_once(&g_once, kern_init);
    return type < LMC_TYPE_COUNT ? g_xdot[type] : NULL;
}
