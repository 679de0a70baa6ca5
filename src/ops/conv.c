/* conv.c - 2-D convolution entry points (see conv.h): shape checks, the dispatch between the dense
   kernel (conv_gemm.c: im2col into a packed matrix product, 1x1 convs reading the input in place) and the
   depthwise one (conv_depthwise.c), the seven-loop oracle and batch-norm folding. Transposed convolution
   lives in conv_transpose.c. Dims: N batch, C in-channels, H x W input; K out-channels, R x S kernel,
   P x Q output; per group Cg = C / groups, Kg = K / groups. */
#include "ops/conv.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "ops/conv_internal.h"

segc_conv2d_params segc_conv2d_params_make(int stride, int pad, int dilation, int groups) {
    segc_conv2d_params p = {stride, stride, pad, pad, dilation, dilation, groups, SEGC_ACT_NONE};
    return p;
}

/* PyTorch's formula; 0 (no output) for invalid arguments or an input smaller than the kernel. */
int64_t segc_conv2d_out_dim(int64_t in, int k, int stride, int pad, int dilation) {
    if (in < 0 || k < 1 || stride < 1 || pad < 0 || dilation < 1) return 0;
    int64_t span = in + 2 * (int64_t)pad - (int64_t)dilation * (k - 1) - 1;
    return span < 0 ? 0 : span / stride + 1;
}

segc_status segc_conv_check_f32(const char *op, const char *name, const segc_tensor *t, int ndim) {
    if (!t || !t->data) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: %s is NULL", op, name);
    if (t->dtype != SEGC_F32)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: %s is %s, expected f32", op, name, segc_dtype_name(t->dtype));
    if (t->ndim != ndim)
        return segc_fail(SEGC_ERR_SHAPE, "%s: %s has %d dims, expected %d", op, name, t->ndim, ndim);
    return SEGC_OK;
}

/* True if the byte ranges of two tensors' data overlap (an in-place conv is not supported). */
static int overlaps(const segc_tensor *a, const segc_tensor *b) {
    const char *a0 = a->data, *b0 = b->data;
    int64_t an = 0, bn = 0;   /* extent in elements: last element offset + 1 */
    for (int i = 0; i < a->ndim; i++) an += (a->shape[i] - 1) * a->stride[i];
    for (int i = 0; i < b->ndim; i++) bn += (b->shape[i] - 1) * b->stride[i];
    const char *a1 = a0 + (an + 1) * 4, *b1 = b0 + (bn + 1) * 4;
    return a0 < b1 && b0 < a1;
}

/* Validates x, w, bias and params and fills the geometry; `out` is checked too unless NULL. */
static segc_status conv_geom(const char *op, const segc_tensor *x, const segc_tensor *w, const segc_tensor *bias,
                             const segc_conv2d_params *p, const segc_tensor *out, segc_conv_geom *g) {
    segc_status st;
    if ((st = segc_conv_check_f32(op, "x", x, 4)) || (st = segc_conv_check_f32(op, "weight", w, 4))) return st;
    if (!p) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: params is NULL", op);
    if (p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1 || p->pad_h < 0 ||
        p->pad_w < 0 || p->groups < 1 || (int)p->act < SEGC_ACT_NONE || (int)p->act > SEGC_ACT_HARDSWISH)
        return segc_fail(SEGC_ERR_INVALID_ARG,
                         "%s: bad params stride %dx%d pad %dx%d dilation %dx%d groups %d act %d", op, p->stride_h,
                         p->stride_w, p->pad_h, p->pad_w, p->dilation_h, p->dilation_w, p->groups, (int)p->act);
    char xs[96], ws[96], os[96];
    segc_tensor_shape_str(x, xs, sizeof xs);
    segc_tensor_shape_str(w, ws, sizeof ws);
    *g = (segc_conv_geom){.N = x->shape[0], .C = x->shape[1], .H = x->shape[2], .W = x->shape[3],
                          .K = w->shape[0], .R = w->shape[2], .S = w->shape[3],
                          .sh = p->stride_h, .sw = p->stride_w, .ph = p->pad_h, .pw = p->pad_w,
                          .dh = p->dilation_h, .dw = p->dilation_w, .groups = p->groups};
    const int64_t *xst = x->stride;
    if (segc_tensor_is_contiguous(x)) {
        g->x_chan_stride = g->H * g->W;
        g->x_batch_stride = g->C * g->H * g->W;
    } else if (xst[3] == 1 && xst[2] == g->W && xst[1] >= g->H * g->W && xst[0] >= 0) {
        g->x_chan_stride = xst[1];
        g->x_batch_stride = xst[0];
    } else {
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: x %s must be contiguous (or a batch/channel slice of a "
                         "contiguous tensor)", op, xs);
    }
    if (!segc_tensor_is_contiguous(w)) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: weight must be contiguous", op);
    if (g->C % g->groups || g->K % g->groups)
        return segc_fail(SEGC_ERR_SHAPE, "%s: x %s and weight %s: channels not divisible by groups %d", op, xs, ws,
                         g->groups);
    if (w->shape[1] != g->C / g->groups || g->R < 1 || g->S < 1)
        return segc_fail(SEGC_ERR_SHAPE, "%s: weight %s does not fit x %s with groups %d (expected [K, %lld, R, S])",
                         op, ws, xs, g->groups, (long long)(g->C / g->groups));
    if (g->R > INT_MAX || g->S > INT_MAX)
        return segc_fail(SEGC_ERR_SHAPE, "%s: weight %s is too large", op, ws);
    g->P = segc_conv2d_out_dim(g->H, (int)g->R, g->sh, g->ph, g->dh);
    g->Q = segc_conv2d_out_dim(g->W, (int)g->S, g->sw, g->pw, g->dw);
    if (g->P < 1 || g->Q < 1)
        return segc_fail(SEGC_ERR_SHAPE, "%s: x %s is smaller than the (dilated, padded) kernel %s", op, xs, ws);
    /* sgemm takes int sizes: the per-group weight matrix, one output row and one channel stride */
    int64_t Cg = g->C / g->groups;
    if (g->K > INT_MAX || Cg * g->R * g->S > INT_MAX || g->P * g->Q > INT_MAX || g->x_chan_stride > INT_MAX)
        return segc_fail(SEGC_ERR_SHAPE, "%s: x %s with weight %s is too large for sgemm", op, xs, ws);
    if (bias) {
        if ((st = segc_conv_check_f32(op, "bias", bias, bias->ndim)) || !segc_tensor_is_contiguous(bias) ||
            segc_tensor_numel(bias) != g->K)
            return segc_fail(SEGC_ERR_SHAPE, "%s: bias must be contiguous f32 with %lld elements", op,
                             (long long)g->K);
    }
    if (!out) return SEGC_OK;
    if ((st = segc_conv_check_f32(op, "out", out, 4))) return st;
    const int64_t want[4] = {g->N, g->K, g->P, g->Q};
    if (!segc_tensor_has_shape(out, 4, want))
        return segc_fail(SEGC_ERR_SHAPE, "%s: out is %s, expected [%lld, %lld, %lld, %lld] for x %s, weight %s", op,
                         segc_tensor_shape_str(out, os, sizeof os), (long long)g->N, (long long)g->K,
                         (long long)g->P, (long long)g->Q, xs, ws);
    if (!segc_tensor_is_contiguous(out)) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: out must be contiguous", op);
    if (segc_tensor_numel(out) > 0 && segc_tensor_numel(x) > 0 && overlaps(out, x))
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: out overlaps x (in-place convolution is not supported)", op);
    return SEGC_OK;
}

/* out = act(conv(x, w) + bias + res) with the geometry validated; res NULL or laid out like out. */
static segc_status conv_run(segc_arena *scratch, const segc_conv_geom *g, const float *x, const float *w,
                            const float *bias, const float *res, segc_act act, float *out) {
    const int is_1x1 = g->R == 1 && g->S == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
    if (g->groups == g->C && g->C == g->K) {
        segc_conv_depthwise(g, x, w, bias, res ? SEGC_ACT_NONE : act, out);
        if (res) {   /* the depthwise kernel has no residual: one more pass (res never aliases out here) */
            int64_t n = g->N * g->K * g->P * g->Q;
            #pragma omp parallel for schedule(static) if (n >= SEGC_CONV_PARALLEL_MIN)
            for (int64_t i = 0; i < n; i++) out[i] += res[i];
            if (act != SEGC_ACT_NONE) segc_act_apply(act, out, (size_t)n);
        }
        return SEGC_OK;
    }
    if (scratch) return segc_conv_dense(scratch, g, x, w, bias, res, act, out);
    if (!is_1x1) return segc_fail(SEGC_ERR_INVALID_ARG, "conv2d: this convolution needs a scratch arena");
    segc_arena local;   /* 1x1 convs never needed a scratch arena: keep taking NULL */
    segc_arena_init(&local, 0);
    segc_status st = segc_conv_dense(&local, g, x, w, bias, res, act, out);
    segc_arena_free(&local);
    return st;
}

segc_status segc_conv2d(segc_arena *scratch, const segc_tensor *x, const segc_tensor *w, const segc_tensor *bias,
                        const segc_conv2d_params *p, segc_tensor *out) {
    segc_conv_geom g;
    segc_status st = conv_geom("conv2d", x, w, bias, p, out, &g);
    if (st) return st;
    if (g.N == 0 || g.K == 0) return SEGC_OK;
    return conv_run(scratch, &g, x->data, w->data, bias ? bias->data : NULL, NULL, p->act, out->data);
}

segc_status segc_conv2d_residual(segc_arena *scratch, const segc_tensor *x, const segc_tensor *w,
                                 const segc_tensor *bias, const segc_tensor *residual, const segc_conv2d_params *p,
                                 segc_tensor *out) {
    segc_conv_geom g;
    segc_status st = conv_geom("conv2d_residual", x, w, bias, p, out, &g);
    if (st) return st;
    char rs[96], os[96];
    if (!residual || residual->dtype != SEGC_F32 || !segc_tensor_is_contiguous(residual) ||
        !segc_tensor_has_shape(residual, 4, out->shape))
        return segc_fail(SEGC_ERR_SHAPE, "conv2d_residual: residual %s must be contiguous f32 shaped like out %s",
                         residual ? segc_tensor_shape_str(residual, rs, sizeof rs) : "NULL",
                         segc_tensor_shape_str(out, os, sizeof os));
    const int depthwise = g.groups == g.C && g.C == g.K;
    if (segc_tensor_numel(out) > 0 && overlaps(residual, out) && (residual->data != out->data || depthwise))
        return segc_fail(SEGC_ERR_INVALID_ARG, "conv2d_residual: the residual overlaps out%s",
                         depthwise ? " (depthwise convs need them apart)" : " without being out");
    if (g.N == 0 || g.K == 0) return SEGC_OK;
    return conv_run(scratch, &g, x->data, w->data, bias ? bias->data : NULL, residual->data, p->act, out->data);
}

segc_status segc_conv2d_new(segc_arena *arena, const segc_tensor *x, const segc_tensor *w, const segc_tensor *bias,
                            const segc_conv2d_params *p, segc_tensor *out) {
    segc_conv_geom g;
    segc_status st = conv_geom("conv2d", x, w, bias, p, NULL, &g);
    if (st) return st;
    if (!arena) return segc_fail(SEGC_ERR_INVALID_ARG, "conv2d: arena is NULL");
    segc_arena_mark mark = segc_arena_get_mark(arena);
    const int64_t shape[4] = {g.N, g.K, g.P, g.Q};
    if ((st = segc_tensor_new(arena, SEGC_F32, 4, shape, out))) return segc_fail_context(st, "conv2d");
    if ((st = segc_conv2d(arena, x, w, bias, p, out))) segc_arena_release(arena, mark);
    return st;
}

/* The oracle: for every output element, the double-precision sum over its group's channels and the
   kernel taps that land inside the image, then the bias and the scalar activation. */
segc_status segc_conv2d_reference(const segc_tensor *x, const segc_tensor *w, const segc_tensor *bias,
                                  const segc_conv2d_params *p, segc_tensor *out) {
    segc_conv_geom g;
    segc_status st = conv_geom("conv2d_reference", x, w, bias, p, out, &g);
    if (st) return st;
    const float *xd = x->data, *wd = w->data, *bd = bias ? bias->data : NULL;
    float *od = out->data;
    int64_t Cg = g.C / g.groups, Kg = g.K / g.groups;
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t k = 0; k < g.K; k++)
            for (int64_t oh = 0; oh < g.P; oh++)
                for (int64_t ow = 0; ow < g.Q; ow++) {
                    double acc = bd ? bd[k] : 0.0;
                    int64_t c0 = (k / Kg) * Cg;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t r = 0; r < g.R; r++)
                            for (int64_t s = 0; s < g.S; s++) {
                                int64_t ih = oh * g.sh - g.ph + r * g.dh, iw = ow * g.sw - g.pw + s * g.dw;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                acc += (double)xd[n * g.x_batch_stride + (c0 + c) * g.x_chan_stride + ih * g.W + iw] *
                                       wd[((k * Cg + c) * g.R + r) * g.S + s];
                            }
                    od[((n * g.K + k) * g.P + oh) * g.Q + ow] = (float)acc;
                }
    segc_act_apply_reference(p->act, od, (size_t)segc_tensor_numel(out));
    return SEGC_OK;
}

/* Checks one batch-norm vector: contiguous float32 with K elements. */
static segc_status check_bn_vector(const char *name, const segc_tensor *t, int64_t K) {
    segc_status st = segc_conv_check_f32("fold_batchnorm", name, t, t ? t->ndim : 1);
    if (st) return st;
    if (!segc_tensor_is_contiguous(t) || segc_tensor_numel(t) != K)
        return segc_fail(SEGC_ERR_SHAPE, "fold_batchnorm: %s must be contiguous with %lld elements", name,
                         (long long)K);
    return SEGC_OK;
}

/* w[k,...] *= s[k], bias[k] = (bias[k] - mean[k]) s[k] + beta[k], s = gamma / sqrt(var + eps), in double.
   Everything is checked before anything is written, so a failure leaves w and bias untouched. */
segc_status segc_fold_batchnorm(segc_tensor *w, segc_tensor *bias_out, const segc_tensor *gamma,
                                const segc_tensor *beta, const segc_tensor *mean, const segc_tensor *var, float eps) {
    segc_status st = segc_conv_check_f32("fold_batchnorm", "weight", w, w ? w->ndim : 1);
    if (st) return st;
    if (w->ndim < 1 || !segc_tensor_is_contiguous(w))
        return segc_fail(SEGC_ERR_INVALID_ARG, "fold_batchnorm: weight must be contiguous [K, ...]");
    int64_t K = w->shape[0], per = K > 0 ? segc_tensor_numel(w) / K : 0;
    if ((st = check_bn_vector("bias", bias_out, K)) || (st = check_bn_vector("gamma", gamma, K)) ||
        (st = check_bn_vector("beta", beta, K)) || (st = check_bn_vector("running_mean", mean, K)) ||
        (st = check_bn_vector("running_var", var, K)))
        return st;
    const float *vd = var->data;
    for (int64_t k = 0; k < K; k++)
        if (!((double)vd[k] + eps > 0.0))
            return segc_fail(SEGC_ERR_INVALID_ARG, "fold_batchnorm: running_var[%lld] + eps = %g is not positive",
                             (long long)k, (double)vd[k] + eps);
    float *wd = w->data, *bd = bias_out->data;
    const float *gd = gamma->data, *btd = beta->data, *md = mean->data;
    for (int64_t k = 0; k < K; k++) {
        double s = gd[k] / sqrt((double)vd[k] + eps);
        for (int64_t i = 0; i < per; i++) wd[k * per + i] = (float)(wd[k * per + i] * s);
        bd[k] = (float)(((double)bd[k] - md[k]) * s + btd[k]);
    }
    return SEGC_OK;
}
