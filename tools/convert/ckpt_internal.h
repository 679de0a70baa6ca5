/* ckpt_internal.h - what the container readers (torch_zip.c, torch_legacy.c, safetensors.c) share
   with checkpoint.c: the ckpt struct, validated tensor registration and pickle-tree flattening.
   Also an open-from-memory entry point for tests and fuzzers. */
#ifndef SEGC_CONVERT_CKPT_INTERNAL_H
#define SEGC_CONVERT_CKPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "pickle.h"
#include "zip.h"

#define CKPT_MAX_TENSORS (1 << 20)   /* real checkpoints have < 100k */
#define CKPT_MAX_NAME 4096        /* bytes in a flattened name */
#define CKPT_MAX_NESTING 64       /* dict/list levels walked when flattening */

struct ckpt {
    ckpt_format format;
    const uint8_t *data;          /* the whole file */
    size_t size;
    int mapped;                   /* data is our mmap (else borrowed from ckpt_open_memory's caller) */
    ckpt_tensor *tensors;         /* each name malloc'd and owned here */
    int count, cap;
    int *by_name;                 /* tensor indices sorted by name, for ckpt_find */
    segc_zip *zip;                /* zip format: keeps inflated entries alive */
};

/* Opens a checkpoint held in data[0, size) (not copied; must outlive the ckpt). */
segc_status ckpt_open_memory(const void *data, size_t size, ckpt **out);

/* Registers a tensor whose storage holds storage_nbytes bytes at `storage`, starting `offset`
   elements in. Checks dims, sizes, strides (>= 0) and that every element lies in the storage. */
segc_status ckpt_add_tensor(ckpt *c, const char *name, ckpt_dtype dtype, int ndim, const int64_t *shape,
                            const int64_t *stride, int64_t offset, const uint8_t *storage,
                            uint64_t storage_nbytes);

/* Where the bytes of a storage named by a persistent id are (container specific). */
typedef segc_status (*ckpt_storage_fn)(void *user, const segc_pk_storage *s, const uint8_t **data,
                                       uint64_t *nbytes);

/* Walks a pickle tree, flattening dict keys and list indices with '.', and registers every tensor
   (storage bytes from `fn`). Depth, name length and visited nodes are bounded. */
segc_status ckpt_add_pickle_tensors(ckpt *c, const segc_pk_value *root, ckpt_storage_fn fn, void *user);

/* Container readers: fill c->tensors from c->data. */
segc_status ckpt_read_torch_zip(ckpt *c);
segc_status ckpt_read_torch_legacy(ckpt *c);
segc_status ckpt_read_safetensors(ckpt *c);

#endif
