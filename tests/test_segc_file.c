/* test_segc_file.c - the .segc reader and writer (format version 2): round trip of every metadata type
   and dtype, 64-byte alignment, checksums (XXH64 test vectors; header, index and data), writer argument
   checks, tensors that span many of the writer's output chunks, deferred metadata values, no temporary
   left and an existing file kept on failure, and hostile files (truncations, bad headers or checksums,
   version 1, offsets past EOF, overlaps, huge counts, bad strings/dtypes/ranks, random mutations) that
   must fail cleanly. Layout: docs/segc-format.md. SHA-256 is tested in test_sha256.c. */
#include <check.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/half.h"
#include "core/status.h"
#include "io/segc_file.h"
#include "io/segc_file_format.h"
#include "test_util.h"

/* ---- small file helpers ---- */

/* "<tmp>/<name>" in a static rotating buffer. */
static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", test_tmp_dir(), name);
    return buf[k];
}

static uint8_t *load(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    ck_assert_uint_eq(fread(b, 1, *n, fp), *n);
    fclose(fp);
    return b;
}

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* Recomputes the index checksum and the data checksum (when the header's section bounds fit the
   buffer), then the header checksum, so a mutation reaches the structural checks behind them. */
static void refix(uint8_t *b, size_t n) {
    if (n < SEGC_FILE_HEADER_SIZE + 8) return;
    uint64_t kv = rd64(b + 32), data = rd64(b + 72);
    if (kv <= data && data <= n) wr64(b + 88, segc_xxh64(b + kv, (size_t)(data - kv), 0));
    if (data <= n - 8) wr64(b + n - 8, segc_xxh64(b + data, n - 8 - data, 0));
    wr64(b + 96, segc_xxh64(b, SEGC_FILE_HEADER_SUMMED, 0));
}

/* 1 if a temporary "<path>.tmp-*" of the writer is left in path's directory. */
static int tmp_left_behind(const char *path) {
    char pattern[600];
    snprintf(pattern, sizeof pattern, "%s.tmp*", path);
    glob_t g;
    int found = glob(pattern, 0, NULL, &g) == 0;
    globfree(&g);
    return found;
}

/* A memory-backed file (memfd) reached through /proc/self/fd, so thousands of hostile variants cost no
   disk I/O; rewritten for every variant. */
static int mem_fd = -1;
static char mem_path[64];

static const char *mem_file(const uint8_t *b, size_t n) {
    if (mem_fd < 0) {
        mem_fd = memfd_create("segc-test", MFD_CLOEXEC);
        ck_assert_int_ge(mem_fd, 0);
        snprintf(mem_path, sizeof mem_path, "/proc/self/fd/%d", mem_fd);
    }
    ck_assert_int_eq(ftruncate(mem_fd, 0), 0);
    ck_assert_int_eq(pwrite(mem_fd, b, n, 0), (ssize_t)n);
    return mem_path;
}

/* Opens the bytes as a file; returns the status (closing the file if it opened). */
static segc_status open_bytes(const uint8_t *b, size_t n) {
    segc_file *f = NULL;
    segc_status st = segc_file_open(mem_file(b, n), &f);
    if (!st) {
        ck_assert_ptr_nonnull(f);
        segc_file_close(f);
    } else {
        ck_assert_ptr_null(f);
        ck_assert_str_ne(segc_last_error(), "");
    }
    return st;
}

/* ---- the sample file: every kv type, every dtype, odd shapes, a scalar, an empty tensor, a fill ---- */

static float s_f32[3 * 5 * 7];
static uint16_t s_f16[2 * 9], s_bf16[11];
static int32_t s_i32[6];
static uint8_t s_u8[13];
static float s_scalar = 2.5f;

/* Tensor "filled" comes from a callback: value = element index, float32 [1000, 1100] (4.4 MB, so the
   writer's staging chunk is crossed many times). Checks that calls come in increasing offset order. */
#define FILL_ROWS 1000
#define FILL_COLS 1100
static uint64_t fill_next;
static segc_status fill_index(void *user, void *dst, uint64_t offset, uint64_t nbytes) {
    ck_assert_uint_eq(offset, fill_next);
    fill_next = offset + nbytes;
    float *d = dst;
    for (uint64_t i = 0; i < nbytes / 4; i++) d[i] = (float)(offset / 4 + i);
    return SEGC_OK;
}

static segc_status fill_fail(void *user, void *dst, uint64_t offset, uint64_t nbytes) {
    return segc_fail(SEGC_ERR_IO, "deliberate failure at %llu", (unsigned long long)offset);
}

/* Writes the sample to `path`; with_big adds the 4.4 MB filled tensor. */
static void write_sample(const char *path, int with_big) {
    test_rng r = test_rng_new(7);
    test_fill_uniform(&r, s_f32, 3 * 5 * 7, -3, 3);
    for (int i = 0; i < 18; i++) s_f16[i] = segc_f32_to_f16(test_rng_uniform(&r, -2, 2));
    for (int i = 0; i < 11; i++) s_bf16[i] = segc_f32_to_bf16(test_rng_uniform(&r, -2, 2));
    for (int i = 0; i < 6; i++) s_i32[i] = -3 + i * 1000000;
    for (int i = 0; i < 13; i++) s_u8[i] = (uint8_t)(i * 19);
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    const int64_t ints[] = {1, -2, INT64_MAX, INT64_MIN};
    const double floats[] = {0.5, -1e300, 123.25};
    const char *const strs[] = {"background", "", "caf\xc3\xa9", "traffic light"};
    ck_assert_int_eq(segc_file_writer_add_str(w, "arch", "test"), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_str(w, "empty", ""), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_int(w, "num_classes", -42), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_float(w, "scale", 0.1), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_ints(w, "ints", ints, 4), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_ints(w, "no_ints", NULL, 0), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_floats(w, "input.mean", floats, 3), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_strs(w, "class_names", strs, 4), SEGC_OK);
    const int64_t sh3[] = {3, 5, 7}, sh2[] = {2, 9}, sh1[] = {11}, sh_i[] = {2, 3}, sh_u[] = {13}, sh_e[] = {0, 4};
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "a.f32", SEGC_F32, 3, sh3, s_f32), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "b.f16", SEGC_F16, 2, sh2, s_f16), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "c.bf16", SEGC_BF16, 1, sh1, s_bf16), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "d.i32", SEGC_I32, 2, sh_i, s_i32), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "e.u8", SEGC_U8, 1, sh_u, s_u8), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "f.scalar", SEGC_F32, 0, NULL, &s_scalar), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "g.empty", SEGC_F32, 2, sh_e, NULL), SEGC_OK);
    if (with_big) {
        const int64_t shb[] = {FILL_ROWS, FILL_COLS};
        ck_assert_int_eq(segc_file_writer_add_tensor_fill(w, "h.filled", SEGC_F32, 2, shb, fill_index, NULL), SEGC_OK);
    }
    fill_next = 0;
    ck_assert_int_eq(segc_file_writer_write(w, path, NULL, NULL), SEGC_OK);
    segc_file_writer_free(w);
}

START_TEST(test_round_trip_all_types) {
    const char *p = tmp_path("sample.segc");
    write_sample(p, 1);
    segc_file *f;
    ck_assert_int_eq(segc_file_open(p, &f), SEGC_OK);
    ck_assert_int_eq(segc_file_verify(f), SEGC_OK);
    ck_assert_int_eq(segc_file_kv_count(f), 8);
    const char *s;
    int64_t i;
    double d;
    ck_assert_int_eq(segc_file_get_str(f, "arch", &s), SEGC_OK);
    ck_assert_str_eq(s, "test");
    ck_assert_int_eq(segc_file_get_str(f, "empty", &s), SEGC_OK);
    ck_assert_str_eq(s, "");
    ck_assert_int_eq(segc_file_get_int(f, "num_classes", &i), SEGC_OK);
    ck_assert_int_eq(i, -42);
    ck_assert_int_eq(segc_file_get_float(f, "scale", &d), SEGC_OK);
    ck_assert(d == 0.1);
    ck_assert_int_eq(segc_file_get_float(f, "num_classes", &d), SEGC_OK);   /* int accepted as float */
    ck_assert(d == -42.0);
    int64_t iv[4];
    ck_assert_int_eq(segc_file_get_ints(f, "ints", iv, 4), SEGC_OK);
    ck_assert(iv[0] == 1 && iv[1] == -2 && iv[2] == INT64_MAX && iv[3] == INT64_MIN);
    ck_assert_int_eq(segc_file_get_ints(f, "no_ints", iv, 0), SEGC_OK);
    float fv[3];
    ck_assert_int_eq(segc_file_get_floats(f, "input.mean", fv, 3), SEGC_OK);
    ck_assert(fv[0] == 0.5f && fv[2] == 123.25f);
    const segc_kv *kv = segc_file_kv_find(f, "class_names");
    ck_assert_ptr_nonnull(kv);
    ck_assert_int_eq(kv->type, SEGC_KV_STRING_ARRAY);
    ck_assert_int_eq(kv->count, 4);
    ck_assert_str_eq(kv->strs[0], "background");
    ck_assert_str_eq(kv->strs[1], "");
    ck_assert_str_eq(kv->strs[2], "caf\xc3\xa9");
    ck_assert_str_eq(kv->strs[3], "traffic light");
    /* typed look-ups: wrong type, missing key, wrong count */
    ck_assert_int_eq(segc_file_get_int(f, "arch", &i), SEGC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "arch"));
    ck_assert_int_eq(segc_file_get_str(f, "nope", &s), SEGC_ERR_NOT_FOUND);
    ck_assert_int_eq(segc_file_get_floats(f, "input.mean", fv, 2), SEGC_ERR_FORMAT);
    ck_assert_int_eq(segc_file_get_ints(f, "input.mean", iv, 3), SEGC_ERR_FORMAT);

    ck_assert_int_eq(segc_file_tensor_count(f), 8);
    struct { const char *name; segc_dtype dt; int ndim; const void *data; size_t nbytes; } want[] = {
        {"a.f32", SEGC_F32, 3, s_f32, sizeof s_f32}, {"b.f16", SEGC_F16, 2, s_f16, sizeof s_f16},
        {"c.bf16", SEGC_BF16, 1, s_bf16, sizeof s_bf16}, {"d.i32", SEGC_I32, 2, s_i32, sizeof s_i32},
        {"e.u8", SEGC_U8, 1, s_u8, sizeof s_u8}, {"f.scalar", SEGC_F32, 0, &s_scalar, 4},
        {"g.empty", SEGC_F32, 2, NULL, 0},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const segc_file_tensor *t = segc_file_find(f, want[k].name);
        ck_assert_msg(t != NULL, "missing %s", want[k].name);
        ck_assert_int_eq(t->dtype, want[k].dt);
        ck_assert_int_eq(t->ndim, want[k].ndim);
        ck_assert_uint_eq(t->nbytes, want[k].nbytes);
        ck_assert_uint_eq(t->offset % SEGC_FILE_ALIGN, 0);
        ck_assert_uint_eq((uintptr_t)t->data % SEGC_FILE_ALIGN, 0);
        if (want[k].nbytes) ck_assert(memcmp(t->data, want[k].data, want[k].nbytes) == 0);
    }
    const segc_file_tensor *big = segc_file_find(f, "h.filled");
    ck_assert_ptr_nonnull(big);
    ck_assert_uint_eq(fill_next, (uint64_t)FILL_ROWS * FILL_COLS * 4);
    const float *bv = big->data;
    for (int64_t k = 0; k < (int64_t)FILL_ROWS * FILL_COLS; k += 997) ck_assert(bv[k] == (float)k);
    ck_assert(bv[FILL_ROWS * FILL_COLS - 1] == (float)(FILL_ROWS * FILL_COLS - 1));
    /* views and shape checks */
    segc_tensor v;
    const int64_t good[] = {3, 5, 7}, bad[] = {3, 7, 5};
    ck_assert_int_eq(segc_file_tensor_expect(f, "a.f32", 3, good, &v), SEGC_OK);
    ck_assert_int_eq(v.dtype, SEGC_F32);
    ck_assert_int_eq(segc_file_tensor_expect(f, "a.f32", 3, bad, &v), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_file_tensor_view(f, "zzz", &v), SEGC_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "zzz"));
    ck_assert_ptr_null(segc_file_find(f, "a.f3"));
    segc_file_close(f);
}
END_TEST

START_TEST(test_empty_file_round_trip) {
    const char *p = tmp_path("empty.segc");
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_write(w, p, NULL, NULL), SEGC_OK);
    segc_file_writer_free(w);
    segc_file *f;
    ck_assert_int_eq(segc_file_open(p, &f), SEGC_OK);
    ck_assert_int_eq(segc_file_kv_count(f), 0);
    ck_assert_int_eq(segc_file_tensor_count(f), 0);
    ck_assert_int_eq(segc_file_verify(f), SEGC_OK);
    ck_assert_uint_eq(segc_file_size(f), 136);
    segc_file_close(f);
}
END_TEST

/* Published XXH64 (seed 0) values, and streaming equal to one-shot for every split. */
START_TEST(test_xxh64_vectors_and_streaming) {
    ck_assert_uint_eq(segc_xxh64("", 0, 0), 0xEF46DB3751D8E999ULL);
    ck_assert_uint_eq(segc_xxh64("a", 1, 0), 0xD24EC4F1A98C6E5BULL);
    ck_assert_uint_eq(segc_xxh64("abc", 3, 0), 0x44BC2CF5AD770999ULL);
    const char *spam = "Nobody inspects the spammish repetition";
    ck_assert_uint_eq(segc_xxh64(spam, strlen(spam), 0), 0xFBCEA83C8A378BF1ULL);
    uint8_t buf[300];
    for (int i = 0; i < 300; i++) buf[i] = (uint8_t)(i * 131 + 7);
    uint64_t whole = segc_xxh64(buf, sizeof buf, 0);
    for (size_t a = 0; a <= 70; a++)
        for (size_t b = a; b <= 300; b += 37) {
            segc_xxh64_state s;
            segc_xxh64_init(&s, 0);
            segc_xxh64_update(&s, buf, a);
            segc_xxh64_update(&s, buf + a, b - a);
            segc_xxh64_update(&s, buf + b, 300 - b);
            ck_assert_uint_eq(segc_xxh64_digest(&s), whole);
        }
}
END_TEST

/* The header and index checksums guard what open parses; the trailing one (verify) guards the data. */
START_TEST(test_checksums_detect_flips) {
    const char *p = tmp_path("sum.segc");
    write_sample(p, 0);
    size_t n;
    uint8_t *b = load(p, &n);
    uint64_t data = rd64(b + 72), table_end = rd64(b + 56) + rd64(b + 64);
    ck_assert_uint_lt(table_end, data);   /* the sample has padding before the data: it is covered too */
    /* a flipped bit in the header (any field, or either stored checksum), the metadata, the table or
       the padding: open fails */
    uint64_t spots[] = {20, 60, 88, 95, 96, 103, 130, rd64(b + 56) + 3, table_end, data - 1};
    for (size_t k = 0; k < sizeof spots / sizeof spots[0]; k++) {
        b[spots[k]] ^= 0x10;
        ck_assert_int_eq(open_bytes(b, n), SEGC_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(segc_last_error(), "checksum"));
        b[spots[k]] ^= 0x10;
    }
    /* a flipped bit in the data or in the trailing checksum: open succeeds, verify fails */
    uint64_t dspots[] = {data + 1, n - 40, n - 8, n - 1};
    for (size_t k = 0; k < 4; k++) {
        b[dspots[k]] ^= 0x01;
        segc_file *f;
        ck_assert_int_eq(segc_file_open(mem_file(b, n), &f), SEGC_OK);
        ck_assert_int_eq(segc_file_verify(f), SEGC_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(segc_last_error(), "checksum"));
        segc_file_close(f);
        b[dspots[k]] ^= 0x01;
    }
    ck_assert_int_eq(open_bytes(b, n), SEGC_OK);
    free(b);
}
END_TEST

START_TEST(test_bad_headers) {
    const char *p = tmp_path("hdr.segc");
    write_sample(p, 0);
    size_t n;
    uint8_t *b = load(p, &n);
    uint8_t *m = malloc(n);
    /* byte `at` xor `x` */
    struct { size_t at; uint8_t x; segc_status st; const char *msg; } cases[] = {
        {0, 0x20, SEGC_ERR_FORMAT, "magic"},       {4, 1, SEGC_ERR_UNSUPPORTED, "version 3"},
        {4, 2, SEGC_ERR_UNSUPPORTED, "version 0"}, {8, 1, SEGC_ERR_FORMAT, "flags"},
        {12, 64, SEGC_ERR_FORMAT, "header"},       {104, 1, SEGC_ERR_FORMAT, "header"},
        {127, 1, SEGC_ERR_FORMAT, "header"},       {16, 1, SEGC_ERR_FORMAT, "bytes"},
        {32, 1, SEGC_ERR_FORMAT, "tile"},          {40, 1, SEGC_ERR_FORMAT, "tile"},
        {64, 0x40, SEGC_ERR_FORMAT, "tile"},       {72, 0xc0, SEGC_ERR_FORMAT, "tile"},
        {80, 1, SEGC_ERR_FORMAT, "tile"},          {88, 1, SEGC_ERR_FORMAT, "header checksum"},
        {96, 1, SEGC_ERR_FORMAT, "header checksum"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(m, b, n);
        m[cases[k].at] ^= cases[k].x;
        if (cases[k].at != 88 && cases[k].at != 96) refix(m, n);
        ck_assert_int_eq(open_bytes(m, n), cases[k].st);
        ck_assert_msg(strstr(segc_last_error(), cases[k].msg) != NULL, "case %zu: %s", k, segc_last_error());
    }
    /* a version-1 file (no header checksum, one trailer over the whole file): re-convert */
    memcpy(m, b, n);
    wr32(m + 4, 1);
    wr64(m + 96, 0);
    wr64(m + n - 8, segc_xxh64(m, n - 8, 0));
    ck_assert_int_eq(open_bytes(m, n), SEGC_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(segc_last_error(), "unsupported version 1: re-convert with this segc-convert") != NULL, "%s",
                  segc_last_error());
    /* offsets and sizes far past EOF, huge counts */
    const size_t fields[] = {16, 24, 32, 40, 48, 56, 64, 72, 80};
    const uint64_t values[] = {UINT64_MAX, UINT64_MAX / 2, (uint64_t)1 << 40, n + 64, n * 2};
    for (size_t fi = 0; fi < 9; fi++)
        for (size_t vi = 0; vi < 5; vi++) {
            memcpy(m, b, n);
            wr64(m + fields[fi], values[vi]);
            refix(m, n);
            ck_assert_int_ne(open_bytes(m, n), SEGC_OK);
        }
    /* not a file, missing file, tiny files */
    segc_file *f = NULL;
    ck_assert_int_eq(segc_file_open(tmp_path("does-not-exist.segc"), &f), SEGC_ERR_NOT_FOUND);
    ck_assert_int_eq(segc_file_open(test_tmp_dir(), &f), SEGC_ERR_IO);
    for (size_t len = 0; len < 140; len += 7) ck_assert_int_ne(open_bytes(b, len), SEGC_OK);
    free(m);
    free(b);
}
END_TEST

/* Truncation at every byte length: with the header as written (size mismatch), and with file_size and
   checksums rewritten to the new length (so the section checks behind them are reached). */
START_TEST(test_truncation_everywhere) {
    const char *p = tmp_path("trunc.segc");
    write_sample(p, 0);
    size_t n;
    uint8_t *b = load(p, &n);
    uint8_t *m = malloc(n);
    for (size_t len = 0; len < n; len++) {
        ck_assert_int_ne(open_bytes(b, len), SEGC_OK);
        memcpy(m, b, len);
        if (len >= SEGC_FILE_HEADER_SIZE + 8) {
            wr64(m + 16, len);
            wr64(m + 80, len - 8 - rd64(m + 72));   /* data_size follows file_size when data_offset fits */
            refix(m, len);
        }
        ck_assert_msg(open_bytes(m, len) != SEGC_OK, "truncated to %zu bytes but opened", len);
    }
    free(m);
    free(b);
}
END_TEST

/* ---- a minimal two-tensor file whose table the tests edit field by field ---- */

/* Byte offsets of one tensor entry's fields. */
typedef struct entry_pos { size_t nlen, name, dtype, ndim, shape, offset, nbytes; } entry_pos;

static entry_pos find_entry(const uint8_t *b, int index) {
    size_t at = (size_t)rd64(b + 56);
    entry_pos e = {0};
    for (int i = 0; i <= index; i++) {
        uint32_t nlen, ndim;
        memcpy(&nlen, b + at, 4);
        e.nlen = at;
        e.name = at + 4;
        e.dtype = e.name + nlen;
        e.ndim = e.dtype + 4;
        memcpy(&ndim, b + e.ndim, 4);
        e.shape = e.ndim + 4;
        e.offset = e.shape + 8 * ndim;
        e.nbytes = e.offset + 8;
        at = e.nbytes + 8;
    }
    return e;
}

static uint8_t *write_pair(size_t *n) {
    const char *p = tmp_path("pair.segc");
    segc_file_writer *w;
    float a[4] = {1, 2, 3, 4}, c[4] = {5, 6, 7, 8};
    const int64_t sh[] = {4};
    const char *const strs[] = {"x", "yz"};
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_str(w, "k", "v"), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_strs(w, "names", strs, 2), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "a", SEGC_F32, 1, sh, a), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "b", SEGC_F32, 1, sh, c), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_write(w, p, NULL, NULL), SEGC_OK);
    segc_file_writer_free(w);
    return load(p, n);
}

/* One hostile file: up to three little-endian field overwrites (width 1, 4 or 8 bytes; 0 = unused), then
   the checksums are fixed, and the reader must fail with SEGC_ERR_FORMAT and `msg` in its reason. */
typedef struct field_edit { size_t at; int width; uint64_t v; } field_edit;
typedef struct bad_case { field_edit e[3]; const char *msg; } bad_case;

static void expect_bad(const uint8_t *b, uint8_t *m, size_t n, const bad_case *c, int line) {
    memcpy(m, b, n);
    for (int k = 0; k < 3; k++) {
        const field_edit *e = &c->e[k];
        if (e->width == 1) m[e->at] = (uint8_t)e->v;
        if (e->width == 4) wr32(m + e->at, (uint32_t)e->v);
        if (e->width == 8) wr64(m + e->at, e->v);
    }
    refix(m, n);
    ck_assert_msg(open_bytes(m, n) == SEGC_ERR_FORMAT, "case at line %d opened or failed wrongly: %s",
                  line, segc_last_error());
    ck_assert_msg(strstr(segc_last_error(), c->msg) != NULL, "case at line %d: got '%s'", line, segc_last_error());
}

START_TEST(test_hostile_tables) {
    size_t n;
    uint8_t *b = write_pair(&n);
    uint8_t *m = malloc(n);
    memcpy(m, b, n);
    refix(m, n);
    ck_assert_int_eq(open_bytes(m, n), SEGC_OK);   /* refix alone changes nothing */
    entry_pos e0 = find_entry(b, 0), e1 = find_entry(b, 1);
    uint64_t a_off = rd64(b + e0.offset), last = (n - 8) / 64 * 64;
    /* metadata layout of write_pair: klen@128 "k"@132 type@133 len@137 "v"@145 | klen@146 "names"@150
       type@155 count@159 len@167 "x"@175 len@176 "yz"@184 */
    const bad_case cases[] = {
        {{{128, 4, 0}}, "key"},                          /* empty key */
        {{{128, 4, 5000}}, "metadata"},                  /* key runs past the section */
        {{{128, 4, 2}}, "control"},                      /* key swallows the type's 0 byte */
        {{{132, 1, 1}}, "control"},                      /* control character in a key */
        {{{133, 4, 6}}, "type"},                         /* unknown kv type */
        {{{146, 4, 4}}, "type"},                         /* shortened key: type read from "s..." */
        {{{137, 8, 1000}}, "string"},                    /* unterminated string */
        {{{137, 8, UINT64_MAX}}, "string"},
        {{{145, 1, 0}}, "NUL"},                          /* NUL inside a string */
        {{{159, 8, UINT64_MAX / 4}}, "count"},           /* huge string-array count */
        {{{159, 8, 3}}, "count"},                        /* one element more than present */
        {{{167, 8, 1u << 20}}, "element"},               /* element runs past the section */
        {{{175, 1, 0}}, "element"},                      /* NUL inside an element */
        {{{24, 8, 3}}, "metadata"},                      /* kv_count one more than present */
        {{{24, 8, 1}}, "stray"},                         /* kv_count one fewer */
        {{{24, 8, UINT64_MAX}}, "metadata entries"},     /* huge kv_count */
        {{{48, 8, UINT64_MAX}}, "tensor entries"},       /* huge tensor_count */
        {{{48, 8, 1}}, "stray"},
        {{{48, 8, 3}}, "tensor entr"},
        {{{e0.nlen, 4, 0}}, "name"},
        {{{e0.nlen, 4, 100000}}, "runs past"},
        {{{e0.name, 1, '\n'}}, "control"},
        {{{e0.dtype, 4, 5}}, "dtype"},                   /* bad dtype code */
        {{{e0.dtype, 4, UINT32_MAX}}, "dtype"},
        {{{e0.ndim, 4, 9}}, "rank"},                     /* bad rank */
        {{{e0.ndim, 4, 2}}, "tensor"},                   /* rank larger than written */
        {{{e0.shape, 8, 5}}, "nbytes"},                  /* shape and nbytes disagree */
        {{{e0.shape, 8, UINT64_MAX}}, "dim"},
        {{{e0.shape, 8, (uint64_t)1 << 40}}, "nbytes"},
        {{{e0.nbytes, 8, 32}}, "nbytes"},
        {{{e0.offset, 8, a_off + 4}}, "unaligned"},      /* unaligned data */
        {{{e0.offset, 8, n + 64}}, "outside"},           /* past EOF */
        {{{e0.offset, 8, UINT64_MAX - 63}}, "outside"},
        {{{e0.offset, 8, 64}}, "outside"},               /* inside the header */
        {{{e1.offset, 8, last}, {e1.shape, 8, 8}, {e1.nbytes, 8, 32}}, "outside"},   /* runs past the data */
        {{{e1.offset, 8, a_off}}, "overlap"},            /* overlapping tensors */
        {{{e1.name, 1, 'a'}}, "twice"},                  /* duplicate tensor names */
        {{{150, 1, 'k'}, {146, 4, 1}, {151, 4, 0}}, ""}, /* mangled second entry */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) expect_bad(b, m, n, &cases[k], (int)k);
    free(m);
    free(b);
}
END_TEST

/* A few thousand random mutations (with and without fixed checksums) must open cleanly or fail cleanly;
   whatever opens is read completely (ASan/UBSan catch any out-of-bounds access). */
START_TEST(test_random_mutations) {
    const char *p = tmp_path("mut.segc");
    write_sample(p, 0);
    size_t n;
    uint8_t *b = load(p, &n);
    uint8_t *m = malloc(n);
    test_rng r = test_rng_new(1234);
    int opened = 0;
    for (int iter = 0; iter < 4000; iter++) {
        memcpy(m, b, n);
        int edits = test_rng_int(&r, 1, 6);
        for (int k = 0; k < edits; k++) {
            /* aim most edits at the header, metadata and table, where the parsing happens */
            size_t hot = (size_t)rd64(b + 72);
            size_t at = test_rng_int(&r, 0, 3) ? (size_t)test_rng_int(&r, 0, (int)hot - 1)
                                               : (size_t)test_rng_int(&r, 0, (int)n - 1);
            int kind = test_rng_int(&r, 0, 3);
            if (kind == 0) m[at] = (uint8_t)test_rng_int(&r, 0, 255);
            else if (kind == 1) m[at] ^= (uint8_t)(1 << test_rng_int(&r, 0, 7));
            else if (kind == 2) m[at] = (uint8_t)test_rng_int(&r, 0, 9);
            else m[at] = 0xff;
        }
        size_t len = test_rng_int(&r, 0, 9) ? n : (size_t)test_rng_int(&r, 0, (int)n);
        if (test_rng_int(&r, 0, 3)) refix(m, len);
        segc_file *f = NULL;
        if (segc_file_open(mem_file(m, len), &f) != SEGC_OK) {
            ck_assert_str_ne(segc_last_error(), "");
            continue;
        }
        opened++;
        uint64_t acc = 0;
        for (int i = 0; i < segc_file_kv_count(f); i++) {
            const segc_kv *kv = segc_file_kv_at(f, i);
            acc += strlen(kv->key);
            if (kv->type == SEGC_KV_STRING) acc += strlen(kv->str);
            if (kv->type == SEGC_KV_STRING_ARRAY)
                for (int64_t j = 0; j < kv->count; j++) acc += strlen(kv->strs[j]);
            if (kv->type == SEGC_KV_INT_ARRAY || kv->type == SEGC_KV_FLOAT_ARRAY) {
                int64_t *tmp = malloc((size_t)kv->count * 8 + 8);
                ck_assert_int_eq(segc_file_get_ints(f, kv->key, tmp, kv->count) == SEGC_OK ||
                                 kv->type == SEGC_KV_FLOAT_ARRAY, 1);
                free(tmp);
            }
        }
        for (int i = 0; i < segc_file_tensor_count(f); i++) {
            const segc_file_tensor *t = segc_file_tensor_at(f, i);
            ck_assert_ptr_eq(segc_file_find(f, t->name), t);
            const uint8_t *d = t->data;
            for (uint64_t k = 0; k < t->nbytes; k++) acc += d[k];
        }
        (void)segc_file_verify(f);
        segc_file_close(f);
        (void)acc;
    }
    ck_assert_int_gt(opened, 0);   /* some mutations hit only data bytes */
    free(m);
    free(b);
}
END_TEST

/* The writer rejects bad keys, names, shapes and duplicates, and never leaves a partial file. */
START_TEST(test_writer_rejects_bad_input) {
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    float x[2] = {0};
    const int64_t sh[] = {2}, neg[] = {-1};
    ck_assert_int_eq(segc_file_writer_add_str(w, "", "v"), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_file_writer_add_str(w, "a\nb", "v"), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_file_writer_add_str(w, "k", NULL), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_file_writer_add_int(w, "k", 1), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_float(w, "k", 1), SEGC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "twice"));
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "t", SEGC_F32, 1, neg, x), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "t", SEGC_F32, 9, sh, x), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "t", (segc_dtype)17, 1, sh, x), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "t", SEGC_F32, 1, sh, NULL), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_file_writer_add_tensor_fill(w, "t", SEGC_F32, 1, sh, NULL, NULL), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "t", SEGC_F32, 1, sh, x), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "t", SEGC_F32, 1, sh, x), SEGC_ERR_INVALID_ARG);
    /* a failing fill: the error names the tensor, neither the file nor PATH.tmp-* is left behind */
    ck_assert_int_eq(segc_file_writer_add_tensor_fill(w, "u", SEGC_F32, 1, sh, fill_fail, NULL), SEGC_OK);
    const char *p = tmp_path("fail.segc");
    unlink(p);
    ck_assert_int_eq(segc_file_writer_write(w, p, NULL, NULL), SEGC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "tensor u"));
    ck_assert_int_ne(access(p, F_OK), 0);
    ck_assert(!tmp_left_behind(p));
    ck_assert_int_eq(segc_file_writer_write(w, "/nonexistent-dir/x.segc", NULL, NULL), SEGC_ERR_IO);
    segc_file_writer_free(w);
}
END_TEST

/* Progress reports increase to the file size. */
static void count_progress(void *user, uint64_t done, uint64_t total) {
    uint64_t *last = user;
    ck_assert_uint_ge(done, last[0]);
    ck_assert_uint_le(done, total);
    last[0] = done;
    last[1] = total;
}

START_TEST(test_writer_progress) {
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    const int64_t shb[] = {FILL_ROWS, FILL_COLS};
    ck_assert_int_eq(segc_file_writer_add_tensor_fill(w, "h", SEGC_F32, 2, shb, fill_index, NULL), SEGC_OK);
    uint64_t last[2] = {0, 0};
    fill_next = 0;
    const char *p = tmp_path("progress.segc");
    ck_assert_int_eq(segc_file_writer_write(w, p, count_progress, last), SEGC_OK);
    segc_file_writer_free(w);
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert_uint_eq(last[0], (uint64_t)sb.st_size);
    ck_assert_uint_eq(last[1], (uint64_t)sb.st_size);
}
END_TEST

/* Fill callback for f16 data: element i holds the bits (uint16_t)(i * 7 + 3). */
static segc_status fill_f16_pattern(void *user, void *dst, uint64_t offset, uint64_t nbytes) {
    uint16_t *d = dst;
    for (uint64_t i = 0; i < nbytes / 2; i++) d[i] = (uint16_t)((offset / 2 + i) * 7 + 3);
    return SEGC_OK;
}

/* Tensors of odd sizes spanning many output chunks, from a pointer and from a 2-byte-dtype fill, come
   back intact and the data-section checksum holds. */
START_TEST(test_writer_tensors_span_chunks) {
    enum { NP = 300007, NF = 200003 };
    float *big = malloc(sizeof(float) * NP);
    test_rng r = test_rng_new(11);
    test_fill_uniform(&r, big, NP, -1, 1);
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    const int64_t shp[] = {NP}, shf[] = {NF}, sh1[] = {1};
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "small", SEGC_F32, 1, sh1, big), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "pointer", SEGC_F32, 1, shp, big), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor_fill(w, "filled", SEGC_F16, 1, shf, fill_f16_pattern, NULL), SEGC_OK);
    const char *p = tmp_path("chunks.segc");
    ck_assert_int_eq(segc_file_writer_write(w, p, NULL, NULL), SEGC_OK);
    segc_file_writer_free(w);
    segc_file *f;
    ck_assert_int_eq(segc_file_open(p, &f), SEGC_OK);
    ck_assert_int_eq(segc_file_verify(f), SEGC_OK);
    const segc_file_tensor *t = segc_file_find(f, "pointer");
    ck_assert_ptr_nonnull(t);
    ck_assert(memcmp(t->data, big, sizeof(float) * NP) == 0);
    t = segc_file_find(f, "filled");
    ck_assert_ptr_nonnull(t);
    const uint16_t *h = t->data;
    for (int i = 0; i < NF; i++) ck_assert_uint_eq(h[i], (uint16_t)(i * 7 + 3));
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert_uint_eq((uint64_t)sb.st_size, segc_file_size(f));
    segc_file_close(f);
    free(big);
}
END_TEST

/* A file larger than the process may write (RLIMIT_FSIZE; Check runs each test in its own process)
   fails with SEGC_ERR_IO naming the file, before any tensor is converted, and leaves nothing behind. */
START_TEST(test_writer_refuses_when_space_runs_out) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit was, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &was), 0);
    lim = was;
    lim.rlim_cur = 1 << 20;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    const int64_t shb[] = {FILL_ROWS, FILL_COLS};
    ck_assert_int_eq(segc_file_writer_add_tensor_fill(w, "h", SEGC_F32, 2, shb, fill_index, NULL), SEGC_OK);
    fill_next = 0;
    const char *p = tmp_path("toobig.segc");
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp-", p);
    ck_assert_int_eq(segc_file_writer_write(w, p, NULL, NULL), SEGC_ERR_IO);
    ck_assert_msg(strstr(segc_last_error(), tmp) != NULL, "%s", segc_last_error());
    ck_assert_int_ne(access(p, F_OK), 0);
    ck_assert(!tmp_left_behind(p));
    segc_file_writer_free(w);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &was), 0);   /* for CK_FORK=no runs */
    signal(SIGXFSZ, SIG_DFL);
}
END_TEST

/* Deferred value: called once, after every data byte was produced; its text is stored. */
static int late_calls;
static segc_status late_value(void *user, char *dst, size_t len) {
    ck_assert_uint_eq(fill_next, (uint64_t)FILL_ROWS * FILL_COLS * 4);
    ck_assert_uint_eq(len, 10);
    late_calls++;
    memcpy(dst, user, len);
    return SEGC_OK;
}
static segc_status late_fail(void *user, char *dst, size_t len) {
    return segc_fail(SEGC_ERR_IO, "deliberate failure");
}

/* Writes one filled tensor and the deferred key "late" (value: user text, or late_fail when NULL). */
static segc_status write_late(const char *path, const char *text) {
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    const int64_t shb[] = {FILL_ROWS, FILL_COLS};
    ck_assert_int_eq(segc_file_writer_add_str(w, "early", "e"), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_str_deferred(w, "late", 10, text ? late_value : late_fail, (void *)text),
                     SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor_fill(w, "h", SEGC_F32, 2, shb, fill_index, NULL), SEGC_OK);
    fill_next = 0;
    segc_status st = segc_file_writer_write(w, path, NULL, NULL);
    segc_file_writer_free(w);
    return st;
}

/* A deferred string is asked for after the data and stored; if it fails (or holds a NUL) the write
   fails, leaves no temporary, and an existing file at the path keeps its old contents. */
START_TEST(test_writer_deferred_value) {
    const char *p = tmp_path("late.segc");
    late_calls = 0;
    ck_assert_int_eq(write_late(p, "0123456789"), SEGC_OK);
    ck_assert_int_eq(late_calls, 1);
    segc_file *f;
    const char *v;
    ck_assert_int_eq(segc_file_open(p, &f), SEGC_OK);
    ck_assert_int_eq(segc_file_verify(f), SEGC_OK);
    ck_assert_int_eq(segc_file_get_str(f, "late", &v), SEGC_OK);
    ck_assert_str_eq(v, "0123456789");
    ck_assert_int_eq(segc_file_get_str(f, "early", &v), SEGC_OK);
    segc_file_close(f);
    size_t n0, n1;
    uint8_t *before = load(p, &n0);
    ck_assert_int_eq(write_late(p, NULL), SEGC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "late"));
    static const char with_nul[10] = {'a', 'b', 0, 'c', 'd', 'e', 'f', 'g', 'h', 'i'};
    ck_assert_int_eq(write_late(p, with_nul), SEGC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "NUL"));
    uint8_t *after = load(p, &n1);
    ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
    ck_assert(!tmp_left_behind(p));
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_str_deferred(w, "x", 4, NULL, NULL), SEGC_ERR_INVALID_ARG);
    segc_file_writer_free(w);
    free(before);
    free(after);
}
END_TEST

int main(void) {
    Suite *s = suite_create("segc_file");
    TCase *tc = tcase_create("segc_file");
    tcase_add_test(tc, test_round_trip_all_types);
    tcase_add_test(tc, test_empty_file_round_trip);
    tcase_add_test(tc, test_xxh64_vectors_and_streaming);
    tcase_add_test(tc, test_checksums_detect_flips);
    tcase_add_test(tc, test_bad_headers);
    tcase_add_test(tc, test_truncation_everywhere);
    tcase_add_test(tc, test_hostile_tables);
    tcase_add_test(tc, test_random_mutations);
    tcase_add_test(tc, test_writer_rejects_bad_input);
    tcase_add_test(tc, test_writer_progress);
    tcase_add_test(tc, test_writer_tensors_span_chunks);
    tcase_add_test(tc, test_writer_refuses_when_space_runs_out);
    tcase_add_test(tc, test_writer_deferred_value);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
