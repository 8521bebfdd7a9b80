/* test_cpu_split.c — the CPU forward cut into parts (cpu_part_*, what a context split with the GPU
 * runs on the CPU): layers [0, a) then [a, b) then [b, n_layer), handing the residual stream from
 * part to part, give logits bitwise equal to the whole forward, for a prompt, decode steps and
 * after a context shift of every part, and show an observer the same as the whole forward. Needs no
 * GPU; stories260K from ../shared, SmolLM2 when cached. */
#include "cpu/forward.h"
#include "lmc.h"
#include "model.h"
#include "testutil.h"

#include <string.h>

enum { N_CTX = 64, N_BATCH = 16, N_PARTS_MAX = 3, OBS_ROW = 5 };

/* What an observer was shown of one token, in order: the residual after each layer, the final norm
 * (n_layer + 1 rows of n_embd), then the logits (n_vocab). out_of_order counts calls that came in
 * another order or shape. */
typedef struct {
    int32_t n_layer, n_embd, n_vocab;
    float *v;
    int calls, out_of_order;
} observed;

static void observe(void *user, lmc_observe_what what, int32_t layer, const float *v, int32_t n) {
    observed *o = user;
    const int k = o->calls++;
    const bool in_order = what == LMC_OBSERVE_LAYER ? layer == k && k < o->n_layer && n == o->n_embd
                          : what == LMC_OBSERVE_FINAL_NORM
                              ? layer == -1 && k == o->n_layer && n == o->n_embd
                              : layer == -1 && k == o->n_layer + 1 && n == o->n_vocab;
    if (!in_order) {
        o->out_of_order++;
        return;
    }
    memcpy(o->v + (size_t)k * o->n_embd, v, (size_t)n * sizeof(float));
}

/* One chain of parts over [0, n_layer) and its sequence bookkeeping (one sequence). */
typedef struct {
    cpu_state *part[N_PARTS_MAX];
    int n_parts;
    float *hidden;     /* (N_BATCH, n_embd) */
    int32_t seq_start; /* (1) */
    observed obs;      /* row OBS_ROW of the first slice of the script */
} chain;

static bool chain_init(chain *c, const lmc_model *m, const int32_t *cuts, int n_cuts) {
    memset(c, 0, sizeof *c);
    lmc_context_params p = lmc_context_default_params();
    p.n_ctx = N_CTX;
    p.n_batch = N_BATCH;
    p.n_seq = 1;
    p.n_threads = 2;
    int32_t l0 = 0;
    c->hidden = malloc((size_t)N_BATCH * m->hp.n_embd * sizeof(float));
    c->obs = (observed){m->hp.n_layer, m->hp.n_embd, m->hp.n_vocab, NULL, 0, 0};
    c->obs.v = malloc(((size_t)(m->hp.n_layer + 1) * m->hp.n_embd + m->hp.n_vocab) * sizeof(float));
    for (int k = 0; k <= n_cuts; k++) {
        const int32_t l1 = k < n_cuts ? cuts[k] : m->hp.n_layer;
        lmc_status st = cpu_part_init(m, &p, l0, l1, &c->part[c->n_parts]);
        CHECK(st == LMC_OK, "part [%d, %d): %s", l0, l1, lmc_last_error());
        if (st != LMC_OK) return false;
        c->n_parts++;
        l0 = l1;
    }
    return c->hidden != NULL && c->obs.v != NULL;
}

static void chain_free(chain *c) {
    for (int k = 0; k < c->n_parts; k++)
        cpu_part_free(c->part[k]);
    free(c->hidden);
    free(c->obs.v);
}

/* Tokens at positions pos.. (n <= N_BATCH), every row's logits wanted, into logits (n, n_vocab). */
static lmc_status chain_run(chain *c, const int32_t *tok, int32_t n, int32_t pos, float *logits,
                            bool with_obs) {
    int32_t p[N_BATCH], seq[N_BATCH] = {0};
    int8_t want[N_BATCH];
    for (int32_t i = 0; i < n; i++)
        p[i] = pos + i, want[i] = 1;
    if (pos == 0) c->seq_start = 0;
    lmc_fwd_batch b = {.n = n,
                       .token = tok,
                       .pos = p,
                       .seq = seq,
                       .seq_start = &c->seq_start,
                       .want = want,
                       .logits = logits};
    if (with_obs && OBS_ROW < n)
        b.observe = observe, b.observe_user = &c->obs, b.observe_row = OBS_ROW;
    for (int k = 0; k < c->n_parts; k++) {
        lmc_status st = cpu_part_forward(c->part[k], &b, k ? c->hidden : NULL, c->hidden);
        if (st != LMC_OK) return st;
    }
    return LMC_OK;
}

static void chain_shift(chain *c, int32_t from, int32_t n, int32_t to) {
    for (int k = 0; k < c->n_parts; k++)
        cpu_part_kv_shift(c->part[k], 0, from, n, to);
}

/* Runs the same script through a chain: a prompt of 12 tokens in two slices, 3 decode steps, then a
 * shift of positions [6, 15) down to 2 and 2 more steps. Returns the logits of every row (27 rows).
 */
static bool script(chain *c, const lmc_model *m, float *out) {
    const int32_t V = m->hp.n_vocab;
    int32_t A[12] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};
    for (int i = 0; i < 12; i++)
        A[i] %= V;
    lmc_status st = chain_run(c, A, 8, 0, out, true);
    if (st == LMC_OK) st = chain_run(c, A + 8, 4, 8, out + (size_t)8 * V, false);
    int32_t pos = 12, row = 12;
    for (int i = 0; i < 3 && st == LMC_OK; i++, row++)
        st = chain_run(c, &A[i + 3], 1, pos++, out + (size_t)row * V, false);
    if (st == LMC_OK) {
        chain_shift(c, 6, pos - 6, 2);
        pos -= 4;
    }
    for (int i = 0; i < 2 && st == LMC_OK; i++, row++)
        st = chain_run(c, &A[i + 7], 1, pos++, out + (size_t)row * V, false);
    CHECK(st == LMC_OK, "chain run: %s", lmc_last_error());
    return st == LMC_OK;
}

enum { SCRIPT_ROWS = 17 };

static void test_model(const char *path) {
    lmc_model *m = NULL;
    if (lmc_model_load(path, NULL, &m) != LMC_OK) {
        CHECK(0, "load %s: %s", path, lmc_last_error());
        return;
    }
    const int32_t V = m->hp.n_vocab, nl = m->hp.n_layer;
    const size_t nf = (size_t)SCRIPT_ROWS * V;
    float *ref = malloc(nf * sizeof(float)), *got = malloc(nf * sizeof(float));
    chain whole;
    if (chain_init(&whole, m, NULL, 0) && script(&whole, m, ref)) {
        /* the whole forward shows row OBS_ROW: each layer, the final norm, its logits */
        CHECK(whole.obs.calls == nl + 2 && whole.obs.out_of_order == 0,
              "%s: observer saw %d calls, %d out of order", path, whole.obs.calls,
              whole.obs.out_of_order);
        CHECK(memcmp(whole.obs.v + (size_t)(nl + 1) * m->hp.n_embd, ref + (size_t)OBS_ROW * V,
                     (size_t)V * sizeof(float)) == 0,
              "%s: observed logits differ from row %d", path, OBS_ROW);
        /* cuts as the GPU split makes them (the last N layers on the GPU for N = 1, n/2, n-1) and a
         * three-part chain with a middle part that takes and hands over hidden states */
        int32_t cuts[][2] = {{nl - 1, 0}, {nl - nl / 2, 0}, {1, 0}, {1, nl - 1}};
        const int n_cuts[] = {1, 1, 1, 2};
        for (size_t k = 0; k < sizeof n_cuts / sizeof n_cuts[0]; k++) {
            if (cuts[k][0] < 1 || cuts[k][0] >= nl || (n_cuts[k] == 2 && cuts[k][1] <= cuts[k][0]))
                continue;
            chain c;
            if (chain_init(&c, m, cuts[k], n_cuts[k]) && script(&c, m, got)) {
                size_t first = 0;
                while (first < nf && memcmp(&got[first], &ref[first], sizeof(float)) == 0)
                    first++;
                if (n_cuts[k] == 1)
                    printf("%s: parts [0,%d) [%d,%d): %s\n", path, cuts[k][0], cuts[k][0], nl,
                           first == nf ? "bitwise equal" : "DIFFER");
                else
                    printf("%s: parts [0,%d) [%d,%d) [%d,%d): %s\n", path, cuts[k][0], cuts[k][0],
                           cuts[k][1], cuts[k][1], nl, first == nf ? "bitwise equal" : "DIFFER");
                CHECK(first == nf, "%s cut %zu: logits differ at row %zu, id %zu (%g vs %g)", path,
                      k, first / V, first % V, first < nf ? got[first] : 0.0,
                      first < nf ? ref[first] : 0.0);
                const size_t n_obs = (size_t)(nl + 1) * m->hp.n_embd + V;
                CHECK(c.obs.calls == nl + 2 && c.obs.out_of_order == 0 &&
                          memcmp(c.obs.v, whole.obs.v, n_obs * sizeof(float)) == 0,
                      "%s cut %zu: the observer saw %d calls (%d out of order), not what the whole "
                      "forward shows",
                      path, k, c.obs.calls, c.obs.out_of_order);
            }
            chain_free(&c);
        }
    }
    chain_free(&whole);
    /* bad layer ranges are refused */
    lmc_context_params p = lmc_context_default_params();
    p.n_ctx = 8, p.n_batch = 1, p.n_threads = 1;
    cpu_state *s = NULL;
    CHECK(cpu_part_init(m, &p, 2, 2, &s) == LMC_ERR_INVALID_ARG && !s,
          "empty layer range accepted");
    CHECK(cpu_part_init(m, &p, 0, nl + 1, &s) == LMC_ERR_INVALID_ARG && !s,
          "range past n_layer accepted");
    free(ref);
    free(got);
    lmc_model_free(m);
}

int main(void) {
    t_require_shared();
    test_model(t_shared("models/stories260K.gguf"));
    /* SmolLM2 (the default model, 30 layers of Q4_1/Q8_0) when the cache holds it */
    char smol[4096];
    const char *env = getenv("LMC_SMOLLM2"), *cache = getenv("LMC_CACHE"),
               *xdg = getenv("XDG_CACHE_HOME");
    if (env)
        snprintf(smol, sizeof smol, "%s", env);
    else if (cache)
        snprintf(smol, sizeof smol, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", cache);
    else if (xdg)
        snprintf(smol, sizeof smol, "%s/lmc/SmolLM2-135M-Instruct.Q4_1.gguf", xdg);
    else
        snprintf(smol, sizeof smol, "%s/.cache/lmc/SmolLM2-135M-Instruct.Q4_1.gguf",
                 getenv("HOME") ? getenv("HOME") : ".");
    FILE *f = fopen(smol, "rb");
    if (f) {
        fclose(f);
        test_model(smol);
    } else {
        printf("%s: not present, skipped\n", smol);
    }
    return t_done();
}
