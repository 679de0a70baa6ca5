/* test_ops_deform_attn.c - multi-scale deformable attention. Oracles: the double-precision loop
   segc_ms_deform_attn_reference (written with grid_sample's own unnormalization), closed-form cases,
   and a fixture from Deformable-DETR's ms_deform_attn_core_pytorch (tests/gen/fixtures_attention.py:
   4 levels of odd sizes, points outside the maps). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "ops/deform_attn.h"
#include "test_util.h"

static segc_tensor new_tensor(segc_arena *a, int ndim, const int64_t *shape) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, ndim, shape, &t), SEGC_OK);
    segc_tensor_fill_f32(&t, NAN);
    return t;
}

/* A random problem: value[B,S,M,D], locations in [lo, hi) (outside [0,1] allowed), weights in [0,1). */
typedef struct problem {
    int64_t B, M, D, Lq, P;
    int L;
    int64_t shapes[8][2];
    segc_tensor value, loc, weight;
} problem;

static problem random_problem(segc_arena *a, test_rng *r, int L, float lo, float hi) {
    problem p;
    memset(&p, 0, sizeof p);
    p.B = test_rng_int(r, 1, 2), p.M = test_rng_int(r, 1, 3), p.D = test_rng_int(r, 1, 19);
    p.Lq = test_rng_int(r, 1, 23), p.P = test_rng_int(r, 1, 4), p.L = L;
    int64_t S = 0;
    for (int l = 0; l < L; l++) {
        p.shapes[l][0] = test_rng_int(r, 1, 13), p.shapes[l][1] = test_rng_int(r, 1, 13);
        S += p.shapes[l][0] * p.shapes[l][1];
    }
    const int64_t vs[4] = {p.B, S, p.M, p.D}, ls[6] = {p.B, p.Lq, p.M, L, p.P, 2}, ws[5] = {p.B, p.Lq, p.M, L, p.P};
    p.value = test_rand_tensor(a, r, 4, vs, -1, 1);
    p.loc = test_rand_tensor(a, r, 6, ls, lo, hi);
    p.weight = test_rand_tensor(a, r, 5, ws, 0, 1);
    return p;
}

static segc_tensor new_out(segc_arena *a, const problem *p) {
    const int64_t os[3] = {p->B, p->Lq, p->M * p->D};
    return new_tensor(a, 3, os);
}

START_TEST(test_ms_deform_attn_matches_reference_on_random_problems) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(31);
    for (int it = 0; it < 20; it++) {
        problem p = random_problem(&a, &r, test_rng_int(&r, 1, 5), -0.3f, 1.3f);
        segc_tensor got = new_out(&a, &p), want = new_out(&a, &p);
        ck_assert_msg(segc_ms_deform_attn(&p.value, &p.shapes[0][0], NULL, p.L, &p.loc, &p.weight, &got) == SEGC_OK,
                      "%s", segc_last_error());
        ck_assert_int_eq(segc_ms_deform_attn_reference(&p.value, &p.shapes[0][0], NULL, p.L, &p.loc, &p.weight, &want),
                         SEGC_OK);
        char what[96];
        snprintf(what, sizeof what, "iteration %d: L %d P %lld D %lld", it, p.L, (long long)p.P, (long long)p.D);
        test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&got), 1e-5, 1e-5, what);
        segc_arena_reset(&a);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_ms_deform_attn_matches_deformable_detr_fixture) {
    char path[1024];
    const char *names[5] = {"deform_value", "deform_shapes", "deform_loc", "deform_weights", "deform_out"};
    segc_npy n[5];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/attention/%s.npy", test_data_dir(), names[i]);
        ck_assert_msg(segc_npy_read(path, &n[i]) == SEGC_OK, "%s", segc_last_error());
    }
    ck_assert_int_eq(n[1].dtype, SEGC_I32);
    ck_assert_int_eq(n[1].shape[0], 4);
    int64_t shapes[4][2];
    for (int i = 0; i < 8; i++) shapes[i / 2][i % 2] = ((const int32_t *)n[1].data)[i];
    segc_tensor value = segc_npy_tensor(&n[0]), loc = segc_npy_tensor(&n[2]), w = segc_npy_tensor(&n[3]);
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_tensor got, ref;
    ck_assert_msg(segc_ms_deform_attn_new(&a, &value, &shapes[0][0], NULL, 4, &loc, &w, &got) == SEGC_OK, "%s",
                  segc_last_error());
    ck_assert(segc_tensor_has_shape(&got, n[4].ndim, n[4].shape));
    test_assert_close(got.data, n[4].data, (size_t)segc_npy_numel(&n[4]), 2e-6, 1e-5, "fast vs Deformable-DETR");
    ref = new_tensor(&a, 3, got.shape);
    ck_assert_int_eq(segc_ms_deform_attn_reference(&value, &shapes[0][0], NULL, 4, &loc, &w, &ref), SEGC_OK);
    test_assert_close(ref.data, n[4].data, (size_t)segc_npy_numel(&n[4]), 2e-6, 1e-5, "oracle vs Deformable-DETR");
    /* the fixture really has points outside the maps */
    int outside = 0;
    for (int64_t i = 0; i < segc_npy_numel(&n[2]); i++) {
        float c = ((const float *)n[2].data)[i];
        outside += c < 0 || c > 1;
    }
    ck_assert_int_gt(outside, 0);
    segc_arena_free(&a);
    for (int i = 0; i < 5; i++) segc_npy_free(&n[i]);
}
END_TEST

/* A point at the centre of pixel (y, x) of a level, (x + 0.5) / W, samples exactly that pixel. */
START_TEST(test_ms_deform_attn_pixel_centres_sample_exact_values) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(32);
    problem p = random_problem(&a, &r, 3, 0, 1);
    float *loc = p.loc.data, *w = p.weight.data;
    int64_t n = segc_tensor_numel(&p.weight);
    int64_t starts[3] = {0, p.shapes[0][0] * p.shapes[0][1], 0};
    starts[2] = starts[1] + p.shapes[1][0] * p.shapes[1][1];
    /* each (b, q, m) puts all its weight on point 0 of level (q % L) at pixel ((q * 7) % H, (q * 5) % W) */
    for (int64_t i = 0; i < n; i++) {
        int64_t pt = i % p.P, l = (i / p.P) % p.L, q = (i / (p.P * p.L * p.M)) % p.Lq;
        int64_t H = p.shapes[l][0], W = p.shapes[l][1];
        w[i] = (l == q % p.L && pt == 0) ? 1.0f : 0.0f;
        loc[2 * i] = (float)(((q * 5) % W) + 0.5) / (float)W;
        loc[2 * i + 1] = (float)(((q * 7) % H) + 0.5) / (float)H;
    }
    segc_tensor out = new_out(&a, &p);
    ck_assert_int_eq(segc_ms_deform_attn(&p.value, &p.shapes[0][0], NULL, p.L, &p.loc, &p.weight, &out), SEGC_OK);
    const float *v = p.value.data, *o = out.data;
    for (int64_t b = 0; b < p.B; b++)
        for (int64_t q = 0; q < p.Lq; q++) {
            int64_t l = q % p.L, H = p.shapes[l][0], W = p.shapes[l][1];
            int64_t tok = starts[l] + ((q * 7) % H) * W + (q * 5) % W;
            for (int64_t m = 0; m < p.M; m++)
                for (int64_t d = 0; d < p.D; d++) {
                    float want = v[((b * p.value.shape[1] + tok) * p.M + m) * p.D + d];
                    float got = o[(b * p.Lq + q) * p.M * p.D + m * p.D + d];
                    ck_assert_msg(fabsf(got - want) <= 1e-6f, "b%lld q%lld m%lld d%lld: %g != %g", (long long)b,
                                  (long long)q, (long long)m, (long long)d, got, want);
                }
        }
    segc_arena_free(&a);
}
END_TEST

/* Points a pixel or more beyond the border see only zero padding; half a pixel out sees half. */
START_TEST(test_ms_deform_attn_zero_padding_outside_the_map) {
    segc_arena a;
    segc_arena_init(&a, 0);
    const int64_t vs[4] = {1, 6, 1, 2}, ls[6] = {1, 3, 1, 1, 1, 2}, ws[5] = {1, 3, 1, 1, 1};
    const int64_t shapes[1][2] = {{2, 3}};
    segc_tensor value = new_tensor(&a, 4, vs), loc = new_tensor(&a, 6, ls), w = new_tensor(&a, 5, ws);
    segc_tensor_fill_f32(&value, 1.0f);
    segc_tensor_fill_f32(&w, 1.0f);
    float *l = loc.data;
    l[0] = -1.0f / 3.0f, l[1] = 0.25f;         /* x pixel -1.5: both corners outside */
    l[2] = 0.5f, l[3] = 1.5f;                  /* y pixel 2.5: beyond the last row */
    l[4] = 0.0f, l[5] = 0.25f;                 /* x pixel -0.5: half the weight on column 0 */
    segc_tensor out;
    ck_assert_int_eq(segc_ms_deform_attn_new(&a, &value, &shapes[0][0], NULL, 1, &loc, &w, &out), SEGC_OK);
    const float *o = out.data;
    ck_assert_float_eq(o[0], 0.0f);
    ck_assert_float_eq(o[2], 0.0f);
    ck_assert_float_eq_tol(o[4], 0.5f, 1e-6f);
    ck_assert_float_eq_tol(o[5], 0.5f, 1e-6f);
    segc_arena_free(&a);
}
END_TEST

/* Explicit level starts may leave gaps (or reorder levels); the result must follow them. */
START_TEST(test_ms_deform_attn_honours_explicit_level_start) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(33);
    problem p = random_problem(&a, &r, 2, -0.1f, 1.1f);
    int64_t n0 = p.shapes[0][0] * p.shapes[0][1], n1 = p.shapes[1][0] * p.shapes[1][1];
    /* the same value with level 1 stored first, then 3 unused tokens, then level 0 */
    const int64_t vs[4] = {p.B, n1 + 3 + n0, p.M, p.D};
    segc_tensor v2 = test_rand_tensor(&a, &r, 4, vs, 100, 200);
    int64_t tok = p.M * p.D;
    for (int64_t b = 0; b < p.B; b++) {
        const float *src = (const float *)p.value.data + b * (n0 + n1) * tok;
        float *dst = (float *)v2.data + b * (n1 + 3 + n0) * tok;
        memcpy(dst, src + n0 * tok, (size_t)(n1 * tok) * sizeof(float));
        memcpy(dst + (n1 + 3) * tok, src, (size_t)(n0 * tok) * sizeof(float));
    }
    const int64_t starts[2] = {n1 + 3, 0};
    segc_tensor got = new_out(&a, &p), want = new_out(&a, &p);
    ck_assert_int_eq(segc_ms_deform_attn(&v2, &p.shapes[0][0], starts, 2, &p.loc, &p.weight, &got), SEGC_OK);
    ck_assert_int_eq(segc_ms_deform_attn_reference(&p.value, &p.shapes[0][0], NULL, 2, &p.loc, &p.weight, &want),
                     SEGC_OK);
    test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&got), 1e-5, 1e-5, "reordered levels");
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_ms_deform_attn_rejects_inconsistent_shapes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(34);
    problem p = random_problem(&a, &r, 2, 0, 1);
    segc_tensor out = new_out(&a, &p);
    int64_t bad_shapes[2][2] = {{p.shapes[0][0], p.shapes[0][1]}, {p.shapes[1][0] + 1, p.shapes[1][1]}};
    ck_assert_int_eq(segc_ms_deform_attn(&p.value, &bad_shapes[0][0], NULL, 2, &p.loc, &p.weight, &out),
                     SEGC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "level"));
    ck_assert_int_eq(segc_ms_deform_attn(&p.value, &p.shapes[0][0], NULL, 1, &p.loc, &p.weight, &out),
                     SEGC_ERR_SHAPE);
    const int64_t obad[3] = {p.B, p.Lq, p.M * p.D + 1};
    segc_tensor ob = new_tensor(&a, 3, obad);
    ck_assert_int_eq(segc_ms_deform_attn(&p.value, &p.shapes[0][0], NULL, 2, &p.loc, &p.weight, &ob), SEGC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "out"));
    const int64_t starts[2] = {0, p.value.shape[1]};   /* level 1 would start past the end */
    ck_assert_int_eq(segc_ms_deform_attn(&p.value, &p.shapes[0][0], starts, 2, &p.loc, &p.weight, &out),
                     SEGC_ERR_SHAPE);
    segc_arena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_deform_attn");
    TCase *tc = tcase_create("deform_attn");
    tcase_add_test(tc, test_ms_deform_attn_matches_reference_on_random_problems);
    tcase_add_test(tc, test_ms_deform_attn_matches_deformable_detr_fixture);
    tcase_add_test(tc, test_ms_deform_attn_pixel_centres_sample_exact_values);
    tcase_add_test(tc, test_ms_deform_attn_zero_padding_outside_the_map);
    tcase_add_test(tc, test_ms_deform_attn_honours_explicit_level_start);
    tcase_add_test(tc, test_ms_deform_attn_rejects_inconsistent_shapes);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
