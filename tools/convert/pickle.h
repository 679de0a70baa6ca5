/* pickle.h - a data-only interpreter for the pickles inside PyTorch checkpoints (protocols 2-5).
   Builds a tree of values (None, bool, int, float, str, bytes, tuple, list, dict) and understands
   the few torch globals a state dict needs (_rebuild_tensor_v2, _rebuild_parameter, the typed
   storage classes, OrderedDict). Nothing is ever called or imported: any other global is refused
   with "pickle global module.name is not allowed", except a short documented list of harmless
   classes (numpy scalars, argparse.Namespace, ...) whose instances become opaque "object" values.
   Stack size, memo size, nesting and total allocation are capped: hostile pickles give errors.

       segc_pickle *p; size_t used;
       if (segc_pickle_load(bytes, n, &p, &used) != SEGC_OK) return ...;
       const segc_pk_value *root = segc_pickle_root(p);
       ...
       segc_pickle_free(p);
*/
#ifndef SEGC_CONVERT_PICKLE_H
#define SEGC_CONVERT_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "segc.h"

typedef enum segc_pk_kind {
    SEGC_PK_NONE, SEGC_PK_BOOL, SEGC_PK_INT, SEGC_PK_FLOAT, SEGC_PK_STR, SEGC_PK_BYTES,
    SEGC_PK_TUPLE, SEGC_PK_LIST, SEGC_PK_DICT,
    SEGC_PK_GLOBAL,    /* an allow-listed class or function (only seen as a REDUCE/NEWOBJ operand) */
    SEGC_PK_OBJECT,    /* opaque instance of an ignorable class, or an int too big for int64 */
    SEGC_PK_STORAGE,   /* a torch storage named by a persistent id */
    SEGC_PK_TENSOR     /* torch._utils._rebuild_tensor_v2(...) */
} segc_pk_kind;

/* Persistent id ('storage', storage_type, key, location, numel[, view_metadata]). */
typedef struct segc_pk_storage {
    ckpt_dtype dtype;       /* from the storage class (UntypedStorage: CKPT_U8) */
    const char *key;        /* zip: "<archive>/data/<key>"; legacy: the storage key */
    int64_t numel;          /* elements of the root storage */
    int has_view;           /* legacy view_metadata (view_key, offset, view_numel) */
    int64_t view_offset, view_numel;
} segc_pk_storage;

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, ...); unchecked against the storage. */
typedef struct segc_pk_tensor {
    const struct segc_pk_value *storage;   /* a SEGC_PK_STORAGE value */
    int64_t offset;                        /* in elements */
    int ndim;
    int64_t shape[CKPT_MAX_DIMS];
    int64_t stride[CKPT_MAX_DIMS];
} segc_pk_tensor;

typedef struct segc_pk_value segc_pk_value;
struct segc_pk_value {
    segc_pk_kind kind;
    int64_t i;                  /* INT, BOOL; GLOBAL: which allow-listed global (pickle.c) */
    double f;                   /* FLOAT */
    const char *s;              /* STR, BYTES (NUL-terminated copy); GLOBAL/OBJECT: "module.name" */
    size_t len;                 /* bytes in s */
    segc_pk_value **items;      /* TUPLE, LIST: n items; DICT: n (key, value) pairs as 2n items */
    size_t n, cap;
    segc_pk_storage *storage;   /* STORAGE */
    segc_pk_tensor *tensor;     /* TENSOR */
};

typedef struct segc_pickle segc_pickle;   /* owns every value of one pickle */

/* Runs the pickle starting at data[0] up to its STOP opcode; *used (if not NULL) gets the number
   of bytes consumed, so several pickles written back to back can be read in turn. */
segc_status segc_pickle_load(const uint8_t *data, size_t size, segc_pickle **out, size_t *used);
const segc_pk_value *segc_pickle_root(const segc_pickle *p);
/* Every storage persistent id met while loading, in order (the legacy reader sizes storages by them). */
size_t segc_pickle_storage_count(const segc_pickle *p);
const segc_pk_storage *segc_pickle_storage(const segc_pickle *p, size_t i);
void segc_pickle_free(segc_pickle *p);

#endif
