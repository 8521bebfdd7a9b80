// cuda_ops.cu — host side shared by the backend: error mapping, device queries, weight upload into
// the device layout, and the op-level entry points of cuda_backend.h that the parity tests call
// (each copies host arrays in, runs the same kernel path the model uses, copies the result out).
#include "cuda_backend.h"
#include "cuda_internal.h"
#include <cublas_v2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

extern "C" {
#include "quant.h"
#include "util.h"
}

lmc_status cuda_check(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return LMC_OK;
    return lmc_err(LMC_ERR_BACKEND, "CUDA: %s: %s", what, cudaGetErrorString(e));
}

lmc_status cuda_kv_copy_out(float *h, const void *d, size_t n, bool f16) {
    if (!f16) return cuda_check(cudaMemcpy(h, d, n * 4, cudaMemcpyDeviceToHost), "copy out");
    std::vector<uint16_t> b(n);
    lmc_status st = cuda_check(cudaMemcpy(b.data(), d, n * 2, cudaMemcpyDeviceToHost), "copy out");
    for (size_t i = 0; st == LMC_OK && i < n; i++)
        h[i] = lmc_f16_to_f32(b[i]);
    return st;
}

int lmc_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

void lmc_cuda_device_info(char *name, int name_size, uint64_t *free_bytes, uint64_t *total_bytes) {
    if (name && name_size > 0) name[0] = 0;
    if (free_bytes) *free_bytes = 0;
    if (total_bytes) *total_bytes = 0;
    if (lmc_cuda_device_count() <= 0) return;
    cudaDeviceProp p;
    if (name && cudaGetDeviceProperties(&p, 0) == cudaSuccess)
        snprintf(name, name_size, "%s", p.name);
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) == cudaSuccess) {
        if (free_bytes) *free_bytes = f;
        if (total_bytes) *total_bytes = t;
    }
}

int lmc_cuda_type_supported(uint32_t type) {
    switch (type) {
    case LMC_TYPE_F32:
    case LMC_TYPE_F16:
    case LMC_TYPE_BF16:
    case LMC_TYPE_Q4_0:
    case LMC_TYPE_Q4_1:
    case LMC_TYPE_Q5_0:
    case LMC_TYPE_Q5_1:
    case LMC_TYPE_Q8_0:
    case LMC_TYPE_Q2_K:
    case LMC_TYPE_Q3_K:
    case LMC_TYPE_Q4_K:
    case LMC_TYPE_Q5_K:
    case LMC_TYPE_Q6_K:
        return 1;
    default:
        return 0;
    }
}

// ---- weight layouts
// ------------------------------------------------------------------------------

bool cuda_split_layout(uint32_t type, int *d_off, int *qbytes) {
    switch (type) {
    case LMC_TYPE_Q4_0:
        *d_off = 0;
        *qbytes = 16;
        return true;
    case LMC_TYPE_Q8_0:
        *d_off = 0;
        *qbytes = 32;
        return true;
    case LMC_TYPE_Q6_K:
        *d_off = 208;
        *qbytes = 208;
        return true;
    default:
        return false;
    }
}

template <int DOFF, int QB, int TS>
static void repack_split(const uint8_t *const *src, int64_t n_rows, int64_t row0, int64_t nb,
                         uint8_t *q, uint8_t *d) {
    for (int64_t r = 0; r < n_rows; r++) {
        const uint8_t *s = src[r];
        uint8_t *qo = q + (uint64_t)(row0 + r) * nb * QB;
        uint8_t *dout = d + (uint64_t)(row0 + r) * nb * 2;
        for (int64_t b = 0; b < nb; b++, s += TS) {
            memcpy(dout + 2 * b, s + DOFF, 2);
            memcpy(qo + b * QB, s + (DOFF == 0 ? 2 : 0), QB);
        }
    }
}

void cuda_repack_rows(uint32_t type, int64_t cols, const uint8_t *const *src, int64_t n_rows,
                      int64_t row0, uint8_t *q, uint8_t *d) {
    const lmc_type_traits *tr = lmc_type_get(type);
    const int64_t nb = cols / tr->blck_size;
    const uint64_t row_bytes = (uint64_t)nb * tr->type_size;
    switch (type) {
    case LMC_TYPE_Q4_0:
        repack_split<0, 16, 18>(src, n_rows, row0, nb, q, d);
        return;
    case LMC_TYPE_Q8_0:
        repack_split<0, 32, 34>(src, n_rows, row0, nb, q, d);
        return;
    case LMC_TYPE_Q6_K:
        repack_split<208, 208, 210>(src, n_rows, row0, nb, q, d);
        return;
    default:
        for (int64_t r = 0; r < n_rows; r++)
            memcpy(q + (uint64_t)(row0 + r) * row_bytes, src[r], row_bytes);
    }
}

lmc_status cuda_weight_shape(cuda_weight *w, uint32_t type, int64_t rows, int64_t cols,
                             const char *name) {
    memset(w, 0, sizeof *w);
    const lmc_type_traits *tr = lmc_type_get(type);
    if (!tr || !lmc_cuda_type_supported(type))
        return lmc_err(LMC_ERR_UNSUPPORTED, "CUDA: %s: tensor type %s is not supported on the GPU",
                       name, lmc_type_name(type));
    const bool flt = type == LMC_TYPE_F32 || type == LMC_TYPE_F16 || type == LMC_TYPE_BF16;
    const int unit = type == LMC_TYPE_Q4_K ? 64 : type == LMC_TYPE_Q6_K ? 128 : 32;
    if (rows <= 0 || cols <= 0 || cols % tr->blck_size != 0 || (!flt && cols % unit != 0))
        return lmc_err(LMC_ERR_UNSUPPORTED, "CUDA: %s: %lld columns of %s are not a multiple of %d",
                       name, (long long)cols, tr->name, flt ? tr->blck_size : unit);
    w->type = type;
    w->rows = rows;
    w->cols = cols;
    w->bytes = lmc_row_size(type, cols) * (uint64_t)rows;
    return LMC_OK;
}

lmc_status cuda_weight_alloc(cuda_weight *w) {
    int d_off, qbytes;
    const bool split = cuda_split_layout(w->type, &d_off, &qbytes);
    const uint64_t nb =
        split ? (uint64_t)(w->cols / lmc_type_get(w->type)->blck_size) * w->rows : 0;
    lmc_status st =
        cuda_check(cudaMalloc((void **)&w->q, split ? nb * qbytes : w->bytes), "weight allocation");
    if (st == LMC_OK && split)
        st = cuda_check(cudaMalloc((void **)&w->d, nb * 2), "weight allocation");
    return st;
}

void cuda_weight_release(cuda_weight *w) {
    cudaFree(w->q);
    cudaFree(w->d);
    w->q = NULL;
    w->d = NULL;
}

/* Host bytes one row takes in the staging buffers (q part, d part). */
void cuda_weight_row_bytes(const cuda_weight *w, uint64_t *qb, uint64_t *db) {
    int d_off, qbytes;
    const int64_t nb = w->cols / lmc_type_get(w->type)->blck_size;
    if (cuda_split_layout(w->type, &d_off, &qbytes)) {
        *qb = (uint64_t)nb * qbytes;
        *db = (uint64_t)nb * 2;
    } else {
        *qb = lmc_row_size(w->type, w->cols);
        *db = 0;
    }
}

/* Async copy of rows [row0, row0+n) already repacked at the start of stage_q/stage_d. */
lmc_status cuda_weight_copy_rows(cuda_weight *w, const uint8_t *stage_q, const uint8_t *stage_d,
                                 int64_t row0, int64_t n, cudaStream_t s) {
    uint64_t qb, db;
    cuda_weight_row_bytes(w, &qb, &db);
    lmc_status st =
        cuda_check(cudaMemcpyAsync(w->q + row0 * qb, stage_q, n * qb, cudaMemcpyHostToDevice, s),
                   "weight upload");
    if (st == LMC_OK && db)
        st = cuda_check(cudaMemcpyAsync((uint8_t *)w->d + row0 * db, stage_d, n * db,
                                        cudaMemcpyHostToDevice, s),
                        "weight upload");
    return st;
}

/* Synchronous upload of a whole GGUF matrix (tests). */
static lmc_status upload_matrix(cuda_weight *w, uint32_t type, const void *data, int64_t rows,
                                int64_t cols) {
    lmc_status st = cuda_weight_shape(w, type, rows, cols, "test matrix");
    if (st != LMC_OK) return st;
    uint64_t qb, db;
    cuda_weight_row_bytes(w, &qb, &db);
    uint8_t *hq = (uint8_t *)malloc(qb * rows), *hd = (uint8_t *)malloc(db * rows + 1);
    const uint8_t **src = (const uint8_t **)malloc(sizeof(uint8_t *) * rows);
    if (!hq || !hd || !src) {
        st = lmc_err(LMC_ERR_OOM, "CUDA: host staging");
        goto done;
    }
    for (int64_t r = 0; r < rows; r++)
        src[r] = (const uint8_t *)data + r * lmc_row_size(type, cols);
    cuda_repack_rows(type, cols, src, rows, 0, hq, hd);
    st = cuda_weight_alloc(w);
    if (st == LMC_OK) st = cuda_weight_copy_rows(w, hq, hd, 0, rows, 0);
    if (st == LMC_OK) st = cuda_check(cudaDeviceSynchronize(), "weight upload");
done:
    free(hq);
    free(hd);
    free(src);
    if (st != LMC_OK) cuda_weight_release(w);
    return st;
}

// ---- op-level wrappers -------------------------------------------------------------------------

static lmc_status dev_copy_in(void **d, const void *h, size_t n) {
    lmc_status st = cuda_check(cudaMalloc(d, n ? n : 4), "allocation");
    if (st == LMC_OK && h) st = cuda_check(cudaMemcpy(*d, h, n, cudaMemcpyHostToDevice), "copy in");
    return st;
}

// y = W x through the decode path's mat-vec with epilogue epi / e: on f32 activations, or (q8) on x
// quantized on the device into 8-bit blocks first. y has rows values (rows / 2 for EPI_SWIGLU).
static lmc_status op_matvec(uint32_t type, const void *w, int64_t rows, int64_t cols,
                            const float *x, float *y, bool q8, int epi = EPI_STORE,
                            const cuda_epi &e = cuda_epi()) {
    lmc_status st;
    cuda_weight dw = {};
    float *dx = NULL, *dy = NULL;
    int8_t *dq = NULL;
    float2 *dds = NULL;
    const int64_t n_out = epi == EPI_SWIGLU ? rows / 2 : rows;
    const char *what = q8 ? "matvec_q8" : "matvec";
    TRY(upload_matrix(&dw, type, w, rows, cols));
    if (q8 && !cuda_q8_ok(dw)) {
        st = lmc_err(LMC_ERR_INVALID_ARG,
                     "matvec_q8: type %s with %lld columns has no 8-bit activation path",
                     lmc_type_name(type), (long long)cols);
        goto done;
    }
    TRY(dev_copy_in((void **)&dx, x, cols * 4));
    TRY(dev_copy_in((void **)&dy, NULL, rows * 4));
    if (q8) {
        TRY(dev_copy_in((void **)&dq, NULL, cols));
        TRY(dev_copy_in((void **)&dds, NULL, cols / 32 * 8));
        TRYC(cuda_quant_q8(dx, cols, dq, dds, 0), "quant_q8");
        TRYC(cuda_matvec_q8(dw, dq, dds, dy, epi, e, 0), what);
    } else {
        TRYC(cuda_matvec_epi(dw, dx, dy, epi, e, 0), what);
    }
    TRYC(cudaMemcpy(y, dy, n_out * 4, cudaMemcpyDeviceToHost), what);
done:
    cuda_weight_release(&dw);
    cudaFree(dx);
    cudaFree(dy);
    cudaFree(dq);
    cudaFree(dds);
    return st;
}

extern "C" lmc_status lmc_cuda_op_matvec(uint32_t type, const void *w, int64_t rows, int64_t cols,
                                         const float *x, float *y) {
    return op_matvec(type, w, rows, cols, x, y, false);
}

extern "C" lmc_status lmc_cuda_op_matvec_epi(uint32_t type, const void *w, int64_t rows,
                                             int64_t cols, const float *x, int q8, int gated,
                                             float softcap, float *y) {
    cuda_epi e = {};
    e.gelu = gated == 2;
    e.softcap = gated ? 0.f : softcap;
    if (gated && rows % 2)
        return lmc_err(LMC_ERR_INVALID_ARG, "matvec_epi: %lld gate/up rows are not pairs",
                       (long long)rows);
    return op_matvec(type, w, rows, cols, x, y, q8 != 0, gated ? EPI_SWIGLU : EPI_STORE, e);
}

extern "C" lmc_status lmc_cuda_op_matvec_batch(uint32_t type, const void *w, int64_t rows,
                                               int64_t cols, const float *x, int32_t nb, int act_q8,
                                               float *y) {
    lmc_status st;
    cuda_weight dw = {};
    float *dx = NULL, *dy = NULL;
    int8_t *dq = NULL;
    float2 *dds = NULL;
    TRY(upload_matrix(&dw, type, w, rows, cols));
    TRY(dev_copy_in((void **)&dx, x, (size_t)nb * cols * 4));
    TRY(dev_copy_in((void **)&dy, NULL, (size_t)nb * rows * 4));
    if (act_q8) {
        TRY(dev_copy_in((void **)&dq, NULL, (size_t)nb * cols));
        TRY(dev_copy_in((void **)&dds, NULL, (size_t)nb * cols / 32 * 8 + 8));
        if (cols % 32 == 0) TRYC(cuda_quant_q8(dx, (int64_t)nb * cols, dq, dds, 0), "quant_q8");
    }
    {
        const cudaError_t e = act_q8 && cols % 32 == 0
                                  ? cuda_matvec_batch_q8(dw, dq, dds, nb, dy, rows, false, 0)
                              : act_q8 ? cudaErrorNotSupported
                                       : cuda_matvec_batch(dw, dx, nb, dy, rows, false, 0);
        if (e == cudaErrorNotSupported) {
            st = lmc_err(LMC_ERR_UNSUPPORTED, "matvec_batch: no batched kernel for %s x %d rows",
                         lmc_type_name(type), nb);
            goto done;
        }
        TRYC(e, "matvec_batch");
    }
    TRYC(cudaMemcpy(y, dy, (size_t)nb * rows * 4, cudaMemcpyDeviceToHost), "matvec_batch");
done:
    cuda_weight_release(&dw);
    cudaFree(dx);
    cudaFree(dy);
    cudaFree(dq);
    cudaFree(dds);
    return st;
}

extern "C" lmc_status lmc_cuda_op_matmul(uint32_t type, const void *w, int64_t rows, int64_t cols,
                                         const float *x, int32_t n_tok, float *y) {
    lmc_status st;
    cuda_weight dw = {};
    float *dx = NULL, *dy = NULL;
    __half *x16 = NULL, *w16 = NULL;
    cublasHandle_t h = NULL;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS)
        return lmc_err(LMC_ERR_BACKEND, "cuBLAS: cannot create a handle");
    TRY(upload_matrix(&dw, type, w, rows, cols));
    TRY(dev_copy_in((void **)&dx, x, (size_t)n_tok * cols * 4));
    TRY(dev_copy_in((void **)&dy, NULL, (size_t)n_tok * rows * 4));
    TRY(dev_copy_in((void **)&x16, NULL, (size_t)n_tok * cols * 2));
    TRY(dev_copy_in((void **)&w16, NULL, (size_t)rows * cols * 2));
    TRYC(cuda_f32_to_f16(dx, (int64_t)n_tok * cols, x16, 0), "convert");
    TRY(cuda_gemm(h, dw, x16, n_tok, dy, (int)rows, 0.f, w16, 0));
    TRYC(cudaMemcpy(y, dy, (size_t)n_tok * rows * 4, cudaMemcpyDeviceToHost), "matmul");
done:
    cublasDestroy(h);
    cuda_weight_release(&dw);
    cudaFree(dx);
    cudaFree(dy);
    cudaFree(x16);
    cudaFree(w16);
    return st;
}

extern "C" lmc_status lmc_cuda_op_matmul_mma(uint32_t type, const void *w, int64_t rows,
                                             int64_t cols, const float *x, int32_t n_tok,
                                             int32_t ksplit, int add, float *y) {
    lmc_status st;
    cuda_weight dw = {};
    float *dx = NULL, *dy = NULL, *part = NULL;
    __half *x16 = NULL;
    const int64_t cap = (int64_t)16 * n_tok * rows;
    TRY(upload_matrix(&dw, type, w, rows, cols));
    TRY(dev_copy_in((void **)&dx, x, (size_t)n_tok * cols * 4));
    TRY(dev_copy_in((void **)&dy, add ? y : NULL, (size_t)n_tok * rows * 4));
    TRY(dev_copy_in((void **)&x16, NULL, (size_t)n_tok * cols * 2));
    TRY(dev_copy_in((void **)&part, NULL, (size_t)cap * 4));
    TRYC(cuda_f32_to_f16(dx, (int64_t)n_tok * cols, x16, 0), "convert");
    {
        const cudaError_t e =
            cuda_matmul_mma(dw, x16, n_tok, dy, rows, add != 0, part, cap, ksplit, 0);
        if (e == cudaErrorNotSupported) {
            st = lmc_err(LMC_ERR_UNSUPPORTED,
                         "matmul_mma: no tensor-core kernel for %s %lldx%lld x%d",
                         lmc_type_name(type), (long long)rows, (long long)cols, n_tok);
            goto done;
        }
        TRYC(e, "matmul_mma");
    }
    TRYC(cudaMemcpy(y, dy, (size_t)n_tok * rows * 4, cudaMemcpyDeviceToHost), "matmul_mma");
done:
    cuda_weight_release(&dw);
    cudaFree(dx);
    cudaFree(dy);
    cudaFree(x16);
    cudaFree(part);
    return st;
}

extern "C" lmc_status lmc_cuda_op_dequant(uint32_t type, const void *w, int64_t rows, int64_t cols,
                                          float *out) {
    lmc_status st;
    cuda_weight dw = {};
    float *dy = NULL;
    TRY(upload_matrix(&dw, type, w, rows, cols));
    TRY(dev_copy_in((void **)&dy, NULL, (size_t)rows * cols * 4));
    TRYC(cuda_dequant_f32(dw, dy, 0), "dequantize");
    TRYC(cudaMemcpy(out, dy, (size_t)rows * cols * 4, cudaMemcpyDeviceToHost), "dequantize");
done:
    cuda_weight_release(&dw);
    cudaFree(dy);
    return st;
}

extern "C" lmc_status lmc_cuda_op_matvec_q8(uint32_t type, const void *w, int64_t rows,
                                            int64_t cols, const float *x, float *y) {
    return op_matvec(type, w, rows, cols, x, y, true);
}

extern "C" lmc_status lmc_cuda_op_quant_q8(const float *x, int32_t n, const float *norm_w,
                                           float eps, int8_t *q, float *d, float *dsum) {
    lmc_status st;
    float *dx = NULL, *dw = NULL, *dy = NULL;
    int8_t *dq = NULL;
    float2 *dds = NULL;
    float2 *hds = NULL;
    if (n <= 0 || n % 32)
        return lmc_err(LMC_ERR_INVALID_ARG, "quant_q8: n = %d is not a positive multiple of 32", n);
    TRY(dev_copy_in((void **)&dx, x, n * 4));
    TRY(dev_copy_in((void **)&dq, NULL, n));
    TRY(dev_copy_in((void **)&dds, NULL, n / 32 * 8));
    if (norm_w) {
        TRY(dev_copy_in((void **)&dw, norm_w, n * 4));
        TRY(dev_copy_in((void **)&dy, NULL, n * 4));
        TRYC(cuda_rmsnorm_q8(dx, dw, n, eps, dy, dq, dds, 0), "rmsnorm_q8");
    } else {
        TRYC(cuda_quant_q8(dx, n, dq, dds, 0), "quant_q8");
    }
    hds = (float2 *)malloc((size_t)n / 32 * sizeof(float2));
    if (!hds) {
        st = lmc_err(LMC_ERR_OOM, "quant_q8: out of memory");
        goto done;
    }
    TRYC(cudaMemcpy(q, dq, n, cudaMemcpyDeviceToHost), "quant_q8");
    TRYC(cudaMemcpy(hds, dds, (size_t)n / 32 * 8, cudaMemcpyDeviceToHost), "quant_q8");
    for (int b = 0; b < n / 32; b++) {
        d[b] = hds[b].x;
        dsum[b] = hds[b].y;
    }
done:
    free(hds);
    cudaFree(dx);
    cudaFree(dw);
    cudaFree(dy);
    cudaFree(dq);
    cudaFree(dds);
    return st;
}

extern "C" lmc_status lmc_cuda_op_rmsnorm(const float *x, const float *w, int32_t n, float eps,
                                          float *out) {
    lmc_status st;
    float *dx = NULL, *dw = NULL, *dy = NULL;
    TRY(dev_copy_in((void **)&dx, x, n * 4));
    TRY(dev_copy_in((void **)&dw, w, n * 4));
    TRY(dev_copy_in((void **)&dy, NULL, n * 4));
    TRYC(cuda_rmsnorm(dx, dw, n, 1, eps, dy, NULL, 0), "rmsnorm");
    TRYC(cudaMemcpy(out, dy, n * 4, cudaMemcpyDeviceToHost), "rmsnorm");
done:
    cudaFree(dx);
    cudaFree(dw);
    cudaFree(dy);
    return st;
}

extern "C" lmc_status lmc_cuda_op_rope(float *x, int32_t n_head, int32_t head_dim, int32_t n_rot,
                                       int32_t pos, float base) {
    lmc_status st;
    float *dx = NULL;
    const size_t n = (size_t)n_head * head_dim * 4;
    TRY(dev_copy_in((void **)&dx, x, n));
    TRYC(cuda_rope(dx, n_head, head_dim, n_rot, pos, base, 0), "rope");
    TRYC(cudaMemcpy(x, dx, n, cudaMemcpyDeviceToHost), "rope");
done:
    cudaFree(dx);
    return st;
}

extern "C" lmc_status lmc_cuda_op_swiglu(const float *g, const float *u, int32_t n, float *out) {
    lmc_status st;
    float *dg = NULL, *dy = NULL;
    TRY(dev_copy_in((void **)&dg, NULL, (size_t)n * 8));
    TRYC(cudaMemcpy(dg, g, n * 4, cudaMemcpyHostToDevice), "copy in");
    TRYC(cudaMemcpy(dg + n, u, n * 4, cudaMemcpyHostToDevice), "copy in");
    TRY(dev_copy_in((void **)&dy, NULL, n * 4));
    TRYC(cuda_swiglu(dg, n, 1, 2 * n, 1, n, dy, NULL, 0), "swiglu");
    TRYC(cudaMemcpy(out, dy, n * 4, cudaMemcpyDeviceToHost), "swiglu");
done:
    cudaFree(dg);
    cudaFree(dy);
    return st;
}

extern "C" lmc_status lmc_cuda_op_attention_prompt(const float *q, const float *k, const float *v,
                                                   int32_t n_head, int32_t n_head_kv,
                                                   int32_t head_dim, int32_t pos0, int32_t n_tok,
                                                   int64_t s_floats, float *out, int *used_gemm) {
    lmc_status st;
    float *dq = NULL, *dk = NULL, *dv = NULL, *dS = NULL, *dy = NULL;
    cublasHandle_t h = NULL;
    const int q_dim = n_head * head_dim, n_kv = pos0 + n_tok;
    const size_t kvn = (size_t)n_kv * n_head_kv * head_dim * 4;
    bool done = false;
    if (n_head % n_head_kv != 0 || n_tok <= 0 || pos0 < 0 || s_floats <= 0)
        return lmc_err(LMC_ERR_INVALID_ARG, "CUDA attention: bad shape");
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS)
        return lmc_err(LMC_ERR_BACKEND, "cuBLAS: cannot create a handle");
    TRY(dev_copy_in((void **)&dq, q, (size_t)n_tok * q_dim * 4));
    TRY(dev_copy_in((void **)&dk, k, kvn));
    TRY(dev_copy_in((void **)&dv, v, kvn));
    TRY(dev_copy_in((void **)&dS, NULL, (size_t)s_floats * 4));
    TRY(dev_copy_in((void **)&dy, NULL, (size_t)n_tok * q_dim * 4));
    TRY(cuda_attention_gemm(h, dq, q_dim, n_tok, pos0, cuda_kv{dk, dv, false}, NULL, n_head,
                            n_head_kv, head_dim, dS, s_floats, dy, q_dim, 0, &done));
    if (used_gemm) *used_gemm = done;
    if (done)
        TRYC(cudaMemcpy(out, dy, (size_t)n_tok * q_dim * 4, cudaMemcpyDeviceToHost), "attention");
    else
        st = lmc_err(LMC_ERR_INVALID_ARG, "CUDA attention: scratch too small for 16 query rows");
done:
    cublasDestroy(h);
    cudaFree(dq);
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(dS);
    cudaFree(dy);
    return st;
}

extern "C" lmc_status lmc_cuda_op_attention_rows(const float *q, const float *k, const float *v,
                                                 int32_t n_head, int32_t n_head_kv,
                                                 int32_t head_dim, int32_t n_rows, int32_t n_tok,
                                                 const int32_t *kv0, const int32_t *kvrow,
                                                 int split, float *out) {
    lmc_status st;
    float *dq = NULL, *dk = NULL, *dv = NULL, *dpart = NULL, *dy = NULL;
    int32_t *d0 = NULL, *d1 = NULL;
    const int max_split = (n_rows + CUDA_ATT_CHUNK - 1) / CUDA_ATT_CHUNK;
    const size_t kvn = (size_t)n_rows * n_head_kv * head_dim * 4,
                 qn = (size_t)n_tok * n_head * head_dim * 4;
    int n_split = 1;
    if (n_head % n_head_kv != 0 || head_dim > 256 || n_rows <= 0 || n_tok <= 0)
        return lmc_err(LMC_ERR_INVALID_ARG, "CUDA attention_rows: bad shape");
    for (int t = 0; t < n_tok; t++) {
        if (kv0[t] >= 0 && (kv0[t] > kvrow[t] || kvrow[t] >= n_rows))
            return lmc_err(LMC_ERR_INVALID_ARG, "CUDA attention_rows: token %d rows %d..%d", t,
                           kv0[t], kvrow[t]);
        const int ns = kv0[t] >= 0 ? (kvrow[t] - kv0[t]) / CUDA_ATT_CHUNK + 1 : 1;
        if (ns > n_split) n_split = ns;
    }
    TRY(dev_copy_in((void **)&dq, q, qn));
    TRY(dev_copy_in((void **)&dk, k, kvn));
    TRY(dev_copy_in((void **)&dv, v, kvn));
    TRY(dev_copy_in((void **)&dpart, NULL,
                    (size_t)n_tok * n_head * max_split * (head_dim + 2) * 4));
    TRY(dev_copy_in((void **)&dy, out, qn));
    TRY(dev_copy_in((void **)&d0, kv0, (size_t)n_tok * 4));
    TRY(dev_copy_in((void **)&d1, kvrow, (size_t)n_tok * 4));
    TRYC(cuda_attention_rows(dq, n_head * head_dim, n_tok, d0, d1, cuda_kv{dk, dv, false}, n_head,
                             n_head_kv, head_dim, dpart, max_split, split ? n_split : 0, dy, 0),
         "attention_rows");
    TRYC(cudaMemcpy(out, dy, qn, cudaMemcpyDeviceToHost), "attention_rows");
done:
    cudaFree(dq);
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(dpart);
    cudaFree(dy);
    cudaFree(d0);
    cudaFree(d1);
    return st;
}

extern "C" lmc_status lmc_cuda_op_attention(const float *q, const float *k, const float *v,
                                            int32_t n_head, int32_t n_head_kv, int32_t head_dim,
                                            int32_t n_kv, float *out) {
    lmc_status st;
    float *dq = NULL, *dk = NULL, *dv = NULL, *dpart = NULL, *dy = NULL;
    int32_t *dpos = NULL;
    int *dcnt = NULL;
    const int32_t pos = n_kv - 1;
    const int max_split = (n_kv + CUDA_ATT_CHUNK - 1) / CUDA_ATT_CHUNK;
    const size_t kvn = (size_t)n_kv * n_head_kv * head_dim * 4;
    if (n_head % n_head_kv != 0 || head_dim > 256 || n_kv <= 0)
        return lmc_err(LMC_ERR_INVALID_ARG, "CUDA attention: bad shape");
    TRY(dev_copy_in((void **)&dq, q, (size_t)n_head * head_dim * 4));
    TRY(dev_copy_in((void **)&dk, k, kvn));
    TRY(dev_copy_in((void **)&dv, v, kvn));
    TRY(dev_copy_in((void **)&dpart, NULL, (size_t)n_head * max_split * (head_dim + 2) * 4));
    TRY(dev_copy_in((void **)&dy, NULL, (size_t)n_head * head_dim * 4));
    TRY(dev_copy_in((void **)&dpos, &pos, 4));
    TRY(dev_copy_in((void **)&dcnt, NULL, (size_t)n_head * 4));
    TRYC(cudaMemset(dcnt, 0, (size_t)n_head * 4), "attention");
    TRYC(cuda_attention(dq, n_head * head_dim, 1, dpos, cuda_kv{dk, dv, false}, n_head, n_head_kv,
                        head_dim, max_split, dpart, dcnt, dy, NULL, NULL, 0),
         "attention");
    TRYC(cudaMemcpy(out, dy, (size_t)n_head * head_dim * 4, cudaMemcpyDeviceToHost), "attention");
done:
    cudaFree(dq);
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(dpart);
    cudaFree(dcnt);
    cudaFree(dy);
    cudaFree(dpos);
    return st;
}
