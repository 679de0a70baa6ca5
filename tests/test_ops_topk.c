/* test_ops_topk.c - top-k: torch.topk fixture (tests/gen/fixtures_elem.py), the heap against the
   full-sort reference on random vectors with ties and NaN, an RPN-sized case (k = 1000 of 200k)
   checked by its defining property, and the error paths (k > n). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "ops/topk.h"
#include "test_util.h"

START_TEST(test_topk_matches_torch_fixture) {
    segc_npy x, vals, idx;
    test_read_fixture("elem", "topk_x", &x);
    test_read_fixture("elem", "topk_values", &vals);
    test_read_fixture("elem", "topk_indices", &idx);
    int64_t k = segc_npy_numel(&vals);
    float *v = malloc(sizeof(float) * (size_t)k);
    int64_t *i = malloc(sizeof(int64_t) * (size_t)k);
    segc_tensor xt = segc_npy_tensor(&x);
    ck_assert_int_eq(segc_topk_tensor(&xt, k, v, i), SEGC_OK);
    for (int64_t j = 0; j < k; j++) {
        ck_assert_int_eq(i[j], ((const int32_t *)idx.data)[j]);
        ck_assert_float_eq(v[j], ((const float *)vals.data)[j]);
    }
    free(v), free(i);
    segc_npy_free(&x), segc_npy_free(&vals), segc_npy_free(&idx);
}
END_TEST

START_TEST(test_topk_matches_reference_with_ties_and_nan) {
    test_rng r = test_rng_new(71);
    for (int it = 0; it < 30; it++) {
        int64_t n = test_rng_int(&r, 1, 3000);
        int64_t k = it == 0 ? n : (it == 1 ? 0 : test_rng_int(&r, 1, (int)n));
        float *x = malloc(sizeof(float) * (size_t)n), *vg = malloc(sizeof(float) * (size_t)n),
              *vw = malloc(sizeof(float) * (size_t)n);
        int64_t *ig = malloc(sizeof(int64_t) * (size_t)n), *iw = malloc(sizeof(int64_t) * (size_t)n);
        int levels = test_rng_int(&r, 1, 50);
        for (int64_t j = 0; j < n; j++) x[j] = (float)test_rng_int(&r, 0, levels);
        if (it % 4 == 3) x[test_rng_int(&r, 0, (int)n - 1)] = NAN, x[test_rng_int(&r, 0, (int)n - 1)] = NAN;
        ck_assert_int_eq(segc_topk(x, n, k, vg, ig), SEGC_OK);
        ck_assert_int_eq(segc_topk_reference(x, n, k, vw, iw), SEGC_OK);
        for (int64_t j = 0; j < k; j++) {
            ck_assert_msg(ig[j] == iw[j], "n %lld k %lld: index %lld: %lld vs %lld", (long long)n, (long long)k,
                          (long long)j, (long long)ig[j], (long long)iw[j]);
            ck_assert(vg[j] == vw[j] || (isnan(vg[j]) && isnan(vw[j])));
        }
        /* indices-only call gives the same indices */
        ck_assert_int_eq(segc_topk(x, n, k, NULL, ig), SEGC_OK);
        for (int64_t j = 0; j < k; j++) ck_assert_int_eq(ig[j], iw[j]);
        free(x), free(vg), free(vw), free(ig), free(iw);
    }
}
END_TEST

START_TEST(test_topk_rpn_sized_selection_is_correct) {
    const int64_t n = 200000, k = 1000;
    float *x = malloc(sizeof(float) * (size_t)n), v[1000];
    int64_t idx[1000];
    unsigned char *taken = calloc((size_t)n, 1);
    test_rng r = test_rng_new(72);
    test_fill_uniform(&r, x, (size_t)n, -10, 10);
    ck_assert_int_eq(segc_topk(x, n, k, v, idx), SEGC_OK);
    for (int64_t j = 0; j < k; j++) {
        ck_assert(!taken[idx[j]]);
        taken[idx[j]] = 1;
        ck_assert_float_eq(v[j], x[idx[j]]);
        if (j) ck_assert(v[j - 1] > v[j] || (v[j - 1] == v[j] && idx[j - 1] < idx[j]));
    }
    for (int64_t i = 0; i < n; i++)
        if (!taken[i]) ck_assert(x[i] < v[k - 1] || (x[i] == v[k - 1] && i > idx[k - 1]));
    free(x), free(taken);
}
END_TEST

START_TEST(test_topk_rejects_bad_arguments) {
    float x[4] = {1, 2, 3, 4}, v[5];
    int64_t i[5];
    ck_assert_int_eq(segc_topk(x, 4, 5, v, i), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_topk(x, 4, -1, v, i), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_topk(x, 4, 2, v, NULL), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_topk_reference(x, 4, 5, v, i), SEGC_ERR_INVALID_ARG);
    int32_t d[4] = {0};
    int64_t s[1] = {4};
    segc_tensor it = segc_tensor_wrap(SEGC_I32, 1, s, d);
    ck_assert_int_eq(segc_topk_tensor(&it, 2, v, i), SEGC_ERR_UNSUPPORTED);
    ck_assert_int_eq(segc_topk(x, 4, 2, v, i), SEGC_OK);
    ck_assert_int_eq(i[0], 3);
    ck_assert_int_eq(i[1], 2);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_topk");
    TCase *tc = tcase_create("topk");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_topk_matches_torch_fixture);
    tcase_add_test(tc, test_topk_matches_reference_with_ties_and_nan);
    tcase_add_test(tc, test_topk_rpn_sized_selection_is_correct);
    tcase_add_test(tc, test_topk_rejects_bad_arguments);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
