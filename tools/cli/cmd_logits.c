/* cmd_logits.c — placeholder: 'lmc logits' is not built yet. */
#include "cli.h"
#include <stdio.h>

int cmd_logits(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lmc logits: not available in this build yet\n");
    return CLI_ERR;
}
