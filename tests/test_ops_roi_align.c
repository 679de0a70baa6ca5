/* test_ops_roi_align.c - torchvision.ops.roi_align. Oracles: the plain loop segc_roi_align_reference
   (torchvision's bilinear_interpolate per sample), closed-form cases, and torchvision 0.14 outputs from
   tests/gen/fixtures_sampling.py (rois partly and fully outside the map, inverted, sub-pixel; aligned
   both ways; sampling_ratio 0 (adaptive), 1, 2, 3; 7x7 and 14x14 outputs). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "ops/roi_align.h"
#include "test_util.h"

#define ROI_ATOL 2e-6
#define ROI_RTOL 1e-5

static segc_npy load(const char *name) {
    char path[1024];
    segc_npy n;
    snprintf(path, sizeof path, "%s/sampling/%s.npy", test_data_dir(), name);
    ck_assert_msg(segc_npy_read(path, &n) == SEGC_OK, "%s", segc_last_error());
    return n;
}

static segc_tensor new_tensor(segc_arena *a, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new_f32(a, &t, 4, d0, d1, d2, d3), SEGC_OK);
    segc_tensor_fill_f32(&t, NAN);
    return t;
}

static segc_roi_align_params params(int ph, int pw, float scale, int sampling, int aligned) {
    segc_roi_align_params p = {ph, pw, scale, sampling, aligned};
    return p;
}

START_TEST(test_roi_align_matches_torchvision_fixtures) {
    segc_npy nx = load("roi_x"), nr = load("roi_rois"), nc = load("roi_cases");
    segc_tensor x = segc_npy_tensor(&nx), rois = segc_npy_tensor(&nr);
    ck_assert_int_eq(nc.ndim, 2);
    ck_assert_int_eq(nc.shape[1], 6);
    segc_arena a;
    segc_arena_init(&a, 0);
    char name[64], what[128];
    const float *row = nc.data;
    for (int64_t i = 0; i < nc.shape[0]; i++, row += 6) {
        segc_roi_align_params p = params((int)row[2], (int)row[3], row[4] / row[5], (int)row[1], (int)row[0]);
        snprintf(name, sizeof name, "roi_%lld", (long long)i);
        segc_npy want = load(name);
        segc_tensor got, ref = new_tensor(&a, rois.shape[0], x.shape[1], p.pooled_h, p.pooled_w);
        ck_assert_msg(segc_roi_align_new(&a, &x, &rois, &p, &got) == SEGC_OK, "%s", segc_last_error());
        ck_assert_int_eq(segc_roi_align_reference(&x, &rois, &p, &ref), SEGC_OK);
        ck_assert_int_eq(segc_npy_numel(&want), segc_tensor_numel(&got));
        snprintf(what, sizeof what, "case %lld (aligned %d, sampling %d, %dx%d): fast vs torchvision", (long long)i,
                 p.aligned, p.sampling_ratio, p.pooled_h, p.pooled_w);
        test_assert_close(got.data, want.data, (size_t)segc_npy_numel(&want), ROI_ATOL, ROI_RTOL, what);
        snprintf(what, sizeof what, "case %lld: reference vs torchvision", (long long)i);
        test_assert_close(ref.data, want.data, (size_t)segc_npy_numel(&want), ROI_ATOL, ROI_RTOL, what);
        segc_npy_free(&want);
    }
    segc_arena_free(&a);
    segc_npy_free(&nx), segc_npy_free(&nr), segc_npy_free(&nc);
}
END_TEST

/* Random maps (strided view), random rois in and around the map, every parameter combination. */
START_TEST(test_roi_align_fast_matches_reference_on_random_rois) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(31);
    char what[128];
    for (int iter = 0; iter < 40; iter++) {
        segc_arena_mark m = segc_arena_get_mark(&a);
        int64_t N = test_rng_int(&r, 1, 3), C = test_rng_int(&r, 1, 5), H = test_rng_int(&r, 1, 23);
        int64_t W = test_rng_int(&r, 1, 23), K = test_rng_int(&r, 1, 9);
        segc_tensor big = new_tensor(&a, N, C + 1, H, W), x;
        test_fill_uniform(&r, big.data, (size_t)segc_tensor_numel(&big), -1, 1);
        ck_assert_int_eq(segc_tensor_narrow(&big, 1, 1, C, &x), SEGC_OK);
        const float scales[3] = {1.0f, 0.5f, 0.25f};
        segc_roi_align_params p = params(test_rng_int(&r, 1, 8), test_rng_int(&r, 1, 8), scales[iter % 3],
                                         test_rng_int(&r, -1, 3), (iter / 3) % 2);
        segc_tensor rois;
        ck_assert_int_eq(segc_tensor_new_f32(&a, &rois, 2, K, 5, 0, 0), SEGC_OK);
        float *rd = rois.data;
        for (int64_t k = 0; k < K; k++) {
            float ext_w = (float)W / p.spatial_scale, ext_h = (float)H / p.spatial_scale;
            rd[5 * k] = (float)test_rng_int(&r, 0, (int)N - 1);
            rd[5 * k + 1] = test_rng_uniform(&r, -0.3f * ext_w, ext_w);
            rd[5 * k + 2] = test_rng_uniform(&r, -0.3f * ext_h, ext_h);
            rd[5 * k + 3] = rd[5 * k + 1] + test_rng_uniform(&r, p.aligned ? 0.0f : -2.0f, 0.8f * ext_w);
            rd[5 * k + 4] = rd[5 * k + 2] + test_rng_uniform(&r, p.aligned ? 0.0f : -2.0f, 0.8f * ext_h);
        }
        segc_tensor got = new_tensor(&a, K, C, p.pooled_h, p.pooled_w), want = new_tensor(&a, K, C, p.pooled_h,
                                                                                         p.pooled_w);
        ck_assert_msg(segc_roi_align(&a, &x, &rois, &p, &got) == SEGC_OK, "%s", segc_last_error());
        ck_assert_int_eq(segc_roi_align_reference(&x, &rois, &p, &want), SEGC_OK);
        snprintf(what, sizeof what, "iter %d: %dx%d scale %g sampling %d aligned %d", iter, p.pooled_h, p.pooled_w,
                 (double)p.spatial_scale, p.sampling_ratio, p.aligned);
        test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&got), ROI_ATOL, ROI_RTOL, what);
        segc_arena_release(&a, m);
    }
    segc_arena_free(&a);
}
END_TEST

/* A constant map pools to the constant wherever every sample is inside; a roi far outside pools to 0;
   a huge adaptive roi (150 x 103 samples per bin) still matches the reference. */
START_TEST(test_roi_align_closed_form_cases) {
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_tensor x = new_tensor(&a, 1, 2, 9, 11), out;
    segc_tensor_fill_f32(&x, 3.5f);
    const float rd[15] = {0, 1, 1, 8, 6, 0, -50, -50, -30, -30, 0, -0.9f, -0.9f, 12.5f, 10.5f};
    segc_tensor rois = segc_tensor_f32((float *)rd, 2, 3, 5, 0, 0);
    segc_roi_align_params p = params(3, 4, 1.0f, 0, 1);
    ck_assert_int_eq(segc_roi_align_new(&a, &x, &rois, &p, &out), SEGC_OK);
    for (int i = 0; i < 24; i++) ck_assert(fabsf(((float *)out.data)[i] - 3.5f) < 1e-6f);
    for (int i = 24; i < 48; i++) ck_assert(((float *)out.data)[i] == 0.0f);
    segc_tensor big = new_tensor(&a, 1, 1, 300, 310), want;
    test_rng r = test_rng_new(33);
    test_fill_uniform(&r, big.data, (size_t)segc_tensor_numel(&big), -1, 1);
    const float hr[5] = {0, -3, 2, 305, 297};
    segc_tensor huge = segc_tensor_f32((float *)hr, 2, 1, 5, 0, 0);
    p = params(2, 3, 1.0f, 0, 0);
    ck_assert_int_eq(segc_roi_align_new(&a, &big, &huge, &p, &out), SEGC_OK);
    want = new_tensor(&a, 1, 1, 2, 3);
    ck_assert_int_eq(segc_roi_align_reference(&big, &huge, &p, &want), SEGC_OK);
    test_assert_close(out.data, want.data, 6, 1e-5, 1e-4, "huge roi");
    segc_arena_free(&a);
}
END_TEST

/* MultiScaleRoIAlign's pattern: each level computes only its rois, all into one output. */
START_TEST(test_roi_align_subset_writes_only_its_rows) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(34);
    segc_tensor x = new_tensor(&a, 2, 3, 12, 10);
    test_fill_uniform(&r, x.data, (size_t)segc_tensor_numel(&x), -1, 1);
    const float rd[20] = {0, 1, 2, 15, 18, 1, 0, 0, 19, 23, 1, 4, 4, 9, 7, 0, -3, 5, 11, 30};
    segc_tensor rois = segc_tensor_f32((float *)rd, 2, 4, 5, 0, 0);
    segc_roi_align_params p = params(7, 7, 0.5f, 2, 0);
    segc_tensor full, part = new_tensor(&a, 4, 3, 7, 7);
    ck_assert_int_eq(segc_roi_align_new(&a, &x, &rois, &p, &full), SEGC_OK);
    const int64_t idx[2] = {3, 1};
    ck_assert_int_eq(segc_roi_align_subset(&a, &x, &rois, idx, 2, &p, &part), SEGC_OK);
    const size_t per = 3 * 7 * 7;
    for (int k = 0; k < 4; k++) {
        const float *pk = (const float *)part.data + k * per, *fk = (const float *)full.data + k * per;
        for (size_t i = 0; i < per; i++) {
            if (k == 1 || k == 3) ck_assert(pk[i] == fk[i]);
            else ck_assert(isnan(pk[i]));
        }
    }
    const int64_t bad[1] = {4};
    ck_assert_int_eq(segc_roi_align_subset(&a, &x, &rois, bad, 1, &p, &part), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_roi_align_subset(&a, &x, &rois, NULL, 1, &p, &part), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_roi_align_subset(&a, &x, &rois, idx, 0, &p, &part), SEGC_OK);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_roi_align_rejects_bad_input) {
    segc_arena a;
    segc_arena_init(&a, 0);
    float buf[256] = {0};
    segc_tensor x = segc_tensor_f32(buf, 4, 1, 2, 4, 4), out = segc_tensor_f32(buf + 64, 4, 1, 2, 2, 2);
    float rd[5] = {0, 0, 0, 3, 3};
    segc_tensor rois = segc_tensor_f32(rd, 2, 1, 5, 0, 0);
    segc_roi_align_params p = params(2, 2, 1.0f, 2, 0);
    ck_assert_int_eq(segc_roi_align(&a, &x, &rois, &p, &out), SEGC_OK);
    ck_assert_int_eq(segc_roi_align(&a, NULL, &rois, &p, &out), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_roi_align(&a, &x, &rois, NULL, &out), SEGC_ERR_INVALID_ARG);
    segc_roi_align_params bad = params(0, 2, 1.0f, 2, 0);
    ck_assert_int_eq(segc_roi_align(&a, &x, &rois, &bad, &out), SEGC_ERR_INVALID_ARG);
    bad = params(2, 2, NAN, 2, 0);
    ck_assert_int_eq(segc_roi_align(&a, &x, &rois, &bad, &out), SEGC_ERR_INVALID_ARG);
    segc_tensor r4 = segc_tensor_f32(rd, 2, 1, 4, 0, 0);
    ck_assert_int_eq(segc_roi_align(&a, &x, &r4, &p, &out), SEGC_ERR_SHAPE);
    segc_tensor x0 = segc_tensor_f32(buf, 4, 1, 2, 0, 4);
    ck_assert_int_eq(segc_roi_align(&a, &x0, &rois, &p, &out), SEGC_ERR_SHAPE);
    segc_tensor ob = segc_tensor_f32(buf + 64, 4, 1, 2, 3, 2);
    ck_assert_int_eq(segc_roi_align(&a, &x, &rois, &p, &ob), SEGC_ERR_SHAPE);
    const float bad_rois[5][5] = {{1, 0, 0, 3, 3},   {-1, 0, 0, 3, 3}, {0.5f, 0, 0, 3, 3},
                                  {0, NAN, 0, 3, 3}, {0, 0, 0, 1e30f, 3}};
    for (int i = 0; i < 5; i++) {
        memcpy(rd, bad_rois[i], sizeof rd);
        segc_tensor_fill_f32(&out, 7.0f);
        ck_assert_int_eq(segc_roi_align(&a, &x, &rois, &p, &out), SEGC_ERR_INVALID_ARG);
        ck_assert_int_eq(segc_roi_align_reference(&x, &rois, &p, &out), SEGC_ERR_INVALID_ARG);
        ck_assert(((float *)out.data)[0] == 7.0f);   /* nothing written */
        ck_assert(strlen(segc_last_error()) > 0);
    }
    /* a huge roi with adaptive sampling would need ~1e10 samples per bin */
    const float hr[5] = {0, 0, 0, 4e5f, 4e5f};
    memcpy(rd, hr, sizeof rd);
    p.sampling_ratio = 0;
    ck_assert_int_eq(segc_roi_align(&a, &x, &rois, &p, &out), SEGC_ERR_INVALID_ARG);
    /* no scratch arena */
    memcpy(rd, bad_rois[0], sizeof rd);
    rd[0] = 0;
    p.sampling_ratio = 2;
    ck_assert_int_eq(segc_roi_align(NULL, &x, &rois, &p, &out), SEGC_ERR_INVALID_ARG);
    /* the scratch is released: the arena is back where it was */
    size_t in_use = a.in_use;
    ck_assert_int_eq(segc_roi_align(&a, &x, &rois, &p, &out), SEGC_OK);
    ck_assert_uint_eq(a.in_use, in_use);
    /* zero rois is fine */
    segc_tensor none = segc_tensor_f32(rd, 2, 0, 5, 0, 0), o0;
    ck_assert_int_eq(segc_roi_align_new(&a, &x, &none, &p, &o0), SEGC_OK);
    ck_assert_int_eq(o0.shape[0], 0);
    segc_tensor o1 = segc_tensor_f32(NULL, 4, 0, 2, 2, 2);   /* no detections: nothing to pool */
    ck_assert_int_eq(segc_roi_align(&a, &x, &none, &p, &o1), SEGC_OK);
    segc_arena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_roi_align");
    TCase *tc = tcase_create("roi_align");
    tcase_add_test(tc, test_roi_align_matches_torchvision_fixtures);
    tcase_add_test(tc, test_roi_align_fast_matches_reference_on_random_rois);
    tcase_add_test(tc, test_roi_align_closed_form_cases);
    tcase_add_test(tc, test_roi_align_subset_writes_only_its_rows);
    tcase_add_test(tc, test_roi_align_rejects_bad_input);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
