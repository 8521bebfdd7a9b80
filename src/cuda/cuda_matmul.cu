// cuda_matmul.cu — the prompt path's products: weights dequantized to f16 by the per-type decoders
// and multiplied by cuBLAS; the same decoders give f32 dequantizing (tests) and embedding rows. Not
// here: the decode path's mat-vecs (cuda_matvec*.cu) and attention's GEMMs (cuda_attention.cu).
#include "cuda_weight_types.cuh"

extern "C" {
#include "util.h"
}

// ---- dequantization, embedding rows
// ----------------------------------------------------------------

__global__ void k_dequant_anyf(uint32_t type, const uint8_t *__restrict__ q, int64_t off, int64_t n,
                               float *out32, __half *out16) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float v = float_at(type, q, off + i);
    if (out32) out32[i] = v;
    if (out16) out16[i] = __float2half_rn(v);
}

__global__ void k_get_rows_anyf(uint32_t type, const uint8_t *__restrict__ q, int64_t cols,
                                const int32_t *tok, float *out, float scale) {
    const int t = blockIdx.x;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
        const float v = float_at(type, q, tok[t] * cols + i);
        out[t * cols + i] = scale != 1.f ? v * scale : v;
    }
}

template <class T>
__global__ void k_dequant_f16(wparams w, int64_t row0, int64_t n_rows, __half *__restrict__ out) {
    const int nu = (int)(w.cols / T::UNIT);
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_rows * nu) return;
    const int64_t r = i / nu;
    const int u = (int)(i % nu);
    typename T::raw rw = T::load(w, row0 + r, u);
#pragma unroll
    for (int p = 0; p < T::UNIT / 32; p++) {
        float o[32];
        T::deq(rw, p, o);
        uint4 *dst = (uint4 *)(out + r * w.cols + (int64_t)u * T::UNIT + 32 * p);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            uint4 v;
            __half2 h0 = __floats2half2_rn(o[8 * j], o[8 * j + 1]),
                    h1 = __floats2half2_rn(o[8 * j + 2], o[8 * j + 3]);
            __half2 h2 = __floats2half2_rn(o[8 * j + 4], o[8 * j + 5]),
                    h3 = __floats2half2_rn(o[8 * j + 6], o[8 * j + 7]);
            v.x = *(uint32_t *)&h0;
            v.y = *(uint32_t *)&h1;
            v.z = *(uint32_t *)&h2;
            v.w = *(uint32_t *)&h3;
            dst[j] = v;
        }
    }
}

template <class T> __global__ void k_dequant_f32(wparams w, int64_t rows, float *__restrict__ out) {
    const int nu = (int)(w.cols / T::UNIT);
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * nu) return;
    const int64_t r = i / nu;
    const int u = (int)(i % nu);
    typename T::raw rw = T::load(w, r, u);
#pragma unroll
    for (int p = 0; p < T::UNIT / 32; p++)
        T::deq(rw, p, out + r * w.cols + (int64_t)u * T::UNIT + 32 * p);
}

// scale != 1 (gemma's embedding scale) multiplies the row as it is written.
template <class T>
__global__ void k_get_rows(wparams w, const int32_t *__restrict__ tok, float *__restrict__ out,
                           float scale) {
    const int t = blockIdx.x;
    const int64_t row = tok[t];
    const int nu = (int)(w.cols / T::UNIT);
    for (int u = threadIdx.x; u < nu; u += blockDim.x) {
        typename T::raw rw = T::load(w, row, u);
#pragma unroll
        for (int p = 0; p < T::UNIT / 32; p++) {
            float *o = out + (int64_t)t * w.cols + (int64_t)u * T::UNIT + 32 * p;
            T::deq(rw, p, o);
            if (scale != 1.f)
                for (int i = 0; i < 32; i++)
                    o[i] *= scale;
        }
    }
}

cudaError_t cuda_dequant_f16(const cuda_weight &w, int64_t row0, int64_t n_rows, __half *out,
                             cudaStream_t s) {
    wparams p = {w.q, w.d, w.cols};
    if (is_anyf(w)) {
        const int64_t n = n_rows * w.cols;
        k_dequant_anyf<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(w.type, w.q, row0 * w.cols, n,
                                                                   NULL, out);
        return cudaGetLastError();
    }
    TYPE_SWITCH(w.type, {
        const int64_t n = n_rows * (w.cols / TT::UNIT);
        k_dequant_f16<TT><<<(unsigned)((n + 255) / 256), 256, 0, s>>>(p, row0, n_rows, out);
        return cudaGetLastError();
    });
}

cudaError_t cuda_dequant_f32(const cuda_weight &w, float *out, cudaStream_t s) {
    wparams p = {w.q, w.d, w.cols};
    if (is_anyf(w)) {
        const int64_t n = w.rows * w.cols;
        k_dequant_anyf<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(w.type, w.q, 0, n, out, NULL);
        return cudaGetLastError();
    }
    TYPE_SWITCH(w.type, {
        const int64_t n = w.rows * (w.cols / TT::UNIT);
        k_dequant_f32<TT><<<(unsigned)((n + 255) / 256), 256, 0, s>>>(p, w.rows, out);
        return cudaGetLastError();
    });
}

cudaError_t cuda_get_rows(const cuda_weight &w, const int32_t *tok, int n_tok, float *out,
                          cudaStream_t s, float scale) {
    wparams p = {w.q, w.d, w.cols};
    if (is_anyf(w)) {
        k_get_rows_anyf<<<n_tok, 128, 0, s>>>(w.type, w.q, w.cols, tok, out, scale);
        return cudaGetLastError();
    }
    TYPE_SWITCH(w.type, {
        k_get_rows<TT><<<n_tok, 128, 0, s>>>(p, tok, out, scale);
        return cudaGetLastError();
    });
}

lmc_status cuda_gemm(cublasHandle_t h, const cuda_weight &w, const __half *x16, int n_tok, float *y,
                     int ldc, float beta, __half *w16, cudaStream_t s) {
    const __half *a = (const __half *)w.q;
    if (w.type != LMC_TYPE_F16) {
        lmc_status st = cuda_check(cuda_dequant_f16(w, 0, w.rows, w16, s), "dequantize");
        if (st != LMC_OK) return st;
        a = w16;
    }
    const float alpha = 1.f;
    cublasSetStream(h, s);
    // Column-major view: W is (cols x rows), X is (cols x n_tok), Y = W^T X is (rows x n_tok).
    cublasStatus_t cs =
        cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)w.rows, n_tok, (int)w.cols, &alpha, a,
                     CUDA_R_16F, (int)w.cols, x16, CUDA_R_16F, (int)w.cols, &beta, y, CUDA_R_32F,
                     ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (cs != CUBLAS_STATUS_SUCCESS)
        return lmc_err(LMC_ERR_BACKEND, "cuBLAS: GEMM failed (status %d)", (int)cs);
    return LMC_OK;
}
