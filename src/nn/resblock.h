/* resblock.h - torchvision-style residual blocks (ResNet BasicBlock and Bottleneck) and layers of them,
   as used by ResNet backbones (DeepLabV3+, Mask R-CNN) and HRNet.

   Module layout (names under the block's prefix, exactly as in the checkpoints):
     BasicBlock (expansion 1):  conv1 3x3 /stride, dil -> bn1 -> relu -> conv2 3x3 dil -> bn2
     Bottleneck (expansion 4):  conv1 1x1 -> bn1 -> relu -> conv2 3x3 /stride, dil -> bn2 -> relu
                                -> conv3 1x1 -> bn3                      (torchvision "v1.5": stride on conv2)
     both:  out = relu(main + identity), identity = downsample.1(downsample.0(x)) when "downsample.0.weight"
            is stored (1x1 conv with the block's stride, then BN), else x.
   3x3 convs use padding = dilation. Batch norm is folded into each conv at load time
   (segc_params_conv_bn); the forward is convs with fused ReLU, the last one taking the residual add and
   the final ReLU in its own pass (segc_conv2d_residual, or the Winograd output transform).
   What this does not do: the ResNet stem, frozen-BN variants with other eps (pass bn_eps),
   the ResNet-D "avg-pool downsample" variant.

   Usage:
       segc_reslayer layer;
       st = segc_reslayer_load(&params, "backbone.layer3", SEGC_RESBLOCK_BOTTLENECK, 512, 256, 0,
                               2, 1, 1, 1e-5f, &layer);     // in 512, planes 256, blocks counted, stride 2
       st = segc_reslayer_forward(&layer, ctx->arena, &x, &y);    // x: [N,512,H,W] -> y: [N,1024,H/2,W/2]
       segc_reslayer_free(&layer);
   Dims: N batch, C in-channels, H x W input, P x Q output. */
#ifndef SEGC_NN_RESBLOCK_H
#define SEGC_NN_RESBLOCK_H

#include "core/arena.h"
#include "core/tensor.h"
#include "nn/params.h"
#include "ops/winograd.h"

typedef enum segc_resblock_kind {
    SEGC_RESBLOCK_BASIC = 0,       /* BasicBlock, expansion 1 */
    SEGC_RESBLOCK_BOTTLENECK = 1   /* Bottleneck, expansion 4 */
} segc_resblock_kind;

/* Output channels per `planes`: 1 for BasicBlock, 4 for Bottleneck. */
int segc_resblock_expansion(segc_resblock_kind kind);

/* One block: folded weights (w [K, C, R, S], b [K]) owned by the segc_params it was loaded from. */
typedef struct segc_resblock {
    segc_resblock_kind kind;
    int in_channels;     /* C */
    int planes;          /* width of the inner convs */
    int out_channels;    /* planes * expansion */
    int stride;          /* on conv1 (basic) or conv2 (bottleneck), and on downsample.0 */
    int dilation;        /* of the 3x3 convs (padding = dilation) */
    segc_tensor conv1_w, conv1_b;
    segc_tensor conv2_w, conv2_b;
    segc_tensor conv3_w, conv3_b;        /* bottleneck only */
    int has_downsample;
    segc_tensor downsample_w, downsample_b;
    /* Winograd F(4x4, 3x3) weights of conv1 / conv2 when segc_reslayer_load_winograd prepared them (3x3,
       stride 1, dilation 1 convs only), else NULL: owned by the layer. The folded weight of such a conv
       is not kept (conv*_w is an empty [K, C, 3, 3], data NULL). */
    segc_winograd_weights *conv1_wino, *conv2_wino;
} segc_resblock;

/* Loads the block at `prefix` ("backbone.layer1.0"): checks every weight shape against in_channels and
   planes, folds BN with eps `bn_eps` (1e-5 for nn.BatchNorm2d). The downsample branch is used iff
   "<prefix>.downsample.0.weight" is stored; it is required when stride != 1 or in != out channels. */
segc_status segc_resblock_load(segc_params *p, const char *prefix, segc_resblock_kind kind, int in_channels,
                               int planes, int stride, int dilation, float bn_eps, segc_resblock *out);

/* Output spatial size of the block for an H x W input. */
void segc_resblock_out_size(const segc_resblock *b, int64_t h, int64_t w, int64_t *p_out, int64_t *q_out);

/* x: [N, C, H, W] -> out: [N, out_channels, P, Q], allocated from `arena`; temporaries are taken from
   and released back to `arena` (out stays). x must be contiguous float32. */
segc_status segc_resblock_forward(const segc_resblock *b, segc_arena *arena, const segc_tensor *x,
                                  segc_tensor *out);
/* Same into a preallocated contiguous `out` of the right shape (temporaries from `arena`, released). */
segc_status segc_resblock_forward_into(const segc_resblock *b, segc_arena *arena, const segc_tensor *x,
                                       segc_tensor *out);

/* A sequence of blocks, as torchvision's _make_layer / HRNet's _make_layer and branches build it:
   block 0 has (in_channels, stride, first_dilation), blocks 1.. have (planes * expansion, 1, dilation). */
typedef struct segc_reslayer {
    int num_blocks;
    segc_resblock *blocks;   /* owned (malloc), freed by segc_reslayer_free */
} segc_reslayer;

/* Loads blocks "<prefix>.0", "<prefix>.1", ...; num_blocks 0 counts them from the stored
   "<prefix>.<i>.conv1.weight" tensors (at least one must exist). */
segc_status segc_reslayer_load(segc_params *p, const char *prefix, segc_resblock_kind kind, int in_channels,
                               int planes, int num_blocks, int stride, int first_dilation, int dilation,
                               float bn_eps, segc_reslayer *out);
/* Same with stride and dilations 1, the 3x3 convs loaded straight as Winograd weights: the BN scale is
   applied inside the transform, no folded copy of those weights is made and their pages of the file
   mapping are handed back (for big layers the transformed weights are then the only resident copy, 4x
   the size of the 3x3 filters). Freed by segc_reslayer_free. */
segc_status segc_reslayer_load_winograd(segc_params *p, const char *prefix, segc_resblock_kind kind, int in_channels,
                                        int planes, int num_blocks, float bn_eps, segc_reslayer *out);
void segc_reslayer_free(segc_reslayer *layer);

/* Runs the blocks in order; x: [N, C, H, W] -> out from `arena` (intermediates released). */
segc_status segc_reslayer_forward(const segc_reslayer *layer, segc_arena *arena, const segc_tensor *x,
                                  segc_tensor *out);

/* Same into a preallocated contiguous `out` of the right shape. */
segc_status segc_reslayer_forward_into(const segc_reslayer *layer, segc_arena *arena, const segc_tensor *x,
                                       segc_tensor *out);
/* Output shape [N, K, P, Q] of the layer for an input x [N, C, H, W]. */
void segc_reslayer_out_shape(const segc_reslayer *layer, const segc_tensor *x, int64_t out_shape[4]);

/* Output channels of the last block. */
int segc_reslayer_out_channels(const segc_reslayer *layer);

#endif
