/* output.c - label PNGs, overlays, palettes, COCO RLE, JSON strings (see output.h). */
#include "io/output.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* cityscapesScripts helpers/labels.py colours of the 19 train ids, in train-id order. */
static const uint8_t cityscapes_colors[19][3] = {
    {128, 64, 128}, {244, 35, 232}, {70, 70, 70},   {102, 102, 156}, {190, 153, 153},
    {153, 153, 153}, {250, 170, 30}, {220, 220, 0},  {107, 142, 35},  {152, 251, 152},
    {70, 130, 180},  {220, 20, 60},  {255, 0, 0},    {0, 0, 142},     {0, 0, 70},
    {0, 60, 100},    {0, 80, 100},   {0, 0, 230},    {119, 11, 32},
};

segc_palette_kind segc_palette_for(int num_classes, const char *dataset) {
    if (dataset && !strcmp(dataset, "cityscapes")) return SEGC_PALETTE_CITYSCAPES;
    if (dataset && !strcmp(dataset, "voc")) return SEGC_PALETTE_VOC;
    if (num_classes == 19) return SEGC_PALETTE_CITYSCAPES;
    if (num_classes == 21) return SEGC_PALETTE_VOC;
    return SEGC_PALETTE_GENERIC;
}

void segc_palette_color(segc_palette_kind kind, int label, uint8_t rgb[3]) {
    if (kind == SEGC_PALETTE_CITYSCAPES && label >= 0 && label < 19) {
        memcpy(rgb, cityscapes_colors[label], 3);
        return;
    }
    /* VOC devkit colormap: bits of the label spread over the high bits of r, g, b */
    int r = 0, g = 0, b = 0, c = label;
    for (int j = 0; j < 8; j++) {
        r |= ((c >> 0) & 1) << (7 - j);
        g |= ((c >> 1) & 1) << (7 - j);
        b |= ((c >> 2) & 1) << (7 - j);
        c >>= 3;
    }
    rgb[0] = (uint8_t)r;
    rgb[1] = (uint8_t)g;
    rgb[2] = (uint8_t)b;
}

segc_status segc_write_label_png(const char *path, const uint8_t *labels, int width, int height) {
    return segc_png_write(path, width, height, 1, labels);
}

segc_status segc_write_overlay_png(const char *path, const segc_image *img, const uint8_t *labels,
                                   segc_palette_kind kind, float alpha, int skip_label) {
    size_t n = (size_t)img->width * (size_t)img->height;
    uint8_t *out = malloc(n * 3);
    if (!out) return segc_fail(SEGC_ERR_NOMEM, "overlay of %dx%d", img->width, img->height);
    uint8_t lut[256][3];
    for (int l = 0; l < 256; l++) segc_palette_color(kind, l, lut[l]);
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 3; c++) {
            float v = img->rgb[i * 3 + c];
            if ((int)labels[i] != skip_label) v = (1.0f - alpha) * v + alpha * (float)lut[labels[i]][c];
            out[i * 3 + c] = (uint8_t)(v + 0.5f);
        }
    }
    segc_status st = segc_png_write(path, img->width, img->height, 3, out);
    free(out);
    return st;
}

int64_t segc_rle_string_bound(int width, int height) { return 7 * ((int64_t)width * height + 2) + 1; }

/* Appends one count in pycocotools' 5-bits-per-char encoding (delta from counts[i-2] for i > 2). */
static int append_count(int64_t x, char *out, int64_t *pos, int64_t size) {
    int more = 1;
    while (more) {
        int64_t c = x & 0x1f;
        x >>= 5;
        more = (c & 0x10) ? x != -1 : x != 0;
        if (more) c |= 0x20;
        if (*pos + 1 >= size) return 0;
        out[(*pos)++] = (char)(c + 48);
    }
    return 1;
}

/* Emits one run length with pycocotools' delta rule: from the 4th count on, the count two before is
   subtracted (rleToString in maskApi.c). */
typedef struct rle_writer { char *out; int64_t pos, size, index, before_last, last; int ok; } rle_writer;

static void rle_emit(rle_writer *w, int64_t count) {
    int64_t value = w->index > 2 ? count - w->before_last : count;
    if (w->ok) w->ok = append_count(value, w->out, &w->pos, w->size);
    w->before_last = w->last;
    w->last = count;
    w->index++;
}

int64_t segc_rle_encode(const uint8_t *mask, int width, int height, char *out, int64_t size, int64_t *area) {
    rle_writer w = {out, 0, size, 0, 0, 0, 1};
    int64_t run = 0, total = 0;
    uint8_t previous = 0;
    for (int x = 0; x < width; x++) {          /* column-major: x outer, y inner */
        for (int y = 0; y < height; y++) {
            uint8_t v = mask[(size_t)y * (size_t)width + (size_t)x] != 0;
            if (v != previous) {
                rle_emit(&w, run);
                run = 0;
                previous = v;
            }
            run++;
            total += v;
        }
    }
    rle_emit(&w, run);
    if (!w.ok || w.pos >= size) return -1;
    out[w.pos] = '\0';
    if (area) *area = total;
    return w.pos;
}

void segc_json_string(FILE *fp, const char *s) {
    fputc('"', fp);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(fp, "\\%c", c);
        else if (c == '\n') fputs("\\n", fp);
        else if (c == '\t') fputs("\\t", fp);
        else if (c < 0x20) fprintf(fp, "\\u%04x", c);
        else fputc(c, fp);
    }
    fputc('"', fp);
}
