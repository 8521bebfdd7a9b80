/* test_tokenizer.c — the tokenizer against independent references: every case of the .inp files
 * beside the shared vocab GGUFs must give exactly the ids of the matching .out (made by Hugging
 * Face tokenizers), stories260K's prompt ids, detokenize(tokenize(s)) == s, special-token parsing,
 * streaming UTF-8 hold-back, buffer-size conventions, and clear errors for GGUFs without (or with
 * broken) tokenizers. */
#include "lmc.h"
#include "testutil.h"
#include "tokenizer.h"
#include "util.h"

#include <stdint.h>
#include <string.h>

#define CASE_SEP "\n__ggml_vocab_test__\n"

/* ---- a tiny in-memory GGUF writer for the synthetic vocabularies ------------------------------
 */
typedef struct {
    t_buf buf;
    uint64_t n_kv;
} gb;

static void gb_put(gb *b, const void *d, size_t n) {
    t_buf_put(&b->buf, d, n);
}
static void gb_u32(gb *b, uint32_t x) {
    gb_put(b, &x, 4);
}
static void gb_u64(gb *b, uint64_t x) {
    gb_put(b, &x, 8);
}
static void gb_s(gb *b, const char *s) {
    gb_u64(b, strlen(s));
    gb_put(b, s, strlen(s));
}
static void kv_str(gb *b, const char *k, const char *v) {
    gb_s(b, k);
    gb_u32(b, 8);
    gb_s(b, v);
    b->n_kv++;
}
static void kv_u32(gb *b, const char *k, uint32_t v) {
    gb_s(b, k);
    gb_u32(b, 4);
    gb_u32(b, v);
    b->n_kv++;
}
static void kv_strs(gb *b, const char *k, const char *const *v, size_t n) {
    gb_s(b, k);
    gb_u32(b, 9);
    gb_u32(b, 8);
    gb_u64(b, n);
    for (size_t i = 0; i < n; i++)
        gb_s(b, v[i]);
    b->n_kv++;
}
static void kv_f32s(gb *b, const char *k, const float *v, size_t n) {
    gb_s(b, k);
    gb_u32(b, 9);
    gb_u32(b, 6);
    gb_u64(b, n);
    gb_put(b, v, n * 4);
    b->n_kv++;
}
static void kv_i32s(gb *b, const char *k, const int32_t *v, size_t n) {
    gb_s(b, k);
    gb_u32(b, 9);
    gb_u32(b, 5);
    gb_u64(b, n);
    gb_put(b, v, n * 4);
    b->n_kv++;
}
/* Opens the key/values in body as a GGUF v3 with no tensors and loads its tokenizer. */
static lmc_status load_synthetic(gb *body, struct tok_vocab **v) {
    gb f = {0};
    gb_put(&f, "GGUF", 4);
    gb_u32(&f, 3);
    gb_u64(&f, 0);
    gb_u64(&f, body->n_kv);
    gb_put(&f, body->buf.p, body->buf.n);
    gguf_file *g = NULL;
    lmc_status st = gguf_open_buffer(f.buf.p, f.buf.n, "synthetic.gguf", &g);
    *v = NULL;
    if (st == LMC_OK) st = tok_load(g, v);
    gguf_close(g); /* the vocabulary keeps its own copies */
    free(f.buf.p);
    free(body->buf.p);
    memset(body, 0, sizeof *body);
    return st;
}

static bool utf8_valid(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 0;
        if (!l || i + l > n) return false;
        for (size_t k = 1; k < l; k++)
            if (((unsigned char)s[i + k] & 0xc0) != 0x80) return false;
        i += l;
    }
    return true;
}

/* ---- synthetic vocabularies: errors and edge cases --------------------------------------------
 */
static void test_synthetic(void) {
    struct tok_vocab *v;
    gb b = {0};

    kv_str(&b, "general.architecture", "llama");
    CHECK(load_synthetic(&b, &v) == LMC_ERR_FORMAT && strstr(lmc_last_error(), "no tokenizer"),
          "GGUF without tokenizer: %s", lmc_last_error());

    const char *toks[] = {"<unk>",
                          "<s>",
                          "</s>",
                          "\xe2\x96\x81",
                          "a",
                          "b",
                          "ab",
                          "\xe2\x96\x81"
                          "ab",
                          "<|x|>",
                          "<u>"};
    const float scores[] = {0, 0, 0, -1, -2, -3, -0.5f, -0.25f, 0, 0};
    const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 3, 4};
    const size_t nt = sizeof toks / sizeof toks[0];

    kv_str(&b, "tokenizer.ggml.model", "bert");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, nt);
    CHECK(load_synthetic(&b, &v) == LMC_ERR_UNSUPPORTED && strstr(lmc_last_error(), "bert"),
          "bert: %s", lmc_last_error());

    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, nt);
    kv_f32s(&b, "tokenizer.ggml.scores", scores, nt - 1);
    CHECK(load_synthetic(&b, &v) == LMC_ERR_FORMAT && strstr(lmc_last_error(), "scores"),
          "short scores: %s", lmc_last_error());

    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, nt);
    kv_strs(&b, "tokenizer.ggml.token_type", toks, nt);
    CHECK(load_synthetic(&b, &v) == LMC_ERR_FORMAT && strstr(lmc_last_error(), "token_type"),
          "string types: %s", lmc_last_error());

    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, nt);
    CHECK(load_synthetic(&b, &v) == LMC_ERR_FORMAT && strstr(lmc_last_error(), "merges"),
          "no merges: %s", lmc_last_error());

    /* SentencePiece without byte tokens: characters outside the vocabulary become <unk> */
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, nt);
    kv_f32s(&b, "tokenizer.ggml.scores", scores, nt);
    kv_i32s(&b, "tokenizer.ggml.token_type", types, nt);
    kv_u32(&b, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(&b, "tokenizer.ggml.eos_token_id", 99); /* out of range: treated as absent */
    CHECK(load_synthetic(&b, &v) == LMC_OK, "spm: %s", lmc_last_error());
    if (v) {
        int32_t *ids;
        size_t n;
        CHECK(tok_encode(v, "ab c<u><|x|>", 12, true, false, &ids, &n) == LMC_OK, "%s",
              lmc_last_error());
        /* BOS, "▁ab", "▁", <unk> for 'c', user-defined <u> (always matched), then "<|x|>" as text:
         * '<' '|' 'x' '|' '>' are all unknown; a leading space follows the user-defined token */
        int32_t want[] = {1, 7, 3, 0, 9, 3, 0, 0, 0, 0, 0};
        CHECK(n == sizeof want / sizeof want[0] && !memcmp(ids, want, sizeof want),
              "spm ids (n=%zu)", n);
        free(ids);
        CHECK(tok_encode(v, "<|x|>ab", 7, false, true, &ids, &n) == LMC_OK, "%s", lmc_last_error());
        int32_t want2[] = {8, 7};
        CHECK(n == 2 && !memcmp(ids, want2, sizeof want2), "spm parse_special (n=%zu)", n);
        free(ids);
        CHECK(tok_eos(v) == -1, "eos out of range must read as absent");
        CHECK(tok_warning(v) == NULL, "no warning expected");
        tok_free(v);
    }

    /* byte-level BPE with an unknown pre-tokenizer: a warning, and the GPT-2 rules */
    const char *btoks[] = {"a",
                           "b",
                           "c",
                           "ab",
                           "abc",
                           "\xc4\xa0" /* Ġ = space */,
                           "\xc4\xa0"
                           "a"};
    const char *merges[] = {"a b", "ab c", "\xc4\xa0 a",
                            "zz top" /* parts not in the vocabulary: ignored */};
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_str(&b, "tokenizer.ggml.pre", "no-such-pre");
    kv_strs(&b, "tokenizer.ggml.tokens", btoks, 7);
    kv_strs(&b, "tokenizer.ggml.merges", merges, 4);
    CHECK(load_synthetic(&b, &v) == LMC_OK, "bpe: %s", lmc_last_error());
    if (v) {
        const char *w = tok_warning(v);
        CHECK(w && strstr(w, "no-such-pre") && strstr(w, "GPT-2"), "warning: %s", w ? w : "(none)");
        int32_t *ids;
        size_t n;
        CHECK(tok_encode(v, "abc ab a", 8, true, false, &ids, &n) == LMC_OK, "%s",
              lmc_last_error());
        /* "abc" | " ab" | " a": in " ab" the merge "a b" (rank 0) beats "Ġ a" (rank 2), and "Ġ ab"
         * is no merge, so it stays Ġ + ab */
        int32_t want[] = {4, 5, 3, 6};
        CHECK(n == 4 && !memcmp(ids, want, sizeof want), "bpe ids (n=%zu)", n);
        free(ids);
        CHECK(tok_encode(v, "x", 1, false, false, &ids, &n) == LMC_ERR_UNSUPPORTED,
              "a byte without token and no <unk> must fail");
        char buf[8];
        CHECK(tok_piece(v, 6, buf, sizeof buf, false) == 2 && !memcmp(buf, " a", 2), "bpe piece");
        CHECK(tok_piece(v, 7, buf, sizeof buf, false) == -1, "out of range piece");
        tok_free(v);
    }
}

/* ---- the shared vocabularies ------------------------------------------------------------------
 */
static int split_cases(char *data, size_t len, char **starts, size_t *lens, int max) {
    int n = 0;
    const size_t sl = strlen(CASE_SEP);
    for (size_t pos = 0; pos < len && n < max;) {
        char *end = memmem(data + pos, len - pos, CASE_SEP, sl);
        size_t l = end ? (size_t)(end - (data + pos)) : len - pos;
        starts[n] = data + pos;
        lens[n++] = l;
        pos += l + (end ? sl : 0);
    }
    return n;
}

static int parse_ids(const char *line, int32_t *ids, int max) {
    int n = 0;
    for (const char *p = line; *p && *p != '\n' && n < max;) {
        char *e;
        long x = strtol(p, &e, 10);
        if (e == p) break;
        ids[n++] = (int32_t)x;
        p = e;
    }
    return n;
}

/* Detokenizes ids with the streaming detokenizer; every chunk must be valid UTF-8 when the whole
 * is. */
static char *detok_all(const lmc_model *m, const int32_t *ids, int32_t n, bool special,
                       bool *chunks_valid, size_t *out_len) {
    lmc_detok *d = lmc_detok_init(m, special);
    size_t cap = 64, len = 0, l;
    char *out = malloc(cap);
    *chunks_valid = true;
    for (int32_t i = 0; i <= n; i++) {
        const char *s = i < n ? lmc_detok_push(d, ids[i], &l) : lmc_detok_flush(d, &l);
        if (!s) break;
        if (i < n && !utf8_valid(s, l)) *chunks_valid = false;
        while (len + l + 1 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, s, l);
        len += l;
    }
    out[len] = 0;
    if (out_len) *out_len = len;
    lmc_detok_free(d);
    return out;
}

static void test_vocab(const char *name, bool spm) {
    char rel[256];
    snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf", name);
    const char *path = t_shared(rel);
    lmc_model_params mp = lmc_model_default_params();
    mp.vocab_only = true;
    lmc_model *m = NULL;
    lmc_status st = lmc_model_load(path, &mp, &m);
    CHECK(st == LMC_OK, "%s: %s", name, lmc_last_error());
    if (st != LMC_OK) return;
    char ip[4200], op[4200];
    snprintf(ip, sizeof ip, "%s.inp", path);
    snprintf(op, sizeof op, "%s.out", path);
    size_t il, ol;
    char *inp = t_read_file(ip, &il), *out = t_read_file(op, &ol);
    CHECK(inp && out, "%s: .inp/.out missing", name);
    if (!inp || !out) goto done;
    char *cs[256];
    size_t cl[256];
    int nc = split_cases(inp, il, cs, cl, 256);
    int pass = 0, rt_pass = 0;
    const char *line = out;
    static int32_t want[65536], got[65536];
    for (int c = 0; c < nc; c++) {
        int nw = line ? parse_ids(line, want, 65536) : -1;
        int32_t ng = lmc_tokenize(m, cs[c], (int32_t)cl[c], got, 65536, false, false);
        bool ok = ng == nw && !memcmp(got, want, (size_t)(ng > 0 ? ng : 0) * sizeof *got);
        CHECK(ok, "%s case %d: %d ids, expected %d", name, c, ng, nw);
        pass += ok;
        /* the allocating form: the same ids (an array to free even for none) */
        int32_t na = -1;
        int32_t *a = lmc_tokenize_alloc(m, cs[c], (int32_t)cl[c], false, false, &na);
        CHECK(a && na == nw && !memcmp(a, want, (size_t)(na > 0 ? na : 0) * sizeof *a),
              "%s case %d: lmc_tokenize_alloc gives %d ids, expected %d", name, c, na, nw);
        free(a);
        line = line ? strchr(line, '\n') : NULL;
        if (line) line++;

        /* round trip. SentencePiece rule: the text is tokenized with BOS and the vocabulary's
         * leading space; the detokenizer drops the single leading space of the first piece after
         * BOS, so the text comes back exactly. BPE: no BOS, exact bytes. */
        ng = lmc_tokenize(m, cs[c], (int32_t)cl[c], got, 65536, spm, false);
        bool chunks_valid;
        char *back = detok_all(m, got, ng, false, &chunks_valid, NULL);
        bool rt = strlen(back) == cl[c] && !memcmp(back, cs[c], cl[c]) && chunks_valid;
        CHECK(rt, "%s case %d: round trip gives '%s'", name, c, back);
        rt_pass += rt;
        free(back);
    }
    CHECK(nc > 0 && line && *line == 0, "%s: %d cases but the .out has a different number of lines",
          name, nc);
    printf("%-14s ids %d/%d, round trip %d/%d\n", name, pass, nc, rt_pass, nc);

    /* random texts from fragments (words, runs of spaces, newlines, digits, multi-byte characters,
     * contractions, special-token text, stray UTF-8 bytes): the round trip must be exact. Not
     * drawn: bytes C0, C1, F5-FF (never in UTF-8; some byte-level vocabularies lack them or map
     * them to user-defined tokens); for SentencePiece a literal U+2581 (it is the vocabulary's
     * space), the text of user-defined tokens (phi-3's "</s>": a leading space follows a special
     * token) and a stray lead byte (as in llama.cpp, it takes the next bytes into its character:
     * before a space, the escaped space then comes back as its 3 bytes); for byte-level BPE no
     * invalid UTF-8 at all (llama.cpp reads each bad byte as U+FFFD). */
    static const char *const frags[] = {"Hello",
                                        " world",
                                        "  ",
                                        "   ",
                                        "\t",
                                        "\n",
                                        "\n\n",
                                        " \n",
                                        "123",
                                        "4567",
                                        "'s",
                                        "'LL",
                                        "\xc3\xbc",
                                        "\xe2\x96\x81",
                                        "\xf0\x9f\xa6\x99",
                                        "\xe4\xbd\xa0\xe5\xa5\xbd",
                                        "\xd0\xbf\xd1\x80\xd0\xb8",
                                        "<|im_start|>",
                                        "<s>",
                                        "</s>",
                                        "<think>",
                                        "!!",
                                        "...",
                                        "\x80",
                                        "\xc3",
                                        "\x00",
                                        " \xe2\x80\x83 ",
                                        "\r\n",
                                        "a"};
    const int nf = (int)(sizeof frags / sizeof frags[0]);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int rnd_pass = 0, n_rnd = 200;
    char text[512];
    for (int c = 0; c < n_rnd; c++) {
        size_t tl = 0;
        int k = (int)(rng >> 60) + 1;
        for (int j = 0; j < k * 2; j++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            const char *f = frags[(rng >> 33) % (uint64_t)nf];
            if (spm && (!strcmp(f, "\xe2\x96\x81") || !strcmp(f, "</s>") || !strcmp(f, "\xc3")))
                continue;
            if (!spm && (!strcmp(f, "\x80") || !strcmp(f, "\xc3"))) continue;
            size_t fl = f[0] ? strlen(f) : 1; /* "\x00" is one NUL byte */
            if (tl + fl < sizeof text) {
                memcpy(text + tl, f, fl);
                tl += fl;
            }
        }
        int32_t ng = lmc_tokenize(m, text, (int32_t)tl, got, 65536, spm, false);
        bool cv;
        size_t bl;
        char *back = detok_all(m, got, ng, false, &cv, &bl);
        bool ok = ng >= 0 && bl == tl && !memcmp(back, text, tl);
        CHECK(ok, "%s random case %d: round trip differs", name, c);
        rnd_pass += ok;
        free(back);
        if (!spm) { /* BPE with special tokens parsed and rendered: exact as well */
            ng = lmc_tokenize(m, text, (int32_t)tl, got, 65536, false, true);
            back = detok_all(m, got, ng, true, &cv, &bl);
            CHECK(ng >= 0 && bl == tl && !memcmp(back, text, tl),
                  "%s random case %d: special round trip", name, c);
            free(back);
        }
    }
    printf("%-14s random round trips %d/%d\n", name, rnd_pass, n_rnd);
done:
    free(inp);
    free(out);
    lmc_model_free(m);
}

static lmc_model *load(const char *rel) {
    lmc_model_params mp = lmc_model_default_params();
    mp.vocab_only = true;
    lmc_model *m = NULL;
    lmc_status st = lmc_model_load(t_shared(rel), &mp, &m);
    CHECK(st == LMC_OK, "%s: %s", rel, lmc_last_error());
    return m;
}

static void test_stories(void) {
    lmc_model *m = load("models/stories260K.gguf");
    if (!m) return;
    int32_t ids[16];
    int32_t n = lmc_tokenize(m, "Once upon a time", -1, ids, 16, true, false);
    int32_t want[] = {1, 403, 407, 261, 378};
    CHECK(n == 5 && !memcmp(ids, want, sizeof want), "stories260K: n=%d", n);
    CHECK(lmc_tokenize(m, "Once upon a time", -1, ids, 3, true, false) == -5,
          "small buffer gives -(needed)");
    int32_t na = -1;
    int32_t *a = lmc_tokenize_alloc(m, "Once upon a time", -1, true, false, &na);
    CHECK(a && na == 5 && !memcmp(a, want, sizeof want), "lmc_tokenize_alloc: n=%d", na);
    free(a);
    a = lmc_tokenize_alloc(m, "", 0, false, false, &na); /* no tokens: still an array */
    CHECK(a && na == 0, "lmc_tokenize_alloc of nothing: %p, n=%d", (void *)a, na);
    free(a);
    CHECK(lmc_token_bos(m) == 1 && lmc_token_eos(m) == 2 && lmc_vocab_add_bos(m),
          "stories specials");
    CHECK(lmc_token_is_eog(m, 2) && !lmc_token_is_eog(m, 1) && !lmc_token_is_eog(m, 100000),
          "stories eog");
    char buf[16];
    CHECK(lmc_token_to_piece(m, 403, buf, sizeof buf, false) == 5 && !memcmp(buf, " Once", 5),
          "piece ' Once'");
    CHECK(lmc_token_to_piece(m, 403, buf, 2, false) == -5, "piece: small buffer gives -(needed)");
    CHECK(lmc_token_to_piece(m, 1, buf, sizeof buf, false) == 0,
          "BOS renders nothing without special");
    CHECK(lmc_token_to_piece(m, 1, buf, sizeof buf, true) == 3 && !memcmp(buf, "<s>", 3),
          "BOS with special");
    CHECK(lmc_token_to_piece(m, 512, buf, sizeof buf, true) == INT32_MIN, "id out of range");
    CHECK(lmc_token_text(m, 403) && !strcmp(lmc_token_text(m, 403), "\xe2\x96\x81Once"),
          "token text");
    CHECK(lmc_token_text(m, -1) == NULL, "token text out of range");
    CHECK(lmc_vocab_warning(m) == NULL, "no warning for SPM");

    /* streaming: an emoji spelled in byte tokens is held back until complete */
    n = lmc_tokenize(m, "\xf0\x9f\xa6\x99!", -1, ids, 16, true, false);
    CHECK(n == 7 && ids[0] == 1, "emoji as bytes: n=%d", n); /* BOS ▁ <F0> <9F> <A6> <99> ! */
    if (n == 7) {
        lmc_detok *d = lmc_detok_init(m, false);
        size_t l;
        const char *s;
        s = lmc_detok_push(d, ids[0], &l);
        CHECK(s && l == 0, "BOS gives nothing");
        s = lmc_detok_push(d, ids[1], &l);
        CHECK(s && l == 0, "leading space after BOS dropped (got %zu bytes)", l);
        for (int i = 2; i < 5; i++) {
            s = lmc_detok_push(d, ids[i], &l);
            CHECK(s && l == 0, "incomplete UTF-8 held back (token %d)", i);
        }
        s = lmc_detok_push(d, ids[5], &l);
        CHECK(s && l == 4 && !memcmp(s, "\xf0\x9f\xa6\x99", 4), "emoji complete");
        s = lmc_detok_push(d, ids[2], &l); /* a lone lead byte stays pending ... */
        CHECK(s && l == 0, "lead byte held");
        s = lmc_detok_flush(d, &l); /* ... until flush */
        CHECK(s && l == 1 && (unsigned char)s[0] == 0xf0, "flush returns what was held");
        s = lmc_detok_push(d, ids[6], &l);
        CHECK(s && l == 1 && s[0] == '!', "after flush");
        CHECK(lmc_detok_push(d, 9999, &l) == NULL && l == 0, "bad id");
        lmc_detok_free(d);
    }
    lmc_detok_free(NULL);
    lmc_model_free(m);
}

static void test_special(void) {
    lmc_model *m = load("models/vocab/ggml-vocab-qwen2.gguf");
    if (!m) return;
    int32_t ids[32];
    int32_t n = lmc_tokenize(m, "<|im_start|>user", -1, ids, 32, false, true);
    CHECK(n == 2 && ids[0] == 151644 && ids[1] == 872, "parse_special: n=%d first=%d", n,
          n > 0 ? ids[0] : -1);
    n = lmc_tokenize(m, "<|im_start|>user", -1, ids, 32, false, false);
    CHECK(n > 2 && ids[0] != 151644, "plain mode keeps the text: n=%d", n);
    for (int32_t i = 0; i < n; i++)
        CHECK(ids[i] < 151643, "plain mode gave special token %d", ids[i]);
    /* user-defined tokens (type 4) are matched in plain mode too, like Hugging Face's added tokens
     */
    n = lmc_tokenize(m, "<think>", -1, ids, 32, false, false);
    CHECK(n == 1 && ids[0] == 151667, "user-defined <think>: n=%d", n);
    CHECK(lmc_token_is_eog(m, 151645) && lmc_token_is_eog(m, 151643) &&
              !lmc_token_is_eog(m, 151644),
          "qwen2 eog");
    CHECK(!lmc_vocab_add_bos(m) && lmc_token_bos(m) == -1, "qwen2 has no BOS");
    /* control tokens render only with special */
    char buf[32];
    CHECK(lmc_token_to_piece(m, 151644, buf, sizeof buf, false) == 0, "control without special");
    CHECK(lmc_token_to_piece(m, 151644, buf, sizeof buf, true) == 12 &&
              !memcmp(buf, "<|im_start|>", 12),
          "control with special");
    /* a long word without spaces stays fast (heap merges, not quadratic) and round-trips */
    size_t big = 200000;
    char *s = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        s[i] = "abcdefghij"[i * 7 % 10];
    s[big] = 0;
    double t0 = lmc_time_s();
    int32_t need = lmc_tokenize(m, s, (int32_t)big, NULL, 0, false, false);
    CHECK(need < 0, "needed count");
    int32_t *many = malloc((size_t)-need * sizeof *many);
    n = lmc_tokenize(m, s, (int32_t)big, many, -need, false, false);
    double dt = lmc_time_s() - t0;
    CHECK(n == -need && dt < 5.0, "long word: %d tokens in %.2f s", n, dt);
    bool cv;
    char *back = detok_all(m, many, n, false, &cv, NULL);
    CHECK(!strcmp(back, s) && cv, "long word round trip");
    free(back);
    free(many);
    free(s);
    /* NUL bytes go through and come back; invalid UTF-8 comes back as U+FFFD per bad byte (as
     * llama.cpp reads it) */
    const char raw[] = "a\xff\xfe b\0c \xc3";
    const char fixed[] = "a\xef\xbf\xbd\xef\xbf\xbd b\0c \xef\xbf\xbd";
    n = lmc_tokenize(m, raw, (int32_t)sizeof raw - 1, ids, 32, false, false);
    CHECK(n > 0, "invalid UTF-8 tokenizes: %d", n);
    if (n > 0) {
        size_t bl;
        back = detok_all(m, ids, n, false, &cv, &bl);
        CHECK(bl == sizeof fixed - 1 && !memcmp(back, fixed, bl), "invalid UTF-8 round trip");
        free(back);
    }
    lmc_model_free(m);
}

int main(void) {
    test_synthetic();
    if (!t_shared("models")) {
        printf("shared data absent: only the synthetic tests ran\n");
        return t_done();
    }
    t_require_shared();
    test_vocab("llama-spm", true);
    test_vocab("phi-3", true);
    test_vocab("llama-bpe", false);
    test_vocab("qwen2", false);
    test_vocab("gpt-2", false);
    test_vocab("starcoder", false);
    test_vocab("deepseek-llm", false);
    test_stories();
    test_special();
    /* bad arguments: NULL with the count zeroed */
    int32_t n = 7;
    CHECK(!lmc_tokenize_alloc(NULL, "a", 1, true, false, &n) && n == 0,
          "lmc_tokenize_alloc without a model");
    return t_done();
}
