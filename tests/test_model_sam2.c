/* test_model_sam2.c - SAM 2.1 Hiera-tiny image predictor against the authors' code: converts
   ../shared/weights/sam2.1_hiera_tiny_random_bf16.pt once per run, and for every image case of
   ../shared/reference/sam2.1_tiny/ runs encode (checking every encoder tap) and each predict() call of
   prompts.json (sparse/dense prompt embeddings, low-res logits, IoU, object score, full-size masks) with
   the tolerances of the case README. Also: batched predict against single calls, embedding files,
   prompt validation, converter metadata (the transformer helpers: test_nn_transformer.c). Skips the reference parts when ../shared is absent. */
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
#include "io/segc_file.h"
#include "io/sha256.h"
#include "models/sam2.h"
#include "test_reference.h"
#include "test_shared_models.h"
#include "test_util.h"

#define MODEL_DIR "sam2.1_tiny"
#define WEIGHTS "sam2.1_hiera_tiny_random_bf16.pt"
#define MAX_CALLS 4

static char segc_path[4096];
static int converted;
static char weights_sha[65];   /* sha256 of the shared checkpoint actually converted */

static void convert_once(void) {
    test_convert_shared(WEIGHTS, test_tmp_dir(), "sam2.1_hiera_tiny.segc", segc_path, sizeof segc_path);
    converted = segc_path[0] != '\0';
    char in[4096];
    snprintf(in, sizeof in, "%s/weights/%s", test_shared_dir() ? test_shared_dir() : ".", WEIGHTS);
    if (!converted || segc_sha256_file(in, weights_sha)) weights_sha[0] = 0;
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

/* The synthetic embedding of tests/gen/fixtures_sam2.py (orig size 180x120) and its mask input [1,1,256,256]. */
static void synth_embedding(segc_arena *arena, segc_sam2_embedding *emb, segc_tensor *mask_in) {
    *emb = (segc_sam2_embedding){.orig_h = 120, .orig_w = 180};
    ck_assert_int_eq(segc_tensor_new_f32(arena, &emb->image_embed, 4, 1, 256, 64, 64), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(arena, &emb->high_res[0], 4, 1, 32, 256, 256), SEGC_OK);
    ck_assert_int_eq(segc_tensor_new_f32(arena, &emb->high_res[1], 4, 1, 64, 128, 128), SEGC_OK);
    synth_map(&emb->image_embed, 0.37, 0.11, 0.07, 1.5);
    synth_map(&emb->high_res[0], 0.23, 0.05, 0.03, 0.8);
    synth_map(&emb->high_res[1], 0.19, 0.09, 0.04, 0.8);
    ck_assert_int_eq(segc_tensor_new_f32(arena, mask_in, 4, 1, 1, 256, 256), SEGC_OK);
    synth_map(mask_in, 0.0, 0.05, 0.07, 8.0);
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
    segc_sam2_embedding emb;
    segc_tensor mask_in;
    synth_embedding(&arena, &emb, &mask_in);
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

/* ---- batched predict and embedding files ------------------------------------------------------- */

/* Opens the converted tiny model; NULL (skip) without ../shared. */
static void *open_model(segc_file **f) {
    if (!test_shared_dir() || !converted) {
        test_skip("sam2: ../shared not found (set SEGC_SHARED)");
        return NULL;
    }
    ck_assert_int_eq(segc_file_open(segc_path, f), SEGC_OK);
    void *model = NULL;
    ck_assert_msg(segc_sam2_load(*f, &model) == SEGC_OK, "%s", segc_last_error());
    return model;
}

/* max |a - b| over n floats <= tol * max(1, max |b|). */
static void assert_close_scaled(const float *a, const float *b, int64_t n, double tol, const char *what, int set) {
    const double scale = fmax(1.0, test_max_abs(b, (size_t)n)), d = test_max_abs_diff(a, b, (size_t)n, NULL);
    ck_assert_msg(d <= tol * scale, "set %d %s: max |diff| %.3g > %.3g", set, what, d, tol * scale);
}

/* Output b of a batch against one predict() call on the same prompts. */
static void assert_same_outputs(const segc_sam2_outputs *got, const segc_sam2_outputs *want, int set) {
    ck_assert_int_eq(got->num_masks, want->num_masks);
    const int64_t K = want->num_masks, n_lr = segc_tensor_numel(&want->low_res_logits),
                  n_full = segc_tensor_numel(&want->masks);
    assert_close_scaled(got->iou, want->iou, K, 1e-5, "iou", set);
    assert_close_scaled(&got->object_score_logit, &want->object_score_logit, 1, 1e-5, "object score", set);
    assert_close_scaled(got->low_res_logits.data, want->low_res_logits.data, n_lr, 1e-5, "low-res logits", set);
    assert_close_scaled(got->sam_tokens.data, want->sam_tokens.data, segc_tensor_numel(&want->sam_tokens), 1e-5,
                        "sam tokens", set);
    if (want->mask_logits.data)
        assert_close_scaled(got->mask_logits.data, want->mask_logits.data, n_full, 1e-5, "mask logits", set);
    int64_t differ = 0;   /* a logit within rounding of 0 may flip */
    for (int64_t i = 0; i < n_full; i++) differ += ((uint8_t *)got->masks.data)[i] != ((uint8_t *)want->masks.data)[i];
    ck_assert_msg(differ <= n_full / 10000, "set %d: %lld mask pixels differ", set, (long long)differ);
}

/* predict_batch over B sets = B predict() calls: 11 point sets (shared image keys, two chunks of the
   decoder, multimask, logits) and 4 mixed sets (points, a box, mask inputs, a mask alone; single mask with
   dynamic multimask). */
START_TEST(test_sam2_predict_batch_matches_single_calls) {
    segc_file *f = NULL;
    void *model = open_model(&f);
    if (!model) return;
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_sam2_embedding emb;
    segc_tensor mask_in;
    synth_embedding(&arena, &emb, &mask_in);
    enum { NPOINTS = 11, NMIXED = 4 };
    segc_sam2_point pts[NPOINTS][2];
    segc_sam2_prompts many[NPOINTS];
    for (int i = 0; i < NPOINTS; i++) {   /* one or two clicks spread over the 180x120 image */
        pts[i][0] = (segc_sam2_point){(float)((17 + 29 * i) % 175), (float)((11 + 13 * i) % 117), 1};
        pts[i][1] = (segc_sam2_point){(float)((90 + 31 * i) % 175), (float)((60 + 7 * i) % 117), i % 3 ? 1 : 0};
        many[i] = (segc_sam2_prompts){.num_points = 1 + (i % 2), .points = pts[i]};
    }
    const segc_sam2_point p2[3] = {{60, 45, 1}, {72, 42, 1}, {30, 60, 0}};
    const segc_sam2_prompts mixed[NMIXED] = {
        {.num_points = 1, .points = p2},
        {.has_box = 1, .box = {42, 36, 112, 87}},
        {.num_points = 3, .points = p2, .mask_input = &mask_in},
        {.mask_input = &mask_in},
    };
    const struct { const segc_sam2_prompts *pr; int n, multimask, logits; } runs[2] = {
        {many, NPOINTS, 1, 1}, {mixed, NMIXED, 0, 0}};
    const segc_arena_mark base = segc_arena_get_mark(&arena);
    for (int r = 0; r < 2; r++) {
        segc_sam2_outputs batch[NPOINTS], one;
        ck_assert_msg(segc_sam2_predict_batch(model, &ctx, &emb, runs[r].n, runs[r].pr, runs[r].multimask,
                                              runs[r].logits, batch) == SEGC_OK, "%s", segc_last_error());
        for (int b = 0; b < runs[r].n; b++) {
            const segc_arena_mark mark = segc_arena_get_mark(&arena);
            ck_assert_int_eq(segc_sam2_predict(model, &ctx, &emb, &runs[r].pr[b], runs[r].multimask, runs[r].logits,
                                               &one), SEGC_OK);
            assert_same_outputs(&batch[b], &one, b);
            segc_arena_release(&arena, mark);
        }
        segc_arena_release(&arena, base);
    }
    /* a bad set fails the whole call before any work, naming the set */
    segc_sam2_prompts bad[3] = {many[0], many[1], {0}};
    segc_sam2_outputs outs[3];
    ck_assert_int_eq(segc_sam2_predict_batch(model, &ctx, &emb, 3, bad, 1, 0, outs), SEGC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(segc_last_error(), "prompt set 2") != NULL, "%s", segc_last_error());
    ck_assert_int_eq(segc_sam2_predict_batch(model, &ctx, &emb, 0, bad, 1, 0, outs), SEGC_ERR_INVALID_ARG);
    segc_arena_free(&arena);
    segc_sam2_free(model);
    segc_file_close(f);
}
END_TEST

/* An embedding survives a save/load round trip bit for bit and predicts the same; a file from another model
   (variant or checkpoint) is refused by predict, a file of another kind by load. */
START_TEST(test_sam2_embedding_file_round_trip_and_mismatch) {
    segc_file *f = NULL;
    void *model = open_model(&f);
    if (!model) return;
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_sam2_embedding emb, back;
    segc_tensor mask_in;
    synth_embedding(&arena, &emb, &mask_in);
    const char *variant = NULL, *sha = NULL;
    ck_assert_int_eq(segc_file_get_str(f, "variant", &variant), SEGC_OK);
    ck_assert_int_eq(segc_file_get_str(f, "source.sha256", &sha), SEGC_OK);
    snprintf(emb.model_variant, sizeof emb.model_variant, "%s", variant);   /* as segc_sam2_encode stamps it */
    snprintf(emb.model_sha256, sizeof emb.model_sha256, "%s", sha);
    char path[4096], other[4096];
    snprintf(path, sizeof path, "%s/sam2_embedding_test.segc", test_tmp_dir());
    snprintf(other, sizeof other, "%s/sam2_embedding_other.segc", test_tmp_dir());
    ck_assert_msg(segc_sam2_embedding_save(path, &emb) == SEGC_OK, "%s", segc_last_error());
    ck_assert_msg(segc_sam2_embedding_load(path, &arena, &back) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(back.orig_h, 120);
    ck_assert_int_eq(back.orig_w, 180);
    ck_assert_str_eq(back.model_variant, variant);
    ck_assert_str_eq(back.model_sha256, sha);
    const segc_tensor *a[3] = {&emb.image_embed, &emb.high_res[0], &emb.high_res[1]},
                      *b[3] = {&back.image_embed, &back.high_res[0], &back.high_res[1]};
    for (int i = 0; i < 3; i++) {
        ck_assert(segc_tensor_has_shape(b[i], 4, a[i]->shape));
        ck_assert_int_eq(memcmp(a[i]->data, b[i]->data, (size_t)segc_tensor_numel(a[i]) * sizeof(float)), 0);
    }
    const segc_sam2_point pt = {50, 37, 1};
    const segc_sam2_prompts pr = {.num_points = 1, .points = &pt};
    segc_sam2_outputs o1, o2;
    ck_assert_int_eq(segc_sam2_predict(model, &ctx, &emb, &pr, 1, 0, &o1), SEGC_OK);
    ck_assert_int_eq(segc_sam2_predict(model, &ctx, &back, &pr, 1, 0, &o2), SEGC_OK);
    ck_assert_int_eq(memcmp(o1.low_res_logits.data, o2.low_res_logits.data,
                            (size_t)segc_tensor_numel(&o1.low_res_logits) * sizeof(float)), 0);
    /* another model's embedding: refused with both identities in the message */
    segc_sam2_embedding foreign = emb;
    snprintf(foreign.model_variant, sizeof foreign.model_variant, "sam2.1_hiera_large");
    ck_assert_int_eq(segc_sam2_embedding_save(other, &foreign), SEGC_OK);
    ck_assert_int_eq(segc_sam2_embedding_load(other, &arena, &back), SEGC_OK);
    ck_assert_int_eq(segc_sam2_predict(model, &ctx, &back, &pr, 1, 0, &o2), SEGC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(segc_last_error(), "sam2.1_hiera_large") && strstr(segc_last_error(), variant),
                  "%s", segc_last_error());
    foreign = emb;   /* same variant, another checkpoint */
    memset(foreign.model_sha256, '0', 64);
    ck_assert_int_eq(segc_sam2_predict(model, &ctx, &foreign, &pr, 1, 0, &o2), SEGC_ERR_INVALID_ARG);
    /* not an embedding file, a missing file, an embedding that was never computed */
    ck_assert_int_eq(segc_sam2_embedding_load(segc_path, &arena, &back), SEGC_ERR_FORMAT);
    ck_assert_msg(strstr(segc_last_error(), "not a SAM 2 embedding") != NULL, "%s", segc_last_error());
    ck_assert_int_ne(segc_sam2_embedding_load("/nonexistent/emb.segc", &arena, &back), SEGC_OK);
    segc_sam2_embedding empty = {0};
    ck_assert_int_eq(segc_sam2_embedding_save(other, &empty), SEGC_ERR_INVALID_ARG);
    remove(path);
    remove(other);
    segc_arena_free(&arena);
    segc_sam2_free(model);
    segc_file_close(f);
}
END_TEST

static Suite *sam2_suite(void) {
    Suite *s = suite_create("model_sam2");
    TCase *tc = tcase_create("sam2");
    tcase_add_unchecked_fixture(tc, convert_once, NULL);
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, test_sam2_convert_metadata);
    tcase_add_test(tc, test_sam2_rejects_bad_prompts);
    tcase_add_test(tc, test_sam2_decoder_matches_official_predictor);
    tcase_add_test(tc, test_sam2_predict_batch_matches_single_calls);
    tcase_add_test(tc, test_sam2_embedding_file_round_trip_and_mismatch);
    tcase_add_test(tc, test_sam2_truck_point_multimask);
    tcase_add_test(tc, test_sam2_truck_box_single_mask);
    tcase_add_test(tc, test_sam2_groceries_points_then_mask_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(sam2_suite()); }
