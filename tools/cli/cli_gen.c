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

int gen_parse_flag(gen_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    int iv;
    float fv;
#define IS(x) (!strcmp(a, x))
    int sf = cli_split_flag(&o->split, argv[0], argc, argv, i); /* -sm/-ts/-mg/-tp */
    if (sf != 0) return sf;
    if (IS("-m") || IS("--model")) return cli_arg_str(argc, argv, i, &o->model_path) ? 1 : -1;
    if (IS("--temp")) return cli_arg_float(argc, argv, i, &o->sp.temp) ? 1 : -1;
    if (IS("--top-k")) return cli_arg_int(argc, argv, i, &iv) ? (o->sp.top_k = iv, 1) : -1;
    if (IS("--top-p")) return cli_arg_float(argc, argv, i, &o->sp.top_p) ? 1 : -1;
    if (IS("--min-p")) return cli_arg_float(argc, argv, i, &o->sp.min_p) ? 1 : -1;
    if (IS("--repeat-penalty")) {
        if (!cli_arg_float(argc, argv, i, &fv)) return -1;
        if (!(fv > 0.0f)) {
            cli_usage_error(argv[0], "--repeat-penalty must be > 0 (1 = off)");
            return -1;
        }
        o->sp.repeat_penalty = fv;
        return 1;
    }
    if (IS("--repeat-last-n")) {
        if (!cli_arg_int(argc, argv, i, &iv)) return -1;
        if (iv < -1) {
            cli_usage_error(argv[0],
                            "--repeat-last-n must be >= -1 (-1 = the whole context, 0 = off)");
            return -1;
        }
        o->sp.repeat_last_n = iv;
        return 1;
    }
    if (IS("--frequency-penalty"))
        return cli_arg_float(argc, argv, i, &o->sp.frequency_penalty) ? 1 : -1;
    if (IS("--presence-penalty"))
        return cli_arg_float(argc, argv, i, &o->sp.presence_penalty) ? 1 : -1;
    if (IS("-s") || IS("--seed")) {
        if (!cli_arg_str(argc, argv, i, &v)) return -1;
        char *end;
        unsigned long long s = strtoull(v, &end, 10);
        if (*end || end == v || *v == '-') {
            cli_usage_error(argv[0], "--seed: '%s' is not a non-negative integer", v);
            return -1;
        }
        o->sp.seed = (uint64_t)s;
        o->seed_given = s != LMC_DEFAULT_SEED; /* llama.cpp: 0xFFFFFFFF means random */
        return 1;
    }
    if (IS("-n") || IS("--n-predict")) {
        if (!cli_arg_int(argc, argv, i, &iv)) return -1;
        if (iv < -1) {
            cli_usage_error(argv[0], "-n must be >= -1 (-1 = until the end of generation)");
            return -1;
        }
        o->n_predict = iv;
        return 1;
    }
    if (IS("-c") || IS("--ctx-size")) {
        if (!cli_arg_int(argc, argv, i, &iv)) return -1;
        if (iv < 0) {
            cli_usage_error(argv[0], "-c must be >= 0 (0 = the model's context length)");
            return -1;
        }
        o->n_ctx = iv;
        return 1;
    }
    if (IS("-t") || IS("--threads")) {
        if (!cli_arg_int(argc, argv, i, &iv)) return -1;
        if (iv < 0) {
            cli_usage_error(argv[0], "-t must be >= 0 (0 = all cores)");
            return -1;
        }
        o->n_threads = iv;
        return 1;
    }
    if (IS("-b") || IS("--batch-size")) {
        if (!cli_arg_int(argc, argv, i, &iv)) return -1;
        if (iv < 1) {
            cli_usage_error(argv[0], "-b must be >= 1");
            return -1;
        }
        o->n_batch = iv;
        return 1;
    }
    if (IS("-ngl") || IS("--n-gpu-layers") || IS("--gpu-layers")) {
        if (!cli_arg_int(argc, argv, i, &iv)) return -1;
        o->n_gpu_layers = iv < 0 ? -1 : iv;
        return 1;
    }
    if (IS("--device")) {
        if (!cli_arg_str(argc, argv, i, &v)) return -1;
        if (!strcmp(v, "cpu"))
            o->device = LMC_DEVICE_CPU;
        else if (!strcmp(v, "cuda"))
            o->device = LMC_DEVICE_CUDA;
        else if (!strcmp(v, "auto"))
            o->device = LMC_DEVICE_AUTO;
        else {
            cli_usage_error(argv[0], "--device must be cpu, cuda or auto (got '%s')", v);
            return -1;
        }
        return 1;
    }
    if (IS("--stop") || IS("-r") || IS("--reverse-prompt")) {
        if (!cli_arg_str(argc, argv, i, &v)) return -1;
        if (!*v) {
            cli_usage_error(argv[0], "--stop: empty stop string");
            return -1;
        }
        if (o->n_stops == GEN_MAX_STOPS) {
            cli_usage_error(argv[0], "at most %d --stop strings", GEN_MAX_STOPS);
            return -1;
        }
        o->stops[o->n_stops++] = v;
        return 1;
    }
    if (IS("--chat-template")) return cli_arg_str(argc, argv, i, &o->chat_template) ? 1 : -1;
    if (IS("--system") || IS("-sys") || IS("--system-prompt"))
        return cli_arg_str(argc, argv, i, &o->system) ? 1 : -1;
    if (IS("--grammar")) return cli_arg_str(argc, argv, i, &o->grammar) ? 1 : -1;
    if (IS("--grammar-file")) return cli_arg_str(argc, argv, i, &o->grammar_file) ? 1 : -1;
    if (IS("-j") || IS("--json-schema"))
        return cli_arg_str(argc, argv, i, &o->json_schema) ? 1 : -1;
    if (IS("--json-schema-file")) return cli_arg_str(argc, argv, i, &o->json_schema_file) ? 1 : -1;
#undef IS
    return 0;
}

void gen_print_flags_help(FILE *to, bool chat) {
    fprintf(
        to,
        "model and context:\n"
        "  -m, --model FILE        GGUF model (default: SmolLM2-135M-Instruct from the cache)\n"
        "  -c, --ctx-size N        context length in tokens (default 0: the model's, bounded by\n"
        "                          memory)\n"
        "  -t, --threads N         CPU threads (default 0: all cores)\n"
        "  -b, --batch-size N      prompt tokens per forward pass (default %d)\n"
        "  -ngl, --n-gpu-layers N  layers on the GPU (default -1: all): the last N layers and the\n"
        "                          output run on the GPU, the first ones on the CPU; 0: CPU only\n"
        "  --device cpu|cuda|auto  where to run (default auto: the GPU when there is one)\n"
        "generation:\n"
        "  -n, --n-predict N       tokens to generate%s (default -1: until the model ends\n"
        "                          its text or the context is full)\n"
        "  --stop STR              stop when STR appears (not printed); repeatable\n"
        "%s"
        "sampling (llama.cpp's chain: penalties, top-k, top-p, min-p, temperature):\n"
        "  --temp T                temperature (default 0.8; 0 = greedy)\n"
        "  --top-k N               keep the N most likely tokens (default 40; 0 = off)\n"
        "  --top-p P               keep the smallest set with probability >= P (default 0.95;\n"
        "                          1 = off)\n"
        "  --min-p P               drop tokens below P x the top probability (default 0.05;\n"
        "                          0 = off)\n"
        "  --repeat-penalty F      penalise repeated tokens (default 1.0 = off)\n"
        "  --repeat-last-n N       window of the penalties (default 64; 0 = off; -1 = context)\n"
        "  --frequency-penalty F   subtract F x count (default 0)\n"
        "  --presence-penalty F    subtract F once per repeated token (default 0)\n"
        "  -s, --seed N            random seed (default: random; same seed, same text)\n"
        "constrained output (one of them; the model samples only what it allows):\n"
        "  --grammar GBNF          a grammar in llama.cpp's GBNF (start rule: root)\n"
        "  --grammar-file FILE     the same, from a file (e.g. llama.cpp's grammars/*.gbnf)\n"
        "  -j, --json-schema JSON  a JSON schema: the output is JSON that it validates\n"
        "                          ('{}': any JSON value)\n"
        "  --json-schema-file FILE the same, from a file\n",
        lmc_context_default_params().n_batch > 0 ? lmc_context_default_params().n_batch : 512,
        chat ? " per reply" : "",
        chat ? "  --system TEXT           system prompt\n"
               "  --chat-template NAME|FILE  chat template: a built-in (chatml, gemma, llama2,\n"
               "                          llama3, mistral, zephyr) or a Jinja file (default: the\n"
               "                          model's)\n"
             : "");
    fprintf(to, "several GPUs (docs/MULTI_GPU.md):\n");
    cli_split_help(to);
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

int32_t *gen_tokenize(const lmc_model *model, const char *text, bool parse_special,
                      int32_t *n_out) {
    size_t len = strlen(text);
    if (len > (size_t)INT32_MAX - 16) {
        fprintf(stderr, "lmc: error: text too long to tokenize\n");
        return NULL;
    }
    int32_t cap = (int32_t)len + 8;
    int32_t *t = malloc((size_t)cap * sizeof *t);
    if (!t) goto oom;
    int32_t n = lmc_tokenize(model, text, (int32_t)len, t, cap, true, parse_special);
    if (n < 0 && n != INT32_MIN) { /* buffer too small: -needed */
        cap = -n;
        int32_t *nt = realloc(t, (size_t)cap * sizeof *t);
        if (!nt) goto oom;
        t = nt;
        n = lmc_tokenize(model, text, (int32_t)len, t, cap, true, parse_special);
    }
    if (n < 0) {
        cli_fail(LMC_ERR_FORMAT, "cannot tokenize the prompt");
        free(t);
        return NULL;
    }
    /* templates that write the BOS text themselves (Llama-3, ...) must not get a second one */
    int32_t bos = lmc_token_bos(model);
    if (n >= 2 && bos >= 0 && t[0] == bos && t[1] == bos) {
        memmove(t, t + 1, (size_t)(n - 1) * sizeof *t);
        n--;
    }
    *n_out = n;
    return t;
oom:
    free(t);
    fprintf(stderr, "lmc: error: out of memory tokenizing the prompt\n");
    return NULL;
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
