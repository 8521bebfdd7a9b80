/* cmd_bench.c — placeholder: 'lmc bench' is not built yet. */
#include "cli.h"
#include <stdio.h>

int cmd_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lmc bench: not available in this build yet\n");
    return CLI_ERR;
}
