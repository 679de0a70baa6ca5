/* test_api.c - the public API of include/segc.h: every path (open/close and queries, semantic
   segmentation, instance detection, the SAM 2 set_image/predict session) gives exactly what the internal
   model calls give on the same image, and misuse (NULL arguments, predict before set_image, a call
   for another task, bad sizes and prompts) returns an error with a reason. The shared checkpoints are
   converted into a temp dir once; model tests skip when ../shared is absent. */
#define _XOPEN_SOURCE 700   /* nftw */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/status.h"
#include "io/image.h"
#include "io/segc_file.h"
#include "models/maskrcnn.h"
#include "models/registry.h"
#include "models/sam2.h"
#include "ops/softmax.h"
#include "segc.h"
#include "test_shared_models.h"
#include "test_util.h"

static char tmp[4096];
static char hrnet_segc[4200], deeplab_segc[4200], maskrcnn_segc[4200], sam2_segc[4200];   /* "" if absent */

/* Unchecked fixture (parent process, once per run). */
static void setup_once(void) {
    snprintf(tmp, sizeof tmp, "%s/api", test_tmp_dir());
    mkdir(tmp, 0777);
    test_convert_shared("hrnet_w18_small_v2_cityscapes_random.pth", tmp, "hrnet.segc", hrnet_segc, sizeof hrnet_segc);
    test_convert_shared("deeplabv3plus_mobilenet_voc_os16_random.pth", tmp, "deeplab.segc", deeplab_segc, sizeof deeplab_segc);
    test_convert_shared("maskrcnn_resnet50_fpn_random_fp16.pth", tmp, "maskrcnn.segc", maskrcnn_segc, sizeof maskrcnn_segc);
    test_convert_shared("sam2.1_hiera_tiny_random_bf16.pt", tmp, "sam2.segc", sam2_segc, sizeof sam2_segc);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void teardown_once(void) {
    if (tmp[0]) nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    rmdir(test_tmp_dir());
}

/* Opens a converted model through the API; NULL (with a SKIP line) if absent or not in this build. */
static segc_model *open_or_skip(const char *path, const char *what) {
    char msg[512];
    if (!path[0]) {
        snprintf(msg, sizeof msg, "api: %s: ../shared not found or conversion failed", what);
        test_skip(msg);
        return NULL;
    }
    segc_model *m = NULL;
    segc_status st = segc_model_open(path, &m);
    if (st == SEGC_ERR_UNSUPPORTED) {
        snprintf(msg, sizeof msg, "api: %s: not in this build (%s)", what, segc_last_error());
        test_skip(msg);
        return NULL;
    }
    ck_assert_msg(st == SEGC_OK, "open %s: %s", path, segc_last_error());
    return m;
}

/* A w x h crop (top-left at x0, y0) of a shared reference input: real pixels at a test-friendly size. */
static segc_image reference_crop(const char *rel, int x0, int y0, int w, int h) {
    char path[4096];
    snprintf(path, sizeof path, "%s/reference/%s", test_shared_dir(), rel);
    segc_image full, crop;
    ck_assert_msg(segc_image_load(path, &full) == SEGC_OK, "%s", segc_last_error());
    ck_assert(x0 + w <= full.width && y0 + h <= full.height);
    uint8_t *px = malloc((size_t)w * h * 3);
    ck_assert_ptr_nonnull(px);
    for (int y = 0; y < h; y++) memcpy(px + (size_t)y * w * 3, full.rgb + ((size_t)(y0 + y) * full.width + x0) * 3, (size_t)w * 3);
    ck_assert_int_eq(segc_image_from_rgb(px, w, h, &crop), SEGC_OK);
    free(px);
    segc_image_free(&full);
    return crop;
}

/* The message of the last failure mentions `text`. */
static void expect_error(segc_status st, segc_status want, const char *text) {
    ck_assert_msg(st == want, "status %d (%s), want %d; reason: %s", st, segc_status_string(st), want, segc_last_error());
    ck_assert_msg(strstr(segc_last_error(), text), "reason '%s' does not mention '%s'", segc_last_error(), text);
}

/* ---- without models ---- */

START_TEST(test_open_rejects_bad_arguments_and_files) {
    segc_model *m = (segc_model *)1;
    expect_error(segc_model_open(NULL, &m), SEGC_ERR_INVALID_ARG, "path is NULL");
    ck_assert_ptr_null(m);
    expect_error(segc_model_open("x.segc", NULL), SEGC_ERR_INVALID_ARG, "out is NULL");
    char path[4200];
    snprintf(path, sizeof path, "%s/absent.segc", tmp);
    expect_error(segc_model_open(path, &m), SEGC_ERR_NOT_FOUND, "absent.segc");
    ck_assert_ptr_null(m);

    /* a valid .segc of an architecture no build knows */
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_str(w, "arch", "resnet_classifier"), SEGC_OK);
    snprintf(path, sizeof path, "%s/other.segc", tmp);
    ck_assert_int_eq(segc_file_writer_write(w, path, NULL, NULL), SEGC_OK);
    segc_file_writer_free(w);
    expect_error(segc_model_open(path, &m), SEGC_ERR_UNSUPPORTED, "resnet_classifier");
    ck_assert_ptr_null(m);

    /* NULL handles: calls fail, queries give neutral answers, close is a no-op */
    segc_model_close(NULL);
    ck_assert_str_eq(segc_model_arch(NULL), "");
    ck_assert_int_eq(segc_model_num_classes(NULL), 0);
    ck_assert_ptr_null(segc_model_class_name(NULL, 0));
    uint8_t px[3] = {0};
    segc_semantic_result r;
    expect_error(segc_model_segment(NULL, px, 1, 1, 0, &r), SEGC_ERR_INVALID_ARG, "model is NULL");
    expect_error(segc_model_set_image(NULL, px, 1, 1), SEGC_ERR_INVALID_ARG, "model is NULL");
    segc_prompt_result pr;
    expect_error(segc_model_predict(NULL, NULL, &pr), SEGC_ERR_INVALID_ARG, "model is NULL");
}
END_TEST

START_TEST(test_rgb_load_reports_bad_files) {
    uint8_t *rgb = (uint8_t *)1;
    int w = 5, h = 5;
    char path[4200];
    snprintf(path, sizeof path, "%s/not_an_image.png", tmp);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    fputs("hello", fp);
    fclose(fp);
    expect_error(segc_rgb_load(path, &rgb, &w, &h), SEGC_ERR_FORMAT, "not_an_image.png");
    ck_assert(rgb == NULL && w == 0 && h == 0);
    expect_error(segc_rgb_load(NULL, &rgb, &w, &h), SEGC_ERR_INVALID_ARG, "NULL");
    uint8_t px[2 * 3 * 3];
    for (int i = 0; i < 18; i++) px[i] = (uint8_t)(i * 13);
    snprintf(path, sizeof path, "%s/ok.png", tmp);
    ck_assert_int_eq(segc_png_write(path, 3, 2, 3, px), SEGC_OK);
    ck_assert_int_eq(segc_rgb_load(path, &rgb, &w, &h), SEGC_OK);
    ck_assert(w == 3 && h == 2 && memcmp(rgb, px, sizeof px) == 0);
    segc_rgb_free(rgb);
}
END_TEST

/* ---- semantic ---- */

/* The API on an image equals the registry's forward + argmax on the same image, bit for bit. */
static void check_semantic(const char *path, const char *what, const char *arch, int classes, const char *class0) {
    segc_model *m = open_or_skip(path, what);
    if (!m) return;
    ck_assert_str_eq(segc_model_arch(m), arch);
    ck_assert_int_eq(segc_model_get_task(m), SEGC_MODEL_SEMANTIC);
    ck_assert_int_eq(segc_model_num_classes(m), classes);
    ck_assert_str_eq(segc_model_class_name(m, 0), class0);
    ck_assert_ptr_null(segc_model_class_name(m, classes));
    ck_assert_ptr_null(segc_model_class_name(m, -1));
    ck_assert_str_ne(segc_model_variant(m), "");

    segc_image img = reference_crop(!strcmp(arch, "hrnet") ? "hrnet/cars_1024x512/input.png" : "deeplabv3plus/voc_1/input.png",
                                    37, 21, 131, 77);
    segc_semantic_result r;
    ck_assert_msg(segc_model_segment(m, img.rgb, img.width, img.height, 1, &r) == SEGC_OK, "%s", segc_last_error());
    ck_assert(r.width == img.width && r.height == img.height && r.num_classes == classes);
    ck_assert(r.labels && r.logits);
    ck_assert_uint_gt(segc_model_memory_bytes(m), 0);

    /* the internal call */
    segc_file *f;
    void *model;
    const segc_arch_entry *entry;
    ck_assert_int_eq(segc_arch_open(path, &f, &entry, &model), SEGC_OK);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_tensor logits, labels;
    ck_assert_int_eq(entry->semantic(model, &ctx, &img, &logits), SEGC_OK);
    int64_t shape[2] = {img.height, img.width};
    ck_assert_int_eq(segc_tensor_new(&arena, SEGC_U8, 2, shape, &labels), SEGC_OK);
    ck_assert_int_eq(segc_argmax_channels(&logits, &labels), SEGC_OK);
    size_t hw = (size_t)img.width * img.height;
    ck_assert(memcmp(r.labels, labels.data, hw) == 0);
    ck_assert(memcmp(r.logits, logits.data, hw * (size_t)classes * sizeof(float)) == 0);

    /* a second call replaces the first; without logits asked none are given */
    segc_semantic_result r2;
    ck_assert_int_eq(segc_model_segment(m, img.rgb, img.width, img.height, 0, &r2), SEGC_OK);
    ck_assert_ptr_null(r2.logits);
    ck_assert(memcmp(r2.labels, labels.data, hw) == 0);

    /* misuse */
    segc_instance_result ir;
    expect_error(segc_model_detect(m, img.rgb, img.width, img.height, &ir), SEGC_ERR_INVALID_ARG, "segc_model_segment");
    expect_error(segc_model_set_image(m, img.rgb, img.width, img.height), SEGC_ERR_INVALID_ARG, "does not do this");
    segc_prompt p = {0};
    segc_prompt_result pr;
    expect_error(segc_model_predict(m, &p, &pr), SEGC_ERR_INVALID_ARG, "does not do this");
    expect_error(segc_model_segment(m, NULL, 4, 4, 0, &r), SEGC_ERR_INVALID_ARG, "pixels are NULL");
    expect_error(segc_model_segment(m, img.rgb, 0, 4, 0, &r), SEGC_ERR_INVALID_ARG, "outside the supported size");
    expect_error(segc_model_segment(m, img.rgb, 20000, 1, 0, &r), SEGC_ERR_INVALID_ARG, "outside the supported size");
    expect_error(segc_model_segment(m, img.rgb, 9000, 9000, 0, &r), SEGC_ERR_INVALID_ARG, "outside the supported size");
    expect_error(segc_model_segment(m, img.rgb, img.width, img.height, 0, NULL), SEGC_ERR_INVALID_ARG, "out is NULL");

    segc_arena_free(&arena);
    entry->free(model);
    segc_file_close(f);
    segc_image_free(&img);
    segc_model_close(m);
}

START_TEST(test_segment_hrnet_equals_internal_call) { check_semantic(hrnet_segc, "hrnet", "hrnet", 19, "road"); }
END_TEST

START_TEST(test_segment_deeplab_equals_internal_call) {
    check_semantic(deeplab_segc, "deeplabv3plus", "deeplabv3plus", 21, "__background__");
}
END_TEST

/* ---- instance ---- */

START_TEST(test_detect_maskrcnn_equals_internal_call) {
    segc_model *m = open_or_skip(maskrcnn_segc, "maskrcnn");
    if (!m) return;
    ck_assert_int_eq(segc_model_get_task(m), SEGC_MODEL_INSTANCE);
    ck_assert_int_eq(segc_model_num_classes(m), 91);
    ck_assert_str_eq(segc_model_class_name(m, 1), "person");
    segc_image img = reference_crop("maskrcnn_r50_fpn/groceries/input.png", 200, 100, 160, 160);
    segc_instance_result r;
    ck_assert_msg(segc_model_detect(m, img.rgb, img.width, img.height, &r) == SEGC_OK, "%s", segc_last_error());
    ck_assert(r.width == img.width && r.height == img.height);

    segc_file *f;
    void *model;
    ck_assert_int_eq(segc_file_open(maskrcnn_segc, &f), SEGC_OK);
    ck_assert_int_eq(segc_maskrcnn_load(f, &model), SEGC_OK);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_detections d;
    ck_assert_int_eq(segc_maskrcnn_detect(model, &ctx, &img, NULL, &d), SEGC_OK);
    printf("api: maskrcnn %d detections\n", d.count);
    ck_assert_int_eq(r.count, d.count);
    ck_assert(memcmp(r.boxes, d.boxes, (size_t)d.count * 4 * sizeof(float)) == 0);
    ck_assert(memcmp(r.scores, d.scores, (size_t)d.count * sizeof(float)) == 0);
    ck_assert(memcmp(r.labels, d.labels, (size_t)d.count * sizeof(int32_t)) == 0);
    ck_assert(memcmp(r.masks, d.masks, (size_t)d.count * img.width * img.height) == 0);
    int n_names;
    const char *const *names = segc_maskrcnn_class_names(model, &n_names);
    for (int i = 0; i < r.count; i++) {
        ck_assert_int_lt(r.labels[i], n_names);
        ck_assert_str_eq(r.names[i], names[r.labels[i]]);
        if (i) ck_assert(r.scores[i] <= r.scores[i - 1]);
    }

    segc_semantic_result sr;
    expect_error(segc_model_segment(m, img.rgb, img.width, img.height, 0, &sr), SEGC_ERR_INVALID_ARG, "segc_model_detect");
    expect_error(segc_model_detect(m, img.rgb, img.width, img.height, NULL), SEGC_ERR_INVALID_ARG, "out is NULL");

    segc_arena_free(&arena);
    segc_maskrcnn_free(model);
    segc_file_close(f);
    segc_image_free(&img);
    segc_model_close(m);
}
END_TEST

/* ---- promptable ---- */

/* API prediction == internal prediction on the internal embedding. */
static void check_same_prediction(const segc_prompt_result *r, const segc_sam2_outputs *o) {
    ck_assert_int_eq(r->num_masks, o->num_masks);
    size_t hw = (size_t)r->width * r->height;
    ck_assert(memcmp(r->masks, o->masks.data, hw * (size_t)r->num_masks) == 0);
    ck_assert(memcmp(r->low_res_logits, o->low_res_logits.data, (size_t)r->num_masks * 256 * 256 * sizeof(float)) == 0);
    for (int k = 0; k < r->num_masks; k++) ck_assert_float_eq(r->iou[k], o->iou[k]);
    ck_assert_float_eq(r->object_score, o->object_score_logit);
}

START_TEST(test_sam2_session_equals_internal_calls) {
    segc_model *m = open_or_skip(sam2_segc, "sam2");
    if (!m) return;
    ck_assert_int_eq(segc_model_get_task(m), SEGC_MODEL_PROMPTABLE);
    ck_assert_int_eq(segc_model_num_classes(m), 0);
    segc_image img = reference_crop("sam2.1_tiny/truck_point/input.png", 0, 0, 900, 600);
    float pts[4] = {500, 375, 300, 200};
    int labels[2] = {1, 0};
    float box[4] = {75, 275, 875, 575};
    segc_prompt p = {.num_points = 1, .points = pts, .point_labels = labels, .multimask = 1};
    segc_prompt_result r;
    expect_error(segc_model_predict(m, &p, &r), SEGC_ERR_INVALID_ARG, "segc_model_set_image first");
    ck_assert_msg(segc_model_set_image(m, img.rgb, img.width, img.height) == SEGC_OK, "%s", segc_last_error());

    segc_file *f;
    void *model;
    ck_assert_int_eq(segc_file_open(sam2_segc, &f), SEGC_OK);
    ck_assert_int_eq(segc_sam2_load(f, &model), SEGC_OK);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_sam2_embedding emb;
    ck_assert_int_eq(segc_sam2_encode(model, &ctx, &img, &emb), SEGC_OK);
    segc_sam2_point sp[2] = {{500, 375, 1}, {300, 200, 0}};
    segc_sam2_outputs o;

    /* one point, multimask */
    ck_assert_msg(segc_model_predict(m, &p, &r) == SEGC_OK, "%s", segc_last_error());
    ck_assert(r.num_masks == 3 && r.width == 900 && r.height == 600);
    segc_sam2_prompts ip = {.num_points = 1, .points = sp};
    ck_assert_int_eq(segc_sam2_predict(model, &ctx, &emb, &ip, 1, 0, &o), SEGC_OK);
    check_same_prediction(&r, &o);
    int best = 0;
    for (int k = 1; k < 3; k++) best = r.iou[k] > r.iou[best] ? k : best;
    float *mask_in = malloc(256 * 256 * sizeof(float));
    ck_assert_ptr_nonnull(mask_in);
    memcpy(mask_in, r.low_res_logits + (size_t)best * 256 * 256, 256 * 256 * sizeof(float));

    /* two points, a box and the previous mask, single mask */
    segc_prompt p2 = {.num_points = 2, .points = pts, .point_labels = labels, .box = box, .mask_input = mask_in};
    ck_assert_msg(segc_model_predict(m, &p2, &r) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(r.num_masks, 1);
    int64_t mshape[3] = {1, 256, 256};
    segc_tensor mt = segc_tensor_wrap(SEGC_F32, 3, mshape, mask_in);
    segc_sam2_prompts ip2 = {.num_points = 2, .points = sp, .has_box = 1, .box = {75, 275, 875, 575}, .mask_input = &mt};
    ck_assert_int_eq(segc_sam2_predict(model, &ctx, &emb, &ip2, 0, 0, &o), SEGC_OK);
    check_same_prediction(&r, &o);

    /* bad prompts fail and leave the session usable */
    segc_prompt bad = {0};
    expect_error(segc_model_predict(m, &bad, &r), SEGC_ERR_INVALID_ARG, "no points, box or mask input");
    int bad_label[1] = {5};
    bad = (segc_prompt){.num_points = 1, .points = pts, .point_labels = bad_label};
    expect_error(segc_model_predict(m, &bad, &r), SEGC_ERR_INVALID_ARG, "label 5");
    bad = (segc_prompt){.num_points = 1, .points = NULL, .point_labels = labels};
    expect_error(segc_model_predict(m, &bad, &r), SEGC_ERR_INVALID_ARG, "NULL");
    bad = (segc_prompt){.num_points = SEGC_PROMPT_MAX_POINTS + 1, .points = pts, .point_labels = labels};
    expect_error(segc_model_predict(m, &bad, &r), SEGC_ERR_INVALID_ARG, "points");
    expect_error(segc_model_predict(m, NULL, &r), SEGC_ERR_INVALID_ARG, "NULL");
    segc_instance_result ir;
    expect_error(segc_model_detect(m, img.rgb, img.width, img.height, &ir), SEGC_ERR_INVALID_ARG, "segc_model_set_image");
    ck_assert_msg(segc_model_predict(m, &p2, &r) == SEGC_OK, "%s", segc_last_error());
    check_same_prediction(&r, &o);

    /* a set_image rejected before encoding keeps the current image */
    expect_error(segc_model_set_image(m, img.rgb, 0, 600), SEGC_ERR_INVALID_ARG, "outside");
    ck_assert_msg(segc_model_predict(m, &p2, &r) == SEGC_OK, "the image must survive a rejected set_image");
    free(mask_in);
    segc_arena_free(&arena);
    segc_sam2_free(model);
    segc_file_close(f);
    segc_image_free(&img);
    segc_model_close(m);
}
END_TEST

static Suite *api_suite(void) {
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_open_rejects_bad_arguments_and_files);
    tcase_add_test(tc, test_rgb_load_reports_bad_files);
    tcase_add_test(tc, test_segment_hrnet_equals_internal_call);
    tcase_add_test(tc, test_segment_deeplab_equals_internal_call);
    tcase_add_test(tc, test_detect_maskrcnn_equals_internal_call);
    tcase_add_test(tc, test_sam2_session_equals_internal_calls);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(api_suite()); }
