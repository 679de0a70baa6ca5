/* norm.h - normalization layers, float32, inference only: layer norm over the last dim
   (channels-last, nn.LayerNorm), channels-first layer norm over C of [N,C,H,W] (SAM 2's LayerNorm2d),
   group norm (nn.GroupNorm) and unfused batch norm (nn.BatchNorm2d in eval mode).
   Statistics are two-pass (mean, then mean of squared deviations), biased variance as PyTorch,
   accumulated in double. Not here: folding batch norm into a conv (ops/conv.h segc_fold_batchnorm).
   Dims: N batch, C channels, H x W spatial, G groups. */
#ifndef SEGC_OPS_NORM_H
#define SEGC_OPS_NORM_H

#include "core/tensor.h"

/* out[..., C] = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the last dim.
   x and out: contiguous float32 of the same shape (any ndim >= 1); out may be x (in place).
   weight and bias: NULL or float32 [C] (elementwise_affine=False when both are NULL). */
segc_status segc_layer_norm(const segc_tensor *x, const segc_tensor *weight, const segc_tensor *bias, float eps,
                            segc_tensor *out);
segc_status segc_layer_norm_reference(const segc_tensor *x, const segc_tensor *weight, const segc_tensor *bias,
                                      float eps, segc_tensor *out);

/* Channels-first layer norm (sam2/modeling/sam2_utils.py LayerNorm2d): x[N,C,H,W] (or [C,H,W]) is
   normalized over C separately at every pixel; out[n,c,h,w] = xhat * weight[c] + bias[c].
   x and out: contiguous float32, same shape; out may be x. weight and bias: NULL or [C]. */
segc_status segc_layer_norm2d(const segc_tensor *x, const segc_tensor *weight, const segc_tensor *bias, float eps,
                              segc_tensor *out);
segc_status segc_layer_norm2d_reference(const segc_tensor *x, const segc_tensor *weight, const segc_tensor *bias,
                                        float eps, segc_tensor *out);

/* nn.GroupNorm: x[N,C,H,W] (also [N,C] or [N,C,L]: any ndim >= 2, dim 1 is C) is split into `groups`
   groups of C/G consecutive channels; each (n, group) is normalized over its channels and all spatial
   positions, then out = xhat * weight[c] + bias[c]. C must be divisible by groups. weight and bias:
   NULL or [C]. x and out: contiguous float32, same shape; out may be x. */
segc_status segc_group_norm(const segc_tensor *x, int groups, const segc_tensor *weight, const segc_tensor *bias,
                            float eps, segc_tensor *out);
segc_status segc_group_norm_reference(const segc_tensor *x, int groups, const segc_tensor *weight,
                                      const segc_tensor *bias, float eps, segc_tensor *out);

/* Batch norm, inference: out[n,c,...] = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c],
   x[N,C,...] (any ndim >= 2, dim 1 is C). gamma and beta may be NULL (1 and 0); mean and var are [C].
   x and out: contiguous float32, same shape; out may be x. For the rare unfused case: convolutions
   followed by batch norm fold it at load time instead. */
segc_status segc_batch_norm(const segc_tensor *x, const segc_tensor *gamma, const segc_tensor *beta,
                            const segc_tensor *mean, const segc_tensor *var, float eps, segc_tensor *out);
segc_status segc_batch_norm_reference(const segc_tensor *x, const segc_tensor *gamma, const segc_tensor *beta,
                                      const segc_tensor *mean, const segc_tensor *var, float eps, segc_tensor *out);

#endif
