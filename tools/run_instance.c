/* run_instance.c - what `segc run` writes for instance models (see run_instance.h). */
#include "run_instance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/output.h"

/* One detection as a COCO results entry. `rle` is scratch of segc_rle_string_bound bytes. */
static void write_detection(FILE *fp, const segc_detections *d, int i, const char *name, char *rle, int64_t rle_size,
                            int first) {
    const float *b = d->boxes + 4 * i;
    fprintf(fp, "%s\n  {\"category_id\": %d, \"category_name\": ", first ? "" : ",", d->labels[i]);
    segc_json_string(fp, name ? name : "");
    fprintf(fp, ", \"score\": %.6g, \"bbox\": [%.3f, %.3f, %.3f, %.3f]", d->scores[i], b[0], b[1], b[2] - b[0],
            b[3] - b[1]);
    if (d->masks) {
        int64_t area = 0;
        const uint8_t *m = d->masks + (size_t)i * (size_t)d->width * (size_t)d->height;
        segc_rle_encode(m, d->width, d->height, rle, rle_size, &area);
        fprintf(fp, ", \"area\": %lld, \"segmentation\": {\"size\": [%d, %d], \"counts\": ", (long long)area,
                d->height, d->width);
        segc_json_string(fp, rle);
        fputc('}', fp);
    }
    fputc('}', fp);
}

segc_status run_write_detections_json(const char *path, const segc_detections *d, const char *const *names,
                                      int num_names) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return segc_fail(SEGC_ERR_IO, "cannot write %s", path);
    int64_t rle_size = segc_rle_string_bound(d->width, d->height);
    char *rle = d->masks ? malloc((size_t)rle_size) : NULL;
    if (d->masks && !rle) {
        fclose(fp);
        return segc_fail(SEGC_ERR_NOMEM, "out of memory for the RLE of a %dx%d mask", d->width, d->height);
    }
    fputc('[', fp);
    for (int i = 0; i < d->count; i++) {
        int label = d->labels[i];
        write_detection(fp, d, i, label >= 0 && label < num_names ? names[label] : NULL, rle, rle_size, i == 0);
    }
    fputs(d->count ? "\n]\n" : "]\n", fp);
    free(rle);
    int bad = ferror(fp);
    if (fclose(fp) != 0 || bad) return segc_fail(SEGC_ERR_IO, "error writing %s", path);
    return SEGC_OK;
}

/* Draws a 2-pixel rectangle outline of colour rgb into the RGB image buffer. */
static void draw_box(uint8_t *px, int w, int h, const float *box, const uint8_t rgb[3]) {
    int x0 = (int)fmaxf(0, floorf(box[0])), y0 = (int)fmaxf(0, floorf(box[1]));
    int x1 = (int)fminf((float)(w - 1), floorf(box[2])), y1 = (int)fminf((float)(h - 1), floorf(box[3]));
    if (x1 < x0 || y1 < y0) return;
    for (int t = 0; t < 2; t++) {
        for (int x = x0; x <= x1; x++) {
            if (y0 + t <= y1) memcpy(px + ((size_t)(y0 + t) * w + x) * 3, rgb, 3);
            if (y1 - t >= y0) memcpy(px + ((size_t)(y1 - t) * w + x) * 3, rgb, 3);
        }
        for (int y = y0; y <= y1; y++) {
            if (x0 + t <= x1) memcpy(px + ((size_t)y * w + x0 + t) * 3, rgb, 3);
            if (x1 - t >= x0) memcpy(px + ((size_t)y * w + x1 - t) * 3, rgb, 3);
        }
    }
}

segc_status run_write_instance_overlay(const char *path, const segc_image *img, const segc_detections *d,
                                       float min_score, float alpha) {
    size_t n = (size_t)img->width * (size_t)img->height;
    uint8_t *px = malloc(n * 3);
    if (!px) return segc_fail(SEGC_ERR_NOMEM, "out of memory for a %dx%d overlay", img->width, img->height);
    memcpy(px, img->rgb, n * 3);
    /* lowest score first, so the best detections end up on top */
    for (int i = d->count - 1; i >= 0; i--) {
        if (d->scores[i] < min_score) continue;
        uint8_t rgb[3];
        segc_palette_color(SEGC_PALETTE_GENERIC, 1 + i % 20, rgb);
        if (d->masks) {
            const uint8_t *m = d->masks + (size_t)i * n;
            for (size_t p = 0; p < n; p++)
                if (m[p])
                    for (int c = 0; c < 3; c++) px[p * 3 + c] = (uint8_t)lrintf((1 - alpha) * px[p * 3 + c] + alpha * rgb[c]);
        }
        draw_box(px, img->width, img->height, d->boxes + 4 * i, rgb);
    }
    segc_status st = segc_png_write(path, img->width, img->height, 3, px);
    free(px);
    return st;
}
