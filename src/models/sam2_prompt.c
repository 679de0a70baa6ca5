/* sam2_prompt.c - SAM 2's prompt side: SAM2ImagePredictor._prep_prompts/_predict (pixel coordinates to
   the 1024 frame, box as two corner points with labels 2/3 placed before the clicks) and PromptEncoder
   (sam2/modeling/sam/prompt_encoder.py): random Fourier point encoding, label embeddings, the padding
   point, the mask-input downscaling convs, and the dense positional encoding get_dense_pe().
   Dims: N sparse tokens, D = 256 embed dim, E = 64 embedding side, mask input 4E x 4E. */
#include <math.h>
#include <string.h>

#include "core/status.h"
#include "models/sam2_internal.h"
#include "ops/conv.h"
#include "ops/norm.h"

#define PROMPT_PAD_LABEL (-1)
#define PROMPT_MAX_LABEL 3

static segc_status get_vec(segc_params *p, const char *name, int64_t D, segc_tensor *out) {
    const int64_t s[2] = {1, D};
    return segc_params_get(p, name, 2, s, out);
}

/* xy01: n points (x, y) in [0,1]^2 -> out[n, D]: PositionEmbeddingRandom._pe_encoding. */
void sam2_pe_encode(const sam2_model *m, const float *xy01, int64_t n, float *out) {
    const int64_t F = m->pe_gauss.shape[1];
    const float *g = m->pe_gauss.data;
    const float two_pi = (float)(2.0 * M_PI);
    for (int64_t i = 0; i < n; i++) {
        const float cx = 2.0f * xy01[2 * i] - 1.0f, cy = 2.0f * xy01[2 * i + 1] - 1.0f;
        float *o = out + i * 2 * F;
        for (int64_t j = 0; j < F; j++) {
            const float v = two_pi * (cx * g[j] + cy * g[F + j]);
            o[j] = sinf(v);
            o[F + j] = cosf(v);
        }
    }
}

/* dense_pe[y*E + x, :] = pe(((x + 0.5) / E, (y + 0.5) / E)), the tokens of get_dense_pe(). */
static segc_status build_dense_pe(sam2_model *m) {
    const int64_t E = m->cfg.image_size / m->cfg.backbone_stride, D = m->cfg.d_model;
    float *pe = segc_arena_alloc_array(&m->params.store, (size_t)(E * E * D), sizeof(float));
    float *xy = segc_arena_alloc_array(&m->params.store, (size_t)(E * E * 2), sizeof(float));
    if (!pe || !xy) return SEGC_ERR_NOMEM;
    for (int64_t y = 0; y < E; y++)
        for (int64_t x = 0; x < E; x++) {
            xy[2 * (y * E + x)] = ((float)x + 0.5f) / (float)E;
            xy[2 * (y * E + x) + 1] = ((float)y + 0.5f) / (float)E;
        }
    sam2_pe_encode(m, xy, E * E, pe);
    m->dense_pe = segc_tensor_f32(pe, 2, E * E, D, 0, 0);
    return SEGC_OK;
}

segc_status sam2_prompt_load(sam2_model *m) {
    segc_params *p = &m->params;
    const int64_t D = m->cfg.d_model, mic = m->cfg.mask_in_chans;
    const int64_t gs[2] = {2, D / 2};
    segc_status st = segc_params_get(p, "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", 2, gs,
                                     &m->pe_gauss);
    if (st != SEGC_OK) return st;
    char name[128];
    for (int i = 0; i < 4; i++) {
        segc_params_name(name, sizeof name, "sam_prompt_encoder.point_embeddings.%d.weight", i);
        if ((st = get_vec(p, name, D, &m->point_embed[i])) != SEGC_OK) return st;
    }
    if ((st = get_vec(p, "sam_prompt_encoder.not_a_point_embed.weight", D, &m->not_a_point)) ||
        (st = get_vec(p, "sam_prompt_encoder.no_mask_embed.weight", D, &m->no_mask_embed)))
        return st;
    /* mask_downscaling: 0 conv(1 -> mic/4, 2, s2), 1 LN2d, 2 GELU, 3 conv(mic/4 -> mic, 2, s2), 4 LN2d,
       5 GELU, 6 conv(mic -> D, 1) */
    const int64_t cshape[3][4] = {{mic / 4, 1, 2, 2}, {mic, mic / 4, 2, 2}, {D, mic, 1, 1}};
    const int conv_idx[3] = {0, 3, 6}, ln_idx[2] = {1, 4};
    for (int i = 0; i < 3; i++) {
        const int64_t bs[1] = {cshape[i][0]};
        segc_params_name(name, sizeof name, "sam_prompt_encoder.mask_downscaling.%d.weight", conv_idx[i]);
        if ((st = segc_params_get(p, name, 4, cshape[i], &m->md_w[i])) != SEGC_OK) return st;
        segc_params_name(name, sizeof name, "sam_prompt_encoder.mask_downscaling.%d.bias", conv_idx[i]);
        if ((st = segc_params_get(p, name, 1, bs, &m->md_b[i])) != SEGC_OK) return st;
    }
    for (int i = 0; i < 2; i++) {
        const int64_t ls[1] = {i == 0 ? mic / 4 : mic};
        segc_params_name(name, sizeof name, "sam_prompt_encoder.mask_downscaling.%d.weight", ln_idx[i]);
        if ((st = segc_params_get(p, name, 1, ls, &m->md_ln_w[i])) != SEGC_OK) return st;
        segc_params_name(name, sizeof name, "sam_prompt_encoder.mask_downscaling.%d.bias", ln_idx[i]);
        if ((st = segc_params_get(p, name, 1, ls, &m->md_ln_b[i])) != SEGC_OK) return st;
    }
    return build_dense_pe(m);
}

segc_status sam2_prompt_check(const sam2_model *m, const segc_sam2_prompts *pr) {
    if (!pr) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2: no prompts");
    if (pr->num_points < 0 || pr->num_points > SEGC_SAM2_MAX_POINTS || (pr->num_points > 0 && !pr->points))
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2: %d points (0..%d with a points array)", pr->num_points,
                         SEGC_SAM2_MAX_POINTS);
    if (pr->num_points == 0 && !pr->has_box && !pr->mask_input)
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2: no prompt at all (give points, a box or a mask input)");
    for (int i = 0; i < pr->num_points; i++) {
        const segc_sam2_point *q = &pr->points[i];
        if (!isfinite(q->x) || !isfinite(q->y))
            return segc_fail(SEGC_ERR_INVALID_ARG, "sam2: point %d has a non-finite coordinate", i);
        if (q->label < PROMPT_PAD_LABEL || q->label > PROMPT_MAX_LABEL)
            return segc_fail(SEGC_ERR_INVALID_ARG, "sam2: point %d has label %d (expected -1..3)", i, q->label);
    }
    if (pr->has_box)
        for (int i = 0; i < 4; i++)
            if (!isfinite(pr->box[i])) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2: box has a non-finite value");
    if (pr->mask_input) {
        const segc_tensor *t = pr->mask_input;
        const int64_t S = 4 * (m->cfg.image_size / m->cfg.backbone_stride);
        const int ok3 = t->ndim == 3 && t->shape[0] == 1 && t->shape[1] == S && t->shape[2] == S;
        const int ok4 = t->ndim == 4 && t->shape[0] == 1 && t->shape[1] == 1 && t->shape[2] == S && t->shape[3] == S;
        if ((!ok3 && !ok4) || t->dtype != SEGC_F32 || !segc_tensor_is_contiguous(t) || !t->data)
            return segc_fail(SEGC_ERR_INVALID_ARG, "sam2: mask input must be contiguous float32 [1, %lld, %lld]",
                             (long long)S, (long long)S);
    }
    return SEGC_OK;
}

/* mask [1, 1, 4E, 4E] -> dense [1, D, E, E] through mask_downscaling. */
static segc_status embed_mask(const sam2_model *m, segc_arena *arena, const segc_tensor *mask, segc_tensor *dense) {
    const int64_t S = mask->shape[mask->ndim - 1];
    segc_tensor x = segc_tensor_f32(mask->data, 4, 1, 1, S, S);
    const segc_conv2d_params down = segc_conv2d_params_make(2, 0, 1, 1), one = segc_conv2d_params_make(1, 0, 1, 1);
    const int64_t D = m->cfg.d_model;
    segc_status st = segc_tensor_new_f32(arena, dense, 4, 1, D, S / 4, S / 4);
    if (st != SEGC_OK) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor h1, h2;
    if ((st = segc_conv2d_new(arena, &x, &m->md_w[0], &m->md_b[0], &down, &h1)) == SEGC_OK &&
        (st = segc_layer_norm2d(&h1, &m->md_ln_w[0], &m->md_ln_b[0], SAM2_LN_EPS, &h1)) == SEGC_OK) {
        segc_act_apply(SEGC_ACT_GELU, h1.data, (size_t)segc_tensor_numel(&h1));
        if ((st = segc_conv2d_new(arena, &h1, &m->md_w[1], &m->md_b[1], &down, &h2)) == SEGC_OK &&
            (st = segc_layer_norm2d(&h2, &m->md_ln_w[1], &m->md_ln_b[1], SAM2_LN_EPS, &h2)) == SEGC_OK) {
            segc_act_apply(SEGC_ACT_GELU, h2.data, (size_t)segc_tensor_numel(&h2));
            st = segc_conv2d(arena, &h2, &m->md_w[2], &m->md_b[2], &one, dense);
        }
    }
    segc_arena_release(arena, mark);
    return st;
}

segc_status sam2_prompt_forward(const sam2_model *m, segc_ctx *ctx, const segc_sam2_embedding *emb,
                                const segc_sam2_prompts *pr, segc_tensor *sparse, segc_tensor *dense) {
    segc_status st = sam2_prompt_check(m, pr);
    if (st != SEGC_OK) return st;
    if (emb->orig_w < 1 || emb->orig_h < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2: embedding has no size");
    const int64_t D = m->cfg.d_model;
    const int has_points = pr->num_points > 0 || pr->has_box;
    const int64_t N = has_points ? pr->num_points + (pr->has_box ? 2 : 0) + 1 : 0;   /* + padding point */
    /* [N, D]; with no points or box N = 0 (one row is still allocated so the view has valid memory) */
    if ((st = segc_tensor_new_f32(ctx->arena, sparse, 2, N > 0 ? N : 1, D, 0, 0)) != SEGC_OK) return st;
    sparse->shape[0] = N;
    if (N > 0) {
        float xy[2 * (SEGC_SAM2_MAX_POINTS + 3)];
        int labels[SEGC_SAM2_MAX_POINTS + 3];
        const float S = (float)m->cfg.image_size, w = (float)emb->orig_w, h = (float)emb->orig_h;
        int k = 0;
        if (pr->has_box) {   /* corners (x0, y0) label 2, (x1, y1) label 3, before the clicks */
            for (int c = 0; c < 2; c++, k++) {
                xy[2 * k] = pr->box[2 * c] / w * S;
                xy[2 * k + 1] = pr->box[2 * c + 1] / h * S;
                labels[k] = 2 + c;
            }
        }
        for (int i = 0; i < pr->num_points; i++, k++) {
            xy[2 * k] = pr->points[i].x / w * S;
            xy[2 * k + 1] = pr->points[i].y / h * S;
            labels[k] = pr->points[i].label;
        }
        /* _embed_points: shift to pixel centres, then the padding point (0, 0) label -1 */
        for (int i = 0; i < k; i++) {
            xy[2 * i] = (xy[2 * i] + 0.5f) / S;
            xy[2 * i + 1] = (xy[2 * i + 1] + 0.5f) / S;
        }
        xy[2 * k] = xy[2 * k + 1] = 0.0f;
        labels[k++] = PROMPT_PAD_LABEL;
        float *sp = sparse->data;
        sam2_pe_encode(m, xy, k, sp);
        for (int i = 0; i < k; i++) {
            float *row = sp + (int64_t)i * D;
            const float *add = labels[i] == PROMPT_PAD_LABEL ? m->not_a_point.data : m->point_embed[labels[i]].data;
            if (labels[i] == PROMPT_PAD_LABEL) memset(row, 0, (size_t)D * sizeof(float));
            for (int64_t c = 0; c < D; c++) row[c] += add[c];
        }
        segc_tensor t3 = segc_tensor_f32(sp, 3, 1, N, D, 0);
        if ((st = segc_tap(ctx, "sam_prompt_encoder.sparse", &t3)) != SEGC_OK) return st;
    }
    memset(dense, 0, sizeof *dense);
    if (pr->mask_input) {
        if ((st = embed_mask(m, ctx->arena, pr->mask_input, dense)) != SEGC_OK) return st;
        return segc_tap(ctx, "sam_prompt_encoder.dense", dense);
    }
    segc_tensor v = segc_tensor_f32(m->no_mask_embed.data, 1, D, 0, 0, 0);
    return segc_tap(ctx, "sam_prompt_encoder.no_mask_embed", &v);
}
