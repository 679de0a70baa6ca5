/* test_ops_grid_sample.c - F.grid_sample (bilinear / nearest; zeros / border / reflection padding;
   align_corners both ways). Oracles: the plain loop segc_grid_sample_reference, closed-form cases, and
   PyTorch 1.13 outputs from tests/gen/fixtures_sampling.py (grid points outside [-1, 1] and exact
   half-pixel ties for nearest). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "ops/grid_sample.h"
#include "test_util.h"

#define GRID_ATOL 2e-6
#define GRID_RTOL 1e-5

static segc_tensor new_tensor(segc_arena *a, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new_f32(a, &t, 4, d0, d1, d2, d3), SEGC_OK);
    segc_tensor_fill_f32(&t, NAN);
    return t;
}

static segc_tensor rand_tensor(segc_arena *a, test_rng *r, int64_t d0, int64_t d1, int64_t d2, int64_t d3, float lo,
                               float hi) {
    segc_tensor t = new_tensor(a, d0, d1, d2, d3);
    test_fill_uniform(r, t.data, (size_t)segc_tensor_numel(&t), lo, hi);
    return t;
}

static segc_npy load(const char *name) {
    char path[1024];
    segc_npy n;
    snprintf(path, sizeof path, "%s/sampling/%s.npy", test_data_dir(), name);
    ck_assert_msg(segc_npy_read(path, &n) == SEGC_OK, "%s", segc_last_error());
    return n;
}

START_TEST(test_grid_sample_matches_pytorch_fixture) {
    segc_npy nx = load("grid_x"), ng = load("grid_grid"), no = load("grid_out");
    segc_tensor x = segc_npy_tensor(&nx), grid = segc_npy_tensor(&ng);
    ck_assert_int_eq(no.ndim, 5);  /* [(mode * 3 + padding) * 2 + align_corners, N, C, Ho, Wo] */
    segc_arena a;
    segc_arena_init(&a, 0);
    const size_t per = (size_t)(x.shape[0] * x.shape[1] * grid.shape[1] * grid.shape[2]);
    char what[128];
    for (int mode = 0; mode < 2; mode++)
        for (int pad = 0; pad < 3; pad++)
            for (int ac = 0; ac < 2; ac++) {
                const float *want = (const float *)no.data + ((mode * 3 + pad) * 2 + ac) * per;
                segc_tensor got, ref = new_tensor(&a, x.shape[0], x.shape[1], grid.shape[1], grid.shape[2]);
                ck_assert_msg(segc_grid_sample_new(&a, &x, &grid, (segc_grid_mode)mode, (segc_grid_padding)pad, ac,
                                                   &got) == SEGC_OK, "%s", segc_last_error());
                ck_assert_int_eq(segc_grid_sample_reference(&x, &grid, (segc_grid_mode)mode, (segc_grid_padding)pad,
                                                            ac, &ref), SEGC_OK);
                snprintf(what, sizeof what, "mode %d padding %d align_corners %d: fast vs PyTorch", mode, pad, ac);
                test_assert_close(got.data, want, per, GRID_ATOL, GRID_RTOL, what);
                snprintf(what, sizeof what, "mode %d padding %d align_corners %d: reference vs PyTorch", mode, pad, ac);
                test_assert_close(ref.data, want, per, GRID_ATOL, GRID_RTOL, what);
            }
    segc_arena_free(&a);
    segc_npy_free(&nx), segc_npy_free(&ng), segc_npy_free(&no);
}
END_TEST

/* A 517-pixel-wide map: the coordinate is unnormalized in float exactly as PyTorch's kernel does. */
START_TEST(test_grid_sample_matches_pytorch_on_a_long_map) {
    segc_npy nx = load("grid_long_x"), ng = load("grid_long_grid"), no = load("grid_long_out");
    segc_tensor x = segc_npy_tensor(&nx), grid = segc_npy_tensor(&ng);
    segc_arena a;
    segc_arena_init(&a, 0);
    const size_t per = (size_t)(grid.shape[1] * grid.shape[2]);
    ck_assert_int_eq(segc_npy_numel(&no), 2 * (int64_t)per);
    for (int ac = 0; ac < 2; ac++) {
        segc_tensor got;
        ck_assert_int_eq(segc_grid_sample_new(&a, &x, &grid, SEGC_GRID_BILINEAR, SEGC_GRID_PAD_ZEROS, ac, &got),
                         SEGC_OK);
        test_assert_close(got.data, (const float *)no.data + ac * per, per, 1e-6, 1e-6, "long map");
    }
    segc_arena_free(&a);
    segc_npy_free(&nx), segc_npy_free(&ng), segc_npy_free(&no);
}
END_TEST

/* Random odd shapes, grid in [-1.5, 1.5], strided input; every mode, padding and align_corners. */
START_TEST(test_grid_sample_fast_matches_reference_on_random_shapes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(21);
    char what[128];
    for (int iter = 0; iter < 48; iter++) {
        segc_arena_mark m = segc_arena_get_mark(&a);
        int64_t N = test_rng_int(&r, 1, 2), C = test_rng_int(&r, 1, 6), H = test_rng_int(&r, 1, 17);
        int64_t W = test_rng_int(&r, 1, 17), Ho = test_rng_int(&r, 1, 19), Wo = test_rng_int(&r, 1, 300);
        segc_tensor big = rand_tensor(&a, &r, N, C, H + 3, W, -1, 1), x;
        ck_assert_int_eq(segc_tensor_narrow(&big, 2, 1, H, &x), SEGC_OK);
        segc_tensor grid = rand_tensor(&a, &r, N, Ho, Wo, 2, -1.5f, 1.5f);
        segc_grid_mode mode = (segc_grid_mode)(iter % 2);
        segc_grid_padding pad = (segc_grid_padding)((iter / 2) % 3);
        int ac = (iter / 6) % 2;
        segc_tensor got = new_tensor(&a, N, C, Ho, Wo), want = new_tensor(&a, N, C, Ho, Wo);
        ck_assert_int_eq(segc_grid_sample(&x, &grid, mode, pad, ac, &got), SEGC_OK);
        ck_assert_int_eq(segc_grid_sample_reference(&x, &grid, mode, pad, ac, &want), SEGC_OK);
        snprintf(what, sizeof what, "iter %d mode %d pad %d ac %d", iter, (int)mode, (int)pad, ac);
        test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&got), GRID_ATOL, GRID_RTOL, what);
        segc_arena_release(&a, m);
    }
    segc_arena_free(&a);
}
END_TEST

/* align_corners=1 with the grid of pixel centres reproduces the input; far outside gives 0 (zeros) or
   the edge pixel (border); NaN gives 0. */
START_TEST(test_grid_sample_closed_form_cases) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(22);
    const int64_t H = 5, W = 7;
    segc_tensor x = rand_tensor(&a, &r, 1, 2, H, W, -1, 1), grid = new_tensor(&a, 1, H, W, 2);
    float *g = grid.data;
    for (int64_t i = 0; i < H; i++)
        for (int64_t j = 0; j < W; j++) {
            g[(i * W + j) * 2] = -1.0f + 2.0f * (float)j / (float)(W - 1);
            g[(i * W + j) * 2 + 1] = -1.0f + 2.0f * (float)i / (float)(H - 1);
        }
    for (int mode = 0; mode < 2; mode++) {
        segc_tensor y = new_tensor(&a, 1, 2, H, W);
        ck_assert_int_eq(segc_grid_sample(&x, &grid, (segc_grid_mode)mode, SEGC_GRID_PAD_ZEROS, 1, &y), SEGC_OK);
        test_assert_close(y.data, x.data, (size_t)(2 * H * W), 1e-6, 0, "identity grid");
    }
    segc_tensor far = new_tensor(&a, 1, 1, 3, 2), y = new_tensor(&a, 1, 2, 1, 3);
    float *fg = far.data;
    const float pts[6] = {5.0f, 0.0f, -1e30f, 1e30f, NAN, 0.0f};
    memcpy(fg, pts, sizeof pts);
    for (int mode = 0; mode < 2; mode++) {
        ck_assert_int_eq(segc_grid_sample(&x, &far, (segc_grid_mode)mode, SEGC_GRID_PAD_ZEROS, 0, &y), SEGC_OK);
        for (int k = 0; k < 6; k++) ck_assert(((float *)y.data)[k] == 0.0f);
        ck_assert_int_eq(segc_grid_sample(&x, &far, (segc_grid_mode)mode, SEGC_GRID_PAD_BORDER, 0, &y), SEGC_OK);
        for (int c = 0; c < 2; c++) {
            const float *yc = (const float *)y.data + c * 3;
            ck_assert(fabsf(yc[0] - *segc_at4(&x, 0, c, 2, W - 1)) <= 1e-6f);   /* right edge, middle row */
            ck_assert(fabsf(yc[1] - *segc_at4(&x, 0, c, H - 1, 0)) <= 1e-6f);   /* bottom-left corner */
            ck_assert(yc[2] == 0.0f);                                            /* NaN */
        }
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_grid_sample_rejects_bad_input) {
    float buf[128] = {0};
    segc_tensor x = segc_tensor_f32(buf, 4, 1, 2, 3, 3), grid = segc_tensor_f32(buf + 32, 4, 1, 2, 2, 2);
    segc_tensor out = segc_tensor_f32(buf + 64, 4, 1, 2, 2, 2);
    ck_assert_int_eq(segc_grid_sample(&x, &grid, SEGC_GRID_BILINEAR, SEGC_GRID_PAD_ZEROS, 0, &out), SEGC_OK);
    ck_assert_int_eq(segc_grid_sample(NULL, &grid, SEGC_GRID_BILINEAR, SEGC_GRID_PAD_ZEROS, 0, &out),
                     SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_grid_sample(&x, &grid, (segc_grid_mode)5, SEGC_GRID_PAD_ZEROS, 0, &out),
                     SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_grid_sample(&x, &grid, SEGC_GRID_BILINEAR, (segc_grid_padding)9, 0, &out),
                     SEGC_ERR_INVALID_ARG);
    segc_tensor g3 = segc_tensor_f32(buf + 32, 4, 1, 2, 2, 3);       /* last dim not 2 */
    ck_assert_int_eq(segc_grid_sample(&x, &g3, SEGC_GRID_BILINEAR, SEGC_GRID_PAD_ZEROS, 0, &out), SEGC_ERR_SHAPE);
    segc_tensor gn = segc_tensor_f32(buf + 32, 4, 2, 1, 2, 2);       /* batch mismatch */
    ck_assert_int_eq(segc_grid_sample(&x, &gn, SEGC_GRID_BILINEAR, SEGC_GRID_PAD_ZEROS, 0, &out), SEGC_ERR_SHAPE);
    segc_tensor x0 = segc_tensor_f32(buf, 4, 1, 2, 0, 3);            /* zero size */
    ck_assert_int_eq(segc_grid_sample(&x0, &grid, SEGC_GRID_BILINEAR, SEGC_GRID_PAD_ZEROS, 0, &out), SEGC_ERR_SHAPE);
    segc_tensor x3 = segc_tensor_f32(buf, 3, 2, 3, 3, 0);            /* 3-D */
    ck_assert_int_eq(segc_grid_sample(&x3, &grid, SEGC_GRID_BILINEAR, SEGC_GRID_PAD_ZEROS, 0, &out), SEGC_ERR_SHAPE);
    segc_tensor ob = segc_tensor_f32(buf + 64, 4, 1, 3, 2, 2);       /* wrong out channels */
    ck_assert_int_eq(segc_grid_sample(&x, &grid, SEGC_GRID_BILINEAR, SEGC_GRID_PAD_ZEROS, 0, &ob), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_grid_sample_reference(&x, &grid, SEGC_GRID_BILINEAR, SEGC_GRID_PAD_ZEROS, 0, &ob),
                     SEGC_ERR_SHAPE);
    ck_assert(strlen(segc_last_error()) > 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_grid_sample");
    TCase *tc = tcase_create("grid_sample");
    tcase_add_test(tc, test_grid_sample_matches_pytorch_fixture);
    tcase_add_test(tc, test_grid_sample_matches_pytorch_on_a_long_map);
    tcase_add_test(tc, test_grid_sample_fast_matches_reference_on_random_shapes);
    tcase_add_test(tc, test_grid_sample_closed_form_cases);
    tcase_add_test(tc, test_grid_sample_rejects_bad_input);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
