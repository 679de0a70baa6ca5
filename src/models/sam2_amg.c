/* sam2_amg.c - SAM 2 automatic mask generator (see sam2_amg.h): the point grid and crop boxes, per-mask
   filters (predicted IoU, stability score, crop edges), box NMS, COCO RLE, and the optional small-region
   post-processing. Mirrors SAM2AutomaticMaskGenerator.generate / _process_crop / _process_batch and
   sam2/utils/amg.py line by line; where torch computes in float32 we do too.
   Prompts go through segc_sam2_predict one point at a time (the official code batches points_per_batch
   prompts through the decoder; every prompt is independent, so only the speed differs).
   NMS visits equal scores in input order (ops/nms.h); torch's sort is not stable beyond 16 boxes, so when
   masks with exactly equal scores overlap (the crop NMS scores every mask of a crop alike) the official
   choice among them can differ.
   Not here: connected components (sam2_amg_regions.c), the image predictor itself (sam2*.c). */
#include "models/sam2_amg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/output.h"
#include "models/sam2.h"
#include "ops/nms.h"
#include "ops/resize.h"

/* amg.py is_box_near_crop_edge(atol=20.0) */
#define AMG_EDGE_ATOL_PX 20
/* SAM2ImagePredictor returns at most 3 masks per prompt */
#define AMG_MAX_MASKS 3
/* limits that keep sizes sane (the defaults are 32 points, 0 layers) */
#define AMG_MAX_POINTS_PER_SIDE 1024
#define AMG_MAX_CROP_LAYERS 4

void segc_amg_options_default(segc_amg_options *o) {
    memset(o, 0, sizeof *o);
    o->points_per_side = 32;
    o->points_per_batch = 64;
    o->pred_iou_thresh = 0.8f;
    o->stability_score_thresh = 0.95f;
    o->stability_score_offset = 1.0f;
    o->mask_threshold = 0.0f;
    o->box_nms_thresh = 0.7;
    o->crop_n_layers = 0;
    o->crop_nms_thresh = 0.7;
    o->crop_overlap_ratio = 512.0 / 1500.0;
    o->crop_n_points_downscale_factor = 1;
    o->min_mask_region_area = 0;
    o->use_m2m = 0;
    o->multimask_output = 1;
}

segc_status segc_amg_options_check(const segc_amg_options *o) {
    if (!o) return segc_fail(SEGC_ERR_INVALID_ARG, "amg: NULL options");
    if (o->points_per_side < 1 || o->points_per_side > AMG_MAX_POINTS_PER_SIDE)
        return segc_fail(SEGC_ERR_INVALID_ARG, "amg: points_per_side %d is not in [1, %d]", o->points_per_side,
                         AMG_MAX_POINTS_PER_SIDE);
    if (o->points_per_batch < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "amg: points_per_batch must be >= 1");
    if (o->crop_n_layers < 0 || o->crop_n_layers > AMG_MAX_CROP_LAYERS)
        return segc_fail(SEGC_ERR_INVALID_ARG, "amg: crop_n_layers %d is not in [0, %d]", o->crop_n_layers,
                         AMG_MAX_CROP_LAYERS);
    if (o->crop_n_points_downscale_factor < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "amg: crop_n_points_downscale_factor must be >= 1");
    const double v[] = {o->pred_iou_thresh, o->stability_score_thresh, o->stability_score_offset, o->mask_threshold,
                        o->box_nms_thresh, o->crop_nms_thresh, o->crop_overlap_ratio};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!isfinite(v[i])) return segc_fail(SEGC_ERR_INVALID_ARG, "amg: a threshold is not finite");
    if (o->crop_overlap_ratio < 0 || o->crop_overlap_ratio >= 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "amg: crop_overlap_ratio %g is not in [0, 1)", o->crop_overlap_ratio);
    if (o->min_mask_region_area < 0) return segc_fail(SEGC_ERR_INVALID_ARG, "amg: min_mask_region_area < 0");
    for (int i = 0; i <= o->crop_n_layers; i++)
        if (segc_amg_layer_points_per_side(o->points_per_side, i, o->crop_n_points_downscale_factor) < 1)
            return segc_fail(SEGC_ERR_INVALID_ARG, "amg: crop layer %d would get no points (points_per_side %d, "
                             "downscale factor %d)", i, o->points_per_side, o->crop_n_points_downscale_factor);
    return SEGC_OK;
}

/* ---- grids and crops --------------------------------------------------------------------------- */

/* np.linspace(offset, 1 - offset, n) tiled: x varies fastest. */
void segc_amg_point_grid(int n, double *xy) {
    const double offset = 1.0 / (2 * n), start = offset, stop = 1.0 - offset;
    const double step = n > 1 ? (stop - start) / (n - 1) : 0.0;
    for (int i = 0; i < n; i++) {
        double vi = n > 1 && i == n - 1 ? stop : i * step + start;   /* linspace sets the end point exactly */
        for (int j = 0; j < n; j++) {
            double vj = n > 1 && j == n - 1 ? stop : j * step + start;
            xy[2 * (i * n + j)] = vj;
            xy[2 * (i * n + j) + 1] = vi;
        }
    }
}

int segc_amg_layer_points_per_side(int n_per_side, int layer, int factor) {
    double scale = 1.0;
    for (int i = 0; i < layer; i++) scale *= factor;
    return (int)(n_per_side / scale);   /* int(n_per_side / (scale_per_layer**i)) */
}

int segc_amg_num_crop_boxes(int n_layers) {
    int n = 1;
    for (int i = 0; i < n_layers; i++) n += (1 << (i + 1)) * (1 << (i + 1));
    return n;
}

/* crop_len in generate_crop_boxes: int(ceil((overlap * (n_crops - 1) + orig_len) / n_crops)) */
static int crop_len(int orig_len, int n_crops, int overlap) {
    return (int)ceil((double)(overlap * (n_crops - 1) + orig_len) / n_crops);
}

void segc_amg_crop_boxes(int im_h, int im_w, int n_layers, double overlap_ratio, int (*boxes)[4], int *layer) {
    const int short_side = im_h < im_w ? im_h : im_w;
    int k = 0;
    boxes[k][0] = 0, boxes[k][1] = 0, boxes[k][2] = im_w, boxes[k][3] = im_h;
    layer[k++] = 0;
    for (int i = 0; i < n_layers; i++) {
        const int n = 1 << (i + 1);
        const int overlap = (int)(overlap_ratio * short_side * (2.0 / n));
        const int cw = crop_len(im_w, n, overlap), ch = crop_len(im_h, n, overlap);
        for (int a = 0; a < n; a++)          /* product(x0s, y0s): x outer */
            for (int b = 0; b < n; b++) {
                const int x0 = (cw - overlap) * a, y0 = (ch - overlap) * b;
                boxes[k][0] = x0, boxes[k][1] = y0;
                boxes[k][2] = x0 + cw < im_w ? x0 + cw : im_w;
                boxes[k][3] = y0 + ch < im_h ? y0 + ch : im_h;
                layer[k++] = i + 1;
            }
    }
}

/* ---- per-mask pieces --------------------------------------------------------------------------- */

/* One pass counting both thresholds; torch divides the int32 counts in float32. */
float segc_amg_stability_score(const float *logits, int64_t n, float mask_threshold, float offset) {
    const float hi = mask_threshold + offset, lo = mask_threshold - offset;
    int64_t inter = 0, uni = 0;
    for (int64_t i = 0; i < n; i++) {
        inter += logits[i] > hi;
        uni += logits[i] > lo;
    }
    return uni ? (float)inter / (float)uni : NAN;
}

float segc_amg_stability_score_reference(const float *logits, int64_t n, float mask_threshold, float offset) {
    int64_t inter = 0, uni = 0;
    for (int64_t i = 0; i < n; i++)
        if (logits[i] > mask_threshold + offset) inter++;
    for (int64_t i = 0; i < n; i++)
        if (logits[i] > mask_threshold - offset) uni++;
    if (uni == 0) return NAN;   /* 0 / 0 in torch */
    return (float)inter / (float)uni;
}

/* Rows: first/last row with a pixel; columns: first/last pixel of each such row. */
void segc_amg_mask_to_box(const uint8_t *mask, int w, int h, int box[4]) {
    int x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = mask + (int64_t)y * w;
        int first = 0;
        while (first < w && !row[first]) first++;
        if (first == w) continue;
        int last = w - 1;
        while (!row[last]) last--;
        if (y0 == h) y0 = y;
        y1 = y;
        if (first < x0) x0 = first;
        if (last > x1) x1 = last;
    }
    if (x1 < 0) x0 = y0 = x1 = y1 = 0;   /* empty mask: [0, 0, 0, 0] */
    box[0] = x0, box[1] = y0, box[2] = x1, box[3] = y1;
}

void segc_amg_mask_to_box_reference(const uint8_t *mask, int w, int h, int box[4]) {
    int x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (mask[(int64_t)y * w + x]) {
                x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
            }
    if (x1 < 0) x0 = y0 = x1 = y1 = 0;
    box[0] = x0, box[1] = y0, box[2] = x1, box[3] = y1;
}

int segc_amg_box_near_crop_edge(const int box[4], const int crop_box[4], int im_w, int im_h) {
    const int image_box[4] = {0, 0, im_w, im_h};
    for (int i = 0; i < 4; i++) {
        const int near_crop = abs(box[i] - crop_box[i]) <= AMG_EDGE_ATOL_PX;
        const int near_image = abs(box[i] - image_box[i]) <= AMG_EDGE_ATOL_PX;
        if (near_crop && !near_image) return 1;
    }
    return 0;
}

/* rleFrString of pycocotools: 5 bits per char (+48), continuation bit 0x20, sign bit 0x10 on the last
   char; counts after the second are deltas from the one two places back. Runs are column-major. */
segc_status segc_amg_rle_decode(const char *s, int w, int h, uint8_t *mask) {
    if (!s || !mask || w < 0 || h < 0) return segc_fail(SEGC_ERR_INVALID_ARG, "rle_decode: bad arguments");
    const int64_t total = (int64_t)w * h;
    int64_t pos = 0, m = 0, prev2 = 0, prev1 = 0, cx = 0, cy = 0;
    int value = 0;
    const char *p = s;
    while (*p) {
        int64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            const int c = *p - 48;
            if (!*p || c < 0 || c > 63 || k > 12)
                return segc_fail(SEGC_ERR_FORMAT, "rle_decode: bad string at %d", (int)(p - s));
            x |= (int64_t)(c & 0x1f) << (5 * k);
            more = c & 0x20;
            p++, k++;
            if (!more && (c & 0x10)) x |= (int64_t)(-1) * ((int64_t)1 << (5 * k));
        }
        if (m > 2) x += prev2;
        prev2 = prev1, prev1 = x;
        m++;
        if (x < 0 || x > total - pos)
            return segc_fail(SEGC_ERR_FORMAT, "rle_decode: run %lld out of range", (long long)m);
        for (int64_t i = 0; i < x; i++) {   /* column-major walk: (cx, cy) is pixel pos + i */
            mask[cy * w + cx] = (uint8_t)value;
            if (++cy == h) cy = 0, cx++;
        }
        pos += x;
        value ^= 1;
    }
    if (pos != total)
        return segc_fail(SEGC_ERR_FORMAT, "rle_decode: runs cover %lld of %lld pixels", (long long)pos,
                         (long long)total);
    return SEGC_OK;
}

/* ---- the generator ----------------------------------------------------------------------------- */

typedef struct amg_run {
    const void *model;
    segc_ctx *ctx;
    const segc_amg_options *o;
    const segc_image *img;
    segc_amg_result *out;
    int capacity;             /* of out->masks */
    uint8_t *full;            /* [H, W] zeros: a crop's mask pasted at its place (NULL for the whole image) */
    uint8_t *bin;             /* [h_crop, w_crop] binary mask */
    char *rle;                /* RLE string buffer of segc_rle_string_bound(W, H) */
} amg_run;

/* Keeps out->masks[start + keep[j]] as entry start + j (NMS order); `scores` [n] rank the boxes. */
static segc_status nms_filter(amg_run *r, int start, const float *scores, double thresh) {
    segc_arena *a = r->ctx->arena;
    const int n = r->out->count - start;
    if (n <= 0) return SEGC_OK;
    segc_arena_mark mark = segc_arena_get_mark(a);
    segc_status st = SEGC_OK;
    float *b = segc_arena_alloc_array(a, (size_t)n, 4 * sizeof(float));
    int64_t *keep = segc_arena_alloc_array(a, (size_t)n, sizeof(int64_t));
    segc_amg_mask *copy = segc_arena_alloc_array(a, (size_t)n, sizeof(segc_amg_mask));
    if (!b || !keep || !copy) {
        st = SEGC_ERR_NOMEM;
        goto done;
    }
    segc_amg_mask *m = r->out->masks + start;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 4; c++) b[4 * i + c] = (float)m[i].box[c];
    const int64_t bs[2] = {n, 4}, ss[1] = {n};
    segc_tensor boxes = segc_tensor_wrap(SEGC_F32, 2, bs, b), sc = segc_tensor_wrap(SEGC_F32, 1, ss, (void *)scores);
    int64_t count = 0;
    if ((st = segc_nms(a, &boxes, &sc, thresh, keep, &count)) != SEGC_OK) goto done;
    memcpy(copy, m, (size_t)n * sizeof *copy);
    for (int64_t j = 0; j < count; j++) m[j] = copy[keep[j]];
    r->out->count = start + (int)count;
done:
    segc_arena_release(a, mark);
    return st;
}

/* Copies a string into the result's store. */
static const char *store_string(segc_amg_result *out, const char *s, int64_t len) {
    char *d = segc_arena_alloc(&out->store, (size_t)len + 1);
    if (d) memcpy(d, s, (size_t)len + 1);
    return d;
}

/* _process_batch for one mask: logits [hc, wc] of the crop; appends a record if it passes. */
static segc_status consider_mask(amg_run *r, const float *logits, float iou, const float point[2], const int crop[4]) {
    const segc_amg_options *o = r->o;
    const int wc = crop[2] - crop[0], hc = crop[3] - crop[1], W = r->img->width, H = r->img->height;
    const int64_t n = (int64_t)wc * hc;
    if (o->pred_iou_thresh > 0.0f && !(iou > o->pred_iou_thresh)) return SEGC_OK;
    const float stability = segc_amg_stability_score(logits, n, o->mask_threshold, o->stability_score_offset);
    if (o->stability_score_thresh > 0.0f && !(stability >= o->stability_score_thresh)) return SEGC_OK;
    for (int64_t i = 0; i < n; i++) r->bin[i] = logits[i] > o->mask_threshold;
    int box[4];
    segc_amg_mask_to_box(r->bin, wc, hc, box);
    box[0] += crop[0], box[1] += crop[1], box[2] += crop[0], box[3] += crop[1];   /* uncrop_boxes_xyxy */
    if (segc_amg_box_near_crop_edge(box, crop, W, H)) return SEGC_OK;
    const uint8_t *full = r->bin;
    if (r->full) {   /* uncrop_masks: zero padding around the crop */
        for (int y = 0; y < hc; y++)
            memcpy(r->full + (int64_t)(crop[1] + y) * W + crop[0], r->bin + (int64_t)y * wc, (size_t)wc);
        full = r->full;
    }
    int64_t area = 0;
    const int64_t len = segc_rle_encode(full, W, H, r->rle, segc_rle_string_bound(W, H), &area);
    if (r->full)
        for (int y = 0; y < hc; y++) memset(r->full + (int64_t)(crop[1] + y) * W + crop[0], 0, (size_t)wc);
    if (len < 0) return segc_fail(SEGC_ERR_INTERNAL, "amg: RLE buffer too small");
    if (r->out->count >= r->capacity) return segc_fail(SEGC_ERR_INTERNAL, "amg: more records than prompts");
    segc_amg_mask *m = &r->out->masks[r->out->count];
    if (!(m->rle = store_string(r->out, r->rle, len))) return SEGC_ERR_NOMEM;
    m->area = area;
    memcpy(m->box, box, sizeof box);
    m->predicted_iou = iou;
    m->stability_score = stability;
    m->point[0] = point[0] + (float)crop[0];   /* uncrop_points: float32 + int */
    m->point[1] = point[1] + (float)crop[1];
    memcpy(m->crop_box, crop, sizeof m->crop_box);
    r->out->count++;
    return SEGC_OK;
}

/* SAM2Transforms.postprocess_masks with max_hole_area = max_sprinkle_area = min_mask_region_area on each
   predicted mask: the filling happens on the low-res logits before the bilinear upscale, and the upscale
   is linear, so up(low + delta) = up(low) + up(delta) is added to the full-size logits. predict() gives
   the low-res logits clamped to [-32, 32], so a filled pixel whose logit lies beyond +-32 gets a slightly
   different delta than in the official code (the component sets are the same: the sign is kept). */
static segc_status fill_holes_and_sprinkles(amg_run *r, segc_sam2_outputs *res) {
    segc_arena *a = r->ctx->arena;
    const int64_t S = res->low_res_logits.shape[1], H = res->mask_logits.shape[1], W = res->mask_logits.shape[2];
    const double area = r->o->min_mask_region_area;
    /* the generator builds its SAM2ImagePredictor without mask_threshold: the predictor's default 0.0 */
    const float predictor_threshold = 0.0f;
    for (int k = 0; k < res->num_masks; k++) {
        segc_arena_mark mark = segc_arena_get_mark(a);
        segc_tensor delta, up;
        int changed = 0;
        segc_status st = segc_tensor_new_f32(a, &delta, 4, 1, 1, S, S);
        if (!st) st = segc_amg_fill_holes_and_sprinkles(a, (const float *)res->low_res_logits.data + k * S * S, (int)S,
                                                        (int)S, predictor_threshold, area, area, delta.data, &changed);
        const segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
        if (!st && changed && (st = segc_resize_new(a, &delta, &rp, H, W, &up)) == SEGC_OK) {
            float *l = (float *)res->mask_logits.data + k * H * W;
            const float *d = up.data;
            for (int64_t i = 0; i < H * W; i++) l[i] += d[i];
        }
        segc_arena_release(a, mark);
        if (st) return st;
    }
    return SEGC_OK;
}

/* One grid point of a crop: predict (multimask), optionally refine each mask with its own low-res logits
   (use_m2m: refine_with_m2m, single mask), then filter each mask. `point` is in crop pixels. */
static segc_status process_point(amg_run *r, const segc_sam2_embedding *emb, const float point[2], const int crop[4]) {
    segc_arena *a = r->ctx->arena;
    segc_arena_mark mark = segc_arena_get_mark(a);
    const segc_sam2_point pt = {point[0], point[1], 1};
    const segc_sam2_prompts pr = {.num_points = 1, .points = &pt};
    const int64_t hw = (int64_t)emb->orig_h * emb->orig_w;
    segc_sam2_outputs res;
    segc_status st = segc_sam2_predict(r->model, r->ctx, emb, &pr, r->o->multimask_output, 1, &res);
    /* with m2m only the refined masks are kept; their inputs are the unfilled low-res logits */
    if (!st && !r->o->use_m2m && r->o->min_mask_region_area > 0) st = fill_holes_and_sprinkles(r, &res);
    for (int k = 0; k < res.num_masks && !st; k++) {
        if (!r->o->use_m2m) {
            st = consider_mask(r, (const float *)res.mask_logits.data + k * hw, res.iou[k], point, crop);
            continue;
        }
        const int64_t s = res.low_res_logits.shape[1];
        segc_tensor lr = segc_tensor_wrap(SEGC_F32, 3, (int64_t[3]){1, s, s},
                                          (float *)res.low_res_logits.data + k * s * s);
        const segc_sam2_prompts refine = {.num_points = 1, .points = &pt, .mask_input = &lr};
        segc_arena_mark inner = segc_arena_get_mark(a);
        segc_sam2_outputs ref;
        if ((st = segc_sam2_predict(r->model, r->ctx, emb, &refine, 0, 1, &ref)) == SEGC_OK &&
            (r->o->min_mask_region_area <= 0 || (st = fill_holes_and_sprinkles(r, &ref)) == SEGC_OK))
            st = consider_mask(r, ref.mask_logits.data, ref.iou[0], point, crop);
        segc_arena_release(a, inner);
    }
    segc_arena_release(a, mark);
    return st;
}

/* _process_crop: encode the crop, run every grid point of its layer, NMS within the crop. */
static segc_status process_crop(amg_run *r, const int crop[4], int layer) {
    segc_arena *a = r->ctx->arena;
    const segc_image *img = r->img;
    const int wc = crop[2] - crop[0], hc = crop[3] - crop[1];
    if (wc < 1 || hc < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "amg: crop %d,%d,%d,%d is empty", crop[0], crop[1], crop[2], crop[3]);
    const int whole = wc == img->width && hc == img->height;
    segc_arena_mark mark = segc_arena_get_mark(a);
    segc_status st = SEGC_OK;
    segc_image view = *img;
    if (!whole) {   /* image[y0:y1, x0:x1, :] */
        view.width = wc, view.height = hc;
        view.rgb = segc_arena_alloc_array(a, (size_t)wc * hc, 3);
        r->full = segc_arena_alloc_array(a, (size_t)img->width * img->height, 1);
        if (!view.rgb || !r->full) {
            st = SEGC_ERR_NOMEM;
            goto done;
        }
        for (int y = 0; y < hc; y++)
            memcpy(view.rgb + (int64_t)y * wc * 3, img->rgb + ((int64_t)(crop[1] + y) * img->width + crop[0]) * 3,
                   (size_t)wc * 3);
        memset(r->full, 0, (size_t)img->width * img->height);
    }
    r->bin = segc_arena_alloc_array(a, (size_t)wc * hc, 1);
    r->rle = segc_arena_alloc(a, (size_t)segc_rle_string_bound(img->width, img->height));
    const int n = segc_amg_layer_points_per_side(r->o->points_per_side, layer, r->o->crop_n_points_downscale_factor);
    double *grid = segc_arena_alloc_array(a, (size_t)n * n, 2 * sizeof(double));
    if (!r->bin || !r->rle || !grid) {
        st = SEGC_ERR_NOMEM;
        goto done;
    }
    segc_amg_point_grid(n, grid);
    segc_sam2_embedding emb;
    if ((st = segc_sam2_encode(r->model, r->ctx, &view, &emb)) != SEGC_OK) goto done;
    const int start = r->out->count;
    for (int i = 0; i < n * n && !st; i++) {
        /* point_grids[layer] * [w, h] in float64, then torch.as_tensor(float32) */
        const float point[2] = {(float)(grid[2 * i] * wc), (float)(grid[2 * i + 1] * hc)};
        st = process_point(r, &emb, point, crop);
    }
    if (st) goto done;
    const int cnt = r->out->count - start;
    float *scores = segc_arena_alloc_array(a, (size_t)(cnt > 0 ? cnt : 1), sizeof(float));
    if (!scores) {
        st = SEGC_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < cnt; i++) scores[i] = r->out->masks[start + i].predicted_iou;
    st = nms_filter(r, start, scores, r->o->box_nms_thresh);
done:
    r->full = NULL, r->bin = NULL, r->rle = NULL;
    segc_arena_release(a, mark);
    return st;
}

/* SAM's postprocess_small_regions (sam1_small_regions): holes then islands per full-size mask, changed
   masks score 0 and unchanged 1, box NMS; kept changed masks get their new RLE and box. */
static segc_status postprocess_small_regions(amg_run *r) {
    segc_arena *a = r->ctx->arena;
    const int n = r->out->count, W = r->img->width, H = r->img->height;
    if (n == 0) return SEGC_OK;
    segc_arena_mark mark = segc_arena_get_mark(a);
    segc_status st = SEGC_OK;
    float *scores = segc_arena_alloc_array(a, (size_t)n, sizeof(float));
    uint8_t *mask = segc_arena_alloc_array(a, (size_t)W * H, 1);
    char *buf = segc_arena_alloc(a, (size_t)segc_rle_string_bound(W, H));
    if (!scores || !mask || !buf) {
        st = SEGC_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < n && !st; i++) {
        segc_amg_mask *m = &r->out->masks[i];
        int holes = 0, islands = 0;
        if ((st = segc_amg_rle_decode(m->rle, W, H, mask)) ||
            (st = segc_amg_remove_small_regions(a, mask, W, H, r->o->min_mask_region_area, SEGC_AMG_HOLES, &holes)) ||
            (st = segc_amg_remove_small_regions(a, mask, W, H, r->o->min_mask_region_area, SEGC_AMG_ISLANDS, &islands)))
            break;
        scores[i] = holes || islands ? 0.0f : 1.0f;
        if (!holes && !islands) continue;
        /* a dropped record keeps nothing, so updating every changed one before the NMS is the same */
        segc_amg_mask_to_box(mask, W, H, m->box);
        const int64_t len = segc_rle_encode(mask, W, H, buf, segc_rle_string_bound(W, H), &m->area);
        if (len < 0) st = segc_fail(SEGC_ERR_INTERNAL, "amg: RLE buffer too small");
        else if (!(m->rle = store_string(r->out, buf, len))) st = SEGC_ERR_NOMEM;
    }
    /* generate() of SAM passes max(box_nms_thresh, crop_nms_thresh) */
    const double thresh = r->o->box_nms_thresh > r->o->crop_nms_thresh ? r->o->box_nms_thresh : r->o->crop_nms_thresh;
    if (!st) st = nms_filter(r, 0, scores, thresh);
done:
    segc_arena_release(a, mark);
    return st;
}

segc_status segc_amg_generate(const void *model, segc_ctx *ctx, const segc_image *img, const segc_amg_options *o,
                              segc_amg_result *out) {
    if (!out) return segc_fail(SEGC_ERR_INVALID_ARG, "amg: NULL result");
    memset(out, 0, sizeof *out);
    if (!model || !ctx || !ctx->arena || !img || !img->rgb)
        return segc_fail(SEGC_ERR_INVALID_ARG, "amg: NULL argument");
    if (img->width < 1 || img->height < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "amg: empty image");
    segc_status st = segc_amg_options_check(o);
    if (st) return st;
    segc_arena_init(&out->store, (size_t)1 << 20);
    out->width = img->width, out->height = img->height;
    segc_arena *a = ctx->arena;
    segc_arena_mark mark = segc_arena_get_mark(a);
    const int ncrops = segc_amg_num_crop_boxes(o->crop_n_layers);
    int(*crops)[4] = segc_arena_alloc_array(a, (size_t)ncrops, sizeof *crops);
    int *layers = segc_arena_alloc_array(a, (size_t)ncrops, sizeof(int));
    if (!crops || !layers) {
        st = SEGC_ERR_NOMEM;
        goto done;
    }
    segc_amg_crop_boxes(img->height, img->width, o->crop_n_layers, o->crop_overlap_ratio, crops, layers);
    int64_t capacity = 0;   /* at most one record per mask of every prompt */
    for (int c = 0; c < ncrops; c++) {
        const int64_t n =
            segc_amg_layer_points_per_side(o->points_per_side, layers[c], o->crop_n_points_downscale_factor);
        capacity += n * n * AMG_MAX_MASKS;
    }
    amg_run r = {model, ctx, o, img, out, (int)capacity, NULL, NULL, NULL};
    if (!(out->masks = segc_arena_alloc_array(&out->store, (size_t)capacity, sizeof(segc_amg_mask)))) {
        st = SEGC_ERR_NOMEM;
        goto done;
    }
    for (int c = 0; c < ncrops && !st; c++) st = process_crop(&r, crops[c], layers[c]);
    if (!st && ncrops > 1 && out->count > 0) {   /* prefer masks from smaller crops: score 1 / crop area */
        float *scores = segc_arena_alloc_array(a, (size_t)out->count, sizeof(float));
        if (!scores) st = SEGC_ERR_NOMEM;
        for (int i = 0; !st && i < out->count; i++) {
            const int *cb = out->masks[i].crop_box;
            scores[i] = 1.0f / (float)((int64_t)(cb[2] - cb[0]) * (cb[3] - cb[1]));
        }
        if (!st) st = nms_filter(&r, 0, scores, o->crop_nms_thresh);
    }
    if (!st && o->sam1_small_regions && o->min_mask_region_area > 0) st = postprocess_small_regions(&r);
done:
    segc_arena_release(a, mark);
    if (st) segc_amg_result_free(out);
    return st;
}

void segc_amg_result_free(segc_amg_result *r) {
    if (!r) return;
    segc_arena_free(&r->store);
    memset(r, 0, sizeof *r);
}
