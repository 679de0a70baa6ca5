/* params.c - weights by name from a .segc file, widened and BN-folded into owned memory. */
#include "nn/params.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "ops/conv.h"

void segc_params_init(segc_params *p, const segc_file *file) {
    p->file = file;
    segc_arena_init(&p->store, (size_t)4 << 20);
}

void segc_params_free(segc_params *p) {
    segc_arena_free(&p->store);
    p->file = NULL;
}

int segc_params_has(const segc_params *p, const char *name) { return segc_file_find(p->file, name) != NULL; }

const char *segc_params_name(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return buf;
}

/* Looks up `name` and checks its rank and (if given) shape. */
static segc_status lookup(segc_params *p, const char *name, int ndim, const int64_t *shape, segc_tensor *raw) {
    segc_status st = segc_file_tensor_view(p->file, name, raw);
    if (st) return st;
    char found[96], want[96];
    if (ndim > 0 && raw->ndim != ndim) {
        segc_tensor_shape_str(raw, found, sizeof found);
        return segc_fail(SEGC_ERR_SHAPE, "weight %s: expected %d dims, found %s", name, ndim, found);
    }
    if (shape && !segc_tensor_has_shape(raw, raw->ndim, shape)) {
        segc_tensor w = segc_tensor_wrap(SEGC_F32, raw->ndim, shape, NULL);
        return segc_fail(SEGC_ERR_SHAPE, "weight %s: expected %s, found %s", name,
                         segc_tensor_shape_str(&w, want, sizeof want), segc_tensor_shape_str(raw, found, sizeof found));
    }
    if (raw->dtype != SEGC_F32 && raw->dtype != SEGC_F16 && raw->dtype != SEGC_BF16)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "weight %s: dtype %s is not a float type", name,
                         segc_dtype_name(raw->dtype));
    return SEGC_OK;
}

segc_status segc_params_get(segc_params *p, const char *name, int ndim, const int64_t *shape, segc_tensor *out) {
    segc_tensor raw;
    segc_status st = lookup(p, name, ndim, shape, &raw);
    if (st) return st;
    if (raw.dtype == SEGC_F32) {
        *out = raw;
        return SEGC_OK;
    }
    return segc_tensor_to_f32(&p->store, &raw, out);
}

segc_status segc_params_get_copy(segc_params *p, const char *name, int ndim, const int64_t *shape,
                                 segc_tensor *out) {
    segc_tensor raw;
    segc_status st = lookup(p, name, ndim, shape, &raw);
    if (st) return st;
    return segc_tensor_to_f32(&p->store, &raw, out);
}

/* b = `conv`.bias [K] (zeros if not stored) in the store, then the BN `bn` (none if NULL) folded into
   w [K, ...] and b: what every conv_bn loader shares. */
static segc_status fold_bias_bn(segc_params *p, const char *conv, const char *bn, float eps, segc_tensor *w,
                                segc_tensor *b) {
    char name[256];
    int64_t k = w->shape[0];
    segc_status st;
    segc_params_name(name, sizeof name, "%s.bias", conv);
    if (segc_params_has(p, name)) {
        st = segc_params_get_copy(p, name, 1, &k, b);
    } else {
        st = segc_tensor_new(&p->store, SEGC_F32, 1, &k, b);
        if (!st) segc_tensor_fill_f32(b, 0.0f);
    }
    if (st || !bn) return st;
    segc_tensor gamma, beta, mean, var;
    if ((st = segc_params_get(p, segc_params_name(name, sizeof name, "%s.weight", bn), 1, &k, &gamma)) ||
        (st = segc_params_get(p, segc_params_name(name, sizeof name, "%s.bias", bn), 1, &k, &beta)) ||
        (st = segc_params_get(p, segc_params_name(name, sizeof name, "%s.running_mean", bn), 1, &k, &mean)) ||
        (st = segc_params_get(p, segc_params_name(name, sizeof name, "%s.running_var", bn), 1, &k, &var)))
        return st;
    return segc_fold_batchnorm(w, b, &gamma, &beta, &mean, &var, eps);
}

segc_status segc_params_conv_bn(segc_params *p, const char *conv, const char *bn, float eps, const int64_t *shape,
                                segc_tensor *w, segc_tensor *b) {
    char name[256];
    segc_status st = segc_params_get_copy(p, segc_params_name(name, sizeof name, "%s.weight", conv), 4, shape, w);
    return st ? st : fold_bias_bn(p, conv, bn, eps, w, b);
}

segc_status segc_params_conv_bn_scale(segc_params *p, const char *conv, const char *bn, float eps,
                                      const int64_t *shape, segc_tensor *w, segc_tensor *scale, segc_tensor *b) {
    char name[256];
    segc_status st = segc_params_get(p, segc_params_name(name, sizeof name, "%s.weight", conv), 4, shape, w);
    if (!st) st = segc_tensor_new_f32(&p->store, scale, 1, w->shape[0], 0, 0, 0);
    if (st) return st;
    segc_tensor_fill_f32(scale, 1.0f);   /* folding into a weight of ones leaves the per-filter factor */
    return fold_bias_bn(p, conv, bn, eps, scale, b);
}
