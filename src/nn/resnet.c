/* resnet.c - torchvision ResNet feature extractor: stem + layer1..4 on resblock.h, with dilation.
   Does not do: avgpool/fc, ResNeXt widths, ResNet-D. */
#include "nn/resnet.h"

#include <string.h>

#include "core/status.h"
#include "ops/conv.h"
#include "ops/pool.h"

#define RESNET_STEM_KERNEL 7
#define RESNET_STEM_STRIDE 2
#define RESNET_STEM_PAD 3
#define RESNET_POOL_KERNEL 3
#define RESNET_POOL_STRIDE 2
#define RESNET_POOL_PAD 1

static const int resnet_planes[4] = {64, 128, 256, 512};

/* Known depths from the block counts (torchvision's resnet18 .. resnet152). */
static int resnet_depth(segc_resblock_kind kind, const int n[4]) {
    static const int table[5][5] = {
        {18, 2, 2, 2, 2}, {34, 3, 4, 6, 3}, {50, 3, 4, 6, 3}, {101, 3, 4, 23, 3}, {152, 3, 8, 36, 3}};
    for (int i = 0; i < 5; i++) {
        if ((kind == SEGC_RESBLOCK_BASIC) != (table[i][0] < 50)) continue;
        if (n[0] == table[i][1] && n[1] == table[i][2] && n[2] == table[i][3] && n[3] == table[i][4])
            return table[i][0];
    }
    return 0;
}

segc_status segc_resnet_load(segc_params *p, const char *prefix, const int *blocks,
                             const int *replace_stride_with_dilation, float bn_eps, segc_resnet *out) {
    memset(out, 0, sizeof *out);
    char conv[256], bn[256];
    const int64_t stem_shape[4] = {resnet_planes[0], 3, RESNET_STEM_KERNEL, RESNET_STEM_KERNEL};
    segc_status st = segc_params_conv_bn(p, segc_params_name(conv, sizeof conv, "%s.conv1", prefix),
                                         segc_params_name(bn, sizeof bn, "%s.bn1", prefix), bn_eps, stem_shape,
                                         &out->conv1_w, &out->conv1_b);
    if (st) return st;
    out->kind = segc_params_has(p, segc_params_name(conv, sizeof conv, "%s.layer1.0.conv3.weight", prefix))
                    ? SEGC_RESBLOCK_BOTTLENECK
                    : SEGC_RESBLOCK_BASIC;

    /* torchvision ResNet._make_layer: a dilated layer multiplies the dilation by its stride and keeps
       the previous dilation on its first block. */
    int in = resnet_planes[0], dilation = 1, counts[4];
    for (int i = 0; i < 4; i++) {
        int stride = i == 0 ? 1 : 2, previous = dilation;
        if (i > 0 && replace_stride_with_dilation && replace_stride_with_dilation[i - 1]) {
            dilation *= stride;
            stride = 1;
        }
        out->layer_stride[i] = stride;
        out->layer_dilation[i] = dilation;
        segc_params_name(conv, sizeof conv, "%s.layer%d", prefix, i + 1);
        st = segc_reslayer_load(p, conv, out->kind, in, resnet_planes[i], blocks ? blocks[i] : 0, stride, previous,
                                dilation, bn_eps, &out->layers[i]);
        if (st) {
            segc_resnet_free(out);
            return st;
        }
        counts[i] = out->layers[i].num_blocks;
        in = segc_reslayer_out_channels(&out->layers[i]);
    }
    out->depth = resnet_depth(out->kind, counts);
    return SEGC_OK;
}

void segc_resnet_free(segc_resnet *r) {
    for (int i = 0; i < 4; i++) segc_reslayer_free(&r->layers[i]);
}

int segc_resnet_channels(const segc_resnet *r, int layer) {
    return layer >= 1 && layer <= 4 ? segc_reslayer_out_channels(&r->layers[layer - 1]) : 0;
}

/* Stem conv 7x7/2 (+ReLU) and max pool 3x3/2 output sizes for an H x W input. */
static void stem_sizes(int64_t h, int64_t w, int64_t *ch, int64_t *cw, int64_t *ph, int64_t *pw) {
    *ch = segc_conv2d_out_dim(h, RESNET_STEM_KERNEL, RESNET_STEM_STRIDE, RESNET_STEM_PAD, 1);
    *cw = segc_conv2d_out_dim(w, RESNET_STEM_KERNEL, RESNET_STEM_STRIDE, RESNET_STEM_PAD, 1);
    *ph = segc_pool2d_out_dim(*ch, RESNET_POOL_KERNEL, RESNET_POOL_STRIDE, RESNET_POOL_PAD, 0);
    *pw = segc_pool2d_out_dim(*cw, RESNET_POOL_KERNEL, RESNET_POOL_STRIDE, RESNET_POOL_PAD, 0);
}

/* Every block of every layer in order; two ping-pong buffers sized for the largest intermediate, and the
   last block of each wanted layer writes straight into its output (allocated first). */
segc_status segc_resnet_forward(const segc_resnet *r, segc_arena *arena, const segc_tensor *x, unsigned want,
                                segc_tensor outs[4]) {
    char s1[96];
    if (x->dtype != SEGC_F32 || x->ndim != 4 || x->shape[1] != 3 || !segc_tensor_is_contiguous(x))
        return segc_fail(SEGC_ERR_SHAPE, "resnet: input %s, expected [N, 3, H, W] contiguous f32",
                         segc_tensor_shape_str(x, s1, sizeof s1));
    int64_t n = x->shape[0], ch, cw, h, w;
    stem_sizes(x->shape[2], x->shape[3], &ch, &cw, &h, &w);
    if (ch <= 0 || cw <= 0 || h <= 0 || w <= 0)
        return segc_fail(SEGC_ERR_SHAPE, "resnet: input %lldx%lld is too small", (long long)x->shape[3],
                         (long long)x->shape[2]);
    int64_t max_numel = n * resnet_planes[0] * ch * cw;
    for (int l = 0; l < 4; l++) {
        const segc_reslayer *layer = &r->layers[l];
        for (int i = 0; i < layer->num_blocks; i++) {
            segc_resblock_out_size(&layer->blocks[i], h, w, &h, &w);
            int64_t numel = n * layer->blocks[i].out_channels * h * w;
            if (numel > max_numel) max_numel = numel;
        }
        if (want & SEGC_RESNET_LAYER(l + 1)) {
            segc_status st = segc_tensor_new_f32(arena, &outs[l], 4, n, segc_reslayer_out_channels(layer), h, w);
            if (st) return st;
        }
    }
    segc_arena_mark mark = segc_arena_get_mark(arena);
    float *buf[2];
    buf[0] = segc_arena_alloc_array(arena, (size_t)max_numel, sizeof(float));
    buf[1] = segc_arena_alloc_array(arena, (size_t)max_numel, sizeof(float));
    if (!buf[0] || !buf[1]) {
        segc_arena_release(arena, mark);
        return SEGC_ERR_NOMEM;
    }
    /* conv1 + bn1 + relu -> buf[0]; maxpool -> buf[1] */
    segc_tensor stem = segc_tensor_f32(buf[0], 4, n, resnet_planes[0], ch, cw);
    segc_conv2d_params cp = segc_conv2d_params_make(RESNET_STEM_STRIDE, RESNET_STEM_PAD, 1, 1);
    cp.act = SEGC_ACT_RELU;
    segc_status st = segc_conv2d(arena, x, &r->conv1_w, &r->conv1_b, &cp, &stem);
    int64_t ph, pw;
    stem_sizes(x->shape[2], x->shape[3], &ch, &cw, &ph, &pw);
    segc_tensor cur = segc_tensor_f32(buf[1], 4, n, resnet_planes[0], ph, pw);
    segc_pool2d_params pp = segc_pool2d_params_make(RESNET_POOL_KERNEL, RESNET_POOL_STRIDE, RESNET_POOL_PAD);
    if (!st) st = segc_max_pool2d(&stem, &pp, &cur);
    for (int l = 0; l < 4 && !st; l++) {
        const segc_reslayer *layer = &r->layers[l];
        for (int i = 0; i < layer->num_blocks && !st; i++) {
            const segc_resblock *b = &layer->blocks[i];
            int64_t p, q;
            segc_resblock_out_size(b, cur.shape[2], cur.shape[3], &p, &q);
            segc_tensor next;
            if (i == layer->num_blocks - 1 && (want & SEGC_RESNET_LAYER(l + 1))) {
                next = outs[l];
            } else {
                /* never the buffer `cur` lives in */
                float *dst = cur.data == buf[0] ? buf[1] : buf[0];
                next = segc_tensor_f32(dst, 4, n, b->out_channels, p, q);
            }
            st = segc_resblock_forward_into(b, arena, &cur, &next);
            if (st) st = segc_fail_context(st, "layer%d.%d", l + 1, i);
            cur = next;
        }
    }
    segc_arena_release(arena, mark);
    return st;
}
