/* deform_attn.c - multi-scale deformable attention core (see deform_attn.h).
   Dims: B batch, S value tokens over all levels, M heads, D head dim, Lq queries, L levels, P points.
   Each query and head gathers L*P bilinear samples of a D-vector; value is [B,S,M,D] so one sample
   reads four contiguous D-vectors and the inner loop over D vectorizes. Sampling follows
   F.grid_sample(bilinear, zeros, align_corners=False) on grid 2*loc - 1, i.e. pixel loc*size - 0.5,
   as Deformable-DETR's ms_deform_attn_core_pytorch. Not here: projections and the softmax. */
#include "ops/deform_attn.h"

#include <math.h>
#include <string.h>

#include "core/status.h"

/* Largest number of levels accepted (Deformable-DETR uses 4, Mask2Former 3). */
#define DEFORM_MAX_LEVELS 16

/* Validated sizes and per-level geometry of one call. */
typedef struct deform_args {
    int64_t B, S, M, D, Lq, L, P;
    int64_t height[DEFORM_MAX_LEVELS], width[DEFORM_MAX_LEVELS], start[DEFORM_MAX_LEVELS];
    const float *value, *loc, *weight;
    float *out;
} deform_args;

/* Checks that t is a contiguous float32 tensor of `ndim` dims; error names `name`. */
static segc_status check_f32(const segc_tensor *t, int ndim, const char *name) {
    char b1[96];
    if (!t || !t->data) return segc_fail(SEGC_ERR_INVALID_ARG, "ms_deform_attn: %s is NULL", name);
    if (t->dtype != SEGC_F32 || t->ndim != ndim || !segc_tensor_is_contiguous(t))
        return segc_fail(SEGC_ERR_SHAPE, "ms_deform_attn: %s is %s %s, want contiguous f32 with %d dims", name,
                         segc_dtype_name(t->dtype), segc_tensor_shape_str(t, b1, sizeof b1), ndim);
    return SEGC_OK;
}

/* Validates value[B,S,M,D], the level table, loc[B,Lq,M,L,P,2], weight[B,Lq,M,L,P] (out unchecked). */
static segc_status deform_prepare(const segc_tensor *value, const int64_t *spatial_shapes, const int64_t *level_start,
                                  int n_levels, const segc_tensor *loc, const segc_tensor *weight, deform_args *a) {
    char b1[96], b2[96];
    segc_status st;
    if ((st = check_f32(value, 4, "value")) || (st = check_f32(loc, 6, "sampling_locations")) ||
        (st = check_f32(weight, 5, "attention_weights")))
        return st;
    if (!spatial_shapes) return segc_fail(SEGC_ERR_INVALID_ARG, "ms_deform_attn: spatial_shapes is NULL");
    if (n_levels < 1 || n_levels > DEFORM_MAX_LEVELS)
        return segc_fail(SEGC_ERR_INVALID_ARG, "ms_deform_attn: %d levels, want 1 to %d", n_levels, DEFORM_MAX_LEVELS);
    memset(a, 0, sizeof *a);
    a->B = value->shape[0], a->S = value->shape[1], a->M = value->shape[2], a->D = value->shape[3];
    a->Lq = loc->shape[1], a->L = n_levels, a->P = loc->shape[4];
    if (loc->shape[0] != a->B || loc->shape[2] != a->M || loc->shape[3] != n_levels || loc->shape[5] != 2)
        return segc_fail(SEGC_ERR_SHAPE, "ms_deform_attn: sampling_locations is %s, want [%lld, Lq, %lld, %d, P, 2]",
                         segc_tensor_shape_str(loc, b1, sizeof b1), (long long)a->B, (long long)a->M, n_levels);
    const int64_t wshape[5] = {a->B, a->Lq, a->M, a->L, a->P};
    if (!segc_tensor_has_shape(weight, 5, wshape))
        return segc_fail(SEGC_ERR_SHAPE, "ms_deform_attn: attention_weights is %s, sampling_locations %s",
                         segc_tensor_shape_str(weight, b1, sizeof b1), segc_tensor_shape_str(loc, b2, sizeof b2));
    int64_t next = 0;
    for (int l = 0; l < n_levels; l++) {
        int64_t h = spatial_shapes[2 * l], w = spatial_shapes[2 * l + 1];
        int64_t s = level_start ? level_start[l] : next;
        if (h < 1 || w < 1 || h > (int64_t)1 << 24 || w > (int64_t)1 << 24 || s < 0 || s > a->S ||
            h * w > a->S - s)
            return segc_fail(SEGC_ERR_SHAPE, "ms_deform_attn: level %d (%lld x %lld at token %lld) does not fit in "
                             "value's %lld tokens", l, (long long)h, (long long)w, (long long)s, (long long)a->S);
        a->height[l] = h, a->width[l] = w, a->start[l] = s;
        next = s + h * w;
    }
    if (!level_start && next != a->S)
        return segc_fail(SEGC_ERR_SHAPE, "ms_deform_attn: levels hold %lld tokens, value has %lld", (long long)next,
                         (long long)a->S);
    a->value = value->data, a->loc = loc->data, a->weight = weight->data;
    return SEGC_OK;
}

/* Checks out[B,Lq,M*D]. */
static segc_status check_out(const segc_tensor *out, const deform_args *a) {
    char b1[96];
    segc_status st = check_f32(out, 3, "out");
    if (st) return st;
    const int64_t shape[3] = {a->B, a->Lq, a->M * a->D};
    if (!segc_tensor_has_shape(out, 3, shape))
        return segc_fail(SEGC_ERR_SHAPE, "ms_deform_attn: out is %s, want [%lld, %lld, %lld]",
                         segc_tensor_shape_str(out, b1, sizeof b1), (long long)a->B, (long long)a->Lq,
                         (long long)(a->M * a->D));
    return SEGC_OK;
}

/* om[D] += aw * bilinear sample of one level at normalized (x, y); vl points at token 0 of this
   level for this batch and head, rows of the map are W tokens apart, tokens M*D floats apart. */
static inline void sample_accumulate(float *restrict om, const float *restrict vl, int64_t H, int64_t W,
                                     int64_t tok_stride, int64_t D, float x, float y, float aw) {
    float w_im = x * (float)W - 0.5f, h_im = y * (float)H - 0.5f;
    if (!(h_im > -1.0f && w_im > -1.0f && h_im < (float)H && w_im < (float)W)) return;  /* also NaN */
    float hf = floorf(h_im), wf = floorf(w_im);
    int64_t h0 = (int64_t)hf, w0 = (int64_t)wf;
    float lh = h_im - hf, lw = w_im - wf, hh = 1.0f - lh, hw = 1.0f - lw;
    int top = h0 >= 0, bottom = h0 + 1 < H, left = w0 >= 0, right = w0 + 1 < W;
    /* corners outside the map get weight 0 and a clamped (valid) address */
    float c00 = top && left ? aw * hh * hw : 0.0f, c01 = top && right ? aw * hh * lw : 0.0f;
    float c10 = bottom && left ? aw * lh * hw : 0.0f, c11 = bottom && right ? aw * lh * lw : 0.0f;
    int64_t y0 = top ? h0 : 0, y1 = bottom ? h0 + 1 : H - 1, x0 = left ? w0 : 0, x1 = right ? w0 + 1 : W - 1;
    const float *v00 = vl + (y0 * W + x0) * tok_stride, *v01 = vl + (y0 * W + x1) * tok_stride;
    const float *v10 = vl + (y1 * W + x0) * tok_stride, *v11 = vl + (y1 * W + x1) * tok_stride;
    for (int64_t d = 0; d < D; d++) om[d] += c00 * v00[d] + c01 * v01[d] + c10 * v10[d] + c11 * v11[d];
}

segc_status segc_ms_deform_attn(const segc_tensor *value, const int64_t *spatial_shapes, const int64_t *level_start,
                                int n_levels, const segc_tensor *sampling_locations,
                                const segc_tensor *attention_weights, segc_tensor *out) {
    deform_args a;
    segc_status st = deform_prepare(value, spatial_shapes, level_start, n_levels, sampling_locations,
                                    attention_weights, &a);
    if (st || (st = check_out(out, &a))) return st;
    float *dst = out->data;
    const int64_t M = a.M, D = a.D, L = a.L, P = a.P, tok_stride = a.M * a.D;
    /* out[b,q,m*D:(m+1)*D] = sum_{l,p} w[b,q,m,l,p] sample(value[b, level l, m], loc[b,q,m,l,p]) */
#pragma omp parallel for schedule(static)
    for (int64_t bq = 0; bq < a.B * a.Lq; bq++) {
        int64_t b = bq / a.Lq;
        float *o = dst + bq * M * D;
        memset(o, 0, (size_t)(M * D) * sizeof(float));
        for (int64_t m = 0; m < M; m++) {
            const float *lw = a.weight + (bq * M + m) * L * P;
            const float *ll = a.loc + (bq * M + m) * L * P * 2;
            for (int64_t l = 0; l < L; l++) {
                const float *vl = a.value + ((b * a.S + a.start[l]) * M + m) * D;
                for (int64_t p = 0; p < P; p++)
                    sample_accumulate(o + m * D, vl, a.height[l], a.width[l], tok_stride, D, ll[(l * P + p) * 2],
                                      ll[(l * P + p) * 2 + 1], lw[l * P + p]);
            }
        }
    }
    return SEGC_OK;
}

segc_status segc_ms_deform_attn_new(segc_arena *arena, const segc_tensor *value, const int64_t *spatial_shapes,
                                    const int64_t *level_start, int n_levels,
                                    const segc_tensor *sampling_locations, const segc_tensor *attention_weights,
                                    segc_tensor *out) {
    deform_args a;
    segc_status st = deform_prepare(value, spatial_shapes, level_start, n_levels, sampling_locations,
                                    attention_weights, &a);
    if (st) return st;
    if (!arena) return segc_fail(SEGC_ERR_INVALID_ARG, "ms_deform_attn: arena is NULL");
    const int64_t shape[3] = {a.B, a.Lq, a.M * a.D};
    if ((st = segc_tensor_new(arena, SEGC_F32, 3, shape, out))) return segc_fail_context(st, "ms_deform_attn: out");
    return segc_ms_deform_attn(value, spatial_shapes, level_start, n_levels, sampling_locations, attention_weights,
                               out);
}

/* value[b, start + y*W + x, m, d], or 0 outside the H x W map (grid_sample's zero padding). */
static double value_or_zero(const deform_args *a, int64_t b, int l, int64_t m, int64_t d, int64_t y, int64_t x) {
    if (y < 0 || x < 0 || y >= a->height[l] || x >= a->width[l]) return 0.0;
    return a->value[((b * a->S + a->start[l] + y * a->width[l] + x) * a->M + m) * a->D + d];
}

/* The same sum, one corner at a time in double, with grid_sample's own unnormalization
   ix = ((g + 1) W - 1) / 2 for g = 2 loc - 1. */
segc_status segc_ms_deform_attn_reference(const segc_tensor *value, const int64_t *spatial_shapes,
                                          const int64_t *level_start, int n_levels,
                                          const segc_tensor *sampling_locations,
                                          const segc_tensor *attention_weights, segc_tensor *out) {
    deform_args a;
    segc_status st = deform_prepare(value, spatial_shapes, level_start, n_levels, sampling_locations,
                                    attention_weights, &a);
    if (st || (st = check_out(out, &a))) return st;
    float *dst = out->data;
    for (int64_t b = 0; b < a.B; b++)
        for (int64_t q = 0; q < a.Lq; q++)
            for (int64_t m = 0; m < a.M; m++)
                for (int64_t d = 0; d < a.D; d++) {
                    double acc = 0;
                    for (int l = 0; l < a.L; l++)
                        for (int64_t p = 0; p < a.P; p++) {
                            int64_t i = (((b * a.Lq + q) * a.M + m) * a.L + l) * a.P + p;
                            double gx = 2.0 * a.loc[2 * i] - 1.0, gy = 2.0 * a.loc[2 * i + 1] - 1.0;
                            double ix = ((gx + 1.0) * (double)a.width[l] - 1.0) / 2.0;
                            double iy = ((gy + 1.0) * (double)a.height[l] - 1.0) / 2.0;
                            double fx = floor(ix), fy = floor(iy);
                            if (!isfinite(fx) || !isfinite(fy) || fabs(fx) > 1e15 || fabs(fy) > 1e15) continue;
                            int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
                            double tx = ix - fx, ty = iy - fy;
                            double s = (1 - ty) * (1 - tx) * value_or_zero(&a, b, l, m, d, y0, x0) +
                                       (1 - ty) * tx * value_or_zero(&a, b, l, m, d, y0, x0 + 1) +
                                       ty * (1 - tx) * value_or_zero(&a, b, l, m, d, y0 + 1, x0) +
                                       ty * tx * value_or_zero(&a, b, l, m, d, y0 + 1, x0 + 1);
                            acc += a.weight[i] * s;
                        }
                    dst[(b * a.Lq + q) * a.M * a.D + m * a.D + d] = (float)acc;
                }
    return SEGC_OK;
}
