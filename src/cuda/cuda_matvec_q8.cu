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
