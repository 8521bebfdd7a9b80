// cuda_batch.cu — several sequences in one forward step (lmc_cuda_forward_batch): tokens of any
// sequences, each at its own position, prompt chunks next to single decode tokens. Sequence s owns
// cache rows [s n_ctx, (s+1) n_ctx) of every layer (a contiguous region per sequence; paged blocks
// are noted work). Steps of up to LMC_CUDA_BATCH_MV tokens (default 2, at most CUDA_MVB_MAX) run
// through batched mat-vecs on f32 activations, longer ones on f16 operands: up to CUDA_MMA_MAX
// tokens through the tensor-core product (cuda_matmul_mma.cu) where the type has it, else the
// dequantize + cuBLAS GEMMs of the prompt path; attention is per token over its own sequence, with
// LMC_CUDA_ATT_SPLIT=1 in splits of CUDA_ATT_CHUNK keys merged after (runs of one sequence's prompt
// starting at position 0 through the GEMM attention). Every block variant of arch.c runs here
// through the one-sequence path's variant steps (cuda_ctx.h: q/k/v bias and norms with per-token
// positions, the layer's attention options per token, post-norms, GELU-tanh, embedding scale,
// final soft-cap); the llama block calls none of them. LMC_CUDA_PROFILE=1 times the step's parts
// (cuda_prof.h).
#include "cuda_ctx.h"
#include <algorithm>
#include <string.h>

extern "C" {
#include "util.h"
}

// y (n rows, stride ldy) = (y +) W x for n activation rows: on c->x16 (x in f16) when gemm (the
// tensor-core product up to CUDA_MMA_MAX rows where the type has it, else the cuBLAS GEMM), else
// the batched mat-vec on x32 (n, cols) f32 (on 8-bit activations with LMC_CUDA_BATCH_Q8=1 where the
// type has them), or the one-row mat-vec per row for types without a batched kernel.
static lmc_status mm(lmc_cuda_ctx *c, const cuda_weight &w, int n, bool gemm, const float *x32,
                     float *y, int64_t ldy, bool add) {
    if (gemm) {
        if (c->tune.mma && n <= CUDA_MMA_MAX) {
            const cudaError_t e =
                cuda_matmul_mma(w, c->x16, n, y, ldy, add, c->mma_part, c->mma_cap, 0, c->st);
            if (e != cudaErrorNotSupported) return cuda_check(e, "tensor-core product");
        }
        return cuda_gemm(c->blas, w, c->x16, n, y, (int)ldy, add ? 1.f : 0.f, c->w16, c->st);
    }
    for (int i0 = 0; i0 < n; i0 += CUDA_MVB_MAX) {
        const int nb = std::min(CUDA_MVB_MAX, n - i0);
        const float *x = x32 + (size_t)i0 * w.cols;
        float *yy = y + (size_t)i0 * ldy;
        cudaError_t e = cudaErrorNotSupported;
        if (c->tune.batch_q8 && c->q8 && cuda_q8_ok(w)) {
            e = cuda_quant_q8(x, (int64_t)nb * w.cols, c->xbq, c->xbds, c->st);
            if (e == cudaSuccess)
                e = cuda_matvec_batch_q8(w, c->xbq, c->xbds, nb, yy, ldy, add, c->st);
        }
        if (e == cudaErrorNotSupported) e = cuda_matvec_batch(w, x, nb, yy, ldy, add, c->st);
        if (e == cudaErrorNotSupported) {
            e = cudaSuccess;
            for (int i = 0; i < nb && e == cudaSuccess; i++)
                e = cuda_matvec(w, x + (size_t)i * w.cols, yy + (size_t)i * ldy,
                                add ? EPI_ADD : EPI_STORE, c->st);
        }
        if (e != cudaSuccess) return cuda_check(e, "batched mat-vec");
    }
    return LMC_OK;
}

// A run of one sequence's tokens whose attention goes through cuda_attention_gemm.
struct att_run {
    int i0, n, pos0, seq;
};

// The most splits of CUDA_ATT_CHUNK keys a token of cuda_attention_rows has (at least 1), with
// LMC_CUDA_ATT_SPLIT=1; else 0: one block over all of a token's keys.
static int att_splits(const lmc_cuda_ctx *c, int n) {
    if (!c->tune.att_split) return 0;
    const int32_t *row = c->h_b + 2 * c->n_batch, *kv0 = row + c->n_batch;
    int most = 1;
    for (int i = 0; i < n; i++)
        if (kv0[i] >= 0) most = std::max(most, (row[i] - kv0[i]) / CUDA_ATT_CHUNK + 1);
    return most;
}

// A layer's splits: a sliding window bounds every token's keys to window rows.
static int layer_splits(int n_split, const cuda_att_opts &o) {
    return n_split && o.window > 0 ? std::min(n_split, (o.window - 1) / CUDA_ATT_CHUNK + 1)
                                   : n_split;
}

// The per-token indices of the step in c->h_b (rows of n_batch): token, position, cache row, first
// attended cache row (-1 for tokens of GEMM attention runs, listed in runs), wanted token indices.
static int plan_step(lmc_cuda_ctx *c, int n, const int32_t *tokens, const int32_t *pos,
                     const int32_t *seq, const int32_t *seq_start, const int8_t *want, bool gemm,
                     std::vector<att_run> &runs) {
    const int nb = c->n_batch;
    int32_t *tok = c->h_b, *ps = tok + nb, *row = ps + nb, *kv0 = row + nb, *wrow = kv0 + nb;
    int n_want = 0;
    for (int i = 0; i < n; i++) {
        tok[i] = tokens[i];
        ps[i] = pos[i];
        row[i] = seq[i] * c->n_ctx + pos[i];
        kv0[i] = seq[i] * c->n_ctx + seq_start[seq[i]];
        if (want[i]) wrow[n_want++] = i;
    }
    runs.clear();
    if (!gemm || !c->tune.att_gemm) return n_want;
    const int64_t s_floats =
        (int64_t)c->n_batch * c->hp.n_head * c->max_split * (c->hp.head_dim + 2);
    for (int i = 0; i < n;) {
        int j = i + 1;
        while (j < n && seq[j] == seq[i])
            j++;
        const int len = j - i;
        const int64_t per_q = (int64_t)c->hp.n_head * (pos[i] + len);
        if (len >= 16 && seq_start[seq[i]] == 0 && s_floats / per_q >= 16) {
            runs.push_back({i, len, pos[i], seq[i]});
            for (int k = i; k < j; k++)
                kv0[k] = -1;
        }
        i = j;
    }
    return n_want;
}

// The layers over the n tokens whose embeddings are in c->h; with dump, token observe_row's
// residual after each layer.
static lmc_status run_layers(lmc_cuda_ctx *c, int n, bool gemm, const std::vector<att_run> &runs,
                             int observe_row, float *dump) {
    const int n_split = att_splits(c, n);
    const lmc_hparams &hp = c->hp;
    cudaStream_t s = c->st;
    lmc_status st = LMC_OK;
    const int nb = c->n_batch, nff = hp.n_ff;
    const int32_t *d_pos = c->d_b + nb, *d_row = c->d_b + 2 * nb, *d_kv0 = c->d_b + 3 * nb;
    float *x32 = gemm ? NULL : c->xb32;
    __half *x16 = gemm ? c->x16 : NULL;
    for (int l = 0; l < hp.n_layer; l++) {
        cuda_layer &D = c->L[l];
        cuda_prof_mark(c->prof, PP_NORM, s);
        TRYC(cuda_rmsnorm(c->h, D.attn_norm, hp.n_embd, n, hp.norm_eps, x32, x16, s), "rmsnorm");
        cuda_prof_mark(c->prof, PP_QKV, s);
        if (D.fused_qkv) {
            TRY(mm(c, D.qkv, n, gemm, c->xb32, c->qkv, c->qkv_dim, false));
        } else {
            TRY(mm(c, D.wq, n, gemm, c->xb32, c->qkv, c->qkv_dim, false));
            TRY(mm(c, D.wk, n, gemm, c->xb32, c->qkv + c->q_dim, c->qkv_dim, false));
            TRY(mm(c, D.wv, n, gemm, c->xb32, c->qkv + c->q_dim + c->kv_dim, c->qkv_dim, false));
        }
        cuda_prof_mark(c->prof, PP_ROPE, s);
        TRYC(c->fam ? cuda_fam_qkv_rows(c->fam, l, c->qkv, n, d_pos, d_row, hp.n_head, hp.n_head_kv,
                                        hp.head_dim, D.kv, s)
                    : cuda_rope_kv_rows(c->qkv, n, d_pos, d_row, hp.n_head, hp.n_head_kv,
                                        hp.head_dim, hp.n_rot, hp.rope_base, D.kv, s),
             "rope");
        cuda_prof_mark(c->prof, PP_ATT, s);
        for (const att_run &r : runs) {
            bool done = false;
            TRY(cuda_attention_gemm_ex(
                c->blas, c->qkv + (size_t)r.i0 * c->qkv_dim, c->qkv_dim, r.n, r.pos0,
                cuda_kv_rows(D.kv, (int64_t)r.seq * c->n_ctx, c->kv_dim), c->kv32, hp.n_head,
                hp.n_head_kv, hp.head_dim, c->part,
                (int64_t)nb * hp.n_head * c->max_split * (hp.head_dim + 2),
                c->att + (size_t)r.i0 * c->q_dim, c->q_dim, att_opts(c, l), s, &done));
            if (!done) {
                st = lmc_err(LMC_ERR_BACKEND, "CUDA: attention scratch too small for %d tokens",
                             r.n);
                goto done;
            }
        }
        TRYC(cuda_attention_rows_ex(c->qkv, c->qkv_dim, n, d_kv0, d_row, D.kv, hp.n_head,
                                    hp.n_head_kv, hp.head_dim, c->part, c->max_split,
                                    layer_splits(n_split, att_opts(c, l)), c->att, att_opts(c, l),
                                    s),
             "attention");
        cuda_prof_mark(c->prof, PP_WO, s);
        if (gemm) TRYC(cuda_f32_to_f16(c->att, (int64_t)n * c->q_dim, c->x16, s), "convert");
        const float *post = post_attn(c, l); // gemma: h += post_norm(wo att)
        TRY(mm(c, D.wo, n, gemm, c->att, fam_out(c, post), hp.n_embd, !post && cuda_tp_adds(c)));
        // tensor parallel: every rank's part summed, before the post-norm (with one, in the
        // scratch fam_post adds; without, in h, to which rank 0 added its part)
        TRY(cuda_tp_reduce(c, fam_out(c, post), (int64_t)n * hp.n_embd));
        TRYC(fam_post(c, post, n), "post-norm");
        cuda_prof_mark(c->prof, PP_NORM, s);
        TRYC(cuda_rmsnorm(c->h, D.ffn_norm, hp.n_embd, n, hp.norm_eps, x32, x16, s), "rmsnorm");
        cuda_prof_mark(c->prof, PP_GU, s);
        if (D.fused_gu) {
            TRY(mm(c, D.gu, n, gemm, c->xb32, c->gu, 2 * nff, false));
            cuda_prof_mark(c->prof, PP_ACT, s);
            TRYC(cuda_gated_act(fam_gelu(c), c->gu, nff, n, 2 * nff, 2, 1, x32, x16, s), "swiglu");
        } else {
            TRY(mm(c, D.gate, n, gemm, c->xb32, c->gu, 2 * nff, false));
            TRY(mm(c, D.up, n, gemm, c->xb32, c->gu + nff, 2 * nff, false));
            cuda_prof_mark(c->prof, PP_ACT, s);
            TRYC(cuda_gated_act(fam_gelu(c), c->gu, nff, n, 2 * nff, 1, nff, x32, x16, s),
                 "swiglu");
        }
        cuda_prof_mark(c->prof, PP_DOWN, s);
        post = post_ffn(c, l); // gemma: h += post_norm(down ff)
        TRY(mm(c, D.down, n, gemm, c->xb32, fam_out(c, post), hp.n_embd, !post && cuda_tp_adds(c)));
        TRY(cuda_tp_reduce(c, fam_out(c, post), (int64_t)n * hp.n_embd));
        TRYC(fam_post(c, post, n), "post-norm");
        if (dump)
            TRYC(cudaMemcpyAsync(dump + (size_t)l * hp.n_embd,
                                 c->h + (size_t)observe_row * hp.n_embd, hp.n_embd * 4,
                                 cudaMemcpyDeviceToHost, s),
                 "dump");
    }
done:
    return st;
}

// Logits of the n_want wanted rows (indices at c->d_b + 4 n_batch) into logits (NULL: computed,
// not copied out — a tensor-parallel rank other than 0), in rounds of CUDA_LOGIT_ROWS rows:
// gather, output RMSNorm, output matrix (a rank's vocabulary rows, then every rank's), copy out.
static lmc_status run_logits(lmc_cuda_ctx *c, int n_want, float *logits) {
    const lmc_hparams &hp = c->hp;
    cudaStream_t s = c->st;
    lmc_status st = LMC_OK;
    for (int r0 = 0; r0 < n_want; r0 += CUDA_LOGIT_ROWS) {
        const int nr = std::min(CUDA_LOGIT_ROWS, n_want - r0);
        const bool gemm = nr > c->tune.batch_mv;
        TRYC(cuda_gather_rows(c->h, c->d_b + 4 * c->n_batch + r0, nr, hp.n_embd, c->hrow, s),
             "gather");
        TRYC(cuda_rmsnorm(c->hrow, c->out_norm, hp.n_embd, nr, hp.norm_eps, gemm ? NULL : c->xb32,
                          gemm ? c->x16 : NULL, s),
             "rmsnorm");
        int64_t ld;
        float *y = cuda_tp_logits_dst(c, c->logits_b, hp.n_vocab, &ld);
        TRY(mm(c, c->output, nr, gemm, c->xb32, y, ld, false));
        TRY(cuda_tp_gather(c, nr, c->logits_b, hp.n_vocab));
        TRYC(fam_logits(c, c->logits_b, nr), "soft-cap"); // elementwise, on the gathered rows
        if (!logits) continue;
        TRYC(cudaMemcpyAsync(c->h_logits_b, c->logits_b, (size_t)nr * hp.n_vocab * 4,
                             cudaMemcpyDeviceToHost, s),
             "copy");
        TRYC(cudaStreamSynchronize(s), "forward");
        memcpy(logits + (size_t)r0 * hp.n_vocab, c->h_logits_b, (size_t)nr * hp.n_vocab * 4);
    }
    if (!logits) TRYC(cudaStreamSynchronize(s), "forward");
done:
    return st;
}

static lmc_status check_batch(const lmc_cuda_ctx *c, int32_t n, const int32_t *tokens,
                              const int32_t *pos, const int32_t *seq, const int32_t *seq_start) {
    if (!c->d_b)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "CUDA forward: the batch path needs a context made for several sequences");
    if (c->layer0 != 0)
        return lmc_err(LMC_ERR_INVALID_ARG, "CUDA forward: the batch path needs every layer");
    if (n <= 0 || n > c->n_batch)
        return lmc_err(LMC_ERR_INVALID_ARG, "CUDA forward: %d tokens outside [1, n_batch %d]", n,
                       c->n_batch);
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->hp.n_vocab)
            return lmc_err(LMC_ERR_INVALID_ARG, "CUDA forward: token %d out of range (n_vocab %d)",
                           tokens[i], c->hp.n_vocab);
        if (seq[i] < 0 || seq[i] >= c->n_seq)
            return lmc_err(LMC_ERR_INVALID_ARG, "CUDA forward: sequence %d outside [0, %d)", seq[i],
                           c->n_seq);
        if (pos[i] < 0 || pos[i] >= c->n_ctx || seq_start[seq[i]] < 0 || seq_start[seq[i]] > pos[i])
            return lmc_err(LMC_ERR_CONTEXT_FULL,
                           "CUDA forward: position %d of sequence %d (starting at %d) outside "
                           "n_ctx %d",
                           pos[i], seq[i], seq_start[seq[i]], c->n_ctx);
    }
    return LMC_OK;
}

extern "C" lmc_status lmc_cuda_forward_batch(lmc_cuda_ctx *c, int32_t n, const int32_t *tokens,
                                             const int32_t *pos, const int32_t *seq,
                                             const int32_t *seq_start, const int8_t *want,
                                             float *logits, int32_t observe_row, float *layer_out) {
    if (c->pending != LMC_OK) return lmc_err(c->pending, "%s", c->pending_msg);
    lmc_status st = check_batch(c, n, tokens, pos, seq, seq_start);
    if (st != LMC_OK) return st;
    const bool gemm = n > c->tune.batch_mv;
    std::vector<att_run> runs;
    const int n_want = plan_step(c, n, tokens, pos, seq, seq_start, want, gemm, runs);
    float *dump = observe_row >= 0 && observe_row < n ? layer_out : NULL;
    TRYC(cudaMemcpyAsync(c->d_b, c->h_b, (size_t)5 * c->n_batch * 4, cudaMemcpyHostToDevice, c->st),
         "copy");
    cuda_prof_step_begin(c->prof);
    cuda_prof_mark(c->prof, PP_EMBED, c->st);
    TRYC(cuda_get_rows(c->tok_embd, c->d_b, n, c->h, c->st, fam_embd_scale(c)), "embedding");
    TRY(run_layers(c, n, gemm, runs, observe_row, dump));
    cuda_prof_mark(c->prof, PP_LOGITS, c->st);
    if (n_want > 0)
        TRY(run_logits(c, n_want, logits));
    else
        TRYC(cudaStreamSynchronize(c->st), "forward");
    cuda_prof_step_end(c->prof, n, c->st);
done:
    return st;
}
