/* segc.c - the segc command-line tool: global options, then one subcommand per job.
     segc [--threads N] COMMAND [options]      see `segc --help` and `segc COMMAND --help`
   Each subcommand lives in its own cmd_*.c file; this file only dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd_amg.h"
#include "core/threads.h"
#include "segc.h"

static const cli_command commands[] = {
    {"info", "show a .segc file: architecture, variant, metadata, tensors", cmd_info},
    {"run", "segment images (semantic labels, instances or prompted masks)", cmd_run},
    {"dump", "write named intermediate tensors of a forward pass as .npy", cmd_dump},
    {"profile", "time each named stage of a forward pass", cmd_profile},
    {"video", "track prompted objects through a video (SAM 2)", cmd_video},
    {"amg", "segment everything: masks from a grid of point prompts (SAM 2)", cmd_amg},
    {"bench", "time whole-model forward passes", cmd_bench},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void print_help(void) {
    printf("segc %s - segmentation models on the CPU, in C\n\n"
           "usage: segc [--threads N] COMMAND [options]\n"
           "       segc --version | --help\n\n"
           "commands:\n", segc_version());
    for (int i = 0; i < NCOMMANDS; i++) printf("  %-8s %s\n", commands[i].name, commands[i].summary);
    printf("\nglobal options:\n"
           "  --threads N, -t N  threads for all compute (default: SEGC_THREADS or all cores)\n"
           "  --version          version, thread count and the BLAS loaded at run time\n"
           "  --help, -h         this text\n\n"
           "Exit codes: 0 success, 1 a failure (bad file, unsupported model, I/O), 2 bad arguments.\n"
           "Weights: convert an official checkpoint first with segc-convert (see weights/README.md).\n");
}

static void print_version(void) {
    printf("segc %s\n", segc_version());
    printf("threads: %d\n", segc_get_threads());
    printf("blas: %s\n", segc_blas_info());
}

int main(int argc, char **argv) {
    segc_threads_init();
    if (segc_threads_env_error()) {
        fprintf(stderr, "segc: %s\n", segc_threads_env_error());
        return CLI_EXIT_USAGE;
    }
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_help();
            return CLI_EXIT_OK;
        }
        if (!strcmp(argv[i], "--version")) {
            print_version();
            return CLI_EXIT_OK;
        }
        int t = cli_threads_option("", argc, argv, &i);
        if (t < 0) return CLI_EXIT_USAGE;
        if (t == 0) {
            fprintf(stderr, "segc: unknown option '%.60s' (see 'segc --help')\n", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_help();
        return CLI_EXIT_USAGE;
    }
    for (int c = 0; c < NCOMMANDS; c++)
        if (!strcmp(argv[i], commands[c].name)) return commands[c].run(argc - i, argv + i);
    fprintf(stderr, "segc: unknown command '%.60s' (see 'segc --help')\n", argv[i]);
    return CLI_EXIT_USAGE;
}
