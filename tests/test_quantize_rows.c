/* test_quantize_rows.c — the row quantizers (src/quantize.c) on their own: quantize then
 * dequantize random rows of several lengths and check the error is within what each type can hold;
 * all-zero rows come back as zeros; special values (tiny, huge, constant, one outlier) neither
 * crash nor leave the sanitizers a complaint. Bit-identity with llama.cpp is
 * tests/test_quantize.py's job; this one runs under `make asan`. */
#include "quant.h"
#include "quantize.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void) { /* about N(0, 1): sum of 4 uniforms */
    float s = 0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        s += (float)(rng >> 40) / (float)(1 << 24) - 0.5f;
    }
    return s * 1.7f;
}

static const struct {
    uint32_t type;
    double max_nmse; /* random N(0,1) rows: what the type's bits allow, with a margin */
} types[] = {
    {LMC_TYPE_F32, 0},       {LMC_TYPE_F16, 1e-6},  {LMC_TYPE_BF16, 1e-4},   {LMC_TYPE_Q8_0, 1e-4},
    {LMC_TYPE_Q5_0, 3e-3},   {LMC_TYPE_Q5_1, 3e-3}, {LMC_TYPE_Q4_0, 1.2e-2}, {LMC_TYPE_Q4_1, 1e-2},
    {LMC_TYPE_Q6_K, 1e-3},   {LMC_TYPE_Q5_K, 3e-3}, {LMC_TYPE_Q4_K, 1e-2},   {LMC_TYPE_Q3_K, 4e-2},
    {LMC_TYPE_Q2_K, 1.5e-1},
};

static void check_type(uint32_t type, double max_nmse, int64_t n) {
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    void *q = malloc(lmc_row_size(type, n));
    for (int64_t i = 0; i < n; i++)
        x[i] = frand();
    quant_rows(type, x, q, 1, n);
    lmc_dequantize(type, q, y, n);
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += (double)(x[i] - y[i]) * (x[i] - y[i]);
        den += (double)x[i] * x[i];
    }
    CHECK(num / den <= max_nmse, "%s, %lld weights: nmse %.3g > %.3g", lmc_type_name(type),
          (long long)n, num / den, max_nmse);
    memset(x, 0, (size_t)n * sizeof *x);
    quant_rows(type, x, q, 1, n);
    lmc_dequantize(type, q, y, n);
    bool zeros = true;
    for (int64_t i = 0; i < n; i++)
        zeros &= y[i] == 0;
    CHECK(zeros, "%s: an all-zero row does not come back as zeros", lmc_type_name(type));
    /* special values (within f16 range: scales are f16): nothing crashes or trips a sanitizer, and
     * finite stays finite */
    const float specials[] = {1e-30f, 1e-18f, 3.0f, 16000.f, -1e-7f};
    for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++) {
        for (int64_t i = 0; i < n; i++)
            x[i] = (i % 7 == 3) ? specials[s] : specials[s] * 0.5f * (float)(i % 5);
        x[n / 2] = -4 * specials[s];
        quant_rows(type, x, q, 1, n);
        lmc_dequantize(type, q, y, n);
        bool finite = true;
        for (int64_t i = 0; i < n; i++)
            finite &= isfinite(y[i]);
        CHECK(finite, "%s: special value %g gives a non-finite weight", lmc_type_name(type),
              specials[s]);
    }
    free(x);
    free(y);
    free(q);
}

/* The AVX2 searches give the scalar bytes (rows with zeros, constant runs and outliers too). */
static void check_simd_same(uint32_t type) {
    enum { N = 4096 };
    static float x[N];
    static uint8_t a[N * 2], b[N * 2];
    for (int rep = 0; rep < 20; rep++) {
        for (int i = 0; i < N; i++) {
            float v = frand() * (rep % 3 == 0 ? 1e-3f : 1.0f);
            if (rep % 4 == 1 && i % 37 < 9) v = 0;
            if (rep % 5 == 2 && i % 101 == 7) v = 25.0f;
            if (rep % 6 == 3 && (i / 32) % 3 == 0) v = 0.25f;
            x[i] = v;
        }
        quant_use_simd(false);
        quant_rows(type, x, a, 1, N);
        quant_use_simd(true);
        quant_rows(type, x, b, 1, N);
        CHECK(!memcmp(a, b, lmc_row_size(type, N)), "%s: the AVX2 search differs (rep %d)",
              lmc_type_name(type), rep);
    }
}

int main(void) {
    check_simd_same(LMC_TYPE_Q2_K);
    check_simd_same(LMC_TYPE_Q4_K);
    check_simd_same(LMC_TYPE_Q5_K);
    check_simd_same(LMC_TYPE_Q6_K);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        CHECK(quant_can_write(types[t].type), "%s not writable", lmc_type_name(types[t].type));
        int bs = lmc_type_get(types[t].type)->blck_size;
        const int64_t lens[] = {256, 512, 2816, 4096};
        for (int i = 0; i < 4; i++)
            if (lens[i] % bs == 0) check_type(types[t].type, types[t].max_nmse, lens[i]);
        if (bs == 32) check_type(types[t].type, types[t].max_nmse, 96);
    }
    CHECK(!quant_can_write(LMC_TYPE_IQ2_XXS), "IQ2_XXS should not be writable");
    return t_done();
}
