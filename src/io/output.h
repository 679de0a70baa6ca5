/* output.h - what segc writes for people and tools: label maps as 8-bit PNG, colour overlays with the
   dataset palettes (PASCAL VOC, Cityscapes, a generic one), COCO run-length encoding of binary masks
   (the compressed string form pycocotools' mask.encode produces), and JSON string escaping. */
#ifndef SEGC_IO_OUTPUT_H
#define SEGC_IO_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

#include "io/image.h"
#include "segc.h"

typedef enum segc_palette_kind { SEGC_PALETTE_VOC, SEGC_PALETTE_CITYSCAPES, SEGC_PALETTE_GENERIC } segc_palette_kind;

/* Picks the palette for a class count/dataset: 21 classes -> VOC, 19 -> Cityscapes, else generic. */
segc_palette_kind segc_palette_for(int num_classes, const char *dataset);
/* RGB of class `label` in the palette (VOC: the bit-interleaving colormap of the VOC devkit;
   Cityscapes: the 19 train-id colours of cityscapesScripts' labels.py; generic: VOC's map). */
void segc_palette_color(segc_palette_kind kind, int label, uint8_t rgb[3]);

/* Writes labels [h*w] (class indices < 256) as an 8-bit greyscale PNG of the indices themselves. */
segc_status segc_write_label_png(const char *path, const uint8_t *labels, int width, int height);
/* Blends the palette colour of each pixel's label over the image: out = (1-alpha) img + alpha colour.
   Pixels whose label is `skip_label` (e.g. 0 = background for VOC; -1 for none) keep the image. */
segc_status segc_write_overlay_png(const char *path, const segc_image *img, const uint8_t *labels,
                                   segc_palette_kind kind, float alpha, int skip_label);

/* COCO RLE of a binary mask [h*w] stored row-major (nonzero = 1). Counts run in column-major order
   starting with a run of zeros, as pycocotools. `out` receives the compressed ASCII string
   (NUL-terminated; needs at most 6 * (h*w + 1) + 1 bytes, segc_rle_string_bound gives it). Returns
   the number of characters written, or -1 if `size` is too small. Also returns the area if asked. */
int64_t segc_rle_string_bound(int width, int height);
int64_t segc_rle_encode(const uint8_t *mask, int width, int height, char *out, int64_t size, int64_t *area);

/* Writes s as a JSON string literal (quotes and escapes included). */
void segc_json_string(FILE *fp, const char *s);

#endif
