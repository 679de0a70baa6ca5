/* segc_file.c - the .segc reader: mmap the file read-only, validate every count, length, offset and
   string before anything uses it, and expose the metadata and tensor table. The writer is in
   segc_file_write.c; the byte layout is in docs/segc-format.md (and segc_file_format.h).
   The reader allocates only its tables (one block each); tensor data stays in the mapping. */
#include "io/segc_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"
#include "io/segc_file_format.h"

struct segc_file {
    char *path;
    const uint8_t *map;
    uint64_t size;
    uint64_t data_offset;      /* start of the data section (the trailer covers [data_offset, size - 8)) */
    int nkv;
    segc_kv *kvs;
    int ntensors;
    segc_file_tensor *tensors;
    int *by_name;              /* tensor indices sorted by name (binary search, duplicate check) */
    char *strings;             /* NUL-terminated copies of every key, name and string value */
    const char **strptrs;      /* element pointers of the string arrays */
};

/* ---- XXH64 (the published algorithm by Yann Collet; seed 0 in the file format) ---- */
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }   /* little-endian host */
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t xxh_round(uint64_t acc, uint64_t in) { return rotl64(acc + in * P2, 31) * P1; }
static uint64_t xxh_merge(uint64_t acc, uint64_t v) { return (acc ^ xxh_round(0, v)) * P1 + P4; }

void segc_xxh64_init(segc_xxh64_state *s, uint64_t seed) {
    s->v[0] = seed + P1 + P2;
    s->v[1] = seed + P2;
    s->v[2] = seed;
    s->v[3] = seed - P1;
    s->total = 0;
    s->nbuf = 0;
}

/* Consumes whole 32-byte stripes; returns the bytes consumed. */
static size_t xxh_stripes(uint64_t v[4], const uint8_t *p, size_t n) {
    uint64_t a = v[0], b = v[1], c = v[2], d = v[3];
    size_t done = 0;
    for (; done + 32 <= n; done += 32) {
        a = xxh_round(a, rd64(p + done));
        b = xxh_round(b, rd64(p + done + 8));
        c = xxh_round(c, rd64(p + done + 16));
        d = xxh_round(d, rd64(p + done + 24));
    }
    v[0] = a; v[1] = b; v[2] = c; v[3] = d;
    return done;
}

void segc_xxh64_update(segc_xxh64_state *s, const void *data, size_t n) {
    if (n == 0) return;   /* data may be NULL then (an empty section) */
    const uint8_t *p = data;
    s->total += n;
    if (s->nbuf) {
        size_t take = 32 - s->nbuf < n ? 32 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += (uint32_t)take;
        p += take;
        n -= take;
        if (s->nbuf < 32) return;
        xxh_stripes(s->v, s->buf, 32);
        s->nbuf = 0;
    }
    size_t done = xxh_stripes(s->v, p, n);
    memcpy(s->buf, p + done, n - done);
    s->nbuf = (uint32_t)(n - done);
}

uint64_t segc_xxh64_digest(const segc_xxh64_state *s) {
    uint64_t h;
    if (s->total >= 32) {
        h = rotl64(s->v[0], 1) + rotl64(s->v[1], 7) + rotl64(s->v[2], 12) + rotl64(s->v[3], 18);
        for (int i = 0; i < 4; i++) h = xxh_merge(h, s->v[i]);
    } else {
        h = s->v[2] + P5;   /* v[2] holds the seed */
    }
    h += s->total;
    const uint8_t *p = s->buf;
    size_t n = s->nbuf;
    for (; n >= 8; p += 8, n -= 8) h = rotl64(h ^ xxh_round(0, rd64(p)), 27) * P1 + P4;
    if (n >= 4) {
        h = rotl64(h ^ ((uint64_t)rd32(p) * P1), 23) * P2 + P3;
        p += 4;
        n -= 4;
    }
    for (; n; p++, n--) h = rotl64(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

uint64_t segc_xxh64(const void *data, size_t n, uint64_t seed) {
    segc_xxh64_state s;
    segc_xxh64_init(&s, seed);
    segc_xxh64_update(&s, data, n);
    return segc_xxh64_digest(&s);
}

/* ---- bounded cursor over one section of the mapping ---- */
typedef struct cursor {
    const uint8_t *base;   /* start of the file */
    uint64_t pos, end;     /* absolute offsets; pos <= end always */
} cursor;

static int take(cursor *c, uint64_t n, const uint8_t **out) {
    if (n > c->end - c->pos) return 0;
    *out = c->base + c->pos;
    c->pos += n;
    return 1;
}
static int take_u32(cursor *c, uint32_t *v) {
    const uint8_t *p;
    if (!take(c, 4, &p)) return 0;
    *v = rd32(p);
    return 1;
}
static int take_u64(cursor *c, uint64_t *v) {
    const uint8_t *p;
    if (!take(c, 8, &p)) return 0;
    *v = rd64(p);
    return 1;
}

/* Checks a key or tensor name: 1..max bytes, no NUL, no control characters. */
static int name_ok(const uint8_t *s, uint64_t n, uint64_t max) {
    if (n == 0 || n > max) return 0;
    for (uint64_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

/* Copies n bytes plus a NUL into the string block. */
static const char *keep_string(segc_file *f, uint64_t *used, const uint8_t *s, uint64_t n) {
    char *dst = f->strings + *used;
    memcpy(dst, s, n);
    dst[n] = '\0';
    *used += n + 1;
    return dst;
}

/* Parses (fill=0: validates and counts string-array elements; fill=1: fills f->kvs) the metadata. */
static segc_status parse_kv(segc_file *f, const segc_file_header *h, int fill, uint64_t *nstr, uint64_t *used) {
    cursor c = {f->map, h->kv_offset, h->kv_offset + h->kv_size};
    uint64_t strs = 0;
    for (uint64_t i = 0; i < h->kv_count; i++) {
        uint32_t klen, type;
        const uint8_t *key, *payload = NULL;
        uint64_t at = c.pos, count = 1, len = 0;
        if (!take_u32(&c, &klen) || !take(&c, klen, &key))
            return segc_fail(SEGC_ERR_FORMAT, "%s: metadata entry %llu (at byte %llu) runs past the metadata section",
                             f->path, (unsigned long long)i, (unsigned long long)at);
        if (!name_ok(key, klen, SEGC_FILE_MAX_KEY))
            return segc_fail(SEGC_ERR_FORMAT, "%s: metadata entry %llu: key of %u bytes is empty, too long or has "
                             "control characters", f->path, (unsigned long long)i, klen);
        if (!take_u32(&c, &type) || type > SEGC_KV_STRING_ARRAY)
            return segc_fail(SEGC_ERR_FORMAT, "%s: metadata '%.*s': bad or missing type", f->path, (int)klen, key);
        segc_kv *kv = fill ? &f->kvs[i] : NULL;
        if (fill) {
            memset(kv, 0, sizeof *kv);
            kv->key = keep_string(f, used, key, klen);
            kv->type = (segc_kv_type)type;
        }
        if (type == SEGC_KV_INT || type == SEGC_KV_FLOAT) {
            if (!take(&c, 8, &payload))
                return segc_fail(SEGC_ERR_FORMAT, "%s: metadata '%.*s': truncated value", f->path, (int)klen, key);
            if (fill && type == SEGC_KV_INT) memcpy(&kv->i, payload, 8);
            if (fill && type == SEGC_KV_FLOAT) memcpy(&kv->f, payload, 8);
        } else if (type == SEGC_KV_STRING) {
            if (!take_u64(&c, &len) || !take(&c, len, &payload) || memchr(payload, 0, len))
                return segc_fail(SEGC_ERR_FORMAT, "%s: metadata '%.*s': string runs past the section or holds a NUL",
                                 f->path, (int)klen, key);
            if (fill) kv->str = keep_string(f, used, payload, len);
        } else {
            if (!take_u64(&c, &count) || count > (c.end - c.pos) / 8)
                return segc_fail(SEGC_ERR_FORMAT, "%s: metadata '%.*s': array count %llu does not fit the section",
                                 f->path, (int)klen, key, (unsigned long long)count);
            if (type != SEGC_KV_STRING_ARRAY) {
                take(&c, count * 8, &payload);   /* fits: checked above */
                if (fill && type == SEGC_KV_INT_ARRAY) kv->ints = (const int64_t *)(const void *)payload;
                if (fill && type == SEGC_KV_FLOAT_ARRAY) kv->floats = (const double *)(const void *)payload;
            } else {
                if (fill) kv->strs = f->strptrs + strs;
                for (uint64_t j = 0; j < count; j++) {
                    if (!take_u64(&c, &len) || !take(&c, len, &payload) || memchr(payload, 0, len))
                        return segc_fail(SEGC_ERR_FORMAT, "%s: metadata '%.*s': element %llu runs past the section "
                                         "or holds a NUL", f->path, (int)klen, key, (unsigned long long)j);
                    if (fill) f->strptrs[strs] = keep_string(f, used, payload, len);
                    strs++;
                }
            }
            if (fill) kv->count = (int64_t)count;
        }
    }
    if (c.pos != c.end)
        return segc_fail(SEGC_ERR_FORMAT, "%s: %llu stray bytes after the last metadata entry", f->path,
                         (unsigned long long)(c.end - c.pos));
    if (nstr) *nstr = strs;
    return SEGC_OK;
}

/* Parses and validates the tensor table into f->tensors. */
static segc_status parse_tensors(segc_file *f, const segc_file_header *h, uint64_t *used) {
    cursor c = {f->map, h->tensor_offset, h->tensor_offset + h->tensor_size};
    uint64_t data_end = h->data_offset + h->data_size;
    for (uint64_t i = 0; i < h->tensor_count; i++) {
        segc_file_tensor *t = &f->tensors[i];
        uint32_t nlen, dtype, ndim;
        const uint8_t *name;
        if (!take_u32(&c, &nlen) || !take(&c, nlen, &name) || !take_u32(&c, &dtype) || !take_u32(&c, &ndim))
            return segc_fail(SEGC_ERR_FORMAT, "%s: tensor entry %llu runs past the tensor table", f->path,
                             (unsigned long long)i);
        if (!name_ok(name, nlen, SEGC_FILE_MAX_NAME))
            return segc_fail(SEGC_ERR_FORMAT, "%s: tensor entry %llu: name of %u bytes is empty, too long or has "
                             "control characters", f->path, (unsigned long long)i, nlen);
        t->name = keep_string(f, used, name, nlen);
        if (dtype > SEGC_U8 || ndim > SEGC_MAX_DIMS)
            return segc_fail(SEGC_ERR_FORMAT, "%s: tensor %s: dtype code %u or rank %u is invalid", f->path, t->name,
                             dtype, ndim);
        t->dtype = (segc_dtype)dtype;
        t->ndim = (int)ndim;
        uint64_t numel = 1, v;
        for (uint32_t d = 0; d < ndim; d++) {
            if (!take_u64(&c, &v))
                return segc_fail(SEGC_ERR_FORMAT, "%s: tensor %s: shape runs past the table", f->path, t->name);
            if (v > SEGC_FILE_MAX_DIM)
                return segc_fail(SEGC_ERR_FORMAT, "%s: tensor %s: dim %u is %llu", f->path, t->name, d,
                                 (unsigned long long)v);
            t->shape[d] = (int64_t)v;
            numel = (v && numel > UINT64_MAX / 8 / v) ? UINT64_MAX : numel * v;   /* saturates: caught below */
        }
        if (!take_u64(&c, &t->offset) || !take_u64(&c, &t->nbytes))
            return segc_fail(SEGC_ERR_FORMAT, "%s: tensor %s: entry runs past the table", f->path, t->name);
        if (numel == UINT64_MAX || numel * segc_dtype_size(t->dtype) != t->nbytes)
            return segc_fail(SEGC_ERR_FORMAT, "%s: tensor %s: nbytes %llu != elements x %zu", f->path, t->name,
                             (unsigned long long)t->nbytes, segc_dtype_size(t->dtype));
        if (t->offset % SEGC_FILE_ALIGN || t->offset < h->data_offset || t->offset > data_end ||
            t->nbytes > data_end - t->offset)
            return segc_fail(SEGC_ERR_FORMAT, "%s: tensor %s: bytes [%llu, +%llu) are unaligned or outside the data "
                             "section [%llu, %llu)", f->path, t->name, (unsigned long long)t->offset,
                             (unsigned long long)t->nbytes, (unsigned long long)h->data_offset,
                             (unsigned long long)data_end);
        t->data = f->map + t->offset;
    }
    if (c.pos != c.end)
        return segc_fail(SEGC_ERR_FORMAT, "%s: %llu stray bytes after the last tensor entry", f->path,
                         (unsigned long long)(c.end - c.pos));
    return SEGC_OK;
}

/* qsort has no user pointer: the file being indexed, per thread, so concurrent opens are safe. */
static _Thread_local const segc_file *tl_sort_file;

static int cmp_name(const void *a, const void *b) {
    const segc_file *f = tl_sort_file;
    return strcmp(f->tensors[*(const int *)a].name, f->tensors[*(const int *)b].name);
}
static int cmp_offset(const void *a, const void *b) {
    const segc_file *f = tl_sort_file;
    uint64_t x = f->tensors[*(const int *)a].offset, y = f->tensors[*(const int *)b].offset;
    return x < y ? -1 : x > y;
}

/* Sorts the name index, rejects duplicate names and overlapping data. */
static segc_status index_tensors(segc_file *f) {
    int n = f->ntensors;
    if (n == 0) return SEGC_OK;
    int *by_offset = malloc((size_t)n * sizeof *by_offset);
    if (!by_offset) return segc_fail(SEGC_ERR_NOMEM, "%s: no memory for the tensor index", f->path);
    for (int i = 0; i < n; i++) f->by_name[i] = by_offset[i] = i;
    tl_sort_file = f;
    qsort(f->by_name, (size_t)n, sizeof(int), cmp_name);
    qsort(by_offset, (size_t)n, sizeof(int), cmp_offset);
    tl_sort_file = NULL;
    segc_status st = SEGC_OK;
    for (int i = 1; i < n && !st; i++) {
        const segc_file_tensor *a = &f->tensors[f->by_name[i - 1]], *b = &f->tensors[f->by_name[i]];
        if (!strcmp(a->name, b->name)) st = segc_fail(SEGC_ERR_FORMAT, "%s: tensor %s appears twice", f->path, a->name);
    }
    uint64_t end = 0;
    const char *prev = NULL;
    for (int i = 0; i < n && !st; i++) {
        const segc_file_tensor *t = &f->tensors[by_offset[i]];
        if (t->nbytes == 0) continue;
        if (t->offset < end)
            st = segc_fail(SEGC_ERR_FORMAT, "%s: tensors %s and %s overlap", f->path, prev, t->name);
        end = t->offset + t->nbytes;
        prev = t->name;
    }
    free(by_offset);
    return st;
}

/* Decodes and checks the fixed header (its checksum first) against the file size; the layout is strict. */
static segc_status parse_header(segc_file *f, segc_file_header *h) {
    if (f->size < SEGC_FILE_HEADER_SIZE + 8)
        return segc_fail(SEGC_ERR_FORMAT, "%s: %llu bytes is too short for a .segc file", f->path,
                         (unsigned long long)f->size);
    segc_file_header_decode(f->map, h);
    if (memcmp(h->magic, SEGC_FILE_MAGIC, 4))
        return segc_fail(SEGC_ERR_FORMAT, "%s: not a .segc file (bad magic)", f->path);
    if (h->version == 1)   /* the pre-release layout: one whole-file checksum, no header checksum */
        return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: unsupported version 1: re-convert with this segc-convert",
                         f->path);
    if (h->version != SEGC_FILE_VERSION)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: unsupported .segc format version %u (this build reads version %d)",
                         f->path, h->version, SEGC_FILE_VERSION);
    if (segc_xxh64(f->map, SEGC_FILE_HEADER_SUMMED, 0) != h->header_checksum)
        return segc_fail(SEGC_ERR_FORMAT, "%s: header checksum mismatch (file corrupted)", f->path);
    if (h->flags != 0 || h->header_size != SEGC_FILE_HEADER_SIZE || !h->reserved_zero)
        return segc_fail(SEGC_ERR_FORMAT, "%s: unknown header flags or size", f->path);
    if (h->file_size != f->size)
        return segc_fail(SEGC_ERR_FORMAT, "%s: header says %llu bytes, file has %llu (truncated?)", f->path,
                         (unsigned long long)h->file_size, (unsigned long long)f->size);
    uint64_t room = f->size - SEGC_FILE_HEADER_SIZE - 8;
    if (h->kv_offset != SEGC_FILE_HEADER_SIZE || h->kv_size > room || h->tensor_offset != h->kv_offset + h->kv_size ||
        h->tensor_size > room - h->kv_size ||
        h->data_offset != segc_file_align(h->tensor_offset + h->tensor_size) || h->data_offset > f->size - 8 ||
        h->data_size != f->size - 8 - h->data_offset)
        return segc_fail(SEGC_ERR_FORMAT, "%s: section offsets and sizes do not tile the file", f->path);
    /* every entry has a length prefix and a type (metadata) or dtype+rank+offset+nbytes (tensors) */
    if (h->kv_count > h->kv_size / 12 || h->kv_count > SEGC_FILE_MAX_KV)
        return segc_fail(SEGC_ERR_FORMAT, "%s: %llu metadata entries cannot fit %llu bytes", f->path,
                         (unsigned long long)h->kv_count, (unsigned long long)h->kv_size);
    if (h->tensor_count > h->tensor_size / 29 || h->tensor_count > SEGC_FILE_MAX_TENSORS)
        return segc_fail(SEGC_ERR_FORMAT, "%s: %llu tensor entries cannot fit %llu bytes", f->path,
                         (unsigned long long)h->tensor_count, (unsigned long long)h->tensor_size);
    uint64_t sum = segc_xxh64(f->map + h->kv_offset, (size_t)(h->data_offset - h->kv_offset), 0);
    if (sum != h->index_checksum)
        return segc_fail(SEGC_ERR_FORMAT, "%s: metadata/tensor table checksum mismatch (file corrupted)", f->path);
    f->data_offset = h->data_offset;
    return SEGC_OK;
}

/* Builds the tables of an already mapped file. */
static segc_status parse_file(segc_file *f) {
    segc_file_header h;
    segc_status st = parse_header(f, &h);
    uint64_t nstr = 0, used = 0;
    if (st || (st = parse_kv(f, &h, 0, &nstr, NULL))) return st;
    f->nkv = (int)h.kv_count;
    f->ntensors = (int)h.tensor_count;
    /* each string in the sections has a >= 4-byte length prefix, so copies + NULs fit kv+table bytes */
    f->strings = malloc((size_t)(h.kv_size + h.tensor_size) + 1);
    f->kvs = calloc((size_t)h.kv_count + 1, sizeof *f->kvs);
    f->strptrs = calloc((size_t)nstr + 1, sizeof *f->strptrs);
    f->tensors = calloc((size_t)h.tensor_count + 1, sizeof *f->tensors);
    f->by_name = calloc((size_t)h.tensor_count + 1, sizeof *f->by_name);
    if (!f->strings || !f->kvs || !f->strptrs || !f->tensors || !f->by_name)
        return segc_fail(SEGC_ERR_NOMEM, "%s: no memory for the tables", f->path);
    if ((st = parse_kv(f, &h, 1, NULL, &used)) || (st = parse_tensors(f, &h, &used))) return st;
    for (int i = 0; i < f->nkv; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(f->kvs[i].key, f->kvs[j].key))
                return segc_fail(SEGC_ERR_FORMAT, "%s: metadata key '%s' appears twice", f->path, f->kvs[i].key);
    return index_tensors(f);
}

segc_status segc_file_open(const char *path, segc_file **out) {
    if (!path || !out) return segc_fail(SEGC_ERR_INVALID_ARG, "segc_file_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return segc_fail(errno == ENOENT ? SEGC_ERR_NOT_FOUND : SEGC_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return segc_fail(SEGC_ERR_IO, "%s: not a regular file", path);
    }
    segc_file *f = calloc(1, sizeof *f);
    size_t plen = strlen(path);
    if (!f || !(f->path = malloc(plen + 1))) {
        free(f);
        close(fd);
        return segc_fail(SEGC_ERR_NOMEM, "%s: no memory", path);
    }
    memcpy(f->path, path, plen + 1);
    f->size = (uint64_t)sb.st_size;
    segc_status st = SEGC_OK;
    if (f->size >= SEGC_FILE_HEADER_SIZE + 8) {
        void *m = mmap(NULL, (size_t)f->size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) st = segc_fail(SEGC_ERR_IO, "%s: mmap: %s", path, strerror(errno));
        else f->map = m;
    }
    close(fd);
    if (!st) st = f->map ? parse_file(f) : parse_header(f, &(segc_file_header){0});
    if (st) {
        segc_file_close(f);
        return st;
    }
    *out = f;
    return SEGC_OK;
}

void segc_file_close(segc_file *f) {
    if (!f) return;
    if (f->map) munmap((void *)f->map, (size_t)f->size);
    free(f->kvs);
    free(f->tensors);
    free(f->by_name);
    free(f->strings);
    free(f->strptrs);
    free(f->path);
    free(f);
}

/* The header and index were checked by segc_file_open; this covers the rest, the data section. */
segc_status segc_file_verify(const segc_file *f) {
    uint64_t want = rd64(f->map + f->size - 8);
    uint64_t got = segc_xxh64(f->map + f->data_offset, (size_t)(f->size - 8 - f->data_offset), 0);
    if (got != want)
        return segc_fail(SEGC_ERR_FORMAT, "%s: data checksum mismatch (stored %016llx, computed %016llx): file "
                         "corrupted", f->path, (unsigned long long)want, (unsigned long long)got);
    return SEGC_OK;
}

const char *segc_file_path(const segc_file *f) { return f->path; }
uint64_t segc_file_size(const segc_file *f) { return f->size; }

/* ---- metadata look-ups ---- */
int segc_file_kv_count(const segc_file *f) { return f->nkv; }
const segc_kv *segc_file_kv_at(const segc_file *f, int i) { return i >= 0 && i < f->nkv ? &f->kvs[i] : NULL; }

const segc_kv *segc_file_kv_find(const segc_file *f, const char *key) {
    for (int i = 0; i < f->nkv; i++)
        if (!strcmp(f->kvs[i].key, key)) return &f->kvs[i];
    return NULL;
}

static const char *kv_type_name(segc_kv_type t) {
    static const char *names[] = {"string", "int", "float", "int array", "float array", "string array"};
    return (unsigned)t <= SEGC_KV_STRING_ARRAY ? names[t] : "?";
}

/* Finds `key` and checks its type; the error says what was found instead. */
static segc_status kv_typed(const segc_file *f, const char *key, segc_kv_type want, const segc_kv **out) {
    const segc_kv *kv = segc_file_kv_find(f, key);
    if (!kv) return segc_fail(SEGC_ERR_NOT_FOUND, "%s: no metadata '%s'", f->path, key);
    if (kv->type != want)
        return segc_fail(SEGC_ERR_FORMAT, "%s: metadata '%s' is a %s, expected a %s", f->path, key,
                         kv_type_name(kv->type), kv_type_name(want));
    *out = kv;
    return SEGC_OK;
}

segc_status segc_file_get_str(const segc_file *f, const char *key, const char **out) {
    const segc_kv *kv = NULL;
    segc_status st = kv_typed(f, key, SEGC_KV_STRING, &kv);
    if (!st) *out = kv->str;
    return st;
}

segc_status segc_file_get_int(const segc_file *f, const char *key, int64_t *out) {
    const segc_kv *kv = NULL;
    segc_status st = kv_typed(f, key, SEGC_KV_INT, &kv);
    if (!st) *out = kv->i;
    return st;
}

/* A float key also accepts an int value (e.g. "scale: 1" written as an int). */
segc_status segc_file_get_float(const segc_file *f, const char *key, double *out) {
    const segc_kv *kv = segc_file_kv_find(f, key);
    if (kv && kv->type == SEGC_KV_INT) {
        *out = (double)kv->i;
        return SEGC_OK;
    }
    segc_status st = kv_typed(f, key, SEGC_KV_FLOAT, &kv);
    if (!st) *out = kv->f;
    return st;
}

/* Shared by the array getters: finds the key, accepts an array of `count` elements (or a scalar when
   count == 1) of the int type, or also of the float type when as_float is set. */
static segc_status kv_array(const segc_file *f, const char *key, int64_t count, int as_float, const segc_kv **out) {
    const segc_kv *kv = segc_file_kv_find(f, key);
    if (!kv) return segc_fail(SEGC_ERR_NOT_FOUND, "%s: no metadata '%s'", f->path, key);
    int ok = kv->type == SEGC_KV_INT_ARRAY || (count == 1 && kv->type == SEGC_KV_INT) ||
             (as_float && (kv->type == SEGC_KV_FLOAT_ARRAY || (count == 1 && kv->type == SEGC_KV_FLOAT)));
    if (!ok)
        return segc_fail(SEGC_ERR_FORMAT, "%s: metadata '%s' is a %s, expected %s", f->path, key,
                         kv_type_name(kv->type), as_float ? "a number array" : "an int array");
    if (kv->count != count)
        return segc_fail(SEGC_ERR_FORMAT, "%s: metadata '%s' has %lld elements, expected %lld", f->path, key,
                         (long long)kv->count, (long long)count);
    *out = kv;
    return SEGC_OK;
}

segc_status segc_file_get_ints(const segc_file *f, const char *key, int64_t *out, int64_t count) {
    const segc_kv *kv = NULL;
    segc_status st = kv_array(f, key, count, 0, &kv);
    if (st) return st;
    if (kv->type == SEGC_KV_INT) out[0] = kv->i;
    else memcpy(out, kv->ints, (size_t)count * 8);
    return SEGC_OK;
}

segc_status segc_file_get_floats(const segc_file *f, const char *key, float *out, int64_t count) {
    const segc_kv *kv = NULL;
    segc_status st = kv_array(f, key, count, 1, &kv);
    if (st) return st;
    for (int64_t j = 0; j < count; j++) {
        int64_t iv;
        double dv;
        switch (kv->type) {
        case SEGC_KV_INT: out[j] = (float)kv->i; break;
        case SEGC_KV_FLOAT: out[j] = (float)kv->f; break;
        case SEGC_KV_INT_ARRAY: memcpy(&iv, &kv->ints[j], 8); out[j] = (float)iv; break;
        default: memcpy(&dv, &kv->floats[j], 8); out[j] = (float)dv; break;
        }
    }
    return SEGC_OK;
}

/* ---- tensors ---- */
int segc_file_tensor_count(const segc_file *f) { return f->ntensors; }
const segc_file_tensor *segc_file_tensor_at(const segc_file *f, int i) {
    return i >= 0 && i < f->ntensors ? &f->tensors[i] : NULL;
}

const segc_file_tensor *segc_file_find(const segc_file *f, const char *name) {
    int lo = 0, hi = f->ntensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const segc_file_tensor *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

segc_status segc_file_tensor_view(const segc_file *f, const char *name, segc_tensor *out) {
    const segc_file_tensor *t = segc_file_find(f, name);
    if (!t) return segc_fail(SEGC_ERR_NOT_FOUND, "%s: no tensor '%s'", f->path, name);
    *out = segc_tensor_wrap(t->dtype, t->ndim, t->shape, (void *)t->data);   /* read-only by contract */
    return SEGC_OK;
}

segc_status segc_file_tensor_expect(const segc_file *f, const char *name, int ndim, const int64_t *shape,
                                    segc_tensor *out) {
    segc_status st = segc_file_tensor_view(f, name, out);
    if (st) return st;
    if (!segc_tensor_has_shape(out, ndim, shape)) {
        char want[128], found[128];
        segc_tensor w = segc_tensor_wrap(out->dtype, ndim, shape, NULL);
        return segc_fail(SEGC_ERR_SHAPE, "%s: tensor %s: expected shape %s, found %s", f->path, name,
                         segc_tensor_shape_str(&w, want, sizeof want), segc_tensor_shape_str(out, found, sizeof found));
    }
    return SEGC_OK;
}
