/* model_args.h - the options shared by commands that run a model on one image (profile, bench):
   -m MODEL, -i IMAGE or --size WxH (a synthetic image), --runs N, --threads N. */
#ifndef SEGC_TOOLS_MODEL_ARGS_H
#define SEGC_TOOLS_MODEL_ARGS_H

#include "io/image.h"

typedef struct model_args {
    const char *model_path;
    const char *input;
    int width, height;     /* --size, when no input image is given */
    int runs;
    int warmup;
} model_args;

/* Parses argv; returns -1 to exit successfully (--help printed via `help`), 0 to go on, or an exit
   code > 0 after printing the error. */
int model_args_parse(const char *cmd, int argc, char **argv, model_args *a, void (*help)(void));
/* The input image: decoded from -i, or a deterministic pseudo-random image of --size. */
segc_status model_args_image(const model_args *a, segc_image *img);

#endif
