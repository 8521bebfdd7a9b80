/* kernels_x86.h — the x86 SIMD kernels, written once and compiled twice: by kernels_avx2.c (AVX2 +
 * FMA + F16C, int8 dots through maddubs/madd) and by kernels_avx512.c (the same 256-bit integer
 * code with AVX-512 VNNI dpbusd/dpwssd and 32 registers, and 512-bit float code). Not a public
 * header.
 *
 * Each gemm walks a tile of KNR weight rows x KNT tokens held in registers, so every weight block
 * loaded and unpacked is used for KNT tokens (prompt processing is then arithmetic-bound, not
 * bandwidth-bound) and every activation block for KNR rows. Integer block sums are exact, so
 * results equal the scalar kernels' up to the order of f32 additions.
 *
 * The including file defines: KERN_VNNI (0/1), KERN_512 (0/1: float kernels in zmm), KERN_FILL (the
 * fill function's name), and tile sizes KNR/KNT (32-blocks and floats), KNR_K/KNT_K (K-quants);
 * optionally KERN_NOPF 1: the weight streams of decode (and of the row-major tiles) without
 * software prefetch, for the CPUs where it slows the stream from DRAM (kernels.c chooses). */
#include "kernels.h"

#include <immintrin.h>
#include <string.h>

#define KINLINE static inline __attribute__((always_inline))

/* --- integer dot helpers ------------------------------------------------------------------------
 */
#if KERN_VNNI
/* acc += sum over groups of 4 of u8 * s8 */
#define DOT_U8S8(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
/* acc += sum over pairs of s16 * s16 */
#define DOT_S16(acc, a, b) _mm256_dpwssd_epi32((acc), (a), (b))
/* 32 bits -> bytes 0x10 where set */
#define EXPAND_QH(qh) _mm256_maskz_mov_epi8((__mmask32)(qh), _mm256_set1_epi8(0x10))
#else
/* maddubs cannot saturate here: |u| <= 128 and |s| <= 127, so a pair sums to at most 32512. */
#define DOT_U8S8(acc, u, s)                                                                        \
    _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#define DOT_S16(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))
KINLINE __m256i expand_qh_avx2(uint32_t qh) {
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                          2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}
#define EXPAND_QH(qh) expand_qh_avx2(qh)
#endif

#ifndef KERN_NOPF
#define KERN_NOPF 0
#endif
/* A software prefetch into L1 of the weight stream; none at all under KERN_NOPF. On the Zen 4 VM
 * (AMD family 25 model 17) any of these prefetches, 1-12 KB ahead, halved the single-thread read
 * rate of a decode mat-vec from DRAM against the hardware prefetcher alone (docs/PERFORMANCE.md,
 * issue 20); on the Zen 5 class and Xeon hosts they were worth 5-30% (the comments below). */
#if KERN_NOPF
#define KPF(p) ((void)(p))
#else
#define KPF(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#endif

/* Rows are short (a few KB) and a tile reads NR of them side by side, too briefly for the hardware
 * prefetcher to lock on: fetch the same place NR rows down, which the next tile reads. */
#define PREFETCH_NEXT_TILE(p) KPF((const char *)(p) + NR * ws)
/* For the K-quant decode tiles (rows of 1.2-1.7 KB, more work per byte than Q4_0) the next tile is
 * too close: fetching 8 tiles ahead keeps more misses in flight (kernel microbenchmark, one thread,
 * weights from DRAM: Q4_K 2.9 -> 2.2 ms for a 45056 x 2048 matrix, Q6_K 2.8 -> 1.5 ms). Q8_0 and
 * Q4_0 were faster with it alone in the microbenchmark but slower in the model's decode with 2
 * threads (`lmc bench` tg32), and F16 slower in both: they keep the near prefetch. */
#define PREFETCH_FAR(p) KPF((const char *)(p) + 8 * NR * ws)

KINLINE float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

KINLINE float f16_scalar(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}
KINLINE uint32_t u32_at(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* --- float weights: F32, F16, BF16 ---------------------------------------------------------------
 */
#if KERN_512
typedef __m512 vf;
#define VLEN 16
#define VZERO() _mm512_setzero_ps()
#define VLOAD_F32(p) _mm512_loadu_ps((const float *)(p))
#define VLOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define VLOAD_BF16(p)                                                                              \
    _mm512_castsi512_ps(                                                                           \
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VHSUM(v) _mm512_reduce_add_ps(v)
#else
typedef __m256 vf;
#define VLEN 8
#define VZERO() _mm256_setzero_ps()
#define VLOAD_F32(p) _mm256_loadu_ps((const float *)(p))
#define VLOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define VLOAD_BF16(p)                                                                              \
    _mm256_castsi256_ps(                                                                           \
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VHSUM(v) hsum256(v)
#endif

KINLINE float bf16_scalar(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}
KINLINE float f32_scalar(const uint8_t *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* ESZ: bytes per weight; LOADW: VLEN weights as f32; SCALARW: one weight. */
#define FLOAT_TILE(NAME, ESZ, LOADW, SCALARW)                                                      \
    KINLINE void tile_##NAME(const int NR, const int NT, int64_t K, const uint8_t *w, size_t ws,   \
                             const uint8_t *x, size_t xs, float *y, int64_t ldy) {                 \
        vf acc[KNR_F][KNT_F];                                                                      \
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) acc[r][t] = VZERO();              \
        int64_t k = 0;                                                                             \
        for (; k + VLEN <= K; k += VLEN) {                                                         \
            vf wv[KNR_F];                                                                          \
            _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {                                 \
                /* decode only, once per cache line: a prompt's 6 rows are 6 contiguous rows the   \
                 * hardware prefetcher follows, and prefetches took load slots from the FMAs */    \
                if (NT == 1 && (ESZ * VLEN >= 64 || (k * ESZ) % 64 == 0))                          \
                    PREFETCH_NEXT_TILE(w + r * ws + k * ESZ);                                      \
                wv[r] = LOADW(w + r * ws + k * ESZ);                                               \
            }                                                                                      \
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {                                 \
                const vf xv = VLOAD_F32(x + t * xs + k * 4);                                       \
                _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) acc[r][t] =                   \
                    VFMA(wv[r], xv, acc[r][t]);                                                    \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < NR; r++)                                                               \
            for (int t = 0; t < NT; t++) {                                                         \
                float s = VHSUM(acc[r][t]);                                                        \
                const float *xf = (const float *)(x + t * xs);                                     \
                for (int64_t i = k; i < K; i++)                                                    \
                    s += SCALARW(w + r * ws + i * ESZ) * xf[i];                                    \
                y[t * ldy + r] = s;                                                                \
            }                                                                                      \
    }

FLOAT_TILE(f32, 4, VLOAD_F32, f32_scalar)
FLOAT_TILE(f16, 2, VLOAD_F16, f16_scalar)
FLOAT_TILE(bf16, 2, VLOAD_BF16, bf16_scalar)

/* Decode (one token): one weight row at a time, so each thread reads one sequential stream, with a
 * software prefetch DECODE_PF bytes ahead in it (rows are contiguous, so it runs on into the next
 * rows). A tile of rows read side by side, as above, is several streams 4-11 KB apart that the
 * hardware prefetcher follows badly: on the 2-core EPYC dev VM, a decode-shaped benchmark of the
 * TinyLlama-geometry F16 matrices with 2 threads (variants interleaved round by round) gave the
 * 6-row tile with next-tile prefetch 22.3 tok/s, one row at a time without prefetch 28.4, with the
 * prefetch 4 KB ahead 29.6, 6-8 KB ahead 31.5 (12 KB: 30.8). */
enum { DECODE_PF = 6144 };
#define FLOAT_MATVEC(NAME, ESZ, LOADW, SCALARW)                                                    \
    KINLINE void matvec_##NAME(int64_t K, const uint8_t *w, size_t ws, int nr, const uint8_t *x,   \
                               float *y) {                                                         \
        const float *xf = (const float *)x;                                                        \
        for (int r = 0; r < nr; r++) {                                                             \
            const uint8_t *wr = w + (size_t)r * ws;                                                \
            vf a0 = VZERO(), a1 = VZERO(), a2 = VZERO(), a3 = VZERO();                             \
            int64_t k = 0;                                                                         \
            for (; k + 4 * VLEN <= K; k += 4 * VLEN) {                                             \
                const uint8_t *p = wr + k * ESZ;                                                   \
                _Pragma("GCC unroll 4") for (int o = 0; o < 4 * VLEN * ESZ; o += 64)               \
                    KPF((const char *)p + DECODE_PF + o);                                          \
                a0 = VFMA(LOADW(p), VLOAD_F32(xf + k), a0);                                        \
                a1 = VFMA(LOADW(p + VLEN * ESZ), VLOAD_F32(xf + k + VLEN), a1);                    \
                a2 = VFMA(LOADW(p + 2 * VLEN * ESZ), VLOAD_F32(xf + k + 2 * VLEN), a2);            \
                a3 = VFMA(LOADW(p + 3 * VLEN * ESZ), VLOAD_F32(xf + k + 3 * VLEN), a3);            \
            }                                                                                      \
            for (; k + VLEN <= K; k += VLEN)                                                       \
                a0 = VFMA(LOADW(wr + k * ESZ), VLOAD_F32(xf + k), a0);                             \
            float s = VHSUM((a0 + a1) + (a2 + a3));                                                \
            for (; k < K; k++)                                                                     \
                s += SCALARW(wr + k * ESZ) * xf[k];                                                \
            y[r] = s;                                                                              \
        }                                                                                          \
    }

FLOAT_MATVEC(f32, 4, VLOAD_F32, f32_scalar)
FLOAT_MATVEC(f16, 2, VLOAD_F16, f16_scalar)
FLOAT_MATVEC(bf16, 2, VLOAD_BF16, bf16_scalar)

/* Q8_0 with exact f32 activations: each block is dequantized in registers (q * d is exact in f32)
 * and used for KNT_8 tokens, so the result is the reference's (dequantize, then f32 dot) up to
 * summation order. 8-bit weights keep exact activations: rounding activations to 8 bits too would
 * double the error for little gain, and llama.cpp's greedy ids on Q8_0 are only reproduced near the
 * exact result. */
#if KERN_512
#define VLOAD_I8(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p))))
#define VSET1(v) _mm512_set1_ps(v)
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#else
#define VLOAD_I8(p) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#define VSET1(v) _mm256_set1_ps(v)
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#endif
#define Q8V (32 / VLEN)
/* Block blk's 32 weights as f32 (q * d, exact) in Q8V vectors. */
KINLINE void q8_0_block_f32(const uint8_t *blk, vf *wv) {
    const vf d = VSET1(f16_scalar(blk));
    _Pragma("GCC unroll 4") for (int v = 0; v < Q8V; v++) wv[v] =
        VMUL(VLOAD_I8(blk + 2 + v * VLEN), d);
}

/* Q4_1 with exact f32 activations, like Q8_0: w = d * code + m (d * code is exact, so the fma
 * rounds once, as the reference's multiply-then-add does). Q4_1 is the type of lmc's default model,
 * whose greedy output departs from the exact model's at near-ties when activations are rounded to 8
 * bits. */
KINLINE void q4_1_block_f32(const uint8_t *blk, vf *wv) {
    const __m128i q = _mm_loadu_si128((const __m128i *)(blk + 4)), m4 = _mm_set1_epi8(15);
    const __m128i lo = _mm_and_si128(q, m4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), m4);
    const vf d = VSET1(f16_scalar(blk)), m = VSET1(f16_scalar(blk + 2));
#if KERN_512
    wv[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo)), d, m);
    wv[1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi)), d, m);
#else
    wv[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), d, m);
    wv[1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), d, m);
    wv[2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), d, m);
    wv[3] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), d, m);
#endif
}

/* Q8_0 (Q41 = 0) or Q4_1 (Q41 = 1) blocks dequantized in registers, each used for NT tokens. */
KINLINE void tile_blockf(const int NR, const int NT, const int Q41, int64_t K, const uint8_t *w,
                         size_t ws, const uint8_t *x, size_t xs, float *y, int64_t ldy) {
    vf acc[KNR_8][KNT_8];
    _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++)
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) acc[r][t] = VZERO();
    for (int64_t b = 0; b < K / 32; b++) {
        vf wv[KNR_8][Q8V];
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
            const uint8_t *blk = w + r * ws + b * (Q41 ? 20 : 34);
            PREFETCH_NEXT_TILE(blk);
            if (Q41)
                q4_1_block_f32(blk, wv[r]);
            else
                q8_0_block_f32(blk, wv[r]);
        }
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
            const float *xf = (const float *)(x + t * xs) + 32 * b;
            _Pragma("GCC unroll 4") for (int v = 0; v < Q8V; v++) {
                const vf xv = VLOAD_F32(xf + v * VLEN);
                _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) acc[r][t] =
                    VFMA(wv[r][v], xv, acc[r][t]);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++)
            y[t * ldy + r] = VHSUM(acc[r][t]);
}
KINLINE void tile_q8_0f(const int NR, const int NT, int64_t K, const uint8_t *w, size_t ws,
                        const uint8_t *x, size_t xs, float *y, int64_t ldy) {
    tile_blockf(NR, NT, 0, K, w, ws, x, xs, y, ldy);
}
KINLINE void tile_q4_1f(const int NR, const int NT, int64_t K, const uint8_t *w, size_t ws,
                        const uint8_t *x, size_t xs, float *y, int64_t ldy) {
    tile_blockf(NR, NT, 1, K, w, ws, x, xs, y, ldy);
}

/* Q8_0 decode: one row at a time like the float mat-vec (one sequential stream per thread,
 * prefetched DECODE_PF bytes ahead; same benchmark, three runs: 4-row tile 29.9 / 30.2 / 38.9
 * tok/s, one row at a time 34.9 / 34.8 / 39.1), two blocks per step into separate accumulators,
 * each block dequantized exactly as in the tile above. (Summing q . x per block and scaling after,
 * one multiply fewer, measured within the noise: +11% and -5% in two 12-round runs.) Q4_1 keeps its
 * 4-row tile for decode: one row at a time was slower there (in L2 16 -> 14 GB/s, decode benchmark
 * 0.93x), its unpacking (nibbles, d and m) dominating. */
KINLINE void matvec_q8_0f(int64_t K, const uint8_t *w, size_t ws, int nr, const uint8_t *x,
                          float *y) {
    const float *xf = (const float *)x;
    const int64_t nb = K / 32;
    for (int r = 0; r < nr; r++) {
        const uint8_t *wr = w + (size_t)r * ws;
        vf acc[2][Q8V];
        _Pragma("GCC unroll 2") for (int j = 0; j < 2; j++)
            _Pragma("GCC unroll 4") for (int v = 0; v < Q8V; v++) acc[j][v] = VZERO();
        int64_t b = 0;
        for (; b + 2 <= nb; b += 2) {
            const uint8_t *blk = wr + b * 34;
            KPF((const char *)blk + DECODE_PF);
            KPF((const char *)blk + DECODE_PF + 64);
            _Pragma("GCC unroll 2") for (int j = 0; j < 2; j++) {
                const vf d = VSET1(f16_scalar(blk + 34 * j));
                _Pragma("GCC unroll 4") for (int v = 0; v < Q8V; v++) acc[j][v] =
                    VFMA(VMUL(VLOAD_I8(blk + 34 * j + 2 + v * VLEN), d),
                         VLOAD_F32(xf + 32 * (b + j) + v * VLEN), acc[j][v]);
            }
        }
        if (b < nb) {
            const vf d = VSET1(f16_scalar(wr + b * 34));
            _Pragma("GCC unroll 4") for (int v = 0; v < Q8V; v++) acc[0][v] =
                VFMA(VMUL(VLOAD_I8(wr + b * 34 + 2 + v * VLEN), d),
                     VLOAD_F32(xf + 32 * b + v * VLEN), acc[0][v]);
        }
        vf sum = acc[0][0] + acc[1][0];
        _Pragma("GCC unroll 4") for (int v = 1; v < Q8V; v++) sum += acc[0][v] + acc[1][v];
        y[r] = VHSUM(sum);
    }
}

/* --- 32-weight blocks with Q8_0-style activations -----------------------------------------------
 */
/* Activation row views (see kernels.h). */
#define XQ(x) ((const int8_t *)(x))
#define XD(x, K) ((const float *)((x) + (K)))
#define XS(x, K) ((const int32_t *)((x) + (K) + ((K) / 32) * 4))

KINLINE __m256i zext_lane0(int32_t v) {
    return _mm256_zextsi128_si256(_mm_cvtsi32_si128(v));
}
KINLINE __m256 zext_lane0f(float v) {
    return _mm256_zextps128_ps256(_mm_set_ss(v));
}

/* Unpacks block r's 32 codes (unsigned for Q4/Q5, absolute value for Q8_0) into c, the value the
 * activations are multiplied by; sign (Q8_0) carries the weights' signs for the activations. */
#define BLOCK_TILE(NAME, BSZ, UNPACK, INIT, EXTRA)                                                 \
    KINLINE void tile_##NAME(const int NR, const int NT, int64_t K, const uint8_t *w, size_t ws,   \
                             const uint8_t *x, size_t xs, float *y, int64_t ldy) {                 \
        __m256 acc[KNR][KNT];                                                                      \
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) acc[r][t] = _mm256_setzero_ps();  \
        const int64_t nb = K / 32;                                                                 \
        for (int64_t b = 0; b < nb; b++) {                                                         \
            __m256i c[KNR];                                                                        \
            __m256 dw[KNR], mw[KNR];                                                               \
            (void)mw;                                                                              \
            _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {                                 \
                const uint8_t *blk = w + r * ws + b * BSZ;                                         \
                PREFETCH_NEXT_TILE(blk);                                                           \
                UNPACK                                                                             \
            }                                                                                      \
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {                                 \
                const uint8_t *xr = x + t * xs;                                                    \
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(XQ(xr) + 32 * b));         \
                const float dxs = XD(xr, K)[b];                                                    \
                const __m256 dx = _mm256_set1_ps(dxs);                                             \
                const int32_t sx = XS(xr, K)[b];                                                   \
                (void)sx;                                                                          \
                const __m256i init = INIT;                                                         \
                _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {                             \
                    EXTRA                                                                          \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < NR; r++)                                                               \
            for (int t = 0; t < NT; t++)                                                           \
                y[t * ldy + r] = hsum256(acc[r][t]);                                               \
    }

#define M4 _mm256_set1_epi8(15)
/* 16 bytes of nibbles -> 32 codes in weight order: low nibbles (weights 0..15), then high ones */
KINLINE __m256i q4_codes(const uint8_t *qs) {
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), M4);
}
#define Q4_CODES(qs) q4_codes(qs)

/* Q4_0 / Q5_0 (value = code - OFFSET): codes . x - OFFSET * sum(x), the correction riding in lane 0
 * of the integer accumulator. CODES: block blk's 32 codes. */
#define OFFSET_TILE(NAME, BSZ, CODES, OFFSET)                                                      \
    BLOCK_TILE(                                                                                    \
        NAME, BSZ,                                                                                 \
        {                                                                                          \
            c[r] = CODES;                                                                          \
            dw[r] = _mm256_set1_ps(f16_scalar(blk));                                               \
        },                                                                                         \
        zext_lane0(-(OFFSET)*sx),                                                                  \
        {                                                                                          \
            const __m256i p = DOT_U8S8(init, c[r], xv);                                            \
            acc[r][t] =                                                                            \
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw[r], dx), acc[r][t]);       \
        })
OFFSET_TILE(q4_0, 18, Q4_CODES(blk + 2), 8)
OFFSET_TILE(q5_0, 22, _mm256_or_si256(Q4_CODES(blk + 6), EXPAND_QH(u32_at(blk + 2))), 16)

BLOCK_TILE(
    q5_1, 24,
    {
        c[r] = _mm256_or_si256(Q4_CODES(blk + 8), EXPAND_QH(u32_at(blk + 4)));
        dw[r] = _mm256_set1_ps(f16_scalar(blk));
        mw[r] = _mm256_set1_ps(f16_scalar(blk + 2));
    },
    _mm256_setzero_si256(),
    {
        const __m256i p = DOT_U8S8(init, c[r], xv);
        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw[r], dx), acc[r][t]);
        acc[r][t] = _mm256_fmadd_ps(mw[r], zext_lane0f(dxs * (float)sx), acc[r][t]);
    })

/* --- K-quants with Q8_K-style activations -------------------------------------------------------
 */
#define KXQ(x) ((const int8_t *)(x))
#define KXD(x, K) ((const float *)((x) + (K)))
#define KXB(x, K) ((const int16_t *)((x) + (K) + ((K) / 256) * 4))

/* int16 lane broadcast of element j of an 8 x int16 vector duplicated in both 128-bit lanes */
KINLINE __m256i bcast16(__m256i v, int j) {
    const __m256i idx = _mm256_set1_epi16((short)((2 * j) | (2 * j + 1) << 8));
    return _mm256_shuffle_epi8(v, idx);
}

/* Q4_K / Q5_K scales and mins of a super-block as 8 bytes each (see quant.c lmc_k_scale_min). */
KINLINE void k_scales8(const uint8_t *s, uint64_t *sc, uint64_t *mn) {
    const uint32_t a0 = u32_at(s), a1 = u32_at(s + 4), a2 = u32_at(s + 8);
    const uint32_t sc_lo = a0 & 0x3f3f3f3fu, m_lo = a1 & 0x3f3f3f3fu;
    const uint32_t sc_hi = (a2 & 0x0f0f0f0fu) | ((a0 >> 6) & 0x03030303u) << 4;
    const uint32_t m_hi = ((a2 >> 4) & 0x0f0f0f0fu) | ((a1 >> 6) & 0x03030303u) << 4;
    *sc = (uint64_t)sc_lo | (uint64_t)sc_hi << 32;
    *mn = (uint64_t)m_lo | (uint64_t)m_hi << 32;
}

KINLINE void tile_q45_K(const int NR, const int NT, const int FIVE, int64_t K, const uint8_t *w,
                        size_t ws, const uint8_t *x, size_t xs, float *y, int64_t ldy) {
    const size_t BSZ = FIVE ? 176 : 144;
    __m256 acc[KNR_K][KNT_K];
    _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++)
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / 256; b++) {
        __m256i scv[KNR_K], iacc[KNR_K][KNT_K];
        __m256 dd[KNR_K], dm[KNR_K];
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
            const uint8_t *blk = w + r * ws + b * BSZ;
            uint64_t sc, mn;
            k_scales8(blk + 4, &sc, &mn);
            scv[r] =
                _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
            /* mins duplicated per 16-sum: m0 m0 m1 m1 ... (16 x int16) */
            const __m128i m8 = _mm_cvtsi64_si128((long long)mn);
            const __m256i mm = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
            dd[r] = _mm256_set1_ps(f16_scalar(blk));
            dm[r] = _mm256_set1_ps(f16_scalar(blk + 2));
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
                const __m256i bs =
                    _mm256_loadu_si256((const __m256i *)(KXB(x + t * xs, K) + 16 * b));
                /* minus the mins' term, pre-scaled later by dmin/d: keep it separate in iacc's
                 * float conversion below */
                iacc[r][t] = _mm256_madd_epi16(mm, bs);
            }
        }
        /* fold the mins now: acc -= dmin*dx*(m . bsums) */
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
            const __m256 dx = _mm256_set1_ps(KXD(x + t * xs, K)[b]);
            _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
                acc[r][t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(iacc[r][t]),
                                             _mm256_mul_ps(dm[r], dx), acc[r][t]);
                iacc[r][t] = _mm256_setzero_si256();
            }
        }
        for (int ch = 0; ch < 4; ch++) {
            __m256i lo[KNR_K], hi[KNR_K], slo[KNR_K], shi[KNR_K];
            _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
                const uint8_t *blk = w + r * ws + b * BSZ;
                PREFETCH_NEXT_TILE(blk + 48 * ch);
                const __m256i q =
                    _mm256_loadu_si256((const __m256i *)(blk + (FIVE ? 48 : 16) + 32 * ch));
                lo[r] = _mm256_and_si256(q, M4);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), M4);
                if (FIVE) {
                    const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16));
                    const int j0 = 2 * ch, j1 = 2 * ch + 1; /* fifth bit: bit j of qh[l] -> 0x10 */
                    const __m256i m10 = _mm256_set1_epi8(0x10);
                    __m256i h0 =
                        j0 <= 4 ? _mm256_slli_epi16(qh, 4 - j0) : _mm256_srli_epi16(qh, j0 - 4);
                    __m256i h1 =
                        j1 <= 4 ? _mm256_slli_epi16(qh, 4 - j1) : _mm256_srli_epi16(qh, j1 - 4);
                    lo[r] = _mm256_or_si256(lo[r], _mm256_and_si256(h0, m10));
                    hi[r] = _mm256_or_si256(hi[r], _mm256_and_si256(h1, m10));
                }
                slo[r] = bcast16(scv[r], 2 * ch);
                shi[r] = bcast16(scv[r], 2 * ch + 1);
            }
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
                const int8_t *xq = KXQ(x + t * xs) + 256 * b + 64 * ch;
                const __m256i xa = _mm256_loadu_si256((const __m256i *)xq);
                const __m256i xb = _mm256_loadu_si256((const __m256i *)(xq + 32));
                _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
                    iacc[r][t] = DOT_S16(iacc[r][t], _mm256_maddubs_epi16(lo[r], xa), slo[r]);
                    iacc[r][t] = DOT_S16(iacc[r][t], _mm256_maddubs_epi16(hi[r], xb), shi[r]);
                }
            }
        }
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
            const __m256 dx = _mm256_set1_ps(KXD(x + t * xs, K)[b]);
            _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) acc[r][t] = _mm256_fmadd_ps(
                _mm256_cvtepi32_ps(iacc[r][t]), _mm256_mul_ps(dd[r], dx), acc[r][t]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++)
            y[t * ldy + r] = hsum256(acc[r][t]);
}
/* tile_q4_K##Z and tile_q5_K##Z, in the tile signature the gemm drivers call: tile_q45_K##Z with
 * FIVE = 0 or 1 (Z: empty here, z for the 512-bit ones of kernels_avx512.c). */
#define Q45_K_TILES(Z)                                                                             \
    KINLINE void tile_q4_K##Z(const int NR, const int NT, int64_t K, const uint8_t *w, size_t ws,  \
                              const uint8_t *x, size_t xs, float *y, int64_t ldy) {                \
        tile_q45_K##Z(NR, NT, 0, K, w, ws, x, xs, y, ldy);                                         \
    }                                                                                              \
    KINLINE void tile_q5_K##Z(const int NR, const int NT, int64_t K, const uint8_t *w, size_t ws,  \
                              const uint8_t *x, size_t xs, float *y, int64_t ldy) {                \
        tile_q45_K##Z(NR, NT, 1, K, w, ws, x, xs, y, ldy);                                         \
    }
Q45_K_TILES()

/* Q6_K: codes 0..63 (value = code - 32) in 4 chunks of 32 per half; each chunk spans sub-blocks g
 * (low 128 bits) and g+1 (high 128 bits), so its scale vector is [sc_g x8 | sc_g+1 x8]. */
KINLINE void tile_q6_K(const int NR, const int NT, int64_t K, const uint8_t *w, size_t ws,
                       const uint8_t *x, size_t xs, float *y, int64_t ldy) {
    __m256 acc[KNR_K][KNT_K];
    _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++)
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) acc[r][t] = _mm256_setzero_ps();
    const __m256i m30 = _mm256_set1_epi8(0x30);
    for (int64_t b = 0; b < K / 256; b++) {
        __m256i sA[KNR_K], sB[KNR_K], iacc[KNR_K][KNT_K];
        __m256 dd[KNR_K];
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
            const uint8_t *blk = w + r * ws + b * 210;
            const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
            sA[r] = _mm256_permute2x128_si256(s16, s16, 0x00);
            sB[r] = _mm256_permute2x128_si256(s16, s16, 0x11);
            dd[r] = _mm256_set1_ps(f16_scalar(blk + 208));
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
                const __m256i bs =
                    _mm256_loadu_si256((const __m256i *)(KXB(x + t * xs, K) + 16 * b));
                /* -32 * sum_g sc_g * bsum_g */
                iacc[r][t] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                              _mm256_slli_epi32(_mm256_madd_epi16(s16, bs), 5));
            }
        }
        for (int h = 0; h < 2; h++) {
            for (int s = 0; s < 4; s++) {
                __m256i cd[KNR_K], sv[KNR_K];
                /* element 2s in the low lane, 2s+1 in the high lane */
                const __m256i idx = _mm256_setr_epi8(
                    4 * s, 4 * s + 1, 4 * s, 4 * s + 1, 4 * s, 4 * s + 1, 4 * s, 4 * s + 1, 4 * s,
                    4 * s + 1, 4 * s, 4 * s + 1, 4 * s, 4 * s + 1, 4 * s, 4 * s + 1, 4 * s + 2,
                    4 * s + 3, 4 * s + 2, 4 * s + 3, 4 * s + 2, 4 * s + 3, 4 * s + 2, 4 * s + 3,
                    4 * s + 2, 4 * s + 3, 4 * s + 2, 4 * s + 3, 4 * s + 2, 4 * s + 3, 4 * s + 2,
                    4 * s + 3);
                _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
                    const uint8_t *blk = w + r * ws + b * 210;
                    PREFETCH_NEXT_TILE(blk + 32 * (4 * h + s));
                    const __m256i ql =
                        _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32 * (s & 1)));
                    const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
                    const __m256i low = (s & 2) ? _mm256_and_si256(_mm256_srli_epi16(ql, 4), M4)
                                                : _mm256_and_si256(ql, M4);
                    __m256i high;
                    switch (s) {
                    case 0:
                        high = _mm256_slli_epi16(qh, 4);
                        break;
                    case 1:
                        high = _mm256_slli_epi16(qh, 2);
                        break;
                    case 2:
                        high = qh;
                        break;
                    default:
                        high = _mm256_srli_epi16(qh, 2);
                        break;
                    }
                    cd[r] = _mm256_or_si256(low, _mm256_and_si256(high, m30));
                    sv[r] = _mm256_shuffle_epi8(h ? sB[r] : sA[r], idx);
                }
                _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
                    const __m256i xv = _mm256_loadu_si256(
                        (const __m256i *)(KXQ(x + t * xs) + 256 * b + 128 * h + 32 * s));
                    _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) iacc[r][t] =
                        DOT_S16(iacc[r][t], _mm256_maddubs_epi16(cd[r], xv), sv[r]);
                }
            }
        }
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
            const __m256 dx = _mm256_set1_ps(KXD(x + t * xs, K)[b]);
            _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) acc[r][t] = _mm256_fmadd_ps(
                _mm256_cvtepi32_ps(iacc[r][t]), _mm256_mul_ps(dd[r], dx), acc[r][t]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++)
            y[t * ldy + r] = hsum256(acc[r][t]);
}

/* --- f32 helpers of attention -------------------------------------------------------------------
 * 256-bit in both builds (the AVX-512 one compiles the same instructions), so the two tables give
 * the same bits: 16 partial sums in two FMA accumulators, reduced as hsum256 does. */
static float dot_f32_x86(const float *a, const float *b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    float s = hsum256(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void axpy_f32_x86(float *y, float a, const float *x, int64_t n) {
    const __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* --- blocked attention: many keys per call, the bits of dot_f32_x86 / axpy_f32_x86 ---------------
 * att_dot takes 4 keys at a time in 8 accumulators (each key's two, as dot_f32_x86 keeps them),
 * which hides the FMA latency a single dot's two chains expose, and reduces the 4 keys' sums in one
 * transposed pass that adds the same pairs in the same order as hsum256. att_wsum keeps 64 outputs
 * in registers across all n values instead of loading and storing them per value (axpy), with the
 * same fused multiply-add per element in the same order of t. Half caches convert on load (F16C,
 * exact). Head sizes that are not a multiple of 16 (dot) or 8 (wsum) go through the one-key
 * functions. */
#define ATT_LD_F32(p) _mm256_loadu_ps((const float *)(p))
#define ATT_LD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

/* [hsum256(v0), hsum256(v1), hsum256(v2), hsum256(v3)], the same bits: hsum256 adds lane i to lane
 * i+4 (x_i), then x0+x2 and x1+x3 (y0, y1), then y0+y1; so does this, four vectors at once. */
KINLINE __m128 hsum256_x4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
    const __m256 s01 = _mm256_add_ps(_mm256_permute2f128_ps(v0, v1, 0x20),
                                     _mm256_permute2f128_ps(v0, v1, 0x31)); /* x(v0) | x(v1) */
    const __m256 s23 = _mm256_add_ps(_mm256_permute2f128_ps(v2, v3, 0x20),
                                     _mm256_permute2f128_ps(v2, v3, 0x31)); /* x(v2) | x(v3) */
    /* lanes: y0(v0) y1(v0) y0(v2) y1(v2) | y0(v1) y1(v1) y0(v3) y1(v3) */
    const __m256 y = _mm256_add_ps(_mm256_shuffle_ps(s01, s23, _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm256_shuffle_ps(s01, s23, _MM_SHUFFLE(3, 2, 3, 2)));
    /* lanes: v0 v2 v0 v2 | v1 v3 v1 v3 */
    const __m256 z = _mm256_add_ps(_mm256_shuffle_ps(y, y, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm256_shuffle_ps(y, y, _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm_unpacklo_ps(_mm256_castps256_ps128(z), _mm256_extractf128_ps(z, 1));
}

#define ATT_DOT(NAME, T, LD, ES)                                                                   \
    static void NAME(const float *q, const void *k, size_t stride, int64_t n, int64_t hd,          \
                     float scale, float *out) {                                                    \
        const T *kb = (const T *)k;                                                                \
        int64_t t = 0;                                                                             \
        if (hd % 16 == 0) {                                                                        \
            const __m128 sv = _mm_set1_ps(scale);                                                  \
            for (; t + 4 <= n; t += 4) {                                                           \
                const T *k0 = kb + (size_t)t * stride, *k1 = k0 + stride, *k2 = k1 + stride,       \
                        *k3 = k2 + stride;                                                         \
                __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0,      \
                       a3 = a0, b3 = a0;                                                           \
                for (int64_t i = 0; i < hd; i += 16) {                                             \
                    const __m256 q0 = _mm256_loadu_ps(q + i), q1 = _mm256_loadu_ps(q + i + 8);     \
                    a0 = _mm256_fmadd_ps(q0, LD(k0 + i), a0);                                      \
                    b0 = _mm256_fmadd_ps(q1, LD(k0 + i + 8), b0);                                  \
                    a1 = _mm256_fmadd_ps(q0, LD(k1 + i), a1);                                      \
                    b1 = _mm256_fmadd_ps(q1, LD(k1 + i + 8), b1);                                  \
                    a2 = _mm256_fmadd_ps(q0, LD(k2 + i), a2);                                      \
                    b2 = _mm256_fmadd_ps(q1, LD(k2 + i + 8), b2);                                  \
                    a3 = _mm256_fmadd_ps(q0, LD(k3 + i), a3);                                      \
                    b3 = _mm256_fmadd_ps(q1, LD(k3 + i + 8), b3);                                  \
                }                                                                                  \
                const __m128 s = hsum256_x4(_mm256_add_ps(a0, b0), _mm256_add_ps(a1, b1),          \
                                            _mm256_add_ps(a2, b2), _mm256_add_ps(a3, b3));         \
                _mm_storeu_ps(out + t, _mm_mul_ps(s, sv));                                         \
            }                                                                                      \
        }                                                                                          \
        for (; t < n; t++) {                                                                       \
            const T *kt = kb + (size_t)t * stride;                                                 \
            float row[KERN_ATT_MAX_HD];                                                            \
            if (ES == 2)                                                                           \
                for (int64_t i = 0; i < hd; i++)                                                   \
                    row[i] = f16_scalar((const uint8_t *)(kt + i));                                \
            out[t] = dot_f32_x86(q, ES == 2 ? row : (const float *)kt, hd) * scale;                \
        }                                                                                          \
    }
ATT_DOT(att_dot_f32_x86, float, ATT_LD_F32, 4)
ATT_DOT(att_dot_f16_x86, uint16_t, ATT_LD_F16, 2)

#define ATT_WSUM(NAME, T, LD, ES)                                                                  \
    static void NAME(float *out, const float *w, const void *v, size_t stride, int64_t n,          \
                     int64_t hd) {                                                                 \
        const T *vb = (const T *)v;                                                                \
        int64_t d0 = 0;                                                                            \
        for (; d0 + 64 <= hd; d0 += 64) { /* 64 outputs in 8 registers */                          \
            float *o = out + d0;                                                                   \
            __m256 o0 = _mm256_loadu_ps(o), o1 = _mm256_loadu_ps(o + 8),                           \
                   o2 = _mm256_loadu_ps(o + 16), o3 = _mm256_loadu_ps(o + 24),                     \
                   o4 = _mm256_loadu_ps(o + 32), o5 = _mm256_loadu_ps(o + 40),                     \
                   o6 = _mm256_loadu_ps(o + 48), o7 = _mm256_loadu_ps(o + 56);                     \
            for (int64_t t = 0; t < n; t++) {                                                      \
                const T *vt = vb + (size_t)t * stride + d0;                                        \
                const __m256 a = _mm256_set1_ps(w[t]);                                             \
                o0 = _mm256_fmadd_ps(a, LD(vt), o0);                                               \
                o1 = _mm256_fmadd_ps(a, LD(vt + 8), o1);                                           \
                o2 = _mm256_fmadd_ps(a, LD(vt + 16), o2);                                          \
                o3 = _mm256_fmadd_ps(a, LD(vt + 24), o3);                                          \
                o4 = _mm256_fmadd_ps(a, LD(vt + 32), o4);                                          \
                o5 = _mm256_fmadd_ps(a, LD(vt + 40), o5);                                          \
                o6 = _mm256_fmadd_ps(a, LD(vt + 48), o6);                                          \
                o7 = _mm256_fmadd_ps(a, LD(vt + 56), o7);                                          \
            }                                                                                      \
            _mm256_storeu_ps(o, o0);                                                               \
            _mm256_storeu_ps(o + 8, o1);                                                           \
            _mm256_storeu_ps(o + 16, o2);                                                          \
            _mm256_storeu_ps(o + 24, o3);                                                          \
            _mm256_storeu_ps(o + 32, o4);                                                          \
            _mm256_storeu_ps(o + 40, o5);                                                          \
            _mm256_storeu_ps(o + 48, o6);                                                          \
            _mm256_storeu_ps(o + 56, o7);                                                          \
        }                                                                                          \
        for (; d0 + 8 <= hd; d0 += 8) { /* the rest of a head of 80, 96, ... */                    \
            __m256 o0 = _mm256_loadu_ps(out + d0);                                                 \
            for (int64_t t = 0; t < n; t++)                                                        \
                o0 = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), LD(vb + (size_t)t * stride + d0), o0);  \
            _mm256_storeu_ps(out + d0, o0);                                                        \
        }                                                                                          \
        if (d0 < hd) /* hd % 8: the scalar tail of axpy_f32_x86, value by value */                 \
            for (int64_t t = 0; t < n; t++) {                                                      \
                const T *vt = vb + (size_t)t * stride;                                             \
                float row[8];                                                                      \
                for (int64_t i = d0; i < hd; i++)                                                  \
                    row[i - d0] = ES == 2 ? f16_scalar((const uint8_t *)(vt + i)) : (float)vt[i];  \
                axpy_f32_x86(out + d0, w[t], row, hd - d0);                                        \
            }                                                                                      \
    }
ATT_WSUM(att_wsum_f32_x86, float, ATT_LD_F32, 4)
ATT_WSUM(att_wsum_f16_x86, uint16_t, ATT_LD_F16, 2)

/* --- the Q8_0 cache: integer block dots and widened values (kernels.h says what they compute) ----
 * att_dot quantizes q once per call, then takes 8 keys at a time: per block, each key's 32 codes
 * against q's (DOT_U8S8 on |k| and q with k's signs: exact int32 partial sums), the 8 keys' sums
 * reduced into one vector (lane j: key j), and combined with the scales in f32 by one multiply and
 * one add per block, lane by lane as kern_att_dot_portable_q8_0 does for each key: the same bits.
 * att_wsum widens 32 codes at a time (q * d exact in f32) and adds them with axpy_f32_x86's fused
 * multiply-add, keeping 64 (or 32) outputs in registers over all n values. */

/* The int32 dot of block b's 32 codes of k (a block_q8_0 at blk) with q's codes qv, as 8 partial
 * sums. */
KINLINE __m256i q8_block_dot(const uint8_t *blk, __m256i qv) {
    const __m256i kv = _mm256_loadu_si256((const __m256i *)(blk + 2));
    return DOT_U8S8(_mm256_setzero_si256(), _mm256_sign_epi8(kv, kv), _mm256_sign_epi8(qv, kv));
}

KINLINE int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* The block scales of 8 rows `row` bytes apart, each at p + j*row, widened to f32 in registers (a
 * gather of the 32-bit words there, their low halves packed): 8 narrow stores read back as one
 * vector missed store forwarding and took a third of att_dot's time. */
KINLINE __m256 q8_scales8(const uint8_t *p, __m256i vidx) {
    const __m256i lo16 = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
                                          0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i dw = _mm256_shuffle_epi8(_mm256_i32gather_epi32((const int *)p, vidx, 1), lo16);
    return _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64(dw, 0x08)));
}
KINLINE __m256i q8_rows8(size_t row) {
    return _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                              _mm256_set1_epi32((int)row));
}

static void att_dot_q8_0_x86(const float *q, const void *k, size_t stride, int64_t n, int64_t hd,
                             float scale, float *out) {
    _Alignas(64) uint8_t qx[KERN_ATT_MAX_HD + KERN_ATT_MAX_HD / 32 * 8];
    kern_quantize_x(KX_Q8_0, q, qx, hd);
    const float *qd = (const float *)(qx + hd);
    const size_t row = kern_kv_bytes(KV_Q8_0, stride);
    const uint8_t *kb = (const uint8_t *)k;
    const int64_t nb = hd / 32;
    const __m256i vidx = q8_rows8(row);
    int64_t t = 0;
    for (; t + 8 <= n; t += 8) {
        const uint8_t *k0 = kb + (size_t)t * row;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const __m256i qv = _mm256_load_si256((const __m256i *)(qx + 32 * b));
            const uint8_t *p = k0 + b * 34;
            __m256i v[8];
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) v[j] =
                q8_block_dot(p + (size_t)j * row, qv);
            /* lane j of the sum: key j's 8 partial sums added */
            const __m256i h0 =
                _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
            const __m256i h1 =
                _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
            const __m256i isum = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20),
                                                  _mm256_permute2x128_si256(h0, h1, 0x31));
            const __m256 dd = _mm256_mul_ps(_mm256_set1_ps(qd[b]), q8_scales8(p, vidx));
            acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_cvtepi32_ps(isum), dd));
        }
        _mm256_storeu_ps(out + t, _mm256_mul_ps(acc, _mm256_set1_ps(scale)));
    }
    for (; t < n; t++) {
        const uint8_t *kt = kb + (size_t)t * row;
        float s = 0.0f;
        for (int64_t b = 0; b < nb; b++) {
            const __m256i qv = _mm256_load_si256((const __m256i *)(qx + 32 * b));
            const int32_t isum = hsum_epi32(q8_block_dot(kt + b * 34, qv));
            s += (float)isum * (qd[b] * f16_scalar(kt + b * 34));
        }
        out[t] = s * scale;
    }
}

/* The 32 values of a block_q8_0 at blk as f32, in 32 / VLEN vectors: q * d (exact), d given. */
#define Q8V (32 / VLEN)
KINLINE void q8_block_f32(const uint8_t *blk, vf d, vf *v) {
#if KERN_512
    _Pragma("GCC unroll 2") for (int j = 0; j < 2; j++) v[j] =
        _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                          _mm_loadu_si128((const __m128i *)(blk + 2 + 16 * j)))),
                      d);
#else
    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) v[j] =
        _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                          _mm_loadl_epi64((const __m128i *)(blk + 2 + 8 * j)))),
                      d);
#endif
}
#if KERN_512
#define VSTORE_F32(p, v) _mm512_storeu_ps((p), (v))
#else
#define VSTORE_F32(p, v) _mm256_storeu_ps((p), (v))
#endif

/* B blocks (B * 32 outputs) from block b0 on, in 2 * Q8V registers at most, over all n values.
 * Each scale is widened on its own: gathering 8 values' scales at once (as att_dot does) put the
 * gather's latency on this loop's path and took 50% longer. */
KINLINE void wsum_q8_blocks(float *out, const float *w, const uint8_t *vb, size_t row, int64_t n,
                            int64_t b0, const int B) {
    vf acc[2 * Q8V];
    float *o = out + 32 * b0;
    _Pragma("GCC unroll 8") for (int j = 0; j < B * Q8V; j++) acc[j] = VLOAD_F32(o + VLEN * j);
    const uint8_t *blk = vb + b0 * 34;
    for (int64_t t = 0; t < n; t++, blk += row) {
        const vf a = VSET1(w[t]);
        vf x[2 * Q8V];
        _Pragma("GCC unroll 2") for (int i = 0; i < B; i++)
            q8_block_f32(blk + 34 * i, VSET1(f16_scalar(blk + 34 * i)), x + Q8V * i);
        _Pragma("GCC unroll 8") for (int j = 0; j < B * Q8V; j++) acc[j] = VFMA(a, x[j], acc[j]);
    }
    _Pragma("GCC unroll 8") for (int j = 0; j < B * Q8V; j++) VSTORE_F32(o + VLEN * j, acc[j]);
}

static void att_wsum_q8_0_x86(float *out, const float *w, const void *v, size_t stride, int64_t n,
                              int64_t hd) {
    const size_t row = kern_kv_bytes(KV_Q8_0, stride);
    const uint8_t *vb = (const uint8_t *)v;
    int64_t b = 0;
    for (; b + 2 <= hd / 32; b += 2) /* two blocks: 64 outputs in registers */
        wsum_q8_blocks(out, w, vb, row, n, b, 2);
    if (b < hd / 32) /* the last block of hd = 96, 160, ... */
        wsum_q8_blocks(out, w, vb, row, n, b, 1);
}

/* --- gemm drivers: full tiles, then the row and token remainders ---------------------------------
 */
/* Tokens are taken in chunks of about 128 KB of activations (8 to 64 tokens, a multiple of 8) so
 * that a chunk stays in L2 while every row tile walks over it: f32 activations of 64 tokens would
 * not (F16 prompts ran 20% slower with 64-token chunks of 2048-wide rows). */
KINLINE int token_chunk(size_t xs) {
    size_t n = ((size_t)128 << 10) / (xs ? xs : 1);
    n = n < 8 ? 8 : n > 64 ? 64 : n;
    return (int)(n & ~(size_t)7);
}
#define GEMM(NAME, R, T) GEMM_AS(gemm_##NAME, NAME, R, T)
#define GEMM_AS(FN, NAME, R, T)                                                                    \
    static void FN(int64_t K, const uint8_t *w, size_t ws, int nr, const uint8_t *x, size_t xs,    \
                   int nt, float *y, int64_t ldy) {                                                \
        const int tch = token_chunk(xs);                                                           \
        for (int t0 = 0; t0 < nt; t0 += tch) {                                                     \
            const int tn = nt - t0 < tch ? nt - t0 : tch;                                          \
            const uint8_t *xc = x + (size_t)t0 * xs;                                               \
            float *yc = y + (int64_t)t0 * ldy;                                                     \
            int r = 0;                                                                             \
            for (; r + R <= nr; r += R) {                                                          \
                int t = 0;                                                                         \
                for (; t + T <= tn; t += T)                                                        \
                    tile_##NAME(R, T, K, w + r * ws, ws, xc + t * xs, xs, yc + t * ldy + r, ldy);  \
                for (; t < tn; t++)                                                                \
                    tile_##NAME(R, 1, K, w + r * ws, ws, xc + t * xs, xs, yc + t * ldy + r, ldy);  \
            }                                                                                      \
            for (; r < nr; r++) {                                                                  \
                int t = 0;                                                                         \
                for (; t + T <= tn; t += T)                                                        \
                    tile_##NAME(1, T, K, w + r * ws, ws, xc + t * xs, xs, yc + t * ldy + r, ldy);  \
                for (; t < tn; t++)                                                                \
                    tile_##NAME(1, 1, K, w + r * ws, ws, xc + t * xs, xs, yc + t * ldy + r, ldy);  \
            }                                                                                      \
        }                                                                                          \
    }

/* Types with a decode mat-vec: batches smaller than a token tile (decode; the tiles would take them
 * one token at a time) go through it token by token, so 2 tokens give the bits of 1 + 1 */
#define GEMM_MV(NAME, R, T)                                                                        \
    GEMM_AS(gemm_##NAME##_tiles, NAME, R, T)                                                       \
    static void gemm_##NAME(int64_t K, const uint8_t *w, size_t ws, int nr, const uint8_t *x,      \
                            size_t xs, int nt, float *y, int64_t ldy) {                            \
        if (nt < T)                                                                                \
            for (int t = 0; t < nt; t++)                                                           \
                matvec_##NAME(K, w, ws, nr, x + (size_t)t * xs, y + t * ldy);                      \
        else                                                                                       \
            gemm_##NAME##_tiles(K, w, ws, nr, x, xs, nt, y, ldy);                                  \
    }
GEMM_MV(f32, KNR_F, KNT_F)
GEMM_MV(f16, KNR_F, KNT_F)
GEMM_MV(bf16, KNR_F, KNT_F)
GEMM_MV(q8_0f, KNR_8, KNT_8)
GEMM(q4_0, KNR, KNT)
GEMM(q4_1f, KNR_8, KNT_8)
GEMM(q5_0, KNR, KNT)
GEMM(q5_1, KNR, KNT)
GEMM(q4_K, KNR_K, KNT_K)
GEMM(q5_K, KNR_K, KNT_K)
GEMM(q6_K, KNR_K, KNT_K)

void KERN_FILL(kern_table *t) {
    *t = kern_table_scalar; /* same activation formats; every type below replaces the scalar gemm */
    t->name = KERN_NAME;
    t->gemm[LMC_TYPE_F32] = gemm_f32;
    t->gemm[LMC_TYPE_F16] = gemm_f16;
    t->gemm[LMC_TYPE_BF16] = gemm_bf16;
    t->gemm[LMC_TYPE_Q8_0] = gemm_q8_0f;
    t->gemm[LMC_TYPE_Q4_0] = gemm_q4_0;
    t->gemm[LMC_TYPE_Q4_1] = gemm_q4_1f;
    t->gemm[LMC_TYPE_Q5_0] = gemm_q5_0;
    t->gemm[LMC_TYPE_Q5_1] = gemm_q5_1;
    t->gemm[LMC_TYPE_Q4_K] = gemm_q4_K;
    t->gemm[LMC_TYPE_Q5_K] = gemm_q5_K;
    t->gemm[LMC_TYPE_Q6_K] = gemm_q6_K;
    t->dot_f32 = dot_f32_x86;
    t->axpy_f32 = axpy_f32_x86;
    t->att_dot[KV_F32] = att_dot_f32_x86;
    t->att_dot[KV_F16] = att_dot_f16_x86;
    t->att_wsum[KV_F32] = att_wsum_f32_x86;
    t->att_wsum[KV_F16] = att_wsum_f16_x86;
    t->att_dot[KV_Q8_0] = att_dot_q8_0_x86;
    t->att_wsum[KV_Q8_0] = att_wsum_q8_0_x86;
#ifdef KERN_FILL_MORE
    KERN_FILL_MORE(t);
#endif
}
