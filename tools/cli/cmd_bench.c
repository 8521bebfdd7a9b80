/* cmd_bench.c — 'lmc bench': prompt-processing and decode speed. The GPU part (--device cuda) lives
 * in bench_cuda() and reports tok/s, weight bytes read per token and the share of the device's
 * measured copy bandwidth. The CPU benchmark is not written yet. */
#include "cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef LMC_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

static void usage(void) {
    printf("usage: lmc bench [options]\n"
           "  -m, --model FILE   GGUF model (default: the cached SmolLM2-135M-Instruct)\n"
           "  --device cuda      where to run (cuda; the CPU benchmark is not available yet)\n"
           "  -p N               prompt tokens processed in one batch (default 512; 0 skips)\n"
           "  -n N               tokens decoded one at a time from an empty context (default 128; 0 skips)\n"
           "  -r N               repetitions, the median is reported (default 3)\n"
           "  -c N               context size (default: p + n + 16)\n"
           "  -b N               largest prompt batch (default 512)\n"
           "  --no-graph         decode without the CUDA graph\n"
           "Prints one line per model: type, size, pp tok/s, tg tok/s, weight GB read per token, the\n"
           "device's copy bandwidth (bytes read + written) and decode's share of it, and the time from\n"
           "the start of the load to the first token's logits.\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#ifdef LMC_WITH_CUDA
static void cuda_progress(float done, void *user) {
    (void)user;
    static int last = -1;
    int pct = (int)(done * 100);
    if (pct / 10 != last / 10) fprintf(stderr, "\rupload %3d%%%s", pct, pct >= 100 ? "\n" : "");
    last = pct;
}

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

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *device = "cuda";
    int n_prompt = 512, n_gen = 128, reps = 3, n_ctx = 0, n_batch = 512, graph = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return CLI_OK;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!cli_arg_str(argc, argv, &i, &model)) return CLI_USAGE;
        } else if (!strcmp(a, "--device")) {
            if (!cli_arg_str(argc, argv, &i, &device)) return CLI_USAGE;
        } else if (!strcmp(a, "-p")) {
            if (!cli_arg_int(argc, argv, &i, &n_prompt)) return CLI_USAGE;
        } else if (!strcmp(a, "-n")) {
            if (!cli_arg_int(argc, argv, &i, &n_gen)) return CLI_USAGE;
        } else if (!strcmp(a, "-r")) {
            if (!cli_arg_int(argc, argv, &i, &reps)) return CLI_USAGE;
        } else if (!strcmp(a, "-c")) {
            if (!cli_arg_int(argc, argv, &i, &n_ctx)) return CLI_USAGE;
        } else if (!strcmp(a, "-b")) {
            if (!cli_arg_int(argc, argv, &i, &n_batch)) return CLI_USAGE;
        } else if (!strcmp(a, "--no-graph")) {
            graph = 0;
        } else {
            return cli_usage_error("bench", "unknown option '%s'", a);
        }
    }
    if (n_prompt < 0 || n_gen < 0 || reps < 1 || n_batch < 1) return cli_usage_error("bench", "bad -p/-n/-r/-b value");
    if (strcmp(device, "cuda") != 0) {
        fprintf(stderr, "lmc bench: only --device cuda is available in this build yet\n");
        return CLI_ERR;
    }
#ifdef LMC_WITH_CUDA
    if (lmc_cuda_device_count() <= 0) {
        fprintf(stderr, "lmc bench: no CUDA GPU found\n");
        return CLI_ERR;
    }
    return bench_cuda(model, n_prompt, n_gen, reps, n_ctx, n_batch, graph);
#else
    (void)now_s;
    (void)graph;
    (void)model;
    fprintf(stderr, "lmc bench: this lmc was built without the CUDA backend\n");
    return CLI_ERR;
#endif
}
