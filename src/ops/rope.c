/* rope.c - SAM 2's axial 2-D rotary position encoding (see rope.h).
   Dims: B batch, H heads, L tokens, D head dim (D/2 complex pairs), N = end_x * end_y table rows.
   The table is computed in float32 the way the reference does it in torch (powf, float outer
   product, cosf/sinf), so our rotation matches theirs to rounding. Not here: the attention itself. */
#include "ops/rope.h"

#include <complex.h>
#include <math.h>
#include <string.h>

#include "core/status.h"

/* Largest head dim accepted (the frequency table lives on the stack); SAM 2 uses 64 to 256. */
#define ROPE_MAX_DIM 8192

/* Checks dim, end_x, end_y, theta for compute_axial_cis. */
static segc_status check_cis_args(int dim, int end_x, int end_y, float theta, const char *op) {
    if (dim < 4 || dim % 4 || dim > ROPE_MAX_DIM)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: head dim %d is not a multiple of 4 in [4, %d]", op, dim,
                         ROPE_MAX_DIM);
    if (end_x < 1 || end_y < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: grid %d x %d is empty", op, end_x, end_y);
    if (!(theta > 0)) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: theta %g <= 0", op, (double)theta);
    return SEGC_OK;
}

/* cis[n, j] = (cos, sin)(t * freq[j mod D/4]) with t = t_x (n % end_x) for j < D/4 and
   t_y (n / end_x) otherwise; freq[i] = 1 / theta^(4i / D), all in float32 as the reference. */
segc_status segc_rope_axial_cis(int dim, int end_x, int end_y, float theta, segc_tensor *cis) {
    static const char *op = "rope_axial_cis";
    char b1[96];
    segc_status st = check_cis_args(dim, end_x, end_y, theta, op);
    if (st) return st;
    int64_t n_tok = (int64_t)end_x * end_y;
    const int64_t shape[3] = {n_tok, dim / 2, 2};
    if (!cis || !cis->data || cis->dtype != SEGC_F32 || !segc_tensor_has_shape(cis, 3, shape) ||
        !segc_tensor_is_contiguous(cis))
        return segc_fail(SEGC_ERR_SHAPE, "%s: cis is %s, want contiguous f32 [%lld, %d, 2]", op,
                         cis ? segc_tensor_shape_str(cis, b1, sizeof b1) : "NULL", (long long)n_tok, dim / 2);
    int quarter = dim / 4;
    float freqs[quarter];
    for (int i = 0; i < quarter; i++) freqs[i] = 1.0f / powf(theta, (float)(4 * i) / (float)dim);
    float *out = cis->data;
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < n_tok; n++) {
        float t_x = (float)(n % end_x), t_y = (float)(n / end_x);
        float *row = out + n * dim;
        for (int j = 0; j < 2 * quarter; j++) {
            float angle = (j < quarter ? t_x : t_y) * freqs[j % quarter];
            row[2 * j] = cosf(angle);
            row[2 * j + 1] = sinf(angle);
        }
    }
    return SEGC_OK;
}

segc_status segc_rope_axial_cis_new(segc_arena *arena, int dim, int end_x, int end_y, float theta,
                                    segc_tensor *cis) {
    segc_status st = check_cis_args(dim, end_x, end_y, theta, "rope_axial_cis");
    if (st) return st;
    if (!arena) return segc_fail(SEGC_ERR_INVALID_ARG, "rope_axial_cis: arena is NULL");
    const int64_t shape[3] = {(int64_t)end_x * end_y, dim / 2, 2};
    if ((st = segc_tensor_new(arena, SEGC_F32, 3, shape, cis))) return segc_fail_context(st, "rope_axial_cis");
    return segc_rope_axial_cis(dim, end_x, end_y, theta, cis);
}

/* Validates x[B,H,L,D] (float32, contiguous last dim) and num_rotate against a period of n_tok rows. */
static segc_status check_rotate_target(const segc_tensor *x, int64_t n_tok, int64_t num_rotate, const char *op,
                                       const char *name) {
    char b1[96];
    if (!x || !x->data) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: %s is NULL", op, name);
    if (x->dtype != SEGC_F32 || x->ndim != 4 || (x->shape[3] > 1 && x->stride[3] != 1))
        return segc_fail(SEGC_ERR_SHAPE, "%s: %s is %s %s, want f32 [B,H,L,D] with a contiguous last dim", op, name,
                         segc_dtype_name(x->dtype), segc_tensor_shape_str(x, b1, sizeof b1));
    if (num_rotate < 0 || num_rotate > x->shape[2])
        return segc_fail(SEGC_ERR_SHAPE, "%s: %s has %lld tokens, cannot rotate %lld", op, name,
                         (long long)x->shape[2], (long long)num_rotate);
    if (num_rotate % n_tok)
        return segc_fail(SEGC_ERR_SHAPE, "%s: %lld rotated tokens of %s are not a multiple of the %lld-token grid",
                         op, (long long)num_rotate, name, (long long)n_tok);
    return SEGC_OK;
}

segc_status segc_rope_apply(segc_tensor *x, const segc_tensor *cis, int64_t num_rotate) {
    static const char *op = "rope_apply";
    char b1[96];
    if (!cis || !cis->data || cis->dtype != SEGC_F32 || cis->ndim != 3 || cis->shape[2] != 2 ||
        cis->shape[0] < 1 || !segc_tensor_is_contiguous(cis))
        return segc_fail(SEGC_ERR_SHAPE, "%s: cis is %s, want contiguous f32 [N, D/2, 2]", op,
                         cis ? segc_tensor_shape_str(cis, b1, sizeof b1) : "NULL");
    int64_t n_tok = cis->shape[0], pairs = cis->shape[1];
    segc_status st = check_rotate_target(x, n_tok, num_rotate, op, "x");
    if (st) return st;
    if (x->shape[3] != 2 * pairs)
        return segc_fail(SEGC_ERR_SHAPE, "%s: x head dim %lld does not match cis [%lld, %lld, 2]", op,
                         (long long)x->shape[3], (long long)n_tok, (long long)pairs);
    int64_t B = x->shape[0], H = x->shape[1];
    float *base = x->data;
    const float *table = cis->data;
    /* x row (b, h, l): pair j <- (x0 c - x1 s, x0 s + x1 c) with (c, s) = cis[l % N, j] */
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < B * H * num_rotate; t++) {
        int64_t bh = t / num_rotate, l = t % num_rotate;
        float *row = base + (bh / H) * x->stride[0] + (bh % H) * x->stride[1] + l * x->stride[2];
        const float *cs = table + (l % n_tok) * pairs * 2;
        for (int64_t j = 0; j < pairs; j++) {
            float x0 = row[2 * j], x1 = row[2 * j + 1], c = cs[2 * j], s = cs[2 * j + 1];
            row[2 * j] = x0 * c - x1 * s;
            row[2 * j + 1] = x0 * s + x1 * c;
        }
    }
    return SEGC_OK;
}

segc_status segc_rope_apply_qk(segc_tensor *q, segc_tensor *k, const segc_tensor *cis, int repeat_freqs_k,
                               int64_t num_k_exclude_rope) {
    static const char *op = "rope_apply_qk";
    if (!cis || cis->ndim != 3) return segc_fail(SEGC_ERR_SHAPE, "%s: cis must be [N, D/2, 2]", op);
    int64_t n_tok = cis->shape[0];
    if (!q || q->ndim != 4) return segc_fail(SEGC_ERR_SHAPE, "%s: q must be [B,H,Lq,D]", op);
    if (q->shape[2] != n_tok)
        return segc_fail(SEGC_ERR_SHAPE, "%s: q has %lld tokens, cis has %lld", op, (long long)q->shape[2],
                         (long long)n_tok);
    int64_t nk = 0;
    if (k) {
        if (k->ndim != 4) return segc_fail(SEGC_ERR_SHAPE, "%s: k must be [B,H,Lk,D]", op);
        nk = k->shape[2] - num_k_exclude_rope;
        if (num_k_exclude_rope < 0 || nk < 0)
            return segc_fail(SEGC_ERR_SHAPE, "%s: cannot exclude %lld of %lld keys", op,
                             (long long)num_k_exclude_rope, (long long)k->shape[2]);
        if (!repeat_freqs_k && nk != 0 && nk != n_tok)
            return segc_fail(SEGC_ERR_SHAPE, "%s: %lld rotated keys != %lld queries and repeat_freqs_k is off", op,
                             (long long)nk, (long long)n_tok);
    }
    /* check both before touching either, so a failing call leaves q and k unchanged */
    segc_status st = check_rotate_target(q, n_tok, n_tok, op, "q");
    if (!st && k) st = check_rotate_target(k, n_tok, nk, op, "k");
    if (!st && k && k->shape[3] != q->shape[3])
        st = segc_fail(SEGC_ERR_SHAPE, "%s: q head dim %lld != k head dim %lld", op, (long long)q->shape[3],
                       (long long)k->shape[3]);
    if (st) return st;
    if ((st = segc_rope_apply(q, cis, n_tok))) return st;
    if (k && nk > 0) return segc_rope_apply(k, cis, nk);
    return SEGC_OK;
}

/* x[b,h,l] *= exp(i angle) per pair, angle from compute_axial_cis's formula in double. */
segc_status segc_rope_apply_reference(segc_tensor *x, int end_x, int end_y, float theta, int64_t num_rotate) {
    static const char *op = "rope_apply_reference";
    if (!x || x->ndim != 4) return segc_fail(SEGC_ERR_SHAPE, "%s: x must be [B,H,L,D]", op);
    segc_status st = check_cis_args((int)x->shape[3], end_x, end_y, theta, op);
    if (st) return st;
    int64_t n_tok = (int64_t)end_x * end_y, D = x->shape[3];
    if ((st = check_rotate_target(x, n_tok, num_rotate, op, "x"))) return st;
    for (int64_t b = 0; b < x->shape[0]; b++)
        for (int64_t h = 0; h < x->shape[1]; h++)
            for (int64_t l = 0; l < num_rotate; l++) {
                float *row = (float *)x->data + b * x->stride[0] + h * x->stride[1] + l * x->stride[2];
                int64_t n = l % n_tok;
                for (int64_t j = 0; j < D / 2; j++) {
                    int64_t i = j % (D / 4);   /* frequency index: x half then y half */
                    double t = j < D / 4 ? (double)(n % end_x) : (double)(n / end_x);
                    double freq = 1.0 / pow((double)theta, (double)(4 * i) / (double)D);
                    double complex z = (double)row[2 * j] + (double)row[2 * j + 1] * I;
                    z *= cexp(I * (t * freq));
                    row[2 * j] = (float)creal(z);
                    row[2 * j + 1] = (float)cimag(z);
                }
            }
    return SEGC_OK;
}
