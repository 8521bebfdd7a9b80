/* comm_fake.c — the in-process communicator of comm.h: n_rank threads meet at a generation barrier
 * (mutex + condition variable); each collective posts this rank's pointer, waits for all, reads
 * every rank's buffer in rank order into its own scratch, waits again (nobody writes before all
 * have read), then writes its result. Sums run in rank order, so every rank gets the same bits. */
#include "comm.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FAKE_MAX_RANKS = 64 };

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int32_t n_rank, waiting;
    int32_t go; /* 0 until every thread exists: 1 run, -1 quit (a thread could not be started) */
    uint64_t generation;
    const float *post[FAKE_MAX_RANKS]; /* each rank's buffer of the current collective */
} fake_group;

typedef struct {
    lmc_comm comm;
    fake_group *g;
    float *scratch;
    size_t scratch_n;
    lmc_status (*fn)(lmc_comm *, void *);
    void *user;
    lmc_status st;
    char err[256]; /* lmc_last_error of the rank's thread when st fails */
} fake_rank;

static void fake_wait(fake_group *g) {
    pthread_mutex_lock(&g->mu);
    uint64_t gen = g->generation;
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

static float *fake_scratch(fake_rank *r, size_t n) {
    if (n > r->scratch_n) {
        float *p = realloc(r->scratch, n * sizeof *p);
        if (!p) return NULL;
        r->scratch = p;
        r->scratch_n = n;
    }
    return r->scratch;
}

static lmc_status fake_all_reduce(lmc_comm *c, float *buf, size_t n) {
    fake_rank *r = c->impl;
    fake_group *g = r->g;
    float *tmp = fake_scratch(r, n);
    g->post[c->rank] = buf;
    fake_wait(g);
    if (tmp) {
        memcpy(tmp, g->post[0], n * sizeof *tmp);
        for (int32_t k = 1; k < g->n_rank; k++)
            for (size_t i = 0; i < n; i++)
                tmp[i] += g->post[k][i];
    }
    fake_wait(g); /* every rank has read every buffer */
    if (!tmp) return lmc_err(LMC_ERR_OOM, "fake all-reduce: out of memory for %zu floats", n);
    memcpy(buf, tmp, n * sizeof *tmp);
    return LMC_OK;
}

static lmc_status fake_all_gather(lmc_comm *c, const float *send, size_t n, float *recv) {
    fake_rank *r = c->impl;
    fake_group *g = r->g;
    g->post[c->rank] = send;
    fake_wait(g);
    for (int32_t k = 0; k < g->n_rank; k++)
        memcpy(recv + (size_t)k * n, g->post[k], n * sizeof *recv);
    fake_wait(g);
    return LMC_OK;
}

static lmc_status fake_barrier(lmc_comm *c) {
    fake_wait(((fake_rank *)c->impl)->g);
    return LMC_OK;
}

static void *fake_thread(void *arg) {
    fake_rank *r = arg;
    pthread_mutex_lock(&r->g->mu);
    while (r->g->go == 0)
        pthread_cond_wait(&r->g->cv, &r->g->mu);
    int go = r->g->go;
    pthread_mutex_unlock(&r->g->mu);
    if (go < 0) return NULL;
    r->st = r->fn(&r->comm, r->user);
    if (r->st != LMC_OK) snprintf(r->err, sizeof r->err, "%s", lmc_last_error());
    return NULL;
}

lmc_status comm_fake_run(int32_t n_rank, lmc_status (*fn)(lmc_comm *c, void *user), void *user) {
    if (n_rank < 1 || n_rank > FAKE_MAX_RANKS)
        return lmc_err(LMC_ERR_INVALID_ARG, "fake communicator: %d ranks (1..%d)", n_rank,
                       FAKE_MAX_RANKS);
    fake_group g = {.n_rank = n_rank};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    fake_rank *ranks = calloc((size_t)n_rank, sizeof *ranks);
    pthread_t *th = calloc((size_t)n_rank, sizeof *th);
    lmc_status st = LMC_OK;
    if (!ranks || !th) {
        st = lmc_err(LMC_ERR_OOM, "fake communicator: out of memory");
        goto done;
    }
    int32_t started = 0;
    for (int32_t k = 0; k < n_rank; k++) {
        ranks[k] = (fake_rank){.comm = {.rank = k,
                                        .n_rank = n_rank,
                                        .all_reduce_sum = fake_all_reduce,
                                        .all_gather = fake_all_gather,
                                        .barrier = fake_barrier,
                                        .impl = &ranks[k]},
                               .g = &g,
                               .fn = fn,
                               .user = user};
    }
    /* every thread waits at the gate until all exist, so a failed start leaves none waiting in
     * a collective for a rank that never comes */
    for (; started < n_rank; started++)
        if (pthread_create(&th[started], NULL, fake_thread, &ranks[started]) != 0) break;
    pthread_mutex_lock(&g.mu);
    g.go = started == n_rank ? 1 : -1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    for (int32_t k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    if (started < n_rank)
        st = lmc_err(LMC_ERR_BACKEND, "fake communicator: could not start thread %d of %d", started,
                     n_rank);
    for (int32_t k = 0; k < n_rank; k++) {
        if (st == LMC_OK && ranks[k].st != LMC_OK)
            st = lmc_err(ranks[k].st, "rank %d: %s", k, ranks[k].err);
        free(ranks[k].scratch);
    }
done:
    free(ranks);
    free(th);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    return st;
}
