/* cmd_bench.c — 'lmc bench': prompt processing (pp) and generation (tg) speed like llama-bench.
 * pp: a random-token prompt of -p tokens decoded in one batch from position 0; tg: -n tokens
 * decoded one at a time from position 0. Each test runs once as a warm-up, then -r times; the table
 * (or the JSON array, llama-bench's field names) gives tokens per second as mean ± sd. It measures
 * only what lmc_decode does: no sampling, no tokenization. --device cuda runs the same way through
 * lmc_context (what users run); with every layer on the GPU a second table adds the weight bytes
 * per token and their share of the device's copy bandwidth. --parallel N (-npl N, as
 * llama-batched-bench) runs N sequences at once: each prompt of P tokens in one batch of N * P
 * tokens (cut at -b), then N-token decode steps, aggregate and per-sequence tok/s. -d DEPTH (as
 * llama-bench's) runs pp and tg after DEPTH tokens already in the cache: the DEPTH tokens are
 * decoded once, untimed, and each run rewinds the sequence to them. It uses nothing but lmc.h. */
#include "cli.h"
#include "cli_split.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BENCH_MAX_LIST = 16 };

typedef struct {
    int n_prompt, n_gen, n_threads;
    int n_depth; /* tokens in the cache before the test (-d) */
    int reps;
    double *samples_ns; /* (reps) */
    double avg_ts, stddev_ts, avg_ns, stddev_ns;
} bench_test;

typedef struct {
    const char *model_path;
    int p[BENCH_MAX_LIST], n_p;
    int n[BENCH_MAX_LIST], n_n;
    int t[BENCH_MAX_LIST], n_t;
    int d[BENCH_MAX_LIST], n_d; /* -d: tokens in the cache before each test */
    int reps, ngl;
    int n_ctx, n_batch;             /* --device cuda only; 0: the default */
    int npl[BENCH_MAX_LIST], n_npl; /* --parallel: sequences at once (0 entries: the plain bench) */
    lmc_device device;
    lmc_kv_type type_k, type_v; /* -ctk/-ctv */
    cli_split_opts split;       /* -sm/-ts/-mg/-tp */
    bool json;
} bench_opts;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void usage(void) {
    printf(
        "usage: lmc bench -m MODEL [options]\n"
        "\n"
        "Measures prompt processing (pp) and text generation (tg) speed in tokens per second, "
        "like\n"
        "llama-bench. pp decodes a random-token prompt of P tokens in one batch from position 0;\n"
        "tg decodes N tokens one at a time from position 0. Each test runs once to warm up, then "
        "R\n"
        "times; t/s is the mean and standard deviation over the R runs.\n"
        "\n"
        "With every layer on the GPU a second table follows: the first pp and tg test with the\n"
        "weight bytes read per token and their share of the device's copy bandwidth. --parallel\n"
        "N runs N sequences at once, as llama-batched-bench: pp = N prompts of P tokens (one\n"
        "batch, cut at -b), then tg = N-token decode steps after them; t/s aggregate and per\n"
        "sequence (-c: positions per sequence, default P + N). -d D runs pp and tg after D tokens\n"
        "already in the context (decoded once, untimed), as llama-bench's -d: rows read\n"
        "'pp512 @ d4096' (not with --parallel).\n"
        "\n"
        "The CPU kernels can be chosen with env LMC_KERNELS=ref|scalar|avx2|avx512.\n\n");
    flags_help(stdout, CMD_BENCH);
}

/* A list option's values into out (at most BENCH_MAX_LIST). */
static bool take_list(const flag_val *v, int *out, int *n_out) {
    if (v->n_list > BENCH_MAX_LIST) {
        cli_usage_error("bench", "%s: at most %d values", v->flag, BENCH_MAX_LIST);
        return false;
    }
    memcpy(out, v->list, (size_t)v->n_list * sizeof *out);
    *n_out = v->n_list;
    return true;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->p[0] = 512, o->n_p = 1;
    o->n[0] = 128, o->n_n = 1;
    o->d[0] = 0, o->n_d = 1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->t[0] = ncpu > 0 ? (int)ncpu : 1, o->n_t = 1;
    o->reps = 5;
    o->ngl = -1;
    o->device = LMC_DEVICE_CPU;
    o->device = LMC_DEVICE_AUTO;
    for (int i = 1; i < argc; i++) {
        flag_val v;
        int r = flag_next(CMD_BENCH, argc, argv, &i, &v);
        if (r < 0) return CLI_USAGE;
        if (r == 0) return cli_usage_error("bench", "unexpected argument '%s'", argv[i]);
        bool ok = true;
        switch (v.id) {
        case FL_HELP:
            usage();
            return -1;
        case FL_MODEL:
            o->model_path = v.str;
            break;
        case FL_BENCH_PROMPT:
            ok = take_list(&v, o->p, &o->n_p);
            break;
        case FL_BENCH_GEN:
            ok = take_list(&v, o->n, &o->n_n);
            break;
        case FL_BENCH_DEPTH:
            ok = take_list(&v, o->d, &o->n_d);
            break;
        case FL_THREADS: /* 0: all cores, as everywhere */
            ok = take_list(&v, o->t, &o->n_t);
            for (int k = 0; ok && k < o->n_t; k++)
                if (o->t[k] == 0) o->t[k] = ncpu > 0 ? (int)ncpu : 1;
            break;
        case FL_REPETITIONS:
            o->reps = v.i;
            break;
        case FL_NGL:
            o->ngl = v.i < 0 ? -1 : v.i;
            break;
        case FL_DEVICE:
            ok = cli_parse_device(CMD_BENCH, &v, &o->device);
            break;
        case FL_CACHE_TYPE_K:
            ok = cli_parse_kv_type(CMD_BENCH, &v, &o->type_k);
            break;
        case FL_CACHE_TYPE_V:
            ok = cli_parse_kv_type(CMD_BENCH, &v, &o->type_v);
            break;
        case FL_SPLIT_MODE:
        case FL_TENSOR_SPLIT:
        case FL_MAIN_GPU:
        case FL_TENSOR_PARALLEL:
            ok = cli_split_take(&o->split, CMD_BENCH, &v) > 0;
            break;
        case FL_PARALLEL:
            ok = take_list(&v, o->npl, &o->n_npl);
            break;
        case FL_JSON:
            o->json = true;
            break;
        case FL_CTX:
            o->n_ctx = v.i;
            break;
        case FL_BATCH:
            o->n_batch = v.i;
            break;
        default:
            return cli_usage_error("bench", "option %s is not handled by bench", v.flag);
        }
        if (!ok) return CLI_USAGE;
    }
    if (o->n_npl > 0 && (o->n_d > 1 || o->d[0] > 0))
        return cli_usage_error("bench", "-d: not with --parallel (the plain bench only)");
    /* auto: the GPU when there is one (and -ngl puts layers there), as in run and serve */
    if (o->device == LMC_DEVICE_AUTO)
        o->device =
            o->ngl != 0 && lmc_device_count(LMC_DEVICE_CUDA) > 0 ? LMC_DEVICE_CUDA : LMC_DEVICE_CPU;
    return 0;
}

/* The first depth tokens of toks into the emptied sequence 0, untimed, in batches of n_batch. */
static lmc_status fill_depth(lmc_context *ctx, const int32_t *toks, int depth, int n_batch) {
    const float *logits;
    lmc_status st = LMC_OK;
    lmc_seq_truncate(ctx, 0, 0);
    for (int i = 0; i < depth && st == LMC_OK; i += n_batch)
        st = lmc_decode(ctx, toks + i, depth - i < n_batch ? depth - i : n_batch, i, &logits);
    return st;
}

/* One timed run: pp (n_prompt tokens in one batch) or tg (n_gen single-token decodes), from
 * position depth of sequence 0 rewound to its first depth tokens (fill_depth put them there).
 * Returns the status; *ns the time it took. */
static lmc_status run_once(lmc_context *ctx, const int32_t *toks, int n_prompt, int n_gen,
                           int depth, double *ns) {
    const float *logits;
    lmc_status st = LMC_OK;
    lmc_seq_truncate(ctx, 0, depth);
    const double t0 = now_ns();
    if (n_prompt > 0) st = lmc_decode(ctx, toks + depth, n_prompt, depth, &logits);
    for (int i = 0; n_prompt == 0 && i < n_gen && st == LMC_OK; i++)
        st = lmc_decode(ctx, toks + depth + i, 1, depth + i, &logits);
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
    if (bytes >= (1ull << 30))
        snprintf(buf, size, "%.2f GiB", (double)bytes / (1ull << 30));
    else
        snprintf(buf, size, "%.2f MiB", (double)bytes / (1ull << 20));
}

static void human_params(uint64_t n, char *buf, size_t size) {
    if (n >= 1000000000ull)
        snprintf(buf, size, "%.2f B", (double)n / 1e9);
    else
        snprintf(buf, size, "%.2f M", (double)n / 1e6);
}

/* What the tests ran on (the first context's info) and, with every layer on the GPU, the figures of
 * the GPU table: the first pp and tg test, the copy bandwidth, load and first-token times. */
typedef struct {
    lmc_context_info info;
    bool gpu_table;
    double copy_gbps;       /* 0 when it could not be measured */
    double load_s, first_s; /* from before the model load to the context's start / first logits */
    int pp_n, tg_n;
    double pp_ts, tg_ts;
} bench_run;

/* CUDA when some layers run on the GPU (-ngl 0 puts none there). */
static const char *backend_name(const bench_run *run) {
    return run->info.device == LMC_DEVICE_CUDA ? "CUDA" : "CPU";
}

static void print_table_header(void) {
    printf("| %-30s | %10s | %10s | %-8s | %7s | %12s | %20s |\n", "model", "size", "params",
           "backend", "threads", "test", "t/s");
    printf("| %.30s | %.10s: | %.10s: | %.8s | %.6s: | %.11s: | %.19s: |\n",
           "------------------------------", "----------", "----------", "--------", "-------",
           "------------", "--------------------");
}

static void print_table_row(const char *desc, const char *size, const char *params,
                            const bench_run *run, const bench_test *bt) {
    char test[48], ts[48];
    const int len = snprintf(test, sizeof test, bt->n_prompt > 0 ? "pp%d" : "tg%d",
                             bt->n_prompt > 0 ? bt->n_prompt : bt->n_gen);
    if (bt->n_depth > 0) snprintf(test + len, sizeof test - (size_t)len, " @ d%d", bt->n_depth);
    snprintf(ts, sizeof ts, "%.2f ± %.2f", bt->avg_ts, bt->stddev_ts);
    printf("| %-30s | %10s | %10s | %-8s | %7d | %12s | %20s |\n", desc, size, params,
           backend_name(run), bt->n_threads, test, ts);
    fflush(stdout);
}

/* tg reads every GPU weight once per token: that traffic as a share of the copy bandwidth. */
static double gpu_bw_share(const bench_run *run, double tg_ts) {
    return run->copy_gbps > 0 ? tg_ts * (double)run->info.gpu_weight_bytes / 1e9 / run->copy_gbps
                              : 0.0;
}

/* The GPU table (every layer on the GPU): the first pp and tg test with the weight bytes per token,
 * the copy bandwidth, the decode's share of it and the start-up times. */
static void print_gpu_table(const lmc_model *model, const char *desc, const bench_run *run) {
    printf("\n| model | size GiB | pp%d tok/s | tg%d tok/s | weights GB/token | copy GB/s | decode "
           "share | load+init s | to first token s |\n",
           run->pp_n, run->tg_n);
    printf("| %s | %.2f | %.1f | %.1f | %.3f | %.0f | %.1f%% | %.2f | %.2f |\n", desc,
           lmc_model_size_bytes(model) / 1073741824.0, run->pp_ts, run->tg_ts,
           run->info.gpu_weight_bytes / 1e9, run->copy_gbps, 100.0 * gpu_bw_share(run, run->tg_ts),
           run->load_s, run->first_s);
    fflush(stdout);
}

static cJSON *test_json(const bench_opts *o, lmc_model *model, const char *desc,
                        const bench_run *run, const bench_test *bt, const char *when) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "build_commit", "lmc-" LMC_VERSION_STRING);
    cJSON_AddStringToObject(j, "model_filename", o->model_path ? o->model_path : "(default)");
    cJSON_AddStringToObject(j, "model_type", desc);
    cJSON_AddNumberToObject(j, "model_size", (double)lmc_model_size_bytes(model));
    cJSON_AddNumberToObject(j, "model_n_params", (double)lmc_model_n_params(model));
    cJSON_AddStringToObject(j, "backends", backend_name(run));
    cJSON_AddStringToObject(j, "cpu_kernels", run->info.cpu_kernels);
    cJSON_AddNumberToObject(j, "n_batch", bt->n_prompt > 0 ? bt->n_prompt : 1);
    cJSON_AddNumberToObject(j, "n_threads", bt->n_threads);
    cJSON_AddNumberToObject(j, "n_gpu_layers", o->device == LMC_DEVICE_CUDA ? o->ngl : 0);
    cJSON_AddStringToObject(j, "split_mode",
                            o->split.mode == LMC_SPLIT_ROW     ? "row"
                            : o->split.mode == LMC_SPLIT_LAYER ? "layer"
                                                               : "none");
    cJSON_AddStringToObject(j, "type_k", lmc_kv_type_name(o->type_k));
    cJSON_AddStringToObject(j, "type_v", lmc_kv_type_name(o->type_v));
    cJSON_AddNumberToObject(j, "n_prompt", bt->n_prompt);
    cJSON_AddNumberToObject(j, "n_gen", bt->n_gen);
    cJSON_AddNumberToObject(j, "n_depth", bt->n_depth);
    cJSON_AddStringToObject(j, "test_time", when);
    cJSON_AddNumberToObject(j, "avg_ns", bt->avg_ns);
    cJSON_AddNumberToObject(j, "stddev_ns", bt->stddev_ns);
    cJSON_AddNumberToObject(j, "avg_ts", bt->avg_ts);
    cJSON_AddNumberToObject(j, "stddev_ts", bt->stddev_ts);
    /* tg reads every weight once per token: the effective weight bandwidth */
    if (bt->n_gen > 0)
        cJSON_AddNumberToObject(j, "weights_gbps",
                                (double)lmc_model_size_bytes(model) * bt->avg_ts / 1e9);
    if (run->info.device == LMC_DEVICE_CUDA) { /* the GPU's figures, as in the GPU table */
        cJSON_AddStringToObject(j, "gpu_name", run->info.gpu_name);
        cJSON_AddNumberToObject(j, "gpu_weight_bytes", (double)run->info.gpu_weight_bytes);
        if (run->gpu_table) cJSON_AddNumberToObject(j, "copy_gbps", run->copy_gbps);
        if (run->gpu_table && bt->n_gen > 0)
            cJSON_AddNumberToObject(j, "bw_share", gpu_bw_share(run, bt->avg_ts));
    }
    cJSON *ns = cJSON_AddArrayToObject(j, "samples_ns"),
          *tss = cJSON_AddArrayToObject(j, "samples_ts");
    const int n_tok = bt->n_prompt > 0 ? bt->n_prompt : bt->n_gen;
    for (int r = 0; r < bt->reps; r++) {
        cJSON_AddItemToArray(ns, cJSON_CreateNumber(bt->samples_ns[r]));
        cJSON_AddItemToArray(tss, cJSON_CreateNumber(1e9 * n_tok / bt->samples_ns[r]));
    }
    return j;
}

/* After the first context starts: what it runs on and, with every layer on the GPU, the start-up
 * times (one token decoded from position 0) and the copy bandwidth, then the table's header. */
static lmc_status first_context(lmc_context *ctx, const lmc_model *model, const bench_opts *o,
                                const int32_t *toks, double t0, bench_run *run) {
    lmc_status st = lmc_context_get_info(ctx, &run->info);
    if (st != LMC_OK) return st;
    run->gpu_table =
        run->info.device == LMC_DEVICE_CUDA && run->info.n_gpu_layers >= lmc_model_n_layer(model);
    if (run->gpu_table) {
        const float *logits;
        run->load_s = (now_ns() - t0) * 1e-9;
        if ((st = lmc_decode(ctx, toks, 1, 0, &logits)) != LMC_OK) return st;
        run->first_s = (now_ns() - t0) * 1e-9;
        lmc_seq_truncate(ctx, 0, 0);
        if (lmc_context_measure_bandwidth(ctx, &run->copy_gbps) != LMC_OK)
            run->copy_gbps = 0; /* unknown */
    }
    if (!o->json) {
        if (run->info.device == LMC_DEVICE_CUDA) printf("device: %s\n", run->info.gpu_name);
        print_table_header();
    }
    return LMC_OK;
}

/* ---- --parallel: N sequences at once ----------------------------------------------------------
 */

/* One timed run of npl sequences: their prompts of n_p tokens (sequence i reads toks from i * n_p)
 * as one batch, each wanting its last logits; then n_g steps of one token per sequence. */
static lmc_status par_once(lmc_context *ctx, const int32_t *toks, int npl, int n_p, int n_g,
                           int32_t *bt, int32_t *bp, int32_t *bs, int8_t *bw, double *pp_ns,
                           double *tg_ns) {
    const float *logits;
    lmc_status st = LMC_OK;
    for (int q = 0; q < npl; q++)
        lmc_seq_truncate(ctx, q, 0);
    double t0 = now_ns();
    int n = 0;
    for (int q = 0; q < npl; q++)
        for (int k = 0; k < n_p; k++, n++) {
            bt[n] = toks[q * n_p + k], bp[n] = k, bs[n] = q, bw[n] = k == n_p - 1;
        }
    if (n > 0) {
        lmc_batch b = {.n_tokens = n, .token = bt, .pos = bp, .seq_id = bs, .want_logits = bw};
        st = lmc_decode_batch(ctx, &b, &logits);
    }
    *pp_ns = now_ns() - t0;
    t0 = now_ns();
    for (int g = 0; g < n_g && st == LMC_OK; g++) {
        for (int q = 0; q < npl; q++)
            bt[q] = toks[npl * n_p + g + q], bp[q] = n_p + g, bs[q] = q, bw[q] = 1;
        lmc_batch b = {.n_tokens = npl, .token = bt, .pos = bp, .seq_id = bs, .want_logits = bw};
        st = lmc_decode_batch(ctx, &b, &logits);
    }
    *tg_ns = now_ns() - t0;
    return st;
}

/* pp and tg of npl sequences (n_p, n_g) on ctx: -r runs after a warm-up; rows (or JSON objects
 * with n_parallel, the aggregate avg_ts and per_seq_ts) for each. */
static lmc_status par_test(lmc_context *ctx, lmc_model *model, const bench_opts *o,
                           const char *desc, const char *size, const char *params,
                           const bench_run *run, const char *when, cJSON *arr, int npl, int n_p,
                           int n_g) {
    const int len = npl * n_p + npl + n_g;
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)len * 4);
    int8_t *bw = malloc((size_t)len);
    double *s_pp = malloc(sizeof(double) * (size_t)o->reps * 2), *s_tg = s_pp + o->reps;
    lmc_status st = LMC_OK;
    if (!toks || !bw || !s_pp) {
        st = LMC_ERR_OOM;
        goto done;
    }
    uint64_t rng = 7654321;
    for (int i = 0; i < len; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((rng >> 33) % (uint64_t)lmc_model_n_vocab(model));
    }
    int32_t *bt = toks + len, *bp = bt + len, *bs = bp + len;
    double w1, w2;
    st = par_once(ctx, toks, npl, n_p, n_g, bt, bp, bs, bw, &w1, &w2);
    for (int r = 0; st == LMC_OK && r < o->reps; r++)
        st = par_once(ctx, toks, npl, n_p, n_g, bt, bp, bs, bw, &s_pp[r], &s_tg[r]);
    for (int kind = 0; st == LMC_OK && kind < 2; kind++) {
        bench_test t = {.n_threads = o->t[0], .reps = o->reps, .samples_ns = kind ? s_tg : s_pp};
        if ((kind == 0 ? n_p : n_g) == 0) continue;
        if (kind == 0)
            t.n_prompt = npl * n_p; /* aggregate tokens: the stats give aggregate tok/s */
        else
            t.n_gen = npl * n_g;
        finish_stats(&t);
        if (arr) {
            cJSON *j = test_json(o, model, desc, run, &t, when);
            cJSON_ReplaceItemInObject(j, "n_prompt", cJSON_CreateNumber(n_p));
            cJSON_ReplaceItemInObject(j, "n_gen", cJSON_CreateNumber(kind ? n_g : 0));
            cJSON_DeleteItemFromObject(j, "weights_gbps"); /* one weight read serves npl tokens */
            cJSON_AddStringToObject(j, "test", kind ? "tg" : "pp");
            cJSON_AddNumberToObject(j, "n_parallel", npl);
            cJSON_AddNumberToObject(j, "per_seq_ts", t.avg_ts / npl);
            cJSON_AddItemToArray(arr, j);
        } else {
            char test[48], ts[48];
            snprintf(test, sizeof test, kind ? "tg%d x%d" : "pp%d x%d", kind ? n_g : n_p, npl);
            snprintf(ts, sizeof ts, "%.2f ± %.2f", t.avg_ts, t.stddev_ts);
            printf("| %-30s | %10s | %10s | %-8s | %7d | %12s | %20s | %12.2f |\n", desc, size,
                   params, backend_name(run), t.n_threads, test, ts, t.avg_ts / npl);
            fflush(stdout);
        }
    }
done:
    free(toks);
    free(bw);
    free(s_pp);
    return st;
}

/* The --parallel mode: a context of npl sequences for each count, every -p and -n under it. */
static int bench_parallel(const bench_opts *o, lmc_model *model, const char *desc, const char *size,
                          const char *params, const char *when, cJSON *arr) {
    bench_run run = {0};
    for (int k = 0; k < o->n_npl; k++) {
        const int npl = o->npl[k];
        int max_p = 0, max_n = 0;
        for (int i = 0; i < o->n_p; i++)
            max_p = o->p[i] > max_p ? o->p[i] : max_p;
        for (int i = 0; i < o->n_n; i++)
            max_n = o->n[i] > max_n ? o->n[i] : max_n;
        lmc_context_params cp = lmc_context_default_params();
        cp.n_ctx = o->n_ctx > 0 ? o->n_ctx : max_p + max_n + 1;
        cp.n_batch = o->n_batch > 0 ? o->n_batch : 512;
        cp.n_seq = npl;
        cp.n_threads = o->t[0];
        cp.device = o->device;
        cp.n_gpu_layers = o->ngl;
        cp.type_k = o->type_k;
        cp.type_v = o->type_v;
        cli_split_apply(&o->split, &cp);
        lmc_context *ctx = NULL;
        lmc_status st = lmc_context_init(model, &cp, &ctx);
        if (st == LMC_OK && k == 0) st = lmc_context_get_info(ctx, &run.info);
        if (st == LMC_OK && k == 0 && !arr) {
            if (run.info.device == LMC_DEVICE_CUDA) printf("device: %s\n", run.info.gpu_name);
            printf("| %-30s | %10s | %10s | %-8s | %7s | %12s | %20s | %12s |\n", "model", "size",
                   "params", "backend", "threads", "test", "t/s (all)", "t/s per seq");
            printf("| %.30s | %.10s: | %.10s: | %.8s | %.6s: | %.11s: | %.19s: | %.11s: |\n",
                   "------------------------------", "----------", "----------", "--------",
                   "-------", "------------", "--------------------", "------------");
        }
        for (int i = 0; st == LMC_OK && i < o->n_p; i++)
            for (int j = 0; st == LMC_OK && j < o->n_n; j++)
                st = par_test(ctx, model, o, desc, size, params, &run, when, arr, npl, o->p[i],
                              o->n[j]);
        lmc_context_free(ctx);
        if (st != LMC_OK) return cli_fail(st, "bench --parallel");
    }
    if (arr) {
        char *s = cJSON_Print(arr);
        if (s) printf("%s\n", s);
        free(s);
    } else {
        printf("\nbuild: lmc %s, CPU kernels: %s\n", LMC_VERSION_STRING, run.info.cpu_kernels);
    }
    return CLI_OK;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc == -1) return CLI_OK;
    if (rc) return rc;
    if (o.device == LMC_DEVICE_CUDA) {
        const int32_t n_gpu = lmc_device_count(LMC_DEVICE_CUDA);
        if (n_gpu <= 0) {
            fprintf(stderr, n_gpu < 0 ? "lmc bench: this lmc was built without the CUDA backend\n"
                                      : "lmc bench: no CUDA GPU found\n");
            return CLI_ERR;
        }
    }
    const double t0 = now_ns();
    lmc_model *model = cli_load_model(o.model_path, false, o.json);
    if (!model) return CLI_ERR;
    int max_p = 1, max_n = 1, max_d = 0;
    for (int i = 0; i < o.n_p; i++)
        max_p = o.p[i] > max_p ? o.p[i] : max_p;
    for (int i = 0; i < o.n_n; i++)
        max_n = o.n[i] > max_n ? o.n[i] : max_n;
    for (int i = 0; i < o.n_d; i++)
        max_d = o.d[i] > max_d ? o.d[i] : max_d;
    const int n_vocab = lmc_model_n_vocab(model);
    const int n_toks = max_d + (max_p > max_n ? max_p : max_n);
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)n_toks);
    double *samples = malloc(sizeof(double) * (size_t)o.reps);
    char desc[128], size[32], params[32], when[32];
    lmc_model_desc(model, desc, sizeof desc);
    human_size(lmc_model_size_bytes(model), size, sizeof size);
    human_params(lmc_model_n_params(model), params, sizeof params);
    time_t tnow = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&tnow));
    cJSON *arr = o.json ? cJSON_CreateArray() : NULL;
    bench_run run = {0};
    if (!toks || !samples) {
        rc = cli_fail(LMC_ERR_OOM, "bench");
        goto done;
    }
    if (o.n_npl > 0) {
        rc = bench_parallel(&o, model, desc, size, params, when, arr);
        goto done;
    }
    uint64_t rng = 1234567;
    for (int i = 0; i < n_toks; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((rng >> 33) % (uint64_t)n_vocab);
    }

    for (int ti = 0; ti < o.n_t; ti++) {
        lmc_context_params cp = lmc_context_default_params();
        cp.n_ctx = n_toks;
        cp.n_batch = max_p;
        if (max_d > cp.n_batch && cp.n_batch < 512) /* the depth fill in batches of up to 512 */
            cp.n_batch = max_d < 512 ? max_d : 512;
        if (o.device ==
            LMC_DEVICE_CUDA) { /* the GPU's defaults are lmc_context's: prompts in 512s */
            if (o.n_ctx > 0) cp.n_ctx = o.n_ctx;
            cp.n_batch = o.n_batch > 0 ? o.n_batch : 512;
        }
        cp.n_seq = 1;
        cp.n_threads = o.t[ti];
        cp.device = o.device;
        cp.n_gpu_layers = o.ngl;
        cp.type_k = o.type_k;
        cp.type_v = o.type_v;
        cli_split_apply(&o.split, &cp);
        lmc_context *ctx = NULL;
        lmc_status st = lmc_context_init(model, &cp, &ctx);
        if (st == LMC_OK && ti == 0) st = first_context(ctx, model, &o, toks, t0, &run);
        if (st != LMC_OK) {
            rc = cli_fail(st, "bench: creating the context");
            lmc_context_free(ctx);
            goto done;
        }
        /* all pp tests, then all tg tests, as llama-bench orders them; each at every depth */
        int held = 0; /* sequence 0 holds positions [0, held), token toks[p] at position p */
        for (int kind = 0; kind < 2; kind++) {
            const int count = kind == 0 ? o.n_p : o.n_n;
            for (int k = 0; k < count * o.n_d; k++) {
                bench_test bt = {.n_threads = o.t[ti], .reps = o.reps, .samples_ns = samples};
                if (kind == 0)
                    bt.n_prompt = o.p[k / o.n_d];
                else
                    bt.n_gen = o.n[k / o.n_d];
                bt.n_depth = o.d[k % o.n_d];
                if (bt.n_prompt == 0 && bt.n_gen == 0) continue;
                if (bt.n_depth > held) st = fill_depth(ctx, toks, bt.n_depth, cp.n_batch);
                double warm;
                if (st == LMC_OK)
                    st = run_once(ctx, toks, bt.n_prompt, bt.n_gen, bt.n_depth, &warm);
                for (int r = 0; st == LMC_OK && r < o.reps; r++)
                    st = run_once(ctx, toks, bt.n_prompt, bt.n_gen, bt.n_depth, &samples[r]);
                held = bt.n_depth + bt.n_prompt + bt.n_gen;
                if (st != LMC_OK) {
                    rc = cli_fail(st, "bench: decode");
                    lmc_context_free(ctx);
                    goto done;
                }
                finish_stats(&bt);
                if (ti == 0 && bt.n_depth == 0 && bt.n_prompt > 0 && !run.pp_n)
                    run.pp_n = bt.n_prompt, run.pp_ts = bt.avg_ts;
                if (ti == 0 && bt.n_depth == 0 && bt.n_gen > 0 && !run.tg_n)
                    run.tg_n = bt.n_gen, run.tg_ts = bt.avg_ts;
                if (arr)
                    cJSON_AddItemToArray(arr, test_json(&o, model, desc, &run, &bt, when));
                else
                    print_table_row(desc, size, params, &run, &bt);
            }
        }
        lmc_context_free(ctx);
    }
    if (arr) {
        char *s = cJSON_Print(arr);
        if (s) printf("%s\n", s);
        free(s);
    } else {
        if (run.gpu_table) print_gpu_table(model, desc, &run);
        printf("\nbuild: lmc %s, CPU kernels: %s\n", LMC_VERSION_STRING, run.info.cpu_kernels);
    }
    rc = CLI_OK;
done:
    cJSON_Delete(arr);
    free(toks);
    free(samples);
    lmc_model_free(model);
    return rc;
}
