/* backend_split.c — lmc_split_backend: the first layers on the CPU (a cpu_part), the last
 * n_gpu_layers and the output on the GPU (src/cuda), the residual copied over once per slice; runs
 * are cut at wanted and observed tokens. Several sequences (n_seq > 1) need every layer on the GPU
 * and go through lmc_cuda_forward_batch, a whole slice of any sequences in one step. */
#include "backend.h"

#ifdef LMC_WITH_CUDA
#include "cpu/forward.h"
#include "cuda/cuda_backend.h"
#include "util.h"
#include <stdlib.h>

typedef struct {
    const lmc_model *m;
    int32_t n_seq;
    lmc_cuda_ctx *c;  /* layers [layer0, n_layer), output norm and matrix */
    int32_t layer0;   /* the first GPU layer: n_layer - n_gpu_layers */
    cpu_state *cpu;   /* layers [0, layer0) on the CPU, NULL when layer0 == 0 */
    float *hidden;    /* (n_batch, n_embd) residual stream after the CPU layers */
    float *layer_out; /* (n_layer - layer0, n_embd) residual of the observed token after each GPU
                         layer */
} split_state;

static void split_free(void *state) {
    split_state *s = state;
    if (!s) return;
    lmc_cuda_free(s->c);
    cpu_part_free(s->cpu);
    free(s->hidden);
    free(s->layer_out);
    free(s);
}

static lmc_status split_init_state(const lmc_model *m, const lmc_context_params *p,
                                   split_state *s) {
    const lmc_hparams *hp = &m->hp;
    s->m = m;
    s->n_seq = p->n_seq;
    s->layer0 = hp->n_layer - p->n_gpu_layers;
    s->layer_out = malloc((size_t)(hp->n_layer - s->layer0) * hp->n_embd * sizeof(float));
    if (!s->layer_out) return lmc_err(LMC_ERR_OOM, "out of memory");
    lmc_status st;
    if (s->layer0 > 0) {
        s->hidden = malloc((size_t)p->n_batch * hp->n_embd * sizeof(float));
        if (!s->hidden)
            return lmc_err(LMC_ERR_OOM, "out of memory for the CPU layers' output (n_batch=%d)",
                           p->n_batch);
        if ((st = cpu_part_init(m, p, 0, s->layer0, &s->cpu)) != LMC_OK) return st;
    }
    lmc_cuda_params cp = {0};
    cp.n_ctx = p->n_ctx;
    cp.n_seq = p->n_seq;
    cp.n_batch = p->n_batch;
    cp.use_graph = 1;
    cp.layer0 = s->layer0;
    return lmc_cuda_init(m, &cp, &s->c);
}

static lmc_status split_init(const lmc_model *m, const lmc_context_params *p, void **state) {
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
    lmc_status st = split_init_state(m, p, s);
    if (st != LMC_OK) {
        split_free(s);
        return st;
    }
    *state = s;
    return LMC_OK;
}

static lmc_status split_forward(void *state, const lmc_fwd_batch *b) {
    split_state *s = state;
    const lmc_hparams *hp = &s->m->hp;
    const lmc_observer obs = b->observe;
    lmc_status st;
    if (b->hidden)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "hidden states (embeddings) are computed on the CPU only; use a context "
                       "with -ngl 0");
    if (s->n_seq > 1) { /* every layer on the GPU: the slice in one step, any sequences */
        const int32_t orow = obs ? b->observe_row : -1;
        st = lmc_cuda_forward_batch(s->c, b->n, b->token, b->pos, b->seq, b->seq_start, b->want,
                                    b->logits, orow, s->layer_out);
        if (st != LMC_OK || orow < 0) return st;
        for (int32_t l = 0; l < hp->n_layer; l++)
            obs(b->observe_user, LMC_OBSERVE_LAYER, l, s->layer_out + (size_t)l * hp->n_embd,
                hp->n_embd);
        if (b->want[orow]) {
            int32_t row = 0;
            for (int32_t i = 0; i < orow; i++)
                row += b->want[i] != 0;
            obs(b->observe_user, LMC_OBSERVE_LOGITS, -1, b->logits + (size_t)row * hp->n_vocab,
                hp->n_vocab);
        }
        return LMC_OK;
    }
    /* the first layers for the whole slice (they show the observer their layers), then the GPU's */
    if (s->cpu) {
        st = cpu_part_forward(s->cpu, b, NULL, s->hidden);
        if (st != LMC_OK) return st;
    }
    int32_t row = 0;
    for (int32_t i = 0; i < b->n;) {
        int32_t j = i; /* the run ends at a wanted token, the observed token or the batch's end */
        while (j < b->n - 1 && !b->want[j] && !(obs && j == b->observe_row))
            j++;
        float *logits = b->want[j] ? b->logits + (size_t)row * hp->n_vocab : NULL;
        const bool observe_here = obs && j == b->observe_row;
        float *lo = observe_here ? s->layer_out : NULL;
        st = s->cpu ? lmc_cuda_forward_hidden(s->c, s->hidden + (size_t)i * hp->n_embd, j - i + 1,
                                              b->pos[i], logits, lo)
                    : lmc_cuda_forward(s->c, b->token + i, j - i + 1, b->pos[i], logits, lo);
        if (st != LMC_OK) return st;
        if (observe_here) {
            for (int32_t l = s->layer0; l < hp->n_layer; l++)
                obs(b->observe_user, LMC_OBSERVE_LAYER, l,
                    s->layer_out + (size_t)(l - s->layer0) * hp->n_embd, hp->n_embd);
            if (logits) obs(b->observe_user, LMC_OBSERVE_LOGITS, -1, logits, hp->n_vocab);
        }
        row += logits != NULL;
        i = j + 1;
    }
    return LMC_OK;
}

static void split_kv_shift(void *state, int32_t seq, int32_t from, int32_t n, int32_t to) {
    split_state *s = state;
    if (s->cpu) cpu_part_kv_shift(s->cpu, seq, from, n, to);
    lmc_cuda_kv_shift(s->c, seq, from, n, to);
}

const lmc_backend lmc_split_backend = {"cuda", split_init, split_free, split_forward,
                                       split_kv_shift};

struct lmc_cuda_ctx *split_backend_gpu(void *state) {
    return state ? ((split_state *)state)->c : NULL;
}

#else
typedef int lmc_backend_split_unused; /* built without CUDA: context.c never selects this backend */
#endif
