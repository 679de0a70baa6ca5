/* test_ops_resize.c - F.interpolate: nearest, nearest-exact, bilinear (align_corners both ways,
   antialias), bicubic; by size and by scale_factor. Oracles: the plain loops segc_resize_reference and
   PyTorch 1.13 outputs from tests/gen/fixtures_sampling.py (tests/data/sampling/resize_*.npy, inputs
   rebuilt here from the generator's integer pattern); with ../shared present, SAM 2.1's reference
   preprocessing (antialiased Resize to 1024x1024), its mask upsampling (low-res logits -> H x W) and
   Mask R-CNN's GeneralizedRCNNTransform resize. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/image.h"
#include "io/npy.h"
#include "ops/resize.h"
#include "test_util.h"

/* Float agreement: PyTorch and the fast path sum float products in the same order; the reference sums
   in double. Values are in [-1, 1] (bicubic overshoots a little); tight enough to see a source coordinate
   rounded to float on the long-row fixtures (errors ~5e-6). */
#define RESIZE_ATOL 1e-6
#define RESIZE_RTOL 1e-6
/* Bicubic: PyTorch evaluates the cubic coefficients in a different order (measured up to 1.4e-6). */
#define BICUBIC_ATOL 2e-6

static segc_tensor new_tensor(segc_arena *a, int64_t n, int64_t c, int64_t h, int64_t w) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new_f32(a, &t, 4, n, c, h, w), SEGC_OK);
    segc_tensor_fill_f32(&t, NAN);   /* anything not written shows up */
    return t;
}

static segc_tensor rand_tensor(segc_arena *a, test_rng *r, int64_t n, int64_t c, int64_t h, int64_t w) {
    segc_tensor t = new_tensor(a, n, c, h, w);
    test_fill_uniform(r, t.data, (size_t)segc_tensor_numel(&t), -1, 1);
    return t;
}

/* The generator's input: x[n,c,i,j] = ((i*7919 + j*104729 + c*1299709 + n*15485863) % 1000) / 500 - 1. */
static segc_tensor pattern_tensor(segc_arena *a, int64_t N, int64_t C, int64_t H, int64_t W) {
    segc_tensor t = new_tensor(a, N, C, H, W);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < H; i++)
                for (int64_t j = 0; j < W; j++) {
                    int64_t k = (i * 7919 + j * 104729 + c * 1299709 + n * 15485863) % 1000;
                    *segc_at4(&t, n, c, i, j) = (float)((double)k / 500.0 - 1.0);
                }
    return t;
}

/* Contiguous copy of a (possibly strided) tensor, for comparisons. */
static segc_tensor dense(segc_arena *a, const segc_tensor *t) {
    segc_tensor d;
    ck_assert_int_eq(segc_tensor_contiguous(a, t, &d), SEGC_OK);
    return d;
}

/* Runs fast path and reference on x into fresh outputs of size (ho, wo) and compares them. */
static void check_fast_vs_reference(segc_arena *a, const segc_tensor *x, const segc_resize_params *p, int64_t ho,
                                    int64_t wo, const char *what) {
    segc_tensor got = new_tensor(a, x->shape[0], x->shape[1], ho, wo);
    segc_tensor want = new_tensor(a, x->shape[0], x->shape[1], ho, wo);
    ck_assert_msg(segc_resize(a, x, p, &got) == SEGC_OK, "%s: %s", what, segc_last_error());
    ck_assert_msg(segc_resize_reference(x, p, &want) == SEGC_OK, "%s: %s", what, segc_last_error());
    test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&got), RESIZE_ATOL, RESIZE_RTOL, what);
}

START_TEST(test_resize_matches_pytorch_fixtures) {
    char path[1024], what[160];
    segc_npy cases;
    snprintf(path, sizeof path, "%s/sampling/resize_cases.npy", test_data_dir());
    ck_assert_msg(segc_npy_read(path, &cases) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(cases.ndim, 2);
    ck_assert_int_eq(cases.shape[1], 13);
    segc_arena a;
    segc_arena_init(&a, 0);
    const float *row = cases.data;
    for (int64_t i = 0; i < cases.shape[0]; i++, row += 13) {
        segc_npy want;
        snprintf(path, sizeof path, "%s/sampling/resize_%lld.npy", test_data_dir(), (long long)i);
        ck_assert_msg(segc_npy_read(path, &want) == SEGC_OK, "%s", segc_last_error());
        segc_resize_params p = segc_resize_params_make((segc_resize_mode)row[6], (int)row[7]);
        p.antialias = (int)row[8];
        if (row[10] > 0) p.scale_h = (double)row[9] / (double)row[10];
        if (row[12] > 0) p.scale_w = (double)row[11] / (double)row[12];
        segc_arena_mark m = segc_arena_get_mark(&a);
        segc_tensor x = pattern_tensor(&a, (int64_t)row[0], (int64_t)row[1], (int64_t)row[2], (int64_t)row[3]);
        const int64_t ho = (int64_t)row[4], wo = (int64_t)row[5];
        if (p.scale_h > 0) {
            ck_assert_int_eq(segc_resize_out_dim(x.shape[2], p.scale_h), ho);
            ck_assert_int_eq(segc_resize_out_dim(x.shape[3], p.scale_w), wo);
        }
        ck_assert_int_eq(segc_npy_numel(&want), x.shape[0] * x.shape[1] * ho * wo);
        segc_tensor got = new_tensor(&a, x.shape[0], x.shape[1], ho, wo);
        segc_tensor ref = new_tensor(&a, x.shape[0], x.shape[1], ho, wo);
        ck_assert_msg(segc_resize(&a, &x, &p, &got) == SEGC_OK, "case %lld: %s", (long long)i, segc_last_error());
        ck_assert_msg(segc_resize_reference(&x, &p, &ref) == SEGC_OK, "%s", segc_last_error());
        int nearest = p.mode == SEGC_RESIZE_NEAREST || p.mode == SEGC_RESIZE_NEAREST_EXACT;
        double atol = nearest ? 0 : (p.mode == SEGC_RESIZE_BICUBIC ? BICUBIC_ATOL : RESIZE_ATOL);
        double rtol = nearest ? 0 : RESIZE_RTOL;
        snprintf(what, sizeof what, "case %lld (mode %d, align_corners %d, antialias %d): fast vs PyTorch",
                 (long long)i, (int)p.mode, p.align_corners, p.antialias);
        test_assert_close(got.data, want.data, (size_t)segc_npy_numel(&want), atol, rtol, what);
        snprintf(what, sizeof what, "case %lld: reference vs PyTorch", (long long)i);
        test_assert_close(ref.data, want.data, (size_t)segc_npy_numel(&want), atol, rtol, what);
        segc_npy_free(&want);
        segc_arena_release(&a, m);
    }
    segc_npy_free(&cases);
    segc_arena_free(&a);
}
END_TEST

/* Random odd shapes, every mode, by size and by scale, through strided input and output views. */
START_TEST(test_resize_fast_matches_reference_on_random_shapes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(11);
    char what[160];
    for (int iter = 0; iter < 60; iter++) {
        segc_arena_mark m = segc_arena_get_mark(&a);
        int64_t N = test_rng_int(&r, 1, 2), C = test_rng_int(&r, 1, 5);
        int64_t H = test_rng_int(&r, 1, 40), W = test_rng_int(&r, 1, 40);
        segc_resize_params p = segc_resize_params_make((segc_resize_mode)(iter % 4), test_rng_int(&r, 0, 1));
        p.antialias = p.mode == SEGC_RESIZE_BILINEAR && test_rng_int(&r, 0, 1);
        int64_t ho, wo;
        if (iter % 3 == 0) {
            p.scale_h = test_rng_uniform(&r, 0.2f, 3.5f), p.scale_w = test_rng_uniform(&r, 0.2f, 3.5f);
            ho = segc_resize_out_dim(H, p.scale_h), wo = segc_resize_out_dim(W, p.scale_w);
            if (ho < 1 || wo < 1) {
                segc_arena_release(&a, m);
                continue;
            }
        } else {
            ho = test_rng_int(&r, 1, 50), wo = test_rng_int(&r, 1, 50);
        }
        /* x: channels [1, C+1) of a bigger map, so x.stride[1] and [0] are not those of its shape */
        segc_tensor big = rand_tensor(&a, &r, N, C + 2, H, W), x;
        ck_assert_int_eq(segc_tensor_narrow(&big, 1, 1, C, &x), SEGC_OK);
        snprintf(what, sizeof what, "iter %d: [%lld,%lld,%lld,%lld] -> %lldx%lld mode %d ac %d aa %d", iter,
                 (long long)N, (long long)C, (long long)H, (long long)W, (long long)ho, (long long)wo, (int)p.mode,
                 p.align_corners, p.antialias);
        check_fast_vs_reference(&a, &x, &p, ho, wo, what);
        /* strided output: a channel slice of a concat buffer, the other channels untouched */
        segc_tensor cat = rand_tensor(&a, &r, N, C + 3, ho, wo), slice, before = dense(&a, &cat);
        ck_assert_int_eq(segc_tensor_narrow(&cat, 1, 2, C, &slice), SEGC_OK);
        ck_assert_msg(segc_resize(&a, &x, &p, &slice) == SEGC_OK, "%s", segc_last_error());
        segc_tensor want = new_tensor(&a, N, C, ho, wo), got = dense(&a, &slice);
        ck_assert_int_eq(segc_resize_reference(&x, &p, &want), SEGC_OK);
        test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&want), RESIZE_ATOL, RESIZE_RTOL, what);
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C + 3; c++) {
                if (c >= 2 && c < C + 2) continue;
                ck_assert(memcmp(segc_at4(&cat, n, c, 0, 0), segc_at4(&before, n, c, 0, 0),
                                 (size_t)(ho * wo) * sizeof(float)) == 0);
            }
        segc_arena_release(&a, m);
    }
    segc_arena_free(&a);
}
END_TEST

/* Antialias only changes downscaling: upscaling (and the same size) equals plain bilinear. */
START_TEST(test_resize_antialias_upscale_equals_bilinear) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(5);
    for (int iter = 0; iter < 20; iter++) {
        int64_t H = test_rng_int(&r, 2, 20), W = test_rng_int(&r, 2, 20);
        int64_t ho = H + test_rng_int(&r, 0, 25), wo = W + test_rng_int(&r, 0, 25);
        segc_tensor x = rand_tensor(&a, &r, 1, 2, H, W), aa = new_tensor(&a, 1, 2, ho, wo), plain = new_tensor(&a, 1, 2, ho, wo);
        segc_resize_params p = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
        ck_assert_int_eq(segc_resize(&a, &x, &p, &plain), SEGC_OK);
        p.antialias = 1;
        ck_assert_int_eq(segc_resize(&a, &x, &p, &aa), SEGC_OK);
        test_assert_close(aa.data, plain.data, (size_t)segc_tensor_numel(&aa), 2e-6, 1e-5, "antialias upscale");
    }
    segc_arena_free(&a);
}
END_TEST

/* Same size copies; nearest by 2 repeats each pixel in a 2x2 block (the FPN top-down path). */
START_TEST(test_resize_identity_and_nearest_by_two) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(6);
    segc_tensor x = rand_tensor(&a, &r, 2, 3, 9, 14), y;
    for (int mode = 0; mode < 4; mode++) {
        segc_resize_params p = segc_resize_params_make((segc_resize_mode)mode, 0);
        ck_assert_int_eq(segc_resize_new(&a, &x, &p, 9, 14, &y), SEGC_OK);
        test_assert_close(y.data, x.data, (size_t)segc_tensor_numel(&x), 0, 0, "same size");
    }
    ck_assert_int_eq(segc_resize_scale_new(&a, &x, SEGC_RESIZE_NEAREST, 0, 2.0, 2.0, &y), SEGC_OK);
    ck_assert_int_eq(y.shape[2], 18);
    ck_assert_int_eq(y.shape[3], 28);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t c = 0; c < 3; c++)
            for (int64_t i = 0; i < 18; i++)
                for (int64_t j = 0; j < 28; j++)
                    ck_assert(*segc_at4(&y, n, c, i, j) == *segc_at4(&x, n, c, i / 2, j / 2));
    segc_arena_free(&a);
}
END_TEST

/* resize_add accumulates: out0 + resize(x), for every mode. */
START_TEST(test_resize_add_accumulates) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(8);
    for (int mode = 0; mode < 4; mode++) {
        segc_tensor x = rand_tensor(&a, &r, 2, 3, 7, 11), acc = rand_tensor(&a, &r, 2, 3, 20, 13);
        segc_tensor base = dense(&a, &acc), y = new_tensor(&a, 2, 3, 20, 13);
        segc_resize_params p = segc_resize_params_make((segc_resize_mode)mode, 0);
        ck_assert_int_eq(segc_resize_add(&a, &x, &p, &acc), SEGC_OK);
        ck_assert_int_eq(segc_resize(&a, &x, &p, &y), SEGC_OK);
        float *yd = y.data, *bd = base.data;
        for (int64_t i = 0; i < segc_tensor_numel(&y); i++) yd[i] += bd[i];
        test_assert_close(acc.data, y.data, (size_t)segc_tensor_numel(&y), 0, 0, "resize_add");
    }
    segc_arena_free(&a);
}
END_TEST

/* One plane split into row blocks between threads gives the same bits as one thread. */
START_TEST(test_resize_independent_of_thread_count) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(9);
    segc_tensor x = rand_tensor(&a, &r, 1, 1, 57, 43), y1 = new_tensor(&a, 1, 1, 301, 97);
    segc_tensor y2 = new_tensor(&a, 1, 1, 301, 97);
    for (int mode = 0; mode < 4; mode++) {
        segc_resize_params p = segc_resize_params_make((segc_resize_mode)mode, 1);
        int saved = omp_get_max_threads();
        omp_set_num_threads(1);
        ck_assert_int_eq(segc_resize(&a, &x, &p, &y1), SEGC_OK);
        omp_set_num_threads(4);
        ck_assert_int_eq(segc_resize(&a, &x, &p, &y2), SEGC_OK);
        omp_set_num_threads(saved);
        ck_assert(memcmp(y1.data, y2.data, sizeof(float) * 301 * 97) == 0);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_resize_out_dim_follows_pytorch) {
    ck_assert_int_eq(segc_resize_out_dim(37, 0.3), 11);
    ck_assert_int_eq(segc_resize_out_dim(7, 2.5), 17);
    ck_assert_int_eq(segc_resize_out_dim(10, 0.05), 0);
    ck_assert_int_eq(segc_resize_out_dim(10, 0), -1);
    ck_assert_int_eq(segc_resize_out_dim(10, -2), -1);
    ck_assert_int_eq(segc_resize_out_dim(10, NAN), -1);
    ck_assert_int_eq(segc_resize_out_dim(10, INFINITY), -1);
}
END_TEST

START_TEST(test_resize_rejects_bad_input) {
    segc_arena a;
    segc_arena_init(&a, 0);
    float buf[64] = {0};
    segc_tensor x = segc_tensor_f32(buf, 4, 1, 2, 4, 4), out = segc_tensor_f32(buf + 32, 4, 1, 2, 3, 3), y;
    segc_resize_params p = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    ck_assert_int_eq(segc_resize(&a, &x, NULL, &out), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_resize(&a, NULL, &p, &out), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_resize(NULL, &x, &p, &out), SEGC_ERR_INVALID_ARG);
    /* wrong dims, zero sizes, N/C mismatch */
    segc_tensor x3 = segc_tensor_f32(buf, 3, 2, 4, 4, 0);
    ck_assert_int_eq(segc_resize(&a, &x3, &p, &out), SEGC_ERR_SHAPE);
    segc_tensor x0 = segc_tensor_f32(buf, 4, 1, 2, 0, 4);
    ck_assert_int_eq(segc_resize(&a, &x0, &p, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_resize_reference(&x0, &p, &out), SEGC_ERR_SHAPE);
    segc_tensor oc = segc_tensor_f32(buf + 32, 4, 1, 3, 3, 3);
    ck_assert_int_eq(segc_resize(&a, &x, &p, &oc), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_resize_new(&a, &x, &p, 0, 5, &y), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_resize_scale_new(&a, &x, SEGC_RESIZE_BILINEAR, 0, 0.1, 1.0, &y), SEGC_ERR_SHAPE);
    /* last dim not contiguous */
    segc_tensor xt;
    const int perm[4] = {0, 1, 3, 2};
    ck_assert_int_eq(segc_tensor_permute(&x, perm, &xt), SEGC_OK);
    ck_assert_int_eq(segc_resize(&a, &xt, &p, &out), SEGC_ERR_SHAPE);
    /* bad params */
    segc_resize_params bad = p;
    bad.mode = (segc_resize_mode)7;
    ck_assert_int_eq(segc_resize(&a, &x, &bad, &out), SEGC_ERR_INVALID_ARG);
    bad = segc_resize_params_make(SEGC_RESIZE_BICUBIC, 0);
    bad.antialias = 1;
    ck_assert_int_eq(segc_resize(&a, &x, &bad, &out), SEGC_ERR_UNSUPPORTED);
    const double scales[4] = {-1.0, NAN, INFINITY, 1e-9};
    for (int i = 0; i < 4; i++) {
        bad = p;
        bad.scale_w = scales[i];
        ck_assert_int_eq(segc_resize(&a, &x, &bad, &out), SEGC_ERR_INVALID_ARG);
        ck_assert(strlen(segc_last_error()) > 0);
    }
    segc_tensor xi = segc_tensor_wrap(SEGC_I32, 4, x.shape, buf);
    ck_assert_int_eq(segc_resize(&a, &xi, &p, &out), SEGC_ERR_SHAPE);
    segc_arena_free(&a);
}
END_TEST

/* An output size paired with an unrelated scale_factor stays in bounds (ASan checks the reads). */
START_TEST(test_resize_inconsistent_scale_stays_in_bounds) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(10);
    segc_tensor x = rand_tensor(&a, &r, 1, 1, 5, 6), y = new_tensor(&a, 1, 1, 40, 3);
    for (int mode = 0; mode < 4; mode++)
        for (int aa = 0; aa < 2; aa++) {
            segc_resize_params p = segc_resize_params_make((segc_resize_mode)mode, 0);
            p.antialias = aa && mode == SEGC_RESIZE_BILINEAR;
            p.scale_h = 0.5, p.scale_w = 100.0;
            ck_assert_int_eq(segc_resize(&a, &x, &p, &y), SEGC_OK);
            for (int64_t i = 0; i < segc_tensor_numel(&y); i++) ck_assert(isfinite(((float *)y.data)[i]));
        }
    segc_arena_free(&a);
}
END_TEST

/* The SAM 2.1 reference case: input.png -> Normalize -> antialiased bilinear 1024x1024 (resize and the
   per-channel affine normalization commute up to float rounding), compared on the [::8, ::8] sample. */
START_TEST(test_resize_matches_sam2_reference_preprocessing) {
    const char *shared = test_shared_dir();
    if (!shared) {
        test_skip("../shared not found: SAM 2.1 preprocessing reference not checked");
        return;
    }
    char path[1024];
    segc_image img;
    snprintf(path, sizeof path, "%s/reference/sam2.1_tiny/truck_point/input.png", shared);
    ck_assert_msg(segc_image_load(path, &img) == SEGC_OK, "%s", segc_last_error());
    segc_npy want;
    snprintf(path, sizeof path, "%s/reference/sam2.1_tiny/truck_point/000_input_1024.sample.npy", shared);
    ck_assert_msg(segc_npy_read(path, &want) == SEGC_OK, "%s", segc_last_error());
    segc_arena a;
    segc_arena_init(&a, 0);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    segc_tensor x, y, sample = new_tensor(&a, 1, 3, 128, 128);
    ck_assert_int_eq(segc_image_normalize(&a, &img, mean, std, 0, &x), SEGC_OK);
    segc_resize_params p = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    p.antialias = 1;
    ck_assert_int_eq(segc_resize_new(&a, &x, &p, 1024, 1024, &y), SEGC_OK);
    for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < 128; i++)
            for (int64_t j = 0; j < 128; j++) *segc_at4(&sample, 0, c, i, j) = *segc_at4(&y, 0, c, 8 * i, 8 * j);
    ck_assert_int_eq(segc_npy_numel(&want), 3 * 128 * 128);
    test_assert_close(sample.data, want.data, 3 * 128 * 128, 2e-5, 0, "SAM 2.1 preprocessed input (sample)");
    segc_arena_free(&a);
    segc_npy_free(&want);
    segc_image_free(&img);
}
END_TEST

/* Mask R-CNN's GeneralizedRCNNTransform on the groceries case: Normalize, then bilinear
   (align_corners=False, recompute_scale_factor=True, so by size) to the reference's resized size, zero
   padding to a multiple of 32; compared on the [::8, ::8] sample of the padded batch. */
START_TEST(test_resize_matches_maskrcnn_reference_preprocessing) {
    const char *shared = test_shared_dir();
    if (!shared) {
        test_skip("../shared not found: Mask R-CNN preprocessing reference not checked");
        return;
    }
    char path[1024];
    segc_image img;
    segc_npy sizes, want;
    snprintf(path, sizeof path, "%s/reference/maskrcnn_r50_fpn/groceries/input.png", shared);
    ck_assert_msg(segc_image_load(path, &img) == SEGC_OK, "%s", segc_last_error());
    snprintf(path, sizeof path, "%s/reference/maskrcnn_r50_fpn/groceries/000_image_sizes.npy", shared);
    ck_assert_msg(segc_npy_read(path, &sizes) == SEGC_OK, "%s", segc_last_error());
    snprintf(path, sizeof path, "%s/reference/maskrcnn_r50_fpn/groceries/001_batched_input.sample.npy", shared);
    ck_assert_msg(segc_npy_read(path, &want) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(sizes.dtype, SEGC_I32);
    const int64_t ho = ((const int32_t *)sizes.data)[0], wo = ((const int32_t *)sizes.data)[1];
    segc_arena a;
    segc_arena_init(&a, 0);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    segc_tensor x, y;
    ck_assert_int_eq(segc_image_normalize(&a, &img, mean, std, 0, &x), SEGC_OK);
    segc_resize_params p = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    ck_assert_int_eq(segc_resize_new(&a, &x, &p, ho, wo, &y), SEGC_OK);
    const int64_t sh = want.shape[2], sw = want.shape[3];
    segc_tensor got = new_tensor(&a, 1, 3, sh, sw);
    for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < sh; i++)
            for (int64_t j = 0; j < sw; j++)
                *segc_at4(&got, 0, c, i, j) = 8 * i < ho && 8 * j < wo ? *segc_at4(&y, 0, c, 8 * i, 8 * j) : 0.0f;
    test_assert_close(got.data, want.data, (size_t)segc_npy_numel(&want), 1e-4, 0, "Mask R-CNN batched input");
    segc_arena_free(&a);
    segc_npy_free(&sizes), segc_npy_free(&want);
    segc_image_free(&img);
}
END_TEST

/* SAM 2.1's final masks: low-res logits [K,256,256] bilinearly resized (align_corners=False) to the
   600x900 input, then > 0, against the reference's packed masks. */
START_TEST(test_resize_matches_sam2_reference_masks) {
    const char *shared = test_shared_dir();
    if (!shared) {
        test_skip("../shared not found: SAM 2.1 mask upsampling reference not checked");
        return;
    }
    char path[1024];
    segc_npy logits, packed;
    snprintf(path, sizeof path, "%s/reference/sam2.1_tiny/truck_point/050_call0_low_res_logits.npy", shared);
    ck_assert_msg(segc_npy_read(path, &logits) == SEGC_OK, "%s", segc_last_error());
    snprintf(path, sizeof path, "%s/reference/sam2.1_tiny/truck_point/050_call0_masks_packbits.npy", shared);
    ck_assert_msg(segc_npy_read(path, &packed) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(logits.ndim, 3);
    ck_assert_int_eq(packed.ndim, 3);
    const int64_t K = logits.shape[0], H = packed.shape[1], W = 900, WB = packed.shape[2];
    ck_assert_int_eq(WB, (W + 7) / 8);
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_tensor x = segc_tensor_f32(logits.data, 4, 1, K, logits.shape[1], logits.shape[2]), y;
    segc_resize_params p = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    ck_assert_int_eq(segc_resize_new(&a, &x, &p, H, W, &y), SEGC_OK);
    int64_t differ = 0;
    const uint8_t *bits = packed.data;
    for (int64_t k = 0; k < K; k++)
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++) {
                int want = (bits[(k * H + i) * WB + j / 8] >> (7 - j % 8)) & 1;
                differ += (*segc_at4(&y, 0, k, i, j) > 0.0f) != want;
            }
    ck_assert_msg(differ <= K * H * W / 100000, "%lld of %lld mask pixels differ", (long long)differ,
                  (long long)(K * H * W));
    segc_arena_free(&a);
    segc_npy_free(&logits);
    segc_npy_free(&packed);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_resize");
    TCase *tc = tcase_create("resize");
    tcase_add_test(tc, test_resize_matches_pytorch_fixtures);
    tcase_add_test(tc, test_resize_fast_matches_reference_on_random_shapes);
    tcase_add_test(tc, test_resize_antialias_upscale_equals_bilinear);
    tcase_add_test(tc, test_resize_identity_and_nearest_by_two);
    tcase_add_test(tc, test_resize_add_accumulates);
    tcase_add_test(tc, test_resize_independent_of_thread_count);
    tcase_add_test(tc, test_resize_out_dim_follows_pytorch);
    tcase_add_test(tc, test_resize_rejects_bad_input);
    tcase_add_test(tc, test_resize_inconsistent_scale_stays_in_bounds);
    tcase_add_test(tc, test_resize_matches_sam2_reference_preprocessing);
    tcase_add_test(tc, test_resize_matches_sam2_reference_masks);
    tcase_add_test(tc, test_resize_matches_maskrcnn_reference_preprocessing);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
