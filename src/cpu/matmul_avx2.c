/* matmul_avx2.c — AVX2+FMA+F16C row-times-activations dot products for the common weight types,
 * reading the quantized blocks directly (no dequantized copy): per block, sum q*x in f32 lanes, then
 * scale by the block's d. Same f32 precision as the reference (dequantize, then sum), different
 * rounding order. Compiled with AVX2 flags; cpu_matmul only calls it when the CPU has them. */
#include "matmul_kernels.h"
#include "quant.h"

#include <immintrin.h>
#include <string.h>

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float half_to_f32(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* 8 signed bytes -> 8 floats */
static inline __m256 i8x8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

float cpu_dot_f32_avx2(const float *a, const float *b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    float s = hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

void cpu_axpy_f32_avx2(float *y, float a, const float *x, int64_t n) {
    const __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static float dot_f32_row(const void *row, const float *x, int64_t n) { return cpu_dot_f32_avx2(row, x, n); }

static float dot_f16(const void *row, const float *x, int64_t n) {
    const uint16_t *w = row;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8)));
        acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
    }
    float s = hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) s += half_to_f32(w + i) * x[i];
    return s;
}

static float dot_q8_0(const void *row, const float *x, int64_t n) {
    const block_q8_0 *b = row;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t k = 0; k < n / QK8_0; k++, x += QK8_0) {
        const int8_t *q = b[k].qs;
        __m256 s = _mm256_mul_ps(i8x8_to_ps(_mm_loadl_epi64((const __m128i *)q)), _mm256_loadu_ps(x));
        s = _mm256_fmadd_ps(i8x8_to_ps(_mm_loadl_epi64((const __m128i *)(q + 8))), _mm256_loadu_ps(x + 8), s);
        s = _mm256_fmadd_ps(i8x8_to_ps(_mm_loadl_epi64((const __m128i *)(q + 16))), _mm256_loadu_ps(x + 16), s);
        s = _mm256_fmadd_ps(i8x8_to_ps(_mm_loadl_epi64((const __m128i *)(q + 24))), _mm256_loadu_ps(x + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_f32(&b[k].d)), s, acc);
    }
    return hsum(acc);
}

/* Q4_0: byte j of qs holds weight j (low nibble) and weight j+16 (high nibble), value = d*(q-8). */
static float dot_q4_0(const void *row, const float *x, int64_t n) {
    const block_q4_0 *b = row;
    const __m128i low = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t k = 0; k < n / QK4_0; k++, x += QK4_0) {
        __m128i qs = _mm_loadu_si128((const __m128i *)b[k].qs);
        __m128i lo = _mm_sub_epi8(_mm_and_si128(qs, low), eight);                     /* weights 0..15 */
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), low), eight);  /* 16..31 */
        __m256 s = _mm256_mul_ps(i8x8_to_ps(lo), _mm256_loadu_ps(x));
        s = _mm256_fmadd_ps(i8x8_to_ps(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + 8), s);
        s = _mm256_fmadd_ps(i8x8_to_ps(hi), _mm256_loadu_ps(x + 16), s);
        s = _mm256_fmadd_ps(i8x8_to_ps(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_f32(&b[k].d)), s, acc);
    }
    return hsum(acc);
}

cpu_row_dot_fn cpu_row_dot_avx2(uint32_t type) {
    switch (type) {
    case LMC_TYPE_F32: return dot_f32_row;
    case LMC_TYPE_F16: return dot_f16;
    case LMC_TYPE_Q8_0: return dot_q8_0;
    case LMC_TYPE_Q4_0: return dot_q4_0;
    default: return NULL;
    }
}
