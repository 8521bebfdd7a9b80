/* test_tool_parse.c — tool calls in the library (src/tool_call.c): the syntax each shared chat
 * template is recognised as; the parser of every syntax on well-formed replies and on hostile ones
 * (truncated JSON, nested braces, strings holding the closing tag, unknown shapes, binary noise),
 * compared with hand-written expectations; the streaming content prefix never running past the
 * content the whole reply parses to; the call grammar accepting calls whose arguments match the
 * schema and rejecting those that do not; the fallback prompt. Template detection skips without
 * ../shared. */
#include "grammar.h"
#include "lmc.h"
#include "testutil.h"

#include <stdarg.h>
#include <string.h>

/* Parses text; checks the call count, then name/arguments of each (expected as alternating
 * strings), and the content. */
static void expect(lmc_tool_syntax syn, const char *text, const char *content, int n, ...) {
    lmc_tool_call *calls = NULL;
    int32_t got = -1;
    char *c = NULL;
    lmc_status st = lmc_tool_calls_parse(syn, text, strlen(text), &calls, &got, &c);
    CHECK(st == LMC_OK, "%s: parse failed: %s", text, lmc_last_error());
    if (st != LMC_OK) return;
    CHECK(got == n, "[%s] %s: %d calls, expected %d", lmc_tool_syntax_name(syn), text, got, n);
    CHECK(!strcmp(c, content), "[%s] %s: content '%s', expected '%s'", lmc_tool_syntax_name(syn),
          text, c, content);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && i < got; i++) {
        const char *name = va_arg(ap, const char *), *args = va_arg(ap, const char *);
        CHECK(!strcmp(calls[i].name, name), "%s: call %d name '%s', expected '%s'", text, i,
              calls[i].name, name);
        CHECK(!strcmp(calls[i].arguments, args), "%s: call %d arguments '%s', expected '%s'", text,
              i, calls[i].arguments, args);
    }
    va_end(ap);
    /* streaming never sends more than the parsed content begins with, at any cut of the reply */
    size_t len = strlen(text), clen = strlen(c);
    for (size_t cut = 0; cut <= len; cut++) {
        size_t k = lmc_tool_content_prefix(syn, text, cut);
        if (got == 0) continue; /* no calls: the whole text is sent at the end as it is */
        CHECK(k <= clen && !memcmp(text, c, k),
              "[%s] %s: prefix %zu at cut %zu runs past the content '%s'",
              lmc_tool_syntax_name(syn), text, k, cut, c);
        if (k > clen || memcmp(text, c, k)) break;
    }
    lmc_tool_calls_free(calls, got);
    free(c);
}

static void test_hermes(void) {
    const lmc_tool_syntax H = LMC_TOOL_SYNTAX_HERMES;
    expect(H,
           "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
           "</tool_call>",
           "", 1, "get_weather", "{\"city\":\"Paris\"}");
    expect(H,
           "Let me check.\n<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>\n"
           "<tool_call>{\"name\":\"b\",\"arguments\":{\"x\":[1,{\"y\":\"}\"}]}}</tool_call>",
           "Let me check.", 2, "a", "{}", "b", "{\"x\":[1,{\"y\":\"}\"}]}");
    /* a string holding the closing tag and braces is only a string */
    expect(H, "<tool_call>{\"name\":\"say\",\"arguments\":{\"t\":\"</tool_call>{}\"}}</tool_call>",
           "", 1, "say", "{\"t\":\"</tool_call>{}\"}");
    /* truncated JSON: not a call, the text stays content */
    expect(H, "<tool_call>{\"name\":\"a\",\"arguments\":{\"x\":",
           "<tool_call>{\"name\":\"a\","
           "\"arguments\":{\"x\":",
           0);
    /* a missing closing tag at the very end is accepted, in the middle it is not */
    expect(H, "<tool_call>{\"name\":\"a\",\"arguments\":{\"k\":1}}", "", 1, "a", "{\"k\":1}");
    expect(H, "<tool_call>{\"name\":\"a\",\"arguments\":{}} trailing words",
           "<tool_call>{\"name\":\"a\",\"arguments\":{}} trailing words", 0);
    /* quoted arguments are taken as the object they hold; a name must be a string */
    expect(H, "<tool_call>{\"name\":\"a\",\"arguments\":\"{\\\"k\\\": 2}\"}</tool_call>", "", 1,
           "a", "{\"k\":2}");
    expect(H, "<tool_call>{\"name\":5,\"arguments\":{}}</tool_call>",
           "<tool_call>{\"name\":5,\"arguments\":{}}</tool_call>", 0);
    expect(H, "<tool_call>{\"name\":\"a\",\"arguments\":[1]}</tool_call>",
           "<tool_call>{\"name\":\"a\",\"arguments\":[1]}</tool_call>", 0);
    /* text after a call is kept */
    expect(H, "<tool_call>{\"name\":\"a\"}</tool_call>\nDone.", "Done.", 1, "a", "{}");
    expect(H, "Just text, no call.", "Just text, no call.", 0);
    expect(H, "", "", 0);
    /* first call good, second truncated: one call, the rest is content */
    expect(H, "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call><tool_call>{\"name\":",
           "<tool_call>{\"name\":", 1, "a", "{}");
}

static void test_llama3(void) {
    const lmc_tool_syntax L = LMC_TOOL_SYNTAX_LLAMA3;
    expect(L, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", "", 1,
           "get_weather", "{\"city\":\"Oslo\"}");
    expect(L,
           "<|python_tag|>{\"name\":\"a\",\"parameters\":{}}; {\"name\":\"b\",\"parameters\":"
           "{\"n\":1}}",
           "", 2, "a", "{}", "b", "{\"n\":1}");
    expect(L, "Sure<|python_tag|>{\"name\":\"a\",\"parameters\":{}}", "Sure", 1, "a", "{}");
    expect(L, "{\"name\":\"a\",\"parameters\":{}} and more",
           "{\"name\":\"a\",\"parameters\":{}} "
           "and more",
           0);
    expect(L, "{\"name\":\"a\",\"parameters\":{\"x\":{\"y\":{",
           "{\"name\":\"a\",\"parameters\":"
           "{\"x\":{\"y\":{",
           0);
    expect(L, "The answer is 4.", "The answer is 4.", 0);
}

static void test_mistral(void) {
    const lmc_tool_syntax M = LMC_TOOL_SYNTAX_MISTRAL;
    expect(M,
           "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"q\": \"x\"}, \"id\": \"abc123def\"}]",
           "", 1, "a", "{\"q\":\"x\"}");
    expect(M, "[{\"name\":\"a\",\"arguments\":{}},{\"name\":\"b\",\"arguments\":{}}]", "", 2, "a",
           "{}", "b", "{}");
    expect(M, "[TOOL_CALLS][{\"name\":\"a\",\"arguments\":{}}, 7]",
           "[TOOL_CALLS][{\"name\":\"a\",\"arguments\":{}}, 7]", 0);
    expect(M, "[TOOL_CALLS][{\"name\":\"a\",\"argu", "[TOOL_CALLS][{\"name\":\"a\",\"argu", 0);
    expect(M, "No tools needed.", "No tools needed.", 0);
}

static void test_generic(void) {
    const lmc_tool_syntax G = LMC_TOOL_SYNTAX_GENERIC;
    expect(G, " {\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}\n", "", 1, "add",
           "{\"a\":1,\"b\":2}");
    expect(G, "```json\n{\"name\": \"add\", \"arguments\": {}}\n```", "", 1, "add", "{}");
    expect(G,
           "{\"tool_calls\": [{\"name\": \"a\", \"arguments\": {}}, {\"type\": \"function\", "
           "\"function\": {\"name\": \"b\", \"arguments\": \"{}\"}}]}",
           "", 2, "a", "{}", "b", "{}");
    expect(G, "{\"title\": \"Paris\"}", "{\"title\": \"Paris\"}", 0);
    expect(G, "Here: {\"name\": \"a\", \"arguments\": {}}",
           "Here: {\"name\": \"a\", "
           "\"arguments\": {}}",
           0);
    expect(G, "{\"name\": \"a\", \"arguments\": {}", "{\"name\": \"a\", \"arguments\": {}", 0);
    expect(G, "{{{{[[[[\"\\", "{{{{[[[[\"\\", 0);
    expect(G, "```", "```", 0);
    /* a reply that begins with text streams at once; one that may be a call is held back */
    CHECK(lmc_tool_content_prefix(G, "Hello there ", 12) == 11, "generic text streams");
    CHECK(lmc_tool_content_prefix(G, "  {\"na", 6) == 0, "generic call held back");
    CHECK(lmc_tool_content_prefix(LMC_TOOL_SYNTAX_HERMES, "Ok <tool_", 9) == 2,
          "a cut marker is held back");
}

/* Binary noise and deep nesting: never a crash, some answer. */
static void test_hostile(void) {
    char buf[4096];
    uint64_t x = 12345;
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + (size_t)(round * 37 % (sizeof buf - 1));
        static const char ALPHA[] = "{}[]\":,<>/tool_call|python[TOOL_CALLS] \\na1";
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = round & 1 ? (char)(x & 0xFF) : ALPHA[x % (sizeof ALPHA - 1)];
        }
        for (int s = 0; s < 4; s++) {
            lmc_tool_call *calls = NULL;
            int32_t got = 0;
            char *c = NULL;
            lmc_status st = lmc_tool_calls_parse((lmc_tool_syntax)s, buf, n, &calls, &got, &c);
            CHECK(st == LMC_OK && c, "noise round %d syntax %d", round, s);
            (void)lmc_tool_content_prefix((lmc_tool_syntax)s, buf, n);
            lmc_tool_calls_free(calls, got);
            free(c);
        }
    }
    static char deep[40000];
    memset(deep, '[', sizeof deep - 1);
    for (int s = 0; s < 4; s++) {
        lmc_tool_call *calls = NULL;
        int32_t got = 0;
        char *c = NULL;
        CHECK(lmc_tool_calls_parse((lmc_tool_syntax)s, deep, strlen(deep), &calls, &got, &c) ==
                      LMC_OK &&
                  got == 0,
              "deep nesting, syntax %d", s);
        lmc_tool_calls_free(calls, got);
        free(c);
    }
}

static const char TOOLS[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},"
    "\"unit\":{\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\",\"unit\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"add\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"a\":{\"$ref\":\"#/$defs/int\"},\"b\":{\"$ref\":\"#/$defs/int\"}},"
    "\"required\":[\"a\",\"b\"],\"$defs\":{\"int\":{\"type\":\"integer\"}}}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"ping\"}}]";

static int grammar_run(const lmc_grammar *g, const char *s) {
    grammar_matcher *m = grammar_matcher_init(g, NULL);
    if (!m) return -2;
    int r = grammar_accept_bytes(m, s, strlen(s)) ? (grammar_can_end(m) ? 1 : 0) : -1;
    grammar_matcher_free(m);
    return r;
}

static void test_grammar(void) {
    lmc_grammar *g = NULL;
    lmc_status st = lmc_tool_grammar_init(LMC_TOOL_SYNTAX_HERMES, TOOLS, NULL, true, &g);
    CHECK(st == LMC_OK, "hermes grammar: %s", lmc_last_error());
    if (g) {
        const char *good = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
                           "\"Rome\", \"unit\": \"c\"}}\n</tool_call>";
        CHECK(grammar_run(g, good) == 1, "accepts a weather call");
        CHECK(grammar_run(g, "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": "
                             "-2}}\n</tool_call>\n<tool_call>\n{\"name\": \"ping\", \"arguments\": "
                             "{}}\n</tool_call>") == 1,
              "accepts two calls ($defs resolved, no parameters = {})");
        CHECK(grammar_run(g, "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1.5") == -1,
              "rejects a non-integer");
        CHECK(grammar_run(g, "<tool_call>\n{\"name\": \"nope\"") == -1, "rejects unknown names");
        CHECK(grammar_run(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
                             "\"Rome\", \"unit\": \"k\"") == -1,
              "rejects a value outside the enum");
        CHECK(grammar_run(g, "Sure! <tool_call>") == -1, "a call from the first byte");
        lmc_grammar_free(g);
    }
    g = NULL;
    st = lmc_tool_grammar_init(LMC_TOOL_SYNTAX_LLAMA3, TOOLS, "add", true, &g);
    CHECK(st == LMC_OK, "llama3 named grammar: %s", lmc_last_error());
    if (g) {
        CHECK(grammar_run(g, "{\"name\": \"add\", \"parameters\": {\"a\": 1, \"b\": 2}}") == 1,
              "llama3 call");
        CHECK(grammar_run(g, "{\"name\": \"get_weather\"") == -1, "named: only that function");
        lmc_grammar_free(g);
    }
    g = NULL;
    st = lmc_tool_grammar_init(LMC_TOOL_SYNTAX_MISTRAL, TOOLS, NULL, false, &g);
    CHECK(st == LMC_OK, "mistral grammar: %s", lmc_last_error());
    if (g) {
        CHECK(grammar_run(g, "[{\"name\": \"ping\", \"arguments\": {}}]") == 1, "mistral call");
        CHECK(grammar_run(g, "[{\"name\": \"ping\", \"arguments\": {}}, ") == -1,
              "not parallel: one call");
        lmc_grammar_free(g);
    }
    /* every generated grammar string parses back to its call */
    g = NULL;
    st = lmc_tool_grammar_init(LMC_TOOL_SYNTAX_GENERIC, TOOLS, NULL, true, &g);
    CHECK(st == LMC_OK && g, "generic grammar: %s", lmc_last_error());
    lmc_grammar_free(g);
    /* errors name the problem */
    char *text = NULL;
    CHECK(lmc_tool_grammar_gbnf(LMC_TOOL_SYNTAX_GENERIC, TOOLS, "missing", false, &text) ==
                  LMC_ERR_INVALID_ARG &&
              strstr(lmc_last_error(), "missing"),
          "unknown only: %s", lmc_last_error());
    CHECK(lmc_tool_grammar_gbnf(LMC_TOOL_SYNTAX_GENERIC, "{}", NULL, false, &text) ==
              LMC_ERR_FORMAT,
          "tools not an array");
    CHECK(lmc_tool_grammar_gbnf(LMC_TOOL_SYNTAX_GENERIC,
                                "[{\"type\":\"function\",\"function\":{\"name\":\"a\","
                                "\"parameters\":{\"type\":\"object\",\"not\":{}}}}]",
                                NULL, false, &text) == LMC_ERR_UNSUPPORTED,
          "unsupported keyword: %s", lmc_last_error());
    CHECK(
        lmc_tool_grammar_gbnf(LMC_TOOL_SYNTAX_GENERIC,
                              "[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":"
                              "{\"$defs\":{\"x\":{\"type\":\"string\"}}}}},{\"type\":\"function\","
                              "\"function\":{\"name\":\"b\",\"parameters\":{\"$defs\":{\"x\":"
                              "{\"type\":\"integer\"}}}}}]",
                              NULL, false, &text) == LMC_ERR_UNSUPPORTED &&
            strstr(lmc_last_error(), "clashes"),
        "clashing $defs: %s", lmc_last_error());
    free(text);
}

static void test_fallback(void) {
    char *p = NULL;
    CHECK(lmc_tool_fallback_prompt(TOOLS, false, "add", &p) == LMC_OK && p, "fallback prompt");
    if (p) {
        CHECK(strstr(p, "get_weather: Weather") && strstr(p, "ping: (no description)") &&
                  strstr(p, "\"name\"") && strstr(p, "You must call the tool add"),
              "fallback prompt text: %s", p);
        free(p);
    }
}

static void test_detect(void) {
    static const struct {
        const char *file;
        lmc_tool_syntax syn;
        bool takes;
    } CASES[] = {
        {"templates/NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", LMC_TOOL_SYNTAX_HERMES,
         1},
        {"templates/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", LMC_TOOL_SYNTAX_HERMES, 1},
        {"templates/Qwen-Qwen2.5-7B-Instruct.jinja", LMC_TOOL_SYNTAX_HERMES, 1},
        {"templates/Qwen-Qwen3.jinja", LMC_TOOL_SYNTAX_HERMES, 1},
        {"templates/meta-llama-Llama-3.1-8B-Instruct.jinja", LMC_TOOL_SYNTAX_LLAMA3, 1},
        {"templates/meta-llama-Llama-3.2-3B-Instruct.jinja", LMC_TOOL_SYNTAX_LLAMA3, 1},
        {"templates/meta-llama-Llama-3.3-70B-Instruct.jinja", LMC_TOOL_SYNTAX_LLAMA3, 1},
        {"templates/mistralai-Mistral-Nemo-Instruct-2407.jinja", LMC_TOOL_SYNTAX_MISTRAL, 1},
        {"templates/CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", LMC_TOOL_SYNTAX_GENERIC,
         1},
        {"templates/google-gemma-2-2b-it.jinja", LMC_TOOL_SYNTAX_GENERIC, 0},
        {"templates/mistralai-Mistral-7B-Instruct-v0.2.jinja", LMC_TOOL_SYNTAX_GENERIC, 0},
        {"templates/TinyLlama-TinyLlama-1.1B-Chat-v1.0.jinja", LMC_TOOL_SYNTAX_GENERIC, 0},
    };
    if (!t_shared("templates")) {
        printf("no ../shared: template detection skipped\n");
        return;
    }
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char *t = t_read_file(t_shared(CASES[i].file), NULL);
        CHECK(t != NULL, "%s missing", CASES[i].file);
        if (!t) continue;
        CHECK(lmc_tool_syntax_detect(t) == CASES[i].syn, "%s: detected %s, expected %s",
              CASES[i].file, lmc_tool_syntax_name(lmc_tool_syntax_detect(t)),
              lmc_tool_syntax_name(CASES[i].syn));
        CHECK(lmc_tool_template_takes_tools(t) == CASES[i].takes, "%s: takes tools", CASES[i].file);
        free(t);
    }
    CHECK(lmc_tool_syntax_detect(NULL) == LMC_TOOL_SYNTAX_GENERIC, "NULL template");
}

int main(void) {
    test_hermes();
    test_llama3();
    test_mistral();
    test_generic();
    test_hostile();
    test_grammar();
    test_fallback();
    test_detect();
    return t_done();
}
