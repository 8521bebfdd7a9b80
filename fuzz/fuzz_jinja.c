/* fuzz_jinja.c — libFuzzer target: a template (and, after a line "---", the JSON context) parsed
 * and rendered with the budgets of a real render but 1 s of time. Any input must render or fail
 * with LMC_ERR_TEMPLATE / LMC_ERR_INVALID_ARG: never crash, overflow the stack, hang or leak. */
#include "jinja.h"

#include <stdlib.h>
#include <string.h>

static const char k_context[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", "
    "\"content\": \"Hi <b>there</b>\"}, {\"role\": \"assistant\", \"content\": \"Hello!\", "
    "\"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": {\"x\": [1, 2.5, "
    "null]}}}]}], "
    "\"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\", "
    "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *src = malloc(size + 1);
    if (!src) return 0;
    memcpy(src, data, size);
    src[size] = 0;
    cJSON *ctx = NULL;
    char *sep = strstr(src, "\n---\n");
    if (sep) {
        *sep = 0;
        ctx = cJSON_Parse(sep + 5);
        if (ctx && !cJSON_IsObject(ctx)) {
            cJSON_Delete(ctx);
            ctx = NULL;
        }
    }
    if (!ctx) ctx = cJSON_Parse(k_context);
    jinja_opts o = {.now = "2026-01-02T03:04:05", .max_ms = 1000};
    char *out = NULL;
    lmc_status st = jinja_render(src, ctx, &o, &out);
    if (st != LMC_OK && st != LMC_ERR_TEMPLATE && st != LMC_ERR_INVALID_ARG) abort();
    if (st == LMC_OK && !out) abort();
    free(out);
    cJSON_Delete(ctx);
    free(src);
    return 0;
}
