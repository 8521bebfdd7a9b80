/* cmd_bench.c — 'lmc bench': prompt processing (pp) and generation (tg) speed like llama-bench.
 * pp: a random-token prompt of -p tokens decoded in one batch from position 0; tg: -n tokens decoded
 * one at a time from position 0. Each test runs once as a warm-up, then -r times; the table (or the
 * JSON array, llama-bench's field names) gives tokens per second as mean ± sd. It measures only what
 * lmc_decode does: no sampling, no tokenization. --device cuda with every layer on the GPU runs
 * bench_cuda() (the CUDA backend's benchmark: tok/s, weight bytes per token, share of the device's
 * copy bandwidth); with -ngl below n_layer (layers split with the CPU) it times lmc_decode as above. */
#include "cli.h"
#include "cpu/kernels.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef LMC_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

enum { BENCH_MAX_LIST = 16 };

typedef struct {
    int n_prompt, n_gen, n_threads;
    int reps;
    double *samples_ns; /* (reps) */
    double avg_ts, stddev_ts, avg_ns, stddev_ns;
} bench_test;

typedef struct {
    const char *model_path;
    int p[BENCH_MAX_LIST], n_p;
    int n[BENCH_MAX_LIST], n_n;
    int t[BENCH_MAX_LIST], n_t;
    int reps, ngl;
    int n_ctx, n_batch, graph; /* --device cuda only */
    lmc_device device;
    bool json;
} bench_opts;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void usage(void) {
    printf("usage: lmc bench -m MODEL [options]\n"
           "\n"
           "Measures prompt processing (pp) and text generation (tg) speed in tokens per second, like\n"
           "llama-bench. pp decodes a random-token prompt of P tokens in one batch from position 0;\n"
           "tg decodes N tokens one at a time from position 0. Each test runs once to warm up, then R\n"
           "times; t/s is the mean and standard deviation over the R runs.\n"
           "\n"
           "options:\n"
           "  -m, --model PATH   GGUF model (default: the default model in the cache)\n"
           "  -p, --n-prompt P   prompt lengths, comma-separated (default 512; 0 skips pp)\n"
           "  -n, --n-gen N      generation lengths, comma-separated (default 128; 0 skips tg)\n"
           "  -t, --threads T    CPU thread counts, comma-separated (default: number of cores)\n"
           "  -r, --repetitions R  runs per test (default 5)\n"
           "  --device cpu|cuda  where to run (default cpu)\n"
           "  -ngl, --n-gpu-layers N  layers on the GPU with --device cuda (default -1: all). With\n"
           "                     all layers the CUDA backend's own benchmark runs (one pp and one tg\n"
           "                     test; weight bytes per token, share of the copy bandwidth). With N\n"
           "                     below the model's layer count the last N layers and the output run\n"
           "                     on the GPU, the first ones on the CPU (-t threads), timed like the\n"
           "                     CPU runs; 0: CPU only\n"
           "  -c N, -b N, --no-graph  --device cuda: context size (default p + n + 16), largest\n"
           "                     prompt batch (default 512), decode without the CUDA graph (-b and\n"
           "                     --no-graph: all layers on the GPU only)\n"
           "  --json             print a JSON array (llama-bench's field names: n_prompt, n_gen,\n"
           "                     n_threads, avg_ts, stddev_ts, model_type, model_size, ...)\n"
           "  -h, --help         this help\n"
           "\n"
           "The CPU kernels can be chosen with env LMC_KERNELS=ref|scalar|avx2|avx512.\n");
}

static bool parse_list(const char *cmd, const char *flag, const char *s, int *out, int *n_out, int min) {
    *n_out = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < min || v > 1000000 || *n_out >= BENCH_MAX_LIST || (*end && *end != ',')) {
            cli_usage_error(cmd, "%s: bad value list '%s' (integers >= %d, comma-separated, at most %d)", flag,
                            s, min, BENCH_MAX_LIST);
            return false;
        }
        out[(*n_out)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (*n_out == 0) {
        cli_usage_error(cmd, "%s: empty list", flag);
        return false;
    }
    return true;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->p[0] = 512, o->n_p = 1;
    o->n[0] = 128, o->n_n = 1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->t[0] = ncpu > 0 ? (int)ncpu : 1, o->n_t = 1;
    o->reps = 5;
    o->ngl = -1;
    o->n_batch = 512;
    o->graph = 1;
    o->device = LMC_DEVICE_CPU;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return -1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!cli_arg_str(argc, argv, &i, &o->model_path)) return CLI_USAGE;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) {
            if (!cli_arg_str(argc, argv, &i, &v) || !parse_list("bench", a, v, o->p, &o->n_p, 0)) return CLI_USAGE;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) {
            if (!cli_arg_str(argc, argv, &i, &v) || !parse_list("bench", a, v, o->n, &o->n_n, 0)) return CLI_USAGE;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_arg_str(argc, argv, &i, &v) || !parse_list("bench", a, v, o->t, &o->n_t, 1)) return CLI_USAGE;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) {
            if (!cli_arg_int(argc, argv, &i, &o->reps)) return CLI_USAGE;
            if (o->reps < 1 || o->reps > 1000) return cli_usage_error("bench", "-r: 1..1000 expected");
        } else if (!strcmp(a, "-ngl") || !strcmp(a, "--n-gpu-layers")) {
            if (!cli_arg_int(argc, argv, &i, &o->ngl)) return CLI_USAGE;
        } else if (!strcmp(a, "--device")) {
            if (!cli_arg_str(argc, argv, &i, &v)) return CLI_USAGE;
            if (!strcmp(v, "cpu")) o->device = LMC_DEVICE_CPU;
            else if (!strcmp(v, "cuda")) o->device = LMC_DEVICE_CUDA;
            else return cli_usage_error("bench", "--device: 'cpu' or 'cuda' expected, got '%s'", v);
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "-c")) {
            if (!cli_arg_int(argc, argv, &i, &o->n_ctx)) return CLI_USAGE;
        } else if (!strcmp(a, "-b")) {
            if (!cli_arg_int(argc, argv, &i, &o->n_batch)) return CLI_USAGE;
            if (o->n_batch < 1) return cli_usage_error("bench", "-b: a positive batch size expected");
        } else if (!strcmp(a, "--no-graph")) {
            o->graph = 0;
        } else {
            return cli_usage_error("bench", "unknown option '%s'", a);
        }
    }
    return 0;
}

/* One timed run: pp (n_prompt tokens in one batch) or tg (n_gen single-token decodes), from
 * position 0 of an emptied sequence. Returns the status; *ns the time it took. */
static lmc_status run_once(lmc_context *ctx, const int32_t *toks, int n_prompt, int n_gen, double *ns) {
    const float *logits;
    lmc_status st = LMC_OK;
    lmc_seq_truncate(ctx, 0, 0);
    const double t0 = now_ns();
    if (n_prompt > 0) st = lmc_decode(ctx, toks, n_prompt, 0, &logits);
    for (int i = 0; n_prompt == 0 && i < n_gen && st == LMC_OK; i++) st = lmc_decode(ctx, toks + i, 1, i, &logits);
    *ns = now_ns() - t0;
    return st;
}

static void finish_stats(bench_test *bt) {
    const int n_tok = bt->n_prompt > 0 ? bt->n_prompt : bt->n_gen;
    double s = 0, s2 = 0, sn = 0, sn2 = 0;
    for (int r = 0; r < bt->reps; r++) {
        const double ts = 1e9 * n_tok / bt->samples_ns[r];
        s += ts, s2 += ts * ts;
        sn += bt->samples_ns[r], sn2 += bt->samples_ns[r] * bt->samples_ns[r];
    }
    const int n = bt->reps;
    bt->avg_ts = s / n;
    bt->avg_ns = sn / n;
    bt->stddev_ts = n > 1 ? sqrt(fmax(0.0, (s2 - s * s / n) / (n - 1))) : 0.0;
    bt->stddev_ns = n > 1 ? sqrt(fmax(0.0, (sn2 - sn * sn / n) / (n - 1))) : 0.0;
}

static void human_size(uint64_t bytes, char *buf, size_t size) {
    if (bytes >= (1ull << 30)) snprintf(buf, size, "%.2f GiB", (double)bytes / (1ull << 30));
    else snprintf(buf, size, "%.2f MiB", (double)bytes / (1ull << 20));
}

static void human_params(uint64_t n, char *buf, size_t size) {
    if (n >= 1000000000ull) snprintf(buf, size, "%.2f B", (double)n / 1e9);
    else snprintf(buf, size, "%.2f M", (double)n / 1e6);
}

#ifdef LMC_WITH_CUDA
static double now_s(void) { return now_ns() * 1e-9; }

static void cuda_progress(float done, void *user) {
    (void)user;
    static int last = -1;
    int pct = (int)(done * 100);
    if (pct / 10 != last / 10) fprintf(stderr, "\rupload %3d%%%s", pct, pct >= 100 ? "\n" : "");
    last = pct;
}

/* The GPU benchmark (written with the CUDA backend): its own table with the weight bytes per token
 * and the share of the device's copy bandwidth. */
static int bench_cuda(const char *path, int n_prompt, int n_gen, int reps, int n_ctx, int n_batch, int graph) {
    const double t0 = now_s();
    lmc_model *m = cli_load_model(path, false, true);
    if (!m) return CLI_ERR;
    lmc_cuda_params p = {0};
    p.n_ctx = n_ctx > 0 ? n_ctx : n_prompt + n_gen + 16;
    p.n_batch = n_batch;
    p.use_graph = graph;
    p.progress = cuda_progress;
    lmc_cuda_ctx *c = NULL;
    lmc_status st = lmc_cuda_init(m, &p, &c);
    if (st != LMC_OK) {
        lmc_model_free(m);
        return cli_fail(st, "CUDA init");
    }
    const double t_init = now_s() - t0;
    int32_t tok = lmc_model_n_vocab(m) > 1 ? 1 : 0;
    st = lmc_cuda_forward(c, &tok, 1, 0, NULL, NULL);
    const double t_first = now_s() - t0;
    lmc_cuda_bench_result r;
    if (st == LMC_OK) st = lmc_cuda_bench(c, n_prompt, n_gen, reps, &r);
    if (st != LMC_OK) {
        lmc_cuda_free(c);
        lmc_model_free(m);
        return cli_fail(st, "CUDA bench");
    }
    char desc[64], dev[128];
    uint64_t fr, tot;
    lmc_model_desc(m, desc, sizeof desc);
    lmc_cuda_device_info(dev, sizeof dev, &fr, &tot);
    printf("device: %s\n", dev);
    printf("| model | size GiB | pp%d tok/s | tg%d tok/s | weights GB/token | copy GB/s | decode share | load+init s | to first token s |\n",
           n_prompt, n_gen);
    printf("| %s | %.2f | %.1f | %.1f | %.3f | %.0f | %.1f%% | %.2f | %.2f |\n", desc,
           lmc_model_size_bytes(m) / 1073741824.0, r.pp_tok_s, r.tg_tok_s, r.weight_gb, r.copy_gb_s,
           100.0 * r.bw_share, t_init, t_first);
    fflush(stdout);
    lmc_cuda_free(c);
    lmc_model_free(m);
    return CLI_OK;
}
#endif

/* CUDA when some layers run on the GPU (-ngl 0 puts none there). */
static const char *backend_name(const bench_opts *o) { return o->device == LMC_DEVICE_CUDA && o->ngl != 0 ? "CUDA" : "CPU"; }

static const char *cpu_kernels_name(void) {
    const kern_table *k = kern_best();
    return k ? k->name : "ref";
}

static void print_table_header(void) {
    printf("| %-30s | %10s | %10s | %-8s | %7s | %12s | %20s |\n", "model", "size", "params", "backend",
           "threads", "test", "t/s");
    printf("| %.30s | %.10s: | %.10s: | %.8s | %.6s: | %.11s: | %.19s: |\n",
           "------------------------------", "----------", "----------", "--------", "-------",
           "------------", "--------------------");
}

static void print_table_row(const char *desc, const char *size, const char *params, const bench_opts *o,
                            const bench_test *bt) {
    char test[32], ts[48];
    if (bt->n_prompt > 0) snprintf(test, sizeof test, "pp%d", bt->n_prompt);
    else snprintf(test, sizeof test, "tg%d", bt->n_gen);
    snprintf(ts, sizeof ts, "%.2f ± %.2f", bt->avg_ts, bt->stddev_ts);
    printf("| %-30s | %10s | %10s | %-8s | %7d | %12s | %20s |\n", desc, size, params, backend_name(o),
           bt->n_threads, test, ts);
    fflush(stdout);
}

static cJSON *test_json(const bench_opts *o, lmc_model *model, const char *desc, const bench_test *bt,
                        const char *when) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "build_commit", "lmc-" LMC_VERSION_STRING);
    cJSON_AddStringToObject(j, "model_filename", o->model_path ? o->model_path : "(default)");
    cJSON_AddStringToObject(j, "model_type", desc);
    cJSON_AddNumberToObject(j, "model_size", (double)lmc_model_size_bytes(model));
    cJSON_AddNumberToObject(j, "model_n_params", (double)lmc_model_n_params(model));
    cJSON_AddStringToObject(j, "backends", backend_name(o));
    cJSON_AddStringToObject(j, "cpu_kernels", cpu_kernels_name());
    cJSON_AddNumberToObject(j, "n_batch", bt->n_prompt > 0 ? bt->n_prompt : 1);
    cJSON_AddNumberToObject(j, "n_threads", bt->n_threads);
    cJSON_AddNumberToObject(j, "n_gpu_layers", o->device == LMC_DEVICE_CUDA ? o->ngl : 0);
    cJSON_AddNumberToObject(j, "n_prompt", bt->n_prompt);
    cJSON_AddNumberToObject(j, "n_gen", bt->n_gen);
    cJSON_AddStringToObject(j, "test_time", when);
    cJSON_AddNumberToObject(j, "avg_ns", bt->avg_ns);
    cJSON_AddNumberToObject(j, "stddev_ns", bt->stddev_ns);
    cJSON_AddNumberToObject(j, "avg_ts", bt->avg_ts);
    cJSON_AddNumberToObject(j, "stddev_ts", bt->stddev_ts);
    /* tg reads every weight once per token: the effective weight bandwidth */
    if (bt->n_gen > 0)
        cJSON_AddNumberToObject(j, "weights_gbps", (double)lmc_model_size_bytes(model) * bt->avg_ts / 1e9);
    cJSON *ns = cJSON_AddArrayToObject(j, "samples_ns"), *tss = cJSON_AddArrayToObject(j, "samples_ts");
    const int n_tok = bt->n_prompt > 0 ? bt->n_prompt : bt->n_gen;
    for (int r = 0; r < bt->reps; r++) {
        cJSON_AddItemToArray(ns, cJSON_CreateNumber(bt->samples_ns[r]));
        cJSON_AddItemToArray(tss, cJSON_CreateNumber(1e9 * n_tok / bt->samples_ns[r]));
    }
    return j;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc == -1) return CLI_OK;
    if (rc) return rc;
    lmc_model *model = NULL;
    if (o.device == LMC_DEVICE_CUDA) {
#ifdef LMC_WITH_CUDA
        if (lmc_cuda_device_count() <= 0) {
            fprintf(stderr, "lmc bench: no CUDA GPU found\n");
            return CLI_ERR;
        }
        /* Every layer on the GPU: the CUDA backend's own benchmark. A split (-ngl below n_layer) is
         * timed through lmc_decode below, like the CPU. */
        if (o.ngl >= 0) {
            model = cli_load_model(o.model_path, false, o.json);
            if (!model) return CLI_ERR;
            if (o.ngl >= lmc_model_n_layer(model)) {
                lmc_model_free(model);
                model = NULL;
            }
        }
        if (!model) return bench_cuda(o.model_path, o.p[0], o.n[0], o.reps, o.n_ctx, o.n_batch, o.graph);
#else
        fprintf(stderr, "lmc bench: this lmc was built without the CUDA backend\n");
        return CLI_ERR;
#endif
    }

    if (!model) model = cli_load_model(o.model_path, false, o.json);
    if (!model) return CLI_ERR;
    int max_p = 1, max_n = 1;
    for (int i = 0; i < o.n_p; i++) max_p = o.p[i] > max_p ? o.p[i] : max_p;
    for (int i = 0; i < o.n_n; i++) max_n = o.n[i] > max_n ? o.n[i] : max_n;
    const int n_vocab = lmc_model_n_vocab(model);
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)(max_p > max_n ? max_p : max_n));
    double *samples = malloc(sizeof(double) * (size_t)o.reps);
    char desc[128], size[32], params[32], when[32];
    lmc_model_desc(model, desc, sizeof desc);
    human_size(lmc_model_size_bytes(model), size, sizeof size);
    human_params(lmc_model_n_params(model), params, sizeof params);
    time_t tnow = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&tnow));
    cJSON *arr = o.json ? cJSON_CreateArray() : NULL;
    if (!toks || !samples) {
        rc = cli_fail(LMC_ERR_OOM, "bench");
        goto done;
    }
    uint64_t rng = 1234567;
    for (int i = 0; i < (max_p > max_n ? max_p : max_n); i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((rng >> 33) % (uint64_t)n_vocab);
    }
    if (!o.json) print_table_header();

    for (int ti = 0; ti < o.n_t; ti++) {
        lmc_context_params cp = lmc_context_default_params();
        cp.n_ctx = max_p > max_n ? max_p : max_n;
        if (o.device == LMC_DEVICE_CUDA && o.n_ctx > 0) cp.n_ctx = o.n_ctx;
        cp.n_batch = max_p;
        cp.n_seq = 1;
        cp.n_threads = o.t[ti];
        cp.device = o.device;
        cp.n_gpu_layers = o.ngl;
        lmc_context *ctx = NULL;
        lmc_status st = lmc_context_init(model, &cp, &ctx);
        if (st != LMC_OK) {
            rc = cli_fail(st, "bench: creating the context");
            goto done;
        }
        /* all pp tests, then all tg tests, as llama-bench orders them */
        for (int kind = 0; kind < 2; kind++) {
            const int count = kind == 0 ? o.n_p : o.n_n;
            for (int k = 0; k < count; k++) {
                bench_test bt = {.n_threads = o.t[ti], .reps = o.reps, .samples_ns = samples};
                if (kind == 0) bt.n_prompt = o.p[k];
                else bt.n_gen = o.n[k];
                if (bt.n_prompt == 0 && bt.n_gen == 0) continue;
                double warm;
                st = run_once(ctx, toks, bt.n_prompt, bt.n_gen, &warm);
                for (int r = 0; st == LMC_OK && r < o.reps; r++)
                    st = run_once(ctx, toks, bt.n_prompt, bt.n_gen, &samples[r]);
                if (st != LMC_OK) {
                    rc = cli_fail(st, "bench: decode");
                    lmc_context_free(ctx);
                    goto done;
                }
                finish_stats(&bt);
                if (arr) cJSON_AddItemToArray(arr, test_json(&o, model, desc, &bt, when));
                else print_table_row(desc, size, params, &o, &bt);
            }
        }
        lmc_context_free(ctx);
    }
    if (arr) {
        char *s = cJSON_Print(arr);
        if (s) printf("%s\n", s);
        free(s);
    } else {
        printf("\nbuild: lmc %s, CPU kernels: %s\n", LMC_VERSION_STRING, cpu_kernels_name());
    }
    rc = CLI_OK;
done:
    cJSON_Delete(arr);
    free(toks);
    free(samples);
    lmc_model_free(model);
    return rc;
}
