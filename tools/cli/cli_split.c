/* cli_split.c — parsing of the multi-GPU flags of cli_split.h. */
#include "cli_split.h"
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* "3,1" or "3/1": up to LMC_MAX_GPUS non-negative finite shares. */
static bool parse_shares(const char *cmd, const char *v, float *out) {
    memset(out, 0, LMC_MAX_GPUS * sizeof *out);
    int n = 0;
    const char *at = v;
    while (*at) {
        if (n == LMC_MAX_GPUS) {
            cli_usage_error(cmd, "--tensor-split: at most %d values", LMC_MAX_GPUS);
            return false;
        }
        char *end;
        errno = 0;
        double x = strtod(at, &end);
        if (end == at || errno || !isfinite(x) || x < 0 || (*end && *end != ',' && *end != '/')) {
            cli_usage_error(cmd, "--tensor-split: '%s' is not a list of shares >= 0 (e.g. 3,1)", v);
            return false;
        }
        out[n++] = (float)x;
        at = *end ? end + 1 : end;
    }
    if (n == 0) {
        cli_usage_error(cmd, "--tensor-split: empty list");
        return false;
    }
    return true;
}

int cli_split_flag(cli_split_opts *o, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    if (!strcmp(a, "-sm") || !strcmp(a, "--split-mode")) {
        if (!cli_arg_str(argc, argv, i, &v)) return -1;
        if (!strcmp(v, "none"))
            o->mode = LMC_SPLIT_NONE;
        else if (!strcmp(v, "layer"))
            o->mode = LMC_SPLIT_LAYER;
        else if (!strcmp(v, "row"))
            o->mode = LMC_SPLIT_ROW;
        else {
            cli_usage_error(cmd, "-sm must be none, layer or row (got '%s')", v);
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "-ts") || !strcmp(a, "--tensor-split")) {
        if (!cli_arg_str(argc, argv, i, &v)) return -1;
        return parse_shares(cmd, v, o->tensor_split) ? 1 : -1;
    }
    if (!strcmp(a, "-mg") || !strcmp(a, "--main-gpu")) {
        if (!cli_arg_int(argc, argv, i, &o->main_gpu)) return -1;
        if (o->main_gpu < 0 || o->main_gpu >= LMC_MAX_GPUS) {
            cli_usage_error(cmd, "-mg must be 0..%d", LMC_MAX_GPUS - 1);
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "-tp") || !strcmp(a, "--tensor-parallel")) {
        if (!cli_arg_int(argc, argv, i, &o->n_tensor_parallel)) return -1;
        if (o->n_tensor_parallel < 1 || o->n_tensor_parallel > LMC_MAX_GPUS) {
            cli_usage_error(cmd, "--tensor-parallel must be 1..%d", LMC_MAX_GPUS);
            return -1;
        }
        if (o->mode == LMC_SPLIT_NONE) o->mode = LMC_SPLIT_ROW; /* -tp N alone means -sm row */
        return 1;
    }
    return 0;
}

void cli_split_apply(const cli_split_opts *o, lmc_context_params *cp) {
    cp->split_mode = o->mode;
    cp->main_gpu = o->main_gpu;
    cp->n_tensor_parallel = o->n_tensor_parallel;
    memcpy(cp->tensor_split, o->tensor_split, sizeof cp->tensor_split);
}

void cli_split_help(FILE *to) {
    fprintf(
        to,
        "  -sm, --split-mode M     several GPUs: none (default, one GPU), layer (contiguous\n"
        "                          layers per GPU) or row (tensor parallel: heads, FFN columns\n"
        "                          and vocabulary cut over the GPUs). Over more than one GPU\n"
        "                          the plan is checked, then refused: not implemented yet\n"
        "  -ts, --tensor-split L   GPU shares, e.g. 3,1 (layer: proportions of the layers;\n"
        "                          row: which GPUs, equal shares)\n"
        "  -mg, --main-gpu N       the GPU of -sm none (0 so far; CUDA_VISIBLE_DEVICES picks)\n"
        "  -tp, --tensor-parallel N  -sm row over N GPUs (more than are present: an error)\n");
}
