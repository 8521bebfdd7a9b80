// comm_device.cu — comm.h over device buffers without NCCL (see comm_device.h): a host barrier
// between the ranks' threads, device copies in rank order and an add kernel.
#include "comm_device.h"

extern "C" {
#include "util.h"
}

#include <cuda_runtime.h>
#include <pthread.h>
#include <stdlib.h>

enum { DEV_MAX_RANKS = 64 };

struct comm_device_group {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int32_t n_rank, waiting;
    uint64_t generation;
    const float *post[DEV_MAX_RANKS]; // each rank's buffer of the current collective
};

typedef struct {
    lmc_comm comm;
    comm_device_group *g;
    cudaStream_t s;
    int32_t device;
    float *sum, *in; // (cap) the rank's sum and the buffer being added
    size_t cap;
} dev_rank;

static void group_wait(comm_device_group *g) {
    pthread_mutex_lock(&g->mu);
    const uint64_t gen = g->generation;
    if (++g->waiting == g->n_rank) {
        g->waiting = 0;
        g->generation++;
        pthread_cond_broadcast(&g->cv);
    } else {
        while (gen == g->generation)
            pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
}

__global__ static void add_kernel(float *__restrict__ y, const float *__restrict__ x, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += x[i];
}

static cudaError_t ensure_scratch(dev_rank *r, size_t n) {
    if (n <= r->cap) return cudaSuccess;
    cudaFree(r->sum);
    cudaFree(r->in);
    r->sum = r->in = NULL;
    r->cap = 0;
    cudaError_t e = cudaMalloc((void **)&r->sum, n * sizeof(float));
    if (e == cudaSuccess) e = cudaMalloc((void **)&r->in, n * sizeof(float));
    if (e == cudaSuccess) r->cap = n;
    return e;
}

static lmc_status dev_fail(const lmc_comm *c, const char *what, cudaError_t e) {
    return lmc_err(LMC_ERR_BACKEND, "device communicator, rank %d of %d: %s: %s", c->rank,
                   c->n_rank, what, cudaGetErrorString(e));
}

// Every rank meets both barriers whatever fails, so no rank waits for one that gave up.
static lmc_status dev_all_reduce(lmc_comm *c, float *buf, size_t n) {
    dev_rank *r = (dev_rank *)c->impl;
    comm_device_group *g = r->g;
    cudaError_t e = cudaSetDevice(r->device);
    if (e == cudaSuccess) e = cudaStreamSynchronize(r->s); // buf is final
    if (e == cudaSuccess) e = ensure_scratch(r, n);
    g->post[c->rank] = buf;
    group_wait(g);
    const unsigned blocks = (unsigned)((n + 255) / 256 < 1024 ? (n + 255) / 256 : 1024);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(r->sum, g->post[0], n * sizeof(float), cudaMemcpyDefault, r->s);
    for (int32_t k = 1; k < g->n_rank && e == cudaSuccess && n > 0; k++) {
        e = cudaMemcpyAsync(r->in, g->post[k], n * sizeof(float), cudaMemcpyDefault, r->s);
        if (e == cudaSuccess) {
            add_kernel<<<blocks, 256, 0, r->s>>>(r->sum, r->in, n);
            e = cudaGetLastError();
        }
    }
    if (e == cudaSuccess) e = cudaStreamSynchronize(r->s); // every buffer read
    group_wait(g);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(buf, r->sum, n * sizeof(float), cudaMemcpyDeviceToDevice, r->s);
    return e == cudaSuccess ? LMC_OK : dev_fail(c, "all-reduce", e);
}

static lmc_status dev_all_gather(lmc_comm *c, const float *send, size_t n, float *recv) {
    dev_rank *r = (dev_rank *)c->impl;
    comm_device_group *g = r->g;
    cudaError_t e = cudaSetDevice(r->device);
    if (e == cudaSuccess) e = cudaStreamSynchronize(r->s);
    g->post[c->rank] = send;
    group_wait(g);
    for (int32_t k = 0; k < g->n_rank && e == cudaSuccess; k++)
        e = cudaMemcpyAsync(recv + (size_t)k * n, g->post[k], n * sizeof(float), cudaMemcpyDefault,
                            r->s);
    if (e == cudaSuccess) e = cudaStreamSynchronize(r->s);
    group_wait(g);
    return e == cudaSuccess ? LMC_OK : dev_fail(c, "all-gather", e);
}

static lmc_status dev_barrier(lmc_comm *c) {
    dev_rank *r = (dev_rank *)c->impl;
    cudaError_t e = cudaSetDevice(r->device);
    if (e == cudaSuccess) e = cudaStreamSynchronize(r->s);
    group_wait(r->g);
    return e == cudaSuccess ? LMC_OK : dev_fail(c, "barrier", e);
}

extern "C" comm_device_group *comm_device_group_new(int32_t n_rank) {
    if (n_rank < 1 || n_rank > DEV_MAX_RANKS) return NULL;
    comm_device_group *g = (comm_device_group *)calloc(1, sizeof *g);
    if (!g) return NULL;
    g->n_rank = n_rank;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    return g;
}

extern "C" lmc_status comm_device_rank(comm_device_group *g, int32_t rank, int32_t device,
                                       void *stream, lmc_comm **out) {
    *out = NULL;
    if (!g || rank < 0 || rank >= g->n_rank)
        return lmc_err(LMC_ERR_INVALID_ARG, "device communicator: rank %d of %d", rank,
                       g ? g->n_rank : 0);
    dev_rank *r = (dev_rank *)calloc(1, sizeof *r);
    if (!r) return lmc_err(LMC_ERR_OOM, "device communicator: out of memory");
    r->g = g;
    r->s = (cudaStream_t)stream;
    r->device = device;
    r->comm.rank = rank;
    r->comm.n_rank = g->n_rank;
    r->comm.all_reduce_sum = dev_all_reduce;
    r->comm.all_gather = dev_all_gather;
    r->comm.barrier = dev_barrier;
    r->comm.impl = r;
    *out = &r->comm;
    return LMC_OK;
}

extern "C" void comm_device_free(lmc_comm *c) {
    if (!c) return;
    dev_rank *r = (dev_rank *)c->impl;
    cudaSetDevice(r->device);
    cudaFree(r->sum);
    cudaFree(r->in);
    free(r);
}

extern "C" void comm_device_group_free(comm_device_group *g) {
    if (!g) return;
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
