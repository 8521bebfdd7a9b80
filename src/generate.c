/* generate.c — the one generation core behind `lmc run`, `lmc chat` and `lmc serve` (the generation
 * section of lmc.h): prompt-prefix reuse, the step (pending → decode → commit), the sampler chain,
 * streaming text with stop strings held back, limits and timing. It does not schedule several
 * sequences (the server builds their batches) and never prints. */
#include "context.h"
#include "grammar.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lmc_gen {
    lmc_context *ctx;
    const lmc_model *model;
    int32_t seq, n_ctx, n_vocab, n_batch;
    lmc_gen_state state;

    /* The sequence's tokens: [0, n_cache) are held in its KV cache; [n_cache, n_end) are pending
     * (the rest of the prompt, or the one sampled token). */
    int32_t *tok; /* (n_ctx) */
    int32_t n_cache, n_end;
    int32_t n_offered; /* handed out by the last lmc_gen_pending */

    int32_t n_predict;
    bool accept_prompt;
    char **stop;      /* (n_stop) own copies, non-empty; one allocation with the strings */
    size_t *stop_len; /* (n_stop) */
    int32_t n_stop;
    lmc_sampler *smp;
    lmc_detok *detok;
    grammar_vocab *gv;   /* the vocabulary as grammars see it (built at the first grammar) */
    grammar_matcher *gm; /* the grammar of the current generation, NULL when none */
    float *row;          /* (n_vocab) logits the grammar masked */

    lmc_logit_bias *bias; /* (n_bias) own copy */
    int32_t n_bias;
    float *brow;     /* (n_vocab) the biased logits, allocated with the first bias */
    int32_t n_probs; /* alternatives each sampled token reports; 0: no log-probabilities */
    float logprob;   /* of the last sampled token */
    lmc_token_prob probs[LMC_GEN_MAX_PROBS];

    /* Text not handed out before this call: [0, n_emit) goes out with the current event,
     * [n_emit, n_text) is held back (it could be the start of a stop string). */
    char *text;
    size_t n_text, n_emit, cap_text;

    lmc_gen_stats st;
    double t_start, t_first; /* lmc_time_s() at the start and at the first sampled token */

    /* lmc_gen_step's batch, (n_batch) each */
    int32_t *b_tok, *b_pos, *b_seq;
    int8_t *b_want;
};

lmc_gen_params lmc_gen_default_params(void) {
    lmc_gen_params p;
    memset(&p, 0, sizeof p);
    p.sampling = lmc_sampler_default_params();
    p.n_predict = -1;
    p.accept_prompt = true;
    return p;
}

lmc_status lmc_gen_init(lmc_context *ctx, int32_t seq_id, lmc_gen **out) {
    if (!out) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gen_init: no output pointer");
    *out = NULL;
    if (!ctx) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gen_init: no context");
    if (seq_id < 0 || seq_id >= ctx->params.n_seq)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gen_init: sequence %d is not in [0, %d)", seq_id,
                       ctx->params.n_seq);
    lmc_gen *g = calloc(1, sizeof *g);
    if (!g) return lmc_err(LMC_ERR_OOM, "lmc_gen_init: out of memory");
    g->ctx = ctx;
    g->model = ctx->model;
    g->seq = seq_id;
    g->n_ctx = lmc_context_n_ctx(ctx);
    g->n_vocab = lmc_model_n_vocab(ctx->model);
    g->n_batch = ctx->params.n_batch;
    g->tok = malloc((size_t)g->n_ctx * sizeof *g->tok);
    g->b_tok = malloc((size_t)g->n_batch * sizeof *g->b_tok);
    g->b_pos = malloc((size_t)g->n_batch * sizeof *g->b_pos);
    g->b_seq = malloc((size_t)g->n_batch * sizeof *g->b_seq);
    g->b_want = malloc((size_t)g->n_batch);
    g->cap_text = 256;
    g->text = malloc(g->cap_text);
    g->detok = lmc_detok_init(ctx->model, false);
    if (!g->tok || !g->b_tok || !g->b_pos || !g->b_seq || !g->b_want || !g->text || !g->detok) {
        lmc_gen_free(g);
        return lmc_err(LMC_ERR_OOM, "lmc_gen_init: out of memory for a context of %d", g->n_ctx);
    }
    *out = g;
    return LMC_OK;
}

void lmc_gen_free(lmc_gen *g) {
    if (!g) return;
    free(g->tok);
    free(g->b_tok);
    free(g->b_pos);
    free(g->b_seq);
    free(g->b_want);
    free(g->text);
    free(g->stop);
    free(g->bias);
    free(g->brow);
    lmc_detok_free(g->detok);
    lmc_sampler_free(g->smp);
    grammar_matcher_free(g->gm);
    grammar_vocab_free(g->gv);
    free(g->row);
    free(g);
}

int32_t lmc_gen_prefix(const lmc_gen *g, const int32_t *prompt, int32_t n) {
    if (!g || !prompt) return 0;
    int32_t m = n < g->n_cache ? n : g->n_cache, i = 0;
    while (i < m && g->tok[i] == prompt[i])
        i++;
    return i;
}

void lmc_gen_forget(lmc_gen *g) {
    if (!g) return;
    g->state = LMC_GEN_IDLE;
    g->n_cache = g->n_end = g->n_offered = 0;
    lmc_seq_truncate(g->ctx, g->seq, 0);
}

int32_t lmc_gen_n_cached(const lmc_gen *g) {
    return g ? g->n_cache : 0;
}

lmc_gen_state lmc_gen_get_state(const lmc_gen *g) {
    return g ? g->state : LMC_GEN_IDLE;
}

void lmc_gen_get_stats(const lmc_gen *g, lmc_gen_stats *out) {
    if (g)
        *out = g->st;
    else
        memset(out, 0, sizeof *out);
}

/* Copies the non-empty stop strings (one allocation: pointers, lengths, bytes). */
static lmc_status set_stops(lmc_gen *g, const char *const *stop, int32_t n) {
    size_t bytes = 0;
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++)
        if (stop[i] && *stop[i]) bytes += strlen(stop[i]) + 1, k++;
    char **p = NULL;
    if (k) {
        p = malloc((size_t)k * (sizeof(char *) + sizeof(size_t)) + bytes);
        if (!p) return lmc_err(LMC_ERR_OOM, "lmc_gen_start: out of memory for the stop strings");
        size_t *len = (size_t *)(p + k);
        char *s = (char *)(len + k);
        k = 0;
        for (int32_t i = 0; i < n; i++) {
            if (!stop[i] || !*stop[i]) continue;
            len[k] = strlen(stop[i]);
            memcpy(s, stop[i], len[k] + 1);
            p[k++] = s;
            s += len[k - 1] + 1;
        }
    }
    free(g->stop);
    g->stop = p;
    g->stop_len = p ? (size_t *)(p + k) : NULL;
    g->n_stop = k;
    return LMC_OK;
}

/* Checks and copies the logit biases and the number of log-probability alternatives. */
static lmc_status set_bias_probs(lmc_gen *g, const lmc_gen_params *par) {
    if (par->n_probs < 0 || par->n_probs > LMC_GEN_MAX_PROBS)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gen_start: n_probs %d is not in [0, %d]",
                       par->n_probs, LMC_GEN_MAX_PROBS);
    if (par->n_logit_bias < 0 || (par->n_logit_bias > 0 && !par->logit_bias))
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gen_start: %d logit biases but no array",
                       par->n_logit_bias);
    for (int32_t i = 0; i < par->n_logit_bias; i++) {
        const lmc_logit_bias *b = &par->logit_bias[i];
        if (b->token < 0 || b->token >= g->n_vocab)
            return lmc_err(LMC_ERR_INVALID_ARG, "logit_bias: token %d is not in [0, %d)", b->token,
                           g->n_vocab);
        if (isnan(b->bias))
            return lmc_err(LMC_ERR_INVALID_ARG, "logit_bias: the bias of token %d is NaN",
                           b->token);
    }
    lmc_logit_bias *copy = NULL;
    if (par->n_logit_bias > 0) {
        copy = malloc((size_t)par->n_logit_bias * sizeof *copy);
        if (!g->brow) g->brow = malloc((size_t)g->n_vocab * sizeof *g->brow);
        if (!copy || !g->brow) {
            free(copy);
            return lmc_err(LMC_ERR_OOM, "lmc_gen_start: out of memory for the logit biases");
        }
        memcpy(copy, par->logit_bias, (size_t)par->n_logit_bias * sizeof *copy);
    }
    free(g->bias);
    g->bias = copy;
    g->n_bias = par->n_logit_bias;
    g->n_probs = par->n_probs;
    return LMC_OK;
}

/* A fresh match state for grammar (NULL: none); the vocabulary table is built once. */
static lmc_status set_grammar(lmc_gen *g, const lmc_grammar *grammar) {
    grammar_matcher_free(g->gm);
    g->gm = NULL;
    if (!grammar) return LMC_OK;
    if (!g->gv && !(g->gv = grammar_vocab_init(g->model))) return LMC_ERR_OOM;
    if (!g->row && !(g->row = malloc((size_t)g->n_vocab * sizeof *g->row)))
        return lmc_err(LMC_ERR_OOM, "lmc_gen_start: out of memory for the grammar");
    g->gm = grammar_matcher_init(grammar, g->gv);
    return g->gm ? LMC_OK : LMC_ERR_OOM;
}

lmc_status lmc_gen_start(lmc_gen *g, const int32_t *prompt, int32_t n,
                         const lmc_gen_params *params) {
    if (!g) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gen_start: no lmc_gen");
    lmc_gen_params par = params ? *params : lmc_gen_default_params();
    if (n <= 0 || !prompt) return lmc_err(LMC_ERR_INVALID_ARG, "the prompt is empty (no tokens)");
    if (n > g->n_ctx)
        return lmc_err(LMC_ERR_CONTEXT_FULL, "the prompt is %d tokens but the context holds %d", n,
                       g->n_ctx);
    if (par.n_stop < 0 || (par.n_stop > 0 && !par.stop))
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gen_start: %d stop strings but no array",
                       par.n_stop);
    const bool fresh = !par.keep_sampler || !g->smp;
    if (fresh) {
        lmc_sampler *smp = lmc_sampler_init(&par.sampling, g->n_vocab);
        if (!smp) return LMC_ERR_INVALID_ARG; /* the sampler left its message */
        lmc_sampler_free(g->smp);
        g->smp = smp;
    }
    lmc_status st = set_stops(g, par.stop, par.n_stop);
    if (st == LMC_OK) st = set_bias_probs(g, &par);
    if (st != LMC_OK) return st;
    st = set_grammar(g, par.grammar);
    if (st != LMC_OK) return st;
    g->n_predict = par.n_predict;
    g->accept_prompt = par.accept_prompt;

    /* keep the longest common prefix; at least the last prompt token is decoded for its logits */
    int32_t p = lmc_gen_prefix(g, prompt, n);
    if (p == n) p--;
    lmc_seq_truncate(g->ctx, g->seq, p);
    memcpy(g->tok + p, prompt + p, (size_t)(n - p) * sizeof *prompt);
    g->n_cache = p;
    g->n_end = n;
    g->n_offered = 0;
    if (fresh && par.accept_prompt) /* a fresh sampler sees the reused prefix too */
        for (int32_t i = 0; i < p; i++)
            lmc_sampler_accept(g->smp, prompt[i]);

    size_t len;
    lmc_detok_flush(g->detok, &len); /* start clean */
    g->n_text = g->n_emit = 0;
    memset(&g->st, 0, sizeof g->st);
    g->st.n_prompt = n;
    g->st.n_reused = p;
    g->t_start = lmc_time_s();
    g->state = LMC_GEN_PROMPT;
    return LMC_OK;
}

/* ---- text: complete UTF-8 only, stop strings cut, their possible starts held back ------------ */

/* Drops what the previous event handed out. */
static void text_begin(lmc_gen *g) {
    if (!g->n_emit) return;
    memmove(g->text, g->text + g->n_emit, g->n_text - g->n_emit);
    g->n_text -= g->n_emit;
    g->n_emit = 0;
}

static bool text_add(lmc_gen *g, const char *s, size_t n) {
    if (g->n_text + n > g->cap_text) {
        size_t cap = g->cap_text * 2;
        while (cap < g->n_text + n)
            cap *= 2;
        char *t = realloc(g->text, cap);
        if (!t) return false;
        g->text = t;
        g->cap_text = cap;
    }
    memcpy(g->text + g->n_text, s, n);
    g->n_text += n;
    return true;
}

/* Looks for the stop strings in the text not yet handed out. Found: the text ends before the
 * earliest one and true is returned. Otherwise all of it goes out but (unless at_end) the longest
 * tail that is a proper prefix of some stop string. No match can begin in text handed out earlier:
 * it would have been a longer such tail. */
static bool text_scan(lmc_gen *g, bool at_end) {
    size_t first = g->n_text;
    for (int32_t k = 0; k < g->n_stop; k++) {
        const char *hit = g->stop_len[k] <= g->n_text
                              ? memmem(g->text, g->n_text, g->stop[k], g->stop_len[k])
                              : NULL;
        if (hit && (size_t)(hit - g->text) < first) first = (size_t)(hit - g->text);
    }
    if (first < g->n_text) {
        g->n_text = g->n_emit = first;
        return true;
    }
    size_t hold = 0;
    for (int32_t k = 0; k < g->n_stop && !at_end; k++) {
        size_t m = g->stop_len[k] - 1 < g->n_text ? g->stop_len[k] - 1 : g->n_text;
        for (; m > hold; m--)
            if (!memcmp(g->text + g->n_text - m, g->stop[k], m)) break;
        if (m > hold) hold = m;
    }
    g->n_emit = g->n_text - hold;
    return false;
}

/* ---- the end of a generation ----------------------------------------------------------------- */
static void gen_finish(lmc_gen *g, lmc_gen_end end, lmc_gen_event *ev) {
    size_t n = 0;
    const char *tail = lmc_detok_flush(g->detok, &n); /* bytes of an unfinished UTF-8 sequence */
    if (end == LMC_GEN_END_ERROR) {
        g->n_text = g->n_emit = 0; /* nothing more goes out after a failure */
    } else if (end != LMC_GEN_END_STOP) {
        if (n && tail)
            text_add(g, tail, n); /* out of memory: the tail is lost, the rest goes out */
        if (text_scan(g, true) && end != LMC_GEN_END_CANCELLED) end = LMC_GEN_END_STOP;
    }
    grammar_matcher_free(g->gm); /* the grammar is the caller's only while the generation runs */
    g->gm = NULL;
    double now = lmc_time_s();
    if (g->state == LMC_GEN_PROMPT) g->st.t_prompt = now - g->t_start;
    g->st.t_gen = g->st.n_gen ? now - g->t_first : 0;
    g->state = LMC_GEN_IDLE;
    g->n_offered = 0;
    ev->end = end;
}

/* ---- events ---------------------------------------------------------------------------------- */
static void ev_begin(lmc_gen *g, lmc_gen_event *ev) {
    memset(ev, 0, sizeof *ev);
    ev->token = -1;
    if (g) {
        text_begin(g);
        ev->stats = g->st;
    }
}

static void ev_end(const lmc_gen *g, lmc_gen_event *ev) {
    ev->text = g->n_emit ? g->text : NULL;
    ev->len = g->n_emit;
    ev->stats = g->st;
}

/* ---- the sampler chain ----------------------------------------------------------------------- */
/* logit_bias: a copy of the row with the biases added (<= -100: the token is removed). */
static const float *gen_bias(lmc_gen *g, const float *logits) {
    memcpy(g->brow, logits, (size_t)g->n_vocab * sizeof *g->brow);
    for (int32_t i = 0; i < g->n_bias; i++) {
        const lmc_logit_bias *b = &g->bias[i];
        g->brow[b->token] = b->bias <= -100.0f ? -INFINITY : g->brow[b->token] + b->bias;
    }
    return g->brow;
}

/* Log-probabilities of the row the sampler saw (log-softmax; NaN counts as -inf): the chosen
 * token's, and the n_probs largest, in order (ties: the lower id first, as greedy picks). */
static void gen_logprobs(lmc_gen *g, const float *l, int32_t tok) {
    const int32_t n = g->n_probs;
    float max = -INFINITY;
    for (int32_t i = 0; i < g->n_vocab; i++)
        if (l[i] > max) max = l[i];
    double sum = 0.0;
    for (int32_t i = 0; i < g->n_vocab && max > -INFINITY; i++)
        if (l[i] > -INFINITY) sum += exp((double)l[i] - max);
    const double lse = max > -INFINITY ? max + log(sum) : 0.0;
    int32_t k = 0; /* insertion into the sorted top n (most rows lose at the first comparison) */
    for (int32_t i = 0; i < g->n_vocab; i++) {
        const float v = isnan(l[i]) ? -INFINITY : l[i];
        if (k == n && !(v > g->probs[n - 1].logprob)) continue;
        int32_t j = k < n ? k++ : n - 1;
        for (; j > 0 && g->probs[j - 1].logprob < v; j--)
            g->probs[j] = g->probs[j - 1];
        g->probs[j] = (lmc_token_prob){i, v};
    }
    for (int32_t j = 0; j < k; j++)
        g->probs[j].logprob = (float)((double)g->probs[j].logprob - lse);
    g->logprob = isnan(l[tok]) ? -INFINITY : (float)((double)l[tok] - lse);
}

/* The one place a token is chosen: logit_bias (gen_bias), then lmc_sampler's chain (penalties,
 * top-k, top-p, min-p, temperature, draw; or greedy); the log-probabilities (gen_logprobs) are
 * those of the row the sampler is given. A constraint (a grammar, a JSON schema) joins as the first
 * link here: it copies the logits row with -INFINITY for every token its state forbids, so that
 * every later link and the greedy argmax see only allowed tokens, and gen_accept advances its state
 * with the chosen token. Prompt tokens go to the penalty history only (lmc_sampler_accept), never
 * to a constraint. */
static int32_t gen_sample(lmc_gen *g, const float *logits) {
    if (g->n_bias) logits = gen_bias(g, logits);
    int32_t tok = lmc_sampler_sample(g->smp, logits);
    /* The grammar is checked lazily: the unconstrained choice stands when the grammar allows it
     * (most steps); otherwise the whole vocabulary is masked and the chain runs again. With
     * log-probabilities asked for, the row is always masked, so the alternatives are allowed ones.
     */
    if (g->gm && (g->n_probs || !grammar_allows(g->gm, tok))) {
        if (!grammar_mask(g->gm, logits, g->row)) return -2;
        logits = g->row;
        if (!grammar_allows(g->gm, tok)) tok = lmc_sampler_sample(g->smp, logits);
    }
    if (g->n_probs && tok >= 0 && tok < g->n_vocab) gen_logprobs(g, logits, tok);
    return tok;
}

static void gen_accept(lmc_gen *g, int32_t tok) {
    lmc_sampler_accept(g->smp, tok);
    if (g->gm && tok >= 0 && tok < g->n_vocab) grammar_accept(g->gm, tok);
}

/* Samples from the logits of the last held token; then, in this order: an EOG token, a stop string,
 * n_predict and the end of the context end the generation, else the token is pending. */
static lmc_status gen_next(lmc_gen *g, const float *logits, lmc_gen_event *ev) {
    int32_t tok = gen_sample(g, logits);
    gen_accept(g, tok);
    if (g->st.n_gen++ == 0) {
        g->t_first = lmc_time_s();
        g->st.t_first = g->t_first - g->t_start;
    }
    ev->token = tok;
    if (tok == -2) {
        gen_finish(g, LMC_GEN_END_ERROR, ev);
        return lmc_err(LMC_ERR_INVALID_ARG, "the grammar allows no token here");
    }
    if (g->n_probs && tok >= 0 && tok < g->n_vocab) {
        ev->logprob = g->logprob;
        ev->probs = g->probs;
        ev->n_probs = g->n_probs < g->n_vocab ? g->n_probs : g->n_vocab;
    }
    if (tok < 0 || tok >= g->n_vocab) {
        gen_finish(g, LMC_GEN_END_ERROR, ev);
        return lmc_err(LMC_ERR_BACKEND, "sampler returned an invalid token (%d)", tok);
    }
    if (lmc_token_is_eog(g->model, tok)) {
        gen_finish(g, LMC_GEN_END_EOG, ev);
        return LMC_OK;
    }
    size_t n = 0;
    const char *piece = lmc_detok_push(g->detok, tok, &n);
    if (piece && n && !text_add(g, piece, n)) {
        gen_finish(g, LMC_GEN_END_ERROR, ev);
        return lmc_err(LMC_ERR_OOM, "out of memory for the generated text");
    }
    if (text_scan(g, false)) {
        gen_finish(g, LMC_GEN_END_STOP, ev);
    } else if (g->n_predict >= 0 && g->st.n_gen >= g->n_predict) {
        gen_finish(g, LMC_GEN_END_LENGTH, ev);
    } else if (g->n_cache >= g->n_ctx) {
        gen_finish(g, LMC_GEN_END_CONTEXT, ev);
    } else {
        g->tok[g->n_cache] = tok;
        g->n_end = g->n_cache + 1;
        g->state = LMC_GEN_GENERATING;
    }
    return LMC_OK;
}

/* ---- the step -------------------------------------------------------------------------------- */
int32_t lmc_gen_pending(lmc_gen *g, int32_t max, int32_t *tok, int32_t *pos, int32_t *seq,
                        int8_t *want) {
    if (!g || g->state == LMC_GEN_IDLE || max < 1 || !tok || !pos) return 0;
    int32_t k = g->n_end - g->n_cache < max ? g->n_end - g->n_cache : max;
    for (int32_t i = 0; i < k; i++) {
        tok[i] = g->tok[g->n_cache + i];
        pos[i] = g->n_cache + i;
        if (seq) seq[i] = g->seq;
        if (want) want[i] = 0;
    }
    if (want && k > 0 && g->n_cache + k == g->n_end) want[k - 1] = 1;
    g->n_offered = k;
    return k;
}

lmc_status lmc_gen_commit(lmc_gen *g, int32_t n_taken, const float *logits, lmc_gen_event *ev) {
    ev_begin(g, ev);
    if (!g || g->state == LMC_GEN_IDLE)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gen_commit: no generation is running");
    if (n_taken < 0 || n_taken > g->n_offered)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gen_commit: %d tokens taken but %d were pending",
                       n_taken, g->n_offered);
    const bool last = n_taken > 0 && g->n_cache + n_taken == g->n_end; /* its logits are needed */
    if (last != (logits != NULL))
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "lmc_gen_commit: logits are %s for the last token taken",
                       last ? "needed" : "not expected");
    if (g->state == LMC_GEN_PROMPT) {
        if (g->accept_prompt)
            for (int32_t i = 0; i < n_taken; i++)
                lmc_sampler_accept(g->smp, g->tok[g->n_cache + i]);
        g->st.n_processed += n_taken;
        if (last) {
            g->st.t_prompt = lmc_time_s() - g->t_start;
            g->state = LMC_GEN_GENERATING;
        }
    }
    g->n_cache += n_taken;
    g->n_offered = 0;
    lmc_status st = last ? gen_next(g, logits, ev) : LMC_OK;
    ev_end(g, ev);
    return st;
}

lmc_status lmc_gen_abort(lmc_gen *g, lmc_status why, lmc_gen_event *ev) {
    ev_begin(g, ev);
    if (!g || g->state == LMC_GEN_IDLE)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gen_abort: no generation is running");
    if (why == LMC_ERR_CANCELLED) {
        gen_finish(g, LMC_GEN_END_CANCELLED, ev);
    } else {
        lmc_seq_truncate(g->ctx, g->seq, g->n_cache); /* forget what may be half-written */
        gen_finish(g, LMC_GEN_END_ERROR, ev);
    }
    ev_end(g, ev);
    return LMC_OK;
}

lmc_status lmc_gen_step(lmc_gen *g, lmc_gen_event *ev) {
    ev_begin(g, ev);
    int32_t n = lmc_gen_pending(g, g ? g->n_batch : 0, g ? g->b_tok : NULL, g ? g->b_pos : NULL,
                                g ? g->b_seq : NULL, g ? g->b_want : NULL);
    if (n == 0) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gen_step: no generation is running");
    lmc_batch b = {.n_tokens = n,
                   .token = g->b_tok,
                   .pos = g->b_pos,
                   .seq_id = g->b_seq,
                   .want_logits = g->b_want};
    const float *logits = NULL;
    lmc_status st = lmc_decode_batch(g->ctx, &b, &logits);
    if (st != LMC_OK) {
        lmc_gen_abort(g, st, ev);
        return st;
    }
    return lmc_gen_commit(g, n, g->b_want[n - 1] ? logits : NULL, ev);
}
