/* test_model_sam2_amg.c - the SAM 2 automatic mask generator (models/sam2_amg.h): each amg.py piece
   (point grid, crop boxes, stability score, mask -> box, crop-edge test, RLE, small regions, the
   predictor's low-res hole/sprinkle filling) against its plain loop and against the official helpers'
   outputs (tests/data/sam2_amg, made by tests/gen/fixtures_sam2_amg.py); then
   SAM2AutomaticMaskGenerator.generate() end to end: the shared random-weight Hiera-tiny checkpoint is
   converted once and run on the groceries reference image at the fixture script's reduced settings
   (a 4x4 grid; one point with m2m refinement and min_mask_region_area), and every record is matched to an
   official one: mask IoU on a 1/4 sample, predicted IoU and stability within 1e-3, bbox, area, point and
   crop box. The end-to-end part skips when ../shared is absent. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/ctx.h"
#include "core/status.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/output.h"
#include "io/segc_file.h"
#include "models/sam2.h"
#include "models/sam2_amg.h"
#include "test_shared_models.h"
#include "test_util.h"

#define WEIGHTS "sam2.1_hiera_tiny_random_bf16.pt"
#define E2E_IMAGE "reference/sam2.1_tiny/groceries_points_maskinput/input.png"

/* Reads tests/data/sam2_amg/<name>.npy (fails the test if absent). */
static segc_npy fixture(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/sam2_amg/%s.npy", test_data_dir(), name);
    segc_npy a;
    ck_assert_msg(segc_npy_read(path, &a) == SEGC_OK, "%s: %s", path, segc_last_error());
    return a;
}

/* ---- pieces vs the official helpers ------------------------------------------------------------- */

START_TEST(test_point_grid_matches_official) {
    const int sizes[] = {1, 3, 7};
    for (int s = 0; s < 3; s++) {
        char name[32];
        snprintf(name, sizeof name, "grid_%d", sizes[s]);
        segc_npy want = fixture(name);
        const int n = sizes[s];
        ck_assert_int_eq(segc_npy_numel(&want), 2 * n * n);
        double got[2 * 49];
        segc_amg_point_grid(n, got);
        const float *w = want.data;   /* float64 in the file, read as float32 */
        for (int i = 0; i < 2 * n * n; i++)
            ck_assert_msg((float)got[i] == w[i], "grid %d [%d]: %.9g vs %.9g", n, i, got[i], (double)w[i]);
        segc_npy_free(&want);
    }
    ck_assert_int_eq(segc_amg_layer_points_per_side(32, 0, 2), 32);
    ck_assert_int_eq(segc_amg_layer_points_per_side(32, 2, 2), 8);
    ck_assert_int_eq(segc_amg_layer_points_per_side(7, 1, 2), 3);   /* int(7 / 2) */
}
END_TEST

START_TEST(test_crop_boxes_match_official) {
    segc_npy want = fixture("crop_boxes");   /* rows: h, w, layers, ratio*1e6, x0, y0, x1, y1, layer */
    ck_assert_int_eq(want.ndim, 2);
    const int32_t *r = want.data;
    const int rows = (int)want.shape[0];
    for (int i = 0; i < rows;) {
        const int h = r[9 * i], w = r[9 * i + 1], layers = r[9 * i + 2];
        const double ratio = r[9 * i + 3] == 341333 ? 512.0 / 1500.0 : r[9 * i + 3] / 1e6;
        const int n = segc_amg_num_crop_boxes(layers);
        int boxes[64][4], layer[64];
        ck_assert_int_le(n, 64);
        ck_assert_int_le(i + n, rows);
        segc_amg_crop_boxes(h, w, layers, ratio, boxes, layer);
        for (int k = 0; k < n; k++, i++) {
            for (int c = 0; c < 4; c++)
                ck_assert_msg(boxes[k][c] == r[9 * i + 4 + c], "%dx%d layers %d box %d[%d]: %d vs %d", h, w, layers,
                              k, c, boxes[k][c], r[9 * i + 4 + c]);
            ck_assert_int_eq(layer[k], r[9 * i + 8]);
        }
    }
    segc_npy_free(&want);
}
END_TEST

START_TEST(test_stability_score_matches_official_and_reference) {
    segc_npy x = fixture("stability_logits");
    const char *names[2] = {"stability_0_1", "stability_05_03"};
    const float thr[2][2] = {{0.0f, 1.0f}, {0.5f, 0.3f}};
    const int64_t n = x.shape[1] * x.shape[2];
    for (int t = 0; t < 2; t++) {
        segc_npy want = fixture(names[t]);
        for (int m = 0; m < 4; m++) {
            const float *l = (const float *)x.data + m * n, w = ((const float *)want.data)[m];
            const float got = segc_amg_stability_score(l, n, thr[t][0], thr[t][1]);
            const float ref = segc_amg_stability_score_reference(l, n, thr[t][0], thr[t][1]);
            if (isnan(w)) ck_assert_msg(isnan(got) && isnan(ref), "mask %d: want NaN, got %g", m, got);
            else ck_assert_msg(got == w && ref == w, "mask %d: %.9g / %.9g vs %.9g", m, got, ref, w);
        }
        segc_npy_free(&want);
    }
    segc_npy_free(&x);
    test_rng r = test_rng_new(11);   /* fast vs plain on odd sizes */
    float buf[97 * 61];
    for (int it = 0; it < 20; it++) {
        const int64_t len = test_rng_int(&r, 1, 97 * 61);
        test_fill_uniform(&r, buf, (size_t)len, -3, 3);
        const float a = segc_amg_stability_score(buf, len, 0.1f, 0.7f);
        const float b = segc_amg_stability_score_reference(buf, len, 0.1f, 0.7f);
        ck_assert_msg(a == b || (isnan(a) && isnan(b)), "len %lld: %g vs %g", (long long)len, a, b);
    }
}
END_TEST

START_TEST(test_mask_to_box_matches_official_and_reference) {
    segc_npy m = fixture("box_masks"), want = fixture("box_boxes");
    const int h = (int)m.shape[1], w = (int)m.shape[2];
    for (int i = 0; i < m.shape[0]; i++) {
        int got[4], ref[4];
        const uint8_t *mask = (const uint8_t *)m.data + (int64_t)i * h * w;
        segc_amg_mask_to_box(mask, w, h, got);
        segc_amg_mask_to_box_reference(mask, w, h, ref);
        for (int c = 0; c < 4; c++) {
            ck_assert_int_eq(got[c], ((const int32_t *)want.data)[4 * i + c]);
            ck_assert_int_eq(ref[c], got[c]);
        }
    }
    segc_npy_free(&m);
    segc_npy_free(&want);
    test_rng r = test_rng_new(5);
    static uint8_t buf[41 * 37];
    for (int it = 0; it < 30; it++) {
        const int hh = test_rng_int(&r, 1, 41), ww = test_rng_int(&r, 1, 37);
        const float p = test_rng_uniform(&r, 0.0f, 0.05f);
        for (int i = 0; i < hh * ww; i++) buf[i] = test_rng_uniform(&r, 0, 1) < p;
        int a[4], b[4];
        segc_amg_mask_to_box(buf, ww, hh, a);
        segc_amg_mask_to_box_reference(buf, ww, hh, b);
        ck_assert_msg(!memcmp(a, b, sizeof a), "%dx%d: %d,%d,%d,%d vs %d,%d,%d,%d", hh, ww, a[0], a[1], a[2], a[3], b[0],
                      b[1], b[2], b[3]);
    }
}
END_TEST

START_TEST(test_box_near_crop_edge) {
    const int crop[4] = {0, 0, 300, 200}, full[4] = {0, 0, 600, 400};
    const int inside[4] = {50, 50, 100, 100}, at_right[4] = {50, 50, 285, 100}, at_image_left[4] = {5, 50, 100, 100};
    ck_assert(!segc_amg_box_near_crop_edge(inside, crop, 600, 400));
    ck_assert(segc_amg_box_near_crop_edge(at_right, crop, 600, 400));       /* 15 px from an inner edge */
    ck_assert(!segc_amg_box_near_crop_edge(at_image_left, crop, 600, 400)); /* also the image edge */
    const int edge20[4] = {50, 50, 280, 100}, edge21[4] = {50, 50, 279, 100};
    ck_assert(segc_amg_box_near_crop_edge(edge20, crop, 600, 400));         /* isclose: |a - b| <= 20 */
    ck_assert(!segc_amg_box_near_crop_edge(edge21, crop, 600, 400));
    const int any[4] = {0, 0, 599, 399};
    ck_assert(!segc_amg_box_near_crop_edge(any, full, 600, 400));           /* the whole image: never */
}
END_TEST

/* Column-major runs starting with zeros (mask_to_rle_pytorch) of mask [h, w]; returns the count. */
static int runs_of(const uint8_t *mask, int w, int h, int32_t *runs) {
    int n = 0, run = 0, prev = 0;
    for (int x = 0; x < w; x++)
        for (int y = 0; y < h; y++) {
            const int v = mask[y * w + x] != 0;
            if (v != prev) runs[n++] = run, run = 0, prev = v;
            run++;
        }
    runs[n++] = run;
    return n;
}

START_TEST(test_rle_round_trip_and_official_counts) {
    segc_npy m = fixture("box_masks"), counts = fixture("rle_counts_mask0");
    const int h = (int)m.shape[1], w = (int)m.shape[2];
    int32_t runs[19 * 23 + 2];
    const int n = runs_of(m.data, w, h, runs);
    ck_assert_int_eq(n, (int)segc_npy_numel(&counts));
    for (int i = 0; i < n; i++) ck_assert_int_eq(runs[i], ((const int32_t *)counts.data)[i]);
    segc_npy_free(&m);
    segc_npy_free(&counts);

    test_rng r = test_rng_new(3);
    static uint8_t mask[53 * 47], back[53 * 47];
    static char str[8 * 53 * 47 + 16];
    for (int it = 0; it < 40; it++) {
        const int hh = test_rng_int(&r, 1, 53), ww = test_rng_int(&r, 1, 47);
        const float p = it % 4 == 0 ? 0.0f : it % 4 == 1 ? 1.0f : test_rng_uniform(&r, 0, 1);
        for (int i = 0; i < hh * ww; i++) mask[i] = (uint8_t)(test_rng_uniform(&r, 0, 1) < p ? 1 + it % 3 : 0);
        int64_t area = 0;
        ck_assert_int_ge(segc_rle_encode(mask, ww, hh, str, sizeof str, &area), 0);
        ck_assert_int_eq(segc_amg_rle_decode(str, ww, hh, back), SEGC_OK);
        int64_t ones = 0;
        for (int i = 0; i < hh * ww; i++) {
            ck_assert_int_eq(back[i], mask[i] != 0);
            ones += back[i];
        }
        ck_assert_int_eq(ones, area);
    }
    /* bad strings are errors, not garbage */
    ck_assert_int_eq(segc_amg_rle_decode("2", 2, 2, back), SEGC_ERR_FORMAT);     /* 2 of 4 pixels */
    ck_assert_int_eq(segc_amg_rle_decode("9", 2, 2, back), SEGC_ERR_FORMAT);     /* 9 > 4 */
    ck_assert_int_eq(segc_amg_rle_decode("1 3", 2, 2, back), SEGC_ERR_FORMAT);   /* ' ' is no digit */
    ck_assert_int_eq(segc_amg_rle_decode("h", 2, 2, back), SEGC_ERR_FORMAT);     /* unfinished number */
    ck_assert_int_eq(segc_amg_rle_decode("13", 2, 2, back), SEGC_OK);
}
END_TEST

START_TEST(test_remove_small_regions_matches_official_and_reference) {
    segc_npy in = fixture("regions_in"), want = fixture("regions_out"), flags = fixture("regions_changed");
    const int h = (int)in.shape[1], w = (int)in.shape[2];
    const double thr[3] = {5, 10, 30};
    segc_arena a;
    segc_arena_init(&a, 0);
    static uint8_t mask[40 * 50], ref[40 * 50];
    int row = 0;
    for (int b = 0; b < in.shape[0]; b++)
        for (int mode = 0; mode < 2; mode++)
            for (int t = 0; t < 3; t++, row++) {
                memcpy(mask, (const uint8_t *)in.data + b * h * w, (size_t)(h * w));
                int changed = -1;
                ck_assert_int_eq(segc_amg_remove_small_regions(&a, mask, w, h, thr[t], mode, &changed), SEGC_OK);
                ck_assert_msg(changed == ((const int32_t *)flags.data)[row], "blob %d mode %d thr %g", b, mode, thr[t]);
                const uint8_t *wm = (const uint8_t *)want.data + (int64_t)row * h * w;
                for (int i = 0; i < h * w; i++)
                    ck_assert_msg(mask[i] == wm[i], "blob %d mode %d thr %g pixel %d", b, mode, thr[t], i);
            }
    test_rng r = test_rng_new(9);
    for (int it = 0; it < 30; it++) {   /* union-find vs flood fill on random masks of odd sizes */
        const int hh = test_rng_int(&r, 1, 40), ww = test_rng_int(&r, 1, 50), mode = it % 2;
        const float p = test_rng_uniform(&r, 0.2f, 0.8f);
        for (int i = 0; i < hh * ww; i++) mask[i] = ref[i] = test_rng_uniform(&r, 0, 1) < p;
        const double t = test_rng_int(&r, 1, 60);
        int c1, c2;
        ck_assert_int_eq(segc_amg_remove_small_regions(&a, mask, ww, hh, t, mode, &c1), SEGC_OK);
        ck_assert_int_eq(segc_amg_remove_small_regions_reference(&a, ref, ww, hh, t, mode, &c2), SEGC_OK);
        ck_assert_int_eq(c1, c2);
        ck_assert_msg(!memcmp(mask, ref, (size_t)(hh * ww)), "%dx%d mode %d thr %g", hh, ww, mode, t);
    }
    ck_assert_int_eq(a.in_use, 0);
    segc_arena_free(&a);
    segc_npy_free(&in);
    segc_npy_free(&want);
    segc_npy_free(&flags);
}
END_TEST

START_TEST(test_fill_holes_and_sprinkles_matches_official_and_reference) {
    segc_npy in = fixture("fill_in"), want = fixture("fill_out");   /* [2, 1, 24, 32] */
    const int h = (int)in.shape[2], w = (int)in.shape[3];
    segc_arena a;
    segc_arena_init(&a, 0);
    static float delta[24 * 32], delta_ref[24 * 32];
    for (int m = 0; m < in.shape[0]; m++) {
        const float *x = (const float *)in.data + m * h * w, *y = (const float *)want.data + m * h * w;
        int changed = 0, changed_ref = 0;
        ck_assert_int_eq(segc_amg_fill_holes_and_sprinkles(&a, x, w, h, 0.0f, 8, 5, delta, &changed), SEGC_OK);
        ck_assert_int_eq(segc_amg_fill_holes_and_sprinkles_reference(&a, x, w, h, 0.0f, 8, 5, delta_ref, &changed_ref),
                         SEGC_OK);
        ck_assert_int_eq(changed, changed_ref);
        ck_assert(!memcmp(delta, delta_ref, sizeof delta));
        int moved = 0;
        for (int i = 0; i < h * w; i++) {
            ck_assert_msg(fabsf(x[i] + delta[i] - y[i]) <= 1e-5f, "mask %d pixel %d: %g vs %g", m, i, x[i] + delta[i],
                          y[i]);
            moved += delta[i] != 0;
        }
        ck_assert_int_eq(changed, moved > 0);
    }
    ck_assert_int_eq(a.in_use, 0);
    segc_arena_free(&a);
    segc_npy_free(&in);
    segc_npy_free(&want);
}
END_TEST

START_TEST(test_options_are_checked) {
    segc_amg_options o;
    segc_amg_options_default(&o);
    ck_assert_int_eq(segc_amg_options_check(&o), SEGC_OK);
    ck_assert_int_eq(o.points_per_side, 32);
    ck_assert(o.pred_iou_thresh == 0.8f && o.stability_score_thresh == 0.95f && o.box_nms_thresh == 0.7);
    segc_amg_options b = o;
    b.points_per_side = 0;
    ck_assert_int_eq(segc_amg_options_check(&b), SEGC_ERR_INVALID_ARG);
    b = o, b.pred_iou_thresh = NAN;
    ck_assert_int_eq(segc_amg_options_check(&b), SEGC_ERR_INVALID_ARG);
    b = o, b.crop_n_layers = 2, b.points_per_side = 3, b.crop_n_points_downscale_factor = 2;   /* layer 2: 0 points */
    ck_assert_int_eq(segc_amg_options_check(&b), SEGC_ERR_INVALID_ARG);
    b = o, b.crop_overlap_ratio = 1.5;
    ck_assert_int_eq(segc_amg_options_check(&b), SEGC_ERR_INVALID_ARG);
    b = o, b.min_mask_region_area = -1;
    ck_assert_int_eq(segc_amg_options_check(&b), SEGC_ERR_INVALID_ARG);
    segc_amg_result res;
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_ctx ctx = segc_ctx_plain(&a);
    segc_image img = {0, 0, NULL};
    ck_assert_int_eq(segc_amg_generate(&o, &ctx, &img, &o, &res), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(res.count, 0);
    segc_arena_free(&a);
}
END_TEST

/* ---- end to end vs SAM2AutomaticMaskGenerator ------------------------------------------------------ */

typedef struct e2e_case {
    const char *name;   /* fixture prefix e2e_<name>_ (E2E_CASES in tests/gen/fixtures_sam2_amg.py) */
    int points_per_side;
    float pred_iou_thresh, stability_score_thresh, stability_score_offset;
    double box_nms_thresh;
    int use_m2m;
    int min_mask_region_area;
} e2e_case;

static const e2e_case e2e_cases[] = {
    {"grid4", 4, 0.523f, 0.5f, 0.05f, 1.0, 0, 0},
    {"m2m1", 1, 0.3f, 0.0f, 0.05f, 1.0, 1, 20},   /* + hole/sprinkle filling of the low-res masks */
};
#define N_E2E (int)(sizeof e2e_cases / sizeof e2e_cases[0])

static char segc_path[4096];
static int converted;

static void convert_once(void) {
    test_convert_shared(WEIGHTS, test_tmp_dir(), "sam2.1_hiera_tiny.segc", segc_path, sizeof segc_path);
    converted = segc_path[0] != '\0';
}

/* The fixture keeps masks as mask[::E2E_SAMPLE, ::E2E_SAMPLE] packed along x (np.packbits, big-endian). */
#define E2E_SAMPLE 4

/* IoU of our full-size mask [h, w], sampled, with an official packed sampled mask. */
static double iou_sampled(const uint8_t *mask, int w, int h, const uint8_t *packed, int64_t row_bytes) {
    int64_t inter = 0, uni = 0;
    for (int y = 0, ys = 0; y < h; y += E2E_SAMPLE, ys++)
        for (int x = 0, xs = 0; x < w; x += E2E_SAMPLE, xs++) {
            const int a = mask[(int64_t)y * w + x], b = (packed[ys * row_bytes + xs / 8] >> (7 - xs % 8)) & 1;
            inter += a && b;
            uni += a || b;
        }
    return uni ? (double)inter / (double)uni : 1.0;
}

static void run_e2e(const e2e_case *c, const void *model, const segc_image *img) {
    char name[128];
    snprintf(name, sizeof name, "e2e_%s_records", c->name);
    segc_npy rec = fixture(name);
    snprintf(name, sizeof name, "e2e_%s_masks_s%d", c->name, E2E_SAMPLE);
    segc_npy packed = fixture(name);   /* [N, ceil(H / 4), ceil(ceil(W / 4) / 8)] */
    const int n = (int)rec.shape[0];
    ck_assert_msg(n > 0, "%s: the fixture has no records (lower its thresholds)", c->name);

    segc_amg_options o;
    segc_amg_options_default(&o);
    o.points_per_side = c->points_per_side;
    o.pred_iou_thresh = c->pred_iou_thresh;
    o.stability_score_thresh = c->stability_score_thresh;
    o.stability_score_offset = c->stability_score_offset;
    o.box_nms_thresh = c->box_nms_thresh;
    o.use_m2m = c->use_m2m;
    o.min_mask_region_area = c->min_mask_region_area;
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_amg_result res;
    ck_assert_msg(segc_amg_generate(model, &ctx, img, &o, &res) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(arena.in_use, 0);   /* workspace released */
    ck_assert_msg(res.count == n, "%s: %d records, official %d", c->name, res.count, n);
    const int W = img->width, H = img->height;
    ck_assert_int_eq(packed.ndim, 3);
    ck_assert_int_eq(packed.shape[0], n);
    ck_assert_int_eq(packed.shape[1], (H + E2E_SAMPLE - 1) / E2E_SAMPLE);
    const int64_t row_bytes = packed.shape[2], mask_bytes = packed.shape[1] * row_bytes;
    ck_assert_int_eq(row_bytes, ((W + E2E_SAMPLE - 1) / E2E_SAMPLE + 7) / 8);
    uint8_t *mask = malloc((size_t)W * H);
    int *used = calloc((size_t)n, sizeof(int));
    ck_assert(mask && used);
    for (int i = 0; i < n; i++) {   /* each of our records to the official one of best mask IoU */
        const segc_amg_mask *m = &res.masks[i];
        ck_assert_int_eq(segc_amg_rle_decode(m->rle, W, H, mask), SEGC_OK);
        int best = -1;
        double best_iou = -1;
        for (int j = 0; j < n; j++) {
            const double v = iou_sampled(mask, W, H, (const uint8_t *)packed.data + j * mask_bytes, row_bytes);
            if (!used[j] && v > best_iou) best_iou = v, best = j;
        }
        ck_assert_msg(best >= 0 && best_iou >= 0.98, "%s record %d: best mask IoU %.4f", c->name, i, best_iou);
        used[best] = 1;
        const float *w = (const float *)rec.data + 13 * best;   /* iou, stab, bbox[4], area, point[2], crop[4] */
        ck_assert_msg(fabsf(m->predicted_iou - w[0]) <= 1e-3f, "%s record %d: iou %.5f vs %.5f", c->name, i,
                      m->predicted_iou, w[0]);
        ck_assert_msg(fabsf(m->stability_score - w[1]) <= 1e-3f, "%s record %d: stability %.5f vs %.5f", c->name, i,
                      m->stability_score, w[1]);
        const int bbox[4] = {m->box[0], m->box[1], m->box[2] - m->box[0], m->box[3] - m->box[1]};
        for (int k = 0; k < 4; k++)
            ck_assert_msg(abs(bbox[k] - (int)w[2 + k]) <= 2, "%s record %d: bbox[%d] %d vs %g", c->name, i, k, bbox[k],
                          w[2 + k]);
        ck_assert_msg(fabs((double)m->area - w[6]) <= 0.01 * w[6] + 2, "%s record %d: area %lld vs %g", c->name, i,
                      (long long)m->area, w[6]);
        ck_assert(m->point[0] == w[7] && m->point[1] == w[8]);
        const int *cb = m->crop_box, crop[4] = {cb[0], cb[1], cb[2] - cb[0], cb[3] - cb[1]};
        for (int k = 0; k < 4; k++) ck_assert_int_eq(crop[k], (int)w[9 + k]);
    }
    free(mask);
    free(used);
    segc_amg_result_free(&res);
    segc_arena_free(&arena);
    segc_npy_free(&rec);
    segc_npy_free(&packed);
}

START_TEST(test_generate_matches_official_generator) {
    const char *shared = test_shared_dir();
    if (!shared) {
        test_skip("sam2_amg: ../shared not found (set SEGC_SHARED)");
        return;
    }
    ck_assert_msg(converted, "conversion of %s failed (see stderr)", WEIGHTS);
    segc_file *f = NULL;
    ck_assert_msg(segc_file_open(segc_path, &f) == SEGC_OK, "%s", segc_last_error());
    void *model = NULL;
    ck_assert_msg(segc_sam2_load(f, &model) == SEGC_OK, "%s", segc_last_error());
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", shared, E2E_IMAGE);
    segc_image img;
    ck_assert_msg(segc_image_load(path, &img) == SEGC_OK, "%s", segc_last_error());
    for (int i = 0; i < N_E2E; i++) run_e2e(&e2e_cases[i], model, &img);
    segc_image_free(&img);
    segc_sam2_free(model);
    segc_file_close(f);
}
END_TEST

static Suite *amg_suite(void) {
    Suite *s = suite_create("model_sam2_amg");
    TCase *tc = tcase_create("pieces");
    tcase_add_test(tc, test_point_grid_matches_official);
    tcase_add_test(tc, test_crop_boxes_match_official);
    tcase_add_test(tc, test_stability_score_matches_official_and_reference);
    tcase_add_test(tc, test_mask_to_box_matches_official_and_reference);
    tcase_add_test(tc, test_box_near_crop_edge);
    tcase_add_test(tc, test_rle_round_trip_and_official_counts);
    tcase_add_test(tc, test_remove_small_regions_matches_official_and_reference);
    tcase_add_test(tc, test_fill_holes_and_sprinkles_matches_official_and_reference);
    tcase_add_test(tc, test_options_are_checked);
    suite_add_tcase(s, tc);
    TCase *e2e = tcase_create("generate");
    tcase_add_unchecked_fixture(e2e, convert_once, NULL);
    tcase_set_timeout(e2e, 1200);
    tcase_add_test(e2e, test_generate_matches_official_generator);
    suite_add_tcase(s, e2e);
    return s;
}

int main(void) { return test_run_suite(amg_suite()); }
