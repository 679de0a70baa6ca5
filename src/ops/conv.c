/* conv.c - 2-D convolution entry points (see conv.h): shape checks, the dispatch between the three
   kernels, the 1x1 and im2col + sgemm kernels, the seven-loop oracle and batch-norm folding.
   Dims: N batch, C in-channels, H x W input; K out-channels, R x S kernel, P x Q output; per group
   Cg = C / groups, Kg = K / groups. The gemm is oriented out[Kg, P*Q] = w[Kg, Cg*R*S] col[Cg*R*S, P*Q]
   so that its long side is the image. The depthwise kernel lives in conv_depthwise.c, transposed
   convolution in conv_transpose.c. */
#include "ops/conv.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "ops/conv_internal.h"
#include "ops/gemm.h"

/* Upper bound on one im2col buffer: the output rows are processed in tiles so that the column
   matrix of a tile stays under this many bytes whatever the image size. On one thread 2-32 MiB
   measured the same and 1 MiB shrinks the gemm too much; on a loaded machine fewer, larger tiles
   (fewer parallel regions) did better. Override with -D to tune. */
#ifndef CONV_COL_BUDGET_BYTES
#define CONV_COL_BUDGET_BYTES ((int64_t)16 << 20)
#endif

/* Bias + activation pass: rows are cut into chunks of this many floats so the pass parallelizes
   even when there are few rows, and each chunk is still hot when the activation reads it. */
#define CONV_EPILOGUE_CHUNK 4096

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

/* out[k, i] = act(out[k, i] + bias[k]) over `rows` rows of `len` floats, `ld` apart. */
static void bias_act_rows(float *out, int64_t rows, int64_t len, int64_t ld, const float *bias, segc_act act) {
    if (!bias && act == SEGC_ACT_NONE) return;
    int64_t nchunk = (len + CONV_EPILOGUE_CHUNK - 1) / CONV_EPILOGUE_CHUNK;
    #pragma omp parallel for schedule(static) if (rows * len >= SEGC_CONV_PARALLEL_MIN)
    for (int64_t t = 0; t < rows * nchunk; t++) {
        int64_t k = t / nchunk, i0 = (t % nchunk) * CONV_EPILOGUE_CHUNK;
        int64_t n = len - i0 < CONV_EPILOGUE_CHUNK ? len - i0 : CONV_EPILOGUE_CHUNK;
        float *o = out + k * ld + i0;
        if (bias) {
            float b = bias[k];
            for (int64_t i = 0; i < n; i++) o[i] += b;
        }
        if (act != SEGC_ACT_NONE) segc_act_apply(act, o, (size_t)n);
    }
}

/* 1x1, stride 1, no padding: per image and group, out[Kg, H*W] = w[Kg, Cg] x[Cg, H*W] read in place. */
static void conv_1x1(const segc_conv_geom *g, const float *x, const float *w, const float *bias, segc_act act,
                     float *out) {
    int64_t Cg = g->C / g->groups, Kg = g->K / g->groups, HW = g->H * g->W;
    for (int64_t n = 0; n < g->N; n++) {
        float *on = out + n * g->K * HW;
        for (int gi = 0; gi < g->groups; gi++)
            segc_sgemm(0, 0, (int)Kg, (int)HW, (int)Cg, 1.0f, w + gi * Kg * Cg, (int)Cg,
                       x + n * g->x_batch_stride + gi * Cg * g->x_chan_stride, (int)g->x_chan_stride, 0.0f,
                       on + gi * Kg * HW, (int)HW);
        bias_act_rows(on, g->K, HW, HW, bias, act);
    }
}

/* col[(c, r, s), (p - p0) Q + q] = x[c, p sh - ph + r dh, q sw - pw + s dw] (0 outside the image) for the
   output rows p in [p0, p0 + np); x points at the group's first channel. Parallel over col rows; each
   (r, s) tap computes its valid q range once, so the copy loops have no bounds tests. */
static void im2col_tile(const segc_conv_geom *g, const float *x, int64_t Cg, int64_t p0, int64_t np, float *col) {
    int64_t RS = g->R * g->S, rows = Cg * RS, ncol = np * g->Q, Q = g->Q, W = g->W;
    #pragma omp parallel for schedule(static) if (rows * ncol >= SEGC_CONV_PARALLEL_MIN)
    for (int64_t row = 0; row < rows; row++) {
        int64_t c = row / RS, r = (row / g->S) % g->R, s = row % g->S;
        int64_t plo, phi, qlo, qhi, xoff = s * g->dw - g->pw, sw = g->sw;
        segc_conv_valid_range(g->P, g->H, g->sh, r * g->dh - g->ph, &plo, &phi);
        segc_conv_valid_range(Q, W, sw, xoff, &qlo, &qhi);
        const float *xc = x + c * g->x_chan_stride;
        float *dst = col + row * ncol;
        for (int64_t p = p0; p < p0 + np; p++) {
            float *d = dst + (p - p0) * Q;
            if (p < plo || p >= phi || qlo >= qhi) {
                memset(d, 0, (size_t)Q * sizeof(float));
                continue;
            }
            const float *xrow = xc + (p * g->sh + r * g->dh - g->ph) * W;
            memset(d, 0, (size_t)qlo * sizeof(float));
            if (sw == 1) {
                memcpy(d + qlo, xrow + qlo + xoff, (size_t)(qhi - qlo) * sizeof(float));
            } else if (sw == 2) {   /* a constant stride lets the compiler vectorize the gather */
                for (int64_t q = qlo; q < qhi; q++) d[q] = xrow[2 * q + xoff];
            } else {
                for (int64_t q = qlo; q < qhi; q++) d[q] = xrow[q * sw + xoff];
            }
            memset(d + qhi, 0, (size_t)(Q - qhi) * sizeof(float));
        }
    }
}

/* General case: per image, group and tile of output rows, im2col then one sgemm into out, then the
   bias + activation pass on the tile while it is still in cache. */
static segc_status conv_im2col(segc_arena *scratch, const segc_conv_geom *g, const float *x, const float *w,
                               const float *bias, segc_act act, float *out) {
    int64_t Cg = g->C / g->groups, Kg = g->K / g->groups, rows = Cg * g->R * g->S, PQ = g->P * g->Q;
    int64_t row_bytes = rows * g->Q * (int64_t)sizeof(float);
    int64_t np = CONV_COL_BUDGET_BYTES / (row_bytes > 0 ? row_bytes : 1);
    if (np < 1) np = 1;
    if (np > g->P) np = g->P;
    int64_t ntiles = (g->P + np - 1) / np;
    np = (g->P + ntiles - 1) / ntiles;   /* even tiles */
    segc_arena_mark mark = segc_arena_get_mark(scratch);
    float *col = segc_arena_alloc_array(scratch, (size_t)(rows * np * g->Q), sizeof(float));
    if (!col && rows > 0) return segc_fail_context(SEGC_ERR_NOMEM, "conv2d: im2col buffer");
    for (int64_t n = 0; n < g->N; n++) {
        for (int gi = 0; gi < g->groups; gi++) {
            const float *xg = x + n * g->x_batch_stride + gi * Cg * g->x_chan_stride;
            float *og = out + (n * g->K + gi * Kg) * PQ;
            for (int64_t p0 = 0; p0 < g->P; p0 += np) {
                int64_t tp = g->P - p0 < np ? g->P - p0 : np, ncol = tp * g->Q;
                if (rows > 0) im2col_tile(g, xg, Cg, p0, tp, col);
                segc_sgemm(0, 0, (int)Kg, (int)ncol, (int)rows, 1.0f, w + gi * Kg * rows, (int)(rows > 0 ? rows : 1),
                           col, (int)ncol, 0.0f, og + p0 * g->Q, (int)PQ);
                bias_act_rows(og + p0 * g->Q, Kg, ncol, PQ, bias ? bias + gi * Kg : NULL, act);
            }
        }
    }
    segc_arena_release(scratch, mark);
    return SEGC_OK;
}

segc_status segc_conv2d(segc_arena *scratch, const segc_tensor *x, const segc_tensor *w, const segc_tensor *bias,
                        const segc_conv2d_params *p, segc_tensor *out) {
    segc_conv_geom g;
    segc_status st = conv_geom("conv2d", x, w, bias, p, out, &g);
    if (st) return st;
    if (g.N == 0 || g.K == 0) return SEGC_OK;
    const float *xd = x->data, *wd = w->data, *bd = bias ? bias->data : NULL;
    float *od = out->data;
    if (g.R == 1 && g.S == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0) {
        conv_1x1(&g, xd, wd, bd, p->act, od);
        return SEGC_OK;
    }
    if (g.groups == g.C && g.C == g.K) {
        segc_conv_depthwise(&g, xd, wd, bd, p->act, od);
        return SEGC_OK;
    }
    if (!scratch) return segc_fail(SEGC_ERR_INVALID_ARG, "conv2d: this convolution needs a scratch arena");
    return conv_im2col(scratch, &g, xd, wd, bd, p->act, od);
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
