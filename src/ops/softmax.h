/* softmax.h - numerically stable softmax (max subtracted first) over the last dim of a contiguous
   tensor or over the channels of [N,C,H,W], and the per-pixel argmax that turns semantic logits
   into a label map. float32 only. */
#ifndef SEGC_OPS_SOFTMAX_H
#define SEGC_OPS_SOFTMAX_H

#include <stddef.h>

#include "core/tensor.h"

/* y[i] = e^x[i] for n floats (y may be x): a Cephes-style polynomial the compiler vectorizes, within
   2 ulp of expf for x in [-86, 88.72]; below -86 it gives 0 (the true value is < 5e-38), above it +inf,
   NaN stays NaN. Softmax and the activations (sigmoid, SiLU, GELU) are built on it. */
void segc_exp_array(const float *x, float *y, size_t n);

/* out[..., j] = exp(x[..., j] - max) / sum_k exp(x[..., k] - max) over the last dim.
   x and out: contiguous float32 of the same shape (ndim >= 1); out may be x. Rows that are all
   -inf give NaN, as PyTorch. Parallel over rows. */
segc_status segc_softmax(const segc_tensor *x, segc_tensor *out);
/* The same, in place. */
segc_status segc_softmax_inplace(segc_tensor *x);
/* Raw form: `rows` contiguous rows of `n` floats each, in place. */
void segc_softmax_rows(float *x, int64_t rows, int64_t n);
/* Plain loop in double, the test oracle (same arguments as segc_softmax). */
segc_status segc_softmax_reference(const segc_tensor *x, segc_tensor *out);

/* Softmax over C of x[N,C,H,W] (or [C,H,W]) at each pixel (F.softmax(x, dim=1)).
   x and out: contiguous float32 of the same shape; out may be x. */
segc_status segc_softmax_channels(const segc_tensor *x, segc_tensor *out);
segc_status segc_softmax_channels_reference(const segc_tensor *x, segc_tensor *out);

/* labels[h,w] = argmax_k logits[k,h,w] (torch.argmax(dim=1): ties go to the first maximum, a NaN
   counts as the maximum). logits: contiguous float32 [1,K,H,W] or [K,H,W]. labels: preallocated
   [H,W], SEGC_U8 (then K <= 256, else SEGC_ERR_UNSUPPORTED) or SEGC_I32; rows may be strided but
   the last dim must be contiguous. */
segc_status segc_argmax_channels(const segc_tensor *logits, segc_tensor *labels);
segc_status segc_argmax_channels_reference(const segc_tensor *logits, segc_tensor *labels);

#endif
