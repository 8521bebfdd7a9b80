/* decode_bench.c — the decode matrix-vector products of a real model (every weight of every layer,
 * then the output, one token at a time, split over the thread pool as cpu_matmul splits them),
 * timed for several kernel tables interleaved round by round in one process: this VM's memory
 * bandwidth drifts by up to 2x within a minute, so only variants measured side by side compare. It
 * skips everything else of a decode step (norms, attention) and checks nothing
 * (tests/test_kernels.c does). INCACHE=ROWS instead times ROWS rows of layer 0's ffn_gate on one
 * thread, best of 200 calls (the compute-bound speed, weights in L2). Variants: "best"
 * (kern_best()), "scalar", "avx2", "avx512", or "a".."c": tables linked in from other builds of a
 * kernel file, e.g. a modified kernels_avx512.c compiled with
 * -Dkern_fill_avx512=decode_bench_table_a -Dkern_fill_avx512_z=decode_bench_z_a (plus the AVX-512
 * flags of CMakeLists.txt).
 * Build after `make`:  cc -O2 -Isrc -Iinclude bench/decode_bench.c [table objects]
 * build/liblmccore.a -lpcre2-8 -lcjson -lm -lpthread -o build/decode_bench Usage:
 * build/decode_bench MODEL.gguf ROUNDS THREADS VARIANT...   (e.g. ... 10 2 best a) */
#include "cpu/kernels.h"
#include "cpu/threadpool.h"
#include "lmc.h"
#include "model.h"
#include "quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* optional tables from other builds (NULL when not linked) */
__attribute__((weak)) void decode_bench_table_a(kern_table *t);
__attribute__((weak)) void decode_bench_table_b(kern_table *t);
__attribute__((weak)) void decode_bench_table_c(kern_table *t);

enum { ROWS_PER_ITEM = 4, MAX_V = 8, MAX_ROUNDS = 1000 };

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct {
    const kern_table *kt;
    const gguf_tensor *W;
    const uint8_t *xq; /* the activation row in the table's format for W's type */
    float *y;
} job;

static void rows(void *arg, int64_t i0, int64_t i1, int tid) {
    (void)tid;
    const job *j = arg;
    const int64_t N = j->W->ne[1], r0 = i0 * ROWS_PER_ITEM,
                  r1 = i1 * ROWS_PER_ITEM < N ? i1 * ROWS_PER_ITEM : N;
    const uint64_t rb = lmc_row_size(j->W->type, j->W->ne[0]);
    const kern_xfmt f = j->kt->xfmt[j->W->type];
    j->kt->gemm[j->W->type](j->W->ne[0], (const uint8_t *)j->W->data + (uint64_t)r0 * rb, rb,
                            (int)(r1 - r0), j->xq, kern_x_row_bytes(f, j->W->ne[0]), 1, j->y + r0,
                            N);
}

static uint8_t *g_x[3][2]; /* [format][K is n_embd / n_ff] */
static int64_t g_embd;

static void matvec(tp_pool *p, const kern_table *kt, const gguf_tensor *W, float *y) {
    const kern_xfmt f = kt->xfmt[W->type];
    job j = {kt, W, g_x[f][W->ne[0] != g_embd], y};
    tp_parallel_for(p, (W->ne[1] + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM, rows, &j);
}

static void token(tp_pool *p, const lmc_model *m, const kern_table *kt, float *y) {
    for (int l = 0; l < m->hp.n_layer; l++) {
        const lmc_layer *L = &m->layers[l];
        const gguf_tensor *ws[] = {L->wq, L->wk, L->wv, L->wo, L->ffn_gate, L->ffn_up, L->ffn_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            matvec(p, kt, ws[i], y);
    }
    matvec(p, kt, m->output, y);
}

static const kern_table *variant(const char *name, kern_table *store) {
    void (*fill)(kern_table *) = !strcmp(name, "a")   ? decode_bench_table_a
                                 : !strcmp(name, "b") ? decode_bench_table_b
                                 : !strcmp(name, "c") ? decode_bench_table_c
                                                      : NULL;
    if (fill) {
        fill(store);
        return store;
    }
    return !strcmp(name, "best") ? kern_best() : kern_named(name);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr,
                "usage: %s MODEL ROUNDS THREADS VARIANT...  (variants: best scalar avx2 avx512 a b "
                "c)\n",
                argv[0]);
        return 2;
    }
    const int rounds = atoi(argv[2]), nth = atoi(argv[3]), nv = argc - 4;
    if (rounds < 1 || rounds > MAX_ROUNDS || nth < 1 || nv > MAX_V) {
        fprintf(stderr, "rounds 1..%d, threads >= 1, at most %d variants\n", MAX_ROUNDS, MAX_V);
        return 2;
    }
    lmc_model *m;
    lmc_model_params mp = lmc_model_default_params();
    if (lmc_model_load(argv[1], &mp, &m) != LMC_OK) {
        fprintf(stderr, "%s\n", lmc_last_error());
        return 1;
    }
    static kern_table store[MAX_V];
    const kern_table *kt[MAX_V];
    for (int v = 0; v < nv; v++) {
        kt[v] = variant(argv[4 + v], &store[v]);
        if (!kt[v]) {
            fprintf(stderr, "variant %s: unknown, not linked in or not supported by this CPU\n",
                    argv[4 + v]);
            return 2;
        }
        for (uint32_t t = 0; t < LMC_TYPE_COUNT;
             t++) /* the types this model uses must be covered */
            if ((t == m->layers[0].wq->type || t == m->output->type ||
                 t == m->layers[0].ffn_down->type) &&
                !kt[v]->gemm[t]) {
                fprintf(stderr, "variant %s has no kernel for %s\n", argv[4 + v], lmc_type_name(t));
                return 2;
            }
    }
    g_embd = m->hp.n_embd;
    const int64_t Ks[2] = {m->hp.n_embd, m->hp.n_ff};
    float *x = malloc(sizeof(float) * (size_t)Ks[1]),
          *y = malloc(sizeof(float) * (size_t)m->hp.n_vocab * 2 + 4096);
    for (int64_t i = 0; i < Ks[1]; i++)
        x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (int f = 0; f < 3; f++)
        for (int k = 0; k < 2; k++) {
            const size_t b = kern_x_row_bytes((kern_xfmt)f, Ks[k]);
            if (!b) continue;
            g_x[f][k] = aligned_alloc(64, b);
            kern_quantize_x((kern_xfmt)f, x, g_x[f][k], Ks[k]);
        }
    tp_pool *p;
    if (tp_create(nth, 4096, &p) != LMC_OK) return 1;
    if (getenv("INCACHE")) {
        const gguf_tensor *W = m->layers[0].ffn_gate;
        const int nr = atoi(getenv("INCACHE"));
        if (nr < 1 || nr > W->ne[1]) return 2;
        const uint64_t rb = lmc_row_size(W->type, W->ne[0]);
        for (int r = 0; r < rounds; r++) {
            printf("in cache, %d rows:", nr);
            for (int v = 0; v < nv; v++) {
                const kern_xfmt f = kt[v]->xfmt[W->type];
                double best = 1e30;
                for (int k = 0; k < 200; k++) {
                    const double t0 = now_s();
                    kt[v]->gemm[W->type](W->ne[0], W->data, rb, nr, g_x[f][0],
                                         kern_x_row_bytes(f, W->ne[0]), 1, y, nr);
                    const double d = now_s() - t0;
                    if (d < best) best = d;
                }
                printf("  %s %.1f GB/s", argv[4 + v], (double)rb * nr / best * 1e-9);
            }
            printf("\n");
        }
        return 0;
    }
    static double ratio[MAX_V][MAX_ROUNDS];
    double tsum[MAX_V] = {0};
    for (int v = 0; v < nv; v++)
        token(p, m, kt[v], y); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        double t[MAX_V];
        printf("round %d:", r);
        for (int v = 0; v < nv; v++) {
            const double t0 = now_s();
            for (int k = 0; k < 4; k++)
                token(p, m, kt[v], y);
            t[v] = (now_s() - t0) / 4;
            tsum[v] += t[v];
            ratio[v][r] = t[0] / t[v];
            printf("  %s %.1f", argv[4 + v], 1 / t[v]);
        }
        printf(" tok/s\n");
    }
    printf("mean tok/s, mean speed ratio vs %s:\n", argv[4]);
    for (int v = 0; v < nv; v++) {
        double s = 0;
        for (int r = 0; r < rounds; r++)
            s += ratio[v][r];
        printf("  %-8s %.2f  %.3f\n", argv[4 + v], rounds / tsum[v], s / rounds);
    }
    tp_free(p);
    lmc_model_free(m);
    return 0;
}
