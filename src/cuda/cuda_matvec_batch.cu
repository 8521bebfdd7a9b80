// cuda_matvec_batch.cu — y[b] = W x[b] for small batches (up to 16 activation rows, f32): each
// weight unit is loaded and dequantized once in registers and dotted with every row, so a step of
// several sequences reads the weights once. F32, F16, Q4_0, Q8_0, Q4_K and Q6_K; other types get
// cudaErrorNotSupported and the caller runs the one-row mat-vec per row.
#include "cuda_matvec.cuh"

// A block of MV_WARPS warps computes R rows for NB activation rows (nb <= NB of them real); the
// warps split each row's units. x: (nb, cols) contiguous; y row b at y + b * ldy.
template <class T, int R, int NB>
__global__ void __launch_bounds__(MV_WARPS * 32)
    k_matvec_batch(wparams w, const float *__restrict__ x, int nb, float *__restrict__ y,
                   int64_t ldy, int64_t rows, int add) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t r0 = (int64_t)blockIdx.x * R;
    const int nu = (int)(w.cols / T::UNIT);
    float acc[R * NB];
#pragma unroll
    for (int i = 0; i < R * NB; i++)
        acc[i] = 0.f;
    int64_t rr[R];
#pragma unroll
    for (int r = 0; r < R; r++)
        rr[r] = r0 + r < rows ? r0 + r : rows - 1;
    const int step = 32 * (blockDim.x >> 5);
    for (int u = lane + 32 * warp; u < nu; u += step) {
        typename T::raw a[R];
#pragma unroll
        for (int r = 0; r < R; r++)
            a[r] = T::load(w, rr[r], u);
#pragma unroll
        for (int p = 0; p < T::UNIT / 32; p++) {
            float wv[R][32];
#pragma unroll
            for (int r = 0; r < R; r++)
                T::deq(a[r], p, wv[r]);
#pragma unroll
            for (int b = 0; b < NB; b++) {
                if (b >= nb) break;
                const float4 *xp = (const float4 *)(x + (int64_t)b * w.cols +
                                                    (int64_t)u * T::UNIT + 32 * p);
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    const float4 v = __ldg(xp + i);
#pragma unroll
                    for (int r = 0; r < R; r++)
                        acc[r * NB + b] += wv[r][4 * i] * v.x + wv[r][4 * i + 1] * v.y +
                                           wv[r][4 * i + 2] * v.z + wv[r][4 * i + 3] * v.w;
                }
            }
        }
    }
    if (!block_sum_rows<R * NB>(acc)) return;
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int b = 0; b < NB; b++)
            if (b < nb && r0 + r < rows) {
                float *o = y + (int64_t)b * ldy + r0 + r;
                *o = add ? *o + acc[r * NB + b] : acc[r * NB + b];
            }
}

template <class T>
static cudaError_t launch_batch(const cuda_weight &w, const float *x, int nb, float *y,
                                int64_t ldy, bool add, cudaStream_t s) {
    if (w.cols % T::UNIT) return cudaErrorNotSupported;
    const wparams p = {w.q, w.d, w.cols};
    const int R = 2;
    unsigned blocks;
    int nt;
    mv_shape(w.rows, R, w.cols / T::UNIT, &blocks, &nt);
    if (nb <= 2)
        k_matvec_batch<T, R, 2><<<blocks, nt, 0, s>>>(p, x, nb, y, ldy, w.rows, add);
    else if (nb <= 4)
        k_matvec_batch<T, R, 4><<<blocks, nt, 0, s>>>(p, x, nb, y, ldy, w.rows, add);
    else if (nb <= 8)
        k_matvec_batch<T, R, 8><<<blocks, nt, 0, s>>>(p, x, nb, y, ldy, w.rows, add);
    else
        k_matvec_batch<T, R, 16><<<blocks, nt, 0, s>>>(p, x, nb, y, ldy, w.rows, add);
    return cudaGetLastError();
}

cudaError_t cuda_matvec_batch(const cuda_weight &w, const float *x, int nb, float *y, int64_t ldy,
                              bool add, cudaStream_t s) {
    if (nb < 1 || nb > CUDA_MVB_MAX || is_anyf(w)) return cudaErrorNotSupported;
    switch (w.type) {
    case LMC_TYPE_F32:
        return launch_batch<t_f32>(w, x, nb, y, ldy, add, s);
    case LMC_TYPE_F16:
        return launch_batch<t_f16>(w, x, nb, y, ldy, add, s);
    case LMC_TYPE_Q4_0:
        return launch_batch<t_q4_0>(w, x, nb, y, ldy, add, s);
    case LMC_TYPE_Q8_0:
        return launch_batch<t_q8_0>(w, x, nb, y, ldy, add, s);
    case LMC_TYPE_Q4_K:
        return launch_batch<t_q4_K>(w, x, nb, y, ldy, add, s);
    case LMC_TYPE_Q6_K:
        return launch_batch<t_q6_K>(w, x, nb, y, ldy, add, s);
    default:
        return cudaErrorNotSupported;
    }
}
