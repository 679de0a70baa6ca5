/* roi_align.h - torchvision.ops.roi_align (torchvision 0.14, csrc/ops/cpu/roi_align_kernel.cpp), forward only.
   Dims: N batch, C channels, H x W feature map, K regions, PH x PW pooled output.
   Not here: MultiScaleRoIAlign's level mapping (the model's job: it calls segc_roi_align_subset once per
   level with the indices of the rois assigned to that level, all writing into one output). */
#ifndef SEGC_OPS_ROI_ALIGN_H
#define SEGC_OPS_ROI_ALIGN_H

#include <stdint.h>

#include "core/arena.h"
#include "core/tensor.h"

typedef struct segc_roi_align_params {
    int pooled_h, pooled_w;  /* output size (PH, PW), >= 1; Mask R-CNN: 7x7 boxes, 14x14 masks */
    float spatial_scale;     /* image coords -> feature coords, e.g. 1/4 for FPN level P2 */
    int sampling_ratio;      /* samples per bin side; <= 0: adaptive ceil(roi_size / bin count) */
    int aligned;             /* 1: shift coords by -0.5 pixel (Detectron2 ROIAlignV2); 0: legacy, rois >= 1 px */
} segc_roi_align_params;

/* out[k,c,ph,pw] = average of bilinear samples of x[batch_k, c] in bin (ph, pw) of roi k, where
   rois[K,5] rows are (batch_index, x1, y1, x2, y2) in image coordinates. Border rules as torchvision:
   a sample with y < -1 or y > H (same for x) contributes 0; coordinates <= 0 clamp to 0; beyond H-1
   clamp to H-1. x may be a strided view with contiguous W; rois and out[K,C,PH,PW] contiguous float32.
   A batch index that is not an integer in [0, N) is an error (SEGC_ERR_INVALID_ARG). Parallel over
   (channel, block of rois); the per-roi sample tables come from `scratch` (released before return; no
   system allocation once the arena is large enough). */
segc_status segc_roi_align(segc_arena *scratch, const segc_tensor *x, const segc_tensor *rois,
                           const segc_roi_align_params *p, segc_tensor *out);
/* Same, allocating out[K,C,PH,PW] (and the scratch) from `arena`. */
segc_status segc_roi_align_new(segc_arena *arena, const segc_tensor *x, const segc_tensor *rois,
                               const segc_roi_align_params *p, segc_tensor *out);
/* Only the rois listed in idx[0..n_idx): for each i, out[idx[i]] = roi_align of rois[idx[i]]; the other rows of
   out are left untouched (MultiScaleRoIAlign: `result[idx_in_level] = roi_align(level feature, rois[idx_in_level])`).
   out is [K,C,PH,PW] for the full rois[K,5]; every idx must be in [0, K). */
segc_status segc_roi_align_subset(segc_arena *scratch, const segc_tensor *x, const segc_tensor *rois,
                                  const int64_t *idx, int64_t n_idx, const segc_roi_align_params *p,
                                  segc_tensor *out);
/* Plain loops straight from torchvision's kernel (no precomputed tables), the test oracle. */
segc_status segc_roi_align_reference(const segc_tensor *x, const segc_tensor *rois, const segc_roi_align_params *p,
                                     segc_tensor *out);

#endif
