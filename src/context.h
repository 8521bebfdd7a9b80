/* context.h — the inside of lmc_context (context.c: validation, batching, sequence bookkeeping).
 * The backends never see it: the context drives them through src/backend.h. */
#ifndef LMC_CONTEXT_H
#define LMC_CONTEXT_H

#include "backend.h"
#include "lmc.h"
#include "model.h"

struct lmc_context {
    lmc_model *model;
    lmc_context_params params; /* resolved: no zeros or AUTO left */
    const lmc_backend *backend;
    void *backend_state;
    int32_t *seq_start; /* (n_seq) first cache position of each sequence (0 when empty) */
    int32_t *seq_len;   /* (n_seq) end of each sequence's positions: it holds [start, len) */
    int32_t *seq_next;  /* (n_seq) scratch of batch validation */
    float *logits;      /* (logits_rows, n_vocab) the last decode's wanted logits */
    int32_t logits_rows;
    int32_t *tmp_pos;      /* (n_batch) positions for lmc_decode's batches */
    int32_t *tmp_seq;      /* (n_batch) zeros */
    int8_t *tmp_want;      /* (n_batch) wanted flags for batches given with want_logits NULL */
    lmc_observer observer; /* NULL: none; else it sees the last token of each decode call */
    void *observer_user;
};

#endif
