/* model.c — lmc_model: open the GGUF, read the tokenizer and the architecture, check that they
 * agree, and describe the model. Weights stay views into the mapped file; backends upload them. */
#include "model.h"
#include "model_check.h"
#include "quant.h"
#include "tokenizer.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lmc_model_params lmc_model_default_params(void) {
    lmc_model_params p = {0};
    return p;
}

/* Reads one byte of every page of the weights so the first decode does not stall on page faults,
 * reporting progress as it goes. The volatile sum keeps the reads. */
static void model_prefault(struct lmc_model *m, const lmc_model_params *p) {
    const gguf_file *f = m->gguf;
    uint64_t total = f->size - f->data_offset, done = 0, next_report = 0;
    volatile uint8_t sink = 0;
    for (uint64_t off = f->data_offset; off < f->size; off += 4096) {
        sink ^= f->base[off];
        done += 4096;
        if (p->progress && done >= next_report) {
            p->progress((float)((double)done / (double)total), p->progress_user);
            next_report = done + total / 50 + 1;
        }
    }
    (void)sink;
}

static void model_describe(struct lmc_model *m) {
    const gguf_file *f = m->gguf;
    uint64_t counts[LMC_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        uint64_t n =
            (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        m->n_params += n;
        m->n_bytes += t->nbytes;
        if (t->type < LMC_TYPE_COUNT && t->n_dims >= 2) counts[t->type] += n;
    }
    uint32_t main_type = LMC_TYPE_F32;
    for (uint32_t t = 0; t < LMC_TYPE_COUNT; t++)
        if (counts[t] > counts[main_type]) main_type = t;
    double p = (double)m->n_params;
    char size[16];
    if (p >= 1e9)
        snprintf(size, sizeof size, "%.1fB", p / 1e9);
    else if (p >= 1e6)
        snprintf(size, sizeof size, "%.0fM", p / 1e6);
    else
        snprintf(size, sizeof size, "%.0fK", p / 1e3);
    snprintf(m->desc, sizeof m->desc, "%s %s %s", m->hp.arch, size, lmc_type_name(main_type));
}

lmc_status lmc_model_load(const char *path, const lmc_model_params *params, lmc_model **out) {
    lmc_model_params defaults = lmc_model_default_params();
    if (!params) params = &defaults;
    if (!path || !out)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_model_load: path and out are required");
    *out = NULL;
    struct lmc_model *m = calloc(1, sizeof *m);
    if (!m) return lmc_err(LMC_ERR_OOM, "out of memory");
    lmc_status st = gguf_open(path, &m->gguf);
    if (st != LMC_OK) goto fail;
    st = tok_load(m->gguf, &m->vocab);
    if (st != LMC_OK) goto fail;
    m->chat_template = gguf_get_str_dup(m->gguf, "tokenizer.chat_template");
    if (params->vocab_only) {
        char *arch = gguf_get_str_dup(m->gguf, "general.architecture");
        snprintf(m->hp.arch, sizeof m->hp.arch, "%s", arch ? arch : "?");
        free(arch);
        m->hp.n_vocab = tok_n_vocab(m->vocab);
        if ((st = model_check_vocab(m->gguf, m->hp.n_vocab)) != LMC_OK) goto fail;
        snprintf(m->desc, sizeof m->desc, "%s vocab (%d tokens)", m->hp.arch, m->hp.n_vocab);
        *out = m;
        return LMC_OK;
    }
    char *arch = gguf_get_str_dup(m->gguf, "general.architecture");
    st = arch ? model_check_keys(m->gguf, arch) : LMC_OK; /* no arch: arch_load says so */
    free(arch);
    if (st == LMC_OK) st = arch_load(m);
    if (st != LMC_OK) goto fail;
    if (tok_n_vocab(m->vocab) != m->hp.n_vocab) {
        st = lmc_err(LMC_ERR_FORMAT,
                     "%s: the tokenizer has %d tokens but token_embd.weight has %d rows: the "
                     "vocabulary does not belong to these weights",
                     path, tok_n_vocab(m->vocab), m->hp.n_vocab);
        goto fail;
    }
    if ((st = model_check(m)) != LMC_OK) goto fail;
    model_describe(m);
    model_prefault(m, params);
    if (params->progress) params->progress(1.0f, params->progress_user);
    *out = m;
    return LMC_OK;
fail:
    lmc_model_free(m);
    return st;
}

void lmc_model_free(lmc_model *m) {
    if (!m) return;
    tok_free(m->vocab);
    free(m->layers);
    free(m->chat_template);
    gguf_close(m->gguf);
    model_weights_release(m);
    free(m);
}

int32_t lmc_model_n_vocab(const lmc_model *m) {
    return m->hp.n_vocab;
}
int32_t lmc_model_n_embd(const lmc_model *m) {
    return m->hp.n_embd;
}
int32_t lmc_model_n_layer(const lmc_model *m) {
    return m->hp.n_layer;
}
int32_t lmc_model_n_ctx_train(const lmc_model *m) {
    return m->hp.n_ctx_train;
}
uint64_t lmc_model_size_bytes(const lmc_model *m) {
    return m->n_bytes;
}
uint64_t lmc_model_n_params(const lmc_model *m) {
    return m->n_params;
}
const char *lmc_model_chat_template(const lmc_model *m) {
    return m ? m->chat_template : NULL;
}

int32_t lmc_model_desc(const lmc_model *m, char *buf, size_t size) {
    return (int32_t)snprintf(buf, size, "%s", m->desc);
}

const char *lmc_model_meta_str(const lmc_model *m, const char *key) {
    const gguf_kv *kv = gguf_find_key(m->gguf, key);
    if (!kv || kv->type != GGUF_VT_STRING) return NULL;
    /* Strings in the file are not NUL-terminated: keep a small ring of copies for callers. */
    static _Thread_local char ring[4][512];
    static _Thread_local int k;
    char *b = ring[k++ & 3];
    size_t n = kv->v.str.len < sizeof ring[0] - 1 ? (size_t)kv->v.str.len : sizeof ring[0] - 1;
    memcpy(b, kv->v.str.ptr, n);
    b[n] = 0;
    return b;
}
