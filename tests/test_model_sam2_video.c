/* test_model_sam2_video.c - SAM 2.1 Hiera-tiny video tracking against the authors' SAM2VideoPredictor:
   converts ../shared/weights/sam2.1_hiera_tiny_random_bf16.pt once per run and replays the three runs of
   tests/gen/fixtures_sam2_video.py (tests/data/sam2_video/) on the 8 frames of
   ../shared/reference/sam2.1_tiny/video_bedroom: a forward propagation (object 1 clicked on frame 0,
   object 2 boxed on frame 2), a reverse one (clicks on frame 6, box on frame 7) and a mask prompt
   (add_new_mask on frame 3, then frame 4), comparing every
   processed frame: frame order, object scores, sampled low-res logits and their stats,
   video-resolution masks. Two runs take the object-score <= 0 ("occluded") paths: an all-zero mask
   prompt after a click (score -10, no-object pointer and memory embedding, then a frame that attends to
   them), and the decoder's own negative score (the score head's output bias set to NEG_SCORE_BIAS on
   both sides: NO_OBJ_SCORE masks). Also: the frame loader (PIL bicubic) bit for bit, bad input.
   Time: a tracked frame costs the Hiera encoder plus two memory attentions over up to 7 memory frames
   (seconds on 2 cores), so by default the forward run stops after 3 frames (object 2 tracked before its
   prompt frame, both prompt frames), the reverse run after 2, the decoder-negative run after 1 (the
   occlusion run plays all 3); SEGC_TEST_FULL=1 replays every reference frame.
   Tolerances: the tracker chains 8 frames of fp32 transformer + memory (bf16-rounded memory features, where
   one ulp flip changes a value by 2^-8 relative); 1e-3 * max|logits| for logits and 1e-3 for scores /
   pointers (abs + rel) hold with margin on this clip; masks >= 99.9 % identical. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/status.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/segc_file.h"
#include "models/sam2_video.h"
#include "models/sam2_video_frames.h"
#include "models/sam2_video_internal.h"
#include "test_util.h"

#define WEIGHTS "sam2.1_hiera_tiny_random_bf16.pt"
#define FRAMES_DIR "reference/sam2.1_tiny/video_bedroom/frames"
#define LOGIT_RTOL 1e-3
#define SCORE_TOL 1e-3
#define MASK_AGREE 0.999
#define NEG_SCORE_BIAS (-3.9375f)   /* fixtures_sam2_video.py: pred_obj_score_head.layers.2.bias of run "neg" */

static char segc_path[4096];
static int converted;

static void convert_once(void) {
    const char *shared = test_shared_dir();
    if (!shared) return;
    char in[4096];
    snprintf(in, sizeof in, "%s/weights/%s", shared, WEIGHTS);
    snprintf(segc_path, sizeof segc_path, "%s/sam2.1_hiera_tiny_video.segc", test_tmp_dir());
    segc_convert_options o;
    segc_convert_options_default(&o);
    segc_status st = segc_convert_file(in, segc_path, &o);
    if (st) fprintf(stderr, "convert %s: %s\n", in, segc_last_error());
    converted = st == SEGC_OK;
}

static void read_npy(const char *name, segc_npy *a) {
    char path[4096];
    snprintf(path, sizeof path, "%s/sam2_video/%s", test_data_dir(), name);
    ck_assert_msg(segc_npy_read(path, a) == SEGC_OK, "%s: %s", path, segc_last_error());
}

static const char *frames_dir(char *buf, size_t size) {
    const char *shared = test_shared_dir();
    if (!shared) return NULL;
    snprintf(buf, size, "%s/%s", shared, FRAMES_DIR);
    struct stat sb;
    return stat(buf, &sb) == 0 ? buf : NULL;
}

/* The reference of one run, and the comparison state the callback updates. */
typedef struct run_ref {
    segc_npy frames, scores, logits, stats, masks, ptr;
    int processed;
    segc_sam2_video *state;
    segc_arena *arena;
    double worst_logit, worst_score, worst_mask;
} run_ref;

static void load_ref(const char *run, run_ref *r) {
    char name[128];
    const char *parts[6] = {"frames", "scores", "logits", "stats", "masks", "ptr"};
    segc_npy *dst[6] = {&r->frames, &r->scores, &r->logits, &r->stats, &r->masks, &r->ptr};
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "%s_%s.npy", run, parts[i]);
        read_npy(name, dst[i]);
    }
}

static void free_ref(run_ref *r) {
    segc_npy *all[6] = {&r->frames, &r->scores, &r->logits, &r->stats, &r->masks, &r->ptr};
    for (int i = 0; i < 6; i++) segc_npy_free(all[i]);
}

/* Compares one frame's outputs with the reference row r->processed. */
static segc_status check_frame(void *user, const segc_sam2_video_frame *fr) {
    run_ref *r = user;
    const int k = r->processed++;
    ck_assert_msg(k < r->frames.shape[0], "more frames processed than the reference (%d)", (int)r->frames.shape[0]);
    ck_assert_int_eq(fr->frame, ((const int32_t *)r->frames.data)[k]);
    const int O = (int)r->scores.shape[1];
    ck_assert_int_eq(fr->num_objects, O);
    const int64_t S4 = 256, H = fr->video_h, W = fr->video_w, nbytes = r->masks.shape[2];
    uint8_t *mask = malloc((size_t)(H * W));
    ck_assert_ptr_nonnull(mask);
    for (int o = 0; o < O; o++) {
        const float score = ((const float *)r->scores.data)[k * O + o];
        const float *st = (const float *)r->stats.data + (k * O + o) * 4;
        const float *lr = fr->low_res[o];
        /* object score */
        const double ds = fabs(fr->obj_scores[o] - score);
        if (ds > r->worst_score) r->worst_score = ds;
        ck_assert_msg(ds <= SCORE_TOL * (1.0 + fabs(score)), "frame %d obj %d: score %.5f, want %.5f", fr->frame,
                      fr->obj_ids[o], fr->obj_scores[o], score);
        /* low-res logits: sample [::4, ::4] and whole-map stats */
        const float *want = (const float *)r->logits.data + (int64_t)(k * O + o) * 64 * 64;
        const double tol = LOGIT_RTOL * st[0];
        double maxabs = 0, sum = 0;
        int64_t pos = 0;
        for (int64_t i = 0; i < S4 * S4; i++) {
            maxabs = fmax(maxabs, fabs(lr[i]));
            sum += lr[i];
            pos += lr[i] > 0.0f;
        }
        for (int64_t y = 0; y < 64; y++)
            for (int64_t x = 0; x < 64; x++) {
                const double d = fabs(lr[y * 4 * S4 + x * 4] - want[y * 64 + x]);
                if (d / st[0] > r->worst_logit) r->worst_logit = d / st[0];
                ck_assert_msg(d <= tol, "frame %d obj %d: logit (%lld, %lld) = %.5f, want %.5f (tol %.2g)", fr->frame,
                              fr->obj_ids[o], (long long)y * 4, (long long)x * 4, lr[y * 4 * S4 + x * 4],
                              want[y * 64 + x], tol);
            }
        ck_assert_msg(fabs(maxabs - st[0]) <= tol, "frame %d obj %d: max|logit| %.4f want %.4f", fr->frame,
                      fr->obj_ids[o], maxabs, st[0]);
        ck_assert_msg(fabs(sum - st[1]) <= tol * S4 * S4 * 0.01 + 1e-4 * fabs(st[1]), "frame %d obj %d: sum %.3f want %.3f",
                      fr->frame, fr->obj_ids[o], sum, st[1]);
        ck_assert_msg(fabs((double)pos - st[2]) <= (1.0 - MASK_AGREE) * S4 * S4, "frame %d obj %d: %lld positive, want %.0f",
                      fr->frame, fr->obj_ids[o], (long long)pos, st[2]);
        /* video-resolution mask */
        ck_assert_msg(segc_sam2_video_upscale(r->state, r->arena, lr, mask) == SEGC_OK, "%s", segc_last_error());
        const uint8_t *bits = (const uint8_t *)r->masks.data + (int64_t)(k * O + o) * nbytes;
        int64_t diff = 0;
        for (int64_t i = 0; i < H * W; i++) diff += mask[i] != ((bits[i >> 3] >> (7 - (i & 7))) & 1);
        const double frac = (double)diff / (double)(H * W);
        if (frac > r->worst_mask) r->worst_mask = frac;
        ck_assert_msg(frac <= 1.0 - MASK_AGREE, "frame %d obj %d: %lld of %lld mask pixels differ", fr->frame,
                      fr->obj_ids[o], (long long)diff, (long long)(H * W));
    }
    free(mask);
    return SEGC_OK;
}

typedef struct prompt_spec {
    int frame, obj;
    int npts;
    segc_sam2_point pts[2];
    int has_box;
    float box[4];
    int is_mask;        /* add_new_mask of the rectangle mask_rect (may be empty) */
    int mask_rect[4];   /* x0, y0, x1, y1 */
} prompt_spec;

/* One fixture run: prompts, propagation, frame-by-frame comparison. With `score_bias` (may be NULL) the
   object-score head's output bias is replaced as the fixture script replaced it. */
static void run_fixture(const char *run, const prompt_spec *p, int np, int reverse, int quick_frames,
                        const float *score_bias) {
    char dbuf[4096];
    const char *dir = frames_dir(dbuf, sizeof dbuf);
    if (!dir) {
        test_skip("sam2 video: ../shared/" FRAMES_DIR " not found (set SEGC_SHARED)");
        return;
    }
    ck_assert_msg(converted, "conversion of %s failed (see stderr)", WEIGHTS);
    segc_file *f = NULL;
    ck_assert_msg(segc_file_open(segc_path, &f) == SEGC_OK, "%s", segc_last_error());
    void *model = NULL;
    ck_assert_msg(segc_sam2_video_load(f, &model) == SEGC_OK, "%s", segc_last_error());
    float bias = score_bias ? *score_bias : 0.0f;
    if (score_bias) {   /* a view of a local: the weights themselves stay untouched */
        segc_mlp *head = &((sam2v_model *)model)->sam->obj_head;
        ck_assert_int_eq(head->num_layers, 3);
        ck_assert_int_eq(head->b[2].shape[0], 1);
        head->b[2] = segc_tensor_f32(&bias, 1, 1, 0, 0, 0);
    }
    segc_sam2_video *s = NULL;
    ck_assert_msg(segc_sam2_video_init_dir(model, dir, 0, &s) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(segc_sam2_video_num_frames(s), 8);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    for (int i = 0; i < np; i++) {
        if (p[i].is_mask) {
            int h, w;
            segc_sam2_video_size(s, &h, &w);
            uint8_t *mk = calloc((size_t)h * w, 1);
            ck_assert_ptr_nonnull(mk);
            for (int y = p[i].mask_rect[1]; y < p[i].mask_rect[3]; y++)
                for (int x = p[i].mask_rect[0]; x < p[i].mask_rect[2]; x++) mk[y * w + x] = 1;
            ck_assert_msg(segc_sam2_video_add_mask(s, &ctx, p[i].frame, p[i].obj, mk, NULL) == SEGC_OK, "%s",
                          segc_last_error());
            free(mk);
            continue;
        }
        ck_assert_msg(segc_sam2_video_add_prompt(s, &ctx, p[i].frame, p[i].obj, p[i].pts, p[i].npts,
                                                 p[i].has_box ? p[i].box : NULL, NULL) == SEGC_OK,
                      "%s", segc_last_error());
    }
    run_ref r = {0};
    load_ref(run, &r);
    r.state = s;
    r.arena = &arena;
    const char *full = getenv("SEGC_TEST_FULL");   /* the whole reference run, else its first frames */
    const int max_frames = full && *full && strcmp(full, "0") ? (int)r.frames.shape[0] - 1 : quick_frames;
    ck_assert_msg(segc_sam2_video_propagate(s, &ctx, -1, max_frames, reverse, check_frame, &r) == SEGC_OK, "%s",
                  segc_last_error());
    const int want = max_frames < 0 || max_frames >= r.frames.shape[0] ? (int)r.frames.shape[0] : max_frames + 1;
    ck_assert_int_eq(r.processed, want);
    printf("sam2 video %s: %d frames; worst logit diff %.2e of max|x|, score %.2e, mask %.4f %%\n", run, r.processed,
           r.worst_logit, r.worst_score, 100.0 * r.worst_mask);
    free_ref(&r);
    segc_sam2_video_free_state(s);
    segc_arena_free(&arena);
    segc_sam2_video_free(model);
    segc_file_close(f);
}

START_TEST(test_video_forward_two_objects) {
    const prompt_spec p[2] = {{.frame = 0, .obj = 1, .npts = 1, .pts = {{200.0f, 130.0f, 1}}},
                              {.frame = 2, .obj = 2, .has_box = 1, .box = {250.0f, 140.0f, 420.0f, 260.0f}}};
    run_fixture("fwd", p, 2, 0, 2, NULL);
}
END_TEST

START_TEST(test_video_reverse_two_objects) {
    const prompt_spec p[2] = {{.frame = 6, .obj = 1, .npts = 2, .pts = {{120.0f, 200.0f, 1}, {60.0f, 60.0f, 0}}},
                              {.frame = 7, .obj = 2, .has_box = 1, .box = {20.0f, 120.0f, 200.0f, 260.0f}}};
    run_fixture("rev", p, 2, 1, 1, NULL);
}
END_TEST

START_TEST(test_video_mask_prompt) {
    const prompt_spec p[1] = {{.frame = 3, .obj = 5, .is_mask = 1, .mask_rect = {100, 50, 300, 200}}};
    run_fixture("msk", p, 1, 0, 1, NULL);
}
END_TEST

/* Occlusion by the user: a clicked object given an all-zero mask on the next frame (score -10, the
   no-object pointer and memory embedding), then a tracked frame that attends to that memory. */
START_TEST(test_video_empty_mask_occludes_object) {
    const prompt_spec p[2] = {{.frame = 0, .obj = 1, .npts = 1, .pts = {{200.0f, 130.0f, 1}}},
                              {.frame = 1, .obj = 1, .is_mask = 1}};
    run_fixture("occ", p, 2, 0, 2, NULL);
}
END_TEST

/* Occlusion by the model: the decoder's score <= 0 empties the mask (NO_OBJ_SCORE) and takes the
   no-object pointer on the prompted frame; SEGC_TEST_FULL=1 adds the tracked frame 1, which attends to
   that frame's memory with the no-object embedding. */
START_TEST(test_video_negative_score_empties_mask) {
    const prompt_spec p[1] = {{.frame = 0, .obj = 1, .npts = 1, .pts = {{200.0f, 130.0f, 1}}}};
    const float bias = NEG_SCORE_BIAS;
    run_fixture("neg", p, 1, 0, 0, &bias);
}
END_TEST

/* The frame loader reproduces PIL's bicubic resize bit for bit (u8 sums) and the normalization. */
START_TEST(test_video_frames_match_pil) {
    char dbuf[4096];
    const char *dir = frames_dir(dbuf, sizeof dbuf);
    if (!dir) {
        test_skip("sam2 video: ../shared/" FRAMES_DIR " not found (set SEGC_SHARED)");
        return;
    }
    char **names = NULL;
    int n = 0;
    ck_assert_msg(sam2v_list_frames(dir, &names, &n) == SEGC_OK, "%s", segc_last_error());
    segc_npy sums;
    read_npy("frames_u8_sums.npy", &sums);
    ck_assert_int_eq(n, (int)sums.shape[0]);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    uint8_t *rs = malloc(1024 * 1024 * 3);
    ck_assert_ptr_nonnull(rs);
    for (int i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        segc_image img;
        ck_assert_msg(segc_image_load(path, &img) == SEGC_OK, "%s", segc_last_error());
        ck_assert_msg(sam2v_pil_resize_bicubic(&arena, img.rgb, img.width, img.height, 1024, 1024, rs) == SEGC_OK, "%s",
                      segc_last_error());
        int64_t s0 = 0, s1 = 0;
        for (int64_t j = 0; j < 1024 * 1024 * 3; j++) {
            s0 += rs[j];
            s1 += (int64_t)rs[j] * (j % 251);
        }
        const int32_t *w = (const int32_t *)sums.data + 3 * i;
        const int64_t w0 = w[0], w1 = ((int64_t)w[1] << 30) + w[2];
        ck_assert_msg(s0 == w0 && s1 == w1, "frame %s: sums %lld %lld, want %lld %lld", names[i], (long long)s0,
                      (long long)s1, (long long)w0, (long long)w1);
        segc_image_free(&img);
        free(names[i]);
    }
    free(names);
    free(rs);
    segc_npy_free(&sums);
    segc_arena_free(&arena);
}
END_TEST

/* The normalized frame as the model sees it (a view through a model-free sam2_model config). */
START_TEST(test_video_frame_normalization) {
    char dbuf[4096];
    const char *dir = frames_dir(dbuf, sizeof dbuf);
    if (!dir) {
        test_skip("sam2 video: ../shared/" FRAMES_DIR " not found (set SEGC_SHARED)");
        return;
    }
    sam2_model *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    m->cfg.image_size = 1024;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    memcpy(m->cfg.mean, mean, sizeof mean);
    memcpy(m->cfg.std, std, sizeof std);
    char path[8192];
    snprintf(path, sizeof path, "%s/00000.png", dir);
    segc_image img;
    ck_assert_msg(segc_image_load(path, &img) == SEGC_OK, "%s", segc_last_error());
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_tensor x;
    ck_assert_msg(sam2v_frame_preprocess(m, &arena, &img, &x) == SEGC_OK, "%s", segc_last_error());
    segc_npy want;
    read_npy("frame0_sample.npy", &want);
    const float *xd = x.data, *wd = want.data;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 128; y++)
            for (int xx = 0; xx < 128; xx++) {
                const float got = xd[((int64_t)c * 1024 + y * 8) * 1024 + xx * 8], w = wd[(c * 128 + y) * 128 + xx];
                ck_assert_msg(fabsf(got - w) <= 1e-6f, "c %d y %d x %d: %.7f want %.7f", c, y * 8, xx * 8, got, w);
            }
    segc_npy_free(&want);
    segc_image_free(&img);
    segc_arena_free(&arena);
    free(m);
}
END_TEST

/* Bad input: empty frame directory, mixed frame sizes, prompts on missing frames, bad labels, no prompts. */
START_TEST(test_video_rejects_bad_input) {
    if (!converted) {
        test_skip("sam2 video: no converted model (../shared absent)");
        return;
    }
    segc_file *f = NULL;
    ck_assert_msg(segc_file_open(segc_path, &f) == SEGC_OK, "%s", segc_last_error());
    void *model = NULL;
    ck_assert_msg(segc_sam2_video_load(f, &model) == SEGC_OK, "%s", segc_last_error());
    char dir[4096], path[8192];
    snprintf(dir, sizeof dir, "%s/video_bad", test_tmp_dir());
    mkdir(dir, 0700);
    segc_sam2_video *s = NULL;
    ck_assert_int_ne(segc_sam2_video_init_dir(model, dir, 0, &s), SEGC_OK);   /* empty */
    ck_assert_ptr_null(s);
    ck_assert_int_ne(segc_sam2_video_init_dir(model, "/nonexistent/frames", 0, &s), SEGC_OK);
    uint8_t px[40 * 30 * 3];
    memset(px, 90, sizeof px);
    snprintf(path, sizeof path, "%s/00000.png", dir);
    ck_assert_int_eq(segc_png_write(path, 40, 30, 3, px), SEGC_OK);
    snprintf(path, sizeof path, "%s/00001.png", dir);
    ck_assert_int_eq(segc_png_write(path, 30, 40, 3, px), SEGC_OK);
    snprintf(path, sizeof path, "%s/notes.txt", dir);   /* ignored */
    FILE *t = fopen(path, "w");
    ck_assert_ptr_nonnull(t);
    fclose(t);
    ck_assert_msg(segc_sam2_video_init_dir(model, dir, 0, &s) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(segc_sam2_video_num_frames(s), 2);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    const segc_sam2_point pt = {10.0f, 10.0f, 1}, bad = {10.0f, 10.0f, 5};
    ck_assert_int_ne(segc_sam2_video_add_prompt(s, &ctx, 2, 1, &pt, 1, NULL, NULL), SEGC_OK);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "frame 2"));
    ck_assert_int_ne(segc_sam2_video_add_prompt(s, &ctx, -1, 1, &pt, 1, NULL, NULL), SEGC_OK);
    ck_assert_int_ne(segc_sam2_video_add_prompt(s, &ctx, 0, 1, &bad, 1, NULL, NULL), SEGC_OK);
    ck_assert_int_ne(segc_sam2_video_add_prompt(s, &ctx, 0, 1, NULL, 0, NULL, NULL), SEGC_OK);
    ck_assert_int_ne(segc_sam2_video_propagate(s, &ctx, -1, -1, 0, NULL, NULL), SEGC_OK);   /* no prompts */
    /* frame 1 has another size: the prompt on frame 1 fails clearly */
    ck_assert_int_ne(segc_sam2_video_add_prompt(s, &ctx, 1, 1, &pt, 1, NULL, NULL), SEGC_OK);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "mixed frame sizes"));
    segc_sam2_video_free_state(s);
    segc_arena_free(&arena);
    segc_sam2_video_free(model);
    segc_file_close(f);
}
END_TEST

static Suite *video_suite(void) {
    Suite *s = suite_create("model_sam2_video");
    TCase *tc = tcase_create("sam2_video");
    tcase_add_unchecked_fixture(tc, convert_once, NULL);
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_video_frames_match_pil);
    tcase_add_test(tc, test_video_frame_normalization);
    tcase_add_test(tc, test_video_rejects_bad_input);
    tcase_add_test(tc, test_video_forward_two_objects);
    tcase_add_test(tc, test_video_reverse_two_objects);
    tcase_add_test(tc, test_video_mask_prompt);
    tcase_add_test(tc, test_video_empty_mask_occludes_object);
    tcase_add_test(tc, test_video_negative_score_empties_mask);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(video_suite()); }
