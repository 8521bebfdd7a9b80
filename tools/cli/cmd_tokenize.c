/* cmd_tokenize.c — placeholder: 'lmc tokenize' is not built yet. */
#include "cli.h"
#include <stdio.h>

int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lmc tokenize: not available in this build yet\n");
    return CLI_ERR;
}
