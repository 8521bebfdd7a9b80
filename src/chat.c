/* chat.c — lmc_chat_render: a model's chat template (or a built-in one) rendered over messages,
 * with the model's BOS/EOS token text. The Jinja work is in jinja.c; this file only gathers the
 * inputs (a model's messages and token text, or JSON text for lmc_chat_render_json). */
#include "jinja.h"
#include "util.h"

#include <string.h>

/* True when text is a single special token of the model's vocabulary. */
static bool model_has_token(const lmc_model *model, const char *text) {
    int32_t ids[4];
    return lmc_tokenize(model, text, -1, ids, 4, false, true) == 1;
}

/* The built-in used when a GGUF has no template: recognised by the vocabulary's marker tokens,
 * else ChatML (llama.cpp's default too). */
static const char *chat_fallback_name(const lmc_model *model) {
    if (model_has_token(model, "<|start_header_id|>")) return "llama3";
    if (model_has_token(model, "[INST]")) return "mistral";
    if (model_has_token(model, "<start_of_turn>")) return "gemma";
    return "chatml";
}

const char *lmc_chat_template_source(const lmc_model *model) {
    if (!model) return NULL;
    const char *src = lmc_model_chat_template(model);
    return src ? src : lmc_chat_builtin(chat_fallback_name(model));
}

static const char *token_text_or_empty(const lmc_model *model, int32_t id) {
    if (!model || id < 0) return "";
    const char *t = lmc_token_text(model, id);
    return t ? t : "";
}

lmc_status lmc_chat_render(const lmc_model *model, const char *tmpl, const lmc_chat_msg *msgs,
                           size_t n_msgs, bool add_generation_prompt, char **out) {
    if (!out) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_chat_render: out is NULL");
    *out = NULL;
    if (n_msgs && !msgs) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_chat_render: msgs is NULL");
    const char *src;
    if (tmpl) {
        src = lmc_chat_builtin(tmpl);
        /* not a built-in name: accept Jinja source, so callers can pass their own template */
        if (!src && (strstr(tmpl, "{{") || strstr(tmpl, "{%"))) src = tmpl;
        if (!src)
            return lmc_err(LMC_ERR_INVALID_ARG,
                           "unknown built-in chat template '%s' (chatml, gemma, llama2, llama3, "
                           "mistral, zephyr)",
                           tmpl);
    } else {
        if (!model)
            return lmc_err(LMC_ERR_INVALID_ARG, "lmc_chat_render: no model and no template");
        src = lmc_chat_template_source(model);
    }
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return lmc_err(LMC_ERR_OOM, "lmc_chat_render: out of memory");
    for (size_t i = 0; i < n_msgs; i++) {
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddItemToArray(arr, m) ||
            !cJSON_AddStringToObject(m, "role", msgs[i].role ? msgs[i].role : "") ||
            !(msgs[i].content ? cJSON_AddStringToObject(m, "content", msgs[i].content)
                              : cJSON_AddNullToObject(m, "content"))) {
            cJSON_Delete(arr);
            return lmc_err(LMC_ERR_OOM, "lmc_chat_render: out of memory");
        }
    }
    const char *bos = model ? token_text_or_empty(model, lmc_token_bos(model)) : "";
    const char *eos = model ? token_text_or_empty(model, lmc_token_eos(model)) : "";
    lmc_status st = chat_render_json(src, arr, add_generation_prompt, bos, eos, NULL, NULL, out);
    cJSON_Delete(arr);
    return st;
}

lmc_status lmc_chat_render_json(const char *tmpl, const char *messages_json, const char *extra_json,
                                bool add_generation_prompt, const char *bos_token,
                                const char *eos_token, char **out) {
    if (!out) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_chat_render_json: out is NULL");
    *out = NULL;
    if (!tmpl || !messages_json)
        return lmc_err(LMC_ERR_INVALID_ARG,
                       "lmc_chat_render_json: a template and messages are required");
    lmc_status st = LMC_ERR_INVALID_ARG;
    cJSON *extra = NULL, *msgs = cJSON_Parse(messages_json);
    if (!msgs || !cJSON_IsArray(msgs)) {
        st = lmc_err(st, "chat: the messages are not a JSON array");
        goto done;
    }
    if (extra_json && (!(extra = cJSON_Parse(extra_json)) || !cJSON_IsObject(extra))) {
        st = lmc_err(st, "chat: the extra template variables are not a JSON object");
        goto done;
    }
    st =
        chat_render_json(tmpl, msgs, add_generation_prompt, bos_token, eos_token, extra, NULL, out);
done:
    cJSON_Delete(msgs);
    cJSON_Delete(extra);
    return st;
}
