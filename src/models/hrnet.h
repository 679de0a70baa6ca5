/* hrnet.h - HRNetV2 semantic segmentation (HRNet/HRNet-Semantic-Segmentation, branch pytorch-v1.1,
   lib/models/seg_hrnet.py): stem, layer1, stages 2-4 of multi-resolution modules with fusion, the
   concat of the four upsampled branches, last_layer (1x1 conv-BN-ReLU, classifier), logits at 1/4
   upsampled (bilinear, align_corners=False) to the input size.
   Variants W18-small-v1/v2, W18, W32, W48 (any config of that family) come from the .segc metadata
   written by tools/convert/arch_hrnet.c (hrnet.* keys).

   Taps (checkpoint module paths): "input" (normalized [1,3,H,W]), "stem" (after conv2/bn2/relu),
   "layer1", "stage<s>.branch<b>" (output of stage s, branch b, after the last fuse + ReLU),
   "concat", "last_layer.2" (hidden, after ReLU), "last_layer" (logits at 1/4), "logits". */
#ifndef SEGC_MODELS_HRNET_H
#define SEGC_MODELS_HRNET_H

#include "core/ctx.h"
#include "core/tensor.h"
#include "io/image.h"
#include "io/segc_file.h"

/* Builds the model from an open .segc file (which must stay open while the model is used). */
segc_status segc_hrnet_load(const segc_file *f, void **model);
void segc_hrnet_free(void *model);

/* The semantic task: img (RGB u8) -> logits [1, num_classes, H, W] at the image size, from ctx->arena.
   Preprocessing as lib/datasets/base_dataset.py input_transform (RGB, /255, ImageNet mean/std). */
segc_status segc_hrnet_semantic(const void *model, segc_ctx *ctx, const segc_image *img, segc_tensor *logits);

/* The network on a normalized input x [1, 3, H, W] -> logits at 1/4 [1, num_classes, ceil(H/4), ceil(W/4)]
   (what model(x) returns in the authors' code), allocated from ctx->arena. */
segc_status segc_hrnet_forward(const void *model, segc_ctx *ctx, const segc_tensor *x, segc_tensor *logits_quarter);

/* Number of output classes of a loaded model. */
int segc_hrnet_num_classes(const void *model);

#endif
