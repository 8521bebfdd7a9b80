/* quantize_mix.c — the per-tensor type choice of llama.cpp's quantizer (src/llama-quant.cpp:
 * tensor_allows_quantization, llama_tensor_get_type, tensor_type_fallback), reimplemented for the
 * file types lmc writes. Quirks kept on purpose, since bit-identity depends on them: the layer
 * counters count tensors in output order (not the blk number), and attn_qkv is treated as attn_v.
 */
#include "quantize_mix.h"

#include "quant.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

typedef enum {
    CAT_TOKEN_EMBD,
    CAT_ATTN_Q,
    CAT_ATTN_V, /* attn_v, attn_qkv, attn_kv_b */
    CAT_ATTN_K,
    CAT_ATTN_OUTPUT,
    CAT_FFN_UP,
    CAT_FFN_GATE,
    CAT_FFN_DOWN,
    CAT_OUTPUT,
    CAT_OTHER
} category;

static bool has(const char *s, const char *sub) {
    return strstr(s, sub) != NULL;
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !memcmp(s + n - k, suf, k);
}

static category categorize(const char *name) {
    if (!strcmp(name, "output.weight")) return CAT_OUTPUT;
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight"))
        return CAT_TOKEN_EMBD;
    if (has(name, "attn_qkv.weight") || has(name, "attn_kv_b.weight") || has(name, "attn_v.weight"))
        return CAT_ATTN_V;
    if (has(name, "attn_k.weight")) return CAT_ATTN_K;
    if (has(name, "attn_q.weight")) return CAT_ATTN_Q;
    if (has(name, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    if (has(name, "ffn_up")) return CAT_FFN_UP;
    if (has(name, "ffn_gate")) return CAT_FFN_GATE;
    if (has(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

uint32_t quant_n_dims(const int64_t *ne) {
    for (int i = 3; i >= 1; i--)
        if (ne[i] > 1) return (uint32_t)i + 1;
    return 1;
}

/* Tensors llama.cpp never quantizes: 1-D ones, norms, routers, small special matrices. */
static bool allows_quantization(const char *name, const int64_t *ne) {
    static const char *const never[] = {"_norm.weight",
                                        "ffn_gate_inp.weight",
                                        "ffn_gate_tid2eid.weight",
                                        "altup",
                                        "laurel",
                                        "per_layer_model_proj",
                                        "ssm_conv1d",
                                        "shortconv.conv.weight",
                                        "indexer.k_proj.weight",
                                        "indexer.q_proj.weight",
                                        "time_mix_first.weight",
                                        "time_mix_w0.weight",
                                        "time_mix_w1.weight",
                                        "time_mix_w2.weight",
                                        "time_mix_v0.weight",
                                        "time_mix_v1.weight",
                                        "time_mix_v2.weight",
                                        "time_mix_a0.weight",
                                        "time_mix_a1.weight",
                                        "time_mix_a2.weight",
                                        "time_mix_g1.weight",
                                        "time_mix_g2.weight",
                                        "time_mix_decay_w1.weight",
                                        "time_mix_decay_w2.weight",
                                        "time_mix_lerp_fused.weight",
                                        "attn_rel_b.weight",
                                        ".position_embd",
                                        "sam.pos_embd",
                                        "sam.neck.",
                                        "sam.net_",
                                        ".rel_pos",
                                        ".patch_embd",
                                        ".patch_merger",
                                        "a.rvq.codebook",
                                        "mm.a.code_embd"};
    if (quant_n_dims(ne) < 2 || !ends_with(name, "weight")) return false;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (has(name, never[i])) return false;
    return strcmp(name, "position_embd.weight") && strcmp(name, "token_types.weight");
}

int32_t quant_ftype_default_type(int32_t ftype) {
    switch (ftype) {
    case LMC_FTYPE_ALL_F32:
        return LMC_TYPE_F32;
    case LMC_FTYPE_F16:
        return LMC_TYPE_F16;
    case LMC_FTYPE_BF16:
        return LMC_TYPE_BF16;
    case LMC_FTYPE_Q4_0:
        return LMC_TYPE_Q4_0;
    case LMC_FTYPE_Q4_1:
        return LMC_TYPE_Q4_1;
    case LMC_FTYPE_Q5_0:
        return LMC_TYPE_Q5_0;
    case LMC_FTYPE_Q5_1:
        return LMC_TYPE_Q5_1;
    case LMC_FTYPE_Q8_0:
        return LMC_TYPE_Q8_0;
    case LMC_FTYPE_Q2_K:
        return LMC_TYPE_Q2_K;
    case LMC_FTYPE_Q3_K_S:
    case LMC_FTYPE_Q3_K_M:
    case LMC_FTYPE_Q3_K_L:
        return LMC_TYPE_Q3_K;
    case LMC_FTYPE_Q4_K_S:
    case LMC_FTYPE_Q4_K_M:
        return LMC_TYPE_Q4_K;
    case LMC_FTYPE_Q5_K_S:
    case LMC_FTYPE_Q5_K_M:
        return LMC_TYPE_Q5_K;
    case LMC_FTYPE_Q6_K:
        return LMC_TYPE_Q6_K;
    default:
        return -1;
    }
}

static bool is_quantized(int32_t type) {
    return type != LMC_TYPE_F32 && type != LMC_TYPE_F16 && type != LMC_TYPE_BF16;
}

void quant_mix_begin(quant_mix *m, const char *const *names, int n) {
    m->tied = true;
    m->n_attention_wv = m->i_attention_wv = m->i_ffn_down = m->i_ffn_gate = m->i_ffn_up = 0;
    m->n_fallback = 0;
    for (int i = 0; i < n; i++) {
        category c = categorize(names[i]);
        if (c == CAT_ATTN_V) m->n_attention_wv++;
        if (c == CAT_OUTPUT) m->tied = false;
    }
}

static bool more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* The layer the mix reasons about: the counter, or for MoE models the blk number in the name. */
static int layer_of(const quant_mix *m, int counter, const char *name) {
    int il = counter;
    if (m->n_expert > 1 && sscanf(name, "blk.%d.", &il) != 1) return -1;
    return il;
}

static int32_t attn_v_type(quant_mix *m, int32_t t) {
    const int32_t f = m->ftype;
    const int gqa = m->n_head_kv ? m->n_head / m->n_head_kv : 0;
    if (f == LMC_FTYPE_Q2_K)
        t = gqa >= 4 ? LMC_TYPE_Q4_K : LMC_TYPE_Q3_K;
    else if (f == LMC_FTYPE_Q3_K_M)
        t = m->i_attention_wv < 2 ? LMC_TYPE_Q5_K : LMC_TYPE_Q4_K;
    else if (f == LMC_FTYPE_Q3_K_L)
        t = LMC_TYPE_Q5_K;
    else if ((f == LMC_FTYPE_Q4_K_M || f == LMC_FTYPE_Q5_K_M) &&
             more_bits(m->i_attention_wv, m->n_attention_wv))
        t = LMC_TYPE_Q6_K;
    else if (f == LMC_FTYPE_Q4_K_S && m->i_attention_wv < 4)
        t = LMC_TYPE_Q5_K;
    if (m->is_70b && (t == LMC_TYPE_Q3_K || t == LMC_TYPE_Q4_K)) t = LMC_TYPE_Q5_K;
    if (m->n_expert == 8) t = LMC_TYPE_Q8_0;
    ++m->i_attention_wv;
    return t;
}

static int32_t ffn_down_type(quant_mix *m, int32_t t, const char *name) {
    const int32_t f = m->ftype;
    const int il = layer_of(m, m->i_ffn_down, name), nl = m->n_layer;
    if (f == LMC_FTYPE_Q2_K)
        t = LMC_TYPE_Q3_K;
    else if (f == LMC_FTYPE_Q3_K_M)
        t = il < nl / 16                      ? LMC_TYPE_Q5_K
            : !m->falcon || more_bits(il, nl) ? LMC_TYPE_Q4_K
                                              : LMC_TYPE_Q3_K;
    else if (f == LMC_FTYPE_Q3_K_L)
        t = m->falcon ? LMC_TYPE_Q4_K : LMC_TYPE_Q5_K;
    else if (f == LMC_FTYPE_Q4_K_M) {
        if (m->falcon)
            t = il < nl / 16 ? LMC_TYPE_Q6_K : more_bits(il, nl) ? LMC_TYPE_Q5_K : LMC_TYPE_Q4_K;
        else if (more_bits(il, nl))
            t = LMC_TYPE_Q6_K;
    } else if (f == LMC_FTYPE_Q5_K_M && more_bits(il, nl))
        t = LMC_TYPE_Q6_K;
    else if (f == LMC_FTYPE_Q4_K_S && !m->falcon && il < nl / 8)
        t = LMC_TYPE_Q5_K;
    ++m->i_ffn_down;
    return t;
}

static int32_t attn_output_type(const quant_mix *m, int32_t t) {
    const int32_t f = m->ftype;
    if (m->falcon) return f == LMC_FTYPE_Q3_K_L ? LMC_TYPE_Q4_K : t;
    if (m->n_expert == 8) {
        if (f == LMC_FTYPE_Q2_K || f == LMC_FTYPE_Q3_K_S || f == LMC_FTYPE_Q3_K_M ||
            f == LMC_FTYPE_Q4_K_S || f == LMC_FTYPE_Q4_K_M)
            t = LMC_TYPE_Q5_K;
        return t;
    }
    if (f == LMC_FTYPE_Q2_K) return LMC_TYPE_Q3_K;
    if (f == LMC_FTYPE_Q3_K_M) return LMC_TYPE_Q4_K;
    if (f == LMC_FTYPE_Q3_K_L) return LMC_TYPE_Q5_K;
    return t;
}

/* The mix proper (llama_tensor_get_type_impl) for a quantized default type t. */
static int32_t mix_type(quant_mix *m, int32_t t, const char *name, const int64_t *ne, category c) {
    if (c == CAT_OUTPUT || (m->tied && c == CAT_TOKEN_EMBD)) {
        if (m->output_type >= 0) return m->output_type;
        if (m->falcon || ne[0] % lmc_type_get((uint32_t)t)->blck_size) return LMC_TYPE_Q8_0;
        return t != LMC_TYPE_Q8_0 ? LMC_TYPE_Q6_K : t;
    }
    switch (c) {
    case CAT_TOKEN_EMBD:
        return m->embd_type >= 0 ? m->embd_type : t;
    case CAT_ATTN_V:
        return attn_v_type(m, t);
    case CAT_ATTN_K:
        return m->n_expert == 8 ? LMC_TYPE_Q8_0 : t;
    case CAT_FFN_DOWN:
        return ffn_down_type(m, t, name);
    case CAT_ATTN_OUTPUT:
        return attn_output_type(m, t);
    case CAT_FFN_GATE:
        ++m->i_ffn_gate;
        return t;
    case CAT_FFN_UP:
        ++m->i_ffn_up;
        return t;
    default:
        return t;
    }
}

/* A type whose block fits rows of ne0 weights (tensor_type_fallback), F16 as the last resort. */
static int32_t fallback(quant_mix *m, int64_t ne0, int32_t t) {
    if (ne0 % lmc_type_get((uint32_t)t)->blck_size == 0) return t;
    ++m->n_fallback;
    int32_t r;
    switch (t) {
    case LMC_TYPE_Q2_K:
    case LMC_TYPE_Q3_K:
        r = LMC_TYPE_Q4_0;
        break;
    case LMC_TYPE_Q4_K:
        r = LMC_TYPE_Q5_0;
        break;
    case LMC_TYPE_Q5_K:
        r = LMC_TYPE_Q5_1;
        break;
    case LMC_TYPE_Q6_K:
        r = LMC_TYPE_Q8_0;
        break;
    default:
        r = t;
        break; /* 32-weight blocks: nothing smaller, so F16 below */
    }
    return ne0 % lmc_type_get((uint32_t)r)->blck_size ? LMC_TYPE_F16 : r;
}

int32_t quant_mix_type(quant_mix *m, const char *name, const int64_t *ne, uint32_t cur_type) {
    if (!allows_quantization(name, ne)) return (int32_t)cur_type;
    const category c = categorize(name);
    if (m->embd_type >= 0 && c == CAT_TOKEN_EMBD) return m->embd_type;
    if (m->output_type >= 0 && c == CAT_OUTPUT) return m->output_type;
    int32_t t = quant_ftype_default_type(m->ftype);
    if (!is_quantized(t)) return t;
    if (!m->pure) t = mix_type(m, t, name, ne, c);
    return fallback(m, ne[0], t);
}
