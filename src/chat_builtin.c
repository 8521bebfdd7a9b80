/* chat_builtin.c — built-in chat templates (Jinja source) for models whose GGUF has none or a
 * broken one. Written for lmc; tests check each renders what the model family's own template
 * renders. Deliberately no tool-calling: the models' own templates cover that. */
#include "lmc.h"

#include <string.h>

/* ChatML (Qwen, SmolLM, Hermes): no default system prompt. */
static const char CHATML[] =
    "{%- for message in messages -%}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n";

/* Llama 2 chat: system folded into the first user turn, strict user/assistant alternation. */
static const char LLAMA2[] =
    "{%- set ns = namespace(system='') -%}\n"
    "{%- if messages and messages[0]['role'] == 'system' -%}\n"
    "{%- set ns.system = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' -%}\n"
    "{%- set messages = messages[1:] -%}\n"
    "{%- endif -%}\n"
    "{%- for message in messages -%}\n"
    "{%- if (message['role'] == 'user') != loop.index0 is even -%}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}"
    "{%- endif -%}\n"
    "{%- set content = (ns.system if loop.first else '') + message['content'] -%}\n"
    "{%- if message['role'] == 'user' -%}{{- bos_token + '[INST] ' + content | trim + ' [/INST]' "
    "-}}\n"
    "{%- elif message['role'] == 'assistant' -%}{{- ' ' + content | trim + ' ' + eos_token -}}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n";

/* Llama 3 instruct */
static const char LLAMA3[] =
    "{%- for message in messages -%}\n"
    "{{- (bos_token if loop.first else '') + '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' "
    "-}}{%- endif -%}\n";

/* Mistral instruct v0.1/v0.2: user and assistant only, alternating. */
static const char MISTRAL[] =
    "{{- bos_token -}}\n"
    "{%- for message in messages -%}\n"
    "{%- if (message['role'] == 'user') != loop.index0 is even -%}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}"
    "{%- endif -%}\n"
    "{%- if message['role'] == 'user' -%}{{- '[INST] ' + message['content'] + ' [/INST]' -}}\n"
    "{%- elif message['role'] == 'assistant' -%}{{- message['content'] + eos_token -}}\n"
    "{%- else -%}{{- raise_exception('Only user and assistant roles are supported!') -}}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n";

/* Zephyr (TinyLlama chat) */
static const char ZEPHYR[] =
    "{%- for message in messages -%}\n"
    "{%- if message['role'] in ['user', 'system', 'assistant'] -%}"
    "{{- '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' -}}"
    "{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}\n";

/* Gemma 2/3: "model" for the assistant, a system message folded into the first user turn (as
 * Gemma-3's template does; Gemma-2's refuses it), BOS text at the start (the tokenizer keeps one).
 */
static const char GEMMA[] =
    "{{- bos_token -}}\n"
    "{%- if messages and messages[0]['role'] == 'system' -%}\n"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "{%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "{%- set first_user_prefix = '' -%}\n"
    "{%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}"
    "{%- endif -%}\n"
    "{{- '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + "
    "'\\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + "
    "'<end_of_turn>\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}\n";

const char *lmc_chat_builtin(const char *name) {
    static const struct {
        const char *name, *src;
    } T[] = {{"chatml", CHATML},   {"llama2", LLAMA2}, {"llama3", LLAMA3},
             {"mistral", MISTRAL}, {"zephyr", ZEPHYR}, {"gemma", GEMMA}};
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(name, T[i].name)) return T[i].src;
    return NULL;
}
