/* status.c - status names and the per-thread "last error" reason. */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SEGC_ERROR_LEN 512

static _Thread_local char last_error[SEGC_ERROR_LEN];

const char *segc_status_string(segc_status status) {
    switch (status) {
    case SEGC_OK: return "ok";
    case SEGC_ERR_INVALID_ARG: return "invalid argument";
    case SEGC_ERR_SHAPE: return "shape mismatch";
    case SEGC_ERR_NOMEM: return "out of memory";
    case SEGC_ERR_IO: return "i/o error";
    case SEGC_ERR_FORMAT: return "malformed file";
    case SEGC_ERR_UNSUPPORTED: return "unsupported";
    case SEGC_ERR_NOT_FOUND: return "not found";
    case SEGC_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *segc_last_error(void) { return last_error; }

void segc_clear_error(void) { last_error[0] = '\0'; }

segc_status segc_fail(segc_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

segc_status segc_fail_context(segc_status status, const char *fmt, ...) {
    char prefix[SEGC_ERROR_LEN];
    char old[SEGC_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    if (n > SEGC_ERROR_LEN / 2) n = SEGC_ERROR_LEN / 2;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t room = SEGC_ERROR_LEN - n - 3;
    size_t m = strnlen(old, room);
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = '\0';
    return status;
}
