/* tokenizer.h — internal interface of the tokenizer (SentencePiece and byte-level BPE read from the
 * GGUF's tokenizer.ggml.* metadata). The public functions (lmc_tokenize, ...) are in lmc.h. */
#ifndef LMC_TOKENIZER_H
#define LMC_TOKENIZER_H

#include "gguf.h"

struct tok_vocab;

/* Reads the vocabulary from f. LMC_ERR_FORMAT when the tokenizer metadata is missing or malformed. */
lmc_status tok_load(const gguf_file *f, struct tok_vocab **out);
void tok_free(struct tok_vocab *v);
int32_t tok_n_vocab(const struct tok_vocab *v);

#endif
