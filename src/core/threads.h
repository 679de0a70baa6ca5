/* threads.h - one OpenMP pool for segc's loops and OpenBLAS (the OpenMP build of OpenBLAS uses the
   same libgomp pool, so setting the count once covers both). */
#ifndef SEGC_CORE_THREADS_H
#define SEGC_CORE_THREADS_H

#include "segc.h"

/* Reads SEGC_THREADS once (on first use) and applies it; invalid values are reported by
   segc_threads_env_error() rather than printed. */
void segc_threads_init(void);
/* Non-NULL if SEGC_THREADS was set to something that is not a positive integer. */
const char *segc_threads_env_error(void);

#endif
