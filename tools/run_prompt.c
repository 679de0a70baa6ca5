/* run_prompt.c - prompt parsing and output writing for promptable models (see run_prompt.h). */
#include "run_prompt.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/status.h"
#include "io/npy.h"

/* Parses exactly `n` comma-separated finite numbers from s. */
static int parse_numbers(const char *s, double *out, int n) {
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtod(p, &end);
        if (end == p || !isfinite(out[i])) return -1;
        p = end;
        if (i + 1 < n) {
            if (*p != ',') return -1;
            p++;
        }
    }
    return *p ? -1 : 0;
}

int run_prompt_add_point(const char *cmd, const char *s, run_prompt_set *p) {
    double v[3] = {0, 0, 1};
    if (parse_numbers(s, v, 3) && parse_numbers(s, v, 2))
        return cli_usage_error(cmd, "point '%.60s' is not X,Y or X,Y,LABEL", s), -1;
    if (v[2] != 0 && v[2] != 1) return cli_usage_error(cmd, "point label must be 1 (foreground) or 0 (background)"), -1;
    if (p->num_points >= SEGC_SAM2_MAX_POINTS) return cli_usage_error(cmd, "more than %d points", SEGC_SAM2_MAX_POINTS), -1;
    p->points[p->num_points++] = (segc_sam2_point){(float)v[0], (float)v[1], (int)v[2]};
    return 0;
}

int run_prompt_set_box(const char *cmd, const char *s, run_prompt_set *p) {
    double v[4];
    if (parse_numbers(s, v, 4)) return cli_usage_error(cmd, "box '%.60s' is not X0,Y0,X1,Y1", s), -1;
    for (int i = 0; i < 4; i++) p->box[i] = (float)v[i];
    p->has_box = 1;
    return 0;
}

/* ---- a small reader for the JSONL prompt lines ---- */

static const char *skip_ws(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    return s;
}

/* The value after "key": in a flat-ish JSON object, or NULL. */
static const char *find_key(const char *line, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *at = strstr(line, pattern);
    if (!at) return NULL;
    at = skip_ws(at + strlen(pattern));
    return *at == ':' ? skip_ws(at + 1) : NULL;
}

/* Reads "[n, n, ...]" of up to max numbers; returns the count or -1. */
static int read_number_array(const char **sp, double *out, int max) {
    const char *s = skip_ws(*sp);
    if (*s != '[') return -1;
    s = skip_ws(s + 1);
    int n = 0;
    if (*s == ']') {
        *sp = s + 1;
        return 0;
    }
    for (;;) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || n >= max || !isfinite(v)) return -1;
        out[n++] = v;
        s = skip_ws(end);
        if (*s == ']') break;
        if (*s != ',') return -1;
        s = skip_ws(s + 1);
    }
    *sp = s + 1;
    return n;
}

segc_status run_prompt_parse_json(const char *line, run_prompt_set *p) {
    memset(p, 0, sizeof *p);
    const char *v = find_key(line, "points");
    if (v) {
        if (*v != '[') return segc_fail(SEGC_ERR_INVALID_ARG, "\"points\" must be a list of [x, y, label]");
        v = skip_ws(v + 1);
        while (*v == '[') {
            double xyl[3];
            int n = read_number_array(&v, xyl, 3);
            if (n != 3 && n != 2) return segc_fail(SEGC_ERR_INVALID_ARG, "a point must be [x, y] or [x, y, label]");
            if (n == 3 && xyl[2] != 0 && xyl[2] != 1)
                return segc_fail(SEGC_ERR_INVALID_ARG, "point label must be 1 (foreground) or 0 (background)");
            if (p->num_points >= SEGC_SAM2_MAX_POINTS)
                return segc_fail(SEGC_ERR_INVALID_ARG, "more than %d points", SEGC_SAM2_MAX_POINTS);
            p->points[p->num_points++] = (segc_sam2_point){(float)xyl[0], (float)xyl[1], n == 3 ? (int)xyl[2] : 1};
            v = skip_ws(v);
            if (*v == ',') v = skip_ws(v + 1);
        }
        if (*v != ']') return segc_fail(SEGC_ERR_INVALID_ARG, "\"points\": expected ']'");
    }
    if ((v = find_key(line, "box"))) {
        double b[4];
        if (read_number_array(&v, b, 4) != 4) return segc_fail(SEGC_ERR_INVALID_ARG, "\"box\" must be [x0, y0, x1, y1]");
        for (int i = 0; i < 4; i++) p->box[i] = (float)b[i];
        p->has_box = 1;
    }
    if ((v = find_key(line, "multimask"))) p->multimask = !strncmp(v, "true", 4);
    if ((v = find_key(line, "mask_input"))) {
        const char *end = *v == '"' ? strchr(v + 1, '"') : NULL;
        if (!end || end - v - 1 >= (long)sizeof p->mask_input)
            return segc_fail(SEGC_ERR_INVALID_ARG, "\"mask_input\" must be a file name string");
        memcpy(p->mask_input, v + 1, (size_t)(end - v - 1));
        p->mask_input[end - v - 1] = 0;
    }
    if (!p->num_points && !p->has_box && !p->mask_input[0])
        return segc_fail(SEGC_ERR_INVALID_ARG, "no \"points\", \"box\" or \"mask_input\" in the prompt line");
    return SEGC_OK;
}

/* scores.json of one prediction. */
static segc_status write_scores(const char *path, const segc_sam2_outputs *o) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return segc_fail(SEGC_ERR_IO, "cannot write %s", path);
    fputs("{\"iou\": [", fp);
    for (int k = 0; k < o->num_masks; k++) fprintf(fp, "%s%.6g", k ? ", " : "", o->iou[k]);
    fprintf(fp, "], \"object_score_logit\": %.6g, \"masks\": [", o->object_score_logit);
    for (int k = 0; k < o->num_masks; k++) fprintf(fp, "%s\"mask_%d.png\"", k ? ", " : "", k);
    fputs("]}\n", fp);
    int bad = ferror(fp);
    if (fclose(fp) != 0 || bad) return segc_fail(SEGC_ERR_IO, "error writing %s", path);
    return SEGC_OK;
}

/* mask_K.png: 0/1 masks [K, H, W] written as 0/255 greyscale. */
static segc_status write_masks(const char *dir, const segc_sam2_outputs *o, segc_arena *arena) {
    int64_t h = o->masks.shape[1], w = o->masks.shape[2];
    uint8_t *px = segc_arena_alloc(arena, (size_t)(h * w));
    if (!px) return SEGC_ERR_NOMEM;
    char path[4200];
    for (int k = 0; k < o->num_masks; k++) {
        const uint8_t *m = (const uint8_t *)o->masks.data + (size_t)k * (size_t)(h * w);
        for (int64_t i = 0; i < h * w; i++) px[i] = m[i] ? 255 : 0;
        snprintf(path, sizeof path, "%s/mask_%d.png", dir, k);
        segc_status st = segc_png_write(path, (int)w, (int)h, 1, px);
        if (st) return st;
    }
    return SEGC_OK;
}

segc_status run_prompt_predict(const void *model, segc_ctx *ctx, const segc_sam2_embedding *emb,
                               const run_prompt_set *p, const char *dir) {
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    segc_npy mask_npy = {0};
    segc_tensor mask_t;
    segc_sam2_prompts prompts = {p->num_points, p->points, p->has_box, {p->box[0], p->box[1], p->box[2], p->box[3]},
                                 NULL};
    segc_status st = SEGC_OK;
    if (p->mask_input[0]) {
        if ((st = segc_npy_read(p->mask_input, &mask_npy))) return segc_fail_context(st, "--mask-input");
        if (mask_npy.dtype != SEGC_F32) {
            segc_npy_free(&mask_npy);
            return segc_fail(SEGC_ERR_INVALID_ARG, "%s: the mask input must be float32 logits", p->mask_input);
        }
        mask_t = segc_npy_tensor(&mask_npy);
        prompts.mask_input = &mask_t;
    }
    segc_sam2_outputs out;
    char path[4200];
    st = segc_sam2_predict(model, ctx, emb, &prompts, p->multimask, 0, &out);
    if (!st) st = write_masks(dir, &out, ctx->arena);
    if (!st) {
        snprintf(path, sizeof path, "%s/scores.json", dir);
        st = write_scores(path, &out);
    }
    if (!st) {
        snprintf(path, sizeof path, "%s/low_res_logits.npy", dir);
        st = segc_npy_write(path, &out.low_res_logits);
    }
    segc_npy_free(&mask_npy);
    segc_arena_release(ctx->arena, mark);
    return st;
}
