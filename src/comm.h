/* comm.h — the collectives tensor parallelism needs (issue 19), behind one small table so the same
 * per-layer schedule (docs/MULTI_GPU.md) runs over NCCL on GPUs (src/cuda/comm_nccl.cu) and over
 * an in-process fake on the CPU (comm_fake.c, what tests/test_split_plan.c drives). Each rank holds
 * its own lmc_comm; every rank must make the same calls in the same order with the same counts
 * (the NCCL rule). Buffers live where the implementation's ranks compute: host memory for the fake,
 * device memory for NCCL (whose calls are queued on the rank's stream, see comm_nccl.h).
 *
 * Results are the same bits on every rank: all_reduce_sum adds the ranks' values in rank order
 * (the fake) or in NCCL's fixed ring/tree order, so replicated state (the residual stream) never
 * drifts apart between ranks. */
#ifndef LMC_COMM_H
#define LMC_COMM_H

#include "lmc.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmc_comm lmc_comm;
struct lmc_comm {
    int32_t rank, n_rank;
    /* buf[i] = sum over ranks of their buf[i], i < n, in place. */
    lmc_status (*all_reduce_sum)(lmc_comm *c, float *buf, size_t n);
    /* recv[r * n + i] = rank r's send[i]: n floats from every rank, in rank order (equal counts,
     * as NCCL's all-gather; a caller with uneven parts pads to the widest). */
    lmc_status (*all_gather)(lmc_comm *c, const float *send, size_t n, float *recv);
    /* Returns once every rank has called it (NCCL: once this rank's queued work is done too). */
    lmc_status (*barrier)(lmc_comm *c);
    void *impl;
};

/* ---- the fake: n_rank threads of one process, shared host buffers (comm_fake.c) ------------- */
/* Runs fn(comm of rank r, user) on n_rank threads (1..64) at once and waits for all; the return is
 * the first rank's failure, or LMC_OK. A rank that fails must still make every collective call the
 * others make (or the others wait forever): fn should compute, not return early, between calls. */
lmc_status comm_fake_run(int32_t n_rank, lmc_status (*fn)(lmc_comm *c, void *user), void *user);

#ifdef __cplusplus
}
#endif

#endif
