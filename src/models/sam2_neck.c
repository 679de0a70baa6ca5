/* sam2_neck.c - SAM 2's FpnNeck (sam2/modeling/backbones/image_encoder.py) and what the image predictor
   does with its output (SAM2Base.forward_image, SAM2ImagePredictor.set_image): 1x1 lateral convs,
   nearest 2x top-down sums at fpn_top_down_levels, scalp, conv_s0/conv_s1 on the two finest levels and
   no_mem_embed added to the stride-16 level. Works on channels-last tokens; writes NCHW maps.
   Not here: the neck's sine position encoding (only the video memory attention reads it). */
#include <string.h>

#include "core/status.h"
#include "models/sam2_internal.h"
#include "ops/gemm.h"

/* A 1x1 conv stored as [K, C, 1, 1] seen as a linear weight [K, C]. */
static segc_status get_conv1x1(segc_params *p, const char *prefix, int64_t K, int64_t C, segc_tensor *w,
                               segc_tensor *b) {
    char name[256];
    const int64_t ws[4] = {K, C, 1, 1}, bs[1] = {K};
    segc_params_name(name, sizeof name, "%s.weight", prefix);
    segc_status st = segc_params_get(p, name, 4, ws, w);
    if (st != SEGC_OK) return st;
    const int64_t w2[2] = {K, C};
    if ((st = segc_tensor_reshape(w, 2, w2, w)) != SEGC_OK) return st;
    segc_params_name(name, sizeof name, "%s.bias", prefix);
    return segc_params_get(p, name, 1, bs, b);
}

segc_status sam2_neck_load(sam2_model *m) {
    const sam2_config *c = &m->cfg;
    if (c->scalp != 1)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "sam2: scalp %d (the image predictor expects 1)", c->scalp);
    const int n = SAM2_NUM_STAGES - 1;
    segc_status st;
    for (int i = 0; i < SAM2_NUM_STAGES; i++) {   /* convs[n - i] takes trunk stage i */
        const sam2_hiera_block *last = &m->blocks[m->stage_end[i]];
        char prefix[128];
        segc_params_name(prefix, sizeof prefix, "image_encoder.neck.convs.%d.conv", n - i);
        if ((st = get_conv1x1(&m->params, prefix, c->d_model, last->dim_out, &m->neck_w[i], &m->neck_b[i])))
            return st;
    }
    const int64_t ns[3] = {1, 1, c->d_model};
    if ((st = segc_params_get(&m->params, "no_mem_embed", 3, ns, &m->no_mem_embed)) != SEGC_OK) return st;
    if (!c->use_high_res)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "sam2: models without high-res features in the decoder");
    if ((st = get_conv1x1(&m->params, "sam_mask_decoder.conv_s0", c->d_model / 8, c->d_model, &m->conv_s0_w,
                          &m->conv_s0_b)))
        return st;
    return get_conv1x1(&m->params, "sam_mask_decoder.conv_s1", c->d_model / 4, c->d_model, &m->conv_s1_w,
                       &m->conv_s1_b);
}

/* x[H, W, C] += nearest 2x upsample of src[H/2, W/2, C] (F.interpolate scale_factor=2, 'nearest'). */
static void add_upsample2_nearest(const float *src, int64_t H, int64_t W, int64_t C, float *x) {
    const int64_t Ws = W / 2;
#pragma omp parallel for schedule(static)
    for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++) {
            const float *s = src + ((h / 2) * Ws + w / 2) * C;
            float *d = x + (h * W + w) * C;
            for (int64_t c = 0; c < C; c++) d[c] += s[c];
        }
}

/* Offers a channels-last [H*W, C] map as an NCHW view under `name`. */
static segc_status tap_hwc(segc_ctx *ctx, const char *name, const float *x, int64_t H, int64_t W, int64_t C) {
    if (!segc_tap_wanted(ctx, name) && !ctx->profile) return SEGC_OK;
    segc_tensor v = segc_tensor_f32((float *)x, 4, 1, H, W, C), nchw;
    const int perm[4] = {0, 3, 1, 2};
    segc_tensor_permute(&v, perm, &nchw);
    return segc_tap(ctx, name, &nchw);
}

/* feats[i]: trunk stage i+1 [H_i*W_i, C_i] -> emb (allocated by the caller: image_embed, high_res). */
segc_status sam2_neck_forward(const sam2_model *m, segc_ctx *ctx, const segc_tensor feats[4], const int hw[4][2],
                              segc_sam2_embedding *emb) {
    segc_arena *arena = ctx->arena;
    const int64_t D = m->cfg.d_model;
    const int n = SAM2_NUM_STAGES - 1;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor level[SAM2_NUM_STAGES];
    segc_status st = SEGC_OK;
    const float *prev = NULL;
    for (int i = n; i >= 0 && st == SEGC_OK; i--) {
        const int64_t H = hw[i][0], W = hw[i][1];
        if ((st = segc_tensor_new_f32(arena, &level[i], 2, H * W, D, 0, 0)) != SEGC_OK) break;
        if ((st = segc_linear(&feats[i], &m->neck_w[i], &m->neck_b[i], &level[i])) != SEGC_OK) break;
        if (m->cfg.top_down[i] && prev) {
            if (hw[i + 1][0] * 2 != H || hw[i + 1][1] * 2 != W) {
                st = segc_fail(SEGC_ERR_SHAPE, "sam2 neck: level %d is %lldx%lld, not twice level %d", i,
                               (long long)H, (long long)W, i + 1);
                break;
            }
            add_upsample2_nearest(prev, H, W, D, level[i].data);
        }
        prev = level[i].data;
    }
    /* scalp = 1: levels 0..2 remain; level 2 (stride 16) + no_mem_embed is the image embedding */
    static const char *const level_names[3] = {"image_encoder.neck.level0", "image_encoder.neck.level1",
                                                "image_encoder.neck.level2"};
    for (int i = 0; i < n && st == SEGC_OK; i++)
        st = tap_hwc(ctx, level_names[i], level[i].data, hw[i][0], hw[i][1], D);
    if (st == SEGC_OK) {
        const int64_t P2 = (int64_t)hw[2][0] * hw[2][1];
        segc_tokens_to_chw(level[2].data, P2, D, m->cfg.directly_add_no_mem_embed ? m->no_mem_embed.data : NULL,
                           emb->image_embed.data);
        st = segc_tap(ctx, "image_embed", &emb->image_embed);
    }
    const segc_tensor *cw[2] = {&m->conv_s0_w, &m->conv_s1_w}, *cb[2] = {&m->conv_s0_b, &m->conv_s1_b};
    for (int i = 0; i < 2 && st == SEGC_OK; i++) {
        const int64_t P = (int64_t)hw[i][0] * hw[i][1], K = cw[i]->shape[0];
        segc_arena_mark m2 = segc_arena_get_mark(arena);
        segc_tensor y;
        if ((st = segc_tensor_new_f32(arena, &y, 2, P, K, 0, 0)) == SEGC_OK &&
            (st = segc_linear(&level[i], cw[i], cb[i], &y)) == SEGC_OK) {
            segc_tokens_to_chw(y.data, P, K, NULL, emb->high_res[i].data);
            st = segc_tap(ctx, i == 0 ? "sam_mask_decoder.conv_s0" : "sam_mask_decoder.conv_s1", &emb->high_res[i]);
        }
        segc_arena_release(arena, m2);
    }
    segc_arena_release(arena, mark);
    return st;
}
