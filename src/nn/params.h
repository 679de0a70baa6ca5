/* params.h - model weights as float32 tensors, taken from an open .segc file by name.
   Float32 tensors are served in place from the read-only mapping; f16/bf16 tensors are widened into
   memory owned by the segc_params (so a model can be built from any stored dtype). Batch norm is
   folded into the preceding convolution here, at load time, into owned memory as well.
   Every look-up checks the shape and fails with the tensor's name and both shapes. */
#ifndef SEGC_NN_PARAMS_H
#define SEGC_NN_PARAMS_H

#include "core/arena.h"
#include "core/tensor.h"
#include "io/segc_file.h"

typedef struct segc_params {
    const segc_file *file;
    segc_arena store;      /* owns widened and folded weights; freed by segc_params_free */
} segc_params;

void segc_params_init(segc_params *p, const segc_file *file);
void segc_params_free(segc_params *p);

/* True if a tensor of this name is stored. */
int segc_params_has(const segc_params *p, const char *name);

/* Float32 view of tensor `name`. `shape` may be NULL to accept any shape with `ndim` dims
   (ndim 0: any rank). The view is read-only when served from the mapping: do not write to it. */
segc_status segc_params_get(segc_params *p, const char *name, int ndim, const int64_t *shape, segc_tensor *out);

/* A writable float32 copy in owned memory (for weights a model transforms at load time). */
segc_status segc_params_get_copy(segc_params *p, const char *name, int ndim, const int64_t *shape,
                                 segc_tensor *out);

/* Conv weight with inference batch norm folded in:
   w = `conv`.weight [K, C/groups, R, S] (bias `conv`.bias if stored, else zeros), BN from
   `bn`.weight/.bias/.running_mean/.running_var with eps; returns writable w and b [K].
   Pass bn = NULL for a plain conv (bias zero-filled if absent). `shape` of the weight may be NULL. */
segc_status segc_params_conv_bn(segc_params *p, const char *conv, const char *bn, float eps, const int64_t *shape,
                                segc_tensor *w, segc_tensor *b);
/* The same fold without copying the weight, for loaders that transform it anyway (Winograd): *w is the
   stored weight (read-only when mapped), *scale [K] the factor for filter k (1 with bn = NULL), b the
   folded bias; scale[k] * w[k] and b equal segc_params_conv_bn's w[k] and b up to rounding of the product. */
segc_status segc_params_conv_bn_scale(segc_params *p, const char *conv, const char *bn, float eps,
                                      const int64_t *shape, segc_tensor *w, segc_tensor *scale, segc_tensor *b);

/* Names are often built from a module path: segc_params_name(buf, "%s.conv%d", prefix, i). */
const char *segc_params_name(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
