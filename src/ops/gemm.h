/* gemm.h - matrix products on float32 through OpenBLAS sgemm (one OpenMP pool). */
#ifndef SEGC_OPS_GEMM_H
#define SEGC_OPS_GEMM_H

#include "core/tensor.h"

/* C[M,N] = alpha * op(A) op(B) + beta * C, row-major, op = transpose if trans_* is set.
   lda/ldb/ldc are row strides in elements. A thin, checked wrapper over cblas_sgemm. */
void segc_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);
/* Triple loop, the oracle. */
void segc_sgemm_reference(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc);

/* y[..., out] = x[..., in] W[out, in]^T + b[out] (PyTorch nn.Linear); b may be NULL.
   x and y contiguous; the leading dims of x and y must match. */
segc_status segc_linear(const segc_tensor *x, const segc_tensor *w, const segc_tensor *b, segc_tensor *y);

/* Batched matmul over the leading dims: c[..., M, N] = a[..., M, K] b[..., K, N] (b transposed:
   b[..., N, K] when trans_b). All contiguous, same leading dims (no broadcasting). */
segc_status segc_matmul(const segc_tensor *a, const segc_tensor *b, int trans_b, segc_tensor *c);

#endif
