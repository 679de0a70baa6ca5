/* sam2_video.h - SAM 2 / 2.1 video object tracking as facebookresearch/sam2's SAM2VideoPredictor computes it
   (init_state, add_new_points_or_box, add_new_mask, propagate_in_video forward / reverse, reset_state),
   built by build_sam2_video_predictor (dynamic multimask via stability, binarized masks from clicks in the
   memory encoder, holes up to 8 pixels filled in the low-res masks).
   Usage:
       void *m; segc_sam2_video_load(file, &m);
       segc_sam2_video *s; segc_sam2_video_init_dir(m, "frames/", 1, &s);
       segc_sam2_video_add_prompt(s, ctx, frame, obj_id, points, n, box_or_NULL);
       segc_sam2_video_propagate(s, ctx, -1, -1, 0, on_frame, user);     // on_frame sees every frame
       segc_sam2_video_free_state(s); segc_sam2_video_free(m);
   Frames are read lazily (one decoded frame and its features at a time), so a clip of any length needs
   the memory of one frame plus the memory bank. With `streaming` set, memory of frames that can no longer
   be attended to in the current propagation is dropped (a flat footprint for long clips; exact for one
   propagation pass); without it every output is kept as the official predictor keeps it.
   Not here: removing objects (remove_object), clear_all_prompts_in_frame, fill_hole_area other than 8. */
#ifndef SEGC_MODELS_SAM2_VIDEO_H
#define SEGC_MODELS_SAM2_VIDEO_H

#include <stdint.h>

#include "core/ctx.h"
#include "io/image.h"
#include "io/segc_file.h"
#include "models/sam2.h"

#define SEGC_SAM2_VIDEO_MAX_OBJECTS 64

typedef struct segc_sam2_video segc_sam2_video;   /* an inference state (one clip) */

/* Supplies frame `index` (0-based) as RGB u8; the tracker frees it with segc_image_free. */
typedef segc_status (*segc_sam2_frame_fn)(void *user, int index, segc_image *out);

/* Results of one frame of propagation (valid during the callback only). */
typedef struct segc_sam2_video_frame {
    int frame;                      /* frame index */
    int num_objects;
    const int *obj_ids;             /* client object ids, in the order they were first prompted */
    const float *obj_scores;        /* object_score_logits per object */
    const float *const *low_res;    /* per object: the stored low-res mask logits [256 * 256] */
    int video_h, video_w;
} segc_sam2_video_frame;
typedef segc_status (*segc_sam2_video_cb)(void *user, const segc_sam2_video_frame *f);

segc_status segc_sam2_video_load(const segc_file *f, void **model);
void segc_sam2_video_free(void *model);

/* init_state on a directory of frames: *.jpg / *.jpeg / *.png (any case) named by integers (00000.jpg),
   ordered by that integer; all frames must have the size of the first one (checked when read). */
segc_status segc_sam2_video_init_dir(const void *model, const char *dir, int streaming, segc_sam2_video **state);
/* init_state on frames from a callback (size from frame 0). */
segc_status segc_sam2_video_init_fn(const void *model, int num_frames, segc_sam2_frame_fn fn, void *user,
                                    int streaming, segc_sam2_video **state);
void segc_sam2_video_free_state(segc_sam2_video *state);

int segc_sam2_video_num_frames(const segc_sam2_video *s);
/* File name of frame `index` (directory states) or NULL. */
const char *segc_sam2_video_frame_name(const segc_sam2_video *s, int index);
void segc_sam2_video_size(const segc_sam2_video *s, int *height, int *width);

/* add_new_points_or_box(clear_old_points=True): points in video pixels (label 1 / 0), an optional box
   (x0, y0, x1, y1) placed first as two points labelled 2, 3. New object ids are added. `out_low_res` (may
   be NULL) receives this object's low-res logits [256 * 256]. */
segc_status segc_sam2_video_add_prompt(segc_sam2_video *s, segc_ctx *ctx, int frame, int obj_id,
                                       const segc_sam2_point *points, int num_points, const float *box,
                                       float *out_low_res);
/* add_new_mask: mask u8 [video_h * video_w] (nonzero = object). */
segc_status segc_sam2_video_add_mask(segc_sam2_video *s, segc_ctx *ctx, int frame, int obj_id, const uint8_t *mask,
                                     float *out_low_res);
/* propagate_in_video(start_frame_idx, max_frame_num_to_track, reverse): start -1 = the earliest prompted
   frame, max_frames -1 = all. Calls `cb` once per processed frame in processing order. */
segc_status segc_sam2_video_propagate(segc_sam2_video *s, segc_ctx *ctx, int start, int max_frames, int reverse,
                                      segc_sam2_video_cb cb, void *user);
/* reset_state: forget every prompt, object and result (frames and features stay). */
void segc_sam2_video_reset(segc_sam2_video *s);

/* The video-resolution mask of low-res logits (bilinear, align_corners=False, > 0): mask u8 [H * W]. */
segc_status segc_sam2_video_upscale(const segc_sam2_video *s, segc_arena *arena, const float *low_res, uint8_t *mask);

#endif
