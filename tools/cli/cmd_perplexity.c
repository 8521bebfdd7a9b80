/* cmd_perplexity.c — placeholder until the perplexity command lands. */
#include "cli.h"

int cmd_perplexity(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_usage_error("perplexity", "not implemented yet");
}
