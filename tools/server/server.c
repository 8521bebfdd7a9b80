/* cmd_serve.c — placeholder: 'lmc serve' is not built yet. */
#include "cli.h"
#include <stdio.h>

int cmd_serve(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lmc serve: not available in this build yet\n");
    return CLI_ERR;
}
