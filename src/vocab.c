/* vocab.c — the public tokenizer API over a model's vocabulary: lmc_tokenize, lmc_token_*,
 * lmc_vocab_* and lmc_detok_init take an lmc_model and hand its tok_vocab to tokenizer.c. No
 * tokenizing happens here, and tokenizer.c in turn knows nothing of models. */
#include "model.h"
#include "tokenizer.h"
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

int32_t *lmc_tokenize_alloc(const lmc_model *model, const char *text, int32_t len, bool add_special,
                            bool parse_special, int32_t *n_tokens) {
    if (n_tokens) *n_tokens = 0;
    if (!model || !model->vocab || (!text && len != 0) || !n_tokens) {
        lmc_err(LMC_ERR_INVALID_ARG, "lmc_tokenize: bad arguments");
        return NULL;
    }
    const size_t n = len < 0 ? strlen(text) : (size_t)len;
    int32_t *ids;
    size_t n_ids;
    if (tok_encode(model->vocab, text, n, add_special, parse_special, &ids, &n_ids) != LMC_OK)
        return NULL;
    if (n_ids > INT32_MAX) {
        free(ids);
        lmc_err(LMC_ERR_INVALID_ARG, "lmc_tokenize: too many tokens");
        return NULL;
    }
    if (!ids && !(ids = malloc(sizeof *ids))) { /* no tokens: still an array to free */
        lmc_err(LMC_ERR_OOM, "lmc_tokenize: out of memory");
        return NULL;
    }
    *n_tokens = (int32_t)n_ids;
    return ids;
}

int32_t lmc_tokenize(const lmc_model *model, const char *text, int32_t len, int32_t *tokens,
                     int32_t n_max, bool add_special, bool parse_special) {
    int32_t n = 0;
    if (n_max < 0 || (!tokens && n_max > 0)) {
        lmc_err(LMC_ERR_INVALID_ARG, "lmc_tokenize: bad arguments");
        return INT32_MIN;
    }
    int32_t *ids = lmc_tokenize_alloc(model, text, len, add_special, parse_special, &n);
    if (!ids) return INT32_MIN;
    if (n > n_max)
        n = -n;
    else if (n)
        memcpy(tokens, ids, (size_t)n * sizeof *ids);
    free(ids);
    return n;
}

int32_t lmc_token_to_piece(const lmc_model *model, int32_t token, char *buf, int32_t size,
                           bool special) {
    if (!model || !model->vocab || size < 0 || (!buf && size > 0)) {
        lmc_err(LMC_ERR_INVALID_ARG, "lmc_token_to_piece: bad arguments");
        return INT32_MIN;
    }
    int32_t n = tok_piece(model->vocab, token, buf, (size_t)size, special);
    if (n < 0) {
        lmc_err(LMC_ERR_INVALID_ARG, "lmc_token_to_piece: token %d is not in the vocabulary",
                token);
        return INT32_MIN;
    }
    return n > size ? -n : n;
}

const char *lmc_token_text(const lmc_model *model, int32_t token) {
    return model && model->vocab ? tok_text(model->vocab, token) : NULL;
}
int32_t lmc_token_bos(const lmc_model *model) {
    return model && model->vocab ? tok_bos(model->vocab) : -1;
}
int32_t lmc_token_eos(const lmc_model *model) {
    return model && model->vocab ? tok_eos(model->vocab) : -1;
}
bool lmc_token_is_eog(const lmc_model *model, int32_t token) {
    return model && model->vocab && tok_is_eog(model->vocab, token);
}
bool lmc_vocab_add_bos(const lmc_model *model) {
    return model && model->vocab && tok_add_bos(model->vocab);
}
const char *lmc_vocab_warning(const lmc_model *model) {
    return model && model->vocab ? tok_warning(model->vocab) : NULL;
}

lmc_detok *lmc_detok_init(const lmc_model *model, bool special) {
    if (!model || !model->vocab) {
        lmc_err(LMC_ERR_INVALID_ARG, "lmc_detok_init: no model");
        return NULL;
    }
    return tok_detok_init(model->vocab, special);
}
