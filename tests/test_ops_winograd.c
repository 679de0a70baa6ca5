/* test_ops_winograd.c - F(4x4, 3x3) Winograd convolution against the seven-loop oracle
   segc_conv2d_reference (stride 1, padding 1): random small and odd shapes (maps smaller than a tile,
   sizes not multiples of 4, batches), bias and ReLU, 256 input channels, a batch spanning two tile chunks,
   and bad arguments. */
#include <check.h>
#include <math.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "ops/conv.h"
#include "ops/winograd.h"
#include "test_util.h"

/* Runs both on x [n, c, h, w] with k filters; |got - want| <= rtol_of_max * max|want| (Winograd's
   rounding scales with the magnitude of the transformed terms, not of each output). */
static void check_shape(test_rng *r, int64_t n, int64_t c, int64_t k, int64_t h, int64_t w, int with_bias, segc_act act,
                        double rtol_of_max) {
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_tensor x, wt, b, got, want;
    ck_assert_int_eq(segc_tensor_new_f32(&a, &x, 4, n, c, h, w), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&a, &wt, 4, k, c, 3, 3), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&a, &b, 1, k, 0, 0, 0), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&a, &want, 4, n, k, h, w), SEGC_OK);
    test_fill_uniform(r, x.data, (size_t)segc_tensor_numel(&x), -1, 1);
    test_fill_uniform(r, wt.data, (size_t)segc_tensor_numel(&wt), -1, 1);
    test_fill_uniform(r, b.data, (size_t)k, -1, 1);
    segc_winograd_weights u;
    ck_assert_int_eq(segc_winograd_prepare(&wt, &u), SEGC_OK);
    ck_assert_msg(segc_winograd_conv3x3_new(&a, &x, &u, with_bias ? &b : NULL, act, &got) == SEGC_OK, "%s",
                  segc_last_error());
    segc_conv2d_params p = segc_conv2d_params_make(1, 1, 1, 1);
    p.act = act;
    ck_assert_int_eq(segc_conv2d_reference(&x, &wt, with_bias ? &b : NULL, &p, &want), SEGC_OK);
    char what[160];
    snprintf(what, sizeof what, "winograd n %lld c %lld k %lld %lldx%lld bias %d act %d", (long long)n, (long long)c,
             (long long)k, (long long)h, (long long)w, with_bias, (int)act);
    size_t numel = (size_t)segc_tensor_numel(&want);
    test_assert_close(got.data, want.data, numel, rtol_of_max * test_max_abs(want.data, numel), 0, what);
    segc_winograd_weights_free(&u);
    segc_arena_free(&a);
}

START_TEST(test_winograd_matches_reference_on_random_shapes) {
    test_rng r = test_rng_new(71);
    for (int iter = 0; iter < 40; iter++) {
        int64_t n = test_rng_int(&r, 1, 3), c = test_rng_int(&r, 1, 9), k = test_rng_int(&r, 1, 9);
        int64_t h = test_rng_int(&r, 1, 13), w = test_rng_int(&r, 1, 13);
        check_shape(&r, n, c, k, h, w, iter % 2, iter % 3 ? SEGC_ACT_NONE : SEGC_ACT_RELU, 1e-5);
    }
}
END_TEST

/* Mask R-CNN's sizes: 256 in-channels (2304-term sums: measured error 1.1e-5 of max|out|); 37 x 14x14
   maps (592 tiles) span two 512-tile chunks. */
START_TEST(test_winograd_matches_reference_with_256_channels) {
    test_rng r = test_rng_new(72);
    check_shape(&r, 1, 256, 24, 22, 37, 1, SEGC_ACT_RELU, 3e-5);
    check_shape(&r, 37, 16, 8, 14, 14, 1, SEGC_ACT_NONE, 1e-5);
}
END_TEST

START_TEST(test_winograd_rejects_bad_arguments) {
    segc_arena a;
    segc_arena_init(&a, 0);
    float buf[512] = {0};
    segc_tensor w5 = segc_tensor_f32(buf, 4, 2, 2, 5, 5), w = segc_tensor_f32(buf, 4, 2, 3, 3, 3);
    segc_winograd_weights u;
    ck_assert_int_eq(segc_winograd_prepare(&w5, &u), SEGC_ERR_SHAPE);
    ck_assert_ptr_null(u.u);
    ck_assert_int_eq(segc_winograd_prepare(&w, &u), SEGC_OK);
    segc_tensor x = segc_tensor_f32(buf + 64, 4, 1, 2, 4, 4), out = segc_tensor_f32(buf + 128, 4, 1, 2, 4, 4);
    ck_assert_int_eq(segc_winograd_conv3x3(&a, &x, &u, NULL, SEGC_ACT_NONE, &out), SEGC_ERR_SHAPE);   /* C 2 != 3 */
    segc_tensor x3 = segc_tensor_f32(buf + 64, 4, 1, 3, 4, 4), bad_out = segc_tensor_f32(buf + 200, 4, 1, 2, 4, 5);
    ck_assert_int_eq(segc_winograd_conv3x3(&a, &x3, &u, NULL, SEGC_ACT_NONE, &bad_out), SEGC_ERR_SHAPE);
    segc_tensor bias = segc_tensor_f32(buf, 1, 3, 0, 0, 0);
    ck_assert_int_eq(segc_winograd_conv3x3(&a, &x3, &u, &bias, SEGC_ACT_NONE, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_winograd_conv3x3(NULL, &x3, &u, NULL, SEGC_ACT_NONE, &out), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_winograd_conv3x3(&a, &x3, &u, NULL, SEGC_ACT_NONE, &out), SEGC_OK);
    ck_assert_uint_eq(a.in_use, 0);   /* scratch released */
    segc_winograd_weights_free(&u);
    segc_arena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_winograd");
    TCase *tc = tcase_create("winograd");
    tcase_add_test(tc, test_winograd_matches_reference_on_random_shapes);
    tcase_add_test(tc, test_winograd_matches_reference_with_256_channels);
    tcase_add_test(tc, test_winograd_rejects_bad_arguments);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
