/* comm_device.h — a communicator of src/comm.h without NCCL (issue 19): the ranks are threads of
 * one process whose buffers are device memory, on one GPU (several ranks sharing it: how the
 * multi-GPU forward is tested on a single GPU, tests/test_cuda_tp.c) or on several (copies
 * through unified addressing; correct but not fast — NCCL is the multi-GPU communicator). Each
 * collective synchronizes the rank's stream, meets the other ranks at a host barrier, copies every
 * rank's buffer into the rank's own device scratch in rank order and adds them there (so every
 * rank gets the same bits), meets them again (nobody overwrites a buffer another still reads) and
 * writes its result. Not for CUDA graph capture (it synchronizes). */
#ifndef LMC_COMM_DEVICE_H
#define LMC_COMM_DEVICE_H

#include "comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct comm_device_group comm_device_group;

/* The meeting point of n_rank ranks (1..64); NULL when out of memory or n_rank out of range. */
comm_device_group *comm_device_group_new(int32_t n_rank);
/* Rank `rank` of g on GPU `device`, working on `stream` (a cudaStream_t; the caller's thread makes
 * the GPU current before each collective). Freed with comm_device_free, before the group. */
lmc_status comm_device_rank(comm_device_group *g, int32_t rank, int32_t device, void *stream,
                            lmc_comm **out);
void comm_device_free(lmc_comm *c);
void comm_device_group_free(comm_device_group *g);

#ifdef __cplusplus
}
#endif

#endif
