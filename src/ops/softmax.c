/* softmax.c - softmax over the last dim and over channels, and the channel argmax (see softmax.h).
   Stable form: subtract the row max, exponentiate, divide by the sum (accumulated in double in the
   reference, in float in the fast path, which is well within 1e-6 relative for rows up to ~10^5). */
#include "ops/softmax.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"

#if defined(__GNUC__) && !defined(__clang__)
/* Lets GCC if-convert the float compares in exp_one's clamps and selects, so the loops that call it
   vectorize. segc never reads floating-point exception flags, so no result changes. */
#pragma GCC optimize("no-trapping-math")
#endif

/* Pixels per block in the channel softmax / argmax; the block's running max and sum sit on the stack. */
#define CH_BLOCK 256

/* Range of segc_exp_array: below EXP_LO the result is flushed to 0 (so 2^n stays a normal number),
   above EXP_HI it is +inf (log(FLT_MAX) = 88.7228). */
#define EXP_LO (-86.0f)
#define EXP_HI 88.7228390f
/* Cephes expf: e^x = 2^n e^r with n = round(x / ln 2), r = x - n ln 2 (ln 2 split in two parts so the
   reduction is exact), e^r by a degree-6 polynomial on |r| <= ln 2 / 2. */
#define EXP_LOG2E 1.44269504088896341f
#define EXP_LN2_HI 0.693359375f
#define EXP_LN2_LO (-2.12194440e-4f)
#define EXP_ROUND 12582912.0f   /* 1.5 * 2^23: adding and subtracting it rounds to the nearest integer */

/* One element; plain arithmetic and selects only, so loops over it vectorize. */
static inline float exp_one(float x) {
    float xc = x < EXP_LO ? EXP_LO : (x > EXP_HI ? EXP_HI : x);
    xc = xc == xc ? xc : 0.0f;   /* NaN: compute anything finite (the int conversion below), return x */
    float n = (xc * EXP_LOG2E + EXP_ROUND) - EXP_ROUND;
    float r = xc - n * EXP_LN2_HI;
    r = r - n * EXP_LN2_LO;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^(n-1) built in the exponent bits (n - 1 + 127 stays in [1, 254]), times 2 afterwards */
    uint32_t bits = (uint32_t)((int32_t)n + 126) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale * 2.0f;
    y = x < EXP_LO ? 0.0f : y;
    y = x > EXP_HI ? INFINITY : y;
    return x == x ? y : x;
}

void segc_exp_array(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = exp_one(x[i]);
}

/* o[0..n) = softmax(x[0..n)); o may be x. */
static void softmax_row(const float *x, float *o, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) o[i] = exp_one(x[i] - mx);
    for (int64_t i = 0; i < n; i++) sum += o[i];
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) o[i] *= inv;
}

/* x, o: [rows, n]. */
static void softmax_rows_to(const float *x, float *o, int64_t rows, int64_t n) {
    #pragma omp parallel for schedule(static) if (rows * n > 32768 && rows > 1)
    for (int64_t r = 0; r < rows; r++) softmax_row(x + r * n, o + r * n, n);
}

void segc_softmax_rows(float *x, int64_t rows, int64_t n) {
    if (rows > 0 && n > 0) softmax_rows_to(x, x, rows, n);
}

segc_status segc_softmax(const segc_tensor *x, segc_tensor *out) {
    segc_status st = segc_tensor_check_f32_pair("softmax", x, out, 1);
    if (st) return st;
    int64_t n = x->shape[x->ndim - 1];
    if (n > 0) softmax_rows_to(x->data, out->data, segc_tensor_numel(x) / n, n);
    return SEGC_OK;
}

segc_status segc_softmax_inplace(segc_tensor *x) { return segc_softmax(x, x); }

segc_status segc_softmax_reference(const segc_tensor *x, segc_tensor *out) {
    segc_status st = segc_tensor_check_f32_pair("softmax", x, out, 1);
    if (st) return st;
    int64_t n = x->shape[x->ndim - 1];
    if (n == 0) return SEGC_OK;
    int64_t rows = segc_tensor_numel(x) / n;
    const float *xd = x->data;
    float *od = out->data;
    for (int64_t r = 0; r < rows; r++) {
        double mx = -INFINITY, sum = 0.0;
        for (int64_t i = 0; i < n; i++) mx = fmax(mx, xd[r * n + i]);
        for (int64_t i = 0; i < n; i++) sum += exp(xd[r * n + i] - mx);
        for (int64_t i = 0; i < n; i++) od[r * n + i] = (float)(exp(xd[r * n + i] - mx) / sum);
    }
    return SEGC_OK;
}

/* Splits logits [N,C,H,W] / [C,H,W] into N, C, HW. */
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

/* x: [N, C, HW]; per (n, pixel block): running max over C, then exp and sum, then scale, each a
   contiguous loop over the block. */
segc_status segc_softmax_channels(const segc_tensor *x, segc_tensor *out) {
    int64_t N = 0, C = 0, HW = 0;
    segc_status st = segc_tensor_check_f32_pair("softmax_channels", x, out, 3);
    if (st || (st = nchw_dims("softmax_channels", x, &N, &C, &HW))) return st;
    if (C == 0 || HW == 0) return SEGC_OK;
    int64_t blocks = (HW + CH_BLOCK - 1) / CH_BLOCK;
    const float *xd = x->data;
    float *od = out->data;
    #pragma omp parallel for schedule(static) if (N * C * HW > 32768)
    for (int64_t t = 0; t < N * blocks; t++) {
        int64_t n = t / blocks, p0 = (t % blocks) * CH_BLOCK;
        int64_t len = HW - p0 < CH_BLOCK ? HW - p0 : CH_BLOCK;
        const float *xn = xd + n * C * HW + p0;
        float *on = od + n * C * HW + p0;
        float mx[CH_BLOCK], sum[CH_BLOCK];
        for (int64_t i = 0; i < len; i++) mx[i] = -INFINITY, sum[i] = 0.0f;
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < len; i++) mx[i] = xn[c * HW + i] > mx[i] ? xn[c * HW + i] : mx[i];
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < len; i++) {
                float e = exp_one(xn[c * HW + i] - mx[i]);
                on[c * HW + i] = e;
                sum[i] += e;
            }
        for (int64_t i = 0; i < len; i++) sum[i] = 1.0f / sum[i];
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < len; i++) on[c * HW + i] *= sum[i];
    }
    return SEGC_OK;
}

segc_status segc_softmax_channels_reference(const segc_tensor *x, segc_tensor *out) {
    int64_t N = 0, C = 0, HW = 0;
    segc_status st = segc_tensor_check_f32_pair("softmax_channels", x, out, 3);
    if (st || (st = nchw_dims("softmax_channels", x, &N, &C, &HW))) return st;
    const float *xd = x->data;
    float *od = out->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t p = 0; p < HW; p++) {
            double mx = -INFINITY, sum = 0.0;
            for (int64_t c = 0; c < C; c++) mx = fmax(mx, xd[(n * C + c) * HW + p]);
            for (int64_t c = 0; c < C; c++) sum += exp(xd[(n * C + c) * HW + p] - mx);
            for (int64_t c = 0; c < C; c++) od[(n * C + c) * HW + p] = (float)(exp(xd[(n * C + c) * HW + p] - mx) / sum);
        }
    return SEGC_OK;
}

/* Validates logits [1,K,H,W] / [K,H,W] and labels [H,W] (u8 or i32, last dim contiguous). */
static segc_status check_argmax(const segc_tensor *logits, const segc_tensor *labels, int64_t *K, int64_t *H,
                                int64_t *W) {
    char a[96], b[96];
    if (logits->dtype != SEGC_F32)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "argmax_channels: logits dtype %s (float32 only)",
                         segc_dtype_name(logits->dtype));
    int off = logits->ndim - 3;
    if ((logits->ndim != 3 && logits->ndim != 4) || (logits->ndim == 4 && logits->shape[0] != 1))
        return segc_fail(SEGC_ERR_SHAPE, "argmax_channels: logits %s must be [1,K,H,W] or [K,H,W]",
                         segc_tensor_shape_str(logits, a, sizeof a));
    if (!segc_tensor_is_contiguous(logits))
        return segc_fail(SEGC_ERR_INVALID_ARG, "argmax_channels: logits must be contiguous");
    *K = logits->shape[off], *H = logits->shape[off + 1], *W = logits->shape[off + 2];
    if (labels->ndim != 2 || labels->shape[0] != *H || labels->shape[1] != *W)
        return segc_fail(SEGC_ERR_SHAPE, "argmax_channels: labels %s do not match logits %s",
                         segc_tensor_shape_str(labels, a, sizeof a), segc_tensor_shape_str(logits, b, sizeof b));
    if (labels->dtype != SEGC_U8 && labels->dtype != SEGC_I32)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "argmax_channels: labels dtype %s (u8 or i32)",
                         segc_dtype_name(labels->dtype));
    if (labels->dtype == SEGC_U8 && *K > 256)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "argmax_channels: %lld classes do not fit u8 labels", (long long)*K);
    if (*K < 1) return segc_fail(SEGC_ERR_SHAPE, "argmax_channels: no classes");
    if (*W > 1 && labels->stride[1] != 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "argmax_channels: labels rows must be contiguous");
    return SEGC_OK;
}

/* Stores label k at labels[h, w] in the labels' dtype. */
static void put_label(segc_tensor *labels, int64_t h, int64_t w, int32_t k) {
    int64_t off = h * labels->stride[0] + w;
    if (labels->dtype == SEGC_U8)
        ((uint8_t *)labels->data)[off] = (uint8_t)k;
    else
        ((int32_t *)labels->data)[off] = k;
}

/* logits: [K, H, W]; per (row h, column block): best value and index over K, updated only on a
   strictly greater value or the first NaN, so ties keep the first maximum as torch.argmax. */
segc_status segc_argmax_channels(const segc_tensor *logits, segc_tensor *labels) {
    int64_t K = 0, H = 0, W = 0;
    segc_status st = check_argmax(logits, labels, &K, &H, &W);
    if (st) return st;
    if (H == 0 || W == 0) return SEGC_OK;
    const float *xd = logits->data;
    int64_t HW = H * W, blocks = (W + CH_BLOCK - 1) / CH_BLOCK;
    #pragma omp parallel for schedule(static) if (K * HW > 32768)
    for (int64_t t = 0; t < H * blocks; t++) {
        int64_t h = t / blocks, w0 = (t % blocks) * CH_BLOCK;
        int64_t len = W - w0 < CH_BLOCK ? W - w0 : CH_BLOCK;
        const float *x0 = xd + h * W + w0;
        float best[CH_BLOCK];
        int32_t arg[CH_BLOCK];
        for (int64_t i = 0; i < len; i++) best[i] = x0[i], arg[i] = 0;
        for (int64_t k = 1; k < K; k++) {
            const float *xk = x0 + k * HW;
            for (int64_t i = 0; i < len; i++) {
                /* best[i] == best[i] is false once a NaN has won: it then stays */
                int take = (xk[i] > best[i]) | ((xk[i] != xk[i]) & (best[i] == best[i]));
                best[i] = take ? xk[i] : best[i];
                arg[i] = take ? (int32_t)k : arg[i];
            }
        }
        for (int64_t i = 0; i < len; i++) put_label(labels, h, w0 + i, arg[i]);
    }
    return SEGC_OK;
}

segc_status segc_argmax_channels_reference(const segc_tensor *logits, segc_tensor *labels) {
    int64_t K = 0, H = 0, W = 0;
    segc_status st = check_argmax(logits, labels, &K, &H, &W);
    if (st) return st;
    const float *xd = logits->data;
    for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++) {
            int32_t arg = 0;
            for (int64_t k = 1; k < K; k++) {
                float v = xd[(k * H + h) * W + w], b = xd[(arg * H + h) * W + w];
                if (isnan(b)) break;
                if (isnan(v) || v > b) arg = (int32_t)k;
            }
            put_label(labels, h, w, arg);
        }
    return SEGC_OK;
}
