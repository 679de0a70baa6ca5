/* mobilenetv2.c - MobileNetV2 features as in VainF/DeepLabV3Plus-Pytorch network/backbone/mobilenetv2.py:
   folded weights at load, then convs with fused ReLU6 and the port's constant-border depthwise rule.
   See mobilenetv2.h for the padding rule. Does not do: features.18, the ImageNet classifier. */
#include "nn/mobilenetv2.h"

#include <string.h>

#include "core/status.h"
#include "ops/conv.h"
#include "ops/elementwise.h"

/* The port's inverted_residual_setting: t (expansion), c (channels), n (repeats), s (stride). */
static const int mbv2_setting[7][4] = {
    {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
};

#define MBV2_STEM_STRIDE 2
#define MBV2_RELU6_MAX 6.0f

/* Module path of features.i under the port's split into low/high-level Sequentials (slicing an
   nn.Sequential keeps the original indices: features[4:-1] holds modules named 4 .. 17). */
static const char *feature_prefix(char *buf, size_t size, const char *low, const char *high, int split, int i) {
    if (i < split) return segc_params_name(buf, size, "%s.%d", low, i);
    return segc_params_name(buf, size, "%s.%d", high, i);
}

/* Loads conv `conv` + BN `bn` folded and checks [k?, c, r, r]; k < 0 accepts any out-channel count. */
static segc_status load_conv(segc_params *p, const char *conv, const char *bn, float eps, int64_t k, int64_t c,
                             int64_t r, segc_tensor *w, segc_tensor *b) {
    segc_status st = segc_params_conv_bn(p, conv, bn, eps, NULL, w, b);
    if (st) return st;
    if ((k >= 0 && w->shape[0] != k) || w->shape[1] != c || w->shape[2] != r || w->shape[3] != r) {
        char found[96];
        return segc_fail(SEGC_ERR_SHAPE, "weight %s.weight: expected [%lld, %lld, %lld, %lld], found %s", conv,
                         (long long)k, (long long)c, (long long)r, (long long)r,
                         segc_tensor_shape_str(w, found, sizeof found));
    }
    return SEGC_OK;
}

/* Loads one InvertedResidual at `prefix` (features.i) with in-channels `in`, expansion flag, stride and
   dilation; hidden and out channels come from the stored shapes. */
static segc_status load_block(segc_params *p, const char *prefix, int in, int expand, int stride, int dilation,
                              float eps, segc_mbv2_block *b) {
    char conv[256], bn[256];
    segc_status st;
    memset(b, 0, sizeof *b);
    b->in_channels = in;
    b->stride = stride;
    b->dilation = dilation;
    b->has_expand = expand;
    int idx = 0;   /* index of the next module inside `conv` (the Sequential) */
    if (expand) {
        st = load_conv(p, segc_params_name(conv, sizeof conv, "%s.conv.0.0", prefix),
                       segc_params_name(bn, sizeof bn, "%s.conv.0.1", prefix), eps, -1, in, 1, &b->expand_w,
                       &b->expand_b);
        if (st) return st;
        b->hidden = (int)b->expand_w.shape[0];
        idx = 1;
    } else {
        b->hidden = in;
    }
    st = load_conv(p, segc_params_name(conv, sizeof conv, "%s.conv.%d.0", prefix, idx),
                   segc_params_name(bn, sizeof bn, "%s.conv.%d.1", prefix, idx), eps, b->hidden, 1, 3, &b->dw_w,
                   &b->dw_b);
    if (st) return st;
    st = load_conv(p, segc_params_name(conv, sizeof conv, "%s.conv.%d", prefix, idx + 1),
                   segc_params_name(bn, sizeof bn, "%s.conv.%d", prefix, idx + 2), eps, -1, b->hidden, 1,
                   &b->project_w, &b->project_b);
    if (st) return st;
    b->out_channels = (int)b->project_w.shape[0];
    b->use_res = stride == 1 && in == b->out_channels;

    /* The border the depthwise conv sees: relu6(BN(conv1x1(0))) = relu6(folded bias), or 0. */
    int64_t hid = b->hidden;
    st = segc_tensor_new(&p->store, SEGC_F32, 1, &hid, &b->pad_value);
    if (st) return st;
    float *v = b->pad_value.data;
    for (int c = 0; c < b->hidden; c++) {
        float x = expand ? ((const float *)b->expand_b.data)[c] : 0.0f;
        v[c] = x < 0.0f ? 0.0f : (x > MBV2_RELU6_MAX ? MBV2_RELU6_MAX : x);
    }
    return SEGC_OK;
}

segc_status segc_mobilenetv2_load(segc_params *p, const char *low_prefix, const char *high_prefix, int split,
                                  int output_stride, float bn_eps, segc_mobilenetv2 *out) {
    memset(out, 0, sizeof *out);
    if (output_stride != 8 && output_stride != 16 && output_stride != 32)
        return segc_fail(SEGC_ERR_INVALID_ARG, "mobilenetv2: output stride %d (expected 8, 16 or 32)",
                         output_stride);
    out->output_stride = output_stride;
    char prefix[256], conv[300], bn[300];
    feature_prefix(prefix, sizeof prefix, low_prefix, high_prefix, split, 0);
    segc_status st = load_conv(p, segc_params_name(conv, sizeof conv, "%s.0", prefix),
                               segc_params_name(bn, sizeof bn, "%s.1", prefix), bn_eps, -1, 3, 3, &out->stem_w,
                               &out->stem_b);
    if (st) return segc_fail_context(st, "mobilenetv2 features.0");

    /* Stride/dilation schedule, as MobileNetV2.__init__ computes it. */
    int current_stride = MBV2_STEM_STRIDE, dilation = 1, in = (int)out->stem_w.shape[0], n_block = 0;
    for (int g = 0; g < 7; g++) {
        int t = mbv2_setting[g][0], n = mbv2_setting[g][2], s = mbv2_setting[g][3], stride;
        int previous_dilation = dilation;
        if (current_stride == output_stride) {
            stride = 1;
            dilation *= s;
        } else {
            stride = s;
            current_stride *= s;
        }
        for (int i = 0; i < n; i++) {
            feature_prefix(prefix, sizeof prefix, low_prefix, high_prefix, split, n_block + 1);
            segc_mbv2_block *b = &out->blocks[n_block];
            st = load_block(p, prefix, in, t != 1, i == 0 ? stride : 1, i == 0 ? previous_dilation : dilation,
                            bn_eps, b);
            if (st) return segc_fail_context(st, "mobilenetv2 features.%d", n_block + 1);
            in = b->out_channels;
            n_block++;
        }
    }
    return SEGC_OK;
}

void segc_mbv2_block_out_size(const segc_mbv2_block *b, int64_t h, int64_t w, int64_t *p, int64_t *q) {
    /* fixed_padding(3, d) pads d on each side, then the depthwise conv runs unpadded. */
    *p = segc_conv2d_out_dim(h, 3, b->stride, b->dilation, b->dilation);
    *q = segc_conv2d_out_dim(w, 3, b->stride, b->dilation, b->dilation);
}

/* Recomputes the outputs of a depthwise conv whose window touches the padding, with the padding holding
   the per-channel constant v[c] instead of 0 (the port's border, see mobilenetv2.h), then ReLU6:
   y[n,c,p,q] = relu6(b[c] + sum over taps of w[c,r,s] * (inside ? x[n,c,ih,iw] : v[c])).
   Interior outputs (every tap inside) are left as the zero-padded conv computed them; channels with
   v[c] == 0 need nothing. x: [N, C, H, W]; y: [N, C, P, Q]; w: [C, 1, R, S]; b, v: [C]. */
static void dw_border_recompute(float *y, const float *x, const float *w, const float *b, const float *v, int64_t n,
                                int64_t c_count, int64_t h, int64_t wd, int64_t p_count, int64_t q_count,
                                int r_count, int s_count, int stride, int pad, int dil) {
    /* Output columns whose taps all land inside: q_lo <= q <= q_hi. */
    int64_t q_lo = (pad + stride - 1) / stride;
    int64_t reach = wd - 1 + pad - (int64_t)(s_count - 1) * dil;
    int64_t q_hi = reach < 0 ? -1 : reach / stride;
    #pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < n * c_count; plane++) {
        int64_t c = plane % c_count;
        float vc = v[c];
        if (vc == 0.0f) continue;
        float *yc = y + plane * p_count * q_count;
        const float *xc = x + plane * h * wd, *wc = w + c * r_count * s_count;
        for (int64_t p = 0; p < p_count; p++) {
            int64_t ih0 = p * stride - pad;
            int row_out = ih0 < 0 || ih0 + (int64_t)(r_count - 1) * dil >= h;
            for (int64_t q = 0; q < q_count; q++) {
                if (!row_out && q == q_lo && q_hi >= q_lo) {
                    q = q_hi;   /* skip the interior; the loop's q++ moves past it */
                    continue;
                }
                int64_t iw0 = q * stride - pad;
                float acc = b[c];
                for (int r = 0; r < r_count; r++) {
                    int64_t ih = ih0 + (int64_t)r * dil;
                    for (int s = 0; s < s_count; s++) {
                        int64_t iw = iw0 + (int64_t)s * dil;
                        int inside = ih >= 0 && ih < h && iw >= 0 && iw < wd;
                        acc += wc[r * s_count + s] * (inside ? xc[ih * wd + iw] : vc);
                    }
                }
                yc[p * q_count + q] = acc < 0.0f ? 0.0f : (acc > MBV2_RELU6_MAX ? MBV2_RELU6_MAX : acc);
            }
        }
    }
}

/* Checks x: [N, in_channels, H, W] contiguous and out: [N, out_channels, P, Q]. */
static segc_status check_block_io(const segc_mbv2_block *b, const segc_tensor *x, const segc_tensor *out) {
    char s1[96], s2[96];
    if (x->dtype != SEGC_F32 || x->ndim != 4 || x->shape[1] != b->in_channels || !segc_tensor_is_contiguous(x))
        return segc_fail(SEGC_ERR_SHAPE, "mobilenetv2 block: input %s, expected [N, %d, H, W] contiguous f32",
                         segc_tensor_shape_str(x, s1, sizeof s1), b->in_channels);
    int64_t p, q;
    segc_mbv2_block_out_size(b, x->shape[2], x->shape[3], &p, &q);
    const int64_t want[4] = {x->shape[0], b->out_channels, p, q};
    if (p <= 0 || q <= 0 || !segc_tensor_has_shape(out, 4, want) || !segc_tensor_is_contiguous(out)) {
        segc_tensor wt = segc_tensor_wrap(SEGC_F32, 4, want, NULL);
        return segc_fail(SEGC_ERR_SHAPE, "mobilenetv2 block: output %s, expected %s",
                         segc_tensor_shape_str(out, s1, sizeof s1), segc_tensor_shape_str(&wt, s2, sizeof s2));
    }
    return SEGC_OK;
}

/* expand (1x1, ReLU6) -> depthwise 3x3 (constant border, ReLU6) -> project (1x1) [+ x]. */
segc_status segc_mbv2_block_forward(const segc_mbv2_block *b, segc_arena *arena, const segc_tensor *x,
                                    segc_tensor *out) {
    segc_status st = check_block_io(b, x, out);
    if (st) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor hid = *x, dw;
    if (b->has_expand) {
        segc_conv2d_params pw = segc_conv2d_params_make(1, 0, 1, 1);
        pw.act = SEGC_ACT_RELU6;
        st = segc_conv2d_new(arena, x, &b->expand_w, &b->expand_b, &pw, &hid);
        if (st) goto done;
    }
    segc_conv2d_params dp = segc_conv2d_params_make(b->stride, b->dilation, b->dilation, b->hidden);
    dp.act = SEGC_ACT_RELU6;
    st = segc_conv2d_new(arena, &hid, &b->dw_w, &b->dw_b, &dp, &dw);
    if (st) goto done;
    dw_border_recompute(dw.data, hid.data, b->dw_w.data, b->dw_b.data, b->pad_value.data, dw.shape[0], dw.shape[1],
                        hid.shape[2], hid.shape[3], dw.shape[2], dw.shape[3], (int)b->dw_w.shape[2],
                        (int)b->dw_w.shape[3], b->stride, b->dilation, b->dilation);
    segc_conv2d_params pj = segc_conv2d_params_make(1, 0, 1, 1);
    st = segc_conv2d(arena, &dw, &b->project_w, &b->project_b, &pj, out);
    if (st) goto done;
    if (b->use_res) st = segc_add_inplace(out, x, SEGC_ACT_NONE);
done:
    segc_arena_release(arena, mark);
    return st;
}

/* The port literally: F.pad(x, d) -> conv.* with padding 0 -> (+ x). Oracle for segc_mbv2_block_forward. */
segc_status segc_mbv2_block_forward_reference(const segc_mbv2_block *b, segc_arena *arena, const segc_tensor *x,
                                              segc_tensor *out) {
    segc_status st = check_block_io(b, x, out);
    if (st) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3], d = b->dilation;
    segc_tensor xp, hid, dw;
    st = segc_tensor_new_f32(arena, &xp, 4, n, c, h + 2 * d, w + 2 * d);
    if (st) goto done;
    segc_tensor_fill_f32(&xp, 0.0f);
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t y = 0; y < h; y++)
                memcpy(segc_at4(&xp, i, ch, y + d, d), segc_at4(x, i, ch, y, 0), (size_t)w * sizeof(float));
    hid = xp;
    if (b->has_expand) {
        segc_conv2d_params pw = segc_conv2d_params_make(1, 0, 1, 1);
        pw.act = SEGC_ACT_RELU6;
        st = segc_tensor_new_f32(arena, &hid, 4, n, b->hidden, h + 2 * d, w + 2 * d);
        if (st) goto done;
        st = segc_conv2d_reference(&xp, &b->expand_w, &b->expand_b, &pw, &hid);
        if (st) goto done;
    }
    segc_conv2d_params dp = segc_conv2d_params_make(b->stride, 0, b->dilation, b->hidden);
    dp.act = SEGC_ACT_RELU6;
    st = segc_tensor_new_f32(arena, &dw, 4, n, b->hidden, out->shape[2], out->shape[3]);
    if (st) goto done;
    st = segc_conv2d_reference(&hid, &b->dw_w, &b->dw_b, &dp, &dw);
    if (st) goto done;
    segc_conv2d_params pj = segc_conv2d_params_make(1, 0, 1, 1);
    st = segc_conv2d_reference(&dw, &b->project_w, &b->project_b, &pj, out);
    if (st) goto done;
    if (b->use_res) {
        float *o = out->data;
        const float *xi = x->data;
        for (int64_t i = 0; i < segc_tensor_numel(out); i++) o[i] += xi[i];
    }
done:
    segc_arena_release(arena, mark);
    return st;
}

/* features.0 .. features.17; low_level after features.3. */
segc_status segc_mobilenetv2_forward(const segc_mobilenetv2 *m, segc_arena *arena, const segc_tensor *x,
                                     segc_tensor *low_level, segc_tensor *out) {
    char s1[96];
    if (x->dtype != SEGC_F32 || x->ndim != 4 || x->shape[0] != 1 || x->shape[1] != 3 ||
        !segc_tensor_is_contiguous(x))
        return segc_fail(SEGC_ERR_SHAPE, "mobilenetv2: input %s, expected [1, 3, H, W] contiguous f32",
                         segc_tensor_shape_str(x, s1, sizeof s1));
    if (x->shape[2] < 3 || x->shape[3] < 3)
        return segc_fail(SEGC_ERR_SHAPE, "mobilenetv2: input %lldx%lld is smaller than its 3x3 unpadded stem",
                         (long long)x->shape[3], (long long)x->shape[2]);

    /* Walk the shapes once: sizes of the two outputs and of the largest intermediate. */
    int64_t h = segc_conv2d_out_dim(x->shape[2], 3, MBV2_STEM_STRIDE, 0, 1);
    int64_t w = segc_conv2d_out_dim(x->shape[3], 3, MBV2_STEM_STRIDE, 0, 1);
    int64_t max_numel = m->stem_w.shape[0] * h * w, low_h = 0, low_w = 0;
    for (int i = 0; i < SEGC_MBV2_NUM_BLOCKS; i++) {
        segc_mbv2_block_out_size(&m->blocks[i], h, w, &h, &w);
        if (i + 1 == SEGC_MBV2_LOW_LEVEL_FEATURE) low_h = h, low_w = w;
        int64_t numel = m->blocks[i].out_channels * h * w;
        if (numel > max_numel) max_numel = numel;
    }
    const segc_mbv2_block *low_block = &m->blocks[SEGC_MBV2_LOW_LEVEL_FEATURE - 1];
    const segc_mbv2_block *last = &m->blocks[SEGC_MBV2_NUM_BLOCKS - 1];
    segc_status st = segc_tensor_new_f32(arena, low_level, 4, 1, low_block->out_channels, low_h, low_w);
    if (st) return st;
    st = segc_tensor_new_f32(arena, out, 4, 1, last->out_channels, h, w);
    if (st) return st;

    /* Ping-pong between two buffers of the largest size; block 2 writes low_level, the last writes out. */
    segc_arena_mark mark = segc_arena_get_mark(arena);
    float *buf[2];
    buf[0] = segc_arena_alloc_array(arena, (size_t)max_numel, sizeof(float));
    buf[1] = segc_arena_alloc_array(arena, (size_t)max_numel, sizeof(float));
    if (!buf[0] || !buf[1]) {
        segc_arena_release(arena, mark);
        return SEGC_ERR_NOMEM;
    }
    segc_tensor cur = segc_tensor_f32(buf[0], 4, 1, m->stem_w.shape[0],
                                      segc_conv2d_out_dim(x->shape[2], 3, MBV2_STEM_STRIDE, 0, 1),
                                      segc_conv2d_out_dim(x->shape[3], 3, MBV2_STEM_STRIDE, 0, 1));
    segc_conv2d_params sp = segc_conv2d_params_make(MBV2_STEM_STRIDE, 0, 1, 1);
    sp.act = SEGC_ACT_RELU6;
    st = segc_conv2d(arena, x, &m->stem_w, &m->stem_b, &sp, &cur);
    int which = 1;
    for (int i = 0; i < SEGC_MBV2_NUM_BLOCKS && !st; i++) {
        const segc_mbv2_block *b = &m->blocks[i];
        int64_t p, q;
        segc_mbv2_block_out_size(b, cur.shape[2], cur.shape[3], &p, &q);
        segc_tensor next;
        if (i + 1 == SEGC_MBV2_LOW_LEVEL_FEATURE) {
            next = *low_level;
        } else if (i == SEGC_MBV2_NUM_BLOCKS - 1) {
            next = *out;
        } else {
            next = segc_tensor_f32(buf[which], 4, 1, b->out_channels, p, q);
            which ^= 1;
        }
        st = segc_mbv2_block_forward(b, arena, &cur, &next);
        if (st) st = segc_fail_context(st, "features.%d", i + 1);
        cur = next;
    }
    segc_arena_release(arena, mark);
    return st;
}
