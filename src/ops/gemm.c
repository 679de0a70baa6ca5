/* gemm.c - float32 matrix products (see gemm.h): a checked sgemm (packed kernel or OpenBLAS), its
   triple-loop oracle, PyTorch's nn.Linear over any leading dims, and batched matmul.
   Dims: M rows of the result, N columns, K the reduced dim. Not here: convolution (conv.c). */
#include "ops/gemm.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* Below this many multiply-adds per matrix, a batch of matmuls runs one sgemm per OpenMP thread
   (OpenBLAS then stays single-threaded inside each) instead of one threaded sgemm after another. */
#define MATMUL_SMALL_MACS ((int64_t)1 << 21)

/* Below this many floats (or multiply-adds) a loop runs on the calling thread: a parallel region
   costs microseconds on a quiet machine and up to a time slice on a loaded one. */
#define GEMM_PARALLEL_MIN ((int64_t)1 << 15)

/* Most rows one sgemm call takes in segc_linear (cblas sizes are int). */
#define LINEAR_MAX_ROWS ((int64_t)1 << 28)

/* The packed kernel (gemm_packed.c) takes products with at least this many rows, columns and depth on
   builds that target AVX-512 (1.4x OpenBLAS 0.3.21 on a 2048^3 product in bench/kernels); packing B
   costs 1/M of the product. On other targets OpenBLAS does everything. */
#ifdef __AVX512F__
#define GEMM_PACKED_MIN_DIM 16
#else
#define GEMM_PACKED_MIN_DIM INT_MAX
#endif

/* True if ld is a valid row stride for a row-major operand with `cols` columns. */
static int ld_ok(int cols, int ld) { return ld >= (cols > 1 ? cols : 1); }

/* C[M,N] = alpha op(A) op(B) + beta C. Bad sizes are a programming error: the reason is recorded
   (segc_last_error) and C is filled with NaN so the mistake cannot pass as a result. */
void segc_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    int ok = K >= 0 && ld_ok(N, ldc) && C != NULL;
    ok = ok && (K == 0 || (A && B && ld_ok(trans_a ? M : K, lda) &&
                           ld_ok(trans_b ? K : N, ldb)));
    if (!ok) {
        segc_fail(SEGC_ERR_INVALID_ARG, "sgemm: bad sizes M=%d N=%d K=%d lda=%d ldb=%d ldc=%d", M, N, K, lda,
                  ldb, ldc);
        if (C && ldc >= N)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) C[(int64_t)i * ldc + j] = NAN;
        return;
    }
    if (K == 0) {   /* cblas would accept it too; spelled out so beta == 0 never reads C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float *c = &C[(int64_t)i * ldc + j];
                *c = beta == 0.0f ? 0.0f : beta * *c;
            }
        return;
    }
    if (M >= GEMM_PACKED_MIN_DIM && N >= GEMM_PACKED_MIN_DIM && K >= GEMM_PACKED_MIN_DIM) {
        float *pb = malloc(segc_gemm_packed_b_floats(K, N) * sizeof(float));
        if (pb) {   /* else OpenBLAS below: slower, same result */
            segc_gemm_pack_b(trans_b, K, N, B, ldb, pb);
            segc_gemm_packed(trans_a, M, N, K, alpha, A, lda, pb, beta, C, ldc);
            free(pb);
            return;
        }
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* The oracle: one double-precision dot product per element of C; beta == 0 never reads C. */
void segc_sgemm_reference(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                double a = trans_a ? A[(int64_t)k * lda + i] : A[(int64_t)i * lda + k];
                double b = trans_b ? B[(int64_t)j * ldb + k] : B[(int64_t)k * ldb + j];
                acc += a * b;
            }
            float *c = &C[(int64_t)i * ldc + j];
            double prev = beta == 0.0f ? 0.0 : (double)beta * *c;
            *c = (float)((double)alpha * acc + prev);
        }
    }
}

/* Checks that t is a contiguous float32 tensor with at least `min_ndim` dims. */
static segc_status check_f32(const char *op, const char *name, const segc_tensor *t, int min_ndim) {
    if (!t || !t->data) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: %s is NULL", op, name);
    if (t->dtype != SEGC_F32)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: %s is %s, expected f32", op, name, segc_dtype_name(t->dtype));
    if (t->ndim < min_ndim)
        return segc_fail(SEGC_ERR_SHAPE, "%s: %s has %d dims, expected at least %d", op, name, t->ndim, min_ndim);
    if (!segc_tensor_is_contiguous(t))
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: %s must be contiguous", op, name);
    return SEGC_OK;
}

/* True if the first `n` dims of a and b are equal. */
static int same_leading(const segc_tensor *a, const segc_tensor *b, int n) {
    for (int i = 0; i < n; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* y[rows, out] = x[rows, in] w[out, in]^T + b[out]: the bias is written first and the product
   accumulated onto it (beta = 1), so the bias costs one write pass and no extra read. */
segc_status segc_linear(const segc_tensor *x, const segc_tensor *w, const segc_tensor *b, segc_tensor *y) {
    segc_status st;
    if ((st = check_f32("linear", "x", x, 1)) || (st = check_f32("linear", "w", w, 2)) ||
        (st = check_f32("linear", "y", y, 1)))
        return st;
    char xs[96], ws[96], ys[96];
    if (w->ndim != 2)
        return segc_fail(SEGC_ERR_SHAPE, "linear: weight %s is not 2-D", segc_tensor_shape_str(w, ws, sizeof ws));
    int64_t in = w->shape[1], out = w->shape[0];
    if (x->shape[x->ndim - 1] != in || y->ndim != x->ndim || y->shape[y->ndim - 1] != out ||
        !same_leading(x, y, x->ndim - 1))
        return segc_fail(SEGC_ERR_SHAPE, "linear: x %s, weight %s, y %s do not match",
                         segc_tensor_shape_str(x, xs, sizeof xs), segc_tensor_shape_str(w, ws, sizeof ws),
                         segc_tensor_shape_str(y, ys, sizeof ys));
    if (in > INT_MAX || out > INT_MAX)
        return segc_fail(SEGC_ERR_SHAPE, "linear: weight %s is too large", segc_tensor_shape_str(w, ws, sizeof ws));
    if (b) {
        if ((st = check_f32("linear", "bias", b, 1))) return st;
        if (segc_tensor_numel(b) != out)
            return segc_fail(SEGC_ERR_SHAPE, "linear: bias has %lld elements, expected %lld",
                             (long long)segc_tensor_numel(b), (long long)out);
    }
    int64_t rows = segc_tensor_numel(y) / (out > 0 ? out : 1);
    if (rows == 0 || out == 0) return SEGC_OK;
    const float *xd = x->data, *wd = w->data, *bd = b ? b->data : NULL;
    float *yd = y->data;
    if (bd) {
        #pragma omp parallel for schedule(static) if (rows * out >= GEMM_PARALLEL_MIN)
        for (int64_t r = 0; r < rows; r++) memcpy(yd + r * out, bd, (size_t)out * sizeof(float));
    }
    for (int64_t r0 = 0; r0 < rows; r0 += LINEAR_MAX_ROWS) {
        int m = (int)(rows - r0 < LINEAR_MAX_ROWS ? rows - r0 : LINEAR_MAX_ROWS);
        segc_sgemm(0, 1, m, (int)out, (int)in, 1.0f, xd + r0 * in, (int)in, wd, (int)in, bd ? 1.0f : 0.0f,
                   yd + r0 * out, (int)out);
    }
    return SEGC_OK;
}

/* c[i] = a[i] b[i] (or b[i]^T) for every leading index i; small products run one per thread. */
segc_status segc_matmul(const segc_tensor *a, const segc_tensor *b, int trans_b, segc_tensor *c) {
    segc_status st;
    if ((st = check_f32("matmul", "a", a, 2)) || (st = check_f32("matmul", "b", b, 2)) ||
        (st = check_f32("matmul", "c", c, 2)))
        return st;
    char as[96], bs[96], cs[96];
    int nd = a->ndim;
    int64_t M = a->shape[nd - 2], K = a->shape[nd - 1];
    int64_t N = trans_b ? b->shape[nd - 2] : b->shape[nd - 1], Kb = trans_b ? b->shape[nd - 1] : b->shape[nd - 2];
    if (b->ndim != nd || c->ndim != nd || !same_leading(a, b, nd - 2) || !same_leading(a, c, nd - 2) || Kb != K ||
        c->shape[nd - 2] != M || c->shape[nd - 1] != N)
        return segc_fail(SEGC_ERR_SHAPE, "matmul: a %s, b %s%s, c %s do not match",
                         segc_tensor_shape_str(a, as, sizeof as), segc_tensor_shape_str(b, bs, sizeof bs),
                         trans_b ? " (transposed)" : "", segc_tensor_shape_str(c, cs, sizeof cs));
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
        return segc_fail(SEGC_ERR_SHAPE, "matmul: a %s, b %s: matrices too large for sgemm",
                         segc_tensor_shape_str(a, as, sizeof as), segc_tensor_shape_str(b, bs, sizeof bs));
    int64_t batch = 1;
    for (int i = 0; i < nd - 2; i++) batch *= a->shape[i];
    if (batch == 0 || M == 0 || N == 0) return SEGC_OK;
    const float *ad = a->data, *bd = b->data;
    float *cd = c->data;
    int ldb = (int)(trans_b ? K : N);
    if ((double)M * N * K < (double)MATMUL_SMALL_MACS && batch > 1) {
        #pragma omp parallel for schedule(static) if ((double)batch * M * N * K >= (double)GEMM_PARALLEL_MIN)
        for (int64_t i = 0; i < batch; i++)
            segc_sgemm(0, trans_b, (int)M, (int)N, (int)K, 1.0f, ad + i * M * K, (int)K, bd + i * K * N, ldb, 0.0f,
                       cd + i * M * N, (int)N);
    } else {
        for (int64_t i = 0; i < batch; i++)
            segc_sgemm(0, trans_b, (int)M, (int)N, (int)K, 1.0f, ad + i * M * K, (int)K, bd + i * K * N, ldb, 0.0f,
                       cd + i * M * N, (int)N);
    }
    return SEGC_OK;
}
