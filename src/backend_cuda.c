/* backend_cuda.c — the CUDA backend behind lmc_context's backend table: one sequence, the last
 * n_gpu_layers layers and the output on the GPU (src/cuda/ does the work). With partial offload
 * (-ngl below n_layer) the first layers run on the CPU (a cpu_part of src/cpu/forward.c) and their
 * residual stream is copied to the GPU once per slice. Batches are cut at each token whose logits are
 * wanted; layer dumps are written as the CPU backend writes them. Several sequences are refused. */
#include "context.h"

#ifdef LMC_WITH_CUDA
#include "cpu/forward.h"
#include "cuda/cuda_backend.h"
#include "util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    lmc_cuda_ctx *c;     /* layers [layer0, n_layer), output norm and matrix */
    int32_t layer0;      /* the first GPU layer: n_layer - n_gpu_layers */
    cpu_state *cpu;      /* layers [0, layer0) on the CPU, NULL when layer0 == 0 */
    float *hidden;       /* (n_batch, n_embd) residual stream after the CPU layers */
    float *layer_out;    /* (n_layer - layer0, n_embd) residual of the dumped token after each GPU layer */
} cuda_state;

static void cuda_be_free(lmc_context *ctx) {
    cuda_state *s = ctx->backend_state;
    if (!s) return;
    lmc_cuda_free(s->c);
    cpu_part_free(s->cpu);
    free(s->hidden);
    free(s->layer_out);
    free(s);
    ctx->backend_state = NULL;
}

static lmc_status cuda_be_init(lmc_context *ctx) {
    const lmc_context_params *p = &ctx->params;
    const lmc_hparams *hp = &ctx->model->hp;
    if (p->n_seq != 1)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "CUDA backend: one sequence only (n_seq=%d), also with -ngl %d of %d layers on the GPU; "
                       "use --device cpu (-ngl 0)", p->n_seq, p->n_gpu_layers, hp->n_layer);
    if (p->n_gpu_layers < 1 || p->n_gpu_layers > hp->n_layer)
        return lmc_err(LMC_ERR_INVALID_ARG, "CUDA backend: %d GPU layers outside [1, %d]", p->n_gpu_layers,
                       hp->n_layer);
    cuda_state *s = calloc(1, sizeof *s);
    if (!s) return lmc_err(LMC_ERR_OOM, "out of memory");
    ctx->backend_state = s; /* lmc_context_init calls cuda_be_free on failure */
    s->layer0 = hp->n_layer - p->n_gpu_layers;
    s->layer_out = malloc((size_t)(hp->n_layer - s->layer0) * hp->n_embd * sizeof(float));
    if (!s->layer_out) return lmc_err(LMC_ERR_OOM, "out of memory");
    lmc_status st;
    if (s->layer0 > 0) {
        s->hidden = malloc((size_t)p->n_batch * hp->n_embd * sizeof(float));
        if (!s->hidden) return lmc_err(LMC_ERR_OOM, "out of memory for the CPU layers' output (n_batch=%d)", p->n_batch);
        if ((st = cpu_part_init(ctx->model, p, 0, s->layer0, &s->cpu)) != LMC_OK) return st;
    }
    lmc_cuda_params cp = {0};
    cp.n_ctx = p->n_ctx;
    cp.n_batch = p->n_batch;
    cp.use_graph = 1;
    cp.layer0 = s->layer0;
    return lmc_cuda_init(ctx->model, &cp, &s->c);
}

static lmc_status cuda_be_forward(lmc_context *ctx, const lmc_fwd_batch *b) {
    cuda_state *s = ctx->backend_state;
    const lmc_hparams *hp = &ctx->model->hp;
    const char *dump = b->dump_row >= 0 ? ctx->dump_dir : NULL;
    lmc_status st;
    if (s->cpu) { /* the first layers for the whole slice (and their dumps), then the GPU's from here */
        st = cpu_part_forward(s->cpu, ctx->model, ctx->seq_start, ctx->dump_dir, b, NULL, s->hidden);
        if (st != LMC_OK) return st;
    }
    int32_t row = 0;
    for (int32_t i = 0; i < b->n;) {
        int32_t j = i; /* the run ends at a wanted token, the dumped token or the batch's end */
        while (j < b->n - 1 && !b->want[j] && !(dump && j == b->dump_row)) j++;
        float *logits = b->want[j] ? b->logits + (size_t)row * hp->n_vocab : NULL;
        const bool dump_here = dump && j == b->dump_row;
        float *lo = dump_here ? s->layer_out : NULL;
        st = s->cpu ? lmc_cuda_forward_hidden(s->c, s->hidden + (size_t)i * hp->n_embd, j - i + 1, b->pos[i], logits, lo)
                    : lmc_cuda_forward(s->c, b->token + i, j - i + 1, b->pos[i], logits, lo);
        if (st != LMC_OK) return st;
        if (dump_here) {
            for (int32_t l = s->layer0; l < hp->n_layer; l++) {
                char name[32];
                snprintf(name, sizeof name, "layer_%02d.f32", l);
                const float *v = s->layer_out + (size_t)(l - s->layer0) * hp->n_embd;
                if ((st = ctx_dump_floats(dump, name, v, hp->n_embd)) != LMC_OK) return st;
            }
            if (logits && (st = ctx_dump_floats(dump, "logits.f32", logits, hp->n_vocab)) != LMC_OK) return st;
        }
        row += logits != NULL;
        i = j + 1;
    }
    return LMC_OK;
}

static void cuda_be_kv_shift(lmc_context *ctx, int32_t seq, int32_t from, int32_t n, int32_t to) {
    cuda_state *s = ctx->backend_state;
    if (s->cpu) cpu_part_kv_shift(s->cpu, ctx->model, seq, from, n, to);
    lmc_cuda_kv_shift(s->c, from, n, to);
}

const lmc_backend lmc_cuda_backend = {"cuda", cuda_be_init, cuda_be_free, cuda_be_forward, cuda_be_kv_shift};

lmc_cuda_ctx *cuda_backend_gpu(const lmc_context *ctx) {
    const cuda_state *s = ctx->backend == &lmc_cuda_backend ? ctx->backend_state : NULL;
    return s ? s->c : NULL;
}

#else
typedef int lmc_backend_cuda_unused; /* built without CUDA: context.c never selects this backend */
#endif
