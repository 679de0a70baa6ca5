/* bench/sam2_video.c - SAM 2 video tracking throughput and memory: frames/s tracking K objects through a
   synthetic clip (a textured background with K moving squares, each boxed on frame 0), and peak RSS
   sampled along the clip to show that the streaming tracker's footprint stays flat.
   Usage: bench_sam2_video MODEL.segc [--frames N] [--objects K] [--size WxH] [--threads T]
   Side by side with the official SAM2VideoPredictor: not built in (torch 1.13 on these machines needs the
   runtime patches of tests/gen/fixtures_sam2_video.py); time the same clip there with that script's model
   builder and compare frames/s at the same thread count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "core/arena.h"
#include "core/ctx.h"
#include "core/status.h"
#include "io/image.h"
#include "models/sam2_video.h"
#include "segc.h"

typedef struct clip {
    int w, h, objects;
} clip;

static double now_s(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Square k at frame t: side h/5, moving right by 2 px per frame, rows spread over the height. */
static void square(const clip *c, int k, int t, int *x0, int *y0, int *side) {
    *side = c->h / 5;
    *x0 = (10 + 2 * t + 37 * k) % (c->w - *side);
    *y0 = (c->h / (c->objects + 1)) * (k + 1) - *side / 2;
}

static segc_status make_frame(void *user, int index, segc_image *out) {
    const clip *c = user;
    uint8_t *px = malloc((size_t)c->w * c->h * 3);
    if (!px) return segc_fail(SEGC_ERR_NOMEM, "out of memory");
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            uint8_t *p = px + ((size_t)y * c->w + x) * 3;
            p[0] = (uint8_t)(60 + ((x / 16 + y / 16) & 1) * 40);
            p[1] = (uint8_t)(80 + (x * 7 + y * 3) % 50);
            p[2] = (uint8_t)(100 + (y % 32));
        }
    for (int k = 0; k < c->objects; k++) {
        int x0, y0, s;
        square(c, k, index, &x0, &y0, &s);
        for (int y = y0; y < y0 + s; y++)
            for (int x = x0; x < x0 + s; x++) {
                uint8_t *p = px + ((size_t)y * c->w + x) * 3;
                p[0] = (uint8_t)(200 - 40 * k);
                p[1] = (uint8_t)(40 + 60 * k);
                p[2] = 30;
            }
    }
    segc_status st = segc_image_from_rgb(px, c->w, c->h, out);
    free(px);
    return st;
}

typedef struct progress {
    int n, done;
    double t0, t_first;
    long rss_at[4];
} progress;

static segc_status on_frame(void *user, const segc_sam2_video_frame *f) {
    progress *p = user;
    (void)f;
    p->done++;
    if (p->done == 1) p->t_first = now_s();
    if (p->done == 10) p->rss_at[0] = peak_rss_kb();
    if (p->done == 100) p->rss_at[1] = peak_rss_kb();
    if (p->done == 1000) p->rss_at[2] = peak_rss_kb();
    if (p->done == p->n) p->rss_at[3] = peak_rss_kb();
    return SEGC_OK;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.segc [--frames N] [--objects K] [--size WxH] [--threads T]\n", argv[0]);
        return 2;
    }
    int n = 20, threads = 0;
    clip c = {480, 270, 1};
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--frames")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--objects")) c.objects = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size") && sscanf(argv[i + 1], "%dx%d", &c.w, &c.h) == 2) continue;
        else {
            fprintf(stderr, "bad option %s\n", argv[i]);
            return 2;
        }
    }
    if (n < 2 || c.objects < 1 || c.objects > 4 || c.w < 64 || c.h < 64) {
        fprintf(stderr, "need --frames >= 2, --objects 1..4, --size >= 64x64\n");
        return 2;
    }
    if (threads > 0) segc_set_threads(threads);
    segc_file *f = NULL;
    void *model = NULL;
    segc_sam2_video *s = NULL;
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    progress p = {.n = n};
    segc_status st = segc_file_open(argv[1], &f);
    if (st == SEGC_OK) st = segc_sam2_video_load(f, &model);
    if (st == SEGC_OK) st = segc_sam2_video_init_fn(model, n, make_frame, &c, 1, &s);
    const long rss_loaded = peak_rss_kb();
    for (int k = 0; k < c.objects && st == SEGC_OK; k++) {
        int x0, y0, side;
        square(&c, k, 0, &x0, &y0, &side);
        const float box[4] = {(float)x0, (float)y0, (float)(x0 + side), (float)(y0 + side)};
        st = segc_sam2_video_add_prompt(s, &ctx, 0, k + 1, NULL, 0, box, NULL);
    }
    p.t0 = now_s();
    if (st == SEGC_OK) st = segc_sam2_video_propagate(s, &ctx, 0, -1, 0, on_frame, &p);
    const double t1 = now_s();
    if (st != SEGC_OK) {
        fprintf(stderr, "bench_sam2_video: %s\n", segc_last_error());
    } else {
        /* frames after the first: steady-state tracking (the first is the prompted frame) */
        printf("segc sam2 video: %d frames %dx%d, %d object(s), %d threads: %.3f frames/s (%.2f s/frame steady)\n", n,
               c.w, c.h, c.objects, segc_get_threads(), (n - 1) / (t1 - p.t_first), (t1 - p.t_first) / (n - 1));
        printf("peak RSS (MB): after load %.1f, frame 10 %.1f, frame 100 %.1f, frame 1000 %.1f, last %.1f\n",
               rss_loaded / 1024.0, p.rss_at[0] / 1024.0, p.rss_at[1] / 1024.0, p.rss_at[2] / 1024.0,
               p.rss_at[3] / 1024.0);
        printf("official SAM2VideoPredictor: skipped (not run side by side in this program; see the header)\n");
    }
    segc_sam2_video_free_state(s);
    segc_arena_free(&arena);
    segc_sam2_video_free(model);
    if (f) segc_file_close(f);
    return st == SEGC_OK ? 0 : 1;
}
