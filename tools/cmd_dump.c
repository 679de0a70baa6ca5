/* cmd_dump.c - `segc dump`: run one forward pass and write the named intermediates (taps) that
   match the given glob patterns as .npy files, named after the checkpoint's module paths. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "forward.h"
#include "io/npy.h"

#define MAX_PATTERNS 64

static void print_help(void) {
    printf("usage: segc dump -m MODEL.segc -i IMAGE -o DIR [--tap PATTERN]... [--list]\n\n"
           "Runs one forward pass and writes every intermediate tensor whose name matches a pattern\n"
           "(shell glob: 'backbone.*', '*aspp*') to DIR/<name>.npy (the tensor's own dtype and shape;\n"
           "characters other than A-Z a-z 0-9 . _ - become '_'; a name seen again gets .1, .2, ...).\n"
           "Names are the checkpoint's module paths, so they can be held against the authors' code.\n"
           "A pattern that matches no tap is reported; if none matches at all the exit code is 1.\n"
           "SAM 2: the image encoder runs, then one decode of a foreground click at the image centre.\n\n"
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
    int written;                         /* taps seen (listed or written) */
    const char *const *patterns;
    int npatterns;
    int matched[MAX_PATTERNS];           /* taps each pattern matched */
    char **names;                        /* file stems written so far (to number repeated taps) */
    int nnames, cap;
} dump_state;

/* A tap name as a file stem: characters other than [A-Za-z0-9._-] become '_', and so does a leading
   '.', so "a/b" or ".." can never leave the output directory. */
static void sanitize(const char *name, char *out, size_t size) {
    size_t n = 0;
    for (; name[n] && n + 1 < size; n++) {
        char c = name[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                 (c == '.' && n > 0);
        out[n] = ok ? c : '_';
    }
    out[n] = '\0';
    if (n == 0) snprintf(out, size, "_");
}

/* How many earlier taps had this stem (0 the first time); remembers it. */
static int repeat_count(dump_state *d, const char *stem) {
    int seen = 0;
    for (int i = 0; i < d->nnames; i++) seen += !strcmp(d->names[i], stem);
    if (d->nnames == d->cap) {
        int cap = d->cap ? 2 * d->cap : 64;
        char **p = realloc(d->names, (size_t)cap * sizeof *p);
        if (!p) return seen;
        d->names = p;
        d->cap = cap;
    }
    char *copy = strdup(stem);
    if (copy) d->names[d->nnames++] = copy;
    return seen;
}

static segc_status write_tap(void *user, const char *name, const segc_tensor *t) {
    dump_state *d = user;
    for (int i = 0; i < d->npatterns; i++) d->matched[i] += fnmatch(d->patterns[i], name, 0) == 0;
    d->written++;
    char shape[128];
    segc_tensor_shape_str(t, shape, sizeof shape);
    if (d->list_only) {
        printf("%-56s %-4s %s\n", name, segc_dtype_name(t->dtype), shape);
        return SEGC_OK;
    }
    char stem[SEGC_TAP_NAME_MAX + 16], path[4400];
    sanitize(name, stem, SEGC_TAP_NAME_MAX);
    int repeat = repeat_count(d, stem);
    if (repeat) snprintf(stem + strlen(stem), 16, ".%d", repeat);
    snprintf(path, sizeof path, "%s/%s.npy", d->dir, stem);
    segc_status st = segc_npy_write(path, t);
    if (!st) printf("%s  %s\n", path, shape);
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
        dump_state d = {.dir = out_dir, .list_only = list_only, .patterns = patterns, .npatterns = npatterns};
        segc_ctx ctx = segc_ctx_plain(&arena);
        ctx.tap = write_tap;
        ctx.tap_user = &d;
        ctx.tap_patterns = patterns;
        ctx.tap_pattern_count = npatterns;
        if (cli_forward(entry, model, &ctx, &img)) {
            rc = cli_failure("dump", input);
        } else {
            for (int i = 0; i < npatterns; i++)
                if (!d.matched[i]) fprintf(stderr, "segc dump: pattern '%s' matched no tap\n", patterns[i]);
            if (d.written == 0) {
                fprintf(stderr, "segc dump: no tap matched (see 'segc dump -m MODEL -i IMAGE --list' for the names)\n");
                rc = CLI_EXIT_FAIL;
            }
        }
        for (int i = 0; i < d.nnames; i++) free(d.names[i]);
        free(d.names);
        segc_arena_free(&arena);
        segc_image_free(&img);
    }
    entry->free(model);
    segc_file_close(file);
    return rc;
}
