/* context.h — the inside of lmc_context, shared by context.c (validation, batching, sequence
 * bookkeeping) and the backends (the forward pass and the KV cache they own). A backend is a small
 * table of functions; the CPU one is src/cpu/forward.c. */
#ifndef LMC_CONTEXT_H
#define LMC_CONTEXT_H

#include "lmc.h"
#include "model.h"

/* One slice of a validated batch, at most n_batch tokens. Positions of one sequence are consecutive
 * and continue that sequence's cache, so token i attends to cache positions seq_start[seq[i]]..pos[i]
 * of its sequence (ctx->seq_start is already updated for the slice). */
typedef struct {
    int32_t n;
    const int32_t *token;      /* (n) ids in [0, n_vocab) */
    const int32_t *pos;        /* (n) positions in [0, n_ctx) */
    const int32_t *seq;        /* (n) sequence ids in [0, n_seq) */
    const int8_t *want;        /* (n) nonzero: write this token's logits */
    float *logits;             /* (number of wanted tokens, n_vocab): rows in batch order */
    int32_t dump_row;          /* index of the token to dump (ctx->dump_dir), or -1 */
} lmc_fwd_batch;

typedef struct {
    const char *name;
    /* Allocates ctx->backend_state (weights upload, KV cache, scratch) for ctx->params. */
    lmc_status (*init)(lmc_context *ctx);
    void (*free)(lmc_context *ctx);
    lmc_status (*forward)(lmc_context *ctx, const lmc_fwd_batch *b);
    /* Moves cache positions [from, from+n) of seq to start at `to` (to <= from), re-rotating keys by
     * the position delta. Range checks are done by the caller. */
    void (*kv_shift)(lmc_context *ctx, int32_t seq, int32_t from, int32_t n, int32_t to);
} lmc_backend;

struct lmc_context {
    lmc_model *model;
    lmc_context_params params; /* resolved: no zeros or AUTO left */
    const lmc_backend *backend;
    void *backend_state;
    int32_t *seq_start;        /* (n_seq) first cache position of each sequence (0 when empty) */
    int32_t *seq_len;          /* (n_seq) end of each sequence's positions: it holds [start, len) */
    int32_t *seq_next;         /* (n_seq) scratch of batch validation */
    float *logits;             /* (logits_rows, n_vocab) the last decode's wanted logits */
    int32_t logits_rows;
    int32_t *tmp_pos;          /* (n_batch) positions for lmc_decode's batches */
    int32_t *tmp_seq;          /* (n_batch) zeros */
    int8_t *tmp_want;          /* (n_batch) wanted flags for batches given with want_logits NULL */
    char *dump_dir;            /* one-shot: dump the next decode's last token, then cleared */
};

/* Writes n floats to DIR/NAME (the --dump files of every backend). */
lmc_status ctx_dump_floats(const char *dir, const char *name, const float *v, int32_t n);

extern const lmc_backend lmc_cpu_backend;
#ifdef LMC_WITH_CUDA
extern const lmc_backend lmc_cuda_backend; /* backend_cuda.c */
/* The CUDA context of a context on lmc_cuda_backend, else NULL (for context_info.c). */
struct lmc_cuda_ctx *cuda_backend_gpu(const lmc_context *ctx);
#endif

#endif
