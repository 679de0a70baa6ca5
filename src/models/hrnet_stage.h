/* hrnet_stage.h - internals shared by hrnet.c and hrnet_stage.c: the folded conv-BN(-ReLU) unit, the
   transition layers between stages and the HighResolutionModule (parallel branches + fuse layers) of
   lib/models/seg_hrnet.py. Not a public API. Dims: C channels, H x W of branch 0; branch b is at
   stride 4 * 2^b of the input. */
#ifndef SEGC_MODELS_HRNET_STAGE_H
#define SEGC_MODELS_HRNET_STAGE_H

#include "core/arena.h"
#include "core/tensor.h"
#include "nn/params.h"
#include "nn/resblock.h"
#include "ops/act.h"
#include "ops/winograd.h"

#define SEGC_HRNET_MAX_BRANCHES 4
#define SEGC_HRNET_BN_EPS 1e-5f      /* nn.BatchNorm2d default (seg_hrnet.py only changes the momentum) */

/* One entry of MODEL.EXTRA.STAGE<s> in the experiment yaml. */
typedef struct segc_hrnet_stage_config {
    int num_modules;
    int num_branches;
    int num_blocks[SEGC_HRNET_MAX_BRANCHES];
    int num_channels[SEGC_HRNET_MAX_BRANCHES];   /* as in the yaml (before block expansion) */
    segc_resblock_kind block;
} segc_hrnet_stage_config;

/* Conv (optionally with bias) + BN folded, with its stride/padding and fused activation. */
typedef struct segc_hrnet_conv {
    segc_tensor w, b;    /* w [K, C, R, R], b [K] */
    int stride, pad;
    segc_act act;
    segc_winograd_weights *wino;   /* 3x3 stride 1 only, when segc_hrnet_conv_use_winograd made it; owned */
} segc_hrnet_conv;

/* A chain of up to 3 folded convs (a transition branch, or a fuse path); 0 convs = identity / None. */
#define SEGC_HRNET_MAX_CHAIN (SEGC_HRNET_MAX_BRANCHES - 1)
typedef struct segc_hrnet_chain {
    int num_convs;
    segc_hrnet_conv convs[SEGC_HRNET_MAX_CHAIN];
} segc_hrnet_chain;

/* Loads "<conv>.weight" (+ "<conv>.bias" if stored) with BN "<bn>" folded; checks [k, c, r, r]. */
segc_status segc_hrnet_conv_load(segc_params *p, const char *conv, const char *bn, int k, int c, int r, int stride,
                                 segc_act act, segc_hrnet_conv *out);
/* Runs the conv through Winograd F(4x4, 3x3) from now on if it is 3x3 with stride 1 (else nothing). */
segc_status segc_hrnet_conv_use_winograd(segc_hrnet_conv *c);
void segc_hrnet_conv_free(segc_hrnet_conv *c);
/* x [N, C, H, W] -> out [N, K, P, Q] (preallocated, contiguous) for one folded conv. */
segc_status segc_hrnet_conv_forward(const segc_hrnet_conv *c, segc_arena *arena, const segc_tensor *x,
                                    segc_tensor *out);
/* Output size of a chain for an h x w input. */
void segc_hrnet_chain_out_size(const segc_hrnet_chain *ch, int64_t h, int64_t w, int64_t *p, int64_t *q);
/* x [1, C, H, W] -> out (preallocated, contiguous, right shape); intermediates from `arena`, released. */
segc_status segc_hrnet_chain_forward_into(const segc_hrnet_chain *ch, segc_arena *arena, const segc_tensor *x,
                                          segc_tensor *out);

/* transition<k> of seg_hrnet.py: one chain per branch of the next stage. Branch i < pre: None if the
   channels match (the branch passes through), else conv3x3 s1-BN-ReLU; branch i >= pre: i + 1 - pre
   conv3x3 s2-BN-ReLU. Every non-None chain reads the LAST branch of the previous stage, as
   HighResolutionNet.forward does (`transition[i](y_list[-1])`). */
typedef struct segc_hrnet_transition {
    int num_in, num_out;
    int in_channels[SEGC_HRNET_MAX_BRANCHES];
    int out_channels[SEGC_HRNET_MAX_BRANCHES];
    int is_none[SEGC_HRNET_MAX_BRANCHES];
    segc_hrnet_chain chains[SEGC_HRNET_MAX_BRANCHES];
} segc_hrnet_transition;

segc_status segc_hrnet_transition_load(segc_params *p, const char *prefix, int num_in, const int *in_channels,
                                       int num_out, const int *out_channels, segc_hrnet_transition *out);
void segc_hrnet_transition_free(segc_hrnet_transition *t);

/* HighResolutionModule: branches (a reslayer each) then, for each output i, the fuse
   y_i = relu(sum_j f_ij(x_j)): j == i identity, j > i conv1x1-BN then bilinear upsampling
   (F.interpolate, align_corners=False), j < i a chain of i - j conv3x3 s2 (BN, ReLU except the last). */
typedef struct segc_hrnet_module {
    int num_branches;
    int in_channels[SEGC_HRNET_MAX_BRANCHES];
    int out_channels[SEGC_HRNET_MAX_BRANCHES];   /* planes * expansion of each branch */
    segc_reslayer branches[SEGC_HRNET_MAX_BRANCHES];
    segc_hrnet_chain fuse[SEGC_HRNET_MAX_BRANCHES][SEGC_HRNET_MAX_BRANCHES];   /* [i][j]; unused if 1 branch */
} segc_hrnet_module;

/* Loads "<prefix>" (e.g. "stage3.1"); in_channels per branch; planes per branch as the yaml's
   NUM_CHANNELS times the block expansion (seg_hrnet.py passes the expanded count as planes). */
segc_status segc_hrnet_module_load(segc_params *p, const char *prefix, const segc_hrnet_stage_config *cfg,
                                   const int *in_channels, segc_hrnet_module *out);
void segc_hrnet_module_free(segc_hrnet_module *m);

/* x[b] [1, in_channels[b], H_b, W_b] -> y[b] [1, out_channels[b], H_b, W_b] (preallocated, contiguous).
   Branch outputs and fuse temporaries come from `arena` and are released before return. */
segc_status segc_hrnet_module_forward_into(const segc_hrnet_module *m, segc_arena *arena, const segc_tensor *x,
                                           segc_tensor *y);

/* What the flip / multi-scale driver (hrnet_infer.c) needs of a loaded model (filled by hrnet.c). */
typedef struct segc_hrnet_io {
    int num_classes;
    int align_corners;       /* of the logits upsampling */
    float mean[3], std[3];   /* 0..1 scale, RGB order */
    char dataset[32];        /* "dataset" metadata ("cityscapes", ...), "" when absent */
} segc_hrnet_io;

void segc_hrnet_get_io(const void *model, segc_hrnet_io *io);

#endif
