/* quantize_mix.h — which type each tensor gets when a model is quantized to a file type: the
 * _S/_M/_L mixes of llama.cpp's llama_tensor_get_type (tensor role, layer, GQA, tied embeddings)
 * and its fallbacks when a row is not a multiple of the block size. It quantizes nothing. */
#ifndef LMC_QUANTIZE_MIX_H
#define LMC_QUANTIZE_MIX_H

#include "lmc.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    /* set by the caller */
    int32_t ftype;
    bool pure;
    int32_t output_type, embd_type; /* -1: the mix's choice */
    int n_layer, n_head, n_head_kv, n_expert;
    bool falcon, is_70b;
    /* state: counters advanced tensor by tensor in file order, as llama.cpp's */
    bool tied;          /* no output.weight: token_embd doubles as the output */
    int n_attention_wv; /* attn_v-like tensors in the file */
    int i_attention_wv, i_ffn_down, i_ffn_gate, i_ffn_up;
    int n_fallback;
} quant_mix;

/* The tensor type of most tensors of a file type (Q4_K for Q4_K_M, ...), or -1 when unknown. */
int32_t quant_ftype_default_type(int32_t ftype);
/* Scans the names of the tensors (in output order) once before the first quant_mix_type. */
void quant_mix_begin(quant_mix *m, const char *const *names, int n);
/* The output type of one tensor (called in output order). ne has 4 entries (unused ones 1). On an
 * impossible shape (no fallback type fits) returns -1 with the error set. */
int32_t quant_mix_type(quant_mix *m, const char *name, const int64_t *ne, uint32_t cur_type);
/* ggml_n_dims: dimensions up to the last one above 1 (at least 1). */
uint32_t quant_n_dims(const int64_t *ne);

#endif
