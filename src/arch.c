/* arch.c — the architecture table: one row per GGUF architecture saying which tensors a block has
 * (required or optional, with their shapes), which {arch}.* hyperparameter keys are read (with
 * their defaults) and which block variant (model.h's LMC_BLK_* flags, RoPE style, FFN activation,
 * sliding-window pattern) the forward pass runs. arch_load fills the model description from a file,
 * every shape checked; per-layer properties (sliding window, RoPE base and scale) are computed here
 * once. It does not touch tensor data. */
#include "model.h"
#include "quant.h"
#include "util.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tensor dimensions, resolved against the hyperparameters. */
typedef enum { D_NONE = 0, D_E, D_Q, D_KV, D_F, D_2F, D_QKV, D_HD } arch_dim;

typedef struct {
    const char *name; /* after "blk.N." */
    size_t field;     /* offsetof(lmc_layer, ...) of the view */
    uint8_t ne0, ne1; /* arch_dim; ne1 D_NONE: 1-D */
    bool required;
} arch_tensor;

#define T(name, field, ne0, ne1, req)                                                              \
    { name, offsetof(lmc_layer, field), ne0, ne1, req }
#define REQ true
#define OPT false

static const arch_tensor k_blk_llama[] = {
    T("attn_norm.weight", attn_norm, D_E, D_NONE, REQ),
    T("attn_q.weight", wq, D_E, D_Q, REQ),
    T("attn_k.weight", wk, D_E, D_KV, REQ),
    T("attn_v.weight", wv, D_E, D_KV, REQ),
    T("attn_output.weight", wo, D_Q, D_E, REQ),
    T("ffn_norm.weight", ffn_norm, D_E, D_NONE, REQ),
    T("ffn_gate.weight", ffn_gate, D_E, D_F, REQ),
    T("ffn_up.weight", ffn_up, D_E, D_F, REQ),
    T("ffn_down.weight", ffn_down, D_F, D_E, REQ),
};
static const arch_tensor k_blk_qkv_bias[] = {
    T("attn_q.bias", bq, D_Q, D_NONE, REQ),
    T("attn_k.bias", bk, D_KV, D_NONE, REQ),
    T("attn_v.bias", bv, D_KV, D_NONE, REQ),
};
static const arch_tensor k_blk_qk_norm[] = {
    T("attn_q_norm.weight", q_norm, D_HD, D_NONE, REQ),
    T("attn_k_norm.weight", k_norm, D_HD, D_NONE, REQ),
};
static const arch_tensor k_blk_post_norms[] = {
    T("post_attention_norm.weight", attn_post_norm, D_E, D_NONE, REQ),
    T("post_ffw_norm.weight", ffn_post_norm, D_E, D_NONE, REQ),
};
/* phi3: fused qkv or separate q/k/v (arch_load requires one of the two), fused gate|up */
static const arch_tensor k_blk_phi3[] = {
    T("attn_norm.weight", attn_norm, D_E, D_NONE, REQ),
    T("attn_qkv.weight", wqkv, D_E, D_QKV, OPT),
    T("attn_q.weight", wq, D_E, D_Q, OPT),
    T("attn_k.weight", wk, D_E, D_KV, OPT),
    T("attn_v.weight", wv, D_E, D_KV, OPT),
    T("attn_output.weight", wo, D_Q, D_E, REQ),
    T("ffn_norm.weight", ffn_norm, D_E, D_NONE, REQ),
    T("ffn_up.weight", ffn_up, D_E, D_2F, REQ),
    T("ffn_down.weight", ffn_down, D_F, D_E, REQ),
};

#define LIST(a)                                                                                    \
    { a, sizeof a / sizeof a[0] }
typedef struct {
    const arch_tensor *t;
    size_t n;
} arch_list;

/* One row per architecture. Keys read for every row: context_length, embedding_length,
 * block_count, feed_forward_length, attention.head_count, attention.head_count_kv (default
 * head_count), attention.key_length / value_length (default n_embd / head_count),
 * attention.layer_norm_rms_epsilon, rope.freq_base (10000), rope.dimension_count (head_dim),
 * rope.scaling.type / factor (linear only), rope.scaling.attn_factor (1),
 * rope.scaling.original_context_length; the keys of
 * the flags below where the row has them: attention.sliding_window (SWA), rope.freq_base_swa
 * (rope_base_swa), attn_logit_softcapping, final_logit_softcapping. */
typedef struct {
    const char *name;
    uint32_t flags; /* LMC_BLK_* the architecture always has; the file may add SWA, FUSED_QKV,
                       ROPE_FACTORS, FINAL_SOFTCAP as arch_variant says */
    lmc_rope_style rope;
    lmc_ffn_act act;
    int32_t swa_pattern; /* layers l % p < p - 1 slide (0: no sliding window) */
    int32_t swa_default; /* attention.sliding_window when absent (0: no SWA then) */
    float rope_base_swa; /* base of the sliding layers (0: rope.freq_base) */
    float attn_softcap;  /* attn_logit_softcapping default (ATTN_SOFTCAP) */
    float final_softcap; /* final_logit_softcapping default (FINAL_SOFTCAP) */
    int32_t n_layer_27b; /* gemma: llama.cpp scales queries by 1/sqrt(n_embd/n_head) for the 27B
                            (recognized by its layer count), else by 1/sqrt(head_dim) */
    arch_list blk[3];    /* the block's tensors: the union of these lists */
} arch_row;

static const arch_row k_arch[] = {
    {"llama", 0, LMC_ROPE_NORM, LMC_ACT_SILU, 0, 0, 0, 0, 0, 0, {LIST(k_blk_llama)}},
    {"mistral", 0, LMC_ROPE_NORM, LMC_ACT_SILU, 0, 0, 0, 0, 0, 0, {LIST(k_blk_llama)}},
    {"qwen2",
     LMC_BLK_QKV_BIAS,
     LMC_ROPE_NEOX,
     LMC_ACT_SILU,
     0,
     0,
     0,
     0,
     0,
     0,
     {LIST(k_blk_llama), LIST(k_blk_qkv_bias)}},
    {"qwen3",
     LMC_BLK_QK_NORM,
     LMC_ROPE_NEOX,
     LMC_ACT_SILU,
     0,
     0,
     0,
     0,
     0,
     0,
     {LIST(k_blk_llama), LIST(k_blk_qk_norm)}},
    {"gemma2",
     LMC_BLK_POST_NORMS | LMC_BLK_EMBD_SCALE | LMC_BLK_ATTN_SOFTCAP | LMC_BLK_FINAL_SOFTCAP |
         LMC_BLK_SWA,
     LMC_ROPE_NEOX,
     LMC_ACT_GELU_TANH,
     2,
     4096,
     0,
     50.0f,
     30.0f,
     46,
     {LIST(k_blk_llama), LIST(k_blk_post_norms)}},
    {"gemma3",
     LMC_BLK_QK_NORM | LMC_BLK_POST_NORMS | LMC_BLK_EMBD_SCALE | LMC_BLK_SWA,
     LMC_ROPE_NEOX,
     LMC_ACT_GELU_TANH,
     6,
     0,
     10000.0f,
     0,
     0,
     62,
     {LIST(k_blk_llama), LIST(k_blk_post_norms), LIST(k_blk_qk_norm)}},
    /* llama.cpp disables phi3's sliding window (attention.sliding_window is read and ignored) */
    {"phi3", LMC_BLK_FUSED_UP, LMC_ROPE_NEOX, LMC_ACT_SILU, 0, 0, 0, 0, 0, 0, {LIST(k_blk_phi3)}},
};
#define N_ARCH (sizeof k_arch / sizeof k_arch[0])

static const arch_row *arch_find(const char *name) {
    for (size_t i = 0; i < N_ARCH; i++)
        if (!strcmp(name, k_arch[i].name)) return &k_arch[i];
    return NULL;
}

static void arch_supported_list(char *buf, size_t size) {
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < N_ARCH && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%s", i ? ", " : "", k_arch[i].name);
}

static bool arch_key_u32(const gguf_file *f, const char *arch, const char *suffix, uint32_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_u32(f, key, out);
}

static bool arch_key_f32(const gguf_file *f, const char *arch, const char *suffix, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_f32(f, key, out);
}

/* Finds a tensor and checks its shape (ne0, ne1; ne1 == 0 means 1-D). Returns NULL and sets the
 * error when it is missing (and required) or has another shape or an unsupported type. */
static const gguf_tensor *arch_tensor_get(const gguf_file *f, const char *name, int64_t ne0,
                                          int64_t ne1, bool required, lmc_status *st) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) {
        if (required) *st = lmc_err(LMC_ERR_FORMAT, "%s: tensor %s is missing", f->path, name);
        return NULL;
    }
    uint32_t want_dims = ne1 ? 2 : 1;
    if (t->n_dims != want_dims || t->ne[0] != ne0 || (ne1 && t->ne[1] != ne1)) {
        *st = lmc_err(LMC_ERR_FORMAT,
                      "%s: tensor %s: shape [%lld, %lld] (%u dims) expected, file has [%lld, %lld] "
                      "(%u dims)",
                      f->path, name, (long long)ne0, (long long)(ne1 ? ne1 : 1), want_dims,
                      (long long)t->ne[0], (long long)t->ne[1], t->n_dims);
        return NULL;
    }
    const lmc_type_traits *tr = lmc_type_get(t->type);
    if (!tr || !tr->supported) {
        *st = lmc_err(
            LMC_ERR_UNSUPPORTED,
            "%s: tensor %s has type %s, which lmc does not support (supported: F32 F16 BF16 "
            "Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K)",
            f->path, name, lmc_type_name(t->type));
        return NULL;
    }
    return t;
}

/* The required size keys and the head geometry. */
static lmc_status arch_sizes(const gguf_file *f, lmc_hparams *hp) {
    uint32_t n_embd, n_layer, n_ff, n_head, n_head_kv, n_ctx = 2048, n_rot = 0, hd_k, hd_v;
    struct {
        const char *suffix;
        uint32_t *dst;
    } req[] = {{"embedding_length", &n_embd},
               {"block_count", &n_layer},
               {"feed_forward_length", &n_ff},
               {"attention.head_count", &n_head}};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if (!arch_key_u32(f, hp->arch, req[i].suffix, req[i].dst))
            return lmc_err(LMC_ERR_FORMAT, "%s: %s.%s is missing or not an integer", f->path,
                           hp->arch, req[i].suffix);
    if (!arch_key_u32(f, hp->arch, "attention.head_count_kv", &n_head_kv)) n_head_kv = n_head;
    arch_key_u32(f, hp->arch, "context_length", &n_ctx);
    if (n_embd == 0 || n_embd > 65536 || n_layer == 0 || n_layer > 1024 || n_ff == 0 ||
        n_ff > 1 << 20 || n_head == 0 || n_head > 1024 || n_head_kv == 0 || n_head % n_head_kv)
        return lmc_err(LMC_ERR_FORMAT,
                       "%s: inconsistent hyperparameters: embedding_length %u, block_count %u, "
                       "feed_forward_length %u, head_count %u, head_count_kv %u",
                       f->path, n_embd, n_layer, n_ff, n_head, n_head_kv);
    hd_k = n_embd / n_head;
    if (!arch_key_u32(f, hp->arch, "attention.key_length", &hd_k) && n_embd % n_head)
        return lmc_err(LMC_ERR_FORMAT, "%s: embedding_length %u is not a multiple of head_count %u",
                       f->path, n_embd, n_head);
    hd_v = hd_k;
    arch_key_u32(f, hp->arch, "attention.value_length", &hd_v);
    if (hd_k == 0 || hd_k > 1024 || hd_k % 2 || hd_v != hd_k)
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "%s: attention.key_length %u / value_length %u: lmc needs equal, even head "
                       "sizes up to 1024",
                       f->path, hd_k, hd_v);
    hp->n_embd = (int32_t)n_embd;
    hp->n_layer = (int32_t)n_layer;
    hp->n_ff = (int32_t)n_ff;
    hp->n_head = (int32_t)n_head;
    hp->n_head_kv = (int32_t)n_head_kv;
    hp->head_dim = (int32_t)hd_k;
    hp->n_ctx_train = (int32_t)(n_ctx ? n_ctx : 2048);
    if (!arch_key_u32(f, hp->arch, "rope.dimension_count", &n_rot)) n_rot = hd_k;
    /* partial rotary (Phi-4-mini: 96 of 128): the first n_rot dims of a head turn */
    if (n_rot == 0 || n_rot > hd_k || n_rot % 2)
        return lmc_err(LMC_ERR_FORMAT,
                       "%s: %s.rope.dimension_count %u with head size %u: it must be even, "
                       "positive and at most the head size",
                       f->path, hp->arch, n_rot, hd_k);
    hp->n_rot = (int32_t)n_rot;
    return LMC_OK;
}

/* RoPE base and scaling: linear scaling (rope.scaling.factor or rope.scale_linear) divides the
 * positions; other scaling types are refused. */
static lmc_status arch_rope(const gguf_file *f, const arch_row *row, lmc_hparams *hp) {
    hp->rope_base = 10000.0f;
    arch_key_f32(f, hp->arch, "rope.freq_base", &hp->rope_base);
    hp->rope_base_swa = row->rope_base_swa > 0 ? row->rope_base_swa : hp->rope_base;
    if (row->rope_base_swa > 0) arch_key_f32(f, hp->arch, "rope.freq_base_swa", &hp->rope_base_swa);
    char key[96];
    snprintf(key, sizeof key, "%s.rope.scaling.type", hp->arch);
    char *type = gguf_get_str_dup(f, key);
    bool ok = !type || !strcmp(type, "none") || !strcmp(type, "linear");
    if (!ok) {
        lmc_status st =
            lmc_err(LMC_ERR_UNSUPPORTED, "%s: %s '%s' is not supported (lmc implements linear)",
                    f->path, key, type);
        free(type);
        return st;
    }
    bool none = type && !strcmp(type, "none");
    free(type);
    float factor = 0;
    if (!arch_key_f32(f, hp->arch, "rope.scaling.factor", &factor))
        arch_key_f32(f, hp->arch, "rope.scale_linear", &factor);
    hp->rope_freq_scale = !none && factor > 0 ? 1.0f / factor : 1.0f;
    if (!(hp->rope_base > 0) || !(hp->rope_base_swa > 0) || !isfinite(hp->rope_freq_scale))
        return lmc_err(LMC_ERR_FORMAT, "%s: rope.freq_base %g / scaling %g out of range", f->path,
                       hp->rope_base, hp->rope_freq_scale);
    hp->rope_attn_factor = 1.0f;
    arch_key_f32(f, hp->arch, "rope.scaling.attn_factor", &hp->rope_attn_factor);
    if (!(hp->rope_attn_factor > 0 && hp->rope_attn_factor < 100))
        return lmc_err(LMC_ERR_FORMAT, "%s: %s.rope.scaling.attn_factor %g out of range", f->path,
                       hp->arch, hp->rope_attn_factor);
    uint32_t orig = (uint32_t)hp->n_ctx_train;
    arch_key_u32(f, hp->arch, "rope.scaling.original_context_length", &orig);
    hp->n_ctx_orig = (int32_t)(orig < (1u << 30) ? orig : (1u << 30));
    return LMC_OK;
}

/* The variant keys: sliding window, soft-caps, query scale, embedding scale. */
static lmc_status arch_variant(const gguf_file *f, const arch_row *row, lmc_hparams *hp) {
    hp->flags = row->flags;
    hp->rope = row->rope;
    hp->act = row->act;
    hp->norm_eps = 1e-5f;
    if (!arch_key_f32(f, hp->arch, "attention.layer_norm_rms_epsilon", &hp->norm_eps))
        return lmc_err(LMC_ERR_FORMAT, "%s: %s.attention.layer_norm_rms_epsilon is missing",
                       f->path, hp->arch);
    uint32_t n_swa = (uint32_t)row->swa_default;
    if (row->flags & LMC_BLK_SWA) arch_key_u32(f, hp->arch, "attention.sliding_window", &n_swa);
    if (!(row->flags & LMC_BLK_SWA) || n_swa == 0) hp->flags &= ~(uint32_t)LMC_BLK_SWA;
    hp->n_swa = hp->flags & LMC_BLK_SWA ? (int32_t)(n_swa < (1u << 30) ? n_swa : 1u << 30) : 0;
    hp->swa_pattern = hp->n_swa ? row->swa_pattern : 0;
    hp->attn_softcap = row->attn_softcap;
    hp->final_softcap = row->final_softcap;
    arch_key_f32(f, hp->arch, "attn_logit_softcapping", &hp->attn_softcap);
    /* gemma3 and others: a final_logit_softcapping key in the file turns the cap on */
    if (arch_key_f32(f, hp->arch, "final_logit_softcapping", &hp->final_softcap) &&
        hp->final_softcap > 0)
        hp->flags |= LMC_BLK_FINAL_SOFTCAP;
    if (!(hp->attn_softcap > 0)) hp->flags &= ~(uint32_t)LMC_BLK_ATTN_SOFTCAP;
    if (!(hp->final_softcap > 0)) hp->flags &= ~(uint32_t)LMC_BLK_FINAL_SOFTCAP;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    if (row->n_layer_27b && hp->n_layer == row->n_layer_27b)
        hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    hp->embd_scale = hp->flags & LMC_BLK_EMBD_SCALE ? sqrtf((float)hp->n_embd) : 1.0f;
    return LMC_OK;
}

/* Every hyperparameter of the file's architecture, no tensors. */
static lmc_status arch_hparams(const gguf_file *f, lmc_hparams *hp, const arch_row **row_out) {
    char *arch = gguf_get_str_dup(f, "general.architecture");
    if (!arch) return lmc_err(LMC_ERR_FORMAT, "%s: general.architecture is missing", f->path);
    const arch_row *row = arch_find(arch);
    if (!row) {
        char list[160];
        arch_supported_list(list, sizeof list);
        lmc_status st =
            lmc_err(LMC_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (lmc runs: %s)",
                    f->path, arch, list);
        free(arch);
        return st;
    }
    snprintf(hp->arch, sizeof hp->arch, "%s", arch);
    free(arch);
    lmc_status st = arch_sizes(f, hp);
    if (st == LMC_OK) st = arch_rope(f, row, hp);
    if (st == LMC_OK) st = arch_variant(f, row, hp);
    *row_out = row;
    return st;
}

static int64_t arch_dim_size(const lmc_hparams *hp, uint8_t d) {
    const int64_t q = (int64_t)hp->n_head * hp->head_dim,
                  kv = (int64_t)hp->n_head_kv * hp->head_dim;
    switch (d) {
    case D_E:
        return hp->n_embd;
    case D_Q:
        return q;
    case D_KV:
        return kv;
    case D_F:
        return hp->n_ff;
    case D_2F:
        return 2 * (int64_t)hp->n_ff;
    case D_QKV:
        return q + 2 * kv;
    case D_HD:
        return hp->head_dim;
    default:
        return 0;
    }
}

/* The tensors of layer il from the row's lists, then the per-layer properties. */
static lmc_status arch_layer(const gguf_file *f, const arch_row *row, lmc_hparams *hp, int il,
                             lmc_layer *l) {
    lmc_status st = LMC_OK;
    for (size_t k = 0; k < 3; k++) {
        for (size_t j = 0; j < row->blk[k].n; j++) {
            const arch_tensor *t = &row->blk[k].t[j];
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s", il, t->name);
            const gguf_tensor **dst = (const gguf_tensor **)((char *)l + t->field);
            *dst = arch_tensor_get(f, name, arch_dim_size(hp, t->ne0), arch_dim_size(hp, t->ne1),
                                   t->required, &st);
            if (st != LMC_OK) return st;
        }
    }
    if (!l->wqkv && !(l->wq && l->wk && l->wv))
        return lmc_err(LMC_ERR_FORMAT,
                       "%s: tensor blk.%d.attn_q.weight is missing (and there is no fused "
                       "blk.%d.attn_qkv.weight)",
                       f->path, il, il);
    if (l->wqkv) {
        if (l->wq || l->wk || l->wv)
            return lmc_err(LMC_ERR_FORMAT,
                           "%s: blk.%d has both attn_qkv.weight and separate q/k/v tensors",
                           f->path, il);
        hp->flags |= LMC_BLK_FUSED_QKV;
    }
    l->swa = hp->swa_pattern > 0 && il % hp->swa_pattern < hp->swa_pattern - 1;
    l->rope_base = l->swa ? hp->rope_base_swa : hp->rope_base;
    l->rope_scale = l->swa && row->rope_base_swa > 0 ? 1.0f : hp->rope_freq_scale;
    return LMC_OK;
}

/* token_embd (its rows give n_vocab), output_norm, output (tied when absent), rope factors. */
static lmc_status arch_globals(struct lmc_model *m) {
    const gguf_file *f = m->gguf;
    lmc_hparams *hp = &m->hp;
    lmc_status st = LMC_OK;
    const int64_t E = hp->n_embd;
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) return lmc_err(LMC_ERR_FORMAT, "%s: tensor token_embd.weight is missing", f->path);
    if (emb->n_dims != 2 || emb->ne[0] != E || emb->ne[1] < 1 || emb->ne[1] > (1 << 24))
        return lmc_err(LMC_ERR_FORMAT,
                       "%s: tensor token_embd.weight: shape [%lld, n_vocab] expected, "
                       "file has [%lld, %lld] (%u dims)",
                       f->path, (long long)E, (long long)emb->ne[0], (long long)emb->ne[1],
                       emb->n_dims);
    hp->n_vocab = (int32_t)emb->ne[1];
    const int64_t V = hp->n_vocab;
    if (!(m->tok_embd = arch_tensor_get(f, "token_embd.weight", E, V, true, &st))) return st;
    if (!(m->output_norm = arch_tensor_get(f, "output_norm.weight", E, 0, true, &st))) return st;
    m->output = arch_tensor_get(f, "output.weight", E, V, false, &st);
    if (st != LMC_OK) return st;
    if (!m->output) m->output = m->tok_embd; /* tied embeddings */
    m->rope_long = arch_tensor_get(f, "rope_factors_long.weight", hp->n_rot / 2, 0, false, &st);
    if (st == LMC_OK)
        m->rope_short =
            arch_tensor_get(f, "rope_factors_short.weight", hp->n_rot / 2, 0, false, &st);
    if (st != LMC_OK) return st;
    if (!!m->rope_long != !!m->rope_short)
        return lmc_err(LMC_ERR_FORMAT, "%s: tensor rope_factors_%s.weight is missing", f->path,
                       m->rope_long ? "short" : "long");
    for (int k = 0; k < 2 && m->rope_long; k++) { /* divisors: finite and positive */
        const gguf_tensor *t = k ? m->rope_short : m->rope_long;
        float v[512]; /* n_rot/2 <= 512 */
        lmc_dequantize(t->type, t->data, v, hp->n_rot / 2);
        for (int i = 0; i < hp->n_rot / 2; i++)
            if (!(v[i] > 0 && v[i] < 1e30f))
                return lmc_err(LMC_ERR_FORMAT,
                               "%s: tensor rope_factors_%s.weight: value %d is %g (a RoPE divisor "
                               "must be positive and finite)",
                               f->path, k ? "short" : "long", i, v[i]);
    }
    if (m->rope_long) hp->flags |= LMC_BLK_ROPE_FACTORS;
    return LMC_OK;
}

lmc_status arch_load(struct lmc_model *m) {
    const gguf_file *f = m->gguf;
    if (f->n_tensors == 0)
        return lmc_err(LMC_ERR_FORMAT,
                       "%s has no tensors: it holds only a vocabulary (use it with lmc tokenize)",
                       f->path);
    const arch_row *row = NULL;
    lmc_status st = arch_hparams(f, &m->hp, &row);
    if (st == LMC_OK) st = arch_globals(m);
    if (st != LMC_OK) return st;
    m->layers = calloc((size_t)m->hp.n_layer, sizeof *m->layers);
    if (!m->layers) return lmc_err(LMC_ERR_OOM, "out of memory for %d layers", m->hp.n_layer);
    for (int il = 0; il < m->hp.n_layer; il++)
        if ((st = arch_layer(f, row, &m->hp, il, &m->layers[il])) != LMC_OK)
            return st; /* m->layers is freed by lmc_model_free */
    return LMC_OK;
}

const gguf_tensor *arch_rope_factors(const struct lmc_model *m, int32_t n_ctx) {
    if (!m->rope_long) return NULL;
    return n_ctx > m->hp.n_ctx_orig ? m->rope_long : m->rope_short;
}

int arch_describe(const lmc_hparams *hp, char *buf, size_t size) {
    static const char *const names[] = {"qkv-bias", "qk-norm",     "post-norms",   "fused-qkv",
                                        "fused-up", "embd-scale",  "attn-softcap", "final-softcap",
                                        "swa",      "rope-factors"};
    char flags[160] = "";
    size_t at = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && at < sizeof flags; i++)
        if (hp->flags & (1u << i))
            at += (size_t)snprintf(flags + at, sizeof flags - at, " %s", names[i]);
    return snprintf(
        buf, size,
        "%s: n_embd %d, n_layer %d, n_ff %d, n_head %d, n_head_kv %d, head_dim %d, n_ctx_train "
        "%d, norm_eps %g, rope %s base %g (sliding layers %g) scale %g attn_factor %g, ffn %s, "
        "attn_scale %g%s%s",
        hp->arch, hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv, hp->head_dim,
        hp->n_ctx_train, hp->norm_eps, hp->rope == LMC_ROPE_NEOX ? "neox" : "norm", hp->rope_base,
        hp->rope_base_swa, hp->rope_freq_scale, hp->rope_attn_factor,
        hp->act == LMC_ACT_GELU_TANH ? "gelu-tanh" : "silu", hp->attn_scale, at ? ", variant:" : "",
        flags);
}

/* For lmc inspect (gguf_api.c): the architecture's hyperparameters without loading tensors. */
lmc_status arch_describe_file(const gguf_file *f, char *buf, size_t size) {
    lmc_hparams hp = {0};
    const arch_row *row = NULL;
    lmc_status st = arch_hparams(f, &hp, &row);
    if (st != LMC_OK) return st;
    int n = arch_describe(&hp, buf, size);
    if (hp.n_swa && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", sliding window %d (pattern %d)", hp.n_swa,
                 hp.swa_pattern);
    return LMC_OK;
}

bool arch_plain_llama(const lmc_model *m) {
    const lmc_hparams *hp = &m->hp;
    bool same_rope = true;
    for (int32_t l = 0; l < hp->n_layer; l++)
        same_rope &= m->layers[l].rope_base == hp->rope_base && m->layers[l].rope_scale == 1.0f;
    return hp->flags == 0 && hp->rope == LMC_ROPE_NORM && hp->act == LMC_ACT_SILU && same_rope &&
           hp->rope_attn_factor == 1.0f && hp->attn_scale == 1.0f / sqrtf((float)hp->head_dim);
}
