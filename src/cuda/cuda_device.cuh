// cuda_device.cuh — device helpers several kernel families share: block-wide sums, the 8-bit
// quantizing of a warp's 32 values, GELU-tanh, the soft-cap, and RoPE's cosine and sine and the
// turn of one pair (fast, or exactly as the CPU turns it). Header-only and forceinline (the kernels
// are built without relocatable device code); no kernels here.
#ifndef LMC_CUDA_DEVICE_CUH
#define LMC_CUDA_DEVICE_CUH

#include "cuda_internal.h"

// The sum of v (float or double) over the block, for every thread (blockDim.x a multiple of 32; sh:
// 32 values of shared memory).
template <typename T> __device__ __forceinline__ T block_sum(T v, T *sh) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : (T)0;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// One warp quantizes 32 consecutive values v (lane l holds element 32*blk + l).
__device__ __forceinline__ void quant_q8_warp(float v, int lane, int64_t blk,
                                              int8_t *__restrict__ oq, float2 *__restrict__ ods) {
    float amax = fabsf(v);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float id = amax > 0.f ? __fdiv_rn(127.f, amax) : 0.f;
    const int q = __float2int_rn(v * id);
    int sq = q;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        sq += __shfl_xor_sync(0xffffffffu, sq, o);
    oq[blk * 32 + lane] = (int8_t)q;
    if (lane == 0) {
        const float d = __fdiv_rn(amax, 127.f); // IEEE division even under --use_fast_math
        ods[blk] = make_float2(d, d * (float)sq);
    }
}

// Gemma's folded post-norm at value i of a row, sp = 1 / sqrt(sum of squares / n + eps) of the
// block output y: hout[i] = h + y * sp * wp, then the next RMSNorm's producer side out32[i] =
// hout[i] * wn and, with oq, its 8-bit block (the whole warp: lanes hold 32 consecutive values).
// Returns the warp's sum of the new h^2, in float (for k_post_add_fold).
__device__ __forceinline__ float post_fold_one(float h, float y, float sp, float wp, float wn,
                                               int i, int lane, float *hout, float *out32,
                                               int8_t *oq, float2 *ods) {
    const float hv = h + y * sp * wp;
    hout[i] = hv;
    const float v = hv * wn;
    out32[i] = v;
    if (oq) quant_q8_warp(v, lane, i >> 5, oq, ods);
    float s2 = hv * hv;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        s2 += __shfl_xor_sync(0xffffffffu, s2, o);
    return s2;
}

// gelu_tanh(a), as cpu_geglu_tanh computes it (the gated GELU of gemma's FFN).
__device__ __forceinline__ float gelu_tanh(float a) {
    const float k = 0.79788456080286535588f; // sqrt(2/pi)
    return 0.5f * a * (1.0f + tanhf(k * a * (1.0f + 0.044715f * a * a)));
}

// cap * tanh(x / cap): gemma2's soft-cap of attention scores and logits.
__device__ __forceinline__ float softcap_of(float x, float cap) {
    return cap * tanhf(x * (1.0f / cap));
}

// cos and sin of pos * freq: the angle is formed and reduced modulo 2 pi in double (large positions
// keep their precision under --use_fast_math), then the fast sincos runs on [-pi, pi].
__device__ __forceinline__ float2 rope_cs(int pos, double freq) {
    const double th = (double)pos * freq;
    const double red = th - 6.283185307179586 * rint(th * 0.15915494309189535);
    float sn, c;
    __sincosf((float)red, &sn, &c);
    return make_float2(c, sn);
}

// One RoPE pair turned by pos * freq exactly as the CPU turns it (cpu_rope_cos_sin + cpu_rope):
// cos and sin in double rounded to float, each product and sum rounded on its own (no FMA), so
// the result is the CPU's bit for bit and an f16 cache rounds it the same way. For the KV shift,
// which is rare: exactness over speed.
__device__ __forceinline__ void rope_pair_exact(float &a, float &b, int pos, double freq) {
    double sn, cn;
    sincos((double)pos * freq, &sn, &cn);
    const float c = (float)cn, s = (float)sn;
    const float ra = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    const float rb = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
    a = ra;
    b = rb;
}

// One RoPE pair (a, b) turned by pos * freq, cos and sin scaled by attn_factor (0 meaning 1).
__device__ __forceinline__ void rope_pair(float &a, float &b, int pos, double freq,
                                          float attn_factor) {
    float2 cs = rope_cs(pos, freq);
    if (attn_factor != 0.f) {
        cs.x *= attn_factor;
        cs.y *= attn_factor;
    }
    const float ra = a * cs.x - b * cs.y, rb = a * cs.y + b * cs.x;
    a = ra;
    b = rb;
}

#endif
