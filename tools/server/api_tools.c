/* api_tools.c — OpenAI's tool calls in `lmc serve`: the request fields (tools, tool_choice,
 * parallel_tool_calls checked field by field) and the reply side (message.tool_calls, streamed
 * tool-call deltas). The prompt side (messages and tools through the template, the call grammar)
 * is api_tools_prompt.c's; recognising and parsing a model's call syntax is the library's
 * (lmc_tool_*); HTTP is server.c's. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOOL_ARG_CHUNK 48 /* bytes of arguments per streamed delta (at most) */

/* ---- request ------------------------------------------------------------------------------- */
static bool is_absent(const cJSON *v) {
    return !v || cJSON_IsNull(v);
}

static bool valid_name(const char *s) {
    size_t n = strlen(s);
    if (!n || n > SRV_MAX_TOOL_NAME) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* One element of "tools": {"type": "function", "function": {"name", "description"?,
 * "parameters"? (a schema object), "strict"?}}. */
static bool check_tool(const cJSON *t, int i, srv_request *r, api_error *err) {
    char p[96];
    snprintf(p, sizeof p, "tools[%d]", i);
    if (!cJSON_IsObject(t)) return api_fail(err, 400, p, "'%s' must be an object", p);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "function")) {
        snprintf(p, sizeof p, "tools[%d].type", i);
        return api_fail(err, 400, p, "'%s' must be \"function\"", p);
    }
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
    if (!cJSON_IsObject(fn)) {
        snprintf(p, sizeof p, "tools[%d].function", i);
        return api_fail(err, 400, p, "'%s' must be an object with a 'name'", p);
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    if (!cJSON_IsString(name) || !valid_name(name->valuestring)) {
        snprintf(p, sizeof p, "tools[%d].function.name", i);
        return api_fail(err, 400, p, "'%s' must be 1 to %d letters, digits, '_' or '-'", p,
                        SRV_MAX_TOOL_NAME);
    }
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(fn, "description");
    if (!is_absent(desc) && !cJSON_IsString(desc)) {
        snprintf(p, sizeof p, "tools[%d].function.description", i);
        return api_fail(err, 400, p, "'%s' must be a string", p);
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
    if (!is_absent(params) && !cJSON_IsObject(params)) {
        snprintf(p, sizeof p, "tools[%d].function.parameters", i);
        return api_fail(err, 400, p, "'%s' must be a JSON schema object", p);
    }
    const cJSON *strict = cJSON_GetObjectItemCaseSensitive(fn, "strict");
    if (!is_absent(strict) && !cJSON_IsBool(strict)) {
        snprintf(p, sizeof p, "tools[%d].function.strict", i);
        return api_fail(err, 400, p, "'%s' must be true or false", p);
    }
    for (int k = 0; k < r->n_tools; k++)
        if (!strcmp(r->tool_names[k], name->valuestring)) {
            snprintf(p, sizeof p, "tools[%d].function.name", i);
            return api_fail(err, 400, p, "'%s': a function named '%s' is already given", p,
                            name->valuestring);
        }
    snprintf(r->tool_names[r->n_tools++], sizeof r->tool_names[0], "%s", name->valuestring);
    return true;
}

bool api_parse_tools(const cJSON *root, srv_request *r, api_error *err) {
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(root, "tool_choice");
    const cJSON *par = cJSON_GetObjectItemCaseSensitive(root, "parallel_tool_calls");
    r->tools = SRV_TOOLS_OFF;
    r->n_tools = 0;
    r->tool_only = -1;
    r->parallel_tools = true;
    if (!is_absent(par) && !cJSON_IsBool(par))
        return api_fail(err, 400, "parallel_tool_calls",
                        "'parallel_tool_calls' must be true or false");
    if (cJSON_IsBool(par)) r->parallel_tools = cJSON_IsTrue(par);
    if (!is_absent(tools) && !cJSON_IsArray(tools))
        return api_fail(err, 400, "tools", "'tools' must be an array of functions");
    int n = is_absent(tools) ? 0 : cJSON_GetArraySize(tools), i = 0;
    if (n > SRV_MAX_TOOLS)
        return api_fail(err, 400, "tools", "'tools' may hold at most %d functions", SRV_MAX_TOOLS);
    const cJSON *t, *list = n ? tools : NULL;
    cJSON_ArrayForEach(t, list) {
        if (!check_tool(t, i++, r, err)) return false;
    }
    if (is_absent(choice)) {
        r->tools = n ? SRV_TOOLS_AUTO : SRV_TOOLS_OFF;
        return true;
    }
    if (cJSON_IsString(choice)) {
        const char *c = choice->valuestring;
        if (!strcmp(c, "none")) return true;
        if (strcmp(c, "auto") && strcmp(c, "required"))
            return api_fail(err, 400, "tool_choice",
                            "'tool_choice' must be \"none\", \"auto\", \"required\" or "
                            "{\"type\": \"function\", \"function\": {\"name\": ...}}, got "
                            "\"%.64s\"",
                            c);
        if (!n && !strcmp(c, "auto")) return true; /* nothing to choose from: a text reply */
        if (!n) return api_fail(err, 400, "tool_choice", "'tool_choice' needs 'tools'");
        r->tools = strcmp(c, "auto") ? SRV_TOOLS_REQUIRED : SRV_TOOLS_AUTO;
        return true;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(choice, "type");
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(choice, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    if (!cJSON_IsObject(choice) || !cJSON_IsString(type) || strcmp(type->valuestring, "function") ||
        !cJSON_IsString(name))
        return api_fail(err, 400, "tool_choice",
                        "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": "
                        "\"function\", \"function\": {\"name\": ...}}");
    for (int k = 0; k < r->n_tools; k++)
        if (!strcmp(r->tool_names[k], name->valuestring)) {
            r->tools = SRV_TOOLS_NAMED;
            r->tool_only = k;
            return true;
        }
    return api_fail(err, 400, "tool_choice.function.name",
                    "'tool_choice.function.name' \"%.64s\" is not a function in 'tools'",
                    name->valuestring);
}

bool api_tools_needed(const cJSON *root, const srv_request *r) {
    if (r->n_tools > 0) return true;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "messages")) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (cJSON_GetObjectItemCaseSensitive(m, "tool_calls") ||
            cJSON_GetObjectItemCaseSensitive(m, "tool_call_id") ||
            (cJSON_IsString(role) && !strcmp(role->valuestring, "tool")))
            return true;
    }
    return false;
}

/* ---- reply --------------------------------------------------------------------------------- */
/* The reply's calls when every one names a known function (a call of anything else means the model
 * did not call a tool); NULL otherwise. */
static lmc_tool_call *reply_calls(const srv_request *r, const char *text, size_t len, int32_t *n,
                                  char **content) {
    lmc_tool_call *calls = NULL;
    *n = 0;
    *content = NULL;
    if (r->kind != SRV_KIND_CHAT || r->tools == SRV_TOOLS_OFF) return NULL;
    if (lmc_tool_calls_parse(r->tool_syntax, text ? text : "", text ? len : 0, &calls, n,
                             content) != LMC_OK)
        return NULL;
    bool known = *n > 0;
    for (int32_t i = 0; known && i < *n; i++) {
        bool found = false;
        for (int32_t k = 0; k < r->n_tools && !found; k++)
            found = !strcmp(r->tool_names[k], calls[i].name);
        known = found && (r->tools != SRV_TOOLS_NAMED ||
                          !strcmp(calls[i].name, r->tool_names[r->tool_only]));
    }
    if (!known) {
        lmc_tool_calls_free(calls, *n);
        free(*content);
        *content = NULL;
        *n = 0;
        return NULL;
    }
    return calls;
}

/* call_<the request id's random part>_<call> (choice 0) or _<choice>_<call>: unique per reply. */
static void call_id(const srv_request *r, int32_t i, char *buf, size_t size) {
    const char *tail = strrchr(r->id, '-');
    if (r->index > 0)
        snprintf(buf, size, "call_%s_%d_%d", tail ? tail + 1 : r->id, (int)r->index, (int)i);
    else
        snprintf(buf, size, "call_%s_%d", tail ? tail + 1 : r->id, (int)i);
}

bool api_tools_message(const srv_request *r, const char *text, size_t len, cJSON *message) {
    int32_t n = 0;
    char *content = NULL;
    lmc_tool_call *calls = reply_calls(r, text, len, &n, &content);
    if (!calls) return false;
    char *clean = content[0] ? api_utf8_clean(content, strlen(content)) : NULL;
    if (clean)
        cJSON_AddStringToObject(message, "content", clean);
    else
        cJSON_AddNullToObject(message, "content");
    free(clean);
    cJSON *arr = cJSON_AddArrayToObject(message, "tool_calls");
    for (int32_t i = 0; i < n; i++) {
        char id[80];
        call_id(r, i, id, sizeof id);
        cJSON *c = cJSON_CreateObject(), *f;
        cJSON_AddItemToArray(arr, c);
        cJSON_AddStringToObject(c, "id", id);
        cJSON_AddStringToObject(c, "type", "function");
        f = cJSON_AddObjectToObject(c, "function");
        cJSON_AddStringToObject(f, "name", calls[i].name);
        char *a = api_utf8_clean(calls[i].arguments, strlen(calls[i].arguments));
        cJSON_AddStringToObject(f, "arguments", a ? a : "{}");
        free(a);
    }
    lmc_tool_calls_free(calls, n);
    free(content);
    return true;
}

size_t api_tools_stream_prefix(const srv_request *r, const char *text, size_t len) {
    if (r->kind != SRV_KIND_CHAT || r->tools == SRV_TOOLS_OFF) return len;
    if (r->tools != SRV_TOOLS_AUTO) return 0; /* the reply is calls from its first byte */
    return lmc_tool_content_prefix(r->tool_syntax, text, len);
}

/* Length of a piece of s of at most max bytes that does not cut a UTF-8 sequence. */
static size_t utf8_piece(const char *s, size_t n, size_t max) {
    if (n <= max) return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k ? k : max;
}

bool api_tools_sse(const srv_request *r, const char *model_id, const char *text, size_t len,
                   size_t sent, char **buf, size_t *len_buf, size_t *cap) {
    int32_t n = 0;
    char *content = NULL;
    lmc_tool_call *calls = reply_calls(r, text, len, &n, &content);
    if (!calls) return false;
    size_t cl = strlen(content);
    cJSON *delta;
    if (cl > sent && !strncmp(content, text, sent)) { /* the content not streamed yet */
        cJSON *root = api_chat_chunk(r, model_id, &delta);
        char *clean = api_utf8_clean(content + sent, cl - sent);
        cJSON_AddStringToObject(delta, "content", clean ? clean : "");
        free(clean);
        api_sse_json(root, buf, len_buf, cap);
    }
    for (int32_t i = 0; i < n; i++) {
        char *a = api_utf8_clean(calls[i].arguments, strlen(calls[i].arguments));
        size_t al = a ? strlen(a) : 0, off = 0;
        for (bool first = true; first || off < al; first = false) {
            cJSON *root = api_chat_chunk(r, model_id, &delta);
            cJSON *arr = cJSON_AddArrayToObject(delta, "tool_calls"), *c = cJSON_CreateObject();
            cJSON_AddItemToArray(arr, c);
            cJSON_AddNumberToObject(c, "index", i);
            cJSON *f;
            if (first) {
                char id[80];
                call_id(r, i, id, sizeof id);
                cJSON_AddStringToObject(c, "id", id);
                cJSON_AddStringToObject(c, "type", "function");
                f = cJSON_AddObjectToObject(c, "function");
                cJSON_AddStringToObject(f, "name", calls[i].name);
                cJSON_AddStringToObject(f, "arguments", "");
            } else {
                size_t k = utf8_piece(a + off, al - off, TOOL_ARG_CHUNK);
                char piece[TOOL_ARG_CHUNK * 2 + 1];
                memcpy(piece, a + off, k);
                piece[k] = 0;
                off += k;
                f = cJSON_AddObjectToObject(c, "function");
                cJSON_AddStringToObject(f, "arguments", piece);
            }
            api_sse_json(root, buf, len_buf, cap);
        }
        free(a);
    }
    lmc_tool_calls_free(calls, n);
    free(content);
    return true;
}
