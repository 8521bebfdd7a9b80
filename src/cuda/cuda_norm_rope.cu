// cuda_norm_rope.cu — row-wise kernels: RMSNorm (optionally with 8-bit activation blocks), RoPE +
// KV store, SwiGLU, f32 -> f16, the rotating copy of a KV shift. The RMSNorm folded into the decode
// mat-vecs and the RoPE fused into the q/k/v mat-vec are in cuda_matvec.cuh, not here.
#include "cuda_device.cuh"
#include "cuda_launch.cuh"

// ---- RMSNorm -----------------------------------------------------------------------------------

// oq/ods (may be NULL): the 8-bit activation blocks of the output (n % 32 == 0; every warp of the
// block then walks whole 32-element blocks together).
// One block per row. Rows up to RMS_KEEP * blockDim values keep x in registers between the two
// passes and fetch the norm weights before waiting for the kernel that wrote x (the decode path's
// RMSNorm is a one-block kernel on the critical path: each saved memory round trip counts). Each
// thread sums its values in the same order either way, so both forms give the same bits. Writes the
// normalized value v of element o + i into the outputs asked for.
__device__ __forceinline__ void rms_store(float v, int64_t oi, float *out32, __half *out16,
                                          int8_t *oq, float2 *ods) {
    if (out32) out32[oi] = v;
    if (out16) out16[oi] = __float2half_rn(v);
    if (oq) quant_q8_warp(v, threadIdx.x & 31, oi >> 5, oq, ods);
}
#define RMS_KEEP                                                                                   \
    8 // 1024 threads x 8 values: registers for a whole block; run 16: 256 or 512 threads were
      // slower
__global__ void k_rmsnorm(const float *__restrict__ x, const float *__restrict__ w, int n,
                          float eps, float *__restrict__ out32, __half *__restrict__ out16,
                          int8_t *__restrict__ oq, float2 *__restrict__ ods) {
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
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        ss += xr[i] * xr[i];
    ss = block_sum(ss, sh);
    const float scale = rsqrtf(ss / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        rms_store(xr[i] * scale * w[i], o + i, out32, out16, oq, ods);
}

cudaError_t cuda_rmsnorm(const float *x, const float *w, int n, int n_tok, float eps, float *out32,
                         __half *out16, cudaStream_t s) {
    k_rmsnorm<<<n_tok, 1024, 0, s>>>(x, w, n, eps, out32, out16, NULL, NULL);
    return cudaGetLastError();
}

cudaError_t cuda_rmsnorm_q8(const float *x, const float *w, int n, float eps, float *out32,
                            int8_t *oq, float2 *ods, cudaStream_t s) {
    if (n % 32) return cudaErrorInvalidValue;
    return launch_pdl(k_rmsnorm, dim3(1), dim3(1024), s, x, w, n, eps, out32, (__half *)NULL, oq,
                      ods);
}

// ---- RoPE + KV store
// ----------------------------------------------------------------------------- llama "normal"
// mode: adjacent pairs (2i, 2i+1) of each head rotate by pos * base^(-2i/n_rot). The angle is
// computed in double so large positions keep their precision under --use_fast_math.

// The angle pos * base^(-2i/n_rot) is formed and reduced modulo 2 pi in double (large positions
// keep their precision under --use_fast_math), then the fast sincos runs on [-pi, pi].
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

// kvrow NULL: token t at position *pos0 + t, cache row the same; else at pos0[t], cache row
// kvrow[t] (several sequences in one batch).
__global__ void k_rope_kv(float *qkv, const int32_t *pos0, const int32_t *kvrow, int n_head,
                          int n_head_kv, int hd, int n_rot, float base, cuda_kv kv) {
    __shared__ float2 cs[128];
    const int t = blockIdx.x;
    const int pos = kvrow ? pos0[t] : *pos0 + t;
    const int64_t crow = kvrow ? kvrow[t] : pos;
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
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        kv_put(kv.k, kv.f16, crow * kv_dim + i, row[n_head * hd + i]);
        kv_put(kv.v, kv.f16, crow * kv_dim + i, row[n_head * hd + kv_dim + i]);
    }
}

cudaError_t cuda_rope_kv(float *qkv, int n_tok, const int32_t *pos, int n_head, int n_head_kv,
                         int head_dim, int n_rot, float base, const cuda_kv &kv, cudaStream_t s) {
    k_rope_kv<<<n_tok, 256, 0, s>>>(qkv, pos, NULL, n_head, n_head_kv, head_dim, n_rot, base, kv);
    return cudaGetLastError();
}

cudaError_t cuda_rope_kv_rows(float *qkv, int n_tok, const int32_t *pos, const int32_t *kvrow,
                              int n_head, int n_head_kv, int head_dim, int n_rot, float base,
                              const cuda_kv &kv, cudaStream_t s) {
    k_rope_kv<<<n_tok, 256, 0, s>>>(qkv, pos, kvrow, n_head, n_head_kv, head_dim, n_rot, base, kv);
    return cudaGetLastError();
}

__global__ void k_rope(float *x, int n_head, int hd, int n_rot, int pos, float base) {
    __shared__ float2 cs[128];
    const int half = n_rot / 2;
    rope_angles(n_rot, pos, base, cs);
    __syncthreads();
    for (int i = threadIdx.x; i < n_head * half; i += blockDim.x)
        rope_rotate(x + (i / half) * hd, i % half, cs[i % half]);
}

cudaError_t cuda_rope(float *x, int n_head, int head_dim, int n_rot, int pos, float base,
                      cudaStream_t s) {
    k_rope<<<1, 256, 0, s>>>(x, n_head, head_dim, n_rot, pos, base);
    return cudaGetLastError();
}

// ---- SwiGLU, conversions
// -------------------------------------------------------------------------

__global__ void k_swiglu(const float *__restrict__ g, int n, int row, int step, int uoff,
                         float *out32, __half *out16) {
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

// ---- KV shift
// ------------------------------------------------------------------------------------ Copies n
// cache rows (n, kv_dim) of K and V into dst, turning each key by delta positions: a rotation by
// delta * freq composes with the one the key already carries (in f32, as the CPU computes it:
// rope_pair_exact; an f16 key is rounded again, as the CPU's shift does).
__global__ void k_kv_rotate_copy(cuda_kv src, cuda_kv dst, int kv_dim, int hd, int n_rot, int delta,
                                 const double *__restrict__ freq) {
    const int64_t row = blockIdx.x;
    const bool f16 = src.f16;
    for (int i = threadIdx.x; i < kv_dim / 2; i += blockDim.x) {
        const int64_t a = row * kv_dim + 2 * i;
        float x0 = kv_get(src.k, f16, a), x1 = kv_get(src.k, f16, a + 1);
        const int p = (2 * i) % hd / 2;
        if (2 * p < n_rot) rope_pair_exact(x0, x1, delta, freq[p]);
        kv_put(dst.k, f16, a, x0);
        kv_put(dst.k, f16, a + 1, x1);
        kv_put(dst.v, f16, a, kv_get(src.v, f16, a)); // exact for either type
        kv_put(dst.v, f16, a + 1, kv_get(src.v, f16, a + 1));
    }
}

cudaError_t cuda_kv_rotate_copy(const cuda_kv &src, const cuda_kv &dst, int n, int kv_dim, int hd,
                                int n_rot, int delta, const double *freq, cudaStream_t s) {
    if (n <= 0) return cudaSuccess;
    if (src.f16 != dst.f16) return cudaErrorInvalidValue;
    k_kv_rotate_copy<<<n, 256, 0, s>>>(src, dst, kv_dim, hd, n_rot, delta, freq);
    return cudaGetLastError();
}
