/* cmd_quantize.c — 'lmc quantize IN.gguf OUT.gguf TYPE': llama-quantize's command line and output
 * (a line per tensor, the sizes before and after) over lmc_quantize. Ctrl-C stops cleanly: the
 * library removes its temporary file and no output file appears. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int g_cancel;

static void on_signal(int sig) {
    (void)sig;
    g_cancel = 1;
}

static void usage(FILE *to) {
    fprintf(to,
            "usage: lmc quantize [options] IN.gguf OUT.gguf TYPE [N_THREADS]\n\n"
            "Write a quantized copy of a GGUF model. Without an importance matrix the output is\n"
            "bit-identical to llama-quantize's: the same type per tensor (the _S/_M/_L mixes) and\n"
            "the same bytes.\n\n"
            "TYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M\n"
            "      Q5_K_S Q5_K_M Q6_K\n\n");
    flags_help(to, CMD_QUANTIZE);
}

static void shape_str(const lmc_quantize_tensor_info *t, char *buf, size_t n) {
    int k = snprintf(buf, n, "%5lld", (long long)t->ne[0]);
    for (int i = 1; i < 4 && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, ", %5lld", (long long)t->ne[i]);
}

typedef struct {
    bool quiet;
    double bytes_in, bytes_out;
} progress_state;

/* One line per tensor, in llama-quantize's format. */
static void on_tensor(const lmc_quantize_tensor_info *t, void *user) {
    progress_state *ps = user;
    ps->bytes_in += (double)t->bytes_in;
    ps->bytes_out += (double)t->bytes_out;
    if (ps->quiet) return;
    char shape[96];
    shape_str(t, shape, sizeof shape);
    printf("[%4d/%4d] %-36s - [%s], type = %6s, ", t->index, t->count, t->name, shape,
           lmc_tensor_type_name(t->type_in));
    if (t->type_in == t->type_out)
        printf("size = %8.3f MiB\n", t->bytes_in / 1048576.0);
    else
        printf("converting to %s .. size = %8.2f MiB -> %8.2f MiB (%.2fs)\n",
               lmc_tensor_type_name(t->type_out), t->bytes_in / 1048576.0, t->bytes_out / 1048576.0,
               t->seconds);
    fflush(stdout);
}

static bool parse_type_opt(const flag_val *v, int32_t *out) {
    if ((*out = lmc_type_from_name(v->str)) < 0) {
        cli_usage_error("quantize", "%s: unknown tensor type '%s'", v->flag, v->str);
        return false;
    }
    return true;
}

int cmd_quantize(int argc, char **argv) {
    lmc_quantize_params p = lmc_quantize_default_params();
    progress_state ps = {0};
    const char *pos[4];
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        flag_val v;
        int r = flag_next(CMD_QUANTIZE, argc, argv, &i, &v);
        if (r < 0) return CLI_USAGE;
        if (r == 0) {
            if (n_pos == 4) return cli_usage_error("quantize", "too many arguments");
            pos[n_pos++] = argv[i];
            continue;
        }
        switch (v.id) {
        case FL_HELP:
            usage(stdout);
            return CLI_OK;
        case FL_THREADS:
            p.n_threads = v.i;
            break;
        case FL_ALLOW_REQUANTIZE:
            p.allow_requantize = true;
            break;
        case FL_PURE:
            p.pure = true;
            break;
        case FL_FORCE:
            p.force = true;
            break;
        case FL_QUIET:
            ps.quiet = true;
            break;
        case FL_OUTPUT_TENSOR_TYPE:
            if (!parse_type_opt(&v, &p.output_tensor_type)) return CLI_USAGE;
            break;
        case FL_TOKEN_EMBEDDING_TYPE:
            if (!parse_type_opt(&v, &p.token_embedding_type)) return CLI_USAGE;
            break;
        default:
            return cli_usage_error("quantize", "option %s is not handled by quantize", v.flag);
        }
    }
    if (n_pos < 3) return cli_usage_error("quantize", "expected IN.gguf OUT.gguf TYPE");
    if ((p.ftype = lmc_ftype_from_name(pos[2])) < 0)
        return cli_usage_error("quantize", "unknown type '%s'", pos[2]);
    if (n_pos == 4) {
        char *end;
        long n = strtol(pos[3], &end, 10);
        if (*end || n < 1 || n > 4096)
            return cli_usage_error("quantize", "'%s' is not a thread count", pos[3]);
        p.n_threads = (int)n;
    }
    p.progress = on_tensor;
    p.progress_user = &ps;
    p.cancel = &g_cancel;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (!ps.quiet)
        printf("lmc quantize: %s -> %s as %s\n", pos[0], pos[1], lmc_ftype_name(p.ftype));
    lmc_status st = lmc_quantize(pos[0], pos[1], &p);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (st) return cli_fail(st, "quantize");
    if (!ps.quiet)
        printf("model size = %8.2f MiB\nquant size = %8.2f MiB\n", ps.bytes_in / 1048576.0,
               ps.bytes_out / 1048576.0);
    return CLI_OK;
}
