/* maskrcnn_roi_heads.c - torchvision's RoIHeads for Mask R-CNN in eval mode (models/detection/roi_heads.py,
   faster_rcnn.py TwoMLPHead / FastRCNNPredictor, mask_rcnn.py MaskRCNNHeads / MaskRCNNPredictor,
   ops/poolers.py MultiScaleRoIAlign):
     box branch:  RoIAlign 7x7 -> fc6 + ReLU -> fc7 + ReLU -> cls_score, bbox_pred -> softmax, per-class
                  decoding (weights 10, 10, 5, 5), clip, drop background, score > thresh, small boxes,
                  per-class NMS, top detections_per_img
     mask branch: RoIAlign 14x14 -> 4 x (3x3 conv + ReLU) -> 2x2 transposed conv + ReLU -> 1x1 logits,
                  the detection's class channel.
   Dims: P proposals, D detections, K classes (with background), C = 256 FPN channels. */
#include <math.h>
#include <string.h>

#include "core/status.h"
#include "models/maskrcnn_internal.h"
#include "ops/act.h"
#include "ops/conv.h"
#include "ops/gemm.h"
#include "ops/nms.h"
#include "ops/roi_align.h"
#include "ops/softmax.h"

static const float BOX_WEIGHTS[4] = {10.0f, 10.0f, 5.0f, 5.0f};   /* RoIHeads' BoxCoder */
static const float BOX_MIN_SIZE = 1e-2f;
static const int BOX_POOL = 7, MASK_POOL = 14;
static const int CANONICAL_SCALE = 224, CANONICAL_LEVEL = 4;        /* LevelMapper defaults */
static const int ROI_K_MIN = 2;                                     /* level of FPN output '0' (stride 4) */

static segc_status load_linear(segc_params *p, const char *name, maskrcnn_linear *l) {
    char buf[128];
    segc_status st = segc_params_get(p, segc_params_name(buf, sizeof buf, "%s.weight", name), 2, NULL, &l->w);
    if (st) return st;
    int64_t bshape[1] = {l->w.shape[0]};
    return segc_params_get(p, segc_params_name(buf, sizeof buf, "%s.bias", name), 1, bshape, &l->b);
}

segc_status maskrcnn_roi_heads_load(segc_maskrcnn *m) {
    segc_params *p = &m->params;
    segc_status st;
    if ((st = load_linear(p, "roi_heads.box_head.fc6", &m->fc6)) || (st = load_linear(p, "roi_heads.box_head.fc7", &m->fc7)) ||
        (st = load_linear(p, "roi_heads.box_predictor.cls_score", &m->cls_score)) ||
        (st = load_linear(p, "roi_heads.box_predictor.bbox_pred", &m->bbox_pred)))
        return st;
    int64_t k = m->cls_score.w.shape[0];
    if (m->fc6.w.shape[1] != 256 * BOX_POOL * BOX_POOL || m->fc7.w.shape[1] != m->fc6.w.shape[0] ||
        m->cls_score.w.shape[1] != m->fc7.w.shape[0] || m->bbox_pred.w.shape[0] != 4 * k)
        return segc_fail(SEGC_ERR_SHAPE, "roi_heads: box head shapes do not chain (fc6 [1024, 12544], fc7, "
                         "cls_score [K, 1024], bbox_pred [4K, 1024] expected)");
    m->num_classes = (int)k;
    char name[64], current[64], legacy[64];
    for (int i = 0; i < 4; i++) {
        segc_params_name(current, sizeof current, "roi_heads.mask_head.%d.0", i);
        segc_params_name(legacy, sizeof legacy, "roi_heads.mask_head.mask_fcn%d", i + 1);
        maskrcnn_module(p, name, sizeof name, current, legacy);
        int64_t shape[4] = {256, 256, 3, 3};
        if ((st = segc_params_conv_bn(p, name, NULL, 0, shape, &m->mask_fcn[i].w, &m->mask_fcn[i].b)) ||
            (st = maskrcnn_conv_prepare_3x3(&m->mask_fcn[i])))
            return st;
    }
    int64_t up_shape[4] = {256, 256, 2, 2}, up_b[1] = {256};
    if ((st = segc_params_get(p, "roi_heads.mask_predictor.conv5_mask.weight", 4, up_shape, &m->mask_up_w)) ||
        (st = segc_params_get(p, "roi_heads.mask_predictor.conv5_mask.bias", 1, up_b, &m->mask_up_b)))
        return st;
    st = segc_params_conv_bn(p, "roi_heads.mask_predictor.mask_fcn_logits", NULL, 0, NULL, &m->mask_logits.w,
                             &m->mask_logits.b);
    if (st) return st;
    const segc_tensor *lw = &m->mask_logits.w;
    if (lw->ndim != 4 || lw->shape[0] != k || lw->shape[1] != up_shape[1] || lw->shape[2] != 1 || lw->shape[3] != 1)
        return segc_fail(SEGC_ERR_SHAPE, "roi_heads.mask_predictor.mask_fcn_logits.weight: want [%lld, %lld, 1, 1] "
                         "(K classes of the box predictor, conv5_mask's channels)", (long long)k,
                         (long long)up_shape[1]);
    return SEGC_OK;
}

/* FPN level (0-based among '0'..'3') of a box: LevelMapper, floor(4 + log2(sqrt(area) / 224) + 1e-6)
   clamped to [2, 5], computed in float32 as torchvision does. */
static int box_level(const float *b) {
    float s = sqrtf((b[2] - b[0]) * (b[3] - b[1]));
    float lvl = floorf((float)CANONICAL_LEVEL + log2f(s / (float)CANONICAL_SCALE) + 1e-6f);
    if (!(lvl >= (float)ROI_K_MIN)) lvl = (float)ROI_K_MIN;    /* NaN (negative area) clamps low, as torch.clamp */
    if (lvl > (float)(ROI_K_MIN + MASKRCNN_ROI_LEVELS - 1)) lvl = (float)(ROI_K_MIN + MASKRCNN_ROI_LEVELS - 1);
    return (int)lvl - ROI_K_MIN;
}

segc_status maskrcnn_multiscale_roi_align(segc_arena *arena, const segc_tensor feats[MASKRCNN_FPN_LEVELS],
                                          const segc_tensor *boxes, int image_h, int image_w, int size,
                                          segc_tensor *out) {
    int64_t r = boxes->shape[0];
    int64_t c = feats[0].shape[1];
    segc_status st = segc_tensor_new_f32(arena, out, 4, r, c, size, size);
    if (st || r == 0) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor rois;
    int64_t *idx = segc_arena_alloc_array(arena, (size_t)r, sizeof(int64_t));
    if (!idx) return SEGC_ERR_NOMEM;
    if ((st = segc_tensor_new_f32(arena, &rois, 2, r, 5, 0, 0))) return st;
    const float *bx = boxes->data;
    float *rp = rois.data;
    for (int64_t i = 0; i < r; i++) {
        rp[5 * i] = 0.0f;
        memcpy(rp + 5 * i + 1, bx + 4 * i, 4 * sizeof(float));
    }
    (void)image_w;
    for (int level = 0; level < MASKRCNN_ROI_LEVELS && !st; level++) {
        int64_t n = 0;
        for (int64_t i = 0; i < r; i++)
            if (box_level(bx + 4 * i) == level) idx[n++] = i;
        if (n == 0) continue;
        /* _infer_scale: 2^round(log2(feature height / image height)) */
        double approx = (double)feats[level].shape[2] / (double)image_h;
        segc_roi_align_params p = {size, size, (float)exp2(nearbyint(log2(approx))), 2, 0};
        st = segc_roi_align_subset(arena, &feats[level], &rois, idx, n, &p, out);
    }
    segc_arena_release(arena, mark);
    return st;
}

/* y = act(x W^T + b) for x [R, in] -> y [R, out] from the arena. */
static segc_status linear_new(segc_arena *arena, const segc_tensor *x, const maskrcnn_linear *l, segc_act act,
                              segc_tensor *y) {
    segc_status st = segc_tensor_new_f32(arena, y, 2, x->shape[0], l->w.shape[0], 0, 0);
    if (!st) st = segc_linear(x, &l->w, &l->b, y);
    if (!st && act != SEGC_ACT_NONE) st = segc_act_tensor(act, y);
    return st;
}

/* postprocess_detections for one image: candidates (class >= 1, softmax score > thresh) -> NMS -> top n,
   written into boxes/scores/labels (allocated with room for s->detections_per_img; dim 0 set to the count). */
static segc_status select_detections(const segc_maskrcnn *m, segc_arena *arena, const float *pred_boxes,
                                     const float *probs, int64_t p, const segc_maskrcnn_settings *s,
                                     segc_tensor *boxes, segc_tensor *scores, segc_tensor *labels) {
    int64_t k = m->num_classes, cap = p * (k - 1);
    float *cb = segc_arena_alloc_array(arena, (size_t)(cap > 0 ? cap : 1) * 4, sizeof(float));
    float *cs = segc_arena_alloc_array(arena, (size_t)(cap > 0 ? cap : 1), sizeof(float));
    int32_t *cl = segc_arena_alloc_array(arena, (size_t)(cap > 0 ? cap : 1), sizeof(int32_t));
    int64_t *keep = segc_arena_alloc_array(arena, (size_t)(cap > 0 ? cap : 1), sizeof(int64_t));
    if (!cb || !cs || !cl || !keep) return SEGC_ERR_NOMEM;
    int64_t n = 0;
    for (int64_t i = 0; i < p; i++)          /* order of boxes[:, 1:].reshape(-1) */
        for (int64_t c = 1; c < k; c++) {
            float sc = probs[i * k + c];
            if (!(sc > s->box_score_thresh)) continue;
            memcpy(cb + 4 * n, pred_boxes + (i * k + c) * 4, 4 * sizeof(float));
            cs[n] = sc;
            cl[n] = (int32_t)c;
            n++;
        }
    int64_t bshape[2] = {n, 4};
    segc_tensor bt = segc_tensor_wrap(SEGC_F32, 2, bshape, cb), stt = segc_tensor_wrap(SEGC_F32, 1, &n, cs);
    int64_t kept = 0;
    segc_status st = segc_remove_small_boxes(&bt, BOX_MIN_SIZE, keep, &kept);
    if (st) return st;
    for (int64_t j = 0; j < kept; j++) {     /* compact in place; keep is ascending */
        memmove(cb + 4 * j, cb + 4 * keep[j], 4 * sizeof(float));
        cs[j] = cs[keep[j]];
        cl[j] = cl[keep[j]];
    }
    n = kept;
    bshape[0] = n;
    bt = segc_tensor_wrap(SEGC_F32, 2, bshape, cb);
    stt = segc_tensor_wrap(SEGC_F32, 1, &n, cs);
    if ((st = segc_batched_nms(arena, &bt, &stt, cl, s->box_nms_thresh, keep, &kept))) return st;
    if (kept > boxes->shape[0]) kept = boxes->shape[0];
    boxes->shape[0] = scores->shape[0] = labels->shape[0] = kept;
    float *ob = boxes->data, *os = scores->data;
    int32_t *ol = labels->data;
    for (int64_t j = 0; j < kept; j++) {
        memcpy(ob + 4 * j, cb + 4 * keep[j], 4 * sizeof(float));
        os[j] = cs[keep[j]];
        ol[j] = cl[keep[j]];
    }
    return SEGC_OK;
}

static segc_status box_head(const segc_maskrcnn *m, segc_ctx *ctx, const segc_tensor feats[MASKRCNN_FPN_LEVELS],
                            const segc_tensor *proposals, int image_h, int image_w, const segc_maskrcnn_settings *s,
                            segc_tensor *boxes, segc_tensor *scores, segc_tensor *labels);

segc_status maskrcnn_box_forward(const segc_maskrcnn *m, segc_ctx *ctx, const segc_tensor feats[MASKRCNN_FPN_LEVELS],
                                 const segc_tensor *proposals, int image_h, int image_w,
                                 const segc_maskrcnn_settings *s, segc_tensor *boxes, segc_tensor *scores,
                                 segc_tensor *labels) {
    segc_arena *arena = ctx->arena;
    int64_t p = proposals->shape[0], k = m->num_classes;
    if (s->detections_per_img < 0)
        return segc_fail(SEGC_ERR_INVALID_ARG, "detections_per_img is %d", s->detections_per_img);
    /* the outputs first, so every temporary after them is released at the end */
    int64_t cap = p * (k - 1) < s->detections_per_img ? p * (k - 1) : s->detections_per_img;
    segc_status st;
    if ((st = segc_tensor_new_f32(arena, boxes, 2, cap, 4, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, scores, 1, cap, 0, 0, 0)) || (st = segc_tensor_new(arena, SEGC_I32, 1, &cap, labels)))
        return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    st = box_head(m, ctx, feats, proposals, image_h, image_w, s, boxes, scores, labels);
    segc_arena_release(arena, mark);
    return st;
}

/* maskrcnn_box_forward's work; every allocation here is a temporary. */
static segc_status box_head(const segc_maskrcnn *m, segc_ctx *ctx, const segc_tensor feats[MASKRCNN_FPN_LEVELS],
                            const segc_tensor *proposals, int image_h, int image_w, const segc_maskrcnn_settings *s,
                            segc_tensor *boxes, segc_tensor *scores, segc_tensor *labels) {
    segc_arena *arena = ctx->arena;
    int64_t p = proposals->shape[0], k = m->num_classes;
    segc_tensor pooled, flat, h6, h7, logits, deltas;
    segc_status st = maskrcnn_multiscale_roi_align(arena, feats, proposals, image_h, image_w, BOX_POOL, &pooled);
    if (st) return st;
    int64_t fshape[2] = {p, pooled.shape[1] * BOX_POOL * BOX_POOL};
    if ((st = segc_tensor_reshape(&pooled, 2, fshape, &flat)) ||
        (st = linear_new(arena, &flat, &m->fc6, SEGC_ACT_RELU, &h6)) ||
        (st = linear_new(arena, &h6, &m->fc7, SEGC_ACT_RELU, &h7)) ||
        (st = linear_new(arena, &h7, &m->cls_score, SEGC_ACT_NONE, &logits)) ||
        (st = linear_new(arena, &h7, &m->bbox_pred, SEGC_ACT_NONE, &deltas)) ||
        (st = segc_tap(ctx, "roi_heads.box_predictor.cls_score", &logits)) ||
        (st = segc_tap(ctx, "roi_heads.box_predictor.bbox_pred", &deltas)))
        return st;

    /* decode every (proposal, class) pair, then softmax the logits in place */
    segc_tensor pred, probs;
    if ((st = segc_tensor_new_f32(arena, &pred, 2, p * k, 4, 0, 0))) return st;
    const float *pb = proposals->data, *dl = deltas.data;
    float *pr = pred.data;
    for (int64_t i = 0; i < p; i++)
        for (int64_t c = 0; c < k; c++) maskrcnn_decode_boxes(dl + (i * k + c) * 4, pb + 4 * i, 1, BOX_WEIGHTS, pr + (i * k + c) * 4);
    int64_t pshape[2] = {p * k, 4};
    segc_tensor pred_view = segc_tensor_wrap(SEGC_F32, 2, pshape, pr);
    if ((st = segc_clip_boxes_to_image(&pred_view, image_h, image_w))) return st;
    if ((st = segc_tensor_contiguous(arena, &logits, &probs)) || (st = segc_softmax_inplace(&probs))) return st;
    return select_detections(m, arena, pr, probs.data, p, s, boxes, scores, labels);
}

/* mask_fcn_logits restricted to each detection's class: y [D, C, M, M] -> out [D, M, M] with
   out[i] = w[label_i] . y[i] + b[label_i] (the 1x1 conv of all K classes would compute K planes per
   detection and keep one). */
static void class_logits(const segc_maskrcnn *m, const segc_tensor *y, const int32_t *labels, segc_tensor *out) {
    const int64_t d = y->shape[0], c = y->shape[1], plane = y->shape[2] * y->shape[3];
    const float *w = m->mask_logits.w.data, *b = m->mask_logits.b.data, *src = y->data;
    float *dst = out->data;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < d; i++) {
        const float *wl = w + (int64_t)labels[i] * c, *yi = src + i * c * plane;
        float *o = dst + i * plane;
        for (int64_t q = 0; q < plane; q++) o[q] = b[labels[i]];
        for (int64_t ch = 0; ch < c; ch++) {
            const float wc = wl[ch], *yc = yi + ch * plane;
            for (int64_t q = 0; q < plane; q++) o[q] += wc * yc[q];
        }
    }
}

segc_status maskrcnn_mask_forward(const segc_maskrcnn *m, segc_ctx *ctx, const segc_tensor feats[MASKRCNN_FPN_LEVELS],
                                  const segc_tensor *boxes, const segc_tensor *labels, int image_h, int image_w,
                                  segc_tensor *mask_logits) {
    segc_arena *arena = ctx->arena;
    int64_t d = boxes->shape[0];
    int64_t ms = 2 * MASK_POOL;
    segc_status st = segc_tensor_new_f32(arena, mask_logits, 3, d, ms, ms, 0);
    if (st || d == 0) return st;
    const int32_t *lb = labels->data;
    for (int64_t i = 0; i < d; i++)
        if (lb[i] < 0 || lb[i] >= m->num_classes)
            return segc_fail(SEGC_ERR_INVALID_ARG, "mask head: detection %lld has label %d, not in [0, %d)",
                             (long long)i, lb[i], m->num_classes);
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor x, y;
    st = maskrcnn_multiscale_roi_align(arena, feats, boxes, image_h, image_w, MASK_POOL, &x);
    for (int i = 0; i < 4 && !st; i++) {
        st = maskrcnn_conv3x3_new(arena, &x, &m->mask_fcn[i], SEGC_ACT_RELU, &y);
        x = y;
    }
    if (!st) st = segc_tensor_new_f32(arena, &y, 4, d, m->mask_up_w.shape[1], ms, ms);
    if (!st) st = segc_conv_transpose2d(arena, &x, &m->mask_up_w, &m->mask_up_b, 2, 0, &y);
    if (!st) st = segc_act_tensor(SEGC_ACT_RELU, &y);
    if (!st) {
        class_logits(m, &y, lb, mask_logits);
        st = segc_tap(ctx, "roi_heads.mask_logits", mask_logits);
    }
    segc_arena_release(arena, mark);
    return st;
}
