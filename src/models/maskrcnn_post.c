/* maskrcnn_post.c - Mask R-CNN's box arithmetic and mask pasting, as torchvision computes them:
   BoxCoder.decode_single (models/detection/_utils.py) and
   paste_masks_in_image with expand_masks / expand_boxes (models/detection/roi_heads.py).
   Not here: NMS (ops/nms.h) and the heads themselves. */
#include <math.h>
#include <string.h>

#include "core/status.h"
#include "models/maskrcnn_internal.h"
#include "ops/resize.h"

/* log(1000 / 16): BoxCoder's bbox_xform_clip, so exp() of a huge delta cannot overflow. */
#define BBOX_XFORM_CLIP 4.135166556742356f

/* Decodes deltas [n,4] against reference boxes [n,4] (all float32, as torchvision on float tensors). */
void maskrcnn_decode_boxes(const float *deltas, const float *ref, int64_t n, const float weights[4], float *out) {
    for (int64_t i = 0; i < n; i++) {
        const float *r = ref + 4 * i, *d = deltas + 4 * i;
        float width = r[2] - r[0], height = r[3] - r[1];
        float ctr_x = r[0] + 0.5f * width, ctr_y = r[1] + 0.5f * height;
        float dx = d[0] / weights[0], dy = d[1] / weights[1];
        float dw = fminf(d[2] / weights[2], BBOX_XFORM_CLIP), dh = fminf(d[3] / weights[3], BBOX_XFORM_CLIP);
        float pcx = dx * width + ctr_x, pcy = dy * height + ctr_y;
        float pw = expf(dw) * width, ph = expf(dh) * height;
        float half_w = 0.5f * pw, half_h = 0.5f * ph;
        float *o = out + 4 * i;
        o[0] = pcx - half_w;
        o[1] = pcy - half_h;
        o[2] = pcx + half_w;
        o[3] = pcy + half_h;
    }
}

/* expand_boxes(box, scale) then .to(int64): the box grown around its centre, truncated toward zero. */
static void expand_box(const float *box, float scale, int64_t out[4]) {
    float w_half = (box[2] - box[0]) * 0.5f * scale;
    float h_half = (box[3] - box[1]) * 0.5f * scale;
    float x_c = (box[2] + box[0]) * 0.5f, y_c = (box[3] + box[1]) * 0.5f;
    float e[4] = {x_c - w_half, y_c - h_half, x_c + w_half, y_c + h_half};
    for (int j = 0; j < 4; j++) {
        float v = e[j];
        if (!(v > -1e15f && v < 1e15f)) v = v > 0 ? 1e15f : -1e15f;   /* NaN/inf: far outside, pastes nothing */
        out[j] = (int64_t)v;
    }
}

/* Pastes one mask: prob [M, M] -> dst [H, W] (0/1), torchvision's paste_mask_in_image on the mask padded
   by one pixel of zeros (so the bilinear resize fades out at the box border). */
static segc_status paste_one(segc_arena *arena, const float *prob, int m, const float *box, int im_h, int im_w,
                             float thresh, uint8_t *dst) {
    memset(dst, 0, (size_t)im_h * (size_t)im_w);
    int mp = m + 2;
    float scale = (float)((double)mp / (double)m);
    int64_t b[4];
    expand_box(box, scale, b);
    int64_t w = b[2] - b[0] + 1, h = b[3] - b[1] + 1;
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    int64_t x0 = b[0] > 0 ? b[0] : 0, x1 = b[2] + 1 < im_w ? b[2] + 1 : im_w;
    int64_t y0 = b[1] > 0 ? b[1] : 0, y1 = b[3] + 1 < im_h ? b[3] + 1 : im_h;
    if (x1 <= x0 || y1 <= y0) return SEGC_OK;
    /* Only rows/cols [y0-b1, y1-b1) x [x0-b0, x1-b0) of the resized mask are used; they lie inside [h, w]. */
    if (h > 4 * (int64_t)im_h + 64 || w > 4 * (int64_t)im_w + 64)
        return segc_fail(SEGC_ERR_INVALID_ARG, "mask box %lldx%lld is absurdly larger than the image",
                         (long long)w, (long long)h);

    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor padded, resized;
    segc_status st = segc_tensor_new_f32(arena, &padded, 4, 1, 1, mp, mp);
    if (st) return st;
    float *pd = padded.data;
    memset(pd, 0, sizeof(float) * (size_t)mp * (size_t)mp);
    for (int y = 0; y < m; y++) memcpy(pd + (size_t)(y + 1) * mp + 1, prob + (size_t)y * m, sizeof(float) * (size_t)m);
    segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    st = segc_resize_new(arena, &padded, &rp, h, w, &resized);
    if (st) {
        segc_arena_release(arena, mark);
        return st;
    }
    const float *rs = resized.data;
    for (int64_t y = y0; y < y1; y++) {
        const float *src = rs + (size_t)(y - b[1]) * (size_t)w + (size_t)(x0 - b[0]);
        uint8_t *row = dst + (size_t)y * (size_t)im_w;
        for (int64_t x = x0; x < x1; x++) row[x] = src[x - x0] > thresh;
    }
    segc_arena_release(arena, mark);
    return SEGC_OK;
}

segc_status maskrcnn_paste_masks(segc_arena *arena, const float *mask_prob, int64_t count, int mask_size,
                                 const float *boxes, int height, int width, float thresh, uint8_t *masks) {
    for (int64_t i = 0; i < count; i++) {
        segc_status st = paste_one(arena, mask_prob + (size_t)i * mask_size * mask_size, mask_size, boxes + 4 * i,
                                   height, width, thresh, masks + (size_t)i * (size_t)height * (size_t)width);
        if (st) return st;
    }
    return SEGC_OK;
}
