/* fuzz_request.c — libFuzzer target: any bytes as the body of a chat or completion request,
 * through what `lmc serve` does before tokenizing: the text check (UTF-8, NUL), cJSON, the shared
 * fields (the field table, sampling, max_tokens, stop, stream, logit_bias, grammars) and the
 * messages or the prompt. Each must accept or give an HTTP 4xx with a message; never crash or leak.
 * Sockets and the model are left out. */
#include "server.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    api_error err;
    if (!srv_check_body_text((const char *)data, size, &err)) {
        if (err.status != 400 || !err.message[0]) abort();
        return 0;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (!root) return 0;
    srv_request *r = calloc(1, sizeof *r); /* what srv_request_new gives, without the engine */
    if (!r) abort();
    r->sp = lmc_sampler_default_params();
    bool chat = size && (data[0] & 1);
    /* a vocabulary of 32000 ids for logit_bias; response_format/grammar/json_schema compile
     * grammars */
    if (api_parse_common(root, chat ? SRV_KIND_CHAT : SRV_KIND_TEXT, 32000, r, &err)) {
        if (chat) {
            lmc_chat_msg *msgs = NULL;
            size_t n = 0, n_arena = 0;
            char **arena = NULL;
            if (api_parse_messages(root, &msgs, &n, &arena, &n_arena, &err)) {
                for (size_t i = 0; i < n; i++)
                    if (!msgs[i].role || !msgs[i].content) abort();
            }
            for (size_t i = 0; i < n_arena; i++)
                free(arena[i]);
            free(arena);
            free(msgs);
        } else {
            const char *prompt = NULL;
            if (api_parse_prompt(root, &prompt, &err) && !prompt) abort();
        }
    } else if (err.status < 400 || err.status > 499 || !err.message[0])
        abort();
    for (int i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->bias);
    lmc_grammar_free(r->grammar);
    free(r);
    cJSON_Delete(root);
    return 0;
}
