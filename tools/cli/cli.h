/* cli.h — what the lmc subcommands share: the command table, model loading with progress and
 * friendly errors, the default model, and small argument helpers. */
#ifndef LMC_CLI_H
#define LMC_CLI_H

#include "flags.h"
#include "lmc.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMC_VERSION_STRING "0.1.0"

/* One per subcommand (tools/cli/cmd_*.c, tools/server/). argv[0] is the subcommand name. */
int cmd_inspect(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);

/* Exit codes */
enum { CLI_OK = 0, CLI_ERR = 1, CLI_USAGE = 2 };

/* Prints "lmc: error: <what>: <lmc_last_error()>" to stderr and returns the exit code for st. */
int cli_fail(lmc_status st, const char *what);
/* Prints "lmc <cmd>: <msg>" (printf-style) and "Try 'lmc <cmd> --help'." to stderr; returns
 * CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...);

/* The default model's path (SmolLM2-135M-Instruct in the cache: $LMC_CACHE, else
 * $XDG_CACHE_HOME/lmc, else ~/.cache/lmc). Writes it to buf; returns true when the file exists. */
bool cli_default_model(char *buf, size_t size);
/* Loads path (NULL: the default model) with a progress bar on stderr when it is a terminal and the
 * load takes a while. Prints a friendly error (how to get a model) and returns NULL on failure. */
lmc_model *cli_load_model(const char *path, bool vocab_only, bool quiet);

/* --device's value (cpu, cuda or auto); prints a usage error naming the option and returns false
 * on anything else. */
bool cli_parse_device(cli_cmd cmd, const flag_val *v, lmc_device *out);
/* -ctk/-ctv's value (f32 or f16, as llama.cpp names them); prints a usage error naming the option
 * and the choices and returns false on anything else. */
bool cli_parse_kv_type(cli_cmd cmd, const flag_val *v, lmc_kv_type *out);
/* Parses "1,2,3" into ids (malloc'ed); returns count or -1 on a bad list. */
int cli_parse_ids(const char *s, int32_t **ids);
/* Reads a whole file (malloc'ed, NUL-terminated); NULL and a message on error. */
char *cli_read_file(const char *path, size_t *len);

#endif
