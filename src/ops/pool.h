/* pool.h - 2-D pooling over float32 NCHW tensors, with PyTorch's output-size rules:
   max pool and average pool (kernel, stride, padding, ceil_mode, count_include_pad; dilation 1),
   adaptive average pool (nn.AdaptiveAvgPool2d) and global average pool (its 1x1 fast path).
   Inputs and outputs may be strided views (e.g. a permuted NHWC tensor seen as NCHW, as Hiera's
   q_pool does) unless a function says otherwise. Dims: N, C, H x W in, P x Q out. */
#ifndef SEGC_OPS_POOL_H
#define SEGC_OPS_POOL_H

#include "core/arena.h"
#include "core/tensor.h"

typedef struct segc_pool2d_params {
    int kernel_h, kernel_w;   /* >= 1 */
    int stride_h, stride_w;   /* >= 1 (PyTorch's default stride is the kernel size) */
    int pad_h, pad_w;         /* implicit padding on each side, <= kernel / 2 as PyTorch requires */
    int ceil_mode;            /* output size rounds up; the last window must start inside input + left pad */
    int count_include_pad;    /* avg pool only: divide by the full window incl. padding (PyTorch default 1) */
} segc_pool2d_params;

/* Square kernel; stride <= 0 means stride = kernel; ceil_mode 0, count_include_pad 1. */
segc_pool2d_params segc_pool2d_params_make(int kernel, int stride, int pad);

/* PyTorch pooling_output_shape: (in + 2 pad - k + (ceil ? stride - 1 : 0)) / stride + 1, minus one
   when ceil_mode makes the last window start at or beyond in + pad. Returns <= 0 if no output fits. */
int64_t segc_pool2d_out_dim(int64_t in, int k, int stride, int pad, int ceil_mode);

/* out[N,C,P,Q] = max over each window of x[N,C,H,W] (padding never wins; a NaN propagates).
   x may also be 3-D [C,H,W] with out [C,P,Q]. out must have the exact output shape. */
segc_status segc_max_pool2d(const segc_tensor *x, const segc_pool2d_params *p, segc_tensor *out);
/* Same, allocating a contiguous out from the arena. */
segc_status segc_max_pool2d_new(segc_arena *arena, const segc_tensor *x, const segc_pool2d_params *p,
                                segc_tensor *out);
segc_status segc_max_pool2d_reference(const segc_tensor *x, const segc_pool2d_params *p, segc_tensor *out);

/* out = mean over each window. The divisor is, as PyTorch: the window clipped to input + padding
   when count_include_pad, else the window clipped to the input. */
segc_status segc_avg_pool2d(const segc_tensor *x, const segc_pool2d_params *p, segc_tensor *out);
segc_status segc_avg_pool2d_new(segc_arena *arena, const segc_tensor *x, const segc_pool2d_params *p,
                                segc_tensor *out);
segc_status segc_avg_pool2d_reference(const segc_tensor *x, const segc_pool2d_params *p, segc_tensor *out);

/* nn.AdaptiveAvgPool2d((P, Q)) with P, Q taken from out's shape: out[.., i, j] is the mean of rows
   [floor(i H / P), ceil((i + 1) H / P)) and columns likewise. x [N,C,H,W] or [C,H,W]. */
segc_status segc_adaptive_avg_pool2d(const segc_tensor *x, segc_tensor *out);
segc_status segc_adaptive_avg_pool2d_new(segc_arena *arena, const segc_tensor *x, int64_t out_h, int64_t out_w,
                                         segc_tensor *out);
segc_status segc_adaptive_avg_pool2d_reference(const segc_tensor *x, segc_tensor *out);

/* out[N,C,1,1] = mean of x[N,C,H,W] over H x W (AdaptiveAvgPool2d(1), DeepLab's ASPP image pooling);
   out may also be [N,C]. Accumulates in double. */
segc_status segc_global_avg_pool(const segc_tensor *x, segc_tensor *out);
segc_status segc_global_avg_pool_new(segc_arena *arena, const segc_tensor *x, segc_tensor *out);

#endif
