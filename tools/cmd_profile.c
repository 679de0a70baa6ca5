/* cmd_profile.c - `segc profile`: time each named stage (tap) of a forward pass, averaged over runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/timer.h"
#include "forward.h"
#include "model_args.h"

static void print_help(void) {
    printf("usage: segc profile -m MODEL.segc (-i IMAGE | --size WxH) [--runs N] [--warmup N] [-t N]\n\n"
           "Runs the forward pass N times (default 3, after 1 warm-up) and prints, for every named\n"
           "stage, the mean time in ms and its share of the pass. A stage's time is the time since the\n"
           "previous named stage ended, so the rows add up to the whole pass.\n");
}

int cmd_profile(int argc, char **argv) {
    model_args a = {0};
    a.runs = 3;
    a.warmup = 1;
    int rc = model_args_parse("profile", argc, argv, &a, print_help);
    if (rc) return rc < 0 ? CLI_EXIT_OK : rc;
    segc_file *file;
    const segc_arch_entry *entry;
    void *model;
    if (segc_arch_open(a.model_path, &file, &entry, &model)) return cli_failure("profile", NULL);
    segc_image img;
    if (model_args_image(&a, &img)) {
        entry->free(model);
        segc_file_close(file);
        return cli_failure("profile", NULL);
    }
    segc_profile *prof = calloc(1, sizeof *prof);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    double total_ms = 0;
    rc = prof ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    for (int r = 0; r < a.warmup + a.runs && rc == CLI_EXIT_OK; r++) {
        segc_arena_reset(&arena);
        segc_ctx ctx = segc_ctx_plain(&arena);
        int measured = r >= a.warmup;
        if (measured) ctx.profile = prof;
        if (measured) segc_profile_start(prof);
        double t0 = segc_time_ms();
        if (cli_forward(entry, model, &ctx, &img)) rc = cli_failure("profile", NULL);
        if (measured) total_ms += segc_time_ms() - t0;
    }
    if (rc == CLI_EXIT_OK) {
        printf("%-56s %10s %7s\n", "stage", "ms", "share");
        double staged = 0;
        for (int i = 0; i < prof->count; i++) {
            const segc_profile_entry *e = &prof->entries[i];
            double ms = e->total_ms / a.runs;
            staged += e->total_ms;
            printf("%-56s %10.2f %6.1f%%\n", e->name, ms, 100.0 * e->total_ms / total_ms);
        }
        printf("%-56s %10.2f %6.1f%%\n", "(after the last stage)", (total_ms - staged) / a.runs,
               100.0 * (total_ms - staged) / total_ms);
        printf("%-56s %10.2f   (%d runs, %d threads, peak RSS %.0f MiB)\n", "total", total_ms / a.runs, a.runs,
               segc_get_threads(), cli_peak_rss_mib());
    }
    free(prof);
    segc_arena_free(&arena);
    segc_image_free(&img);
    entry->free(model);
    segc_file_close(file);
    return rc;
}
