/* cmd_dump.c - `segc dump`: run one forward pass and write the named intermediates (taps) that
   match the given glob patterns as .npy files, named after the checkpoint's module paths. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "forward.h"
#include "io/npy.h"

#define MAX_PATTERNS 64

static void print_help(void) {
    printf("usage: segc dump -m MODEL.segc -i IMAGE -o DIR [--tap PATTERN]... [--list]\n\n"
           "Runs one forward pass and writes every intermediate tensor whose name matches a pattern\n"
           "(shell glob: 'backbone.*', '*aspp*') to DIR/<name>.npy (float32, the tensor's own shape).\n"
           "Names are the checkpoint's module paths, so they can be held against the authors' code.\n\n"
           "  -m, --model FILE   converted weights (.segc)\n"
           "  -i, --input IMAGE  input image\n"
           "  -o, --output DIR   where the .npy files go (created if missing)\n"
           "  --tap PATTERN      glob of tap names to write; repeatable; default: all\n"
           "  --list             only print the tap names and shapes, write nothing\n"
           "  -t, --threads N    threads\n"
           "  -h, --help         this text\n");
}

typedef struct dump_state {
    const char *dir;
    int list_only;
    int written;
} dump_state;

static segc_status write_tap(void *user, const char *name, const segc_tensor *t) {
    dump_state *d = user;
    char shape[128];
    segc_tensor_shape_str(t, shape, sizeof shape);
    if (d->list_only) {
        printf("%-56s %-4s %s\n", name, segc_dtype_name(t->dtype), shape);
        return SEGC_OK;
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.npy", d->dir, name);
    segc_status st = segc_npy_write(path, t);
    if (!st) {
        printf("%s  %s\n", path, shape);
        d->written++;
    }
    return st;
}

int cmd_dump(int argc, char **argv) {
    const char *model_path = NULL, *input = NULL, *out_dir = NULL;
    const char *patterns[MAX_PATTERNS];
    int npatterns = 0, list_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int t = cli_threads_option("dump", argc, argv, &i);
        if (t < 0) return CLI_EXIT_USAGE;
        if (t > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help();
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(v = cli_value("dump", argc, argv, &i))) return CLI_EXIT_USAGE;
            model_path = v;
        } else if (!strcmp(a, "-i") || !strcmp(a, "--input")) {
            if (!(v = cli_value("dump", argc, argv, &i))) return CLI_EXIT_USAGE;
            input = v;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(v = cli_value("dump", argc, argv, &i))) return CLI_EXIT_USAGE;
            out_dir = v;
        } else if (!strcmp(a, "--tap")) {
            if (!(v = cli_value("dump", argc, argv, &i))) return CLI_EXIT_USAGE;
            if (npatterns == MAX_PATTERNS) return cli_usage_error("dump", "at most %d --tap patterns", MAX_PATTERNS);
            patterns[npatterns++] = v;
        } else if (!strcmp(a, "--list")) {
            list_only = 1;
        } else {
            return cli_usage_error("dump", "unknown argument '%.60s'", a);
        }
    }
    if (!model_path) return cli_usage_error("dump", "missing -m MODEL.segc");
    if (!input) return cli_usage_error("dump", "missing -i IMAGE");
    if (!out_dir && !list_only) return cli_usage_error("dump", "missing -o DIR (or --list)");
    if (!list_only && cli_mkdirs("dump", out_dir)) return CLI_EXIT_FAIL;

    segc_file *file;
    const segc_arch_entry *entry;
    void *model;
    if (segc_arch_open(model_path, &file, &entry, &model)) return cli_failure("dump", NULL);
    segc_image img;
    int rc = CLI_EXIT_OK;
    if (segc_image_load(input, &img)) {
        rc = cli_failure("dump", NULL);
    } else {
        segc_arena arena;
        segc_arena_init(&arena, 0);
        dump_state d = {out_dir, list_only, 0};
        segc_ctx ctx = segc_ctx_plain(&arena);
        ctx.tap = write_tap;
        ctx.tap_user = &d;
        ctx.tap_patterns = patterns;
        ctx.tap_pattern_count = npatterns;
        if (cli_forward(entry, model, &ctx, &img)) rc = cli_failure("dump", input);
        else if (!list_only && d.written == 0) {
            fprintf(stderr, "segc dump: no tap matched (see 'segc dump ... --list' for the names)\n");
            rc = CLI_EXIT_FAIL;
        }
        segc_arena_free(&arena);
        segc_image_free(&img);
    }
    entry->free(model);
    segc_file_close(file);
    return rc;
}
