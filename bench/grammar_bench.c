/* grammar_bench.c — the cost of constrained decoding on a real model: the same chat prompt decoded
 * unconstrained and under a JSON schema (interleaved, REPS rounds), the generation loop of
 * src/generate.c spelled out (sample, check the choice against the grammar, mask the vocabulary and
 * sample again only when it is refused) so the grammar's own time and how often the full mask runs
 * can be counted. Also times one full mask (all tokens walked) in several grammar states.
 * Build after `make`:
 *   cc -O2 -Isrc -Iinclude bench/grammar_bench.c build/liblmccore.a -lm -lpthread -lcjson \
 *      -lpcre2-8 -fopenmp [-lcudart ... when built with CUDA] -o grammar_bench
 * Run: ./grammar_bench MODEL.gguf [threads] [temp] [n_tokens] [reps] */
#include "grammar.h"
#include "lmc.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},\"age\":{"
    "\"type\":"
    "\"integer\",\"minimum\":0,\"maximum\":120},\"bio\":{\"type\":\"string\"},\"hobbies\":{"
    "\"type\":\"array\",\"items\":{\"type\":\"string\"}}},\"required\":[\"name\",\"age\",\"bio\","
    "\"hobbies\"]}";

typedef struct {
    int n_gen, n_mask;
    double t_total, t_grammar;
} run_stats;

static run_stats run(lmc_context *ctx, const lmc_model *model, const int32_t *prompt, int n_prompt,
                     const lmc_sampler_params *sp, int n_tokens, const lmc_grammar *g,
                     grammar_vocab *v) {
    run_stats rs = {0};
    int32_t n_vocab = lmc_model_n_vocab(model);
    float *row = malloc((size_t)n_vocab * sizeof *row);
    lmc_sampler *smp = lmc_sampler_init(sp, n_vocab);
    grammar_matcher *m = g ? grammar_matcher_init(g, v) : NULL;
    lmc_seq_truncate(ctx, 0, 0);
    const float *logits;
    lmc_decode(ctx, prompt, n_prompt, 0, &logits);
    double t0 = lmc_time_s();
    for (int i = 0; i < n_tokens; i++) {
        int32_t tok = lmc_sampler_sample(smp, logits);
        double tg = lmc_time_s(); /* the grammar's share: check, mask + sample again, accept */
        if (m && !grammar_allows(m, tok)) {
            rs.n_mask++;
            if (!grammar_mask(m, logits, row)) break;
            tok = lmc_sampler_sample(smp, row);
        }
        if (m) grammar_accept(m, tok);
        rs.t_grammar += lmc_time_s() - tg;
        lmc_sampler_accept(smp, tok);
        rs.n_gen++;
        if (lmc_token_is_eog(model, tok)) break;
        if (lmc_decode(ctx, &tok, 1, n_prompt + i, &logits) != LMC_OK) break;
    }
    rs.t_total = lmc_time_s() - t0;
    grammar_matcher_free(m);
    lmc_sampler_free(smp);
    free(row);
    return rs;
}

/* One full mask in the states after each prefix of text. */
static void time_masks(const lmc_grammar *g, grammar_vocab *v, int32_t n_vocab) {
    const char *prefixes[] = {"", "{\"name\": \"", "{\"name\": \"Ann\", \"age\": ",
                              "{\"name\": \"Ann\", \"age\": 31, \"bio\": \"Likes"};
    float *l = calloc((size_t)n_vocab, sizeof *l), *row = malloc((size_t)n_vocab * sizeof *row);
    for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
        grammar_matcher *m = grammar_matcher_init(g, v);
        grammar_accept_bytes(m, prefixes[p], strlen(prefixes[p]));
        int reps = 20, k = 0;
        double t = lmc_time_s();
        for (int r = 0; r < reps; r++)
            k = grammar_mask(m, l, row);
        t = (lmc_time_s() - t) / reps;
        printf("full mask after '%s': %d of %d tokens allowed, %.2f ms\n", prefixes[p], k, n_vocab,
               t * 1e3);
        grammar_matcher_free(m);
    }
    free(l);
    free(row);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: grammar_bench MODEL.gguf [threads] [temp] [n_tokens] [reps]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2, n_tokens = argc > 4 ? atoi(argv[4]) : 128;
    int reps = argc > 5 ? atoi(argv[5]) : 3;
    lmc_model *model = NULL;
    lmc_model_params mp = lmc_model_default_params();
    lmc_context *ctx = NULL;
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = 1024;
    cp.n_threads = threads;
    cp.device = LMC_DEVICE_CPU;
    lmc_grammar *g = NULL;
    if (lmc_model_load(argv[1], &mp, &model) || lmc_context_init(model, &cp, &ctx) ||
        lmc_grammar_init_json_schema(SCHEMA, strlen(SCHEMA), &g)) {
        fprintf(stderr, "%s\n", lmc_last_error());
        return 1;
    }
    lmc_sampler_params sp = lmc_sampler_default_params();
    sp.temp = argc > 3 ? (float)atof(argv[3]) : 0.0f;
    sp.seed = 42;
    lmc_chat_msg msg = {"user", "Describe a person as JSON with name, age, bio and hobbies."};
    char *text = NULL;
    lmc_chat_render(model, NULL, &msg, 1, true, &text);
    int32_t prompt[512];
    int n_prompt = lmc_tokenize(model, text, -1, prompt, 512, true, true);
    free(text);
    double vt = lmc_time_s();
    grammar_vocab *v = grammar_vocab_init(model);
    printf("vocabulary table: %d tokens, built in %.1f ms\n", lmc_model_n_vocab(model),
           (lmc_time_s() - vt) * 1e3);
    for (int r = 0; r < reps; r++) {
        run_stats a, b; /* alternate which goes first: the VM's speed drifts */
        if (r % 2 == 0) {
            a = run(ctx, model, prompt, n_prompt, &sp, n_tokens, NULL, v);
            b = run(ctx, model, prompt, n_prompt, &sp, n_tokens, g, v);
        } else {
            b = run(ctx, model, prompt, n_prompt, &sp, n_tokens, g, v);
            a = run(ctx, model, prompt, n_prompt, &sp, n_tokens, NULL, v);
        }
        printf("round %d: unconstrained %d tokens %.1f tok/s | json schema %d tokens %.1f tok/s, "
               "grammar %.3f ms/token (%.1f%% of the time), full mask at %d of %d tokens\n",
               r, a.n_gen, a.n_gen / a.t_total, b.n_gen, b.n_gen / b.t_total,
               b.t_grammar / b.n_gen * 1e3, 100 * b.t_grammar / b.t_total, b.n_mask, b.n_gen);
    }
    time_masks(g, v, lmc_model_n_vocab(model));
    grammar_vocab_free(v);
    lmc_grammar_free(g);
    lmc_context_free(ctx);
    lmc_model_free(model);
    return 0;
}
