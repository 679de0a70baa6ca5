/* resnet.h - torchvision's ResNet as a feature extractor (no avgpool / fc): stem conv1 7x7/2 + bn1 + relu
   + maxpool 3x3/2, then layer1..layer4 of resblock.h blocks, with replace_stride_with_dilation as
   torchvision's _make_layer does it (the first block of a dilated layer keeps the previous dilation).
   Used by DeepLabV3(+) (VainF port: OS16 = [0,0,1], OS8 = [0,1,1]) and, later, Mask R-CNN.

   Usage:
       segc_resnet r;
       const int dil[3] = {0, 0, 1};
       st = segc_resnet_load(&params, "backbone", NULL, dil, 1e-5f, &r);     // block counts from the file
       segc_tensor outs[4];
       st = segc_resnet_forward(&r, arena, &x, SEGC_RESNET_LAYER(1) | SEGC_RESNET_LAYER(4), outs);
       segc_resnet_free(&r);
   Dims: x [1 or N, 3, H, W]; layer i output [N, 64 * 2^(i-1) * expansion, ...]. */
#ifndef SEGC_NN_RESNET_H
#define SEGC_NN_RESNET_H

#include "core/arena.h"
#include "core/tensor.h"
#include "nn/params.h"
#include "nn/resblock.h"

/* Bit of `want` in segc_resnet_forward for layer 1..4. */
#define SEGC_RESNET_LAYER(i) (1u << ((i) - 1))

typedef struct segc_resnet {
    segc_resblock_kind kind;        /* Bottleneck if "<prefix>.layer1.0.conv3.weight" is stored */
    int depth;                      /* 18, 34, 50, 101, 152 or 0 if the block counts are unusual */
    segc_tensor conv1_w, conv1_b;   /* [64, 3, 7, 7] with bn1 folded */
    segc_reslayer layers[4];
    int layer_stride[4];            /* stride of each layer's first block (1 when dilated) */
    int layer_dilation[4];          /* dilation of the layer's later blocks */
} segc_resnet;

/* Loads "<prefix>.conv1", "<prefix>.bn1", "<prefix>.layer1".."layer4". blocks[4] NULL counts the blocks
   from the stored tensors; replace_stride_with_dilation[3] for layer2..4 (NULL: none). */
segc_status segc_resnet_load(segc_params *p, const char *prefix, const int *blocks,
                             const int *replace_stride_with_dilation, float bn_eps, segc_resnet *out);
void segc_resnet_free(segc_resnet *r);

/* x: [N, 3, H, W] -> outs[i] = output of layer i + 1 for every bit SEGC_RESNET_LAYER(i + 1) set in `want`
   (others untouched), allocated from `arena` in layer order; temporaries are released. */
segc_status segc_resnet_forward(const segc_resnet *r, segc_arena *arena, const segc_tensor *x, unsigned want,
                                segc_tensor outs[4]);

/* Output channels of layer i (1..4). */
int segc_resnet_channels(const segc_resnet *r, int layer);

#endif
