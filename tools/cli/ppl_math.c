/* ppl_math.c — see ppl_math.h. Each function follows llama-perplexity's order and precision of
 * operations: max in f32, the sum of expf in f64, the log in f64 or rounded to f32 where it does.
 */
#include "ppl_math.h"

#include <math.h>
#include <string.h>

int ppl_record_len(int n_vocab) {
    return 2 * ((n_vocab + 1) / 2) + 4;
}

static float max_of(int n, const float *x) {
    float m = x[0];
    for (int i = 1; i < n; i++)
        m = m > x[i] ? m : x[i];
    return m;
}

static double sum_exp(int n, const float *x, float max) {
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += expf(x[i] - max);
    return s;
}

double ppl_nll(int n_vocab, const float *logits, int tok) {
    const float max = max_of(n_vocab, logits);
    const double s = sum_exp(n_vocab, logits, max);
    return -(logits[tok] - max - log(s));
}

static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

double ppl_nll_record(int n_vocab, const float *logits, int tok, uint16_t *record) {
    float max = logits[0], min = logits[0];
    for (int i = 1; i < n_vocab; i++) {
        max = max > logits[i] ? max : logits[i];
        min = min < logits[i] ? min : logits[i];
    }
    min = min > max - 16 ? min : max - 16; /* log-probs below -16 are stored as -16 */
    const float log_sum_exp = (float)log(sum_exp(n_vocab, logits, max));
    const float min_log_prob = min - max - log_sum_exp;
    const float scale = (max - min) / 65535.f;
    memcpy(record, &scale, 4);
    memcpy(record + 2, &min_log_prob, 4);
    uint16_t *q = record + 4;
    if (scale) {
        const float inv = 1 / scale;
        for (int i = 0; i < n_vocab; i++)
            q[i] = (uint16_t)(logits[i] > min ? nearest_int(inv * (logits[i] - min)) : 0);
    } else {
        memset(q, 0, (size_t)n_vocab * sizeof *q);
    }
    if (n_vocab & 1) q[n_vocab] = 0;
    return max + log_sum_exp - logits[tok];
}

double ppl_kld_add(ppl_kld *k, int n_vocab, const float *logits, const uint16_t *record, int tok,
                   float *p_diff_out) {
    float max = logits[0];
    int imax = 0;
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > max) {
            max = logits[i];
            imax = i;
        }
    const float log_sum_exp = (float)log(sum_exp(n_vocab, logits, max));
    float scale, min_log_prob;
    memcpy(&scale, record, 4);
    memcpy(&min_log_prob, record + 2, 4);
    const uint16_t *q = record + 4;

    const float nll = max + log_sum_exp - logits[tok];
    k->sum_nll += nll;
    k->sum_nll2 += nll * nll;
    const float nll_base = -(scale * q[tok] + min_log_prob);
    k->sum_nll_base += nll_base;
    k->sum_nll_base2 += nll_base * nll_base;
    k->sum_nll_nll_base += nll * nll_base;

    const float log_norm = max + log_sum_exp;
    double kld = 0;
    int imax_base = -1;
    float lp_base_max = 0;
    for (int i = 0; i < n_vocab; i++) {
        const float lp_base = scale * q[i] + min_log_prob;
        if (i == 0 || lp_base > lp_base_max) {
            lp_base_max = lp_base;
            imax_base = i;
        }
        if (lp_base > -16.f) kld += expf(lp_base) * (lp_base - logits[i] + log_norm);
    }
    k->sum_kld += kld;
    k->sum_kld2 += kld * kld;
    k->count++;
    if (imax == imax_base) k->n_same_top++;

    const float p_diff = expf(-nll) - expf(-nll_base);
    k->sum_p_diff += p_diff;
    const double p_diff2 = p_diff * p_diff;
    k->sum_p_diff2 += p_diff2;
    k->sum_p_diff4 += p_diff2 * p_diff2;
    if (fabsf(p_diff) > k->max_p_diff) k->max_p_diff = fabsf(p_diff);
    *p_diff_out = p_diff;
    return kld;
}

void ppl_mean_unc(double sum, double sum2, size_t count, double *mean, double *unc) {
    if (count < 1) {
        *mean = *unc = 0;
        return;
    }
    const double f = sum / count;
    const double df = sum2 / count - f * f;
    *mean = f;
    *unc = df > 0 && count > 10 ? sqrt(df / (count - 1)) : 0.;
}

double ppl_cov(double suma, double sumb, double sumab, size_t count) {
    if (count < 10) return 0.0;
    return (sumab / count - (suma / count) * (sumb / count)) / (count - 1);
}

float ppl_percentile(const float *v, size_t n, float fraction) {
    if (fraction <= 0) return v[0];
    if (fraction >= 1) return v[n - 1];
    float p = fraction * (n - 1);
    size_t ip = (size_t)p;
    p -= ip;
    return (1 - p) * v[ip] + p * v[ip + 1 < n ? ip + 1 : n - 1];
}

float ppl_median(const float *v, size_t n) {
    return n % 2 == 0 ? 0.5f * (v[n / 2] + v[n / 2 - 1]) : v[n / 2];
}
