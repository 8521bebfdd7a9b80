/* api_format.c — the request fields that constrain the output: OpenAI's response_format
 * ({"type": "text" | "json_object" | "json_schema", "json_schema": {"name", "schema", "strict"}})
 * and llama-server's "grammar" (GBNF) and "json_schema" (a schema object); tools and tool_choice
 * are checked here through api_tools.c. The grammar is compiled
 * here, on the HTTP side, so a bad one is a 400 naming the problem before anything is queued. */
#include "server.h"

#include <stdlib.h>
#include <string.h>

/* Compiles schema (a JSON value) into r->grammar; a failure is a 400 naming param. */
static bool compile_schema(const cJSON *schema, srv_request *r, const char *param, api_error *err) {
    char *text = cJSON_PrintUnformatted(schema);
    if (!text) return api_fail(err, 500, NULL, "out of memory");
    lmc_status st = lmc_grammar_init_json_schema(text, strlen(text), &r->grammar);
    free(text);
    if (st != LMC_OK)
        return api_fail(err, st == LMC_ERR_OOM ? 500 : 400, param, "'%s': %s", param,
                        lmc_last_error());
    return true;
}

static bool parse_response_format(const cJSON *rf, srv_request *r, api_error *err) {
    if (!cJSON_IsObject(rf))
        return api_fail(err, 400, "response_format", "'response_format' must be an object");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (!cJSON_IsString(type))
        return api_fail(err, 400, "response_format.type",
                        "'response_format.type' must be \"text\", \"json_object\" or "
                        "\"json_schema\"");
    const char *t = type->valuestring;
    if (!strcmp(t, "text")) return true;
    if (!strcmp(t, "json_object")) { /* any object; llama-server also takes a "schema" here */
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(rf, "schema");
        if (schema && !cJSON_IsNull(schema))
            return compile_schema(schema, r, "response_format.schema", err);
        cJSON *any = cJSON_Parse("{\"type\":\"object\"}");
        bool ok = any && compile_schema(any, r, "response_format", err);
        cJSON_Delete(any);
        return ok || api_fail(err, 500, NULL, "out of memory");
    }
    if (!strcmp(t, "json_schema")) {
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
        if (!cJSON_IsObject(js))
            return api_fail(err, 400, "response_format.json_schema",
                            "'response_format.json_schema' must be an object with a 'schema'");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(js, "name");
        if (name && !cJSON_IsString(name))
            return api_fail(err, 400, "response_format.json_schema.name",
                            "'response_format.json_schema.name' must be a string");
        const cJSON *strict = cJSON_GetObjectItemCaseSensitive(js, "strict");
        if (strict && !cJSON_IsBool(strict) && !cJSON_IsNull(strict))
            return api_fail(err, 400, "response_format.json_schema.strict",
                            "'response_format.json_schema.strict' must be true or false");
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
        if (!schema || cJSON_IsNull(schema))
            return api_fail(err, 400, "response_format.json_schema.schema",
                            "'response_format.json_schema.schema' is required");
        return compile_schema(schema, r, "response_format.json_schema.schema", err);
    }
    return api_fail(err, 400, "response_format.type",
                    "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\", "
                    "got \"%.100s\"",
                    t);
}

bool api_parse_format(const cJSON *root, srv_request *r, api_error *err) {
    if (!api_parse_tools(root, r, err)) return false; /* api_tools.c */
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    const cJSON *gr = cJSON_GetObjectItemCaseSensitive(root, "grammar");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(root, "json_schema");
    if (rf && cJSON_IsNull(rf)) rf = NULL;
    if (gr && (cJSON_IsNull(gr) || (cJSON_IsString(gr) && !gr->valuestring[0]))) gr = NULL;
    if (js && cJSON_IsNull(js)) js = NULL;
    if ((rf != NULL) + (gr != NULL) + (js != NULL) > 1)
        return api_fail(err, 400, gr ? "grammar" : "json_schema",
                        "give only one of 'response_format', 'grammar' and 'json_schema'");
    if (rf) return parse_response_format(rf, r, err);
    if (js) return compile_schema(js, r, "json_schema", err);
    if (gr) {
        if (!cJSON_IsString(gr))
            return api_fail(err, 400, "grammar", "'grammar' must be a string (GBNF)");
        lmc_status st =
            lmc_grammar_init_gbnf(gr->valuestring, strlen(gr->valuestring), NULL, &r->grammar);
        if (st != LMC_OK)
            return api_fail(err, st == LMC_ERR_OOM ? 500 : 400, "grammar", "'grammar': %s",
                            lmc_last_error());
    }
    return true;
}
