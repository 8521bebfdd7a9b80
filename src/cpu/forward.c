/* forward.c — the CPU backend and reference llama forward pass: embedding lookup, per layer
 * RMSNorm, Q/K/V projections, RoPE (normal mode), causal GQA attention over the per-sequence KV
 * cache, output projection, SwiGLU FFN, residuals; final norm and logits for the wanted rows only.
 * A batch of tokens goes through every matmul together. Readable first: the fast kernels live
 * behind cpu_matmul. A part (cpu_part_*) runs a range of layers only, for src/backend_split.c. It
 * knows no context. */
#include "forward.h"
#include "cpu.h"
#include "quant.h"
#include "util.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cpu_state {
    const lmc_model *m; /* the model whose layers [l0, l1) this part runs */
    tp_pool *pool;      /* n_threads workers with scratch for a weight row or a row of scores */
    int32_t n_ctx, n_batch, kv_dim, q_dim;
    int32_t l0, l1; /* the layers [l0, l1) this part runs (0 and n_layer for the whole model) */
    /* the cache: sequence s, layer l, position p starts at ((s*n_lc + l - l0)*n_ctx + p)*kv_dim
     * with n_lc = l1 - l0 the cached layers */
    float *k_cache; /* (n_seq, n_lc, n_ctx, kv_dim) keys, already rotated to their positions */
    float *v_cache; /* (n_seq, n_lc, n_ctx, kv_dim) */
    float *norm_w; /* (2*n_layer + 1, n_embd) attn_norm, ffn_norm of each layer, then output_norm */
    double *inv_freq; /* (head_dim/2) base^(-2i/head_dim) */
    /* activations of one slice of a batch */
    float *x;       /* (n_batch, n_embd) residual stream */
    float *xn;      /* (n_batch, n_embd) normalized input of a block */
    float *q;       /* (n_batch, q_dim) queries, q_dim = n_head*head_dim */
    float *k;       /* (n_batch, kv_dim) keys, kv_dim = n_head_kv*head_dim */
    float *v;       /* (n_batch, kv_dim) values */
    float *att;     /* (n_batch, q_dim) attention output, heads side by side */
    float *gate;    /* (n_batch, n_ff) FFN gate, then silu(gate)*up */
    float *up;      /* (n_batch, n_ff) FFN up */
    float *rope_cs; /* (n_batch, head_dim) (cos, sin) pairs of each token's position */
    void *block;    /* the one allocation the buffers above are carved from */
};

/* Start of the cache rows of sequence seq, layer l (a layer of the part). */
static size_t cpu_kv_base(const cpu_state *s, int32_t seq, int32_t l) {
    return (((size_t)seq * (size_t)(s->l1 - s->l0) + (size_t)(l - s->l0)) * (size_t)s->n_ctx) *
           (size_t)s->kv_dim;
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

void cpu_rope_cos_sin(double pos, const double *inv_freq, int32_t head_dim, float *cs) {
    for (int32_t i = 0; i < head_dim / 2; i++) {
        double th = pos * inv_freq[i];
        cs[2 * i] = (float)cos(th);
        cs[2 * i + 1] = (float)sin(th);
    }
}

void cpu_rope(float *v, int32_t n_heads, int32_t head_dim, const float *cs) {
    for (int32_t h = 0; h < n_heads; h++) {
        float *p = v + (int64_t)h * head_dim;
        for (int32_t i = 0; i < head_dim / 2; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1], a = p[2 * i], b = p[2 * i + 1];
            p[2 * i] = a * c - b * s;
            p[2 * i + 1] = a * s + b * c;
        }
    }
}

void cpu_swiglu(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* silu(gate) * up over a batch, split by 1024-value items across the pool (a prompt's FFN has
 * n_tok * n_ff values: too many expf for one thread while the other waits). */
typedef struct {
    float *gate;
    const float *up;
    int64_t n;
} swiglu_job;

static void swiglu_items(void *arg, int64_t i0, int64_t i1, int tid) {
    (void)tid;
    const swiglu_job *j = arg;
    const int64_t b = i0 * 1024, e = i1 * 1024 < j->n ? i1 * 1024 : j->n;
    cpu_swiglu(j->gate + b, j->up + b, j->gate + b, e - b);
}

/* ---- attention ----------------------------------------------------------------------------------
 */

typedef struct {
    const lmc_hparams *hp;
    cpu_state *s;
    const lmc_fwd_batch *b;
    int32_t layer;
} att_job;

/* Items are (token, head) pairs: item = i*n_head + h. Scores of one row live in thread scratch. */
static void att_rows(void *arg, int64_t it0, int64_t it1, int tid) {
    const att_job *j = arg;
    const lmc_hparams *hp = j->hp;
    cpu_state *s = j->s;
    const int32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    float *score = tp_scratch(s->pool, tid); /* (n_ctx) */
    for (int64_t it = it0; it < it1; it++) {
        int32_t i = (int32_t)(it / hp->n_head), h = (int32_t)(it % hp->n_head), g = h / group;
        int32_t pos = j->b->pos[i], seq = j->b->seq[i], t0 = j->b->seq_start[seq];
        size_t base = cpu_kv_base(s, seq, j->layer) + (size_t)g * hd;
        const float *kc = s->k_cache + base, *vc = s->v_cache + base;
        const float *q = s->q + (size_t)i * s->q_dim + (size_t)h * hd;
        float mx = -INFINITY;
        for (int32_t t = t0; t <= pos; t++) {
            score[t] = cpu_dot_f32(q, kc + (size_t)t * s->kv_dim, hd) * scale;
            if (score[t] > mx) mx = score[t];
        }
        float sum = 0;
        for (int32_t t = t0; t <= pos; t++) {
            score[t] = expf(score[t] - mx);
            sum += score[t];
        }
        float inv = 1.0f / sum;
        float *out = s->att + (size_t)i * s->q_dim + (size_t)h * hd;
        for (int32_t d = 0; d < hd; d++)
            out[d] = 0;
        for (int32_t t = t0; t <= pos; t++)
            cpu_axpy_f32(out, score[t] * inv, vc + (size_t)t * s->kv_dim, hd);
    }
}

/* ---- the forward pass ---------------------------------------------------------------------------
 */

lmc_status cpu_part_forward(cpu_state *s, const lmc_fwd_batch *b, const float *hidden_in,
                            float *hidden_out) {
    const lmc_model *m = s->m;
    const lmc_hparams *hp = &m->hp;
    const int32_t n = b->n, E = hp->n_embd, F = hp->n_ff, hd = hp->head_dim;
    const lmc_observer obs = b->observe;

    assert(hidden_in || s->l0 == 0); /* a part after layer 0 has no embedding lookup */
    if (hidden_in) {
        memcpy(s->x, hidden_in, (size_t)n * E * sizeof(float));
    } else {
        /* embeddings: dequantize each token's row of token_embd */
        const uint64_t emb_row = lmc_row_size(m->tok_embd->type, E);
        for (int32_t i = 0; i < n; i++)
            lmc_dequantize(m->tok_embd->type,
                           (const uint8_t *)m->tok_embd->data + (uint64_t)b->token[i] * emb_row,
                           s->x + (size_t)i * E, E);
    }
    for (int32_t i = 0; i < n; i++)
        cpu_rope_cos_sin(b->pos[i], s->inv_freq, hd, s->rope_cs + (size_t)i * hd);

    for (int32_t l = s->l0; l < s->l1; l++) {
        const lmc_layer *L = &m->layers[l];
        const float *attn_norm = s->norm_w + (size_t)(2 * l) * E, *ffn_norm = attn_norm + E;

        /* attention block */
        for (int32_t i = 0; i < n; i++)
            cpu_rmsnorm(s->x + (size_t)i * E, attn_norm, s->xn + (size_t)i * E, E, hp->norm_eps);
        {
            const gguf_tensor *w3[3] = {L->wq, L->wk, L->wv};
            float *y3[3] = {s->q, s->k, s->v};
            cpu_matmul_multi(w3, y3, 3, s->xn, n, s->pool);
        }
        for (int32_t i = 0; i < n; i++) {
            const float *cs = s->rope_cs + (size_t)i * hd;
            cpu_rope(s->q + (size_t)i * s->q_dim, hp->n_head, hd, cs);
            cpu_rope(s->k + (size_t)i * s->kv_dim, hp->n_head_kv, hd, cs);
            size_t at = cpu_kv_base(s, b->seq[i], l) + (size_t)b->pos[i] * s->kv_dim;
            memcpy(s->k_cache + at, s->k + (size_t)i * s->kv_dim,
                   (size_t)s->kv_dim * sizeof(float));
            memcpy(s->v_cache + at, s->v + (size_t)i * s->kv_dim,
                   (size_t)s->kv_dim * sizeof(float));
        }
        att_job aj = {hp, s, b, l};
        tp_parallel_for(s->pool, (int64_t)n * hp->n_head, att_rows, &aj);
        cpu_matmul(L->wo, s->att, s->xn, n, s->pool);
        for (size_t i = 0; i < (size_t)n * E; i++)
            s->x[i] += s->xn[i];

        /* feed-forward block */
        for (int32_t i = 0; i < n; i++)
            cpu_rmsnorm(s->x + (size_t)i * E, ffn_norm, s->xn + (size_t)i * E, E, hp->norm_eps);
        {
            const gguf_tensor *w2[2] = {L->ffn_gate, L->ffn_up};
            float *y2[2] = {s->gate, s->up};
            cpu_matmul_multi(w2, y2, 2, s->xn, n, s->pool);
        }
        swiglu_job sj = {s->gate, s->up, (int64_t)n * F};
        tp_parallel_for(s->pool, (sj.n + 1023) / 1024, swiglu_items, &sj);
        cpu_matmul(L->ffn_down, s->gate, s->xn, n, s->pool);
        for (size_t i = 0; i < (size_t)n * E; i++)
            s->x[i] += s->xn[i];

        if (obs) obs(b->observe_user, LMC_OBSERVE_LAYER, l, s->x + (size_t)b->observe_row * E, E);
    }

    if (s->l1 < hp->n_layer) { /* the rest of the layers run elsewhere: hand over the residual */
        if (hidden_out) memcpy(hidden_out, s->x, (size_t)n * E * sizeof(float));
        return LMC_OK;
    }

    /* final norm of the wanted rows, packed at the top of xn, then the output projection */
    const float *out_norm = s->norm_w + (size_t)(2 * hp->n_layer) * E;
    int32_t n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        if (b->want[i]) {
            cpu_rmsnorm(s->x + (size_t)i * E, out_norm, s->xn + (size_t)n_out * E, E, hp->norm_eps);
            n_out++;
        }
    }
    for (int32_t i = 0; b->hidden && i < n; i++) /* lmc_embed: every token's final norm */
        cpu_rmsnorm(s->x + (size_t)i * E, out_norm, b->hidden + (size_t)i * E, E, hp->norm_eps);
    if (obs) {
        float *row = s->att; /* free now: the observed token's final norm */
        cpu_rmsnorm(s->x + (size_t)b->observe_row * E, out_norm, row, E, hp->norm_eps);
        obs(b->observe_user, LMC_OBSERVE_FINAL_NORM, -1, row, E);
    }
    if (n_out) cpu_matmul(m->output, s->xn, b->logits, n_out, s->pool);
    if (obs && b->want[b->observe_row]) { /* its logits are the last of the wanted rows up to it */
        int32_t r = 0;
        for (int32_t i = 0; i < b->observe_row; i++)
            r += b->want[i] != 0;
        obs(b->observe_user, LMC_OBSERVE_LOGITS, -1, b->logits + (size_t)r * hp->n_vocab,
            hp->n_vocab);
    }
    return LMC_OK;
}

static lmc_status cpu_forward(void *state, const lmc_fwd_batch *b) {
    return cpu_part_forward(state, b, NULL, NULL);
}

/* ---- KV shift -----------------------------------------------------------------------------------
 */

/* Keys are stored rotated by pos*inv_freq; rotations add, so turning them by (to - from)*inv_freq
 * gives the keys at their new positions. Values do not depend on the position and just move. */
void cpu_part_kv_shift(cpu_state *s, int32_t seq, int32_t from, int32_t n, int32_t to) {
    const lmc_hparams *hp = &s->m->hp;
    float *cs = tp_scratch(s->pool, 0); /* (head_dim) */
    cpu_rope_cos_sin((double)to - from, s->inv_freq, hp->head_dim, cs);
    for (int32_t l = s->l0; l < s->l1; l++) {
        size_t base = cpu_kv_base(s, seq, l);
        for (int32_t p = 0; p < n; p++) { /* to < from: moving down in increasing order is safe */
            float *kd = s->k_cache + base + (size_t)(to + p) * s->kv_dim;
            float *vd = s->v_cache + base + (size_t)(to + p) * s->kv_dim;
            memmove(kd, s->k_cache + base + (size_t)(from + p) * s->kv_dim,
                    (size_t)s->kv_dim * sizeof(float));
            memmove(vd, s->v_cache + base + (size_t)(from + p) * s->kv_dim,
                    (size_t)s->kv_dim * sizeof(float));
            cpu_rope(kd, hp->n_head_kv, hp->head_dim, cs);
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
    free(s->k_cache);
    free(s->v_cache);
    free(s->block);
    free(s);
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

    /* KV cache of the part's layers: calloc'ed so untouched positions cost no memory until used */
    uint64_t kv_n =
        (uint64_t)p->n_seq * (uint64_t)(l1 - l0) * (uint64_t)p->n_ctx * (uint64_t)s->kv_dim;
    if (kv_n > SIZE_MAX / sizeof(float) / 2) {
        st = lmc_err(LMC_ERR_OOM, "KV cache too large");
        goto fail;
    }
    s->k_cache = calloc(kv_n, sizeof(float));
    s->v_cache = calloc(kv_n, sizeof(float));
    if (!s->k_cache || !s->v_cache) {
        st = lmc_err(LMC_ERR_OOM,
                     "out of memory for the KV cache (%.1f MiB for n_ctx=%d, %d sequences; "
                     "lower it with -c)",
                     2.0 * (double)kv_n * 4 / 1048576.0, p->n_ctx, p->n_seq);
        goto fail;
    }

    /* everything else: one block carved into the named buffers */
    size_t sizes[] = {
        cpu_floats((int64_t)(2 * hp->n_layer + 1) * E), /* norm_w */
        cpu_floats(hd) * 2,                             /* inv_freq (doubles) */
        cpu_floats((int64_t)B * E),                     /* x */
        cpu_floats((int64_t)B * E),                     /* xn */
        cpu_floats((int64_t)B * s->q_dim),              /* q */
        cpu_floats((int64_t)B * s->kv_dim),             /* k */
        cpu_floats((int64_t)B * s->kv_dim),             /* v */
        cpu_floats((int64_t)B * s->q_dim),              /* att */
        cpu_floats((int64_t)B * hp->n_ff),              /* gate */
        cpu_floats((int64_t)B * hp->n_ff),              /* up */
        cpu_floats((int64_t)B * hd),                    /* rope_cs */
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
    s->norm_w = at;
    at += sizes[0];
    s->inv_freq = (double *)at;
    at += sizes[1];
    s->x = at;
    at += sizes[2];
    s->xn = at;
    at += sizes[3];
    s->q = at;
    at += sizes[4];
    s->k = at;
    at += sizes[5];
    s->v = at;
    at += sizes[6];
    s->att = at;
    at += sizes[7];
    s->gate = at;
    at += sizes[8];
    s->up = at;
    at += sizes[9];
    s->rope_cs = at;
    at += sizes[10];

    for (int32_t l = 0; l < hp->n_layer; l++) {
        lmc_dequantize(m->layers[l].attn_norm->type, m->layers[l].attn_norm->data,
                       s->norm_w + (size_t)(2 * l) * E, E);
        lmc_dequantize(m->layers[l].ffn_norm->type, m->layers[l].ffn_norm->data,
                       s->norm_w + (size_t)(2 * l + 1) * E, E);
    }
    lmc_dequantize(m->output_norm->type, m->output_norm->data,
                   s->norm_w + (size_t)(2 * hp->n_layer) * E, E);
    for (int32_t i = 0; i < hd / 2; i++)
        s->inv_freq[i] = pow((double)hp->rope_base, -2.0 * i / hd);

    /* per-thread scratch: a dequantized weight row, a row of attention scores, or rope (cos, sin)
     */
    int64_t max_k = E > hp->n_ff ? E : hp->n_ff;
    if (s->q_dim > max_k) max_k = s->q_dim;
    size_t scratch = cpu_matmul_scratch_bytes(max_k, p->n_batch);
    if ((size_t)p->n_ctx * sizeof(float) > scratch) scratch = (size_t)p->n_ctx * sizeof(float);
    if ((size_t)hd * sizeof(float) > scratch) scratch = (size_t)hd * sizeof(float);
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
    lmc_status st = cpu_part_init(m, p, 0, m->hp.n_layer, &s);
    *state = s;
    return st;
}

const lmc_backend lmc_cpu_backend = {"cpu", cpu_init, cpu_free, cpu_forward, cpu_kv_shift};
