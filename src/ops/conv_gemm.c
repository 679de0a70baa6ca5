/* conv_gemm.c - dense convolution (any kernel size, stride, padding, dilation, groups) as our own packed
   matrix product, and the register-blocked kernel it shares with Winograd (winograd.c).
   Per image and group the output is out[Kg, P*Q] = A[Kg, D] B[D, P*Q] with D = Cg*R*S, A the weights and
   B the im2col matrix. The P*Q columns are cut into blocks (block_cols); a thread takes a block,
   builds its B in NR-column panels (im2col straight into the panel layout; for 1x1 stride-1 convs a copy
   of the input rows), then for each MR-row panel of the packed A and each B panel computes an MR x NR
   block of sums in registers and stores it with bias and ReLU. One parallel region per conv, no
   whole-image im2col buffer, and B stays in the core's cache while every output channel is computed.
   Why not OpenBLAS here: its kernels for this CPU family are 256-bit (OpenBLAS 0.3.21 picks Haswell
   kernels on AVX-512 Zen parts); the loop below, compiled with -march=native, runs 1.6x faster
   (bench/kernels).
   Dims: N batch, C in-channels, H x W input; K out-channels, R x S kernel, P x Q output; Cg = C / groups,
   Kg = K / groups, D = Cg R S. */
#include <omp.h>
#include <string.h>

#include "core/status.h"
#include "ops/conv_internal.h"

#define MR SEGC_CONV_MR
#define NR SEGC_CONV_NR
/* A block's B: at most this many bytes (D x 128 floats for D = 720: within the core's L2 beside the
   output rows), and at most this many columns (longer runs of each input row for shallow convs). */
#define CONV_BLOCK_BYTES ((int64_t)384 << 10)
#define CONV_MAX_BLOCK_COLS (16 * NR)
/* im2col of channel c prefetches the block's input window of channel c + this: a block reads a short
   window of each channel in turn, too short for the hardware prefetcher to catch on. */
#define CONV_PREFETCH_CHANNELS 2
/* Below this many multiply-adds a conv runs on the calling thread; below this many weights, so does
   the packing. */
#define CONV_PARALLEL_MIN_MACS ((int64_t)1 << 22)
#define CONV_PARALLEL_MIN_PACK ((int64_t)1 << 16)

int64_t segc_conv_panels(int64_t k) { return (k + MR - 1) / MR; }

void segc_conv_pack_a(const float *a, int64_t lda, int64_t K, int64_t D, float *pa) {
    #pragma omp parallel for schedule(static) if (K * D >= CONV_PARALLEL_MIN_PACK)
    for (int64_t p = 0; p < segc_conv_panels(K); p++)
        for (int64_t d = 0; d < D; d++)
            for (int r = 0; r < MR; r++) {
                int64_t k = p * MR + r;
                pa[(p * D + d) * MR + r] = k < K ? a[k * lda + d] : 0.0f;
            }
}

/* The MR x NR sums live in `acc` (12 AVX-512 registers once the compiler unrolls the fixed-size loops);
   each step of d broadcasts MR weights and loads one NR-wide row of B. Bias, the old value of c (add:
   a product cut into depth blocks, gemm_packed.c) and ReLU are applied on the way out, so the block is
   stored once. */
SEGC_KERNEL_NO_SANITIZE void segc_conv_kernel(int64_t D, const float *restrict pa, const float *restrict pb,
                                              float *restrict c, int64_t ldc, const float *bias, int add, int relu) {
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) acc[r][j] = 0.0f;
    for (int64_t d = 0; d < D; d++) {
        const float *a = pa + d * MR, *b = pb + d * NR;
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) acc[r][j] += a[r] * b[j];
    }
    if (add) {   /* a later depth block of a product: onto what the earlier ones stored */
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) acc[r][j] += c[r * ldc + j];
    }
    for (int r = 0; r < MR; r++) {   /* the sum, then the bias (the rounding of a product then a bias pass) */
        const float b = bias ? bias[r] : 0.0f;
        for (int j = 0; j < NR; j++) {
            float v = acc[r][j] + b;
            c[r * ldc + j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

/* out[k, j] = relu?(sum_d A[k, d] B[d, j] + bias[k] + res[k, j]) for k < K, j < ncols: pa packed A
   [panels][D][MR], pb the block's B [ceil(ncols / NR)][D][NR] (lanes past ncols are ignored), out and res
   (or NULL) rows ldo apart. */
static void gemm_block(int64_t K, int64_t D, const float *pa, const float *pb, int64_t ncols, float *out, int64_t ldo,
                       const float *bias, const float *res, int relu) {
    float tmp[MR * NR];
    for (int64_t p = 0; p < segc_conv_panels(K); p++) {
        const int64_t k0 = p * MR, rows = K - k0 < MR ? K - k0 : MR;
        for (int64_t j0 = 0; j0 < ncols; j0 += NR) {
            const int64_t cols = ncols - j0 < NR ? ncols - j0 : NR;
            if (rows == MR && cols == NR && !res) {   /* the common case: straight into out, bias and ReLU on */
                segc_conv_kernel(D, pa + p * D * MR, pb + (j0 / NR) * D * NR, out + k0 * ldo + j0, ldo,
                                 bias ? bias + k0 : NULL, 0, relu);
                continue;
            }
            /* an edge panel or a residual (which may be out itself: read before out is written) */
            segc_conv_kernel(D, pa + p * D * MR, pb + (j0 / NR) * D * NR, tmp, NR, NULL, 0, 0);
            for (int64_t r = 0; r < rows; r++) {
                const float b = bias ? bias[k0 + r] : 0.0f;
                const float *add = res ? res + (k0 + r) * ldo + j0 : NULL;
                float *dst = out + (k0 + r) * ldo + j0;
                for (int64_t j = 0; j < cols; j++) {
                    float v = tmp[r * NR + j] + b + (add ? add[j] : 0.0f);
                    dst[j] = relu && v < 0.0f ? 0.0f : v;
                }
            }
        }
    }
}

/* B panels of columns j0 .. j0 + ncols - 1 (output pixels in raster order) for a 1x1, stride-1,
   unpadded conv: B[d, j] = x[d, j], rows of x ld floats apart; lanes past ncols are zero. Row by row, so
   that each input row segment is read front to back (the hardware prefetcher follows it). */
static void build_b_1x1(const float *x, int64_t ld, int64_t D, int64_t j0, int64_t ncols, float *pb) {
    const int64_t full = ncols / NR, rest = ncols - full * NR;
    for (int64_t d = 0; d < D; d++) {
        const float *src = x + d * ld + j0;
        if (d + CONV_PREFETCH_CHANNELS < D)   /* each row is a short run of its own plane: ask ahead */
            for (int64_t i = 0; i < ncols; i += 16) __builtin_prefetch(src + CONV_PREFETCH_CHANNELS * ld + i);
        for (int64_t s = 0; s < full; s++) {   /* fixed-size copies: vector moves, no library call */
            float *dst = pb + (s * D + d) * NR;
            for (int j = 0; j < NR; j++) dst[j] = src[s * NR + j];
        }
        if (rest) {
            float *dst = pb + (full * D + d) * NR;
            memcpy(dst, src + full * NR, sizeof(float) * (size_t)rest);
            memset(dst + rest, 0, sizeof(float) * (size_t)(NR - rest));
        }
    }
}

/* dst[i] = xrow[(q0 + i) sw + xoff] for the output columns q0 + i inside [qlo, qhi), else 0 (all of them
   when xrow is NULL: the tap's input row is outside the image); n columns. */
static void gather_cols(const float *xrow, int64_t sw, int64_t xoff, int64_t q0, int64_t n, int64_t qlo, int64_t qhi,
                        float *dst) {
    int64_t a = qlo - q0, b = qhi - q0;
    if (a < 0) a = 0;
    if (b > n) b = n;
    if (!xrow || b <= a) {
        memset(dst, 0, sizeof(float) * (size_t)n);
        return;
    }
    memset(dst, 0, sizeof(float) * (size_t)a);
    const float *src = xrow + (q0 + a) * sw + xoff;
    if (sw == 1) memcpy(dst + a, src, sizeof(float) * (size_t)(b - a));
    else if (sw == 2)   /* a constant stride lets the compiler vectorize the gather */
        for (int64_t i = 0; i < b - a; i++) dst[a + i] = src[2 * i];
    else
        for (int64_t i = 0; i < b - a; i++) dst[a + i] = src[i * sw];
    memset(dst + b, 0, sizeof(float) * (size_t)(n - b));
}

/* B panels of columns j0 .. j0 + ncols - 1 for the general conv (im2col into the panel layout):
   B[(c, r, s), j] = x[c, p sh - ph + r dh, q sw - pw + s dw] for output pixel j = p Q + q, 0 outside the
   image; x points at the group's first channel. Each row of B is gathered whole into `row` (runs break
   only at output rows), then dealt out to the panels. Lanes past ncols are zero. */
static void build_b_im2col(const segc_conv_geom *g, const float *x, int64_t Cg, int64_t j0, int64_t ncols,
                           float *row, float *pb) {
    const int64_t RS = g->R * g->S, D = Cg * RS, Q = g->Q, npan = (ncols + NR - 1) / NR;
    memset(row + ncols, 0, sizeof(float) * (size_t)(npan * NR - ncols));
    /* the input window of the block (rows y0 .. y1, columns x0 .. x1, clipped), to prefetch per channel */
    const int64_t p0 = j0 / Q, p1 = (j0 + ncols - 1) / Q;
    const int64_t q0 = p0 == p1 ? j0 % Q : 0, q1 = p0 == p1 ? (j0 + ncols - 1) % Q : Q - 1;
    int64_t y0 = p0 * g->sh - g->ph, y1 = p1 * g->sh - g->ph + (g->R - 1) * g->dh;
    int64_t x0 = q0 * g->sw - g->pw, x1 = q1 * g->sw - g->pw + (g->S - 1) * g->dw;
    y0 = y0 < 0 ? 0 : y0, x0 = x0 < 0 ? 0 : x0;
    y1 = y1 >= g->H ? g->H - 1 : y1, x1 = x1 >= g->W ? g->W - 1 : x1;
    for (int64_t d = 0; d < D; d++) {
        int64_t c = d / RS, r = (d / g->S) % g->R, s = d % g->S;
        if (d % RS == 0 && c + CONV_PREFETCH_CHANNELS < Cg && x0 <= x1) {   /* a new channel: ask for a later one */
            const float *xp = x + (c + CONV_PREFETCH_CHANNELS) * g->x_chan_stride;
            for (int64_t y = y0; y <= y1; y++)
                for (int64_t i = x0; i <= x1 + 15; i += 16) __builtin_prefetch(xp + y * g->W + (i < x1 ? i : x1));
        }
        int64_t plo, phi, qlo, qhi, xoff = s * g->dw - g->pw;
        segc_conv_valid_range(g->P, g->H, g->sh, r * g->dh - g->ph, &plo, &phi);
        segc_conv_valid_range(Q, g->W, g->sw, xoff, &qlo, &qhi);
        const float *xc = x + c * g->x_chan_stride;
        for (int64_t j = 0; j < ncols;) {
            int64_t p = (j0 + j) / Q, q = (j0 + j) % Q, n = Q - q < ncols - j ? Q - q : ncols - j;
            const float *xrow = p >= plo && p < phi ? xc + (p * g->sh + r * g->dh - g->ph) * g->W : NULL;
            gather_cols(xrow, g->sw, xoff, q, n, qlo, qhi, row + j);
            j += n;
        }
        for (int64_t sp = 0; sp < npan; sp++) {
            float *dst = pb + (sp * D + d) * NR;
            for (int j = 0; j < NR; j++) dst[j] = row[sp * NR + j];
        }
    }
}

/* Output columns per block for a conv of depth D: the block's B (D x cols floats) within
   CONV_BLOCK_BYTES, at least one panel, at most CONV_MAX_BLOCK_COLS, and at least two blocks per
   thread when the image allows (else the threads would wait on each other). */
static int64_t block_cols(int64_t D, int64_t PQ, int64_t items_per_block, int threads) {
    int64_t cols = CONV_BLOCK_BYTES / (D * (int64_t)sizeof(float)) / NR * NR;
    if (cols > CONV_MAX_BLOCK_COLS) cols = CONV_MAX_BLOCK_COLS;
    while (cols > NR && items_per_block * ((PQ + cols - 1) / cols) < 2 * threads) cols -= NR;
    return cols < NR ? NR : cols;
}

segc_status segc_conv_dense(segc_arena *scratch, const segc_conv_geom *g, const float *x, const float *w,
                            const float *bias, const float *res, segc_act act, float *out) {
    const int64_t Cg = g->C / g->groups, Kg = g->K / g->groups, D = Cg * g->R * g->S, PQ = g->P * g->Q;
    const int is_1x1 = g->R == 1 && g->S == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
    const int64_t np = segc_conv_panels(Kg);
    if (D == 0 || PQ == 0) {   /* no input channels: out = act(bias) */
        for (int64_t n = 0; n < g->N * g->K; n++)
            for (int64_t i = 0; i < PQ; i++)
                out[n * PQ + i] = (bias ? bias[n % g->K] : 0.0f) + (res ? res[n * PQ + i] : 0.0f);
        if (act != SEGC_ACT_NONE) segc_act_apply(act, out, (size_t)(g->N * g->K * PQ));
        return SEGC_OK;
    }
    const int64_t macs = g->N * g->K * D * PQ;
    int threads = macs >= CONV_PARALLEL_MIN_MACS ? omp_get_max_threads() : 1;
    const int64_t cols = block_cols(D, PQ, g->N * g->groups, threads), nblocks = (PQ + cols - 1) / cols;
    const int64_t items = g->N * g->groups * nblocks;
    if (threads > items) threads = (int)items;
    segc_arena_mark mark = segc_arena_get_mark(scratch);
    const int64_t pa_size = np * D * MR, pb_size = cols * (D + 1);   /* + one row for build_b_im2col */
    float *pa = segc_arena_alloc_array(scratch, (size_t)(g->groups * pa_size), sizeof(float));
    float *pb = pa ? segc_arena_alloc_array(scratch, (size_t)(threads * pb_size), sizeof(float)) : NULL;
    if (!pb) {
        segc_arena_release(scratch, mark);
        return segc_fail_context(SEGC_ERR_NOMEM, "conv2d: packed operands");
    }
    for (int gi = 0; gi < g->groups; gi++) segc_conv_pack_a(w + gi * Kg * D, D, Kg, D, pa + gi * pa_size);
    const int relu = act == SEGC_ACT_RELU;
    #pragma omp parallel num_threads(threads) if (threads > 1)
    {
        float *b = pb + omp_get_thread_num() * pb_size;
        #pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            const int64_t blk = it % nblocks, gi = (it / nblocks) % g->groups, n = it / (nblocks * g->groups);
            const int64_t j0 = blk * cols, ncols = PQ - j0 < cols ? PQ - j0 : cols;
            const float *xg = x + n * g->x_batch_stride + gi * Cg * g->x_chan_stride;
            if (is_1x1) build_b_1x1(xg, g->x_chan_stride, D, j0, ncols, b);
            else build_b_im2col(g, xg, Cg, j0, ncols, b + cols * D, b);
            const int64_t o = (n * g->K + gi * Kg) * PQ + j0;
            gemm_block(Kg, D, pa + gi * pa_size, b, ncols, out + o, PQ, bias ? bias + gi * Kg : NULL,
                       res ? res + o : NULL, relu);
        }
    }
    segc_arena_release(scratch, mark);
    if (act != SEGC_ACT_NONE && act != SEGC_ACT_RELU) segc_act_apply(act, out, (size_t)(g->N * g->K * PQ));
    return SEGC_OK;
}
