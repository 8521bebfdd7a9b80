/* sampler.c — picks the next token from logits: penalties → top-k → top-p → min-p → temperature →
 * draw from the softmax (llama.cpp's default chain and defaults), or greedy argmax when temp <= 0.
 * All buffers are allocated once in init; sampling allocates nothing. No grammar, no
 * DRY/XTC/typical. */
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int32_t id;
    float logit;
    float p;
} cand;

struct lmc_sampler {
    lmc_sampler_params par;
    int32_t n_vocab;
    cand *cand; /* (n_vocab) working candidates; the first n_sorted are the largest, in order */
    int32_t n_cand;
    int32_t n_sorted;
    int32_t *counts; /* (n_vocab) occurrences of each token inside the penalty window */
    int32_t *ring;   /* (repeat_last_n) last accepted tokens, oldest at ring_head when full */
    int32_t ring_cap, ring_len, ring_head;
    uint64_t seed;   /* the seed actually used (resolved when params said random) */
    uint64_t rng[4]; /* xoshiro256** state */
};

/* ---- RNG: splitmix64 expands the seed, xoshiro256** draws ----------------------------------- */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(lmc_sampler *s) {
    uint64_t x = s->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(lmc_sampler *s) {
    uint64_t *r = s->rng;
    uint64_t out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return out;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(lmc_sampler *s) {
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static uint64_t seed_random(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x =
        (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    return splitmix64(&x);
}

/* ---- ordering: larger logit first, ties to the lower id (so greedy ties pick the lowest id) ---
 */
static inline int cand_before(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return cand_before(a, b) ? -1 : cand_before(b, a) ? 1 : 0;
}

static inline void cand_swap(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Sift-down in a heap of k candidates whose root is the one that comes last in the order. */
static void heap_sift(cand *h, int32_t k, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < k && cand_before(&h[w], &h[l])) w = l;
        if (r < k && cand_before(&h[w], &h[r])) w = r;
        if (w == i) return;
        cand_swap(&h[i], &h[w]);
        i = w;
    }
}

/* Rearranges c[0..n) so its k first elements are the k largest (in no particular order): a heap of
 * the best k seen so far in c[0..k); most later elements lose against its root at one comparison.
 */
static void cand_select(cand *c, int32_t n, int32_t k) {
    for (int32_t i = k / 2 - 1; i >= 0; i--)
        heap_sift(c, k, i);
    for (int32_t i = k; i < n; i++) {
        if (cand_before(&c[i], &c[0])) {
            cand_swap(&c[i], &c[0]);
            heap_sift(c, k, 0);
        }
    }
}

/* Makes the first m candidates the m largest, sorted. Keeps what is already sorted. */
static void cand_sort_top(lmc_sampler *s, int32_t m) {
    if (m > s->n_cand) m = s->n_cand;
    if (m <= s->n_sorted) return;
    cand *rest = s->cand + s->n_sorted;
    int32_t n_rest = s->n_cand - s->n_sorted, want = m - s->n_sorted;
    if (want * 8 >= n_rest) { /* a large share: sorting everything is cheaper than selecting */
        qsort(rest, (size_t)n_rest, sizeof *rest, cand_cmp);
        s->n_sorted = s->n_cand;
        return;
    }
    cand_select(rest, n_rest, want);
    qsort(rest, (size_t)want, sizeof *rest, cand_cmp);
    s->n_sorted = m;
}

/* ---- public -----------------------------------------------------------------------------------
 */
lmc_sampler_params lmc_sampler_default_params(void) {
    lmc_sampler_params p = {
        .temp = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .frequency_penalty = 0.0f,
        .presence_penalty = 0.0f,
        .seed = LMC_DEFAULT_SEED,
    };
    return p;
}

lmc_sampler *lmc_sampler_init(const lmc_sampler_params *params, int32_t n_vocab) {
    lmc_sampler_params par = params ? *params : lmc_sampler_default_params();
    if (n_vocab <= 0) {
        lmc_err(LMC_ERR_INVALID_ARG, "sampler: n_vocab must be positive (got %d)", n_vocab);
        return NULL;
    }
    if (par.repeat_last_n < -1) {
        lmc_err(LMC_ERR_INVALID_ARG, "sampler: repeat_last_n must be >= -1 (got %d)",
                par.repeat_last_n);
        return NULL;
    }
    if (isnan(par.temp) || isnan(par.top_p) || isnan(par.min_p) || isnan(par.repeat_penalty) ||
        isnan(par.frequency_penalty) || isnan(par.presence_penalty)) {
        lmc_err(LMC_ERR_INVALID_ARG, "sampler: a parameter is NaN");
        return NULL;
    }
    lmc_sampler *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->par = par;
    s->n_vocab = n_vocab;
    s->ring_cap = par.repeat_last_n > 0 ? par.repeat_last_n : 0;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
    s->ring = malloc((size_t)(s->ring_cap ? s->ring_cap : 1) * sizeof *s->ring);
    if (!s->cand || !s->counts || !s->ring) goto oom;
    s->seed = par.seed == LMC_DEFAULT_SEED ? seed_random() : par.seed;
    rng_seed(s);
    return s;
oom:
    lmc_sampler_free(s);
    lmc_err(LMC_ERR_OOM, "sampler: out of memory for a vocabulary of %d", n_vocab);
    return NULL;
}

void lmc_sampler_free(lmc_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->counts);
    free(s->ring);
    free(s);
}

void lmc_sampler_reset(lmc_sampler *s) {
    if (!s) return;
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    s->ring_len = s->ring_head = 0;
    rng_seed(s);
}

void lmc_sampler_accept(lmc_sampler *s, int32_t token) {
    if (!s || token < 0 || token >= s->n_vocab) return;
    if (s->par.repeat_last_n == 0) return;
    if (s->par.repeat_last_n < 0) { /* window = everything since reset (the whole context) */
        s->counts[token]++;
        return;
    }
    if (s->ring_len == s->ring_cap) { /* window full: the oldest token leaves */
        s->counts[s->ring[s->ring_head]]--;
        s->ring[s->ring_head] = token;
        s->ring_head = (s->ring_head + 1) % s->ring_cap;
    } else {
        s->ring[(s->ring_head + s->ring_len) % s->ring_cap] = token;
        s->ring_len++;
    }
    s->counts[token]++;
}

static bool penalties_on(const lmc_sampler *s) {
    return s->par.repeat_last_n != 0 &&
           (s->par.repeat_penalty != 1.0f || s->par.frequency_penalty != 0.0f ||
            s->par.presence_penalty != 0.0f);
}

/* llama.cpp's rule: a repeated token's logit is divided by the penalty when positive and multiplied
 * when not, then count * frequency + presence is subtracted. */
static float penalize(const lmc_sampler *s, int32_t id, float l) {
    int32_t c = s->counts[id];
    if (c <= 0) return l;
    l = l <= 0.0f ? l * s->par.repeat_penalty : l / s->par.repeat_penalty;
    return l - (float)c * s->par.frequency_penalty - s->par.presence_penalty;
}

int32_t lmc_sampler_sample(lmc_sampler *s, const float *logits) {
    if (!s || !logits) return -1;
    const lmc_sampler_params *p = &s->par;
    const int32_t n = s->n_vocab;
    const bool pen = penalties_on(s);

    if (p->temp <=
        0.0f) { /* greedy: no filter ever removes the maximum, so only penalties matter */
        int32_t best = 0;
        float best_l = -INFINITY;
        for (int32_t i = 0; i < n; i++) {
            float l = logits[i];
            if (isnan(l)) continue;
            if (pen) l = penalize(s, i, l);
            if (l > best_l) best_l = l, best = i;
        }
        return best;
    }

    for (int32_t i = 0; i < n; i++) {
        float l = isnan(logits[i]) ? -INFINITY : logits[i];
        s->cand[i] = (cand){i, pen ? penalize(s, i, l) : l, 0.0f};
    }
    s->n_cand = n;
    s->n_sorted = 0;

    if (p->top_k > 0 && p->top_k < s->n_cand) {
        cand_sort_top(s, p->top_k);
        s->n_cand = p->top_k;
    }

    if (p->top_p < 1.0f) {
        /* probabilities over the current candidates at temperature 1 (temperature comes later) */
        float max_l = -INFINITY;
        for (int32_t i = 0; i < s->n_cand; i++)
            if (s->cand[i].logit > max_l) max_l = s->cand[i].logit;
        double sum = 0.0;
        for (int32_t i = 0; i < s->n_cand; i++)
            sum += exp((double)(s->cand[i].logit - max_l));
        /* walk the sorted prefix; sort more only when the mass is not reached yet */
        double cum = 0.0;
        int32_t keep = s->n_cand, i = 0, chunk = 64;
        while (i < s->n_cand) {
            cand_sort_top(s, i + chunk);
            for (; i < s->n_sorted; i++) {
                cum += exp((double)(s->cand[i].logit - max_l)) / sum;
                if (cum >= (double)p->top_p) break;
            }
            if (i < s->n_sorted) {
                keep = i + 1;
                break;
            }
            chunk *= 4;
        }
        s->n_cand = keep;
    }

    if (p->min_p > 0.0f && s->n_cand > 1) {
        float max_l = -INFINITY;
        for (int32_t i = 0; i < s->n_cand; i++)
            if (s->cand[i].logit > max_l) max_l = s->cand[i].logit;
        const float min_l = max_l + logf(p->min_p);
        int32_t m = 0; /* keeps order, so a sorted prefix stays sorted */
        for (int32_t i = 0; i < s->n_cand; i++)
            if (s->cand[i].logit >= min_l) s->cand[m++] = s->cand[i];
        if (s->n_sorted > m) s->n_sorted = m;
        s->n_cand = m;
    }

    /* temperature, softmax, draw */
    float max_l = -INFINITY;
    for (int32_t i = 0; i < s->n_cand; i++)
        if (s->cand[i].logit > max_l) max_l = s->cand[i].logit;
    if (max_l == -INFINITY) return s->cand[0].id; /* nothing finite: any choice is as good */
    double sum = 0.0;
    for (int32_t i = 0; i < s->n_cand; i++) {
        float e = (float)exp((double)((s->cand[i].logit - max_l) / p->temp));
        s->cand[i].p = e;
        sum += e;
    }
    double u = rng_uniform(s) * sum, cum = 0.0;
    int32_t last = 0;
    for (int32_t i = 0; i < s->n_cand; i++) {
        if (s->cand[i].p <= 0.0f) continue;
        cum += s->cand[i].p;
        last = i;
        if (u < cum) return s->cand[i].id;
    }
    return s->cand[last].id; /* rounding at the very end of the cumulative sum */
}
