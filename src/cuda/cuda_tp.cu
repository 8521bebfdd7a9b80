// cuda_tp.cu — tensor parallelism in the CUDA forward (issue 19, docs/MULTI_GPU.md): a rank's cut
// of the model (split_plan.h) as the narrower geometry its context is built with, and the three
// hooks the forward calls — the all-reduce of the residual after the attention output and after
// ffn_down, and the all-gather of the vocabulary-split logits. With one GPU the cut is the whole
// model and every hook returns at once, so the one-GPU forward runs as before.
#include "cuda_ctx.h"
#include <string.h>

extern "C" {
#include "util.h"
}

void cuda_tp_cut(const lmc_model *m, const lmc_cuda_params *p, cuda_tp *tp, lmc_hparams *hp) {
    *hp = m->hp;
    *tp = cuda_tp{};
    tp->n_rank = 1;
    tp->nv = tp->v_max = m->output->ne[1];
    tp->vocab[0] = split_range{0, (int32_t)tp->nv};
    if (!p->tp || p->tp->n_rank <= 1) return;
    const split_tp_plan *pl = p->tp;
    const int r = p->tp_rank;
    tp->rank = r;
    tp->n_rank = pl->n_rank;
    hp->n_head = pl->q_head[r].hi - pl->q_head[r].lo;
    hp->n_head_kv = pl->kv_head[r].hi - pl->kv_head[r].lo;
    hp->n_ff = pl->ff[r].hi - pl->ff[r].lo;
    tp->q0 = (int64_t)pl->q_head[r].lo * hp->head_dim;
    tp->kv0 = (int64_t)pl->kv_head[r].lo * hp->head_dim;
    tp->ff0 = pl->ff[r].lo;
    tp->v0 = pl->vocab[r].lo;
    tp->nv = pl->vocab[r].hi - pl->vocab[r].lo;
    tp->v_max = pl->vocab_max;
    for (int k = 0; k < pl->n_rank; k++)
        tp->vocab[k] = pl->vocab[k];
}

lmc_status cuda_tp_reduce(lmc_cuda_ctx *c, float *x, int64_t n) {
    lmc_comm *comm = c->tp.comm;
    if (!comm) {
        if (c->tp.n_rank <= 1) return LMC_OK;
        return lmc_err(LMC_ERR_BACKEND, "CUDA rank %d of %d: no communicator attached", c->tp.rank,
                       c->tp.n_rank);
    }
    return comm->all_reduce_sum(comm, x, (size_t)n);
}

float *cuda_tp_logits_dst(lmc_cuda_ctx *c, float *y, int64_t ld, int64_t *ld_out) {
    if (c->tp.n_rank <= 1) {
        *ld_out = ld;
        return y;
    }
    *ld_out = c->tp.v_max;
    return c->tp.part;
}

lmc_status cuda_tp_gather(lmc_cuda_ctx *c, int rows, float *y, int64_t ld) {
    cuda_tp &tp = c->tp;
    if (tp.n_rank <= 1) return LMC_OK;
    if (!tp.comm)
        return lmc_err(LMC_ERR_BACKEND, "CUDA rank %d of %d: no communicator attached", tp.rank,
                       tp.n_rank);
    if (rows > tp.rows)
        return lmc_err(LMC_ERR_BACKEND, "CUDA rank %d: %d logit rows, room for %d", tp.rank, rows,
                       tp.rows);
    const size_t per = (size_t)rows * tp.v_max; // floats each rank sends
    lmc_status st = tp.comm->all_gather(tp.comm, tp.part, per, tp.all);
    // rank k's rows (padded to v_max) become columns [lo, hi) of y's rows
    for (int k = 0; k < tp.n_rank && st == LMC_OK; k++) {
        const int64_t w = tp.vocab[k].hi - tp.vocab[k].lo;
        st = cuda_check(cudaMemcpy2DAsync(y + tp.vocab[k].lo, (size_t)ld * 4, tp.all + k * per,
                                          (size_t)tp.v_max * 4, (size_t)w * 4, (size_t)rows,
                                          cudaMemcpyDeviceToDevice, c->st),
                        "logits gather");
    }
    return st;
}

lmc_status cuda_tp_alloc(lmc_cuda_ctx *c, int rows) {
    cuda_tp &tp = c->tp;
    if (tp.n_rank <= 1) return LMC_OK;
    tp.rows = rows;
    const size_t per = (size_t)rows * tp.v_max * 4;
    lmc_status st = cuda_check(cudaMalloc((void **)&tp.part, per), "tensor-parallel logits");
    if (st == LMC_OK) st = cuda_check(cudaMemset(tp.part, 0, per), "tensor-parallel logits");
    if (st == LMC_OK)
        st = cuda_check(cudaMalloc((void **)&tp.all, per * tp.n_rank), "tensor-parallel logits");
    return st;
}

void cuda_tp_release(lmc_cuda_ctx *c) {
    cudaFree(c->tp.part);
    cudaFree(c->tp.all);
    c->tp.part = c->tp.all = NULL;
}

extern "C" lmc_status lmc_cuda_set_device(int32_t gpu) {
    return cuda_check(cudaSetDevice(gpu), "select GPU");
}

extern "C" void *lmc_cuda_stream(lmc_cuda_ctx *c) {
    return (void *)c->st;
}

extern "C" lmc_status lmc_cuda_tp_attach(lmc_cuda_ctx *c, lmc_comm *comm) {
    if (!comm || comm->rank != c->tp.rank || comm->n_rank != c->tp.n_rank)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "CUDA: a communicator of rank %d of %d for the context of rank %d of %d",
                       comm ? comm->rank : -1, comm ? comm->n_rank : 0, c->tp.rank, c->tp.n_rank);
    c->tp.comm = comm;
    return LMC_OK;
}
