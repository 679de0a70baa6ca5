/* gemm.h - matrix products on float32 through OpenBLAS sgemm (one OpenMP pool). */
#ifndef SEGC_OPS_GEMM_H
#define SEGC_OPS_GEMM_H

#include "core/tensor.h"

/* C[M,N] = alpha * op(A) op(B) + beta * C, row-major, op = transpose if trans_* is set.
   lda/ldb/ldc are row strides in elements. Checked; large products on AVX-512 builds go through the
   packed kernel below, everything else through cblas_sgemm. */
void segc_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);
/* The packed path (gemm_packed.c): B[K, N] (op = transpose if trans_b) packed once into
   segc_gemm_packed_b_floats(K, N) floats, then C[M,N] = alpha op(A) Bp + beta C for any number of
   left operands. Runs over the pool unless called inside a parallel region or small. */
size_t segc_gemm_packed_b_floats(int K, int N);
void segc_gemm_pack_b(int trans_b, int K, int N, const float *B, int ldb, float *pb);
void segc_gemm_packed(int trans_a, int M, int N, int K, float alpha, const float *A, int lda, const float *pb,
                      float beta, float *C, int ldc);
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
