/* arena.c — the memory and error exit of one render: a chunked arena (freed as a whole when the
 * render ends, bounded by JINJA_MAX_MEMORY), growable string buffers over it, and jfail_at, which
 * records an error and longjmps back to jinja_render. Nothing here knows about values. */
#include "jinja_int.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

void jfail_at(jctx *c, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    c->err_line = line;
    c->err_col = col;
    if (c->st == LMC_OK) c->st = LMC_ERR_TEMPLATE;
    longjmp(c->jb, 1);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void jbudget_start(jctx *c, int max_ms) {
    c->started_ns = now_ns();
    c->deadline_ns = c->started_ns + (uint64_t)(max_ms > 0 ? max_ms : JINJA_MAX_MS) * 1000000u;
}

/* The clock (and the cancel flag) is read once per 1024 steps: cheap, and no step is long (scans
 * of strings and lists spend a step per KiB or per 64 items). */
static atomic_int cancel_all;
void lmc_chat_render_cancel(void) {
    atomic_store(&cancel_all, 1);
}

void jstep(jctx *c, size_t n) {
    size_t before = c->steps;
    c->steps += n;
    if (c->steps > JINJA_MAX_STEPS)
        rfail(c, "template ran for too many steps (%u)", JINJA_MAX_STEPS);
    if ((before >> 10) == (c->steps >> 10) && before) return;
    if (atomic_load(&cancel_all)) rfail(c, "cancelled (the program is shutting down)");
    if (c->deadline_ns && now_ns() > c->deadline_ns)
        rfail(c, "template ran for too long (more than %.1f s)",
              (double)(c->deadline_ns - c->started_ns) / 1e9);
}

void jenter(jctx *c) {
    if (++c->edepth > JINJA_MAX_EVAL_DEPTH)
        rfail(c, "template nested too deeply (more than %d levels)", JINJA_MAX_EVAL_DEPTH);
}

void *arena_alloc(jctx *c, size_t n) {
    if (n > JINJA_MAX_MEMORY) {
        c->st = LMC_ERR_TEMPLATE;
        rfail(c, "template needs more than %u MiB of memory", JINJA_MAX_MEMORY >> 20);
    }
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n == 0) n = sizeof(max_align_t);
    achunk *h = c->chunks;
    if (!h || h->cap - h->used < n) {
        size_t cap = n > (64u << 10) ? n : (64u << 10);
        if (c->mem + cap > JINJA_MAX_MEMORY) {
            c->st = LMC_ERR_TEMPLATE;
            rfail(c, "template needs more than %u MiB of memory", JINJA_MAX_MEMORY >> 20);
        }
        achunk *nc = malloc(sizeof(achunk) + cap);
        if (!nc) {
            c->st = LMC_ERR_OOM;
            rfail(c, "out of memory");
        }
        nc->used = 0;
        nc->cap = cap;
        c->mem += cap;
        if (h && h->cap - h->used > (4u << 10) &&
            n > (64u << 10)) { /* keep the current chunk on top */
            nc->next = h->next;
            h->next = nc;
            nc->used = n;
            return nc->data;
        }
        nc->next = h;
        c->chunks = nc;
        h = nc;
    }
    void *p = (char *)h->data + h->used;
    h->used += n;
    return p;
}

void *arena_calloc(jctx *c, size_t n) {
    void *p = arena_alloc(c, n);
    memset(p, 0, n);
    return p;
}

char *arena_strdup(jctx *c, const char *p, size_t n) {
    char *s = arena_alloc(c, n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

void *arena_grow(jctx *c, void *old, size_t elem, size_t n, size_t *cap) {
    if (n < *cap) return old;
    size_t nc = *cap ? *cap * 2 : 4;
    void *p = arena_alloc(c, nc * elem);
    if (old) memcpy(p, old, n * elem);
    *cap = nc;
    return p;
}

static void sb_reserve(jctx *c, sbuf *b, size_t extra) {
    if (b->n + extra > JINJA_MAX_OUTPUT)
        rfail(c, "rendered text exceeds %u MiB", JINJA_MAX_OUTPUT >> 20);
    if (b->n + extra + 1 <= b->cap) return;
    size_t nc = b->cap ? b->cap * 2 : 64;
    while (nc < b->n + extra + 1)
        nc *= 2;
    char *np = arena_alloc(c, nc);
    if (b->n) memcpy(np, b->p, b->n);
    b->p = np;
    b->cap = nc;
}
void sb_put(jctx *c, sbuf *b, const char *p, size_t n) {
    if (!n) return;
    if (n >> 10) jstep(c, n >> 10);
    sb_reserve(c, b, n);
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
}
void sb_printf(jctx *c, sbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_put(c, b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void arena_free(jctx *c) {
    for (achunk *h = c->chunks, *nx; h; h = nx) {
        nx = h->next;
        free(h);
    }
    c->chunks = NULL;
}
