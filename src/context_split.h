/* context_split.h — the multi-GPU parameters of lmc_context_params (split_mode, main_gpu,
 * n_tensor_parallel, tensor_split) checked and resolved at context init (issue 19). */
#ifndef LMC_CONTEXT_SPLIT_H
#define LMC_CONTEXT_SPLIT_H

#include "lmc.h"
#include "model.h"

/* Checks p's split against the model and the GPUs present (with gpus_present: lmc_device_count's
 * answer for CUDA, -1 in a build without it). On success p->device is CUDA for ROW/LAYER with every
 * layer on the GPU(s); ROW sets n_tensor_parallel to its ranks (over 1: the tensor-parallel
 * backend, backend_tp.c); LAYER keeps the split backend, which gives each GPU its range of layers
 * (over several GPUs: one sequence only). Errors name the flag and the rule. */
lmc_status ctx_resolve_split(const lmc_model *m, lmc_context_params *p, int32_t gpus_present);
/* LMC_SPLIT_ONE_GPU=1: every GPU of -sm row / -sm layer is GPU 0 (the ranks of -sm row talk
 * through the device communicator) — the multi-GPU forward tested on one GPU
 * (tests/test_cuda_tp.c), not a way to run faster. */
bool split_one_gpu(void);
/* The GPUs -sm layer/row spreads over without -tp: the ones --tensor-split names, else every GPU
 * present (at least 1). */
int32_t split_devices(const lmc_context_params *p, int32_t present);

#endif
