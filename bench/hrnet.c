/* hrnet.c - whole-model benchmark: the HRNet semantic forward (normalize, network, upsample to the input
   size) on the reference input, timed in segc and in the authors' PyTorch code in the same run on the
   same thread count; prints both median times, the ratio and the peak RSS of each process.
   The PyTorch side runs only when SEGC_HRNET_SRC points at a checkout of HRNet/HRNet-Semantic-Segmentation
   (branch pytorch-v1.1) and /usr/bin/python3 has torch; else it says it is skipped.
   Usage: bench_hrnet [--threads N] [--runs K] [WEIGHTS.pth|.segc [IMAGE]]
   Defaults: ../shared/weights/hrnet_w18_small_v2_cityscapes_random.pth (SEGC_SHARED) and
   ../shared/reference/hrnet/cars_1024x512/input.png. The yaml for PyTorch: SEGC_HRNET_YAML, else
   experiments/cityscapes/seg_hrnet_<variant>_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml.
   Not part of `meson test`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "convert.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/timer.h"
#include "io/image.h"
#include "io/segc_file.h"
#include "models/hrnet.h"
#include "segc.h"

#define MAX_RUNS 32
#define PYTHON "/usr/bin/python3"

/* The PyTorch side: builds HighResolutionNet from the yaml as tools/test.py does, loads the FullModel
   state dict ("model." keys), preprocesses as base_dataset.py input_transform (RGB, ImageNet mean/std)
   and times model(x) + F.interpolate(bilinear, align_corners=False) like BaseDataset.inference. */
static const char *torch_script =
    "import sys, time, resource, importlib.util\n"
    "import numpy as np\n"
    "if not hasattr(np, 'int'): np.int = int  # seg_hrnet.py uses np.int (removed in numpy 1.24)\n"
    "import torch, yaml\n"
    "import torch.nn.functional as F\n"
    "from PIL import Image\n"
    "src, yml, weights, image, threads, runs = sys.argv[1:7]\n"
    "torch.set_num_threads(int(threads))\n"
    "spec = importlib.util.spec_from_file_location('seg_hrnet', src + '/lib/models/seg_hrnet.py')\n"
    "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
    "class A(dict):\n"
    "    __getattr__ = dict.__getitem__\n"
    "def wrap(x): return A({k: wrap(v) for k, v in x.items()}) if isinstance(x, dict) else x\n"
    "cfg = wrap(yaml.safe_load(open(yml)))\n"
    "net = m.HighResolutionNet(cfg)\n"
    "sd = torch.load(weights, map_location='cpu')\n"
    "sd = {k[6:]: v for k, v in sd.items() if k.startswith('model.')}\n"
    "net.load_state_dict(sd); net.eval()\n"
    "img = np.asarray(Image.open(image).convert('RGB'), dtype=np.float32)\n"
    "mean = np.array([0.485, 0.456, 0.406]); std = np.array([0.229, 0.224, 0.225])\n"
    "def run():\n"
    "    x = ((img / 255.0 - mean) / std).astype(np.float32).transpose(2, 0, 1)[None].copy()\n"
    "    y = net(torch.from_numpy(x))\n"
    "    return F.interpolate(y, size=img.shape[:2], mode='bilinear', align_corners=False)\n"
    "times = []\n"
    "with torch.no_grad():\n"
    "    run()\n"
    "    for i in range(int(runs)):\n"
    "        t0 = time.perf_counter(); run(); times.append((time.perf_counter() - t0) * 1e3)\n"
    "times.sort()\n"
    "print('time_ms %.3f rss_kb %d' % (times[len(times) // 2], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n";

static double median(double *t, int n) {
    for (int i = 1; i < n; i++)   /* insertion sort: n is tiny */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double s = t[j];
            t[j] = t[j - 1], t[j - 1] = s;
        }
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Median ms of `runs` semantic passes after one warm-up; negative on failure. *arena_mb: arena peak. */
static double time_segc(const void *model, const segc_image *img, int runs, double *arena_mb) {
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_tensor logits;
    double t[MAX_RUNS];
    segc_status st = segc_hrnet_semantic(model, &ctx, img, &logits);
    for (int i = 0; i < runs && !st; i++) {
        segc_arena_reset(&arena);
        double t0 = segc_time_ms();
        st = segc_hrnet_semantic(model, &ctx, img, &logits);
        t[i] = segc_time_ms() - t0;
    }
    *arena_mb = (double)arena.peak / (1 << 20);
    segc_arena_free(&arena);
    if (st) {
        fprintf(stderr, "segc: %s\n", segc_last_error());
        return -1.0;
    }
    return median(t, runs);
}

/* Runs the PyTorch script; returns 0 and its median ms and peak RSS, or -1 (reason printed). */
static int time_torch(const char *weights, const char *image, const char *variant, int threads, int runs,
                      double *ms, long *rss_kb) {
    const char *src = getenv("SEGC_HRNET_SRC");
    if (!src || !*src) {
        printf("pytorch: skipped (set SEGC_HRNET_SRC to a checkout of HRNet-Semantic-Segmentation pytorch-v1.1)\n");
        return -1;
    }
    if (!ends_with(weights, ".pth")) {
        printf("pytorch: skipped (it needs the .pth checkpoint, not %s)\n", weights);
        return -1;
    }
    if (access(PYTHON, X_OK)) {
        printf("pytorch: skipped (%s not found)\n", PYTHON);
        return -1;
    }
    char yml[1024], script[256], cmd[16384];
    const char *yml_env = getenv("SEGC_HRNET_YAML");
    if (yml_env) snprintf(yml, sizeof yml, "%s", yml_env);
    else
        snprintf(yml, sizeof yml, "%s/experiments/cityscapes/seg_hrnet_%s_%s.yaml", src, variant,
                 "512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484");
    snprintf(script, sizeof script, "/tmp/segc_bench_hrnet_%ld.py", (long)getpid());
    FILE *fp = fopen(script, "w");
    if (!fp || fputs(torch_script, fp) < 0) {
        if (fp) fclose(fp);
        printf("pytorch: skipped (cannot write %s)\n", script);
        return -1;
    }
    fclose(fp);
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d %s '%s' '%s' '%s' '%s' '%s' %d %d", threads, PYTHON, script, src,
             yml, weights, image, threads, runs);
    FILE *p = popen(cmd, "r");
    int ok = 0;
    if (p) {
        char line[256];
        while (fgets(line, sizeof line, p))
            if (sscanf(line, "time_ms %lf rss_kb %ld", ms, rss_kb) == 2) ok = 1;
        ok = pclose(p) == 0 && ok;
    }
    remove(script);
    if (!ok) printf("pytorch: failed (command: %s)\n", cmd);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    int threads = 0, runs = 5;
    const char *weights = NULL, *image = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!weights) weights = argv[i];
        else if (!image) image = argv[i];
        else {
            fprintf(stderr, "usage: %s [--threads N] [--runs K] [WEIGHTS.pth|.segc [IMAGE]]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS) runs = 5;
    const char *shared = getenv("SEGC_SHARED") ? getenv("SEGC_SHARED") : "../shared";
    char wbuf[4096], ibuf[4096], segc_path[4096];
    if (!weights) {
        snprintf(wbuf, sizeof wbuf, "%s/weights/hrnet_w18_small_v2_cityscapes_random.pth", shared);
        weights = wbuf;
    }
    if (!image) {
        snprintf(ibuf, sizeof ibuf, "%s/reference/hrnet/cars_1024x512/input.png", shared);
        image = ibuf;
    }
    if (threads > 0) segc_set_threads(threads);
    threads = segc_get_threads();

    /* the .segc file: converted into /tmp when given a checkpoint */
    snprintf(segc_path, sizeof segc_path, "%s", weights);
    if (!ends_with(weights, ".segc")) {
        snprintf(segc_path, sizeof segc_path, "/tmp/segc_bench_hrnet_%ld.segc", (long)getpid());
        if (segc_convert_file(weights, segc_path, NULL)) {
            fprintf(stderr, "convert %s: %s\n", weights, segc_last_error());
            return 1;
        }
    }
    segc_file *f = NULL;
    void *model = NULL;
    segc_image img;
    const char *variant = "unknown";
    int rc = 1;
    if (segc_file_open(segc_path, &f) || segc_hrnet_load(f, &model) || segc_image_load(image, &img)) {
        fprintf(stderr, "%s\n", segc_last_error());
        goto done;
    }
    segc_file_get_str(f, "variant", &variant);
    printf("hrnet %s, %dx%d input, %d threads, median of %d runs\n", variant, img.width, img.height, threads, runs);
    double arena_mb = 0;
    double segc_ms = time_segc(model, &img, runs, &arena_mb);
    long segc_rss = peak_rss_kb();
    if (segc_ms < 0) goto free_image;
    printf("segc:    %9.1f ms   peak RSS %7.1f MB (activation arena peak %.1f MB)\n", segc_ms, segc_rss / 1024.0,
           arena_mb);
    double torch_ms;
    long torch_rss;
    if (!time_torch(weights, image, variant, threads, runs, &torch_ms, &torch_rss)) {
        printf("pytorch: %9.1f ms   peak RSS %7.1f MB\n", torch_ms, torch_rss / 1024.0);
        printf("ratio (pytorch / segc): time %.2fx, peak RSS %.2fx\n", torch_ms / segc_ms,
               (double)torch_rss / (double)segc_rss);
    }
    rc = 0;
free_image:
    segc_image_free(&img);
done:
    segc_hrnet_free(model);
    if (f) segc_file_close(f);
    if (strcmp(segc_path, weights)) remove(segc_path);
    return rc;
}
