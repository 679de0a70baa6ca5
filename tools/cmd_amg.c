/* cmd_amg.c - `segc amg -m MODEL.segc -i IMAGE -o OUTDIR [options]`: every mask SAM 2 finds from a grid of
   point prompts (models/sam2_amg.h). Writes OUTDIR/masks.json, a list of records as the official
   generator returns them with output_mode "coco_rle" (segmentation {size, counts}, area, bbox [x,y,w,h],
   predicted_iou, point_coords, stability_score, crop_box [x,y,w,h]), and OUTDIR/overlay.png (masks in
   colour over the image, small ones on top). */
#include "cmd_amg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/status.h"
#include "core/timer.h"
#include "io/image.h"
#include "io/output.h"
#include "models/registry.h"
#include "models/sam2_amg.h"

#define CMD "amg"
/* overlay: how much of the mask colour shows over the image */
#define OVERLAY_ALPHA 0.5f

static void print_help(void) {
    printf("usage: segc amg -m MODEL.segc -i IMAGE -o OUTDIR [options]\n\n"
           "Segments everything in IMAGE with SAM 2 (SAM2AutomaticMaskGenerator): one point prompt per grid\n"
           "point, masks filtered by predicted IoU and stability, duplicates removed by box NMS.\n"
           "Writes OUTDIR/masks.json (COCO RLE records) and OUTDIR/overlay.png.\n\n"
           "options (defaults of the official generator):\n"
           "  --points-per-side N             grid of N x N prompts (32)\n"
           "  --points-per-batch N            prompts per decoder batch (64)\n"
           "  --pred-iou-thresh T             keep masks with predicted IoU > T (0.8)\n"
           "  --stability-score-thresh T      keep masks with stability >= T (0.95)\n"
           "  --stability-score-offset D      logit offset of the stability score (1.0)\n"
           "  --box-nms-thresh T              box IoU threshold of NMS within a crop (0.7)\n"
           "  --crop-n-layers N               extra layers of image crops (0)\n"
           "  --crop-nms-thresh T             box NMS across crops (0.7)\n"
           "  --crop-overlap-ratio R          overlap of neighbouring crops (0.3413)\n"
           "  --crop-n-points-downscale-factor F  points per side of layer i: N / F^i (1)\n"
           "  --min-mask-region-area A        fill holes / drop specks of at most A pixels in the 256x256\n"
           "                                  low-res masks, as SAM2ImagePredictor does (0: off)\n"
           "  --sam1-small-regions            also remove holes and islands smaller than A pixels from the\n"
           "                                  full-size masks (SAM 1's postprocess_small_regions)\n"
           "  --use-m2m                       refine each mask once with its own low-res logits\n"
           "  --single-mask                   one mask per prompt instead of three\n"
           "  --threads N, -t N               threads\n");
}

typedef struct amg_args {
    const char *model_path, *input, *out_dir;
    segc_amg_options o;
} amg_args;

/* Options followed by a value. */
static int takes_value(const char *s) {
    static const char *const names[] = {
        "-m", "--model", "-i", "--input", "-o", "--output", "--points-per-side", "--points-per-batch",
        "--pred-iou-thresh", "--stability-score-thresh", "--stability-score-offset", "--box-nms-thresh",
        "--crop-n-layers", "--crop-nms-thresh", "--crop-overlap-ratio", "--crop-n-points-downscale-factor",
        "--min-mask-region-area"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i])) return 1;
    return 0;
}

/* Parses argv into a; returns CLI_EXIT_OK, or -1 after --help, or a usage error code. */
static int parse_args(int argc, char **argv, amg_args *a) {
    segc_amg_options_default(&a->o);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        long n;
        double d;
        int t = cli_threads_option(CMD, argc, argv, &i);
        if (t < 0) return CLI_EXIT_USAGE;
        if (t > 0) continue;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            print_help();
            return -1;
        }
        if (!strcmp(s, "--use-m2m")) {
            a->o.use_m2m = 1;
            continue;
        }
        if (!strcmp(s, "--sam1-small-regions")) {
            a->o.sam1_small_regions = 1;
            continue;
        }
        if (!strcmp(s, "--single-mask")) {
            a->o.multimask_output = 0;
            continue;
        }
        if (s[0] != '-') return cli_usage_error(CMD, "unexpected argument '%.60s'", s);
        if (!takes_value(s)) return cli_usage_error(CMD, "unknown option '%.60s'", s);
        if (!(v = cli_value(CMD, argc, argv, &i))) return CLI_EXIT_USAGE;
        if (!strcmp(s, "-m") || !strcmp(s, "--model")) a->model_path = v;
        else if (!strcmp(s, "-i") || !strcmp(s, "--input")) a->input = v;
        else if (!strcmp(s, "-o") || !strcmp(s, "--output")) a->out_dir = v;
        else if (!strcmp(s, "--points-per-side")) {
            if (!cli_parse_int(CMD, s, v, 1, 1024, &n)) return CLI_EXIT_USAGE;
            a->o.points_per_side = (int)n;
        } else if (!strcmp(s, "--points-per-batch")) {
            if (!cli_parse_int(CMD, s, v, 1, 1 << 20, &n)) return CLI_EXIT_USAGE;
            a->o.points_per_batch = (int)n;
        } else if (!strcmp(s, "--crop-n-layers")) {
            if (!cli_parse_int(CMD, s, v, 0, 4, &n)) return CLI_EXIT_USAGE;
            a->o.crop_n_layers = (int)n;
        } else if (!strcmp(s, "--crop-n-points-downscale-factor")) {
            if (!cli_parse_int(CMD, s, v, 1, 1024, &n)) return CLI_EXIT_USAGE;
            a->o.crop_n_points_downscale_factor = (int)n;
        } else if (!strcmp(s, "--min-mask-region-area")) {
            if (!cli_parse_int(CMD, s, v, 0, 1L << 30, &n)) return CLI_EXIT_USAGE;
            a->o.min_mask_region_area = (int)n;
        } else {
            float *f = !strcmp(s, "--pred-iou-thresh")          ? &a->o.pred_iou_thresh
                       : !strcmp(s, "--stability-score-thresh") ? &a->o.stability_score_thresh
                       : !strcmp(s, "--stability-score-offset") ? &a->o.stability_score_offset
                                                                : NULL;
            double *g = !strcmp(s, "--box-nms-thresh") ? &a->o.box_nms_thresh
                        : !strcmp(s, "--crop-nms-thresh") ? &a->o.crop_nms_thresh
                                                          : NULL;
            if (f || g) {
                if (!cli_parse_float(CMD, s, v, -1e6, 1e6, &d)) return CLI_EXIT_USAGE;
                if (f) *f = (float)d;
                else *g = d;
            } else if (!strcmp(s, "--crop-overlap-ratio")) {
                if (!cli_parse_float(CMD, s, v, 0, 0.999, &d)) return CLI_EXIT_USAGE;
                a->o.crop_overlap_ratio = d;
            } else {
                return cli_usage_error(CMD, "unknown option '%.60s'", s);
            }
        }
    }
    if (!a->model_path || !a->input || !a->out_dir)
        return cli_usage_error(CMD, "-m MODEL, -i IMAGE and -o OUTDIR are required");
    if (segc_amg_options_check(&a->o)) return cli_usage_error(CMD, "%s", segc_last_error());
    return CLI_EXIT_OK;
}

/* OUTDIR/masks.json: one record per line. */
static segc_status write_json(const char *path, const segc_amg_result *r) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return segc_fail(SEGC_ERR_IO, "%s: cannot open for writing", path);
    fputs("[", fp);
    for (int i = 0; i < r->count; i++) {
        const segc_amg_mask *m = &r->masks[i];
        fprintf(fp, "%s\n{\"segmentation\": {\"size\": [%d, %d], \"counts\": ", i ? "," : "", r->height, r->width);
        segc_json_string(fp, m->rle);
        fprintf(fp, "}, \"area\": %lld, \"bbox\": [%d, %d, %d, %d], \"predicted_iou\": %.9g, "
                    "\"point_coords\": [[%.9g, %.9g]], \"stability_score\": %.9g, \"crop_box\": [%d, %d, %d, %d]}",
                (long long)m->area, m->box[0], m->box[1], m->box[2] - m->box[0], m->box[3] - m->box[1],
                m->predicted_iou, m->point[0], m->point[1], m->stability_score, m->crop_box[0], m->crop_box[1],
                m->crop_box[2] - m->crop_box[0], m->crop_box[3] - m->crop_box[1]);
    }
    fputs(r->count ? "\n]\n" : "]\n", fp);
    if (fclose(fp) != 0) return segc_fail(SEGC_ERR_IO, "%s: write failed", path);
    return SEGC_OK;
}

static int by_area_desc(const void *a, const void *b) {
    const segc_amg_mask *x = *(segc_amg_mask *const *)a, *y = *(segc_amg_mask *const *)b;
    return x->area < y->area ? 1 : x->area > y->area ? -1 : 0;
}

/* OUTDIR/overlay.png: a label map painted largest mask first, so smaller masks stay visible. */
static segc_status write_overlay(const char *path, const segc_image *img, const segc_amg_result *r) {
    const size_t n = (size_t)img->width * img->height;
    uint8_t *labels = calloc(n, 1), *mask = malloc(n);
    const segc_amg_mask **order = malloc((size_t)(r->count ? r->count : 1) * sizeof *order);
    segc_status st = SEGC_OK;
    if (!labels || !mask || !order) {
        st = segc_fail(SEGC_ERR_NOMEM, "out of memory for a %dx%d overlay", img->width, img->height);
        goto done;
    }
    for (int i = 0; i < r->count; i++) order[i] = &r->masks[i];
    qsort(order, (size_t)r->count, sizeof *order, by_area_desc);
    for (int i = 0; i < r->count && !st; i++) {
        if ((st = segc_amg_rle_decode(order[i]->rle, img->width, img->height, mask))) break;
        const uint8_t label = (uint8_t)(1 + i % 255);
        for (size_t p = 0; p < n; p++)
            if (mask[p]) labels[p] = label;
    }
    if (!st) st = segc_write_overlay_png(path, img, labels, SEGC_PALETTE_GENERIC, OVERLAY_ALPHA, 0);
done:
    free(labels);
    free(mask);
    free(order);
    return st;
}

int cmd_amg(int argc, char **argv) {
    amg_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? CLI_EXIT_OK : rc;
    segc_file *file = NULL;
    const segc_arch_entry *entry = NULL;
    void *model = NULL;
    segc_image img = {0};
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_amg_result res = {0};
    char path[4096];
    if (cli_mkdirs(CMD, a.out_dir)) rc = CLI_EXIT_FAIL;
    else if (segc_arch_open(a.model_path, &file, &entry, &model)) rc = cli_failure(CMD, a.model_path);
    else if (strcmp(entry->arch, "sam2") != 0)
        rc = cli_usage_error(CMD, "%s is a %s model; amg needs SAM 2", a.model_path, entry->arch);
    else if (segc_image_load(a.input, &img)) rc = cli_failure(CMD, a.input);
    if (rc == CLI_EXIT_OK) {
        const double t0 = segc_time_ms();
        if (segc_amg_generate(model, &ctx, &img, &a.o, &res)) rc = cli_failure(CMD, a.input);
        else {
            fprintf(stderr, "segc amg: %s: %d masks in %.1f s\n", a.input, res.count, (segc_time_ms() - t0) / 1e3);
            snprintf(path, sizeof path, "%s/masks.json", a.out_dir);
            if (write_json(path, &res)) rc = cli_failure(CMD, path);
            snprintf(path, sizeof path, "%s/overlay.png", a.out_dir);
            if (rc == CLI_EXIT_OK && write_overlay(path, &img, &res)) rc = cli_failure(CMD, path);
        }
    }
    segc_amg_result_free(&res);
    segc_arena_free(&arena);
    segc_image_free(&img);
    if (model) entry->free(model);
    segc_file_close(file);
    return rc;
}
