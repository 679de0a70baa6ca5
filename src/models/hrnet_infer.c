/* hrnet_infer.c - HRNet's flip / multi-scale test-time inference, as the authors' test code runs it
   (HRNet-Semantic-Segmentation pytorch-v1.1: lib/core/function.py testval -> the dataset's
   multi_scale_inference -> BaseDataset.inference per window). See segc_hrnet_semantic_ex in hrnet.h.
   The network itself is segc_hrnet_forward (hrnet.c); this file only resizes, crops, pads, mirrors and
   accumulates. Dims: K classes, H x W the image, h x w the image at one scale, wh x ww one window.
   Not here: LIP's flip (it also swaps the left/right part channels); batch > 1. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "models/hrnet.h"
#include "models/hrnet_stage.h"
#include "ops/resize.h"

#define MAX_SIDE 32768   /* sanity bound on a resized image side */

void segc_hrnet_inference_settings_default(const void *model, segc_hrnet_inference_settings *s) {
    segc_hrnet_io io;
    segc_hrnet_get_io(model, &io);
    memset(s, 0, sizeof *s);
    s->count = 1;
    s->scales[0] = 1.0;
    if (!strcmp(io.dataset, "cityscapes")) {
        /* experiments/cityscapes yamls: TEST.BASE_SIZE 2048, TEST.IMAGE_SIZE [2048, 1024] (w, h) */
        s->base_size = 2048, s->crop_h = 1024, s->crop_w = 2048;
        s->window = SEGC_HRNET_WINDOW_CITYSCAPES;
    } else if (!strcmp(io.dataset, "pascal_context") || !strcmp(io.dataset, "pascal_ctx")) {
        /* experiments/pascal_ctx yamls: TEST.BASE_SIZE 520, TEST.IMAGE_SIZE [480, 480] */
        s->base_size = 520, s->crop_h = 480, s->crop_w = 480;
        s->window = SEGC_HRNET_WINDOW_BASE;
    }
}

static segc_status check_settings(const segc_hrnet_inference_settings *s) {
    if (s->count < 1 || s->count > SEGC_HRNET_MAX_SCALES)
        return segc_fail(SEGC_ERR_INVALID_ARG, "hrnet: %d scales (1 to %d)", s->count, SEGC_HRNET_MAX_SCALES);
    for (int i = 0; i < s->count; i++)
        if (!(s->scales[i] > 0.0 && s->scales[i] <= 16.0))
            return segc_fail(SEGC_ERR_INVALID_ARG, "hrnet: scale %g is not in (0, 16]", s->scales[i]);
    if (s->base_size < 0 || s->base_size > MAX_SIDE || s->crop_h < 0 || s->crop_w < 0 || s->crop_h > MAX_SIDE ||
        s->crop_w > MAX_SIDE || (s->crop_h == 0) != (s->crop_w == 0))
        return segc_fail(SEGC_ERR_INVALID_ARG, "hrnet: base size %d, crop %dx%d are not usable", s->base_size,
                         s->crop_h, s->crop_w);
    if (s->window != SEGC_HRNET_WINDOW_CITYSCAPES && s->window != SEGC_HRNET_WINDOW_BASE)
        return segc_fail(SEGC_ERR_INVALID_ARG, "hrnet: unknown window method %d", (int)s->window);
    return SEGC_OK;
}

/* BaseDataset.image_resize: the long side becomes int(base * scale + 0.5), the other
   int(side * long / long_side + 0.5) (Python float arithmetic). */
static segc_status scaled_size(int64_t h, int64_t w, int base, double scale, int64_t *nh, int64_t *nw) {
    int64_t long_size = (int64_t)((double)base * scale + 0.5);
    if (h > w) *nh = long_size, *nw = (int64_t)((double)w * (double)long_size / (double)h + 0.5);
    else *nw = long_size, *nh = (int64_t)((double)h * (double)long_size / (double)w + 0.5);
    if (*nh < 1 || *nw < 1 || *nh > MAX_SIDE || *nw > MAX_SIDE)
        return segc_fail(SEGC_ERR_INVALID_ARG, "hrnet: scale %g of a %lldx%lld image gives %lldx%lld", scale,
                         (long long)w, (long long)h, (long long)*nw, (long long)*nh);
    return SEGC_OK;
}

/* out [1, 3, wh, ww] (contiguous) = pad value everywhere, then x's [h0:h0+rh, w0:w0+rw] at the top left:
   a crop of the normalized image, padded (cv2.copyMakeBorder, bottom/right) as pad_image does. */
static segc_status crop_pad(const segc_tensor *x, int64_t h0, int64_t rh, int64_t w0, int64_t rw, const float *pad,
                            segc_tensor *out) {
    for (int c = 0; c < 3; c++) {
        segc_tensor plane;
        segc_tensor_narrow(out, 1, c, 1, &plane);
        segc_tensor_fill_f32(&plane, pad[c]);
    }
    segc_tensor src, dst;
    segc_status st = segc_tensor_narrow(x, 2, h0, rh, &src);
    if (!st) st = segc_tensor_narrow(&src, 3, w0, rw, &src);
    if (!st) st = segc_tensor_narrow(out, 2, 0, rh, &dst);
    if (!st) st = segc_tensor_narrow(&dst, 3, 0, rw, &dst);
    if (!st) st = segc_tensor_copy(&dst, &src);
    return st;
}

/* out [1, C, h, w] = x mirrored along W (x[..., ::-1]); both contiguous. */
static void mirror_w(const segc_tensor *x, segc_tensor *out) {
    int64_t rows = x->shape[0] * x->shape[1] * x->shape[2], w = x->shape[3];
    const float *src = x->data;
    float *dst = out->data;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < w; i++) dst[r * w + i] = src[r * w + w - 1 - i];
}

/* scores = exp(scores) or, with `mirrored`, exp((scores + mirrored[..., ::-1]) * 0.5): the end of
   BaseDataset.inference (pred += flip_pred; pred = pred * 0.5; pred.exp()). Both [1, K, h, w]. */
static void finish_scores(segc_tensor *scores, const segc_tensor *mirrored) {
    int64_t rows = scores->shape[0] * scores->shape[1] * scores->shape[2], w = scores->shape[3];
    float *p = scores->data;
    const float *m = mirrored ? mirrored->data : NULL;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float *row = p + r * w;
        if (m)
            for (int64_t i = 0; i < w; i++) row[i] = (row[i] + m[r * w + w - 1 - i]) * 0.5f;
        for (int64_t i = 0; i < w; i++) row[i] = expf(row[i]);
    }
}

/* BaseDataset.inference on one window: x [1, 3, wh, ww] -> out [1, K, wh, ww] (preallocated, contiguous)
   = exp(up(net(x))), or with flip the exp of the mean with the mirrored up(net(mirrored x)). */
static segc_status window_scores(const void *model, segc_ctx *ctx, const segc_hrnet_io *io, const segc_tensor *x,
                                 int flip, segc_tensor *out) {
    segc_arena *arena = ctx->arena;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    const segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, io->align_corners);
    segc_tensor q, xf, up;
    segc_status st = segc_hrnet_forward(model, ctx, x, &q);
    if (!st) st = segc_resize(arena, &q, &rp, out);
    if (!st && flip) {
        segc_arena_release(arena, mark);
        st = segc_tensor_new_f32(arena, &xf, 4, 1, 3, x->shape[2], x->shape[3]);
        if (!st) mirror_w(x, &xf);
        if (!st) st = segc_hrnet_forward(model, ctx, &xf, &q);
        if (!st) st = segc_tensor_new_f32(arena, &up, 4, 1, io->num_classes, x->shape[2], x->shape[3]);
        if (!st) st = segc_resize(arena, &q, &rp, &up);
    }
    if (!st) finish_scores(out, flip ? &up : NULL);
    segc_arena_release(arena, mark);
    return st;
}

/* The window grid of one scale: rows x cols windows of at most crop size over an h x w image. */
typedef struct window_grid {
    int64_t rows, cols, stride_h, stride_w, crop_h, crop_w, h, w;
    int cityscapes;   /* last windows aligned to the image end (cityscapes.py), else padded (base_dataset.py) */
} window_grid;

/* np.int(np.ceil(1.0 * (size - crop) / stride)) + 1 */
static int64_t grid_count(int64_t size, int64_t crop, int64_t stride) {
    return (int64_t)ceil((double)(size - crop) / (double)stride) + 1;
}

/* Window (r, c): image rows [*h0, *h1) and columns [*w0, *w1), as the loops of multi_scale_inference. */
static void grid_window(const window_grid *g, int64_t r, int64_t c, int64_t *h0, int64_t *h1, int64_t *w0,
                        int64_t *w1) {
    *h0 = r * g->stride_h, *w0 = c * g->stride_w;
    *h1 = *h0 + g->crop_h < g->h ? *h0 + g->crop_h : g->h;
    *w1 = *w0 + g->crop_w < g->w ? *w0 + g->crop_w : g->w;
    if (g->cityscapes) {
        *h0 = *h1 - g->crop_h > 0 ? *h1 - g->crop_h : 0;
        *w0 = *w1 - g->crop_w > 0 ? *w1 - g->crop_w : 0;
    }
}

/* Sliding windows over x [1, 3, h, w] (already padded to the crop size when base_dataset.py pads):
   preds [1, K, h, w] = per-pixel mean of the window scores covering it. Counts come from 1-D row and
   column counts (the windows form a grid); `count` in the authors' code is their product. */
static segc_status slide(const void *model, segc_ctx *ctx, const segc_hrnet_io *io, const window_grid *g,
                         const float *pad, int flip, const segc_tensor *x, segc_tensor *preds) {
    segc_arena *arena = ctx->arena;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    float *row_count = segc_arena_alloc_array(arena, (size_t)(g->h + g->w), sizeof(float));
    if (!row_count) return segc_fail(SEGC_ERR_NOMEM, "hrnet: window counts");
    float *col_count = row_count + g->h;
    memset(row_count, 0, sizeof(float) * (size_t)(g->h + g->w));
    segc_tensor_fill_f32(preds, 0.0f);
    segc_status st = SEGC_OK;
    for (int64_t r = 0; r < g->rows && !st; r++)
        for (int64_t c = 0; c < g->cols && !st; c++) {
            int64_t h0, h1, w0, w1;
            grid_window(g, r, c, &h0, &h1, &w0, &w1);
            /* base_dataset.py pads border windows to the crop size; cityscapes.py never pads */
            int64_t wh = g->cityscapes || h1 - h0 >= g->crop_h ? h1 - h0 : g->crop_h;
            int64_t ww = g->cityscapes || w1 - w0 >= g->crop_w ? w1 - w0 : g->crop_w;
            segc_arena_mark wmark = segc_arena_get_mark(arena);
            segc_tensor xw, sw, part;
            st = segc_tensor_new_f32(arena, &xw, 4, 1, 3, wh, ww);
            if (!st) st = crop_pad(x, h0, h1 - h0, w0, w1 - w0, pad, &xw);
            if (!st) st = segc_tensor_new_f32(arena, &sw, 4, 1, io->num_classes, wh, ww);
            if (!st) st = window_scores(model, ctx, io, &xw, flip, &sw);
            /* preds[:, :, h0:h1, w0:w1] += pred[:, :, 0:h1-h0, 0:w1-w0] */
            if (!st) st = segc_tensor_narrow(preds, 2, h0, h1 - h0, &part);
            if (!st) st = segc_tensor_narrow(&part, 3, w0, w1 - w0, &part);
            for (int64_t k = 0; k < io->num_classes && !st; k++)
                for (int64_t i = 0; i < h1 - h0; i++) {
                    float *d = segc_at4(&part, 0, k, i, 0);
                    const float *s = (const float *)sw.data + (k * wh + i) * ww;
                    for (int64_t j = 0; j < w1 - w0; j++) d[j] += s[j];
                }
            if (r == 0)
                for (int64_t j = w0; j < w1; j++) col_count[j] += 1.0f;
            if (c == 0)
                for (int64_t i = h0; i < h1; i++) row_count[i] += 1.0f;
            segc_arena_release(arena, wmark);
        }
    /* preds = preds / count */
    if (!st) {
        int64_t planes = io->num_classes * g->h;
        float *p = preds->data;
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < planes; r++) {
            float rc = row_count[r % g->h];
            for (int64_t j = 0; j < g->w; j++) p[r * g->w + j] /= rc * col_count[j];
        }
    }
    segc_arena_release(arena, mark);
    return st;
}

/* One scale of multi_scale_inference: x0 [1, 3, H, W] normalized image -> final += up(preds). */
static segc_status one_scale(const void *model, segc_ctx *ctx, const segc_hrnet_io *io,
                             const segc_hrnet_inference_settings *s, double scale, const segc_tensor *x0,
                             segc_tensor *final) {
    segc_arena *arena = ctx->arena;
    int64_t H = x0->shape[2], W = x0->shape[3], h, w;
    int base = s->base_size ? s->base_size : (int)(H > W ? H : W);
    segc_status st = scaled_size(H, W, base, scale, &h, &w);
    if (st) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    float pad[3];   /* padvalue = -mean / std: black after input_transform */
    for (int c = 0; c < 3; c++) pad[c] = (float)(-(double)io->mean[c] / (double)io->std[c]);
    /* multi_scale_aug -> image_resize: cv2.resize INTER_LINEAR of the normalized image */
    segc_tensor x = *x0;
    if (h != H || w != W) {
        const segc_resize_params cv = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
        st = segc_resize_new(arena, x0, &cv, h, w, &x);
    }
    int cityscapes = s->window == SEGC_HRNET_WINDOW_CITYSCAPES, cropping = s->crop_h > 0;
    int whole = !cropping || (cityscapes ? scale <= 1.0 : (h > w ? h : w) <= (s->crop_h < s->crop_w ? s->crop_h : s->crop_w));
    /* base_dataset.py pads the image to (at least) the crop size both when it runs it whole and before
       sliding windows over it */
    int64_t ph = h, pw = w;
    if (cropping && !cityscapes) ph = h > s->crop_h ? h : s->crop_h, pw = w > s->crop_w ? w : s->crop_w;
    segc_tensor xp = x, preds, view;
    if (!st && (ph != h || pw != w)) {
        st = segc_tensor_new_f32(arena, &xp, 4, 1, 3, ph, pw);
        if (!st) st = crop_pad(&x, 0, h, 0, w, pad, &xp);
    }
    if (!st) st = segc_tensor_new_f32(arena, &preds, 4, 1, io->num_classes, ph, pw);
    if (!st && whole) st = window_scores(model, ctx, io, &xp, s->flip, &preds);
    if (!st && !whole) {
        window_grid g = {.crop_h = s->crop_h, .crop_w = s->crop_w, .h = ph, .w = pw, .cityscapes = cityscapes};
        /* cityscapes.py: stride = crop size; base_dataset.py: np.int(crop * 2.0 / 3.0) */
        g.stride_h = cityscapes ? s->crop_h : (int64_t)(s->crop_h * 2.0 / 3.0);
        g.stride_w = cityscapes ? s->crop_w : (int64_t)(s->crop_w * 2.0 / 3.0);
        if (g.stride_h < 1 || g.stride_w < 1)
            st = segc_fail(SEGC_ERR_INVALID_ARG, "hrnet: crop %dx%d is too small", s->crop_w, s->crop_h);
        g.rows = st ? 0 : grid_count(ph, g.crop_h, g.stride_h);
        g.cols = st ? 0 : grid_count(pw, g.crop_w, g.stride_w);
        if (!st) st = slide(model, ctx, io, &g, pad, s->flip, &xp, &preds);
    }
    /* preds[:, :, :height, :width], upsampled to the image size and summed into final_pred */
    if (!st) st = segc_tensor_narrow(&preds, 2, 0, h, &view);
    if (!st) st = segc_tensor_narrow(&view, 3, 0, w, &view);
    if (!st) {
        const segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, io->align_corners);
        st = segc_resize_add(arena, &view, &rp, final);
    }
    segc_arena_release(arena, mark);
    return st;
}

segc_status segc_hrnet_semantic_ex(const void *model, segc_ctx *ctx, const segc_image *img,
                                   const segc_hrnet_inference_settings *s, segc_tensor *scores) {
    if (!img || !img->rgb || img->width < 1 || img->height < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "hrnet: empty image");
    if (!s) return segc_fail(SEGC_ERR_INVALID_ARG, "hrnet: no inference settings");
    segc_status st = check_settings(s);
    if (st) return st;
    segc_hrnet_io io;
    segc_hrnet_get_io(model, &io);
    st = segc_tensor_new_f32(ctx->arena, scores, 4, 1, io.num_classes, img->height, img->width);
    if (st) return st;
    segc_tensor_fill_f32(scores, 0.0f);
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    /* the network's own taps would repeat once per window and scale: the inner passes offer none */
    segc_ctx inner = *ctx;
    inner.tap = NULL;
    inner.profile = NULL;
    segc_tensor x;
    st = segc_image_normalize(ctx->arena, img, io.mean, io.std, 0, &x);
    for (int i = 0; i < s->count && !st; i++) st = one_scale(model, &inner, &io, s, s->scales[i], &x, scores);
    segc_arena_release(ctx->arena, mark);
    if (!st) st = segc_tap(ctx, "scores", scores);
    return st;
}
