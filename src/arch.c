/* arch.c — the llama architecture from GGUF metadata: hyperparameters from {arch}.* keys and the
 * per-layer weight views, every shape checked against them. It does not touch tensor data. */
#include "model.h"
#include "quant.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Architectures whose tensors and math are the llama graph. */
static const char *const k_llama_like[] = {"llama", "mistral"};

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
static const gguf_tensor *arch_tensor(const gguf_file *f, const char *name, int64_t ne0,
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

lmc_status arch_load(struct lmc_model *m) {
    const gguf_file *f = m->gguf;
    lmc_hparams *hp = &m->hp;
    lmc_status st = LMC_OK;

    if (f->n_tensors == 0)
        return lmc_err(LMC_ERR_FORMAT,
                       "%s has no tensors: it holds only a vocabulary (use it with lmc tokenize)",
                       f->path);
    char *arch = gguf_get_str_dup(f, "general.architecture");
    if (!arch) return lmc_err(LMC_ERR_FORMAT, "%s: general.architecture is missing", f->path);
    bool known = false;
    for (size_t i = 0; i < sizeof k_llama_like / sizeof k_llama_like[0]; i++)
        known |= !strcmp(arch, k_llama_like[i]);
    if (!known) {
        st = lmc_err(LMC_ERR_UNSUPPORTED,
                     "%s: architecture '%s' is not supported (lmc runs: llama, mistral)", f->path,
                     arch);
        free(arch);
        return st;
    }
    snprintf(hp->arch, sizeof hp->arch, "%s", arch);
    free(arch);

    uint32_t n_embd, n_layer, n_ff, n_head, n_head_kv, n_ctx = 2048, n_rot = 0;
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
    hp->norm_eps = 1e-5f;
    if (!arch_key_f32(f, hp->arch, "attention.layer_norm_rms_epsilon", &hp->norm_eps))
        return lmc_err(LMC_ERR_FORMAT, "%s: %s.attention.layer_norm_rms_epsilon is missing",
                       f->path, hp->arch);
    hp->rope_base = 10000.0f;
    arch_key_f32(f, hp->arch, "rope.freq_base", &hp->rope_base);

    if (n_embd == 0 || n_embd > 65536 || n_layer == 0 || n_layer > 1024 || n_ff == 0 ||
        n_ff > 1 << 20 || n_head == 0 || n_head > 1024 || n_head_kv == 0 || n_embd % n_head ||
        n_head % n_head_kv)
        return lmc_err(LMC_ERR_FORMAT,
                       "%s: inconsistent hyperparameters: embedding_length %u, block_count %u, "
                       "feed_forward_length %u, head_count %u, head_count_kv %u",
                       f->path, n_embd, n_layer, n_ff, n_head, n_head_kv);
    hp->n_embd = (int32_t)n_embd;
    hp->n_layer = (int32_t)n_layer;
    hp->n_ff = (int32_t)n_ff;
    hp->n_head = (int32_t)n_head;
    hp->n_head_kv = (int32_t)n_head_kv;
    hp->head_dim = (int32_t)(n_embd / n_head);
    hp->n_ctx_train = (int32_t)(n_ctx ? n_ctx : 2048);
    if (!arch_key_u32(f, hp->arch, "rope.dimension_count", &n_rot)) n_rot = (uint32_t)hp->head_dim;
    if ((int32_t)n_rot != hp->head_dim || hp->head_dim % 2)
        return lmc_err(
            LMC_ERR_UNSUPPORTED,
            "%s: rope.dimension_count %u with head size %d: partial rotary embeddings are "
            "not supported",
            f->path, n_rot, hp->head_dim);
    hp->n_rot = (int32_t)n_rot;

    /* The vocabulary size comes from token_embd; model.c checks it against the tokenizer. */
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) return lmc_err(LMC_ERR_FORMAT, "%s: tensor token_embd.weight is missing", f->path);
    if (emb->n_dims != 2 || emb->ne[0] != n_embd || emb->ne[1] < 1 || emb->ne[1] > (1 << 24))
        return lmc_err(LMC_ERR_FORMAT,
                       "%s: tensor token_embd.weight: shape [%u, n_vocab] expected, "
                       "file has [%lld, %lld] (%u dims)",
                       f->path, n_embd, (long long)emb->ne[0], (long long)emb->ne[1], emb->n_dims);
    hp->n_vocab = (int32_t)emb->ne[1];

    const int64_t E = n_embd, V = hp->n_vocab, F = n_ff;
    const int64_t Q = (int64_t)n_head * hp->head_dim, KV = (int64_t)n_head_kv * hp->head_dim;
    if (!(m->tok_embd = arch_tensor(f, "token_embd.weight", E, V, true, &st))) return st;
    if (!(m->output_norm = arch_tensor(f, "output_norm.weight", E, 0, true, &st))) return st;
    m->output = arch_tensor(f, "output.weight", E, V, false, &st);
    if (st != LMC_OK) return st;
    if (!m->output) m->output = m->tok_embd; /* tied embeddings */

    m->layers = calloc((size_t)n_layer, sizeof *m->layers);
    if (!m->layers) return lmc_err(LMC_ERR_OOM, "out of memory for %u layers", n_layer);
    for (uint32_t il = 0; il < n_layer; il++) {
        lmc_layer *l = &m->layers[il];
        struct {
            const char *name;
            const gguf_tensor **dst;
            int64_t ne0, ne1;
        } spec[] = {
            {"attn_norm", &l->attn_norm, E, 0}, {"attn_q", &l->wq, E, Q},
            {"attn_k", &l->wk, E, KV},          {"attn_v", &l->wv, E, KV},
            {"attn_output", &l->wo, Q, E},      {"ffn_norm", &l->ffn_norm, E, 0},
            {"ffn_gate", &l->ffn_gate, E, F},   {"ffn_up", &l->ffn_up, E, F},
            {"ffn_down", &l->ffn_down, F, E},
        };
        for (size_t k = 0; k < sizeof spec / sizeof spec[0]; k++) {
            char name[96];
            snprintf(name, sizeof name, "blk.%u.%s.weight", il, spec[k].name);
            *spec[k].dst = arch_tensor(f, name, spec[k].ne0, spec[k].ne1, true, &st);
            if (!*spec[k].dst) return st; /* m->layers is freed by lmc_model_free */
        }
    }
    return LMC_OK;
}
