/* comm_nccl.cu — comm.h over NCCL (see comm_nccl.h): ncclAllReduce(sum), ncclAllGather, and a
 * barrier of a one-float all-reduce followed by a stream synchronize. Compiled to nothing without
 * NCCL (CMake defines LMC_WITH_NCCL when it finds nccl.h and libnccl). */
#ifdef LMC_WITH_NCCL
#include "comm_nccl.h"

extern "C" {
#include "util.h"
}

#include <cuda_runtime.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>

static_assert(COMM_NCCL_ID_BYTES == NCCL_UNIQUE_ID_BYTES, "NCCL unique id size");

typedef struct {
    lmc_comm comm;
    ncclComm_t nc;
    cudaStream_t stream;
    int32_t device;
    float *one; /* a device float for the barrier */
} nccl_rank;

static lmc_status nccl_fail(ncclResult_t r, const char *what) {
    return lmc_err(LMC_ERR_BACKEND, "NCCL %s: %s", what, ncclGetErrorString(r));
}

static lmc_status nccl_all_reduce(lmc_comm *c, float *buf, size_t n) {
    nccl_rank *r = (nccl_rank *)c->impl;
    ncclResult_t e = ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, r->nc, r->stream);
    return e == ncclSuccess ? LMC_OK : nccl_fail(e, "all-reduce");
}

static lmc_status nccl_all_gather(lmc_comm *c, const float *send, size_t n, float *recv) {
    nccl_rank *r = (nccl_rank *)c->impl;
    ncclResult_t e = ncclAllGather(send, recv, n, ncclFloat, r->nc, r->stream);
    return e == ncclSuccess ? LMC_OK : nccl_fail(e, "all-gather");
}

static lmc_status nccl_barrier(lmc_comm *c) {
    nccl_rank *r = (nccl_rank *)c->impl;
    ncclResult_t e = ncclAllReduce(r->one, r->one, 1, ncclFloat, ncclSum, r->nc, r->stream);
    if (e != ncclSuccess) return nccl_fail(e, "barrier");
    cudaError_t ce = cudaStreamSynchronize(r->stream);
    return ce == cudaSuccess ? LMC_OK
                             : lmc_err(LMC_ERR_BACKEND, "NCCL barrier: %s", cudaGetErrorString(ce));
}

extern "C" lmc_status comm_nccl_unique_id(unsigned char id[COMM_NCCL_ID_BYTES]) {
    setenv("NCCL_NVLS_ENABLE", "0", 1); /* NVLink multicast off (issue 19) */
    ncclUniqueId u;
    ncclResult_t e = ncclGetUniqueId(&u);
    if (e != ncclSuccess) return nccl_fail(e, "unique id");
    memcpy(id, u.internal, COMM_NCCL_ID_BYTES);
    return LMC_OK;
}

extern "C" lmc_status comm_nccl_init_rank(const unsigned char id[COMM_NCCL_ID_BYTES],
                                          int32_t n_rank, int32_t rank, int32_t device,
                                          void *stream, lmc_comm **out) {
    *out = NULL;
    if (n_rank < 1 || rank < 0 || rank >= n_rank)
        return lmc_err(LMC_ERR_INVALID_ARG, "NCCL: rank %d of %d", rank, n_rank);
    cudaError_t ce = cudaSetDevice(device);
    if (ce != cudaSuccess)
        return lmc_err(LMC_ERR_BACKEND, "NCCL rank %d: GPU %d: %s", rank, device,
                       cudaGetErrorString(ce));
    nccl_rank *r = (nccl_rank *)calloc(1, sizeof *r);
    if (!r) return lmc_err(LMC_ERR_OOM, "NCCL: out of memory");
    r->stream = (cudaStream_t)stream;
    r->device = device;
    ce = cudaMalloc((void **)&r->one, sizeof(float));
    if (ce != cudaSuccess) {
        free(r);
        return lmc_err(LMC_ERR_BACKEND, "NCCL rank %d: %s", rank, cudaGetErrorString(ce));
    }
    cudaMemset(r->one, 0, sizeof(float));
    ncclUniqueId u;
    memcpy(u.internal, id, COMM_NCCL_ID_BYTES);
    ncclResult_t e = ncclCommInitRank(&r->nc, n_rank, u, rank);
    if (e != ncclSuccess) {
        cudaFree(r->one);
        free(r);
        return nccl_fail(e, "init");
    }
    r->comm.rank = rank;
    r->comm.n_rank = n_rank;
    r->comm.all_reduce_sum = nccl_all_reduce;
    r->comm.all_gather = nccl_all_gather;
    r->comm.barrier = nccl_barrier;
    r->comm.impl = r;
    *out = &r->comm;
    return LMC_OK;
}

extern "C" void comm_nccl_free(lmc_comm *c) {
    if (!c) return;
    nccl_rank *r = (nccl_rank *)c->impl;
    cudaSetDevice(r->device);
    ncclCommDestroy(r->nc);
    cudaFree(r->one);
    free(r);
}
#endif
