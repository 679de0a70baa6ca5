/* sam2.c - SAM 2 image predictor: configuration from the .segc metadata, loading, and the two calls of
   SAM2ImagePredictor: encode (set_image) and predict (prompt encoder, mask decoder, mask selection with
   dynamic multimask via stability, clamping, upscaling to the original size, threshold).
   The stages live in sam2_preprocess.c, sam2_hiera.c, sam2_neck.c, sam2_prompt.c, sam2_decoder.c. */
#include "models/sam2.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "models/sam2_internal.h"
#include "ops/resize.h"

#define SAM2_LOW_RES_CLAMP 32.0f   /* predict(): torch.clamp(low_res_masks, -32.0, 32.0) */
#define SAM2_MASK_THRESHOLD 0.0f   /* SAM2ImagePredictor mask_threshold */
#define SAM2_BATCH_CHUNK 16        /* prompt sets per decoder pass inside predict_batch */

static segc_status get_int(const segc_file *f, const char *key, int lo, int hi, int *out) {
    int64_t v;
    segc_status st = segc_file_get_int(f, key, &v);
    if (st != SEGC_OK) return segc_fail_context(st, "sam2 metadata");
    if (v < lo || v > hi) return segc_fail(SEGC_ERR_FORMAT, "sam2 metadata: %s = %lld (expected %d..%d)", key,
                                           (long long)v, lo, hi);
    *out = (int)v;
    return SEGC_OK;
}

/* An int array of up to `max` entries, each in [lo, hi]; *count gets the length. */
static segc_status get_ints(const segc_file *f, const char *key, int max, int lo, int hi, int *out, int *count) {
    const segc_kv *kv = segc_file_kv_find(f, key);
    if (!kv) return segc_fail(SEGC_ERR_NOT_FOUND, "sam2 metadata: missing %s", key);
    if (kv->type != SEGC_KV_INT_ARRAY || kv->count > max)
        return segc_fail(SEGC_ERR_FORMAT, "sam2 metadata: %s must be an int array of at most %d", key, max);
    int64_t v[SAM2_MAX_BLOCKS];
    segc_status st = segc_file_get_ints(f, key, v, kv->count);
    if (st != SEGC_OK) return st;
    for (int64_t i = 0; i < kv->count; i++) {
        if (v[i] < lo || v[i] > hi)
            return segc_fail(SEGC_ERR_FORMAT, "sam2 metadata: %s[%lld] = %lld", key, (long long)i, (long long)v[i]);
        out[i] = (int)v[i];
    }
    *count = (int)kv->count;
    return SEGC_OK;
}

static segc_status get_fixed_ints(const segc_file *f, const char *key, int n, int lo, int hi, int *out) {
    int count = 0;
    segc_status st = get_ints(f, key, n, lo, hi, out, &count);
    if (st == SEGC_OK && count != n) return segc_fail(SEGC_ERR_FORMAT, "sam2 metadata: %s needs %d values", key, n);
    return st;
}

static segc_status get_float(const segc_file *f, const char *key, float *out) {
    double v;
    segc_status st = segc_file_get_float(f, key, &v);
    if (st != SEGC_OK) return segc_fail_context(st, "sam2 metadata");
    if (!isfinite(v)) return segc_fail(SEGC_ERR_FORMAT, "sam2 metadata: %s is not finite", key);
    *out = (float)v;
    return SEGC_OK;
}

/* Reads every "sam2.*" hyper-parameter written by tools/convert/arch_sam2.c. */
static segc_status load_config(const segc_file *f, sam2_config *c) {
    segc_status st;
    int n, levels[SAM2_NUM_STAGES], bkg[2];
    memset(c, 0, sizeof *c);
    if ((st = get_int(f, "sam2.embed_dim", 8, 4096, &c->embed_dim)) ||
        (st = get_int(f, "sam2.num_heads", 1, 64, &c->num_heads)) ||
        (st = get_fixed_ints(f, "sam2.stages", SAM2_NUM_STAGES, 1, SAM2_MAX_BLOCKS, c->stages)) ||
        (st = get_fixed_ints(f, "sam2.window_spec", SAM2_NUM_STAGES, 0, 256, c->window_spec)) ||
        (st = get_ints(f, "sam2.global_att_blocks", SAM2_MAX_GLOBAL, 0, SAM2_MAX_BLOCKS, c->global_att_blocks,
                       &c->num_global)) ||
        (st = get_int(f, "sam2.q_pool", 0, SAM2_NUM_STAGES - 1, &c->q_pool)) ||
        (st = get_fixed_ints(f, "sam2.window_pos_embed_bkg_spatial_size", 2, 1, 1024, bkg)) ||
        (st = get_int(f, "sam2.d_model", 8, 4096, &c->d_model)) ||
        (st = get_int(f, "sam2.scalp", 0, 3, &c->scalp)) ||
        (st = get_ints(f, "sam2.fpn_top_down_levels", SAM2_NUM_STAGES, 0, SAM2_NUM_STAGES - 1, levels, &n)) ||
        (st = get_int(f, "sam2.image_size", 64, 8192, &c->image_size)) ||
        (st = get_int(f, "sam2.backbone_stride", 4, 64, &c->backbone_stride)) ||
        (st = get_int(f, "sam2.mask_in_chans", 4, 1024, &c->mask_in_chans)) ||
        (st = get_int(f, "sam2.decoder.depth", 1, SAM2_MAX_DEC_DEPTH, &c->dec_depth)) ||
        (st = get_int(f, "sam2.decoder.num_heads", 1, 64, &c->dec_heads)) ||
        (st = get_int(f, "sam2.decoder.mlp_dim", 1, 65536, &c->dec_mlp_dim)) ||
        (st = get_int(f, "sam2.decoder.attention_downsample_rate", 1, 64, &c->dec_downsample)) ||
        (st = get_int(f, "sam2.iou_head_depth", 1, SEGC_MLP_MAX_LAYERS, &c->iou_head_depth)) ||
        (st = get_int(f, "sam2.iou_prediction_use_sigmoid", 0, 1, &c->iou_sigmoid)) ||
        (st = get_int(f, "sam2.pred_obj_scores", 0, 1, &c->pred_obj_scores)) ||
        (st = get_int(f, "sam2.pred_obj_scores_mlp", 0, 1, &c->pred_obj_scores_mlp)) ||
        (st = get_int(f, "sam2.use_high_res_features_in_sam", 0, 1, &c->use_high_res)) ||
        (st = get_int(f, "sam2.directly_add_no_mem_embed", 0, 1, &c->directly_add_no_mem_embed)) ||
        (st = get_int(f, "sam2.use_multimask_token_for_obj_ptr", 0, 1, &c->use_multimask_token_for_obj_ptr)) ||
        (st = get_int(f, "sam2.dynamic_multimask_via_stability", 0, 1, &c->dynamic_multimask)) ||
        (st = get_float(f, "sam2.dynamic_multimask_stability_delta", &c->stability_delta)) ||
        (st = get_float(f, "sam2.dynamic_multimask_stability_thresh", &c->stability_thresh)) ||
        (st = segc_file_get_floats(f, "input.mean", c->mean, 3)) ||
        (st = segc_file_get_floats(f, "input.std", c->std, 3)))
        return st;
    c->bkg_h = bkg[0];
    c->bkg_w = bkg[1];
    for (int i = 0; i < n; i++) c->top_down[levels[i]] = 1;
    for (int i = 0; i < 3; i++)
        if (!(c->std[i] > 0.0f) || !isfinite(c->mean[i]))
            return segc_fail(SEGC_ERR_FORMAT, "sam2 metadata: bad input.mean / input.std");
    if (c->image_size % c->backbone_stride != 0 || c->d_model % 8 != 0 || c->mask_in_chans % 4 != 0)
        return segc_fail(SEGC_ERR_FORMAT, "sam2 metadata: inconsistent image_size / d_model / mask_in_chans");
    return SEGC_OK;
}

segc_status segc_sam2_load(const segc_file *f, void **model) {
    if (!f || !model) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2_load: NULL argument");
    *model = NULL;
    sam2_model *m = calloc(1, sizeof *m);
    if (!m) return segc_fail(SEGC_ERR_NOMEM, "sam2_load: out of memory");
    segc_params_init(&m->params, f);
    segc_status st = load_config(f, &m->cfg);
    const char *id = NULL;
    if (segc_file_get_str(f, "variant", &id) == SEGC_OK) snprintf(m->variant, sizeof m->variant, "%s", id);
    if (segc_file_get_str(f, "source.sha256", &id) == SEGC_OK)
        snprintf(m->source_sha256, sizeof m->source_sha256, "%s", id);
    if (st == SEGC_OK) st = sam2_hiera_load(m);
    if (st == SEGC_OK) st = sam2_neck_load(m);
    if (st == SEGC_OK) st = sam2_prompt_load(m);
    if (st == SEGC_OK) st = sam2_decoder_load(m);
    if (st != SEGC_OK) {
        segc_sam2_free(m);
        return st;
    }
    *model = m;
    return SEGC_OK;
}

void segc_sam2_free(void *model) {
    sam2_model *m = model;
    if (!m) return;
    segc_params_free(&m->params);
    free(m);
}

segc_status segc_sam2_encode(const void *model, segc_ctx *ctx, const segc_image *img, segc_sam2_embedding *emb) {
    const sam2_model *m = model;
    if (!m || !ctx || !ctx->arena || !img || !emb) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2_encode: NULL argument");
    const int64_t D = m->cfg.d_model, E = m->cfg.image_size / m->cfg.backbone_stride;
    memset(emb, 0, sizeof *emb);
    segc_status st;
    if ((st = segc_tensor_new_f32(ctx->arena, &emb->image_embed, 4, 1, D, E, E)) ||
        (st = segc_tensor_new_f32(ctx->arena, &emb->high_res[0], 4, 1, D / 8, 4 * E, 4 * E)) ||
        (st = segc_tensor_new_f32(ctx->arena, &emb->high_res[1], 4, 1, D / 4, 2 * E, 2 * E)))
        return st;
    emb->orig_h = img->height;
    emb->orig_w = img->width;
    memcpy(emb->model_variant, m->variant, sizeof emb->model_variant);
    memcpy(emb->model_sha256, m->source_sha256, sizeof emb->model_sha256);
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    segc_tensor x, feats[SAM2_NUM_STAGES];
    int hw[SAM2_NUM_STAGES][2];
    if ((st = sam2_preprocess(m, ctx->arena, img, &x)) == SEGC_OK &&
        (st = segc_tap(ctx, "input", &x)) == SEGC_OK &&
        (st = sam2_hiera_forward(m, ctx, &x, feats, hw)) == SEGC_OK)
        st = sam2_neck_forward(m, ctx, feats, hw, emb);
    segc_arena_release(ctx->arena, mark);
    return st;
}

/* Fraction of pixels above +delta among those above -delta (MaskDecoder._get_stability_scores). */
static float stability_score(const float *logits, int64_t n, float delta) {
    int64_t inter = 0, uni = 0;
    for (int64_t i = 0; i < n; i++) {
        inter += logits[i] > delta;
        uni += logits[i] > -delta;
    }
    return uni > 0 ? (float)inter / (float)uni : 1.0f;
}

/* Which of the 4 decoder masks to return (MaskDecoder.forward): 1..3 with multimask; else token 0,
   or with dynamic multimask the best-IoU multimask output when token 0 is unstable. */
static int select_masks(const sam2_model *m, const segc_tensor *all, const float *iou, int multimask, int *idx) {
    if (multimask) {
        for (int k = 0; k < 3; k++) idx[k] = k + 1;
        return 3;
    }
    idx[0] = 0;
    if (m->cfg.dynamic_multimask) {
        const int64_t n = all->shape[1] * all->shape[2];
        if (stability_score(all->data, n, m->cfg.stability_delta) < m->cfg.stability_thresh) {
            int best = 1;
            for (int k = 2; k < SAM2_NUM_MASK_TOKENS; k++)
                if (iou[k] > iou[best]) best = k;   /* argmax: first maximum */
            idx[0] = best;
        }
    }
    return 1;
}

/* Outputs of one set from its decoder results: all [4, S4, S4] logits, iou [4], tokens [4, D]. The outputs
   were allocated by the caller; scratch above the caller's mark. */
static segc_status finish_set(const sam2_model *m, segc_arena *arena, const float *all, const float *iou,
                              float obj_score, const float *tokens, int multimask, int want_logits,
                              segc_sam2_outputs *out) {
    const int64_t D = m->cfg.d_model, S4 = out->low_res_logits.shape[1], H = out->masks.shape[1],
                  W = out->masks.shape[2];
    const int K = (int)out->masks.shape[0], ntok = (int)out->sam_tokens.shape[0];
    segc_tensor all_t = segc_tensor_f32((float *)all, 3, SAM2_NUM_MASK_TOKENS, S4, S4, 0), sel, up;
    int idx[3];
    out->num_masks = select_masks(m, &all_t, iou, multimask, idx);
    out->object_score_logit = obj_score;
    /* the object-pointer tokens: multimask tokens 1..3 or always token 0 (MaskDecoder.forward) */
    memcpy(out->sam_tokens.data, tokens + (ntok == 3 ? D : 0), (size_t)(ntok * D) * sizeof(float));
    segc_status st = segc_tensor_new_f32(arena, &sel, 4, 1, K, S4, S4);
    if (st != SEGC_OK) return st;
    for (int k = 0; k < K; k++) {
        out->iou[k] = iou[idx[k]];
        memcpy((float *)sel.data + k * S4 * S4, all + idx[k] * S4 * S4, (size_t)(S4 * S4) * sizeof(float));
    }
    /* full-resolution masks come from the unclamped logits (postprocess_masks, bilinear, no antialias) */
    segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    if ((st = segc_resize_new(arena, &sel, &rp, H, W, &up)) != SEGC_OK) return st;
    const float *u = up.data;
    uint8_t *mk = out->masks.data;
    for (int64_t i = 0; i < K * H * W; i++) mk[i] = u[i] > SAM2_MASK_THRESHOLD;
    if (want_logits) memcpy(out->mask_logits.data, u, (size_t)(K * H * W) * sizeof(float));
    const float *sd = sel.data;
    float *lr = out->low_res_logits.data;
    for (int64_t i = 0; i < K * S4 * S4; i++)
        lr[i] = sd[i] < -SAM2_LOW_RES_CLAMP ? -SAM2_LOW_RES_CLAMP : sd[i] > SAM2_LOW_RES_CLAMP ? SAM2_LOW_RES_CLAMP : sd[i];
    return SEGC_OK;
}

/* Allocates the outputs of one set (they outlive the call). */
static segc_status alloc_outputs(const sam2_model *m, segc_arena *arena, int64_t H, int64_t W, int multimask,
                                 int want_logits, segc_sam2_outputs *out) {
    const int64_t D = m->cfg.d_model, S4 = 4 * (m->cfg.image_size / m->cfg.backbone_stride);
    const int K = multimask ? 3 : 1;
    const int ntok = multimask && m->cfg.use_multimask_token_for_obj_ptr ? 3 : 1;
    const int64_t ms[3] = {K, H, W};
    memset(out, 0, sizeof *out);
    segc_status st;
    if ((st = segc_tensor_new(arena, SEGC_U8, 3, ms, &out->masks)) ||
        (st = segc_tensor_new_f32(arena, &out->low_res_logits, 3, K, S4, S4, 0)) ||
        (want_logits && (st = segc_tensor_new_f32(arena, &out->mask_logits, 3, K, H, W, 0))) ||
        (st = segc_tensor_new_f32(arena, &out->sam_tokens, 2, ntok, D, 0, 0)))
        return st;
    out->num_masks = K;
    return SEGC_OK;
}

segc_status segc_sam2_predict_batch(const void *model, segc_ctx *ctx, const segc_sam2_embedding *emb, int B,
                                    const segc_sam2_prompts *prompts, int multimask, int want_logits,
                                    segc_sam2_outputs *out) {
    const sam2_model *m = model;
    if (!m || !ctx || !ctx->arena || !emb || !out || (B > 0 && !prompts))
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2_predict: NULL argument");
    if (B < 1 || B > SEGC_SAM2_MAX_BATCH)
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2_predict_batch: %d prompt sets (1..%d)", B, SEGC_SAM2_MAX_BATCH);
    segc_arena *arena = ctx->arena;
    const int64_t H = emb->orig_h, W = emb->orig_w, D = m->cfg.d_model, E = m->cfg.image_size / m->cfg.backbone_stride;
    const int64_t es[4] = {1, D, E, E}, h0[4] = {1, D / 8, 4 * E, 4 * E}, h1[4] = {1, D / 4, 2 * E, 2 * E};
    if (!emb->image_embed.data || !emb->high_res[0].data || !emb->high_res[1].data ||
        !segc_tensor_has_shape(&emb->image_embed, 4, es) || !segc_tensor_has_shape(&emb->high_res[0], 4, h0) ||
        !segc_tensor_has_shape(&emb->high_res[1], 4, h1) || H < 1 || W < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2_predict: the embedding was not computed by segc_sam2_encode");
    if (emb->model_variant[0] &&
        (strcmp(emb->model_variant, m->variant) || strcmp(emb->model_sha256, m->source_sha256)))
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2_predict: the embedding was computed by model %s (checkpoint sha256 "
                         "%.12s...), not by this model %s (%.12s...)", emb->model_variant, emb->model_sha256,
                         m->variant[0] ? m->variant : "?", m->source_sha256[0] ? m->source_sha256 : "?");
    segc_status st;
    for (int b = 0; b < B; b++)   /* every set is checked before any work */
        if ((st = sam2_prompt_check(m, &prompts[b])) != SEGC_OK)
            return B > 1 ? segc_fail_context(st, "prompt set %d", b) : st;
    /* outputs first (they outlive the call), temporaries above the mark */
    for (int b = 0; b < B; b++)
        if ((st = alloc_outputs(m, arena, H, W, multimask, want_logits, &out[b])) != SEGC_OK) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor sparse[SAM2_BATCH_CHUNK], dense[SAM2_BATCH_CHUNK], all, tokens;
    float iou[SAM2_BATCH_CHUNK * SAM2_NUM_MASK_TOKENS], obj[SAM2_BATCH_CHUNK];
    const int64_t S4 = 4 * E, NT = SAM2_NUM_MASK_TOKENS;
    st = SEGC_OK;
    /* chunks of sets bound the [sets * 64*64, 256] activations of the two-way transformer */
    for (int b0 = 0; b0 < B && st == SEGC_OK; b0 += SAM2_BATCH_CHUNK) {
        const int n = B - b0 < SAM2_BATCH_CHUNK ? B - b0 : SAM2_BATCH_CHUNK;
        for (int i = 0; i < n && st == SEGC_OK; i++)
            st = sam2_prompt_forward(m, ctx, emb, &prompts[b0 + i], &sparse[i], &dense[i]);
        if (st == SEGC_OK) st = sam2_decoder_forward_batch(m, ctx, emb, n, sparse, dense, &all, iou, obj, &tokens);
        for (int i = 0; i < n && st == SEGC_OK; i++)
            st = finish_set(m, arena, (const float *)all.data + i * NT * S4 * S4, iou + i * NT, obj[i],
                            (const float *)tokens.data + i * NT * D, multimask, want_logits, &out[b0 + i]);
        segc_arena_release(arena, mark);
    }
    return st;
}

segc_status segc_sam2_predict(const void *model, segc_ctx *ctx, const segc_sam2_embedding *emb,
                              const segc_sam2_prompts *prompts, int multimask, int want_logits,
                              segc_sam2_outputs *out) {
    if (out) memset(out, 0, sizeof *out);
    return segc_sam2_predict_batch(model, ctx, emb, 1, prompts, multimask, want_logits, out);
}
