/* threadpool.c — see threadpool.h. A job is split into chunks that threads claim from one atomic
 * counter, the caller included, and the caller returns when every chunk is done: a worker the OS
 * has not scheduled yet (2 cores shared with other processes) delays nothing, the caller takes its
 * chunks. Workers spin briefly for the next job (a decode step issues hundreds of short jobs, and
 * waking a sleeping thread costs tens of microseconds), then sleep on a condition variable. */
#include "threadpool.h"
#include "util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

enum {
    TP_SPIN =
        5000, /* pause loops (tens of microseconds) before a worker sleeps or the caller yields */
    TP_CHUNKS_PER_THREAD = 8,
};

typedef struct {
    tp_pool *pool;
    int tid;
    pthread_t thread;
} tp_worker;

struct tp_pool {
    int n_threads;
    tp_worker *workers; /* (n_threads - 1) */
    uint8_t *scratch;   /* (n_threads, scratch_stride) */
    size_t scratch_bytes, scratch_stride;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* (generation << 32) | next unclaimed chunk. A claim is a CAS that keeps the generation, so a
     * late worker can never claim a chunk of a newer job with an older job's function. */
    _Atomic uint64_t claim;
    atomic_int done; /* chunks finished in the current job */
    atomic_bool quit;
    /* the current job; atomics because a late worker may read them while the next job is posted
     * (its claim then fails and the values are ignored) */
    _Atomic(tp_fn) fn;
    _Atomic(void *) ctx;
    _Atomic int64_t n_items;
    atomic_int n_chunks;
};

static inline void tp_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claims and runs chunks of generation gen until none is left (or a newer job started). */
static void tp_work(tp_pool *p, uint32_t gen, int tid) {
    /* seq_cst with the caller's stores: a late worker that reads the next job's parameters here is
     * certain to find the counter already closed (tp_parallel_for) when it tries to claim */
    tp_fn fn = atomic_load(&p->fn);
    void *ctx = atomic_load(&p->ctx);
    int64_t n = atomic_load(&p->n_items);
    int C = atomic_load(&p->n_chunks);
    uint64_t cur = atomic_load(&p->claim);
    for (;;) {
        if ((uint32_t)(cur >> 32) != gen || (int64_t)(uint32_t)cur >= C) return;
        if (!atomic_compare_exchange_weak(&p->claim, &cur, cur + 1)) continue;
        int64_t c = (int64_t)(uint32_t)cur;
        int64_t begin = n * c / C, end = n * (c + 1) / C;
        if (begin < end) fn(ctx, begin, end, tid);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        cur = atomic_load_explicit(&p->claim, memory_order_acquire);
    }
}

static void *tp_worker_main(void *arg) {
    tp_worker *w = arg;
    tp_pool *p = w->pool;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g = (uint32_t)(atomic_load_explicit(&p->claim, memory_order_acquire) >> 32);
        for (int spin = 0; g == seen && spin < TP_SPIN && !atomic_load(&p->quit); spin++) {
            tp_pause();
            g = (uint32_t)(atomic_load_explicit(&p->claim, memory_order_acquire) >> 32);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = (uint32_t)(atomic_load_explicit(&p->claim, memory_order_acquire) >> 32)) ==
                       seen &&
                   !atomic_load(&p->quit))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = g;
        tp_work(p, g, w->tid);
    }
    return NULL;
}

lmc_status tp_create(int n_threads, size_t scratch_bytes, tp_pool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return lmc_err(LMC_ERR_INVALID_ARG, "thread pool: %d threads requested (1..1024)",
                       n_threads);
    tp_pool *p = calloc(1, sizeof *p);
    if (!p) return lmc_err(LMC_ERR_OOM, "thread pool: out of memory");
    p->n_threads = n_threads;
    p->scratch_bytes = scratch_bytes;
    p->scratch_stride = (scratch_bytes + 63) & ~(size_t)63;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->claim, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->quit, false);
    atomic_init(&p->fn, NULL);
    atomic_init(&p->ctx, NULL);
    atomic_init(&p->n_items, 0);
    atomic_init(&p->n_chunks, 0);
    if (p->scratch_stride) {
        p->scratch = aligned_alloc(64, p->scratch_stride * (size_t)n_threads);
        if (!p->scratch) goto oom;
    }
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) goto oom;
        for (int i = 0; i < n_threads - 1; i++) {
            tp_worker *w = &p->workers[i];
            w->pool = p;
            w->tid = i + 1;
            if (pthread_create(&w->thread, NULL, tp_worker_main, w) != 0) {
                p->n_threads = i + 1; /* tp_free joins the ones that started */
                tp_free(p);
                return lmc_err(LMC_ERR_OOM, "thread pool: could not start thread %d of %d", i + 2,
                               n_threads);
            }
        }
    }
    *out = p;
    return LMC_OK;
oom:
    p->n_threads = 1;
    tp_free(p);
    return lmc_err(LMC_ERR_OOM,
                   "thread pool: out of memory for %d threads' scratch (%zu bytes each)", n_threads,
                   scratch_bytes);
}

void tp_free(tp_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads - 1; i++)
        pthread_join(p->workers[i].thread, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->workers);
    free(p->scratch);
    free(p);
}

int tp_n_threads(const tp_pool *p) {
    return p->n_threads;
}
size_t tp_scratch_bytes(const tp_pool *p) {
    return p->scratch_bytes;
}
void *tp_scratch(tp_pool *p, int tid) {
    return p->scratch + p->scratch_stride * (size_t)tid;
}

void tp_parallel_for(tp_pool *p, int64_t n_items, tp_fn fn, void *ctx) {
    if (n_items <= 0) return;
    if (p->n_threads == 1 || n_items == 1) {
        fn(ctx, 0, n_items, 0);
        return;
    }
    int64_t C = (int64_t)p->n_threads * TP_CHUNKS_PER_THREAD;
    if (C > n_items) C = n_items;
    /* Close the last job's counter before its parameters are overwritten: a worker still inside the
     * last job may read the new chunk count, and with the old counter open it could claim an index
     * past the last job's chunks, run a chunk on mixed parameters and count it into this job's done
     * (this job then returned while that chunk still ran: a stale stack job, seen at 12-16
     * threads). */
    const uint64_t last = atomic_load(&p->claim);
    atomic_store(&p->claim, (last & ~(uint64_t)0xFFFFFFFFu) | 0xFFFFFFFFu);
    atomic_store(&p->fn, fn);
    atomic_store(&p->ctx, ctx);
    atomic_store(&p->n_items, n_items);
    atomic_store(&p->n_chunks, (int)C);
    atomic_store(&p->done, 0);
    uint32_t gen = (uint32_t)(last >> 32) + 1;
    /* Publish under the mutex so a worker between its check and pthread_cond_wait cannot miss it.
     */
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->claim, (uint64_t)gen << 32, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    tp_work(p, gen, 0);
    for (int spin = 0; atomic_load_explicit(&p->done, memory_order_acquire) < C; spin++) {
        if (spin > TP_SPIN)
            sched_yield();
        else
            tp_pause();
    }
}
