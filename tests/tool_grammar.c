/* tool_grammar.c — a test helper for tests/test_json_schema.py (found through LMC_GRAMMAR_TOOL):
 *   tool_grammar gbnf   SCHEMA_FILE              prints the GBNF the schema converts to
 *   tool_grammar sample SCHEMA_FILE N SEED       prints N random strings of the grammar's language,
 *                                                each followed by a NUL byte
 *   tool_grammar accept SCHEMA_FILE              reads NUL-separated strings on stdin, prints 1 or
 * 0 per string (accepted whole by the grammar) SCHEMA_FILE ending in .gbnf is taken as GBNF.
 * Errors: the library's message on stderr, exit 1. */
#include "grammar.h"
#include "lmc.h"
#include "testutil.h"

#include <string.h>

static lmc_grammar *load(const char *path, char **text_out) {
    size_t len = 0;
    char *text = t_read_file(path, &len);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        return NULL;
    }
    lmc_grammar *g = NULL;
    size_t n = strlen(path);
    lmc_status st = n > 5 && !strcmp(path + n - 5, ".gbnf")
                        ? lmc_grammar_init_gbnf(text, len, NULL, &g)
                        : lmc_grammar_init_json_schema(text, len, &g);
    if (st != LMC_OK) fprintf(stderr, "%s\n", lmc_last_error());
    if (text_out)
        *text_out = text;
    else
        free(text);
    return g;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t next(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Random walk: at each step a random allowed character from a candidate set (printable ASCII, a
 * few escapes' letters, some non-ASCII); stops where the grammar can end with probability 1/2 (and
 * always once long). Returns false when stuck or too long. */
static bool sample(const lmc_grammar *g, char *out, size_t cap) {
    static const char *extra[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\n", "\t"};
    grammar_matcher *m = grammar_matcher_init(g, NULL);
    size_t n = 0;
    bool ok = false;
    while (m) {
        if (grammar_can_end(m) && (next() % 2 == 0 || n > cap / 2)) {
            ok = true;
            break;
        }
        char cand[128][5];
        int k = 0;
        for (int c = 0x20; c < 0x7F; c++) {
            cand[k][0] = (char)c, cand[k][1] = 0;
            k++;
        }
        for (size_t e = 0; e < sizeof extra / sizeof extra[0]; e++)
            strcpy(cand[k++], extra[e]);
        int allowed[128], na = 0;
        for (int i = 0; i < k; i++)
            if (grammar_probe_bytes(m, cand[i], strlen(cand[i]))) allowed[na++] = i;
        if (!na) {
            if (grammar_can_end(m)) ok = true;
            break;
        }
        const char *c = cand[allowed[next() % (uint32_t)na]];
        size_t l = strlen(c);
        if (n + l + 1 > cap) break;
        memcpy(out + n, c, l);
        n += l;
        if (!grammar_accept_bytes(m, c, l)) break;
    }
    out[n] = 0;
    grammar_matcher_free(m);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tool_grammar gbnf|sample|accept FILE [N SEED]\n");
        return 2;
    }
    if (!strcmp(argv[1], "gbnf")) {
        size_t len = 0;
        char *text = t_read_file(argv[2], &len), *out = NULL;
        if (!text) return 1;
        lmc_status st = lmc_json_schema_to_gbnf(text, len, &out);
        free(text);
        if (st != LMC_OK) {
            fprintf(stderr, "%s\n", lmc_last_error());
            return 1;
        }
        fputs(out, stdout);
        free(out);
        return 0;
    }
    lmc_grammar *g = load(argv[2], NULL);
    if (!g) return 1;
    if (!strcmp(argv[1], "sample") && argc >= 5) {
        int n = atoi(argv[3]);
        rng ^= (uint64_t)atoll(argv[4]) * 0x9E3779B97F4A7C15ull;
        static char buf[4096];
        for (int i = 0, tries = 0; i < n && tries < n * 20; tries++)
            if (sample(g, buf, sizeof buf)) {
                fwrite(buf, 1, strlen(buf) + 1, stdout);
                i++;
            }
    } else if (!strcmp(argv[1], "accept")) {
        static char buf[1 << 16];
        size_t n = 0;
        int ch;
        while ((ch = getchar()) != EOF) {
            if (ch && n < sizeof buf - 1) {
                buf[n++] = (char)ch;
                continue;
            }
            grammar_matcher *m = grammar_matcher_init(g, NULL);
            bool ok = m && grammar_accept_bytes(m, buf, n) && grammar_can_end(m);
            grammar_matcher_free(m);
            printf("%d\n", ok);
            n = 0;
        }
    } else {
        fprintf(stderr, "unknown command %s\n", argv[1]);
        lmc_grammar_free(g);
        return 2;
    }
    lmc_grammar_free(g);
    return 0;
}
