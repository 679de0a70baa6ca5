/* resize.c - F.interpolate on [N,C,H,W] float32 maps (see resize.h), PyTorch 1.13's CPU semantics.
   Dims: N batch, C channels, H x W input, Ho x Wo output.
   Coordinates: every mode maps an output index to input taps with PyTorch's own formulas
   (area_pixel_compute_scale / area_pixel_compute_source_index / nearest_idx in aten/src/ATen/native/
   UpSample.h and the HelperInterp* classes of native/cpu/UpSampleKernel.cpp) at the same float / double
   precision per step, so the chosen taps match torch 1.13 exactly (checked against torch for every size
   pair 1..96 and 3000 random scale factors; weights to 1 ulp, bicubic to 1.4e-6). The fast path is separable: per axis a table lists, for each output
   index, `taps` clamped input indices and float weights (1 nearest, 2 bilinear, 4 bicubic,
   2*ceil(support)+1 antialias). A block of output rows of one plane is made by resizing each input row it
   needs horizontally (once, into a per-thread [H, Wo] buffer), then summing those rows vertically:
   sum_h wh * (sum_w ww * x), the same order of float operations as PyTorch's generic kernel.
   Not here: area mode, bicubic antialias, 3-D / 5-D inputs. */
#include "ops/resize.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/status.h"

/* Float scales beyond this (scale_factor below 2^-24) are refused: indices would overflow. */
#define RESIZE_MAX_SCALE 16777216.0
/* PyTorch's bicubic convolution constant (UpSample.h get_cubic_upsample_coefficients). */
#define CUBIC_A (-0.75f)
/* Fewest output rows per work item when a plane is split between threads. */
#define RESIZE_MIN_BLOCK_ROWS 16
/* Below this much work (output elements x taps) one thread is faster than waking the pool. */
#define RESIZE_PARALLEL_MIN_WORK (1 << 15)

/* One axis of a separable resize: out[o] = sum_t wt[o*taps + t] * in[idx[o*taps + t]]. */
typedef struct axis_table {
    int64_t in, out, taps;
    int64_t *idx;  /* [out * taps], each in [0, in) */
    float *wt;     /* [out * taps] */
} axis_table;

segc_resize_params segc_resize_params_make(segc_resize_mode mode, int align_corners) {
    segc_resize_params p;
    memset(&p, 0, sizeof p);
    p.mode = mode;
    p.align_corners = align_corners;
    return p;
}

int64_t segc_resize_out_dim(int64_t in, double scale_factor) {
    if (in < 0 || !isfinite(scale_factor) || scale_factor <= 0) return -1;
    double o = floor((double)in * scale_factor);
    if (o >= 9.0e18) return -1;
    return (int64_t)o;
}

/* ---- coordinate formulas, shared by the fast path and the reference ---- */

/* area_pixel_compute_scale<float>: input step per output step. */
static float pixel_scale(int64_t in, int64_t out, int align_corners, double scale_factor) {
    if (align_corners) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    if (scale_factor > 0) return (float)(1.0 / scale_factor);
    return (float)in / (float)out;
}

/* area_pixel_compute_source_index: the real input coordinate of output index dst. The scale is a float
   but the coordinate is kept in double: that is what PyTorch 1.13's CPU kernels compute (checked
   exhaustively against torch for sizes 1..96 and random scale factors; rounding it to float moves the
   lerp weights by up to 1e-5 on maps of a few hundred pixels). */
static double source_index(float scale, int64_t dst, int align_corners, int cubic) {
    if (align_corners) return (double)scale * (double)dst;
    double src = (double)scale * ((double)dst + 0.5) - 0.5;
    return (!cubic && src < 0) ? 0.0 : src;
}

static int64_t clamp_index(int64_t i, int64_t n) {
    return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

/* mode='nearest': min(floor(dst * scale), in - 1), except that an output of the input's size copies and one
   of twice its size takes dst / 2 whatever the scale_factor (nearest_idx's shortcuts in PyTorch 1.13);
   'nearest-exact': min(floor((dst + 0.5) * scale), in - 1). */
static int64_t nearest_source(float scale, int64_t dst, int64_t in, int64_t out, int exact) {
    if (!exact && out == in) return dst;
    if (!exact && out == 2 * in) return dst >> 1;
    float s = exact ? (float)(((double)dst + 0.5) * (double)scale) : (float)dst * scale;
    return clamp_index((int64_t)floorf(s), in);
}

/* compute_source_index_and_lambda: the two taps of linear interpolation and their weights. An output of
   the input's size copies (PyTorch's shortcut); indices and lambda are clamped into range (a no-op for
   consistent sizes, a guard when a caller pairs an output size with an unrelated scale_factor). */
static void linear_taps(float scale, int64_t dst, int64_t in, int64_t out, int align_corners, int64_t idx[2],
                        float w[2]) {
    if (out == in) {
        idx[0] = idx[1] = dst;
        w[0] = 1.0f, w[1] = 0.0f;
        return;
    }
    double real = source_index(scale, dst, align_corners, 0);
    int64_t i0 = clamp_index((int64_t)real, in);
    float l1 = (float)(real - (double)i0);
    l1 = l1 < 0 ? 0.0f : (l1 > 1 ? 1.0f : l1);
    idx[0] = i0;
    idx[1] = i0 < in - 1 ? i0 + 1 : i0;
    w[0] = 1.0f - l1, w[1] = l1;
}

/* Keys cubic convolution weights for the 4 taps around a point at fraction t (A = -0.75). */
static void cubic_coeffs(float t, float c[4]) {
    const float A = CUBIC_A;
    float x1 = t + 1.0f, x2 = 1.0f - t, x3 = 2.0f - t;
    c[0] = ((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A;
    c[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    c[2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
    c[3] = ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A;
}

/* HelperInterpCubic: taps floor(real) - 1 .. floor(real) + 2, clamped to the border. */
static void cubic_taps(float scale, int64_t dst, int64_t in, int align_corners, int64_t idx[4], float w[4]) {
    double real = source_index(scale, dst, align_corners, 1);
    double fl = floor(real);
    int64_t i0 = (int64_t)fl;
    cubic_coeffs((float)(real - fl), w);
    for (int j = 0; j < 4; j++) idx[j] = clamp_index(i0 - 1 + j, in);
}

/* Antialias (triangle filter) window of output index dst, as HelperInterpBase::_compute_weights_aa:
   support = scale (downscaling) or 1, center = scale * (dst + 0.5); taps xmin .. xmin + *xsize - 1. */
typedef struct aa_window {
    float center, invscale;
    int64_t xmin, xsize;
} aa_window;

static float aa_support(float scale) {
    return scale >= 1.0f ? scale : 1.0f;
}

static aa_window aa_window_of(float scale, int64_t dst, int64_t in) {
    aa_window a;
    float support = aa_support(scale);
    a.center = (float)((double)scale * ((double)dst + 0.5));
    a.invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
    int64_t lo = (int64_t)((double)(a.center - support) + 0.5);  /* truncation, as the static_cast */
    int64_t hi = (int64_t)((double)(a.center + support) + 0.5);
    a.xmin = lo > 0 ? lo : 0;
    a.xsize = (hi < in ? hi : in) - a.xmin;
    if (a.xsize < 0) a.xsize = 0;
    return a;
}

/* Unnormalized weight of input index i: the triangle filter max(0, 1 - |x|). */
static float aa_tap_weight(const aa_window *a, int64_t i) {
    float x = (float)(((double)((float)i - a->center) + 0.5) * (double)a->invscale);
    x = fabsf(x);
    return x < 1.0f ? 1.0f - x : 0.0f;
}

/* ---- argument checks ---- */

static segc_status check_params(const segc_resize_params *p) {
    if (!p) return segc_fail(SEGC_ERR_INVALID_ARG, "resize: params is NULL");
    if (p->mode < SEGC_RESIZE_NEAREST || p->mode > SEGC_RESIZE_BICUBIC)
        return segc_fail(SEGC_ERR_INVALID_ARG, "resize: unknown mode %d", (int)p->mode);
    if (p->antialias && p->mode != SEGC_RESIZE_BILINEAR)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "resize: antialias is only implemented for bilinear");
    const double s[2] = {p->scale_h, p->scale_w};
    for (int i = 0; i < 2; i++)
        if (!isfinite(s[i]) || s[i] < 0 || (s[i] > 0 && 1.0 / s[i] > RESIZE_MAX_SCALE))
            return segc_fail(SEGC_ERR_INVALID_ARG, "resize: scale_factor %g is not 0 (none) or a positive number "
                             ">= 2^-24", s[i]);
    return SEGC_OK;
}

/* A 4-D float32 tensor with non-zero sizes and a contiguous last dim. */
static segc_status check_map(const segc_tensor *t, const char *name) {
    char b[96];
    if (!t || !t->data) return segc_fail(SEGC_ERR_INVALID_ARG, "resize: %s is NULL", name);
    if (t->dtype != SEGC_F32 || t->ndim != 4)
        return segc_fail(SEGC_ERR_SHAPE, "resize: %s is %s %s, want f32 [N, C, H, W]", name,
                         segc_dtype_name(t->dtype), segc_tensor_shape_str(t, b, sizeof b));
    for (int d = 0; d < 4; d++)
        if (t->shape[d] < 1)
            return segc_fail(SEGC_ERR_SHAPE, "resize: %s is %s, every size must be >= 1", name,
                             segc_tensor_shape_str(t, b, sizeof b));
    if (t->stride[3] != 1 && t->shape[3] > 1)
        return segc_fail(SEGC_ERR_SHAPE, "resize: %s needs a contiguous last dim (stride %lld)", name,
                         (long long)t->stride[3]);
    return SEGC_OK;
}

static segc_status check_args(const segc_tensor *x, const segc_resize_params *p, const segc_tensor *out) {
    char b1[96], b2[96];
    segc_status st;
    if ((st = check_params(p)) || (st = check_map(x, "x")) || (st = check_map(out, "out"))) return st;
    if (out->shape[0] != x->shape[0] || out->shape[1] != x->shape[1])
        return segc_fail(SEGC_ERR_SHAPE, "resize: out %s does not match x %s in N and C",
                         segc_tensor_shape_str(out, b1, sizeof b1), segc_tensor_shape_str(x, b2, sizeof b2));
    return SEGC_OK;
}

/* ---- fast path ---- */

/* Taps per output index of one axis for these params. */
static int64_t axis_taps(const segc_resize_params *p, int64_t in, int64_t out, double scale_factor) {
    switch (p->mode) {
    case SEGC_RESIZE_NEAREST:
    case SEGC_RESIZE_NEAREST_EXACT: return 1;
    case SEGC_RESIZE_BICUBIC: return 4;
    default: break;
    }
    if (!p->antialias) return 2;
    float scale = pixel_scale(in, out, p->align_corners, scale_factor);
    int64_t taps = (int64_t)ceilf(aa_support(scale)) * 2 + 1;
    return taps < in ? taps : in;  /* a window never holds more than the whole input */
}

/* Fills the table of one axis (t->in, t->out, t->taps set; idx and wt allocated). */
static void axis_fill(const segc_resize_params *p, double scale_factor, axis_table *t) {
    const int64_t in = t->in, out = t->out, taps = t->taps;
    int nearest = p->mode == SEGC_RESIZE_NEAREST || p->mode == SEGC_RESIZE_NEAREST_EXACT;
    float scale = pixel_scale(in, out, nearest ? 0 : p->align_corners, scale_factor);
    for (int64_t o = 0; o < out; o++) {
        int64_t *idx = t->idx + o * taps;
        float *wt = t->wt + o * taps;
        if (nearest) {
            idx[0] = nearest_source(scale, o, in, out, p->mode == SEGC_RESIZE_NEAREST_EXACT);
            wt[0] = 1.0f;
        } else if (p->mode == SEGC_RESIZE_BICUBIC) {
            cubic_taps(scale, o, in, p->align_corners, idx, wt);
        } else if (!p->antialias) {
            linear_taps(scale, o, in, out, p->align_corners, idx, wt);
        } else {
            aa_window a = aa_window_of(scale, o, in);
            int64_t n = a.xsize < taps ? a.xsize : taps;
            float total = 0;
            for (int64_t j = 0; j < n; j++) total += (wt[j] = aa_tap_weight(&a, a.xmin + j));
            for (int64_t j = 0; j < taps; j++) {
                idx[j] = j < n ? a.xmin + j : 0;
                wt[j] = j >= n ? 0.0f : (total != 0.0f ? wt[j] / total : wt[j]);
            }
        }
    }
}

static segc_status axis_new(segc_arena *a, const segc_resize_params *p, int64_t in, int64_t out, double scale_factor,
                            axis_table *t) {
    t->in = in, t->out = out, t->taps = axis_taps(p, in, out, scale_factor);
    t->idx = segc_arena_alloc_array(a, (size_t)(out * t->taps), sizeof *t->idx);
    t->wt = segc_arena_alloc_array(a, (size_t)(out * t->taps), sizeof *t->wt);
    if (!t->idx || !t->wt) return segc_fail_context(SEGC_ERR_NOMEM, "resize: index tables");
    axis_fill(p, scale_factor, t);
    return SEGC_OK;
}

/* dst[Wo] = horizontal resize of one input row src[W]. */
static void resize_row(const float *restrict src, const axis_table *tw, float *restrict dst) {
    const int64_t wo = tw->out, taps = tw->taps;
    const int64_t *idx = tw->idx;
    const float *wt = tw->wt;
    if (taps == 1) {
        for (int64_t j = 0; j < wo; j++) dst[j] = src[idx[j]];
    } else if (taps == 2) {
        for (int64_t j = 0; j < wo; j++) dst[j] = src[idx[2 * j]] * wt[2 * j] + src[idx[2 * j + 1]] * wt[2 * j + 1];
    } else {
        for (int64_t j = 0; j < wo; j++) {
            float acc = src[idx[j * taps]] * wt[j * taps];
            for (int64_t t = 1; t < taps; t++) acc += src[idx[j * taps + t]] * wt[j * taps + t];
            dst[j] = acc;
        }
    }
}

/* Per-thread buffers: rows[H, Wo] of horizontally resized input rows, done[H] flags, one row for add. */
typedef struct plane_buf {
    float *rows, *sum;
    unsigned char *done;
} plane_buf;

/* Output rows [r0, r1) of one plane: o[Ho, Wo] (row stride os) = (or +=) resize of x[H, W] (row stride xs). */
static void resize_block(const float *x, int64_t xs, float *o, int64_t os, const axis_table *th, const axis_table *tw,
                         int64_t r0, int64_t r1, plane_buf *b, int accumulate) {
    const int64_t wo = tw->out, taps = th->taps;
    memset(b->done, 0, (size_t)th->in);
    for (int64_t oh = r0; oh < r1; oh++) {
        const int64_t *hi = th->idx + oh * taps;
        const float *hw = th->wt + oh * taps;
        for (int64_t t = 0; t < taps; t++)
            if (!b->done[hi[t]]) {
                resize_row(x + hi[t] * xs, tw, b->rows + hi[t] * wo);
                b->done[hi[t]] = 1;
            }
        float *restrict dst = accumulate ? b->sum : o + oh * os;
        const float *restrict r = b->rows + hi[0] * wo;
        if (taps == 1) {
            memcpy(dst, r, (size_t)wo * sizeof *dst);
        } else if (taps == 2) {
            const float *restrict r1 = b->rows + hi[1] * wo;
            const float w0 = hw[0], w1 = hw[1];
            for (int64_t j = 0; j < wo; j++) dst[j] = r[j] * w0 + r1[j] * w1;
        } else {
            for (int64_t j = 0; j < wo; j++) dst[j] = r[j] * hw[0];
            for (int64_t t = 1; t < taps; t++) {
                const float w = hw[t];
                r = b->rows + hi[t] * wo;
                for (int64_t j = 0; j < wo; j++) dst[j] += r[j] * w;
            }
        }
        if (accumulate) {
            float *restrict orow = o + oh * os;
            for (int64_t j = 0; j < wo; j++) orow[j] += dst[j];
        }
    }
}

/* Shared driver of segc_resize and segc_resize_add. */
static segc_status resize_run(segc_arena *scratch, const segc_tensor *x, const segc_resize_params *p, segc_tensor *out,
                              int accumulate) {
    segc_status st = check_args(x, p, out);
    if (st) return st;
    if (!scratch) return segc_fail(SEGC_ERR_INVALID_ARG, "resize: scratch arena is NULL");
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t Ho = out->shape[2], Wo = out->shape[3];
    segc_arena_mark mark = segc_arena_get_mark(scratch);
    axis_table th, tw;
    if ((st = axis_new(scratch, p, H, Ho, p->scale_h, &th)) || (st = axis_new(scratch, p, W, Wo, p->scale_w, &tw))) {
        segc_arena_release(scratch, mark);
        return st;
    }
    const double work = (double)(N * C) * (double)(Ho * Wo) * (double)(th.taps + tw.taps);
    int nthreads = work < RESIZE_PARALLEL_MIN_WORK ? 1 : omp_get_max_threads();
    if (nthreads < 1) nthreads = 1;
    float *rows = segc_arena_alloc_array(scratch, (size_t)nthreads * (size_t)(H + 1), (size_t)Wo * sizeof(float));
    unsigned char *done = segc_arena_alloc_array(scratch, (size_t)nthreads, (size_t)H);
    if (!rows || !done) {
        segc_arena_release(scratch, mark);
        return segc_fail_context(SEGC_ERR_NOMEM, "resize: row buffers");
    }
    /* Work items: (plane, block of output rows); planes are split only when there are too few of them. */
    const int64_t planes = N * C;
    int64_t blocks = 1;
    if (planes < 4 * (int64_t)nthreads) {
        blocks = (4 * (int64_t)nthreads + planes - 1) / planes;
        int64_t max_blocks = (Ho + RESIZE_MIN_BLOCK_ROWS - 1) / RESIZE_MIN_BLOCK_ROWS;
        if (blocks > max_blocks) blocks = max_blocks;
    }
    const int64_t block_rows = (Ho + blocks - 1) / blocks;
    const int64_t items = planes * blocks;
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        int tid = omp_get_thread_num();
        plane_buf b;
        b.rows = rows + (size_t)tid * (size_t)(H + 1) * (size_t)Wo;
        b.sum = b.rows + (size_t)H * (size_t)Wo;
        b.done = done + (size_t)tid * (size_t)H;
#pragma omp for schedule(static)
        for (int64_t it = 0; it < items; it++) {
            int64_t plane = it / blocks, blk = it % blocks, n = plane / C, c = plane % C;
            int64_t r0 = blk * block_rows, r1 = r0 + block_rows < Ho ? r0 + block_rows : Ho;
            if (r0 >= r1) continue;
            const float *xp = (const float *)x->data + n * x->stride[0] + c * x->stride[1];
            float *op = (float *)out->data + n * out->stride[0] + c * out->stride[1];
            resize_block(xp, x->stride[2], op, out->stride[2], &th, &tw, r0, r1, &b, accumulate);
        }
    }
    segc_arena_release(scratch, mark);
    return SEGC_OK;
}

segc_status segc_resize(segc_arena *scratch, const segc_tensor *x, const segc_resize_params *p, segc_tensor *out) {
    return resize_run(scratch, x, p, out, 0);
}

segc_status segc_resize_add(segc_arena *scratch, const segc_tensor *x, const segc_resize_params *p, segc_tensor *out) {
    return resize_run(scratch, x, p, out, 1);
}

segc_status segc_resize_new(segc_arena *arena, const segc_tensor *x, const segc_resize_params *p, int64_t out_h,
                            int64_t out_w, segc_tensor *out) {
    segc_status st;
    if ((st = check_params(p)) || (st = check_map(x, "x"))) return st;
    if (!arena || !out) return segc_fail(SEGC_ERR_INVALID_ARG, "resize: arena or out is NULL");
    if (out_h < 1 || out_w < 1)
        return segc_fail(SEGC_ERR_SHAPE, "resize: output size %lld x %lld, must be >= 1", (long long)out_h,
                         (long long)out_w);
    if ((st = segc_tensor_new_f32(arena, out, 4, x->shape[0], x->shape[1], out_h, out_w))) return st;
    return segc_resize(arena, x, p, out);
}

segc_status segc_resize_scale_new(segc_arena *arena, const segc_tensor *x, segc_resize_mode mode, int align_corners,
                                  double scale_h, double scale_w, segc_tensor *out) {
    segc_status st = check_map(x, "x");
    if (st) return st;
    segc_resize_params p = segc_resize_params_make(mode, align_corners);
    p.scale_h = scale_h, p.scale_w = scale_w;
    if ((st = check_params(&p))) return st;
    if (scale_h <= 0 || scale_w <= 0)
        return segc_fail(SEGC_ERR_INVALID_ARG, "resize: scale factors %g, %g must be > 0", scale_h, scale_w);
    return segc_resize_new(arena, x, &p, segc_resize_out_dim(x->shape[2], scale_h),
                           segc_resize_out_dim(x->shape[3], scale_w), out);
}

/* ---- reference ---- */

/* Taps of one axis for output index o, straight from the formulas (no tables); returns the count.
   Antialias windows are not limited in size: weights are produced one at a time by aa_ref_weight. */
static int ref_taps(const segc_resize_params *p, int64_t in, int64_t out, double scale_factor, int64_t o,
                    int64_t idx[4], float w[4]) {
    int nearest = p->mode == SEGC_RESIZE_NEAREST || p->mode == SEGC_RESIZE_NEAREST_EXACT;
    float scale = pixel_scale(in, out, nearest ? 0 : p->align_corners, scale_factor);
    if (nearest) {
        idx[0] = nearest_source(scale, o, in, out, p->mode == SEGC_RESIZE_NEAREST_EXACT);
        w[0] = 1.0f;
        return 1;
    }
    if (p->mode == SEGC_RESIZE_BICUBIC) {
        cubic_taps(scale, o, in, p->align_corners, idx, w);
        return 4;
    }
    linear_taps(scale, o, in, out, p->align_corners, idx, w);
    return 2;
}

/* Sum of the unnormalized antialias weights of a window (the normalizer). */
static double aa_window_total(const aa_window *a) {
    double total = 0;
    for (int64_t j = a->xmin; j < a->xmin + a->xsize; j++) total += aa_tap_weight(a, j);
    return total != 0 ? total : 1.0;
}

segc_status segc_resize_reference(const segc_tensor *x, const segc_resize_params *p, segc_tensor *out) {
    segc_status st = check_args(x, p, out);
    if (st) return st;
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t Ho = out->shape[2], Wo = out->shape[3];
    float sh = pixel_scale(H, Ho, p->align_corners, p->scale_h), sw = pixel_scale(W, Wo, p->align_corners, p->scale_w);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t oh = 0; oh < Ho; oh++)
                for (int64_t ow = 0; ow < Wo; ow++) {
                    double acc = 0;
                    if (p->mode == SEGC_RESIZE_BILINEAR && p->antialias) {
                        aa_window ah = aa_window_of(sh, oh, H), aw = aa_window_of(sw, ow, W);
                        double th = aa_window_total(&ah), tw = aa_window_total(&aw);
                        for (int64_t ih = ah.xmin; ih < ah.xmin + ah.xsize; ih++)
                            for (int64_t iw = aw.xmin; iw < aw.xmin + aw.xsize; iw++)
                                acc += aa_tap_weight(&ah, ih) / th * aa_tap_weight(&aw, iw) / tw *
                                       *segc_at4(x, n, c, ih, iw);
                    } else {
                        int64_t hi[4], wi[4];
                        float hw[4], ww[4];
                        int nh = ref_taps(p, H, Ho, p->scale_h, oh, hi, hw);
                        int nw = ref_taps(p, W, Wo, p->scale_w, ow, wi, ww);
                        for (int a = 0; a < nh; a++)
                            for (int b = 0; b < nw; b++)
                                acc += (double)hw[a] * (double)ww[b] * *segc_at4(x, n, c, hi[a], wi[b]);
                    }
                    *segc_at4(out, n, c, oh, ow) = (float)acc;
                }
    return SEGC_OK;
}
