/* conv_residual.h - 2-D convolution with a residual added before the activation, in the same pass:
   out = act(conv(x, w) + bias + residual), what a ResNet block ends with (relu(conv3(t) + identity)), without
   the separate read-add-write pass over the output. Same kernels, shapes and rules as segc_conv2d
   (ops/conv.h); the residual is [N, K, P, Q] like out, contiguous, and may be out itself except for
   depthwise convs (then it must not overlap out). It lives beside conv.h rather than in it while conv.h
   stays frozen. Dims: N batch, K out-channels, P x Q output. */
#ifndef SEGC_OPS_CONV_RESIDUAL_H
#define SEGC_OPS_CONV_RESIDUAL_H

#include "ops/conv.h"

segc_status segc_conv2d_residual(segc_arena *scratch, const segc_tensor *x, const segc_tensor *w,
                                 const segc_tensor *bias, const segc_tensor *residual, const segc_conv2d_params *p,
                                 segc_tensor *out);

#endif
