/* checkpoint.h - a PyTorch or safetensors checkpoint opened for reading, as a flat list of tensors.
   Container readers: zip (torch.save >= 1.6), legacy (torch < 1.6 pickle + appended storages),
   safetensors. Pickles are interpreted as data only (pickle.c): nothing is ever executed.
   Nested containers are flattened with '.' (e.g. {'model_state': {'a.b': T}} gives "model_state.a.b");
   list/tuple items use their index. Non-tensor leaves (ints, floats, strings) are ignored. */
#ifndef SEGC_CONVERT_CHECKPOINT_H
#define SEGC_CONVERT_CHECKPOINT_H

#include <stdint.h>

#include "segc.h"

#define CKPT_MAX_DIMS 8

typedef enum ckpt_dtype {
    CKPT_F32, CKPT_F16, CKPT_BF16, CKPT_F64, CKPT_I64, CKPT_I32, CKPT_I16, CKPT_I8, CKPT_U8, CKPT_BOOL
} ckpt_dtype;

typedef enum ckpt_format { CKPT_FORMAT_ZIP, CKPT_FORMAT_LEGACY, CKPT_FORMAT_SAFETENSORS } ckpt_format;

typedef struct ckpt_tensor {
    char *name;                     /* flattened key */
    ckpt_dtype dtype;
    int ndim;
    int64_t shape[CKPT_MAX_DIMS];
    int64_t stride[CKPT_MAX_DIMS];  /* elements; may be non-contiguous (torch views) */
    const void *data;               /* first element (storage base + storage offset), little-endian */
    uint64_t storage_nbytes;        /* bytes available from `data` to the end of its storage */
} ckpt_tensor;

typedef struct ckpt ckpt;           /* owns the file mapping and every string and table */

/* Opens a checkpoint, detecting the container from its first bytes. Validates every offset, size,
   shape and stride against the file (hostile input gives SEGC_ERR_FORMAT, never a crash). */
segc_status ckpt_open(const char *path, ckpt **out);
void ckpt_close(ckpt *c);

ckpt_format ckpt_get_format(const ckpt *c);
int ckpt_count(const ckpt *c);
const ckpt_tensor *ckpt_at(const ckpt *c, int i);
const ckpt_tensor *ckpt_find(const ckpt *c, const char *name);

const char *ckpt_dtype_name(ckpt_dtype d);
int ckpt_dtype_size(ckpt_dtype d);
int64_t ckpt_numel(const ckpt_tensor *t);

/* Copies the tensor (honoring strides) into dst as float32 (f16/bf16 widened exactly, f64 rounded,
   integers converted). dst holds ckpt_numel(t) floats. */
segc_status ckpt_tensor_to_f32(const ckpt_tensor *t, float *dst);
/* Copies the raw elements of a float tensor in its own dtype, contiguous, into dst. */
segc_status ckpt_tensor_copy_raw(const ckpt_tensor *t, void *dst);

#endif
