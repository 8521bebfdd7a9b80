/* jinja.h — a Jinja2 subset interpreter for Hugging Face chat templates: renders a template over a
 * JSON context the way transformers' environment does (trim_blocks, lstrip_blocks, loop controls,
 * raise_exception, tojson, strftime_now). No template inheritance, includes or imports. */
#ifndef LMC_JINJA_H
#define LMC_JINJA_H

#include "lmc.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* Limits that keep a hostile template from exhausting the machine. */
#define JINJA_MAX_OUTPUT (16u << 20)  /* bytes of rendered text (and of any one string) */
#define JINJA_MAX_MEMORY (256u << 20) /* bytes of interpreter memory per render */
#define JINJA_MAX_DEPTH 200           /* nested macro calls / expression and block nesting */
#define JINJA_MAX_EVAL_DEPTH 1000     /* evaluator recursion in all (the C stack it may use) */
#define JINJA_MAX_STEPS 20000000u     /* evaluated nodes + loop iterations + calls per render */
#define JINJA_MAX_MS 10000            /* wall-clock milliseconds per render (jinja_opts.max_ms) */
#define JINJA_MAX_FORMAT 4096         /* width and precision of a '%' format field */

typedef struct {
    /* "Now" for strftime_now as "YYYY-MM-DD[THH:MM:SS]"; NULL: env LMC_TEMPLATE_NOW, else the
     * real local time. */
    const char *now;
    /* Wall-clock budget of this render in milliseconds; 0: JINJA_MAX_MS. */
    int max_ms;
    /* Out: the bare error message (for raise_exception exactly the raised text, for undefined
     * values jinja2's wording) and where it happened (line 0 when unknown). */
    char err_msg[512];
    int err_line, err_col;
    int raised; /* 1 when the error came from raise_exception() */
} jinja_opts;

/* Renders tmpl over context (a JSON object whose keys become template variables). *out is
 * malloc'ed on success. Errors: LMC_ERR_TEMPLATE with "line L, column C: message" in
 * lmc_last_error() (the raise_exception text alone), LMC_ERR_OOM. opts may be NULL. */
lmc_status jinja_render(const char *tmpl, const cJSON *context, jinja_opts *opts, char **out);

/* Renders a chat: messages (a JSON array passed through as-is), add_generation_prompt, bos/eos
 * token text (NULL: ""), extra context keys from `extra` (a JSON object or NULL). */
lmc_status chat_render_json(const char *tmpl, const cJSON *messages, bool add_generation_prompt,
                            const char *bos_token, const char *eos_token, const cJSON *extra,
                            jinja_opts *opts, char **out);

#endif
