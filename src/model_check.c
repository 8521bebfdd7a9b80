/* model_check.c — the generic checks of a loaded model's metadata that keep hostile files from
 * producing nonsense: finite, positive numbers (RMS epsilon, RoPE base), a sane context length,
 * block_count equal to the blocks the file holds, special token ids inside the vocabulary and no
 * NUL inside the chat template. Per-architecture shapes stay arch.c's; this file reads keys only.
 */
#include "model_check.h"
#include "tokenizer.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_MAX_CTX (1 << 24) /* tokens of context_length a file may claim */

/* The float key <arch>.<suffix> (when present) must be finite and inside (lo, hi], or [lo, hi]
 * when lo_ok. */
static lmc_status check_range(const gguf_file *f, const char *arch, const char *suffix, double lo,
                              bool lo_ok, double hi, const char *why) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    float x;
    if (!gguf_find_key(f, key) || !gguf_get_f32(f, key, &x)) return LMC_OK;
    if (!isfinite(x) || x < lo || (x == lo && !lo_ok) || x > hi)
        return lmc_err(LMC_ERR_FORMAT, "%s: %s is %g: %s", f->path, key, (double)x, why);
    return LMC_OK;
}

static lmc_status check_f32(const gguf_file *f, const char *arch, const char *suffix, double lo,
                            double hi, const char *why) {
    return check_range(f, arch, suffix, lo, false, hi, why);
}

lmc_status model_check_keys(const gguf_file *f, const char *a) {
    lmc_status st = check_f32(f, a, "attention.layer_norm_rms_epsilon", 0.0, 1.0,
                              "it must be finite and in (0, 1]");
    if (st == LMC_OK)
        st = check_f32(f, a, "rope.freq_base", 1.0, 1e12, "it must be finite and above 1");
    if (st == LMC_OK)
        st = check_f32(f, a, "rope.scale_linear", 0.0, 1e6, "it must be finite and positive");
    /* soft-caps: 0 (or no key) turns the cap off; a negative or NaN cap must not do so silently */
    if (st == LMC_OK)
        st = check_range(f, a, "attn_logit_softcapping", 0.0, true, 1e6,
                         "it must be finite and in [0, 1e6] (0 turns the cap off)");
    if (st == LMC_OK)
        st = check_range(f, a, "final_logit_softcapping", 0.0, true, 1e6,
                         "it must be finite and in [0, 1e6] (0 turns the cap off)");
    if (st != LMC_OK) return st;
    char key[128];
    snprintf(key, sizeof key, "%s.context_length", a);
    int64_t n_ctx;
    if (gguf_find_key(f, key) &&
        (!gguf_get_i64(f, key, &n_ctx) || n_ctx < 1 || n_ctx > MODEL_MAX_CTX))
        return lmc_err(LMC_ERR_FORMAT, "%s: %s must be an integer in 1..%d", f->path, key,
                       MODEL_MAX_CTX);
    return LMC_OK;
}

/* Every tensor named blk.N.* must have N < block_count, and block_count blocks must exist. */
static lmc_status check_blocks(const struct lmc_model *m) {
    const gguf_file *f = m->gguf;
    int64_t max_blk = -1;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_str *nm = &f->tensors[i].name;
        if (nm->len < 5 || memcmp(nm->ptr, "blk.", 4)) continue;
        int64_t n = 0;
        uint64_t k = 4;
        for (; k < nm->len && nm->ptr[k] >= '0' && nm->ptr[k] <= '9' && n < (1 << 30); k++)
            n = n * 10 + (nm->ptr[k] - '0');
        if (k > 4 && n > max_blk) max_blk = n;
    }
    if (max_blk + 1 != m->hp.n_layer)
        return lmc_err(LMC_ERR_FORMAT,
                       "%s: %s.block_count is %d but the file has tensors for %lld blocks "
                       "(blk.0 .. blk.%lld)",
                       f->path, m->hp.arch, m->hp.n_layer, (long long)(max_blk + 1),
                       (long long)max_blk);
    return LMC_OK;
}

lmc_status model_check_vocab(const gguf_file *f, int32_t n_vocab) {
    static const char *const ids[] = {
        "tokenizer.ggml.bos_token_id",     "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.separator_token_id",
        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id",     "tokenizer.ggml.mask_token_id",
        "tokenizer.ggml.prefix_token_id",  "tokenizer.ggml.suffix_token_id",
        "tokenizer.ggml.middle_token_id",  "tokenizer.ggml.fim_pre_token_id",
        "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.fim_mid_token_id",
        "tokenizer.ggml.fim_pad_token_id", "tokenizer.ggml.fim_rep_token_id",
        "tokenizer.ggml.fim_sep_token_id",
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const gguf_kv *kv = gguf_find_key(f, ids[i]);
        if (!kv) continue;
        int64_t id;
        if (!gguf_get_i64(f, ids[i], &id))
            return lmc_err(LMC_ERR_FORMAT, "%s: %s is not an integer", f->path, ids[i]);
        /* -1 (or its 32-bit pattern, 4294967295, in a u32 key) is how converters write "none" */
        if (id != -1 && id != (int64_t)UINT32_MAX && (id < 0 || id >= n_vocab))
            return lmc_err(LMC_ERR_FORMAT, "%s: %s is %lld, outside the vocabulary of %d tokens",
                           f->path, ids[i], (long long)id, n_vocab);
    }
    const gguf_kv *t = gguf_find_key(f, "tokenizer.chat_template");
    if (t && t->type == GGUF_VT_STRING && t->v.str.len &&
        memchr(t->v.str.ptr, 0, (size_t)t->v.str.len))
        return lmc_err(
            LMC_ERR_FORMAT,
            "%s: tokenizer.chat_template contains a NUL byte (at byte %zu): refused "
            "rather than cut short",
            f->path,
            (size_t)((const char *)memchr(t->v.str.ptr, 0, (size_t)t->v.str.len) - t->v.str.ptr));
    return LMC_OK;
}

lmc_status model_check(const struct lmc_model *m) {
    lmc_status st = check_blocks(m);
    if (st == LMC_OK) st = model_check_vocab(m->gguf, m->hp.n_vocab);
    return st;
}
