/* test_kernels.c — every kernel table this CPU can run (ref, scalar, avx2, avx512, avx2np,
 * avx512np, zen4, zen3) against references on random weights and activations of odd sizes (rows not
 * a multiple of the tile, 1..17 tokens, many blocks, the token-chunk edge), and every table's f32
 * dot and axpy against double precision. Two checks per gemm output:
 *  1. against the exact dot (in double) of the dequantized weights with the activations as the
 * kernel sees them (after 8-bit quantization): equal up to f32 rounding, a rigorous bound;
 *  2. against lmc_vec_dot_ref with the unquantized activations: the difference must be within the
 *     error the activation quantization itself introduces (sum |w| |x - x_quantized|), plus
 * rounding. No speed is asserted here. */
#include "cpu/kernels.h"
#include "quant.h"
#include "testutil.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd_u32(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545f4914f6cdd1dull) >> 32);
}
static float rnd_unit(void) {
    return (float)((double)rnd_u32() / 4294967296.0 * 2.0 - 1.0);
}

static void put_f16(uint8_t *p, float f) {
    uint16_t h = lmc_f32_to_f16(f);
    memcpy(p, &h, 2);
}

/* Random but valid weights: random code bytes, sane f16 scales. */
static void fill_weights(uint32_t type, uint8_t *w, int64_t K, int rows) {
    const lmc_type_traits *tr = lmc_type_get(type);
    const size_t row = lmc_row_size(type, K);
    for (size_t i = 0; i < row * (size_t)rows; i++)
        w[i] = (uint8_t)rnd_u32();
    const int64_t nblk = (int64_t)(row * (size_t)rows) / tr->type_size;
    for (int64_t b = 0; b < nblk; b++) {
        uint8_t *p = w + b * tr->type_size;
        switch (type) {
        case LMC_TYPE_F32:
            for (int i = 0; i < 1; i++) {
                float f = rnd_unit();
                memcpy(p, &f, 4);
            }
            break;
        case LMC_TYPE_F16:
            put_f16(p, rnd_unit());
            break;
        case LMC_TYPE_BF16: {
            float f = rnd_unit();
            uint32_t u;
            memcpy(&u, &f, 4);
            uint16_t h = (uint16_t)(u >> 16);
            memcpy(p, &h, 2);
            break;
        }
        case LMC_TYPE_Q4_0:
        case LMC_TYPE_Q5_0:
        case LMC_TYPE_Q8_0:
            put_f16(p, 0.001f + 0.05f * fabsf(rnd_unit()));
            break;
        case LMC_TYPE_Q4_1:
        case LMC_TYPE_Q5_1:
        case LMC_TYPE_Q4_K:
        case LMC_TYPE_Q5_K:
            put_f16(p, 0.001f + 0.05f * fabsf(rnd_unit()));
            put_f16(p + 2, 0.05f * rnd_unit());
            break;
        case LMC_TYPE_Q6_K:
            put_f16(p + 208, 0.0001f + 0.002f * fabsf(rnd_unit()));
            break;
        default:
            break;
        }
    }
}

/* The activations as the kernel sees them, dequantized from format f. */
static void x_as_seen(kern_xfmt f, const uint8_t *xq, int64_t K, double *out) {
    if (f == KX_F32) {
        for (int64_t i = 0; i < K; i++)
            out[i] = ((const float *)xq)[i];
        return;
    }
    const int blk = f == KX_Q8_0 ? 32 : 256;
    const float *d = (const float *)(xq + K);
    for (int64_t i = 0; i < K; i++)
        out[i] = (double)d[i / blk] * (double)((const int8_t *)xq)[i];
}

static const uint32_t k_types[] = {LMC_TYPE_F32,  LMC_TYPE_F16,  LMC_TYPE_BF16, LMC_TYPE_Q4_0,
                                   LMC_TYPE_Q4_1, LMC_TYPE_Q5_0, LMC_TYPE_Q5_1, LMC_TYPE_Q8_0,
                                   LMC_TYPE_Q4_K, LMC_TYPE_Q5_K, LMC_TYPE_Q6_K};

static int g_bad_reported;

/* The inputs of one (table, type, K, rows, tokens) case: random weights (fill_weights), random
 * activations (every 7th times 3 with spikes) and those in the table's activation format. */
typedef struct {
    kern_xfmt f;
    size_t wrow, xrow;
    uint8_t *w, *xq;
    float *x;
} kcase;

static kcase kcase_make(const kern_table *kt, uint32_t type, int64_t K, int nr, int nt,
                        int spikes) {
    kcase c = {.f = kt->xfmt[type], .wrow = lmc_row_size(type, K)};
    c.xrow = kern_x_row_bytes(c.f, K);
    c.w = malloc(c.wrow * (size_t)nr);
    c.x = malloc(sizeof(float) * (size_t)(K * nt));
    c.xq = aligned_alloc(64, c.xrow * (size_t)nt);
    fill_weights(type, c.w, K, nr);
    for (int64_t i = 0; i < K * nt; i++)
        c.x[i] = rnd_unit() * (spikes && i % 7 == 0 ? 3.0f : 1.0f);
    for (int t = 0; t < nt; t++)
        kern_quantize_x(c.f, c.x + t * K, c.xq + t * c.xrow, K);
    return c;
}

static void kcase_free(kcase *c) {
    free(c->w);
    free(c->x);
    free(c->xq);
}

/* One (table, type, K, rows, tokens) case: y from the table's gemm, checked as described above. */
static void run_case(const kern_table *kt, uint32_t type, int64_t K, int nr, int nt) {
    kcase c = kcase_make(kt, type, K, nr, nt, 1);
    const kern_xfmt f = c.f;
    const size_t wrow = c.wrow, xrow = c.xrow;
    const uint8_t *w = c.w, *xq = c.xq;
    const float *x = c.x;
    float *y = malloc(sizeof(float) * (size_t)(nr * nt + 1));
    float *wd = malloc(sizeof(float) * (size_t)K);
    double *xs = malloc(sizeof(double) * (size_t)K);
    y[nr * nt] = 12345.0f; /* guard: the kernel must not write past ldy * nt */
    kt->gemm[type](K, w, wrow, nr, xq, xrow, nt, y, nr);
    CHECK(y[nr * nt] == 12345.0f, "%s %s: wrote past the output", kt->name, lmc_type_name(type));
    const double u = 1.0 / 16777216.0, gam = 2.0 * (double)(K + 16) * u;
    int bad = 0;
    for (int t = 0; t < nt && !bad; t++) {
        x_as_seen(f, xq + t * xrow, K, xs);
        for (int r = 0; r < nr && !bad; r++) {
            lmc_dequantize(type, w + r * wrow, wd, K);
            double exact = 0, mag = 0, qerr = 0, mag_f = 0;
            for (int64_t i = 0; i < K; i++) {
                exact += (double)wd[i] * xs[i];
                mag += fabs((double)wd[i] * xs[i]);
                qerr += fabs((double)wd[i]) * fabs((double)x[t * K + i] - xs[i]);
                mag_f += fabs((double)wd[i] * x[t * K + i]);
            }
            const double got = y[t * nr + r];
            const double ref = lmc_vec_dot_ref(type, w + r * wrow, x + t * K, K);
            const double tol1 = gam * mag + 1e-30, tol2 = qerr + gam * (mag + mag_f) + 1e-30;
            if (!(fabs(got - exact) <= tol1) || !(fabs(got - ref) <= tol2)) {
                bad = 1;
                if (g_bad_reported++ < 10)
                    fprintf(stderr,
                            "  %s %s K=%lld nr=%d nt=%d r=%d t=%d: got %.9g exact(quantized x) "
                            "%.9g (tol %.3g) ref %.9g (tol %.3g)\n",
                            kt->name, lmc_type_name(type), (long long)K, nr, nt, r, t, got, exact,
                            tol1, ref, tol2);
            }
        }
    }
    CHECK(!bad, "%s %s K=%lld nr=%d nt=%d", kt->name, lmc_type_name(type), (long long)K, nr, nt);
    kcase_free(&c);
    free(y);
    free(wd);
    free(xs);
}

/* A row's result must not depend on how the rows were split between calls (threads take ranges of
 * rows; the 16-row kernels pad partial groups): the same rows in pieces give the same bits. Tokens
 * split into two calls likewise, as long as both calls take the same path (prompt kernels start at
 * 4 tokens for the 8-bit types, for F16 past one token chunk: 40 = 20 + 20, and 2 = 1 + 1 for
 * decode). */
static void run_split_case(const kern_table *kt, uint32_t type, int64_t K, int nr, int nt) {
    kcase c = kcase_make(kt, type, K, nr, nt, 0);
    const size_t wrow = c.wrow, xrow = c.xrow;
    const uint8_t *w = c.w, *xq = c.xq;
    float *y = malloc(sizeof(float) * (size_t)(nr * nt)),
          *y2 = malloc(sizeof(float) * (size_t)(nr * nt));
    kt->gemm[type](K, w, wrow, nr, xq, xrow, nt, y, nr);
    const int cuts[] = {0, 3, 4, 20, 23, nr};
    for (int c = 0; c + 1 < (int)(sizeof cuts / sizeof cuts[0]); c++)
        kt->gemm[type](K, w + (size_t)cuts[c] * wrow, wrow, cuts[c + 1] - cuts[c], xq, xrow, nt,
                       y2 + cuts[c], nr);
    CHECK(memcmp(y, y2, sizeof(float) * (size_t)(nr * nt)) == 0,
          "%s %s K=%lld nr=%d nt=%d: row split changes bits", kt->name, lmc_type_name(type),
          (long long)K, nr, nt);
    const int t1 = nt / 2;
    kt->gemm[type](K, w, wrow, nr, xq, xrow, t1, y2, nr);
    kt->gemm[type](K, w, wrow, nr, xq + (size_t)t1 * xrow, xrow, nt - t1, y2 + (size_t)t1 * nr, nr);
    CHECK(memcmp(y, y2, sizeof(float) * (size_t)(nr * nt)) == 0,
          "%s %s K=%lld nr=%d nt=%d: token split changes bits", kt->name, lmc_type_name(type),
          (long long)K, nr, nt);
    kcase_free(&c);
    free(y);
    free(y2);
}

/* Activation formats: |q| <= 127, sums and 16-sums consistent, all-zero blocks give d = 0. */
static void test_quantize_x(void) {
    enum { K = 512 };
    float x[K];
    for (int i = 0; i < K; i++)
        x[i] = i < 256 ? 0.0f : rnd_unit() * 10.0f;
    uint8_t *q0 = aligned_alloc(64, kern_x_row_bytes(KX_Q8_0, K));
    uint8_t *qk = aligned_alloc(64, kern_x_row_bytes(KX_Q8_K, K));
    kern_quantize_x(KX_Q8_0, x, q0, K);
    kern_quantize_x(KX_Q8_K, x, qk, K);
    int ok = 1;
    const int8_t *q = (const int8_t *)q0;
    const int32_t *s = (const int32_t *)(q0 + K + (K / 32) * 4);
    for (int b = 0; b < K / 32; b++) {
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            sum += q[32 * b + i];
            if (q[32 * b + i] < -127) ok = 0;
        }
        if (sum != s[b]) ok = 0;
    }
    CHECK(ok, "Q8_0 activation sums");
    CHECK(((const float *)(q0 + K))[0] == 0.0f, "all-zero block has d = 0");
    const int16_t *bs = (const int16_t *)(qk + K + (K / 256) * 4);
    ok = 1;
    for (int g = 0; g < K / 16; g++) {
        int sum = 0;
        for (int i = 0; i < 16; i++)
            sum += ((const int8_t *)qk)[16 * g + i];
        if (sum != bs[g]) ok = 0;
    }
    CHECK(ok, "Q8_K activation 16-sums");
    CHECK(kern_x_row_bytes(KX_Q8_0, 33) == 0 && kern_x_row_bytes(KX_Q8_K, 32) == 0,
          "bad K refused");
    CHECK(kern_x_row_bytes(KX_F32, 3) % 64 == 0, "rows 64-byte multiples");
    free(q0);
    free(qk);
}

/* kern_quantize_x (SIMD where the CPU has AVX2) gives the bytes of the format's definition
 * (kernels.h): d = max|x| / 127 (Q8_0: rounded to f16), q = nearest-even(x * (127 / max|x|)), the
 * sums of the q; on random rows with zero blocks, spikes, ties and values of every magnitude. */
static void test_quantize_x_bytes(void) {
    enum { K = 2048 };
    float *x = malloc(sizeof(float) * K);
    uint8_t *got = aligned_alloc(64, kern_x_row_bytes(KX_Q8_0, K) + kern_x_row_bytes(KX_Q8_K, K));
    uint8_t *want = aligned_alloc(64, kern_x_row_bytes(KX_Q8_0, K) + kern_x_row_bytes(KX_Q8_K, K));
    int bad = 0;
    for (int rep = 0; rep < 20 && !bad; rep++) {
        for (int i = 0; i < K; i++) {
            const float scale = powf(2.0f, (float)(int)(rnd_u32() % 40) - 20.0f);
            x[i] = (i / 256 == rep % 8) ? 0.0f : rnd_unit() * scale;
            if (i % 97 == 5) x[i] = (float)(int)(rnd_u32() % 255) - 127.0f; /* ties */
            if (i % 61 == 0) x[i] = -x[i];
        }
        for (int fi = 0; fi < 2; fi++) {
            const kern_xfmt f = fi ? KX_Q8_K : KX_Q8_0;
            const int n = fi ? 256 : 32;
            const size_t bytes = kern_x_row_bytes(f, K);
            memset(want, 0, bytes);
            memset(got, 0, bytes);
            kern_quantize_x(f, x, got, K);
            int8_t *q = (int8_t *)want;
            float *d = (float *)(want + K);
            for (int b = 0; b < K / n; b++) {
                float amax = 0.0f;
                for (int i = 0; i < n; i++)
                    amax = fabsf(x[b * n + i]) > amax ? fabsf(x[b * n + i]) : amax;
                const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
                for (int i = 0; i < n; i++)
                    q[b * n + i] = (int8_t)nearbyintf(x[b * n + i] * id);
                d[b] = fi ? amax / 127.0f : lmc_f16_to_f32(lmc_f32_to_f16(amax / 127.0f));
            }
            for (int g = 0; g < K / (fi ? 16 : 32); g++) {
                int sum = 0;
                for (int i = 0; i < (fi ? 16 : 32); i++)
                    sum += q[g * (fi ? 16 : 32) + i];
                if (fi)
                    ((int16_t *)(want + K + (K / 256) * 4))[g] = (int16_t)sum;
                else
                    ((int32_t *)(want + K + (K / 32) * 4))[g] = sum;
            }
            const size_t used = fi ? K + (K / 256) * 4 + (K / 16) * 2 : K + (K / 32) * 8;
            if (memcmp(got, want, used) != 0) bad = 1;
        }
    }
    CHECK(!bad, "kern_quantize_x: the format's bytes (Q8_0 and Q8_K)");
    free(x);
    free(got);
    free(want);
}

/* kern_dequantize_row (the exact path's dequantizer, SIMD where the CPU has it) gives
 * lmc_dequantize's values bit for bit, for every type the kernels know, on random rows of several
 * lengths; for F16 and BF16 also on raw random bits (subnormals, infinities; NaNs need only stay
 * NaN). */
static int same_bits_or_nan(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) != 0 && !(isnan(a[i]) && isnan(b[i]))) return 0;
    return 1;
}

static void test_dequantize_row(void) {
    const uint64_t saved = g_rng; /* the gemm cases' random inputs unchanged */
    int n_xdot = 0;
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        const uint32_t type = k_types[ti];
        const int blk = lmc_type_get(type)->blck_size;
        const int64_t Ks[] = {blk == 1 ? 7 : blk, blk == 1 ? 301 : 3 * blk,
                              blk == 1 ? 2500 : 67 * blk};
        int ok = 1;
        for (int ki = 0; ki < 3; ki++) {
            const int64_t K = Ks[ki];
            const size_t row = lmc_row_size(type, K);
            uint8_t *w = malloc(row);
            float *a = malloc(sizeof(float) * (size_t)K), *b = malloc(sizeof(float) * (size_t)K);
            for (int raw = 0; raw < 2; raw++) {
                if (raw && type != LMC_TYPE_F16 && type != LMC_TYPE_BF16) continue;
                fill_weights(type, w, K, 1);
                if (raw)
                    for (size_t i = 0; i < row; i++)
                        w[i] = (uint8_t)rnd_u32();
                kern_dequantize_row(type, w, a, K);
                lmc_dequantize(type, w, b, K);
                ok &= same_bits_or_nan(a, b, K);
                /* the one-pass exact dot: the portable dot of the dequantized row, bit for bit */
                const kern_xdot_fn xdot = kern_exact_dot(type);
                if (xdot) {
                    float *x = malloc(sizeof(float) * (size_t)K);
                    for (int64_t i = 0; i < K; i++)
                        x[i] = rnd_unit();
                    const float got = xdot(w, x, K), want = kern_dot_f32_c(b, x, K);
                    ok &= memcmp(&got, &want, 4) == 0 || (isnan(got) && isnan(want));
                    n_xdot++;
                    free(x);
                }
            }
            free(w);
            free(a);
            free(b);
        }
        CHECK(ok, "kern_dequantize_row %s: the reference dequantizer's values",
              lmc_type_name(type));
    }
    printf("kern_exact_dot: %d rows compared\n", n_xdot);
    g_rng = saved;
}

/* A table's f32 dot and axpy on random vectors of every length up to 40 and a few long ones: the
 * dot within f32 rounding of the double-precision dot, axpy within two roundings per element.
 * Returns the dots of the last length, for comparing tables. */
static void test_f32_helpers(const kern_table *kt, float *dots) {
    const uint64_t saved =
        g_rng; /* own vectors, the same for every table; the gemm cases' unchanged */
    g_rng = 0x9e3779b97f4a7c15ull;
    const int64_t ns[] = {0,  1,  2,  3,  5,  7,  8,  9,  15,  16,
                          17, 23, 31, 32, 33, 40, 64, 67, 301, 2500};
    const int nn = (int)(sizeof ns / sizeof ns[0]);
    const double u = 1.0 / 16777216.0;
    float *a = malloc(sizeof(float) * 2500), *b = malloc(sizeof(float) * 2500),
          *y = malloc(sizeof(float) * 2501);
    int bad_dot = 0, bad_axpy = 0, bad_c = 0;
    for (int i = 0; i < nn; i++) {
        const int64_t n = ns[i];
        for (int rep = 0; rep < 4; rep++) {
            for (int64_t k = 0; k < n; k++) {
                a[k] = rnd_unit() * (k % 5 == 0 ? 8.0f : 1.0f);
                b[k] = rnd_unit();
                y[k] = rnd_unit();
            }
            double exact = 0, mag = 0;
            for (int64_t k = 0; k < n; k++) {
                exact += (double)a[k] * b[k];
                mag += fabs((double)a[k] * b[k]);
            }
            const float got = kt->dot_f32(a, b, n);
            const float pc = kern_dot_f32_c(a, b, n), pp = kern_dot_f32_portable(a, b, n);
            if (memcmp(&pc, &pp, 4) != 0) bad_c++;
            if (!(fabs(got - exact) <= 2.0 * (double)(n + 16) * u * mag)) bad_dot++;
            if (i == nn - 1) dots[rep] = got;
            const float alpha = rnd_unit() * 2.0f;
            double *want = malloc(sizeof(double) * (size_t)(n + 1));
            for (int64_t k = 0; k < n; k++)
                want[k] = (double)y[k] + (double)alpha * a[k];
            y[n] = 777.0f; /* guard */
            float *yb = malloc(sizeof(float) * (size_t)(n + 1));
            memcpy(yb, y, sizeof(float) * (size_t)n);
            kt->axpy_f32(y, alpha, a, n);
            for (int64_t k = 0; k < n; k++)
                if (!(fabs(y[k] - want[k]) <=
                      2.0 * u * (fabs((double)yb[k]) + fabs((double)alpha * a[k]))))
                    bad_axpy++;
            if (y[n] != 777.0f) bad_axpy++;
            free(want);
            free(yb);
        }
    }
    CHECK(bad_dot == 0, "%s dot_f32: %d results beyond f32 rounding", kt->name, bad_dot);
    CHECK(bad_c == 0, "kern_dot_f32_portable: %d results not the bits of kern_dot_f32_c", bad_c);
    CHECK(bad_axpy == 0, "%s axpy_f32: %d elements beyond f32 rounding (or written past n)",
          kt->name, bad_axpy);
    free(a);
    free(b);
    free(y);
    g_rng = saved;
}

/* The Q8_0 KV cache (kernels.h): kern_kv_quantize_q8_0 writes block_q8_0 by the definition (d =
 * max|x|/127 as a half, q = nearest-even(x * (127 / max|x|))), which lmc_dequantize reads back
 * (the cache's rows are Q8_0 rows); every table's att_dot equals the definition's integer block
 * dots with q quantized the same way, combined in f32 in the stated order (bit for bit: the integer
 * sums are exact and the f32 operations are the same), and its att_wsum equals the table's axpy_f32
 * over the dequantized rows (bit for bit: q * d is exact in f32). Head sizes 32..256, key counts
 * around the SIMD step of 8, rows several heads apart; blocks of zeros, spikes and ties. */
static void fill_cache_row(float *x, int64_t n, int rep) {
    for (int64_t i = 0; i < n; i++) {
        const float scale = powf(2.0f, (float)(int)(rnd_u32() % 12) - 6.0f);
        x[i] = rnd_unit() * scale;
        if (i / 32 == rep % 5) x[i] = 0.0f;                              /* a zero block */
        if (i % 41 == 7) x[i] = (float)(int)(rnd_u32() % 255) - 127.0f;  /* ties */
        if (i % 53 == 3) x[i] = 300.0f * (rnd_u32() % 2 ? 1.0f : -1.0f); /* spikes */
    }
}

static void test_kv_q8_0(const kern_table *kt) {
    enum { MAXN = 37, MAXHD = 256, NKV = 3 };
    const uint64_t saved = g_rng;              /* the gemm cases' random inputs unchanged */
    const size_t stride = (size_t)NKV * MAXHD; /* elements between rows: 3 KV heads */
    const size_t row = kern_kv_bytes(KV_Q8_0, stride);
    uint8_t *cache = malloc(row * MAXN);
    float *x = malloc(sizeof(float) * stride), *deq = malloc(sizeof(float) * stride * MAXN);
    float q[MAXHD], got[MAXN], want[MAXN], w[MAXN], out[MAXHD], out_ref[MAXHD];
    int bad_q = 0, bad_dot = 0, bad_wsum = 0;
    CHECK(kern_kv_bytes(KV_Q8_0, 64) == 68 && kern_kv_bytes(KV_F16, 64) == 128 &&
              kern_kv_bytes(KV_F32, 64) == 256,
          "kern_kv_bytes: 34 bytes per 32 q8_0 elements");
    CHECK(kt->att_dot[KV_Q8_0] && kt->att_wsum[KV_Q8_0], "%s has the q8_0 attention kernels",
          kt->name);
    if (!kt->att_dot[KV_Q8_0] || !kt->att_wsum[KV_Q8_0]) goto done;
    for (int t = 0; t < MAXN; t++) {
        fill_cache_row(x, (int64_t)stride, t);
        uint8_t *r = cache + (size_t)t * row;
        kern_kv_quantize_q8_0(x, r, (int64_t)stride);
        for (size_t b = 0; b < stride / 32; b++) { /* the definition */
            const block_q8_0 *blk = (const block_q8_0 *)(r + b * 34);
            float amax = 0.0f;
            for (int i = 0; i < 32; i++)
                amax = fabsf(x[32 * b + i]) > amax ? fabsf(x[32 * b + i]) : amax;
            const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
            if (blk->d != lmc_f32_to_f16(amax / 127.0f)) bad_q++;
            for (int i = 0; i < 32; i++)
                if (blk->qs[i] != (int8_t)nearbyintf(x[32 * b + i] * id)) bad_q++;
        }
        lmc_dequantize(LMC_TYPE_Q8_0, r, deq + (size_t)t * stride, (int64_t)stride);
    }
    const int64_t hds[] = {32, 64, 96, 128, 256};
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
        const int64_t hd = hds[hi];
        for (int n = 1; n <= MAXN; n += n < 18 ? 1 : 19) {
            const size_t off = (size_t)(n % NKV) * MAXHD; /* a KV head's slice of the rows */
            fill_cache_row(q, hd, n + 1);
            for (int i = 0; i < hd; i++)
                q[i] *= 0.01f;
            const float scale = 1.0f / sqrtf((float)hd);
            /* q quantized by the definition, then the block dots and their f32 combination */
            int8_t qq[MAXHD];
            float qd[MAXHD / 32];
            for (int64_t b = 0; b < hd / 32; b++) {
                float amax = 0.0f;
                for (int i = 0; i < 32; i++)
                    amax = fabsf(q[32 * b + i]) > amax ? fabsf(q[32 * b + i]) : amax;
                const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
                qd[b] = lmc_f16_to_f32(lmc_f32_to_f16(amax / 127.0f));
                for (int i = 0; i < 32; i++)
                    qq[32 * b + i] = (int8_t)nearbyintf(q[32 * b + i] * id);
            }
            for (int t = 0; t < n; t++) {
                const uint8_t *kr = cache + (size_t)t * row + off / 32 * 34;
                float sum = 0.0f;
                for (int64_t b = 0; b < hd / 32; b++) {
                    const block_q8_0 *blk = (const block_q8_0 *)(kr + b * 34);
                    int64_t is = 0;
                    for (int i = 0; i < 32; i++)
                        is += (int64_t)qq[32 * b + i] * blk->qs[i];
                    const float dd = qd[b] * lmc_f16_to_f32(blk->d);
                    const float p = (float)is * dd;
                    sum = sum + p;
                }
                want[t] = sum * scale;
            }
            memset(got, 0xff, sizeof got);
            kt->att_dot[KV_Q8_0](q, cache + off / 32 * 34, stride, n, hd, scale, got);
            if (memcmp(got, want, sizeof(float) * (size_t)n) != 0) bad_dot++;
            /* the weighted sum over the same rows */
            for (int t = 0; t < n; t++)
                w[t] = rnd_unit();
            for (int64_t i = 0; i < hd; i++)
                out[i] = out_ref[i] = rnd_unit();
            for (int t = 0; t < n; t++)
                kt->axpy_f32(out_ref, w[t], deq + (size_t)t * stride + off, hd);
            kt->att_wsum[KV_Q8_0](out, w, cache + off / 32 * 34, stride, n, hd);
            if (memcmp(out, out_ref, sizeof(float) * (size_t)hd) != 0) bad_wsum++;
        }
    }
    CHECK(!bad_q, "kern_kv_quantize_q8_0: the definition's bytes (%d differ)", bad_q);
    CHECK(!bad_dot, "%s att_dot q8_0 = integer block dots of the quantized q (%d cases differ)",
          kt->name, bad_dot);
    CHECK(!bad_wsum, "%s att_wsum q8_0 = axpy_f32 over the dequantized values (%d cases differ)",
          kt->name, bad_wsum);
done:
    free(cache);
    free(x);
    free(deq);
    g_rng = saved;
}

int main(void) {
    test_quantize_x();
    test_quantize_x_bytes();
    test_dequantize_row();
    const kern_table *best = kern_best();
    CHECK(best != NULL && kern_named(best->name) == best, "kern_best() is one of the named tables");
    const char *env = getenv("LMC_KERNELS");
    if (env && kern_named(env))
        CHECK(best == kern_named(env), "LMC_KERNELS=%s chooses that table", env);
    const kern_table *ref = kern_named("ref");
    CHECK(ref != NULL && kern_named("no-such-table") == NULL,
          "ref table present, unknown names refused");
    if (ref) {
        int any = 0;
        for (int t = 0; t < LMC_TYPE_COUNT; t++)
            any |= ref->gemm[t] != NULL;
        CHECK(!any, "ref has no gemm: every type takes the exact path");
        CHECK(ref->dot_f32 == kern_dot_f32_portable && ref->axpy_f32 == kern_axpy_f32_portable,
              "ref: portable f32 helpers");
        float d[4];
        test_f32_helpers(ref, d);
        test_kv_q8_0(ref);
    }
    /* avx2np / avx512np: the same kernels without software prefetch; zen4: avx512 with avx2np's
     * decode for some types; zen3: avx2 with larger tiles for some types (kernels.h) */
    const char *names[] = {"scalar", "avx2", "avx512", "avx2np", "avx512np", "zen4", "zen3"};
    enum { NT = sizeof names / sizeof names[0] };
    float dots[NT][4];
    int have[NT] = {0};
    for (int n = 0; n < NT; n++) {
        const kern_table *kt = kern_named(names[n]);
        if (!kt) {
            printf("kernels %s: not supported by this CPU, skipped\n", names[n]);
            continue;
        }
        printf("kernels %s\n", kt->name);
        CHECK(kt->dot_f32 && kt->axpy_f32, "%s has the f32 helpers", kt->name);
        if (kt->dot_f32 && kt->axpy_f32) {
            test_f32_helpers(kt, dots[n]);
            have[n] = 1;
        }
        test_kv_q8_0(kt);
        for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
            const uint32_t type = k_types[ti];
            CHECK(kt->gemm[type] != NULL, "%s has %s", kt->name, lmc_type_name(type));
            if (!kt->gemm[type]) continue;
            const int blk = lmc_type_get(type)->blck_size;
            int64_t Ks[3];
            if (blk == 1) {
                Ks[0] = 7;
                Ks[1] = 40;
                Ks[2] = 301;
            } else if (blk == 32) {
                Ks[0] = 32;
                Ks[1] = 96;
                Ks[2] = 544;
            } else {
                Ks[0] = 256;
                Ks[1] = 512;
                Ks[2] = 1280;
            }
            for (int ki = 0; ki < 3; ki++) {
                for (int nt = 1; nt <= 17; nt++)
                    run_case(kt, type, Ks[ki], 9, nt);
                for (int nr = 1; nr <= 6; nr++)
                    run_case(kt, type, Ks[ki], nr, 5);
                /* wide tiles (16 rows) with a remainder */
                for (int nt = 1; nt <= 17; nt += 4)
                    run_case(kt, type, Ks[ki], 35, nt);
            }
            run_case(kt, type, Ks[0], 5, 70); /* more tokens than one chunk */
            /* long rows: K in several segments of the 16-row K-quant kernels (TK_SEG super-blocks)
             */
            if (blk == 256) run_case(kt, type, 256 * 27, 19, 21);
            /* 32-blocks: block counts with every remainder of 4 (the Q4_0 decode kernel's groups)
             */
            if (blk == 32) {
                run_case(kt, type, 32 * 6, 9, 3);
                run_case(kt, type, 32 * 8, 17, 1);
                run_case(kt, type, 32 * 67, 11, 2);
                run_case(kt, type, 32 * 131, 19,
                         21); /* the Q4_0 prompt kernel's K segments (64 blocks) */
            }
            /* float rows longer than the F16 prompt kernel's K segment (1024), with a ragged tail
             */
            if (blk == 1) {
                run_case(kt, type, 2500, 13, 21);
                run_split_case(kt, type, 2500, 37, 40);
            }
            run_split_case(kt, type, Ks[2], 37, 40);
            run_split_case(kt, type, Ks[2], 37, 2); /* decode kernels */
        }
    }
    /* the x86 tables share one f32 dot (kernels_x86.h): the same bits */
    for (int n = 2; n < NT; n++)
        if (have[1] && have[n])
            CHECK(memcmp(dots[1], dots[n], sizeof dots[1]) == 0,
                  "avx2 and %s dot_f32 give the same bits", names[n]);
    return t_done();
}
