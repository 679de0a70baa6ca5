/* threads.c - thread count for OpenMP and OpenBLAS, and a run-time description of the loaded BLAS. */
#include "core/threads.h"

#include <dlfcn.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* OpenBLAS extensions, looked up at run time so we can report which BLAS the loader picked
   (Debian's alternatives can swap libblas under us). */
typedef void (*set_threads_fn)(int);
typedef char *(*get_string_fn)(void);
typedef int (*get_int_fn)(void);

static int threads_ready;
static int thread_count = 1;
static char env_error[128];
static char blas_info[256];

static void *blas_symbol(const char *name) { return dlsym(RTLD_DEFAULT, name); }

static void apply_threads(int n) {
    thread_count = n;
    omp_set_num_threads(n);
    set_threads_fn set = (set_threads_fn)blas_symbol("openblas_set_num_threads");
    if (set) set(n);
}

void segc_threads_init(void) {
    if (threads_ready) return;
    threads_ready = 1;
    int n = omp_get_num_procs();
    const char *env = getenv("SEGC_THREADS");
    if (env && *env) {
        char *end = NULL;
        errno = 0;
        long v = strtol(env, &end, 10);
        if (errno || *end || v < 1 || v > 4096)
            snprintf(env_error, sizeof env_error, "SEGC_THREADS='%.60s' is not a thread count from 1 to 4096", env);
        else
            n = (int)v;
    }
    apply_threads(n < 1 ? 1 : n);
}

const char *segc_threads_env_error(void) { return env_error[0] ? env_error : NULL; }

segc_status segc_set_threads(int n) {
    segc_threads_init();
    if (n > 4096) return segc_fail(SEGC_ERR_INVALID_ARG, "threads: %d is more than 4096", n);
    if (n <= 0) n = omp_get_num_procs();
    apply_threads(n);
    return SEGC_OK;
}

int segc_get_threads(void) {
    segc_threads_init();
    return thread_count;
}

const char *segc_version(void) { return SEGC_VERSION_STRING; }

const char *segc_blas_info(void) {
    get_string_fn config = (get_string_fn)blas_symbol("openblas_get_config");
    get_string_fn core = (get_string_fn)blas_symbol("openblas_get_corename");
    get_int_fn parallel = (get_int_fn)blas_symbol("openblas_get_parallel");
    if (!config) {
        snprintf(blas_info, sizeof blas_info, "not OpenBLAS (no openblas_get_config): reference BLAS, expect slow convs");
        return blas_info;
    }
    int p = parallel ? parallel() : -1;
    const char *mode = p == 0 ? "sequential" : p == 1 ? "pthreads (a second thread pool: prefer the OpenMP build)"
                     : p == 2 ? "OpenMP" : "unknown threading";
    snprintf(blas_info, sizeof blas_info, "%s; threading %s; core %s", config(), mode, core ? core() : "?");
    return blas_info;
}
