/* cmd_chat.c — 'lmc chat': an interactive, multi-turn chat. Each turn renders the whole
 * conversation with the chat template and decodes only the tokens after the prefix already in the
 * KV cache. Line editing and history through libedit on a terminal; one message per line otherwise.
 * When the conversation outgrows the context, the oldest turns are dropped (the system prompt
 * stays). */
#include "cli_gen.h"

#include <editline/readline.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;       /* Ctrl-C during a reply: stop it */
static volatile sig_atomic_t g_at_prompt;  /* waiting for the user's line */
static volatile sig_atomic_t g_prompt_int; /* Ctrl-C at the prompt since the last line entered */
static bool
    g_no_prefix_cache; /* --no-prefix-cache: decode every turn from scratch (to test reuse) */

/* Ctrl-C: during a reply it stops the reply; at the prompt it makes readline return (no
 * SA_RESTART), and read_line clears the line or, the second time in a row, quits. */
static void on_sigint(int sig) {
    (void)sig;
    if (g_at_prompt)
        g_prompt_int++;
    else
        g_stop = 1;
}

static void usage(FILE *to) {
    fprintf(to,
            "usage: lmc chat [-m MODEL] [--system TEXT] [options]\n\n"
            "Interactive chat using the model's chat template. Replies stream as they are\n"
            "generated; the KV cache is kept between turns, so each turn only processes the new\n"
            "tokens. Ctrl-C stops a reply; at the prompt it clears the line, and a second Ctrl-C\n"
            "in a row (or Ctrl-D) quits.\n"
            "When stdin is not a terminal, each line is one user message (for scripts); a line\n"
            "per turn on stderr says how many prompt tokens were processed.\n\n"
            "commands:  /reset  forget the conversation   /system TEXT  set the system prompt\n"
            "           /help   this list                 /exit         quit\n\n");
    flags_help(to, CMD_CHAT);
}

typedef struct {
    char *role;
    char *content;
} msg;

typedef struct {
    msg *v;
    size_t n, cap;
} conv;

static bool conv_push(conv *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        msg *nv = realloc(c->v, cap * sizeof *nv);
        if (!nv) return false;
        c->v = nv;
        c->cap = cap;
    }
    msg m = {strdup(role), strdup(content)};
    if (!m.role || !m.content) {
        free(m.role);
        free(m.content);
        return false;
    }
    c->v[c->n++] = m;
    return true;
}

static void conv_remove(conv *c, size_t i) {
    free(c->v[i].role);
    free(c->v[i].content);
    memmove(c->v + i, c->v + i + 1, (c->n - i - 1) * sizeof *c->v);
    c->n--;
}

static bool has_system(const conv *c) {
    return c->n > 0 && !strcmp(c->v[0].role, "system");
}

static void conv_clear(conv *c, bool keep_system) {
    size_t first = keep_system && has_system(c) ? 1 : 0;
    while (c->n > first)
        conv_remove(c, c->n - 1);
}

/* Streams the reply to stdout and keeps it (gen_text) for the conversation. */
static void emit_reply(const char *text, size_t len, void *user) {
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    gen_text_append(text, len, user);
}

/* Renders and tokenizes the conversation with the assistant's turn opened. NULL after a message. */
static int32_t *render_tokens(gen_session *s, const char *tmpl, const conv *c, int32_t *n) {
    lmc_chat_msg *m = malloc((c->n ? c->n : 1) * sizeof *m);
    if (!m) return NULL;
    for (size_t i = 0; i < c->n; i++)
        m[i] = (lmc_chat_msg){c->v[i].role, c->v[i].content};
    int32_t *t = gen_chat_tokens(s->model, tmpl, m, c->n, n);
    free(m);
    return t;
}

/* One user turn: fit the conversation into the context, generate, record the reply. */
static void chat_turn(gen_session *s, const gen_opts *o, const char *tmpl, conv *c, int turn) {
    int32_t n = 0, *toks = NULL;
    /* a reply gets at least a quarter of the context, unless only the newest message is left */
    const int32_t budget = s->n_ctx - s->n_ctx / 4;
    for (;;) {
        toks = render_tokens(s, tmpl, c, &n);
        if (!toks) {
            conv_remove(c, c->n - 1); /* forget the message that could not be rendered */
            return;
        }
        size_t first = has_system(c) ? 1 : 0;
        bool can_drop =
            c->n - first >= 3; /* an older user/assistant pair exists before the newest */
        if (n <= budget || !can_drop) break;
        int dropped = 0;
        conv_remove(c, first); /* oldest user message ... */
        dropped++;
        if (c->n - first >= 2 && strcmp(c->v[first].role, "user")) { /* ... and the reply to it */
            conv_remove(c, first);
            dropped++;
        }
        fprintf(stderr,
                "[context: the conversation (%d tokens) leaves too little of the context (%d) "
                "for a reply; dropped the oldest turn (%d message%s)]\n",
                n, s->n_ctx, dropped, dropped == 1 ? "" : "s");
        free(toks);
    }
    if (n >= s->n_ctx) {
        fprintf(stderr,
                "[your message is too long: %d tokens with the template, the context holds %d "
                "(-c to change); it was not sent]\n",
                n, s->n_ctx);
        free(toks);
        conv_remove(c, c->n - 1);
        return;
    }
    gen_text reply = {0};
    gen_result res;
    memset(&res, 0, sizeof res);
    g_stop = 0;
    if (g_no_prefix_cache) lmc_gen_forget(s->gen);
    lmc_status st = gen_generate(s, toks, n, o->n_predict, o->stops, o->n_stops, true, emit_reply,
                                 &reply, &g_stop, &res);
    free(toks);
    printf("\n");
    fflush(stdout);
    if (st != LMC_OK) {
        conv_remove(c, c->n - 1);
        free(reply.buf);
        return;
    }
    if (res.stop == LMC_GEN_END_CONTEXT)
        fprintf(stderr,
                "[reply stopped: the context (%d tokens) is full; older turns will be dropped "
                "next turn]\n",
                s->n_ctx);
    else if (res.stop == LMC_GEN_END_CANCELLED)
        fprintf(stderr, "[reply interrupted]\n");
    if (!conv_push(c, "assistant", reply.buf ? reply.buf : ""))
        fprintf(stderr, "lmc: error: out of memory keeping the reply\n");
    free(reply.buf);
    fprintf(stderr,
            "[turn %d: %d new prompt tokens processed (of %d in context, %d reused), %d generated, "
            "%.1f tok/s]\n",
            turn, res.st.n_processed, res.st.n_prompt, res.st.n_reused, res.st.n_gen,
            res.st.t_gen > 0 && res.st.n_gen > 1 ? (res.st.n_gen - 1) / res.st.t_gen : 0.0);
}

/* The user's next line; NULL to quit (Ctrl-D, twice Ctrl-C at the prompt, the end of stdin). On a
 * terminal, quitting leaves the cursor on a fresh line. */
static char *read_line(bool tty) {
    if (tty) {
        for (;;) {
            int ints = g_prompt_int;
            g_at_prompt = 1;
            char *line = readline("> ");
            g_at_prompt = 0;
            if (g_prompt_int == ints) { /* a line, or Ctrl-D (end of input) */
                g_prompt_int = 0;
                if (!line) {
                    fputc('\n', stdout);
                    fflush(stdout);
                }
                if (line && *line) add_history(line);
                return line;
            }
            free(line); /* Ctrl-C: the line is dropped */
            if (g_prompt_int >= 2) {
                fputc('\n', stdout);
                fflush(stdout);
                return NULL;
            }
            fprintf(stderr, "\n(Ctrl-C again to quit, Ctrl-D or /exit)\n");
        }
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    return line;
}

int cmd_chat(int argc, char **argv) {
    gen_opts o;
    gen_opts_default(&o);
    for (int i = 1; i < argc; i++) {
        flag_val v;
        int r = flag_next(CMD_CHAT, argc, argv, &i, &v);
        if (r < 0) return CLI_USAGE;
        if (r == 0) return cli_usage_error(argv[0], "unexpected argument '%s'", argv[i]);
        if (v.id == FL_HELP) {
            usage(stdout);
            return CLI_OK;
        }
        if (v.id == FL_NO_PREFIX_CACHE)
            g_no_prefix_cache = true;
        else if (v.id == FL_CONVERSATION)
            continue; /* chat is llama.cpp's conversation mode already */
        else if ((r = gen_apply_flag(&o, CMD_CHAT, &v)) <= 0)
            return r < 0 ? CLI_USAGE : cli_usage_error(argv[0], "option %s is not handled", v.flag);
    }
    bool tmpl_err;
    char *tmpl = gen_load_template(&o, &tmpl_err);
    if (tmpl_err) return CLI_ERR;
    gen_session s;
    if (!gen_session_open(&s, &o)) {
        free(tmpl);
        return CLI_ERR;
    }
    conv c = {0};
    int rc = CLI_OK;
    if (o.system && !conv_push(&c, "system", o.system)) {
        rc = CLI_ERR;
        goto done;
    }
    bool tty = isatty(0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    if (tty)
        fprintf(stderr, "lmc chat — %s. /help for commands, Ctrl-C stops a reply, Ctrl-D quits.\n",
                o.model_path ? o.model_path : "default model (SmolLM2-135M-Instruct)");

    int turn = 0;
    char *line;
    while ((line = read_line(tty)) != NULL) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p) {
            free(line);
            continue;
        }
        if (!strcmp(p, "/exit") || !strcmp(p, "/quit")) {
            free(line);
            break;
        } else if (!strcmp(p, "/help")) {
            fprintf(stderr, "/reset  forget the conversation (keeps the system prompt)\n"
                            "/system TEXT  set the system prompt (empty: none)\n"
                            "/exit   quit\n");
        } else if (!strcmp(p, "/reset")) {
            conv_clear(&c, true);
            fprintf(stderr, "[conversation reset]\n");
        } else if (!strncmp(p, "/system", 7) && (p[7] == 0 || p[7] == ' ')) {
            const char *t = p + 7;
            while (*t == ' ')
                t++;
            if (has_system(&c)) conv_remove(&c, 0);
            if (*t) {
                /* the system message goes first */
                if (!conv_push(&c, "system", t)) {
                    free(line);
                    rc = CLI_ERR;
                    break;
                }
                msg m = c.v[c.n - 1];
                memmove(c.v + 1, c.v, (c.n - 1) * sizeof *c.v);
                c.v[0] = m;
                fprintf(stderr, "[system prompt set]\n");
            } else {
                fprintf(stderr, "[system prompt cleared]\n");
            }
        } else if (*p == '/' && p[1] != '/') {
            fprintf(stderr,
                    "unknown command '%s' (/help lists them; start with // to send a '/')\n", p);
        } else {
            if (*p == '/') p++; /* "//text" sends "/text" */
            if (!conv_push(&c, "user", p)) {
                free(line);
                rc = CLI_ERR;
                fprintf(stderr, "lmc: error: out of memory\n");
                break;
            }
            chat_turn(&s, &o, tmpl, &c, ++turn);
        }
        free(line);
    }
done:
    signal(SIGINT, SIG_DFL);
    for (size_t i = 0; i < c.n; i++)
        free(c.v[i].role), free(c.v[i].content);
    free(c.v);
    gen_session_close(&s);
    free(tmpl);
    return rc;
}
