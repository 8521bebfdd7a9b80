/* test_matmul.c — cpu_matmul (the kernels chosen at run time) against cpu_matmul_ref (reference
 * dequantization, f32 sums in order) for the weights of every synthetic type, on random
 * activations, one and several tokens, one and two threads; and the thread pool's split. Where the
 * kernels round activations to 8 bits, the allowed difference is the error of that rounding
 * (computed exactly); where no kernel covers the type (LMC_KERNELS=ref: none), the exact path's
 * bits are checked. */
#include "cpu/cpu.h"
#include "cpu/kernels.h"
#include "gguf.h"
#include "quant.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

static double rel_err(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Where the kernels round the activations to 8-bit blocks (kern_best()->xfmt[type]), cpu_matmul
 * differs from the reference by at most the error that rounding introduces, sum_k |w_k| |x_k -
 * xq_k|, plus f32 rounding of both sums. Returns the number of outputs outside that bound. */
static int outside_quant_bound(const gguf_tensor *W, const float *x, const float *y,
                               const float *yr, int n_tok) {
    const kern_table *kt = kern_best();
    const int64_t K = W->ne[0], N = W->ne[1];
    const kern_xfmt f = kt->xfmt[W->type];
    const size_t xrow = kern_x_row_bytes(f, K), wrow = lmc_row_size(W->type, K);
    uint8_t *xq = aligned_alloc(64, xrow);
    float *wd = malloc(sizeof(float) * K), *xs = malloc(sizeof(float) * K);
    int bad = 0;
    for (int t = 0; t < n_tok; t++) {
        const float *xt = x + t * K;
        kern_quantize_x(f, xt, xq, K);
        const int blk = f == KX_Q8_0 ? 32 : 256;
        for (int64_t i = 0; i < K; i++)
            xs[i] = ((const float *)(xq + K))[i / blk] * (float)((const int8_t *)xq)[i];
        for (int64_t r = 0; r < N; r++) {
            lmc_dequantize(W->type, (const uint8_t *)W->data + r * wrow, wd, K);
            double qerr = 0, mag = 0;
            for (int64_t i = 0; i < K; i++) {
                qerr += fabs((double)wd[i]) * fabs((double)xt[i] - xs[i]);
                mag += fabs((double)wd[i]) * (fabs((double)xt[i]) + fabs((double)xs[i]));
            }
            const double tol = qerr + 2.0 * (K + 16) / 16777216.0 * mag;
            if (!(fabs((double)y[t * N + r] - yr[t * N + r]) <= tol)) bad++;
        }
    }
    free(xq);
    free(wd);
    free(xs);
    return bad;
}

/* Where the kernel table has no gemm for the type (every type under LMC_KERNELS=ref), cpu_matmul
 * takes the exact path: each output is kern_dot_f32_c of the row as lmc_dequantize gives it, bit
 * for bit, whatever SIMD the CPU has and whether the batch takes the one-pass decode (< 4 tokens)
 * or the dequantized row (more). Returns the number of outputs that differ. */
static int exact_path_mismatches(const gguf_tensor *W, const float *x, const float *y, int n_tok) {
    const int64_t K = W->ne[0], N = W->ne[1];
    const size_t wrow = lmc_row_size(W->type, K);
    float *wd = malloc(sizeof(float) * K);
    int bad = 0;
    for (int64_t r = 0; r < N; r++) {
        lmc_dequantize(W->type, (const uint8_t *)W->data + r * wrow, wd, K);
        for (int t = 0; t < n_tok; t++) {
            const float want = kern_dot_f32_c(wd, x + t * K, K);
            if (memcmp(&want, &y[t * N + r], sizeof want) != 0) bad++;
        }
    }
    free(wd);
    return bad;
}

static void cover(void *ctx, int64_t b, int64_t e, int tid) {
    (void)tid;
    int *hits = ctx;
    for (int64_t i = b; i < e; i++)
        hits[i]++;
}

int main(void) {
    /* the pool covers every item exactly once, for several sizes and thread counts */
    for (int T = 1; T <= 3; T++) {
        tp_pool *p = NULL;
        CHECK(tp_create(T, 64, &p) == LMC_OK, "tp_create(%d)", T);
        if (!p) continue;
        for (int n = 0; n < 40; n += 7) {
            int hits[40] = {0};
            tp_parallel_for(p, n, cover, hits);
            int ok = 1;
            for (int i = 0; i < 40; i++)
                ok &= hits[i] == (i < n);
            CHECK(ok, "parallel_for(%d) with %d threads", n, T);
        }
        tp_free(p);
    }

    t_require_shared();
    const char *types[] = {"F16",  "BF16", "Q8_0",   "Q4_0",   "Q4_1",   "Q5_0",
                           "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"};
    const char *tensors[] = {"blk.0.attn_q.weight", "blk.0.ffn_down.weight",
                             "blk.1.ffn_gate.weight"};
    tp_pool *pool1 = NULL, *pool2 = NULL;
    tp_create(1, cpu_matmul_scratch_bytes(8192, 8), &pool1);
    tp_create(2, cpu_matmul_scratch_bytes(8192, 8), &pool2);
    uint32_t seed = 12345;
    int exact_checked = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/synthetic/synthetic-A-%s.gguf", types[ti]);
        gguf_file *f = NULL;
        if (gguf_open(t_shared(rel), &f) != LMC_OK) {
            CHECK(0, "open %s: %s", rel, lmc_last_error());
            continue;
        }
        double worst = 0;
        for (size_t k = 0; k < sizeof tensors / sizeof tensors[0]; k++) {
            const gguf_tensor *W = gguf_find_tensor(f, tensors[k]);
            CHECK(W != NULL, "%s: %s missing", rel, tensors[k]);
            if (!W) continue;
            const int64_t K = W->ne[0], N = W->ne[1];
            const int n_tok = 3;
            float *x = malloc(sizeof(float) * K * n_tok), *y = malloc(sizeof(float) * N * n_tok);
            float *y2 = malloc(sizeof(float) * N * n_tok), *yr = malloc(sizeof(float) * N * n_tok);
            for (int64_t i = 0; i < K * n_tok; i++) {
                seed = seed * 1664525u + 1013904223u;
                x[i] = (float)((seed >> 8) / 16777216.0 * 2.0 - 1.0);
            }
            cpu_matmul_ref(W, x, yr, n_tok, pool2);
            cpu_matmul(W, x, y, n_tok, pool1);
            cpu_matmul(W, x, y2, n_tok, pool2);
            double e = rel_err(y, yr, N * n_tok);
            if (e > worst) worst = e;
            const kern_table *kt = kern_best();
            if (kt && kt->gemm[W->type] && kt->xfmt[W->type] != KX_F32) {
                int bad = outside_quant_bound(W, x, y, yr, n_tok);
                CHECK(bad == 0,
                      "%s %s: %d outputs differ from the reference by more than the activation "
                      "rounding allows",
                      types[ti], tensors[k], bad);
            } else {
                CHECK(e < 1e-5, "%s %s: relative error %g vs the reference", types[ti], tensors[k],
                      e);
            }
            CHECK(memcmp(y, y2, sizeof(float) * N * n_tok) == 0, "%s %s: 1 and 2 threads differ",
                  types[ti], tensors[k]);
            if (!kt->gemm[W->type]) {
                CHECK(exact_path_mismatches(W, x, y, n_tok) == 0,
                      "%s %s: exact path (%d tokens) not the bits of dequantize + kern_dot_f32_c",
                      types[ti], tensors[k], n_tok);
                enum { BIG = 6 }; /* past the one-pass decode: the dequantized-row pass */
                float *xb = malloc(sizeof(float) * K * BIG), *yb = malloc(sizeof(float) * N * BIG);
                for (int64_t i = 0; i < K * BIG; i++)
                    xb[i] = x[i % (K * n_tok)] * (i < K * n_tok ? 1.0f : -0.5f);
                cpu_matmul(W, xb, yb, BIG, pool2);
                CHECK(exact_path_mismatches(W, xb, yb, BIG) == 0,
                      "%s %s: exact path (%d tokens) not the bits of dequantize + kern_dot_f32_c",
                      types[ti], tensors[k], BIG);
                exact_checked++;
                free(xb);
                free(yb);
            }
            cpu_matmul(W, x + K, y2, 1, pool2); /* one token alone == its row of the batch */
            CHECK(memcmp(y2, y + N, sizeof(float) * N) == 0, "%s %s: batch row differs from alone",
                  types[ti], tensors[k]);
            free(x);
            free(y);
            free(y2);
            free(yr);
        }
        printf("%-7s cpu_matmul vs reference: worst relative error %.3g\n", types[ti], worst);
        gguf_close(f);
    }
    printf("exact path checked bit for bit on %d tensors (kernels: %s)\n", exact_checked,
           kern_best()->name);
    tp_free(pool1);
    tp_free(pool2);
    return t_done();
}
