/* winograd.c - F(4x4, 3x3) Winograd convolution (see winograd.h). The tiles of the output, in raster
   order over (n, tile row, tile column), are cut into blocks of NB tiles; a thread takes a block and
     1. input transform: V[36, C, NB] = B^T d B of each 6x6 input patch (zero outside the map: the padding),
     2. M[xi] = U[xi] [K, C] x V[xi] [C, NB] for the 36 points xi, by the register-blocked kernel of
        conv_gemm.c (U packed at prepare time, V written by step 1 directly in its panel layout),
     3. output transform: A^T m A into each 4x4 tile, + bias (+ residual), ReLU, clipped at the map border.
   Both transforms work on up to NT tiles of one tile row at a time, with the tiles in the vector lanes.
   Measured on one Zen 5 core (W48 branch shapes, 48-384 channels): 2.2-3.5x the speed of the previous
   whole-map passes with OpenBLAS products, the kernel at 60-75% of the core's peak.
   Matrices: Lavin & Gray 2015, interpolation points 0, +-1, +-2, infinity. */
#include "ops/winograd.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/conv_internal.h"

#define ALPHA SEGC_WINOGRAD_ALPHA
#define TILE SEGC_WINOGRAD_TILE
#define NXI (ALPHA * ALPHA)   /* 36 transformed points */
#define MR SEGC_CONV_MR       /* output channels per kernel call (conv_gemm.c) */
#define NT SEGC_CONV_NR       /* tiles per kernel call and per transform piece */
_Static_assert(SEGC_WINOGRAD_MR == SEGC_CONV_MR, "winograd.h describes the kernel's panel height");
/* Tiles per block: NT, or up to 4 NT (as long as every thread gets a block) when the packed filters are
   larger than this: every block reads all of them from memory (384 x 384 channels, 128 tiles: 12.6 ms in
   blocks of 64 tiles, 11.0 ms in one block of 128; 192 x 192 channels were faster in blocks of 32). */
#define WINOGRAD_BIG_FILTERS_BYTES ((int64_t)8 << 20)
#define WINOGRAD_BIG_BLOCK_FACTOR 4
/* Floats of padding between the 36 planes of V and of M (one cache line; see v_stride). */
#define WINOGRAD_PLANE_PAD 16
/* Channels per chunk when preparing the filters (36 x MR x this floats of local buffer). */
#define PREPARE_CHUNK 32
/* The input transform of plane c prefetches plane c + this. */
#define WINOGRAD_PREFETCH_PLANES 2
/* Below this many multiply-adds a conv runs on the calling thread. */
#define WINOGRAD_PARALLEL_MIN_MACS ((int64_t)1 << 22)

/* B^T (6x6) = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1] and
   A^T (4x6) = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] are written out in bt_rows / at_rows. */
static const float G[ALPHA][3] = {
    {1.0f / 4, 0, 0},
    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6},
    {1.0f / 24, -1.0f / 12, 1.0f / 6},
    {0, 0, 1},
};

segc_status segc_winograd_prepare_scaled(const segc_tensor *w, const float *scale, segc_winograd_weights *u) {
    memset(u, 0, sizeof *u);
    if (!w || w->dtype != SEGC_F32 || w->ndim != 4 || w->shape[2] != 3 || w->shape[3] != 3 ||
        !segc_tensor_is_contiguous(w) || w->shape[0] < 1 || w->shape[1] < 1)
        return segc_fail(SEGC_ERR_SHAPE, "winograd: weight must be contiguous f32 [K, C, 3, 3]");
    const int64_t k = w->shape[0], c = w->shape[1], np = segc_conv_panels(k);
    if (c > 1 << 20 || k > 1 << 20)
        return segc_fail(SEGC_ERR_SHAPE, "winograd: %lld x %lld filters are too many", (long long)k, (long long)c);
    u->u = calloc((size_t)(NXI * np * MR * c), sizeof(float));
    if (!u->u) return segc_fail(SEGC_ERR_NOMEM, "winograd: %lld x %lld filters", (long long)k, (long long)c);
    u->k = k, u->c = c;
    const float *wd = w->data;
    float *ud = u->u;
    /* per panel and chunk of PREPARE_CHUNK channels: all 36 points of those filters into `t`, then out to
       the 36 rows of U, each a contiguous run (36 rows written a filter at a time are 36 streams the
       same power-of-two distance apart: one cache set, and every store a miss) */
    #pragma omp parallel for schedule(static) if (k * c >= 4096)
    for (int64_t p = 0; p < np; p++) {
        float t[PREPARE_CHUNK][MR][NXI];
        for (int64_t c0 = 0; c0 < c; c0 += PREPARE_CHUNK) {
            const int64_t nc = c - c0 < PREPARE_CHUNK ? c - c0 : PREPARE_CHUNK;
            memset(t, 0, sizeof t);   /* rows past k stay zero */
            for (int64_t i = 0; i < nc; i++)
                for (int64_t kk = p * MR; kk < k && kk < (p + 1) * MR; kk++) {   /* G g G^T, filter (kk, c0 + i) */
                    const float *g = wd + 9 * (kk * c + c0 + i);
                    const float sc = scale ? scale[kk] : 1.0f;
                    float tmp[ALPHA][3];
                    for (int a = 0; a < ALPHA; a++)
                        for (int j = 0; j < 3; j++)
                            tmp[a][j] = G[a][0] * g[j] + G[a][1] * g[3 + j] + G[a][2] * g[6 + j];
                    for (int a = 0; a < ALPHA; a++)
                        for (int b = 0; b < ALPHA; b++)
                            t[i][kk % MR][a * ALPHA + b] =
                                (tmp[a][0] * G[b][0] + tmp[a][1] * G[b][1] + tmp[a][2] * G[b][2]) * sc;
                }
            for (int xi = 0; xi < NXI; xi++) {
                float *dst = ud + ((xi * np + p) * c + c0) * MR;
                for (int64_t i = 0; i < nc; i++)
                    for (int r = 0; r < MR; r++) dst[i * MR + r] = t[i][r][xi];
            }
        }
    }
    return SEGC_OK;
}

segc_status segc_winograd_prepare(const segc_tensor *w, segc_winograd_weights *u) {
    return segc_winograd_prepare_scaled(w, NULL, u);
}

void segc_winograd_weights_free(segc_winograd_weights *u) {
    if (!u) return;
    free(u->u);
    memset(u, 0, sizeof *u);
}

/* r[a][j] = (B^T d_j)[a], a = 0..5, for the 6-vectors d_j = (d[0][j], ..., d[5][j]), j < NT: B^T's rows
   written out (the zeros and the shared terms skipped), with the vectors in the lanes (always NT of them:
   a fixed trip count the compiler turns into vector code; r is a local array so that it needs no alias
   checks between the six output rows). */
static void bt_rows(const float *const d[ALPHA], float (*restrict r)[NT]) {
    const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3], *d4 = d[4], *d5 = d[5];
    for (int j = 0; j < NT; j++) {
        float t1 = d4[j] - 4.0f * d2[j], t2 = d3[j] - 4.0f * d1[j], t3 = d4[j] - d2[j], t4 = 2.0f * (d3[j] - d1[j]);
        r[0][j] = 4.0f * d0[j] - 5.0f * d2[j] + d4[j];
        r[1][j] = t1 + t2;
        r[2][j] = t1 - t2;
        r[3][j] = t3 + t4;
        r[4][j] = t3 - t4;
        r[5][j] = 4.0f * d1[j] - 5.0f * d3[j] + d5[j];
    }
}

/* r_a[j] = (A^T m_j)[a], a = 0..3, j < NT, for the 6-vectors m_j = (m_0[j], ..., m_5[j]) where m_q is
   m + q ms and r_a is r + a rs (four output rows: few enough alias checks for the compiler to vectorize). */
static void at_rows(const float *restrict m, int64_t ms, float *restrict r, int64_t rs) {
    const float *m0 = m, *m1 = m + ms, *m2 = m + 2 * ms, *m3 = m + 3 * ms, *m4 = m + 4 * ms, *m5 = m + 5 * ms;
    float *r0 = r, *r1 = r + rs, *r2 = r + 2 * rs, *r3 = r + 3 * rs;
    for (int j = 0; j < NT; j++) {
        float s12 = m1[j] + m2[j], d12 = m1[j] - m2[j], s34 = m3[j] + m4[j], d34 = m3[j] - m4[j];
        r0[j] = m0[j] + s12 + s34;
        r1[j] = d12 + 2.0f * d34;
        r2[j] = s12 + 4.0f * s34;
        r3[j] = d12 + 8.0f * d34 + m5[j];
    }
}

/* V for `len` (<= NT) tiles of one tile row of the plane p [H, W]: tile j's patch has its top left at
   (y0, x0 + TILE j) (y0, x0 may be -1: the padding). Writes v[xi * vs + j] = (B^T d_j B)[xi], j < len
   (the transforms run on NT lanes; the lanes past len are dropped). */
static void input_piece(const float *p, int64_t H, int64_t W, int64_t y0, int64_t x0, int len, float *v, int64_t vs) {
    float t[ALPHA][ALPHA][NT];   /* t[q][b][j] = (d_j B)[q][b]: each patch row transformed */
    float e[TILE][NT + 1];       /* e[b][j] = patch row q, column TILE j + b: the row split by phase */
    float padded[TILE * (NT + 1)];
    const int64_t span = TILE * (NT + 1);
    for (int q = 0; q < ALPHA; q++) {
        const int64_t y = y0 + q;
        if (y < 0 || y >= H) {
            memset(t[q], 0, sizeof t[q]);
            continue;
        }
        const float *row = p + y * W, *src = padded;
        if (x0 < 0 || x0 + span > W) {   /* the patch row crosses the left or right border */
            int64_t lo = x0 < 0 ? -x0 : 0, hi = TILE * len + 2;
            if (x0 + hi > W) hi = W - x0;
            memset(padded, 0, sizeof padded);
            memcpy(padded + lo, row + x0 + lo, sizeof(float) * (size_t)(hi - lo));
        } else {
            src = row + x0;
        }
        for (int j = 0; j < NT + 1; j++) {   /* all four phases in one loop: vector loads and shuffles */
            e[0][j] = src[TILE * j];
            e[1][j] = src[TILE * j + 1];
            e[2][j] = src[TILE * j + 2];
            e[3][j] = src[TILE * j + 3];
        }
        const float *d[ALPHA] = {e[0], e[1], e[2], e[3], e[0] + 1, e[1] + 1};   /* columns 4, 5 = next tile's 0, 1 */
        bt_rows(d, t[q]);
    }
    for (int b = 0; b < ALPHA; b++) {
        float r[ALPHA][NT];
        const float *d[ALPHA] = {t[0][b], t[1][b], t[2][b], t[3][b], t[4][b], t[5][b]};
        bt_rows(d, r);
        for (int a = 0; a < ALPHA; a++) {
            float *dst = v + (a * ALPHA + b) * vs;
            for (int j = 0; j < len; j++) dst[j] = r[a][j];
        }
    }
}

/* Where a piece of output goes and what joins it: plane o [H, W] (and residual plane r, or NULL) of one
   output channel, bias, and whether ReLU follows. */
typedef struct out_plane {
    float *o;
    const float *r;
    float bias;
    int relu;
} out_plane;

/* The 4x4 tiles of `len` (<= NT) tiles of one tile row, from m[xi * ms + j] (read for all j < NT): tile j
   covers rows y0 .. y0 + 3 and columns x0 + TILE j .. + 3 of the plane [H, W], clipped at its border. */
static void output_piece(const float *m, int64_t ms, int len, const out_plane *op, int64_t H, int64_t W, int64_t y0,
                         int64_t x0) {
    float t[TILE][ALPHA][NT];   /* t[a][b][j] = (A^T m_j)[a][b] */
    float f[TILE][NT];          /* f[b][j] = output row a of tile j, column b */
    float row[TILE * NT];
    for (int b = 0; b < ALPHA; b++) at_rows(m + b * ms, ALPHA * ms, t[0][b], ALPHA * NT);
    const int64_t width = W - x0 < TILE * len ? W - x0 : TILE * len;
    for (int a = 0; a < TILE && y0 + a < H; a++) {
        at_rows(t[a][0], NT, f[0], NT);
        for (int j = 0; j < NT; j++) {   /* all four columns in one loop: shuffles and vector stores */
            row[TILE * j] = f[0][j];
            row[TILE * j + 1] = f[1][j];
            row[TILE * j + 2] = f[2][j];
            row[TILE * j + 3] = f[3][j];
        }
        float *o = op->o + (y0 + a) * W + x0;
        const float *res = op->r ? op->r + (y0 + a) * W + x0 : NULL;
        if (res)
            for (int64_t i = 0; i < width; i++) row[i] += res[i];
        for (int64_t i = 0; i < width; i++) {
            float v = row[i] + op->bias;
            o[i] = op->relu && v < 0.0f ? 0.0f : v;
        }
    }
}

/* One convolution's geometry and operands. */
typedef struct wino_job {
    const float *x, *u, *bias, *res;
    float *out;
    int64_t N, C, K, H, W, th, tw, tiles, nb;   /* nb: tiles per block (a multiple of NT) */
    int relu;
} wino_job;

/* A run of tiles of the block that share a tile row and a kernel panel: image n, tile row ty, tile columns
   tx .. tx + len - 1, columns j .. j + len - 1 of the block (len <= NT, all in panel j / NT). */
typedef struct tile_run {
    int64_t n, ty, tx, len, j;
} tile_run;

/* The run starting at tile t of a block that starts at t0 and has nt tiles. */
static tile_run run_at(const wino_job *jb, int64_t t0, int64_t nt, int64_t t) {
    tile_run r;
    int64_t per_image = jb->th * jb->tw, rest = t % per_image;
    r.n = t / per_image, r.ty = rest / jb->tw, r.tx = rest % jb->tw, r.j = t - t0;
    r.len = jb->tw - r.tx < t0 + nt - t ? jb->tw - r.tx : t0 + nt - t;
    if (r.len > NT - r.j % NT) r.len = NT - r.j % NT;
    return r;
}

/* Asks the cache for the rows y0 .. y0 + 5, columns x0 .. x0 + span - 1 (clipped) of the plane p [H, W]:
   a piece reads short row segments of C planes in turn, too short for the hardware prefetcher. */
static void prefetch_rows(const float *p, int64_t H, int64_t W, int64_t y0, int64_t x0, int64_t span) {
    int64_t lo = x0 < 0 ? 0 : x0, hi = x0 + span > W ? W : x0 + span;
    for (int64_t y = y0 < 0 ? 0 : y0; y < y0 + ALPHA && y < H; y++)
        for (int64_t i = lo; i < hi; i += 64 / sizeof(float)) __builtin_prefetch(p + y * W + i);
    for (int64_t y = y0 < 0 ? 0 : y0; y < y0 + ALPHA && y < H; y++) __builtin_prefetch(p + y * W + hi - 1);
}

/* Floats between the 36 points of V (the B panels of the kernel, [nb / NT][C][NT] each) and of M
   ([Kp][nb] each): one cache line more than the data, so that the 36 rows a transform reads or writes at
   once fall into different cache sets (the data alone is a multiple of 2 KiB for every HRNet width). */
static int64_t v_stride(const wino_job *jb) { return jb->nb * jb->C + WINOGRAD_PLANE_PAD; }
static int64_t m_stride(const wino_job *jb) { return jb->nb * segc_conv_panels(jb->K) * MR + WINOGRAD_PLANE_PAD; }

/* Block b of the job with this thread's buffers v [36][vs] and m [36][ms] (+ NT floats of room:
   output_piece reads NT lanes); tile t0 + j is column j. */
static void run_block(const wino_job *jb, int64_t b, float *v, float *m) {
    const int64_t t0 = b * jb->nb, nt = jb->tiles - t0 < jb->nb ? jb->tiles - t0 : jb->nb;
    const int64_t npan = (nt + NT - 1) / NT, np = segc_conv_panels(jb->K), C = jb->C, nb = jb->nb;
    const int64_t HW = jb->H * jb->W, vs = v_stride(jb), ms = m_stride(jb);
    /* 1. input transform, run by run; lanes past nt stay zero */
    if (nt < npan * NT)
        for (int xi = 0; xi < NXI; xi++)
            for (int64_t c = 0; c < C; c++)
                memset(v + xi * vs + ((npan - 1) * C + c) * NT, 0, sizeof(float) * NT);
    for (int64_t t = t0; t < t0 + nt;) {
        tile_run r = run_at(jb, t0, nt, t);
        float *vr = v + (r.j / NT) * C * NT + r.j % NT;
        for (int64_t c = 0; c < C; c++) {
            if (c + WINOGRAD_PREFETCH_PLANES < C)
                prefetch_rows(jb->x + (r.n * C + c + WINOGRAD_PREFETCH_PLANES) * HW, jb->H, jb->W, r.ty * TILE - 1,
                              r.tx * TILE - 1, TILE * r.len + 2);
            input_piece(jb->x + (r.n * C + c) * HW, jb->H, jb->W, r.ty * TILE - 1, r.tx * TILE - 1, (int)r.len,
                        vr + c * NT, vs);
        }
        t += r.len;
    }
    /* 2. the 36 products, MR output channels x NT tiles per kernel call */
    for (int xi = 0; xi < NXI; xi++)
        for (int64_t p = 0; p < np; p++)
            for (int64_t s = 0; s < npan; s++)
                segc_conv_kernel(C, jb->u + (xi * np + p) * C * MR, v + xi * vs + s * C * NT,
                                 m + xi * ms + p * MR * nb + s * NT, nb, NULL, 0, 0);
    /* 3. output transform */
    for (int64_t t = t0; t < t0 + nt;) {
        tile_run r = run_at(jb, t0, nt, t);
        for (int64_t k = 0; k < jb->K; k++) {
            int64_t plane = (r.n * jb->K + k) * HW;
            out_plane op = {jb->out + plane, jb->res ? jb->res + plane : NULL, jb->bias ? jb->bias[k] : 0.0f, jb->relu};
            output_piece(m + k * nb + r.j, ms, (int)r.len, &op, jb->H, jb->W, r.ty * TILE, r.tx * TILE);
        }
        t += r.len;
    }
}

/* Checks the arguments of a conv: shapes, dtypes, contiguity, and that out shares no memory with x nor
   with the residual (unless the residual is exactly out). */
static segc_status check_args(segc_arena *scratch, const segc_tensor *x, const segc_winograd_weights *u,
                              const segc_tensor *bias, const segc_tensor *residual, const segc_tensor *out) {
    char b1[96], b2[96];
    if (!scratch || !x || !u || !u->u || !out) return segc_fail(SEGC_ERR_INVALID_ARG, "winograd: NULL argument");
    if (x->dtype != SEGC_F32 || x->ndim != 4 || x->shape[1] != u->c || !segc_tensor_is_contiguous(x))
        return segc_fail(SEGC_ERR_SHAPE, "winograd: x is %s %s, want contiguous f32 [N, %lld, H, W]",
                         segc_dtype_name(x->dtype), segc_tensor_shape_str(x, b1, sizeof b1), (long long)u->c);
    const int64_t want[4] = {x->shape[0], u->k, x->shape[2], x->shape[3]};
    const int64_t numel = want[0] * want[1] * want[2] * want[3];
    if (out->dtype != SEGC_F32 || !segc_tensor_has_shape(out, 4, want) || !segc_tensor_is_contiguous(out) ||
        (numel > 0 && !out->data))
        return segc_fail(SEGC_ERR_SHAPE, "winograd: out is %s, want contiguous f32 [%lld, %lld, %lld, %lld] (x %s)",
                         segc_tensor_shape_str(out, b1, sizeof b1), (long long)want[0], (long long)want[1],
                         (long long)want[2], (long long)want[3], segc_tensor_shape_str(x, b2, sizeof b2));
    if (residual && (residual->dtype != SEGC_F32 || !segc_tensor_has_shape(residual, 4, want) ||
                     !segc_tensor_is_contiguous(residual) || (numel > 0 && !residual->data)))
        return segc_fail(SEGC_ERR_SHAPE, "winograd: residual is %s, want contiguous f32 like out",
                         segc_tensor_shape_str(residual, b1, sizeof b1));
    if (bias && (bias->dtype != SEGC_F32 || segc_tensor_numel(bias) != u->k || !segc_tensor_is_contiguous(bias)))
        return segc_fail(SEGC_ERR_SHAPE, "winograd: bias must be contiguous f32 [%lld]", (long long)u->k);
    const char *o0 = out->data, *o1 = o0 + numel * 4, *x0 = x->data, *x1 = x0 + segc_tensor_numel(x) * 4;
    if (numel > 0 && o0 < x1 && x0 < o1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "winograd: out overlaps x (in-place convolution is not supported)");
    const char *r0 = residual ? residual->data : NULL, *r1 = r0 ? r0 + numel * 4 : NULL;
    if (numel > 0 && r0 && r0 != o0 && o0 < r1 && r0 < o1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "winograd: the residual overlaps out without being out");
    return SEGC_OK;
}

segc_status segc_winograd_conv3x3_ex(segc_arena *scratch, const segc_tensor *x, const segc_winograd_weights *u,
                                     const segc_tensor *bias, const segc_tensor *residual, segc_act act,
                                     segc_tensor *out) {
    segc_status st = check_args(scratch, x, u, bias, residual, out);
    if (st) return st;
    wino_job jb = {.x = x->data, .u = u->u, .bias = bias ? bias->data : NULL, .res = residual ? residual->data : NULL,
                   .out = out->data, .N = x->shape[0], .C = u->c, .K = u->k, .H = x->shape[2], .W = x->shape[3],
                   .relu = act == SEGC_ACT_RELU};
    if (jb.N * jb.H * jb.W == 0) return SEGC_OK;
    jb.th = (jb.H + TILE - 1) / TILE, jb.tw = (jb.W + TILE - 1) / TILE, jb.tiles = jb.N * jb.th * jb.tw;
    const int64_t kp = segc_conv_panels(jb.K) * MR, macs = NXI * kp * jb.C * jb.tiles;
    int threads = macs >= WINOGRAD_PARALLEL_MIN_MACS ? omp_get_max_threads() : 1;
    int64_t factor = (int64_t)NXI * kp * jb.C * 4 > WINOGRAD_BIG_FILTERS_BYTES ? WINOGRAD_BIG_BLOCK_FACTOR : 1;
    while (factor > 1 && (jb.tiles + factor * NT - 1) / (factor * NT) < threads) factor /= 2;   /* a block each */
    jb.nb = factor * NT;
    const int64_t nblocks = (jb.tiles + jb.nb - 1) / jb.nb, per_thread = NXI * (v_stride(&jb) + m_stride(&jb)) + NT;
    if (threads > nblocks) threads = (int)nblocks;
    segc_arena_mark mark = segc_arena_get_mark(scratch);
    float *buf = segc_arena_alloc_array(scratch, (size_t)(threads * per_thread), sizeof(float));
    if (!buf) {
        segc_arena_release(scratch, mark);
        return SEGC_ERR_NOMEM;   /* reason set by the arena */
    }
    #pragma omp parallel num_threads(threads) if (threads > 1)
    {
        float *v = buf + omp_get_thread_num() * per_thread, *m = v + NXI * v_stride(&jb);
        #pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nblocks; b++) run_block(&jb, b, v, m);
    }
    segc_arena_release(scratch, mark);
    if (act != SEGC_ACT_NONE && act != SEGC_ACT_RELU)
        segc_act_apply(act, out->data, (size_t)segc_tensor_numel(out));
    return SEGC_OK;
}

segc_status segc_winograd_conv3x3(segc_arena *scratch, const segc_tensor *x, const segc_winograd_weights *u,
                                  const segc_tensor *bias, segc_act act, segc_tensor *out) {
    return segc_winograd_conv3x3_ex(scratch, x, u, bias, NULL, act, out);
}

segc_status segc_winograd_conv3x3_new(segc_arena *arena, const segc_tensor *x, const segc_winograd_weights *u,
                                      const segc_tensor *bias, segc_act act, segc_tensor *out) {
    if (!arena || !x || !u || !out) return segc_fail(SEGC_ERR_INVALID_ARG, "winograd: NULL argument");
    if (x->ndim != 4) return segc_fail(SEGC_ERR_SHAPE, "winograd: x must be [N, C, H, W]");
    segc_status st = segc_tensor_new_f32(arena, out, 4, x->shape[0], u->k, x->shape[2], x->shape[3]);
    if (st) return st;
    return segc_winograd_conv3x3(arena, x, u, bias, act, out);
}
