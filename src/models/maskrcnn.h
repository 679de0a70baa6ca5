/* maskrcnn.h - Mask R-CNN as torchvision computes it (maskrcnn_resnet50_fpn, eval mode, default
   settings): GeneralizedRCNNTransform (normalize, resize short side 800 / long side <= 1333, pad to /32),
   ResNet-50 + FPN, RPN, RoI heads (box and mask), masks pasted at the original image size.
   Weights come from a .segc converted from the torchvision state_dict (FrozenBatchNorm folded at load).

   Taps (names are the torchvision module paths):
     transform.batched_input [1,3,Hp,Wp]    backbone.fpn.{0,1,2,3,pool} [1,256,h,w]
     rpn.head.cls_logits.{0..4} [1,A,h,w]    rpn.head.bbox_pred.{0..4} [1,4A,h,w]
     rpn.proposals [P,4]   rpn.proposal_scores [P]   (resized-image coordinates, post-NMS order)
     roi_heads.box_predictor.cls_score [P,K]   roi_heads.box_predictor.bbox_pred [P,4K]
     roi_heads.mask_logits [D,M,M] (the predicted class's logits per detection)
     detections.boxes [D,4] (original-image pixels)   detections.scores [D]   detections.labels [D] (i32)
     detections.masks [D,H,W] (u8 0/1, when pasted) */
#ifndef SEGC_MODELS_MASKRCNN_H
#define SEGC_MODELS_MASKRCNN_H

#include <stdint.h>

#include "core/ctx.h"
#include "io/image.h"
#include "io/segc_file.h"
#include "models/detections.h"

/* Inference settings (torchvision's defaults in brackets). */
typedef struct segc_maskrcnn_settings {
    int min_size;               /* [800] target short side */
    int max_size;               /* [1333] long side cap */
    int rpn_pre_nms_top_n;      /* [1000] per level */
    int rpn_post_nms_top_n;     /* [1000] */
    float rpn_nms_thresh;       /* [0.7] */
    float rpn_score_thresh;     /* [0.0] */
    float box_score_thresh;     /* [0.05] */
    float box_nms_thresh;       /* [0.5] */
    int detections_per_img;     /* [100] */
    float mask_thresh;          /* [0.5] probability threshold of the pasted masks */
    int paste_masks;            /* [1] 0: skip pasting (mask logits only) */
} segc_maskrcnn_settings;

void segc_maskrcnn_settings_default(segc_maskrcnn_settings *s);


typedef struct segc_maskrcnn segc_maskrcnn;

/* Loads the weights of an "arch" = "maskrcnn" file (BN folded, f16/bf16 widened). */
segc_status segc_maskrcnn_load(const segc_file *f, void **model);
void segc_maskrcnn_free(void *model);

/* Class names of the model (num_classes entries, index 0 "__background__"); count in *n. */
const char *const *segc_maskrcnn_class_names(const void *model, int *n);

/* Runs the whole model on one image. `s` may be NULL for the defaults. */
segc_status segc_maskrcnn_detect(const void *model, segc_ctx *ctx, const segc_image *img,
                                 const segc_maskrcnn_settings *s, segc_detections *out);

#endif
