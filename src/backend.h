/* backend.h — the one interface lmc_context drives a backend through (a small table of functions
 * over an opaque state) and the slice of a batch it hands over. It deliberately knows nothing of
 * lmc_context: no backend sees the context, and this header is all the context sees of a backend.
 *
 * The backend interface. A backend is an lmc_backend table, as ggml's backend interface is a small
 * vtable its scheduler drives. init takes the model and the context's resolved parameters (no zero
 * or AUTO left) and returns an opaque state holding whatever the backend needs to run: uploaded
 * weights, the KV cache of every sequence, scratch for n_batch tokens. forward runs one slice of a
 * batch (lmc_fwd_batch: at most n_batch tokens with their positions, sequence ids, each sequence's
 * first cache position and which rows want logits) and writes the wanted rows' logits; kv_shift
 * moves a range of a sequence's cache down, re-rotating the keys. The context (src/context.c) owns
 * everything else: parameter checks, batch validation, the cut into n_batch slices and the
 * sequences' bookkeeping (truncation needs no backend call: positions past a sequence's length are
 * simply overwritten). An observer (lmc_observer of lmc.h) rides along in the slice: when set, the
 * backend reports one token's residual stream after each layer it runs, the final norm where it
 * computes one on the host, and the logits; when NULL it costs one test per layer. Backends:
 * src/cpu/forward.c (every layer on the CPU), src/backend_split.c (the first layers on the CPU,
 * the rest and the output on the GPU through src/cuda) and src/backend_tp.c (tensor parallelism:
 * one split state per rank, each on its thread). Layers point one way: context -> backend ->
 * kernels. */
#ifndef LMC_BACKEND_H
#define LMC_BACKEND_H

#include "lmc.h"
#include "model.h"
#include "split_plan.h"

/* One slice of a validated batch, at most n_batch tokens. Positions of one sequence are consecutive
 * and continue that sequence's cache, so token i attends to cache positions
 * seq_start[seq[i]]..pos[i] of its sequence (seq_start already counts this slice's tokens). */
typedef struct {
    int32_t n;
    const int32_t *token;     /* (n) ids in [0, n_vocab) */
    const int32_t *pos;       /* (n) positions in [0, n_ctx) */
    const int32_t *seq;       /* (n) sequence ids in [0, n_seq) */
    const int32_t *seq_start; /* (n_seq) first cache position of each sequence */
    const int8_t *want;       /* (n) nonzero: write this token's logits */
    float *logits;            /* (number of wanted tokens, n_vocab): rows in batch order; NULL
                               * for a tensor-parallel rank other than 0 (split backend only) */
    lmc_observer observe;     /* NULL: nothing observed; else it sees the token observe_row */
    void *observe_user;
    int32_t observe_row;
    float *hidden; /* NULL, or (n, n_embd): every token's last residual after the output norm
                    * (lmc_embed). Only the CPU backend writes it; the split backend refuses it */
} lmc_fwd_batch;

typedef struct {
    const char *name;
    /* Allocates the state (weights upload, KV cache, scratch) for p (resolved). On failure *state
     * is NULL and nothing is left allocated. */
    lmc_status (*init)(const lmc_model *m, const lmc_context_params *p, void **state);
    void (*free)(void *state);
    lmc_status (*forward)(void *state, const lmc_fwd_batch *b);
    /* Moves cache positions [from, from+n) of seq to start at `to` (to <= from), re-rotating keys
     * by the position delta. Range checks are done by the caller. */
    void (*kv_shift)(void *state, int32_t seq, int32_t from, int32_t n, int32_t to);
} lmc_backend;

extern const lmc_backend lmc_cpu_backend; /* src/cpu/forward.c */
#ifdef LMC_WITH_CUDA
extern const lmc_backend lmc_split_backend; /* src/backend_split.c */
/* The CUDA context inside a lmc_split_backend state (for context_info.c's device queries). */
struct lmc_cuda_ctx *split_backend_gpu(void *state);
/* A lmc_split_backend state holding rank `rank` of the tensor-parallel cut tp (every layer on the
 * GPU current on the calling thread; p resolved with n_gpu_layers == n_layer). */
lmc_status split_backend_init_rank(const lmc_model *m, const lmc_context_params *p,
                                   const split_tp_plan *tp, int32_t rank, void **state);
/* Tensor parallelism, -sm row over n_tensor_parallel ranks (src/backend_tp.c). */
extern const lmc_backend lmc_tp_backend;
struct lmc_cuda_ctx *tp_backend_gpu(void *state); /* rank 0's context */
#endif

#endif
