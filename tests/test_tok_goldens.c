/* test_tok_goldens.c — the tokenizer against llama.cpp (goldens in tests/data/tok/, made by
 * scripts/make_tok_goldens.py with llama-cpp-python): for each vocabulary, the ids of llama.cpp's
 * test strings and of lmc's hard cases (whitespace, unicode, invalid UTF-8, digits, code, special
 * tokens next to spaces) with and without BOS and special-token parsing, the end-of-generation set,
 * and every token's piece (one FNV hash per mode); then detokenize(tokenize(s)) == s, in one piece
 * and streamed a token at a time. The Gemma-3 vocabulary is read from the lmc cache (skipped when
 * absent); the others from ../shared. */
#include "lmc.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <string.h>

#define CASE_SEP "\n__ggml_vocab_test__\n"

typedef struct {
    char *data; /* the file; cases point into it */
    const char *text[256];
    size_t len[256];
    int n;
} cases;

static bool read_cases(const char *path, cases *c) {
    size_t len;
    c->n = 0;
    if (!(c->data = t_read_file(path, &len))) return false;
    const size_t sl = strlen(CASE_SEP);
    for (size_t pos = 0; pos < len && c->n < 256;) {
        const char *end = memmem(c->data + pos, len - pos, CASE_SEP, sl);
        size_t n = end ? (size_t)(end - (c->data + pos)) : len - pos;
        c->text[c->n] = c->data + pos;
        c->len[c->n++] = n;
        pos += n + (end ? sl : 0);
    }
    return true;
}

static const char *source_path(const char *rel) {
    static char buf[4][1024];
    static int k;
    const char *src = getenv("LMC_SOURCE_DIR");
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", src ? src : ".", rel);
    return buf[k];
}

static const char *cache_path(const char *name) {
    static char buf[1024];
    const char *c = getenv("LMC_CACHE"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (c)
        snprintf(buf, sizeof buf, "%s/%s", c, name);
    else if (x)
        snprintf(buf, sizeof buf, "%s/lmc/%s", x, name);
    else
        snprintf(buf, sizeof buf, "%s/.cache/lmc/%s", h ? h : ".", name);
    return buf;
}

/* One case in one mode: lmc's ids equal the golden's. Returns true when equal. */
static bool same_ids(lmc_model *m, const char *text, size_t len, bool bos, bool special,
                     const cJSON *want) {
    int32_t ids[4096];
    int32_t n = lmc_tokenize(m, text, (int32_t)len, ids, 4096, bos, special);
    if (n < 0 || n != cJSON_GetArraySize(want)) return false;
    for (int32_t i = 0; i < n; i++)
        if (ids[i] != cJSON_GetArrayItem(want, i)->valueint) return false;
    return true;
}

static void check_cases(lmc_model *m, const char *vocab, const char *set, const cases *c,
                        const cJSON *modes) {
    static const char *const names[] = {"plain", "bos", "special", "bos+special"};
    for (int k = 0; k < 4; k++) {
        const cJSON *want = cJSON_GetObjectItem(modes, names[k]);
        CHECK(cJSON_GetArraySize(want) == c->n, "%s %s: %d goldens for %d cases", vocab, set,
              cJSON_GetArraySize(want), c->n);
        int bad = 0;
        for (int i = 0; i < c->n && i < cJSON_GetArraySize(want); i++) {
            bool ok = same_ids(m, c->text[i], c->len[i], k & 1, k & 2, cJSON_GetArrayItem(want, i));
            CHECK(ok, "%s %s %s case %d (%.*s) differs from llama.cpp", vocab, set, names[k], i,
                  (int)(c->len[i] < 60 ? c->len[i] : 60), c->text[i]);
            bad += !ok;
        }
        printf("%-10s %-6s %-12s %d/%d cases as llama.cpp\n", vocab, set, names[k], c->n - bad,
               c->n);
    }
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
    return h;
}

static void check_vocab_tables(lmc_model *m, const char *vocab, const cJSON *g) {
    const cJSON *eog = cJSON_GetObjectItem(g, "eog");
    int32_t n = lmc_model_n_vocab(m), n_eog = 0, bad = 0;
    for (int32_t i = 0; i < n; i++)
        n_eog += lmc_token_is_eog(m, i);
    for (int k = 0; k < cJSON_GetArraySize(eog); k++)
        bad += !lmc_token_is_eog(m, cJSON_GetArrayItem(eog, k)->valueint);
    CHECK(bad == 0 && n_eog == cJSON_GetArraySize(eog), "%s: end-of-generation set differs (%d)",
          vocab, n_eog);
    for (int special = 0; special < 2; special++) {
        uint64_t h = 0xcbf29ce484222325ull;
        char buf[4096];
        for (int32_t i = 0; i < n; i++) {
            int32_t k = lmc_token_to_piece(m, i, buf, sizeof buf, special);
            uint32_t len = k > 0 ? (uint32_t)k : 0;
            uint8_t le[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                             (uint8_t)(len >> 24)};
            h = fnv(fnv(h, le, 4), buf, len);
        }
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
        const char *want =
            cJSON_GetObjectItem(cJSON_GetObjectItem(g, "pieces_fnv"), special ? "special" : "plain")
                ->valuestring;
        CHECK(!strcmp(hex, want), "%s: pieces (special %d) differ from llama.cpp's", vocab,
              special);
    }
    printf("%-10s eog %d tokens, pieces of all %d tokens checked\n", vocab, n_eog, n);
}

/* Strictly valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
static bool valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        int l = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
        if (!l || i + (size_t)l > n) return false;
        for (int k = 1; k < l; k++)
            if ((s[i + k] & 0xc0) != 0x80) return false;
        if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0) ||
            (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))
            return false;
        i += (size_t)l;
    }
    return true;
}

/* detokenize(tokenize(s)) gives s back for valid UTF-8 (invalid bytes become U+FFFD or byte
 * tokens, as in llama.cpp) (SentencePiece with a space prefix: " " + s), joined and
 * streamed. */
static void check_round_trip(lmc_model *m, const char *vocab, const cases *c) {
    int bad = 0;
    int32_t ids[4096], one[4];
    bool prefix = lmc_tokenize(m, "a", 1, one, 4, false, false) == 1 &&
                  lmc_token_to_piece(m, one[0], NULL, 0, false) == -2; /* "a" became " a" */
    int n_valid = 0;
    for (int i = 0; i < c->n; i++) {
        if (!valid_utf8((const uint8_t *)c->text[i], c->len[i])) continue;
        n_valid++;
        int32_t n = lmc_tokenize(m, c->text[i], (int32_t)c->len[i], ids, 4096, false, false);
        char joined[8192], streamed[8192];
        size_t nj = 0, ns = 0, len;
        lmc_detok *d = lmc_detok_init(m, false);
        for (int32_t k = 0; k < n; k++) {
            int32_t p =
                lmc_token_to_piece(m, ids[k], joined + nj, (int32_t)(sizeof joined - nj), false);
            nj += p > 0 ? (size_t)p : 0;
            const char *s = lmc_detok_push(d, ids[k], &len);
            memcpy(streamed + ns, s, len);
            ns += len;
        }
        const char *s = lmc_detok_flush(d, &len);
        memcpy(streamed + ns, s, len);
        ns += len;
        lmc_detok_free(d);
        size_t off = prefix && c->len[i] ? 1 : 0;
        bool ok = n >= 0 && nj == c->len[i] + off && !memcmp(joined + off, c->text[i], c->len[i]) &&
                  ns == nj && !memcmp(streamed, joined, nj);
        CHECK(ok, "%s: round trip of case %d (%.*s)", vocab, i, (int)c->len[i], c->text[i]);
        bad += !ok;
    }
    printf("%-10s round trip %d/%d (the valid UTF-8 cases)\n", vocab, n_valid - bad, n_valid);
}

/* The chat path: lmc_chat_render with the model's template (or the built-in its vocabulary picks)
 * gives the Hugging Face render, and its tokens (BOS added, special text parsed, the template's own
 * BOS kept once, as lmc chat/serve do) are llama.cpp's. */
static void check_chat(lmc_model *m, const char *vocab, const cJSON *chat) {
    const cJSON *msgs = cJSON_GetObjectItem(chat, "messages"),
                *want = cJSON_GetObjectItem(chat, "ids");
    lmc_chat_msg cm[16];
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, msgs) {
        if (n == 16) break;
        cm[n++] = (lmc_chat_msg){cJSON_GetObjectItem(e, "role")->valuestring,
                                 cJSON_GetObjectItem(e, "content")->valuestring};
    }
    char *text = NULL;
    CHECK(lmc_chat_render(m, NULL, cm, (size_t)n, true, &text) == LMC_OK, "%s: chat render: %s",
          vocab, lmc_last_error());
    if (!text) return;
    CHECK(!strcmp(text, cJSON_GetObjectItem(chat, "text")->valuestring),
          "%s: chat render differs:\n%s", vocab, text);
    int32_t ids[512];
    int32_t k = lmc_tokenize(m, text, -1, ids, 512, true, true), bos = lmc_token_bos(m);
    if (k >= 2 && ids[0] == bos && ids[1] == bos) memmove(ids, ids + 1, (size_t)--k * sizeof *ids);
    bool same = k == cJSON_GetArraySize(want);
    for (int32_t i = 0; same && i < k; i++)
        same = ids[i] == cJSON_GetArrayItem(want, i)->valueint;
    CHECK(same, "%s: chat prompt ids differ from llama.cpp's", vocab);
    printf("%-10s chat prompt %s llama.cpp's (%d tokens)\n", vocab, same ? "as" : "NOT as", k);
    free(text);
}

int main(void) {
    static const char *const vocabs[] = {"llama-spm", "llama-bpe",    "phi-3",
                                         "qwen2",     "synth-gpt-4o", "gemma3"};
    cases llama = {0}, hard = {0};
    CHECK(read_cases(source_path("tests/data/tok/hard_cases.inp"), &hard), "hard cases");
    t_require_shared();
    CHECK(read_cases(t_shared("models/vocab/ggml-vocab-llama-spm.gguf.inp"), &llama),
          "llama.cpp's cases");
    for (size_t v = 0; v < sizeof vocabs / sizeof vocabs[0]; v++) {
        char rel[128];
        snprintf(rel, sizeof rel, "tests/data/tok/%s.json", vocabs[v]);
        size_t len;
        char *js = t_read_file(source_path(rel), &len);
        cJSON *g = js ? cJSON_Parse(js) : NULL;
        free(js);
        if (!g) {
            printf("%s: no golden, skipped\n", vocabs[v]);
            continue;
        }
        const cJSON *where = cJSON_GetObjectItem(g, "gguf");
        const char *path = cJSON_GetObjectItem(where, "path")->valuestring;
        const char *w = cJSON_GetObjectItem(where, "where")->valuestring;
        path = !strcmp(w, "cache")    ? cache_path(path)
               : !strcmp(w, "source") ? source_path(path)
                                      : t_shared(path);
        lmc_model_params mp = lmc_model_default_params();
        mp.vocab_only = true;
        lmc_model *m = NULL;
        FILE *probe = fopen(path, "rb");
        if (!probe) {
            printf("%s: %s not present, skipped\n", vocabs[v], path);
            cJSON_Delete(g);
            continue;
        }
        fclose(probe);
        CHECK(lmc_model_load(path, &mp, &m) == LMC_OK, "%s: %s", path, lmc_last_error());
        if (m) {
            const cJSON *cs = cJSON_GetObjectItem(g, "cases");
            check_cases(m, vocabs[v], "llama", &llama, cJSON_GetObjectItem(cs, "llama"));
            check_cases(m, vocabs[v], "hard", &hard, cJSON_GetObjectItem(cs, "hard"));
            check_vocab_tables(m, vocabs[v], g);
            check_round_trip(m, vocabs[v], &hard);
            if (cJSON_GetObjectItem(g, "chat"))
                check_chat(m, vocabs[v], cJSON_GetObjectItem(g, "chat"));
        }
        lmc_model_free(m);
        cJSON_Delete(g);
    }
    free(llama.data);
    free(hard.data);
    return t_done();
}
