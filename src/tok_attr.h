/* tok_attr.h — token attributes (llama.cpp's llama_token_attr bits) and the end-of-generation set,
 * derived from the GGUF's token types and the tokens' text exactly as llama.cpp derives them. Used
 * by tokenizer.c only; knows nothing of tokenizing. */
#ifndef LMC_TOK_ATTR_H
#define LMC_TOK_ATTR_H

#include <stdbool.h>
#include <stdint.h>

enum {
    TA_UNKNOWN = 1 << 0,
    TA_UNUSED = 1 << 1,
    TA_NORMAL = 1 << 2,
    TA_CONTROL = 1 << 3,
    TA_USER = 1 << 4,
    TA_BYTE = 1 << 5,
    TA_LSTRIP = 1 << 7, /* a special token eats the whitespace before it */
    TA_RSTRIP = 1 << 8, /* ... and after it */
};
/* A special token: matched in the text before the tokenizer runs (control and unknown ones only
 * when parse_special is on). */
#define TA_SPECIAL (TA_CONTROL | TA_USER | TA_UNKNOWN)

/* The attribute bits of a GGUF tokenizer.ggml.token_type value (1 normal ... 6 byte; other
 * values: no bits, as llama.cpp's "undefined"). */
uint16_t tok_attr_of_type(int64_t type);

enum { FIM_PRE, FIM_SUF, FIM_MID, FIM_PAD, FIM_REP, FIM_SEP, FIM_N };

typedef struct {
    int32_t n_vocab;
    const char *arena;     /* token i's text is arena + off[i], len[i] bytes */
    const uint64_t *off;   /* (n_vocab) */
    const uint32_t *len;   /* (n_vocab) */
    uint16_t *attr;        /* (n_vocab) in: from the token types; out: final */
    uint8_t *eog;          /* (n_vocab) out: 1 for end-of-generation tokens */
    int32_t eos, eot, eom; /* in: from the metadata (-1: none); eot/eom out: also detected */
    int32_t fim[FIM_N];    /* in: from the metadata (-1: none); out: also detected */
    const char *name;      /* general.name, or NULL (Phi-3's strip rules key on it) */
} tok_attr_in;

/* Detects EOT/EOM/FIM tokens by their text, marks control tokens named "unused...", builds the
 * end-of-generation set and applies the per-model lstrip/rstrip rules, in llama.cpp's order. */
void tok_attr_derive(tok_attr_in *a);

#endif
