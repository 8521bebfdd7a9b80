/* backend_split.c — lmc_split_backend: the first layers on the CPU (a cpu_part), the last
 * n_gpu_layers and the output on the GPU (src/cuda), the residual copied over once per slice; runs
 * are cut at wanted and observed tokens. Several sequences (n_seq > 1) need every layer on the GPU
 * and go through lmc_cuda_forward_batch, a whole slice of any sequences in one step. The layer
 * split (-sm layer over several GPUs) is a chain of GPU ranges in place of the CPU part: each
 * earlier range a CUDA context on its GPU running the whole slice (lmc_cuda_forward_range), its
 * residual handed to the next through the host (peer copies would spare that), the last range with
 * the output as the one GPU context above; one sequence. -mg N puts the one GPU context on GPU N. A
 * tensor-parallel rank (backend_tp.c) is one such state over its cut of the model, every layer on
 * its GPU; a slice with logits NULL runs without copying logits out (the ranks other than 0). */
#include "backend.h"

#ifdef LMC_WITH_CUDA
#include "context_split.h"
#include "cpu/forward.h"
#include "cuda/cuda_backend.h"
#include "util.h"
#include <assert.h>
#include <stdlib.h>

typedef struct {
    const lmc_model *m;
    int32_t n_seq;
    lmc_cuda_ctx *c;  /* layers [layer0, n_layer), output norm and matrix */
    int32_t layer0;   /* the first layer of c: n_layer - n_gpu_layers, or the last range's */
    cpu_state *cpu;   /* layers [0, layer0) on the CPU, NULL when layer0 == 0 */
    float *hidden;    /* (n_batch, n_embd) residual stream after the CPU layers or a range */
    float *hidden2;   /* (n_batch, n_embd) the other buffer of the ranges' hand-over */
    float *layer_out; /* (n_layer, n_embd) residual of the observed token after each GPU layer */
    /* the layer split: ranges [pre_l0[k], pre_l1[k]) before c, each on GPU pre_gpu[k]; c on gpu */
    int32_t n_pre, gpu;
    bool switch_gpu; /* some context is not on the thread's current GPU (0) */
    lmc_cuda_ctx *pre[SPLIT_MAX_RANKS];
    int32_t pre_l0[SPLIT_MAX_RANKS], pre_l1[SPLIT_MAX_RANKS], pre_gpu[SPLIT_MAX_RANKS];
} split_state;

static void split_free(void *state) {
    split_state *s = state;
    if (!s) return;
    for (int32_t k = 0; k < s->n_pre; k++) {
        if (s->switch_gpu) lmc_cuda_set_device(s->pre_gpu[k]);
        lmc_cuda_free(s->pre[k]);
    }
    if (s->switch_gpu) lmc_cuda_set_device(s->gpu);
    lmc_cuda_free(s->c);
    if (s->switch_gpu) lmc_cuda_set_device(0); /* the one-GPU contexts' GPU, current again */
    cpu_part_free(s->cpu);
    free(s->hidden);
    free(s->hidden2);
    free(s->layer_out);
    free(s);
}

/* -sm layer: the non-empty ranges of the layer plan (split_plan.c) as the earlier ranges of s and
 * the first layer of the last one (returned); the output goes with the last range (llama.cpp may
 * give it a GPU of its own when the shares leave one without layers). */
static lmc_status layer_chain(const lmc_model *m, const lmc_context_params *p, split_state *s,
                              int32_t *last_l0) {
    const int32_t n_dev = split_devices(p, lmc_cuda_device_count());
    split_range r[SPLIT_MAX_RANKS];
    int32_t out_dev = 0, n = 0;
    bool any_ts = false;
    for (int32_t d = 0; d < LMC_MAX_GPUS; d++)
        any_ts = any_ts || p->tensor_split[d] != 0;
    lmc_status st =
        split_layer_plan(m->hp.n_layer, any_ts ? p->tensor_split : NULL, n_dev, r, &out_dev);
    if (st != LMC_OK) return st;
    const bool one_gpu = split_one_gpu();
    for (int32_t d = 0; d < n_dev; d++) {
        if (r[d].hi <= r[d].lo) continue;
        s->pre_l0[n] = r[d].lo;
        s->pre_l1[n] = r[d].hi;
        s->pre_gpu[n] = one_gpu ? 0 : d;
        s->switch_gpu = s->switch_gpu || s->pre_gpu[n] != 0;
        n++;
    }
    s->n_pre = n - 1; /* the last range is c's */
    s->gpu = s->pre_gpu[n - 1];
    *last_l0 = s->pre_l0[n - 1];
    return LMC_OK;
}

static lmc_status split_init_state(const lmc_model *m, const lmc_context_params *p,
                                   const split_tp_plan *tp, int32_t rank, split_state *s) {
    const lmc_hparams *hp = &m->hp;
    s->m = m;
    s->n_seq = p->n_seq;
    s->layer0 = hp->n_layer - p->n_gpu_layers;
    s->layer_out = malloc((size_t)hp->n_layer * hp->n_embd * sizeof(float));
    if (!s->layer_out) return lmc_err(LMC_ERR_OOM, "out of memory");
    lmc_status st;
    lmc_cuda_params cp = {0};
    cp.n_ctx = p->n_ctx;
    cp.n_seq = p->n_seq;
    cp.n_batch = p->n_batch;
    cp.use_graph = 1;
    /* context.c allows f16 on CUDA only for K and V alike, and no q8_0 (the CPU's only for now) */
    assert(p->type_k == p->type_v && p->type_k != LMC_KV_Q8_0);
    cp.kv_f16 = p->type_k == LMC_KV_F16;
    if (p->split_mode == LMC_SPLIT_LAYER && !tp) {
        if ((st = layer_chain(m, p, s, &s->layer0)) != LMC_OK) return st;
        s->hidden = malloc((size_t)p->n_batch * hp->n_embd * sizeof(float));
        s->hidden2 = malloc((size_t)p->n_batch * hp->n_embd * sizeof(float));
        if (!s->hidden || !s->hidden2)
            return lmc_err(LMC_ERR_OOM, "out of memory for the layer ranges' hand-over");
        for (int32_t k = 0; k < s->n_pre; k++) {
            if (s->switch_gpu && (st = lmc_cuda_set_device(s->pre_gpu[k])) != LMC_OK) return st;
            cp.layer0 = s->pre_l0[k];
            cp.layer1 = s->pre_l1[k];
            if ((st = lmc_cuda_init(m, &cp, &s->pre[k])) != LMC_OK) return st;
        }
        if (s->switch_gpu && (st = lmc_cuda_set_device(s->gpu)) != LMC_OK) return st;
        cp.layer0 = s->layer0;
        cp.layer1 = 0;
        st = lmc_cuda_init(m, &cp, &s->c);
        if (s->switch_gpu) lmc_cuda_set_device(0);
        return st;
    }
    if (p->split_mode == LMC_SPLIT_NONE && p->main_gpu > 0 && !tp) { /* -mg N: GPU N */
        s->gpu = p->main_gpu;
        s->switch_gpu = true;
    }
    if (s->layer0 > 0) {
        s->hidden = malloc((size_t)p->n_batch * hp->n_embd * sizeof(float));
        if (!s->hidden)
            return lmc_err(LMC_ERR_OOM, "out of memory for the CPU layers' output (n_batch=%d)",
                           p->n_batch);
        if ((st = cpu_part_init(m, p, 0, s->layer0, &s->cpu)) != LMC_OK) return st;
    }
    cp.layer0 = s->layer0;
    cp.tp = tp;
    cp.tp_rank = rank;
    if (s->switch_gpu && (st = lmc_cuda_set_device(s->gpu)) != LMC_OK) return st;
    st = lmc_cuda_init(m, &cp, &s->c);
    if (s->switch_gpu) lmc_cuda_set_device(0);
    return st;
}

static lmc_status split_init_tp(const lmc_model *m, const lmc_context_params *p,
                                const split_tp_plan *tp, int32_t rank, void **state) {
    const lmc_hparams *hp = &m->hp;
    *state = NULL;
    if (p->n_seq != 1 && p->n_gpu_layers != hp->n_layer)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "CUDA backend: %d sequences need every layer on the GPU (-ngl %d of %d "
                       "layers: partial offload runs one sequence); use -ngl -1 or --device cpu",
                       p->n_seq, p->n_gpu_layers, hp->n_layer);
    if (p->n_gpu_layers < 1 || p->n_gpu_layers > hp->n_layer)
        return lmc_err(LMC_ERR_INVALID_ARG, "CUDA backend: %d GPU layers outside [1, %d]",
                       p->n_gpu_layers, hp->n_layer);
    split_state *s = calloc(1, sizeof *s);
    if (!s) return lmc_err(LMC_ERR_OOM, "out of memory");
    lmc_status st = split_init_state(m, p, tp, rank, s);
    if (st != LMC_OK) {
        split_free(s);
        return st;
    }
    *state = s;
    return LMC_OK;
}

static lmc_status split_init(const lmc_model *m, const lmc_context_params *p, void **state) {
    return split_init_tp(m, p, NULL, 0, state);
}

lmc_status split_backend_init_rank(const lmc_model *m, const lmc_context_params *p,
                                   const split_tp_plan *tp, int32_t rank, void **state) {
    *state = NULL;
    if (p->n_gpu_layers != m->hp.n_layer)
        return lmc_err(LMC_ERR_INVALID_ARG, "tensor parallel: every layer goes to the GPUs");
    return split_init_tp(m, p, tp, rank, state);
}

/* The earlier layer ranges over the whole slice (one sequence: consecutive positions), each on its
 * GPU, the residual handed on through the host; they show the observer their layers when it
 * watches the slice's last token. Returns the residual after the last of them (NULL on failure,
 * with lmc_last_error set) and leaves c's GPU current. */
static const float *layer_ranges_forward(split_state *s, const lmc_fwd_batch *b) {
    const int32_t n_embd = s->m->hp.n_embd;
    const bool watch = b->observe && b->observe_row == b->n - 1;
    const float *in = NULL;
    for (int32_t k = 0; k < s->n_pre; k++) {
        float *out = k & 1 ? s->hidden2 : s->hidden;
        lmc_status st = s->switch_gpu ? lmc_cuda_set_device(s->pre_gpu[k]) : LMC_OK;
        if (st == LMC_OK)
            st = lmc_cuda_forward_range(s->pre[k], k == 0 ? b->token : NULL, in, b->n, b->pos[0],
                                        out, watch ? s->layer_out : NULL);
        if (st != LMC_OK) return NULL;
        for (int32_t l = s->pre_l0[k]; watch && l < s->pre_l1[k]; l++)
            b->observe(b->observe_user, LMC_OBSERVE_LAYER, l,
                       s->layer_out + (size_t)(l - s->pre_l0[k]) * n_embd, n_embd);
        in = out;
    }
    if (s->switch_gpu && lmc_cuda_set_device(s->gpu) != LMC_OK) return NULL;
    return in;
}

static lmc_status split_forward_on(split_state *s, const lmc_fwd_batch *b) {
    const lmc_hparams *hp = &s->m->hp;
    const lmc_observer obs = b->observe;
    lmc_status st;
    if (b->hidden)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "hidden states (embeddings) are computed on the CPU only; use a context "
                       "with -ngl 0");
    if (s->switch_gpu && s->n_pre == 0 && (st = lmc_cuda_set_device(s->gpu)) != LMC_OK) return st;
    if (s->n_seq > 1) { /* every layer on the GPU: the slice in one step, any sequences */
        const int32_t orow = obs ? b->observe_row : -1;
        st = lmc_cuda_forward_batch(s->c, b->n, b->token, b->pos, b->seq, b->seq_start, b->want,
                                    b->logits, orow, s->layer_out);
        if (st != LMC_OK || orow < 0) return st;
        for (int32_t l = 0; l < hp->n_layer; l++)
            obs(b->observe_user, LMC_OBSERVE_LAYER, l, s->layer_out + (size_t)l * hp->n_embd,
                hp->n_embd);
        if (b->want[orow] && b->logits) {
            int32_t row = 0;
            for (int32_t i = 0; i < orow; i++)
                row += b->want[i] != 0;
            obs(b->observe_user, LMC_OBSERVE_LOGITS, -1, b->logits + (size_t)row * hp->n_vocab,
                hp->n_vocab);
        }
        return LMC_OK;
    }
    /* the first layers for the whole slice (they show the observer their layers), then the GPU's */
    const float *hin = NULL; /* the residual c starts from, when it does not look tokens up */
    if (s->cpu) {
        st = cpu_part_forward(s->cpu, b, NULL, s->hidden);
        if (st != LMC_OK) return st;
        hin = s->hidden;
    } else if (s->n_pre > 0) {
        hin = layer_ranges_forward(s, b);
        if (!hin) return LMC_ERR_BACKEND; /* lmc_last_error says what */
    }
    int32_t row = 0;
    for (int32_t i = 0; i < b->n;) {
        int32_t j = i; /* the run ends at a wanted token, the observed token or the batch's end */
        while (j < b->n - 1 && !b->want[j] && !(obs && j == b->observe_row))
            j++;
        float *logits = b->want[j] && b->logits ? b->logits + (size_t)row * hp->n_vocab : NULL;
        const bool observe_here = obs && j == b->observe_row;
        float *lo = observe_here ? s->layer_out : NULL;
        st = hin ? lmc_cuda_forward_hidden(s->c, hin + (size_t)i * hp->n_embd, j - i + 1, b->pos[i],
                                           logits, lo)
                 : lmc_cuda_forward(s->c, b->token + i, j - i + 1, b->pos[i], logits, lo);
        if (st != LMC_OK) return st;
        if (observe_here) {
            for (int32_t l = s->layer0; l < hp->n_layer; l++)
                obs(b->observe_user, LMC_OBSERVE_LAYER, l,
                    s->layer_out + (size_t)(l - s->layer0) * hp->n_embd, hp->n_embd);
            if (logits) obs(b->observe_user, LMC_OBSERVE_LOGITS, -1, logits, hp->n_vocab);
        }
        row += b->want[j] != 0;
        i = j + 1;
    }
    return LMC_OK;
}

/* The layer split leaves GPU 0 current after each call, as every one-GPU context expects. */
static lmc_status split_forward(void *state, const lmc_fwd_batch *b) {
    split_state *s = state;
    lmc_status st = split_forward_on(s, b);
    if (s->switch_gpu) lmc_cuda_set_device(0);
    return st;
}

static void split_kv_shift(void *state, int32_t seq, int32_t from, int32_t n, int32_t to) {
    split_state *s = state;
    if (s->cpu) cpu_part_kv_shift(s->cpu, seq, from, n, to);
    for (int32_t k = 0; k < s->n_pre; k++) {
        if (s->switch_gpu) lmc_cuda_set_device(s->pre_gpu[k]);
        lmc_cuda_kv_shift(s->pre[k], seq, from, n, to);
    }
    if (s->switch_gpu) lmc_cuda_set_device(s->gpu);
    lmc_cuda_kv_shift(s->c, seq, from, n, to);
    if (s->switch_gpu) lmc_cuda_set_device(0);
}

const lmc_backend lmc_split_backend = {"cuda", split_init, split_free, split_forward,
                                       split_kv_shift};

struct lmc_cuda_ctx *split_backend_gpu(void *state) {
    return state ? ((split_state *)state)->c : NULL;
}

#else
typedef int lmc_backend_split_unused; /* built without CUDA: context.c never selects this backend */
#endif
