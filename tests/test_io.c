/* test_io.c - images in and out, normalization, palettes, COCO RLE, JSON strings. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/status.h"
#include "io/image.h"
#include "io/output.h"
#include "test_util.h"

static const char *tmp_path(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmp_dir(), name);
    return path;
}

START_TEST(test_png_round_trip_keeps_pixels) {
    enum { W = 7, H = 5 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) px[i] = (uint8_t)(i * 37 + 11);
    const char *p = tmp_path("rt.png");
    ck_assert_int_eq(segc_png_write(p, W, H, 3, px), SEGC_OK);
    segc_image img;
    ck_assert_int_eq(segc_image_load(p, &img), SEGC_OK);
    ck_assert_int_eq(img.width, W);
    ck_assert_int_eq(img.height, H);
    ck_assert_int_eq(memcmp(img.rgb, px, sizeof px), 0);
    segc_image_free(&img);
}
END_TEST

START_TEST(test_grey_png_is_expanded_to_rgb) {
    uint8_t g[6] = {0, 50, 100, 150, 200, 250};
    const char *p = tmp_path("grey.png");
    ck_assert_int_eq(segc_png_write(p, 3, 2, 1, g), SEGC_OK);
    segc_image img;
    ck_assert_int_eq(segc_image_load(p, &img), SEGC_OK);
    for (int i = 0; i < 6; i++)
        for (int c = 0; c < 3; c++) ck_assert_uint_eq(img.rgb[i * 3 + c], g[i]);
    segc_image_free(&img);
}
END_TEST

START_TEST(test_corrupt_and_missing_images_are_errors) {
    segc_image img;
    ck_assert_int_eq(segc_image_load(tmp_path("does-not-exist.png"), &img), SEGC_ERR_IO);
    const char *p = tmp_path("garbage.png");
    FILE *fp = fopen(p, "wb");
    fputs("\x89PNG\r\n\x1a\n this is not a png at all", fp);
    fclose(fp);
    ck_assert_int_eq(segc_image_load(p, &img), SEGC_ERR_FORMAT);
    ck_assert_str_ne(segc_last_error(), "");
    /* a valid PNG cut in half */
    uint8_t px[64 * 64 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7);
    const char *q = tmp_path("cut.png");
    ck_assert_int_eq(segc_png_write(q, 64, 64, 3, px), SEGC_OK);
    fp = fopen(q, "r+b");
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    ck_assert_int_eq(ftruncate(fileno(fp), size / 2), 0);
    fclose(fp);
    ck_assert_int_ne(segc_image_load(q, &img), SEGC_OK);
}
END_TEST

/* A PNG whose header declares 20000 x 20000 is refused by size, with the size in the message. */
START_TEST(test_oversized_png_header_names_the_size) {
    uint8_t head[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                        0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 2, 0, 0, 0, 0, 0, 0, 0};
    const char *p = tmp_path("huge.png");
    FILE *fp = fopen(p, "wb");
    fwrite(head, 1, sizeof head, fp);
    fclose(fp);
    segc_image img;
    ck_assert_int_eq(segc_image_load(p, &img), SEGC_ERR_FORMAT);
    ck_assert_msg(strstr(segc_last_error(), "20000x20000") && strstr(segc_last_error(), "supported size"), "%s",
                  segc_last_error());
}
END_TEST

START_TEST(test_normalize_matches_plain_formula) {
    enum { W = 5, H = 3 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) px[i] = (uint8_t)(i * 13);
    segc_image img;
    ck_assert_int_eq(segc_image_from_rgb(px, W, H, &img), SEGC_OK);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    segc_arena a;
    segc_arena_init(&a, 0);
    for (int bgr = 0; bgr < 2; bgr++) {
        segc_tensor t;
        ck_assert_int_eq(segc_image_normalize(&a, &img, mean, std, bgr, &t), SEGC_OK);
        const float *d = t.data;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < W * H; i++) {
                int src = bgr ? 2 - c : c;
                float want = ((float)px[i * 3 + src] / 255.0f - mean[c]) / std[c];
                ck_assert_float_eq(d[c * W * H + i], want);
            }
    }
    segc_arena_free(&a);
    segc_image_free(&img);
}
END_TEST

START_TEST(test_voc_and_cityscapes_palettes) {
    uint8_t rgb[3];
    segc_palette_color(SEGC_PALETTE_VOC, 1, rgb);   /* aeroplane */
    ck_assert(rgb[0] == 128 && rgb[1] == 0 && rgb[2] == 0);
    segc_palette_color(SEGC_PALETTE_VOC, 15, rgb);  /* person */
    ck_assert(rgb[0] == 192 && rgb[1] == 128 && rgb[2] == 128);
    segc_palette_color(SEGC_PALETTE_CITYSCAPES, 0, rgb);  /* road */
    ck_assert(rgb[0] == 128 && rgb[1] == 64 && rgb[2] == 128);
    ck_assert_int_eq(segc_palette_for(19, NULL), SEGC_PALETTE_CITYSCAPES);
    ck_assert_int_eq(segc_palette_for(21, NULL), SEGC_PALETTE_VOC);
}
END_TEST

/* Plain decoder of pycocotools' compressed counts (rleFrString), the oracle for the encoder. */
static int64_t rle_decode(const char *s, int64_t *counts, int64_t max) {
    int64_t m = 0;
    for (size_t p = 0; s[p];) {
        int64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            int64_t c = (int64_t)s[p] - 48;
            x |= (c & 0x1f) << (5 * k);
            more = (c & 0x20) != 0;
            p++;
            k++;
            if (!more && (c & 0x10)) x |= -((int64_t)1 << (5 * k));
        }
        if (m > 2) x += counts[m - 2];
        if (m >= max) return -1;
        counts[m++] = x;
    }
    return m;
}

START_TEST(test_rle_known_strings) {
    char out[64];
    /* [[0,1],[1,1]] column-major is 0,1,1,1 -> counts 1,3 -> "13" */
    uint8_t m1[4] = {0, 1, 1, 1};
    int64_t area;
    ck_assert_int_eq(segc_rle_encode(m1, 2, 2, out, sizeof out, &area), 2);
    ck_assert_str_eq(out, "13");
    ck_assert_int_eq(area, 3);
    /* a mask starting with 1 begins with a zero-length run */
    uint8_t m2[2] = {1, 0};   /* 1 x 2 image (w=2, h=1): column-major 1,0 -> counts 0,1,1 */
    ck_assert_int_eq(segc_rle_encode(m2, 2, 1, out, sizeof out, &area), 3);
    ck_assert_str_eq(out, "011");
}
END_TEST

START_TEST(test_rle_round_trip_random_masks) {
    test_rng r = test_rng_new(5);
    for (int iter = 0; iter < 50; iter++) {
        int w = test_rng_int(&r, 1, 40), h = test_rng_int(&r, 1, 40);
        uint8_t *m = malloc((size_t)w * h);
        for (int i = 0; i < w * h; i++) m[i] = test_rng_uniform(&r, 0, 1) < 0.3f;
        int64_t bound = segc_rle_string_bound(w, h);
        char *s = malloc((size_t)bound);
        int64_t area;
        ck_assert_int_ge(segc_rle_encode(m, w, h, s, bound, &area), 1);
        int64_t counts[2000];
        int64_t n = rle_decode(s, counts, 2000);
        ck_assert_int_gt(n, 0);
        int64_t pos = 0, ones = 0;
        for (int64_t k = 0; k < n; k++) {
            for (int64_t j = 0; j < counts[k]; j++, pos++) {
                int x = (int)(pos / h), y = (int)(pos % h);
                ck_assert_uint_eq(m[y * w + x] != 0, (uint8_t)(k & 1));
                ones += k & 1;
            }
        }
        ck_assert_int_eq(pos, (int64_t)w * h);
        ck_assert_int_eq(ones, area);
        free(s);
        free(m);
    }
}
END_TEST

START_TEST(test_json_string_escapes) {
    const char *p = tmp_path("s.json");
    FILE *fp = fopen(p, "w");
    segc_json_string(fp, "a\"b\\c\nd\x01");
    fclose(fp);
    char buf[64] = {0};
    fp = fopen(p, "r");
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, fp));
    fclose(fp);
    ck_assert_str_eq(buf, "\"a\\\"b\\\\c\\nd\\u0001\"");
}
END_TEST

int main(void) {
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");
    tcase_add_test(tc, test_png_round_trip_keeps_pixels);
    tcase_add_test(tc, test_grey_png_is_expanded_to_rgb);
    tcase_add_test(tc, test_corrupt_and_missing_images_are_errors);
    tcase_add_test(tc, test_oversized_png_header_names_the_size);
    tcase_add_test(tc, test_normalize_matches_plain_formula);
    tcase_add_test(tc, test_voc_and_cityscapes_palettes);
    tcase_add_test(tc, test_rle_known_strings);
    tcase_add_test(tc, test_rle_round_trip_random_masks);
    tcase_add_test(tc, test_json_string_escapes);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
