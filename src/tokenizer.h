/* tokenizer.h — internal interface of the tokenizer (SentencePiece and byte-level BPE read from the
 * GGUF's tokenizer.ggml.* metadata). The public functions that take a model (lmc_tokenize, ...) are
 * thin wrappers over these in vocab.c; these take the vocabulary directly (handy for tests) and
 * know nothing of models. */
#ifndef LMC_TOKENIZER_H
#define LMC_TOKENIZER_H

#include "gguf.h"

struct tok_vocab;

/* Reads the vocabulary from f (the vocabulary keeps its own copies: f may be closed afterwards).
 * LMC_ERR_FORMAT when the tokenizer metadata is missing or malformed, LMC_ERR_UNSUPPORTED for a
 * tokenizer model other than "llama" (SentencePiece) or "gpt2" (byte-level BPE). */
lmc_status tok_load(const gguf_file *f, struct tok_vocab **out);
void tok_free(struct tok_vocab *v);
int32_t tok_n_vocab(const struct tok_vocab *v);

/* Tokenizes len bytes of text into *ids (malloc'ed, caller frees; *n_ids tokens). add_special adds
 * BOS/EOS as the metadata says; parse_special turns the text of control tokens into those tokens
 * (user-defined tokens are always matched, as Hugging Face's added tokens are). */
lmc_status tok_encode(const struct tok_vocab *v, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t **ids, size_t *n_ids);
/* Raw bytes of a token's piece into buf (at most size bytes); returns the piece's full length
 * (which may exceed size), or -1 for an id out of range. special: control tokens render their text.
 */
int32_t tok_piece(const struct tok_vocab *v, int32_t id, char *buf, size_t size, bool special);
/* Token text as stored (NUL-terminated), or NULL for an id out of range. */
const char *tok_text(const struct tok_vocab *v, int32_t id);
int32_t tok_bos(const struct tok_vocab *v);
int32_t tok_eos(const struct tok_vocab *v);
bool tok_is_eog(const struct tok_vocab *v, int32_t id);
bool tok_add_bos(const struct tok_vocab *v);
/* SentencePiece vocabulary whose text gets a leading space (the first piece after BOS loses it). */
bool tok_strips_leading_space(const struct tok_vocab *v);
/* A note about the load the caller may want to show (e.g. an unknown pre-tokenizer), or NULL. */
const char *tok_warning(const struct tok_vocab *v);
/* A streaming detokenizer over v (the public lmc_detok of lmc.h; push/flush/free are lmc_detok_*).
 * NULL when out of memory. v must outlive it. */
lmc_detok *tok_detok_init(const struct tok_vocab *v, bool special);

#endif
