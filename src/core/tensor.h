/* tensor.h - the tensor: a typed view of memory with a shape (up to 6-D) and strides in elements.
   A tensor never owns its data: the data lives in an arena (activations), in the mmap'd weight file
   or in a model's own buffer (widened weights). Ops take contiguous float32 NCHW tensors unless they
   say otherwise; views (reshape, narrow, permute) are free and segc_tensor_contiguous() copies. */
#ifndef SEGC_CORE_TENSOR_H
#define SEGC_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "segc.h"

#define SEGC_MAX_DIMS 6

typedef enum segc_dtype {
    SEGC_F32 = 0,
    SEGC_F16 = 1,
    SEGC_BF16 = 2,
    SEGC_I32 = 3,
    SEGC_U8 = 4
} segc_dtype;

typedef struct segc_tensor {
    segc_dtype dtype;
    int ndim;
    int64_t shape[SEGC_MAX_DIMS];
    int64_t stride[SEGC_MAX_DIMS];  /* in elements, not bytes */
    void *data;
} segc_tensor;

size_t segc_dtype_size(segc_dtype dtype);
const char *segc_dtype_name(segc_dtype dtype);   /* "f32", "f16", "bf16", "i32", "u8" */

/* Number of elements (product of the shape); 0 for an empty tensor. */
int64_t segc_tensor_numel(const segc_tensor *t);
/* True if the strides are the row-major strides of the shape. */
int segc_tensor_is_contiguous(const segc_tensor *t);
/* Writes "[1, 3, 512, 512]" into buf (always NUL-terminated); returns buf. */
const char *segc_tensor_shape_str(const segc_tensor *t, char *buf, size_t size);
/* True if t has exactly this shape. */
int segc_tensor_has_shape(const segc_tensor *t, int ndim, const int64_t *shape);

/* A contiguous tensor over existing memory (nothing is copied or owned). */
segc_tensor segc_tensor_wrap(segc_dtype dtype, int ndim, const int64_t *shape, void *data);
/* Shorthand for a contiguous float32 tensor of up to 4 dims: segc_tensor_f32(data, 4, n, c, h, w). */
segc_tensor segc_tensor_f32(float *data, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);

/* Allocates a contiguous tensor from the arena. Fails with SEGC_ERR_NOMEM or SEGC_ERR_INVALID_ARG
   (negative or overflowing shape). The data is uninitialized. */
segc_status segc_tensor_new(segc_arena *arena, segc_dtype dtype, int ndim, const int64_t *shape,
                            segc_tensor *out);
/* Same for float32 with the dims given inline (ndim from 1 to 4). */
segc_status segc_tensor_new_f32(segc_arena *arena, segc_tensor *out, int ndim, int64_t d0, int64_t d1,
                                int64_t d2, int64_t d3);

/* Views: no copy. reshape needs a contiguous tensor and the same element count. */
segc_status segc_tensor_reshape(const segc_tensor *t, int ndim, const int64_t *shape, segc_tensor *out);
/* The sub-range [start, start + length) along `dim`. */
segc_status segc_tensor_narrow(const segc_tensor *t, int dim, int64_t start, int64_t length,
                               segc_tensor *out);
/* Reorders the dims: out.shape[i] = t.shape[perm[i]]. */
segc_status segc_tensor_permute(const segc_tensor *t, const int *perm, segc_tensor *out);

/* Copies any (strided) tensor into a new contiguous one of the same dtype from the arena. */
segc_status segc_tensor_contiguous(segc_arena *arena, const segc_tensor *t, segc_tensor *out);
/* Copies src into dst elementwise; same shape and dtype, any strides on both sides. */
segc_status segc_tensor_copy(segc_tensor *dst, const segc_tensor *src);
/* Converts a contiguous f32/f16/bf16 tensor to a new contiguous float32 tensor from the arena. */
segc_status segc_tensor_to_f32(segc_arena *arena, const segc_tensor *t, segc_tensor *out);
/* The usual precondition of an elementwise-shaped op: x and out contiguous float32 of the same shape with
   at least min_ndim dims; the error names `op` and both shapes. */
segc_status segc_tensor_check_f32_pair(const char *op, const segc_tensor *x, const segc_tensor *out, int min_ndim);
/* Fills a float32 tensor with a value. */
void segc_tensor_fill_f32(segc_tensor *t, float value);

/* Pointer to element (i0, i1, ...) of a float32 tensor of exactly `ndim` 4 dims, honoring strides. */
static inline float *segc_at4(const segc_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return (float *)t->data + i0 * t->stride[0] + i1 * t->stride[1] + i2 * t->stride[2] + i3 * t->stride[3];
}

#endif
