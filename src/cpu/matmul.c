/* matmul.c — cpu_matmul: weights (any supported type) times a batch of f32 activations, rows split
 * across threads. Where the CPU has AVX2 and the type a kernel (matmul_avx2.c), rows are dotted
 * straight from their blocks; otherwise a row is dequantized once (reference dequantizer) and dotted
 * with every token. int8 kernels replace these later behind the same function. */
#include "cpu.h"
#include "matmul_kernels.h"
#include "quant.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

static bool g_avx2;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void cpu_detect(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    g_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#endif
}

static bool cpu_has_avx2(void) {
    pthread_once(&g_once, cpu_detect);
    return g_avx2;
}

/* GCC/Clang vector extension: 8 floats, lowered to whatever SIMD the target has (two SSE registers on
 * baseline x86-64). Keeps the dot product vectorized without -ffast-math or intrinsics. */
typedef float v8f __attribute__((vector_size(32)));

static float dot_f32_generic(const float *a, const float *b, int64_t n) {
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

float cpu_dot_f32(const float *a, const float *b, int64_t n) {
    return cpu_has_avx2() ? cpu_dot_f32_avx2(a, b, n) : dot_f32_generic(a, b, n);
}

size_t cpu_matmul_scratch_bytes(int64_t ne0) { return (size_t)ne0 * sizeof(float); }

typedef struct {
    const gguf_tensor *W;
    const float *x;
    float *y;
    int n_tok;
    uint64_t row_bytes;
    tp_pool *pool;
    cpu_row_dot_fn kernel; /* NULL: dequantize the row, then dot */
} mm_job;

static void mm_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const mm_job *j = arg;
    const int64_t K = j->W->ne[0], N = j->W->ne[1];
    const uint8_t *base = j->W->data;
    float *row = tp_scratch(j->pool, tid); /* (K) the dequantized row */
    assert(tp_scratch_bytes(j->pool) >= cpu_matmul_scratch_bytes(K));
    if (j->kernel) {
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *w = base + (uint64_t)r * j->row_bytes;
            for (int t = 0; t < j->n_tok; t++) j->y[(int64_t)t * N + r] = j->kernel(w, j->x + (int64_t)t * K, K);
        }
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const float *w;
        if (j->W->type == LMC_TYPE_F32) {
            w = (const float *)(base + (uint64_t)r * j->row_bytes);
        } else {
            lmc_dequantize(j->W->type, base + (uint64_t)r * j->row_bytes, row, K);
            w = row;
        }
        for (int t = 0; t < j->n_tok; t++) j->y[(int64_t)t * N + r] = dot_f32_generic(w, j->x + (int64_t)t * K, K);
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
    mm_job j = {W, x, y, n_tok, lmc_row_size(W->type, W->ne[0]), pool,
                cpu_has_avx2() ? cpu_row_dot_avx2(W->type) : NULL};
    tp_parallel_for(pool, W->ne[1], mm_rows, &j);
}

void cpu_matmul_ref(const gguf_tensor *W, const float *x, float *y, int n_tok, tp_pool *pool) {
    mm_job j = {W, x, y, n_tok, lmc_row_size(W->type, W->ne[0]), pool, NULL};
    tp_parallel_for(pool, W->ne[1], mm_rows_ref, &j);
}
