/* cmd_perplexity.c — 'lmc perplexity': llama-perplexity's method and output. The text is tokenized
 * whole (with BOS when the model adds one) and cut into chunks of n_ctx tokens; each chunk is
 * decoded from an empty cache with its first token replaced by BOS (when the model adds one), and
 * the second half of its tokens is scored. With --kl-divergence-base FILE the base model's
 * log-probabilities are saved (llama-perplexity's file format, so files carry over both ways);
 * adding --kl-divergence compares another model with them. The math is ppl_math.c's. */
#include "cli.h"
#include "ppl_math.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *to) {
    fprintf(to,
            "usage: lmc perplexity [-m MODEL] -f TEXT [options]\n\n"
            "Perplexity over a text file, as llama-perplexity computes it: chunks of -c tokens,\n"
            "the second half of each scored. Prints the running value per chunk and\n"
            "'Final estimate: PPL = X +/- Y'.\n\n"
            "-c 0: chunks of the model's training context.\n\n");
    flags_help(to, CMD_PERPLEXITY);
}

typedef struct {
    const char *model, *file, *base, *device;
    int n_ctx, n_batch, n_threads, n_gpu_layers, n_chunks;
    lmc_kv_type type_k, type_v; /* -ctk/-ctv */
    bool kld, json;
} ppl_opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the base file: "_logits_", u32 n_ctx, i32 n_vocab, i32 n_chunk, the tokens (n_chunk *
 * n_ctx i32), then per chunk (n_ctx - 1 - n_ctx/2) records of ppl_record_len(n_vocab) u16 ---- */

typedef struct {
    FILE *fp;
    uint32_t n_ctx;
    int32_t n_vocab, n_chunk;
    int32_t *tokens;
} base_file;

static int base_open(const char *path, base_file *b, int32_t n_vocab) {
    memset(b, 0, sizeof *b);
    char magic[8];
    if (!(b->fp = fopen(path, "rb"))) {
        fprintf(stderr, "lmc: error: cannot open the KL divergence base %s\n", path);
        return CLI_ERR;
    }
    if (fread(magic, 1, 8, b->fp) != 8 || memcmp(magic, "_logits_", 8) ||
        fread(&b->n_ctx, 4, 1, b->fp) != 1 || fread(&b->n_vocab, 4, 1, b->fp) != 1 ||
        fread(&b->n_chunk, 4, 1, b->fp) != 1 || b->n_ctx < 16 || b->n_ctx > (1u << 20) ||
        b->n_chunk < 1 || b->n_chunk > (1 << 20)) {
        fprintf(stderr,
                "lmc: error: %s is not a log-probability file (lmc perplexity "
                "--kl-divergence-base, or llama-perplexity's)\n",
                path);
        return CLI_ERR;
    }
    if (b->n_vocab != n_vocab) {
        fprintf(stderr,
                "lmc: error: %s was made with a vocabulary of %d tokens, this model has %d: a KL "
                "divergence needs the same vocabulary\n",
                path, b->n_vocab, n_vocab);
        return CLI_ERR;
    }
    size_t n = (size_t)b->n_ctx * (size_t)b->n_chunk;
    if (!(b->tokens = malloc(n * sizeof *b->tokens)) ||
        fread(b->tokens, sizeof *b->tokens, n, b->fp) != n) {
        fprintf(stderr, "lmc: error: %s: truncated token list\n", path);
        return CLI_ERR;
    }
    for (size_t i = 0; i < n; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= n_vocab) {
            fprintf(stderr, "lmc: error: %s: token %d out of the vocabulary\n", path, b->tokens[i]);
            return CLI_ERR;
        }
    return CLI_OK;
}

static void base_close(base_file *b) {
    if (b->fp) fclose(b->fp);
    free(b->tokens);
}

/* ---- running the model ------------------------------------------------------------------------
 */

typedef struct {
    lmc_model *model;
    lmc_context *ctx;
    int32_t n_vocab, n_ctx, first;
    int32_t *tok, *pos;
    int8_t *want;
    bool add_bos;
} runner;

/* Decodes chunk tokens[0..n_ctx) from an empty cache; *logits gets the rows of positions
 * first..n_ctx-1. */
static lmc_status run_chunk(runner *r, const int32_t *tokens, const float **logits) {
    lmc_seq_truncate(r->ctx, 0, 0);
    for (int32_t k = 0; k < r->n_ctx; k++) {
        r->tok[k] = tokens[k];
        r->pos[k] = k;
        r->want[k] = k >= r->first;
    }
    if (r->add_bos) r->tok[0] = lmc_token_bos(r->model);
    lmc_batch b = {r->n_ctx, r->tok, r->pos, NULL, r->want};
    return lmc_decode_batch(r->ctx, &b, logits);
}

static int runner_init(runner *r, const ppl_opts *o, lmc_model *model, int32_t n_ctx) {
    memset(r, 0, sizeof *r);
    r->model = model;
    r->n_vocab = lmc_model_n_vocab(model);
    r->n_ctx = n_ctx;
    r->first = n_ctx / 2;
    r->add_bos = lmc_vocab_add_bos(model) && lmc_token_bos(model) >= 0;
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = o->n_threads;
    cp.n_batch = o->n_batch < n_ctx ? o->n_batch : n_ctx;
    cp.n_gpu_layers = o->n_gpu_layers;
    cp.type_k = o->type_k;
    cp.type_v = o->type_v;
    cp.device = !strcmp(o->device, "cpu")    ? LMC_DEVICE_CPU
                : !strcmp(o->device, "cuda") ? LMC_DEVICE_CUDA
                                             : LMC_DEVICE_AUTO;
    lmc_status st = lmc_context_init(model, &cp, &r->ctx);
    if (st) return cli_fail(st, "cannot create a context");
    r->tok = malloc((size_t)n_ctx * sizeof *r->tok);
    r->pos = malloc((size_t)n_ctx * sizeof *r->pos);
    r->want = malloc((size_t)n_ctx);
    if (!r->tok || !r->pos || !r->want) return cli_fail(LMC_ERR_OOM, "perplexity");
    return CLI_OK;
}

static void runner_free(runner *r) {
    lmc_context_free(r->ctx);
    free(r->tok);
    free(r->pos);
    free(r->want);
}

static void print_eta(double t_pass, int n_chunk) {
    int total = (int)(t_pass * n_chunk);
    fprintf(stderr, "perplexity: %.2f seconds per pass - ETA ", t_pass);
    if (total >= 3600) {
        fprintf(stderr, "%d hours ", total / 3600);
        total %= 3600;
    }
    fprintf(stderr, "%.2f minutes\n", total / 60.0);
}

/* ---- perplexity (optionally saving a KLD base) ----------------------------------------------- */

static int32_t *tokenize_file(lmc_model *model, const char *path, int32_t *n_out) {
    size_t len = 0;
    char *text = cli_read_file(path, &len);
    if (!text) return NULL;
    if (len > (size_t)INT32_MAX) {
        free(text);
        fprintf(stderr, "lmc: error: %s: too long to tokenize (%zu bytes; at most 2 GiB)\n", path,
                len);
        return NULL;
    }
    double t0 = now_s();
    fprintf(stderr, "perplexity: tokenizing the input ..\n");
    int32_t *toks = lmc_tokenize_alloc(model, text, (int32_t)len, true, false, n_out);
    free(text);
    if (!toks)
        cli_fail(LMC_ERR_FORMAT, "cannot tokenize the text");
    else
        fprintf(stderr, "perplexity: tokenization took %g ms\n", (now_s() - t0) * 1e3);
    return toks;
}

typedef struct {
    double nll, nll2, ppl, ppl_unc, seconds;
    int count, n_chunk;
    double *running; /* (n_chunk) PPL after each chunk */
} ppl_result;

static FILE *base_create(const char *path, int32_t n_ctx, int32_t n_vocab, int32_t n_chunk,
                         const int32_t *tokens) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return NULL;
    uint32_t c = (uint32_t)n_ctx;
    fwrite("_logits_", 1, 8, fp);
    fwrite(&c, 4, 1, fp);
    fwrite(&n_vocab, 4, 1, fp);
    fwrite(&n_chunk, 4, 1, fp);
    fwrite(tokens, sizeof *tokens, (size_t)n_chunk * (size_t)n_ctx, fp);
    return fp;
}

static int score_chunks(runner *r, const ppl_opts *o, const int32_t *tokens, int n_chunk,
                        FILE *base, ppl_result *res) {
    const int n_score = r->n_ctx - 1 - r->first, nv = ppl_record_len(r->n_vocab);
    uint16_t *rec = base ? malloc((size_t)n_score * (size_t)nv * sizeof *rec) : NULL;
    if (base && !rec) return cli_fail(LMC_ERR_OOM, "perplexity");
    double t0 = now_s();
    for (int i = 0; i < n_chunk; i++) {
        const int32_t *chunk = tokens + (size_t)i * (size_t)r->n_ctx;
        const float *logits;
        double tc = now_s();
        lmc_status st = run_chunk(r, chunk, &logits);
        if (st) {
            free(rec);
            return cli_fail(st, "decode");
        }
        if (i == 0) print_eta(now_s() - tc, n_chunk);
        for (int k = 0; k < n_score; k++) {
            const float *row = logits + (size_t)k * (size_t)r->n_vocab;
            int tok = chunk[r->first + k + 1];
            double v = base ? ppl_nll_record(r->n_vocab, row, tok, rec + (size_t)k * (size_t)nv)
                            : ppl_nll(r->n_vocab, row, tok);
            res->nll += v;
            res->nll2 += v * v;
        }
        if (base) fwrite(rec, sizeof *rec, (size_t)n_score * (size_t)nv, base);
        res->count += n_score;
        res->running[i] = exp(res->nll / res->count);
        if (!o->json) {
            printf("[%d]%.4lf,", i + 1, res->running[i]);
            fflush(stdout);
        }
    }
    res->seconds = now_s() - t0;
    free(rec);
    return CLI_OK;
}

static void print_ppl_json(const ppl_opts *o, const runner *r, const ppl_result *res,
                           int n_tokens) {
    printf(
        "{\"model\": \"%s\", \"n_ctx\": %d, \"n_tokens\": %d, \"n_chunk\": %d, \"n_scored\": %d, "
        "\"ppl\": %.10g, \"ppl_unc\": %.10g, \"seconds\": %.3f, \"tokens_per_second\": %.1f, "
        "\"chunks\": [",
        o->model ? o->model : "(default)", r->n_ctx, n_tokens, res->n_chunk, res->count, res->ppl,
        res->ppl_unc, res->seconds,
        res->n_chunk * (double)r->n_ctx / (res->seconds > 0 ? res->seconds : 1));
    for (int i = 0; i < res->n_chunk; i++)
        printf("%s%.10g", i ? ", " : "", res->running[i]);
    printf("]}\n");
}

static int do_perplexity(const ppl_opts *o, lmc_model *model) {
    int32_t n_tokens = 0;
    int32_t *tokens = tokenize_file(model, o->file, &n_tokens);
    if (!tokens) return CLI_ERR;
    int rc = CLI_ERR;
    runner r = {0};
    FILE *base = NULL;
    ppl_result res = {0};
    if (n_tokens < 2 * o->n_ctx) {
        fprintf(stderr,
                "lmc: error: %s tokenizes to %d tokens; perplexity with a context of %d needs at "
                "least %d (two chunks). Use a longer text or a smaller -c.\n",
                o->file, n_tokens, o->n_ctx, 2 * o->n_ctx);
        goto done;
    }
    int n_chunk = n_tokens / o->n_ctx;
    if (o->n_chunks > 0 && o->n_chunks < n_chunk) n_chunk = o->n_chunks;
    if ((rc = runner_init(&r, o, model, o->n_ctx))) goto done;
    rc = CLI_ERR;
    if (o->base && !(base = base_create(o->base, o->n_ctx, r.n_vocab, n_chunk, tokens))) {
        fprintf(stderr, "lmc: error: cannot create %s\n", o->base);
        goto done;
    }
    fprintf(stderr, "perplexity: calculating perplexity over %d chunks, n_ctx=%d, batch_size=%d\n",
            n_chunk, o->n_ctx, o->n_batch < o->n_ctx ? o->n_batch : o->n_ctx);
    res.n_chunk = n_chunk;
    if (!(res.running = malloc((size_t)n_chunk * sizeof *res.running))) goto done;
    if ((rc = score_chunks(&r, o, tokens, n_chunk, base, &res))) goto done;
    double nll = res.nll / res.count, nll2 = res.nll2 / res.count - nll * nll;
    res.ppl = exp(nll);
    res.ppl_unc = nll2 > 0 ? sqrt(nll2 / (res.count - 1)) * res.ppl : 0;
    if (o->json) {
        print_ppl_json(o, &r, &res, n_tokens);
    } else {
        printf("\nFinal estimate: PPL = %.4lf +/- %.5lf\n", res.ppl, res.ppl_unc);
        fprintf(stderr, "lmc perplexity: %d chunks of %d tokens in %.2f s (%.1f tok/s)\n", n_chunk,
                o->n_ctx, res.seconds, n_chunk * (double)o->n_ctx / res.seconds);
    }
    if (base && (ferror(base) | fclose(base))) {
        base = NULL;
        fprintf(stderr, "lmc: error: writing %s failed\n", o->base);
        rc = CLI_ERR;
    }
    base = NULL;
done:
    if (base) fclose(base);
    runner_free(&r);
    free(res.running);
    free(tokens);
    return rc;
}

/* ---- KL divergence against a saved base ------------------------------------------------------ */

typedef struct {
    ppl_kld k;
    float *kld, *p_diff; /* (count) per scored token */
} kld_run;

static int check_text(const ppl_opts *o, lmc_model *model, const base_file *b) {
    int32_t n = 0;
    int32_t *toks = tokenize_file(model, o->file, &n);
    if (!toks) return CLI_ERR;
    size_t need = (size_t)b->n_ctx * (size_t)b->n_chunk;
    bool same = (size_t)n >= need && !memcmp(toks, b->tokens, need * sizeof *toks);
    free(toks);
    if (same) return CLI_OK;
    fprintf(stderr,
            "lmc: error: %s does not tokenize to the tokens of the base %s (another text or "
            "tokenizer): KL divergence compares the same token stream\n",
            o->file, o->base);
    return CLI_ERR;
}

static void print_kld_line(int chunk, const ppl_kld *k) {
    double lp, lpu, lb, lbu, kl, klu, mse, mseu;
    ppl_mean_unc(k->sum_nll, k->sum_nll2, k->count, &lp, &lpu);
    ppl_mean_unc(k->sum_nll_base, k->sum_nll_base2, k->count, &lb, &lbu);
    const double cov = ppl_cov(k->sum_nll, k->sum_nll_base, k->sum_nll_nll_base, k->count);
    ppl_mean_unc(k->sum_kld, k->sum_kld2, k->count, &kl, &klu);
    ppl_mean_unc(k->sum_p_diff2, k->sum_p_diff4, k->count, &mse, &mseu);
    const double rms = sqrt(mse), top = 1. * k->n_same_top / k->count;
    printf("%4d    %9.4lf ± %9.4lf    %10.5lf ± %10.5lf    %10.5lf ± %10.5lf    %6.3lf ± %6.3lf %%"
           "    %6.3lf ± %6.3lf %%\n",
           chunk, exp(lp), exp(lp) * lpu, lp - lb, sqrt(lpu * lpu + lbu * lbu - 2.0 * cov), kl, klu,
           100.0 * rms, 100.0 * 0.5 / rms * mseu, 100.0 * top,
           100.0 * sqrt(top * (1 - top) / (k->count - 1)));
    fflush(stdout);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static void print_kld_summary(const kld_run *kr, bool json) {
    const ppl_kld *k = &kr->k;
    const size_t n = k->count;
    double lp, lpu, lb, lbu, kl, klu, pd, pdu, mse, mseu;
    ppl_mean_unc(k->sum_nll, k->sum_nll2, n, &lp, &lpu);
    ppl_mean_unc(k->sum_nll_base, k->sum_nll_base2, n, &lb, &lbu);
    const double cov = ppl_cov(k->sum_nll, k->sum_nll_base, k->sum_nll_nll_base, n);
    ppl_mean_unc(k->sum_kld, k->sum_kld2, n, &kl, &klu);
    ppl_mean_unc(k->sum_p_diff, k->sum_p_diff2, n, &pd, &pdu);
    ppl_mean_unc(k->sum_p_diff2, k->sum_p_diff4, n, &mse, &mseu);
    qsort(kr->kld, n, sizeof *kr->kld, cmp_float);
    qsort(kr->p_diff, n, sizeof *kr->p_diff, cmp_float);
    const double ppl = exp(lp), ppl_b = exp(lb);
    /* rounding can make the variance of a near-zero difference slightly negative: report 0 */
    const double ratio_var = lpu * lpu + lbu * lbu - 2 * cov;
    const double ratio_u = ratio_var > 0 ? sqrt(ratio_var) : 0;
    const double rms = sqrt(mse), top = 1.0 * k->n_same_top / n;
    static const float fr[] = {0.999f, 0.99f, 0.95f, 0.9f, 0.1f, 0.05f, 0.01f, 0.001f};
    static const char *const fn[] = {"99.9%", "99.0%", "95.0%", "90.0%",
                                     "10.0%", " 5.0%", " 1.0%", " 0.1%"};
    if (json) {
        printf("{\"n_scored\": %zu, \"ppl\": %.6f, \"ppl_unc\": %.6f, \"ppl_base\": %.6f, "
               "\"ppl_base_unc\": %.6f, \"ln_ppl_ratio\": %.6f, \"ln_ppl_ratio_unc\": %.6f, "
               "\"ppl_ratio\": %.6f, \"kld\": %.8f, \"kld_unc\": %.8f, \"kld_max\": %.6f, "
               "\"kld_median\": %.8f, \"kld_min\": %.8f, \"kld_percentiles\": {",
               n, ppl, ppl * lpu, ppl_b, ppl_b * lbu, lp - lb, ratio_u, exp(lp - lb), kl, klu,
               kr->kld[n - 1], ppl_median(kr->kld, n), kr->kld[0]);
        for (int i = 0; i < 8; i++)
            printf("%s\"%.1f\": %.6f", i ? ", " : "", 100 * fr[i],
                   ppl_percentile(kr->kld, n, fr[i]));
        printf("}, \"rms_dp\": %.6f, \"same_top_p\": %.6f, \"same_top_p_unc\": %.6f}\n", rms, top,
               sqrt(top * (1.0 - top) / (n - 1)));
        return;
    }
    printf("\n====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6lf ± %10.6lf\n", ppl, ppl * lpu);
    printf("Mean PPL(base)                : %10.6lf ± %10.6lf\n", ppl_b, ppl_b * lbu);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2lf%%\n", 100.0 * cov / (lpu * lbu));
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6lf ± %10.6lf\n", lp - lb, ratio_u);
    printf("Mean PPL(Q)/PPL(base)         : %10.6lf ± %10.6lf\n", exp(lp - lb),
           exp(lp - lb) * ratio_u);
    const double pcov = ppl * ppl_b * cov, pu = ppl * lpu, pbu = ppl_b * lbu;
    const double diff_var = pu * pu + pbu * pbu - 2.0 * pcov;
    printf("Mean PPL(Q)-PPL(base)         : %10.6lf ± %10.6lf\n", ppl - ppl_b,
           diff_var > 0 ? sqrt(diff_var) : 0);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6lf ± %10.6lf\n", kl, klu);
    printf("Maximum KLD: %10.6f\n", kr->kld[n - 1]);
    for (int i = 0; i < 8; i++) {
        if (i == 4) printf("Median  KLD: %10.6f\n", ppl_median(kr->kld, n));
        printf("%s   KLD: %10.6f\n", fn[i], ppl_percentile(kr->kld, n, fr[i]));
    }
    printf("Minimum KLD: %10.6f\n", kr->kld[0]);
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %6.3lf ± %5.3lf %%\n", 100.0 * pd, 100.0 * pdu);
    printf("Maximum Δp: %6.3lf%%\n", 100.0 * kr->p_diff[n - 1]);
    printf("Median  Δp: %6.3lf%%\n", 100.0 * ppl_median(kr->p_diff, n));
    printf("Minimum Δp: %6.3lf%%\n", 100.0 * kr->p_diff[0]);
    printf("RMS Δp    : %6.3lf ± %5.3lf %%\n", 100.0 * rms, 100.0 * 0.5 / rms * mseu);
    printf("Same top p: %6.3lf ± %5.3lf %%\n", 100.0 * top,
           100.0 * sqrt(top * (1.0 - top) / (n - 1)));
}

static int kld_chunks(runner *r, const ppl_opts *o, base_file *b, int n_chunk, kld_run *kr) {
    const int n_score = r->n_ctx - 1 - r->first, nv = ppl_record_len(r->n_vocab);
    const size_t rec_n = (size_t)n_score * (size_t)nv;
    uint16_t *rec = malloc(rec_n * sizeof *rec);
    if (!rec) return cli_fail(LMC_ERR_OOM, "perplexity");
    int rc = CLI_OK;
    if (!o->json)
        printf("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence    "
               "          Δp RMS            Same top p\n");
    for (int i = 0; i < n_chunk && !rc; i++) {
        const int32_t *chunk = b->tokens + (size_t)i * b->n_ctx;
        const float *logits;
        if (fread(rec, sizeof *rec, rec_n, b->fp) != rec_n) {
            fprintf(stderr, "lmc: error: %s: truncated at chunk %d\n", o->base, i + 1);
            rc = CLI_ERR;
            break;
        }
        double tc = now_s();
        lmc_status st = run_chunk(r, chunk, &logits);
        if (st) {
            rc = cli_fail(st, "decode");
            break;
        }
        if (i == 0) print_eta(now_s() - tc, n_chunk);
        for (int k = 0; k < n_score; k++) {
            size_t at = kr->k.count;
            kr->kld[at] =
                (float)ppl_kld_add(&kr->k, r->n_vocab, logits + (size_t)k * r->n_vocab,
                                   rec + (size_t)k * nv, chunk[r->first + k + 1], &kr->p_diff[at]);
        }
        if (!o->json) print_kld_line(i + 1, &kr->k);
    }
    free(rec);
    return rc;
}

static int do_kld(const ppl_opts *o, lmc_model *model) {
    base_file b;
    runner r = {0};
    kld_run kr = {0};
    int rc = base_open(o->base, &b, lmc_model_n_vocab(model));
    if (!rc && o->file) rc = check_text(o, model, &b);
    if (!rc) rc = runner_init(&r, o, model, (int32_t)b.n_ctx);
    int n_chunk = b.n_chunk;
    if (o->n_chunks > 0 && o->n_chunks < n_chunk) n_chunk = o->n_chunks;
    size_t n = (size_t)n_chunk * (size_t)(b.n_ctx - 1 - b.n_ctx / 2);
    if (!rc && (!(kr.kld = malloc(n * sizeof(float))) || !(kr.p_diff = malloc(n * sizeof(float)))))
        rc = cli_fail(LMC_ERR_OOM, "perplexity");
    double t0 = now_s();
    if (!rc) rc = kld_chunks(&r, o, &b, n_chunk, &kr);
    if (!rc) {
        double s = now_s() - t0;
        if (kr.k.count < 100)
            fprintf(stderr, "lmc perplexity: fewer than 100 tokens scored: no statistics\n");
        else
            print_kld_summary(&kr, o->json);
        fprintf(stderr, "lmc perplexity: %d chunks of %u tokens in %.2f s (%.1f tok/s)\n", n_chunk,
                b.n_ctx, s, n_chunk * (double)b.n_ctx / s);
    }
    free(kr.kld);
    free(kr.p_diff);
    runner_free(&r);
    base_close(&b);
    return rc;
}

int cmd_perplexity(int argc, char **argv) {
    ppl_opts o = {.device = "auto", .n_ctx = 512, .n_batch = 2048, .n_gpu_layers = -1};
    for (int i = 1; i < argc; i++) {
        flag_val v;
        lmc_device dev;
        int r = flag_next(CMD_PERPLEXITY, argc, argv, &i, &v);
        if (r < 0) return CLI_USAGE;
        if (r == 0) return cli_usage_error("perplexity", "unexpected argument '%s'", argv[i]);
        switch (v.id) {
        case FL_HELP:
            usage(stdout);
            return CLI_OK;
        case FL_MODEL:
            o.model = v.str;
            break;
        case FL_FILE:
            o.file = v.str;
            break;
        case FL_CTX:
            o.n_ctx = v.i;
            break;
        case FL_BATCH:
            o.n_batch = v.i;
            break;
        case FL_THREADS:
            o.n_threads = v.i;
            break;
        case FL_NGL:
            o.n_gpu_layers = v.i;
            break;
        case FL_DEVICE:
            if (!cli_parse_device(CMD_PERPLEXITY, &v, &dev)) return CLI_USAGE;
            o.device = v.str;
            break;
        case FL_CHUNKS:
            o.n_chunks = v.i;
            break;
        case FL_CACHE_TYPE_K:
            if (!cli_parse_kv_type(CMD_PERPLEXITY, &v, &o.type_k)) return CLI_USAGE;
            break;
        case FL_CACHE_TYPE_V:
            if (!cli_parse_kv_type(CMD_PERPLEXITY, &v, &o.type_v)) return CLI_USAGE;
            break;
        case FL_KL_BASE:
            o.base = v.str;
            break;
        case FL_KL:
            o.kld = true;
            break;
        case FL_JSON:
            o.json = true;
            break;
        default:
            return cli_usage_error("perplexity", "option %s is not handled by perplexity", v.flag);
        }
    }
    if (o.n_ctx > 0 && o.n_ctx < 16)
        return cli_usage_error("perplexity", "-c must be 0 (the model's) or at least 16");
    if (o.kld && !o.base)
        return cli_usage_error("perplexity", "--kl-divergence needs --kl-divergence-base FILE");
    if (!o.kld && !o.file) return cli_usage_error("perplexity", "give the text with -f FILE");
    lmc_model *model = cli_load_model(o.model, false, true);
    if (!model) return CLI_ERR;
    if (o.n_ctx == 0)
        o.n_ctx = lmc_model_n_ctx_train(model) >= 16 ? lmc_model_n_ctx_train(model) : 512;
    int rc = o.kld ? do_kld(&o, model) : do_perplexity(&o, model);
    lmc_model_free(model);
    return rc;
}
