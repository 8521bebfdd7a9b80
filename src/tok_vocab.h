/* tok_vocab.h — the tokenizer's private parts, shared by its three files: the vocabulary as loaded
 * (tokenizer.c: maps, pre-tokenizer regexes, special tokens), read by the encoder (tok_encode.c)
 * and the decoder (tok_decode.c), and the text helpers all three use. Not part of the library
 * API: tokenizer.h is. */
#ifndef LMC_TOK_VOCAB_H
#define LMC_TOK_VOCAB_H

#include "tok_attr.h"
#include "tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tok_kind { TOK_SPM, TOK_BPE };
#define TOK_MAX_RE 8

/* Open addressing from a token's text to its id; the strings live in the vocabulary's arena. */
typedef struct {
    int32_t *slot; /* id or -1 */
    uint64_t mask;
} str_map;

/* Open addressing from a pair of token ids to (merge rank, merged token id); one slot per cache
 * access. */
typedef struct {
    uint64_t key; /* (left << 32) | right, UINT64_MAX = empty */
    int32_t rank;
    int32_t merged;
} pair_slot;

typedef struct {
    pair_slot *slot;
    uint64_t mask;
} pair_map;

struct tok_vocab {
    enum tok_kind kind;
    int32_t n_vocab;
    char *arena;      /* every token's text, NUL-terminated */
    uint64_t *off;    /* (n_vocab) start of token i in arena */
    uint32_t *len;    /* (n_vocab) its length in bytes */
    float *score;     /* (n_vocab) SentencePiece scores (0 when absent) */
    uint16_t *attr;   /* (n_vocab) TA_* bits (tok_attr.h) */
    str_map tokens;   /* text -> id, every token */
    str_map specials; /* text -> id, tokens with TA_SPECIAL bits */
    /* For each first byte, the distinct lengths of special tokens starting with it, longest first:
     * sp_lens[sp_start[b] .. sp_start[b+1]) */
    uint32_t sp_start[257];
    uint32_t *sp_lens;
    uint32_t *sp_all; /* every distinct special-token length, longest first (n_sp_all) */
    uint32_t n_sp_all;
    pair_map merges;
    int32_t byte_tok[256]; /* SPM: id of <0xNN>; BPE: id of the one-character token of byte NN */
    uint32_t byte_cp[256]; /* BPE: GPT-2's byte -> code point */
    int16_t cp_byte[324];  /* BPE: code point -> byte (-1: not a byte character) */
    int32_t bos, eos, unk, eot, eom;
    uint8_t *eog; /* (n_vocab) end-of-generation flags */
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    bool spm_split_ws; /* no token has "▁" right after another character (see spm_encode) */
    pcre2_code *re[TOK_MAX_RE];
    int n_re;
    char *warning;
};

/* Token id's text (NUL-terminated; its length is v->len[id]). */
const char *tok_str(const struct tok_vocab *v, int32_t id);
/* The id of the token whose text is s[0..n) in map m, or -1. */
int32_t tok_map_get(const struct tok_vocab *v, const str_map *m, const char *s, size_t n);
/* The merge of the pair (a, b), or NULL. */
const pair_slot *tok_pair_get(const pair_map *m, int32_t a, int32_t b);
/* Length of the UTF-8 sequence a lead byte starts (1 for ASCII and for invalid bytes). */
int tok_utf8_len(uint8_t c);
/* Writes code point cp as UTF-8 at o (4 bytes of room); returns its length. */
int tok_utf8_put(uint32_t cp, char *o);
/* Decodes one code point at s (n bytes left); *used gets its length. Invalid: -1, used 1. */
int32_t tok_utf8_get(const uint8_t *s, size_t n, int *used);
/* Parses "<0xNN>" (n bytes at s); -1 when the text is not a byte token. */
int tok_byte_value(const char *s, size_t n);

#endif
