/* cli_gen.h — what 'lmc run' and 'lmc chat' share: the sampling/context flags, a session (model,
 * context and the library's generation core), a generation streamed through a callback, and the
 * timing lines. The generation itself is the library's (lmc_gen); interactive input and output
 * formats stay in the commands. */
#ifndef LMC_CLI_GEN_H
#define LMC_CLI_GEN_H

#include "cli.h"
#include "cli_split.h"
#include "flags.h"

#include <signal.h>
#include <stdio.h>

#define GEN_MAX_STOPS 16

typedef struct {
    const char *model_path; /* NULL: the default model */
    lmc_sampler_params sp;
    bool seed_given;
    int n_predict; /* -1: until EOG or the end of the context */
    int n_ctx;     /* 0: the model's, bounded by memory */
    int n_threads; /* 0: all cores */
    int n_batch;
    int n_gpu_layers;
    lmc_device device;
    lmc_kv_type type_k, type_v; /* -ctk/-ctv */
    cli_split_opts split;       /* -sm/-ts/-mg/-tp */
    const char *stops[GEN_MAX_STOPS];
    int n_stops;
    const char *chat_template; /* NAME of a built-in or a FILE; NULL: the model's */
    const char *system;        /* system prompt for --chat / chat */
    /* constrained output: at most one of them (GBNF text or file, JSON schema text or file) */
    const char *grammar, *grammar_file, *json_schema, *json_schema_file;
} gen_opts;

void gen_opts_default(gen_opts *o);
/* Applies a parsed option (flags.h) when it is one of the shared ones. Returns 1 when applied, 0
 * when the option is not a shared one, -1 after printing an error about its value. */
int gen_apply_flag(gen_opts *o, cli_cmd cmd, const flag_val *v);
/* The chat template source the options ask for (malloc'ed; NULL with *err=false when the model's
 * own is wanted; NULL with *err=true after printing an error). */
char *gen_load_template(const gen_opts *o, bool *err);

/* Compiles the grammar or JSON schema the options give (*out NULL when none). Prints the error
 * (naming the flag, and the line/column or schema path) and returns false. */
bool gen_load_grammar(const gen_opts *o, lmc_grammar **out);

typedef struct {
    lmc_model *model;
    lmc_context *ctx;
    lmc_gen *gen;          /* the generation core on sequence 0 (sampler, detokenizer, cache) */
    lmc_grammar *grammar;  /* the options' grammar or JSON schema, compiled; NULL: none */
    lmc_sampler_params sp; /* the options' sampling: seed drawn, repeat_last_n resolved */
    int32_t n_ctx;
    uint64_t seed; /* the seed in use (drawn here when none was given, so it can be printed) */
    double load_s;
} gen_session;

/* Loads the model, creates the context and the generation core. Prints a friendly error and
 * returns false. */
bool gen_session_open(gen_session *s, gen_opts *o);
void gen_session_close(gen_session *s);

typedef struct {
    lmc_gen_stats st;
    lmc_gen_end stop;
    int32_t *ids; /* optional (set by the caller): every sampled token, up to ids_cap */
    int32_t ids_cap;
} gen_result;

typedef void (*gen_emit_fn)(const char *text, size_t len, void *user);

/* One generation through the library's core (lmc_gen): makes the cache hold `prompt` (reusing the
 * longest common prefix with what it holds), then samples up to n_predict tokens (-1: no limit but
 * the context), streaming their text through emit. *cancel (may be NULL) stops it early; the
 * sampler carries on from the previous call (a chat's turns). accept_prompt: feed the newly decoded
 * prompt tokens to the sampler's penalty history. Prints its errors. */
lmc_status gen_generate(gen_session *s, const int32_t *prompt, int32_t n_prompt, int n_predict,
                        const char *const *stops, int n_stops, bool accept_prompt, gen_emit_fn emit,
                        void *user, volatile sig_atomic_t *cancel, gen_result *res);

/* Tokenizes text (parse_special for chat templates); BOS as the vocabulary says, but never twice
 * when the text already starts with it. Returns a malloc'ed array and its length, or NULL after
 * printing. */
int32_t *gen_tokenize(const lmc_model *model, const char *text, bool parse_special, int32_t *n_out);
/* A prompt whose template wrote the BOS text itself and whose tokenizer added BOS too starts with
 * two: keep one. Returns the new count (t shifted in place). */
int32_t gen_drop_double_bos(const lmc_model *model, int32_t *t, int32_t n);

/* The conversation m[0..n) rendered with the chat template (NULL: the model's) and the assistant's
 * turn opened, then tokenized with special-token text parsed. NULL after printing an error. */
int32_t *gen_chat_tokens(const lmc_model *model, const char *tmpl, const lmc_chat_msg *m, size_t n,
                         int32_t *n_out);

/* Text collected from a generation's emit callback. */
typedef struct {
    char *buf; /* NUL-terminated once anything was appended; NULL before */
    size_t len, cap;
} gen_text;

/* A gen_emit_fn that appends to the gen_text `user` (text that does not fit in memory is dropped).
 */
void gen_text_append(const char *text, size_t len, void *user);

/* "llama.cpp-like" timing lines on stderr. */
void gen_print_stats(const gen_session *s, const gen_result *r);

#endif
