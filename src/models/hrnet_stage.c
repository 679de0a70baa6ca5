/* hrnet_stage.c - HRNet's building blocks above the residual block: folded conv units, transition layers
   and the HighResolutionModule (branches + multi-resolution fusion), mirroring lib/models/seg_hrnet.py
   (pytorch-v1.1). Fusion upsampling is F.interpolate(mode='bilinear') with PyTorch's default
   align_corners=False; downsampling is strided 3x3 convs. */
#include "models/hrnet_stage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/resize.h"

segc_status segc_hrnet_conv_load(segc_params *p, const char *conv, const char *bn, int k, int c, int r, int stride,
                                 segc_act act, segc_hrnet_conv *out) {
    const int64_t shape[4] = {k, c, r, r};
    memset(out, 0, sizeof *out);
    out->stride = stride;
    out->pad = r / 2;
    out->act = act;
    return segc_params_conv_bn(p, conv, bn, SEGC_HRNET_BN_EPS, shape, &out->w, &out->b);
}

segc_status segc_hrnet_conv_use_winograd(segc_hrnet_conv *c) {
    if (c->wino || c->stride != 1 || c->w.shape[2] != 3 || c->w.shape[3] != 3) return SEGC_OK;
    segc_winograd_weights *u = calloc(1, sizeof *u);
    if (!u) return segc_fail(SEGC_ERR_NOMEM, "hrnet: winograd weights");
    segc_status st = segc_winograd_prepare(&c->w, u);
    if (st) free(u);
    else c->wino = u;
    return st;
}

void segc_hrnet_conv_free(segc_hrnet_conv *c) {
    if (c->wino) segc_winograd_weights_free(c->wino);
    free(c->wino);
    c->wino = NULL;
}

segc_status segc_hrnet_conv_forward(const segc_hrnet_conv *c, segc_arena *arena, const segc_tensor *x,
                                    segc_tensor *out) {
    if (c->wino) return segc_winograd_conv3x3(arena, x, c->wino, &c->b, c->act, out);
    segc_conv2d_params cp = segc_conv2d_params_make(c->stride, c->pad, 1, 1);
    cp.act = c->act;
    return segc_conv2d(arena, x, &c->w, &c->b, &cp, out);
}

void segc_hrnet_chain_out_size(const segc_hrnet_chain *ch, int64_t h, int64_t w, int64_t *p, int64_t *q) {
    for (int i = 0; i < ch->num_convs; i++) {
        int r = (int)ch->convs[i].w.shape[2];
        h = segc_conv2d_out_dim(h, r, ch->convs[i].stride, ch->convs[i].pad, 1);
        w = segc_conv2d_out_dim(w, r, ch->convs[i].stride, ch->convs[i].pad, 1);
    }
    *p = h;
    *q = w;
}

segc_status segc_hrnet_chain_forward_into(const segc_hrnet_chain *ch, segc_arena *arena, const segc_tensor *x,
                                          segc_tensor *out) {
    if (ch->num_convs == 0) return segc_tensor_copy(out, x);
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor cur = *x;
    segc_status st = SEGC_OK;
    for (int i = 0; i < ch->num_convs && !st; i++) {
        const segc_hrnet_conv *c = &ch->convs[i];
        segc_tensor next = *out;
        if (i < ch->num_convs - 1) {
            int r = (int)c->w.shape[2];
            st = segc_tensor_new_f32(arena, &next, 4, cur.shape[0], c->w.shape[0],
                                     segc_conv2d_out_dim(cur.shape[2], r, c->stride, c->pad, 1),
                                     segc_conv2d_out_dim(cur.shape[3], r, c->stride, c->pad, 1));
        }
        if (!st) st = segc_hrnet_conv_forward(c, arena, &cur, &next);
        cur = next;
    }
    segc_arena_release(arena, mark);
    return st;
}

segc_status segc_hrnet_transition_load(segc_params *p, const char *prefix, int num_in, const int *in_channels,
                                       int num_out, const int *out_channels, segc_hrnet_transition *out) {
    memset(out, 0, sizeof *out);
    if (num_in < 1 || num_out < num_in || num_out > SEGC_HRNET_MAX_BRANCHES)
        return segc_fail(SEGC_ERR_FORMAT, "%s: %d -> %d branches is not an HRNet transition", prefix, num_in, num_out);
    out->num_in = num_in;
    out->num_out = num_out;
    memcpy(out->in_channels, in_channels, sizeof(int) * (size_t)num_in);
    memcpy(out->out_channels, out_channels, sizeof(int) * (size_t)num_out);
    char conv[256], bn[256];
    segc_status st = SEGC_OK;
    for (int i = 0; i < num_out && !st; i++) {
        segc_hrnet_chain *ch = &out->chains[i];
        if (i < num_in) {
            /* Sequential(conv3x3 s1, BN, ReLU) at "<prefix>.<i>.0" / ".1", or None */
            out->is_none[i] = in_channels[i] == out_channels[i];
            if (out->is_none[i]) continue;
            ch->num_convs = 1;
            st = segc_hrnet_conv_load(p, segc_params_name(conv, sizeof conv, "%s.%d.0", prefix, i),
                                      segc_params_name(bn, sizeof bn, "%s.%d.1", prefix, i), out_channels[i],
                                      in_channels[i], 3, 1, SEGC_ACT_RELU, &ch->convs[0]);
            if (!st) st = segc_hrnet_conv_use_winograd(&ch->convs[0]);
        } else {
            /* Sequential of Sequential(conv3x3 s2, BN, ReLU) at "<prefix>.<i>.<k>.0" / ".1" */
            ch->num_convs = i + 1 - num_in;
            int c = in_channels[num_in - 1];
            for (int k = 0; k < ch->num_convs && !st; k++) {
                int kout = k == ch->num_convs - 1 ? out_channels[i] : c;
                st = segc_hrnet_conv_load(p, segc_params_name(conv, sizeof conv, "%s.%d.%d.0", prefix, i, k),
                                          segc_params_name(bn, sizeof bn, "%s.%d.%d.1", prefix, i, k), kout, c, 3, 2,
                                          SEGC_ACT_RELU, &ch->convs[k]);
            }
        }
    }
    return st;
}

void segc_hrnet_transition_free(segc_hrnet_transition *t) {
    for (int i = 0; i < SEGC_HRNET_MAX_BRANCHES; i++)
        for (int k = 0; k < SEGC_HRNET_MAX_CHAIN; k++) segc_hrnet_conv_free(&t->chains[i].convs[k]);
}

/* fuse_layers[i][j] of module `prefix`: see segc_hrnet_module in the header. */
static segc_status fuse_load(segc_params *p, const char *prefix, int i, int j, const int *channels,
                             segc_hrnet_chain *ch) {
    char conv[256], bn[256];
    memset(ch, 0, sizeof *ch);
    if (j == i) return SEGC_OK;
    if (j > i) {
        ch->num_convs = 1;   /* Sequential(conv1x1, BN) */
        return segc_hrnet_conv_load(p, segc_params_name(conv, sizeof conv, "%s.fuse_layers.%d.%d.0", prefix, i, j),
                                    segc_params_name(bn, sizeof bn, "%s.fuse_layers.%d.%d.1", prefix, i, j),
                                    channels[i], channels[j], 1, 1, SEGC_ACT_NONE, &ch->convs[0]);
    }
    ch->num_convs = i - j;   /* Sequential of Sequential(conv3x3 s2, BN[, ReLU]) */
    segc_status st = SEGC_OK;
    for (int k = 0; k < ch->num_convs && !st; k++) {
        int last = k == ch->num_convs - 1;
        st = segc_hrnet_conv_load(p, segc_params_name(conv, sizeof conv, "%s.fuse_layers.%d.%d.%d.0", prefix, i, j, k),
                                  segc_params_name(bn, sizeof bn, "%s.fuse_layers.%d.%d.%d.1", prefix, i, j, k),
                                  last ? channels[i] : channels[j], channels[j], 3, 2,
                                  last ? SEGC_ACT_NONE : SEGC_ACT_RELU, &ch->convs[k]);
    }
    return st;
}

segc_status segc_hrnet_module_load(segc_params *p, const char *prefix, const segc_hrnet_stage_config *cfg,
                                   const int *in_channels, segc_hrnet_module *out) {
    memset(out, 0, sizeof *out);
    int nb = cfg->num_branches, exp = segc_resblock_expansion(cfg->block);
    if (nb < 1 || nb > SEGC_HRNET_MAX_BRANCHES)
        return segc_fail(SEGC_ERR_FORMAT, "%s: %d branches (1 to %d supported)", prefix, nb, SEGC_HRNET_MAX_BRANCHES);
    out->num_branches = nb;
    char name[256];
    segc_status st = SEGC_OK;
    for (int b = 0; b < nb && !st; b++) {
        int planes = cfg->num_channels[b] * exp;   /* _make_stage expands NUM_CHANNELS before passing them */
        out->in_channels[b] = in_channels[b];
        out->out_channels[b] = planes * exp;
        st = segc_reslayer_load_winograd(p, segc_params_name(name, sizeof name, "%s.branches.%d", prefix, b),
                                         cfg->block, in_channels[b], planes, cfg->num_blocks[b], SEGC_HRNET_BN_EPS,
                                         &out->branches[b]);
    }
    for (int i = 0; i < nb && nb > 1 && !st; i++)
        for (int j = 0; j < nb && !st; j++) st = fuse_load(p, prefix, i, j, out->out_channels, &out->fuse[i][j]);
    if (st) segc_hrnet_module_free(out);
    return st;
}

void segc_hrnet_module_free(segc_hrnet_module *m) {
    for (int b = 0; b < SEGC_HRNET_MAX_BRANCHES; b++) segc_reslayer_free(&m->branches[b]);
}

/* y += f_ij(xj): the j -> i fuse path accumulated into y [1, C_i, H_i, W_i]. */
static segc_status fuse_add(const segc_hrnet_chain *ch, int i, int j, segc_arena *arena, const segc_tensor *xj,
                            segc_tensor *y) {
    if (i == j) return segc_add_inplace(y, xj, SEGC_ACT_NONE);
    segc_arena_mark mark = segc_arena_get_mark(arena);
    int64_t p, q;
    segc_hrnet_chain_out_size(ch, xj->shape[2], xj->shape[3], &p, &q);
    segc_tensor t;
    segc_status st = segc_tensor_new_f32(arena, &t, 4, xj->shape[0], y->shape[1], p, q);
    if (!st) st = segc_hrnet_chain_forward_into(ch, arena, xj, &t);
    if (!st && j > i) {
        const segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
        st = segc_resize_add(arena, &t, &rp, y);
    } else if (!st) {
        st = segc_add_inplace(y, &t, SEGC_ACT_NONE);
    }
    segc_arena_release(arena, mark);
    return st;
}

segc_status segc_hrnet_module_forward_into(const segc_hrnet_module *m, segc_arena *arena, const segc_tensor *x,
                                           segc_tensor *y) {
    int nb = m->num_branches;
    if (nb == 1) return segc_reslayer_forward_into(&m->branches[0], arena, &x[0], &y[0]);
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor bx[SEGC_HRNET_MAX_BRANCHES];
    segc_status st = SEGC_OK;
    /* branch 0 writes straight into y[0] (the identity term of y_0), so y_0 is summed last, in place */
    bx[0] = y[0];
    st = segc_reslayer_forward_into(&m->branches[0], arena, &x[0], &bx[0]);
    for (int b = 1; b < nb && !st; b++) st = segc_reslayer_forward(&m->branches[b], arena, &x[b], &bx[b]);
    /* y_i = relu(f_i0(x_0) + f_i1(x_1) + ...), summed in the order of HighResolutionModule.forward */
    for (int i = nb - 1; i >= 0 && !st; i--) {
        if (i > 0) st = segc_hrnet_chain_forward_into(&m->fuse[i][0], arena, &bx[0], &y[i]);
        for (int j = 1; j < nb && !st; j++) st = fuse_add(&m->fuse[i][j], i, j, arena, &bx[j], &y[i]);
        if (!st) st = segc_act_tensor(SEGC_ACT_RELU, &y[i]);
    }
    segc_arena_release(arena, mark);
    return st;
}
