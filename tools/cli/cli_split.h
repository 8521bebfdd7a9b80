/* cli_split.h — the multi-GPU flags (issue 19) that lmc run, chat, serve and bench share, as
 * llama.cpp spells them: -sm/--split-mode none|layer|row, -ts/--tensor-split a,b,...,
 * -mg/--main-gpu N, -tp/--tensor-parallel N. Parsed here into lmc_context_params' split fields; the
 * library checks them against the model and the GPUs present (docs/MULTI_GPU.md). */
#ifndef LMC_CLI_SPLIT_H
#define LMC_CLI_SPLIT_H

#include "lmc.h"

#include <stdio.h>

typedef struct {
    lmc_split_mode mode;
    int main_gpu, n_tensor_parallel;
    float tensor_split[LMC_MAX_GPUS];
} cli_split_opts;

/* Handles argv[*i] when it is a split flag (consuming its value): 1 handled, 0 not a split flag,
 * -1 after printing a usage error naming cmd. o starts zeroed (one GPU). */
int cli_split_flag(cli_split_opts *o, const char *cmd, int argc, char **argv, int *i);
/* Copies the options into context parameters. */
void cli_split_apply(const cli_split_opts *o, lmc_context_params *cp);
/* Help lines of the split flags. */
void cli_split_help(FILE *to);

#endif
