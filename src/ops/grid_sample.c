/* grid_sample.c - F.grid_sample on 4-D inputs (see grid_sample.h), PyTorch 1.13's CPU semantics
   (aten/src/ATen/native/GridSampler.h for the coordinate rules, native/cpu/GridSamplerKernel.cpp for
   the float evaluation order: unnormalize as (g + 1) * scale - offset, nearest rounds half to even).
   Dims: N batch, C channels, H x W input, Ho x Wo grid; P = Ho * Wo sampling points.
   Fast path: for a block of points, the corner offsets and weights are computed once (out-of-range
   corners get weight 0 and offset 0), then every channel is a 4-tap (or 1-tap) gather over the block.
   A NaN coordinate samples 0 in every padding mode. Not here: bicubic mode, 5-D inputs. */
#include "ops/grid_sample.h"

#include <math.h>
#include <string.h>

#include "core/status.h"

/* Points per block of the fast path (its tables live on the stack). */
#define GRID_BLOCK 256
/* Below this many output elements one thread is faster than waking the pool. */
#define GRID_PARALLEL_MIN_WORK (1 << 14)

/* Corners of one sampling point: offsets into an input plane (row stride applied) and weights. */
typedef struct grid_corners {
    int64_t off[4];
    float w[4];
} grid_corners;

/* Grid coordinate in [-1, 1] -> pixel coordinate (GridSamplerKernel.cpp ComputeLocationBase). */
static float grid_unnormalize(float g, int64_t size, int align_corners) {
    if (align_corners) return (g + 1.0f) * ((float)(size - 1) / 2.0f);
    return (g + 1.0f) * ((float)size / 2.0f) - 0.5f;
}

/* clip_coordinates: into [0, size - 1] (NaN stays NaN). */
static float clip_coordinate(float x, int64_t size) {
    if (isnan(x)) return x;
    float hi = (float)(size - 1);
    return x < 0 ? 0.0f : (x > hi ? hi : x);
}

/* reflect_coordinates: mirror x into [twice_low / 2, twice_high / 2]. */
static float reflect_coordinate(float x, int64_t twice_low, int64_t twice_high) {
    if (twice_low == twice_high) return 0.0f;
    if (!isfinite(x)) return NAN;  /* fmod(inf) is NaN in PyTorch too */
    float min = (float)twice_low / 2, span = (float)(twice_high - twice_low) / 2;
    x = fabsf(x - min);
    float extra = fmodf(x, span);
    double flips = floor((double)x / (double)span);  /* parity only: no integer conversion */
    return fmod(flips, 2.0) == 0.0 ? extra + min : span - extra + min;
}

/* compute_coordinates: unnormalize, then apply the padding mode's clipping / reflection. */
static float grid_coordinate(float g, int64_t size, segc_grid_padding padding, int align_corners) {
    float x = grid_unnormalize(g, size, align_corners);
    if (padding == SEGC_GRID_PAD_BORDER) return clip_coordinate(x, size);
    if (padding == SEGC_GRID_PAD_REFLECTION) {
        x = align_corners ? reflect_coordinate(x, 0, 2 * (size - 1)) : reflect_coordinate(x, -1, 2 * size - 1);
        return clip_coordinate(x, size);
    }
    return x;
}

/* True if pixel (iy, ix) is inside the H x W map. */
static int in_bounds(int64_t iy, int64_t ix, int64_t H, int64_t W) {
    return iy >= 0 && iy < H && ix >= 0 && ix < W;
}

/* Integer pixel of a coordinate known to be within (-2, size + 1) or returns a sentinel far outside. */
static int64_t pixel_of(float v) {
    return (v > -2.0f && v < 1.0e9f) ? (int64_t)v : INT64_MIN / 4;
}

/* Corner table of one point at pixel coordinates (x, y). Plane row stride `rs` (contiguous W). */
static void corners_of(float x, float y, int64_t H, int64_t W, int64_t rs, segc_grid_mode mode, grid_corners *g) {
    memset(g, 0, sizeof *g);
    if (isnan(x) || isnan(y)) return;
    if (mode == SEGC_GRID_NEAREST) {
        float rx = nearbyintf(x), ry = nearbyintf(y);
        int64_t ix = pixel_of(rx), iy = pixel_of(ry);
        if (in_bounds(iy, ix, H, W)) g->off[0] = iy * rs + ix, g->w[0] = 1.0f;
        return;
    }
    float fx = floorf(x), fy = floorf(y);
    int64_t ix = pixel_of(fx), iy = pixel_of(fy);
    float tx = x - fx, ty = y - fy;
    const float w[4] = {(1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty};  /* nw, ne, sw, se */
    for (int k = 0; k < 4; k++) {
        int64_t cy = iy + k / 2, cx = ix + k % 2;
        if (in_bounds(cy, cx, H, W)) g->off[k] = cy * rs + cx, g->w[k] = w[k];
    }
}

/* Checks x[N,C,H,W] (contiguous W), grid[N,Ho,Wo,2] and out[N,C,Ho,Wo] (contiguous) and the enums. */
static segc_status check_args(const segc_tensor *x, const segc_tensor *grid, segc_grid_mode mode,
                              segc_grid_padding padding, const segc_tensor *out, int check_out) {
    char b1[96], b2[96];
    if (!x || !x->data || !grid || !grid->data || (check_out && (!out || !out->data)))
        return segc_fail(SEGC_ERR_INVALID_ARG, "grid_sample: NULL tensor");
    if (mode != SEGC_GRID_BILINEAR && mode != SEGC_GRID_NEAREST)
        return segc_fail(SEGC_ERR_INVALID_ARG, "grid_sample: unknown mode %d", (int)mode);
    if (padding < SEGC_GRID_PAD_ZEROS || padding > SEGC_GRID_PAD_REFLECTION)
        return segc_fail(SEGC_ERR_INVALID_ARG, "grid_sample: unknown padding mode %d", (int)padding);
    if (x->dtype != SEGC_F32 || x->ndim != 4 || x->shape[0] < 1 || x->shape[1] < 1 || x->shape[2] < 1 ||
        x->shape[3] < 1 || (x->stride[3] != 1 && x->shape[3] > 1))
        return segc_fail(SEGC_ERR_SHAPE, "grid_sample: input is %s %s, want f32 [N, C, H, W] with sizes >= 1 "
                         "and a contiguous last dim", segc_dtype_name(x->dtype), segc_tensor_shape_str(x, b1, sizeof b1));
    if (grid->dtype != SEGC_F32 || grid->ndim != 4 || !segc_tensor_is_contiguous(grid) ||
        grid->shape[0] != x->shape[0] || grid->shape[3] != 2 || grid->shape[1] < 1 || grid->shape[2] < 1)
        return segc_fail(SEGC_ERR_SHAPE, "grid_sample: grid is %s %s, want contiguous f32 [%lld, Ho, Wo, 2]",
                         segc_dtype_name(grid->dtype), segc_tensor_shape_str(grid, b1, sizeof b1),
                         (long long)x->shape[0]);
    if (!check_out) return SEGC_OK;
    const int64_t shape[4] = {x->shape[0], x->shape[1], grid->shape[1], grid->shape[2]};
    if (out->dtype != SEGC_F32 || !segc_tensor_has_shape(out, 4, shape) || !segc_tensor_is_contiguous(out))
        return segc_fail(SEGC_ERR_SHAPE, "grid_sample: out is %s, want contiguous f32 [N, C, Ho, Wo] for grid %s",
                         segc_tensor_shape_str(out, b1, sizeof b1), segc_tensor_shape_str(grid, b2, sizeof b2));
    return SEGC_OK;
}

segc_status segc_grid_sample(const segc_tensor *x, const segc_tensor *grid, segc_grid_mode mode,
                             segc_grid_padding padding, int align_corners, segc_tensor *out) {
    segc_status st = check_args(x, grid, mode, padding, out, 1);
    if (st) return st;
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t P = grid->shape[1] * grid->shape[2], rs = x->stride[2];
    const int64_t blocks = (P + GRID_BLOCK - 1) / GRID_BLOCK;
    const int taps = mode == SEGC_GRID_NEAREST ? 1 : 4;
    const int parallel = (double)N * (double)C * (double)P >= GRID_PARALLEL_MIN_WORK;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t it = 0; it < N * blocks; it++) {
        const int64_t n = it / blocks, p0 = (it % blocks) * GRID_BLOCK;
        const int64_t np = P - p0 < GRID_BLOCK ? P - p0 : GRID_BLOCK;
        grid_corners tab[GRID_BLOCK];
        const float *g = (const float *)grid->data + (n * P + p0) * 2;
        for (int64_t p = 0; p < np; p++) {
            float gx = grid_coordinate(g[2 * p], W, padding, align_corners);
            float gy = grid_coordinate(g[2 * p + 1], H, padding, align_corners);
            corners_of(gx, gy, H, W, rs, mode, &tab[p]);
        }
        for (int64_t c = 0; c < C; c++) {
            const float *xp = (const float *)x->data + n * x->stride[0] + c * x->stride[1];
            float *op = (float *)out->data + (n * C + c) * P + p0;
            if (taps == 1) {
                for (int64_t p = 0; p < np; p++) op[p] = tab[p].w[0] != 0 ? xp[tab[p].off[0]] : 0.0f;
            } else {
                for (int64_t p = 0; p < np; p++) {
                    const grid_corners *t = &tab[p];
                    op[p] = xp[t->off[0]] * t->w[0] + xp[t->off[1]] * t->w[1] + xp[t->off[2]] * t->w[2] +
                            xp[t->off[3]] * t->w[3];
                }
            }
        }
    }
    return SEGC_OK;
}

segc_status segc_grid_sample_new(segc_arena *arena, const segc_tensor *x, const segc_tensor *grid, segc_grid_mode mode,
                                 segc_grid_padding padding, int align_corners, segc_tensor *out) {
    segc_status st = check_args(x, grid, mode, padding, NULL, 0);
    if (st) return st;
    if (!arena || !out) return segc_fail(SEGC_ERR_INVALID_ARG, "grid_sample: arena or out is NULL");
    if ((st = segc_tensor_new_f32(arena, out, 4, x->shape[0], x->shape[1], grid->shape[1], grid->shape[2]))) return st;
    return segc_grid_sample(x, grid, mode, padding, align_corners, out);
}

/* Value of input pixel (iy, ix) of plane (n, c), or 0 outside the map. */
static double pixel_or_zero(const segc_tensor *x, int64_t n, int64_t c, int64_t iy, int64_t ix) {
    return in_bounds(iy, ix, x->shape[2], x->shape[3]) ? *segc_at4(x, n, c, iy, ix) : 0.0;
}

segc_status segc_grid_sample_reference(const segc_tensor *x, const segc_tensor *grid, segc_grid_mode mode,
                                       segc_grid_padding padding, int align_corners, segc_tensor *out) {
    segc_status st = check_args(x, grid, mode, padding, out, 1);
    if (st) return st;
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t Ho = grid->shape[1], Wo = grid->shape[2];
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < Ho; i++)
            for (int64_t j = 0; j < Wo; j++) {
                const float *g = (const float *)grid->data + ((n * Ho + i) * Wo + j) * 2;
                float gx = grid_coordinate(g[0], W, padding, align_corners);
                float gy = grid_coordinate(g[1], H, padding, align_corners);
                for (int64_t c = 0; c < C; c++) {
                    double v = 0;
                    if (isnan(gx) || isnan(gy)) {
                        v = 0;
                    } else if (mode == SEGC_GRID_NEAREST) {
                        v = pixel_or_zero(x, n, c, pixel_of(nearbyintf(gy)), pixel_of(nearbyintf(gx)));
                    } else {
                        int64_t x0 = pixel_of(floorf(gx)), y0 = pixel_of(floorf(gy));
                        double tx = gx - floorf(gx), ty = gy - floorf(gy);
                        v = pixel_or_zero(x, n, c, y0, x0) * (1 - tx) * (1 - ty) +
                            pixel_or_zero(x, n, c, y0, x0 + 1) * tx * (1 - ty) +
                            pixel_or_zero(x, n, c, y0 + 1, x0) * (1 - tx) * ty +
                            pixel_or_zero(x, n, c, y0 + 1, x0 + 1) * tx * ty;
                    }
                    *segc_at4(out, n, c, i, j) = (float)v;
                }
            }
    return SEGC_OK;
}
