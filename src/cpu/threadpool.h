/* threadpool.h — a small persistent pthread pool for the CPU backend: parallel_for over n items
 * split into contiguous chunks that the threads claim as they go, with per-thread scratch memory.
 * Which thread runs a chunk varies; callers keep results independent of that (each item computed
 * whole by one thread). No nested parallelism. */
#ifndef LMC_CPU_THREADPOOL_H
#define LMC_CPU_THREADPOOL_H

#include "lmc.h"
#include <stddef.h>
#include <stdint.h>

typedef struct tp_pool tp_pool;

/* fn handles items [begin, end) on thread tid (0 = the calling thread). */
typedef void (*tp_fn)(void *ctx, int64_t begin, int64_t end, int tid);

/* Starts n_threads - 1 workers (the caller is thread 0). Each thread gets scratch_bytes of private,
 * 64-byte aligned scratch memory. */
lmc_status tp_create(int n_threads, size_t scratch_bytes, tp_pool **out);
void tp_free(tp_pool *p);
int tp_n_threads(const tp_pool *p);
/* Thread tid's scratch memory (scratch_bytes long). */
void *tp_scratch(tp_pool *p, int tid);
size_t tp_scratch_bytes(const tp_pool *p);
/* Runs fn over [0, n_items) split into up to 8 chunks per thread; returns when every chunk is done.
 * Not reentrant; call from one thread at a time. */
void tp_parallel_for(tp_pool *p, int64_t n_items, tp_fn fn, void *ctx);

#endif
