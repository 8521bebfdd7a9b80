/* server.c — `lmc serve`: an OpenAI-compatible HTTP server on libmicrohttpd (a thread per
 * connection), routes, auth, body limits, streaming as server-sent events, client-disconnect
 * detection and graceful shutdown. Generation itself is the engine's (slots.c); JSON shapes are
 * api.c's, the other endpoints' endpoints.c's. It does no TLS: put a reverse proxy in front for
 * that. CORS: --cors ORIGIN adds Access-Control-Allow-Origin and answers preflights. */
#include "cli.h"
#include "cli_gen.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef enum {
    R_PAGE,
    R_HEALTH,
    R_MODELS,
    R_CHAT,
    R_TEXT,
    R_TOKENIZE,
    R_DETOKENIZE,
    R_EMBED,
    R_PROPS,
    R_METRICS,
    R_COUNT
} route_id;

typedef struct {
    lmc_model *model;
    srv_engine *eng;
    srv_embedder *embedder; /* NULL without --embeddings */
    const char *api_key;
    const char *model_path;
    atomic_uint_fast64_t hits[R_COUNT]; /* requests routed, for /metrics */
    char model_id[256];
    int32_t n_ctx, n_slots, queue_max;
    size_t max_body;
    int keepalive_ms; /* a stream silent this long gets an SSE comment (a third of --timeout) */
    bool verbose;
    lmc_sampler_params sp; /* a request's sampling where it gives none (--temp, --top-k, ...) */
    int32_t n_predict;     /* a request's max_tokens where it gives none (-n; -1: the context) */
    char *tmpl;            /* --chat-template's source; NULL: the model's */
    int64_t started;
    pthread_mutex_t tok_mu; /* tokenization: one HTTP thread at a time */
    atomic_bool stopping;
    atomic_int n_replies; /* accepted generations whose response MHD has not finished sending */
} server;

/* Per connection-request state (MHD's con_cls). */
typedef struct {
    char *body;
    size_t len;
    bool too_large;
    bool responded;
    bool http11;  /* HTTP/1.1 or later: 1xx responses allowed */
    bool counted; /* in server.n_replies until on_completed */
} conn_state;

/* One choice of a stream: its request and how far its events got. */
typedef struct {
    srv_request *req;
    size_t sent;  /* bytes of req->text already in events */
    size_t seen;  /* bytes of req->text looked at (some may be held back: tool calls) */
    int32_t n_lp; /* of req->lp, entries already in events */
    bool finished;
} stream_choice;

/* A streaming response's state: owned by the response (freed by MHD's free callback). */
typedef struct {
    server *srv;
    int fd;
    char *out; /* SSE bytes not yet handed to MHD: [out_off, out_len) */
    size_t out_len, out_cap, out_off;
    int silent_ms; /* time since the last bytes handed to MHD */
    bool role_sent, finished;
    int32_t n; /* choices ("n"), each streamed with its index */
    stream_choice ch[SRV_MAX_N];
} stream_state;

/* ---- small helpers ----------------------------------------------------------------------------
 */
static const char *cors_origin; /* --cors ORIGIN, or NULL; set once before the daemon starts */

static void add_cors(struct MHD_Response *resp) {
    if (cors_origin)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, cors_origin);
}

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status, const char *type,
                                 char *body, size_t len, bool owned) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (owned) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    add_cors(resp);
    if (status == 503) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, char *json) {
    if (!json) return MHD_NO;
    return send_body(c, status, "application/json", json, strlen(json), true);
}

static enum MHD_Result send_error(struct MHD_Connection *c, const api_error *err) {
    return send_json(c, (unsigned)err->status, api_error_json(err));
}

static enum MHD_Result fail(struct MHD_Connection *c, int status, const char *param,
                            const char *code, const char *fmt, const char *arg) {
    api_error err;
    api_fail(&err, status, param, fmt, arg);
    err.code = code;
    return send_error(c, &err);
}

/* What the client's socket says (we only peek: a pipelined request stays unread). PEER_HALF: it
 * sent FIN — done sending, and maybe still reading (a half-close: it must get its reply) or gone
 * altogether; only a write can tell those apart (the peer answers it with a reset). PEER_GONE: the
 * connection is reset or broken. */
enum { PEER_OPEN, PEER_HALF, PEER_GONE };
static int peer_state(int fd) {
    if (fd < 0) return PEER_OPEN;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return PEER_OPEN;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return PEER_GONE;
    if (p.revents & POLLRDHUP) return PEER_HALF;
    char ch;
    ssize_t k = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    if (k == 0) return PEER_HALF;
    if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return PEER_GONE;
    return PEER_OPEN;
}

/* A client that sent FIN while its non-streamed reply is being generated: an interim
 * "100 Continue" (HTTP/1.1 clients must skip 1xx responses) makes a closed peer reset the
 * connection, which peer_state then sees, while a half-closed one reads and ignores it. */
static void probe_peer(int fd) {
    static const char probe[] = "HTTP/1.1 100 Continue\r\n\r\n";
    ssize_t k = send(fd, probe, sizeof probe - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)k;
}

static int conn_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

static void make_id(char *buf, size_t size, const char *prefix) {
    static atomic_uint_fast64_t counter;
    uint64_t x = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^
                 (atomic_fetch_add(&counter, 1) + 1) * 0xBF58476D1CE4E5B9ull;
    x ^= (uint64_t)getpid() << 32;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    snprintf(buf, size, "%s%016llx", prefix, (unsigned long long)x);
}

/* Constant-time comparison of the bearer token with the key. */
static bool auth_ok(server *S, struct MHD_Connection *c) {
    if (!S->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h), k = strlen(S->api_key);
    unsigned diff = n != k;
    for (size_t i = 0; i < k; i++)
        diff |= (unsigned char)S->api_key[i] ^ (unsigned char)(i < n ? h[i] : 0);
    return diff == 0;
}

/* ---- tokenizing a request ---------------------------------------------------------------------
 */
/* Tokenizes text (parse_special: template markers become their tokens) into r->prompt. */
static bool tokenize_prompt(server *S, srv_request *r, const char *text, api_error *err) {
    size_t len = strlen(text);
    if (len > (size_t)INT32_MAX) return api_fail(err, 400, NULL, "prompt too long");
    int32_t n = 0;
    int32_t *toks = lmc_tokenize_alloc(S->model, text, (int32_t)len, true, true, &n);
    if (!toks) return api_fail(err, 500, NULL, "tokenizer failed: %s", lmc_last_error());
    /* a template that writes the BOS text itself plus a tokenizer that adds BOS: keep one */
    r->n_prompt = gen_drop_double_bos(S->model, toks, n);
    r->prompt = toks;
    return true;
}

/* Parses and tokenizes a chat or completion request into r. */
static bool build_request(server *S, const char *body, size_t len, srv_kind kind, srv_request *r,
                          api_error *err) {
    if (!len) return api_fail(err, 400, NULL, "the request body is empty; send a JSON object");
    if (!srv_check_body_text(body, len, err)) return false;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) return api_fail(err, 400, NULL, "the request body is not valid JSON");
    bool ok = false;
    lmc_chat_msg *msgs = NULL;
    size_t n_msgs = 0, n_arena = 0;
    char **arena = NULL, *rendered = NULL;
    if (!cJSON_IsObject(root)) {
        api_fail(err, 400, NULL, "the request body must be a JSON object");
        goto done;
    }
    r->kind = kind;
    if (!api_parse_common(root, kind, lmc_model_n_vocab(S->model), r, err)) goto done;
    const char *param = kind == SRV_KIND_CHAT ? "messages" : "prompt";
    if (kind == SRV_KIND_CHAT) {
        if (!api_parse_messages(root, &msgs, &n_msgs, &arena, &n_arena, err)) goto done;
        /* Rendering is reentrant and bounded (steps, memory, 10 s, cancelled at shutdown): it runs
         * outside the lock, so a slow template holds up only its own request. With tools (or tool
         * messages) the whole messages go to the template as JSON (api_tools.c). */
        lmc_status st = LMC_OK;
        if (api_tools_needed(root, r)) {
            const lmc_model *m = S->model;
            int32_t bos = lmc_token_bos(m), eos = lmc_token_eos(m);
            if (!api_tools_render(root, S->tmpl ? S->tmpl : lmc_chat_template_source(m),
                                  bos >= 0 ? lmc_token_text(m, bos) : "",
                                  eos >= 0 ? lmc_token_text(m, eos) : "", r, &rendered, err))
                goto done;
        } else {
            st = lmc_chat_render(S->model, S->tmpl, msgs, n_msgs, true, &rendered);
        }
        if (st != LMC_OK) {
            api_fail(err, st == LMC_ERR_TEMPLATE ? 400 : 500, "messages", "chat template: %s",
                     lmc_last_error()[0] ? lmc_last_error() : lmc_status_str(st));
            goto done;
        }
        pthread_mutex_lock(&S->tok_mu);
        ok = tokenize_prompt(S, r, rendered, err);
        pthread_mutex_unlock(&S->tok_mu);
    } else {
        const char *prompt;
        if (!api_parse_prompt(root, &prompt, err)) goto done;
        pthread_mutex_lock(&S->tok_mu);
        ok = tokenize_prompt(S, r, prompt, err);
        pthread_mutex_unlock(&S->tok_mu);
    }
    if (!ok) goto done;
    ok = false;
    if (r->n_prompt == 0) {
        api_fail(err, 400, param, "the prompt is empty");
        goto done;
    }
    if (r->n_prompt >= S->n_ctx) {
        api_fail(err, 400, param,
                 "the prompt has %d tokens but the context holds %d per request (lmc serve -c), "
                 "prompt and reply together",
                 r->n_prompt, S->n_ctx);
        err->code = "context_length_exceeded";
        goto done;
    }
    int32_t room = S->n_ctx - r->n_prompt;
    if (r->max_tokens <= 0 && S->n_predict > 0) r->max_tokens = S->n_predict; /* serve -n */
    if (r->max_tokens <= 0 || r->max_tokens > room) r->max_tokens = room;
    make_id(r->id, sizeof r->id, kind == SRV_KIND_CHAT ? "chatcmpl-" : "cmpl-");
    r->created = (int64_t)time(NULL);
    ok = true;
done:
    free(rendered);
    for (size_t i = 0; i < n_arena; i++)
        free(arena[i]);
    free(arena);
    free(msgs);
    cJSON_Delete(root);
    return ok;
}

/* ---- streaming --------------------------------------------------------------------------------
 */
static void stream_error_event(stream_state *ss, int status, const char *msg) {
    api_error err;
    api_fail(&err, status, NULL, "%s", msg);
    char *j = api_error_json(&err);
    if (j) api_sse_raw(j, &ss->out, &ss->out_len, &ss->out_cap);
    free(j);
}

/* An SSE comment line: clients skip it; the bytes reset the connection's idle timer. */
static void stream_keepalive(stream_state *ss) {
    static const char ka[] = ": keep-alive\n\n";
    if (ss->out_len + sizeof ka > ss->out_cap) {
        size_t cap = ss->out_cap ? 2 * ss->out_cap : 1024;
        char *b = realloc(ss->out, cap);
        if (!b) return;
        ss->out = b;
        ss->out_cap = cap;
    }
    memcpy(ss->out + ss->out_len, ka, sizeof ka - 1);
    ss->out_len += sizeof ka - 1;
    ss->silent_ms = 0;
}

/* Turns what choice c has produced since the last look into events; true when anything was
 * emitted or the choice ended. The engine mutex is held on entry and released on return. */
static bool stream_choice_step(stream_state *ss, stream_choice *ch) {
    server *S = ss->srv;
    srv_request *r = ch->req;
    bool done = r->done;
    ch->seen = r->text_len;
    /* with tools, text that may begin a call is held back until the reply is whole */
    bool tools = done && r->kind == SRV_KIND_CHAT && r->tools != SRV_TOOLS_OFF;
    size_t upto = done ? r->text_len : api_tools_stream_prefix(r, r->text, r->text_len);
    if (upto < ch->sent) upto = ch->sent;
    size_t n = upto - ch->sent, sent0 = ch->sent;
    char *text = n ? malloc(n) : NULL, *whole = tools ? malloc(r->text_len + 1) : NULL;
    size_t whole_len = r->text_len;
    if (text) memcpy(text, r->text + ch->sent, n);
    if (whole) memcpy(whole, r->text ? r->text : "", whole_len), whole[whole_len] = 0;
    ch->sent = upto;
    /* the log-probabilities of the tokens whose text begins in this chunk */
    int32_t lp0 = ch->n_lp, lp1 = lp0;
    while (lp1 < r->n_lp && r->lp[lp1].offset < upto)
        lp1++;
    srv_logprob *lp = lp1 > lp0 ? malloc((size_t)(lp1 - lp0) * sizeof *lp) : NULL;
    if (lp) memcpy(lp, r->lp + lp0, (size_t)(lp1 - lp0) * sizeof *lp);
    ch->n_lp = lp1;
    srv_engine_unlock(S->eng);
    /* a finished reply that holds tool calls: the rest of its content and the call deltas
     * (r is done: only this thread touches it now) */
    if (whole && r->finish != SRV_FINISH_ERROR &&
        api_tools_sse(r, S->model_id, whole, whole_len, sent0, &ss->out, &ss->out_len,
                      &ss->out_cap)) {
        r->tool_calls_out = true;
        n = 0;
    }
    free(whole);
    if (n && text)
        api_sse_chunk(r, S->model, S->model_id, text, n, lp, lp ? lp1 - lp0 : 0, false, &ss->out,
                      &ss->out_len, &ss->out_cap);
    free(text);
    free(lp);
    if (done) {
        ch->finished = true;
        /* a reply cut by the server's shutdown ends as any other: a final chunk whose
         * finish_reason is "cancelled" */
        if (r->finish != SRV_FINISH_ERROR)
            api_sse_chunk(r, S->model, S->model_id, NULL, 0, NULL, 0, true, &ss->out, &ss->out_len,
                          &ss->out_cap);
    }
    return n || done;
}

static void stream_cancel(stream_state *ss) {
    for (int32_t i = 0; i < ss->n; i++)
        if (!ss->ch[i].finished) atomic_store(&ss->ch[i].req->cancel, true);
    srv_engine_poke(ss->srv->eng);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_state *ss = cls;
    server *S = ss->srv;
    while (ss->out_off == ss->out_len) {
        ss->out_off = ss->out_len = 0;
        if (ss->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        if (!ss->role_sent) { /* headers and the first event go out at once */
            ss->role_sent = true;
            if (ss->ch[0].req->kind == SRV_KIND_CHAT) {
                for (int32_t i = 0; i < ss->n; i++)
                    api_sse_role(ss->ch[i].req, S->model_id, &ss->out, &ss->out_len, &ss->out_cap);
                continue;
            }
        }
        /* wait on the first unfinished choice unless some choice has news already */
        stream_choice *first = NULL;
        bool news = false;
        srv_engine_lock(S->eng);
        for (int32_t i = 0; i < ss->n; i++) {
            stream_choice *ch = &ss->ch[i];
            if (ch->finished) continue;
            if (!first) first = ch;
            news |= ch->req->text_len != ch->seen || ch->req->done;
        }
        if (first && !news) srv_engine_wait(S->eng, first->req, ss->n > 1 ? 50 : 250);
        srv_engine_unlock(S->eng);
        bool emitted = false, fresh = false;
        const srv_request *failed = NULL;
        for (int32_t i = 0; i < ss->n; i++) {
            stream_choice *ch = &ss->ch[i];
            if (ch->finished) continue;
            srv_engine_lock(S->eng);
            fresh |= ch->req->text_len != ch->seen;
            emitted |= stream_choice_step(ss, ch);
            if (ch->finished && ch->req->finish == SRV_FINISH_ERROR) failed = ch->req;
        }
        bool all = true;
        for (int32_t i = 0; i < ss->n; i++)
            all &= ss->ch[i].finished;
        if (failed) {
            stream_cancel(ss);
            ss->finished = true;
            stream_error_event(ss, failed->err_status, failed->err);
            api_sse_raw("[DONE]", &ss->out, &ss->out_len, &ss->out_cap);
        } else if (all) {
            ss->finished = true;
            srv_request *rs[SRV_MAX_N];
            for (int32_t i = 0; i < ss->n; i++)
                rs[i] = ss->ch[i].req;
            if (rs[0]->include_usage)
                api_sse_usage_n(rs, ss->n, S->model_id, &ss->out, &ss->out_len, &ss->out_cap);
            api_sse_raw("[DONE]", &ss->out, &ss->out_len, &ss->out_cap);
        } else if (!emitted && peer_state(ss->fd) == PEER_GONE) {
            stream_cancel(ss);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        } else if (!emitted && !fresh &&
                   (ss->silent_ms += ss->n > 1 ? 50 : 250) >= S->keepalive_ms) {
            /* a long prompt or a wait for a slot is the server's slowness, not an idle client:
             * a comment (which SSE clients skip) keeps --timeout from closing the stream */
            stream_keepalive(ss);
        }
    }
    ss->silent_ms = 0;
    size_t k = ss->out_len - ss->out_off;
    if (k > max) k = max;
    memcpy(buf, ss->out + ss->out_off, k);
    ss->out_off += k;
    return (ssize_t)k;
}

static void stream_free(void *cls) {
    stream_state *ss = cls;
    if (!ss->finished) stream_cancel(ss); /* the client went away mid-stream: stop generating */
    for (int32_t i = 0; i < ss->n; i++)
        srv_request_release(ss->ch[i].req);
    free(ss->out);
    free(ss);
}

/* ---- routes -----------------------------------------------------------------------------------
 */
/* Waits until r is done, watching the connection for a hang-up (false: the client left). */
static bool wait_done(server *S, conn_state *cs, int fd, srv_request *r, bool *probed) {
    srv_engine_lock(S->eng);
    while (!r->done) {
        srv_engine_wait(S->eng, r, 250);
        if (r->done) break;
        srv_engine_unlock(S->eng);
        int ps = peer_state(fd);
        if (ps == PEER_HALF && !*probed && cs->http11) {
            probe_peer(fd); /* the next look tells a half-close from a hang-up */
            *probed = true;
        }
        if (ps == PEER_GONE) return false;
        srv_engine_lock(S->eng);
    }
    srv_engine_unlock(S->eng);
    return true;
}

static void release_all(srv_request **rs, int32_t n, bool cancel, server *S) {
    for (int32_t i = 0; i < n; i++) {
        if (cancel) atomic_store(&rs[i]->cancel, true);
        srv_request_release(rs[i]);
    }
    if (cancel) srv_engine_poke(S->eng);
}

static enum MHD_Result handle_generate(server *S, struct MHD_Connection *c, conn_state *cs,
                                       srv_kind kind) {
    api_error err;
    srv_request *rs[SRV_MAX_N] = {0};
    srv_request *r = rs[0] = srv_request_new();
    if (!r) return fail(c, 500, NULL, NULL, "%s", "out of memory");
    r->sp = S->sp; /* the command line's defaults; the request's fields override them */
    if (!build_request(S, cs->body, cs->len, kind, r, &err)) {
        srv_request_release(r);
        return send_error(c, &err);
    }
    /* "n" choices: requests of their own, generated side by side in the slots */
    int32_t n = r->n_choices < 1 ? 1 : r->n_choices, n_sub = 0;
    for (int32_t i = 1; i < n; i++)
        if (!(rs[i] = srv_request_clone(r, i))) {
            release_all(rs, i, false, S);
            return fail(c, 500, NULL, NULL, "%s", "out of memory");
        }
    while (n_sub < n && srv_engine_submit(S->eng, rs[n_sub]) == 0)
        n_sub++;
    if (n_sub < n) {
        release_all(rs, n_sub, true, S);
        release_all(rs + n_sub, n - n_sub, false, S);
        api_fail(&err, 503, NULL, "all %d slots are busy and the queue (%d) is full; retry later",
                 S->n_slots, S->queue_max);
        if (atomic_load(&S->stopping)) api_fail(&err, 503, NULL, "the server is shutting down");
        err.code = "server_busy";
        return send_error(c, &err);
    }
    cs->counted = true; /* shutdown waits for this response to be sent (on_completed) */
    atomic_fetch_add(&S->n_replies, 1);
    int fd = conn_fd(c);
    if (r->stream) {
        stream_state *ss = calloc(1, sizeof *ss);
        struct MHD_Response *resp = ss ? MHD_create_response_from_callback(
                                             MHD_SIZE_UNKNOWN, 16384, stream_read, ss, stream_free)
                                       : NULL;
        if (!resp) {
            release_all(rs, n, true, S);
            free(ss);
            return MHD_NO;
        }
        ss->srv = S;
        ss->n = n;
        for (int32_t i = 0; i < n; i++)
            ss->ch[i].req = rs[i]; /* the stream now owns our references */
        ss->fd = fd;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        add_cors(resp);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    /* not streaming: this connection's thread waits here, watching for a hang-up */
    bool probed = false;
    for (int32_t i = 0; i < n; i++)
        if (!wait_done(S, cs, fd, rs[i], &probed)) {
            release_all(rs, n, true, S);
            return MHD_NO;
        }
    enum MHD_Result ret;
    const srv_request *bad = NULL;
    for (int32_t i = 0; i < n && !bad; i++)
        if (rs[i]->finish == SRV_FINISH_ERROR || rs[i]->finish == SRV_FINISH_CANCELLED) bad = rs[i];
    if (bad && bad->finish == SRV_FINISH_ERROR) {
        ret = fail(c, bad->err_status ? bad->err_status : 500, NULL, NULL, "%s", bad->err);
    } else if (bad) {
        ret = fail(c, 503, NULL, NULL, "%s", "generation cancelled: the server is shutting down");
    } else if (n == 1) {
        int32_t n_lp = 0; /* the tokens whose text begins in the reply */
        while (n_lp < r->n_lp && r->lp[n_lp].offset < r->text_len)
            n_lp++;
        ret = send_json(
            c, MHD_HTTP_OK,
            api_completion_json(r, S->model, S->model_id, r->text, r->text_len, r->lp, n_lp));
    } else {
        ret = send_json(c, MHD_HTTP_OK, api_completion_json_n(rs, n, S->model, S->model_id));
    }
    release_all(rs, n, false, S);
    return ret;
}

static enum MHD_Result handle_models(server *S, struct MHD_Connection *c) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data"), *m = cJSON_CreateObject();
    cJSON_AddItemToArray(data, m);
    cJSON_AddStringToObject(m, "id", S->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)S->started);
    cJSON_AddStringToObject(m, "owned_by", "lmc");
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    char desc[128];
    lmc_model_desc(S->model, desc, sizeof desc);
    cJSON_AddStringToObject(meta, "desc", desc);
    cJSON_AddNumberToObject(meta, "n_ctx", S->n_ctx);
    cJSON_AddNumberToObject(meta, "n_ctx_train", lmc_model_n_ctx_train(S->model));
    cJSON_AddNumberToObject(meta, "n_vocab", lmc_model_n_vocab(S->model));
    cJSON_AddNumberToObject(meta, "n_params", (double)lmc_model_n_params(S->model));
    cJSON_AddNumberToObject(meta, "n_slots", S->n_slots);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return send_json(c, MHD_HTTP_OK, s);
}

static enum MHD_Result handle_health(server *S, struct MHD_Connection *c) {
    int n_slots, n_busy, n_queued;
    srv_engine_counts(S->eng, &n_slots, &n_busy, &n_queued);
    bool stopping = atomic_load(&S->stopping);
    char buf[160];
    snprintf(buf, sizeof buf,
             "{\"status\":\"%s\",\"slots_idle\":%d,\"slots_processing\":%d,\"queued\":%d}",
             stopping ? "shutting down" : "ok", n_slots - n_busy, n_busy, n_queued);
    return send_json(c, stopping ? 503 : MHD_HTTP_OK, strdup(buf));
}

/* The endpoints of endpoints.c: a body in, a body out. */
static enum MHD_Result handle_simple(server *S, struct MHD_Connection *c, conn_state *cs,
                                     route_id id) {
    api_error err;
    char *out = NULL;
    const char *type = "application/json";
    srv_props props = {S->model,      S->model_id, S->model_path, S->n_ctx, S->n_slots,
                       !!S->embedder, S->sp,       S->n_predict,  S->tmpl};
    static const char *const names[R_COUNT] = {"/",
                                               "/health",
                                               "/v1/models",
                                               "/v1/chat/completions",
                                               "/v1/completions",
                                               "/tokenize",
                                               "/detokenize",
                                               "/v1/embeddings",
                                               "/props",
                                               "/metrics"};
    uint64_t hits[R_COUNT];
    switch (id) {
    case R_TOKENIZE:
    case R_DETOKENIZE:
        pthread_mutex_lock(&S->tok_mu);
        out = id == R_TOKENIZE ? ep_tokenize(S->model, cs->body, cs->len, &err)
                               : ep_detokenize(S->model, cs->body, cs->len, &err);
        pthread_mutex_unlock(&S->tok_mu);
        break;
    case R_EMBED:
        if (!S->embedder) {
            api_fail(&err, 501, NULL,
                     "this server does not compute embeddings; start it with --embeddings");
            break;
        }
        out = ep_embeddings(S->embedder, S->model_id, cs->body, cs->len, &err);
        break;
    case R_PROPS:
        out = ep_props(&props);
        if (!out) api_fail(&err, 500, NULL, "out of memory");
        break;
    default: /* R_METRICS */
        for (int i = 0; i < R_COUNT; i++)
            hits[i] = atomic_load(&S->hits[i]);
        out = ep_metrics(S->eng, names, hits, R_COUNT);
        type = "text/plain; version=0.0.4; charset=utf-8";
        if (!out) api_fail(&err, 500, NULL, "out of memory");
        break;
    }
    if (!out) return send_error(c, &err);
    return send_body(c, MHD_HTTP_OK, type, out, strlen(out), true);
}

/* A CORS preflight (OPTIONS with --cors): what a browser may send to the path. */
static enum MHD_Result send_preflight(struct MHD_Connection *c, const char *methods) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    add_cors(resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_METHODS, methods);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    enum MHD_Result ret = MHD_queue_response(c, 204, resp);
    MHD_destroy_response(resp);
    return ret;
}

static const struct {
    const char *path;
    const char *method;
    route_id id;
    bool auth;
} routes[] = {
    {"/", "GET", R_PAGE, false},
    {"/index.html", "GET", R_PAGE, false},
    {"/health", "GET", R_HEALTH, false},
    {"/v1/models", "GET", R_MODELS, true},
    {"/models", "GET", R_MODELS, true},
    {"/v1/chat/completions", "POST", R_CHAT, true},
    {"/chat/completions", "POST", R_CHAT, true},
    {"/v1/completions", "POST", R_TEXT, true},
    {"/completions", "POST", R_TEXT, true},
    {"/tokenize", "POST", R_TOKENIZE, true},
    {"/detokenize", "POST", R_DETOKENIZE, true},
    {"/v1/embeddings", "POST", R_EMBED, true},
    {"/embeddings", "POST", R_EMBED, true},
    {"/props", "GET", R_PROPS, true},
    {"/metrics", "GET", R_METRICS, true},
};

static enum MHD_Result route(server *S, struct MHD_Connection *c, const char *url,
                             const char *method, conn_state *cs) {
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path)) continue;
        bool get = !strcmp(routes[i].method, "GET");
        if (cors_origin && !strcmp(method, "OPTIONS"))
            return send_preflight(c, get ? "GET, HEAD, OPTIONS" : "POST, OPTIONS");
        if (strcmp(method, routes[i].method) && !(get && !strcmp(method, "HEAD"))) {
            api_error err;
            api_fail(&err, 405, NULL, "method %.16s is not allowed on %.64s; use %s", method, url,
                     routes[i].method);
            struct MHD_Response *resp = NULL;
            char *j = api_error_json(&err);
            if (j) resp = MHD_create_response_from_buffer(strlen(j), j, MHD_RESPMEM_MUST_FREE);
            if (!resp) {
                free(j);
                return MHD_NO;
            }
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                    get ? "GET, HEAD" : routes[i].method);
            add_cors(resp);
            enum MHD_Result ret = MHD_queue_response(c, 405, resp);
            MHD_destroy_response(resp);
            return ret;
        }
        if (routes[i].auth && !auth_ok(S, c)) {
            api_error err;
            api_fail(&err, 401, NULL,
                     "missing or incorrect API key (send 'Authorization: Bearer KEY')");
            err.code = "invalid_api_key";
            return send_error(c, &err);
        }
        atomic_fetch_add(&S->hits[routes[i].id], 1);
        switch (routes[i].id) {
        case R_PAGE:
            return send_body(c, MHD_HTTP_OK, "text/html; charset=utf-8", (char *)srv_page_html,
                             srv_page_html_len, false);
        case R_HEALTH:
            return handle_health(S, c);
        case R_MODELS:
            return handle_models(S, c);
        case R_CHAT:
            return handle_generate(S, c, cs, SRV_KIND_CHAT);
        case R_TEXT:
            return handle_generate(S, c, cs, SRV_KIND_TEXT);
        default:
            return handle_simple(S, c, cs, routes[i].id);
        }
    }
    return fail(c, 404, NULL, NULL, "no route %.200s", url);
}

/* Which device runs the slots' batches and why (never a silent fallback to the CPU). */
static void srv_print_device(const lmc_context *ctx, const lmc_model *m, int n_par, int ngl) {
    lmc_context_info ci;
    if (lmc_context_get_info(ctx, &ci) != LMC_OK) return;
    const int n_layer = lmc_model_n_layer(m), on_gpu = ngl < 0 || ngl > n_layer ? n_layer : ngl;
    if (ci.device == LMC_DEVICE_CUDA)
        fprintf(stderr, "lmc serve: batches of %d slot%s run on the GPU (%s, %d of %d layers)\n",
                n_par, n_par == 1 ? "" : "s", ci.gpu_name, ci.n_gpu_layers, n_layer);
    else if (ngl == 0)
        fprintf(stderr, "lmc serve: batches run on the CPU (%d threads; -ngl 0)\n", ci.n_threads);
    else if (lmc_device_count(LMC_DEVICE_CUDA) <= 0)
        fprintf(stderr, "lmc serve: batches run on the CPU (%d threads): no CUDA GPU %s\n",
                ci.n_threads,
                lmc_device_count(LMC_DEVICE_CUDA) < 0 ? "backend in this build" : "found");
    else
        fprintf(stderr,
                "lmc serve: batches run on the CPU (%d threads): %d slots need every layer on the "
                "GPU, -ngl %d puts %d of %d there (partial offload serves one slot; use -ngl -1 "
                "or --parallel 1)\n",
                ci.n_threads, n_par, ngl, on_gpu, n_layer);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls) {
    server *S = cls;
    conn_state *cs = *con_cls;
    if (!cs) { /* headers are in; the body (if any) follows in later calls */
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        *con_cls = cs;
        cs->http11 = version && strcmp(version, MHD_HTTP_VERSION_1_0) != 0;
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > S->max_body) cs->too_large = true;
        if (cs->too_large) { /* answer before reading a byte of it; MHD then closes the connection
                              */
            cs->responded = true;
            api_error err;
            api_fail(&err, 413, NULL, "the request body is larger than %zu bytes", S->max_body);
            return send_error(c, &err);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        /* MHD takes no response while a body is arriving: a body that outgrows the limit is
         * read and dropped, and answered with 413 at its end; past 8x the limit we hang up */
        if (!cs->too_large && cs->len + *upload_size > S->max_body) {
            cs->too_large = true;
            free(cs->body);
            cs->body = NULL;
        }
        if (cs->too_large) {
            cs->len += *upload_size;
            if (cs->len > 8 * S->max_body) return MHD_NO;
        } else {
            char *b = realloc(cs->body, cs->len + *upload_size + 1);
            if (!b) return MHD_NO;
            cs->body = b;
            memcpy(cs->body + cs->len, upload_data, *upload_size);
            cs->len += *upload_size;
            cs->body[cs->len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (cs->responded) return MHD_YES;
    cs->responded = true;
    if (cs->too_large) {
        api_error err;
        api_fail(&err, 413, NULL, "the request body is larger than %zu bytes", S->max_body);
        return send_error(c, &err);
    }
    return route(S, c, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    server *S = cls;
    (void)c;
    (void)toe;
    conn_state *cs = *con_cls;
    if (!cs) return;
    if (cs->counted) atomic_fetch_sub(&S->n_replies, 1);
    free(cs->body);
    free(cs);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    server *S = cls;
    if (!S->verbose) return;
    fprintf(stderr, "lmc serve: http: ");
    vfprintf(stderr, fmt, ap);
}

/* ---- the command ------------------------------------------------------------------------------
 */
static void usage(FILE *to) {
    fprintf(
        to,
        "usage: lmc serve [options]\n\n"
        "An OpenAI-compatible HTTP server: POST /v1/chat/completions, POST /v1/completions,\n"
        "GET /v1/models, GET /health, POST /tokenize, POST /detokenize, POST /v1/embeddings\n"
        "(--embeddings), GET /props, GET /metrics (Prometheus), and a chat page at /. Requests are "
        "served by N slots with\n"
        "continuous batching; a shared prompt prefix is reused from a slot's KV cache.\n\n"
        "SIGINT/SIGTERM stop it gracefully: no new requests, running ones get the grace to\n"
        "finish, then end with finish_reason \"cancelled\". The sampling options set the\n"
        "defaults of requests that do not give them.\n\n");
    flags_help(to, CMD_SERVE);
}

static bool bind_addr(const char *host, int port, struct sockaddr_storage *ss, bool *v6) {
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res) return false;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return true;
}

/* What the command line asks of serve. */
typedef struct {
    const char *model_path, *host, *api_key, *cors, *tmpl_arg;
    int port, n_par, queue, n_ctx, n_batch, n_threads, ngl, timeout, max_body, n_predict;
    float grace;
    bool verbose, embeddings;
    lmc_device device;
    lmc_kv_type type_k, type_v; /* -ctk/-ctv */
    cli_split_opts split;       /* -sm/-ts/-mg/-tp */
    lmc_sampler_params sp;      /* a request's sampling where it gives none */
} serve_opts;

/* *rc = code; false: the command stops there. */
static bool stop_with(int *rc, int code) {
    *rc = code;
    return false;
}

/* serve's flags into o (defaults first). False when the command stops now (--help, a usage error),
 * with its exit code in *rc. */
static bool serve_flags(int argc, char **argv, serve_opts *o, int *rc) {
    *o = (serve_opts){.host = "127.0.0.1",
                      .api_key = getenv("LMC_API_KEY"),
                      .port = 8080,
                      .n_par = 4,
                      .queue = 64,
                      .n_ctx = 2048,
                      .n_batch = 512,
                      .ngl = -1,
                      .timeout = 600,
                      .max_body = 1 << 20,
                      .n_predict = -1,
                      .grace = 5.0f,
                      .device = LMC_DEVICE_AUTO,
                      .type_k = LMC_KV_F32,
                      .type_v = LMC_KV_F32,
                      .sp = lmc_sampler_default_params()};
    for (int i = 1; i < argc; i++) {
        flag_val v;
        int r = flag_next(CMD_SERVE, argc, argv, &i, &v);
        if (r < 0) return stop_with(rc, CLI_USAGE);
        if (r == 0)
            return stop_with(rc, cli_usage_error(argv[0], "unexpected argument '%s'", argv[i]));
        switch (v.id) {
        case FL_HELP:
            usage(stdout);
            return stop_with(rc, CLI_OK);
        case FL_MODEL:
            o->model_path = v.str;
            break;
        case FL_HOST:
            o->host = v.str;
            break;
        case FL_PORT:
            o->port = v.i;
            break;
        case FL_PARALLEL:
            o->n_par = v.i;
            break;
        case FL_QUEUE:
            o->queue = v.i;
            break;
        case FL_CTX:
            o->n_ctx = v.i;
            break;
        case FL_BATCH:
            o->n_batch = v.i;
            break;
        case FL_THREADS:
            o->n_threads = v.i;
            break;
        case FL_NGL:
            o->ngl = v.i < 0 ? -1 : v.i;
            break;
        case FL_DEVICE:
            if (!cli_parse_device(CMD_SERVE, &v, &o->device)) return stop_with(rc, CLI_USAGE);
            break;
        case FL_CACHE_TYPE_K:
            if (!cli_parse_kv_type(CMD_SERVE, &v, &o->type_k)) return stop_with(rc, CLI_USAGE);
            break;
        case FL_CACHE_TYPE_V:
            if (!cli_parse_kv_type(CMD_SERVE, &v, &o->type_v)) return stop_with(rc, CLI_USAGE);
            break;
        case FL_SPLIT_MODE:
        case FL_TENSOR_SPLIT:
        case FL_MAIN_GPU:
        case FL_TENSOR_PARALLEL:
            if (cli_split_take(&o->split, CMD_SERVE, &v) < 0) return stop_with(rc, CLI_USAGE);
            break;
        case FL_N_PREDICT:
            o->n_predict = v.i;
            break;
        case FL_CHAT_TEMPLATE:
            o->tmpl_arg = v.str;
            break;
        case FL_TEMP:
            o->sp.temp = v.f;
            break;
        case FL_TOP_K:
            o->sp.top_k = v.i;
            break;
        case FL_TOP_P:
            o->sp.top_p = v.f;
            break;
        case FL_MIN_P:
            o->sp.min_p = v.f;
            break;
        case FL_REPEAT_PENALTY:
            o->sp.repeat_penalty = v.f;
            break;
        case FL_REPEAT_LAST_N:
            o->sp.repeat_last_n = v.i;
            break;
        case FL_FREQUENCY_PENALTY:
            o->sp.frequency_penalty = v.f;
            break;
        case FL_PRESENCE_PENALTY:
            o->sp.presence_penalty = v.f;
            break;
        case FL_API_KEY:
            o->api_key = v.str;
            break;
        case FL_CORS:
            o->cors = v.str;
            break;
        case FL_EMBEDDINGS:
            o->embeddings = true;
            break;
        case FL_TIMEOUT:
            o->timeout = v.i;
            break;
        case FL_MAX_BODY:
            o->max_body = v.i;
            break;
        case FL_SHUTDOWN_GRACE:
            o->grace = v.f;
            break;
        case FL_VERBOSE:
            o->verbose = true;
            break;
        default:
            return stop_with(rc,
                             cli_usage_error(argv[0], "option %s is not handled by serve", v.flag));
        }
    }
    return true;
}

int cmd_serve(int argc, char **argv) {
    serve_opts o;
    int rc = CLI_ERR;
    if (!serve_flags(argc, argv, &o, &rc)) return rc;
    if (o.n_ctx > 0 && o.n_ctx < 16)
        return cli_usage_error(argv[0], "-c must be 0 (the model's) or at least 16");
    if (o.api_key && !*o.api_key) o.api_key = NULL;
    if (o.cors && (!*o.cors || strpbrk(o.cors, "\r\n")))
        return cli_usage_error(argv[0], "--cors needs an origin (e.g. https://example.com or *)");
    cors_origin = o.cors;

    struct sockaddr_storage addr;
    bool v6 = false;
    if (!bind_addr(o.host, o.port, &addr, &v6))
        return cli_usage_error(argv[0], "cannot resolve --host '%s'", o.host);

    /* SIGINT/SIGTERM are taken by sigwait below; block them (and SIGPIPE) before any thread starts
     */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    server S = {.api_key = o.api_key,
                .keepalive_ms = o.timeout * 1000 / 3 > 1000 ? o.timeout * 1000 / 3 : 1000,
                .verbose = o.verbose,
                .max_body = (size_t)o.max_body,
                .n_slots = o.n_par,
                .queue_max = o.queue,
                .started = (int64_t)time(NULL),
                .sp = o.sp,
                .n_predict = o.n_predict};
    if (o.tmpl_arg) { /* a built-in's name or a Jinja file, as in run and chat */
        gen_opts go;
        gen_opts_default(&go);
        go.chat_template = o.tmpl_arg;
        bool tmpl_err;
        S.tmpl = gen_load_template(&go, &tmpl_err);
        if (tmpl_err) return CLI_ERR;
    }
    pthread_mutex_init(&S.tok_mu, NULL);
    lmc_context *ctx = NULL;
    struct MHD_Daemon *d = NULL;

    S.model = cli_load_model(o.model_path, false, false);
    if (!S.model) goto out;
    char def[4096];
    const char *path = o.model_path;
    if (!path) path = cli_default_model(def, sizeof def) ? def : "model";
    const char *base = strrchr(path, '/');
    snprintf(S.model_id, sizeof S.model_id, "%.255s", base ? base + 1 : path);
    S.model_path = path;

    int32_t n_train = lmc_model_n_ctx_train(S.model);
    if (n_train > 0 && o.n_ctx > n_train)
        fprintf(stderr,
                "lmc serve: -c %d is more than the model's training context (%d); replies past "
                "%d tokens may degrade\n",
                o.n_ctx, n_train, n_train);
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_seq = o.n_par;
    cp.n_threads = o.n_threads;
    cp.n_batch = o.n_batch;
    cp.n_gpu_layers = o.ngl;
    cp.device = o.ngl != 0 ? o.device : LMC_DEVICE_CPU;
    cp.type_k = o.type_k;
    cp.type_v = o.type_v;
    cli_split_apply(&o.split, &cp);
    lmc_status st = lmc_context_init(S.model, &cp, &ctx);
    if (st != LMC_OK) {
        cli_fail(st, "cannot create the context");
        goto out;
    }
    S.n_ctx = lmc_context_n_ctx(ctx);

    if (o.embeddings) {
        st = srv_embedder_init(S.model, S.n_ctx, o.n_batch, o.n_threads, &S.tok_mu, &S.embedder);
        if (st != LMC_OK) {
            cli_fail(st, "cannot create the embeddings context");
            goto out;
        }
    }

    srv_engine_params ep = {
        .n_slots = o.n_par, .queue_max = o.queue, .n_batch = o.n_batch, .verbose = o.verbose};
    if (srv_engine_init(S.model, ctx, &ep, &S.eng) != LMC_OK) {
        fprintf(stderr, "lmc: error: cannot start the engine (out of memory)\n");
        goto out;
    }

    unsigned conn_limit = (unsigned)(2 * (o.n_par + o.queue) + 16);
    if (conn_limit > 1000) conn_limit = 1000; /* a thread each; also keeps below FD_SETSIZE-ish */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    d = MHD_start_daemon(flags, (uint16_t)o.port, NULL, NULL, on_request, &S,
                         MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, &S, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)o.timeout, MHD_OPTION_CONNECTION_LIMIT, conn_limit,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, &S, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "lmc: error: cannot listen on %s port %d: %s\n", o.host, o.port,
                strerror(errno));
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int bound = di ? di->port : o.port;
    char desc[128];
    lmc_model_desc(S.model, desc, sizeof desc);
    fprintf(stderr, "lmc serve: %s, %d slot%s x %d tokens of context, queue %d\n", desc, o.n_par,
            o.n_par == 1 ? "" : "s", S.n_ctx, o.queue);
    srv_print_device(ctx, S.model, o.n_par, o.ngl);
    fprintf(stderr, "lmc serve: listening on http://%s%s%s:%d/\n", v6 ? "[" : "", o.host,
            v6 ? "]" : "", bound);
    fflush(stderr);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "lmc serve: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&S.stopping, true);
    lmc_chat_render_cancel(); /* a template still running (up to its 10 s budget) stops now */
    MHD_socket lfd = MHD_quiesce_daemon(d); /* no new connections */
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    srv_engine_shutdown(S.eng, o.grace);
    /* every reply is now done or cut; let MHD send the last bytes ([DONE]) before it closes the
     * connections (bounded: a client that does not read is not waited for long) */
    for (int i = 0; i < 300 && atomic_load(&S.n_replies) > 0; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    MHD_stop_daemon(d); /* waits for every connection thread */
    d = NULL;
    rc = CLI_OK;
out:
    if (d) MHD_stop_daemon(d);
    srv_engine_free(S.eng);
    srv_embedder_free(S.embedder);
    lmc_context_free(ctx);
    lmc_model_free(S.model);
    pthread_mutex_destroy(&S.tok_mu);
    free(S.tmpl);
    return rc;
}
