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

typedef enum { SRV_KIND_CHAT, SRV_KIND_TEXT } srv_kind;

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
    char id[48];
    int64_t created;

    /* output: guarded by the engine mutex; cond is signalled on every change */
    pthread_cond_t cond;
    char *text; /* (text_len) visible generated text, NUL-terminated (stop strings already cut) */
    size_t text_len, text_cap;
    int32_t n_gen;    /* tokens generated */
    int32_t n_reused; /* prompt tokens found in the slot's cache */
    srv_finish finish;
    bool done;
    int err_status; /* HTTP status for SRV_FINISH_ERROR */
    char err[256];
    double t_first, t_gen; /* seconds: start to the first token, first token to the end */

    atomic_bool cancel; /* set by the HTTP side when the client goes away */
    atomic_int refs;
} srv_request;

srv_request *srv_request_new(void);
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
/* {"error": {...}} as a malloc'ed string. */
char *api_error_json(const api_error *err);

/* The request fields both endpoints share: sampling, max_tokens (0 when absent), stop, stream. */
bool api_parse_common(const cJSON *root, srv_request *r, api_error *err);
/* messages -> (role, content) pairs; strings point into root (or into *arena, which the caller
 * frees). */
bool api_parse_messages(const cJSON *root, lmc_chat_msg **msgs, size_t *n, char ***arena,
                        size_t *n_arena, api_error *err);
/* "prompt": a string (or an array holding one string). Points into root. */
bool api_parse_prompt(const cJSON *root, const char **prompt, api_error *err);

/* Response bodies (malloc'ed JSON). text may be NULL (empty). */
char *api_completion_json(const srv_request *r, const char *model_id, const char *text, size_t len);
/* One SSE event "data: {...}\n\n" appended to *buf. first: the role chunk (chat). final: the chunk
 * with finish_reason (and usage). */
void api_sse_chunk(const srv_request *r, const char *model_id, const char *text, size_t len,
                   bool final, char **buf, size_t *len_buf, size_t *cap);
void api_sse_role(const srv_request *r, const char *model_id, char **buf, size_t *len_buf,
                  size_t *cap);
void api_sse_usage(const srv_request *r, const char *model_id, char **buf, size_t *len_buf,
                   size_t *cap);
void api_sse_raw(const char *data, char **buf, size_t *len_buf, size_t *cap);
const char *api_finish_str(srv_finish f);

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
