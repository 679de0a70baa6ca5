/* run_instance.h - `segc run` outputs of instance models (Mask R-CNN):
     detections.json  COCO results format, one object per detection: category_id, category_name, score,
                      bbox [x, y, width, height] in pixels, area and segmentation as COCO RLE with the
                      compressed counts string (what pycocotools' mask.encode returns), size [h, w]
     overlay.png      the image with each detection's mask blended in and its box outlined
   Not here: the model call (cmd_run.c). */
#ifndef SEGC_TOOLS_RUN_INSTANCE_H
#define SEGC_TOOLS_RUN_INSTANCE_H

#include "io/image.h"
#include "models/detections.h"
#include "segc.h"

/* Writes every detection; names[label] gives category_name (empty when out of range). */
segc_status run_write_detections_json(const char *path, const segc_detections *d, const char *const *names,
                                      int num_names);
/* Draws the detections whose score >= min_score; masks blended with opacity alpha. */
segc_status run_write_instance_overlay(const char *path, const segc_image *img, const segc_detections *d,
                                       float min_score, float alpha);

#endif
