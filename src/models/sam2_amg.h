/* sam2_amg.h - SAM 2 automatic mask generator ("everything" mode) on top of the image predictor (sam2.h),
   as facebookresearch/sam2 sam2/automatic_mask_generator.py + sam2/utils/amg.py compute it.
   Usage:
       segc_amg_options o; segc_amg_options_default(&o);          // SAM2AutomaticMaskGenerator defaults
       segc_amg_result r;
       segc_amg_generate(sam2_model, ctx, &img, &o, &r);           // r.masks[0..r.count)
       ... segc_amg_result_free(&r);
   Per crop (the whole image, plus 2^i x 2^i overlapping crops per extra layer): encode, one point prompt per
   grid point (multimask), keep masks with predicted IoU > pred_iou_thresh and stability >= its threshold,
   drop masks touching an inner crop edge, box NMS within the crop; then NMS across crops (smaller crops
   win). min_mask_region_area > 0 fills small holes / removes small sprinkles of every predicted low-res mask
   before upscaling (SAM2ImagePredictor post-processing; on CPU the official code skips it because its
   connected-components kernel is CUDA-only, and prints a warning).
   Workspace comes from ctx->arena (released before return); the records and their RLE strings live in
   the result's own store. Not here: the uncompressed-RLE and binary output modes (decode the string). */
#ifndef SEGC_MODELS_SAM2_AMG_H
#define SEGC_MODELS_SAM2_AMG_H

#include <stdint.h>

#include "core/arena.h"
#include "core/ctx.h"
#include "io/image.h"

/* SAM2AutomaticMaskGenerator.__init__ arguments (output_mode is always "coco_rle"). */
typedef struct segc_amg_options {
    int points_per_side;                 /* 32: grid of n x n prompts over each crop */
    int points_per_batch;                /* 64: prompts per decoder call (does not change the result) */
    float pred_iou_thresh;               /* 0.8: keep masks with predicted IoU > this (0: no filter); the
                                            float thresholds compare in float32, as torch does */
    float stability_score_thresh;        /* 0.95: keep stability >= this (0: no filter) */
    float stability_score_offset;        /* 1.0: logit offset of the stability score */
    float mask_threshold;                /* 0.0: logit threshold of the binary masks */
    double box_nms_thresh;               /* 0.7: box NMS within a crop (a double, as torchvision's nms) */
    int crop_n_layers;                   /* 0: extra crop layers (layer i has 2^i x 2^i crops) */
    double crop_nms_thresh;              /* 0.7: box NMS across crops */
    double crop_overlap_ratio;           /* 512 / 1500 */
    int crop_n_points_downscale_factor;  /* 1: points per side of layer i = n / factor^i */
    int min_mask_region_area;            /* 0: else the predictor fills holes and removes sprinkles of at most
                                            this area in the 256x256 low-res masks (max_hole_area and
                                            max_sprinkle_area of SAM2ImagePredictor, as the official generator) */
    int sam1_small_regions;              /* 0: else also SAM 1's postprocess_small_regions at full size with
                                            min_mask_region_area (kept by SAM 2's generator, never called) */
    int use_m2m;                         /* 0: else refine each mask once with its own low-res logits */
    int multimask_output;                /* 1: three masks per point, else one */
} segc_amg_options;

void segc_amg_options_default(segc_amg_options *o);
/* SEGC_ERR_INVALID_ARG with a message for out-of-range or non-finite options. */
segc_status segc_amg_options_check(const segc_amg_options *o);

/* One mask record (the dict generate() returns). Boxes are (x0, y0, x1, y1) with x1/y1 the last
   covered pixel (batched_mask_to_box), so the record's bbox [x, y, w, h] is [x0, y0, x1-x0, y1-y0];
   crop boxes are (x0, y0, x1, y1) with x1/y1 exclusive. */
typedef struct segc_amg_mask {
    const char *rle;          /* COCO compressed counts, size [height, width] of the image */
    int64_t area;             /* foreground pixels */
    int box[4];
    float predicted_iou;
    float stability_score;
    float point[2];           /* the prompt (x, y) in image pixels (float32, as the official records) */
    int crop_box[4];
} segc_amg_mask;

typedef struct segc_amg_result {
    int count;
    segc_amg_mask *masks;     /* in output order (NMS order: best first) */
    int width, height;
    segc_arena store;         /* owns masks and the strings */
} segc_amg_result;

/* Runs the generator on `img` with a model from segc_sam2_load. */
segc_status segc_amg_generate(const void *sam2_model, segc_ctx *ctx, const segc_image *img,
                              const segc_amg_options *o, segc_amg_result *out);
void segc_amg_result_free(segc_amg_result *r);

/* ---- the pieces (sam2/utils/amg.py), exposed for the tests ---------------------------------------- */

/* build_point_grid: xy[2 * n * n] = (x, y) in (0, 1), row by row (y outer), np.linspace in float64. */
void segc_amg_point_grid(int n_per_side, double *xy);
/* build_all_layer_point_grids: points per side of crop layer `layer`, int(n / factor^layer). */
int segc_amg_layer_points_per_side(int n_per_side, int layer, int factor);
/* Number of crop boxes generate_crop_boxes makes for n_layers: 1 + 4 + 16 + ... */
int segc_amg_num_crop_boxes(int n_layers);
/* generate_crop_boxes: boxes[count][4] (x0, y0, x1, y1) and layer[count]; both sized by
   segc_amg_num_crop_boxes. */
void segc_amg_crop_boxes(int im_h, int im_w, int n_layers, double overlap_ratio, int (*boxes)[4], int *layer);

/* calculate_stability_score of one mask: |logits > thr + off| / |logits > thr - off| (NaN if 0 / 0). */
float segc_amg_stability_score(const float *logits, int64_t n, float mask_threshold, float offset);
float segc_amg_stability_score_reference(const float *logits, int64_t n, float mask_threshold, float offset);

/* batched_mask_to_box of one mask [h, w] (nonzero = 1): (x0, y0, x1, y1) inclusive, 0s when empty. */
void segc_amg_mask_to_box(const uint8_t *mask, int w, int h, int box[4]);
void segc_amg_mask_to_box_reference(const uint8_t *mask, int w, int h, int box[4]);

/* is_box_near_crop_edge: box (already in image coordinates) within 20 px of an edge of the crop that is
   not also an image edge. */
int segc_amg_box_near_crop_edge(const int box[4], const int crop_box[4], int im_w, int im_h);

/* Decodes a COCO compressed RLE string into mask [h, w] row-major (0/1). SEGC_ERR_FORMAT when the
   string is malformed or its runs do not add up to w * h. */
segc_status segc_amg_rle_decode(const char *counts, int w, int h, uint8_t *mask);

/* remove_small_regions (amg.py, cv2 8-connectivity): SEGC_AMG_HOLES fills background components smaller
   than area_thresh; SEGC_AMG_ISLANDS removes foreground components smaller than it (keeping the largest
   if all are). In place on mask [h, w] (0/1); *changed says whether anything was small. Scratch from
   `scratch` (released). In sam2_amg_regions.c. */
enum { SEGC_AMG_HOLES = 0, SEGC_AMG_ISLANDS = 1 };
segc_status segc_amg_remove_small_regions(segc_arena *scratch, uint8_t *mask, int w, int h, double area_thresh,
                                          int mode, int *changed);
/* Same with a plain flood fill, the test oracle. */
segc_status segc_amg_remove_small_regions_reference(segc_arena *scratch, uint8_t *mask, int w, int h,
                                                    double area_thresh, int mode, int *changed);

/* SAM2Transforms.postprocess_masks(max_hole_area, max_sprinkle_area) on low-res logits [h, w]: 8-connected
   components of (logits <= thr) with area <= max_hole_area are set to thr + 10, those of (logits > thr)
   with area <= max_sprinkle_area to thr - 10 (an area <= 0 skips that step). Writes delta[h*w] = new - old
   (0 elsewhere) so callers can carry the change through a linear resize; *changed if any pixel moved. */
segc_status segc_amg_fill_holes_and_sprinkles(segc_arena *scratch, const float *logits, int w, int h, float thr,
                                              double max_hole_area, double max_sprinkle_area, float *delta,
                                              int *changed);
segc_status segc_amg_fill_holes_and_sprinkles_reference(segc_arena *scratch, const float *logits, int w, int h,
                                                        float thr, double max_hole_area, double max_sprinkle_area,
                                                        float *delta, int *changed);

#endif
