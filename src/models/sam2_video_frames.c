/* sam2_video_frames.c - frames as the SAM 2 video predictor loads them (sam2/utils/misc.py
   load_video_frames_from_jpg_images / _load_img_as_tensor): the frame directory listing (integer-named
   images, ordered by that integer), PIL's Image.resize((S, S)) with its default BICUBIC filter on the
   8-bit RGB image (Pillow's two-pass fixed-point resampler, horizontal pass first, reproduced exactly),
   then / 255 in double stored as float32 and (x - mean) / std in float32.
   This differs from the image predictor (torchvision bilinear antialias on float, sam2_preprocess.c). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "models/sam2_video_internal.h"
#include "models/sam2_video_frames.h"

#define PIL_PRECISION_BITS (32 - 8 - 2)
#define PIL_BICUBIC_A (-0.5)

/* Pillow's bicubic_filter (Resample.c), a = -0.5, support 2. */
static double bicubic(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((PIL_BICUBIC_A + 2.0) * x - (PIL_BICUBIC_A + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * PIL_BICUBIC_A;
    return 0.0;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for in_size -> out_size over the whole image:
   bounds[2 * out] = (first, count), kk[out * ksize] fixed-point coefficients. Returns ksize. */
static int pil_coeffs(int in_size, int out_size, int *bounds, int *kk, int max_ksize) {
    const double scale = (double)in_size / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = 2.0 * filterscale;
    const int ksize = (int)ceil(support) * 2 + 1;
    if (ksize > max_ksize) return -1;
    double k[64];
    for (int xx = 0; xx < out_size; xx++) {
        const double center = (xx + 0.5) * scale, ss = 1.0 / filterscale;
        double ww = 0.0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            const double w = bicubic((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
            kk[xx * ksize + x] = v < 0 ? (int)(-0.5 + v * (1 << PIL_PRECISION_BITS))
                                       : (int)(0.5 + v * (1 << PIL_PRECISION_BITS));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    return ksize;
}

static uint8_t clip8(int64_t v) {
    if (v >= ((int64_t)1 << PIL_PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PIL_PRECISION_BITS);
}

segc_status sam2v_pil_resize_bicubic(segc_arena *arena, const uint8_t *src, int w, int h, int ow, int oh,
                                     uint8_t *dst) {
    if (w < 1 || h < 1 || ow < 1 || oh < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "pil resize: empty image");
    if ((double)w / ow > 12.0 || (double)h / oh > 12.0)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "pil resize: downscaling by more than 12x (%dx%d -> %dx%d)", w, h,
                         ow, oh);
    const int max_k = 64;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    int *bh = segc_arena_alloc_array(arena, (size_t)ow * 2, sizeof(int));
    int *kh = segc_arena_alloc_array(arena, (size_t)ow * max_k, sizeof(int));
    int *bv = segc_arena_alloc_array(arena, (size_t)oh * 2, sizeof(int));
    int *kv = segc_arena_alloc_array(arena, (size_t)oh * max_k, sizeof(int));
    if (!bh || !kh || !bv || !kv) {
        segc_arena_release(arena, mark);
        return segc_fail(SEGC_ERR_NOMEM, "pil resize: out of memory");
    }
    const int ksh = pil_coeffs(w, ow, bh, kh, max_k), ksv = pil_coeffs(h, oh, bv, kv, max_k);
    const int need_h = ow != w, need_v = oh != h;
    /* horizontal pass over the rows the vertical pass reads: [first, last) */
    const int first = bv[0], last = bv[2 * (oh - 1)] + bv[2 * (oh - 1) + 1];
    const int rows = need_h ? (need_v ? last - first : h) : 0;
    uint8_t *tmp = need_h ? segc_arena_alloc_array(arena, (size_t)rows * ow * 3, 1) : NULL;
    if (need_h && !tmp) {
        segc_arena_release(arena, mark);
        return segc_fail(SEGC_ERR_NOMEM, "pil resize: out of memory");
    }
    const int off = need_v ? first : 0;
    if (need_h) {
#pragma omp parallel for schedule(static)
        for (int y = 0; y < rows; y++) {
            const uint8_t *row = src + (size_t)(y + off) * w * 3;
            for (int xx = 0; xx < ow; xx++) {
                const int xmin = bh[2 * xx], n = bh[2 * xx + 1];
                const int *k = kh + xx * ksh;
                int64_t s0 = 1 << (PIL_PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < n; x++) {
                    const uint8_t *p = row + (x + xmin) * 3;
                    s0 += p[0] * (int64_t)k[x];
                    s1 += p[1] * (int64_t)k[x];
                    s2 += p[2] * (int64_t)k[x];
                }
                uint8_t *o = (need_v ? tmp : dst) + ((size_t)y * ow + xx) * 3;
                o[0] = clip8(s0);
                o[1] = clip8(s1);
                o[2] = clip8(s2);
            }
        }
    }
    if (need_v) {
        const uint8_t *in = need_h ? tmp : src;
        const int shift = need_h ? first : 0;
#pragma omp parallel for schedule(static)
        for (int yy = 0; yy < oh; yy++) {
            const int ymin = bv[2 * yy] - shift, n = bv[2 * yy + 1];
            const int *k = kv + yy * ksv;
            for (int x = 0; x < ow; x++) {
                int64_t s0 = 1 << (PIL_PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int y = 0; y < n; y++) {
                    const uint8_t *p = in + ((size_t)(y + ymin) * ow + x) * 3;
                    s0 += p[0] * (int64_t)k[y];
                    s1 += p[1] * (int64_t)k[y];
                    s2 += p[2] * (int64_t)k[y];
                }
                uint8_t *o = dst + ((size_t)yy * ow + x) * 3;
                o[0] = clip8(s0);
                o[1] = clip8(s1);
                o[2] = clip8(s2);
            }
        }
    } else if (!need_h) {
        memcpy(dst, src, (size_t)w * h * 3);
    }
    segc_arena_release(arena, mark);
    return SEGC_OK;
}

segc_status sam2v_frame_preprocess(const sam2_model *m, segc_arena *arena, const segc_image *img, segc_tensor *out) {
    if (!img || !img->rgb || img->width < 1 || img->height < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: empty frame");
    const int S = m->cfg.image_size;
    segc_status st = segc_tensor_new_f32(arena, out, 4, 1, 3, S, S);
    if (st != SEGC_OK) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    uint8_t *rs = segc_arena_alloc_array(arena, (size_t)S * S * 3, 1);
    if (!rs) return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    if ((st = sam2v_pil_resize_bicubic(arena, img->rgb, img->width, img->height, S, S, rs)) == SEGC_OK) {
        float *x = out->data;
        float lut[3][256];
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++) lut[c][v] = ((float)(v / 255.0) - m->cfg.mean[c]) / m->cfg.std[c];
        const int64_t n = (int64_t)S * S;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) x[c * n + i] = lut[c][rs[i * 3 + c]];
    }
    segc_arena_release(arena, mark);
    return st;
}

/* An integer file stem ("00012.jpg" -> 12) of a frame image, or -1 when the name is not one. */
static long frame_number(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return -1;
    char ext[8];
    size_t el = strlen(dot + 1);
    if (el == 0 || el >= sizeof ext) return -1;
    for (size_t i = 0; i < el; i++) ext[i] = (char)tolower((unsigned char)dot[1 + i]);
    ext[el] = '\0';
    if (strcmp(ext, "jpg") && strcmp(ext, "jpeg") && strcmp(ext, "png")) return -1;
    long v = 0;
    for (const char *p = name; p < dot; p++) {
        if (!isdigit((unsigned char)*p) || v > 100000000L) return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

typedef struct frame_entry {
    long number;
    char *name;
} frame_entry;

static int cmp_entry(const void *a, const void *b) {
    const frame_entry *x = a, *y = b;
    return x->number < y->number ? -1 : x->number > y->number;
}

segc_status sam2v_list_frames(const char *dir, char ***names_out, int *count) {
    *names_out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return segc_fail(SEGC_ERR_IO, "sam2 video: cannot open frame directory %s: %s", dir, strerror(errno));
    frame_entry *e = NULL;
    int n = 0, cap = 0;
    segc_status st = SEGC_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const long num = frame_number(de->d_name);
        if (num < 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            frame_entry *ne = realloc(e, (size_t)cap * sizeof *e);
            if (!ne) {
                st = segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
                break;
            }
            e = ne;
        }
        e[n].number = num;
        e[n].name = strdup(de->d_name);
        if (!e[n].name) {
            st = segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (st == SEGC_OK && n == 0)
        st = segc_fail(SEGC_ERR_NOT_FOUND, "sam2 video: no frames (integer-named .jpg/.jpeg/.png) in %s", dir);
    if (st == SEGC_OK) {
        qsort(e, (size_t)n, sizeof *e, cmp_entry);
        for (int i = 1; i < n && st == SEGC_OK; i++)
            if (e[i].number == e[i - 1].number)
                st = segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: frames %s and %s have the same number", e[i - 1].name,
                               e[i].name);
    }
    char **names = st == SEGC_OK ? malloc((size_t)n * sizeof *names) : NULL;
    if (st == SEGC_OK && !names) st = segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    for (int i = 0; i < n; i++) {
        if (st == SEGC_OK) names[i] = e[i].name;
        else free(e[i].name);
    }
    free(e);
    if (st != SEGC_OK) return st;
    *names_out = names;
    *count = n;
    return SEGC_OK;
}
