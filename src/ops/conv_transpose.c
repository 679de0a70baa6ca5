/* conv_transpose.c - transposed convolution (PyTorch ConvTranspose2d with groups 1, dilation 1,
   output_padding 0): col = w^T x by sgemm, then col2im scatters col into the output. Used by the
   SAM 2 mask decoder (k2s2 upscaling) and Mask R-CNN's mask head.
   Dims: N batch, C in-channels, H x W input; K out-channels, R x S kernel, Ho x Wo output with
   Ho = (H - 1) stride - 2 pad + R. Weight layout is PyTorch's [C, K, R, S]. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "ops/conv_internal.h"
#include "ops/gemm.h"

/* Bound on the column buffer: input rows are processed in tiles of at most this many bytes of col. */
#define CONVT_COL_BUDGET_BYTES ((int64_t)16 << 20)

typedef struct convt_geom {
    int64_t N, C, H, W, K, R, S, Ho, Wo;
    int stride, pad;
} convt_geom;

/* Validates the arguments and fills the geometry. */
static segc_status convt_check(const char *op, const segc_tensor *x, const segc_tensor *w, const segc_tensor *bias,
                               int stride, int pad, const segc_tensor *out, convt_geom *g) {
    segc_status st;
    if ((st = segc_conv_check_f32(op, "x", x, 4)) || (st = segc_conv_check_f32(op, "weight", w, 4)) ||
        (st = segc_conv_check_f32(op, "out", out, 4)))
        return st;
    if (!segc_tensor_is_contiguous(x) || !segc_tensor_is_contiguous(w) || !segc_tensor_is_contiguous(out))
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: x, weight and out must be contiguous", op);
    if (stride < 1 || pad < 0) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: bad stride %d / pad %d", op, stride, pad);
    char xs[96], ws[96], os[96];
    segc_tensor_shape_str(x, xs, sizeof xs);
    segc_tensor_shape_str(w, ws, sizeof ws);
    *g = (convt_geom){.N = x->shape[0], .C = x->shape[1], .H = x->shape[2], .W = x->shape[3], .K = w->shape[1],
                      .R = w->shape[2], .S = w->shape[3], .stride = stride, .pad = pad};
    if (w->shape[0] != g->C || g->R < 1 || g->S < 1)
        return segc_fail(SEGC_ERR_SHAPE, "%s: weight %s does not fit x %s (expected [%lld, K, R, S])", op, ws, xs,
                         (long long)g->C);
    g->Ho = (g->H - 1) * stride - 2 * (int64_t)pad + g->R;
    g->Wo = (g->W - 1) * stride - 2 * (int64_t)pad + g->S;
    if (g->H < 1 || g->W < 1 || g->Ho < 1 || g->Wo < 1)
        return segc_fail(SEGC_ERR_SHAPE, "%s: x %s with weight %s, stride %d, pad %d gives no output", op, xs, ws,
                         stride, pad);
    const int64_t want[4] = {g->N, g->K, g->Ho, g->Wo};
    if (!segc_tensor_has_shape(out, 4, want))
        return segc_fail(SEGC_ERR_SHAPE, "%s: out is %s, expected [%lld, %lld, %lld, %lld]", op,
                         segc_tensor_shape_str(out, os, sizeof os), (long long)g->N, (long long)g->K,
                         (long long)g->Ho, (long long)g->Wo);
    if (g->K * g->R * g->S > INT_MAX || g->C > INT_MAX || g->H * g->W > INT_MAX)
        return segc_fail(SEGC_ERR_SHAPE, "%s: x %s with weight %s is too large for sgemm", op, xs, ws);
    if (bias && (segc_conv_check_f32(op, "bias", bias, bias->ndim) || !segc_tensor_is_contiguous(bias) ||
                 segc_tensor_numel(bias) != g->K))
        return segc_fail(SEGC_ERR_SHAPE, "%s: bias must be contiguous f32 with %lld elements", op, (long long)g->K);
    return SEGC_OK;
}

/* out[k, ih stride - pad + r, iw stride - pad + s] += col[(k, r, s), (ih - ih0) W + iw] for the input
   rows ih in [ih0, ih0 + nh); out: one image [K, Ho, Wo]. Parallel over k: each thread owns planes.
   When stride == R == S (SAM 2's and Mask R-CNN's k2s2 upsampling) every output pixel receives exactly
   one tap: then it is written as col + bias[k] directly, with no zero-fill pass and no read of out. */
static void col2im_tile(const convt_geom *g, const float *col, const float *bias, int64_t ih0, int64_t nh,
                        float *out) {
    int exact = g->stride == g->R && g->stride == g->S;
    int64_t ncol = nh * g->W, st = g->stride;
    #pragma omp parallel for schedule(static) if (g->K * g->R * g->S * ncol >= SEGC_CONV_PARALLEL_MIN)
    for (int64_t k = 0; k < g->K; k++) {
        float *ok = out + k * g->Ho * g->Wo, b = bias ? bias[k] : 0.0f;
        for (int64_t r = 0; r < g->R; r++)
            for (int64_t s = 0; s < g->S; s++) {
                const float *cr = col + ((k * g->R + r) * g->S + s) * ncol;
                int64_t lo, hi, off = s - g->pad;
                segc_conv_valid_range(g->W, g->Wo, st, off, &lo, &hi);
                for (int64_t ih = ih0; ih < ih0 + nh; ih++) {
                    int64_t oh = ih * st - g->pad + r;
                    if (oh < 0 || oh >= g->Ho) continue;
                    float *orow = ok + oh * g->Wo;
                    const float *crow = cr + (ih - ih0) * g->W;
                    if (exact) {
                        for (int64_t iw = lo; iw < hi; iw++) orow[iw * st + off] = crow[iw] + b;
                    } else {
                        for (int64_t iw = lo; iw < hi; iw++) orow[iw * st + off] += crow[iw];
                    }
                }
            }
    }
}

segc_status segc_conv_transpose2d(segc_arena *scratch, const segc_tensor *x, const segc_tensor *w,
                                  const segc_tensor *bias, int stride, int pad, segc_tensor *out) {
    convt_geom g;
    segc_status st = convt_check("conv_transpose2d", x, w, bias, stride, pad, out, &g);
    if (st) return st;
    if (!scratch) return segc_fail(SEGC_ERR_INVALID_ARG, "conv_transpose2d: scratch is NULL");
    if (g.N == 0 || g.K == 0) return SEGC_OK;
    int64_t KRS = g.K * g.R * g.S, HW = g.H * g.W, plane = g.Ho * g.Wo;
    int64_t nh = CONVT_COL_BUDGET_BYTES / (KRS * g.W * (int64_t)sizeof(float));
    if (nh < 1) nh = 1;
    if (nh > g.H) nh = g.H;
    segc_arena_mark mark = segc_arena_get_mark(scratch);
    float *col = segc_arena_alloc_array(scratch, (size_t)(KRS * nh * g.W), sizeof(float));
    if (!col) return segc_fail_context(SEGC_ERR_NOMEM, "conv_transpose2d: column buffer");
    const float *xd = x->data, *wd = w->data, *bd = bias ? bias->data : NULL;
    float *od = out->data;
    for (int64_t n = 0; n < g.N; n++) {
        float *on = od + n * g.K * plane;
        if (!(g.stride == g.R && g.stride == g.S)) {   /* taps overlap: start from the bias (see col2im_tile) */
            #pragma omp parallel for schedule(static) if (g.K * plane >= SEGC_CONV_PARALLEL_MIN)
            for (int64_t k = 0; k < g.K; k++) {
                float b = bd ? bd[k] : 0.0f;
                for (int64_t i = 0; i < plane; i++) on[k * plane + i] = b;
            }
        }
        for (int64_t ih0 = 0; ih0 < g.H; ih0 += nh) {
            int64_t th = g.H - ih0 < nh ? g.H - ih0 : nh;
            /* col[K R S, th W] = w[C, K R S]^T x[C, th W] */
            segc_sgemm(1, 0, (int)KRS, (int)(th * g.W), (int)g.C, 1.0f, wd, (int)KRS, xd + n * g.C * HW + ih0 * g.W,
                       (int)HW, 0.0f, col, (int)(th * g.W));
            col2im_tile(&g, col, bd, ih0, th, on);
        }
    }
    segc_arena_release(scratch, mark);
    return SEGC_OK;
}

/* The oracle: the obvious scatter of every input pixel through every kernel tap. */
segc_status segc_conv_transpose2d_reference(const segc_tensor *x, const segc_tensor *w, const segc_tensor *bias,
                                            int stride, int pad, segc_tensor *out) {
    convt_geom g;
    segc_status st = convt_check("conv_transpose2d_reference", x, w, bias, stride, pad, out, &g);
    if (st) return st;
    const float *xd = x->data, *wd = w->data, *bd = bias ? bias->data : NULL;
    float *od = out->data;
    int64_t plane = g.Ho * g.Wo;
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t k = 0; k < g.K; k++)
            for (int64_t i = 0; i < plane; i++) od[(n * g.K + k) * plane + i] = bd ? bd[k] : 0.0f;
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t c = 0; c < g.C; c++)
            for (int64_t ih = 0; ih < g.H; ih++)
                for (int64_t iw = 0; iw < g.W; iw++) {
                    float v = xd[((n * g.C + c) * g.H + ih) * g.W + iw];
                    for (int64_t k = 0; k < g.K; k++)
                        for (int64_t r = 0; r < g.R; r++)
                            for (int64_t s = 0; s < g.S; s++) {
                                int64_t oh = ih * stride - pad + r, ow = iw * stride - pad + s;
                                if (oh < 0 || oh >= g.Ho || ow < 0 || ow >= g.Wo) continue;
                                float wv = wd[((c * g.K + k) * g.R + r) * g.S + s];
                                od[((n * g.K + k) * g.Ho + oh) * g.Wo + ow] += v * wv;
                            }
                }
    return SEGC_OK;
}
