/* hrnet.c - whole-model benchmark: the HRNet semantic forward (normalize, network, upsample to the input
   size) on one image, timed in segc and in the authors' PyTorch code in the same run, for each thread
   count of a list (default 1 and 2). Prints per thread count the median wall and CPU time (user + sys
   of the whole process, all threads) of both, the PyTorch / segc ratios, the 1 -> N thread scaling of
   each, and the peak RSS of each side. On a shared machine wall times are noisy: read the CPU times too.
   Every measurement runs in its own process (a forked child for segc, python3 for PyTorch), so each
   peak RSS is that configuration's alone and OpenMP starts fresh with its thread count. The program
   re-executes itself with OMP_WAIT_POLICY=PASSIVE unless that is set (spinning threads would bill CPU).
   The PyTorch side runs only when SEGC_HRNET_SRC points at a checkout of HRNet/HRNet-Semantic-Segmentation
   (branch pytorch-v1.1) and /usr/bin/python3 has torch; else it says it is skipped.
   Usage: bench_hrnet [--threads 1,2] [--runs K] [--yaml FILE] [WEIGHTS.pth [IMAGE]]
   Defaults: SEGC_SHARED (../shared)/weights/hrnet_w18_small_v2_cityscapes_random.pth and
   reference/hrnet/cars_1024x512/input.png. The yaml: --yaml / SEGC_HRNET_YAML, else the variant's
   experiments/cityscapes yaml (w48: seg_hrnet_w48_train_512x1024_...). Not part of `meson test`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "convert.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/timer.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/segc_file.h"
#include "models/hrnet.h"
#include "segc.h"

#define MAX_RUNS 32
#define MAX_CONFIGS 8
#define PYTHON "/usr/bin/python3"

/* The PyTorch side: builds HighResolutionNet from the yaml as tools/test.py does, loads the FullModel
   state dict ("model." keys), preprocesses as base_dataset.py input_transform (RGB, ImageNet mean/std)
   and times model(x) + F.interpolate(bilinear, align_corners=False) like BaseDataset.inference.
   The image comes as a u8 [H, W, 3] .npy written by this program (no image library needed). */
static const char *torch_script =
    "import sys, time, resource, importlib.util\n"
    "import numpy as np\n"
    "if not hasattr(np, 'int'): np.int = int  # seg_hrnet.py uses np.int (removed in numpy 1.24)\n"
    "import torch, yaml\n"
    "import torch.nn.functional as F\n"
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
    "sd = {k[6:]: v.float() for k, v in sd.items() if k.startswith('model.')}\n"
    "net.load_state_dict(sd); net.eval(); del sd\n"
    "img = np.load(image).astype(np.float32)\n"
    "mean = np.array([0.485, 0.456, 0.406]); std = np.array([0.229, 0.224, 0.225])\n"
    "def run():\n"
    "    x = ((img / 255.0 - mean) / std).astype(np.float32).transpose(2, 0, 1)[None].copy()\n"
    "    y = net(torch.from_numpy(x))\n"
    "    return F.interpolate(y, size=img.shape[:2], mode='bilinear', align_corners=False)\n"
    "wall, cpu = [], []\n"
    "with torch.no_grad():\n"
    "    run()\n"
    "    for i in range(int(runs)):\n"
    "        t0, c0 = time.perf_counter(), time.process_time()\n"
    "        run()\n"
    "        wall.append((time.perf_counter() - t0) * 1e3); cpu.append((time.process_time() - c0) * 1e3)\n"
    "wall.sort(); cpu.sort()\n"
    "print('time_ms %.3f cpu_ms %.3f rss_kb %d' % (wall[len(wall) // 2], cpu[len(cpu) // 2],\n"
    "      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n";

/* One measured configuration of one side. */
typedef struct result {
    int ok;
    double wall_ms, cpu_ms;   /* medians over the runs */
    long rss_kb;              /* peak RSS of the process */
    double arena_mb;          /* segc only: activation arena peak */
} result;




/* In a child process: load the model, one warm-up pass, `runs` timed passes. */
static void segc_child(const char *segc_path, const char *image, int threads, int runs, result *r) {
    segc_file *f = NULL;
    void *model = NULL;
    segc_image img = {0};
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    segc_tensor logits;
    double wall[MAX_RUNS], cpu[MAX_RUNS];
    segc_status st = segc_set_threads(threads);
    if (!st) st = segc_file_open(segc_path, &f);
    if (!st) st = segc_hrnet_load(f, &model);
    if (!st) st = segc_image_load(image, &img);
    if (!st) st = segc_hrnet_semantic(model, &ctx, &img, &logits);
    for (int i = 0; i < runs && !st; i++) {
        segc_arena_reset(&arena);
        double t0 = segc_time_ms(), c0 = bench_cpu_ms();
        st = segc_hrnet_semantic(model, &ctx, &img, &logits);
        wall[i] = segc_time_ms() - t0, cpu[i] = bench_cpu_ms() - c0;
    }
    if (st) fprintf(stderr, "segc: %s\n", segc_last_error());
    r->ok = !st;
    if (r->ok) r->wall_ms = bench_median(wall, runs), r->cpu_ms = bench_median(cpu, runs);
    r->arena_mb = (double)arena.peak / (1 << 20);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r->rss_kb = ru.ru_maxrss;
    segc_arena_free(&arena);
    segc_image_free(&img);
    segc_hrnet_free(model);
    if (f) segc_file_close(f);
}

/* Runs segc_child in a forked process and reads its result through a pipe. */
static result time_segc(const char *segc_path, const char *image, int threads, int runs) {
    result r = {0};
    int fd[2];
    if (pipe(fd)) return r;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        segc_child(segc_path, image, threads, runs, &r);
        ssize_t n = write(fd[1], &r, sizeof r);
        _exit(n == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    if (pid < 0 || read(fd[0], &r, sizeof r) != (ssize_t)sizeof r) r.ok = 0;
    close(fd[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
    return r;
}


/* The PyTorch side for one thread count; r.ok = 0 (reason printed) when it cannot run. */
static result time_torch(const char *script, const char *src, const char *yml, const char *weights,
                         const char *image_npy, int threads, int runs) {
    result r = {0};
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d %s '%s' '%s' '%s' '%s' '%s' %d %d", threads, PYTHON, script, src, yml,
             weights, image_npy, threads, runs);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (p) {
        char line[256];
        while (fgets(line, sizeof line, p))
            if (sscanf(line, "time_ms %lf cpu_ms %lf rss_kb %ld", &r.wall_ms, &r.cpu_ms, &r.rss_kb) == 3) r.ok = 1;
        r.ok = pclose(p) == 0 && r.ok;
    }
    if (!r.ok) printf("pytorch: failed (command: %s)\n", cmd);
    return r;
}

/* Writes the PyTorch script and the decoded image (u8 [H, W, 3] .npy) next to each other in /tmp. */
static int torch_inputs(const char *image, char *script, size_t ns, char *npy, size_t nn) {
    snprintf(script, ns, "/tmp/segc_bench_hrnet_%ld.py", (long)getpid());
    snprintf(npy, nn, "/tmp/segc_bench_hrnet_%ld.npy", (long)getpid());
    FILE *fp = fopen(script, "w");
    int ok = fp && fputs(torch_script, fp) >= 0;
    if (fp) fclose(fp);
    segc_image img;
    if (!ok || segc_image_load(image, &img)) return -1;
    const int64_t shape[3] = {img.height, img.width, 3};
    segc_tensor t = segc_tensor_wrap(SEGC_U8, 3, shape, img.rgb);
    ok = segc_npy_write(npy, &t) == SEGC_OK;
    segc_image_free(&img);
    return ok ? 0 : -1;
}

static void print_row(const char *side, int threads, const result *r) {
    printf("%-8s %2d thr  wall %9.1f ms  cpu %9.1f ms  peak RSS %7.1f MB", side, threads, r->wall_ms, r->cpu_ms,
           r->rss_kb / 1024.0);
    if (r->arena_mb > 0) printf("  (arena peak %.1f MB)", r->arena_mb);
    printf("\n");
}

static const char usage[] =
    "usage: bench_hrnet [--threads 1,2] [--runs K] [--yaml FILE] [WEIGHTS.pth [IMAGE]]\n"
    "HRNet semantic forward in segc and in the authors' seg_hrnet.py (when SEGC_HRNET_SRC is set) for each\n"
    "thread count; prints wall/CPU medians, PyTorch/segc ratios, 1 -> N scaling and peak RSS.\n";

int main(int argc, char **argv) {
    if (bench_help(argc, argv, usage)) return 0;
    if (!getenv("OMP_WAIT_POLICY")) {   /* must be in the environment before libgomp starts */
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execv("/proc/self/exe", argv);
    }
    int threads[MAX_CONFIGS] = {1, 2}, nthreads = 2, runs = 3;
    const char *weights = NULL, *image = NULL, *yml_arg = getenv("SEGC_HRNET_YAML");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            char *s = argv[++i];
            for (nthreads = 0; nthreads < MAX_CONFIGS && *s; nthreads++) {
                threads[nthreads] = (int)strtol(s, &s, 10);
                if (*s == ',') s++;
            }
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--yaml") && i + 1 < argc) yml_arg = argv[++i];
        else if (!weights) weights = argv[i];
        else if (!image) image = argv[i];
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS) runs = 3;
    const char *shared = getenv("SEGC_SHARED") ? getenv("SEGC_SHARED") : "../shared";
    char wbuf[4096], ibuf[4096], segc_path[4096], yml[4096], script[256], npy[256];
    if (!weights) {
        snprintf(wbuf, sizeof wbuf, "%s/weights/hrnet_w18_small_v2_cityscapes_random.pth", shared);
        weights = wbuf;
    }
    if (!image) {
        snprintf(ibuf, sizeof ibuf, "%s/reference/hrnet/cars_1024x512/input.png", shared);
        image = ibuf;
    }
    snprintf(segc_path, sizeof segc_path, "/tmp/segc_bench_hrnet_%ld.segc", (long)getpid());
    if (bench_convert_in_child("bench_hrnet", weights, segc_path)) return 1;
    segc_file *f = NULL;
    const char *variant = "unknown";
    char variant_buf[64] = "unknown";
    if (!segc_file_open(segc_path, &f) && !segc_file_get_str(f, "variant", &variant))
        snprintf(variant_buf, sizeof variant_buf, "%s", variant);
    if (f) segc_file_close(f);

    /* the PyTorch side's inputs, if it can run */
    const char *src = getenv("SEGC_HRNET_SRC");
    int torch_ok = 0;
    if (!src || !*src) printf("pytorch: skipped (set SEGC_HRNET_SRC to a checkout of HRNet-Semantic-Segmentation "
                              "pytorch-v1.1)\n");
    else if (!bench_ends_with(weights, ".pth")) printf("pytorch: skipped (it needs the .pth checkpoint)\n");
    else if (access(PYTHON, X_OK)) printf("pytorch: skipped (%s not found)\n", PYTHON);
    else if (torch_inputs(image, script, sizeof script, npy, sizeof npy)) printf("pytorch: skipped (cannot write /tmp)\n");
    else torch_ok = 1;
    if (yml_arg) snprintf(yml, sizeof yml, "%s", yml_arg);
    else
        snprintf(yml, sizeof yml, "%s/experiments/cityscapes/seg_hrnet_%s%s_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml",
                 src ? src : "", variant_buf, strcmp(variant_buf, "w48") ? "" : "_train");

    printf("hrnet %s, %s, OMP_WAIT_POLICY=%s, median of %d runs after a warm-up\n", variant_buf, image,
           getenv("OMP_WAIT_POLICY"), runs);
    result s[MAX_CONFIGS] = {{0}}, t[MAX_CONFIGS] = {{0}};
    for (int i = 0; i < nthreads; i++) {
        s[i] = time_segc(segc_path, image, threads[i], runs);
        if (s[i].ok) print_row("segc", threads[i], &s[i]);
        if (torch_ok) t[i] = time_torch(script, src, yml, weights, npy, threads[i], runs);
        if (t[i].ok) print_row("pytorch", threads[i], &t[i]);
        if (s[i].ok && t[i].ok)
            printf("         %2d thr  pytorch / segc: wall %.2fx  cpu %.2fx  peak RSS %.2fx\n", threads[i],
                   t[i].wall_ms / s[i].wall_ms, t[i].cpu_ms / s[i].cpu_ms, (double)t[i].rss_kb / (double)s[i].rss_kb);
    }
    for (int i = 1; i < nthreads; i++) {
        printf("scaling %d -> %d threads (wall): segc %.2fx", threads[0], threads[i], s[0].wall_ms / s[i].wall_ms);
        if (t[0].ok && t[i].ok) printf("  pytorch %.2fx", t[0].wall_ms / t[i].wall_ms);
        printf("   (cpu time ratio: segc %.2f", s[i].cpu_ms / s[0].cpu_ms);
        if (t[0].ok && t[i].ok) printf(", pytorch %.2f", t[i].cpu_ms / t[0].cpu_ms);
        printf(")\n");
    }
    remove(segc_path);
    if (torch_ok) remove(script), remove(npy);
    return 0;
}
