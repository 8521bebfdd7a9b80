/* cmd_inspect.c — 'lmc inspect MODEL.gguf': the header, every metadata key with its type and value,
 * the tensor table and the totals (parameters, bits per weight), then the architecture's
 * hyperparameters and block variant as lmc would run it. It reads the file through the
 * library's read-only GGUF API (lmc_gguf_*) only; it does not load the model, so it also works on
 * files lmc cannot run. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INSPECT_STR_MAX 80 /* bytes of a string value shown before it is cut */
#define INSPECT_ARR_STRS 3 /* string elements shown of a long array */
#define INSPECT_ARR_NUMS 8 /* numeric elements shown of a long array */

static void usage(FILE *to) {
    fprintf(
        to,
        "usage: lmc inspect [options] MODEL.gguf\n\n"
        "Print a GGUF file's header, metadata (key, type, value) and tensor table (name, type, "
        "shape,\n"
        "data offset, bytes), then the parameter count and bits per weight. Long strings (such as\n"
        "chat templates) and long arrays (such as vocabularies) are abbreviated.\n\n");
    flags_help(to, CMD_INSPECT);
}

/* Writes n bytes with C escapes for quotes, backslashes and control bytes (a hostile file cannot
 * send terminal escape sequences); UTF-8 passes through. */
static void print_escaped(const char *s, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", stdout);
            break;
        case '\\':
            fputs("\\\\", stdout);
            break;
        case '\n':
            fputs("\\n", stdout);
            break;
        case '\r':
            fputs("\\r", stdout);
            break;
        case '\t':
            fputs("\\t", stdout);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                printf("\\x%02x", c);
            else
                putchar(c);
        }
    }
}

/* Prints a quoted string: max (0 = no limit) bytes at most, cut on a UTF-8 character boundary and
 * followed by a note of the full length. */
static void print_str(const char *s, uint64_t len, uint64_t max) {
    uint64_t n = len;
    if (max && len > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--; /* don't split a character */
    }
    putchar('"');
    print_escaped(s, n);
    putchar('"');
    if (n < len) printf("... (%" PRIu64 " bytes)", len);
}

/* The shortest decimal that reads back as the same float (9.99999975e-06 prints as 1e-05). */
static void print_f32(double v) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if ((float)strtod(buf, NULL) == (float)v || prec == 9) break;
    }
    fputs(buf, stdout);
}

static bool is_signed(uint32_t t) {
    return t == LMC_GGUF_INT8 || t == LMC_GGUF_INT16 || t == LMC_GGUF_INT32 || t == LMC_GGUF_INT64;
}

static void print_scalar(const lmc_gguf_kv *kv) {
    if (kv->type == LMC_GGUF_BOOL)
        fputs(kv->u64 ? "true" : "false", stdout);
    else if (kv->type == LMC_GGUF_FLOAT32)
        print_f32(kv->f64);
    else if (kv->type == LMC_GGUF_FLOAT64)
        printf("%.17g", kv->f64);
    else if (is_signed(kv->type))
        printf("%" PRId64, kv->i64);
    else
        printf("%" PRIu64, kv->u64);
}

/* Entry i of g, an array: its element count and type, then its first elements (all with full). */
static void print_array(const lmc_gguf *g, uint64_t i, const lmc_gguf_kv *kv, bool full) {
    uint32_t et = kv->arr_type;
    uint64_t n = kv->arr_n;
    if (et == LMC_GGUF_ARRAY) { /* nested arrays: counted, not shown */
        printf("[%" PRIu64 " arrays, %" PRIu64 " bytes]", n, kv->arr_nbytes);
        return;
    }
    uint64_t show = full ? n : (et == LMC_GGUF_STRING ? INSPECT_ARR_STRS : INSPECT_ARR_NUMS);
    if (show > n) show = n;
    printf("[%" PRIu64 " %s%s", n, et == LMC_GGUF_STRING ? "string" : lmc_gguf_type_name(et),
           et == LMC_GGUF_STRING && n != 1 ? "s" : "");
    if (n > 0) fputs(":", stdout);
    for (uint64_t j = 0; j < show; j++) {
        fputs(j ? ", " : " ", stdout);
        if (et == LMC_GGUF_STRING) {
            uint64_t len;
            const char *s = lmc_gguf_arr_str(g, i, j, &len);
            print_str(s, len, full ? 0 : INSPECT_STR_MAX);
        } else if (et == LMC_GGUF_BOOL)
            fputs(lmc_gguf_arr_i64(g, i, j) ? "true" : "false", stdout);
        else if (et == LMC_GGUF_FLOAT32)
            print_f32(lmc_gguf_arr_f64(g, i, j));
        else if (et == LMC_GGUF_FLOAT64)
            printf("%.17g", lmc_gguf_arr_f64(g, i, j));
        else if (et == LMC_GGUF_UINT64) /* may exceed int64; double is enough for display */
            printf("%.0f", lmc_gguf_arr_f64(g, i, j));
        else
            printf("%" PRId64, lmc_gguf_arr_i64(g, i, j));
    }
    if (show < n) fputs(", ...", stdout);
    putchar(']');
}

static void print_type(const lmc_gguf_kv *kv, char *buf, size_t size) {
    if (kv->type == LMC_GGUF_ARRAY)
        snprintf(buf, size, "array[%s]", lmc_gguf_type_name(kv->arr_type));
    else
        snprintf(buf, size, "%s", lmc_gguf_type_name(kv->type));
}

/* 1234567 -> "1.23M" */
static void human_count(double v, char *buf, size_t size) {
    const char *unit[] = {"", "K", "M", "B", "T"};
    int u = 0;
    while (v >= 1000.0 && u < 4)
        v /= 1000.0, u++;
    snprintf(buf, size, u ? "%.2f%s" : "%.0f%s", v, unit[u]);
}

enum { INSPECT_TYPE_IDS = 256 }; /* ggml type ids are below this */

static void print_tensors(const lmc_gguf *g, uint64_t n_tensors, bool table) {
    uint64_t n_params = 0, n_bytes = 0, n_unsupported = 0;
    uint64_t per_type[INSPECT_TYPE_IDS] = {0};
    int name_w = 4;
    lmc_gguf_tensor t;
    for (uint64_t i = 0; i < n_tensors; i++) {
        lmc_gguf_get_tensor(g, i, &t);
        int len = t.name_len > 48 ? 48 : (int)t.name_len;
        if (len > name_w) name_w = len;
    }
    if (table && n_tensors > 0) {
        printf("\ntensors:\n  %5s  %-*s  %-8s  %-24s  %12s  %12s\n", "#", name_w, "name", "type",
               "shape", "offset", "bytes");
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        lmc_gguf_get_tensor(g, i, &t);
        uint64_t elems = 1;
        for (int d = 0; d < 4; d++)
            elems *= (uint64_t)t.ne[d];
        n_params += elems;
        n_bytes += t.nbytes;
        if (t.type < INSPECT_TYPE_IDS) per_type[t.type]++;
        if (!t.supported) n_unsupported++;
        if (!table) continue;
        char shape[96];
        int k = snprintf(shape, sizeof shape, "[");
        for (uint32_t d = 0; d < t.n_dims; d++)
            k +=
                snprintf(shape + k, sizeof shape - (size_t)k, "%s%" PRId64, d ? ", " : "", t.ne[d]);
        snprintf(shape + k, sizeof shape - (size_t)k, "]");
        char type[24];
        snprintf(type, sizeof type, "%s%s", t.type_name, t.supported ? "" : "*");
        uint64_t nlen = t.name_len > 64 ? 64 : t.name_len;
        printf("  %5" PRIu64 "  ", i);
        print_escaped(t.name, nlen);
        printf("%*s  %-8s  %-24s  %12" PRIu64 "  %12" PRIu64 "\n",
               nlen < (uint64_t)name_w ? name_w - (int)nlen : 0, "", type, shape, t.offset,
               t.nbytes);
    }
    if (table && n_unsupported) printf("  (* a type lmc cannot compute with)\n");

    printf("\ntotal: %" PRIu64 " tensors", n_tensors);
    if (n_tensors > 0) {
        char hp[32];
        human_count((double)n_params, hp, sizeof hp);
        printf(", %" PRIu64 " parameters (%s), %" PRIu64 " bytes (%.2f MiB), %.3f bits per weight",
               n_params, hp, n_bytes, (double)n_bytes / (1024.0 * 1024.0),
               n_params ? (double)n_bytes * 8.0 / (double)n_params : 0.0);
    }
    putchar('\n');
    if (n_tensors > 0) {
        printf("types:");
        for (int ty = 0; ty < INSPECT_TYPE_IDS; ty++)
            if (per_type[ty])
                printf(" %s x %" PRIu64, lmc_tensor_type_name((uint32_t)ty), per_type[ty]);
        putchar('\n');
    }
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    bool full = false, tensors = true;
    for (int i = 1; i < argc; i++) {
        flag_val v;
        int r = flag_next(CMD_INSPECT, argc, argv, &i, &v);
        if (r < 0) return CLI_USAGE;
        if (r == 0) {
            if (path)
                return cli_usage_error("inspect", "one model file expected, got '%s' and '%s'",
                                       path, argv[i]);
            path = argv[i];
        } else if (v.id == FL_HELP) {
            usage(stdout);
            return CLI_OK;
        } else if (v.id == FL_FULL) {
            full = true;
        } else if (v.id == FL_NO_TENSORS) {
            tensors = false;
        }
    }
    if (!path) return cli_usage_error("inspect", "no model file given");

    lmc_gguf *g = NULL;
    lmc_status st = lmc_gguf_open(path, &g);
    if (st) return cli_fail(st, "cannot inspect");

    lmc_gguf_header h;
    lmc_gguf_get_header(g, &h);
    printf("file:        %s\n", h.path);
    printf("version:     %u\n", h.version);
    printf("alignment:   %" PRIu64 "\n", h.alignment);
    printf("n_kv:        %" PRIu64 "\n", h.n_kv);
    printf("n_tensors:   %" PRIu64 "\n", h.n_tensors);
    printf("data offset: %" PRIu64 "\n", h.data_offset);
    printf("file size:   %" PRIu64 "\n", h.size);

    printf("\nmetadata:\n");
    int key_w = 8;
    lmc_gguf_kv kv;
    for (uint64_t i = 0; i < h.n_kv; i++) {
        lmc_gguf_get_kv(g, i, &kv);
        if (kv.key_len > (uint64_t)key_w) key_w = kv.key_len > 48 ? 48 : (int)kv.key_len;
    }
    for (uint64_t i = 0; i < h.n_kv; i++) {
        lmc_gguf_get_kv(g, i, &kv);
        char type[32];
        print_type(&kv, type, sizeof type);
        uint64_t klen = kv.key_len > 200 ? 200 : kv.key_len;
        fputs("  ", stdout);
        print_escaped(kv.key, klen);
        printf("%*s  %-15s = ", klen < (uint64_t)key_w ? key_w - (int)klen : 0, "", type);
        if (kv.type == LMC_GGUF_STRING)
            print_str(kv.str, kv.str_len, full ? 0 : INSPECT_STR_MAX);
        else if (kv.type == LMC_GGUF_ARRAY)
            print_array(g, i, &kv, full);
        else
            print_scalar(&kv);
        putchar('\n');
    }
    print_tensors(g, h.n_tensors, tensors);
    char arch[768];
    if (lmc_gguf_arch_summary(g, arch, sizeof arch) == LMC_OK)
        printf("architecture: %s\n", arch);
    else if (h.n_tensors > 0)
        printf("architecture: lmc cannot run this file: %s\n", lmc_last_error());
    lmc_gguf_close(g);
    return CLI_OK;
}
