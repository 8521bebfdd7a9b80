/* test_grammar.c — the GBNF engine: strings accepted and rejected byte by byte (partial UTF-8,
 * repetition bounds, classes, escapes, llama.cpp's example grammars), clear errors for bad and
 * hostile grammars (left recursion, undefined rules, size limits), the token mask against a
 * token-by-token check on a real vocabulary, and a constrained generation that the grammar
 * accepts. The model parts skip without ../shared. */
#include "grammar.h"
#include "lmc.h"
#include "testutil.h"
#include "util.h"

#include <math.h>
#include <string.h>

static lmc_grammar *compile(const char *text) {
    lmc_grammar *g = NULL;
    lmc_status st = lmc_grammar_init_gbnf(text, strlen(text), NULL, &g);
    CHECK(st == LMC_OK, "compile failed: %s\n%s", lmc_last_error(), text);
    return g;
}

/* Feeds s byte by byte; returns 1 when all bytes were accepted and the grammar can end there, 0
 * when accepted but it cannot end, -1 when a byte was rejected. */
static int run(const lmc_grammar *g, const char *s) {
    grammar_matcher *m = grammar_matcher_init(g, NULL);
    if (!m) return -2;
    int r = 0;
    for (size_t i = 0; s[i]; i++)
        if (!grammar_accept_bytes(m, s + i, 1)) {
            r = -1;
            break;
        }
    if (r == 0) r = grammar_can_end(m) ? 1 : 0;
    grammar_matcher_free(m);
    return r;
}

#define ACCEPT(g, s) CHECK(run(g, s) == 1, "should accept '%s'", s)
#define PREFIX(g, s) CHECK(run(g, s) == 0, "should be an unfinished prefix: '%s'", s)
#define REJECT(g, s) CHECK(run(g, s) == -1, "should reject '%s'", s)

static const char *JSON_GBNF = /* llama.cpp's grammars/json.gbnf */
    "# Grammar for subset of JSON - doesn't support full string or number syntax\n\n"
    "root  ::= object\n"
    "value ::= object | array | string | number | boolean\n\n"
    "object ::=\n  \"{\" ws (\n            string \":\" ws value\n"
    "    (\",\" ws string \":\" ws value)*\n  )? \"}\"\n\n"
    "array  ::=\n  \"[\" ws (\n            value\n    (\",\" ws value)*\n  )? \"]\"\n\n"
    "string  ::=\n  \"\\\"\" (\n"
    "    [\\x20\\x21\\x23-\\x5b\\x5d-\\U0010FFFF] | # any code point except \" (\\x22) and \\\n"
    "    \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F]) # "
    "escapes\n  )* \"\\\"\"\n\n"
    "# Only plain integers currently\n"
    "number  ::= \"-\"? [0-9]+ ws\n"
    "boolean ::= (\"true\" | \"false\") ws\n\n"
    "# Optional space: by convention, applied in this grammar after literal chars when allowed\n"
    "ws ::= ([ \\t\\n] ws)?\n";

static const char *ARITH_GBNF = /* llama.cpp's grammars/arithmetic.gbnf */
    "root  ::= (expr \"=\" ws term \"\\n\")+\n"
    "expr  ::= term ([-+*/] term)*\n"
    "term  ::= ident | num | \"(\" ws expr \")\" ws\n"
    "ident ::= [a-z] [a-z0-9_]* ws\n"
    "num   ::= [0-9]+ ws\n"
    "ws    ::= [ \\t\\n]*\n";

static const char *LIST_GBNF = /* llama.cpp's grammars/list.gbnf */
    "root ::= item+\n\n"
    "# Excludes various line break characters\n"
    "item ::= \"- \" [^\\r\\n\\x0b\\x0c\\x85\\u2028\\u2029]+ \"\\n\"\n";

static void test_examples(void) {
    lmc_grammar *g = compile(JSON_GBNF);
    if (g) {
        ACCEPT(g, "{}");
        ACCEPT(g, "{\"a\": [1, -2, \"x\\n\\u00e9\", true, {\"b\": []}]}");
        ACCEPT(g, "{\"caf\xc3\xa9\":\"\xe2\x82\xac\"}");
        PREFIX(g, "{\"a\": [1, 2");
        REJECT(g, "{\"a\" 1}");
        REJECT(g, "[1]");
        REJECT(g, "{\"a\": 01x}");
        REJECT(g, "{\"\\q\": 1}");
        lmc_grammar_free(g);
    }
    g = compile(ARITH_GBNF);
    if (g) {
        ACCEPT(g, "1+2=3\n");
        ACCEPT(g, "(a +b_2) *3 = x\nq=1\n");
        PREFIX(g, "(a +b");
        REJECT(g, "1+=2\n");
        REJECT(g, "A=1\n");
        lmc_grammar_free(g);
    }
    g = compile(LIST_GBNF);
    if (g) {
        ACCEPT(g, "- one\n- two \xc3\xa9\n");
        REJECT(g, "- \n");
        REJECT(g, "* x\n");
        REJECT(g, "- a\xe2\x80\xa8\n"); /* U+2028 is excluded */
        lmc_grammar_free(g);
    }
}

static void test_features(void) {
    lmc_grammar *g = compile("root ::= \"a\"{2,4} \"b\"{3} \"c\"{1,} \"d\"{0,2}");
    if (g) {
        PREFIX(g, "a");
        REJECT(g, "ab");
        ACCEPT(g, "aabbbc");
        ACCEPT(g, "aaaabbbcccdd");
        REJECT(g, "aaaaab");
        REJECT(g, "aabbbb");
        REJECT(g, "aabbbcddd");
        lmc_grammar_free(g);
    }
    g = compile("root ::= (\"ab\" | [x-z])+ [^a-c\\n]? \".\" .");
    if (g) {
        ACCEPT(g, "abzx..");
        ACCEPT(g, "xq.\xe2\x82\xac");
        REJECT(g, "xa.q");
        REJECT(g, "x\n.q");
        lmc_grammar_free(g);
    }
    /* escapes and a comment; \U beyond the BMP */
    g = compile("root ::= \"\\x41\\u00e9\\U0001F600\" | # comment\n  \"\\t\\\"\\\\\"\n");
    if (g) {
        ACCEPT(g, "A\xc3\xa9\xf0\x9f\x98\x80");
        ACCEPT(g, "\t\"\\");
        REJECT(g, "A\xc3\xa8");
        lmc_grammar_free(g);
    }
    /* partial UTF-8: a code point split over several feeds, pruned by the class it must match */
    g = compile("root ::= [\xce\xb1-\xcf\x89]+ | \"\xc3\xa9\"");
    if (g) {
        grammar_matcher *m = grammar_matcher_init(g, NULL);
        CHECK(grammar_accept_bytes(m, "\xce", 1), "lead byte of alpha");
        CHECK(!grammar_can_end(m), "cannot end inside a code point");
        CHECK(!grammar_accept_bytes(m, "a", 1), "ASCII after a lead byte");
        CHECK(grammar_accept_bytes(m, "\xb1", 1), "alpha completed");
        CHECK(grammar_can_end(m), "can end after alpha");
        CHECK(!grammar_accept_bytes(m, "\xe2", 1), "no 3-byte code point is in the class");
        CHECK(grammar_accept_bytes(m, "\xcf\x89\xce", 3), "omega and a lead byte in one feed");
        grammar_matcher_free(m);
        m = grammar_matcher_init(g, NULL);
        CHECK(grammar_accept_bytes(m, "\xc3", 1), "lead of e-acute");
        CHECK(!grammar_accept_bytes(m, "\xa8", 1), "e-grave rejected");
        CHECK(grammar_accept_bytes(m, "\xa9", 1), "e-acute accepted");
        CHECK(grammar_can_end(m), "e-acute ends");
        CHECK(!grammar_accept_bytes(m, "\x80", 1), "stray continuation byte");
        grammar_matcher_free(m);
        lmc_grammar_free(g);
    }
    /* lead bytes are pruned by the code points they can still become: no overlong forms, no
     * surrogates, nothing past U+10FFFF */
    g = compile("root ::= \"s\" | [\\x00-\\x7F\\u0800-\\uFFFF]");
    if (g) {
        REJECT(g, "\xc2");         /* U+0080.. : not in the class */
        PREFIX(g, "\xe0");         /* U+0800.. */
        REJECT(g, "\xe0\x80");     /* overlong */
        REJECT(g, "\xed\xa0\x80"); /* a surrogate */
        ACCEPT(g, "\xe0\xa0\x80"); /* U+0800 */
        REJECT(g, "\xf0");         /* beyond the class */
        lmc_grammar_free(g);
    }
    g = compile("root ::= \"s\"");
    if (g) {
        REJECT(g, "\xe0");
        REJECT(g, "\xf0");
        lmc_grammar_free(g);
    }
    /* recursion that is not left recursion, and an empty alternative */
    g = compile("root ::= \"(\" root \")\" | ");
    if (g) {
        ACCEPT(g, "");
        ACCEPT(g, "((()))");
        PREFIX(g, "((");
        REJECT(g, "())");
        lmc_grammar_free(g);
    }
    g = compile("r ::= \"x\"\nroot ::= r r");
    if (g) {
        ACCEPT(g, "xx");
        lmc_grammar_free(g);
    }
    lmc_grammar *h = NULL;
    CHECK(lmc_grammar_init_gbnf("start ::= \"s\"", 13, "start", &h) == LMC_OK && h,
          "a root named by the caller");
    lmc_grammar_free(h);
}

/* A bad grammar fails with st and a message containing want. */
static void bad(const char *text, lmc_status want_st, const char *want) {
    lmc_grammar *g = NULL;
    lmc_status st = lmc_grammar_init_gbnf(text, strlen(text), NULL, &g);
    CHECK(st == want_st && !g, "'%s': status %d, want %d", text, st, want_st);
    CHECK(strstr(lmc_last_error(), want), "'%s': message '%s' lacks '%s'", text, lmc_last_error(),
          want);
    lmc_grammar_free(g);
}

static void test_errors(void) {
    { /* fuzz finding: a key with invalid UTF-8 became GBNF that did not compile */
        lmc_grammar *h = NULL;
        const char *bad = "{\"type\":\"object\",\"required\":[\"nam\x91\"]}";
        CHECK(lmc_grammar_init_json_schema(bad, strlen(bad), &h) == LMC_ERR_FORMAT && !h &&
                  strstr(lmc_last_error(), "invalid UTF-8 at byte 33"),
              "invalid UTF-8 in a schema: %s", lmc_last_error());
        const char *nul = "{\"const\":\"a\\u0000b\"}";
        CHECK(lmc_grammar_init_json_schema(nul, strlen(nul), &h) == LMC_ERR_FORMAT && !h &&
                  strstr(lmc_last_error(), "u0000"),
              "a \\u0000 in a schema: %s", lmc_last_error());
    }
    bad("root ::= root \"a\" | \"a\"", LMC_ERR_UNSUPPORTED, "rule 'root' is left-recursive");
    bad("root ::= a \"x\"\na ::= b? c\nb ::= \"b\"\nc ::= \"c\"? root", LMC_ERR_UNSUPPORTED,
        "left-recursive");
    bad("root ::= (\"a\"?)*", LMC_ERR_UNSUPPORTED, "left-recursive");
    bad("root ::= foo", LMC_ERR_FORMAT, "undefined rule 'foo'");
    bad("a ::= \"x\"", LMC_ERR_FORMAT, "no rule named 'root'");
    bad("root ::= \"x\"\n\nroot = \"y\"", LMC_ERR_FORMAT, "line 3, column 6: expecting ::=");
    bad("root ::= \"abc", LMC_ERR_FORMAT, "line 1, column 14: unterminated string");
    bad("root ::= [abc", LMC_ERR_FORMAT, "unexpected end of input");
    bad("root ::= \"a\"{3,2}", LMC_ERR_FORMAT, "n < m");
    bad("root ::= *", LMC_ERR_FORMAT, "nothing before the repetition");
    bad("root ::= \"\\q\"", LMC_ERR_FORMAT, "unknown escape '\\q'");
    bad("root ::= (\"a\"", LMC_ERR_FORMAT, "expecting ')'");
    bad("root ::= \"a\" )", LMC_ERR_FORMAT, "expecting a newline");
    bad("root ::= [z-a]", LMC_ERR_FORMAT, "out of order");
    bad("", LMC_ERR_FORMAT, "no rules");
    bad("root ::= \"a\"\nroot ::= \"b\"", LMC_ERR_FORMAT, "defined twice");
    bad("root ::= \"ab\"{0,100000}", LMC_ERR_UNSUPPORTED, "too large");
    bad("root ::= \"a\"{1000000}", LMC_ERR_UNSUPPORTED, "above 100000");
    char deep[1200] = "root ::= ";
    for (int i = 0; i < 300; i++)
        strcat(deep, "(");
    bad(deep, LMC_ERR_UNSUPPORTED, "nested too deep");
    /* random bytes never crash the parser */
    uint64_t x = 88172645463325252ull;
    char junk[200];
    for (int r = 0; r < 2000; r++) {
        size_t n = 1 + r % 199;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const char *alpha = "root ::=\"[]()|*+?{},.-^\\ax09\n#";
            junk[i] = (r & 1) ? (char)(x >> 24) : alpha[(x >> 24) % strlen(alpha)];
        }
        lmc_grammar *g = NULL;
        if (lmc_grammar_init_gbnf(junk, n, NULL, &g) == LMC_OK) {
            grammar_matcher *m = grammar_matcher_init(g, NULL);
            if (m) grammar_accept_bytes(m, "aaaa", 4);
            grammar_matcher_free(m);
        }
        lmc_grammar_free(g);
    }
    t_passed++;
}

/* Hostile but legal: a grammar whose parses multiply stays bounded in stacks. */
static void test_bounds(void) {
    lmc_grammar *g = compile("root ::= x*\nx ::= \"a\" | \"a\" \"a\" | \"a\" \"a\" \"a\" | y\n"
                             "y ::= \"a\"+");
    if (g) {
        char s[2001];
        memset(s, 'a', 2000);
        s[2000] = 0;
        CHECK(run(g, s) == 1, "2000 a's");
        lmc_grammar_free(g);
    }
    /* 2^60 ways to expand the first character: the work budget cuts it short, quickly */
    static char chain[4096];
    size_t k = (size_t)snprintf(chain, sizeof chain, "root ::= r0\n");
    for (int i = 0; i < 60; i++)
        k += (size_t)snprintf(chain + k, sizeof chain - k, "r%d ::= r%d | r%d \"x\"\n", i, i + 1,
                              i + 1);
    snprintf(chain + k, sizeof chain - k, "r60 ::= \"a\"\n");
    double t0 = lmc_time_s();
    g = compile(chain);
    if (g) {
        grammar_matcher *m = grammar_matcher_init(g, NULL);
        if (m) grammar_accept_bytes(m, "axx", 3);
        grammar_matcher_free(m);
        lmc_grammar_free(g);
    }
    CHECK(lmc_time_s() - t0 < 5, "an exponentially ambiguous grammar took %.1f s",
          lmc_time_s() - t0);
    g = compile("root ::= \"[\" root \"]\" | \"x\"");
    if (g) { /* nesting beyond GRAMMAR_MAX_STACK_DEPTH is not followed, never a crash */
        static char s[GRAMMAR_MAX_STACK_DEPTH + 100];
        memset(s, '[', sizeof s - 1);
        CHECK(run(g, s) == -1, "nesting past the depth limit is refused");
        lmc_grammar_free(g);
    }
    /* fuzz finding (a hang): 40 nested repetitions keep up to GRAMMAR_MAX_STACKS equal-length
     * parses alive, and each new one was compared with all of them, outside the work budget
     * (over 30 s for 80 bytes); the comparisons now count as work */
    t0 = lmc_time_s();
    g = compile("root ::= .++++++++++++++++++++++++++++++++++++++++");
    if (g) {
        char s[81];
        for (int i = 0; i < 80; i++)
            s[i] = "ab"[i & 1];
        s[80] = 0;
        int r = run(g, s);
        CHECK(r == 1 || r == -1, "nested repetitions: %d", r);
        lmc_grammar_free(g);
    }
    CHECK(lmc_time_s() - t0 < 5, "nested repetitions took %.1f s", lmc_time_s() - t0);
    g = compile("root ::= "); /* fuzz finding: the empty root's stack is empty (UB in a copy) */
    if (g) {
        ACCEPT(g, "");
        REJECT(g, "+");
        lmc_grammar_free(g);
    }
}

/* ---- with a vocabulary ---------------------------------------------------------------------- */
static void test_mask(lmc_model *model) {
    const char *text = "root ::= \"Once upon a time, \" [a-z ]{1,40} (\".\" | \"!\")";
    lmc_grammar *g = compile(text);
    grammar_vocab *v = grammar_vocab_init(model);
    CHECK(v != NULL, "vocab table");
    if (!g || !v) goto done;
    int32_t n = lmc_model_n_vocab(model);
    float *logits = malloc((size_t)n * sizeof *logits), *row = malloc((size_t)n * sizeof *row);
    for (int32_t t = 0; t < n; t++)
        logits[t] = (float)(t % 7);
    grammar_matcher *m = grammar_matcher_init(g, v);
    const char *steps[] = {"", "Once", " upon a", " time, ", "the", " end"};
    for (int s = 0; s < 6; s++) {
        if (*steps[s]) CHECK(grammar_accept_bytes(m, steps[s], strlen(steps[s])), "%s", steps[s]);
        int32_t k = grammar_mask(m, logits, row), k2 = 0, diff = 0;
        for (int32_t t = 0; t < n; t++) {
            bool ok = grammar_allows(m, t);
            k2 += ok;
            diff += ok != (row[t] != -INFINITY) || (ok && row[t] != logits[t]);
        }
        CHECK(k == k2 && diff == 0 && k > 0, "step %d: mask %d, token by token %d, %d differ", s, k,
              k2, diff);
    }
    grammar_matcher_free(m);

    /* a constrained generation at temperature 1 ends where the grammar can, and matches it */
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = 128;
    cp.n_threads = 1;
    cp.device = LMC_DEVICE_CPU;
    lmc_context *ctx = NULL;
    lmc_gen *gen = NULL;
    CHECK(lmc_context_init(model, &cp, &ctx) == LMC_OK, "context: %s", lmc_last_error());
    CHECK(lmc_gen_init(ctx, 0, &gen) == LMC_OK, "gen: %s", lmc_last_error());
    for (uint64_t seed = 1; gen && seed <= 4; seed++) {
        lmc_gen_params gp = lmc_gen_default_params();
        gp.sampling.temp = 1.0f;
        gp.sampling.seed = seed;
        gp.n_predict = 100;
        gp.grammar = g;
        int32_t prompt[1] = {lmc_token_bos(model)};
        CHECK(lmc_gen_start(gen, prompt, 1, &gp) == LMC_OK, "start: %s", lmc_last_error());
        char out[1024];
        size_t len = 0;
        lmc_gen_event ev;
        do {
            if (lmc_gen_step(gen, &ev) != LMC_OK) break;
            if (ev.len && len + ev.len < sizeof out)
                memcpy(out + len, ev.text, ev.len), len += ev.len;
        } while (ev.end == LMC_GEN_END_NONE);
        out[len] = 0;
        CHECK(ev.end == LMC_GEN_END_EOG, "seed %llu ended with %d: '%s' (%s)",
              (unsigned long long)seed, ev.end, out, lmc_last_error());
        CHECK(run(g, out) == 1, "seed %llu: '%s' does not match", (unsigned long long)seed, out);
    }
    lmc_gen_free(gen);
    lmc_context_free(ctx);
    free(logits);
    free(row);
done:
    grammar_vocab_free(v);
    lmc_grammar_free(g);
}

int main(void) {
    test_examples();
    test_features();
    test_errors();
    test_bounds();
    const char *path = t_shared("models/stories260K.gguf");
    lmc_model *model = path ? t_load_model_or_skip(path) : NULL;
    if (model) test_mask(model);
    lmc_model_free(model);
    return t_done();
}
