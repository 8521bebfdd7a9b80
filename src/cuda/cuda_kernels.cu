// cuda_kernels.cu — the GPU kernels: quantized matrix-vector products per weight type (dequantized in
// registers, 16-byte loads, R rows per warp sharing the activations), dequantization to f16 for the
// tensor-core prompt path, embedding lookup, RMSNorm, RoPE + KV store, split-context attention, SwiGLU.
// Host code that owns memory and streams lives in cuda_model.cu / cuda_ops.cu, not here.
#include "cuda_internal.h"
#include <string.h>

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

void cuda_repack_rows(uint32_t type, int64_t cols, const uint8_t *const *src, int64_t n_rows, int64_t row0,
                      uint8_t *q, uint8_t *d) {
    const lmc_type_traits *tr = lmc_type_get(type);
    const int64_t nb = cols / tr->blck_size;
    const uint64_t row_bytes = (uint64_t)nb * tr->type_size;
    int d_off, qbytes;
    if (!cuda_split_layout(type, &d_off, &qbytes)) {
        for (int64_t r = 0; r < n_rows; r++) memcpy(q + (uint64_t)(row0 + r) * row_bytes, src[r], row_bytes);
        return;
    }
    for (int64_t r = 0; r < n_rows; r++) {
        const uint8_t *s = src[r];
        uint8_t *qo = q + (uint64_t)(row0 + r) * nb * qbytes;
        uint8_t *dout = d + (uint64_t)(row0 + r) * nb * 2;
        for (int64_t b = 0; b < nb; b++, s += tr->type_size) {
            memcpy(dout + 2 * b, s + d_off, 2);
            if (d_off == 0) memcpy(qo + b * qbytes, s + 2, qbytes);
            else memcpy(qo + b * qbytes, s, qbytes);
        }
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

// Q4_0, split: 16 quant bytes per block; byte j holds weight j (low nibble) and j+16 (high), q-8.
struct t_q4_0 {
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
    static __device__ __forceinline__ void deq(const raw &r, int, float *o) {
#pragma unroll
        for (int j = 0; j < 32; j++) o[j] = q(r, j) * r.d;
    }
    static __device__ __forceinline__ float dot(const raw &r, int, const float *x) {
        float s = 0.f;
#pragma unroll
        for (int j = 0; j < 32; j++) s += q(r, j) * x[j];
        return s * r.d;
    }
};

// Q8_0, split: 32 signed bytes per block. (b ^ 0x80) is b + 128 as an unsigned byte.
struct t_q8_0 {
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
    static __device__ __forceinline__ void deq(const raw &r, int, float *o) {
#pragma unroll
        for (int j = 0; j < 32; j++) o[j] = q(r, j) * r.d;
    }
    static __device__ __forceinline__ float dot(const raw &r, int, const float *x) {
        float s = 0.f;
#pragma unroll
        for (int j = 0; j < 32; j++) s += q(r, j) * x[j];
        return s * r.d;
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

template <class T, int R, int EPI>
__global__ void __launch_bounds__(MV_WARPS * 32) k_matvec(wparams w, const float *__restrict__ x,
                                                          float *__restrict__ y, int64_t rows) {
    const int lane = threadIdx.x & 31;
    const int64_t r0 = ((int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5)) * R;
    if (r0 >= rows) return;
    const int nu = (int)(w.cols / T::UNIT);
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.f;
    for (int u = lane; u < nu; u += 32) {
        typename T::raw rw[R];
#pragma unroll
        for (int r = 0; r < R; r++) rw[r] = T::load(w, r0 + r < rows ? r0 + r : rows - 1, u);
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
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
    }
    if (lane != 0) return;
    if (EPI == EPI_SWIGLU) {
#pragma unroll
        for (int r = 0; r < R; r += 2) {
            if (r0 + r + 1 < rows) {
                float g = acc[r];
                y[(r0 + r) / 2] = g / (1.f + expf(-g)) * acc[r + 1];
            }
        }
    } else {
#pragma unroll
        for (int r = 0; r < R; r++) {
            if (r0 + r < rows) {
                if (EPI == EPI_ADD) y[r0 + r] += acc[r];
                else y[r0 + r] = acc[r];
            }
        }
    }
}

template <class T, int R>
static cudaError_t launch_matvec_t(const cuda_weight &w, const float *x, float *y, int epi, cudaStream_t s) {
    wparams p = {w.q, w.d, w.cols};
    const int64_t warps = (w.rows + R - 1) / R;
    const unsigned blocks = (unsigned)((warps + MV_WARPS - 1) / MV_WARPS);
    if (epi == EPI_ADD) k_matvec<T, R, EPI_ADD><<<blocks, MV_WARPS * 32, 0, s>>>(p, x, y, w.rows);
    else if (epi == EPI_SWIGLU) k_matvec<T, R, EPI_SWIGLU><<<blocks, MV_WARPS * 32, 0, s>>>(p, x, y, w.rows);
    else k_matvec<T, R, EPI_STORE><<<blocks, MV_WARPS * 32, 0, s>>>(p, x, y, w.rows);
    return cudaGetLastError();
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

static bool is_anyf(const cuda_weight &w) {
    return (w.type == LMC_TYPE_F32 || w.type == LMC_TYPE_F16 || w.type == LMC_TYPE_BF16) && w.cols % 32 != 0;
}

cudaError_t cuda_matvec(const cuda_weight &w, const float *x, float *y, int epi, cudaStream_t s) {
    if (is_anyf(w)) {
        const int64_t warps = (w.rows + 1) / 2;
        k_matvec_anyf<<<(unsigned)((warps + MV_WARPS - 1) / MV_WARPS), MV_WARPS * 32, 0, s>>>(w.type, w.q, w.cols, x, y, w.rows, epi);
        return cudaGetLastError();
    }
    TYPE_SWITCH(w.type, return launch_matvec_t<TT, 2>(w, x, y, epi, s));
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
        __half2 *dst = (__half2 *)(out + r * w.cols + (int64_t)u * T::UNIT + 32 * p);
#pragma unroll
        for (int j = 0; j < 16; j++) dst[j] = __floats2half2_rn(o[2*j], o[2*j+1]);
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

__global__ void k_rmsnorm(const float *__restrict__ x, const float *__restrict__ w, int n, float eps,
                          float *__restrict__ out32, __half *__restrict__ out16) {
    __shared__ float sh[32];
    const float *xr = x + (int64_t)blockIdx.x * n;
    float ss = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss, sh);
    const float scale = rsqrtf(ss / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = xr[i] * scale * w[i];
        if (out32) out32[(int64_t)blockIdx.x * n + i] = v;
        if (out16) out16[(int64_t)blockIdx.x * n + i] = __float2half_rn(v);
    }
}

cudaError_t cuda_rmsnorm(const float *x, const float *w, int n, int n_tok, float eps, float *out32,
                         __half *out16, cudaStream_t s) {
    k_rmsnorm<<<n_tok, 512, 0, s>>>(x, w, n, eps, out32, out16);
    return cudaGetLastError();
}

// ---- RoPE + KV store -----------------------------------------------------------------------------
// llama "normal" mode: adjacent pairs (2i, 2i+1) of each head rotate by pos * base^(-2i/n_rot).
// The angle is computed in double so large positions keep their precision under --use_fast_math.

__device__ __forceinline__ void rope_pair(float *p, int i, int n_rot, int pos, float base) {
    const double theta = (double)pos * pow((double)base, -2.0 * i / n_rot);
    double sd, cd;
    sincos(theta, &sd, &cd);
    const float c = (float)cd, sn = (float)sd;
    const float a = p[2 * i], b = p[2 * i + 1];
    p[2 * i] = a * c - b * sn;
    p[2 * i + 1] = a * sn + b * c;
}

__global__ void k_rope_kv(float *qkv, const int32_t *pos0, int n_head, int n_head_kv, int hd, int n_rot,
                          float base, float *k_cache, float *v_cache) {
    const int t = blockIdx.x;
    const int pos = *pos0 + t;
    const int kv_dim = n_head_kv * hd;
    float *row = qkv + (int64_t)t * (n_head + 2 * n_head_kv) * hd;
    const int half = n_rot / 2;
    for (int i = threadIdx.x; i < (n_head + n_head_kv) * half; i += blockDim.x) {
        const int h = i / half, p = i % half;
        rope_pair(row + h * hd, p, n_rot, pos, base);
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
    const int half = n_rot / 2;
    for (int i = threadIdx.x; i < n_head * half; i += blockDim.x) rope_pair(x + (i / half) * hd, i % half, n_rot, pos, base);
}

cudaError_t cuda_rope(float *x, int n_head, int head_dim, int n_rot, int pos, float base, cudaStream_t s) {
    k_rope<<<1, 256, 0, s>>>(x, n_head, head_dim, n_rot, pos, base);
    return cudaGetLastError();
}

// ---- attention -----------------------------------------------------------------------------------
// Flash-decoding: block (head, split, token) scores CUDA_ATT_CHUNK keys, keeps its own max and sum,
// and writes an unnormalised partial output; k_att_combine merges the splits of each head.

#define ATT_THREADS 128

__global__ void __launch_bounds__(ATT_THREADS) k_attention(const float *__restrict__ q, int q_stride,
        const int32_t *__restrict__ pos0, const float *__restrict__ kc, const float *__restrict__ vc,
        int n_head, int n_head_kv, int hd, int max_split, float *__restrict__ part) {
    const int h = blockIdx.x, sp = blockIdx.y, t = blockIdx.z;
    const int n_kv = *pos0 + t + 1;
    const int start = sp * CUDA_ATT_CHUNK;
    if (start >= n_kv) return;
    const int end = min(start + CUDA_ATT_CHUNK, n_kv);
    const int kvh = h / (n_head / n_head_kv), kv_dim = n_head_kv * hd;
    __shared__ float qs[256];
    __shared__ float sc[CUDA_ATT_CHUNK];
    __shared__ float red[32];
    const float scale = rsqrtf((float)hd);
    const float *qr = q + (int64_t)t * q_stride + h * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = qr[d] * scale;
    __syncthreads();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int j = start + warp; j < end; j += ATT_THREADS / 32) {
        const float *k = kc + (int64_t)j * kv_dim + kvh * hd;
        float s = 0.f;
        for (int d = lane; d < hd; d += 32) s += qs[d] * k[d];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) sc[j - start] = s;
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
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.f;
        const float *v = vc + (int64_t)start * kv_dim + kvh * hd + d;
        for (int j = 0; j < end - start; j++) o += sc[j] * v[(int64_t)j * kv_dim];
        po[d] = o;
    }
    if (threadIdx.x == 0) { po[hd] = m; po[hd + 1] = l; }
}

__global__ void k_att_combine(const float *__restrict__ part, const int32_t *__restrict__ pos0, int n_head,
                              int hd, int max_split, float *__restrict__ out) {
    const int h = blockIdx.x, t = blockIdx.y;
    const int n_kv = *pos0 + t + 1;
    const int ns = (n_kv + CUDA_ATT_CHUNK - 1) / CUDA_ATT_CHUNK;
    const float *p = part + ((int64_t)t * n_head + h) * max_split * (hd + 2);
    float m = -INFINITY;
    for (int s = 0; s < ns; s++) m = fmaxf(m, p[s * (hd + 2) + hd]);
    float l = 0.f;
    for (int s = 0; s < ns; s++) l += expf(p[s * (hd + 2) + hd] - m) * p[s * (hd + 2) + hd + 1];
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.f;
        for (int s = 0; s < ns; s++) o += expf(p[s * (hd + 2) + hd] - m) * p[s * (hd + 2) + d];
        out[(int64_t)t * n_head * hd + h * hd + d] = o / l;
    }
}

cudaError_t cuda_attention(const float *q, int q_stride, int n_tok, const int32_t *pos, const float *k_cache,
                           const float *v_cache, int n_head, int n_head_kv, int head_dim, int max_split,
                           float *part, float *out, cudaStream_t s) {
    if (head_dim > 256) return cudaErrorInvalidValue;
    dim3 g(n_head, max_split, n_tok);
    k_attention<<<g, ATT_THREADS, 0, s>>>(q, q_stride, pos, k_cache, v_cache, n_head, n_head_kv, head_dim,
                                         max_split, part);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    k_att_combine<<<dim3(n_head, n_tok), 128, 0, s>>>(part, pos, n_head, head_dim, max_split, out);
    return cudaGetLastError();
}

// ---- SwiGLU, conversions -------------------------------------------------------------------------

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
