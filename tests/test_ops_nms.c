/* test_ops_nms.c - NMS and batched NMS against torchvision fixtures (clustered boxes, equal scores;
   tests/gen/fixtures_elem.py), the fast path against the O(N^2) reference on random clustered boxes
   with many ties, the strictly-greater threshold rule, the box helpers, and the error paths. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "ops/nms.h"
#include "test_util.h"

static void assert_same_keep(const int64_t *got, int64_t ngot, const int64_t *want, int64_t nwant, const char *what) {
    ck_assert_msg(ngot == nwant, "%s: kept %lld, want %lld", what, (long long)ngot, (long long)nwant);
    for (int64_t i = 0; i < nwant; i++)
        ck_assert_msg(got[i] == want[i], "%s: keep[%lld] = %lld, want %lld", what, (long long)i, (long long)got[i],
                      (long long)want[i]);
}

/* Runs fast and reference NMS (batched if the fixture has ids) and compares both with torchvision. */
static void check_fixture(const char *prefix) {
    char name[64];
    segc_npy boxes, scores, thr, keep, ids = {0};
    snprintf(name, sizeof name, "%s_boxes", prefix), test_read_fixture("elem", name, &boxes);
    snprintf(name, sizeof name, "%s_scores", prefix), test_read_fixture("elem", name, &scores);
    snprintf(name, sizeof name, "%s_thr", prefix), test_read_fixture("elem", name, &thr);
    snprintf(name, sizeof name, "%s_keep", prefix), test_read_fixture("elem", name, &keep);
    int batched = prefix[0] == 'b';
    if (batched) snprintf(name, sizeof name, "%s_ids", prefix), test_read_fixture("elem", name, &ids);
    segc_tensor b = segc_npy_tensor(&boxes), s = segc_npy_tensor(&scores);
    int64_t n = b.shape[0], nk = segc_npy_numel(&keep), count = -1;
    int64_t *got = malloc(sizeof(int64_t) * (size_t)n), *want = malloc(sizeof(int64_t) * (size_t)nk);
    for (int64_t i = 0; i < nk; i++) want[i] = ((const int32_t *)keep.data)[i];
    double t = ((const float *)thr.data)[0];   /* the script ran torchvision with this float32 value */
    segc_arena a;
    segc_arena_init(&a, 0);
    for (int ref = 0; ref < 2; ref++) {
        segc_status st;
        if (batched)
            st = ref ? segc_batched_nms_reference(&a, &b, &s, ids.data, t, got, &count)
                     : segc_batched_nms(&a, &b, &s, ids.data, t, got, &count);
        else
            st = ref ? segc_nms_reference(&a, &b, &s, t, got, &count) : segc_nms(&a, &b, &s, t, got, &count);
        ck_assert_msg(st == SEGC_OK, "%s", segc_last_error());
        snprintf(name, sizeof name, "%s (%s)", prefix, ref ? "reference" : "fast");
        assert_same_keep(got, count, want, nk, name);
    }
    ck_assert_int_eq((long long)a.in_use, 0);   /* scratch released */
    segc_arena_free(&a);
    free(got), free(want);
    segc_npy_free(&boxes), segc_npy_free(&scores), segc_npy_free(&thr), segc_npy_free(&keep);
    if (batched) segc_npy_free(&ids);
}

START_TEST(test_nms_matches_torchvision_fixtures) {
    check_fixture("nms_ties");
    check_fixture("nms_many");
    check_fixture("bnms_many");
    check_fixture("bnms_ties");
}
END_TEST

START_TEST(test_nms_fast_matches_reference_on_random_clusters) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(61);
    for (int it = 0; it < 20; it++) {
        int64_t n = test_rng_int(&r, 0, 400);
        int classes = test_rng_int(&r, 1, 6), levels = test_rng_int(&r, 1, 8);
        double thr = test_rng_uniform(&r, 0.1f, 0.9f);
        int64_t shape[2] = {n, 4};
        segc_tensor b, s;
        ck_assert_int_eq(segc_tensor_new(&a, SEGC_F32, 2, shape, &b), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new(&a, SEGC_F32, 1, &n, &s), SEGC_OK);
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n + 1));
        int64_t *got = malloc(sizeof(int64_t) * (size_t)(n + 1)), *want = malloc(sizeof(int64_t) * (size_t)(n + 1));
        float *bd = b.data, *sd = s.data;
        for (int64_t i = 0; i < n; i++) {
            float cx = 10.0f * test_rng_int(&r, 0, 5) + test_rng_uniform(&r, -3, 3);
            float cy = 10.0f * test_rng_int(&r, 0, 5) + test_rng_uniform(&r, -3, 3);
            float w = test_rng_uniform(&r, 0, 15), h = test_rng_uniform(&r, 0, 15);   /* some empty */
            bd[4 * i] = cx - w / 2, bd[4 * i + 1] = cy - h / 2, bd[4 * i + 2] = cx + w / 2, bd[4 * i + 3] = cy + h / 2;
            sd[i] = (float)test_rng_int(&r, 0, levels) / (float)levels;   /* many equal scores */
            ids[i] = 3 * test_rng_int(&r, 0, classes - 1) - 4;
        }
        int64_t cg = -1, cw = -2;
        ck_assert_int_eq(segc_nms(&a, &b, &s, thr, got, &cg), SEGC_OK);
        ck_assert_int_eq(segc_nms_reference(&a, &b, &s, thr, want, &cw), SEGC_OK);
        assert_same_keep(got, cg, want, cw, "nms");
        ck_assert_int_eq(segc_batched_nms(&a, &b, &s, ids, thr, got, &cg), SEGC_OK);
        ck_assert_int_eq(segc_batched_nms_reference(&a, &b, &s, ids, thr, want, &cw), SEGC_OK);
        assert_same_keep(got, cg, want, cw, "batched_nms");
        for (int64_t i = 1; i < cg; i++) ck_assert(sd[got[i - 1]] >= sd[got[i]]);
        free(ids), free(got), free(want);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_nms_suppresses_only_strictly_above_threshold) {
    /* box 1 covers half of box 0 and box 0 covers all of box 1: IoU = 50 / 100 = 0.5 exactly */
    float bd[8] = {0, 0, 10, 10, 0, 0, 10, 5};
    float sd[2] = {0.9f, 0.8f};
    segc_tensor b = segc_tensor_f32(bd, 2, 2, 4, 0, 0), s = segc_tensor_f32(sd, 1, 2, 0, 0, 0);
    int64_t keep[2], count;
    segc_arena a;
    segc_arena_init(&a, 0);
    ck_assert_float_eq(segc_box_iou(bd, bd + 4), 0.5f);
    ck_assert_int_eq(segc_nms(&a, &b, &s, 0.5, keep, &count), SEGC_OK);
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(segc_nms(&a, &b, &s, 0.49, keep, &count), SEGC_OK);
    ck_assert_int_eq(count, 1);
    ck_assert_int_eq(keep[0], 0);
    /* NaN score counts as the largest, as torch.sort */
    sd[1] = NAN;
    ck_assert_int_eq(segc_nms(&a, &b, &s, 0.3, keep, &count), SEGC_OK);
    ck_assert_int_eq(count, 1);
    ck_assert_int_eq(keep[0], 1);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_remove_small_and_clip_boxes) {
    float bd[12] = {-5, 2, 30, 8, 0, 0, 0.5f, 10, 3, -1, 40, 50};
    segc_tensor b = segc_tensor_f32(bd, 2, 3, 4, 0, 0);
    int64_t keep[3], count;
    ck_assert_int_eq(segc_remove_small_boxes(&b, 1.0f, keep, &count), SEGC_OK);
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(keep[0], 0);
    ck_assert_int_eq(keep[1], 2);
    ck_assert_int_eq(segc_clip_boxes_to_image(&b, 20, 25), SEGC_OK);
    const float want[12] = {0, 2, 25, 8, 0, 0, 0.5f, 10, 3, 0, 25, 20};
    for (int i = 0; i < 12; i++) ck_assert_float_eq(bd[i], want[i]);
    ck_assert_int_eq(segc_clip_boxes_to_image(&b, -1, 5), SEGC_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_nms_rejects_bad_inputs) {
    float bd[12] = {0}, sd[4] = {0};
    int32_t ids[3] = {0};
    int64_t keep[4], count;
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_tensor b3 = segc_tensor_f32(bd, 2, 4, 3, 0, 0), b = segc_tensor_f32(bd, 2, 3, 4, 0, 0);
    segc_tensor s4 = segc_tensor_f32(sd, 1, 4, 0, 0, 0), s3 = segc_tensor_f32(sd, 1, 3, 0, 0, 0);
    int64_t sh[1] = {3};
    segc_tensor si = segc_tensor_wrap(SEGC_I32, 1, sh, ids);
    ck_assert_int_eq(segc_nms(&a, &b3, &s4, 0.5, keep, &count), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_nms(&a, &b, &s4, 0.5, keep, &count), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_nms(&a, &b, &si, 0.5, keep, &count), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_nms(&a, &b, &s3, 0.5, NULL, &count), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_batched_nms(&a, &b, &s3, NULL, 0.5, keep, &count), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_batched_nms(&a, &b, &s3, ids, 0.5, keep, &count), SEGC_OK);
    ck_assert_int_eq(count, 3);   /* three empty boxes: IoU 0/0 is NaN, never above: all kept (as torchvision) */
    segc_arena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_nms");
    TCase *tc = tcase_create("nms");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_nms_matches_torchvision_fixtures);
    tcase_add_test(tc, test_nms_fast_matches_reference_on_random_clusters);
    tcase_add_test(tc, test_nms_suppresses_only_strictly_above_threshold);
    tcase_add_test(tc, test_remove_small_and_clip_boxes);
    tcase_add_test(tc, test_nms_rejects_bad_inputs);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
