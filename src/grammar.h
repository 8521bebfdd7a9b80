/* grammar.h — the compiled GBNF grammar (llama.cpp's element encoding) and the matcher that
 * constrains sampling: parsing is grammar.c, matching and the token mask grammar_match.c, the
 * JSON-Schema converter json_schema.c. Internal to the library. */
#ifndef LMC_GRAMMAR_H
#define LMC_GRAMMAR_H

#include "lmc.h"

#include <stdbool.h>
#include <stdint.h>

/* A rule is its alternates one after another, each a sequence of elements ended by GE_ALT (more
 * alternates follow) or GE_END (the last). A character class is a GE_CHAR / GE_CHAR_NOT followed by
 * GE_CHAR_ALT items; any item may be followed by a GE_CHAR_RNG_UPPER making it a range. */
typedef enum {
    GE_END = 0,
    GE_ALT,
    GE_RULE_REF, /* value: rule id */
    GE_CHAR,     /* value: code point (starts a class) */
    GE_CHAR_NOT, /* value: code point (starts a negated class) */
    GE_CHAR_RNG_UPPER,
    GE_CHAR_ALT,
    GE_CHAR_ANY, /* '.' */
} gelem_type;

typedef struct {
    uint32_t type; /* gelem_type */
    uint32_t value;
} gelem;

struct lmc_grammar {
    gelem *elems;         /* (n_elems) all rules, one after another */
    uint32_t *rule_start; /* (n_rules) index of each rule's first element */
    uint32_t n_elems, n_rules, root;
};

/* Limits against hostile grammars (each a clear error, or a path not followed while matching). */
#define GRAMMAR_MAX_TEXT (4u << 20)  /* bytes of GBNF text */
#define GRAMMAR_MAX_ELEMS (1u << 20) /* elements after repetitions are expanded */
#define GRAMMAR_MAX_RULES 4096u      /* rules, generated ones included */
#define GRAMMAR_MAX_NEST 200         /* nested parentheses */
#define GRAMMAR_MAX_STACKS 1024      /* parses alive at once; more are not followed */
#define GRAMMAR_MAX_STACK_DEPTH 4096 /* elements on one parse stack; deeper is not followed */
#define GRAMMAR_MAX_STORE (1u << 22) /* stack elements held while matching one step */
#define GRAMMAR_WORK_PER_BYTE                                                                      \
    (1u << 16) /* rule expansions per byte matched; more: not followed                             \
                */
#define GRAMMAR_WORK_PER_MASK                                                                      \
    (1u << 25)                             /* rule expansions per token mask; more: tokens not yet \
                                              walked are refused */
#define GRAMMAR_MAX_CHECK_WORK 200000000.0 /* element visits of the compile-time checks */

/* The vocabulary as the matcher sees it: each token's bytes (as lmc_detok emits them), sorted so
 * that tokens sharing a prefix are walked once. Built once per model and generation core. */
typedef struct grammar_vocab grammar_vocab;
grammar_vocab *grammar_vocab_init(const lmc_model *model);
void grammar_vocab_free(grammar_vocab *v);

/* A grammar's parse state during one generation. */
typedef struct grammar_matcher grammar_matcher;
grammar_matcher *grammar_matcher_init(const lmc_grammar *g, const grammar_vocab *v);
void grammar_matcher_free(grammar_matcher *m);
/* Whether token tok may come next (an end-of-generation token: only where the grammar can end). */
bool grammar_allows(grammar_matcher *m, int32_t tok);
/* row[t] = logits[t] where the grammar allows t, -INFINITY elsewhere. Returns how many are allowed.
 */
int32_t grammar_mask(grammar_matcher *m, const float *logits, float *row);
/* Advances the state over tok (which grammar_allows). LMC_ERR_INVALID_ARG when it does not. */
lmc_status grammar_accept(grammar_matcher *m, int32_t tok);
/* Direct byte-level use (tests): feeds bytes; false when the grammar rejects them (the state is
 * then unchanged). */
bool grammar_accept_bytes(grammar_matcher *m, const char *s, size_t n);
/* Whether bytes could come next (the state is unchanged). */
bool grammar_probe_bytes(grammar_matcher *m, const char *s, size_t n);
bool grammar_can_end(const grammar_matcher *m);

/* A regular expression (a JSON schema's "pattern": literals, escapes \\d \\w \\s, classes, '.',
 * groups, alternation, * + ? {m,n}; anchored at both ends) as a GBNF expression over the JSON
 * encoding of the matching strings (malloc'ed). NULL with err set for unsupported features. */
char *schema_regex_to_gbnf(const char *re, char *err, size_t err_size);

#endif
