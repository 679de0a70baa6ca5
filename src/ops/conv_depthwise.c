/* conv_depthwise.c - direct depthwise convolution (groups == C == K, one R x S filter per channel), any
   kernel size, stride, padding and dilation (MobileNetV2, Xception). im2col would copy R*S times the
   input to feed a gemm of depth R*S; a direct loop is memory-bound and needs no scratch.
   Dims: N batch, C channels, H x W input, R x S kernel, P x Q output. */
#include <stdint.h>

#include "ops/conv_internal.h"

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

/* One output row o[Q] += sum over the taps of kernel row r of w[s] * xrow[q sw + s dw - pw].
   Each tap's valid q range is computed once, so the border needs no test inside the loop. (Fusing
   the three taps of a 3x3 row into one pass over o measured slower: o stays in L1 anyway.) */
static void dw_row_taps(const segc_conv_geom *g, const float *xrow, const float *wr, float *o) {
    for (int64_t s = 0; s < g->S; s++) {
        int64_t off = s * g->dw - g->pw, lo, hi;
        segc_conv_valid_range(g->Q, g->W, g->sw, off, &lo, &hi);
        dw_tap(o, xrow, wr[s], off, g->sw, lo, hi);
    }
}

/* out[n, c, p, q] = act(bias[c] + sum_{r,s} w[c, 0, r, s] x[n, c, p sh - ph + r dh, q sw - pw + s dw]);
   x: [N, C, H, W] with planes x_chan_stride apart, out: [N, C, P, Q] contiguous. Parallel over planes. */
void segc_conv_depthwise(const segc_conv_geom *g, const float *x, const float *w, const float *bias, segc_act act,
                         float *out) {
    int64_t planes = g->N * g->C, PQ = g->P * g->Q, RS = g->R * g->S;
    #pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < planes; t++) {
        int64_t n = t / g->C, c = t % g->C;
        const float *xp = x + n * g->x_batch_stride + c * g->x_chan_stride;
        const float *wc = w + c * RS;
        float *op = out + t * PQ;
        float b = bias ? bias[c] : 0.0f;
        for (int64_t p = 0; p < g->P; p++) {
            float *o = op + p * g->Q;
            for (int64_t q = 0; q < g->Q; q++) o[q] = b;
            int64_t rlo, rhi;   /* kernel rows that land inside the image for this output row */
            segc_conv_valid_range(g->R, g->H, g->dh, p * g->sh - g->ph, &rlo, &rhi);
            for (int64_t r = rlo; r < rhi; r++)
                dw_row_taps(g, xp + (p * g->sh - g->ph + r * g->dh) * g->W, wc + r * g->S, o);
        }
        if (act != SEGC_ACT_NONE) segc_act_apply(act, op, (size_t)PQ);
    }
}
