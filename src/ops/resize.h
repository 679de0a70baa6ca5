/* resize.h - F.interpolate on float32 [N,C,H,W] maps, exactly as PyTorch 1.13's CPU kernels:
   nearest, nearest-exact, bilinear (align_corners both ways, optional antialias = torchvision's Resize on
   tensors, i.e. _upsample_bilinear2d_aa) and bicubic (A = -0.75, taps clamped at the border).
   Dims: N batch, C channels, H x W input, Ho x Wo output.
   Strides: x and out may be strided views (e.g. `out` a channel slice of a concat buffer) as long as
   their last dim (W) is contiguous; parallel over N*C planes (and blocks of output rows when there are
   few planes); the result does not depend on the thread count.
   Not here: area mode (adaptive_avg_pool2d lives in ops/pool.h), 3-D / 5-D inputs, bicubic antialias. */
#ifndef SEGC_OPS_RESIZE_H
#define SEGC_OPS_RESIZE_H

#include <stdint.h>

#include "core/arena.h"
#include "core/tensor.h"

typedef enum segc_resize_mode {
    SEGC_RESIZE_NEAREST = 0,        /* mode='nearest': src = min(floor(dst * scale), in - 1) (float scale;
                                       out == 2 in takes dst / 2 and out == in copies, as PyTorch 1.13) */
    SEGC_RESIZE_NEAREST_EXACT = 1,  /* mode='nearest-exact': src = min(floor((dst + 0.5) * scale), in - 1) */
    SEGC_RESIZE_BILINEAR = 2,       /* mode='bilinear' */
    SEGC_RESIZE_BICUBIC = 3         /* mode='bicubic' */
} segc_resize_mode;

typedef struct segc_resize_params {
    segc_resize_mode mode;
    int align_corners;      /* bilinear / bicubic: PyTorch's align_corners (ignored by the nearest modes) */
    int antialias;          /* bilinear only: PyTorch's antialias=True (differs from plain only when downscaling) */
    double scale_h, scale_w; /* the scale_factor given to F.interpolate (recompute_scale_factor unset/False):
                                the kernel then maps coordinates with 1/scale, as PyTorch does. 0 = called
                                with `size` (or recompute_scale_factor=True): coordinates use in/out. */
} segc_resize_params;

/* Params for a call by size: F.interpolate(x, size=..., mode=..., align_corners=...). */
segc_resize_params segc_resize_params_make(segc_resize_mode mode, int align_corners);

/* Output size of one dim for F.interpolate(scale_factor=s): floor(in * s) (in double, as PyTorch).
   Returns -1 if s is not finite and > 0 or the result would not fit an int64. */
int64_t segc_resize_out_dim(int64_t in, double scale_factor);

/* out[N,C,Ho,Wo] = interpolate(x[N,C,H,W]); the output size is the shape of `out` (allocated by the
   caller, W contiguous, not overlapping x). Index / weight tables per axis and per-thread row buffers
   (about threads x H x Wo floats) come from `scratch` (released before return).
   Fails with SEGC_ERR_SHAPE / SEGC_ERR_INVALID_ARG on 0 sizes, wrong dims, N/C mismatch, bad params. */
segc_status segc_resize(segc_arena *scratch, const segc_tensor *x, const segc_resize_params *p, segc_tensor *out);
/* Same, allocating a contiguous out[N,C,out_h,out_w] from `arena` (also used for scratch). */
segc_status segc_resize_new(segc_arena *arena, const segc_tensor *x, const segc_resize_params *p, int64_t out_h,
                            int64_t out_w, segc_tensor *out);
/* F.interpolate(x, scale_factor=(sh, sw)) in one call: out is [N,C,floor(H sh),floor(W sw)] from `arena`
   and the params' scale_h/scale_w are set to (sh, sw) (so coordinates use 1/scale like PyTorch).
   For recompute_scale_factor=True (torchvision's GeneralizedRCNNTransform) call segc_resize_new with
   segc_resize_out_dim(H, sh) x segc_resize_out_dim(W, sw) and scale_h = scale_w = 0 instead. */
segc_status segc_resize_scale_new(segc_arena *arena, const segc_tensor *x, segc_resize_mode mode, int align_corners,
                                  double scale_h, double scale_w, segc_tensor *out);
/* out += interpolate(x): the same resize accumulated into an existing map (HRNet's fuse layers,
   FPN's top-down sum). Same rules as segc_resize; out must not overlap x. */
segc_status segc_resize_add(segc_arena *scratch, const segc_tensor *x, const segc_resize_params *p, segc_tensor *out);
/* Plain loops straight from the formulas (taps recomputed per output pixel, sums in double), the test
   oracle. Same arguments and stride rules as segc_resize. */
segc_status segc_resize_reference(const segc_tensor *x, const segc_resize_params *p, segc_tensor *out);

#endif
