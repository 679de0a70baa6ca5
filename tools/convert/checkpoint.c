/* checkpoint.c - ckpt_open: map the file, detect the container, let its reader register tensors;
   the validated tensor table, name lookup, pickle-tree flattening shared by the torch readers, and
   the dtype conversions (strided, unaligned-safe). Container parsing lives in torch_zip.c,
   torch_legacy.c and safetensors.c. */
#include "ckpt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/half.h"
#include "core/status.h"

#define CKPT_MAX_VISITS (1 << 22)   /* pickle nodes walked: shared sub-trees could explode */

/* torch/serialization.py MAGIC_NUMBER 0x1950a86a20f9469cfc6c as the pickle opcode LONG1 writes it
   (10 little-endian bytes); the legacy file opens with it, after PROTO (and FRAME from protocol 4). */
static const uint8_t LEGACY_MAGIC[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
#define LEGACY_MAGIC_WITHIN 16   /* bytes from the start of the file */

/* Short names as the tests and messages print them. */
const char *ckpt_dtype_name(ckpt_dtype d) {
    static const char *names[] = {"f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool"};
    return (unsigned)d < sizeof names / sizeof names[0] ? names[d] : "?";
}

int ckpt_dtype_size(ckpt_dtype d) {
    static const int sizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};
    return (unsigned)d < sizeof sizes / sizeof sizes[0] ? sizes[d] : 0;
}

int64_t ckpt_numel(const ckpt_tensor *t) {
    int64_t n = 1;
    for (int k = 0; k < t->ndim; k++) n *= t->shape[k];
    return n;
}

ckpt_format ckpt_get_format(const ckpt *c) { return c->format; }
int ckpt_count(const ckpt *c) { return c->count; }
const ckpt_tensor *ckpt_at(const ckpt *c, int i) { return i >= 0 && i < c->count ? &c->tensors[i] : NULL; }

const ckpt_tensor *ckpt_find(const ckpt *c, const char *name) {
    int lo = 0, hi = c->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int r = strcmp(c->tensors[c->by_name[mid]].name, name);
        if (r == 0) return &c->tensors[c->by_name[mid]];
        if (r < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

segc_status ckpt_add_tensor(ckpt *c, const char *name, ckpt_dtype dtype, int ndim, const int64_t *shape,
                            const int64_t *stride, int64_t offset, const uint8_t *storage,
                            uint64_t storage_nbytes) {
    const int64_t esize = ckpt_dtype_size(dtype);
    if (ndim < 0 || ndim > CKPT_MAX_DIMS)
        return segc_fail(SEGC_ERR_FORMAT, "tensor '%s' has %d dimensions (max %d)", name, ndim, CKPT_MAX_DIMS);
    if (offset < 0) return segc_fail(SEGC_ERR_FORMAT, "tensor '%s' has a negative storage offset", name);
    /* numel and the last element's index, overflow-checked */
    int64_t numel = 1, last = offset;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0 || stride[k] < 0)
            return segc_fail(SEGC_ERR_FORMAT, "tensor '%s' has a negative size or stride in dim %d", name, k);
        if (shape[k] == 0) numel = 0;
        else if (numel != 0 && __builtin_mul_overflow(numel, shape[k], &numel))
            return segc_fail(SEGC_ERR_FORMAT, "tensor '%s' has too many elements", name);
    }
    for (int k = 0; k < ndim && numel > 0; k++) {
        int64_t span;
        if (__builtin_mul_overflow(shape[k] - 1, stride[k], &span) || __builtin_add_overflow(last, span, &last))
            return segc_fail(SEGC_ERR_FORMAT, "tensor '%s': strides overflow", name);
    }
    /* bytes needed: up to and including the last element (just the offset for empty tensors) */
    int64_t need;
    if (__builtin_mul_overflow(numel > 0 ? last + 1 : offset, esize, &need) || (uint64_t)need > storage_nbytes)
        return segc_fail(SEGC_ERR_FORMAT,
                         "tensor '%s' (offset %lld, %lld elements of %s) reaches past its %llu-byte storage", name,
                         (long long)offset, (long long)numel, ckpt_dtype_name(dtype),
                         (unsigned long long)storage_nbytes);
    if (c->count >= CKPT_MAX_TENSORS) return segc_fail(SEGC_ERR_FORMAT, "more than %d tensors", CKPT_MAX_TENSORS);
    if (c->count == c->cap) {
        int cap = c->cap ? c->cap * 2 : 256;
        ckpt_tensor *t = realloc(c->tensors, (size_t)cap * sizeof *t);
        if (!t) return segc_fail(SEGC_ERR_NOMEM, "out of memory for the tensor table");
        c->tensors = t;
        c->cap = cap;
    }
    ckpt_tensor *t = &c->tensors[c->count];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return segc_fail(SEGC_ERR_NOMEM, "out of memory for tensor names");
    c->count++;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int k = 0; k < ndim; k++) {
        t->shape[k] = shape[k];
        t->stride[k] = stride[k];
    }
    t->data = storage + offset * esize;
    t->storage_nbytes = storage_nbytes - (uint64_t)(offset * esize);
    return SEGC_OK;
}

/* ---- pickle-tree flattening ---- */

typedef struct flatten {
    ckpt *c;
    ckpt_storage_fn fn;
    void *user;
    char name[CKPT_MAX_NAME];
    long visits;
} flatten;

/* Writes the text of a non-string dict key (e.g. optimizer state's int keys) into buf; 0 if it has
   no name form (the entry is skipped). */
static int key_text(const segc_pk_value *k, char *buf, size_t n) {
    switch (k->kind) {
    case SEGC_PK_INT: snprintf(buf, n, "%lld", (long long)k->i); return 1;
    case SEGC_PK_BOOL: snprintf(buf, n, "%s", k->i ? "True" : "False"); return 1;
    case SEGC_PK_NONE: snprintf(buf, n, "None"); return 1;
    default: return 0;
    }
}

static segc_status walk(flatten *f, const segc_pk_value *v, size_t len, int depth);

/* Appends ".key" (or "key" at the root) to the name and walks the child. */
static segc_status walk_child(flatten *f, const char *key, const segc_pk_value *child, size_t len, int depth) {
    size_t klen = strlen(key), sep = len > 0;
    if (len + sep + klen + 1 > sizeof f->name) {
        f->name[len] = '\0';
        return segc_fail(SEGC_ERR_FORMAT, "checkpoint key under '%.200s' is too long", f->name);
    }
    if (sep) f->name[len] = '.';
    memcpy(f->name + len + sep, key, klen + 1);
    return walk(f, child, len + sep + klen, depth + 1);
}

static segc_status walk(flatten *f, const segc_pk_value *v, size_t len, int depth) {
    f->name[len] = '\0';
    if (++f->visits > CKPT_MAX_VISITS) return segc_fail(SEGC_ERR_FORMAT, "checkpoint pickle has too many nodes");
    if (depth > CKPT_MAX_NESTING)
        return segc_fail(SEGC_ERR_FORMAT, "checkpoint nests deeper than %d levels at '%.200s'", CKPT_MAX_NESTING,
                         f->name);
    char key[64];
    segc_status st = SEGC_OK;
    switch (v->kind) {
    case SEGC_PK_DICT:
        for (size_t k = 0; k < v->n && st == SEGC_OK; k++) {
            const segc_pk_value *kv = v->items[2 * k];
            if (kv->kind == SEGC_PK_STR) st = walk_child(f, kv->s, v->items[2 * k + 1], len, depth);
            else if (key_text(kv, key, sizeof key)) st = walk_child(f, key, v->items[2 * k + 1], len, depth);
        }
        return st;
    case SEGC_PK_LIST:
    case SEGC_PK_TUPLE:
        for (size_t k = 0; k < v->n && st == SEGC_OK; k++) {
            snprintf(key, sizeof key, "%zu", k);
            st = walk_child(f, key, v->items[k], len, depth);
        }
        return st;
    case SEGC_PK_TENSOR: {
        const segc_pk_tensor *t = v->tensor;
        const uint8_t *data;
        uint64_t nbytes;
        st = f->fn(f->user, t->storage->storage, &data, &nbytes);
        if (st != SEGC_OK) return segc_fail_context(st, "tensor '%.200s'", f->name);
        return ckpt_add_tensor(f->c, f->name, t->storage->storage->dtype, t->ndim, t->shape, t->stride, t->offset,
                               data, nbytes);
    }
    default:
        return SEGC_OK;   /* ints, floats, strings, storages, opaque objects: not weights */
    }
}

segc_status ckpt_add_pickle_tensors(ckpt *c, const segc_pk_value *root, ckpt_storage_fn fn, void *user) {
    flatten *f = malloc(sizeof *f);
    if (!f) return segc_fail(SEGC_ERR_NOMEM, "out of memory");
    f->c = c;
    f->fn = fn;
    f->user = user;
    f->visits = 0;
    segc_status st = walk(f, root, 0, 0);
    free(f);
    return st;
}

/* ---- open / close ---- */

typedef struct name_index { const char *name; int index; } name_index;
/* qsort order of (name, index) pairs: by name. */
static int name_index_cmp(const void *a, const void *b) {
    return strcmp(((const name_index *)a)->name, ((const name_index *)b)->name);
}

/* Sorts the name index and refuses duplicate flattened names. */
static segc_status index_names(ckpt *c) {
    size_t n = (size_t)(c->count ? c->count : 1);
    name_index *tmp = malloc(sizeof *tmp * n);
    c->by_name = malloc(sizeof(int) * n);
    if (!tmp || !c->by_name) {
        free(tmp);
        return segc_fail(SEGC_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < c->count; i++) tmp[i] = (name_index){c->tensors[i].name, i};
    qsort(tmp, (size_t)c->count, sizeof *tmp, name_index_cmp);
    segc_status st = SEGC_OK;
    for (int i = 0; i < c->count; i++) {
        c->by_name[i] = tmp[i].index;
        if (i > 0 && st == SEGC_OK && strcmp(tmp[i - 1].name, tmp[i].name) == 0)
            st = segc_fail(SEGC_ERR_FORMAT, "two tensors are named '%.200s'", tmp[i].name);
    }
    free(tmp);
    return st;
}

/* Picks the container from the first bytes and runs its reader. */
static segc_status read_container(ckpt *c) {
    const uint8_t *d = c->data;
    size_t n = c->size;
    if (n >= 4 && memcmp(d, "PK\x03\x04", 4) == 0) {
        c->format = CKPT_FORMAT_ZIP;
        return ckpt_read_torch_zip(c);
    }
    size_t head = n < LEGACY_MAGIC_WITHIN + sizeof LEGACY_MAGIC ? n : LEGACY_MAGIC_WITHIN + sizeof LEGACY_MAGIC;
    if (n >= 2 && d[0] == 0x80 && memmem(d, head, LEGACY_MAGIC, sizeof LEGACY_MAGIC)) {
        c->format = CKPT_FORMAT_LEGACY;
        return ckpt_read_torch_legacy(c);
    }
    if (n >= 512 && memcmp(d + 257, "ustar", 5) == 0)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "tar checkpoints (torch < 0.1.10) are not supported; re-save it");
    /* safetensors (u64 header length, then the JSON header) before the pickle test: the length's low
       byte may well be 0x80 */
    if (n >= 10 && d[8] == '{') {
        c->format = CKPT_FORMAT_SAFETENSORS;
        return ckpt_read_safetensors(c);
    }
    if (n >= 1 && d[0] == 0x80)
        return segc_fail(SEGC_ERR_FORMAT, "a pickle without the torch magic number: not a torch checkpoint");
    return segc_fail(SEGC_ERR_FORMAT, "not a checkpoint: no zip, torch or safetensors header (%zu bytes)", n);
}

/* Runs the reader on c (data already set) and builds the index; frees c on failure. */
static segc_status finish_open(ckpt *c, ckpt **out) {
    segc_status st = read_container(c);
    if (st == SEGC_OK) st = index_names(c);
    if (st != SEGC_OK) {
        ckpt_close(c);
        return st;
    }
    *out = c;
    return SEGC_OK;
}

segc_status ckpt_open_memory(const void *data, size_t size, ckpt **out) {
    *out = NULL;
    ckpt *c = calloc(1, sizeof *c);
    if (!c) return segc_fail(SEGC_ERR_NOMEM, "out of memory");
    c->data = data;
    c->size = size;
    return finish_open(c, out);
}

segc_status ckpt_open(const char *path, ckpt **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return segc_fail(SEGC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return segc_fail(SEGC_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return segc_fail(SEGC_ERR_FORMAT, "%s: empty file", path);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return segc_fail(SEGC_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    ckpt *c = calloc(1, sizeof *c);
    if (!c) {
        munmap(map, (size_t)sb.st_size);
        return segc_fail(SEGC_ERR_NOMEM, "out of memory");
    }
    c->data = map;
    c->size = (size_t)sb.st_size;
    c->mapped = 1;
    segc_status st = finish_open(c, out);
    if (st != SEGC_OK) return segc_fail_context(st, "%s", path);
    return SEGC_OK;
}

void ckpt_close(ckpt *c) {
    if (!c) return;
    for (int i = 0; i < c->count; i++) free(c->tensors[i].name);
    free(c->tensors);
    free(c->by_name);
    segc_zip_close(c->zip);
    if (c->mapped) munmap((void *)c->data, c->size);
    free(c);
}

/* ---- element access ---- */

/* Element i (in the tensor's dtype) widened to float; unaligned-safe. */
static float load_f32(const uint8_t *p, ckpt_dtype d) {
    union { float f; double f64; int64_t i64; int32_t i32; int16_t i16; uint16_t u16; int8_t i8; uint8_t u8; } u;
    memcpy(&u, p, (size_t)ckpt_dtype_size(d));
    switch (d) {
    case CKPT_F32: return u.f;
    case CKPT_F16: return segc_f16_to_f32(u.u16);
    case CKPT_BF16: return segc_bf16_to_f32(u.u16);
    case CKPT_F64: return (float)u.f64;
    case CKPT_I64: return (float)u.i64;
    case CKPT_I32: return (float)u.i32;
    case CKPT_I16: return (float)u.i16;
    case CKPT_I8: return (float)u.i8;
    case CKPT_U8: return (float)u.u8;
    case CKPT_BOOL: return u.u8 ? 1.0f : 0.0f;
    }
    return 0.0f;
}

/* Visits the elements of t in row-major order, calling emit(byte pointer, index). The caller's
   tensor was validated by ckpt_add_tensor, so every address is inside the storage. */
typedef void (*visit_fn)(void *user, const uint8_t *src, int64_t i);
static void visit_elements(const ckpt_tensor *t, visit_fn emit, void *user) {
    const int64_t esize = ckpt_dtype_size(t->dtype), numel = ckpt_numel(t);
    if (numel == 0) return;
    int64_t idx[CKPT_MAX_DIMS] = {0};
    int64_t off = 0;   /* element offset of idx */
    for (int64_t i = 0; i < numel; i++) {
        emit(user, (const uint8_t *)t->data + off * esize, i);
        for (int k = t->ndim - 1; k >= 0; k--) {
            if (++idx[k] < t->shape[k]) { off += t->stride[k]; break; }
            off -= (idx[k] - 1) * t->stride[k];
            idx[k] = 0;
        }
    }
}

/* visit_fn targets: widen to float32, or copy the raw element. */
typedef struct to_f32_ctx { float *dst; ckpt_dtype dtype; } to_f32_ctx;
static void emit_f32(void *user, const uint8_t *src, int64_t i) {
    to_f32_ctx *x = user;
    x->dst[i] = load_f32(src, x->dtype);
}

typedef struct raw_ctx { uint8_t *dst; size_t esize; } raw_ctx;
static void emit_raw(void *user, const uint8_t *src, int64_t i) {
    raw_ctx *x = user;
    memcpy(x->dst + (size_t)i * x->esize, src, x->esize);
}

/* True if t's strides are the row-major strides of its shape (or it has at most one element). */
static int is_contiguous(const ckpt_tensor *t) {
    int64_t expect = 1;
    for (int k = t->ndim - 1; k >= 0; k--) {
        if (t->shape[k] != 1 && t->stride[k] != expect) return 0;
        expect *= t->shape[k];
    }
    return 1;
}

segc_status ckpt_tensor_to_f32(const ckpt_tensor *t, float *dst) {
    const int64_t numel = ckpt_numel(t);
    if (is_contiguous(t)) {
        const uint8_t *src = t->data;
        if (t->dtype == CKPT_F32) { memcpy(dst, src, (size_t)numel * 4); return SEGC_OK; }
        int aligned = ((uintptr_t)src % sizeof(uint16_t)) == 0;
        if (t->dtype == CKPT_F16 && aligned) {
            segc_f16_to_f32_array((const uint16_t *)(const void *)src, dst, (size_t)numel);
            return SEGC_OK;
        }
        if (t->dtype == CKPT_BF16 && aligned) {
            segc_bf16_to_f32_array((const uint16_t *)(const void *)src, dst, (size_t)numel);
            return SEGC_OK;
        }
        const int esize = ckpt_dtype_size(t->dtype);
        for (int64_t i = 0; i < numel; i++) dst[i] = load_f32(src + i * esize, t->dtype);
        return SEGC_OK;
    }
    to_f32_ctx x = {dst, t->dtype};
    visit_elements(t, emit_f32, &x);
    return SEGC_OK;
}

segc_status ckpt_tensor_copy_raw(const ckpt_tensor *t, void *dst) {
    const int64_t numel = ckpt_numel(t);
    const size_t esize = (size_t)ckpt_dtype_size(t->dtype);
    if (is_contiguous(t)) {
        memcpy(dst, t->data, (size_t)numel * esize);
        return SEGC_OK;
    }
    raw_ctx x = {dst, esize};
    visit_elements(t, emit_raw, &x);
    return SEGC_OK;
}
