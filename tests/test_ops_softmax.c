/* test_ops_softmax.c - softmax over the last dim and over channels against the double references and
   PyTorch fixtures, and segc_argmax_channels (u8 / i32 labels, ties to the first max, NaN, strided
   label rows) against its plain loop and torch.argmax; plus the error paths the CLI relies on. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "ops/softmax.h"
#include "test_util.h"

START_TEST(test_softmax_matches_reference_on_random_shapes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(21);
    for (int it = 0; it < 12; it++) {
        int64_t shape[3] = {test_rng_int(&r, 1, 3), test_rng_int(&r, 1, 40), test_rng_int(&r, 1, 300)};
        if (it == 0) shape[1] = 200, shape[2] = 333;   /* the parallel path */
        segc_tensor x = test_rand_tensor(&a, &r, 3, shape, -20, 20), got = test_new_like_nan(&a, &x), want = test_new_like_nan(&a, &x);
        size_t n = (size_t)segc_tensor_numel(&x);
        ck_assert_int_eq(segc_softmax(&x, &got), SEGC_OK);
        ck_assert_int_eq(segc_softmax_reference(&x, &want), SEGC_OK);
        test_assert_close(got.data, want.data, n, 1e-7, 1e-5, "softmax");
        ck_assert_int_eq(segc_softmax_inplace(&x), SEGC_OK);
        test_assert_close(x.data, want.data, n, 1e-7, 1e-5, "softmax in place");
        int64_t s4[4] = {test_rng_int(&r, 1, 2), test_rng_int(&r, 1, 30), test_rng_int(&r, 1, 20), test_rng_int(&r, 1, 31)};
        segc_tensor y = test_rand_tensor(&a, &r, 4, s4, -10, 10), g2 = test_new_like_nan(&a, &y), w2 = test_new_like_nan(&a, &y);
        ck_assert_int_eq(segc_softmax_channels(&y, &g2), SEGC_OK);
        ck_assert_int_eq(segc_softmax_channels_reference(&y, &w2), SEGC_OK);
        test_assert_close(g2.data, w2.data, (size_t)segc_tensor_numel(&y), 1e-7, 1e-5, "softmax_channels");
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_softmax_matches_pytorch_fixtures) {
    segc_npy x, want, y, want_ch;
    test_read_fixture("elem", "softmax_x", &x);
    test_read_fixture("elem", "softmax_out", &want);
    test_read_fixture("elem", "softmax_ch_x", &y);
    test_read_fixture("elem", "softmax_ch_out", &want_ch);
    segc_tensor xt = segc_npy_tensor(&x), yt = segc_npy_tensor(&y);
    ck_assert_int_eq(segc_softmax_inplace(&xt), SEGC_OK);
    test_assert_close(x.data, want.data, (size_t)segc_npy_numel(&x), 1e-7, 1e-5, "softmax vs torch");
    ck_assert_int_eq(segc_softmax_channels(&yt, &yt), SEGC_OK);
    test_assert_close(y.data, want_ch.data, (size_t)segc_npy_numel(&y), 1e-7, 1e-5, "softmax_channels vs torch");
    segc_npy_free(&x), segc_npy_free(&want), segc_npy_free(&y), segc_npy_free(&want_ch);
}
END_TEST

START_TEST(test_exp_array_is_within_two_ulp_of_exp) {
    enum { N = 20001 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = -86.0f + 174.7f * (float)i / (float)(N - 1);
    segc_exp_array(x, y, N);
    for (int i = 0; i < N; i++) {
        double want = exp((double)x[i]);
        ck_assert_msg(fabs(y[i] - want) <= 2.5e-7 * want, "exp(%.9g) = %.9g, want %.9g", x[i], y[i], want);
    }
    float e[6] = {-INFINITY, -100.0f, 0.0f, 89.0f, INFINITY, NAN};
    segc_exp_array(e, e, 6);
    ck_assert(e[0] == 0.0f && e[1] == 0.0f && e[2] == 1.0f && isinf(e[3]) && isinf(e[4]) && isnan(e[5]));
}
END_TEST

START_TEST(test_softmax_rows_is_stable_for_huge_logits) {
    float x[3] = {1000.0f, 1000.0f, -1000.0f};
    segc_softmax_rows(x, 1, 3);
    ck_assert_float_eq_tol(x[0], 0.5f, 1e-7);
    ck_assert_float_eq_tol(x[1], 0.5f, 1e-7);
    ck_assert_float_eq(x[2], 0.0f);
}
END_TEST

START_TEST(test_argmax_matches_torch_with_ties) {
    segc_npy x, want;
    test_read_fixture("elem", "argmax_x", &x);
    test_read_fixture("elem", "argmax_out", &want);
    segc_tensor xt = segc_npy_tensor(&x);
    int64_t H = xt.shape[2], W = xt.shape[3], hw[2] = {H, W};
    uint8_t *u8 = malloc((size_t)(H * W));
    int32_t *i32 = malloc(sizeof(int32_t) * (size_t)(H * W));
    segc_tensor l8 = segc_tensor_wrap(SEGC_U8, 2, hw, u8), l32 = segc_tensor_wrap(SEGC_I32, 2, hw, i32);
    ck_assert_int_eq(segc_argmax_channels(&xt, &l8), SEGC_OK);
    ck_assert_int_eq(segc_argmax_channels(&xt, &l32), SEGC_OK);
    const int32_t *w = want.data;
    for (int64_t i = 0; i < H * W; i++) {
        ck_assert_msg(u8[i] == w[i] && i32[i] == w[i], "pixel %lld: %d / %d, torch %d", (long long)i, u8[i], i32[i], w[i]);
    }
    free(u8), free(i32);
    segc_npy_free(&x), segc_npy_free(&want);
}
END_TEST

START_TEST(test_argmax_matches_reference_with_nan_and_strided_labels) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(22);
    for (int it = 0; it < 8; it++) {
        int64_t K = test_rng_int(&r, 1, 40), H = test_rng_int(&r, 1, 30), W = test_rng_int(&r, 1, 300);
        if (it == 0) K = 256;
        int64_t s3[3] = {K, H, W}, wide[2] = {H, W + 7};
        segc_tensor x = test_rand_tensor(&a, &r, 3, s3, -3, 3);
        float *xd = x.data;
        for (int64_t i = 0; i < K * H * W; i++) xd[i] = roundf(xd[i]);   /* ties */
        xd[test_rng_int(&r, 0, (int)(K * H * W) - 1)] = NAN;
        segc_tensor big_got, big_want, got, want;
        ck_assert_int_eq(segc_tensor_new(&a, it % 2 ? SEGC_U8 : SEGC_I32, 2, wide, &big_got), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new(&a, it % 2 ? SEGC_U8 : SEGC_I32, 2, wide, &big_want), SEGC_OK);
        ck_assert_int_eq(segc_tensor_narrow(&big_got, 1, 3, W, &got), SEGC_OK);
        ck_assert_int_eq(segc_tensor_narrow(&big_want, 1, 3, W, &want), SEGC_OK);
        ck_assert_int_eq(segc_argmax_channels(&x, &got), SEGC_OK);
        ck_assert_int_eq(segc_argmax_channels_reference(&x, &want), SEGC_OK);
        size_t es = segc_dtype_size(got.dtype);
        for (int64_t h = 0; h < H; h++)
            ck_assert_msg(!memcmp((char *)got.data + h * (W + 7) * es, (char *)want.data + h * (W + 7) * es, W * es),
                          "row %lld differs (K %lld H %lld W %lld)", (long long)h, (long long)K, (long long)H,
                          (long long)W);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_softmax_and_argmax_reject_bad_inputs) {
    static float d[300 * 2 * 2];
    uint8_t lab[4];
    int32_t lab32[4];
    int64_t hw[2] = {2, 2}, h3[2] = {2, 3};
    segc_tensor labels = segc_tensor_wrap(SEGC_U8, 2, hw, lab), labels32 = segc_tensor_wrap(SEGC_I32, 2, hw, lab32);
    segc_tensor wrong = segc_tensor_wrap(SEGC_U8, 2, h3, lab);
    segc_tensor k300 = segc_tensor_f32(d, 4, 1, 300, 2, 2), k5 = segc_tensor_f32(d, 4, 1, 5, 2, 2);
    segc_tensor n2 = segc_tensor_f32(d, 4, 2, 5, 2, 2), flat = segc_tensor_f32(d, 2, 5, 4, 0, 0);
    ck_assert_int_eq(segc_argmax_channels(&k300, &labels), SEGC_ERR_UNSUPPORTED);
    ck_assert(strstr(segc_last_error(), "300") != NULL);
    ck_assert_int_eq(segc_argmax_channels(&k300, &labels32), SEGC_OK);
    ck_assert_int_eq(segc_argmax_channels(&k5, &wrong), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_argmax_channels(&n2, &labels), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_argmax_channels(&flat, &labels), SEGC_ERR_SHAPE);
    segc_tensor f32_labels = segc_tensor_f32(d + 100, 2, 2, 2, 0, 0);
    ck_assert_int_eq(segc_argmax_channels(&k5, &f32_labels), SEGC_ERR_UNSUPPORTED);
    segc_tensor i32 = segc_tensor_wrap(SEGC_I32, 2, hw, lab32);
    ck_assert_int_eq(segc_softmax_inplace(&i32), SEGC_ERR_UNSUPPORTED);
    segc_tensor o = segc_tensor_f32(d + 200, 2, 5, 3, 0, 0);
    ck_assert_int_eq(segc_softmax(&flat, &o), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_softmax_channels(&flat, &flat), SEGC_ERR_SHAPE);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_softmax");
    TCase *tc = tcase_create("softmax");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_softmax_matches_reference_on_random_shapes);
    tcase_add_test(tc, test_softmax_matches_pytorch_fixtures);
    tcase_add_test(tc, test_exp_array_is_within_two_ulp_of_exp);
    tcase_add_test(tc, test_softmax_rows_is_stable_for_huge_logits);
    tcase_add_test(tc, test_argmax_matches_torch_with_ties);
    tcase_add_test(tc, test_argmax_matches_reference_with_nan_and_strided_labels);
    tcase_add_test(tc, test_softmax_and_argmax_reject_bad_inputs);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
