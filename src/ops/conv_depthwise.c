/* conv_depthwise.c - direct depthwise convolution (groups == C == K, one R x S filter per channel), any
   kernel size, stride, padding and dilation (MobileNetV2, Xception, SAM 2's 7x7 CXBlock). im2col would
   copy R*S times the input to feed a gemm of depth R*S; a direct loop needs no scratch.
   Dims: N batch, C channels, H x W input, R x S kernel, P x Q output.
   Every kernel tap computes once the output columns it can reach inside the image, so no loop tests
   bounds per pixel. 3x3 stride-1 kernels (most depthwise layers) get one more path for the interior
   rows: all nine taps per output in registers, one store per output instead of nine. */
#include <stdint.h>

#include "ops/conv_internal.h"

/* Kernel columns whose output ranges are computed once per call; wider kernels compute them per row. */
#define DW_MAX_COLS 16

/* What every output row of a call shares: the output columns each kernel column reaches inside the
   image (computing them per row costs two 64-bit divisions per tap, more than a small row's FMAs),
   and for 3x3 stride-1 kernels the interior columns [qa, qb) where all three taps do (else empty). */
typedef struct dw_plan {
    const segc_conv_geom *g;
    int64_t lo[DW_MAX_COLS], hi[DW_MAX_COLS];
    int64_t qa, qb;
} dw_plan;

/* Output columns [*lo, *hi) that kernel column s reaches inside the image. */
static void tap_cols(const dw_plan *pl, int64_t s, int64_t *lo, int64_t *hi) {
    const segc_conv_geom *g = pl->g;
    if (s < DW_MAX_COLS) {
        *lo = pl->lo[s], *hi = pl->hi[s];
    } else {
        segc_conv_valid_range(g->Q, g->W, g->sw, s * g->dw - g->pw, lo, hi);
    }
}

/* o[q] += wv * xrow[q sw + off] for q in [lo, hi): one kernel tap; the stride-1 and stride-2 loops
   are spelled out so the compiler vectorizes them with a constant stride. */
static void dw_tap(float *restrict o, const float *restrict xrow, float wv, int64_t off, int64_t sw, int64_t lo,
                   int64_t hi) {
    if (sw == 1) {
        for (int64_t q = lo; q < hi; q++) o[q] += wv * xrow[q + off];
    } else if (sw == 2) {
        for (int64_t q = lo; q < hi; q++) o[q] += wv * xrow[2 * q + off];
    } else {
        for (int64_t q = lo; q < hi; q++) o[q] += wv * xrow[q * sw + off];
    }
}

/* o[q] += sum_s w[s] * xrow[q sw + s dw - pw]: kernel row wr of one output row, each tap over the
   columns where it lands inside the image. */
static void dw_row_taps(const dw_plan *pl, const float *xrow, const float *wr, float *o) {
    const segc_conv_geom *g = pl->g;
    for (int64_t s = 0; s < g->S; s++) {
        int64_t lo, hi;
        tap_cols(pl, s, &lo, &hi);
        dw_tap(o, xrow, wr[s], s * g->dw - g->pw, g->sw, lo, hi);
    }
}

/* One output row of a 3x3 stride-1 kernel whose three input rows x0, x1, x2 are all inside the image,
   for the columns [qa, qb) where all three taps are too: o[q] = b + sum_{r,s} w[r][s] x_r[q + s dw - pw].
   Writes o without reading it. (A stride-2 version of this loop measured slower than the tap loops.) */
static void dw3x3_interior(const segc_conv_geom *g, const float *x0, const float *x1, const float *x2,
                          const float *w, float b, float *restrict o, int64_t qa, int64_t qb) {
    const int64_t d = g->dw, base = qa - g->pw;   /* input column of tap 0 at q = qa */
    const float *restrict a = x0 + base, *restrict m = x1 + base, *restrict z = x2 + base;
    const float w00 = w[0], w01 = w[1], w02 = w[2], w10 = w[3], w11 = w[4], w12 = w[5], w20 = w[6], w21 = w[7],
                w22 = w[8];
    o += qa;
    for (int64_t i = 0; i < qb - qa; i++)
        o[i] = b + w00 * a[i] + w01 * a[i + d] + w02 * a[i + 2 * d] + w10 * m[i] + w11 * m[i + d] +
               w12 * m[i + 2 * d] + w20 * z[i] + w21 * z[i + d] + w22 * z[i + 2 * d];
}

/* One output pixel, bounds checked per tap: the few border columns next to the 3x3 interior (a tap
   loop call per tap would cost more than the pixel). Same summation order as the other paths. */
static float dw_pixel(const segc_conv_geom *g, const float *xp, const float *wc, float b, int64_t p, int64_t q) {
    float acc = b;
    for (int64_t r = 0; r < g->R; r++) {
        int64_t ih = p * g->sh - g->ph + r * g->dh;
        if (ih < 0 || ih >= g->H) continue;
        for (int64_t s = 0; s < g->S; s++) {
            int64_t iw = q * g->sw - g->pw + s * g->dw;
            if (iw >= 0 && iw < g->W) acc += wc[r * g->S + s] * xp[ih * g->W + iw];
        }
    }
    return acc;
}

/* One output row o[Q] of the plane xp with the filter wc: the tap loops, or for a 3x3 kernel with all
   three input rows inside the image (stride 1), the interior path plus dw_pixel on the border columns. */
static void dw_output_row(const dw_plan *pl, const float *xp, const float *wc, float b, int64_t p, float *o) {
    const segc_conv_geom *g = pl->g;
    int64_t rlo, rhi, ih0 = p * g->sh - g->ph;   /* kernel rows that land inside the image */
    segc_conv_valid_range(g->R, g->H, g->dh, ih0, &rlo, &rhi);
    int64_t qa = pl->qa, qb = pl->qb;
    if (rlo == 0 && rhi == g->R && qa < qb) {
        for (int64_t q = 0; q < qa; q++) o[q] = dw_pixel(g, xp, wc, b, p, q);
        for (int64_t q = qb; q < g->Q; q++) o[q] = dw_pixel(g, xp, wc, b, p, q);
        const float *x0 = xp + ih0 * g->W;
        dw3x3_interior(g, x0, x0 + g->dh * g->W, x0 + 2 * g->dh * g->W, wc, b, o, qa, qb);
        return;
    }
    for (int64_t q = 0; q < g->Q; q++) o[q] = b;
    for (int64_t r = rlo; r < rhi; r++)
        dw_row_taps(pl, xp + (ih0 + r * g->dh) * g->W, wc + r * g->S, o);
}

/* out[n, c, p, q] = act(bias[c] + sum_{r,s} w[c, 0, r, s] x[n, c, p sh - ph + r dh, q sw - pw + s dw]);
   x: [N, C, H, W] with planes x_chan_stride apart, out: [N, C, P, Q] contiguous. Parallel over planes. */
void segc_conv_depthwise(const segc_conv_geom *g, const float *x, const float *w, const float *bias, segc_act act,
                         float *out) {
    int64_t planes = g->N * g->C, PQ = g->P * g->Q, RS = g->R * g->S;
    dw_plan pl = {.g = g, .qa = 0, .qb = 0};
    for (int64_t s = 0; s < g->S && s < DW_MAX_COLS; s++)
        segc_conv_valid_range(g->Q, g->W, g->sw, s * g->dw - g->pw, &pl.lo[s], &pl.hi[s]);
    if (g->R == 3 && g->S == 3 && g->sw == 1) {   /* taps 0 and 2 inside means tap 1 is too */
        pl.qa = pl.lo[0] > pl.lo[2] ? pl.lo[0] : pl.lo[2];
        pl.qb = pl.hi[0] < pl.hi[2] ? pl.hi[0] : pl.hi[2];
    }
    #pragma omp parallel for schedule(static) if (planes * PQ * RS >= SEGC_CONV_PARALLEL_MIN)
    for (int64_t t = 0; t < planes; t++) {
        int64_t n = t / g->C, c = t % g->C;
        const float *xp = x + n * g->x_batch_stride + c * g->x_chan_stride;
        float *op = out + t * PQ;
        for (int64_t p = 0; p < g->P; p++)
            dw_output_row(&pl, xp, w + c * RS, bias ? bias[c] : 0.0f, p, op + p * g->Q);
        if (act != SEGC_ACT_NONE) segc_act_apply(act, op, (size_t)PQ);
    }
}
