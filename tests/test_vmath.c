/* test_vmath.c — src/cpu/vmath.h's exp and tanh against libm's double exp and tanh as the truth:
 * a sweep over every 61st float bit pattern (both signs, subnormals to inf), every float near the
 * places where the code changes course (tanh's switch from the polynomial at |x| 0.55, exp's
 * overflow and underflow edges, tiny values), and the special values (+-0, +-inf, NaN). Asserts
 * the largest error in ulps of the correctly rounded result (at most 2), tanh(x) == x for |x| <
 * 2^-13, saturation and NaN propagation, the baseline and AVX2 copies' equal bits for every input,
 * and in-place calls of every length around the chunk and vector sizes. */
#include "cpu/vmath.h"
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ULP 2.0

static float from_bits(uint32_t b) {
    float f;
    memcpy(&f, &b, 4);
    return f;
}
static uint32_t bits(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

/* The ulp of a float of magnitude |t| (t the exact value, in double): 2^(e - 23), at least the
 * smallest subnormal 2^-149. */
static double ulp_of(double t) {
    t = fabs(t);
    if (t < FLT_MIN) return ldexp(1.0, -149);
    int e;
    frexp(t, &e); /* t = m 2^e, m in [0.5, 1) */
    return ldexp(1.0, e - 1 - 23);
}

typedef struct {
    const char *name;
    void (*fn)(float *, const float *, int64_t);
    double (*truth)(double);
    double max_ulp; /* the largest error seen */
    float worst_x;  /* where */
    int64_t n, bad; /* values checked, values off */
} fn_check;

/* Errors of fn over the n values of x (also checks the AVX2 copy gives the same bits). */
static void check_values(fn_check *c, void (*avx2)(float *, const float *, int64_t), const float *x,
                         int64_t n) {
    float *y = malloc((size_t)n * sizeof(float)), *y2 = malloc((size_t)n * sizeof(float));
    c->fn(y, x, n);
    int64_t differ = 0;
    if (avx2) {
        avx2(y2, x, n);
        for (int64_t i = 0; i < n; i++)
            differ += bits(y[i]) != bits(y2[i]);
    }
    CHECK(differ == 0, "%s: the AVX2 copy differs from the baseline one in %lld of %lld values",
          c->name, (long long)differ, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const double t = c->truth((double)x[i]);
        const float tf =
            (float)t; /* correctly rounded (double rounding aside: not at this level) */
        c->n++;
        double err;
        if (isnan(x[i]))
            err = isnan(y[i]) ? 0 : INFINITY;
        else if (isinf(tf) || isinf(y[i])) /* overflow: both inf, or at the edge by rounding */
            err = bits(y[i]) == bits(tf) ? 0
                  : !isinf(y[i]) && fabs(t) < (double)FLT_MAX * (1 + 0x1p-22)
                      ? fabs(y[i] - t) / ulp_of(t)
                      : INFINITY;
        else
            err = fabs((double)y[i] - t) / ulp_of(t);
        if (err > MAX_ULP) {
            if (c->bad++ < 5)
                fprintf(stderr, "%s(%a = %.9g) = %a, exact %a: %.2f ulp\n", c->name, x[i], x[i],
                        y[i], t, err);
        }
        if (err > c->max_ulp) {
            c->max_ulp = err;
            c->worst_x = x[i];
        }
    }
    free(y);
    free(y2);
}

#define BLOCK (1 << 20) /* values per check_values call */

/* Every float in [lo, hi] (same sign, by bit pattern) and its negative. */
static void check_range(fn_check *c, void (*avx2)(float *, const float *, int64_t), float lo,
                        float hi) {
    float *x = malloc(BLOCK * sizeof(float));
    int64_t m = 0;
    for (uint64_t b = bits(lo); b <= bits(hi); b++) {
        x[m++] = from_bits((uint32_t)b);
        x[m++] = -from_bits((uint32_t)b);
        if (m == BLOCK || b == bits(hi)) {
            check_values(c, avx2, x, m);
            m = 0;
        }
    }
    free(x);
}

/* Every step-th bit pattern of all 2^32 (NaNs included). */
static void check_sweep(fn_check *c, void (*avx2)(float *, const float *, int64_t), uint32_t step) {
    float *x = malloc(BLOCK * sizeof(float));
    int64_t m = 0;
    for (uint64_t b = 0; b < ((uint64_t)1 << 32); b += step) {
        x[m++] = from_bits((uint32_t)b);
        if (m == BLOCK || b + step >= ((uint64_t)1 << 32)) {
            check_values(c, avx2, x, m);
            m = 0;
        }
    }
    free(x);
}

static void check_specials(void) {
    const float in[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-30f, -1e-30f, 0x1p-149f};
    const int n = (int)(sizeof in / sizeof in[0]);
    float e[9], t[9];
    vmath_exp(e, in, n);
    vmath_tanh(t, in, n);
    CHECK(e[0] == 1.0f && e[1] == 1.0f, "exp(+-0) = %g, %g", e[0], e[1]);
    CHECK(e[2] == INFINITY && e[3] == 0.0f && !signbit(e[3]), "exp(+-inf) = %g, %g", e[2], e[3]);
    CHECK(isnan(e[4]) && isnan(e[5]), "exp(NaN) = %g, %g", e[4], e[5]);
    CHECK(t[0] == 0.0f && !signbit(t[0]) && t[1] == 0.0f && signbit(t[1]), "tanh(+-0) = %g, %g",
          t[0], t[1]);
    CHECK(t[2] == 1.0f && t[3] == -1.0f, "tanh(+-inf) = %g, %g", t[2], t[3]);
    CHECK(isnan(t[4]) && isnan(t[5]), "tanh(NaN) = %g, %g", t[4], t[5]);
    CHECK(t[6] == in[6] && t[7] == in[7] && t[8] == in[8], "tanh(tiny) = %a, %a, %a", t[6], t[7],
          t[8]);
    /* overflow and underflow well past the edges, saturation of tanh */
    const float big[] = {89.0f, 100.0f, -104.0f, -200.0f, 10.0f, -10.0f, 50.0f, -1e30f};
    float eb[8], tb[8];
    vmath_exp(eb, big, 8);
    vmath_tanh(tb, big, 8);
    CHECK(eb[0] == INFINITY && eb[1] == INFINITY && eb[2] == 0.0f && eb[3] == 0.0f,
          "exp(89, 100, -104, -200) = %g %g %g %g", eb[0], eb[1], eb[2], eb[3]);
    CHECK(tb[4] == 1.0f && tb[5] == -1.0f && tb[6] == 1.0f && tb[7] == -1.0f,
          "tanh(10, -10, 50, -1e30) = %g %g %g %g", tb[4], tb[5], tb[6], tb[7]);
}

/* tanh(x) is x itself for |x| < 2^-13 (x^3/3 is under a quarter ulp of x): every 31st float below
 * (subnormals included), both signs. */
static void check_tiny_tanh(void) {
    const int64_t n = (int64_t)(bits(0x1p-13f) - 1) / 31;
    float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        x[i] = from_bits((uint32_t)(i * 31) + ((i & 1) ? 0x80000000u : 0));
    vmath_tanh(y, x, n);
    int64_t off = 0;
    for (int64_t i = 0; i < n; i++)
        off += bits(y[i]) != bits(x[i]);
    CHECK(off == 0, "tanh(x) != x for %lld of the %lld floats below 2^-13", (long long)off,
          (long long)n);
    free(x);
    free(y);
}

/* In place and out of place, every length 0..600 (chunks of 256, vectors of 4 and 8, the tails),
 * at odd offsets: the same values as one call over the whole array. */
static void check_lengths(void) {
    float x[700], whole_e[700], whole_t[700], a[700];
    for (int i = 0; i < 700; i++)
        x[i] = (float)(i % 97) * 0.37f - 18.0f;
    vmath_exp(whole_e, x, 700);
    vmath_tanh(whole_t, x, 700);
    int bad = 0;
    for (int n = 0; n <= 600; n++)
        for (int off = 0; off < 3; off++) {
            memcpy(a, x, sizeof x);
            vmath_exp(a + off, a + off, n);
            for (int i = 0; i < 700; i++)
                bad += bits(a[i]) != bits(i >= off && i < off + n ? whole_e[i] : x[i]);
            memcpy(a, x, sizeof x);
            vmath_tanh(a + off, a + off, n);
            for (int i = 0; i < 700; i++)
                bad += bits(a[i]) != bits(i >= off && i < off + n ? whole_t[i] : x[i]);
        }
    CHECK(bad == 0, "%d values wrong among in-place calls of lengths 0..600", bad);
}

int main(void) {
    void (*exp2)(float *, const float *, int64_t) = vmath_have_avx2() ? vmath_exp_avx2 : NULL;
    void (*tanh2)(float *, const float *, int64_t) = vmath_have_avx2() ? vmath_tanh_avx2 : NULL;
    if (!exp2) printf("no AVX2 on this CPU: the baseline copy alone\n");
    fn_check ce = {.name = "exp", .fn = vmath_exp_c, .truth = exp};
    fn_check ct = {.name = "tanh", .fn = vmath_tanh_c, .truth = tanh};
    check_sweep(&ce, exp2, 61);
    check_sweep(&ct, tanh2, 61);
    check_range(&ce, exp2, 0x1p-25f, 0x1p-22f);  /* exp near 1 */
    check_range(&ce, exp2, 80.0f, 120.0f);       /* overflow edge (and below: underflow) */
    check_range(&ce, exp2, 0.3f, 0.4f);          /* the reduction's first switch of k */
    check_range(&ct, tanh2, 0x1p-14f, 0x1p-11f); /* tiny to small */
    check_range(&ct, tanh2, 0.5f, 0.6f);         /* polynomial to exp at 0.55 */
    check_range(&ct, tanh2, 8.5f, 11.0f);        /* saturation and the clamp at 10 */
    check_specials();
    check_tiny_tanh();
    check_lengths();
    printf("exp:  %lld values, max %.3f ulp (at %a)\n", (long long)ce.n, ce.max_ulp, ce.worst_x);
    printf("tanh: %lld values, max %.3f ulp (at %a)\n", (long long)ct.n, ct.max_ulp, ct.worst_x);
    CHECK(ce.bad == 0 && ce.max_ulp <= MAX_ULP, "exp: %lld values beyond %.1f ulp, max %.3f",
          (long long)ce.bad, MAX_ULP, ce.max_ulp);
    CHECK(ct.bad == 0 && ct.max_ulp <= MAX_ULP, "tanh: %lld values beyond %.1f ulp, max %.3f",
          (long long)ct.bad, MAX_ULP, ct.max_ulp);
    return t_done();
}
