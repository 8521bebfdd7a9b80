/* main.c — the lmc command: dispatches to a subcommand. Each subcommand lives in its own file. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command commands[] = {
    {"run", cmd_run, "generate text from a prompt (plain completion or --chat)"},
    {"chat", cmd_chat, "interactive chat with the model's chat template"},
    {"serve", cmd_serve, "OpenAI-compatible HTTP server with a chat page"},
    {"bench", cmd_bench, "prompt and generation speed, like llama-bench"},
    {"logits", cmd_logits, "logits and greedy ids for token ids or a prompt, as JSON"},
    {"tokenize", cmd_tokenize, "text to token ids (and the tokenizer test-case format)"},
    {"template", cmd_template, "render a chat template over messages"},
    {"inspect", cmd_inspect, "print a GGUF file's metadata and tensor table"},
    {"quantize", cmd_quantize, "write a quantized copy of a model, like llama-quantize"},
    {"perplexity", cmd_perplexity,
     "perplexity and KL divergence over a text, like llama-perplexity"},
};

static void usage(FILE *to) {
    fprintf(to,
            "lmc %s — run llama-family GGUF models on CPUs and NVIDIA GPUs\n\n"
            "usage: lmc <command> [options]    (lmc <command> --help for its options)\n\n"
            "commands:\n",
            LMC_VERSION_STRING);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(to, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(to, "\nlmc help flags prints every subcommand's options as one table (docs/CLI.md).\n"
                "Without -m, lmc uses the default model (SmolLM2-135M-Instruct); fetch it with\n"
                "  scripts/fetch-model.sh\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") && argc == 3 && !strcmp(argv[2], "flags")) {
        flags_markdown(stdout); /* the option table of every subcommand, for docs/CLI.md */
        return CLI_OK;
    }
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("lmc %s\n", LMC_VERSION_STRING);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "lmc: unknown command '%s'\n\n", name);
    usage(stderr);
    return CLI_USAGE;
}
