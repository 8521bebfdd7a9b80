/* matmul.c — cpu_matmul: weights (any supported type) times a batch of f32 activations, rows split
 * across threads. Two paths: the tiled kernels of the table kern_best() chose (kernels.h, env
 * LMC_KERNELS), which convert the activations once per call (to 8-bit blocks for integer dot
 * products) and reuse each weight block across tokens; and, for the types that table has no kernel
 * for (every type under LMC_KERNELS=ref), the exact path: a row dequantized once (the reference
 * dequantizer's values, kern_dequantize_row) and dotted with every token by the portable dot. */
#include "cpu.h"
#include "kernels.h"
#include "quant.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

float cpu_dot_f32(const float *a, const float *b, int64_t n) {
    return kern_best()->dot_f32(a, b, n);
}

void cpu_axpy_f32(float *y, float a, const float *x, int64_t n) {
    kern_best()->axpy_f32(y, a, x, n);
}

size_t cpu_matmul_scratch_bytes(int64_t ne0, int32_t n_batch) {
    /* a dequantized row, or (thread 0) the batch's activations in the widest 8-bit format */
    size_t row = (size_t)ne0 * sizeof(float), xq = 0;
    for (int f = KX_Q8_0; f <= KX_Q8_K; f++) {
        size_t b = kern_x_row_bytes((kern_xfmt)f, ne0 - ne0 % 256 + 256) *
                   (size_t)(n_batch > 0 ? n_batch : 1);
        if (b > xq) xq = b;
    }
    return row > xq ? row : xq;
}

typedef struct {
    const gguf_tensor *W;
    const float *x;
    float *y;
    int n_tok;
    uint64_t row_bytes;
    tp_pool *pool;
} mm_job;

/* The exact path: each row dequantized once (F32 rows read in place), dotted with each token. */
static void mm_rows_exact(void *arg, int64_t r0, int64_t r1, int tid) {
    const mm_job *j = arg;
    const int64_t K = j->W->ne[0], N = j->W->ne[1];
    const uint8_t *base = j->W->data;
    float *row = tp_scratch(j->pool, tid); /* (K) the dequantized row */
    assert(tp_scratch_bytes(j->pool) >= (size_t)K * sizeof(float));
    const kern_xdot_fn xdot =
        j->n_tok < 4 ? kern_exact_dot(j->W->type) : NULL; /* one pass, same bits */
    if (xdot) {
        for (int64_t r = r0; r < r1; r++)
            for (int t = 0; t < j->n_tok; t++)
                j->y[(int64_t)t * N + r] =
                    xdot(base + (uint64_t)r * j->row_bytes, j->x + (int64_t)t * K, K);
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const float *w;
        if (j->W->type == LMC_TYPE_F32) {
            w = (const float *)(base + (uint64_t)r * j->row_bytes);
        } else {
            kern_dequantize_row(j->W->type, base + (uint64_t)r * j->row_bytes, row, K);
            w = row;
        }
        for (int t = 0; t < j->n_tok; t++)
            j->y[(int64_t)t * N + r] = kern_dot_f32_portable(w, j->x + (int64_t)t * K, K);
    }
}

static void mm_rows_ref(void *arg, int64_t r0, int64_t r1, int tid) {
    (void)tid;
    const mm_job *j = arg;
    const int64_t K = j->W->ne[0], N = j->W->ne[1];
    const uint8_t *base = j->W->data;
    for (int64_t r = r0; r < r1; r++)
        for (int t = 0; t < j->n_tok; t++)
            j->y[(int64_t)t * N + r] = lmc_vec_dot_ref(
                j->W->type, base + (uint64_t)r * j->row_bytes, j->x + (int64_t)t * K, K);
}

/* --- the tiled kernels --------------------------------------------------------------------------
 */

enum { MM_ROWS_PER_ITEM = 4 }; /* rows per parallel item: a whole register tile */
enum { MM_MAX_MULTI = 4 };

typedef struct {
    int n_w;
    const gguf_tensor *W[MM_MAX_MULTI];
    float *y[MM_MAX_MULTI];
    kern_gemm_fn gemm[MM_MAX_MULTI];
    int64_t item_end[MM_MAX_MULTI]; /* items of W[0..i] */
    const uint8_t *xq;              /* (n_tok, x_stride) the activations as the kernels read them */
    size_t x_stride;
    int n_tok;
} mmk_job;

static void mmk_items(void *arg, int64_t i0, int64_t i1, int tid) {
    (void)tid;
    const mmk_job *j = arg;
    int64_t first = 0;
    for (int w = 0; w < j->n_w; first = j->item_end[w], w++) {
        const int64_t b = i0 > first ? i0 : first, e = i1 < j->item_end[w] ? i1 : j->item_end[w];
        if (b >= e) continue;
        const gguf_tensor *W = j->W[w];
        const int64_t N = W->ne[1], r0 = (b - first) * MM_ROWS_PER_ITEM;
        const int64_t r1 = (e - first) * MM_ROWS_PER_ITEM < N ? (e - first) * MM_ROWS_PER_ITEM : N;
        const uint64_t rb = lmc_row_size(W->type, W->ne[0]);
        j->gemm[w](W->ne[0], (const uint8_t *)W->data + (uint64_t)r0 * rb, rb, (int)(r1 - r0),
                   j->xq, j->x_stride, j->n_tok, j->y[w] + r0, N);
    }
}

typedef struct {
    kern_xfmt f;
    const float *x;
    uint8_t *xq;
    int64_t K;
    size_t x_stride;
} mmq_job;

static void mmq_rows(void *arg, int64_t t0, int64_t t1, int tid) {
    (void)tid;
    const mmq_job *j = arg;
    for (int64_t t = t0; t < t1; t++)
        kern_quantize_x(j->f, j->x + t * j->K, j->xq + (size_t)t * j->x_stride, j->K);
}

/* y[i] = x W[i]^T for n_w weights sharing the input width, through the tiled kernels: the
 * activations are converted once, then one parallel pass covers the rows of every W. Returns false
 * (nothing done) when the kernels do not cover these weights or the scratch is too small. */
static bool mm_kernels(const kern_table *kt, const gguf_tensor *const *W, float *const *y, int n_w,
                       const float *x, int n_tok, tp_pool *pool) {
    if (n_w < 1 || n_w > MM_MAX_MULTI) return false;
    const int64_t K = W[0]->ne[0];
    const kern_xfmt f = kt->xfmt[W[0]->type];
    mmk_job j = {.n_w = n_w, .n_tok = n_tok};
    int64_t items = 0;
    for (int i = 0; i < n_w; i++) {
        if (W[i]->type >= LMC_TYPE_COUNT || !kt->gemm[W[i]->type] || kt->xfmt[W[i]->type] != f ||
            W[i]->ne[0] != K)
            return false;
        j.W[i] = W[i];
        j.y[i] = y[i];
        j.gemm[i] = kt->gemm[W[i]->type];
        items += (W[i]->ne[1] + MM_ROWS_PER_ITEM - 1) / MM_ROWS_PER_ITEM;
        j.item_end[i] = items;
    }
    if (f == KX_F32) {
        j.xq = (const uint8_t *)x;
        j.x_stride = (size_t)K * sizeof(float);
    } else {
        j.x_stride = kern_x_row_bytes(f, K);
        if (!j.x_stride || j.x_stride * (size_t)n_tok > tp_scratch_bytes(pool)) return false;
        uint8_t *xq = tp_scratch(pool, 0); /* thread 0's scratch, read by all during this call */
        mmq_job q = {f, x, xq, K, j.x_stride};
        if (n_tok >= 4)
            tp_parallel_for(pool, n_tok, mmq_rows, &q);
        else
            mmq_rows(&q, 0, n_tok, 0);
        j.xq = xq;
    }
    tp_parallel_for(pool, items, mmk_items, &j);
    return true;
}

void cpu_matmul_multi(const gguf_tensor *const *W, float *const *y, int n_w, const float *x,
                      int n_tok, tp_pool *pool) {
    if (mm_kernels(kern_best(), W, y, n_w, x, n_tok, pool)) return;
    for (int i = 0; i < n_w; i++)
        cpu_matmul(W[i], x, y[i], n_tok, pool);
}

void cpu_matmul_with(const kern_table *kt, const gguf_tensor *W, const float *x, float *y,
                     int n_tok, tp_pool *pool) {
    if (mm_kernels(kt, &W, &y, 1, x, n_tok, pool)) return;
    mm_job j = {W, x, y, n_tok, lmc_row_size(W->type, W->ne[0]), pool};
    tp_parallel_for(pool, W->ne[1], mm_rows_exact, &j);
}

void cpu_matmul(const gguf_tensor *W, const float *x, float *y, int n_tok, tp_pool *pool) {
    cpu_matmul_with(kern_best(), W, x, y, n_tok, pool);
}

void cpu_matmul_ref(const gguf_tensor *W, const float *x, float *y, int n_tok, tp_pool *pool) {
    mm_job j = {W, x, y, n_tok, lmc_row_size(W->type, W->ne[0]), pool};
    tp_parallel_for(pool, W->ne[1], mm_rows_ref, &j);
}
