/* model_args.c - shared options of profile and bench (see model_args.h). */
#include "model_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/status.h"

int model_args_parse(const char *cmd, int argc, char **argv, model_args *a, void (*help)(void)) {
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v;
        long n;
        int t = cli_threads_option(cmd, argc, argv, &i);
        if (t < 0) return CLI_EXIT_USAGE;
        if (t > 0) continue;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            help();
            return -1;
        } else if (!strcmp(s, "-m") || !strcmp(s, "--model")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return CLI_EXIT_USAGE;
            a->model_path = v;
        } else if (!strcmp(s, "-i") || !strcmp(s, "--input")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return CLI_EXIT_USAGE;
            a->input = v;
        } else if (!strcmp(s, "--size")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return CLI_EXIT_USAGE;
            int w, h;
            char extra;
            if (sscanf(v, "%dx%d%c", &w, &h, &extra) != 2 || w < 1 || h < 1 || w > SEGC_IMAGE_MAX_SIDE ||
                h > SEGC_IMAGE_MAX_SIDE || (int64_t)w * h > SEGC_IMAGE_MAX_PIXELS)
                return cli_usage_error(cmd, "--size must be WxH with sides 1..%d, got '%.40s'", SEGC_IMAGE_MAX_SIDE, v);
            a->width = w;
            a->height = h;
        } else if (!strcmp(s, "--runs")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, "--runs", v, 1, 100000, &n))
                return CLI_EXIT_USAGE;
            a->runs = (int)n;
        } else if (!strcmp(s, "--warmup")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, "--warmup", v, 0, 1000, &n))
                return CLI_EXIT_USAGE;
            a->warmup = (int)n;
        } else {
            return cli_usage_error(cmd, "unknown argument '%.60s'", s);
        }
    }
    if (!a->model_path) return cli_usage_error(cmd, "missing -m MODEL.segc");
    if (!a->input && !a->width) return cli_usage_error(cmd, "give -i IMAGE or --size WxH");
    if (a->input && a->width) return cli_usage_error(cmd, "give -i IMAGE or --size WxH, not both");
    return 0;
}

segc_status model_args_image(const model_args *a, segc_image *img) {
    if (a->input) return segc_image_load(a->input, img);
    size_t n = (size_t)a->width * (size_t)a->height * 3;
    uint8_t *px = malloc(n);
    if (!px) return segc_fail(SEGC_ERR_NOMEM, "synthetic %dx%d image", a->width, a->height);
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        px[i] = (uint8_t)(s >> 24);
    }
    segc_status st = segc_image_from_rgb(px, a->width, a->height, img);
    free(px);
    return st;
}
