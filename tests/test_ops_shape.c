/* test_ops_shape.c - concat (strided inputs, any dim), split / chunk / expand views, permute copies
   (tiled NCHW <-> NHWC path and the generic strided path) against the index-loop reference for every
   permutation of random shapes, flatten / unflatten, pad2d and repeat against index formulas written
   out here, and the error paths. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "ops/shape.h"
#include "test_util.h"

static segc_tensor rand_tensor(segc_arena *a, test_rng *r, int ndim, const int64_t *shape) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, ndim, shape, &t), SEGC_OK);
    test_fill_uniform(r, t.data, (size_t)segc_tensor_numel(&t), -4, 4);
    return t;
}

/* Element (i0..i3) of a 4-D float tensor of any strides. */
static float at(const segc_tensor *t, const int64_t *i) { return *segc_at4(t, i[0], i[1], i[2], i[3]); }

START_TEST(test_concat_of_strided_inputs_along_every_dim) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(51);
    for (int dim = -1; dim < 4; dim++) {
        int d = dim < 0 ? 3 : dim;
        int64_t base[4] = {2, 3, 4, 5};
        segc_tensor parts[3], views[3];
        const segc_tensor *in[3];
        for (int k = 0; k < 3; k++) {
            int64_t s[4] = {base[0], base[1], base[2], base[3]};
            s[d] = k + 1;
            /* inputs are permuted views of [.., W, H] memory: not contiguous */
            int64_t m[4] = {s[0], s[1], s[3], s[2]};
            const int swap[4] = {0, 1, 3, 2};
            parts[k] = rand_tensor(&a, &r, 4, m);
            ck_assert_int_eq(segc_tensor_permute(&parts[k], swap, &views[k]), SEGC_OK);
            in[k] = &views[k];
        }
        segc_tensor out;
        ck_assert_msg(segc_concat_new(&a, in, 3, dim, &out) == SEGC_OK, "%s", segc_last_error());
        ck_assert_int_eq(out.shape[d], 6);
        int64_t i[4];
        for (i[0] = 0; i[0] < out.shape[0]; i[0]++)
            for (i[1] = 0; i[1] < out.shape[1]; i[1]++)
                for (i[2] = 0; i[2] < out.shape[2]; i[2]++)
                    for (i[3] = 0; i[3] < out.shape[3]; i[3]++) {
                        int64_t j[4] = {i[0], i[1], i[2], i[3]};
                        int k = j[d] < 1 ? 0 : (j[d] < 3 ? 1 : 2);
                        j[d] -= k == 0 ? 0 : (k == 1 ? 1 : 3);
                        ck_assert_float_eq(at(&out, i), at(in[k], j));
                    }
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_split_chunk_and_expand_are_views) {
    float d[24];
    for (int i = 0; i < 24; i++) d[i] = (float)i;
    segc_tensor x = segc_tensor_f32(d, 3, 2, 6, 2, 0), parts[3];
    const int64_t sizes[3] = {1, 2, 3};
    ck_assert_int_eq(segc_split(&x, 1, sizes, 3, parts), SEGC_OK);
    ck_assert_int_eq(parts[2].shape[1], 3);
    ck_assert_ptr_eq(parts[2].data, d + 3 * 2);
    ck_assert_int_eq(segc_chunk(&x, -2, 3, parts), SEGC_OK);
    ck_assert_ptr_eq(parts[1].data, d + 2 * 2);
    ck_assert_int_eq(parts[1].shape[1], 2);
    ck_assert_int_eq(segc_chunk(&x, 1, 4, parts), SEGC_ERR_SHAPE);
    const int64_t bad[3] = {1, 2, 2};
    ck_assert_int_eq(segc_split(&x, 1, bad, 3, parts), SEGC_ERR_SHAPE);
    /* expand a [2,1,2] slice to [2,5,2] and copy it out */
    segc_tensor col, wide, dst;
    float o[20];
    ck_assert_int_eq(segc_tensor_narrow(&x, 1, 4, 1, &col), SEGC_OK);
    ck_assert_int_eq(segc_expand(&col, 1, 5, &wide), SEGC_OK);
    dst = segc_tensor_f32(o, 3, 2, 5, 2, 0);
    ck_assert_int_eq(segc_tensor_copy(&dst, &wide), SEGC_OK);
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 5; k++)
            for (int w = 0; w < 2; w++) ck_assert_float_eq(o[(n * 5 + k) * 2 + w], d[n * 12 + 4 * 2 + w]);
    ck_assert_int_eq(segc_expand(&x, 1, 7, &wide), SEGC_ERR_SHAPE);
}
END_TEST

/* All 24 permutations of 4 dims (Heap's order is not needed: enumerate with digits). */
static int next_perm(int *p, int n) {
    int i = n - 2;
    while (i >= 0 && p[i] > p[i + 1]) i--;
    if (i < 0) return 0;
    int j = n - 1;
    while (p[j] < p[i]) j--;
    int t = p[i];
    p[i] = p[j], p[j] = t;
    for (int l = i + 1, h = n - 1; l < h; l++, h--) t = p[l], p[l] = p[h], p[h] = t;
    return 1;
}

START_TEST(test_permute_copy_matches_reference_for_all_perms) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(52);
    for (int it = 0; it < 4; it++) {
        int64_t s[4] = {test_rng_int(&r, 1, 3), test_rng_int(&r, 1, 40), test_rng_int(&r, 1, 37),
                        test_rng_int(&r, 1, 35)};
        if (it == 0) s[0] = 2, s[1] = 70, s[2] = 33, s[3] = 31;   /* tiles + parallel path */
        segc_tensor x = rand_tensor(&a, &r, 4, s);
        int perm[4] = {0, 1, 2, 3};
        do {
            segc_tensor got, want, view;
            ck_assert_int_eq(segc_tensor_permute(&x, perm, &view), SEGC_OK);
            ck_assert_int_eq(segc_permute_new(&a, &x, perm, &got), SEGC_OK);
            ck_assert_int_eq(segc_tensor_new(&a, SEGC_F32, 4, view.shape, &want), SEGC_OK);
            ck_assert_int_eq(segc_permute_copy_reference(&x, perm, &want), SEGC_OK);
            char what[64];
            snprintf(what, sizeof what, "perm %d%d%d%d", perm[0], perm[1], perm[2], perm[3]);
            test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&x), 0, 0, what);
        } while (next_perm(perm, 4));
    }
    /* u8 through the generic path, NHWC -> NCHW */
    int64_t s[4] = {1, 5, 7, 3};
    uint8_t src[105], got[105], want[105];
    for (int i = 0; i < 105; i++) src[i] = (uint8_t)(i * 7);
    segc_tensor xs = segc_tensor_wrap(SEGC_U8, 4, s, src);
    int64_t o[4] = {1, 3, 5, 7};
    segc_tensor g = segc_tensor_wrap(SEGC_U8, 4, o, got), w = segc_tensor_wrap(SEGC_U8, 4, o, want);
    const int to_nchw[4] = {0, 3, 1, 2};
    ck_assert_int_eq(segc_nhwc_to_nchw(&xs, &g), SEGC_OK);
    ck_assert_int_eq(segc_permute_copy_reference(&xs, to_nchw, &w), SEGC_OK);
    ck_assert(!memcmp(got, want, 105));
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_flatten_and_unflatten_hw_round_trip) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(53);
    int64_t s[4] = {2, 6, 5, 7}, f[3] = {2, 35, 6};
    segc_tensor x = rand_tensor(&a, &r, 4, s), flat, back;
    ck_assert_int_eq(segc_tensor_new(&a, SEGC_F32, 3, f, &flat), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new(&a, SEGC_F32, 4, s, &back), SEGC_OK);
    ck_assert_int_eq(segc_flatten_hw(&x, &flat), SEGC_OK);
    const float *xd = x.data, *fd = flat.data;
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 6; c++)
            for (int p = 0; p < 35; p++) ck_assert_float_eq(fd[(n * 35 + p) * 6 + c], xd[(n * 6 + c) * 35 + p]);
    ck_assert_int_eq(segc_unflatten_hw(&flat, &back), SEGC_OK);
    test_assert_close(back.data, x.data, 420, 0, 0, "unflatten(flatten(x))");
    int64_t wrong[3] = {2, 34, 6};
    segc_tensor bad = flat;
    bad.shape[1] = wrong[1];
    ck_assert_int_eq(segc_unflatten_hw(&bad, &back), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_flatten_hw(&x, &bad), SEGC_ERR_SHAPE);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_pad2d_and_repeat_follow_index_formulas) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(54);
    int64_t s[4] = {2, 3, 4, 5};
    segc_tensor x = rand_tensor(&a, &r, 4, s), p, rep;
    ck_assert_int_eq(segc_pad2d_new(&a, &x, 1, 3, 2, 0, -7.0f, &p), SEGC_OK);
    ck_assert_int_eq(p.shape[2], 6);
    ck_assert_int_eq(p.shape[3], 9);
    int64_t i[4];
    for (i[0] = 0; i[0] < 2; i[0]++)
        for (i[1] = 0; i[1] < 3; i[1]++)
            for (i[2] = 0; i[2] < 6; i[2]++)
                for (i[3] = 0; i[3] < 9; i[3]++) {
                    int64_t y = i[2] - 2, xx = i[3] - 1;
                    int64_t j[4] = {i[0], i[1], y, xx};
                    float want = (y >= 0 && y < 4 && xx >= 0 && xx < 5) ? at(&x, j) : -7.0f;
                    ck_assert_float_eq(at(&p, i), want);
                }
    int64_t rs[4] = {2, 9, 4, 5};
    ck_assert_int_eq(segc_tensor_new(&a, SEGC_F32, 4, rs, &rep), SEGC_OK);
    ck_assert_int_eq(segc_repeat(&x, 1, 3, &rep), SEGC_OK);
    for (i[0] = 0; i[0] < 2; i[0]++)
        for (i[1] = 0; i[1] < 9; i[1]++)
            for (i[2] = 0; i[2] < 4; i[2]++)
                for (i[3] = 0; i[3] < 5; i[3]++) {
                    int64_t j[4] = {i[0], i[1] % 3, i[2], i[3]};
                    ck_assert_float_eq(at(&rep, i), at(&x, j));
                }
    ck_assert_int_eq(segc_pad2d_new(&a, &x, -1, 0, 0, 0, 0.0f, &p), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_repeat(&x, 1, 2, &rep), SEGC_ERR_SHAPE);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_shape_ops_reject_bad_inputs) {
    float d[24], o[24];
    uint8_t u[24];
    segc_tensor x = segc_tensor_f32(d, 3, 2, 3, 4, 0), y = segc_tensor_f32(o, 3, 2, 4, 3, 0);
    int64_t s3[3] = {2, 3, 4};
    segc_tensor xu = segc_tensor_wrap(SEGC_U8, 3, s3, u);
    const segc_tensor *in[2] = {&x, &y};
    float out[48];
    segc_tensor o6 = segc_tensor_f32(out, 3, 4, 3, 4, 0);
    ck_assert_int_eq(segc_concat(in, 2, 0, &o6), SEGC_ERR_SHAPE);      /* y is [2,4,3] */
    const segc_tensor *in2[2] = {&x, &xu};
    ck_assert_int_eq(segc_concat(in2, 2, 0, &o6), SEGC_ERR_SHAPE);     /* dtypes differ */
    const segc_tensor *in3[2] = {&x, &x};
    ck_assert_int_eq(segc_concat(in3, 2, 3, &o6), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_concat(in3, 2, 0, &o6), SEGC_OK);
    ck_assert_int_eq(segc_concat(in3, 0, 0, &o6), SEGC_ERR_INVALID_ARG);
    const int bad_perm[3] = {0, 0, 1}, perm[3] = {0, 2, 1};
    ck_assert_int_eq(segc_permute_copy(&x, bad_perm, &y), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_permute_copy(&x, perm, &y), SEGC_OK);
    ck_assert_int_eq(segc_permute_copy(&x, perm, &x), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_nchw_to_nhwc(&x, &y), SEGC_ERR_SHAPE);       /* not 4-D */
    segc_tensor p = segc_tensor_f32(o, 3, 2, 3, 4, 0);
    ck_assert_int_eq(segc_pad2d(&xu, 0, 0, 0, 0, 0.0f, &p), SEGC_ERR_UNSUPPORTED);
    ck_assert_int_eq(segc_pad2d(&x, 1, 0, 0, 0, 0.0f, &p), SEGC_ERR_SHAPE);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_shape");
    TCase *tc = tcase_create("shape");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_concat_of_strided_inputs_along_every_dim);
    tcase_add_test(tc, test_split_chunk_and_expand_are_views);
    tcase_add_test(tc, test_permute_copy_matches_reference_for_all_perms);
    tcase_add_test(tc, test_flatten_and_unflatten_hw_round_trip);
    tcase_add_test(tc, test_pad2d_and_repeat_follow_index_formulas);
    tcase_add_test(tc, test_shape_ops_reject_bad_inputs);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
