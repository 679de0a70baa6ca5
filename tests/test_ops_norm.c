/* test_ops_norm.c - layer norm (last dim and channels-first), group norm and batch norm: the fast
   versions against the double-precision references on random odd shapes, against PyTorch fixtures
   (F.layer_norm, sam2's LayerNorm2d, F.group_norm; tests/gen/fixtures_elem.py), in-place use, large
   offsets (where a one-pass variance would lose digits) and the error paths. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "ops/norm.h"
#include "test_util.h"

#define NORM_ATOL 2e-5
#define NORM_RTOL 1e-5

START_TEST(test_layer_norm_matches_reference_on_random_shapes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(5);
    for (int it = 0; it < 10; it++) {
        int64_t shape[3] = {test_rng_int(&r, 1, 3), test_rng_int(&r, 1, 300), test_rng_int(&r, 1, 97)};
        segc_tensor x = test_rand_tensor(&a, &r, 3, shape, -3, 5), w = test_rand_tensor(&a, &r, 1, &shape[2], -2, 2),
                    b = test_rand_tensor(&a, &r, 1, &shape[2], -1, 1);
        segc_tensor got = test_new_like_nan(&a, &x), want = test_new_like_nan(&a, &x);
        const segc_tensor *wp = it % 3 == 2 ? NULL : &w, *bp = it % 3 == 1 ? NULL : &b;
        ck_assert_int_eq(segc_layer_norm(&x, wp, bp, 1e-5f, &got), SEGC_OK);
        ck_assert_int_eq(segc_layer_norm_reference(&x, wp, bp, 1e-5f, &want), SEGC_OK);
        test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&x), NORM_ATOL, NORM_RTOL, "layer_norm");
        /* in place gives the same */
        ck_assert_int_eq(segc_layer_norm(&x, wp, bp, 1e-5f, &x), SEGC_OK);
        test_assert_close(x.data, want.data, (size_t)segc_tensor_numel(&x), NORM_ATOL, NORM_RTOL, "in place");
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_layer_norm2d_and_group_norm_match_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(6);
    for (int it = 0; it < 10; it++) {
        int groups = test_rng_int(&r, 1, 4);
        int64_t shape[4] = {test_rng_int(&r, 1, 2), groups * test_rng_int(&r, 1, 9), test_rng_int(&r, 1, 23),
                            test_rng_int(&r, 1, 29)};
        if (it == 0) shape[2] = 40, shape[3] = 33;   /* more than one pixel block */
        segc_tensor x = test_rand_tensor(&a, &r, 4, shape, -2, 3), w = test_rand_tensor(&a, &r, 1, &shape[1], -2, 2),
                    b = test_rand_tensor(&a, &r, 1, &shape[1], -1, 1);
        segc_tensor got = test_new_like_nan(&a, &x), want = test_new_like_nan(&a, &x);
        size_t n = (size_t)segc_tensor_numel(&x);
        ck_assert_int_eq(segc_layer_norm2d(&x, &w, &b, 1e-6f, &got), SEGC_OK);
        ck_assert_int_eq(segc_layer_norm2d_reference(&x, &w, &b, 1e-6f, &want), SEGC_OK);
        test_assert_close(got.data, want.data, n, NORM_ATOL, NORM_RTOL, "layer_norm2d");
        ck_assert_int_eq(segc_group_norm(&x, groups, &w, it % 2 ? &b : NULL, 1e-5f, &got), SEGC_OK);
        ck_assert_int_eq(segc_group_norm_reference(&x, groups, &w, it % 2 ? &b : NULL, 1e-5f, &want), SEGC_OK);
        test_assert_close(got.data, want.data, n, NORM_ATOL, NORM_RTOL, "group_norm");
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_batch_norm_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(7);
    int64_t shape[4] = {2, 13, 7, 9};
    segc_tensor x = test_rand_tensor(&a, &r, 4, shape, -2, 3), g = test_rand_tensor(&a, &r, 1, &shape[1], 0.5f, 2),
                be = test_rand_tensor(&a, &r, 1, &shape[1], -1, 1), m = test_rand_tensor(&a, &r, 1, &shape[1], -1, 1),
                v = test_rand_tensor(&a, &r, 1, &shape[1], 0.1f, 3);
    segc_tensor got = test_new_like_nan(&a, &x), want = test_new_like_nan(&a, &x);
    ck_assert_int_eq(segc_batch_norm(&x, &g, &be, &m, &v, 1e-5f, &got), SEGC_OK);
    ck_assert_int_eq(segc_batch_norm_reference(&x, &g, &be, &m, &v, 1e-5f, &want), SEGC_OK);
    test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&x), NORM_ATOL, NORM_RTOL, "batch_norm");
    /* one hand-checked value: (x - m) / sqrt(v + eps) * g + b */
    float *xd = x.data, *gd = g.data, *bd = be.data, *md = m.data, *vd = v.data;
    float hand = (xd[5 * 63 + 4] - md[5]) / sqrtf(vd[5] + 1e-5f) * gd[5] + bd[5];
    ck_assert_float_eq_tol(((float *)got.data)[5 * 63 + 4], hand, 1e-5);
    ck_assert_int_eq(segc_batch_norm(&x, NULL, NULL, &m, &v, 1e-5f, &got), SEGC_OK);
    ck_assert_int_eq(segc_batch_norm(&x, &g, &be, NULL, &v, 1e-5f, &got), SEGC_ERR_INVALID_ARG);
    segc_arena_free(&a);
}
END_TEST

/* Compares op(fixture x, w, b) with the fixture output. */
static void check_norm_fixture(const char *prefix, int which) {
    char name[64];
    segc_npy x, w, b, want;
    snprintf(name, sizeof name, "%s_x", prefix), test_read_fixture("elem", name, &x);
    snprintf(name, sizeof name, "%s_w", prefix), test_read_fixture("elem", name, &w);
    snprintf(name, sizeof name, "%s_b", prefix), test_read_fixture("elem", name, &b);
    snprintf(name, sizeof name, "%s_out", prefix), test_read_fixture("elem", name, &want);
    segc_tensor xt = segc_npy_tensor(&x), wt = segc_npy_tensor(&w), bt = segc_npy_tensor(&b);
    segc_status st = which == 0   ? segc_layer_norm(&xt, &wt, &bt, 1e-5f, &xt)
                     : which == 1 ? segc_layer_norm2d(&xt, &wt, &bt, 1e-6f, &xt)
                                  : segc_group_norm(&xt, 4, &wt, &bt, 1e-5f, &xt);
    ck_assert_msg(st == SEGC_OK, "%s", segc_last_error());
    test_assert_close(x.data, want.data, (size_t)segc_npy_numel(&want), 1e-5, 1e-5, prefix);
    segc_npy_free(&x), segc_npy_free(&w), segc_npy_free(&b), segc_npy_free(&want);
}

START_TEST(test_norms_match_pytorch_fixtures) {
    check_norm_fixture("ln", 0);
    check_norm_fixture("ln2d", 1);
    check_norm_fixture("gn", 2);
}
END_TEST

START_TEST(test_norms_are_accurate_with_a_large_offset) {
    /* values 1e4 + small noise (a few float ulps of 1e4): E[x^2] - E[x]^2 or a float mean would lose
       every digit; each norm must match its double reference and have unit variance */
    enum { C = 64, P = 9 };
    static float x[C * P], out[C * P], want[C * P];
    test_rng r = test_rng_new(8);
    for (int i = 0; i < C * P; i++) x[i] = 10000.0f + test_rng_uniform(&r, -0.01f, 0.01f);
    segc_tensor rows = segc_tensor_f32(x, 2, P, C, 0, 0), orow = segc_tensor_f32(out, 2, P, C, 0, 0),
                wrow = segc_tensor_f32(want, 2, P, C, 0, 0);
    segc_tensor img = segc_tensor_f32(x, 4, 1, C, 3, 3), oimg = segc_tensor_f32(out, 4, 1, C, 3, 3),
                wimg = segc_tensor_f32(want, 4, 1, C, 3, 3);
    for (int op = 0; op < 3; op++) {
        if (op == 0) {
            ck_assert_int_eq(segc_layer_norm(&rows, NULL, NULL, 0.0f, &orow), SEGC_OK);
            ck_assert_int_eq(segc_layer_norm_reference(&rows, NULL, NULL, 0.0f, &wrow), SEGC_OK);
        } else if (op == 1) {
            ck_assert_int_eq(segc_layer_norm2d(&img, NULL, NULL, 0.0f, &oimg), SEGC_OK);
            ck_assert_int_eq(segc_layer_norm2d_reference(&img, NULL, NULL, 0.0f, &wimg), SEGC_OK);
        } else {
            ck_assert_int_eq(segc_group_norm(&img, 2, NULL, NULL, 0.0f, &oimg), SEGC_OK);
            ck_assert_int_eq(segc_group_norm_reference(&img, 2, NULL, NULL, 0.0f, &wimg), SEGC_OK);
        }
        static const char *names[3] = {"offset layer_norm", "offset layer_norm2d", "offset group_norm"};
        test_assert_close(out, want, C * P, 1e-4, 1e-4, names[op]);
        double ss = 0;
        for (int i = 0; i < C * P; i++) ss += (double)out[i] * out[i];
        ck_assert_double_eq_tol(ss / (C * P), 1.0, 1e-3);
    }
}
END_TEST

START_TEST(test_norms_reject_bad_inputs) {
    float d[2 * 6 * 3 * 3], o[2 * 6 * 3 * 3], w[5];
    int32_t id[4];
    segc_tensor x = segc_tensor_f32(d, 4, 2, 6, 3, 3), out = segc_tensor_f32(o, 4, 2, 6, 3, 3);
    segc_tensor wrong_out = segc_tensor_f32(o, 4, 2, 6, 3, 2), w5 = segc_tensor_f32(w, 1, 5, 0, 0, 0);
    const int64_t s4[1] = {4};
    segc_tensor it = segc_tensor_wrap(SEGC_I32, 1, s4, id);
    ck_assert_int_eq(segc_layer_norm(&it, NULL, NULL, 1e-5f, &it), SEGC_ERR_UNSUPPORTED);
    ck_assert_int_eq(segc_layer_norm(&x, NULL, NULL, 1e-5f, &wrong_out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_layer_norm(&x, &w5, NULL, 1e-5f, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_layer_norm2d(&x, &w5, NULL, 1e-6f, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_group_norm(&x, 4, NULL, NULL, 1e-5f, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_group_norm(&x, 0, NULL, NULL, 1e-5f, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_group_norm(&x, 3, NULL, NULL, 1e-5f, &out), SEGC_OK);
    segc_tensor x2 = segc_tensor_f32(d, 2, 6, 18, 0, 0), o2 = segc_tensor_f32(o, 2, 6, 18, 0, 0);
    ck_assert_int_eq(segc_layer_norm2d(&x2, NULL, NULL, 1e-6f, &o2), SEGC_ERR_SHAPE);
    const int perm[4] = {0, 1, 3, 2};
    segc_tensor xp;
    ck_assert_int_eq(segc_tensor_permute(&x, perm, &xp), SEGC_OK);
    ck_assert_int_eq(segc_group_norm(&xp, 3, NULL, NULL, 1e-5f, &out), SEGC_ERR_INVALID_ARG);
}
END_TEST

/* The parallel loops split work by rows / pixel blocks / slabs only, never a reduction: 1 and 2
   threads must give bit-identical results. */
START_TEST(test_norms_do_not_depend_on_thread_count) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(9);
    int64_t shape[4] = {2, 32, 40, 40};
    segc_tensor x = test_rand_tensor(&a, &r, 4, shape, -2, 3), o1 = test_new_like_nan(&a, &x), o2 = test_new_like_nan(&a, &x);
    size_t n = (size_t)segc_tensor_numel(&x);
    int saved = omp_get_max_threads();
    for (int op = 0; op < 3; op++) {
        for (int pass = 0; pass < 2; pass++) {
            omp_set_num_threads(pass ? 2 : 1);
            segc_tensor *o = pass ? &o2 : &o1;
            segc_status st = op == 0   ? segc_layer_norm(&x, NULL, NULL, 1e-5f, o)
                             : op == 1 ? segc_layer_norm2d(&x, NULL, NULL, 1e-6f, o)
                                       : segc_group_norm(&x, 8, NULL, NULL, 1e-5f, o);
            ck_assert_int_eq(st, SEGC_OK);
        }
        test_assert_close(o1.data, o2.data, n, 0, 0, "1 vs 2 threads");
    }
    omp_set_num_threads(saved);
    segc_arena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_norm");
    TCase *tc = tcase_create("norm");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_layer_norm_matches_reference_on_random_shapes);
    tcase_add_test(tc, test_layer_norm2d_and_group_norm_match_reference);
    tcase_add_test(tc, test_batch_norm_matches_reference);
    tcase_add_test(tc, test_norms_match_pytorch_fixtures);
    tcase_add_test(tc, test_norms_are_accurate_with_a_large_offset);
    tcase_add_test(tc, test_norms_reject_bad_inputs);
    tcase_add_test(tc, test_norms_do_not_depend_on_thread_count);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
