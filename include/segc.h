/* segc.h - the public C API of segc, a pure-C CPU runtime for image segmentation models.

   Usage in four lines:
       segc_set_threads(2);                       // or SEGC_THREADS in the environment
       segc_file *f; if (segc_file_open("m.segc", &f) != SEGC_OK) puts(segc_last_error());
       ...                                        // model sessions: see the model sections below
       segc_file_close(f);

   Every function returns a segc_status; SEGC_OK is 0. On failure a one-line human-readable reason
   is kept per thread and returned by segc_last_error(). Nothing in the library prints.
   This header is the whole public API; everything under src/ is internal. */
#ifndef SEGC_H
#define SEGC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEGC_VERSION_MAJOR 0
#define SEGC_VERSION_MINOR 1
#define SEGC_VERSION_PATCH 0
#define SEGC_VERSION_STRING "0.1.0"

/* ---- status codes ---------------------------------------------------------------------------- */
typedef enum segc_status {
    SEGC_OK = 0,
    SEGC_ERR_INVALID_ARG = 1,  /* a caller passed a bad value (NULL, negative size, unknown name) */
    SEGC_ERR_SHAPE = 2,        /* tensor shapes do not fit the operation */
    SEGC_ERR_NOMEM = 3,        /* an allocation failed or a size would overflow */
    SEGC_ERR_IO = 4,           /* a file could not be opened, read or written */
    SEGC_ERR_FORMAT = 5,       /* a file is malformed, truncated or hostile */
    SEGC_ERR_UNSUPPORTED = 6,  /* valid input this build cannot handle (dtype, architecture, op) */
    SEGC_ERR_NOT_FOUND = 7,    /* a named tensor, key or file is missing */
    SEGC_ERR_INTERNAL = 8      /* a bug in segc: please report */
} segc_status;

/* A static English name of a status code ("invalid argument", ...). */
const char *segc_status_string(segc_status status);

/* The reason for the last failure on this thread, e.g. "conv2d: input has 3 channels, weight expects 64".
   Valid until the next failing call on the same thread. Empty string if none. */
const char *segc_last_error(void);

/* ---- version and threads --------------------------------------------------------------------- */
const char *segc_version(void);

/* Number of threads used by segc's loops and by OpenBLAS (one OpenMP pool). n <= 0 means "all cores".
   The initial value comes from SEGC_THREADS if set, else the number of cores. */
segc_status segc_set_threads(int n);
int segc_get_threads(void);

/* One line describing the BLAS actually loaded at run time, e.g. "OpenBLAS 0.3.21 (OpenMP, Haswell)". */
const char *segc_blas_info(void);

/* ---- weight files (.segc) -------------------------------------------------------------------- */
typedef struct segc_file segc_file;   /* an mmap'd, validated .segc file; read-only, shareable */

/* Opens and validates a .segc file (every offset, size and string is checked). */
segc_status segc_file_open(const char *path, segc_file **out);
void segc_file_close(segc_file *f);

#ifdef __cplusplus
}
#endif
#endif /* SEGC_H */
