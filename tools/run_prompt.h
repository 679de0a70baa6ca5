/* run_prompt.h - `segc run` for promptable models (SAM 2): prompt sets from the command line
   (-p X,Y[,LABEL], -b X0,Y0,X1,Y1, --mask-input FILE.npy, --multimask) or from a JSONL file, one set
   per line:  {"points": [[x, y, label], ...], "box": [x0, y0, x1, y1], "mask_input": "f.npy",
               "multimask": true}
   and what each prediction writes into its directory:
     mask_K.png           8-bit PNG per output mask at the image size (255 inside, 0 outside)
     scores.json          {"iou": [...], "object_score_logit": s, "masks": ["mask_0.png", ...]}
     low_res_logits.npy   float32 [K, 256, 256] (usable as the next --mask-input after picking one) */
#ifndef SEGC_TOOLS_RUN_PROMPT_H
#define SEGC_TOOLS_RUN_PROMPT_H

#include "models/sam2.h"

typedef struct run_prompt_set {
    int num_points;
    segc_sam2_point points[SEGC_SAM2_MAX_POINTS];
    int has_box;
    float box[4];
    char mask_input[1024];   /* path of a .npy [1, 256, 256] or [256, 256] of logits; "" for none */
    int multimask;
} run_prompt_set;

/* Adds a point "X,Y" or "X,Y,LABEL" (LABEL 1 foreground, 0 background). 0 on success, else -1 with
   a usage error printed for `cmd`. */
int run_prompt_add_point(const char *cmd, const char *s, run_prompt_set *p);
/* Sets the box "X0,Y0,X1,Y1". */
int run_prompt_set_box(const char *cmd, const char *s, run_prompt_set *p);
/* Parses one JSONL line (see above) into p; the error says what is wrong. */
segc_status run_prompt_parse_json(const char *line, run_prompt_set *p);

/* Predicts one prompt set on an encoded image and writes the files above into dir. Temporaries come
   from ctx->arena and are released. */
segc_status run_prompt_predict(const void *model, segc_ctx *ctx, const segc_sam2_embedding *emb,
                               const run_prompt_set *p, const char *dir);

#endif
