/* cmd_video.c - `segc video`: SAM 2 video object tracking (SAM2VideoPredictor) over a directory of frames.
   Prompts (points, boxes, masks per frame and object) go in before one propagation (forward, or reverse
   with --reverse). Writes per object and frame OUTDIR/<obj>/<frame>.png (0/255 mask at the video size,
   <frame> = the input's file stem), with --save-logits OUTDIR/<obj>/<frame>.npy (float32 [256, 256]
   low-res logits as the tracker stored them), OUTDIR/overlay/<frame>.png and OUTDIR/track.json (per
   frame, per object: object score logit, area, bbox), streamed frame by frame so memory stays flat. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cli.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/status.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/output.h"
#include "models/sam2_video.h"

#define MAX_PROMPTS 256
#define MAX_GROUP_POINTS 32

typedef struct prompt_group {   /* everything given for one (frame, object) */
    long frame, obj;
    int npts, has_box;
    segc_sam2_point pts[MAX_GROUP_POINTS];
    float box[4];
    const char *mask_path;
} prompt_group;

typedef struct video_options {
    const char *model_path, *frames_dir, *out_dir;
    int reverse, save_logits, no_overlay;
    int ngroups;
    prompt_group groups[MAX_PROMPTS];
} video_options;

static void print_help(void) {
    printf("usage: segc video -m MODEL.segc --frames DIR -o OUTDIR [prompts...] [options]\n\n"
           "Tracks prompted objects through a directory of frames (integer-named .jpg/.jpeg/.png) with SAM 2.\n"
           "FRAME is the 0-based index of a frame in numeric order, OBJ a non-negative object id.\n"
           "  --prompt FRAME:OBJ:X,Y,LABEL   a click (LABEL 1 positive, 0 negative), repeatable\n"
           "  --box FRAME:OBJ:X0,Y0,X1,Y1    a box (one per frame and object), repeatable\n"
           "  --mask FRAME:OBJ:PATH          a mask image (nonzero = object) of the video's size\n"
           "  --reverse                      propagate backwards from the earliest prompted frame\n"
           "  --save-logits                  also write OUTDIR/<obj>/<frame>.npy (float32 256x256 logits)\n"
           "  --no-overlay                   skip OUTDIR/overlay/<frame>.png\n"
           "  -t, --threads N                threads (default: SEGC_THREADS or all cores)\n"
           "Outputs: OUTDIR/<obj>/<frame>.png masks, OUTDIR/track.json, OUTDIR/overlay/<frame>.png.\n");
}

/* The group of (frame, obj), created when new. */
static prompt_group *group_for(video_options *o, long frame, long obj) {
    for (int i = 0; i < o->ngroups; i++)
        if (o->groups[i].frame == frame && o->groups[i].obj == obj) return &o->groups[i];
    if (o->ngroups >= MAX_PROMPTS) return NULL;
    prompt_group *g = &o->groups[o->ngroups++];
    memset(g, 0, sizeof *g);
    g->frame = frame;
    g->obj = obj;
    return g;
}

/* Parses "FRAME:OBJ:rest" into frame, obj and a pointer to rest. */
static int parse_head(const char *opt, const char *s, long *frame, long *obj, const char **rest) {
    char *end;
    *frame = strtol(s, &end, 10);
    if (end == s || *end != ':' || *frame < 0)
        return cli_usage_error("video", "%s %s: expected FRAME:OBJ:... with FRAME a frame index >= 0", opt, s);
    const char *o = end + 1;
    *obj = strtol(o, &end, 10);
    if (end == o || *end != ':' || *obj < 0 || *obj > 1000000)
        return cli_usage_error("video", "%s %s: OBJ must be an object id in 0..1000000", opt, s);
    *rest = end + 1;
    return CLI_EXIT_OK;
}

/* n comma-separated floats. */
static int parse_floats(const char *opt, const char *full, const char *s, int n, float *v) {
    for (int i = 0; i < n; i++) {
        char *end;
        const double d = strtod(s, &end);
        if (end == s || (i < n - 1 ? *end != ',' : *end != '\0') || !(d > -1e6 && d < 1e6))
            return cli_usage_error("video", "%s %s: expected %d comma-separated numbers after FRAME:OBJ:", opt, full, n);
        v[i] = (float)d;
        s = end + 1;
    }
    return CLI_EXIT_OK;
}

static int parse_prompt(video_options *o, const char *opt, const char *s) {
    long frame = 0, obj = 0;
    const char *rest = "";
    int rc = parse_head(opt, s, &frame, &obj, &rest);
    if (rc != CLI_EXIT_OK) return rc;
    prompt_group *g = group_for(o, frame, obj);
    if (!g) return cli_usage_error("video", "more than %d prompted (frame, object) pairs", MAX_PROMPTS);
    if (!strcmp(opt, "--mask")) {
        if (!*rest) return cli_usage_error("video", "--mask %s: missing PATH", s);
        g->mask_path = rest;
    } else if (!strcmp(opt, "--box")) {
        if (g->has_box) return cli_usage_error("video", "--box %s: a second box for frame %ld object %ld", s, frame, obj);
        if ((rc = parse_floats(opt, s, rest, 4, g->box)) != CLI_EXIT_OK) return rc;
        g->has_box = 1;
    } else {
        float v[3];
        if ((rc = parse_floats(opt, s, rest, 3, v)) != CLI_EXIT_OK) return rc;
        if (v[2] != 0.0f && v[2] != 1.0f) return cli_usage_error("video", "--prompt %s: LABEL must be 1 or 0", s);
        if (g->npts >= MAX_GROUP_POINTS) return cli_usage_error("video", "more than %d clicks on one frame", MAX_GROUP_POINTS);
        g->pts[g->npts++] = (segc_sam2_point){v[0], v[1], (int)v[2]};
    }
    if (g->mask_path && (g->npts || g->has_box))
        return cli_usage_error("video", "frame %ld object %ld has both a mask and clicks/box", frame, obj);
    return CLI_EXIT_OK;
}

static int parse_args(int argc, char **argv, video_options *o, int *want_help) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int t = cli_threads_option("video", argc, argv, &i);
        if (t < 0) return CLI_EXIT_USAGE;
        if (t > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *want_help = 1;
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--reverse")) {
            o->reverse = 1;
        } else if (!strcmp(a, "--save-logits")) {
            o->save_logits = 1;
        } else if (!strcmp(a, "--no-overlay")) {
            o->no_overlay = 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--frames") || !strcmp(a, "-o") ||
                   !strcmp(a, "--output") || !strcmp(a, "--prompt") || !strcmp(a, "--box") || !strcmp(a, "--mask")) {
            if (!(v = cli_value("video", argc, argv, &i))) return CLI_EXIT_USAGE;
            if (a[1] == 'm' || !strcmp(a, "--model")) o->model_path = v;
            else if (!strcmp(a, "--frames")) o->frames_dir = v;
            else if (a[1] == 'o' || !strcmp(a, "--output")) o->out_dir = v;
            else {
                int rc = parse_prompt(o, a, v);
                if (rc != CLI_EXIT_OK) return rc;
            }
        } else {
            return cli_usage_error("video", "unknown option %s (see --help)", a);
        }
    }
    if (!o->model_path) return cli_usage_error("video", "missing -m MODEL.segc");
    if (!o->frames_dir) return cli_usage_error("video", "missing --frames DIR");
    if (!o->out_dir) return cli_usage_error("video", "missing -o OUTDIR");
    if (o->ngroups == 0) return cli_usage_error("video", "no prompt: give --prompt, --box or --mask");
    return CLI_EXIT_OK;
}

typedef struct writer {
    const video_options *o;
    segc_sam2_video *s;
    segc_arena *arena;
    FILE *json;
    int done, total, first;
    double t0;
    uint8_t *mask, *labels;
    int h, w;
} writer;

static double now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
}

/* The file stem of frame `index` ("00012.jpg" -> "00012"). */
static void frame_stem(const segc_sam2_video *s, int index, char *buf, size_t size) {
    const char *name = segc_sam2_video_frame_name(s, index);
    snprintf(buf, size, "%s", name ? name : "");
    char *dot = strrchr(buf, '.');
    if (dot) *dot = '\0';
}

/* Writes one frame's outputs (masks, logits, overlay, a track.json entry). */
static segc_status write_frame(void *user, const segc_sam2_video_frame *fr) {
    writer *wr = user;
    const int64_t n = (int64_t)wr->h * wr->w;
    char stem[512], path[4096];
    frame_stem(wr->s, fr->frame, stem, sizeof stem);
    memset(wr->labels, 0, (size_t)n);
    fprintf(wr->json, "%s\n  {\"frame\": %d, \"name\": ", wr->first ? "" : ",", fr->frame);
    segc_json_string(wr->json, stem);
    fprintf(wr->json, ", \"objects\": [");
    wr->first = 0;
    segc_status st = SEGC_OK;
    for (int k = 0; k < fr->num_objects && st == SEGC_OK; k++) {
        if ((st = segc_sam2_video_upscale(wr->s, wr->arena, fr->low_res[k], wr->mask)) != SEGC_OK) break;
        int64_t area = 0;
        int x0 = wr->w, y0 = wr->h, x1 = -1, y1 = -1;
        for (int y = 0; y < wr->h; y++)
            for (int x = 0; x < wr->w; x++) {
                uint8_t *p = wr->mask + (int64_t)y * wr->w + x;
                if (!*p) continue;
                *p = 255;
                area++;
                if (k < 255) wr->labels[(int64_t)y * wr->w + x] = (uint8_t)(k + 1);
                x0 = x < x0 ? x : x0;
                y0 = y < y0 ? y : y0;
                x1 = x > x1 ? x : x1;
                y1 = y > y1 ? y : y1;
            }
        fprintf(wr->json, "%s{\"id\": %d, \"score\": %.6g, \"area\": %lld, \"bbox\": ", k ? ", " : "", fr->obj_ids[k],
                fr->obj_scores[k], (long long)area);
        if (area) fprintf(wr->json, "[%d, %d, %d, %d]}", x0, y0, x1 + 1, y1 + 1);
        else fprintf(wr->json, "null}");
        snprintf(path, sizeof path, "%s/%d/%s.png", wr->o->out_dir, fr->obj_ids[k], stem);
        st = segc_png_write(path, wr->w, wr->h, 1, wr->mask);
        if (st == SEGC_OK && wr->o->save_logits) {
            snprintf(path, sizeof path, "%s/%d/%s.npy", wr->o->out_dir, fr->obj_ids[k], stem);
            segc_tensor t = segc_tensor_f32((float *)fr->low_res[k], 2, 256, 256, 0, 0);
            st = segc_npy_write(path, &t);
        }
    }
    fprintf(wr->json, "]}");
    if (st == SEGC_OK && !wr->o->no_overlay) {
        segc_image img;
        snprintf(path, sizeof path, "%s/%s", wr->o->frames_dir, segc_sam2_video_frame_name(wr->s, fr->frame));
        if ((st = segc_image_load(path, &img)) == SEGC_OK) {
            snprintf(path, sizeof path, "%s/overlay/%s.png", wr->o->out_dir, stem);
            st = segc_write_overlay_png(path, &img, wr->labels, SEGC_PALETTE_VOC, 0.5f, 0);
            segc_image_free(&img);
        }
    }
    wr->done++;
    const double el = now_ms() - wr->t0;
    char label[600];
    snprintf(label, sizeof label, "frame %s, %.2f frames/s", stem, wr->done / (el / 1e3));
    cli_progress(wr->done, wr->total, label, el);
    return st;
}

/* Reads a --mask image as a binary mask of the video's size. */
static segc_status read_mask(const char *path, int h, int w, uint8_t **out) {
    segc_image img;
    segc_status st = segc_image_load(path, &img);
    if (st != SEGC_OK) return st;
    if (img.width != w || img.height != h) {
        segc_image_free(&img);
        return segc_fail(SEGC_ERR_SHAPE, "mask %s is %dx%d, the video is %dx%d", path, img.width, img.height, w, h);
    }
    uint8_t *m = malloc((size_t)w * h);
    if (!m) {
        segc_image_free(&img);
        return segc_fail(SEGC_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < (int64_t)w * h; i++) m[i] = img.rgb[3 * i] || img.rgb[3 * i + 1] || img.rgb[3 * i + 2];
    segc_image_free(&img);
    *out = m;
    return SEGC_OK;
}

static int track(const video_options *o, const void *model) {
    segc_sam2_video *s = NULL;
    if (segc_sam2_video_init_dir(model, o->frames_dir, 1, &s) != SEGC_OK) return cli_failure("video", o->frames_dir);
    const int nf = segc_sam2_video_num_frames(s);
    int h, w, rc = CLI_EXIT_OK;
    segc_sam2_video_size(s, &h, &w);
    for (int i = 0; i < o->ngroups; i++)
        if (o->groups[i].frame >= nf) {
            segc_sam2_video_free_state(s);
            return cli_usage_error("video", "prompt on frame %ld, but %s has %d frames (0..%d)", o->groups[i].frame,
                                   o->frames_dir, nf, nf - 1);
        }
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    writer wr = {.o = o, .s = s, .arena = &arena, .first = 1, .h = h, .w = w};
    char path[4096];
    for (int i = 0; i < o->ngroups && rc == CLI_EXIT_OK; i++) {
        const prompt_group *g = &o->groups[i];
        segc_status st;
        if (g->mask_path) {
            uint8_t *m = NULL;
            st = read_mask(g->mask_path, h, w, &m);
            if (st == SEGC_OK) st = segc_sam2_video_add_mask(s, &ctx, (int)g->frame, (int)g->obj, m, NULL);
            free(m);
        } else {
            st = segc_sam2_video_add_prompt(s, &ctx, (int)g->frame, (int)g->obj, g->pts, g->npts,
                                            g->has_box ? g->box : NULL, NULL);
        }
        snprintf(path, sizeof path, "prompt on frame %ld, object %ld", g->frame, g->obj);
        if (st != SEGC_OK) rc = cli_failure("video", path);
        snprintf(path, sizeof path, "%s/%ld", o->out_dir, g->obj);
        if (rc == CLI_EXIT_OK && cli_mkdirs("video", path)) rc = CLI_EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/overlay", o->out_dir);
    if (rc == CLI_EXIT_OK && !o->no_overlay && cli_mkdirs("video", path)) rc = CLI_EXIT_FAIL;
    snprintf(path, sizeof path, "%s/track.json", o->out_dir);
    if (rc == CLI_EXIT_OK && !(wr.json = fopen(path, "w"))) rc = cli_usage_error("video", "cannot write %s", path);
    wr.mask = malloc((size_t)h * w);
    wr.labels = malloc((size_t)h * w);
    if (rc == CLI_EXIT_OK && (!wr.mask || !wr.labels)) rc = cli_usage_error("video", "out of memory");
    if (rc == CLI_EXIT_OK) {
        int first = nf;
        for (int i = 0; i < o->ngroups; i++) first = o->groups[i].frame < first ? (int)o->groups[i].frame : first;
        wr.total = o->reverse ? first + 1 : nf - first;
        wr.t0 = now_ms();
        fprintf(wr.json, "{\"frames_dir\": ");
        segc_json_string(wr.json, o->frames_dir);
        fprintf(wr.json, ", \"height\": %d, \"width\": %d, \"reverse\": %s, \"frames\": [", h, w,
                o->reverse ? "true" : "false");
        if (segc_sam2_video_propagate(s, &ctx, -1, -1, o->reverse, write_frame, &wr) != SEGC_OK)
            rc = cli_failure("video", "tracking");
        fprintf(wr.json, "\n]}\n");
        if (rc == CLI_EXIT_OK)
            fprintf(stderr, "segc video: %d frames in %.1f s (%.2f frames/s), outputs in %s\n", wr.done,
                    (now_ms() - wr.t0) / 1e3, wr.done / ((now_ms() - wr.t0) / 1e3), o->out_dir);
    }
    if (wr.json && fclose(wr.json) != 0 && rc == CLI_EXIT_OK) rc = cli_usage_error("video", "cannot write track.json");
    free(wr.mask);
    free(wr.labels);
    segc_arena_free(&arena);
    segc_sam2_video_free_state(s);
    return rc;
}

int cmd_video(int argc, char **argv) {
    video_options *o = calloc(1, sizeof *o);
    if (!o) return cli_usage_error("video", "out of memory");
    int want_help = 0, rc = parse_args(argc, argv, o, &want_help);
    if (want_help) {
        print_help();
        free(o);
        return CLI_EXIT_OK;
    }
    if (rc != CLI_EXIT_OK) {
        free(o);
        return rc;
    }
    segc_file *f = NULL;
    void *model = NULL;
    if (segc_file_open(o->model_path, &f) != SEGC_OK) {
        rc = cli_failure("video", o->model_path);
    } else if (segc_sam2_video_load(f, &model) != SEGC_OK) {
        rc = cli_failure("video", "the model must be a SAM 2 / 2.1 checkpoint converted with segc-convert");
    } else if (cli_mkdirs("video", o->out_dir)) {
        rc = CLI_EXIT_FAIL;
    } else {
        rc = track(o, model);
    }
    segc_sam2_video_free(model);
    if (f) segc_file_close(f);
    free(o);
    return rc;
}
