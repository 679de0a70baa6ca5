/* maskrcnn_rpn.c - the region proposal network of torchvision's Mask R-CNN (models/detection/rpn.py,
   anchor_utils.py): a shared 3x3 conv + ReLU, 1x1 objectness and box-delta convs on each FPN level,
   anchors of size 32 * 2^level with aspect ratios 0.5, 1, 2, per-level pre-NMS top-n, decoding, clipping,
   small-box removal, score threshold, NMS per level, post-NMS top-n.
   Dims: A anchors per location (3), h x w a level's map, P proposals. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "models/maskrcnn_internal.h"
#include "ops/act.h"
#include "ops/conv.h"
#include "ops/nms.h"
#include "ops/topk.h"

static const float ANCHOR_RATIOS[3] = {0.5f, 1.0f, 2.0f};   /* AnchorGenerator aspect_ratios (h / w) */
static const int ANCHOR_SIZE_LEVEL0 = 32;                   /* sizes ((32,), (64,), ..., (512,)) */
static const float RPN_BOX_WEIGHTS[4] = {1.0f, 1.0f, 1.0f, 1.0f};
static const float RPN_MIN_SIZE = 1e-3f;

segc_status maskrcnn_rpn_load(segc_maskrcnn *m) {
    segc_params *p = &m->params;
    char mod[64];
    maskrcnn_module(p, mod, sizeof mod, "rpn.head.conv.0.0", "rpn.head.conv");
    segc_status st = segc_params_conv_bn(p, mod, NULL, 0, NULL, &m->rpn_conv.w, &m->rpn_conv.b);
    if (st) return st;
    int64_t c = m->rpn_conv.w.shape[0];
    if (m->rpn_conv.w.shape[1] != c || m->rpn_conv.w.shape[2] != 3 || m->rpn_conv.w.shape[3] != 3)
        return segc_fail(SEGC_ERR_SHAPE, "rpn.head.conv.0.0.weight: expected [C, C, 3, 3]");
    if ((st = maskrcnn_conv_prepare_3x3(&m->rpn_conv))) return st;
    if ((st = segc_params_conv_bn(p, "rpn.head.cls_logits", NULL, 0, NULL, &m->rpn_cls.w, &m->rpn_cls.b))) return st;
    if ((st = segc_params_conv_bn(p, "rpn.head.bbox_pred", NULL, 0, NULL, &m->rpn_bbox.w, &m->rpn_bbox.b))) return st;
    m->num_anchors = (int)m->rpn_cls.w.shape[0];
    if (m->num_anchors != 3 || m->rpn_bbox.w.shape[0] != 4 * m->num_anchors || m->rpn_cls.w.shape[1] != c)
        return segc_fail(SEGC_ERR_SHAPE, "rpn head: expected 3 anchors per location (cls_logits [3, %lld, 1, 1], "
                         "bbox_pred [12, %lld, 1, 1])", (long long)c, (long long)c);
    return SEGC_OK;
}

/* Cell anchors of one level, AnchorGenerator.generate_anchors: [A, 4] centred at 0, rounded
   half-to-even like torch.round. */
static void cell_anchors(int level, float out[3][4]) {
    float size = (float)(ANCHOR_SIZE_LEVEL0 << level);
    for (int a = 0; a < 3; a++) {
        float h_ratio = sqrtf(ANCHOR_RATIOS[a]);
        float w_ratio = 1.0f / h_ratio;
        float ws = w_ratio * size, hs = h_ratio * size;
        out[a][0] = nearbyintf(-ws / 2.0f);
        out[a][1] = nearbyintf(-hs / 2.0f);
        out[a][2] = nearbyintf(ws / 2.0f);
        out[a][3] = nearbyintf(hs / 2.0f);
    }
}

/* The anchor of flattened index i = (y * w + x) * A + a on a level with the given strides. */
static void anchor_at(const float cell[3][4], int64_t i, int64_t w, int64_t stride_h, int64_t stride_w,
                      float out[4]) {
    int64_t a = i % 3, loc = i / 3;
    float sx = (float)((loc % w) * stride_w), sy = (float)((loc / w) * stride_h);
    out[0] = sx + cell[a][0];
    out[1] = sy + cell[a][1];
    out[2] = sx + cell[a][2];
    out[3] = sy + cell[a][3];
}

/* Head on one level: feat [1, C, h, w] -> objectness logits [1, A, h, w], deltas [1, 4A, h, w]. */
static segc_status rpn_head(const segc_maskrcnn *m, segc_ctx *ctx, int level, const segc_tensor *feat,
                            segc_tensor *logits, segc_tensor *deltas) {
    segc_conv2d_params p1 = segc_conv2d_params_make(1, 0, 1, 1);
    segc_tensor t;
    segc_status st = maskrcnn_conv3x3_new(ctx->arena, feat, &m->rpn_conv, SEGC_ACT_RELU, &t);
    if (!st) st = segc_conv2d_new(ctx->arena, &t, &m->rpn_cls.w, &m->rpn_cls.b, &p1, logits);
    if (!st) st = segc_conv2d_new(ctx->arena, &t, &m->rpn_bbox.w, &m->rpn_bbox.b, &p1, deltas);
    if (!st) st = segc_tapf(ctx, logits, "rpn.head.cls_logits.%d", level);
    if (!st) st = segc_tapf(ctx, deltas, "rpn.head.bbox_pred.%d", level);
    return st;
}

/* Candidates gathered over the levels before NMS. */
typedef struct rpn_candidates {
    int64_t count;
    float *boxes;       /* [count, 4] */
    float *scores;      /* [count] sigmoid objectness */
    int32_t *levels;    /* [count] */
} rpn_candidates;

/* Per-level top-n of the objectness, decoded against their anchors (filter_proposals' first half). */
static segc_status collect_level(const segc_maskrcnn *m, segc_arena *arena, int level, const segc_tensor *logits,
                                 const segc_tensor *deltas, int pad_h, int pad_w, int top_n, rpn_candidates *c) {
    int64_t h = logits->shape[2], w = logits->shape[3], hw = h * w, n = hw * m->num_anchors;
    const float *lg = logits->data, *dl = deltas->data;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    float *flat = segc_arena_alloc_array(arena, (size_t)n, sizeof(float));
    if (!flat) return SEGC_ERR_NOMEM;   /* reason set by the arena */
    /* permute_and_flatten: [1, A, h, w] -> index (y * w + x) * A + a */
    for (int64_t a = 0; a < m->num_anchors; a++)
        for (int64_t i = 0; i < hw; i++) flat[i * m->num_anchors + a] = lg[a * hw + i];
    int64_t k = n < top_n ? n : top_n;
    float *vals = segc_arena_alloc_array(arena, (size_t)k, sizeof(float));
    int64_t *idx = segc_arena_alloc_array(arena, (size_t)k, sizeof(int64_t));
    if (!vals || !idx) return SEGC_ERR_NOMEM;   /* reason set by the arena */
    segc_status st = segc_topk(flat, n, k, vals, idx);
    if (st) return st;
    float cell[3][4];
    cell_anchors(level, cell);
    int64_t stride_h = pad_h / h, stride_w = pad_w / w;   /* image_size // grid_size */
    for (int64_t j = 0; j < k; j++) {
        int64_t i = idx[j], a = i % m->num_anchors, loc = i / m->num_anchors;
        float anchor[4], d[4];
        anchor_at(cell, i, w, stride_h, stride_w, anchor);
        for (int q = 0; q < 4; q++) d[q] = dl[(a * 4 + q) * hw + loc];
        float *box = c->boxes + 4 * (c->count + j);
        maskrcnn_decode_boxes(d, anchor, 1, RPN_BOX_WEIGHTS, box);
        c->scores[c->count + j] = 1.0f / (1.0f + expf(-vals[j]));
        c->levels[c->count + j] = level;
    }
    c->count += k;
    segc_arena_release(arena, mark);
    return SEGC_OK;
}

/* Keeps candidates[keep[0..n)] in place, in that order. */
static void compact(rpn_candidates *c, const int64_t *keep, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        int64_t i = keep[j];
        memmove(c->boxes + 4 * j, c->boxes + 4 * i, 4 * sizeof(float));
        c->scores[j] = c->scores[i];
        c->levels[j] = c->levels[i];
    }
    c->count = n;
}

segc_status maskrcnn_rpn_forward(const segc_maskrcnn *m, segc_ctx *ctx, const segc_tensor feats[MASKRCNN_FPN_LEVELS],
                                 int image_h, int image_w, int pad_h, int pad_w,
                                 const segc_maskrcnn_settings *s, segc_tensor *proposals, segc_tensor *scores) {
    segc_arena *arena = ctx->arena;
    int64_t max_candidates = (int64_t)MASKRCNN_FPN_LEVELS * s->rpn_pre_nms_top_n;
    rpn_candidates c = {0, NULL, NULL, NULL};
    c.boxes = segc_arena_alloc_array(arena, (size_t)max_candidates * 4, sizeof(float));
    c.scores = segc_arena_alloc_array(arena, (size_t)max_candidates, sizeof(float));
    c.levels = segc_arena_alloc_array(arena, (size_t)max_candidates, sizeof(int32_t));
    int64_t *keep = segc_arena_alloc_array(arena, (size_t)max_candidates, sizeof(int64_t));
    if (!c.boxes || !c.scores || !c.levels || !keep) return SEGC_ERR_NOMEM;   /* reason set by the arena */

    for (int level = 0; level < MASKRCNN_FPN_LEVELS; level++) {
        segc_arena_mark mark = segc_arena_get_mark(arena);
        segc_tensor logits, deltas;
        segc_status st = rpn_head(m, ctx, level, &feats[level], &logits, &deltas);
        if (!st) st = collect_level(m, arena, level, &logits, &deltas, pad_h, pad_w, s->rpn_pre_nms_top_n, &c);
        segc_arena_release(arena, mark);
        if (st) return st;
    }

    int64_t bshape[2] = {c.count, 4};
    segc_tensor boxes_t = segc_tensor_wrap(SEGC_F32, 2, bshape, c.boxes);
    segc_status st = segc_clip_boxes_to_image(&boxes_t, image_h, image_w);
    int64_t n = 0;
    if (!st) st = segc_remove_small_boxes(&boxes_t, RPN_MIN_SIZE, keep, &n);
    if (st) return st;
    compact(&c, keep, n);
    n = 0;
    for (int64_t i = 0; i < c.count; i++)
        if (c.scores[i] >= s->rpn_score_thresh) keep[n++] = i;
    compact(&c, keep, n);

    bshape[0] = c.count;
    boxes_t = segc_tensor_wrap(SEGC_F32, 2, bshape, c.boxes);
    segc_tensor scores_t = segc_tensor_wrap(SEGC_F32, 1, &c.count, c.scores);
    if ((st = segc_batched_nms(arena, &boxes_t, &scores_t, c.levels, s->rpn_nms_thresh, keep, &n))) return st;
    if (n > s->rpn_post_nms_top_n) n = s->rpn_post_nms_top_n;

    if ((st = segc_tensor_new_f32(arena, proposals, 2, n, 4, 0, 0))) return st;
    if ((st = segc_tensor_new_f32(arena, scores, 1, n, 0, 0, 0))) return st;
    float *pb = proposals->data, *ps = scores->data;
    for (int64_t j = 0; j < n; j++) {
        memcpy(pb + 4 * j, c.boxes + 4 * keep[j], 4 * sizeof(float));
        ps[j] = c.scores[keep[j]];
    }
    if ((st = segc_tap(ctx, "rpn.proposals", proposals))) return st;
    return segc_tap(ctx, "rpn.proposal_scores", scores);
}
