// cuda_matvec.cu — the decode path's mat-vec y = W x on f32 activations: unit kernels per weight
// type (dequantized in registers, R rows per block sharing the activations) and a plain kernel for
// float rows not a multiple of 32. The 8-bit and coalesced kernels are in their own files.
#include "cuda_matvec.cuh"

template <class T, int R>
__device__ __forceinline__ void mv_unit(const typename T::raw (&rw)[R], const float *__restrict__ x,
                                        int u, float *acc) {
#pragma unroll
    for (int p = 0; p < T::UNIT / 32; p++) {
        float xv[32];
        const float4 *xp = (const float4 *)(x + (int64_t)u * T::UNIT + 32 * p);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            float4 v = xp[i];
            xv[4 * i] = v.x;
            xv[4 * i + 1] = v.y;
            xv[4 * i + 2] = v.z;
            xv[4 * i + 3] = v.w;
        }
#pragma unroll
        for (int r = 0; r < R; r++)
            acc[r] += T::dot(rw[r], p, xv);
    }
}

template <class T, int R, int U, int EPI>
__global__ void __launch_bounds__(MV_WARPS * 32)
    k_matvec(wparams w, const float *__restrict__ x, float *__restrict__ y, int64_t rows,
             cuda_epi e) {
    mv_rows<T, R, U, EPI>(w, y, rows, e, [=](const typename T::raw(&a)[R], int u, float *acc) {
        mv_unit<T, R>(a, x, u, acc);
    });
}

template <class T, int R, int U>
static cudaError_t launch_matvec_t(const cuda_weight &w, const float *x, float *y, int epi,
                                   const cuda_epi &e, cudaStream_t s) {
    return launch_rows<R>(
        w, w.cols / T::UNIT, epi, s, [](auto E) { return k_matvec<T, R, U, decltype(E)::value>; },
        x, y, w.rows, e);
}

// Rows per block of the f32-activation unit kernels: LMC_CUDA_MV=4 or 8 (for timing) or the type's
// default. (A persistent, software-pipelined variant measured slower for every type in run 5 and is
// gone.)
template <class T, int RMAX>
static cudaError_t launch_matvec_tuned(const cuda_weight &w, const float *x, float *y, int epi,
                                       const cuda_epi &e, int def_rows, cudaStream_t s) {
    const int mv = cuda_tuning_get()->mv_rows;
    const int rows = mv == 4 || mv == RMAX ? mv : def_rows;
    if (rows == RMAX) return launch_matvec_t<T, RMAX, 1>(w, x, y, epi, e, s);
    return launch_matvec_t<T, 4, 1>(w, x, y, epi, e, s);
}

__global__ void k_matvec_anyf(uint32_t type, const uint8_t *__restrict__ q, int64_t cols,
                              const float *__restrict__ x, float *__restrict__ y, int64_t rows,
                              int epi, int gelu, float softcap) {
    const int lane = threadIdx.x & 31;
    const int64_t r0 = ((int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5)) * 2;
    if (r0 >= rows) return;
    float acc[2] = {0.f, 0.f};
    for (int r = 0; r < 2; r++) {
        if (r0 + r >= rows) break;
        for (int64_t i = lane; i < cols; i += 32)
            acc[r] += float_at(type, q, (r0 + r) * cols + i) * x[i];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
    }
    if (lane != 0) return;
    if (epi == EPI_SWIGLU) {
        if (r0 + 1 < rows)
            y[r0 / 2] = (gelu ? gelu_tanh(acc[0]) : acc[0] / (1.f + expf(-acc[0]))) * acc[1];
        return;
    }
    for (int r = 0; r < 2 && r0 + r < rows; r++) {
        if (epi == EPI_ADD)
            y[r0 + r] += acc[r];
        else
            y[r0 + r] = softcap > 0.f ? softcap_of(acc[r], softcap) : acc[r];
    }
}

cudaError_t cuda_matvec_epi(const cuda_weight &w, const float *x, float *y, int epi,
                            const cuda_epi &e, cudaStream_t s) {
    if (is_anyf(w)) {
        if (epi == EPI_QKV || epi == EPI_ADD_NORM || e.ss || e.ss_out) return cudaErrorInvalidValue;
        const int64_t warps = (w.rows + 1) / 2;
        k_matvec_anyf<<<(unsigned)((warps + MV_WARPS - 1) / MV_WARPS), MV_WARPS * 32, 0, s>>>(
            w.type, w.q, w.cols, x, y, w.rows, epi, e.gelu, e.softcap);
        return cudaGetLastError();
    }
    if (w.type == LMC_TYPE_F16) {
        const cudaError_t r = cuda_coal_f16(w, x, y, epi, e, s);
        if (r != cudaErrorNotSupported) return r;
    }
    switch (w.type) {
    case LMC_TYPE_F16:
        return launch_matvec_tuned<t_f16, 8>(w, x, y, epi, e, 8, s);
    case LMC_TYPE_Q4_0:
        return launch_matvec_tuned<t_q4_0, 8>(w, x, y, epi, e, 8, s);
    case LMC_TYPE_Q8_0:
        return launch_matvec_tuned<t_q8_0, 8>(w, x, y, epi, e, 8, s);
    case LMC_TYPE_Q4_K:
        return launch_matvec_tuned<t_q4_K, 8>(w, x, y, epi, e, 8, s);
    case LMC_TYPE_Q6_K:
        return launch_matvec_tuned<t_q6_K, 4>(w, x, y, epi, e, 4, s);
    default:
        break;
    }
    TYPE_SWITCH(w.type, return launch_matvec_t<TT, 2, 1>(w, x, y, epi, e, s));
}

cudaError_t cuda_matvec(const cuda_weight &w, const float *x, float *y, int epi, cudaStream_t s) {
    cuda_epi e = {};
    return cuda_matvec_epi(w, x, y, epi, e, s);
}
