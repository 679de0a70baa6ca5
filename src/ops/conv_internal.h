/* conv_internal.h - private to the conv family (conv.c, conv_gemm.c, conv_depthwise.c, conv_transpose.c,
   winograd.c): the validated geometry of one convolution, the index arithmetic every kernel shares and
   the packed matrix kernel.
   Dims: N batch, C in-channels, H x W input; K out-channels, R x S kernel, P x Q output. */
#ifndef SEGC_OPS_CONV_INTERNAL_H
#define SEGC_OPS_CONV_INTERNAL_H

#include <stdint.h>

#include "ops/conv.h"

/* One validated convolution. x may be a view whose channel planes are contiguous (H*W floats
   each), so the batch and channel strides are kept; w and out are contiguous. */
typedef struct segc_conv_geom {
    int64_t N, C, H, W, K, R, S, P, Q;
    int64_t x_batch_stride, x_chan_stride;   /* in floats */
    int sh, sw, ph, pw, dh, dw, groups;
} segc_conv_geom;

/* Loops over fewer floats than this run on the calling thread: a parallel region costs a few
   microseconds on a quiet machine and up to a scheduler time slice on a loaded one. */
#define SEGC_CONV_PARALLEL_MIN ((int64_t)1 << 15)

/* Checks that t is a float32 tensor with exactly `ndim` dims (name is for the message). */
segc_status segc_conv_check_f32(const char *op, const char *name, const segc_tensor *t, int ndim);

/* Depthwise (groups == C == K) direct kernel: out[N,C,P,Q] = act(x * w[C,1,R,S] + bias).
   Arguments already validated; parallel over (n, c). */
void segc_conv_depthwise(const segc_conv_geom *g, const float *x, const float *w, const float *bias, segc_act act,
                         float *out);

/* The packed matrix product of conv_gemm.c, shared with winograd.c. A [K, D] is packed into MR-row panels
   [ceil(K / MR)][D][MR] (rows past K zero); B into NR-column panels [D][NR]. */
#define SEGC_CONV_MR 6    /* MR x NR sums = 12 AVX-512 registers (24 AVX2 ones) */
#define SEGC_CONV_NR 32

/* The innermost multiply loop (segc_conv_kernel, shared by convolutions and matrix products) is built
   without ASan/UBSan instrumentation: with it GCC does not vectorize the loop, and a sanitizer build ran
   15-50x slower there (CI's SAM 2 suite went from 53 s to 919 s once its products moved off OpenBLAS).
   It reads only our own packed panels; it also stores full MR x NR tiles into the caller's output, so
   those stores go unchecked too. The packing, edge tiles and everything around stay instrumented. */
#define SEGC_KERNEL_NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))

/* Number of MR-row panels for K rows. */
int64_t segc_conv_panels(int64_t k);
/* pa = A [K, D] (rows lda floats apart) in panels; pa holds segc_conv_panels(K) * D * MR floats. */
void segc_conv_pack_a(const float *a, int64_t lda, int64_t K, int64_t D, float *pa);
/* c[r, j] = relu?(sum_d pa[d, r] pb[d, j] + bias[r] (+ c[r, j] if add)), r < MR, j < NR: one A panel
   [D][MR] times one B panel [D][NR] into rows of c ldc floats apart (all MR x NR written); bias (MR
   values) may be NULL. Shared by conv_gemm.c, winograd.c and gemm_packed.c. */
SEGC_KERNEL_NO_SANITIZE void segc_conv_kernel(int64_t D, const float *restrict pa, const float *restrict pb,
                                              float *restrict c, int64_t ldc, const float *bias, int add, int relu);

/* Dense (not depthwise) convolution by the packed product: out[N,K,P,Q] = act(conv(x, w) + bias + res),
   res laid out like out or NULL (it may be out itself: each element is read before it is written).
   Arguments already validated; packed operands come from `scratch` (released before return). */
segc_status segc_conv_dense(segc_arena *scratch, const segc_conv_geom *g, const float *x, const float *w,
                            const float *bias, const float *res, segc_act act, float *out);

/* floor(a / b) for b > 0 (C division truncates toward zero). */
static inline int64_t segc_conv_floor_div(int64_t a, int64_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* The output positions o in [0, n_out) whose input i = o * stride + offset lands inside [0, n_in):
   the result is [*lo, *hi) (empty when *lo >= *hi). With offset = r * dilation - pad this is the
   border test of a convolution done once per kernel tap instead of once per pixel. */
static inline void segc_conv_valid_range(int64_t n_out, int64_t n_in, int64_t stride, int64_t offset, int64_t *lo,
                                         int64_t *hi) {
    int64_t a = -offset, b = n_in - offset;   /* stride 1 without the (slow) 64-bit divisions */
    if (stride != 1) {
        a = -segc_conv_floor_div(offset, stride);                    /* ceil(-offset / stride) */
        b = segc_conv_floor_div(n_in - 1 - offset, stride) + 1;
    }
    *lo = a > 0 ? a : 0;
    *hi = b < n_out ? b : n_out;
    if (*hi < *lo) *hi = *lo;
}

#endif
