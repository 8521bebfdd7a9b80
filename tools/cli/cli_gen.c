/* cli_gen.c — see cli_gen.h: shared flags, the session, and the generation loop of run and chat
 * (the library's generation core stepped until it ends, its text streamed through a callback).
 * It does not read user input or choose output formats; the commands do. */
#include "cli_gen.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void gen_opts_default(gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->sp = lmc_sampler_default_params();
    o->n_predict = -1;
    lmc_context_params cp = lmc_context_default_params();
    o->n_ctx = 0;
    o->n_threads = cp.n_threads;
    o->n_batch = cp.n_batch > 0 ? cp.n_batch : 512;
    o->n_gpu_layers = cp.n_gpu_layers;
    o->device = cp.device;
}

int gen_apply_flag(gen_opts *o, cli_cmd cmd, const flag_val *v) {
    const char *name = cli_cmd_name(cmd);
    switch (v->id) {
    case FL_MODEL:
        o->model_path = v->str;
        return 1;
    case FL_TEMP:
        o->sp.temp = v->f;
        return 1;
    case FL_TOP_K:
        o->sp.top_k = v->i;
        return 1;
    case FL_TOP_P:
        o->sp.top_p = v->f;
        return 1;
    case FL_MIN_P:
        o->sp.min_p = v->f;
        return 1;
    case FL_REPEAT_PENALTY:
        o->sp.repeat_penalty = v->f;
        return 1;
    case FL_REPEAT_LAST_N:
        o->sp.repeat_last_n = v->i;
        return 1;
    case FL_FREQUENCY_PENALTY:
        o->sp.frequency_penalty = v->f;
        return 1;
    case FL_PRESENCE_PENALTY:
        o->sp.presence_penalty = v->f;
        return 1;
    case FL_SEED: {
        char *end;
        unsigned long long s = strtoull(v->str, &end, 10);
        if (*end || end == v->str || *v->str == '-') {
            cli_usage_error(name, "option %s: '%s' is not a non-negative integer", v->flag, v->str);
            return -1;
        }
        o->sp.seed = (uint64_t)s;
        o->seed_given = s != LMC_DEFAULT_SEED; /* llama.cpp: 0xFFFFFFFF means random */
        return 1;
    }
    case FL_N_PREDICT:
        o->n_predict = v->i;
        return 1;
    case FL_CTX:
        o->n_ctx = v->i;
        return 1;
    case FL_THREADS:
        o->n_threads = v->i;
        return 1;
    case FL_BATCH:
        o->n_batch = v->i;
        return 1;
    case FL_NGL:
        o->n_gpu_layers = v->i < 0 ? -1 : v->i;
        return 1;
    case FL_DEVICE:
        return cli_parse_device(cmd, v, &o->device) ? 1 : -1;
    case FL_CACHE_TYPE_K:
        return cli_parse_kv_type(cmd, v, &o->type_k) ? 1 : -1;
    case FL_CACHE_TYPE_V:
        return cli_parse_kv_type(cmd, v, &o->type_v) ? 1 : -1;
    case FL_STOP:
        if (!*v->str) {
            cli_usage_error(name, "option %s: empty stop string", v->flag);
            return -1;
        }
        if (o->n_stops == GEN_MAX_STOPS) {
            cli_usage_error(name, "at most %d stop strings (%s)", GEN_MAX_STOPS, v->flag);
            return -1;
        }
        o->stops[o->n_stops++] = v->str;
        return 1;
    case FL_CHAT_TEMPLATE:
        o->chat_template = v->str;
        return 1;
    case FL_SYSTEM:
        o->system = v->str;
        return 1;
    case FL_GRAMMAR:
        o->grammar = v->str;
        return 1;
    case FL_GRAMMAR_FILE:
        o->grammar_file = v->str;
        return 1;
    case FL_JSON_SCHEMA:
        o->json_schema = v->str;
        return 1;
    case FL_JSON_SCHEMA_FILE:
        o->json_schema_file = v->str;
        return 1;
    default:
        return cli_split_take(&o->split, cmd, v); /* -sm/-ts/-mg/-tp, else 0 */
    }
}

char *gen_load_template(const gen_opts *o, bool *err) {
    *err = false;
    if (!o->chat_template) return NULL;
    const char *b = lmc_chat_builtin(o->chat_template);
    if (b) return strdup(b);
    if (access(o->chat_template, R_OK) != 0) {
        fprintf(stderr,
                "lmc: error: --chat-template '%s' is neither a built-in (chatml, gemma, llama2, "
                "llama3, mistral, zephyr) nor a readable file\n",
                o->chat_template);
        *err = true;
        return NULL;
    }
    char *t = cli_read_file(o->chat_template, NULL);
    if (!t) *err = true;
    return t;
}

bool gen_load_grammar(const gen_opts *o, lmc_grammar **out) {
    *out = NULL;
    const char *src[4] = {o->grammar, o->grammar_file, o->json_schema, o->json_schema_file};
    const char *flag[4] = {"--grammar", "--grammar-file", "--json-schema", "--json-schema-file"};
    int k = -1, n = 0;
    for (int i = 0; i < 4; i++)
        if (src[i]) k = i, n++;
    if (n == 0) return true;
    if (n > 1) {
        fprintf(stderr, "lmc: error: give only one of --grammar, --grammar-file, --json-schema, "
                        "--json-schema-file\n");
        return false;
    }
    size_t len = strlen(src[k]);
    char *text = NULL;
    if (k == 1 || k == 3) {
        if (!(text = cli_read_file(src[k], &len))) return false;
    }
    const char *t = text ? text : src[k];
    lmc_status st = k < 2 ? lmc_grammar_init_gbnf(t, len, NULL, out)
                          : lmc_grammar_init_json_schema(t, len, out);
    free(text);
    if (st != LMC_OK) {
        cli_fail(st, flag[k]);
        return false;
    }
    return true;
}

static uint64_t random_seed(void) {
    uint64_t x = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&x, sizeof x, 1, f) != 1) x = 0;
        fclose(f);
    }
    if (!x) x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    return x % 4294967295u; /* printable and never LMC_DEFAULT_SEED */
}

bool gen_session_open(gen_session *s, gen_opts *o) {
    memset(s, 0, sizeof *s);
    double t0 = now_s();
    if (!gen_load_grammar(o, &s->grammar)) return false; /* its errors before the model loads */
    s->model = cli_load_model(o->model_path, false, false);
    if (!s->model) goto fail;
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_seq = 1;
    cp.n_threads = o->n_threads;
    cp.n_batch = o->n_batch;
    cp.device = o->device;
    cp.n_gpu_layers = o->n_gpu_layers;
    cp.type_k = o->type_k;
    cp.type_v = o->type_v;
    cli_split_apply(&o->split, &cp);
    lmc_status st = lmc_context_init(s->model, &cp, &s->ctx);
    if (st != LMC_OK) {
        cli_fail(st, "cannot create the context");
        goto fail;
    }
    s->load_s = now_s() - t0;
    s->n_ctx = lmc_context_n_ctx(s->ctx);
    if (o->n_ctx == 0 && s->n_ctx != lmc_model_n_ctx_train(s->model))
        fprintf(stderr,
                "lmc: using a context of %d tokens (the model was trained for %d; -c sets it)\n",
                s->n_ctx, lmc_model_n_ctx_train(s->model));
    lmc_sampler_params sp = o->sp;
    if (!o->seed_given) sp.seed = random_seed();
    if (sp.repeat_last_n < 0) sp.repeat_last_n = s->n_ctx; /* -1 = the whole context */
    s->seed = sp.seed;
    s->sp = sp;
    /* bad values fail here, before anything is printed, rather than at the first generation */
    lmc_sampler *probe = lmc_sampler_init(&sp, lmc_model_n_vocab(s->model));
    if (!probe) {
        cli_fail(LMC_ERR_INVALID_ARG, "sampler");
        goto fail;
    }
    lmc_sampler_free(probe);
    st = lmc_gen_init(s->ctx, 0, &s->gen);
    if (st != LMC_OK) {
        cli_fail(st, "generation");
        goto fail;
    }
    return true;
fail:
    gen_session_close(s);
    return false;
}

void gen_session_close(gen_session *s) {
    lmc_gen_free(s->gen);
    lmc_grammar_free(s->grammar);
    lmc_context_free(s->ctx);
    lmc_model_free(s->model);
    memset(s, 0, sizeof *s);
}

int32_t gen_drop_double_bos(const lmc_model *model, int32_t *t, int32_t n) {
    const int32_t bos = lmc_token_bos(model);
    if (n >= 2 && bos >= 0 && t[0] == bos && t[1] == bos) {
        memmove(t, t + 1, (size_t)(n - 1) * sizeof *t);
        n--;
    }
    return n;
}

int32_t *gen_tokenize(const lmc_model *model, const char *text, bool parse_special,
                      int32_t *n_out) {
    size_t len = strlen(text);
    if (len > (size_t)INT32_MAX) {
        fprintf(stderr, "lmc: error: text too long to tokenize\n");
        return NULL;
    }
    int32_t n = 0;
    int32_t *t = lmc_tokenize_alloc(model, text, (int32_t)len, true, parse_special, &n);
    if (!t) {
        cli_fail(LMC_ERR_FORMAT, "cannot tokenize the prompt");
        return NULL;
    }
    /* templates that write the BOS text themselves (Llama-3, ...) must not get a second one */
    *n_out = gen_drop_double_bos(model, t, n);
    return t;
}

int32_t *gen_chat_tokens(const lmc_model *model, const char *tmpl, const lmc_chat_msg *m, size_t n,
                         int32_t *n_out) {
    char *text = NULL;
    lmc_status st = lmc_chat_render(model, tmpl, m, n, true, &text);
    if (st != LMC_OK) {
        cli_fail(st, "cannot render the chat template");
        return NULL;
    }
    int32_t *t = gen_tokenize(model, text, true, n_out);
    free(text);
    return t;
}

void gen_text_append(const char *text, size_t len, void *user) {
    gen_text *b = user;
    if (b->len + len + 1 > b->cap) {
        size_t cap = (b->len + len + 1) * 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) return;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, text, len);
    b->len += len;
    b->buf[b->len] = 0;
}

/* ---- the loop: the library's step until the generation ends ---------------------------------- */
lmc_status gen_generate(gen_session *s, const int32_t *prompt, int32_t n_prompt, int n_predict,
                        const char *const *stops, int n_stops, bool accept_prompt, gen_emit_fn emit,
                        void *user, volatile sig_atomic_t *cancel, gen_result *res) {
    memset(&res->st, 0, sizeof res->st);
    res->st.n_prompt = n_prompt;
    res->stop = LMC_GEN_END_EOG;
    lmc_gen_params gp = lmc_gen_default_params();
    gp.sampling = s->sp;
    gp.n_predict = n_predict;
    gp.stop = stops;
    gp.n_stop = n_stops;
    gp.accept_prompt = accept_prompt;
    gp.keep_sampler = true; /* one sampler for the session: a chat's turns continue its RNG */
    gp.grammar = s->grammar;
    lmc_status st = lmc_gen_start(s->gen, prompt, n_prompt, &gp);
    if (st != LMC_OK) {
        fprintf(stderr, "lmc: error: %s%s\n", lmc_last_error(),
                st == LMC_ERR_CONTEXT_FULL ? " (-c to change)" : "");
        return st;
    }
    lmc_gen_event ev;
    do {
        st = cancel && *cancel ? lmc_gen_abort(s->gen, LMC_ERR_CANCELLED, &ev)
                               : lmc_gen_step(s->gen, &ev);
        if (ev.len) emit(ev.text, ev.len, user);
        if (ev.token >= 0 && res->ids && ev.stats.n_gen <= res->ids_cap)
            res->ids[ev.stats.n_gen - 1] = ev.token;
    } while (st == LMC_OK && ev.end == LMC_GEN_END_NONE);
    res->st = ev.stats;
    res->stop = ev.end;
    if (st != LMC_OK) cli_fail(st, ev.stats.n_gen ? "decoding" : "decoding the prompt");
    return st;
}

void gen_print_stats(const gen_session *s, const gen_result *r) {
    const lmc_gen_stats *t = &r->st;
    fprintf(stderr, "\n");
    fprintf(stderr, "load:        %8.2f s\n", s->load_s);
    fprintf(stderr, "prompt:      %8d tokens (%d reused), %.2f s, %.1f tok/s\n", t->n_prompt,
            t->n_reused, t->t_prompt, t->t_prompt > 0 ? t->n_processed / t->t_prompt : 0.0);
    fprintf(stderr, "first token: %8.2f s\n", t->t_first);
    fprintf(stderr, "generated:   %8d tokens, %.2f s, %.1f tok/s\n", t->n_gen, t->t_gen,
            t->t_gen > 0 && t->n_gen > 1 ? (t->n_gen - 1) / t->t_gen : 0.0);
}
