/* quant.c — the ggml type table (name, block size, bytes per block for every known type id) and the
 * scalar reference dequantizers, bit-exact with the `gguf` package's numpy code. No SIMD here: fast
 * kernels live in src/cpu/ and are tested against these. IQ*, TQ*, MXFP4 and integer types are
 * known (sizes) but not computed with. */
#include "quant.h"

#include "util.h"

#include <stddef.h>
#include <string.h>

/* Exactness note: every formula below follows the numpy reference's order of f32 operations (e.g.
 * Q4_K is (d*sc)*q - (dmin*m)). With f16 scales and small integer quants the products are exact in
 * f32 (but Q6_K's), so at most one rounding happens and it is the reference's; this file is still
 * built with -ffp-contract=off (CMakeLists) so no compiler fuses a multiply-add into a different
 * result. */

static inline float half(lmc_half h) {
    return lmc_f16_to_f32(h);
}

/* f16 fields are read with memcpy so that unaligned rows (GGUF offsets are only 32-byte aligned,
 * and rows of odd-sized blocks are not aligned at all) never trip UBSan. */
static inline float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return half(h);
}

/* --- plain floats ------------------------------------------------------------------------------
 */

static void to_float_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * 4);
}

static void to_float_f16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = half_at(p + 2 * i);
}

static void to_float_bf16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = lmc_bf16_to_f32(h);
    }
}

/* --- 32-weight blocks ------------------------------------------------------------------------- */
/* In Q4_x/Q5_x byte j of qs holds weight j in its low nibble and weight j+16 in its high nibble; in
 * Q5_x bit j of the little-endian 32-bit qh is the fifth bit of weight j. */

static void to_float_q4_0(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / QK4_0; b++, p += sizeof(block_q4_0), dst += QK4_0) {
        const float d = half_at(p);
        const uint8_t *qs = p + offsetof(block_q4_0, qs);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[j] = d * (float)((qs[j] & 15) - 8);
            dst[j + 16] = d * (float)((qs[j] >> 4) - 8);
        }
    }
}

static void to_float_q4_1(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / QK4_1; b++, p += sizeof(block_q4_1), dst += QK4_1) {
        const float d = half_at(p + offsetof(block_q4_1, d)),
                    m = half_at(p + offsetof(block_q4_1, m));
        const uint8_t *qs = p + offsetof(block_q4_1, qs);
        for (int j = 0; j < QK4_1 / 2; j++) {
            dst[j] = d * (float)(qs[j] & 15) + m;
            dst[j + 16] = d * (float)(qs[j] >> 4) + m;
        }
    }
}

static inline uint32_t load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void to_float_q5_0(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / QK5_0; b++, p += sizeof(block_q5_0), dst += QK5_0) {
        const float d = half_at(p);
        const uint32_t qh = load_u32le(p + offsetof(block_q5_0, qh));
        const uint8_t *qs = p + offsetof(block_q5_0, qs);
        for (int j = 0; j < QK5_0 / 2; j++) {
            int lo = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            dst[j] = d * (float)(lo - 16);
            dst[j + 16] = d * (float)(hi - 16);
        }
    }
}

static void to_float_q5_1(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / QK5_1; b++, p += sizeof(block_q5_1), dst += QK5_1) {
        const float d = half_at(p + offsetof(block_q5_1, d)),
                    m = half_at(p + offsetof(block_q5_1, m));
        const uint32_t qh = load_u32le(p + offsetof(block_q5_1, qh));
        const uint8_t *qs = p + offsetof(block_q5_1, qs);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int lo = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            dst[j] = d * (float)lo + m;
            dst[j + 16] = d * (float)hi + m;
        }
    }
}

static void to_float_q8_0(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / QK8_0; b++, p += sizeof(block_q8_0), dst += QK8_0) {
        const float d = half_at(p);
        const int8_t *qs = (const int8_t *)(p + offsetof(block_q8_0, qs));
        for (int j = 0; j < QK8_0; j++)
            dst[j] = d * (float)qs[j];
    }
}

/* --- K-quants: 256-weight super-blocks ----------------------------------------------------------
 */

/* Q2_K: 16 sub-blocks of 16. scales[i] = 4-bit scale (low) | 4-bit min (high). The 2-bit quants are
 * in two halves of 128 weights; in half h, bits 2s..2s+1 of qs[32h + l] give weight 128h + 32s + l.
 */
static void to_float_q2_K(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / QK_K; b++, p += sizeof(block_q2_K), dst += QK_K) {
        const uint8_t *scales = p + offsetof(block_q2_K, scales),
                      *qs = p + offsetof(block_q2_K, qs);
        const float d = half_at(p + offsetof(block_q2_K, d)),
                    dmin = half_at(p + offsetof(block_q2_K, dmin));
        for (int i = 0; i < QK_K; i++) {
            const int h = i / 128, s = (i / 32) % 4, l = i % 32;
            const uint8_t sc = scales[i / 16];
            const float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
            const int q = (qs[32 * h + l] >> (2 * s)) & 3;
            dst[i] = dl * (float)q - ml;
        }
    }
}

/* Q3_K: 16 sub-blocks of 16 with signed 6-bit scales packed in 12 bytes: the low 4 bits of scale i
 * are the low (i < 8) or high (i >= 8) nibble of byte i % 8; its high 2 bits are bits 2*(i/4).. of
 * byte 8 + i % 4. The low 2 bits of weight i come as in Q2_K; the third bit is bit i/32 of
 * hmask[i % 32], and a CLEAR bit means "subtract 4" (values -4..3). */
static void to_float_q3_K(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / QK_K; b++, p += sizeof(block_q3_K), dst += QK_K) {
        const uint8_t *hmask = p + offsetof(block_q3_K, hmask), *qs = p + offsetof(block_q3_K, qs);
        const uint8_t *sc = p + offsetof(block_q3_K, scales);
        const float d = half_at(p + offsetof(block_q3_K, d));
        float dl[16];
        for (int i = 0; i < 16; i++) {
            int lo = i < 8 ? sc[i] & 15 : sc[i - 8] >> 4;
            int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
            dl[i] = d * (float)((lo | hi << 4) - 32);
        }
        for (int i = 0; i < QK_K; i++) {
            const int h = i / 128, s = (i / 32) % 4, l = i % 32;
            int q = (qs[32 * h + l] >> (2 * s)) & 3;
            if (!((hmask[l] >> (i / 32)) & 1)) q -= 4;
            dst[i] = dl[i / 16] * (float)q;
        }
    }
}

/* Q4_K/Q5_K: 8 sub-blocks of 32, each with an unsigned 6-bit scale and 6-bit min packed in 12
 * bytes. For j < 4: scale = b[j] & 63, min = b[j+4] & 63. For j >= 4: scale = low nibble of b[j+4]
 * plus the top 2 bits of b[j-4] as bits 4-5; min = high nibble of b[j+4] plus the top 2 bits of
 * b[j]. */
void lmc_k_scale_min(const uint8_t *b, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = b[j] & 63;
        *m = b[j + 4] & 63;
    } else {
        *sc = (b[j + 4] & 15) | (b[j - 4] >> 6) << 4;
        *m = (b[j + 4] >> 4) | (b[j] >> 6) << 4;
    }
}

/* One Q4_K / Q5_K super-block: sub-blocks 2c and 2c+1 share qs[32c .. 32c+31] (low nibbles, then
 * high nibbles), 6-bit scales and mins; y = d*sc*q - dmin*m. Q5_K's qh adds a fifth bit per weight:
 * bit j of qh[l] for weight 32j + l (qh NULL for Q4_K). */
static void to_float_k4(float d, float dmin, const uint8_t *scales, const uint8_t *qs,
                        const uint8_t *qh, float *dst) {
    for (int j = 0; j < 8; j++) {
        int sc, m;
        lmc_k_scale_min(scales, j, &sc, &m);
        const float dl = d * (float)sc, ml = dmin * (float)m;
        const uint8_t *q = qs + 32 * (j / 2);
        const int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) {
            const int v = ((q[l] >> shift) & 15) | (qh ? ((qh[l] >> j) & 1) << 4 : 0);
            dst[32 * j + l] = dl * (float)v - ml;
        }
    }
}

static void to_float_q4_K(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / QK_K; b++, p += sizeof(block_q4_K), dst += QK_K)
        to_float_k4(half_at(p + offsetof(block_q4_K, d)), half_at(p + offsetof(block_q4_K, dmin)),
                    p + offsetof(block_q4_K, scales), p + offsetof(block_q4_K, qs), NULL, dst);
}

static void to_float_q5_K(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / QK_K; b++, p += sizeof(block_q5_K), dst += QK_K)
        to_float_k4(half_at(p + offsetof(block_q5_K, d)), half_at(p + offsetof(block_q5_K, dmin)),
                    p + offsetof(block_q5_K, scales), p + offsetof(block_q5_K, qs),
                    p + offsetof(block_q5_K, qh), dst);
}

/* Q6_K: 16 sub-blocks of 16 with signed 8-bit scales. Two halves of 128 weights; in half h, weight
 * 128h + 64k + l (l < 64) takes its low 4 bits from nibble k of ql[64h + l], and weight 128h + 32s
 * + l (l < 32) takes its high 2 bits from bits 2s..2s+1 of qh[32h + l]. Values are q - 32. */
static void to_float_q6_K(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / QK_K; b++, p += sizeof(block_q6_K), dst += QK_K) {
        const uint8_t *ql = p + offsetof(block_q6_K, ql), *qh = p + offsetof(block_q6_K, qh);
        const int8_t *scales = (const int8_t *)(p + offsetof(block_q6_K, scales));
        const float d = half_at(p + offsetof(block_q6_K, d));
        for (int i = 0; i < QK_K; i++) {
            const int h = i / 128, r = i % 128;
            int lo = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 15;
            int hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
            const float dl = d * (float)scales[i / 16];
            dst[i] = dl * (float)((lo | hi << 4) - 32);
        }
    }
}

/* --- the table ----------------------------------------------------------------------------------
 */

/* Sizes are ggml's (ggml.c type_traits). They equal the gguf package's GGML_QUANT_SIZES except
 * Q8_1, which gguf-py lists as 40 bytes (two f32) while ggml stores two f16: 36. */
static const lmc_type_traits g_traits[LMC_TYPE_COUNT] = {
    [LMC_TYPE_F32] = {"F32", 1, 4, true, to_float_f32},
    [LMC_TYPE_F16] = {"F16", 1, 2, true, to_float_f16},
    [LMC_TYPE_Q4_0] = {"Q4_0", QK4_0, sizeof(block_q4_0), true, to_float_q4_0},
    [LMC_TYPE_Q4_1] = {"Q4_1", QK4_1, sizeof(block_q4_1), true, to_float_q4_1},
    [LMC_TYPE_Q5_0] = {"Q5_0", QK5_0, sizeof(block_q5_0), true, to_float_q5_0},
    [LMC_TYPE_Q5_1] = {"Q5_1", QK5_1, sizeof(block_q5_1), true, to_float_q5_1},
    [LMC_TYPE_Q8_0] = {"Q8_0", QK8_0, sizeof(block_q8_0), true, to_float_q8_0},
    [LMC_TYPE_Q8_1] = {"Q8_1", QK8_1, sizeof(block_q8_1), false, NULL},
    [LMC_TYPE_Q2_K] = {"Q2_K", QK_K, sizeof(block_q2_K), true, to_float_q2_K},
    [LMC_TYPE_Q3_K] = {"Q3_K", QK_K, sizeof(block_q3_K), true, to_float_q3_K},
    [LMC_TYPE_Q4_K] = {"Q4_K", QK_K, sizeof(block_q4_K), true, to_float_q4_K},
    [LMC_TYPE_Q5_K] = {"Q5_K", QK_K, sizeof(block_q5_K), true, to_float_q5_K},
    [LMC_TYPE_Q6_K] = {"Q6_K", QK_K, sizeof(block_q6_K), true, to_float_q6_K},
    [LMC_TYPE_Q8_K] = {"Q8_K", QK_K, sizeof(block_q8_K), false, NULL},
    [LMC_TYPE_IQ2_XXS] = {"IQ2_XXS", QK_K, 66, false, NULL},
    [LMC_TYPE_IQ2_XS] = {"IQ2_XS", QK_K, 74, false, NULL},
    [LMC_TYPE_IQ3_XXS] = {"IQ3_XXS", QK_K, 98, false, NULL},
    [LMC_TYPE_IQ1_S] = {"IQ1_S", QK_K, 50, false, NULL},
    [LMC_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18, false, NULL},
    [LMC_TYPE_IQ3_S] = {"IQ3_S", QK_K, 110, false, NULL},
    [LMC_TYPE_IQ2_S] = {"IQ2_S", QK_K, 82, false, NULL},
    [LMC_TYPE_IQ4_XS] = {"IQ4_XS", QK_K, 136, false, NULL},
    [LMC_TYPE_I8] = {"I8", 1, 1, false, NULL},
    [LMC_TYPE_I16] = {"I16", 1, 2, false, NULL},
    [LMC_TYPE_I32] = {"I32", 1, 4, false, NULL},
    [LMC_TYPE_I64] = {"I64", 1, 8, false, NULL},
    [LMC_TYPE_F64] = {"F64", 1, 8, false, NULL},
    [LMC_TYPE_IQ1_M] = {"IQ1_M", QK_K, 56, false, NULL},
    [LMC_TYPE_BF16] = {"BF16", 1, 2, true, to_float_bf16},
    [LMC_TYPE_TQ1_0] = {"TQ1_0", QK_K, 54, false, NULL},
    [LMC_TYPE_TQ2_0] = {"TQ2_0", QK_K, 66, false, NULL},
    [LMC_TYPE_MXFP4] = {"MXFP4", 32, 17, false, NULL},
    /* 4, 5 (removed Q4_2/Q4_3), 31-33 (removed Q4_0_4_4 ...), 36-38 (removed IQ4_NL_x_x): no name
     */
};

const lmc_type_traits *lmc_type_get(uint32_t type) {
    if (type >= LMC_TYPE_COUNT || !g_traits[type].name) return NULL;
    return &g_traits[type];
}

const char *lmc_type_name(uint32_t type) {
    const lmc_type_traits *t = lmc_type_get(type);
    return t ? t->name : "?";
}

/* 0 for an unknown type, a negative ne0, one that is not a whole number of blocks, or a size that
 * does not fit 64 bits: callers checking untrusted shapes treat 0 as "invalid" (with ne0 > 0). */
uint64_t lmc_row_size(uint32_t type, int64_t ne0) {
    const lmc_type_traits *t = lmc_type_get(type);
    if (!t || ne0 < 0 || ne0 % t->blck_size) return 0;
    uint64_t nb = (uint64_t)(ne0 / t->blck_size);
    if (nb > UINT64_MAX / (uint64_t)t->type_size) return 0;
    return nb * (uint64_t)t->type_size;
}

void lmc_dequantize(uint32_t type, const void *src, float *dst, int64_t n) {
    const lmc_type_traits *t = lmc_type_get(type);
    assert(t && t->to_float && n >= 0 && n % t->blck_size == 0);
    if (!t || !t->to_float) return;
    t->to_float(src, dst, n);
}

float lmc_vec_dot_ref(uint32_t type, const void *row, const float *x, int64_t n) {
    const lmc_type_traits *t = lmc_type_get(type);
    assert(t && t->to_float && n >= 0 && n % t->blck_size == 0);
    if (!t || !t->to_float) return 0.0f;
    /* Dequantize a chunk of whole blocks at a time (QK_K weights: one super-block, or 256 plain
     * floats, or 8 small blocks) so the scratch stays on the stack. */
    enum { CHUNK = QK_K };
    float buf[CHUNK];
    const int64_t per_chunk =
        CHUNK / t->blck_size; /* blocks per chunk; every blck_size divides 256 */
    const uint8_t *p = row;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += CHUNK) {
        const int64_t m = n - i < CHUNK ? n - i : CHUNK;
        t->to_float(p, buf, m);
        for (int64_t j = 0; j < m; j++)
            sum += buf[j] * x[i + j];
        p += (size_t)(per_chunk * t->type_size);
    }
    return sum;
}
