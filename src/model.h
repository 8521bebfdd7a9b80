/* model.h — the device-neutral model description shared by every backend: hyperparameters from the
 * GGUF metadata and per-layer weight views into the mapped file. Built once by arch.c/model.c. */
#ifndef LMC_MODEL_H
#define LMC_MODEL_H

#include "gguf.h"
#include "lmc.h"

struct tok_vocab; /* tokenizer.c */

typedef struct {
    char arch[32]; /* general.architecture */
    int32_t n_vocab;
    int32_t n_embd; /* model width */
    int32_t n_ff;   /* FFN hidden width */
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim; /* n_embd / n_head */
    int32_t n_layer;
    int32_t n_ctx_train;
    int32_t n_rot; /* rope.dimension_count (default head_dim) */
    float norm_eps;
    float rope_base;
} lmc_hparams;

/* Weights are gguf_tensor views: t->type, t->ne[0] = inputs, t->ne[1] = outputs, t->data. */
typedef struct {
    const gguf_tensor *attn_norm; /* (n_embd) */
    const gguf_tensor *wq;        /* (n_embd -> n_head*head_dim) */
    const gguf_tensor *wk;        /* (n_embd -> n_head_kv*head_dim) */
    const gguf_tensor *wv;        /* (n_embd -> n_head_kv*head_dim) */
    const gguf_tensor *wo;        /* (n_head*head_dim -> n_embd) */
    const gguf_tensor *ffn_norm;  /* (n_embd) */
    const gguf_tensor *ffn_gate;  /* (n_embd -> n_ff) */
    const gguf_tensor *ffn_up;    /* (n_embd -> n_ff) */
    const gguf_tensor *ffn_down;  /* (n_ff -> n_embd) */
} lmc_layer;

struct lmc_model {
    gguf_file *gguf;
    lmc_hparams hp;
    const gguf_tensor *tok_embd;    /* (n_embd, n_vocab): row t is token t's embedding */
    const gguf_tensor *output_norm; /* (n_embd) */
    const gguf_tensor *output;      /* (n_embd -> n_vocab); == tok_embd when tied */
    lmc_layer *layers;              /* n_layer */
    struct tok_vocab *vocab;
    char *chat_template; /* tokenizer.chat_template or NULL */
    uint64_t n_params;
    uint64_t n_bytes;
    char desc[64];
};

/* arch.c: fills hp and the weight views from f, checking every shape; errors name the tensor. */
lmc_status arch_load(struct lmc_model *m);

#endif
