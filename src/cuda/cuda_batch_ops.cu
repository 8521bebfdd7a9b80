// cuda_batch_ops.cu — kernels of the multi-sequence step (cuda_batch.cu): attention of each token
// over its own sequence's cache rows (per-token first and last row), and the gather of the rows
// whose logits a batch wants. RoPE with per-token positions is cuda_rope_kv_rows
// (cuda_norm_rope.cu), or cuda_fam_qkv_rows (cuda_block_ops.cu) for the other block variants.
#include "cuda_block_ops.cuh"
#include "cuda_device.cuh"
#include <math.h>

#define ATR_WARPS 4
#define ATR_DPL 8 // dims per lane: head_dim <= 256

// Block (head h, token t), ATR_WARPS warps: warp w takes keys kv0 + w, kv0 + w + ATR_WARPS, ...;
// its lanes split the dims (d = lane + 32 k), a key's score is a warp sum, and each warp keeps an
// online softmax (max, sum, output); the warps' states merge in shared memory at the end. The
// layer's options (cuda_att_opts): the query scale, the score soft-cap, and the sliding window,
// which moves the first row up to kvrow[t] - window + 1 (key positions > pos - window).
__global__ void __launch_bounds__(ATR_WARPS * 32)
    k_attention_rows(const float *__restrict__ q, int q_stride, const int32_t *__restrict__ kv0,
                     const int32_t *__restrict__ kvrow, const float *__restrict__ kc,
                     const float *__restrict__ vc, int n_head, int n_head_kv, int hd,
                     float *__restrict__ out, cuda_att_opts opt) {
    const int h = blockIdx.x, t = blockIdx.y;
    int first = kv0[t];
    const int last = kvrow[t];
    if (first < 0) return;
    if (opt.window > 0) first = max(first, last - opt.window + 1);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int kvh = h / (n_head / n_head_kv), kv_dim = n_head_kv * hd;
    const float scale = opt.scale > 0.f ? opt.scale : rsqrtf((float)hd);
    float qr[ATR_DPL], o[ATR_DPL];
#pragma unroll
    for (int k = 0; k < ATR_DPL; k++) {
        const int d = lane + 32 * k;
        qr[k] = d < hd ? q[(int64_t)t * q_stride + h * hd + d] * scale : 0.f;
        o[k] = 0.f;
    }
    float m = -INFINITY, l = 0.f;
    for (int j = first + warp; j <= last; j += ATR_WARPS) {
        const float *kr = kc + (int64_t)j * kv_dim + kvh * hd;
        const float *vr = vc + (int64_t)j * kv_dim + kvh * hd;
        float s = 0.f;
#pragma unroll
        for (int k = 0; k < ATR_DPL; k++) {
            const int d = lane + 32 * k;
            if (d < hd) s += qr[k] * kr[d];
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1)
            s += __shfl_xor_sync(0xffffffffu, s, off);
        if (opt.softcap > 0.f) s = opt.softcap * tanhf(s / opt.softcap);
        const float mn = fmaxf(m, s), corr = expf(m - mn), p = expf(s - mn);
        l = l * corr + p;
#pragma unroll
        for (int k = 0; k < ATR_DPL; k++) {
            const int d = lane + 32 * k;
            o[k] = o[k] * corr + (d < hd ? p * vr[d] : 0.f);
        }
        m = mn;
    }
    __shared__ float sm[ATR_WARPS], sl[ATR_WARPS], so[ATR_WARPS][32 * ATR_DPL];
    if (lane == 0) {
        sm[warp] = m;
        sl[warp] = l;
    }
#pragma unroll
    for (int k = 0; k < ATR_DPL; k++)
        so[warp][lane + 32 * k] = o[k];
    __syncthreads();
    float mm = -INFINITY;
    for (int w = 0; w < ATR_WARPS; w++)
        mm = fmaxf(mm, sm[w]);
    float ll = 0.f;
    for (int w = 0; w < ATR_WARPS; w++)
        ll += sm[w] == -INFINITY ? 0.f : expf(sm[w] - mm) * sl[w];
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0.f;
        for (int w = 0; w < ATR_WARPS; w++)
            v += sm[w] == -INFINITY ? 0.f : expf(sm[w] - mm) * so[w][d];
        out[(int64_t)t * n_head * hd + h * hd + d] = v / ll;
    }
}

cudaError_t cuda_attention_rows_ex(const float *q, int q_stride, int n_tok, const int32_t *kv0,
                                   const int32_t *kvrow, const float *k_cache, const float *v_cache,
                                   int n_head, int n_head_kv, int head_dim, float *out,
                                   const cuda_att_opts &o, cudaStream_t s) {
    if (head_dim > 32 * ATR_DPL) return cudaErrorInvalidValue;
    k_attention_rows<<<dim3(n_head, n_tok), ATR_WARPS * 32, 0, s>>>(
        q, q_stride, kv0, kvrow, k_cache, v_cache, n_head, n_head_kv, head_dim, out, o);
    return cudaGetLastError();
}

cudaError_t cuda_attention_rows(const float *q, int q_stride, int n_tok, const int32_t *kv0,
                                const int32_t *kvrow, const float *k_cache, const float *v_cache,
                                int n_head, int n_head_kv, int head_dim, float *out,
                                cudaStream_t s) {
    return cuda_attention_rows_ex(q, q_stride, n_tok, kv0, kvrow, k_cache, v_cache, n_head,
                                  n_head_kv, head_dim, out, cuda_att_opts{}, s);
}

__global__ void k_gather_rows(const float *__restrict__ x, const int32_t *__restrict__ rows,
                              int n_embd, float *__restrict__ out) {
    const float *src = x + (int64_t)rows[blockIdx.x] * n_embd;
    for (int i = threadIdx.x; i < n_embd; i += blockDim.x)
        out[(int64_t)blockIdx.x * n_embd + i] = src[i];
}

cudaError_t cuda_gather_rows(const float *x, const int32_t *rows, int n, int n_embd, float *out,
                             cudaStream_t s) {
    if (n <= 0) return cudaSuccess;
    k_gather_rows<<<n, 256, 0, s>>>(x, rows, n_embd, out);
    return cudaGetLastError();
}
