// cuda_matvec_batch.cu — y[b] = W x[b] for small batches (up to 16 activation rows, f32): each
// weight unit is loaded and dequantized once in registers and dotted with every row, so a step of
// several sequences reads the weights once. F32, F16, Q4_0, Q8_0, Q4_K and Q6_K; other types get
// cudaErrorNotSupported and the caller runs the one-row mat-vec per row.
#include "cuda_matvec.cuh"

// The activations go through shared memory in chunks of MVS_CH columns, read from global memory
// once per block with coalesced loads: a lane's 32 weights need 32 consecutive activations of
// each row, which straight from global memory would be 32 scattered 128-byte reads per warp load
// (measured: 4 ms per token of a 7B Q4_0 step). Each 32-column piece sits at a stride of MVS_PAD
// floats, so a quarter-warp's 16-byte reads hit distinct banks.
#define MVS_WARPS 4
#define MVS_CH 1024
#define MVS_PAD 36

// A block of MVS_WARPS warps; warp w computes R rows for NB activation rows (nb <= NB of them
// real); lane l takes the l-th 32-column piece of each chunk (piece l % PPU of its unit). x: (nb,
// cols) contiguous; y row b at y + b * ldy. Dynamic shared memory: nb * 32 * MVS_PAD floats.
template <class T, int R, int NB>
__global__ void __launch_bounds__(MVS_WARPS * 32)
    k_matvec_batch(wparams w, const float *__restrict__ x, int nb, float *__restrict__ y,
                   int64_t ldy, int64_t rows, int add) {
    extern __shared__ float4 xs4[];
    float *xs = (float *)xs4;
    constexpr int PPU = T::UNIT / 32;
    static_assert(MVS_CH % T::UNIT == 0, "a chunk holds whole units");
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t r0 = ((int64_t)blockIdx.x * MVS_WARPS + warp) * R;
    float acc[R * NB];
#pragma unroll
    for (int i = 0; i < R * NB; i++)
        acc[i] = 0.f;
    int64_t rr[R];
#pragma unroll
    for (int r = 0; r < R; r++)
        rr[r] = r0 + r < rows ? r0 + r : rows - 1;
    for (int64_t c0 = 0; c0 < w.cols; c0 += MVS_CH) {
        const int len = (int)(w.cols - c0 < MVS_CH ? w.cols - c0 : MVS_CH), g4 = len / 4;
        __syncthreads(); // the previous chunk is used up
        for (int k = threadIdx.x; k < nb * g4; k += blockDim.x) {
            const int b = k / g4, e = (k - b * g4) * 4;
            *(float4 *)(xs + (b * 32 + e / 32) * MVS_PAD + e % 32) =
                __ldg((const float4 *)(x + (int64_t)b * w.cols + c0 + e));
        }
        __syncthreads();
        if (lane * 32 >= len) continue;
        const int u = (int)(c0 / T::UNIT) + lane / PPU, p = lane % PPU;
        typename T::raw a[R];
#pragma unroll
        for (int r = 0; r < R; r++)
            a[r] = T::load(w, rr[r], u);
        float wv[R][32];
#pragma unroll
        for (int r = 0; r < R; r++)
            T::deq(a[r], p, wv[r]);
#pragma unroll
        for (int b = 0; b < NB; b++) {
            if (b >= nb) break;
            const float4 *xp = (const float4 *)(xs + (b * 32 + lane) * MVS_PAD);
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const float4 v = xp[i];
#pragma unroll
                for (int r = 0; r < R; r++)
                    acc[r * NB + b] += wv[r][4 * i] * v.x + wv[r][4 * i + 1] * v.y +
                                       wv[r][4 * i + 2] * v.z + wv[r][4 * i + 3] * v.w;
            }
        }
    }
#pragma unroll
    for (int i = 0; i < R * NB; i++)
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            acc[i] += __shfl_xor_sync(0xffffffffu, acc[i], o);
    if (lane != 0) return;
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int b = 0; b < NB; b++)
            if (b < nb && r0 + r < rows) {
                float *o = y + (int64_t)b * ldy + r0 + r;
                *o = add ? *o + acc[r * NB + b] : acc[r * NB + b];
            }
}

// Launches the NB bucket: R = 4 rows a warp up to 8 activation rows, 2 for 16 (registers).
template <class T, int NB>
static cudaError_t launch_nb(const wparams &p, const float *x, int nb, float *y, int64_t ldy,
                             int64_t rows, bool add, cudaStream_t s) {
    constexpr int R = NB >= 16 ? 2 : 4;
    const size_t smem = (size_t)nb * 32 * MVS_PAD * 4;
    // once per kernel and thread: the attribute belongs to the GPU current when it is set, and a
    // thread runs one GPU (tensor parallelism: a thread per rank)
    static thread_local const cudaError_t attr =
        cudaFuncSetAttribute(k_matvec_batch<T, R, NB>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             NB * 32 * MVS_PAD * 4);
    if (attr != cudaSuccess) return attr;
    const int64_t per_block = (int64_t)MVS_WARPS * R;
    k_matvec_batch<T, R, NB>
        <<<(unsigned)((rows + per_block - 1) / per_block), MVS_WARPS * 32, smem, s>>>(
            p, x, nb, y, ldy, rows, add);
    return cudaGetLastError();
}

template <class T>
static cudaError_t launch_batch(const cuda_weight &w, const float *x, int nb, float *y, int64_t ldy,
                                bool add, cudaStream_t s) {
    if (w.cols % T::UNIT || w.cols % 32) return cudaErrorNotSupported;
    const wparams p = {w.q, w.d, w.cols};
    if (nb <= 2) return launch_nb<T, 2>(p, x, nb, y, ldy, w.rows, add, s);
    if (nb <= 4) return launch_nb<T, 4>(p, x, nb, y, ldy, w.rows, add, s);
    if (nb <= 8) return launch_nb<T, 8>(p, x, nb, y, ldy, w.rows, add, s);
    return launch_nb<T, 16>(p, x, nb, y, ldy, w.rows, add, s);
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
