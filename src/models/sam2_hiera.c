/* sam2_hiera.c - SAM 2's Hiera trunk (sam2/modeling/backbones/hieradet.py): patch embed 7x7/4, windowed
   absolute position embedding, MultiScaleBlocks with windowed or global attention and q-pooling at stage
   transitions. Works channels-last: a map of H x W tokens with C channels is [H*W, C] (batch 1).
   Not here: the FPN neck (sam2_neck.c). */
#include <math.h>
#include <string.h>

#include "core/status.h"
#include "models/sam2_internal.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/gemm.h"
#include "ops/resize.h"

#define HIERA_Q_STRIDE 2          /* q_stride=(2, 2): MaxPool2d(kernel 2, stride 2) */
#define HIERA_PATCH_KERNEL 7
#define HIERA_PATCH_STRIDE 4
#define HIERA_PATCH_PAD 3
#define HIERA_MLP_RATIO 4
#define HIERA_MLP_CHUNK 8192      /* tokens per MLP chunk (bounds the [chunk, 4C] hidden buffer) */
#define HIERA_ATTN_TOKENS 16384   /* tokens of windows per attention batch (bounds qkv and q, k, v) */

/* Builds the block list as Hiera.__init__ does (window size lags the stage by one block; dims and
   heads double at the first block of a stage; q-pooling at the first block of stages 2..q_pool+1). */
static segc_status plan_blocks(sam2_model *m) {
    const sam2_config *c = &m->cfg;
    int depth = 0;
    for (int s = 0; s < SAM2_NUM_STAGES; s++) {
        if (c->stages[s] < 1) return segc_fail(SEGC_ERR_FORMAT, "sam2: stage %d has %d blocks", s + 1, c->stages[s]);
        depth += c->stages[s];
        m->stage_end[s] = depth - 1;
    }
    if (depth > SAM2_MAX_BLOCKS) return segc_fail(SEGC_ERR_UNSUPPORTED, "sam2: %d Hiera blocks (max %d)", depth,
                                                  SAM2_MAX_BLOCKS);
    m->num_blocks = depth;
    int dim = c->embed_dim, heads = c->num_heads, cur_stage = 1;
    for (int i = 0; i < depth; i++) {
        sam2_hiera_block *b = &m->blocks[i];
        int dim_out = dim;
        int ws = c->window_spec[cur_stage - 1];
        for (int g = 0; g < c->num_global; g++)
            if (c->global_att_blocks[g] == i) ws = 0;
        int q_stride = 0;
        for (int s = 0; s < SAM2_NUM_STAGES - 1; s++) {
            if (i - 1 == m->stage_end[s]) {
                dim_out = dim * 2;
                heads *= 2;
                cur_stage++;
                if (s < c->q_pool) q_stride = HIERA_Q_STRIDE;
            }
        }
        b->dim = dim;
        b->dim_out = dim_out;
        b->num_heads = heads;
        b->window_size = ws;
        b->q_stride = q_stride;
        if (dim_out % heads != 0) return segc_fail(SEGC_ERR_FORMAT, "sam2: block %d dim %d not divisible by %d heads",
                                                   i, dim_out, heads);
        if (q_stride && ws % q_stride != 0)
            return segc_fail(SEGC_ERR_UNSUPPORTED, "sam2: block %d pools q in windows of odd size %d", i, ws);
        dim = dim_out;
    }
    return SEGC_OK;
}

/* Fetches `blocks.{i}.<what>` with an exact shape (ndim 1 or 2). */
static segc_status get_block(sam2_model *m, int i, const char *what, int ndim, int64_t d0, int64_t d1,
                             segc_tensor *out) {
    char name[256];
    const int64_t shape[2] = {d0, d1};
    segc_params_name(name, sizeof name, "image_encoder.trunk.blocks.%d.%s", i, what);
    return segc_params_get(&m->params, name, ndim, shape, out);
}

/* pos_embed_hwc[h, w, :] = bicubic(pos_embed)[:, h, w] + pos_embed_window[:, h % ws0, w % ws0]
   (Hiera._get_pos_embed), for the feature size of the configured image size. */
static segc_status build_pos_embed(sam2_model *m) {
    const sam2_config *c = &m->cfg;
    const int64_t C = c->embed_dim, H = c->image_size / HIERA_PATCH_STRIDE, W = H, ws0 = c->window_spec[0];
    segc_tensor bkg, win;
    const int64_t bs[4] = {1, C, c->bkg_h, c->bkg_w}, wsh[4] = {1, C, ws0, ws0};
    segc_status st = segc_params_get(&m->params, "image_encoder.trunk.pos_embed", 4, bs, &bkg);
    if (st != SEGC_OK) return st;
    if ((st = segc_params_get(&m->params, "image_encoder.trunk.pos_embed_window", 4, wsh, &win)) != SEGC_OK)
        return st;
    if (ws0 < 1 || H % ws0 != 0)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "sam2: feature size %lld is not a multiple of window %lld",
                         (long long)H, (long long)ws0);
    segc_arena tmp;
    segc_arena_init(&tmp, 0);
    segc_tensor up;
    segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BICUBIC, 0);
    st = segc_resize_new(&tmp, &bkg, &rp, H, W, &up);
    if (st == SEGC_OK) {
        float *dst = segc_arena_alloc_array(&m->params.store, (size_t)(H * W * C), sizeof(float));
        if (!dst) {
            st = SEGC_ERR_NOMEM;
        } else {
            const float *u = up.data, *wd = win.data;
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++)
                    for (int64_t ch = 0; ch < C; ch++)
                        dst[(h * W + w) * C + ch] =
                            u[(ch * H + h) * W + w] + wd[(ch * ws0 + h % ws0) * ws0 + w % ws0];
            m->pos_embed_hwc = segc_tensor_f32(dst, 3, H, W, C, 0);
        }
    }
    segc_arena_free(&tmp);
    return st;
}

segc_status sam2_hiera_load(sam2_model *m) {
    segc_status st = plan_blocks(m);
    if (st != SEGC_OK) return st;
    const int64_t C0 = m->cfg.embed_dim;
    const int64_t pw[4] = {C0, 3, HIERA_PATCH_KERNEL, HIERA_PATCH_KERNEL}, pb[1] = {C0};
    if ((st = segc_params_get(&m->params, "image_encoder.trunk.patch_embed.proj.weight", 4, pw, &m->patch_w)))
        return st;
    if ((st = segc_params_get(&m->params, "image_encoder.trunk.patch_embed.proj.bias", 1, pb, &m->patch_b)))
        return st;
    if ((st = build_pos_embed(m)) != SEGC_OK) return st;
    for (int i = 0; i < m->num_blocks; i++) {
        sam2_hiera_block *b = &m->blocks[i];
        const int64_t d = b->dim, o = b->dim_out;
        if ((st = get_block(m, i, "norm1.weight", 1, d, 0, &b->norm1_w)) ||
            (st = get_block(m, i, "norm1.bias", 1, d, 0, &b->norm1_b)) ||
            (st = get_block(m, i, "attn.qkv.weight", 2, 3 * o, d, &b->qkv_w)) ||
            (st = get_block(m, i, "attn.qkv.bias", 1, 3 * o, 0, &b->qkv_b)) ||
            (st = get_block(m, i, "attn.proj.weight", 2, o, o, &b->attn_proj_w)) ||
            (st = get_block(m, i, "attn.proj.bias", 1, o, 0, &b->attn_proj_b)) ||
            (st = get_block(m, i, "norm2.weight", 1, o, 0, &b->norm2_w)) ||
            (st = get_block(m, i, "norm2.bias", 1, o, 0, &b->norm2_b)))
            return st;
        if (d != o && ((st = get_block(m, i, "proj.weight", 2, o, d, &b->proj_w)) ||
                       (st = get_block(m, i, "proj.bias", 1, o, 0, &b->proj_b))))
            return st;
        char prefix[128];
        segc_params_name(prefix, sizeof prefix, "image_encoder.trunk.blocks.%d.mlp", i);
        if ((st = segc_mlp_load(&m->params, prefix, 2, o, o, SEGC_ACT_GELU, 0, &b->mlp)) != SEGC_OK) return st;
        if (b->mlp.w[0].shape[0] != HIERA_MLP_RATIO * o)
            return segc_fail(SEGC_ERR_FORMAT, "sam2: %s hidden dim %lld, expected %lld", prefix,
                             (long long)b->mlp.w[0].shape[0], (long long)(HIERA_MLP_RATIO * o));
    }
    return SEGC_OK;
}

/* out[b, i, j, c] = max over the 2x2 cell (2i.., 2j..) of x[b, H, W, C]; floor sizes (ceil_mode False). */
static void max_pool2_bhwc(const float *x, int64_t B, int64_t H, int64_t W, int64_t C, float *out) {
    const int64_t Ho = H / 2, Wo = W / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < Ho; i++)
            for (int64_t j = 0; j < Wo; j++) {
                const float *p00 = x + ((b * H + 2 * i) * W + 2 * j) * C;
                const float *p01 = p00 + C, *p10 = p00 + W * C, *p11 = p10 + C;
                float *o = out + ((b * Ho + i) * Wo + j) * C;
                for (int64_t c = 0; c < C; c++) {
                    const float a = p00[c] > p01[c] ? p00[c] : p01[c];
                    const float d = p10[c] > p11[c] ? p10[c] : p11[c];
                    o[c] = a > d ? a : d;
                }
            }
}

/* x[H, W, C] += windows [count, ws, ws, C], which are windows first..first+count-1 of the (b, row, col)
   window order of window_partition; the padding beyond H x W is dropped (window_unpartition). */
static void add_unpartition(const float *win, int ws, int64_t first, int64_t count, int64_t H, int64_t W, int64_t C,
                            float *x) {
    const int64_t nW = segc_window_count(W, ws);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t k = 0; k < count; k++)
        for (int64_t i = 0; i < ws; i++) {
            const int64_t h = ((first + k) / nW) * ws + i, w0 = ((first + k) % nW) * ws;
            if (h >= H) continue;
            for (int64_t j = 0; j < ws && w0 + j < W; j++) {
                const float *s = win + ((k * ws + i) * ws + j) * C;
                float *d = x + (h * W + w0 + j) * C;
                for (int64_t c = 0; c < C; c++) d[c] += s[c];
            }
        }
}

/* x = x + mlp(norm2(x)) over [N, C] in chunks of rows. */
static segc_status block_mlp(segc_arena *arena, const sam2_hiera_block *b, float *x, int64_t N) {
    const int64_t C = b->dim_out;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor xn, y;
    segc_status st = segc_tensor_new_f32(arena, &xn, 2, HIERA_MLP_CHUNK, C, 0, 0);
    if (st == SEGC_OK) st = segc_tensor_new_f32(arena, &y, 2, HIERA_MLP_CHUNK, C, 0, 0);
    for (int64_t r0 = 0; r0 < N && st == SEGC_OK; r0 += HIERA_MLP_CHUNK) {
        const int64_t rows = N - r0 < HIERA_MLP_CHUNK ? N - r0 : HIERA_MLP_CHUNK;
        float *xr = x + r0 * C;
        if ((st = segc_layer_norm_rows(xr, rows, C, &b->norm2_w, &b->norm2_b, SAM2_LN_EPS, xn.data))) break;
        segc_tensor in = segc_tensor_f32(xn.data, 2, rows, C, 0, 0), out = segc_tensor_f32(y.data, 2, rows, C, 0, 0);
        st = segc_mlp_forward(arena, &b->mlp, &in, &out);
        if (st != SEGC_OK) break;
        const float *yd = y.data;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < rows * C; i++) xr[i] += yd[i];
    }
    segc_arena_release(arena, mark);
    return st;
}

/* One MultiScaleBlock. x: [H*W, dim] channels-last; the result is written to out: [Ho*Wo, dim_out]
   (out == x when the block keeps dim and size). Temporaries come from the arena and are released. */
static segc_status block_forward(segc_arena *arena, const sam2_hiera_block *b, const float *x, int64_t H, int64_t W,
                                 float *out) {
    const int64_t C = b->dim, Co = b->dim_out, heads = b->num_heads, hd = Co / heads;
    const int ws = b->window_size, qs = b->q_stride;
    const int64_t Ho = qs ? H / qs : H, Wo = qs ? W / qs : W;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_status st;
    segc_tensor xn;
    if ((st = segc_tensor_new_f32(arena, &xn, 4, 1, H, W, C)) != SEGC_OK) goto done;
    if ((st = segc_layer_norm_rows(x, H * W, C, &b->norm1_w, &b->norm1_b, SAM2_LN_EPS, xn.data))) goto done;
    /* shortcut: pool(proj(norm1(x))) when the dim changes, else x itself */
    if (C != Co) {
        segc_tensor sc, xn2 = segc_tensor_f32(xn.data, 2, H * W, C, 0, 0);
        if ((st = segc_tensor_new_f32(arena, &sc, 2, H * W, Co, 0, 0)) != SEGC_OK) goto done;
        if ((st = segc_linear(&xn2, &b->proj_w, &b->proj_b, &sc)) != SEGC_OK) goto done;
        if (qs) max_pool2_bhwc(sc.data, 1, H, W, Co, out);
        else memcpy(out, sc.data, (size_t)(H * W * Co) * sizeof(float));
    } else if (out != x) {
        memcpy(out, x, (size_t)(H * W * C) * sizeof(float));
    }
    /* windows [nWin, wh, ww, C] (global attention: one window of the whole map) */
    segc_tensor win = xn;
    int64_t wh = H, ww = W;
    if (ws > 0) {
        if ((st = segc_window_partition_new(arena, &xn, ws, &win)) != SEGC_OK) goto done;
        wh = ww = ws;
    }
    const int64_t nwin = win.shape[0], L = wh * ww;
    const int64_t qh = qs ? wh / qs : wh, qw = qs ? ww / qs : ww, Lq = qh * qw;
    const int wso = qs ? ws / qs : ws;   /* window size after q pooling */
    if (ws > 0 && segc_window_count(Ho, wso) * segc_window_count(Wo, wso) != nwin) {
        st = segc_fail(SEGC_ERR_INTERNAL, "sam2: pooled window grid does not match (%lld windows)", (long long)nwin);
        goto done;
    }
    /* windows in batches of about HIERA_ATTN_TOKENS tokens: qkv, (pooled) q, SDPA, proj, add to the shortcut */
    const int64_t per = L >= HIERA_ATTN_TOKENS ? 1 : HIERA_ATTN_TOKENS / L;
    for (int64_t w0 = 0; w0 < nwin && st == SEGC_OK; w0 += per) {
        const int64_t nb = nwin - w0 < per ? nwin - w0 : per;
        segc_arena_mark m2 = segc_arena_get_mark(arena);
        segc_tensor qkv, q, k, v, att, att_heads, proj;
        segc_tensor win2 = segc_tensor_f32((float *)win.data + w0 * L * C, 2, nb * L, C, 0, 0);
        const int64_t hs[4] = {nb, heads, L, hd}, ps[4] = {nb, heads, Lq, hd};
        if ((st = segc_tensor_new_f32(arena, &qkv, 2, nb * L, 3 * Co, 0, 0)) ||
            (st = segc_linear(&win2, &b->qkv_w, &b->qkv_b, &qkv)) || (st = segc_tensor_new(arena, SEGC_F32, 4, hs, &q)) ||
            (st = segc_tensor_new(arena, SEGC_F32, 4, hs, &k)) || (st = segc_tensor_new(arena, SEGC_F32, 4, hs, &v)))
            goto chunk_done;
        segc_tensor qkv3 = segc_tensor_f32(qkv.data, 3, nb, L, 3 * Co, 0);
        if ((st = segc_attention_split_qkv(&qkv3, (int)heads, &q, &k, &v))) goto chunk_done;
        if (qs) {   /* q pooling inside each window: q is [nb*heads, wh, ww, hd] channels-last per head */
            segc_tensor qp;
            if ((st = segc_tensor_new(arena, SEGC_F32, 4, ps, &qp))) goto chunk_done;
            max_pool2_bhwc(q.data, nb * heads, wh, ww, hd, qp.data);
            q = qp;
        }
        if ((st = segc_tensor_new_f32(arena, &att, 3, nb, Lq, Co, 0)) ||
            (st = segc_attention_heads_view(&att, (int)heads, &att_heads)) ||
            (st = segc_attention(arena, &q, &k, &v, NULL, 0.0f, &att_heads)))
            goto chunk_done;
        segc_tensor att2 = segc_tensor_f32(att.data, 2, nb * Lq, Co, 0, 0);
        if ((st = segc_tensor_new_f32(arena, &proj, 2, nb * Lq, Co, 0, 0)) ||
            (st = segc_linear(&att2, &b->attn_proj_w, &b->attn_proj_b, &proj)))
            goto chunk_done;
        if (ws > 0) {
            add_unpartition(proj.data, wso, w0, nb, Ho, Wo, Co, out);
        } else {
            const float *pd = proj.data;
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < Ho * Wo * Co; i++) out[i] += pd[i];
        }
    chunk_done:
        segc_arena_release(arena, m2);
    }
    if (st != SEGC_OK) goto done;
    segc_arena_release(arena, mark);
    return block_mlp(arena, b, out, Ho * Wo);
done:
    segc_arena_release(arena, mark);
    return st;
}

/* img: [1, 3, S, S] normalized -> feats[s]: [H_s*W_s, C_s] channels-last stage outputs, from ctx->arena. */
segc_status sam2_hiera_forward(const sam2_model *m, segc_ctx *ctx, const segc_tensor *img, segc_tensor feats[4],
                               int hw[4][2]) {
    segc_arena *arena = ctx->arena;
    const int64_t C0 = m->cfg.embed_dim;
    const int64_t H0 = m->pos_embed_hwc.shape[0], W0 = m->pos_embed_hwc.shape[1];
    segc_conv2d_params cp = segc_conv2d_params_make(HIERA_PATCH_STRIDE, HIERA_PATCH_PAD, 1, 1);
    segc_status st;
    /* stage-1 map (persistent), then the patch conv in a temporary */
    segc_tensor x;
    if ((st = segc_tensor_new_f32(arena, &x, 2, H0 * W0, C0, 0, 0)) != SEGC_OK) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor pe;
    if ((st = segc_conv2d_new(arena, img, &m->patch_w, &m->patch_b, &cp, &pe)) != SEGC_OK) return st;
    if (pe.shape[2] != H0 || pe.shape[3] != W0) {
        segc_arena_release(arena, mark);
        return segc_fail(SEGC_ERR_SHAPE, "sam2: input gives a %lldx%lld patch grid, expected %lldx%lld",
                         (long long)pe.shape[2], (long long)pe.shape[3], (long long)H0, (long long)W0);
    }
    {
        const float *src = pe.data, *pos = m->pos_embed_hwc.data;
        float *dst = x.data;
        const int64_t P = H0 * W0;
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < P; p++)
            for (int64_t c = 0; c < C0; c++) dst[p * C0 + c] = src[c * P + p] + pos[p * C0 + c];
    }
    segc_arena_release(arena, mark);
    int64_t H = H0, W = W0;
    int stage = 0;
    for (int i = 0; i < m->num_blocks; i++) {
        const sam2_hiera_block *b = &m->blocks[i];
        segc_tensor out = x;
        const int64_t Ho = b->q_stride ? H / b->q_stride : H, Wo = b->q_stride ? W / b->q_stride : W;
        if (b->dim != b->dim_out || b->q_stride) {   /* a new stage: its own persistent map */
            if ((st = segc_tensor_new_f32(arena, &out, 2, Ho * Wo, b->dim_out, 0, 0)) != SEGC_OK) return st;
        }
        if ((st = block_forward(arena, b, x.data, H, W, out.data)) != SEGC_OK)
            return segc_fail_context(st, "image_encoder.trunk.blocks.%d", i);
        x = out;
        H = Ho;
        W = Wo;
        if (i == m->stage_end[stage]) {
            feats[stage] = x;
            hw[stage][0] = (int)H;
            hw[stage][1] = (int)W;
            if (ctx->tap || ctx->profile) {
                segc_tensor v = segc_tensor_f32(x.data, 4, 1, H, W, b->dim_out), nchw;
                const int perm[4] = {0, 3, 1, 2};
                segc_tensor_permute(&v, perm, &nchw);
                if ((st = segc_tapf(ctx, &nchw, "image_encoder.trunk.stage%d", stage + 1)) != SEGC_OK) return st;
            }
            stage++;
        }
    }
    return SEGC_OK;
}
