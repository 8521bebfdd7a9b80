/* cmd_run.c — 'lmc run': one prompt in, generated text streamed out (plain completion, or wrapped
 * in the model's chat template with --chat). Timing on stderr. --print-ids gives a JSON record
 * instead (for golden tests). No interaction; see cmd_chat.c for that. */
#include "cli_gen.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_interrupted;
static void on_sigint(int sig) {
    (void)sig;
    if (g_interrupted) _exit(130); /* a second Ctrl-C while stopping: leave now */
    g_interrupted = 1;
}

static void usage(FILE *to) {
    fprintf(to,
            "usage: lmc run [-m MODEL] (-p PROMPT | -f FILE) [options]\n\n"
            "Generates text from a prompt and streams it to stdout; timing goes to stderr.\n"
            "Plain completion by default (the prompt is continued as is, BOS as the model says);\n"
            "--chat wraps the prompt as a user message in the model's chat template.\n\n"
            "-cnv or -i (llama.cpp's conversation mode) runs lmc chat with the other options.\n\n");
    flags_help(to, CMD_RUN);
    fprintf(
        to,
        "\nGeneration stops at an end-of-generation token, a --stop string, -n tokens, the end\n"
        "of the context, or Ctrl-C. Examples:\n"
        "  lmc run -p \"Once upon a time\" -n 64\n"
        "  lmc run --chat -p \"What is the capital of France?\" --temp 0\n");
}

static void emit_stdout(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

static const char *stop_name(lmc_gen_end s) {
    switch (s) {
    case LMC_GEN_END_EOG:
        return "eog";
    case LMC_GEN_END_LENGTH:
        return "limit";
    case LMC_GEN_END_STOP:
        return "stop_string";
    case LMC_GEN_END_CONTEXT:
        return "context";
    case LMC_GEN_END_CANCELLED:
        return "interrupted";
    case LMC_GEN_END_NONE:
    case LMC_GEN_END_ERROR:
        break;
    }
    return "?";
}

static cJSON *ids_json(const int32_t *ids, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

int cmd_run(int argc, char **argv) {
    gen_opts o;
    gen_opts_default(&o);
    const char *prompt_arg = NULL, *file = NULL;
    bool chat = false, display_prompt = true, print_ids = false;
    for (int i = 1; i < argc; i++) /* llama.cpp's conversation mode is lmc chat */
        if (!strcmp(argv[i], "-cnv") || !strcmp(argv[i], "--conversation") ||
            !strcmp(argv[i], "-i") || !strcmp(argv[i], "--interactive")) {
            argv[0] = "chat";
            return cmd_chat(argc, argv);
        }
    for (int i = 1; i < argc; i++) {
        flag_val v;
        int r = flag_next(CMD_RUN, argc, argv, &i, &v);
        if (r < 0) return CLI_USAGE;
        if (r == 0) return cli_usage_error(argv[0], "unexpected argument '%s'", argv[i]);
        if (v.id == FL_HELP) {
            usage(stdout);
            return CLI_OK;
        }
        r = gen_apply_flag(&o, CMD_RUN, &v);
        if (r < 0) return CLI_USAGE;
        if (r > 0) continue;
        switch (v.id) {
        case FL_PROMPT:
            prompt_arg = v.str;
            break;
        case FL_FILE:
            file = v.str;
            break;
        case FL_CHAT:
            chat = true;
            break;
        case FL_NO_DISPLAY_PROMPT:
            display_prompt = false;
            break;
        case FL_PRINT_IDS:
            print_ids = true;
            break;
        default:
            return cli_usage_error(argv[0], "option %s is not handled by run", v.flag);
        }
    }
    if (!prompt_arg == !file)
        return cli_usage_error(argv[0], "give exactly one of -p PROMPT or -f FILE");
    if (o.system && !chat) return cli_usage_error(argv[0], "--system needs --chat");
    if (o.chat_template && !chat) return cli_usage_error(argv[0], "--chat-template needs --chat");

    int rc = CLI_ERR;
    char *file_text = NULL, *tmpl = NULL;
    int32_t *toks = NULL, *ids = NULL;
    gen_text out = {0};
    gen_session s;
    memset(&s, 0, sizeof s);
    const char *prompt = prompt_arg;
    if (file) {
        file_text = cli_read_file(file, NULL);
        if (!file_text) goto done;
        prompt = file_text;
    }
    bool tmpl_err;
    tmpl = gen_load_template(&o, &tmpl_err);
    if (tmpl_err) goto done;
    if (!gen_session_open(&s, &o)) goto done;

    int32_t n_toks;
    if (chat) {
        lmc_chat_msg msgs[2];
        size_t n = 0;
        if (o.system) msgs[n++] = (lmc_chat_msg){"system", o.system};
        msgs[n++] = (lmc_chat_msg){"user", prompt};
        toks = gen_chat_tokens(s.model, tmpl, msgs, n, &n_toks);
    } else {
        toks = gen_tokenize(s.model, prompt, false, &n_toks);
    }
    if (!toks) goto done;
    if (n_toks >= s.n_ctx) { /* refuse before echoing anything */
        fprintf(stderr,
                "lmc: error: the prompt is %d tokens but the context holds %d (-c to change)\n",
                n_toks, s.n_ctx);
        goto done;
    }

    gen_result res;
    memset(&res, 0, sizeof res);
    if (print_ids) {
        int cap = o.n_predict >= 0 ? o.n_predict + 1 : s.n_ctx + 1;
        ids = malloc((size_t)cap * sizeof *ids);
        if (!ids) goto done;
        res.ids = ids;
        res.ids_cap = cap;
    }
    if (display_prompt && !chat && !print_ids) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    signal(SIGINT, on_sigint);
    lmc_status st = gen_generate(&s, toks, n_toks, o.n_predict, o.stops, o.n_stops, true,
                                 print_ids ? gen_text_append : emit_stdout,
                                 print_ids ? (void *)&out : NULL, &g_interrupted, &res);
    signal(SIGINT, SIG_DFL);
    if (st != LMC_OK) goto done;

    if (print_ids) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "prompt_ids", ids_json(toks, n_toks));
        cJSON_AddItemToObject(
            j, "ids", ids_json(ids, res.st.n_gen < res.ids_cap ? res.st.n_gen : res.ids_cap));
        cJSON_AddStringToObject(j, "text", out.buf ? out.buf : "");
        cJSON_AddStringToObject(j, "stop", stop_name(res.stop));
        char *js = cJSON_PrintUnformatted(j);
        if (js) printf("%s\n", js);
        free(js);
        cJSON_Delete(j);
    } else {
        printf("\n");
    }
    fflush(stdout);
    if (res.stop == LMC_GEN_END_CONTEXT)
        fprintf(stderr, "lmc: stopped: the context (%d tokens) is full; -c sets a larger one\n",
                s.n_ctx);
    else if (res.stop == LMC_GEN_END_CANCELLED)
        fprintf(stderr, "lmc: stopped by Ctrl-C\n");
    gen_print_stats(&s, &res);
    fprintf(stderr, "seed:        %8llu\n", (unsigned long long)s.seed);
    rc = CLI_OK;
done:
    gen_session_close(&s);
    free(file_text);
    free(tmpl);
    free(toks);
    free(ids);
    free(out.buf);
    return rc;
}
