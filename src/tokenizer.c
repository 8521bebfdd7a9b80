/* tokenizer.c — placeholder until the tokenizer lands: reads the token count only. */
#include "tokenizer.h"
#include "util.h"
#include <stdlib.h>

struct tok_vocab {
    int32_t n_vocab;
};

lmc_status tok_load(const gguf_file *f, struct tok_vocab **out) {
    const gguf_kv *toks = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STRING);
    if (!toks) return lmc_err(LMC_ERR_FORMAT, "%s: no tokenizer.ggml.tokens", f->path);
    struct tok_vocab *v = calloc(1, sizeof *v);
    if (!v) return lmc_err(LMC_ERR_OOM, "out of memory");
    v->n_vocab = (int32_t)toks->v.arr.n;
    *out = v;
    return LMC_OK;
}
void tok_free(struct tok_vocab *v) { free(v); }
int32_t tok_n_vocab(const struct tok_vocab *v) { return v->n_vocab; }
