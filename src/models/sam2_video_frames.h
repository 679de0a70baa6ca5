/* sam2_video_frames.h - frame listing and preprocessing of the SAM 2 video predictor (sam2_video_frames.c). */
#ifndef SEGC_MODELS_SAM2_VIDEO_FRAMES_H
#define SEGC_MODELS_SAM2_VIDEO_FRAMES_H

#include "models/sam2_internal.h"

/* PIL Image.resize((ow, oh)) with the default BICUBIC filter on RGB u8 src [h, w, 3] -> dst [oh, ow, 3]
   (Pillow 9's fixed-point two-pass resampler, bit-exact). Scratch from `arena`. */
segc_status sam2v_pil_resize_bicubic(segc_arena *arena, const uint8_t *src, int w, int h, int ow, int oh,
                                     uint8_t *dst);
/* A frame -> [1, 3, S, S] float32: PIL bicubic resize to S x S, / 255, (x - mean) / std. */
segc_status sam2v_frame_preprocess(const sam2_model *m, segc_arena *arena, const segc_image *img, segc_tensor *out);
/* Integer-named *.jpg / *.jpeg / *.png files of `dir`, ordered by number: *names (malloc'd strings in a
   malloc'd array, caller frees both), *count >= 1. */
segc_status sam2v_list_frames(const char *dir, char ***names, int *count);

#endif
