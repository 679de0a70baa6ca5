/* test_ops_act.c - activations: the fast chunked loops against the double-precision reference on odd
   and large sizes (the parallel path), PyTorch fixtures for GELU (exact and tanh), hardswish, SiLU and
   sigmoid (tests/gen/fixtures_elem.py), and the error paths of segc_act_tensor. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "ops/act.h"
#include "test_util.h"

static const segc_act ALL_ACTS[] = {SEGC_ACT_NONE, SEGC_ACT_RELU, SEGC_ACT_RELU6, SEGC_ACT_GELU,
                                    SEGC_ACT_GELU_TANH, SEGC_ACT_SILU, SEGC_ACT_SIGMOID, SEGC_ACT_HARDSWISH};
#define NUM_ACTS ((int)(sizeof ALL_ACTS / sizeof ALL_ACTS[0]))

START_TEST(test_act_matches_reference_on_odd_and_large_sizes) {
    static const size_t sizes[] = {1, 7, 33, 1000, 70001};
    test_rng r = test_rng_new(3);
    for (int s = 0; s < 5; s++) {
        size_t n = sizes[s];
        float *x = malloc(n * sizeof *x), *got = malloc(n * sizeof *x), *want = malloc(n * sizeof *x);
        test_fill_uniform(&r, x, n, -8.0f, 8.0f);
        for (int a = 0; a < NUM_ACTS; a++) {
            for (size_t i = 0; i < n; i++) got[i] = want[i] = x[i];
            segc_act_apply(ALL_ACTS[a], got, n);
            segc_act_apply_reference(ALL_ACTS[a], want, n);
            char what[64];
            snprintf(what, sizeof what, "%s n=%zu", segc_act_name(ALL_ACTS[a]), n);
            test_assert_close(got, want, n, 1e-6, 1e-5, what);
        }
        free(x);
        free(got);
        free(want);
    }
}
END_TEST

/* Each activation against its torch output on act_x. */
static void check_fixture(segc_act act, const char *name) {
    segc_npy x, want;
    test_read_fixture("elem", "act_x", &x);
    test_read_fixture("elem", name, &want);
    segc_tensor t = segc_npy_tensor(&x);
    ck_assert_int_eq(segc_act_tensor(act, &t), SEGC_OK);
    test_assert_close(x.data, want.data, (size_t)segc_npy_numel(&want), 1e-6, 1e-5, name);
    segc_npy_free(&x);
    segc_npy_free(&want);
}

START_TEST(test_act_matches_pytorch_fixtures) {
    check_fixture(SEGC_ACT_GELU, "act_gelu");
    check_fixture(SEGC_ACT_GELU_TANH, "act_gelu_tanh");
    check_fixture(SEGC_ACT_HARDSWISH, "act_hardswish");
    check_fixture(SEGC_ACT_SILU, "act_silu");
    check_fixture(SEGC_ACT_SIGMOID, "act_sigmoid");
}
END_TEST

START_TEST(test_act_relu_family_edge_values) {
    float x[6] = {-1.0f, 0.0f, 3.0f, 7.0f, NAN, -INFINITY};
    segc_act_apply(SEGC_ACT_RELU, x, 6);
    ck_assert(x[0] == 0.0f && x[1] == 0.0f && x[2] == 3.0f && x[3] == 7.0f && isnan(x[4]) && x[5] == 0.0f);
    float y[4] = {-1.0f, 2.0f, 6.5f, 6.0f};
    segc_act_apply(SEGC_ACT_RELU6, y, 4);
    ck_assert(y[0] == 0.0f && y[1] == 2.0f && y[2] == 6.0f && y[3] == 6.0f);
    float h[4] = {-3.0f, 3.0f, -4.0f, 1.0f};
    segc_act_apply(SEGC_ACT_HARDSWISH, h, 4);
    ck_assert(h[0] == 0.0f && h[1] == 3.0f && h[2] == 0.0f);
    ck_assert_float_eq_tol(h[3], 1.0f * 4.0f / 6.0f, 1e-7);
    float s[2] = {-200.0f, 200.0f};
    segc_act_apply(SEGC_ACT_SIGMOID, s, 2);
    ck_assert(s[0] == 0.0f && s[1] == 1.0f);
}
END_TEST

START_TEST(test_act_tensor_rejects_bad_inputs) {
    float data[12] = {0};
    int32_t idata[4] = {0};
    segc_tensor t = segc_tensor_f32(data, 2, 3, 4, 0, 0), v;
    const int64_t s4[1] = {4};
    segc_tensor it = segc_tensor_wrap(SEGC_I32, 1, s4, idata);
    ck_assert_int_eq(segc_act_tensor(SEGC_ACT_RELU, &it), SEGC_ERR_UNSUPPORTED);
    ck_assert(segc_last_error()[0] != '\0');
    const int perm[2] = {1, 0};
    ck_assert_int_eq(segc_tensor_permute(&t, perm, &v), SEGC_OK);
    ck_assert_int_eq(segc_act_tensor(SEGC_ACT_RELU, &v), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_act_tensor((segc_act)99, &t), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_act_tensor(SEGC_ACT_GELU, &t), SEGC_OK);
    ck_assert_str_eq(segc_act_name(SEGC_ACT_GELU_TANH), "gelu_tanh");
    ck_assert_str_eq(segc_act_name((segc_act)99), "?");
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_act");
    TCase *tc = tcase_create("act");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_act_matches_reference_on_odd_and_large_sizes);
    tcase_add_test(tc, test_act_matches_pytorch_fixtures);
    tcase_add_test(tc, test_act_relu_family_edge_values);
    tcase_add_test(tc, test_act_tensor_rejects_bad_inputs);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
