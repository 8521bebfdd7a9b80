// cuda_matvec_coal.cu — the coalesced mat-vec (F16 on f32 activations; Q8_0, Q4_K, Q6_K on 8-bit
// ones): lanes take neighbouring 16-byte chunks of a row, and coal_choice says which types take it
// and in what shape. The unit kernels it competes with are in cuda_matvec.cu / cuda_matvec_q8.cu.
#include "cuda_matvec.cuh"

// ---- coalesced mat-vec: 16 bytes of quants per lane and load
// --------------------------------------- The unit kernels give each lane a whole 32..128-weight
// unit per row: 32..104 contiguous bytes per lane, so one warp instruction touches 32 places far
// apart and the line is only completed by the lane's next loads. Here lane g of the block takes the
// 16-byte chunk g (+ blockDim k) of each of its R rows: one warp instruction reads 512 contiguous
// quant bytes. Block scales (a few bytes, shared by the lanes of one block) ride along through the
// cache. A chunk type gives CW (weights per chunk), load (a row's chunk), xload (the chunk's
// activations, shared by the R rows) and dot.
struct act_in {
    const float *__restrict__ x;    // f32 activations (c_f16)
    const int8_t *__restrict__ xq;  // 8-bit activation blocks of 32 (the other chunk types)
    const float2 *__restrict__ xds; // per block (d, d * sum q)
};

__device__ __forceinline__ int dp4a4(uint4 w, int4 x, int s) {
    s = __dp4a((int)w.x, x.x, s);
    s = __dp4a((int)w.y, x.y, s);
    s = __dp4a((int)w.z, x.z, s);
    return __dp4a((int)w.w, x.w, s);
}
__device__ __forceinline__ uint4 and4(uint4 w, uint32_t m) {
    return make_uint4(w.x & m, w.y & m, w.z & m, w.w & m);
}
__device__ __forceinline__ uint4 shr4(uint4 w, int k) {
    return make_uint4(w.x >> k, w.y >> k, w.z >> k, w.w >> k);
}
__device__ __forceinline__ int4 ldx16(const int8_t *p) {
    return __ldg((const int4 *)p);
}

// F16 weights, f32 activations: 8 weights per chunk.
struct c_f16 {
    enum { CW = 8 };
    struct raw {
        uint4 v;
    };
    struct xin {
        float4 a, b;
    };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int c) {
        return raw{ldg16(w.q + (row * w.cols + (int64_t)c * 8) * 2)};
    }
    static __device__ __forceinline__ xin xload(const act_in &a, int c) {
        const float4 *p = (const float4 *)a.x + 2 * c;
        return xin{p[0], p[1]};
    }
    static __device__ __forceinline__ float dot(const raw &r, const xin &x, int) {
        const __half2 *h = (const __half2 *)&r.v;
        const float2 f0 = __half22float2(h[0]), f1 = __half22float2(h[1]),
                     f2 = __half22float2(h[2]), f3 = __half22float2(h[3]);
        return f0.x * x.a.x + f0.y * x.a.y + f1.x * x.a.z + f1.y * x.a.w + f2.x * x.b.x +
               f2.y * x.b.y + f3.x * x.b.z + f3.y * x.b.w;
    }
};

// Q8_0 (split layout): a chunk is half a block, 16 signed bytes.
struct c_q8_0 {
    enum { CW = 16 };
    struct raw {
        uint4 v;
        float d;
    };
    struct xin {
        int4 q;
        float d;
    };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int c) {
        const int64_t o = row * w.cols + (int64_t)c * 16;
        return raw{ldg16(w.q + o), h2f(w.d[o >> 5])};
    }
    static __device__ __forceinline__ xin xload(const act_in &a, int c) {
        return xin{ldx16(a.xq + 16 * c), a.xds[c >> 1].x};
    }
    static __device__ __forceinline__ float dot(const raw &r, const xin &x, int) {
        return r.d * x.d * (float)dp4a4(r.v, x.q, 0);
    }
};

// Q4_K (GGUF blocks of 144 bytes): chunk i (0..7) of a block is qs[16i..16i+15]; with j = i/2 and
// h = i%2 its low nibbles are weights 64j + 16h + (0..15) (sub-block 2j), its high nibbles weights
// 64j + 32 + 16h + (0..15) (sub-block 2j+1). y = d*sc*q - dmin*m; the activation half-block sums
// the min term needs come from one dp4a with ones.
struct c_q4_K {
    enum { CW = 32 };
    struct raw {
        uint4 qs, hd;
    };
    struct xin {
        int4 lo, hi;
        float dl, dh;
        int sl, sh;
    };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int c) {
        const uint8_t *blk = w.q + (row * (w.cols / 256) + (c >> 3)) * 144;
        return raw{ldg16(blk + 16 + 16 * (c & 7)), ldg16(blk)};
    }
    static __device__ __forceinline__ xin xload(const act_in &a, int c) {
        const int b = c >> 3, j = (c & 7) >> 1, h = c & 1;
        const int64_t base = (int64_t)b * 256 + 64 * j + 16 * h;
        xin x;
        x.lo = ldx16(a.xq + base);
        x.hi = ldx16(a.xq + base + 32);
        x.dl = a.xds[8 * b + 2 * j].x;
        x.dh = a.xds[8 * b + 2 * j + 1].x;
        const uint4 ones = make_uint4(0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u);
        x.sl = dp4a4(ones, x.lo, 0);
        x.sh = dp4a4(ones, x.hi, 0);
        return x;
    }
    static __device__ __forceinline__ float dot(const raw &r, const xin &x, int c) {
        const int j = (c & 7) >> 1;
        const int sl = dp4a4(and4(r.qs, 0x0F0F0F0Fu), x.lo, 0);
        const int sh = dp4a4(and4(shr4(r.qs, 4), 0x0F0F0F0Fu), x.hi, 0);
        float sc0, m0, sc1, m1;
        scale_min_k4(2 * j, r.hd.y, r.hd.z, r.hd.w, &sc0, &m0);
        scale_min_k4(2 * j + 1, r.hd.y, r.hd.z, r.hd.w, &sc1, &m1);
        const float2 dm = __half22float2(*(const __half2 *)&r.hd.x);
        return dm.x * (sc0 * x.dl * (float)sl + sc1 * x.dh * (float)sh) -
               dm.y * (m0 * x.dl * (float)x.sl + m1 * x.dh * (float)x.sh);
    }
};

// Q6_K (split layout, 208 bytes + d): chunk i (0..7) of a block: n = i/4 (128-weight half), p =
// (i/2)%2, l0 = 16 (i%2); its 16 bytes ql[64n + 32p + l0 ..] hold weights 128n + 32p + l0 + (0..15)
// (low nibbles, 2 high bits at qh[32n + l0 ..] >> 2p) and 128n + 64 + 32p + l0 + (0..15) (high
// nibbles, qh >> 2p + 4); scales sc[8n + 2p + l0/16] and sc[8n + 4 + 2p + l0/16]; q - 32.
struct c_q6_K {
    enum { CW = 32 };
    struct raw {
        uint4 ql, qh;
        uint2 sc;
        float d;
    };
    struct xin {
        int4 lo, hi;
        float dl, dh;
    };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int c) {
        const int64_t b = row * (w.cols / 256) + (c >> 3);
        const int i = c & 7, n = i >> 2, p = (i >> 1) & 1, l0 = 16 * (i & 1);
        const uint8_t *blk = w.q + b * 208;
        return raw{ldg16(blk + 64 * n + 32 * p + l0), ldg16(blk + 128 + 32 * n + l0),
                   __ldg((const uint2 *)(blk + 192 + 8 * n)), h2f(w.d[b])};
    }
    static __device__ __forceinline__ xin xload(const act_in &a, int c) {
        const int b = c >> 3, i = c & 7, n = i >> 2, p = (i >> 1) & 1, l0 = 16 * (i & 1);
        const int64_t base = (int64_t)b * 256 + 128 * n + 32 * p + l0;
        return xin{ldx16(a.xq + base), ldx16(a.xq + base + 64), a.xds[8 * b + 4 * n + p].x,
                   a.xds[8 * b + 4 * n + 2 + p].x};
    }
    static __device__ __forceinline__ float dot(const raw &r, const xin &x, int c) {
        const int i = c & 7, p = (i >> 1) & 1, hs = i & 1;
        const uint4 hl = and4(shr4(r.qh, 2 * p), 0x03030303u),
                    hh = and4(shr4(r.qh, 2 * p + 4), 0x03030303u);
        const uint4 lo = and4(r.ql, 0x0F0F0F0Fu), hi = and4(shr4(r.ql, 4), 0x0F0F0F0Fu);
        const uint4 vl = make_uint4(
            __vsub4(lo.x | (hl.x << 4), 0x20202020u), __vsub4(lo.y | (hl.y << 4), 0x20202020u),
            __vsub4(lo.z | (hl.z << 4), 0x20202020u), __vsub4(lo.w | (hl.w << 4), 0x20202020u));
        const uint4 vh = make_uint4(
            __vsub4(hi.x | (hh.x << 4), 0x20202020u), __vsub4(hi.y | (hh.y << 4), 0x20202020u),
            __vsub4(hi.z | (hh.z << 4), 0x20202020u), __vsub4(hi.w | (hh.w << 4), 0x20202020u));
        const int s_lo = dp4a4(vl, x.lo, 0), s_hi = dp4a4(vh, x.hi, 0);
        const int kl = 2 * p + hs, kh = 4 + 2 * p + hs; // scale bytes within this half's 8
        const float scl = (float)(int8_t)(((kl < 4 ? r.sc.x : r.sc.y) >> (8 * (kl & 3))) & 0xFF);
        const float sch = (float)(int8_t)(((kh < 4 ? r.sc.x : r.sc.y) >> (8 * (kh & 3))) & 0xFF);
        return r.d * (scl * x.dl * (float)s_lo + sch * x.dh * (float)s_hi);
    }
};

// R rows per block of MV_WARPS warps; each lane keeps U chunks of every row in flight. The first
// chunks' weights are requested before waiting for the kernel that wrote the activations.
template <class T, int R, int U, int EPI>
__global__ void __launch_bounds__(MV_WARPS * 32)
    k_mv_coal(wparams w, act_in a, float *__restrict__ y, int64_t rows, cuda_epi e) {
    const int64_t r0 = (int64_t)blockIdx.x * R;
    const int nc = (int)(w.cols / T::CW), step = blockDim.x;
    float acc[R];
    int64_t rr[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        acc[r] = 0.f;
        rr[r] = r0 + r < rows ? r0 + r : rows - 1;
    }
    pdl_trigger();
    typename T::raw cur[U][R];
    int c = threadIdx.x;
#pragma unroll
    for (int u = 0; u < U; u++)
        if (c + u * step < nc) {
#pragma unroll
            for (int r = 0; r < R; r++)
                cur[u][r] = T::load(w, rr[r], c + u * step);
        }
    pdl_wait();
    for (; c < nc; c += U * step) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int cc = c + u * step;
            if (cc < nc) {
                const typename T::xin x = T::xload(a, cc);
#pragma unroll
                for (int r = 0; r < R; r++)
                    acc[r] += T::dot(cur[u][r], x, cc);
                if (cc + U * step < nc) {
#pragma unroll
                    for (int r = 0; r < R; r++)
                        cur[u][r] = T::load(w, rr[r], cc + U * step);
                }
            }
        }
    }
    mv_finish<R, EPI>(acc, r0, rows, y, e);
}

template <class T, int R, int U>
static cudaError_t launch_coal_t(const cuda_weight &w, const act_in &a, float *y, int epi,
                                 const cuda_epi &e, cudaStream_t s) {
    return launch_rows<R>(
        w, w.cols / T::CW, epi, s, [](auto E) { return k_mv_coal<T, R, U, decltype(E)::value>; }, a,
        y, w.rows, e);
}

// Whether a type's mat-vec takes the coalesced kernel, and its shape. Defaults from device run 13
// (H200, Mistral-7B geometry, tg128): F16 241 tok/s at 2 rows x 1 chunk (unit kernel 207), Q8_0 373
// at 4 x 2 (unit 350); Q4_0 (492 vs 502) and Q4_K (380 vs 406 for Q4_K_M) stay on the unit kernels.
// Run 15: Q6_K coalesced at 2 x 1 with Q4_K on the unit kernel: Q4_K_M 428 vs 419.
// LMC_CUDA_COAL="0": no type takes it; "R,U": every type with a chunk kernel (F16, Q8_0, Q4_K,
// Q6_K; with LMC_CUDA_COAL_ONLY=<type name> only that one) takes it with R rows per block (2, 4, 8)
// and U chunks in flight per row (1, 2). Read once per process (cuda_tuning.h); the op test walks
// the variants through cuda_tuning_reload.
static bool coal_choice(uint32_t type, int *R, int *U) {
    const cuda_tuning &t = *cuda_tuning_get();
    bool on = type == LMC_TYPE_F16 || type == LMC_TYPE_Q8_0 || type == LMC_TYPE_Q6_K;
    *R = type == LMC_TYPE_Q8_0 ? 4 : 2;
    *U = type == LMC_TYPE_Q8_0
             ? 2
             : 1; // run 27 (RMSNorm folded): Q8_0 4 x 2 438-440 tok/s, 8 x 1 440, 4 x 1 434
    if (t.coal_off) return false;
    const bool has_chunks = type == LMC_TYPE_F16 || type == LMC_TYPE_Q8_0 ||
                            type == LMC_TYPE_Q4_K || type == LMC_TYPE_Q6_K;
    if (has_chunks && t.coal_r && ((t.coal_types >> type) & 1)) {
        *R = t.coal_r;
        *U = t.coal_u;
        on = true;
    }
    return on;
}

template <class T>
static cudaError_t launch_coal(const cuda_weight &w, const act_in &a, float *y, int epi,
                               const cuda_epi &e, int R, int U, cudaStream_t s) {
    if (R == 2)
        return U == 2 ? launch_coal_t<T, 2, 2>(w, a, y, epi, e, s)
                      : launch_coal_t<T, 2, 1>(w, a, y, epi, e, s);
    if (R == 8)
        return U == 2 ? launch_coal_t<T, 8, 2>(w, a, y, epi, e, s)
                      : launch_coal_t<T, 8, 1>(w, a, y, epi, e, s);
    return U == 2 ? launch_coal_t<T, 4, 2>(w, a, y, epi, e, s)
                  : launch_coal_t<T, 4, 1>(w, a, y, epi, e, s);
}

// The coalesced 8-bit path for Q8_0, Q4_K and Q6_K (Q4_0's unit kernel already reads 16 contiguous
// bytes per lane: run 13 measured its chunk version slower, 492 vs 502 tok/s, and it is gone).
cudaError_t cuda_coal_q8(const cuda_weight &w, const int8_t *xq, const float2 *xds, float *y,
                         int epi, const cuda_epi &e, cudaStream_t s) {
    int R, U;
    if (!coal_choice(w.type, &R, &U)) return cudaErrorNotSupported;
    const act_in a = {NULL, xq, xds};
    switch (w.type) {
    case LMC_TYPE_Q8_0:
        return launch_coal<c_q8_0>(w, a, y, epi, e, R, U, s);
    case LMC_TYPE_Q4_K:
        return launch_coal<c_q4_K>(w, a, y, epi, e, R, U, s);
    case LMC_TYPE_Q6_K:
        return launch_coal<c_q6_K>(w, a, y, epi, e, R, U, s);
    default:
        return cudaErrorInvalidValue;
    }
}

// F16 weights on f32 activations, coalesced.
cudaError_t cuda_coal_f16(const cuda_weight &w, const float *x, float *y, int epi,
                          const cuda_epi &e, cudaStream_t s) {
    int R, U;
    if (!coal_choice(w.type, &R, &U)) return cudaErrorNotSupported;
    const act_in a = {x, NULL, NULL};
    return launch_coal<c_f16>(w, a, y, epi, e, R, U, s);
}
