// cuda_matvec_q8.cu — the decode path's mat-vec on 8-bit activations (Q4_0, Q8_0, Q4_K, Q6_K): the
// quantizing of the activation vector and the unit kernels' dp4a dot products per type. The f32
// path and the coalesced kernels (which also take these activations) live beside it.
#include "cuda_matvec.cuh"

// The activation vector is quantized once per mat-vec input into blocks of 32: int8 q = rn(x * 127
// / amax) and per block ds = (d, d * sum q) with d = amax / 127. Weight integers then meet
// activation integers through dp4a (4 products per instruction), and the activation bytes each warp
// reads fall from 128 to 40 per 32 weights. Costs the activation rounding (logits NMSE ~1e-4),
// nothing else.

__global__ void k_quant_q8(const float *__restrict__ x, int64_t n, int8_t *__restrict__ oq,
                           float2 *__restrict__ ods) {
    const int64_t blk = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    pdl_trigger();
    pdl_wait();
    if (blk * 32 >= n) return; // whole warps leave together (n % 32 == 0)
    quant_q8_warp(x[blk * 32 + (threadIdx.x & 31)], threadIdx.x & 31, blk, oq, ods);
}

cudaError_t cuda_quant_q8(const float *x, int64_t n, int8_t *oq, float2 *ods, cudaStream_t s) {
    if (n % 32) return cudaErrorInvalidValue;
    return launch_pdl(k_quant_q8, dim3((unsigned)((n + 255) / 256)), dim3(256), s, x, n, oq, ods);
}

bool cuda_q8_ok(const cuda_weight &w) {
    const int unit = w.type == LMC_TYPE_Q6_K ? 128 : w.type == LMC_TYPE_Q4_K ? 64 : 32;
    const bool type_ok = w.type == LMC_TYPE_Q4_0 || w.type == LMC_TYPE_Q8_0 ||
                         w.type == LMC_TYPE_Q4_K || w.type == LMC_TYPE_Q6_K;
    return type_ok && w.cols % unit == 0;
}

// dotq(raw, piece, xw = 32 activation int8 as 8 words, ds): the piece's dot product.
template <class T> struct q8dot;
template <> struct q8dot<t_q4_0> {
    static __device__ __forceinline__ float dotq(const t_q4_0::raw &r, int, const int *xw,
                                                 float2 ds) {
        const int *w = (const int *)&r.v;
        int s = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            s = __dp4a(w[i] & 0x0F0F0F0F, xw[i], s);
            s = __dp4a((w[i] >> 4) & 0x0F0F0F0F, xw[4 + i], s);
        }
        return r.d * (ds.x * (float)s - 8.f * ds.y);
    }
};
template <> struct q8dot<t_q8_0> {
    static __device__ __forceinline__ float dotq(const t_q8_0::raw &r, int, const int *xw,
                                                 float2 ds) {
        const int *w = (const int *)r.v;
        int s = 0;
#pragma unroll
        for (int i = 0; i < 8; i++)
            s = __dp4a(w[i], xw[i], s);
        return r.d * ds.x * (float)s;
    }
};
template <> struct q8dot<t_q4_K> {
    static __device__ __forceinline__ float dotq(const t_q4_K::raw &r, int piece, const int *xw,
                                                 float2 ds) {
        const int *a = (const int *)&r.a, *b = (const int *)&r.b;
        const int sh = piece ? 4 : 0;
        int s = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            s = __dp4a((a[i] >> sh) & 0x0F0F0F0F, xw[i], s);
            s = __dp4a((b[i] >> sh) & 0x0F0F0F0F, xw[4 + i], s);
        }
        float d1, m1;
        t_q4_K::scales(r, piece, &d1, &m1);
        return d1 * ds.x * (float)s - m1 * ds.y;
    }
};
template <> struct q8dot<t_q6_K> {
    static __device__ __forceinline__ float dotq(const t_q6_K::raw &r, int k, const int *xw,
                                                 float2 ds) {
        const uint32_t *ql = (const uint32_t *)r.ql;
        const uint32_t *qh = (const uint32_t *)r.qh;
        int s0 = 0, s1 = 0;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const uint32_t lw = ql[8 * (k & 1) + i];
            const uint32_t lo = (k < 2 ? lw : lw >> 4) & 0x0F0F0F0Fu;
            const uint32_t hi = ((qh[i] >> (2 * k)) & 0x03030303u) << 4;
            const int v = (int)__vsub4(lo | hi, 0x20202020u); // bytes q - 32, signed
            if (i < 4)
                s0 = __dp4a(v, xw[i], s0);
            else
                s1 = __dp4a(v, xw[i], s1);
        }
        return r.d * ds.x *
               (t_q6_K::scale(r, 2 * k) * (float)s0 + t_q6_K::scale(r, 2 * k + 1) * (float)s1);
    }
};

template <class T, int R>
__device__ __forceinline__ void mv_unit_q8(const typename T::raw (&rw)[R],
                                           const int8_t *__restrict__ xq,
                                           const float2 *__restrict__ xds, int u, float *acc) {
#pragma unroll
    for (int p = 0; p < T::UNIT / 32; p++) {
        const int64_t b = (int64_t)u * (T::UNIT / 32) + p;
        int xw[8];
        const int4 *xp = (const int4 *)(xq + b * 32);
        const int4 x0 = xp[0], x1 = xp[1];
        xw[0] = x0.x;
        xw[1] = x0.y;
        xw[2] = x0.z;
        xw[3] = x0.w;
        xw[4] = x1.x;
        xw[5] = x1.y;
        xw[6] = x1.z;
        xw[7] = x1.w;
        const float2 ds = xds[b];
#pragma unroll
        for (int r = 0; r < R; r++)
            acc[r] += q8dot<T>::dotq(rw[r], p, xw, ds);
    }
}

// Same block shape as k_matvec: MV_WARPS warps split the units of R rows; U units per lane in
// flight.
template <class T, int R, int U, int EPI>
__global__ void __launch_bounds__(MV_WARPS * 32)
    k_matvec_q8(wparams w, const int8_t *__restrict__ xq, const float2 *__restrict__ xds,
                float *__restrict__ y, int64_t rows, cuda_epi e) {
    mv_rows<T, R, U, EPI>(w, y, rows, e, [=](const typename T::raw(&a)[R], int u, float *acc) {
        mv_unit_q8<T, R>(a, xq, xds, u, acc);
    });
}

template <class T, int R, int U>
static cudaError_t launch_matvec_q8_t(const cuda_weight &w, const int8_t *xq, const float2 *xds,
                                      float *y, int epi, const cuda_epi &e, cudaStream_t s) {
    return launch_rows<R>(
        w, w.cols / T::UNIT, epi, s,
        [](auto E) { return k_matvec_q8<T, R, U, decltype(E)::value>; }, xq, xds, y, w.rows, e);
}

// Variant from LMC_CUDA_Q8MV ("R,U": rows per block 2, 4, 8 or 16; units in flight 1 or 2), for
// timing; run 9 measured 4 rows fastest (Q4_0 462 vs 442 tok/s at 8 rows, Q4_K_M 380 vs 349); run
// 10: Q4_0 gains from 2 units in flight (492 vs 480), Q4_K_M loses (360 vs 394), Q8_0 is even.
static int q8_variant(int def) {
    const int v = cuda_tuning_get()->q8mv;
    return v >= 0 ? v : def;
}

template <class T, int RMAX>
static cudaError_t launch_matvec_q8_tuned(const cuda_weight &w, const int8_t *xq, const float2 *xds,
                                          float *y, int epi, const cuda_epi &e, int def,
                                          cudaStream_t s) {
    switch (q8_variant(def)) {
    case 0:
        return launch_matvec_q8_t<T, 4, 1>(w, xq, xds, y, epi, e, s);
    case 1:
        return launch_matvec_q8_t<T, 4, 2>(w, xq, xds, y, epi, e, s);
    case 2:
        return launch_matvec_q8_t<T, RMAX, 1>(w, xq, xds, y, epi, e, s);
    case 3:
        return launch_matvec_q8_t<T, RMAX, 2>(w, xq, xds, y, epi, e, s);
    case 4:
        return launch_matvec_q8_t<T, 2 * RMAX, 1>(w, xq, xds, y, epi, e, s);
    case 6:
        return launch_matvec_q8_t<T, 2, 1>(w, xq, xds, y, epi, e, s);
    default:
        return launch_matvec_q8_t<T, 2 * RMAX, 2>(w, xq, xds, y, epi, e, s);
    }
}

cudaError_t cuda_matvec_q8(const cuda_weight &w, const int8_t *xq, const float2 *xds, float *y,
                           int epi, const cuda_epi &e, cudaStream_t s) {
    if (!cuda_q8_ok(w)) return cudaErrorInvalidValue;
    const cudaError_t r = cuda_coal_q8(w, xq, xds, y, epi, e, s);
    if (r != cudaErrorNotSupported) return r;
    switch (w.type) {
    case LMC_TYPE_Q4_0:
        return launch_matvec_q8_tuned<t_q4_0, 8>(w, xq, xds, y, epi, e, 1, s);
    case LMC_TYPE_Q8_0:
        return launch_matvec_q8_tuned<t_q8_0, 8>(w, xq, xds, y, epi, e, 0, s);
    case LMC_TYPE_Q4_K:
        return launch_matvec_q8_tuned<t_q4_K, 8>(w, xq, xds, y, epi, e, 0, s);
    case LMC_TYPE_Q6_K:
        return launch_matvec_q8_tuned<t_q6_K, 4>(w, xq, xds, y, epi, e, 0, s);
    default:
        return cudaErrorInvalidValue;
    }
}

// ---- small batches on 8-bit activations (opt-in: LMC_CUDA_BATCH_Q8=1) --------------------------
// nb activation rows, each quantized like the one-row path (xq: nb * cols int8 in row order, xds:
// nb * cols / 32 blocks), dotted with every weight unit once it is loaded. A lane's 32 activation
// bytes per piece are adjacent to its neighbours' (a warp load covers 1 KB), so no staging is
// needed; dp4a does four products an instruction, where the f32 batched kernel is bound by its
// multiply-adds. Block shape as k_matvec: MV_WARPS warps split the units of R rows.
template <class T, int R, int NB>
__global__ void __launch_bounds__(MV_WARPS * 32)
    k_matvec_batch_q8(wparams w, const int8_t *__restrict__ xq, const float2 *__restrict__ xds,
                      int nb, float *__restrict__ y, int64_t ldy, int64_t rows, int add) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t r0 = (int64_t)blockIdx.x * R;
    const int nu = (int)(w.cols / T::UNIT), nblk = (int)(w.cols / 32);
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
            const int blk = u * (T::UNIT / 32) + p;
#pragma unroll
            for (int b = 0; b < NB; b++) {
                if (b >= nb) break;
                const int4 *xp = (const int4 *)(xq + ((int64_t)b * nblk + blk) * 32);
                const int4 x0 = xp[0], x1 = xp[1];
                const int xw[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
                const float2 ds = xds[(int64_t)b * nblk + blk];
#pragma unroll
                for (int r = 0; r < R; r++)
                    acc[r * NB + b] += q8dot<T>::dotq(a[r], p, xw, ds);
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

template <class T, int NB>
static cudaError_t launch_batch_q8_nb(const cuda_weight &w, const int8_t *xq, const float2 *xds,
                                      int nb, float *y, int64_t ldy, bool add, cudaStream_t s) {
    constexpr int R = NB >= 16 ? 2 : 4;
    const wparams p = {w.q, w.d, w.cols};
    unsigned blocks;
    int nt;
    mv_shape(w.rows, R, w.cols / T::UNIT, &blocks, &nt);
    k_matvec_batch_q8<T, R, NB><<<blocks, nt, 0, s>>>(p, xq, xds, nb, y, ldy, w.rows, add);
    return cudaGetLastError();
}

template <class T>
static cudaError_t launch_batch_q8(const cuda_weight &w, const int8_t *xq, const float2 *xds,
                                   int nb, float *y, int64_t ldy, bool add, cudaStream_t s) {
    if (nb <= 2) return launch_batch_q8_nb<T, 2>(w, xq, xds, nb, y, ldy, add, s);
    if (nb <= 4) return launch_batch_q8_nb<T, 4>(w, xq, xds, nb, y, ldy, add, s);
    if (nb <= 8) return launch_batch_q8_nb<T, 8>(w, xq, xds, nb, y, ldy, add, s);
    return launch_batch_q8_nb<T, 16>(w, xq, xds, nb, y, ldy, add, s);
}

cudaError_t cuda_matvec_batch_q8(const cuda_weight &w, const int8_t *xq, const float2 *xds, int nb,
                                 float *y, int64_t ldy, bool add, cudaStream_t s) {
    if (nb < 1 || nb > CUDA_MVB_MAX || !cuda_q8_ok(w)) return cudaErrorNotSupported;
    switch (w.type) {
    case LMC_TYPE_Q4_0:
        return launch_batch_q8<t_q4_0>(w, xq, xds, nb, y, ldy, add, s);
    case LMC_TYPE_Q8_0:
        return launch_batch_q8<t_q8_0>(w, xq, xds, nb, y, ldy, add, s);
    case LMC_TYPE_Q4_K:
        return launch_batch_q8<t_q4_K>(w, xq, xds, nb, y, ldy, add, s);
    case LMC_TYPE_Q6_K:
        return launch_batch_q8<t_q6_K>(w, xq, xds, nb, y, ldy, add, s);
    default:
        return cudaErrorNotSupported;
    }
}
