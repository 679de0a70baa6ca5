/* cli.h - shared pieces of the segc command-line tool: the subcommand table, argument parsing
   helpers with one-line errors (exit code 2 for bad arguments, 1 for failures), progress lines. */
#ifndef SEGC_TOOLS_CLI_H
#define SEGC_TOOLS_CLI_H

#include "segc.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);   /* argv[0] is the subcommand name */
} cli_command;

/* Subcommands, each in its own file. */
int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_video(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Prints "segc CMD: message" to stderr and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "segc CMD: <context>: <segc_last_error()>" and returns CLI_EXIT_FAIL. */
int cli_failure(const char *cmd, const char *context);

/* Parses an integer in [lo, hi]; returns 0 and prints a usage error naming `what` if invalid. */
int cli_parse_int(const char *cmd, const char *what, const char *s, long lo, long hi, long *out);
/* Parses a float in [lo, hi]. */
int cli_parse_float(const char *cmd, const char *what, const char *s, double lo, double hi, double *out);
/* For options that take a value: returns argv[*i + 1] and advances *i, or NULL after printing an error. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* Handles "--threads N" / "-t N" found at argv[*i]: returns 1 if consumed, 0 if not this option,
   -1 on a bad value (error printed). */
int cli_threads_option(const char *cmd, int argc, char **argv, int *i);

/* Creates a directory (and its parents) and checks it is writable; 0 on success, error printed otherwise. */
int cli_mkdirs(const char *cmd, const char *path);
/* Same without printing: the reason goes to segc_last_error(). */
segc_status cli_make_dirs(const char *path);

/* "\r[3/10] name 12.3 s" on stderr when stderr is a terminal, one line per item otherwise. */
void cli_progress(int done, int total, const char *label, double elapsed_ms);

#endif
