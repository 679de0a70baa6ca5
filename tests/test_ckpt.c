/* test_ckpt.c - checkpoint readers: torch zip (stored, deflated, zip64), legacy torch, safetensors,
   the data-only pickle VM, and hostile input. Oracles: tests/data/ckpt/expected.txt and
   shared_checks.txt, written by tests/gen/make_small_checkpoints.py with torch.load. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "ckpt_internal.h"
#include "core/status.h"
#include "pickle.h"
#include "test_util.h"

#define MAX_LINE_TOKENS 4096

/* Reads a whole file (NUL-terminated); NULL if absent. */
static char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    if (size) *size = (size_t)n;
    return buf;
}

static char *data_path(const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/ckpt/%s", test_data_dir(), name);
    return path;
}

/* Splits a line at spaces into tok (modifies the line). */
static int split(char *line, char **tok, int max) {
    int n = 0;
    for (char *s = strtok(line, " "); s && n < max; s = strtok(NULL, " ")) tok[n++] = s;
    return n;
}

/* Checks "name dtype ndim dims..." tokens against the tensor; returns the index after the dims. */
static int check_header_tokens(const ckpt *c, char **tok, int n, const char *file, const ckpt_tensor **out) {
    ck_assert_int_ge(n, 3);
    const ckpt_tensor *t = ckpt_find(c, tok[0]);
    ck_assert_msg(t != NULL, "%s: no tensor '%s'", file, tok[0]);
    ck_assert_msg(strcmp(ckpt_dtype_name(t->dtype), tok[1]) == 0, "%s: %s dtype %s, want %s", file, tok[0],
                  ckpt_dtype_name(t->dtype), tok[1]);
    int ndim = atoi(tok[2]);
    ck_assert_int_eq(t->ndim, ndim);
    for (int k = 0; k < ndim; k++) ck_assert_int_eq(t->shape[k], atoll(tok[3 + k]));
    ck_assert_str_eq(tok[3 + ndim], ":");
    *out = t;
    return 4 + ndim;
}

/* Every tensor of every file in expected.txt: names, dtypes, shapes and exact values. */
START_TEST(test_small_checkpoints_match_torch_load) {
    char *text = read_file(data_path("expected.txt"), NULL);
    ck_assert_msg(text != NULL, "missing tests/data/ckpt/expected.txt");
    char *save = NULL, *tok[MAX_LINE_TOKENS];
    ckpt *c = NULL;
    char file[256] = "";
    int files = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int n = split(line, tok, MAX_LINE_TOKENS);
        if (strcmp(tok[0], "file") == 0) {
            ckpt_close(c);
            snprintf(file, sizeof file, "%s", tok[1]);
            ck_assert_msg(ckpt_open(data_path(file), &c) == SEGC_OK, "%s: %s", file, segc_last_error());
            ck_assert_int_eq(ckpt_count(c), atoi(tok[2]));
            files++;
            continue;
        }
        const ckpt_tensor *t;
        int first = check_header_tokens(c, tok + 1, n - 1, file, &t) + 1;
        int64_t numel = ckpt_numel(t);
        ck_assert_int_eq(numel, n - first);
        float *got = malloc(sizeof(float) * (size_t)(numel + 1)), *want = malloc(sizeof(float) * (size_t)(numel + 1));
        for (int64_t i = 0; i < numel; i++) want[i] = (float)strtod(tok[first + i], NULL);
        ck_assert_int_eq(ckpt_tensor_to_f32(t, got), SEGC_OK);
        test_assert_close(got, want, (size_t)numel, 0.0, 0.0, t->name);
        if (t->dtype == CKPT_F32) {   /* the raw copy gathers the same elements */
            memset(got, 0, sizeof(float) * (size_t)numel);
            ck_assert_int_eq(ckpt_tensor_copy_raw(t, got), SEGC_OK);
            test_assert_close(got, want, (size_t)numel, 0.0, 0.0, t->name);
        }
        free(got);
        free(want);
    }
    ckpt_close(c);
    free(text);
    ck_assert_int_ge(files, 7);
}
END_TEST

/* The torch readers keep views as views: strides, offsets and shared storages as torch has them. */
START_TEST(test_views_and_shared_storage_are_kept) {
    const char *files[] = {"zip_mixed.pt", "legacy_mixed.pt", "zip64_mixed.pt", "zip_deflate.pt"};
    for (int f = 0; f < 4; f++) {
        ckpt *c;
        ck_assert_msg(ckpt_open(data_path(files[f]), &c) == SEGC_OK, "%s", segc_last_error());
        ck_assert_int_eq(ckpt_get_format(c), f == 1 ? CKPT_FORMAT_LEGACY : CKPT_FORMAT_ZIP);
        const ckpt_tensor *vt = ckpt_find(c, "view_t"), *vs = ckpt_find(c, "view_slice");
        ck_assert(vt && vs);
        ck_assert_int_eq(vt->stride[0], 1);
        ck_assert_int_eq(vt->stride[1], 6);
        ck_assert_int_eq(vs->stride[0], 6);
        ck_assert_int_eq(vs->stride[1], 2);
        ck_assert_ptr_eq((const float *)vs->data, (const float *)vt->data + 6);
        const ckpt_tensor *a = ckpt_find(c, "shared_a"), *b = ckpt_find(c, "shared_b");
        ck_assert_ptr_eq((const float *)b->data, (const float *)a->data + 3);
        ck_assert_int_eq(a->storage_nbytes, 40);
        ck_assert_int_eq(b->storage_nbytes, 28);
        ck_assert_ptr_null(ckpt_find(c, "nested.count"));   /* non-tensor leaves are dropped */
        ck_assert_ptr_null(ckpt_find(c, "no.such.tensor"));
        ckpt_close(c);
    }
    ckpt *c;
    ck_assert_int_eq(ckpt_open(data_path("st_mixed.safetensors"), &c), SEGC_OK);
    ck_assert_int_eq(ckpt_get_format(c), CKPT_FORMAT_SAFETENSORS);
    ck_assert_int_eq(ckpt_find(c, "view_t")->stride[0], 4);
    ckpt_close(c);
}
END_TEST

/* The four official-format checkpoints in ../shared/weights, against torch.load. */
START_TEST(test_shared_checkpoints_match_torch_load) {
    const char *shared = test_shared_dir();
    if (!shared) { test_skip("no ../shared: shared checkpoints not checked"); return; }
    char *text = read_file(data_path("shared_checks.txt"), NULL);
    ck_assert_msg(text != NULL, "missing tests/data/ckpt/shared_checks.txt");
    char *save = NULL, *tok[64], path[4096];
    ckpt *c = NULL;
    int files = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int n = split(line, tok, 64);
        if (strcmp(tok[0], "file") == 0) {
            ckpt_close(c);
            snprintf(path, sizeof path, "%s/weights/%s", shared, tok[1]);
            ck_assert_msg(ckpt_open(path, &c) == SEGC_OK, "%s", segc_last_error());
            ck_assert_int_eq(ckpt_get_format(c), CKPT_FORMAT_ZIP);
            ck_assert_int_eq(ckpt_count(c), atoi(tok[2]));
            files++;
            continue;
        }
        const ckpt_tensor *t;
        int k = check_header_tokens(c, tok + 1, n - 1, path, &t) + 1;
        int64_t numel = ckpt_numel(t);
        float *x = malloc(sizeof(float) * (size_t)numel);
        ck_assert_int_eq(ckpt_tensor_to_f32(t, x), SEGC_OK);
        double sum = 0, want = strtod(tok[k], NULL);
        for (int64_t i = 0; i < numel; i++) sum += x[i];
        ck_assert_msg(fabs(sum - want) <= 1e-6 * (1 + fabs(want)), "%s: sum %.9g, want %.9g", t->name, sum, want);
        ck_assert_str_eq(tok[k + 1], ":");
        for (int i = 0; k + 2 + i < n; i++) ck_assert_float_eq(x[i], (float)strtod(tok[k + 2 + i], NULL));
        free(x);
    }
    ckpt_close(c);
    free(text);
    ck_assert_int_eq(files, 4);
}
END_TEST

/* Hand-made hostile zips: each refused with a clear message naming the problem. */
START_TEST(test_hostile_checkpoints_are_refused) {
    const struct { const char *file, *message; } cases[] = {
        {"bad_global.pt", "system is not allowed"},
        {"bad_opcode.pt", "unknown or unsupported opcode"},
        {"bad_nested.pt", "nests deeper"},
        {"bad_marks.pt", "MARKs nested too deeply"},
        {"bad_shape.pt", "too many elements"},
        {"bad_offset.pt", "reaches past"},
        {"bad_stride.pt", "negative size or stride"},
        {"bad_numel.pt", "not 100 elements"},
        {"bad_missing.pt", "missing"},
        {"bad_dup.pt", "two tensors are named 'a.b'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ckpt *c = (ckpt *)1;
        segc_clear_error();
        segc_status st = ckpt_open(data_path(cases[i].file), &c);
        ck_assert_msg(st == SEGC_ERR_FORMAT, "%s: status %d (%s)", cases[i].file, st, segc_last_error());
        ck_assert_ptr_null(c);
        ck_assert_msg(strstr(segc_last_error(), cases[i].message), "%s: message '%s' lacks '%s'", cases[i].file,
                      segc_last_error(), cases[i].message);
    }
    ckpt *c;
    ck_assert_int_eq(ckpt_open("/nonexistent/x.pt", &c), SEGC_ERR_IO);
    ck_assert_int_eq(ckpt_open(data_path("expected.txt"), &c), SEGC_ERR_FORMAT);
    ck_assert_int_eq(ckpt_open_memory("", 0, &c), SEGC_ERR_FORMAT);
    ck_assert_int_eq(ckpt_open_memory("\x80\x02K\x01.", 5, &c), SEGC_ERR_FORMAT);   /* pickle, no magic */
}
END_TEST

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr32(uint8_t *p, uint32_t v) { for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k)); }

/* Opens bytes patched at `at` with a 32-bit value; expects SEGC_ERR_FORMAT and `message`. */
static void expect_patch_refused(const uint8_t *orig, size_t size, size_t at, uint32_t value, const char *message) {
    uint8_t *copy = malloc(size);
    memcpy(copy, orig, size);
    wr32(copy + at, value);
    ckpt *c;
    segc_status st = ckpt_open_memory(copy, size, &c);
    ck_assert_msg(st == SEGC_ERR_FORMAT && strstr(segc_last_error(), message), "patch at %zu: status %d '%s' (want '%s')",
                  at, st, segc_last_error(), message);
    free(copy);
}

/* End records, central directory and local header fields that point outside the file or disagree.
   zip_deflate.pt (Python's zipfile) has a plain end record, zip64_mixed.pt only zip64 values, and
   zip_mixed.pt (torch) both. */
START_TEST(test_zip_bad_offsets_and_sizes_are_refused) {
    size_t size;
    uint8_t *d = (uint8_t *)read_file(data_path("zip_deflate.pt"), &size);
    size_t eocd = size - 22;   /* no archive comment */
    ck_assert_uint_eq(rd32(d + eocd), 0x06054b50u);
    expect_patch_refused(d, size, eocd + 16, 0xFFFFFF00u, "outside the file");   /* directory offset */
    expect_patch_refused(d, size, eocd + 12, (uint32_t)size, "outside the file"); /* directory size */
    expect_patch_refused(d, size, eocd + 8, 0x7FFF7FFF, "cannot fit");         /* entry counts */
    expect_patch_refused(d, size, eocd + 8, 0xFFFFFFFFu, "without a zip64 locator");
    /* a deflated entry claiming far more than deflate can expand to (both headers agree) */
    uint8_t *bomb = malloc(size);
    memcpy(bomb, d, size);
    const size_t cd0 = rd32(bomb + eocd + 16), local0 = rd32(bomb + cd0 + 42);
    wr32(bomb + cd0 + 24, 0x7FFFFFFF);
    wr32(bomb + local0 + 22, 0x7FFFFFFF);
    ckpt *c;
    ck_assert_int_eq(ckpt_open_memory(bomb, size, &c), SEGC_ERR_FORMAT);
    ck_assert_msg(strstr(segc_last_error(), "compressed"), "%s", segc_last_error());
    free(bomb);
    free(d);

    d = (uint8_t *)read_file(data_path("zip64_mixed.pt"), &size);
    eocd = size - 22;
    size_t z64 = (size_t)rd32(d + eocd - 20 + 8);
    ck_assert_uint_eq(rd32(d + z64), 0x06064b50u);
    expect_patch_refused(d, size, z64 + 48, 0xFFFFFF00u, "outside the file");
    expect_patch_refused(d, size, z64 + 40, (uint32_t)size, "outside the file");
    expect_patch_refused(d, size, eocd - 20 + 8, (uint32_t)size - 30, "zip64 end record offset");
    const size_t cd64 = rd32(d + z64 + 48);
    expect_patch_refused(d, size, cd64 + 30, 4, "zip64 extra field");            /* extra cut to 4 bytes */
    free(d);

    d = (uint8_t *)read_file(data_path("zip_mixed.pt"), &size);
    eocd = size - 22;
    const size_t cd = rd32(d + eocd + 16);
    expect_patch_refused(d, size, eocd + 16, 0xFFFFFF00u, "disagree");
    expect_patch_refused(d, size, cd + 42, (uint32_t)size - 10, "no local header"); /* local header offset */
    expect_patch_refused(d, size, cd + 20, 0x7FFFFFFF, "compressed size");          /* csize != usize */
    expect_patch_refused(d, size, cd + 16, 0x12345678, "data descriptor disagrees"); /* CRC vs descriptor */
    expect_patch_refused(d, size, 0, 0x04034b51u, "no zip, torch or safetensors");   /* magic */
    /* sizes past EOF (torch's local header defers sizes to the data descriptor) */
    uint8_t *copy = malloc(size);
    memcpy(copy, d, size);
    wr32(copy + cd + 20, (uint32_t)size);
    wr32(copy + cd + 24, (uint32_t)size);
    ck_assert_int_eq(ckpt_open_memory(copy, size, &c), SEGC_ERR_FORMAT);
    ck_assert_msg(strstr(segc_last_error(), "past the end"), "%s", segc_last_error());
    free(copy);
    free(d);
}
END_TEST

/* Legacy header checks: the protocol version and the writer's byte order. */
START_TEST(test_legacy_header_is_checked) {
    size_t size;
    uint8_t *d = (uint8_t *)read_file(data_path("legacy_mixed.pt"), &size);
    ckpt *c;
    /* magic (15 bytes), then PROTO 2, BININT2 1001, STOP */
    ck_assert_int_eq(memcmp(d + 15, "\x80\x02M\xe9\x03.", 6), 0);
    d[18] = 0xea;
    ck_assert_int_eq(ckpt_open_memory(d, size, &c), SEGC_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(segc_last_error(), "protocol version"), "%s", segc_last_error());
    d[18] = 0xe9;
    uint8_t *le = memmem(d, 200, "little_endian", 13);
    ck_assert_ptr_nonnull(le);
    uint8_t *t = memchr(le + 13, 0x88, 4);   /* NEWTRUE after the key (and its BINPUT) */
    ck_assert_ptr_nonnull(t);
    *t = 0x89;
    ck_assert_int_eq(ckpt_open_memory(d, size, &c), SEGC_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(segc_last_error(), "not little-endian"), "%s", segc_last_error());
    *t = 0x88;
    ck_assert_int_eq(ckpt_open_memory(d, size, &c), SEGC_OK);
    ckpt_close(c);
    free(d);
}
END_TEST

static const char *SMALL_FILES[] = {"zip_mixed.pt", "zip_deflate.pt", "zip64_mixed.pt", "zip_param.pt",
                                    "legacy_mixed.pt", "legacy_p4.pt", "st_mixed.safetensors"};
#define N_SMALL_FILES (int)(sizeof SMALL_FILES / sizeof SMALL_FILES[0])

/* Opens bytes (in an exact-size heap copy, so ASan sees over-reads) and, if accepted, reads every
   tensor. Returns the status. */
static segc_status open_and_read_all(const uint8_t *bytes, size_t n) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, bytes, n);
    ckpt *c;
    segc_status st = ckpt_open_memory(copy, n, &c);
    if (st == SEGC_OK) {
        for (int i = 0; i < ckpt_count(c); i++) {
            const ckpt_tensor *t = ckpt_at(c, i);
            float *x = malloc(sizeof(float) * (size_t)(ckpt_numel(t) + 1));
            ck_assert_int_eq(ckpt_tensor_to_f32(t, x), SEGC_OK);
            free(x);
        }
        ckpt_close(c);
    } else {
        ck_assert_msg(segc_last_error()[0] != '\0', "failure without a message");
    }
    free(copy);
    return st;
}

/* Every truncation of every small file is refused (the zip directory, the legacy storages and the
   safetensors data all end the file). */
START_TEST(test_truncated_files_are_refused) {
    for (int f = 0; f < N_SMALL_FILES; f++) {
        size_t size;
        uint8_t *d = (uint8_t *)read_file(data_path(SMALL_FILES[f]), &size);
        size_t step = size > 3000 ? 3 : 1;
        for (size_t n = 0; n < size; n += step) {
            segc_clear_error();
            segc_status st = open_and_read_all(d, n);
            ck_assert_msg(st != SEGC_OK, "%s truncated to %zu bytes was accepted", SMALL_FILES[f], n);
        }
        free(d);
    }
}
END_TEST

/* Random byte flips: any status is fine as long as nothing crashes and errors have messages. */
START_TEST(test_random_mutations_never_crash) {
    test_rng r = test_rng_new(2024);
    int accepted = 0, total = 0;
    for (int f = 0; f < N_SMALL_FILES; f++) {
        size_t size;
        uint8_t *d = (uint8_t *)read_file(data_path(SMALL_FILES[f]), &size);
        uint8_t *m = malloc(size);
        for (int it = 0; it < 600; it++) {
            memcpy(m, d, size);
            int flips = test_rng_int(&r, 1, 4);
            for (int k = 0; k < flips; k++) {
                size_t at = (size_t)test_rng_int(&r, 0, (int)size - 1);
                m[at] = (uint8_t)(it % 3 == 0 ? test_rng_int(&r, 0, 255) : m[at] ^ (1 << test_rng_int(&r, 0, 7)));
            }
            size_t n = it % 5 == 0 ? (size_t)test_rng_int(&r, 0, (int)size) : size;
            accepted += open_and_read_all(m, n) == SEGC_OK;
            total++;
        }
        free(m);
        free(d);
    }
    printf("mutations: %d of %d accepted\n", accepted, total);
}
END_TEST

/* Runs the pickle VM on bytes; returns the status (and frees on success). */
static segc_status run_pickle(const char *bytes, size_t n, const segc_pk_value **root, segc_pickle **p) {
    segc_status st = segc_pickle_load((const uint8_t *)bytes, n, p, NULL);
    if (st == SEGC_OK) *root = segc_pickle_root(*p);
    return st;
}

START_TEST(test_pickle_values_are_decoded) {
    /* {'a': [1, -2, 70000, 2**40, -1.5, True, None, 'xé', b'z'], 'b': (5, 6)} (pickle protocol 3) */
    static const char pk[] = "\x80\x03}q\x00(X\x01\x00\x00\x00" "aq\x01]q\x02(K\x01J\xfe\xff\xff\xffJp\x11\x01\x00\x8a\x06"
                             "\x00\x00\x00\x00\x00\x01G\xbf\xf8\x00\x00\x00\x00\x00\x00\x88NX\x03\x00\x00\x00x\xc3\xa9q\x03" "C"
                             "\x01zq\x04" "eX\x01\x00\x00\x00" "bq\x05K\x05K\x06\x86q\x06u.";
    segc_pickle *p;
    const segc_pk_value *v;
    ck_assert_msg(run_pickle(pk, sizeof pk - 1, &v, &p) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(v->kind, SEGC_PK_DICT);
    ck_assert_int_eq(v->n, 2);
    const segc_pk_value *a = v->items[1];
    ck_assert_int_eq(a->kind, SEGC_PK_LIST);
    ck_assert_int_eq(a->n, 9);
    ck_assert_int_eq(a->items[0]->i, 1);
    ck_assert_int_eq(a->items[1]->i, -2);
    ck_assert_int_eq(a->items[2]->i, 70000);
    ck_assert_int_eq(a->items[3]->i, (int64_t)1 << 40);
    ck_assert_double_eq(a->items[4]->f, -1.5);
    ck_assert_int_eq(a->items[5]->kind, SEGC_PK_BOOL);
    ck_assert_int_eq(a->items[6]->kind, SEGC_PK_NONE);
    ck_assert_str_eq(a->items[7]->s, "x\xc3\xa9");
    ck_assert_int_eq(a->items[8]->kind, SEGC_PK_BYTES);
    ck_assert_int_eq(v->items[3]->kind, SEGC_PK_TUPLE);
    ck_assert_int_eq(v->items[3]->items[1]->i, 6);
    segc_pickle_free(p);
    /* LONG1 of 10 bytes (torch's magic number) does not fit: an opaque value, not an error */
    static const char big[] = "\x80\x02\x8a\x0al\xfc\x9c" "F\xf9 j\xa8P\x19.";
    ck_assert_int_eq(run_pickle(big, sizeof big - 1, &v, &p), SEGC_OK);
    ck_assert_int_eq(v->kind, SEGC_PK_OBJECT);
    segc_pickle_free(p);
    /* Python 2 str (SHORT_BINSTRING) keys are strings */
    static const char py2[] = "\x80\x02}U\x01" "aK\x01s.";
    ck_assert_int_eq(run_pickle(py2, sizeof py2 - 1, &v, &p), SEGC_OK);
    ck_assert_int_eq(v->items[0]->kind, SEGC_PK_STR);
    ck_assert_str_eq(v->items[0]->s, "a");
    segc_pickle_free(p);
    /* LONG1 negative small */
    static const char neg[] = "\x80\x02\x8a\x02\x00\xff.";
    ck_assert_int_eq(run_pickle(neg, sizeof neg - 1, &v, &p), SEGC_OK);
    ck_assert_int_eq(v->i, -256);
    segc_pickle_free(p);
}
END_TEST

START_TEST(test_pickle_malformed_input_is_refused) {
    const struct { const char *bytes; size_t n; const char *message; } cases[] = {
        {"\x80\x02", 2, "without STOP"},
        {"\x80\x06K\x01.", 5, "unsupported protocol"},
        {"\x80\x02h\x05.", 5, "never stored"},
        {"\x80\x02.", 3, "stack underflow"},
        {"\x80\x02X\xff\xff\xff\x7f" "abc.", 11, "past the end"},
        {"\x80\x02" "cos\nsystem\n.", 14, "pickle global os.system is not allowed"},
        {"\x80\x02" "cbuiltins\neval\n.", 18, "pickle global builtins.eval is not allowed"},
        {"\x80\x02K\x07(K\x01K\x02u.", 11, "not a dict"},
        {"\x80\x02(K\x01K\x02K\x03u.", 11, "stack underflow"},
        {"\x80\x02}K\x01s.", 7, "stack underflow"},
        {"\x80\x02r\xff\xff\xff\xff.", 8, "stack underflow"},
        {"\x80\x02]r\xff\xff\xff\x7f.", 9, "memo index too large"},
        {"\x80\x02" "ccollections\nOrderedDict\nK\x01R.", 31, "not a tuple"},
        {"\x80\x02" "ctorch\nFloatStorage\n)R.", 25, "cannot be called"},
        {"\x80\x02(X\x07\x00\x00\x00storageK\x01tQ.", 20, "persistent id"},
        {"\x80\x02I1\n.", 6, "unknown or unsupported opcode"},
        {"\x80\x02\x8b\xff\xff\xff\xff.", 8, "negative LONG4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        segc_pickle *p = NULL;
        segc_status st = segc_pickle_load((const uint8_t *)cases[i].bytes, cases[i].n, &p, NULL);
        ck_assert_msg(st == SEGC_ERR_FORMAT && strstr(segc_last_error(), cases[i].message),
                      "case %zu: status %d '%s' (want '%s')", i, st, segc_last_error(), cases[i].message);
        ck_assert_ptr_null(p);
    }
}
END_TEST

/* ckpt_storage_fn for pickles made in the tests: never reached by the bomb below. */
static segc_status no_storage(void *user, const segc_pk_storage *s, const uint8_t **data, uint64_t *nbytes) {
    (void)user; (void)s; (void)data; (void)nbytes;
    return segc_fail(SEGC_ERR_INTERNAL, "unexpected storage");
}

/* A tuple of two references to the previous tuple, 40 times: 2^40 leaves from 200 bytes. The
   flattening walk stops at its node budget. */
START_TEST(test_shared_subtree_bomb_is_refused) {
    uint8_t pk[512];
    size_t n = 0;
    pk[n++] = 0x80; pk[n++] = 2; pk[n++] = 'N'; pk[n++] = 'q'; pk[n++] = 0;
    for (int k = 0; k < 40; k++) {
        pk[n++] = 'h'; pk[n++] = (uint8_t)k; pk[n++] = 'h'; pk[n++] = (uint8_t)k;
        pk[n++] = 0x86; pk[n++] = 'q'; pk[n++] = (uint8_t)(k + 1);
    }
    pk[n++] = '.';
    segc_pickle *p;
    ck_assert_int_eq(segc_pickle_load(pk, n, &p, NULL), SEGC_OK);
    ckpt *c = calloc(1, sizeof *c);
    segc_status st = ckpt_add_pickle_tensors(c, segc_pickle_root(p), no_storage, NULL);
    ck_assert_msg(st == SEGC_ERR_FORMAT && strstr(segc_last_error(), "too many nodes"), "%d %s", st, segc_last_error());
    ckpt_close(c);
    segc_pickle_free(p);
}
END_TEST

/* Writes a safetensors file (header JSON + data) into memory and opens it. */
static segc_status open_safetensors(const char *header, const void *data, size_t n) {
    size_t h = strlen(header);
    uint8_t *buf = malloc(8 + h + n + 1);
    for (int k = 0; k < 8; k++) buf[k] = (uint8_t)((uint64_t)h >> (8 * k));
    memcpy(buf + 8, header, h);
    if (n) memcpy(buf + 8 + h, data, n);
    ckpt *c;
    segc_status st = ckpt_open_memory(buf, 8 + h + n, &c);
    if (st == SEGC_OK) ckpt_close(c);
    free(buf);
    return st;
}

/* A header length whose low byte is 0x80 (a pickle's first byte) must still be read as safetensors. */
START_TEST(test_safetensors_header_length_0x80_is_not_a_pickle) {
    const float x[4] = {1, 2, 3, 4};
    char header[129];
    int n = snprintf(header, sizeof header, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}");
    memset(header + n, ' ', (size_t)(128 - n));
    header[128] = 0;
    ck_assert_int_eq(open_safetensors(header, x, 16), SEGC_OK);
}
END_TEST

START_TEST(test_safetensors_hostile_headers_are_refused) {
    const float x[4] = {1, 2, 3, 4};
    ck_assert_int_eq(open_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", x, 16), SEGC_OK);
    ck_assert_int_eq(open_safetensors("{\"__metadata__\":{\"k\":[1,{\"z\":null}]}, \"a\\u00e9\":{\"dtype\":\"F32\","
                                      "\"shape\":[],\"data_offsets\":[0,4]}}   ", x, 16), SEGC_OK);
    const struct { const char *h; const char *message; } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,32]}}", "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", "bytes for"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}", "too large"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", "non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", "lacks"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,4]}}", "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", "expected"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}} x", "trailing"},
        {"{\"__metadata__\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", "deeply"},
        {"{\"a\\u0000\":{}}", "NUL"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "two tensors"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        segc_status st = open_safetensors(cases[i].h, x, 16);
        ck_assert_msg(st == SEGC_ERR_FORMAT && strstr(segc_last_error(), cases[i].message),
                      "case %zu: status %d '%s' (want '%s')", i, st, segc_last_error(), cases[i].message);
    }
    ck_assert_int_eq(open_safetensors("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", x, 16),
                     SEGC_ERR_UNSUPPORTED);
    /* a header length bigger than the file */
    uint8_t bad[16] = {0xFF, 0xFF, 0, 0, 0, 0, 0, 0, '{', '}'};
    ckpt *c;
    ck_assert_int_eq(ckpt_open_memory(bad, sizeof bad, &c), SEGC_ERR_FORMAT);
}
END_TEST

static Suite *ckpt_suite(void) {
    Suite *s = suite_create("ckpt");
    TCase *tc = tcase_create("ckpt");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_small_checkpoints_match_torch_load);
    tcase_add_test(tc, test_views_and_shared_storage_are_kept);
    tcase_add_test(tc, test_shared_checkpoints_match_torch_load);
    tcase_add_test(tc, test_hostile_checkpoints_are_refused);
    tcase_add_test(tc, test_zip_bad_offsets_and_sizes_are_refused);
    tcase_add_test(tc, test_legacy_header_is_checked);
    tcase_add_test(tc, test_truncated_files_are_refused);
    tcase_add_test(tc, test_random_mutations_never_crash);
    tcase_add_test(tc, test_pickle_values_are_decoded);
    tcase_add_test(tc, test_pickle_malformed_input_is_refused);
    tcase_add_test(tc, test_shared_subtree_bomb_is_refused);
    tcase_add_test(tc, test_safetensors_hostile_headers_are_refused);
    tcase_add_test(tc, test_safetensors_header_length_0x80_is_not_a_pickle);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(ckpt_suite()); }
