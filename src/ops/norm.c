/* norm.c - layer norm (last dim and channels-first), group norm, batch norm (see norm.h).
   Statistics: two passes (mean, then the mean of squared deviations), biased variance, accumulated in
   double; the normalization itself is float. Parallel over rows / pixel blocks / (n, group) / (n, c).
   The *_reference versions are the formulas as written, one output element at a time. */
#include "ops/norm.h"

#include <math.h>

#include "core/status.h"

/* Pixels per block in the channels-first layer norm: its double accumulators live on the stack. */
#define LN2D_BLOCK 256

/* v is NULL (when optional) or a contiguous float32 vector of c elements; *data gets its pointer. */
static segc_status check_vec(const char *op, const char *name, const segc_tensor *v, int64_t c, int optional,
                             const float **data) {
    *data = NULL;
    if (!v) {
        if (optional) return SEGC_OK;
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: %s is required", op, name);
    }
    if (v->dtype != SEGC_F32 || segc_tensor_numel(v) != c || !segc_tensor_is_contiguous(v)) {
        char a[96];
        return segc_fail(SEGC_ERR_SHAPE, "%s: %s must be contiguous float32 with %lld elements, got %s %s", op, name,
                         (long long)c, segc_dtype_name(v->dtype), segc_tensor_shape_str(v, a, sizeof a));
    }
    *data = v->data;
    return SEGC_OK;
}

/* The mean as a float pair (hi + lo, hi = the float nearest the double mean): (x - hi) - lo is then
   accurate in float even when the mean is large against the spread, where x - (float)mean loses digits. */
typedef struct mean2 { float hi, lo; } mean2;

static mean2 split_mean(double mean) {
    mean2 m;
    m.hi = (float)mean;
    m.lo = (float)(mean - (double)m.hi);
    return m;
}

/* Lanes and block length of the vectorizable sums: 8 float partial sums per block of STATS_BLOCK
   elements (rounding error ~ STATS_BLOCK / 8 ulp at worst), block totals added in double. */
#define STATS_LANES 8
#define STATS_BLOCK 1024

/* s[0] = sum of (x - shift), s[1] = sum of (x - shift)^2 over x[0..n). */
static void shifted_sums(const float *x, int64_t n, float shift, double s[2]) {
    s[0] = s[1] = 0.0;
    for (int64_t b = 0; b < n; b += STATS_BLOCK) {
        int64_t len = n - b < STATS_BLOCK ? n - b : STATS_BLOCK, len8 = len & ~(int64_t)(STATS_LANES - 1);
        const float *xb = x + b;
        float d8[STATS_LANES] = {0}, q8[STATS_LANES] = {0};
        for (int64_t i = 0; i < len8; i += STATS_LANES)
            for (int t = 0; t < STATS_LANES; t++) {
                float d = xb[i + t] - shift;
                d8[t] += d;
                q8[t] += d * d;
            }
        for (int64_t i = len8; i < len; i++) {
            float d = xb[i] - shift;
            d8[0] += d;
            q8[0] += d * d;
        }
        for (int t = 0; t < STATS_LANES; t++) s[0] += d8[t], s[1] += q8[t];
    }
}

/* Mean and 1/sqrt(var + eps) of x[0..n) (biased variance). Two passes: a first mean m0, then the
   sums of d = x - m0 and d^2, which give mean = m0 + E[d] and var = E[d^2] - E[d]^2 without the
   cancellation of E[x^2] - E[x]^2 (d is small when m0 is close). */
static void stats(const float *x, int64_t n, float eps, mean2 *mean_out, float *rstd_out) {
    double s[2];
    if (n == 0) {
        *mean_out = split_mean(0.0);
        *rstd_out = (float)(1.0 / sqrt((double)eps));
        return;
    }
    shifted_sums(x, n, 0.0f, s);
    float m0 = (float)(s[0] / (double)n);
    shifted_sums(x, n, m0, s);
    double dm = s[0] / (double)n, var = s[1] / (double)n - dm * dm;
    mean_out->hi = m0;   /* the mean is m0 + dm, kept as this pair */
    mean_out->lo = (float)dm;
    *rstd_out = (float)(1.0 / sqrt((var > 0.0 ? var : 0.0) + eps));
}

/* x: [R, C] rows; out[r, c] = (x - mean_r) * rstd_r * w[c] + b[c]. */
segc_status segc_layer_norm(const segc_tensor *x, const segc_tensor *weight, const segc_tensor *bias, float eps,
                            segc_tensor *out) {
    const float *w, *b;
    segc_status st = segc_tensor_check_f32_pair("layer_norm", x, out, 1);
    if (st) return st;
    int64_t C = x->shape[x->ndim - 1];
    if ((st = check_vec("layer_norm", "weight", weight, C, 1, &w)) || (st = check_vec("layer_norm", "bias", bias, C, 1, &b)))
        return st;
    if (C == 0) return SEGC_OK;
    int64_t R = segc_tensor_numel(x) / C;
    const float *xd = x->data;
    float *od = out->data;
    #pragma omp parallel for schedule(static) if (R * C > 32768)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = xd + r * C;
        float *orow = od + r * C;
        mean2 m;
        float rstd;
        stats(xr, C, eps, &m, &rstd);
        if (w && b) {
            for (int64_t c = 0; c < C; c++) orow[c] = ((xr[c] - m.hi) - m.lo) * rstd * w[c] + b[c];
        } else {
            for (int64_t c = 0; c < C; c++) {
                float v = ((xr[c] - m.hi) - m.lo) * rstd;
                if (w) v *= w[c];
                if (b) v += b[c];
                orow[c] = v;
            }
        }
    }
    return SEGC_OK;
}

segc_status segc_layer_norm_reference(const segc_tensor *x, const segc_tensor *weight, const segc_tensor *bias,
                                      float eps, segc_tensor *out) {
    const float *w, *b;
    segc_status st = segc_tensor_check_f32_pair("layer_norm", x, out, 1);
    if (st) return st;
    int64_t C = x->shape[x->ndim - 1];
    if ((st = check_vec("layer_norm", "weight", weight, C, 1, &w)) || (st = check_vec("layer_norm", "bias", bias, C, 1, &b)))
        return st;
    if (C == 0) return SEGC_OK;
    int64_t R = segc_tensor_numel(x) / C;
    const float *xd = x->data;
    float *od = out->data;
    for (int64_t r = 0; r < R; r++) {
        double mean = 0.0, var = 0.0;
        for (int64_t c = 0; c < C; c++) mean += xd[r * C + c];
        mean /= (double)C;
        for (int64_t c = 0; c < C; c++) var += (xd[r * C + c] - mean) * (xd[r * C + c] - mean);
        var /= (double)C;
        for (int64_t c = 0; c < C; c++) {
            double v = (xd[r * C + c] - mean) / sqrt(var + eps);
            od[r * C + c] = (float)(v * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
        }
    }
    return SEGC_OK;
}

/* Splits x[N,C,H,W] / x[C,H,W] into N, C and HW; fails on other ranks. */
static segc_status nchw_dims(const char *op, const segc_tensor *x, int64_t *N, int64_t *C, int64_t *HW) {
    if (x->ndim == 4) {
        *N = x->shape[0], *C = x->shape[1], *HW = x->shape[2] * x->shape[3];
    } else if (x->ndim == 3) {
        *N = 1, *C = x->shape[0], *HW = x->shape[1] * x->shape[2];
    } else {
        char a[96];
        return segc_fail(SEGC_ERR_SHAPE, "%s: input %s must be [N,C,H,W] or [C,H,W]", op,
                         segc_tensor_shape_str(x, a, sizeof a));
    }
    return SEGC_OK;
}

/* x: [N, C, HW]; per (n, pixel block) the per-pixel sums run over C with a contiguous inner loop
   over the block's pixels, so memory is read in order. */
segc_status segc_layer_norm2d(const segc_tensor *x, const segc_tensor *weight, const segc_tensor *bias, float eps,
                              segc_tensor *out) {
    const float *w, *b;
    int64_t N = 0, C = 0, HW = 0;
    segc_status st = segc_tensor_check_f32_pair("layer_norm2d", x, out, 3);
    if (st || (st = nchw_dims("layer_norm2d", x, &N, &C, &HW))) return st;
    if ((st = check_vec("layer_norm2d", "weight", weight, C, 1, &w)) ||
        (st = check_vec("layer_norm2d", "bias", bias, C, 1, &b)))
        return st;
    if (C == 0 || HW == 0) return SEGC_OK;
    int64_t blocks = (HW + LN2D_BLOCK - 1) / LN2D_BLOCK;
    const float *xd = x->data;
    float *od = out->data;
    #pragma omp parallel for schedule(static) if (N * C * HW > 32768)
    for (int64_t t = 0; t < N * blocks; t++) {
        int64_t n = t / blocks, p0 = (t % blocks) * LN2D_BLOCK;
        int64_t len = HW - p0 < LN2D_BLOCK ? HW - p0 : LN2D_BLOCK;
        const float *xn = xd + n * C * HW + p0;
        float *on = od + n * C * HW + p0;
        double acc[LN2D_BLOCK];
        float mean_hi[LN2D_BLOCK], mean_lo[LN2D_BLOCK], rstd[LN2D_BLOCK];
        for (int64_t i = 0; i < len; i++) acc[i] = 0.0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < len; i++) acc[i] += xn[c * HW + i];
        for (int64_t i = 0; i < len; i++) {
            mean2 m = split_mean(acc[i] / (double)C);
            mean_hi[i] = m.hi, mean_lo[i] = m.lo;
            acc[i] = 0.0;
        }
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < len; i++) {
                double d = ((double)xn[c * HW + i] - mean_hi[i]) - mean_lo[i];
                acc[i] += d * d;
            }
        for (int64_t i = 0; i < len; i++) rstd[i] = (float)(1.0 / sqrt(acc[i] / (double)C + eps));
        for (int64_t c = 0; c < C; c++) {
            float wc = w ? w[c] : 1.0f, bc = b ? b[c] : 0.0f;
            for (int64_t i = 0; i < len; i++)
                on[c * HW + i] = ((xn[c * HW + i] - mean_hi[i]) - mean_lo[i]) * rstd[i] * wc + bc;
        }
    }
    return SEGC_OK;
}

segc_status segc_layer_norm2d_reference(const segc_tensor *x, const segc_tensor *weight, const segc_tensor *bias,
                                        float eps, segc_tensor *out) {
    const float *w, *b;
    int64_t N = 0, C = 0, HW = 0;
    segc_status st = segc_tensor_check_f32_pair("layer_norm2d", x, out, 3);
    if (st || (st = nchw_dims("layer_norm2d", x, &N, &C, &HW))) return st;
    if ((st = check_vec("layer_norm2d", "weight", weight, C, 1, &w)) ||
        (st = check_vec("layer_norm2d", "bias", bias, C, 1, &b)))
        return st;
    const float *xd = x->data;
    float *od = out->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t p = 0; p < HW; p++) {
            double mean = 0.0, var = 0.0;
            for (int64_t c = 0; c < C; c++) mean += xd[(n * C + c) * HW + p];
            mean /= (double)C;
            for (int64_t c = 0; c < C; c++) {
                double d = xd[(n * C + c) * HW + p] - mean;
                var += d * d;
            }
            var /= (double)C;
            for (int64_t c = 0; c < C; c++) {
                double v = (xd[(n * C + c) * HW + p] - mean) / sqrt(var + eps);
                od[(n * C + c) * HW + p] = (float)(v * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
            }
        }
    return SEGC_OK;
}

/* Dims of x[N, C, ...]: N, C and the product of the rest (1 for [N, C]). */
static void nc_rest(const segc_tensor *x, int64_t *N, int64_t *C, int64_t *S) {
    *N = x->shape[0];
    *C = x->shape[1];
    *S = 1;
    for (int i = 2; i < x->ndim; i++) *S *= x->shape[i];
}

static segc_status check_groups(int groups, int64_t C) {
    if (groups < 1 || C % groups != 0)
        return segc_fail(SEGC_ERR_SHAPE, "group_norm: %lld channels are not divisible into %d groups", (long long)C,
                         groups);
    return SEGC_OK;
}

/* x: [N, G, C/G, S]; each (n, g) slab of (C/G) S contiguous floats is normalized as one. */
segc_status segc_group_norm(const segc_tensor *x, int groups, const segc_tensor *weight, const segc_tensor *bias,
                            float eps, segc_tensor *out) {
    const float *w, *b;
    int64_t N, C, S;
    segc_status st = segc_tensor_check_f32_pair("group_norm", x, out, 2);
    if (st) return st;
    nc_rest(x, &N, &C, &S);
    if ((st = check_groups(groups, C)) || (st = check_vec("group_norm", "weight", weight, C, 1, &w)) ||
        (st = check_vec("group_norm", "bias", bias, C, 1, &b)))
        return st;
    int64_t cpg = C / groups;
    const float *xd = x->data;
    float *od = out->data;
    #pragma omp parallel for schedule(static) if (N * C * S > 32768)
    for (int64_t t = 0; t < N * groups; t++) {
        const float *xs = xd + t * cpg * S;
        float *os = od + t * cpg * S;
        int64_t c0 = (t % groups) * cpg;
        mean2 m;
        float rstd;
        stats(xs, cpg * S, eps, &m, &rstd);
        for (int64_t c = 0; c < cpg; c++) {
            float scale = rstd * (w ? w[c0 + c] : 1.0f), shift = b ? b[c0 + c] : 0.0f;
            for (int64_t i = 0; i < S; i++) os[c * S + i] = ((xs[c * S + i] - m.hi) - m.lo) * scale + shift;
        }
    }
    return SEGC_OK;
}

segc_status segc_group_norm_reference(const segc_tensor *x, int groups, const segc_tensor *weight,
                                      const segc_tensor *bias, float eps, segc_tensor *out) {
    const float *w, *b;
    int64_t N, C, S;
    segc_status st = segc_tensor_check_f32_pair("group_norm", x, out, 2);
    if (st) return st;
    nc_rest(x, &N, &C, &S);
    if ((st = check_groups(groups, C)) || (st = check_vec("group_norm", "weight", weight, C, 1, &w)) ||
        (st = check_vec("group_norm", "bias", bias, C, 1, &b)))
        return st;
    int64_t cpg = C / groups;
    const float *xd = x->data;
    float *od = out->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < groups; g++) {
            double mean = 0.0, var = 0.0, cnt = (double)(cpg * S);
            for (int64_t c = g * cpg; c < (g + 1) * cpg; c++)
                for (int64_t i = 0; i < S; i++) mean += xd[(n * C + c) * S + i];
            mean /= cnt;
            for (int64_t c = g * cpg; c < (g + 1) * cpg; c++)
                for (int64_t i = 0; i < S; i++) {
                    double d = xd[(n * C + c) * S + i] - mean;
                    var += d * d;
                }
            var /= cnt;
            for (int64_t c = g * cpg; c < (g + 1) * cpg; c++)
                for (int64_t i = 0; i < S; i++) {
                    double v = (xd[(n * C + c) * S + i] - mean) / sqrt(var + eps);
                    od[(n * C + c) * S + i] = (float)(v * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
                }
        }
    return SEGC_OK;
}

/* Validates the batch norm arguments; fills the four vector pointers. */
static segc_status check_batch_norm(const segc_tensor *x, const segc_tensor *gamma, const segc_tensor *beta,
                                    const segc_tensor *mean, const segc_tensor *var, segc_tensor *out,
                                    const float **g, const float **be, const float **m, const float **v) {
    segc_status st = segc_tensor_check_f32_pair("batch_norm", x, out, 2);
    if (st) return st;
    int64_t C = x->shape[1];
    if ((st = check_vec("batch_norm", "gamma", gamma, C, 1, g)) || (st = check_vec("batch_norm", "beta", beta, C, 1, be)) ||
        (st = check_vec("batch_norm", "running_mean", mean, C, 0, m)) ||
        (st = check_vec("batch_norm", "running_var", var, C, 0, v)))
        return st;
    return SEGC_OK;
}

/* x: [N, C, S]; per channel y = x * scale[c] + shift[c]. */
segc_status segc_batch_norm(const segc_tensor *x, const segc_tensor *gamma, const segc_tensor *beta,
                            const segc_tensor *mean, const segc_tensor *var, float eps, segc_tensor *out) {
    const float *g, *be, *m, *v;
    int64_t N, C, S;
    segc_status st = check_batch_norm(x, gamma, beta, mean, var, out, &g, &be, &m, &v);
    if (st) return st;
    nc_rest(x, &N, &C, &S);
    const float *xd = x->data;
    float *od = out->data;
    #pragma omp parallel for schedule(static) if (N * C * S > 32768)
    for (int64_t t = 0; t < N * C; t++) {
        int64_t c = t % C;
        float scale = (float)((g ? g[c] : 1.0) / sqrt((double)v[c] + eps));
        float shift = be ? be[c] : 0.0f, mc = m[c];
        const float *xs = xd + t * S;
        float *os = od + t * S;
        for (int64_t i = 0; i < S; i++) os[i] = (xs[i] - mc) * scale + shift;
    }
    return SEGC_OK;
}

segc_status segc_batch_norm_reference(const segc_tensor *x, const segc_tensor *gamma, const segc_tensor *beta,
                                      const segc_tensor *mean, const segc_tensor *var, float eps, segc_tensor *out) {
    const float *g, *be, *m, *v;
    int64_t N, C, S;
    segc_status st = check_batch_norm(x, gamma, beta, mean, var, out, &g, &be, &m, &v);
    if (st) return st;
    nc_rest(x, &N, &C, &S);
    const float *xd = x->data;
    float *od = out->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < S; i++) {
                double y = (xd[(n * C + c) * S + i] - (double)m[c]) / sqrt((double)v[c] + eps);
                od[(n * C + c) * S + i] = (float)(y * (g ? g[c] : 1.0) + (be ? be[c] : 0.0));
            }
    return SEGC_OK;
}
