/* test_sha256.c - SHA-256 (io/sha256.h), which records the checkpoint a .segc file came from
   ("source.sha256"): published FIPS 180-4 vectors through both the SHA-NI and the portable code, streamed
   in pieces of every size, both paths agreeing on random data, and the file form. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/sha256.h"
#include "test_util.h"

/* Hex SHA-256 of n bytes fed in pieces of 1, 2, 3, ... bytes (so every partial-block path runs). */
static void sha_pieces(const uint8_t *p, size_t n, char hex[65]) {
    segc_sha256_ctx s;
    segc_sha256_init(&s);
    for (size_t at = 0, k = 1; at < n; at += k, k = k % 131 + 1) segc_sha256_update(&s, p + at, n - at < k ? n - at : k);
    uint8_t d[32];
    segc_sha256_final(&s, d);
    segc_sha256_hex(d, hex);
}

static void sha_once(const void *p, size_t n, char hex[65]) {
    uint8_t d[32];
    segc_sha256(p, n, d);
    segc_sha256_hex(d, hex);
}

/* FIPS 180-4 example digests (and one million 'a'), one-shot and streamed, through the SHA-NI code
   (when the CPU has it) and the portable code; both agree on random data of every length to 300. */
START_TEST(test_sha256_vectors_both_paths) {
    static const char *const msg[] = {
        "", "abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
    };
    static const char *const want[] = {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    };
    const char *million_a = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    enum { MILLION = 1000000 };
    uint8_t *a = malloc(MILLION);
    memset(a, 'a', MILLION);
    int hw = segc_sha256_hw_available();
    char hex[65], other[65];
    for (int portable = 0; portable <= 1; portable++) {
        segc_sha256_force_portable(portable);
        ck_assert_int_eq(segc_sha256_hw_available(), portable ? 0 : hw);
        for (int i = 0; i < 4; i++) {
            sha_once(msg[i], strlen(msg[i]), hex);
            ck_assert_msg(!strcmp(hex, want[i]), "portable=%d, message %d: %s", portable, i, hex);
            sha_pieces((const uint8_t *)msg[i], strlen(msg[i]), hex);
            ck_assert_str_eq(hex, want[i]);
        }
        sha_once(a, MILLION, hex);
        ck_assert_str_eq(hex, million_a);
        sha_pieces(a, MILLION, hex);
        ck_assert_str_eq(hex, million_a);
    }
    test_rng r = test_rng_new(5);
    for (size_t n = 0; n <= 300; n++) {
        for (size_t i = 0; i < n; i++) a[i] = (uint8_t)test_rng_int(&r, 0, 255);
        segc_sha256_force_portable(1);
        sha_once(a + 1, n, hex);   /* unaligned start */
        segc_sha256_force_portable(0);
        sha_once(a + 1, n, other);
        ck_assert_msg(!strcmp(hex, other), "length %zu: portable %s, hardware %s", n, hex, other);
    }
    /* the file form reads in blocks: same digest as the buffer */
    char p[512];
    snprintf(p, sizeof p, "%s/sha.bin", test_tmp_dir());
    FILE *fp = fopen(p, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(a, 1, MILLION, fp), MILLION);
    fclose(fp);
    ck_assert_int_eq(segc_sha256_file(p, hex), SEGC_OK);
    sha_once(a, MILLION, other);
    ck_assert_str_eq(hex, other);
    ck_assert_int_eq(segc_sha256_file("/nonexistent-dir/x", hex), SEGC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "/nonexistent-dir/x"));
    free(a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sha256");
    TCase *tc = tcase_create("sha256");
    tcase_add_test(tc, test_sha256_vectors_both_paths);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
