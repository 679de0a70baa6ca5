/* segc_file_write.c - the .segc writer: collect metadata and tensors (by pointer or by fill callback),
   lay the file out, then write it to PATH.tmp-XXXXXX (its blocks reserved first) data first, hashing
   the data as it goes, and the header and index last (so deferred metadata values such as a source hash
   can still be in the making while the data is written), and rename it into place. Large files are
   written by a second thread while the caller's thread fills and hashes the next piece.
   Layout: segc_file_format.h. The writer owns copies of every key, name and metadata value. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include "core/status.h"
#include "io/segc_file.h"
#include "io/segc_file_format.h"

/* Bytes per step through the output: each step is produced (fill callback or the caller's data) and
   hashed while it is still in the L2 cache; 4 MB steps measured ~25% slower. */
#define CHUNK_BYTES ((uint64_t)256 << 10)
/* Bytes per hand-over to the write thread (a multiple of CHUNK_BYTES): fewer, larger pieces mean fewer
   sleeps and wake-ups between the threads. Measured on the 178 MB Mask R-CNN conversion (CPU of the
   whole process): 256 KB pieces 122 ms and ~3500 context switches, 1 MB 107 ms, 2 MB 102 ms and ~350
   switches, 4 MB 106-114 ms. */
#define PIECE_BYTES ((uint64_t)2 << 20)

typedef struct wkv {
    char *key;
    segc_kv_type type;
    int64_t count;
    int64_t i;
    double f;
    void *blob;        /* string bytes, or count x 8 bytes of an int/float array */
    char **strs;       /* string array elements */
    segc_file_value_fn later;   /* deferred string: fills blob (placeholder until then) */
    void *later_user;
    size_t later_len;
} wkv;

typedef struct wtensor {
    char *name;
    segc_dtype dtype;
    int ndim;
    int64_t shape[SEGC_MAX_DIMS];
    uint64_t nbytes, offset;
    const void *data;
    segc_file_fill_fn fill;
    void *user;
} wtensor;

struct segc_file_writer {
    wkv *kvs;
    int nkv, cap_kv;
    wtensor *ts;
    int nt, cap_t;
};

/* A growable byte buffer for the metadata and table sections. */
typedef struct bytes {
    uint8_t *p;
    uint64_t n, cap;
    int failed;
} bytes;

static void put(bytes *b, const void *src, uint64_t n) {
    if (b->failed) return;
    if (b->n + n > b->cap) {
        uint64_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, (size_t)cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, (size_t)n);
    b->n += n;
}
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Same rules as the reader: 1..max bytes, no control characters. */
static int name_ok(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

segc_status segc_file_writer_create(segc_file_writer **out) {
    *out = calloc(1, sizeof **out);
    return *out ? SEGC_OK : segc_fail(SEGC_ERR_NOMEM, "segc_file_writer: no memory");
}

void segc_file_writer_free(segc_file_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->nkv; i++) {
        wkv *kv = &w->kvs[i];
        if (kv->strs)
            for (int64_t j = 0; j < kv->count; j++) free(kv->strs[j]);
        free(kv->strs);
        free(kv->blob);
        free(kv->key);
    }
    for (int i = 0; i < w->nt; i++) free(w->ts[i].name);
    free(w->kvs);
    free(w->ts);
    free(w);
}

/* Appends an entry for `key` (validated, unique) and returns it zeroed, or NULL with the error set. */
static wkv *new_kv(segc_file_writer *w, const char *key, segc_kv_type type, int64_t count) {
    if (!key || !name_ok(key, SEGC_FILE_MAX_KEY)) {
        segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: bad metadata key '%.80s'", key ? key : "(null)");
        return NULL;
    }
    if (count < 0 || count > ((int64_t)1 << 32)) {
        segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: metadata '%s': bad count %lld", key, (long long)count);
        return NULL;
    }
    for (int i = 0; i < w->nkv; i++)
        if (!strcmp(w->kvs[i].key, key)) {
            segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: metadata '%s' added twice", key);
            return NULL;
        }
    if (w->nkv == SEGC_FILE_MAX_KV) {
        segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: more than %d metadata entries", SEGC_FILE_MAX_KV);
        return NULL;
    }
    if (w->nkv == w->cap_kv) {
        int cap = w->cap_kv ? w->cap_kv * 2 : 32;
        wkv *p = realloc(w->kvs, (size_t)cap * sizeof *p);
        if (!p) {
            segc_fail(SEGC_ERR_NOMEM, "segc_file_writer: no memory");
            return NULL;
        }
        w->kvs = p;
        w->cap_kv = cap;
    }
    wkv *kv = &w->kvs[w->nkv];
    memset(kv, 0, sizeof *kv);
    if (!(kv->key = dup_str(key))) {
        segc_fail(SEGC_ERR_NOMEM, "segc_file_writer: no memory");
        return NULL;
    }
    kv->type = type;
    kv->count = count;
    w->nkv++;
    return kv;
}

/* Drops the last entry after a failed value copy. */
static segc_status undo_kv(segc_file_writer *w) {
    w->nkv--;
    free(w->kvs[w->nkv].key);
    return segc_fail(SEGC_ERR_NOMEM, "segc_file_writer: no memory");
}

segc_status segc_file_writer_add_str(segc_file_writer *w, const char *key, const char *value) {
    if (!value) return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: metadata '%s': NULL string", key);
    wkv *kv = new_kv(w, key, SEGC_KV_STRING, 1);
    if (!kv) return SEGC_ERR_INVALID_ARG;
    return (kv->blob = dup_str(value)) ? SEGC_OK : undo_kv(w);
}

segc_status segc_file_writer_add_int(segc_file_writer *w, const char *key, int64_t value) {
    wkv *kv = new_kv(w, key, SEGC_KV_INT, 1);
    if (!kv) return SEGC_ERR_INVALID_ARG;
    kv->i = value;
    return SEGC_OK;
}

segc_status segc_file_writer_add_float(segc_file_writer *w, const char *key, double value) {
    wkv *kv = new_kv(w, key, SEGC_KV_FLOAT, 1);
    if (!kv) return SEGC_ERR_INVALID_ARG;
    kv->f = value;
    return SEGC_OK;
}

static segc_status add_array(segc_file_writer *w, const char *key, segc_kv_type type, const void *v, int64_t count) {
    if (!v && count) return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: metadata '%s': NULL array", key);
    wkv *kv = new_kv(w, key, type, count);
    if (!kv) return SEGC_ERR_INVALID_ARG;
    if (!(kv->blob = malloc((size_t)count * 8 + 1))) return undo_kv(w);
    if (count) memcpy(kv->blob, v, (size_t)count * 8);
    return SEGC_OK;
}

segc_status segc_file_writer_add_ints(segc_file_writer *w, const char *key, const int64_t *v, int64_t count) {
    return add_array(w, key, SEGC_KV_INT_ARRAY, v, count);
}

segc_status segc_file_writer_add_floats(segc_file_writer *w, const char *key, const double *v, int64_t count) {
    return add_array(w, key, SEGC_KV_FLOAT_ARRAY, v, count);
}

segc_status segc_file_writer_add_str_deferred(segc_file_writer *w, const char *key, size_t len,
                                              segc_file_value_fn value, void *user) {
    if (!value || len > ((size_t)1 << 20))
        return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: metadata '%s': no value function or %zu bytes", key,
                         len);
    wkv *kv = new_kv(w, key, SEGC_KV_STRING, 1);
    if (!kv) return SEGC_ERR_INVALID_ARG;
    if (!(kv->blob = malloc(len + 1))) return undo_kv(w);
    memset(kv->blob, '?', len);   /* placeholder of the final length: the layout is fixed before the data */
    ((char *)kv->blob)[len] = 0;
    kv->later = value;
    kv->later_user = user;
    kv->later_len = len;
    return SEGC_OK;
}

segc_status segc_file_writer_add_strs(segc_file_writer *w, const char *key, const char *const *v, int64_t count) {
    for (int64_t j = 0; j < count; j++)
        if (!v || !v[j])
            return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: metadata '%s': element %lld is NULL", key,
                             (long long)j);
    wkv *kv = new_kv(w, key, SEGC_KV_STRING_ARRAY, count);
    if (!kv) return SEGC_ERR_INVALID_ARG;
    if (!(kv->strs = calloc((size_t)count + 1, sizeof *kv->strs))) return undo_kv(w);
    for (int64_t j = 0; j < count; j++)
        if (!(kv->strs[j] = dup_str(v[j]))) {
            for (int64_t k = 0; k < j; k++) free(kv->strs[k]);
            free(kv->strs);
            kv->strs = NULL;
            return undo_kv(w);
        }
    return SEGC_OK;
}

/* Validates and appends one tensor entry (data or fill, exactly one of them set). */
static segc_status add_tensor(segc_file_writer *w, const char *name, segc_dtype dtype, int ndim, const int64_t *shape,
                              const void *data, segc_file_fill_fn fill, void *user) {
    if (!name || !name_ok(name, SEGC_FILE_MAX_NAME))
        return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: bad tensor name '%.80s'", name ? name : "(null)");
    if (segc_dtype_size(dtype) == 0 || ndim < 0 || ndim > SEGC_MAX_DIMS || (ndim && !shape))
        return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: tensor %s: bad dtype or rank %d", name, ndim);
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (uint64_t)shape[d] > SEGC_FILE_MAX_DIM)
            return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: tensor %s: dim %d is %lld", name, d,
                             (long long)shape[d]);
        if (shape[d] && numel > ((uint64_t)1 << 44) / (uint64_t)shape[d])
            return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: tensor %s is too large", name);
        numel *= (uint64_t)shape[d];
    }
    if (!data && !fill && numel)
        return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: tensor %s: no data", name);
    for (int i = 0; i < w->nt; i++)
        if (!strcmp(w->ts[i].name, name))
            return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: tensor %s added twice", name);
    if (w->nt == SEGC_FILE_MAX_TENSORS)
        return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: more than %d tensors", SEGC_FILE_MAX_TENSORS);
    if (w->nt == w->cap_t) {
        int cap = w->cap_t ? w->cap_t * 2 : 256;
        wtensor *p = realloc(w->ts, (size_t)cap * sizeof *p);
        if (!p) return segc_fail(SEGC_ERR_NOMEM, "segc_file_writer: no memory");
        w->ts = p;
        w->cap_t = cap;
    }
    wtensor *t = &w->ts[w->nt];
    memset(t, 0, sizeof *t);
    if (!(t->name = dup_str(name))) return segc_fail(SEGC_ERR_NOMEM, "segc_file_writer: no memory");
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->nbytes = numel * segc_dtype_size(dtype);
    t->data = data;
    t->fill = fill;
    t->user = user;
    w->nt++;
    return SEGC_OK;
}

segc_status segc_file_writer_add_tensor(segc_file_writer *w, const char *name, segc_dtype dtype, int ndim,
                                        const int64_t *shape, const void *data) {
    return add_tensor(w, name, dtype, ndim, shape, data, NULL, NULL);
}

segc_status segc_file_writer_add_tensor_fill(segc_file_writer *w, const char *name, segc_dtype dtype, int ndim,
                                             const int64_t *shape, segc_file_fill_fn fill, void *user) {
    if (!fill) return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: tensor %s: NULL fill function", name);
    return add_tensor(w, name, dtype, ndim, shape, NULL, fill, user);
}

/* Serializes the metadata section. */
static void encode_kv(const segc_file_writer *w, bytes *b) {
    for (int i = 0; i < w->nkv; i++) {
        const wkv *kv = &w->kvs[i];
        uint32_t klen = (uint32_t)strlen(kv->key);
        put_u32(b, klen);
        put(b, kv->key, klen);
        put_u32(b, (uint32_t)kv->type);
        switch (kv->type) {
        case SEGC_KV_STRING:
            put_u64(b, strlen(kv->blob));
            put(b, kv->blob, strlen(kv->blob));
            break;
        case SEGC_KV_INT: put(b, &kv->i, 8); break;
        case SEGC_KV_FLOAT: put(b, &kv->f, 8); break;
        case SEGC_KV_INT_ARRAY:
        case SEGC_KV_FLOAT_ARRAY:
            put_u64(b, (uint64_t)kv->count);
            put(b, kv->blob, (uint64_t)kv->count * 8);
            break;
        case SEGC_KV_STRING_ARRAY:
            put_u64(b, (uint64_t)kv->count);
            for (int64_t j = 0; j < kv->count; j++) {
                put_u64(b, strlen(kv->strs[j]));
                put(b, kv->strs[j], strlen(kv->strs[j]));
            }
            break;
        }
    }
}

/* Size in bytes of one tensor table entry. */
static uint64_t entry_size(const wtensor *t) { return 4 + strlen(t->name) + 4 + 4 + 8 * (uint64_t)t->ndim + 16; }

/* Serializes the tensor table (offsets already assigned). */
static void encode_table(const segc_file_writer *w, bytes *b) {
    for (int i = 0; i < w->nt; i++) {
        const wtensor *t = &w->ts[i];
        put_u32(b, (uint32_t)strlen(t->name));
        put(b, t->name, strlen(t->name));
        put_u32(b, (uint32_t)t->dtype);
        put_u32(b, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) put_u64(b, (uint64_t)t->shape[d]);
        put_u64(b, t->offset);
        put_u64(b, t->nbytes);
    }
}

/* For files of at least IO_THREAD_BYTES, pwrite(2) runs on a second thread: the calling thread fills and
   hashes the next piece while the previous one is written (one piece in flight, handed over through a
   mailbox). Measured on the 178 MB Mask R-CNN conversion: writing is ~40% of the writing phase. */
#define IO_THREAD_BYTES ((uint64_t)1 << 20)

typedef struct io_thread {
    thrd_t thread;
    mtx_t lock;
    cnd_t changed;
    int fd;
    const uint8_t *piece;   /* being written (owned by the caller until it is NULL again), or NULL */
    size_t n;
    uint64_t at;            /* file offset of the piece */
    int quit;
    int err;                /* errno of the failed write, EIO if write made no progress; 0: none */
} io_thread;

/* The output: file descriptor, optional write thread, the two stage buffers, next file offset, data
   checksum, progress. */
typedef struct out_stream {
    int fd;
    const char *path;
    io_thread *io;          /* NULL: write on the calling thread */
    uint8_t *stage[2];      /* PIECE_BYTES each: one is filled while the other is being written */
    int turn;               /* the one being filled */
    uint64_t used;          /* bytes in stage[turn] */
    uint64_t at;            /* file offset of the next posted piece */
    segc_xxh64_state sum;   /* of the data section */
    uint64_t done, total;
    void (*progress)(void *user, uint64_t done, uint64_t total);
    void *user;
} out_stream;

/* Writes all n bytes at file offset `at`; 0 or the errno of the failure. */
static int pwrite_fully(int fd, const uint8_t *p, size_t n, uint64_t at) {
    while (n) {
        ssize_t got = pwrite(fd, p, n, (off_t)at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return got < 0 ? errno : EIO;
        p += got;
        n -= (size_t)got;
        at += (uint64_t)got;
    }
    return 0;
}

/* Thread body: writes each piece put in the mailbox, until told to quit. After a failure it only
   empties the mailbox (the error is reported by the next io_post or io_drain). */
static int io_main(void *arg) {
    io_thread *t = arg;
    mtx_lock(&t->lock);
    for (;;) {
        while (!t->piece && !t->quit) cnd_wait(&t->changed, &t->lock);
        if (!t->piece) break;
        const uint8_t *p = t->piece;
        size_t n = t->n;
        uint64_t at = t->at;
        int failed = t->err;
        mtx_unlock(&t->lock);
        int err = failed ? 0 : pwrite_fully(t->fd, p, n, at);
        mtx_lock(&t->lock);
        if (err) t->err = err;
        t->piece = NULL;
        cnd_broadcast(&t->changed);
    }
    mtx_unlock(&t->lock);
    return 0;
}

/* Starts the write thread for fd; NULL (write on the calling thread) if it cannot be started. */
static io_thread *io_start(int fd) {
    io_thread *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->fd = fd;
    if (mtx_init(&t->lock, mtx_plain) != thrd_success) {
        free(t);
        return NULL;
    }
    if (cnd_init(&t->changed) != thrd_success) {
        mtx_destroy(&t->lock);
        free(t);
        return NULL;
    }
    if (thrd_create(&t->thread, io_main, t) != thrd_success) {
        cnd_destroy(&t->changed);
        mtx_destroy(&t->lock);
        free(t);
        return NULL;
    }
    return t;
}

/* Waits until nothing is in flight; the errno of any failed write so far (0 if none). */
static int io_wait_idle(io_thread *t) {
    mtx_lock(&t->lock);
    while (t->piece) cnd_wait(&t->changed, &t->lock);
    int err = t->err;
    mtx_unlock(&t->lock);
    return err;
}

/* Finishes the last write and ends the thread. */
static void io_stop(io_thread *t) {
    if (!t) return;
    io_wait_idle(t);
    mtx_lock(&t->lock);
    t->quit = 1;
    cnd_broadcast(&t->changed);
    mtx_unlock(&t->lock);
    thrd_join(t->thread, NULL);
    cnd_destroy(&t->changed);
    mtx_destroy(&t->lock);
    free(t);
}

static segc_status write_error(const out_stream *o, int err) {
    return segc_fail(SEGC_ERR_IO, "%s: write: %s", o->path, strerror(err));
}

/* Writes n bytes at p to offset o->at and advances it: now, or on the write thread once the previous
   piece is done (p must then stay valid and unchanged until the next io_post or io_drain returns). */
static segc_status io_post(out_stream *o, const uint8_t *p, size_t n) {
    io_thread *t = o->io;
    uint64_t at = o->at;
    o->at += n;
    if (!t) {
        int err = pwrite_fully(o->fd, p, n, at);
        return err ? write_error(o, err) : SEGC_OK;
    }
    int err = io_wait_idle(t);
    if (err) return write_error(o, err);
    mtx_lock(&t->lock);
    t->piece = p;
    t->n = n;
    t->at = at;
    cnd_broadcast(&t->changed);
    mtx_unlock(&t->lock);
    return SEGC_OK;
}

/* Waits until every posted byte is written (so posted buffers may be freed or reused). */
static segc_status io_drain(out_stream *o) {
    int err = o->io ? io_wait_idle(o->io) : 0;
    return err ? write_error(o, err) : SEGC_OK;
}

static void report_progress(out_stream *o) {
    if (o->progress) o->progress(o->user, o->done, o->total);
}

/* Hands the filled part of the current stage buffer to the writer and switches to the other buffer
   (free again: io_post waited for the piece that was in it). */
static segc_status flush_stage(out_stream *o) {
    if (!o->used) return SEGC_OK;
    segc_status st = io_post(o, o->stage[o->turn], (size_t)o->used);
    o->turn ^= 1;
    o->used = 0;
    return st;
}

/* segc_file_fill_fn for data given by pointer (user) and for zero padding (user NULL). */
static segc_status copy_fill(void *user, void *dst, uint64_t offset, uint64_t nbytes) {
    if (user) memcpy(dst, (const uint8_t *)user + offset, (size_t)nbytes);
    else memset(dst, 0, (size_t)nbytes);
    return SEGC_OK;
}

/* Produces n data bytes with fill() into the stage buffers, CHUNK_BYTES at a time (each step a multiple
   of esize, which divides CHUNK_BYTES), hashing every step while it is in the cache. */
static segc_status emit(out_stream *o, uint64_t n, uint64_t esize, segc_file_fill_fn fill, void *user) {
    for (uint64_t off = 0; off < n;) {
        segc_status st = PIECE_BYTES - o->used < esize ? flush_stage(o) : SEGC_OK;
        uint64_t k = n - off, room = PIECE_BYTES - o->used;
        if (k > CHUNK_BYTES) k = CHUNK_BYTES;
        if (k > room) k = room / esize * esize;   /* >= esize after the flush above */
        uint8_t *dst = o->stage[o->turn] + o->used;
        if (!st) st = fill(user, dst, off, k);
        if (st) return st;
        segc_xxh64_update(&o->sum, dst, (size_t)k);
        o->used += k;
        o->done += k;
        off += k;
    }
    return SEGC_OK;
}

/* Allocates the file's blocks up front: a full disk fails here rather than after the conversion, and
   on ext4 the writes then skip delayed allocation (measured: 40% less CPU in write(2), and no forced
   flush when the rename replaces an existing file). File systems without fallocate just skip it. */
static segc_status reserve(out_stream *o, uint64_t size) {
    if (size == 0 || size > (uint64_t)INT64_MAX || fallocate(o->fd, 0, 0, (off_t)size) == 0) return SEGC_OK;
    if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)
        return segc_fail(SEGC_ERR_IO, "%s: cannot reserve %llu bytes: %s", o->path, (unsigned long long)size,
                         strerror(errno));
    return SEGC_OK;
}

/* Streams the data of one tensor through its fill() (or a copy from its pointer). */
static segc_status emit_tensor(out_stream *o, const wtensor *t) {
    segc_status st = t->fill ? emit(o, t->nbytes, segc_dtype_size(t->dtype), t->fill, t->user)
                             : emit(o, t->nbytes, 1, copy_fill, (void *)t->data);   /* read-only use */
    if (st) return segc_fail_context(st, "tensor %s", t->name);
    report_progress(o);
    return SEGC_OK;
}

/* Lays the file out: assigns every tensor offset and fills the header's sections and sizes. The
   metadata size is final already (deferred strings hold placeholders of their final length). */
static segc_status lay_out(segc_file_writer *w, segc_file_header *h) {
    bytes kv = {0};
    encode_kv(w, &kv);
    free(kv.p);
    if (kv.failed) return segc_fail(SEGC_ERR_NOMEM, "segc_file_writer: no memory for the metadata");
    *h = (segc_file_header){.magic = {'S', 'E', 'G', 'C'}, .version = SEGC_FILE_VERSION,
                            .header_size = SEGC_FILE_HEADER_SIZE};
    h->kv_count = (uint64_t)w->nkv;
    h->kv_offset = SEGC_FILE_HEADER_SIZE;
    h->kv_size = kv.n;
    h->tensor_count = (uint64_t)w->nt;
    h->tensor_offset = h->kv_offset + h->kv_size;
    for (int i = 0; i < w->nt; i++) h->tensor_size += entry_size(&w->ts[i]);
    h->data_offset = segc_file_align(h->tensor_offset + h->tensor_size);
    uint64_t pos = h->data_offset;
    for (int i = 0; i < w->nt; i++) {
        pos = segc_file_align(pos);
        w->ts[i].offset = pos;
        pos += w->ts[i].nbytes;
    }
    h->data_size = pos - h->data_offset;
    h->file_size = pos + 8;
    return SEGC_OK;
}

/* Asks each deferred string for its value (after the data is written) and checks it. */
static segc_status resolve_deferred(segc_file_writer *w) {
    for (int i = 0; i < w->nkv; i++) {
        wkv *kv = &w->kvs[i];
        if (!kv->later) continue;
        segc_status st = kv->later(kv->later_user, kv->blob, kv->later_len);
        if (st) return segc_fail_context(st, "metadata '%s'", kv->key);
        if (strlen(kv->blob) != kv->later_len)
            return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: metadata '%s': value holds a NUL byte", kv->key);
    }
    return SEGC_OK;
}

/* Builds bytes [0, data_offset): header (with both of its checksums), metadata, table, zero padding. */
static segc_status encode_head(const segc_file_writer *w, segc_file_header *h, bytes *head) {
    uint8_t hdr[SEGC_FILE_HEADER_SIZE] = {0};
    put(head, hdr, sizeof hdr);   /* encoded last, once the index checksum is known */
    encode_kv(w, head);
    encode_table(w, head);
    if (head->failed) return segc_fail(SEGC_ERR_NOMEM, "segc_file_writer: no memory for the index");
    if (head->n != h->tensor_offset + h->tensor_size)   /* a deferred value changed the layout */
        return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer: the index changed size while writing");
    uint8_t zeros[SEGC_FILE_ALIGN] = {0};
    put(head, zeros, h->data_offset - head->n);
    if (head->failed) return segc_fail(SEGC_ERR_NOMEM, "segc_file_writer: no memory for the index");
    h->index_checksum = segc_xxh64(head->p + h->kv_offset, (size_t)(h->data_offset - h->kv_offset), 0);
    h->header_checksum = 0;
    segc_file_header_encode(h, head->p);
    h->header_checksum = segc_xxh64(head->p, SEGC_FILE_HEADER_SUMMED, 0);
    segc_file_header_encode(h, head->p);
    return SEGC_OK;
}

/* Writes everything to an open descriptor: the data section and its checksum first, then (once the
   deferred metadata is known) the header, metadata and table at the start of the file. */
static segc_status write_all(segc_file_writer *w, out_stream *o) {
    segc_file_header h = {0};
    segc_status st = lay_out(w, &h);
    if (!st) st = reserve(o, h.file_size);
    if (st) return st;
    o->total = h.file_size;
    o->at = h.data_offset;
    report_progress(o);
    uint64_t at = h.data_offset;
    for (int i = 0; i < w->nt && !st; i++) {
        st = emit(o, w->ts[i].offset - at, 1, copy_fill, NULL);   /* zero padding up to the tensor */
        if (!st) st = emit_tensor(o, &w->ts[i]);
        at = w->ts[i].offset + w->ts[i].nbytes;
    }
    uint64_t sum = segc_xxh64_digest(&o->sum);
    if (!st) st = flush_stage(o);
    if (!st) st = io_post(o, (const uint8_t *)&sum, 8);   /* the trailer, not part of the data checksum */
    segc_status drained = io_drain(o);   /* before `sum` goes out of scope and the stage buffers are freed */
    if (!st) st = drained;
    if (!st) st = resolve_deferred(w);
    bytes head = {0};
    if (!st) st = encode_head(w, &h, &head);
    if (!st) {
        int err = pwrite_fully(o->fd, head.p, (size_t)head.n, 0);
        if (err) st = write_error(o, err);
        o->done = o->total;
        if (!st) report_progress(o);
    }
    free(head.p);
    return st;
}

/* Creates "PATH.tmp-XXXXXX" (mode 0644 before the umask, like any new file; never an existing one);
   the name goes to tmp, which holds strlen(path) + 12 bytes. -1 with errno on failure. */
static int create_tmp(const char *path, char *tmp) {
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    static atomic_uint counter;
    size_t plen = strlen(path);
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    uint64_t x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() << 20;
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t r = x + (uint64_t)atomic_fetch_add(&counter, 1) * 0xBF58476D1CE4E5B9ULL;
        memcpy(tmp, path, plen);
        memcpy(tmp + plen, ".tmp-", 5);
        for (int i = 0; i < 6; i++, r /= 36) tmp[plen + 5 + i] = digits[r % 36];
        tmp[plen + 11] = 0;
        int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

segc_status segc_file_writer_write(segc_file_writer *w, const char *path,
                                   void (*progress)(void *user, uint64_t done, uint64_t total), void *user) {
    if (!w || !path) return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_writer_write: NULL argument");
    char *tmp = malloc(strlen(path) + 12);
    uint8_t *stage = aligned_alloc(64, 2 * (size_t)PIECE_BYTES);   /* two buffers, used in turn */
    if (!tmp || !stage) {
        free(tmp);
        free(stage);
        return segc_fail(SEGC_ERR_NOMEM, "segc_file_writer: no memory");
    }
    out_stream o = {.path = tmp, .progress = progress, .user = user, .stage = {stage, stage + PIECE_BYTES}};
    segc_xxh64_init(&o.sum, 0);
    segc_status st = SEGC_OK;
    o.fd = create_tmp(path, tmp);
    if (o.fd < 0) st = segc_fail(SEGC_ERR_IO, "%s: cannot create a temporary file next to it: %s", path, strerror(errno));
    if (!st) {
        uint64_t data_bytes = 0;
        for (int i = 0; i < w->nt; i++) data_bytes += w->ts[i].nbytes;
        if (data_bytes >= IO_THREAD_BYTES) o.io = io_start(o.fd);
        st = write_all(w, &o);
        io_stop(o.io);
        if (close(o.fd) != 0 && !st) st = segc_fail(SEGC_ERR_IO, "%s: close: %s", tmp, strerror(errno));
        if (!st && rename(tmp, path) != 0) st = segc_fail(SEGC_ERR_IO, "rename %s -> %s: %s", tmp, path, strerror(errno));
        if (st) unlink(tmp);
    }
    free(stage);
    free(tmp);
    return st;
}
