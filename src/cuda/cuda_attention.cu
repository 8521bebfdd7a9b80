// cuda_attention.cu — attention: the split-context (flash-decoding) kernel of the decode path (also
// for prompts the cuBLAS path cannot take) and the prompt path through cuBLAS (scores, causal
// softmax, P V). RoPE and the KV store are not here (cuda_norm_rope.cu).
#include "cuda_device.cuh"
#include "cuda_block_ops.cuh"
#include "cuda_launch.cuh"
#include "cuda_tuning.h"
#include <algorithm>
#include <math.h>

extern "C" {
#include "util.h"
}

// ---- attention
// -----------------------------------------------------------------------------------
// Flash-decoding: block (head, split, token) scores CUDA_ATT_CHUNK keys, keeps its own max and sum,
// and writes an unnormalised partial output; the last split block of a head merges them.

// ATT_KT threads share one key's score (CUDA_ATT_CHUNK keys per block = one pass), and the V sum
// gives each warp CUDA_ATT_CHUNK / (ATT_THREADS / 32) keys: every load of a phase is issued before
// the first is used, so a block waits about one memory round trip per phase (decode attention is a
// chain of latencies, not of bandwidth: 32 blocks read ~128 KB each).
#define ATT_KT 4
#define ATT_THREADS (CUDA_ATT_CHUNK * ATT_KT)

// The split's K and V rows kept in registers: OWN = false those before p0 (written by earlier
// calls, fetched before the PDL wait), OWN = true those from p0 on (this call's, after it). K: this
// thread's quarter of key j (n4 groups of 4 elements at k4: kv_grp) when kreg; V: keys start + warp
// + 16 i, 4 dims a lane. T: the cache's element type (float or __half), widened to f32 as it is
// loaded.
template <bool OWN, typename G>
__device__ __forceinline__ void att_fetch_k(float4 (&kr)[8], const G *k4, int n4, bool kreg, int j,
                                            int end, int p0) {
    if (kreg && j < end && (OWN ? j >= p0 : j < p0)) {
#pragma unroll
        for (int d = 0; d < 8; d++)
            if (d < n4) kr[d] = kv_cvt4(k4[d]);
    }
}
template <bool OWN, typename T>
__device__ __forceinline__ void att_fetch_v(float4 (&vr)[8], const T *vb, int kv_dim, int start,
                                            int end, int p0, int warp) {
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int jj = warp + i * (ATT_THREADS / 32);
        if (start + jj < end && (OWN ? start + jj >= p0 : start + jj < p0))
            vr[i] = kv_ld4(vb + (int64_t)jj * kv_dim);
    }
}

// Key j's score against the scaled query qs: this thread's quarter (from kr when kreg, else from
// the cache), summed over the ATT_KT threads of the key (0 past the split's end).
template <typename T>
__device__ __forceinline__ float att_score(const float *qs, const float4 (&kr)[8], bool kreg,
                                           int n4, int part4, int j, int end, const T *kc,
                                           int kv_dim, int kvh, int hd) {
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
            const T *k = kc + (int64_t)j * kv_dim + kvh * hd;
            for (int d = part4; d < hd; d += ATT_KT)
                s += qs[d] * kv_ld(k + d);
        }
    }
#pragma unroll
    for (int o = 1; o < ATT_KT; o <<= 1)
        s += __shfl_xor_sync(0xffffffffu, s, o);
    return s;
}

// Query heads one block takes (grouped-query attention: heads h0..h0+grp-1 share one kv head, so
// the block loads each key and value once for all of them), and the floats of their scaled queries.
#define ATT_GMAX 8
#define ATT_QMAX 2048
// Splits whose weights the merge keeps in shared memory at a time (256: 32k keys in one pass).
#define MERGE_CH 256
static_assert(ATT_QMAX % ATT_THREADS == 0, "the merge's values per thread");

// The merge of the ns splits of heads h0..h0+grp-1 of token t by the last of their blocks to
// finish: out, and with oq (decode, hd % 32 == 0) the output's 8-bit blocks for the next mat-vec,
// one warp per 32 dims. Staged: warp g finds head g's largest split max M and the sum L of the
// splits' l * exp(m - M), 32 splits a pass; each split's weight exp(m - M) goes to shared memory;
// then thread i sums dim i % hd of head i / hd over the splits in order, 8 loads in flight (the
// merge is one block's chain of L2 round trips after all the others; walking the splits three
// times in single loads, as the first version did, was 3% slower at 16k keys on a 7B, H100
// 2026-12-07).
__device__ __forceinline__ void att_merge(const float *part, int t, int h0, int grp, int n_head,
                                          int max_split, int hd, int ns, float *out, int8_t *oq,
                                          float2 *ods) {
    __shared__ float wsh[ATT_GMAX][MERGE_CH];
    __shared__ float mlh[ATT_GMAX][2];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nt = blockDim.x, n = grp * hd;
    const int64_t hs = (int64_t)max_split * (hd + 2); // one head's partials
    const float *p0 = part + ((int64_t)t * n_head + h0) * hs;
    if (warp < grp) {
        const float *p = p0 + warp * hs + hd;
        float m = -INFINITY, l = 0.f;
        for (int s = lane; s < ns; s += 32)
            m = fmaxf(m, __ldcg(p + (int64_t)s * (hd + 2)));
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        for (int s = lane; s < ns; s += 32)
            l +=
                expf(__ldcg(p + (int64_t)s * (hd + 2)) - m) * __ldcg(p + (int64_t)s * (hd + 2) + 1);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            l += __shfl_xor_sync(0xffffffffu, l, o);
        if (lane == 0) mlh[warp][0] = m, mlh[warp][1] = l;
    }
    float o[ATT_QMAX / ATT_THREADS] = {};
    for (int c0 = 0; c0 < ns; c0 += MERGE_CH) {
        const int nc = min(MERGE_CH, ns - c0);
        __syncthreads(); // M known (first chunk); the last chunk's weights used (later ones)
        for (int k = threadIdx.x; k < grp * MERGE_CH; k += nt) {
            const int g = k / MERGE_CH, sp = k % MERGE_CH;
            if (sp < nc)
                wsh[g][sp] =
                    expf(__ldcg(p0 + g * hs + (int64_t)(c0 + sp) * (hd + 2) + hd) - mlh[g][0]);
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < ATT_QMAX / ATT_THREADS; k++) {
            const int i = k * nt + threadIdx.x;
            if (i >= n) break;
            const int g = i / hd;
            const float *p = p0 + g * hs + (int64_t)c0 * (hd + 2) + (i - g * hd);
            const float *w = wsh[g];
            float acc = o[k];
            int sp = 0;
            for (; sp + 8 <= nc; sp += 8) {
                float v[8];
#pragma unroll
                for (int u = 0; u < 8; u++)
                    v[u] = __ldcg(p + (int64_t)(sp + u) * (hd + 2));
#pragma unroll
                for (int u = 0; u < 8; u++)
                    acc += w[sp + u] * v[u];
            }
            for (; sp < nc; sp++)
                acc += w[sp] * __ldcg(p + (int64_t)sp * (hd + 2));
            o[k] = acc;
        }
    }
    const bool q8 = oq != NULL && (hd & 31) == 0;
#pragma unroll
    for (int k = 0; k < ATT_QMAX / ATT_THREADS; k++) {
        const int i = k * nt + threadIdx.x;
        if (k * nt + (threadIdx.x & ~31) >= n) break; // whole warps past the end leave
        const int g = min(i / hd, grp - 1);
        const int64_t oi = (int64_t)t * n_head * hd + (int64_t)h0 * hd + i;
        float r = 0.f;
        if (i < n) {
            r = o[k] / mlh[g][1];
            out[oi] = r;
        }
        if (q8) quant_q8_warp(r, lane, oi >> 5, oq, ods);
    }
}

// Block (head, split, token). With grouping (gmax > 1) and enough work for it (n_head_kv times
// the splits at least min_blocks: fewer, bigger blocks would leave the GPU idle at short contexts),
// the block of every gmax-th head takes heads h0..h0+gmax-1 of token t over the split's keys and
// the others leave: K and V are loaded once (registers) and used for every head of the group; each
// head's softmax is one warp's (warp g: head g). The choice is made per call from the position, so
// one captured graph serves every context length.
template <typename T>
__global__ void __launch_bounds__(ATT_THREADS)
    k_attention(const float *__restrict__ q, int q_stride, const int32_t *__restrict__ pos0,
                const T *__restrict__ kc, const T *__restrict__ vc, int n_head, int n_head_kv,
                int hd, int gmax, int min_blocks, int max_split, float *__restrict__ part,
                int *__restrict__ counters, float *__restrict__ out, int8_t *__restrict__ oq,
                float2 *__restrict__ ods, cuda_att_opts opt) {
    const int h0 = blockIdx.x, sp = blockIdx.y, t = blockIdx.z;
    pdl_trigger();
    // *pos comes from the step's input copy, which precedes every kernel of the step; the caches'
    // rows of positions before it from earlier calls: both are read before waiting for the kernel
    // that wrote q and this call's rows.
    const int p0 = *pos0;
    const int n_kv = p0 + t + 1;
    const int start = sp * CUDA_ATT_CHUNK;
    if (start >= n_kv) return;
    const int grp =
        gmax > 1 && n_head_kv * ((n_kv + CUDA_ATT_CHUNK - 1) / CUDA_ATT_CHUNK) >= min_blocks ? gmax
                                                                                             : 1;
    if (h0 % grp) return; // another block takes this head
    const int end = min(start + CUDA_ATT_CHUNK, n_kv);
    const int kvh = h0 / (n_head / n_head_kv), kv_dim = n_head_kv * hd;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    // scores: ATT_KT neighbouring threads take one key, each a contiguous quarter of its dims (n4
    // float4 of it, kept in registers when at most 8)
    const int j = start + threadIdx.x / ATT_KT, part4 = threadIdx.x % ATT_KT;
    const int n4 = hd / (4 * ATT_KT);
    const bool kreg = hd % (4 * ATT_KT) == 0 && n4 <= 8;
    const auto *k4 = kv_grp(kc + (int64_t)j * kv_dim + kvh * hd, part4 * n4);
    float4 kr[8];
    att_fetch_k<false>(kr, k4, n4, kreg, j, end, p0);
    // values: warp w takes keys w, w + 16, ..., each lane 4 dims (hd <= 128)
    static_assert(ATT_THREADS / 32 * 8 >= CUDA_ATT_CHUNK, "8 values per warp cover a split");
    static_assert(ATT_THREADS / 32 >= ATT_GMAX, "a warp per head of the group");
    const bool vreg = (hd & 3) == 0 && hd <= 128;
    const T *vb = vc + (int64_t)start * kv_dim + kvh * hd + lane * 4;
    float4 vr[8];
    if (vreg && lane * 4 < hd) att_fetch_v<false>(vr, vb, kv_dim, start, end, p0, warp);
    pdl_wait();
    __shared__ float qs[ATT_QMAX];
    __shared__ float sc[ATT_GMAX][CUDA_ATT_CHUNK];
    __shared__ float ml[ATT_GMAX][2];
    const float scale = opt.scale > 0.f ? opt.scale : rsqrtf((float)hd);
    // keys before lo are outside a sliding window (a split wholly before it weighs nothing)
    const int lo = opt.window > 0 ? max(0, p0 + t - opt.window + 1) : 0;
    const float *qr = q + (int64_t)t * q_stride + h0 * hd; // the group's heads, side by side
    for (int d = threadIdx.x; d < grp * hd; d += blockDim.x)
        qs[d] = qr[d] * scale;
    att_fetch_k<true>(kr, k4, n4, kreg, j, end, p0); // this call's rows
    if (vreg && lane * 4 < hd) att_fetch_v<true>(vr, vb, kv_dim, start, end, p0, warp);
    __syncthreads();
    for (int g = 0; g < grp; g++) {
        float s = att_score(qs + g * hd, kr, kreg, n4, part4, j, end, kc, kv_dim, kvh, hd);
        if (opt.softcap > 0.f) s = opt.softcap * tanhf(s / opt.softcap);
        if (j < lo) s = -INFINITY;
        if (j < end && part4 == 0) sc[g][j - start] = s;
    }
    __syncthreads();
    if (warp < grp) { // head warp's softmax weights, its max and sum
        float m = -INFINITY;
        for (int jj = lane; jj < end - start; jj += 32)
            m = fmaxf(m, sc[warp][jj]);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        float l = 0.f;
        for (int jj = lane; jj < end - start; jj += 32) {
            const float p = m == -INFINITY ? 0.f : expf(sc[warp][jj] - m);
            sc[warp][jj] = p;
            l += p;
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            l += __shfl_xor_sync(0xffffffffu, l, o);
        if (lane == 0) ml[warp][0] = m, ml[warp][1] = l;
    }
    __syncthreads();
    // one split through the register path: the output is written here, no partial to publish
    const bool one = vreg && n_kv <= CUDA_ATT_CHUNK;
    for (int g = 0; g < grp; g++) {
        const int h = h0 + g;
        float *po = part + (((int64_t)t * n_head + h) * max_split + sp) * (hd + 2);
        const float l = ml[g][1];
        if (vreg) {
            // each warp takes every 16th key; lane covers 4 dims; the warps' sums meet in shared
            // memory
            __shared__ float4 acc4[ATT_THREADS / 32][32];
            float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
            if (lane * 4 < hd) {
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    const int jj = warp + i * (ATT_THREADS / 32);
                    if (start + jj >= end) break;
                    const float p = sc[g][jj];
                    o.x += p * vr[i].x;
                    o.y += p * vr[i].y;
                    o.z += p * vr[i].z;
                    o.w += p * vr[i].w;
                }
            }
            acc4[warp][lane] = o;
            __syncthreads();
            if (threadIdx.x < hd) {
                const int l4 = threadIdx.x >> 2, c = threadIdx.x & 3;
                float sum = 0.f;
#pragma unroll
                for (int w = 0; w < ATT_THREADS / 32; w++)
                    sum += ((const float *)&acc4[w][l4])[c];
                if (one) {
                    const float o = sum / l;
                    const int64_t oi = (int64_t)t * n_head * hd + h * hd + threadIdx.x;
                    out[oi] = o;
                    if (oq && (hd & 31) == 0)
                        quant_q8_warp(o, lane, oi >> 5, oq, ods); // whole warps: hd % 32 == 0
                } else {
                    po[threadIdx.x] = sum;
                }
            }
            __syncthreads(); // acc4 is the next head's
        } else {
            for (int d = threadIdx.x; d < hd; d += blockDim.x) {
                float o = 0.f;
                const T *v = vc + (int64_t)start * kv_dim + kvh * hd + d;
#pragma unroll 8
                for (int jj = 0; jj < end - start; jj++)
                    o += sc[g][jj] * kv_ld(v + (int64_t)jj * kv_dim);
                po[d] = o;
            }
        }
        if (!one && threadIdx.x == 0) {
            po[hd] = ml[g][0];
            po[hd + 1] = l;
        }
    }
    if (one) return;
    // The last split block of this (head group, token) merges all splits (no combine kernel): each
    // block publishes its partials, then counts itself in; the one that sees ns - 1 before it
    // merges (with one split, the float path of hd > 128: this block).
    const int ns = (n_kv + CUDA_ATT_CHUNK - 1) / CUDA_ATT_CHUNK;
    __shared__ int is_last;
    if (ns > 1) {
        __threadfence();
        __syncthreads();
        if (threadIdx.x == 0) {
            int *cnt = counters + (int64_t)t * n_head + h0;
            is_last = atomicAdd(cnt, 1) == ns - 1;
            if (is_last) *cnt = 0; // ready for the next call
        }
        __syncthreads();
        if (!is_last) return;
        __threadfence();
    } else {
        __syncthreads();
    }
    att_merge(part, t, h0, grp, n_head, max_split, hd, ns, out, oq, ods);
}

// Heads a decode attention block takes when it groups them: the most (<= ATT_GMAX, queries <=
// ATT_QMAX floats) that divide the heads sharing a kv head; 1 with LMC_CUDA_ATT_GQA=0 or without
// grouped heads.
static int att_group(int n_head, int n_head_kv, int hd) {
    if (cuda_tuning_get()->att_gqa <= 0) return 1;
    const int r = n_head / n_head_kv;
    for (int g = ATT_GMAX; g > 1; g--)
        if (r % g == 0 && g * hd <= ATT_QMAX) return g;
    return 1;
}

// The decode attention of one cache element type T.
template <typename T>
static cudaError_t launch_attention(dim3 g, cudaStream_t s, const float *q, int q_stride,
                                    const int32_t *pos, const cuda_kv &kv, int n_head,
                                    int n_head_kv, int hd, int gmax, int min_blocks, int max_split,
                                    float *part, int *counters, float *out, int8_t *oq, float2 *ods,
                                    const cuda_att_opts &o) {
    const T *k = (const T *)kv.k, *v = (const T *)kv.v;
    return launch_pdl(k_attention<T>, g, dim3(ATT_THREADS), s, q, q_stride, pos, k, v, n_head,
                      n_head_kv, hd, gmax, min_blocks, max_split, part, counters, out, oq, ods, o);
}

cudaError_t cuda_attention_ex(const float *q, int q_stride, int n_tok, const int32_t *pos,
                              const cuda_kv &kv, int n_head, int n_head_kv, int head_dim,
                              int max_split, float *part, int *counters, float *out, int8_t *oq,
                              float2 *ods, const cuda_att_opts &o, cudaStream_t s) {
    if (head_dim > 256) return cudaErrorInvalidValue;
    const int gmax = att_group(n_head, n_head_kv, head_dim),
              min_blocks = cuda_tuning_get()->att_gqa;
    dim3 g(n_head, max_split, n_tok);
    if (kv.f16)
        return launch_attention<__half>(g, s, q, q_stride, pos, kv, n_head, n_head_kv, head_dim,
                                        gmax, min_blocks, max_split, part, counters, out, oq, ods,
                                        o);
    return launch_attention<float>(g, s, q, q_stride, pos, kv, n_head, n_head_kv, head_dim, gmax,
                                   min_blocks, max_split, part, counters, out, oq, ods, o);
}

cudaError_t cuda_attention(const float *q, int q_stride, int n_tok, const int32_t *pos,
                           const cuda_kv &kv, int n_head, int n_head_kv, int head_dim,
                           int max_split, float *part, int *counters, float *out, int8_t *oq,
                           float2 *ods, cudaStream_t s) {
    const cuda_att_opts o = {};
    return cuda_attention_ex(q, q_stride, n_tok, pos, kv, n_head, n_head_kv, head_dim, max_split,
                             part, counters, out, oq, ods, o, s);
}

// Rows of attention scores S (row = head * nq + t, nkv keys each, already scaled): query t sits at
// position pos0 + t and sees keys 0..pos0+t. Softmax over those in place; later keys become 0.
__global__ void k_causal_softmax(float *__restrict__ S, int nq, int nkv, int pos0, float softcap,
                                 int window) {
    __shared__ float red[32];
    const int row = blockIdx.x, t = row % nq, nw = blockDim.x >> 5, lane = threadIdx.x & 31,
              warp = threadIdx.x >> 5;
    float *s = S + (int64_t)row * nkv;
    const int valid = min(nkv, pos0 + t + 1);
    const int lo = window > 0 ? max(0, pos0 + t - window + 1) : 0; // the sliding window's first key
    float m = -INFINITY;
    for (int i = lo + threadIdx.x; i < valid; i += blockDim.x) {
        if (softcap > 0.f) s[i] = softcap * tanhf(s[i] / softcap);
        m = fmaxf(m, s[i]);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = red[0];
    for (int k = 1; k < nw; k++)
        m = fmaxf(m, red[k]);
    __syncthreads();
    float sum = 0.f;
    for (int i = lo + threadIdx.x; i < valid; i += blockDim.x) {
        const float e = expf(s[i] - m);
        s[i] = e;
        sum += e;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) red[warp] = sum;
    __syncthreads();
    sum = 0.f;
    for (int k = 0; k < nw; k++)
        sum += red[k];
    const float inv = 1.f / sum;
    for (int i = threadIdx.x; i < nkv; i += blockDim.x)
        s[i] = i >= lo && i < valid ? s[i] * inv : 0.f;
}

static cudaError_t causal_softmax(float *S, int rows, int nq, int nkv, int pos0,
                                  const cuda_att_opts &o, cudaStream_t s) {
    k_causal_softmax<<<rows, 256, 0, s>>>(S, nq, nkv, pos0, o.softcap, o.window);
    return cudaGetLastError();
}

cudaError_t cuda_causal_softmax(float *S, int rows, int nq, int nkv, int pos0, cudaStream_t s) {
    return causal_softmax(S, rows, nq, nkv, pos0, cuda_att_opts{}, s);
}

lmc_status cuda_attention_gemm(cublasHandle_t h, const float *q, int q_stride, int n_tok, int pos0,
                               const cuda_kv &kv, float *kv32, int n_head, int n_head_kv,
                               int head_dim, float *S, int64_t s_floats, float *out, int out_stride,
                               cudaStream_t s, bool *done) {
    return cuda_attention_gemm_ex(h, q, q_stride, n_tok, pos0, kv, kv32, n_head, n_head_kv,
                                  head_dim, S, s_floats, out, out_stride, cuda_att_opts{}, s, done);
}

// n rows of an f16 cache's K and V widened to f32: K into out, V after it.
__global__ void k_kv_widen(const __half *__restrict__ k, const __half *__restrict__ v, int64_t n,
                           float *__restrict__ out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = __half2float(k[i]);
        out[n + i] = __half2float(v[i]);
    }
}

lmc_status cuda_attention_gemm_ex(cublasHandle_t h, const float *q, int q_stride, int n_tok,
                                  int pos0, const cuda_kv &kv, float *kv32, int n_head,
                                  int n_head_kv, int head_dim, float *S, int64_t s_floats,
                                  float *out, int out_stride, const cuda_att_opts &o,
                                  cudaStream_t s, bool *done) {
    const int r = n_head / n_head_kv, kv_dim = n_head_kv * head_dim;
    const int64_t per_q =
        (int64_t)n_head * (pos0 + n_tok); // score floats of one query row, all heads
    const int qc = (int)std::min<int64_t>(n_tok, s_floats / per_q);
    *done = false;
    if (qc < 16 && qc < n_tok) return LMC_OK;
    *done = true;
    // cuBLAS takes no f32 x f16 product: an f16 cache's rows this prompt reads are widened into
    // kv32 once (exact; TF32 keeps f16's 10 mantissa bits, so the products are those of f32 rows)
    const float *k_cache = (const float *)kv.k, *v_cache = (const float *)kv.v;
    if (kv.f16) {
        if (!kv32) return lmc_err(LMC_ERR_BACKEND, "CUDA: no f32 scratch for the f16 KV cache");
        const int64_t n = (int64_t)(pos0 + n_tok) * kv_dim;
        k_kv_widen<<<(unsigned)((n + 255) / 256), 256, 0, s>>>((const __half *)kv.k,
                                                               (const __half *)kv.v, n, kv32);
        lmc_status st = cuda_check(cudaGetLastError(), "attention: widening the f16 cache");
        if (st != LMC_OK) return st;
        k_cache = kv32;
        v_cache = kv32 + n;
    }
    cublasSetStream(h, s);
    const float scale = o.scale > 0.f ? o.scale : 1.f / sqrtf((float)head_dim), one = 1.f,
                zero = 0.f;
    for (int t0 = 0; t0 < n_tok; t0 += qc) {
        const int nq = std::min(qc, n_tok - t0), nkv = pos0 + t0 + nq;
        const int64_t hs = (int64_t)nq * nkv; // one head's scores
        // Heads g*r + hi share kv head g: one strided batch over g per hi. Column-major views:
        // S_h^T (nkv x nq) = K_g (nkv x hd) Q_h^T, O_h^T (hd x nq) = V_g^T (hd x nkv) P_h^T.
        for (int hi = 0; hi < r; hi++) {
            cublasStatus_t cs = cublasGemmStridedBatchedEx(
                h, CUBLAS_OP_T, CUBLAS_OP_N, nkv, nq, head_dim, &scale, k_cache, CUDA_R_32F, kv_dim,
                head_dim, q + (int64_t)t0 * q_stride + (int64_t)hi * head_dim, CUDA_R_32F, q_stride,
                (long long)r * head_dim, &zero, S + hi * hs, CUDA_R_32F, nkv, (long long)r * hs,
                n_head_kv, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT);
            if (cs != CUBLAS_STATUS_SUCCESS)
                return lmc_err(LMC_ERR_BACKEND, "cuBLAS: attention scores failed (status %d)",
                               (int)cs);
        }
        lmc_status st = cuda_check(causal_softmax(S, n_head * nq, nq, nkv, pos0 + t0, o, s),
                                   "attention softmax");
        if (st != LMC_OK) return st;
        for (int hi = 0; hi < r; hi++) {
            cublasStatus_t cs = cublasGemmStridedBatchedEx(
                h, CUBLAS_OP_N, CUBLAS_OP_N, head_dim, nq, nkv, &one, v_cache, CUDA_R_32F, kv_dim,
                head_dim, S + hi * hs, CUDA_R_32F, nkv, (long long)r * hs, &zero,
                out + (int64_t)t0 * out_stride + (int64_t)hi * head_dim, CUDA_R_32F, out_stride,
                (long long)r * head_dim, n_head_kv, CUBLAS_COMPUTE_32F_FAST_TF32,
                CUBLAS_GEMM_DEFAULT);
            if (cs != CUBLAS_STATUS_SUCCESS)
                return lmc_err(LMC_ERR_BACKEND, "cuBLAS: attention output failed (status %d)",
                               (int)cs);
        }
    }
    return LMC_OK;
}
