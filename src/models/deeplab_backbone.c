/* deeplab_backbone.c - the Xception backbone of VainF/DeepLabV3Plus-Pytorch (network/backbone/xception.py,
   Cadene's port of Keras' Xception) as DeepLab's IntermediateLayerGetter runs it:
     conv1 3x3/2 (no padding) bn1 relu, conv2 3x3 (no padding) bn2 relu,
     block1 .. block12 (low_level = block1 output, stride 4), conv3 (separable) bn3 relu, conv4 (separable).
   The getter stops at conv4, so "out" is conv4's output WITHOUT bn4 (bn4 is not even in the checkpoint).
   Block: [ReLU, SeparableConv2d(dw 3x3 dilated, pw 1x1), BN] x reps (the first ReLU dropped when
   start_with_relu is False), then MaxPool2d(3, stride, 1) when strided; plus skip = BN(conv1x1/stride)
   when the shape changes, else the input. Dilation as Xception._make_block: a dilated block multiplies
   the running dilation by its stride (no "previous dilation"), and conv3/conv4 keep padding 1 with that
   dilation, so they shrink the map by 2 (dilation - 1) each - reproduced as the port does it.
   BN is folded into each pointwise conv. Not done: bn4, the classifier, batch > 1. */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "models/deeplab.h"
#include "ops/act.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/pool.h"

#define XC_BLOCKS 12
#define XC_BN_EPS 1e-5f

/* Xception.__init__: in, out, reps, stride, start_with_relu, grow_first, index into replace_stride_with_dilation. */
static const int xc_setting[XC_BLOCKS][7] = {
    {64, 128, 2, 2, 0, 1, 0},    {128, 256, 2, 2, 1, 1, 1},   {256, 728, 2, 2, 1, 1, 2},
    {728, 728, 3, 1, 1, 1, 2},   {728, 728, 3, 1, 1, 1, 2},   {728, 728, 3, 1, 1, 1, 2},
    {728, 728, 3, 1, 1, 1, 2},   {728, 728, 3, 1, 1, 1, 2},   {728, 728, 3, 1, 1, 1, 2},
    {728, 728, 3, 1, 1, 1, 2},   {728, 728, 3, 1, 1, 1, 2},   {728, 1024, 2, 2, 1, 0, 3},
};

/* SeparableConv2d: depthwise 3x3 (no bias) then pointwise 1x1 with the following BN folded. */
typedef struct xc_sep {
    int in, out, pad, dilation;
    segc_tensor dw_w;          /* [in, 1, 3, 3] */
    segc_tensor pw_w, pw_b;    /* [out, in, 1, 1], [out] */
} xc_sep;

typedef struct xc_block {
    int in, out, reps, stride, dilation, start_with_relu;
    xc_sep sep[3];
    int has_skip;
    segc_tensor skip_w, skip_b;   /* [out, in, 1, 1] + skipbn folded */
} xc_block;

struct segc_deeplab_xception {
    segc_tensor conv1_w, conv1_b, conv2_w, conv2_b;   /* stem, bn1 / bn2 folded */
    xc_block blocks[XC_BLOCKS];
    xc_sep conv3, conv4;                              /* conv3 with bn3 folded; conv4 without BN */
};

/* Loads SeparableConv2d `prefix` (+ BN `bn`, NULL for none) for in -> out channels. */
static segc_status load_sep(segc_params *p, const char *prefix, const char *bn, int in, int out, int pad, int dil,
                            xc_sep *s) {
    char name[256];
    const int64_t dw_shape[4] = {in, 1, 3, 3}, pw_shape[4] = {out, in, 1, 1};
    s->in = in;
    s->out = out;
    s->pad = pad;
    s->dilation = dil;
    segc_status st = segc_params_get(p, segc_params_name(name, sizeof name, "%s.conv1.weight", prefix), 4, dw_shape,
                                     &s->dw_w);
    if (st) return st;
    return segc_params_conv_bn(p, segc_params_name(name, sizeof name, "%s.pointwise", prefix), bn, XC_BN_EPS,
                               pw_shape, &s->pw_w, &s->pw_b);
}

static segc_status load_block(segc_params *p, int index, const int *cfg, int dilation, xc_block *b) {
    char prefix[128], sep[160], bn[160];
    b->in = cfg[0];
    b->out = cfg[1];
    b->reps = cfg[2];
    b->stride = cfg[3];
    b->start_with_relu = cfg[4];
    b->dilation = dilation;
    int grow_first = cfg[5];
    segc_params_name(prefix, sizeof prefix, "backbone.block%d", index + 1);
    segc_status st = SEGC_OK;
    for (int j = 0; j < b->reps && !st; j++) {
        /* rep = [ReLU, Sep, BN] * reps, minus the leading ReLU when not start_with_relu */
        int idx = 3 * j + (b->start_with_relu ? 1 : 0);
        int cin = grow_first ? (j == 0 ? b->in : b->out) : b->in;
        int cout = grow_first ? b->out : (j == b->reps - 1 ? b->out : b->in);
        st = load_sep(p, segc_params_name(sep, sizeof sep, "%s.rep.%d", prefix, idx),
                      segc_params_name(bn, sizeof bn, "%s.rep.%d", prefix, idx + 1), cin, cout, dilation, dilation,
                      &b->sep[j]);
    }
    b->has_skip = b->out != b->in || b->stride != 1;
    if (!st && b->has_skip) {
        const int64_t shape[4] = {b->out, b->in, 1, 1};
        segc_params_name(sep, sizeof sep, "%s.skip", prefix);
        segc_params_name(bn, sizeof bn, "%s.skipbn", prefix);
        st = segc_params_conv_bn(p, sep, bn, XC_BN_EPS, shape, &b->skip_w, &b->skip_b);
    }
    if (st) segc_fail_context(st, "xception block%d", index + 1);
    return st;
}

segc_status segc_deeplab_xception_load(segc_params *p, int output_stride, segc_deeplab_xception **out) {
    *out = NULL;
    if (output_stride != 8 && output_stride != 16)
        return segc_fail(SEGC_ERR_INVALID_ARG, "xception: output stride %d (8 or 16)", output_stride);
    segc_deeplab_xception *x = calloc(1, sizeof *x);
    if (!x) return segc_fail(SEGC_ERR_NOMEM, "xception");
    const int64_t c1[4] = {32, 3, 3, 3}, c2[4] = {64, 32, 3, 3};
    segc_status st = segc_params_conv_bn(p, "backbone.conv1", "backbone.bn1", XC_BN_EPS, c1, &x->conv1_w, &x->conv1_b);
    if (!st) st = segc_params_conv_bn(p, "backbone.conv2", "backbone.bn2", XC_BN_EPS, c2, &x->conv2_w, &x->conv2_b);
    /* _segm_xception: replace_stride_with_dilation [F, F, F, T] at OS16, [F, F, T, T] at OS8 */
    const int replace[4] = {0, 0, output_stride == 8, 1};
    int dilation = 1;
    for (int i = 0; i < XC_BLOCKS && !st; i++) {
        int cfg[7];
        memcpy(cfg, xc_setting[i], sizeof cfg);
        if (replace[cfg[6]]) {
            dilation *= cfg[3];
            cfg[3] = 1;
        }
        st = load_block(p, i, cfg, dilation, &x->blocks[i]);
    }
    if (!st) st = load_sep(p, "backbone.conv3", "backbone.bn3", 1024, 1536, 1, dilation, &x->conv3);
    if (!st) st = load_sep(p, "backbone.conv4", NULL, 1536, 2048, 1, dilation, &x->conv4);
    if (st) {
        free(x);
        return st;
    }
    *out = x;
    return SEGC_OK;
}

void segc_deeplab_xception_free(segc_deeplab_xception *x) { free(x); }

/* Output side of a SeparableConv2d (the depthwise conv sets it; the pointwise keeps it). */
static int64_t sep_out_dim(const xc_sep *s, int64_t n) { return segc_conv2d_out_dim(n, 3, 1, s->pad, s->dilation); }

static int64_t block_out_dim(const xc_block *b, int64_t n) {
    for (int j = 0; j < b->reps; j++) n = sep_out_dim(&b->sep[j], n);
    return b->stride == 1 ? n : segc_pool2d_out_dim(n, 3, b->stride, 1, 0);
}

/* out = pw(dw(x)) + folded BN, with activation `act`; out preallocated [1, s->out, P, Q]. */
static segc_status sep_forward(const xc_sep *s, segc_arena *arena, const segc_tensor *x, segc_act act,
                               segc_tensor *out) {
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor d;
    segc_conv2d_params dp = segc_conv2d_params_make(1, s->pad, s->dilation, s->in);
    segc_conv2d_params pp = segc_conv2d_params_make(1, 0, 1, 1);
    pp.act = act;
    segc_status st = segc_conv2d_new(arena, x, &s->dw_w, NULL, &dp, &d);
    if (!st) st = segc_conv2d(arena, &d, &s->pw_w, &s->pw_b, &pp, out);
    segc_arena_release(arena, mark);
    return st;
}

/* x [1, in, H, W] -> out [1, out, P, Q] (preallocated); temporaries released. */
static segc_status block_forward(const xc_block *b, segc_arena *arena, const segc_tensor *x, segc_tensor *out) {
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor t = *x, next;
    segc_status st = SEGC_OK;
    if (b->start_with_relu) {   /* ReLU(inplace=False): the input also feeds the skip */
        st = segc_tensor_contiguous(arena, x, &t);
        if (!st) st = segc_act_tensor(SEGC_ACT_RELU, &t);
    }
    for (int j = 0; j < b->reps && !st; j++) {
        const xc_sep *s = &b->sep[j];
        int64_t h = sep_out_dim(s, t.shape[2]), w = sep_out_dim(s, t.shape[3]);
        int last = j == b->reps - 1;
        if (last && b->stride == 1) {
            next = *out;
        } else if ((st = segc_tensor_new_f32(arena, &next, 4, 1, s->out, h, w))) {
            break;
        }
        /* the ReLU in front of the next separable conv is fused here */
        st = sep_forward(s, arena, &t, last ? SEGC_ACT_NONE : SEGC_ACT_RELU, &next);
        t = next;
    }
    if (!st && b->stride != 1) {
        segc_pool2d_params pp = segc_pool2d_params_make(3, b->stride, 1);
        st = segc_max_pool2d(&t, &pp, out);
    }
    if (!st && b->has_skip) {
        segc_tensor skip;
        segc_conv2d_params cp = segc_conv2d_params_make(b->stride, 0, 1, 1);
        st = segc_conv2d_new(arena, x, &b->skip_w, &b->skip_b, &cp, &skip);
        if (!st && !segc_tensor_has_shape(&skip, 4, out->shape))
            st = segc_fail(SEGC_ERR_SHAPE, "xception: skip and residual sizes differ (input too small?)");
        if (!st) st = segc_add_inplace(out, &skip, SEGC_ACT_NONE);
    } else if (!st) {
        st = segc_add_inplace(out, x, SEGC_ACT_NONE);
    }
    segc_arena_release(arena, mark);
    return st;
}

segc_status segc_deeplab_xception_forward(const segc_deeplab_xception *x, segc_arena *arena, const segc_tensor *in,
                                          segc_tensor *low_level, segc_tensor *out) {
    /* sizes: stem, blocks, conv3, conv4 */
    int64_t h = segc_conv2d_out_dim(in->shape[2], 3, 2, 0, 1), w = segc_conv2d_out_dim(in->shape[3], 3, 2, 0, 1);
    h = segc_conv2d_out_dim(h, 3, 1, 0, 1);
    w = segc_conv2d_out_dim(w, 3, 1, 0, 1);
    int64_t low_h = 0, low_w = 0;
    for (int i = 0; i < XC_BLOCKS; i++) {
        h = block_out_dim(&x->blocks[i], h);
        w = block_out_dim(&x->blocks[i], w);
        if (i == 0) low_h = h, low_w = w;
    }
    h = sep_out_dim(&x->conv4, sep_out_dim(&x->conv3, h));
    w = sep_out_dim(&x->conv4, sep_out_dim(&x->conv3, w));
    if (h < 1 || w < 1 || low_h < 1 || low_w < 1)
        return segc_fail(SEGC_ERR_SHAPE, "xception: input %lldx%lld is too small", (long long)in->shape[3],
                         (long long)in->shape[2]);
    segc_status st = segc_tensor_new_f32(arena, low_level, 4, 1, x->blocks[0].out, low_h, low_w);
    if (!st) st = segc_tensor_new_f32(arena, out, 4, 1, x->conv4.out, h, w);
    if (st) return st;

    /* Each stage's output is allocated after its input, then moved down over it: the arena stays LIFO. */
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor a, b;
    segc_conv2d_params c1 = segc_conv2d_params_make(2, 0, 1, 1), c2 = segc_conv2d_params_make(1, 0, 1, 1);
    c1.act = c2.act = SEGC_ACT_RELU;
    st = segc_conv2d_new(arena, in, &x->conv1_w, &x->conv1_b, &c1, &a);
    if (!st) st = segc_conv2d_new(arena, &a, &x->conv2_w, &x->conv2_b, &c2, &b);
    if (!st) st = block_forward(&x->blocks[0], arena, &b, low_level);
    segc_arena_release(arena, mark);
    segc_tensor cur = *low_level;
    for (int i = 1; i < XC_BLOCKS && !st; i++) {
        const xc_block *blk = &x->blocks[i];
        segc_tensor next;
        int64_t bh = block_out_dim(blk, cur.shape[2]), bw = block_out_dim(blk, cur.shape[3]);
        st = segc_tensor_new_f32(arena, &next, 4, 1, blk->out, bh, bw);
        if (!st) st = block_forward(blk, arena, &cur, &next);
        if (st) break;
        /* move next down to the mark (cur, if it was a temporary, is dead) */
        if (i > 1) {
            segc_arena_release(arena, mark);
            segc_tensor moved;
            st = segc_tensor_new_f32(arena, &moved, 4, 1, blk->out, bh, bw);
            if (!st) memmove(moved.data, next.data, (size_t)segc_tensor_numel(&next) * sizeof(float));
            next = moved;
        }
        cur = next;
    }
    segc_tensor t3;
    if (!st) st = segc_tensor_new_f32(arena, &t3, 4, 1, x->conv3.out, sep_out_dim(&x->conv3, cur.shape[2]),
                                      sep_out_dim(&x->conv3, cur.shape[3]));
    if (!st) st = sep_forward(&x->conv3, arena, &cur, SEGC_ACT_RELU, &t3);
    if (!st) st = sep_forward(&x->conv4, arena, &t3, SEGC_ACT_NONE, out);
    segc_arena_release(arena, mark);
    return st;
}
