/* threadpool.c — see threadpool.h. Workers wait for a new generation number: they spin briefly (a
 * decode step issues hundreds of short jobs, and waking a sleeping thread costs tens of microseconds)
 * and then sleep on a condition variable. Completion is a counter the caller spins (then yields) on. */
#include "threadpool.h"
#include "util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

enum { TP_SPIN = 20000 }; /* polls before a worker sleeps; a few tens of microseconds */

typedef struct {
    tp_pool *pool;
    int tid;
    pthread_t thread;
} tp_worker;

struct tp_pool {
    int n_threads;
    tp_worker *workers;      /* (n_threads - 1) */
    uint8_t *scratch;        /* (n_threads, scratch_stride) */
    size_t scratch_bytes, scratch_stride;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint generation;  /* bumped once per job; workers run a job when it changes */
    atomic_int pending;      /* workers still running the current job */
    atomic_bool quit;
    /* the current job (written before generation is bumped) */
    tp_fn fn;
    void *ctx;
    int64_t n_items;
};

static void tp_run_share(tp_pool *p, int tid) {
    int64_t n = p->n_items, T = p->n_threads;
    int64_t begin = n * tid / T, end = n * (tid + 1) / T;
    if (begin < end) p->fn(p->ctx, begin, end, tid);
}

static void *tp_worker_main(void *arg) {
    tp_worker *w = arg;
    tp_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&p->generation, memory_order_acquire);
        for (int spin = 0; g == seen && spin < TP_SPIN; spin++) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            g = atomic_load_explicit(&p->generation, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
                   !atomic_load(&p->quit))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = g;
        tp_run_share(p, w->tid);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

lmc_status tp_create(int n_threads, size_t scratch_bytes, tp_pool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return lmc_err(LMC_ERR_INVALID_ARG, "thread pool: %d threads requested (1..1024)", n_threads);
    tp_pool *p = calloc(1, sizeof *p);
    if (!p) return lmc_err(LMC_ERR_OOM, "thread pool: out of memory");
    p->n_threads = n_threads;
    p->scratch_bytes = scratch_bytes;
    p->scratch_stride = (scratch_bytes + 63) & ~(size_t)63;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, false);
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
    return lmc_err(LMC_ERR_OOM, "thread pool: out of memory for %d threads' scratch (%zu bytes each)",
                   n_threads, scratch_bytes);
}

void tp_free(tp_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads - 1; i++) pthread_join(p->workers[i].thread, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->workers);
    free(p->scratch);
    free(p);
}

int tp_n_threads(const tp_pool *p) { return p->n_threads; }
size_t tp_scratch_bytes(const tp_pool *p) { return p->scratch_bytes; }
void *tp_scratch(tp_pool *p, int tid) { return p->scratch + p->scratch_stride * (size_t)tid; }

void tp_parallel_for(tp_pool *p, int64_t n_items, tp_fn fn, void *ctx) {
    if (n_items <= 0) return;
    if (p->n_threads == 1 || n_items == 1) {
        fn(ctx, 0, n_items, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_items = n_items;
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    /* Bump under the mutex so a worker between its check and pthread_cond_wait cannot miss it. */
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    tp_run_share(p, 0);
    for (int spin = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; spin++) {
        if (spin > TP_SPIN) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
        else __builtin_ia32_pause();
#endif
    }
}
