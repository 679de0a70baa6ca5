/* maskrcnn.c (bench_maskrcnn) - Mask R-CNN (torchvision maskrcnn_resnet50_fpn) forward time and peak RSS,
   segc vs torchvision, side by side in one run on the same image, weights and thread count, plus where
   segc's time goes (ResNet body, FPN, RPN, box head, mask head, mask pasting).

   Usage: bench_maskrcnn [CHECKPOINT.pth] [IMAGE] [ITERS]
     defaults: ../shared/weights/maskrcnn_resnet50_fpn_random_fp16.pth,
               ../shared/reference/maskrcnn_r50_fpn/cars/input.png (1125x750, resized to 1200x800, batched
               as 1216x800), 3 iterations (+1 warm-up).
     The .pth is converted first in a child process (its memory does not count).
   PyTorch side: /usr/bin/python3 with torch + torchvision (the authors' code is torchvision itself):
   MaskRCNN(resnet50 with FrozenBatchNorm2d + FPN, 91 classes) with the .pth widened to float32, eval,
   torch.set_num_threads(segc threads), model([image / 255]) under torch.no_grad(), image decoded
   outside the timed region by both sides. Skipped with a message when python3 or torchvision is missing.
   Peak RSS: segc = this process (getrusage, before Python starts; weights widened to f32 at load);
   PyTorch = the Python process's ru_maxrss (includes the torch import). Times are medians, wall and
   process CPU time (CPU time is the steadier number on a shared machine; OMP_WAIT_POLICY=PASSIVE helps
   both sides there). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "convert.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/status.h"
#include "core/timer.h"
#include "io/image.h"
#include "io/segc_file.h"
#include "models/maskrcnn.h"
#include "segc.h"

#define DEFAULT_WEIGHTS "../shared/weights/maskrcnn_resnet50_fpn_random_fp16.pth"
#define DEFAULT_IMAGE "../shared/reference/maskrcnn_r50_fpn/cars/input.png"
#define MAX_ITERS 50

/* The stages of the breakdown: a profile entry (time since the previous tap) goes to the first group
   whose prefix its tap name starts with. */
static const struct {
    const char *label, *prefix;
} GROUPS[] = {
    {"transform", "transform."},
    {"backbone body (ResNet-50)", "backbone.body."},
    {"backbone FPN", "backbone.fpn."},
    {"RPN (head, decode, NMS)", "rpn."},
    {"box head (RoIAlign, fc6/7, NMS)", "roi_heads.box"},
    {"mask head (RoIAlign, 5 convs)", "roi_heads.mask"},
    {"paste masks", "detections."},
};
#define NUM_GROUPS (sizeof GROUPS / sizeof GROUPS[0])




/* Prints one profiled pass grouped by stage. */
static void print_breakdown(const segc_profile *prof) {
    double group_ms[NUM_GROUPS] = {0}, other = 0, total = 0;
    for (int i = 0; i < prof->count; i++) {
        const segc_profile_entry *e = &prof->entries[i];
        size_t g = 0;
        while (g < NUM_GROUPS && strncmp(e->name, GROUPS[g].prefix, strlen(GROUPS[g].prefix))) g++;
        if (g < NUM_GROUPS) group_ms[g] += e->total_ms;
        else other += e->total_ms;
        total += e->total_ms;
    }
    printf("  segc stages (one profiled pass, %.1f ms):\n", total);
    for (size_t g = 0; g < NUM_GROUPS; g++)
        printf("    %-34s %9.1f ms %5.1f%%\n", GROUPS[g].label, group_ms[g], total > 0 ? 100 * group_ms[g] / total : 0);
    if (other > 0) printf("    %-34s %9.1f ms\n", "other", other);
}

/* Times segc: one warm-up, then `iters` forwards (medians), then one profiled pass. */
static int bench_segc(const char *segc_path, const char *image, int iters, double *median_ms, double *median_cpu_ms,
                      int *h, int *w, int *count) {
    segc_file *f = NULL;
    void *model = NULL;
    segc_image img = {0};
    if (segc_file_open(segc_path, &f) || segc_maskrcnn_load(f, &model) || segc_image_load(image, &img)) {
        fprintf(stderr, "bench_maskrcnn: %s\n", segc_last_error());
        if (model) segc_maskrcnn_free(model);
        if (f) segc_file_close(f);
        return -1;
    }
    *h = img.height;
    *w = img.width;
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    double times[MAX_ITERS], cpu[MAX_ITERS];
    int rc = 0;
    segc_detections d;
    for (int i = 0; i <= iters && !rc; i++) {
        segc_arena_reset(&arena);
        double t0 = segc_time_ms(), c0 = bench_cpu_ms();
        if (segc_maskrcnn_detect(model, &ctx, &img, NULL, &d)) {
            fprintf(stderr, "bench_maskrcnn: forward: %s\n", segc_last_error());
            rc = -1;
        }
        if (i > 0) {
            times[i - 1] = segc_time_ms() - t0;
            cpu[i - 1] = bench_cpu_ms() - c0;
        }
    }
    if (!rc) {
        *count = d.count;
        *median_ms = bench_median(times, iters);
        *median_cpu_ms = bench_median(cpu, iters);
        static segc_profile prof;
        ctx.profile = &prof;
        segc_arena_reset(&arena);
        segc_profile_start(&prof);
        if (!segc_maskrcnn_detect(model, &ctx, &img, NULL, &d)) print_breakdown(&prof);
        ctx.profile = NULL;
    }
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_maskrcnn_free(model);
    segc_file_close(f);
    return rc;
}

/* Runs torchvision in /usr/bin/python3; parses "torch_ms=<x> cpu_ms=<y> rss_kb=<z> count=<n>". */
static int bench_torch(const char *pth, const char *image, int threads, int iters, double *ms, double *cpu,
                       long *rss_kb, int *count) {
    char script[] = "/tmp/segc_bench_maskrcnn_XXXXXX";
    int fd = mkstemp(script);
    if (fd < 0) return -1;
    FILE *sf = fdopen(fd, "w");
    fprintf(sf,
            "import sys, time, resource\n"
            "import numpy as np, torch\n"
            "from PIL import Image\n"
            "from torchvision.models import resnet50\n"
            "from torchvision.models.detection import MaskRCNN\n"
            "from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor\n"
            "from torchvision.ops.misc import FrozenBatchNorm2d\n"
            "torch.set_num_threads(int(sys.argv[3]))\n"
            "sd = {k: v.float() for k, v in torch.load(sys.argv[1], map_location='cpu').items()}\n"
            "model = MaskRCNN(_resnet_fpn_extractor(resnet50(norm_layer=FrozenBatchNorm2d), 3),\n"
            "                 sd['roi_heads.box_predictor.cls_score.bias'].shape[0])\n"
            "model.load_state_dict(sd); model.eval(); del sd\n"
            "img = torch.from_numpy(np.array(Image.open(sys.argv[2]).convert('RGB'))).permute(2, 0, 1).contiguous()\n"
            "ts, cs = [], []\n"
            "with torch.no_grad():\n"
            "    for i in range(int(sys.argv[4]) + 1):\n"
            "        t0 = time.perf_counter(); c0 = time.process_time(); out = model([img.float() / 255])[0]\n"
            "        if i: ts.append((time.perf_counter() - t0) * 1000); cs.append((time.process_time() - c0) * 1000)\n"
            "ts.sort(); cs.sort()\n"
            "print('torch_ms=%%f cpu_ms=%%f rss_kb=%%d count=%%d' %% (ts[len(ts) // 2], cs[len(cs) // 2],\n"
            "      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(out['boxes'])))\n");
    fclose(sf);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s '%s' '%s' %d %d 2>&1", script, pth, image, threads, iters);
    FILE *p = popen(cmd, "r");
    int rc = -1;
    char line[1024];
    while (p && fgets(line, sizeof line, p)) {
        if (sscanf(line, "torch_ms=%lf cpu_ms=%lf rss_kb=%ld count=%d", ms, cpu, rss_kb, count) == 4) rc = 0;
        else if (!strstr(line, "Warning") && !strstr(line, "warnings.warn")) fprintf(stderr, "  python: %s", line);
    }
    if (p) pclose(p);
    unlink(script);
    return rc;
}

static const char usage[] =
    "usage: bench_maskrcnn [CHECKPOINT.pth] [IMAGE] [ITERS]\n"
    "Mask R-CNN (ResNet-50 FPN) forward in segc and in torchvision, same threads (SEGC_THREADS),\n"
    "median of ITERS (default 3); prints wall/CPU times, ratios and peak RSS.\n";

int main(int argc, char **argv) {
    if (bench_help(argc, argv, usage)) return 0;
    const char *pth = argc > 1 ? argv[1] : DEFAULT_WEIGHTS;
    const char *image = argc > 2 ? argv[2] : DEFAULT_IMAGE;
    int iters = argc > 3 ? atoi(argv[3]) : 3;
    if (iters < 1 || iters > MAX_ITERS) iters = 3;
    char segc_path[512];
    snprintf(segc_path, sizeof segc_path, "/tmp/bench_maskrcnn_%d.segc", (int)getpid());
    if (bench_convert_in_child("bench_maskrcnn", pth, segc_path)) return 1;
    int threads = segc_get_threads(), h = 0, w = 0, count = 0;
    double segc_ms = 0, segc_cpu = 0;
    printf("maskrcnn_resnet50_fpn on %s, %d threads, median of %d (+1 warm-up)\n", image, threads, iters);
    int rc = bench_segc(segc_path, image, iters, &segc_ms, &segc_cpu, &h, &w, &count);
    unlink(segc_path);
    if (rc) return 1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long segc_rss_kb = ru.ru_maxrss;
    printf("  %dx%d input, %d detections\n", w, h, count);
    printf("  segc:    %9.1f ms wall %9.1f ms cpu   peak RSS %7.1f MiB\n", segc_ms, segc_cpu, segc_rss_kb / 1024.0);
    double torch_ms = 0, torch_cpu = 0;
    long torch_rss_kb = 0;
    int torch_count = 0;
    if (bench_torch(pth, image, threads, iters, &torch_ms, &torch_cpu, &torch_rss_kb, &torch_count)) {
        printf("  pytorch: skipped or failed (needs /usr/bin/python3 with torch and torchvision; see above)\n");
        return 0;
    }
    printf("  pytorch: %9.1f ms wall %9.1f ms cpu   peak RSS %7.1f MiB   (%d detections)\n", torch_ms, torch_cpu,
           torch_rss_kb / 1024.0, torch_count);
    printf("  speed-up %.2fx wall, %.2fx cpu; RSS ratio (torch / segc) %.2fx\n", torch_ms / segc_ms,
           torch_cpu / segc_cpu, (double)torch_rss_kb / (double)segc_rss_kb);
    return 0;
}
