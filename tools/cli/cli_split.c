/* cli_split.c — the multi-GPU options of cli_split.h. */
#include "cli_split.h"
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* "3,1" or "3/1": up to LMC_MAX_GPUS non-negative finite shares. */
static bool parse_shares(cli_cmd cmd, const flag_val *v, float *out) {
    memset(out, 0, LMC_MAX_GPUS * sizeof *out);
    int n = 0;
    const char *at = v->str;
    while (*at) {
        if (n == LMC_MAX_GPUS) {
            cli_usage_error(cli_cmd_name(cmd), "option %s: at most %d values", v->flag,
                            LMC_MAX_GPUS);
            return false;
        }
        char *end;
        errno = 0;
        double x = strtod(at, &end);
        if (end == at || errno || !isfinite(x) || x < 0 || (*end && *end != ',' && *end != '/')) {
            cli_usage_error(cli_cmd_name(cmd),
                            "option %s: '%s' is not a list of shares >= 0 (e.g. 3,1)", v->flag,
                            v->str);
            return false;
        }
        out[n++] = (float)x;
        at = *end ? end + 1 : end;
    }
    if (n == 0) {
        cli_usage_error(cli_cmd_name(cmd), "option %s: empty list", v->flag);
        return false;
    }
    return true;
}

int cli_split_take(cli_split_opts *o, cli_cmd cmd, const flag_val *v) {
    switch (v->id) {
    case FL_SPLIT_MODE:
        if (!strcmp(v->str, "none"))
            o->mode = LMC_SPLIT_NONE;
        else if (!strcmp(v->str, "layer"))
            o->mode = LMC_SPLIT_LAYER;
        else if (!strcmp(v->str, "row"))
            o->mode = LMC_SPLIT_ROW;
        else {
            cli_usage_error(cli_cmd_name(cmd), "option %s must be none, layer or row (got '%s')",
                            v->flag, v->str);
            return -1;
        }
        return 1;
    case FL_TENSOR_SPLIT:
        return parse_shares(cmd, v, o->tensor_split) ? 1 : -1;
    case FL_MAIN_GPU:
        o->main_gpu = v->i;
        return 1;
    case FL_TENSOR_PARALLEL:
        o->n_tensor_parallel = v->i;
        if (o->mode == LMC_SPLIT_NONE) o->mode = LMC_SPLIT_ROW; /* -tp N alone means -sm row */
        return 1;
    default:
        return 0;
    }
}

void cli_split_apply(const cli_split_opts *o, lmc_context_params *cp) {
    cp->split_mode = o->mode;
    cp->main_gpu = o->main_gpu;
    cp->n_tensor_parallel = o->n_tensor_parallel;
    memcpy(cp->tensor_split, o->tensor_split, sizeof cp->tensor_split);
}
