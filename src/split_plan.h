/* split_plan.h — how a model is cut over several GPUs (issue 19), as plain numbers: for tensor
 * parallelism (-sm row, N ranks) which attention heads, FFN columns and vocabulary rows each rank
 * owns; for the layer split (-sm layer) which contiguous layers each device runs, from llama.cpp's
 * --tensor-split proportions. No device code and no allocation: the CUDA path (docs/MULTI_GPU.md)
 * and the CPU test of the schedule (tests/test_split_plan.c) both read these ranges.
 *
 * Tensor-parallel cut of the llama block (Megatron-style), per rank r of N:
 *  - KV heads split evenly (n_head_kv % N == 0); the query heads follow their KV group (GQA: query
 *    head h uses KV head h / (n_head / n_head_kv)), so a rank's attention is local to it.
 *  - wq/wk/wv: the rank's heads' output rows (column-parallel). wo: the same heads' slice of every
 *    row's inputs (row-parallel); the slice must start and end on wo's quant-block boundaries.
 *  - ffn_gate/ffn_up: a range of output rows (columns of the FFN); ffn_down: the same range of its
 *    inputs, so the range is cut in whole blocks of ffn_down's type (Q4_K: 256). When the blocks
 *    do not divide evenly the first ranks get one block more; fewer blocks than ranks is an error.
 *  - output and token embedding: ranges of vocabulary rows, as even as whole rows allow.
 * Everything else (norms, RoPE, residual) is replicated. */
#ifndef LMC_SPLIT_PLAN_H
#define LMC_SPLIT_PLAN_H

#include "lmc.h"
#include <stdint.h>

#define SPLIT_MAX_RANKS 16

struct lmc_model;

typedef struct {
    int32_t lo, hi; /* [lo, hi) */
} split_range;

/* The geometry the tensor-parallel cut depends on (split_geom_of fills it from a model; a test can
 * write one for a model it does not have, e.g. Llama-70B). */
typedef struct {
    int32_t n_head, n_head_kv, head_dim, n_ff, n_vocab;
    int32_t wo_block;   /* weights per quant block of attn_output (largest of layers) */
    int32_t down_block; /* the same for ffn_down */
    char wo_type[16], down_type[16]; /* their type names, for messages */
} split_geom;

typedef struct {
    int32_t n_rank;
    int32_t ff_unit;                      /* FFN columns are cut in multiples of this */
    split_range kv_head[SPLIT_MAX_RANKS]; /* KV heads of each rank */
    split_range q_head[SPLIT_MAX_RANKS];  /* query heads of each rank (its KV heads' groups) */
    split_range ff[SPLIT_MAX_RANKS];      /* FFN columns [lo, hi) of n_ff */
    split_range vocab[SPLIT_MAX_RANKS];   /* output / embedding rows of n_vocab */
    int32_t vocab_max;                    /* the widest rank's vocab rows (all-gather count) */
} split_tp_plan;

/* Fills g from m (every layer's wo and ffn_down type counts; the largest block wins). */
void split_geom_of(const struct lmc_model *m, split_geom *g);
/* The tensor-parallel cut of g over n_rank ranks; LMC_ERR_INVALID_ARG (lmc_last_error says which
 * rule) when it is impossible: n_rank out of 1..SPLIT_MAX_RANKS, more ranks than KV heads, KV
 * heads not divisible by the ranks, a head slice of wo not on a block boundary, fewer FFN blocks
 * than ranks, fewer vocabulary rows than ranks. */
lmc_status split_tp_plan_make(const split_geom *g, int32_t n_rank, split_tp_plan *out);

/* The layer split: n_dev proportions ts (llama.cpp's --tensor-split: non-negative, any scale; NULL
 * or all zero: equal shares, where llama.cpp would weigh by free memory) turned into contiguous
 * layer ranges out[d] (empty, lo == hi, for a zero share) and the device of the output matrix. As
 * llama.cpp assigns them with every layer offloaded: the output counts as layer n_layer, and layer
 * l goes to the first device whose cumulative share exceeds l / (n_layer + 1).
 * LMC_ERR_INVALID_ARG for a negative or non-finite share or n_dev out of 1..SPLIT_MAX_RANKS. */
lmc_status split_layer_plan(int32_t n_layer, const float *ts, int32_t n_dev, split_range *out,
                            int32_t *output_dev);

#endif
