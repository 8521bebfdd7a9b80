/* test_block_ops.c — the small ops of the model families' blocks (src/cpu/forward.h) against
 * double-precision references on random inputs of odd sizes: GELU-tanh gating, the soft-cap, bias
 * add, NEOX RoPE (against its formula and against llama-style RoPE on a permuted head), per-head
 * RMSNorm. Whole models against llama.cpp are in test_families.py; the decode API on the family
 * models (batch splits, shifts with several RoPE bases, sliding windows) in test_forward.c. */
#include "cpu/forward.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float rnd(void) { /* uniform in [-4, 4) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_rng >> 40) * (1.0 / 16777216.0)) * 8.0f - 4.0f;
}

static double rel_err(double got, double want) {
    return fabs(got - want) / (fabs(want) > 1e-3 ? fabs(want) : 1e-3);
}

static void test_geglu_softcap_bias(void) {
    enum { N = 1001 };
    float g[N], u[N], out[N], x[N];
    for (int i = 0; i < N; i++)
        g[i] = rnd() * 2, u[i] = rnd(), x[i] = rnd() * 20;
    cpu_geglu_tanh(g, u, out, N);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double gd = g[i];
        double want = 0.5 * gd * (1 + tanh(sqrt(2 / M_PI) * gd * (1 + 0.044715 * gd * gd))) * u[i];
        /* relative to |g u|: where gelu(g) ~ 0, 1 + tanh cancels and f32 keeps an absolute error */
        double e = fabs(out[i] - want) / (fabs(gd * u[i]) + 1e-3);
        worst = e > worst ? e : worst;
    }
    CHECK(worst < 1e-5, "geglu_tanh: worst relative error %g", worst);
    memcpy(out, x, sizeof x);
    cpu_softcap(out, N, 7.5f);
    worst = 0;
    for (int i = 0; i < N; i++) {
        double e = rel_err(out[i], 7.5 * tanh(x[i] / 7.5));
        worst = e > worst ? e : worst;
    }
    CHECK(worst < 1e-5, "softcap: worst relative error %g", worst);
    float y[3 * 7], b[7];
    for (int i = 0; i < 21; i++)
        y[i] = (float)i;
    for (int i = 0; i < 7; i++)
        b[i] = (float)(100 * i);
    cpu_add_bias(y, b, 3, 7);
    int bad = 0;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 7; i++)
            bad += y[r * 7 + i] != (float)(r * 7 + i + 100 * i);
    CHECK(bad == 0, "add_bias: %d wrong values", bad);
}

/* NEOX pairs (i, i + d/2); llama pairs (2i, 2i+1): the same rotation on an interleaved head. */
static void test_rope_neox(int head_dim, int n_heads, double pos, double base) {
    const int half = head_dim / 2;
    double *inv = malloc(sizeof(double) * (size_t)half);
    float *cs = malloc(sizeof(float) * (size_t)head_dim);
    float *v = malloc(sizeof(float) * (size_t)head_dim * n_heads);
    float *w = malloc(sizeof(float) * (size_t)head_dim * n_heads);
    float *orig = malloc(sizeof(float) * (size_t)head_dim * n_heads);
    for (int i = 0; i < half; i++)
        inv[i] = pow(base, -2.0 * i / head_dim);
    cpu_rope_cos_sin(pos, inv, head_dim, cs);
    for (int i = 0; i < head_dim * n_heads; i++)
        orig[i] = v[i] = rnd();
    for (int h = 0; h < n_heads; h++) /* w: each head interleaved (v[i], v[i + half]) */
        for (int i = 0; i < half; i++) {
            w[h * head_dim + 2 * i] = v[h * head_dim + i];
            w[h * head_dim + 2 * i + 1] = v[h * head_dim + i + half];
        }
    cpu_rope_neox(v, n_heads, head_dim, head_dim, cs);
    cpu_rope(w, n_heads, head_dim, head_dim, cs);
    double worst = 0, worst_perm = 0;
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < half; i++) {
            const float *o = orig + h * head_dim;
            double th = pos * inv[i], a = o[i], b = o[i + half];
            double e0 = fabs(v[h * head_dim + i] - (a * cos(th) - b * sin(th)));
            double e1 = fabs(v[h * head_dim + i + half] - (a * sin(th) + b * cos(th)));
            worst = fmax(worst, fmax(e0, e1));
            worst_perm = fmax(worst_perm, fabs(v[h * head_dim + i] - w[h * head_dim + 2 * i]));
            worst_perm =
                fmax(worst_perm, fabs(v[h * head_dim + i + half] - w[h * head_dim + 2 * i + 1]));
        }
    CHECK(worst < 1e-5, "rope_neox d=%d pos=%g: worst abs error %g", head_dim, pos, worst);
    CHECK(worst_perm == 0, "rope_neox d=%d: differs from llama rope on the interleaved head by %g",
          head_dim, worst_perm);
    free(inv);
    free(cs);
    free(v);
    free(w);
    free(orig);
}

/* Partial rotary (Phi-4-mini, rope.dimension_count < head size): the first n_rot values of each
 * head turn with theta_i = pos * base^(-2i/n_rot) (NEOX pairs (i, i + n_rot/2), normal pairs
 * (2i, 2i+1)); the others are left as they are. Checked against the formula in double. */
static void test_rope_partial(int head_dim, int n_rot, int n_heads, double pos, int neox) {
    const int half = n_rot / 2;
    double inv[256];
    float cs[512], v[4 * 512], orig[4 * 512];
    for (int i = 0; i < half; i++)
        inv[i] = pow(10000.0, -2.0 * i / n_rot);
    cpu_rope_cos_sin(pos, inv, n_rot, cs);
    for (int i = 0; i < head_dim * n_heads; i++)
        orig[i] = v[i] = rnd();
    (neox ? cpu_rope_neox : cpu_rope)(v, n_heads, head_dim, n_rot, cs);
    double worst = 0;
    int tail_changed = 0;
    for (int h = 0; h < n_heads; h++) {
        const float *o = orig + h * head_dim;
        const float *r = v + h * head_dim;
        for (int i = 0; i < half; i++) {
            const int ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
            double th = pos * inv[i], a = o[ia], b = o[ib];
            worst = fmax(worst, fabs(r[ia] - (a * cos(th) - b * sin(th))));
            worst = fmax(worst, fabs(r[ib] - (a * sin(th) + b * cos(th))));
        }
        for (int i = n_rot; i < head_dim; i++)
            tail_changed += r[i] != o[i];
    }
    CHECK(worst < 1e-5, "rope partial d=%d n_rot=%d neox=%d: worst abs error %g", head_dim, n_rot,
          neox, worst);
    CHECK(tail_changed == 0, "rope partial d=%d n_rot=%d: %d values past n_rot changed", head_dim,
          n_rot, tail_changed);
}

/* Per-head RMSNorm (qwen3/gemma3 q and k): each head of d values normalized on its own. */
static void test_head_rmsnorm(void) {
    enum { D = 96, H = 3 };
    float x[D * H], w[D], out[D * H];
    for (int i = 0; i < D * H; i++)
        x[i] = rnd() * (float)(1 + i / D); /* heads of different scales */
    for (int i = 0; i < D; i++)
        w[i] = 1.0f + rnd() / 8;
    for (int h = 0; h < H; h++)
        cpu_rmsnorm(x + h * D, w, out + h * D, D, 1e-6f);
    double worst = 0;
    for (int h = 0; h < H; h++) {
        double ss = 0;
        for (int i = 0; i < D; i++)
            ss += (double)x[h * D + i] * x[h * D + i];
        double sc = 1.0 / sqrt(ss / D + 1e-6);
        for (int i = 0; i < D; i++)
            worst = fmax(worst, rel_err(out[h * D + i], x[h * D + i] * sc * w[i]));
    }
    CHECK(worst < 1e-5, "per-head rmsnorm: worst relative error %g", worst);
}

int main(void) {
    test_geglu_softcap_bias();
    test_rope_neox(64, 3, 7, 10000);
    test_rope_neox(128, 2, 4095, 1e6);
    test_rope_neox(256, 1, 31, 10000);
    for (int neox = 0; neox < 2; neox++) {
        test_rope_partial(128, 96, 3, 4095, neox);
        test_rope_partial(64, 16, 2, 7, neox);
    }
    test_head_rmsnorm();
    return t_done();
}
