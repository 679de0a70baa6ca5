/* test_model_sam2.c - SAM 2.1 Hiera-tiny image predictor against the authors' code: converts
   ../shared/weights/sam2.1_hiera_tiny_random_bf16.pt once per run, and for every image case of
   ../shared/reference/sam2.1_tiny/ runs encode (checking every encoder tap) and each predict() call of
   prompts.json (sparse/dense prompt embeddings, low-res logits, IoU, object score, full-size masks) with
   the tolerances of the case README. Also: the transformer helpers (MLP, projected attention) against
   plain loops, prompt validation, converter metadata. Skips the reference parts when ../shared is absent. */
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
#include "io/sha256.h"
#include "models/sam2.h"
#include "nn/transformer.h"
#include "test_reference.h"
#include "test_util.h"

#define MODEL_DIR "sam2.1_tiny"
#define WEIGHTS "sam2.1_hiera_tiny_random_bf16.pt"
#define MAX_CALLS 4

static char segc_path[4096];
static int converted;
static char weights_sha[65];   /* sha256 of the shared checkpoint actually converted */

static void convert_once(void) {
    const char *shared = test_shared_dir();
    if (!shared) return;
    char in[4096];
    snprintf(in, sizeof in, "%s/weights/%s", shared, WEIGHTS);
    snprintf(segc_path, sizeof segc_path, "%s/sam2.1_hiera_tiny.segc", test_tmp_dir());
    segc_convert_options o;
    segc_convert_options_default(&o);
    segc_status st = segc_convert_file(in, segc_path, &o);
    if (st) fprintf(stderr, "convert %s: %s\n", in, segc_last_error());
    converted = st == SEGC_OK;
    if (segc_sha256_file(in, weights_sha)) weights_sha[0] = 0;
}

/* Nonzero if the case README names the checkpoint we converted (its "sha256 `...`"). The decoder
   outputs of a case made from another file cannot be compared (the encoder taps still are). */
static int case_uses_our_weights(const char *dir, char *readme_sha, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/README.md", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    const char *p = strstr(text, "(sha256 `");
    if (!p) return 1;   /* not stated: assume the shared file */
    p += strlen("(sha256 `");
    size_t n = strcspn(p, "`");
    snprintf(readme_sha, size, "%.*s", (int)(n < size - 1 ? n : size - 1), p);
    return strcmp(readme_sha, weights_sha) == 0;
}

/* ---- prompts.json: just the fields the cases use ---------------------------------------------- */

typedef struct call_spec {
    int num_points;
    segc_sam2_point points[SEGC_SAM2_MAX_POINTS];
    int has_box;
    float box[4];
    int multimask;
    int mask_input_from;   /* -1: none */
} call_spec;

/* Reads up to max numbers from the JSON array that starts at the first '[' after key in [s, end). */
static int json_numbers(const char *s, const char *end, const char *key, float *out, int max) {
    const char *k = strstr(s, key);
    if (!k || k >= end) return -1;
    const char *p = strchr(k, '[');
    if (!p || p >= end) return -1;
    int depth = 0, n = 0;
    for (; p < end; p++) {
        if (*p == '[') depth++;
        else if (*p == ']') {
            if (--depth == 0) break;
        } else if ((*p == '-' || (*p >= '0' && *p <= '9')) && n < max) {
            char *e;
            out[n++] = strtof(p, &e);
            p = e - 1;
        }
    }
    return n;
}

/* Parses the "calls" list; returns the number of calls. */
static int read_calls(const char *dir, call_spec *calls) {
    char path[4096];
    snprintf(path, sizeof path, "%s/prompts.json", dir);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    const char *p = strstr(text, "\"calls\"");
    ck_assert(p != NULL);
    p = strchr(p, '[');
    int n = 0;
    while (n < MAX_CALLS && (p = strchr(p, '{')) != NULL) {
        int depth = 0;
        const char *q = p;
        for (; *q; q++) {
            if (*q == '{') depth++;
            else if (*q == '}' && --depth == 0) break;
        }
        call_spec *c = &calls[n++];
        memset(c, 0, sizeof *c);
        float xy[2 * SEGC_SAM2_MAX_POINTS], lab[SEGC_SAM2_MAX_POINTS];
        int nxy = json_numbers(p, q, "\"point_coords\"", xy, 2 * SEGC_SAM2_MAX_POINTS);
        int nl = json_numbers(p, q, "\"point_labels\"", lab, SEGC_SAM2_MAX_POINTS);
        c->num_points = nxy > 0 ? nxy / 2 : 0;
        ck_assert_int_eq(c->num_points, nl > 0 ? nl : 0);
        for (int i = 0; i < c->num_points; i++) {
            c->points[i].x = xy[2 * i];
            c->points[i].y = xy[2 * i + 1];
            c->points[i].label = (int)lab[i];
        }
        c->has_box = json_numbers(p, q, "\"box\"", c->box, 4) == 4;
        const char *mm = strstr(p, "\"multimask_output\"");
        c->multimask = mm && mm < q && strncmp(strchr(mm, ':') + 1 + strspn(strchr(mm, ':') + 1, " "), "true", 4) == 0;
        const char *mi = strstr(p, "\"mask_input_from\"");
        c->mask_input_from = mi && mi < q ? atoi(strchr(mi, ':') + 1) : -1;
        p = q;
    }
    return n;
}

/* ---- taps ----------------------------------------------------------------------------------- */

typedef struct tap_ref {
    const char *tap;
    const char *file;
    int64_t step[4];
    double atol, rtol_of_max;
} tap_ref;

/* Encoder taps -> reference files (sample steps from each README); a file may be absent in a case. */
static const tap_ref encoder_refs[] = {
    {"input", "000_input_1024", {1, 1, 8, 8}, 2e-5, 0},
    {"image_encoder.trunk.stage1", "010_trunk_stage1", {1, 8, 4, 4}, 0, 1e-3},
    {"image_encoder.trunk.stage2", "010_trunk_stage2", {1, 8, 4, 4}, 0, 1e-3},
    {"image_encoder.trunk.stage3", "010_trunk_stage3", {1, 16, 2, 2}, 0, 1e-3},
    {"image_encoder.trunk.stage4", "010_trunk_stage4", {1, 16, 2, 2}, 0, 1e-3},
    {"image_encoder.neck.level0", "020_fpn_level0", {1, 16, 8, 8}, 0, 1e-3},
    {"image_encoder.neck.level1", "020_fpn_level1", {1, 16, 4, 4}, 0, 1e-3},
    {"image_encoder.neck.level2", "020_fpn_level2", {1, 16, 2, 2}, 0, 1e-3},
    {"sam_mask_decoder.conv_s0", "030_high_res_feat0", {1, 4, 4, 4}, 0, 1e-3},
    {"sam_mask_decoder.conv_s1", "030_high_res_feat1", {1, 4, 4, 4}, 0, 1e-3},
    {"image_embed", "040_image_embed", {1, 4, 2, 2}, 0, 1e-3},
};
#define N_ENCODER_REFS ((int)(sizeof encoder_refs / sizeof encoder_refs[0]))

typedef struct tap_state {
    const char *dir;
    int call;              /* index of the predict() call, for the 05<call>_call<call>_ files */
    int seen[N_ENCODER_REFS];
    int seen_sparse, seen_dense;
} tap_state;

static int file_exists(const char *dir, const char *file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Compares a whole float array with <dir>/<file>: max |diff| <= atol (shapes by element count). */
static void check_full_abs(const char *dir, const char *file, const float *got, int64_t n, double atol) {
    segc_npy want;
    ref_load(dir, file, &want);
    ck_assert_msg(segc_npy_numel(&want) == n, "%s: %lld elements, got %lld", file, (long long)segc_npy_numel(&want),
                  (long long)n);
    size_t where = 0;
    double d = test_max_abs_diff(got, want.data, (size_t)n, &where);
    printf("  %-40s max|diff| %.3g (tol %.3g)\n", file, d, atol);
    ck_assert_msg(d <= atol, "%s: element %zu differs by %.4g (got %.6g, want %.6g)", file, where, d,
                  (double)got[where], (double)((float *)want.data)[where]);
    segc_npy_free(&want);
}

static segc_status on_tap(void *user, const char *name, const segc_tensor *t) {
    tap_state *s = user;
    char file[128];
    for (int i = 0; i < N_ENCODER_REFS; i++) {
        if (strcmp(encoder_refs[i].tap, name)) continue;
        s->seen[i]++;
        snprintf(file, sizeof file, "%s.sample.npy", encoder_refs[i].file);
        if (file_exists(s->dir, file))
            ref_check_sampled(s->dir, encoder_refs[i].file, t, encoder_refs[i].step, encoder_refs[i].atol,
                              encoder_refs[i].rtol_of_max, 1e-3);
    }
    if (!strcmp(name, "sam_prompt_encoder.sparse")) {
        s->seen_sparse++;
        snprintf(file, sizeof file, "05%d_call%d_sparse_embed.npy", s->call, s->call);
        check_full_abs(s->dir, file, t->data, segc_tensor_numel(t), 1e-4);
    } else if (!strcmp(name, "sam_prompt_encoder.no_mask_embed")) {
        s->seen_dense++;
        snprintf(file, sizeof file, "05%d_call%d_dense_embed_vec.npy", s->call, s->call);
        check_full_abs(s->dir, file, t->data, segc_tensor_numel(t), 0.0);
    } else if (!strcmp(name, "sam_prompt_encoder.dense")) {
        s->seen_dense++;
        snprintf(file, sizeof file, "05%d_call%d_dense_embed", s->call, s->call);
        const int64_t step[4] = {1, 8, 4, 4};
        ref_check_sampled(s->dir, file, t, step, 0, 1e-3, 1e-3);
    }
    return SEGC_OK;
}

/* low-res logits: max |diff| <= 2e-2 and signs agree on >= 99.9 % of pixels where |ref| > 0.05. */
static void check_low_res(const char *dir, int call, const segc_tensor *got) {
    char file[128];
    snprintf(file, sizeof file, "05%d_call%d_low_res_logits.npy", call, call);
    segc_npy want;
    ref_load(dir, file, &want);
    const int64_t n = segc_npy_numel(&want);
    ck_assert_msg(n == segc_tensor_numel(got), "%s: %lld elements, got %lld", file, (long long)n,
                  (long long)segc_tensor_numel(got));
    const float *w = want.data, *g = got->data;
    int64_t counted = 0, agree = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabsf(w[i]) <= 0.05f) continue;
        counted++;
        agree += (w[i] > 0) == (g[i] > 0);
    }
    double d = test_max_abs_diff(g, w, (size_t)n, NULL);
    double frac = counted ? (double)agree / (double)counted : 1.0;
    printf("  %-40s max|diff| %.3g (tol 2e-2), sign agreement %.5f\n", file, d, frac);
    ck_assert_msg(d <= 2e-2, "%s: max |diff| %.4g > 2e-2", file, d);
    ck_assert_msg(frac >= 0.999, "%s: signs agree on %.5f only", file, frac);
    segc_npy_free(&want);
}

static const char *file_masks(char *buf, size_t size, int call) {
    snprintf(buf, size, "call%d_masks_packbits.npy", call);
    return buf;
}

/* masks [K, H, W] u8 vs <dir>/<file> = np.packbits(mask, axis=-1) [K, H, ceil(W/8)]: >= 99.9 % equal. */
static void check_masks_file(const char *dir, const char *file, const segc_tensor *got) {
    segc_npy want;
    ref_load(dir, file, &want);
    const int64_t K = got->shape[0], H = got->shape[1], W = got->shape[2], Wb = (W + 7) / 8;
    ck_assert_msg(want.ndim == 3 && want.shape[0] == K && want.shape[1] == H && want.shape[2] == Wb,
                  "%s: shape differs", file);
    const uint8_t *pb = want.data, *m = got->data;
    int64_t equal = 0;
    for (int64_t k = 0; k < K; k++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                int bit = (pb[(k * H + y) * Wb + x / 8] >> (7 - x % 8)) & 1;
                equal += bit == (m[(k * H + y) * W + x] != 0);
            }
    double frac = (double)equal / (double)(K * H * W);
    printf("  %-40s %.5f of pixels equal\n", file, frac);
    ck_assert_msg(frac >= 0.999, "%s: only %.5f of pixels equal", file, frac);
    segc_npy_free(&want);
}

static void run_case(const char *case_name) {
    char dir_buf[4096];
    const char *dir = ref_case_dir(MODEL_DIR, case_name, dir_buf, sizeof dir_buf);
    if (!dir) {
        test_skip("sam2: ../shared/reference/" MODEL_DIR " not found (set SEGC_SHARED)");
        return;
    }
    ck_assert_msg(converted, "conversion of %s failed (see stderr)", WEIGHTS);
    segc_file *f = NULL;
    ck_assert_msg(segc_file_open(segc_path, &f) == SEGC_OK, "%s", segc_last_error());
    void *model = NULL;
    ck_assert_msg(segc_sam2_load(f, &model) == SEGC_OK, "%s", segc_last_error());
    char path[4096];
    snprintf(path, sizeof path, "%s/input.png", dir);
    segc_image img;
    ck_assert_msg(segc_image_load(path, &img) == SEGC_OK, "%s", segc_last_error());

    segc_arena arena;
    segc_arena_init(&arena, 0);
    tap_state ts = {.dir = dir};
    segc_ctx ctx = segc_ctx_plain(&arena);
    ctx.tap = on_tap;
    ctx.tap_user = &ts;
    segc_sam2_embedding emb;
    ck_assert_msg(segc_sam2_encode(model, &ctx, &img, &emb) == SEGC_OK, "%s", segc_last_error());
    for (int i = 0; i < N_ENCODER_REFS; i++)
        ck_assert_msg(ts.seen[i] == 1, "tap %s offered %d times", encoder_refs[i].tap, ts.seen[i]);

    char readme_sha[80] = "";
    const int decoder_ok = case_uses_our_weights(dir, readme_sha, sizeof readme_sha);
    if (!decoder_ok) {
        char msg[512];
        snprintf(msg, sizeof msg, "sam2 %s: the case was made from a checkpoint with sha256 %.16s..., not the shared "
                 "file (%.16s...): only encoder taps and prompt embeddings are compared; decoder outputs skipped "
                 "(test_sam2_decoder_matches_official_predictor covers the decoder)", case_name, readme_sha,
                 weights_sha);
        test_skip(msg);
    }
    call_spec calls[MAX_CALLS];
    const int ncalls = read_calls(dir, calls);
    ck_assert(ncalls >= 1);
    segc_sam2_outputs outs[MAX_CALLS];
    for (int c = 0; c < ncalls; c++) {
        const call_spec *cs = &calls[c];
        if (!decoder_ok && cs->mask_input_from >= 0) break;   /* its input comes from a decoder output */
        segc_sam2_prompts pr = {.num_points = cs->num_points, .points = cs->points, .has_box = cs->has_box};
        memcpy(pr.box, cs->box, sizeof pr.box);
        segc_tensor mask_in;
        if (cs->mask_input_from >= 0) {   /* the best (highest IoU) low-res logits of an earlier call */
            const segc_sam2_outputs *prev = &outs[cs->mask_input_from];
            int best = 0;
            for (int k = 1; k < prev->num_masks; k++)
                if (prev->iou[k] > prev->iou[best]) best = k;
            const int64_t S = prev->low_res_logits.shape[1];
            mask_in = segc_tensor_f32((float *)prev->low_res_logits.data + best * S * S, 3, 1, S, S, 0);
            pr.mask_input = &mask_in;
        }
        ts.call = c;
        ts.seen_sparse = ts.seen_dense = 0;
        ck_assert_msg(segc_sam2_predict(model, &ctx, &emb, &pr, cs->multimask, 0, &outs[c]) == SEGC_OK, "call %d: %s",
                      c, segc_last_error());
        ck_assert_int_eq(ts.seen_sparse, 1);
        ck_assert_int_eq(ts.seen_dense, 1);
        if (!decoder_ok) continue;
        char file[128];
        snprintf(file, sizeof file, "05%d_call%d_iou.npy", c, c);
        check_full_abs(dir, file, outs[c].iou, outs[c].num_masks, 1e-3);
        snprintf(file, sizeof file, "05%d_call%d_object_score_logits.npy", c, c);
        check_full_abs(dir, file, &outs[c].object_score_logit, 1, 1e-3);
        check_low_res(dir, c, &outs[c].low_res_logits);
        snprintf(file, sizeof file, "05%d_call%d_masks_packbits.npy", c, c);
        check_masks_file(dir, file, &outs[c].masks);
    }
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_sam2_free(model);
    segc_file_close(f);
}

START_TEST(test_sam2_truck_point_multimask) { run_case("truck_point"); }
END_TEST

START_TEST(test_sam2_truck_box_single_mask) { run_case("truck_box"); }
END_TEST

START_TEST(test_sam2_groceries_points_then_mask_input) { run_case("groceries_points_maskinput"); }
END_TEST

#define NCALLS 4   /* prompt sets of tests/gen/fixtures_sam2.py */

/* x[k, y, x] = scale * sin(a k + b y - c x + 0.3) (tests/gen/fixtures_sam2.py: synth). */
static void synth_map(segc_tensor *t, double a, double b, double c, double scale) {
    const int64_t K = t->shape[1], H = t->shape[2], W = t->shape[3];
    float *d = t->data;
    for (int64_t k = 0; k < K; k++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) d[(k * H + y) * W + x] = (float)(scale * sin(a * k + b * y - c * x + 0.3));
}

/* The prompt encoder, mask decoder, mask selection (multimask, dynamic multimask via stability, mask
   input) and upscaling against SAM2ImagePredictor.predict() of the authors' code on the shared weights,
   with a synthetic embedding (fixtures: tests/gen/fixtures_sam2.py). */
START_TEST(test_sam2_decoder_matches_official_predictor) {
    if (!test_shared_dir()) {
        test_skip("sam2: ../shared not found (set SEGC_SHARED)");
        return;
    }
    ck_assert(converted);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sam2", test_data_dir());
    segc_file *f = NULL;
    ck_assert_int_eq(segc_file_open(segc_path, &f), SEGC_OK);
    void *model = NULL;
    ck_assert_msg(segc_sam2_load(f, &model) == SEGC_OK, "%s", segc_last_error());
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_sam2_embedding emb = {.orig_h = 120, .orig_w = 180};
    ck_assert_int_eq(segc_tensor_new_f32(&arena, &emb.image_embed, 4, 1, 256, 64, 64), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&arena, &emb.high_res[0], 4, 1, 32, 256, 256), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&arena, &emb.high_res[1], 4, 1, 64, 128, 128), SEGC_OK);
    synth_map(&emb.image_embed, 0.37, 0.11, 0.07, 1.5);
    synth_map(&emb.high_res[0], 0.23, 0.05, 0.03, 0.8);
    synth_map(&emb.high_res[1], 0.19, 0.09, 0.04, 0.8);
    segc_tensor mask_in;
    ck_assert_int_eq(segc_tensor_new_f32(&arena, &mask_in, 4, 1, 1, 256, 256), SEGC_OK);
    synth_map(&mask_in, 0.0, 0.05, 0.07, 8.0);
    const segc_sam2_point p0[1] = {{50, 37, 1}}, p2[3] = {{60, 45, 1}, {72, 42, 1}, {30, 60, 0}};
    segc_sam2_prompts pr[NCALLS] = {
        {.num_points = 1, .points = p0},
        {.has_box = 1, .box = {42, 36, 112, 87}},
        {.num_points = 3, .points = p2, .mask_input = &mask_in},
        {.mask_input = &mask_in},
    };
    const int multimask[NCALLS] = {1, 0, 0, 1};
    const segc_arena_mark after_embedding = segc_arena_get_mark(&arena);
    for (int c = 0; c < NCALLS; c++) {
        segc_sam2_outputs o;
        ck_assert_msg(segc_sam2_predict(model, &ctx, &emb, &pr[c], multimask[c], 0, &o) == SEGC_OK, "call %d: %s", c,
                      segc_last_error());
        char file[128];
        snprintf(file, sizeof file, "call%d_iou.npy", c);
        check_full_abs(dir, file, o.iou, o.num_masks, 1e-4);
        snprintf(file, sizeof file, "call%d_object_score_logits.npy", c);
        check_full_abs(dir, file, &o.object_score_logit, 1, 1e-4);
        /* low-res logits sampled [:, ::4, ::4] */
        const int64_t K = o.num_masks, S = o.low_res_logits.shape[1], Ss = S / 4;
        float *sample = malloc(sizeof(float) * (size_t)(K * Ss * Ss));
        for (int64_t k = 0; k < K; k++)
            for (int64_t y = 0; y < Ss; y++)
                for (int64_t x = 0; x < Ss; x++)
                    sample[(k * Ss + y) * Ss + x] = ((float *)o.low_res_logits.data)[(k * S + 4 * y) * S + 4 * x];
        snprintf(file, sizeof file, "call%d_low_res_logits_s4.npy", c);
        check_full_abs(dir, file, sample, K * Ss * Ss, 1e-4);
        free(sample);
        check_masks_file(dir, file_masks(file, sizeof file, c), &o.masks);
        segc_arena_release(&arena, after_embedding);
    }
    /* the same calls again: the arena serves them without a system allocation */
    const size_t allocs = arena.system_allocs;
    for (int c = 0; c < NCALLS; c++) {
        segc_sam2_outputs o;
        ck_assert_int_eq(segc_sam2_predict(model, &ctx, &emb, &pr[c], multimask[c], 0, &o), SEGC_OK);
        segc_arena_release(&arena, after_embedding);
    }
    ck_assert_uint_eq(arena.system_allocs, allocs);
    segc_arena_free(&arena);
    segc_sam2_free(model);
    segc_file_close(f);
}
END_TEST

/* The converter recovers the tiny 2.1 config from the keys. */
START_TEST(test_sam2_convert_metadata) {
    if (!test_shared_dir()) {
        test_skip("sam2: ../shared not found (set SEGC_SHARED)");
        return;
    }
    ck_assert(converted);
    segc_file *f = NULL;
    ck_assert_int_eq(segc_file_open(segc_path, &f), SEGC_OK);
    const char *s = NULL;
    ck_assert_int_eq(segc_file_get_str(f, "arch", &s), SEGC_OK);
    ck_assert_str_eq(s, "sam2");
    ck_assert_int_eq(segc_file_get_str(f, "variant", &s), SEGC_OK);
    ck_assert_str_eq(s, "sam2.1_hiera_tiny");
    int64_t v[4];
    ck_assert_int_eq(segc_file_get_ints(f, "sam2.stages", v, 4), SEGC_OK);
    ck_assert(v[0] == 1 && v[1] == 2 && v[2] == 7 && v[3] == 2);
    ck_assert_int_eq(segc_file_get_ints(f, "sam2.global_att_blocks", v, 3), SEGC_OK);
    ck_assert(v[0] == 5 && v[1] == 7 && v[2] == 9);
    ck_assert_int_eq(segc_file_get_ints(f, "sam2.window_pos_embed_bkg_spatial_size", v, 2), SEGC_OK);
    ck_assert(v[0] == 7 && v[1] == 7);
    ck_assert_int_eq(segc_file_get_int(f, "sam2.embed_dim", v), SEGC_OK);
    ck_assert_int_eq(v[0], 96);
    ck_assert_int_eq(segc_file_get_int(f, "sam2.no_obj_embed_spatial", v), SEGC_OK);
    ck_assert_int_eq(v[0], 1);
    segc_file_close(f);
}
END_TEST

/* Bad prompts fail with a clear status, before any work. */
START_TEST(test_sam2_rejects_bad_prompts) {
    if (!test_shared_dir() || !converted) {
        test_skip("sam2: ../shared not found (set SEGC_SHARED)");
        return;
    }
    segc_file *f = NULL;
    ck_assert_int_eq(segc_file_open(segc_path, &f), SEGC_OK);
    void *model = NULL;
    ck_assert_int_eq(segc_sam2_load(f, &model), SEGC_OK);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    /* a fake embedding of the right shapes is enough: validation comes first */
    segc_sam2_embedding emb = {0};
    ck_assert_int_eq(segc_tensor_new_f32(&arena, &emb.image_embed, 4, 1, 256, 64, 64), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&arena, &emb.high_res[0], 4, 1, 32, 256, 256), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(&arena, &emb.high_res[1], 4, 1, 64, 128, 128), SEGC_OK);
    emb.orig_h = 40;
    emb.orig_w = 60;
    segc_sam2_outputs out;
    segc_sam2_prompts none = {0};
    ck_assert_int_eq(segc_sam2_predict(model, &ctx, &emb, &none, 1, 0, &out), SEGC_ERR_INVALID_ARG);
    ck_assert(strstr(segc_last_error(), "no prompt") != NULL);
    segc_sam2_point nan_pt = {NAN, 3.0f, 1};
    segc_sam2_prompts bad = {.num_points = 1, .points = &nan_pt};
    ck_assert_int_eq(segc_sam2_predict(model, &ctx, &emb, &bad, 1, 0, &out), SEGC_ERR_INVALID_ARG);
    segc_sam2_point bad_label = {1.0f, 3.0f, 7};
    bad.points = &bad_label;
    ck_assert_int_eq(segc_sam2_predict(model, &ctx, &emb, &bad, 1, 0, &out), SEGC_ERR_INVALID_ARG);
    segc_tensor small;
    ck_assert_int_eq(segc_tensor_new_f32(&arena, &small, 3, 1, 128, 128, 0), SEGC_OK);
    segc_sam2_prompts mask_only = {.mask_input = &small};
    ck_assert_int_eq(segc_sam2_predict(model, &ctx, &emb, &mask_only, 0, 0, &out), SEGC_ERR_INVALID_ARG);
    ck_assert(strstr(segc_last_error(), "mask input") != NULL);
    segc_arena_free(&arena);
    segc_sam2_free(model);
    segc_file_close(f);
}
END_TEST

/* ---- nn/transformer.c against plain loops ---------------------------------------------------- */

/* y[m, o] = sum_i x[m, i] w[o, i] + b[o] in double. */
static void linear_ref(const float *x, const float *w, const float *b, int64_t M, int64_t I, int64_t O, float *y) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t o = 0; o < O; o++) {
            double s = b[o];
            for (int64_t i = 0; i < I; i++) s += (double)x[m * I + i] * w[o * I + i];
            y[m * O + o] = (float)s;
        }
}

START_TEST(test_mlp_matches_plain_loops) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(5);
    for (int it = 0; it < 6; it++) {
        const int64_t M = test_rng_int(&r, 1, 37), I = test_rng_int(&r, 1, 29), Hd = test_rng_int(&r, 1, 41),
                      O = test_rng_int(&r, 1, 9);
        const int layers = test_rng_int(&r, 1, 3), sig = it & 1;
        segc_mlp mlp = {.num_layers = layers, .act = SEGC_ACT_RELU, .sigmoid_output = sig};
        for (int l = 0; l < layers; l++) {
            const int64_t in = l == 0 ? I : Hd, out = l == layers - 1 ? O : Hd;
            segc_tensor_new_f32(&a, &mlp.w[l], 2, out, in, 0, 0);
            segc_tensor_new_f32(&a, &mlp.b[l], 1, out, 0, 0, 0);
            test_fill_uniform(&r, mlp.w[l].data, (size_t)(out * in), -0.5f, 0.5f);
            test_fill_uniform(&r, mlp.b[l].data, (size_t)out, -0.5f, 0.5f);
        }
        segc_tensor x, y;
        segc_tensor_new_f32(&a, &x, 2, M, I, 0, 0);
        segc_tensor_new_f32(&a, &y, 2, M, O, 0, 0);
        test_fill_uniform(&r, x.data, (size_t)(M * I), -1, 1);
        ck_assert_msg(segc_mlp_forward(&a, &mlp, &x, &y) == SEGC_OK, "%s", segc_last_error());
        float *cur = malloc(sizeof(float) * (size_t)(M * (I > Hd ? I : Hd)));
        float *nxt = malloc(sizeof(float) * (size_t)(M * (Hd > O ? Hd : O)));
        memcpy(cur, x.data, sizeof(float) * (size_t)(M * I));
        int64_t in = I;
        for (int l = 0; l < layers; l++) {
            const int64_t out = mlp.w[l].shape[0];
            linear_ref(cur, mlp.w[l].data, mlp.b[l].data, M, in, out, nxt);
            for (int64_t i = 0; i < M * out; i++)
                nxt[i] = l < layers - 1 ? (nxt[i] > 0 ? nxt[i] : 0) : sig ? 1.0f / (1.0f + expf(-nxt[i])) : nxt[i];
            float *t = cur;
            cur = nxt;
            nxt = t;
            in = out;
        }
        test_assert_close(y.data, cur, (size_t)(M * O), 1e-5, 1e-4, "mlp");
        free(cur);
        free(nxt);
        segc_arena_reset(&a);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_proj_attention_matches_plain_loops) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(6);
    for (int it = 0; it < 5; it++) {
        const int heads = test_rng_int(&r, 1, 3);
        const int64_t C = 4 * test_rng_int(&r, 1, 5), Dint = heads * test_rng_int(&r, 1, 5),
                      Ckv = test_rng_int(&r, 1, 13), Lq = test_rng_int(&r, 1, 19), Lk = test_rng_int(&r, 1, 23);
        segc_proj_attention at = {.num_heads = heads, .embed_dim = C, .kv_in_dim = Ckv, .internal_dim = Dint};
        segc_tensor *ws[4] = {&at.q_w, &at.k_w, &at.v_w, &at.out_w}, *bs[4] = {&at.q_b, &at.k_b, &at.v_b, &at.out_b};
        const int64_t outs[4] = {Dint, Dint, Dint, C}, ins[4] = {C, Ckv, Ckv, Dint};
        for (int k = 0; k < 4; k++) {
            segc_tensor_new_f32(&a, ws[k], 2, outs[k], ins[k], 0, 0);
            segc_tensor_new_f32(&a, bs[k], 1, outs[k], 0, 0, 0);
            test_fill_uniform(&r, ws[k]->data, (size_t)(outs[k] * ins[k]), -0.5f, 0.5f);
            test_fill_uniform(&r, bs[k]->data, (size_t)outs[k], -0.5f, 0.5f);
        }
        segc_tensor q, k, v, out;
        segc_tensor_new_f32(&a, &q, 2, Lq, C, 0, 0);
        segc_tensor_new_f32(&a, &k, 2, Lk, Ckv, 0, 0);
        segc_tensor_new_f32(&a, &v, 2, Lk, Ckv, 0, 0);
        segc_tensor_new_f32(&a, &out, 2, Lq, C, 0, 0);
        test_fill_uniform(&r, q.data, (size_t)(Lq * C), -1, 1);
        test_fill_uniform(&r, k.data, (size_t)(Lk * Ckv), -1, 1);
        test_fill_uniform(&r, v.data, (size_t)(Lk * Ckv), -1, 1);
        ck_assert_msg(segc_proj_attention_forward(&a, &at, &q, &k, &v, &out) == SEGC_OK, "%s", segc_last_error());
        /* plain: project, per head softmax(q k^T / sqrt(d)) v, out_proj */
        const int64_t d = Dint / heads;
        float *qp = malloc(sizeof(float) * (size_t)(Lq * Dint)), *kp = malloc(sizeof(float) * (size_t)(Lk * Dint)),
              *vp = malloc(sizeof(float) * (size_t)(Lk * Dint)), *o = malloc(sizeof(float) * (size_t)(Lq * Dint)),
              *want = malloc(sizeof(float) * (size_t)(Lq * C));
        double *sc = malloc(sizeof(double) * (size_t)Lk);
        linear_ref(q.data, at.q_w.data, at.q_b.data, Lq, C, Dint, qp);
        linear_ref(k.data, at.k_w.data, at.k_b.data, Lk, Ckv, Dint, kp);
        linear_ref(v.data, at.v_w.data, at.v_b.data, Lk, Ckv, Dint, vp);
        for (int h = 0; h < heads; h++)
            for (int64_t i = 0; i < Lq; i++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < Lk; j++) {
                    double s = 0;
                    for (int64_t e = 0; e < d; e++) s += (double)qp[i * Dint + h * d + e] * kp[j * Dint + h * d + e];
                    sc[j] = s / sqrt((double)d);
                    mx = fmax(mx, sc[j]);
                }
                for (int64_t j = 0; j < Lk; j++) sum += sc[j] = exp(sc[j] - mx);
                for (int64_t e = 0; e < d; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < Lk; j++) acc += sc[j] / sum * vp[j * Dint + h * d + e];
                    o[i * Dint + h * d + e] = (float)acc;
                }
            }
        linear_ref(o, at.out_w.data, at.out_b.data, Lq, Dint, C, want);
        test_assert_close(out.data, want, (size_t)(Lq * C), 1e-4, 1e-4, "projected attention");
        free(qp), free(kp), free(vp), free(o), free(want), free(sc);
        segc_arena_reset(&a);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_layout_transposes_match_index_formula) {
    test_rng r = test_rng_new(7);
    for (int it = 0; it < 6; it++) {
        const int64_t P = test_rng_int(&r, 1, 77), C = test_rng_int(&r, 1, 45);
        float *tok = malloc(sizeof(float) * (size_t)(P * C)), *chw = malloc(sizeof(float) * (size_t)(P * C)),
              *back = malloc(sizeof(float) * (size_t)(P * C)), *add = malloc(sizeof(float) * (size_t)C);
        test_fill_uniform(&r, tok, (size_t)(P * C), -1, 1);
        test_fill_uniform(&r, add, (size_t)C, -1, 1);
        segc_tokens_to_chw(tok, P, C, add, chw);
        for (int64_t p = 0; p < P; p++)
            for (int64_t c = 0; c < C; c++) ck_assert_float_eq(chw[c * P + p], tok[p * C + c] + add[c]);
        segc_tokens_to_chw(tok, P, C, NULL, chw);
        segc_chw_to_tokens(chw, C, P, back);
        ck_assert_int_eq(memcmp(back, tok, sizeof(float) * (size_t)(P * C)), 0);
        free(tok), free(chw), free(back), free(add);
    }
}
END_TEST

static Suite *sam2_suite(void) {
    Suite *s = suite_create("model_sam2");
    TCase *tc = tcase_create("sam2");
    tcase_add_unchecked_fixture(tc, convert_once, NULL);
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, test_mlp_matches_plain_loops);
    tcase_add_test(tc, test_proj_attention_matches_plain_loops);
    tcase_add_test(tc, test_layout_transposes_match_index_formula);
    tcase_add_test(tc, test_sam2_convert_metadata);
    tcase_add_test(tc, test_sam2_rejects_bad_prompts);
    tcase_add_test(tc, test_sam2_decoder_matches_official_predictor);
    tcase_add_test(tc, test_sam2_truck_point_multimask);
    tcase_add_test(tc, test_sam2_truck_box_single_mask);
    tcase_add_test(tc, test_sam2_groceries_points_then_mask_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(sam2_suite()); }
