/* shape.c - concat, split / chunk / expand views, permute copies, pad, repeat, flatten (see shape.h).
   Everything that moves data goes through one strided copy (rows of the innermost dim, memcpy when
   both sides are unit-stride) or, for permutes that swap two contiguous groups of dims (NCHW <-> NHWC,
   flatten_hw), through a tiled transpose so neither side is walked with a large stride. */
#include "ops/shape.h"

#include <stdint.h>
#include <string.h>

#include "core/status.h"

/* Below this many elements a parallel region costs more than it saves. */
#define SHAPE_PARALLEL_MIN 32768
/* Tile edge of the blocked transpose: 32 x 32 x 4 bytes = 4 KiB per side, well inside L1. */
#define TILE 32

/* Copies src into dst (same dtype and shape, any strides): one row of the last dim at a time. */
static void strided_copy(segc_tensor *dst, const segc_tensor *src) {
    int nd = src->ndim;
    int64_t n = segc_tensor_numel(src);
    if (n == 0) return;
    size_t es = segc_dtype_size(src->dtype);
    if (nd == 0) {
        memcpy(dst->data, src->data, es);
        return;
    }
    int64_t inner = src->shape[nd - 1], rows = n / inner;
    int64_t ss = src->stride[nd - 1], ds = dst->stride[nd - 1];
    #pragma omp parallel for schedule(static) if (n > SHAPE_PARALLEL_MIN && rows > 1)
    for (int64_t r = 0; r < rows; r++) {
        int64_t rem = r, so = 0, dof = 0;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t i = rem % src->shape[d];
            rem /= src->shape[d];
            so += i * src->stride[d];
            dof += i * dst->stride[d];
        }
        const char *s = (const char *)src->data + so * (int64_t)es;
        char *o = (char *)dst->data + dof * (int64_t)es;
        if ((ss == 1 || inner == 1) && (ds == 1 || inner == 1)) {
            memcpy(o, s, (size_t)inner * es);
        } else if (es == 4) {
            for (int64_t i = 0; i < inner; i++) ((uint32_t *)o)[i * ds] = ((const uint32_t *)s)[i * ss];
        } else {
            for (int64_t i = 0; i < inner; i++) memcpy(o + i * ds * (int64_t)es, s + i * ss * (int64_t)es, es);
        }
    }
}

/* out is contiguous, of x's dtype, with exactly `shape`. */
static segc_status check_out(const char *op, const segc_tensor *out, segc_dtype dtype, int ndim,
                             const int64_t *shape) {
    if (out->dtype != dtype)
        return segc_fail(SEGC_ERR_SHAPE, "%s: output dtype %s, input %s", op, segc_dtype_name(out->dtype),
                         segc_dtype_name(dtype));
    if (!segc_tensor_has_shape(out, ndim, shape)) {
        char a[96], b[96];
        segc_tensor want = segc_tensor_wrap(dtype, ndim, shape, NULL);
        return segc_fail(SEGC_ERR_SHAPE, "%s: output %s, expected %s", op, segc_tensor_shape_str(out, a, sizeof a),
                         segc_tensor_shape_str(&want, b, sizeof b));
    }
    if (!segc_tensor_is_contiguous(out)) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: output is not contiguous", op);
    return SEGC_OK;
}

/* Normalizes a possibly negative dim of an ndim-tensor; -1 if out of range. */
static int norm_dim(int dim, int ndim) {
    if (dim < 0) dim += ndim;
    return dim >= 0 && dim < ndim ? dim : -1;
}

/* Output shape of the concat; checks every input against inputs[0]. */
static segc_status concat_shape(const segc_tensor *const *inputs, int count, int *dim, int64_t *shape) {
    if (count < 1 || !inputs) return segc_fail(SEGC_ERR_INVALID_ARG, "concat: %d inputs", count);
    const segc_tensor *t0 = inputs[0];
    int d = norm_dim(*dim, t0->ndim);
    if (d < 0) return segc_fail(SEGC_ERR_INVALID_ARG, "concat: dim %d of a %d-d tensor", *dim, t0->ndim);
    for (int i = 0; i < t0->ndim; i++) shape[i] = t0->shape[i];
    shape[d] = 0;
    for (int k = 0; k < count; k++) {
        const segc_tensor *t = inputs[k];
        int ok = t->ndim == t0->ndim && t->dtype == t0->dtype;
        for (int i = 0; ok && i < t0->ndim; i++) ok = i == d || t->shape[i] == t0->shape[i];
        if (!ok) {
            char a[96], b[96];
            return segc_fail(SEGC_ERR_SHAPE, "concat: input %d %s %s does not fit input 0 %s %s along dim %d", k,
                             segc_dtype_name(t->dtype), segc_tensor_shape_str(t, a, sizeof a),
                             segc_dtype_name(t0->dtype), segc_tensor_shape_str(t0, b, sizeof b), d);
        }
        shape[d] += t->shape[d];
    }
    *dim = d;
    return SEGC_OK;
}

/* out = inputs concatenated along dim: each input is copied into its slice of out. */
segc_status segc_concat(const segc_tensor *const *inputs, int count, int dim, segc_tensor *out) {
    int64_t shape[SEGC_MAX_DIMS];
    segc_status st = concat_shape(inputs, count, &dim, shape);
    if (st || (st = check_out("concat", out, inputs[0]->dtype, inputs[0]->ndim, shape))) return st;
    int64_t at = 0;
    for (int k = 0; k < count; k++) {
        segc_tensor slice;
        if ((st = segc_tensor_narrow(out, dim, at, inputs[k]->shape[dim], &slice))) return st;
        strided_copy(&slice, inputs[k]);
        at += inputs[k]->shape[dim];
    }
    return SEGC_OK;
}

segc_status segc_concat_new(segc_arena *arena, const segc_tensor *const *inputs, int count, int dim,
                            segc_tensor *out) {
    int64_t shape[SEGC_MAX_DIMS];
    segc_tensor o;
    segc_status st = concat_shape(inputs, count, &dim, shape);
    if (st || (st = segc_tensor_new(arena, inputs[0]->dtype, inputs[0]->ndim, shape, &o)) ||
        (st = segc_concat(inputs, count, dim, &o)))
        return st;
    *out = o;
    return SEGC_OK;
}

segc_status segc_split(const segc_tensor *x, int dim, const int64_t *sizes, int count, segc_tensor *parts) {
    int d = norm_dim(dim, x->ndim);
    if (d < 0 || count < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "split: dim %d, %d parts", dim, count);
    int64_t total = 0;
    for (int i = 0; i < count; i++) {
        if (sizes[i] < 0) return segc_fail(SEGC_ERR_INVALID_ARG, "split: size %lld", (long long)sizes[i]);
        total += sizes[i];
    }
    if (total != x->shape[d])
        return segc_fail(SEGC_ERR_SHAPE, "split: sizes add up to %lld, dim %d has %lld", (long long)total, d,
                         (long long)x->shape[d]);
    int64_t at = 0;
    for (int i = 0; i < count; i++) {
        segc_status st = segc_tensor_narrow(x, d, at, sizes[i], &parts[i]);
        if (st) return st;
        at += sizes[i];
    }
    return SEGC_OK;
}

segc_status segc_chunk(const segc_tensor *x, int dim, int chunks, segc_tensor *parts) {
    int d = norm_dim(dim, x->ndim);
    if (d < 0 || chunks < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "chunk: dim %d, %d chunks", dim, chunks);
    if (x->shape[d] % chunks != 0)
        return segc_fail(SEGC_ERR_SHAPE, "chunk: dim %d of size %lld is not divisible into %d chunks", d,
                         (long long)x->shape[d], chunks);
    int64_t size = x->shape[d] / chunks;
    for (int i = 0; i < chunks; i++) {
        segc_status st = segc_tensor_narrow(x, d, i * size, size, &parts[i]);
        if (st) return st;
    }
    return SEGC_OK;
}

/* Checks perm and out's shape (out.shape[i] == x.shape[perm[i]]). */
static segc_status check_permute(const segc_tensor *x, const int *perm, const segc_tensor *out, segc_tensor *view) {
    segc_status st = segc_tensor_permute(x, perm, view);
    if (st) return st;
    return check_out("permute", out, x->dtype, view->ndim, view->shape);
}

/* dst[b, c, r] = src[b, r, c] for 4-byte elements, src [B, R, C] and dst [B, C, R] contiguous;
   32 x 32 tiles so both sides are read and written in cache lines. */
static void transpose_batched(const uint32_t *src, uint32_t *dst, int64_t B, int64_t R, int64_t C) {
    int64_t tr = (R + TILE - 1) / TILE, tc = (C + TILE - 1) / TILE;
    #pragma omp parallel for schedule(static) if (B * R * C > SHAPE_PARALLEL_MIN)
    for (int64_t t = 0; t < B * tr * tc; t++) {
        int64_t b = t / (tr * tc), r0 = (t / tc) % tr * TILE, c0 = t % tc * TILE;
        int64_t r1 = r0 + TILE < R ? r0 + TILE : R, c1 = c0 + TILE < C ? c0 + TILE : C;
        const uint32_t *s = src + b * R * C;
        uint32_t *d = dst + b * R * C;
        for (int64_t c = c0; c < c1; c++)
            for (int64_t r = r0; r < r1; r++) d[c * R + r] = s[r * C + c];
    }
}

/* If perm keeps dims [0, a) and then swaps the groups [a, k) and [k, nd) (each in order), sets the
   batched-transpose sizes B, R = prod [a, k), C = prod [k, nd) and returns 1. */
static int as_batched_transpose(const segc_tensor *x, const int *perm, int64_t *B, int64_t *R, int64_t *C) {
    int nd = x->ndim, a = 0;
    while (a < nd && perm[a] == a) a++;
    if (a >= nd - 1) return 0;
    int k = perm[a];
    for (int i = a; i < nd; i++) {
        int want = i - a < nd - k ? k + (i - a) : a + (i - a - (nd - k));
        if (perm[i] != want) return 0;
    }
    *B = *R = *C = 1;
    for (int i = 0; i < a; i++) *B *= x->shape[i];
    for (int i = a; i < k; i++) *R *= x->shape[i];
    for (int i = k; i < nd; i++) *C *= x->shape[i];
    return 1;
}

segc_status segc_permute_copy(const segc_tensor *x, const int *perm, segc_tensor *out) {
    segc_tensor view;
    segc_status st = check_permute(x, perm, out, &view);
    if (st) return st;
    int64_t B, R, C;
    if (segc_dtype_size(x->dtype) == 4 && segc_tensor_is_contiguous(x) && view.stride[view.ndim - 1] != 1 &&
        as_batched_transpose(x, perm, &B, &R, &C)) {
        transpose_batched(x->data, out->data, B, R, C);
        return SEGC_OK;
    }
    strided_copy(out, &view);
    return SEGC_OK;
}

segc_status segc_permute_new(segc_arena *arena, const segc_tensor *x, const int *perm, segc_tensor *out) {
    segc_tensor view, o;
    segc_status st = segc_tensor_permute(x, perm, &view);
    if (st || (st = segc_tensor_new(arena, x->dtype, view.ndim, view.shape, &o)) ||
        (st = segc_permute_copy(x, perm, &o)))
        return st;
    *out = o;
    return SEGC_OK;
}

/* For every output index: unravel it, map through perm to an input offset, copy one element. */
segc_status segc_permute_copy_reference(const segc_tensor *x, const int *perm, segc_tensor *out) {
    segc_tensor view;
    segc_status st = check_permute(x, perm, out, &view);
    if (st) return st;
    size_t es = segc_dtype_size(x->dtype);
    int64_t n = segc_tensor_numel(out);
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, src = 0;
        for (int d = out->ndim - 1; d >= 0; d--) {
            src += (rem % out->shape[d]) * x->stride[perm[d]];
            rem /= out->shape[d];
        }
        memcpy((char *)out->data + i * (int64_t)es, (const char *)x->data + src * (int64_t)es, es);
    }
    return SEGC_OK;
}

static segc_status need_4d(const char *op, const segc_tensor *t) {
    if (t->ndim == 4) return SEGC_OK;
    char a[96];
    return segc_fail(SEGC_ERR_SHAPE, "%s: %s must be 4-D", op, segc_tensor_shape_str(t, a, sizeof a));
}

segc_status segc_nchw_to_nhwc(const segc_tensor *x, segc_tensor *out) {
    static const int perm[4] = {0, 2, 3, 1};
    segc_status st = need_4d("nchw_to_nhwc", x);
    return st ? st : segc_permute_copy(x, perm, out);
}

segc_status segc_nhwc_to_nchw(const segc_tensor *x, segc_tensor *out) {
    static const int perm[4] = {0, 3, 1, 2};
    segc_status st = need_4d("nhwc_to_nchw", x);
    return st ? st : segc_permute_copy(x, perm, out);
}

/* out [N, HW, C] seen as [N, H, W, C] = x [N, C, H, W] permuted (0, 2, 3, 1). */
segc_status segc_flatten_hw(const segc_tensor *x, segc_tensor *out) {
    segc_status st = need_4d("flatten_hw", x);
    if (st) return st;
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t want[3] = {N, H * W, C}, s4[4] = {N, H, W, C};
    segc_tensor o4;
    if ((st = check_out("flatten_hw", out, x->dtype, 3, want)) || (st = segc_tensor_reshape(out, 4, s4, &o4)))
        return st;
    return segc_nchw_to_nhwc(x, &o4);
}

/* x [N, HW, C] seen as [N, H, W, C] (a view with any strides) -> out [N, C, H, W]. */
segc_status segc_unflatten_hw(const segc_tensor *x, segc_tensor *out) {
    segc_status st = need_4d("unflatten_hw", out);
    if (st) return st;
    int64_t N = out->shape[0], C = out->shape[1], H = out->shape[2], W = out->shape[3];
    int64_t want[3] = {N, H * W, C};
    if (!segc_tensor_has_shape(x, 3, want)) {
        char a[96], b[96];
        return segc_fail(SEGC_ERR_SHAPE, "unflatten_hw: input %s does not fit output %s",
                         segc_tensor_shape_str(x, a, sizeof a), segc_tensor_shape_str(out, b, sizeof b));
    }
    segc_tensor x4 = *x;
    x4.ndim = 4;
    x4.shape[1] = H, x4.shape[2] = W, x4.shape[3] = C;
    x4.stride[3] = x->stride[2];
    x4.stride[2] = x->stride[1];
    x4.stride[1] = W * x->stride[1];
    return segc_nhwc_to_nchw(&x4, out);
}

/* Output shape of pad2d; fails on a bad rank, dtype or negative pad. */
static segc_status pad_shape(const segc_tensor *x, int left, int right, int top, int bottom, int64_t *shape) {
    if (x->dtype != SEGC_F32)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "pad2d: dtype %s (float32 only)", segc_dtype_name(x->dtype));
    if (x->ndim < 2) return segc_fail(SEGC_ERR_SHAPE, "pad2d: input needs [..., H, W], got %d dims", x->ndim);
    if (left < 0 || right < 0 || top < 0 || bottom < 0)
        return segc_fail(SEGC_ERR_INVALID_ARG, "pad2d: negative pad (%d, %d, %d, %d)", left, right, top, bottom);
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 2] += top + bottom;
    shape[x->ndim - 1] += left + right;
    return SEGC_OK;
}

/* out is filled with `value`, then x is copied into its interior view. */
segc_status segc_pad2d(const segc_tensor *x, int left, int right, int top, int bottom, float value,
                       segc_tensor *out) {
    int64_t shape[SEGC_MAX_DIMS];
    segc_tensor inner;
    int nd = x->ndim;
    segc_status st = pad_shape(x, left, right, top, bottom, shape);
    if (st || (st = check_out("pad2d", out, x->dtype, nd, shape))) return st;
    segc_tensor_fill_f32(out, value);
    if ((st = segc_tensor_narrow(out, nd - 2, top, x->shape[nd - 2], &inner)) ||
        (st = segc_tensor_narrow(&inner, nd - 1, left, x->shape[nd - 1], &inner)))
        return st;
    strided_copy(&inner, x);
    return SEGC_OK;
}

segc_status segc_pad2d_new(segc_arena *arena, const segc_tensor *x, int left, int right, int top, int bottom,
                           float value, segc_tensor *out) {
    int64_t shape[SEGC_MAX_DIMS];
    segc_tensor o;
    segc_status st = pad_shape(x, left, right, top, bottom, shape);
    if (st || (st = segc_tensor_new(arena, x->dtype, x->ndim, shape, &o)) ||
        (st = segc_pad2d(x, left, right, top, bottom, value, &o)))
        return st;
    *out = o;
    return SEGC_OK;
}

/* Copies x into each of the `times` consecutive slices of out along dim. */
segc_status segc_repeat(const segc_tensor *x, int dim, int64_t times, segc_tensor *out) {
    int d = norm_dim(dim, x->ndim);
    if (d < 0 || times < 0) return segc_fail(SEGC_ERR_INVALID_ARG, "repeat: dim %d, %lld times", dim, (long long)times);
    int64_t shape[SEGC_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[d] *= times;
    segc_status st = check_out("repeat", out, x->dtype, x->ndim, shape);
    if (st) return st;
    for (int64_t t = 0; t < times; t++) {
        segc_tensor slice;
        if ((st = segc_tensor_narrow(out, d, t * x->shape[d], x->shape[d], &slice))) return st;
        strided_copy(&slice, x);
    }
    return SEGC_OK;
}

segc_status segc_expand(const segc_tensor *x, int dim, int64_t size, segc_tensor *out) {
    int d = norm_dim(dim, x->ndim);
    if (d < 0 || size < 0) return segc_fail(SEGC_ERR_INVALID_ARG, "expand: dim %d, size %lld", dim, (long long)size);
    if (x->shape[d] != 1 && x->shape[d] != size)
        return segc_fail(SEGC_ERR_SHAPE, "expand: dim %d has size %lld, not 1", d, (long long)x->shape[d]);
    segc_tensor v = *x;
    if (x->shape[d] == 1) v.stride[d] = 0;
    v.shape[d] = size;
    *out = v;
    return SEGC_OK;
}
