/* test_model_hrnet.c - HRNetV2 W18-small-v2 (Cityscapes) against the authors' code:
   converts ../shared/weights/hrnet_w18_small_v2_cityscapes_random.pth once per run, runs
   ../shared/reference/hrnet/cars_1024x512/input.png through segc_hrnet_semantic with every tap, and checks
   every reference file with the tolerance of the case README. Skips when ../shared is absent. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/status.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/segc_file.h"
#include "models/hrnet.h"
#include "test_reference.h"
#include "test_util.h"

#define CASE_NAME "cars_1024x512"
#define WEIGHTS "hrnet_w18_small_v2_cityscapes_random.pth"

static char segc_path[4096];
static int converted;      /* set by the fixture in the parent process */

/* Unchecked fixture: one conversion for the whole suite (tests run in forked children). */
static void convert_once(void) {
    const char *shared = test_shared_dir();
    if (!shared) return;
    char in[4096];
    snprintf(in, sizeof in, "%s/weights/%s", shared, WEIGHTS);
    snprintf(segc_path, sizeof segc_path, "%s/hrnet_w18_small_v2.segc", test_tmp_dir());
    segc_convert_options o;
    segc_convert_options_default(&o);
    segc_status st = segc_convert_file(in, segc_path, &o);
    if (st) fprintf(stderr, "convert %s: %s\n", in, segc_last_error());
    converted = st == SEGC_OK;
}

/* Reference file per tap: name, file stem, sample steps (1 = whole array in <stem>.npy). */
typedef struct tap_ref {
    const char *tap;
    const char *file;
    int64_t step[4];
    int seen;
} tap_ref;

static tap_ref refs[] = {
    {"input", "000_input", {1, 1, 16, 16}, 0},
    {"stem", "005_stem", {1, 8, 4, 4}, 0},
    {"layer1", "010_layer1", {1, 32, 4, 4}, 0},
    {"stage2.branch0", "020_stage2_branch0", {1, 2, 8, 8}, 0},
    {"stage2.branch1", "020_stage2_branch1", {1, 4, 4, 4}, 0},
    {"stage3.branch0", "030_stage3_branch0", {1, 2, 8, 8}, 0},
    {"stage3.branch1", "030_stage3_branch1", {1, 4, 4, 4}, 0},
    {"stage3.branch2", "030_stage3_branch2", {1, 8, 2, 2}, 0},
    {"stage4.branch0", "040_stage4_branch0", {1, 2, 8, 8}, 0},
    {"stage4.branch1", "040_stage4_branch1", {1, 4, 4, 4}, 0},
    {"stage4.branch2", "040_stage4_branch2", {1, 8, 2, 2}, 0},
    {"stage4.branch3", "040_stage4_branch3", {1, 16, 1, 1}, 0},
    {"concat", "050_concat", {1, 16, 8, 8}, 0},
    {"last_layer.2", "055_last_layer_hidden", {1, 16, 8, 8}, 0},
    {"last_layer", "060_logits_quarter", {1, 1, 1, 1}, 0},
    {"logits", "065_logits", {1, 1, 16, 16}, 0},
};
#define NREFS ((int)(sizeof refs / sizeof refs[0]))

/* 060_logits_quarter.npy is float16: |diff| <= 2e-3 * max|ref| over the whole array. */
static void check_f16_full(const char *dir, const char *file, const segc_tensor *got) {
    char name[128];
    snprintf(name, sizeof name, "%s.npy", file);
    segc_npy want;
    ref_load(dir, name, &want);
    segc_arena a;
    segc_arena_init(&a, 0);
    segc_tensor wt = segc_npy_tensor(&want), w32;
    ck_assert_int_eq(segc_tensor_to_f32(&a, &wt, &w32), SEGC_OK);
    ck_assert_msg(segc_tensor_has_shape(got, 4, w32.shape), "%s: shape differs", file);
    size_t n = (size_t)segc_tensor_numel(&w32);
    double maxabs = test_max_abs(w32.data, n);
    test_assert_close(got->data, w32.data, n, 2e-3 * maxabs, 0, file);
    printf("  %-40s max|diff| %.3g (tol %.3g)\n", file, test_max_abs_diff(got->data, w32.data, n, NULL), 2e-3 * maxabs);
    segc_arena_free(&a);
    segc_npy_free(&want);
}

/* Tap callback: compares each named intermediate with its reference file as soon as it is offered. */
static segc_status on_tap(void *user, const char *name, const segc_tensor *t) {
    const char *dir = user;
    for (int i = 0; i < NREFS; i++) {
        if (strcmp(refs[i].tap, name)) continue;
        refs[i].seen++;
        if (!strcmp(refs[i].file, "060_logits_quarter")) check_f16_full(dir, refs[i].file, t);
        else if (!strcmp(refs[i].file, "000_input"))
            ref_check_sampled(dir, refs[i].file, t, refs[i].step, 1e-6, 0, 1e-3);
        else ref_check_sampled(dir, refs[i].file, t, refs[i].step, 0, 1e-3, 1e-3);
    }
    return SEGC_OK;
}

START_TEST(test_hrnet_matches_reference_taps_and_labels) {
    char dir_buf[4096];
    const char *dir = ref_case_dir("hrnet", CASE_NAME, dir_buf, sizeof dir_buf);
    if (!dir) {
        test_skip("hrnet: ../shared/reference/hrnet/" CASE_NAME " not found (set SEGC_SHARED)");
        return;
    }
    ck_assert_msg(converted, "conversion of %s failed (see stderr)", WEIGHTS);
    segc_file *f = NULL;
    ck_assert_msg(segc_file_open(segc_path, &f) == SEGC_OK, "%s", segc_last_error());
    void *model = NULL;
    ck_assert_msg(segc_hrnet_load(f, &model) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(segc_hrnet_num_classes(model), 19);

    char path[4096];
    snprintf(path, sizeof path, "%s/input.png", dir);
    segc_image img;
    ck_assert_msg(segc_image_load(path, &img) == SEGC_OK, "%s", segc_last_error());
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    ctx.tap = on_tap;
    ctx.tap_user = (void *)dir;
    segc_tensor logits;
    ck_assert_msg(segc_hrnet_semantic(model, &ctx, &img, &logits) == SEGC_OK, "%s", segc_last_error());
    for (int i = 0; i < NREFS; i++)
        ck_assert_msg(refs[i].seen == 1, "tap %s offered %d times", refs[i].tap, refs[i].seen);

    /* labels: argmax over the 19 classes at the input size, >= 99.9 % equal */
    segc_npy labels;
    ref_load(dir, "070_labels.npy", &labels);
    ck_assert_int_eq(labels.dtype, SEGC_U8);
    int64_t h = logits.shape[2], w = logits.shape[3], k = logits.shape[1], equal = 0;
    ck_assert(labels.shape[0] == h && labels.shape[1] == w);
    const float *lg = logits.data;
    const uint8_t *want = labels.data;
    for (int64_t p = 0; p < h * w; p++) {
        int best = 0;
        for (int c = 1; c < k; c++)
            if (lg[c * h * w + p] > lg[best * h * w + p]) best = c;
        equal += best == want[p];
    }
    double agree = (double)equal / (double)(h * w);
    printf("  labels: %.4f %% of pixels equal\n", 100.0 * agree);
    ck_assert_msg(agree >= 0.999, "labels: only %.4f %% equal", 100.0 * agree);

    /* without taps the head runs on row tiles (no concat / hidden maps): the same logits */
    segc_ctx plain = segc_ctx_plain(&arena);
    segc_tensor tiled;
    ck_assert_msg(segc_hrnet_semantic(model, &plain, &img, &tiled) == SEGC_OK, "%s", segc_last_error());
    size_t nl = (size_t)segc_tensor_numel(&logits);
    double tmax = test_max_abs(logits.data, nl);
    printf("  tiled head vs full head: max|diff| %.3g\n", test_max_abs_diff(tiled.data, logits.data, nl, NULL));
    test_assert_close(tiled.data, logits.data, nl, 1e-5 * tmax, 0, "tiled head");


    segc_npy_free(&labels);
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_hrnet_free(model);
    segc_file_close(f);
}
END_TEST

/* The converter recovers the W18-small-v2 config (experiments/cityscapes yaml) from the keys. */
START_TEST(test_hrnet_convert_metadata) {
    if (!test_shared_dir()) {
        test_skip("hrnet: ../shared not found (set SEGC_SHARED)");
        return;
    }
    ck_assert(converted);
    segc_file *f = NULL;
    ck_assert_int_eq(segc_file_open(segc_path, &f), SEGC_OK);
    const char *s = NULL;
    ck_assert_int_eq(segc_file_get_str(f, "arch", &s), SEGC_OK);
    ck_assert_str_eq(s, "hrnet");
    ck_assert_int_eq(segc_file_get_str(f, "variant", &s), SEGC_OK);
    ck_assert_str_eq(s, "w18_small_v2");
    ck_assert_int_eq(segc_file_get_str(f, "dataset", &s), SEGC_OK);
    ck_assert_str_eq(s, "cityscapes");
    int64_t v, blocks[4], channels[4];
    static const int64_t modules[4] = {1, 1, 3, 2}, want_channels[4] = {18, 36, 72, 144};
    for (int st = 1; st <= 4; st++) {
        char key[64];
        snprintf(key, sizeof key, "hrnet.stage%d.num_modules", st);
        ck_assert_int_eq(segc_file_get_int(f, key, &v), SEGC_OK);
        ck_assert_int_eq(v, modules[st - 1]);
        snprintf(key, sizeof key, "hrnet.stage%d.num_branches", st);
        ck_assert_int_eq(segc_file_get_int(f, key, &v), SEGC_OK);
        ck_assert_int_eq(v, st);
        snprintf(key, sizeof key, "hrnet.stage%d.num_blocks", st);
        ck_assert_int_eq(segc_file_get_ints(f, key, blocks, v), SEGC_OK);
        snprintf(key, sizeof key, "hrnet.stage%d.num_channels", st);
        ck_assert_int_eq(segc_file_get_ints(f, key, channels, v), SEGC_OK);
        for (int b = 0; b < st; b++) {
            ck_assert_int_eq(blocks[b], 2);
            ck_assert_int_eq(channels[b], st == 1 ? 64 : want_channels[b]);
        }
        snprintf(key, sizeof key, "hrnet.stage%d.block", st);
        ck_assert_int_eq(segc_file_get_str(f, key, &s), SEGC_OK);
        ck_assert_str_eq(s, st == 1 ? "BOTTLENECK" : "BASIC");
    }
    ck_assert_int_eq(segc_file_get_int(f, "hrnet.final_conv_kernel", &v), SEGC_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_ptr_null(segc_file_find(f, "loss.criterion.weight"));
    ck_assert_ptr_null(segc_file_find(f, "bn1.num_batches_tracked"));
    ck_assert_ptr_nonnull(segc_file_find(f, "stage4.1.fuse_layers.3.0.2.0.weight"));
    segc_file_close(f);
}
END_TEST

/* Files without the hrnet.* keys or weights, and empty images, give an error and a message. */
START_TEST(test_hrnet_rejects_bad_files_and_inputs) {
    char path[4096];
    snprintf(path, sizeof path, "%s/hrnet_bad.segc", test_tmp_dir());
    segc_file_writer *w = NULL;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    float x[4] = {0};
    const int64_t shape[4] = {1, 1, 2, 2};
    ck_assert_int_eq(segc_file_writer_add_str(w, "arch", "hrnet"), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "conv1.weight", SEGC_F32, 4, shape, x), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_write(w, path, NULL, NULL), SEGC_OK);
    segc_file_writer_free(w);
    segc_file *f = NULL;
    ck_assert_int_eq(segc_file_open(path, &f), SEGC_OK);
    void *model = (void *)1;
    ck_assert_int_ne(segc_hrnet_load(f, &model), SEGC_OK);
    ck_assert_ptr_null(model);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "hrnet.stage1"));
    segc_file_close(f);

    if (!converted) return;
    ck_assert_int_eq(segc_file_open(segc_path, &f), SEGC_OK);
    ck_assert_int_eq(segc_hrnet_load(f, &model), SEGC_OK);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_image empty = {0, 0, NULL};
    segc_tensor out;
    ck_assert_int_eq(segc_hrnet_semantic(model, &ctx, &empty, &out), SEGC_ERR_INVALID_ARG);
    float bad[2 * 4 * 4] = {0};
    segc_tensor two_channels = segc_tensor_f32(bad, 4, 1, 2, 4, 4);
    ck_assert_int_eq(segc_hrnet_forward(model, &ctx, &two_channels, &out), SEGC_ERR_SHAPE);
    /* a tiny odd-sized image still runs (every branch at least 1x1) */
    uint8_t rgb[5 * 3 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 37);
    segc_image small;
    ck_assert_int_eq(segc_image_from_rgb(rgb, 5, 3, &small), SEGC_OK);
    ck_assert_msg(segc_hrnet_semantic(model, &ctx, &small, &out) == SEGC_OK, "%s", segc_last_error());
    ck_assert(out.shape[1] == 19 && out.shape[2] == 3 && out.shape[3] == 5);
    for (int64_t i = 0; i < segc_tensor_numel(&out); i++) ck_assert(isfinite(((float *)out.data)[i]));
    segc_image_free(&small);
    segc_arena_free(&arena);
    segc_hrnet_free(model);
    segc_file_close(f);
}
END_TEST

/* tests/data/hrnet (tests/gen/fixtures_hrnet.py, the authors' code): a tiny config unlike every published
   one (16-wide stem, 2 modules in stage 2, uneven blocks, FINAL_CONV_KERNEL 3), odd 45x37 input, legacy
   torch container with float16 storages. Runs without ../shared. */
START_TEST(test_hrnet_tiny_config_matches_torch) {
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/hrnet/tiny_hrnet.pth", test_data_dir());
    snprintf(out, sizeof out, "%s/hrnet_tiny.segc", test_tmp_dir());
    ck_assert_msg(segc_convert_file(in, out, NULL) == SEGC_OK, "%s", segc_last_error());
    segc_file *f = NULL;
    ck_assert_int_eq(segc_file_open(out, &f), SEGC_OK);
    const char *variant = NULL;
    int64_t kernel = 0, modules = 0;
    ck_assert_int_eq(segc_file_get_str(f, "variant", &variant), SEGC_OK);
    ck_assert_str_eq(variant, "custom_w2");
    ck_assert_int_eq(segc_file_get_int(f, "hrnet.final_conv_kernel", &kernel), SEGC_OK);
    ck_assert_int_eq(kernel, 3);
    ck_assert_int_eq(segc_file_get_int(f, "hrnet.stage2.num_modules", &modules), SEGC_OK);
    ck_assert_int_eq(modules, 2);
    void *model = NULL;
    ck_assert_msg(segc_hrnet_load(f, &model) == SEGC_OK, "%s", segc_last_error());

    segc_npy rgb, want, labels;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/hrnet", test_data_dir());
    ref_load(dir, "tiny_image.npy", &rgb);
    ref_load(dir, "tiny_logits_quarter.npy", &want);
    ref_load(dir, "tiny_labels.npy", &labels);
    ck_assert(rgb.dtype == SEGC_U8 && rgb.ndim == 3 && rgb.shape[2] == 3);
    segc_image img;
    ck_assert_int_eq(segc_image_from_rgb(rgb.data, (int)rgb.shape[1], (int)rgb.shape[0], &img), SEGC_OK);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_tensor x, quarter, logits;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    ck_assert_int_eq(segc_image_normalize(&arena, &img, mean, std, 0, &x), SEGC_OK);
    ck_assert_msg(segc_hrnet_forward(model, &ctx, &x, &quarter) == SEGC_OK, "%s", segc_last_error());
    segc_tensor wt = segc_npy_tensor(&want);
    ck_assert(segc_tensor_has_shape(&quarter, 4, wt.shape));
    size_t n = (size_t)segc_tensor_numel(&wt);
    test_assert_close(quarter.data, wt.data, n, 1e-3 * test_max_abs(wt.data, n), 0, "tiny logits at 1/4");
    printf("  tiny logits at 1/4: max|diff| %.3g (max|ref| %.3g)\n", test_max_abs_diff(quarter.data, wt.data, n, NULL),
           test_max_abs(wt.data, n));

    ck_assert_int_eq(segc_hrnet_semantic(model, &ctx, &img, &logits), SEGC_OK);
    int64_t h = logits.shape[2], w = logits.shape[3], equal = 0;
    ck_assert(labels.shape[0] == h && labels.shape[1] == w);
    for (int64_t p = 0; p < h * w; p++) {
        int best = 0;
        for (int c = 1; c < logits.shape[1]; c++)
            if (((float *)logits.data)[c * h * w + p] > ((float *)logits.data)[best * h * w + p]) best = c;
        equal += best == ((uint8_t *)labels.data)[p];
    }
    ck_assert_msg(equal >= h * w - 2, "tiny labels: %lld of %lld equal", (long long)equal, (long long)(h * w));

    /* a second pass on the same arena allocates nothing new from the system */
    segc_arena_reset(&arena);
    size_t before = arena.system_allocs;
    ck_assert_int_eq(segc_hrnet_semantic(model, &ctx, &img, &logits), SEGC_OK);
    ck_assert_uint_eq(arena.system_allocs, before);

    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_npy_free(&rgb);
    segc_npy_free(&want);
    segc_npy_free(&labels);
    segc_hrnet_free(model);
    segc_file_close(f);
}
END_TEST


/* Loads tests/data/hrnet/tiny_hrnet.pth (converted into test_tmp_dir) and tiny_image.npy. */
static void tiny_open(segc_file **f, void **model, segc_npy *rgb, segc_image *img) {
    char in[4096], out[4096], dir[4096];
    snprintf(in, sizeof in, "%s/hrnet/tiny_hrnet.pth", test_data_dir());
    snprintf(out, sizeof out, "%s/hrnet_tiny_ms.segc", test_tmp_dir());
    ck_assert_msg(segc_convert_file(in, out, NULL) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(segc_file_open(out, f), SEGC_OK);
    ck_assert_msg(segc_hrnet_load(*f, model) == SEGC_OK, "%s", segc_last_error());
    snprintf(dir, sizeof dir, "%s/hrnet", test_data_dir());
    ref_load(dir, "tiny_image.npy", rgb);
    ck_assert_int_eq(segc_image_from_rgb(rgb->data, (int)rgb->shape[1], (int)rgb->shape[0], img), SEGC_OK);
}

/* Runs one flip + 2-scale setting and compares with ms_<name>_{scores,labels}.npy
   (tests/gen/fixtures_hrnet_multiscale.py: the authors' multi_scale_inference). */
static void check_multiscale(void *model, const segc_image *img, const char *name,
                             const segc_hrnet_inference_settings *s) {
    char dir[4096], file[128];
    snprintf(dir, sizeof dir, "%s/hrnet", test_data_dir());
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_tensor scores;
    ck_assert_msg(segc_hrnet_semantic_ex(model, &ctx, img, s, &scores) == SEGC_OK, "%s", segc_last_error());
    segc_npy want, labels;
    snprintf(file, sizeof file, "ms_%s_scores.npy", name);
    ref_load(dir, file, &want);
    snprintf(file, sizeof file, "ms_%s_labels.npy", name);
    ref_load(dir, file, &labels);
    /* scores: final_pred[..., ::3, ::3], |diff| <= 1e-3 max|ref| */
    int64_t k = scores.shape[1], h = scores.shape[2], w = scores.shape[3];
    ck_assert(want.shape[1] == k && want.shape[2] == (h + 2) / 3 && want.shape[3] == (w + 2) / 3);
    size_t n = (size_t)(want.shape[1] * want.shape[2] * want.shape[3]);
    float *got = malloc(n * sizeof(float));
    size_t o = 0;
    for (int64_t c = 0; c < k; c++)
        for (int64_t i = 0; i < h; i += 3)
            for (int64_t j = 0; j < w; j += 3) got[o++] = ((float *)scores.data)[(c * h + i) * w + j];
    double maxabs = test_max_abs(want.data, n);
    printf("  multi-scale %-10s max|diff| %.3g (max|ref| %.4g)\n", name, test_max_abs_diff(got, want.data, n, NULL),
           maxabs);
    test_assert_close(got, want.data, n, 1e-3 * maxabs, 0, name);
    free(got);
    /* labels: argmax of final_pred, all but 2 pixels equal (the smallest fixture margin is 4e-3) */
    int64_t equal = 0;
    for (int64_t p = 0; p < h * w; p++) {
        int best = 0;
        for (int c = 1; c < k; c++)
            if (((float *)scores.data)[c * h * w + p] > ((float *)scores.data)[best * h * w + p]) best = c;
        equal += best == ((uint8_t *)labels.data)[p];
    }
    ck_assert_msg(equal >= h * w - 2, "%s labels: %lld of %lld equal", name, (long long)equal, (long long)(h * w));
    segc_npy_free(&want);
    segc_npy_free(&labels);
    segc_arena_free(&arena);
}

/* Flip + 2 scales through both window methods of the authors' code (Cityscapes: whole image at
   scale <= 1, end-aligned crops above; base_dataset: padded image, 2/3-stride padded crops). */
START_TEST(test_hrnet_flip_multiscale_matches_official) {
    segc_file *f = NULL;
    void *model = NULL;
    segc_npy rgb;
    segc_image img;
    tiny_open(&f, &model, &rgb, &img);
    segc_hrnet_inference_settings s = {.flip = 1, .count = 2, .scales = {0.75, 1.5}, .base_size = 48,
                                       .crop_h = 24, .crop_w = 40, .window = SEGC_HRNET_WINDOW_CITYSCAPES};
    check_multiscale(model, &img, "cityscapes", &s);
    segc_hrnet_inference_settings b = {.flip = 1, .count = 2, .scales = {0.5, 1.25}, .base_size = 48,
                                       .crop_h = 32, .crop_w = 32, .window = SEGC_HRNET_WINDOW_BASE};
    check_multiscale(model, &img, "base", &b);
    segc_image_free(&img);
    segc_npy_free(&rgb);
    segc_hrnet_free(model);
    segc_file_close(f);
}
END_TEST

/* One scale at the image's own size, no flip, no crop: exp of the plain semantic logits. Bad
   settings fail with a message. */
START_TEST(test_hrnet_single_scale_ex_is_exp_of_logits) {
    segc_file *f = NULL;
    void *model = NULL;
    segc_npy rgb;
    segc_image img;
    tiny_open(&f, &model, &rgb, &img);
    segc_hrnet_inference_settings s;
    segc_hrnet_inference_settings_default(model, &s);
    ck_assert_int_eq(s.count, 1);
    ck_assert(s.scales[0] == 1.0 && !s.flip);
    ck_assert_int_eq(s.base_size, 2048);   /* tiny_hrnet.pth converts as a Cityscapes model */
    s.base_size = 0, s.crop_h = 0, s.crop_w = 0;
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_tensor logits, scores;
    ck_assert_int_eq(segc_hrnet_semantic(model, &ctx, &img, &logits), SEGC_OK);
    ck_assert_msg(segc_hrnet_semantic_ex(model, &ctx, &img, &s, &scores) == SEGC_OK, "%s", segc_last_error());
    ck_assert(segc_tensor_has_shape(&scores, 4, logits.shape));
    for (int64_t i = 0; i < segc_tensor_numel(&logits); i++) {
        float want = expf(((float *)logits.data)[i]), got = ((float *)scores.data)[i];
        ck_assert_msg(fabsf(got - want) <= 1e-5f * fabsf(want), "%lld: %g vs %g", (long long)i, got, want);
    }
    segc_hrnet_inference_settings bad = s;
    bad.count = 0;
    ck_assert_int_eq(segc_hrnet_semantic_ex(model, &ctx, &img, &bad, &scores), SEGC_ERR_INVALID_ARG);
    bad = s, bad.scales[0] = -1.0;
    ck_assert_int_eq(segc_hrnet_semantic_ex(model, &ctx, &img, &bad, &scores), SEGC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "scale"));
    bad = s, bad.scales[0] = NAN;
    ck_assert_int_eq(segc_hrnet_semantic_ex(model, &ctx, &img, &bad, &scores), SEGC_ERR_INVALID_ARG);
    bad = s, bad.crop_h = 5;   /* crop_w 0 */
    ck_assert_int_eq(segc_hrnet_semantic_ex(model, &ctx, &img, &bad, &scores), SEGC_ERR_INVALID_ARG);
    bad = s, bad.base_size = 1, bad.scales[0] = 0.01;   /* long side int(0.51) = 0 */
    ck_assert_int_eq(segc_hrnet_semantic_ex(model, &ctx, &img, &bad, &scores), SEGC_ERR_INVALID_ARG);
    bad = s, bad.window = (segc_hrnet_window)7;
    ck_assert_int_eq(segc_hrnet_semantic_ex(model, &ctx, &img, &bad, &scores), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_hrnet_semantic_ex(model, &ctx, &img, NULL, &scores), SEGC_ERR_INVALID_ARG);
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_npy_free(&rgb);
    segc_hrnet_free(model);
    segc_file_close(f);
}
END_TEST


static segc_status ignore_tap(void *user, const char *name, const segc_tensor *t) {
    (void)user, (void)name, (void)t;
    return SEGC_OK;
}

/* The row-tiled head (no taps wanted) equals the full head (taps wanted) at an odd size whose
   quarter-resolution height (21) is not a multiple of the tile height. */
START_TEST(test_hrnet_tiled_head_matches_full_head_at_odd_size) {
    if (!converted) {
        test_skip("hrnet: ../shared not found (set SEGC_SHARED)");
        return;
    }
    segc_file *f = NULL;
    void *model = NULL;
    ck_assert_int_eq(segc_file_open(segc_path, &f), SEGC_OK);
    ck_assert_int_eq(segc_hrnet_load(f, &model), SEGC_OK);
    enum { W = 150, H = 83 };
    static uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)((i * 7919u) >> 3);
    segc_image img;
    ck_assert_int_eq(segc_image_from_rgb(rgb, W, H, &img), SEGC_OK);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx full = segc_ctx_plain(&arena), tiled = segc_ctx_plain(&arena);
    full.tap = ignore_tap;
    segc_tensor a, b;
    ck_assert_int_eq(segc_hrnet_semantic(model, &full, &img, &a), SEGC_OK);
    ck_assert_int_eq(segc_hrnet_semantic(model, &tiled, &img, &b), SEGC_OK);
    size_t n = (size_t)segc_tensor_numel(&a);
    test_assert_close(b.data, a.data, n, 1e-5 * test_max_abs(a.data, n), 0, "tiled head at 150x83");
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_hrnet_free(model);
    segc_file_close(f);
}
END_TEST

static Suite *hrnet_suite(void) {
    Suite *s = suite_create("model_hrnet");
    TCase *tc = tcase_create("hrnet");
    tcase_add_unchecked_fixture(tc, convert_once, NULL);
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, test_hrnet_convert_metadata);
    tcase_add_test(tc, test_hrnet_matches_reference_taps_and_labels);
    tcase_add_test(tc, test_hrnet_rejects_bad_files_and_inputs);
    tcase_add_test(tc, test_hrnet_tiny_config_matches_torch);
    tcase_add_test(tc, test_hrnet_flip_multiscale_matches_official);
    tcase_add_test(tc, test_hrnet_single_scale_ex_is_exp_of_logits);
    tcase_add_test(tc, test_hrnet_tiled_head_matches_full_head_at_odd_size);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(hrnet_suite()); }
