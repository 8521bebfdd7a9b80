/* test_sampler.c — the sampler against distributions computed here independently: greedy and ties,
 * empirical frequencies vs softmax (chi-square), top-k/top-p/min-p keep exactly the right tokens,
 * penalties shift logits by the stated rule, seeds reproduce. Needs no model. */
#include "lmc.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

/* Expected probabilities: softmax(logits / temp) restricted to keep[] (NULL = all). */
static void softmax_ref(const float *l, int n, float temp, const int *keep, double *p) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++)
        if ((!keep || keep[i]) && l[i] > mx) mx = l[i];
    for (int i = 0; i < n; i++) {
        p[i] = (!keep || keep[i]) ? exp(((double)l[i] - mx) / temp) : 0.0;
        sum += p[i];
    }
    for (int i = 0; i < n; i++)
        p[i] /= sum;
}

/* Draws `draws` samples; returns the chi-square statistic against p, and counts hits on tokens with
 * p == 0 in *bad. df = tokens with p > 0, minus one. */
static double chi_square(lmc_sampler *s, const float *l, int n, const double *p, int draws,
                         int *bad, int *df) {
    static int cnt[8192];
    memset(cnt, 0, sizeof cnt);
    for (int d = 0; d < draws; d++) {
        int t = lmc_sampler_sample(s, l);
        if (t >= 0 && t < n) cnt[t]++;
    }
    double chi = 0;
    *bad = 0;
    *df = -1;
    for (int i = 0; i < n; i++) {
        if (p[i] == 0) {
            *bad += cnt[i];
            continue;
        }
        double e = p[i] * draws;
        chi += (cnt[i] - e) * (cnt[i] - e) / e;
        (*df)++;
    }
    return chi;
}

/* Upper 0.1% critical values of chi-square for df = 1..10 (fixed seeds make the test deterministic;
 * the bound just documents that the frequencies are what a correct sampler gives). */
static const double chi_crit[] = {0,     10.83, 13.82, 16.27, 18.47, 20.52,
                                  22.46, 24.32, 26.12, 27.88, 29.59};

static lmc_sampler_params plain(float temp, uint64_t seed) {
    lmc_sampler_params p = lmc_sampler_default_params();
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

static void check_dist(const char *what, lmc_sampler_params sp, const float *l, int n,
                       const int *keep, float temp) {
    double p[64];
    softmax_ref(l, n, temp, keep, p);
    lmc_sampler *s = lmc_sampler_init(&sp, n);
    int bad, df;
    double chi = chi_square(s, l, n, p, 100000, &bad, &df);
    CHECK(bad == 0, "%s: %d draws of excluded tokens", what, bad);
    CHECK(df >= 0 && df <= 10 && (df == 0 ? chi == 0 : chi < chi_crit[df]),
          "%s: chi-square %.2f with df %d", what, chi, df);
    lmc_sampler_free(s);
}

static uint64_t lcg_state = 12345;
static float frand(void) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((lcg_state >> 40) & 0xFFFFFF) / (float)0x1000000;
}

int main(void) {
    /* defaults are llama.cpp's */
    lmc_sampler_params d = lmc_sampler_default_params();
    CHECK(d.temp == 0.8f && d.top_k == 40 && d.top_p == 0.95f && d.min_p == 0.05f, "defaults");
    CHECK(d.repeat_penalty == 1.0f && d.repeat_last_n == 64 && d.frequency_penalty == 0.0f &&
              d.presence_penalty == 0.0f && d.seed == LMC_DEFAULT_SEED,
          "penalty defaults");

    /* bad arguments */
    CHECK(lmc_sampler_init(&d, 0) == NULL && strlen(lmc_last_error()) > 0, "n_vocab 0 rejected");
    lmc_sampler_params bad = d;
    bad.repeat_last_n = -2;
    CHECK(lmc_sampler_init(&bad, 10) == NULL, "repeat_last_n -2 rejected");
    lmc_sampler_free(NULL);

    /* greedy: argmax, ties to the lowest id, whatever the other filters say */
    {
        const float l[6] = {0.1f, 2.0f, -1.0f, 3.5f, 3.5f, 1.0f};
        lmc_sampler_params g = d;
        g.temp = 0.0f;
        lmc_sampler *s = lmc_sampler_init(&g, 6);
        CHECK(lmc_sampler_sample(s, l) == 3, "greedy picks the max, tie to lowest id");
        g.temp = -1.0f;
        lmc_sampler *s2 = lmc_sampler_init(&g, 6);
        CHECK(lmc_sampler_sample(s2, l) == 3, "negative temp is greedy");
        lmc_sampler_free(s);
        lmc_sampler_free(s2);
    }

    /* top-k = 1 equals greedy on random logits over a large vocabulary (exercises quickselect) */
    {
        enum { N = 5000 };
        static float l[N];
        lmc_sampler_params k1 = d;
        k1.top_k = 1;
        k1.seed = 7;
        lmc_sampler *s = lmc_sampler_init(&k1, N);
        int ok = 0;
        for (int rep = 0; rep < 50; rep++) {
            int best = 0;
            for (int i = 0; i < N; i++) {
                l[i] = frand() * 20.0f - 10.0f;
                if (l[i] > l[best]) best = i;
            }
            ok += lmc_sampler_sample(s, l) == best;
        }
        CHECK(ok == 50, "top-k 1 == greedy: %d of 50", ok);
        lmc_sampler_free(s);
    }

    /* temperature 1 and 0.5, no filters: frequencies follow softmax(l / T) */
    const float l8[8] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, 0.2f, -1.0f, 1.5f};
    check_dist("temp 1", plain(1.0f, 1), l8, 8, NULL, 1.0f);
    check_dist("temp 0.5", plain(0.5f, 2), l8, 8, NULL, 0.5f);
    check_dist("temp 1.7", plain(1.7f, 3), l8, 8, NULL, 1.7f);

    /* top-k 3 keeps the three largest (ids 4, 7, 0), renormalised */
    {
        lmc_sampler_params p = plain(1.0f, 4);
        p.top_k = 3;
        const int keep[8] = {1, 0, 0, 0, 1, 0, 0, 1};
        check_dist("top-k 3", p, l8, 8, keep, 1.0f);
    }

    /* top-p and min-p on probabilities 0.5 0.3 0.15 0.05 (ids shuffled) */
    {
        const float l4[4] = {logf(0.15f), logf(0.5f), logf(0.05f), logf(0.3f)};
        lmc_sampler_params p = plain(1.0f, 5);
        p.top_p = 0.75f; /* 0.5 < 0.75 <= 0.8: keeps the two largest */
        const int k2[4] = {0, 1, 0, 1};
        check_dist("top-p 0.75", p, l4, 4, k2, 1.0f);
        p.top_p = 0.9f; /* 0.8 < 0.9 <= 0.95: three */
        const int k3[4] = {1, 1, 0, 1};
        check_dist("top-p 0.9", p, l4, 4, k3, 1.0f);
        p.top_p = 0.3f; /* the first alone reaches it */
        const int k1[4] = {0, 1, 0, 0};
        check_dist("top-p 0.3", p, l4, 4, k1, 1.0f);

        p = plain(1.0f, 6);
        p.min_p = 0.2f; /* threshold 0.1: drops 0.05 */
        check_dist("min-p 0.2", p, l4, 4, k3, 1.0f);
        p.min_p = 0.5f; /* threshold 0.25: keeps 0.5 and 0.3 */
        check_dist("min-p 0.5", p, l4, 4, k2, 1.0f);

        /* the filters see temperature-1 probabilities; temperature applies to the survivors */
        p = plain(2.0f, 7);
        p.min_p = 0.5f;
        check_dist("min-p 0.5 then temp 2", p, l4, 4, k2, 2.0f);
        p = plain(0.7f, 8);
        p.top_p = 0.9f;
        check_dist("top-p 0.9 then temp 0.7", p, l4, 4, k3, 0.7f);
    }

    /* top-p over a large vocabulary (the partial sort grows in chunks): draws stay in the nucleus
     */
    {
        enum { N = 4000 };
        static float l[N];
        static int order[N];
        for (int i = 0; i < N; i++)
            l[i] = frand() * 8.0f, order[i] = i;
        /* reference nucleus by a plain selection sort on probabilities */
        double mx = 0, sum = 0;
        for (int i = 0; i < N; i++)
            mx = l[i] > mx ? l[i] : mx;
        for (int i = 0; i < N; i++)
            sum += exp(l[i] - mx);
        for (int i = 0; i < N; i++)
            for (int j = i + 1; j < N && i < 400; j++)
                if (l[order[j]] > l[order[i]]) {
                    int t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
        static int in[N];
        double cum = 0;
        int n_keep = 0;
        for (int i = 0; i < N; i++) {
            cum += exp(l[order[i]] - mx) / sum;
            in[order[i]] = 1;
            n_keep++;
            if (cum >= 0.3) break;
        }
        lmc_sampler_params p = plain(1.0f, 9);
        p.top_p = 0.3f;
        lmc_sampler *s = lmc_sampler_init(&p, N);
        int outside = 0;
        for (int d2 = 0; d2 < 3000; d2++)
            outside += !in[lmc_sampler_sample(s, l)];
        CHECK(n_keep > 64 && outside == 0, "top-p nucleus of %d tokens: %d draws outside", n_keep,
              outside);
        lmc_sampler_free(s);
    }

    /* penalties, through greedy decisions at the boundary and an exact distribution */
    {
        lmc_sampler_params p = plain(0.0f, 1);
        const float a[3] = {2.0f, 1.5f, -3.0f};
        p.repeat_penalty = 2.0f; /* 2 / 2 = 1 < 1.5 */
        lmc_sampler *s = lmc_sampler_init(&p, 3);
        CHECK(lmc_sampler_sample(s, a) == 0, "no history, no penalty");
        lmc_sampler_accept(s, 0);
        CHECK(lmc_sampler_sample(s, a) == 1, "positive logit divided by the penalty");
        lmc_sampler_free(s);
        p.repeat_penalty = 1.2f; /* 2 / 1.2 = 1.67 > 1.5 */
        s = lmc_sampler_init(&p, 3);
        lmc_sampler_accept(s, 0);
        CHECK(lmc_sampler_sample(s, a) == 0, "penalty 1.2 keeps the max");
        lmc_sampler_free(s);

        const float b[2] = {-1.0f, -1.5f};
        p.repeat_penalty = 2.0f; /* -1 * 2 = -2 < -1.5 */
        s = lmc_sampler_init(&p, 2);
        lmc_sampler_accept(s, 0);
        CHECK(lmc_sampler_sample(s, b) == 1, "negative logit multiplied by the penalty");
        lmc_sampler_free(s);
        p.repeat_penalty = 1.4f; /* -1.4 > -1.5 */
        s = lmc_sampler_init(&p, 2);
        lmc_sampler_accept(s, 0);
        CHECK(lmc_sampler_sample(s, b) == 0, "penalty 1.4 on a negative logit");
        lmc_sampler_free(s);

        const float c[2] = {3.0f, 2.0f};
        p.repeat_penalty = 1.0f;
        p.frequency_penalty = 0.4f; /* 3 - 2 * 0.4 = 2.2 */
        s = lmc_sampler_init(&p, 2);
        lmc_sampler_accept(s, 0);
        lmc_sampler_accept(s, 0);
        CHECK(lmc_sampler_sample(s, c) == 0, "frequency 0.4 x 2");
        lmc_sampler_free(s);
        p.frequency_penalty = 0.6f; /* 3 - 1.2 = 1.8 */
        s = lmc_sampler_init(&p, 2);
        lmc_sampler_accept(s, 0);
        lmc_sampler_accept(s, 0);
        CHECK(lmc_sampler_sample(s, c) == 1, "frequency 0.6 x 2");
        lmc_sampler_free(s);
        p.frequency_penalty = 0.0f;
        p.presence_penalty = 1.1f; /* once, whatever the count: 1.9 */
        s = lmc_sampler_init(&p, 2);
        lmc_sampler_accept(s, 0);
        lmc_sampler_accept(s, 0);
        lmc_sampler_accept(s, 0);
        CHECK(lmc_sampler_sample(s, c) == 1, "presence 1.1");
        lmc_sampler_free(s);
        p.presence_penalty = 0.9f;
        s = lmc_sampler_init(&p, 2);
        lmc_sampler_accept(s, 0);
        lmc_sampler_accept(s, 0);
        CHECK(lmc_sampler_sample(s, c) == 0, "presence 0.9");
        lmc_sampler_free(s);

        /* window: a token that left the last-n window is no longer penalised */
        p.presence_penalty = 1.1f;
        p.repeat_last_n = 2;
        s = lmc_sampler_init(&p, 5);
        const float w[5] = {3.0f, 2.0f, -5, -5, -5};
        lmc_sampler_accept(s, 0);
        lmc_sampler_accept(s, 3);
        CHECK(lmc_sampler_sample(s, w) == 1, "in the window");
        lmc_sampler_accept(s, 4);
        CHECK(lmc_sampler_sample(s, w) == 0, "left the window");
        lmc_sampler_reset(s);
        lmc_sampler_accept(s, 0);
        CHECK(lmc_sampler_sample(s, w) == 1, "after reset the window restarts");
        lmc_sampler_reset(s);
        CHECK(lmc_sampler_sample(s, w) == 0, "reset clears the history");
        lmc_sampler_free(s);
        p.repeat_last_n = -1; /* whole history */
        s = lmc_sampler_init(&p, 5);
        lmc_sampler_accept(s, 0);
        for (int i = 0; i < 500; i++)
            lmc_sampler_accept(s, 3);
        CHECK(lmc_sampler_sample(s, w) == 1, "repeat_last_n -1 remembers everything");
        lmc_sampler_free(s);
        p.repeat_last_n = 0; /* off */
        s = lmc_sampler_init(&p, 5);
        lmc_sampler_accept(s, 0);
        CHECK(lmc_sampler_sample(s, w) == 0, "repeat_last_n 0 disables penalties");
        lmc_sampler_free(s);

        /* exact: presence ln 3 on one of two equal logits gives probabilities 1/4, 3/4 */
        lmc_sampler_params q = plain(1.0f, 11);
        q.presence_penalty = logf(3.0f);
        const float e[2] = {0.0f, 0.0f};
        const float e_ref[2] = {-logf(3.0f), 0.0f};
        lmc_sampler *t = lmc_sampler_init(&q, 2);
        lmc_sampler_accept(t, 0);
        double pr[2];
        softmax_ref(e_ref, 2, 1.0f, NULL, pr);
        int bad2, df;
        double chi = chi_square(t, e, 2, pr, 100000, &bad2, &df);
        CHECK(df == 1 && chi < chi_crit[1], "presence as a logit shift: chi %.2f", chi);
        lmc_sampler_free(t);
    }

    /* seeds: same seed same draws, different seeds differ, reset replays */
    {
        lmc_sampler_params p = plain(1.0f, 42);
        const float u[16] = {0};
        lmc_sampler *a = lmc_sampler_init(&p, 16), *b = lmc_sampler_init(&p, 16);
        p.seed = 43;
        lmc_sampler *c = lmc_sampler_init(&p, 16);
        int same = 0, diff = 0, first[100];
        for (int i = 0; i < 100; i++) {
            int x = lmc_sampler_sample(a, u), y = lmc_sampler_sample(b, u),
                z = lmc_sampler_sample(c, u);
            first[i] = x;
            same += x == y;
            diff += x != z;
        }
        CHECK(same == 100, "same seed reproduces: %d of 100", same);
        CHECK(diff > 50, "different seeds differ: %d of 100", diff);
        lmc_sampler_reset(a);
        int replay = 0;
        for (int i = 0; i < 100; i++)
            replay += lmc_sampler_sample(a, u) == first[i];
        CHECK(replay == 100, "reset replays the seed: %d of 100", replay);
        lmc_sampler_free(a);
        lmc_sampler_free(b);
        lmc_sampler_free(c);
        /* random seeds (the default) differ between samplers */
        p.seed = LMC_DEFAULT_SEED;
        a = lmc_sampler_init(&p, 16);
        b = lmc_sampler_init(&p, 16);
        diff = 0;
        for (int i = 0; i < 100; i++)
            diff += lmc_sampler_sample(a, u) != lmc_sampler_sample(b, u);
        CHECK(diff > 50, "random seeds differ: %d of 100", diff);
        lmc_sampler_free(a);
        lmc_sampler_free(b);
    }

    /* hostile logits: NaN and -inf never crash and never pick a NaN */
    {
        const float l[4] = {NAN, -INFINITY, 1.0f, NAN};
        lmc_sampler *s = lmc_sampler_init(&d, 4);
        int ok = 1;
        for (int i = 0; i < 100; i++)
            ok &= lmc_sampler_sample(s, l) == 2;
        CHECK(ok, "NaN and -inf are never drawn");
        const float all[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
        int t = lmc_sampler_sample(s, all);
        CHECK(t >= 0 && t < 4, "all -inf still gives a valid id (%d)", t);
        lmc_sampler_free(s);
        lmc_sampler_params g = d;
        g.temp = 0;
        s = lmc_sampler_init(&g, 4);
        CHECK(lmc_sampler_sample(s, l) == 2, "greedy skips NaN");
        lmc_sampler_free(s);
    }
    return t_done();
}
