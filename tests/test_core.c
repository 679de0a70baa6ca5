/* test_core.c - tensors, arena, half floats, npy files, taps and errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/ctx.h"
#include "core/half.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "test_util.h"

START_TEST(test_arena_alignment_and_marks) {
    segc_arena a;
    segc_arena_init(&a, 1024);
    void *p = segc_arena_alloc(&a, 10);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % SEGC_ARENA_ALIGN, 0);
    segc_arena_mark m = segc_arena_get_mark(&a);
    void *q = segc_arena_alloc(&a, 4000);   /* spills into a second chunk */
    ck_assert_ptr_nonnull(q);
    ck_assert_int_ge(a.nchunks, 2);
    segc_arena_release(&a, m);
    void *r = segc_arena_alloc(&a, 10);
    ck_assert_ptr_eq(r, (char *)p + 64);    /* the first chunk is reused after release */
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_arena_steady_state_does_not_malloc) {
    segc_arena a;
    segc_arena_init(&a, 4096);
    for (int pass = 0; pass < 3; pass++) {
        size_t before = a.system_allocs;
        for (int i = 0; i < 50; i++) ck_assert_ptr_nonnull(segc_arena_alloc(&a, 1000 + (size_t)i * 100));
        if (pass > 0) ck_assert_uint_eq(a.system_allocs, before);  /* one merged chunk holds the pass */
        segc_arena_reset(&a);
    }
    ck_assert_int_le(a.nchunks, 1);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_arena_rejects_absurd_sizes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    ck_assert_ptr_null(segc_arena_alloc(&a, SIZE_MAX - 10));
    ck_assert_ptr_null(segc_arena_alloc_array(&a, SIZE_MAX / 2, 4));
    ck_assert_str_ne(segc_last_error(), "");
    segc_arena_free(&a);
}
END_TEST

/* Plain oracle: the f16 value nearest to x (ties to even mantissa), by scanning all finite f16. */
static uint16_t nearest_f16_bruteforce(float x) {
    uint16_t best = 0;
    double best_d = INFINITY;
    for (uint32_t h = 0; h < 0x7c00; h++) {
        double v = segc_f16_to_f32((uint16_t)h);
        double d = fabs(fabs((double)x) - v);
        if (d < best_d || (d == best_d && (h & 1) == 0)) {
            best_d = d;
            best = (uint16_t)h;
        }
    }
    /* beyond the largest finite value by at least half an ulp: inf */
    if (fabs((double)x) >= 65520.0) best = 0x7c00;
    return (uint16_t)(best | (signbit(x) ? 0x8000 : 0));
}

START_TEST(test_f16_round_trip_and_rounding) {
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  /* NaN payloads */
        ck_assert_uint_eq(segc_f32_to_f16(segc_f16_to_f32((uint16_t)h)), h);
    }
    test_rng r = test_rng_new(1);
    for (int i = 0; i < 300; i++) {
        float x = test_rng_uniform(&r, -70000.f, 70000.f) * powf(2.f, (float)test_rng_int(&r, -30, 0));
        ck_assert_uint_eq(segc_f32_to_f16(x), nearest_f16_bruteforce(x));
    }
    /* exact ties: 1 + 2^-11 rounds to 1 (even), 1 + 3*2^-11 rounds up to 1 + 2^-9 */
    ck_assert_uint_eq(segc_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    ck_assert_uint_eq(segc_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    ck_assert(isnan(segc_f16_to_f32(segc_f32_to_f16(NAN))));
}
END_TEST

START_TEST(test_bf16_round_to_nearest_even) {
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) continue;
        ck_assert_uint_eq(segc_f32_to_bf16(segc_bf16_to_f32((uint16_t)h)), h);
    }
    ck_assert_uint_eq(segc_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);         /* tie -> even */
    ck_assert_uint_eq(segc_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);     /* tie -> even (up) */
    ck_assert_uint_eq(segc_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81); /* above tie -> up */
    ck_assert(isnan(segc_bf16_to_f32(segc_f32_to_bf16(NAN))));
}
END_TEST

START_TEST(test_tensor_views_and_copy) {
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new_f32(&a, &t, 3, 2, 3, 4, 0), SEGC_OK);
    float *d = t.data;
    for (int i = 0; i < 24; i++) d[i] = (float)i;
    segc_tensor p, c;
    int perm[3] = {2, 0, 1};
    ck_assert_int_eq(segc_tensor_permute(&t, perm, &p), SEGC_OK);
    ck_assert(!segc_tensor_is_contiguous(&p));
    ck_assert_int_eq(segc_tensor_contiguous(&a, &p, &c), SEGC_OK);
    float *cd = c.data;
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) ck_assert_float_eq(cd[(k * 2 + i) * 3 + j], d[(i * 3 + j) * 4 + k]);
    segc_tensor n;
    ck_assert_int_eq(segc_tensor_narrow(&t, 1, 1, 2, &n), SEGC_OK);
    ck_assert_float_eq(*(float *)n.data, 4.0f);
    ck_assert_int_ne(segc_tensor_narrow(&t, 1, 2, 2, &n), SEGC_OK);
    int64_t bad[2] = {5, 5};
    ck_assert_int_eq(segc_tensor_reshape(&t, 2, bad, &n), SEGC_ERR_SHAPE);
    ck_assert(strstr(segc_last_error(), "24") != NULL);
    int64_t neg[1] = {-1};
    ck_assert_int_eq(segc_tensor_new(&a, SEGC_F32, 1, neg, &n), SEGC_ERR_INVALID_ARG);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_npy_round_trip) {
    char path[512];
    snprintf(path, sizeof path, "%s/rt.npy", test_tmp_dir());
    float data[2 * 3 * 5];
    for (int i = 0; i < 30; i++) data[i] = (float)i * 0.5f - 3.0f;
    segc_tensor t = segc_tensor_f32(data, 3, 2, 3, 5, 0);
    ck_assert_int_eq(segc_npy_write(path, &t), SEGC_OK);
    segc_npy n;
    ck_assert_int_eq(segc_npy_read(path, &n), SEGC_OK);
    ck_assert_int_eq(n.ndim, 3);
    ck_assert_int_eq(n.shape[2], 5);
    ck_assert_int_eq(memcmp(n.data, data, sizeof data), 0);
    segc_npy_free(&n);
    /* a strided view is written in logical order */
    segc_tensor v;
    ck_assert_int_eq(segc_tensor_narrow(&t, 2, 1, 2, &v), SEGC_OK);
    ck_assert_int_eq(segc_npy_write(path, &v), SEGC_OK);
    ck_assert_int_eq(segc_npy_read(path, &n), SEGC_OK);
    ck_assert_float_eq(((float *)n.data)[0], data[1]);
    ck_assert_float_eq(((float *)n.data)[2], data[6]);
    segc_npy_free(&n);
    /* a truncated file is an error, not a crash */
    FILE *fp = fopen(path, "r+b");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(ftruncate(fileno(fp), 100), 0);
    fclose(fp);
    ck_assert_int_eq(segc_npy_read(path, &n), SEGC_ERR_FORMAT);
}
END_TEST

typedef struct tap_log { int count; char last[64]; } tap_log;

static segc_status record_tap(void *user, const char *name, const segc_tensor *t) {
    tap_log *log = user;
    log->count++;
    snprintf(log->last, sizeof log->last, "%s", name);
    (void)t;
    return SEGC_OK;
}

START_TEST(test_taps_match_patterns) {
    segc_arena a;
    segc_arena_init(&a, 0);
    tap_log log = {0};
    const char *patterns[] = {"backbone.*", "head"};
    segc_ctx ctx = segc_ctx_plain(&a);
    ctx.tap = record_tap;
    ctx.tap_user = &log;
    ctx.tap_patterns = patterns;
    ctx.tap_pattern_count = 2;
    float x = 1;
    segc_tensor t = segc_tensor_f32(&x, 1, 1, 0, 0, 0);
    segc_tap(&ctx, "backbone.layer1", &t);
    segc_tap(&ctx, "decoder", &t);
    segc_tapf(&ctx, &t, "he%s", "ad");
    ck_assert_int_eq(log.count, 2);
    ck_assert_str_eq(log.last, "head");
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_status_strings) {
    ck_assert_int_eq(segc_fail(SEGC_ERR_IO, "x %d", 3), SEGC_ERR_IO);
    segc_fail_context(SEGC_ERR_IO, "reading %s", "f");
    ck_assert_str_eq(segc_last_error(), "reading f: x 3");
    ck_assert_str_eq(segc_status_string(SEGC_ERR_SHAPE), "shape mismatch");
}
END_TEST

int main(void) {
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_arena_alignment_and_marks);
    tcase_add_test(tc, test_arena_steady_state_does_not_malloc);
    tcase_add_test(tc, test_arena_rejects_absurd_sizes);
    tcase_add_test(tc, test_f16_round_trip_and_rounding);
    tcase_add_test(tc, test_bf16_round_to_nearest_even);
    tcase_add_test(tc, test_tensor_views_and_copy);
    tcase_add_test(tc, test_npy_round_trip);
    tcase_add_test(tc, test_taps_match_patterns);
    tcase_add_test(tc, test_status_strings);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
