/* split_plan.c — the tensor-parallel and layer-split cuts of split_plan.h: ranges only, every
 * impossible cut refused with the rule it breaks. */
#include "split_plan.h"

#include "model.h"
#include "quant.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void geom_type(const gguf_tensor *t, int32_t *block, char *name, size_t size) {
    if (!t) return;
    const lmc_type_traits *tr = lmc_type_get(t->type);
    int32_t b = tr ? tr->blck_size : 1;
    if (b > *block) {
        *block = b;
        snprintf(name, size, "%s", lmc_type_name(t->type));
    }
}

void split_geom_of(const lmc_model *m, split_geom *g) {
    memset(g, 0, sizeof *g);
    g->n_head = m->hp.n_head;
    g->n_head_kv = m->hp.n_head_kv;
    g->head_dim = m->hp.head_dim;
    g->n_ff = m->hp.n_ff;
    g->n_vocab = m->hp.n_vocab;
    g->wo_block = g->down_block = 1;
    snprintf(g->wo_type, sizeof g->wo_type, "F32");
    snprintf(g->down_type, sizeof g->down_type, "F32");
    for (int32_t l = 0; l < m->hp.n_layer; l++) {
        geom_type(m->layers[l].wo, &g->wo_block, g->wo_type, sizeof g->wo_type);
        geom_type(m->layers[l].ffn_down, &g->down_block, g->down_type, sizeof g->down_type);
    }
}

/* [lo, hi) of part r when n items are cut into n_part parts, the first n % n_part one larger. */
static split_range even_part(int32_t n, int32_t n_part, int32_t r) {
    int32_t q = n / n_part, rem = n % n_part;
    split_range s;
    s.lo = r * q + (r < rem ? r : rem);
    s.hi = s.lo + q + (r < rem ? 1 : 0);
    return s;
}

lmc_status split_tp_plan_make(const split_geom *g, int32_t n, split_tp_plan *p) {
    memset(p, 0, sizeof *p);
    if (n < 1 || n > SPLIT_MAX_RANKS)
        return lmc_err(LMC_ERR_INVALID_ARG, "tensor parallel: %d ranks is out of range (1..%d)", n,
                       SPLIT_MAX_RANKS);
    if (g->n_head < 1 || g->n_head_kv < 1 || g->n_head % g->n_head_kv != 0)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "tensor parallel: %d query heads do not form groups over %d KV heads",
                       g->n_head, g->n_head_kv);
    if (n > g->n_head_kv)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "tensor parallel: %d ranks but the model has only %d KV heads (each rank "
                       "needs at least one; use -sm layer or fewer GPUs)",
                       n, g->n_head_kv);
    if (g->n_head_kv % n != 0)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "tensor parallel: %d KV heads do not split evenly over %d ranks",
                       g->n_head_kv, n);
    int32_t group = g->n_head / g->n_head_kv, kv_per = g->n_head_kv / n;
    int64_t q_cols = (int64_t)kv_per * group * g->head_dim; /* a rank's slice of wo's inputs */
    if (g->wo_block > 1 && q_cols % g->wo_block != 0)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "tensor parallel: a rank's %d query heads of %d are %lld columns of "
                       "attn_output, not whole %s blocks of %d",
                       kv_per * group, g->head_dim, (long long)q_cols, g->wo_type, g->wo_block);
    int32_t unit = g->down_block > 1 ? g->down_block : 1;
    if (g->n_ff % unit != 0)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "tensor parallel: FFN width %d is not whole %s blocks of %d", g->n_ff,
                       g->down_type, unit);
    if (g->n_ff / unit < n)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "tensor parallel: FFN width %d is %d %s blocks of %d, fewer than %d ranks",
                       g->n_ff, g->n_ff / unit, g->down_type, unit, n);
    if (g->n_vocab < n)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "tensor parallel: %d vocabulary rows are fewer than %d ranks", g->n_vocab,
                       n);
    p->n_rank = n;
    p->ff_unit = unit;
    for (int32_t r = 0; r < n; r++) {
        p->kv_head[r] = (split_range){r * kv_per, (r + 1) * kv_per};
        p->q_head[r] = (split_range){r * kv_per * group, (r + 1) * kv_per * group};
        split_range f = even_part(g->n_ff / unit, n, r);
        p->ff[r] = (split_range){f.lo * unit, f.hi * unit};
        p->vocab[r] = even_part(g->n_vocab, n, r);
        int32_t w = p->vocab[r].hi - p->vocab[r].lo;
        if (w > p->vocab_max) p->vocab_max = w;
    }
    return LMC_OK;
}

lmc_status split_layer_plan(int32_t n_layer, const float *ts, int32_t n_dev, split_range *out,
                            int32_t *output_dev) {
    if (n_dev < 1 || n_dev > SPLIT_MAX_RANKS)
        return lmc_err(LMC_ERR_INVALID_ARG, "layer split: %d devices is out of range (1..%d)",
                       n_dev, SPLIT_MAX_RANKS);
    if (n_layer < 1) return lmc_err(LMC_ERR_INVALID_ARG, "layer split: the model has no layers");
    double sum = 0;
    for (int32_t d = 0; ts && d < n_dev; d++) {
        if (!isfinite(ts[d]) || ts[d] < 0)
            return lmc_err(LMC_ERR_INVALID_ARG,
                           "layer split: --tensor-split value %d (%g) is not a finite share >= 0",
                           d + 1, (double)ts[d]);
        sum += ts[d];
    }
    /* cumulative shares, normalized; all zero: equal */
    float cum[SPLIT_MAX_RANKS];
    double acc = 0;
    for (int32_t d = 0; d < n_dev; d++) {
        acc += sum > 0 ? ts[d] : 1.0;
        cum[d] = (float)(acc / (sum > 0 ? sum : n_dev));
    }
    for (int32_t d = 0; d < n_dev; d++)
        out[d] = (split_range){0, 0};
    for (int32_t l = 0; l <= n_layer; l++) {
        float f = (float)l / (float)(n_layer + 1);
        int32_t d = 0;
        while (d < n_dev - 1 && !(cum[d] > f)) /* upper_bound: first cum > f */
            d++;
        if (l == n_layer) {
            if (output_dev) *output_dev = d;
            break;
        }
        if (out[d].hi == out[d].lo) out[d] = (split_range){l, l};
        out[d].hi = l + 1;
    }
    return LMC_OK;
}
