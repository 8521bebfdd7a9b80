/* api_tools_prompt.c — the prompt side of tool calls in `lmc serve`: the messages (tool results,
 * assistant tool_calls) and tools rendered through the model's own template as Hugging Face's
 * apply_chat_template(tools=...) does, or with a fallback block for templates without tool
 * support, and the call grammar for tool_choice "required" and a named function. The request
 * fields themselves are checked in api_tools.c. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_absent(const cJSON *v) {
    return !v || cJSON_IsNull(v);
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

/* Each function's parameters through the schema converter alone, so an unsupported one is a 400
 * naming tools[i].function.parameters and the path inside it. */
static bool check_schemas(const cJSON *tools, api_error *err) {
    const cJSON *t;
    int i = 0;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(t, "function"), "parameters");
        char *text = cJSON_IsObject(params) ? cJSON_PrintUnformatted(params) : NULL, *gbnf = NULL;
        lmc_status st = text ? lmc_json_schema_to_gbnf(text, strlen(text), &gbnf) : LMC_OK;
        free(text);
        free(gbnf);
        if (st != LMC_OK) {
            char p[64];
            snprintf(p, sizeof p, "tools[%d].function.parameters", i);
            return api_fail(err, st == LMC_ERR_OOM ? 500 : 400, p, "'%s': %s", p, lmc_last_error());
        }
        i++;
    }
    return true;
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
        if (!check_schemas(tools, err)) goto done;
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
