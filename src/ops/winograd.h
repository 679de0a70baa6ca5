/* winograd.h - 3x3, stride-1, padding-1 convolution by Winograd's minimal filtering F(4x4, 3x3)
   (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): each 4x4 output tile
   costs 36 multiplies per (in, out) channel pair instead of 144.
   The map is cut into blocks of tiles; each thread takes whole blocks and runs, for its block, the
   input transform (B^T d B of the 6x6 patches), 36 small matrix products [K, C] x [C, tiles] in our own
   register-blocked kernel against filters packed once at prepare time, and the output transform
   (A^T m A) with bias, residual and activation, so the transformed data stays in the core's cache and a
   conv is one parallel region.
   The same result as segc_conv2d with stride 1, padding 1, dilation 1, groups 1, up to float32 rounding
   (error ~1e-5 of max|out| for 256-channel sums, about 10x that of im2col + sgemm). Used where 3x3
   convs over many channels dominate (HRNet's branches, Mask R-CNN's FPN, RPN and mask head).
   Not here: other kernel sizes, strides, dilations or groups.
   Dims: N batch, C in-channels, K out-channels, H x W map, T tiles (N * ceil(H/4) * ceil(W/4)). */
#ifndef SEGC_OPS_WINOGRAD_H
#define SEGC_OPS_WINOGRAD_H

#include "core/arena.h"
#include "core/tensor.h"
#include "ops/act.h"

#define SEGC_WINOGRAD_TILE 4    /* output tile side */
#define SEGC_WINOGRAD_ALPHA 6   /* input tile side: tile + 3 - 1 */
#define SEGC_WINOGRAD_MR 6      /* output channels per kernel panel (u is padded to a multiple) */

/* Transformed filters U = G g G^T, packed for the kernel: [36][ceil(K / MR)][C][MR] (the rows past K
   are zero). Owned, malloc'd by prepare. */
typedef struct segc_winograd_weights {
    float *u;
    int64_t k, c;
} segc_winograd_weights;

/* Transforms w [K, C, 3, 3] (float32, contiguous) into u; free with segc_winograd_weights_free. */
segc_status segc_winograd_prepare(const segc_tensor *w, segc_winograd_weights *u);
/* Same with filter k scaled by scale[k] (a batch norm folded on the way; scale NULL: 1). */
segc_status segc_winograd_prepare_scaled(const segc_tensor *w, const float *scale, segc_winograd_weights *u);
void segc_winograd_weights_free(segc_winograd_weights *u);

/* out[N, K, H, W] = act(conv3x3(x[N, C, H, W], pad 1) + bias[K]); bias may be NULL. out must be
   allocated, contiguous and not overlap x; x contiguous. Per-thread transform buffers come from
   `scratch` (released before return). */
segc_status segc_winograd_conv3x3(segc_arena *scratch, const segc_tensor *x, const segc_winograd_weights *u,
                                  const segc_tensor *bias, segc_act act, segc_tensor *out);
/* Same plus a residual: out = act(conv3x3(x) + bias + residual), residual [N, K, H, W] contiguous
   (NULL: none; it may be `out` itself, read before each element is written). */
segc_status segc_winograd_conv3x3_ex(segc_arena *scratch, const segc_tensor *x, const segc_winograd_weights *u,
                                     const segc_tensor *bias, const segc_tensor *residual, segc_act act,
                                     segc_tensor *out);
/* Same as segc_winograd_conv3x3, allocating out from `arena`. */
segc_status segc_winograd_conv3x3_new(segc_arena *arena, const segc_tensor *x, const segc_winograd_weights *u,
                                      const segc_tensor *bias, segc_act act, segc_tensor *out);

#endif
