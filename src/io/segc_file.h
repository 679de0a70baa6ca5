/* segc_file.h - the .segc weight file: reader (mmap, validated) and writer.
   Layout (little-endian; the byte-level format is documented in docs/segc-format.md):
     header   magic "SEGC", format version, counts, offsets
     metadata key/value pairs: string, int64, float64, int64 array, float64 array, string array
     tensors  table of (name, dtype, shape, offset, nbytes)
     data     each tensor aligned to 64 bytes, so an mmap'd file serves float32 weights in place
     checksum over the data (the header and the index have their own, checked on open)
   Tensor names are the checkpoint's own names (wrappers such as "module." stripped). The reader
   validates every count, offset, size and string before anything uses them. */
#ifndef SEGC_IO_SEGC_FILE_H
#define SEGC_IO_SEGC_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"
#include "segc.h"

#define SEGC_FILE_MAGIC "SEGC"
#define SEGC_FILE_VERSION 2
#define SEGC_FILE_ALIGN 64

typedef enum segc_kv_type {
    SEGC_KV_STRING = 0,
    SEGC_KV_INT = 1,
    SEGC_KV_FLOAT = 2,
    SEGC_KV_INT_ARRAY = 3,
    SEGC_KV_FLOAT_ARRAY = 4,
    SEGC_KV_STRING_ARRAY = 5
} segc_kv_type;

/* One metadata entry as the reader exposes it (pointers into the mapping, valid while f is open). */
typedef struct segc_kv {
    const char *key;
    segc_kv_type type;
    int64_t count;             /* array length; 1 for scalars and strings */
    const char *str;           /* SEGC_KV_STRING */
    int64_t i;                 /* SEGC_KV_INT */
    double f;                  /* SEGC_KV_FLOAT */
    const int64_t *ints;       /* SEGC_KV_INT_ARRAY (may be unaligned: read with memcpy-safe helpers) */
    const double *floats;      /* SEGC_KV_FLOAT_ARRAY */
    const char *const *strs;   /* SEGC_KV_STRING_ARRAY */
} segc_kv;

/* One tensor table entry. */
typedef struct segc_file_tensor {
    const char *name;
    segc_dtype dtype;          /* f32, f16 or bf16 (i32/u8 allowed for buffers) */
    int ndim;
    int64_t shape[SEGC_MAX_DIMS];
    uint64_t offset;           /* from the start of the file, multiple of 64 */
    uint64_t nbytes;
    const void *data;          /* inside the mapping */
} segc_file_tensor;

/* ---- reader (segc_file_open / segc_file_close are in segc.h) ---- */
int segc_file_kv_count(const segc_file *f);
const segc_kv *segc_file_kv_at(const segc_file *f, int i);
const segc_kv *segc_file_kv_find(const segc_file *f, const char *key);   /* NULL if absent */

/* Typed look-ups: SEGC_ERR_NOT_FOUND if absent, SEGC_ERR_FORMAT if of another type. */
segc_status segc_file_get_str(const segc_file *f, const char *key, const char **out);
segc_status segc_file_get_int(const segc_file *f, const char *key, int64_t *out);
segc_status segc_file_get_float(const segc_file *f, const char *key, double *out);
/* Copies an int or float array of exactly `count` elements (converting float arrays to float). */
segc_status segc_file_get_ints(const segc_file *f, const char *key, int64_t *out, int64_t count);
segc_status segc_file_get_floats(const segc_file *f, const char *key, float *out, int64_t count);

int segc_file_tensor_count(const segc_file *f);
const segc_file_tensor *segc_file_tensor_at(const segc_file *f, int i);
const segc_file_tensor *segc_file_find(const segc_file *f, const char *name);   /* NULL if absent */

/* A read-only view of a stored tensor in its stored dtype. SEGC_ERR_NOT_FOUND names the tensor. */
segc_status segc_file_tensor_view(const segc_file *f, const char *name, segc_tensor *out);
/* Same, and checks the shape; SEGC_ERR_SHAPE says expected and found shapes. */
segc_status segc_file_tensor_expect(const segc_file *f, const char *name, int ndim, const int64_t *shape,
                                    segc_tensor *out);

const char *segc_file_path(const segc_file *f);
uint64_t segc_file_size(const segc_file *f);

/* Recomputes the trailing checksum of the tensor data (reads every byte: ~0.1 s per GB from the page
   cache). segc_file_open checks the header and metadata/table checksums, so after both every byte of
   the file is covered; this is `segc info --verify`. */
segc_status segc_file_verify(const segc_file *f);

/* ---- the checksum: XXH64 (seed 0), streaming; see docs/segc-format.md ---- */
typedef struct segc_xxh64_state {
    uint64_t v[4];           /* lane accumulators */
    uint64_t total;          /* bytes so far */
    uint8_t buf[32];         /* partial stripe */
    uint32_t nbuf;
} segc_xxh64_state;

void segc_xxh64_init(segc_xxh64_state *s, uint64_t seed);
void segc_xxh64_update(segc_xxh64_state *s, const void *data, size_t n);
uint64_t segc_xxh64_digest(const segc_xxh64_state *s);
uint64_t segc_xxh64(const void *data, size_t n, uint64_t seed);

/* ---- writer: collects metadata and tensors, then writes the whole file in one go ---- */
typedef struct segc_file_writer segc_file_writer;

segc_status segc_file_writer_create(segc_file_writer **out);
void segc_file_writer_free(segc_file_writer *w);

segc_status segc_file_writer_add_str(segc_file_writer *w, const char *key, const char *value);
segc_status segc_file_writer_add_int(segc_file_writer *w, const char *key, int64_t value);
segc_status segc_file_writer_add_float(segc_file_writer *w, const char *key, double value);
segc_status segc_file_writer_add_ints(segc_file_writer *w, const char *key, const int64_t *v, int64_t count);
segc_status segc_file_writer_add_floats(segc_file_writer *w, const char *key, const double *v, int64_t count);
segc_status segc_file_writer_add_strs(segc_file_writer *w, const char *key, const char *const *v, int64_t count);

/* Adds a string of exactly `len` bytes whose value is known only later (e.g. a hash of the source that
   is still being computed): the data is written first, then value(user, dst, len) must fill dst[0, len)
   (no NUL byte); it is called once, from the thread that called segc_file_writer_write, after the last
   tensor's data and before the metadata is written. A failure aborts the write. */
typedef segc_status (*segc_file_value_fn)(void *user, char *dst, size_t len);
segc_status segc_file_writer_add_str_deferred(segc_file_writer *w, const char *key, size_t len,
                                              segc_file_value_fn value, void *user);

/* Adds a tensor whose `data` (contiguous, in `dtype`) must stay valid until segc_file_writer_write. */
segc_status segc_file_writer_add_tensor(segc_file_writer *w, const char *name, segc_dtype dtype, int ndim,
                                        const int64_t *shape, const void *data);

/* Adds a tensor whose bytes are produced while the file is written (so a converter never holds a
   second copy of the weights): fill(user, dst, offset, nbytes) must write bytes [offset, offset+nbytes)
   of the tensor's contiguous data in `dtype` into dst. offset and nbytes are multiples of the dtype size;
   fill is called in increasing offset order, from the thread that called segc_file_writer_write. */
typedef segc_status (*segc_file_fill_fn)(void *user, void *dst, uint64_t offset, uint64_t nbytes);
segc_status segc_file_writer_add_tensor_fill(segc_file_writer *w, const char *name, segc_dtype dtype, int ndim,
                                             const int64_t *shape, segc_file_fill_fn fill, void *user);

/* Writes the file: the data first, then the header and index, to "PATH.tmp-XXXXXX" in the same
   directory, renamed to PATH at the end; a failure leaves neither half a file nor the temporary, and an
   existing PATH untouched. `progress`, if not NULL, is called with bytes written so far and the total. */
segc_status segc_file_writer_write(segc_file_writer *w, const char *path,
                                   void (*progress)(void *user, uint64_t done, uint64_t total), void *user);

#endif
