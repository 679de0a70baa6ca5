/* sam2_preprocess.c - SAM2Transforms (sam2/utils/transforms.py) on an RGB u8 image: ToTensor (x / 255),
   Resize((S, S)) bilinear with antialias (torchvision >= 0.17 default on tensors; aspect ratio not kept,
   no padding), Normalize(mean, std). The output is [1, 3, S, S] float32, S = image_size (1024). */
#include "core/status.h"
#include "models/sam2_internal.h"
#include "ops/resize.h"

segc_status sam2_preprocess(const sam2_model *m, segc_arena *arena, const segc_image *img, segc_tensor *out) {
    if (!img || !img->rgb || img->width < 1 || img->height < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2: empty image");
    const int64_t S = m->cfg.image_size;
    segc_status st = segc_tensor_new_f32(arena, out, 4, 1, 3, S, S);
    if (st != SEGC_OK) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    static const float zero[3] = {0.0f, 0.0f, 0.0f}, one[3] = {1.0f, 1.0f, 1.0f};
    segc_tensor unit;   /* [1, 3, H, W] = pixel / 255 (ToTensor) */
    if ((st = segc_image_normalize(arena, img, zero, one, 0, &unit)) == SEGC_OK) {
        segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
        rp.antialias = 1;
        st = segc_resize(arena, &unit, &rp, out);
    }
    segc_arena_release(arena, mark);
    if (st != SEGC_OK) return st;
    float *x = out->data;
    for (int c = 0; c < 3; c++) {
        const float mean = m->cfg.mean[c], std = m->cfg.std[c];
        float *plane = x + (int64_t)c * S * S;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < S * S; i++) plane[i] = (plane[i] - mean) / std;
    }
    return SEGC_OK;
}
