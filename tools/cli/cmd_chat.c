/* cmd_chat.c — placeholder: 'lmc chat' is not built yet. */
#include "cli.h"
#include <stdio.h>

int cmd_chat(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lmc chat: not available in this build yet\n");
    return CLI_ERR;
}
