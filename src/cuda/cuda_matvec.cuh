// cuda_matvec.cuh — what the row-blocked mat-vec files (cuda_matvec.cu, _q8.cu, _coal.cu) share:
// block reduction, epilogues (RoPE + KV store, SwiGLU / GeGLU, add, soft-capped store, folded
// RMSNorm), the unit kernels'
// body and the launch over epilogues. Header-only; the kernels themselves live in those files.
#ifndef LMC_CUDA_MATVEC_CUH
#define LMC_CUDA_MATVEC_CUH

#include "cuda_device.cuh"
#include "cuda_launch.cuh"
#include "cuda_weight_types.cuh"
#include <type_traits>

#define MV_WARPS 4

// Sums each of a block's R per-lane accumulators over the block (warp shuffles, then one shared
// array); thread 0 returns true with the totals in acc, every other thread false.
template <int R> __device__ __forceinline__ bool block_sum_rows(float (&acc)[R]) {
    __shared__ float red[MV_WARPS][R];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
        if (lane == 0) red[warp][r] = acc[r];
    }
    __syncthreads();
    if (threadIdx.x != 0) return false;
#pragma unroll
    for (int r = 0; r < R; r++) {
        float v = 0.f;
#pragma unroll
        for (int k = 0; k < MV_WARPS; k++)
            v += k < nw ? red[k][r] : 0.f;
        acc[r] = v;
    }
    return true;
}

// Decode-path bias, RoPE + KV store fused into the q/k/v mat-vec: adjacent output rows are
// rotation pairs, and R is even, so one warp holds both halves of each pair.
__device__ __forceinline__ void epi_qkv_pair(const cuda_epi &e, int64_t a, float va, float vb,
                                             float *q) {
    const int pos = *e.pos;
    const int q_dim = e.n_head * e.hd, kv_dim = e.n_head_kv * e.hd;
    int64_t idx = a < q_dim ? a : (a < q_dim + kv_dim ? a - q_dim : a - q_dim - kv_dim);
    const int i = (int)(idx % e.hd) / 2;
    if (e.bias) {
        va += e.bias[a];
        vb += e.bias[a + 1];
    }
    if (a < q_dim + kv_dim && 2 * i < e.n_rot) rope_pair(va, vb, pos, e.freq[i], e.attn_factor);
    if (a < q_dim) {
        q[a] = va;
        q[a + 1] = vb;
    } else {
        void *c = a < q_dim + kv_dim ? e.kv.k : e.kv.v;
        kv_put(c, e.kv.f16, (int64_t)pos * kv_dim + idx, va);
        kv_put(c, e.kv.f16, (int64_t)pos * kv_dim + idx + 1, vb);
    }
}

template <int R, int EPI>
__device__ __forceinline__ void mv_epilogue(const float *acc, int64_t r0, int64_t rows, float *y,
                                            const cuda_epi &e) {
    if (EPI == EPI_QKV) {
#pragma unroll
        for (int r = 0; r < R; r += 2)
            if (r0 + r + 1 < rows) epi_qkv_pair(e, r0 + r, acc[r], acc[r + 1], y);
    } else if (EPI == EPI_SWIGLU) {
        if (e.gelu) {
#pragma unroll
            for (int r = 0; r < R; r += 2)
                if (r0 + r + 1 < rows) y[(r0 + r) / 2] = gelu_tanh(acc[r]) * acc[r + 1];
        } else {
#pragma unroll
            for (int r = 0; r < R; r += 2)
                if (r0 + r + 1 < rows)
                    y[(r0 + r) / 2] = acc[r] / (1.f + expf(-acc[r])) * acc[r + 1];
        }
    } else if (EPI == EPI_STORE && e.softcap > 0.f) {
#pragma unroll
        for (int r = 0; r < R; r++)
            if (r0 + r < rows) y[r0 + r] = softcap_of(acc[r], e.softcap);
    } else {
#pragma unroll
        for (int r = 0; r < R; r++)
            if (r0 + r < rows) {
                if (EPI == EPI_ADD)
                    y[r0 + r] += acc[r];
                else
                    y[r0 + r] = acc[r];
            }
    }
}

// EPI_ADD_NORM (ADD, see cuda_epi): y += W x, out32 = the new values * nw; EPI_STORE with ss_out
// (the producer of a folded post-norm's input, gemma): y = W x. Both sum the new values' squares
// into *ss_out. By thread 0 with the block's R sums.
template <int R, bool ADD>
__device__ __forceinline__ void mv_sum_squares(const float *acc, int64_t r0, int64_t rows, float *y,
                                               const cuda_epi &e) {
    float ss = 0.f;
#pragma unroll
    for (int r = 0; r < R; r++)
        if (r0 + r < rows) {
            const float v = ADD ? y[r0 + r] + acc[r] : acc[r];
            y[r0 + r] = v;
            ss += v * v;
            if (ADD) e.out32[r0 + r] = v * e.nw[r0 + r];
        }
    atomicAdd(e.ss_out, (double)ss);
}

// EPI_QKV with q/k norms, the block that completed q or k head h (all its threads): the head's
// RMSNorm (the sum of squares in float, as k_qkv_post), RoPE of its first n_rot dims (adjacent
// pairs), then q back into y, k into the cache; the head's counter back to zero. The other blocks'
// rows are read from L2 (__ldcg), where their fences put them.
__device__ __forceinline__ void qk_head_finish(const cuda_epi &e, int h, float *y, int pos) {
    __shared__ float red[MV_WARPS];
    const int hd = e.hd, nt = blockDim.x;
    const float *src = y + (int64_t)h * hd;
    float ss = 0.f;
    for (int d = threadIdx.x; d < hd; d += nt) {
        const float v = __ldcg(src + d);
        ss += v * v;
    }
    ss = block_sum(ss, red);
    const float scale = (float)(1.0 / sqrt((double)ss / hd + e.qk_eps));
    const bool is_q = h < e.n_head;
    const float *w = is_q ? e.q_norm : e.k_norm;
    const int64_t k0 = (int64_t)pos * e.n_head_kv * hd + (int64_t)(h - e.n_head) * hd;
    for (int p = threadIdx.x; 2 * p < hd; p += nt) {
        float a = __ldcg(src + 2 * p) * scale * w[2 * p];
        float b = __ldcg(src + 2 * p + 1) * scale * w[2 * p + 1];
        if (2 * p < e.n_rot) rope_pair(a, b, pos, e.freq[p], e.attn_factor);
        if (is_q) {
            y[(int64_t)h * hd + 2 * p] = a;
            y[(int64_t)h * hd + 2 * p + 1] = b;
        } else {
            kv_put(e.kv.k, e.kv.f16, k0 + 2 * p, a);
            kv_put(e.kv.k, e.kv.f16, k0 + 2 * p + 1, b);
        }
    }
    if (threadIdx.x == 0) e.head_cnt[h] = 0;
}

// EPI_QKV with q/k norms: a head's RMSNorm needs all of its rows, which hd / R blocks compute.
// Each block stores its rows (bias added; v rows straight into the cache), fences them and counts
// itself done for its head; the block that completes a head finishes it (qk_head_finish).
template <int R>
__device__ __forceinline__ void mv_finish_qk_norm(float (&acc)[R], int64_t r0, int64_t rows,
                                                  float *y, const cuda_epi &e) {
    __shared__ int done_head; // the head this block completes, or -1
    const int pos = *e.pos;
    const int64_t qk_rows = (int64_t)(e.n_head + e.n_head_kv) * e.hd, kv_dim = e.n_head_kv * e.hd;
    if (block_sum_rows<R>(acc)) {
        const float sc = e.ss ? rsqrtf((float)(*e.ss / e.ss_n) + e.eps) : 1.f;
        done_head = -1;
#pragma unroll
        for (int r = 0; r < R; r++) {
            const int64_t a = r0 + r;
            if (a >= rows) continue;
            const float v = acc[r] * sc + (e.bias ? e.bias[a] : 0.f);
            if (a < qk_rows)
                y[a] = v;
            else
                kv_put(e.kv.v, e.kv.f16, (int64_t)pos * kv_dim + a - qk_rows, v);
        }
        if (r0 < qk_rows) {
            __threadfence();
            const int h = (int)(r0 / e.hd);
            if (atomicAdd(e.head_cnt + h, 1) == e.hd / R - 1) done_head = h;
        }
    }
    __syncthreads();
    if (done_head < 0) return;
    __threadfence();
    qk_head_finish(e, done_head, y, pos);
}

// A folded RMSNorm's scale on a block's summed rows (the consumer side: e.ss set).
template <int R>
__device__ __forceinline__ void mv_scale_folded(float (&acc)[R], const cuda_epi &e) {
    if (!e.ss) return;
    const float sc = rsqrtf((float)(*e.ss / e.ss_n) + e.eps);
#pragma unroll
    for (int r = 0; r < R; r++)
        acc[r] *= sc;
}

// The end of every row-blocked mat-vec: the block's partial sums meet (block_sum_rows), a folded
// RMSNorm's scale applies (e.ss), then the epilogue.
template <int R, int EPI>
__device__ __forceinline__ void mv_finish(float (&acc)[R], int64_t r0, int64_t rows, float *y,
                                          const cuda_epi &e) {
    if (EPI == EPI_QKV && e.q_norm) {
        mv_finish_qk_norm<R>(acc, r0, rows, y, e);
        return;
    }
    if (!block_sum_rows<R>(acc)) return;
    mv_scale_folded<R>(acc, e);
    if (EPI == EPI_ADD_NORM)
        mv_sum_squares<R, true>(acc, r0, rows, y, e);
    else if (EPI == EPI_STORE && e.ss_out)
        mv_sum_squares<R, false>(acc, r0, rows, y, e);
    else
        mv_epilogue<R, EPI>(acc, r0, rows, y, e);
}

// The body of the unit kernels (k_matvec, k_matvec_q8): a block of MV_WARPS warps computes R
// rows; the warps split the row's units between them (so short and square matrices still put
// enough loads in flight), each warp's R rows share every activation load, and U units per lane
// are loaded before any is used. unit(raw[R], u, acc) adds unit u of the R rows, read from the
// activations, to acc. Partial sums meet in shared memory.
template <class T, int R, int U, int EPI, class F>
__device__ __forceinline__ void mv_rows(const wparams &w, float *__restrict__ y, int64_t rows,
                                        const cuda_epi &e, F unit) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t r0 = (int64_t)blockIdx.x * R;
    const int nu = (int)(w.cols / T::UNIT);
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++)
        acc[r] = 0.f;
    int64_t rr[R];
#pragma unroll
    for (int r = 0; r < R; r++)
        rr[r] = r0 + r < rows ? r0 + r : rows - 1;
    const int nw = blockDim.x >> 5; // warps splitting the row (<= MV_WARPS)
    const int step = 32 * nw;
    int u = lane + 32 * warp;
    pdl_trigger();
    if (U == 2) pdl_wait();
    if (U == 2) {
        for (; u + step < nu; u += 2 * step) {
            typename T::raw a[R], b[R];
#pragma unroll
            for (int r = 0; r < R; r++)
                a[r] = T::load(w, rr[r], u);
#pragma unroll
            for (int r = 0; r < R; r++)
                b[r] = T::load(w, rr[r], u + step);
            unit(a, u, acc);
            unit(b, u + step, acc);
        }
    }
    { // the first unit's weights are loaded before waiting for the kernel that wrote x
        typename T::raw a[R];
        if (u < nu) {
#pragma unroll
            for (int r = 0; r < R; r++)
                a[r] = T::load(w, rr[r], u);
        }
        if (U != 2) pdl_wait();
        for (; u < nu; u += step) {
            unit(a, u, acc);
            if (u + step < nu) {
#pragma unroll
                for (int r = 0; r < R; r++)
                    a[r] = T::load(w, rr[r], u + step);
            }
        }
    }
    mv_finish<R, EPI>(acc, r0, rows, y, e);
}

// Block shape of the row-blocked mat-vecs: R rows per block, MV_WARPS warps (fewer for rows of
// fewer than 32 * MV_WARPS units) splitting each row's units.
static inline void mv_shape(int64_t rows, int R, int64_t units, unsigned *blocks, int *threads) {
    *blocks = (unsigned)((rows + R - 1) / R);
    *threads = 32 * (int)(units >= 32 * MV_WARPS ? MV_WARPS : (units + 31) / 32);
}

// Calls f with the epilogue as a compile-time constant (std::integral_constant<int, EPI>).
template <class F> static cudaError_t epi_dispatch(int epi, F f) {
    switch (epi) {
    case EPI_ADD:
        return f(std::integral_constant<int, EPI_ADD>());
    case EPI_SWIGLU:
        return f(std::integral_constant<int, EPI_SWIGLU>());
    case EPI_QKV:
        return f(std::integral_constant<int, EPI_QKV>());
    case EPI_ADD_NORM:
        return f(std::integral_constant<int, EPI_ADD_NORM>());
    default:
        return f(std::integral_constant<int, EPI_STORE>());
    }
}

// Launches a row-blocked mat-vec of w (R rows per block, `units` per row, mv_shape) with the
// epilogue as a compile-time constant: kernel_of(E) names the kernel for epilogue E; args follow
// the weight.
template <int R, class K, class... A>
static cudaError_t launch_rows(const cuda_weight &w, int64_t units, int epi, cudaStream_t s,
                               K kernel_of, A... args) {
    const wparams p = {w.q, w.d, w.cols};
    unsigned blocks;
    int nt;
    mv_shape(w.rows, R, units, &blocks, &nt);
    return epi_dispatch(
        epi, [&](auto E) { return launch_pdl(kernel_of(E), blocks, nt, s, p, args...); });
}

// The coalesced mat-vecs (cuda_matvec_coal.cu); cudaErrorNotSupported where a type keeps the unit
// kernels.
cudaError_t cuda_coal_q8(const cuda_weight &w, const int8_t *xq, const float2 *xds, float *y,
                         int epi, const cuda_epi &e, cudaStream_t s);
cudaError_t cuda_coal_f16(const cuda_weight &w, const float *x, float *y, int epi,
                          const cuda_epi &e, cudaStream_t s);

#endif
