// cuda_block_ops_op.cu — the C entry points of cuda_block_ops.h: each family block operation once,
// on host buffers copied to the device and back (op tests; not a fast path).
#include "cuda_block_ops.cuh"
#include "cuda_block_ops.h"
#include <algorithm>
#include <vector>

extern "C" {
#include "util.h"
}

static lmc_status op_in(void **d, const void *h, size_t n) {
    lmc_status st = cuda_check(cudaMalloc(d, n ? n : 4), "allocation");
    if (st == LMC_OK && h) st = cuda_check(cudaMemcpy(*d, h, n, cudaMemcpyHostToDevice), "copy in");
    return st;
}

// n cache elements from host floats: as they are (f32), or rounded to f16 on the host
// (lmc_f32_to_f16, the CPU cache's rounding).
static lmc_status op_in_kv(void **d, const float *h, size_t n, bool f16) {
    if (!f16 || !h) return op_in(d, h, n * cuda_kv_elem(f16));
    std::vector<uint16_t> b(n);
    for (size_t i = 0; i < n; i++)
        b[i] = lmc_f32_to_f16(h[i]);
    return op_in(d, b.data(), n * 2);
}

extern "C" lmc_status lmc_cuda_op_qkv_post(float *qkv, int32_t n_tok, int32_t pos0, int32_t n_head,
                                           int32_t n_head_kv, int32_t hd, int32_t n_rot,
                                           const float *bias, const float *q_norm,
                                           const float *k_norm, float eps, int neox,
                                           const double *freq, float attn_factor, int kv_f16,
                                           float *k_out, float *v_out) {
    lmc_status st = LMC_OK;
    const int kv_dim = n_head_kv * hd, row = n_head * hd + 2 * kv_dim;
    const size_t cache = (size_t)(pos0 + n_tok) * kv_dim * cuda_kv_elem(kv_f16 != 0);
    float *dx = NULL, *db = NULL, *dqn = NULL, *dkn = NULL;
    void *dk = NULL, *dv = NULL;
    double *dfr = NULL;
    int32_t *dpos = NULL;
    TRY(op_in((void **)&dx, qkv, (size_t)n_tok * row * 4));
    if (bias) TRY(op_in((void **)&db, bias, (size_t)row * 4));
    if (q_norm) TRY(op_in((void **)&dqn, q_norm, (size_t)hd * 4));
    if (k_norm) TRY(op_in((void **)&dkn, k_norm, (size_t)hd * 4));
    TRY(op_in((void **)&dfr, freq, (size_t)n_rot / 2 * 8 + 8));
    TRY(op_in((void **)&dpos, &pos0, 4));
    TRY(op_in(&dk, NULL, cache));
    TRY(op_in(&dv, NULL, cache));
    {
        const cuda_kv kv = {dk, dv, kv_f16 != 0};
        TRYC(cuda_qkv_post(dx, n_tok, dpos, n_head, n_head_kv, hd, n_rot, db, dqn, dkn, eps,
                           neox != 0, dfr, attn_factor, kv, 0),
             "qkv post");
        const cuda_kv at = cuda_kv_rows(kv, pos0, kv_dim);
        TRYC(cudaMemcpy(qkv, dx, (size_t)n_tok * row * 4, cudaMemcpyDeviceToHost), "copy out");
        TRY(cuda_kv_copy_out(k_out, at.k, (size_t)n_tok * kv_dim, kv.f16));
        TRY(cuda_kv_copy_out(v_out, at.v, (size_t)n_tok * kv_dim, kv.f16));
    }
done:
    void *bufs[] = {dx, db, dqn, dkn, dk, dv, dfr, dpos};
    for (void *b : bufs)
        cudaFree(b);
    return st;
}

extern "C" lmc_status lmc_cuda_op_gated_act(int gelu, const float *g, const float *u, int32_t n,
                                            float *out) {
    lmc_status st = LMC_OK;
    float *dg = NULL, *dy = NULL;
    TRY(op_in((void **)&dg, NULL, (size_t)2 * n * 4));
    TRYC(cudaMemcpy(dg, g, (size_t)n * 4, cudaMemcpyHostToDevice), "copy in");
    TRYC(cudaMemcpy(dg + n, u, (size_t)n * 4, cudaMemcpyHostToDevice), "copy in");
    TRY(op_in((void **)&dy, NULL, (size_t)n * 4));
    TRYC(cuda_gated_act(gelu != 0, dg, n, 1, 2 * n, 1, n, dy, NULL, 0), "gated act");
    TRYC(cudaMemcpy(out, dy, (size_t)n * 4, cudaMemcpyDeviceToHost), "copy out");
done:
    cudaFree(dg);
    cudaFree(dy);
    return st;
}

extern "C" lmc_status lmc_cuda_op_post_norm_add(const float *y, const float *w, int32_t n,
                                                int32_t n_tok, float eps, float *h) {
    lmc_status st = LMC_OK;
    float *dy = NULL, *dw = NULL, *dh = NULL;
    const size_t bytes = (size_t)n * n_tok * 4;
    TRY(op_in((void **)&dy, y, bytes));
    TRY(op_in((void **)&dw, w, (size_t)n * 4));
    TRY(op_in((void **)&dh, h, bytes));
    TRYC(cuda_post_norm_add(dy, dw, n, n_tok, eps, dh, 0), "post norm");
    TRYC(cudaMemcpy(h, dh, bytes, cudaMemcpyDeviceToHost), "copy out");
done:
    cudaFree(dy);
    cudaFree(dw);
    cudaFree(dh);
    return st;
}

extern "C" lmc_status lmc_cuda_op_post_norm_add_norm(const float *y, const float *wp,
                                                     const float *wn, int32_t n, int32_t n_tok,
                                                     float eps, float *h, float *out, int8_t *q,
                                                     float *d) {
    lmc_status st = LMC_OK;
    float *dy = NULL, *dwp = NULL, *dwn = NULL, *dh = NULL, *dout = NULL;
    int8_t *dq = NULL;
    float2 *dds = NULL;
    const size_t m = (size_t)n * n_tok, nb = m / 32;
    std::vector<float2> ds;
    if (q && n % 32)
        return lmc_err(LMC_ERR_INVALID_ARG, "post_norm_add_norm: 8-bit blocks of %d values", n);
    TRY(op_in((void **)&dy, y, m * 4));
    TRY(op_in((void **)&dwp, wp, (size_t)n * 4));
    TRY(op_in((void **)&dwn, wn, (size_t)n * 4));
    TRY(op_in((void **)&dh, h, m * 4));
    TRY(op_in((void **)&dout, NULL, m * 4));
    if (q) {
        TRY(op_in((void **)&dq, NULL, m));
        TRY(op_in((void **)&dds, NULL, nb * 8));
    }
    TRYC(cuda_post_norm_add_norm(dy, dwp, dwn, n, n_tok, eps, dh, dout, dq, dds, 0),
         "post norm + rmsnorm");
    TRYC(cudaMemcpy(h, dh, m * 4, cudaMemcpyDeviceToHost), "copy out");
    TRYC(cudaMemcpy(out, dout, m * 4, cudaMemcpyDeviceToHost), "copy out");
    if (q) {
        ds.resize(nb);
        TRYC(cudaMemcpy(q, dq, m, cudaMemcpyDeviceToHost), "copy out");
        TRYC(cudaMemcpy(ds.data(), dds, nb * 8, cudaMemcpyDeviceToHost), "copy out");
        for (size_t b = 0; b < nb; b++)
            d[b] = ds[b].x;
    }
done:
    void *bufs[] = {dy, dwp, dwn, dh, dout, dq, dds};
    for (void *b : bufs)
        cudaFree(b);
    return st;
}

extern "C" lmc_status lmc_cuda_op_softcap_scale(float *x, int64_t n, float cap, float scale) {
    lmc_status st = LMC_OK;
    float *dx = NULL;
    TRY(op_in((void **)&dx, x, (size_t)n * 4));
    TRYC(cap > 0 ? cuda_softcap(dx, n, cap, 0) : cuda_scale(dx, n, scale, 0), "softcap/scale");
    TRYC(cudaMemcpy(x, dx, (size_t)n * 4, cudaMemcpyDeviceToHost), "copy out");
done:
    cudaFree(dx);
    return st;
}

extern "C" lmc_status lmc_cuda_op_attention_variant(const float *q, const float *k, const float *v,
                                                    int32_t n_head, int32_t n_head_kv, int32_t hd,
                                                    int32_t pos0, int32_t n_tok, float scale,
                                                    float softcap, int32_t window, int gemm,
                                                    int kv_f16, float *out) {
    lmc_status st = LMC_OK;
    const int q_dim = n_head * hd, n_kv = pos0 + n_tok;
    const int max_split = (n_kv + CUDA_ATT_CHUNK - 1) / CUDA_ATT_CHUNK;
    const size_t kvn = (size_t)n_kv * n_head_kv * hd;
    const int64_t part_n = std::max<int64_t>((int64_t)n_tok * n_head * max_split * (hd + 2),
                                             (int64_t)n_head * n_kv * n_tok);
    const cuda_att_opts o = {scale, softcap, window};
    float *dq = NULL, *dpart = NULL, *dy = NULL, *dkv32 = NULL;
    cuda_kv kv = {NULL, NULL, kv_f16 != 0};
    int32_t *dpos = NULL;
    int *dcnt = NULL;
    cublasHandle_t h = NULL;
    bool used = false;
    if (n_head % n_head_kv != 0 || hd > 256 || n_tok <= 0 || pos0 < 0)
        return lmc_err(LMC_ERR_INVALID_ARG, "CUDA attention: bad shape");
    TRY(op_in((void **)&dq, q, (size_t)n_tok * q_dim * 4));
    TRY(op_in_kv(&kv.k, k, kvn, kv.f16));
    TRY(op_in_kv(&kv.v, v, kvn, kv.f16));
    if (kv.f16) TRY(op_in((void **)&dkv32, NULL, 2 * kvn * 4));
    TRY(op_in((void **)&dpart, NULL, (size_t)part_n * 4));
    TRY(op_in((void **)&dy, NULL, (size_t)n_tok * q_dim * 4));
    TRY(op_in((void **)&dpos, &pos0, 4));
    TRY(op_in((void **)&dcnt, NULL, (size_t)n_tok * n_head * 4));
    TRYC(cudaMemset(dcnt, 0, (size_t)n_tok * n_head * 4), "attention");
    if (gemm == 1) {
        if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
            st = lmc_err(LMC_ERR_BACKEND, "cuBLAS: cannot create a handle");
            goto done;
        }
        TRY(cuda_attention_gemm_ex(h, dq, q_dim, n_tok, pos0, kv, dkv32, n_head, n_head_kv, hd,
                                   dpart, part_n, dy, q_dim, o, 0, &used));
        if (!used) {
            st = lmc_err(LMC_ERR_INVALID_ARG, "CUDA attention: the GEMM path did not run");
            goto done;
        }
    } else if (gemm >= 2) { // the several-sequence kernel: token t over rows 0..pos0 + t
        std::vector<int32_t> rows(2 * (size_t)n_tok);
        for (int t = 0; t < n_tok; t++)
            rows[t] = 0, rows[n_tok + t] = pos0 + t;
        cudaFree(dpos);
        dpos = NULL;
        TRY(op_in((void **)&dpos, rows.data(), rows.size() * 4));
        // 3: in splits of CUDA_ATT_CHUNK keys from the window's first row (LMC_CUDA_ATT_SPLIT=1)
        TRYC(cuda_attention_rows_ex(dq, q_dim, n_tok, dpos, dpos + n_tok, kv, n_head, n_head_kv, hd,
                                    dpart, max_split, gemm == 3 ? max_split : 0, dy, o, 0),
             "attention");
    } else {
        TRYC(cuda_attention_ex(dq, q_dim, n_tok, dpos, kv, n_head, n_head_kv, hd, max_split, dpart,
                               dcnt, dy, NULL, NULL, o, 0),
             "attention");
    }
    TRYC(cudaMemcpy(out, dy, (size_t)n_tok * q_dim * 4, cudaMemcpyDeviceToHost), "attention");
done:
    if (h) cublasDestroy(h);
    void *bufs[] = {dq, kv.k, kv.v, dpart, dy, dpos, dcnt, dkv32};
    for (void *b : bufs)
        cudaFree(b);
    return st;
}

extern "C" lmc_status lmc_cuda_op_kv_rotate(float *k, int32_t n, int32_t kv_dim, int32_t hd,
                                            int32_t n_rot, int32_t delta, int neox,
                                            const double *freq, int kv_f16, int llama) {
    lmc_status st = LMC_OK;
    const size_t m = (size_t)n * kv_dim, bytes = m * cuda_kv_elem(kv_f16 != 0);
    cuda_kv src = {NULL, NULL, kv_f16 != 0}, dst = src;
    double *dfr = NULL;
    if (llama && neox) return lmc_err(LMC_ERR_INVALID_ARG, "kv rotate: the llama kernel is normal");
    TRY(op_in_kv(&src.k, k, m, src.f16));
    TRY(op_in(&src.v, NULL, bytes));
    TRYC(cudaMemset(src.v, 0, bytes), "kv rotate");
    TRY(op_in(&dst.k, NULL, bytes));
    TRY(op_in(&dst.v, NULL, bytes));
    TRY(op_in((void **)&dfr, freq, (size_t)n_rot / 2 * 8 + 8));
    TRYC(llama ? cuda_kv_rotate_copy(src, dst, n, kv_dim, hd, n_rot, delta, dfr, 0)
               : cuda_fam_kv_rotate_copy(src, dst, n, kv_dim, hd, n_rot, delta, neox != 0, dfr, 0),
         "kv rotate");
    TRY(cuda_kv_copy_out(k, dst.k, m, dst.f16));
done:
    void *bufs[] = {src.k, src.v, dst.k, dst.v, dfr};
    for (void *b : bufs)
        cudaFree(b);
    return st;
}
