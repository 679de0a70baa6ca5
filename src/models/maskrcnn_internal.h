/* maskrcnn_internal.h - the Mask R-CNN model struct and the functions its files share
   (maskrcnn.c: load, transform, orchestration; maskrcnn_backbone.c: ResNet + FPN; maskrcnn_rpn.c:
   anchors, RPN head, proposals; maskrcnn_roi_heads.c: MultiScaleRoIAlign, box and mask heads;
   maskrcnn_post.c: box decoding and mask pasting). Not part of the public API.
   Dims: A anchors per location, P proposals, K classes (with background), D detections. */
#ifndef SEGC_MODELS_MASKRCNN_INTERNAL_H
#define SEGC_MODELS_MASKRCNN_INTERNAL_H

#include "models/maskrcnn.h"
#include "nn/params.h"
#include "nn/resnet.h"
#include "ops/winograd.h"

#define MASKRCNN_FPN_LEVELS 5      /* '0', '1', '2', '3', 'pool' */
#define MASKRCNN_ROI_LEVELS 4      /* RoIAlign uses '0'..'3' */
#define MASKRCNN_FROZEN_BN_EPS 1e-5f

typedef struct maskrcnn_conv {
    segc_tensor w, b;          /* [K, C, R, S], [K] (BN folded) */
    segc_winograd_weights wg;  /* 3x3 stride-1 convs: the Winograd-transformed w (u NULL otherwise) */
} maskrcnn_conv;

typedef struct maskrcnn_linear {
    segc_tensor w, b;   /* [out, in], [out] */
} maskrcnn_linear;

struct segc_maskrcnn {
    segc_params params;
    int num_classes;                  /* K, with background */
    const char *const *class_names;   /* K names from the file (may be NULL) */
    float mean[3], std[3];            /* 0-1 scale, RGB */

    /* backbone.body (ResNet-50/101, frozen BN folded); backbone.fpn */
    segc_resnet body;
    int body_loaded;
    maskrcnn_conv fpn_inner[4];       /* 1x1 laterals */
    maskrcnn_conv fpn_layer[4];       /* 3x3 outputs */

    /* rpn.head */
    int num_anchors;                  /* A = 3 */
    maskrcnn_conv rpn_conv, rpn_cls, rpn_bbox;

    /* roi_heads */
    maskrcnn_linear fc6, fc7, cls_score, bbox_pred;
    maskrcnn_conv mask_fcn[4];
    segc_tensor mask_up_w, mask_up_b; /* conv5_mask: ConvTranspose2d [256, 256, 2, 2] */
    maskrcnn_conv mask_logits;        /* mask_fcn_logits 1x1 */
};

/* ---- maskrcnn_backbone.c ---- */
/* Prepares c->wg from c->w (a [K, C, 3, 3] conv run with stride 1, padding 1); freed by maskrcnn_conv_free. */
segc_status maskrcnn_conv_prepare_3x3(maskrcnn_conv *c);
void maskrcnn_conv_free(maskrcnn_conv *c);
/* out = act(conv3x3(x, c, stride 1, padding 1)): Winograd F(4x4, 3x3) (ops/winograd.h), into a
   preallocated out (scratch from `scratch`), or allocated from the arena (_new). */
segc_status maskrcnn_conv3x3(segc_arena *scratch, const segc_tensor *x, const maskrcnn_conv *c, segc_act act,
                             segc_tensor *out);
segc_status maskrcnn_conv3x3_new(segc_arena *arena, const segc_tensor *x, const maskrcnn_conv *c, segc_act act,
                                 segc_tensor *out);
/* Module name as stored: `current` (torchvision >= 0.13 names, e.g. "rpn.head.conv.0.0") if
   "<current>.weight" is in the file, else `legacy` (the names of the published 2019 checkpoints,
   e.g. "rpn.head.conv"), written into buf. */
const char *maskrcnn_module(const segc_params *p, char *buf, size_t size, const char *current, const char *legacy);
segc_status maskrcnn_backbone_load(segc_maskrcnn *m);
/* x: [1, 3, Hp, Wp] normalized, padded -> feats[5]: [1, 256, Hp/4 .. Hp/64, ...] ('0'..'3', 'pool'). */
segc_status maskrcnn_backbone_forward(const segc_maskrcnn *m, segc_ctx *ctx, const segc_tensor *x,
                                      segc_tensor feats[MASKRCNN_FPN_LEVELS]);

/* ---- maskrcnn_rpn.c ---- */
segc_status maskrcnn_rpn_load(segc_maskrcnn *m);
/* Proposals [P, 4] (x1, y1, x2, y2 in resized-image coordinates) and their sigmoid scores [P] from the
   FPN features; image_h/w: the resized size before padding; pad_h/w: the batched tensor's size. */
segc_status maskrcnn_rpn_forward(const segc_maskrcnn *m, segc_ctx *ctx, const segc_tensor feats[MASKRCNN_FPN_LEVELS],
                                 int image_h, int image_w, int pad_h, int pad_w,
                                 const segc_maskrcnn_settings *s, segc_tensor *proposals, segc_tensor *scores);

/* ---- maskrcnn_roi_heads.c ---- */
segc_status maskrcnn_roi_heads_load(segc_maskrcnn *m);
/* Box branch: proposals [P,4] -> detections (boxes [D,4] in resized coords, scores [D], labels [D]). */
segc_status maskrcnn_box_forward(const segc_maskrcnn *m, segc_ctx *ctx, const segc_tensor feats[MASKRCNN_FPN_LEVELS],
                                 const segc_tensor *proposals, int image_h, int image_w,
                                 const segc_maskrcnn_settings *s, segc_tensor *boxes, segc_tensor *scores,
                                 segc_tensor *labels);
/* Mask branch: boxes [D,4] + labels [D] -> mask logits [D, 28, 28] of each box's class. */
segc_status maskrcnn_mask_forward(const segc_maskrcnn *m, segc_ctx *ctx, const segc_tensor feats[MASKRCNN_FPN_LEVELS],
                                  const segc_tensor *boxes, const segc_tensor *labels, int image_h, int image_w,
                                  segc_tensor *mask_logits);
/* MultiScaleRoIAlign over levels '0'..'3' (level mapper k_min 2, k_max 5, canonical 224 / level 4):
   boxes [R,4] -> out [R, 256, size, size], sampling ratio 2, aligned false. */
segc_status maskrcnn_multiscale_roi_align(segc_arena *arena, const segc_tensor feats[MASKRCNN_FPN_LEVELS],
                                          const segc_tensor *boxes, int image_h, int image_w, int size,
                                          segc_tensor *out);

/* ---- maskrcnn_post.c ---- */
/* torchvision BoxCoder.decode_single: deltas [n, 4] (dx, dy, dw, dh) applied to reference boxes [n, 4]
   with weights (wx, wy, ww, wh) and dw/dh clamped at log(1000/16); out [n, 4]. */
void maskrcnn_decode_boxes(const float *deltas, const float *ref, int64_t n, const float weights[4], float *out);
/* paste_masks_in_image: mask probabilities [D, M, M] and boxes [D, 4] (original-image coords) ->
   masks [D, H, W] with 1 where the pasted probability > thresh. */
segc_status maskrcnn_paste_masks(segc_arena *arena, const float *mask_prob, int64_t count, int mask_size,
                                 const float *boxes, int height, int width, float thresh, uint8_t *masks);

#endif
