/* fuzz_tokenizer.c — libFuzzer target: any bytes as text through the tokenizers of the vocabulary
 * files in LMC_FUZZ_VOCAB_DIR (default ../shared/models/vocab, the test vocabularies). Encoding
 * must succeed on any input, every id must be in range, and for byte-level BPE vocabularies
 * decoding the ids must give the input back exactly (the first byte of the input picks the
 * vocabulary and whether special-token text is parsed). */
#include "gguf.h"
#include "tokenizer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_vocabs[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf",
                                       "ggml-vocab-gpt-2.gguf", "ggml-vocab-qwen2.gguf",
                                       "ggml-vocab-phi-3.gguf"};
#define N_VOCABS (sizeof k_vocabs / sizeof k_vocabs[0])
static struct tok_vocab *g_vocab[N_VOCABS];
static int g_bpe[N_VOCABS];

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (c < 0xC2 || c > 0xF4 || i + len > n) return false;
        unsigned cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("LMC_FUZZ_VOCAB_DIR");
    if (!dir) dir = "../shared/models/vocab";
    int n = 0;
    for (size_t i = 0; i < N_VOCABS; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, k_vocabs[i]);
        gguf_file *f = NULL;
        if (gguf_open(path, &f) != LMC_OK) continue;
        if (tok_load(f, &g_vocab[i]) == LMC_OK) n++;
        char *model = gguf_get_str_dup(f, "tokenizer.ggml.model");
        g_bpe[i] = model && !strcmp(model, "gpt2");
        free(model);
        gguf_close(f);
    }
    if (!n) {
        fprintf(stderr, "fuzz_tokenizer: no vocabulary under %s (set LMC_FUZZ_VOCAB_DIR)\n", dir);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    size_t which = data[0] % N_VOCABS;
    bool parse_special = data[0] & 0x80;
    const struct tok_vocab *v = g_vocab[which];
    if (!v) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids = NULL;
    size_t n = 0;
    if (tok_encode(v, text, len, false, parse_special, &ids, &n) != LMC_OK) abort();
    char *back = malloc(len * 4 + 64);
    size_t m = 0, cap = len * 4 + 64;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok_n_vocab(v)) abort();
        int32_t k = tok_piece(v, ids[i], back + m, cap - m, false);
        if (k < 0) abort();
        m += (size_t)k < cap - m ? (size_t)k : cap - m;
    }
    /* byte-level BPE is lossless on UTF-8 text when special text is not parsed */
    if (g_bpe[which] && !parse_special && utf8_valid(data + 1, len) &&
        (m != len || memcmp(back, text, len)))
        abort();
    free(back);
    free(ids);
    return 0;
}
