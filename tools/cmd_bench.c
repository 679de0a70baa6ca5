/* cmd_bench.c - `segc bench`: time whole forward passes of a model (min / median / mean) and report
   peak memory. For side-by-side comparisons with PyTorch see the programs in bench/. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "core/timer.h"
#include "forward.h"
#include "model_args.h"

static void print_help(void) {
    printf("usage: segc bench -m MODEL.segc (-i IMAGE | --size WxH) [--runs N] [--warmup N] [-t N]\n\n"
           "Times N forward passes (default 5, after 1 warm-up) and prints min, median and mean in ms,\n"
           "the thread count and the peak resident memory of the process.\n");
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_bench(int argc, char **argv) {
    model_args a = {0};
    a.runs = 5;
    a.warmup = 1;
    int rc = model_args_parse("bench", argc, argv, &a, print_help);
    if (rc) return rc < 0 ? CLI_EXIT_OK : rc;
    segc_file *file;
    const segc_arch_entry *entry;
    void *model;
    if (segc_arch_open(a.model_path, &file, &entry, &model)) return cli_failure("bench", NULL);
    segc_image img;
    if (model_args_image(&a, &img)) {
        entry->free(model);
        segc_file_close(file);
        return cli_failure("bench", NULL);
    }
    double *times = calloc((size_t)a.runs, sizeof *times);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    rc = times ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    for (int r = 0; r < a.warmup + a.runs && rc == CLI_EXIT_OK; r++) {
        segc_arena_reset(&arena);
        segc_ctx ctx = segc_ctx_plain(&arena);
        double t0 = segc_time_ms();
        if (cli_forward(entry, model, &ctx, &img)) rc = cli_failure("bench", NULL);
        if (r >= a.warmup) times[r - a.warmup] = segc_time_ms() - t0;
    }
    if (rc == CLI_EXIT_OK) {
        double sum = 0;
        for (int r = 0; r < a.runs; r++) sum += times[r];
        qsort(times, (size_t)a.runs, sizeof *times, compare_doubles);
        printf("%s %dx%d: min %.1f ms, median %.1f ms, mean %.1f ms over %d runs; %d threads; peak RSS %.0f MiB\n",
               entry->arch, img.width, img.height, times[0], times[a.runs / 2], sum / a.runs, a.runs,
               segc_get_threads(), cli_peak_rss_mib());
    }
    free(times);
    segc_arena_free(&arena);
    segc_image_free(&img);
    entry->free(model);
    segc_file_close(file);
    return rc;
}
