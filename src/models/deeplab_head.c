/* deeplab_head.c - three conv kernels of the DeepLab head that exploit its shapes (the model calls them;
   each has an oracle in tests/test_model_deeplab.c):
     1. the V3+ decoder's 3x3 conv over the bilinearly upsampled ASPP, computed at the ASPP's resolution;
     2. ASPP's atrous 3x3 convs without the products with the zero padding;
     3. Winograd F(2x2, 3x3) for the decoder's 3x3 conv over the 48 low-level channels.
   (2 and 3 are generic conv algorithms: candidates for src/ops/conv.c.)

   1. DeepLabHeadV3Plus runs conv3x3(cat[low48, up(aspp)]) at stride 4; 256 of its 304 input channels are
   up(aspp), a bilinear (align_corners=False) 4x upsampling of a stride-16 map. Channel mixing commutes
   with a per-channel spatial linear map, so for each tap t = (r, s) of the kernel
       W_t . up(a) = up(W_t . a),
   and the conv's contribution from those channels is
       out[k, y, x] += sum_t up(Z_t)[k, y + r - 1, x + s - 1]   (0 outside),   Z_t = W_t . a  (low res).
   Z is one sgemm of [9K, C] x [C, h*w] (16x fewer multiply-adds than at stride 4), then a separable
   gather: columns first (per row of Z, the three s taps summed into V_r at [h, W]), then rows (the three
   r taps). Exact up to float summation order.

   2. ASPP's atrous 3x3 convs (rates 6/12/18 at OS16, 12/24/36 at OS8) on a small map, where a
   side tap often lands in the zero padding for half the pixels or more. Per tap t, only the pixels whose
   shifted input is inside are gathered ([C, n_t]), multiplied by W_t [K, C] and added back: the same sum
   without the zero products (about 40 % fewer multiply-adds at OS16 for a 513 input).

   3. See the section comment at segc_deeplab_winograd_prepare.
   Does not do: other kernel sizes, align_corners=True, batch > 1. */
#include <string.h>

#include "core/status.h"
#include "models/deeplab.h"
#include "ops/act.h"
#include "ops/conv.h"
#include "ops/gemm.h"
#include "ops/resize.h"

#define UPCONV_TAPS 9

/* PyTorch's linear-interpolation indices for align_corners=False, called with a size (UpSampleKernel.cpp:
   scale = in / out in float; src = max(scale (dst + 0.5) - 0.5, 0); i1 = i0 + 1 unless at the edge). */
static void linear_table(int64_t in, int64_t out, int32_t *i0, int32_t *i1, float *l1) {
    float scale = (float)in / (float)out;
    for (int64_t d = 0; d < out; d++) {
        float src = scale * ((float)d + 0.5f) - 0.5f;
        if (src < 0.0f) src = 0.0f;
        int64_t a = (int64_t)src;
        if (a > in - 1) a = in - 1;
        float l = src - (float)a;
        i0[d] = (int32_t)a;
        i1[d] = (int32_t)(a + (a < in - 1 ? 1 : 0));
        l1[d] = l < 0.0f ? 0.0f : (l > 1.0f ? 1.0f : l);
    }
}

segc_status segc_deeplab_upconv_prepare(segc_arena *store, const segc_tensor *w, int64_t c0, int64_t count,
                                        segc_tensor *wt) {
    if (w->ndim != 4 || w->shape[2] != 3 || w->shape[3] != 3 || c0 < 0 || count < 1 || c0 + count > w->shape[1])
        return segc_fail(SEGC_ERR_SHAPE, "deeplab upconv: weight is not [K, C, 3, 3] or channels out of range");
    int64_t K = w->shape[0], C = w->shape[1];
    segc_status st = segc_tensor_new_f32(store, wt, 3, UPCONV_TAPS, K, count, 0);
    if (st) return st;
    const float *src = w->data;
    float *dst = wt->data;
    for (int t = 0; t < UPCONV_TAPS; t++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t c = 0; c < count; c++)
                dst[(t * K + k) * count + c] = src[(k * C + c0 + c) * UPCONV_TAPS + t];
    return SEGC_OK;
}

/* Checks a [1, C, h, w], wt [9, K, C], out [1, K, H, W], all contiguous f32. */
static segc_status check_upconv(const segc_tensor *a, const segc_tensor *wt, const segc_tensor *out) {
    char s1[96], s2[96], s3[96];
    if (a->ndim != 4 || a->shape[0] != 1 || wt->ndim != 3 || wt->shape[0] != UPCONV_TAPS ||
        wt->shape[2] != a->shape[1] || out->ndim != 4 || out->shape[0] != 1 || out->shape[1] != wt->shape[1] ||
        !segc_tensor_is_contiguous(a) || !segc_tensor_is_contiguous(wt) || !segc_tensor_is_contiguous(out) ||
        a->shape[2] < 1 || a->shape[3] < 1 || out->shape[2] < 1 || out->shape[3] < 1)
        return segc_fail(SEGC_ERR_SHAPE, "deeplab upconv: a %s, wt %s, out %s (want [1,C,h,w], [9,K,C], [1,K,H,W])",
                         segc_tensor_shape_str(a, s1, sizeof s1), segc_tensor_shape_str(wt, s2, sizeof s2),
                         segc_tensor_shape_str(out, s3, sizeof s3));
    return SEGC_OK;
}

segc_status segc_deeplab_upconv3x3_add(segc_arena *arena, const segc_tensor *a, const segc_tensor *wt,
                                       segc_tensor *out) {
    segc_status st = check_upconv(a, wt, out);
    if (st) return st;
    const int64_t C = a->shape[1], h = a->shape[2], w = a->shape[3], K = out->shape[1], H = out->shape[2],
                  W = out->shape[3], hw = h * w;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    float *z = segc_arena_alloc_array(arena, (size_t)(UPCONV_TAPS * K * hw), sizeof(float));
    float *v = segc_arena_alloc_array(arena, (size_t)(K * 3 * h * W), sizeof(float));
    int32_t *ix = segc_arena_alloc_array(arena, (size_t)(2 * (H + W)), sizeof(int32_t));
    float *lw = segc_arena_alloc_array(arena, (size_t)(H + W), sizeof(float));
    if (!z || !v || !ix || !lw) {
        segc_arena_release(arena, mark);
        return SEGC_ERR_NOMEM;
    }
    int32_t *y0 = ix, *y1 = ix + H, *x0 = ix + 2 * H, *x1 = ix + 2 * H + W;
    float *ly = lw, *lx = lw + H;
    linear_table(h, H, y0, y1, ly);
    linear_table(w, W, x0, x1, lx);
    /* Z[t, k, h*w] = wt[t, k, :] . a[:, h*w]: one sgemm over all taps */
    segc_sgemm(0, 0, (int)(UPCONV_TAPS * K), (int)hw, (int)C, 1.0f, wt->data, (int)C, a->data, (int)hw, 0.0f, z,
               (int)hw);
    float *o = out->data;
    #pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < K; k++) {
        /* columns: V[k, r, i, x] = sum_s up_x(Z[r*3+s, k, i, :])[x + s - 1] */
        for (int r = 0; r < 3; r++) {
            for (int64_t i = 0; i < h; i++) {
                float *row = v + ((k * 3 + r) * h + i) * W;
                /* the centre column tap s = 1 covers every x and initializes the row */
                const float *zc = z + ((int64_t)(r * 3 + 1) * K + k) * hw + i * w;
                for (int64_t x = 0; x < W; x++) row[x] = (1.0f - lx[x]) * zc[x0[x]] + lx[x] * zc[x1[x]];
                for (int s = 0; s < 3; s += 2) {
                    const float *zr = z + ((int64_t)(r * 3 + s) * K + k) * hw + i * w;
                    int64_t lo = s == 0 ? 1 : 0, hi = s == 2 ? W - 1 : W;   /* x with 0 <= x + s - 1 < W */
                    for (int64_t x = lo; x < hi; x++) {
                        int64_t xx = x + s - 1;
                        row[x] += (1.0f - lx[xx]) * zr[x0[xx]] + lx[xx] * zr[x1[xx]];
                    }
                }
            }
        }
        /* rows: out[k, y, :] += sum_r up_y(V[k, r])[y + r - 1] */
        for (int64_t y = 0; y < H; y++) {
            float *orow = o + (k * H + y) * W;
            for (int r = 0; r < 3; r++) {
                int64_t yy = y + r - 1;
                if (yy < 0 || yy >= H) continue;
                const float *r0 = v + ((k * 3 + r) * h + y0[yy]) * W, *r1 = v + ((k * 3 + r) * h + y1[yy]) * W;
                float b = ly[yy], a0 = 1.0f - b;
                for (int64_t x = 0; x < W; x++) orow[x] += a0 * r0[x] + b * r1[x];
            }
        }
    }
    segc_arena_release(arena, mark);
    return SEGC_OK;
}

/* The definition: upsample a to H x W (segc_resize_reference), conv 3x3 pad 1 (segc_conv2d_reference)
   with w rebuilt from wt, add to out. */
segc_status segc_deeplab_upconv3x3_add_reference(segc_arena *arena, const segc_tensor *a, const segc_tensor *wt,
                                                 segc_tensor *out) {
    segc_status st = check_upconv(a, wt, out);
    if (st) return st;
    const int64_t C = a->shape[1], K = out->shape[1], H = out->shape[2], W = out->shape[3];
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor up, w, y;
    segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    segc_conv2d_params cp = segc_conv2d_params_make(1, 1, 1, 1);
    if ((st = segc_tensor_new_f32(arena, &up, 4, 1, C, H, W)) || (st = segc_resize_reference(a, &rp, &up)) ||
        (st = segc_tensor_new_f32(arena, &w, 4, K, C, 3, 3)) || (st = segc_tensor_new_f32(arena, &y, 4, 1, K, H, W)))
        goto done;
    const float *src = wt->data;
    float *dst = w.data;
    for (int t = 0; t < UPCONV_TAPS; t++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t c = 0; c < C; c++) dst[(k * C + c) * UPCONV_TAPS + t] = src[(t * K + k) * C + c];
    if ((st = segc_conv2d_reference(&up, &w, NULL, &cp, &y))) goto done;
    float *o = out->data;
    const float *yd = y.data;
    for (int64_t i = 0; i < K * H * W; i++) o[i] += yd[i];
done:
    segc_arena_release(arena, mark);
    return st;
}

/* Bounds of the output positions p (along one axis of size n) whose input p + d is inside: [lo, hi). */
static void valid_range(int64_t n, int64_t d, int64_t *lo, int64_t *hi) {
    *lo = d < 0 ? -d : 0;
    *hi = d > 0 ? n - d : n;
    if (*hi < *lo) *hi = *lo;
}

segc_status segc_deeplab_atrous_conv3x3(segc_arena *arena, const segc_tensor *x, const segc_tensor *wt,
                                        const segc_tensor *bias, int rate, segc_act act, segc_tensor *out) {
    segc_status st = check_upconv(x, wt, out);
    if (st) return st;
    const int64_t C = x->shape[1], h = x->shape[2], w = x->shape[3], K = out->shape[1], hw = h * w;
    if (out->shape[2] != h || out->shape[3] != w || rate < 1 || (bias && segc_tensor_numel(bias) != K))
        return segc_fail(SEGC_ERR_SHAPE, "deeplab atrous conv: output size, rate %d or bias does not fit", rate);
    /* the valid rectangle [y0, y1) x [x0, x1) of each side tap and its offset in the packed buffers */
    int64_t y0[UPCONV_TAPS], y1[UPCONV_TAPS], x0[UPCONV_TAPS], x1[UPCONV_TAPS], off[UPCONV_TAPS + 1];
    off[0] = 0;
    for (int t = 0; t < UPCONV_TAPS; t++) {
        int64_t dy = (int64_t)(t / 3 - 1) * rate, dx = (int64_t)(t % 3 - 1) * rate;
        valid_range(h, dy, &y0[t], &y1[t]);
        valid_range(w, dx, &x0[t], &x1[t]);
        int64_t n = t == 4 ? 0 : (y1[t] - y0[t]) * (x1[t] - x0[t]);   /* the centre tap needs no packing */
        off[t + 1] = off[t] + n;
    }
    const int64_t total = off[UPCONV_TAPS];
    segc_arena_mark mark = segc_arena_get_mark(arena);
    float *xg = segc_arena_alloc_array(arena, (size_t)(C * total + 1), sizeof(float));
    float *yg = segc_arena_alloc_array(arena, (size_t)(K * total + 1), sizeof(float));
    if (!xg || !yg) {
        segc_arena_release(arena, mark);
        return SEGC_ERR_NOMEM;
    }
    const float *xd = x->data, *wd = wt->data, *b = bias ? bias->data : NULL;
    float *o = out->data;
    /* gather: xg[tap block][c, (y - y0) nx + (x - x0)] = x[c, y + dy, x + dx] */
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++)
        for (int t = 0; t < UPCONV_TAPS; t++) {
            int64_t n = off[t + 1] - off[t], nx = x1[t] - x0[t];
            int64_t dy = (int64_t)(t / 3 - 1) * rate, dx = (int64_t)(t % 3 - 1) * rate;
            for (int64_t y = y0[t]; n > 0 && y < y1[t]; y++)
                memcpy(xg + C * off[t] + c * n + (y - y0[t]) * nx, xd + c * hw + (y + dy) * w + x0[t] + dx,
                       (size_t)nx * sizeof(float));
        }
    /* the nine products, split over the threads (each sgemm single-threaded inside the region):
       centre tap straight into out, side taps into their block of yg */
    #pragma omp parallel for schedule(dynamic, 1)
    for (int t = 0; t < UPCONV_TAPS; t++) {
        int64_t n = off[t + 1] - off[t];
        if (t == 4)
            segc_sgemm(0, 0, (int)K, (int)hw, (int)C, 1.0f, wd + 4 * K * C, (int)C, xd, (int)hw, 0.0f, o, (int)hw);
        else if (n > 0)
            segc_sgemm(0, 0, (int)K, (int)n, (int)C, 1.0f, wd + (int64_t)t * K * C, (int)C, xg + C * off[t], (int)n,
                       0.0f, yg + K * off[t], (int)n);
    }
    /* scatter-add the side taps, add the bias, apply the activation */
    #pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < K; k++) {
        float *ok = o + k * hw;
        for (int t = 0; t < UPCONV_TAPS; t++) {
            int64_t n = off[t + 1] - off[t], nx = x1[t] - x0[t];
            if (t == 4 || n == 0) continue;
            const float *yk = yg + K * off[t] + k * n;
            for (int64_t y = y0[t]; y < y1[t]; y++) {
                float *orow = ok + y * w + x0[t];
                const float *yrow = yk + (y - y0[t]) * nx;
                for (int64_t i = 0; i < nx; i++) orow[i] += yrow[i];
            }
        }
        float bk = b ? b[k] : 0.0f;
        for (int64_t i = 0; i < hw; i++) ok[i] += bk;
        segc_act_apply(act, ok, (size_t)hw);   /* serial for a small plane, as in the conv epilogue */
    }
    segc_arena_release(arena, mark);
    return SEGC_OK;
}

/* ---- Winograd F(2x2, 3x3) for the decoder's low-level part (stride 1, padding 1) ---------------------
   Lavin & Gray's minimal filtering: per 4x4 input tile d and 2x2 output tile,
       Y = A^T [ (G g G^T) .* (B^T d B) ] A,
   so the 3x3 conv becomes 16 GEMMs U_xi [K, C] x V_xi [C, tiles] (2.25x fewer multiply-adds than direct)
   plus cheap tile transforms. Tiles are processed in chunks so the [16, K, chunk] products stay small. */

#define WINO_CHUNK_TILES 512

segc_status segc_deeplab_winograd_prepare(segc_arena *store, const segc_tensor *w, segc_tensor *u) {
    if (w->ndim != 4 || w->shape[2] != 3 || w->shape[3] != 3)
        return segc_fail(SEGC_ERR_SHAPE, "deeplab winograd: weight is not [K, C, 3, 3]");
    int64_t K = w->shape[0], C = w->shape[1];
    segc_status st = segc_tensor_new_f32(store, u, 3, 16, K, C, 0);
    if (st) return st;
    const float *g = w->data;
    float *ud = u->data;
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++) {
            const float *gk = g + (k * C + c) * 9;
            float t[4][3], r[4][4];
            for (int j = 0; j < 3; j++) {   /* G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2 */
                t[0][j] = gk[j];
                t[1][j] = 0.5f * (gk[j] + gk[3 + j] + gk[6 + j]);
                t[2][j] = 0.5f * (gk[j] - gk[3 + j] + gk[6 + j]);
                t[3][j] = gk[6 + j];
            }
            for (int i = 0; i < 4; i++) {   /* (G g) G^T: the same on the columns */
                r[i][0] = t[i][0];
                r[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                r[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                r[i][3] = t[i][2];
            }
            for (int xi = 0; xi < 16; xi++) ud[(xi * K + k) * C + c] = r[xi / 4][xi % 4];
        }
    return SEGC_OK;
}

segc_status segc_deeplab_winograd3x3(segc_arena *arena, const segc_tensor *x, const segc_tensor *u,
                                     const segc_tensor *bias, segc_tensor *out) {
    char s1[96], s2[96], s3[96];
    if (x->ndim != 4 || x->shape[0] != 1 || u->ndim != 3 || u->shape[0] != 16 || u->shape[2] != x->shape[1] ||
        out->ndim != 4 || out->shape[0] != 1 || out->shape[1] != u->shape[1] || out->shape[2] != x->shape[2] ||
        out->shape[3] != x->shape[3] || !segc_tensor_is_contiguous(x) || !segc_tensor_is_contiguous(out) ||
        (bias && segc_tensor_numel(bias) != u->shape[1]))
        return segc_fail(SEGC_ERR_SHAPE, "deeplab winograd: x %s, u %s, out %s (want [1,C,H,W], [16,K,C], [1,K,H,W])",
                         segc_tensor_shape_str(x, s1, sizeof s1), segc_tensor_shape_str(u, s2, sizeof s2),
                         segc_tensor_shape_str(out, s3, sizeof s3));
    const int64_t C = x->shape[1], H = x->shape[2], W = x->shape[3], K = u->shape[1];
    const int64_t th = (H + 1) / 2, tw = (W + 1) / 2, T = th * tw;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    float *v = segc_arena_alloc_array(arena, (size_t)(16 * C * WINO_CHUNK_TILES), sizeof(float));
    float *m = segc_arena_alloc_array(arena, (size_t)(16 * K * WINO_CHUNK_TILES), sizeof(float));
    if (!v || !m) {
        segc_arena_release(arena, mark);
        return SEGC_ERR_NOMEM;
    }
    const float *xd = x->data, *ud = u->data, *b = bias ? bias->data : NULL;
    float *o = out->data;
    for (int64_t t0 = 0; t0 < T; t0 += WINO_CHUNK_TILES) {
        const int64_t nt = T - t0 < WINO_CHUNK_TILES ? T - t0 : WINO_CHUNK_TILES;
        /* V[xi, c, t] = (B^T d B)[xi], d = the 4x4 input tile at (2 ty - 1, 2 tx - 1), zero outside */
        #pragma omp parallel for schedule(static)
        for (int64_t c = 0; c < C; c++) {
            const float *xc = xd + c * H * W;
            for (int64_t t = 0; t < nt; t++) {
                int64_t ty = (t0 + t) / tw, tx = (t0 + t) % tw, y0 = 2 * ty - 1, x0 = 2 * tx - 1;
                float d[4][4], r[4][4];
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        int64_t yy = y0 + i, xx = x0 + j;
                        d[i][j] = yy >= 0 && yy < H && xx >= 0 && xx < W ? xc[yy * W + xx] : 0.0f;
                    }
                for (int j = 0; j < 4; j++) {   /* B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3 */
                    float a0 = d[0][j], a1 = d[1][j], a2 = d[2][j], a3 = d[3][j];
                    d[0][j] = a0 - a2;
                    d[1][j] = a1 + a2;
                    d[2][j] = a2 - a1;
                    d[3][j] = a1 - a3;
                }
                for (int i = 0; i < 4; i++) {   /* (B^T d) B: the same on the columns */
                    r[i][0] = d[i][0] - d[i][2];
                    r[i][1] = d[i][1] + d[i][2];
                    r[i][2] = d[i][2] - d[i][1];
                    r[i][3] = d[i][1] - d[i][3];
                }
                for (int xi = 0; xi < 16; xi++) v[(xi * C + c) * nt + t] = r[xi / 4][xi % 4];
            }
        }
        /* M[xi] = U[xi] V[xi]: [K, C] x [C, nt]; the 16 products split over the threads (each sgemm then
           runs single-threaded inside the parallel region: one synchronization instead of 16) */
        #pragma omp parallel for schedule(static)
        for (int xi = 0; xi < 16; xi++)
            segc_sgemm(0, 0, (int)K, (int)nt, (int)C, 1.0f, ud + xi * K * C, (int)C, v + xi * C * nt, (int)nt, 0.0f,
                       m + xi * K * nt, (int)nt);
        /* Y = A^T M A (+ bias) into the 2x2 output tile */
        #pragma omp parallel for schedule(static)
        for (int64_t k = 0; k < K; k++) {
            float bk = b ? b[k] : 0.0f;
            for (int64_t t = 0; t < nt; t++) {
                float q[16];
                for (int xi = 0; xi < 16; xi++) q[xi] = m[(xi * K + k) * nt + t];
                float r0[4], r1[4];
                for (int j = 0; j < 4; j++) {   /* A^T m: rows m0 + m1 + m2, m1 - m2 - m3 */
                    r0[j] = q[j] + q[4 + j] + q[8 + j];
                    r1[j] = q[4 + j] - q[8 + j] - q[12 + j];
                }
                float y00 = r0[0] + r0[1] + r0[2] + bk, y01 = r0[1] - r0[2] - r0[3] + bk;
                float y10 = r1[0] + r1[1] + r1[2] + bk, y11 = r1[1] - r1[2] - r1[3] + bk;
                int64_t ty = (t0 + t) / tw, tx = (t0 + t) % tw, y = 2 * ty, xo = 2 * tx;
                float *ok = o + k * H * W;
                ok[y * W + xo] = y00;
                if (xo + 1 < W) ok[y * W + xo + 1] = y01;
                if (y + 1 < H) {
                    ok[(y + 1) * W + xo] = y10;
                    if (xo + 1 < W) ok[(y + 1) * W + xo + 1] = y11;
                }
            }
        }
    }
    segc_arena_release(arena, mark);
    return SEGC_OK;
}
