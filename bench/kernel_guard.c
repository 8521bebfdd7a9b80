/* kernel_guard.c — a guard benchmark (not a test: it times, so it runs by hand, never in ctest):
 * fails loudly (exit 1, "GUARD FAILED" lines) when a fast kernel table is slower than
 * LMC_KERNELS=ref on a model's own matrices. For each table (ref, then every SIMD table this CPU
 * has, then the one kern_best() picks, which includes the per-microarchitecture choices) it runs
 * cpu_matmul over the same weights through the same thread pool, the variants interleaved round by
 * round (this VM's bandwidth drifts within a minute, so only variants measured side by side
 * compare):
 *   decode: every weight matrix of every layer and the output, one token (DRAM-resident, as in
 *           generation), ROUNDS rounds;
 *   prompt: the weights of the first PLAYERS layers (default 1) times P tokens (default 64).
 * The verdict per (table, test) is the median over rounds of time(ref) / time(table); below
 * 1 - MARGIN (default 0.02, the round-to-round noise seen) it fails. It checks no values
 * (tests/test_kernels.c and test_matmul compare every table with the reference).
 * Build after `make`:  cc -O2 -Isrc -Iinclude bench/kernel_guard.c build/liblmccore.a -lpcre2-8
 *   -lcjson -lm -lpthread -o build/kernel_guard
 * Usage: build/kernel_guard MODEL.gguf [THREADS=2] [ROUNDS=7] [P=64] [PLAYERS=1] [MARGIN=0.02]
 *   (P 0: decode only; env GUARD_TABLES=avx2,avx512np: only those SIMD tables besides the default)
 */
#include "cpu/cpu.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"
#include "lmc.h"
#include "model.h"
#include "quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_V = 8, MAX_ROUNDS = 200 };

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The weights of layers [l0, l1) (and the output when with_output), through table kt, n_tok tokens.
 */
static void pass(tp_pool *p, const lmc_model *m, const kern_table *kt, int l0, int l1,
                 int with_output, const float *x, float *y, int n_tok) {
    for (int l = l0; l < l1; l++) {
        const lmc_layer *L = &m->layers[l];
        const gguf_tensor *ws[] = {L->wq, L->wk, L->wv, L->wo, L->ffn_gate, L->ffn_up, L->ffn_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            cpu_matmul_with(kt, ws[i], x, y, n_tok, p);
    }
    if (with_output) cpu_matmul_with(kt, m->output, x, y, n_tok, p);
}

/* name is one of the comma-separated names of list */
static int in_list(const char *list, const char *name) {
    const size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return 1;
    return 0;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Times every variant on one test; returns the number of failures. */
static int run_test(const char *test, tp_pool *p, const lmc_model *m, const kern_table **kt,
                    const char **names, int nv, int rounds, int l0, int l1, int with_output,
                    const float *x, float *y, int n_tok, double margin) {
    static double ratio[MAX_V][MAX_ROUNDS];
    double tsum[MAX_V] = {0};
    for (int v = 0; v < nv; v++) /* warm-up */
        pass(p, m, kt[v], l0, l1, with_output, x, y, n_tok);
    for (int r = 0; r < rounds; r++) {
        double t[MAX_V];
        for (int i = 0; i < nv; i++) {
            const int v = (r % 2) ? nv - 1 - i : i; /* alternate the order: drift favours none */
            const double t0 = now_s();
            pass(p, m, kt[v], l0, l1, with_output, x, y, n_tok);
            t[v] = now_s() - t0;
            tsum[v] += t[v];
        }
        for (int v = 0; v < nv; v++)
            ratio[v][r] = t[0] / t[v];
    }
    int fails = 0;
    printf("%s (%d token%s, layers %d-%d%s, %d rounds): tok/s and median speed vs ref\n", test,
           n_tok, n_tok > 1 ? "s" : "", l0, l1 - 1, with_output ? " + output" : "", rounds);
    for (int v = 0; v < nv; v++) {
        qsort(ratio[v], (size_t)rounds, sizeof(double), cmp_d);
        const double med = rounds % 2 ? ratio[v][rounds / 2]
                                      : 0.5 * (ratio[v][rounds / 2 - 1] + ratio[v][rounds / 2]);
        const int bad = v > 0 && med < 1.0 - margin;
        printf("  %-14s %8.2f tok/s  %.3fx ref (min %.3f max %.3f)%s\n", names[v],
               n_tok * rounds / tsum[v], med, ratio[v][0], ratio[v][rounds - 1],
               bad ? "  <-- SLOWER THAN REF" : "");
        if (bad) {
            fprintf(stderr, "GUARD FAILED: %s %s is %.3fx LMC_KERNELS=ref (median of %d rounds)\n",
                    test, names[v], med, rounds);
            fails++;
        }
    }
    return fails;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s MODEL.gguf [THREADS=2] [ROUNDS=7] [P=64] [PLAYERS=1] [MARGIN=0.02]\n",
                argv[0]);
        return 2;
    }
    const int nth = argc > 2 ? atoi(argv[2]) : 2, rounds = argc > 3 ? atoi(argv[3]) : 7,
              P = argc > 4 ? atoi(argv[4]) : 64, players = argc > 5 ? atoi(argv[5]) : 1;
    const double margin = argc > 6 ? atof(argv[6]) : 0.02;
    if (nth < 1 || rounds < 1 || rounds > MAX_ROUNDS || P < 0 || P > 512 || players < 1) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    lmc_model *m;
    lmc_model_params mp = lmc_model_default_params();
    if (lmc_model_load(argv[1], &mp, &m) != LMC_OK) {
        fprintf(stderr, "%s\n", lmc_last_error());
        return 1;
    }
    model_weights_hugepages(m); /* as the CPU backend does (env LMC_HUGEPAGES) */
    printf("weights: %s\n", m->weights_copy ? "copied into huge-page memory" : "the file mapping");
    const kern_table *kt[MAX_V];
    const char *names[MAX_V];
    static char best_name[64];
    int nv = 0;
    kt[nv] = kern_named("ref"), names[nv++] = "ref";
    const char *simd[] = {"avx2", "avx2np", "avx512", "avx512np", "zen4", "zen3"};
    const char *only = getenv("GUARD_TABLES"); /* e.g. "avx2,avx512np": only these (and ref) */
    for (int i = 0; i < 5; i++)
        if (kern_named(simd[i]) && kern_named(simd[i]) != kern_best() &&
            (!only || in_list(only, simd[i])))
            kt[nv] = kern_named(simd[i]), names[nv++] = simd[i];
    snprintf(best_name, sizeof best_name, "default(%s)", kern_best()->name);
    kt[nv] = kern_best(), names[nv++] = best_name;
    const int64_t K = m->hp.n_ff > m->hp.n_embd ? m->hp.n_ff : m->hp.n_embd;
    const int ntok = P > 1 ? P : 1;
    float *x = malloc(sizeof(float) * (size_t)K * (size_t)ntok),
          *y = malloc(sizeof(float) * (size_t)m->hp.n_vocab * (size_t)ntok + 4096);
    if (!x || !y) return 1;
    srand(1);
    for (int64_t i = 0; i < K * ntok; i++)
        x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    tp_pool *p;
    if (tp_create(nth, cpu_matmul_scratch_bytes(K, ntok), &p) != LMC_OK) return 1;
    printf("kernel_guard: %s, %d thread%s, CPU: %s\n", argv[1], nth, nth > 1 ? "s" : "",
           kern_cpu_description());
    int fails =
        run_test("decode", p, m, kt, names, nv, rounds, 0, m->hp.n_layer, 1, x, y, 1, margin);
    if (P > 0) {
        const int l1 = players < m->hp.n_layer ? players : m->hp.n_layer;
        fails += run_test("prompt", p, m, kt, names, nv, rounds, 0, l1, 0, x, y, P, margin);
    }
    tp_free(p);
    lmc_model_free(m);
    free(x);
    free(y);
    if (fails)
        fprintf(stderr, "GUARD FAILED: %d fast path(s) slower than ref\n", fails);
    else
        printf("guard passed: no fast path slower than ref\n");
    return fails ? 1 : 0;
}
