/* cli_split.h — the multi-GPU options (issue 19) of run, chat, serve and bench, as llama.cpp spells
 * them (-sm/--split-mode, -ts/--tensor-split, -mg/--main-gpu, -tp/--tensor-parallel; their table
 * rows are in flags.c): their values turned into lmc_context_params' split fields. The library
 * checks them against the model and the GPUs present (docs/MULTI_GPU.md). */
#ifndef LMC_CLI_SPLIT_H
#define LMC_CLI_SPLIT_H

#include "flags.h"
#include "lmc.h"

typedef struct {
    lmc_split_mode mode;
    int main_gpu, n_tensor_parallel;
    float tensor_split[LMC_MAX_GPUS];
} cli_split_opts;

/* Takes a parsed option when it is one of the four (1), else 0; -1 after printing a usage error
 * (an unknown -sm mode, a bad -ts list). o starts zeroed (one GPU). */
int cli_split_take(cli_split_opts *o, cli_cmd cmd, const flag_val *v);
/* Copies the options into context parameters. */
void cli_split_apply(const cli_split_opts *o, lmc_context_params *cp);

#endif
