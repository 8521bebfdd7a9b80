/* context_split.h — the multi-GPU parameters of lmc_context_params (split_mode, main_gpu,
 * n_tensor_parallel, tensor_split) checked and resolved at context init (issue 19). */
#ifndef LMC_CONTEXT_SPLIT_H
#define LMC_CONTEXT_SPLIT_H

#include "lmc.h"
#include "model.h"

/* Checks p's split against the model and the GPUs present (with gpus_present: lmc_device_count's
 * answer for CUDA, -1 in a build without it). On success the split is one the single-GPU path
 * runs (NONE on GPU 0, ROW over one rank, LAYER with every layer on GPU 0) and p->device is CUDA
 * for ROW/LAYER; anything over more GPUs is LMC_ERR_UNSUPPORTED after its plan was checked (the
 * multi-GPU forward is not written yet: docs/MULTI_GPU.md). Errors name the flag and the rule. */
lmc_status ctx_resolve_split(const lmc_model *m, lmc_context_params *p, int32_t gpus_present);

#endif
