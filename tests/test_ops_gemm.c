/* test_ops_gemm.c - segc_sgemm against its double-precision triple loop, nn.Linear and batched
   matmul against the same oracle, and the error paths (bad sizes, mismatched shapes). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "ops/gemm.h"
#include "test_util.h"

/* float sgemm vs the double oracle: relative to the magnitude of the result */
#define GEMM_ATOL 2e-5
#define GEMM_RTOL 1e-5

static float *rand_buf(test_rng *r, size_t n) {
    float *p = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(p);
    test_fill_uniform(r, p, n, -1.0f, 1.0f);
    return p;
}

static segc_tensor rand_tensor(segc_arena *a, test_rng *r, int ndim, const int64_t *shape) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, ndim, shape, &t), SEGC_OK);
    test_fill_uniform(r, t.data, (size_t)segc_tensor_numel(&t), -1.0f, 1.0f);
    return t;
}

START_TEST(test_sgemm_matches_reference_for_all_transposes_and_strides) {
    test_rng r = test_rng_new(1);
    for (int it = 0; it < 40; it++) {
        int ta = it & 1, tb = (it >> 1) & 1;
        int M = test_rng_int(&r, 1, 67), N = test_rng_int(&r, 1, 71), K = test_rng_int(&r, 1, 83);
        int lda = (ta ? M : K) + test_rng_int(&r, 0, 5), ldb = (tb ? K : N) + test_rng_int(&r, 0, 5);
        int ldc = N + test_rng_int(&r, 0, 5);
        float alpha = test_rng_uniform(&r, -2, 2), beta = (it % 5 == 0) ? 0.0f : test_rng_uniform(&r, -1.5f, 1.5f);
        size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
        float *A = rand_buf(&r, na), *B = rand_buf(&r, nb), *C = rand_buf(&r, nc), *W = malloc(nc * sizeof(float));
        memcpy(W, C, nc * sizeof(float));
        segc_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        segc_sgemm_reference(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, W, ldc);
        char what[128];
        snprintf(what, sizeof what, "ta%d tb%d M%d N%d K%d lda%d ldb%d ldc%d", ta, tb, M, N, K, lda, ldb, ldc);
        /* the padding columns of C (j >= N) are compared too: both must leave them alone */
        test_assert_close(C, W, nc, GEMM_ATOL * sqrt(K), GEMM_RTOL, what);
        free(A), free(B), free(C), free(W);
    }
}
END_TEST

/* The packed path directly (segc_sgemm only takes it on AVX-512 builds): sizes that cross the row
   (96), column (384) and depth (256) blocks and leave edge panels, all transposes, strides, alpha and
   beta, beta == 0 over NaN, and calls made inside a parallel region (one thread per call). */
START_TEST(test_gemm_packed_matches_reference_across_block_edges) {
    test_rng r = test_rng_new(11);
    const int dims[][3] = {{1, 1, 1}, {6, 32, 1}, {7, 33, 257}, {97, 385, 300}, {200, 40, 513}, {13, 800, 64}};
    for (int it = 0; it < 24; it++) {
        int ta = it & 1, tb = (it >> 1) & 1, M = dims[it % 6][0], N = dims[it % 6][1], K = dims[it % 6][2];
        int lda = (ta ? M : K) + it % 3, ldb = (tb ? K : N) + it % 2, ldc = N + it % 4;
        float alpha = test_rng_uniform(&r, -2, 2), beta = it % 3 == 0 ? 0.0f : (it % 3 == 1 ? 1.0f : -0.75f);
        size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
        float *A = rand_buf(&r, na), *B = rand_buf(&r, nb), *C = rand_buf(&r, nc), *W = malloc(nc * sizeof(float));
        float *pb = malloc(segc_gemm_packed_b_floats(K, N) * sizeof(float));
        ck_assert_ptr_nonnull(pb);
        if (beta == 0.0f)
            for (size_t i = 0; i < nc; i++) C[i] = NAN;
        memcpy(W, C, nc * sizeof(float));
        segc_gemm_pack_b(tb, K, N, B, ldb, pb);
        segc_gemm_packed(ta, M, N, K, alpha, A, lda, pb, beta, C, ldc);
        segc_sgemm_reference(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, W, ldc);
        char what[128];
        snprintf(what, sizeof what, "packed ta%d tb%d M%d N%d K%d beta %g", ta, tb, M, N, K, beta);
        for (int i = 0; i < M; i++)   /* padding columns of C: both leave them alone (NaN stays NaN) */
            for (int j = N; j < ldc; j++) ck_assert(memcmp(&C[(size_t)i * ldc + j], &W[(size_t)i * ldc + j], 4) == 0);
        for (int i = 0; i < M; i++) test_assert_close(C + (size_t)i * ldc, W + (size_t)i * ldc, (size_t)N,
                                                      GEMM_ATOL * sqrt(K), GEMM_RTOL, what);
        free(A), free(B), free(C), free(W), free(pb);
    }
}
END_TEST

START_TEST(test_gemm_packed_inside_parallel_region_and_large_sgemm) {
    test_rng r = test_rng_new(12);
    const int M = 130, N = 420, K = 270, T = 4;
    float *A = rand_buf(&r, (size_t)T * M * K), *B = rand_buf(&r, (size_t)K * N);
    float *C = calloc((size_t)T * M * N, sizeof(float)), *W = calloc((size_t)T * M * N, sizeof(float));
    float *pb = malloc(segc_gemm_packed_b_floats(K, N) * sizeof(float));
    ck_assert(C && W && pb);
    segc_gemm_pack_b(0, K, N, B, N, pb);
    #pragma omp parallel for
    for (int t = 0; t < T; t++)
        segc_gemm_packed(0, M, N, K, 1.0f, A + (size_t)t * M * K, K, pb, 0.0f, C + (size_t)t * M * N, N);
    for (int t = 0; t < T; t++)
        segc_sgemm_reference(0, 0, M, N, K, 1.0f, A + (size_t)t * M * K, K, B, N, 0.0f, W + (size_t)t * M * N, N);
    test_assert_close(C, W, (size_t)T * M * N, GEMM_ATOL * sqrt(K), GEMM_RTOL, "packed in parallel region");
    /* and segc_sgemm on a product large enough for its fast path and for threads */
    memset(C, 0, (size_t)M * N * sizeof(float));
    segc_sgemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
    test_assert_close(C, W, (size_t)M * N, GEMM_ATOL * sqrt(K), GEMM_RTOL, "large sgemm");
    free(A), free(B), free(C), free(W), free(pb);
}
END_TEST

START_TEST(test_sgemm_beta_zero_ignores_nan_in_c_and_k_zero_scales) {
    test_rng r = test_rng_new(2);
    const int M = 5, N = 7, K = 3;
    float *A = rand_buf(&r, M * K), *B = rand_buf(&r, K * N), C[35], W[35];
    for (int i = 0; i < M * N; i++) C[i] = W[i] = NAN;
    segc_sgemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
    segc_sgemm_reference(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, W, N);
    test_assert_close(C, W, M * N, GEMM_ATOL, GEMM_RTOL, "beta 0 over NaN");
    for (int i = 0; i < M * N; i++) C[i] = 2.0f;
    segc_sgemm(0, 0, M, N, 0, 1.0f, A, 1, B, N, 0.5f, C, N);
    for (int i = 0; i < M * N; i++) ck_assert_float_eq(C[i], 1.0f);
    free(A), free(B);
}
END_TEST

START_TEST(test_sgemm_bad_leading_dim_is_reported_and_poisons_c) {
    float A[6] = {0}, B[6] = {0}, C[4] = {0};
    segc_clear_error();
    segc_sgemm(0, 0, 2, 2, 3, 1.0f, A, 2 /* < K */, B, 2, 0.0f, C, 2);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "sgemm"));
    for (int i = 0; i < 4; i++) ck_assert(isnan(C[i]));
}
END_TEST

/* Oracle for nn.Linear: y[r, o] = sum_i x[r, i] w[o, i] + b[o]. */
static void linear_oracle(const float *x, const float *w, const float *b, float *y, int rows, int in, int out) {
    segc_sgemm_reference(0, 1, rows, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
    if (b)
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) y[r * out + o] += b[o];
}

START_TEST(test_linear_matches_oracle_with_and_without_bias_on_3d_input) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(3);
    for (int it = 0; it < 8; it++) {
        int64_t B = test_rng_int(&r, 1, 3), L = test_rng_int(&r, 1, 40), in = test_rng_int(&r, 1, 50),
                out = test_rng_int(&r, 1, 45);
        const int64_t xs[3] = {B, L, in}, ws[2] = {out, in}, bs[1] = {out}, ys[3] = {B, L, out};
        segc_tensor x = rand_tensor(&a, &r, 3, xs), w = rand_tensor(&a, &r, 2, ws), b = rand_tensor(&a, &r, 1, bs);
        segc_tensor y = rand_tensor(&a, &r, 3, ys), want = rand_tensor(&a, &r, 3, ys);
        int with_bias = it & 1;
        ck_assert_msg(segc_linear(&x, &w, with_bias ? &b : NULL, &y) == SEGC_OK, "%s", segc_last_error());
        linear_oracle(x.data, w.data, with_bias ? b.data : NULL, want.data, (int)(B * L), (int)in, (int)out);
        test_assert_close(y.data, want.data, (size_t)(B * L * out), GEMM_ATOL * sqrt(in), GEMM_RTOL,
                          with_bias ? "linear with bias" : "linear without bias");
        segc_arena_reset(&a);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_linear_rejects_mismatched_shapes) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(4);
    const int64_t xs[3] = {2, 5, 8}, ws[2] = {6, 8}, wbad[2] = {6, 7}, ys[3] = {2, 5, 6}, ybad[3] = {2, 4, 6},
                  bbad[1] = {5};
    segc_tensor x = rand_tensor(&a, &r, 3, xs), w = rand_tensor(&a, &r, 2, ws), wb = rand_tensor(&a, &r, 2, wbad),
                y = rand_tensor(&a, &r, 3, ys), yb = rand_tensor(&a, &r, 3, ybad), bb = rand_tensor(&a, &r, 1, bbad);
    ck_assert_int_eq(segc_linear(&x, &wb, NULL, &y), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_linear(&x, &w, NULL, &yb), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_linear(&x, &w, &bb, &y), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_linear(NULL, &w, NULL, &y), SEGC_ERR_INVALID_ARG);
    segc_tensor xt;   /* a transposed view is not contiguous */
    const int perm[3] = {0, 2, 1};
    ck_assert_int_eq(segc_tensor_permute(&x, perm, &xt), SEGC_OK);
    ck_assert_int_eq(segc_linear(&xt, &w, NULL, &y), SEGC_ERR_INVALID_ARG);
    segc_arena_free(&a);
}
END_TEST

/* Runs one batched matmul and compares every batch entry with the oracle. */
static void check_matmul(segc_arena *a, test_rng *r, int64_t batch, int64_t M, int64_t N, int64_t K, int trans_b) {
    const int64_t as[3] = {batch, M, K}, bs[3] = {batch, trans_b ? N : K, trans_b ? K : N}, cs[3] = {batch, M, N};
    segc_tensor A = rand_tensor(a, r, 3, as), B = rand_tensor(a, r, 3, bs), C = rand_tensor(a, r, 3, cs),
                W = rand_tensor(a, r, 3, cs);
    ck_assert_msg(segc_matmul(&A, &B, trans_b, &C) == SEGC_OK, "%s", segc_last_error());
    for (int64_t i = 0; i < batch; i++)
        segc_sgemm_reference(0, trans_b, (int)M, (int)N, (int)K, 1.0f, (float *)A.data + i * M * K, (int)K,
                             (float *)B.data + i * K * N, (int)(trans_b ? K : N), 0.0f, (float *)W.data + i * M * N,
                             (int)N);
    char what[96];
    snprintf(what, sizeof what, "matmul batch%lld M%lld N%lld K%lld trans_b%d", (long long)batch, (long long)M,
             (long long)N, (long long)K, trans_b);
    test_assert_close(C.data, W.data, (size_t)(batch * M * N), GEMM_ATOL * sqrt((double)K), GEMM_RTOL, what);
}

START_TEST(test_matmul_batched_matches_oracle_with_and_without_trans_b) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(5);
    for (int it = 0; it < 8; it++) {
        check_matmul(&a, &r, test_rng_int(&r, 1, 6), test_rng_int(&r, 1, 33), test_rng_int(&r, 1, 29),
                     test_rng_int(&r, 1, 31), it & 1);
        segc_arena_reset(&a);
    }
    /* large enough for the one-threaded-sgemm-at-a-time path */
    check_matmul(&a, &r, 2, 130, 129, 131, 0);
    check_matmul(&a, &r, 2, 130, 129, 131, 1);
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_matmul_4d_leading_dims_and_rejects_mismatch) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(6);
    const int64_t as[4] = {2, 3, 4, 5}, bs[4] = {2, 3, 5, 6}, cs[4] = {2, 3, 4, 6}, bbad[4] = {2, 2, 5, 6},
                  cbad[4] = {2, 3, 4, 7};
    segc_tensor A = rand_tensor(&a, &r, 4, as), B = rand_tensor(&a, &r, 4, bs), C = rand_tensor(&a, &r, 4, cs),
                W = rand_tensor(&a, &r, 4, cs), Bb = rand_tensor(&a, &r, 4, bbad), Cb = rand_tensor(&a, &r, 4, cbad);
    ck_assert_int_eq(segc_matmul(&A, &B, 0, &C), SEGC_OK);
    for (int i = 0; i < 6; i++)
        segc_sgemm_reference(0, 0, 4, 6, 5, 1.0f, (float *)A.data + i * 20, 5, (float *)B.data + i * 30, 6, 0.0f,
                             (float *)W.data + i * 24, 6);
    test_assert_close(C.data, W.data, 6 * 24, GEMM_ATOL, GEMM_RTOL, "4-D matmul");
    ck_assert_int_eq(segc_matmul(&A, &Bb, 0, &C), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_matmul(&A, &B, 0, &Cb), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_matmul(&A, &B, 1, &C), SEGC_ERR_SHAPE);   /* b^T would be [6,5]: K mismatch */
    segc_arena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_sgemm_matches_reference_for_all_transposes_and_strides);
    tcase_add_test(tc, test_gemm_packed_matches_reference_across_block_edges);
    tcase_add_test(tc, test_gemm_packed_inside_parallel_region_and_large_sgemm);
    tcase_add_test(tc, test_sgemm_beta_zero_ignores_nan_in_c_and_k_zero_scales);
    tcase_add_test(tc, test_sgemm_bad_leading_dim_is_reported_and_poisons_c);
    tcase_add_test(tc, test_linear_matches_oracle_with_and_without_bias_on_3d_input);
    tcase_add_test(tc, test_linear_rejects_mismatched_shapes);
    tcase_add_test(tc, test_matmul_batched_matches_oracle_with_and_without_trans_b);
    tcase_add_test(tc, test_matmul_4d_leading_dims_and_rejects_mismatch);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
