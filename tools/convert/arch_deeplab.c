/* arch_deeplab.c - converter hook for VainF/DeepLabV3Plus-Pytorch checkpoints (main.py save_ckpt:
   {'model_state': state_dict, ...}; the framework strips "model_state."): DeepLabV3+ and DeepLabV3 heads
   on MobileNetV2, ResNet-50/101 or Xception backbones.
   Metadata written (read by src/models/deeplab.c):
     variant               "mobilenet", "resnet50", "resnet101", "xception" (as the port's model names)
     num_classes           from classifier's last conv
     dataset, class_names  VOC (21) / Cityscapes (19) by default, or --dataset / --classes
     input.mean, input.std float[3], 0-1 scale (pixel / 255 first), RGB: predict.py's Normalize
     deeplab.backbone      "mobilenetv2", "resnet" or "xception"
     deeplab.head          "deeplabv3plus" (decoder) or "deeplabv3" (no decoder)
     deeplab.output_stride 16 (default) or 8 (--output-stride): the checkpoint cannot tell
     deeplab.aspp_rates    int[3]: (6, 12, 18) at OS16, (12, 24, 36) at OS8 (network/modeling.py)
   Not supported (clear error): HRNetV2 backbones, --separable_conv heads. */
#include <stdio.h>
#include <string.h>

#include "arch.h"
#include "classes.h"
#include "core/status.h"

#define DEEPLAB_ASPP_CHANNELS 256
#define DEEPLAB_LOW_PROJECT_CHANNELS 48   /* DeepLabHeadV3Plus.project */
#define DEEPLAB_MBV2_LOW_CHANNELS 24
#define DEEPLAB_MBV2_HIGH_CHANNELS 320
#define DEEPLAB_RESNET_LOW_CHANNELS 256
#define DEEPLAB_RESNET_HIGH_CHANNELS 2048
#define DEEPLAB_XCEPTION_LOW_CHANNELS 128
#define DEEPLAB_XCEPTION_HIGH_CHANNELS 2048

static int is_mobilenet(const convert_source *s) {
    return convert_find(s, "backbone.low_level_features.0.0.weight") != NULL;
}
static int is_resnet(const convert_source *s) { return convert_find(s, "backbone.layer4.0.conv1.weight") != NULL; }
static int is_xception(const convert_source *s) {
    return convert_find(s, "backbone.block1.rep.0.conv1.weight") != NULL;
}
static int is_plus(const convert_source *s) { return convert_find(s, "classifier.project.0.weight") != NULL; }

/* Prefix of the ASPP module: "classifier.aspp" (V3+) or "classifier.classifier.0" (V3). */
static const char *aspp_prefix(const convert_source *s) {
    return is_plus(s) ? "classifier.aspp" : "classifier.classifier.0";
}

static int deeplab_detect(const convert_source *s) {
    char name[128];
    snprintf(name, sizeof name, "%s.convs.0.0.weight", aspp_prefix(s));
    return convert_find(s, name) != NULL && (is_mobilenet(s) || is_resnet(s) || is_xception(s) ||
                                              convert_find(s, "backbone.conv1.weight") != NULL ||
                                              convert_find(s, "backbone.stage4.0.fuse_layers.0.1.0.weight") != NULL);
}

/* Checks conv `prefix`.weight [k, c, r, r] and BN `bn` [k] (bn may be NULL). */
static segc_status expect_conv_bn(const convert_source *s, const char *conv, const char *bn, int64_t k, int64_t c,
                                  int64_t r) {
    char name[160];
    const int64_t shape[4] = {k, c, r, r};
    snprintf(name, sizeof name, "%s.weight", conv);
    segc_status st = convert_expect(s, name, 4, shape);
    if (st || !bn) return st;
    static const char *const fields[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4 && !st; i++) {
        snprintf(name, sizeof name, "%s.%s", bn, fields[i]);
        st = convert_expect(s, name, 1, &k);
    }
    return st;
}

/* The MobileNetV2 blocks the C model reads (channels as the port's inverted_residual_setting). */
static segc_status expect_mobilenet(const convert_source *s) {
    static const int setting[7][3] = {{1, 16, 1}, {6, 24, 2}, {6, 32, 3}, {6, 64, 4}, {6, 96, 3}, {6, 160, 3},
                                      {6, 320, 1}};
    segc_status st = expect_conv_bn(s, "backbone.low_level_features.0.0", "backbone.low_level_features.0.1", 32, 3, 3);
    int in = 32, feature = 1;
    for (int g = 0; g < 7 && !st; g++) {
        for (int i = 0; i < setting[g][2] && !st; i++, feature++) {
            char p[96], conv[128], bn[128];
            if (feature < 4) snprintf(p, sizeof p, "backbone.low_level_features.%d", feature);
            else snprintf(p, sizeof p, "backbone.high_level_features.%d", feature);
            int t = setting[g][0], out = setting[g][1], hid = in * t, idx = 0;
            if (t != 1) {
                snprintf(conv, sizeof conv, "%s.conv.0.0", p);
                snprintf(bn, sizeof bn, "%s.conv.0.1", p);
                st = expect_conv_bn(s, conv, bn, hid, in, 1);
                idx = 1;
            }
            if (st) break;
            snprintf(conv, sizeof conv, "%s.conv.%d.0", p, idx);
            snprintf(bn, sizeof bn, "%s.conv.%d.1", p, idx);
            st = expect_conv_bn(s, conv, bn, hid, 1, 3);
            if (st) break;
            snprintf(conv, sizeof conv, "%s.conv.%d", p, idx + 1);
            snprintf(bn, sizeof bn, "%s.conv.%d", p, idx + 2);
            st = expect_conv_bn(s, conv, bn, out, hid, 1);
            in = out;
        }
    }
    return st;
}

/* ResNet: stem and every block of layer1..4 (Bottleneck); returns the layer3 block count. */
static segc_status expect_resnet(const convert_source *s, int *layer3_blocks) {
    static const int planes[4] = {64, 128, 256, 512};
    segc_status st = expect_conv_bn(s, "backbone.conv1", "backbone.bn1", 64, 3, 7);
    if (!st && !convert_find(s, "backbone.layer1.0.conv3.weight"))
        return segc_fail(SEGC_ERR_UNSUPPORTED, "deeplab: ResNet with BasicBlocks (resnet18/34) is not a port model");
    int in = 64;
    for (int l = 0; l < 4 && !st; l++) {
        int n = 0;
        char p[96], conv[128], bn[128];
        for (;; n++) {
            snprintf(conv, sizeof conv, "backbone.layer%d.%d.conv1.weight", l + 1, n);
            if (!convert_find(s, conv)) break;
        }
        if (n == 0) return segc_fail(SEGC_ERR_NOT_FOUND, "missing tensor backbone.layer%d.0.conv1.weight", l + 1);
        if (l == 2) *layer3_blocks = n;
        for (int b = 0; b < n && !st; b++) {
            snprintf(p, sizeof p, "backbone.layer%d.%d", l + 1, b);
            int w = planes[l], c = b == 0 ? in : w * 4;
            static const int ks[3] = {1, 3, 1};
            for (int j = 1; j <= 3 && !st; j++) {
                snprintf(conv, sizeof conv, "%s.conv%d", p, j);
                snprintf(bn, sizeof bn, "%s.bn%d", p, j);
                st = expect_conv_bn(s, conv, bn, j == 3 ? w * 4 : w, j == 1 ? c : w, ks[j - 1]);
            }
            if (!st && b == 0) {
                snprintf(conv, sizeof conv, "%s.downsample.0", p);
                snprintf(bn, sizeof bn, "%s.downsample.1", p);
                st = expect_conv_bn(s, conv, bn, w * 4, in, 1);
            }
        }
        in = planes[l] * 4;
    }
    return st;
}

/* SeparableConv2d at `p`: depthwise [in, 1, 3, 3] and pointwise [out, in, 1, 1] (+ BN `bn` if not NULL). */
static segc_status expect_sep(const convert_source *s, const char *p, const char *bn, int64_t in, int64_t out) {
    char conv[160];
    snprintf(conv, sizeof conv, "%s.conv1", p);
    segc_status st = expect_conv_bn(s, conv, NULL, in, 1, 3);
    if (st) return st;
    snprintf(conv, sizeof conv, "%s.pointwise", p);
    return expect_conv_bn(s, conv, bn, out, in, 1);
}

/* Xception (network/backbone/xception.py) up to conv4, as deeplab_backbone.c reads it. */
static segc_status expect_xception(const convert_source *s) {
    /* in, out, reps, strided, start_with_relu, grow_first */
    static const int blocks[12][6] = {{64, 128, 2, 1, 0, 1},  {128, 256, 2, 1, 1, 1}, {256, 728, 2, 1, 1, 1},
                                      {728, 728, 3, 0, 1, 1}, {728, 728, 3, 0, 1, 1}, {728, 728, 3, 0, 1, 1},
                                      {728, 728, 3, 0, 1, 1}, {728, 728, 3, 0, 1, 1}, {728, 728, 3, 0, 1, 1},
                                      {728, 728, 3, 0, 1, 1}, {728, 728, 3, 0, 1, 1}, {728, 1024, 2, 1, 1, 0}};
    segc_status st = expect_conv_bn(s, "backbone.conv1", "backbone.bn1", 32, 3, 3);
    if (!st) st = expect_conv_bn(s, "backbone.conv2", "backbone.bn2", 64, 32, 3);
    for (int i = 0; i < 12 && !st; i++) {
        const int *b = blocks[i];
        char p[128], bn[128];
        for (int j = 0; j < b[2] && !st; j++) {
            int idx = 3 * j + b[4];
            int in = b[5] ? (j == 0 ? b[0] : b[1]) : b[0], out = b[5] ? b[1] : (j == b[2] - 1 ? b[1] : b[0]);
            snprintf(p, sizeof p, "backbone.block%d.rep.%d", i + 1, idx);
            snprintf(bn, sizeof bn, "backbone.block%d.rep.%d", i + 1, idx + 1);
            st = expect_sep(s, p, bn, in, out);
        }
        if (!st && (b[3] || b[0] != b[1])) {
            snprintf(p, sizeof p, "backbone.block%d.skip", i + 1);
            snprintf(bn, sizeof bn, "backbone.block%d.skipbn", i + 1);
            st = expect_conv_bn(s, p, bn, b[1], b[0], 1);
        }
    }
    if (!st) st = expect_sep(s, "backbone.conv3", "backbone.bn3", 1024, 1536);
    if (!st) st = expect_sep(s, "backbone.conv4", NULL, 1536, 2048);
    return st;
}

/* ASPP at `a` on `c` input channels. */
static segc_status expect_aspp(const convert_source *s, const char *a, int64_t c) {
    char conv[128], bn[128];
    segc_status st = SEGC_OK;
    for (int i = 0; i < 4 && !st; i++) {
        snprintf(conv, sizeof conv, "%s.convs.%d.0", a, i);
        snprintf(bn, sizeof bn, "%s.convs.%d.1", a, i);
        if (i > 0) {
            char sep[160];
            snprintf(sep, sizeof sep, "%s.convs.%d.0.body.0.weight", a, i);
            if (convert_find(s, sep))
                return segc_fail(SEGC_ERR_UNSUPPORTED, "deeplab: separable-conv heads (--separable_conv) are not "
                                                       "supported");
        }
        st = expect_conv_bn(s, conv, bn, DEEPLAB_ASPP_CHANNELS, c, i == 0 ? 1 : 3);
    }
    if (st) return st;
    snprintf(conv, sizeof conv, "%s.convs.4.1", a);
    snprintf(bn, sizeof bn, "%s.convs.4.2", a);
    if ((st = expect_conv_bn(s, conv, bn, DEEPLAB_ASPP_CHANNELS, c, 1))) return st;
    snprintf(conv, sizeof conv, "%s.project.0", a);
    snprintf(bn, sizeof bn, "%s.project.1", a);
    return expect_conv_bn(s, conv, bn, DEEPLAB_ASPP_CHANNELS, 5 * DEEPLAB_ASPP_CHANNELS, 1);
}

static segc_status deeplab_describe(const convert_source *s, const segc_convert_options *o, segc_file_writer *w) {
    segc_status st;
    const char *variant, *backbone;
    int64_t low_c, high_c;
    if (is_mobilenet(s)) {
        variant = "mobilenet";
        backbone = "mobilenetv2";
        low_c = DEEPLAB_MBV2_LOW_CHANNELS;
        high_c = DEEPLAB_MBV2_HIGH_CHANNELS;
        if ((st = expect_mobilenet(s))) return st;
    } else if (is_resnet(s)) {
        int n3 = 0;
        if ((st = expect_resnet(s, &n3))) return st;
        if (n3 == 6) variant = "resnet50";
        else if (n3 == 23) variant = "resnet101";
        else return segc_fail(SEGC_ERR_UNSUPPORTED, "deeplab: ResNet with %d blocks in layer3 (port: 6 or 23)", n3);
        backbone = "resnet";
        low_c = DEEPLAB_RESNET_LOW_CHANNELS;
        high_c = DEEPLAB_RESNET_HIGH_CHANNELS;
    } else if (is_xception(s)) {
        variant = "xception";
        backbone = "xception";
        low_c = DEEPLAB_XCEPTION_LOW_CHANNELS;
        high_c = DEEPLAB_XCEPTION_HIGH_CHANNELS;
        if ((st = expect_xception(s))) return st;
    } else {
        return segc_fail(SEGC_ERR_UNSUPPORTED, "deeplab: backbone not supported (MobileNetV2, ResNet-50/101 and "
                                               "Xception are; HRNetV2 is not)");
    }
    int plus = is_plus(s);
    if ((st = expect_aspp(s, aspp_prefix(s), high_c))) return st;

    /* Classifier: V3+ decoder [project 1x1 -> 48, 3x3 (48 + 256) -> 256, 1x1 -> K]; V3 [3x3 256 -> 256, 1x1]. */
    const char *last = plus ? "classifier.classifier.3" : "classifier.classifier.4";
    char name[128];
    snprintf(name, sizeof name, "%s.weight", last);
    int64_t k = convert_dim(s, name, 0);
    if (k <= 0) return segc_fail(SEGC_ERR_NOT_FOUND, "missing tensor %s", name);
    if (plus) {
        if ((st = expect_conv_bn(s, "classifier.project.0", "classifier.project.1", DEEPLAB_LOW_PROJECT_CHANNELS,
                                 low_c, 1)) ||
            (st = expect_conv_bn(s, "classifier.classifier.0", "classifier.classifier.1", DEEPLAB_ASPP_CHANNELS,
                                 DEEPLAB_LOW_PROJECT_CHANNELS + DEEPLAB_ASPP_CHANNELS, 3)))
            return st;
    } else if ((st = expect_conv_bn(s, "classifier.classifier.1", "classifier.classifier.2", DEEPLAB_ASPP_CHANNELS,
                                    DEEPLAB_ASPP_CHANNELS, 3))) {
        return st;
    }
    if ((st = expect_conv_bn(s, last, NULL, k, DEEPLAB_ASPP_CHANNELS, 1))) return st;
    snprintf(name, sizeof name, "%s.bias", last);
    if ((st = convert_expect(s, name, 1, &k))) return st;

    int os = o->output_stride ? o->output_stride : 16;
    if (os != 8 && os != 16)
        return segc_fail(SEGC_ERR_INVALID_ARG, "deeplab: output stride %d (the port supports 8 and 16)", os);
    const int64_t rates[3] = {os == 8 ? 12 : 6, os == 8 ? 24 : 12, os == 8 ? 36 : 18};
    static const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
    const char *dataset = k == 19 ? "cityscapes" : "voc";
    if ((st = segc_file_writer_add_str(w, "variant", variant)) ||
        (st = segc_file_writer_add_int(w, "num_classes", k)) ||
        (st = convert_write_classes(w, o, dataset, k)) ||
        (st = segc_file_writer_add_floats(w, "input.mean", mean, 3)) ||
        (st = segc_file_writer_add_floats(w, "input.std", stdv, 3)) ||
        (st = segc_file_writer_add_str(w, "deeplab.backbone", backbone)) ||
        (st = segc_file_writer_add_str(w, "deeplab.head", plus ? "deeplabv3plus" : "deeplabv3")) ||
        (st = segc_file_writer_add_int(w, "deeplab.output_stride", os)) ||
        (st = segc_file_writer_add_ints(w, "deeplab.aspp_rates", rates, 3)))
        return st;
    return SEGC_OK;
}

/* Model tensors only (the framework already drops optimizer state and integer buffers). */
static int deeplab_keep(const char *name) {
    return !strncmp(name, "backbone.", 9) || !strncmp(name, "classifier.", 11);
}

const convert_arch convert_arch_deeplab = {
    .name = "deeplabv3plus",
    .summary = "VainF/DeepLabV3Plus-Pytorch DeepLabV3+/V3 (MobileNetV2, ResNet-50/101, Xception), e.g. "
               "best_deeplabv3plus_mobilenet_voc_os16.pth",
    .detect = deeplab_detect,
    .describe = deeplab_describe,
    .keep = deeplab_keep,
};
