/* maskrcnn.c - Mask R-CNN: loading, GeneralizedRCNNTransform (models/detection/transform.py) and the
   pass from image to pasted masks (generalized_rcnn.py). The stages live in maskrcnn_backbone.c,
   maskrcnn_rpn.c, maskrcnn_roi_heads.c and maskrcnn_post.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "models/maskrcnn_internal.h"
#include "ops/act.h"
#include "ops/resize.h"

static const int SIZE_DIVISIBLE = 32;   /* GeneralizedRCNNTransform.batch_images */
/* Largest min_size / max_size accepted (so the resized long side is <= this; torchvision has no cap,
   but 16384 px already needs ~16 GB of activations). */
static const int MAX_RESIZED_SIDE = 16384;
/* Largest top-n / detection count accepted (the defaults are 1000 and 100). */
static const int MAX_TOP_N = 1 << 20;
static const float IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f}, IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

void segc_maskrcnn_settings_default(segc_maskrcnn_settings *s) {
    s->min_size = 800;
    s->max_size = 1333;
    s->rpn_pre_nms_top_n = 1000;
    s->rpn_post_nms_top_n = 1000;
    s->rpn_nms_thresh = 0.7f;
    s->rpn_score_thresh = 0.0f;
    s->box_score_thresh = 0.05f;
    s->box_nms_thresh = 0.5f;
    s->detections_per_img = 100;
    s->mask_thresh = 0.5f;
    s->paste_masks = 1;
}

void segc_maskrcnn_free(void *model) {
    segc_maskrcnn *m = model;
    if (!m) return;
    if (m->body_loaded) segc_resnet_free(&m->body);
    for (int i = 0; i < 4; i++) {
        maskrcnn_conv_free(&m->fpn_layer[i]);
        maskrcnn_conv_free(&m->mask_fcn[i]);
    }
    maskrcnn_conv_free(&m->rpn_conv);
    segc_params_free(&m->params);
    free(m);
}

/* mean/std from the file ("input.mean", "input.std", 0-1 scale) or ImageNet's. */
static void load_normalization(const segc_file *f, segc_maskrcnn *m) {
    memcpy(m->mean, IMAGENET_MEAN, sizeof m->mean);
    memcpy(m->std, IMAGENET_STD, sizeof m->std);
    float v[3];
    if (segc_file_kv_find(f, "input.mean") && !segc_file_get_floats(f, "input.mean", v, 3)) memcpy(m->mean, v, sizeof v);
    if (segc_file_kv_find(f, "input.std") && !segc_file_get_floats(f, "input.std", v, 3)) memcpy(m->std, v, sizeof v);
    segc_clear_error();
}

segc_status segc_maskrcnn_load(const segc_file *f, void **model) {
    *model = NULL;
    segc_maskrcnn *m = calloc(1, sizeof *m);
    if (!m) return segc_fail(SEGC_ERR_NOMEM, "maskrcnn: out of memory");
    segc_params_init(&m->params, f);
    load_normalization(f, m);
    segc_status st = maskrcnn_backbone_load(m);
    if (!st) st = maskrcnn_rpn_load(m);
    if (!st) st = maskrcnn_roi_heads_load(m);
    if (!st) {
        const segc_kv *kv = segc_file_kv_find(f, "class_names");
        if (kv && kv->type == SEGC_KV_STRING_ARRAY && kv->count == m->num_classes) m->class_names = kv->strs;
    }
    if (st) {
        segc_maskrcnn_free(m);
        return segc_fail_context(st, "maskrcnn");
    }
    *model = m;
    return SEGC_OK;
}

const char *const *segc_maskrcnn_class_names(const void *model, int *n) {
    const segc_maskrcnn *m = model;
    *n = m->class_names ? m->num_classes : 0;
    return m->class_names;
}

/* GeneralizedRCNNTransform: normalize, resize (short side min_size, long side <= max_size, bilinear,
   scale computed in float32 and applied with recompute_scale_factor), zero-pad to a multiple of 32.
   out: [1, 3, Hp, Wp]; *rh, *rw: the resized size before padding. */
static segc_status transform(const segc_maskrcnn *m, segc_ctx *ctx, const segc_image *img,
                             const segc_maskrcnn_settings *s, segc_tensor *out, int *rh, int *rw) {
    segc_arena *arena = ctx->arena;
    float min_side = (float)(img->height < img->width ? img->height : img->width);
    float max_side = (float)(img->height > img->width ? img->height : img->width);
    /* torchvision writes self_min_size / min_size with a float32 tensor on the right, which PyTorch
       evaluates as min_size.reciprocal() * self_min_size: the rounding matters (750 -> 799, not 800). */
    float scale_min = (1.0f / min_side) * (float)s->min_size, scale_max = (1.0f / max_side) * (float)s->max_size;
    float scale = scale_min < scale_max ? scale_min : scale_max;
    int64_t h = (int64_t)floor((double)img->height * (double)scale);
    int64_t w = (int64_t)floor((double)img->width * (double)scale);
    if (h < 1 || w < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "maskrcnn: a %dx%d image resizes to %lldx%lld, nothing is left",
                         img->width, img->height, (long long)w, (long long)h);
    int64_t ph = (h + SIZE_DIVISIBLE - 1) / SIZE_DIVISIBLE * SIZE_DIVISIBLE;
    int64_t pw = (w + SIZE_DIVISIBLE - 1) / SIZE_DIVISIBLE * SIZE_DIVISIBLE;
    segc_status st = segc_tensor_new_f32(arena, out, 4, 1, 3, ph, pw);
    if (st) return st;
    segc_tensor_fill_f32(out, 0.0f);
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor norm, region;
    segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    st = segc_image_normalize(arena, img, m->mean, m->std, 0, &norm);
    if (!st) st = segc_tensor_narrow(out, 2, 0, h, &region);
    if (!st) st = segc_tensor_narrow(&region, 3, 0, w, &region);
    if (!st) st = segc_resize(arena, &norm, &rp, &region);
    segc_arena_release(arena, mark);
    *rh = (int)h;
    *rw = (int)w;
    if (!st) st = segc_tap(ctx, "transform.batched_input", out);
    return st;
}

/* transform.postprocess: boxes [D, 4] from resized to original coordinates (ratios in float32). */
static void resize_boxes(float *boxes, int64_t d, int rh, int rw, int oh, int ow) {
    float ratio_h = (float)oh / (float)rh, ratio_w = (float)ow / (float)rw;
    for (int64_t i = 0; i < d; i++) {
        boxes[4 * i] *= ratio_w;
        boxes[4 * i + 1] *= ratio_h;
        boxes[4 * i + 2] *= ratio_w;
        boxes[4 * i + 3] *= ratio_h;
    }
}

/* Settings that would make the pass meaningless or unbounded are refused with a message. */
static segc_status check_settings(const segc_maskrcnn_settings *s) {
    if (s->min_size < 1 || s->max_size < 1 || s->min_size > MAX_RESIZED_SIDE || s->max_size > MAX_RESIZED_SIDE)
        return segc_fail(SEGC_ERR_INVALID_ARG, "maskrcnn: min_size %d / max_size %d, want 1..%d", s->min_size,
                         s->max_size, MAX_RESIZED_SIDE);
    if (s->rpn_pre_nms_top_n < 0 || s->rpn_post_nms_top_n < 0 || s->detections_per_img < 0 ||
        s->rpn_pre_nms_top_n > MAX_TOP_N || s->rpn_post_nms_top_n > MAX_TOP_N || s->detections_per_img > MAX_TOP_N)
        return segc_fail(SEGC_ERR_INVALID_ARG, "maskrcnn: rpn top-n %d / %d and detections_per_img %d, want 0..%d",
                         s->rpn_pre_nms_top_n, s->rpn_post_nms_top_n, s->detections_per_img, MAX_TOP_N);
    return SEGC_OK;
}

segc_status segc_maskrcnn_detect(const void *model, segc_ctx *ctx, const segc_image *img,
                                 const segc_maskrcnn_settings *settings, segc_detections *out) {
    const segc_maskrcnn *m = model;
    segc_maskrcnn_settings defaults;
    if (!settings) {
        segc_maskrcnn_settings_default(&defaults);
        settings = &defaults;
    }
    memset(out, 0, sizeof *out);
    if (!img || !img->rgb || img->width < 1 || img->height < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "maskrcnn: empty image");
    segc_status st = check_settings(settings);
    if (st) return st;
    segc_arena *arena = ctx->arena;
    segc_tensor x, feats[MASKRCNN_FPN_LEVELS], proposals, pscores, boxes, scores, labels, mask_logits;
    int rh = 0, rw = 0;
    st = transform(m, ctx, img, settings, &x, &rh, &rw);
    if (!st) st = maskrcnn_backbone_forward(m, ctx, &x, feats);
    if (!st) st = maskrcnn_rpn_forward(m, ctx, feats, rh, rw, (int)x.shape[2], (int)x.shape[3], settings, &proposals,
                                       &pscores);
    if (!st) st = maskrcnn_box_forward(m, ctx, feats, &proposals, rh, rw, settings, &boxes, &scores, &labels);
    if (!st) st = maskrcnn_mask_forward(m, ctx, feats, &boxes, &labels, rh, rw, &mask_logits);
    if (st) return st;

    int64_t d = boxes.shape[0];
    out->count = (int)d;
    out->boxes = boxes.data;
    out->scores = scores.data;
    out->labels = labels.data;
    out->mask_size = (int)mask_logits.shape[1];
    out->mask_logits = mask_logits.data;
    out->width = img->width;
    out->height = img->height;
    resize_boxes(out->boxes, d, rh, rw, img->height, img->width);
    if ((st = segc_tap(ctx, "detections.boxes", &boxes)) || (st = segc_tap(ctx, "detections.scores", &scores)) ||
        (st = segc_tap(ctx, "detections.labels", &labels)))
        return st;
    if (!settings->paste_masks || d == 0) return SEGC_OK;

    size_t plane = (size_t)img->width * (size_t)img->height;
    out->masks = segc_arena_alloc_array(arena, (size_t)d, plane);
    if (!out->masks) return SEGC_ERR_NOMEM;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    size_t mm = (size_t)out->mask_size * (size_t)out->mask_size;
    float *prob = segc_arena_alloc_array(arena, (size_t)d * mm, sizeof(float));
    if (!prob) return SEGC_ERR_NOMEM;
    memcpy(prob, out->mask_logits, sizeof(float) * (size_t)d * mm);
    segc_act_apply(SEGC_ACT_SIGMOID, prob, (size_t)d * mm);
    st = maskrcnn_paste_masks(arena, prob, d, out->mask_size, out->boxes, img->height, img->width,
                              settings->mask_thresh, out->masks);
    segc_arena_release(arena, mark);
    if (st) return st;
    int64_t mshape[3] = {d, img->height, img->width};
    segc_tensor masks = segc_tensor_wrap(SEGC_U8, 3, mshape, out->masks);
    return segc_tap(ctx, "detections.masks", &masks);
}
