/* npy.h - NumPy .npy files (format 1.0/2.0/3.0), little-endian, C order: read and write.
   Used by the tests (reference activations) and by segc dump / --save-logits. */
#ifndef SEGC_IO_NPY_H
#define SEGC_IO_NPY_H

#include <stdint.h>

#include "core/tensor.h"
#include "segc.h"

/* An array read from disk; owns its data (free with segc_npy_free). dtype covers <f4 <f2 |u1 <i4
   (and <f8 <i8 |b1, converted to f32 / i32 / u8 on read). */
typedef struct segc_npy {
    segc_dtype dtype;
    int ndim;
    int64_t shape[SEGC_MAX_DIMS];
    void *data;
} segc_npy;

segc_status segc_npy_read(const char *path, segc_npy *out);
void segc_npy_free(segc_npy *a);
/* A tensor view of a loaded array. */
segc_tensor segc_npy_tensor(const segc_npy *a);
/* Number of elements. */
int64_t segc_npy_numel(const segc_npy *a);

/* Writes a tensor (any strides; f32, f16 as <f2, bf16 widened to <f4, i32, u8). */
segc_status segc_npy_write(const char *path, const segc_tensor *t);

#endif
