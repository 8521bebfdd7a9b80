/* cmd_template.c — placeholder: 'lmc template' is not built yet. */
#include "cli.h"
#include <stdio.h>

int cmd_template(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lmc template: not available in this build yet\n");
    return CLI_ERR;
}
