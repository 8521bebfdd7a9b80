/* test_templates.c — every chat template in ../shared/templates rendered over its conversations
 * must equal, byte for byte, what Jinja2 rendered in transformers' environment
 * (NAME.expected.json), or fail with the same raise_exception / undefined message; so must lmc's
 * own additions in tests/data/templates. Also: the built-in templates agree with the real
 * templates of their model families. */
#include "jinja.h"
#include "testutil.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void show_diff(const char *name, const char *want, const char *got) {
    size_t i = 0;
    while (want[i] && want[i] == got[i])
        i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  %s: first difference at byte %zu\n    want: \"", name, i);
    for (size_t k = from; want[k] && k < i + 40; k++)
        fputs(want[k] == '\n' ? "\\n" : (char[]){want[k], 0}, stderr);
    fprintf(stderr, "\"\n    got:  \"");
    for (size_t k = from; got[k] && k < i + 40; k++)
        fputs(got[k] == '\n' ? "\\n" : (char[]){got[k], 0}, stderr);
    fprintf(stderr, "\"\n");
}

/* Renders case c with template src; returns 1 when it matches want (text or error message). */
static int run_case(const char *src, const cJSON *c, const char *want_text, const char *want_err,
                    const char *label) {
    cJSON *ctx = cJSON_Duplicate(c, 1);
    cJSON_DeleteItemFromObject(ctx, "name");
    cJSON_DeleteItemFromObject(ctx, "expected");
    cJSON_DeleteItemFromObject(ctx, "error");
    jinja_opts o = {.now = "2026-11-21"};
    char *out = NULL;
    lmc_status st = jinja_render(src, ctx, &o, &out);
    cJSON_Delete(ctx);
    int ok;
    if (want_err) {
        ok = st == LMC_ERR_TEMPLATE && !strcmp(o.err_msg, want_err);
        if (!ok)
            fprintf(stderr, "  %s: want error \"%s\", got %s \"%s\"\n", label, want_err,
                    st == LMC_OK ? "text" : "error", st == LMC_OK ? out : o.err_msg);
    } else {
        ok = st == LMC_OK && !strcmp(out, want_text);
        if (st != LMC_OK)
            fprintf(stderr, "  %s: error: %s\n", label, lmc_last_error());
        else if (!ok)
            show_diff(label, want_text, out);
    }
    free(out);
    return ok;
}

static cJSON *load_expected(const char *dir, const char *base) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.expected.json", dir, base);
    char *text = t_read_file(path, NULL);
    if (!text) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

static void check_file(const char *dir, const char *jinja_name, int *files_ok) {
    char path[4096], base[1024];
    snprintf(base, sizeof base, "%.*s", (int)(strlen(jinja_name) - 6), jinja_name);
    snprintf(path, sizeof path, "%s/%s", dir, jinja_name);
    char *src = t_read_file(path, NULL);
    cJSON *cases = load_expected(dir, base);
    CHECK(src && cases && cJSON_IsArray(cases), "%s: template or expected.json missing/unreadable",
          base);
    if (!src || !cases) {
        free(src);
        cJSON_Delete(cases);
        return;
    }
    int n = 0, pass = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const cJSON *name = cJSON_GetObjectItem(c, "name"),
                    *exp = cJSON_GetObjectItem(c, "expected"),
                    *err = cJSON_GetObjectItem(c, "error");
        char label[1200];
        snprintf(label, sizeof label, "%s/%s", base,
                 cJSON_IsString(name) ? name->valuestring : "?");
        int ok = run_case(src, c, cJSON_IsString(exp) ? exp->valuestring : NULL,
                          cJSON_IsString(err) ? err->valuestring : NULL, label);
        CHECK(ok, "%s", label);
        n++;
        pass += ok;
    }
    printf("%-55s %d/%d\n", base, pass, n);
    *files_ok += pass == n;
    free(src);
    cJSON_Delete(cases);
}

/* A built-in template against a model family's real template on the same conversations. */
static void check_builtin(const char *dir, const char *builtin, const char *base, int gen_only,
                          const char *strip_prefix) {
    const char *src = lmc_chat_builtin(builtin);
    CHECK(src != NULL, "built-in %s exists", builtin);
    cJSON *cases = load_expected(dir, base);
    CHECK(cases != NULL, "%s.expected.json", base);
    if (!src || !cases) {
        cJSON_Delete(cases);
        return;
    }
    int n = 0, pass = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const cJSON *name = cJSON_GetObjectItem(c, "name"),
                    *exp = cJSON_GetObjectItem(c, "expected"),
                    *err = cJSON_GetObjectItem(c, "error");
        if (gen_only && !cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt"))) continue;
        const char *want = cJSON_IsString(exp) ? exp->valuestring : NULL;
        /* e.g. Qwen2.5 adds a default system prompt where ChatML adds none */
        if (want && strip_prefix && !strncmp(want, strip_prefix, strlen(strip_prefix)))
            want += strlen(strip_prefix);
        char label[1200];
        snprintf(label, sizeof label, "builtin %s vs %s/%s", builtin, base,
                 cJSON_IsString(name) ? name->valuestring : "?");
        int ok = run_case(src, c, want, cJSON_IsString(err) ? err->valuestring : NULL, label);
        CHECK(ok, "%s", label);
        n++;
        pass += ok;
    }
    printf("builtin %-8s vs %-40s %d/%d\n", builtin, base, pass, n);
    cJSON_Delete(cases);
}

/* Checks every NAME.jinja of dir against its NAME.expected.json; returns how many files there were.
 */
static int check_dir(const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir %s", dir);
    if (!d) return 0;
    char *names[256];
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nn < 256) {
        size_t l = strlen(e->d_name);
        if (l > 6 && !strcmp(e->d_name + l - 6, ".jinja")) names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof names[0], cmp_names);
    CHECK(nn > 0, "templates found in %s", dir);
    int files_ok = 0;
    for (int i = 0; i < nn; i++) {
        check_file(dir, names[i], &files_ok);
        free(names[i]);
    }
    printf("%d of %d template files render every case exactly (%s)\n", files_ok, nn, dir);
    return nn;
}

int main(void) {
    /* lmc's own additions (Gemma-3, Phi-4-mini: rendered by ../shared/tools/render_templates.py) */
    char ours[4096];
    const char *src = getenv("LMC_SOURCE_DIR");
    snprintf(ours, sizeof ours, "%s/tests/data/templates", src ? src : ".");
    check_dir(ours);
    check_builtin(ours, "gemma", "google-gemma-3-it", 0, NULL);

    const char *dir = t_shared("templates");
    struct stat st;
    if (!dir || stat(dir, &st) != 0) {
        printf("%s is absent: only lmc's own templates were checked\n",
               dir ? dir : "the shared folder");
        return t_done();
    }
    check_dir(dir);

    check_builtin(dir, "zephyr", "TinyLlama-TinyLlama-1.1B-Chat-v1.0", 0, NULL);
    check_builtin(dir, "llama2", "meta-llama-Llama-2-7b-chat-hf", 0, NULL);
    check_builtin(dir, "mistral", "mistralai-Mistral-7B-Instruct-v0.2", 0, NULL);
    /* Meta's Llama-3 template always appends the assistant header; compare where it is asked for */
    check_builtin(dir, "llama3", "meta-llama-Meta-Llama-3-8B-Instruct", 1, NULL);
    check_builtin(dir, "chatml", "Qwen-Qwen2.5-7B-Instruct", 0,
                  "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                  "assistant.<|im_end|>\n");
    return t_done();
}
