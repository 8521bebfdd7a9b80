// cuda_weight_types.cuh — per-type decoding of weight blocks on the device (F32, F16, BF16, Q4_0,
// Q8_0, Q4_K, Q6_K tuned; the rest generic), shared by the mat-vec, dequantize and embedding
// kernels, and TYPE_SWITCH over them. Header-only; no kernels or launches.
#ifndef LMC_CUDA_WEIGHT_TYPES_CUH
#define LMC_CUDA_WEIGHT_TYPES_CUH

#include "cuda_internal.h"

extern "C" {
#include "quant.h"
}

// ---- per-type decoding
// --------------------------------------------------------------------------- Each type class
// decodes "units" (UNIT weights a lane loads at once, several 16-byte loads) and offers dot(raw,
// piece, x[32]) and deq(raw, piece, out[32]) over 32-weight pieces of a unit, in natural weight
// order. Integer quants become floats through the 2^23 magic (0x4B000000 | q is the float 8388608 +
// q), which avoids the slow integer-to-float conversion.

struct wparams {
    const uint8_t *__restrict__ q;
    const __half *__restrict__ d;
    int64_t cols;
};

__device__ __forceinline__ float magic_byte(uint32_t w, int k) { // float(8388608 + byte k of w)
    return __int_as_float(__byte_perm(w, 0x4B000000u, 0x7440 | k));
}
__device__ __forceinline__ uint4 ldg16(const void *p) {
    return __ldg((const uint4 *)p);
}
__device__ __forceinline__ float h2f(__half h) {
    return __half2float(h);
}
__device__ __forceinline__ float f16_bits(uint32_t b) {
    return __half2float(__ushort_as_half((unsigned short)b));
}

// The f16 pair (1024 + byte k0 of w, 1024 + byte k0 + 1 of w) for k0 in {0, 2}: 0x64 above a byte
// is the f16 1024 + byte (exact for 0..255), so one byte permute widens two codes; the half2
// decoders (deqh) subtract the type's 1024 + offset (exact) and scale in f16.
__device__ __forceinline__ __half2 magic_h2(uint32_t w, int k0) {
    const uint32_t h = __byte_perm(w, 0x6464u, k0 ? 0x5342 : 0x5140);
    return *(const __half2 *)&h;
}
__device__ __forceinline__ uint32_t h2_bits(__half2 h) {
    return *(const uint32_t *)&h;
}

struct t_f32 {
    enum { UNIT = 32 };
    struct raw {
        float4 v[8];
    };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        raw r;
        const float4 *p = (const float4 *)(w.q) + (row * w.cols + (int64_t)u * 32) / 4;
#pragma unroll
        for (int i = 0; i < 8; i++)
            r.v[i] = __ldg(p + i);
        return r;
    }
    static __device__ __forceinline__ void deq(const raw &r, int, float *o) {
#pragma unroll
        for (int i = 0; i < 8; i++) {
            o[4 * i] = r.v[i].x;
            o[4 * i + 1] = r.v[i].y;
            o[4 * i + 2] = r.v[i].z;
            o[4 * i + 3] = r.v[i].w;
        }
    }
    static __device__ __forceinline__ float dot(const raw &r, int, const float *x) {
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < 8; i++)
            s += r.v[i].x * x[4 * i] + r.v[i].y * x[4 * i + 1] + r.v[i].z * x[4 * i + 2] +
                 r.v[i].w * x[4 * i + 3];
        return s;
    }
};

struct t_f16 {
    enum { UNIT = 32 };
    struct raw {
        uint4 v[4];
    };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        raw r;
        const uint4 *p = (const uint4 *)(w.q + (row * w.cols + (int64_t)u * 32) * 2);
#pragma unroll
        for (int i = 0; i < 4; i++)
            r.v[i] = ldg16(p + i);
        return r;
    }
    static __device__ __forceinline__ void deq(const raw &r, int, float *o) {
        const uint32_t *w = (const uint32_t *)r.v;
#pragma unroll
        for (int i = 0; i < 16; i++) {
            float2 f = __half22float2(*(const __half2 *)&w[i]);
            o[2 * i] = f.x;
            o[2 * i + 1] = f.y;
        }
    }
    static __device__ __forceinline__ float dot(const raw &r, int, const float *x) {
        const uint32_t *w = (const uint32_t *)r.v;
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < 16; i++) {
            float2 f = __half22float2(*(const __half2 *)&w[i]);
            s += f.x * x[2 * i] + f.y * x[2 * i + 1];
        }
        return s;
    }
};

struct t_bf16 {
    enum { UNIT = 32 };
    typedef t_f16::raw raw;
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        return t_f16::load(w, row, u);
    }
    static __device__ __forceinline__ void deq(const raw &r, int, float *o) {
        const uint32_t *w = (const uint32_t *)r.v;
#pragma unroll
        for (int i = 0; i < 16; i++) {
            o[2 * i] = __uint_as_float(w[i] << 16);
            o[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
        }
    }
    static __device__ __forceinline__ float dot(const raw &r, int, const float *x) {
        const uint32_t *w = (const uint32_t *)r.v;
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < 16; i++)
            s += __uint_as_float(w[i] << 16) * x[2 * i] +
                 __uint_as_float(w[i] & 0xFFFF0000u) * x[2 * i + 1];
        return s;
    }
};

// Blocks of 32 codes and one scale (Q4_0, Q8_0): D gives raw (with the scale d) and q(raw, j).
template <class D> struct scaled32 {
    template <class R> static __device__ __forceinline__ void deq(const R &r, int, float *o) {
#pragma unroll
        for (int j = 0; j < 32; j++)
            o[j] = D::q(r, j) * r.d;
    }
    template <class R>
    static __device__ __forceinline__ float dot(const R &r, int, const float *x) {
        float s = 0.f;
#pragma unroll
        for (int j = 0; j < 32; j++)
            s += D::q(r, j) * x[j];
        return s * r.d;
    }
    // The piece as 16 f16 pairs in natural order: (code - offset) * f16(d), one f16 rounding.
    template <class R> static __device__ __forceinline__ void deqh(const R &r, int, uint32_t *o) {
        const __half2 bias = __float2half2_rn(1024.f + D::OFFSET), d = __float2half2_rn(r.d);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const uint32_t w = D::codes(r, i);
            o[2 * i] = h2_bits(__hmul2(__hsub2(magic_h2(w, 0), bias), d));
            o[2 * i + 1] = h2_bits(__hmul2(__hsub2(magic_h2(w, 2), bias), d));
        }
    }
};

// Q4_0, split: 16 quant bytes per block; byte j holds weight j (low nibble) and j+16 (high), q-8.
struct t_q4_0 : scaled32<t_q4_0> {
    enum { UNIT = 32 };
    struct raw {
        uint4 v;
        float d;
    };
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
    enum { OFFSET = 8 };
    static __device__ __forceinline__ uint32_t codes(const raw &r, int i) { // weights 4i..4i+3
        const uint32_t word = ((const uint32_t *)&r.v)[i & 3];
        return (i < 4 ? word : word >> 4) & 0x0F0F0F0Fu;
    }
};

// Q8_0, split: 32 signed bytes per block. (b ^ 0x80) is b + 128 as an unsigned byte.
struct t_q8_0 : scaled32<t_q8_0> {
    enum { UNIT = 32 };
    struct raw {
        uint4 v[2];
        float d;
    };
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
    enum { OFFSET = 128 };
    static __device__ __forceinline__ uint32_t codes(const raw &r, int i) {
        return ((const uint32_t *)r.v)[i] ^ 0x80808080u;
    }
};

__device__ __forceinline__ uint32_t byte_of12(uint32_t a, uint32_t b, uint32_t c, int i) {
    uint32_t w = i < 4 ? a : (i < 8 ? b : c);
    return (w >> (8 * (i & 3))) & 0xFF;
}
// The 6-bit scale and min of sub-block j from the 12 packed scale bytes of Q4_K / Q5_K.
__device__ __forceinline__ void scale_min_k4(int j, uint32_t a, uint32_t b, uint32_t c, float *sc,
                                             float *m) {
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
    struct raw {
        uint4 h, a, b;
        int j;
    };
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
        for (int l = 0; l < 32; l++)
            o[l] = d1 * q(r, piece, l) - m1;
    }
    // f16 pairs: q * f16(d1) - f16(m1), one f16 rounding (fma)
    static __device__ __forceinline__ void deqh(const raw &r, int piece, uint32_t *o) {
        float d1, m1;
        scales(r, piece, &d1, &m1);
        const __half2 bias = __float2half2_rn(1024.f), d = __float2half2_rn(d1),
                      m = __float2half2_rn(-m1);
        const uint32_t *a = (const uint32_t *)&r.a, *b = (const uint32_t *)&r.b;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const uint32_t word = i < 4 ? a[i] : b[i - 4];
            const uint32_t w = (piece ? word >> 4 : word) & 0x0F0F0F0Fu;
            o[2 * i] = h2_bits(__hfma2(__hsub2(magic_h2(w, 0), bias), d, m));
            o[2 * i + 1] = h2_bits(__hfma2(__hsub2(magic_h2(w, 2), bias), d, m));
        }
    }
    static __device__ __forceinline__ float dot(const raw &r, int piece, const float *x) {
        float d1, m1, sq = 0.f, sx = 0.f;
        scales(r, piece, &d1, &m1);
#pragma unroll
        for (int l = 0; l < 32; l++) {
            sq += q(r, piece, l) * x[l];
            sx += x[l];
        }
        return d1 * sq - m1 * sx;
    }
};

// Q6_K, split: 208 bytes per block (ql[128], qh[64], scales[16]) and the f16 d apart. A unit is
// half a block (128 weights, n = u & 1): piece k takes ql[64n + 32(k&1) + l] (low nibble for k<2),
// 2 bits (qh[32n + l] >> 2k) and scale sc[8n + 2k + l/16]; q - 32.
struct t_q6_K {
    enum { UNIT = 128 };
    struct raw {
        uint4 ql[4], qh[2];
        uint2 sc;
        float d;
    };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        const int64_t b = row * (w.cols / 256) + (u >> 1);
        const int n = u & 1;
        const uint8_t *blk = w.q + b * 208;
        raw r;
#pragma unroll
        for (int i = 0; i < 4; i++)
            r.ql[i] = ldg16(blk + 64 * n + 16 * i);
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
        for (int l = 0; l < 32; l++)
            o[l] = (l < 16 ? d0 : d1) * q(r, k, l);
    }
    // f16 pairs: (code - 32) * f16(d sc), one f16 rounding
    static __device__ __forceinline__ void deqh(const raw &r, int k, uint32_t *o) {
        const __half2 bias = __float2half2_rn(1056.f), d0 = __float2half2_rn(r.d * scale(r, 2 * k)),
                      d1 = __float2half2_rn(r.d * scale(r, 2 * k + 1));
        const uint32_t *ql = (const uint32_t *)r.ql, *qh = (const uint32_t *)r.qh;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const uint32_t lw = ql[8 * (k & 1) + i];
            const uint32_t w =
                ((k < 2 ? lw : lw >> 4) & 0x0F0F0F0Fu) | (((qh[i] >> (2 * k)) & 0x03030303u) << 4);
            o[2 * i] = h2_bits(__hmul2(__hsub2(magic_h2(w, 0), bias), i < 4 ? d0 : d1));
            o[2 * i + 1] = h2_bits(__hmul2(__hsub2(magic_h2(w, 2), bias), i < 4 ? d0 : d1));
        }
    }
    static __device__ __forceinline__ float dot(const raw &r, int k, const float *x) {
        float s0 = 0.f, s1 = 0.f;
#pragma unroll
        for (int l = 0; l < 16; l++)
            s0 += q(r, k, l) * x[l];
#pragma unroll
        for (int l = 16; l < 32; l++)
            s1 += q(r, k, l) * x[l];
        return r.d * (scale(r, 2 * k) * s0 + scale(r, 2 * k + 1) * s1);
    }
};

// Remaining types, GGUF blocks decoded with byte loads one 32-weight chunk at a time: correct for
// every type, not tuned (these types are rare in the models that matter for speed).
template <int TYPE> struct t_generic {
    enum { UNIT = 32 };
    struct raw {
        const uint8_t *blk;
        int c;
    };
    enum {
        BS = (TYPE == LMC_TYPE_Q4_1 || TYPE == LMC_TYPE_Q5_0 || TYPE == LMC_TYPE_Q5_1) ? 32 : 256,
        TS = TYPE == LMC_TYPE_Q4_1   ? 20
             : TYPE == LMC_TYPE_Q5_0 ? 22
             : TYPE == LMC_TYPE_Q5_1 ? 24
             : TYPE == LMC_TYPE_Q2_K ? 84
             : TYPE == LMC_TYPE_Q3_K ? 110
                                     : 176 /* Q5_K */
    };
    static __device__ __forceinline__ raw load(const wparams &w, int64_t row, int u) {
        const int per = BS / 32;
        raw r;
        r.blk = w.q + (row * (w.cols / BS) + u / per) * TS;
        r.c = u % per;
        return r;
    }
    static __device__ __forceinline__ float f16at(const uint8_t *p) {
        return f16_bits(p[0] | (p[1] << 8));
    }
    static __device__ void deq(const raw &r, int, float *o) {
        const uint8_t *b = r.blk;
        if (TYPE == LMC_TYPE_Q4_1) {
            float d = f16at(b), m = f16at(b + 2);
            for (int j = 0; j < 16; j++) {
                o[j] = d * (b[4 + j] & 15) + m;
                o[j + 16] = d * (b[4 + j] >> 4) + m;
            }
        } else if (TYPE == LMC_TYPE_Q5_0 || TYPE == LMC_TYPE_Q5_1) {
            const bool one = TYPE == LMC_TYPE_Q5_1;
            float d = f16at(b), m = one ? f16at(b + 2) : 0.f;
            const uint8_t *qhp = b + (one ? 4 : 2), *qs = qhp + 4;
            uint32_t qh = qhp[0] | (qhp[1] << 8) | (qhp[2] << 16) | ((uint32_t)qhp[3] << 24);
            for (int j = 0; j < 16; j++) {
                int x0 = (qs[j] & 15) | (((qh >> j) << 4) & 0x10);
                int x1 = (qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
                if (one) {
                    o[j] = d * x0 + m;
                    o[j + 16] = d * x1 + m;
                } else {
                    o[j] = d * (x0 - 16);
                    o[j + 16] = d * (x1 - 16);
                }
            }
        } else if (TYPE == LMC_TYPE_Q2_K) {
            const uint8_t *sc = b, *qs = b + 16;
            float d = f16at(b + 80), dmin = f16at(b + 82);
            int n = r.c >> 2, j = r.c & 3, shift = 2 * j;
            const uint8_t *q = qs + 32 * n;
            for (int h = 0; h < 2; h++) {
                uint8_t s = sc[8 * n + 2 * j + h];
                float dl = d * (s & 0xF), ml = dmin * (s >> 4);
                for (int l = 0; l < 16; l++)
                    o[16 * h + l] = dl * ((q[16 * h + l] >> shift) & 3) - ml;
            }
        } else if (TYPE == LMC_TYPE_Q3_K) {
            const uint8_t *hm = b, *qs = b + 32, *scb = b + 96;
            float d = f16at(b + 108);
            int n = r.c >> 2, j = r.c & 3, shift = 2 * j;
            uint8_t m = (uint8_t)(1u << (4 * n + j));
            const uint8_t *q = qs + 32 * n;
            for (int h = 0; h < 2; h++) {
                int is =
                    8 * n + 2 * j +
                    h; // 6-bit scale: low 4 bits from scb[is%8] nibble, high 2 from scb[8+is%4]
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
        for (int l = 0; l < 32; l++)
            s += w[l] * x[l];
        return s;
    }
};

#define TYPE_SWITCH(type, ...)                                                                     \
    switch (type) {                                                                                \
    case LMC_TYPE_F32: {                                                                           \
        typedef t_f32 TT;                                                                          \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_F16: {                                                                           \
        typedef t_f16 TT;                                                                          \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_BF16: {                                                                          \
        typedef t_bf16 TT;                                                                         \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_Q4_0: {                                                                          \
        typedef t_q4_0 TT;                                                                         \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_Q8_0: {                                                                          \
        typedef t_q8_0 TT;                                                                         \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_Q4_K: {                                                                          \
        typedef t_q4_K TT;                                                                         \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_Q6_K: {                                                                          \
        typedef t_q6_K TT;                                                                         \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_Q4_1: {                                                                          \
        typedef t_generic<LMC_TYPE_Q4_1> TT;                                                       \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_Q5_0: {                                                                          \
        typedef t_generic<LMC_TYPE_Q5_0> TT;                                                       \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_Q5_1: {                                                                          \
        typedef t_generic<LMC_TYPE_Q5_1> TT;                                                       \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_Q2_K: {                                                                          \
        typedef t_generic<LMC_TYPE_Q2_K> TT;                                                       \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_Q3_K: {                                                                          \
        typedef t_generic<LMC_TYPE_Q3_K> TT;                                                       \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case LMC_TYPE_Q5_K: {                                                                          \
        typedef t_generic<LMC_TYPE_Q5_K> TT;                                                       \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    default:                                                                                       \
        return cudaErrorInvalidValue;                                                              \
    }

// Float weights whose rows are not a multiple of 32 (tiny models: stories260K has n_ff = 172).
__device__ __forceinline__ float float_at(uint32_t type, const uint8_t *q, int64_t i) {
    if (type == LMC_TYPE_F32) return ((const float *)q)[i];
    uint16_t b = ((const uint16_t *)q)[i];
    return type == LMC_TYPE_F16 ? f16_bits(b) : __uint_as_float((uint32_t)b << 16);
}

// Float weights whose rows take the float_at kernels.
static inline bool is_anyf(const cuda_weight &w) {
    return (w.type == LMC_TYPE_F32 || w.type == LMC_TYPE_F16 || w.type == LMC_TYPE_BF16) &&
           w.cols % 32 != 0;
}

#endif
