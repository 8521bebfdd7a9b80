/* testutil.h — a tiny test harness: CHECK macros that count and report, skipping with exit 77, and
 * access to ../shared (LMC_SHARED) and the lmc binary (LMC_BIN). */
#ifndef LMC_TESTUTIL_H
#define LMC_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern int t_failed, t_passed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            t_passed++;                                                                            \
        } else {                                                                                   \
            t_failed++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Path under the shared folder (static buffer rotation of 8), or NULL when LMC_SHARED is absent. */
const char *t_shared(const char *rel);
/* Exits 77 with a message when the shared folder is missing. */
void t_require_shared(void);
/* Prints "N passed, N failed" and returns the exit code. */
int t_done(void);
struct lmc_model;
/* Loads the model at path; NULL after printing "<path>: not present, skipped" when the file is
 * absent, or after a failed CHECK when it does not load. */
struct lmc_model *t_load_model_or_skip(const char *path);
/* Reads a whole file; NULL when missing. */
char *t_read_file(const char *path, size_t *len);
/* NMSE = sum (a-b)^2 / sum b^2 (sum (a-b)^2 when b is all zero), in double */
double t_nmse(const float *a, const double *b, size_t n);
/* The same against a float reference. */
double t_nmse_f(const float *a, const float *b, size_t n);
/* Index of the largest of n values (the first of equals). */
int t_argmax(const float *a, size_t n);

/* Byte offsets of the f16 scale fields in one block of a quantized type (at most 2), so that random
 * blocks can be given finite scales; returns how many (0: none, or not a block type). */
int t_f16_fields(uint32_t type, int off[2]);

/* A growing byte buffer, for tests that build files (GGUFs) in memory. Start from {0}; free(p). */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} t_buf;
/* Appends n bytes (aborts when out of memory: a test cannot go on without its input). */
void t_buf_put(t_buf *b, const void *d, size_t n);
/* Appends the low nbytes (1..8) of v, little-endian. */
void t_buf_le(t_buf *b, uint64_t v, int nbytes);

#endif
