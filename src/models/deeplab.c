/* deeplab.c - DeepLabV3+ / DeepLabV3 (VainF/DeepLabV3Plus-Pytorch) from a .segc file: metadata -> config,
   folded weights -> per-module structs, and the forward of network/_deeplab.py top to bottom.
   The backbones live in src/nn (mobilenetv2, resnet) and deeplab_backbone.c (Xception); the head's
   two special convs in deeplab_head.c. Does not do: HRNetV2 backbones, separable-conv heads (the
   converter refuses them), batch > 1. */
#include "models/deeplab.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "nn/mobilenetv2.h"
#include "nn/params.h"
#include "nn/resnet.h"
#include "ops/act.h"
#include "ops/conv.h"
#include "ops/pool.h"
#include "ops/resize.h"

#define DEEPLAB_BN_EPS 1e-5f              /* nn.BatchNorm2d default */
#define DEEPLAB_ASPP_CHANNELS 256         /* ASPP.out_channels */
#define DEEPLAB_ASPP_BRANCHES 5           /* 1x1, three atrous 3x3, image pooling */
#define DEEPLAB_LOW_PROJECT_CHANNELS 48   /* DeepLabHeadV3Plus.project */
#define DEEPLAB_MIN_SIDE 3                /* MobileNetV2's unpadded 3x3 stem needs 3 pixels */

typedef enum deeplab_backbone { DEEPLAB_MOBILENETV2, DEEPLAB_RESNET, DEEPLAB_XCEPTION } deeplab_backbone;

typedef struct deeplab_config {
    deeplab_backbone backbone;
    int plus;                  /* DeepLabHeadV3Plus (decoder) vs DeepLabHead */
    int num_classes;           /* K */
    int output_stride;         /* 8 or 16 */
    int aspp_rates[3];
    float mean[3], std[3];     /* 0-1 scale, RGB */
} deeplab_config;

/* A conv with its BN folded: w [K, C, R, S], b [K]. */
typedef struct deeplab_conv {
    segc_tensor w, b;
} deeplab_conv;

typedef struct deeplab_aspp {
    deeplab_conv convs[4];     /* convs.0 (1x1), convs.1..3 (3x3 atrous) */
    segc_tensor atrous_wt[3];  /* convs.1..3 weights tap-major [9, 256, C] (segc_deeplab_atrous_conv3x3) */
    deeplab_conv pooling;      /* convs.4.1 / .2: 1x1 on the global average */
    deeplab_conv project;      /* project.0 / .1: 1x1 5*256 -> 256 */
} deeplab_aspp;

typedef struct deeplab_model {
    deeplab_config config;
    segc_params params;
    segc_mobilenetv2 mobilenet;
    segc_resnet resnet;
    segc_deeplab_xception *xception;
    int low_channels, high_channels;
    deeplab_conv project;      /* classifier.project (V3+): 1x1 -> 48, BN, ReLU */
    deeplab_aspp aspp;
    deeplab_conv head_conv;    /* 3x3 -> 256, BN, ReLU */
    deeplab_conv head_low;     /* V3+: head_conv restricted to the 48 low-level input channels */
    segc_tensor head_low_u;    /* the same for segc_deeplab_winograd3x3 [16, 256, 48] */
    segc_tensor head_up_wt;    /* V3+: head_conv's 256 ASPP input channels, tap-major [9, 256, 256] */
    deeplab_conv head_out;     /* 1x1 -> K with bias */
} deeplab_model;

/* ---- loading --------------------------------------------------------------------------------- */

/* Folded conv at `conv` (+ BN `bn`, may be NULL) with the exact weight shape [k, c, r, r]. */
static segc_status load_conv(segc_params *p, const char *conv, const char *bn, int64_t k, int64_t c, int64_t r,
                             deeplab_conv *out) {
    const int64_t shape[4] = {k, c, r, r};
    return segc_params_conv_bn(p, conv, bn, DEEPLAB_BN_EPS, shape, &out->w, &out->b);
}

static segc_status load_aspp(segc_params *p, const char *prefix, int64_t c, deeplab_aspp *a) {
    char conv[128], bn[128];
    segc_status st = SEGC_OK;
    for (int i = 0; i < 4 && !st; i++)
        st = load_conv(p, segc_params_name(conv, sizeof conv, "%s.convs.%d.0", prefix, i),
                       segc_params_name(bn, sizeof bn, "%s.convs.%d.1", prefix, i), DEEPLAB_ASPP_CHANNELS, c,
                       i == 0 ? 1 : 3, &a->convs[i]);
    if (!st)
        st = load_conv(p, segc_params_name(conv, sizeof conv, "%s.convs.4.1", prefix),
                       segc_params_name(bn, sizeof bn, "%s.convs.4.2", prefix), DEEPLAB_ASPP_CHANNELS, c, 1,
                       &a->pooling);
    if (!st)
        st = load_conv(p, segc_params_name(conv, sizeof conv, "%s.project.0", prefix),
                       segc_params_name(bn, sizeof bn, "%s.project.1", prefix), DEEPLAB_ASPP_CHANNELS,
                       DEEPLAB_ASPP_BRANCHES * DEEPLAB_ASPP_CHANNELS, 1, &a->project);
    for (int i = 0; i < 3 && !st; i++)
        st = segc_deeplab_upconv_prepare(&p->store, &a->convs[i + 1].w, 0, c, &a->atrous_wt[i]);
    return st;
}

/* Metadata -> config; `os_override` 0 keeps the stored output stride. */
static segc_status read_config(const segc_file *f, int os_override, deeplab_config *c) {
    const char *arch = NULL, *backbone = NULL, *head = NULL;
    int64_t k = 0, os = 0;
    segc_status st = segc_file_get_str(f, "arch", &arch);
    if (st) return st;
    if (strcmp(arch, "deeplabv3plus"))
        return segc_fail(SEGC_ERR_UNSUPPORTED, "deeplab: this file holds a '%s' model, not deeplabv3plus", arch);
    if ((st = segc_file_get_str(f, "deeplab.backbone", &backbone)) ||
        (st = segc_file_get_str(f, "deeplab.head", &head)) || (st = segc_file_get_int(f, "num_classes", &k)) ||
        (st = segc_file_get_int(f, "deeplab.output_stride", &os)) ||
        (st = segc_file_get_floats(f, "input.mean", c->mean, 3)) ||
        (st = segc_file_get_floats(f, "input.std", c->std, 3)))
        return segc_fail_context(st, "deeplab metadata");
    if (!strcmp(backbone, "mobilenetv2")) c->backbone = DEEPLAB_MOBILENETV2;
    else if (!strcmp(backbone, "resnet")) c->backbone = DEEPLAB_RESNET;
    else if (!strcmp(backbone, "xception")) c->backbone = DEEPLAB_XCEPTION;
    else return segc_fail(SEGC_ERR_UNSUPPORTED, "deeplab: backbone '%s' is not supported", backbone);
    if (!strcmp(head, "deeplabv3plus")) c->plus = 1;
    else if (!strcmp(head, "deeplabv3")) c->plus = 0;
    else return segc_fail(SEGC_ERR_UNSUPPORTED, "deeplab: head '%s' is not supported", head);
    if (k < 1 || k > 100000) return segc_fail(SEGC_ERR_FORMAT, "deeplab: num_classes %lld", (long long)k);
    c->num_classes = (int)k;
    if (os_override) os = os_override;
    if (os != 8 && os != 16) return segc_fail(SEGC_ERR_INVALID_ARG, "deeplab: output stride %lld (8 or 16)", (long long)os);
    c->output_stride = (int)os;
    for (int i = 0; i < 3; i++)
        if (!(c->std[i] > 0.0f)) return segc_fail(SEGC_ERR_FORMAT, "deeplab: input.std[%d] = %g", i, c->std[i]);
    /* network/modeling.py: aspp_dilate = [12, 24, 36] at OS8 else [6, 12, 18]. The stored rates are used
       unless the stride was overridden. */
    int64_t rates[3] = {os == 8 ? 12 : 6, os == 8 ? 24 : 12, os == 8 ? 36 : 18};
    if (!os_override && segc_file_kv_find(f, "deeplab.aspp_rates") &&
        (st = segc_file_get_ints(f, "deeplab.aspp_rates", rates, 3)))
        return st;
    for (int i = 0; i < 3; i++) {
        if (rates[i] < 1 || rates[i] > 1024)
            return segc_fail(SEGC_ERR_FORMAT, "deeplab: aspp rate %lld", (long long)rates[i]);
        c->aspp_rates[i] = (int)rates[i];
    }
    return SEGC_OK;
}

/* Splits the V3+ decoder conv [256, 48 + 256, 3, 3] into its low-level part (a plain conv with the
   bias) and its ASPP part (tap-major, for segc_deeplab_upconv3x3_add). */
static segc_status split_head_conv(deeplab_model *m, int64_t low) {
    const segc_tensor *w = &m->head_conv.w;
    int64_t K = w->shape[0], C = w->shape[1];
    segc_status st = segc_tensor_new_f32(&m->params.store, &m->head_low.w, 4, K, low, 3, 3);
    if (st) return st;
    const float *src = w->data;
    float *dst = m->head_low.w.data;
    for (int64_t k = 0; k < K; k++) memcpy(dst + k * low * 9, src + k * C * 9, (size_t)(low * 9) * sizeof(float));
    m->head_low.b = m->head_conv.b;
    st = segc_deeplab_winograd_prepare(&m->params.store, &m->head_low.w, &m->head_low_u);
    if (st) return st;
    return segc_deeplab_upconv_prepare(&m->params.store, w, low, C - low, &m->head_up_wt);
}

static segc_status load_model(deeplab_model *m) {
    segc_params *p = &m->params;
    const deeplab_config *c = &m->config;
    segc_status st;
    if (c->backbone == DEEPLAB_MOBILENETV2) {
        st = segc_mobilenetv2_load(p, "backbone.low_level_features", "backbone.high_level_features", 4,
                                   c->output_stride, DEEPLAB_BN_EPS, &m->mobilenet);
        if (st) return st;
        m->low_channels = m->mobilenet.blocks[SEGC_MBV2_LOW_LEVEL_FEATURE - 1].out_channels;
        m->high_channels = m->mobilenet.blocks[SEGC_MBV2_NUM_BLOCKS - 1].out_channels;
    } else if (c->backbone == DEEPLAB_XCEPTION) {
        st = segc_deeplab_xception_load(p, c->output_stride, &m->xception);
        if (st) return st;
        m->low_channels = 128;    /* block1 */
        m->high_channels = 2048;  /* conv4 */
    } else {
        /* _segm_resnet: replace_stride_with_dilation [F, T, T] at OS8, [F, F, T] at OS16. */
        const int dilate[3] = {0, c->output_stride == 8, 1};
        st = segc_resnet_load(p, "backbone", NULL, dilate, DEEPLAB_BN_EPS, &m->resnet);
        if (st) return st;
        m->low_channels = segc_resnet_channels(&m->resnet, 1);
        m->high_channels = segc_resnet_channels(&m->resnet, 4);
    }
    const int64_t A = DEEPLAB_ASPP_CHANNELS;
    if (c->plus) {
        const int64_t proj = DEEPLAB_LOW_PROJECT_CHANNELS;
        if ((st = load_conv(p, "classifier.project.0", "classifier.project.1", proj, m->low_channels, 1,
                            &m->project)) ||
            (st = load_aspp(p, "classifier.aspp", m->high_channels, &m->aspp)) ||
            (st = load_conv(p, "classifier.classifier.0", "classifier.classifier.1", A, proj + A, 3,
                            &m->head_conv)) ||
            (st = load_conv(p, "classifier.classifier.3", NULL, c->num_classes, A, 1, &m->head_out)) ||
            (st = split_head_conv(m, proj)))
            return st;
    } else if ((st = load_aspp(p, "classifier.classifier.0", m->high_channels, &m->aspp)) ||
               (st = load_conv(p, "classifier.classifier.1", "classifier.classifier.2", A, A, 3, &m->head_conv)) ||
               (st = load_conv(p, "classifier.classifier.4", NULL, c->num_classes, A, 1, &m->head_out))) {
        return st;
    }
    return SEGC_OK;
}

segc_status segc_deeplab_load_os(const segc_file *f, int output_stride, void **model) {
    *model = NULL;
    deeplab_model *m = calloc(1, sizeof *m);
    if (!m) return segc_fail(SEGC_ERR_NOMEM, "deeplab: model struct");
    segc_params_init(&m->params, f);
    segc_status st = read_config(f, output_stride, &m->config);
    if (!st) st = load_model(m);
    if (st) {
        segc_fail_context(st, "deeplab load");
        segc_deeplab_free(m);
        return st;
    }
    *model = m;
    return SEGC_OK;
}

segc_status segc_deeplab_load(const segc_file *f, void **model) { return segc_deeplab_load_os(f, 0, model); }

void segc_deeplab_free(void *model) {
    deeplab_model *m = model;
    if (!m) return;
    segc_resnet_free(&m->resnet);
    segc_deeplab_xception_free(m->xception);
    segc_params_free(&m->params);
    free(m);
}

int segc_deeplab_num_classes(const void *model) { return ((const deeplab_model *)model)->config.num_classes; }
int segc_deeplab_output_stride(const void *model) { return ((const deeplab_model *)model)->config.output_stride; }

/* ---- forward --------------------------------------------------------------------------------- */

/* out = act(conv(x)) with square kernel, padding `pad`, dilation `dil`, stride 1; out preallocated. */
static segc_status conv_into(segc_arena *arena, const segc_tensor *x, const deeplab_conv *c, int pad, int dil,
                             segc_act act, segc_tensor *out) {
    segc_conv2d_params p = segc_conv2d_params_make(1, pad, dil, 1);
    p.act = act;
    return segc_conv2d(arena, x, &c->w, &c->b, &p, out);
}

/* Channels [c0, c0 + count) of a batch-1 NCHW buffer as its own contiguous tensor (a free view). */
static segc_tensor channel_slice(const segc_tensor *t, int64_t c0, int64_t count) {
    float *base = (float *)t->data + c0 * t->shape[2] * t->shape[3];
    return segc_tensor_f32(base, 4, 1, count, t->shape[2], t->shape[3]);
}

/* ASPP at module path `name`: x [1, C, h, w] -> out [1, 256, h, w] (preallocated). */
static segc_status aspp_forward(const deeplab_aspp *a, const int rates[3], segc_ctx *ctx, const char *name,
                                const segc_tensor *x, segc_tensor *out) {
    segc_arena *arena = ctx->arena;
    const int64_t A = DEEPLAB_ASPP_CHANNELS, h = x->shape[2], w = x->shape[3];
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor cat, pooled, branch;
    segc_status st = segc_tensor_new_f32(arena, &cat, 4, 1, DEEPLAB_ASPP_BRANCHES * A, h, w);
    /* convs.0 (1x1) and convs.1..3 (3x3, padding = dilation = rate), each BN + ReLU, into their slice */
    for (int i = 0; i < 4 && !st; i++) {
        segc_tensor slice = channel_slice(&cat, i * A, A);
        if (i == 0) st = conv_into(arena, x, &a->convs[0], 0, 1, SEGC_ACT_RELU, &slice);
        else st = segc_deeplab_atrous_conv3x3(arena, x, &a->atrous_wt[i - 1], &a->convs[i].b, rates[i - 1],
                                              SEGC_ACT_RELU, &slice);
    }
    /* convs.4: AdaptiveAvgPool2d(1) -> 1x1 conv BN ReLU -> bilinear 1x1 -> h x w (a constant per channel) */
    if (!st) st = segc_tensor_new_f32(arena, &pooled, 4, 1, x->shape[1], 1, 1);
    if (!st) st = segc_global_avg_pool(x, &pooled);
    if (!st) st = segc_tensor_new_f32(arena, &branch, 4, 1, A, 1, 1);
    if (!st) st = conv_into(arena, &pooled, &a->pooling, 0, 1, SEGC_ACT_RELU, &branch);
    if (!st) st = segc_tapf(ctx, &branch, "%s.convs.4", name);
    if (!st) {
        const float *v = branch.data;
        float *dst = (float *)cat.data + 4 * A * h * w;
        for (int64_t c = 0; c < A; c++)
            for (int64_t i = 0; i < h * w; i++) dst[c * h * w + i] = v[c];
        st = segc_tapf(ctx, &cat, "%s.convs", name);
    }
    /* project: 1x1 1280 -> 256, BN, ReLU (Dropout: identity in eval) */
    if (!st) st = conv_into(arena, &cat, &a->project, 0, 1, SEGC_ACT_RELU, out);
    segc_arena_release(arena, mark);
    if (!st) st = segc_tap(ctx, name, out);
    return st;
}

/* Backbone: x [1, 3, H, W] -> low [1, Cl, H/4, W/4] (V3+ only) and high [1, Ch, H/OS, W/OS]. */
static segc_status backbone_forward(const deeplab_model *m, segc_ctx *ctx, const segc_tensor *x, segc_tensor *low,
                                    segc_tensor *high) {
    segc_status st;
    if (m->config.backbone == DEEPLAB_MOBILENETV2) {
        st = segc_mobilenetv2_forward(&m->mobilenet, ctx->arena, x, low, high);
    } else if (m->config.backbone == DEEPLAB_XCEPTION) {
        st = segc_deeplab_xception_forward(m->xception, ctx->arena, x, low, high);
    } else {
        segc_tensor outs[4] = {{0}};
        st = segc_resnet_forward(&m->resnet, ctx->arena, x, SEGC_RESNET_LAYER(1) | SEGC_RESNET_LAYER(4), outs);
        *low = outs[0];
        *high = outs[3];
    }
    if (!st) st = segc_tap(ctx, "backbone.low_level", low);
    if (!st) st = segc_tap(ctx, "backbone.out", high);
    return st;
}

/* The decoder concat [low_proj, up(aspp)] [1, P + A, h4, w4], built only for its tap (the head never
   materializes it: see deeplab_head.c). */
static segc_status tap_decoder_concat(segc_ctx *ctx, const segc_tensor *low_proj, const segc_tensor *aspp) {
    if (!segc_tap_wanted(ctx, "classifier.concat")) return SEGC_OK;
    segc_arena *arena = ctx->arena;
    const int64_t P = low_proj->shape[1], A = aspp->shape[1], h4 = low_proj->shape[2], w4 = low_proj->shape[3];
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor cat;
    segc_status st = segc_tensor_new_f32(arena, &cat, 4, 1, P + A, h4, w4);
    segc_tensor lo = channel_slice(&cat, 0, P), up = channel_slice(&cat, P, A);
    segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    if (!st) st = segc_tensor_copy(&lo, low_proj);
    if (!st) st = segc_resize(arena, aspp, &rp, &up);
    if (!st) st = segc_tap(ctx, "classifier.concat", &cat);
    segc_arena_release(arena, mark);
    return st;
}

/* DeepLabHeadV3Plus: decoder at stride 4 -> head [1, K, h4, w4] (preallocated).
   classifier.classifier.0 over cat[low_proj, up(aspp)] = conv(low_proj, W_low) + conv(up(aspp), W_aspp):
   the first by Winograd F(2x2, 3x3), the second at the ASPP's resolution (both in deeplab_head.c). */
static segc_status head_v3plus(const deeplab_model *m, segc_ctx *ctx, const segc_tensor *low,
                               const segc_tensor *high, segc_tensor *head) {
    segc_arena *arena = ctx->arena;
    const int64_t A = DEEPLAB_ASPP_CHANNELS, P = m->project.w.shape[0], h4 = low->shape[2], w4 = low->shape[3];
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor low_proj, aspp, hidden;
    segc_status st = segc_tensor_new_f32(arena, &low_proj, 4, 1, P, h4, w4);
    if (!st) st = conv_into(arena, low, &m->project, 0, 1, SEGC_ACT_RELU, &low_proj);
    if (!st) st = segc_tap(ctx, "classifier.project", &low_proj);
    if (!st) st = segc_tensor_new_f32(arena, &aspp, 4, 1, A, high->shape[2], high->shape[3]);
    if (!st) st = aspp_forward(&m->aspp, m->config.aspp_rates, ctx, "classifier.aspp", high, &aspp);
    if (!st) st = tap_decoder_concat(ctx, &low_proj, &aspp);
    /* classifier: 3x3 304 -> 256 BN ReLU, 1x1 -> K */
    if (!st) st = segc_tensor_new_f32(arena, &hidden, 4, 1, A, h4, w4);
    if (!st) st = segc_deeplab_winograd3x3(arena, &low_proj, &m->head_low_u, &m->head_low.b, &hidden);
    if (!st) st = segc_deeplab_upconv3x3_add(arena, &aspp, &m->head_up_wt, &hidden);
    if (!st) st = segc_act_tensor(SEGC_ACT_RELU, &hidden);
    if (!st) st = segc_tap(ctx, "classifier.classifier.2", &hidden);
    if (!st) st = conv_into(arena, &hidden, &m->head_out, 0, 1, SEGC_ACT_NONE, head);
    segc_arena_release(arena, mark);
    return st;
}

/* DeepLabHead: ASPP, 3x3 256 -> 256 BN ReLU, 1x1 -> K at stride OS (head preallocated). */
static segc_status head_v3(const deeplab_model *m, segc_ctx *ctx, const segc_tensor *high, segc_tensor *head) {
    segc_arena *arena = ctx->arena;
    const int64_t A = DEEPLAB_ASPP_CHANNELS, h = high->shape[2], w = high->shape[3];
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor aspp, hidden;
    segc_status st = segc_tensor_new_f32(arena, &aspp, 4, 1, A, h, w);
    if (!st) st = aspp_forward(&m->aspp, m->config.aspp_rates, ctx, "classifier.classifier.0", high, &aspp);
    if (!st) st = segc_tensor_new_f32(arena, &hidden, 4, 1, A, h, w);
    if (!st) st = conv_into(arena, &aspp, &m->head_conv, 1, 1, SEGC_ACT_RELU, &hidden);
    if (!st) st = conv_into(arena, &hidden, &m->head_out, 0, 1, SEGC_ACT_NONE, head);
    segc_arena_release(arena, mark);
    return st;
}

segc_status segc_deeplab_semantic(const void *model, segc_ctx *ctx, const segc_image *img, segc_tensor *logits) {
    const deeplab_model *m = model;
    if (!m || !ctx || !ctx->arena || !img || !img->rgb || !logits)
        return segc_fail(SEGC_ERR_INVALID_ARG, "deeplab: NULL argument");
    if (img->width < DEEPLAB_MIN_SIDE || img->height < DEEPLAB_MIN_SIDE)
        return segc_fail(SEGC_ERR_SHAPE, "deeplab: image %dx%d is too small (at least %dx%d)", img->width,
                         img->height, DEEPLAB_MIN_SIDE, DEEPLAB_MIN_SIDE);
    segc_arena *arena = ctx->arena;
    const int K = m->config.num_classes;
    segc_status st = segc_tensor_new_f32(arena, logits, 4, 1, K, img->height, img->width);
    if (st) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor x, low, high, head;
    /* predict.py: ToTensor() + Normalize(mean, std), RGB, no resize */
    st = segc_image_normalize(arena, img, m->config.mean, m->config.std, 0, &x);
    if (!st) st = segc_tap(ctx, "input", &x);
    if (!st) st = backbone_forward(m, ctx, &x, &low, &high);
    const segc_tensor *at = m->config.plus ? &low : &high;   /* resolution of the head's logits */
    if (!st) st = segc_tensor_new_f32(arena, &head, 4, 1, K, at->shape[2], at->shape[3]);
    if (!st) st = m->config.plus ? head_v3plus(m, ctx, &low, &high, &head) : head_v3(m, ctx, &high, &head);
    if (!st) st = segc_tap(ctx, "classifier", &head);
    /* _SimpleSegmentationModel: F.interpolate(x, size=input_shape, mode='bilinear', align_corners=False) */
    segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    if (!st) st = segc_resize(arena, &head, &rp, logits);
    segc_arena_release(arena, mark);
    if (!st) st = segc_tap(ctx, "logits", logits);
    return st;
}
