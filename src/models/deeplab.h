/* deeplab.h - DeepLabV3+ and DeepLabV3 as VainF/DeepLabV3Plus-Pytorch builds them (network/_deeplab.py,
   network/modeling.py), on MobileNetV2, ResNet-50/101 or Xception, output stride 16 or 8.

   Forward (predict.py, no --crop_val): RGB u8 -> /255 -> ImageNet mean/std (no resize) ->
     backbone -> low_level (stride 4) and out (stride OS)
     V3+: classifier.project (1x1 -> 48, BN, ReLU) on low_level;
          classifier.aspp on out: [1x1, 3x3 rate r1, r2, r3, image pooling] -> concat -> 1x1 project;
          bilinear (align_corners=False) to stride 4, concat [48 + 256], 3x3 conv BN ReLU, 1x1 -> K
     V3:  classifier.classifier = ASPP, 3x3 conv BN ReLU, 1x1 -> K
     -> bilinear (align_corners=False) to the input size: logits [1, K, H, W].
   Taps (segc_tap names): "input", "backbone.low_level", "backbone.out", "classifier.project",
   "classifier.aspp.convs.4" (pooling branch before its upsample, [1,256,1,1]), "classifier.aspp.convs"
   (the 5 branches concatenated), "classifier.aspp", "classifier.concat" (decoder concat, built only
   when wanted), "classifier.classifier.2" (decoder 3x3 conv + BN + ReLU), "classifier" (logits at
   stride 4; V3: stride OS, its ASPP is "classifier.classifier.0"), "logits".
   The model is read-only after load: many threads may run it at once, each with its own ctx. */
#ifndef SEGC_MODELS_DEEPLAB_H
#define SEGC_MODELS_DEEPLAB_H

#include "core/ctx.h"
#include "io/image.h"
#include "io/segc_file.h"

/* Loads a .segc written by segc-convert with arch "deeplabv3plus", at its stored output stride. */
segc_status segc_deeplab_load(const segc_file *f, void **model);
/* Same with the output stride overridden (8 or 16; 0 keeps the stored one); ASPP rates follow it. */
segc_status segc_deeplab_load_os(const segc_file *f, int output_stride, void **model);
void segc_deeplab_free(void *model);

/* img (u8 RGB, at least 3x3) -> logits [1, K, H, W] at the image size, allocated from ctx->arena
   (everything else the pass takes from the arena is released before return). */
segc_status segc_deeplab_semantic(const void *model, segc_ctx *ctx, const segc_image *img, segc_tensor *logits);

/* Number of classes K and output stride of a loaded model. */
int segc_deeplab_num_classes(const void *model);
int segc_deeplab_output_stride(const void *model);

/* ---- internal, exposed for tests: the head's conv kernels (deeplab_head.c) ---- */
#include "core/arena.h"
#include "ops/act.h"

/* Rearranges input channels [c0, c0 + count) of a 3x3 conv weight w [K, C, 3, 3] into tap-major
   wt [9, K, count] (allocated from `store`). */
segc_status segc_deeplab_upconv_prepare(segc_arena *store, const segc_tensor *w, int64_t c0, int64_t count,
                                        segc_tensor *wt);
/* out[1, K, H, W] += conv3x3_pad1(bilinear_upsample(a[1, C, h, w] -> H x W, align_corners=False), wt)
   computed at a's resolution (see deeplab_head.c); temporaries from `arena`, released. */
segc_status segc_deeplab_upconv3x3_add(segc_arena *arena, const segc_tensor *a, const segc_tensor *wt,
                                       segc_tensor *out);
/* Same by definition (upsample, then conv), the test oracle. */
segc_status segc_deeplab_upconv3x3_add_reference(segc_arena *arena, const segc_tensor *a, const segc_tensor *wt,
                                                 segc_tensor *out);

/* out[1, K, h, w] = act(conv3x3(x[1, C, h, w], padding = dilation = rate) + bias) with tap-major weights
   wt [9, K, C] (segc_deeplab_upconv_prepare), skipping the taps' products with the zero padding.
   Oracle: segc_conv2d_reference with the original weight. */
segc_status segc_deeplab_atrous_conv3x3(segc_arena *arena, const segc_tensor *x, const segc_tensor *wt,
                                        const segc_tensor *bias, int rate, segc_act act, segc_tensor *out);

/* 3x3 conv, stride 1, padding 1, by Winograd F(2x2, 3x3): out[1, K, H, W] = conv(x[1, C, H, W]) + bias
   (no activation) with u [16, K, C] from segc_deeplab_winograd_prepare(w [K, C, 3, 3]).
   Oracle: segc_conv2d_reference. */
segc_status segc_deeplab_winograd_prepare(segc_arena *store, const segc_tensor *w, segc_tensor *u);
segc_status segc_deeplab_winograd3x3(segc_arena *arena, const segc_tensor *x, const segc_tensor *u,
                                     const segc_tensor *bias, segc_tensor *out);

/* The Xception backbone (deeplab_backbone.c): weights under "backbone." owned by `p`. */
#include "nn/params.h"
typedef struct segc_deeplab_xception segc_deeplab_xception;
segc_status segc_deeplab_xception_load(segc_params *p, int output_stride, segc_deeplab_xception **out);
void segc_deeplab_xception_free(segc_deeplab_xception *x);
/* in [1, 3, H, W] -> low_level [1, 128, ~H/4, ~W/4] (block1) and out [1, 2048, ~H/OS, ~W/OS] (conv4, no bn4),
   both from `arena` (low_level first); temporaries released. */
segc_status segc_deeplab_xception_forward(const segc_deeplab_xception *x, segc_arena *arena, const segc_tensor *in,
                                          segc_tensor *low_level, segc_tensor *out);

#endif
