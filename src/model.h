/* model.h — the device-neutral model description shared by every backend: the architecture's block
 * variant (arch.c's table row), hyperparameters from the GGUF metadata, per-layer properties
 * computed once at load, and per-layer weight views into the mapped file. Built once by
 * arch.c/model.c; a backend reads it and runs (or refuses) the variant it describes. */
#ifndef LMC_MODEL_H
#define LMC_MODEL_H

#include "gguf.h"
#include "lmc.h"

struct tok_vocab; /* tok_vocab.h (tokenizer.c loads it) */

/* The block variant: what the forward pass does beyond the llama block. A backend that does not
 * implement a flag must refuse the model (see lmc_cuda_model_supported). */
enum {
    LMC_BLK_QKV_BIAS = 1u << 0,      /* q/k/v projections add a bias (qwen2) */
    LMC_BLK_QK_NORM = 1u << 1,       /* per-head RMSNorm of q and k before RoPE (qwen3, gemma3) */
    LMC_BLK_POST_NORMS = 1u << 2,    /* RMSNorm of the attention and FFN outputs before the residual
                                        add (gemma2/3) */
    LMC_BLK_FUSED_QKV = 1u << 3,     /* one attn_qkv matrix: rows q | k | v (phi3, when present) */
    LMC_BLK_FUSED_UP = 1u << 4,      /* one ffn_up matrix of 2*n_ff rows: gate | up (phi3) */
    LMC_BLK_EMBD_SCALE = 1u << 5,    /* embeddings times sqrt(n_embd) (gemma) */
    LMC_BLK_ATTN_SOFTCAP = 1u << 6,  /* scores = cap * tanh(scores / cap) (gemma2) */
    LMC_BLK_FINAL_SOFTCAP = 1u << 7, /* logits = cap * tanh(logits / cap) (gemma2) */
    LMC_BLK_SWA = 1u << 8,           /* some layers attend to the last n_swa positions only */
    LMC_BLK_ROPE_FACTORS = 1u << 9,  /* LongRoPE: per-frequency divisors (phi3 128k) */
};

typedef enum {
    LMC_ROPE_NORM = 0, /* llama: pairs (2i, 2i+1) */
    LMC_ROPE_NEOX = 1, /* pairs (i, i + n_rot/2) */
} lmc_rope_style;

typedef enum {
    LMC_ACT_SILU = 0,      /* silu(gate) * up */
    LMC_ACT_GELU_TANH = 1, /* gelu_tanh(gate) * up */
} lmc_ffn_act;

typedef struct {
    char arch[32]; /* general.architecture */
    int32_t n_vocab;
    int32_t n_embd; /* model width */
    int32_t n_ff;   /* FFN hidden width */
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim; /* attention.key_length (default n_embd / n_head) */
    int32_t n_layer;
    int32_t n_ctx_train;
    int32_t n_rot; /* rope.dimension_count (default head_dim) */
    float norm_eps;
    float rope_base; /* rope.freq_base: the global layers' base */
    /* the block variant, from the architecture's row and the file */
    uint32_t flags;         /* LMC_BLK_* */
    lmc_rope_style rope;    /* rotation pairing */
    lmc_ffn_act act;        /* FFN gate activation */
    float rope_freq_scale;  /* 1 / rope.scaling.factor for linear scaling (else 1) */
    float rope_base_swa;    /* base of the sliding-window layers (gemma3: 10000) */
    int32_t n_swa;          /* sliding window: a SWA layer's query at p sees keys > p - n_swa */
    int32_t swa_pattern;    /* layer l slides when l % swa_pattern < swa_pattern - 1 */
    int32_t n_ctx_orig;     /* rope.scaling.original_context_length (LongRoPE: short/long) */
    float rope_attn_factor; /* rope.scaling.attn_factor: cos and sin scaled by it (LongRoPE) */
    float attn_scale;       /* query scale (default 1/sqrt(head_dim)) */
    float attn_softcap;     /* LMC_BLK_ATTN_SOFTCAP: the cap */
    float final_softcap;    /* LMC_BLK_FINAL_SOFTCAP: the cap */
    float embd_scale;       /* LMC_BLK_EMBD_SCALE: sqrt(n_embd) as f32, else 1 */
} lmc_hparams;

/* Weights are gguf_tensor views: t->type, t->ne[0] = inputs, t->ne[1] = outputs, t->data. Optional
 * ones are NULL when the variant does not have them. */
typedef struct {
    const gguf_tensor *attn_norm;      /* (n_embd) */
    const gguf_tensor *wq;             /* (n_embd -> n_head*head_dim); NULL when wqkv */
    const gguf_tensor *wk;             /* (n_embd -> n_head_kv*head_dim); NULL when wqkv */
    const gguf_tensor *wv;             /* (n_embd -> n_head_kv*head_dim); NULL when wqkv */
    const gguf_tensor *wqkv;           /* (n_embd -> q_dim + 2*kv_dim) fused, or NULL */
    const gguf_tensor *bq, *bk, *bv;   /* (q_dim), (kv_dim), (kv_dim) biases, or NULL */
    const gguf_tensor *q_norm;         /* (head_dim) per-head RMSNorm of q, or NULL */
    const gguf_tensor *k_norm;         /* (head_dim) per-head RMSNorm of k, or NULL */
    const gguf_tensor *wo;             /* (n_head*head_dim -> n_embd) */
    const gguf_tensor *attn_post_norm; /* (n_embd) or NULL */
    const gguf_tensor *ffn_norm;       /* (n_embd) */
    const gguf_tensor *ffn_gate;       /* (n_embd -> n_ff); NULL when ffn_up is fused */
    const gguf_tensor *ffn_up;         /* (n_embd -> n_ff), or (n_embd -> 2*n_ff) gate | up */
    const gguf_tensor *ffn_down;       /* (n_ff -> n_embd) */
    const gguf_tensor *ffn_post_norm;  /* (n_embd) or NULL */
    /* per-layer properties, computed once at load */
    bool swa;         /* attends to the last hp.n_swa positions only */
    float rope_base;  /* this layer's RoPE base */
    float rope_scale; /* this layer's position scale (linear rope scaling) */
} lmc_layer;

struct lmc_model {
    gguf_file *gguf;
    lmc_hparams hp;
    const gguf_tensor *tok_embd;    /* (n_embd, n_vocab): row t is token t's embedding */
    const gguf_tensor *output_norm; /* (n_embd) */
    const gguf_tensor *output;      /* (n_embd -> n_vocab); == tok_embd when tied */
    const gguf_tensor *rope_long;   /* (n_rot/2) LongRoPE divisors past n_ctx_orig, or NULL */
    const gguf_tensor *rope_short;  /* (n_rot/2) LongRoPE divisors up to n_ctx_orig, or NULL */
    lmc_layer *layers;              /* n_layer */
    struct tok_vocab *vocab;
    char *chat_template; /* tokenizer.chat_template or NULL */
    uint64_t n_params;
    uint64_t n_bytes;
    char desc[64];
    void *weights_copy; /* model_hugepages.c: the mapping the tensors' data moved to, or NULL */
    size_t weights_copy_bytes;
};

/* model_hugepages.c: moves the weights (every tensor's data) into anonymous memory backed by huge
 * pages, once per model, where that is available (the CPU backend calls it; see the file for when
 * it is skipped); thread-safe. model_weights_release unmaps that copy (lmc_model_free). */
void model_weights_hugepages(const struct lmc_model *m);
void model_weights_release(struct lmc_model *m);

/* arch.c: fills hp and the weight views from f, checking every shape; errors name the tensor. */
lmc_status arch_load(struct lmc_model *m);
/* arch.c: true when m's block is the plain llama block (llama, mistral): no LMC_BLK_* variant flag,
 * NORM RoPE with one base and no position scale in every layer, SiLU, the default query scale.
 * The CUDA forward runs its variant steps only for other blocks (cuda_fam_plain); tensor
 * parallelism (-sm row) cuts this block only so far (ctx_resolve_split refuses the others). */
bool arch_plain_llama(const struct lmc_model *m);
/* The LongRoPE divisors a context of n_ctx positions per sequence uses (as llama.cpp chooses them:
 * long past n_ctx_orig), or NULL when the model has none. */
const gguf_tensor *arch_rope_factors(const struct lmc_model *m, int32_t n_ctx);
/* Writes a one-paragraph description of the block variant and hyperparameters into buf (snprintf
 * semantics). */
int arch_describe(const lmc_hparams *hp, char *buf, size_t size);
/* The same for a file's metadata alone (no tensors loaded), for lmc inspect; an unsupported or
 * malformed architecture is the error it would be at load. */
lmc_status arch_describe_file(const gguf_file *f, char *buf, size_t size);

#endif
