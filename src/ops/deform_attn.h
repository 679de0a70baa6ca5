/* deform_attn.h - multi-scale deformable attention core (Deformable-DETR's ms_deform_attn_core_pytorch,
   models/ops/functions/ms_deform_attn_func.py; the same op in mmcv and Mask2Former's pixel decoder).
   Dims: B batch, S = sum_l H_l*W_l value tokens, M heads, D head dim, Lq queries, L levels, P points.
   Not here: the value / offset / weight projections and the softmax over L*P (the caller's job). */
#ifndef SEGC_OPS_DEFORM_ATTN_H
#define SEGC_OPS_DEFORM_ATTN_H

#include <stdint.h>

#include "core/tensor.h"

/* out[b,q,m*D+d] = sum_{l,p} attention_weights[b,q,m,l,p] *
                    bilinear(value level l of head m, channel d, at sampling_locations[b,q,m,l,p])
   - value[B,S,M,D]: level l occupies tokens [level_start[l], level_start[l] + H_l*W_l), row-major.
   - spatial_shapes: n_levels pairs (H_l, W_l); level_start: n_levels offsets or NULL (cumulative sum).
   - sampling_locations[B,Lq,M,L,P,2]: (x, y) normalized to [0,1]; the pixel sampled is
     (x*W_l - 0.5, y*H_l - 0.5), bilinear with zeros outside the map, like grid_sample with
     padding_mode='zeros', align_corners=False. Points outside [0,1] are allowed.
   - attention_weights[B,Lq,M,L,P]; out[B,Lq,M*D].
   All tensors contiguous float32; parallel over (B, Lq); no scratch needed. */
segc_status segc_ms_deform_attn(const segc_tensor *value, const int64_t *spatial_shapes, const int64_t *level_start,
                                int n_levels, const segc_tensor *sampling_locations,
                                const segc_tensor *attention_weights, segc_tensor *out);
/* Same, allocating out[B,Lq,M*D] from `arena`. */
segc_status segc_ms_deform_attn_new(segc_arena *arena, const segc_tensor *value, const int64_t *spatial_shapes,
                                    const int64_t *level_start, int n_levels,
                                    const segc_tensor *sampling_locations, const segc_tensor *attention_weights,
                                    segc_tensor *out);
/* Plain loops (one corner at a time, bounds checked per corner), the test oracle. */
segc_status segc_ms_deform_attn_reference(const segc_tensor *value, const int64_t *spatial_shapes,
                                          const int64_t *level_start, int n_levels,
                                          const segc_tensor *sampling_locations,
                                          const segc_tensor *attention_weights, segc_tensor *out);

#endif
