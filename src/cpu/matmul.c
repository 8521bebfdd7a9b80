/* matmul.c — cpu_matmul: weights (any supported type) times a batch of f32 activations. For now the
 * weights are dequantized row by row with the reference dequantizer and dotted in f32; int8/SIMD
 * kernels replace the inner loop later behind the same function. Rows are split across threads. */
#include "cpu.h"
#include "quant.h"

#include <string.h>

/* GCC/Clang vector extension: 8 floats, lowered to whatever SIMD the target has (two SSE registers on
 * baseline x86-64). Keeps the dot product vectorized without -ffast-math or intrinsics. */
typedef float v8f __attribute__((vector_size(32)));

float cpu_dot_f32(const float *a, const float *b, int64_t n) {
    v8f acc0 = {0}, acc1 = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f a0, a1, b0, b1;
        memcpy(&a0, a + i, sizeof a0);
        memcpy(&a1, a + i + 8, sizeof a1);
        memcpy(&b0, b + i, sizeof b0);
        memcpy(&b1, b + i + 8, sizeof b1);
        acc0 += a0 * b0;
        acc1 += a1 * b1;
    }
    acc0 += acc1;
    float s = ((acc0[0] + acc0[4]) + (acc0[1] + acc0[5])) + ((acc0[2] + acc0[6]) + (acc0[3] + acc0[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

size_t cpu_matmul_scratch_bytes(int64_t ne0) { return (size_t)ne0 * sizeof(float); }

typedef struct {
    const gguf_tensor *W;
    const float *x;
    float *y;
    int n_tok;
    uint64_t row_bytes;
    tp_pool *pool;
} mm_job;

static void mm_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const mm_job *j = arg;
    const int64_t K = j->W->ne[0], N = j->W->ne[1];
    const uint8_t *base = j->W->data;
    float *row = tp_scratch(j->pool, tid); /* (K) the dequantized row */
    for (int64_t r = r0; r < r1; r++) {
        const float *w;
        if (j->W->type == LMC_TYPE_F32) {
            w = (const float *)(base + (uint64_t)r * j->row_bytes);
        } else {
            lmc_dequantize(j->W->type, base + (uint64_t)r * j->row_bytes, row, K);
            w = row;
        }
        for (int t = 0; t < j->n_tok; t++) j->y[(int64_t)t * N + r] = cpu_dot_f32(w, j->x + (int64_t)t * K, K);
    }
}

static void mm_rows_ref(void *arg, int64_t r0, int64_t r1, int tid) {
    (void)tid;
    const mm_job *j = arg;
    const int64_t K = j->W->ne[0], N = j->W->ne[1];
    const uint8_t *base = j->W->data;
    for (int64_t r = r0; r < r1; r++)
        for (int t = 0; t < j->n_tok; t++)
            j->y[(int64_t)t * N + r] =
                lmc_vec_dot_ref(j->W->type, base + (uint64_t)r * j->row_bytes, j->x + (int64_t)t * K, K);
}

void cpu_matmul(const gguf_tensor *W, const float *x, float *y, int n_tok, tp_pool *pool) {
    mm_job j = {W, x, y, n_tok, lmc_row_size(W->type, W->ne[0]), pool};
    tp_parallel_for(pool, W->ne[1], mm_rows, &j);
}

void cpu_matmul_ref(const gguf_tensor *W, const float *x, float *y, int n_tok, tp_pool *pool) {
    mm_job j = {W, x, y, n_tok, lmc_row_size(W->type, W->ne[0]), pool};
    tp_parallel_for(pool, W->ne[1], mm_rows_ref, &j);
}
