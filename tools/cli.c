/* cli.c - argument parsing, errors and progress lines for the segc tool (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"

/* "segc CMD" for a subcommand, "segc" for the global options (cmd ""). */
static void print_prefix(const char *cmd) {
    fprintf(stderr, "segc%s%s: ", *cmd ? " " : "", cmd);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    print_prefix(cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'segc%s%s --help')\n", *cmd ? " " : "", cmd);
    return CLI_EXIT_USAGE;
}

int cli_failure(const char *cmd, const char *context) {
    const char *why = segc_last_error();
    size_t n = context ? strlen(context) : 0;
    print_prefix(cmd);
    /* the library's messages often start with the file name already: do not say it twice */
    if (n && !(strncmp(why, context, n) == 0 && why[n] == ':')) fprintf(stderr, "%s: ", context);
    fprintf(stderr, "%s\n", *why ? why : "failed");
    return CLI_EXIT_FAIL;
}

int cli_parse_int(const char *cmd, const char *what, const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        cli_usage_error(cmd, "%s must be an integer from %ld to %ld, got '%.40s'", what, lo, hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_float(const char *cmd, const char *what, const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi) {
        cli_usage_error(cmd, "%s must be a number from %g to %g, got '%.40s'", what, lo, hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, "option %s needs a value", argv[*i]);
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

int cli_threads_option(const char *cmd, int argc, char **argv, int *i) {
    if (strcmp(argv[*i], "--threads") != 0 && strcmp(argv[*i], "-t") != 0) return 0;
    const char *v = cli_value(cmd, argc, argv, i);
    long n;
    if (!v || !cli_parse_int(cmd, "--threads", v, 1, 4096, &n)) return -1;
    segc_set_threads((int)n);
    return 1;
}

segc_status cli_make_dirs(const char *path) {
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) return segc_fail(SEGC_ERR_INVALID_ARG, "bad output directory '%.60s'", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return segc_fail(SEGC_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
        buf[i] = saved;
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return segc_fail(SEGC_ERR_IO, "%s is not a directory", path);
    if (access(path, W_OK) != 0) return segc_fail(SEGC_ERR_IO, "cannot write into %s: %s", path, strerror(errno));
    return SEGC_OK;
}

int cli_mkdirs(const char *cmd, const char *path) {
    if (cli_make_dirs(path) == SEGC_OK) return 0;
    cli_failure(cmd, NULL);
    return -1;
}

void cli_progress(int done, int total, const char *label, double elapsed_ms) {
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\r[%d/%d] %-40.40s %8.1f s%s", done, total, label, elapsed_ms / 1000.0,
                done == total ? "\n" : "");
    else
        fprintf(stderr, "[%d/%d] %s %.1f s\n", done, total, label, elapsed_ms / 1000.0);
    fflush(stderr);
}
