/* pool.c - max / average / adaptive average / global average pooling (see pool.h).
   Every function sees its input as planes: (n, c) -> an H x W plane addressed through the strides,
   so contiguous NCHW and permuted NHWC views take the same path. The fast versions precompute each
   output column's clipped window once per call and run over planes in parallel; the references clip
   inside the innermost loops, element by element. */
#include "ops/pool.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "core/status.h"

#if defined(__GNUC__) && !defined(__clang__)
/* Lets GCC turn the float compares of the max loops into selects instead of (unpredictable) branches.
   segc never reads floating-point exception flags, so no result changes. */
#pragma GCC optimize("no-trapping-math")
#endif

/* A 3-D [C,H,W] or 4-D [N,C,H,W] float32 tensor as N*C planes with strides in elements. */
typedef struct planes {
    int64_t n, c, h, w;
    int64_t sn, sc, sh, sw;
    float *data;
} planes;

static segc_status get_planes(const char *op, const char *what, const segc_tensor *t, planes *p) {
    if (t->dtype != SEGC_F32)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: %s dtype %s (float32 only)", op, what, segc_dtype_name(t->dtype));
    if (t->ndim != 3 && t->ndim != 4) {
        char a[96];
        return segc_fail(SEGC_ERR_SHAPE, "%s: %s %s must be [N,C,H,W] or [C,H,W]", op, what,
                         segc_tensor_shape_str(t, a, sizeof a));
    }
    int o = t->ndim - 3;
    p->n = o ? t->shape[0] : 1;
    p->sn = o ? t->stride[0] : 0;
    p->c = t->shape[o], p->h = t->shape[o + 1], p->w = t->shape[o + 2];
    p->sc = t->stride[o], p->sh = t->stride[o + 1], p->sw = t->stride[o + 2];
    p->data = t->data;
    return SEGC_OK;
}

/* Base pointer of plane t = n * C + c. */
static float *plane_ptr(const planes *p, int64_t t) {
    return p->data + (t / p->c) * p->sn + (t % p->c) * p->sc;
}

segc_pool2d_params segc_pool2d_params_make(int kernel, int stride, int pad) {
    segc_pool2d_params p = {0};
    p.kernel_h = p.kernel_w = kernel;
    p.stride_h = p.stride_w = stride > 0 ? stride : kernel;
    p.pad_h = p.pad_w = pad;
    p.ceil_mode = 0;
    p.count_include_pad = 1;
    return p;
}

/* aten/src/ATen/native/Pool.h pooling_output_shape with dilation 1. */
int64_t segc_pool2d_out_dim(int64_t in, int k, int stride, int pad, int ceil_mode) {
    if (stride < 1) return 0;
    int64_t num = in + 2 * (int64_t)pad - k + (ceil_mode ? stride - 1 : 0);
    if (num < 0) return 0;  /* the window does not fit: PyTorch errors too */
    int64_t out = num / stride + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad) out--;
    return out;
}

/* Checks the params against x, and that out has the output shape with the same N and C. */
static segc_status check_pool(const char *op, const segc_tensor *x, const segc_pool2d_params *p,
                              const segc_tensor *out, planes *xi, planes *oi) {
    segc_status st = get_planes(op, "input", x, xi);
    if (st || (st = get_planes(op, "output", out, oi))) return st;
    if (p->kernel_h < 1 || p->kernel_w < 1 || p->stride_h < 1 || p->stride_w < 1 || p->pad_h < 0 || p->pad_w < 0)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: kernel %dx%d stride %dx%d pad %dx%d", op, p->kernel_h, p->kernel_w,
                         p->stride_h, p->stride_w, p->pad_h, p->pad_w);
    if (p->pad_h > p->kernel_h / 2 || p->pad_w > p->kernel_w / 2)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: pad %dx%d is more than half the kernel %dx%d", op, p->pad_h,
                         p->pad_w, p->kernel_h, p->kernel_w);
    int64_t oh = segc_pool2d_out_dim(xi->h, p->kernel_h, p->stride_h, p->pad_h, p->ceil_mode);
    int64_t ow = segc_pool2d_out_dim(xi->w, p->kernel_w, p->stride_w, p->pad_w, p->ceil_mode);
    if (oh < 1 || ow < 1)
        return segc_fail(SEGC_ERR_SHAPE, "%s: input %lldx%lld is too small for kernel %dx%d", op, (long long)xi->h,
                         (long long)xi->w, p->kernel_h, p->kernel_w);
    if (x->ndim != out->ndim || oi->n != xi->n || oi->c != xi->c || oi->h != oh || oi->w != ow) {
        char a[96], b[96];
        return segc_fail(SEGC_ERR_SHAPE, "%s: output %s, expected %lldx%lld planes for input %s", op,
                         segc_tensor_shape_str(out, a, sizeof a), (long long)oh, (long long)ow,
                         segc_tensor_shape_str(x, b, sizeof b));
    }
    return SEGC_OK;
}

/* Allocates out with the pooled shape of x (same rank). */
static segc_status new_pooled(segc_arena *arena, const segc_tensor *x, int64_t oh, int64_t ow, segc_tensor *out) {
    if (x->ndim != 3 && x->ndim != 4) return segc_fail(SEGC_ERR_SHAPE, "pool: input must be [N,C,H,W] or [C,H,W]");
    int64_t shape[4];
    for (int i = 0; i < x->ndim - 2; i++) shape[i] = x->shape[i];
    shape[x->ndim - 2] = oh;
    shape[x->ndim - 1] = ow;
    return segc_tensor_new(arena, SEGC_F32, x->ndim, shape, out);
}

/* The clipped window of output index o along one dim: [*lo, *hi) in input coordinates, and the
   divisor span count_include_pad uses (window clipped to input + padding). */
typedef struct win { int32_t lo, hi, padded; } win;

static win window_of(int64_t o, int k, int stride, int pad, int64_t in) {
    int64_t start = o * stride - pad;
    int64_t end = start + k < in + pad ? start + k : in + pad;
    win r;
    r.padded = (int32_t)(end - start);
    r.lo = (int32_t)(start < 0 ? 0 : start);
    r.hi = (int32_t)(end < in ? end : in);
    return r;
}

/* Windows of every output row and column, so the plane loops do no clipping. Caller frees *rows. */
static segc_status windows_of(const segc_pool2d_params *p, const planes *xi, const planes *oi, win **rows,
                              win **cols) {
    *rows = malloc(sizeof(win) * (size_t)(oi->h + oi->w));
    if (!*rows) return segc_fail(SEGC_ERR_NOMEM, "pool: out of memory for %lld windows", (long long)(oi->h + oi->w));
    *cols = *rows + oi->h;
    for (int64_t i = 0; i < oi->h; i++) (*rows)[i] = window_of(i, p->kernel_h, p->stride_h, p->pad_h, xi->h);
    for (int64_t j = 0; j < oi->w; j++) (*cols)[j] = window_of(j, p->kernel_w, p->stride_w, p->pad_w, xi->w);
    return SEGC_OK;
}

/* One plane, output row by output row: buf[w] first reduces column w over the window's rows (a
   contiguous, vectorizable loop when the input rows are unit-stride), then each output column reduces
   its span of buf. Max: NaN wins, as PyTorch. Avg: PyTorch's divisor (see pool.h). */
static void pool_plane(int is_max, const segc_pool2d_params *p, const planes *xi, const planes *oi, const win *rows,
                       const win *cols, const float *xp, float *op, float *buf) {
    int64_t W = xi->w, sw = xi->sw;
    for (int64_t i = 0; i < oi->h; i++) {
        win r = rows[i];
        for (int64_t w = 0; w < W; w++) buf[w] = is_max ? -INFINITY : 0.0f;
        for (int64_t y = r.lo; y < r.hi; y++) {
            const float *row = xp + y * xi->sh;
            if (is_max)
                for (int64_t w = 0; w < W; w++) {
                    float v = row[w * sw];
                    buf[w] = ((v > buf[w]) | (v != v)) ? v : buf[w];
                }
            else
                for (int64_t w = 0; w < W; w++) buf[w] += row[w * sw];
        }
        float *orow = op + i * oi->sh;
        for (int64_t j = 0; j < oi->w; j++) {
            win c = cols[j];
            float m = is_max ? -INFINITY : 0.0f;
            for (int64_t x0 = c.lo; x0 < c.hi; x0++) {
                float v = buf[x0];
                m = is_max ? (((v > m) | (v != v)) ? v : m) : m + v;
            }
            if (!is_max) {
                int64_t div = p->count_include_pad ? (int64_t)r.padded * c.padded
                                                   : (int64_t)(r.hi - r.lo) * (c.hi - c.lo);
                m = (r.hi > r.lo && c.hi > c.lo) ? m / (float)div : 0.0f;
            }
            orow[j * oi->sw] = m;
        }
    }
}

/* Max or average pooling, parallel over planes with one row buffer per thread. */
static segc_status pool_fast(const char *op, int is_max, const segc_tensor *x, const segc_pool2d_params *p,
                             segc_tensor *out) {
    planes xi, oi;
    win *rows, *cols;
    segc_status st = check_pool(op, x, p, out, &xi, &oi);
    if (st || (st = windows_of(p, &xi, &oi, &rows, &cols))) return st;
    int par = xi.n * xi.c * xi.h * xi.w > 32768 && xi.n * xi.c > 1;
    int nt = par ? omp_get_max_threads() : 1;
    float *bufs = malloc(sizeof(float) * (size_t)nt * (size_t)xi.w);
    if (!bufs) {
        free(rows);
        return segc_fail(SEGC_ERR_NOMEM, "%s: no row buffer for width %lld", op, (long long)xi.w);
    }
    #pragma omp parallel for schedule(static) num_threads(nt) if (par)
    for (int64_t t = 0; t < xi.n * xi.c; t++)
        pool_plane(is_max, p, &xi, &oi, rows, cols, plane_ptr(&xi, t), plane_ptr(&oi, t),
                   bufs + (size_t)omp_get_thread_num() * (size_t)xi.w);
    free(bufs);
    free(rows);
    return SEGC_OK;
}

segc_status segc_max_pool2d(const segc_tensor *x, const segc_pool2d_params *p, segc_tensor *out) {
    return pool_fast("max_pool2d", 1, x, p, out);
}

segc_status segc_avg_pool2d(const segc_tensor *x, const segc_pool2d_params *p, segc_tensor *out) {
    return pool_fast("avg_pool2d", 0, x, p, out);
}

/* is_max: max pool, else average pool; every bound is checked inside the kernel loops. */
static segc_status pool_reference(const char *op, int is_max, const segc_tensor *x, const segc_pool2d_params *p,
                                  segc_tensor *out) {
    planes xi, oi;
    segc_status st = check_pool(op, x, p, out, &xi, &oi);
    if (st) return st;
    for (int64_t t = 0; t < xi.n * xi.c; t++) {
        const float *xp = plane_ptr(&xi, t);
        float *o = plane_ptr(&oi, t);
        for (int64_t i = 0; i < oi.h; i++)
            for (int64_t j = 0; j < oi.w; j++) {
                double acc = is_max ? -INFINITY : 0.0;
                int64_t valid = 0, padded = 0;
                for (int ky = 0; ky < p->kernel_h; ky++)
                    for (int kx = 0; kx < p->kernel_w; kx++) {
                        int64_t y = i * p->stride_h - p->pad_h + ky, x0 = j * p->stride_w - p->pad_w + kx;
                        if (y < xi.h + p->pad_h && x0 < xi.w + p->pad_w) padded++;
                        if (y < 0 || y >= xi.h || x0 < 0 || x0 >= xi.w) continue;
                        double v = xp[y * xi.sh + x0 * xi.sw];
                        valid++;
                        if (!is_max)
                            acc += v;
                        else if (!isnan(acc) && (isnan(v) || v > acc))
                            acc = v;
                    }
                if (!is_max) acc = valid ? acc / (double)(p->count_include_pad ? padded : valid) : 0.0;
                o[i * oi.sh + j * oi.sw] = (float)acc;
            }
    }
    return SEGC_OK;
}

segc_status segc_max_pool2d_reference(const segc_tensor *x, const segc_pool2d_params *p, segc_tensor *out) {
    return pool_reference("max_pool2d", 1, x, p, out);
}

segc_status segc_avg_pool2d_reference(const segc_tensor *x, const segc_pool2d_params *p, segc_tensor *out) {
    return pool_reference("avg_pool2d", 0, x, p, out);
}

/* Allocates the pooled output for p and runs `fn`. */
static segc_status pool_new(segc_arena *arena, const segc_tensor *x, const segc_pool2d_params *p, segc_tensor *out,
                            segc_status (*fn)(const segc_tensor *, const segc_pool2d_params *, segc_tensor *)) {
    if (x->ndim != 3 && x->ndim != 4) return segc_fail(SEGC_ERR_SHAPE, "pool: input must be [N,C,H,W] or [C,H,W]");
    int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    int64_t oh = segc_pool2d_out_dim(H, p->kernel_h, p->stride_h, p->pad_h, p->ceil_mode);
    int64_t ow = segc_pool2d_out_dim(W, p->kernel_w, p->stride_w, p->pad_w, p->ceil_mode);
    if (oh < 1 || ow < 1)
        return segc_fail(SEGC_ERR_SHAPE, "pool: input %lldx%lld is too small for kernel %dx%d", (long long)H,
                         (long long)W, p->kernel_h, p->kernel_w);
    segc_tensor o;
    segc_status st = new_pooled(arena, x, oh, ow, &o);
    if (st || (st = fn(x, p, &o))) return st;
    *out = o;
    return SEGC_OK;
}

segc_status segc_max_pool2d_new(segc_arena *arena, const segc_tensor *x, const segc_pool2d_params *p,
                                segc_tensor *out) {
    return pool_new(arena, x, p, out, segc_max_pool2d);
}

segc_status segc_avg_pool2d_new(segc_arena *arena, const segc_tensor *x, const segc_pool2d_params *p,
                                segc_tensor *out) {
    return pool_new(arena, x, p, out, segc_avg_pool2d);
}

/* Adaptive bin i of `out` bins over `in`: [floor(i in / out), ceil((i + 1) in / out)). */
static void adaptive_bin(int64_t i, int64_t out, int64_t in, int64_t *lo, int64_t *hi) {
    *lo = (i * in) / out;
    *hi = ((i + 1) * in + out - 1) / out;
}

static segc_status check_adaptive(const segc_tensor *x, const segc_tensor *out, planes *xi, planes *oi) {
    segc_status st = get_planes("adaptive_avg_pool2d", "input", x, xi);
    if (st || (st = get_planes("adaptive_avg_pool2d", "output", out, oi))) return st;
    if (x->ndim != out->ndim || oi->n != xi->n || oi->c != xi->c || oi->h < 1 || oi->w < 1 ||
        (xi->h == 0 || xi->w == 0)) {
        char a[96], b[96];
        return segc_fail(SEGC_ERR_SHAPE, "adaptive_avg_pool2d: input %s, output %s", segc_tensor_shape_str(x, a, sizeof a),
                         segc_tensor_shape_str(out, b, sizeof b));
    }
    return SEGC_OK;
}

/* out planes [P,Q] = means of the adaptive bins of x planes [H,W]; sums in double. */
segc_status segc_adaptive_avg_pool2d(const segc_tensor *x, segc_tensor *out) {
    planes xi, oi;
    segc_status st = check_adaptive(x, out, &xi, &oi);
    if (st) return st;
    if (oi.h == 1 && oi.w == 1) return segc_global_avg_pool(x, out);
    #pragma omp parallel for schedule(static) if (xi.n * xi.c * xi.h * xi.w > 32768)
    for (int64_t t = 0; t < xi.n * xi.c; t++) {
        const float *xp = plane_ptr(&xi, t);
        float *op = plane_ptr(&oi, t);
        for (int64_t i = 0; i < oi.h; i++) {
            int64_t y0, y1;
            adaptive_bin(i, oi.h, xi.h, &y0, &y1);
            for (int64_t j = 0; j < oi.w; j++) {
                int64_t x0, x1;
                adaptive_bin(j, oi.w, xi.w, &x0, &x1);
                double s = 0.0;
                for (int64_t y = y0; y < y1; y++)
                    for (int64_t xx = x0; xx < x1; xx++) s += xp[y * xi.sh + xx * xi.sw];
                op[i * oi.sh + j * oi.sw] = (float)(s / (double)((y1 - y0) * (x1 - x0)));
            }
        }
    }
    return SEGC_OK;
}

/* Each output element from its own floor/ceil bounds computed in floating point, as the formula reads. */
segc_status segc_adaptive_avg_pool2d_reference(const segc_tensor *x, segc_tensor *out) {
    planes xi, oi;
    segc_status st = check_adaptive(x, out, &xi, &oi);
    if (st) return st;
    for (int64_t t = 0; t < xi.n * xi.c; t++) {
        const float *xp = plane_ptr(&xi, t);
        float *op = plane_ptr(&oi, t);
        for (int64_t i = 0; i < oi.h; i++)
            for (int64_t j = 0; j < oi.w; j++) {
                int64_t y0 = (int64_t)floor((double)i * xi.h / oi.h), y1 = (int64_t)ceil((double)(i + 1) * xi.h / oi.h);
                int64_t x0 = (int64_t)floor((double)j * xi.w / oi.w), x1 = (int64_t)ceil((double)(j + 1) * xi.w / oi.w);
                double s = 0.0;
                int64_t cnt = 0;
                for (int64_t y = y0; y < y1; y++)
                    for (int64_t xx = x0; xx < x1; xx++) s += xp[y * xi.sh + xx * xi.sw], cnt++;
                op[i * oi.sh + j * oi.sw] = (float)(s / (double)cnt);
            }
    }
    return SEGC_OK;
}

segc_status segc_adaptive_avg_pool2d_new(segc_arena *arena, const segc_tensor *x, int64_t out_h, int64_t out_w,
                                         segc_tensor *out) {
    segc_tensor o;
    if (out_h < 1 || out_w < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "adaptive_avg_pool2d: output size %lldx%lld", (long long)out_h,
                         (long long)out_w);
    segc_status st = new_pooled(arena, x, out_h, out_w, &o);
    if (st || (st = segc_adaptive_avg_pool2d(x, &o))) return st;
    *out = o;
    return SEGC_OK;
}

/* out[n, c] = mean of plane (n, c); out is [N,C,1,1] / [C,1,1] or [N,C]. */
segc_status segc_global_avg_pool(const segc_tensor *x, segc_tensor *out) {
    planes xi;
    segc_status st = get_planes("global_avg_pool", "input", x, &xi);
    if (st) return st;
    int64_t sn, sc;
    int ok = out->dtype == SEGC_F32;
    if (out->ndim == x->ndim) {
        int o = x->ndim - 3;
        ok = ok && (!o || out->shape[0] == xi.n) && out->shape[o] == xi.c && out->shape[o + 1] == 1 &&
             out->shape[o + 2] == 1;
        sn = o ? out->stride[0] : 0;
        sc = out->stride[o];
    } else {
        ok = ok && out->ndim == 2 && x->ndim == 4 && out->shape[0] == xi.n && out->shape[1] == xi.c;
        sn = out->stride[0];
        sc = out->stride[1];
    }
    if (!ok || xi.h * xi.w == 0) {
        char a[96], b[96];
        return segc_fail(SEGC_ERR_SHAPE, "global_avg_pool: input %s, output %s %s (want [N,C,1,1] or [N,C] f32)",
                         segc_tensor_shape_str(x, a, sizeof a), segc_dtype_name(out->dtype),
                         segc_tensor_shape_str(out, b, sizeof b));
    }
    int contiguous_plane = xi.sw == 1 && xi.sh == xi.w;
    float *od = out->data;
    #pragma omp parallel for schedule(static) if (xi.n * xi.c * xi.h * xi.w > 32768)
    for (int64_t t = 0; t < xi.n * xi.c; t++) {
        const float *xp = plane_ptr(&xi, t);
        double s = 0.0;
        if (contiguous_plane) {
            for (int64_t i = 0; i < xi.h * xi.w; i++) s += xp[i];
        } else {
            for (int64_t y = 0; y < xi.h; y++)
                for (int64_t xx = 0; xx < xi.w; xx++) s += xp[y * xi.sh + xx * xi.sw];
        }
        od[(t / xi.c) * sn + (t % xi.c) * sc] = (float)(s / (double)(xi.h * xi.w));
    }
    return SEGC_OK;
}

segc_status segc_global_avg_pool_new(segc_arena *arena, const segc_tensor *x, segc_tensor *out) {
    segc_tensor o;
    segc_status st = new_pooled(arena, x, 1, 1, &o);
    if (st || (st = segc_global_avg_pool(x, &o))) return st;
    *out = o;
    return SEGC_OK;
}
