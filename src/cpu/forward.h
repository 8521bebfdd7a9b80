/* forward.h — the CPU backend (lmc_cpu_backend of src/backend.h): the op-level functions of the
 * reference llama forward pass (exported so other backends can be compared with them op by op), and
 * a "part" that runs a range of layers only (the CPU half of src/backend_split.c). No context here.
 */
#ifndef LMC_CPU_FORWARD_H
#define LMC_CPU_FORWARD_H

#include "backend.h"
#include "threadpool.h"
#include <stdint.h>

/* out = x / sqrt(mean(x^2) + eps) * w for one row of n values (out may equal x). */
void cpu_rmsnorm(const float *x, const float *w, float *out, int32_t n, float eps);
/* Rotates the first n_rot (even, <= head_dim) values of n_heads heads of head_dim values in place
 * by position angles; the other head_dim - n_rot pass unchanged (partial rotary, Phi-4-mini).
 * llama's normal mode: pair (v[2i], v[2i+1]) turned by theta_i = pos * base^(-2i/n_rot); cs holds
 * (cos, sin) of theta_i for i < n_rot/2 (see cpu_rope_cos_sin). */
void cpu_rope(float *v, int32_t n_heads, int32_t head_dim, int32_t n_rot, const float *cs);
/* cs[2i], cs[2i+1] = cos, sin of pos * inv_freq[i] for i < n_rot/2, computed in double. */
void cpu_rope_cos_sin(double pos, const double *inv_freq, int32_t n_rot, float *cs);
/* NEOX pairing (gpt-neox, qwen, gemma, phi3): pair (v[i], v[i + n_rot/2]) turned by theta_i. */
void cpu_rope_neox(float *v, int32_t n_heads, int32_t head_dim, int32_t n_rot, const float *cs);
/* out = silu(gate) * up, n values (out may alias gate). */
void cpu_swiglu(const float *gate, const float *up, float *out, int64_t n);
/* out = gelu_tanh(gate) * up, n values (out may alias gate); gelu_tanh(x) = 0.5 x (1 + tanh(
 * sqrt(2/pi) x (1 + 0.044715 x^2))) as ggml's GELU. */
void cpu_geglu_tanh(const float *gate, const float *up, float *out, int64_t n);
/* x = cap * tanh(x / cap), n values (gemma2's attention and final logit soft-caps). */
void cpu_softcap(float *x, int64_t n, float cap);
/* y[r] += b for n_rows rows of n values. */
void cpu_add_bias(float *y, const float *b, int32_t n_rows, int32_t n);

/* Causal GQA attention of a batch over its sequences' cached keys and values, the op of the CPU
 * forward: token i, head h attends to the positions att_first..pos[i] of its sequence seq[i] (from
 * seq_start[seq], or past the sliding window of n_swa positions when n_swa > 0) with scores
 * dot(q, k) * scale, soft-capped (softcap > 0: softcap * tanh(s / softcap)), softmax, weighted sum
 * of the values into out. Keys and values of sequence s, position p start at element s*seq_stride
 * + p*kv_dim of k and v (kv_dim = n_head_kv*head_dim, KV head g's at + g*head_dim), f32, IEEE
 * half or block_q8_0 (k_type, v_type: kernels.h's kern_kvtype; element offsets become bytes
 * through kern_kv_bytes, Q8_0 needing head_dim % 32 == 0). */
typedef struct {
    int32_t n_tok, n_head, n_head_kv, head_dim;
    const int32_t *pos, *seq, *seq_start; /* as lmc_fwd_batch's */
    const float *q;                       /* (n_tok, n_head*head_dim) */
    float *out;                           /* (n_tok, n_head*head_dim) */
    const void *k, *v;
    int32_t k_type, v_type;
    size_t seq_stride;
    float scale, softcap;
    int32_t n_swa;
    const struct kern_table *kt; /* the kernels (kernels.h); NULL: kern_best() */
} cpu_attn_args;
/* Per-thread scratch cpu_attention and cpu_attention_ref need from the pool for n_ctx positions. */
size_t cpu_attention_scratch_bytes(int32_t n_ctx);
/* Blocked over tokens and the heads of a KV head (each key and value loaded once per block) through
 * the kernel table's att_dot / att_wsum: the same bits as cpu_attention_ref on every table, however
 * the pool splits the work. */
void cpu_attention(const cpu_attn_args *a, tp_pool *pool);
/* One (token, head) at a time, one dot_f32 per key and one axpy_f32 per value: the readable
 * reference to test against (f32 caches only). */
void cpu_attention_ref(const cpu_attn_args *a, tp_pool *pool);

/* ---- a part of the forward: layers [l0, l1) with their own KV cache
 * -------------------------------- */
typedef struct cpu_state cpu_state;

/* Allocates a part for the layers [l0, l1) (0 <= l0 < l1 <= n_layer) of m with the sizes, threads
 * and sequences of p (resolved params); m must outlive it. lmc_cpu_backend is the part [0,
 * n_layer). */
lmc_status cpu_part_init(const lmc_model *m, const lmc_context_params *p, int32_t l0, int32_t l1,
                         cpu_state **out);
void cpu_part_free(cpu_state *s);
/* Runs the slice b through the part's layers. The input is the embedding of b->token when hidden_in
 * is NULL (l0 must be 0), else hidden_in (b->n, n_embd), the residual stream after layer l0 - 1.
 * When l1 == n_layer the wanted rows' logits go to b->logits as the CPU backend writes them;
 * otherwise the residual after layer l1 - 1 goes to hidden_out (b->n, n_embd) when not NULL, and
 * b->logits is not touched. With b->observe, the observed row's residual after each of the part's
 * layers is shown (and, when l1 == n_layer, its final norm and, when wanted, its logits). */
lmc_status cpu_part_forward(cpu_state *s, const lmc_fwd_batch *b, const float *hidden_in,
                            float *hidden_out);
/* lmc_backend.kv_shift for the part's layers. */
void cpu_part_kv_shift(cpu_state *s, int32_t seq, int32_t from, int32_t n, int32_t to);

#endif
