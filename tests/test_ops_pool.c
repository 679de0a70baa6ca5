/* test_ops_pool.c - max / average / adaptive / global pooling: fast versions against the reference
   loops on random kernels, strides, paddings and both ceil modes (contiguous and NHWC-strided views),
   PyTorch fixtures for ceil_mode with padding, count_include_pad false and non-divisible adaptive
   sizes (tests/gen/fixtures_elem.py), PyTorch's output-size rule, and the error paths. */
#include <check.h>
#include <math.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "ops/pool.h"
#include "test_util.h"

static segc_tensor rand_tensor(segc_arena *a, test_rng *r, int ndim, const int64_t *shape) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, ndim, shape, &t), SEGC_OK);
    test_fill_uniform(r, t.data, (size_t)segc_tensor_numel(&t), -3, 3);
    return t;
}

static segc_tensor new_tensor(segc_arena *a, int ndim, const int64_t *shape) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, ndim, shape, &t), SEGC_OK);
    segc_tensor_fill_f32(&t, NAN);
    return t;
}

START_TEST(test_pool_out_dim_follows_pytorch) {
    ck_assert_int_eq(segc_pool2d_out_dim(3, 2, 2, 1, 1), 2);    /* last window would start in the right pad */
    ck_assert_int_eq(segc_pool2d_out_dim(5, 2, 2, 0, 1), 3);
    ck_assert_int_eq(segc_pool2d_out_dim(5, 2, 2, 0, 0), 2);
    ck_assert_int_eq(segc_pool2d_out_dim(7, 3, 2, 1, 1), 4);
    ck_assert_int_eq(segc_pool2d_out_dim(112, 3, 2, 1, 0), 56);  /* ResNet stem */
    ck_assert_int_eq(segc_pool2d_out_dim(2, 3, 1, 0, 0), 0);
}
END_TEST

/* One random configuration: fast vs reference for max and avg, on x (maybe a strided view). */
static void check_pool_case(segc_arena *a, test_rng *r, int strided) {
    segc_pool2d_params p;
    p.kernel_h = test_rng_int(r, 1, 5), p.kernel_w = test_rng_int(r, 1, 5);
    p.stride_h = test_rng_int(r, 1, 3), p.stride_w = test_rng_int(r, 1, 3);
    p.pad_h = test_rng_int(r, 0, p.kernel_h / 2), p.pad_w = test_rng_int(r, 0, p.kernel_w / 2);
    p.ceil_mode = test_rng_int(r, 0, 1), p.count_include_pad = test_rng_int(r, 0, 1);
    int64_t N = test_rng_int(r, 1, 2), C = test_rng_int(r, 1, 5);
    int64_t H = test_rng_int(r, p.kernel_h, 23), W = test_rng_int(r, p.kernel_w, 23);
    int64_t P = segc_pool2d_out_dim(H, p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
    int64_t Q = segc_pool2d_out_dim(W, p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
    segc_tensor x, got, want;
    const int to_nchw[4] = {0, 3, 1, 2};
    if (strided) {   /* NHWC memory seen as NCHW, as Hiera's q_pool */
        int64_t xs[4] = {N, H, W, C}, os[4] = {N, P, Q, C};
        segc_tensor xn = rand_tensor(a, r, 4, xs), gn = new_tensor(a, 4, os), wn = new_tensor(a, 4, os);
        ck_assert_int_eq(segc_tensor_permute(&xn, to_nchw, &x), SEGC_OK);
        ck_assert_int_eq(segc_tensor_permute(&gn, to_nchw, &got), SEGC_OK);
        ck_assert_int_eq(segc_tensor_permute(&wn, to_nchw, &want), SEGC_OK);
    } else {
        int64_t xs[4] = {N, C, H, W}, os[4] = {N, C, P, Q};
        x = rand_tensor(a, r, 4, xs), got = new_tensor(a, 4, os), want = new_tensor(a, 4, os);
    }
    char what[160];
    snprintf(what, sizeof what, "k%dx%d s%dx%d p%dx%d ceil%d cip%d in %lldx%lld strided %d", p.kernel_h, p.kernel_w,
             p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.ceil_mode, p.count_include_pad, (long long)H, (long long)W,
             strided);
    size_t n = (size_t)(N * C * P * Q);
    ck_assert_msg(segc_max_pool2d(&x, &p, &got) == SEGC_OK, "%s: %s", what, segc_last_error());
    ck_assert_int_eq(segc_max_pool2d_reference(&x, &p, &want), SEGC_OK);
    /* the data of got / want is contiguous in memory either way: compare it flat */
    test_assert_close(got.data, want.data, n, 0, 0, what);
    ck_assert_int_eq(segc_avg_pool2d(&x, &p, &got), SEGC_OK);
    ck_assert_int_eq(segc_avg_pool2d_reference(&x, &p, &want), SEGC_OK);
    test_assert_close(got.data, want.data, n, 1e-6, 1e-5, what);
}

START_TEST(test_pools_match_reference_on_random_params) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(31);
    for (int it = 0; it < 60; it++) check_pool_case(&a, &r, it % 3 == 2);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_pools_match_pytorch_fixtures) {
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_npy x, cases;
    test_read_fixture("elem", "pool_x", &x);
    test_read_fixture("elem", "pool_cases", &cases);
    segc_tensor xt = segc_npy_tensor(&x);
    const int32_t *c = cases.data;
    for (int64_t i = 0; i < cases.shape[0]; i++, c += 5) {
        segc_pool2d_params p = segc_pool2d_params_make(c[0], c[1], c[2]);
        p.ceil_mode = c[3], p.count_include_pad = c[4];
        for (int is_max = 0; is_max < 2; is_max++) {
            char name[64];
            segc_npy want;
            segc_tensor got;
            snprintf(name, sizeof name, "pool_%s_%lld", is_max ? "max" : "avg", (long long)i);
            test_read_fixture("elem", name, &want);
            segc_status st = is_max ? segc_max_pool2d_new(&a, &xt, &p, &got) : segc_avg_pool2d_new(&a, &xt, &p, &got);
            ck_assert_msg(st == SEGC_OK, "%s: %s", name, segc_last_error());
            segc_tensor wt = segc_npy_tensor(&want);
            ck_assert_msg(segc_tensor_has_shape(&got, 4, wt.shape), "%s: shape", name);
            test_assert_close(got.data, want.data, (size_t)segc_npy_numel(&want), 1e-6, 1e-5, name);
            segc_npy_free(&want);
        }
    }
    segc_npy_free(&x), segc_npy_free(&cases);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_adaptive_and_global_avg_pool_match_pytorch_and_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_npy x, sizes;
    test_read_fixture("elem", "adapt_x", &x);
    test_read_fixture("elem", "adapt_sizes", &sizes);
    segc_tensor xt = segc_npy_tensor(&x);
    const int32_t *sz = sizes.data;
    for (int64_t i = 0; i < sizes.shape[0]; i++) {
        char name[64];
        segc_npy want;
        segc_tensor got, ref;
        snprintf(name, sizeof name, "adapt_out_%lld", (long long)i);
        test_read_fixture("elem", name, &want);
        ck_assert_int_eq(segc_adaptive_avg_pool2d_new(&a, &xt, sz[2 * i], sz[2 * i + 1], &got), SEGC_OK);
        test_assert_close(got.data, want.data, (size_t)segc_npy_numel(&want), 1e-6, 1e-5, name);
        ref = new_tensor(&a, 4, got.shape);
        ck_assert_int_eq(segc_adaptive_avg_pool2d_reference(&xt, &ref), SEGC_OK);
        test_assert_close(got.data, ref.data, (size_t)segc_npy_numel(&want), 1e-6, 1e-5, "adaptive vs reference");
        segc_npy_free(&want);
    }
    /* global pool: [N,C,1,1] and [N,C] outputs, also from an NHWC view */
    test_rng r = test_rng_new(32);
    int64_t xs[4] = {2, 5, 9, 7}, o4[4] = {2, 5, 1, 1}, o2[2] = {2, 5}, nhwc[4] = {2, 9, 7, 5};
    segc_tensor y = rand_tensor(&a, &r, 4, xs), g4 = new_tensor(&a, 4, o4), g2 = new_tensor(&a, 2, o2),
                ref = new_tensor(&a, 4, o4);
    ck_assert_int_eq(segc_global_avg_pool(&y, &g4), SEGC_OK);
    ck_assert_int_eq(segc_global_avg_pool(&y, &g2), SEGC_OK);
    ck_assert_int_eq(segc_adaptive_avg_pool2d_reference(&y, &ref), SEGC_OK);
    test_assert_close(g4.data, ref.data, 10, 1e-6, 1e-5, "global [N,C,1,1]");
    test_assert_close(g2.data, ref.data, 10, 1e-6, 1e-5, "global [N,C]");
    segc_tensor yn = rand_tensor(&a, &r, 4, nhwc), yv, g;
    const int to_nchw[4] = {0, 3, 1, 2};
    ck_assert_int_eq(segc_tensor_permute(&yn, to_nchw, &yv), SEGC_OK);
    ck_assert_int_eq(segc_global_avg_pool_new(&a, &yv, &g), SEGC_OK);
    ck_assert_int_eq(segc_adaptive_avg_pool2d_reference(&yv, &ref), SEGC_OK);
    test_assert_close(g.data, ref.data, 10, 1e-6, 1e-5, "global of a strided view");
    segc_npy_free(&x), segc_npy_free(&sizes);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_pools_reject_bad_inputs) {
    float d[1 * 2 * 6 * 6], o[1 * 2 * 3 * 3];
    int32_t id[72];
    segc_tensor x = segc_tensor_f32(d, 4, 1, 2, 6, 6), out = segc_tensor_f32(o, 4, 1, 2, 3, 3);
    segc_tensor bad_out = segc_tensor_f32(o, 4, 1, 2, 3, 2), small = segc_tensor_f32(d, 4, 1, 2, 1, 1);
    int64_t s4[4] = {1, 2, 6, 6};
    segc_tensor ix = segc_tensor_wrap(SEGC_I32, 4, s4, id);
    segc_pool2d_params p = segc_pool2d_params_make(2, 0, 0);   /* stride defaults to the kernel */
    ck_assert_int_eq(p.stride_h, 2);
    ck_assert_int_eq(segc_max_pool2d(&x, &p, &out), SEGC_OK);
    ck_assert_int_eq(segc_max_pool2d(&x, &p, &bad_out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_max_pool2d(&ix, &p, &out), SEGC_ERR_UNSUPPORTED);
    segc_pool2d_params big_pad = segc_pool2d_params_make(3, 2, 2);
    ck_assert_int_eq(segc_avg_pool2d(&x, &big_pad, &out), SEGC_ERR_INVALID_ARG);
    segc_pool2d_params k3 = segc_pool2d_params_make(3, 1, 0);
    segc_tensor got;
    segc_arena a;
    segc_arena_init(&a, 0);
    ck_assert_int_eq(segc_max_pool2d_new(&a, &small, &k3, &got), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_adaptive_avg_pool2d_new(&a, &x, 0, 3, &got), SEGC_ERR_INVALID_ARG);
    segc_tensor flat = segc_tensor_f32(d, 2, 12, 6, 0, 0);
    ck_assert_int_eq(segc_global_avg_pool_new(&a, &flat, &got), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_global_avg_pool(&x, &out), SEGC_ERR_SHAPE);
    segc_arena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_pool_out_dim_follows_pytorch);
    tcase_add_test(tc, test_pools_match_reference_on_random_params);
    tcase_add_test(tc, test_pools_match_pytorch_fixtures);
    tcase_add_test(tc, test_adaptive_and_global_avg_pool_match_pytorch_and_reference);
    tcase_add_test(tc, test_pools_reject_bad_inputs);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
