/* resblock.c - ResNet BasicBlock / Bottleneck (torchvision and HRNet layout) with BN folded at load.
   Does not do: the stem, grouped (ResNeXt) widths, ResNet-D downsampling. */
#include "nn/resblock.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/status.h"
#include "ops/conv.h"

int segc_resblock_expansion(segc_resblock_kind kind) { return kind == SEGC_RESBLOCK_BOTTLENECK ? 4 : 1; }

/* Loads "<prefix>.<conv>" + "<prefix>.<bn>" as a folded [k, c, r, r] conv. */
static segc_status load_conv_bn(segc_params *p, const char *prefix, const char *conv, const char *bn, float eps,
                                int64_t k, int64_t c, int64_t r, segc_tensor *w, segc_tensor *b) {
    char conv_name[256], bn_name[256];
    const int64_t shape[4] = {k, c, r, r};
    segc_params_name(conv_name, sizeof conv_name, "%s.%s", prefix, conv);
    segc_params_name(bn_name, sizeof bn_name, "%s.%s", prefix, bn);
    return segc_params_conv_bn(p, conv_name, bn_name, eps, shape, w, b);
}

/* Hands the pages of a weight served from the file mapping back to the page cache (it stays readable: a
   later read faults them in again). Widened copies (not in the mapping) are left alone, and so are the
   pages the tensor shares with its neighbours. */
static void release_mapped(const segc_params *p, const char *name, const void *data) {
    const segc_file_tensor *t = segc_file_find(p->file, name);
    long page = sysconf(_SC_PAGESIZE);
    if (!t || t->data != data || page <= 0) return;
    uintptr_t a = ((uintptr_t)t->data + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    uintptr_t e = ((uintptr_t)t->data + t->nbytes) / (uintptr_t)page * (uintptr_t)page;
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

/* A 3x3 stride-1 conv + BN straight into Winograd form: U from the stored weight with the BN scale of
   each filter applied during the transform (segc_params_conv_bn_scale), the folded bias into the store.
   The weight is never copied and its mapped pages are released: *w is left an empty [k, c, 3, 3] (data NULL). */
static segc_status load_conv_bn_winograd(segc_params *p, const char *prefix, const char *conv, const char *bn,
                                         float eps, int64_t k, int64_t c, segc_tensor *w, segc_tensor *b,
                                         segc_winograd_weights **slot) {
    char conv_name[256], bn_name[256], name[256];
    const int64_t shape[4] = {k, c, 3, 3};
    segc_tensor raw, scale;
    segc_params_name(conv_name, sizeof conv_name, "%s.%s", prefix, conv);
    segc_params_name(bn_name, sizeof bn_name, "%s.%s", prefix, bn);
    segc_status st = segc_params_conv_bn_scale(p, conv_name, bn_name, eps, shape, &raw, &scale, b);
    if (st) return st;
    segc_winograd_weights *u = calloc(1, sizeof *u);
    if (!u) return segc_fail(SEGC_ERR_NOMEM, "%s.%s: winograd weights", prefix, conv);
    if ((st = segc_winograd_prepare_scaled(&raw, scale.data, u))) {
        free(u);
        return st;
    }
    *slot = u;
    *w = segc_tensor_wrap(SEGC_F32, 4, shape, NULL);
    release_mapped(p, segc_params_name(name, sizeof name, "%s.%s.weight", prefix, conv), raw.data);
    return SEGC_OK;
}

/* segc_resblock_load; with `winograd`, the 3x3 convs of stride and dilation 1 load as Winograd weights
   (load_conv_bn_winograd) instead of folded ones. */
static segc_status block_load(segc_params *p, const char *prefix, segc_resblock_kind kind, int in_channels, int planes,
                              int stride, int dilation, float bn_eps, int winograd, segc_resblock *out) {
    memset(out, 0, sizeof *out);
    if (kind != SEGC_RESBLOCK_BASIC && kind != SEGC_RESBLOCK_BOTTLENECK)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: unknown residual block kind %d", prefix, (int)kind);
    if (in_channels < 1 || planes < 1 || stride < 1 || dilation < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: bad block config in %d planes %d stride %d dilation %d", prefix,
                         in_channels, planes, stride, dilation);
    out->kind = kind;
    out->in_channels = in_channels;
    out->planes = planes;
    out->out_channels = planes * segc_resblock_expansion(kind);
    out->stride = stride;
    out->dilation = dilation;
    segc_status st;
    /* Winograd for the 3x3 convs of stride 1 (basic: conv1 carries the block's stride, conv2 never;
       bottleneck: conv2 is the only 3x3) */
    const int wino1 = winograd && dilation == 1 && kind == SEGC_RESBLOCK_BASIC && stride == 1;
    const int wino2 = winograd && dilation == 1 && (kind == SEGC_RESBLOCK_BASIC || stride == 1);
    if (kind == SEGC_RESBLOCK_BASIC) {
        if ((st = wino1 ? load_conv_bn_winograd(p, prefix, "conv1", "bn1", bn_eps, planes, in_channels, &out->conv1_w,
                                                &out->conv1_b, &out->conv1_wino)
                        : load_conv_bn(p, prefix, "conv1", "bn1", bn_eps, planes, in_channels, 3, &out->conv1_w,
                                       &out->conv1_b)))
            return st;
    } else if ((st = load_conv_bn(p, prefix, "conv1", "bn1", bn_eps, planes, in_channels, 1, &out->conv1_w,
                                  &out->conv1_b))) {
        return st;
    }
    if ((st = wino2 ? load_conv_bn_winograd(p, prefix, "conv2", "bn2", bn_eps, planes, planes, &out->conv2_w,
                                            &out->conv2_b, &out->conv2_wino)
                    : load_conv_bn(p, prefix, "conv2", "bn2", bn_eps, planes, planes, 3, &out->conv2_w,
                                   &out->conv2_b)))
        return st;
    if (kind == SEGC_RESBLOCK_BOTTLENECK &&
        (st = load_conv_bn(p, prefix, "conv3", "bn3", bn_eps, out->out_channels, planes, 1, &out->conv3_w,
                           &out->conv3_b)))
        return st;
    char name[256];
    out->has_downsample = segc_params_has(p, segc_params_name(name, sizeof name, "%s.downsample.0.weight", prefix));
    if (out->has_downsample)
        return load_conv_bn(p, prefix, "downsample.0", "downsample.1", bn_eps, out->out_channels, in_channels, 1,
                            &out->downsample_w, &out->downsample_b);
    if (stride != 1 || in_channels != out->out_channels)
        return segc_fail(SEGC_ERR_NOT_FOUND, "%s: block changes shape (in %d -> out %d, stride %d) but has no %s",
                         prefix, in_channels, out->out_channels, stride, name);
    return SEGC_OK;
}

segc_status segc_resblock_load(segc_params *p, const char *prefix, segc_resblock_kind kind, int in_channels,
                               int planes, int stride, int dilation, float bn_eps, segc_resblock *out) {
    return block_load(p, prefix, kind, in_channels, planes, stride, dilation, bn_eps, 0, out);
}

void segc_resblock_out_size(const segc_resblock *b, int64_t h, int64_t w, int64_t *p_out, int64_t *q_out) {
    *p_out = segc_conv2d_out_dim(h, 3, b->stride, b->dilation, b->dilation);
    *q_out = segc_conv2d_out_dim(w, 3, b->stride, b->dilation, b->dilation);
}

/* Checks that x is a contiguous float32 [N, in_channels, H, W]. */
static segc_status check_input(const segc_resblock *b, const segc_tensor *x) {
    char buf[96];
    if (x->dtype != SEGC_F32 || x->ndim != 4 || !segc_tensor_is_contiguous(x) || x->shape[1] != b->in_channels)
        return segc_fail(SEGC_ERR_SHAPE, "resblock: input %s %s: want contiguous f32 [N, %d, H, W]",
                         segc_dtype_name(x->dtype), segc_tensor_shape_str(x, buf, sizeof buf), b->in_channels);
    return SEGC_OK;
}

/* A 3x3 conv of a block: Winograd when its weights were prepared (stride 1, dilation 1), else conv2d. */
static segc_status conv3x3(segc_arena *arena, const segc_tensor *x, const segc_tensor *w, const segc_tensor *b,
                           const segc_winograd_weights *wino, const segc_conv2d_params *cp, segc_tensor *out) {
    if (wino) return segc_winograd_conv3x3(arena, x, wino, b, cp->act, out);
    return segc_conv2d(arena, x, w, b, cp, out);
}

/* x: [N, C, H, W] -> out: [N, K, P, Q] (preallocated). Temporaries [N, planes, *, *] live between a mark
   and its release. */
segc_status segc_resblock_forward_into(const segc_resblock *b, segc_arena *arena, const segc_tensor *x,
                                       segc_tensor *out) {
    segc_status st = check_input(b, x);
    if (st) return st;
    int64_t n = x->shape[0], h = x->shape[2], w = x->shape[3], p, q;
    segc_resblock_out_size(b, h, w, &p, &q);
    const int64_t want[4] = {n, b->out_channels, p, q};
    if (!segc_tensor_has_shape(out, 4, want) || !segc_tensor_is_contiguous(out) || out->dtype != SEGC_F32) {
        char buf[96];
        return segc_fail(SEGC_ERR_SHAPE, "resblock: output %s, want [%lld, %d, %lld, %lld]",
                         segc_tensor_shape_str(out, buf, sizeof buf), (long long)n, b->out_channels, (long long)p,
                         (long long)q);
    }
    const int d = b->dilation;
    segc_conv2d_params k1 = segc_conv2d_params_make(1, 0, 1, 1);
    segc_conv2d_params k3 = segc_conv2d_params_make(1, d, d, 1);
    segc_conv2d_params k3s = segc_conv2d_params_make(b->stride, d, d, 1);
    segc_conv2d_params down = segc_conv2d_params_make(b->stride, 0, 1, 1);
    k1.act = SEGC_ACT_RELU;
    k3s.act = SEGC_ACT_RELU;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor t1, t2, identity = *x;
    if (b->has_downsample) {   /* the shortcut goes straight into out: the last conv adds onto it in place */
        if ((st = segc_conv2d(arena, x, &b->downsample_w, &b->downsample_b, &down, out))) goto done;
        identity = *out;
    }
    if (b->kind == SEGC_RESBLOCK_BASIC) {
        /* conv1 3x3 /stride + ReLU -> t1 [N, planes, P, Q]; conv2 3x3 + identity + ReLU -> out */
        if ((st = segc_tensor_new_f32(arena, &t1, 4, n, b->planes, p, q)) ||
            (st = conv3x3(arena, x, &b->conv1_w, &b->conv1_b, b->conv1_wino, &k3s, &t1)))
            goto done;
        if (b->conv2_wino) {   /* the residual add and the ReLU ride along in the output transform */
            st = segc_winograd_conv3x3_ex(arena, &t1, b->conv2_wino, &b->conv2_b, &identity, SEGC_ACT_RELU, out);
            goto done;
        }
        k3.act = SEGC_ACT_RELU;
        st = segc_conv2d_residual(arena, &t1, &b->conv2_w, &b->conv2_b, &identity, &k3, out);
    } else {
        /* conv1 1x1 + ReLU -> t1 [N, planes, H, W]; conv2 3x3 /stride + ReLU -> t2 [N, planes, P, Q];
           conv3 1x1 + identity + ReLU -> out */
        if ((st = segc_tensor_new_f32(arena, &t1, 4, n, b->planes, h, w)) ||
            (st = segc_conv2d(arena, x, &b->conv1_w, &b->conv1_b, &k1, &t1)) ||
            (st = segc_tensor_new_f32(arena, &t2, 4, n, b->planes, p, q)) ||
            (st = conv3x3(arena, &t1, &b->conv2_w, &b->conv2_b, b->conv2_wino, &k3s, &t2)))
            goto done;
        st = segc_conv2d_residual(arena, &t2, &b->conv3_w, &b->conv3_b, &identity, &k1, out);
    }
done:
    segc_arena_release(arena, mark);
    return st;
}

segc_status segc_resblock_forward(const segc_resblock *b, segc_arena *arena, const segc_tensor *x,
                                  segc_tensor *out) {
    segc_status st = check_input(b, x);
    if (st) return st;
    int64_t p, q;
    segc_resblock_out_size(b, x->shape[2], x->shape[3], &p, &q);
    if ((st = segc_tensor_new_f32(arena, out, 4, x->shape[0], b->out_channels, p, q))) return st;
    return segc_resblock_forward_into(b, arena, x, out);
}

/* segc_reslayer_load, with `winograd` passed to every block_load. */
static segc_status layer_load(segc_params *p, const char *prefix, segc_resblock_kind kind, int in_channels, int planes,
                              int num_blocks, int stride, int first_dilation, int dilation, float bn_eps, int winograd,
                              segc_reslayer *out) {
    memset(out, 0, sizeof *out);
    char name[256];
    if (num_blocks == 0)
        while (num_blocks < 10000 &&
               segc_params_has(p, segc_params_name(name, sizeof name, "%s.%d.conv1.weight", prefix, num_blocks)))
            num_blocks++;
    if (num_blocks < 1)
        return segc_fail(SEGC_ERR_NOT_FOUND, "%s: no residual blocks (no %s.0.conv1.weight)", prefix, prefix);
    out->blocks = calloc((size_t)num_blocks, sizeof *out->blocks);
    if (!out->blocks) return segc_fail(SEGC_ERR_NOMEM, "%s: %d blocks", prefix, num_blocks);
    out->num_blocks = num_blocks;
    int channels = in_channels;
    for (int i = 0; i < num_blocks; i++) {
        segc_params_name(name, sizeof name, "%s.%d", prefix, i);
        segc_status st = block_load(p, name, kind, channels, planes, i == 0 ? stride : 1,
                                    i == 0 ? first_dilation : dilation, bn_eps, winograd, &out->blocks[i]);
        if (st) {
            segc_reslayer_free(out);
            return st;
        }
        channels = out->blocks[i].out_channels;
    }
    return SEGC_OK;
}

segc_status segc_reslayer_load(segc_params *p, const char *prefix, segc_resblock_kind kind, int in_channels,
                               int planes, int num_blocks, int stride, int first_dilation, int dilation,
                               float bn_eps, segc_reslayer *out) {
    return layer_load(p, prefix, kind, in_channels, planes, num_blocks, stride, first_dilation, dilation, bn_eps, 0,
                      out);
}

segc_status segc_reslayer_load_winograd(segc_params *p, const char *prefix, segc_resblock_kind kind, int in_channels,
                                        int planes, int num_blocks, float bn_eps, segc_reslayer *out) {
    return layer_load(p, prefix, kind, in_channels, planes, num_blocks, 1, 1, 1, bn_eps, 1, out);
}

void segc_reslayer_free(segc_reslayer *layer) {
    for (int i = 0; layer->blocks && i < layer->num_blocks; i++) {
        segc_winograd_weights *w[2] = {layer->blocks[i].conv1_wino, layer->blocks[i].conv2_wino};
        for (int k = 0; k < 2; k++) {
            if (w[k]) segc_winograd_weights_free(w[k]);
            free(w[k]);
        }
    }
    free(layer->blocks);
    layer->blocks = NULL;
    layer->num_blocks = 0;
}

int segc_reslayer_out_channels(const segc_reslayer *layer) {
    return layer->num_blocks > 0 ? layer->blocks[layer->num_blocks - 1].out_channels : 0;
}

/* Output shape of the layer for x [N, C, H, W] and the largest intermediate (blocks 0..n-2) in elements. */
static void layer_shapes(const segc_reslayer *layer, const segc_tensor *x, int64_t out_shape[4], int64_t *max_numel) {
    int64_t n = x->shape[0], h = x->shape[2], w = x->shape[3];
    *max_numel = 0;
    for (int i = 0; i < layer->num_blocks; i++) {
        segc_resblock_out_size(&layer->blocks[i], h, w, &h, &w);
        int64_t numel = n * layer->blocks[i].out_channels * h * w;
        if (i < layer->num_blocks - 1 && numel > *max_numel) *max_numel = numel;
    }
    out_shape[0] = n;
    out_shape[1] = segc_reslayer_out_channels(layer);
    out_shape[2] = h;
    out_shape[3] = w;
}

/* x: [N, C, H, W] -> out [N, K, P, Q] (preallocated). Blocks 0..n-2 write into (up to) two ping-pong buffers
   sized for the largest intermediate (released on return); the last block writes into `out`. */
segc_status segc_reslayer_forward_into(const segc_reslayer *layer, segc_arena *arena, const segc_tensor *x,
                                       segc_tensor *out) {
    if (layer->num_blocks < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "reslayer: no blocks");
    segc_status st = check_input(&layer->blocks[0], x);
    if (st) return st;
    int64_t shape[4], max_numel, n = x->shape[0];
    layer_shapes(layer, x, shape, &max_numel);
    if (!segc_tensor_has_shape(out, 4, shape) || !segc_tensor_is_contiguous(out) || out->dtype != SEGC_F32) {
        char buf[96];
        return segc_fail(SEGC_ERR_SHAPE, "reslayer: output %s, want [%lld, %lld, %lld, %lld]",
                         segc_tensor_shape_str(out, buf, sizeof buf), (long long)shape[0], (long long)shape[1],
                         (long long)shape[2], (long long)shape[3]);
    }
    segc_arena_mark mark = segc_arena_get_mark(arena);
    /* blocks alternate between one scratch buffer and `out` (every intermediate has out's size), in the
       parity that makes the last block write `out`; block i reads what block i - 1 wrote */
    float *buf = NULL;
    if (layer->num_blocks > 1) {
        buf = segc_arena_alloc_array(arena, (size_t)max_numel, sizeof(float));
        if (!buf) {
            segc_arena_release(arena, mark);
            return SEGC_ERR_NOMEM;
        }
    }
    segc_tensor cur = *x;
    for (int i = 0; i < layer->num_blocks && !st; i++) {
        const segc_resblock *b = &layer->blocks[i];
        segc_tensor next;
        if ((layer->num_blocks - 1 - i) % 2 == 0) {
            next = *out;
        } else {
            int64_t p, q;
            segc_resblock_out_size(b, cur.shape[2], cur.shape[3], &p, &q);
            next = segc_tensor_f32(buf, 4, n, b->out_channels, p, q);
        }
        st = segc_resblock_forward_into(b, arena, &cur, &next);
        cur = next;
    }
    segc_arena_release(arena, mark);
    return st;
}

segc_status segc_reslayer_forward(const segc_reslayer *layer, segc_arena *arena, const segc_tensor *x,
                                  segc_tensor *out) {
    if (layer->num_blocks < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "reslayer: no blocks");
    segc_status st = check_input(&layer->blocks[0], x);
    if (st) return st;
    int64_t shape[4], max_numel;
    layer_shapes(layer, x, shape, &max_numel);
    if ((st = segc_tensor_new(arena, SEGC_F32, 4, shape, out))) return st;
    return segc_reslayer_forward_into(layer, arena, x, out);
}

void segc_reslayer_out_shape(const segc_reslayer *layer, const segc_tensor *x, int64_t out_shape[4]) {
    int64_t max_numel;
    layer_shapes(layer, x, out_shape, &max_numel);
}
