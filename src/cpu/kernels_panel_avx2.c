/* kernels_panel_avx2.c — prompt gemms (several tokens) over weight panels packed at run time, AVX2
 * + FMA + F16C: the zen3 table's prompt kernels for F32, F16, BF16, Q8_0 and Q4_0 (kernels.c;
 * decode keeps the row kernels of kernels_avx2.c). The GGUF rows stay as they are in memory; each
 * call copies a few rows at a time into a small row-interleaved panel on the stack, converted once
 * and then used for every token of the batch, so the conversion is paid once per weight per call,
 * not once per token tile, and a panel lane is a weight row, so results leave the registers without
 * horizontal sums.
 *
 *  - Float types and Q8_0 (exact f32 activations): 16 rows x 256 columns of weights as f32, stored
 *    column by column (panel[k][16]: the 16 rows' weights of column k side by side; Q8_0's q * d is
 *    exact, as in the reference dequantizer). The register tile is 16 rows x 6 tokens: per column
 *    two panel loads, six broadcast activations, twelve FMAs. Each output is one FMA chain over k
 *    in order (the partial sums of a 256-column panel pass through y between panels, exactly).
 *  - Q4_0 (Q8_0-style 8-bit activations): 8 rows x up to 64 blocks; per block eight 32-byte
 *    vectors whose bytes 4i..4i+3 are row i's codes 4j..4j+3 (j the vector), then the 8 row scales
 *    as f32. maddubs against the 4 activation bytes j broadcast gives each row's products in its
 *    own 32-bit lane; the eight int16 results of a block add without overflow (15 * 127 * 2 * 8 =
 *    30480), one madd makes them int32, minus 8 * (sum of the block's activations) for the codes'
 *    offset: the block's exact integer dot for 8 rows, then one conversion and one FMA per 8 rows
 *    and token (the row kernels pay them per row).
 * A row's result does not depend on which rows share its panel (missing rows are zeros) nor on how
 * the tokens are split into calls. Measurements: docs/PERFORMANCE.md (the Zen 3 section). */
#if defined(__x86_64__) || defined(__i386__)
#include "kernels.h"

#include <immintrin.h>
#include <string.h>

#define KINLINE static inline __attribute__((always_inline))

enum {
    FP_R = 16,             /* float panel: rows */
    FP_K = 256,            /* float panel: columns */
    FP_T = 6,              /* float register tile: tokens (x 16 rows) */
    FP_RC = 128,           /* rows per chunk of the panel walk (gemm_fpanel) */
    Q4_R = 8,              /* Q4_0 panel: rows */
    Q4_B = 64,             /* Q4_0 panel: blocks of 32 columns */
    Q4_T = 4,              /* Q4_0 register tile: tokens (x 8 rows) */
    Q4_BB = 8 * 32 + 8 * 4 /* bytes of one packed Q4_0 block: 8 code vectors, 8 f32 scales */
};

KINLINE float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}
KINLINE float bf16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    const uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}
KINLINE float f32_at(const uint8_t *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}
KINLINE int32_t i32_at(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* r[j] (element i) = r[i] (element j) on entry: an 8 x 8 transpose of 32-bit elements. */
KINLINE void transpose8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* Prefetches bytes [o0, o1) of `rows` rows: the next panel's weights, fetched while the current
 * panel is used for every token (the panels' rows are too many short streams for the hardware
 * prefetcher: without it a fifth of an F16 prompt's gemm time went to packing, perf). */
static void prefetch_rows(const uint8_t *w, size_t ws, int rows, size_t o0, size_t o1) {
    for (int r = 0; r < rows; r++)
        for (size_t o = o0 & ~(size_t)63; o < o1; o += 64)
            _mm_prefetch((const char *)(w + (size_t)r * ws + o), _MM_HINT_T0);
}

/* --- float panels ---------------------------------------------------------------------------- */

/* Packs columns k0 .. k0+kc of `rows` (<= 16) weight rows into P[k][16], rows past `rows` zero.
 * LOAD8: 8 consecutive weights as f32 (exact conversions), SCALAR: one; ESZ bytes each. */
#define PACK_FLOAT(NAME, ESZ, LOAD8, SCALAR)                                                       \
    static void pack_##NAME(const uint8_t *w, size_t ws, int rows, int64_t k0, int kc, void *Pv) { \
        float *P = Pv;                                                                             \
        for (int g = 0; g < FP_R / 8; g++) {                                                       \
            const int rg = rows - 8 * g;                                                           \
            const uint8_t *wg = w + (size_t)(8 * g) * ws + (size_t)k0 * ESZ;                       \
            int k = 0;                                                                             \
            for (; k + 8 <= kc; k += 8) {                                                          \
                __m256 v[8];                                                                       \
                for (int i = 0; i < 8; i++)                                                        \
                    v[i] = i < rg ? LOAD8(wg + (size_t)i * ws + (size_t)k * ESZ)                   \
                                  : _mm256_setzero_ps();                                           \
                transpose8(v);                                                                     \
                for (int j = 0; j < 8; j++)                                                        \
                    _mm256_store_ps(P + (k + j) * FP_R + 8 * g, v[j]);                             \
            }                                                                                      \
            for (; k < kc; k++)                                                                    \
                for (int i = 0; i < 8; i++)                                                        \
                    P[k * FP_R + 8 * g + i] =                                                      \
                        i < rg ? SCALAR(wg + (size_t)i * ws + (size_t)k * ESZ) : 0.0f;             \
        }                                                                                          \
    }
#define LOAD8_F32(p) _mm256_loadu_ps((const float *)(p))
#define LOAD8_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define LOAD8_BF16(p)                                                                              \
    _mm256_castsi256_ps(                                                                           \
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
PACK_FLOAT(f32, 4, LOAD8_F32, f32_at)
PACK_FLOAT(f16, 2, LOAD8_F16, f16_at)
PACK_FLOAT(bf16, 2, LOAD8_BF16, bf16_at)

/* Q8_0: k0 and kc are multiples of 32; each weight q * d (exact in f32). */
static void pack_q8_0(const uint8_t *w, size_t ws, int rows, int64_t k0, int kc, void *Pv) {
    float *P = Pv;
    for (int g = 0; g < FP_R / 8; g++) {
        const int rg = rows - 8 * g;
        for (int b = 0; b < kc / 32; b++) {
            const int64_t blk = k0 / 32 + b;
            for (int s = 0; s < 4; s++) {
                __m256 v[8];
                for (int i = 0; i < 8; i++) {
                    if (i >= rg) {
                        v[i] = _mm256_setzero_ps();
                        continue;
                    }
                    const uint8_t *p = w + (size_t)(8 * g + i) * ws + (size_t)blk * 34;
                    const __m256 q = _mm256_cvtepi32_ps(
                        _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 2 + 8 * s))));
                    v[i] = _mm256_mul_ps(q, _mm256_set1_ps(f16_at(p)));
                }
                transpose8(v);
                for (int j = 0; j < 8; j++)
                    _mm256_store_ps(P + (32 * b + 8 * s + j) * FP_R + 8 * g, v[j]);
            }
        }
    }
}

/* y[t][0..16) (= for k0 > 0: +=) panel P (kc columns) times tokens x[t] (f32, xs bytes apart,
 * already advanced to column k0), NT tokens: one FMA chain per output, k in order. */
KINLINE void fp_tile(const int NT, const float *P, int kc, const uint8_t *x, size_t xs, float *y,
                     int64_t ldy, int first) {
    __m256 a[FP_T][2];
    _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
        a[t][0] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(y + t * ldy);
        a[t][1] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(y + t * ldy + 8);
    }
    const float *xt[FP_T];
    _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) xt[t] = (const float *)(x + t * xs);
    _Pragma("GCC unroll 2") for (int k = 0; k < kc; k++) {
        const __m256 w0 = _mm256_load_ps(P + k * FP_R), w1 = _mm256_load_ps(P + k * FP_R + 8);
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
            const __m256 xb = _mm256_broadcast_ss(xt[t] + k);
            a[t][0] = _mm256_fmadd_ps(w0, xb, a[t][0]);
            a[t][1] = _mm256_fmadd_ps(w1, xb, a[t][1]);
        }
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
        _mm256_storeu_ps(y + t * ldy, a[t][0]);
        _mm256_storeu_ps(y + t * ldy + 8, a[t][1]);
    }
}

static void fp_tile_n(int nt, const float *P, int kc, const uint8_t *x, size_t xs, float *y,
                      int64_t ldy, int first) {
    switch (nt) {
    case 1:
        fp_tile(1, P, kc, x, xs, y, ldy, first);
        break;
    case 2:
        fp_tile(2, P, kc, x, xs, y, ldy, first);
        break;
    case 3:
        fp_tile(3, P, kc, x, xs, y, ldy, first);
        break;
    case 4:
        fp_tile(4, P, kc, x, xs, y, ldy, first);
        break;
    case 5:
        fp_tile(5, P, kc, x, xs, y, ldy, first);
        break;
    default:
        fp_tile(6, P, kc, x, xs, y, ldy, first);
        break;
    }
}

/* A kind of panel: its shape and its packing and tile functions. The walk counts columns in units
 * of `unit` values (1: values, the float panels; 32: blocks, Q4_0), `step` units a panel. */
typedef struct panel_kind {
    int rows, tok; /* rows of a panel; tokens of a register tile */
    int64_t step;  /* units of columns of a panel */
    int unit;      /* values per unit */
    size_t b32;    /* bytes of 32 weights in a GGUF row (the prefetch's byte offsets) */
    void (*pack)(const uint8_t *w, size_t ws, int rows, int64_t k0, int cnt, void *P);
    /* y[t][0..rows) (= for k0 == 0, else +=) the panel's cnt units from unit k0, nt tokens of x */
    void (*tile)(int nt, const void *P, int cnt, int64_t k0, int64_t K, const uint8_t *x, size_t xs,
                 float *y, int64_t ldy, int first);
} panel_kind;

/* The panel after (rows r0.., columns k0..) in the walk below, for its prefetch: the next row group
 * of the chunk c0..c1, else the chunk's first rows at the next kstep columns; *n0 = c1 (none in
 * this chunk) after the last columns. Columns count in whatever unit the caller walks (values or
 * blocks). */
static inline void next_panel(int r0, int rstep, int c0, int c1, int64_t k0, int64_t kstep,
                              int64_t K, int *n0, int64_t *nk) {
    *n0 = r0 + rstep;
    *nk = k0;
    if (*n0 >= c1) {
        *n0 = c0;
        *nk = k0 + kstep;
        if (*nk >= K) *n0 = c1, *nk = 0;
    }
}

/* The walk over panels: rows in chunks of FP_RC, within a chunk panels of pk->step units of
 * columns, the chunk's row groups of pk->rows for each; each panel over all tokens. So the
 * activations of one panel's columns (64 tokens x 256 columns: 64 KB for the float panels) stay in
 * L2 across the chunk's row groups and the chunk's partial sums (y, 32 KB) too; walking each row
 * group over all columns instead read all activations from L3 again for every 16 rows (512 KB-1.4
 * MB), evicting the prefetched weights. Partial groups write through a small buffer so that no row
 * past nr is touched. P: the caller's panel buffer (32-byte aligned). */
static void gemm_walk(const panel_kind *pk, int64_t K, const uint8_t *w, size_t ws, int nr,
                      const uint8_t *x, size_t xs, int nt, float *y, int64_t ldy, void *P) {
    float tmp[FP_T * FP_R]; /* the largest tile: tokens x rows */
    const int R = pk->rows;
    const int64_t U = K / pk->unit;
#define UNIT_BYTES(u) ((size_t)(u) * (size_t)pk->unit * pk->b32 / 32)
    for (int c0 = 0; c0 < nr; c0 += FP_RC) {
        const int c1 = nr - c0 < FP_RC ? nr : c0 + FP_RC;
        for (int64_t k0 = 0; k0 < U; k0 += pk->step) {
            const int kc = (int)(U - k0 < pk->step ? U - k0 : pk->step);
            for (int r0 = c0; r0 < c1; r0 += R) {
                const int rows = c1 - r0 < R ? c1 - r0 : R;
                pk->pack(w + (size_t)r0 * ws, ws, rows, k0, kc, P);
                int n0;
                int64_t nk;
                next_panel(r0, R, c0, c1, k0, pk->step, U, &n0, &nk);
                if (n0 < nr)
                    prefetch_rows(w + (size_t)n0 * ws, ws, nr - n0 < R ? nr - n0 : R,
                                  UNIT_BYTES(nk),
                                  UNIT_BYTES(nk + pk->step < U ? nk + pk->step : U));
                for (int t0 = 0; t0 < nt; t0 += pk->tok) {
                    const int tn = nt - t0 < pk->tok ? nt - t0 : pk->tok;
                    const uint8_t *xt = x + (size_t)t0 * xs;
                    float *yt = y + (int64_t)t0 * ldy + r0;
                    if (rows == R) {
                        pk->tile(tn, P, kc, k0, K, xt, xs, yt, ldy, k0 == 0);
                        continue;
                    }
                    for (int t = 0; t < tn; t++)
                        for (int r = 0; r < R; r++)
                            tmp[t * R + r] = r < rows && k0 ? yt[t * ldy + r] : 0.0f;
                    pk->tile(tn, P, kc, k0, K, xt, xs, tmp, R, k0 == 0);
                    for (int t = 0; t < tn; t++)
                        memcpy(yt + t * ldy, tmp + t * R, sizeof(float) * (size_t)rows);
                }
            }
        }
    }
#undef UNIT_BYTES
}

/* The float panels' tile in the walk's terms: x advanced to column k0. */
static void fp_tile_walk(int nt, const void *P, int kc, int64_t k0, int64_t K, const uint8_t *x,
                         size_t xs, float *y, int64_t ldy, int first) {
    (void)K;
    fp_tile_n(nt, P, kc, x + (size_t)k0 * sizeof(float), xs, y, ldy, first);
}

#define FP_GEMM(NAME, B32)                                                                         \
    static void gemm_panel_##NAME(int64_t K, const uint8_t *w, size_t ws, int nr,                  \
                                  const uint8_t *x, size_t xs, int nt, float *y, int64_t ldy) {    \
        static const panel_kind pk = {FP_R, FP_T, FP_K, 1, B32, pack_##NAME, fp_tile_walk};        \
        _Alignas(32) float P[FP_K * FP_R];                                                         \
        gemm_walk(&pk, K, w, ws, nr, x, xs, nt, y, ldy, P);                                        \
    }
FP_GEMM(f32, 128)
FP_GEMM(f16, 64)
FP_GEMM(bf16, 64)
FP_GEMM(q8_0, 34)

/* --- Q4_0 panels ----------------------------------------------------------------------------- */

/* Q8_0-style activation row views (kernels.h): int8 q[K] | float d[K/32] | int32 s[K/32] */
#define XQ(x) ((const int8_t *)(x))
#define XD(x, K) ((const float *)((x) + (K)))
#define XS(x, K) ((const int32_t *)((x) + (K) + ((K) / 32) * 4))

/* Packs blocks b0 .. b0+nb of `rows` (<= 8) rows (layout: the file's header), missing rows zero. */
static void pack_q4_0(const uint8_t *w, size_t ws, int rows, int64_t b0, int nb, void *Pv) {
    uint8_t *P = Pv;
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int b = 0; b < nb; b++) {
        __m256 v[8];
        uint16_t dh[8];
        for (int i = 0; i < 8; i++) {
            if (i >= rows) {
                v[i] = _mm256_setzero_ps();
                dh[i] = 0;
                continue;
            }
            const uint8_t *blk = w + (size_t)i * ws + (size_t)(b0 + b) * 18;
            const __m128i q = _mm_loadu_si128((const __m128i *)(blk + 2));
            /* row i's codes in weight order: dword j = weights 4j .. 4j+3 */
            v[i] = _mm256_castsi256_ps(
                _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4));
            memcpy(&dh[i], blk, 2);
        }
        transpose8(v);
        uint8_t *o = P + (size_t)b * Q4_BB;
        for (int j = 0; j < 8; j++)
            _mm256_store_ps((float *)(o + 32 * j), v[j]);
        _mm256_store_ps((float *)(o + 256), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dh)));
    }
}

/* y[t][0..8) (+= for b0 > 0) packed blocks b0 .. b0+nb times NT tokens' 8-bit activations. */
KINLINE void q4_tile(const int NT, const uint8_t *P, int nb, int64_t b0, int64_t K,
                     const uint8_t *x, size_t xs, float *y, int64_t ldy, int first) {
    __m256 a[Q4_T];
    _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) a[t] =
        first ? _mm256_setzero_ps() : _mm256_loadu_ps(y + t * ldy);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int b = 0; b < nb; b++) {
        const uint8_t *pb = P + (size_t)b * Q4_BB;
        __m256i c[8];
        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) c[j] =
            _mm256_load_si256((const __m256i *)(pb + 32 * j));
        const __m256 dw = _mm256_load_ps((const float *)(pb + 256));
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
            const uint8_t *xr = x + (size_t)t * xs;
            const int8_t *q = XQ(xr) + 32 * (b0 + b);
            __m256i s = _mm256_maddubs_epi16(c[0], _mm256_set1_epi32(i32_at(q)));
            _Pragma("GCC unroll 8") for (int j = 1; j < 8; j++) s = _mm256_add_epi16(
                s, _mm256_maddubs_epi16(c[j], _mm256_set1_epi32(i32_at(q + 4 * j))));
            const __m256i p = _mm256_sub_epi32(_mm256_madd_epi16(s, ones),
                                               _mm256_set1_epi32(8 * XS(xr, K)[b0 + b]));
            a[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
                                   _mm256_mul_ps(dw, _mm256_set1_ps(XD(xr, K)[b0 + b])), a[t]);
        }
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ldy, a[t]);
}

static void q4_tile_n(int nt, const uint8_t *P, int nb, int64_t b0, int64_t K, const uint8_t *x,
                      size_t xs, float *y, int64_t ldy, int first) {
    switch (nt) {
    case 1:
        q4_tile(1, P, nb, b0, K, x, xs, y, ldy, first);
        break;
    case 2:
        q4_tile(2, P, nb, b0, K, x, xs, y, ldy, first);
        break;
    case 3:
        q4_tile(3, P, nb, b0, K, x, xs, y, ldy, first);
        break;
    default:
        q4_tile(4, P, nb, b0, K, x, xs, y, ldy, first);
        break;
    }
}

/* The Q4_0 tile in the walk's terms (units: blocks). */
static void q4_tile_walk(int nt, const void *P, int nb, int64_t b0, int64_t K, const uint8_t *x,
                         size_t xs, float *y, int64_t ldy, int first) {
    q4_tile_n(nt, P, nb, b0, K, x, xs, y, ldy, first);
}

static void gemm_panel_q4_0(int64_t K, const uint8_t *w, size_t ws, int nr, const uint8_t *x,
                            size_t xs, int nt, float *y, int64_t ldy) {
    static const panel_kind pk = {Q4_R, Q4_T, Q4_B, 32, 18, pack_q4_0, q4_tile_walk};
    _Alignas(32) uint8_t P[Q4_B * Q4_BB];
    gemm_walk(&pk, K, w, ws, nr, x, xs, nt, y, ldy, P);
}

void kern_fill_panel_avx2(kern_table *t) {
    t->gemm[LMC_TYPE_F32] = gemm_panel_f32;
    t->gemm[LMC_TYPE_F16] = gemm_panel_f16;
    t->gemm[LMC_TYPE_BF16] = gemm_panel_bf16;
    t->gemm[LMC_TYPE_Q8_0] = gemm_panel_q8_0;
    t->gemm[LMC_TYPE_Q4_0] = gemm_panel_q4_0;
}
#endif
