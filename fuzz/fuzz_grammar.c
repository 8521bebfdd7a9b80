/* fuzz_grammar.c — libFuzzer target: the grammar engine. The first byte picks the mode (low bit:
 * GBNF text or a JSON schema converted to GBNF) and the chunk size (bits 1-4) in which the sample
 * is fed; the input is split at the first "\n%%\n" into the grammar (or schema) and a sample text.
 * What must hold: compiling ends in LMC_OK, LMC_ERR_FORMAT or LMC_ERR_UNSUPPORTED (LMC_ERR_OOM
 * under the fuzzer's allocation limit); a schema the converter accepts yields GBNF that compiles
 * (or is refused by a size limit, LMC_ERR_UNSUPPORTED — never a syntax error in the converter's
 * output); feeding the sample chunk by chunk, grammar_probe_bytes agrees with grammar_accept_bytes
 * on every chunk, and a refused chunk leaves the state unchanged (the same chunk is refused again).
 * Never a crash, hang or leak. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "grammar.h"

#include <stdlib.h>
#include <string.h>

static const char k_sep[] = "\n%%\n";

/* The matcher runs byte-level here (no vocabulary), so grammar_vocab_init is never called; the
 * fuzz core leaves the model out, and this definition satisfies the link (reaching it is a bug). */
int32_t lmc_model_n_vocab(const lmc_model *model) {
    (void)model;
    abort();
}

static void feed(const lmc_grammar *g, const char *s, size_t n, size_t chunk) {
    grammar_matcher *m = grammar_matcher_init(g, NULL);
    if (!m) return; /* a root that can match nothing may be refused here */
    for (size_t i = 0; i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        bool probe = grammar_probe_bytes(m, s + i, k);
        bool ok = grammar_accept_bytes(m, s + i, k);
        if (probe != ok) abort();
        if (!ok) {
            if (grammar_accept_bytes(m, s + i, k)) abort(); /* a refusal must not move the state */
            break;
        }
    }
    (void)grammar_can_end(m);
    grammar_matcher_free(m);
}

static int allowed(lmc_status st) {
    return st == LMC_OK || st == LMC_ERR_FORMAT || st == LMC_ERR_UNSUPPORTED || st == LMC_ERR_OOM;
}

static void compile_and_feed(const char *gbnf, size_t len, const char *sample, size_t n,
                             size_t chunk, int from_schema) {
    lmc_grammar *g = NULL;
    lmc_status st = lmc_grammar_init_gbnf(gbnf, len, NULL, &g);
    if (!allowed(st) || (from_schema && st == LMC_ERR_FORMAT)) abort();
    if (st == LMC_OK && !g) abort();
    if (g) feed(g, sample, n, chunk);
    lmc_grammar_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int schema = data[0] & 1;
    size_t chunk = 1 + ((data[0] >> 1) & 15);
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    const char *sep = memmem(text, n, k_sep, sizeof k_sep - 1);
    size_t tlen = sep ? (size_t)(sep - text) : n;
    const char *sample = sep ? sep + sizeof k_sep - 1 : "";
    size_t slen = sep ? n - tlen - (sizeof k_sep - 1) : 0;
    if (!schema) {
        compile_and_feed(text, tlen, sample, slen, chunk, 0);
        return 0;
    }
    char *gbnf = NULL;
    lmc_status st = lmc_json_schema_to_gbnf(text, tlen, &gbnf);
    if (!allowed(st)) abort();
    if (st == LMC_OK) {
        if (!gbnf) abort();
        compile_and_feed(gbnf, strlen(gbnf), sample, slen, chunk, 1);
    }
    free(gbnf);
    return 0;
}
