/* cuda_backend.h — the C boundary of the CUDA backend: device query, op-level entry points on host
 * arrays (for the parity tests) and the whole-model GPU forward (upload, KV cache, decode, copy
 * bandwidth). No CUDA types cross this header; it compiles in C without the toolkit. Only built
 * with LMC_WITH_CUDA. */
#ifndef LMC_CUDA_BACKEND_H
#define LMC_CUDA_BACKEND_H

#include "comm.h"
#include "lmc.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "split_plan.h"

struct lmc_model;

/* Number of usable CUDA devices (0 when there is no driver, no device or an error). */
int lmc_cuda_device_count(void);
/* Name and memory of device 0 ("" / 0 when absent). */
void lmc_cuda_device_info(char *name, int name_size, uint64_t *free_bytes, uint64_t *total_bytes);
/* True when the GPU kernels handle this ggml type for weights. */
int lmc_cuda_type_supported(uint32_t type);

/* ---- op level, on host arrays (each call copies in, runs one kernel path, copies out) ----------
 */
/* y[r] = dot(row r of w, x) for a (rows, cols) weight of `type` in GGUF block layout, rows
 * contiguous. */
lmc_status lmc_cuda_op_matvec(uint32_t type, const void *w, int64_t rows, int64_t cols,
                              const float *x, float *y);
/* The decode mat-vec with a model family's epilogue, on f32 activations or (q8) on 8-bit ones
 * (types as lmc_cuda_op_matvec_q8): gated 1 or 2: rows are interleaved gate/up pairs and y[i] =
 * act(row 2i . x) * (row 2i+1 . x) for rows / 2 outputs, act silu (1) or gelu_tanh (2); gated 0:
 * y = softcap * tanh(W x / softcap) (softcap > 0) or W x. */
lmc_status lmc_cuda_op_matvec_epi(uint32_t type, const void *w, int64_t rows, int64_t cols,
                                  const float *x, int q8, int gated, float softcap, float *y);
/* The decode path on 8-bit activations: x quantized on the device in blocks of 32 (int8 q =
 * rn(x * 127 / amax), d = amax / 127), then dp4a mat-vec. Types: Q4_0, Q8_0, Q4_K, Q6_K. */
lmc_status lmc_cuda_op_matvec_q8(uint32_t type, const void *w, int64_t rows, int64_t cols,
                                 const float *x, float *y);
/* The activation quantizer alone (norm_w NULL) or fused into RMSNorm (out = rmsnorm(x) * norm_w
 * first): q (n int8), d (n / 32 block scales), dsum (n / 32: d * sum of the block's q). n % 32 ==
 * 0. */
lmc_status lmc_cuda_op_quant_q8(const float *x, int32_t n, const float *norm_w, float eps,
                                int8_t *q, float *d, float *dsum);
/* Y[b][r] = dot(row r, X[b]) for nb <= 16 activation rows through the small-batch kernel (each
 * weight read once for all rows). act_q8 0: f32 activations (F32, F16, Q4_0, Q8_0, Q4_K, Q6_K);
 * 1: the rows quantized as lmc_cuda_op_matvec_q8 does, dp4a (Q4_0, Q8_0, Q4_K, Q6_K). Other types
 * LMC_ERR_UNSUPPORTED. */
lmc_status lmc_cuda_op_matvec_batch(uint32_t type, const void *w, int64_t rows, int64_t cols,
                                    const float *x, int32_t nb, int act_q8, float *y);
/* Y[t][r] = dot(row r, X[t]) for n_tok activation rows through the prompt path (dequantize to f16,
 * tensor-core GEMM, f32 accumulate). */
lmc_status lmc_cuda_op_matmul(uint32_t type, const void *w, int64_t rows, int64_t cols,
                              const float *x, int32_t n_tok, float *y);
/* The same through the small-batch tensor-core product (cuda_matmul_mma.cu, 1 <= n_tok <= 64):
 * ksplit splits over K (0: its own choice, 1: none); with add, Y is read and the product added.
 * LMC_ERR_UNSUPPORTED for types or shapes without the kernel. */
lmc_status lmc_cuda_op_matmul_mma(uint32_t type, const void *w, int64_t rows, int64_t cols,
                                  const float *x, int32_t n_tok, int32_t ksplit, int add, float *y);
/* Dequantize n weights (n a multiple of the block size, a whole number of rows of `cols`). */
lmc_status lmc_cuda_op_dequant(uint32_t type, const void *w, int64_t rows, int64_t cols,
                               float *out);
/* out = x / rms(x) * w, n values. */
lmc_status lmc_cuda_op_rmsnorm(const float *x, const float *w, int32_t n, float eps, float *out);
/* In place llama (adjacent pair) rotation of n_head heads of head_dim at position pos; the first
 * n_rot dims of each head rotate. */
lmc_status lmc_cuda_op_rope(float *x, int32_t n_head, int32_t head_dim, int32_t n_rot, int32_t pos,
                            float base);
/* out[i] = silu(g[i]) * u[i]. */
lmc_status lmc_cuda_op_swiglu(const float *g, const float *u, int32_t n, float *out);
/* Decode attention of one query (n_head, head_dim) over n_kv cached keys/values, each
 * (n_kv, n_head_kv, head_dim); out (n_head, head_dim). Splits long contexts across blocks. */
lmc_status lmc_cuda_op_attention(const float *q, const float *k, const float *v, int32_t n_head,
                                 int32_t n_head_kv, int32_t head_dim, int32_t n_kv, float *out);

/* The several-sequence step's attention (cuda_attention_rows): n_tok queries q (n_tok, n_head *
 * head_dim), token t over cache rows kv0[t]..kvrow[t] of k and v (n_rows, n_head_kv * head_dim);
 * kv0[t] < 0 skips the token (its out row is left as given). With split, tokens of more than
 * CUDA_ATT_CHUNK keys split them over blocks and merge; without, one block takes all of them. */
lmc_status lmc_cuda_op_attention_rows(const float *q, const float *k, const float *v,
                                      int32_t n_head, int32_t n_head_kv, int32_t head_dim,
                                      int32_t n_rows, int32_t n_tok, const int32_t *kv0,
                                      const int32_t *kvrow, int split, float *out);

/* Prompt attention through the GEMM path: n_tok queries q (n_tok, n_head * head_dim) at positions
 * pos0.., keys/values (pos0 + n_tok, n_head_kv * head_dim); query t sees keys 0..pos0+t. s_floats:
 * the score scratch (fewer than n_head * n_kv * n_tok forces query chunks); refused when fewer than
 * 16 query rows fit. *used_gemm (may be NULL) says the GEMM path ran. */
lmc_status lmc_cuda_op_attention_prompt(const float *q, const float *k, const float *v,
                                        int32_t n_head, int32_t n_head_kv, int32_t head_dim,
                                        int32_t pos0, int32_t n_tok, int64_t s_floats, float *out,
                                        int *used_gemm);

/* ---- whole model ------------------------------------------------------------------------------
 */
typedef struct lmc_cuda_ctx lmc_cuda_ctx;

typedef struct {
    int32_t n_ctx;    /* KV positions per sequence */
    int32_t n_seq;    /* sequences, each with n_ctx positions of KV cache (0 = 1); > 1 needs
                         layer0 == 0 and runs through lmc_cuda_forward_batch */
    int32_t n_batch;  /* largest prompt batch for the GEMM path */
    int use_graph;    /* capture the decode step in a CUDA graph (1 = yes) */
    int32_t gemm_min; /* runs of at least this many tokens use the GEMM path (0 = default 16) */
    int32_t
        act_q8; /* decode mat-vecs of Q4_0/Q8_0/Q4_K/Q6_K on 8-bit activations (dp4a): 1 = on,
                   -1 = off (f32 activations, exact), 0 = default: on unless env LMC_CUDA_Q8=0 */
    int32_t
        layer0; /* first layer on the GPU (0 = all, from the embedding lookup). With layer0 > 0 only
                   the layers [layer0, n_layer), the output norm and the output matrix are uploaded
                   and given KV cache, and the input is hidden states (lmc_cuda_forward_hidden) */
    int32_t layer1; /* one past the last layer held (0 = n_layer). Below n_layer: no output norm
                       or matrix; the forward is lmc_cuda_forward_range (the layer split) */
    void (*progress)(float done, void *user); /* upload progress, may be NULL */
    void *progress_user;
    /* Tensor parallelism (issue 19, docs/MULTI_GPU.md): NULL for one GPU; else this context is
     * rank tp_rank of tp->n_rank and holds only its cut of the model (its query and KV heads, FFN
     * columns and output rows; the embedding table whole), with its heads' KV cache. Needs
     * layer0 == 0 and the llama block; runs without the decode graph and without the folded
     * RMSNorms (the norms follow the all-reduces). lmc_cuda_tp_attach gives it its communicator
     * before the first forward. */
    const split_tp_plan *tp;
    int32_t tp_rank;
    int32_t kv_f16; /* 1: K and V cached as f16 (rounded to nearest even, as the CPU's f16 cache);
                       0: f32 */
} lmc_cuda_params;

/* Bytes the context needs on the device (weights, KV cache, scratch) for these params (only the
 * layers from p->layer0 on). */
lmc_status lmc_cuda_plan(const struct lmc_model *m, const lmc_cuda_params *p, uint64_t *weights,
                         uint64_t *kv, uint64_t *scratch);
/* Uploads the weights, allocates KV + scratch; refuses with a message naming needed and free memory
 * (and an n_ctx, or a number of GPU layers, -ngl, that would fit) when the device is too small. */
lmc_status lmc_cuda_init(const struct lmc_model *m, const lmc_cuda_params *p, lmc_cuda_ctx **out);
/* 1 when the GPU forward implements the model's block variant (model.h: the llama block and every
 * LMC_BLK_* flag of arch.c's families, cuda_block_ops.cuh); else 0 and a sentence saying what it
 * lacks in why (lmc_cuda_init refuses such a model with it; an AUTO context keeps it on the CPU).
 * Needs no GPU. */
int lmc_cuda_model_supported(const struct lmc_model *m, char *why, size_t size);
/* 1 when several sequences in one step (lmc_cuda_forward_batch) run the model's block: every block
 * the one-sequence forward runs (lmc_cuda_model_supported). Needs no GPU. */
int lmc_cuda_model_batch_supported(const struct lmc_model *m);
void lmc_cuda_free(lmc_cuda_ctx *c);
/* Runs n tokens at positions pos..pos+n-1; logits (n_vocab) of the last token go to `logits`.
 * layer_out, when not NULL, receives the residual stream of the last token after each GPU layer
 * ((n_layer - layer0) * n_embd floats; runs without the graph). Needs layer0 == 0. */
lmc_status lmc_cuda_forward(lmc_cuda_ctx *c, const int32_t *tokens, int32_t n, int32_t pos,
                            float *logits, float *layer_out);
/* The same from the residual stream after layer layer0 - 1 of n tokens, hidden (n, n_embd) on the
 * host (copied to the device once per call). Needs layer0 > 0. */
lmc_status lmc_cuda_forward_hidden(lmc_cuda_ctx *c, const float *hidden, int32_t n, int32_t pos,
                                   float *logits, float *layer_out);
/* A layer range ([layer0, layer1) with layer1 < n_layer, -sm layer): n tokens (layer0 == 0) or
 * hidden states (n, n_embd) at positions pos.. in, every token's residual after layer1 - 1 out
 * into hidden_out (n, n_embd). layer_out as in lmc_cuda_forward. One sequence only. */
lmc_status lmc_cuda_forward_range(lmc_cuda_ctx *c, const int32_t *tokens, const float *hidden,
                                  int32_t n, int32_t pos, float *hidden_out, float *layer_out);
/* Several sequences in one step (a slice of lmc_fwd_batch, see backend.h): n tokens, each with its
 * position and sequence id; token i attends to positions seq_start[seq[i]]..pos[i] of its own
 * sequence's cache. Steps of up to LMC_CUDA_BATCH_MV tokens (default 2, at most 16) run through
 * batched mat-vecs (f32 activations), longer ones through the tensor-core product or the GEMMs (f16
 * operands). Logits of the tokens
 * with want[i] set go to logits in batch order. observe_row >= 0: layer_out receives that token's
 * residual after each layer. Needs layer0 == 0; works for any n_seq. */
lmc_status lmc_cuda_forward_batch(lmc_cuda_ctx *c, int32_t n, const int32_t *tokens,
                                  const int32_t *pos, const int32_t *seq, const int32_t *seq_start,
                                  const int8_t *want, float *logits, int32_t observe_row,
                                  float *layer_out);
/* Rows [row, row + n) of layer l's K and V cache (rows of the whole cache: sequence s starts at
 * row s * n_ctx), widened to f32 into k and v ((n, n_head_kv * head_dim) each), for tests. */
lmc_status lmc_cuda_kv_read(lmc_cuda_ctx *c, int32_t l, int32_t row, int32_t n, float *k, float *v);
/* Moves cache positions [from, from+n) of sequence seq down to `to` (to <= from), re-rotating the
 * keys. Errors are kept for the next forward (the backend table's kv_shift returns nothing). */
void lmc_cuda_kv_shift(lmc_cuda_ctx *c, int32_t seq, int32_t from, int32_t n, int32_t to);
/* ---- tensor parallelism (cuda_tp.cu) ---------------------------------------------------------
 * One thread per rank: each makes its GPU current (lmc_cuda_set_device) before it calls anything
 * on its context. A rank's forward is the one-GPU forward of its narrower model plus three
 * collectives on its communicator: the all-reduce of the residual after the attention output and
 * after ffn_down (rank 0 adds its partial product to the residual, the others store theirs, so
 * the sum is the residual plus every partial product), and the all-gather of the logits rows
 * (padded to the widest rank's). Every rank ends with every logit. */
lmc_status lmc_cuda_set_device(int32_t gpu);
/* The context's stream (a cudaStream_t), for a communicator that queues on it (comm_nccl). */
void *lmc_cuda_stream(lmc_cuda_ctx *c);
/* Gives a tensor-parallel context its communicator (rank and size must match its plan). */
lmc_status lmc_cuda_tp_attach(lmc_cuda_ctx *c, lmc_comm *comm);

/* Bytes of weights one decode step reads on the GPU (every matrix once plus one embedding row when
 * layer0 == 0). */
uint64_t lmc_cuda_weight_bytes_per_token(const lmc_cuda_ctx *c);

/* Device-to-device copy bandwidth on c's stream: 1 GiB copied ten times (after one warm-up copy),
 * bytes read + written per second in GB/s. Allocates 2 GiB for the duration. */
lmc_status lmc_cuda_copy_bandwidth(lmc_cuda_ctx *c, double *gb_s);

#ifdef __cplusplus
}
#endif
#endif
