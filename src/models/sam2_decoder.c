/* sam2_decoder.c - SAM 2's MaskDecoder.predict_masks (sam2/modeling/sam/mask_decoder.py) with its
   TwoWayTransformer (sam/transformer.py): output tokens + prompt tokens attend to the image and back,
   then the upscaled image embedding (transposed convs + high-res features) is dotted with the
   hypernetwork outputs of the mask tokens; IoU and object-score heads on their tokens.
   Many prompt sets run together (SAM2ImagePredictor._predict with batched prompts): their tokens are
   stacked into one [T_all, D] buffer; when no set has a mask input their image keys are equal, so the
   token side of block 0 (self-attention, token->image attention with the image projected once, MLP) runs
   for all sets as one GEMM per linear. The rest updates each set's own copy of the image tokens, set by
   set, so one set's [P, D] buffers stay in cache.
   Dims: B prompt sets; T tokens of a set (object score?, IoU, 4 mask tokens, N prompts), P = 64*64 image
   tokens, D = 256.
   Not here: choosing which masks to return (sam2.c), the prompt encoder (sam2_prompt.c). */
#include <string.h>

#include "core/status.h"
#include "models/sam2_internal.h"
#include "ops/conv.h"
#include "ops/gemm.h"
#include "ops/norm.h"

#define DEC_PREFIX "sam_mask_decoder"

static segc_status get_t(sam2_model *m, const char *name, int ndim, int64_t d0, int64_t d1, segc_tensor *out) {
    const int64_t s[2] = {d0, d1};
    return segc_params_get(&m->params, name, ndim, s, out);
}

static segc_status load_norm(sam2_model *m, const char *prefix, int64_t D, segc_tensor *w, segc_tensor *b) {
    char name[192];
    segc_status st = get_t(m, segc_params_name(name, sizeof name, "%s.weight", prefix), 1, D, 0, w);
    if (st != SEGC_OK) return st;
    return get_t(m, segc_params_name(name, sizeof name, "%s.bias", prefix), 1, D, 0, b);
}

segc_status sam2_decoder_load(sam2_model *m) {
    const sam2_config *c = &m->cfg;
    const int64_t D = c->d_model;
    char name[192], prefix[160];
    segc_status st;
    if (c->dec_depth < 1 || c->dec_depth > SAM2_MAX_DEC_DEPTH) return segc_fail(SEGC_ERR_FORMAT, "sam2: decoder depth %d", c->dec_depth);
    if ((st = get_t(m, DEC_PREFIX ".iou_token.weight", 2, 1, D, &m->iou_token)) ||
        (st = get_t(m, DEC_PREFIX ".mask_tokens.weight", 2, SAM2_NUM_MASK_TOKENS, D, &m->mask_tokens)))
        return st;
    if (c->pred_obj_scores && (st = get_t(m, DEC_PREFIX ".obj_score_token.weight", 2, 1, D, &m->obj_score_token)))
        return st;
    for (int l = 0; l < c->dec_depth; l++) {
        const char *attn[3] = {"self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token"};
        segc_proj_attention *dst[3] = {&m->layers[l].self_attn, &m->layers[l].cross_t2i, &m->layers[l].cross_i2t};
        for (int a = 0; a < 3; a++) {
            segc_params_name(prefix, sizeof prefix, DEC_PREFIX ".transformer.layers.%d.%s", l, attn[a]);
            if ((st = segc_proj_attention_load(&m->params, prefix, c->dec_heads, D, dst[a])) != SEGC_OK) return st;
        }
        for (int n = 0; n < 4; n++) {
            segc_params_name(prefix, sizeof prefix, DEC_PREFIX ".transformer.layers.%d.norm%d", l, n + 1);
            if ((st = load_norm(m, prefix, D, &m->layers[l].norm_w[n], &m->layers[l].norm_b[n])) != SEGC_OK) return st;
        }
        segc_params_name(prefix, sizeof prefix, DEC_PREFIX ".transformer.layers.%d.mlp", l);
        if ((st = segc_mlp_load(&m->params, prefix, 2, D, D, SEGC_ACT_RELU, 0, &m->layers[l].mlp)) != SEGC_OK)
            return st;
    }
    if ((st = segc_proj_attention_load(&m->params, DEC_PREFIX ".transformer.final_attn_token_to_image",
                                       c->dec_heads, D, &m->final_attn)) ||
        (st = load_norm(m, DEC_PREFIX ".transformer.norm_final_attn", D, &m->norm_final_w, &m->norm_final_b)))
        return st;
    const int64_t u0[4] = {D, D / 4, 2, 2}, u3[4] = {D / 4, D / 8, 2, 2};
    if ((st = segc_params_get(&m->params, DEC_PREFIX ".output_upscaling.0.weight", 4, u0, &m->up0_w)) ||
        (st = get_t(m, DEC_PREFIX ".output_upscaling.0.bias", 1, D / 4, 0, &m->up0_b)) ||
        (st = load_norm(m, DEC_PREFIX ".output_upscaling.1", D / 4, &m->up_ln_w, &m->up_ln_b)) ||
        (st = segc_params_get(&m->params, DEC_PREFIX ".output_upscaling.3.weight", 4, u3, &m->up3_w)) ||
        (st = get_t(m, DEC_PREFIX ".output_upscaling.3.bias", 1, D / 8, 0, &m->up3_b)))
        return st;
    for (int i = 0; i < SAM2_NUM_MASK_TOKENS; i++) {
        segc_params_name(prefix, sizeof prefix, DEC_PREFIX ".output_hypernetworks_mlps.%d", i);
        if ((st = segc_mlp_load(&m->params, prefix, 3, D, D / 8, SEGC_ACT_RELU, 0, &m->hyper[i])) != SEGC_OK)
            return st;
    }
    if ((st = segc_mlp_load(&m->params, DEC_PREFIX ".iou_prediction_head", c->iou_head_depth, D,
                            SAM2_NUM_MASK_TOKENS, SEGC_ACT_RELU, c->iou_sigmoid, &m->iou_head)) != SEGC_OK)
        return st;
    if (!c->pred_obj_scores) return SEGC_OK;
    if (c->pred_obj_scores_mlp)
        return segc_mlp_load(&m->params, DEC_PREFIX ".pred_obj_score_head", 3, D, 1, SEGC_ACT_RELU, 0, &m->obj_head);
    memset(&m->obj_head, 0, sizeof m->obj_head);   /* a single nn.Linear(D, 1) */
    m->obj_head.num_layers = 1;
    if ((st = get_t(m, DEC_PREFIX ".pred_obj_score_head.weight", 2, 1, D, &m->obj_head.w[0])) != SEGC_OK) return st;
    return get_t(m, segc_params_name(name, sizeof name, "%s", DEC_PREFIX ".pred_obj_score_head.bias"), 1, 1, 0,
                 &m->obj_head.b[0]);
}

/* out[i] = a[i] + b[i] over n floats. */
static void add_into(const float *a, const float *b, int64_t n, float *out) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* x[i] += y[i], then LayerNorm over rows of D. */
static segc_status residual_norm(float *x, const float *y, int64_t rows, int64_t D, const segc_tensor *w,
                                 const segc_tensor *b) {
    add_into(x, y, rows * D, x);
    return segc_layer_norm_rows(x, rows, D, w, b, SAM2_DEC_LN_EPS, x);
}

/* Token side of TwoWayAttentionBlock l for B sets at once: self-attention, token->image attention and
   the MLP, each with its residual (none in layer 0: skip_first_layer_pe) and norm. queries [T, D] (set b
   owns rows tok_off[b]..tok_off[b+1]), query_pe [T, D]; keys / kpe (= keys + key_pe) [Pk, D], read by
   every set when key_off is NULL; qpe, out_t: scratch [T, D]. */
static segc_status layer_tokens(const sam2_model *m, segc_arena *arena, int l, int B, const int64_t *tok_off,
                                float *queries, const float *query_pe, const segc_tensor *keys,
                                const segc_tensor *kpe, const int64_t *key_off, float *qpe, float *out_t) {
    const int64_t D = m->cfg.d_model, T = tok_off[B];
    const sam2_twoway_layer *L = &m->layers[l];
    segc_tensor Q = segc_tensor_f32(queries, 2, T, D, 0, 0), Qpe = segc_tensor_f32(qpe, 2, T, D, 0, 0),
                O = segc_tensor_f32(out_t, 2, T, D, 0, 0);
    segc_status st;
    if (l == 0) {   /* skip_first_layer_pe: no PE and no residual */
        if ((st = segc_proj_attention_forward_sets(arena, &L->self_attn, B, &Q, tok_off, &Q, &Q, tok_off, &O))) return st;
        memcpy(queries, out_t, (size_t)(T * D) * sizeof(float));
        if ((st = segc_layer_norm_rows(queries, T, D, &L->norm_w[0], &L->norm_b[0], SAM2_DEC_LN_EPS, queries))) return st;
    } else {
        add_into(queries, query_pe, T * D, qpe);
        if ((st = segc_proj_attention_forward_sets(arena, &L->self_attn, B, &Qpe, tok_off, &Qpe, &Q, tok_off, &O)) ||
            (st = residual_norm(queries, out_t, T, D, &L->norm_w[0], &L->norm_b[0])))
            return st;
    }
    /* tokens attend to the image */
    add_into(queries, query_pe, T * D, qpe);
    if ((st = segc_proj_attention_forward_sets(arena, &L->cross_t2i, B, &Qpe, tok_off, kpe, keys, key_off, &O)) ||
        (st = residual_norm(queries, out_t, T, D, &L->norm_w[1], &L->norm_b[1])) ||
        (st = segc_mlp_forward(arena, &L->mlp, &Q, &O)))
        return st;
    return residual_norm(queries, out_t, T, D, &L->norm_w[2], &L->norm_b[2]);
}

/* Image side of block l for one set: keys [P, D] attend to its T tokens (residual + norm), then
   kpe = keys + key_pe for the next attention. qpe [T, D], out_p [P, D] scratch. */
static segc_status layer_image(const sam2_model *m, segc_arena *arena, int l, int64_t T, const float *queries,
                               const float *query_pe, float *keys, float *kpe, const float *key_pe, int64_t P,
                               float *qpe, float *out_p) {
    const int64_t D = m->cfg.d_model, q_rows[2] = {0, P}, k_rows[2] = {0, T};
    const sam2_twoway_layer *L = &m->layers[l];
    segc_tensor Q = segc_tensor_f32((float *)queries, 2, T, D, 0, 0), Qpe = segc_tensor_f32(qpe, 2, T, D, 0, 0),
                Kpe = segc_tensor_f32(kpe, 2, P, D, 0, 0), O = segc_tensor_f32(out_p, 2, P, D, 0, 0);
    add_into(queries, query_pe, T * D, qpe);
    segc_status st = segc_proj_attention_forward_sets(arena, &L->cross_i2t, 1, &Kpe, q_rows, &Qpe, &Q, k_rows, &O);
    if (st == SEGC_OK) st = residual_norm(keys, out_p, P, D, &L->norm_w[3], &L->norm_b[3]);
    if (st == SEGC_OK) add_into(keys, key_pe, P * D, kpe);
    return st;
}

/* TwoWayTransformer of one set: queries [T, D] (starting as the tokens, which are also query_pe), keys
   [P, D] (image + dense prompt) with key_pe [P, D]; both updated in place. layer0_tokens_done: the token
   side of block 0 was already run (for many sets at once on shared keys). */
static segc_status two_way_set(const sam2_model *m, segc_arena *arena, int64_t T, float *queries, const float *query_pe,
                               float *keys, const float *key_pe, int64_t P, int layer0_tokens_done) {
    const int64_t D = m->cfg.d_model, rows[2] = {0, T};
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_status st;
    segc_tensor qpe, kpe, out_t, out_p;
    if ((st = segc_tensor_new_f32(arena, &qpe, 2, T, D, 0, 0)) || (st = segc_tensor_new_f32(arena, &kpe, 2, P, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &out_t, 2, T, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &out_p, 2, P, D, 0, 0)))
        goto done;
    segc_tensor K = segc_tensor_f32(keys, 2, P, D, 0, 0);
    add_into(keys, key_pe, P * D, kpe.data);
    for (int l = 0; l < m->cfg.dec_depth; l++) {
        if (!(l == 0 && layer0_tokens_done) &&
            (st = layer_tokens(m, arena, l, 1, rows, queries, query_pe, &K, &kpe, NULL, qpe.data, out_t.data)))
            goto done;
        if ((st = layer_image(m, arena, l, T, queries, query_pe, keys, kpe.data, key_pe, P, qpe.data, out_p.data)))
            goto done;
    }
    add_into(queries, query_pe, T * D, qpe.data);
    segc_tensor O = segc_tensor_f32(out_t.data, 2, T, D, 0, 0);
    if ((st = segc_proj_attention_forward_sets(arena, &m->final_attn, 1, &qpe, rows, &kpe, &K, NULL, &O)) != SEGC_OK)
        goto done;
    st = residual_norm(queries, out_t.data, T, D, &m->norm_final_w, &m->norm_final_b);
done:
    segc_arena_release(arena, mark);
    return st;
}

/* src [1, D, E, E] -> up [1, D/8, 4E, 4E]: act1(ln1(dc1(src) + feat_s1)), act2(dc2(.) + feat_s0). */
static segc_status upscale(const sam2_model *m, segc_arena *arena, const segc_tensor *src,
                           const segc_sam2_embedding *emb, segc_tensor *up) {
    const int64_t D = m->cfg.d_model, E = src->shape[2];
    segc_status st = segc_tensor_new_f32(arena, up, 4, 1, D / 8, 4 * E, 4 * E);
    if (st != SEGC_OK) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor h;
    if ((st = segc_tensor_new_f32(arena, &h, 4, 1, D / 4, 2 * E, 2 * E)) == SEGC_OK &&
        (st = segc_conv_transpose2d(arena, src, &m->up0_w, &m->up0_b, 2, 0, &h)) == SEGC_OK) {
        if (!segc_tensor_has_shape(&emb->high_res[1], 4, h.shape) ||
            segc_tensor_numel(&emb->high_res[0]) != segc_tensor_numel(up)) {
            st = segc_fail(SEGC_ERR_SHAPE, "sam2: high-res features do not match the decoder's upscaling");
        } else {
            add_into(h.data, emb->high_res[1].data, segc_tensor_numel(&h), h.data);
            st = segc_layer_norm2d(&h, &m->up_ln_w, &m->up_ln_b, SAM2_LN_EPS, &h);
        }
        if (st == SEGC_OK) {
            segc_act_apply(SEGC_ACT_GELU, h.data, (size_t)segc_tensor_numel(&h));
            st = segc_conv_transpose2d(arena, &h, &m->up3_w, &m->up3_b, 2, 0, up);
        }
        if (st == SEGC_OK) {
            add_into(up->data, emb->high_res[0].data, segc_tensor_numel(up), up->data);
            segc_act_apply(SEGC_ACT_GELU, up->data, (size_t)segc_tensor_numel(up));
        }
    }
    segc_arena_release(arena, mark);
    return st;
}

/* The heads on the transformer output of B sets: hypernetwork MLPs of the 4 mask tokens, the IoU head and
   the object-score head, each run once over the rows of all sets. hs [T_all, D] -> hyper [B, 4, D/8],
   iou [B, 4], obj_score [B], mask_tokens_out [B, 4, D]. */
static segc_status heads(const sam2_model *m, segc_arena *arena, int B, const int64_t *tok_off, const float *hs,
                         float *hyper, float *iou, float *obj_score, float *mask_tokens_out) {
    const int64_t D = m->cfg.d_model, D8 = D / 8;
    const int s = m->cfg.pred_obj_scores ? 1 : 0;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor in, out;
    segc_status st;
    if ((st = segc_tensor_new_f32(arena, &in, 2, B, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &out, 2, B, D > SAM2_NUM_MASK_TOKENS ? D : SAM2_NUM_MASK_TOKENS, 0, 0)))
        goto done;
    float *x = in.data, *y = out.data;
    for (int b = 0; b < B; b++)
        memcpy(mask_tokens_out + b * SAM2_NUM_MASK_TOKENS * D, hs + (tok_off[b] + s + 1) * D,
               (size_t)(SAM2_NUM_MASK_TOKENS * D) * sizeof(float));
    for (int i = 0; i < SAM2_NUM_MASK_TOKENS; i++) {   /* hyper[b, i] = mlps[i](mask token i of set b) */
        for (int b = 0; b < B; b++) memcpy(x + b * D, hs + (tok_off[b] + s + 1 + i) * D, (size_t)D * sizeof(float));
        segc_tensor o = segc_tensor_f32(y, 2, B, D8, 0, 0);
        if ((st = segc_mlp_forward(arena, &m->hyper[i], &in, &o)) != SEGC_OK) goto done;
        for (int b = 0; b < B; b++)
            memcpy(hyper + (b * SAM2_NUM_MASK_TOKENS + i) * D8, y + b * D8, (size_t)D8 * sizeof(float));
    }
    for (int b = 0; b < B; b++) memcpy(x + b * D, hs + (tok_off[b] + s) * D, (size_t)D * sizeof(float));
    segc_tensor io = segc_tensor_f32(iou, 2, B, SAM2_NUM_MASK_TOKENS, 0, 0);
    if ((st = segc_mlp_forward(arena, &m->iou_head, &in, &io)) != SEGC_OK) goto done;
    for (int b = 0; b < B; b++) obj_score[b] = 10.0f;   /* no object head: "assume the object is present" */
    if (s) {
        for (int b = 0; b < B; b++) memcpy(x + b * D, hs + tok_off[b] * D, (size_t)D * sizeof(float));
        segc_tensor oo = segc_tensor_f32(obj_score, 2, B, 1, 0, 0);
        st = segc_mlp_forward(arena, &m->obj_head, &in, &oo);
    }
done:
    segc_arena_release(arena, mark);
    return st;
}

/* keys [P, D] of one set: image embedding + dense prompt (dense NULL or no data: no_mask_embed), as tokens.
   scratch [D, P]. */
static void initial_keys(const sam2_model *m, const segc_sam2_embedding *emb, const segc_tensor *dense, float *scratch,
                         float *keys) {
    const int64_t D = m->cfg.d_model, P = emb->image_embed.shape[2] * emb->image_embed.shape[3];
    if (dense && dense->data) {
        add_into(emb->image_embed.data, dense->data, D * P, scratch);
        segc_chw_to_tokens(scratch, D, P, keys);
        return;
    }
    segc_chw_to_tokens(emb->image_embed.data, D, P, keys);
    const float *nm = m->no_mask_embed.data;
    for (int64_t p = 0; p < P; p++)
        for (int64_t ch = 0; ch < D; ch++) keys[p * D + ch] += nm[ch];
}

segc_status sam2_decoder_forward_batch(const sam2_model *m, segc_ctx *ctx, const segc_sam2_embedding *emb, int B,
                                       const segc_tensor *sparse, const segc_tensor *dense, segc_tensor *all_masks,
                                       float *iou, float *obj_score, segc_tensor *mask_tokens_out) {
    segc_arena *arena = ctx->arena;
    const sam2_config *c = &m->cfg;
    const int64_t D = c->d_model, E = emb->image_embed.shape[2], P = E * E, S4 = 4 * E, D8 = D / 8;
    const int s = c->pred_obj_scores ? 1 : 0, NT = SAM2_NUM_MASK_TOKENS;
    segc_status st;
    if (B < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 decoder: %d prompt sets", B);
    if (emb->image_embed.shape[1] != D || P != m->dense_pe.shape[0])
        return segc_fail(SEGC_ERR_SHAPE, "sam2: image embedding does not fit the decoder");
    if ((st = segc_tensor_new_f32(arena, all_masks, 4, B, NT, S4, S4)) ||
        (st = segc_tensor_new_f32(arena, mask_tokens_out, 3, B, NT, D, 0)))
        return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    int64_t *tok_off = segc_arena_alloc_array(arena, (size_t)B + 1, sizeof(int64_t));
    if (!tok_off) return segc_fail(SEGC_ERR_NOMEM, "sam2 decoder: out of memory");
    int shared = B > 1;   /* sets without mask input have equal keys */
    tok_off[0] = 0;
    for (int b = 0; b < B; b++) {
        tok_off[b + 1] = tok_off[b] + s + 1 + NT + sparse[b].shape[0];
        shared &= !(dense && dense[b].data);
    }
    const int64_t T = tok_off[B];
    segc_tensor tokens, queries, keys, keys0, scratch, up, hyper;
    if ((st = segc_tensor_new_f32(arena, &tokens, 2, T, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &queries, 2, T, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &keys, 2, P, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &keys0, 2, shared ? P : 1, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &scratch, 2, P > T ? P : T, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &hyper, 3, B, NT, D8, 0)))
        goto done;
    for (int b = 0; b < B; b++) {   /* tokens of set b = [obj_score_token, iou_token, mask_tokens, sparse] */
        float *tk = (float *)tokens.data + tok_off[b] * D;
        const int64_t N = sparse[b].shape[0];
        if (s) memcpy(tk, m->obj_score_token.data, (size_t)D * sizeof(float));
        memcpy(tk + s * D, m->iou_token.data, (size_t)D * sizeof(float));
        memcpy(tk + (s + 1) * D, m->mask_tokens.data, (size_t)(NT * D) * sizeof(float));
        if (N > 0) memcpy(tk + (s + 1 + NT) * D, sparse[b].data, (size_t)(N * D) * sizeof(float));
    }
    memcpy(queries.data, tokens.data, (size_t)(T * D) * sizeof(float));
    if (shared) {   /* block 0's token side for all sets at once: the image is projected once */
        segc_arena_mark m2 = segc_arena_get_mark(arena);
        segc_tensor kpe0, qpe, out_t;
        initial_keys(m, emb, NULL, scratch.data, keys0.data);
        if ((st = segc_tensor_new_f32(arena, &kpe0, 2, P, D, 0, 0)) == SEGC_OK &&
            (st = segc_tensor_new_f32(arena, &qpe, 2, T, D, 0, 0)) == SEGC_OK &&
            (st = segc_tensor_new_f32(arena, &out_t, 2, T, D, 0, 0)) == SEGC_OK) {
            add_into(keys0.data, m->dense_pe.data, P * D, kpe0.data);
            st = layer_tokens(m, arena, 0, B, tok_off, queries.data, tokens.data, &keys0, &kpe0, NULL, qpe.data,
                              out_t.data);
        }
        segc_arena_release(arena, m2);
        if (st != SEGC_OK) goto done;
    }
    /* then each set on its own copy of the image tokens (keeps one set's keys in cache) */
    for (int b = 0; b < B && st == SEGC_OK; b++) {
        float *q = (float *)queries.data + tok_off[b] * D;
        const int64_t Tb = tok_off[b + 1] - tok_off[b], rows[2] = {0, Tb};
        if (shared) memcpy(keys.data, keys0.data, (size_t)(P * D) * sizeof(float));
        else initial_keys(m, emb, dense ? &dense[b] : NULL, scratch.data, keys.data);
        if ((st = two_way_set(m, arena, Tb, q, (float *)tokens.data + tok_off[b] * D, keys.data, m->dense_pe.data, P,
                              shared)))
            break;
        if (B == 1) {
            segc_tensor hs_t = segc_tensor_f32(q, 3, 1, Tb, D, 0), keys_t = segc_tensor_f32(keys.data, 3, 1, P, D, 0);
            if ((st = segc_tap(ctx, "sam_mask_decoder.transformer.queries", &hs_t)) ||
                (st = segc_tap(ctx, "sam_mask_decoder.transformer.keys", &keys_t)))
                break;
        }
        if ((st = heads(m, arena, 1, rows, q, (float *)hyper.data + b * NT * D8, iou + b * NT, obj_score + b,
                        (float *)mask_tokens_out->data + b * NT * D)))
            break;
        segc_arena_mark m2 = segc_arena_get_mark(arena);
        segc_tokens_to_chw(keys.data, P, D, NULL, scratch.data);
        segc_tensor src_map = segc_tensor_f32(scratch.data, 4, 1, D, E, E);
        if ((st = upscale(m, arena, &src_map, emb, &up)) == SEGC_OK && B == 1)
            st = segc_tap(ctx, "sam_mask_decoder.upscaled", &up);
        /* masks[b][4, S4*S4] = hyper_in[4, D/8] @ up[D/8, S4*S4] */
        if (st == SEGC_OK)
            segc_sgemm(0, 0, NT, (int)(S4 * S4), (int)D8, 1.0f, (float *)hyper.data + b * NT * D8, (int)D8, up.data,
                       (int)(S4 * S4), 0.0f, (float *)all_masks->data + b * NT * S4 * S4, (int)(S4 * S4));
        segc_arena_release(arena, m2);
    }
done:
    segc_arena_release(arena, mark);
    return st;
}

segc_status sam2_decoder_forward(const sam2_model *m, segc_ctx *ctx, const segc_sam2_embedding *emb,
                                 const segc_tensor *sparse, const segc_tensor *dense, segc_tensor *all_masks,
                                 float *iou, float *obj_score, segc_tensor *mask_tokens_out) {
    segc_status st = sam2_decoder_forward_batch(m, ctx, emb, 1, sparse, dense, all_masks, iou, obj_score, mask_tokens_out);
    if (st != SEGC_OK) return st;
    const int64_t am[3] = {all_masks->shape[1], all_masks->shape[2], all_masks->shape[3]},
                  mt[2] = {mask_tokens_out->shape[1], mask_tokens_out->shape[2]};
    if ((st = segc_tensor_reshape(all_masks, 3, am, all_masks)) != SEGC_OK) return st;
    return segc_tensor_reshape(mask_tokens_out, 2, mt, mask_tokens_out);
}
