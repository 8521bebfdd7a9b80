/* cmd_inspect.c — placeholder: 'lmc inspect' is not built yet. */
#include "cli.h"
#include <stdio.h>

int cmd_inspect(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lmc inspect: not available in this build yet\n");
    return CLI_ERR;
}
