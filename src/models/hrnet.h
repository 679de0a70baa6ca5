/* hrnet.h - HRNetV2 semantic segmentation (HRNet/HRNet-Semantic-Segmentation, branch pytorch-v1.1,
   lib/models/seg_hrnet.py): stem, layer1, stages 2-4 of multi-resolution modules with fusion, the
   concat of the four upsampled branches, last_layer (1x1 conv-BN-ReLU, classifier), logits at 1/4
   upsampled (bilinear, align_corners=False) to the input size.
   Variants W18-small-v1/v2, W18, W32, W48 (any config of that family) come from the .segc metadata
   written by tools/convert/arch_hrnet.c (hrnet.* keys).

   Taps (checkpoint module paths): "input" (normalized [1,3,H,W]), "stem" (after conv2/bn2/relu),
   "layer1", "stage<s>.branch<b>" (output of stage s, branch b, after the last fuse + ReLU),
   "concat", "last_layer.2" (hidden, after ReLU), "last_layer" (logits at 1/4), "logits". When neither
   "concat" nor "last_layer.2" is wanted (and FINAL_CONV_KERNEL is 1) the head runs on row tiles and those
   two maps are never built. The 3x3 stride-1 convs of layer1, the branches and the transitions run
   through Winograd F(4x4, 3x3) (src/ops/winograd.h), transformed once at load (layer1 and the branches
   straight from the file, without a folded copy: segc_reslayer_load_winograd). */
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

/* Flip / multi-scale inference as the authors' test code (tools/test.py -> testval ->
   dataset.multi_scale_inference, with BaseDataset.inference per window), implemented in hrnet_infer.c.
   For each scale: the normalized image is resized (cv2 INTER_LINEAR = bilinear, half-pixel centres, no
   antialias) to long side int(base_size * scale + 0.5); windows of it run through the network; each
   window's score is exp(logits upsampled to the window) or, with flip, exp of the mean of those and of
   the mirrored logits of the mirrored window; overlapping windows are averaged; the result is upsampled
   (bilinear, align_corners=False) to the image size and summed over the scales. */
#define SEGC_HRNET_MAX_SCALES 16

typedef enum segc_hrnet_window {
    /* lib/datasets/cityscapes.py: scale <= 1 runs the whole resized image; scale > 1 slides crops of
       crop_h x crop_w with stride = crop size, the last row/column of crops aligned to the image end,
       no padding. */
    SEGC_HRNET_WINDOW_CITYSCAPES = 0,
    /* lib/datasets/base_dataset.py (PASCAL-Context): an image whose long side is <= min(crop) is padded
       to the crop size (with the normalized value of black) and run whole; else crops with stride
       int(2/3 crop), border crops padded to the crop size. */
    SEGC_HRNET_WINDOW_BASE = 1
} segc_hrnet_window;

typedef struct segc_hrnet_inference_settings {
    int flip;                               /* TEST.FLIP_TEST */
    int count;                              /* number of scales, 1..SEGC_HRNET_MAX_SCALES */
    double scales[SEGC_HRNET_MAX_SCALES];   /* TEST.SCALE_LIST, e.g. 0.5, 0.75, 1, 1.25, 1.5, 1.75 */
    int base_size;                          /* TEST.BASE_SIZE (long side at scale 1); 0: the image's own */
    int crop_h, crop_w;                     /* TEST.IMAGE_SIZE as (h, w); 0: never crop (whole image) */
    segc_hrnet_window window;
} segc_hrnet_inference_settings;

/* The authors' test settings for the model's "dataset" metadata with one scale and no flip: Cityscapes
   (base 2048, crop 1024 x 2048, cityscapes windows); PASCAL-Context (base 520, crop 480 x 480, base
   windows); anything else: the image's own size, whole image. */
void segc_hrnet_inference_settings_default(const void *model, segc_hrnet_inference_settings *s);

/* img -> scores [1, K, H, W] at the image size from ctx->arena: multi_scale_inference's final_pred (sums
   of exp-scores over the scales, so argmax gives the labels; not logits). Offers the tap "scores". */
segc_status segc_hrnet_semantic_ex(const void *model, segc_ctx *ctx, const segc_image *img,
                                   const segc_hrnet_inference_settings *s, segc_tensor *scores);

/* Number of output classes of a loaded model. */
int segc_hrnet_num_classes(const void *model);

#endif
