/* test_cuda_ops.c — every CUDA op against an independent CPU reference on random inputs of several
 * shapes: mat-vec and GEMM per weight type (reference: lmc_dequantize, sums in double), dequantize,
 * RMSNorm, RoPE, SwiGLU, the family epilogues of the mat-vec (GeGLU, soft-cap), split-context
 * attention. Skips (77) without the CUDA build or without a GPU. */
#include "testutil.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/forward.h"
#include "quant.h"
#include "util.h"
#ifdef LMC_WITH_CUDA
#include "cuda/cuda_backend.h"
#include "cuda/cuda_tuning.h"
#endif

#ifndef LMC_WITH_CUDA
int main(void) {
    printf("SKIP: built without the CUDA backend\n");
    return 77;
}
#else

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float rnd_f(void) {
    return (float)((rnd_u32() & 0xFFFFFF) / 16777216.0 * 2.0 - 1.0);
} /* [-1, 1) */

/* Random valid weights: random quant bits with small finite f16 scales, or random floats. */
static void *random_weights(uint32_t type, int64_t rows, int64_t cols) {
    const lmc_type_traits *tr = lmc_type_get(type);
    const uint64_t nbytes = lmc_row_size(type, cols) * rows;
    uint8_t *w = malloc(nbytes);
    if (type == LMC_TYPE_F32) {
        for (int64_t i = 0; i < rows * cols; i++)
            ((float *)w)[i] = rnd_f();
    } else if (type == LMC_TYPE_F16) {
        for (int64_t i = 0; i < rows * cols; i++)
            ((uint16_t *)w)[i] = lmc_f32_to_f16(rnd_f());
    } else if (type == LMC_TYPE_BF16) {
        for (int64_t i = 0; i < rows * cols; i++) {
            float f = rnd_f();
            uint32_t b;
            memcpy(&b, &f, 4);
            ((uint16_t *)w)[i] = (uint16_t)(b >> 16);
        }
    } else {
        for (uint64_t i = 0; i < nbytes; i++)
            w[i] = (uint8_t)rnd_u32();
        int off[2];
        const int n = t_f16_fields(type, off);
        const uint64_t nb = nbytes / tr->type_size;
        for (uint64_t b = 0; b < nb; b++)
            for (int k = 0; k < n; k++) {
                uint16_t h = lmc_f32_to_f16(rnd_f() * 0.05f);
                memcpy(w + b * tr->type_size + off[k], &h, 2);
            }
    }
    return w;
}

static float f16_round(float v) {
    return lmc_f16_to_f32(lmc_f32_to_f16(v));
}

static int argmax_d(const double *a, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (a[i] > a[b]) b = i;
    return (int)b;
}

/* The small-batch mat-vec (several sequences' decode tokens): for every batch size 1..16, each row
 * of Y equals the float64 product of the dequantized weights with its X row (f32 all the way). */
static void test_matvec_batch(uint32_t type, int64_t rows, int64_t cols) {
    const char *name = lmc_type_name(type);
    enum { NB = 16 };
    void *w = random_weights(type, rows, cols);
    float *deq = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * cols * NB),
          *y = malloc(sizeof(float) * rows * NB);
    double *ref = malloc(sizeof(double) * rows * NB);
    for (int64_t i = 0; i < cols * NB; i++)
        x[i] = rnd_f();
    lmc_dequantize(type, w, deq, rows * cols);
    for (int b = 0; b < NB; b++)
        for (int64_t r = 0; r < rows; r++) {
            double s = 0;
            for (int64_t i = 0; i < cols; i++)
                s += (double)deq[r * cols + i] * x[b * cols + i];
            ref[b * rows + r] = s;
        }
    double worst = 0;
    for (int nb = 1; nb <= NB; nb++) {
        for (int64_t i = 0; i < rows * NB; i++)
            y[i] = NAN;
        lmc_status st = lmc_cuda_op_matvec_batch(type, w, rows, cols, x, nb, 0, y);
        CHECK(st == LMC_OK, "%s matvec_batch x%d: %s", name, nb, lmc_last_error());
        if (st != LMC_OK) break;
        for (int b = 0; b < nb; b++) {
            const double e = t_nmse(y + b * rows, ref + b * rows, rows);
            worst = e > worst ? e : worst;
            CHECK(e <= 1e-6, "%s matvec_batch %lldx%lld x%d row %d NMSE %g", name, (long long)rows,
                  (long long)cols, nb, b, e);
            CHECK(t_argmax(y + b * rows, rows) == argmax_d(ref + b * rows, rows),
                  "%s matvec_batch x%d row %d argmax", name, nb, b);
        }
        CHECK(isnan(y[nb * rows]) || nb == NB, "%s matvec_batch x%d wrote past its rows", name, nb);
    }
    printf("%-5s %5lldx%-5lld matvec_batch x1..16 worst NMSE %.3g\n", name, (long long)rows,
           (long long)cols, worst);
    free(w);
    free(deq);
    free(x);
    free(y);
    free(ref);
}

/* The small-batch mat-vec on 8-bit activations (LMC_CUDA_BATCH_Q8): each row equals the one-row
 * 8-bit mat-vec of that row (the same quantized activations; only the summation order differs). */
static void test_matvec_batch_q8(uint32_t type, int64_t rows, int64_t cols) {
    const char *name = lmc_type_name(type);
    enum { NB = 16 };
    void *w = random_weights(type, rows, cols);
    float *x = malloc(sizeof(float) * cols * NB), *y = malloc(sizeof(float) * rows * NB),
          *one = malloc(sizeof(float) * rows * NB);
    double *ref = malloc(sizeof(double) * rows);
    for (int64_t i = 0; i < cols * NB; i++)
        x[i] = rnd_f();
    for (int b = 0; b < NB; b++) {
        lmc_status st = lmc_cuda_op_matvec_q8(type, w, rows, cols, x + b * cols, one + b * rows);
        CHECK(st == LMC_OK, "%s matvec_q8: %s", name, lmc_last_error());
    }
    double worst = 0;
    const int nbs[] = {1, 2, 3, 4, 5, 8, 9, 16};
    for (size_t k = 0; k < sizeof nbs / sizeof nbs[0]; k++) {
        const int nb = nbs[k];
        lmc_status st = lmc_cuda_op_matvec_batch(type, w, rows, cols, x, nb, 1, y);
        CHECK(st == LMC_OK, "%s matvec_batch q8 x%d: %s", name, nb, lmc_last_error());
        if (st != LMC_OK) break;
        for (int b = 0; b < nb; b++) {
            for (int64_t r = 0; r < rows; r++)
                ref[r] = one[b * rows + r];
            const double e = t_nmse(y + b * rows, ref, rows);
            worst = e > worst ? e : worst;
            CHECK(e <= 1e-9, "%s matvec_batch q8 %lldx%lld x%d row %d NMSE %g vs one-row q8", name,
                  (long long)rows, (long long)cols, nb, b, e);
        }
    }
    printf("%-5s %5lldx%-5lld matvec_batch q8 worst NMSE vs one-row q8 %.3g\n", name,
           (long long)rows, (long long)cols, worst);
    free(w);
    free(x);
    free(y);
    free(one);
    free(ref);
}

/* v rounded to the nearest f16 (ties to even), from double in one rounding (subnormals too). */
static double rn16(double v) {
    if (v == 0) return v;
    int e;
    frexp(v, &e);
    const double quantum = ldexp(1.0, e - 11 > -24 ? e - 11 : -24);
    return nearbyint(v / quantum) * quantum;
}

/* The weights as the tensor-core product's f16-pair decoders (deqh) give them:
 * Q4_0, Q8_0 the dequantized values rounded to f16 (their product code * d is one f16 rounding of
 * the exact value); Q4_K code * f16(d sc) - f16(dmin m) and Q6_K (code - 32) * f16(d sc), one f16
 * rounding each, the scale products exact in f32 as on the device. */
static void dequant_h2(uint32_t type, const void *w, float *out, int64_t n) {
    const uint8_t *b = w;
    if (type == LMC_TYPE_Q4_K) {
        for (int64_t blk = 0; blk < n / 256; blk++, b += 144) {
            const float d = lmc_f16_to_f32((uint16_t)(b[0] | b[1] << 8)),
                        dmin = lmc_f16_to_f32((uint16_t)(b[2] | b[3] << 8));
            for (int j = 0; j < 8; j++) {
                int sc, m;
                lmc_k_scale_min(b + 4, j, &sc, &m);
                const double dh = rn16(d * (float)sc), mh = rn16(dmin * (float)m);
                for (int l = 0; l < 32; l++) {
                    const int q = (b[16 + 32 * (j / 2) + l] >> (4 * (j & 1))) & 0xF;
                    out[blk * 256 + 32 * j + l] = (float)rn16(q * dh - mh);
                }
            }
        }
    } else if (type == LMC_TYPE_Q6_K) {
        for (int64_t blk = 0; blk < n / 256; blk++, b += 210) {
            const uint8_t *ql = b, *qh = b + 128;
            const int8_t *sc = (const int8_t *)(b + 192);
            const float d = lmc_f16_to_f32((uint16_t)(b[208] | b[209] << 8));
            float *y = out + blk * 256;
            for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128)
                for (int l = 0; l < 32; l++) {
                    const int is = l / 16;
                    const int q[4] = {(ql[l] & 0xF) | ((qh[l] & 3) << 4),
                                      (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4),
                                      (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                                      (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)};
                    for (int k = 0; k < 4; k++)
                        y[l + 32 * k] = (float)rn16((q[k] - 32) * rn16(d * (float)sc[is + 2 * k]));
                }
        }
    } else {
        lmc_dequantize(type, w, out, n);
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)rn16(out[i]);
    }
}

/* The small-batch tensor-core product (the several-sequence decode step for 2..64 tokens): for
 * token counts 1..64, K splits none / 3 / automatic and both store and add, each token's row equals
 * the float64 product of the weights its decoders give (dequant_h2) with the f16-rounded
 * activations (exact f16 products; only the f32 summation order differs; argmax equal) and the
 * float64 reference of the exact weights within the GEMM tolerance. */
static void test_matmul_mma(uint32_t type, int64_t rows, int64_t cols) {
    const char *name = lmc_type_name(type);
    enum { NT = 64 };
    void *w = random_weights(type, rows, cols);
    float *deq = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * cols * NT);
    float *hp = malloc(sizeof(float) * rows * NT), *y = malloc(sizeof(float) * rows * NT),
          *y0 = malloc(sizeof(float) * rows * NT);
    double *ref = malloc(sizeof(double) * rows), *refg = malloc(sizeof(double) * rows),
           *prod = malloc(sizeof(double) * rows * NT);
    for (int64_t i = 0; i < cols * NT; i++)
        x[i] = rnd_f();
    lmc_dequantize(type, w, deq, rows * cols);
    for (int b = 0; b < NT; b++)
        for (int64_t r = 0; r < rows; r++) {
            double s = 0;
            for (int64_t i = 0; i < cols; i++)
                s += (double)deq[r * cols + i] * x[b * cols + i];
            prod[b * rows + r] = s;
        }
    dequant_h2(type, w, deq, rows * cols);
    for (int b = 0; b < NT; b++)
        for (int64_t r = 0; r < rows; r++) {
            double sh = 0;
            for (int64_t i = 0; i < cols; i++)
                sh += (double)deq[r * cols + i] * rn16(x[b * cols + i]);
            hp[b * rows + r] = (float)sh;
        }
    lmc_status st = LMC_OK;
    double worst_g = 0, worst_r = 0;
    const int ns[] = {1, 2, 5, 8, 9, 16, 17, 31, 33, 64};
    const int splits[] = {1, 3, 0};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int sp = 0; sp < 3; sp++)
            for (int add = 0; add < 2; add++) {
                const int n = ns[k];
                for (int64_t i = 0; i < rows * NT; i++)
                    y[i] = y0[i] = add ? rnd_f() : NAN;
                st = lmc_cuda_op_matmul_mma(type, w, rows, cols, x, n, splits[sp], add, y);
                CHECK(st == LMC_OK, "%s matmul_mma x%d: %s", name, n, lmc_last_error());
                if (st != LMC_OK) goto out;
                for (int b = 0; b < n; b++) {
                    for (int64_t r = 0; r < rows; r++) {
                        ref[r] = prod[b * rows + r] + (add ? y0[b * rows + r] : 0.0);
                        refg[r] = (double)hp[b * rows + r] + (add ? y0[b * rows + r] : 0.0);
                    }
                    const double eg = t_nmse(y + b * rows, refg, rows),
                                 er = t_nmse(y + b * rows, ref, rows);
                    worst_g = eg > worst_g ? eg : worst_g;
                    worst_r = er > worst_r ? er : worst_r;
                    CHECK(eg <= 1e-9 && er <= 1e-4,
                          "%s matmul_mma %lldx%lld x%d split %d add %d token %d NMSE %g vs "
                          "f16-pair reference, %g vs reference",
                          name, (long long)rows, (long long)cols, n, splits[sp], add, b, eg, er);
                    CHECK(t_argmax(y + b * rows, rows) == argmax_d(refg, rows),
                          "%s matmul_mma x%d token %d argmax vs f16-pair reference", name, n, b);
                }
                for (int64_t i = (int64_t)n * rows; i < (int64_t)NT * rows; i++)
                    if (!(y[i] == y0[i] || (isnan(y[i]) && isnan(y0[i])))) {
                        CHECK(0, "%s matmul_mma x%d wrote past its tokens", name, n);
                        break;
                    }
            }
    printf(
        "%-5s %5lldx%-5lld matmul_mma x1..64 worst NMSE vs f16-pair reference %.3g, vs reference "
        "%.3g\n",
        name, (long long)rows, (long long)cols, worst_g, worst_r);
out:
    free(w);
    free(deq);
    free(x);
    free(hp);
    free(y);
    free(y0);
    free(ref);
    free(refg);
    free(prod);
}

static void test_type(uint32_t type, int64_t rows, int64_t cols) {
    const char *name = lmc_type_name(type);
    void *w = random_weights(type, rows, cols);
    float *deq = malloc(sizeof(float) * rows * cols), *gdeq = malloc(sizeof(float) * rows * cols);
    const int n_tok = 20;
    float *x = malloc(sizeof(float) * cols * n_tok), *y = malloc(sizeof(float) * rows * n_tok);
    double *ref = malloc(sizeof(double) * rows * n_tok),
           *dref = malloc(sizeof(double) * rows * cols),
           *refh = malloc(sizeof(double) * rows * n_tok);
    for (int64_t i = 0; i < cols * n_tok; i++)
        x[i] = rnd_f();
    lmc_dequantize(type, w, deq, rows * cols);
    /* ref over the f32 operands; refh over the GEMM's own, weights and activations rounded to f16
     * (round to nearest even) */
    float *deqh = malloc(sizeof(float) * rows * cols), *xh = malloc(sizeof(float) * cols * n_tok);
    for (int64_t i = 0; i < rows * cols; i++)
        deqh[i] = f16_round(deq[i]);
    for (int64_t i = 0; i < cols * n_tok; i++)
        xh[i] = f16_round(x[i]);
    for (int t = 0; t < n_tok; t++)
        for (int64_t r = 0; r < rows; r++) {
            double s = 0, sh = 0;
            for (int64_t i = 0; i < cols; i++) {
                s += (double)deq[r * cols + i] * x[t * cols + i];
                sh += (double)deqh[r * cols + i] * xh[t * cols + i];
            }
            ref[t * rows + r] = s;
            refh[t * rows + r] = sh;
        }
    free(deqh);
    free(xh);

    /* dequantize */
    lmc_status st = lmc_cuda_op_dequant(type, w, rows, cols, gdeq);
    CHECK(st == LMC_OK, "%s dequant: %s", name, lmc_last_error());
    for (int64_t i = 0; i < rows * cols; i++)
        dref[i] = deq[i];
    double e = t_nmse(gdeq, dref, rows * cols);
    CHECK(e <= 1e-12, "%s dequant %lldx%lld NMSE %g", name, (long long)rows, (long long)cols, e);

    /* mat-vec (the decode path), f32 all the way */
    for (int i = 0; i < (int)rows; i++)
        y[i] = NAN;
    st = lmc_cuda_op_matvec(type, w, rows, cols, x, y);
    CHECK(st == LMC_OK, "%s matvec: %s", name, lmc_last_error());
    e = t_nmse(y, ref, rows);
    CHECK(e <= 1e-6, "%s matvec %lldx%lld NMSE %g", name, (long long)rows, (long long)cols, e);
    CHECK(t_argmax(y, rows) == argmax_d(ref, rows), "%s matvec argmax", name);

    /* GEMM (the prompt path): f16 operands, f32 accumulation */
    for (int64_t i = 0; i < rows * n_tok; i++)
        y[i] = NAN;
    st = lmc_cuda_op_matmul(type, w, rows, cols, x, n_tok, y);
    CHECK(st == LMC_OK, "%s matmul: %s", name, lmc_last_error());
    e = t_nmse(y, ref, rows * n_tok);
    CHECK(e <= 1e-4, "%s matmul %lldx%lld x %d NMSE %g", name, (long long)rows, (long long)cols,
          n_tok, e);
    /* against the f16-operand reference only f32 accumulation differs: tight, and its argmax is
     * the kernel's (the f32 reference's argmax may differ where two rows are within the rounding)
     */
    e = t_nmse(y, refh, rows * n_tok);
    CHECK(e <= 1e-9, "%s matmul %lldx%lld x %d NMSE vs f16 operands %g", name, (long long)rows,
          (long long)cols, n_tok, e);
    for (int t = 0; t < n_tok; t++)
        CHECK(t_argmax(y + t * rows, rows) == argmax_d(refh + t * rows, rows),
              "%s matmul argmax token %d", name, t);
    printf("%-5s %5lldx%-5lld dequant ok, matvec/matmul ok\n", name, (long long)rows,
           (long long)cols);

    free(w);
    free(deq);
    free(gdeq);
    free(x);
    free(y);
    free(ref);
    free(dref);
    free(refh);
}

static void test_rmsnorm(int n) {
    float *x = malloc(4 * n), *w = malloc(4 * n), *y = malloc(4 * n);
    double *ref = malloc(8 * n), ss = 0;
    for (int i = 0; i < n; i++) {
        x[i] = rnd_f() * 3;
        w[i] = rnd_f();
        ss += (double)x[i] * x[i];
    }
    const float eps = 1e-5f;
    const double sc = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        ref[i] = x[i] * sc * w[i];
    lmc_status st = lmc_cuda_op_rmsnorm(x, w, n, eps, y);
    CHECK(st == LMC_OK, "rmsnorm: %s", lmc_last_error());
    double e = t_nmse(y, ref, n);
    CHECK(e <= 1e-6, "rmsnorm n=%d NMSE %g", n, e);
    free(x);
    free(w);
    free(y);
    free(ref);
}

static void test_rope(int n_head, int hd, int n_rot, int pos) {
    const int n = n_head * hd;
    float *x = malloc(4 * n);
    double *ref = malloc(8 * n);
    for (int i = 0; i < n; i++) {
        x[i] = rnd_f();
        ref[i] = x[i];
    }
    const double base = 10000.0;
    for (int h = 0; h < n_head; h++)
        for (int i = 0; i < n_rot / 2; i++) {
            double th = pos * pow(base, -2.0 * i / n_rot);
            double a = ref[h * hd + 2 * i], b = ref[h * hd + 2 * i + 1];
            ref[h * hd + 2 * i] = a * cos(th) - b * sin(th);
            ref[h * hd + 2 * i + 1] = a * sin(th) + b * cos(th);
        }
    lmc_status st = lmc_cuda_op_rope(x, n_head, hd, n_rot, pos, (float)base);
    CHECK(st == LMC_OK, "rope: %s", lmc_last_error());
    double e = t_nmse(x, ref, n);
    CHECK(e <= 1e-6, "rope heads %d hd %d rot %d pos %d NMSE %g", n_head, hd, n_rot, pos, e);
    free(x);
    free(ref);
}

static void test_swiglu(int n) {
    float *g = malloc(4 * n), *u = malloc(4 * n), *y = malloc(4 * n);
    double *ref = malloc(8 * n);
    for (int i = 0; i < n; i++) {
        g[i] = rnd_f() * 6;
        u[i] = rnd_f() * 2;
        ref[i] = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
    }
    lmc_status st = lmc_cuda_op_swiglu(g, u, n, y);
    CHECK(st == LMC_OK, "swiglu: %s", lmc_last_error());
    double e = t_nmse(y, ref, n);
    CHECK(e <= 1e-6, "swiglu n=%d NMSE %g", n, e);
    free(g);
    free(u);
    free(y);
    free(ref);
}

/* Double-precision attention of one query row (n_head heads) over keys 0..n_keys-1. */
static void ref_attention(const float *q, const float *k, const float *v, int n_head, int n_head_kv,
                          int hd, int n_keys, double *ref, double *s) {
    const int kv_dim = n_head_kv * hd;
    for (int h = 0; h < n_head; h++) {
        const int kh = h / (n_head / n_head_kv);
        double m = -1e300, l = 0;
        for (int j = 0; j < n_keys; j++) {
            double d = 0;
            for (int i = 0; i < hd; i++)
                d += (double)q[h * hd + i] * k[(size_t)j * kv_dim + kh * hd + i];
            s[j] = d / sqrt((double)hd);
            if (s[j] > m) m = s[j];
        }
        for (int j = 0; j < n_keys; j++) {
            s[j] = exp(s[j] - m);
            l += s[j];
        }
        for (int i = 0; i < hd; i++) {
            double o = 0;
            for (int j = 0; j < n_keys; j++)
                o += s[j] * v[(size_t)j * kv_dim + kh * hd + i];
            ref[h * hd + i] = o / l;
        }
    }
}

static void test_attention(int n_head, int n_head_kv, int hd, int n_kv) {
    const int kv_dim = n_head_kv * hd;
    float *q = malloc(4 * n_head * hd), *k = malloc(4 * (size_t)n_kv * kv_dim),
          *v = malloc(4 * (size_t)n_kv * kv_dim);
    float *y = malloc(4 * n_head * hd);
    double *ref = malloc(8 * n_head * hd), *s = malloc(8 * (size_t)n_kv);
    for (int i = 0; i < n_head * hd; i++)
        q[i] = rnd_f() * 2;
    for (size_t i = 0; i < (size_t)n_kv * kv_dim; i++) {
        k[i] = rnd_f() * 2;
        v[i] = rnd_f();
    }
    ref_attention(q, k, v, n_head, n_head_kv, hd, n_kv, ref, s);
    lmc_status st = lmc_cuda_op_attention(q, k, v, n_head, n_head_kv, hd, n_kv, y);
    CHECK(st == LMC_OK, "attention: %s", lmc_last_error());
    double e = t_nmse(y, ref, n_head * hd);
    CHECK(e <= 1e-6, "attention heads %d/%d hd %d n_kv %d NMSE %g", n_head, n_head_kv, hd, n_kv, e);
    free(q);
    free(k);
    free(v);
    free(y);
    free(ref);
    free(s);
}

/* The several-sequence step's attention: tokens over their own cache rows, of one key to many
 * splits of CUDA_ATT_CHUNK (128) keys (exactly one split, one key past it, ten), and a skipped
 * token whose output row stays as it was; split 0: one block over each token's keys. */
static void test_attention_rows(int n_head, int n_head_kv, int hd, int split) {
    enum { NR = 1200, NTOK = 8 };
    const int32_t kv0[NTOK] = {0, 5, 200, 400, 0, -1, 700, 1199};
    const int32_t kvrow[NTOK] = {0, 104, 327, 528, 1199, 0, 999, 1199};
    const int kv_dim = n_head_kv * hd, q_dim = n_head * hd;
    float *q = malloc(4 * (size_t)NTOK * q_dim), *k = malloc(4 * (size_t)NR * kv_dim);
    float *v = malloc(4 * (size_t)NR * kv_dim), *y = malloc(4 * (size_t)NTOK * q_dim);
    double *ref = malloc(8 * (size_t)q_dim), *s = malloc(8 * (size_t)NR);
    for (size_t i = 0; i < (size_t)NTOK * q_dim; i++) {
        q[i] = rnd_f() * 2;
        y[i] = 7.f;
    }
    for (size_t i = 0; i < (size_t)NR * kv_dim; i++) {
        k[i] = rnd_f() * 2;
        v[i] = rnd_f();
    }
    lmc_status st =
        lmc_cuda_op_attention_rows(q, k, v, n_head, n_head_kv, hd, NR, NTOK, kv0, kvrow, split, y);
    CHECK(st == LMC_OK, "attention_rows: %s", lmc_last_error());
    double worst = 0;
    for (int t = 0; st == LMC_OK && t < NTOK; t++) {
        const float *yt = y + (size_t)t * q_dim;
        if (kv0[t] < 0) {
            int same = 1;
            for (int i = 0; i < q_dim; i++)
                same &= yt[i] == 7.f;
            CHECK(same, "attention_rows wrote the skipped token %d", t);
            continue;
        }
        ref_attention(q + (size_t)t * q_dim, k + (size_t)kv0[t] * kv_dim,
                      v + (size_t)kv0[t] * kv_dim, n_head, n_head_kv, hd, kvrow[t] - kv0[t] + 1,
                      ref, s);
        const double e = t_nmse(yt, ref, q_dim);
        worst = e > worst ? e : worst;
        CHECK(e <= 1e-6, "attention_rows heads %d/%d hd %d split %d token %d (rows %d..%d) NMSE %g",
              n_head, n_head_kv, hd, split, t, kv0[t], kvrow[t], e);
    }
    printf("attention_rows heads %d/%d hd %d split %d: worst NMSE %.3g\n", n_head, n_head_kv, hd,
           split, worst);
    free(q);
    free(k);
    free(v);
    free(y);
    free(ref);
    free(s);
}

/* Prompt attention through the GEMM path (TF32 tensor cores, so the f16-class bound 1e-4): n_tok
 * queries after pos0 cached positions, each seeing the keys up to its own; chunk_rows > 0 shrinks
 * the score scratch to that many query rows per pass. */
static void test_attention_prompt(int n_head, int n_head_kv, int hd, int pos0, int n_tok,
                                  int chunk_rows) {
    const int kv_dim = n_head_kv * hd, q_dim = n_head * hd, n_kv = pos0 + n_tok;
    float *q = malloc(4 * (size_t)n_tok * q_dim), *k = malloc(4 * (size_t)n_kv * kv_dim);
    float *v = malloc(4 * (size_t)n_kv * kv_dim), *y = malloc(4 * (size_t)n_tok * q_dim);
    double *ref = malloc(8 * (size_t)n_tok * q_dim), *s = malloc(8 * (size_t)n_kv);
    for (size_t i = 0; i < (size_t)n_tok * q_dim; i++)
        q[i] = rnd_f() * 2;
    for (size_t i = 0; i < (size_t)n_kv * kv_dim; i++) {
        k[i] = rnd_f() * 2;
        v[i] = rnd_f();
    }
    for (int t = 0; t < n_tok; t++)
        ref_attention(q + (size_t)t * q_dim, k, v, n_head, n_head_kv, hd, pos0 + t + 1,
                      ref + (size_t)t * q_dim, s);
    const int64_t s_floats = (int64_t)n_head * n_kv * (chunk_rows > 0 ? chunk_rows : n_tok);
    int used = 0;
    lmc_status st = lmc_cuda_op_attention_prompt(q, k, v, n_head, n_head_kv, hd, pos0, n_tok,
                                                 s_floats, y, &used);
    CHECK(st == LMC_OK && used, "attention_prompt: %s", lmc_last_error());
    const double e = t_nmse(y, ref, (int64_t)n_tok * q_dim);
    CHECK(e <= 1e-4, "attention_prompt heads %d/%d hd %d pos0 %d n_tok %d chunk %d NMSE %g", n_head,
          n_head_kv, hd, pos0, n_tok, chunk_rows, e);
    printf("attention_prompt heads %d/%d hd %d pos0 %d n_tok %d chunk %d: NMSE %.3g\n", n_head,
           n_head_kv, hd, pos0, n_tok, chunk_rows, e);
    free(q);
    free(k);
    free(v);
    free(y);
    free(ref);
    free(s);
}

/* CPU twin of the device activation quantizer: blocks of 32, id = 127 / amax (IEEE division),
 * q = x * id rounded half to even, d = amax / 127. */
static void cpu_quant_q8(const float *x, int64_t n, int8_t *q, float *d) {
    for (int64_t b = 0; b < n / 32; b++) {
        float amax = 0.f;
        for (int i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(x[32 * b + i]));
        const float id = amax > 0.f ? 127.f / amax : 0.f;
        for (int i = 0; i < 32; i++)
            q[32 * b + i] = (int8_t)nearbyintf(x[32 * b + i] * id);
        d[b] = amax / 127.f;
    }
}

/* Mat-vec on 8-bit activations: against the CPU reference over the same rounded activations
 * (NMSE <= 1e-6), and against the f32 reference within twice the rounding's own NMSE. */
static void test_matvec_q8(uint32_t type, int64_t rows, int64_t cols) {
    const char *name = lmc_type_name(type);
    void *w = random_weights(type, rows, cols);
    float *deq = malloc(sizeof(float) * rows * cols), *x = malloc(4 * cols), *y = malloc(4 * rows);
    float *d = malloc(4 * (cols / 32));
    int8_t *q = malloc(cols);
    double *ref = malloc(8 * rows), *refq = malloc(8 * rows);
    for (int64_t i = 0; i < cols; i++)
        x[i] = rnd_f() * (i % 97 == 0 ? 4.f : 1.f);
    lmc_dequantize(type, w, deq, rows * cols);
    cpu_quant_q8(x, cols, q, d);
    for (int64_t r = 0; r < rows; r++) {
        double s = 0, sq = 0;
        for (int64_t i = 0; i < cols; i++) {
            s += (double)deq[r * cols + i] * x[i];
            sq += (double)deq[r * cols + i] * ((double)d[i / 32] * q[i]);
        }
        ref[r] = s;
        refq[r] = sq;
    }
    double num = 0, den = 0;
    for (int64_t r = 0; r < rows; r++) {
        num += (refq[r] - ref[r]) * (refq[r] - ref[r]);
        den += ref[r] * ref[r];
    }
    const double e_round = den > 0 ? num / den : 0;
    for (int64_t r = 0; r < rows; r++)
        y[r] = NAN;
    lmc_status st = lmc_cuda_op_matvec_q8(type, w, rows, cols, x, y);
    CHECK(st == LMC_OK, "%s matvec_q8: %s", name, lmc_last_error());
    const double eq = t_nmse(y, refq, rows), ef = t_nmse(y, ref, rows);
    CHECK(eq <= 1e-6, "%s matvec_q8 %lldx%lld NMSE vs rounded-activation reference %g", name,
          (long long)rows, (long long)cols, eq);
    CHECK(ef <= 2 * e_round + 1e-6, "%s matvec_q8 %lldx%lld NMSE vs f32 %g (rounding alone %g)",
          name, (long long)rows, (long long)cols, ef, e_round);
    printf(
        "%-5s %5lldx%-5lld matvec_q8 NMSE %.3g vs rounded x, %.3g vs f32 (rounding alone %.3g)\n",
        name, (long long)rows, (long long)cols, eq, ef, e_round);
    free(w);
    free(deq);
    free(x);
    free(y);
    free(d);
    free(q);
    free(ref);
    free(refq);
}

/* The model families' epilogues of the decode mat-vec (gemma: GELU-tanh of interleaved gate/up
 * rows, the final logit soft-cap; SiLU as the llama path) against the unfused reference: the same
 * mat-vec's plain store (same kernel, same sums), then the CPU op (cpu_geglu_tanh, cpu_swiglu,
 * cpu_softcap). f32 activations, or 8-bit ones (q8). rows even. */
static void test_matvec_epi(uint32_t type, int64_t rows, int64_t cols, int q8) {
    const char *name = lmc_type_name(type);
    void *w = random_weights(type, rows, cols);
    float *x = malloc(4 * cols), *y = malloc(4 * rows), *ref = malloc(4 * rows),
          *out = malloc(4 * rows), *g = malloc(4 * rows), *u = malloc(4 * rows);
    for (int64_t i = 0; i < cols; i++)
        x[i] = rnd_f() * 2;
    lmc_status st = q8 ? lmc_cuda_op_matvec_q8(type, w, rows, cols, x, y)
                       : lmc_cuda_op_matvec(type, w, rows, cols, x, y);
    CHECK(st == LMC_OK, "%s matvec: %s", name, lmc_last_error());
    float amax = 0.f;
    for (int64_t r = 0; r < rows; r++)
        amax = fmaxf(amax, fabsf(y[r]));
    for (int gated = 0; gated <= 2; gated++) {
        const int64_t n = gated ? rows / 2 : rows;
        const float cap = gated ? 0.f : 0.5f * amax; /* half the outputs well into the cap */
        if (gated) {
            for (int64_t i = 0; i < n; i++)
                g[i] = y[2 * i], u[i] = y[2 * i + 1];
            (gated == 2 ? cpu_geglu_tanh : cpu_swiglu)(g, u, ref, n);
        } else {
            memcpy(ref, y, 4 * (size_t)rows);
            cpu_softcap(ref, rows, cap);
        }
        for (int64_t i = 0; i < n; i++)
            out[i] = NAN;
        st = lmc_cuda_op_matvec_epi(type, w, rows, cols, x, q8, gated, cap, out);
        CHECK(st == LMC_OK, "%s matvec_epi: %s", name, lmc_last_error());
        double num = 0, den = 0;
        for (int64_t i = 0; i < n; i++) {
            const double d = (double)out[i] - ref[i];
            num += d * d;
            den += (double)ref[i] * ref[i];
        }
        const double e = den > 0 ? num / den : num;
        CHECK(e <= 1e-10, "%s %lldx%lld q8 %d matvec epilogue %s NMSE %g vs unfused", name,
              (long long)rows, (long long)cols, q8,
              gated == 2 ? "geglu"
              : gated    ? "swiglu"
                         : "softcap",
              e);
    }
    free(w), free(x), free(y), free(ref), free(out), free(g), free(u);
}

/* The quantizer alone must equal the CPU twin bit for bit. Fused into RMSNorm, the normed values
 * differ from the CPU's double-precision norm in the last bits, so codes may move by one at near
 * ties and the dequantized output must sit within twice the rounding's own NMSE of the exact normed
 * values. */
static void test_quant_q8(int n, int with_norm) {
    float *x = malloc(4 * n), *w = malloc(4 * n), *xn = malloc(4 * n), *d = malloc(4 * (n / 32));
    float *gd = malloc(4 * (n / 32)), *gs = malloc(4 * (n / 32)), *gx = malloc(4 * n),
          *cx = malloc(4 * n);
    double *ex = malloc(8 * n);
    int8_t *q = malloc(n), *gq = malloc(n);
    double ss = 0;
    for (int i = 0; i < n; i++) {
        x[i] = rnd_f() * 3;
        w[i] = rnd_f();
        ss += (double)x[i] * x[i];
    }
    if (n >= 64 && !with_norm)
        for (int i = 32; i < 64; i++)
            x[i] = 0.f; /* an all-zero block */
    const float eps = 1e-5f;
    const double sc = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) {
        ex[i] = with_norm ? x[i] * sc * w[i] : x[i];
        xn[i] = (float)ex[i];
    }
    cpu_quant_q8(xn, n, q, d);
    lmc_status st = lmc_cuda_op_quant_q8(x, n, with_norm ? w : NULL, eps, gq, gd, gs);
    CHECK(st == LMC_OK, "quant_q8: %s", lmc_last_error());
    int diff = 0, big = 0, bad_d = 0, bad_s = 0;
    for (int i = 0; i < n; i++) {
        diff += gq[i] != q[i];
        big += abs(gq[i] - q[i]) > 1;
        gx[i] = gd[i / 32] * gq[i];
        cx[i] = d[i / 32] * q[i];
    }
    for (int b = 0; b < n / 32; b++) {
        int sum = 0;
        for (int i = 0; i < 32; i++)
            sum += gq[32 * b + i];
        if (!with_norm) bad_d += gd[b] != d[b];
        bad_s += fabs(gs[b] - (double)gd[b] * sum) > 1e-6 * fabs((double)gd[b] * sum) + 1e-30;
    }
    if (!with_norm) {
        CHECK(diff == 0 && bad_d == 0,
              "quant_q8 n=%d: %d codes, %d scales differ from the CPU twin", n, diff, bad_d);
    } else {
        const double e_round = t_nmse(cx, ex, n), e = t_nmse(gx, ex, n);
        CHECK(big == 0, "rmsnorm_q8 n=%d: %d codes differ by more than one", n, big);
        CHECK(e <= 2 * e_round + 1e-7, "rmsnorm_q8 n=%d: NMSE %g vs exact norm (rounding alone %g)",
              n, e, e_round);
        printf("rmsnorm_q8 n=%d: %d codes differ by one, NMSE %.3g (rounding alone %.3g)\n", n,
               diff, e, e_round);
    }
    CHECK(bad_s == 0, "quant_q8 n=%d norm %d: %d block sums differ", n, with_norm, bad_s);
    free(x);
    free(w);
    free(xn);
    free(d);
    free(gd);
    free(gs);
    free(gx);
    free(cx);
    free(ex);
    free(q);
    free(gq);
}

/* The LMC_CUDA_* switches as cuda_tuning_read parses them (no GPU needed): defaults, "0", the R,U
 * forms and LMC_CUDA_COAL_ONLY. The caller's values are put back after. */
static void test_tuning(void) {
    static const char *names[] = {"LMC_CUDA_Q8",       "LMC_CUDA_FOLD",      "LMC_CUDA_ATT_GEMM",
                                  "LMC_CUDA_SKIP",     "LMC_CUDA_PDL",       "LMC_CUDA_MV",
                                  "LMC_CUDA_Q8MV",     "LMC_CUDA_COAL",      "LMC_CUDA_COAL_ONLY",
                                  "LMC_CUDA_MMA_LA",   "LMC_CUDA_ATT_SPLIT", "LMC_CUDA_MMA",
                                  "LMC_CUDA_BATCH_MV", "LMC_CUDA_ATT_GQA",   "LMC_CUDA_TAIL"};
    enum { N = sizeof names / sizeof names[0] };
    char *saved[N];
    for (int i = 0; i < N; i++) {
        const char *v = getenv(names[i]);
        saved[i] = v ? strdup(v) : NULL;
        unsetenv(names[i]);
    }
    cuda_tuning t = cuda_tuning_read();
    CHECK(t.q8 && t.fold && t.att_gemm && t.pdl && t.mma && t.skip == 0, "tuning: defaults on");
    CHECK(t.batch_mv == 1 && t.mma_la && t.att_split && t.att_gqa == DEFAULT_ATT_GQA,
          "tuning: BATCH_MV 1, MMA_LA, ATT_SPLIT on, ATT_GQA default");
    CHECK(t.mv_rows == 0 && t.q8mv == -1 && !t.coal_off && t.coal_r == 0 && t.coal_u == 0,
          "tuning: no shape asked for");
    for (int i = 0; i < 5; i++)
        setenv(names[i], "0", 1);
    setenv("LMC_CUDA_SKIP", "6", 1);
    setenv("LMC_CUDA_MV", "4", 1);
    setenv("LMC_CUDA_Q8MV", "16,2", 1);
    setenv("LMC_CUDA_COAL", "8,1", 1);
    setenv("LMC_CUDA_COAL_ONLY", "Q6_K", 1);
    setenv("LMC_CUDA_MMA_LA", "0", 1);
    setenv("LMC_CUDA_ATT_SPLIT", "0", 1);
    setenv("LMC_CUDA_MMA", "0", 1);
    setenv("LMC_CUDA_BATCH_MV", "8", 1);
    setenv("LMC_CUDA_ATT_GQA", "0", 1);
    t = cuda_tuning_read();
    CHECK(!t.q8 && !t.fold && !t.att_gemm && !t.pdl && t.skip == 6, "tuning: switched off, skip 6");
    CHECK(!t.mma_la && !t.att_split && !t.mma && t.batch_mv == 8 && !t.att_gqa,
          "tuning: MMA_LA, ATT_SPLIT, MMA, ATT_GQA off, BATCH_MV 8");
    CHECK(t.mv_rows == 4 && t.q8mv == 5 && !t.coal_off && t.coal_r == 8 && t.coal_u == 1,
          "tuning: MV 4, Q8MV 16,2, COAL 8,1");
    CHECK(t.coal_types == 1ull << LMC_TYPE_Q6_K, "tuning: COAL_ONLY Q6_K");
    const char *gqa[] = {"12", "x", "-3", "7z"};
    const int gqa_want[] = {12, DEFAULT_ATT_GQA, DEFAULT_ATT_GQA, DEFAULT_ATT_GQA};
    for (int i = 0; i < 4; i++) {
        setenv("LMC_CUDA_ATT_GQA", gqa[i], 1);
        CHECK(cuda_tuning_read().att_gqa == gqa_want[i], "tuning: ATT_GQA %s", gqa[i]);
    }
    CHECK(t.tail == 1, "tuning: TAIL 1 by default");
    const char *lv[] = {"0", "1", "2", "x", "12"};
    const int tail_want[] = {0, 1, 1, 1, 1};
    for (int i = 0; i < 5; i++) {
        setenv("LMC_CUDA_TAIL", lv[i], 1);
        CHECK(cuda_tuning_read().tail == tail_want[i], "tuning: TAIL %s", lv[i]);
    }
    unsetenv("LMC_CUDA_TAIL");
    const char *q8mv[] = {"4,1", "4,2", "8,1", "8,2", "16,1", "2,1", "2,2", "x"};
    const int want[] = {0, 1, 2, 3, 4, 6, 6, -1};
    for (int i = 0; i < 8; i++) {
        setenv("LMC_CUDA_Q8MV", q8mv[i], 1);
        CHECK(cuda_tuning_read().q8mv == want[i], "tuning: Q8MV %s", q8mv[i]);
    }
    setenv("LMC_CUDA_Q8", "1", 1);
    setenv("LMC_CUDA_COAL", "0", 1);
    unsetenv("LMC_CUDA_COAL_ONLY");
    t = cuda_tuning_read();
    CHECK(t.q8 && t.coal_off, "tuning: Q8 1 on, COAL 0 off");
    CHECK(((t.coal_types >> LMC_TYPE_F16) & 1) && ((t.coal_types >> LMC_TYPE_Q8_0) & 1),
          "tuning: every type without COAL_ONLY");
    setenv("LMC_CUDA_COAL", "3,1", 1);
    t = cuda_tuning_read();
    CHECK(!t.coal_off && t.coal_r == 0, "tuning: COAL 3,1 keeps the defaults");
    for (int i = 0; i < N; i++) {
        if (saved[i])
            setenv(names[i], saved[i], 1);
        else
            unsetenv(names[i]);
        free(saved[i]);
    }
}

int main(void) {
    test_tuning();
    if (lmc_cuda_device_count() <= 0) {
        printf("SKIP: no CUDA device (%d tuning checks passed)\n", t_passed);
        return t_failed ? 1 : 77;
    }
    char name[128];
    uint64_t fr, tot;
    lmc_cuda_device_info(name, sizeof name, &fr, &tot);
    printf("device: %s, %.1f GiB free\n", name, fr / 1073741824.0);

    const uint32_t types[] = {LMC_TYPE_F32,  LMC_TYPE_F16,  LMC_TYPE_BF16, LMC_TYPE_Q4_0,
                              LMC_TYPE_Q4_1, LMC_TYPE_Q5_0, LMC_TYPE_Q5_1, LMC_TYPE_Q8_0,
                              LMC_TYPE_Q2_K, LMC_TYPE_Q3_K, LMC_TYPE_Q4_K, LMC_TYPE_Q5_K,
                              LMC_TYPE_Q6_K};
    /* rows odd (tails of the rows-per-warp), cols from one unit per lane to several and uneven */
    const int64_t shapes[][2] = {{33, 256}, {64, 1280}, {301, 4096}, {17, 14336}};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            test_type(types[t], shapes[s][0], shapes[s][1]);
    const uint32_t btypes[] = {LMC_TYPE_F32,  LMC_TYPE_F16,  LMC_TYPE_Q4_0,
                               LMC_TYPE_Q8_0, LMC_TYPE_Q4_K, LMC_TYPE_Q6_K};
    const int64_t bshapes[][2] = {{33, 256}, {301, 4096}, {17, 14336}};
    for (size_t t = 0; t < sizeof btypes / sizeof btypes[0]; t++)
        for (size_t s = 0; s < sizeof bshapes / sizeof bshapes[0]; s++)
            test_matvec_batch(btypes[t], bshapes[s][0], bshapes[s][1]);
    for (size_t t = 2; t < sizeof btypes / sizeof btypes[0]; t++) /* the 8-bit types */
        for (size_t s = 0; s < sizeof bshapes / sizeof bshapes[0]; s++)
            test_matvec_batch_q8(btypes[t], bshapes[s][0], bshapes[s][1]);
    {
        void *w5 = random_weights(LMC_TYPE_Q5_0, 4, 64);
        float x5[64] = {0}, y5[4];
        CHECK(lmc_cuda_op_matvec_batch(LMC_TYPE_Q5_0, w5, 4, 64, x5, 1, 0, y5) ==
                      LMC_ERR_UNSUPPORTED &&
                  lmc_cuda_op_matvec_batch(LMC_TYPE_F16, w5, 4, 64, x5, 1, 1, y5) ==
                      LMC_ERR_UNSUPPORTED,
              "matvec_batch of a type without a batched kernel not refused");
        free(w5);
    }
    {
        const uint32_t mtypes[] = {LMC_TYPE_Q4_0, LMC_TYPE_Q8_0, LMC_TYPE_Q4_K, LMC_TYPE_Q6_K};
        /* rows: tails of the 16-row tiles and 256-row blocks; cols: one chunk to many */
        const int64_t mshapes[][2] = {{33, 512}, {301, 4096}, {17, 14336}, {1000, 1024}};
        /* both kernels: the load-ahead one (LMC_CUDA_MMA_LA=1) and the first (the default) */
        for (int la = 1; la >= 0; la--) {
            setenv("LMC_CUDA_MMA_LA", la ? "1" : "0", 1);
            cuda_tuning_reload();
            printf("LMC_CUDA_MMA_LA=%d\n", la);
            for (size_t t = 0; t < 4; t++)
                for (size_t s = 0; s < sizeof mshapes / sizeof mshapes[0]; s++)
                    test_matmul_mma(mtypes[t], mshapes[s][0], mshapes[s][1]);
        }
        unsetenv("LMC_CUDA_MMA_LA");
        cuda_tuning_reload();
        void *w5 = random_weights(LMC_TYPE_Q5_0, 4, 256);
        float x5[256] = {0}, y5[4];
        CHECK(lmc_cuda_op_matmul_mma(LMC_TYPE_Q5_0, w5, 4, 256, x5, 1, 0, 0, y5) ==
                      LMC_ERR_UNSUPPORTED &&
                  lmc_cuda_op_matmul_mma(LMC_TYPE_Q4_0, w5, 4, 128, x5, 1, 0, 0, y5) ==
                      LMC_ERR_UNSUPPORTED,
              "matmul_mma of a type or width without the kernel not refused");
        free(w5);
    }
    /* float rows that are not a multiple of 32 (stories260K's n_ff = 172) */
    test_type(LMC_TYPE_F32, 64, 172);
    test_type(LMC_TYPE_F16, 9, 172);

    const uint32_t q8types[] = {LMC_TYPE_Q4_0, LMC_TYPE_Q8_0, LMC_TYPE_Q4_K, LMC_TYPE_Q6_K};
    for (size_t t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            test_matvec_q8(q8types[t], shapes[s][0], shapes[s][1]);
    /* the family epilogues: gate/up pairs (even rows), every path a gemma matrix may take */
    const int64_t eshapes[][2] = {{34, 256}, {302, 4096}, {18, 14336}};
    for (size_t s = 0; s < 3; s++) {
        for (size_t t = 0; t < 4; t++) {
            test_matvec_epi(q8types[t], eshapes[s][0], eshapes[s][1], 1);
            test_matvec_epi(q8types[t], eshapes[s][0], eshapes[s][1], 0);
        }
        test_matvec_epi(LMC_TYPE_F16, eshapes[s][0], eshapes[s][1], 0);
        test_matvec_epi(LMC_TYPE_F32, eshapes[s][0], eshapes[s][1], 0);
        test_matvec_epi(LMC_TYPE_BF16, eshapes[s][0], eshapes[s][1], 0);
    }
    test_matvec_epi(LMC_TYPE_F32, 64, 172, 0); /* the plain kernel of float rows */
    /* every variant of the mat-vec kernels (LMC_CUDA_COAL: the unit kernels, rows per block x
     * chunks in flight of the coalesced ones) on the same checks: F16 through the f32 path, the
     * 8-bit types. Kernel switches are read once per process: cuda_tuning_reload takes each new
     * value. */
    const char *variants[] = {"0",   "2,1", "2,2", "4,1",
                              "4,2", "8,1", "8,2"}; /* "0": the unit kernels */
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        setenv("LMC_CUDA_COAL", variants[v], 1);
        cuda_tuning_reload();
        printf("LMC_CUDA_COAL=%s\n", variants[v]);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            test_type(LMC_TYPE_F16, shapes[s][0], shapes[s][1]);
            for (size_t t = 0; t < 4; t++)
                test_matvec_q8(q8types[t], shapes[s][0], shapes[s][1]);
        }
        test_matvec_epi(LMC_TYPE_F16, 302, 4096, 0);
        test_matvec_epi(LMC_TYPE_Q4_0, 302, 4096, 1);
        test_matvec_epi(LMC_TYPE_Q6_K, 18, 14336, 1);
    }
    unsetenv("LMC_CUDA_COAL");
    cuda_tuning_reload();
    test_quant_q8(4096, 0);
    test_quant_q8(14336, 0);
    test_quant_q8(4096, 1);
    test_quant_q8(576, 1);

    const int norms[] = {64, 576, 4096, 5000};
    for (size_t i = 0; i < 4; i++)
        test_rmsnorm(norms[i]);
    test_rope(8, 8, 8, 3);
    test_rope(9, 64, 64, 17);
    test_rope(32, 128, 128, 4000);
    test_rope(4, 128, 64, 255);
    test_swiglu(172);
    test_swiglu(14336);
    test_attention_prompt(8, 4, 8, 0, 20, 0);
    test_attention_prompt(32, 8, 128, 0, 64, 0);
    test_attention_prompt(9, 3, 64, 37, 50, 0);
    test_attention_prompt(32, 8, 128, 100, 77, 16); /* five passes, the last one short */
    test_attention_prompt(4, 4, 64, 0, 300, 0);
    /* decode attention with its blocks over groups of heads from any context length (1), from
     * 12 kv-head splits (mixed: some of these calls group, some not), then one head a block (0;
     * a kernel switch: read again) */
    /* (1100 keys: 9 splits, the merge's 8-deep loads; 33000: 258 splits, more than the 256 whose
     * weights it stages at a time) */
    const int kvs[] = {1, 5, 128, 129, 700, 1100};
    const char *gqa_env[] = {"1", "12", "0"};
    for (int gv = 0; gv < 3; gv++) {
        setenv("LMC_CUDA_ATT_GQA", gqa_env[gv], 1);
        cuda_tuning_reload();
        test_attention(12, 2, 128, 33000);
        test_attention(9, 3, 64, 33000);
        for (size_t i = 0; i < sizeof kvs / sizeof kvs[0]; i++) {
            test_attention(8, 4, 8, kvs[i]);
            test_attention(9, 3, 64, kvs[i]);
            test_attention(32, 8, 128, kvs[i]);
            test_attention(16, 2, 256, kvs[i]); /* groups of 8 heads of 256 dims */
            test_attention(12, 2, 128, kvs[i]); /* groups of 6 */
        }
        unsetenv("LMC_CUDA_ATT_GQA");
        cuda_tuning_reload();
    }
    for (int split = 1; split >= 0; split--) {
        test_attention_rows(8, 4, 8, split);
        test_attention_rows(9, 3, 64, split);
        test_attention_rows(32, 8, 128, split);
        test_attention_rows(8, 2, 256, split);
    }
    return t_done();
}
#endif
