/* kernel_bench.c — times one kernel table gemm (the table kern_best() picks, or LMC_KERNELS) on
 * random weights: K (default 2048) x ROWS of one type, NT tokens, best of REPS calls, one thread.
 * It checks nothing (tests/test_kernels.c does); the weight bytes are random, scales included, so
 * only timing means anything. A matrix larger than L3 (e.g. ROWS 45056 for Q4_K) shows the decode
 * stream from DRAM. Build after `make`:  cc -O2 -Isrc -Iinclude bench/kernel_bench.c
 * build/liblmccore.a -lm -lpthread -o build/kernel_bench Usage: build/kernel_bench TYPE_ID NT
 * [ROWS=5632] [REPS=20] [K=2048]   (type ids as in src/quant.h: 1 F16, 2 Q4_0, 8 Q8_0, 12 Q4_K, 14
 * Q6_K) */
#include "cpu/kernels.h"
#include "quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TYPE_ID NT [ROWS] [REPS] [K]\n", argv[0]);
        return 2;
    }
    const uint32_t type = (uint32_t)atoi(argv[1]);
    const int nt = atoi(argv[2]), nr = argc > 3 ? atoi(argv[3]) : 5632,
              reps = argc > 4 ? atoi(argv[4]) : 20;
    const int64_t K = argc > 5 ? atoll(argv[5]) : 2048;
    const kern_table *kt = kern_best();
    if (type >= LMC_TYPE_COUNT || !kt || !kt->gemm[type] || nt < 1 || nr < 1 || reps < 1 ||
        K < 256 || K % 256) {
        fprintf(stderr, "no kernel for type %u here, or bad sizes\n", type);
        return 2;
    }
    const size_t ws = lmc_row_size(type, K);
    const kern_xfmt f = kt->xfmt[type];
    const size_t xs = kern_x_row_bytes(f, K);
    uint8_t *w = malloc(ws * (size_t)nr), *xq = aligned_alloc(64, xs * (size_t)nt);
    float *x = malloc(sizeof(float) * (size_t)(K * nt)),
          *y = malloc(sizeof(float) * (size_t)nr * (size_t)nt);
    if (!w || !xq || !x || !y) return 1;
    srand(1);
    for (size_t i = 0; i < ws * (size_t)nr; i++)
        w[i] = (uint8_t)rand();
    for (int64_t i = 0; i < K * nt; i++)
        x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (int t = 0; t < nt; t++)
        kern_quantize_x(f, x + t * K, xq + (size_t)t * xs, K);
    kt->gemm[type](K, w, ws, nr, xq, xs, nt, y, nr); /* warm-up */
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = now_s();
        kt->gemm[type](K, w, ws, nr, xq, xs, nt, y, nr);
        const double d = now_s() - t0;
        if (d < best) best = d;
    }
    printf("%s %s K=%lld rows=%d tokens=%d: %.3f ms, %.1f GMAC/s, %.1f GB/s of weights\n", kt->name,
           lmc_type_name(type), (long long)K, nr, nt, best * 1e3, (double)K * nr * nt / best * 1e-9,
           (double)ws * nr / best * 1e-9);
    free(w);
    free(xq);
    free(x);
    free(y);
    return 0;
}
