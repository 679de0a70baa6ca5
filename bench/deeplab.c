/* deeplab.c (bench_deeplab) - DeepLabV3+ forward time and peak RSS, segc vs the authors' PyTorch code,
   side by side in one run on the same image and thread count.

   Usage: bench_deeplab [CHECKPOINT.pth|MODEL.segc] [IMAGE] [ITERS]
     defaults: ../shared/weights/deeplabv3plus_mobilenet_voc_os16_random.pth,
               ../shared/reference/deeplabv3plus/voc_1/input.png (513x513), 5 iterations (+1 warm-up).
     A .pth is converted first (in a child process, so its memory does not count).
   PyTorch side: runs when SEGC_DEEPLAB_SRC points at a VainF/DeepLabV3Plus-Pytorch checkout (its
   network/ package) and /usr/bin/python3 imports torch; else it is skipped with a message. It builds
   network.modeling.<head>_<variant>(output_stride) with pretrained_backbone=False, loads the .pth's
   model_state, and times model(x) under torch.no_grad() with torch.set_num_threads(segc threads).
   Peak RSS: segc = this process (getrusage, before Python starts); PyTorch = the Python process's own
   ru_maxrss (includes the torch import). Times are medians, wall and process CPU time (the CPU time
   is the steadier number on a shared machine). SEGC_BENCH_PROFILE=1 adds a per-stage
   breakdown of one segc pass (time between consecutive taps). */
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
#include "models/deeplab.h"
#include "segc.h"

#define DEFAULT_WEIGHTS "../shared/weights/deeplabv3plus_mobilenet_voc_os16_random.pth"
#define DEFAULT_IMAGE "../shared/reference/deeplabv3plus/voc_1/input.png"
#define MAX_ITERS 100





/* Times segc: one warm-up, then `iters` forwards; returns the median in ms. */
static int bench_segc(const char *segc_path, const char *image, int iters, double *median_ms, double *median_cpu_ms,
                      int *h, int *w,
                      char *model_name, size_t name_size, int *os) {
    segc_file *f = NULL;
    void *model = NULL;
    segc_image img = {0};
    if (segc_file_open(segc_path, &f) || segc_deeplab_load(f, &model) || segc_image_load(image, &img)) {
        fprintf(stderr, "bench_deeplab: %s\n", segc_last_error());
        if (model) segc_deeplab_free(model);
        if (f) segc_file_close(f);
        return -1;
    }
    const char *head = "deeplabv3plus", *variant = "mobilenet";
    segc_file_get_str(f, "deeplab.head", &head);
    segc_file_get_str(f, "variant", &variant);
    snprintf(model_name, name_size, "%s_%s", head, variant);
    *os = segc_deeplab_output_stride(model);
    *h = img.height;
    *w = img.width;
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    double times[MAX_ITERS], cpu[MAX_ITERS];
    int rc = 0;
    for (int i = 0; i <= iters && !rc; i++) {
        segc_tensor logits;
        segc_arena_reset(&arena);
        double t0 = segc_time_ms(), c0 = bench_cpu_ms();
        if (segc_deeplab_semantic(model, &ctx, &img, &logits)) {
            fprintf(stderr, "bench_deeplab: forward: %s\n", segc_last_error());
            rc = -1;
        }
        if (i > 0) {
            times[i - 1] = segc_time_ms() - t0;
            cpu[i - 1] = bench_cpu_ms() - c0;
        }
    }
    if (!rc) {
        *median_ms = bench_median(times, iters);
        *median_cpu_ms = bench_median(cpu, iters);
    }
    if (!rc && getenv("SEGC_BENCH_PROFILE")) {
        /* one more pass with the stage profiler: time between consecutive taps */
        static segc_profile prof;
        segc_tensor logits;
        ctx.profile = &prof;
        segc_arena_reset(&arena);
        segc_profile_start(&prof);
        if (!segc_deeplab_semantic(model, &ctx, &img, &logits))
            for (int i = 0; i < prof.count; i++)
                printf("  stage %-28s %8.1f ms\n", prof.entries[i].name, prof.entries[i].total_ms);
        ctx.profile = NULL;
    }
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_deeplab_free(model);
    segc_file_close(f);
    return rc;
}

/* Runs the authors' code in /usr/bin/python3; parses "torch_ms=<x> rss_kb=<y>". */
static int bench_torch(const char *src, const char *pth, const char *image, const char *model_name, int os,
                       int threads, int iters, double *ms, double *cpu, long *rss_kb) {
    char script[] = "/tmp/segc_bench_deeplab_XXXXXX";
    int fd = mkstemp(script);
    if (fd < 0) return -1;
    FILE *sf = fdopen(fd, "w");
    fprintf(sf,
            "import sys, time, resource\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "import numpy as np, torch\n"
            "from PIL import Image\n"
            "from torchvision import transforms as T\n"
            "import network\n"
            "torch.set_num_threads(int(sys.argv[5]))\n"
            "model = network.modeling.__dict__[sys.argv[4]](num_classes=21, output_stride=int(sys.argv[6]),\n"
            "                                              pretrained_backbone=False)\n"
            "sd = torch.load(sys.argv[2], map_location='cpu')['model_state']\n"
            "k = sd[[n for n in sd if n.startswith('classifier.classifier.') and n.endswith('.bias')][-1]].shape[0]\n"
            "if k != 21:\n"
            "    model = network.modeling.__dict__[sys.argv[4]](num_classes=k, output_stride=int(sys.argv[6]),\n"
            "                                                  pretrained_backbone=False)\n"
            "model.load_state_dict(sd); model.eval(); del sd\n"
            "tf = T.Compose([T.ToTensor(), T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])\n"
            "img = Image.open(sys.argv[3]).convert('RGB')\n"
            "ts, cs = [], []\n"
            "with torch.no_grad():\n"
            "    for i in range(int(sys.argv[7]) + 1):\n"
            "        t0 = time.perf_counter(); c0 = time.process_time(); x = tf(img).unsqueeze(0); y = model(x)\n"
            "        if i: ts.append((time.perf_counter() - t0) * 1000); cs.append((time.process_time() - c0) * 1000)\n"
            "ts.sort(); cs.sort()\n"
            "print('torch_ms=%%f cpu_ms=%%f rss_kb=%%d' %% (ts[len(ts) // 2], cs[len(cs) // 2],\n"
            "      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n");
    fclose(sf);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s '%s' '%s' '%s' %s %d %d %d 2>&1", script, src, pth, image,
             model_name, threads, os, iters);
    FILE *p = popen(cmd, "r");
    int rc = -1;
    char line[1024];
    while (p && fgets(line, sizeof line, p)) {
        if (sscanf(line, "torch_ms=%lf cpu_ms=%lf rss_kb=%ld", ms, cpu, rss_kb) == 3) rc = 0;
        else fprintf(stderr, "  python: %s", line);
    }
    if (p) pclose(p);
    unlink(script);
    return rc;
}

static const char usage[] =
    "usage: bench_deeplab [CHECKPOINT.pth|MODEL.segc] [IMAGE] [ITERS]\n"
    "DeepLabV3+ forward in segc and in the authors' PyTorch code (when SEGC_DEEPLAB_SRC is set), same\n"
    "threads (SEGC_THREADS), median of ITERS (default 5); prints wall/CPU times, ratios and peak RSS.\n";

int main(int argc, char **argv) {
    if (bench_help(argc, argv, usage)) return 0;
    const char *weights = argc > 1 ? argv[1] : DEFAULT_WEIGHTS;
    const char *image = argc > 2 ? argv[2] : DEFAULT_IMAGE;
    int iters = argc > 3 ? atoi(argv[3]) : 5;
    if (iters < 1 || iters > MAX_ITERS) iters = 5;
    char segc_path[512];
    const char *pth = NULL;
    if (bench_ends_with(weights, ".segc")) {
        snprintf(segc_path, sizeof segc_path, "%s", weights);
    } else {
        pth = weights;
        snprintf(segc_path, sizeof segc_path, "/tmp/bench_deeplab_%d.segc", (int)getpid());
        if (bench_convert_in_child("bench_deeplab", pth, segc_path)) return 1;
    }
    int threads = segc_get_threads(), h = 0, w = 0, os = 16;
    char model_name[96];
    double segc_ms = 0, segc_cpu = 0;
    if (bench_segc(segc_path, image, iters, &segc_ms, &segc_cpu, &h, &w, model_name, sizeof model_name, &os))
        return 1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long segc_rss_kb = ru.ru_maxrss;
    printf("deeplab %s OS%d, %dx%d input, %d threads, median of %d\n", model_name, os, w, h, threads, iters);
    printf("  segc:    %9.1f ms wall %9.1f ms cpu   peak RSS %7.1f MiB\n", segc_ms, segc_cpu, segc_rss_kb / 1024.0);

    const char *src = getenv("SEGC_DEEPLAB_SRC");
    if (!src || !pth) {
        printf("  pytorch: skipped (%s)\n", !src ? "set SEGC_DEEPLAB_SRC to a VainF/DeepLabV3Plus-Pytorch checkout"
                                                 : "needs the .pth checkpoint, not a .segc");
    } else {
        double torch_ms = 0, torch_cpu = 0;
        long torch_rss_kb = 0;
        if (bench_torch(src, pth, image, model_name, os, threads, iters, &torch_ms, &torch_cpu, &torch_rss_kb)) {
            printf("  pytorch: failed (see messages above)\n");
        } else {
            printf("  pytorch: %9.1f ms wall %9.1f ms cpu   peak RSS %7.1f MiB\n", torch_ms, torch_cpu,
                   torch_rss_kb / 1024.0);
            printf("  speed-up %.2fx wall, %.2fx cpu; RSS ratio (torch / segc) %.2fx\n", torch_ms / segc_ms,
                   torch_cpu / segc_cpu, (double)torch_rss_kb / (double)segc_rss_kb);
        }
    }
    if (pth) unlink(segc_path);
    return 0;
}
