/* cmd_logits.c — 'lmc logits': decode a prompt (token ids or text) and print, as one JSON object on
 * stdout, the prompt ids, the logits after the last one and N greedy continuation ids. Other
 * programs (tests, comparisons with references) read this exact format; it prints nothing else on
 * stdout. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void logits_help(void) {
    printf(
        "usage: lmc logits [-m MODEL] (--ids 1,2,3 | --prompt TEXT) [options]\n\n"
        "Decodes the prompt and prints one JSON object on stdout:\n"
        "  {\"prompt_ids\": [...], \"logits\": [n_vocab floats after the last prompt id],\n"
        "   \"greedy_ids\": [N ids, each the argmax (lowest id on ties) of the previous logits]}\n"
        "Floats are printed with %%.9g so they read back exactly.\n\n"
        "The prompt is --ids (token ids) or -p (text).\n\n");
    flags_help(stdout, CMD_LOGITS);
}

static int32_t argmax(const float *v, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i; /* strict: ties keep the lowest id */
    return best;
}

/* --dump: an lmc_observer writing what it is shown to DIR as raw float32 files (layer_NN.f32,
 * final_norm.f32, logits.f32). The first failure is kept and reported after the decode. */
typedef struct {
    const char *dir;
    bool failed;
    int err;              /* errno of a failed open, else 0 */
    char failed_at[4200]; /* the file that could not be written */
} dump_files;

static void dump_observe(void *user, lmc_observe_what what, int32_t layer, const float *v,
                         int32_t n) {
    dump_files *d = user;
    if (d->failed) return;
    char path[4200];
    if (what == LMC_OBSERVE_LAYER)
        snprintf(path, sizeof path, "%s/layer_%02d.f32", d->dir, layer);
    else
        snprintf(path, sizeof path, "%s/%s", d->dir,
                 what == LMC_OBSERVE_FINAL_NORM ? "final_norm.f32" : "logits.f32");
    FILE *fp = fopen(path, "wb");
    size_t w = fp ? fwrite(v, sizeof(float), (size_t)n, fp) : 0;
    if (!fp || fclose(fp) != 0 || w != (size_t)n) {
        d->failed = true;
        d->err = fp ? 0 : errno;
        memcpy(d->failed_at, path, sizeof path);
    }
}

/* Decodes the prompt with the dump of its last token in dir (nothing is observed after it). A
 * failed write is reported on stderr and leaves *dumped false. */
static lmc_status decode_dumped(lmc_context *ctx, const int32_t *ids, int32_t n_ids,
                                const char *dir, const float **logits, bool *dumped) {
    dump_files d = {.dir = dir};
    lmc_context_set_observer(ctx, dump_observe, &d);
    lmc_status st = lmc_decode(ctx, ids, n_ids, 0, logits);
    lmc_context_set_observer(ctx, NULL, NULL);
    *dumped = !d.failed;
    if (st == LMC_OK && d.failed)
        fprintf(stderr, "lmc: error: --dump: cannot write %s%s%s\n", d.failed_at, d.err ? ": " : "",
                d.err ? strerror(d.err) : "");
    return st;
}

/* Runs the prompt on the CPU with its dump in DIR/cpu and compares each layer file with the GPU's.
 */
static int compare_with_cpu(lmc_model *model, const int32_t *ids, int32_t n_ids, int n_ctx,
                            int n_threads, const char *dir) {
    char cpu_dir[4096];
    snprintf(cpu_dir, sizeof cpu_dir, "%s/cpu", dir);
    mkdir(cpu_dir, 0777);
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = n_threads;
    cp.device = LMC_DEVICE_CPU;
    lmc_context *ctx = NULL;
    lmc_status st = lmc_context_init(model, &cp, &ctx);
    if (st != LMC_OK) return cli_fail(st, "cannot create the CPU context");
    const float *logits = NULL;
    bool dumped = false;
    st = decode_dumped(ctx, ids, n_ids, cpu_dir, &logits, &dumped);
    lmc_context_free(ctx);
    if (st != LMC_OK) return cli_fail(st, "CPU decode failed");
    if (!dumped) return CLI_ERR;
    const int32_t n_layer = lmc_model_n_layer(model), n_embd = lmc_model_n_embd(model);
    float *a = malloc((size_t)n_embd * sizeof *a), *b = malloc((size_t)n_embd * sizeof *b);
    int first = -1;
    for (int32_t l = 0; l < n_layer && a && b; l++) {
        char pa[4200], pb[4200];
        snprintf(pa, sizeof pa, "%s/layer_%02d.f32", dir, l);
        snprintf(pb, sizeof pb, "%s/layer_%02d.f32", cpu_dir, l);
        FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
        size_t ra = fa ? fread(a, sizeof *a, (size_t)n_embd, fa) : 0,
               rb = fb ? fread(b, sizeof *b, (size_t)n_embd, fb) : 0;
        if (fa) fclose(fa);
        if (fb) fclose(fb);
        if (ra != (size_t)n_embd || rb != (size_t)n_embd) {
            fprintf(stderr, "layer %2d: dump missing\n", l);
            continue;
        }
        double num = 0, den = 0;
        for (int32_t i = 0; i < n_embd; i++) {
            num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            den += (double)b[i] * b[i];
        }
        const double nmse = den > 0 ? num / den : num;
        fprintf(stderr, "layer %2d: NMSE cuda vs cpu %.3g\n", l, nmse);
        if (first < 0 && !(nmse <= 1e-6)) first = l;
    }
    free(a);
    free(b);
    if (first >= 0)
        fprintf(stderr, "first diverging layer: %d (NMSE > 1e-6)\n", first);
    else
        fprintf(stderr, "no layer diverges (every NMSE <= 1e-6)\n");
    return CLI_OK;
}

int cmd_logits(int argc, char **argv) {
    const char *model_path = NULL, *ids_arg = NULL, *prompt = NULL, *dump = NULL, *device = "auto";
    int n_gen = 16, n_threads = 0, n_ctx = 0, n_gpu_layers = -1;
    lmc_kv_type type_k = LMC_KV_F32, type_v = LMC_KV_F32;
    for (int i = 1; i < argc; i++) {
        flag_val v;
        lmc_device dev;
        int r = flag_next(CMD_LOGITS, argc, argv, &i, &v);
        if (r < 0) return CLI_USAGE;
        if (r == 0) return cli_usage_error(argv[0], "unexpected argument '%s'", argv[i]);
        switch (v.id) {
        case FL_HELP:
            logits_help();
            return CLI_OK;
        case FL_MODEL:
            model_path = v.str;
            break;
        case FL_IDS:
            ids_arg = v.str;
            break;
        case FL_PROMPT:
            prompt = v.str;
            break;
        case FL_N_PREDICT:
            n_gen = v.i;
            break;
        case FL_THREADS:
            n_threads = v.i;
            break;
        case FL_CTX:
            n_ctx = v.i;
            break;
        case FL_DUMP:
            dump = v.str;
            break;
        case FL_DEVICE:
            if (!cli_parse_device(CMD_LOGITS, &v, &dev)) return CLI_USAGE;
            device = v.str;
            break;
        case FL_NGL:
            n_gpu_layers = v.i;
            break;
        case FL_CACHE_TYPE_K:
            if (!cli_parse_kv_type(CMD_LOGITS, &v, &type_k)) return CLI_USAGE;
            break;
        case FL_CACHE_TYPE_V:
            if (!cli_parse_kv_type(CMD_LOGITS, &v, &type_v)) return CLI_USAGE;
            break;
        default:
            return cli_usage_error(argv[0], "option %s is not handled by logits", v.flag);
        }
    }
    if (!!ids_arg == !!prompt)
        return cli_usage_error(argv[0], "give exactly one of --ids and --prompt");
    if (n_gen < 0) return cli_usage_error(argv[0], "-n must be >= 0");
    if (n_threads < 0) return cli_usage_error(argv[0], "-t must be >= 0");
    if (n_ctx < 0) return cli_usage_error(argv[0], "-c must be >= 0");

    int rc = CLI_ERR;
    int32_t *ids = NULL, n_ids = 0;
    lmc_context *ctx = NULL;
    float *prompt_logits = NULL;
    int32_t *greedy = NULL;
    lmc_model *model = cli_load_model(model_path, false, true);
    if (!model) return CLI_ERR;
    if (ids_arg) {
        n_ids = cli_parse_ids(ids_arg, &ids);
        if (n_ids < 0) {
            rc = cli_usage_error(argv[0], "--ids: '%s' is not a comma-separated list of token ids",
                                 ids_arg);
            goto done;
        }
    } else {
        ids = lmc_tokenize_alloc(model, prompt, -1, true, false, &n_ids);
        if (!ids) {
            rc = cli_fail(LMC_ERR_FORMAT, "cannot tokenize the prompt");
            goto done;
        }
        if (n_ids == 0) {
            rc = cli_usage_error(argv[0], "the prompt gives no tokens");
            goto done;
        }
    }

    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = n_threads;
    cp.device = !strcmp(device, "cpu")    ? LMC_DEVICE_CPU
                : !strcmp(device, "cuda") ? LMC_DEVICE_CUDA
                                          : LMC_DEVICE_AUTO;
    cp.n_gpu_layers = n_gpu_layers;
    cp.type_k = type_k;
    cp.type_v = type_v;
    lmc_status st = lmc_context_init(model, &cp, &ctx);
    if (st != LMC_OK) {
        rc = cli_fail(st, "cannot create the context");
        goto done;
    }
    const int32_t n_vocab = lmc_model_n_vocab(model);
    const float *logits = NULL;
    bool dumped = true;
    st = dump ? decode_dumped(ctx, ids, n_ids, dump, &logits, &dumped)
              : lmc_decode(ctx, ids, n_ids, 0, &logits);
    if (st != LMC_OK) {
        rc = cli_fail(st, "decode failed");
        goto done;
    }
    if (!dumped) goto done; /* its message is out */
    if (dump && !strcmp(device, "cuda") &&
        compare_with_cpu(model, ids, n_ids, n_ctx, n_threads, dump) != CLI_OK)
        goto done;
    /* Everything is computed before anything is printed: a failure leaves stdout empty. */
    prompt_logits = malloc((size_t)n_vocab * sizeof *prompt_logits);
    greedy = malloc(((size_t)n_gen + 1) * sizeof *greedy);
    if (!prompt_logits || !greedy) {
        rc = cli_fail(LMC_ERR_OOM, "out of memory");
        goto done;
    }
    memcpy(prompt_logits, logits, (size_t)n_vocab * sizeof *prompt_logits);
    for (int i = 0; i < n_gen; i++) {
        greedy[i] = argmax(logits, n_vocab);
        if (i + 1 == n_gen) break;
        st = lmc_decode(ctx, &greedy[i], 1, n_ids + i, &logits);
        if (st != LMC_OK) {
            rc = cli_fail(st, "decode failed");
            goto done;
        }
    }
    printf("{\"prompt_ids\": [");
    for (int32_t i = 0; i < n_ids; i++)
        printf("%s%d", i ? ", " : "", ids[i]);
    printf("], \"logits\": [");
    for (int32_t i = 0; i < n_vocab; i++)
        printf("%s%.9g", i ? ", " : "", prompt_logits[i]);
    printf("], \"greedy_ids\": [");
    for (int i = 0; i < n_gen; i++)
        printf("%s%d", i ? ", " : "", greedy[i]);
    printf("]}\n");
    rc = fflush(stdout) == 0 ? CLI_OK : CLI_ERR;
done:
    lmc_context_free(ctx);
    lmc_model_free(model);
    free(ids);
    free(prompt_logits);
    free(greedy);
    return rc;
}
