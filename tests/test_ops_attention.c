/* test_ops_attention.c - scaled-dot-product attention, head layout helpers, Hiera windows and SAM 2's
   axial RoPE. Oracles: the double-precision loops segc_attention_reference / segc_rope_apply_reference,
   index formulas written out here, and fixtures from tests/gen/fixtures_attention.py (torch versions
   of sam2's compute_axial_cis / apply_rotary_enc / window_partition). */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "ops/attention.h"
#include "ops/rope.h"
#include "test_util.h"

/* Attention agreement with the double oracle: float sgemm and a polynomial exp. */
#define ATTN_ATOL 3e-5
#define ATTN_RTOL 1e-4

/* A contiguous float32 tensor from the arena filled with uniform values in [lo, hi). */
static segc_tensor new_tensor(segc_arena *a, int ndim, const int64_t *shape) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, ndim, shape, &t), SEGC_OK);
    segc_tensor_fill_f32(&t, NAN);   /* anything not written shows up */
    return t;
}

/* Runs segc_attention and the oracle on the same inputs and compares. */
static void check_attention(segc_arena *a, const segc_tensor *q, const segc_tensor *k, const segc_tensor *v,
                            const segc_tensor *mask, float scale, const char *what) {
    const int64_t shape[4] = {q->shape[0], q->shape[1], q->shape[2], v->shape[3]};
    segc_tensor got = new_tensor(a, 4, shape), want = new_tensor(a, 4, shape);
    ck_assert_msg(segc_attention(a, q, k, v, mask, scale, &got) == SEGC_OK, "%s: %s", what, segc_last_error());
    ck_assert_int_eq(segc_attention_reference(a, q, k, v, mask, scale, &want), SEGC_OK);
    test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&got), ATTN_ATOL, ATTN_RTOL, what);
}

START_TEST(test_attention_matches_reference_on_random_shapes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(11);
    for (int it = 0; it < 12; it++) {
        int64_t B = test_rng_int(&r, 1, 2), H = test_rng_int(&r, 1, 3), Lq = test_rng_int(&r, 1, 70),
                Lk = test_rng_int(&r, 1, 90), D = test_rng_int(&r, 1, 37), Dv = test_rng_int(&r, 1, 29);
        const int64_t qs[4] = {B, H, Lq, D}, ks[4] = {B, H, Lk, D}, vs[4] = {B, H, Lk, Dv};
        segc_tensor q = test_rand_tensor(&a, &r, 4, qs, -2, 2), k = test_rand_tensor(&a, &r, 4, ks, -2, 2),
                    v = test_rand_tensor(&a, &r, 4, vs, -1, 1);
        char what[128];
        snprintf(what, sizeof what, "B%lld H%lld Lq%lld Lk%lld D%lld Dv%lld", (long long)B, (long long)H,
                 (long long)Lq, (long long)Lk, (long long)D, (long long)Dv);
        check_attention(&a, &q, &k, &v, NULL, 0.0f, what);
        segc_arena_reset(&a);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_attention_with_additive_masks_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(12);
    const int64_t B = 2, H = 3, Lq = 37, Lk = 53, D = 9;
    const int64_t qs[4] = {B, H, Lq, D}, ks[4] = {B, H, Lk, D};
    segc_tensor q = test_rand_tensor(&a, &r, 4, qs, -1, 1), k = test_rand_tensor(&a, &r, 4, ks, -1, 1),
                v = test_rand_tensor(&a, &r, 4, ks, -1, 1);
    /* [Lq, Lk] with some keys excluded (-inf), as a causal-ish pattern */
    const int64_t m2s[2] = {Lq, Lk};
    segc_tensor m2 = test_rand_tensor(&a, &r, 2, m2s, -3, 3);
    float *m2d = m2.data;
    for (int64_t i = 0; i < Lq; i++)
        for (int64_t j = 0; j < Lk; j++)
            if (j > i + 5) m2d[i * Lk + j] = -INFINITY;
    check_attention(&a, &q, &k, &v, &m2, 0.0f, "2-D mask");
    /* [B, 1, Lq, Lk]: per-image mask broadcast over heads */
    const int64_t m4s[4] = {B, 1, Lq, Lk};
    segc_tensor m4 = test_rand_tensor(&a, &r, 4, m4s, -4, 4);
    check_attention(&a, &q, &k, &v, &m4, 0.0f, "[B,1,Lq,Lk] mask");
    /* [1, H, Lq, Lk] */
    const int64_t m5s[4] = {1, H, Lq, Lk};
    segc_tensor m5 = test_rand_tensor(&a, &r, 4, m5s, -4, 4);
    check_attention(&a, &q, &k, &v, &m5, 0.7f, "[1,H,Lq,Lk] mask, scale 0.7");
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_attention_fully_masked_row_gives_zeros) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(13);
    const int64_t qs[4] = {1, 1, 4, 8}, ks[4] = {1, 1, 6, 8}, ms[2] = {4, 6};
    segc_tensor q = test_rand_tensor(&a, &r, 4, qs, -1, 1), k = test_rand_tensor(&a, &r, 4, ks, -1, 1),
                v = test_rand_tensor(&a, &r, 4, ks, 1, 2);
    segc_tensor mask = test_rand_tensor(&a, &r, 2, ms, 0, 0);
    for (int j = 0; j < 6; j++) ((float *)mask.data)[2 * 6 + j] = -INFINITY;  /* row 2: nothing to attend */
    segc_tensor out = new_tensor(&a, 4, qs);
    ck_assert_int_eq(segc_attention(&a, &q, &k, &v, &mask, 0, &out), SEGC_OK);
    const float *o = out.data;
    for (int e = 0; e < 8; e++) {
        ck_assert_float_eq(o[2 * 8 + e], 0.0f);
        ck_assert(o[1 * 8 + e] >= 1.0f && o[1 * 8 + e] <= 2.0f);  /* a convex mix of values in [1, 2] */
    }
    segc_arena_free(&a);
}
END_TEST

/* Long sequences: several row blocks per head (Lk ~ 1500 gives 256-row blocks) and a key length so long
   that blocks shrink to the minimum; peaked scores test the max subtraction. */
START_TEST(test_attention_long_sequences_exercise_row_blocking) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(14);
    {
        const int64_t qs[4] = {1, 2, 601, 13}, ks[4] = {1, 2, 1499, 13}, vs[4] = {1, 2, 1499, 7};
        segc_tensor q = test_rand_tensor(&a, &r, 4, qs, -3, 3), k = test_rand_tensor(&a, &r, 4, ks, -3, 3),
                    v = test_rand_tensor(&a, &r, 4, vs, -1, 1);
        check_attention(&a, &q, &k, &v, NULL, 0.0f, "601 x 1499");
    }
    segc_arena_reset(&a);
    {
        const int64_t qs[4] = {1, 1, 67, 8}, ks[4] = {1, 1, 40001, 8};
        segc_tensor q = test_rand_tensor(&a, &r, 4, qs, -4, 4), k = test_rand_tensor(&a, &r, 4, ks, -4, 4),
                    v = test_rand_tensor(&a, &r, 4, ks, -1, 1);
        check_attention(&a, &q, &k, &v, NULL, 1.0f, "67 x 40001, scale 1");
    }
    segc_arena_free(&a);
}
END_TEST

/* Heads with at least 4 blocks of query rows take the packed path (keys and values packed once per
   head): two heads of a batch of two with a [B, 1, Lq, Lk] mask, and one long key set (few rows per
   block). Both against the oracle, and the same bits on 1 and 2 threads. */
START_TEST(test_attention_packed_heads_match_reference_with_mask) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(17);
    int saved = omp_get_max_threads();
    {
        const int64_t qs[4] = {2, 2, 1100, 20}, ks[4] = {2, 2, 300, 20}, vs[4] = {2, 2, 300, 33};
        segc_tensor q = test_rand_tensor(&a, &r, 4, qs, -2, 2), k = test_rand_tensor(&a, &r, 4, ks, -2, 2),
                    v = test_rand_tensor(&a, &r, 4, vs, -1, 1);
        const int64_t ms[4] = {2, 1, 1100, 300};
        segc_tensor m = test_rand_tensor(&a, &r, 4, ms, -3, 3);
        for (int64_t i = 0; i < 1100; i += 7) ((float *)m.data)[i * 300 + i % 300] = -INFINITY;
        check_attention(&a, &q, &k, &v, &m, 0.0f, "packed 1100 x 300, mask");
        const int64_t os[4] = {2, 2, 1100, 33};
        segc_tensor o1 = new_tensor(&a, 4, os), o2 = new_tensor(&a, 4, os);
        omp_set_num_threads(1);
        ck_assert_int_eq(segc_attention(&a, &q, &k, &v, &m, 0, &o1), SEGC_OK);
        omp_set_num_threads(2);
        ck_assert_int_eq(segc_attention(&a, &q, &k, &v, &m, 0, &o2), SEGC_OK);
        ck_assert_int_eq(memcmp(o1.data, o2.data, (size_t)segc_tensor_numel(&o1) * sizeof(float)), 0);
        omp_set_num_threads(saved);
    }
    segc_arena_reset(&a);
    {
        const int64_t qs[4] = {1, 1, 900, 16}, ks[4] = {1, 1, 20011, 16}, vs[4] = {1, 1, 20011, 40};
        segc_tensor q = test_rand_tensor(&a, &r, 4, qs, -2, 2), k = test_rand_tensor(&a, &r, 4, ks, -2, 2),
                    v = test_rand_tensor(&a, &r, 4, vs, -1, 1);
        check_attention(&a, &q, &k, &v, NULL, 0.0f, "packed 900 x 20011");
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_attention_result_does_not_depend_on_thread_count) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(15);
    int saved = omp_get_max_threads();
    /* many blocks (parallel over blocks) and a single short block (OpenBLAS threads the sgemm) */
    const int64_t shapes[2][3] = {{700, 300, 16}, {5, 300, 16}};
    for (int s = 0; s < 2; s++) {
        const int64_t qs[4] = {1, 2, shapes[s][0], shapes[s][2]}, ks[4] = {1, 2, shapes[s][1], shapes[s][2]};
        segc_tensor q = test_rand_tensor(&a, &r, 4, qs, -1, 1), k = test_rand_tensor(&a, &r, 4, ks, -1, 1),
                    v = test_rand_tensor(&a, &r, 4, ks, -1, 1);
        segc_tensor o1 = new_tensor(&a, 4, qs), o2 = new_tensor(&a, 4, qs);
        omp_set_num_threads(1);
        ck_assert_int_eq(segc_attention(&a, &q, &k, &v, NULL, 0, &o1), SEGC_OK);
        omp_set_num_threads(2);
        ck_assert_int_eq(segc_attention(&a, &q, &k, &v, NULL, 0, &o2), SEGC_OK);
        ck_assert_int_eq(memcmp(o1.data, o2.data, (size_t)segc_tensor_numel(&o1) * sizeof(float)), 0);
    }
    omp_set_num_threads(saved);
    segc_arena_free(&a);
}
END_TEST

/* Projections as models have them, [B, L, H*D], used through no-copy head views on both sides. */
START_TEST(test_attention_accepts_head_views_of_projections) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(16);
    const int64_t B = 2, L = 29, Lk = 41, heads = 3, D = 6;
    const int64_t xs[3] = {B, L, heads * D}, ys[3] = {B, Lk, heads * D};
    segc_tensor xq = test_rand_tensor(&a, &r, 3, xs, -1, 1), xk = test_rand_tensor(&a, &r, 3, ys, -1, 1),
                xv = test_rand_tensor(&a, &r, 3, ys, -1, 1), xo = new_tensor(&a, 3, xs);
    segc_tensor q, k, v, o;
    ck_assert_int_eq(segc_attention_heads_view(&xq, (int)heads, &q), SEGC_OK);
    ck_assert_int_eq(segc_attention_heads_view(&xk, (int)heads, &k), SEGC_OK);
    ck_assert_int_eq(segc_attention_heads_view(&xv, (int)heads, &v), SEGC_OK);
    ck_assert_int_eq(segc_attention_heads_view(&xo, (int)heads, &o), SEGC_OK);
    ck_assert(!segc_tensor_is_contiguous(&q));
    ck_assert_int_eq(segc_attention(&a, &q, &k, &v, NULL, 0, &o), SEGC_OK);
    /* oracle on contiguous copies made by split_heads, merged back */
    const int64_t qs[4] = {B, heads, L, D}, ks[4] = {B, heads, Lk, D};
    segc_tensor cq = new_tensor(&a, 4, qs), ck = new_tensor(&a, 4, ks), cv = new_tensor(&a, 4, ks),
                co = new_tensor(&a, 4, qs), want = new_tensor(&a, 3, xs);
    ck_assert_int_eq(segc_attention_split_heads(&xq, (int)heads, &cq), SEGC_OK);
    ck_assert_int_eq(segc_attention_split_heads(&xk, (int)heads, &ck), SEGC_OK);
    ck_assert_int_eq(segc_attention_split_heads(&xv, (int)heads, &cv), SEGC_OK);
    ck_assert_int_eq(segc_attention_reference(&a, &cq, &ck, &cv, NULL, 0, &co), SEGC_OK);
    ck_assert_int_eq(segc_attention_merge_heads(&co, &want), SEGC_OK);
    test_assert_close(xo.data, want.data, (size_t)segc_tensor_numel(&xo), ATTN_ATOL, ATTN_RTOL, "head views");
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_split_qkv_and_merge_heads_follow_index_formulas) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(17);
    const int64_t B = 2, L = 7, H = 3, D = 5;
    const int64_t xs[3] = {B, L, 3 * H * D}, hs[4] = {B, H, L, D}, ms[3] = {B, L, H * D};
    segc_tensor x = test_rand_tensor(&a, &r, 3, xs, -1, 1);
    segc_tensor q = new_tensor(&a, 4, hs), k = new_tensor(&a, 4, hs), v = new_tensor(&a, 4, hs);
    ck_assert_int_eq(segc_attention_split_qkv(&x, (int)H, &q, &k, &v), SEGC_OK);
    const float *xd = x.data;
    segc_tensor parts[3] = {q, k, v};
    for (int s = 0; s < 3; s++)   /* qkv.reshape(B, L, 3, H, D): part s, head h */
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t l = 0; l < L; l++)
                    for (int64_t d = 0; d < D; d++)
                        ck_assert_float_eq(*segc_at4(&parts[s], b, h, l, d),
                                           xd[((b * L + l) * 3 + s) * H * D + h * D + d]);
    segc_tensor m = new_tensor(&a, 3, ms);
    ck_assert_int_eq(segc_attention_merge_heads(&k, &m), SEGC_OK);
    const float *md = m.data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t l = 0; l < L; l++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t d = 0; d < D; d++)
                    ck_assert_float_eq(md[(b * L + l) * H * D + h * D + d], *segc_at4(&k, b, h, l, d));
    /* a channel count that does not split */
    const int64_t bad[3] = {B, L, 3 * H * D + 1};
    segc_tensor xb = test_rand_tensor(&a, &r, 3, bad, 0, 1);
    ck_assert_int_eq(segc_attention_split_qkv(&xb, (int)H, &q, &k, &v), SEGC_ERR_SHAPE);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_attention_rejects_mismatched_shapes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(18);
    const int64_t qs[4] = {1, 2, 5, 8}, ks[4] = {1, 2, 6, 8}, kbad[4] = {1, 2, 6, 7}, vbad[4] = {1, 2, 5, 8},
                  obad[4] = {1, 2, 5, 9}, mbad[2] = {5, 5};
    segc_tensor q = test_rand_tensor(&a, &r, 4, qs, 0, 1), k = test_rand_tensor(&a, &r, 4, ks, 0, 1),
                v = test_rand_tensor(&a, &r, 4, ks, 0, 1), out = new_tensor(&a, 4, qs);
    segc_tensor kb = test_rand_tensor(&a, &r, 4, kbad, 0, 1), vb = test_rand_tensor(&a, &r, 4, vbad, 0, 1),
                ob = new_tensor(&a, 4, obad), mb = test_rand_tensor(&a, &r, 2, mbad, 0, 1);
    ck_assert_int_eq(segc_attention(&a, &q, &kb, &v, NULL, 0, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_attention(&a, &q, &k, &vb, NULL, 0, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_attention(&a, &q, &k, &v, NULL, 0, &ob), SEGC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "out"));
    ck_assert_int_eq(segc_attention(&a, &q, &k, &v, &mb, 0, &out), SEGC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "mask"));
    ck_assert_int_eq(segc_attention(&a, NULL, &k, &v, NULL, 0, &out), SEGC_ERR_INVALID_ARG);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_attention_scratch_is_released_and_reused) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(19);
    const int64_t qs[4] = {1, 2, 300, 16}, ks[4] = {1, 2, 900, 16};
    segc_tensor q = test_rand_tensor(&a, &r, 4, qs, -1, 1), k = test_rand_tensor(&a, &r, 4, ks, -1, 1),
                v = test_rand_tensor(&a, &r, 4, ks, -1, 1), out = new_tensor(&a, 4, qs);
    size_t in_use = a.in_use;
    ck_assert_int_eq(segc_attention(&a, &q, &k, &v, NULL, 0, &out), SEGC_OK);
    ck_assert_uint_eq(a.in_use, in_use);
    size_t allocs = a.system_allocs;
    ck_assert_int_eq(segc_attention(&a, &q, &k, &v, NULL, 0, &out), SEGC_OK);
    ck_assert_uint_eq(a.system_allocs, allocs);   /* the second call fits in memory already held */
    segc_arena_free(&a);
}
END_TEST

/* ---- windows ---- */

START_TEST(test_window_partition_matches_sam2_fixture) {
    char path[1024];
    segc_npy x, want;
    snprintf(path, sizeof path, "%s/attention/window_x.npy", test_data_dir());
    ck_assert_msg(segc_npy_read(path, &x) == SEGC_OK, "%s", segc_last_error());
    snprintf(path, sizeof path, "%s/attention/window_windows.npy", test_data_dir());
    ck_assert_msg(segc_npy_read(path, &want) == SEGC_OK, "%s", segc_last_error());
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_tensor xt = segc_npy_tensor(&x), w, back;
    ck_assert_int_eq(segc_window_partition_new(&a, &xt, 4, &w), SEGC_OK);
    const int64_t wshape[4] = {8, 4, 4, 3};
    ck_assert(segc_tensor_has_shape(&w, 4, wshape));
    ck_assert(segc_tensor_has_shape(&w, want.ndim, want.shape));
    test_assert_close(w.data, want.data, (size_t)segc_npy_numel(&want), 0, 0, "windows vs sam2");
    ck_assert_int_eq(segc_window_unpartition_new(&a, &w, 4, 2, 5, 7, &back), SEGC_OK);
    test_assert_close(back.data, x.data, (size_t)segc_npy_numel(&x), 0, 0, "unpartition(partition(x))");
    segc_arena_free(&a);
    segc_npy_free(&x);
    segc_npy_free(&want);
}
END_TEST

START_TEST(test_window_round_trip_with_padding_on_random_sizes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(21);
    for (int it = 0; it < 10; it++) {
        int ws = test_rng_int(&r, 1, 8);
        const int64_t xs[4] = {test_rng_int(&r, 1, 2), test_rng_int(&r, 1, 19), test_rng_int(&r, 1, 19),
                               test_rng_int(&r, 1, 5)};
        segc_tensor x = test_rand_tensor(&a, &r, 4, xs, -1, 1), w, back;
        ck_assert_int_eq(segc_window_partition_new(&a, &x, ws, &w), SEGC_OK);
        int64_t nh = (xs[1] + ws - 1) / ws, nw = (xs[2] + ws - 1) / ws, C = xs[3];
        ck_assert_int_eq(w.shape[0], xs[0] * nh * nw);
        /* every window pixel is either x at the formula's position or padding zero */
        for (int64_t i = 0; i < w.shape[0]; i++)
            for (int64_t ry = 0; ry < ws; ry++)
                for (int64_t rx = 0; rx < ws; rx++) {
                    int64_t b = i / (nh * nw), y = (i / nw) % nh * ws + ry, xx = i % nw * ws + rx;
                    for (int64_t c = 0; c < C; c++) {
                        float want = y < xs[1] && xx < xs[2] ? *segc_at4(&x, b, y, xx, c) : 0.0f;
                        ck_assert_float_eq(*segc_at4(&w, i, ry, rx, c), want);
                    }
                }
        ck_assert_int_eq(segc_window_unpartition_new(&a, &w, ws, xs[0], xs[1], xs[2], &back), SEGC_OK);
        test_assert_close(back.data, x.data, (size_t)segc_tensor_numel(&x), 0, 0, "round trip");
        segc_arena_reset(&a);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_window_unpartition_rejects_wrong_window_count) {
    segc_arena a;
    segc_arena_init(&a, 0);
    const int64_t ws_shape[4] = {3, 4, 4, 2}, xs[4] = {1, 5, 7, 2};   /* 5 x 7 needs 2 x 2 windows */
    segc_tensor w = new_tensor(&a, 4, ws_shape), x = new_tensor(&a, 4, xs);
    ck_assert_int_eq(segc_window_unpartition(&w, 4, &x), SEGC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "windows"));
    segc_arena_free(&a);
}
END_TEST

/* ---- RoPE ---- */

START_TEST(test_rope_cis_matches_sam2_compute_axial_cis) {
    segc_npy want;
    test_read_fixture("attention", "rope_cis", &want);
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_tensor cis;
    ck_assert_int_eq(segc_rope_axial_cis_new(&a, 16, 5, 3, SEGC_ROPE_THETA_DEFAULT, &cis), SEGC_OK);
    ck_assert(segc_tensor_has_shape(&cis, want.ndim, want.shape));
    test_assert_close(cis.data, want.data, (size_t)segc_npy_numel(&want), 1e-6, 0, "cis vs sam2");
    segc_arena_free(&a);
    segc_npy_free(&want);
}
END_TEST

/* RoPEAttention on two memory frames plus three object-pointer keys left unrotated. */
START_TEST(test_rope_qk_matches_sam2_with_repeat_and_excluded_keys) {
    segc_npy q, k, q_want, k_want;
    test_read_fixture("attention", "rope_q", &q);
    test_read_fixture("attention", "rope_k", &k);
    test_read_fixture("attention", "rope_q_out", &q_want);
    test_read_fixture("attention", "rope_k_out", &k_want);
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_tensor cis;
    ck_assert_int_eq(segc_rope_axial_cis_new(&a, 16, 5, 3, SEGC_ROPE_THETA_DEFAULT, &cis), SEGC_OK);
    segc_tensor qt = segc_npy_tensor(&q), kt = segc_npy_tensor(&k);
    ck_assert_int_eq(kt.shape[2], 2 * 15 + 3);
    /* without repeat, 30 rotated keys for 15 queries is the reference's assertion */
    ck_assert_int_eq(segc_rope_apply_qk(&qt, &kt, &cis, 0, 3), SEGC_ERR_SHAPE);
    ck_assert_msg(segc_rope_apply_qk(&qt, &kt, &cis, 1, 3) == SEGC_OK, "%s", segc_last_error());
    test_assert_close(q.data, q_want.data, (size_t)segc_npy_numel(&q), 2e-6, 1e-6, "q vs sam2");
    test_assert_close(k.data, k_want.data, (size_t)segc_npy_numel(&k), 2e-6, 1e-6, "k vs sam2");
    segc_arena_free(&a);
    segc_npy_free(&q);
    segc_npy_free(&k);
    segc_npy_free(&q_want);
    segc_npy_free(&k_want);
}
END_TEST

START_TEST(test_rope_apply_matches_complex_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(22);
    for (int it = 0; it < 8; it++) {
        int end_x = test_rng_int(&r, 1, 9), end_y = test_rng_int(&r, 1, 9), dim = 4 * test_rng_int(&r, 1, 20);
        int64_t n = (int64_t)end_x * end_y, reps = test_rng_int(&r, 1, 3), extra = test_rng_int(&r, 0, 4);
        float theta = it % 2 ? SEGC_ROPE_THETA_DEFAULT : 100.0f;
        const int64_t xs[4] = {test_rng_int(&r, 1, 2), test_rng_int(&r, 1, 3), reps * n + extra, dim};
        segc_tensor x = test_rand_tensor(&a, &r, 4, xs, -2, 2), want, cis;
        ck_assert_int_eq(segc_tensor_contiguous(&a, &x, &want), SEGC_OK);
        ck_assert_int_eq(segc_rope_axial_cis_new(&a, dim, end_x, end_y, theta, &cis), SEGC_OK);
        ck_assert_int_eq(segc_rope_apply(&x, &cis, reps * n), SEGC_OK);
        ck_assert_int_eq(segc_rope_apply_reference(&want, end_x, end_y, theta, reps * n), SEGC_OK);
        char what[96];
        snprintf(what, sizeof what, "grid %dx%d dim %d reps %lld extra %lld", end_x, end_y, dim, (long long)reps,
                 (long long)extra);
        /* angles up to ~16 rad; float angle rounding is ~1e-6 rad */
        test_assert_close(x.data, want.data, (size_t)segc_tensor_numel(&x), 1e-5, 1e-5, what);
        segc_arena_reset(&a);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_rope_rejects_bad_dims_and_lengths) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(23);
    segc_tensor cis;
    ck_assert_int_eq(segc_rope_axial_cis_new(&a, 6, 4, 4, SEGC_ROPE_THETA_DEFAULT, &cis), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_rope_axial_cis_new(&a, 8, 4, 4, SEGC_ROPE_THETA_DEFAULT, &cis), SEGC_OK);
    const int64_t qs[4] = {1, 1, 16, 8}, kodd[4] = {1, 1, 20, 8}, dbad[4] = {1, 1, 16, 12};
    segc_tensor q = test_rand_tensor(&a, &r, 4, qs, -1, 1), k = test_rand_tensor(&a, &r, 4, kodd, -1, 1),
                qd = test_rand_tensor(&a, &r, 4, dbad, -1, 1), q0;
    ck_assert_int_eq(segc_tensor_contiguous(&a, &q, &q0), SEGC_OK);
    /* 20 keys with nothing excluded: not a multiple of 16 even with repeat; q must stay untouched */
    ck_assert_int_eq(segc_rope_apply_qk(&q, &k, &cis, 1, 0), SEGC_ERR_SHAPE);
    test_assert_close(q.data, q0.data, 16 * 8, 0, 0, "q untouched after a failed call");
    ck_assert_int_eq(segc_rope_apply_qk(&q, &k, &cis, 1, 4), SEGC_OK);
    ck_assert_int_eq(segc_rope_apply(&qd, &cis, 16), SEGC_ERR_SHAPE);
    segc_arena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_attention");
    TCase *tc = tcase_create("attention");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_attention_matches_reference_on_random_shapes);
    tcase_add_test(tc, test_attention_with_additive_masks_matches_reference);
    tcase_add_test(tc, test_attention_fully_masked_row_gives_zeros);
    tcase_add_test(tc, test_attention_long_sequences_exercise_row_blocking);
    tcase_add_test(tc, test_attention_packed_heads_match_reference_with_mask);
    tcase_add_test(tc, test_attention_result_does_not_depend_on_thread_count);
    tcase_add_test(tc, test_attention_accepts_head_views_of_projections);
    tcase_add_test(tc, test_split_qkv_and_merge_heads_follow_index_formulas);
    tcase_add_test(tc, test_attention_rejects_mismatched_shapes);
    tcase_add_test(tc, test_attention_scratch_is_released_and_reused);
    tcase_add_test(tc, test_window_partition_matches_sam2_fixture);
    tcase_add_test(tc, test_window_round_trip_with_padding_on_random_sizes);
    tcase_add_test(tc, test_window_unpartition_rejects_wrong_window_count);
    tcase_add_test(tc, test_rope_cis_matches_sam2_compute_axial_cis);
    tcase_add_test(tc, test_rope_qk_matches_sam2_with_repeat_and_excluded_keys);
    tcase_add_test(tc, test_rope_apply_matches_complex_reference);
    tcase_add_test(tc, test_rope_rejects_bad_dims_and_lengths);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
