/* image.c - stb_image decoding with size limits, PNG writing, normalization (see image.h). */
#include "io/image.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#define STBI_MAX_DIMENSIONS SEGC_IMAGE_MAX_SIDE
#include <stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

/* Width and height from a PNG's IHDR chunk (bytes 16..23, big-endian); 1 if fp holds a PNG header. */
static int png_header_size(FILE *fp, int *w, int *h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t b[24];
    if (fseek(fp, 0, SEEK_SET) != 0 || fread(b, 1, sizeof b, fp) != sizeof b) return 0;
    if (memcmp(b, sig, 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0) return 0;
    uint32_t pw = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    uint32_t ph = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    *w = pw > INT32_MAX ? INT32_MAX : (int)pw;
    *h = ph > INT32_MAX ? INT32_MAX : (int)ph;
    return 1;
}

segc_status segc_image_load(const char *path, segc_image *out) {
    memset(out, 0, sizeof *out);
    int w, h, comp;
    FILE *fp = fopen(path, "rb");
    if (!fp) return segc_fail(SEGC_ERR_IO, "%s: cannot open image", path);
    if (!stbi_info_from_file(fp, &w, &h, &comp)) {
        /* stb refuses huge images in their header already and then says only "unknown type": read a
           PNG's IHDR size ourselves so the message says what is wrong */
        int pw = 0, ph = 0;
        int is_png = png_header_size(fp, &pw, &ph);
        fclose(fp);
        if (is_png && (pw > SEGC_IMAGE_MAX_SIDE || ph > SEGC_IMAGE_MAX_SIDE || (int64_t)pw * ph > SEGC_IMAGE_MAX_PIXELS))
            return segc_fail(SEGC_ERR_FORMAT, "%s: image of %dx%d is outside the supported size (1..%d per side, %lld pixels)",
                             path, pw, ph, SEGC_IMAGE_MAX_SIDE, (long long)SEGC_IMAGE_MAX_PIXELS);
        return segc_fail(SEGC_ERR_FORMAT, "%s: not a readable image (%s)", path, stbi_failure_reason());
    }
    if (w < 1 || h < 1 || w > SEGC_IMAGE_MAX_SIDE || h > SEGC_IMAGE_MAX_SIDE ||
        (int64_t)w * h > SEGC_IMAGE_MAX_PIXELS) {
        fclose(fp);
        return segc_fail(SEGC_ERR_FORMAT, "%s: image of %dx%d is outside the supported size (1..%d per side, %lld pixels)",
                         path, w, h, SEGC_IMAGE_MAX_SIDE, (long long)SEGC_IMAGE_MAX_PIXELS);
    }
    uint8_t *px = stbi_load_from_file(fp, &w, &h, &comp, 3);
    fclose(fp);
    if (!px) return segc_fail(SEGC_ERR_FORMAT, "%s: cannot decode image (%s)", path, stbi_failure_reason());
    /* hand out memory from malloc so the caller frees with free(), whatever stb's allocator is */
    size_t n = (size_t)w * (size_t)h * 3;
    out->rgb = malloc(n);
    if (!out->rgb) {
        stbi_image_free(px);
        return segc_fail(SEGC_ERR_NOMEM, "%s: %dx%d image", path, w, h);
    }
    memcpy(out->rgb, px, n);
    stbi_image_free(px);
    out->width = w;
    out->height = h;
    return SEGC_OK;
}

segc_status segc_image_from_rgb(const uint8_t *rgb, int width, int height, segc_image *out) {
    memset(out, 0, sizeof *out);
    if (width < 1 || height < 1 || width > SEGC_IMAGE_MAX_SIDE || height > SEGC_IMAGE_MAX_SIDE)
        return segc_fail(SEGC_ERR_INVALID_ARG, "image of %dx%d is outside the supported size", width, height);
    size_t n = (size_t)width * (size_t)height * 3;
    out->rgb = malloc(n);
    if (!out->rgb) return segc_fail(SEGC_ERR_NOMEM, "image of %dx%d", width, height);
    memcpy(out->rgb, rgb, n);
    out->width = width;
    out->height = height;
    return SEGC_OK;
}

void segc_image_free(segc_image *img) {
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

segc_status segc_png_write(const char *path, int width, int height, int channels, const uint8_t *pixels) {
    if (channels != 1 && channels != 3 && channels != 4)
        return segc_fail(SEGC_ERR_INVALID_ARG, "png: %d channels", channels);
    if (!stbi_write_png(path, width, height, channels, pixels, width * channels))
        return segc_fail(SEGC_ERR_IO, "%s: cannot write PNG", path);
    return SEGC_OK;
}

segc_status segc_image_normalize(segc_arena *arena, const segc_image *img, const float mean[3], const float std[3],
                                 int bgr, segc_tensor *out) {
    int64_t shape[4] = {1, 3, img->height, img->width};
    segc_status st = segc_tensor_new(arena, SEGC_F32, 4, shape, out);
    if (st) return st;
    int64_t hw = (int64_t)img->height * img->width;
    float *dst = out->data;
    for (int c = 0; c < 3; c++) {
        int src_c = bgr ? 2 - c : c;
        float m = mean[c], s = std[c];
        float *plane = dst + c * hw;
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < hw; i++) plane[i] = ((float)img->rgb[i * 3 + src_c] / 255.0f - m) / s;
    }
    return SEGC_OK;
}
