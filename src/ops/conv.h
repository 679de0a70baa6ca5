/* conv.h - 2-D convolution (NCHW, float32): im2col + OpenBLAS sgemm for dense kernels, a plain gemm
   for 1x1 stride-1 unpadded kernels, a direct kernel for depthwise; dilation (atrous), groups and
   strides everywhere; transposed convolution; batch-norm folding into weights at load time.
   Dims: N batch, C in-channels, H x W input; K out-channels, R x S kernel, P x Q output. */
#ifndef SEGC_OPS_CONV_H
#define SEGC_OPS_CONV_H

#include "core/arena.h"
#include "core/tensor.h"
#include "ops/act.h"

typedef struct segc_conv2d_params {
    int stride_h, stride_w;      /* >= 1 */
    int pad_h, pad_w;            /* zero padding on each side (PyTorch `padding`) */
    int dilation_h, dilation_w;  /* >= 1 */
    int groups;                  /* >= 1; C and K divisible by it; groups == C == K is depthwise */
    segc_act act;                /* fused activation applied to the output (after bias) */
} segc_conv2d_params;

/* Params for a square kernel: stride, padding, dilation, groups, no activation. */
segc_conv2d_params segc_conv2d_params_make(int stride, int pad, int dilation, int groups);

/* Output size of one spatial dim: (in + 2 pad - dilation (k - 1) - 1) / stride + 1 (PyTorch). */
int64_t segc_conv2d_out_dim(int64_t in, int k, int stride, int pad, int dilation);

/* out[N,K,P,Q] = act(conv(x[N,C,H,W], w[K,C/groups,R,S]) + bias[K]); bias may be NULL.
   `out` must be allocated with the right shape and be contiguous; `scratch` provides im2col memory
   (released before return). Checks every shape and says which one is wrong. */
segc_status segc_conv2d(segc_arena *scratch, const segc_tensor *x, const segc_tensor *w, const segc_tensor *bias,
                        const segc_conv2d_params *p, segc_tensor *out);
/* out = act(conv(x, w) + bias + residual) in the same pass, what a ResNet block ends with
   (relu(conv3(t) + identity)), without a separate read-add-write pass over the output. Same kernels,
   shapes and rules as segc_conv2d; residual [N, K, P, Q] like out, contiguous, may be out itself except
   for depthwise convs (then it must not overlap out). */
segc_status segc_conv2d_residual(segc_arena *scratch, const segc_tensor *x, const segc_tensor *w,
                                 const segc_tensor *bias, const segc_tensor *residual, const segc_conv2d_params *p,
                                 segc_tensor *out);
/* Same as segc_conv2d, allocating `out` from `arena` (which may be the same arena as the scratch). */
segc_status segc_conv2d_new(segc_arena *arena, const segc_tensor *x, const segc_tensor *w, const segc_tensor *bias,
                            const segc_conv2d_params *p, segc_tensor *out);
/* Seven nested loops, the test oracle. */
segc_status segc_conv2d_reference(const segc_tensor *x, const segc_tensor *w, const segc_tensor *bias,
                                  const segc_conv2d_params *p, segc_tensor *out);

/* Transposed convolution (PyTorch ConvTranspose2d, groups 1, output_padding 0, dilation 1):
   x[N,C,H,W], w[C,K,R,S] (PyTorch's layout), out[N,K,(H-1) stride - 2 pad + R, ...]. */
segc_status segc_conv_transpose2d(segc_arena *scratch, const segc_tensor *x, const segc_tensor *w,
                                  const segc_tensor *bias, int stride, int pad, segc_tensor *out);
segc_status segc_conv_transpose2d_reference(const segc_tensor *x, const segc_tensor *w, const segc_tensor *bias,
                                            int stride, int pad, segc_tensor *out);

/* Folds inference batch norm into the preceding conv, in place:
   w[k,...] *= gamma[k] / sqrt(var[k] + eps);  bias[k] = (bias[k] - mean[k]) * that + beta[k].
   w is [K,...] float32 (writable); bias_out is [K] float32 (writable; pass the conv bias or zeros). */
segc_status segc_fold_batchnorm(segc_tensor *w, segc_tensor *bias_out, const segc_tensor *gamma,
                                const segc_tensor *beta, const segc_tensor *mean, const segc_tensor *var, float eps);

#endif
