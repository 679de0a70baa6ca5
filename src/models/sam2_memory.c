/* sam2_memory.c - the two memory modules of SAM 2's video path and their positional encodings:
   MemoryEncoder (sam2/modeling/memory_encoder.py: MaskDownSampler, pix_feat_proj, Fuser of CXBlocks,
   out_proj, PositionEmbeddingSine) plus SAM2Base._encode_new_memory's no-object embedding and the bf16
   storage, and MemoryAttention (sam2/modeling/memory_attention.py) with RoPEAttention
   (sam/transformer.py) over the memory frames and object-pointer tokens assembled as in
   SAM2Base._prepare_memory_conditioned_features. Also the obj_ptr_proj MLP.
   Dims: P = 64*64 tokens, C = 256 (hidden), Md = mem_dim (64), Lk memory tokens. */
#include <math.h>
#include <string.h>

#include "core/half.h"
#include "core/status.h"
#include "models/sam2_video_internal.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/gemm.h"
#include "ops/norm.h"
#include "ops/rope.h"

#define ME "memory_encoder."
#define MA "memory_attention."
#define CX_LN_EPS 1e-6f   /* LayerNorm2d default eps in CXBlock / MaskDownSampler */

static segc_status get1(segc_params *p, const char *name, int64_t d0, segc_tensor *out) {
    return segc_params_get(p, name, 1, &d0, out);
}

static segc_status get2(segc_params *p, const char *name, int64_t d0, int64_t d1, segc_tensor *out) {
    const int64_t s[2] = {d0, d1};
    return segc_params_get(p, name, 2, s, out);
}

/* `prefix`.weight [K, C, k, k] and `prefix`.bias [K]. */
static segc_status get_conv(segc_params *p, const char *prefix, int64_t K, int64_t C, int64_t k, segc_tensor *w,
                            segc_tensor *b) {
    char name[192];
    const int64_t s[4] = {K, C, k, k};
    segc_status st = segc_params_get(p, segc_params_name(name, sizeof name, "%s.weight", prefix), 4, s, w);
    if (st != SEGC_OK) return st;
    return get1(p, segc_params_name(name, sizeof name, "%s.bias", prefix), K, b);
}

/* A 1x1 conv [K, C, 1, 1] as a linear weight [K, C]. */
static segc_status get_conv1x1(segc_params *p, const char *prefix, int64_t K, int64_t C, segc_tensor *w,
                               segc_tensor *b) {
    segc_status st = get_conv(p, prefix, K, C, 1, w, b);
    const int64_t s[2] = {K, C};
    if (st == SEGC_OK) st = segc_tensor_reshape(w, 2, s, w);
    return st;
}

static segc_status get_norm(segc_params *p, const char *prefix, int64_t C, segc_tensor *w, segc_tensor *b) {
    char name[192];
    segc_status st = get1(p, segc_params_name(name, sizeof name, "%s.weight", prefix), C, w);
    if (st != SEGC_OK) return st;
    return get1(p, segc_params_name(name, sizeof name, "%s.bias", prefix), C, b);
}

static segc_status load_encoder(sam2v_model *m) {
    segc_params *p = &m->params;
    sam2v_config *c = &m->cfg;
    const int64_t D = m->sam->cfg.d_model;
    char prefix[160];
    segc_status st;
    /* MaskDownSampler: encoder.{3i} conv, {3i+1} LayerNorm2d, {3i+2} GELU, then the final 1x1 conv */
    int64_t cin = 1;
    c->num_ds = 0;
    for (int i = 0; i < SAM2V_MAX_DS; i++) {
        char name[160];
        segc_params_name(name, sizeof name, ME "mask_downsampler.encoder.%d.weight", 3 * i + 1);
        if (!segc_params_has(p, name)) break;
        segc_params_name(prefix, sizeof prefix, ME "mask_downsampler.encoder.%d", 3 * i);
        const int64_t cout = cin * 4;
        if ((st = get_conv(p, prefix, cout, cin, 3, &m->ds_w[i], &m->ds_b[i])) != SEGC_OK) return st;
        segc_params_name(prefix, sizeof prefix, ME "mask_downsampler.encoder.%d", 3 * i + 1);
        if ((st = get_norm(p, prefix, cout, &m->ds_ln_w[i], &m->ds_ln_b[i])) != SEGC_OK) return st;
        cin = cout;
        c->num_ds++;
    }
    if (c->num_ds < 1)
        return segc_fail(SEGC_ERR_FORMAT, "sam2 video: mask downsampler has %d stages (expected 4)", c->num_ds);
    segc_params_name(prefix, sizeof prefix, ME "mask_downsampler.encoder.%d", 3 * c->num_ds);
    if ((st = get_conv(p, prefix, D, cin, 1, &m->ds_w[c->num_ds], &m->ds_b[c->num_ds])) ||
        (st = get_conv1x1(p, ME "pix_feat_proj", D, D, &m->pix_proj_w, &m->pix_proj_b)))
        return st;
    c->num_fuser = 0;
    for (int i = 0; i < SAM2V_MAX_FUSER; i++) {
        char name[160];
        if (!segc_params_has(p, segc_params_name(name, sizeof name, ME "fuser.layers.%d.gamma", i))) break;
        sam2v_cxblock *b = &m->fuser[i];
        segc_params_name(prefix, sizeof prefix, ME "fuser.layers.%d", i);
        const int64_t dw[4] = {D, 1, 7, 7};
        if ((st = segc_params_get(p, segc_params_name(name, sizeof name, "%s.dwconv.weight", prefix), 4, dw, &b->dw_w)) ||
            (st = get1(p, segc_params_name(name, sizeof name, "%s.dwconv.bias", prefix), D, &b->dw_b)) ||
            (st = get_norm(p, segc_params_name(name, sizeof name, "%s.norm", prefix), D, &b->norm_w, &b->norm_b)) ||
            (st = get2(p, segc_params_name(name, sizeof name, "%s.pwconv1.weight", prefix), 4 * D, D, &b->pw1_w)) ||
            (st = get1(p, segc_params_name(name, sizeof name, "%s.pwconv1.bias", prefix), 4 * D, &b->pw1_b)) ||
            (st = get2(p, segc_params_name(name, sizeof name, "%s.pwconv2.weight", prefix), D, 4 * D, &b->pw2_w)) ||
            (st = get1(p, segc_params_name(name, sizeof name, "%s.pwconv2.bias", prefix), D, &b->pw2_b)))
            return st;
        if ((st = get1(p, segc_params_name(name, sizeof name, "%s.gamma", prefix), D, &b->gamma))) return st;
        c->num_fuser++;
    }
    if (c->num_fuser < 1) return segc_fail(SEGC_ERR_FORMAT, "sam2 video: memory encoder has no fuser layers");
    segc_tensor w;
    if ((st = segc_params_get(p, ME "out_proj.weight", 4, NULL, &w)) != SEGC_OK) return st;
    c->mem_dim = (int)w.shape[0];
    if (c->mem_dim < 4 || D % c->mem_dim != 0)
        return segc_fail(SEGC_ERR_FORMAT, "sam2 video: memory dim %d does not divide %lld", c->mem_dim, (long long)D);
    return get_conv1x1(p, ME "out_proj", c->mem_dim, D, &m->out_proj_w, &m->out_proj_b);
}

static segc_status load_attention(sam2v_model *m) {
    segc_params *p = &m->params;
    sam2v_config *c = &m->cfg;
    const int64_t D = m->sam->cfg.d_model;
    char prefix[160], name[192];
    segc_status st;
    c->num_mem_layers = 0;
    for (int l = 0; l < SAM2V_MAX_MEM_LAYERS; l++) {
        if (!segc_params_has(p, segc_params_name(name, sizeof name, MA "layers.%d.norm1.weight", l))) break;
        sam2v_mem_layer *L = &m->layers[l];
        segc_params_name(prefix, sizeof prefix, MA "layers.%d", l);
        if ((st = segc_proj_attention_load(p, segc_params_name(name, sizeof name, "%s.self_attn", prefix),
                                           c->mem_heads, D, &L->self_attn)) ||
            (st = segc_proj_attention_load(p, segc_params_name(name, sizeof name, "%s.cross_attn_image", prefix),
                                           c->mem_heads, D, &L->cross_attn)))
            return st;
        if (L->cross_attn.kv_in_dim != c->mem_dim || L->self_attn.internal_dim != L->cross_attn.internal_dim)
            return segc_fail(SEGC_ERR_FORMAT, "sam2 video: %s.cross_attn_image takes %lld-d memory, expected %d",
                             prefix, (long long)L->cross_attn.kv_in_dim, c->mem_dim);
        segc_tensor w1;
        if ((st = segc_params_get(p, segc_params_name(name, sizeof name, "%s.linear1.weight", prefix), 2, NULL, &w1)))
            return st;
        const int64_t F = w1.shape[0];
        if ((st = get2(p, name, F, D, &L->lin1_w)) ||
            (st = get1(p, segc_params_name(name, sizeof name, "%s.linear1.bias", prefix), F, &L->lin1_b)) ||
            (st = get2(p, segc_params_name(name, sizeof name, "%s.linear2.weight", prefix), D, F, &L->lin2_w)) ||
            (st = get1(p, segc_params_name(name, sizeof name, "%s.linear2.bias", prefix), D, &L->lin2_b)))
            return st;
        for (int n = 0; n < 3; n++) {
            segc_params_name(name, sizeof name, "%s.norm%d", prefix, n + 1);
            if ((st = get_norm(p, name, D, &L->norm_w[n], &L->norm_b[n])) != SEGC_OK) return st;
        }
        c->num_mem_layers++;
    }
    if (c->num_mem_layers < 1) return segc_fail(SEGC_ERR_FORMAT, "sam2 video: no memory_attention layers");
    if ((st = get_norm(p, MA "norm", D, &m->norm_w, &m->norm_b)) != SEGC_OK) return st;
    const int64_t head_dim = m->layers[0].self_attn.internal_dim / c->mem_heads;
    if (head_dim % 4 != 0) return segc_fail(SEGC_ERR_FORMAT, "sam2 video: RoPE head dim %lld", (long long)head_dim);
    return segc_rope_axial_cis_new(&p->store, (int)head_dim, m->feat_w, m->feat_h, SEGC_ROPE_THETA_DEFAULT,
                                   &m->rope_cis);
}

segc_status sam2v_memory_load(sam2v_model *m) {
    segc_params *p = &m->params;
    sam2v_config *c = &m->cfg;
    const int64_t D = m->sam->cfg.d_model;
    segc_status st;
    m->feat_h = m->feat_w = m->sam->cfg.image_size / m->sam->cfg.backbone_stride;
    if ((st = load_encoder(m)) != SEGC_OK) return st;
    segc_tensor t;
    if ((st = segc_params_get(p, "maskmem_tpos_enc", 4, NULL, &t)) != SEGC_OK) return st;
    c->num_maskmem = (int)t.shape[0];
    if (c->num_maskmem < 1 || c->num_maskmem > SAM2V_MAX_MASKMEM || t.shape[3] != c->mem_dim)
        return segc_fail(SEGC_ERR_FORMAT, "sam2 video: maskmem_tpos_enc has a bad shape");
    const int64_t ts[2] = {c->num_maskmem, c->mem_dim};
    if ((st = segc_tensor_reshape(&t, 2, ts, &m->maskmem_tpos_enc)) != SEGC_OK) return st;
    if ((st = get2(p, "no_obj_ptr", 1, D, &m->no_obj_ptr)) ||
        (st = segc_mlp_load(p, "obj_ptr_proj", 3, D, D, SEGC_ACT_RELU, 0, &m->obj_ptr_proj)))
        return st;
    const int64_t mds[4] = {1, 1, 4, 4};
    if ((st = segc_params_get(p, "mask_downsample.weight", 4, mds, &m->mask_ds_w)) ||
        (st = get1(p, "mask_downsample.bias", 1, &m->mask_ds_b)))
        return st;
    c->no_obj_embed_spatial = segc_params_has(p, "no_obj_embed_spatial");
    if (c->no_obj_embed_spatial && (st = get2(p, "no_obj_embed_spatial", 1, c->mem_dim, &m->no_obj_embed_spatial)))
        return st;
    c->proj_tpos_enc_in_obj_ptrs = segc_params_has(p, "obj_ptr_tpos_proj.weight");
    if (c->proj_tpos_enc_in_obj_ptrs && ((st = get2(p, "obj_ptr_tpos_proj.weight", c->mem_dim, D, &m->tpos_proj_w)) ||
                                         (st = get1(p, "obj_ptr_tpos_proj.bias", c->mem_dim, &m->tpos_proj_b))))
        return st;
    /* 2.0 configs: no temporal pointer encoding; 2.1: projected, signed (sam2.1_hiera_*.yaml) */
    c->add_tpos_enc_to_obj_ptrs = c->use_signed_tpos = c->proj_tpos_enc_in_obj_ptrs;
    if ((st = load_attention(m)) != SEGC_OK) return st;
    const int64_t P = (int64_t)m->feat_h * m->feat_w;
    float *vp = segc_arena_alloc_array(&p->store, (size_t)(P * D), sizeof(float));
    float *mp = segc_arena_alloc_array(&p->store, (size_t)(P * c->mem_dim), sizeof(float));
    if (!vp || !mp) return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    sam2v_sine_pe_tokens(m->feat_h, m->feat_w, D, vp);
    sam2v_sine_pe_tokens(m->feat_h, m->feat_w, c->mem_dim, mp);
    m->vision_pos = segc_tensor_f32(vp, 2, P, D, 0, 0);
    m->maskmem_pos = segc_tensor_f32(mp, 2, P, c->mem_dim, 0, 0);
    return SEGC_OK;
}

/* PositionEmbeddingSine._pe in float32: channels [0, C/2) encode y, [C/2, C) encode x; within each half
   channel j is sin (j even) or cos (j odd) of pos / 10000^(2 floor(j/2) / (C/2)). */
void sam2v_sine_pe_tokens(int64_t H, int64_t W, int64_t C, float *out) {
    const int64_t F = C / 2;
    const float scale = (float)(2.0 * M_PI), eps = 1e-6f;
    float dim_t[512];
    for (int64_t j = 0; j < F && j < 512; j++)
        dim_t[j] = powf(10000.0f, 2.0f * floorf((float)j / 2.0f) / (float)F);
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            const float ye = (float)(y + 1) / ((float)H + eps) * scale, xe = (float)(x + 1) / ((float)W + eps) * scale;
            float *o = out + (y * W + x) * C;
            for (int64_t j = 0; j < F; j++) {
                o[j] = (j & 1) ? cosf(ye / dim_t[j]) : sinf(ye / dim_t[j]);
                o[F + j] = (j & 1) ? cosf(xe / dim_t[j]) : sinf(xe / dim_t[j]);
            }
        }
}

void sam2v_sine_pe_1d(float pos, int64_t dim, float *out) {
    const int64_t F = dim / 2;
    for (int64_t j = 0; j < F; j++) {
        const float t = powf(10000.0f, 2.0f * floorf((float)j / 2.0f) / (float)F);
        out[j] = sinf(pos / t);
        out[F + j] = cosf(pos / t);
    }
}

/* CXBlock on x [1, C, H, W] in place: x += gamma * pw2(gelu(pw1(LN(dwconv(x))))). */
static segc_status cxblock(const sam2v_cxblock *b, segc_arena *arena, segc_tensor *x) {
    const int64_t C = x->shape[1], P = x->shape[2] * x->shape[3];
    segc_arena_mark mark = segc_arena_get_mark(arena);
    const segc_conv2d_params dw = segc_conv2d_params_make(1, 3, 1, (int)C);
    segc_tensor h, tok, mid, y;
    segc_status st;
    if ((st = segc_conv2d_new(arena, x, &b->dw_w, &b->dw_b, &dw, &h)) ||
        (st = segc_layer_norm2d(&h, &b->norm_w, &b->norm_b, CX_LN_EPS, &h)) ||
        (st = segc_tensor_new_f32(arena, &tok, 2, P, C, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &mid, 2, P, b->pw1_w.shape[0], 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &y, 2, P, C, 0, 0)))
        goto done;
    segc_chw_to_tokens(h.data, C, P, tok.data);
    if ((st = segc_linear_act(&tok, &b->pw1_w, &b->pw1_b, SEGC_ACT_GELU, &mid)) ||
        (st = segc_linear(&mid, &b->pw2_w, &b->pw2_b, &y)))
        goto done;
    const float *g = b->gamma.data, *yd = y.data;
    float *xd = x->data;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < P; i++) xd[c * P + i] += g[c] * yd[i * C + c];
done:
    segc_arena_release(arena, mark);
    return st;
}

segc_status sam2v_memory_encode(const sam2v_model *m, segc_ctx *ctx, const float *pix_feat,
                                const segc_tensor *mask_for_mem, int obj_appearing, uint16_t *out) {
    segc_arena *arena = ctx->arena;
    const sam2v_config *c = &m->cfg;
    const int64_t D = m->sam->cfg.d_model, P = (int64_t)m->feat_h * m->feat_w, Md = c->mem_dim;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_status st = SEGC_OK;
    segc_tensor x = *mask_for_mem, h;
    const segc_conv2d_params down = segc_conv2d_params_make(2, 1, 1, 1), one = segc_conv2d_params_make(1, 0, 1, 1);
    for (int i = 0; i < c->num_ds && st == SEGC_OK; i++) {
        if ((st = segc_conv2d_new(arena, &x, &m->ds_w[i], &m->ds_b[i], &down, &h)) ||
            (st = segc_layer_norm2d(&h, &m->ds_ln_w[i], &m->ds_ln_b[i], CX_LN_EPS, &h)))
            break;
        segc_act_apply(SEGC_ACT_GELU, h.data, (size_t)segc_tensor_numel(&h));
        x = h;
    }
    segc_tensor masks, tok, fused, pix_t, proj_t, outt;
    if (st != SEGC_OK) goto done;
    if ((st = segc_conv2d_new(arena, &x, &m->ds_w[c->num_ds], &m->ds_b[c->num_ds], &one, &masks))) goto done;
    if (masks.shape[2] != m->feat_h || masks.shape[3] != m->feat_w) {
        st = segc_fail(SEGC_ERR_SHAPE, "sam2 video: memory mask is %lldx%lld after downsampling, features %dx%d",
                       (long long)masks.shape[2], (long long)masks.shape[3], m->feat_h, m->feat_w);
        goto done;
    }
    /* x = pix_feat_proj(pix_feat) + masks, as tokens then back to NCHW */
    if ((st = segc_tensor_new_f32(arena, &pix_t, 2, P, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &proj_t, 2, P, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &fused, 4, 1, D, m->feat_h, m->feat_w)) ||
        (st = segc_tensor_new_f32(arena, &tok, 2, P, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &outt, 2, P, Md, 0, 0)))
        goto done;
    segc_chw_to_tokens(pix_feat, D, P, pix_t.data);
    if ((st = segc_linear(&pix_t, &m->pix_proj_w, &m->pix_proj_b, &proj_t))) goto done;
    segc_tokens_to_chw(proj_t.data, P, D, NULL, fused.data);
    {
        float *f = fused.data;
        const float *mk = masks.data;
        for (int64_t i = 0; i < D * P; i++) f[i] += mk[i];
    }
    for (int i = 0; i < c->num_fuser && st == SEGC_OK; i++) st = cxblock(&m->fuser[i], arena, &fused);
    if (st != SEGC_OK) goto done;
    segc_chw_to_tokens(fused.data, D, P, tok.data);
    if ((st = segc_linear(&tok, &m->out_proj_w, &m->out_proj_b, &outt))) goto done;
    /* [P, Md] -> [Md, P], + no-object embedding, rounded to bfloat16 */
    {
        const float *o = outt.data;
        const float *noe = c->no_obj_embed_spatial && !obj_appearing ? m->no_obj_embed_spatial.data : NULL;
        for (int64_t ch = 0; ch < Md; ch++)
            for (int64_t i = 0; i < P; i++) {
                float v = o[i * Md + ch];
                if (noe) v += noe[ch];
                out[ch * P + i] = segc_f32_to_bf16(v);
            }
    }
done:
    segc_arena_release(arena, mark);
    return st;
}

/* RoPEAttention: out[Lq, C] = out_proj(SDPA(rope(q_proj(q)), rope(k_proj(k))[:Lk - n_excl], v_proj(v))). */
static segc_status rope_attention(const sam2v_model *m, segc_arena *arena, const segc_proj_attention *a,
                                  const segc_tensor *q_in, const segc_tensor *k_in, const segc_tensor *v_in,
                                  int repeat_k, int64_t n_excl, segc_tensor *out) {
    const int64_t Lq = q_in->shape[0], Lk = k_in->shape[0], I = a->internal_dim;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor q, k, v, o, qh, kh, vh, oh;
    segc_status st;
    if ((st = segc_tensor_new_f32(arena, &q, 3, 1, Lq, I, 0)) || (st = segc_tensor_new_f32(arena, &k, 3, 1, Lk, I, 0)) ||
        (st = segc_tensor_new_f32(arena, &v, 3, 1, Lk, I, 0)) || (st = segc_tensor_new_f32(arena, &o, 3, 1, Lq, I, 0)))
        goto done;
    segc_tensor q2 = segc_tensor_f32(q.data, 2, Lq, I, 0, 0), k2 = segc_tensor_f32(k.data, 2, Lk, I, 0, 0);
    segc_tensor v2 = segc_tensor_f32(v.data, 2, Lk, I, 0, 0), o2 = segc_tensor_f32(o.data, 2, Lq, I, 0, 0);
    if ((st = segc_linear(q_in, &a->q_w, &a->q_b, &q2)) || (st = segc_linear(k_in, &a->k_w, &a->k_b, &k2)) ||
        (st = segc_linear(v_in, &a->v_w, &a->v_b, &v2)))
        goto done;
    if ((st = segc_attention_heads_view(&q, a->num_heads, &qh)) ||
        (st = segc_attention_heads_view(&k, a->num_heads, &kh)) ||
        (st = segc_attention_heads_view(&v, a->num_heads, &vh)) ||
        (st = segc_attention_heads_view(&o, a->num_heads, &oh)) ||
        (st = segc_rope_apply_qk(&qh, &kh, &m->rope_cis, repeat_k, n_excl)) ||
        (st = segc_attention(arena, &qh, &kh, &vh, NULL, 0.0f, &oh)))
        goto done;
    st = segc_linear(&o2, &a->out_w, &a->out_b, out);
done:
    segc_arena_release(arena, mark);
    return st;
}

/* x[P, C] += y[P, C] */
static void add_rows(float *x, const float *y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

/* memory [Lk, Md] and memory + pos [Lk, Md] from the frames and pointers. */
static segc_status build_memory(const sam2v_model *m, segc_arena *arena, const sam2v_memory_frame *frames,
                                int n_frames, const float *ptrs, const float *ptr_pos, int n_ptr, float *mem,
                                float *memk) {
    const sam2v_config *c = &m->cfg;
    const int64_t P = (int64_t)m->feat_h * m->feat_w, Md = c->mem_dim, D = m->sam->cfg.d_model, split = D / Md;
    for (int f = 0; f < n_frames; f++) {
        const uint16_t *src = frames[f].feat;
        const float *tpos = (const float *)m->maskmem_tpos_enc.data + (int64_t)frames[f].tpos_index * Md;
        const float *pos = m->maskmem_pos.data;
        float *dm = mem + (int64_t)f * P * Md, *dk = memk + (int64_t)f * P * Md;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < P; i++)
            for (int64_t ch = 0; ch < Md; ch++) {
                const float v = segc_bf16_to_f32(src[ch * P + i]);
                dm[i * Md + ch] = v;
                dk[i * Md + ch] = v + (pos[i * Md + ch] + tpos[ch]);
            }
    }
    float *pm = mem + (int64_t)n_frames * P * Md, *pk = memk + (int64_t)n_frames * P * Md;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    float *pe = segc_arena_alloc_array(arena, (size_t)D, sizeof(float));
    float *tp = segc_arena_alloc_array(arena, (size_t)Md, sizeof(float));
    if (!pe || !tp) return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    segc_status st = SEGC_OK;
    for (int n = 0; n < n_ptr && st == SEGC_OK; n++) {
        memset(tp, 0, (size_t)Md * sizeof(float));
        if (c->add_tpos_enc_to_obj_ptrs) {
            if (c->proj_tpos_enc_in_obj_ptrs) {
                sam2v_sine_pe_1d(ptr_pos[n], D, pe);
                segc_tensor pin = segc_tensor_f32(pe, 2, 1, D, 0, 0), pout = segc_tensor_f32(tp, 2, 1, Md, 0, 0);
                st = segc_linear(&pin, &m->tpos_proj_w, &m->tpos_proj_b, &pout);
            } else {
                sam2v_sine_pe_1d(ptr_pos[n], Md, tp);
            }
        }
        for (int64_t s = 0; s < split; s++) {   /* pointer n -> tokens n*split + s holding its s-th slice */
            const int64_t row = (int64_t)n * split + s;
            for (int64_t ch = 0; ch < Md; ch++) {
                const float v = ptrs[(int64_t)n * D + s * Md + ch];
                pm[row * Md + ch] = v;
                pk[row * Md + ch] = v + tp[ch];
            }
        }
    }
    segc_arena_release(arena, mark);
    return st;
}

segc_status sam2v_memory_attend(const sam2v_model *m, segc_ctx *ctx, const float *curr,
                                const sam2v_memory_frame *frames, int n_frames, const float *ptrs,
                                const float *ptr_pos, int n_ptr, float *out) {
    segc_arena *arena = ctx->arena;
    const sam2v_config *c = &m->cfg;
    const int64_t P = (int64_t)m->feat_h * m->feat_w, D = m->sam->cfg.d_model, Md = c->mem_dim;
    const int64_t n_ptr_tok = (int64_t)n_ptr * (D / Md), Lk = (int64_t)n_frames * P + n_ptr_tok;
    if (Lk < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: memory attention without memory");
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor x, t2, y, mem, memk, hid;
    segc_status st;
    if ((st = segc_tensor_new_f32(arena, &x, 2, P, D, 0, 0)) || (st = segc_tensor_new_f32(arena, &t2, 2, P, D, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &y, 2, P, D, 0, 0)) || (st = segc_tensor_new_f32(arena, &mem, 2, Lk, Md, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &memk, 2, Lk, Md, 0, 0)) ||
        (st = build_memory(m, arena, frames, n_frames, ptrs, ptr_pos, n_ptr, mem.data, memk.data)))
        goto done;
    {   /* pos_enc_at_input: output = curr + 0.1 * curr_pos */
        float *xd = x.data;
        const float *vp = m->vision_pos.data;
        for (int64_t i = 0; i < P * D; i++) xd[i] = curr[i] + 0.1f * vp[i];
    }
    for (int l = 0; l < c->num_mem_layers; l++) {
        const sam2v_mem_layer *L = &m->layers[l];
        if ((st = segc_layer_norm_rows(x.data, P, D, &L->norm_w[0], &L->norm_b[0], SAM2V_MEM_LN_EPS, t2.data)) ||
            (st = rope_attention(m, arena, &L->self_attn, &t2, &t2, &t2, 0, 0, &y)))
            goto done;
        add_rows(x.data, y.data, P * D);
        if ((st = segc_layer_norm_rows(x.data, P, D, &L->norm_w[1], &L->norm_b[1], SAM2V_MEM_LN_EPS, t2.data)) ||
            (st = rope_attention(m, arena, &L->cross_attn, &t2, &memk, &mem, 1, n_ptr_tok, &y)))
            goto done;
        add_rows(x.data, y.data, P * D);
        segc_arena_mark m2 = segc_arena_get_mark(arena);
        if ((st = segc_layer_norm_rows(x.data, P, D, &L->norm_w[2], &L->norm_b[2], SAM2V_MEM_LN_EPS, t2.data)) ||
            (st = segc_tensor_new_f32(arena, &hid, 2, P, L->lin1_w.shape[0], 0, 0)) ||
            (st = segc_linear_act(&t2, &L->lin1_w, &L->lin1_b, SEGC_ACT_RELU, &hid)) ||
            (st = segc_linear(&hid, &L->lin2_w, &L->lin2_b, &y)))
            goto done;
        segc_arena_release(arena, m2);
        add_rows(x.data, y.data, P * D);
    }
    st = segc_layer_norm_rows(x.data, P, D, &m->norm_w, &m->norm_b, SAM2V_MEM_LN_EPS, out);
done:
    segc_arena_release(arena, mark);
    return st;
}

segc_status sam2v_obj_ptr(const sam2v_model *m, segc_arena *arena, const float *token, float *out) {
    const int64_t D = m->sam->cfg.d_model;
    segc_tensor in = segc_tensor_f32((float *)token, 2, 1, D, 0, 0), o = segc_tensor_f32(out, 2, 1, D, 0, 0);
    return segc_mlp_forward(arena, &m->obj_ptr_proj, &in, &o);
}
