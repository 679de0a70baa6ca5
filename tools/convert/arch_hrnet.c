/* arch_hrnet.c - converter hook for HRNet/HRNet-Semantic-Segmentation (branch pytorch-v1.1) checkpoints:
   the flat state dict of the training wrapper FullModel ("model.*" keys, stripped by the framework, plus
   "loss.criterion.weight", which is training state and dropped), or a bare HighResolutionNet state dict.
   The yaml config (MODEL.EXTRA) is recovered from the key names and shapes.
   Metadata written (read by src/models/hrnet.c):
     variant                       "w18_small_v1", "w18_small_v2", "w18", "w32", "w48" (the published
                                   experiments/cityscapes configs), else "custom_w<C>"
     num_classes                   from last_layer.3
     dataset, class_names          Cityscapes 19 train ids by default, or --dataset / --classes
     input.mean, input.std         float[3], 0-1 scale (pixel / 255 first), RGB order: base_dataset.py
                                   input_transform flips cv2's BGR to RGB before normalizing
     hrnet.stage<s>.num_modules    int, s = 1..4 (MODEL.EXTRA.STAGE<s>.NUM_MODULES)
     hrnet.stage<s>.num_branches   int
     hrnet.stage<s>.num_blocks     int[num_branches]
     hrnet.stage<s>.num_channels   int[num_branches], as the yaml (before the block expansion)
     hrnet.stage<s>.block          "BASIC" or "BOTTLENECK"
     hrnet.final_conv_kernel       1 or 3 (MODEL.EXTRA.FINAL_CONV_KERNEL)
     hrnet.align_corners           0: every bilinear upsampling of pytorch-v1.1 uses F.interpolate's default */
#include <stdio.h>
#include <string.h>

#include "arch.h"
#include "classes.h"
#include "core/status.h"

#define HRNET_STAGES 4
#define HRNET_MAX_BRANCHES 4
#define HRNET_MAX_COUNT 64

typedef struct hrnet_stage_cfg {
    int num_modules, num_branches, bottleneck;
    int num_blocks[HRNET_MAX_BRANCHES], num_channels[HRNET_MAX_BRANCHES];
} hrnet_stage_cfg;

static int hrnet_detect(const convert_source *s) {
    return convert_find(s, "conv1.weight") && convert_find(s, "layer1.0.conv1.weight") &&
           convert_find(s, "transition1.0.0.weight") && convert_find(s, "stage2.0.branches.0.0.conv1.weight") &&
           convert_find(s, "last_layer.0.weight");
}

/* Number of consecutive indices i >= 0 for which the printf pattern (one %d) names a stored tensor. */
static int count_indexed(const convert_source *s, const char *fmt_prefix, const char *fmt_suffix) {
    char name[160];
    int n = 0;
    for (; n < HRNET_MAX_COUNT + 1; n++) {
        snprintf(name, sizeof name, "%s%d%s", fmt_prefix, n, fmt_suffix);
        if (!convert_find(s, name)) break;
    }
    return n;
}

/* Checks conv `conv`.weight [k, c, r, r] (+ `conv`.bias [k] if with_bias) and BN `bn` [k] (NULL: none). */
static segc_status expect_conv_bn(const convert_source *s, const char *conv, const char *bn, int64_t k, int64_t c,
                                  int64_t r, int with_bias) {
    char name[256];
    const int64_t shape[4] = {k, c, r, r};
    snprintf(name, sizeof name, "%s.weight", conv);
    segc_status st = convert_expect(s, name, 4, shape);
    if (!st && with_bias) {
        snprintf(name, sizeof name, "%s.bias", conv);
        st = convert_expect(s, name, 1, &k);
    }
    static const char *const fields[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4 && !st && bn; i++) {
        snprintf(name, sizeof name, "%s.%s", bn, fields[i]);
        st = convert_expect(s, name, 1, &k);
    }
    return st;
}

/* A reslayer "<prefix>.<i>" of n BasicBlocks / Bottlenecks; returns its output channels in *out. */
static segc_status expect_layer(const convert_source *s, const char *prefix, int bottleneck, int n, int in, int planes,
                                int *out) {
    char p[128], conv[192], bn[192], down[200];
    int exp = bottleneck ? 4 : 1;
    segc_status st = SEGC_OK;
    for (int i = 0; i < n && !st; i++) {
        snprintf(p, sizeof p, "%s.%d", prefix, i);
        int r1 = bottleneck ? 1 : 3;
        snprintf(conv, sizeof conv, "%s.conv1", p);
        snprintf(bn, sizeof bn, "%s.bn1", p);
        st = expect_conv_bn(s, conv, bn, planes, in, r1, 0);
        snprintf(conv, sizeof conv, "%s.conv2", p);
        snprintf(bn, sizeof bn, "%s.bn2", p);
        if (!st) st = expect_conv_bn(s, conv, bn, planes, planes, 3, 0);
        snprintf(conv, sizeof conv, "%s.conv3", p);
        snprintf(bn, sizeof bn, "%s.bn3", p);
        if (!st && bottleneck) st = expect_conv_bn(s, conv, bn, planes * exp, planes, 1, 0);
        snprintf(conv, sizeof conv, "%s.downsample.0", p);
        snprintf(bn, sizeof bn, "%s.downsample.1", p);
        snprintf(down, sizeof down, "%s.weight", conv);
        if (!st && (in != planes * exp || convert_find(s, down)))
            st = expect_conv_bn(s, conv, bn, planes * exp, in, 1, 0);
        in = planes * exp;
    }
    *out = in;
    return st;
}

/* Reads the stage configs from the keys: stage 1 is layer1, stages 2..4 are "stage<s>". */
static segc_status read_configs(const convert_source *s, hrnet_stage_cfg cfg[HRNET_STAGES]) {
    char a[128], b[128];
    memset(cfg, 0, sizeof(hrnet_stage_cfg) * HRNET_STAGES);
    cfg[0].num_modules = cfg[0].num_branches = 1;
    cfg[0].bottleneck = convert_find(s, "layer1.0.conv3.weight") != NULL;
    cfg[0].num_blocks[0] = count_indexed(s, "layer1.", ".conv1.weight");
    cfg[0].num_channels[0] = (int)convert_dim(s, "layer1.0.conv1.weight", 0);
    for (int st = 1; st < HRNET_STAGES; st++) {
        hrnet_stage_cfg *c = &cfg[st];
        snprintf(a, sizeof a, "stage%d.", st + 1);
        c->num_modules = count_indexed(s, a, ".branches.0.0.conv1.weight");
        snprintf(a, sizeof a, "stage%d.0.branches.", st + 1);
        c->num_branches = count_indexed(s, a, ".0.conv1.weight");
        if (c->num_modules < 1 || c->num_modules > HRNET_MAX_COUNT || c->num_branches < 1 ||
            c->num_branches > HRNET_MAX_BRANCHES)
            return segc_fail(SEGC_ERR_FORMAT, "stage%d: %d modules of %d branches is not an HRNet stage", st + 1,
                             c->num_modules, c->num_branches);
        snprintf(b, sizeof b, "stage%d.0.branches.0.0.conv3.weight", st + 1);
        c->bottleneck = convert_find(s, b) != NULL;
        for (int br = 0; br < c->num_branches; br++) {
            snprintf(a, sizeof a, "stage%d.0.branches.%d.", st + 1, br);
            c->num_blocks[br] = count_indexed(s, a, ".conv1.weight");
            snprintf(b, sizeof b, "stage%d.0.branches.%d.0.conv1.weight", st + 1, br);
            int64_t planes = convert_dim(s, b, 0);
            /* _make_stage passes NUM_CHANNELS * expansion as the blocks' planes */
            if (planes < 1 || (c->bottleneck && planes % 4))
                return segc_fail(SEGC_ERR_FORMAT, "%s: %lld output channels", b, (long long)planes);
            c->num_channels[br] = (int)(c->bottleneck ? planes / 4 : planes);
        }
    }
    if (cfg[0].num_blocks[0] < 1 || cfg[0].num_blocks[0] > HRNET_MAX_COUNT || cfg[0].num_channels[0] < 1)
        return segc_fail(SEGC_ERR_FORMAT, "layer1: %d blocks", cfg[0].num_blocks[0]);
    return SEGC_OK;
}

/* Checks transition<t> from `in` branch channels to the next stage's `want` (see hrnet_stage.h). */
static segc_status expect_transition(const convert_source *s, int t, int num_in, const int *in, int num_out,
                                     const int *want) {
    char conv[128], bn[128];
    segc_status st = SEGC_OK;
    if (num_out < num_in) return segc_fail(SEGC_ERR_FORMAT, "stage%d has fewer branches than stage%d", t + 1, t);
    for (int i = 0; i < num_out && !st; i++) {
        if (i < num_in) {
            if (in[i] == want[i]) continue;
            snprintf(conv, sizeof conv, "transition%d.%d.0", t, i);
            snprintf(bn, sizeof bn, "transition%d.%d.1", t, i);
            st = expect_conv_bn(s, conv, bn, want[i], in[i], 3, 0);
            continue;
        }
        for (int k = 0; k < i + 1 - num_in && !st; k++) {
            snprintf(conv, sizeof conv, "transition%d.%d.%d.0", t, i, k);
            snprintf(bn, sizeof bn, "transition%d.%d.%d.1", t, i, k);
            st = expect_conv_bn(s, conv, bn, k == i - num_in ? want[i] : in[num_in - 1], in[num_in - 1], 3, 0);
        }
    }
    return st;
}

/* Checks stage<st+1>'s modules (branches and fuse layers); ch: in = transition outputs, out = stage outputs. */
static segc_status expect_stage(const convert_source *s, int st_index, const hrnet_stage_cfg *c, int *ch) {
    char p[128], conv[192], bn[192];
    int exp = c->bottleneck ? 4 : 1;
    segc_status st = SEGC_OK;
    for (int m = 0; m < c->num_modules && !st; m++) {
        for (int br = 0; br < c->num_branches && !st; br++) {
            snprintf(p, sizeof p, "stage%d.%d.branches.%d", st_index + 1, m, br);
            st = expect_layer(s, p, c->bottleneck, c->num_blocks[br], ch[br], c->num_channels[br] * exp, &ch[br]);
        }
        for (int i = 0; i < c->num_branches && c->num_branches > 1 && !st; i++)
            for (int j = 0; j < c->num_branches && !st; j++) {
                snprintf(p, sizeof p, "stage%d.%d.fuse_layers.%d.%d", st_index + 1, m, i, j);
                if (j > i) {
                    snprintf(conv, sizeof conv, "%s.0", p);
                    snprintf(bn, sizeof bn, "%s.1", p);
                    st = expect_conv_bn(s, conv, bn, ch[i], ch[j], 1, 0);
                }
                for (int k = 0; j < i && k < i - j && !st; k++) {
                    snprintf(conv, sizeof conv, "%s.%d.0", p, k);
                    snprintf(bn, sizeof bn, "%s.%d.1", p, k);
                    st = expect_conv_bn(s, conv, bn, k == i - j - 1 ? ch[i] : ch[j], ch[j], 3, 0);
                }
            }
    }
    return st;
}

/* The published configs (the experiments/cityscapes yaml files) by stage-2 width and module counts. */
static void variant_name(const hrnet_stage_cfg *cfg, char *out, size_t size) {
    int w = cfg[1].num_channels[0], m3 = cfg[2].num_modules, m4 = cfg[3].num_modules;
    int b1 = cfg[0].num_blocks[0];
    if (w == 16 && b1 == 1 && m3 == 1 && m4 == 1) snprintf(out, size, "w18_small_v1");
    else if (w == 18 && b1 == 2 && m3 == 3 && m4 == 2) snprintf(out, size, "w18_small_v2");
    else if ((w == 18 || w == 32 || w == 48) && b1 == 4 && m3 == 4 && m4 == 3) snprintf(out, size, "w%d", w);
    else snprintf(out, size, "custom_w%d", w);
}

static segc_status write_stage(segc_file_writer *w, int st_index, const hrnet_stage_cfg *c) {
    char key[64];
    int64_t blocks[HRNET_MAX_BRANCHES], channels[HRNET_MAX_BRANCHES];
    for (int b = 0; b < c->num_branches; b++) {
        blocks[b] = c->num_blocks[b];
        channels[b] = c->num_channels[b];
    }
    segc_status st;
    snprintf(key, sizeof key, "hrnet.stage%d.num_modules", st_index + 1);
    if ((st = segc_file_writer_add_int(w, key, c->num_modules))) return st;
    snprintf(key, sizeof key, "hrnet.stage%d.num_branches", st_index + 1);
    if ((st = segc_file_writer_add_int(w, key, c->num_branches))) return st;
    snprintf(key, sizeof key, "hrnet.stage%d.num_blocks", st_index + 1);
    if ((st = segc_file_writer_add_ints(w, key, blocks, c->num_branches))) return st;
    snprintf(key, sizeof key, "hrnet.stage%d.num_channels", st_index + 1);
    if ((st = segc_file_writer_add_ints(w, key, channels, c->num_branches))) return st;
    snprintf(key, sizeof key, "hrnet.stage%d.block", st_index + 1);
    return segc_file_writer_add_str(w, key, c->bottleneck ? "BOTTLENECK" : "BASIC");
}

static segc_status hrnet_describe(const convert_source *s, const segc_convert_options *o, segc_file_writer *w) {
    hrnet_stage_cfg cfg[HRNET_STAGES];
    segc_status st = read_configs(s, cfg);
    if (st) return st;
    /* stem: conv1/bn1, conv2/bn2 (64 wide in seg_hrnet.py) */
    int64_t stem = convert_dim(s, "conv1.weight", 0);
    if (stem < 1) return segc_fail(SEGC_ERR_FORMAT, "conv1.weight is not a conv weight");
    if ((st = expect_conv_bn(s, "conv1", "bn1", stem, 3, 3, 0)) ||
        (st = expect_conv_bn(s, "conv2", "bn2", stem, stem, 3, 0)))
        return st;
    int ch[HRNET_MAX_BRANCHES] = {0};
    if ((st = expect_layer(s, "layer1", cfg[0].bottleneck, cfg[0].num_blocks[0], (int)stem, cfg[0].num_channels[0],
                           &ch[0])))
        return st;
    for (int t = 1; t < HRNET_STAGES && !st; t++) {
        int want[HRNET_MAX_BRANCHES] = {0}, exp = cfg[t].bottleneck ? 4 : 1;
        for (int b = 0; b < cfg[t].num_branches; b++) want[b] = cfg[t].num_channels[b] * exp;
        st = expect_transition(s, t, cfg[t - 1].num_branches, ch, cfg[t].num_branches, want);
        memcpy(ch, want, sizeof want);
        if (!st) st = expect_stage(s, t, &cfg[t], ch);
    }
    if (st) return st;
    int64_t concat = 0;
    for (int b = 0; b < cfg[3].num_branches; b++) concat += ch[b];
    int64_t classes = convert_dim(s, "last_layer.3.weight", 0), kernel = convert_dim(s, "last_layer.3.weight", 2);
    if (kernel != 1 && kernel != 3)
        return segc_fail(SEGC_ERR_FORMAT, "last_layer.3.weight: kernel %lld (FINAL_CONV_KERNEL is 1 or 3)",
                         (long long)kernel);
    if ((st = expect_conv_bn(s, "last_layer.0", "last_layer.1", concat, concat, 1, 1)) ||
        (st = expect_conv_bn(s, "last_layer.3", NULL, classes, concat, kernel, 1)))
        return st;

    char variant[32];
    variant_name(cfg, variant, sizeof variant);
    static const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
    if ((st = segc_file_writer_add_str(w, "variant", variant)) ||
        (st = segc_file_writer_add_int(w, "num_classes", classes)) ||
        (st = convert_write_classes(w, o, "cityscapes", classes)) ||
        (st = segc_file_writer_add_floats(w, "input.mean", mean, 3)) ||
        (st = segc_file_writer_add_floats(w, "input.std", std, 3)))
        return st;
    for (int t = 0; t < HRNET_STAGES && !st; t++) st = write_stage(w, t, &cfg[t]);
    if (!st) st = segc_file_writer_add_int(w, "hrnet.final_conv_kernel", kernel);
    if (!st) st = segc_file_writer_add_int(w, "hrnet.align_corners", 0);
    return st;
}

/* keep = NULL: every float tensor under "model." (BN num_batches_tracked is integer, loss.* is outside). */
const convert_arch convert_arch_hrnet = {
    .name = "hrnet",
    .summary = "HRNet/HRNet-Semantic-Segmentation (pytorch-v1.1) seg_hrnet: W18-small-v1/v2, W18, W32, W48",
    .detect = hrnet_detect,
    .describe = hrnet_describe,
    .keep = NULL,
};
