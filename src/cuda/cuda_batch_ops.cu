// cuda_batch_ops.cu — kernels of the multi-sequence step (cuda_batch.cu): attention of each token
// over its own sequence's cache rows (per-token first and last row), and the gather of the rows
// whose logits a batch wants. RoPE with per-token positions is cuda_rope_kv_rows
// (cuda_norm_rope.cu), or cuda_fam_qkv_rows (cuda_block_ops.cu) for the other block variants.
#include "cuda_block_ops.cuh"
#include "cuda_device.cuh"
#include <limits.h>
#include <math.h>

#define ATR_WARPS 4
#define ATR_G 2 // groups of 4 dims per lane: head_dim <= 256

// Token t's first attended cache row: kv0[t] (< 0: the token is skipped), moved up to
// kvrow[t] - window + 1 by a sliding window (0: none). The attention and merge kernels split from
// it.
__device__ __forceinline__ int atr_first(const int32_t *kv0, const int32_t *kvrow, int t,
                                         int window) {
    const int first = kv0[t];
    return first >= 0 && window > 0 ? max(first, kvrow[t] - window + 1) : first;
}

__device__ __forceinline__ float dot4(float4 a, float4 b) {
    return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
}
__device__ __forceinline__ void axpy4(float4 &o, float corr, float p, float4 v) {
    o.x = o.x * corr + p * v.x;
    o.y = o.y * corr + p * v.y;
    o.z = o.z * corr + p * v.z;
    o.w = o.w * corr + p * v.w;
}

// Block (head h, token t, split sp), ATR_WARPS warps, over the token's keys atr_first + sp chunk ..
// (the next split's first - 1 or kvrow): warp w takes keys first + w, first + w + ATR_WARPS, ...;
// its lanes split the dims in groups of 4 (lane l: dims 4 l + 128 g, one vector load of the row
// each: kv_ld4), a key's score is a warp sum, and each warp keeps an online softmax (max, sum,
// output); the warps' states merge in shared memory at the end. The layer's options
// (cuda_att_opts): the query scale, the score soft-cap, and the sliding window, which moves the
// token's first row up to kvrow[t] - window + 1 (key positions > pos - window) before the keys are
// split (atr_first). A token of one split writes its output; one of several (long contexts:
// flash-decoding) writes the split's unnormalised output, max and sum to part (head_dim + 2 floats
// at ((t n_head + h) max_split + sp)) for k_attention_rows_merge. KU > 1 (the split mode): a warp
// takes KU keys at once, all their K and V loads issued before the first score is summed (short
// chains per key). T: the cache's element type (float or __half, cuda_kv.cuh); head_dim % 4 == 0.
template <int KU, typename T>
__global__ void __launch_bounds__(ATR_WARPS * 32)
    k_attention_rows(const float *__restrict__ q, int q_stride, const int32_t *__restrict__ kv0,
                     const int32_t *__restrict__ kvrow, const T *__restrict__ kc,
                     const T *__restrict__ vc, int n_head, int n_head_kv, int hd,
                     float *__restrict__ out, float *__restrict__ part, int max_split, int chunk,
                     cuda_att_opts opt) {
    const int h = blockIdx.x, t = blockIdx.y, sp = blockIdx.z;
    const int kv_first = atr_first(kv0, kvrow, t, opt.window), kv_last = kvrow[t];
    if (kv_first < 0) return;
    const int first = kv_first + sp * chunk;
    if (first > kv_last) return; // the token's keys end before this split
    const int last = kv_last - first < chunk ? kv_last : first + chunk - 1;
    const bool whole = kv_last - kv_first < chunk; // one split: no merge
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int kvh = h / (n_head / n_head_kv), kv_dim = n_head_kv * hd;
    const float scale = opt.scale > 0.f ? opt.scale : rsqrtf((float)hd);
    const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
    float4 qr[ATR_G], o[ATR_G];
#pragma unroll
    for (int g = 0; g < ATR_G; g++) {
        const int d = 4 * lane + 128 * g;
        qr[g] = zero;
        if (d < hd) {
            const float *qp = q + (int64_t)t * q_stride + h * hd + d;
            qr[g] = make_float4(qp[0] * scale, qp[1] * scale, qp[2] * scale, qp[3] * scale);
        }
        o[g] = zero;
    }
    float m = -INFINITY, l = 0.f;
    if (KU == 1) {
        for (int j = first + warp; j <= last; j += ATR_WARPS) {
            const T *kr = kc + (int64_t)j * kv_dim + kvh * hd;
            const T *vr = vc + (int64_t)j * kv_dim + kvh * hd;
            float s = 0.f;
#pragma unroll
            for (int g = 0; g < ATR_G; g++) {
                const int d = 4 * lane + 128 * g;
                if (d < hd) s += dot4(qr[g], kv_ld4(kr + d));
            }
#pragma unroll
            for (int off = 16; off > 0; off >>= 1)
                s += __shfl_xor_sync(0xffffffffu, s, off);
            if (opt.softcap > 0.f) s = opt.softcap * tanhf(s / opt.softcap);
            const float mn = fmaxf(m, s), corr = expf(m - mn), p = expf(s - mn);
            l = l * corr + p;
#pragma unroll
            for (int g = 0; g < ATR_G; g++) {
                const int d = 4 * lane + 128 * g;
                axpy4(o[g], corr, p, d < hd ? kv_ld4(vr + d) : zero);
            }
            m = mn;
        }
    } else {
        for (int j0 = first + warp; j0 <= last; j0 += KU * ATR_WARPS) {
            float4 kk[KU][ATR_G], vv[KU][ATR_G];
            float s[KU];
#pragma unroll
            for (int u = 0; u < KU; u++) {
                const int j = j0 + u * ATR_WARPS;
                const T *kr = kc + (int64_t)j * kv_dim + kvh * hd;
                const T *vr = vc + (int64_t)j * kv_dim + kvh * hd;
#pragma unroll
                for (int g = 0; g < ATR_G; g++) {
                    const int d = 4 * lane + 128 * g;
                    const bool in = j <= last && d < hd;
                    kk[u][g] = in ? kv_ld4(kr + d) : zero;
                    vv[u][g] = in ? kv_ld4(vr + d) : zero;
                }
            }
#pragma unroll
            for (int u = 0; u < KU; u++) {
                s[u] = 0.f;
#pragma unroll
                for (int g = 0; g < ATR_G; g++)
                    s[u] += dot4(qr[g], kk[u][g]);
            }
#pragma unroll
            for (int off = 16; off > 0; off >>= 1)
#pragma unroll
                for (int u = 0; u < KU; u++)
                    s[u] += __shfl_xor_sync(0xffffffffu, s[u], off);
            if (opt.softcap > 0.f)
#pragma unroll
                for (int u = 0; u < KU; u++)
                    s[u] = opt.softcap * tanhf(s[u] / opt.softcap);
            float mn = m;
#pragma unroll
            for (int u = 0; u < KU; u++)
                if (j0 + u * ATR_WARPS <= last) mn = fmaxf(mn, s[u]);
            const float corr = expf(m - mn);
            l *= corr;
#pragma unroll
            for (int u = 0; u < KU; u++) {
                const float p = j0 + u * ATR_WARPS <= last ? expf(s[u] - mn) : 0.f;
                l += p;
#pragma unroll
                for (int g = 0; g < ATR_G; g++) // the first key also rescales o to the new max
                    axpy4(o[g], u == 0 ? corr : 1.f, p, vv[u][g]);
            }
            m = mn;
        }
    }
    __shared__ float sm[ATR_WARPS], sl[ATR_WARPS];
    __shared__ float4 so[ATR_WARPS][32 * ATR_G];
    if (lane == 0) {
        sm[warp] = m;
        sl[warp] = l;
    }
#pragma unroll
    for (int g = 0; g < ATR_G; g++)
        so[warp][lane + 32 * g] = o[g];
    __syncthreads();
    float mm = -INFINITY;
    for (int w = 0; w < ATR_WARPS; w++)
        mm = fmaxf(mm, sm[w]);
    float ll = 0.f;
    for (int w = 0; w < ATR_WARPS; w++)
        ll += sm[w] == -INFINITY ? 0.f : expf(sm[w] - mm) * sl[w];
    float *po = part + (((int64_t)t * n_head + h) * max_split + sp) * (hd + 2);
    const float *sof = (const float *)so; // (warp, dim) floats: dim d at 4 (d / 4) + d % 4
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0.f;
        for (int w = 0; w < ATR_WARPS; w++)
            v += sm[w] == -INFINITY ? 0.f : expf(sm[w] - mm) * sof[w * 128 * ATR_G + d];
        if (whole)
            out[(int64_t)t * n_head * hd + h * hd + d] = v / ll;
        else
            po[d] = v;
    }
    if (!whole && threadIdx.x == 0) {
        po[hd] = mm;
        po[hd + 1] = ll;
    }
}

// Block (head h, token t): the token's splits (when it has several) merged into out.
__global__ void k_attention_rows_merge(const int32_t *__restrict__ kv0,
                                       const int32_t *__restrict__ kvrow,
                                       const float *__restrict__ part, int n_head, int hd,
                                       int max_split, int chunk, int window,
                                       float *__restrict__ out) {
    const int h = blockIdx.x, t = blockIdx.y;
    const int kv_first = atr_first(kv0, kvrow, t, window);
    if (kv_first < 0) return;
    const int ns = (kvrow[t] - kv_first) / chunk + 1;
    if (ns <= 1) return; // written by its only split
    const float *p = part + ((int64_t)t * n_head + h) * max_split * (hd + 2);
    float mm = -INFINITY;
    for (int s = 0; s < ns; s++)
        mm = fmaxf(mm, p[s * (hd + 2) + hd]);
    float ll = 0.f;
    for (int s = 0; s < ns; s++)
        ll += expf(p[s * (hd + 2) + hd] - mm) * p[s * (hd + 2) + hd + 1];
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0.f;
        for (int s = 0; s < ns; s++)
            v += expf(p[s * (hd + 2) + hd] - mm) * p[s * (hd + 2) + d];
        out[(int64_t)t * n_head * hd + h * hd + d] = v / ll;
    }
}

// One launch of k_attention_rows over a cache of element type T.
template <typename T>
static void attention_rows(const float *q, int q_stride, int n_tok, const int32_t *kv0,
                           const int32_t *kvrow, const T *kc, const T *vc, int n_head,
                           int n_head_kv, int head_dim, float *part, int max_split, int n_split,
                           float *out, const cuda_att_opts &o, cudaStream_t s) {
    const dim3 grid(n_head, n_tok, n_split ? n_split : 1);
    if (n_split == 0)
        k_attention_rows<1, T><<<grid, ATR_WARPS * 32, 0, s>>>(q, q_stride, kv0, kvrow, kc, vc,
                                                               n_head, n_head_kv, head_dim, out,
                                                               part, max_split, INT_MAX, o);
    else
        k_attention_rows<4, T><<<grid, ATR_WARPS * 32, 0, s>>>(q, q_stride, kv0, kvrow, kc, vc,
                                                               n_head, n_head_kv, head_dim, out,
                                                               part, max_split, CUDA_ATT_CHUNK, o);
}

cudaError_t cuda_attention_rows_ex(const float *q, int q_stride, int n_tok, const int32_t *kv0,
                                   const int32_t *kvrow, const cuda_kv &kv, int n_head,
                                   int n_head_kv, int head_dim, float *part, int max_split,
                                   int n_split, float *out, const cuda_att_opts &o,
                                   cudaStream_t s) {
    if (head_dim > 128 * ATR_G || head_dim % 4 || n_split < 0 || n_split > max_split)
        return cudaErrorInvalidValue;
    // n_split 0 (the default; LMC_CUDA_ATT_SPLIT=1 splits): one block per head and token over all
    // of its keys
    if (kv.f16)
        attention_rows(q, q_stride, n_tok, kv0, kvrow, (const __half *)kv.k, (const __half *)kv.v,
                       n_head, n_head_kv, head_dim, part, max_split, n_split, out, o, s);
    else
        attention_rows(q, q_stride, n_tok, kv0, kvrow, (const float *)kv.k, (const float *)kv.v,
                       n_head, n_head_kv, head_dim, part, max_split, n_split, out, o, s);
    if (n_split > 1)
        k_attention_rows_merge<<<dim3(n_head, n_tok), 128, 0, s>>>(
            kv0, kvrow, part, n_head, head_dim, max_split, CUDA_ATT_CHUNK, o.window, out);
    return cudaGetLastError();
}

cudaError_t cuda_attention_rows(const float *q, int q_stride, int n_tok, const int32_t *kv0,
                                const int32_t *kvrow, const cuda_kv &kv, int n_head, int n_head_kv,
                                int head_dim, float *part, int max_split, int n_split, float *out,
                                cudaStream_t s) {
    return cuda_attention_rows_ex(q, q_stride, n_tok, kv0, kvrow, kv, n_head, n_head_kv, head_dim,
                                  part, max_split, n_split, out, cuda_att_opts{}, s);
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
