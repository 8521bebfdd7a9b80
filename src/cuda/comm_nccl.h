/* comm_nccl.h — the NCCL communicator of src/comm.h (issue 19), built when CMake finds NCCL
 * (LMC_WITH_NCCL). One rank per GPU; one thread per GPU in one process here, and the same calls
 * across processes or hosts: rank 0 makes the unique id (comm_nccl_unique_id), every rank gets
 * its bytes (a thread reads them from memory; another process would from a file or a socket) and
 * calls comm_nccl_init_rank on its own thread with its GPU, and NCCL's bootstrap connects them.
 * NVLink multicast stays off: comm_nccl_unique_id sets NCCL_NVLS_ENABLE=0 before any NCCL init.
 * The collectives are queued on the stream given at init and return at once (device pointers);
 * barrier also waits for the stream. */
#ifndef LMC_COMM_NCCL_H
#define LMC_COMM_NCCL_H

#include "comm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COMM_NCCL_ID_BYTES 128 /* NCCL_UNIQUE_ID_BYTES */

/* Sets NCCL_NVLS_ENABLE=0 and writes a fresh unique id (rank 0 calls it once, before the ranks'
 * threads start: setenv is not thread-safe). */
lmc_status comm_nccl_unique_id(unsigned char id[COMM_NCCL_ID_BYTES]);
/* Rank `rank` of n_rank on GPU `device`, queuing on `stream` (a cudaStream_t; NULL: the default
 * stream). Blocks until every rank has called it (run each on its own thread). *out is freed with
 * comm_nccl_free. */
lmc_status comm_nccl_init_rank(const unsigned char id[COMM_NCCL_ID_BYTES], int32_t n_rank,
                               int32_t rank, int32_t device, void *stream, lmc_comm **out);
void comm_nccl_free(lmc_comm *c);

#ifdef __cplusplus
}
#endif

#endif
