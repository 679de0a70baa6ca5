/* elementwise.h - elementwise arithmetic on contiguous float32 tensors: same-shape add/mul, residual
   add with a fused activation (HRNet / ResNet `relu(out + identity)`), per-channel broadcasting over
   [N,C,H,W] (bias or scale vectors [C] or [1,C,1,1]), per-feature broadcasting over the last dim of
   channels-last [..., C] tensors, scale + shift, and axpy (y += a x).
   Every `out` may alias an input (in-place use is the common case). Parallel over large sizes. */
#ifndef SEGC_OPS_ELEMENTWISE_H
#define SEGC_OPS_ELEMENTWISE_H

#include "core/tensor.h"
#include "ops/act.h"

/* out = a + b, all three float32, contiguous, same shape. */
segc_status segc_add(const segc_tensor *a, const segc_tensor *b, segc_tensor *out);
/* out = a * b (elementwise), same rules. */
segc_status segc_mul(const segc_tensor *a, const segc_tensor *b, segc_tensor *out);
/* out = act(a + b), same rules: the residual add + ReLU of ResNet / HRNet blocks. */
segc_status segc_add_act(const segc_tensor *a, const segc_tensor *b, segc_act act, segc_tensor *out);
/* y = act(y + x) in place (y += x when act is SEGC_ACT_NONE). */
segc_status segc_add_inplace(segc_tensor *y, const segc_tensor *x, segc_act act);
/* y += alpha * x (same shape, contiguous float32). */
segc_status segc_axpy(float alpha, const segc_tensor *x, segc_tensor *y);
/* out = x * scale + shift with scalar scale and shift. */
segc_status segc_scale_shift(const segc_tensor *x, float scale, float shift, segc_tensor *out);

/* Channels-first broadcast over x[N,C,H,W] (any ndim >= 2, dim 1 is C; [C,H,W] is not accepted
   because it is ambiguous with [N,C,L]; reshape it to [1,C,H,W]). v is float32 [C] or [1,C,1,1]
   (any shape with numel C whose other dims are 1); scale/shift may be NULL (1 and 0).
   out[n,c,...] = act(x[n,c,...] * scale[c] + shift[c]). */
segc_status segc_channel_affine(const segc_tensor *x, const segc_tensor *scale, const segc_tensor *shift,
                                segc_act act, segc_tensor *out);
/* out[n,c,...] = x[n,c,...] + bias[c]. */
segc_status segc_add_channel(const segc_tensor *x, const segc_tensor *bias, segc_tensor *out);
/* out[n,c,...] = x[n,c,...] * scale[c]. */
segc_status segc_mul_channel(const segc_tensor *x, const segc_tensor *scale, segc_tensor *out);

/* Channels-last broadcast over x[..., C] (any ndim >= 1): v is float32 with numel C (e.g. [C] or
   [1,1,C]); out[..., c] = x[..., c] + v[c] / x[..., c] * v[c] (a LayerScale gamma). */
segc_status segc_add_lastdim(const segc_tensor *x, const segc_tensor *v, segc_tensor *out);
segc_status segc_mul_lastdim(const segc_tensor *x, const segc_tensor *v, segc_tensor *out);

/* Test oracle: out = act(a op b) where b is broadcast NumPy-style to a's shape (b's dims align to the
   right of a's, each 1 or equal; op '+' or '*'); plain index arithmetic, no fast paths. */
segc_status segc_binary_reference(char op, const segc_tensor *a, const segc_tensor *b, segc_act act,
                                  segc_tensor *out);

#endif
