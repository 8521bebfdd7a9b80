/* cmd_template.c — 'lmc template': render a chat template over a JSON list of messages and print
 * the exact text (no newline added). For checking what a model will be prompted with; no
 * generation. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *to) {
    fprintf(
        to,
        "usage: lmc template [-m MODEL | --file T.jinja | --chat-template NAME] --messages M.json "
        "[options]\n"
        "\n"
        "Renders a chat template the way Hugging Face transformers does and prints the text "
        "exactly\n"
        "(nothing else on stdout, no newline added).\n"
        "\n"
        "strftime_now() uses the local time, or LMC_TEMPLATE_NOW=YYYY-MM-DD[THH:MM:SS] when set.\n"
        "Exit status: 0 rendered, 1 template error (message on stderr), 2 usage error.\n\n");
    flags_help(to, CMD_TEMPLATE);
}

/* Reads a JSON file: its text in *text (malloc'ed, for the library) and the parsed value (for the
 * checks here), or NULL with a message. */
static cJSON *read_json(const char *path, const char *what, char **text) {
    size_t len;
    *text = cli_read_file(path, &len);
    if (!*text) return NULL;
    cJSON *j = cJSON_ParseWithLength(*text, len);
    if (!j) fprintf(stderr, "lmc template: %s: %s is not valid JSON\n", path, what);
    return j;
}

int cmd_template(int argc, char **argv) {
    const char *model_path = NULL, *file = NULL, *builtin = NULL, *msgs_path = NULL,
               *ctx_path = NULL;
    const char *bos = NULL, *eos = NULL;
    bool add_gen = false;
    for (int i = 1; i < argc; i++) {
        flag_val v;
        int r = flag_next(CMD_TEMPLATE, argc, argv, &i, &v);
        if (r < 0) return CLI_USAGE;
        if (r == 0) return cli_usage_error(argv[0], "unexpected argument '%s'", argv[i]);
        switch (v.id) {
        case FL_HELP:
            usage(stdout);
            return CLI_OK;
        case FL_MODEL:
            model_path = v.str;
            break;
        case FL_TEMPLATE_FILE:
            file = v.str;
            break;
        case FL_CHAT_TEMPLATE:
            builtin = v.str;
            break;
        case FL_MESSAGES:
            msgs_path = v.str;
            break;
        case FL_CONTEXT_VARS:
            ctx_path = v.str;
            break;
        case FL_BOS_TOKEN:
            bos = v.str;
            break;
        case FL_EOS_TOKEN:
            eos = v.str;
            break;
        case FL_ADD_GEN_PROMPT:
            add_gen = true;
            break;
        default:
            return cli_usage_error(argv[0], "option %s is not handled by template", v.flag);
        }
    }
    if (!msgs_path) return cli_usage_error(argv[0], "--messages is required");
    if (file && builtin)
        return cli_usage_error(argv[0], "--file and --chat-template exclude each other");
    const char *src = NULL;
    if (builtin && !lmc_chat_builtin(builtin) && access(builtin, R_OK) == 0) {
        file = builtin; /* NAME|FILE, as in run, chat and serve */
        builtin = NULL;
    }
    if (builtin && !(src = lmc_chat_builtin(builtin)))
        return cli_usage_error(
            argv[0],
            "unknown built-in template '%s' (chatml, gemma, llama2, llama3, mistral, zephyr)",
            builtin);

    int rc = CLI_ERR;
    char *file_text = NULL, *msgs_text = NULL, *extra_text = NULL, *out = NULL;
    cJSON *msgs = NULL, *extra = NULL;
    lmc_model *model = NULL;
    if (!(msgs = read_json(msgs_path, "messages", &msgs_text))) goto done;
    if (!cJSON_IsArray(msgs)) {
        fprintf(stderr, "lmc template: %s: messages must be a JSON array\n", msgs_path);
        goto done;
    }
    if (ctx_path && !(extra = read_json(ctx_path, "context", &extra_text))) goto done;
    if (extra && !cJSON_IsObject(extra)) {
        fprintf(stderr, "lmc template: %s: the context must be a JSON object\n", ctx_path);
        goto done;
    }
    if (file && !(src = file_text = cli_read_file(file, NULL))) goto done;
    /* the model is needed for its template, or for its token text when -m is given */
    if (model_path || !src) {
        if (!(model = cli_load_model(model_path, true, true))) goto done;
        if (!src && !(src = lmc_model_chat_template(model))) {
            fprintf(stderr, "lmc template: the model has no chat template; use --chat-template "
                            "NAME or --file\n");
            goto done;
        }
        if (!bos) {
            int32_t id = lmc_token_bos(model);
            bos = id >= 0 && lmc_token_text(model, id) ? lmc_token_text(model, id) : "";
        }
        if (!eos) {
            int32_t id = lmc_token_eos(model);
            eos = id >= 0 && lmc_token_text(model, id) ? lmc_token_text(model, id) : "";
        }
    }
    lmc_status st = lmc_chat_render_json(src, msgs_text, extra_text, add_gen, bos, eos, &out);
    if (st != LMC_OK) {
        rc = cli_fail(st, "template");
        goto done;
    }
    fwrite(out, 1, strlen(out), stdout);
    fflush(stdout);
    rc = CLI_OK;
done:
    free(out);
    free(file_text);
    free(msgs_text);
    free(extra_text);
    cJSON_Delete(msgs);
    cJSON_Delete(extra);
    lmc_model_free(model);
    return rc;
}
