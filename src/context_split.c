/* context_split.c — ctx_resolve_split (context_split.h): which GPUs a context asks for, whether
 * they are present, and whether the model can be cut that way (split_plan.c). -sm row over several
 * GPUs resolves to the tensor-parallel backend (backend_tp.c), -sm layer to the split backend
 * with a range of layers per GPU (backend_split.c, one sequence). */
#include "context_split.h"
#include "split_plan.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *mode_name(lmc_split_mode m) {
    return m == LMC_SPLIT_LAYER ? "layer" : m == LMC_SPLIT_ROW ? "row" : "none";
}

/* The GPUs tensor_split names: one past the last non-zero share (0 when all are zero). */
static int32_t ts_count(const float *ts) {
    int32_t n = 0;
    for (int32_t d = 0; d < LMC_MAX_GPUS; d++)
        if (ts[d] != 0) n = d + 1;
    return n;
}

int32_t split_devices(const lmc_context_params *p, int32_t present) {
    const int32_t n_ts = ts_count(p->tensor_split);
    return n_ts > 0 ? n_ts : (present > 0 ? present : 1);
}

bool split_one_gpu(void) {
    const char *e = getenv("LMC_SPLIT_ONE_GPU");
    return e && strcmp(e, "0") != 0 && e[0];
}

static lmc_status check_present(int32_t want, int32_t present) {
    if (present < 0)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "%d GPUs requested: this build of lmc has no CUDA backend", want);
    if (want > present)
        return lmc_err(LMC_ERR_INVALID_ARG, "%d GPU%s requested, %d present", want,
                       want == 1 ? "" : "s", present);
    return LMC_OK;
}

lmc_status ctx_resolve_split(const lmc_model *m, lmc_context_params *p, int32_t present) {
    if (p->split_mode != LMC_SPLIT_NONE && p->split_mode != LMC_SPLIT_LAYER &&
        p->split_mode != LMC_SPLIT_ROW)
        return lmc_err(LMC_ERR_INVALID_ARG, "unknown split mode %d", (int)p->split_mode);
    if (p->n_tensor_parallel < 0 || p->n_tensor_parallel > LMC_MAX_GPUS)
        return lmc_err(LMC_ERR_INVALID_ARG, "--tensor-parallel %d is out of range (1..%d)",
                       p->n_tensor_parallel, LMC_MAX_GPUS);
    if (p->n_tensor_parallel > 0 && p->split_mode != LMC_SPLIT_ROW)
        return lmc_err(LMC_ERR_INVALID_ARG, "--tensor-parallel needs -sm row (split mode is %s)",
                       mode_name(p->split_mode));
    for (int32_t d = 0; d < LMC_MAX_GPUS; d++)
        if (!isfinite(p->tensor_split[d]) || p->tensor_split[d] < 0)
            return lmc_err(LMC_ERR_INVALID_ARG,
                           "--tensor-split value %d (%g) is not a finite share >= 0", d + 1,
                           (double)p->tensor_split[d]);
    const int32_t n_ts = ts_count(p->tensor_split);
    if (p->split_mode == LMC_SPLIT_NONE) {
        if (n_ts > 0)
            return lmc_err(LMC_ERR_INVALID_ARG, "--tensor-split needs -sm layer or -sm row");
        if (p->main_gpu < 0 || p->main_gpu >= LMC_MAX_GPUS)
            return lmc_err(LMC_ERR_INVALID_ARG, "-mg %d is out of range (0..%d)", p->main_gpu,
                           LMC_MAX_GPUS - 1);
        if (p->main_gpu == 0 || p->device == LMC_DEVICE_CPU) return LMC_OK;
        if (present >= 0 && p->main_gpu >= present)
            return lmc_err(LMC_ERR_INVALID_ARG, "-mg %d: GPU %d requested, %d present", p->main_gpu,
                           p->main_gpu, present);
        if (present < 0)
            return lmc_err(LMC_ERR_UNSUPPORTED, "-mg %d: this build of lmc has no CUDA backend",
                           p->main_gpu);
        return LMC_OK; /* the split backend runs on GPU main_gpu */
    }
    if (p->device == LMC_DEVICE_CPU)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "-sm %s needs the CUDA device; this context runs on the CPU (--device cpu, "
                       "-ngl 0 or no GPU)",
                       mode_name(p->split_mode));
    if (p->main_gpu != 0)
        return lmc_err(LMC_ERR_INVALID_ARG, "-mg is for -sm none (split mode is %s)",
                       mode_name(p->split_mode));
    int32_t n_gpu = p->n_tensor_parallel > 0 ? p->n_tensor_parallel : split_devices(p, present);
    if (p->split_mode == LMC_SPLIT_ROW && n_ts > 0) {
        if (n_ts != n_gpu)
            return lmc_err(LMC_ERR_INVALID_ARG,
                           "--tensor-parallel %d but --tensor-split names %d GPUs", n_gpu, n_ts);
        for (int32_t d = 1; d < n_ts; d++)
            if (p->tensor_split[d] != p->tensor_split[0])
                return lmc_err(LMC_ERR_INVALID_ARG,
                               "-sm row cuts heads and FFN columns evenly: --tensor-split must "
                               "give every GPU the same share (uneven shares are for -sm layer)");
    }
    lmc_status st;
    int32_t used = 0; /* GPUs the plan gives work */
    if (p->split_mode == LMC_SPLIT_ROW) {
        split_geom g;
        split_tp_plan plan;
        split_geom_of(m, &g);
        /* the cut and its all-reduces are written for the llama block: the families' steps
         * (biases, q/k norms, post-norms, soft-caps, windows, fused matrices) are not cut yet, and
         * a rank must never run them on a wrong slice */
        if (n_gpu > 1 && !arch_plain_llama(m))
            return lmc_err(LMC_ERR_UNSUPPORTED,
                           "-sm row supports llama/mistral (the plain llama block) for now; %s's "
                           "block is not: use -sm none (one GPU) or -sm layer",
                           m->hp.arch);
        st = split_tp_plan_make(&g, n_gpu, &plan);
        if (st != LMC_OK) return st;
        used = n_gpu;
    } else {
        split_range r[SPLIT_MAX_RANKS];
        int32_t out_dev = 0;
        st = split_layer_plan(m->hp.n_layer, n_ts > 0 ? p->tensor_split : NULL, n_gpu, r, &out_dev);
        if (st != LMC_OK) return st;
        for (int32_t d = 0; d < n_gpu; d++)
            if (r[d].hi > r[d].lo || d == out_dev) used = d + 1;
    }
    /* the cut is the model's rule, checked first; then whether the GPUs are there (every rank on
     * GPU 0 with LMC_SPLIT_ONE_GPU) */
    st = check_present(split_one_gpu() ? 1 : n_gpu, present);
    if (st != LMC_OK) return st;
    p->device = LMC_DEVICE_CUDA;
    p->n_gpu_layers = m->hp.n_layer;
    if (p->split_mode == LMC_SPLIT_ROW) {
        p->n_tensor_parallel = n_gpu; /* > 1: the tensor-parallel backend */
        return LMC_OK;
    }
    if (used > 1 && p->n_seq > 1)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "-sm layer over %d GPUs runs one sequence so far (--parallel %d asks for "
                       "more); -sm row runs several",
                       n_gpu, p->n_seq);
    return LMC_OK; /* the split backend: a range of layers per GPU (backend_split.c) */
}
