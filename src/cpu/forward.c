/* forward.c — the CPU backend and reference forward pass of every architecture of arch.c's table:
 * embedding lookup (times sqrt(n_embd) for gemma), per layer RMSNorm, Q/K/V projections (fused or
 * not, with biases where the variant has them), per-head q/k RMSNorm, RoPE (normal or NEOX pairing,
 * per-layer base, LongRoPE divisors), causal GQA attention over the per-sequence KV cache (sliding
 * window on the layers that have one, score soft-cap; blocked over tokens and the heads of a KV
 * head, cpu_attention_ref the readable reference; f32, half or q8_0 cache), output projection,
 * post-norms, gated FFN (SiLU or GELU-tanh, gate|up fused or not), residuals; final norm and logits
 * (soft-capped where the variant says) for the wanted rows only. A batch of tokens goes through
 * every matmul together. Readable first: the fast kernels live behind cpu_matmul, the exp and tanh
 * of the activations, soft-caps and softmax behind vmath.h's array functions. A part (cpu_part_*)
 * runs a range of layers only, for src/backend_split.c. It knows no context. */
#include "forward.h"
#include "cpu.h"
#include "kernels.h"
#include "quant.h"
#include "util.h"
#include "vmath.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The small per-layer vectors, dequantized to f32 once at init (NULL where the layer has none). */
typedef struct {
    float *attn_norm, *ffn_norm;           /* (n_embd) */
    float *attn_post_norm, *ffn_post_norm; /* (n_embd) */
    float *q_norm, *k_norm;                /* (head_dim) */
    float *bq, *bk, *bv;                   /* (q_dim), (kv_dim), (kv_dim) */
    int32_t rope_set;                      /* which of the state's inv_freq sets rotates it */
} cpu_layer_vecs;

#define CPU_ROPE_SETS 2 /* distinct (base, scale) pairs: global layers and sliding layers */

struct cpu_state {
    const lmc_model *m; /* the model whose layers [l0, l1) this part runs */
    tp_pool *pool;      /* n_threads workers with scratch for a weight row or a row of scores */
    int32_t n_ctx, n_batch, kv_dim, q_dim;
    int32_t l0, l1; /* the layers [l0, l1) this part runs (0 and n_layer for the whole model) */
    /* the cache: sequence s, layer l, position p starts at ((s*n_lc + l - l0)*n_ctx + p)*kv_dim
     * with n_lc = l1 - l0 the cached layers */
    void *k_cache; /* (n_seq, n_lc, n_ctx, kv_dim) keys, already rotated to their positions */
    void *v_cache; /* (n_seq, n_lc, n_ctx, kv_dim) */
    size_t k_bytes, v_bytes; /* their sizes (cpu_kv_alloc) */
    int32_t k_type, v_type;  /* the caches' element types: KV_F32, KV_F16 or KV_Q8_0 (kernels.h) */
    cpu_layer_vecs *lv;      /* (n_layer) */
    float *vecs;             /* the floats lv points into, and output_norm (n_embd) at the end */
    float *out_norm;         /* (n_embd) */
    int32_t n_rope_sets;     /* 1 or 2 */
    double *inv_freq; /* (CPU_ROPE_SETS, head_dim/2) scale * base^(-2i/n_rot) / factor_i, the first
                         n_rot/2 used */
    /* activations of one slice of a batch */
    float *x;       /* (n_batch, n_embd) residual stream */
    float *xn;      /* (n_batch, n_embd) normalized input of a block */
    float *q;       /* (n_batch, q_dim) queries, q_dim = n_head*head_dim */
    float *k;       /* (n_batch, kv_dim) keys, kv_dim = n_head_kv*head_dim */
    float *v;       /* (n_batch, kv_dim) values */
    float *qkv;     /* (n_batch, q_dim + 2*kv_dim) fused projection output (FUSED_QKV only) */
    float *att;     /* (n_batch, q_dim) attention output, heads side by side */
    float *gate;    /* (n_batch, n_ff) FFN gate, then act(gate)*up */
    float *up;      /* (n_batch, n_ff) FFN up; (n_batch, 2*n_ff) gate | up when fused */
    float *rope_cs; /* (CPU_ROPE_SETS, n_batch, head_dim) (cos, sin) pairs of each position */
    void *block;    /* the one allocation the buffers above are carved from */
};

/* Start of the cache rows of sequence seq, layer l (a layer of the part), in elements. */
static size_t cpu_kv_base(const cpu_state *s, int32_t seq, int32_t l) {
    return (((size_t)seq * (size_t)(s->l1 - s->l0) + (size_t)(l - s->l0)) * (size_t)s->n_ctx) *
           (size_t)s->kv_dim;
}

/* Bytes of n cache elements of a type, for every offset into a cache: element offsets of a Q8_0
 * cache are whole blocks (cpu_part_init and context.c see to head_dim % 32 == 0, so kv_dim, row
 * starts and KV head slices are multiples of 32). */
static size_t cpu_kv_bytes(int32_t type, size_t n) {
    assert(type != KV_Q8_0 || n % 32 == 0);
    return kern_kv_bytes(type, n);
}

/* The kernels' cache type of a context's. */
static int32_t cpu_kv_type(lmc_kv_type t) {
    return t == LMC_KV_Q8_0 ? KV_Q8_0 : t == LMC_KV_F16 ? KV_F16 : KV_F32;
}

/* A zeroed cache of n bytes whose pages come when first touched (untouched positions cost no
 * memory), from 2 MB transparent huge pages where the kernel gives them on request: decode at depth
 * reads every cached position of every layer per token, one KV head's slice of each row (rows of
 * kv_dim elements), and from 4 KB pages that is a TLB miss every few rows. */
static void *cpu_kv_alloc(size_t n) {
    if (n < ((size_t)2 << 20)) return calloc(1, n ? n : 1);
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE); /* a hint: without it the pages are 4 KB, nothing else changes */
#endif
    return p;
}

static void cpu_kv_free(void *p, size_t n) {
    if (!p) return;
    if (n < ((size_t)2 << 20))
        free(p);
    else
        munmap(p, n);
}

/* Stores n floats into the cache of the given type at element `at`. */
static void cpu_kv_store(void *cache, int32_t type, size_t at, const float *x, int32_t n) {
    if (type == KV_Q8_0) {
        kern_kv_quantize_q8_0(x, (char *)cache + cpu_kv_bytes(type, at), n);
    } else if (type == KV_F16) {
        uint16_t *h = (uint16_t *)cache + at;
        for (int32_t i = 0; i < n; i++)
            h[i] = lmc_f32_to_f16(x[i]);
    } else {
        memcpy((float *)cache + at, x, (size_t)n * sizeof(float));
    }
}

static size_t cpu_floats(int64_t n) {
    return ((size_t)n + 15) & ~(size_t)15;
} /* 64-byte steps */

/* ---- ops ----------------------------------------------------------------------------------------
 */

void cpu_rmsnorm(const float *x, const float *w, float *out, int32_t n, float eps) {
    double ss = 0; /* double: n terms of x^2 without f32 rounding drift; the cost is O(n) */
    for (int32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    for (int32_t i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

void cpu_rope_cos_sin(double pos, const double *inv_freq, int32_t n_rot, float *cs) {
    for (int32_t i = 0; i < n_rot / 2; i++) {
        double th = pos * inv_freq[i];
        cs[2 * i] = (float)cos(th);
        cs[2 * i + 1] = (float)sin(th);
    }
}

void cpu_rope(float *v, int32_t n_heads, int32_t head_dim, int32_t n_rot, const float *cs) {
    for (int32_t h = 0; h < n_heads; h++) {
        float *p = v + (int64_t)h * head_dim;
        for (int32_t i = 0; i < n_rot / 2; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1], a = p[2 * i], b = p[2 * i + 1];
            p[2 * i] = a * c - b * s;
            p[2 * i + 1] = a * s + b * c;
        }
    }
}

void cpu_rope_neox(float *v, int32_t n_heads, int32_t head_dim, int32_t n_rot, const float *cs) {
    const int32_t half = n_rot / 2;
    for (int32_t h = 0; h < n_heads; h++) {
        float *p = v + (int64_t)h * head_dim;
        for (int32_t i = 0; i < half; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1], a = p[i], b = p[i + half];
            p[i] = a * c - b * s;
            p[i + half] = a * s + b * c;
        }
    }
}

static void cpu_rope_style(lmc_rope_style style, float *v, int32_t n_heads, int32_t head_dim,
                           int32_t n_rot, const float *cs) {
    if (style == LMC_ROPE_NEOX)
        cpu_rope_neox(v, n_heads, head_dim, n_rot, cs);
    else
        cpu_rope(v, n_heads, head_dim, n_rot, cs);
}

/* The activations go through vmath.h's array exp and tanh a chunk at a time: the argument into a
 * local buffer, exp or tanh there in place, then the product (out may alias gate: each value is
 * read before it is written). */
#define ACT_CHUNK 256

void cpu_swiglu(const float *gate, const float *up, float *out, int64_t n) {
    float e[ACT_CHUNK];
    for (int64_t i0 = 0; i0 < n; i0 += ACT_CHUNK) {
        const int64_t m = n - i0 < ACT_CHUNK ? n - i0 : ACT_CHUNK;
        const float *g = gate + i0, *u = up + i0;
        for (int64_t i = 0; i < m; i++)
            e[i] = -g[i];
        vmath_exp(e, e, m);
        for (int64_t i = 0; i < m; i++)
            out[i0 + i] = g[i] / (1.0f + e[i]) * u[i];
    }
}

void cpu_geglu_tanh(const float *gate, const float *up, float *out, int64_t n) {
    const float k = 0.79788456080286535588f; /* sqrt(2/pi) */
    float t[ACT_CHUNK];
    for (int64_t i0 = 0; i0 < n; i0 += ACT_CHUNK) {
        const int64_t m = n - i0 < ACT_CHUNK ? n - i0 : ACT_CHUNK;
        const float *g = gate + i0, *u = up + i0;
        for (int64_t i = 0; i < m; i++)
            t[i] = k * g[i] * (1.0f + 0.044715f * g[i] * g[i]);
        vmath_tanh(t, t, m);
        for (int64_t i = 0; i < m; i++)
            out[i0 + i] = 0.5f * g[i] * (1.0f + t[i]) * u[i];
    }
}

void cpu_softcap(float *x, int64_t n, float cap) {
    const float inv = 1.0f / cap;
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
    vmath_tanh(x, x, n);
    for (int64_t i = 0; i < n; i++)
        x[i] *= cap;
}

void cpu_add_bias(float *y, const float *b, int32_t n_rows, int32_t n) {
    for (int32_t r = 0; r < n_rows; r++)
        for (int32_t i = 0; i < n; i++)
            y[(size_t)r * n + i] += b[i];
}

/* act(gate)*up over a batch, split by 1024-value items across the pool (a prompt's FFN has n_tok *
 * n_ff values: too many exps for one thread while the other waits). Row r's gate and up start at
 * r*stride and r*stride + up_off of `in` (fused gate|up: stride 2*n_ff, up_off n_ff; separate
 * buffers: stride n_ff, in = gate, up passed apart); out is (n_rows, n_ff). */
typedef struct {
    const float *gate, *up;
    float *out;
    int64_t stride, n_ff, n;
    lmc_ffn_act act;
} ffn_act_job;

static void ffn_act_items(void *arg, int64_t i0, int64_t i1, int tid) {
    (void)tid;
    const ffn_act_job *j = arg;
    const int64_t b = i0 * 1024, e = i1 * 1024 < j->n ? i1 * 1024 : j->n;
    for (int64_t at = b; at < e;) { /* one run within a row at a time */
        int64_t r = at / j->n_ff, c = at % j->n_ff, len = j->n_ff - c;
        if (len > e - at) len = e - at;
        const float *g = j->gate + r * j->stride + c, *u = j->up + r * j->stride + c;
        if (j->act == LMC_ACT_GELU_TANH)
            cpu_geglu_tanh(g, u, j->out + at, len);
        else
            cpu_swiglu(g, u, j->out + at, len);
        at += len;
    }
}

/* ---- attention ----------------------------------------------------------------------------------
 */

/* In place: a row of n_t scores (soft-capped when softcap > 0: cap * tanh(score / cap)) becomes
 * its softmax weights. */
static void att_softmax(float *sc, int32_t n_t, float softcap) {
    if (softcap > 0) {
        for (int32_t t = 0; t < n_t; t++)
            sc[t] /= softcap;
        vmath_tanh(sc, sc, n_t);
        for (int32_t t = 0; t < n_t; t++)
            sc[t] *= softcap;
    }
    float mx = -INFINITY;
    for (int32_t t = 0; t < n_t; t++)
        mx = sc[t] > mx ? sc[t] : mx;
    for (int32_t t = 0; t < n_t; t++)
        sc[t] -= mx;
    vmath_exp(sc, sc, n_t);
    float sum = 0;
    for (int32_t t = 0; t < n_t; t++)
        sum += sc[t];
    float inv = 1.0f / sum;
    for (int32_t t = 0; t < n_t; t++)
        sc[t] *= inv;
}

/* The first cache position token i sees: its sequence's start, or past the sliding window. */
static int32_t att_first(const cpu_attn_args *a, int32_t i) {
    int32_t t0 = a->seq_start[a->seq[i]];
    if (a->n_swa > 0 && a->pos[i] - a->n_swa + 1 > t0) t0 = a->pos[i] - a->n_swa + 1;
    return t0;
}

typedef struct {
    const cpu_attn_args *a;
    tp_pool *pool;
    int32_t tb, hb, n_hb; /* tokens and heads per item, head blocks per KV head */
} att_job;

/* The reference: items are (token, head) pairs, item = i*n_head + h, one dot per key and one axpy
 * per value (f32 caches only). Scores of one row live in thread scratch. */
static void att_rows(void *arg, int64_t it0, int64_t it1, int tid) {
    const att_job *j = arg;
    const cpu_attn_args *a = j->a;
    const int32_t hd = a->head_dim, group = a->n_head / a->n_head_kv, kv_dim = a->n_head_kv * hd;
    const size_t q_dim = (size_t)a->n_head * hd;
    float *score = tp_scratch(j->pool, tid); /* (n_ctx) */
    const kern_table *kt = a->kt ? a->kt : kern_best();
    const kern_dot_fn dot = kt->dot_f32;
    const kern_axpy_fn axpy = kt->axpy_f32;
    for (int64_t it = it0; it < it1; it++) {
        int32_t i = (int32_t)(it / a->n_head), h = (int32_t)(it % a->n_head), g = h / group;
        int32_t pos = a->pos[i], t0 = att_first(a, i);
        /* keys and values from position t0 on; sc[t] is the score of position t0 + t */
        size_t base = (size_t)a->seq[i] * a->seq_stride + (size_t)t0 * kv_dim + (size_t)g * hd;
        const float *kc = (const float *)a->k + base, *vc = (const float *)a->v + base;
        const float *q = a->q + (size_t)i * q_dim + (size_t)h * hd;
        const int32_t n_t = pos - t0 + 1;
        float *sc = score;
        for (int32_t t = 0; t < n_t; t++)
            sc[t] = dot(q, kc + (size_t)t * kv_dim, hd) * a->scale;
        att_softmax(sc, n_t, a->softcap);
        float *out = a->out + (size_t)i * q_dim + (size_t)h * hd;
        for (int32_t d = 0; d < hd; d++)
            out[d] = 0;
        for (int32_t t = 0; t < n_t; t++)
            axpy(out, sc[t], vc + (size_t)t * kv_dim, hd);
    }
}

/* Row i's share [*b, *e) of the key chunk [c0, c1) (its keys: [att_first, pos]); false if none. */
static bool att_clip(const cpu_attn_args *a, int32_t i, int32_t c0, int32_t c1, int32_t *b,
                     int32_t *e) {
    const int32_t first = att_first(a, i), end = a->pos[i] + 1;
    *b = c0 > first ? c0 : first;
    *e = c1 < end ? c1 : end;
    return *b < *e;
}

/* Tokens [r0, r1) (consecutive positions of one sequence) x heads [h0, h1) (of KV head g): every
 * row's scores over the block's key range [lo, hi] first, key chunk by key chunk (a chunk stays in
 * L1 while each row's dots run over it), then each row's softmax, then the weighted values chunk by
 * chunk. Row r's scores sit at score + r*span, position t at index t - lo; a row's own range is
 * [att_first, pos] (the window moves, the causal end grows, with the token). */
static void att_block(const att_job *j, int32_t r0, int32_t r1, int32_t h0, int32_t h1, int32_t g,
                      float *score) {
    const cpu_attn_args *a = j->a;
    const kern_table *kt = a->kt ? a->kt : kern_best();
    const kern_att_dot_fn adot = kt->att_dot[a->k_type];
    const kern_att_wsum_fn wsum = kt->att_wsum[a->v_type];
    const int32_t hd = a->head_dim, kv_dim = a->n_head_kv * hd, nh = h1 - h0;
    const size_t q_dim = (size_t)a->n_head * hd;
    const int32_t lo = att_first(a, r0), hi = a->pos[r1 - 1], span = hi - lo + 1;
    const size_t base = (size_t)a->seq[r0] * a->seq_stride + (size_t)lo * kv_dim + (size_t)g * hd;
    const char *kb = (const char *)a->k + cpu_kv_bytes(a->k_type, base),
               *vb = (const char *)a->v + cpu_kv_bytes(a->v_type, base);
    /* keys per chunk: about 16 KB of them */
    const size_t khb = cpu_kv_bytes(a->k_type, (size_t)hd),
                 vhb = cpu_kv_bytes(a->v_type, (size_t)hd);
    int32_t ch = (int32_t)(16384 / (khb > vhb ? khb : vhb));
    ch = ch < 16 ? 16 : ch > 256 ? 256 : ch;
    for (int32_t c0 = lo; c0 <= hi; c0 += ch) {
        const int32_t c1 = c0 + ch < hi + 1 ? c0 + ch : hi + 1;
        for (int32_t i = r0; i < r1; i++) {
            int32_t b, e;
            if (!att_clip(a, i, c0, c1, &b, &e)) continue;
            for (int32_t h = h0; h < h1; h++)
                adot(a->q + (size_t)i * q_dim + (size_t)h * hd,
                     kb + cpu_kv_bytes(a->k_type, (size_t)(b - lo) * kv_dim), (size_t)kv_dim, e - b,
                     hd, a->scale, score + (size_t)((i - r0) * nh + h - h0) * span + (b - lo));
        }
    }
    for (int32_t i = r0; i < r1; i++) {
        const int32_t t0 = att_first(a, i);
        for (int32_t h = h0; h < h1; h++) {
            att_softmax(score + (size_t)((i - r0) * nh + h - h0) * span + (t0 - lo),
                        a->pos[i] - t0 + 1, a->softcap);
            memset(a->out + (size_t)i * q_dim + (size_t)h * hd, 0, (size_t)hd * sizeof(float));
        }
    }
    for (int32_t c0 = lo; c0 <= hi; c0 += ch) {
        const int32_t c1 = c0 + ch < hi + 1 ? c0 + ch : hi + 1;
        for (int32_t i = r0; i < r1; i++) {
            int32_t b, e;
            if (!att_clip(a, i, c0, c1, &b, &e)) continue;
            for (int32_t h = h0; h < h1; h++)
                wsum(a->out + (size_t)i * q_dim + (size_t)h * hd,
                     score + (size_t)((i - r0) * nh + h - h0) * span + (b - lo),
                     vb + cpu_kv_bytes(a->v_type, (size_t)(b - lo) * kv_dim), (size_t)kv_dim, e - b,
                     hd);
        }
    }
}

/* Items are (token block, KV head, head block): item = (tblock*n_head_kv + g)*n_hb + hblock. A
 * token block (j->tb batch rows) is cut where the sequence or the run of positions changes. */
static void att_items(void *arg, int64_t it0, int64_t it1, int tid) {
    const att_job *j = arg;
    const cpu_attn_args *a = j->a;
    const int32_t group = a->n_head / a->n_head_kv;
    float *score = tp_scratch(j->pool, tid);
    for (int64_t it = it0; it < it1; it++) {
        const int32_t hblk = (int32_t)(it % j->n_hb), g = (int32_t)(it / j->n_hb % a->n_head_kv),
                      tblk = (int32_t)(it / j->n_hb / a->n_head_kv);
        const int32_t h0 = g * group + hblk * j->hb,
                      h1 = h0 + j->hb < (g + 1) * group ? h0 + j->hb : (g + 1) * group;
        const int32_t i0 = tblk * j->tb, i1 = i0 + j->tb < a->n_tok ? i0 + j->tb : a->n_tok;
        for (int32_t r0 = i0, r1; r0 < i1; r0 = r1) {
            for (r1 = r0 + 1;
                 r1 < i1 && a->seq[r1] == a->seq[r0] && a->pos[r1] == a->pos[r1 - 1] + 1;)
                r1++;
            att_block(j, r0, r1, h0, h1, g, score);
        }
    }
}

size_t cpu_attention_scratch_bytes(int32_t n_ctx) {
    /* room for several rows of scores at once (up to 32 at a span of 32768 keys: 4 MB) */
    int64_t n = (int64_t)n_ctx * 32;
    if (n > ((int64_t)1 << 20)) n = (int64_t)1 << 20;
    if (n < n_ctx) n = n_ctx;
    return (size_t)n * sizeof(float);
}

/* Tokens per block, at most: a prompt's rows of 4 tokens x a GQA group share each key and value. */
#define ATT_TB 4

void cpu_attention(const cpu_attn_args *a, tp_pool *pool) {
    const int32_t group = a->n_head / a->n_head_kv;
    int32_t max_span = 1;
    for (int32_t i = 0; i < a->n_tok; i++)
        if (a->pos[i] - a->seq_start[a->seq[i]] + 1 > max_span)
            max_span = a->pos[i] - a->seq_start[a->seq[i]] + 1;
    const int64_t rows_cap = (int64_t)(tp_scratch_bytes(pool) / sizeof(float)) / max_span;
    assert(rows_cap >= 1);
    att_job j = {a, pool, ATT_TB, group, 1};
    while ((int64_t)j.tb * j.hb > rows_cap && j.tb > 1)
        j.tb /= 2;
    while ((int64_t)j.tb * j.hb > rows_cap && j.hb > 1)
        j.hb = (j.hb + 1) / 2;
    /* enough items for the pool to balance (a prompt's later tokens see more keys) */
    const int64_t want = (int64_t)tp_n_threads(pool) * (a->n_tok > 1 ? 4 : 1);
    for (;;) {
        j.n_hb = (group + j.hb - 1) / j.hb;
        const int64_t items = (int64_t)((a->n_tok + j.tb - 1) / j.tb) * a->n_head_kv * j.n_hb;
        if (items >= want || (j.tb == 1 && j.hb == 1)) {
            tp_parallel_for(pool, items, att_items, &j);
            return;
        }
        if (j.tb > 1)
            j.tb /= 2;
        else
            j.hb = (j.hb + 1) / 2;
    }
}

void cpu_attention_ref(const cpu_attn_args *a, tp_pool *pool) {
    assert(a->k_type == KV_F32 && a->v_type == KV_F32);
    att_job j = {a, pool, 1, 1, 1};
    tp_parallel_for(pool, (int64_t)a->n_tok * a->n_head, att_rows, &j);
}

/* ---- the blocks ---------------------------------------------------------------------------------
 */

/* q, k, v of the batch's n rows from the normalized input xn: the projections (fused or not) and
 * their biases, the per-head q/k norms, RoPE; k and v then go to the cache. */
static void qkv_block(cpu_state *s, const lmc_fwd_batch *b, int32_t l) {
    const lmc_model *m = s->m;
    const lmc_hparams *hp = &m->hp;
    const lmc_layer *L = &m->layers[l];
    const cpu_layer_vecs *V = &s->lv[l];
    const int32_t n = b->n, hd = hp->head_dim, Q = s->q_dim, KV = s->kv_dim;
    if (L->wqkv) { /* fused: each row is q | k | v */
        cpu_matmul(L->wqkv, s->xn, s->qkv, n, s->pool);
        for (int32_t i = 0; i < n; i++) {
            const float *r = s->qkv + (size_t)i * (Q + 2 * KV);
            memcpy(s->q + (size_t)i * Q, r, (size_t)Q * sizeof(float));
            memcpy(s->k + (size_t)i * KV, r + Q, (size_t)KV * sizeof(float));
            memcpy(s->v + (size_t)i * KV, r + Q + KV, (size_t)KV * sizeof(float));
        }
    } else {
        const gguf_tensor *w3[3] = {L->wq, L->wk, L->wv};
        float *y3[3] = {s->q, s->k, s->v};
        cpu_matmul_multi(w3, y3, 3, s->xn, n, s->pool);
    }
    if (V->bq) {
        cpu_add_bias(s->q, V->bq, n, Q);
        cpu_add_bias(s->k, V->bk, n, KV);
        cpu_add_bias(s->v, V->bv, n, KV);
    }
    const float *cs_set = s->rope_cs + (size_t)V->rope_set * s->n_batch * hd;
    for (int32_t i = 0; i < n; i++) {
        float *q = s->q + (size_t)i * Q, *k = s->k + (size_t)i * KV;
        if (V->q_norm) {
            for (int32_t h = 0; h < hp->n_head; h++)
                cpu_rmsnorm(q + (size_t)h * hd, V->q_norm, q + (size_t)h * hd, hd, hp->norm_eps);
            for (int32_t h = 0; h < hp->n_head_kv; h++)
                cpu_rmsnorm(k + (size_t)h * hd, V->k_norm, k + (size_t)h * hd, hd, hp->norm_eps);
        }
        const float *cs = cs_set + (size_t)i * hd;
        cpu_rope_style(hp->rope, q, hp->n_head, hd, hp->n_rot, cs);
        cpu_rope_style(hp->rope, k, hp->n_head_kv, hd, hp->n_rot, cs);
        size_t at = cpu_kv_base(s, b->seq[i], l) + (size_t)b->pos[i] * KV;
        cpu_kv_store(s->k_cache, s->k_type, at, k, KV);
        cpu_kv_store(s->v_cache, s->v_type, at, s->v + (size_t)i * KV, KV);
    }
}

/* x += [post_norm](attention(rmsnorm(x))) */
static void attention_block(cpu_state *s, const lmc_fwd_batch *b, int32_t l) {
    const lmc_hparams *hp = &s->m->hp;
    const cpu_layer_vecs *V = &s->lv[l];
    const int32_t n = b->n, E = hp->n_embd;
    for (int32_t i = 0; i < n; i++)
        cpu_rmsnorm(s->x + (size_t)i * E, V->attn_norm, s->xn + (size_t)i * E, E, hp->norm_eps);
    qkv_block(s, b, l);
    const cpu_attn_args aa = {
        .n_tok = n,
        .n_head = hp->n_head,
        .n_head_kv = hp->n_head_kv,
        .head_dim = hp->head_dim,
        .pos = b->pos,
        .seq = b->seq,
        .seq_start = b->seq_start,
        .q = s->q,
        .out = s->att,
        .k = (const char *)s->k_cache + cpu_kv_bytes(s->k_type, cpu_kv_base(s, 0, l)),
        .v = (const char *)s->v_cache + cpu_kv_bytes(s->v_type, cpu_kv_base(s, 0, l)),
        .k_type = s->k_type,
        .v_type = s->v_type,
        .seq_stride = cpu_kv_base(s, 1, s->l0),
        .scale = hp->attn_scale,
        .softcap = (hp->flags & LMC_BLK_ATTN_SOFTCAP) ? hp->attn_softcap : 0.0f,
        .n_swa = s->m->layers[l].swa ? hp->n_swa : 0,
    };
    cpu_attention(&aa, s->pool);
    cpu_matmul(s->m->layers[l].wo, s->att, s->xn, n, s->pool);
    if (V->attn_post_norm)
        for (int32_t i = 0; i < n; i++)
            cpu_rmsnorm(s->xn + (size_t)i * E, V->attn_post_norm, s->xn + (size_t)i * E, E,
                        hp->norm_eps);
    for (size_t i = 0; i < (size_t)n * E; i++)
        s->x[i] += s->xn[i];
}

/* x += [post_norm](down(act(gate(xn)) * up(xn))), xn = rmsnorm(x) */
static void ffn_block(cpu_state *s, int32_t n, int32_t l) {
    const lmc_hparams *hp = &s->m->hp;
    const lmc_layer *L = &s->m->layers[l];
    const cpu_layer_vecs *V = &s->lv[l];
    const int32_t E = hp->n_embd, F = hp->n_ff;
    for (int32_t i = 0; i < n; i++)
        cpu_rmsnorm(s->x + (size_t)i * E, V->ffn_norm, s->xn + (size_t)i * E, E, hp->norm_eps);
    ffn_act_job fj = {s->gate, s->up, s->gate, F, F, (int64_t)n * F, hp->act};
    if (L->ffn_gate) {
        const gguf_tensor *w2[2] = {L->ffn_gate, L->ffn_up};
        float *y2[2] = {s->gate, s->up};
        cpu_matmul_multi(w2, y2, 2, s->xn, n, s->pool);
    } else { /* fused: each row of up is gate | up */
        cpu_matmul(L->ffn_up, s->xn, s->up, n, s->pool);
        fj.gate = s->up;
        fj.up = s->up + F;
        fj.stride = 2 * (int64_t)F;
    }
    tp_parallel_for(s->pool, (fj.n + 1023) / 1024, ffn_act_items, &fj);
    cpu_matmul(L->ffn_down, s->gate, s->xn, n, s->pool);
    if (V->ffn_post_norm)
        for (int32_t i = 0; i < n; i++)
            cpu_rmsnorm(s->xn + (size_t)i * E, V->ffn_post_norm, s->xn + (size_t)i * E, E,
                        hp->norm_eps);
    for (size_t i = 0; i < (size_t)n * E; i++)
        s->x[i] += s->xn[i];
}

/* Final norm of the wanted rows, packed at the top of xn, then the output projection (and the
 * final soft-cap); the observer sees the observed row's norm and logits. */
static void output_block(cpu_state *s, const lmc_fwd_batch *b) {
    const lmc_hparams *hp = &s->m->hp;
    const int32_t n = b->n, E = hp->n_embd;
    const lmc_observer obs = b->observe;
    int32_t n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        if (b->want[i]) {
            cpu_rmsnorm(s->x + (size_t)i * E, s->out_norm, s->xn + (size_t)n_out * E, E,
                        hp->norm_eps);
            n_out++;
        }
    }
    for (int32_t i = 0; b->hidden && i < n; i++) /* lmc_embed: every token's final norm */
        cpu_rmsnorm(s->x + (size_t)i * E, s->out_norm, b->hidden + (size_t)i * E, E, hp->norm_eps);
    if (obs) {
        float *row = s->att; /* free now: the observed token's final norm */
        cpu_rmsnorm(s->x + (size_t)b->observe_row * E, s->out_norm, row, E, hp->norm_eps);
        obs(b->observe_user, LMC_OBSERVE_FINAL_NORM, -1, row, E);
    }
    if (n_out) cpu_matmul(s->m->output, s->xn, b->logits, n_out, s->pool);
    if (n_out && (hp->flags & LMC_BLK_FINAL_SOFTCAP))
        cpu_softcap(b->logits, (int64_t)n_out * hp->n_vocab, hp->final_softcap);
    if (obs && b->want[b->observe_row]) { /* its logits are the last of the wanted rows up to it */
        int32_t r = 0;
        for (int32_t i = 0; i < b->observe_row; i++)
            r += b->want[i] != 0;
        obs(b->observe_user, LMC_OBSERVE_LOGITS, -1, b->logits + (size_t)r * hp->n_vocab,
            hp->n_vocab);
    }
}

/* ---- the forward pass ---------------------------------------------------------------------------
 */

lmc_status cpu_part_forward(cpu_state *s, const lmc_fwd_batch *b, const float *hidden_in,
                            float *hidden_out) {
    const lmc_model *m = s->m;
    const lmc_hparams *hp = &m->hp;
    const int32_t n = b->n, E = hp->n_embd, hd = hp->head_dim;
    const lmc_observer obs = b->observe;

    assert(hidden_in || s->l0 == 0); /* a part after layer 0 has no embedding lookup */
    if (hidden_in) {
        memcpy(s->x, hidden_in, (size_t)n * E * sizeof(float));
    } else {
        /* embeddings: dequantize each token's row of token_embd (gemma: times sqrt(n_embd)) */
        const uint64_t emb_row = lmc_row_size(m->tok_embd->type, E);
        for (int32_t i = 0; i < n; i++)
            lmc_dequantize(m->tok_embd->type,
                           (const uint8_t *)m->tok_embd->data + (uint64_t)b->token[i] * emb_row,
                           s->x + (size_t)i * E, E);
        if (hp->flags & LMC_BLK_EMBD_SCALE)
            for (size_t i = 0; i < (size_t)n * E; i++)
                s->x[i] *= hp->embd_scale;
    }
    for (int32_t r = 0; r < s->n_rope_sets; r++)
        for (int32_t i = 0; i < n; i++)
            cpu_rope_cos_sin(b->pos[i], s->inv_freq + (size_t)r * (hd / 2), hp->n_rot,
                             s->rope_cs + ((size_t)r * s->n_batch + i) * hd);
    if (hp->rope_attn_factor != 1.0f) /* LongRoPE: q and k both scaled (ggml's rope mscale) */
        for (size_t i = 0; i < (size_t)s->n_rope_sets * s->n_batch * hd; i++)
            s->rope_cs[i] *= hp->rope_attn_factor;

    for (int32_t l = s->l0; l < s->l1; l++) {
        attention_block(s, b, l);
        ffn_block(s, n, l);
        if (obs) obs(b->observe_user, LMC_OBSERVE_LAYER, l, s->x + (size_t)b->observe_row * E, E);
    }

    if (s->l1 < hp->n_layer) { /* the rest of the layers run elsewhere: hand over the residual */
        if (hidden_out) memcpy(hidden_out, s->x, (size_t)n * E * sizeof(float));
        return LMC_OK;
    }
    output_block(s, b);
    return LMC_OK;
}

static lmc_status cpu_forward(void *state, const lmc_fwd_batch *b) {
    return cpu_part_forward(state, b, NULL, NULL);
}

/* ---- KV shift -----------------------------------------------------------------------------------
 */

/* Keys are stored rotated by pos*inv_freq; rotations add, so turning them by (to - from)*inv_freq
 * gives the keys at their new positions (without rope_attn_factor: their scale is already in).
 * Values do not depend on the position and just move. */
void cpu_part_kv_shift(cpu_state *s, int32_t seq, int32_t from, int32_t n, int32_t to) {
    const lmc_hparams *hp = &s->m->hp;
    float *cs = tp_scratch(s->pool, 0); /* (CPU_ROPE_SETS, head_dim), then a key row (kv_dim) */
    float *kf = cs + (size_t)CPU_ROPE_SETS * hp->head_dim;
    for (int32_t r = 0; r < s->n_rope_sets; r++)
        cpu_rope_cos_sin((double)to - from, s->inv_freq + (size_t)r * (hp->head_dim / 2), hp->n_rot,
                         cs + (size_t)r * hp->head_dim);
    for (int32_t l = s->l0; l < s->l1; l++) {
        size_t base = cpu_kv_base(s, seq, l);
        const float *lcs = cs + (size_t)s->lv[l].rope_set * hp->head_dim;
        for (int32_t p = 0; p < n; p++) { /* to < from: moving down in increasing order is safe */
            const size_t src = base + (size_t)(from + p) * s->kv_dim,
                         dst = base + (size_t)(to + p) * s->kv_dim;
            memmove((char *)s->v_cache + cpu_kv_bytes(s->v_type, dst),
                    (const char *)s->v_cache + cpu_kv_bytes(s->v_type, src),
                    cpu_kv_bytes(s->v_type, (size_t)s->kv_dim));
            /* f16 and q8_0 keys: widened, rotated in f32 and stored rounded (quantized) again, as
             * ggml's shift of a quantized or half K cache does */
            if (s->k_type == KV_Q8_0) {
                kern_dequantize_row(LMC_TYPE_Q8_0,
                                    (const char *)s->k_cache + cpu_kv_bytes(s->k_type, src), kf,
                                    s->kv_dim);
            } else if (s->k_type == KV_F16) {
                const uint16_t *kh = (const uint16_t *)s->k_cache + src;
                for (int32_t d = 0; d < s->kv_dim; d++)
                    kf[d] = lmc_f16_to_f32(kh[d]);
            } else {
                memcpy(kf, (const float *)s->k_cache + src, (size_t)s->kv_dim * sizeof(float));
            }
            cpu_rope_style(hp->rope, kf, hp->n_head_kv, hp->head_dim, hp->n_rot, lcs);
            cpu_kv_store(s->k_cache, s->k_type, dst, kf, s->kv_dim);
        }
    }
}

static void cpu_kv_shift(void *state, int32_t seq, int32_t from, int32_t n, int32_t to) {
    cpu_part_kv_shift(state, seq, from, n, to);
}

/* ---- init / free --------------------------------------------------------------------------------
 */

void cpu_part_free(cpu_state *s) {
    if (!s) return;
    tp_free(s->pool);
    cpu_kv_free(s->k_cache, s->k_bytes);
    cpu_kv_free(s->v_cache, s->v_bytes);
    free(s->lv);
    free(s->vecs);
    free(s->block);
    free(s);
}

/* Dequantizes a small vector (a norm or a bias) to f32 at *at and advances *at; NULL when absent.
 */
static float *vec_take(const gguf_tensor *t, int64_t n, float **at) {
    if (!t) return NULL;
    float *v = *at;
    lmc_dequantize(t->type, t->data, v, n);
    *at += cpu_floats(n);
    return v;
}

/* The per-layer vectors (norms, biases), the output norm and the RoPE frequency sets: layer l
 * rotates the first n_rot dims of a head by theta_i = pos * scale_l * base_l^(-2i/n_rot) /
 * factor_i (i < n_rot/2; the rest pass unchanged, as ggml's rope with n_dims < ne0), with the
 * LongRoPE divisors chosen by n_ctx as llama.cpp chooses them. */
static lmc_status cpu_init_vectors(cpu_state *s, const lmc_context_params *p) {
    const lmc_model *m = s->m;
    const lmc_hparams *hp = &m->hp;
    const int32_t E = hp->n_embd, hd = hp->head_dim;
    int64_t n = cpu_floats(E);
    for (int32_t l = 0; l < hp->n_layer; l++)
        n += 4 * cpu_floats(E) + 2 * cpu_floats(hd) + cpu_floats(s->q_dim) +
             2 * cpu_floats(s->kv_dim);
    s->lv = calloc((size_t)hp->n_layer, sizeof *s->lv);
    s->vecs = malloc((size_t)n * sizeof(float));
    if (!s->lv || !s->vecs) return lmc_err(LMC_ERR_OOM, "out of memory for the norm weights");
    float *at = s->vecs;
    float factors[512]; /* n_rot/2 <= 512 (arch.c caps head_dim at 1024) */
    const gguf_tensor *ft = arch_rope_factors(m, p->n_ctx);
    if (ft) lmc_dequantize(ft->type, ft->data, factors, hp->n_rot / 2);
    float set_base[CPU_ROPE_SETS], set_scale[CPU_ROPE_SETS];
    s->n_rope_sets = 0;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const lmc_layer *L = &m->layers[l];
        cpu_layer_vecs *V = &s->lv[l];
        V->attn_norm = vec_take(L->attn_norm, E, &at);
        V->ffn_norm = vec_take(L->ffn_norm, E, &at);
        V->attn_post_norm = vec_take(L->attn_post_norm, E, &at);
        V->ffn_post_norm = vec_take(L->ffn_post_norm, E, &at);
        V->q_norm = vec_take(L->q_norm, hd, &at);
        V->k_norm = vec_take(L->k_norm, hd, &at);
        V->bq = vec_take(L->bq, s->q_dim, &at);
        V->bk = vec_take(L->bk, s->kv_dim, &at);
        V->bv = vec_take(L->bv, s->kv_dim, &at);
        int32_t r = 0;
        while (r < s->n_rope_sets && (set_base[r] != L->rope_base || set_scale[r] != L->rope_scale))
            r++;
        if (r == s->n_rope_sets) {
            if (r == CPU_ROPE_SETS)
                return lmc_err(LMC_ERR_UNSUPPORTED, "CPU forward: more than %d RoPE bases",
                               CPU_ROPE_SETS);
            set_base[r] = L->rope_base;
            set_scale[r] = L->rope_scale;
            for (int32_t i = 0; i < hp->n_rot / 2; i++) /* partial rotary: n_rot < head_dim */
                s->inv_freq[(size_t)r * (hd / 2) + i] =
                    (double)L->rope_scale * pow((double)L->rope_base, -2.0 * i / hp->n_rot) /
                    (ft ? (double)factors[i] : 1.0);
            s->n_rope_sets++;
        }
        V->rope_set = r;
    }
    s->out_norm = vec_take(m->output_norm, E, &at);
    return LMC_OK;
}

lmc_status cpu_part_init(const lmc_model *m, const lmc_context_params *p, int32_t l0, int32_t l1,
                         cpu_state **out) {
    const lmc_hparams *hp = &m->hp;
    *out = NULL;
    if (l0 < 0 || l0 >= l1 || l1 > hp->n_layer)
        return lmc_err(LMC_ERR_INVALID_ARG, "CPU forward: layer range [%d, %d) outside [0, %d)", l0,
                       l1, hp->n_layer);
    cpu_state *s = calloc(1, sizeof *s);
    if (!s) return lmc_err(LMC_ERR_OOM, "out of memory");
    lmc_status st = LMC_OK;
    s->m = m;
    s->n_ctx = p->n_ctx;
    s->n_batch = p->n_batch;
    s->l0 = l0;
    s->l1 = l1;
    s->q_dim = hp->n_head * hp->head_dim;
    s->kv_dim = hp->n_head_kv * hp->head_dim;
    const int32_t E = hp->n_embd, B = p->n_batch, hd = hp->head_dim;
    const bool fused_qkv = (hp->flags & LMC_BLK_FUSED_QKV) != 0;
    const bool fused_up = (hp->flags & LMC_BLK_FUSED_UP) != 0;

    /* KV cache of the part's layers: untouched positions cost no memory until used */
    uint64_t kv_n =
        (uint64_t)p->n_seq * (uint64_t)(l1 - l0) * (uint64_t)p->n_ctx * (uint64_t)s->kv_dim;
    if (kv_n > SIZE_MAX / sizeof(float) / 2) {
        st = lmc_err(LMC_ERR_OOM, "KV cache too large");
        goto fail;
    }
    s->k_type = cpu_kv_type(p->type_k);
    s->v_type = cpu_kv_type(p->type_v);
    if ((s->k_type == KV_Q8_0 || s->v_type == KV_Q8_0) &&
        hd % 32 != 0) { /* context.c says so too */
        st = lmc_err(LMC_ERR_UNSUPPORTED, "a q8_0 KV cache needs head_dim %% 32 == 0 (head_dim %d)",
                     hd);
        goto fail;
    }
    s->k_bytes = cpu_kv_bytes(s->k_type, (size_t)kv_n);
    s->v_bytes = cpu_kv_bytes(s->v_type, (size_t)kv_n);
    s->k_cache = cpu_kv_alloc(s->k_bytes);
    s->v_cache = cpu_kv_alloc(s->v_bytes);
    if (!s->k_cache || !s->v_cache) {
        st = lmc_err(LMC_ERR_OOM,
                     "out of memory for the KV cache (%.1f MiB for n_ctx=%d, %d sequences; "
                     "lower it with -c)",
                     (double)(s->k_bytes + s->v_bytes) / 1048576.0, p->n_ctx, p->n_seq);
        goto fail;
    }

    /* everything else: one block carved into the named buffers */
    float **dst[] = {(float **)&s->inv_freq,
                     &s->x,
                     &s->xn,
                     &s->q,
                     &s->k,
                     &s->v,
                     &s->qkv,
                     &s->att,
                     &s->gate,
                     &s->up,
                     &s->rope_cs};
    size_t sizes[] = {
        cpu_floats((int64_t)CPU_ROPE_SETS * hd) * 2, /* inv_freq (doubles) */
        cpu_floats((int64_t)B * E),                  /* x */
        cpu_floats((int64_t)B * E),                  /* xn */
        cpu_floats((int64_t)B * s->q_dim),           /* q */
        cpu_floats((int64_t)B * s->kv_dim),          /* k */
        cpu_floats((int64_t)B * s->kv_dim),          /* v */
        fused_qkv ? cpu_floats((int64_t)B * (s->q_dim + 2 * s->kv_dim)) : 0, /* qkv */
        cpu_floats((int64_t)B * s->q_dim),                                   /* att */
        cpu_floats((int64_t)B * hp->n_ff),                                   /* gate */
        cpu_floats((int64_t)B * hp->n_ff * (fused_up ? 2 : 1)),              /* up */
        cpu_floats((int64_t)CPU_ROPE_SETS * B * hd),                         /* rope_cs */
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        total += sizes[i];
    s->block = aligned_alloc(64, total * sizeof(float));
    if (!s->block) {
        st = lmc_err(LMC_ERR_OOM, "out of memory for %.1f MiB of scratch (n_batch=%d)",
                     (double)total * 4 / 1048576.0, B);
        goto fail;
    }
    float *at = s->block;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *dst[i] = sizes[i] ? at : NULL;
        at += sizes[i];
    }
    if ((st = cpu_init_vectors(s, p)) != LMC_OK) goto fail;

    /* per-thread scratch: a dequantized weight row, a row of attention scores, or rope (cos, sin)
     */
    int64_t max_k = E > hp->n_ff ? E : hp->n_ff;
    if (s->q_dim > max_k) max_k = s->q_dim;
    size_t scratch = cpu_matmul_scratch_bytes(max_k, p->n_batch);
    if (cpu_attention_scratch_bytes(p->n_ctx) > scratch)
        scratch = cpu_attention_scratch_bytes(p->n_ctx);
    if ((size_t)(CPU_ROPE_SETS * hd + s->kv_dim) * sizeof(float) > scratch) /* kv_shift's */
        scratch = (size_t)(CPU_ROPE_SETS * hd + s->kv_dim) * sizeof(float);
    if ((st = tp_create(p->n_threads, scratch, &s->pool)) != LMC_OK) goto fail;
    *out = s;
    return LMC_OK;
fail:
    cpu_part_free(s);
    return st;
}

static void cpu_free(void *state) {
    cpu_part_free(state);
}

static lmc_status cpu_init(const lmc_model *m, const lmc_context_params *p, void **state) {
    cpu_state *s = NULL;
    model_weights_hugepages(m); /* decode streams the weights: from 2 MB pages, not 4 KB ones */
    lmc_status st = cpu_part_init(m, p, 0, m->hp.n_layer, &s);
    *state = s;
    return st;
}

const lmc_backend lmc_cpu_backend = {"cpu", cpu_init, cpu_free, cpu_forward, cpu_kv_shift};
