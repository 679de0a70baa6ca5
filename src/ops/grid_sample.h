/* grid_sample.h - F.grid_sample for 4-D inputs, exactly as PyTorch 1.13 (aten/src/ATen/native/GridSampler.cpp):
   modes bilinear and nearest, padding zeros and border (reflection too), align_corners both ways.
   Dims: N batch, C channels, H x W input, Ho x Wo sampling grid.
   Not here: bicubic mode, 5-D (volumetric) inputs. */
#ifndef SEGC_OPS_GRID_SAMPLE_H
#define SEGC_OPS_GRID_SAMPLE_H

#include "core/arena.h"
#include "core/tensor.h"

typedef enum segc_grid_mode {
    SEGC_GRID_BILINEAR = 0,
    SEGC_GRID_NEAREST = 1      /* rounds half to even, like PyTorch's std::nearbyint */
} segc_grid_mode;

typedef enum segc_grid_padding {
    SEGC_GRID_PAD_ZEROS = 0,
    SEGC_GRID_PAD_BORDER = 1,
    SEGC_GRID_PAD_REFLECTION = 2
} segc_grid_padding;

/* out[n,c,i,j] = sample x[n,c] at grid[n,i,j] = (x, y), both normalized to [-1, 1]:
   align_corners=1: -1/+1 are the centers of the corner pixels; 0: the outer edges of the corner pixels.
   Points outside [-1, 1] (or NaN) follow the padding mode. x may be a strided view with contiguous W;
   grid[N,Ho,Wo,2] and out[N,C,Ho,Wo] contiguous float32. Parallel over (n, output row). */
segc_status segc_grid_sample(const segc_tensor *x, const segc_tensor *grid, segc_grid_mode mode,
                             segc_grid_padding padding, int align_corners, segc_tensor *out);
/* Same, allocating out[N,C,Ho,Wo] from `arena`. */
segc_status segc_grid_sample_new(segc_arena *arena, const segc_tensor *x, const segc_tensor *grid, segc_grid_mode mode,
                                 segc_grid_padding padding, int align_corners, segc_tensor *out);
/* Plain loops, one output element at a time, the test oracle. */
segc_status segc_grid_sample_reference(const segc_tensor *x, const segc_tensor *grid, segc_grid_mode mode,
                                       segc_grid_padding padding, int align_corners, segc_tensor *out);

#endif
