/* test_ops_elementwise.c - add / mul / residual add + activation / axpy / scale-shift and the channel
   and last-dim broadcasts, each against segc_binary_reference (NumPy broadcasting by index arithmetic)
   on odd and large (parallel) sizes, in place and out of place; plus the error paths. */
#include <check.h>
#include <math.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "ops/elementwise.h"
#include "test_util.h"

static segc_tensor rand_tensor(segc_arena *a, test_rng *r, int ndim, const int64_t *shape) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, ndim, shape, &t), SEGC_OK);
    test_fill_uniform(r, t.data, (size_t)segc_tensor_numel(&t), -4, 4);
    return t;
}

static segc_tensor copy_of(segc_arena *a, const segc_tensor *x) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_contiguous(a, x, &t), SEGC_OK);
    return t;
}

START_TEST(test_same_shape_ops_match_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(41);
    static const int64_t sizes[] = {1, 17, 1023, 100003};
    for (int s = 0; s < 4; s++) {
        int64_t n = sizes[s];
        segc_tensor x = rand_tensor(&a, &r, 1, &n), y = rand_tensor(&a, &r, 1, &n), got = copy_of(&a, &x),
                    want = copy_of(&a, &x);
        ck_assert_int_eq(segc_add(&x, &y, &got), SEGC_OK);
        ck_assert_int_eq(segc_binary_reference('+', &x, &y, SEGC_ACT_NONE, &want), SEGC_OK);
        test_assert_close(got.data, want.data, (size_t)n, 0, 0, "add");
        ck_assert_int_eq(segc_mul(&x, &y, &got), SEGC_OK);
        ck_assert_int_eq(segc_binary_reference('*', &x, &y, SEGC_ACT_NONE, &want), SEGC_OK);
        test_assert_close(got.data, want.data, (size_t)n, 0, 0, "mul");
        ck_assert_int_eq(segc_add_act(&x, &y, SEGC_ACT_GELU, &got), SEGC_OK);
        ck_assert_int_eq(segc_binary_reference('+', &x, &y, SEGC_ACT_GELU, &want), SEGC_OK);
        test_assert_close(got.data, want.data, (size_t)n, 1e-6, 1e-5, "add + gelu");
        /* in place residual + relu (the out aliases a) */
        segc_tensor res = copy_of(&a, &x);
        ck_assert_int_eq(segc_add_inplace(&res, &y, SEGC_ACT_RELU), SEGC_OK);
        ck_assert_int_eq(segc_binary_reference('+', &x, &y, SEGC_ACT_RELU, &want), SEGC_OK);
        test_assert_close(res.data, want.data, (size_t)n, 0, 0, "residual relu in place");
        /* axpy and scale_shift against hand loops */
        segc_tensor acc = copy_of(&a, &x);
        ck_assert_int_eq(segc_axpy(-0.5f, &y, &acc), SEGC_OK);
        ck_assert_int_eq(segc_scale_shift(&x, 3.0f, -1.0f, &got), SEGC_OK);
        const float *xd = x.data, *yd = y.data, *ad = acc.data, *gd = got.data;
        for (int64_t i = 0; i < n; i++) {
            ck_assert_float_eq(ad[i], xd[i] + -0.5f * yd[i]);
            ck_assert_float_eq(gd[i], xd[i] * 3.0f + -1.0f);
        }
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_channel_and_lastdim_broadcasts_match_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(42);
    for (int it = 0; it < 10; it++) {
        int64_t s4[4] = {test_rng_int(&r, 1, 3), test_rng_int(&r, 1, 40), test_rng_int(&r, 1, 33),
                         test_rng_int(&r, 1, 37)};
        if (it == 0) s4[1] = 64, s4[2] = 40, s4[3] = 41;   /* parallel path */
        int64_t C = s4[1], c4[4] = {1, C, 1, 1}, c3[3] = {C, 1, 1};
        size_t n = (size_t)(s4[0] * s4[1] * s4[2] * s4[3]);
        segc_tensor x = rand_tensor(&a, &r, 4, s4), v = rand_tensor(&a, &r, 1, &C), sc = rand_tensor(&a, &r, 1, &C);
        segc_tensor v4, v3, got = copy_of(&a, &x), want = copy_of(&a, &x), tmp = copy_of(&a, &x);
        ck_assert_int_eq(segc_tensor_reshape(&v, 4, c4, &v4), SEGC_OK);
        ck_assert_int_eq(segc_tensor_reshape(&v, 3, c3, &v3), SEGC_OK);
        /* [C] and [1,C,1,1] biases mean the same; the oracle broadcasts the [C,1,1] form */
        ck_assert_int_eq(segc_add_channel(&x, it % 2 ? &v : &v4, &got), SEGC_OK);
        ck_assert_int_eq(segc_binary_reference('+', &x, &v3, SEGC_ACT_NONE, &want), SEGC_OK);
        test_assert_close(got.data, want.data, n, 0, 0, "add_channel");
        segc_tensor sc3;
        ck_assert_int_eq(segc_tensor_reshape(&sc, 3, c3, &sc3), SEGC_OK);
        ck_assert_int_eq(segc_mul_channel(&x, &sc, &got), SEGC_OK);
        ck_assert_int_eq(segc_binary_reference('*', &x, &sc3, SEGC_ACT_NONE, &want), SEGC_OK);
        test_assert_close(got.data, want.data, n, 0, 0, "mul_channel");
        /* affine + relu6 = (x * s) + v then relu6 */
        ck_assert_int_eq(segc_channel_affine(&x, &sc, &v, SEGC_ACT_RELU6, &got), SEGC_OK);
        ck_assert_int_eq(segc_binary_reference('*', &x, &sc3, SEGC_ACT_NONE, &tmp), SEGC_OK);
        ck_assert_int_eq(segc_binary_reference('+', &tmp, &v3, SEGC_ACT_RELU6, &want), SEGC_OK);
        test_assert_close(got.data, want.data, n, 1e-6, 1e-6, "channel_affine relu6");
        /* channels-last: v over the last dim */
        int64_t W = s4[3];
        segc_tensor lw = rand_tensor(&a, &r, 1, &W);
        ck_assert_int_eq(segc_add_lastdim(&x, &lw, &got), SEGC_OK);
        ck_assert_int_eq(segc_binary_reference('+', &x, &lw, SEGC_ACT_NONE, &want), SEGC_OK);
        test_assert_close(got.data, want.data, n, 0, 0, "add_lastdim");
        ck_assert_int_eq(segc_binary_reference('*', &x, &lw, SEGC_ACT_NONE, &want), SEGC_OK);
        ck_assert_int_eq(segc_mul_lastdim(&x, &lw, &x), SEGC_OK);   /* in place */
        test_assert_close(x.data, want.data, n, 0, 0, "mul_lastdim in place");
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_mul_lastdim_in_place_matches_hand_loop) {
    float x[2 * 3 * 4], v[4] = {1.5f, -2.0f, 0.0f, 3.0f}, orig[24];
    for (int i = 0; i < 24; i++) x[i] = orig[i] = (float)i - 7.0f;
    segc_tensor xt = segc_tensor_f32(x, 3, 2, 3, 4, 0), vt = segc_tensor_f32(v, 1, 4, 0, 0, 0);
    ck_assert_int_eq(segc_mul_lastdim(&xt, &vt, &xt), SEGC_OK);
    for (int i = 0; i < 24; i++) ck_assert_float_eq(x[i], orig[i] * v[i % 4]);
}
END_TEST

START_TEST(test_elementwise_rejects_bad_inputs) {
    float a[24], b[24], c[6];
    int32_t id[24];
    segc_tensor x = segc_tensor_f32(a, 3, 2, 3, 4, 0), y = segc_tensor_f32(b, 3, 2, 4, 3, 0);
    segc_tensor v6 = segc_tensor_f32(c, 1, 6, 0, 0, 0), v23 = segc_tensor_f32(c, 2, 2, 3, 0, 0);
    int64_t s3[3] = {2, 3, 4};
    segc_tensor ix = segc_tensor_wrap(SEGC_I32, 3, s3, id);
    ck_assert_int_eq(segc_add(&x, &y, &x), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_mul(&x, &ix, &x), SEGC_ERR_UNSUPPORTED);
    ck_assert_int_eq(segc_add_channel(&x, &v6, &x), SEGC_ERR_SHAPE);     /* C is 3 */
    ck_assert_int_eq(segc_add_channel(&x, NULL, &x), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_add_lastdim(&x, &v23, &x), SEGC_ERR_SHAPE);    /* not a vector */
    ck_assert_int_eq(segc_add_act(&x, &x, (segc_act)42, &x), SEGC_ERR_INVALID_ARG);
    segc_tensor xp;
    const int perm[3] = {0, 2, 1};
    ck_assert_int_eq(segc_tensor_permute(&x, perm, &xp), SEGC_OK);
    ck_assert_int_eq(segc_axpy(1.0f, &xp, &y), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_binary_reference('+', &x, &v6, SEGC_ACT_NONE, &x), SEGC_ERR_SHAPE);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_elementwise");
    TCase *tc = tcase_create("elementwise");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_same_shape_ops_match_reference);
    tcase_add_test(tc, test_channel_and_lastdim_broadcasts_match_reference);
    tcase_add_test(tc, test_mul_lastdim_in_place_matches_hand_loop);
    tcase_add_test(tc, test_elementwise_rejects_bad_inputs);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
