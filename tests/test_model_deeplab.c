/* test_model_deeplab.c - DeepLabV3+ (MobileNetV2, OS16) against the authors' code: converts
   ../shared/weights/deeplabv3plus_mobilenet_voc_os16_random.pth once per run, runs every case of
   ../shared/reference/deeplabv3plus with taps, and checks every reference file with the tolerance of
   its case README (samples + whole-tensor stats, fp16 head logits, argmax labels). Also: bad inputs give
   clean errors. Skips (passing, with a message) when ../shared is absent. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/half.h"
#include "core/status.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/segc_file.h"
#include "models/deeplab.h"
#include "ops/conv.h"
#include "test_shared_models.h"
#include "test_util.h"

#define WEIGHTS "deeplabv3plus_mobilenet_voc_os16_random.pth"
#define CASES_DIR "reference/deeplabv3plus"
#define REL_TOL 1e-3          /* README: max abs diff <= 1e-3 * max abs(ref); stats rel 1e-3 */
#define HEAD_TOL 2e-3         /* README: fp16-stored head logits */
#define INPUT_ATOL 1e-6
#define LABEL_AGREEMENT 0.999
#define FIX_H 47       /* fixture image of tests/gen/fixtures_deeplab.py (IMG_H, IMG_W) */
#define FIX_W 61
#define FIX_XC_H 113   /* Xception needs a larger input (XC_H, XC_W) */
#define FIX_XC_W 129

static void fixture_image(segc_image *img, int h, int w);

static char g_segc_path[4200];   /* empty until converted */

/* Suite-level (unchecked) fixture, runs once in the parent: convert the shared checkpoint. */
static void convert_once(void) {
    if (!g_segc_path[0])
        test_convert_shared(WEIGHTS, test_tmp_dir(), "deeplab_mbv2_os16.segc", g_segc_path, sizeof g_segc_path);
}

/* ---- taps: copies of the named intermediates ------------------------------------------------- */

#define MAX_TAPS 16
typedef struct tap_store {
    int count;
    char names[MAX_TAPS][64];
    segc_tensor t[MAX_TAPS];   /* contiguous f32 copies (malloc) */
} tap_store;

static segc_status keep_tap(void *user, const char *name, const segc_tensor *t) {
    tap_store *s = user;
    if (s->count >= MAX_TAPS) return SEGC_OK;
    int64_t n = segc_tensor_numel(t);
    float *copy = malloc((size_t)n * sizeof(float));
    if (!copy) return SEGC_ERR_NOMEM;
    segc_tensor dst = segc_tensor_wrap(SEGC_F32, t->ndim, t->shape, copy);
    segc_status st = segc_tensor_copy(&dst, t);
    if (st) {
        free(copy);
        return st;
    }
    snprintf(s->names[s->count], sizeof s->names[0], "%s", name);
    s->t[s->count++] = dst;
    return SEGC_OK;
}

static const segc_tensor *find_tap(const tap_store *s, const char *name) {
    for (int i = 0; i < s->count; i++)
        if (!strcmp(s->names[i], name)) return &s->t[i];
    ck_abort_msg("tap %s was not offered", name);
    return NULL;
}

static void free_taps(tap_store *s) {
    for (int i = 0; i < s->count; i++) free(s->t[i].data);
    s->count = 0;
}

/* ---- comparisons ----------------------------------------------------------------------------- */

/* One number from a flat stats.json ("key": value). */
static double json_number(const char *text, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    ck_assert_msg(p != NULL, "stats.json has no %s", key);
    return strtod(p + strlen(pat), NULL);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Whole-tensor mean / std (unbiased) / min / max / abs_sum against <dir>/<stem>.stats.json, rel 1e-3. */
static void check_stats(const char *dir, const char *stem, const segc_tensor *t) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s.stats.json", dir, stem);
    const char *js = read_text(path);
    int64_t n = segc_tensor_numel(t);
    const float *x = t->data;
    double sum = 0, abs_sum = 0, mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        sum += x[i];
        abs_sum += fabs(x[i]);
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    double mean = sum / (double)n, var = 0;
    for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    double sd = sqrt(var / (double)(n - 1));
    const char *keys[5] = {"mean", "std", "min", "max", "abs_sum"};
    double got[5] = {mean, sd, mn, mx, abs_sum};
    double ref_std = json_number(js, "std");
    for (int i = 0; i < 5; i++) {
        double want = json_number(js, keys[i]);
        /* the mean of a centred tensor is a small difference of large sums: judge it on the std's scale */
        double scale = i == 0 ? fmax(fabs(want), ref_std * 1e-2) : fabs(want);
        ck_assert_msg(fabs(got[i] - want) <= REL_TOL * scale, "%s %s: got %.9g want %.9g", stem, keys[i], got[i],
                      want);
    }
}

/* got [1, C, H, W] sampled [::sc, ::sh, ::sw] against the reference .npy (f32 or f16), with
   max |diff| <= rel * max |ref| (or <= atol when rel is 0). */
static void check_sample(const char *dir, const char *file, const segc_tensor *got, int sc, int sh, int sw,
                         double rel, double atol) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    segc_npy ref;
    ck_assert_msg(segc_npy_read(path, &ref) == SEGC_OK, "%s: %s", path, segc_last_error());
    ck_assert_int_eq(ref.ndim, 4);
    int64_t C = ref.shape[1], H = ref.shape[2], W = ref.shape[3];
    ck_assert_msg(got->ndim == 4 && (got->shape[1] + sc - 1) / sc == C && (got->shape[2] + sh - 1) / sh == H &&
                      (got->shape[3] + sw - 1) / sw == W,
                  "%s: sample shape %lldx%lldx%lld does not fit the tap", file, (long long)C, (long long)H,
                  (long long)W);
    int64_t n = C * H * W;
    float *want = malloc((size_t)n * sizeof(float)), *have = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        want[i] = ref.dtype == SEGC_F16 ? segc_f16_to_f32(((const uint16_t *)ref.data)[i])
                                        : ((const float *)ref.data)[i];
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++)
                have[(c * H + y) * W + x] = *segc_at4(got, 0, c * sc, y * sh, x * sw);
    size_t where = 0;
    double diff = test_max_abs_diff(have, want, (size_t)n, &where);
    double tol = rel > 0 ? rel * test_max_abs(want, (size_t)n) : atol;
    if (getenv("SEGC_TEST_VERBOSE")) printf("  %s: max abs diff %.3g (tolerance %.3g)\n", file, diff, tol);
    ck_assert_msg(diff <= tol, "%s: max abs diff %.3g > %.3g at %zu (got %.7g want %.7g)", file, diff, tol, where,
                  have[where], want[where]);
    free(want);
    free(have);
    segc_npy_free(&ref);
}

/* Labels = first argmax over K of logits [1, K, H, W] against 050_labels.npy (u8 [H, W]). */
static void check_labels(const char *dir, const segc_tensor *logits) {
    char path[600];
    snprintf(path, sizeof path, "%s/050_labels.npy", dir);
    segc_npy ref;
    ck_assert_msg(segc_npy_read(path, &ref) == SEGC_OK, "%s: %s", path, segc_last_error());
    int64_t K = logits->shape[1], H = logits->shape[2], W = logits->shape[3], equal = 0;
    ck_assert(ref.ndim == 2 && ref.shape[0] == H && ref.shape[1] == W);
    const uint8_t *lab = ref.data;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            int64_t best = 0;
            for (int64_t k = 1; k < K; k++)
                if (*segc_at4(logits, 0, k, y, x) > *segc_at4(logits, 0, best, y, x)) best = k;
            equal += best == lab[y * W + x];
        }
    double agree = (double)equal / (double)(H * W);
    if (getenv("SEGC_TEST_VERBOSE")) printf("  labels agree on %.4f%% of pixels\n", 100.0 * agree);
    ck_assert_msg(agree >= LABEL_AGREEMENT, "labels agree on %.4f%% of pixels", 100.0 * agree);
    segc_npy_free(&ref);
}

/* ---- the reference cases --------------------------------------------------------------------- */

static int open_model(segc_file **f, void **model) {
    if (!test_shared_dir()) {
        test_skip("../shared not found (set SEGC_SHARED): DeepLabV3+ reference test skipped");
        return 0;
    }
    ck_assert_msg(g_segc_path[0], "conversion of %s failed (see stderr)", WEIGHTS);
    ck_assert_msg(segc_file_open(g_segc_path, f) == SEGC_OK, "%s", segc_last_error());
    ck_assert_msg(segc_deeplab_load(*f, model) == SEGC_OK, "%s", segc_last_error());
    return 1;
}

static void run_case(const char *name) {
    segc_file *f;
    void *model;
    if (!open_model(&f, &model)) return;
    char dir[512], png[600];
    snprintf(dir, sizeof dir, "%s/%s/%s", test_shared_dir(), CASES_DIR, name);
    snprintf(png, sizeof png, "%s/input.png", dir);
    segc_image img;
    ck_assert_msg(segc_image_load(png, &img) == SEGC_OK, "%s", segc_last_error());

    segc_arena arena;
    segc_arena_init(&arena, 0);
    tap_store taps = {0};
    segc_ctx ctx = segc_ctx_plain(&arena);
    ctx.tap = keep_tap;
    ctx.tap_user = &taps;
    segc_tensor logits;
    ck_assert_msg(segc_deeplab_semantic(model, &ctx, &img, &logits) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(logits.shape[1], 21);
    ck_assert(logits.shape[2] == img.height && logits.shape[3] == img.width);

    check_sample(dir, "000_input.sample.npy", find_tap(&taps, "input"), 1, 4, 4, 0, INPUT_ATOL);
    check_stats(dir, "000_input", find_tap(&taps, "input"));
    check_sample(dir, "010_backbone_low_level.sample.npy", find_tap(&taps, "backbone.low_level"), 2, 4, 4, REL_TOL, 0);
    check_stats(dir, "010_backbone_low_level", find_tap(&taps, "backbone.low_level"));
    check_sample(dir, "011_backbone_out.sample.npy", find_tap(&taps, "backbone.out"), 8, 2, 2, REL_TOL, 0);
    check_stats(dir, "011_backbone_out", find_tap(&taps, "backbone.out"));
    check_sample(dir, "015_low_level_project.sample.npy", find_tap(&taps, "classifier.project"), 4, 4, 4, REL_TOL, 0);
    check_stats(dir, "015_low_level_project", find_tap(&taps, "classifier.project"));
    check_sample(dir, "020_aspp_pool.npy", find_tap(&taps, "classifier.aspp.convs.4"), 1, 1, 1, REL_TOL, 0);
    check_sample(dir, "021_aspp_concat.sample.npy", find_tap(&taps, "classifier.aspp.convs"), 32, 2, 2, REL_TOL, 0);
    check_stats(dir, "021_aspp_concat", find_tap(&taps, "classifier.aspp.convs"));
    check_sample(dir, "022_aspp.sample.npy", find_tap(&taps, "classifier.aspp"), 4, 2, 2, REL_TOL, 0);
    check_stats(dir, "022_aspp", find_tap(&taps, "classifier.aspp"));
    check_sample(dir, "025_decoder_concat.sample.npy", find_tap(&taps, "classifier.concat"), 8, 4, 4, REL_TOL, 0);
    check_stats(dir, "025_decoder_concat", find_tap(&taps, "classifier.concat"));
    check_sample(dir, "030_head_logits.npy", find_tap(&taps, "classifier"), 1, 1, 1, HEAD_TOL, 0);
    check_sample(dir, "040_logits.sample.npy", &logits, 1, 8, 8, REL_TOL, 0);
    check_stats(dir, "040_logits", &logits);
    check_labels(dir, &logits);

    free_taps(&taps);
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_deeplab_free(model);
    segc_file_close(f);
}

START_TEST(test_deeplab_voc_1_matches_reference) { run_case("voc_1"); }
END_TEST

START_TEST(test_deeplab_voc_23_matches_reference) { run_case("voc_23"); }
END_TEST

/* A second pass on a reset arena gives the same logits and makes no system allocation. */
START_TEST(test_deeplab_second_pass_is_deterministic_and_malloc_free) {
    segc_file *f;
    void *model;
    if (!open_model(&f, &model)) return;
    const int w = 67, h = 45;   /* odd sizes */
    uint8_t *rgb = malloc((size_t)w * h * 3);
    test_rng r = test_rng_new(9);
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)test_rng_int(&r, 0, 255);
    segc_image img;
    ck_assert_int_eq(segc_image_from_rgb(rgb, w, h, &img), SEGC_OK);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_tensor a, b;
    ck_assert_msg(segc_deeplab_semantic(model, &ctx, &img, &a) == SEGC_OK, "%s", segc_last_error());
    size_t n = (size_t)segc_tensor_numel(&a);
    ck_assert(a.shape[2] == h && a.shape[3] == w);
    float *first = malloc(n * sizeof(float));
    memcpy(first, a.data, n * sizeof(float));
    ck_assert_int_eq(segc_arena_reset(&arena), SEGC_OK);
    size_t allocs = arena.system_allocs;
    ck_assert_int_eq(segc_deeplab_semantic(model, &ctx, &img, &b), SEGC_OK);
    ck_assert_uint_eq(arena.system_allocs, allocs);
    ck_assert(memcmp(first, b.data, n * sizeof(float)) == 0);
    free(first);
    free(rgb);
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_deeplab_free(model);
    segc_file_close(f);
}
END_TEST

/* The shared weights have 8-bit significands, so a bf16 .segc holds the same numbers: widened at load,
   it must give the same logits as the f32 file. */
START_TEST(test_deeplab_bf16_file_gives_same_logits) {
    segc_file *f, *fb;
    void *model, *model_b;
    if (!open_model(&f, &model)) return;
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/weights/%s", test_shared_dir(), WEIGHTS);
    snprintf(out, sizeof out, "%s/deeplab_bf16.segc", test_tmp_dir());
    segc_convert_options o;
    segc_convert_options_default(&o);
    o.dtype = SEGC_BF16;
    ck_assert_msg(segc_convert_file(in, out, &o) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(segc_file_open(out, &fb), SEGC_OK);
    ck_assert_msg(segc_deeplab_load(fb, &model_b) == SEGC_OK, "%s", segc_last_error());
    segc_image img;
    fixture_image(&img, FIX_H, FIX_W);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_tensor a, b;
    ck_assert_int_eq(segc_deeplab_semantic(model, &ctx, &img, &a), SEGC_OK);
    ck_assert_int_eq(segc_deeplab_semantic(model_b, &ctx, &img, &b), SEGC_OK);
    size_t n = (size_t)segc_tensor_numel(&a);
    test_assert_close(b.data, a.data, n, 1e-6 * test_max_abs(a.data, n), 0, "bf16 vs f32 file");
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_deeplab_free(model_b);
    segc_file_close(fb);
    remove(out);
    segc_deeplab_free(model);
    segc_file_close(f);
}
END_TEST

START_TEST(test_deeplab_rejects_tiny_image) {
    segc_file *f;
    void *model;
    if (!open_model(&f, &model)) return;
    const uint8_t px[3] = {1, 2, 3};
    segc_image img;
    ck_assert_int_eq(segc_image_from_rgb(px, 1, 1, &img), SEGC_OK);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_tensor logits;
    ck_assert_int_eq(segc_deeplab_semantic(model, &ctx, &img, &logits), SEGC_ERR_SHAPE);
    ck_assert(strstr(segc_last_error(), "too small") != NULL);
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_deeplab_free(model);
    segc_file_close(f);
}
END_TEST

/* Writes a .segc with only metadata: arch `arch` (and the deeplab keys when `deeplab_keys`). */
static void write_stub(const char *path, const char *arch, int deeplab_keys) {
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_str(w, "arch", arch), SEGC_OK);
    if (deeplab_keys) {
        const double mean[3] = {0.485, 0.456, 0.406}, sd[3] = {0.229, 0.224, 0.225};
        ck_assert_int_eq(segc_file_writer_add_str(w, "deeplab.backbone", "mobilenetv2"), SEGC_OK);
        ck_assert_int_eq(segc_file_writer_add_str(w, "deeplab.head", "deeplabv3plus"), SEGC_OK);
        ck_assert_int_eq(segc_file_writer_add_int(w, "deeplab.output_stride", 16), SEGC_OK);
        ck_assert_int_eq(segc_file_writer_add_int(w, "num_classes", 21), SEGC_OK);
        ck_assert_int_eq(segc_file_writer_add_floats(w, "input.mean", mean, 3), SEGC_OK);
        ck_assert_int_eq(segc_file_writer_add_floats(w, "input.std", sd, 3), SEGC_OK);
    }
    float one = 1.0f;
    const int64_t shape[1] = {1};
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "unused", SEGC_F32, 1, shape, &one), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_write(w, path, NULL, NULL), SEGC_OK);
    segc_file_writer_free(w);
}

START_TEST(test_deeplab_rejects_other_arch_and_missing_weights) {
    char path[512];
    segc_file *f;
    void *model = (void *)1;
    snprintf(path, sizeof path, "%s/other_arch.segc", test_tmp_dir());
    write_stub(path, "hrnet", 0);
    ck_assert_int_eq(segc_file_open(path, &f), SEGC_OK);
    ck_assert_int_eq(segc_deeplab_load(f, &model), SEGC_ERR_UNSUPPORTED);
    ck_assert(model == NULL);
    ck_assert(strstr(segc_last_error(), "hrnet") != NULL);
    segc_file_close(f);

    snprintf(path, sizeof path, "%s/no_weights.segc", test_tmp_dir());
    write_stub(path, "deeplabv3plus", 1);
    ck_assert_int_eq(segc_file_open(path, &f), SEGC_OK);
    ck_assert_int_eq(segc_deeplab_load(f, &model), SEGC_ERR_NOT_FOUND);
    ck_assert(strstr(segc_last_error(), "backbone.low_level_features.0.0.weight") != NULL);
    ck_assert_int_eq(segc_deeplab_load_os(f, 4, &model), SEGC_ERR_INVALID_ARG);
    segc_file_close(f);
}
END_TEST

/* ---- variants from tests/gen/fixtures_deeplab.py: synthetic weights by formula ---------------- */


/* A fixture: image size and the logits sampling steps of <case>.logits.npy. */
typedef struct fixture_case {
    const char *name;
    int h, w;
    int step[3];
} fixture_case;

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* u in [-0.5, 0.5) for element i of tensor `name`: fmix32(fnv1a(name) ^ i) (fixtures_deeplab.py). */
static float formula_uniform(uint32_t seed, uint64_t i) {
    uint32_t h = (uint32_t)(i ^ seed);
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return (float)((double)h / 4294967296.0 - 0.5);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* The generator's value rule: BN stats / biases / 1-D weights / He-uniform conv weights. */
static float formula_value(const char *name, int ndim, const int64_t *shape, uint32_t seed, uint64_t i) {
    float u = formula_uniform(seed, i);
    if (ends_with(name, "running_var")) return 1.0f + 0.5f * (u + 0.5f);
    if (ends_with(name, "running_mean") || ends_with(name, "bias")) return 0.2f * u;
    if (ndim == 4) return u * (float)(2.0 * sqrt(6.0 / (double)(shape[1] * shape[2] * shape[3])));
    return 1.0f + 0.2f * u;
}

typedef struct manifest_entry {
    char name[112];
    int ndim;
    int64_t shape[4];
} manifest_entry;

/* Reads <case>.manifest.txt ("name d0 d1 ..." per line) into a malloc'd array. */
static manifest_entry *read_manifest(const char *path, int *count) {
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    int cap = 1024, n = 0;
    manifest_entry *e = calloc((size_t)cap, sizeof *e);
    char line[256];
    while (fgets(line, sizeof line, f) && n < cap) {
        char *tok = strtok(line, " \n");
        if (!tok) continue;
        snprintf(e[n].name, sizeof e[n].name, "%s", tok);
        while ((tok = strtok(NULL, " \n")) && e[n].ndim < 4) e[n].shape[e[n].ndim++] = atoll(tok);
        n++;
    }
    fclose(f);
    *count = n;
    return e;
}

/* Writes the manifest's tensors, filled by formula, as a safetensors file (F32, in manifest order). */
static void write_safetensors(const char *path, const manifest_entry *e, int n) {
    size_t cap = (size_t)n * 200 + 32, len = 0;
    char *hdr = malloc(cap);
    uint64_t off = 0;
    len += (size_t)snprintf(hdr + len, cap - len, "{");
    for (int i = 0; i < n; i++) {
        uint64_t numel = 1;
        len += (size_t)snprintf(hdr + len, cap - len, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "",
                                e[i].name);
        for (int d = 0; d < e[i].ndim; d++) {
            len += (size_t)snprintf(hdr + len, cap - len, "%s%lld", d ? "," : "", (long long)e[i].shape[d]);
            numel *= (uint64_t)e[i].shape[d];
        }
        len += (size_t)snprintf(hdr + len, cap - len, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                                (unsigned long long)(off + 4 * numel));
        off += 4 * numel;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8) hdr[len++] = ' ';
    /* a first byte 0x80 is the pickle PROTO opcode: the reader would take the file for a legacy torch file */
    if ((len & 0xff) == 0x80)
        for (int i = 0; i < 8; i++) hdr[len++] = ' ';
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    uint64_t hlen = len;
    fwrite(&hlen, 8, 1, f);
    fwrite(hdr, 1, len, f);
    float *buf = malloc(65536 * sizeof(float));
    for (int i = 0; i < n; i++) {
        uint64_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) numel *= (uint64_t)e[i].shape[d];
        uint32_t seed = fnv1a(e[i].name);
        for (uint64_t j0 = 0; j0 < numel; j0 += 65536) {
            uint64_t m = numel - j0 < 65536 ? numel - j0 : 65536;
            for (uint64_t j = 0; j < m; j++) buf[j] = formula_value(e[i].name, e[i].ndim, e[i].shape, seed, j0 + j);
            fwrite(buf, sizeof(float), m, f);
        }
    }
    ck_assert_int_eq(fclose(f), 0);
    free(buf);
    free(hdr);
}

/* The fixture image: (7 x + 13 y + 50 c + (x y) % 31) % 256, w x h. */
static void fixture_image(segc_image *img, int h, int w) {
    uint8_t *rgb = malloc((size_t)h * w * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) rgb[(y * w + x) * 3 + c] = (uint8_t)((7 * x + 13 * y + 50 * c + (x * y) % 31) % 256);
    ck_assert_int_eq(segc_image_from_rgb(rgb, w, h, img), SEGC_OK);
    free(rgb);
}

/* Runs the model in `segc_path` (at output stride `os`, 0 = stored) on the fixture image and compares
   the logits with <case>.logits.npy. */
static void check_fixture_logits(const char *segc_path, int os, const char *case_name, const fixture_case *fc) {
    segc_file *f;
    void *model;
    ck_assert_msg(segc_file_open(segc_path, &f) == SEGC_OK, "%s", segc_last_error());
    ck_assert_msg(segc_deeplab_load_os(f, os, &model) == SEGC_OK, "%s", segc_last_error());
    segc_image img;
    fixture_image(&img, fc->h, fc->w);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_tensor logits;
    ck_assert_msg(segc_deeplab_semantic(model, &ctx, &img, &logits) == SEGC_OK, "%s", segc_last_error());
    char file[128];
    snprintf(file, sizeof file, "deeplab/%s.logits.npy", case_name);
    check_sample(test_data_dir(), file, &logits, fc->step[0], fc->step[1], fc->step[2], REL_TOL, 0);
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_deeplab_free(model);
    segc_file_close(f);
}

/* Formula weights -> safetensors -> segc_convert_file (output stride `os`) -> forward -> fixture; with
   extra_os, the same file is also run with the loader's stride override against <case>_as_os<extra>. */
static void run_synthetic_case(const fixture_case *fc, int os, const char *variant, int extra_os) {
    const char *case_name = fc->name;
    char path[600], st_path[600], segc_path[600];
    snprintf(path, sizeof path, "%s/deeplab/%s.manifest.txt", test_data_dir(), case_name);
    int n;
    manifest_entry *e = read_manifest(path, &n);
    snprintf(st_path, sizeof st_path, "%s/%s.safetensors", test_tmp_dir(), case_name);
    snprintf(segc_path, sizeof segc_path, "%s/%s.segc", test_tmp_dir(), case_name);
    write_safetensors(st_path, e, n);
    free(e);
    segc_convert_options o;
    segc_convert_options_default(&o);
    o.output_stride = os;
    ck_assert_msg(segc_convert_file(st_path, segc_path, &o) == SEGC_OK, "%s", segc_last_error());
    remove(st_path);
    segc_file *f;
    const char *v = NULL;
    int64_t stored_os = 0;
    ck_assert_int_eq(segc_file_open(segc_path, &f), SEGC_OK);
    ck_assert_int_eq(segc_file_get_str(f, "variant", &v), SEGC_OK);
    ck_assert_str_eq(v, variant);
    ck_assert_int_eq(segc_file_get_int(f, "deeplab.output_stride", &stored_os), SEGC_OK);
    ck_assert_int_eq(stored_os, os);
    segc_file_close(f);
    check_fixture_logits(segc_path, 0, case_name, fc);
    if (extra_os) {
        char other[160];
        snprintf(other, sizeof other, "%s_as_os%d", case_name, extra_os);
        check_fixture_logits(segc_path, extra_os, other, fc);
    }
    remove(segc_path);
}

START_TEST(test_deeplab_resnet50_v3plus_os8_matches_port) {
    const fixture_case fc = {"resnet50_v3plus_os8", FIX_H, FIX_W, {2, 3, 3}};
    run_synthetic_case(&fc, 8, "resnet50", 0);
}
END_TEST

START_TEST(test_deeplab_resnet50_v3_os16_matches_port) {
    const fixture_case fc = {"resnet50_v3_os16", FIX_H, FIX_W, {2, 3, 3}};
    run_synthetic_case(&fc, 16, "resnet50", 0);
}
END_TEST

START_TEST(test_deeplab_mobilenet_v3_os16_matches_port) {
    const fixture_case fc = {"mobilenet_v3_os16", FIX_H, FIX_W, {2, 3, 3}};
    run_synthetic_case(&fc, 16, "mobilenet", 0);
}
END_TEST

START_TEST(test_deeplab_xception_os16_and_os8_match_port) {
    const fixture_case fc = {"xception_v3plus_os16", FIX_XC_H, FIX_XC_W, {4, 6, 6}};
    run_synthetic_case(&fc, 16, "xception", 8);
}
END_TEST

/* The converter names what is wrong: a missing ASPP tensor, a mis-shaped one, an unsupported stride. */
START_TEST(test_deeplab_convert_reports_missing_and_misshaped_tensors) {
    char path[600], st_path[600], out[600];
    snprintf(path, sizeof path, "%s/deeplab/mobilenet_v3_os16.manifest.txt", test_data_dir());
    snprintf(st_path, sizeof st_path, "%s/bad_deeplab.safetensors", test_tmp_dir());
    snprintf(out, sizeof out, "%s/bad_deeplab.segc", test_tmp_dir());
    int n;
    manifest_entry *e = read_manifest(path, &n);
    segc_convert_options o;
    segc_convert_options_default(&o);
    int victim = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(e[i].name, "classifier.classifier.0.project.0.weight")) victim = i;
    ck_assert_int_ge(victim, 0);
    manifest_entry saved = e[victim];
    e[victim] = e[n - 1];   /* drop it */
    write_safetensors(st_path, e, n - 1);
    segc_status got = segc_convert_file(st_path, out, &o);
    ck_assert_msg(got == SEGC_ERR_NOT_FOUND, "%d %s", got, segc_last_error());
    ck_assert_msg(strstr(segc_last_error(), "classifier.classifier.0.project.0.weight") != NULL, "%s",
                  segc_last_error());
    e[n - 1] = e[victim];
    e[victim] = saved;
    e[victim].shape[1] = 1024;   /* [256, 1280, 1, 1] -> [256, 1024, 1, 1] */
    write_safetensors(st_path, e, n);
    ck_assert_int_eq(segc_convert_file(st_path, out, &o), SEGC_ERR_SHAPE);
    ck_assert_msg(strstr(segc_last_error(), "classifier.classifier.0.project.0.weight") != NULL, "%s",
                  segc_last_error());
    e[victim].shape[1] = 1280;
    write_safetensors(st_path, e, n);
    o.output_stride = 4;
    ck_assert_int_eq(segc_convert_file(st_path, out, &o), SEGC_ERR_INVALID_ARG);
    remove(st_path);
    free(e);
}
END_TEST

/* The shared VOC checkpoint run at output stride 8 (loader override; rates become 12, 24, 36). */
START_TEST(test_deeplab_mobilenet_os8_override_matches_port) {
    if (!test_shared_dir()) {
        test_skip("../shared not found: OS8 override test skipped");
        return;
    }
    ck_assert_msg(g_segc_path[0], "conversion of %s failed (see stderr)", WEIGHTS);
    const fixture_case fc = {"mobilenet_v3plus_os8_shared", FIX_H, FIX_W, {2, 3, 3}};
    check_fixture_logits(g_segc_path, 8, fc.name, &fc);
}
END_TEST

/* The decoder's conv over the upsampled ASPP, computed at low resolution, against upsample-then-conv. */
START_TEST(test_deeplab_upconv_matches_upsample_then_conv) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(21);
    for (int it = 0; it < 12; it++) {
        int64_t C = test_rng_int(&r, 1, 9), K = test_rng_int(&r, 1, 7), h = test_rng_int(&r, 1, 9),
                w = test_rng_int(&r, 1, 9);
        int64_t H = it < 6 ? 4 * h + test_rng_int(&r, 0, 1) : test_rng_int(&r, 1, 37), W = test_rng_int(&r, 1, 41);
        segc_arena_mark m = segc_arena_get_mark(&a);
        segc_tensor x, wfull, wt, got, want;
        ck_assert_int_eq(segc_tensor_new_f32(&a, &x, 4, 1, C, h, w), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &wfull, 4, K, C + 2, 3, 3), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &got, 4, 1, K, H, W), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &want, 4, 1, K, H, W), SEGC_OK);
        test_fill_uniform(&r, x.data, (size_t)segc_tensor_numel(&x), -1, 1);
        test_fill_uniform(&r, wfull.data, (size_t)segc_tensor_numel(&wfull), -1, 1);
        test_fill_uniform(&r, got.data, (size_t)segc_tensor_numel(&got), -1, 1);
        memcpy(want.data, got.data, (size_t)segc_tensor_numel(&got) * sizeof(float));
        /* input channels [2, C + 2) of a wider weight, as the decoder takes [48, 304) */
        ck_assert_int_eq(segc_deeplab_upconv_prepare(&a, &wfull, 2, C, &wt), SEGC_OK);
        ck_assert_msg(segc_deeplab_upconv3x3_add(&a, &x, &wt, &got) == SEGC_OK, "%s", segc_last_error());
        ck_assert_msg(segc_deeplab_upconv3x3_add_reference(&a, &x, &wt, &want) == SEGC_OK, "%s", segc_last_error());
        char what[96];
        snprintf(what, sizeof what, "C%lld K%lld %lldx%lld -> %lldx%lld", (long long)C, (long long)K, (long long)h,
                 (long long)w, (long long)H, (long long)W);
        test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&got), 1e-5, 1e-5, what);
        segc_arena_release(&a, m);
    }
    segc_tensor bad, wt, out;
    ck_assert_int_eq(segc_tensor_new_f32(&a, &bad, 4, 1, 3, 4, 4), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&a, &wt, 3, 9, 2, 5, 0), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&a, &out, 4, 1, 2, 8, 8), SEGC_OK);
    ck_assert_int_eq(segc_deeplab_upconv3x3_add(&a, &bad, &wt, &out), SEGC_ERR_SHAPE);
    segc_arena_free(&a);
}
END_TEST

/* ASPP's atrous conv without the padding products, against the plain dilated conv; rates up to beyond the
   map (then only the centre tap is left). */
START_TEST(test_deeplab_atrous_conv_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(33);
    for (int it = 0; it < 14; it++) {
        int64_t C = test_rng_int(&r, 1, 11), K = test_rng_int(&r, 1, 9), h = test_rng_int(&r, 1, 15),
                w = test_rng_int(&r, 1, 15);
        int rate = test_rng_int(&r, 1, 18);
        segc_arena_mark m = segc_arena_get_mark(&a);
        segc_tensor x, wfull, b, wt, got, want;
        ck_assert_int_eq(segc_tensor_new_f32(&a, &x, 4, 1, C, h, w), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &wfull, 4, K, C, 3, 3), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &b, 1, K, 0, 0, 0), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &got, 4, 1, K, h, w), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &want, 4, 1, K, h, w), SEGC_OK);
        test_fill_uniform(&r, x.data, (size_t)segc_tensor_numel(&x), -1, 1);
        test_fill_uniform(&r, wfull.data, (size_t)segc_tensor_numel(&wfull), -1, 1);
        test_fill_uniform(&r, b.data, (size_t)K, -1, 1);
        segc_tensor_fill_f32(&got, NAN);
        ck_assert_int_eq(segc_deeplab_upconv_prepare(&a, &wfull, 0, C, &wt), SEGC_OK);
        segc_act act = it % 2 ? SEGC_ACT_RELU : SEGC_ACT_NONE;
        ck_assert_msg(segc_deeplab_atrous_conv3x3(&a, &x, &wt, &b, rate, act, &got) == SEGC_OK, "%s",
                      segc_last_error());
        segc_conv2d_params p = segc_conv2d_params_make(1, rate, rate, 1);
        p.act = act;
        ck_assert_int_eq(segc_conv2d_reference(&x, &wfull, &b, &p, &want), SEGC_OK);
        char what[96];
        snprintf(what, sizeof what, "C%lld K%lld %lldx%lld rate %d", (long long)C, (long long)K, (long long)h,
                 (long long)w, rate);
        test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&got), 1e-5, 1e-5, what);
        segc_arena_release(&a, m);
    }
    segc_arena_free(&a);
}
END_TEST

/* Winograd F(2x2, 3x3) against the plain conv, odd sizes included (partial output tiles). */
START_TEST(test_deeplab_winograd_matches_reference) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(41);
    for (int it = 0; it < 12; it++) {
        int64_t C = test_rng_int(&r, 1, 13), K = test_rng_int(&r, 1, 9), h = test_rng_int(&r, 1, 40),
                w = test_rng_int(&r, 1, 45);
        if (it == 0) h = 33, w = 47, C = 5;   /* more tiles than one chunk */
        segc_arena_mark m = segc_arena_get_mark(&a);
        segc_tensor x, wt, b, u, got, want;
        ck_assert_int_eq(segc_tensor_new_f32(&a, &x, 4, 1, C, h, w), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &wt, 4, K, C, 3, 3), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &b, 1, K, 0, 0, 0), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &got, 4, 1, K, h, w), SEGC_OK);
        ck_assert_int_eq(segc_tensor_new_f32(&a, &want, 4, 1, K, h, w), SEGC_OK);
        test_fill_uniform(&r, x.data, (size_t)segc_tensor_numel(&x), -1, 1);
        test_fill_uniform(&r, wt.data, (size_t)segc_tensor_numel(&wt), -1, 1);
        test_fill_uniform(&r, b.data, (size_t)K, -1, 1);
        segc_tensor_fill_f32(&got, NAN);
        ck_assert_int_eq(segc_deeplab_winograd_prepare(&a, &wt, &u), SEGC_OK);
        ck_assert_msg(segc_deeplab_winograd3x3(&a, &x, &u, &b, &got) == SEGC_OK, "%s", segc_last_error());
        segc_conv2d_params p = segc_conv2d_params_make(1, 1, 1, 1);
        ck_assert_int_eq(segc_conv2d_reference(&x, &wt, &b, &p, &want), SEGC_OK);
        char what[96];
        snprintf(what, sizeof what, "C%lld K%lld %lldx%lld", (long long)C, (long long)K, (long long)h, (long long)w);
        test_assert_close(got.data, want.data, (size_t)segc_tensor_numel(&got), 1e-5, 1e-5, what);
        segc_arena_release(&a, m);
    }
    segc_arena_free(&a);
}
END_TEST

static Suite *deeplab_suite(void) {
    Suite *s = suite_create("model_deeplab");
    TCase *tc = tcase_create("reference");
    tcase_add_unchecked_fixture(tc, convert_once, NULL);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_deeplab_voc_1_matches_reference);
    tcase_add_test(tc, test_deeplab_voc_23_matches_reference);
    tcase_add_test(tc, test_deeplab_second_pass_is_deterministic_and_malloc_free);
    tcase_add_test(tc, test_deeplab_bf16_file_gives_same_logits);
    tcase_add_test(tc, test_deeplab_rejects_tiny_image);
    tcase_add_test(tc, test_deeplab_rejects_other_arch_and_missing_weights);
    suite_add_tcase(s, tc);
    TCase *var = tcase_create("variants");
    tcase_add_unchecked_fixture(var, convert_once, NULL);
    tcase_set_timeout(var, 600);
    tcase_add_test(var, test_deeplab_resnet50_v3plus_os8_matches_port);
    tcase_add_test(var, test_deeplab_resnet50_v3_os16_matches_port);
    tcase_add_test(var, test_deeplab_mobilenet_v3_os16_matches_port);
    tcase_add_test(var, test_deeplab_xception_os16_and_os8_match_port);
    tcase_add_test(var, test_deeplab_convert_reports_missing_and_misshaped_tensors);
    tcase_add_test(var, test_deeplab_mobilenet_os8_override_matches_port);
    suite_add_tcase(s, var);
    TCase *ops = tcase_create("decoder");
    tcase_add_test(ops, test_deeplab_upconv_matches_upsample_then_conv);
    tcase_add_test(ops, test_deeplab_atrous_conv_matches_reference);
    tcase_add_test(ops, test_deeplab_winograd_matches_reference);
    suite_add_tcase(s, ops);
    return s;
}

int main(void) { return test_run_suite(deeplab_suite()); }
