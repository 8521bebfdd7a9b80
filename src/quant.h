/* quant.h — ggml tensor types: ids, block layouts (defined once, sizes asserted), traits and the
 * reference (scalar, exact) dequantization. Fast kernels live in src/cpu/ and are tested against
 * it. */
#ifndef LMC_QUANT_H
#define LMC_QUANT_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

enum lmc_type {
    LMC_TYPE_F32 = 0,
    LMC_TYPE_F16 = 1,
    LMC_TYPE_Q4_0 = 2,
    LMC_TYPE_Q4_1 = 3,
    LMC_TYPE_Q5_0 = 6,
    LMC_TYPE_Q5_1 = 7,
    LMC_TYPE_Q8_0 = 8,
    LMC_TYPE_Q8_1 = 9,
    LMC_TYPE_Q2_K = 10,
    LMC_TYPE_Q3_K = 11,
    LMC_TYPE_Q4_K = 12,
    LMC_TYPE_Q5_K = 13,
    LMC_TYPE_Q6_K = 14,
    LMC_TYPE_Q8_K = 15,
    LMC_TYPE_IQ2_XXS = 16,
    LMC_TYPE_IQ2_XS = 17,
    LMC_TYPE_IQ3_XXS = 18,
    LMC_TYPE_IQ1_S = 19,
    LMC_TYPE_IQ4_NL = 20,
    LMC_TYPE_IQ3_S = 21,
    LMC_TYPE_IQ2_S = 22,
    LMC_TYPE_IQ4_XS = 23,
    LMC_TYPE_I8 = 24,
    LMC_TYPE_I16 = 25,
    LMC_TYPE_I32 = 26,
    LMC_TYPE_I64 = 27,
    LMC_TYPE_F64 = 28,
    LMC_TYPE_IQ1_M = 29,
    LMC_TYPE_BF16 = 30,
    LMC_TYPE_TQ1_0 = 34,
    LMC_TYPE_TQ2_0 = 35,
    LMC_TYPE_MXFP4 = 39,
    LMC_TYPE_COUNT = 40
};

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t lmc_half; /* IEEE binary16 bits */

typedef struct {
    lmc_half d;
    uint8_t qs[QK4_0 / 2];
} block_q4_0;
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
typedef struct {
    lmc_half d, m;
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
typedef struct {
    lmc_half d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
typedef struct {
    lmc_half d, m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
typedef struct {
    lmc_half d;
    int8_t qs[QK8_0];
} block_q8_0;
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
typedef struct {
    lmc_half d, s;
    int8_t qs[QK8_1];
} block_q8_1;
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");

/* K-quants: super-blocks of 256 weights. */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    lmc_half d, dmin;
} block_q2_K;
static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    lmc_half d;
} block_q3_K;
static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");
typedef struct {
    lmc_half d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
typedef struct {
    lmc_half d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    lmc_half d;
} block_q6_K;
static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

typedef void (*lmc_to_float_fn)(const void *src, float *dst, int64_t n);

typedef struct {
    const char *name;         /* "Q4_K", ... */
    int32_t blck_size;        /* weights per block */
    int32_t type_size;        /* bytes per block */
    bool supported;           /* lmc can compute with it */
    lmc_to_float_fn to_float; /* reference dequantization (NULL when unsupported) */
} lmc_type_traits;

/* Traits of a ggml type id, or NULL for an id that is not a known type. */
const lmc_type_traits *lmc_type_get(uint32_t type);
const char *lmc_type_name(uint32_t type); /* "?" when unknown */
/* Bytes of a row of ne0 weights (ne0 must be a multiple of the block size). */
uint64_t lmc_row_size(uint32_t type, int64_t ne0);
/* Q4_K / Q5_K: the 6-bit scale and min of sub-block j (0..7) from a super-block's 12 scale bytes.
 */
void lmc_k_scale_min(const uint8_t *scales, int j, int *sc, int *m);
/* Reference dequantization of n weights (n a multiple of the block size). */
void lmc_dequantize(uint32_t type, const void *src, float *dst, int64_t n);
/* Reference dot product of one row of a weight tensor with f32 activations: dequantize, then sum in
 * f32 in order. The fast kernels are compared with this. */
float lmc_vec_dot_ref(uint32_t type, const void *row, const float *x, int64_t n);

#endif
