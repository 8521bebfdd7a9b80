/* context.c — lmc_context: resolves the parameters, picks the backend, validates batches (token
 * ids, positions, sequence ids), splits them into n_batch slices and keeps each sequence's cache
 * length. The forward pass and the KV cache belong to the backend (src/backend.h); nothing here
 * computes. */
#include "context.h"
#include "context_split.h"
#ifdef LMC_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CTX_MAX_N_CTX = 1 << 20, CTX_MAX_SEQ = 1024, CTX_DEFAULT_N_CTX = 4096, CTX_MIN_AUTO = 512 };

/* Bytes of memory available now (MemAvailable), or 0 when unknown. */
static uint64_t ctx_mem_available(void) {
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

const char *lmc_kv_type_name(lmc_kv_type type) {
    return type == LMC_KV_F32    ? "f32"
           : type == LMC_KV_F16  ? "f16"
           : type == LMC_KV_Q8_0 ? "q8_0"
                                 : NULL;
}

lmc_status lmc_kv_type_from_name(const char *name, lmc_kv_type *out) {
    if (name && !strcmp(name, "f32")) {
        *out = LMC_KV_F32;
        return LMC_OK;
    }
    if (name && !strcmp(name, "f16")) {
        *out = LMC_KV_F16;
        return LMC_OK;
    }
    if (name && !strcmp(name, "q8_0")) {
        *out = LMC_KV_Q8_0;
        return LMC_OK;
    }
    return lmc_err(LMC_ERR_INVALID_ARG, "unknown KV cache type '%s' (the choices: f32, f16, q8_0)",
                   name ? name : "(null)");
}

/* Bytes of n cached elements of this type (Q8_0: blocks of 32 elements in 34 bytes; n is a
 * multiple of 32 there, which ctx_resolve_params checks through head_dim). */
static uint64_t ctx_kv_bytes(lmc_kv_type type, uint64_t n) {
    return type == LMC_KV_Q8_0 ? n / 32 * 34 : type == LMC_KV_F16 ? 2 * n : 4 * n;
}

/* The model's context length, halved until the KV caches (K and V for every layer and sequence, of
 * their element types) take at most half of the memory available now. */
static int32_t ctx_auto_n_ctx(const lmc_model *m, const lmc_context_params *p) {
    const int32_t n_seq = p->n_seq > 0 ? p->n_seq : 1;
    int32_t n = m->hp.n_ctx_train > 0 ? m->hp.n_ctx_train : CTX_DEFAULT_N_CTX;
    if (n > CTX_MAX_N_CTX) n = CTX_MAX_N_CTX;
    const uint64_t kv_dim = (uint64_t)m->hp.n_head_kv * (uint64_t)m->hp.head_dim;
    uint64_t per_pos = (ctx_kv_bytes(p->type_k, kv_dim) + ctx_kv_bytes(p->type_v, kv_dim)) *
                       (uint64_t)m->hp.n_layer * (uint64_t)n_seq;
    uint64_t avail = ctx_mem_available();
    while (avail && n > CTX_MIN_AUTO && per_pos * (uint64_t)n > avail / 2)
        n /= 2;
    return n;
}

lmc_context_params lmc_context_default_params(void) {
    lmc_context_params p = {0};
    p.n_ctx = 0; /* the model's context_length, bounded by available memory */
    p.n_seq = 1;
    p.n_threads = 0; /* online cores */
    p.n_batch = 512;
    p.device = LMC_DEVICE_AUTO;
    p.n_gpu_layers = -1;
    return p;
}

int32_t lmc_context_n_ctx(const lmc_context *ctx) {
    return ctx->params.n_ctx;
}

/* The device: AUTO resolved (the CUDA build's choice), or an error for CUDA without the backend. */
static lmc_status ctx_resolve_device(const lmc_model *m, lmc_context_params *p) {
#ifdef LMC_WITH_CUDA
    /* AUTO: the GPU when one is present and some layers go there (-ngl N puts the last N on it,
     * the first ones stay on the CPU), for a model whose block the GPU forward implements; several
     * sequences run on the GPU only with every layer there (partial offload is one sequence;
     * lmc serve says which device runs the batches and why) */
    char why[768];
    if (p->device == LMC_DEVICE_AUTO)
        p->device = lmc_cuda_device_count() > 0 && p->n_gpu_layers > 0 &&
                            lmc_cuda_model_supported(m, why, sizeof why) &&
                            (p->n_seq == 1 || (p->n_gpu_layers >= m->hp.n_layer &&
                                               lmc_cuda_model_batch_supported(m)))
                        ? LMC_DEVICE_CUDA
                        : LMC_DEVICE_CPU;
    if (p->device == LMC_DEVICE_CUDA && p->n_gpu_layers == 0) p->device = LMC_DEVICE_CPU;
    if (p->device == LMC_DEVICE_CPU) p->n_gpu_layers = 0;
#else
    (void)m;
    if (p->device == LMC_DEVICE_AUTO) p->device = LMC_DEVICE_CPU;
    if (p->device == LMC_DEVICE_CUDA)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "this build of lmc has no CUDA backend (built without nvcc)");
    if (p->device == LMC_DEVICE_CPU) p->n_gpu_layers = 0;
#endif
    return LMC_OK;
}

/* The refusal of a Q8_0 cache on the CUDA backend. */
static lmc_status ctx_err_cuda_q8_0(const lmc_context_params *p) {
    return lmc_err(LMC_ERR_UNSUPPORTED,
                   "KV cache types -ctk %s -ctv %s: the q8_0 cache runs on the CPU backend only "
                   "for now; the CUDA backend (one GPU, -sm layer, -sm row) caches f32 or f16 "
                   "(-ctk f16 -ctv f16 halves the cache on the GPU), or run on the CPU "
                   "(--device cpu or -ngl 0)",
                   lmc_kv_type_name(p->type_k), lmc_kv_type_name(p->type_v));
}

static lmc_status ctx_resolve_params(const lmc_model *m, const lmc_context_params *in,
                                     lmc_context_params *p) {
    *p = *in;
    if (!lmc_kv_type_name(p->type_k) || !lmc_kv_type_name(p->type_v))
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "unknown KV cache type %d (type_k/type_v: LMC_KV_F32, LMC_KV_F16 or "
                       "LMC_KV_Q8_0)",
                       (int)(lmc_kv_type_name(p->type_k) ? p->type_v : p->type_k));
    /* Q8_0 rows are blocks of 32 elements, and each head's keys and values must be whole blocks
     * (attention reads one KV head's slice of a row) */
    const bool q8_k = p->type_k == LMC_KV_Q8_0, q8_v = p->type_v == LMC_KV_Q8_0;
    if ((q8_k || q8_v) && m->hp.head_dim % 32 != 0)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "KV cache type q8_0 (-ctk/-ctv q8_0) stores blocks of 32 elements per head, "
                       "but this model's head_dim is %d (not a multiple of 32); use -ctk f16 -ctv "
                       "f16 to halve the cache instead",
                       m->hp.head_dim);
    if (p->n_ctx == 0) p->n_ctx = ctx_auto_n_ctx(m, p);
    if (p->n_ctx < 1 || p->n_ctx > CTX_MAX_N_CTX)
        return lmc_err(LMC_ERR_INVALID_ARG, "context size n_ctx=%d is out of range (1..%d)",
                       p->n_ctx, CTX_MAX_N_CTX);
    if (p->n_seq < 1 || p->n_seq > CTX_MAX_SEQ)
        return lmc_err(LMC_ERR_INVALID_ARG, "n_seq=%d is out of range (1..%d)", p->n_seq,
                       CTX_MAX_SEQ);
    if (p->n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        p->n_threads = n > 0 ? (int32_t)(n < 256 ? n : 256) : 1;
    }
    if (p->n_threads < 1 || p->n_threads > 1024)
        return lmc_err(LMC_ERR_INVALID_ARG, "n_threads=%d is out of range (1..1024)", p->n_threads);
    if (p->n_batch == 0) p->n_batch = 512;
    if (p->n_batch < 1 || p->n_batch > 65536)
        return lmc_err(LMC_ERR_INVALID_ARG, "n_batch=%d is out of range (1..65536)", p->n_batch);
    if (p->device != LMC_DEVICE_CPU && p->device != LMC_DEVICE_CUDA && p->device != LMC_DEVICE_AUTO)
        return lmc_err(LMC_ERR_INVALID_ARG, "unknown device %d", (int)p->device);
    if (p->n_gpu_layers < 0 || p->n_gpu_layers > m->hp.n_layer) p->n_gpu_layers = m->hp.n_layer;
    /* q8_0 with the GPU asked for by name (and some layers there): refused before any GPU is
     * looked at, the same in builds with and without the CUDA backend */
    if (p->device == LMC_DEVICE_CUDA && p->n_gpu_layers > 0 && (q8_k || q8_v))
        return ctx_err_cuda_q8_0(p);
    /* several GPUs (-sm/-ts/-mg/--tensor-parallel): checked here; -sm row over several runs on
     * the tensor-parallel backend, the rest on one GPU */
    const bool multi = p->split_mode != LMC_SPLIT_NONE || p->main_gpu != 0;
    lmc_status split_st = ctx_resolve_split(m, p, multi ? lmc_device_count(LMC_DEVICE_CUDA) : 0);
    if (split_st != LMC_OK) return split_st;
    const lmc_status dev_st = ctx_resolve_device(m, p);
    if (dev_st != LMC_OK) return dev_st;
    /* the cache types: the CPU backend takes any pair of f32, f16 and q8_0; the CUDA backends (one
     * GPU, layer split, tensor parallel: all through lmc_cuda_init) f32 or f16 for K and V alike.
     * --device auto that chose the GPU is refused like --device cuda, as for mixed types: the
     * request is neither dropped nor moved to the CPU behind the user's back */
    if (p->device == LMC_DEVICE_CUDA && (q8_k || q8_v)) return ctx_err_cuda_q8_0(p);
    if (p->device == LMC_DEVICE_CUDA && p->type_k != p->type_v)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "KV cache types -ctk %s -ctv %s: the CUDA backend caches K and V in one "
                       "type (-ctk f16 -ctv f16, or f32 for both); mixed types run on the CPU "
                       "(--device cpu or -ngl 0)",
                       lmc_kv_type_name(p->type_k), lmc_kv_type_name(p->type_v));
    return LMC_OK;
}

lmc_status lmc_context_init(lmc_model *model, const lmc_context_params *params, lmc_context **out) {
    if (!model || !out)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_context_init: model and out are required");
    *out = NULL;
    if (!model->layers)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_context_init: the model was loaded vocab-only");
    lmc_context_params defaults = lmc_context_default_params();
    lmc_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return lmc_err(LMC_ERR_OOM, "out of memory");
    ctx->model = model;
    lmc_status st = ctx_resolve_params(model, params ? params : &defaults, &ctx->params);
    if (st != LMC_OK) goto fail;
    const lmc_context_params *p = &ctx->params;
    ctx->seq_len = calloc((size_t)p->n_seq, sizeof *ctx->seq_len);
    ctx->seq_start = calloc((size_t)p->n_seq, sizeof *ctx->seq_start);
    ctx->seq_next = calloc((size_t)p->n_seq, sizeof *ctx->seq_next);
    ctx->logits_rows = p->n_seq; /* one row per sequence is the common case; grows on demand */
    ctx->logits = malloc((size_t)ctx->logits_rows * (size_t)model->hp.n_vocab * sizeof(float));
    ctx->tmp_pos = malloc((size_t)p->n_batch * sizeof *ctx->tmp_pos);
    ctx->tmp_seq = calloc((size_t)p->n_batch, sizeof *ctx->tmp_seq);
    ctx->tmp_want = calloc((size_t)p->n_batch, sizeof *ctx->tmp_want);
    if (!ctx->seq_len || !ctx->seq_start || !ctx->seq_next || !ctx->logits || !ctx->tmp_pos ||
        !ctx->tmp_seq || !ctx->tmp_want) {
        st = lmc_err(LMC_ERR_OOM, "out of memory for the context");
        goto fail;
    }
    ctx->backend = &lmc_cpu_backend;
#ifdef LMC_WITH_CUDA
    if (p->device == LMC_DEVICE_CUDA)
        ctx->backend = p->split_mode == LMC_SPLIT_ROW && p->n_tensor_parallel > 1
                           ? &lmc_tp_backend
                           : &lmc_split_backend;
#endif
    st = ctx->backend->init(model, p, &ctx->backend_state);
    if (st != LMC_OK) goto fail;
    *out = ctx;
    return LMC_OK;
fail:
    lmc_context_free(ctx);
    return st;
}

void lmc_context_free(lmc_context *ctx) {
    if (!ctx) return;
    if (ctx->backend) ctx->backend->free(ctx->backend_state);
    free(ctx->seq_len);
    free(ctx->seq_next);
    free(ctx->seq_start);
    free(ctx->logits);
    free(ctx->tmp_pos);
    free(ctx->tmp_seq);
    free(ctx->tmp_want);
    free(ctx);
}

void lmc_context_set_observer(lmc_context *ctx, lmc_observer cb, void *user) {
    if (!ctx) return;
    ctx->observer = cb;
    ctx->observer_user = cb ? user : NULL;
}

/* Checks every token of the batch before anything runs, so a bad batch leaves the caches as they
 * were. A sequence holds the positions [seq_start, seq_len). The first token of a sequence in the
 * batch continues it (seq_start <= pos <= seq_len; lower rewinds it) or, when the sequence is
 * empty, starts it at any position; its later tokens in the batch follow one by one. */
static lmc_status ctx_validate(lmc_context *ctx, const lmc_batch *b, int32_t *n_wanted) {
    const int32_t n_vocab = ctx->model->hp.n_vocab, n_ctx = ctx->params.n_ctx,
                  n_seq = ctx->params.n_seq;
    if (!b || b->n_tokens < 1 || !b->token || !b->pos)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "decode: the batch needs n_tokens >= 1, tokens and positions");
    int32_t *next =
        ctx->seq_next; /* (n_seq) next expected position, -1 before a seq's first token */
    for (int32_t s = 0; s < n_seq; s++)
        next[s] = -1;
    int32_t wanted = 0;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        int32_t tok = b->token[i], pos = b->pos[i], seq = b->seq_id ? b->seq_id[i] : 0;
        if (tok < 0 || tok >= n_vocab)
            return lmc_err(
                LMC_ERR_INVALID_ARG,
                "decode: token %d of the batch has id %d, outside the vocabulary [0, %d)", i, tok,
                n_vocab);
        if (seq < 0 || seq >= n_seq)
            return lmc_err(LMC_ERR_INVALID_ARG,
                           "decode: token %d of the batch has sequence id %d, outside [0, %d)", i,
                           seq, n_seq);
        if (pos < 0)
            return lmc_err(LMC_ERR_INVALID_ARG,
                           "decode: token %d of the batch has negative position %d", i, pos);
        if (pos >= n_ctx)
            return lmc_err(
                LMC_ERR_CONTEXT_FULL,
                "context full: token %d of the batch is at position %d but the context holds "
                "%d positions (n_ctx; raise it with -c)",
                i, pos, n_ctx);
        int32_t expect = next[seq], start = ctx->seq_start[seq], len = ctx->seq_len[seq];
        if (expect < 0 && len > start && (pos < start || pos > len))
            return lmc_err(
                LMC_ERR_INVALID_ARG,
                "decode: token %d of the batch is at position %d of sequence %d, which holds "
                "positions [%d, %d) (positions must follow each other without gaps)",
                i, pos, seq, start, len);
        if (expect >= 0 && pos != expect)
            return lmc_err(
                LMC_ERR_INVALID_ARG,
                "decode: token %d of the batch is at position %d of sequence %d, expected %d "
                "(a sequence's tokens in a batch must have consecutive positions)",
                i, pos, seq, expect);
        next[seq] = pos + 1;
        if (b->want_logits ? b->want_logits[i] != 0 : i == b->n_tokens - 1) wanted++;
    }
    *n_wanted = wanted;
    return LMC_OK;
}

/* A numeric fault (weights or metadata that overflow) must not reach a sampler or a JSON reply as
 * nan: the decode fails instead. One pass over the row, small beside the forward that made it. */
static lmc_status check_finite(const float *row, int32_t n_vocab, int32_t pos) {
    float acc = 0.0f;
    for (int32_t i = 0; i < n_vocab; i++)
        acc += row[i] * 0.0f; /* stays 0 unless some row[i] is nan or inf */
    if (acc == 0.0f) return LMC_OK;
    return lmc_err(LMC_ERR_BACKEND,
                   "decode: numeric fault: the logits at position %d are not finite (nan or inf)",
                   pos);
}

/* lmc_decode_batch; the observer (when set) sees the batch's last token when observe is true;
 * hidden (NULL or (n_tokens, n_embd)) receives every token's final norm. */
static lmc_status ctx_decode_batch(lmc_context *ctx, const lmc_batch *batch, bool observe,
                                   float *hidden, const float **logits) {
    if (logits) *logits = NULL;
    int32_t n_wanted = 0;
    lmc_status st = ctx_validate(ctx, batch, &n_wanted);
    if (st != LMC_OK) return st;
    const int32_t n_vocab = ctx->model->hp.n_vocab, n_batch = ctx->params.n_batch;
    if (n_wanted > ctx->logits_rows) {
        /* Grows only when a caller asks for more rows than ever before (e.g. all prompt logits). */
        float *nl = realloc(ctx->logits, (size_t)n_wanted * (size_t)n_vocab * sizeof(float));
        if (!nl)
            return lmc_err(LMC_ERR_OOM, "decode: out of memory for %d rows of logits", n_wanted);
        ctx->logits = nl;
        ctx->logits_rows = n_wanted;
    }
    int32_t out_row = 0;
    for (int32_t i0 = 0; i0 < batch->n_tokens; i0 += n_batch) {
        int32_t n = batch->n_tokens - i0 < n_batch ? batch->n_tokens - i0 : n_batch;
        const int32_t *seq = batch->seq_id ? batch->seq_id + i0 : ctx->tmp_seq;
        const int8_t *want = batch->want_logits ? batch->want_logits + i0 : ctx->tmp_want;
        if (!batch->want_logits) {
            memset(ctx->tmp_want, 0, (size_t)n);
            if (i0 + n == batch->n_tokens) ctx->tmp_want[n - 1] = 1;
        }
        const bool observed = observe && ctx->observer && i0 + n == batch->n_tokens;
        lmc_fwd_batch fb = {
            .n = n,
            .token = batch->token + i0,
            .pos = batch->pos + i0,
            .seq = seq,
            .seq_start = ctx->seq_start,
            .want = want,
            .logits = ctx->logits + (size_t)out_row * (size_t)n_vocab,
            .observe = observed ? ctx->observer : NULL,
            .observe_user = observed ? ctx->observer_user : NULL,
            .observe_row = observed ? n - 1 : -1,
            .hidden = hidden ? hidden + (size_t)i0 * (size_t)ctx->model->hp.n_embd : NULL,
        };
        /* The slice's tokens are in the cache once it runs: an empty sequence starts at its first
         * token, and the length follows the last position. */
        for (int32_t i = 0; i < n; i++) {
            if (ctx->seq_len[seq[i]] <= ctx->seq_start[seq[i]]) ctx->seq_start[seq[i]] = fb.pos[i];
            ctx->seq_len[seq[i]] = fb.pos[i] + 1;
        }
        st = ctx->backend->forward(ctx->backend_state, &fb);
        if (st != LMC_OK) return st;
        for (int32_t i = 0; i < n; i++)
            if (want[i] && (st = check_finite(ctx->logits + (size_t)(out_row++) * (size_t)n_vocab,
                                              n_vocab, fb.pos[i])) != LMC_OK)
                return st;
    }
    if (logits) *logits = ctx->logits;
    return LMC_OK;
}

lmc_status lmc_decode_batch(lmc_context *ctx, const lmc_batch *batch, const float **logits) {
    if (!ctx) return lmc_err(LMC_ERR_INVALID_ARG, "decode: no context");
    return ctx_decode_batch(ctx, batch, true, NULL, logits);
}

lmc_status lmc_decode(lmc_context *ctx, const int32_t *tokens, int32_t n, int32_t pos,
                      const float **logits) {
    if (!ctx) return lmc_err(LMC_ERR_INVALID_ARG, "decode: no context");
    if (logits) *logits = NULL;
    if (n < 1 || !tokens) return lmc_err(LMC_ERR_INVALID_ARG, "decode: no tokens");
    if (pos < 0) return lmc_err(LMC_ERR_INVALID_ARG, "decode: negative position %d", pos);
    if ((int64_t)pos + n > ctx->params.n_ctx)
        return lmc_err(
            LMC_ERR_CONTEXT_FULL,
            "context full: %d tokens at position %d need %lld positions but the context holds "
            "%d (n_ctx; raise it with -c)",
            n, pos, (long long)pos + n, ctx->params.n_ctx);
    /* Slices of n_batch tokens through lmc_decode_batch; only the last slice asks for logits. */
    for (int32_t i0 = 0; i0 < n; i0 += ctx->params.n_batch) {
        int32_t m = n - i0 < ctx->params.n_batch ? n - i0 : ctx->params.n_batch;
        for (int32_t i = 0; i < m; i++)
            ctx->tmp_pos[i] = pos + i0 + i;
        lmc_batch b = {.n_tokens = m, .token = tokens + i0, .pos = ctx->tmp_pos};
        lmc_status st = ctx_decode_batch(ctx, &b, i0 + m == n, NULL, logits);
        if (st != LMC_OK) return st;
    }
    return LMC_OK;
}

lmc_status lmc_embed(lmc_context *ctx, int32_t seq, const int32_t *tokens, int32_t n, float *out) {
    if (!ctx || !tokens || !out || n < 1)
        return lmc_err(LMC_ERR_INVALID_ARG, "embed: no context, tokens or output");
    if (seq < 0 || seq >= ctx->params.n_seq)
        return lmc_err(LMC_ERR_INVALID_ARG, "embed: sequence %d outside [0, %d)", seq,
                       ctx->params.n_seq);
    if (n > ctx->params.n_ctx)
        return lmc_err(LMC_ERR_CONTEXT_FULL, "embed: %d tokens but the context holds %d", n,
                       ctx->params.n_ctx);
    int32_t *pos = malloc((size_t)n * sizeof *pos), *sq = malloc((size_t)n * sizeof *sq);
    int8_t *want = calloc((size_t)n, 1); /* no logits: the output projection is skipped */
    lmc_status st = pos && sq && want ? LMC_OK : lmc_err(LMC_ERR_OOM, "embed: out of memory");
    for (int32_t i = 0; st == LMC_OK && i < n; i++)
        pos[i] = i, sq[i] = seq;
    lmc_seq_truncate(ctx, seq, 0);
    lmc_batch b = {.n_tokens = n, .token = tokens, .pos = pos, .seq_id = sq, .want_logits = want};
    if (st == LMC_OK) st = ctx_decode_batch(ctx, &b, false, out, NULL);
    if (st != LMC_OK) lmc_seq_truncate(ctx, seq, 0);
    free(pos);
    free(sq);
    free(want);
    return st;
}

void lmc_seq_truncate(lmc_context *ctx, int32_t seq, int32_t from) {
    if (!ctx || seq < 0 || seq >= ctx->params.n_seq) return;
    if (from < ctx->seq_len[seq])
        ctx->seq_len[seq] = from > ctx->seq_start[seq] ? from : ctx->seq_start[seq];
    if (ctx->seq_len[seq] == ctx->seq_start[seq])
        ctx->seq_len[seq] = ctx->seq_start[seq] = 0; /* empty */
}

lmc_status lmc_seq_shift(lmc_context *ctx, int32_t seq, int32_t from, int32_t n, int32_t to) {
    if (!ctx) return lmc_err(LMC_ERR_INVALID_ARG, "seq_shift: no context");
    if (seq < 0 || seq >= ctx->params.n_seq)
        return lmc_err(LMC_ERR_INVALID_ARG, "seq_shift: sequence %d outside [0, %d)", seq,
                       ctx->params.n_seq);
    int32_t start = ctx->seq_start[seq], len = ctx->seq_len[seq];
    /* The moved range must lie in the sequence and land inside it, or be its whole beginning (then
     * the sequence starts at `to`). */
    if (n < 1 || to < 0 || to > from || from < start || (int64_t)from + n > len ||
        (to < start && from != start))
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "seq_shift: cannot move positions [%d, %lld) of sequence %d (holding [%d, "
                       "%d)) down to %d",
                       from, (long long)from + n, seq, start, len, to);
    if (to != from) ctx->backend->kv_shift(ctx->backend_state, seq, from, n, to);
    if (from == start) ctx->seq_start[seq] = to;
    ctx->seq_len[seq] = to + n; /* what followed the moved range is forgotten */
    return LMC_OK;
}
