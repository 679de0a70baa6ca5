/* status.h - error reporting inside segc: return a segc_status, keep a one-line reason per thread.
   Functions deep in the stack call segc_fail(); only the CLI prints. */
#ifndef SEGC_CORE_STATUS_H
#define SEGC_CORE_STATUS_H

#include "segc.h"

/* Records a printf-style reason for the calling thread and returns `status`, so a failing
   function can write `return segc_fail(SEGC_ERR_SHAPE, "conv2d: %d != %d", a, b);`. */
segc_status segc_fail(segc_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the current reason with "context: " (used when an error passes up a layer). */
segc_status segc_fail_context(segc_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears the reason of the calling thread. */
void segc_clear_error(void);

#endif
