/* kernels_avx512.c — the x86 kernels (kernels_x86.h) for AVX-512 (F, BW, VL, DQ, VNNI, BF16, VBMI):
 * float weights in 512-bit registers, int8 dots with VNNI dpbusd/dpwssd, larger tiles for 32
 * registers. Used only when the CPU has all of these (kernels.c checks). */
#if defined(__x86_64__) || defined(__i386__)
#define KERN_VNNI 1
#define KERN_512 1
#ifndef KERN_FILL /* kernels_np_avx512.c compiles this file again under other names */
#define KERN_FILL kern_fill_avx512
#define KERN_NAME "avx512"
#define KERN_FILL_MORE kern_fill_avx512_z
#endif
#define KNR_F 6
#define KNT_F 4
#define KNR 4
#define KNT 4
#ifndef KNR_K /* kernels_np_avx512.c: 1 (one weight stream per thread) */
#define KNR_K 2
#endif
#define KNT_K 4
#define KNR_8 4
#define KNT_8 4
#include "kernels.h"
void KERN_FILL_MORE(kern_table *t);
#include "kernels_x86.h"
#endif

#if defined(__x86_64__) || defined(__i386__)
KINLINE float hsum512(__m512 v) {
    return _mm512_reduce_add_ps(v);
}

/* --- 512-bit K-quants: 64 weights per register
 * ---------------------------------------------------- Q4_K/Q5_K: 32 bytes of qs hold sub-blocks 2c
 * (low nibbles) and 2c+1 (high): broadcast to both halves of a zmm and shift the upper half, giving
 * weights 64c..64c+63 in order. */
/* End of a K-quant super-block b: acc += iacc * (weight scale d x activation scale). */
KINLINE void kq_fold_512(const int NR, const int NT, int64_t K, const uint8_t *x, size_t xs,
                         int64_t b, __m512i iacc[KNR_K][KNT_K], const __m512 *dd,
                         __m512 acc[KNR_K][KNT_K]) {
    _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
        const __m512 dx = _mm512_set1_ps(KXD(x + t * xs, K)[b]);
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) acc[r][t] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[r][t]), _mm512_mul_ps(dd[r], dx), acc[r][t]);
    }
}

/* y[t][r] = the horizontal sum of each accumulator of a K-quant tile. */
KINLINE void kq_store_512(const int NR, const int NT, __m512 acc[KNR_K][KNT_K], float *y,
                          int64_t ldy) {
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++)
            y[t * ldy + r] = hsum512(acc[r][t]);
}

KINLINE void tile_q45_Kz(const int NR, const int NT, const int FIVE, int64_t K, const uint8_t *w,
                         size_t ws, const uint8_t *x, size_t xs, float *y, int64_t ldy) {
    const size_t BSZ = FIVE ? 176 : 144;
    __m512 acc[KNR_K][KNT_K];
    _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++)
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(15), one = _mm512_set1_epi8(1);
    for (int64_t b = 0; b < K / 256; b++) {
        __m512i sc16[KNR_K], iacc[KNR_K][KNT_K];
        __m512 dd[KNR_K], dm[KNR_K];
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
            const uint8_t *blk = w + r * ws + b * BSZ;
            uint64_t sc, mn;
            k_scales8(blk + 4, &sc, &mn);
            sc16[r] = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
            const __m128i m8 = _mm_cvtsi64_si128((long long)mn);
            const __m256i mm = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
            dd[r] = _mm512_set1_ps(f16_scalar(blk));
            dm[r] = _mm512_set1_ps(f16_scalar(blk + 2));
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
                const __m256i bs =
                    _mm256_loadu_si256((const __m256i *)(KXB(x + t * xs, K) + 16 * b));
                const __m256 dx = _mm256_set1_ps(KXD(x + t * xs, K)[b]);
                const __m256 mterm =
                    _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(mm, bs)),
                                  _mm256_mul_ps(_mm512_castps512_ps256(dm[r]), dx));
                acc[r][t] = _mm512_sub_ps(acc[r][t], _mm512_zextps256_ps512(mterm));
                iacc[r][t] = _mm512_setzero_si512();
            }
        }
        _Pragma("GCC unroll 4") for (int ch = 0; ch < 4; ch++) {
            __m512i cd[KNR_K], sv[KNR_K];
            /* bytes of scale word 2ch in the low 256 bits, of word 2ch+1 in the high ones (sc16
             * holds the 8 words in every 128-bit lane, so an in-lane byte shuffle picks them) */
            const __m512i sidx =
                _mm512_inserti64x4(_mm512_set1_epi16((short)((4 * ch) | (4 * ch + 1) << 8)),
                                   _mm256_set1_epi16((short)((4 * ch + 2) | (4 * ch + 3) << 8)), 1);
            _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
                const uint8_t *blk = w + r * ws + b * BSZ;
                PREFETCH_FAR(blk + 48 * ch);
                const __m512i q = _mm512_broadcast_i64x4(
                    _mm256_loadu_si256((const __m256i *)(blk + (FIVE ? 48 : 16) + 32 * ch)));
                cd[r] = _mm512_and_si512(_mm512_mask_srli_epi16(q, 0xFFFF0000u, q, 4), m4);
                if (FIVE) {
                    const __m512i qh =
                        _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 16)));
                    const __m512i cnt =
                        _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * ch)),
                                           _mm256_set1_epi16((short)(2 * ch + 1)), 1);
                    const __m512i bit = _mm512_and_si512(_mm512_srlv_epi16(qh, cnt), one);
                    cd[r] = _mm512_or_si512(cd[r], _mm512_slli_epi16(bit, 4));
                }
                sv[r] = _mm512_shuffle_epi8(sc16[r], sidx);
            }
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
                const __m512i xv =
                    _mm512_loadu_si512((const void *)(KXQ(x + t * xs) + 256 * b + 64 * ch));
                _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) iacc[r][t] =
                    _mm512_dpwssd_epi32(iacc[r][t], _mm512_maddubs_epi16(cd[r], xv), sv[r]);
            }
        }
        kq_fold_512(NR, NT, K, x, xs, b, iacc, dd, acc);
    }
    kq_store_512(NR, NT, acc, y, ldy);
}
Q45_K_TILES(z)

/* Q6_K: ql[64h .. 64h+63] low nibbles are weights 128h + 0..63 in order, high nibbles 128h
 * + 64..127; their top two bits come from qh[32h .. 32h+31] (bits 0-1 / 2-3 for the first 64, 4-5 /
 * 6-7 for the next). A register of 64 weights spans sub-blocks 8h+4k .. 8h+4k+3. */
KINLINE void tile_q6_Kz(const int NR, const int NT, int64_t K, const uint8_t *w, size_t ws,
                        const uint8_t *x, size_t xs, float *y, int64_t ldy) {
    __m512 acc[KNR_K][KNT_K];
    _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++)
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    const __m512i sh_lo =
        _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1); /* <<: bits 0-1, 2-3 */
    const __m512i sh_hi =
        _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1); /* >>: bits 4-5, 6-7 */
    for (int64_t b = 0; b < K / 256; b++) {
        __m512i s16[KNR_K][2], iacc[KNR_K][KNT_K];
        __m512 dd[KNR_K];
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
            const uint8_t *blk = w + r * ws + b * 210;
            const __m256i s = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
            /* scale words 0-7 / 8-15 in every 128-bit lane, for in-lane byte shuffles */
            s16[r][0] = _mm512_broadcast_i32x4(_mm256_castsi256_si128(s));
            s16[r][1] = _mm512_broadcast_i32x4(_mm256_extracti128_si256(s, 1));
            dd[r] = _mm512_set1_ps(f16_scalar(blk + 208));
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
                const __m256i bs =
                    _mm256_loadu_si256((const __m256i *)(KXB(x + t * xs, K) + 16 * b));
                /* -32 * sum_g sc_g * bsum_g */
                iacc[r][t] = _mm512_zextsi256_si512(_mm256_sub_epi32(
                    _mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(s, bs), 5)));
            }
        }
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            _Pragma("GCC unroll 2") for (int k = 0; k < 2; k++) {
                __m512i cd[KNR_K], sv[KNR_K];
                /* 128-bit lane L: scale word 4k + L of half h (sub-block 8h + 4k + L) */
#define Q6_SW(L) (int)((uint32_t)(2 * (4 * k + (L))) * 0x01010101u + 0x01000100u)
                const __m512i sidx = _mm512_setr_epi32(
                    Q6_SW(0), Q6_SW(0), Q6_SW(0), Q6_SW(0), Q6_SW(1), Q6_SW(1), Q6_SW(1), Q6_SW(1),
                    Q6_SW(2), Q6_SW(2), Q6_SW(2), Q6_SW(2), Q6_SW(3), Q6_SW(3), Q6_SW(3), Q6_SW(3));
#undef Q6_SW
                _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
                    const uint8_t *blk = w + r * ws + b * 210;
                    PREFETCH_FAR(blk + 64 * (2 * h + k));
                    const __m512i ql = _mm512_loadu_si512((const void *)(blk + 64 * h));
                    const __m512i qh = _mm512_broadcast_i64x4(
                        _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h)));
                    const __m512i low = k ? _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4)
                                          : _mm512_and_si512(ql, m4);
                    const __m512i high =
                        k ? _mm512_srlv_epi16(qh, sh_hi) : _mm512_sllv_epi16(qh, sh_lo);
                    cd[r] = _mm512_or_si512(low, _mm512_and_si512(high, m30));
                    sv[r] = _mm512_shuffle_epi8(s16[r][h], sidx);
                }
                _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
                    const __m512i xv = _mm512_loadu_si512(
                        (const void *)(KXQ(x + t * xs) + 256 * b + 128 * h + 64 * k));
                    _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) iacc[r][t] =
                        _mm512_dpwssd_epi32(iacc[r][t], _mm512_maddubs_epi16(cd[r], xv), sv[r]);
                }
            }
        }
        kq_fold_512(NR, NT, K, x, xs, b, iacc, dd, acc);
    }
    kq_store_512(NR, NT, acc, y, ldy);
}

/* --- Q4_0 decode: four blocks per register -------------------------------------------------------
 * For one to three tokens the row-major tile above spends ~8 instructions per block of a row on
 * unpacking codes and scales. Here the 72 bytes of four consecutive blocks are loaded whole (64
 * bytes plus 8 under a mask) and one vpermt2b (VBMI) puts block L's 16 code bytes in 128-bit lane
 * L, one vpermw + cvtph gives [d0 x4 | d1 x4 | d2 x4 | d3 x4]; low nibbles meet the blocks'
 * activations 0-15, high nibbles 16-31 (the token's four blocks regrouped once per token, shared by
 * all rows): about 13 instructions per four blocks of a row. A group of fewer blocks at the end of
 * a row runs the same code with masked loads (the missing blocks contribute exact zeros). Rows are
 * independent, so results do not depend on the grouping of rows. 8 rows per tile: the prefetch 8
 * rows ahead keeps enough misses in flight to reach the single-thread read bandwidth (kernel
 * microbenchmark, one thread, 45056 x 2048 from DRAM: 35 GMAC/s with the row-major tile, 46 with 4
 * rows, 60 with 8 = ~34 GB/s; in cache 46 -> 80). */
#ifndef Q4D_NR /* kernels_np_avx512.c: 1 */
#define Q4D_NR 8
#endif

/* blocks b .. b + nblk - 1 (nblk <= 4; a constant 4 in the main loop: no masks) */
KINLINE void q4_0d_step(const int NR, const int NT, int64_t K, const uint8_t *w, size_t ws,
                        const uint8_t *x, size_t xs, int64_t b, const int nblk, __m512i qidx,
                        __m512i didx, __m512 acc[Q4D_NR][3]) {
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i xlo_idx = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13),
                  xhi_idx = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);
    const __m512i rep4 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const int nbytes = 18 * nblk;
    const __mmask64 ma = nbytes >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << nbytes) - 1);
    const __mmask16 m4l = (__mmask16)((1u << (4 * nblk)) - 1); /* lanes of present blocks */
    const __mmask8 m8 = (__mmask8)((1u << nblk) - 1);
    __m512i xlo[3], xhi[3], init[3];
    __m512 dx[3];
    _Pragma("GCC unroll 3") for (int t = 0; t < NT; t++) {
        const uint8_t *xr = x + t * xs;
        __m512i x0, x1, sx;
        __m512 d;
        if (nblk == 4) {
            x0 = _mm512_loadu_si512((const void *)(XQ(xr) + 32 * b));
            x1 = _mm512_loadu_si512((const void *)(XQ(xr) + 32 * b + 64));
            sx = _mm512_permutexvar_epi32(
                rep4, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(XS(xr, K) + b))));
            d = _mm512_permutexvar_ps(rep4, _mm512_castps128_ps512(_mm_loadu_ps(XD(xr, K) + b)));
        } else {
            const __mmask64 mx0 = nblk >= 2 ? ~(__mmask64)0 : (((__mmask64)1 << (32 * nblk)) - 1);
            const __mmask64 mx1 = nblk > 2 ? (((__mmask64)1 << (32 * (nblk - 2))) - 1) : 0;
            x0 = _mm512_maskz_loadu_epi8(mx0, XQ(xr) + 32 * b);
            x1 = _mm512_maskz_loadu_epi8(mx1, XQ(xr) + 32 * b + 64);
            sx = _mm512_maskz_permutexvar_epi32(
                m4l, rep4, _mm512_castsi128_si512(_mm_maskz_loadu_epi32(m8, XS(xr, K) + b)));
            d = _mm512_maskz_permutexvar_ps(
                m4l, rep4, _mm512_castps128_ps512(_mm_maskz_loadu_ps(m8, XD(xr, K) + b)));
        }
        xlo[t] = _mm512_permutex2var_epi64(x0, xlo_idx, x1);
        xhi[t] = _mm512_permutex2var_epi64(x0, xhi_idx, x1);
        /* -8 * (sum of block L's activations) in lane 4L */
        init[t] = _mm512_maskz_slli_epi32(0x1111, _mm512_sub_epi32(_mm512_setzero_si512(), sx), 3);
        dx[t] = d;
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {
        const uint8_t *blk = w + r * ws + b * 18;
        /* the next tile's rows (2 or 4 tiles ahead was no better in the model's decode, 2 threads)
         */
        KPF((const char *)blk + NR * ws);
        KPF((const char *)blk + NR * ws + 64);
        __m512i A, B;
        if (nblk == 4) {
            A = _mm512_loadu_si512((const void *)blk);
            B = _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(blk + 64)));
        } else {
            A = _mm512_maskz_loadu_epi8(ma, blk);
            B = _mm512_setzero_si512();
        }
        const __m512i q = _mm512_permutex2var_epi8(A, qidx, B);
        const __m512i clo = _mm512_and_si512(q, m4),
                      chi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        const __m512 dw =
            _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(didx, A)));
        _Pragma("GCC unroll 3") for (int t = 0; t < NT; t++) {
            const __m512i p =
                _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(init[t], clo, xlo[t]), chi, xhi[t]);
            acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw, dx[t]), acc[r][t]);
        }
    }
}

KINLINE void tile_q4_0d(const int NR, const int NT, int64_t K, const uint8_t *w, size_t ws,
                        const uint8_t *x, size_t xs, float *y, int64_t ldy) {
    __m512 acc[Q4D_NR][3];
    _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++)
        _Pragma("GCC unroll 3") for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    const int64_t nb = K / 32;
    /* byte 16L + i <- block L's qs[i] = byte 18L + 2 + i of the 128-byte window (A | B) */
    __m512i qidx;
    {
        uint8_t ix[64];
        for (int i = 0; i < 64; i++)
            ix[i] = (uint8_t)(18 * (i / 16) + 2 + i % 16);
        qidx = _mm512_loadu_si512((const void *)ix);
    }
    /* word 4L + j <- block L's d = word 9L */
    const __m512i didx = _mm512_zextsi256_si512(
        _mm256_setr_epi16(0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27));
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4)
        q4_0d_step(NR, NT, K, w, ws, x, xs, b, 4, qidx, didx, acc);
    if (b < nb) q4_0d_step(NR, NT, K, w, ws, x, xs, b, (int)(nb - b), qidx, didx, acc);
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++)
            y[t * ldy + r] = hsum512(acc[r][t]);
}

/* decode only (nt < 4): token tiles of 1 */
static void gemm_q4_0d(int64_t K, const uint8_t *w, size_t ws, int nr, const uint8_t *x, size_t xs,
                       int nt, float *y, int64_t ldy) {
    for (int t = 0; t < nt; t++) {
        int r = 0;
        for (; r + Q4D_NR <= nr; r += Q4D_NR)
            tile_q4_0d(Q4D_NR, 1, K, w + r * ws, ws, x + t * xs, xs, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            tile_q4_0d(1, 1, K, w + r * ws, ws, x + t * xs, xs, y + t * ldy + r, ldy);
    }
}

GEMM(q4_Kz, KNR_K, KNT_K)
GEMM(q5_Kz, KNR_K, KNT_K)
GEMM(q6_Kz, KNR_K, KNT_K)

/* --- Q4_K and Q6_K prompts, 16 rows in the lanes
 * ---------------------------------------------------- As for Q4_0 above, but the K-quants'
 * per-sub-block scales make a transpose per token tile too dear, so a group of 16 rows is repacked
 * once per call (per 64-token chunk and up to TK_SEG super-blocks of K) into a stack buffer: codes
 * transposed so that lane l of a register is row l, scales widened to int32 lanes. Then, per token
 * and sub-block, dpbusd with the token's 4 bytes broadcast leaves each row's exact sub-block sum in
 * its lane, one vpmulld applies the 16 rows' scales, and one cvt + two fma per (token, super-block)
 * fold the 16 rows into f32. Every lane runs the same operations, so a row's result does not depend
 * on which group it fell in (a partial group repeats its last row in the missing lanes, which are
 * never stored); results differ from the row-major kernels only in the order of f32 additions.
 * Decode and small batches (< 4 tokens Q4_K, < 8 Q6_K) keep the row-major kernels. */
enum { TK_ROWS = 16, TK_TOK = 16, TK_CHUNK = 64, TK_SEG = 12 };

/* 16 rows of 8 dwords (R[l]: row l) -> T[k] with dword k of row l in lane l. Rows go in pairs into
 * 256-bit halves, an 8 x 8 transpose of 32-bit elements within the halves and one 128-bit lane
 * shuffle; the pairing (i, i+4) / (i+4, i+8) makes lane l row l at the end. */
KINLINE void transpose16x8(const __m256i *R, __m512i *T) {
    __m512i z[8], u[8];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) {
        const int lo = i < 4 ? i : i + 4;
        z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(R[lo]), R[lo + 4], 1);
    }
    _Pragma("GCC unroll 2") for (int a = 0; a < 8; a += 4) {
        const __m512i t0 = _mm512_unpacklo_epi32(z[a], z[a + 1]),
                      t1 = _mm512_unpackhi_epi32(z[a], z[a + 1]);
        const __m512i t2 = _mm512_unpacklo_epi32(z[a + 2], z[a + 3]),
                      t3 = _mm512_unpackhi_epi32(z[a + 2], z[a + 3]);
        u[a] = _mm512_unpacklo_epi64(t0, t2);
        u[a + 1] = _mm512_unpackhi_epi64(t0, t2);
        u[a + 2] = _mm512_unpacklo_epi64(t1, t3);
        u[a + 3] = _mm512_unpackhi_epi64(t1, t3);
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
        T[c] = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);
        T[4 + c] = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xDD);
    }
}

/* A 16-row tile's accumulators (lane l: row l, one per token) start at zero in the first K segment,
 * else from the partial sums the earlier segments left in y; only the rows in mask m are loaded and
 * stored. */
KINLINE void tk_acc_load(const int NT, __m512 *acc, const float *y, int64_t ldy, __mmask16 m,
                         int first) {
    _Pragma("GCC unroll 16") for (int t = 0; t < NT; t++) acc[t] =
        first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, y + t * ldy);
}
KINLINE void tk_acc_store(const int NT, const __m512 *acc, float *y, int64_t ldy, __mmask16 m) {
    _Pragma("GCC unroll 16") for (int t = 0; t < NT; t++)
        _mm512_mask_storeu_ps(y + t * ldy, m, acc[t]);
}

/* One Q4_K super-block of 16 rows. q[c][k], lane l: qs bytes 32c + 4k .. 32c + 4k + 3 of row l (low
 * nibbles: sub-block 2c, high: 2c + 1); sc[j]: the 6-bit scale of sub-block j; mn[j]: its min
 * twice, as an int16 pair for dpwssd with a pair of activation 16-sums. */
typedef struct {
    __m512i q[4][8];
    __m512i sc[8], mn[8];
    __m512 d, dmin;
} pk_q4_K;

/* Rows past nr (a partial group) repeat row nr - 1: valid memory, finite results, never stored. */
#define PK_ROW(r) (w + (size_t)((r) < nr ? (r) : nr - 1) * ws + b * BSZ)

static void pack_q4_K(const uint8_t *w, size_t ws, int nr, int64_t b0, int nsb, pk_q4_K *P) {
    enum { BSZ = 144 };
    const __m512i m6 = _mm512_set1_epi8(0x3f), lo4 = _mm512_set1_epi8(0x0f),
                  m2 = _mm512_set1_epi8(0x03);
    const __m512i ff = _mm512_set1_epi32(0xff);
    for (int s = 0; s < nsb; s++) {
        const int64_t b = b0 + s;
        pk_q4_K *p = P + s;
        __m256i R[TK_ROWS];
        __m512i T[8];
        /* header: d | dmin, then the 12 scale bytes as words a0, a1, a2 (quant.c lmc_k_scale_min)
         */
        _Pragma("GCC unroll 16") for (int r = 0; r < TK_ROWS; r++) {
            /* the next group's super-block: its rows are 16 streams too many for the hardware
             * prefetcher to follow (kernel microbenchmark, weights from DRAM: ~+25%) */
            const char *nx = (const char *)PK_ROW(r) + TK_ROWS * ws;
            _mm_prefetch(nx, _MM_HINT_T0);
            _mm_prefetch(nx + 64, _MM_HINT_T0);
            _mm_prefetch(nx + 128, _MM_HINT_T0);
            R[r] = _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)PK_ROW(r)));
        }
        transpose16x8(R, T);
        p->d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(T[0]));
        p->dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(T[0], 16)));
        const __m512i a0 = T[1], a1 = T[2], a2 = T[3];
        const __m512i sc_lo = _mm512_and_si512(a0, m6), mn_lo = _mm512_and_si512(a1, m6);
        const __m512i sc_hi =
            _mm512_or_si512(_mm512_and_si512(a2, lo4),
                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(a0, 6), m2), 4));
        const __m512i mn_hi =
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(a2, 4), lo4),
                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(a1, 6), m2), 4));
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            p->sc[j] = _mm512_and_si512(_mm512_srli_epi32(sc_lo, 8 * j), ff);
            p->sc[4 + j] = _mm512_and_si512(_mm512_srli_epi32(sc_hi, 8 * j), ff);
            const __m512i ml = _mm512_and_si512(_mm512_srli_epi32(mn_lo, 8 * j), ff);
            const __m512i mh = _mm512_and_si512(_mm512_srli_epi32(mn_hi, 8 * j), ff);
            p->mn[j] = _mm512_or_si512(ml, _mm512_slli_epi32(ml, 16));
            p->mn[4 + j] = _mm512_or_si512(mh, _mm512_slli_epi32(mh, 16));
        }
        _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
            _Pragma("GCC unroll 16") for (int r = 0; r < TK_ROWS; r++) R[r] =
                _mm256_loadu_si256((const __m256i *)(PK_ROW(r) + 16 + 32 * c));
            transpose16x8(R, p->q[c]);
        }
    }
}

/* NT tokens x 16 rows over the nsb packed super-blocks P (super-block b0 of x first). first: start
 * from 0, else add to y. Only the rows in mask m are stored. */
KINLINE void tile_q4_Kt(const int NT, int64_t K, const pk_q4_K *P, int64_t b0, int nsb,
                        const uint8_t *x, size_t xs, float *y, int64_t ldy, __mmask16 m,
                        int first) {
    __m512 acc[TK_TOK];
    tk_acc_load(NT, acc, y, ldy, m, first);
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int s = 0; s < nsb; s++) {
        const pk_q4_K *p = P + s;
        const int64_t b = b0 + s;
        __m512i ia[TK_TOK];
        _Pragma("GCC unroll 16") for (int t = 0; t < NT; t++) ia[t] = _mm512_setzero_si512();
        _Pragma("GCC unroll 1") for (int j = 0; j < 8; j++) {
            __m512i T[8];
            _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
                const __m512i q = p->q[j >> 1][k];
                T[k] = _mm512_and_si512((j & 1) ? _mm512_srli_epi16(q, 4) : q, m4);
            }
            const __m512i sc = p->sc[j];
            _Pragma("GCC unroll 16") for (int t = 0; t < NT; t++) {
                const int32_t *xd = (const int32_t *)(KXQ(x + t * xs) + 256 * b + 32 * j);
                __m512i u0 =
                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), T[0], _mm512_set1_epi32(xd[0]));
                __m512i u1 =
                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), T[1], _mm512_set1_epi32(xd[1]));
                _Pragma("GCC unroll 4") for (int k = 2; k < 8; k += 2) {
                    u0 = _mm512_dpbusd_epi32(u0, T[k], _mm512_set1_epi32(xd[k]));
                    u1 = _mm512_dpbusd_epi32(u1, T[k + 1], _mm512_set1_epi32(xd[k + 1]));
                }
                ia[t] = _mm512_add_epi32(ia[t], _mm512_mullo_epi32(_mm512_add_epi32(u0, u1), sc));
            }
        }
        _Pragma("GCC unroll 16") for (int t = 0; t < NT; t++) {
            const uint8_t *xr = x + t * xs;
            const int32_t *bp =
                (const int32_t *)(KXB(xr, K) + 16 * b); /* 16-sum pairs = 32-sums' halves */
            __m512i im = _mm512_setzero_si512();
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) im =
                _mm512_dpwssd_epi32(im, p->mn[j], _mm512_set1_epi32(bp[j]));
            const __m512 dx = _mm512_set1_ps(KXD(xr, K)[b]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[t]), _mm512_mul_ps(p->d, dx), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(im), _mm512_mul_ps(p->dmin, dx), acc[t]);
        }
    }
    tk_acc_store(NT, acc, y, ldy, m);
}

/* One Q6_K super-block of 16 rows: q[j][k], lane l: codes (0..63) 16j + 4k .. 16j + 4k + 3 of row
 * l; sp[i]: the signed scales of sub-blocks 2i, 2i + 1 as an int16 pair. */
typedef struct {
    __m512i q[16][4];
    __m512i sp[8];
    __m512 d;
} pk_q6_K;

static void pack_q6_K(const uint8_t *w, size_t ws, int nr, int64_t b0, int nsb, pk_q6_K *P) {
    enum { BSZ = 210 };
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    const __m512i lo16 = _mm512_set1_epi32(0xFFFF);
    for (int s = 0; s < nsb; s++) {
        const int64_t b = b0 + s;
        pk_q6_K *p = P + s;
        __m256i R[TK_ROWS];
        __m512i T[8];
        /* the 16 scale bytes, then bytes 206..209 (scales 14, 15 and d): reading 32 bytes from 192
         * would cross the end of the block, and of the tensor for its last one */
        _Pragma("GCC unroll 16") for (int r = 0; r < TK_ROWS; r++) {
            const uint8_t *blk = PK_ROW(r);
            const char *nx = (const char *)blk + TK_ROWS * ws; /* the next group (see pack_q4_K) */
            for (int l = 0; l < 4; l++)
                _mm_prefetch(nx + 64 * l, _MM_HINT_T0);
            R[r] = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(blk + 192))),
                _mm_cvtsi32_si128((int)u32_at(blk + 206)), 1);
        }
        transpose16x8(R, T);
        p->d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(T[4], 16)));
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
            /* T[k]: scales 4k .. 4k + 3 as bytes; sign-extend the even and odd ones to int16 */
            const __m512i ev = _mm512_srai_epi16(_mm512_slli_epi16(T[k], 8), 8),
                          od = _mm512_srai_epi16(T[k], 8);
            p->sp[2 * k] = _mm512_or_si512(_mm512_and_si512(ev, lo16), _mm512_slli_epi32(od, 16));
            p->sp[2 * k + 1] =
                _mm512_or_si512(_mm512_srli_epi32(ev, 16), _mm512_andnot_si512(lo16, od));
        }
        /* chunk c = 4h + s2: weights 128h + 32 s2 + l (l < 32), see quant.c to_float_q6_K */
        _Pragma("GCC unroll 1") for (int c = 0; c < 8; c++) {
            const int h = c >> 2, s2 = c & 3;
            _Pragma("GCC unroll 16") for (int r = 0; r < TK_ROWS; r++) {
                const uint8_t *blk = PK_ROW(r);
                const __m256i ql =
                    _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32 * (s2 & 1)));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
                const __m256i lo = _mm256_and_si256(s2 >= 2 ? _mm256_srli_epi16(ql, 4) : ql, m4);
                const __m256i hi =
                    _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * s2)), m3);
                R[r] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
            }
            transpose16x8(R, T);
            _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) p->q[2 * c + (k >> 2)][k & 3] =
                T[k];
        }
    }
}

KINLINE void tile_q6_Kt(const int NT, int64_t K, const pk_q6_K *P, int64_t b0, int nsb,
                        const uint8_t *x, size_t xs, float *y, int64_t ldy, __mmask16 m,
                        int first) {
    __m512 acc[TK_TOK];
    tk_acc_load(NT, acc, y, ldy, m, first);
    for (int s = 0; s < nsb; s++) {
        const pk_q6_K *p = P + s;
        const int64_t b = b0 + s;
        __m512i ia[TK_TOK];
        _Pragma("GCC unroll 16") for (int t = 0; t < NT; t++) {
            /* -32 * sum_j sc_j * (16-sum j of the token) */
            const int32_t *bp = (const int32_t *)(KXB(x + t * xs, K) + 16 * b);
            __m512i io = _mm512_setzero_si512();
            _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) io =
                _mm512_dpwssd_epi32(io, p->sp[i], _mm512_set1_epi32(bp[i]));
            ia[t] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(io, 5));
        }
        _Pragma("GCC unroll 1") for (int j = 0; j < 16; j += 2) {
            __m512i T[8];
            _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
                T[k] = p->q[j][k];
                T[4 + k] = p->q[j + 1][k];
            }
            const __m512i sp = p->sp[j >> 1];
            const __m512i s0 = _mm512_srai_epi32(_mm512_slli_epi32(sp, 16), 16),
                          s1 = _mm512_srai_epi32(sp, 16);
            _Pragma("GCC unroll 16") for (int t = 0; t < NT; t++) {
                const int32_t *xd = (const int32_t *)(KXQ(x + t * xs) + 256 * b + 16 * j);
                __m512i u0 =
                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), T[0], _mm512_set1_epi32(xd[0]));
                __m512i u1 =
                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), T[4], _mm512_set1_epi32(xd[4]));
                _Pragma("GCC unroll 3") for (int k = 1; k < 4; k++) {
                    u0 = _mm512_dpbusd_epi32(u0, T[k], _mm512_set1_epi32(xd[k]));
                    u1 = _mm512_dpbusd_epi32(u1, T[4 + k], _mm512_set1_epi32(xd[4 + k]));
                }
                ia[t] = _mm512_add_epi32(ia[t], _mm512_add_epi32(_mm512_mullo_epi32(u0, s0),
                                                                 _mm512_mullo_epi32(u1, s1)));
            }
        }
        _Pragma("GCC unroll 16") for (int t = 0; t < NT; t++) {
            const __m512 dx = _mm512_set1_ps(KXD(x + t * xs, K)[b]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[t]), _mm512_mul_ps(p->d, dx), acc[t]);
        }
    }
    tk_acc_store(NT, acc, y, ldy, m);
}

/* Token chunks of TK_CHUNK (their activations stay in L2), row groups of 16, K in segments of
 * TK_SEG super-blocks (the packed group stays in L1/L2 and on the stack), token tiles of 16, 4, 1.
 */
#define GEMM_KT(NAME, PK, ROWMAJOR, MIN_NT)                                                        \
    static void gemm_##NAME##t(int64_t K, const uint8_t *w, size_t ws, int nr, const uint8_t *x,   \
                               size_t xs, int nt, float *y, int64_t ldy) {                         \
        if (nt < MIN_NT) {                                                                         \
            ROWMAJOR(K, w, ws, nr, x, xs, nt, y, ldy);                                             \
            return;                                                                                \
        }                                                                                          \
        _Alignas(64) PK P[TK_SEG];                                                                 \
        const int64_t nb = K / 256;                                                                \
        for (int t0 = 0; t0 < nt; t0 += TK_CHUNK) {                                                \
            const int tn = nt - t0 < TK_CHUNK ? nt - t0 : TK_CHUNK;                                \
            const uint8_t *xc = x + (size_t)t0 * xs;                                               \
            float *yc = y + (int64_t)t0 * ldy;                                                     \
            for (int r = 0; r < nr; r += TK_ROWS) {                                                \
                const int rn = nr - r < TK_ROWS ? nr - r : TK_ROWS;                                \
                const __mmask16 m = (__mmask16)((1u << rn) - 1);                                   \
                for (int64_t b0 = 0; b0 < nb; b0 += TK_SEG) {                                      \
                    const int nsb = nb - b0 < TK_SEG ? (int)(nb - b0) : TK_SEG;                    \
                    pack_##NAME(w + (size_t)r * ws, ws, rn, b0, nsb, P);                           \
                    int t = 0;                                                                     \
                    for (; t + TK_TOK <= tn; t += TK_TOK)                                          \
                        tile_##NAME##t(TK_TOK, K, P, b0, nsb, xc + t * xs, xs, yc + t * ldy + r,   \
                                       ldy, m, b0 == 0);                                           \
                    for (; t + 4 <= tn; t += 4)                                                    \
                        tile_##NAME##t(4, K, P, b0, nsb, xc + t * xs, xs, yc + t * ldy + r, ldy,   \
                                       m, b0 == 0);                                                \
                    for (; t < tn; t++)                                                            \
                        tile_##NAME##t(1, K, P, b0, nsb, xc + t * xs, xs, yc + t * ldy + r, ldy,   \
                                       m, b0 == 0);                                                \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
/* Where the 16-row kernels start (kernel microbenchmark, 2048 x 2048, one thread): Q4_K is ahead
 * from 4 tokens (103 vs 90 GMAC/s), Q6_K, with twice the packed bytes per weight, only from 8 (4
 * tokens: 69 vs 109; 8: even; 64: 150 vs 86). */
GEMM_KT(q4_K, pk_q4_K, gemm_q4_Kz, 4)
GEMM_KT(q6_K, pk_q6_K, gemm_q6_Kz, 8)

/* --- Q4_0 prompts, 16 rows in the lanes
 * ------------------------------------------------------------- For prompts the int->float work per
 * (row, token, block) dominates a row-major kernel. Here a group of 16 rows is packed once per
 * (64-token chunk, segment of Q4_SEG blocks) into a stack buffer: per block the 16 rows' code bytes
 * transposed (q[j], lane l: bytes 4j .. 4j + 3 of row l; low nibbles are weights 4j.., high nibbles
 * 16 + 4j..) and their scales as floats. dpbusd with the token's matching 4 bytes broadcast then
 * leaves each row's exact block sum in its lane, and one cvt + fma per (token, block) serves 16
 * rows. Every output is the sequential f32 sum over blocks of fma(isum_b, d_w * d_x, acc) (segments
 * continue from y), so a row's bits do not depend on its group (a partial group repeats its last
 * row in lanes never stored). Transposing per 16-token tile instead, as before, cost a third of the
 * work (kernel microbenchmark, one thread, 64 tokens: 142 -> 236 GMAC/s). Batches under 4 tokens
 * take tile_q4_0d; its sums differ from these only in the order of f32 additions. */
enum { Q4_SEG = 64 };
typedef struct {
    __m512i q[4];
    __m512 d;
} pk_q4_0;

static void pack_q4_0(const uint8_t *w, size_t ws, int nr, int64_t b0, int nblk, pk_q4_0 *P) {
    enum { BSZ = 18 };
    for (int s = 0; s < nblk; s += 2) {
        const int two = nblk - s >= 2;
        const int64_t b = b0 + s;
        __m256i R[TK_ROWS];
        __m512i T[8];
        uint16_t h0[TK_ROWS], h1[TK_ROWS];
        _Pragma("GCC unroll 16") for (int r = 0; r < TK_ROWS; r++) {
            const uint8_t *blk = PK_ROW(r);
            const char *nx = (const char *)blk + TK_ROWS * ws; /* the next group (see pack_q4_K) */
            _mm_prefetch(nx, _MM_HINT_T0);
            const __m128i lo = _mm_loadu_si128((const __m128i *)(blk + 2));
            memcpy(&h0[r], blk, 2);
            if (two) {
                R[r] = _mm256_inserti128_si256(_mm256_castsi128_si256(lo),
                                               _mm_loadu_si128((const __m128i *)(blk + 20)), 1);
                memcpy(&h1[r], blk + 18, 2);
            } else {
                R[r] = _mm256_zextsi128_si256(lo);
            }
        }
        transpose16x8(R, T);
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) P[s].q[j] = T[j];
        P[s].d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h0));
        if (two) {
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) P[s + 1].q[j] = T[4 + j];
            P[s + 1].d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h1));
        }
    }
}

KINLINE void tile_q4_0p(const int NT, int64_t K, const pk_q4_0 *P, int64_t b0, int nblk,
                        const uint8_t *x, size_t xs, float *y, int64_t ldy, __mmask16 m,
                        int first) {
    __m512 acc[TK_TOK];
    tk_acc_load(NT, acc, y, ldy, m, first);
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int s = 0; s < nblk; s++) {
        const pk_q4_0 *p = P + s;
        const int64_t b = b0 + s;
        __m512i T[8];
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            T[j] = _mm512_and_si512(p->q[j], m4);
            T[4 + j] = _mm512_and_si512(_mm512_srli_epi16(p->q[j], 4), m4);
        }
        const __m512 dw = p->d;
        _Pragma("GCC unroll 16") for (int t = 0; t < NT; t++) {
            const uint8_t *xr = x + t * xs;
            const int32_t *xd = (const int32_t *)(XQ(xr) + 32 * b);
            __m512i ia = _mm512_set1_epi32(-8 * XS(xr, K)[b]), ib = _mm512_setzero_si512();
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
                ia = _mm512_dpbusd_epi32(ia, T[2 * j], _mm512_set1_epi32(xd[2 * j]));
                ib = _mm512_dpbusd_epi32(ib, T[2 * j + 1], _mm512_set1_epi32(xd[2 * j + 1]));
            }
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(ia, ib)),
                                     _mm512_mul_ps(dw, _mm512_set1_ps(XD(xr, K)[b])), acc[t]);
        }
    }
    tk_acc_store(NT, acc, y, ldy, m);
}

static void gemm_q4_0p(int64_t K, const uint8_t *w, size_t ws, int nr, const uint8_t *x, size_t xs,
                       int nt, float *y, int64_t ldy) {
    if (nt < 4) { /* decode */
        gemm_q4_0d(K, w, ws, nr, x, xs, nt, y, ldy);
        return;
    }
    _Alignas(64) pk_q4_0 P[Q4_SEG];
    const int64_t nb = K / 32;
    for (int t0 = 0; t0 < nt; t0 += TK_CHUNK) {
        const int tn = nt - t0 < TK_CHUNK ? nt - t0 : TK_CHUNK;
        const uint8_t *xc = x + (size_t)t0 * xs;
        float *yc = y + (int64_t)t0 * ldy;
        for (int r = 0; r < nr; r += TK_ROWS) {
            const int rn = nr - r < TK_ROWS ? nr - r : TK_ROWS;
            const __mmask16 m = (__mmask16)((1u << rn) - 1);
            for (int64_t b0 = 0; b0 < nb; b0 += Q4_SEG) {
                const int n = nb - b0 < Q4_SEG ? (int)(nb - b0) : Q4_SEG;
                pack_q4_0(w + (size_t)r * ws, ws, rn, b0, n, P);
                int t = 0;
                for (; t + TK_TOK <= tn; t += TK_TOK)
                    tile_q4_0p(TK_TOK, K, P, b0, n, xc + t * xs, xs, yc + t * ldy + r, ldy, m,
                               b0 == 0);
                for (; t + 4 <= tn; t += 4)
                    tile_q4_0p(4, K, P, b0, n, xc + t * xs, xs, yc + t * ldy + r, ldy, m, b0 == 0);
                for (; t < tn; t++)
                    tile_q4_0p(1, K, P, b0, n, xc + t * xs, xs, yc + t * ldy + r, ldy, m, b0 == 0);
            }
        }
    }
}

#undef PK_ROW

/* --- F16 prompts: rows converted to f32 once per call
 * ---------------------------------------------- For prompts the float tile's limits were memory,
 * not the FMAs: with 64 tokens of 2048-wide f32 activations (512 KB) per chunk the activations fall
 * out of L2, and with smaller token chunks the weights are streamed once per chunk. Here, per chunk
 * of 64 tokens, K goes in segments of F16_SEG (the segment's activations: 256 KB, stay in L2); per
 * segment each group of KNR_F rows is converted to f32 once into a stack buffer (24 KB, L1) that
 * every token tile then reads, while the next group's rows are prefetched. Partial sums per segment
 * are added to y in segment order; every (row, token) sees the same operations whatever the
 * grouping (kernel microbenchmark, one thread, 64 tokens: 2048 x 2048 64 -> 85 GMAC/s, 5632-wide
 * rows 58 -> 78, weights from DRAM 53 -> 78). */
enum {
    F16_SEG = 1024,
    F16_LD = F16_SEG + 16,
    FP_CHUNK = 64
}; /* buffer rows padded off a 4 KB stride */

/* The horizontal sums of 8 vectors, as one vector of 8 sums: 25 instructions instead of 8 full
 * reductions (~8 each), a tenth of the tile's work per 1024-wide segment. Every lane goes through
 * the same additions of its own vector's elements, so a row's sum does not depend on its place. */
KINLINE __m256 hsum_rows(const __m512 *v) {
    __m256 a[8];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) a[i] =
        _mm256_add_ps(_mm512_castps512_ps256(v[i]),
                      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v[i]), 1)));
    const __m256 h01 = _mm256_hadd_ps(a[0], a[1]), h23 = _mm256_hadd_ps(a[2], a[3]);
    const __m256 h45 = _mm256_hadd_ps(a[4], a[5]), h67 = _mm256_hadd_ps(a[6], a[7]);
    const __m256 q0 = _mm256_hadd_ps(h01, h23), q1 = _mm256_hadd_ps(h45, h67);
    return _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20),
                         _mm256_permute2f128_ps(q0, q1, 0x31));
}

KINLINE void tile_f32seg(const int NR, const int NT, int kn, const float *wb, const float *x,
                         size_t xs, float *y, int64_t ldy, int first) {
    __m512 acc[KNR_F][KNT_F];
    _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++)
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= kn; k += 16) {
        __m512 wv[KNR_F];
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) wv[r] =
            _mm512_load_ps(wb + r * F16_LD + k);
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
            const float *xr = (const float *)((const uint8_t *)x + t * xs) + k;
#ifdef FX_PF
            if (k % 32 == 0) _mm_prefetch((const char *)xr + FX_PF, _MM_HINT_T0);
#endif
            const __m512 xv = _mm512_loadu_ps(xr);
            _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) acc[r][t] =
                _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    if (k < kn) { /* the ragged end of K: masked loads, zeros beyond */
        const __mmask16 m = (__mmask16)((1u << (kn - k)) - 1);
        __m512 wv[KNR_F];
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) wv[r] =
            _mm512_load_ps(wb + r * F16_LD + k);
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
            const __m512 xv =
                _mm512_maskz_loadu_ps(m, (const float *)((const uint8_t *)x + t * xs) + k);
            _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) acc[r][t] =
                _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    /* per token, the NR rows' sums in one vector (hsum_rows), added to y under a mask */
    const __mmask8 m = (__mmask8)((1u << NR) - 1);
    _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
        __m512 v[8];
        _Pragma("GCC unroll 8") for (int r = 0; r < 8; r++) v[r] =
            r < NR ? acc[r][t] : _mm512_setzero_ps();
        __m256 s = hsum_rows(v);
        if (!first) s = _mm256_add_ps(_mm256_maskz_loadu_ps(m, y + t * ldy), s);
        _mm256_mask_storeu_ps(y + t * ldy, m, s);
    }
}

static void gemm_f16p(int64_t K, const uint8_t *w, size_t ws, int nr, const uint8_t *x, size_t xs,
                      int nt, float *y, int64_t ldy) {
    /* Batches that fit one token chunk of the row-major tile read the weights once there too, and
     * for few tokens the conversion costs as much as the FMAs it feeds (kernel microbenchmark,
     * 2048 x 2048: 4 tokens 85 vs 38 GMAC/s, 16 tokens 78 vs 65; 64 tokens 77 vs 78, 5632-wide rows
     * 43 vs 77, weights from DRAM 55 vs 71) */
    if (nt <= token_chunk(xs)) {
        gemm_f16(K, w, ws, nr, x, xs, nt, y, ldy);
        return;
    }
    _Alignas(64) float wb[KNR_F * F16_LD];
    for (int t0 = 0; t0 < nt; t0 += FP_CHUNK) {
        const int tn = nt - t0 < FP_CHUNK ? nt - t0 : FP_CHUNK;
        for (int64_t k0 = 0; k0 < K; k0 += F16_SEG) {
            const int kn = K - k0 < F16_SEG ? (int)(K - k0) : F16_SEG;
            const uint8_t *xk = x + (size_t)t0 * xs + k0 * 4;
            float *yc = y + (int64_t)t0 * ldy;
            for (int r = 0; r < nr; r += KNR_F) {
                const int rn = nr - r < KNR_F ? nr - r : KNR_F;
                for (int i = 0; i < rn; i++) {
                    const uint16_t *src = (const uint16_t *)(w + (size_t)(r + i) * ws) + k0;
                    int k = 0;
                    for (; k + 16 <= kn; k += 16) {
                        /* the next group's rows, same columns: fetched while this group computes
                         * (without it the burst of demand misses per group cost 20-25%) */
                        if (k % 32 == 0)
                            _mm_prefetch((const char *)(src + k) + KNR_F * ws, _MM_HINT_T0);
                        _mm512_store_ps(wb + i * F16_LD + k, _mm512_cvtph_ps(_mm256_loadu_si256(
                                                                 (const __m256i *)(src + k))));
                    }
                    if (k < kn) {
                        const __mmask16 m = (__mmask16)((1u << (kn - k)) - 1);
                        _mm512_store_ps(wb + i * F16_LD + k,
                                        _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + k)));
                    }
                }
                int t = 0;
                if (rn == KNR_F) {
                    for (; t + KNT_F <= tn; t += KNT_F)
                        tile_f32seg(KNR_F, KNT_F, kn, wb, (const float *)(xk + t * xs), xs,
                                    yc + t * ldy + r, ldy, k0 == 0);
                    for (; t < tn; t++)
                        tile_f32seg(KNR_F, 1, kn, wb, (const float *)(xk + t * xs), xs,
                                    yc + t * ldy + r, ldy, k0 == 0);
                } else {
                    for (int i = 0; i < rn; i++) {
                        for (t = 0; t + KNT_F <= tn; t += KNT_F)
                            tile_f32seg(1, KNT_F, kn, wb + i * F16_LD, (const float *)(xk + t * xs),
                                        xs, yc + t * ldy + r + i, ldy, k0 == 0);
                        for (; t < tn; t++)
                            tile_f32seg(1, 1, kn, wb + i * F16_LD, (const float *)(xk + t * xs), xs,
                                        yc + t * ldy + r + i, ldy, k0 == 0);
                    }
                }
            }
        }
    }
}

void KERN_FILL_MORE(kern_table *t) {
    t->gemm[LMC_TYPE_F16] = gemm_f16p;
    t->gemm[LMC_TYPE_Q4_0] = gemm_q4_0p;
    t->gemm[LMC_TYPE_Q4_K] = gemm_q4_Kt;
    t->gemm[LMC_TYPE_Q5_K] = gemm_q5_Kz;
    t->gemm[LMC_TYPE_Q6_K] = gemm_q6_Kt;
}
#endif
