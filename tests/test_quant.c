/* test_quant.c — the type table (sizes of every ggml type, unknown ids), f16 conversions (special
 * values, round-to-nearest-even), hand-built blocks, and lmc_vec_dot_ref against
 * dequantize-then-dot on random blocks. Bit-exactness against the `gguf` package is
 * tests/test_dequant.py's job. */
#include "quant.h"
#include "testutil.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* --- a small deterministic RNG (xorshift64*) ----------------------------------------------------
 */
static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd_u32(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545f4914f6cdd1dull) >> 32);
}
static float rnd_unit(void) {
    return (float)((double)rnd_u32() / 4294967296.0 * 2.0 - 1.0);
} /* [-1,1) */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* --- the table ----------------------------------------------------------------------------------
 */
static void test_table(void) {
    /* ggml's block sizes and bytes per block (ggml.c type_traits; GGML_QUANT_SIZES in gguf-py
     * agrees except for Q8_1, where gguf-py has a stale 40). */
    static const struct {
        uint32_t id;
        const char *name;
        int blck, size;
        bool supported;
    } want[] = {
        {0, "F32", 1, 4, true},          {1, "F16", 1, 2, true},
        {2, "Q4_0", 32, 18, true},       {3, "Q4_1", 32, 20, true},
        {6, "Q5_0", 32, 22, true},       {7, "Q5_1", 32, 24, true},
        {8, "Q8_0", 32, 34, true},       {9, "Q8_1", 32, 36, false},
        {10, "Q2_K", 256, 84, true},     {11, "Q3_K", 256, 110, true},
        {12, "Q4_K", 256, 144, true},    {13, "Q5_K", 256, 176, true},
        {14, "Q6_K", 256, 210, true},    {15, "Q8_K", 256, 292, false},
        {16, "IQ2_XXS", 256, 66, false}, {17, "IQ2_XS", 256, 74, false},
        {18, "IQ3_XXS", 256, 98, false}, {19, "IQ1_S", 256, 50, false},
        {20, "IQ4_NL", 32, 18, false},   {21, "IQ3_S", 256, 110, false},
        {22, "IQ2_S", 256, 82, false},   {23, "IQ4_XS", 256, 136, false},
        {24, "I8", 1, 1, false},         {25, "I16", 1, 2, false},
        {26, "I32", 1, 4, false},        {27, "I64", 1, 8, false},
        {28, "F64", 1, 8, false},        {29, "IQ1_M", 256, 56, false},
        {30, "BF16", 1, 2, true},        {34, "TQ1_0", 256, 54, false},
        {35, "TQ2_0", 256, 66, false},   {39, "MXFP4", 32, 17, false},
    };
    bool known[LMC_TYPE_COUNT] = {0};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const lmc_type_traits *t = lmc_type_get(want[i].id);
        known[want[i].id] = true;
        CHECK(t != NULL, "type %u missing", want[i].id);
        if (!t) continue;
        CHECK(strcmp(t->name, want[i].name) == 0, "type %u name %s", want[i].id, t->name);
        CHECK(strcmp(lmc_type_name(want[i].id), want[i].name) == 0, "lmc_type_name(%u)",
              want[i].id);
        CHECK(t->blck_size == want[i].blck, "%s blck_size %d", t->name, t->blck_size);
        CHECK(t->type_size == want[i].size, "%s type_size %d", t->name, t->type_size);
        CHECK(t->supported == want[i].supported, "%s supported %d", t->name, t->supported);
        CHECK((t->to_float != NULL) == t->supported, "%s to_float present iff supported", t->name);
        CHECK(QK_K % t->blck_size == 0, "%s block divides QK_K", t->name);
    }
    for (uint32_t id = 0; id < LMC_TYPE_COUNT; id++)
        if (!known[id]) CHECK(lmc_type_get(id) == NULL, "id %u is not a ggml type", id);
    const uint32_t bad[] = {4, 5, 31, 32, 33, 36, 37, 38, 40, 41, 64, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(lmc_type_get(bad[i]) == NULL, "lmc_type_get(%u) must be NULL", bad[i]);
        CHECK(strcmp(lmc_type_name(bad[i]), "?") == 0, "lmc_type_name(%u)", bad[i]);
        CHECK(lmc_row_size(bad[i], 256) == 0, "row size of unknown type %u", bad[i]);
    }

    CHECK(lmc_row_size(LMC_TYPE_Q4_K, 4096) == 16 * 144, "Q4_K row");
    CHECK(lmc_row_size(LMC_TYPE_Q8_0, 4096) == 128 * 34, "Q8_0 row");
    CHECK(lmc_row_size(LMC_TYPE_F16, 7) == 14, "F16 row");
    CHECK(lmc_row_size(LMC_TYPE_Q4_0, 0) == 0, "empty row");
    CHECK(lmc_row_size(LMC_TYPE_Q4_0, 33) == 0, "partial block rejected");
    CHECK(lmc_row_size(LMC_TYPE_Q6_K, 128) == 0, "partial super-block rejected");
    CHECK(lmc_row_size(LMC_TYPE_F32, -4) == 0, "negative ne0 rejected");
    CHECK(lmc_row_size(LMC_TYPE_I64, INT64_MAX) == 0, "overflowing row rejected");
    CHECK(lmc_row_size(LMC_TYPE_F32, INT64_MAX / 4) == (uint64_t)(INT64_MAX / 4) * 4, "large row");
}

/* --- f16 ----------------------------------------------------------------------------------------
 */
static void test_f16(void) {
    /* f16 -> f32 on the special values. */
    CHECK(f32_bits(lmc_f16_to_f32(0x0000)) == 0x00000000u, "+0");
    CHECK(f32_bits(lmc_f16_to_f32(0x8000)) == 0x80000000u, "-0 keeps its sign");
    CHECK(lmc_f16_to_f32(0x0001) == ldexpf(1.0f, -24), "smallest subnormal");
    CHECK(lmc_f16_to_f32(0x8001) == -ldexpf(1.0f, -24), "negative subnormal");
    CHECK(lmc_f16_to_f32(0x03ff) == 1023.0f * ldexpf(1.0f, -24), "largest subnormal");
    CHECK(lmc_f16_to_f32(0x0200) == ldexpf(1.0f, -15), "mid subnormal");
    CHECK(lmc_f16_to_f32(0x0400) == ldexpf(1.0f, -14), "smallest normal");
    CHECK(lmc_f16_to_f32(0x3c00) == 1.0f, "one");
    CHECK(lmc_f16_to_f32(0xc000) == -2.0f, "minus two");
    CHECK(lmc_f16_to_f32(0x3555) == (1024 + 0x155) / 4096.0f, "0x3555 = 2^-2 * (1 + 0x155/1024)");
    CHECK(lmc_f16_to_f32(0x7bff) == 65504.0f, "max");
    CHECK(isinf(lmc_f16_to_f32(0x7c00)) && lmc_f16_to_f32(0x7c00) > 0, "+inf");
    CHECK(isinf(lmc_f16_to_f32(0xfc00)) && lmc_f16_to_f32(0xfc00) < 0, "-inf");
    CHECK(isnan(lmc_f16_to_f32(0x7e00)) && isnan(lmc_f16_to_f32(0x7c01)) &&
              isnan(lmc_f16_to_f32(0xfe00)),
          "nan");

    /* f32 -> f16 on known values, ties to even. */
    const struct {
        float f;
        uint16_t h;
        const char *what;
    } cases[] = {
        {0.0f, 0x0000, "+0"},
        {-0.0f, 0x8000, "-0"},
        {1.0f, 0x3c00, "one"},
        {-2.5f, 0xc100, "-2.5"},
        {65504.0f, 0x7bff, "max"},
        {65519.0f, 0x7bff, "just below the tie with overflow"},
        {65520.0f, 0x7c00, "tie between max and 2^16 rounds to even = inf"},
        {1e6f, 0x7c00, "overflow to inf"},
        {-1e6f, 0xfc00, "overflow to -inf"},
        {1.0f + 0x1p-11f, 0x3c00, "tie 1 / 1+2^-10 -> even (1)"},
        {1.0f + 3 * 0x1p-11f, 0x3c02, "tie 1+2^-10 / 1+2^-9 -> even"},
        {1.0f + 0x1p-11f + 0x1p-20f, 0x3c01, "just above a tie rounds up"},
        {0x1p-24f, 0x0001, "smallest subnormal"},
        {0x1p-25f, 0x0000, "tie 0 / 2^-24 -> even (0)"},
        {0x1p-25f * 1.0000001f, 0x0001, "just above half the smallest subnormal"},
        {3 * 0x1p-25f, 0x0002, "tie 1 / 2 subnormal units -> even"},
        {5 * 0x1p-25f, 0x0002, "tie 2 / 3 subnormal units -> even"},
        {0x1p-14f - 0x1p-25f, 0x0400, "tie largest subnormal / smallest normal -> even"},
        {0x1p-14f, 0x0400, "smallest normal"},
        {1e-10f, 0x0000, "underflow to 0"},
        {-1e-10f, 0x8000, "underflow to -0"},
        {0x1p-149f, 0x0000, "f32 subnormal"},
        {INFINITY, 0x7c00, "+inf"},
        {-INFINITY, 0xfc00, "-inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t h = lmc_f32_to_f16(cases[i].f);
        CHECK(h == cases[i].h, "f32_to_f16(%a) = 0x%04x, want 0x%04x (%s)", cases[i].f, h,
              cases[i].h, cases[i].what);
    }
    uint16_t hn = lmc_f32_to_f16(NAN);
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0, "nan stays nan: 0x%04x", hn);

    /* Every finite f16 survives f16 -> f32 -> f16; every NaN stays NaN. */
    int bad_round_trip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = lmc_f16_to_f32((uint16_t)h);
        uint16_t back = lmc_f32_to_f16(f);
        bool ok = ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) ? isnan(lmc_f16_to_f32(back)) : back == h;
        if (!ok) bad_round_trip++;
    }
    CHECK(bad_round_trip == 0, "%d f16 values do not round-trip", bad_round_trip);

    /* Random f32 in the f16 range: the result is the nearest f16 (ties to even), checked against
     * its neighbours in double precision. */
    int bad_nearest = 0;
    for (int i = 0; i < 200000; i++) {
        /* exponents from 2^-27 to 2^16 so subnormals, normals and overflow all occur */
        uint32_t e = 127 - 27 + rnd_u32() % 44;
        float f = bits_f32((rnd_u32() & 0x80000000u) | e << 23 | (rnd_u32() & 0x7fffffu));
        uint16_t h = lmc_f32_to_f16(f);
        double err = fabs((double)lmc_f16_to_f32(h) - (double)f);
        if (isinf(lmc_f16_to_f32(h))) {
            if (fabs((double)f) < 65520.0)
                bad_nearest++; /* only values at/after the tie may overflow */
            continue;
        }
        if (fabs((double)f) >= 65520.0) {
            bad_nearest++;
            continue;
        }
        for (int dlt = -1; dlt <= 1; dlt += 2) {
            uint16_t nb = (uint16_t)(h + dlt);
            if ((h & 0x7fff) == 0 && dlt < 0) nb = (uint16_t)((h ^ 0x8000) + 1); /* across zero */
            if ((nb & 0x7c00) == 0x7c00) continue;
            double nerr = fabs((double)lmc_f16_to_f32(nb) - (double)f);
            if (nerr < err || (nerr == err && (h & 1))) bad_nearest++;
        }
    }
    CHECK(bad_nearest == 0, "%d random f32 values not rounded to the nearest even f16",
          bad_nearest);

    CHECK(lmc_bf16_to_f32(0x3f80) == 1.0f, "bf16 one");
    CHECK(f32_bits(lmc_bf16_to_f32(0x8000)) == 0x80000000u, "bf16 -0");
    CHECK(isinf(lmc_bf16_to_f32(0xff80)) && lmc_bf16_to_f32(0xff80) < 0, "bf16 -inf");
}

/* --- hand-built blocks ---------------------------------------------------------------------------
 */
static void test_hand_blocks(void) {
    /* Q4_0: d = 0.5, byte j = j | (15-j) << 4: weights j are 0.5*(j-8), weights j+16 are 0.5*(7-j).
     */
    block_q4_0 b40;
    b40.d = 0x3800;
    for (int j = 0; j < 16; j++)
        b40.qs[j] = (uint8_t)(j | (15 - j) << 4);
    float y[QK_K];
    lmc_dequantize(LMC_TYPE_Q4_0, &b40, y, 32);
    int bad = 0;
    for (int j = 0; j < 16; j++)
        bad += y[j] != 0.5f * (float)(j - 8) || y[j + 16] != 0.5f * (float)(7 - j);
    CHECK(bad == 0, "Q4_0 hand block: %d wrong", bad);

    /* Q8_0: d = -2, qs = -128..127 in steps. */
    block_q8_0 b80;
    b80.d = 0xc000;
    for (int j = 0; j < 32; j++)
        b80.qs[j] = (int8_t)(j * 8 - 128);
    lmc_dequantize(LMC_TYPE_Q8_0, &b80, y, 32);
    bad = 0;
    for (int j = 0; j < 32; j++)
        bad += y[j] != -2.0f * (float)(j * 8 - 128);
    CHECK(bad == 0, "Q8_0 hand block: %d wrong", bad);

    /* Q4_K: pack 6-bit scales/mins (values >= 16 for sub-blocks 4-7 exercise the split high bits),
     * d = 1, dmin = 0.5, every nibble 3: weight of sub-block j is sc[j]*3 - 0.5*m[j]. */
    const int sc[8] = {1, 2, 3, 4, 40, 50, 60, 63}, m[8] = {5, 6, 7, 8, 33, 47, 17, 62};
    block_q4_K b4k;
    b4k.d = 0x3c00;
    b4k.dmin = 0x3800;
    for (int j = 0; j < 4; j++) {
        b4k.scales[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        b4k.scales[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        b4k.scales[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
    memset(b4k.qs, 0x33, sizeof b4k.qs);
    lmc_dequantize(LMC_TYPE_Q4_K, &b4k, y, QK_K);
    bad = 0;
    for (int i = 0; i < QK_K; i++)
        bad += y[i] != (float)sc[i / 32] * 3.0f - 0.5f * (float)m[i / 32];
    CHECK(bad == 0, "Q4_K hand block: %d wrong", bad);
}

/* --- vec_dot_ref vs dequantize-then-dot
 * ----------------------------------------------------------- */

static uint16_t rnd_finite_half(void) {
    uint16_t h;
    do
        h = (uint16_t)rnd_u32();
    while ((h & 0x7c00) == 0x7c00);
    return h;
}

/* Fills n weights of type at p with random content whose every value is finite. */
static void fill_random(uint32_t type, uint8_t *p, int64_t n) {
    const lmc_type_traits *t = lmc_type_get(type);
    const int64_t nb = n / t->blck_size;
    if (type == LMC_TYPE_F32) {
        for (int64_t i = 0; i < n; i++) {
            float f = rnd_unit() * 100.0f;
            memcpy(p + 4 * i, &f, 4);
        }
        return;
    }
    if (type == LMC_TYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            /* exponents 2^-40 .. 2^40: finite, no overflow in the dot product */
            uint16_t h =
                (uint16_t)((rnd_u32() & 0x807f) | (uint32_t)(127 - 40 + rnd_u32() % 81) << 7);
            memcpy(p + 2 * i, &h, 2);
        }
        return;
    }
    for (int64_t i = 0; i < nb * t->type_size; i++)
        p[i] = (uint8_t)rnd_u32();
    if (type == LMC_TYPE_F16) {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = rnd_finite_half();
            memcpy(p + 2 * i, &h, 2);
        }
        return;
    }
    int off[2];
    int k = t_f16_fields(type, off);
    CHECK(k > 0, "test knows the scale fields of %s", t->name);
    for (int64_t b = 0; b < nb; b++)
        for (int f = 0; f < k; f++) {
            uint16_t h = rnd_finite_half();
            memcpy(p + b * t->type_size + off[f], &h, 2);
        }
}

static void test_vec_dot(void) {
    enum { NMAX = 9 * QK_K };
    static uint8_t raw[NMAX * 4 + 16];
    static float w[NMAX], x[NMAX];
    for (uint32_t type = 0; type < LMC_TYPE_COUNT; type++) {
        const lmc_type_traits *t = lmc_type_get(type);
        if (!t || !t->supported) continue;
        /* several lengths: one block, not a whole number of 256-chunks, several chunks */
        const int64_t lens[] = {t->blck_size, t->blck_size == 1 ? 300 : 9 * (int64_t)t->blck_size,
                                4 * QK_K, t->blck_size == QK_K ? 3 * QK_K : 4 * QK_K + 32};
        for (int li = 0; li < 4; li++) {
            const int64_t n = lens[li];
            for (int rep = 0; rep < 5; rep++) {
                /* rep 1 uses an odd address: rows in a GGUF need not be aligned */
                uint8_t *row = raw + (rep == 1 ? 1 : 0);
                fill_random(type, row, n);
                for (int64_t i = 0; i < n; i++)
                    x[i] = rnd_unit();
                lmc_dequantize(type, row, w, n);
                float ref = 0.0f;
                double dref = 0.0, mag = 0.0;
                int nonfinite = 0;
                for (int64_t i = 0; i < n; i++) {
                    nonfinite += !isfinite(w[i]);
                    ref += w[i] * x[i];
                    dref += (double)w[i] * (double)x[i];
                    mag += fabs((double)w[i] * (double)x[i]);
                }
                float got = lmc_vec_dot_ref(type, row, x, n);
                CHECK(nonfinite == 0, "%s: %d non-finite weights from finite scales", t->name,
                      nonfinite);
                CHECK(fabsf(got - ref) <= 1e-6f * fabsf(ref) || got == ref,
                      "%s n=%lld: vec_dot_ref %.9g vs dequantize+dot %.9g", t->name, (long long)n,
                      got, ref);
                /* and against the exact sum, within f32 accumulation error */
                CHECK(fabs((double)got - dref) <= (double)n * 0x1p-24 * mag + 1e-30,
                      "%s n=%lld: vec_dot_ref %.9g vs f64 %.17g", t->name, (long long)n, got, dref);
            }
        }
    }
}

int main(void) {
    test_table();
    test_f16();
    test_hand_blocks();
    test_vec_dot();
    return t_done();
}
