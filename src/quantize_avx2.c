/* quantize_avx2.c — the affine scale search of the k-quants (quantize.c's fit_affine) for 8
 * sub-blocks at once, one per AVX2 lane. Each lane does exactly the scalar operations in the same
 * order (sums stay sequential within a lane; only independent sub-blocks run side by side), so the
 * result is bit-identical to the scalar search; no FMA (built with -mavx2 only and
 * -ffp-contract=off). Chosen at run time when the CPU has AVX2. */
#include "quantize_simd.h"

#include <immintrin.h>
#include <stdint.h>

/* ggml's nearest_int on 8 lanes: the 1.5*2^23 trick, then clamped to [0, nmax]; as floats. */
static inline __m256 nearest_clamped(__m256 f, __m256i nmax) {
    const __m256 magic = _mm256_set1_ps(12582912.f);
    __m256i i = _mm256_castps_si256(_mm256_add_ps(f, magic));
    i = _mm256_sub_epi32(_mm256_and_si256(i, _mm256_set1_epi32(0x007fffff)),
                         _mm256_set1_epi32(0x00400000));
    i = _mm256_max_epi32(_mm256_setzero_si256(), _mm256_min_epi32(nmax, i));
    return _mm256_cvtepi32_ps(i);
}

static inline __m256 absv(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

/* sum over i of w*diff (diff squared or absolute) for diff = scale*L + min - x */
static inline __m256 fit_error(int n, const __m256 *X, const __m256 *W, const __m256 *L,
                               __m256 scale, __m256 min, int use_mad) {
    __m256 err = _mm256_setzero_ps();
    for (int i = 0; i < n; i++) {
        __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, L[i]), min), X[i]);
        diff = use_mad ? absv(diff) : _mm256_mul_ps(diff, diff);
        err = _mm256_add_ps(err, _mm256_mul_ps(W[i], diff));
    }
    return err;
}

void quant_fit_affine_x8_avx2(int n, int nmax, const float *xt, const float *wt, float *Lt,
                              float *the_min, float *scale_out, float rmin, float rdelta, int nstep,
                              int use_mad) {
    __m256 X[32], W[32], L[32], La[32];
    if (n < 1 || n > 32) return;
    for (int i = 0; i < n; i++) {
        X[i] = _mm256_loadu_ps(xt + 8 * i);
        W[i] = _mm256_loadu_ps(wt + 8 * i);
    }
    const __m256 zero = _mm256_setzero_ps();
    const __m256i nmaxi = _mm256_set1_epi32(nmax);
    __m256 min = X[0], max = X[0], sum_w = W[0], sum_x = _mm256_mul_ps(W[0], X[0]);
    for (int i = 1; i < n; i++) {
        min = _mm256_blendv_ps(min, X[i], _mm256_cmp_ps(X[i], min, _CMP_LT_OQ));
        max = _mm256_blendv_ps(max, X[i], _mm256_cmp_ps(X[i], max, _CMP_GT_OQ));
        sum_w = _mm256_add_ps(sum_w, W[i]);
        sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(W[i], X[i]));
    }
    min = _mm256_blendv_ps(min, zero, _mm256_cmp_ps(min, zero, _CMP_GT_OQ));
    const __m256 flat = _mm256_cmp_ps(max, min, _CMP_EQ_OQ); /* lanes that return 0 at once */
    __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)nmax), _mm256_sub_ps(max, min));
    __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale);
    for (int i = 0; i < n; i++)
        L[i] = nearest_clamped(_mm256_mul_ps(iscale, _mm256_sub_ps(X[i], min)), nmaxi);
    __m256 best = fit_error(n, X, W, L, scale, min, use_mad);
    for (int is = 0; is <= nstep; ++is) {
        /* min moves when a trial wins, and the next trials scale from it (as the scalar code) */
        iscale = _mm256_div_ps(_mm256_set1_ps(rmin + rdelta * is + nmax), _mm256_sub_ps(max, min));
        __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < n; i++) {
            La[i] = nearest_clamped(_mm256_mul_ps(iscale, _mm256_sub_ps(X[i], min)), nmaxi);
            const __m256 wl = _mm256_mul_ps(W[i], La[i]);
            sum_l = _mm256_add_ps(sum_l, wl);
            sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, La[i]));
            sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, X[i]));
        }
        const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
        const __m256 ok = _mm256_andnot_ps(flat, _mm256_cmp_ps(D, zero, _CMP_GT_OQ));
        if (_mm256_movemask_ps(ok) == 0) continue;
        __m256 ts = _mm256_div_ps(
            _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
        __m256 tm = _mm256_div_ps(
            _mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
        const __m256 pos = _mm256_cmp_ps(tm, zero, _CMP_GT_OQ);
        tm = _mm256_blendv_ps(tm, zero, pos);
        ts = _mm256_blendv_ps(ts, _mm256_div_ps(sum_xl, sum_l2), pos);
        const __m256 err = fit_error(n, X, W, La, ts, tm, use_mad);
        const __m256 take = _mm256_and_ps(ok, _mm256_cmp_ps(err, best, _CMP_LT_OQ));
        if (_mm256_movemask_ps(take) == 0) continue;
        for (int i = 0; i < n; i++)
            L[i] = _mm256_blendv_ps(L[i], La[i], take);
        best = _mm256_blendv_ps(best, err, take);
        scale = _mm256_blendv_ps(scale, ts, take);
        min = _mm256_blendv_ps(min, tm, take);
    }
    for (int i = 0; i < n; i++)
        _mm256_storeu_ps(Lt + 8 * i, _mm256_blendv_ps(L[i], zero, flat));
    _mm256_storeu_ps(scale_out, _mm256_blendv_ps(scale, zero, flat));
    _mm256_storeu_ps(the_min, _mm256_xor_ps(min, _mm256_set1_ps(-0.0f))); /* -min */
}

/* levels l = clamp(nearest_int(iscale*x), -nmax, nmax-1) for one trial, and the weighted sums */
static inline void sym_trial(int n, const __m256 *X, const __m256 *WX, const __m256 *W,
                             __m256 iscale, int nmax, __m256 *Lv, __m256 *sumlx, __m256 *suml2) {
    const __m256 magic = _mm256_set1_ps(12582912.f);
    const __m256i lo = _mm256_set1_epi32(-nmax), hi = _mm256_set1_epi32(nmax - 1);
    __m256 slx = _mm256_setzero_ps(), sl2 = _mm256_setzero_ps();
    for (int i = 0; i < n; i++) {
        __m256i q = _mm256_castps_si256(_mm256_add_ps(_mm256_mul_ps(iscale, X[i]), magic));
        q = _mm256_sub_epi32(_mm256_and_si256(q, _mm256_set1_epi32(0x007fffff)),
                             _mm256_set1_epi32(0x00400000));
        q = _mm256_max_epi32(lo, _mm256_min_epi32(hi, q));
        Lv[i] = _mm256_cvtepi32_ps(q);
        slx = _mm256_add_ps(slx, _mm256_mul_ps(WX[i], Lv[i]));
        sl2 = _mm256_add_ps(sl2, _mm256_mul_ps(_mm256_mul_ps(W[i], Lv[i]), Lv[i]));
    }
    *sumlx = slx;
    *suml2 = sl2;
}

void quant_fit_symmetric_x8_avx2(int n, int nmax, const float *xt, float *Lt, float *scale_out) {
    __m256 X[16], W[16], WX[16], L[16], La[16];
    if (n < 1 || n > 16) return;
    const __m256 zero = _mm256_setzero_ps(), nm = _mm256_set1_ps((float)nmax);
    __m256 amax = zero, max = zero;
    for (int i = 0; i < n; i++) {
        X[i] = _mm256_loadu_ps(xt + 8 * i);
        W[i] = _mm256_mul_ps(X[i], X[i]);
        WX[i] = _mm256_mul_ps(W[i], X[i]);
        const __m256 a = absv(X[i]), gt = _mm256_cmp_ps(amax, a, _CMP_LT_OQ);
        amax = _mm256_blendv_ps(amax, a, gt);
        max = _mm256_blendv_ps(max, X[i], gt);
    }
    const __m256 flat = _mm256_cmp_ps(absv(max), _mm256_set1_ps(1e-15f), _CMP_LT_OQ);
    __m256 sumlx, suml2;
    sym_trial(n, X, WX, W, _mm256_div_ps(_mm256_set1_ps((float)-nmax), max), nmax, L, &sumlx,
              &suml2);
    __m256 scale = _mm256_and_ps(_mm256_cmp_ps(suml2, zero, _CMP_NEQ_UQ),
                                 _mm256_div_ps(sumlx, suml2)); /* suml2 ? sumlx/suml2 : 0 */
    __m256 best = _mm256_mul_ps(scale, sumlx);
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        const __m256 iscale = _mm256_div_ps(_mm256_set1_ps(-(nmax + 0.1f * is)), max);
        sym_trial(n, X, WX, W, iscale, nmax, La, &sumlx, &suml2);
        __m256 take = _mm256_and_ps(
            _mm256_cmp_ps(suml2, zero, _CMP_GT_OQ),
            _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2), _CMP_GT_OQ));
        take = _mm256_andnot_ps(flat, take);
        if (_mm256_movemask_ps(take) == 0) continue;
        for (int i = 0; i < n; i++)
            L[i] = _mm256_blendv_ps(L[i], La[i], take);
        const __m256 s = _mm256_div_ps(sumlx, suml2);
        scale = _mm256_blendv_ps(scale, s, take);
        best = _mm256_blendv_ps(best, _mm256_mul_ps(s, sumlx), take);
    }
    for (int i = 0; i < n; i++) /* stored as level + nmax; flat lanes all 0 */
        _mm256_storeu_ps(Lt + 8 * i, _mm256_blendv_ps(_mm256_add_ps(L[i], nm), zero, flat));
    _mm256_storeu_ps(scale_out, _mm256_blendv_ps(scale, zero, flat));
}
