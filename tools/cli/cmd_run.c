/* cmd_run.c — placeholder: 'lmc run' is not built yet. */
#include "cli.h"
#include <stdio.h>

int cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lmc run: not available in this build yet\n");
    return CLI_ERR;
}
