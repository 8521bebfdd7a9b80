/* test_cuda_block_ops.c — the model families' CUDA block operations (src/cuda/cuda_block_ops.cuh)
 * against the CPU reference ops (src/cpu/forward.h) or double-precision references on random
 * inputs of several shapes: q/k/v post-processing (bias, per-head q/k RMSNorm, NEOX and normal RoPE
 * with per-layer frequencies, LongRoPE divisors and attn_factor, the KV store), GELU-tanh and SiLU
 * gating, post-norm + residual (alone and fused with the next RMSNorm and its 8-bit blocks),
 * soft-cap and scale, attention with a query scale, score soft-cap and sliding window
 * (split-context kernel and cuBLAS prompt path), the KV shift's rotation. With an f16 KV cache
 * (-ctk/-ctv f16): every kernel that stores K/V stores exactly the f16 rounding (to nearest even,
 * lmc_f32_to_f16) of what its f32 path stores (bits compared), and attention over an f16 cache
 * equals the reference over the same rounded keys and values (the f32 bounds). Skips (77) without
 * the CUDA build or without a GPU. */
#include "testutil.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/forward.h"
#include "util.h"
#ifdef LMC_WITH_CUDA
#include "cuda/cuda_backend.h"
#include "cuda/cuda_block_ops.h"
#endif

#ifndef LMC_WITH_CUDA
int main(void) {
    printf("SKIP: built without the CUDA backend\n");
    return 77;
}
#else

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float rnd_f(void) { /* [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(((rng >> 16) & 0xFFFFFF) / 16777216.0 * 2.0 - 1.0);
}

/* x rounded to f16 (nearest even, the CPU cache's rounding) and widened back: what an f16 cache
 * holds for x. */
static float f16_of(float x) {
    return lmc_f16_to_f32(lmc_f32_to_f16(x));
}

/* The f16 cache elements c16 (widened) against the rounding of the f32 path's elements c32: the
 * number of elements whose bits differ (0 expected). */
static int f16_mismatch(const float *c16, const float *c32, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const float want = f16_of(c32[i]);
        bad += memcmp(&c16[i], &want, sizeof want) != 0;
    }
    return bad;
}

/* Frequencies as the CPU forward computes them: scale * base^(-2i/hd) / factor_i. */
static void make_freq(double *fr, int hd, double base, double scale, int factors) {
    for (int i = 0; i < hd / 2; i++)
        fr[i] = scale * pow(base, -2.0 * i / hd) / (factors ? 1.0 + 0.37 * i : 1.0);
}

/* n_rot < hd: partial rotary (Phi-4-mini), the dims past n_rot pass unchanged */
static void test_qkv_post_rot(int n_head, int n_head_kv, int hd, int n_rot, int pos0, int bias,
                              int norm, int neox, float attn_factor, double base) {
    const int n_tok = 3, q_dim = n_head * hd, kv_dim = n_head_kv * hd, row = q_dim + 2 * kv_dim;
    float *x = malloc(4 * (size_t)n_tok * row), *ref = malloc(4 * (size_t)n_tok * row),
          *x16 = malloc(4 * (size_t)n_tok * row);
    float *b = malloc(4 * (size_t)row), *qn = malloc(4 * (size_t)hd), *kn = malloc(4 * (size_t)hd);
    float *ko = malloc(4 * (size_t)n_tok * kv_dim), *vo = malloc(4 * (size_t)n_tok * kv_dim);
    float *ko16 = malloc(4 * (size_t)n_tok * kv_dim), *vo16 = malloc(4 * (size_t)n_tok * kv_dim);
    float *cs = malloc(4 * (size_t)hd);
    double *fr = malloc(8 * (size_t)hd / 2);
    make_freq(fr, n_rot, base, attn_factor != 1.0f ? 0.5 : 1.0, attn_factor != 1.0f);
    for (int i = 0; i < n_tok * row; i++)
        x[i] = ref[i] = x16[i] = rnd_f() * 3;
    for (int i = 0; i < row; i++)
        b[i] = rnd_f();
    for (int i = 0; i < hd; i++)
        qn[i] = 1 + rnd_f() * 0.5f, kn[i] = 1 + rnd_f() * 0.5f;
    for (int t = 0; t < n_tok; t++) {
        float *r = ref + (size_t)t * row;
        if (bias) cpu_add_bias(r, b, 1, row);
        for (int h = 0; norm && h < n_head + n_head_kv; h++)
            cpu_rmsnorm(r + h * hd, h < n_head ? qn : kn, r + h * hd, hd, 1e-6f);
        cpu_rope_cos_sin(pos0 + t, fr, n_rot, cs);
        for (int i = 0; i < n_rot; i++)
            cs[i] *= attn_factor;
        (neox ? cpu_rope_neox : cpu_rope)(r, n_head + n_head_kv, hd, n_rot, cs);
    }
    lmc_status st = lmc_cuda_op_qkv_post(x, n_tok, pos0, n_head, n_head_kv, hd, n_rot,
                                         bias ? b : NULL, norm ? qn : NULL, norm ? kn : NULL, 1e-6f,
                                         neox, fr, attn_factor, 0, ko, vo);
    CHECK(st == LMC_OK, "qkv_post: %s", lmc_last_error());
    /* the same into an f16 cache: q as before, k and v the f16 rounding of the f32 cache's */
    st = lmc_cuda_op_qkv_post(x16, n_tok, pos0, n_head, n_head_kv, hd, n_rot, bias ? b : NULL,
                              norm ? qn : NULL, norm ? kn : NULL, 1e-6f, neox, fr, attn_factor, 1,
                              ko16, vo16);
    CHECK(st == LMC_OK, "qkv_post f16: %s", lmc_last_error());
    const int bad16 = f16_mismatch(ko16, ko, (size_t)n_tok * kv_dim) +
                      f16_mismatch(vo16, vo, (size_t)n_tok * kv_dim);
    CHECK(bad16 == 0 && memcmp(x16, x, 4 * (size_t)n_tok * row) == 0,
          "qkv_post f16 cache heads %d/%d hd %d n_rot %d pos %d: %d k/v elements not the f16 "
          "rounding of the f32 cache's (or q differs)",
          n_head, n_head_kv, hd, n_rot, pos0, bad16);
    const double e = t_nmse_f(x, ref, (size_t)n_tok * row);
    double ek = 0, ev = 0;
    for (int t = 0; t < n_tok; t++) {
        ek += t_nmse_f(ko + (size_t)t * kv_dim, ref + (size_t)t * row + q_dim, kv_dim);
        ev += t_nmse_f(vo + (size_t)t * kv_dim, ref + (size_t)t * row + q_dim + kv_dim, kv_dim);
    }
    CHECK(e <= 1e-9 && ek <= 1e-9 && ev <= 1e-12,
          "qkv_post heads %d/%d hd %d n_rot %d pos %d bias %d norm %d neox %d af %g: NMSE %g k %g "
          "v %g",
          n_head, n_head_kv, hd, n_rot, pos0, bias, norm, neox, attn_factor, e, ek, ev);
    printf("qkv_post heads %d/%d hd %d n_rot %d pos %d bias %d norm %d neox %d af %g: NMSE %.3g\n",
           n_head, n_head_kv, hd, n_rot, pos0, bias, norm, neox, attn_factor, e);
    free(x), free(ref), free(b), free(qn), free(kn), free(ko), free(vo), free(cs), free(fr);
    free(x16), free(ko16), free(vo16);
}

static void test_qkv_post(int n_head, int n_head_kv, int hd, int pos0, int bias, int norm, int neox,
                          float attn_factor, double base) {
    test_qkv_post_rot(n_head, n_head_kv, hd, hd, pos0, bias, norm, neox, attn_factor, base);
}

static void test_gated(int gelu, int n) {
    float *g = malloc(4 * (size_t)n), *u = malloc(4 * (size_t)n), *y = malloc(4 * (size_t)n),
          *ref = malloc(4 * (size_t)n);
    for (int i = 0; i < n; i++)
        g[i] = rnd_f() * 6, u[i] = rnd_f() * 2;
    (gelu ? cpu_geglu_tanh : cpu_swiglu)(g, u, ref, n);
    lmc_status st = lmc_cuda_op_gated_act(gelu, g, u, n, y);
    CHECK(st == LMC_OK, "gated_act: %s", lmc_last_error());
    const double e = t_nmse_f(y, ref, n);
    CHECK(e <= 1e-10, "gated_act gelu %d n %d NMSE %g", gelu, n, e);
    free(g), free(u), free(y), free(ref);
}

static void test_post_norm(int n, int n_tok) {
    const size_t m = (size_t)n * n_tok;
    float *y = malloc(4 * m), *w = malloc(4 * (size_t)n), *h = malloc(4 * m), *ref = malloc(4 * m),
          *tmp = malloc(4 * (size_t)n);
    for (size_t i = 0; i < m; i++)
        y[i] = rnd_f() * 5, h[i] = ref[i] = rnd_f();
    for (int i = 0; i < n; i++)
        w[i] = rnd_f() + 1;
    for (int t = 0; t < n_tok; t++) {
        cpu_rmsnorm(y + (size_t)t * n, w, tmp, n, 1e-6f);
        for (int i = 0; i < n; i++)
            ref[(size_t)t * n + i] += tmp[i];
    }
    lmc_status st = lmc_cuda_op_post_norm_add(y, w, n, n_tok, 1e-6f, h);
    CHECK(st == LMC_OK, "post_norm_add: %s", lmc_last_error());
    const double e = t_nmse_f(h, ref, m);
    CHECK(e <= 1e-12, "post_norm_add n %d n_tok %d NMSE %g", n, n_tok, e);
    free(y), free(w), free(h), free(ref), free(tmp);
}

/* The decode step's fused post-norm + residual + next RMSNorm (+ 8-bit blocks) against the
 * unfused reference: h against the CPU post-norm (as test_post_norm), out against the GPU's own
 * RMSNorm kernel on that h and the CPU RMSNorm, the 8-bit codes bit for bit against a CPU twin of
 * the quantizer run on out (blocks of 32, id = 127 / amax, round half to even, d = amax / 127). */
static void test_post_norm_norm(int n, int n_tok, int q8) {
    const size_t m = (size_t)n * n_tok;
    float *y = malloc(4 * m), *wp = malloc(4 * (size_t)n), *wn = malloc(4 * (size_t)n),
          *h = malloc(4 * m), *ref = malloc(4 * m), *out = malloc(4 * m), *rout = malloc(4 * m),
          *gout = malloc(4 * m), *tmp = malloc(4 * (size_t)n), *d = malloc(4 * (m / 32 + 1));
    int8_t *q = malloc(m + 1);
    for (size_t i = 0; i < m; i++)
        y[i] = rnd_f() * 5, h[i] = ref[i] = rnd_f();
    for (int i = 0; i < n; i++)
        wp[i] = rnd_f() + 1, wn[i] = rnd_f() + 1;
    for (int t = 0; t < n_tok; t++) {
        cpu_rmsnorm(y + (size_t)t * n, wp, tmp, n, 1e-6f);
        for (int i = 0; i < n; i++)
            ref[(size_t)t * n + i] += tmp[i];
    }
    lmc_status st = lmc_cuda_op_post_norm_add_norm(y, wp, wn, n, n_tok, 1e-6f, h, out,
                                                   q8 ? q : NULL, q8 ? d : NULL);
    CHECK(st == LMC_OK, "post_norm_add_norm: %s", lmc_last_error());
    double e = t_nmse_f(h, ref, m);
    CHECK(e <= 1e-12, "post_norm_add_norm n %d n_tok %d: h NMSE %g", n, n_tok, e);
    for (int t = 0; t < n_tok; t++) {
        cpu_rmsnorm(h + (size_t)t * n, wn, rout + (size_t)t * n, n, 1e-6f);
        st = lmc_cuda_op_rmsnorm(h + (size_t)t * n, wn, n, 1e-6f, gout + (size_t)t * n);
        CHECK(st == LMC_OK, "rmsnorm: %s", lmc_last_error());
    }
    e = t_nmse_f(out, gout, m);
    CHECK(e <= 1e-12, "post_norm_add_norm n %d n_tok %d: out NMSE %g vs the RMSNorm kernel", n,
          n_tok, e);
    e = t_nmse_f(out, rout, m);
    CHECK(e <= 1e-10, "post_norm_add_norm n %d n_tok %d: out NMSE %g vs CPU", n, n_tok, e);
    if (q8) {
        int bad_q = 0, bad_d = 0;
        for (size_t b = 0; b < m / 32; b++) {
            float amax = 0.f;
            for (int i = 0; i < 32; i++)
                amax = fmaxf(amax, fabsf(out[32 * b + i]));
            const float id = amax > 0.f ? 127.f / amax : 0.f;
            for (int i = 0; i < 32; i++)
                bad_q += q[32 * b + i] != (int8_t)nearbyintf(out[32 * b + i] * id);
            bad_d += d[b] != amax / 127.f;
        }
        CHECK(bad_q == 0 && bad_d == 0,
              "post_norm_add_norm n %d n_tok %d: %d codes, %d scales differ from the CPU twin", n,
              n_tok, bad_q, bad_d);
    }
    free(y), free(wp), free(wn), free(h), free(ref), free(out), free(rout), free(gout), free(tmp);
    free(d), free(q);
}

static void test_softcap_scale(int n) {
    float *x = malloc(4 * (size_t)n), *r = malloc(4 * (size_t)n), *x2 = malloc(4 * (size_t)n);
    for (int i = 0; i < n; i++)
        x[i] = r[i] = x2[i] = rnd_f() * 80;
    cpu_softcap(r, n, 30.0f);
    lmc_status st = lmc_cuda_op_softcap_scale(x, n, 30.0f, 0);
    CHECK(st == LMC_OK, "softcap: %s", lmc_last_error());
    double e = t_nmse_f(x, r, n);
    CHECK(e <= 1e-10, "softcap n %d NMSE %g", n, e);
    for (int i = 0; i < n; i++)
        r[i] = x2[i] * 45.254833995939045f;
    st = lmc_cuda_op_softcap_scale(x2, n, 0, 45.254833995939045f);
    CHECK(st == LMC_OK, "scale: %s", lmc_last_error());
    e = t_nmse_f(x2, r, n);
    CHECK(e == 0, "scale n %d NMSE %g", n, e);
    free(x), free(r), free(x2);
}

/* Double-precision attention of query row q at position pos: keys max(0, pos - window + 1)..pos
 * (window 0: from 0), scores times scale, soft-capped when cap > 0. */
static void ref_attention(const float *q, const float *k, const float *v, int n_head, int n_head_kv,
                          int hd, int pos, float scale, float cap, int window, double *ref,
                          double *s) {
    const int kv_dim = n_head_kv * hd,
              lo = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
    for (int h = 0; h < n_head; h++) {
        const int kh = h / (n_head / n_head_kv);
        double m = -1e300, l = 0;
        for (int j = lo; j <= pos; j++) {
            double d = 0;
            for (int i = 0; i < hd; i++)
                d += (double)q[h * hd + i] * k[(size_t)j * kv_dim + kh * hd + i];
            s[j] = d * scale;
            if (cap > 0) s[j] = cap * tanh(s[j] / cap);
            if (s[j] > m) m = s[j];
        }
        for (int j = lo; j <= pos; j++) {
            s[j] = exp(s[j] - m);
            l += s[j];
        }
        for (int i = 0; i < hd; i++) {
            double o = 0;
            for (int j = lo; j <= pos; j++)
                o += s[j] * v[(size_t)j * kv_dim + kh * hd + i];
            ref[h * hd + i] = o / l;
        }
    }
}

/* kv_f16: the cache is f16; the reference reads the same rounded keys and values (f16_of). */
static void test_attention(int n_head, int n_head_kv, int hd, int pos0, int n_tok, float cap,
                           int window, int gemm, int kv_f16) {
    const int kv_dim = n_head_kv * hd, q_dim = n_head * hd, n_kv = pos0 + n_tok;
    const float scale = 1.0f / 16.0f; /* gemma's query_pre_attn_scalar form, not 1/sqrt(hd) */
    float *q = malloc(4 * (size_t)n_tok * q_dim), *k = malloc(4 * (size_t)n_kv * kv_dim);
    float *v = malloc(4 * (size_t)n_kv * kv_dim), *y = malloc(4 * (size_t)n_tok * q_dim);
    double *ref = malloc(8 * (size_t)n_tok * q_dim), *s = malloc(8 * (size_t)n_kv);
    for (size_t i = 0; i < (size_t)n_tok * q_dim; i++)
        q[i] = rnd_f() * 4;
    float *kr = malloc(4 * (size_t)n_kv * kv_dim), *vr = malloc(4 * (size_t)n_kv * kv_dim);
    for (size_t i = 0; i < (size_t)n_kv * kv_dim; i++) {
        k[i] = rnd_f() * 4, v[i] = rnd_f();
        kr[i] = kv_f16 ? f16_of(k[i]) : k[i], vr[i] = kv_f16 ? f16_of(v[i]) : v[i];
    }
    for (int t = 0; t < n_tok; t++)
        ref_attention(q + (size_t)t * q_dim, kr, vr, n_head, n_head_kv, hd, pos0 + t, scale, cap,
                      window, ref + (size_t)t * q_dim, s);
    lmc_status st = lmc_cuda_op_attention_variant(q, k, v, n_head, n_head_kv, hd, pos0, n_tok,
                                                  scale, cap, window, gemm, kv_f16, y);
    CHECK(st == LMC_OK, "attention_variant: %s", lmc_last_error());
    const double e = t_nmse(y, ref, (size_t)n_tok * q_dim), bound = gemm == 1 ? 1e-4 : 1e-6;
    CHECK(e <= bound,
          "attention heads %d/%d hd %d pos0 %d n_tok %d cap %g window %d gemm %d kv %s NMSE %g",
          n_head, n_head_kv, hd, pos0, n_tok, cap, window, gemm, kv_f16 ? "f16" : "f32", e);
    printf("attention heads %d/%d hd %d pos0 %d n_tok %d cap %g window %d %s kv %s: NMSE %.3g\n",
           n_head, n_head_kv, hd, pos0, n_tok, cap, window,
           gemm == 3   ? "rows split"
           : gemm == 2 ? "rows"
           : gemm      ? "gemm"
                       : "split",
           kv_f16 ? "f16" : "f32", e);
    free(q), free(k), free(v), free(y), free(ref), free(s), free(kr), free(vr);
}

/* llama: the llama block's rotation kernel (normal pairing) instead of the families' one. The
 * keys start f16-representable; the f16 cache's turned keys must be the rounding of the f32
 * cache's, bit for bit. */
static void test_kv_rotate(int n_head_kv, int hd, int n_rot, int delta, int neox, int llama) {
    const int n = 5, kv_dim = n_head_kv * hd;
    const size_t m = (size_t)n * kv_dim;
    float *k = malloc(4 * m), *ref = malloc(4 * m), *k16 = malloc(4 * m),
          *cs = malloc(4 * (size_t)hd);
    double *fr = malloc(8 * (size_t)hd / 2);
    make_freq(fr, n_rot, 10000.0, 1.0, 0);
    for (size_t i = 0; i < m; i++)
        k[i] = ref[i] = k16[i] = f16_of(rnd_f());
    cpu_rope_cos_sin(delta, fr, n_rot, cs);
    for (int r = 0; r < n; r++)
        (neox ? cpu_rope_neox : cpu_rope)(ref + (size_t)r * kv_dim, n_head_kv, hd, n_rot, cs);
    lmc_status st = lmc_cuda_op_kv_rotate(k, n, kv_dim, hd, n_rot, delta, neox, fr, 0, llama);
    CHECK(st == LMC_OK, "kv_rotate: %s", lmc_last_error());
    const double e = t_nmse_f(k, ref, m);
    CHECK(e <= 1e-10, "kv_rotate heads %d hd %d n_rot %d delta %d neox %d llama %d NMSE %g",
          n_head_kv, hd, n_rot, delta, neox, llama, e);
    st = lmc_cuda_op_kv_rotate(k16, n, kv_dim, hd, n_rot, delta, neox, fr, 1, llama);
    CHECK(st == LMC_OK, "kv_rotate f16: %s", lmc_last_error());
    const int bad = f16_mismatch(k16, k, m);
    CHECK(bad == 0,
          "kv_rotate f16 cache heads %d hd %d n_rot %d delta %d neox %d llama %d: %d keys not the "
          "f16 rounding of the f32 cache's",
          n_head_kv, hd, n_rot, delta, neox, llama, bad);
    free(k), free(ref), free(k16), free(cs), free(fr);
}

int main(void) {
    if (lmc_cuda_device_count() <= 0) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    const int heads[][3] = {{4, 2, 64}, {8, 8, 32}, {4, 1, 256}, {6, 2, 128}};
    for (int h = 0; h < 4; h++)
        for (int o = 0; o < 8; o++) /* bias, norm, neox on and off */
            test_qkv_post(heads[h][0], heads[h][1], heads[h][2], o & 1 ? 4093 : 0, o & 1,
                          (o >> 1) & 1, (o >> 2) & 1, 1.0f, o & 2 ? 1e6 : 1e4);
    test_qkv_post(4, 2, 96, 17, 0, 0, 1, 1.1902f, 1e4); /* LongRoPE: divisors and attn_factor */
    test_qkv_post(4, 2, 96, 5000, 0, 0, 1, 1.1902f, 1e4);
    for (int neox = 0; neox < 2; neox++) { /* partial rotary (Phi-4-mini: 96 of 128) */
        test_qkv_post_rot(6, 2, 128, 96, 4093, 0, 0, neox, 1.1902f, 1e4);
        test_qkv_post_rot(4, 4, 64, 48, 3, 1, 1, neox, 1.0f, 1e4);
    }
    for (int i = 0; i < 2; i++) {
        test_gated(i, 1000);
        test_gated(i, 4097);
    }
    test_post_norm(64, 1);
    test_post_norm(640, 3);
    test_post_norm(4097, 2);
    test_post_norm_norm(1536, 1, 1); /* the decode step's shapes (gemma: 2304, 2560, 3840, 5376) */
    test_post_norm_norm(2304, 1, 1);
    test_post_norm_norm(5376, 1, 0);
    test_post_norm_norm(640, 3, 1);
    test_post_norm_norm(8192 + 96, 2, 1); /* rows past the registers' 8 x 1024 */
    test_post_norm_norm(4097, 2, 0);
    test_softcap_scale(3001);
    /* decode kernel: one and several splits, windows inside one split and across splits */
    /* every attention case over an f32 cache, then over an f16 one (kv 1: -ctk/-ctv f16) */
    const int cfg[][3] = {{8, 4, 64}, {4, 1, 256}, {8, 2, 128}, {6, 6, 32}};
    for (int c = 0; c < 8; c++) {
        const int kv = c / 4;
        const int nh = cfg[c % 4][0], nkv = cfg[c % 4][1], hd = cfg[c % 4][2];
        test_attention(nh, nkv, hd, 0, 1, 0, 0, 0, kv);
        test_attention(nh, nkv, hd, 40, 1, 1.5f, 0, 0, kv);
        test_attention(nh, nkv, hd, 40, 2, 0, 8, 0, kv);
        test_attention(nh, nkv, hd, 300, 3, 0, 100, 0, kv);
        test_attention(nh, nkv, hd, 600, 2, 1.5f, 256, 0, kv);
        test_attention(nh, nkv, hd, 600, 1, 0, 512, 0, kv);
        /* prompt path */
        test_attention(nh, nkv, hd, 0, 40, 1.5f, 8, 1, kv);
        test_attention(nh, nkv, hd, 130, 33, 0, 64, 1, kv);
        test_attention(nh, nkv, hd, 10, 20, 2.0f, 0, 1, kv);
        /* the several-sequence step's kernel (per-token first and last row), one block a token
         * (2) and split in 128-key blocks from the window's first row (3: LMC_CUDA_ATT_SPLIT) */
        for (int rows = 2; rows <= 3; rows++) {
            test_attention(nh, nkv, hd, 0, 1, 0, 0, rows, kv);
            test_attention(nh, nkv, hd, 40, 3, 1.5f, 0, rows, kv);
            test_attention(nh, nkv, hd, 40, 5, 0, 8, rows, kv);
            test_attention(nh, nkv, hd, 300, 4, 1.5f, 100, rows, kv);
            test_attention(nh, nkv, hd, 0, 20, 2.0f, 8, rows, kv);
            test_attention(nh, nkv, hd, 600, 2, 1.5f, 256, rows, kv); /* window across splits */
            test_attention(nh, nkv, hd, 600, 3, 0, 0, rows, kv);      /* 5 splits, no window */
        }
    }
    for (int neox = 0; neox < 2; neox++) {
        test_kv_rotate(2, 64, 64, -37, neox, 0);
        test_kv_rotate(1, 256, 256, -1000, neox, 0);
        test_kv_rotate(2, 128, 96, -77, neox, 0);
    }
    test_kv_rotate(2, 64, 64, -37, 0, 1); /* the llama block's kernel */
    test_kv_rotate(4, 128, 128, -1000, 0, 1);
    return t_done();
}
#endif
