/* kernels_avx2.c — the x86 kernels (kernels_x86.h) for AVX2 + FMA + F16C: 256-bit everything, int8
 * dots through maddubs/madd, tiles sized for 16 vector registers. Used only when the CPU has AVX2.
 */
#if defined(__x86_64__) || defined(__i386__)
#define KERN_VNNI 0
#define KERN_512 0
#ifndef KERN_FILL /* kernels_np_avx2.c and kernels_zen3_avx2.c compile this file again */
#define KERN_FILL kern_fill_avx2
#define KERN_NAME "avx2"
#define KERN_FIRST_BUILD 1 /* the exact path's helpers below: in this build only */
#endif
/* tile sizes (kernels_x86.h); kernels_zen3_avx2.c sets its own */
#ifndef KNR_F
#define KNR_F 2
#endif
#define KNT_F 4
#ifndef KNR
#define KNR 2
#endif
#define KNT 4
#ifndef KNR_K
#define KNR_K 1
#endif
#define KNT_K 4
#ifndef KNR_8
#define KNR_8 1
#endif
#define KNT_8 4
#include "kernels_x86.h"
#include "util.h"

#ifdef KERN_FIRST_BUILD /* the exact path's helpers: once */
/* --- exact dequantization for cpu_matmul's exact path --------------------------------------------
 * The values lmc_dequantize gives, bit for bit (F16C converts every finite, infinite and subnormal
 * half exactly; q * d is exact in f32 for these block types, so the order does not matter), only
 * faster: the exact path's time went to the reference dequantizers (kernels.c keeps them for every
 * other type). A NaN stays a NaN (F16C sets the quiet bit of a signalling one). */
/* 16-bit float types: LOAD8 converts 8 weights (VLOAD_F16 / VLOAD_BF16, exact), SCALAR one. */
#define DEQ_HALF(NAME, LOAD8, SCALAR)                                                              \
    static void deq_##NAME(const void *src, float *dst, int64_t n) {                               \
        const uint16_t *h = src;                                                                   \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8)                                                                 \
            _mm256_storeu_ps(dst + i, LOAD8(h + i));                                               \
        for (; i < n; i++)                                                                         \
            dst[i] = SCALAR((const uint8_t *)(h + i));                                             \
    }
DEQ_HALF(f16, VLOAD_F16, f16_scalar)
DEQ_HALF(bf16, VLOAD_BF16, bf16_scalar)

static void deq_q8_0(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / 32; b++, p += 34, dst += 32) {
        const __m256 d = _mm256_set1_ps(f16_scalar(p));
        for (int v = 0; v < 4; v++)
            _mm256_storeu_ps(dst + 8 * v, _mm256_mul_ps(d, VLOAD_I8(p + 2 + 8 * v)));
    }
}

static void deq_q4_0(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / 32; b++, p += 18, dst += 32) {
        const __m256 d = _mm256_set1_ps(f16_scalar(p));
        const __m128i q = _mm_loadu_si128((const __m128i *)(p + 2)), m4 = _mm_set1_epi8(15),
                      eight = _mm_set1_epi8(8);
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m4), eight),
                      hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), eight);
        const __m128i c[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int v = 0; v < 4; v++)
            _mm256_storeu_ps(dst + 8 * v,
                             _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c[v]))));
    }
}

/* kern_dot_f32_c's reduction of its two accumulators: ((0+4) + (1+5)) + ((2+6) + (3+7)). */
static inline float portable_reduce(__m256 acc0, __m256 acc1) {
    acc0 = _mm256_add_ps(acc0, acc1);
    const __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc0), _mm256_extractf128_ps(acc0, 1));
    const __m128 p = _mm_add_ps(
        h, _mm_shuffle_ps(h, h, _MM_SHUFFLE(2, 3, 0, 1))); /* (h0+h1) in 0, (h2+h3) in 2 */
    return _mm_cvtss_f32(_mm_add_ss(p, _mm_movehl_ps(p, p)));
}

/* kern_dot_f32_c's arithmetic in ymm registers: acc0 / acc1 hold its two v8f accumulators, products
 * rounded before the adds (mul + add, never fused: this file is C11 without -ffp-contract=fast, and
 * test_kernels compares the bits), then its reduction order. */
float kern_dot_f32_portable_avx2(const float *a, const float *b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
        acc1 = _mm256_add_ps(acc1,
                             _mm256_mul_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8)));
    }
    float s = portable_reduce(acc0, acc1);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* --- the exact path's decode: dequantize and dot in one pass
 * -------------------------------------- kern_dot_f32_c of the dequantized row, bit for bit: the
 * weights of columns i .. i+15, as kern_dequantize_row gives them, go into the same two
 * accumulators, never through memory. For one token the two passes cost about twice this (synthetic
 * F16 / Q8_0 models, lmc bench tg32). */
#define PORTABLE_STEP(w0, w1, xp)                                                                  \
    do {                                                                                           \
        acc0 = _mm256_add_ps(acc0, _mm256_mul_ps((w0), _mm256_loadu_ps(xp)));                      \
        acc1 = _mm256_add_ps(acc1, _mm256_mul_ps((w1), _mm256_loadu_ps((xp) + 8)));                \
    } while (0)

#define XDOT_HALF(NAME, LOAD8, SCALAR)                                                             \
    static float xdot_##NAME(const void *row, const float *x, int64_t n) {                         \
        const uint16_t *h = row;                                                                   \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                             \
        int64_t i = 0;                                                                             \
        for (; i + 16 <= n; i += 16)                                                               \
            PORTABLE_STEP(LOAD8(h + i), LOAD8(h + i + 8), x + i);                                  \
        float s = portable_reduce(acc0, acc1);                                                     \
        for (; i < n; i++)                                                                         \
            s += SCALAR((const uint8_t *)(h + i)) * x[i];                                          \
        return s;                                                                                  \
    }
XDOT_HALF(f16, VLOAD_F16, f16_scalar)
XDOT_HALF(bf16, VLOAD_BF16, bf16_scalar)

static float xdot_q8_0(const void *row, const float *x, int64_t n) {
    const uint8_t *p = row;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, p += 34, x += 32) {
        const __m256 d = _mm256_set1_ps(f16_scalar(p));
        PORTABLE_STEP(_mm256_mul_ps(d, VLOAD_I8(p + 2)), _mm256_mul_ps(d, VLOAD_I8(p + 10)), x);
        PORTABLE_STEP(_mm256_mul_ps(d, VLOAD_I8(p + 18)), _mm256_mul_ps(d, VLOAD_I8(p + 26)),
                      x + 16);
    }
    return portable_reduce(acc0, acc1);
}

static float xdot_q4_0(const void *row, const float *x, int64_t n) {
    const uint8_t *p = row;
    const __m128i m4 = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, p += 18, x += 32) {
        const __m256 d = _mm256_set1_ps(f16_scalar(p));
        const __m128i q = _mm_loadu_si128((const __m128i *)(p + 2));
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m4), eight),
                      hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), eight);
#define Q4W(v) _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)))
        PORTABLE_STEP(Q4W(lo), Q4W(_mm_srli_si128(lo, 8)), x);
        PORTABLE_STEP(Q4W(hi), Q4W(_mm_srli_si128(hi, 8)), x + 16);
#undef Q4W
    }
    return portable_reduce(acc0, acc1);
}

/* --- kern_quantize_x's 8-bit activation formats, the same bytes ---------------------------------
 * amax as the scalar loop finds it (a NaN never wins: max_ps returns its second operand, amax, when
 * either is NaN), id = 127 / amax, q = x * id rounded to nearest even (cvtps2dq in the default
 * rounding mode, as nearbyintf), block sums exact. Only the scalar per-value loop is replaced: it
 * took 5% of a Q4_0 prompt (perf, lmc bench pp64). n is 32 (Q8_0: d rounded to f16, one sum) or
 * 256 (Q8_K: 16 sums of 16); returns through q, *d and sums. */
static void quant_block_avx2(const float *x, int8_t *q, int n, float *d_out, int f16_scale,
                             int32_t *sums) {
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8)
        mx = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), absm), mx);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m256 idv = _mm256_set1_ps(id);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int i = 0; i < n; i += 32) {
        __m256i v[4];
        for (int j = 0; j < 4; j++)
            v[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), idv));
        const __m256i p =
            _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(p, perm));
        /* sums of 16 (v[0] + v[1], v[2] + v[3]) */
        for (int h = 0; h < 2; h++) {
            const __m256i a = _mm256_add_epi32(v[2 * h], v[2 * h + 1]);
            __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
            sums[i / 16 + h] = _mm_cvtsi128_si32(s);
        }
    }
    *d_out = f16_scale ? lmc_f16_to_f32(lmc_f32_to_f16(d)) : d;
}

void kern_quantize_x_avx2(kern_xfmt f, const float *x, uint8_t *dst, int64_t K) {
    int8_t *q = (int8_t *)dst;
    float *d = (float *)(dst + K);
    int32_t s16[16];
    if (f == KX_Q8_0) {
        int32_t *s = (int32_t *)(dst + K + (K / 32) * 4);
        for (int64_t b = 0; b < K / 32; b++) {
            quant_block_avx2(x + 32 * b, q + 32 * b, 32, &d[b], 1, s16);
            s[b] = s16[0] + s16[1];
        }
    } else { /* KX_Q8_K */
        int16_t *bs = (int16_t *)(dst + K + (K / 256) * 4);
        for (int64_t b = 0; b < K / 256; b++) {
            quant_block_avx2(x + 256 * b, q + 256 * b, 256, &d[b], 0, s16);
            for (int g = 0; g < 16; g++)
                bs[16 * b + g] = (int16_t)s16[g];
        }
    }
}

void kern_fill_dequant_avx2(kern_deq_fn *deq, kern_xdot_fn *xdot) {
    deq[LMC_TYPE_F16] = deq_f16;
    deq[LMC_TYPE_BF16] = deq_bf16;
    deq[LMC_TYPE_Q8_0] = deq_q8_0;
    deq[LMC_TYPE_Q4_0] = deq_q4_0;
    xdot[LMC_TYPE_F16] = xdot_f16;
    xdot[LMC_TYPE_BF16] = xdot_bf16;
    xdot[LMC_TYPE_Q8_0] = xdot_q8_0;
    xdot[LMC_TYPE_Q4_0] = xdot_q4_0;
}
#endif /* KERN_FIRST_BUILD */
#endif
