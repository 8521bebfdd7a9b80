/* test_jinja.c — the Jinja interpreter against Jinja2 itself: small templates for each language
 * feature and the shared chat templates over tool-calling conversations (goldens made by
 * scripts/gen_jinja_cases.py in transformers' environment), plus robustness: truncated and hostile
 * templates must fail cleanly within the limits, never crash. */
#include "jinja.h"
#include "testutil.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>

static cJSON *load_json(const char *path) {
    char *text = t_read_file(path, NULL);
    if (!text) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

static void show(const char *label, const char *want, const char *got) {
    size_t i = 0;
    while (want[i] && want[i] == got[i])
        i++;
    size_t from = i > 30 ? i - 30 : 0;
    fprintf(stderr, "  %s: differs at byte %zu\n    want: %.80s\n    got:  %.80s\n", label, i,
            want + from, got + from);
}

/* Errors whose text jinja2 fixes (undefined values, raise_exception, Python's TypeError wording)
 * must match exactly; for syntax errors the wording differs, only the failure and its line count.
 */
static int check_case(const char *label, const char *src, const cJSON *ctx, const cJSON *c) {
    const cJSON *exp = cJSON_GetObjectItem(c, "expected"), *err = cJSON_GetObjectItem(c, "error"),
                *et = cJSON_GetObjectItem(c, "error_type");
    jinja_opts o = {.now = "2026-11-21"};
    char *out = NULL;
    lmc_status st = jinja_render(src, ctx, &o, &out);
    int ok;
    if (cJSON_IsString(exp)) {
        ok = st == LMC_OK && !strcmp(out, exp->valuestring);
        if (st != LMC_OK)
            fprintf(stderr, "  %s: error: %s\n", label, lmc_last_error());
        else if (!ok)
            show(label, exp->valuestring, out);
    } else {
        const char *type = cJSON_IsString(et) ? et->valuestring : "";
        int exact = strcmp(type, "syntax") && strcmp(type, "SyntaxError");
        ok = st == LMC_ERR_TEMPLATE &&
             (exact ? !strcmp(o.err_msg, err->valuestring) : o.err_line > 0);
        if (!ok)
            fprintf(stderr, "  %s: want %s error \"%s\", got %s \"%s\"\n", label, type,
                    err->valuestring, st == LMC_OK ? "text" : "error",
                    st == LMC_OK ? out : o.err_msg);
    }
    free(out);
    return ok;
}

static void test_cases(void) {
    const char *srcdir = getenv("LMC_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/jinja_cases.json", srcdir ? srcdir : "..");
    cJSON *cases = load_json(path);
    CHECK(cases && cJSON_IsArray(cases), "load %s", path);
    if (!cases) return;
    int n = 0, pass = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int ok = check_case(name, cJSON_GetObjectItem(c, "template")->valuestring,
                            cJSON_GetObjectItem(c, "context"), c);
        CHECK(ok, "%s", name);
        n++;
        pass += ok;
    }
    printf("language cases: %d/%d\n", pass, n);

    /* robustness: every prefix of every case template must parse or fail cleanly */
    int clean = 1;
    cJSON_ArrayForEach(c, cases) {
        const char *src = cJSON_GetObjectItem(c, "template")->valuestring;
        size_t len = strlen(src);
        char *buf = malloc(len + 1);
        for (size_t k = 0; k <= len; k++) {
            memcpy(buf, src, k);
            buf[k] = 0;
            char *out = NULL;
            lmc_status st = jinja_render(buf, cJSON_GetObjectItem(c, "context"), NULL, &out);
            if (st != LMC_OK && st != LMC_ERR_TEMPLATE) clean = 0;
            if ((st == LMC_OK) != (out != NULL)) clean = 0;
            free(out);
        }
        free(buf);
    }
    CHECK(clean, "truncated templates render or fail with LMC_ERR_TEMPLATE");
    cJSON_Delete(cases);
}

static void test_tool_cases(void) {
    const char *srcdir = getenv("LMC_SOURCE_DIR");
    const char *tdir = t_shared("templates");
    struct stat st;
    if (!tdir || stat(tdir, &st) != 0) {
        printf("shared templates absent: tool-calling cases skipped\n");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/template_tool_cases.json", srcdir ? srcdir : "..");
    cJSON *cases = load_json(path);
    CHECK(cases && cJSON_IsArray(cases), "load %s", path);
    if (!cases) return;
    int n = 0, pass = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *file = cJSON_GetObjectItem(c, "template_file")->valuestring;
        snprintf(path, sizeof path, "%s/%s", tdir, file);
        char *src = t_read_file(path, NULL);
        CHECK(src != NULL, "read %s", path);
        if (!src) continue;
        char label[1024];
        snprintf(label, sizeof label, "%s/%s", file, cJSON_GetObjectItem(c, "name")->valuestring);
        int ok = check_case(label, src, cJSON_GetObjectItem(c, "context"), c);
        CHECK(ok, "%s", label);
        n++;
        pass += ok;
        free(src);
    }
    printf("tool-calling template cases: %d/%d\n", pass, n);
    cJSON_Delete(cases);
}

static lmc_status render(const char *src, char **out, jinja_opts *o) {
    cJSON *ctx = cJSON_Parse("{\"xs\": [1, 2, 3]}");
    lmc_status st = jinja_render(src, ctx, o, out);
    cJSON_Delete(ctx);
    return st;
}

static void test_limits(void) {
    jinja_opts o = {0};
    char *out = NULL;
    /* deep nesting is refused at parse time, not by overflowing the C stack */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 16);
    strcpy(deep, "{{ ");
    size_t k = 3;
    for (size_t i = 0; i < depth; i++)
        deep[k++] = '(';
    deep[k++] = '1';
    for (size_t i = 0; i < depth; i++)
        deep[k++] = ')';
    strcpy(deep + k, " }}");
    CHECK(render(deep, &out, &o) == LMC_ERR_TEMPLATE && o.err_line == 1, "deep parentheses: %s",
          o.err_msg);
    memset(deep, 0, 3 + depth);
    k = 0;
    for (size_t i = 0; i < 5000; i++) {
        memcpy(deep + k, "{{ not", 6);
        k += 6;
    }
    deep[k] = 0;
    CHECK(render(deep, &out, &o) == LMC_ERR_TEMPLATE, "deep unary chain");
    free(deep);
    /* runaway recursion, output and loops */
    CHECK(render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", &out, &o) ==
                  LMC_ERR_TEMPLATE &&
              strstr(o.err_msg, "recursion"),
          "infinite macro recursion: %s", o.err_msg);
    CHECK(render("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", &out, &o) ==
                  LMC_ERR_TEMPLATE &&
              strstr(o.err_msg, "MiB"),
          "output limit: %s", o.err_msg);
    o.max_ms = 600000; /* the step budget, not the clock, must stop it (slow under ASan) */
    CHECK(
        render("{% set r = range(5000) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}",
               &out, &o) == LMC_ERR_TEMPLATE &&
            strstr(o.err_msg, "steps"),
        "step limit: %s", o.err_msg);
    o.max_ms = 0;
    CHECK(render("{{ 'ab' * 100000000 }}", &out, &o) == LMC_ERR_TEMPLATE,
          "string repetition limit");
    CHECK(render("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s "
                 "%}{% endfor %}",
                 &out, &o) == LMC_ERR_TEMPLATE,
          "doubling string limit: %s", o.err_msg);
    /* error positions */
    CHECK(render("line1\n{{ xs[0] +\n 'a' }}", &out, &o) == LMC_ERR_TEMPLATE && o.err_line == 2 &&
              !strcmp(o.err_msg, "unsupported operand type(s) for +: 'int' and 'str'"),
          "runtime error position: %d %s", o.err_line, o.err_msg);
    CHECK(render("a\nb\n{% if x %}\n{% endfor %}", &out, &o) == LMC_ERR_TEMPLATE && o.err_line == 4,
          "parse error line %d", o.err_line);
    CHECK(strstr(lmc_last_error(), "line 4"), "lmc_last_error has the line: %s", lmc_last_error());
    CHECK(render("{{ raise_exception('boom') }}", &out, &o) == LMC_ERR_TEMPLATE && o.raised &&
              !strcmp(lmc_last_error(), "boom"),
          "raise_exception message is the error: %s", lmc_last_error());
    CHECK(render("{{ 'a\x80\xff' ~ xs|length }}", &out, &o) == LMC_OK && out &&
              !strcmp(out, "a\x80\xff"
                           "3"),
          "invalid UTF-8 passes through");
    free(out);
    out = NULL;
    /* strftime_now: explicit, from the environment, and a bad date */
    o.now = "2024-02-29T13:05:09";
    CHECK(render("{{ strftime_now('%Y-%m-%d %H:%M:%S %a') }}", &out, &o) == LMC_OK &&
              !strcmp(out, "2024-02-29 13:05:09 Thu"),
          "strftime_now: %s", out ? out : o.err_msg);
    free(out);
    out = NULL;
    o.now = NULL;
    setenv("LMC_TEMPLATE_NOW", "2026-11-21", 1);
    CHECK(render("{{ strftime_now('%d %b %Y') }}", &out, &o) == LMC_OK &&
              !strcmp(out, "21 Nov 2026"),
          "LMC_TEMPLATE_NOW");
    free(out);
    out = NULL;
    setenv("LMC_TEMPLATE_NOW", "yesterday", 1);
    CHECK(render("{{ 1 }}", &out, &o) == LMC_ERR_TEMPLATE, "bad LMC_TEMPLATE_NOW is an error");
    unsetenv("LMC_TEMPLATE_NOW");
    CHECK(render("{{ strftime_now('%Y')|int > 2000 }}", &out, &o) == LMC_OK && !strcmp(out, "True"),
          "real time");
    free(out);
    out = NULL;
    /* bad arguments */
    CHECK(jinja_render(NULL, NULL, NULL, &out) == LMC_ERR_INVALID_ARG, "NULL template");
    cJSON *arr = cJSON_CreateArray();
    CHECK(jinja_render("x", arr, NULL, &out) == LMC_ERR_INVALID_ARG, "context must be an object");
    cJSON_Delete(arr);
}

/* A template of `n` copies of `unit` between `head` and `tail` (malloc'ed). */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail) {
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1), *p = s;
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < n; i++, p += ul)
        memcpy(p, unit, ul);
    memcpy(p, tail, tl + 1);
    return s;
}

/* Issue 17's hostile templates: each renders or fails with a clear template error, within the
 * budgets, never a crash (these crashed or hung before). */
static void test_hostile(void) {
    static const struct {
        const char *head, *unit;
        size_t n;
        const char *tail, *want, *err; /* want: the output; err: a substring of the error */
    } chains[] = {
        {"{{ 1", " + 1", 100000, " }}", "100001", NULL},
        {"{{ 0", " - 1", 100000, " }}", "-100000", NULL},
        {"{{ 1", " * 1", 100000, " }}", "1", NULL},
        {"{{ 1", " ** 1", 100000, " }}", "1", NULL},
        {"{{ 1", " and 1", 100000, " }}", "1", NULL},
        {"{{ 0", " or 0", 100000, " }}", "0", NULL},
        {"{{ ('a'", " ~ 'a'", 100000, ")|length }}", "100001", NULL},
        {"{{ 1", "|string", 100000, " }}", NULL, "nested too deeply"},
        {"{{ xs", ".a", 100000, " }}", NULL, "nested too deeply"},
        {"{{ xs", "[0]", 100000, " }}", NULL, "nested too deeply"},
        {"{{ range", "(1)", 100000, " }}", NULL, "nested too deeply"},
        {"{{ 1", " if 1", 100000, " }}", NULL, "nested too deeply"},
        {"{{ ", "-", 100000, "1 }}", NULL, "nested too deeply"},
        {"", "{% if 1 %}", 100000, "", NULL, "nested too deeply"},
        {"", "{% for i in xs %}", 10000, "", NULL, "nested too deeply"},
        {"", "{% macro f() %}", 10000, "", NULL, "nested too deeply"},
    };
    for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++) {
        char *src = repeat(chains[i].head, chains[i].unit, chains[i].n, chains[i].tail),
             *out = NULL;
        jinja_opts o = {0};
        lmc_status st = render(src, &out, &o);
        if (chains[i].want)
            CHECK(st == LMC_OK && !strcmp(out, chains[i].want), "%s%s x%zu: %s", chains[i].head,
                  chains[i].unit, chains[i].n, st == LMC_OK ? out : o.err_msg);
        else
            CHECK(st == LMC_ERR_TEMPLATE && strstr(o.err_msg, chains[i].err), "%s%s x%zu: %s",
                  chains[i].head, chains[i].unit, chains[i].n, st == LMC_OK ? out : o.err_msg);
        free(out);
        free(src);
    }
    /* deeply nested list and dict literals, closed */
    for (int k = 0; k < 2; k++) {
        char *close = repeat("1", k ? "}" : "]", 100000, " }}");
        char *src = repeat("{{ ", k ? "{'a': " : "[", 100000, close), *out = NULL;
        jinja_opts o = {0};
        CHECK(render(src, &out, &o) == LMC_ERR_TEMPLATE && strstr(o.err_msg, "nested too deeply"),
              "nested %s literal: %s", k ? "dict" : "list", o.err_msg);
        free(out);
        free(src);
        free(close);
    }
    static const struct {
        const char *src, *want, *err;
    } cases[] = {
        /* values nested deeper than the evaluator may recurse: repr, ==, < */
        {"{% set ns = namespace(l=[]) %}{% for i in range(5000) %}{% set ns.l = [ns.l] %}"
         "{% endfor %}{{ ns.l }}",
         NULL, "nested too deeply"},
        {"{% set ns = namespace(l=[]) %}{% for i in range(5000) %}{% set ns.l = [ns.l] %}"
         "{% endfor %}{{ ns.l == ns.l }}",
         NULL, "nested too deeply"},
        {"{% set ns = namespace(l=[]) %}{% for i in range(5000) %}{% set ns.l = [ns.l] %}"
         "{% endfor %}{{ ns.l < ns.l }}",
         NULL, "nested too deeply"},
        {"{% set ns = namespace(l=[]) %}{% for i in range(500) %}{% set ns.l = [ns.l] %}"
         "{% endfor %}{{ ns.l|string|length }}",
         "1002", NULL},
        /* numeric conversions */
        {"{{ 1e300|int }}", NULL, "does not fit in a 64-bit integer"},
        {"{{ (1e308 * 10)|int }}", NULL, "does not fit in a 64-bit integer"},
        {"{{ (1e308 * 10 - 1e308 * 10)|int }}", "0", NULL}, /* NaN: jinja2's default */
        {"{{ 2.5|int }}|{{ -2.5|int }}", "2|-2", NULL},
        {"{{ 1.5|round(1000000000) }}", "1.5", NULL},
        {"{{ 1.5|round(-1000000000) }}", "0.0", NULL},
        {"{{ 5|round(1000) }}", "5", NULL},
        {"{{ 1e308|round(300) }}", "1e+308", NULL},
        {"{{ 1.55|round(400, 'ceil') }}", "1.55", NULL},
        {"{{ 2.675|round(2) }}|{{ 1234.5|round(-2) }}", "2.67|1200.0", NULL},
        {"{{ '%1000000000d'|format(1) }}", NULL, "format width larger than"},
        {"{{ '%.1000000000f'|format(1.5) }}", NULL, "format precision larger than"},
        {"{{ '%.400f'|format(1e308)|length }}", "710", NULL},
        {"{{ '[%5s|%-5s|%.2s]'|format('ab', 'c', 'xyz') }}", "[   ab|c    |xy]", NULL},
        {"{{ '%c'|format(99999999999) }}", NULL, "range(0x110000)"},
        /* NUL is data inside the engine; the text handed back is a C string, so it is refused */
        {"{{ 'a\\x00b'|length }}", "3", NULL},
        {"{{ '%s'|format('a\\x00b')|length }}|{{ '%-4s'|format('\\x00')|length }}", "3|4", NULL},
        {"x{{ 'a\\x00b' }}", NULL, "NUL byte (at byte 2)"},
        /* found by fuzz_jinja: the fill of the last batch built a list as long as asked */
        {"{{ range(2)|batch(1000000000000, 'x')|list|length }}", NULL, "too large to fill"},
        {"{{ range(5)|batch(3, 'x')|list }}", "[[0, 1, 2], [3, 4, 'x']]", NULL},
        /* memory and output budgets */
        {"{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}",
         NULL, "MiB"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        jinja_opts o = {0};
        lmc_status st = render(cases[i].src, &out, &o);
        if (cases[i].want)
            CHECK(st == LMC_OK && !strcmp(out, cases[i].want), "%s: %s", cases[i].src,
                  st == LMC_OK ? out : o.err_msg);
        else
            CHECK(st == LMC_ERR_TEMPLATE && strstr(o.err_msg, cases[i].err), "%s: %s", cases[i].src,
                  st == LMC_OK ? out : o.err_msg);
        free(out);
    }
    /* the wall-clock budget: a scan of 10 MB per iteration stops at max_ms, not minutes later */
    jinja_opts o = {.max_ms = 300};
    char *out = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lmc_status st = render("{% set big = 'ab' * 5000000 %}{% for i in range(100000) %}"
                           "{% set x = big|length %}{% endfor %}",
                           &out, &o);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(st == LMC_ERR_TEMPLATE && strstr(o.err_msg, "too long") && dt < 3.0,
          "time budget: %s after %.1f s", o.err_msg, dt);
    free(out);
}

/* The name tables (filters, tests, methods, tags, globals): each kind of entry, aliases, names
 * jinja2 knows that are refused, and unknown names. Expected texts are jinja2's, except for a
 * filter we do not support and a test missing its argument. */
static void test_dispatch(void) {
    static const struct {
        const char *src, *want, *err; /* want: the output; else err: the error message */
    } cases[] = {
        {"{{ '12'|int(0, 1) }}|{{ 'x'|int(7, 1) }}|{{ '0x1A'|int(0, 16) }}", "12|7|26", NULL},
        {"{{ '<a>'|e }}{{ '<a>'|safe|e }}{{ '<a>'|safe|forceescape }}{{ '<a>'|escape }}",
         "&lt;a&gt;<a>&lt;a&gt;&lt;a&gt;", NULL},
        {"{{ [3,1,2]|min }}{{ [3,1,2]|max }}{{ ['b','A']|sort|join }}{{ [1,1,2]|unique|list }}",
         "13Ab[1, 2]", NULL},
        {"{{ xs|d(0) }}{{ nope|d(0) }}{{ xs|count }}{{ xs|length }}{{ xs|first }}{{ xs|last }}",
         "[1, 2, 3]03313", NULL},
        {"{{ 'aB'|upper }}{{ 'aB'|lower }}{{ 'aB cd'|capitalize }}{{ 'aB cd'|title }}",
         "ABabAb cdAb Cd", NULL},
        {"{{ xs|select('odd')|list }}{{ xs|reject('odd')|list }}"
         "{{ [{'a':1},{'a':2}]|selectattr('a','eq',2)|list }}"
         "{{ [{'a':1},{'a':2}]|rejectattr('a','eq',2)|list }}",
         "[1, 3][2][{'a': 2}][{'a': 1}]", NULL},
        {"{{ xs is sequence }}|{{ 'a' is lower }}|{{ xs is callable }}|{{ xs.index is callable }}|"
         "{{ none is none }}|{{ 3 is number }}|{{ 4 is even }}|{{ 3 is odd }}|{{ 3 is ge(3) }}|"
         "{{ 3 is lessthan 4 }}|{{ 'upper' is filter }}|{{ 'odd' is test }}|{{ false is false }}",
         "True|True|False|True|True|True|True|True|True|True|True|True|True", NULL},
        {"{% for i in xs %}{{ loop.cycle('a','b') }}{% endfor %}", "aba", NULL},
        {"{{ {'k': 1}|attr('k') }}|{{ {'k': 1}.get('k') }}|{{ {'k': 1}.k }}", "|1|1", NULL},
        {"{{ 'a-b'.split('-') }}{{ 'a-b'.rsplit('-', 1) }}{{ 'ab'.startswith(('x', 'a')) }}",
         "['a', 'b']['a', 'b']True", NULL},
        {"{{ xs.count(2) }}{{ xs.index(3) }}{{ xs.copy() }}{{ {'a': 1}.items()|list }}",
         "12[1, 2, 3][('a', 1)]", NULL},
        {"{{ range(3)|list }}{{ dict(a=1) }}{{ namespace(a=1).a }}", "[0, 1, 2]{'a': 1}1", NULL},
        {"{{ xs.append(4) }}", NULL, "access to attribute 'append' of 'list' object is unsafe."},
        {"{{ {'a':1}.pop('a') }}", NULL, "access to attribute 'pop' of 'dict' object is unsafe."},
        {"{{ xs|nosuch }}", NULL, "No filter named 'nosuch'."},
        {"{{ xs is nosuch }}", NULL, "No test named 'nosuch'."},
        {"{{ xs|groupby('a') }}", NULL, "filter 'groupby' is not supported"},
        {"{{ xs|map('nosuch')|list }}", NULL, "No filter named 'nosuch'."},
        {"{{ xs|select('nosuch')|list }}", NULL, "No test named 'nosuch'."},
        {"{{ 1 is eq }}", NULL, "test 'eq' needs an argument"},
        {"{% nosuch %}", NULL, "Encountered unknown tag 'nosuch'."},
    };
    jinja_opts o = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        lmc_status st = render(cases[i].src, &out, &o);
        if (cases[i].want)
            CHECK(st == LMC_OK && !strcmp(out, cases[i].want), "%s: got \"%s\"", cases[i].src,
                  st == LMC_OK ? out : o.err_msg);
        else
            CHECK(st == LMC_ERR_TEMPLATE && !strcmp(o.err_msg, cases[i].err), "%s: got \"%s\"",
                  cases[i].src, st == LMC_OK ? out : o.err_msg);
        free(out);
    }
}

static void test_builtins(void) {
    static const char *const names[] = {"chatml", "llama2", "llama3", "mistral", "zephyr"};
    cJSON *msgs = cJSON_Parse("[{\"role\":\"user\",\"content\":\"hi\"}]");
    for (size_t i = 0; i < 5; i++) {
        const char *src = lmc_chat_builtin(names[i]);
        CHECK(src != NULL, "builtin %s", names[i]);
        char *out = NULL;
        CHECK(src && chat_render_json(src, msgs, true, "<s>", "</s>", NULL, NULL, &out) == LMC_OK &&
                  strstr(out, "hi"),
              "builtin %s renders", names[i]);
        free(out);
    }
    CHECK(lmc_chat_builtin("nope") == NULL && lmc_chat_builtin(NULL) == NULL, "unknown builtin");
    char *out = NULL;
    CHECK(chat_render_json(lmc_chat_builtin("chatml"), msgs, false, NULL, NULL, NULL, NULL, &out) ==
                  LMC_OK &&
              !strcmp(out, "<|im_start|>user\nhi<|im_end|>\n"),
          "chatml without generation prompt");
    free(out);
    cJSON_Delete(msgs);
}

int main(void) {
    test_cases();
    test_tool_cases();
    test_limits();
    test_hostile();
    test_dispatch();
    test_builtins();
    return t_done();
}
