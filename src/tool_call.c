/* tool_call.c — OpenAI-style tool calls in a model's own syntax: one table of syntaxes (Hermes /
 * Qwen <tool_call>, Llama 3.x JSON / <|python_tag|>, Mistral [TOOL_CALLS], a generic JSON reply),
 * each with the template marker that detects it, the parser that reads calls back out of a reply
 * and the shape of the grammar that forces a reply to be calls whose arguments match their
 * functions' schemas. It does not render templates (chat.c) nor know HTTP (tools/server). JSON
 * values inside replies are read with cJSON's parser, so nested braces and strings that hold a
 * closing tag are what they are. */
#include "util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOOL_MAX_CALLS 64   /* calls one reply may hold */
#define TOOL_MAX_PARALLEL 4 /* calls a grammar allows when parallel */
#define TOOL_MAX_NAME 256   /* bytes of a function name in a reply */

typedef lmc_status (*tool_parse_fn)(const char *text, size_t len, cJSON *calls, strbuf *content);

static lmc_status parse_hermes(const char *text, size_t len, cJSON *calls, strbuf *content);
static lmc_status parse_llama3(const char *text, size_t len, cJSON *calls, strbuf *content);
static lmc_status parse_mistral(const char *text, size_t len, cJSON *calls, strbuf *content);
static lmc_status parse_generic(const char *text, size_t len, cJSON *calls, strbuf *content);

/* The syntax table. detect: template text that names the syntax (any of them, NULL-terminated);
 * marker: the text a call starts with anywhere in a reply (NULL: none); lead: characters that, as
 * the reply's first non-space one, may start a bare call; args: the arguments key; open/sep/close:
 * the grammar around the calls (a call is the schema's object). Order matters for detection:
 * Hermes-3 templates are Llama-3.1 templates with <tool_call> added. */
static const struct {
    lmc_tool_syntax syn;
    const char *name;
    const char *detect[3];
    const char *marker;
    const char *lead;
    const char *args;
    tool_parse_fn parse;
    const char *open, *sep, *close;
    bool multi; /* the grammar may repeat the call */
} SYNTAX[] = {
    {LMC_TOOL_SYNTAX_HERMES,
     "hermes",
     {"<tool_call>", NULL},
     "<tool_call>",
     "",
     "arguments",
     parse_hermes,
     "\"<tool_call>\\n\" ",
     " \"\\n</tool_call>\\n\" \"<tool_call>\\n\" ",
     " \"\\n</tool_call>\"",
     true},
    {LMC_TOOL_SYNTAX_MISTRAL,
     "mistral",
     {"[TOOL_CALLS]", NULL},
     "[TOOL_CALLS]",
     "[",
     "arguments",
     parse_mistral,
     "\"[\" ",
     " \", \" ",
     " \"]\"",
     true},
    {LMC_TOOL_SYNTAX_LLAMA3,
     "llama3",
     {"<|python_tag|>", "ipython", NULL},
     "<|python_tag|>",
     "{",
     "parameters",
     parse_llama3,
     "",
     "",
     "",
     false},
    {LMC_TOOL_SYNTAX_GENERIC,
     "generic",
     {NULL},
     NULL,
     "{[`",
     "arguments",
     parse_generic,
     "",
     "",
     "",
     false},
};
enum { N_SYNTAX = sizeof SYNTAX / sizeof SYNTAX[0] };

static int syntax_index(lmc_tool_syntax syn) {
    for (int i = 0; i < N_SYNTAX; i++)
        if (SYNTAX[i].syn == syn) return i;
    return N_SYNTAX - 1; /* generic */
}

lmc_tool_syntax lmc_tool_syntax_detect(const char *tmpl) {
    for (int i = 0; tmpl && i < N_SYNTAX; i++)
        for (int k = 0; SYNTAX[i].detect[k]; k++)
            if (strstr(tmpl, SYNTAX[i].detect[k])) return SYNTAX[i].syn;
    return LMC_TOOL_SYNTAX_GENERIC;
}

const char *lmc_tool_syntax_name(lmc_tool_syntax syn) {
    return SYNTAX[syntax_index(syn)].name;
}

bool lmc_tool_template_takes_tools(const char *tmpl) {
    return tmpl && strstr(tmpl, "tools") != NULL;
}

/* ---- parsing ------------------------------------------------------------------------------- */
static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_space(const char *t, size_t i, size_t len) {
    while (i < len && is_space(t[i]))
        i++;
    return i;
}

/* Finds needle in t[from, len); returns its offset or len. */
static size_t find(const char *t, size_t from, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = from; i + n <= len; i++)
        if (!memcmp(t + i, needle, n)) return i;
    return len;
}

static bool starts_with(const char *t, size_t i, size_t len, const char *s) {
    size_t n = strlen(s);
    return i + n <= len && !memcmp(t + i, s, n);
}

/* One JSON value at t[*i, len): parsed, *i moved past it; NULL when there is none whole. */
static cJSON *json_at(const char *t, size_t *i, size_t len) {
    const char *end = NULL;
    if (*i >= len) return NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(t + *i, len - *i, &end, false);
    if (!v) return NULL;
    *i = (size_t)(end - t);
    return v;
}

/* A call object ({"name", "arguments" | "parameters"}, or OpenAI's {"type": "function",
 * "function": {...}}) as {"name": string, "arguments": compact JSON text}, appended to calls.
 * False when obj is not a well-formed call. Arguments given as a string of a JSON object are
 * taken as that object (some models quote them). */
static bool add_call(cJSON *calls, const cJSON *obj) {
    if (!cJSON_IsObject(obj) || cJSON_GetArraySize(calls) >= TOOL_MAX_CALLS) return false;
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(obj, "function");
    if (cJSON_IsObject(fn)) obj = fn;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, "arguments");
    if (!args) args = cJSON_GetObjectItemCaseSensitive(obj, "parameters");
    if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) > TOOL_MAX_NAME)
        return false;
    cJSON *parsed = NULL;
    if (cJSON_IsString(args)) {
        parsed = cJSON_Parse(args->valuestring);
        if (!cJSON_IsObject(parsed)) {
            cJSON_Delete(parsed);
            return false;
        }
        args = parsed;
    }
    char *a = !args || cJSON_IsNull(args) ? strdup("{}")
              : cJSON_IsObject(args)      ? cJSON_PrintUnformatted(args)
                                          : NULL;
    cJSON_Delete(parsed);
    if (!a) return false;
    cJSON *c = cJSON_CreateObject();
    bool ok = c && cJSON_AddStringToObject(c, "name", name->valuestring) &&
              cJSON_AddStringToObject(c, "arguments", a) && cJSON_AddItemToArray(calls, c);
    if (!ok) cJSON_Delete(c);
    free(a);
    return ok;
}

/* Adds every element of a JSON array of calls; all or nothing. */
static bool add_call_array(cJSON *calls, const cJSON *arr) {
    int before = cJSON_GetArraySize(calls);
    const cJSON *it;
    if (!cJSON_IsArray(arr) || !cJSON_GetArraySize(arr)) return false;
    cJSON_ArrayForEach(it, arr) {
        if (!add_call(calls, it)) {
            while (cJSON_GetArraySize(calls) > before)
                cJSON_DeleteItemFromArray(calls, before);
            return false;
        }
    }
    return true;
}

/* Content text t[a, b) with its trailing whitespace removed (before a call, or at the end). */
static void add_content(strbuf *content, const char *t, size_t a, size_t b) {
    while (b > a && is_space(t[b - 1]))
        b--;
    if (b > a) strbuf_printf(content, "%s%.*s", content->n ? "\n" : "", (int)(b - a), t + a);
}

/* <tool_call> JSON </tool_call>, any number, text around them. A block whose JSON does not parse
 * as a call ends the parsing: it and what follows are content. A missing closing tag is accepted
 * only at the very end of the reply (the model stopped right after the JSON). */
static lmc_status parse_hermes(const char *t, size_t len, cJSON *calls, strbuf *content) {
    static const char OPEN[] = "<tool_call>", CLOSE[] = "</tool_call>";
    size_t i = 0;
    for (;;) {
        size_t at = find(t, i, len, OPEN);
        if (at == len) break;
        size_t j = skip_space(t, at + sizeof OPEN - 1, len);
        cJSON *v = json_at(t, &j, len);
        bool ok = v && add_call(calls, v);
        cJSON_Delete(v);
        if (ok) {
            j = skip_space(t, j, len);
            if (starts_with(t, j, len, CLOSE))
                j += sizeof CLOSE - 1;
            else if (j != len)
                ok = false, cJSON_DeleteItemFromArray(calls, cJSON_GetArraySize(calls) - 1);
        }
        if (!ok) break;
        add_content(content, t, i, at);
        i = skip_space(t, j, len);
    }
    add_content(content, t, i, len);
    return LMC_OK;
}

/* [TOOL_CALLS] followed by a JSON array of calls (the marker is a control token a detokenizer may
 * drop, so a reply that is only the array counts too). */
static lmc_status parse_mistral(const char *t, size_t len, cJSON *calls, strbuf *content) {
    static const char MARK[] = "[TOOL_CALLS]";
    size_t at = find(t, 0, len, MARK), j;
    if (at < len) {
        j = skip_space(t, at + sizeof MARK - 1, len);
    } else {
        at = j = skip_space(t, 0, len);
    }
    cJSON *v = json_at(t, &j, len);
    bool ok = v && (cJSON_IsArray(v) ? add_call_array(calls, v) : add_call(calls, v));
    cJSON_Delete(v);
    if (!ok) {
        add_content(content, t, 0, len);
        return LMC_OK;
    }
    add_content(content, t, 0, at);
    add_content(content, t, skip_space(t, j, len), len);
    return LMC_OK;
}

/* Calls separated by ';' that make up all of t[i, len) (after optional space); all or nothing. */
static bool json_calls_to_end(const char *t, size_t i, size_t len, cJSON *calls, char sep) {
    int before = cJSON_GetArraySize(calls);
    for (;;) {
        i = skip_space(t, i, len);
        cJSON *v = json_at(t, &i, len);
        bool ok = v && (cJSON_IsArray(v) ? add_call_array(calls, v) : add_call(calls, v));
        cJSON_Delete(v);
        if (!ok) break;
        i = skip_space(t, i, len);
        if (i == len) return true;
        if (!sep || t[i] != sep) break;
        i++;
    }
    while (cJSON_GetArraySize(calls) > before)
        cJSON_DeleteItemFromArray(calls, before);
    return false;
}

/* {"name": .., "parameters": {..}} (several joined by ';'), the whole reply or after
 * <|python_tag|>. */
static lmc_status parse_llama3(const char *t, size_t len, cJSON *calls, strbuf *content) {
    static const char TAG[] = "<|python_tag|>";
    size_t at = find(t, 0, len, TAG);
    size_t from = at < len ? at + sizeof TAG - 1 : 0;
    if (json_calls_to_end(t, from, len, calls, ';')) {
        add_content(content, t, 0, at < len ? at : 0);
        return LMC_OK;
    }
    add_content(content, t, 0, len);
    return LMC_OK;
}

/* The whole reply is a call, an array of calls or {"tool_calls": [...]}, perhaps in a ```json
 * fence. */
static lmc_status parse_generic(const char *t, size_t len, cJSON *calls, strbuf *content) {
    size_t i = skip_space(t, 0, len), end = len;
    while (end > i && is_space(t[end - 1]))
        end--;
    if (starts_with(t, i, end, "```") && end >= i + 6 && !memcmp(t + end - 3, "```", 3)) {
        i += 3;
        while (i < end - 3 && t[i] != '\n' && !is_space(t[i]) && t[i] != '{' && t[i] != '[')
            i++; /* the fence's language tag */
        end -= 3;
    }
    size_t j = skip_space(t, i, end);
    cJSON *v = json_at(t, &j, end);
    const cJSON *tc = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "tool_calls") : NULL;
    bool ok = v && skip_space(t, j, end) == end &&
              (tc                 ? add_call_array(calls, tc)
               : cJSON_IsArray(v) ? add_call_array(calls, v)
                                  : add_call(calls, v));
    cJSON_Delete(v);
    if (!ok) add_content(content, t, 0, len);
    return LMC_OK;
}

void lmc_tool_calls_free(lmc_tool_call *calls, int32_t n_calls) {
    for (int32_t i = 0; calls && i < n_calls; i++) {
        free(calls[i].name);
        free(calls[i].arguments);
    }
    free(calls);
}

lmc_status lmc_tool_calls_parse(lmc_tool_syntax syn, const char *text, size_t len,
                                lmc_tool_call **calls, int32_t *n_calls, char **content) {
    if (!calls || !n_calls || !content || (!text && len))
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_tool_calls_parse: NULL argument");
    *calls = NULL;
    *n_calls = 0;
    *content = NULL;
    cJSON *arr = cJSON_CreateArray();
    strbuf cb = {0};
    if (!arr) return lmc_err(LMC_ERR_OOM, "tool calls: out of memory");
    lmc_status st = SYNTAX[syntax_index(syn)].parse(text ? text : "", len, arr, &cb);
    int n = cJSON_GetArraySize(arr);
    if (st == LMC_OK && n > 0 && !(*calls = calloc((size_t)n, sizeof **calls))) st = LMC_ERR_OOM;
    for (int i = 0; st == LMC_OK && i < n; i++) {
        const cJSON *c = cJSON_GetArrayItem(arr, i);
        (*calls)[i].name = strdup(cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring);
        (*calls)[i].arguments =
            strdup(cJSON_GetObjectItemCaseSensitive(c, "arguments")->valuestring);
        *n_calls = i + 1;
        if (!(*calls)[i].name || !(*calls)[i].arguments) st = LMC_ERR_OOM;
    }
    *content = cb.p ? cb.p : strdup("");
    if (st == LMC_OK && (cb.oom || !*content)) st = LMC_ERR_OOM;
    cJSON_Delete(arr);
    if (st != LMC_OK) {
        lmc_tool_calls_free(*calls, *n_calls);
        free(*content);
        *calls = NULL, *n_calls = 0, *content = NULL;
        return lmc_err(st, "tool calls: out of memory");
    }
    return LMC_OK;
}

size_t lmc_tool_content_prefix(lmc_tool_syntax syn, const char *text, size_t len) {
    const int s = syntax_index(syn);
    size_t i = skip_space(text, 0, len);
    if (i == len || (text[i] && strchr(SYNTAX[s].lead, text[i]))) return 0;
    /* a reply that does not open with a call is content up to the first marker (GENERIC has
     * none: its calls are whole replies) */
    size_t end = len;
    const char *m = SYNTAX[s].marker;
    if (m) {
        size_t ml = strlen(m);
        end = find(text, 0, len, m);
        for (size_t k = ml - 1; end == len && k > 0; k--) /* a marker cut at the end */
            if (k <= len && !memcmp(text + len - k, m, k)) end = len - k;
    }
    while (end > 0 && is_space(text[end - 1]))
        end--;
    return end;
}

/* ---- grammar ------------------------------------------------------------------------------- */
/* Copies the $defs / definitions of a function's parameters into the combined schema's (so local
 * $refs resolve there); a name two functions define differently is refused. */
static lmc_status merge_defs(cJSON *root, const cJSON *params, const char *fname) {
    static const char *const KEYS[] = {"$defs", "definitions"};
    for (int k = 0; k < 2; k++) {
        const cJSON *defs = cJSON_GetObjectItemCaseSensitive(params, KEYS[k]), *d;
        if (!defs) continue;
        if (!cJSON_IsObject(defs))
            return lmc_err(LMC_ERR_FORMAT, "tools: function '%s': %s must be an object", fname,
                           KEYS[k]);
        cJSON *into = cJSON_GetObjectItemCaseSensitive(root, KEYS[k]);
        if (!into && !(into = cJSON_AddObjectToObject(root, KEYS[k])))
            return lmc_err(LMC_ERR_OOM, "tools: out of memory");
        cJSON_ArrayForEach(d, defs) {
            const cJSON *have = cJSON_GetObjectItemCaseSensitive(into, d->string);
            if (have && !cJSON_Compare(have, d, true))
                return lmc_err(LMC_ERR_UNSUPPORTED,
                               "tools: function '%s': %s/%s clashes with another function's", fname,
                               KEYS[k], d->string);
            if (!have && !cJSON_AddItemToObject(into, d->string, cJSON_Duplicate(d, true)))
                return lmc_err(LMC_ERR_OOM, "tools: out of memory");
        }
    }
    return LMC_OK;
}

/* The schema of one call: {"name": const, args: parameters}, both required, nothing else. */
static cJSON *call_schema(const char *name, const cJSON *params, const char *args_key) {
    cJSON *s = cJSON_CreateObject(), *props, *nm, *req;
    if (!s) return NULL;
    cJSON_AddStringToObject(s, "type", "object");
    props = cJSON_AddObjectToObject(s, "properties");
    nm = cJSON_AddObjectToObject(props, "name");
    cJSON_AddStringToObject(nm, "const", name);
    cJSON *p = params ? cJSON_Duplicate(params, true)
                      : cJSON_Parse("{\"type\":\"object\",\"properties\":{},"
                                    "\"additionalProperties\":false}");
    if (p) {
        cJSON_DeleteItemFromObjectCaseSensitive(p, "$defs");
        cJSON_DeleteItemFromObjectCaseSensitive(p, "definitions");
        cJSON_AddItemToObject(props, args_key, p);
    }
    req = cJSON_AddArrayToObject(s, "required");
    cJSON_AddItemToArray(req, cJSON_CreateString("name"));
    cJSON_AddItemToArray(req, cJSON_CreateString(args_key));
    cJSON_AddFalseToObject(s, "additionalProperties");
    if (!p || !nm || !req) {
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

/* tools (OpenAI's array) → one schema: anyOf over the functions' call schemas (or only's). */
static lmc_status tools_schema(const char *tools_json, const char *only, const char *args_key,
                               cJSON **out) {
    *out = NULL;
    cJSON *tools = tools_json ? cJSON_Parse(tools_json) : NULL, *root = cJSON_CreateObject();
    cJSON *any = root ? cJSON_AddArrayToObject(root, "anyOf") : NULL;
    lmc_status st = LMC_OK;
    if (!any) st = lmc_err(LMC_ERR_OOM, "tools: out of memory");
    if (st == LMC_OK && (!cJSON_IsArray(tools) || !cJSON_GetArraySize(tools)))
        st = lmc_err(LMC_ERR_FORMAT, "tools: not a non-empty JSON array");
    int idx = 0;
    const cJSON *t, *list = st == LMC_OK ? tools : NULL;
    cJSON_ArrayForEach(t, list) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        if (cJSON_IsNull(params)) params = NULL;
        if (!cJSON_IsString(name) || (params && !cJSON_IsObject(params))) {
            st = lmc_err(LMC_ERR_FORMAT, "tools[%d]: a function needs a name and an object schema",
                         idx);
            break;
        }
        idx++;
        if (only && strcmp(only, name->valuestring)) continue;
        cJSON *cs = call_schema(name->valuestring, params, args_key);
        if (!cs || !cJSON_AddItemToArray(any, cs)) {
            cJSON_Delete(cs);
            st = lmc_err(LMC_ERR_OOM, "tools: out of memory");
            break;
        }
        if (params && (st = merge_defs(root, params, name->valuestring)) != LMC_OK) break;
    }
    if (st == LMC_OK && !cJSON_GetArraySize(any))
        st = lmc_err(LMC_ERR_INVALID_ARG, "tools: no function is named '%s'", only ? only : "");
    cJSON_Delete(tools);
    if (st != LMC_OK) {
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return LMC_OK;
}

lmc_status lmc_tool_grammar_gbnf(lmc_tool_syntax syn, const char *tools_json, const char *only,
                                 bool parallel, char **gbnf) {
    if (!gbnf) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_tool_grammar_gbnf: no output pointer");
    *gbnf = NULL;
    const int s = syntax_index(syn);
    cJSON *schema = NULL;
    lmc_status st = tools_schema(tools_json, only, SYNTAX[s].args, &schema);
    if (st != LMC_OK) return st;
    char *text = cJSON_PrintUnformatted(schema), *calls = NULL;
    cJSON_Delete(schema);
    if (!text) return lmc_err(LMC_ERR_OOM, "tools: out of memory");
    st = lmc_json_schema_to_gbnf(text, strlen(text), &calls);
    free(text);
    if (st != LMC_OK) {
        lmc_err_prefix("tools");
        return st;
    }
    /* the schema's start rule is "root"; ours wraps it in the syntax's delimiters */
    strbuf b = {0};
    strbuf_printf(&b, "%s%s ::= %sroot", calls, LMC_TOOL_GRAMMAR_ROOT, SYNTAX[s].open);
    if (parallel && SYNTAX[s].multi)
        strbuf_printf(&b, " (%sroot){0,%d}", SYNTAX[s].sep, TOOL_MAX_PARALLEL - 1);
    strbuf_printf(&b, "%s\n", SYNTAX[s].close);
    free(calls);
    if (b.oom) {
        free(b.p);
        return lmc_err(LMC_ERR_OOM, "tools: out of memory");
    }
    *gbnf = b.p;
    return LMC_OK;
}

lmc_status lmc_tool_grammar_init(lmc_tool_syntax syn, const char *tools_json, const char *only,
                                 bool parallel, lmc_grammar **out) {
    if (!out) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_tool_grammar_init: no output pointer");
    *out = NULL;
    char *text = NULL;
    lmc_status st = lmc_tool_grammar_gbnf(syn, tools_json, only, parallel, &text);
    if (st != LMC_OK) return st;
    st = lmc_grammar_init_gbnf(text, strlen(text), LMC_TOOL_GRAMMAR_ROOT, out);
    if (st != LMC_OK) lmc_err_prefix("tools: the call grammar did not compile (a bug)");
    free(text);
    return st;
}

/* ---- the fallback prompt ------------------------------------------------------------------- */
lmc_status lmc_tool_fallback_prompt(const char *tools_json, bool required, const char *only,
                                    char **out) {
    if (!out) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_tool_fallback_prompt: no output pointer");
    *out = NULL;
    cJSON *tools = tools_json ? cJSON_Parse(tools_json) : NULL;
    if (!cJSON_IsArray(tools)) {
        cJSON_Delete(tools);
        return lmc_err(LMC_ERR_FORMAT, "tools: not a JSON array");
    }
    strbuf b = {0};
    strbuf_printf(&b, "You can call these tools (the arguments of each follow its JSON schema):\n");
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *desc = cJSON_GetObjectItemCaseSensitive(fn, "description");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        if (!cJSON_IsString(name)) continue;
        char *p = cJSON_IsObject(params) ? cJSON_PrintUnformatted(params) : NULL;
        strbuf_printf(&b, "- %s: %s\n  arguments: %s\n", name->valuestring,
                      cJSON_IsString(desc) ? desc->valuestring : "(no description)", p ? p : "{}");
        free(p);
    }
    cJSON_Delete(tools);
    strbuf_printf(&b, "To call a tool, reply with only a JSON object {\"name\": <the tool's name>, "
                      "\"arguments\": <an object of its arguments>} and nothing else.");
    if (only)
        strbuf_printf(&b, " You must call the tool %s now.", only);
    else if (required)
        strbuf_printf(&b, " You must call one of the tools now.");
    else
        strbuf_printf(&b, " If no tool is needed, answer normally.");
    if (b.oom) {
        free(b.p);
        return lmc_err(LMC_ERR_OOM, "tools: out of memory");
    }
    *out = b.p;
    return LMC_OK;
}
