/* tool_dequant.c — a test helper (not a test): exposes lmc's type table and reference
 * dequantization to tests/test_dequant.py, which compares them with the `gguf` package. It reads
 * raw block bytes from stdin rather than a GGUF so it does not depend on the GGUF reader.
 *   lmc_dequant_tool TYPE N  < N weights of TYPE (raw bytes)  > N little-endian float32
 *   lmc_dequant_tool --types  one line per known id: "id name blck_size type_size supported" */
#include "quant.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
    fprintf(stderr, "usage: lmc_dequant_tool TYPE N < raw > floats   (TYPE: id or name)\n"
                    "       lmc_dequant_tool --types\n");
    return 2;
}

static int parse_type(const char *s, uint32_t *type) {
    for (uint32_t t = 0; t < 256; t++) {
        if (lmc_type_get(t) && strcmp(lmc_type_name(t), s) == 0) {
            *type = t;
            return 0;
        }
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || !*s || *end || v > UINT32_MAX) return -1;
    *type = (uint32_t)v;
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--types") == 0) {
        for (uint32_t t = 0; t < 256; t++) {
            const lmc_type_traits *tr = lmc_type_get(t);
            if (tr)
                printf("%u %s %d %d %d\n", t, tr->name, tr->blck_size, tr->type_size,
                       tr->supported ? 1 : 0);
        }
        return 0;
    }
    if (argc != 3) return usage();
    uint32_t type;
    if (parse_type(argv[1], &type) != 0) return usage();
    const lmc_type_traits *tr = lmc_type_get(type);
    if (!tr || !tr->supported) {
        fprintf(stderr, "lmc_dequant_tool: type %s is not supported\n", argv[1]);
        return 1;
    }
    char *end;
    errno = 0;
    long long n = strtoll(argv[2], &end, 10);
    if (errno || *end || n < 0 || n % tr->blck_size) {
        fprintf(stderr, "lmc_dequant_tool: N must be a multiple of %d\n", tr->blck_size);
        return 1;
    }
    uint64_t want = lmc_row_size(type, n);

    /* Read all of stdin, then check its size against N before allocating the output. */
    size_t cap = 1 << 16, len = 0;
    unsigned char *in = malloc(cap);
    int rc = 1;
    float *out = NULL;
    if (!in) goto done;
    for (;;) {
        if (len == cap) {
            unsigned char *p = realloc(in, cap * 2);
            if (!p) goto done;
            in = p;
            cap *= 2;
        }
        size_t got = fread(in + len, 1, cap - len, stdin);
        if (got == 0) break;
        len += got;
    }
    if (len != want) {
        fprintf(stderr, "lmc_dequant_tool: %lld weights of %s need %llu bytes, stdin has %zu\n", n,
                tr->name, (unsigned long long)want, len);
        goto done;
    }
    out = malloc(n ? (size_t)n * sizeof(float) : 1);
    if (!out) goto done;
    lmc_dequantize(type, in, out, n);
    if (fwrite(out, sizeof(float), (size_t)n, stdout) != (size_t)n) goto done;
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    free(in);
    free(out);
    return rc;
}
