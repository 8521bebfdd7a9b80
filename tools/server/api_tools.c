/* api_tools.c — OpenAI's tool calls in `lmc serve`: the request side (tools, tool_choice,
 * parallel_tool_calls checked field by field; tool messages and assistant tool_calls in the
 * history; the chat rendered with tools through the model's own template, or a fallback block for
 * templates without tool support; the call grammar for "required" and a named function) and the
 * reply side (message.tool_calls, streamed tool-call deltas). Recognising and parsing a model's
 * call syntax is the library's (lmc_tool_*); HTTP is server.c's. */
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

/* A message's content as one string (text parts joined), or NULL for null / absent. The shape was
 * checked by api_parse_messages. */
static char *content_text(const cJSON *content) {
    if (cJSON_IsString(content)) return strdup(content->valuestring);
    if (!cJSON_IsArray(content)) return NULL;
    size_t len = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        len += strlen(cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring);
    }
    char *s = malloc(len + 1);
    if (!s) return NULL;
    s[0] = 0;
    cJSON_ArrayForEach(part, content) {
        strcat(s, cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring);
    }
    return s;
}

/* An assistant message's tool_calls checked and copied as the template sees them: arguments that
 * hold a JSON object become that object (templates apply tojson to them, as HF's callers pass
 * dicts). In fallback mode the calls become GENERIC JSON text appended to *text instead. */
static cJSON *copy_tool_calls(const cJSON *calls, int idx, bool fallback, char **text,
                              api_error *err) {
    char p[96];
    snprintf(p, sizeof p, "messages[%d].tool_calls", idx);
    if (!cJSON_IsArray(calls) || !cJSON_GetArraySize(calls))
        return api_fail(err, 400, p, "'%s' must be a non-empty array", p), NULL;
    cJSON *out = cJSON_CreateArray(), *plain = cJSON_CreateArray();
    const cJSON *c;
    int k = 0;
    cJSON_ArrayForEach(c, calls) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(c, "type");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        if (!cJSON_IsObject(c) || (!is_absent(id) && !cJSON_IsString(id)) ||
            (!is_absent(type) &&
             !(cJSON_IsString(type) && !strcmp(type->valuestring, "function"))) ||
            !cJSON_IsString(name) || !(cJSON_IsString(args) || cJSON_IsObject(args))) {
            snprintf(p, sizeof p, "messages[%d].tool_calls[%d]", idx, k);
            cJSON_Delete(out);
            cJSON_Delete(plain);
            return api_fail(err, 400, p,
                            "'%s' must be {\"id\", \"type\": \"function\", \"function\": "
                            "{\"name\", \"arguments\"}}",
                            p),
                   NULL;
        }
        cJSON *a = cJSON_IsString(args) ? cJSON_Parse(args->valuestring) : NULL;
        if (a && !cJSON_IsObject(a)) cJSON_Delete(a), a = NULL;
        cJSON *argv = a ? a : cJSON_Duplicate(args, true);
        cJSON *call = cJSON_CreateObject(), *f;
        if (!is_absent(id)) cJSON_AddStringToObject(call, "id", id->valuestring);
        cJSON_AddStringToObject(call, "type", "function");
        f = cJSON_AddObjectToObject(call, "function");
        cJSON_AddStringToObject(f, "name", name->valuestring);
        cJSON_AddItemToObject(f, "arguments", cJSON_Duplicate(argv, true));
        cJSON_AddItemToArray(out, call);
        cJSON *pc = cJSON_CreateObject();
        cJSON_AddStringToObject(pc, "name", name->valuestring);
        cJSON_AddItemToObject(pc, "arguments", argv);
        cJSON_AddItemToArray(plain, pc);
        k++;
    }
    if (fallback) { /* {"name", "arguments"} as the fallback block asks, or an array of them */
        char *j = cJSON_PrintUnformatted(k == 1 ? cJSON_GetArrayItem(plain, 0) : plain);
        size_t n = (*text ? strlen(*text) + 1 : 0) + (j ? strlen(j) : 0) + 1;
        char *s = malloc(n);
        if (s)
            snprintf(s, n, "%s%s%s", *text ? *text : "", *text && **text ? "\n" : "", j ? j : "");
        free(j);
        free(*text);
        *text = s;
    }
    cJSON_Delete(plain);
    return out;
}

/* The messages as the template receives them (see api_tools_render). */
static cJSON *template_messages(const cJSON *root, bool fallback, api_error *err) {
    cJSON *out = cJSON_CreateArray();
    const cJSON *m;
    int idx = 0;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "messages")) {
        char p[96];
        const char *role = cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring;
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        const cJSON *call_id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
        bool is_tool = !strcmp(role, "tool"), has_calls = !is_absent(calls);
        if (has_calls && strcmp(role, "assistant")) {
            snprintf(p, sizeof p, "messages[%d].tool_calls", idx);
            cJSON_Delete(out);
            return api_fail(err, 400, p, "'%s' belongs to assistant messages", p), NULL;
        }
        if (is_tool ? !cJSON_IsString(call_id) : !is_absent(call_id)) {
            snprintf(p, sizeof p, "messages[%d].tool_call_id", idx);
            cJSON_Delete(out);
            return api_fail(err, 400, p,
                            is_tool ? "'%s' (a string) is required in a tool message"
                                    : "'%s' belongs to tool messages",
                            p),
                   NULL;
        }
        if (!is_absent(name) && !cJSON_IsString(name)) {
            snprintf(p, sizeof p, "messages[%d].name", idx);
            cJSON_Delete(out);
            return api_fail(err, 400, p, "'%s' must be a string", p), NULL;
        }
        char *text = content_text(cJSON_GetObjectItemCaseSensitive(m, "content"));
        cJSON *msg = cJSON_CreateObject(), *tc = NULL;
        cJSON_AddItemToArray(out, msg);
        cJSON_AddStringToObject(msg, "role", role);
        if (has_calls && !(tc = copy_tool_calls(calls, idx, fallback, &text, err))) {
            free(text);
            cJSON_Delete(out);
            return NULL;
        }
        if (text)
            cJSON_AddStringToObject(msg, "content", text);
        else if (has_calls && !fallback)
            cJSON_AddNullToObject(msg, "content");
        else
            cJSON_AddStringToObject(msg, "content", "");
        free(text);
        if (tc && !fallback)
            cJSON_AddItemToObject(msg, "tool_calls", tc);
        else
            cJSON_Delete(tc);
        if (is_tool) cJSON_AddStringToObject(msg, "tool_call_id", call_id->valuestring);
        if (cJSON_IsString(name)) cJSON_AddStringToObject(msg, "name", name->valuestring);
        idx++;
    }
    return out;
}

/* Puts the fallback block into the first system message (after its text) or a new one. */
static bool add_fallback_block(cJSON *msgs, const char *block) {
    cJSON *first = cJSON_GetArrayItem(msgs, 0);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(first, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(first, "content");
    if (cJSON_IsString(role) && !strcmp(role->valuestring, "system") && cJSON_IsString(content)) {
        size_t n = strlen(content->valuestring) + strlen(block) + 3;
        char *s = malloc(n);
        if (!s) return false;
        snprintf(s, n, "%s%s%s", content->valuestring, content->valuestring[0] ? "\n\n" : "",
                 block);
        cJSON_ReplaceItemInObjectCaseSensitive(first, "content", cJSON_CreateString(s));
        free(s);
        return true;
    }
    cJSON *sys = cJSON_CreateObject();
    if (!sys) return false;
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", block);
    return cJSON_InsertItemInArray(msgs, 0, sys);
}

bool api_tools_render(const cJSON *root, const char *tmpl, const char *bos, const char *eos,
                      srv_request *r, char **out, api_error *err) {
    *out = NULL;
    const bool takes = lmc_tool_template_takes_tools(tmpl);
    r->tool_syntax = takes ? lmc_tool_syntax_detect(tmpl) : LMC_TOOL_SYNTAX_GENERIC;
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    const char *only = r->tools == SRV_TOOLS_NAMED ? r->tool_names[r->tool_only] : NULL;
    char *tools_json = r->n_tools ? cJSON_PrintUnformatted(tools) : NULL, *msgs_json = NULL;
    char *extra_json = NULL, *block = NULL;
    bool ok = false;
    cJSON *msgs = template_messages(root, !takes, err);
    if (!msgs) goto done;
    if (r->n_tools && !tools_json) {
        api_fail(err, 500, NULL, "out of memory");
        goto done;
    }
    if (!takes && r->tools != SRV_TOOLS_OFF) {
        lmc_status st =
            lmc_tool_fallback_prompt(tools_json, r->tools == SRV_TOOLS_REQUIRED, only, &block);
        if (st != LMC_OK || !add_fallback_block(msgs, block)) {
            api_fail(err, 500, NULL, "tools: %s", lmc_last_error());
            goto done;
        }
    }
    if (takes && tools_json) {
        size_t n = strlen(tools_json) + 16;
        extra_json = malloc(n);
        if (extra_json) snprintf(extra_json, n, "{\"tools\":%s}", tools_json);
    }
    msgs_json = cJSON_PrintUnformatted(msgs);
    if (!msgs_json || (takes && tools_json && !extra_json)) {
        api_fail(err, 500, NULL, "out of memory");
        goto done;
    }
    lmc_status st = lmc_chat_render_json(tmpl, msgs_json, extra_json, true, bos, eos, out);
    if (st != LMC_OK) {
        api_fail(err, st == LMC_ERR_TEMPLATE ? 400 : 500, "messages", "chat template: %s",
                 lmc_last_error()[0] ? lmc_last_error() : lmc_status_str(st));
        goto done;
    }
    if (r->tools == SRV_TOOLS_REQUIRED || r->tools == SRV_TOOLS_NAMED) {
        if (r->grammar) {
            api_fail(err, 400, "tool_choice",
                     "'tool_choice' \"required\" or a named function cannot be combined with "
                     "'response_format', 'grammar' or 'json_schema'");
            goto done;
        }
        st =
            lmc_tool_grammar_init(r->tool_syntax, tools_json, only, r->parallel_tools, &r->grammar);
        if (st != LMC_OK) {
            api_fail(err, st == LMC_ERR_OOM ? 500 : 400, "tools", "'tools': %s", lmc_last_error());
            goto done;
        }
    }
    ok = true;
done:
    if (!ok) free(*out), *out = NULL;
    cJSON_Delete(msgs);
    free(tools_json);
    free(msgs_json);
    free(extra_json);
    free(block);
    return ok;
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

static void call_id(const srv_request *r, int32_t i, char *buf, size_t size) {
    const char *tail = strrchr(r->id, '-');
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
