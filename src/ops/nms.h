/* nms.h - non-maximum suppression and box helpers with torchvision.ops semantics (boxes.py /
   csrc/ops/cpu/nms_kernel.cpp). Boxes are float32 [N,4] as (x1, y1, x2, y2), contiguous.
   Area is (x2 - x1) * (y2 - y1) (no +1); a box is suppressed when its IoU with a kept box is
   strictly greater than the threshold.
   Order: boxes are visited by decreasing score with a stable sort, so equal scores keep their input
   order (lower index first). torchvision's CPU kernel calls scores.sort(0, descending=True), which is
   NOT stable in torch 1.13 beyond ~16 elements (std::sort), so when boxes with exactly equal scores
   overlap each other torchvision's choice among them is arbitrary; ours is the lowest index. With
   distinct scores (or <= 16 boxes) the results are identical. A NaN score counts as
   the largest (torch.sort). The threshold is a double because torchvision compares the float IoU with
   a double (`ovr > iou_threshold`); IoUs are computed in float with torchvision's exact operations. */
#ifndef SEGC_OPS_NMS_H
#define SEGC_OPS_NMS_H

#include <stdint.h>

#include "core/arena.h"
#include "core/tensor.h"

/* torchvision.ops.nms: keep[0..*count) receives the indices of the kept boxes, by decreasing score.
   keep must hold N entries. Scratch (order, areas, suppressed flags) comes from `scratch` and is
   released before return. scores: float32 [N]. */
segc_status segc_nms(segc_arena *scratch, const segc_tensor *boxes, const segc_tensor *scores, double iou_threshold,
                     int64_t *keep, int64_t *count);
/* Same result with the plain O(N^2) loop and a simple stable sort, the test oracle. */
segc_status segc_nms_reference(segc_arena *scratch, const segc_tensor *boxes, const segc_tensor *scores,
                               double iou_threshold, int64_t *keep, int64_t *count);

/* torchvision.ops.batched_nms: NMS within each class (class_ids[N], any int values), boxes of
   different classes never suppress each other. keep[0..*count) is sorted by decreasing score
   (stable: equal scores keep input order). The IoUs are computed per class on the original
   coordinates, i.e. what torchvision's coordinate-offset trick computes up to the float rounding of
   its offset boxes (same kept set unless an IoU lies within ~1e-6 of the threshold). */
segc_status segc_batched_nms(segc_arena *scratch, const segc_tensor *boxes, const segc_tensor *scores,
                             const int32_t *class_ids, double iou_threshold, int64_t *keep, int64_t *count);
segc_status segc_batched_nms_reference(segc_arena *scratch, const segc_tensor *boxes, const segc_tensor *scores,
                                       const int32_t *class_ids, double iou_threshold, int64_t *keep,
                                       int64_t *count);

/* torchvision.ops.remove_small_boxes: keep[0..*count) = indices (ascending) of the boxes with
   width >= min_size and height >= min_size. keep must hold N entries. */
segc_status segc_remove_small_boxes(const segc_tensor *boxes, float min_size, int64_t *keep, int64_t *count);

/* torchvision.ops.clip_boxes_to_image, in place: x clamped to [0, width], y to [0, height]. */
segc_status segc_clip_boxes_to_image(segc_tensor *boxes, int64_t height, int64_t width);

/* IoU of two boxes (x1, y1, x2, y2), 0 when the union is empty. */
float segc_box_iou(const float *a, const float *b);

#endif
