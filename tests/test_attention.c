/* test_attention.c — the CPU attention op (src/cpu/forward.h): the blocked cpu_attention against
 * the one-(token, head)-at-a-time reference cpu_attention_ref on random queries and caches, bit for
 * bit, on every kernel table this CPU has, for GQA and plain multi-head geometries, head sizes that
 * do and do not fill the SIMD steps, prompts, decodes and batches of several sequences, sliding
 * windows, soft-capped scores, thread counts and a scratch that holds one row of scores only; with
 * half (F16) caches against the reference run on the f16-rounded keys and values; with Q8_0 caches
 * (head sizes that are multiples of 32): Q8_0 values bit for bit against the reference on the
 * dequantized values, Q8_0 keys (scored against the 8-bit query, as ggml does) against attention in
 * double over the dequantized query, keys and values, within the f32 reference's own bound; and the
 * reference against attention computed in double. */
#include "cpu/forward.h"
#include "cpu/kernels.h"
#include "testutil.h"
#include "util.h"

#include <math.h>
#include <string.h>

static uint64_t g_rng = 0x853c49e6748fea9bull;
static float rnd_unit(void) { /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 40) / (double)(1ull << 23) - 1.0);
}

/* One geometry and batch. Tokens are given as (seq, pos) pairs; each sequence's cache holds
 * positions seq_start..its last position. */
typedef struct {
    const char *name;
    int32_t n_head, n_head_kv, head_dim, n_ctx, n_seq;
    int32_t n_tok;
    const int32_t *seq, *pos, *seq_start;
    float scale, softcap;
    int32_t n_swa;
} att_case;

typedef struct {
    float *q, *k, *v;      /* f32 caches */
    float *kr, *vr;        /* f16-rounded f32 caches */
    uint16_t *kh, *vh;     /* the same as halves */
    uint8_t *kq, *vq;      /* the same as block_q8_0 rows (head_dim % 32 == 0 only) */
    float *kqr, *vqr, *qr; /* their values, and the query's as att_dot's 8-bit blocks hold it */
    float *out_ref, *out;  /* (n_tok, q_dim) */
    size_t q_n, kv_n, seq_stride;
} att_data;

static void data_make(const att_case *c, att_data *d) {
    const size_t kv_dim = (size_t)c->n_head_kv * c->head_dim;
    d->seq_stride = (size_t)c->n_ctx * kv_dim;
    d->kv_n = (size_t)c->n_seq * d->seq_stride;
    d->q_n = (size_t)c->n_tok * c->n_head * c->head_dim;
    d->q = malloc(d->q_n * sizeof(float));
    d->out_ref = malloc(d->q_n * sizeof(float));
    d->out = malloc(d->q_n * sizeof(float));
    d->k = malloc(d->kv_n * sizeof(float));
    d->v = malloc(d->kv_n * sizeof(float));
    d->kr = malloc(d->kv_n * sizeof(float));
    d->vr = malloc(d->kv_n * sizeof(float));
    d->kh = malloc(d->kv_n * sizeof(uint16_t));
    d->vh = malloc(d->kv_n * sizeof(uint16_t));
    for (size_t i = 0; i < d->q_n; i++)
        d->q[i] = rnd_unit() * 2.0f;
    for (size_t i = 0; i < d->kv_n; i++) {
        d->k[i] = rnd_unit() * 2.0f;
        d->v[i] = rnd_unit();
        d->kh[i] = lmc_f32_to_f16(d->k[i]);
        d->vh[i] = lmc_f32_to_f16(d->v[i]);
        d->kr[i] = lmc_f16_to_f32(d->kh[i]);
        d->vr[i] = lmc_f16_to_f32(d->vh[i]);
    }
    d->kq = d->vq = NULL;
    d->kqr = d->vqr = d->qr = NULL;
    if (c->head_dim % 32 == 0) {
        const size_t rows = d->kv_n / kv_dim, rb = kern_kv_bytes(KV_Q8_0, kv_dim);
        const size_t q_dim = (size_t)c->n_head * c->head_dim;
        d->kq = malloc(rows * rb);
        d->vq = malloc(rows * rb);
        d->kqr = malloc(d->kv_n * sizeof(float));
        d->vqr = malloc(d->kv_n * sizeof(float));
        d->qr = malloc(d->q_n * sizeof(float));
        for (size_t r = 0; r < rows; r++) {
            kern_kv_quantize_q8_0(d->k + r * kv_dim, d->kq + r * rb, (int64_t)kv_dim);
            kern_kv_quantize_q8_0(d->v + r * kv_dim, d->vq + r * rb, (int64_t)kv_dim);
            lmc_dequantize(LMC_TYPE_Q8_0, d->kq + r * rb, d->kqr + r * kv_dim, (int64_t)kv_dim);
            lmc_dequantize(LMC_TYPE_Q8_0, d->vq + r * rb, d->vqr + r * kv_dim, (int64_t)kv_dim);
        }
        /* the query as att_dot_q8_0 sees it: 8-bit blocks of 32 within each head */
        uint8_t *tmp = malloc(kern_kv_bytes(KV_Q8_0, q_dim));
        for (int32_t i = 0; i < c->n_tok; i++) {
            kern_kv_quantize_q8_0(d->q + (size_t)i * q_dim, tmp, (int64_t)q_dim);
            lmc_dequantize(LMC_TYPE_Q8_0, tmp, d->qr + (size_t)i * q_dim, (int64_t)q_dim);
        }
        free(tmp);
    }
}

static void data_free(att_data *d) {
    free(d->q);
    free(d->k);
    free(d->v);
    free(d->kr);
    free(d->vr);
    free(d->kh);
    free(d->vh);
    free(d->out_ref);
    free(d->out);
    free(d->kq);
    free(d->vq);
    free(d->kqr);
    free(d->vqr);
    free(d->qr);
}

static cpu_attn_args args_of(const att_case *c, const att_data *d, const kern_table *kt) {
    cpu_attn_args a = {.n_tok = c->n_tok,
                       .n_head = c->n_head,
                       .n_head_kv = c->n_head_kv,
                       .head_dim = c->head_dim,
                       .pos = c->pos,
                       .seq = c->seq,
                       .seq_start = c->seq_start,
                       .q = d->q,
                       .k = d->k,
                       .v = d->v,
                       .k_type = KV_F32,
                       .v_type = KV_F32,
                       .seq_stride = d->seq_stride,
                       .scale = c->scale,
                       .softcap = c->softcap,
                       .n_swa = c->n_swa,
                       .kt = kt};
    return a;
}

static tp_pool *pool_make(int n_threads, size_t scratch) {
    tp_pool *p = NULL;
    lmc_status st = tp_create(n_threads, scratch, &p);
    CHECK(st == LMC_OK, "tp_create: %s", lmc_last_error());
    return p;
}

/* out against attention in double over the queries q and caches k, v: within f32 rounding of the
 * scores, the softmax and the sums (relative to the values' scale, 1). */
static void check_vs_double(const att_case *c, const att_data *d, const float *qs, const float *ks,
                            const float *vs, const float *res, const char *what) {
    const int32_t hd = c->head_dim, group = c->n_head / c->n_head_kv;
    const size_t kv_dim = (size_t)c->n_head_kv * hd, q_dim = (size_t)c->n_head * hd;
    double worst = 0;
    double *w = malloc((size_t)c->n_ctx * sizeof(double));
    for (int32_t i = 0; i < c->n_tok; i++) {
        int32_t t0 = c->seq_start[c->seq[i]];
        if (c->n_swa > 0 && c->pos[i] - c->n_swa + 1 > t0) t0 = c->pos[i] - c->n_swa + 1;
        for (int32_t h = 0; h < c->n_head; h++) {
            const float *q = qs + (size_t)i * q_dim + (size_t)h * hd;
            const size_t base = (size_t)c->seq[i] * d->seq_stride + (size_t)(h / group) * hd;
            double mx = -INFINITY, sum = 0;
            for (int32_t t = t0; t <= c->pos[i]; t++) {
                double s = 0;
                for (int32_t e = 0; e < hd; e++)
                    s += (double)q[e] * ks[base + (size_t)t * kv_dim + e];
                s *= c->scale;
                if (c->softcap > 0) s = c->softcap * tanh(s / c->softcap);
                w[t] = s;
                mx = s > mx ? s : mx;
            }
            for (int32_t t = t0; t <= c->pos[i]; t++)
                sum += (w[t] = exp(w[t] - mx));
            for (int32_t e = 0; e < hd; e++) {
                double o = 0;
                for (int32_t t = t0; t <= c->pos[i]; t++)
                    o += w[t] / sum * vs[base + (size_t)t * kv_dim + e];
                const double err = fabs(o - res[(size_t)i * q_dim + (size_t)h * hd + e]);
                worst = err > worst ? err : worst;
            }
        }
    }
    free(w);
    CHECK(worst < 2e-5, "%s: %s vs double: max error %.3g", c->name, what, worst);
}

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

/* Q8_0 caches. Values: the blocked attention with Q8_0 V = the reference on the dequantized values,
 * bit for bit (att_wsum keeps axpy_f32's bits, q * d being exact). Keys: att_dot scores the 8-bit
 * query against the 8-bit keys by exact integer block sums, so the result is attention over the
 * dequantized query, keys and values up to f32 rounding of fewer operations than the f32 reference
 * makes: held to the reference's own bound against double (check_vs_double). */
static void check_q8_0(const att_case *c, const att_data *d, const kern_table *kt, tp_pool *p1,
                       size_t scratch) {
    cpu_attn_args r = args_of(c, d, kt);
    r.v = d->vqr;
    r.out = d->out_ref;
    cpu_attention_ref(&r, p1);
    float *one = malloc(d->q_n * sizeof(float)); /* the 1-thread result */
    for (int mix = 0; mix < 3; mix++) {          /* q8_0 V; q8_0 K and V; q8_0 K with f16 V */
        cpu_attn_args h = args_of(c, d, kt);
        if (mix == 0) h.v = d->vq, h.v_type = KV_Q8_0;
        if (mix == 1) h.v = d->vq, h.v_type = KV_Q8_0, h.k = d->kq, h.k_type = KV_Q8_0;
        if (mix == 2) h.v = d->vh, h.v_type = KV_F16, h.k = d->kq, h.k_type = KV_Q8_0;
        const char *what = mix == 0 ? "q8_0 V" : mix == 1 ? "q8_0 K and V" : "q8_0 K, f16 V";
        for (int threads = 1; threads <= 3; threads += 2) {
            tp_pool *p = pool_make(threads, scratch);
            if (!p) continue;
            h.out = d->out;
            memset(d->out, 0xff, d->q_n * sizeof(float));
            cpu_attention(&h, p);
            tp_free(p);
            if (mix == 0)
                CHECK(same_bits(d->out, d->out_ref, d->q_n),
                      "%s, %s: blocked attention over %s = reference on its values (threads %d)",
                      c->name, kt->name, what, threads);
            else if (threads == 1) {
                check_vs_double(c, d, d->qr, d->kqr, mix == 1 ? d->vqr : d->vr, d->out, what);
                memcpy(one, d->out, d->q_n * sizeof(float));
            } else /* every output is one thread's, in a fixed order */
                CHECK(same_bits(d->out, one, d->q_n), "%s, %s: %s: 3 threads = 1 thread", c->name,
                      kt->name, what);
        }
    }
    free(one);
}

static void run_case(const att_case *c) {
    att_data d;
    data_make(c, &d);
    const size_t scratch_full = cpu_attention_scratch_bytes(c->n_ctx);
    const size_t scratch_min = (size_t)c->n_ctx * sizeof(float); /* one row of scores */
    tp_pool *p1 = pool_make(1, scratch_full);
    const char *names[] = {"ref", "scalar", "avx2", "avx512", "zen3", "zen4"};
    bool checked_double = false;
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        const kern_table *kt = kern_named(names[n]);
        if (!kt) continue;
        cpu_attn_args a = args_of(c, &d, kt);
        a.out = d.out_ref;
        cpu_attention_ref(&a, p1);
        if (!checked_double) {
            check_vs_double(c, &d, d.q, d.k, d.v, d.out_ref, "reference");
            checked_double = true;
        }
        /* f32 caches: every thread count, full and minimal scratch */
        for (int threads = 1; threads <= 4; threads++) {
            for (int sm = 0; sm < 2; sm++) {
                tp_pool *p = pool_make(threads, sm ? scratch_min : scratch_full);
                if (!p) continue;
                a.out = d.out;
                memset(d.out, 0xff, d.q_n * sizeof(float));
                cpu_attention(&a, p);
                CHECK(same_bits(d.out, d.out_ref, d.q_n),
                      "%s, %s: blocked f32 attention = reference (threads %d, %s scratch)", c->name,
                      kt->name, threads, sm ? "minimal" : "full");
                tp_free(p);
            }
        }
        /* half caches (K, V, or both) against the reference on the rounded values */
        cpu_attn_args r = args_of(c, &d, kt);
        r.k = d.kr;
        r.v = d.vr;
        r.out = d.out_ref;
        cpu_attention_ref(&r, p1);
        for (int mix = 0; mix < 3; mix++) {
            cpu_attn_args h = args_of(c, &d, kt);
            if (mix != 2)
                h.k = d.kh, h.k_type = KV_F16;
            else
                h.k = d.kr;
            if (mix != 1)
                h.v = d.vh, h.v_type = KV_F16;
            else
                h.v = d.vr;
            for (int threads = 1; threads <= 3; threads += 2) {
                tp_pool *p = pool_make(threads, scratch_full);
                if (!p) continue;
                h.out = d.out;
                memset(d.out, 0xff, d.q_n * sizeof(float));
                cpu_attention(&h, p);
                CHECK(same_bits(d.out, d.out_ref, d.q_n),
                      "%s, %s: blocked attention over %s = reference on the rounded values "
                      "(threads %d)",
                      c->name, kt->name,
                      mix == 0   ? "f16 K and V"
                      : mix == 1 ? "f16 K"
                                 : "f16 V",
                      threads);
                tp_free(p);
            }
        }
        if (d.kq) check_q8_0(c, &d, kt, p1, scratch_full);
    }
    tp_free(p1);
    data_free(&d);
}

/* A prompt of n tokens of sequence 0 from position p0 (cache from 0). */
static void prompt_case(const char *name, int32_t n_head, int32_t n_head_kv, int32_t hd, int32_t p0,
                        int32_t n, float softcap, int32_t n_swa) {
    int32_t *seq = calloc((size_t)n, sizeof(int32_t)), *pos = malloc((size_t)n * sizeof(int32_t));
    const int32_t start[1] = {0};
    for (int32_t i = 0; i < n; i++)
        pos[i] = p0 + i;
    const att_case c = {name,
                        n_head,
                        n_head_kv,
                        hd,
                        p0 + n + 3,
                        1,
                        n,
                        seq,
                        pos,
                        start,
                        softcap > 0 ? 1.5f : 1.0f / sqrtf((float)hd),
                        softcap,
                        n_swa};
    run_case(&c);
    free(seq);
    free(pos);
}

int main(void) {
    /* TinyLlama's geometry: a prompt longer than a key chunk, a continuation, one decode token */
    prompt_case("32x4x64 prompt", 32, 4, 64, 0, 150, 0, 0);
    prompt_case("32x4x64 continued", 32, 4, 64, 70, 9, 0, 0);
    prompt_case("32x4x64 decode", 32, 4, 64, 300, 1, 0, 0);
    /* head sizes: 128, 256; 80 and 96 (a 64 step and the rest); 72 (dot falls back to one key at a
     * time), 20 (not a multiple of 8 either); plain multi-head; a group of 3 */
    prompt_case("8x2x128", 8, 2, 128, 5, 40, 0, 0);
    prompt_case("4x2x256", 4, 2, 256, 0, 21, 0, 0);
    prompt_case("6x2x80", 6, 2, 80, 3, 33, 0, 0);
    prompt_case("6x3x96", 6, 3, 96, 0, 30, 0, 0);
    prompt_case("4x1x72", 4, 1, 72, 2, 19, 0, 0);
    prompt_case("4x4x20", 4, 4, 20, 0, 23, 0, 0);
    prompt_case("9x3x64", 9, 3, 64, 0, 26, 0, 0);
    /* gemma2: soft-capped scores, a sliding window (smaller than the prompt and than a chunk) */
    prompt_case("8x4x64 softcap", 8, 4, 64, 0, 45, 50.0f, 0);
    prompt_case("8x4x64 window", 8, 4, 64, 10, 90, 0, 7);
    prompt_case("8x4x64 window+softcap", 8, 4, 64, 0, 300, 30.0f, 100);
    /* several sequences in one batch, their tokens interleaved, caches from different starts */
    {
        const int32_t seq[] = {0, 0, 1, 1, 1, 2, 0, 1, 2, 2};
        const int32_t pos[] = {10, 11, 3, 4, 5, 0, 12, 6, 1, 2};
        const int32_t start[] = {2, 0, 0};
        const att_case c = {"3 sequences", 16, 4, 64, 20, 3, 10, seq, pos, start, 0.125f, 0, 0};
        run_case(&c);
        const att_case w = {
            "3 sequences, window", 16, 4, 64, 20, 3, 10, seq, pos, start, 0.125f, 0, 4};
        run_case(&w);
    }
    return t_done();
}
