// cuda_block_ops.cu — the model families' block operations on the GPU (see cuda_block_ops.cuh):
// the variant state uploaded once, the q/k/v post-processing kernel (bias, q/k norm, NEOX or normal
// RoPE, KV store), the gated GELU-tanh activation, post-norms (alone, or fused with the RMSNorm
// after them), embedding scale, soft-cap and the KV shift's rotation. The attention options (scale,
// soft-cap, window) live in cuda_attention.cu.
#include "cuda_block_ops.cuh"
#include "cuda_device.cuh"
#include "cuda_launch.cuh"
#include <math.h>
#include <stdio.h>

extern "C" {
#include "model.h"
#include "quant.h"
#include "util.h"
}

#define FAM_FLAGS                                                                                  \
    (LMC_BLK_QKV_BIAS | LMC_BLK_QK_NORM | LMC_BLK_POST_NORMS | LMC_BLK_FUSED_QKV |                 \
     LMC_BLK_FUSED_UP | LMC_BLK_EMBD_SCALE | LMC_BLK_ATTN_SOFTCAP | LMC_BLK_FINAL_SOFTCAP |        \
     LMC_BLK_SWA | LMC_BLK_ROPE_FACTORS)

// ---- variant state -----------------------------------------------------------------------------

bool cuda_fam_plain(const lmc_model *m) {
    return arch_plain_llama(m);
}

bool cuda_fam_supported(const lmc_model *m, char *why, size_t size) {
    const uint32_t extra = m->hp.flags & ~(uint32_t)FAM_FLAGS;
    if (extra == 0 && (m->hp.act == LMC_ACT_SILU || m->hp.act == LMC_ACT_GELU_TANH)) return true;
    snprintf(why, size, "the CUDA backend does not implement block variant flags 0x%x",
             (unsigned)extra);
    return false;
}

// A vector of head_dim values (a q/k norm) or of q | k | v rows (a bias) in the stored row order
// of cuda_rope_row (rows past q | k stay).
static void fam_permute(std::vector<float> &v, const lmc_hparams &hp, int64_t n_qk) {
    if (hp.rope != LMC_ROPE_NEOX) return;
    const std::vector<float> src(v);
    for (int64_t r = 0; r < n_qk; r++)
        v[r] = src[cuda_rope_row(hp.rope, hp.head_dim, hp.n_rot, r)];
}

static lmc_status fam_vec(float **d, const gguf_tensor *t, int n, const lmc_hparams *perm = NULL) {
    *d = NULL;
    if (!t) return LMC_OK;
    const lmc_type_traits *tr = lmc_type_get(t->type);
    if (!tr || !tr->to_float || t->ne[0] != n)
        return lmc_err(LMC_ERR_UNSUPPORTED, "CUDA: %.*s: vector type %s or size", (int)t->name.len,
                       t->name.ptr, lmc_type_name(t->type));
    std::vector<float> tmp(n);
    lmc_dequantize(t->type, t->data, tmp.data(), n);
    if (perm) fam_permute(tmp, *perm, n); // a q/k norm: one head's dims, as stored
    lmc_status st = cuda_check(cudaMalloc((void **)d, (size_t)n * 4), "variant vectors");
    if (st == LMC_OK)
        st = cuda_check(cudaMemcpy(*d, tmp.data(), (size_t)n * 4, cudaMemcpyHostToDevice),
                        "variant vectors");
    return st;
}

// bq | bk | bv as one vector (the row order of the fused q/k/v output).
static lmc_status fam_bias(float **d, const lmc_layer *L, const lmc_hparams &hp, int q_dim,
                           int kv_dim) {
    *d = NULL;
    if (!L->bq) return LMC_OK;
    const gguf_tensor *ts[3] = {L->bq, L->bk, L->bv};
    const int ns[3] = {q_dim, kv_dim, kv_dim};
    std::vector<float> tmp((size_t)q_dim + 2 * kv_dim);
    size_t at = 0;
    for (int i = 0; i < 3; i++) {
        if (!ts[i] || ts[i]->ne[0] != ns[i] || !lmc_type_get(ts[i]->type) ||
            !lmc_type_get(ts[i]->type)->to_float)
            return lmc_err(LMC_ERR_UNSUPPORTED, "CUDA: q/k/v bias type or size");
        lmc_dequantize(ts[i]->type, ts[i]->data, tmp.data() + at, ns[i]);
        at += ns[i];
    }
    fam_permute(tmp, hp, (int64_t)q_dim + kv_dim);
    lmc_status st = cuda_check(cudaMalloc((void **)d, tmp.size() * 4), "variant vectors");
    if (st == LMC_OK)
        st = cuda_check(cudaMemcpy(*d, tmp.data(), tmp.size() * 4, cudaMemcpyHostToDevice),
                        "variant vectors");
    return st;
}

uint64_t cuda_fam_bytes(const lmc_model *m, int n_batch) {
    const lmc_hparams &hp = m->hp;
    const uint64_t q_dim = (uint64_t)hp.n_head * hp.head_dim,
                   kv = (uint64_t)hp.n_head_kv * hp.head_dim;
    const uint64_t per_layer =
        (q_dim + 2 * kv + 2 * hp.head_dim + 2 * hp.n_embd) * 4 + (uint64_t)hp.head_dim / 2 * 8;
    return per_layer * hp.n_layer + (uint64_t)n_batch * hp.n_embd * 4;
}

lmc_status cuda_fam_init(const lmc_model *m, int n_ctx, int n_batch, int layer0, cuda_fam **out) {
    const lmc_hparams &hp = m->hp;
    const int hd = hp.head_dim, half = hd / 2, q_dim = hp.n_head * hd, kv_dim = hp.n_head_kv * hd;
    lmc_status st = LMC_OK;
    cuda_fam *f = new cuda_fam();
    f->flags = hp.flags;
    f->neox = false; // NEOX models' q/k rows are stored interleaved (cuda_rope_row)
    f->n_rot = hp.n_rot;
    f->gelu = hp.act == LMC_ACT_GELU_TANH;
    f->eps = hp.norm_eps;
    f->attn_factor = hp.rope_attn_factor;
    f->embd_scale = hp.embd_scale;
    f->final_softcap = hp.final_softcap;
    f->L.resize(hp.n_layer);
    std::vector<double> fr((size_t)hp.n_layer * half);
    const int rot_half = hp.n_rot / 2; // partial rotary: the first n_rot dims of a head turn
    std::vector<float> factors(half, 1.f);
    const gguf_tensor *ft = arch_rope_factors(m, n_ctx);
    if (ft) lmc_dequantize(ft->type, ft->data, factors.data(), rot_half);
    // as the CPU forward computes them (cpu_init_vectors)
    for (int l = 0; l < hp.n_layer; l++)
        for (int i = 0; i < rot_half; i++)
            fr[(size_t)l * half + i] = (double)m->layers[l].rope_scale *
                                       pow((double)m->layers[l].rope_base, -2.0 * i / hp.n_rot) /
                                       (ft ? (double)factors[i] : 1.0);
    TRYC(cudaMalloc((void **)&f->freq_all, fr.size() * 8), "variant rope tables");
    TRYC(cudaMemcpy(f->freq_all, fr.data(), fr.size() * 8, cudaMemcpyHostToDevice),
         "variant rope tables");
    TRYC(cudaMalloc((void **)&f->tmp, (size_t)n_batch * hp.n_embd * 4), "variant scratch");
    for (int l = layer0; l < hp.n_layer; l++) {
        const lmc_layer *S = &m->layers[l];
        cuda_fam_layer &D = f->L[l];
        D.freq = f->freq_all + (size_t)l * half;
        D.att.scale = hp.attn_scale;
        D.att.softcap = hp.flags & LMC_BLK_ATTN_SOFTCAP ? hp.attn_softcap : 0.f;
        D.att.window = S->swa ? hp.n_swa : 0;
        TRY(fam_bias(&D.bias, S, hp, q_dim, kv_dim));
        TRY(fam_vec(&D.q_norm, S->q_norm, hd, &hp));
        TRY(fam_vec(&D.k_norm, S->k_norm, hd, &hp));
        TRY(fam_vec(&D.attn_post, S->attn_post_norm, hp.n_embd));
        TRY(fam_vec(&D.ffn_post, S->ffn_post_norm, hp.n_embd));
    }
done:
    if (st != LMC_OK) {
        cuda_fam_free(f);
        return st;
    }
    *out = f;
    return LMC_OK;
}

void cuda_fam_free(cuda_fam *f) {
    if (!f) return;
    for (auto &D : f->L) {
        cudaFree(D.bias);
        cudaFree(D.q_norm);
        cudaFree(D.k_norm);
        cudaFree(D.attn_post);
        cudaFree(D.ffn_post);
    }
    cudaFree(f->freq_all);
    cudaFree(f->tmp);
    delete f;
}

// ---- q/k/v post-processing ---------------------------------------------------------------------

// The RoPE pair (a, b) of pair index p of a head: NEOX (p, p + half), normal (2p, 2p + 1); half is
// n_rot / 2 (the head's dims past n_rot do not turn).
__device__ __forceinline__ void pair_of(bool neox, int p, int half, int *a, int *b) {
    *a = neox ? p : 2 * p;
    *b = neox ? p + half : 2 * p + 1;
}

// One block per token: bias, per-head RMSNorm of q and k (one warp per head), RoPE of the first
// n_rot dims of each head, KV store. kvrow NULL: token t at position *pos0 + t, cache row the same;
// else at pos0[t], cache row kvrow[t] (several sequences in one step, as k_rope_kv).
__global__ void k_qkv_post(float *qkv, const int32_t *pos0, const int32_t *kvrow, int n_head,
                           int n_head_kv, int hd, int n_rot, const float *__restrict__ bias,
                           const float *__restrict__ q_norm, const float *__restrict__ k_norm,
                           float eps, bool neox, const double *__restrict__ freq, float attn_factor,
                           cuda_kv kv) {
    pdl_trigger(); // the attention after it may launch; it waits for this kernel's writes
    pdl_wait();    // the q/k/v mat-vec's results, and *pos0
    const int t = blockIdx.x, pos = kvrow ? pos0[t] : *pos0 + t;
    const int64_t crow = kvrow ? kvrow[t] : pos;
    const int kv_dim = n_head_kv * hd, row_n = n_head * hd + 2 * kv_dim, half = n_rot / 2;
    float *row = qkv + (int64_t)t * row_n;
    if (bias) {
        for (int i = threadIdx.x; i < row_n; i += blockDim.x)
            row[i] += bias[i];
        __syncthreads();
    }
    if (q_norm) {
        const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
        for (int h = warp; h < n_head + n_head_kv; h += nw) {
            float *p = row + h * hd;
            const float *w = h < n_head ? q_norm : k_norm;
            float ss = 0.f;
            for (int d = lane; d < hd; d += 32)
                ss += p[d] * p[d];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1)
                ss += __shfl_xor_sync(0xffffffffu, ss, o);
            const float scale = (float)(1.0 / sqrt((double)ss / hd + eps));
            for (int d = lane; d < hd; d += 32)
                p[d] = p[d] * scale * w[d];
        }
        __syncthreads();
    }
    for (int i = threadIdx.x; i < (n_head + n_head_kv) * half; i += blockDim.x) {
        const int h = i / half, p = i % half;
        int ia, ib;
        pair_of(neox, p, half, &ia, &ib);
        float *x = row + h * hd;
        float a = x[ia], b = x[ib];
        rope_pair(a, b, pos, freq[p], attn_factor);
        x[ia] = a;
        x[ib] = b;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        kv_put(kv.k, kv.f16, crow * kv_dim + i, row[n_head * hd + i]);
        kv_put(kv.v, kv.f16, crow * kv_dim + i, row[n_head * hd + kv_dim + i]);
    }
}

static cudaError_t qkv_post(float *qkv, int n_tok, const int32_t *pos, const int32_t *kvrow,
                            int n_head, int n_head_kv, int hd, int n_rot, const float *bias,
                            const float *q_norm, const float *k_norm, float eps, bool neox,
                            const double *freq, float attn_factor, const cuda_kv &kv,
                            cudaStream_t s) {
    if (hd % 2 || n_rot % 2 || n_rot <= 0 || n_rot > hd || (q_norm == NULL) != (k_norm == NULL))
        return cudaErrorInvalidValue;
    // PDL (as the mat-vecs and the attention around it): qwen3/gemma3 run it in every decode step
    return launch_pdl(k_qkv_post, dim3(n_tok), dim3(256), s, qkv, pos, kvrow, n_head, n_head_kv, hd,
                      n_rot, bias, q_norm, k_norm, eps, neox, freq, attn_factor, kv);
}

cudaError_t cuda_qkv_post(float *qkv, int n_tok, const int32_t *pos, int n_head, int n_head_kv,
                          int hd, int n_rot, const float *bias, const float *q_norm,
                          const float *k_norm, float eps, bool neox, const double *freq,
                          float attn_factor, const cuda_kv &kv, cudaStream_t s) {
    return qkv_post(qkv, n_tok, pos, NULL, n_head, n_head_kv, hd, n_rot, bias, q_norm, k_norm, eps,
                    neox, freq, attn_factor, kv, s);
}

cudaError_t cuda_fam_qkv(const cuda_fam *f, int l, float *qkv, int n_tok, const int32_t *pos,
                         int n_head, int n_head_kv, int hd, const cuda_kv &kv, cudaStream_t s) {
    return cuda_fam_qkv_rows(f, l, qkv, n_tok, pos, NULL, n_head, n_head_kv, hd, kv, s);
}

cudaError_t cuda_fam_qkv_rows(const cuda_fam *f, int l, float *qkv, int n_tok, const int32_t *pos,
                              const int32_t *kvrow, int n_head, int n_head_kv, int hd,
                              const cuda_kv &kv, cudaStream_t s) {
    const cuda_fam_layer &D = f->L[l];
    return qkv_post(qkv, n_tok, pos, kvrow, n_head, n_head_kv, hd, f->n_rot, D.bias, D.q_norm,
                    D.k_norm, f->eps, f->neox, D.freq, f->attn_factor, kv, s);
}

// ---- element-wise and row-wise ops --------------------------------------------------------------

__global__ void k_gated_act(bool gelu, const float *__restrict__ g, int n, int row, int step,
                            int uoff, float *out32, __half *out16) {
    const int t = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float *gr = g + (int64_t)t * row + (int64_t)i * step;
    const float a = gr[0], u = gr[uoff];
    const float v = gelu ? gelu_tanh(a) * u : a / (1.f + expf(-a)) * u;
    if (out32) out32[(int64_t)t * n + i] = v;
    if (out16) out16[(int64_t)t * n + i] = __float2half_rn(v);
}

cudaError_t cuda_gated_act(bool gelu, const float *g, int n, int n_tok, int row, int step, int uoff,
                           float *out32, __half *out16, cudaStream_t s) {
    if (!gelu) return cuda_swiglu(g, n, n_tok, row, step, uoff, out32, out16, s);
    k_gated_act<<<dim3((n + 255) / 256, n_tok), 256, 0, s>>>(gelu, g, n, row, step, uoff, out32,
                                                             out16);
    return cudaGetLastError();
}

// One block per row: the sum of squares in double (as cpu_rmsnorm), then h += y * scale * w.
__global__ void k_post_norm_add(const float *__restrict__ y, const float *__restrict__ w, int n,
                                float eps, float *__restrict__ h) {
    __shared__ double sh[32];
    const float *yr = y + (int64_t)blockIdx.x * n;
    float *hr = h + (int64_t)blockIdx.x * n;
    double ss = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        ss += (double)yr[i] * yr[i];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        ss += __shfl_xor_sync(0xffffffffu, ss, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    if (lane == 0) sh[warp] = ss;
    __syncthreads();
    ss = 0;
    for (int k = 0; k < nw; k++)
        ss += sh[k];
    const float scale = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        hr[i] += yr[i] * scale * w[i];
}

cudaError_t cuda_post_norm_add(const float *y, const float *w, int n, int n_tok, float eps,
                               float *h, cudaStream_t s) {
    k_post_norm_add<<<n_tok, 512, 0, s>>>(y, w, n, eps, h);
    return cudaGetLastError();
}

// k_post_norm_add and then k_rmsnorm of the new h in one kernel, with the same arithmetic (the
// post-norm's sum of squares in double, the RMSNorm's in float): one block per row, rows up to
// PNN_KEEP * blockDim values held in registers between the passes; both norms' weights are fetched
// before waiting for the kernel that wrote y. __launch_bounds__ holds ptxas to 64 registers a
// thread (sm_90: 64K a block): left free it took 96, and every launch of 1024 threads would fail
// with cudaErrorLaunchOutOfResources.
#define PNN_KEEP 8
#define PNN_THREADS 1024
__global__ void __launch_bounds__(PNN_THREADS)
    k_post_norm_add_norm(const float *__restrict__ y, const float *__restrict__ wp,
                         const float *__restrict__ wn, int n, float eps, float *__restrict__ h,
                         float *__restrict__ out32, int8_t *__restrict__ oq,
                         float2 *__restrict__ ods) {
    __shared__ double shd[32];
    __shared__ float sh[32];
    pdl_trigger();
    const int64_t o = (int64_t)blockIdx.x * n;
    const float *yr = y + o;
    float *hr = h + o;
    const int lane = threadIdx.x & 31;
    if (n <= PNN_KEEP * (int)blockDim.x) {
        float wpv[PNN_KEEP], wnv[PNN_KEEP], yv[PNN_KEEP], hv[PNN_KEEP];
#pragma unroll
        for (int k = 0; k < PNN_KEEP; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            wpv[k] = i < n ? wp[i] : 0.f;
            wnv[k] = i < n ? wn[i] : 0.f;
        }
        pdl_wait();
        double ssd = 0;
#pragma unroll
        for (int k = 0; k < PNN_KEEP; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            yv[k] = i < n ? yr[i] : 0.f;
            hv[k] = i < n ? hr[i] : 0.f;
            ssd += (double)yv[k] * yv[k];
        }
        ssd = block_sum(ssd, shd);
        const float sp = (float)(1.0 / sqrt(ssd / n + eps));
        float ss = 0.f;
#pragma unroll
        for (int k = 0; k < PNN_KEEP; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            if (i < n) {
                hv[k] += yv[k] * sp * wpv[k];
                hr[i] = hv[k];
                ss += hv[k] * hv[k];
            }
        }
        ss = block_sum(ss, sh);
        const float sc = rsqrtf(ss / n + eps);
#pragma unroll
        for (int k = 0; k < PNN_KEEP; k++) {
            const int i = threadIdx.x + k * blockDim.x;
            if (i >= n) break; // uniform per warp when n % 32 == 0 (required with oq)
            const float v = hv[k] * sc * wnv[k];
            out32[o + i] = v;
            if (oq) quant_q8_warp(v, lane, (o + i) >> 5, oq, ods);
        }
        return;
    }
    pdl_wait();
    double ssd = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        ssd += (double)yr[i] * yr[i];
    ssd = block_sum(ssd, shd);
    const float sp = (float)(1.0 / sqrt(ssd / n + eps));
    float ss = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) { // each thread rereads only its own h
        const float v = hr[i] + yr[i] * sp * wp[i];
        hr[i] = v;
        ss += v * v;
    }
    ss = block_sum(ss, sh);
    const float sc = rsqrtf(ss / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = hr[i] * sc * wn[i];
        out32[o + i] = v;
        if (oq) quant_q8_warp(v, lane, (o + i) >> 5, oq, ods);
    }
}

cudaError_t cuda_post_norm_add_norm(const float *y, const float *wp, const float *wn, int n,
                                    int n_tok, float eps, float *h, float *out32, int8_t *oq,
                                    float2 *ods, cudaStream_t s) {
    if (oq && n % 32) return cudaErrorInvalidValue;
    return launch_pdl(k_post_norm_add_norm, dim3(n_tok), dim3(PNN_THREADS), s, y, wp, wn, n, eps, h,
                      out32, oq, ods);
}

__global__ void k_post_add_fold(const float *__restrict__ y, const float *__restrict__ wp,
                                const double *__restrict__ ssy, const float *__restrict__ wn, int n,
                                float eps, float *__restrict__ h, float *__restrict__ out32,
                                int8_t *__restrict__ oq, float2 *__restrict__ ods,
                                double *__restrict__ ss) {
    pdl_trigger();
    const int i = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x & 31;
    if (i - lane >= n) return; // whole warps past the end (n % 32 == 0)
    const float wpv = wp[i], wnv = wn[i];
    pdl_wait();
    const float sp = (float)(1.0 / sqrt(*ssy / n + eps)); // as k_post_norm_add_norm
    const float s2 = post_fold_one(h[i], y[i], sp, wpv, wnv, i, lane, h, out32, oq, ods);
    if (lane == 0) atomicAdd(ss, (double)s2);
}

cudaError_t cuda_post_add_fold(const float *y, const float *wp, const double *ssy, const float *wn,
                               int n, float eps, float *h, float *out32, int8_t *oq, float2 *ods,
                               double *ss, cudaStream_t s) {
    if (n % 32) return cudaErrorInvalidValue;
    return launch_pdl(k_post_add_fold, dim3((n + 255) / 256), dim3(256), s, y, wp, ssy, wn, n, eps,
                      h, out32, oq, ods, ss);
}

__global__ void k_scale(float *x, int64_t n, float a) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= a;
}

cudaError_t cuda_scale(float *x, int64_t n, float a, cudaStream_t s) {
    k_scale<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(x, n, a);
    return cudaGetLastError();
}

__global__ void k_softcap(float *x, int64_t n, float cap) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = softcap_of(x[i], cap);
}

cudaError_t cuda_softcap(float *x, int64_t n, float cap, cudaStream_t s) {
    k_softcap<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(x, n, cap);
    return cudaGetLastError();
}

// ---- KV shift ----------------------------------------------------------------------------------
// Rotations add: a key stored at its position turns by delta * freq to its new one (the
// attn_factor is in it already, as on the CPU).
__global__ void k_fam_kv_rotate_copy(cuda_kv src, cuda_kv dst, int kv_dim, int hd, int n_rot,
                                     int delta, bool neox, const double *__restrict__ freq) {
    const int64_t row = (int64_t)blockIdx.x * kv_dim;
    const bool f16 = src.f16; // keys turned in f32, an f16 one rounded again (as the CPU's shift)
    const int half = n_rot / 2, n_pairs = kv_dim / hd * half;
    for (int i = threadIdx.x; i < n_pairs; i += blockDim.x) {
        const int h = i / half, p = i % half;
        int ia, ib;
        pair_of(neox, p, half, &ia, &ib);
        const int64_t a = row + h * hd + ia, b = row + h * hd + ib;
        float x0 = kv_get(src.k, f16, a), x1 = kv_get(src.k, f16, b);
        rope_pair_exact(x0, x1, delta, freq[p]); // as the CPU turns it, bit for bit
        kv_put(dst.k, f16, a, x0);
        kv_put(dst.k, f16, b, x1);
    }
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        if (i % hd >= n_rot) // partial rotary: dims past n_rot keep
            kv_put(dst.k, f16, row + i, kv_get(src.k, f16, row + i));
        kv_put(dst.v, f16, row + i, kv_get(src.v, f16, row + i));
    }
}

cudaError_t cuda_fam_kv_rotate_copy(const cuda_kv &src, const cuda_kv &dst, int n, int kv_dim,
                                    int hd, int n_rot, int delta, bool neox, const double *freq,
                                    cudaStream_t s) {
    if (n <= 0) return cudaSuccess;
    if (n_rot % 2 || n_rot <= 0 || n_rot > hd || src.f16 != dst.f16) return cudaErrorInvalidValue;
    k_fam_kv_rotate_copy<<<n, 256, 0, s>>>(src, dst, kv_dim, hd, n_rot, delta, neox, freq);
    return cudaGetLastError();
}
