/* server.h — what the parts of `lmc serve` share: a generation request (filled by the HTTP side,
 * advanced by the engine thread), the engine (slots + queue + continuous batching) and the JSON API
 * helpers. It does not deal with sockets or HTTP: that is server.c. */
#ifndef LMC_SERVER_H
#define LMC_SERVER_H

#include "lmc.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_MAX_STOP 16      /* stop strings per request */
#define SRV_MAX_STOP_LEN 256 /* bytes per stop string */
#define SRV_MAX_TOP 20       /* top_logprobs (and legacy logprobs) at most */
#define SRV_MAX_BIAS 1024    /* logit_bias entries */
#define SRV_MAX_TOOLS 128    /* functions in "tools" */
#define SRV_MAX_N 8          /* choices per request ("n") */
#define SRV_MAX_TOOL_NAME 64 /* bytes of a function name (OpenAI's limit) */

/* One sampled token's log-probabilities (EOG tokens have none): its id and logprob, the byte
 * offset of its text in the generated text, and the n_top most likely tokens. */
typedef struct {
    int32_t token;
    float logprob;
    size_t offset;
    int32_t n_top;
    lmc_token_prob top[SRV_MAX_TOP];
} srv_logprob;

typedef enum { SRV_KIND_CHAT, SRV_KIND_TEXT } srv_kind;

/* What tool_choice asks of a request with tools (api_tools.c). */
typedef enum {
    SRV_TOOLS_OFF = 0,  /* no tools, or tool_choice "none": the reply is text */
    SRV_TOOLS_AUTO,     /* the model chooses; calls are parsed from its reply */
    SRV_TOOLS_REQUIRED, /* a call is forced by a grammar over every function */
    SRV_TOOLS_NAMED,    /* a call of tool_names[tool_only] is forced */
} srv_tools;

typedef enum {
    SRV_FINISH_NONE = 0,
    SRV_FINISH_STOP,      /* end-of-generation token or a stop string */
    SRV_FINISH_LENGTH,    /* max_tokens or the context is full */
    SRV_FINISH_CANCELLED, /* the client went away */
    SRV_FINISH_ERROR,     /* decode failed or the server shuts down; see err / err_status */
} srv_finish;

/* One generation. The HTTP side fills the "input" part, submits it and then only reads the "output"
 * part under the engine's mutex. Two owners (HTTP side and engine) hold references. */
typedef struct srv_request {
    /* input: set before srv_engine_submit, read-only afterwards */
    srv_kind kind;
    bool stream, include_usage;
    int32_t *prompt; /* (n_prompt) token ids, malloc'ed */
    int32_t n_prompt;
    int32_t max_tokens; /* >= 1, already bounded by the context */
    lmc_sampler_params sp;
    char *stop[SRV_MAX_STOP];
    int n_stop;
    bool logprobs;        /* record log-probabilities (chat: logprobs; text: logprobs >= 0) */
    int32_t top_logprobs; /* alternatives per token, 0..SRV_MAX_TOP */
    lmc_logit_bias *bias; /* (n_bias) malloc'ed */
    int32_t n_bias;
    lmc_grammar *grammar; /* response_format / grammar / json_schema compiled; NULL: none (owned) */
    srv_tools tools;      /* tool_choice's mode (api_tools.c) */
    bool parallel_tools;  /* parallel_tool_calls (default true) */
    int32_t n_tools;      /* functions in "tools" (also with tool_choice "none") */
    int32_t tool_only;    /* SRV_TOOLS_NAMED: its index in tool_names */
    lmc_tool_syntax tool_syntax; /* how the model writes calls (from its template) */
    char tool_names[SRV_MAX_TOOLS][SRV_MAX_TOOL_NAME + 1];
    char id[48];
    int64_t created;
    int32_t n_choices;          /* "n": choices asked for (each a request of its own, see clone) */
    int32_t index;              /* this request's choice index */
    struct srv_request *parent; /* a clone's original (a reference held: it owns the grammar) */

    /* output: guarded by the engine mutex; cond is signalled on every change */
    pthread_cond_t cond;
    char *text; /* (text_len) visible generated text, NUL-terminated (stop strings already cut) */
    size_t text_len, text_cap;
    srv_logprob *lp; /* (n_lp) when logprobs: one per sampled token, EOG excluded */
    int32_t n_lp, cap_lp;
    size_t lp_bytes;  /* bytes of the recorded tokens' pieces: the next one's offset */
    int32_t n_gen;    /* tokens generated */
    int32_t n_reused; /* prompt tokens found in the slot's cache */
    srv_finish finish;
    bool done;
    int err_status; /* HTTP status for SRV_FINISH_ERROR */
    char err[256];
    double t_first, t_gen; /* seconds: start to the first token, first token to the end */
    bool tool_calls_out;   /* the reply was sent as tool calls (set by the HTTP side once done):
                            * finish_reason "tool_calls" */

    atomic_bool cancel; /* set by the HTTP side when the client goes away */
    atomic_int refs;
} srv_request;

srv_request *srv_request_new(void);
/* Choice i of r's "n" as a request of its own: r's input copied (the grammar shared: the clone
 * holds a reference to r), index i, and a seed of its own (r's seed + i when r has one; random
 * otherwise). NULL when out of memory. */
srv_request *srv_request_clone(srv_request *r, int32_t i);
void srv_request_release(srv_request *r); /* drops one reference; frees at zero */

typedef struct srv_engine srv_engine;

typedef struct {
    int32_t n_slots;
    int32_t queue_max; /* requests waiting for a slot beyond n_slots */
    int32_t n_batch;   /* tokens per decode step */
    bool verbose;      /* a log line per finished request on stderr */
} srv_engine_params;

/* The engine owns nothing it is given: model and ctx stay the caller's (ctx must have n_seq >=
 * n_slots). Starts the engine thread. */
lmc_status srv_engine_init(lmc_model *model, lmc_context *ctx, const srv_engine_params *p,
                           srv_engine **out);
/* Queues r (taking a reference). Returns 0, or 503 when slots and queue are full or the engine is
 * shutting down. */
int srv_engine_submit(srv_engine *e, srv_request *r);
/* Waits until r has news (more visible text or done) or timeout_ms passes. Returns with the
 * mutex held; call srv_engine_unlock after reading r's output. */
void srv_engine_lock(srv_engine *e);
void srv_engine_unlock(srv_engine *e);
void srv_engine_wait(srv_engine *e, srv_request *r, int timeout_ms); /* mutex held */
/* Wakes the engine (e.g. after a cancel) so it notices soon. */
void srv_engine_poke(srv_engine *e);
/* Stops taking requests, fails the queued ones (503), gives active ones grace_s seconds to end and
 * then cancels them, and joins the engine thread. */
void srv_engine_shutdown(srv_engine *e, double grace_s);
void srv_engine_free(srv_engine *e);
/* Counts for /health. */
void srv_engine_counts(srv_engine *e, int *n_slots, int *n_busy, int *n_queued);

/* Counters since start and the state now, for /metrics. */
typedef struct {
    uint64_t n_finished;      /* generation requests that ended (any reason) */
    uint64_t n_prompt_tokens; /* prompt tokens decoded (not those reused from a cache) */
    uint64_t n_cached_tokens; /* prompt tokens reused from a slot's cache */
    uint64_t n_gen_tokens;    /* tokens generated */
    double t_prompt, t_gen;   /* seconds spent on prompts / generating, summed over requests */
    int n_slots, n_busy, n_queued;
    int64_t kv_tokens, kv_cap; /* tokens held in the slots' KV caches / positions they hold */
} srv_engine_metrics;
void srv_engine_get_metrics(srv_engine *e, srv_engine_metrics *m);

/* ---- api.c: request parsing and response shapes (OpenAI's JSON) -------------------------------
 */
typedef struct {
    int status;       /* HTTP status */
    const char *type; /* "invalid_request_error", ... */
    const char *code; /* NULL or a short code */
    char param[64];   /* "" or the field at fault */
    char message[512];
} api_error;

/* Sets *err and returns false (for `return api_fail(...)`). */
bool api_fail(api_error *err, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Valid UTF-8 copy of s[0, n) (invalid bytes become U+FFFD, NULs are dropped), malloc'ed. */
char *api_utf8_clean(const char *s, size_t n);
/* {"error": {...}} as a malloc'ed string. */
char *api_error_json(const api_error *err);

/* Every top-level field of a request is checked against the endpoint's table of known fields (an
 * unknown one is a 400 naming it), then the fields both endpoints share are read: sampling,
 * max_tokens (0 when absent), stop, stream, logprobs, logit_bias (token ids below n_vocab), and
 * the fields accepted only in a form lmc honours (n 1, echo false, response_format text, ...). */
bool api_parse_common(const cJSON *root, srv_kind kind, int32_t n_vocab, srv_request *r,
                      api_error *err);
/* api_format.c: response_format, grammar, json_schema → r->grammar (a bad one: 400 naming it). */
bool api_parse_format(const cJSON *root, srv_request *r, api_error *err);
/* messages -> (role, content) pairs; strings point into root (or into *arena, which the caller
 * frees). */
bool api_parse_messages(const cJSON *root, lmc_chat_msg **msgs, size_t *n, char ***arena,
                        size_t *n_arena, api_error *err);
/* "prompt": a string (or an array holding one string). Points into root. */
bool api_parse_prompt(const cJSON *root, const char **prompt, api_error *err);

/* The body of a finished non-streamed request of n choices rs[0..n) (index order). */
char *api_completion_json_n(srv_request *const *rs, int32_t n, const lmc_model *model,
                            const char *model_id);
/* Response bodies (malloc'ed JSON). text may be NULL (empty). The log-probabilities given are
 * lp[0..n_lp) (the tokens whose text the body carries); model renders their pieces. */
char *api_completion_json(const srv_request *r, const lmc_model *model, const char *model_id,
                          const char *text, size_t len, const srv_logprob *lp, int32_t n_lp);
/* One SSE event "data: {...}\n\n" appended to *buf. first: the role chunk (chat). final: the chunk
 * with finish_reason (and usage). lp/n_lp as above, for this chunk's tokens. */
void api_sse_chunk(const srv_request *r, const lmc_model *model, const char *model_id,
                   const char *text, size_t len, const srv_logprob *lp, int32_t n_lp, bool final,
                   char **buf, size_t *len_buf, size_t *cap);
void api_sse_role(const srv_request *r, const char *model_id, char **buf, size_t *len_buf,
                  size_t *cap);
void api_sse_usage(const srv_request *r, const char *model_id, char **buf, size_t *len_buf,
                   size_t *cap);
/* The usage chunk of a stream of n choices rs[0..n): the prompt once, every choice's tokens. */
void api_sse_usage_n(srv_request *const *rs, int32_t n, const char *model_id, char **buf,
                     size_t *len_buf, size_t *cap);
void api_sse_raw(const char *data, char **buf, size_t *len_buf, size_t *cap);
const char *api_finish_str(srv_finish f);
/* A chat.completion.chunk with its one choice (logprobs and finish_reason null); *delta is its
 * empty "delta" object to fill. api_sse_json appends it as an SSE event and frees it. */
cJSON *api_chat_chunk(const srv_request *r, const char *model_id, cJSON **delta);
void api_sse_json(cJSON *root, char **buf, size_t *len_buf, size_t *cap);
/* finish_reason of r's reply: "tool_calls" when it was sent as tool calls, else as f says. */
const char *api_finish_reason(const srv_request *r);

/* ---- api_tools.c (fields, replies) and api_tools_prompt.c (the prompt): tool calls ----------
 */
/* tools / tool_choice / parallel_tool_calls → r->tools, n_tools, tool_names, tool_only,
 * parallel_tools; a malformed one is a 400 naming the field (tools[i].function.name, ...). Called
 * by api_parse_format; builds nothing. */
bool api_parse_tools(const cJSON *root, srv_request *r, api_error *err);
/* True when the chat request needs api_tools_render: tools given, or tool messages / assistant
 * tool_calls in the history. */
bool api_tools_needed(const cJSON *root, const srv_request *r);
/* Renders the chat through the model's template (tmpl, with bos/eos token text) as HF's
 * apply_chat_template does with tools=: messages as given (tool_calls, tool_call_id and name kept;
 * arguments strings that hold a JSON object passed as the object), tools as given. A template
 * without tool support gets lmc_tool_fallback_prompt's block in the system message and the
 * history's calls as JSON text. Sets r->tool_syntax and, for required / named, r->grammar. *out
 * malloc'ed. */
bool api_tools_render(const cJSON *root, const char *tmpl, const char *bos, const char *eos,
                      srv_request *r, char **out, api_error *err);
/* The reply text[0..len) as tool calls into a chat message object: true (with "content" and
 * "tool_calls" set) when it holds calls of known functions, false (nothing added) otherwise. */
bool api_tools_message(const srv_request *r, const char *text, size_t len, cJSON *message);
/* Streaming: the bytes of the reply so far that are surely content (sendable now). */
size_t api_tools_stream_prefix(const srv_request *r, const char *text, size_t len);
/* Streaming, once done: when the reply holds calls, appends the rest of the content (after the
 * sent bytes) and the tool-call deltas (index, id, type and name first, then the arguments in
 * pieces) as SSE chunks and returns true; false (nothing appended) when it holds none. */
bool api_tools_sse(const srv_request *r, const char *model_id, const char *text, size_t len,
                   size_t sent, char **buf, size_t *len_buf, size_t *cap);

/* ---- endpoints.c: the endpoints besides generation -------------------------------------------
 * Each returns a malloc'ed body (JSON, or Prometheus text for metrics) or NULL with *err set. */
/* POST /tokenize {"content", "add_special", "with_pieces"} -> {"tokens"}; the caller holds the
 * tokenizer lock. */
char *ep_tokenize(const lmc_model *m, const char *body, size_t len, api_error *err);
/* POST /detokenize {"tokens"} -> {"content"}; the caller holds the tokenizer lock. */
char *ep_detokenize(const lmc_model *m, const char *body, size_t len, api_error *err);

/* /v1/embeddings runs on its own CPU context of one sequence (lmc serve --embeddings), one request
 * at a time, beside the generation engine. */
typedef struct srv_embedder srv_embedder;
lmc_status srv_embedder_init(lmc_model *m, int32_t n_ctx, int32_t n_batch, int32_t n_threads,
                             pthread_mutex_t *tok_mu, srv_embedder **out);
void srv_embedder_free(srv_embedder *e);
/* POST /v1/embeddings (OpenAI's shape): mean-pooled, L2-normalized final hidden states. */
char *ep_embeddings(srv_embedder *e, const char *model_id, const char *body, size_t len,
                    api_error *err);

/* GET /props: llama-server's shape (context size, slots, template, model, default settings). */
typedef struct {
    const lmc_model *model;
    const char *model_id, *model_path;
    int32_t n_ctx, n_slots;
    bool embeddings;
    lmc_sampler_params sp; /* the requests' default sampling (serve --temp, ...) */
    int32_t n_predict;     /* serve -n; -1: none */
    const char *tmpl;      /* serve --chat-template's source; NULL: the model's */
} srv_props;
char *ep_props(const srv_props *p);
/* GET /metrics: Prometheus text. hits[i]: requests served on route name[i]. */
char *ep_metrics(srv_engine *e, const char *const *name, const uint64_t *hits, int n);

/* ---- body_check.c ------------------------------------------------------------------------------
 */
/* JSON text is UTF-8 (RFC 8259) and lmc's strings are C strings: invalid UTF-8 and NUL (raw or as
 * \u0000) are refused with a 400 in *err naming the byte. */
bool srv_check_body_text(const char *body, size_t n, api_error *err);

/* ---- page -------------------------------------------------------------------------------------
 */
extern const char srv_page_html[];
extern const size_t srv_page_html_len;

#endif
