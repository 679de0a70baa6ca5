/* elementwise.c - add, mul, residual add + activation, channel / last-dim broadcasts, scale + shift,
   axpy (see elementwise.h). Each op is a flat loop over contiguous memory, split into chunks run in
   parallel when large; the activation is applied per chunk while it is still in cache.
   The one oracle, segc_binary_reference, broadcasts by index arithmetic. */
#include "ops/elementwise.h"

#include "core/status.h"

/* Below this many elements a parallel region costs more than it saves. */
#define EW_PARALLEL_MIN 32768
/* Elements per parallel work item. */
#define EW_CHUNK 16384

/* t is contiguous float32. */
static segc_status check_f32(const char *op, const char *what, const segc_tensor *t) {
    if (t->dtype != SEGC_F32)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: %s dtype %s (float32 only)", op, what, segc_dtype_name(t->dtype));
    if (!segc_tensor_is_contiguous(t)) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: %s is not contiguous", op, what);
    return SEGC_OK;
}

/* a, b and out: contiguous float32 with a's shape. */
static segc_status check_same(const char *op, const segc_tensor *a, const segc_tensor *b, const segc_tensor *out) {
    char s1[96], s2[96];
    segc_status st;
    if ((st = check_f32(op, "a", a)) || (st = check_f32(op, "b", b)) || (st = check_f32(op, "out", out))) return st;
    if (!segc_tensor_has_shape(b, a->ndim, a->shape))
        return segc_fail(SEGC_ERR_SHAPE, "%s: %s vs %s", op, segc_tensor_shape_str(a, s1, sizeof s1),
                         segc_tensor_shape_str(b, s2, sizeof s2));
    if (!segc_tensor_has_shape(out, a->ndim, a->shape))
        return segc_fail(SEGC_ERR_SHAPE, "%s: output %s vs input %s", op, segc_tensor_shape_str(out, s1, sizeof s1),
                         segc_tensor_shape_str(a, s2, sizeof s2));
    return SEGC_OK;
}

typedef enum ew_kind { EW_ADD, EW_MUL, EW_AXPY, EW_SCALE_SHIFT } ew_kind;

/* o[0..n) = act(a op b) for one chunk; b is unused by scale+shift, alpha/beta are the scalars. */
static void ew_chunk(ew_kind kind, const float *a, const float *b, float alpha, float beta, segc_act act, float *o,
                     size_t n) {
    switch (kind) {
    case EW_ADD:
        for (size_t i = 0; i < n; i++) o[i] = a[i] + b[i];
        break;
    case EW_MUL:
        for (size_t i = 0; i < n; i++) o[i] = a[i] * b[i];
        break;
    case EW_AXPY:   /* o = a + alpha b */
        for (size_t i = 0; i < n; i++) o[i] = a[i] + alpha * b[i];
        break;
    case EW_SCALE_SHIFT:
        for (size_t i = 0; i < n; i++) o[i] = a[i] * alpha + beta;
        break;
    }
    segc_act_apply(act, o, n);
}

/* Runs ew_chunk over n elements, in parallel chunks when large. */
static void ew_run(ew_kind kind, const float *a, const float *b, float alpha, float beta, segc_act act, float *o,
                   size_t n) {
    if (n < EW_PARALLEL_MIN) {
        ew_chunk(kind, a, b, alpha, beta, act, o, n);
        return;
    }
    long long chunks = (long long)((n + EW_CHUNK - 1) / EW_CHUNK);
    #pragma omp parallel for schedule(static)
    for (long long c = 0; c < chunks; c++) {
        size_t s = (size_t)c * EW_CHUNK, len = n - s < EW_CHUNK ? n - s : EW_CHUNK;
        ew_chunk(kind, a + s, b ? b + s : NULL, alpha, beta, act, o + s, len);
    }
}

static segc_status check_act(const char *op, segc_act act) {
    if ((unsigned)act > (unsigned)SEGC_ACT_HARDSWISH)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: unknown activation %d", op, (int)act);
    return SEGC_OK;
}

segc_status segc_add(const segc_tensor *a, const segc_tensor *b, segc_tensor *out) {
    return segc_add_act(a, b, SEGC_ACT_NONE, out);
}

segc_status segc_mul(const segc_tensor *a, const segc_tensor *b, segc_tensor *out) {
    segc_status st = check_same("mul", a, b, out);
    if (st) return st;
    ew_run(EW_MUL, a->data, b->data, 0.0f, 0.0f, SEGC_ACT_NONE, out->data, (size_t)segc_tensor_numel(a));
    return SEGC_OK;
}

segc_status segc_add_act(const segc_tensor *a, const segc_tensor *b, segc_act act, segc_tensor *out) {
    segc_status st = check_same("add", a, b, out);
    if (st || (st = check_act("add", act))) return st;
    ew_run(EW_ADD, a->data, b->data, 0.0f, 0.0f, act, out->data, (size_t)segc_tensor_numel(a));
    return SEGC_OK;
}

segc_status segc_add_inplace(segc_tensor *y, const segc_tensor *x, segc_act act) {
    return segc_add_act(y, x, act, y);
}

segc_status segc_axpy(float alpha, const segc_tensor *x, segc_tensor *y) {
    segc_status st = check_same("axpy", y, x, y);
    if (st) return st;
    ew_run(EW_AXPY, y->data, x->data, alpha, 0.0f, SEGC_ACT_NONE, y->data, (size_t)segc_tensor_numel(y));
    return SEGC_OK;
}

segc_status segc_scale_shift(const segc_tensor *x, float scale, float shift, segc_tensor *out) {
    segc_status st = check_same("scale_shift", x, x, out);
    if (st) return st;
    ew_run(EW_SCALE_SHIFT, x->data, NULL, scale, shift, SEGC_ACT_NONE, out->data, (size_t)segc_tensor_numel(x));
    return SEGC_OK;
}

/* v is NULL (allowed when optional) or contiguous float32 with c elements whose dims other than
   one are all 1 ([C], [1,C,1,1], [1,1,C]); returns its data in *d. */
static segc_status check_vec(const char *op, const char *what, const segc_tensor *v, int64_t c, int optional,
                             const float **d) {
    *d = NULL;
    if (!v) return optional ? SEGC_OK : segc_fail(SEGC_ERR_INVALID_ARG, "%s: %s is required", op, what);
    segc_status st = check_f32(op, what, v);
    if (st) return st;
    int non_one = 0;
    for (int i = 0; i < v->ndim; i++) non_one += v->shape[i] != 1;
    if (segc_tensor_numel(v) != c || non_one > 1) {
        char a[96];
        return segc_fail(SEGC_ERR_SHAPE, "%s: %s %s is not a vector of %lld", op, what,
                         segc_tensor_shape_str(v, a, sizeof a), (long long)c);
    }
    *d = v->data;
    return SEGC_OK;
}

/* x: [N, C, S]; out[n, c, s] = act(x * scale[c] + shift[c]). */
segc_status segc_channel_affine(const segc_tensor *x, const segc_tensor *scale, const segc_tensor *shift,
                                segc_act act, segc_tensor *out) {
    const float *sc, *sh;
    segc_status st = check_same("channel_affine", x, x, out);
    if (st || (st = check_act("channel_affine", act))) return st;
    if (x->ndim < 2) return segc_fail(SEGC_ERR_SHAPE, "channel_affine: input needs [N,C,...], got %d dims", x->ndim);
    int64_t N = x->shape[0], C = x->shape[1];
    if ((st = check_vec("channel_affine", "scale", scale, C, 1, &sc)) ||
        (st = check_vec("channel_affine", "shift", shift, C, 1, &sh)))
        return st;
    int64_t S = N * C != 0 ? segc_tensor_numel(x) / (N * C) : 0;
    const float *xd = x->data;
    float *od = out->data;
    #pragma omp parallel for schedule(static) if (N * C * S > EW_PARALLEL_MIN)
    for (int64_t t = 0; t < N * C; t++) {
        int64_t c = t % C;
        ew_chunk(EW_SCALE_SHIFT, xd + t * S, NULL, sc ? sc[c] : 1.0f, sh ? sh[c] : 0.0f, act, od + t * S, (size_t)S);
    }
    return SEGC_OK;
}

segc_status segc_add_channel(const segc_tensor *x, const segc_tensor *bias, segc_tensor *out) {
    if (!bias) return segc_fail(SEGC_ERR_INVALID_ARG, "add_channel: bias is required");
    return segc_channel_affine(x, NULL, bias, SEGC_ACT_NONE, out);
}

segc_status segc_mul_channel(const segc_tensor *x, const segc_tensor *scale, segc_tensor *out) {
    if (!scale) return segc_fail(SEGC_ERR_INVALID_ARG, "mul_channel: scale is required");
    return segc_channel_affine(x, scale, NULL, SEGC_ACT_NONE, out);
}

/* x: [R, C]; out[r, :] = x[r, :] op v for each row. */
static segc_status lastdim_op(const char *op, ew_kind kind, const segc_tensor *x, const segc_tensor *v,
                              segc_tensor *out) {
    const float *vd;
    segc_status st = check_same(op, x, x, out);
    if (st) return st;
    if (x->ndim < 1) return segc_fail(SEGC_ERR_SHAPE, "%s: input has no dims", op);
    int64_t C = x->shape[x->ndim - 1];
    if ((st = check_vec(op, "vector", v, C, 0, &vd))) return st;
    int64_t R = C ? segc_tensor_numel(x) / C : 0;
    const float *xd = x->data;
    float *od = out->data;
    #pragma omp parallel for schedule(static) if (R * C > EW_PARALLEL_MIN)
    for (int64_t r = 0; r < R; r++) ew_chunk(kind, xd + r * C, vd, 0.0f, 0.0f, SEGC_ACT_NONE, od + r * C, (size_t)C);
    return SEGC_OK;
}

segc_status segc_add_lastdim(const segc_tensor *x, const segc_tensor *v, segc_tensor *out) {
    return lastdim_op("add_lastdim", EW_ADD, x, v, out);
}

segc_status segc_mul_lastdim(const segc_tensor *x, const segc_tensor *v, segc_tensor *out) {
    return lastdim_op("mul_lastdim", EW_MUL, x, v, out);
}

/* out[i...] = act(a[i...] op b[broadcast i...]); b's dims align to the right of a's. */
segc_status segc_binary_reference(char op, const segc_tensor *a, const segc_tensor *b, segc_act act,
                                  segc_tensor *out) {
    char s1[96], s2[96];
    segc_status st;
    if ((st = check_f32("binary", "a", a)) || (st = check_f32("binary", "b", b)) || (st = check_f32("binary", "out", out)))
        return st;
    if (op != '+' && op != '*') return segc_fail(SEGC_ERR_INVALID_ARG, "binary: op '%c'", op);
    if (!segc_tensor_has_shape(out, a->ndim, a->shape) || b->ndim > a->ndim)
        return segc_fail(SEGC_ERR_SHAPE, "binary: shapes %s and %s", segc_tensor_shape_str(a, s1, sizeof s1),
                         segc_tensor_shape_str(b, s2, sizeof s2));
    int off = a->ndim - b->ndim;
    for (int i = 0; i < b->ndim; i++)
        if (b->shape[i] != 1 && b->shape[i] != a->shape[off + i])
            return segc_fail(SEGC_ERR_SHAPE, "binary: %s does not broadcast to %s",
                             segc_tensor_shape_str(b, s2, sizeof s2), segc_tensor_shape_str(a, s1, sizeof s1));
    int64_t n = segc_tensor_numel(a);
    const float *ad = a->data, *bd = b->data;
    float *od = out->data;
    for (int64_t i = 0; i < n; i++) {
        /* unravel i over a's shape, ravel over b's (size-1 dims contribute 0) */
        int64_t rem = i, bi = 0;
        for (int d = a->ndim - 1; d >= 0; d--) {
            int64_t idx = rem % a->shape[d];
            rem /= a->shape[d];
            if (d >= off && b->shape[d - off] != 1) bi += idx * b->stride[d - off];
        }
        float v = op == '+' ? ad[i] + bd[bi] : ad[i] * bd[bi];
        segc_act_apply_reference(act, &v, 1);
        od[i] = v;
    }
    return SEGC_OK;
}
