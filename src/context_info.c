/* context_info.c — what a context runs on, for the tools (lmc bench) through lmc.h: the backend,
 * the CPU kernel set, the GPU's name, memory and copy bandwidth, the weight bytes a decode step
 * reads on it. It only asks the backends; it computes nothing of the forward pass. */
#include "context.h"
#include "cpu/kernels.h"
#ifdef LMC_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif
#include "util.h"

#include <string.h>

int32_t lmc_device_count(lmc_device device) {
    if (device == LMC_DEVICE_CPU) return 1;
    if (device != LMC_DEVICE_CUDA) return 0;
#ifdef LMC_WITH_CUDA
    return lmc_cuda_device_count();
#else
    return -1;
#endif
}

lmc_status lmc_context_get_info(const lmc_context *ctx, lmc_context_info *out) {
    if (!ctx || !out)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_context_get_info: ctx and out are required");
    memset(out, 0, sizeof *out);
    const lmc_context_params *p = &ctx->params;
    out->device = p->device;
    out->backend = ctx->backend->name;
    out->n_gpu_layers = p->n_gpu_layers;
    out->n_threads = p->n_threads;
    out->cpu_kernels = kern_best()->name;
    out->type_k = p->type_k;
    out->type_v = p->type_v;
#ifdef LMC_WITH_CUDA
    struct lmc_cuda_ctx *gpu =
        ctx->backend == &lmc_split_backend ? split_backend_gpu(ctx->backend_state)
        : ctx->backend == &lmc_tp_backend  ? tp_backend_gpu(ctx->backend_state)
                                           : NULL;
    if (gpu) {
        lmc_cuda_device_info(out->gpu_name, (int)sizeof out->gpu_name, &out->gpu_mem_free,
                             &out->gpu_mem_total);
        out->gpu_weight_bytes = lmc_cuda_weight_bytes_per_token(gpu);
    }
#endif
    return LMC_OK;
}

lmc_status lmc_context_measure_bandwidth(lmc_context *ctx, double *gb_s) {
    if (!ctx || !gb_s)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "lmc_context_measure_bandwidth: ctx and gb_s are required");
    *gb_s = 0;
#ifdef LMC_WITH_CUDA
    struct lmc_cuda_ctx *gpu =
        ctx->backend == &lmc_split_backend ? split_backend_gpu(ctx->backend_state)
        : ctx->backend == &lmc_tp_backend  ? tp_backend_gpu(ctx->backend_state)
                                           : NULL;
    if (gpu) return lmc_cuda_copy_bandwidth(gpu, gb_s);
#endif
    return lmc_err(LMC_ERR_UNSUPPORTED,
                   "measure bandwidth: the context runs on the CPU (a GPU's is measured)");
}
