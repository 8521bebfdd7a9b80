/* util.c — the thread-local last-error message and small helpers. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static _Thread_local char g_err[2048];

const char *lmc_last_error(void) { return g_err; }

lmc_status lmc_err(lmc_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return st;
}

void lmc_err_prefix(const char *fmt, ...) {
    char prefix[512], old[sizeof g_err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_err, sizeof old);
    snprintf(g_err, sizeof g_err, "%s: %s", prefix, old);
}

const char *lmc_status_str(lmc_status st) {
    switch (st) {
    case LMC_OK: return "ok";
    case LMC_ERR_IO: return "I/O error";
    case LMC_ERR_FORMAT: return "format error";
    case LMC_ERR_UNSUPPORTED: return "unsupported";
    case LMC_ERR_OOM: return "out of memory";
    case LMC_ERR_CONTEXT_FULL: return "context full";
    case LMC_ERR_BACKEND: return "backend error";
    case LMC_ERR_INVALID_ARG: return "invalid argument";
    case LMC_ERR_TEMPLATE: return "template error";
    case LMC_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}

double lmc_time_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
