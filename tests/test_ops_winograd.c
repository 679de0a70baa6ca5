/* test_ops_winograd.c - F(4x4, 3x3) Winograd convolution against the seven-loop oracle
   segc_conv2d_reference (stride 1, padding 1): random small and odd shapes (maps smaller than a tile,
   sizes not multiples of 4, batches), bias and ReLU, 256 input channels, tile blocks that span tile rows
   and images, output channels that leave a partial kernel panel, the fused residual (also in place),
   filters scaled at prepare time, wide blocks for big filters (against im2col), and bad arguments. */
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

/* Blocks of 32 tiles that start mid tile row and run into the next image (18 tiles per row, 3 rows per
   image), 13 output channels (two full panels of 6 and one of 1), a 1-tile-wide map. */
START_TEST(test_winograd_blocks_span_rows_and_images) {
    test_rng r = test_rng_new(73);
    check_shape(&r, 3, 5, 13, 9, 70, 1, SEGC_ACT_RELU, 1e-5);
    check_shape(&r, 2, 7, 6, 21, 3, 0, SEGC_ACT_NONE, 1e-5);
    check_shape(&r, 1, 3, 1, 5, 130, 1, SEGC_ACT_NONE, 1e-5);
}
END_TEST

/* out = act(conv + bias + residual) with the residual a separate tensor and then out itself (read before
   each element is written); SiLU is applied after the whole conv. Against conv then add then act. */
START_TEST(test_winograd_residual_matches_conv_then_add) {
    test_rng r = test_rng_new(74);
    const segc_act acts[3] = {SEGC_ACT_RELU, SEGC_ACT_NONE, SEGC_ACT_SILU};
    for (int i = 0; i < 3; i++) {
        segc_arena a;
        segc_arena_init(&a, 0);
        int64_t n = 1 + i % 2, c = 4 + i, k = 7 + 2 * i, h = 11 + i, w = 37 - 5 * i;
        segc_tensor x, wt, b, res, got, want;
        ck_assert_int_eq(segc_tensor_new_f32(&a, &x, 4, n, c, h, w), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &wt, 4, k, c, 3, 3), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &b, 1, k, 0, 0, 0), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &res, 4, n, k, h, w), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &got, 4, n, k, h, w), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &want, 4, n, k, h, w), SEGC_OK);
        test_fill_uniform(&r, x.data, (size_t)segc_tensor_numel(&x), -1, 1);
        test_fill_uniform(&r, wt.data, (size_t)segc_tensor_numel(&wt), -1, 1);
        test_fill_uniform(&r, b.data, (size_t)k, -1, 1);
        test_fill_uniform(&r, res.data, (size_t)segc_tensor_numel(&res), -4, 4);
        segc_conv2d_params p = segc_conv2d_params_make(1, 1, 1, 1);
        ck_assert_int_eq(segc_conv2d_reference(&x, &wt, &b, &p, &want), SEGC_OK);
        size_t numel = (size_t)segc_tensor_numel(&want);
        float *wd = want.data, *rd = res.data;
        for (size_t j = 0; j < numel; j++) wd[j] += rd[j];
        segc_act_apply_reference(acts[i], wd, numel);
        segc_winograd_weights u;
        ck_assert_int_eq(segc_winograd_prepare(&wt, &u), SEGC_OK);
        ck_assert_msg(segc_winograd_conv3x3_ex(&a, &x, &u, &b, &res, acts[i], &got) == SEGC_OK, "%s",
                      segc_last_error());
        double tol = 1e-5 * test_max_abs(want.data, numel);
        test_assert_close(got.data, want.data, numel, tol, 0, "winograd + residual");
        segc_tensor_copy(&got, &res);   /* in place: the residual is the output buffer */
        ck_assert_int_eq(segc_winograd_conv3x3_ex(&a, &x, &u, &b, &got, acts[i], &got), SEGC_OK);
        test_assert_close(got.data, want.data, numel, tol, 0, "winograd + residual in place");
        segc_winograd_weights_free(&u);
        segc_arena_free(&a);
    }
}
END_TEST

/* prepare_scaled(w, s) is prepare(w with filter k times s[k]) (batch norm folded in the transform). */
START_TEST(test_winograd_scaled_filters_match_scaled_weights) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(75);
    const int64_t n = 1, c = 5, k = 8, h = 10, w = 9;
    segc_tensor x, wt, got, want;
    float scale[8];
    ck_assert_int_eq(segc_tensor_new_f32(&a, &x, 4, n, c, h, w), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&a, &wt, 4, k, c, 3, 3), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&a, &want, 4, n, k, h, w), SEGC_OK);
    test_fill_uniform(&r, x.data, (size_t)segc_tensor_numel(&x), -1, 1);
    test_fill_uniform(&r, wt.data, (size_t)segc_tensor_numel(&wt), -1, 1);
    test_fill_uniform(&r, scale, 8, -3, 3);
    segc_winograd_weights u;
    ck_assert_int_eq(segc_winograd_prepare_scaled(&wt, scale, &u), SEGC_OK);
    ck_assert_int_eq(segc_winograd_conv3x3_new(&a, &x, &u, NULL, SEGC_ACT_NONE, &got), SEGC_OK);
    float *wd = wt.data;
    for (int64_t i = 0; i < k * c * 9; i++) wd[i] *= scale[i / (c * 9)];
    segc_conv2d_params p = segc_conv2d_params_make(1, 1, 1, 1);
    ck_assert_int_eq(segc_conv2d_reference(&x, &wt, NULL, &p, &want), SEGC_OK);
    size_t numel = (size_t)segc_tensor_numel(&want);
    test_assert_close(got.data, want.data, numel, 1e-5 * test_max_abs(want.data, numel), 0, "scaled filters");
    segc_winograd_weights_free(&u);
    segc_arena_free(&a);
}
END_TEST

/* 256 x 256 filters (9.5 MB transformed) run in blocks of 128 tiles when there are enough tiles: 300 tiles
   here on one thread. Against segc_conv2d (im2col, itself tested against the oracle): the oracle would
   take seconds. */
START_TEST(test_winograd_wide_blocks_match_im2col) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(76);
    const int saved = segc_get_threads();
    ck_assert_int_eq(segc_set_threads(1), SEGC_OK);
    const int64_t c = 256, k = 256, h = 8, w = 597;
    segc_tensor x, wt, b, got, want;
    ck_assert_int_eq(segc_tensor_new_f32(&a, &x, 4, 1, c, h, w), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&a, &wt, 4, k, c, 3, 3), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&a, &b, 1, k, 0, 0, 0), SEGC_OK);
    test_fill_uniform(&r, x.data, (size_t)segc_tensor_numel(&x), -1, 1);
    test_fill_uniform(&r, wt.data, (size_t)segc_tensor_numel(&wt), -1, 1);
    test_fill_uniform(&r, b.data, (size_t)k, -1, 1);
    segc_conv2d_params p = segc_conv2d_params_make(1, 1, 1, 1);
    p.act = SEGC_ACT_RELU;
    ck_assert_int_eq(segc_conv2d_new(&a, &x, &wt, &b, &p, &want), SEGC_OK);
    segc_winograd_weights u;
    ck_assert_int_eq(segc_winograd_prepare(&wt, &u), SEGC_OK);
    ck_assert_int_eq(segc_winograd_conv3x3_new(&a, &x, &u, &b, SEGC_ACT_RELU, &got), SEGC_OK);
    size_t numel = (size_t)segc_tensor_numel(&want);
    test_assert_close(got.data, want.data, numel, 3e-5 * test_max_abs(want.data, numel), 0, "wide blocks");
    segc_winograd_weights_free(&u);
    segc_set_threads(saved);
    segc_arena_free(&a);
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
    segc_tensor shifted = segc_tensor_f32(buf + 129, 4, 1, 2, 4, 4);   /* overlaps out, is not out */
    segc_tensor small_res = segc_tensor_f32(buf + 300, 4, 1, 2, 4, 3);
    ck_assert_int_eq(segc_winograd_conv3x3_ex(&a, &x3, &u, NULL, &shifted, SEGC_ACT_NONE, &out), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_winograd_conv3x3_ex(&a, &x3, &u, NULL, &small_res, SEGC_ACT_NONE, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_winograd_conv3x3_ex(&a, &x3, &u, NULL, &out, SEGC_ACT_NONE, &out), SEGC_OK);
    segc_winograd_weights_free(&u);
    segc_arena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_winograd");
    TCase *tc = tcase_create("winograd");
    tcase_add_test(tc, test_winograd_matches_reference_on_random_shapes);
    tcase_add_test(tc, test_winograd_matches_reference_with_256_channels);
    tcase_add_test(tc, test_winograd_blocks_span_rows_and_images);
    tcase_add_test(tc, test_winograd_residual_matches_conv_then_add);
    tcase_add_test(tc, test_winograd_scaled_filters_match_scaled_weights);
    tcase_add_test(tc, test_winograd_wide_blocks_match_im2col);
    tcase_add_test(tc, test_winograd_rejects_bad_arguments);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
