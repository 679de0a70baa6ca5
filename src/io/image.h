/* image.h - images in and out: decode any format stb_image reads into 8-bit RGB, write PNGs, and turn
   RGB pixels into a normalized float tensor as the models' preprocessing expects. */
#ifndef SEGC_IO_IMAGE_H
#define SEGC_IO_IMAGE_H

#include <stdint.h>

#include "core/arena.h"
#include "core/tensor.h"
#include "segc.h"

/* Largest accepted side and pixel count (a 10000x10000 request is refused before decoding). */
#define SEGC_IMAGE_MAX_SIDE 16384
#define SEGC_IMAGE_MAX_PIXELS ((int64_t)64 << 20)

typedef struct segc_image {
    int width, height;
    uint8_t *rgb;        /* height x width x 3, row-major; owned (malloc), freed by segc_image_free */
} segc_image;

/* Decodes PNG/JPEG/BMP/... to RGB (grey and alpha are converted; EXIF orientation is not applied,
   as PIL's Image.open does not apply it either). Corrupt or oversized files: SEGC_ERR_FORMAT. */
segc_status segc_image_load(const char *path, segc_image *out);
/* Takes a copy of caller pixels (RGB u8, w x h). */
segc_status segc_image_from_rgb(const uint8_t *rgb, int width, int height, segc_image *out);
void segc_image_free(segc_image *img);

/* Writes an 8-bit PNG with 1 (grey/labels), 3 (RGB) or 4 (RGBA) channels. */
segc_status segc_png_write(const char *path, int width, int height, int channels, const uint8_t *pixels);

/* out[1,3,H,W] = (pixel / 255 - mean[c]) / std[c], allocated from `arena`; channel c of the output
   takes image channel c (RGB) or 2 - c when `bgr` is set. Computed in float32 like torchvision's
   ToTensor + Normalize. */
segc_status segc_image_normalize(segc_arena *arena, const segc_image *img, const float mean[3], const float std[3],
                                 int bgr, segc_tensor *out);

#endif
