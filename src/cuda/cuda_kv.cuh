// cuda_kv.cuh — one layer's KV cache as the kernels see it: K and V of f32 or f16 elements (-ctk /
// -ctv f16: half the bytes a long-context decode step reads), and the one place that says how an
// element is loaded and stored. f16 stores round to nearest even (__float2half_rn), as the CPU
// cache does (lmc_f32_to_f16), so both backends hold the same values. Kernels that only store a
// few elements per thread (RoPE + KV store, the q/k/v epilogues, the shift's rotation) take the
// type at run time (kv_put: one uniform branch); the attention kernels, which read every element,
// are templates over the element type (kv_ld, kv_ld4, kv_grp), so their f32 code is what it was
// (the same PTX up to register numbering).
#ifndef LMC_CUDA_KV_CUH
#define LMC_CUDA_KV_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

// K and V of one layer: (n_rows, kv_dim) each, f32 (f16 false) or __half elements.
struct cuda_kv {
    void *k, *v;
    bool f16;
};

// Bytes of one cache element.
static inline size_t cuda_kv_elem(bool f16) {
    return f16 ? 2 : 4;
}

// The same cache from row `row` on (rows of kv_dim elements): a sequence's region, a shift's rows.
static inline cuda_kv cuda_kv_rows(const cuda_kv &c, int64_t row, int kv_dim) {
    const size_t off = (size_t)row * kv_dim * cuda_kv_elem(c.f16);
    return {(char *)c.k + off, (char *)c.v + off, c.f16};
}

// ---- device side --------------------------------------------------------------------------------

__device__ __forceinline__ float kv_ld(const float *p) {
    return *p;
}
__device__ __forceinline__ float kv_ld(const __half *p) {
    return __half2float(*p);
}
// Groups of 4 consecutive elements, the unit of the vector loads: float4 for f32, uint2 (4 halves)
// for f16. kv_grp(p, g) is group g from p, kv_cvt4 widens one to f32.
__device__ __forceinline__ const float4 *kv_grp(const float *p, int g) {
    return (const float4 *)p + g;
}
__device__ __forceinline__ const uint2 *kv_grp(const __half *p, int g) {
    return (const uint2 *)p + g;
}
__device__ __forceinline__ float4 kv_cvt4(float4 v) {
    return v;
}
__device__ __forceinline__ float4 kv_cvt4(uint2 u) {
    const float2 a = __half22float2(*(const __half2 *)&u.x),
                 b = __half22float2(*(const __half2 *)&u.y);
    return make_float4(a.x, a.y, b.x, b.y);
}
// Four consecutive elements from p (16-byte aligned for f32, 8-byte for f16), as f32.
__device__ __forceinline__ float4 kv_ld4(const float *p) {
    return *(const float4 *)p;
}
__device__ __forceinline__ float4 kv_ld4(const __half *p) {
    return kv_cvt4(*(const uint2 *)p);
}

// Element i of a cache of either type := x (rounded to nearest even for f16).
__device__ __forceinline__ void kv_put(void *base, bool f16, int64_t i, float x) {
    if (f16)
        ((__half *)base)[i] = __float2half_rn(x);
    else
        ((float *)base)[i] = x;
}
// Element i of a cache of either type, as f32.
__device__ __forceinline__ float kv_get(const void *base, bool f16, int64_t i) {
    return f16 ? __half2float(((const __half *)base)[i]) : ((const float *)base)[i];
}

#endif
