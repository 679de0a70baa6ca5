/* test_nn_mobilenetv2.c - the VainF MobileNetV2 inverted residual block: the fast path (zero-padded
   depthwise conv + recomputed border outputs for the port's constant border) against the port's literal
   computation (F.pad, expansion on the padded map, unpadded depthwise) on random weights and odd sizes,
   for every stride / dilation / expansion / residual combination the backbone uses. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "nn/mobilenetv2.h"
#include "test_util.h"

/* A block with random folded weights; biases in [-1, 3] so the border value relu6(bias) is often > 0. */
static segc_mbv2_block random_block(segc_arena *a, test_rng *r, int in, int hidden, int out, int stride,
                                    int dilation, int expand) {
    segc_mbv2_block b;
    memset(&b, 0, sizeof b);
    b.in_channels = in;
    b.hidden = expand ? hidden : in;
    b.out_channels = out;
    b.stride = stride;
    b.dilation = dilation;
    b.has_expand = expand;
    b.use_res = stride == 1 && in == out;
    int64_t hid = b.hidden;
    if (expand) {
        const int64_t ws[4] = {hid, in, 1, 1};
        b.expand_w = test_rand_tensor(a, r, 4, ws, -0.5f, 0.5f);
        b.expand_b = test_rand_tensor(a, r, 1, &hid, -1.0f, 3.0f);
    }
    const int64_t ds[4] = {hid, 1, 3, 3}, ps[4] = {out, hid, 1, 1};
    int64_t o = out;
    b.dw_w = test_rand_tensor(a, r, 4, ds, -0.5f, 0.5f);
    b.dw_b = test_rand_tensor(a, r, 1, &hid, -0.5f, 0.5f);
    b.project_w = test_rand_tensor(a, r, 4, ps, -0.5f, 0.5f);
    b.project_b = test_rand_tensor(a, r, 1, &o, -0.5f, 0.5f);
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, 1, &hid, &b.pad_value), SEGC_OK);
    float *v = b.pad_value.data;
    for (int64_t c = 0; c < hid; c++) {
        float x = expand ? ((float *)b.expand_b.data)[c] : 0.0f;
        v[c] = fminf(fmaxf(x, 0.0f), 6.0f);
    }
    return b;
}

START_TEST(test_mbv2_block_matches_port_padding_on_random_shapes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(7);
    /* stride, dilation, expand, residual (in == out) */
    static const int cases[][4] = {{1, 1, 0, 0}, {2, 1, 1, 0}, {1, 1, 1, 1}, {1, 2, 1, 1}, {1, 2, 1, 0},
                                   {1, 4, 1, 1}, {2, 1, 1, 0}, {1, 1, 0, 1}, {1, 4, 1, 0}, {2, 2, 1, 0}};
    for (size_t it = 0; it < sizeof cases / sizeof cases[0]; it++) {
        int stride = cases[it][0], dil = cases[it][1], expand = cases[it][2], res = cases[it][3];
        int in = test_rng_int(&r, 1, 9), hidden = in * test_rng_int(&r, 1, 6), out = res ? in : test_rng_int(&r, 1, 11);
        int64_t h = test_rng_int(&r, 1, 23), w = test_rng_int(&r, 1, 19);
        segc_arena_mark m = segc_arena_get_mark(&a);
        segc_mbv2_block b = random_block(&a, &r, in, hidden, out, stride, dil, expand);
        const int64_t xs[4] = {1, in, h, w};
        segc_tensor x = test_rand_tensor(&a, &r, 4, xs, -2.0f, 2.0f);
        int64_t p, q;
        segc_mbv2_block_out_size(&b, h, w, &p, &q);
        segc_tensor got, want;
        ck_assert_int_eq(segc_tensor_new_f32(&a, &got, 4, 1, out, p, q), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &want, 4, 1, out, p, q), SEGC_OK);
        segc_tensor_fill_f32(&got, NAN);
        ck_assert_msg(segc_mbv2_block_forward(&b, &a, &x, &got) == SEGC_OK, "%s", segc_last_error());
        ck_assert_msg(segc_mbv2_block_forward_reference(&b, &a, &x, &want) == SEGC_OK, "%s", segc_last_error());
        char what[128];
        snprintf(what, sizeof what, "case %zu: in %d hid %d out %d %lldx%lld s%d d%d", it, in, b.hidden, out,
                 (long long)h, (long long)w, stride, dil);
        test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&got), 1e-5, 1e-5, what);
        segc_arena_release(&a, m);
    }
    segc_arena_free(&a);
}
END_TEST

/* The border matters: with a positive border value the zero-padded result would differ. */
START_TEST(test_mbv2_block_border_value_changes_edges) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(3);
    segc_mbv2_block b = random_block(&a, &r, 4, 24, 4, 1, 2, 1);
    float *bias = b.expand_b.data, *v = b.pad_value.data;
    for (int c = 0; c < b.hidden; c++) bias[c] = v[c] = 1.5f;   /* border value 1.5 everywhere */
    const int64_t xs[4] = {1, 4, 9, 7};
    segc_tensor x = test_rand_tensor(&a, &r, 4, xs, -1.0f, 1.0f), got, want, zero_border;
    ck_assert_int_eq(segc_tensor_new_f32(&a, &got, 4, 1, 4, 9, 7), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&a, &want, 4, 1, 4, 9, 7), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&a, &zero_border, 4, 1, 4, 9, 7), SEGC_OK);
    ck_assert_int_eq(segc_mbv2_block_forward(&b, &a, &x, &got), SEGC_OK);
    ck_assert_int_eq(segc_mbv2_block_forward_reference(&b, &a, &x, &want), SEGC_OK);
    test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&got), 1e-5, 1e-5, "border 1.5");
    for (int c = 0; c < b.hidden; c++) v[c] = 0.0f;   /* what a torchvision-style zero pad would give */
    ck_assert_int_eq(segc_mbv2_block_forward(&b, &a, &x, &zero_border), SEGC_OK);
    size_t where;
    ck_assert(test_max_abs_diff(zero_border.data, want.data, (size_t)segc_tensor_numel(&got), &where) > 1e-3);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_mbv2_block_rejects_wrong_input) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(5);
    segc_mbv2_block b = random_block(&a, &r, 4, 24, 8, 2, 1, 1);
    const int64_t xs[4] = {1, 5, 8, 8};
    segc_tensor x = test_rand_tensor(&a, &r, 4, xs, -1.0f, 1.0f), out;
    ck_assert_int_eq(segc_tensor_new_f32(&a, &out, 4, 1, 8, 4, 4), SEGC_OK);
    ck_assert_int_eq(segc_mbv2_block_forward(&b, &a, &x, &out), SEGC_ERR_SHAPE);
    ck_assert(strstr(segc_last_error(), "input") != NULL);
    segc_arena_free(&a);
}
END_TEST

static Suite *mbv2_suite(void) {
    Suite *s = suite_create("nn_mobilenetv2");
    TCase *tc = tcase_create("block");
    tcase_add_test(tc, test_mbv2_block_matches_port_padding_on_random_shapes);
    tcase_add_test(tc, test_mbv2_block_border_value_changes_edges);
    tcase_add_test(tc, test_mbv2_block_rejects_wrong_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(mbv2_suite()); }
