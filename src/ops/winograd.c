/* winograd.c - F(4x4, 3x3) Winograd convolution (see winograd.h). Per chunk of tiles: input transform
   V[36, C, nt] = B^T d B of each 6x6 input patch (zero outside the map: the padding), 36 sgemms
   M[xi] = U[xi] [K, C] x V[xi] [C, nt], output transform A^T m A into the 4x4 tile (+ bias), clipped at
   the map border; the activation runs over the whole output at the end.
   Matrices: Lavin & Gray 2015, interpolation points 0, +-1, +-2, infinity. */
#include "ops/winograd.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/gemm.h"

#define ALPHA SEGC_WINOGRAD_ALPHA
#define TILE SEGC_WINOGRAD_TILE
#define NXI (ALPHA * ALPHA)   /* 36 transformed points */
/* Tiles per chunk: V and M hold 36 x C x nt floats each (256 channels: 18 MiB). */
#define WINOGRAD_CHUNK_TILES 512
/* Extra floats between the 36 planes of V and M: the transforms write/read all 36 at once, and planes a
   power of two apart would fall into the same cache sets. */
#define WINOGRAD_PLANE_PAD 48

/* B^T (6x6) = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1] and
   A^T (4x6) = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] are written out in bt_vec / at_vec. */
static const float G[ALPHA][3] = {
    {1.0f / 4, 0, 0},
    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6},
    {1.0f / 24, -1.0f / 12, 1.0f / 6},
    {0, 0, 1},
};

segc_status segc_winograd_prepare(const segc_tensor *w, segc_winograd_weights *u) {
    memset(u, 0, sizeof *u);
    if (!w || w->dtype != SEGC_F32 || w->ndim != 4 || w->shape[2] != 3 || w->shape[3] != 3 ||
        !segc_tensor_is_contiguous(w) || w->shape[0] < 1 || w->shape[1] < 1)
        return segc_fail(SEGC_ERR_SHAPE, "winograd: weight must be contiguous f32 [K, C, 3, 3]");
    int64_t k = w->shape[0], c = w->shape[1];
    u->u = malloc(sizeof(float) * (size_t)(NXI * k * c));
    if (!u->u) return segc_fail(SEGC_ERR_NOMEM, "winograd: %lld x %lld filters", (long long)k, (long long)c);
    u->k = k, u->c = c;
    const float *wd = w->data;
    for (int64_t i = 0; i < k * c; i++) {   /* U = G g G^T for filter (k, c) = i */
        const float *g = wd + 9 * i;
        float tmp[ALPHA][3];
        for (int a = 0; a < ALPHA; a++)
            for (int j = 0; j < 3; j++) tmp[a][j] = G[a][0] * g[j] + G[a][1] * g[3 + j] + G[a][2] * g[6 + j];
        for (int a = 0; a < ALPHA; a++)
            for (int b = 0; b < ALPHA; b++)
                u->u[(int64_t)(a * ALPHA + b) * k * c + i] = tmp[a][0] * G[b][0] + tmp[a][1] * G[b][1] + tmp[a][2] * G[b][2];
    }
    return SEGC_OK;
}

void segc_winograd_weights_free(segc_winograd_weights *u) {
    if (!u) return;
    free(u->u);
    memset(u, 0, sizeof *u);
}

/* r = B^T d for one 6-vector (rows of BT written out: the zeros and the shared terms are skipped). */
static inline void bt_vec(const float d[ALPHA], float r[ALPHA]) {
    float t1 = d[4] - 4.0f * d[2], t2 = d[3] - 4.0f * d[1], t3 = d[4] - d[2], t4 = 2.0f * (d[3] - d[1]);
    r[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    r[1] = t1 + t2;
    r[2] = t1 - t2;
    r[3] = t3 + t4;
    r[4] = t3 - t4;
    r[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/* r = A^T m for one 6-vector. */
static inline void at_vec(const float m[ALPHA], float r[TILE]) {
    float s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
    r[0] = m[0] + s12 + s34;
    r[1] = d12 + 2.0f * d34;
    r[2] = s12 + 4.0f * s34;
    r[3] = d12 + 8.0f * d34 + m[5];
}

/* V[xi, c, j] for tile t of plane xc [H, W] (origin row y0, col x0, may be -1 or run past the map):
   B^T d B, i.e. bt_vec over the columns of d, then over the rows of the result. */
static void input_tile(const float *xc, int64_t H, int64_t W, int64_t y0, int64_t x0, float *v, int64_t xi_stride) {
    float d[ALPHA][ALPHA], tmp[ALPHA][ALPHA], col[ALPHA], r[ALPHA];
    int inside = y0 >= 0 && x0 >= 0 && y0 + ALPHA <= H && x0 + ALPHA <= W;
    for (int a = 0; a < ALPHA; a++) {
        int64_t y = y0 + a;
        if (inside) {
            memcpy(d[a], xc + y * W + x0, sizeof d[a]);
            continue;
        }
        for (int b = 0; b < ALPHA; b++) {
            int64_t x = x0 + b;
            d[a][b] = (y >= 0 && y < H && x >= 0 && x < W) ? xc[y * W + x] : 0.0f;
        }
    }
    for (int b = 0; b < ALPHA; b++) {   /* tmp = B^T d, column by column */
        for (int q = 0; q < ALPHA; q++) col[q] = d[q][b];
        bt_vec(col, r);
        for (int a = 0; a < ALPHA; a++) tmp[a][b] = r[a];
    }
    for (int a = 0; a < ALPHA; a++) {   /* V = tmp B, row by row */
        bt_vec(tmp[a], r);
        for (int b = 0; b < ALPHA; b++) v[(a * ALPHA + b) * xi_stride] = r[b];
    }
}

/* The 4x4 output tile A^T m A (+ bias) of m[xi] = mk[xi * xi_stride], written where it is inside [H, W]. */
static void output_tile(const float *mk, int64_t xi_stride, float bias, float *oc, int64_t H, int64_t W, int64_t y0,
                        int64_t x0) {
    float tmp[TILE][ALPHA], col[ALPHA], r[TILE];
    for (int b = 0; b < ALPHA; b++) {   /* tmp = A^T m, column by column */
        for (int q = 0; q < ALPHA; q++) col[q] = mk[(q * ALPHA + b) * xi_stride];
        at_vec(col, r);
        for (int a = 0; a < TILE; a++) tmp[a][b] = r[a];
    }
    for (int a = 0; a < TILE && y0 + a < H; a++) {   /* rows of tmp A */
        at_vec(tmp[a], r);
        float *row = oc + (y0 + a) * W + x0;
        for (int b = 0; b < TILE && x0 + b < W; b++) row[b] = r[b] + bias;
    }
}

segc_status segc_winograd_conv3x3(segc_arena *scratch, const segc_tensor *x, const segc_winograd_weights *u,
                                  const segc_tensor *bias, segc_act act, segc_tensor *out) {
    char b1[96], b2[96];
    if (!scratch || !x || !u || !u->u || !out)
        return segc_fail(SEGC_ERR_INVALID_ARG, "winograd: NULL argument");
    if (x->dtype != SEGC_F32 || x->ndim != 4 || x->shape[1] != u->c || !segc_tensor_is_contiguous(x))
        return segc_fail(SEGC_ERR_SHAPE, "winograd: x is %s %s, want contiguous f32 [N, %lld, H, W]",
                         segc_dtype_name(x->dtype), segc_tensor_shape_str(x, b1, sizeof b1), (long long)u->c);
    const int64_t N = x->shape[0], C = u->c, K = u->k, H = x->shape[2], W = x->shape[3];
    const int64_t want[4] = {N, K, H, W};
    if (out->dtype != SEGC_F32 || !segc_tensor_has_shape(out, 4, want) || !segc_tensor_is_contiguous(out) ||
        (N * K * H * W > 0 && !out->data))
        return segc_fail(SEGC_ERR_SHAPE, "winograd: out is %s, want contiguous f32 [%lld, %lld, %lld, %lld] (x %s)",
                         segc_tensor_shape_str(out, b1, sizeof b1), (long long)N, (long long)K, (long long)H,
                         (long long)W, segc_tensor_shape_str(x, b2, sizeof b2));
    if (bias && (bias->dtype != SEGC_F32 || segc_tensor_numel(bias) != K || !segc_tensor_is_contiguous(bias)))
        return segc_fail(SEGC_ERR_SHAPE, "winograd: bias must be contiguous f32 [%lld]", (long long)K);
    if (C > 1 << 20 || K > 1 << 20)
        return segc_fail(SEGC_ERR_SHAPE, "winograd: %lld x %lld channels are too many for sgemm", (long long)K,
                         (long long)C);
    if (N * H * W == 0) return SEGC_OK;
    const int64_t th = (H + TILE - 1) / TILE, tw = (W + TILE - 1) / TILE, tiles = N * th * tw;
    const int64_t chunk = tiles < WINOGRAD_CHUNK_TILES ? tiles : WINOGRAD_CHUNK_TILES;
    segc_arena_mark mark = segc_arena_get_mark(scratch);
    const int64_t vplane = C * chunk + WINOGRAD_PLANE_PAD, mplane = K * chunk + WINOGRAD_PLANE_PAD;
    float *v = segc_arena_alloc_array(scratch, (size_t)(NXI * vplane), sizeof(float));
    float *m = v ? segc_arena_alloc_array(scratch, (size_t)(NXI * mplane), sizeof(float)) : NULL;
    if (!m) {
        segc_arena_release(scratch, mark);
        return SEGC_ERR_NOMEM;   /* reason set by the arena */
    }
    const float *xd = x->data, *bd = bias ? bias->data : NULL;
    float *od = out->data;
    for (int64_t t0 = 0; t0 < tiles; t0 += chunk) {
        const int64_t nt = tiles - t0 < chunk ? tiles - t0 : chunk;
        /* V: [36, C, nt] */
        #pragma omp parallel for collapse(2) schedule(static)
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < nt; j++) {
                int64_t t = t0 + j, n = t / (th * tw), r = t % (th * tw);
                input_tile(xd + (n * C + c) * H * W, H, W, (r / tw) * TILE - 1, (r % tw) * TILE - 1, v + c * nt + j,
                           vplane);
            }
        /* M[xi] = U[xi] V[xi]: [K, nt] (threaded by the BLAS) */
        for (int xi = 0; xi < NXI; xi++)
            segc_sgemm(0, 0, (int)K, (int)nt, (int)C, 1.0f, u->u + xi * K * C, (int)C, v + xi * vplane, (int)nt, 0.0f,
                       m + xi * mplane, (int)nt);
        #pragma omp parallel for collapse(2) schedule(static)
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < nt; j++) {
                int64_t t = t0 + j, n = t / (th * tw), r = t % (th * tw);
                output_tile(m + k * nt + j, mplane, bd ? bd[k] : 0.0f, od + (n * K + k) * H * W, H, W, (r / tw) * TILE,
                            (r % tw) * TILE);
            }
    }
    segc_arena_release(scratch, mark);
    if (act != SEGC_ACT_NONE) segc_act_apply(act, od, (size_t)(N * K * H * W));
    return SEGC_OK;
}

segc_status segc_winograd_conv3x3_new(segc_arena *arena, const segc_tensor *x, const segc_winograd_weights *u,
                                      const segc_tensor *bias, segc_act act, segc_tensor *out) {
    if (!arena || !x || !u || !out) return segc_fail(SEGC_ERR_INVALID_ARG, "winograd: NULL argument");
    if (x->ndim != 4) return segc_fail(SEGC_ERR_SHAPE, "winograd: x must be [N, C, H, W]");
    segc_status st = segc_tensor_new_f32(arena, out, 4, x->shape[0], u->k, x->shape[2], x->shape[3]);
    if (st) return st;
    return segc_winograd_conv3x3(arena, x, u, bias, act, out);
}
