/* maskrcnn_backbone.c - resnet_fpn_backbone of torchvision (models/detection/backbone_utils.py,
   ops/feature_pyramid_network.py): ResNet body (nn/resnet.h, FrozenBatchNorm folded) returning layer1..4,
   FPN with 1x1 lateral convs, top-down nearest upsampling to the lateral's size, 3x3 output convs, and
   LastLevelMaxPool (max_pool2d kernel 1 stride 2 of the last output) as level 'pool'.
   Checkpoint names: "backbone.body.*", "backbone.fpn.inner_blocks.<i>.0.*" and
   "backbone.fpn.layer_blocks.<i>.0.*" (torchvision >= 0.13), or the same without ".0" (older files). */
#include <stdio.h>

#include "core/status.h"
#include "models/maskrcnn_internal.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/resize.h"

const char *maskrcnn_module(const segc_params *p, char *buf, size_t size, const char *current, const char *legacy) {
    char probe[160];
    snprintf(probe, sizeof probe, "%s.weight", current);
    snprintf(buf, size, "%s", segc_params_has(p, probe) ? current : legacy);
    return buf;
}

/* Loads an FPN conv stored as "<name>.0.weight" (current torchvision) or "<name>.weight" (older files). */
static segc_status load_fpn_conv(segc_params *p, const char *name, int64_t out_c, int64_t in_c, int k,
                                 maskrcnn_conv *c) {
    char current[96], mod[96];
    snprintf(current, sizeof current, "%s.0", name);
    maskrcnn_module(p, mod, sizeof mod, current, name);
    int64_t shape[4] = {out_c, in_c, k, k};
    return segc_params_conv_bn(p, mod, NULL, 0, shape, &c->w, &c->b);
}

segc_status maskrcnn_conv_prepare_3x3(maskrcnn_conv *c) {
    return segc_winograd_prepare(&c->w, &c->wg);
}

void maskrcnn_conv_free(maskrcnn_conv *c) {
    segc_winograd_weights_free(&c->wg);
}

segc_status maskrcnn_conv3x3(segc_arena *scratch, const segc_tensor *x, const maskrcnn_conv *c, segc_act act,
                             segc_tensor *out) {
    return segc_winograd_conv3x3(scratch, x, &c->wg, &c->b, act, out);
}

segc_status maskrcnn_conv3x3_new(segc_arena *arena, const segc_tensor *x, const maskrcnn_conv *c, segc_act act,
                                 segc_tensor *out) {
    return segc_winograd_conv3x3_new(arena, x, &c->wg, &c->b, act, out);
}

segc_status maskrcnn_backbone_load(segc_maskrcnn *m) {
    segc_status st = segc_resnet_load(&m->params, "backbone.body", NULL, NULL, MASKRCNN_FROZEN_BN_EPS, &m->body);
    if (st) return segc_fail_context(st, "backbone.body");
    m->body_loaded = 1;
    /* The body keeps im2col convs: with Winograd for the bottlenecks' 3x3 convs too (layer1-2 or
       layer1-3), the class logits move 1.6e-3 from the reference and one proposal falls below IoU 0.99
       (measured on the shared cases; with the FPN, RPN and mask head alone: 8.7e-4). */
    char name[64];
    for (int i = 0; i < 4; i++) {
        int64_t in_c = segc_resnet_channels(&m->body, i + 1);
        segc_params_name(name, sizeof name, "backbone.fpn.inner_blocks.%d", i);
        if ((st = load_fpn_conv(&m->params, name, 256, in_c, 1, &m->fpn_inner[i]))) return st;
        segc_params_name(name, sizeof name, "backbone.fpn.layer_blocks.%d", i);
        if ((st = load_fpn_conv(&m->params, name, 256, 256, 3, &m->fpn_layer[i])) ||
            (st = maskrcnn_conv_prepare_3x3(&m->fpn_layer[i])))
            return st;
    }
    return SEGC_OK;
}

segc_status maskrcnn_backbone_forward(const segc_maskrcnn *m, segc_ctx *ctx, const segc_tensor *x,
                                      segc_tensor feats[MASKRCNN_FPN_LEVELS]) {
    segc_arena *arena = ctx->arena;
    /* The outputs first: the body outputs and FPN temporaries after them are released at the end. The
       batched input is a multiple of 32, so level i is exactly 1/2^(i+2) of it; 'pool' halves '3' (ceil). */
    if (x->ndim != 4 || x->shape[2] % 32 || x->shape[3] % 32)
        return segc_fail(SEGC_ERR_SHAPE, "backbone: the input is not [1, 3, H, W] padded to a multiple of 32");
    const int64_t h = x->shape[2], w = x->shape[3];
    segc_status st = SEGC_OK;
    for (int i = 0; i < 4 && !st; i++) st = segc_tensor_new_f32(arena, &feats[i], 4, 1, 256, h >> (i + 2), w >> (i + 2));
    if (!st) st = segc_tensor_new_f32(arena, &feats[4], 4, 1, 256, (h / 32 + 1) / 2, (w / 32 + 1) / 2);
    if (st) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor c[4], inner[4];
    unsigned want = SEGC_RESNET_LAYER(1) | SEGC_RESNET_LAYER(2) | SEGC_RESNET_LAYER(3) | SEGC_RESNET_LAYER(4);
    st = segc_resnet_forward(&m->body, arena, x, want, c);
    for (int i = 0; i < 4 && !st; i++) st = segc_tapf(ctx, &c[i], "backbone.body.layer%d", i + 1);

    segc_conv2d_params p1 = segc_conv2d_params_make(1, 0, 1, 1);
    segc_resize_params nearest = segc_resize_params_make(SEGC_RESIZE_NEAREST, 0);
    /* top-down: last_inner = inner_blocks[i](c[i]) + nearest_upsample(last_inner, size of c[i]) */
    for (int i = 3; i >= 0 && !st; i--) {
        st = segc_conv2d_new(arena, &c[i], &m->fpn_inner[i].w, &m->fpn_inner[i].b, &p1, &inner[i]);
        if (!st && i < 3) {
            segc_arena_mark up_mark = segc_arena_get_mark(arena);
            segc_tensor up;
            st = segc_resize_new(arena, &inner[i + 1], &nearest, inner[i].shape[2], inner[i].shape[3], &up);
            if (!st) st = segc_add_inplace(&inner[i], &up, SEGC_ACT_NONE);
            segc_arena_release(arena, up_mark);
        }
        if (!st) st = maskrcnn_conv3x3(arena, &inner[i], &m->fpn_layer[i], SEGC_ACT_NONE, &feats[i]);
    }
    if (!st) {   /* 'pool': max_pool2d(kernel 1, stride 2) is every other pixel of level '3' */
        segc_tensor view = feats[3];
        view.shape[2] = feats[4].shape[2];
        view.shape[3] = feats[4].shape[3];
        view.stride[2] *= 2;
        view.stride[3] *= 2;
        st = segc_tensor_copy(&feats[4], &view);
    }
    segc_arena_release(arena, mark);
    static const char *names[MASKRCNN_FPN_LEVELS] = {"0", "1", "2", "3", "pool"};
    for (int i = 0; i < MASKRCNN_FPN_LEVELS && !st; i++) st = segc_tapf(ctx, &feats[i], "backbone.fpn.%s", names[i]);
    return st;
}
