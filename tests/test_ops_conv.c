/* test_ops_conv.c - convolution: every fast path (the packed product of conv_gemm.c for 1x1 and im2col
   convs with its column blocks and partial panels, depthwise direct, groups, dilation, strides) against
   the seven-loop oracle segc_conv2d_reference; transposed
   convolution against its scatter oracle; batch-norm folding against conv then BN; PyTorch fixtures
   from tests/gen/fixtures_conv.py to pin padding/stride/dilation semantics; bad shapes rejected. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "ops/conv.h"
#include "test_util.h"

/* Float sgemm vs the double oracle: relative to the output magnitude. */
#define CONV_RTOL 1e-5

static segc_tensor rand_tensor(segc_arena *a, test_rng *r, int ndim, const int64_t *shape) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, ndim, shape, &t), SEGC_OK);
    test_fill_uniform(r, t.data, (size_t)segc_tensor_numel(&t), -1.0f, 1.0f);
    return t;
}

static segc_tensor nan_tensor(segc_arena *a, int ndim, const int64_t *shape) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, ndim, shape, &t), SEGC_OK);
    segc_tensor_fill_f32(&t, NAN);   /* anything not written shows up */
    return t;
}

/* got vs want with atol = CONV_RTOL * max|want| (at least CONV_RTOL). */
static void assert_close_rel(const segc_tensor *got, const segc_tensor *want, const char *what) {
    size_t n = (size_t)segc_tensor_numel(want);
    double mag = test_max_abs(want->data, n);
    test_assert_close(got->data, want->data, n, CONV_RTOL * (mag > 1 ? mag : 1), CONV_RTOL, what);
}

/* One conv case: random x[N,C,H,W], w[K,C/groups,R,S], bias (or NULL); segc_conv2d vs the oracle. */
typedef struct conv_case {
    int64_t N, C, H, W, K, R, S;
    segc_conv2d_params p;
    int with_bias;
} conv_case;

static void check_conv(segc_arena *a, test_rng *r, const conv_case *c) {
    segc_arena_mark mark = segc_arena_get_mark(a);
    const int64_t xs[4] = {c->N, c->C, c->H, c->W}, ws[4] = {c->K, c->C / c->p.groups, c->R, c->S},
                  bs[1] = {c->K};
    segc_tensor x = rand_tensor(a, r, 4, xs), w = rand_tensor(a, r, 4, ws), b = rand_tensor(a, r, 1, bs);
    int64_t P = segc_conv2d_out_dim(c->H, (int)c->R, c->p.stride_h, c->p.pad_h, c->p.dilation_h);
    int64_t Q = segc_conv2d_out_dim(c->W, (int)c->S, c->p.stride_w, c->p.pad_w, c->p.dilation_w);
    const int64_t os[4] = {c->N, c->K, P, Q};
    segc_tensor got = nan_tensor(a, 4, os), want = nan_tensor(a, 4, os);
    char what[200];
    snprintf(what, sizeof what, "x[%lld,%lld,%lld,%lld] w[%lld,%lld,%lld,%lld] s%dx%d p%dx%d d%dx%d g%d %s bias%d",
             (long long)c->N, (long long)c->C, (long long)c->H, (long long)c->W, (long long)c->K,
             (long long)(c->C / c->p.groups), (long long)c->R, (long long)c->S, c->p.stride_h, c->p.stride_w,
             c->p.pad_h, c->p.pad_w, c->p.dilation_h, c->p.dilation_w, c->p.groups, segc_act_name(c->p.act),
             c->with_bias);
    const segc_tensor *bias = c->with_bias ? &b : NULL;
    size_t in_use = a->in_use;
    ck_assert_msg(segc_conv2d(a, &x, &w, bias, &c->p, &got) == SEGC_OK, "%s: %s", what, segc_last_error());
    ck_assert_msg(a->in_use == in_use, "%s: scratch not released", what);
    ck_assert_int_eq(segc_conv2d_reference(&x, &w, bias, &c->p, &want), SEGC_OK);
    assert_close_rel(&got, &want, what);
    segc_arena_release(a, mark);
}

static conv_case make_case(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int stride, int pad,
                           int dilation, int groups, int with_bias) {
    conv_case c = {N, C, H, W, K, R, R, segc_conv2d_params_make(stride, pad, dilation, groups), with_bias};
    return c;
}

START_TEST(test_conv2d_1x1_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(101);
    for (int it = 0; it < 6; it++) {
        int groups = it < 4 ? 1 : 2;
        conv_case c = make_case(test_rng_int(&r, 1, 2), groups * test_rng_int(&r, 1, 9), test_rng_int(&r, 1, 13),
                                test_rng_int(&r, 1, 15), groups * test_rng_int(&r, 1, 11), 1, 1, 0, 1, groups, it & 1);
        check_conv(&a, &r, &c);
    }
    /* 1x1 with stride 2 (ResNet shortcut) and 1x1 with padding take the im2col path */
    conv_case s2 = make_case(2, 6, 9, 7, 5, 1, 2, 0, 1, 1, 1);
    check_conv(&a, &r, &s2);
    conv_case p1 = make_case(1, 3, 4, 5, 2, 1, 1, 1, 1, 1, 0);
    check_conv(&a, &r, &p1);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_conv2d_3x3_pad1_and_7x7_stride2_pad3_match_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(102);
    for (int it = 0; it < 4; it++) {
        conv_case c = make_case(test_rng_int(&r, 1, 2), test_rng_int(&r, 1, 12), test_rng_int(&r, 3, 17),
                                test_rng_int(&r, 3, 19), test_rng_int(&r, 1, 13), 3, 1, 1, 1, 1, it & 1);
        check_conv(&a, &r, &c);
    }
    conv_case stem = make_case(1, 3, 23, 21, 8, 7, 2, 3, 1, 1, 1);
    check_conv(&a, &r, &stem);
    conv_case stem2 = make_case(2, 3, 16, 16, 5, 7, 2, 3, 1, 1, 0);
    check_conv(&a, &r, &stem2);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_conv2d_stride2_on_odd_inputs_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(103);
    for (int it = 0; it < 6; it++) {
        int64_t H = 2 * test_rng_int(&r, 1, 8) + 1, W = 2 * test_rng_int(&r, 1, 9) + 1;
        int k = it % 2 ? 3 : 2;   /* 3x3 pad 1 and 2x2 pad 0 */
        conv_case c = make_case(test_rng_int(&r, 1, 2), test_rng_int(&r, 1, 8), H, W, test_rng_int(&r, 1, 9), k, 2,
                                k == 3, 1, 1, it & 1);
        check_conv(&a, &r, &c);
    }
    /* asymmetric: stride 2x1, pad 0x2, kernel 3x5 */
    conv_case c = make_case(1, 4, 11, 9, 3, 3, 1, 0, 1, 1, 1);
    c.S = 5, c.p.stride_h = 2, c.p.pad_w = 2;
    check_conv(&a, &r, &c);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_conv2d_dilated_atrous_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(104);
    const int rates[3] = {2, 6, 12};
    for (int i = 0; i < 3; i++) {
        /* ASPP: pad = rate keeps the size; inputs smaller and larger than the dilated kernel */
        conv_case c = make_case(1, test_rng_int(&r, 2, 10), test_rng_int(&r, 5, 33), test_rng_int(&r, 5, 31),
                                test_rng_int(&r, 1, 9), 3, 1, rates[i], rates[i], 1, i & 1);
        check_conv(&a, &r, &c);
    }
    conv_case s2 = make_case(2, 3, 13, 12, 4, 3, 2, 2, 2, 1, 1);   /* dilation with stride */
    check_conv(&a, &r, &s2);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_conv2d_grouped_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(105);
    const int groups[2] = {2, 4};
    for (int i = 0; i < 2; i++)
        for (int k = 1; k <= 3; k += 2) {
            int g = groups[i];
            conv_case c = make_case(2, g * test_rng_int(&r, 1, 4), test_rng_int(&r, 3, 12), test_rng_int(&r, 3, 12),
                                    g * test_rng_int(&r, 1, 4), k, 1 + (k == 3 && i), k / 2, 1, g, 1);
            check_conv(&a, &r, &c);
        }
    /* groups == C but K = 2C (channel multiplier 2) is not the depthwise kernel */
    conv_case m2 = make_case(1, 4, 9, 8, 8, 3, 1, 1, 1, 4, 1);
    check_conv(&a, &r, &m2);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_conv2d_depthwise_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(106);
    /* {kernel, stride, pad, dilation} */
    const int cfg[][4] = {{3, 1, 1, 1}, {3, 2, 1, 1}, {3, 1, 2, 2}, {3, 2, 2, 2}, {5, 1, 2, 1}, {5, 2, 2, 1},
                          {3, 1, 0, 1}, {3, 3, 4, 4}, {3, 1, 6, 3}, {7, 1, 3, 1}};   /* 7x7: SAM 2 CXBlock */
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        int64_t C = test_rng_int(&r, 1, 9);
        conv_case c = make_case(1 + (i % 2), C, test_rng_int(&r, 5, 21), test_rng_int(&r, 5, 23), C, cfg[i][0],
                                cfg[i][1], cfg[i][2], cfg[i][3], (int)C, i % 3 != 0);
        check_conv(&a, &r, &c);
    }
    /* a kernel wider than the image: every tap is a border tap */
    conv_case wide = make_case(1, 3, 2, 3, 3, 5, 1, 2, 1, 3, 1);
    check_conv(&a, &r, &wide);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_conv2d_each_activation_on_every_path_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(107);
    for (int act = SEGC_ACT_NONE; act <= SEGC_ACT_HARDSWISH; act++) {
        conv_case paths[3] = {make_case(1, 6, 7, 9, 5, 1, 1, 0, 1, 1, 1), make_case(1, 5, 8, 7, 5, 3, 1, 1, 1, 5, 1),
                              make_case(1, 4, 9, 6, 7, 3, 2, 1, 1, 1, 1)};
        for (int i = 0; i < 3; i++) {
            paths[i].p.act = (segc_act)act;
            check_conv(&a, &r, &paths[i]);
        }
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_conv2d_large_output_tiles_im2col) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(108);
    /* depth 128*9 = 1152: blocks of 64 output pixels (288 KiB of im2col each), 16768 pixels in 262 blocks */
    conv_case c = make_case(1, 128, 131, 128, 3, 3, 1, 1, 1, 1, 1);
    c.p.act = SEGC_ACT_RELU;
    check_conv(&a, &r, &c);
    segc_arena_free(&a);
}
END_TEST

/* The packed product computes 6 output channels x 32 pixels at a time over blocks of pixels: channel
   counts around the panel height, pixel counts around the panel width and the block size, blocks that
   span output rows and images, a panel of one valid row, an activation applied after the product. */
START_TEST(test_conv2d_packed_panels_and_blocks_match_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(116);
    const int64_t ks[] = {1, 5, 6, 7, 12, 13};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        conv_case c = make_case(1 + (int64_t)(i % 2), test_rng_int(&r, 1, 7), test_rng_int(&r, 1, 40),
                                test_rng_int(&r, 1, 45), ks[i], i % 3 ? 3 : 1, 1 + (int)(i % 2), i % 3 ? 1 : 0, 1, 1,
                                (int)(i % 2));
        c.p.act = i % 2 ? SEGC_ACT_RELU : SEGC_ACT_NONE;
        check_conv(&a, &r, &c);
    }
    conv_case deep = make_case(1, 300, 25, 40, 7, 1, 1, 0, 1, 1, 1);   /* 1x1 of depth 300: 320-pixel blocks */
    check_conv(&a, &r, &deep);
    conv_case wide = make_case(2, 3, 33, 70, 13, 3, 2, 1, 1, 1, 1);    /* shallow: 512-pixel blocks */
    wide.p.act = SEGC_ACT_SILU;
    check_conv(&a, &r, &wide);
    conv_case grouped = make_case(1, 6, 17, 19, 9, 3, 1, 1, 1, 3, 1);  /* 3 outputs per group: one part panel */
    check_conv(&a, &r, &grouped);
    segc_arena_free(&a);
}
END_TEST

/* segc_conv2d_residual = conv (no act) + residual, then act: on the dense path (3x3 stride 2, 1x1, groups),
   in place (the residual is out) and on the depthwise path; overlaps that are not `out` are refused. */
START_TEST(test_conv2d_residual_matches_conv_then_add) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(118);
    const conv_case cases[4] = {make_case(2, 5, 13, 17, 13, 3, 2, 1, 1, 1, 1),
                                make_case(1, 9, 11, 40, 7, 1, 1, 0, 1, 1, 0),
                                make_case(1, 6, 9, 10, 9, 3, 1, 1, 1, 3, 1),
                                make_case(1, 5, 12, 9, 5, 3, 1, 1, 1, 5, 1)};   /* the last is depthwise */
    const segc_act acts[4] = {SEGC_ACT_RELU, SEGC_ACT_NONE, SEGC_ACT_GELU, SEGC_ACT_RELU};
    for (int i = 0; i < 4; i++) {
        const conv_case *c = &cases[i];
        segc_arena_mark mark = segc_arena_get_mark(&a);
        const int64_t xs[4] = {c->N, c->C, c->H, c->W}, ws[4] = {c->K, c->C / c->p.groups, c->R, c->S},
                      bs[1] = {c->K};
        int64_t P = segc_conv2d_out_dim(c->H, (int)c->R, c->p.stride_h, c->p.pad_h, 1);
        int64_t Q = segc_conv2d_out_dim(c->W, (int)c->S, c->p.stride_w, c->p.pad_w, 1);
        const int64_t os[4] = {c->N, c->K, P, Q};
        segc_tensor x = rand_tensor(&a, &r, 4, xs), w = rand_tensor(&a, &r, 4, ws), b = rand_tensor(&a, &r, 1, bs);
        segc_tensor res = rand_tensor(&a, &r, 4, os), got = nan_tensor(&a, 4, os), want = nan_tensor(&a, 4, os);
        segc_conv2d_params p = c->p;
        ck_assert_int_eq(segc_conv2d_reference(&x, &w, c->with_bias ? &b : NULL, &p, &want), SEGC_OK);
        size_t n = (size_t)segc_tensor_numel(&want);
        float *wd = want.data, *rd = res.data;
        for (size_t j = 0; j < n; j++) wd[j] += rd[j];
        segc_act_apply_reference(acts[i], wd, n);
        p.act = acts[i];
        ck_assert_msg(segc_conv2d_residual(&a, &x, &w, c->with_bias ? &b : NULL, &res, &p, &got) == SEGC_OK, "%s",
                      segc_last_error());
        assert_close_rel(&got, &want, "conv + residual");
        segc_tensor_copy(&got, &res);
        segc_status st = segc_conv2d_residual(&a, &x, &w, c->with_bias ? &b : NULL, &got, &p, &got);
        if (i < 3) {
            ck_assert_int_eq(st, SEGC_OK);
            assert_close_rel(&got, &want, "conv + residual in place");
        } else {
            ck_assert_int_eq(st, SEGC_ERR_INVALID_ARG);   /* depthwise: the residual must be apart */
        }
        segc_tensor small;
        ck_assert_int_eq(segc_tensor_narrow(&res, 3, 0, Q - 1, &small), SEGC_OK);
        ck_assert_int_eq(segc_conv2d_residual(&a, &x, &w, NULL, &small, &p, &got), SEGC_ERR_SHAPE);
        segc_arena_release(&a, mark);
    }
    segc_arena_free(&a);
}
END_TEST

/* 1x1 convs never needed a scratch arena: NULL still works (the packed weights use a private one). */
START_TEST(test_conv2d_1x1_without_scratch_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(117);
    const int64_t xs[4] = {1, 9, 11, 13}, ws[4] = {7, 9, 1, 1}, bs[1] = {7}, os[4] = {1, 7, 11, 13};
    segc_tensor x = rand_tensor(&a, &r, 4, xs), w = rand_tensor(&a, &r, 4, ws), b = rand_tensor(&a, &r, 1, bs);
    segc_tensor got = nan_tensor(&a, 4, os), want = nan_tensor(&a, 4, os);
    segc_conv2d_params p = segc_conv2d_params_make(1, 0, 1, 1);
    ck_assert_msg(segc_conv2d(NULL, &x, &w, &b, &p, &got) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(segc_conv2d_reference(&x, &w, &b, &p, &want), SEGC_OK);
    assert_close_rel(&got, &want, "1x1 without scratch");
    segc_arena_free(&a);
}
END_TEST

/* Same inputs and thread count: bitwise the same output (DESIGN.md: deterministic for a given thread
   count). Across thread counts the pixel blocks may be cut differently, so only rounding may differ. */
START_TEST(test_conv2d_is_deterministic_for_a_thread_count) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(114);
    const int saved = segc_get_threads();
    const conv_case cases[3] = {make_case(1, 16, 37, 29, 24, 3, 1, 1, 1, 1, 1),   /* im2col */
                                make_case(2, 12, 19, 23, 20, 1, 1, 0, 1, 1, 1),   /* 1x1 */
                                make_case(1, 8, 33, 31, 8, 3, 2, 2, 2, 8, 1)};    /* depthwise */
    for (int i = 0; i < 3; i++) {
        const conv_case *c = &cases[i];
        const int64_t xs[4] = {c->N, c->C, c->H, c->W}, ws[4] = {c->K, c->C / c->p.groups, c->R, c->S},
                      bs[1] = {c->K};
        segc_tensor x = rand_tensor(&a, &r, 4, xs), w = rand_tensor(&a, &r, 4, ws), b = rand_tensor(&a, &r, 1, bs);
        segc_tensor one, two, again;
        ck_assert_int_eq(segc_set_threads(1), SEGC_OK);
        ck_assert_int_eq(segc_conv2d_new(&a, &x, &w, &b, &c->p, &one), SEGC_OK);
        ck_assert_int_eq(segc_set_threads(2), SEGC_OK);
        ck_assert_int_eq(segc_conv2d_new(&a, &x, &w, &b, &c->p, &two), SEGC_OK);
        ck_assert_int_eq(segc_conv2d_new(&a, &x, &w, &b, &c->p, &again), SEGC_OK);
        size_t n = (size_t)segc_tensor_numel(&one);
        test_assert_close(again.data, two.data, n, 0, 0, "two runs on 2 threads");
        assert_close_rel(&two, &one, "1 vs 2 threads");
    }
    segc_set_threads(saved);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_conv2d_batch_of_small_images_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(115);
    /* Mask R-CNN's mask head: many 14x14 RoIs of 256 channels (stacking images into one wider gemm
       was tried and measured no faster: each image's 1.8 MiB im2col stays in L2 for its gemm) */
    conv_case c = make_case(20, 256, 14, 14, 4, 3, 1, 1, 1, 1, 1);
    c.p.act = SEGC_ACT_RELU;
    check_conv(&a, &r, &c);
    conv_case plain = make_case(7, 16, 6, 5, 3, 3, 1, 1, 1, 1, 0);   /* no bias, no activation */
    check_conv(&a, &r, &plain);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_conv2d_accepts_a_channel_slice_of_a_larger_tensor) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(109);
    const int64_t bigs[4] = {2, 9, 7, 8}, ws1[4] = {5, 4, 1, 1}, ws3[4] = {5, 4, 3, 3},
                  wsd[4] = {4, 1, 3, 3}, os[4] = {2, 5, 7, 8}, osd[4] = {2, 4, 7, 8};
    segc_tensor big = rand_tensor(&a, &r, 4, bigs), view, x;
    ck_assert_int_eq(segc_tensor_narrow(&big, 1, 3, 4, &view), SEGC_OK);
    ck_assert(!segc_tensor_is_contiguous(&view));
    ck_assert_int_eq(segc_tensor_contiguous(&a, &view, &x), SEGC_OK);
    ck_assert(segc_tensor_has_shape(&x, 4, osd));   /* same shape as the depthwise output */
    const segc_tensor ws[3] = {rand_tensor(&a, &r, 4, ws1), rand_tensor(&a, &r, 4, ws3), rand_tensor(&a, &r, 4, wsd)};
    const segc_conv2d_params ps[3] = {segc_conv2d_params_make(1, 0, 1, 1), segc_conv2d_params_make(1, 1, 1, 1),
                                      segc_conv2d_params_make(1, 1, 1, 4)};
    for (int i = 0; i < 3; i++) {
        segc_tensor got = nan_tensor(&a, 4, i == 2 ? osd : os), want = nan_tensor(&a, 4, i == 2 ? osd : os);
        ck_assert_msg(segc_conv2d(&a, &view, &ws[i], NULL, &ps[i], &got) == SEGC_OK, "%s", segc_last_error());
        ck_assert_int_eq(segc_conv2d_reference(&x, &ws[i], NULL, &ps[i], &want), SEGC_OK);
        assert_close_rel(&got, &want, "channel slice");
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_conv2d_rejects_bad_shapes_and_params) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(110);
    const int64_t xs[4] = {1, 4, 6, 6}, ws[4] = {8, 4, 3, 3}, wbad[4] = {8, 3, 3, 3}, os[4] = {1, 8, 6, 6},
                  obad[4] = {1, 8, 5, 6}, bbad[1] = {7}, tiny[4] = {1, 4, 1, 1};
    segc_tensor x = rand_tensor(&a, &r, 4, xs), w = rand_tensor(&a, &r, 4, ws), wb = rand_tensor(&a, &r, 4, wbad),
                out = nan_tensor(&a, 4, os), ob = nan_tensor(&a, 4, obad), bb = rand_tensor(&a, &r, 1, bbad),
                xt = rand_tensor(&a, &r, 4, tiny), t;
    segc_conv2d_params p = segc_conv2d_params_make(1, 1, 1, 1);
    ck_assert_int_eq(segc_conv2d(&a, &x, &w, NULL, &p, &out), SEGC_OK);
    ck_assert_int_eq(segc_conv2d(&a, &x, &wb, NULL, &p, &out), SEGC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "weight"));
    ck_assert_int_eq(segc_conv2d(&a, &x, &w, NULL, &p, &ob), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_conv2d(&a, &x, &w, &bb, &p, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_conv2d(&a, &x, NULL, NULL, &p, &out), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_conv2d(&a, &x, &w, NULL, NULL, &out), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_conv2d(NULL, &x, &w, NULL, &p, &out), SEGC_ERR_INVALID_ARG);   /* im2col needs scratch */
    segc_conv2d_params q = p;
    q.groups = 3;   /* 4 channels are not divisible by 3 */
    ck_assert_int_eq(segc_conv2d(&a, &x, &w, NULL, &q, &out), SEGC_ERR_SHAPE);
    q = p, q.stride_w = 0;
    ck_assert_int_eq(segc_conv2d(&a, &x, &w, NULL, &q, &out), SEGC_ERR_INVALID_ARG);
    q = p, q.pad_h = -1;
    ck_assert_int_eq(segc_conv2d(&a, &x, &w, NULL, &q, &out), SEGC_ERR_INVALID_ARG);
    q = p, q.act = (segc_act)99;
    ck_assert_int_eq(segc_conv2d(&a, &x, &w, NULL, &q, &out), SEGC_ERR_INVALID_ARG);
    q = segc_conv2d_params_make(1, 0, 1, 1);   /* a 1x1 input with a 3x3 kernel and no padding */
    ck_assert_int_eq(segc_conv2d_new(&a, &xt, &w, NULL, &q, &t), SEGC_ERR_SHAPE);
    segc_tensor xp;   /* an NHWC tensor viewed as NCHW is refused, not misread */
    const int perm[4] = {0, 3, 1, 2};
    ck_assert_int_eq(segc_tensor_permute(&x, perm, &xp), SEGC_OK);
    ck_assert_int_eq(segc_conv2d(&a, &xp, &w, NULL, &p, &out), SEGC_ERR_INVALID_ARG);
    segc_tensor xh = x;
    xh.dtype = SEGC_F16;
    ck_assert_int_eq(segc_conv2d(&a, &xh, &w, NULL, &p, &out), SEGC_ERR_UNSUPPORTED);
    /* conv2d_new: allocates the right shape, and on failure gives the memory back */
    size_t before = a.in_use;
    ck_assert_int_eq(segc_conv2d_new(&a, &x, &wb, NULL, &p, &t), SEGC_ERR_SHAPE);
    ck_assert_uint_eq(a.in_use, before);
    ck_assert_int_eq(segc_conv2d_new(&a, &x, &w, NULL, &p, &t), SEGC_OK);
    ck_assert(segc_tensor_has_shape(&t, 4, os));
    test_assert_close(t.data, out.data, 8 * 36, 0, 0, "conv2d_new equals conv2d");
    /* out_dim follows PyTorch and says 0 for impossible sizes */
    ck_assert_int_eq(segc_conv2d_out_dim(33, 3, 1, 12, 12), 33);
    ck_assert_int_eq(segc_conv2d_out_dim(7, 3, 2, 1, 1), 4);
    ck_assert_int_eq(segc_conv2d_out_dim(1, 3, 2, 0, 1), 0);
    ck_assert_int_eq(segc_conv2d_out_dim(5, 3, 0, 0, 1), 0);
    segc_arena_free(&a);
}
END_TEST

/* One transposed-conv case vs the scatter oracle. */
static void check_convt(segc_arena *a, test_rng *r, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int k,
                        int stride, int pad, int with_bias) {
    segc_arena_mark mark = segc_arena_get_mark(a);
    const int64_t xs[4] = {N, C, H, W}, ws[4] = {C, K, k, k}, bs[1] = {K};
    const int64_t os[4] = {N, K, (H - 1) * stride - 2 * pad + k, (W - 1) * stride - 2 * pad + k};
    segc_tensor x = rand_tensor(a, r, 4, xs), w = rand_tensor(a, r, 4, ws), b = rand_tensor(a, r, 1, bs),
                got = nan_tensor(a, 4, os), want = nan_tensor(a, 4, os);
    char what[128];
    snprintf(what, sizeof what, "convT x[%lld,%lld,%lld,%lld] K%lld k%d s%d p%d bias%d", (long long)N, (long long)C,
             (long long)H, (long long)W, (long long)K, k, stride, pad, with_bias);
    size_t in_use = a->in_use;
    ck_assert_msg(segc_conv_transpose2d(a, &x, &w, with_bias ? &b : NULL, stride, pad, &got) == SEGC_OK, "%s: %s",
                  what, segc_last_error());
    ck_assert_msg(a->in_use == in_use, "%s: scratch not released", what);
    ck_assert_int_eq(segc_conv_transpose2d_reference(&x, &w, with_bias ? &b : NULL, stride, pad, &want), SEGC_OK);
    assert_close_rel(&got, &want, what);
    segc_arena_release(a, mark);
}

START_TEST(test_conv_transpose_k2s2_k4s2p1_and_general_match_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(111);
    for (int it = 0; it < 4; it++) {
        int64_t N = 1 + (it & 1), C = test_rng_int(&r, 1, 9), H = test_rng_int(&r, 1, 9), W = test_rng_int(&r, 1, 11),
                K = test_rng_int(&r, 1, 7);
        check_convt(&a, &r, N, C, H, W, K, 2, 2, 0, it & 1);
        check_convt(&a, &r, N, C, H + 1, W + 1, K, 4, 2, 1, !(it & 1));
    }
    check_convt(&a, &r, 1, 3, 5, 4, 2, 3, 1, 0, 1);   /* stride 1: plain full correlation */
    check_convt(&a, &r, 1, 3, 5, 4, 2, 3, 3, 1, 1);   /* stride = kernel with cropping */
    check_convt(&a, &r, 2, 2, 4, 3, 3, 5, 2, 2, 0);   /* overlapping taps, pad < kernel */
    check_convt(&a, &r, 1, 3, 110, 40, 256, 2, 2, 0, 1);   /* ~160 KiB of col per input row: tiles */
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_conv_transpose_rejects_bad_shapes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(112);
    const int64_t xs[4] = {1, 3, 4, 4}, ws[4] = {3, 2, 2, 2}, wbad[4] = {2, 2, 2, 2}, os[4] = {1, 2, 8, 8},
                  obad[4] = {1, 2, 7, 8};
    segc_tensor x = rand_tensor(&a, &r, 4, xs), w = rand_tensor(&a, &r, 4, ws), wb = rand_tensor(&a, &r, 4, wbad),
                out = nan_tensor(&a, 4, os), ob = nan_tensor(&a, 4, obad);
    ck_assert_int_eq(segc_conv_transpose2d(&a, &x, &w, NULL, 2, 0, &out), SEGC_OK);
    ck_assert_int_eq(segc_conv_transpose2d(&a, &x, &wb, NULL, 2, 0, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_conv_transpose2d(&a, &x, &w, NULL, 2, 0, &ob), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_conv_transpose2d(&a, &x, &w, NULL, 0, 0, &out), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_conv_transpose2d(&a, &x, &w, NULL, 1, 5, &out), SEGC_ERR_SHAPE);   /* no output */
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_fold_batchnorm_equals_conv_then_batchnorm) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(113);
    const int64_t K = 6, xs[4] = {2, 4, 7, 9}, ws[4] = {K, 4, 3, 3}, ks[1] = {K}, os[4] = {2, K, 7, 9};
    const float eps = 1e-5f;
    segc_tensor x = rand_tensor(&a, &r, 4, xs), w = rand_tensor(&a, &r, 4, ws), b = rand_tensor(&a, &r, 1, ks),
                gamma = rand_tensor(&a, &r, 1, ks), beta = rand_tensor(&a, &r, 1, ks),
                mean = rand_tensor(&a, &r, 1, ks), var = rand_tensor(&a, &r, 1, ks), plain = nan_tensor(&a, 4, os),
                folded = nan_tensor(&a, 4, os);
    test_fill_uniform(&r, var.data, K, 0.1f, 2.0f);
    segc_conv2d_params p = segc_conv2d_params_make(1, 1, 1, 1);
    ck_assert_int_eq(segc_conv2d_reference(&x, &w, &b, &p, &plain), SEGC_OK);
    /* BN written out: (y - mean) / sqrt(var + eps) * gamma + beta */
    float *y = plain.data;
    const float *gd = gamma.data, *btd = beta.data, *md = mean.data, *vd = var.data;
    for (int64_t i = 0; i < segc_tensor_numel(&plain); i++) {
        int64_t k = (i / 63) % K;
        y[i] = (float)(((double)y[i] - md[k]) / sqrt((double)vd[k] + eps) * gd[k] + btd[k]);
    }
    ck_assert_int_eq(segc_fold_batchnorm(&w, &b, &gamma, &beta, &mean, &var, eps), SEGC_OK);
    ck_assert_int_eq(segc_conv2d(&a, &x, &w, &b, &p, &folded), SEGC_OK);
    assert_close_rel(&folded, &plain, "folded conv vs conv + BN");
    /* a negative variance is refused and nothing is modified */
    segc_tensor w0;
    ck_assert_int_eq(segc_tensor_contiguous(&a, &w, &w0), SEGC_OK);
    ((float *)var.data)[3] = -1.0f;
    ck_assert_int_eq(segc_fold_batchnorm(&w, &b, &gamma, &beta, &mean, &var, eps), SEGC_ERR_INVALID_ARG);
    test_assert_close(w.data, w0.data, (size_t)segc_tensor_numel(&w), 0, 0, "weight untouched");
    const int64_t k5[1] = {5};
    segc_tensor short_beta = rand_tensor(&a, &r, 1, k5);
    ck_assert_int_eq(segc_fold_batchnorm(&w, &b, &gamma, &short_beta, &mean, &var, eps), SEGC_ERR_SHAPE);
    segc_arena_free(&a);
}
END_TEST

/* Loads tests/data/conv/<name>_<part>.npy. */
static void load_fixture(const char *name, const char *part, segc_npy *out) {
    char path[512];
    snprintf(path, sizeof path, "%s/conv/%s_%s.npy", test_data_dir(), name, part);
    ck_assert_msg(segc_npy_read(path, out) == SEGC_OK, "%s: %s", path, segc_last_error());
}

/* Runs a PyTorch fixture case through segc (conv2d or transposed) and compares with torch's output. */
static void check_fixture(const char *name, const segc_conv2d_params *p, int transposed, int stride, int pad) {
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_npy nx, nw, nb, no;
    load_fixture(name, "x", &nx), load_fixture(name, "w", &nw), load_fixture(name, "b", &nb);
    load_fixture(name, "out", &no);
    segc_tensor x = segc_npy_tensor(&nx), w = segc_npy_tensor(&nw), b = segc_npy_tensor(&nb),
                want = segc_npy_tensor(&no), got = nan_tensor(&a, 4, want.shape);
    segc_status st = transposed ? segc_conv_transpose2d(&a, &x, &w, &b, stride, pad, &got)
                                : segc_conv2d(&a, &x, &w, &b, p, &got);
    ck_assert_msg(st == SEGC_OK, "%s: %s", name, segc_last_error());
    assert_close_rel(&got, &want, name);
    if (!transposed) {   /* the oracle itself must agree with PyTorch too */
        ck_assert_int_eq(segc_conv2d_reference(&x, &w, &b, p, &got), SEGC_OK);
        assert_close_rel(&got, &want, name);
    } else {
        ck_assert_int_eq(segc_conv_transpose2d_reference(&x, &w, &b, stride, pad, &got), SEGC_OK);
        assert_close_rel(&got, &want, name);
    }
    segc_npy_free(&nx), segc_npy_free(&nw), segc_npy_free(&nb), segc_npy_free(&no);
    segc_arena_free(&a);
}

START_TEST(test_conv_matches_pytorch_fixtures) {
    segc_conv2d_params asym = {.stride_h = 2, .stride_w = 1, .pad_h = 2, .pad_w = 1, .dilation_h = 2,
                               .dilation_w = 3, .groups = 2, .act = SEGC_ACT_NONE};
    check_fixture("asym", &asym, 0, 0, 0);
    segc_conv2d_params atrous = segc_conv2d_params_make(1, 3, 3, 1), dw = segc_conv2d_params_make(2, 1, 1, 5);
    check_fixture("atrous", &atrous, 0, 0, 0);
    check_fixture("dw", &dw, 0, 0, 0);
    check_fixture("convt_k2s2", NULL, 1, 2, 0);
    check_fixture("convt_k4s2p1", NULL, 1, 2, 1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_conv2d_1x1_matches_reference);
    tcase_add_test(tc, test_conv2d_3x3_pad1_and_7x7_stride2_pad3_match_reference);
    tcase_add_test(tc, test_conv2d_stride2_on_odd_inputs_matches_reference);
    tcase_add_test(tc, test_conv2d_dilated_atrous_matches_reference);
    tcase_add_test(tc, test_conv2d_grouped_matches_reference);
    tcase_add_test(tc, test_conv2d_depthwise_matches_reference);
    tcase_add_test(tc, test_conv2d_each_activation_on_every_path_matches_reference);
    tcase_add_test(tc, test_conv2d_large_output_tiles_im2col);
    tcase_add_test(tc, test_conv2d_packed_panels_and_blocks_match_reference);
    tcase_add_test(tc, test_conv2d_1x1_without_scratch_matches_reference);
    tcase_add_test(tc, test_conv2d_residual_matches_conv_then_add);
    tcase_add_test(tc, test_conv2d_is_deterministic_for_a_thread_count);
    tcase_add_test(tc, test_conv2d_batch_of_small_images_matches_reference);
    tcase_add_test(tc, test_conv2d_accepts_a_channel_slice_of_a_larger_tensor);
    tcase_add_test(tc, test_conv2d_rejects_bad_shapes_and_params);
    tcase_add_test(tc, test_conv_transpose_k2s2_k4s2p1_and_general_match_reference);
    tcase_add_test(tc, test_conv_transpose_rejects_bad_shapes);
    tcase_add_test(tc, test_fold_batchnorm_equals_conv_then_batchnorm);
    tcase_add_test(tc, test_conv_matches_pytorch_fixtures);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
