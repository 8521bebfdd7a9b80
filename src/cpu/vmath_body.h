/* vmath_body.h — the code of vmath.h's exp and tanh, included by vmath.c (compiled for the baseline
 * ISA) and vmath_avx2.c (compiled with AVX2): VM_NAME(f) names this copy's functions. Plain C that
 * the compiler vectorizes: each value goes through the same branch-free sequence of IEEE single
 * operations (no FMA contraction: both files build with -ffp-contract=off), special cases chosen by
 * selects, so every copy, vectorized or not, gives the same bits. Not a header of its own (no
 * guard). */
#include <stdint.h>
#include <string.h>

/* Values per pass through a local buffer (y may be x: the compiler has no aliasing to check). */
#define VM_CHUNK 256

/* The float with bit pattern b. */
static inline float vm_from_bits(int32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* exp(x): x = k ln2 + r with k = nearest(x / ln2), |r| <= ln2/2 (Cody-Waite: ln2 in two parts, k
 * times the first exact for |k| <= 150); exp(r) by Cephes' degree-7 polynomial; times 2^k in two
 * factors 2^(k/2) and 2^(k - k/2), each a normal float, so results near overflow and subnormal ones
 * round once, at the last product. x is clamped to [-104, 89] first (beyond, the result is 0 or inf
 * anyway; it keeps k in range); NaN goes through as 0 and is put back at the end. */
static inline float vm_exp1(float x) {
    float xc = x == x ? x : 0.0f;
    xc = xc < -104.0f ? -104.0f : xc;
    xc = xc > 89.0f ? 89.0f : xc;
    const float shift = 0x1.8p23f; /* adding and subtracting it rounds to an integer */
    const float kf = (xc * 1.44269504088896341f + shift) - shift;
    const float r = (xc - kf * 0.693359375f) - kf * -2.12194440e-4f;
    const float q = (((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
                       4.1665795894e-2f) *
                          r +
                      1.6666665459e-1f) *
                         r +
                     5.0000001201e-1f);
    const float p = (q * (r * r) + r) + 1.0f;
    const int32_t k = (int32_t)kf, k1 = k / 2, k2 = k - k1; /* |k1|, |k2| <= 75 */
    const float y = p * vm_from_bits((k1 + 127) << 23) * vm_from_bits((k2 + 127) << 23);
    return x == x ? y : x + x;
}

/* tanh(x): |x| < 0.55 (tanh below 0.5) an odd polynomial x + x^3 P(x^2) (least-squares fit in
 * relative error on [0, 0.55], 0.02 ulp from tanh in exact arithmetic), no cancellation; below
 * 2^-13, x itself (-0 included). Beyond, 1 - 2 / (exp(2|x|) + 1) with the sign of x, |x| clamped to
 * 10 (tanh rounds to 1 from 9.02 on); the subtraction loses nothing since the result is at least
 * 0.5. */
static inline float vm_tanh1(float x) {
    const float u = x * x;
    const float p =
        x + (x * u) * (((((-6.292931395e-3f * u + 2.108552974e-2f) * u - 5.385589590e-2f) * u +
                         1.333262356e-1f) *
                            u -
                        3.333331883e-1f));
    float a = x < 0.0f ? -x : x;
    a = a < 10.0f ? a : 10.0f; /* NaN: 10, replaced below */
    const float t = 1.0f - 2.0f / (vm_exp1(a + a) + 1.0f);
    const float big = x < 0.0f ? -t : t;
    float y = (x < 0.55f && x > -0.55f) ? p : big;
    y = (x < 0x1p-13f && x > -0x1p-13f) ? x : y; /* tanh(x) rounds to x there; keeps -0 */
    return x == x ? y : x + x;
}

void VM_NAME(vmath_exp)(float *y, const float *x, int64_t n) {
    float t[VM_CHUNK];
    for (int64_t i = 0; i < n; i += VM_CHUNK) {
        const int m = n - i < VM_CHUNK ? (int)(n - i) : VM_CHUNK;
        for (int j = 0; j < m; j++)
            t[j] = vm_exp1(x[i + j]);
        memcpy(y + i, t, (size_t)m * sizeof(float));
    }
}

void VM_NAME(vmath_tanh)(float *y, const float *x, int64_t n) {
    float t[VM_CHUNK];
    for (int64_t i = 0; i < n; i += VM_CHUNK) {
        const int m = n - i < VM_CHUNK ? (int)(n - i) : VM_CHUNK;
        for (int j = 0; j < m; j++)
            t[j] = vm_tanh1(x[i + j]);
        memcpy(y + i, t, (size_t)m * sizeof(float));
    }
}
