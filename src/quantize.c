/* quantize.c — float rows to ggml blocks, bit-exact with ggml's reference quantizers (the ones
 * llama-quantize runs when no importance matrix is given). Bit-exactness rests on doing the same
 * f32 operations in the same order: every expression below keeps ggml's association (a*b*c is
 * (a*b)*c), and this file is built with -ffp-contract=off (CMakeLists) so no multiply-add is fused.
 * No SIMD and no imatrix-weighted variants here. */
#include "quantize.h"

#include "quant.h"
#include "quantize_simd.h"
#include "util.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define GROUP_MAX_EPS 1e-15f

static inline int imin(int a, int b) {
    return a < b ? a : b;
}
static inline int imax(int a, int b) {
    return a > b ? a : b;
}

/* Round to nearest by the 1.5*2^23 trick (ties to even, valid for |f| < 2^22), as ggml does. */
static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static inline lmc_half to_half(float f) {
    return lmc_f32_to_f16(f);
}
static inline float from_half(lmc_half h) {
    return lmc_f16_to_f32(h);
}

/* --- 32-weight blocks ------------------------------------------------------------------------- */

/* The value of largest magnitude (the first one when tied), for the symmetric types. */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

static void q4_0_block(const float *x, block_q4_0 *y) {
    const float d = signed_absmax(x, QK4_0) / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = to_half(d);
    for (int j = 0; j < QK4_0 / 2; j++) {
        const uint8_t lo = (uint8_t)imin(15, (int8_t)(x[j] * id + 8.5f));
        const uint8_t hi = (uint8_t)imin(15, (int8_t)(x[j + QK4_0 / 2] * id + 8.5f));
        y->qs[j] = (uint8_t)(lo | (hi << 4));
    }
}

static void q4_1_block(const float *x, block_q4_1 *y) {
    float mn, mx;
    min_max(x, QK4_1, &mn, &mx);
    const float d = (mx - mn) / 15;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = to_half(d);
    y->m = to_half(mn);
    for (int j = 0; j < QK4_1 / 2; j++) {
        const uint8_t lo = (uint8_t)imin(15, (int8_t)((x[j] - mn) * id + 0.5f));
        const uint8_t hi = (uint8_t)imin(15, (int8_t)((x[j + QK4_1 / 2] - mn) * id + 0.5f));
        y->qs[j] = (uint8_t)(lo | (hi << 4));
    }
}

/* Q5_x: low nibbles as in Q4_x, the fifth bit of weight j in bit j of qh. */
static void pack_q5(const uint8_t *q, uint8_t *qs, uint8_t *qh_out) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 15) | ((q[j + 16] & 15) << 4));
        qh |= (uint32_t)((q[j] >> 4) & 1) << j;
        qh |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    }
    memcpy(qh_out, &qh, 4);
}

static void q5_0_block(const float *x, block_q5_0 *y) {
    const float d = signed_absmax(x, QK5_0) / -16;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = to_half(d);
    uint8_t q[QK5_0];
    for (int j = 0; j < QK5_0; j++)
        q[j] = (uint8_t)imin(31, (int8_t)(x[j] * id + 16.5f));
    pack_q5(q, y->qs, y->qh);
}

static void q5_1_block(const float *x, block_q5_1 *y) {
    float mn, mx;
    min_max(x, QK5_1, &mn, &mx);
    const float d = (mx - mn) / 31;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = to_half(d);
    y->m = to_half(mn);
    uint8_t q[QK5_1];
    for (int j = 0; j < QK5_1; j++)
        q[j] = (uint8_t)((x[j] - mn) * id + 0.5f); /* ggml does not clamp here */
    pack_q5(q, y->qs, y->qh);
}

static void q8_0_block(const float *x, block_q8_0 *y) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; j++)
        amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]); /* ggml's MAX, NaN included */
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = to_half(d);
    for (int j = 0; j < QK8_0; j++)
        y->qs[j] = (int8_t)roundf(x[j] * id);
}

/* --- helpers of the k-quants ------------------------------------------------------------------ */

/* Symmetric: levels in [-nmax, nmax-1] (stored + nmax) for n weights with weights x*x (Q6_K). Tries
 * 18 scales around nmax/max and keeps the best weighted least-squares fit. */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L) {
    const float max = signed_absmax(x, n);
    if (fabsf(max) < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i)
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric for Q3_K: a first guess at nmax/max, then up to 5 rounds of moving single levels while
 * the weighted (x*x) fit improves. L gets levels + nmax. */
static float fit_symmetric_q3(int n, int nmax, const float *x, int8_t *L) {
    const float max = signed_absmax(x, n);
    if (fabsf(max) < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int new_l = imax(-nmax, imin(nmax - 1, nearest_int(x[i] * sl2 / slx)));
            if (new_l == L[i]) continue;
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                ++n_changed;
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric: levels in [0, nmax] with x ≈ scale*L - the_min, fitted by weighted least squares
 * (absolute error when use_mad) over nstep+1 trial scales. Returns scale; *the_min >= 0. */
static float fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                        uint8_t *Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        L[i] = (uint8_t)imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += w[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float cur_error = 0;
        for (int i = 0; i < n; ++i) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            diff = use_mad ? fabsf(diff) : diff * diff;
            cur_error += w[i] * diff;
        }
        if (cur_error < best_error) {
            memcpy(L, Laux, (size_t)n);
            best_error = cur_error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* --- 8 sub-blocks at once (quantize_avx2.c when the CPU has AVX2; bit-identical) ------------- */

static int g_simd = -1; /* -1: not decided yet */

void quant_use_simd(bool on) {
    g_simd = on && __builtin_cpu_supports("avx2");
}

static bool use_simd(void) {
    if (g_simd < 0) quant_use_simd(true);
    return g_simd > 0;
}

/* fit_affine over 8 consecutive sub-blocks of n weights each (x, w: 8*n), levels into L (8*n),
 * scales and mins into 8 floats each. */
static void fit_affine_8(int n, int nmax, const float *x, const float *w, uint8_t *L, float *mins,
                         float *scales, float rmin, float rdelta, int nstep, bool use_mad) {
    if (!use_simd()) {
        uint8_t Laux[32];
        for (int j = 0; j < 8; j++)
            scales[j] = fit_affine(n, nmax, x + n * j, w + n * j, L + n * j, &mins[j], Laux, rmin,
                                   rdelta, nstep, use_mad);
        return;
    }
    float xt[32 * 8], wt[32 * 8], Lt[32 * 8];
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < n; i++) {
            xt[8 * i + j] = x[n * j + i];
            wt[8 * i + j] = w[n * j + i];
        }
    quant_fit_affine_x8_avx2(n, nmax, xt, wt, Lt, mins, scales, rmin, rdelta, nstep, use_mad);
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < n; i++)
            L[n * j + i] = (uint8_t)Lt[8 * i + j];
}

/* The 6-bit scale and min of sub-block j of Q4_K/Q5_K's packed 12 bytes. */
static void k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* 2 bits of each of 4 groups of 32 levels per byte (Q2_K qs, Q3_K low bits). */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                      (L[j + l + 96] << 6));
}

/* --- k-quants (super-blocks of 256) ----------------------------------------------------------- */

static void q2_K_block(const float *x, block_q2_K *y) {
    uint8_t L[QK_K];
    float w[QK_K], mins[QK_K / 16], scales[QK_K / 16];
    for (int l = 0; l < QK_K; ++l)
        w[l] = fabsf(x[l]);
    for (int h = 0; h < 2; h++)
        fit_affine_8(16, 3, x + 128 * h, w + 128 * h, L + 128 * h, mins + 8 * h, scales + 8 * h,
                     -0.5f, 0.1f, 15, true);
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 16; ++j) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float q4scale = 15.f;
    if (max_scale > 0) {
        const float iscale = q4scale / max_scale;
        for (int j = 0; j < QK_K / 16; ++j)
            y->scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
        y->d = to_half(max_scale / q4scale);
    } else {
        memset(y->scales, 0, sizeof y->scales);
        y->d = to_half(0.f);
    }
    if (max_min > 0) {
        const float iscale = q4scale / max_min;
        for (int j = 0; j < QK_K / 16; ++j)
            y->scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
        y->dmin = to_half(max_min / q4scale);
    } else {
        y->dmin = to_half(0.f);
    }
    for (int j = 0; j < QK_K / 16; ++j) {
        const float d = from_half(y->d) * (y->scales[j] & 0xF);
        if (!d) continue;
        const float dm = from_half(y->dmin) * (y->scales[j] >> 4);
        for (int i = 0; i < 16; ++i)
            L[16 * j + i] = (uint8_t)imax(0, imin(3, nearest_int((x[16 * j + i] + dm) / d)));
    }
    pack_2bit(L, y->qs);
}

static void q3_K_block(const float *x, block_q3_K *y) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < QK_K / 16; ++j) {
        scales[j] = fit_symmetric_q3(16, 4, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > amax) {
            amax = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    memset(y->scales, 0, 12);
    if (max_scale) {
        const float iscale = -32.f / max_scale;
        for (int j = 0; j < QK_K / 16; ++j) {
            int8_t l = (int8_t)nearest_int(iscale * scales[j]);
            l = (int8_t)(imax(-32, imin(31, l)) + 32);
            if (j < 8)
                y->scales[j] = l & 0xF;
            else
                y->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
            l >>= 4;
            y->scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
        }
        y->d = to_half(1 / iscale);
    } else {
        y->d = to_half(0.f);
    }
    for (int j = 0; j < QK_K / 16; ++j) {
        int8_t sc = (int8_t)(j < 8 ? y->scales[j] & 0xF : y->scales[j - 8] >> 4);
        sc = (int8_t)((sc | (((y->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
        const float d = from_half(y->d) * sc;
        if (!d) continue;
        for (int i = 0; i < 16; ++i)
            L[16 * j + i] = (int8_t)(imax(-4, imin(3, nearest_int(x[16 * j + i] / d))) + 4);
    }
    /* The high bit of level j goes to bit j/32 of hmask[j%32]. */
    memset(y->hmask, 0, QK_K / 8);
    uint8_t low[QK_K];
    for (int j = 0; j < QK_K; ++j) {
        low[j] = (uint8_t)L[j];
        if (L[j] > 3) {
            y->hmask[j % 32] |= (uint8_t)(1 << (j / 32));
            low[j] = (uint8_t)(L[j] - 4);
        }
    }
    pack_2bit(low, y->qs);
}

/* Q4_K and Q5_K share the scale search (8 sub-blocks of 32, 6-bit scales and mins). */
static void k4_scales(const float *x, int nmax, float rmin, int nstep, uint8_t *L, uint8_t *packed,
                      lmc_half *d_out, lmc_half *dmin_out) {
    float w[QK_K], mins[QK_K / 32], scales[QK_K / 32];
    for (int j = 0; j < QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l)
            w[32 * j + l] = av_x + fabsf(x[32 * j + l]);
    }
    fit_affine_8(32, nmax, x, w, L, mins, scales, rmin, 0.1f, nstep, false);
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
            packed[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = to_half(max_scale / 63.f);
    *dmin_out = to_half(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        k4_scale_min(j, packed, &sc, &m);
        const float d = from_half(*d_out) * sc;
        if (!d) continue;
        const float dm = from_half(*dmin_out) * m;
        for (int i = 0; i < 32; ++i)
            L[32 * j + i] = (uint8_t)imax(0, imin(nmax, nearest_int((x[32 * j + i] + dm) / d)));
    }
}

static void q4_K_block(const float *x, block_q4_K *y) {
    uint8_t L[QK_K];
    k4_scales(x, 15, -1.f, 20, L, y->scales, &y->d, &y->dmin);
    uint8_t *q = y->qs;
    for (int j = 0; j < QK_K; j += 64, q += 32)
        for (int l = 0; l < 32; ++l)
            q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

static void q5_K_block(const float *x, block_q5_K *y) {
    uint8_t L[QK_K];
    k4_scales(x, 31, -0.5f, 15, L, y->scales, &y->d, &y->dmin);
    memset(y->qh, 0, QK_K / 8);
    uint8_t *ql = y->qs;
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < QK_K; n += 64, ql += 32, m1 <<= 2, m2 <<= 2)
        for (int j = 0; j < 32; ++j) {
            int l1 = L[n + j], l2 = L[n + j + 32];
            if (l1 > 15) {
                l1 -= 16;
                y->qh[j] |= m1;
            }
            if (l2 > 15) {
                l2 -= 16;
                y->qh[j] |= m2;
            }
            ql[j] = (uint8_t)(l1 | (l2 << 4));
        }
}

/* fit_symmetric(16, 32) over 8 consecutive sub-blocks of 16 weights (x: 128). */
static void fit_symmetric_8(const float *x, int8_t *L, float *scales) {
    if (!use_simd()) {
        for (int j = 0; j < 8; j++)
            scales[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j);
        return;
    }
    float xt[16 * 8], Lt[16 * 8];
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 16; i++)
            xt[8 * i + j] = x[16 * j + i];
    quant_fit_symmetric_x8_avx2(16, 32, xt, Lt, scales);
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (int8_t)Lt[8 * i + j];
}

static void q6_K_block(const float *x, block_q6_K *y) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    fit_symmetric_8(x, L, scales);
    fit_symmetric_8(x + 128, L + 128, scales + 8);
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        if (fabsf(scales[ib]) > max_abs_scale) {
            max_abs_scale = fabsf(scales[ib]);
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < GROUP_MAX_EPS) {
        memset(y, 0, sizeof *y);
        y->d = to_half(0.f);
        return;
    }
    const float iscale = -128.f / max_scale;
    y->d = to_half(1 / iscale);
    for (int ib = 0; ib < QK_K / 16; ++ib)
        y->scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
    for (int j = 0; j < QK_K / 16; ++j) {
        const float d = from_half(y->d) * y->scales[j];
        if (!d) continue;
        for (int i = 0; i < 16; ++i)
            L[16 * j + i] = (int8_t)(imax(-32, imin(31, nearest_int(x[16 * j + i] / d))) + 32);
    }
    uint8_t *ql = y->ql, *qh = y->qh;
    for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; ++l) {
            const uint8_t a = (uint8_t)L[j + l], b = (uint8_t)L[j + l + 32],
                          c = (uint8_t)L[j + l + 64], e = (uint8_t)L[j + l + 96];
            ql[l] = (uint8_t)((a & 0xF) | ((c & 0xF) << 4));
            ql[l + 32] = (uint8_t)((b & 0xF) | ((e & 0xF) << 4));
            qh[l] = (uint8_t)((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6));
        }
}

/* --- rows ------------------------------------------------------------------------------------- */

typedef void (*block_fn)(const float *x, void *y);

static block_fn block_quantizer(uint32_t type) {
    switch (type) {
    case LMC_TYPE_Q4_0:
        return (block_fn)q4_0_block;
    case LMC_TYPE_Q4_1:
        return (block_fn)q4_1_block;
    case LMC_TYPE_Q5_0:
        return (block_fn)q5_0_block;
    case LMC_TYPE_Q5_1:
        return (block_fn)q5_1_block;
    case LMC_TYPE_Q8_0:
        return (block_fn)q8_0_block;
    case LMC_TYPE_Q2_K:
        return (block_fn)q2_K_block;
    case LMC_TYPE_Q3_K:
        return (block_fn)q3_K_block;
    case LMC_TYPE_Q4_K:
        return (block_fn)q4_K_block;
    case LMC_TYPE_Q5_K:
        return (block_fn)q5_K_block;
    case LMC_TYPE_Q6_K:
        return (block_fn)q6_K_block;
    default:
        return NULL;
    }
}

bool quant_can_write(uint32_t type) {
    return type == LMC_TYPE_F32 || type == LMC_TYPE_F16 || type == LMC_TYPE_BF16 ||
           block_quantizer(type) != NULL;
}

/* bf16 as ggml rounds it: nearest even, NaN kept quiet. */
static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

void quant_rows(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row) {
    const int64_t n = nrows * n_per_row;
    uint8_t *out = dst;
    if (type == LMC_TYPE_F32) {
        memcpy(out, src, (size_t)n * 4);
    } else if (type == LMC_TYPE_F16 || type == LMC_TYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = type == LMC_TYPE_F16 ? lmc_f32_to_f16(src[i]) : to_bf16(src[i]);
            memcpy(out + 2 * i, &h, 2);
        }
    } else {
        const lmc_type_traits *tr = lmc_type_get(type);
        block_fn fn = block_quantizer(type);
        for (int64_t b = 0; b < n / tr->blck_size; b++)
            fn(src + b * tr->blck_size, out + b * tr->type_size);
    }
}
