/* backend_tp.c — lmc_tp_backend: tensor parallelism, -sm row / --tensor-parallel N (issue 19,
 * docs/MULTI_GPU.md). One process, one thread per rank: rank r owns GPU r (every rank GPU 0 with
 * LMC_SPLIT_ONE_GPU, the single-GPU test of this path), makes it current once on its thread and
 * keeps there a lmc_split_backend state over its cut of the model (split_plan.c: its query/KV
 * heads, FFN columns and output rows; its heads' KV cache) and its communicator: NCCL when the
 * build has it and the ranks have GPUs of their own (bootstrapped through one ncclGetUniqueId, so
 * the same calls would run one process per host), else the device communicator (comm_device.h). The
 * context's thread hands every job (init, forward, kv shift, free) to all ranks at once and waits
 * for all; each rank runs the single-GPU forward of its narrower model, whose hooks all-reduce the
 * residual twice per layer and all-gather the logits (cuda_tp.cu). Rank 0 writes the slice's
 * logits and shows the observer its residuals (every rank holds the same residual stream); the
 * other ranks compute the same steps without copying logits out. A rank failing inside a forward
 * while the others wait in a collective is not recovered from (the collectives have no timeout). */
#include "backend.h"

#ifdef LMC_WITH_CUDA
#include "context_split.h"
#include "cuda/comm_device.h"
#include "cuda/cuda_backend.h"
#ifdef LMC_WITH_NCCL
#include "cuda/comm_nccl.h"
#endif
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JOB_INIT, JOB_COMM, JOB_FORWARD, JOB_SHIFT, JOB_FREE, JOB_QUIT } tp_job;

typedef struct tp_state tp_state;

typedef struct {
    tp_state *s;
    int32_t rank, gpu;
    pthread_t th;
    void *split;    /* the rank's lmc_split_backend state */
    lmc_comm *comm; /* its communicator */
    lmc_status st;  /* the last job's */
    char err[512];
} tp_rank;

struct tp_state {
    const lmc_model *m;
    lmc_context_params p;
    split_tp_plan plan;
    int32_t n_rank, n_thread; /* ranks, threads started */
    bool nccl;
    comm_device_group *group; /* the device communicator's, when not NCCL */
    unsigned char id[128];    /* NCCL's unique id */
    tp_rank r[SPLIT_MAX_RANKS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t gen; /* bumped per job */
    tp_job job;
    int32_t n_done;
    const lmc_fwd_batch *b;               /* JOB_FORWARD */
    int32_t sh_seq, sh_from, sh_n, sh_to; /* JOB_SHIFT */
};

static lmc_status rank_comm(tp_state *s, tp_rank *r) {
    struct lmc_cuda_ctx *c = split_backend_gpu(r->split);
    lmc_status st;
#ifdef LMC_WITH_NCCL
    if (s->nccl)
        st = comm_nccl_init_rank(s->id, s->n_rank, r->rank, r->gpu, lmc_cuda_stream(c), &r->comm);
    else
#endif
        st = comm_device_rank(s->group, r->rank, r->gpu, lmc_cuda_stream(c), &r->comm);
    return st == LMC_OK ? lmc_cuda_tp_attach(c, r->comm) : st;
}

static void rank_free(tp_state *s, tp_rank *r) {
    (void)s; /* its nccl flag, in a build with NCCL */
    if (r->comm) {
#ifdef LMC_WITH_NCCL
        if (s->nccl)
            comm_nccl_free(r->comm);
        else
#endif
            comm_device_free(r->comm);
    }
    r->comm = NULL;
    lmc_split_backend.free(r->split);
    r->split = NULL;
}

static void ignore(void *user, lmc_observe_what what, int32_t layer, const float *v, int32_t n) {
    (void)user, (void)what, (void)layer, (void)v, (void)n;
}

static lmc_status rank_job(tp_state *s, tp_rank *r, tp_job job) {
    lmc_status st = lmc_cuda_set_device(r->gpu);
    if (st != LMC_OK) return st;
    switch (job) {
    case JOB_INIT:
        return split_backend_init_rank(s->m, &s->p, &s->plan, r->rank, &r->split);
    case JOB_COMM:
        return rank_comm(s, r);
    case JOB_FORWARD: {
        /* the same steps on every rank (runs are cut at the observed token too, so the others
         * get an observer that ignores what it sees); rank 0 writes the logits and feeds the
         * real observer */
        lmc_fwd_batch b = *s->b;
        if (r->rank > 0) {
            b.logits = NULL;
            if (b.observe) b.observe = ignore;
        }
        return lmc_split_backend.forward(r->split, &b);
    }
    case JOB_SHIFT: /* each rank's own heads: no collective */
        lmc_split_backend.kv_shift(r->split, s->sh_seq, s->sh_from, s->sh_n, s->sh_to);
        return LMC_OK;
    case JOB_FREE:
        rank_free(s, r);
        return LMC_OK;
    case JOB_QUIT:
        break;
    }
    return LMC_OK;
}

static void *rank_thread(void *arg) {
    tp_rank *r = arg;
    tp_state *s = r->s;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->gen == seen)
            pthread_cond_wait(&s->cv, &s->mu);
        seen = s->gen;
        const tp_job job = s->job;
        pthread_mutex_unlock(&s->mu);
        if (job == JOB_QUIT) return NULL;
        r->st = rank_job(s, r, job);
        if (r->st != LMC_OK) snprintf(r->err, sizeof r->err, "%s", lmc_last_error());
        pthread_mutex_lock(&s->mu);
        if (++s->n_done == s->n_thread) pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
}

/* Runs job on every rank's thread and waits for all; the first rank's failure, or LMC_OK. */
static lmc_status tp_run(tp_state *s, tp_job job) {
    pthread_mutex_lock(&s->mu);
    s->job = job;
    s->n_done = 0;
    s->gen++;
    pthread_cond_broadcast(&s->cv);
    while (job != JOB_QUIT && s->n_done < s->n_thread)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    for (int32_t k = 0; job != JOB_QUIT && k < s->n_thread; k++)
        if (s->r[k].st != LMC_OK)
            return lmc_err(s->r[k].st, "tensor parallel, rank %d of %d (GPU %d): %s", k, s->n_rank,
                           s->r[k].gpu, s->r[k].err);
    return LMC_OK;
}

static void tp_free(void *state) {
    tp_state *s = state;
    if (!s) return;
    if (s->n_thread > 0) {
        tp_run(s, JOB_FREE);
        tp_run(s, JOB_QUIT);
        for (int32_t k = 0; k < s->n_thread; k++)
            pthread_join(s->r[k].th, NULL);
    }
    comm_device_group_free(s->group);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The plan, the GPU of each rank and the communicator's kind, before any thread starts. */
static lmc_status tp_setup(tp_state *s) {
    const int32_t n = s->n_rank;
    char why[256];
    /* ctx_resolve_split refused the other blocks already; the batched step runs every block the
     * one-sequence forward runs, so its check would not do */
    if (!arch_plain_llama(s->m) || !lmc_cuda_model_supported(s->m, why, sizeof why))
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "-sm row supports llama/mistral (the plain llama block) for now; %s's block "
                       "is not: use -sm none (one GPU) or -sm layer",
                       s->m->hp.arch);
    split_geom g;
    split_geom_of(s->m, &g);
    lmc_status st = split_tp_plan_make(&g, n, &s->plan);
    if (st != LMC_OK) return st;
    const bool one_gpu = split_one_gpu();
    const int present = lmc_cuda_device_count();
    if (!one_gpu && n > present)
        return lmc_err(LMC_ERR_INVALID_ARG, "%d GPUs requested, %d present", n, present);
    for (int32_t k = 0; k < n; k++)
        s->r[k] = (tp_rank){.s = s, .rank = k, .gpu = one_gpu ? 0 : k};
#ifdef LMC_WITH_NCCL
    s->nccl = !one_gpu;
    if (s->nccl) return comm_nccl_unique_id(s->id); /* sets NCCL_NVLS_ENABLE=0 first */
#endif
    s->group = comm_device_group_new(n);
    return s->group ? LMC_OK : lmc_err(LMC_ERR_OOM, "tensor parallel: out of memory");
}

static lmc_status tp_init(const lmc_model *m, const lmc_context_params *p, void **state) {
    *state = NULL;
    tp_state *s = calloc(1, sizeof *s);
    if (!s) return lmc_err(LMC_ERR_OOM, "tensor parallel: out of memory");
    s->m = m;
    s->p = *p;
    s->n_rank = p->n_tensor_parallel;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    lmc_status st = tp_setup(s);
    for (; st == LMC_OK && s->n_thread < s->n_rank; s->n_thread++)
        if (pthread_create(&s->r[s->n_thread].th, NULL, rank_thread, &s->r[s->n_thread]) != 0)
            st = lmc_err(LMC_ERR_BACKEND, "tensor parallel: cannot start the thread of rank %d",
                         s->n_thread);
    /* every rank's context first, then the communicators (NCCL's init waits for all ranks) */
    if (st == LMC_OK) st = tp_run(s, JOB_INIT);
    if (st == LMC_OK) st = tp_run(s, JOB_COMM);
    if (st != LMC_OK) {
        tp_free(s);
        return st;
    }
    *state = s;
    return LMC_OK;
}

static lmc_status tp_forward(void *state, const lmc_fwd_batch *b) {
    tp_state *s = state;
    if (b->hidden)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "hidden states (embeddings) are computed on the CPU only; use a context "
                       "with -ngl 0");
    s->b = b;
    lmc_status st = tp_run(s, JOB_FORWARD);
    s->b = NULL;
    return st;
}

static void tp_kv_shift(void *state, int32_t seq, int32_t from, int32_t n, int32_t to) {
    tp_state *s = state;
    s->sh_seq = seq;
    s->sh_from = from;
    s->sh_n = n;
    s->sh_to = to;
    tp_run(s, JOB_SHIFT); /* errors are kept by each rank's context for its next forward */
}

const lmc_backend lmc_tp_backend = {"cuda-tp", tp_init, tp_free, tp_forward, tp_kv_shift};

struct lmc_cuda_ctx *tp_backend_gpu(void *state) {
    return state ? split_backend_gpu(((tp_state *)state)->r[0].split) : NULL;
}

#else
typedef int lmc_backend_tp_unused; /* built without CUDA: context.c never selects this backend */
#endif
