/* membw.c — the machine's memory read bandwidth as decode sees it: T threads each stream their
 * share of a buffer much larger than the caches (64-byte vector loads, four accumulators, software
 * prefetch PREFETCH_BYTES ahead (default 2 KB; 0: none, the hardware prefetcher alone, which
 * reads faster on Zen 4), best of REPS passes, in GB/s (1e9 bytes / s). It measures reads only (no
 * copy, no write traffic) and asserts nothing. Build: cc -O2 -march=native -pthread bench/membw.c
 * -o build/membw   (bench/cpu_vs_llamacpp.py does) Usage: build/membw [THREADS=1] [MIB=1024]
 * [REPS=5] [PREFETCH_BYTES=2048] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 64 bytes: one AVX-512 register with -march=native on such a CPU, else split by the compiler */
typedef long long v8 __attribute__((vector_size(64)));

typedef struct {
    const unsigned char *p;
    size_t n, pf; /* pf: software prefetch distance in bytes, 0 for none */
    pthread_barrier_t *bar;
    double secs;
    long long sink;
} job;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *reader(void *arg) {
    job *j = arg;
    v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    pthread_barrier_wait(j->bar);
    const double t0 = now_s();
    const size_t pf = j->pf;
    for (size_t i = 0; i + 256 <= j->n; i += 256) {
        if (pf) {
            __builtin_prefetch(j->p + i + pf);
            __builtin_prefetch(j->p + i + pf + 64);
            __builtin_prefetch(j->p + i + pf + 128);
            __builtin_prefetch(j->p + i + pf + 192);
        }
        v8 x0, x1, x2, x3;
        memcpy(&x0, j->p + i, 64);
        memcpy(&x1, j->p + i + 64, 64);
        memcpy(&x2, j->p + i + 128, 64);
        memcpy(&x3, j->p + i + 192, 64);
        a0 ^= x0;
        a1 ^= x1;
        a2 ^= x2;
        a3 ^= x3;
    }
    j->secs = now_s() - t0;
    a0 ^= a1 ^ a2 ^ a3;
    long long s = 0;
    for (int k = 0; k < 8; k++)
        s ^= a0[k];
    j->sink = s;
    return NULL;
}

int main(int argc, char **argv) {
    const int T = argc > 1 ? atoi(argv[1]) : 1;
    const size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
    const int reps = argc > 3 ? atoi(argv[3]) : 5;
    const long pf = argc > 4 ? atol(argv[4]) : 2048;
    if (T < 1 || T > 256 || mib < 64 || reps < 1 || pf < 0 || pf > (1 << 20)) {
        fprintf(stderr, "usage: %s [THREADS] [MIB >= 64] [REPS] [PREFETCH_BYTES=2048, 0: none]\n",
                argv[0]);
        return 2;
    }
    const size_t n = mib << 20, share = (n / (size_t)T) & ~(size_t)4095;
    unsigned char *buf = aligned_alloc(4096, n);
    if (!buf) {
        fprintf(stderr, "membw: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(i * 131u + 7u); /* really backed, not zero pages */
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)T);
    job *jobs = calloc((size_t)T, sizeof *jobs);
    pthread_t *th = calloc((size_t)T, sizeof *th);
    if (!jobs || !th) return 1;
    double best = 0;
    long long sink = 0;
    for (int r = 0; r < reps; r++) {
        for (int t = 0; t < T; t++) {
            jobs[t] = (job){buf + (size_t)t * share, share, (size_t)pf, &bar, 0, 0};
            if (t > 0) pthread_create(&th[t], NULL, reader, &jobs[t]);
        }
        reader(&jobs[0]);
        double slowest = jobs[0].secs;
        for (int t = 1; t < T; t++) {
            pthread_join(th[t], NULL);
            if (jobs[t].secs > slowest) slowest = jobs[t].secs;
        }
        for (int t = 0; t < T; t++)
            sink ^= jobs[t].sink;
        const double gbs = (double)share * T / slowest * 1e-9;
        if (gbs > best) best = gbs;
    }
    printf("threads %d: %.1f GB/s read (best of %d passes over %zu MiB, prefetch %ld B; checksum "
           "%llx)\n",
           T, best, reps, mib, pf, (unsigned long long)sink & 0xff);
    pthread_barrier_destroy(&bar);
    free(jobs);
    free(th);
    free(buf);
    return 0;
}
