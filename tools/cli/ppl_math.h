/* ppl_math.h — the arithmetic of `lmc perplexity`, kept to llama-perplexity's own (the same mix of
 * f32 and f64 operations, so the numbers agree to the last printed digit when the logits agree):
 * the negative log-likelihood of the next token, its uint16 log-probability record for a KL
 * divergence base, and the KLD statistics against such a record. No I/O here. */
#ifndef LMC_PPL_MATH_H
#define LMC_PPL_MATH_H

#include <stddef.h>
#include <stdint.h>

/* uint16 entries one token's record takes: 2 floats (scale, min log-prob) + n_vocab (even). */
int ppl_record_len(int n_vocab);

/* -log p(tok) under softmax(logits) (llama-perplexity's plain path). */
double ppl_nll(int n_vocab, const float *logits, int tok);
/* The same via the record path, also writing the token's record (ppl_record_len entries). */
double ppl_nll_record(int n_vocab, const float *logits, int tok, uint16_t *record);

typedef struct {
    double sum_nll, sum_nll2, sum_nll_base, sum_nll_base2, sum_nll_nll_base;
    double sum_kld, sum_kld2, sum_p_diff, sum_p_diff2, sum_p_diff4;
    float max_p_diff;
    size_t n_same_top, count;
} ppl_kld;

/* Adds one token: the model's logits against the base's record. Returns its KLD; *p_diff gets
 * p(tok) - p_base(tok). */
double ppl_kld_add(ppl_kld *k, int n_vocab, const float *logits, const uint16_t *record, int tok,
                   float *p_diff);

/* mean and its standard error as llama-perplexity computes them (0 error for < 11 values) */
void ppl_mean_unc(double sum, double sum2, size_t count, double *mean, double *unc);
double ppl_cov(double suma, double sumb, double sumab, size_t count);
/* llama-perplexity's percentile of sorted values (linear between neighbours). */
float ppl_percentile(const float *sorted, size_t n, float fraction);
float ppl_median(const float *sorted, size_t n);

#endif
