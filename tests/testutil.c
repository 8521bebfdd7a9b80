/* testutil.c — see testutil.h. */
#include "testutil.h"
#include "lmc.h"
#include "quant.h"

#include <string.h>
#include <sys/stat.h>

int t_failed, t_passed;

const char *t_shared(const char *rel) {
    static char bufs[8][4096];
    static int k;
    const char *root = getenv("LMC_SHARED");
    if (!root || !*root) root = "../shared";
    struct stat st;
    if (stat(root, &st) != 0) return NULL;
    char *b = bufs[k++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", root, rel);
    return b;
}

void t_require_shared(void) {
    const char *p = t_shared("models");
    struct stat st;
    if (!p || stat(p, &st) != 0) {
        printf("SKIP: the shared test data folder (LMC_SHARED, default ../shared) is absent\n");
        exit(77);
    }
}

int t_done(void) {
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}

char *t_read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[n] = 0;
        if (len) *len = (size_t)n;
    }
    return buf;
}

double t_nmse(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += b[i] * b[i];
    }
    return den > 0 ? num / den : num;
}

int t_f16_fields(uint32_t type, int off[2]) {
    switch (type) {
    case LMC_TYPE_Q4_0:
    case LMC_TYPE_Q5_0:
    case LMC_TYPE_Q8_0:
        off[0] = 0;
        return 1;
    case LMC_TYPE_Q4_1:
    case LMC_TYPE_Q5_1:
    case LMC_TYPE_Q4_K:
    case LMC_TYPE_Q5_K:
        off[0] = 0;
        off[1] = 2;
        return 2;
    case LMC_TYPE_Q2_K:
        off[0] = 80;
        off[1] = 82;
        return 2;
    case LMC_TYPE_Q3_K:
        off[0] = 108;
        return 1;
    case LMC_TYPE_Q6_K:
        off[0] = 208;
        return 1;
    default:
        return 0;
    }
}

double t_nmse_f(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? num / den : num;
}

int t_argmax(const float *a, size_t n) {
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (a[i] > a[b]) b = i;
    return (int)b;
}

void t_buf_put(t_buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

void t_buf_le(t_buf *b, uint64_t v, int nbytes) {
    uint8_t t[8];
    for (int i = 0; i < nbytes; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    t_buf_put(b, t, (size_t)nbytes);
}

struct lmc_model *t_load_model_or_skip(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("%s: not present, skipped\n", path);
        return NULL;
    }
    lmc_model *m = NULL;
    if (lmc_model_load(path, NULL, &m) != LMC_OK) {
        CHECK(0, "load %s: %s", path, lmc_last_error());
        return NULL;
    }
    return m;
}
