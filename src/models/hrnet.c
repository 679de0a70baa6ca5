/* hrnet.c - HRNetV2 semantic segmentation, top to bottom as HighResolutionNet in lib/models/seg_hrnet.py
   (pytorch-v1.1): stem (two conv3x3 s2-BN-ReLU) -> layer1 (Bottleneck x n) -> transition1 -> stage2 ->
   transition2 -> stage3 -> transition3 -> stage4 -> concat of the branches upsampled to branch 0 ->
   last_layer (conv1x1+bias, BN, ReLU, conv FINAL_CONV_KERNEL+bias) = logits at 1/4; the semantic task
   upsamples them to the input size as BaseDataset.inference does.
   Hyper-parameters come from the hrnet.* metadata (tools/convert/arch_hrnet.c documents the keys);
   weights keep the checkpoint's names. Branches, fusion and transitions live in hrnet_stage.c.
   Dims: N batch (1 for the semantic task), K classes, H x W input, h x w = ceil(H/4) x ceil(W/4). */
#include "models/hrnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "models/hrnet_stage.h"
#include "nn/params.h"
#include "ops/conv.h"
#include "ops/resize.h"

#define NUM_STAGES 4          /* stage1 (= layer1) .. stage4 */
#define MAX_MODULES 64        /* sanity bound on NUM_MODULES */
#define MAX_BLOCKS 64         /* sanity bound on NUM_BLOCKS */
#define MAX_CHANNELS 4096

typedef struct hrnet_config {
    segc_hrnet_stage_config stage[NUM_STAGES];   /* stage[0] is STAGE1 */
    int num_classes;
    int final_conv_kernel;    /* MODEL.EXTRA.FINAL_CONV_KERNEL: 1 or 3 */
    int align_corners;        /* of every bilinear upsampling (pytorch-v1.1: F.interpolate default, False) */
    float mean[3], std[3];    /* 0..1 scale, RGB order */
    char dataset[32];         /* "dataset" metadata, "" when absent (picks the test settings) */
} hrnet_config;

typedef struct hrnet_model {
    hrnet_config config;
    segc_params params;
    segc_hrnet_conv conv1, conv2;                   /* stem: conv1/bn1, conv2/bn2 (+ ReLU) */
    segc_reslayer layer1;
    segc_hrnet_transition transition[NUM_STAGES - 1];   /* transition1..3 */
    int num_modules[NUM_STAGES];                    /* per stage 2..4 (index 1..3) */
    segc_hrnet_module *modules[NUM_STAGES];         /* owned arrays, index 1..3 */
    int stage_channels[NUM_STAGES][SEGC_HRNET_MAX_BRANCHES];   /* output channels of each stage's branches */
    int concat_channels;
    segc_hrnet_conv last_hidden, last_classifier;   /* last_layer.0/.1 (+ ReLU), last_layer.3 */
} hrnet_model;

/* ---- configuration from the metadata ---- */

/* Reads "hrnet.stage<s>.*" into cfg and checks the values are sane. */
static segc_status read_stage(const segc_file *f, int s, segc_hrnet_stage_config *cfg) {
    char key[64];
    int64_t v, blocks[SEGC_HRNET_MAX_BRANCHES], channels[SEGC_HRNET_MAX_BRANCHES];
    const char *block = NULL;
    segc_status st;
    memset(cfg, 0, sizeof *cfg);
    snprintf(key, sizeof key, "hrnet.stage%d.num_modules", s);
    if ((st = segc_file_get_int(f, key, &v))) return st;
    if (v < 1 || v > MAX_MODULES) return segc_fail(SEGC_ERR_FORMAT, "%s = %lld is out of range", key, (long long)v);
    cfg->num_modules = (int)v;
    snprintf(key, sizeof key, "hrnet.stage%d.num_branches", s);
    if ((st = segc_file_get_int(f, key, &v))) return st;
    if (v < 1 || v > SEGC_HRNET_MAX_BRANCHES || (s == 1 && v != 1))
        return segc_fail(SEGC_ERR_FORMAT, "%s = %lld is out of range", key, (long long)v);
    cfg->num_branches = (int)v;
    snprintf(key, sizeof key, "hrnet.stage%d.num_blocks", s);
    if ((st = segc_file_get_ints(f, key, blocks, v))) return st;
    snprintf(key, sizeof key, "hrnet.stage%d.num_channels", s);
    if ((st = segc_file_get_ints(f, key, channels, v))) return st;
    for (int b = 0; b < cfg->num_branches; b++) {
        if (blocks[b] < 1 || blocks[b] > MAX_BLOCKS || channels[b] < 1 || channels[b] > MAX_CHANNELS)
            return segc_fail(SEGC_ERR_FORMAT, "hrnet.stage%d: branch %d has %lld blocks of %lld channels", s, b,
                             (long long)blocks[b], (long long)channels[b]);
        cfg->num_blocks[b] = (int)blocks[b];
        cfg->num_channels[b] = (int)channels[b];
    }
    snprintf(key, sizeof key, "hrnet.stage%d.block", s);
    if ((st = segc_file_get_str(f, key, &block))) return st;
    if (!strcmp(block, "BASIC")) cfg->block = SEGC_RESBLOCK_BASIC;
    else if (!strcmp(block, "BOTTLENECK")) cfg->block = SEGC_RESBLOCK_BOTTLENECK;
    else return segc_fail(SEGC_ERR_FORMAT, "%s = '%s' (BASIC or BOTTLENECK)", key, block);
    return SEGC_OK;
}

static segc_status read_config(const segc_file *f, hrnet_config *c) {
    segc_status st;
    int64_t v;
    memset(c, 0, sizeof *c);
    for (int s = 0; s < NUM_STAGES; s++)
        if ((st = read_stage(f, s + 1, &c->stage[s]))) return st;
    for (int s = 1; s < NUM_STAGES; s++)
        if (c->stage[s].num_branches < c->stage[s - 1].num_branches)
            return segc_fail(SEGC_ERR_FORMAT, "hrnet: stage%d has fewer branches than stage%d", s + 1, s);
    if ((st = segc_file_get_int(f, "num_classes", &v))) return st;
    if (v < 1 || v > 100000) return segc_fail(SEGC_ERR_FORMAT, "num_classes = %lld is out of range", (long long)v);
    c->num_classes = (int)v;
    if ((st = segc_file_get_int(f, "hrnet.final_conv_kernel", &v))) return st;
    if (v != 1 && v != 3) return segc_fail(SEGC_ERR_FORMAT, "hrnet.final_conv_kernel = %lld (1 or 3)", (long long)v);
    c->final_conv_kernel = (int)v;
    if ((st = segc_file_get_int(f, "hrnet.align_corners", &v))) return st;
    c->align_corners = v != 0;
    if ((st = segc_file_get_floats(f, "input.mean", c->mean, 3)) ||
        (st = segc_file_get_floats(f, "input.std", c->std, 3)))
        return st;
    const char *dataset = NULL;
    if (segc_file_get_str(f, "dataset", &dataset) == SEGC_OK) snprintf(c->dataset, sizeof c->dataset, "%s", dataset);
    for (int i = 0; i < 3; i++)
        if (!(c->std[i] > 0.0f) || !(c->mean[i] >= 0.0f && c->mean[i] <= 1.0f))
            return segc_fail(SEGC_ERR_FORMAT, "input.mean/std (0..1 scale) are not usable: mean %g std %g",
                             (double)c->mean[i], (double)c->std[i]);
    return SEGC_OK;
}

/* ---- loading ---- */

/* Stage s (1..3 = stage2..4): transition from the previous stage's channels, then its modules. */
static segc_status load_stage(hrnet_model *m, int s) {
    const segc_hrnet_stage_config *cfg = &m->config.stage[s];
    int exp = segc_resblock_expansion(cfg->block), want[SEGC_HRNET_MAX_BRANCHES], in[SEGC_HRNET_MAX_BRANCHES];
    char name[64];
    for (int b = 0; b < cfg->num_branches; b++) want[b] = cfg->num_channels[b] * exp;
    segc_status st = segc_hrnet_transition_load(&m->params, segc_params_name(name, sizeof name, "transition%d", s),
                                                m->config.stage[s - 1].num_branches, m->stage_channels[s - 1],
                                                cfg->num_branches, want, &m->transition[s - 1]);
    if (st) return st;
    m->modules[s] = calloc((size_t)cfg->num_modules, sizeof(segc_hrnet_module));
    if (!m->modules[s]) return segc_fail(SEGC_ERR_NOMEM, "hrnet: stage%d modules", s + 1);
    memcpy(in, want, sizeof in);
    for (int i = 0; i < cfg->num_modules; i++) {
        segc_hrnet_module *mod = &m->modules[s][i];
        st = segc_hrnet_module_load(&m->params, segc_params_name(name, sizeof name, "stage%d.%d", s + 1, i), cfg, in,
                                    mod);
        if (st) return st;
        m->num_modules[s] = i + 1;
        memcpy(in, mod->out_channels, sizeof in);
    }
    memcpy(m->stage_channels[s], in, sizeof in);
    return SEGC_OK;
}

void segc_hrnet_free(void *model) {
    hrnet_model *m = model;
    if (!m) return;
    segc_reslayer_free(&m->layer1);
    for (int s = 0; s < NUM_STAGES - 1; s++) segc_hrnet_transition_free(&m->transition[s]);
    for (int s = 1; s < NUM_STAGES; s++) {
        for (int i = 0; i < m->num_modules[s]; i++) segc_hrnet_module_free(&m->modules[s][i]);
        free(m->modules[s]);
    }
    segc_params_free(&m->params);
    free(m);
}

segc_status segc_hrnet_load(const segc_file *f, void **model) {
    *model = NULL;
    hrnet_model *m = calloc(1, sizeof *m);
    if (!m) return segc_fail(SEGC_ERR_NOMEM, "hrnet: model");
    segc_params_init(&m->params, f);
    segc_status st = read_config(f, &m->config);
    const hrnet_config *c = &m->config;
    segc_tensor w;
    int stem = 0;
    /* stem width: 64 in seg_hrnet.py, read from the weights */
    if (!st) st = segc_params_get(&m->params, "conv1.weight", 4, NULL, &w);
    if (!st) stem = (int)w.shape[0];
    if (!st) st = segc_hrnet_conv_load(&m->params, "conv1", "bn1", stem, 3, 3, 2, SEGC_ACT_RELU, &m->conv1);
    if (!st) st = segc_hrnet_conv_load(&m->params, "conv2", "bn2", stem, stem, 3, 2, SEGC_ACT_RELU, &m->conv2);
    if (!st)
        st = segc_reslayer_load_winograd(&m->params, "layer1", c->stage[0].block, stem, c->stage[0].num_channels[0],
                                         c->stage[0].num_blocks[0], SEGC_HRNET_BN_EPS, &m->layer1);
    if (!st) m->stage_channels[0][0] = segc_reslayer_out_channels(&m->layer1);
    for (int s = 1; s < NUM_STAGES && !st; s++) st = load_stage(m, s);
    if (!st) {
        for (int b = 0; b < c->stage[NUM_STAGES - 1].num_branches; b++)
            m->concat_channels += m->stage_channels[NUM_STAGES - 1][b];
        st = segc_hrnet_conv_load(&m->params, "last_layer.0", "last_layer.1", m->concat_channels,
                                  m->concat_channels, 1, 1, SEGC_ACT_RELU, &m->last_hidden);
    }
    if (!st)
        st = segc_hrnet_conv_load(&m->params, "last_layer.3", NULL, c->num_classes, m->concat_channels,
                                  c->final_conv_kernel, 1, SEGC_ACT_NONE, &m->last_classifier);
    if (st) {
        segc_fail_context(st, "hrnet");
        segc_hrnet_free(m);
        return st;
    }
    *model = m;
    return SEGC_OK;
}

int segc_hrnet_num_classes(const void *model) { return ((const hrnet_model *)model)->config.num_classes; }

void segc_hrnet_get_io(const void *model, segc_hrnet_io *io) {
    const hrnet_config *c = &((const hrnet_model *)model)->config;
    io->num_classes = c->num_classes;
    io->align_corners = c->align_corners;
    memcpy(io->mean, c->mean, sizeof io->mean);
    memcpy(io->std, c->std, sizeof io->std);
    memcpy(io->dataset, c->dataset, sizeof io->dataset);
}

/* ---- forward ---- */

/* y[b] = new [N, channels[b], h_b, w_b] with h_0 x w_0 = h x w and each branch half the previous
   (conv3x3 s2 p1 rounding). */
static segc_status new_branches(segc_arena *arena, int64_t n, int nb, const int *channels, int64_t h, int64_t w,
                                segc_tensor *y) {
    segc_status st = SEGC_OK;
    for (int b = 0; b < nb && !st; b++) {
        st = segc_tensor_new_f32(arena, &y[b], 4, n, channels[b], h, w);
        h = segc_conv2d_out_dim(h, 3, 2, 1, 1);
        w = segc_conv2d_out_dim(w, 3, 2, 1, 1);
    }
    return st;
}

/* Stage s (1..3): prev (the previous stage's outputs) -> transition -> modules -> y (preallocated). */
static segc_status stage_forward(const hrnet_model *m, int s, segc_arena *arena, const segc_tensor *prev,
                                 segc_tensor *y) {
    const segc_hrnet_transition *tr = &m->transition[s - 1];
    const segc_hrnet_stage_config *cfg = &m->config.stage[s];
    int nb = cfg->num_branches;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor x[SEGC_HRNET_MAX_BRANCHES], bufs[2][SEGC_HRNET_MAX_BRANCHES];
    segc_status st = SEGC_OK;
    /* x_list: prev[i] where the transition is None, else transition[i](prev[-1]) */
    const segc_tensor *last = &prev[tr->num_in - 1];
    for (int i = 0; i < nb && !st; i++) {
        if (tr->is_none[i]) {
            x[i] = prev[i];
            continue;
        }
        int64_t p, q;
        segc_hrnet_chain_out_size(&tr->chains[i], last->shape[2], last->shape[3], &p, &q);
        st = segc_tensor_new_f32(arena, &x[i], 4, last->shape[0], tr->out_channels[i], p, q);
        if (!st) st = segc_hrnet_chain_forward_into(&tr->chains[i], arena, last, &x[i]);
    }
    /* modules ping-pong between two buffer sets; the last one writes y */
    for (int k = 0; k < 2 && k < m->num_modules[s] - 1 && !st; k++)
        st = new_branches(arena, x[0].shape[0], nb, m->stage_channels[s], x[0].shape[2], x[0].shape[3], bufs[k]);
    const segc_tensor *in = x;
    for (int i = 0; i < m->num_modules[s] && !st; i++) {
        segc_tensor *out = i == m->num_modules[s] - 1 ? y : bufs[i % 2];
        st = segc_hrnet_module_forward_into(&m->modules[s][i], arena, in, out);
        in = out;
    }
    segc_arena_release(arena, mark);
    return st;
}

/* out (preallocated [N, concat_channels, h, w]) = cat(y[0], up(y[1]), up(y[2]), up(y[3])). */
static segc_status concat_forward(const hrnet_model *m, segc_arena *arena, const segc_tensor *y, segc_tensor *out) {
    const segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, m->config.align_corners);
    int64_t offset = 0;
    segc_status st = SEGC_OK;
    for (int b = 0; b < m->config.stage[NUM_STAGES - 1].num_branches && !st; b++) {
        segc_tensor part;
        st = segc_tensor_narrow(out, 1, offset, y[b].shape[1], &part);
        if (!st) st = b == 0 ? segc_tensor_copy(&part, &y[0]) : segc_resize(arena, &y[b], &rp, &part);
        offset += y[b].shape[1];
    }
    return st;
}

/* Bilinear taps along one axis of F.interpolate(size=out) for an input of `in`: index pairs and the
   weight of the second, following area_pixel_compute_scale / _source_index as src/ops/resize.c does. */
typedef struct axis_taps {
    int64_t *i0, *i1;
    float *l;
} axis_taps;

static void compute_taps(int64_t in, int64_t out, int align_corners, axis_taps *t) {
    float scale = align_corners ? (out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f) : (float)in / (float)out;
    for (int64_t o = 0; o < out; o++) {
        double f = align_corners ? (double)scale * (double)o : (double)scale * ((double)o + 0.5) - 0.5;
        if (f < 0) f = 0;
        t->i0[o] = (int64_t)f;
        t->i1[o] = t->i0[o] + (t->i0[o] < in - 1);
        t->l[o] = (float)(f - (double)t->i0[o]);
    }
}

/* Rows [r0, r1) of the bilinear resize of y [1, C, hy, wy] with the given row / column taps:
   dst [C, r1 - r0, w]. */
static void upsample_rows(const segc_tensor *y, const axis_taps *ty, const axis_taps *tx, int64_t w, int64_t r0,
                          int64_t r1, float *dst) {
    int64_t C = y->shape[1], hy = y->shape[2], wy = y->shape[3], rows = r1 - r0;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < C * rows; t++) {
        int64_t c = t / rows, r = r0 + t % rows;
        float ly = ty->l[r];
        const float *a = (const float *)y->data + (c * hy + ty->i0[r]) * wy;
        const float *b = (const float *)y->data + (c * hy + ty->i1[r]) * wy;
        float *d = dst + t * w;
        for (int64_t q = 0; q < w; q++) {
            int64_t x0 = tx->i0[q], x1 = tx->i1[q];
            float lx = tx->l[q];
            d[q] = (1.0f - ly) * ((1.0f - lx) * a[x0] + lx * a[x1]) + ly * ((1.0f - lx) * b[x0] + lx * b[x1]);
        }
    }
}

/* The head for FINAL_CONV_KERNEL 1 without the full concat and hidden maps (at 1024 x 2048 they are
   2 x 377 MB for W48): per tile of HEAD_TILE_ROWS quarter-resolution rows, cat_t [Ccat, rows * w] =
   y0 rows | upsampled rows of y1..3, hid_t = relu(W0 cat_t + b0), logits rows = W3 hid_t + b3.
   y[b] [1, C_b, h_b, w_b] -> logits [1, K, h, w] (preallocated). Same sums as the full path. */
#define HEAD_TILE_ROWS 16
static segc_status head_tiled(const hrnet_model *m, segc_arena *arena, const segc_tensor *y, segc_tensor *logits) {
    int64_t h = logits->shape[2], w = logits->shape[3], C = m->concat_channels, K = m->config.num_classes;
    int64_t tile = h < HEAD_TILE_ROWS ? h : HEAD_TILE_ROWS, hidden_k = m->last_hidden.w.shape[0];
    segc_arena_mark mark = segc_arena_get_mark(arena);
    int nb = m->config.stage[NUM_STAGES - 1].num_branches;
    float *cat = segc_arena_alloc_array(arena, (size_t)(C * tile * w), sizeof(float));
    float *hid = segc_arena_alloc_array(arena, (size_t)(hidden_k * tile * w), sizeof(float));
    float *cls = segc_arena_alloc_array(arena, (size_t)(K * tile * w), sizeof(float));
    /* per branch: row taps (h) and column taps (w) of its upsampling to h x w */
    axis_taps ty[SEGC_HRNET_MAX_BRANCHES], tx[SEGC_HRNET_MAX_BRANCHES];
    int ok = cat && hid && cls;
    for (int b = 1; b < nb && ok; b++) {
        axis_taps *t[2] = {&ty[b], &tx[b]};
        for (int k = 0; k < 2 && ok; k++) {
            int64_t len = k ? w : h;
            t[k]->i0 = segc_arena_alloc_array(arena, (size_t)len, sizeof(int64_t));
            t[k]->i1 = segc_arena_alloc_array(arena, (size_t)len, sizeof(int64_t));
            t[k]->l = segc_arena_alloc_array(arena, (size_t)len, sizeof(float));
            ok = t[k]->i0 && t[k]->i1 && t[k]->l;
            if (ok) compute_taps(y[b].shape[2 + k], len, m->config.align_corners, t[k]);
        }
    }
    if (!ok) {
        segc_arena_release(arena, mark);
        return segc_fail_context(SEGC_ERR_NOMEM, "hrnet: head tiles");
    }
    float *out = logits->data;
    for (int64_t r0 = 0; r0 < h; r0 += tile) {
        int64_t rows = h - r0 < tile ? h - r0 : tile, n = rows * w, c0 = 0;
        for (int b = 0; b < nb; b++) {
            int64_t cb = y[b].shape[1];
            if (b == 0) {
                #pragma omp parallel for schedule(static)
                for (int64_t c = 0; c < cb; c++)
                    memcpy(cat + c * n, (const float *)y[0].data + (c * h + r0) * w, (size_t)n * sizeof(float));
            } else {
                upsample_rows(&y[b], &ty[b], &tx[b], w, r0, r0 + rows, cat + c0 * n);
            }
            c0 += cb;
        }
        /* last_layer.0-2 then .3 as 1x1 convs on the tile; the logits rows go to their place in each plane */
        segc_tensor cat_t = segc_tensor_f32(cat, 4, 1, C, rows, w);
        segc_tensor hid_t = segc_tensor_f32(hid, 4, 1, hidden_k, rows, w), cls_t = segc_tensor_f32(cls, 4, 1, K, rows, w);
        segc_status st = segc_hrnet_conv_forward(&m->last_hidden, arena, &cat_t, &hid_t);
        if (!st) st = segc_hrnet_conv_forward(&m->last_classifier, arena, &hid_t, &cls_t);
        if (st) {
            segc_arena_release(arena, mark);
            return st;
        }
        #pragma omp parallel for schedule(static)
        for (int64_t k = 0; k < K; k++) memcpy(out + k * h * w + r0 * w, cls + k * n, (size_t)n * sizeof(float));
    }
    segc_arena_release(arena, mark);
    return SEGC_OK;
}

/* Allocates the three later stages' outputs and layer1's, each followed by a mark, so that a stage's
   input (and everything before it) can be released as soon as the stage is done. Runs the network. */
segc_status segc_hrnet_forward(const void *model, segc_ctx *ctx, const segc_tensor *x, segc_tensor *logits_quarter) {
    const hrnet_model *m = model;
    const hrnet_config *c = &m->config;
    segc_arena *arena = ctx->arena;
    char buf[96];
    if (x->dtype != SEGC_F32 || x->ndim != 4 || x->shape[1] != 3 || x->shape[0] < 1 || !segc_tensor_is_contiguous(x))
        return segc_fail(SEGC_ERR_SHAPE, "hrnet: input %s must be contiguous f32 [N, 3, H, W]",
                         segc_tensor_shape_str(x, buf, sizeof buf));
    int64_t n = x->shape[0];
    int64_t h2 = segc_conv2d_out_dim(x->shape[2], 3, 2, 1, 1), w2 = segc_conv2d_out_dim(x->shape[3], 3, 2, 1, 1);
    int64_t h = segc_conv2d_out_dim(h2, 3, 2, 1, 1), w = segc_conv2d_out_dim(w2, 3, 2, 1, 1);
    if (h2 < 1 || w2 < 1)
        return segc_fail(SEGC_ERR_SHAPE, "hrnet: input %s is empty", segc_tensor_shape_str(x, buf, sizeof buf));
    segc_status st = segc_tensor_new_f32(arena, logits_quarter, 4, n, c->num_classes, h, w);
    if (st) return st;
    segc_arena_mark start = segc_arena_get_mark(arena), after[NUM_STAGES];
    segc_tensor ys[NUM_STAGES][SEGC_HRNET_MAX_BRANCHES];
    for (int s = NUM_STAGES - 1; s >= 0 && !st; s--) {
        st = new_branches(arena, n, c->stage[s].num_branches, m->stage_channels[s], h, w, ys[s]);
        after[s] = segc_arena_get_mark(arena);
    }
    /* stem and layer1 */
    segc_tensor s1, s2;
    if (!st) st = segc_tensor_new_f32(arena, &s2, 4, n, m->conv2.w.shape[0], h, w);
    segc_arena_mark before_s1 = segc_arena_get_mark(arena);
    if (!st) st = segc_tensor_new_f32(arena, &s1, 4, n, m->conv1.w.shape[0], h2, w2);
    if (!st) st = segc_hrnet_conv_forward(&m->conv1, arena, x, &s1);
    if (!st) st = segc_hrnet_conv_forward(&m->conv2, arena, &s1, &s2);
    segc_arena_release(arena, before_s1);
    if (!st) st = segc_tap(ctx, "stem", &s2);
    if (!st) st = segc_reslayer_forward_into(&m->layer1, arena, &s2, &ys[0][0]);
    if (!st) st = segc_tap(ctx, "layer1", &ys[0][0]);
    if (!st) segc_arena_release(arena, after[0]);
    /* stages 2..4; each releases its input */
    for (int s = 1; s < NUM_STAGES && !st; s++) {
        st = stage_forward(m, s, arena, ys[s - 1], ys[s]);
        for (int b = 0; b < c->stage[s].num_branches && !st; b++)
            st = segc_tapf(ctx, &ys[s][b], "stage%d.branch%d", s + 1, b);
        if (!st) segc_arena_release(arena, after[s]);
    }
    /* head: concat, last_layer; tiled when nobody asks for the two big maps */
    segc_tensor cat, hidden;
    if (!st && n == 1 && c->final_conv_kernel == 1 && !segc_tap_wanted(ctx, "concat") &&
        !segc_tap_wanted(ctx, "last_layer.2")) {
        st = head_tiled(m, arena, ys[NUM_STAGES - 1], logits_quarter);
        if (!st) st = segc_tap(ctx, "last_layer", logits_quarter);
        segc_arena_release(arena, start);
        return st;
    }
    if (!st) st = segc_tensor_new_f32(arena, &cat, 4, n, m->concat_channels, h, w);
    if (!st) st = concat_forward(m, arena, ys[NUM_STAGES - 1], &cat);
    if (!st) st = segc_tap(ctx, "concat", &cat);
    if (!st) st = segc_tensor_new_f32(arena, &hidden, 4, n, m->concat_channels, h, w);
    if (!st) st = segc_hrnet_conv_forward(&m->last_hidden, arena, &cat, &hidden);
    if (!st) st = segc_tap(ctx, "last_layer.2", &hidden);
    if (!st) st = segc_hrnet_conv_forward(&m->last_classifier, arena, &hidden, logits_quarter);
    if (!st) st = segc_tap(ctx, "last_layer", logits_quarter);
    segc_arena_release(arena, start);
    return st;
}

/* The logits are made last and then moved down over the temporaries (input, quarter logits), so that the
   full-size map (160 MB for 19 classes at 1024 x 2048) is never live beside the network's activations. */
segc_status segc_hrnet_semantic(const void *model, segc_ctx *ctx, const segc_image *img, segc_tensor *logits) {
    const hrnet_model *m = model;
    const hrnet_config *c = &m->config;
    if (!img || !img->rgb || img->width < 1 || img->height < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "hrnet: empty image");
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    segc_tensor x, quarter, full;
    /* input_transform: BGR (cv2) flipped to RGB, /255, - mean, / std: RGB order here */
    segc_status st = segc_image_normalize(ctx->arena, img, c->mean, c->std, 0, &x);
    if (!st) st = segc_tap(ctx, "input", &x);
    if (!st) st = segc_hrnet_forward(model, ctx, &x, &quarter);
    if (!st) st = segc_tensor_new_f32(ctx->arena, &full, 4, 1, c->num_classes, img->height, img->width);
    if (!st) {
        const segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, c->align_corners);
        st = segc_resize(ctx->arena, &quarter, &rp, &full);
    }
    segc_arena_release(ctx->arena, mark);
    if (st) return st;
    /* the released region starts at the mark: the same allocation lands there (or in a later chunk) */
    if ((st = segc_tensor_new_f32(ctx->arena, logits, 4, 1, c->num_classes, img->height, img->width))) return st;
    memmove(logits->data, full.data, (size_t)segc_tensor_numel(logits) * sizeof(float));
    return segc_tap(ctx, "logits", logits);
}
