/* backend_cuda.c — the CUDA backend behind lmc_context's backend table: one sequence, every layer on
 * the GPU (src/cuda/ does the work). Batches are cut at each token whose logits are wanted; layer
 * dumps are written as the CPU backend writes them. Partial offload (-ngl between 0 and n_layer) and
 * several sequences are refused, not emulated. */
#include "context.h"

#ifdef LMC_WITH_CUDA
#include "cuda/cuda_backend.h"
#include "util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    lmc_cuda_ctx *c;
    float *layer_out; /* (n_layer, n_embd) residual of the dumped token */
} cuda_state;

static lmc_status cuda_be_init(lmc_context *ctx) {
    const lmc_context_params *p = &ctx->params;
    if (p->n_seq != 1)
        return lmc_err(LMC_ERR_UNSUPPORTED, "CUDA backend: one sequence only (n_seq=%d); use --device cpu", p->n_seq);
    cuda_state *s = calloc(1, sizeof *s);
    if (!s) return lmc_err(LMC_ERR_OOM, "out of memory");
    s->layer_out = malloc((size_t)ctx->model->hp.n_layer * ctx->model->hp.n_embd * sizeof(float));
    if (!s->layer_out) {
        free(s);
        return lmc_err(LMC_ERR_OOM, "out of memory");
    }
    lmc_cuda_params cp = {0};
    cp.n_ctx = p->n_ctx;
    cp.n_batch = p->n_batch;
    cp.use_graph = 1;
    lmc_status st = lmc_cuda_init(ctx->model, &cp, &s->c);
    if (st != LMC_OK) {
        free(s->layer_out);
        free(s);
        return st;
    }
    ctx->backend_state = s;
    return LMC_OK;
}

static void cuda_be_free(lmc_context *ctx) {
    cuda_state *s = ctx->backend_state;
    if (!s) return;
    lmc_cuda_free(s->c);
    free(s->layer_out);
    free(s);
    ctx->backend_state = NULL;
}

static lmc_status cuda_be_forward(lmc_context *ctx, const lmc_fwd_batch *b) {
    cuda_state *s = ctx->backend_state;
    const lmc_hparams *hp = &ctx->model->hp;
    const char *dump = b->dump_row >= 0 ? ctx->dump_dir : NULL;
    int32_t row = 0;
    for (int32_t i = 0; i < b->n;) {
        int32_t j = i; /* the run ends at a wanted token, the dumped token or the batch's end */
        while (j < b->n - 1 && !b->want[j] && !(dump && j == b->dump_row)) j++;
        float *logits = b->want[j] ? b->logits + (size_t)row * hp->n_vocab : NULL;
        const bool dump_here = dump && j == b->dump_row;
        lmc_status st = lmc_cuda_forward(s->c, b->token + i, j - i + 1, b->pos[i], logits, dump_here ? s->layer_out : NULL);
        if (st != LMC_OK) return st;
        if (dump_here) {
            for (int32_t l = 0; l < hp->n_layer; l++) {
                char name[32];
                snprintf(name, sizeof name, "layer_%02d.f32", l);
                if ((st = ctx_dump_floats(dump, name, s->layer_out + (size_t)l * hp->n_embd, hp->n_embd)) != LMC_OK) return st;
            }
            if (logits && (st = ctx_dump_floats(dump, "logits.f32", logits, hp->n_vocab)) != LMC_OK) return st;
        }
        row += logits != NULL;
        i = j + 1;
    }
    return LMC_OK;
}

static void cuda_be_kv_shift(lmc_context *ctx, int32_t seq, int32_t from, int32_t n, int32_t to) {
    (void)seq;
    cuda_state *s = ctx->backend_state;
    lmc_cuda_kv_shift(s->c, from, n, to);
}

const lmc_backend lmc_cuda_backend = {"cuda", cuda_be_init, cuda_be_free, cuda_be_forward, cuda_be_kv_shift};

#else
typedef int lmc_backend_cuda_unused; /* built without CUDA: context.c never selects this backend */
#endif
