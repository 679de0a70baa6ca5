/* test_convert_fast.c - the converter's fast paths against their plain versions: the zip CRC-32
   (carry-less multiply folding, zlib for tails and other CPUs) on stored entries of every small length
   and alignment, checked against zlib's crc32 and refusing a flipped byte; f16 widening (F16C, with the
   table for inf/NaN groups and tails) on all 65536 bit patterns, bit for bit against segc_f16_to_f32
   (signalling NaN payloads included); and the source hash computed on its own thread: the right digest,
   and clean failures (no leak, no stray output) when the conversion stops before the digest is used
   or while the file is written (an existing output then keeps its contents). */
#include <check.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include "convert.h"
#include "core/half.h"
#include "core/status.h"
#include "io/segc_file.h"
#include "io/sha256.h"
#include "test_util.h"
#include "zip.h"

static const char *tmp_path(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", test_tmp_dir(), name);
    return buf[k];
}

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }

/* A zip archive with one stored entry: local header, data, central directory, end record (the layout
   of APPNOTE 4.3.7, 4.3.12, 4.3.16). Returns a malloc'd buffer of *size bytes. */
static uint8_t *zip_one(const char *name, const uint8_t *data, uint32_t n, uint32_t crc, size_t *size) {
    uint32_t nlen = (uint32_t)strlen(name), local = 30 + nlen, central = 46 + nlen;
    *size = (size_t)local + n + central + 22;
    uint8_t *z = calloc(*size, 1), *p = z;
    put32(p, 0x04034b50u);
    put16(p + 4, 20);
    put32(p + 14, crc);
    put32(p + 18, n);
    put32(p + 22, n);
    put16(p + 26, nlen);
    memcpy(p + 30, name, nlen);
    memcpy(p + local, data, n);
    p += local + n;
    put32(p, 0x02014b50u);
    put16(p + 4, 20);
    put16(p + 6, 20);
    put32(p + 16, crc);
    put32(p + 20, n);
    put32(p + 24, n);
    put16(p + 28, nlen);
    memcpy(p + 46, name, nlen);
    p += central;
    put32(p, 0x06054b50u);
    put16(p + 8, 1);
    put16(p + 10, 1);
    put32(p + 12, central);
    put32(p + 16, local + n);
    return z;
}

/* Opens the archive and reads its entry: the status of segc_zip_read (the CRC is checked there). */
static segc_status read_entry(const uint8_t *z, size_t size, const uint8_t *want, uint32_t n) {
    segc_zip *zip;
    ck_assert_msg(segc_zip_open(z, size, &zip) == SEGC_OK, "%s", segc_last_error());
    const uint8_t *got;
    uint64_t got_n;
    segc_status st = segc_zip_read(zip, 0, &got, &got_n);
    if (!st) {
        ck_assert_uint_eq(got_n, n);
        ck_assert(n == 0 || memcmp(got, want, n) == 0);
    }
    segc_zip_close(zip);
    return st;
}

START_TEST(test_zip_crc_every_length_and_alignment) {
    enum { BIG = (1 << 20) + 13 };
    uint8_t *data = malloc(BIG + 8);   /* entries start up to 6 bytes in */
    test_rng r = test_rng_new(3);
    for (int i = 0; i < BIG + 8; i++) data[i] = (uint8_t)test_rng_int(&r, 0, 255);
    uint32_t lengths[320];
    int nl = 0;
    for (uint32_t n = 0; n <= 300; n++) lengths[nl++] = n;
    const uint32_t large[] = {1023, 1024, 4093, 65536 + 5, 100000, BIG};
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) lengths[nl++] = large[i];
    static const char names[] = "abcdefghijklmnop";
    for (int i = 0; i < nl; i++) {
        uint32_t n = lengths[i];
        const uint8_t *src = data + i % 7;   /* the entry's bytes start at every alignment */
        uint32_t crc = (uint32_t)crc32(0L, src, n);
        char name[17];
        snprintf(name, sizeof name, "%.*s", 1 + i % 16, names);
        size_t size;
        uint8_t *z = zip_one(name, src, n, crc, &size);
        ck_assert_msg(read_entry(z, size, src, n) == SEGC_OK, "length %u: %s", n, segc_last_error());
        free(z);
        if (n == 0) continue;
        /* one flipped bit anywhere is caught */
        uint8_t *bad = malloc(n);
        memcpy(bad, src, n);
        bad[test_rng_int(&r, 0, (int)n - 1)] ^= (uint8_t)(1u << test_rng_int(&r, 0, 7));
        z = zip_one(name, bad, n, crc, &size);
        ck_assert_int_eq(read_entry(z, size, bad, n), SEGC_ERR_FORMAT);
        ck_assert_msg(strstr(segc_last_error(), "CRC-32 mismatch") != NULL, "%s", segc_last_error());
        free(z);
        free(bad);
    }
    free(data);
}
END_TEST

/* Writes a safetensors file holding f16 tensors "all" (every bit pattern 0..65535) and "tail" (13
   values), with a header of odd length so the data starts unaligned. */
static void write_f16_safetensors(const char *path, uint16_t *all, uint16_t *tail) {
    for (uint32_t h = 0; h < 65536; h++) all[h] = (uint16_t)h;
    for (int i = 0; i < 13; i++) tail[i] = (uint16_t)(0x7c00 + i * 97);   /* inf, NaNs of both kinds */
    char json[256];
    int n = snprintf(json, sizeof json,
                     "{\"all\":{\"dtype\":\"F16\",\"shape\":[65536],\"data_offsets\":[0,131072]},"
                     "\"tail\":{\"dtype\":\"F16\",\"shape\":[13],\"data_offsets\":[131072,131098]}}");
    if (n % 2 == 0) json[n++] = ' ';
    uint8_t len[8] = {0};
    put32(len, (uint32_t)n);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(len, 1, 8, fp), 8);
    ck_assert_uint_eq(fwrite(json, 1, (size_t)n, fp), (size_t)n);
    ck_assert_uint_eq(fwrite(all, 2, 65536, fp), 65536);
    ck_assert_uint_eq(fwrite(tail, 2, 13, fp), 13);
    fclose(fp);
}

static segc_status convert_raw(const char *in, const char *out, segc_dtype dtype) {
    segc_convert_options o;
    segc_convert_options_default(&o);
    o.arch = "raw";
    o.dtype = dtype;
    return segc_convert_file(in, out, &o);
}

/* The bits of value i of the converted tensor, as the plain conversion of f16 bits h gives them. */
static uint32_t expected_bits(uint16_t h, segc_dtype dtype) {
    float f = segc_f16_to_f32(h);
    uint32_t u;
    memcpy(&u, &f, 4);
    return dtype == SEGC_F32 ? u : dtype == SEGC_F16 ? h : segc_f32_to_bf16(f);
}

START_TEST(test_f16_widening_every_bit_pattern) {
    static uint16_t all[65536], tail[13];
    const char *in = tmp_path("f16.safetensors"), *out = tmp_path("f16.segc");
    write_f16_safetensors(in, all, tail);
    const segc_dtype dts[] = {SEGC_F32, SEGC_F16, SEGC_BF16};
    for (int d = 0; d < 3; d++) {
        ck_assert_msg(convert_raw(in, out, dts[d]) == SEGC_OK, "%s", segc_last_error());
        segc_file *f;
        ck_assert_int_eq(segc_file_open(out, &f), SEGC_OK);
        size_t es = segc_dtype_size(dts[d]);
        for (int k = 0; k < 2; k++) {
            const segc_file_tensor *t = segc_file_find(f, k ? "tail" : "all");
            const uint16_t *src = k ? tail : all;
            int n = k ? 13 : 65536;
            ck_assert_ptr_nonnull(t);
            for (int i = 0; i < n; i++) {
                uint32_t got = 0;
                memcpy(&got, (const uint8_t *)t->data + (size_t)i * es, es);
                ck_assert_msg(got == expected_bits(src[i], dts[d]), "%s: f16 %04x -> %08x, want %08x",
                              segc_dtype_name(dts[d]), src[i], got, expected_bits(src[i], dts[d]));
            }
        }
        segc_file_close(f);
    }
    unlink(in);
    unlink(out);
}
END_TEST

START_TEST(test_source_hash_thread) {
    static uint16_t all[65536], tail[13];
    const char *in = tmp_path("hash.safetensors"), *out = tmp_path("hash.segc");
    write_f16_safetensors(in, all, tail);
    /* the digest recorded is the file's */
    char want[65];
    ck_assert_int_eq(segc_sha256_file(in, want), SEGC_OK);
    ck_assert_msg(convert_raw(in, out, SEGC_F32) == SEGC_OK, "%s", segc_last_error());
    segc_file *f;
    const char *sha = NULL;
    ck_assert_int_eq(segc_file_open(out, &f), SEGC_OK);
    ck_assert_int_eq(segc_file_get_str(f, "source.sha256", &sha), SEGC_OK);
    ck_assert_str_eq(sha, want);
    segc_file_close(f);
    unlink(out);
    /* failures before the digest is used: the thread is stopped and joined, no output appears */
    segc_convert_options o;
    segc_convert_options_default(&o);
    o.arch = "no_such_arch";
    ck_assert_int_eq(segc_convert_file(in, out, &o), SEGC_ERR_UNSUPPORTED);
    ck_assert_int_ne(access(out, F_OK), 0);
    ck_assert_int_eq(convert_raw(in, "/nonexistent-dir/x.segc", SEGC_F32), SEGC_ERR_IO);
    const char *garbage = tmp_path("garbage.bin");
    FILE *fp = fopen(garbage, "wb");
    ck_assert_ptr_nonnull(fp);
    fputs("not a checkpoint at all", fp);
    fclose(fp);
    ck_assert_int_ne(convert_raw(garbage, out, SEGC_F32), SEGC_OK);
    ck_assert_int_ne(access(out, F_OK), 0);
    /* inputs that cannot be mapped: named in the message */
    fp = fopen(garbage, "wb");
    fclose(fp);
    ck_assert_int_eq(convert_raw(garbage, out, SEGC_F32), SEGC_ERR_FORMAT);
    ck_assert_msg(strstr(segc_last_error(), "empty file") != NULL, "%s", segc_last_error());
    ck_assert_int_eq(convert_raw(test_tmp_dir(), out, SEGC_F32), SEGC_ERR_IO);
    ck_assert_msg(strstr(segc_last_error(), "not a regular file") != NULL, "%s", segc_last_error());
    ck_assert_int_eq(convert_raw("/nonexistent-dir/in.pth", out, SEGC_F32), SEGC_ERR_IO);
    ck_assert_msg(strstr(segc_last_error(), "/nonexistent-dir/in.pth") != NULL, "%s", segc_last_error());
    unlink(garbage);
    unlink(in);
}
END_TEST

/* A conversion that fails while writing (here: the output exceeds RLIMIT_FSIZE; Check runs each test in
   its own process) leaves an existing output byte for byte as it was, and no temporary beside it. */
START_TEST(test_failed_write_keeps_existing_output) {
    static uint16_t all[65536], tail[13];
    const char *in = tmp_path("keep.safetensors"), *out = tmp_path("keep.segc");
    write_f16_safetensors(in, all, tail);
    ck_assert_msg(convert_raw(in, out, SEGC_F16) == SEGC_OK, "%s", segc_last_error());   /* 128 KB of data */
    FILE *fp = fopen(out, "rb");
    ck_assert_ptr_nonnull(fp);
    static uint8_t before[1 << 18], after[1 << 18];
    size_t n = fread(before, 1, sizeof before, fp);
    fclose(fp);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit was, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &was), 0);
    lim = was;
    lim.rlim_cur = 200000;   /* more than the f16 file, less than the f32 one */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ck_assert_int_eq(convert_raw(in, out, SEGC_F32), SEGC_ERR_IO);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &was), 0);
    signal(SIGXFSZ, SIG_DFL);
    fp = fopen(out, "rb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fread(after, 1, sizeof after, fp), n);
    fclose(fp);
    ck_assert(memcmp(before, after, n) == 0);
    char pattern[1100];
    snprintf(pattern, sizeof pattern, "%s.tmp*", out);
    glob_t g;
    ck_assert_int_eq(glob(pattern, 0, NULL, &g), GLOB_NOMATCH);
    globfree(&g);
    unlink(in);
    unlink(out);
}
END_TEST

int main(void) {
    Suite *s = suite_create("convert_fast");
    TCase *tc = tcase_create("convert_fast");
    tcase_add_test(tc, test_zip_crc_every_length_and_alignment);
    tcase_add_test(tc, test_f16_widening_every_bit_pattern);
    tcase_add_test(tc, test_source_hash_thread);
    tcase_add_test(tc, test_failed_write_keeps_existing_output);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
