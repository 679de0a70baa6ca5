/* arch_maskrcnn.c - converter hook for torchvision Mask R-CNN checkpoints (maskrcnn_resnet50_fpn: a flat
   state_dict with FrozenBatchNorm buffers; both the current module names, e.g. "rpn.head.conv.0.0", and
   the names of the published 2019 COCO file, e.g. "rpn.head.conv", "roi_heads.mask_head.mask_fcn1").
   Tensor names are kept as stored; src/models/maskrcnn*.c accepts both spellings.
   Metadata written (read by src/models/maskrcnn.c):
     variant               "resnet50_fpn" or "resnet101_fpn" (from the layer3 block count)
     num_classes           from roi_heads.box_predictor.cls_score (91 for COCO, background included)
     dataset, class_names  torchvision's 91-slot COCO list by default, or --dataset / --classes
     input.mean, input.std float[3], 0-1 scale, RGB (GeneralizedRCNNTransform's ImageNet values)
     maskrcnn.min_size, maskrcnn.max_size   800, 1333 (the transform's defaults)
   Not supported (clear error): maskrcnn_resnet50_fpn_v2 (GroupNorm conv heads). */
#include <stdio.h>
#include <string.h>

#include "arch.h"
#include "classes.h"
#include "core/status.h"

#define FPN_CHANNELS 256
#define BOX_POOL 7
#define REPRESENTATION 1024

static int maskrcnn_detect(const convert_source *s) {
    return convert_find(s, "backbone.body.conv1.weight") && convert_find(s, "rpn.head.cls_logits.weight") &&
           convert_find(s, "roi_heads.mask_predictor.mask_fcn_logits.weight");
}

/* `current` if "<current>.weight" is stored, else `legacy`. */
static const char *module(const convert_source *s, const char *current, const char *legacy, char *buf, size_t n) {
    char probe[160];
    snprintf(probe, sizeof probe, "%s.weight", current);
    snprintf(buf, n, "%s", convert_find(s, probe) ? current : legacy);
    return buf;
}

/* Checks "<mod>.weight" = [k, c, r, r] (r 0: a linear [k, c]) and "<mod>.bias" = [k]. */
static segc_status expect_layer(const convert_source *s, const char *mod, int64_t k, int64_t c, int64_t r) {
    char name[192];
    const int64_t shape[4] = {k, c, r, r};
    snprintf(name, sizeof name, "%s.weight", mod);
    segc_status st = convert_expect(s, name, r ? 4 : 2, shape);
    if (st) return st;
    snprintf(name, sizeof name, "%s.bias", mod);
    return convert_expect(s, name, 1, &k);
}

/* Checks the ResNet body (Bottleneck blocks with frozen BN) and returns the layer3 block count. */
static segc_status expect_body(const convert_source *s, int *layer3_blocks) {
    static const int planes[4] = {64, 128, 256, 512};
    static const char *const bn_fields[4] = {"weight", "bias", "running_mean", "running_var"};
    char name[192];
    int64_t stem[4] = {64, 3, 7, 7};
    segc_status st = convert_expect(s, "backbone.body.conv1.weight", 4, stem);
    int in = 64;
    for (int l = 0; l < 4 && !st; l++) {
        int n = 0;
        for (;; n++) {
            snprintf(name, sizeof name, "backbone.body.layer%d.%d.conv1.weight", l + 1, n);
            if (!convert_find(s, name)) break;
        }
        if (n == 0) return segc_fail(SEGC_ERR_NOT_FOUND, "missing tensor backbone.body.layer%d.0.conv1.weight", l + 1);
        if (l == 2) *layer3_blocks = n;
        for (int b = 0; b < n && !st; b++) {
            int64_t w = planes[l], c = b == 0 ? in : w * 4;
            int64_t convs[3][4] = {{w, c, 1, 1}, {w, w, 3, 3}, {w * 4, w, 1, 1}};
            for (int j = 0; j < 3 && !st; j++) {
                snprintf(name, sizeof name, "backbone.body.layer%d.%d.conv%d.weight", l + 1, b, j + 1);
                st = convert_expect(s, name, 4, convs[j]);
                for (int f = 0; f < 4 && !st; f++) {
                    snprintf(name, sizeof name, "backbone.body.layer%d.%d.bn%d.%s", l + 1, b, j + 1, bn_fields[f]);
                    st = convert_expect(s, name, 1, &convs[j][0]);
                }
            }
            if (!st && b == 0) {
                int64_t ds[4] = {w * 4, c, 1, 1};
                snprintf(name, sizeof name, "backbone.body.layer%d.0.downsample.0.weight", l + 1);
                st = convert_expect(s, name, 4, ds);
            }
        }
        in = planes[l] * 4;
    }
    return st;
}

static segc_status maskrcnn_describe(const convert_source *s, const segc_convert_options *o, segc_file_writer *w) {
    if (convert_find(s, "rpn.head.conv.1.0.weight") || convert_find(s, "roi_heads.box_head.0.0.weight"))
        return segc_fail(SEGC_ERR_UNSUPPORTED, "maskrcnn: this is maskrcnn_resnet50_fpn_v2 (conv box head with "
                         "GroupNorm); only maskrcnn_resnet50_fpn (v1) is supported");
    int layer3 = 0;
    segc_status st = expect_body(s, &layer3);
    char mod[96], current[96], legacy[96];
    for (int i = 0; i < 4 && !st; i++) {
        int64_t in_c = (int64_t)256 << i;
        snprintf(current, sizeof current, "backbone.fpn.inner_blocks.%d.0", i);
        snprintf(legacy, sizeof legacy, "backbone.fpn.inner_blocks.%d", i);
        st = expect_layer(s, module(s, current, legacy, mod, sizeof mod), FPN_CHANNELS, in_c, 1);
        snprintf(current, sizeof current, "backbone.fpn.layer_blocks.%d.0", i);
        snprintf(legacy, sizeof legacy, "backbone.fpn.layer_blocks.%d", i);
        if (!st) st = expect_layer(s, module(s, current, legacy, mod, sizeof mod), FPN_CHANNELS, FPN_CHANNELS, 3);
    }
    if (!st) st = expect_layer(s, module(s, "rpn.head.conv.0.0", "rpn.head.conv", mod, sizeof mod), FPN_CHANNELS,
                               FPN_CHANNELS, 3);
    if (!st) st = expect_layer(s, "rpn.head.cls_logits", 3, FPN_CHANNELS, 1);
    if (!st) st = expect_layer(s, "rpn.head.bbox_pred", 12, FPN_CHANNELS, 1);
    if (!st) st = expect_layer(s, "roi_heads.box_head.fc6", REPRESENTATION, FPN_CHANNELS * BOX_POOL * BOX_POOL, 0);
    if (!st) st = expect_layer(s, "roi_heads.box_head.fc7", REPRESENTATION, REPRESENTATION, 0);
    int64_t k = convert_dim(s, "roi_heads.box_predictor.cls_score.weight", 0);
    if (!st && k < 2) return segc_fail(SEGC_ERR_NOT_FOUND, "missing tensor roi_heads.box_predictor.cls_score.weight");
    if (!st) st = expect_layer(s, "roi_heads.box_predictor.cls_score", k, REPRESENTATION, 0);
    if (!st) st = expect_layer(s, "roi_heads.box_predictor.bbox_pred", 4 * k, REPRESENTATION, 0);
    for (int i = 0; i < 4 && !st; i++) {
        snprintf(current, sizeof current, "roi_heads.mask_head.%d.0", i);
        snprintf(legacy, sizeof legacy, "roi_heads.mask_head.mask_fcn%d", i + 1);
        st = expect_layer(s, module(s, current, legacy, mod, sizeof mod), FPN_CHANNELS, FPN_CHANNELS, 3);
    }
    if (!st) st = expect_layer(s, "roi_heads.mask_predictor.conv5_mask", FPN_CHANNELS, FPN_CHANNELS, 2);
    if (!st) st = expect_layer(s, "roi_heads.mask_predictor.mask_fcn_logits", k, FPN_CHANNELS, 1);
    if (st) return st;
    if (layer3 != 6 && layer3 != 23)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "maskrcnn: layer3 has %d blocks (ResNet-50 has 6, ResNet-101 23)", layer3);

    static const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
    if ((st = segc_file_writer_add_str(w, "variant", layer3 == 6 ? "resnet50_fpn" : "resnet101_fpn")) ||
        (st = segc_file_writer_add_int(w, "num_classes", k)) ||
        (st = convert_write_classes(w, o, "coco", k)) ||
        (st = segc_file_writer_add_floats(w, "input.mean", mean, 3)) ||
        (st = segc_file_writer_add_floats(w, "input.std", std, 3)) ||
        (st = segc_file_writer_add_int(w, "maskrcnn.min_size", 800)) ||
        (st = segc_file_writer_add_int(w, "maskrcnn.max_size", 1333)))
        return st;
    return SEGC_OK;
}

/* keep = NULL: every float tensor is written (FrozenBatchNorm buffers are all used). */
const convert_arch convert_arch_maskrcnn = {
    "maskrcnn",
    "torchvision maskrcnn_resnet50_fpn (.pth state_dict; COCO 91 classes; ResNet-50/101 FPN v1)",
    maskrcnn_detect,
    maskrcnn_describe,
    NULL,
};
