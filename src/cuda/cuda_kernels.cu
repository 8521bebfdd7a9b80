// cuda_kernels.cu — the GPU kernels: quantized matrix-vector products per weight type (dequantized in
// registers, 16-byte loads, R rows per warp sharing the activations; Q4_0/Q8_0/Q4_K/Q6_K also on 8-bit
// activations through dp4a), dequantization to f16 for the tensor-core prompt path, embedding lookup,
// RMSNorm, RoPE + KV store, split-context attention, SwiGLU.
// Host code that owns memory and streams lives in cuda_model.cu / cuda_ops.cu, not here.
#include "cuda_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>
#include <type_traits>

extern "C" {
#include "quant.h"
}

// ---- weight layouts ------------------------------------------------------------------------------

bool cuda_split_layout(uint32_t type, int *d_off, int *qbytes) {
    switch (type) {
    case LMC_TYPE_Q4_0: *d_off = 0; *qbytes = 16; return true;
    case LMC_TYPE_Q8_0: *d_off = 0; *qbytes = 32; return true;
    case LMC_TYPE_Q6_K: *d_off = 208; *qbytes = 208; return true;
    default: return false;
    }
}

template <int DOFF, int QB, int TS>
static void repack_split(const uint8_t *const *src, int64_t n_rows, int64_t row0, int64_t nb, uint8_t *q, uint8_t *d) {
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

void cuda_repack_rows(uint32_t type, int64_t cols, const uint8_t *const *src, int64_t n_rows, int64_t row0,
                      uint8_t *q, uint8_t *d) {
    const lmc_type_traits *tr = lmc_type_get(type);
    const int64_t nb = cols / tr->blck_size;
    const uint64_t row_bytes = (uint64_t)nb * tr->type_size;
    switch (type) {
    case LMC_TYPE_Q4_0: repack_split<0, 16, 18>(src, n_rows, row0, nb, q, d); return;
    case LMC_TYPE_Q8_0: repack_split<0, 32, 34>(src, n_rows, row0, nb, q, d); return;
    case LMC_TYPE_Q6_K: repack_split<208, 208, 210>(src, n_rows, row0, nb, q, d); return;
    default:
        for (int64_t r = 0; r < n_rows; r++) memcpy(q + (uint64_t)(row0 + r) * row_bytes, src[r], row_bytes);
    }
}

// ---- per-type decoding ---------------------------------------------------------------------------
// Each type class decodes "units" (UNIT weights a lane loads at once, several 16-byte loads) and
// offers dot(raw, piece, x[32]) and deq(raw, piece, out[32]) over 32-weight pieces of a unit, in
// natural weight order. Integer quants become floats through the 2^23 magic (0x4B000000 | q is the
// float 8388608 + q), which avoids the slow integer-to-float conversion.

struct wparams {
    const uint8_t *__restrict__ q;
    const __half *__restrict__ d;
    int64_t cols;
};

__device__ __forceinline__ float magic_byte(uint32_t w, int k) { // float(8388608 + byte k of w)
    return __int_as_float(__byte_perm(w, 0x4B000000u, 0x7440 | k));
}
__device__ __forceinline__ uint4 ldg16(const void *p) { return __ldg((const uint4 *)p); }
// Programmatic dependent launch (sm_90): a kernel launched with the programmatic-serialization
// attribute may start while its predecessor runs; pdl_wait() blocks until the predecessor finished and
// its writes are visible, so everything before it may only touch data no neighbour writes (weights).
// pdl_trigger() lets the successor start early (each block calls it once it has begun).
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}
__device__ __forceinline__ float h2f(__half h) { return __half2float(h); }
__device__ __forceinline__ float f16_bits(uint32_t b) { return __half2float(__ushort_as_half((unsigned short)b)); }

struct t_f32 {
    enum { UNIT = 32 };
    struct raw { float4 v[8]; };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        raw r;
        const float4 *p = (const float4 *)(w.q) + (row * w.cols + (int64_t)u * 32) / 4;
#pragma unroll
        for (int i = 0; i < 8; i++) r.v[i] = __ldg(p + i);
        return r;
    }
    static __device__ __forceinline__ void deq(const raw &r, int, float *o) {
#pragma unroll
        for (int i = 0; i < 8; i++) { o[4*i] = r.v[i].x; o[4*i+1] = r.v[i].y; o[4*i+2] = r.v[i].z; o[4*i+3] = r.v[i].w; }
    }
    static __device__ __forceinline__ float dot(const raw &r, int, const float *x) {
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < 8; i++) s += r.v[i].x * x[4*i] + r.v[i].y * x[4*i+1] + r.v[i].z * x[4*i+2] + r.v[i].w * x[4*i+3];
        return s;
    }
};

struct t_f16 {
    enum { UNIT = 32 };
    struct raw { uint4 v[4]; };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        raw r;
        const uint4 *p = (const uint4 *)(w.q + (row * w.cols + (int64_t)u * 32) * 2);
#pragma unroll
        for (int i = 0; i < 4; i++) r.v[i] = ldg16(p + i);
        return r;
    }
    static __device__ __forceinline__ void deq(const raw &r, int, float *o) {
        const uint32_t *w = (const uint32_t *)r.v;
#pragma unroll
        for (int i = 0; i < 16; i++) {
            float2 f = __half22float2(*(const __half2 *)&w[i]);
            o[2*i] = f.x; o[2*i+1] = f.y;
        }
    }
    static __device__ __forceinline__ float dot(const raw &r, int, const float *x) {
        const uint32_t *w = (const uint32_t *)r.v;
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < 16; i++) {
            float2 f = __half22float2(*(const __half2 *)&w[i]);
            s += f.x * x[2*i] + f.y * x[2*i+1];
        }
        return s;
    }
};

struct t_bf16 {
    enum { UNIT = 32 };
    typedef t_f16::raw raw;
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) { return t_f16::load(w, row, u); }
    static __device__ __forceinline__ void deq(const raw &r, int, float *o) {
        const uint32_t *w = (const uint32_t *)r.v;
#pragma unroll
        for (int i = 0; i < 16; i++) { o[2*i] = __uint_as_float(w[i] << 16); o[2*i+1] = __uint_as_float(w[i] & 0xFFFF0000u); }
    }
    static __device__ __forceinline__ float dot(const raw &r, int, const float *x) {
        const uint32_t *w = (const uint32_t *)r.v;
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < 16; i++) s += __uint_as_float(w[i] << 16) * x[2*i] + __uint_as_float(w[i] & 0xFFFF0000u) * x[2*i+1];
        return s;
    }
};

// Blocks of 32 codes and one scale (Q4_0, Q8_0): D gives raw (with the scale d) and q(raw, j).
template <class D> struct scaled32 {
    template <class R> static __device__ __forceinline__ void deq(const R &r, int, float *o) {
#pragma unroll
        for (int j = 0; j < 32; j++) o[j] = D::q(r, j) * r.d;
    }
    template <class R> static __device__ __forceinline__ float dot(const R &r, int, const float *x) {
        float s = 0.f;
#pragma unroll
        for (int j = 0; j < 32; j++) s += D::q(r, j) * x[j];
        return s * r.d;
    }
};

// Q4_0, split: 16 quant bytes per block; byte j holds weight j (low nibble) and j+16 (high), q-8.
struct t_q4_0 : scaled32<t_q4_0> {
    enum { UNIT = 32 };
    struct raw { uint4 v; float d; };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        const int64_t b = row * (w.cols / 32) + u;
        raw r;
        r.v = ldg16(w.q + b * 16);
        r.d = h2f(w.d[b]);
        return r;
    }
    static __device__ __forceinline__ float q(const raw &r, int j) { // j in 0..31, natural order
        const uint32_t *w = (const uint32_t *)&r.v;
        uint32_t word = w[(j & 15) >> 2];
        uint32_t nib = (j < 16 ? word : word >> 4) & 0x0F0F0F0Fu;
        return magic_byte(nib, j & 3) - 8388616.f;
    }
};

// Q8_0, split: 32 signed bytes per block. (b ^ 0x80) is b + 128 as an unsigned byte.
struct t_q8_0 : scaled32<t_q8_0> {
    enum { UNIT = 32 };
    struct raw { uint4 v[2]; float d; };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        const int64_t b = row * (w.cols / 32) + u;
        raw r;
        r.v[0] = ldg16(w.q + b * 32);
        r.v[1] = ldg16(w.q + b * 32 + 16);
        r.d = h2f(w.d[b]);
        return r;
    }
    static __device__ __forceinline__ float q(const raw &r, int j) {
        const uint32_t *w = (const uint32_t *)r.v;
        return magic_byte(w[j >> 2] ^ 0x80808080u, j & 3) - 8388736.f;
    }
};

__device__ __forceinline__ uint32_t byte_of12(uint32_t a, uint32_t b, uint32_t c, int i) {
    uint32_t w = i < 4 ? a : (i < 8 ? b : c);
    return (w >> (8 * (i & 3))) & 0xFF;
}
// The 6-bit scale and min of sub-block j from the 12 packed scale bytes of Q4_K / Q5_K.
__device__ __forceinline__ void scale_min_k4(int j, uint32_t a, uint32_t b, uint32_t c, float *sc, float *m) {
    if (j < 4) {
        *sc = (float)(byte_of12(a, b, c, j) & 63);
        *m = (float)(byte_of12(a, b, c, j + 4) & 63);
    } else {
        *sc = (float)((byte_of12(a, b, c, j + 4) & 0xF) | ((byte_of12(a, b, c, j - 4) >> 6) << 4));
        *m = (float)((byte_of12(a, b, c, j + 4) >> 4) | ((byte_of12(a, b, c, j) >> 6) << 4));
    }
}

// Q4_K, GGUF blocks (144 bytes, 16-byte aligned): a unit is 64 weights = sub-blocks 2j (low nibbles
// of qs[32j..32j+31]) and 2j+1 (high nibbles). y = d*sc*q - dmin*m.
struct t_q4_K {
    enum { UNIT = 64 };
    struct raw { uint4 h, a, b; int j; };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        const uint8_t *blk = w.q + (row * (w.cols / 256) + (u >> 2)) * 144;
        raw r;
        r.j = u & 3;
        r.h = ldg16(blk);
        r.a = ldg16(blk + 16 + 32 * r.j);
        r.b = ldg16(blk + 32 + 32 * r.j);
        return r;
    }
    static __device__ __forceinline__ float q(const raw &r, int piece, int l) {
        const uint32_t *w = l < 16 ? (const uint32_t *)&r.a : (const uint32_t *)&r.b;
        uint32_t word = w[(l & 15) >> 2];
        uint32_t nib = (piece ? word >> 4 : word) & 0x0F0F0F0Fu;
        return magic_byte(nib, l & 3) - 8388608.f;
    }
    static __device__ __forceinline__ void scales(const raw &r, int piece, float *d1, float *m1) {
        float2 dm = __half22float2(*(const __half2 *)&r.h.x);
        float sc, m;
        scale_min_k4(2 * r.j + piece, r.h.y, r.h.z, r.h.w, &sc, &m);
        *d1 = dm.x * sc;
        *m1 = dm.y * m;
    }
    static __device__ __forceinline__ void deq(const raw &r, int piece, float *o) {
        float d1, m1;
        scales(r, piece, &d1, &m1);
#pragma unroll
        for (int l = 0; l < 32; l++) o[l] = d1 * q(r, piece, l) - m1;
    }
    static __device__ __forceinline__ float dot(const raw &r, int piece, const float *x) {
        float d1, m1, sq = 0.f, sx = 0.f;
        scales(r, piece, &d1, &m1);
#pragma unroll
        for (int l = 0; l < 32; l++) { sq += q(r, piece, l) * x[l]; sx += x[l]; }
        return d1 * sq - m1 * sx;
    }
};

// Q6_K, split: 208 bytes per block (ql[128], qh[64], scales[16]) and the f16 d apart. A unit is
// half a block (128 weights, n = u & 1): piece k takes ql[64n + 32(k&1) + l] (low nibble for k<2),
// 2 bits (qh[32n + l] >> 2k) and scale sc[8n + 2k + l/16]; q - 32.
struct t_q6_K {
    enum { UNIT = 128 };
    struct raw { uint4 ql[4], qh[2]; uint2 sc; float d; };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        const int64_t b = row * (w.cols / 256) + (u >> 1);
        const int n = u & 1;
        const uint8_t *blk = w.q + b * 208;
        raw r;
#pragma unroll
        for (int i = 0; i < 4; i++) r.ql[i] = ldg16(blk + 64 * n + 16 * i);
        r.qh[0] = ldg16(blk + 128 + 32 * n);
        r.qh[1] = ldg16(blk + 144 + 32 * n);
        r.sc = __ldg((const uint2 *)(blk + 192 + 8 * n));
        r.d = h2f(w.d[b]);
        return r;
    }
    static __device__ __forceinline__ float q(const raw &r, int k, int l) {
        const uint32_t *ql = (const uint32_t *)r.ql;
        const uint32_t *qh = (const uint32_t *)r.qh;
        uint32_t lw = ql[(32 * (k & 1) + l) >> 2];
        uint32_t lo = (k < 2 ? lw : lw >> 4) & 0x0F0F0F0Fu;
        uint32_t hi = ((qh[l >> 2] >> (2 * k)) & 0x03030303u) << 4;
        return magic_byte(lo | hi, l & 3) - 8388640.f;
    }
    static __device__ __forceinline__ float scale(const raw &r, int i) { // i in 0..7
        uint32_t w = i < 4 ? r.sc.x : r.sc.y;
        return (float)(int8_t)((w >> (8 * (i & 3))) & 0xFF);
    }
    static __device__ __forceinline__ void deq(const raw &r, int k, float *o) {
        const float d0 = r.d * scale(r, 2 * k), d1 = r.d * scale(r, 2 * k + 1);
#pragma unroll
        for (int l = 0; l < 32; l++) o[l] = (l < 16 ? d0 : d1) * q(r, k, l);
    }
    static __device__ __forceinline__ float dot(const raw &r, int k, const float *x) {
        float s0 = 0.f, s1 = 0.f;
#pragma unroll
        for (int l = 0; l < 16; l++) s0 += q(r, k, l) * x[l];
#pragma unroll
        for (int l = 16; l < 32; l++) s1 += q(r, k, l) * x[l];
        return r.d * (scale(r, 2 * k) * s0 + scale(r, 2 * k + 1) * s1);
    }
};

// Remaining types, GGUF blocks decoded with byte loads one 32-weight chunk at a time: correct for
// every type, not tuned (these types are rare in the models that matter for speed).
template <int TYPE> struct t_generic {
    enum { UNIT = 32 };
    struct raw { const uint8_t *blk; int c; };
    enum {
        BS = (TYPE == LMC_TYPE_Q4_1 || TYPE == LMC_TYPE_Q5_0 || TYPE == LMC_TYPE_Q5_1) ? 32 : 256,
        TS = TYPE == LMC_TYPE_Q4_1 ? 20 : TYPE == LMC_TYPE_Q5_0 ? 22 : TYPE == LMC_TYPE_Q5_1 ? 24
           : TYPE == LMC_TYPE_Q2_K ? 84 : TYPE == LMC_TYPE_Q3_K ? 110 : 176 /* Q5_K */
    };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        const int per = BS / 32;
        raw r;
        r.blk = w.q + (row * (w.cols / BS) + u / per) * TS;
        r.c = u % per;
        return r;
    }
    static __device__ __forceinline__ float f16at(const uint8_t *p) { return f16_bits(p[0] | (p[1] << 8)); }
    static __device__ void deq(const raw &r, int, float *o) {
        const uint8_t *b = r.blk;
        if (TYPE == LMC_TYPE_Q4_1) {
            float d = f16at(b), m = f16at(b + 2);
            for (int j = 0; j < 16; j++) { o[j] = d * (b[4 + j] & 15) + m; o[j + 16] = d * (b[4 + j] >> 4) + m; }
        } else if (TYPE == LMC_TYPE_Q5_0 || TYPE == LMC_TYPE_Q5_1) {
            const bool one = TYPE == LMC_TYPE_Q5_1;
            float d = f16at(b), m = one ? f16at(b + 2) : 0.f;
            const uint8_t *qhp = b + (one ? 4 : 2), *qs = qhp + 4;
            uint32_t qh = qhp[0] | (qhp[1] << 8) | (qhp[2] << 16) | ((uint32_t)qhp[3] << 24);
            for (int j = 0; j < 16; j++) {
                int x0 = (qs[j] & 15) | (((qh >> j) << 4) & 0x10);
                int x1 = (qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
                if (one) { o[j] = d * x0 + m; o[j + 16] = d * x1 + m; }
                else { o[j] = d * (x0 - 16); o[j + 16] = d * (x1 - 16); }
            }
        } else if (TYPE == LMC_TYPE_Q2_K) {
            const uint8_t *sc = b, *qs = b + 16;
            float d = f16at(b + 80), dmin = f16at(b + 82);
            int n = r.c >> 2, j = r.c & 3, shift = 2 * j;
            const uint8_t *q = qs + 32 * n;
            for (int h = 0; h < 2; h++) {
                uint8_t s = sc[8 * n + 2 * j + h];
                float dl = d * (s & 0xF), ml = dmin * (s >> 4);
                for (int l = 0; l < 16; l++) o[16 * h + l] = dl * ((q[16 * h + l] >> shift) & 3) - ml;
            }
        } else if (TYPE == LMC_TYPE_Q3_K) {
            const uint8_t *hm = b, *qs = b + 32, *scb = b + 96;
            float d = f16at(b + 108);
            int n = r.c >> 2, j = r.c & 3, shift = 2 * j;
            uint8_t m = (uint8_t)(1u << (4 * n + j));
            const uint8_t *q = qs + 32 * n;
            for (int h = 0; h < 2; h++) {
                int is = 8 * n + 2 * j + h; // 6-bit scale: low 4 bits from scb[is%8] nibble, high 2 from scb[8+is%4]
                int lo = is < 8 ? (scb[is] & 0xF) : (scb[is - 8] >> 4);
                int hi = (scb[8 + (is & 3)] >> (2 * (is >> 2))) & 3;
                float dl = d * (float)((lo | (hi << 4)) - 32);
                for (int l = 0; l < 16; l++) {
                    int idx = 16 * h + l;
                    o[idx] = dl * (float)(((q[idx] >> shift) & 3) - ((hm[idx] & m) ? 0 : 4));
                }
            }
        } else { // Q5_K
            float d = f16at(b), dmin = f16at(b + 2);
            const uint8_t *scb = b + 4, *qh = b + 16, *qs = b + 48;
            int j = r.c >> 1, hi = r.c & 1;
            uint32_t a = scb[0] | (scb[1] << 8) | (scb[2] << 16) | ((uint32_t)scb[3] << 24);
            uint32_t bb = scb[4] | (scb[5] << 8) | (scb[6] << 16) | ((uint32_t)scb[7] << 24);
            uint32_t cc = scb[8] | (scb[9] << 8) | (scb[10] << 16) | ((uint32_t)scb[11] << 24);
            float sc, mn;
            scale_min_k4(r.c, a, bb, cc, &sc, &mn);
            float d1 = d * sc, m1 = dmin * mn;
            uint8_t bit = (uint8_t)(1u << (2 * j + hi));
            const uint8_t *ql = qs + 32 * j;
            for (int l = 0; l < 32; l++) {
                int qv = (hi ? ql[l] >> 4 : ql[l] & 0xF) + ((qh[l] & bit) ? 16 : 0);
                o[l] = d1 * qv - m1;
            }
        }
    }
    static __device__ __forceinline__ float dot(const raw &r, int piece, const float *x) {
        float w[32], s = 0.f;
        deq(r, piece, w);
#pragma unroll
        for (int l = 0; l < 32; l++) s += w[l] * x[l];
        return s;
    }
};

// ---- matrix-vector -------------------------------------------------------------------------------

#define MV_WARPS 4

// Sums each of a block's R per-lane accumulators over the block (warp shuffles, then one shared
// array); thread 0 returns true with the totals in acc, every other thread false.
template <int R>
__device__ __forceinline__ bool block_sum_rows(float (&acc)[R]) {
    __shared__ float red[MV_WARPS][R];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
        if (lane == 0) red[warp][r] = acc[r];
    }
    __syncthreads();
    if (threadIdx.x != 0) return false;
#pragma unroll
    for (int r = 0; r < R; r++) {
        float v = 0.f;
#pragma unroll
        for (int k = 0; k < MV_WARPS; k++) v += k < nw ? red[k][r] : 0.f;
        acc[r] = v;
    }
    return true;
}

template <class T, int R>
__device__ __forceinline__ void mv_unit(const typename T::raw (&rw)[R], const float *__restrict__ x, int u, float *acc) {
#pragma unroll
    for (int p = 0; p < T::UNIT / 32; p++) {
        float xv[32];
        const float4 *xp = (const float4 *)(x + (int64_t)u * T::UNIT + 32 * p);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            float4 v = xp[i];
            xv[4*i] = v.x; xv[4*i+1] = v.y; xv[4*i+2] = v.z; xv[4*i+3] = v.w;
        }
#pragma unroll
        for (int r = 0; r < R; r++) acc[r] += T::dot(rw[r], p, xv);
    }
}

// Decode-path RoPE + KV store fused into the q/k/v mat-vec: adjacent output rows are rotation pairs,
// and R is even, so one warp holds both halves of each pair.
__device__ __forceinline__ float2 rope_cs(int pos, double freq) {
    const double th = (double)pos * freq;
    const double red = th - 6.283185307179586 * rint(th * 0.15915494309189535);
    float sn, c;
    __sincosf((float)red, &sn, &c);
    return make_float2(c, sn);
}

__device__ __forceinline__ void epi_qkv_pair(const cuda_epi &e, int64_t a, float va, float vb, float *q) {
    const int pos = *e.pos;
    const int q_dim = e.n_head * e.hd, kv_dim = e.n_head_kv * e.hd;
    int64_t idx = a < q_dim ? a : (a < q_dim + kv_dim ? a - q_dim : a - q_dim - kv_dim);
    const int i = (int)(idx % e.hd) / 2;
    if (a < q_dim + kv_dim && 2 * i < e.n_rot) {
        const float2 cs = rope_cs(pos, e.freq[i]);
        const float ra = va * cs.x - vb * cs.y, rb = va * cs.y + vb * cs.x;
        va = ra;
        vb = rb;
    }
    float *dst = a < q_dim ? q + a : (a < q_dim + kv_dim ? e.k_cache : e.v_cache) + (int64_t)pos * kv_dim + idx;
    dst[0] = va;
    dst[1] = vb;
}

template <int R, int EPI>
__device__ __forceinline__ void mv_epilogue(const float *acc, int64_t r0, int64_t rows, float *y, const cuda_epi &e) {
    if (EPI == EPI_QKV) {
#pragma unroll
        for (int r = 0; r < R; r += 2)
            if (r0 + r + 1 < rows) epi_qkv_pair(e, r0 + r, acc[r], acc[r + 1], y);
    } else if (EPI == EPI_SWIGLU) {
#pragma unroll
        for (int r = 0; r < R; r += 2)
            if (r0 + r + 1 < rows) y[(r0 + r) / 2] = acc[r] / (1.f + expf(-acc[r])) * acc[r + 1];
    } else {
#pragma unroll
        for (int r = 0; r < R; r++)
            if (r0 + r < rows) {
                if (EPI == EPI_ADD) y[r0 + r] += acc[r];
                else y[r0 + r] = acc[r];
            }
    }
}

// EPI_ADD_NORM (see cuda_epi), by thread 0 with the block's R sums.
template <int R>
__device__ __forceinline__ void mv_add_norm(const float *acc, int64_t r0, int64_t rows, float *y, const cuda_epi &e) {
    float ss = 0.f;
#pragma unroll
    for (int r = 0; r < R; r++)
        if (r0 + r < rows) {
            const float v = y[r0 + r] + acc[r];
            y[r0 + r] = v;
            ss += v * v;
            e.out32[r0 + r] = v * e.nw[r0 + r];
        }
    atomicAdd(e.ss_out, (double)ss);
}

// The end of every row-blocked mat-vec: the block's partial sums meet (block_sum_rows), a folded
// RMSNorm's scale applies (e.ss), then the epilogue.
template <int R, int EPI>
__device__ __forceinline__ void mv_finish(float (&acc)[R], int64_t r0, int64_t rows, float *y, const cuda_epi &e) {
    if (!block_sum_rows<R>(acc)) return;
    if (e.ss) {
        const float sc = rsqrtf((float)(*e.ss / e.ss_n) + e.eps);
#pragma unroll
        for (int r = 0; r < R; r++) acc[r] *= sc;
    }
    if (EPI == EPI_ADD_NORM) mv_add_norm<R>(acc, r0, rows, y, e);
    else mv_epilogue<R, EPI>(acc, r0, rows, y, e);
}

// A block of MV_WARPS warps computes R rows: the warps split the row's units between them (so short
// and square matrices still put enough loads in flight), each warp's R rows share every activation
// load, and U units per lane are loaded before any is used. Partial sums meet in shared memory.
template <class T, int R, int U, int EPI>
__global__ void __launch_bounds__(MV_WARPS * 32) k_matvec(wparams w, const float *__restrict__ x,
                                                          float *__restrict__ y, int64_t rows, cuda_epi e) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t r0 = (int64_t)blockIdx.x * R;
    const int nu = (int)(w.cols / T::UNIT);
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.f;
    int64_t rr[R];
#pragma unroll
    for (int r = 0; r < R; r++) rr[r] = r0 + r < rows ? r0 + r : rows - 1;
    const int nw = blockDim.x >> 5; // warps splitting the row (<= MV_WARPS)
    const int step = 32 * nw;
    int u = lane + 32 * warp;
    pdl_trigger();
    if (U == 2) pdl_wait();
    if (U == 2) {
        for (; u + step < nu; u += 2 * step) {
            typename T::raw a[R], b[R];
#pragma unroll
            for (int r = 0; r < R; r++) a[r] = T::load(w, rr[r], u);
#pragma unroll
            for (int r = 0; r < R; r++) b[r] = T::load(w, rr[r], u + step);
            mv_unit<T, R>(a, x, u, acc);
            mv_unit<T, R>(b, x, u + step, acc);
        }
    }
    {   // the first unit's weights are loaded before waiting for the kernel that wrote x
        typename T::raw a[R];
        if (u < nu) {
#pragma unroll
            for (int r = 0; r < R; r++) a[r] = T::load(w, rr[r], u);
        }
        if (U != 2) pdl_wait();
        for (; u < nu; u += step) {
            mv_unit<T, R>(a, x, u, acc);
            if (u + step < nu) {
#pragma unroll
                for (int r = 0; r < R; r++) a[r] = T::load(w, rr[r], u + step);
            }
        }
    }
    mv_finish<R, EPI>(acc, r0, rows, y, e);
}

// LMC_CUDA_PDL=0 turns programmatic dependent launch off (for timing); on by default.
static bool pdl_on() {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("LMC_CUDA_PDL");
        v = !(e && e[0] == '0');
    }
    return v != 0;
}

// Launches a kernel that calls pdl_wait() before reading what earlier kernels wrote, allowing it to
// start during its predecessor's tail.
template <typename... KArgs, typename... Args>
static cudaError_t launch_pdl(void (*k)(KArgs...), dim3 grid, dim3 block, cudaStream_t s, Args... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.stream = s;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = at;
    cfg.numAttrs = pdl_on() ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, k, args...);
}

// Block shape of the row-blocked mat-vecs: R rows per block, MV_WARPS warps (fewer for rows of fewer
// than 32 * MV_WARPS units) splitting each row's units.
static void mv_shape(int64_t rows, int R, int64_t units, unsigned *blocks, int *threads) {
    *blocks = (unsigned)((rows + R - 1) / R);
    *threads = 32 * (int)(units >= 32 * MV_WARPS ? MV_WARPS : (units + 31) / 32);
}

// Calls f with the epilogue as a compile-time constant (std::integral_constant<int, EPI>).
template <class F> static cudaError_t epi_dispatch(int epi, F f) {
    switch (epi) {
    case EPI_ADD: return f(std::integral_constant<int, EPI_ADD>());
    case EPI_SWIGLU: return f(std::integral_constant<int, EPI_SWIGLU>());
    case EPI_QKV: return f(std::integral_constant<int, EPI_QKV>());
    case EPI_ADD_NORM: return f(std::integral_constant<int, EPI_ADD_NORM>());
    default: return f(std::integral_constant<int, EPI_STORE>());
    }
}

// Launches a row-blocked mat-vec of w (R rows per block, `units` per row, mv_shape) with the epilogue
// as a compile-time constant: kernel_of(E) names the kernel for epilogue E; args follow the weight.
template <int R, class K, class... A>
static cudaError_t launch_rows(const cuda_weight &w, int64_t units, int epi, cudaStream_t s, K kernel_of, A... args) {
    const wparams p = {w.q, w.d, w.cols};
    unsigned blocks;
    int nt;
    mv_shape(w.rows, R, units, &blocks, &nt);
    return epi_dispatch(epi, [&](auto E) { return launch_pdl(kernel_of(E), blocks, nt, s, p, args...); });
}

template <class T, int R, int U>
static cudaError_t launch_matvec_t(const cuda_weight &w, const float *x, float *y, int epi, const cuda_epi &e,
                                   cudaStream_t s) {
    return launch_rows<R>(w, w.cols / T::UNIT, epi, s, [](auto E) { return k_matvec<T, R, U, decltype(E)::value>; },
                          x, y, w.rows, e);
}

// Rows per block of the f32-activation unit kernels: LMC_CUDA_MV=4 or 8 (for timing) or the type's
// default. (A persistent, software-pipelined variant measured slower for every type in run 5 and is
// gone.)
template <class T, int RMAX>
static cudaError_t launch_matvec_tuned(const cuda_weight &w, const float *x, float *y, int epi,
                                       const cuda_epi &e, int def_rows, cudaStream_t s) {
    const char *v = getenv("LMC_CUDA_MV");
    const int rows = v && (atoi(v) == 4 || atoi(v) == RMAX) ? atoi(v) : def_rows;
    if (rows == RMAX) return launch_matvec_t<T, RMAX, 1>(w, x, y, epi, e, s);
    return launch_matvec_t<T, 4, 1>(w, x, y, epi, e, s);
}

#define TYPE_SWITCH(type, ...)                                                                      \
    switch (type) {                                                                                 \
    case LMC_TYPE_F32: { typedef t_f32 TT; __VA_ARGS__; }                                                  \
    case LMC_TYPE_F16: { typedef t_f16 TT; __VA_ARGS__; }                                                  \
    case LMC_TYPE_BF16: { typedef t_bf16 TT; __VA_ARGS__; }                                                \
    case LMC_TYPE_Q4_0: { typedef t_q4_0 TT; __VA_ARGS__; }                                                \
    case LMC_TYPE_Q8_0: { typedef t_q8_0 TT; __VA_ARGS__; }                                                \
    case LMC_TYPE_Q4_K: { typedef t_q4_K TT; __VA_ARGS__; }                                                \
    case LMC_TYPE_Q6_K: { typedef t_q6_K TT; __VA_ARGS__; }                                                \
    case LMC_TYPE_Q4_1: { typedef t_generic<LMC_TYPE_Q4_1> TT; __VA_ARGS__; }                              \
    case LMC_TYPE_Q5_0: { typedef t_generic<LMC_TYPE_Q5_0> TT; __VA_ARGS__; }                              \
    case LMC_TYPE_Q5_1: { typedef t_generic<LMC_TYPE_Q5_1> TT; __VA_ARGS__; }                              \
    case LMC_TYPE_Q2_K: { typedef t_generic<LMC_TYPE_Q2_K> TT; __VA_ARGS__; }                              \
    case LMC_TYPE_Q3_K: { typedef t_generic<LMC_TYPE_Q3_K> TT; __VA_ARGS__; }                              \
    case LMC_TYPE_Q5_K: { typedef t_generic<LMC_TYPE_Q5_K> TT; __VA_ARGS__; }                              \
    default: return cudaErrorInvalidValue;                                                          \
    }

// Float weights whose rows are not a multiple of 32 (tiny models: stories260K has n_ff = 172).
__device__ __forceinline__ float float_at(uint32_t type, const uint8_t *q, int64_t i) {
    if (type == LMC_TYPE_F32) return ((const float *)q)[i];
    uint16_t b = ((const uint16_t *)q)[i];
    return type == LMC_TYPE_F16 ? f16_bits(b) : __uint_as_float((uint32_t)b << 16);
}

__global__ void k_matvec_anyf(uint32_t type, const uint8_t *__restrict__ q, int64_t cols, const float *__restrict__ x,
                              float *__restrict__ y, int64_t rows, int epi) {
    const int lane = threadIdx.x & 31;
    const int64_t r0 = ((int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5)) * 2;
    if (r0 >= rows) return;
    float acc[2] = {0.f, 0.f};
    for (int r = 0; r < 2; r++) {
        if (r0 + r >= rows) break;
        for (int64_t i = lane; i < cols; i += 32) acc[r] += float_at(type, q, (r0 + r) * cols + i) * x[i];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
    }
    if (lane != 0) return;
    if (epi == EPI_SWIGLU) {
        if (r0 + 1 < rows) y[r0 / 2] = acc[0] / (1.f + expf(-acc[0])) * acc[1];
        return;
    }
    for (int r = 0; r < 2 && r0 + r < rows; r++) {
        if (epi == EPI_ADD) y[r0 + r] += acc[r];
        else y[r0 + r] = acc[r];
    }
}

__global__ void k_dequant_anyf(uint32_t type, const uint8_t *__restrict__ q, int64_t off, int64_t n, float *out32,
                               __half *out16) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float v = float_at(type, q, off + i);
    if (out32) out32[i] = v;
    if (out16) out16[i] = __float2half_rn(v);
}

__global__ void k_get_rows_anyf(uint32_t type, const uint8_t *__restrict__ q, int64_t cols, const int32_t *tok,
                                float *out) {
    const int t = blockIdx.x;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) out[t * cols + i] = float_at(type, q, tok[t] * cols + i);
}

// The coalesced mat-vecs (defined below with the 8-bit path); cudaErrorNotSupported where a type keeps
// the unit kernels.
static cudaError_t coal_q8(const cuda_weight &w, const int8_t *xq, const float2 *xds, float *y, int epi,
                           const cuda_epi &e, cudaStream_t s);
static cudaError_t coal_f16(const cuda_weight &w, const float *x, float *y, int epi, const cuda_epi &e,
                            cudaStream_t s);

static bool is_anyf(const cuda_weight &w) {
    return (w.type == LMC_TYPE_F32 || w.type == LMC_TYPE_F16 || w.type == LMC_TYPE_BF16) && w.cols % 32 != 0;
}

cudaError_t cuda_matvec_epi(const cuda_weight &w, const float *x, float *y, int epi, const cuda_epi &e,
                            cudaStream_t s) {
    if (is_anyf(w)) {
        if (epi == EPI_QKV || epi == EPI_ADD_NORM || e.ss) return cudaErrorInvalidValue;
        const int64_t warps = (w.rows + 1) / 2;
        k_matvec_anyf<<<(unsigned)((warps + MV_WARPS - 1) / MV_WARPS), MV_WARPS * 32, 0, s>>>(w.type, w.q, w.cols, x, y, w.rows, epi);
        return cudaGetLastError();
    }
    if (w.type == LMC_TYPE_F16) {
        const cudaError_t r = coal_f16(w, x, y, epi, e, s);
        if (r != cudaErrorNotSupported) return r;
    }
    switch (w.type) {
    case LMC_TYPE_F16: return launch_matvec_tuned<t_f16, 8>(w, x, y, epi, e, 8, s);
    case LMC_TYPE_Q4_0: return launch_matvec_tuned<t_q4_0, 8>(w, x, y, epi, e, 8, s);
    case LMC_TYPE_Q8_0: return launch_matvec_tuned<t_q8_0, 8>(w, x, y, epi, e, 8, s);
    case LMC_TYPE_Q4_K: return launch_matvec_tuned<t_q4_K, 8>(w, x, y, epi, e, 8, s);
    case LMC_TYPE_Q6_K: return launch_matvec_tuned<t_q6_K, 4>(w, x, y, epi, e, 4, s);
    default: break;
    }
    TYPE_SWITCH(w.type, return launch_matvec_t<TT, 2, 1>(w, x, y, epi, e, s));
}

cudaError_t cuda_matvec(const cuda_weight &w, const float *x, float *y, int epi, cudaStream_t s) {
    cuda_epi e = {};
    return cuda_matvec_epi(w, x, y, epi, e, s);
}

// ---- mat-vec on 8-bit activations (decode path of Q4_0, Q8_0, Q4_K, Q6_K) ------------------------
// The activation vector is quantized once per mat-vec input into blocks of 32: int8 q = rn(x * 127 /
// amax) and per block ds = (d, d * sum q) with d = amax / 127. Weight integers then meet activation
// integers through dp4a (4 products per instruction), and the activation bytes each warp reads fall
// from 128 to 40 per 32 weights. Costs the activation rounding (logits NMSE ~1e-4), nothing else.

// One warp quantizes 32 consecutive values v (lane l holds element 32*blk + l).
__device__ __forceinline__ void quant_q8_warp(float v, int lane, int64_t blk, int8_t *__restrict__ oq,
                                              float2 *__restrict__ ods) {
    float amax = fabsf(v);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float id = amax > 0.f ? __fdiv_rn(127.f, amax) : 0.f;
    const int q = __float2int_rn(v * id);
    int sq = q;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, o);
    oq[blk * 32 + lane] = (int8_t)q;
    if (lane == 0) {
        const float d = __fdiv_rn(amax, 127.f); // IEEE division even under --use_fast_math
        ods[blk] = make_float2(d, d * (float)sq);
    }
}

__global__ void k_quant_q8(const float *__restrict__ x, int64_t n, int8_t *__restrict__ oq, float2 *__restrict__ ods) {
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
    const bool type_ok = w.type == LMC_TYPE_Q4_0 || w.type == LMC_TYPE_Q8_0 || w.type == LMC_TYPE_Q4_K ||
                         w.type == LMC_TYPE_Q6_K;
    return type_ok && w.cols % unit == 0;
}

// dotq(raw, piece, xw = 32 activation int8 as 8 words, ds): the piece's dot product.
template <class T> struct q8dot;
template <> struct q8dot<t_q4_0> {
    static __device__ __forceinline__ float dotq(const t_q4_0::raw &r, int, const int *xw, float2 ds) {
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
    static __device__ __forceinline__ float dotq(const t_q8_0::raw &r, int, const int *xw, float2 ds) {
        const int *w = (const int *)r.v;
        int s = 0;
#pragma unroll
        for (int i = 0; i < 8; i++) s = __dp4a(w[i], xw[i], s);
        return r.d * ds.x * (float)s;
    }
};
template <> struct q8dot<t_q4_K> {
    static __device__ __forceinline__ float dotq(const t_q4_K::raw &r, int piece, const int *xw, float2 ds) {
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
    static __device__ __forceinline__ float dotq(const t_q6_K::raw &r, int k, const int *xw, float2 ds) {
        const uint32_t *ql = (const uint32_t *)r.ql;
        const uint32_t *qh = (const uint32_t *)r.qh;
        int s0 = 0, s1 = 0;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const uint32_t lw = ql[8 * (k & 1) + i];
            const uint32_t lo = (k < 2 ? lw : lw >> 4) & 0x0F0F0F0Fu;
            const uint32_t hi = ((qh[i] >> (2 * k)) & 0x03030303u) << 4;
            const int v = (int)__vsub4(lo | hi, 0x20202020u); // bytes q - 32, signed
            if (i < 4) s0 = __dp4a(v, xw[i], s0);
            else s1 = __dp4a(v, xw[i], s1);
        }
        return r.d * ds.x * (t_q6_K::scale(r, 2 * k) * (float)s0 + t_q6_K::scale(r, 2 * k + 1) * (float)s1);
    }
};

template <class T, int R>
__device__ __forceinline__ void mv_unit_q8(const typename T::raw (&rw)[R], const int8_t *__restrict__ xq,
                                           const float2 *__restrict__ xds, int u, float *acc) {
#pragma unroll
    for (int p = 0; p < T::UNIT / 32; p++) {
        const int64_t b = (int64_t)u * (T::UNIT / 32) + p;
        int xw[8];
        const int4 *xp = (const int4 *)(xq + b * 32);
        const int4 x0 = xp[0], x1 = xp[1];
        xw[0] = x0.x; xw[1] = x0.y; xw[2] = x0.z; xw[3] = x0.w;
        xw[4] = x1.x; xw[5] = x1.y; xw[6] = x1.z; xw[7] = x1.w;
        const float2 ds = xds[b];
#pragma unroll
        for (int r = 0; r < R; r++) acc[r] += q8dot<T>::dotq(rw[r], p, xw, ds);
    }
}

// Same block shape as k_matvec: MV_WARPS warps split the units of R rows; U units per lane in flight.
template <class T, int R, int U, int EPI>
__global__ void __launch_bounds__(MV_WARPS * 32) k_matvec_q8(wparams w, const int8_t *__restrict__ xq,
                                                             const float2 *__restrict__ xds, float *__restrict__ y,
                                                             int64_t rows, cuda_epi e) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t r0 = (int64_t)blockIdx.x * R;
    const int nu = (int)(w.cols / T::UNIT);
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.f;
    int64_t rr[R];
#pragma unroll
    for (int r = 0; r < R; r++) rr[r] = r0 + r < rows ? r0 + r : rows - 1;
    const int nw = blockDim.x >> 5;
    const int step = 32 * nw;
    int u = lane + 32 * warp;
    pdl_trigger();
    if (U == 2) {
        pdl_wait();
        for (; u + step < nu; u += 2 * step) {
            typename T::raw a[R], b[R];
#pragma unroll
            for (int r = 0; r < R; r++) a[r] = T::load(w, rr[r], u);
#pragma unroll
            for (int r = 0; r < R; r++) b[r] = T::load(w, rr[r], u + step);
            mv_unit_q8<T, R>(a, xq, xds, u, acc);
            mv_unit_q8<T, R>(b, xq, xds, u + step, acc);
        }
    }
    {   // the first unit's weights are loaded before waiting for the kernel that wrote x
        typename T::raw a[R];
        if (u < nu) {
#pragma unroll
            for (int r = 0; r < R; r++) a[r] = T::load(w, rr[r], u);
        }
        if (U != 2) pdl_wait();
        for (; u < nu; u += step) {
            mv_unit_q8<T, R>(a, xq, xds, u, acc);
            if (u + step < nu) {
#pragma unroll
                for (int r = 0; r < R; r++) a[r] = T::load(w, rr[r], u + step);
            }
        }
    }
    mv_finish<R, EPI>(acc, r0, rows, y, e);
}

template <class T, int R, int U>
static cudaError_t launch_matvec_q8_t(const cuda_weight &w, const int8_t *xq, const float2 *xds, float *y, int epi,
                                      const cuda_epi &e, cudaStream_t s) {
    return launch_rows<R>(w, w.cols / T::UNIT, epi, s,
                          [](auto E) { return k_matvec_q8<T, R, U, decltype(E)::value>; }, xq, xds, y, w.rows, e);
}

// Variant from LMC_CUDA_Q8MV ("R,U": rows per block 2, 4, 8 or 16; units in flight 1 or 2), for timing;
// run 9 measured 4 rows fastest (Q4_0 462 vs 442 tok/s at 8 rows, Q4_K_M 380 vs 349); run 10: Q4_0
// gains from 2 units in flight (492 vs 480), Q4_K_M loses (360 vs 394), Q8_0 is even.
static int q8_variant(int def) {
    static int v = -2;
    if (v == -2) {
        const char *s = getenv("LMC_CUDA_Q8MV");
        int r = 0, u = 0;
        v = -1;
        if (s && sscanf(s, "%d,%d", &r, &u) == 2) v = (r == 4 ? 0 : r == 16 ? 4 : r == 2 ? 6 : 2) + (u == 2 && r != 2 ? 1 : 0);
    }
    return v >= 0 ? v : def;
}

template <class T, int RMAX>
static cudaError_t launch_matvec_q8_tuned(const cuda_weight &w, const int8_t *xq, const float2 *xds, float *y, int epi,
                                          const cuda_epi &e, int def, cudaStream_t s) {
    switch (q8_variant(def)) {
    case 0: return launch_matvec_q8_t<T, 4, 1>(w, xq, xds, y, epi, e, s);
    case 1: return launch_matvec_q8_t<T, 4, 2>(w, xq, xds, y, epi, e, s);
    case 2: return launch_matvec_q8_t<T, RMAX, 1>(w, xq, xds, y, epi, e, s);
    case 3: return launch_matvec_q8_t<T, RMAX, 2>(w, xq, xds, y, epi, e, s);
    case 4: return launch_matvec_q8_t<T, 2 * RMAX, 1>(w, xq, xds, y, epi, e, s);
    case 6: return launch_matvec_q8_t<T, 2, 1>(w, xq, xds, y, epi, e, s);
    default: return launch_matvec_q8_t<T, 2 * RMAX, 2>(w, xq, xds, y, epi, e, s);
    }
}

cudaError_t cuda_matvec_q8(const cuda_weight &w, const int8_t *xq, const float2 *xds, float *y, int epi,
                           const cuda_epi &e, cudaStream_t s) {
    if (!cuda_q8_ok(w)) return cudaErrorInvalidValue;
    const cudaError_t r = coal_q8(w, xq, xds, y, epi, e, s);
    if (r != cudaErrorNotSupported) return r;
    switch (w.type) {
    case LMC_TYPE_Q4_0: return launch_matvec_q8_tuned<t_q4_0, 8>(w, xq, xds, y, epi, e, 1, s);
    case LMC_TYPE_Q8_0: return launch_matvec_q8_tuned<t_q8_0, 8>(w, xq, xds, y, epi, e, 0, s);
    case LMC_TYPE_Q4_K: return launch_matvec_q8_tuned<t_q4_K, 8>(w, xq, xds, y, epi, e, 0, s);
    case LMC_TYPE_Q6_K: return launch_matvec_q8_tuned<t_q6_K, 4>(w, xq, xds, y, epi, e, 0, s);
    default: return cudaErrorInvalidValue;
    }
}

// ---- coalesced mat-vec: 16 bytes of quants per lane and load ---------------------------------------
// The unit kernels above give each lane a whole 32..128-weight unit per row: 32..104 contiguous bytes
// per lane, so one warp instruction touches 32 places far apart and the line is only completed by the
// lane's next loads. Here lane g of the block takes the 16-byte chunk g (+ blockDim k) of each of its
// R rows: one warp instruction reads 512 contiguous quant bytes. Block scales (a few bytes, shared by
// the lanes of one block) ride along through the cache. A chunk type gives CW (weights per chunk),
// load (a row's chunk), xload (the chunk's activations, shared by the R rows) and dot.
struct act_in {
    const float *__restrict__ x;     // f32 activations (c_f16)
    const int8_t *__restrict__ xq;   // 8-bit activation blocks of 32 (the other chunk types)
    const float2 *__restrict__ xds;  // per block (d, d * sum q)
};

__device__ __forceinline__ int dp4a4(uint4 w, int4 x, int s) {
    s = __dp4a((int)w.x, x.x, s);
    s = __dp4a((int)w.y, x.y, s);
    s = __dp4a((int)w.z, x.z, s);
    return __dp4a((int)w.w, x.w, s);
}
__device__ __forceinline__ uint4 and4(uint4 w, uint32_t m) { return make_uint4(w.x & m, w.y & m, w.z & m, w.w & m); }
__device__ __forceinline__ uint4 shr4(uint4 w, int k) { return make_uint4(w.x >> k, w.y >> k, w.z >> k, w.w >> k); }
__device__ __forceinline__ int4 ldx16(const int8_t *p) { return __ldg((const int4 *)p); }

// F16 weights, f32 activations: 8 weights per chunk.
struct c_f16 {
    enum { CW = 8 };
    struct raw { uint4 v; };
    struct xin { float4 a, b; };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int c) {
        return raw{ldg16(w.q + (row * w.cols + (int64_t)c * 8) * 2)};
    }
    static __device__ __forceinline__ xin xload(const act_in &a, int c) {
        const float4 *p = (const float4 *)a.x + 2 * c;
        return xin{p[0], p[1]};
    }
    static __device__ __forceinline__ float dot(const raw &r, const xin &x, int) {
        const __half2 *h = (const __half2 *)&r.v;
        const float2 f0 = __half22float2(h[0]), f1 = __half22float2(h[1]), f2 = __half22float2(h[2]),
                     f3 = __half22float2(h[3]);
        return f0.x * x.a.x + f0.y * x.a.y + f1.x * x.a.z + f1.y * x.a.w + f2.x * x.b.x + f2.y * x.b.y +
               f3.x * x.b.z + f3.y * x.b.w;
    }
};

// Q8_0 (split layout): a chunk is half a block, 16 signed bytes.
struct c_q8_0 {
    enum { CW = 16 };
    struct raw { uint4 v; float d; };
    struct xin { int4 q; float d; };
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
// 64j + 32 + 16h + (0..15) (sub-block 2j+1). y = d*sc*q - dmin*m; the activation half-block sums the
// min term needs come from one dp4a with ones.
struct c_q4_K {
    enum { CW = 32 };
    struct raw { uint4 qs, hd; };
    struct xin { int4 lo, hi; float dl, dh; int sl, sh; };
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

// Q6_K (split layout, 208 bytes + d): chunk i (0..7) of a block: n = i/4 (128-weight half), p = (i/2)%2,
// l0 = 16 (i%2); its 16 bytes ql[64n + 32p + l0 ..] hold weights 128n + 32p + l0 + (0..15) (low
// nibbles, 2 high bits at qh[32n + l0 ..] >> 2p) and 128n + 64 + 32p + l0 + (0..15) (high nibbles,
// qh >> 2p + 4); scales sc[8n + 2p + l0/16] and sc[8n + 4 + 2p + l0/16]; q - 32.
struct c_q6_K {
    enum { CW = 32 };
    struct raw { uint4 ql, qh; uint2 sc; float d; };
    struct xin { int4 lo, hi; float dl, dh; };
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
        const uint4 hl = and4(shr4(r.qh, 2 * p), 0x03030303u), hh = and4(shr4(r.qh, 2 * p + 4), 0x03030303u);
        const uint4 lo = and4(r.ql, 0x0F0F0F0Fu), hi = and4(shr4(r.ql, 4), 0x0F0F0F0Fu);
        const uint4 vl = make_uint4(__vsub4(lo.x | (hl.x << 4), 0x20202020u), __vsub4(lo.y | (hl.y << 4), 0x20202020u),
                                    __vsub4(lo.z | (hl.z << 4), 0x20202020u), __vsub4(lo.w | (hl.w << 4), 0x20202020u));
        const uint4 vh = make_uint4(__vsub4(hi.x | (hh.x << 4), 0x20202020u), __vsub4(hi.y | (hh.y << 4), 0x20202020u),
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
__global__ void __launch_bounds__(MV_WARPS * 32) k_mv_coal(wparams w, act_in a, float *__restrict__ y, int64_t rows,
                                                           cuda_epi e) {
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
            for (int r = 0; r < R; r++) cur[u][r] = T::load(w, rr[r], c + u * step);
        }
    pdl_wait();
    for (; c < nc; c += U * step) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int cc = c + u * step;
            if (cc < nc) {
                const typename T::xin x = T::xload(a, cc);
#pragma unroll
                for (int r = 0; r < R; r++) acc[r] += T::dot(cur[u][r], x, cc);
                if (cc + U * step < nc) {
#pragma unroll
                    for (int r = 0; r < R; r++) cur[u][r] = T::load(w, rr[r], cc + U * step);
                }
            }
        }
    }
    mv_finish<R, EPI>(acc, r0, rows, y, e);
}

template <class T, int R, int U>
static cudaError_t launch_coal_t(const cuda_weight &w, const act_in &a, float *y, int epi, const cuda_epi &e,
                                 cudaStream_t s) {
    return launch_rows<R>(w, w.cols / T::CW, epi, s, [](auto E) { return k_mv_coal<T, R, U, decltype(E)::value>; },
                          a, y, w.rows, e);
}

// Whether a type's mat-vec takes the coalesced kernel, and its shape. Defaults from device run 13
// (H200, Mistral-7B geometry, tg128): F16 241 tok/s at 2 rows x 1 chunk (unit kernel 207), Q8_0 373
// at 4 x 2 (unit 350); Q4_0 (492 vs 502) and Q4_K (380 vs 406 for Q4_K_M) stay on the unit kernels.
// Run 15: Q6_K coalesced at 2 x 1 with Q4_K on the unit kernel: Q4_K_M 428 vs 419.
// LMC_CUDA_COAL="0": no type takes it; "R,U": every type with a chunk kernel (F16, Q8_0, Q4_K, Q6_K;
// with LMC_CUDA_COAL_ONLY=<type name> only that one) takes it with R rows per block (2, 4, 8) and U
// chunks in flight per row (1, 2). Read at
// every launch, so a test covers each variant in one process (decode is captured in a graph once).
static bool coal_choice(uint32_t type, int *R, int *U) {
    bool on = type == LMC_TYPE_F16 || type == LMC_TYPE_Q8_0 || type == LMC_TYPE_Q6_K;
    *R = type == LMC_TYPE_Q8_0 ? 4 : 2;
    *U = type == LMC_TYPE_Q8_0 ? 2 : 1; // run 27 (RMSNorm folded): Q8_0 4 x 2 438-440 tok/s, 8 x 1 440, 4 x 1 434
    const char *s = getenv("LMC_CUDA_COAL"), *only = getenv("LMC_CUDA_COAL_ONLY");
    if (s && s[0] == '0') return false;
    int r = 0, u = 0;
    const bool has_chunks = type == LMC_TYPE_F16 || type == LMC_TYPE_Q8_0 || type == LMC_TYPE_Q4_K ||
                            type == LMC_TYPE_Q6_K;
    if (has_chunks && s && sscanf(s, "%d,%d", &r, &u) == 2 && (r == 2 || r == 4 || r == 8) && (u == 1 || u == 2) &&
        (!only || !strcmp(only, lmc_type_name(type)))) {
        *R = r;
        *U = u;
        on = true;
    }
    return on;
}

template <class T>
static cudaError_t launch_coal(const cuda_weight &w, const act_in &a, float *y, int epi, const cuda_epi &e,
                               int R, int U, cudaStream_t s) {
    if (R == 2) return U == 2 ? launch_coal_t<T, 2, 2>(w, a, y, epi, e, s) : launch_coal_t<T, 2, 1>(w, a, y, epi, e, s);
    if (R == 8) return U == 2 ? launch_coal_t<T, 8, 2>(w, a, y, epi, e, s) : launch_coal_t<T, 8, 1>(w, a, y, epi, e, s);
    return U == 2 ? launch_coal_t<T, 4, 2>(w, a, y, epi, e, s) : launch_coal_t<T, 4, 1>(w, a, y, epi, e, s);
}

// The coalesced 8-bit path for Q8_0, Q4_K and Q6_K (Q4_0's unit kernel already reads 16 contiguous
// bytes per lane: run 13 measured its chunk version slower, 492 vs 502 tok/s, and it is gone).
static cudaError_t coal_q8(const cuda_weight &w, const int8_t *xq, const float2 *xds, float *y, int epi,
                           const cuda_epi &e, cudaStream_t s) {
    int R, U;
    if (!coal_choice(w.type, &R, &U)) return cudaErrorNotSupported;
    const act_in a = {NULL, xq, xds};
    switch (w.type) {
    case LMC_TYPE_Q8_0: return launch_coal<c_q8_0>(w, a, y, epi, e, R, U, s);
    case LMC_TYPE_Q4_K: return launch_coal<c_q4_K>(w, a, y, epi, e, R, U, s);
    case LMC_TYPE_Q6_K: return launch_coal<c_q6_K>(w, a, y, epi, e, R, U, s);
    default: return cudaErrorInvalidValue;
    }
}

// F16 weights on f32 activations, coalesced.
static cudaError_t coal_f16(const cuda_weight &w, const float *x, float *y, int epi, const cuda_epi &e,
                            cudaStream_t s) {
    int R, U;
    if (!coal_choice(w.type, &R, &U)) return cudaErrorNotSupported;
    const act_in a = {x, NULL, NULL};
    return launch_coal<c_f16>(w, a, y, epi, e, R, U, s);
}

// ---- dequantization, embedding rows ----------------------------------------------------------------

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
            __half2 h0 = __floats2half2_rn(o[8*j], o[8*j+1]), h1 = __floats2half2_rn(o[8*j+2], o[8*j+3]);
            __half2 h2 = __floats2half2_rn(o[8*j+4], o[8*j+5]), h3 = __floats2half2_rn(o[8*j+6], o[8*j+7]);
            v.x = *(uint32_t *)&h0; v.y = *(uint32_t *)&h1; v.z = *(uint32_t *)&h2; v.w = *(uint32_t *)&h3;
            dst[j] = v;
        }
    }
}

template <class T>
__global__ void k_dequant_f32(wparams w, int64_t rows, float *__restrict__ out) {
    const int nu = (int)(w.cols / T::UNIT);
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * nu) return;
    const int64_t r = i / nu;
    const int u = (int)(i % nu);
    typename T::raw rw = T::load(w, r, u);
#pragma unroll
    for (int p = 0; p < T::UNIT / 32; p++) T::deq(rw, p, out + r * w.cols + (int64_t)u * T::UNIT + 32 * p);
}

template <class T>
__global__ void k_get_rows(wparams w, const int32_t *__restrict__ tok, float *__restrict__ out) {
    const int t = blockIdx.x;
    const int64_t row = tok[t];
    const int nu = (int)(w.cols / T::UNIT);
    for (int u = threadIdx.x; u < nu; u += blockDim.x) {
        typename T::raw rw = T::load(w, row, u);
#pragma unroll
        for (int p = 0; p < T::UNIT / 32; p++) T::deq(rw, p, out + (int64_t)t * w.cols + (int64_t)u * T::UNIT + 32 * p);
    }
}

cudaError_t cuda_dequant_f16(const cuda_weight &w, int64_t row0, int64_t n_rows, __half *out, cudaStream_t s) {
    wparams p = {w.q, w.d, w.cols};
    if (is_anyf(w)) {
        const int64_t n = n_rows * w.cols;
        k_dequant_anyf<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(w.type, w.q, row0 * w.cols, n, NULL, out);
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

cudaError_t cuda_get_rows(const cuda_weight &w, const int32_t *tok, int n_tok, float *out, cudaStream_t s) {
    wparams p = {w.q, w.d, w.cols};
    if (is_anyf(w)) {
        k_get_rows_anyf<<<n_tok, 128, 0, s>>>(w.type, w.q, w.cols, tok, out);
        return cudaGetLastError();
    }
    TYPE_SWITCH(w.type, {
        k_get_rows<TT><<<n_tok, 128, 0, s>>>(p, tok, out);
        return cudaGetLastError();
    });
}

// ---- RMSNorm -----------------------------------------------------------------------------------

__device__ __forceinline__ float block_sum(float v, float *sh) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// oq/ods (may be NULL): the 8-bit activation blocks of the output (n % 32 == 0; every warp of the
// block then walks whole 32-element blocks together).
// One block per row. Rows up to RMS_KEEP * blockDim values keep x in registers between the two passes
// and fetch the norm weights before waiting for the kernel that wrote x (the decode path's RMSNorm is a
// one-block kernel on the critical path: each saved memory round trip counts). Each thread sums its
// values in the same order either way, so both forms give the same bits.
// Writes the normalized value v of element o + i into the outputs asked for.
__device__ __forceinline__ void rms_store(float v, int64_t oi, float *out32, __half *out16, int8_t *oq, float2 *ods) {
    if (out32) out32[oi] = v;
    if (out16) out16[oi] = __float2half_rn(v);
    if (oq) quant_q8_warp(v, threadIdx.x & 31, oi >> 5, oq, ods);
}
#define RMS_KEEP 8 // 1024 threads x 8 values: registers for a whole block; run 16: 256 or 512 threads were slower
__global__ void k_rmsnorm(const float *__restrict__ x, const float *__restrict__ w, int n, float eps,
                          float *__restrict__ out32, __half *__restrict__ out16, int8_t *__restrict__ oq,
                          float2 *__restrict__ ods) {
    __shared__ float sh[32];
    pdl_trigger();
    const float *xr = x + (int64_t)blockIdx.x * n;
    const int64_t o = (int64_t)blockIdx.x * n;
    if (n <= RMS_KEEP * (int)blockDim.x) {
        float wv[RMS_KEEP], xv[RMS_KEEP];
#pragma unroll
        for (int k = 0; k < RMS_KEEP; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            wv[k] = i < n ? w[i] : 0.f;
        }
        pdl_wait();
        float ss = 0.f;
#pragma unroll
        for (int k = 0; k < RMS_KEEP; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            xv[k] = i < n ? xr[i] : 0.f;
            if (i < n) ss += xv[k] * xv[k];
        }
        ss = block_sum(ss, sh);
        const float scale = rsqrtf(ss / n + eps);
#pragma unroll
        for (int k = 0; k < RMS_KEEP; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            if (i >= n) break; // uniform per warp when n % 32 == 0 (required with oq)
            rms_store(xv[k] * scale * wv[k], o + i, out32, out16, oq, ods);
        }
        return;
    }
    pdl_wait();
    float ss = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss, sh);
    const float scale = rsqrtf(ss / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) rms_store(xr[i] * scale * w[i], o + i, out32, out16, oq, ods);
}

cudaError_t cuda_rmsnorm(const float *x, const float *w, int n, int n_tok, float eps, float *out32,
                         __half *out16, cudaStream_t s) {
    k_rmsnorm<<<n_tok, 1024, 0, s>>>(x, w, n, eps, out32, out16, NULL, NULL);
    return cudaGetLastError();
}

cudaError_t cuda_rmsnorm_q8(const float *x, const float *w, int n, float eps, float *out32, int8_t *oq, float2 *ods,
                            cudaStream_t s) {
    if (n % 32) return cudaErrorInvalidValue;
    return launch_pdl(k_rmsnorm, dim3(1), dim3(1024), s, x, w, n, eps, out32, (__half *)NULL, oq, ods);
}

// ---- RoPE + KV store -----------------------------------------------------------------------------
// llama "normal" mode: adjacent pairs (2i, 2i+1) of each head rotate by pos * base^(-2i/n_rot).
// The angle is computed in double so large positions keep their precision under --use_fast_math.

// The angle pos * base^(-2i/n_rot) is formed and reduced modulo 2 pi in double (large positions keep
// their precision under --use_fast_math), then the fast sincos runs on [-pi, pi].
__device__ __forceinline__ void rope_angles(int n_rot, int pos, float base, float2 *cs) {
    for (int i = threadIdx.x; i < n_rot / 2; i += blockDim.x) {
        const double th = (double)pos * exp2(-2.0 * i / n_rot * log2((double)base));
        const double red = th - 6.283185307179586 * rint(th * 0.15915494309189535);
        float sn, c;
        __sincosf((float)red, &sn, &c);
        cs[i] = make_float2(c, sn);
    }
}

__device__ __forceinline__ void rope_rotate(float *p, int i, float2 cs) {
    const float a = p[2 * i], b = p[2 * i + 1];
    p[2 * i] = a * cs.x - b * cs.y;
    p[2 * i + 1] = a * cs.y + b * cs.x;
}

__global__ void k_rope_kv(float *qkv, const int32_t *pos0, int n_head, int n_head_kv, int hd, int n_rot,
                          float base, float *k_cache, float *v_cache) {
    __shared__ float2 cs[128];
    const int t = blockIdx.x;
    const int pos = *pos0 + t;
    const int kv_dim = n_head_kv * hd;
    float *row = qkv + (int64_t)t * (n_head + 2 * n_head_kv) * hd;
    const int half = n_rot / 2;
    rope_angles(n_rot, pos, base, cs);
    __syncthreads();
    for (int i = threadIdx.x; i < (n_head + n_head_kv) * half; i += blockDim.x) {
        const int h = i / half, p = i % half;
        rope_rotate(row + h * hd, p, cs[p]);
    }
    __syncthreads();
    float *kc = k_cache + (int64_t)pos * kv_dim, *vc = v_cache + (int64_t)pos * kv_dim;
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        kc[i] = row[n_head * hd + i];
        vc[i] = row[n_head * hd + kv_dim + i];
    }
}

cudaError_t cuda_rope_kv(float *qkv, int n_tok, const int32_t *pos, int n_head, int n_head_kv, int head_dim,
                         int n_rot, float base, float *k_cache, float *v_cache, cudaStream_t s) {
    k_rope_kv<<<n_tok, 256, 0, s>>>(qkv, pos, n_head, n_head_kv, head_dim, n_rot, base, k_cache, v_cache);
    return cudaGetLastError();
}

__global__ void k_rope(float *x, int n_head, int hd, int n_rot, int pos, float base) {
    __shared__ float2 cs[128];
    const int half = n_rot / 2;
    rope_angles(n_rot, pos, base, cs);
    __syncthreads();
    for (int i = threadIdx.x; i < n_head * half; i += blockDim.x) rope_rotate(x + (i / half) * hd, i % half, cs[i % half]);
}

cudaError_t cuda_rope(float *x, int n_head, int head_dim, int n_rot, int pos, float base, cudaStream_t s) {
    k_rope<<<1, 256, 0, s>>>(x, n_head, head_dim, n_rot, pos, base);
    return cudaGetLastError();
}

// ---- attention -----------------------------------------------------------------------------------
// Flash-decoding: block (head, split, token) scores CUDA_ATT_CHUNK keys, keeps its own max and sum,
// and writes an unnormalised partial output; k_att_combine merges the splits of each head.

// ATT_KT threads share one key's score (CUDA_ATT_CHUNK keys per block = one pass), and the V sum
// gives each warp CUDA_ATT_CHUNK / (ATT_THREADS / 32) keys: every load of a phase is issued before the
// first is used, so a block waits about one memory round trip per phase (decode attention is a chain of
// latencies, not of bandwidth: 32 blocks read ~128 KB each).
#define ATT_KT 4
#define ATT_THREADS (CUDA_ATT_CHUNK * ATT_KT)

__global__ void __launch_bounds__(ATT_THREADS) k_attention(const float *__restrict__ q, int q_stride,
        const int32_t *__restrict__ pos0, const float *__restrict__ kc, const float *__restrict__ vc,
        int n_head, int n_head_kv, int hd, int max_split, float *__restrict__ part, int *__restrict__ counters,
        float *__restrict__ out, int8_t *__restrict__ oq, float2 *__restrict__ ods) {
    const int h = blockIdx.x, sp = blockIdx.y, t = blockIdx.z;
    pdl_trigger();
    // *pos comes from the step's input copy, which precedes every kernel of the step; the caches'
    // rows of positions before it from earlier calls: both are read before waiting for the kernel
    // that wrote q and this call's rows.
    const int p0 = *pos0;
    const int n_kv = p0 + t + 1;
    const int start = sp * CUDA_ATT_CHUNK;
    if (start >= n_kv) return;
    const int end = min(start + CUDA_ATT_CHUNK, n_kv);
    const int kvh = h / (n_head / n_head_kv), kv_dim = n_head_kv * hd;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    // scores: ATT_KT neighbouring threads take one key, each a contiguous quarter of its dims (n4
    // float4 of it, kept in registers when at most 8)
    const int j = start + threadIdx.x / ATT_KT, part4 = threadIdx.x % ATT_KT;
    const int n4 = hd / (4 * ATT_KT);
    const bool kreg = hd % (4 * ATT_KT) == 0 && n4 <= 8;
    const float4 *k4 = (const float4 *)(kc + (int64_t)j * kv_dim + kvh * hd) + part4 * n4;
    float4 kr[8];
    if (kreg && j < end && j < p0) {
#pragma unroll
        for (int d = 0; d < 8; d++)
            if (d < n4) kr[d] = k4[d];
    }
    // values: warp w takes keys w, w + 16, ..., each lane 4 dims (hd <= 128)
    static_assert(ATT_THREADS / 32 * 8 >= CUDA_ATT_CHUNK, "8 values per warp cover a split");
    const bool vreg = (hd & 3) == 0 && hd <= 128;
    const float *vb = vc + (int64_t)start * kv_dim + kvh * hd + lane * 4;
    float4 vr[8];
    if (vreg && lane * 4 < hd) {
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int jj = warp + i * (ATT_THREADS / 32);
            if (start + jj < end && start + jj < p0) vr[i] = *(const float4 *)(vb + (int64_t)jj * kv_dim);
        }
    }
    pdl_wait();
    __shared__ float qs[256];
    __shared__ float sc[CUDA_ATT_CHUNK];
    __shared__ float red[32];
    const float scale = rsqrtf((float)hd);
    const float *qr = q + (int64_t)t * q_stride + h * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = qr[d] * scale;
    if (kreg && j < end && j >= p0) { // this call's rows
#pragma unroll
        for (int d = 0; d < 8; d++)
            if (d < n4) kr[d] = k4[d];
    }
    if (vreg && lane * 4 < hd) {
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int jj = warp + i * (ATT_THREADS / 32);
            if (start + jj < end && start + jj >= p0) vr[i] = *(const float4 *)(vb + (int64_t)jj * kv_dim);
        }
    }
    __syncthreads();
    {
        float s = 0.f;
        if (j < end) {
            if (kreg) {
                const int d0 = part4 * n4;
#pragma unroll
                for (int d = 0; d < 8; d++)
                    if (d < n4) {
                        const float *qq = qs + 4 * (d0 + d);
                        s += qq[0] * kr[d].x + qq[1] * kr[d].y + qq[2] * kr[d].z + qq[3] * kr[d].w;
                    }
            } else {
                const float *k = kc + (int64_t)j * kv_dim + kvh * hd;
                for (int d = part4; d < hd; d += ATT_KT) s += qs[d] * k[d];
            }
        }
#pragma unroll
        for (int o = 1; o < ATT_KT; o <<= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (j < end && part4 == 0) sc[j - start] = s;
    }
    __syncthreads();
    float m = -INFINITY;
    for (int j = threadIdx.x; j < end - start; j += blockDim.x) m = fmaxf(m, sc[j]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = red[0];
    for (int i = 1; i < ATT_THREADS / 32; i++) m = fmaxf(m, red[i]);
    __syncthreads();
    float l = 0.f;
    for (int j = threadIdx.x; j < end - start; j += blockDim.x) {
        float p = expf(sc[j] - m);
        sc[j] = p;
        l += p;
    }
    l = block_sum(l, red);
    __syncthreads();
    float *po = part + (((int64_t)t * n_head + h) * max_split + sp) * (hd + 2);
    if ((hd & 3) == 0 && hd <= 128) {
        // each warp takes every 16th key; lane covers 4 dims; the warps' sums meet in shared memory
        __shared__ float4 acc4[ATT_THREADS / 32][32];
        float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
        if (lane * 4 < hd && vreg) {
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const int jj = warp + i * (ATT_THREADS / 32);
                if (start + jj >= end) break;
                const float p = sc[jj];
                o.x += p * vr[i].x; o.y += p * vr[i].y; o.z += p * vr[i].z; o.w += p * vr[i].w;
            }
        } else if (lane * 4 < hd) {
            for (int jj = warp; jj < end - start; jj += ATT_THREADS / 32) {
                const float4 vv = *(const float4 *)(vb + (int64_t)jj * kv_dim);
                const float p = sc[jj];
                o.x += p * vv.x; o.y += p * vv.y; o.z += p * vv.z; o.w += p * vv.w;
            }
        }
        acc4[warp][lane] = o;
        __syncthreads();
        if (threadIdx.x < hd) {
            const int l4 = threadIdx.x >> 2, c = threadIdx.x & 3;
            float sum = 0.f;
#pragma unroll
            for (int w = 0; w < ATT_THREADS / 32; w++) sum += ((const float *)&acc4[w][l4])[c];
            if (n_kv <= CUDA_ATT_CHUNK) { // one split: no partial to publish and merge
                const float o = sum / l;
                const int64_t oi = (int64_t)t * n_head * hd + h * hd + threadIdx.x;
                out[oi] = o;
                if (oq && (hd & 31) == 0) quant_q8_warp(o, lane, oi >> 5, oq, ods); // whole warps: hd % 32 == 0
            } else {
                po[threadIdx.x] = sum;
            }
        }
        if (n_kv <= CUDA_ATT_CHUNK) return;
    } else {
        for (int d = threadIdx.x; d < hd; d += blockDim.x) {
            float o = 0.f;
            const float *v = vc + (int64_t)start * kv_dim + kvh * hd + d;
#pragma unroll 8
            for (int j = 0; j < end - start; j++) o += sc[j] * v[(int64_t)j * kv_dim];
            po[d] = o;
        }
    }
    if (threadIdx.x == 0) { po[hd] = m; po[hd + 1] = l; }
    // The last split block of this (head, token) to finish merges all splits (no combine kernel): each
    // block publishes its partial, then counts itself in; the one that sees ns - 1 before it merges.
    const int ns = (n_kv + CUDA_ATT_CHUNK - 1) / CUDA_ATT_CHUNK;
    __shared__ int is_last;
    if (ns > 1) {
        __threadfence();
        __syncthreads();
        if (threadIdx.x == 0) {
            int *cnt = counters + (int64_t)t * n_head + h;
            is_last = atomicAdd(cnt, 1) == ns - 1;
            if (is_last) *cnt = 0; // ready for the next call
        }
        __syncthreads();
        if (!is_last) return;
        __threadfence();
    } else {
        __syncthreads();
    }
    const float *p = part + ((int64_t)t * n_head + h) * max_split * (hd + 2);
    float mm = -INFINITY;
    for (int s = 0; s < ns; s++) mm = fmaxf(mm, __ldcg(p + s * (hd + 2) + hd));
    float ll = 0.f;
    for (int s = 0; s < ns; s++) ll += expf(__ldcg(p + s * (hd + 2) + hd) - mm) * __ldcg(p + s * (hd + 2) + hd + 1);
    // oq (decode, hd % 32 == 0): the output's 8-bit blocks for the next mat-vec, one warp per 32 dims
    const bool q8 = oq != NULL && (hd & 31) == 0;
    for (int d0 = 0; d0 < hd; d0 += blockDim.x) {
        const int d = d0 + threadIdx.x;
        if (q8 && d0 + (threadIdx.x & ~31) >= hd) break; // whole warps past the end leave
        float o = 0.f;
        if (d < hd) {
            for (int s = 0; s < ns; s++) o += expf(__ldcg(p + s * (hd + 2) + hd) - mm) * __ldcg(p + s * (hd + 2) + d);
            o /= ll;
            out[(int64_t)t * n_head * hd + h * hd + d] = o;
        }
        if (q8) quant_q8_warp(o, threadIdx.x & 31, ((int64_t)t * n_head * hd + h * hd + d) >> 5, oq, ods);
    }
}

cudaError_t cuda_attention(const float *q, int q_stride, int n_tok, const int32_t *pos, const float *k_cache,
                           const float *v_cache, int n_head, int n_head_kv, int head_dim, int max_split,
                           float *part, int *counters, float *out, int8_t *oq, float2 *ods, cudaStream_t s) {
    if (head_dim > 256) return cudaErrorInvalidValue;
    dim3 g(n_head, max_split, n_tok);
    return launch_pdl(k_attention, g, dim3(ATT_THREADS), s, q, q_stride, pos, k_cache, v_cache, n_head, n_head_kv,
                      head_dim, max_split, part, counters, out, oq, ods);
}

// ---- SwiGLU, conversions -------------------------------------------------------------------------

// Rows of attention scores S (row = head * nq + t, nkv keys each, already scaled): query t sits at
// position pos0 + t and sees keys 0..pos0+t. Softmax over those in place; later keys become 0.
__global__ void k_causal_softmax(float *__restrict__ S, int nq, int nkv, int pos0) {
    __shared__ float red[32];
    const int row = blockIdx.x, t = row % nq, nw = blockDim.x >> 5, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float *s = S + (int64_t)row * nkv;
    const int valid = min(nkv, pos0 + t + 1);
    float m = -INFINITY;
    for (int i = threadIdx.x; i < valid; i += blockDim.x) m = fmaxf(m, s[i]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = red[0];
    for (int k = 1; k < nw; k++) m = fmaxf(m, red[k]);
    __syncthreads();
    float sum = 0.f;
    for (int i = threadIdx.x; i < valid; i += blockDim.x) {
        const float e = expf(s[i] - m);
        s[i] = e;
        sum += e;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) red[warp] = sum;
    __syncthreads();
    sum = 0.f;
    for (int k = 0; k < nw; k++) sum += red[k];
    const float inv = 1.f / sum;
    for (int i = threadIdx.x; i < nkv; i += blockDim.x) s[i] = i < valid ? s[i] * inv : 0.f;
}

cudaError_t cuda_causal_softmax(float *S, int rows, int nq, int nkv, int pos0, cudaStream_t s) {
    k_causal_softmax<<<rows, 256, 0, s>>>(S, nq, nkv, pos0);
    return cudaGetLastError();
}

__global__ void k_swiglu(const float *__restrict__ g, int n, int row, int step, int uoff, float *out32,
                         __half *out16) {
    const int t = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float *gr = g + (int64_t)t * row + (int64_t)i * step;
    const float a = gr[0], u = gr[uoff];
    const float v = a / (1.f + expf(-a)) * u;
    if (out32) out32[(int64_t)t * n + i] = v;
    if (out16) out16[(int64_t)t * n + i] = __float2half_rn(v);
}

cudaError_t cuda_swiglu(const float *g, int n, int n_tok, int row, int step, int uoff, float *out32,
                        __half *out16, cudaStream_t s) {
    k_swiglu<<<dim3((n + 255) / 256, n_tok), 256, 0, s>>>(g, n, row, step, uoff, out32, out16);
    return cudaGetLastError();
}

__global__ void k_f32_to_f16(const float *x, int64_t n, __half *out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __float2half_rn(x[i]);
}

cudaError_t cuda_f32_to_f16(const float *x, int64_t n, __half *out, cudaStream_t s) {
    k_f32_to_f16<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(x, n, out);
    return cudaGetLastError();
}

// ---- KV shift ------------------------------------------------------------------------------------
// Copies n cache rows (n, kv_dim) of K and V into dst, turning each key by delta positions: a rotation
// by delta * freq composes with the one the key already carries.
__global__ void k_kv_rotate_copy(const float *__restrict__ ks, const float *__restrict__ vs, float *__restrict__ kd,
                                 float *__restrict__ vd, int kv_dim, int hd, int n_rot, int delta,
                                 const double *__restrict__ freq) {
    const int64_t row = blockIdx.x;
    for (int i = threadIdx.x; i < kv_dim / 2; i += blockDim.x) {
        const int64_t a = row * kv_dim + 2 * i;
        float x0 = ks[a], x1 = ks[a + 1];
        const int p = (2 * i) % hd / 2;
        if (2 * p < n_rot) {
            const float2 cs = rope_cs(delta, freq[p]);
            const float r0 = x0 * cs.x - x1 * cs.y, r1 = x0 * cs.y + x1 * cs.x;
            x0 = r0;
            x1 = r1;
        }
        kd[a] = x0;
        kd[a + 1] = x1;
        vd[a] = vs[a];
        vd[a + 1] = vs[a + 1];
    }
}

cudaError_t cuda_kv_rotate_copy(const float *k_src, const float *v_src, float *k_dst, float *v_dst, int n, int kv_dim,
                                int hd, int n_rot, int delta, const double *freq, cudaStream_t s) {
    if (n <= 0) return cudaSuccess;
    k_kv_rotate_copy<<<n, 256, 0, s>>>(k_src, v_src, k_dst, v_dst, kv_dim, hd, n_rot, delta, freq);
    return cudaGetLastError();
}
