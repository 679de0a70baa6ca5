/* detections.h - what an instance-segmentation model returns (Mask R-CNN; OMG-Seg's instance mode):
   boxes, scores, labels and masks of one image, in original-image pixels. */
#ifndef SEGC_MODELS_DETECTIONS_H
#define SEGC_MODELS_DETECTIONS_H

#include <stdint.h>

/* Final detections, all arrays from the forward's arena. Boxes in original-image pixels. */
typedef struct segc_detections {
    int count;
    float *boxes;          /* [count, 4] x1, y1, x2, y2 */
    float *scores;         /* [count], descending */
    int32_t *labels;       /* [count] category ids (index into the model's class list) */
    int mask_size;         /* M (28) */
    float *mask_logits;    /* [count, M, M] logits of each detection's class */
    int width, height;     /* original image size */
    uint8_t *masks;        /* [count, height, width] 0/1 pasted masks, or NULL when not pasted */
} segc_detections;

#endif
