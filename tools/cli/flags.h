/* flags.h — the one table of command-line options of every lmc subcommand: each option's names (as
 * llama.cpp spells them), its argument, default, help text and the subcommands that take it. Every
 * subcommand parses its argv through flag_next and prints its option list with flags_help, so an
 * option means the same thing wherever it is accepted, and one given to a subcommand that does not
 * use it is an error naming the subcommands that do. docs/CLI.md documents the table. */
#ifndef LMC_FLAGS_H
#define LMC_FLAGS_H

#include <stdbool.h>
#include <stdio.h>

/* The subcommands, as bits of a flag's command set. */
typedef enum {
    CMD_RUN = 1 << 0,
    CMD_CHAT = 1 << 1,
    CMD_SERVE = 1 << 2,
    CMD_BENCH = 1 << 3,
    CMD_LOGITS = 1 << 4,
    CMD_TOKENIZE = 1 << 5,
    CMD_TEMPLATE = 1 << 6,
    CMD_INSPECT = 1 << 7,
    CMD_QUANTIZE = 1 << 8,
    CMD_PERPLEXITY = 1 << 9,
} cli_cmd;

typedef enum {
    FL_HELP,
    /* model, context, device */
    FL_MODEL,
    FL_CTX,
    FL_BATCH,
    FL_THREADS,
    FL_NGL,
    FL_DEVICE,
    FL_PARALLEL,
    FL_CACHE_TYPE_K,
    FL_CACHE_TYPE_V,
    /* several GPUs (docs/MULTI_GPU.md) */
    FL_SPLIT_MODE,
    FL_TENSOR_SPLIT,
    FL_MAIN_GPU,
    FL_TENSOR_PARALLEL,
    /* generation */
    FL_PROMPT,
    FL_FILE,
    FL_N_PREDICT,
    FL_STOP,
    FL_CHAT,
    FL_CONVERSATION,
    FL_NO_DISPLAY_PROMPT,
    FL_PRINT_IDS,
    FL_SYSTEM,
    FL_CHAT_TEMPLATE,
    FL_NO_PREFIX_CACHE,
    /* sampling */
    FL_TEMP,
    FL_TOP_K,
    FL_TOP_P,
    FL_MIN_P,
    FL_REPEAT_PENALTY,
    FL_REPEAT_LAST_N,
    FL_FREQUENCY_PENALTY,
    FL_PRESENCE_PENALTY,
    FL_SEED,
    /* constrained output */
    FL_GRAMMAR,
    FL_GRAMMAR_FILE,
    FL_JSON_SCHEMA,
    FL_JSON_SCHEMA_FILE,
    /* serve */
    FL_HOST,
    FL_PORT,
    FL_QUEUE,
    FL_API_KEY,
    FL_CORS,
    FL_EMBEDDINGS,
    FL_TIMEOUT,
    FL_MAX_BODY,
    FL_SHUTDOWN_GRACE,
    FL_VERBOSE,
    /* bench */
    FL_BENCH_PROMPT,
    FL_BENCH_GEN,
    FL_BENCH_DEPTH,
    FL_REPETITIONS,
    FL_JSON,
    /* logits */
    FL_IDS,
    FL_DUMP,
    /* perplexity */
    FL_CHUNKS,
    FL_KL_BASE,
    FL_KL,
    /* tokenize */
    FL_CASES,
    FL_BOS,
    FL_PARSE_SPECIAL,
    FL_PIECES,
    /* template */
    FL_TEMPLATE_FILE,
    FL_MESSAGES,
    FL_CONTEXT_VARS,
    FL_BOS_TOKEN,
    FL_EOS_TOKEN,
    FL_ADD_GEN_PROMPT,
    /* inspect */
    FL_FULL,
    FL_NO_TENSORS,
    /* quantize */
    FL_ALLOW_REQUANTIZE,
    FL_PURE,
    FL_FORCE,
    FL_QUIET,
    FL_OUTPUT_TENSOR_TYPE,
    FL_TOKEN_EMBEDDING_TYPE,
    FL_COUNT
} flag_id;

#define FLAG_MAX_LIST 32

/* One parsed option. */
typedef struct {
    flag_id id;
    const char *flag;        /* the name as given (for messages) */
    const char *str;         /* the value's text (NULL for a switch) */
    int i;                   /* integer options: the value (the first of a list) */
    float f;                 /* number options */
    int list[FLAG_MAX_LIST]; /* integer options that take a list in this subcommand ("1,2,4") */
    int n_list;
} flag_val;

/* The subcommand's name ("run", ...). */
const char *cli_cmd_name(cli_cmd cmd);

/* Parses argv[*i] for subcommand cmd. Returns 1 with *v filled (the value consumed: *i moves past
 * it), 0 when argv[*i] is not an option (a positional argument; "-" counts as one), or -1 after
 * printing a usage error: an unknown option, one this subcommand does not take (naming those that
 * do), a missing value, or a value of the wrong type or outside the option's range. */
int flag_next(cli_cmd cmd, int argc, char **argv, int *i, flag_val *v);

/* The option list of subcommand cmd, from the table, grouped. */
void flags_help(FILE *to, cli_cmd cmd);

/* The whole table as Markdown (lmc help --flags-markdown; docs/CLI.md is made from it). */
void flags_markdown(FILE *to);

#endif
