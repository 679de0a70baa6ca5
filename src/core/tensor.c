/* tensor.c - shapes, views and copies (see tensor.h). */
#include "core/tensor.h"

#include <stdio.h>
#include <string.h>

#include "core/half.h"
#include "core/status.h"

size_t segc_dtype_size(segc_dtype dtype) {
    switch (dtype) {
    case SEGC_F32: return 4;
    case SEGC_F16: return 2;
    case SEGC_BF16: return 2;
    case SEGC_I32: return 4;
    case SEGC_U8: return 1;
    }
    return 0;
}

const char *segc_dtype_name(segc_dtype dtype) {
    switch (dtype) {
    case SEGC_F32: return "f32";
    case SEGC_F16: return "f16";
    case SEGC_BF16: return "bf16";
    case SEGC_I32: return "i32";
    case SEGC_U8: return "u8";
    }
    return "?";
}

int64_t segc_tensor_numel(const segc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int segc_tensor_is_contiguous(const segc_tensor *t) {
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != expect) return 0;
        expect *= t->shape[i];
    }
    return 1;
}

const char *segc_tensor_shape_str(const segc_tensor *t, char *buf, size_t size) {
    size_t pos = 0;
    if (size == 0) return buf;
    buf[0] = '\0';
    pos += (size_t)snprintf(buf + pos, size - pos, "[");
    for (int i = 0; i < t->ndim && pos < size; i++)
        pos += (size_t)snprintf(buf + pos, size - pos, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (pos < size) snprintf(buf + pos, size - pos, "]");
    return buf;
}

int segc_tensor_has_shape(const segc_tensor *t, int ndim, const int64_t *shape) {
    if (t->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return 0;
    return 1;
}

static void set_contiguous_strides(segc_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = s;
        s *= t->shape[i];
    }
}

segc_tensor segc_tensor_wrap(segc_dtype dtype, int ndim, const int64_t *shape, void *data) {
    segc_tensor t = {0};
    t.dtype = dtype;
    t.ndim = ndim < 0 ? 0 : (ndim > SEGC_MAX_DIMS ? SEGC_MAX_DIMS : ndim);
    for (int i = 0; i < t.ndim; i++) t.shape[i] = shape[i];
    set_contiguous_strides(&t);
    t.data = data;
    return t;
}

segc_tensor segc_tensor_f32(float *data, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t shape[4] = {d0, d1, d2, d3};
    return segc_tensor_wrap(SEGC_F32, ndim, shape, data);
}

segc_status segc_tensor_new(segc_arena *arena, segc_dtype dtype, int ndim, const int64_t *shape,
                            segc_tensor *out) {
    if (ndim < 0 || ndim > SEGC_MAX_DIMS)
        return segc_fail(SEGC_ERR_INVALID_ARG, "tensor: %d dims (at most %d)", ndim, SEGC_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return segc_fail(SEGC_ERR_INVALID_ARG, "tensor: negative dim %lld", (long long)shape[i]);
        if (shape[i] && n > ((int64_t)1 << 40) / shape[i])
            return segc_fail(SEGC_ERR_NOMEM, "tensor: shape too large");
        n *= shape[i];
    }
    void *data = segc_arena_alloc_array(arena, (size_t)n, segc_dtype_size(dtype));
    if (!data) return SEGC_ERR_NOMEM;
    *out = segc_tensor_wrap(dtype, ndim, shape, data);
    return SEGC_OK;
}

segc_status segc_tensor_new_f32(segc_arena *arena, segc_tensor *out, int ndim, int64_t d0, int64_t d1,
                                int64_t d2, int64_t d3) {
    int64_t shape[4] = {d0, d1, d2, d3};
    if (ndim < 1 || ndim > 4) return segc_fail(SEGC_ERR_INVALID_ARG, "tensor_new_f32: ndim %d", ndim);
    return segc_tensor_new(arena, SEGC_F32, ndim, shape, out);
}

segc_status segc_tensor_reshape(const segc_tensor *t, int ndim, const int64_t *shape, segc_tensor *out) {
    if (!segc_tensor_is_contiguous(t)) return segc_fail(SEGC_ERR_INVALID_ARG, "reshape: tensor is not contiguous");
    if (ndim < 0 || ndim > SEGC_MAX_DIMS) return segc_fail(SEGC_ERR_INVALID_ARG, "reshape: %d dims", ndim);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    if (n != segc_tensor_numel(t)) {
        char a[96];
        segc_tensor_shape_str(t, a, sizeof a);
        return segc_fail(SEGC_ERR_SHAPE, "reshape: %s has %lld elements, the new shape %lld",
                         a, (long long)segc_tensor_numel(t), (long long)n);
    }
    *out = segc_tensor_wrap(t->dtype, ndim, shape, t->data);
    return SEGC_OK;
}

segc_status segc_tensor_narrow(const segc_tensor *t, int dim, int64_t start, int64_t length, segc_tensor *out) {
    if (dim < 0 || dim >= t->ndim) return segc_fail(SEGC_ERR_INVALID_ARG, "narrow: dim %d of %d", dim, t->ndim);
    if (start < 0 || length < 0 || start + length > t->shape[dim])
        return segc_fail(SEGC_ERR_SHAPE, "narrow: [%lld, %lld) outside dim %d of size %lld", (long long)start,
                         (long long)(start + length), dim, (long long)t->shape[dim]);
    segc_tensor v = *t;
    v.shape[dim] = length;
    v.data = (char *)t->data + (size_t)(start * t->stride[dim]) * segc_dtype_size(t->dtype);
    *out = v;
    return SEGC_OK;
}

segc_status segc_tensor_permute(const segc_tensor *t, const int *perm, segc_tensor *out) {
    int seen[SEGC_MAX_DIMS] = {0};
    segc_tensor v = *t;
    for (int i = 0; i < t->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= t->ndim || seen[perm[i]])
            return segc_fail(SEGC_ERR_INVALID_ARG, "permute: invalid permutation");
        seen[perm[i]] = 1;
        v.shape[i] = t->shape[perm[i]];
        v.stride[i] = t->stride[perm[i]];
    }
    *out = v;
    return SEGC_OK;
}

/* Copies with arbitrary strides, innermost dim as a loop; elements are copied as raw bytes. */
segc_status segc_tensor_copy(segc_tensor *dst, const segc_tensor *src) {
    if (dst->dtype != src->dtype || !segc_tensor_has_shape(dst, src->ndim, src->shape))
        return segc_fail(SEGC_ERR_SHAPE, "copy: dtype or shape differ");
    int64_t n = segc_tensor_numel(src);
    if (n == 0) return SEGC_OK;
    size_t es = segc_dtype_size(src->dtype);
    if (segc_tensor_is_contiguous(src) && segc_tensor_is_contiguous(dst)) {
        memmove(dst->data, src->data, (size_t)n * es);
        return SEGC_OK;
    }
    int nd = src->ndim;
    int64_t idx[SEGC_MAX_DIMS] = {0};
    for (int64_t k = 0; k < n; k++) {
        int64_t so = 0, d_off = 0;
        for (int i = 0; i < nd; i++) {
            so += idx[i] * src->stride[i];
            d_off += idx[i] * dst->stride[i];
        }
        memcpy((char *)dst->data + d_off * (int64_t)es, (const char *)src->data + so * (int64_t)es, es);
        for (int i = nd - 1; i >= 0; i--) {
            if (++idx[i] < src->shape[i]) break;
            idx[i] = 0;
        }
    }
    return SEGC_OK;
}

segc_status segc_tensor_contiguous(segc_arena *arena, const segc_tensor *t, segc_tensor *out) {
    segc_tensor c;
    segc_status st = segc_tensor_new(arena, t->dtype, t->ndim, t->shape, &c);
    if (st) return st;
    st = segc_tensor_copy(&c, t);
    if (st) return st;
    *out = c;
    return SEGC_OK;
}

segc_status segc_tensor_to_f32(segc_arena *arena, const segc_tensor *t, segc_tensor *out) {
    if (!segc_tensor_is_contiguous(t)) return segc_fail(SEGC_ERR_INVALID_ARG, "to_f32: tensor is not contiguous");
    segc_tensor c;
    segc_status st = segc_tensor_new(arena, SEGC_F32, t->ndim, t->shape, &c);
    if (st) return st;
    size_t n = (size_t)segc_tensor_numel(t);
    switch (t->dtype) {
    case SEGC_F32: memcpy(c.data, t->data, n * 4); break;
    case SEGC_F16: segc_f16_to_f32_array(t->data, c.data, n); break;
    case SEGC_BF16: segc_bf16_to_f32_array(t->data, c.data, n); break;
    default: return segc_fail(SEGC_ERR_UNSUPPORTED, "to_f32: dtype %s", segc_dtype_name(t->dtype));
    }
    *out = c;
    return SEGC_OK;
}

void segc_tensor_fill_f32(segc_tensor *t, float value) {
    int64_t n = segc_tensor_numel(t);
    if (segc_tensor_is_contiguous(t)) {
        float *p = t->data;
        for (int64_t i = 0; i < n; i++) p[i] = value;
        return;
    }
    int64_t idx[SEGC_MAX_DIMS] = {0};
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0;
        for (int i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
        ((float *)t->data)[off] = value;
        for (int i = t->ndim - 1; i >= 0; i--) {
            if (++idx[i] < t->shape[i]) break;
            idx[i] = 0;
        }
    }
}

segc_status segc_tensor_check_f32_pair(const char *op, const segc_tensor *x, const segc_tensor *out, int min_ndim) {
    char a[96], b[96];
    if (x->dtype != SEGC_F32 || out->dtype != SEGC_F32)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: dtype %s -> %s (float32 only)", op, segc_dtype_name(x->dtype),
                         segc_dtype_name(out->dtype));
    if (x->ndim < min_ndim)
        return segc_fail(SEGC_ERR_SHAPE, "%s: input %s needs at least %d dims", op,
                         segc_tensor_shape_str(x, a, sizeof a), min_ndim);
    if (!segc_tensor_has_shape(out, x->ndim, x->shape))
        return segc_fail(SEGC_ERR_SHAPE, "%s: output %s != input %s", op, segc_tensor_shape_str(out, a, sizeof a),
                         segc_tensor_shape_str(x, b, sizeof b));
    if (!segc_tensor_is_contiguous(x) || !segc_tensor_is_contiguous(out))
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: input and output must be contiguous", op);
    return SEGC_OK;
}
