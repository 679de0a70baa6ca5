/* gemm_packed.c - float32 matrix product C[M,N] = alpha op(A) B + beta C with our own register-blocked
   kernel (conv_gemm.c's MR x NR segc_conv_kernel) on a pre-packed right operand. segc_sgemm (gemm.c)
   uses it for large products when the build targets AVX-512; attention packs its keys and values once
   per head and multiplies every block of query rows against them.
   Why not OpenBLAS: 0.3.21 runs its 256-bit Haswell kernels on AVX-512 Zen parts; this loop, compiled
   with -march=native, runs 1.4x faster there on a 2048^3 product (bench/kernels).
   Packed B ("Bp"): K is cut into blocks of at most GEMM_KC rows; block kb (rows k0 .. k0 + kc - 1)
   starts at float k0 * Np (Np = N rounded up to NR) and holds the N columns as NR-wide panels, each
   [kc][NR] contiguous; columns past N are zero.
   Work: C is cut into tiles of GEMM_MC rows x GEMM_NC columns, one tile per task. A task packs its MC
   rows of op(A) for one K block (alpha applied) into MR-row panels on its stack, then runs every MR-row
   panel against every NR-column panel of the tile: the A panel stays in L1, the tile's B block
   (kc x NC floats, 384 KiB) in L2. */
#include <omp.h>
#include <string.h>

#include "ops/conv_internal.h"
#include "ops/gemm.h"

#define MR SEGC_CONV_MR
#define NR SEGC_CONV_NR
#define GEMM_KC 256
#define GEMM_MC 96    /* multiple of MR: the task's A block is MC x KC floats = 96 KiB of stack */
#define GEMM_NC 384   /* multiple of NR */
/* Below this many multiply-adds a product runs on the calling thread. */
#define GEMM_PACKED_PARALLEL_MIN ((double)(1 << 22))

static int64_t round_up_nr(int64_t n) { return (n + NR - 1) / NR * NR; }

size_t segc_gemm_packed_b_floats(int K, int N) { return (size_t)K * (size_t)round_up_nr(N); }

/* Panel jp of K block kb of Bp (see the file comment), from B (row-major, op = transpose if trans_b). */
static void pack_b_panel(int trans_b, int K, int N, const float *B, int ldb, int64_t kb, int64_t jp, float *pb) {
    const int64_t k0 = kb * GEMM_KC, kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC, Np = round_up_nr(N);
    float *dst = pb + k0 * Np + jp * kc * NR;
    const int64_t n0 = jp * NR, cols = N - n0 < NR ? N - n0 : NR;
    if (trans_b) {   /* B is [N][K]: read each column's run of K values front to back */
        for (int64_t j = 0; j < NR; j++) {
            const float *src = j < cols ? B + (n0 + j) * (int64_t)ldb + k0 : NULL;
            for (int64_t d = 0; d < kc; d++) dst[d * NR + j] = src ? src[d] : 0.0f;
        }
    } else {
        for (int64_t d = 0; d < kc; d++) {
            const float *src = B + (k0 + d) * (int64_t)ldb + n0;
            float *row = dst + d * NR;
            if (cols == NR) {
                for (int j = 0; j < NR; j++) row[j] = src[j];
            } else {
                memcpy(row, src, sizeof(float) * (size_t)cols);
                memset(row + cols, 0, sizeof(float) * (size_t)(NR - cols));
            }
        }
    }
}

void segc_gemm_pack_b(int trans_b, int K, int N, const float *B, int ldb, float *pb) {
    const int64_t nkb = (K + GEMM_KC - 1) / GEMM_KC, npan = round_up_nr(N) / NR, tasks = nkb * npan;
    #pragma omp parallel for schedule(static) if (!omp_in_parallel() && (double)K * N >= 65536.0)
    for (int64_t t = 0; t < tasks; t++) pack_b_panel(trans_b, K, N, B, ldb, t / npan, t % npan, pb);
}

/* pa = alpha op(A)[m0 .. m0 + mlen, k0 .. k0 + kc] as MR-row panels [kc][MR], rows past mlen zero. */
static void pack_a(int trans_a, const float *A, int lda, float alpha, int64_t m0, int64_t mlen, int64_t k0,
                   int64_t kc, float *pa) {
    for (int64_t p = 0; p * MR < mlen; p++) {
        float *dst = pa + p * kc * MR;
        for (int r = 0; r < MR; r++) {
            const int64_t m = p * MR + r;
            if (m >= mlen) {
                for (int64_t d = 0; d < kc; d++) dst[d * MR + r] = 0.0f;
            } else if (trans_a) {
                for (int64_t d = 0; d < kc; d++) dst[d * MR + r] = alpha * A[(k0 + d) * (int64_t)lda + m0 + m];
            } else {
                const float *src = A + (m0 + m) * (int64_t)lda + k0;
                for (int64_t d = 0; d < kc; d++) dst[d * MR + r] = alpha * src[d];
            }
        }
    }
}

/* One tile of C: rows m0 .. m0 + mlen, columns n0 .. n0 + nlen (n0 a multiple of NR). */
static void gemm_tile(int trans_a, int M, int N, int K, float alpha, const float *A, int lda, const float *pb,
                      float beta, float *C, int ldc, int64_t m0, int64_t n0) {
    float pa[GEMM_MC * GEMM_KC] __attribute__((aligned(64)));
    float tmp[MR * NR] __attribute__((aligned(64)));
    const int64_t mlen = M - m0 < GEMM_MC ? M - m0 : GEMM_MC, nlen = N - n0 < GEMM_NC ? N - n0 : GEMM_NC;
    const int64_t Np = round_up_nr(N);
    if (beta != 0.0f && beta != 1.0f)
        for (int64_t i = 0; i < mlen; i++)
            for (int64_t j = 0; j < nlen; j++) C[(m0 + i) * ldc + n0 + j] *= beta;
    for (int64_t k0 = 0; k0 < K; k0 += GEMM_KC) {
        const int64_t kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        const int add = k0 > 0 || beta != 0.0f;   /* beta == 0: C is never read */
        pack_a(trans_a, A, lda, alpha, m0, mlen, k0, kc, pa);
        for (int64_t p = 0; p * MR < mlen; p++) {
            const int64_t rows = mlen - p * MR < MR ? mlen - p * MR : MR;
            for (int64_t j0 = 0; j0 < nlen; j0 += NR) {
                const int64_t cols = nlen - j0 < NR ? nlen - j0 : NR;
                const float *bpan = pb + k0 * Np + (n0 + j0) / NR * kc * NR;
                float *c = C + (m0 + p * MR) * ldc + n0 + j0;
                if (rows == MR && cols == NR) {
                    segc_conv_kernel(kc, pa + p * kc * MR, bpan, c, ldc, NULL, add, 0);
                    continue;
                }
                segc_conv_kernel(kc, pa + p * kc * MR, bpan, tmp, NR, NULL, 0, 0);   /* an edge: only the valid part */
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t j = 0; j < cols; j++) c[r * ldc + j] = (add ? c[r * ldc + j] : 0.0f) + tmp[r * NR + j];
            }
        }
    }
}

void segc_gemm_packed(int trans_a, int M, int N, int K, float alpha, const float *A, int lda, const float *pb,
                      float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {   /* C = beta C; beta == 0 never reads C */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    const int64_t mt = (M + GEMM_MC - 1) / GEMM_MC, nt = (N + GEMM_NC - 1) / GEMM_NC, tasks = mt * nt;
    const int par = !omp_in_parallel() && tasks > 1 && (double)M * N * K >= GEMM_PACKED_PARALLEL_MIN;
    #pragma omp parallel for schedule(dynamic, 1) if (par)
    for (int64_t t = 0; t < tasks; t++)
        gemm_tile(trans_a, M, N, K, alpha, A, lda, pb, beta, C, ldc, t / nt * GEMM_MC, t % nt * GEMM_NC);
}
