/* api.c — the JSON side of the OpenAI-compatible API: request fields checked one by one (a bad
 * field names itself in a 400), response and stream-chunk shapes, the error object. It neither
 * tokenizes nor talks HTTP. */
#include "server.h"
#include "cli.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool api_fail(api_error *err, int status, const char *param, const char *fmt, ...) {
    err->status = status;
    err->type = status == 401   ? "invalid_request_error"
                : status >= 500 ? "server_error"
                                : "invalid_request_error";
    err->code = NULL;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

char *api_error_json(const api_error *err) {
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", err->message);
    cJSON_AddStringToObject(e, "type", err->type ? err->type : "invalid_request_error");
    if (err->param[0])
        cJSON_AddStringToObject(e, "param", err->param);
    else
        cJSON_AddNullToObject(e, "param");
    if (err->code)
        cJSON_AddStringToObject(e, "code", err->code);
    else
        cJSON_AddNullToObject(e, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---- request fields ---------------------------------------------------------------------------
 */
/* A field that is absent or null gives false with no error; a field of the wrong type or out of
 * [lo, hi] fails the request. */
static bool get_number(const cJSON *root, const char *key, double lo, double hi, double *out,
                       bool *ok, api_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return false;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        *ok = api_fail(err, 400, key, "'%s' must be a number", key);
        return false;
    }
    if (v->valuedouble < lo || v->valuedouble > hi) {
        *ok = api_fail(err, 400, key, "'%s' must be between %g and %g, got %g", key, lo, hi,
                       v->valuedouble);
        return false;
    }
    *out = v->valuedouble;
    return true;
}

static bool get_int(const cJSON *root, const char *key, double lo, double hi, int64_t *out,
                    bool *ok, api_error *err) {
    double d;
    if (!get_number(root, key, lo, hi, &d, ok, err)) return false;
    if (d != floor(d)) {
        *ok = api_fail(err, 400, key, "'%s' must be an integer", key);
        return false;
    }
    *out = (int64_t)d;
    return true;
}

static bool get_bool(const cJSON *root, const char *key, bool *out, bool *ok, api_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return false;
    if (!cJSON_IsBool(v)) {
        *ok = api_fail(err, 400, key, "'%s' must be true or false", key);
        return false;
    }
    *out = cJSON_IsTrue(v);
    return true;
}

static bool add_stop(srv_request *r, const char *s, api_error *err) {
    size_t n = strlen(s);
    if (!n) return true; /* an empty stop string would stop before the first token: ignore it */
    if (n > SRV_MAX_STOP_LEN)
        return api_fail(err, 400, "stop", "'stop' strings may have at most %d bytes",
                        SRV_MAX_STOP_LEN);
    if (r->n_stop >= SRV_MAX_STOP)
        return api_fail(err, 400, "stop", "'stop' may hold at most %d strings", SRV_MAX_STOP);
    r->stop[r->n_stop] = strdup(s);
    if (!r->stop[r->n_stop]) return api_fail(err, 500, NULL, "out of memory");
    r->n_stop++;
    return true;
}

/* ---- the fields each endpoint knows ---------------------------------------------------------
 * Every field a request may carry, and where. A field not listed is refused with a 400 naming it
 * (OpenAI does the same), so a caller never believes lmc honoured something it ignored. Listed
 * fields are honoured, or accepted only in the forms whose meaning lmc fulfils (see
 * parse_accepted). The structured-output and tool fields are listed but take only their trivial
 * forms until the grammar engine lands. */
enum { F_CHAT = 1, F_TEXT = 2, F_BOTH = 3 };
static const struct {
    const char *name;
    int where;
} api_fields[] = {
    {"model", F_BOTH},
    {"messages", F_CHAT},
    {"prompt", F_TEXT},
    {"temperature", F_BOTH},
    {"top_p", F_BOTH},
    {"top_k", F_BOTH}, /* llama-server's */
    {"min_p", F_BOTH}, /* llama-server's */
    {"presence_penalty", F_BOTH},
    {"frequency_penalty", F_BOTH},
    {"repeat_penalty", F_BOTH}, /* llama-server's */
    {"seed", F_BOTH},
    {"max_tokens", F_BOTH},
    {"max_completion_tokens", F_BOTH},
    {"n", F_BOTH},
    {"stream", F_BOTH},
    {"stream_options", F_BOTH},
    {"stop", F_BOTH},
    {"logprobs", F_BOTH}, /* chat: true/false; completions: 0..20 alternatives */
    {"top_logprobs", F_CHAT},
    {"logit_bias", F_BOTH},
    {"user", F_BOTH},
    {"echo", F_TEXT},
    {"best_of", F_TEXT},
    {"suffix", F_TEXT},
    {"store", F_CHAT},
    {"metadata", F_CHAT},
    {"modalities", F_CHAT},
    {"response_format", F_BOTH}, /* these six: api_format.c */
    {"grammar", F_BOTH},
    {"json_schema", F_BOTH},
    {"tools", F_CHAT},
    {"tool_choice", F_CHAT},
    {"parallel_tool_calls", F_CHAT},
};

static bool check_known(const cJSON *root, srv_kind kind, api_error *err) {
    const int where = kind == SRV_KIND_CHAT ? F_CHAT : F_TEXT;
    const char *ep = kind == SRV_KIND_CHAT ? "/v1/chat/completions" : "/v1/completions";
    const cJSON *it;
    if (!cJSON_IsObject(root))
        return api_fail(err, 400, NULL, "the request body must be a JSON object");
    cJSON_ArrayForEach(it, root) {
        size_t i = 0, n = sizeof api_fields / sizeof api_fields[0];
        while (i < n && strcmp(api_fields[i].name, it->string))
            i++;
        if (i == n || !(api_fields[i].where & where))
            return api_fail(err, 400, it->string, "unknown field '%.64s': %s does not support it",
                            it->string, ep);
    }
    return true;
}

static bool is_absent(const cJSON *v) {
    return !v || cJSON_IsNull(v);
}

/* Fields lmc accepts only in the forms it fulfils; anything else is a 400 naming the field. */
static bool parse_accepted(const cJSON *root, srv_request *r, api_error *err) {
    const cJSON *v;
    bool ok = true, b;
    int64_t i;
    if (get_int(root, "n", 1, SRV_MAX_N, &i, &ok, err)) r->n_choices = (int32_t)i;
    if (!ok) return false;
    if (get_int(root, "best_of", 1, 1, &i, &ok, err), !ok)
        return api_fail(err, 400, "best_of", "only 'best_of': 1 is supported");
    if (get_bool(root, "echo", &b, &ok, err) && b)
        return api_fail(err, 400, "echo", "'echo': true is not supported");
    if (!ok) return false;
    if (get_bool(root, "store", &b, &ok, err) && b)
        return api_fail(err, 400, "store", "'store': true is not supported (nothing is stored)");
    if (!ok) return false;
    if (get_bool(root, "parallel_tool_calls", &b, &ok, err), !ok) return false;
    v = cJSON_GetObjectItemCaseSensitive(root, "user");
    if (!is_absent(v) && !cJSON_IsString(v))
        return api_fail(err, 400, "user", "'user' must be a string");
    v = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (!is_absent(v) && !cJSON_IsObject(v))
        return api_fail(err, 400, "metadata", "'metadata' must be an object");
    v = cJSON_GetObjectItemCaseSensitive(root, "suffix");
    if (!is_absent(v) && !(cJSON_IsString(v) && !v->valuestring[0]))
        return api_fail(err, 400, "suffix", "'suffix' (insertion) is not supported");
    v = cJSON_GetObjectItemCaseSensitive(root, "modalities");
    if (!is_absent(v) && !(cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1 &&
                           cJSON_IsString(cJSON_GetArrayItem(v, 0)) &&
                           !strcmp(cJSON_GetArrayItem(v, 0)->valuestring, "text")))
        return api_fail(err, 400, "modalities", "only 'modalities': [\"text\"] is supported");
    /* response_format, grammar, json_schema, tools, tool_choice, parallel_tool_calls:
     * api_parse_format (api_format.c) */
    return true;
}

/* logit_bias: {"token id": bias in [-100, 100]}. */
static bool parse_logit_bias(const cJSON *root, int32_t n_vocab, srv_request *r, api_error *err) {
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(root, "logit_bias"), *it;
    if (is_absent(lb)) return true;
    if (!cJSON_IsObject(lb))
        return api_fail(err, 400, "logit_bias",
                        "'logit_bias' must be an object of token ids (as strings) to biases");
    int n = cJSON_GetArraySize(lb);
    if (n > SRV_MAX_BIAS)
        return api_fail(err, 400, "logit_bias", "'logit_bias' may hold at most %d tokens",
                        SRV_MAX_BIAS);
    if (!n) return true;
    r->bias = malloc((size_t)n * sizeof *r->bias);
    if (!r->bias) return api_fail(err, 500, NULL, "out of memory");
    cJSON_ArrayForEach(it, lb) {
        char *end = NULL;
        long t = strtol(it->string, &end, 10);
        if (!isdigit((unsigned char)it->string[0]) || *end || t < 0 || t >= n_vocab)
            return api_fail(err, 400, "logit_bias",
                            "'logit_bias' key '%.32s' is not a token id in [0, %d)", it->string,
                            n_vocab);
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < -100 ||
            it->valuedouble > 100)
            return api_fail(err, 400, "logit_bias",
                            "'logit_bias' of token %ld must be a number in [-100, 100]", t);
        r->bias[r->n_bias++] = (lmc_logit_bias){(int32_t)t, (float)it->valuedouble};
    }
    return true;
}

/* chat: logprobs true/false and top_logprobs 0..20; completions: logprobs 0..20 (alternatives). */
static bool parse_logprobs(const cJSON *root, srv_kind kind, srv_request *r, api_error *err) {
    bool ok = true, b = false;
    int64_t i = 0;
    if (kind == SRV_KIND_CHAT) {
        if (get_bool(root, "logprobs", &b, &ok, err)) r->logprobs = b;
        if (ok && get_int(root, "top_logprobs", 0, SRV_MAX_TOP, &i, &ok, err)) {
            if (!r->logprobs)
                return api_fail(err, 400, "top_logprobs",
                                "'top_logprobs' requires 'logprobs': true");
            r->top_logprobs = (int32_t)i;
        }
        return ok;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "logprobs");
    if (cJSON_IsBool(v)) { /* some clients send a boolean here too */
        r->logprobs = cJSON_IsTrue(v);
        return true;
    }
    if (get_int(root, "logprobs", 0, SRV_MAX_TOP, &i, &ok, err)) {
        r->logprobs = true;
        r->top_logprobs = (int32_t)i;
    }
    return ok;
}

bool api_parse_common(const cJSON *root, srv_kind kind, int32_t n_vocab, srv_request *r,
                      api_error *err) {
    bool ok = true;
    double d;
    int64_t i;
    bool b;
    if (!check_known(root, kind, err)) return false;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (v && !cJSON_IsNull(v) && !cJSON_IsString(v))
        return api_fail(err, 400, "model", "'model' must be a string");
    if (get_number(root, "temperature", 0, 100, &d, &ok, err)) r->sp.temp = (float)d;
    if (ok && get_number(root, "top_p", 0, 1, &d, &ok, err)) r->sp.top_p = (float)d;
    if (ok && get_int(root, "top_k", 0, 1e9, &i, &ok, err)) r->sp.top_k = (int32_t)i;
    if (ok && get_number(root, "min_p", 0, 1, &d, &ok, err)) r->sp.min_p = (float)d;
    if (ok && get_number(root, "presence_penalty", -2, 2, &d, &ok, err))
        r->sp.presence_penalty = (float)d;
    if (ok && get_number(root, "frequency_penalty", -2, 2, &d, &ok, err))
        r->sp.frequency_penalty = (float)d;
    if (ok && get_number(root, "repeat_penalty", 0.01, 100, &d, &ok, err))
        r->sp.repeat_penalty = (float)d;
    if (ok && get_int(root, "seed", -9007199254740991.0, 9007199254740991.0, &i, &ok, err))
        r->sp.seed = i < 0 ? LMC_DEFAULT_SEED : (uint64_t)i;
    if (!ok) return false;
    r->max_tokens = 0;
    const char *mt_keys[] = {"max_tokens", "max_completion_tokens"};
    for (int k = 0; k < 2 && ok; k++)
        if (get_int(root, mt_keys[k], 1, 2147483647.0, &i, &ok, err)) r->max_tokens = (int32_t)i;
    r->n_choices = 1;
    if (!ok || !parse_accepted(root, r, err)) return false;
    if (!parse_logprobs(root, kind, r, err) || !parse_logit_bias(root, n_vocab, r, err))
        return false;
    if (get_bool(root, "stream", &b, &ok, err)) r->stream = b;
    if (!ok) return false;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so))
            return api_fail(err, 400, "stream_options", "'stream_options' must be an object");
        const cJSON *it;
        cJSON_ArrayForEach(it, so) {
            if (strcmp(it->string, "include_usage"))
                return api_fail(err, 400, "stream_options", "unknown field 'stream_options.%.64s'",
                                it->string);
        }
        if (get_bool(so, "include_usage", &b, &ok, err)) r->include_usage = b;
        if (!ok)
            return api_fail(err, 400, "stream_options.include_usage",
                            "'stream_options.include_usage' must be true or false");
    }
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (stop && !cJSON_IsNull(stop)) {
        if (cJSON_IsString(stop)) {
            if (!add_stop(r, stop->valuestring, err)) return false;
        } else if (cJSON_IsArray(stop)) {
            const cJSON *s;
            cJSON_ArrayForEach(s, stop) {
                if (!cJSON_IsString(s))
                    return api_fail(err, 400, "stop",
                                    "'stop' must be a string or an array of strings");
                if (!add_stop(r, s->valuestring, err)) return false;
            }
        } else {
            return api_fail(err, 400, "stop", "'stop' must be a string or an array of strings");
        }
    }
    return api_parse_format(root, r, err);
}

bool api_parse_messages(const cJSON *root, lmc_chat_msg **msgs, size_t *n, char ***arena,
                        size_t *n_arena, api_error *err) {
    *msgs = NULL;
    *n = 0;
    *arena = NULL;
    *n_arena = 0;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!m) return api_fail(err, 400, "messages", "'messages' is required");
    if (!cJSON_IsArray(m)) return api_fail(err, 400, "messages", "'messages' must be an array");
    int count = cJSON_GetArraySize(m);
    if (count == 0) return api_fail(err, 400, "messages", "'messages' must not be empty");
    if (count > 4096)
        return api_fail(err, 400, "messages", "'messages' holds more than 4096 messages");
    *msgs = calloc((size_t)count, sizeof **msgs);
    *arena = calloc((size_t)count, sizeof **arena);
    if (!*msgs || !*arena) return api_fail(err, 500, NULL, "out of memory");
    int idx = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, m) {
        char param[64];
        snprintf(param, sizeof param, "messages[%d]", idx);
        if (!cJSON_IsObject(it)) return api_fail(err, 400, param, "'%s' must be an object", param);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsString(role) || !role->valuestring[0]) {
            snprintf(param, sizeof param, "messages[%d].role", idx);
            return api_fail(err, 400, param, "'%s' must be a non-empty string", param);
        }
        const char *text = "";
        if (cJSON_IsString(content)) {
            text = content->valuestring;
        } else if (cJSON_IsArray(content)) { /* [{"type": "text", "text": "..."}, ...] */
            size_t len = 0;
            const cJSON *part;
            cJSON_ArrayForEach(part, content) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
                const cJSON *ty = cJSON_GetObjectItemCaseSensitive(part, "type");
                if (!cJSON_IsObject(part) || !cJSON_IsString(ty) ||
                    strcmp(ty->valuestring, "text") || !cJSON_IsString(t)) {
                    snprintf(param, sizeof param, "messages[%d].content", idx);
                    return api_fail(err, 400, param,
                                    "'%s' parts must be {\"type\": \"text\", \"text\": ...}",
                                    param);
                }
                len += strlen(t->valuestring);
            }
            char *buf = malloc(len + 1), *p = buf;
            if (!buf) return api_fail(err, 500, NULL, "out of memory");
            (*arena)[(*n_arena)++] = buf;
            cJSON_ArrayForEach(part, content) {
                const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
                size_t l = strlen(t);
                memcpy(p, t, l);
                p += l;
            }
            *p = 0;
            text = buf;
        } else if (content && !cJSON_IsNull(content)) {
            snprintf(param, sizeof param, "messages[%d].content", idx);
            return api_fail(err, 400, param, "'%s' must be a string or an array of text parts",
                            param);
        }
        (*msgs)[idx].role = role->valuestring;
        (*msgs)[idx].content = text;
        idx++;
    }
    *n = (size_t)idx;
    return true;
}

bool api_parse_prompt(const cJSON *root, const char **prompt, api_error *err) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!p) return api_fail(err, 400, "prompt", "'prompt' is required");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1) p = cJSON_GetArrayItem(p, 0);
    if (!cJSON_IsString(p)) return api_fail(err, 400, "prompt", "'prompt' must be a string");
    *prompt = p->valuestring;
    return true;
}

/* ---- responses --------------------------------------------------------------------------------
 */
const char *api_finish_str(srv_finish f) {
    switch (f) {
    case SRV_FINISH_STOP:
        return "stop";
    case SRV_FINISH_LENGTH:
        return "length";
    case SRV_FINISH_CANCELLED:
        return "cancelled";
    case SRV_FINISH_ERROR:
        return "error";
    default:
        return NULL;
    }
}

const char *api_finish_reason(const srv_request *r) {
    return r->tool_calls_out ? "tool_calls" : api_finish_str(r->finish);
}

/* Valid UTF-8 copy of s[0, n): invalid bytes become U+FFFD, NULs are dropped (cJSON strings end at
 * NUL), so a JSON body never carries broken text. */
char *api_utf8_clean(const char *s, size_t n) {
    char *out = malloc(n * 3 + 1), *o = out;
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool good = len && (size_t)(end - p) >= len;
        for (size_t k = 1; good && k < len; k++)
            good = (p[k] & 0xC0) == 0x80;
        if (good && len == 2) good = c >= 0xC2;
        if (good && len == 3) good = !(c == 0xE0 && p[1] < 0xA0) && !(c == 0xED && p[1] >= 0xA0);
        if (good && len == 4)
            good = !(c == 0xF0 && p[1] < 0x90) && !(c == 0xF4 && p[1] >= 0x90) && c <= 0xF4;
        if (!good) {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
            continue;
        }
        if (c) {
            memcpy(o, p, len);
            o += len;
        }
        p += len;
    }
    *o = 0;
    return out;
}

static cJSON *add_text(cJSON *obj, const char *key, const char *text, size_t len) {
    char *clean = api_utf8_clean(text ? text : "", text ? len : 0);
    cJSON *v = cJSON_AddStringToObject(obj, key, clean ? clean : "");
    free(clean);
    return v;
}

static void add_usage(cJSON *root, const srv_request *r) {
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", r->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", r->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", r->n_prompt + r->n_gen);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", r->n_reused);
    /* llama.cpp-style timings: what the chat page shows as tok/s */
    cJSON *t = cJSON_AddObjectToObject(root, "timings");
    double pms = r->t_first * 1e3, gms = r->t_gen * 1e3;
    cJSON_AddNumberToObject(t, "prompt_n", r->n_prompt - r->n_reused);
    cJSON_AddNumberToObject(t, "prompt_ms", pms);
    cJSON_AddNumberToObject(t, "predicted_n", r->n_gen);
    cJSON_AddNumberToObject(t, "predicted_ms", gms);
    cJSON_AddNumberToObject(t, "predicted_per_second",
                            gms > 0 && r->n_gen > 1 ? (r->n_gen - 1) / (gms / 1e3) : 0);
}

static cJSON *response_head(const srv_request *r, const char *model_id, const char *object) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", r->id);
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)r->created);
    cJSON_AddStringToObject(root, "model", model_id);
    cJSON_AddStringToObject(root, "system_fingerprint", "lmc-" LMC_VERSION_STRING);
    return root;
}

/* The "choices" array with its one choice (index 0), returned for the caller to fill. */
static cJSON *add_choice(cJSON *root, int32_t index) {
    cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    if (!choices) choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", index);
    return c;
}

/* ---- log-probabilities -------------------------------------------------------------------------
 * Chat: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
 * Completions (legacy): {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}
 * (offsets in bytes of the generated text). A token's text shows control tokens as written;
 * -inf (a removed token) is given as -9999, as OpenAI does. */
static double lp_value(float lp) {
    return lp > -9999.0f ? (double)lp : -9999.0;
}

/* The token's piece into buf (NUL-terminated); returns its length. */
static int32_t piece(const lmc_model *m, int32_t tok, char *buf, int32_t size) {
    int32_t n = lmc_token_to_piece(m, tok, buf, size - 1, true);
    if (n < 0 || n >= size) n = 0;
    buf[n] = 0;
    return n;
}

static void add_token_entry(cJSON *obj, const lmc_model *m, int32_t tok, float lp) {
    char buf[256];
    int32_t n = piece(m, tok, buf, sizeof buf);
    add_text(obj, "token", buf, (size_t)n);
    cJSON_AddNumberToObject(obj, "logprob", lp_value(lp));
    cJSON *bytes = cJSON_AddArrayToObject(obj, "bytes");
    for (int32_t i = 0; i < n; i++)
        cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)buf[i]));
}

static void add_logprobs(cJSON *c, const srv_request *r, const lmc_model *m, const srv_logprob *lp,
                         int32_t n_lp) {
    if (!r->logprobs) {
        cJSON_AddNullToObject(c, "logprobs");
        return;
    }
    cJSON *o = cJSON_AddObjectToObject(c, "logprobs");
    const int32_t n_top = r->top_logprobs;
    if (r->kind == SRV_KIND_CHAT) {
        cJSON *content = cJSON_AddArrayToObject(o, "content");
        for (int32_t i = 0; i < n_lp; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddItemToArray(content, e);
            add_token_entry(e, m, lp[i].token, lp[i].logprob);
            cJSON *top = cJSON_AddArrayToObject(e, "top_logprobs");
            for (int32_t k = 0; k < n_top && k < lp[i].n_top; k++) {
                cJSON *t = cJSON_CreateObject();
                cJSON_AddItemToArray(top, t);
                add_token_entry(t, m, lp[i].top[k].token, lp[i].top[k].logprob);
            }
        }
        cJSON_AddNullToObject(o, "refusal");
        return;
    }
    cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
    cJSON *tlp = cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON *top = cJSON_AddArrayToObject(o, "top_logprobs");
    cJSON *off = cJSON_AddArrayToObject(o, "text_offset");
    char buf[256];
    for (int32_t i = 0; i < n_lp; i++) {
        int32_t n = piece(m, lp[i].token, buf, sizeof buf);
        char *clean = api_utf8_clean(buf, (size_t)n);
        cJSON_AddItemToArray(toks, cJSON_CreateString(clean ? clean : ""));
        free(clean);
        cJSON_AddItemToArray(tlp, cJSON_CreateNumber(lp_value(lp[i].logprob)));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)lp[i].offset));
        if (!n_top) {
            cJSON_AddItemToArray(top, cJSON_CreateNull());
            continue;
        }
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToArray(top, d);
        for (int32_t k = 0; k < n_top && k < lp[i].n_top; k++) {
            n = piece(m, lp[i].top[k].token, buf, sizeof buf);
            clean = api_utf8_clean(buf, (size_t)n);
            if (clean && !cJSON_GetObjectItemCaseSensitive(d, clean))
                cJSON_AddNumberToObject(d, clean, lp_value(lp[i].top[k].logprob));
            free(clean);
        }
    }
}

/* One choice of a finished request: message (or text), logprobs, finish_reason. */
static void fill_choice(cJSON *c, const srv_request *r, const lmc_model *model, const char *text,
                        size_t len, const srv_logprob *lp, int32_t n_lp) {
    bool calls = false;
    if (r->kind == SRV_KIND_CHAT) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        calls = api_tools_message(r, text, len, m);
        if (!calls) add_text(m, "content", text, len);
    } else {
        add_text(c, "text", text, len);
    }
    add_logprobs(c, r, model, lp, n_lp);
    cJSON_AddStringToObject(c, "finish_reason", calls ? "tool_calls" : api_finish_reason(r));
}

char *api_completion_json(const srv_request *r, const lmc_model *model, const char *model_id,
                          const char *text, size_t len, const srv_logprob *lp, int32_t n_lp) {
    bool chat = r->kind == SRV_KIND_CHAT;
    cJSON *root = response_head(r, model_id, chat ? "chat.completion" : "text_completion");
    fill_choice(add_choice(root, r->index), r, model, text, len, lp, n_lp);
    add_usage(root, r);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* usage of n choices: the prompt once, every choice's tokens (the counts of a copy of rs[0]) */
static srv_request *usage_sum(srv_request *const *rs, int32_t n) {
    srv_request *sum = malloc(sizeof *sum);
    if (!sum) return NULL;
    memcpy(sum, rs[0], sizeof *sum);
    sum->n_gen = 0;
    sum->t_gen = 0;
    for (int32_t i = 0; i < n; i++) {
        sum->n_gen += rs[i]->n_gen;
        if (rs[i]->t_gen > sum->t_gen) sum->t_gen = rs[i]->t_gen;
    }
    return sum;
}

char *api_completion_json_n(srv_request *const *rs, int32_t n, const lmc_model *model,
                            const char *model_id) {
    const srv_request *r0 = rs[0];
    srv_request *sum = usage_sum(rs, n);
    if (!sum) return NULL;
    cJSON *root = response_head(r0, model_id,
                                r0->kind == SRV_KIND_CHAT ? "chat.completion" : "text_completion");
    for (int32_t i = 0; i < n; i++) {
        const srv_request *r = rs[i];
        int32_t n_lp = 0; /* the tokens whose text begins in the reply */
        while (n_lp < r->n_lp && r->lp[n_lp].offset < r->text_len)
            n_lp++;
        fill_choice(add_choice(root, i), r, model, r->text, r->text_len, r->lp, n_lp);
    }
    add_usage(root, sum);
    free(sum);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

void api_sse_raw(const char *data, char **buf, size_t *len, size_t *cap) {
    size_t n = strlen(data), need = *len + n + 9;
    if (need > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < need)
            c *= 2;
        char *b = realloc(*buf, c);
        if (!b) return; /* the chunk is lost; the stream ends soon anyway */
        *buf = b;
        *cap = c;
    }
    *len += (size_t)sprintf(*buf + *len, "data: %s\n\n", data);
}

static void sse_emit(cJSON *root, char **buf, size_t *len, size_t *cap) {
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (s) api_sse_raw(s, buf, len, cap);
    free(s);
}

void api_sse_json(cJSON *root, char **buf, size_t *len, size_t *cap) {
    sse_emit(root, buf, len, cap);
}

cJSON *api_chat_chunk(const srv_request *r, const char *model_id, cJSON **delta) {
    cJSON *root = response_head(r, model_id, "chat.completion.chunk");
    cJSON *c = add_choice(root, r->index);
    *delta = cJSON_AddObjectToObject(c, "delta");
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddNullToObject(c, "finish_reason");
    return root;
}

void api_sse_role(const srv_request *r, const char *model_id, char **buf, size_t *len,
                  size_t *cap) {
    cJSON *root = response_head(r, model_id, "chat.completion.chunk");
    cJSON *c = add_choice(root, r->index);
    cJSON *d = cJSON_AddObjectToObject(c, "delta");
    cJSON_AddStringToObject(d, "role", "assistant");
    cJSON_AddStringToObject(d, "content", "");
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddNullToObject(c, "finish_reason");
    sse_emit(root, buf, len, cap);
}

void api_sse_chunk(const srv_request *r, const lmc_model *model, const char *model_id,
                   const char *text, size_t n, const srv_logprob *lp, int32_t n_lp, bool final,
                   char **buf, size_t *len, size_t *cap) {
    bool chat = r->kind == SRV_KIND_CHAT;
    cJSON *root = response_head(r, model_id, chat ? "chat.completion.chunk" : "text_completion");
    cJSON *c = add_choice(root, r->index);
    if (chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (n) add_text(d, "content", text, n);
    } else {
        add_text(c, "text", text, n);
    }
    if (n_lp > 0)
        add_logprobs(c, r, model, lp, n_lp);
    else
        cJSON_AddNullToObject(c, "logprobs");
    if (final)
        cJSON_AddStringToObject(c, "finish_reason", api_finish_reason(r));
    else
        cJSON_AddNullToObject(c, "finish_reason");
    if (final && !r->include_usage) add_usage(root, r);
    sse_emit(root, buf, len, cap);
}

void api_sse_usage(const srv_request *r, const char *model_id, char **buf, size_t *len,
                   size_t *cap) {
    bool chat = r->kind == SRV_KIND_CHAT;
    cJSON *root = response_head(r, model_id, chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddArrayToObject(root, "choices");
    add_usage(root, r);
    sse_emit(root, buf, len, cap);
}

void api_sse_usage_n(srv_request *const *rs, int32_t n, const char *model_id, char **buf,
                     size_t *len, size_t *cap) {
    srv_request *sum = usage_sum(rs, n);
    if (sum) api_sse_usage(sum, model_id, buf, len, cap);
    free(sum);
}
