/* mobilenetv2.h - the MobileNetV2 feature extractor as VainF/DeepLabV3Plus-Pytorch builds it
   (network/backbone/mobilenetv2.py): dilated instead of strided once the output stride is reached,
   and its padding rule, which differs from torchvision's.

   The port's padding rule (what matters for bit-faithful outputs):
     - features.0 (ConvBNReLU 3x3 /2) has NO padding: a 513 input gives 256.
     - every InvertedResidual first pads its INPUT with zeros by fixed_padding(3, dilation) (= dilation on
       each side), then runs the whole block with padding 0. The 1x1 expansion conv therefore sees the
       zero border too, and after its BN + ReLU6 the border holds relu6(folded bias) per channel, not 0.
       The depthwise conv reads that constant border. We never pad: the depthwise conv runs with zero
       padding (ReLU6 fused) and only the outputs whose window touches the border are recomputed.
   Layout (t expansion, c channels, n repeats, s stride), blocks are features.1 .. features.17:
       t=1 c=16 n=1 s=1 | 6,24,2,2 | 6,32,3,2 | 6,64,4,2 | 6,96,3,1 | 6,160,3,2 | 6,320,1,1
   Block i: conv.0 = ConvBNReLU 1x1 expansion (absent when t == 1), then ConvBNReLU 3x3 depthwise, then
   1x1 projection conv + BN (no activation); residual when stride 1 and in == out channels.
   Channel counts are read from the stored weights (any width multiplier); strides come from the table.
   features.18 (1x1 to 1280) and the ImageNet classifier are not used by DeepLab and not loaded.
   Dims: N batch (1), C channels, H x W input; P x Q output. */
#ifndef SEGC_NN_MOBILENETV2_H
#define SEGC_NN_MOBILENETV2_H

#include "core/arena.h"
#include "core/tensor.h"
#include "nn/params.h"

#define SEGC_MBV2_NUM_BLOCKS 17      /* blocks[i] is features.(i + 1) */
#define SEGC_MBV2_LOW_LEVEL_FEATURE 3  /* DeepLab's low-level features = features[0:4] output (stride 4) */

/* One InvertedResidual with batch norm folded into each conv. */
typedef struct segc_mbv2_block {
    int in_channels, hidden, out_channels;
    int stride, dilation;          /* of the depthwise conv; padding = dilation */
    int has_expand;                /* t != 1 */
    int use_res;                   /* stride 1 and in == out */
    segc_tensor expand_w, expand_b;    /* [hidden, C, 1, 1], [hidden] */
    segc_tensor dw_w, dw_b;            /* [hidden, 1, 3, 3], [hidden] */
    segc_tensor project_w, project_b;  /* [out, hidden, 1, 1], [out] */
    segc_tensor pad_value;             /* [hidden]: the border the depthwise conv reads (0 without expand) */
} segc_mbv2_block;

typedef struct segc_mobilenetv2 {
    int output_stride;             /* 8, 16 or 32 */
    segc_tensor stem_w, stem_b;    /* features.0: [32, 3, 3, 3] stride 2, padding 0, ReLU6 */
    segc_mbv2_block blocks[SEGC_MBV2_NUM_BLOCKS];
} segc_mobilenetv2;

/* Loads features.0..17. Feature i lives at "<low_prefix>.<i>" when i < split, else at "<high_prefix>.<i>"
   (a sliced nn.Sequential keeps the indices; DeepLab: "backbone.low_level_features",
   "backbone.high_level_features", split 4; torchvision naming: "features", "features", 0).
   Weights are owned by `p`. */
segc_status segc_mobilenetv2_load(segc_params *p, const char *low_prefix, const char *high_prefix, int split,
                                  int output_stride, float bn_eps, segc_mobilenetv2 *out);

/* x: [1, 3, H, W] (H, W >= 3) -> low_level [1, 24, h4, w4] (after features.3) and out [1, 320, h, w]
   (after features.17), both allocated from `arena` (low_level first); temporaries are released. */
segc_status segc_mobilenetv2_forward(const segc_mobilenetv2 *m, segc_arena *arena, const segc_tensor *x,
                                     segc_tensor *low_level, segc_tensor *out);

/* One block: x [N, C, H, W] -> out [N, out_channels, P, Q], preallocated and contiguous; temporaries
   come from `arena` and are released. */
segc_status segc_mbv2_block_forward(const segc_mbv2_block *b, segc_arena *arena, const segc_tensor *x,
                                    segc_tensor *out);
/* The same block computed literally as the port does (zero-pad the input, 1x1 on the padded tensor,
   depthwise with padding 0) with segc_conv2d_reference: the test oracle. */
segc_status segc_mbv2_block_forward_reference(const segc_mbv2_block *b, segc_arena *arena, const segc_tensor *x,
                                              segc_tensor *out);

/* Output size of a block for an H x W input. */
void segc_mbv2_block_out_size(const segc_mbv2_block *b, int64_t h, int64_t w, int64_t *p, int64_t *q);

#endif
