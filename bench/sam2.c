/* sam2.c - whole-model benchmark of the SAM 2 image predictor: encode (preprocess, Hiera, FPN neck) and one
   predict() call (one positive point, multimask) at 1024x1024 on the reference input, timed in segc and in
   the authors' PyTorch code (SAM2ImagePredictor.set_image / predict) in the same run on the same thread
   count; prints both median times, the ratio and the peak RSS of each process. Also times
   predict_batch of 16 one-point sets against 16 predict() calls (segc only).
   Several checkpoints (e.g. tiny and large) are measured one after the other, each in its own child process
   so each peak RSS is that model's.
   The PyTorch side runs only when SEGC_SAM2_SRC points at a checkout of facebookresearch/sam2 and
   /usr/bin/python3 has torch; else it says it is skipped. Its modules are built from the hyper-parameters
   stored in the .segc metadata (hydra, iopath and tqdm are stubbed when absent); torch < 2.0 gets a plain-math scaled_dot_product_attention.
   --check-taps DIR compares segc's encoder taps on IMAGE with DIR/<tap>.sample.npy + DIR/stats.json as
   tests/gen/make_sam2_large.py writes them (tolerance as the tiny reference cases: abs 1e-3 * max|x|).
   Usage: bench_sam2 [--threads N] [--runs K] [--check-taps DIR] [--image IMAGE] [WEIGHTS.pt|.segc ...]
   Defaults: ../shared/weights/sam2.1_hiera_tiny_random_bf16.pt (SEGC_SHARED) and
   ../shared/reference/sam2.1_tiny/truck_point/input.png. Large: see tests/gen/make_sam2_large.py.
   Not part of `meson test`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_util.h"
#include "convert.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/timer.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/segc_file.h"
#include "models/sam2.h"
#include "segc.h"

#define MAX_RUNS 32
#define PYTHON "/usr/bin/python3"
#define BATCH_SETS 16
#define MAX_MODELS 8

/* The PyTorch side. argv: src weights image threads runs cfg_json. Prints encode/predict medians. */
static const char *torch_script =
    "import sys, time, resource, types, json\n"
    "src, weights, image, threads, runs, cfg = sys.argv[1:7]\n"
    "sys.path.insert(0, src)\n"
    "cfg = json.loads(cfg)\n"
    "try: import tqdm\n"
    "except ImportError:\n"
    "    m = types.ModuleType('tqdm'); m.tqdm = lambda x, *a, **k: x; sys.modules['tqdm'] = m\n"
    "try: import iopath\n"
    "except ImportError:  # hieradet.py imports g_pathmgr only to load pretrained trunks\n"
    "    f = types.ModuleType('iopath.common.file_io'); f.g_pathmgr = None\n"
    "    sys.modules.update({'iopath': types.ModuleType('iopath'), 'iopath.common': types.ModuleType('iopath.common'),\n"
    "                        'iopath.common.file_io': f})\n"
    "try: import hydra\n"
    "except ImportError:\n"
    "    h = types.ModuleType('hydra'); h.initialize_config_module = lambda *a, **k: None\n"
    "    g = types.ModuleType('hydra.core.global_hydra')\n"
    "    g.GlobalHydra = types.SimpleNamespace(instance=lambda: types.SimpleNamespace(is_initialized=lambda: True))\n"
    "    sys.modules.update({'hydra': h, 'hydra.core': types.ModuleType('hydra.core'), 'hydra.core.global_hydra': g})\n"
    "import numpy as np, torch, torch.nn.functional as F\n"
    "from PIL import Image\n"
    "if not hasattr(F, 'scaled_dot_product_attention'):\n"
    "    F.scaled_dot_product_attention = lambda q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False: "
    "(q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1) @ v\n"
    "torch.set_num_threads(int(threads))\n"
    "from sam2.modeling.backbones.hieradet import Hiera\n"
    "from sam2.modeling.backbones.image_encoder import ImageEncoder, FpnNeck\n"
    "from sam2.modeling.position_encoding import PositionEmbeddingSine\n"
    "from sam2.modeling.sam.prompt_encoder import PromptEncoder\n"
    "from sam2.modeling.sam.mask_decoder import MaskDecoder\n"
    "from sam2.modeling.sam.transformer import TwoWayTransformer\n"
    "from sam2.modeling.sam2_base import SAM2Base\n"
    "from sam2.sam2_image_predictor import SAM2ImagePredictor\n"
    "from sam2.utils.transforms import SAM2Transforms\n"
    "class M(torch.nn.Module):\n"
    "    forward_image = SAM2Base.forward_image\n"
    "    _prepare_backbone_features = SAM2Base._prepare_backbone_features\n"
    "m = M()\n"
    "trunk = Hiera(embed_dim=cfg['embed_dim'], num_heads=cfg['num_heads'], stages=cfg['stages'],\n"
    "    global_att_blocks=cfg['global_att_blocks'], window_spec=cfg['window_spec'],\n"
    "    window_pos_embed_bkg_spatial_size=cfg['bkg'])\n"
    "chans = [cfg['embed_dim'] * 2 ** i for i in range(3, -1, -1)]\n"
    "neck = FpnNeck(PositionEmbeddingSine(256, normalize=True, scale=None, temperature=10000), d_model=256,\n"
    "    backbone_channel_list=chans, fpn_top_down_levels=[2, 3], fpn_interp_model='nearest')\n"
    "m.image_encoder = ImageEncoder(trunk, neck, scalp=1)\n"
    "m.sam_prompt_encoder = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024),\n"
    "    mask_in_chans=16)\n"
    "m.sam_mask_decoder = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2,\n"
    "    embedding_dim=256, mlp_dim=2048, num_heads=8), transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256,\n"
    "    use_high_res_features=True, iou_prediction_use_sigmoid=True, pred_obj_scores=True, pred_obj_scores_mlp=True,\n"
    "    use_multimask_token_for_obj_ptr=True, dynamic_multimask_via_stability=True,\n"
    "    dynamic_multimask_stability_delta=0.05, dynamic_multimask_stability_thresh=0.98)\n"
    "m.no_mem_embed = torch.nn.Parameter(torch.zeros(1, 1, 256))\n"
    "m.use_high_res_features_in_sam, m.num_feature_levels, m.directly_add_no_mem_embed = True, 3, True\n"
    "sd = torch.load(weights, map_location='cpu')['model']\n"
    "keep = ('image_encoder.', 'sam_prompt_encoder.', 'sam_mask_decoder.', 'no_mem_embed')\n"
    "m.load_state_dict({k: v.float() for k, v in sd.items() if k.startswith(keep)})\n"
    "m.eval(); m.device = torch.device('cpu')\n"
    "p = object.__new__(SAM2ImagePredictor)\n"
    "p.model, p._transforms, p.mask_threshold = m, SAM2Transforms(1024, 0.0), 0.0\n"
    "p._bb_feat_sizes = [(256, 256), (128, 128), (64, 64)]\n"
    "img = np.asarray(Image.open(image).convert('RGB'))\n"
    "pt = np.array([[img.shape[1] * 0.28, img.shape[0] * 0.31]]); lab = np.array([1])\n"
    "te, tp = [], []\n"
    "with torch.no_grad():\n"
    "    p.set_image(img); p.predict(point_coords=pt, point_labels=lab, multimask_output=True)\n"
    "    for i in range(int(runs)):\n"
    "        t0 = time.perf_counter(); p.set_image(img); t1 = time.perf_counter()\n"
    "        p.predict(point_coords=pt, point_labels=lab, multimask_output=True); t2 = time.perf_counter()\n"
    "        te.append((t1 - t0) * 1e3); tp.append((t2 - t1) * 1e3)\n"
    "te.sort(); tp.sort()\n"
    "print('encode_ms %.3f predict_ms %.3f rss_kb %d' % (te[len(te) // 2], tp[len(tp) // 2],\n"
    "      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n";




/* Median ms of predict_batch over BATCH_SETS one-point sets on `emb` and of the same sets as single
   predict() calls. */
static segc_status time_batch(const void *model, segc_ctx *ctx, const segc_sam2_embedding *emb, const segc_image *img,
                              int runs, double *batch_ms, double *single_ms) {
    segc_sam2_point pts[BATCH_SETS];
    segc_sam2_prompts pr[BATCH_SETS];
    segc_sam2_outputs out[BATCH_SETS];
    for (int i = 0; i < BATCH_SETS; i++) {   /* a 4 x 4 grid of clicks */
        pts[i] = (segc_sam2_point){img->width * (i % 4 + 0.5f) / 4, img->height * (i / 4 + 0.5f) / 4, 1};
        pr[i] = (segc_sam2_prompts){.num_points = 1, .points = &pts[i]};
    }
    double tb[MAX_RUNS] = {0}, ts[MAX_RUNS] = {0};
    const segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    segc_status st = SEGC_OK;
    for (int r = 0; r < runs && !st; r++) {
        double t0 = segc_time_ms();
        st = segc_sam2_predict_batch(model, ctx, emb, BATCH_SETS, pr, 1, 0, out);
        segc_arena_release(ctx->arena, mark);
        double t1 = segc_time_ms();
        for (int i = 0; i < BATCH_SETS && !st; i++) st = segc_sam2_predict(model, ctx, emb, &pr[i], 1, 0, &out[i]);
        segc_arena_release(ctx->arena, mark);
        tb[r] = t1 - t0;
        ts[r] = segc_time_ms() - t1;
    }
    *batch_ms = bench_median(tb, runs);
    *single_ms = bench_median(ts, runs);
    return st;
}

typedef struct segc_times {
    double enc_ms, pred_ms, arena_mb, batch_ms, single_ms;
} segc_times;

/* Median encode and predict ms over `runs` (after one warm-up when `warm`), then the batch timing on the
   last embedding; nonzero on failure. */
static int time_segc(const void *model, const segc_image *img, int runs, int warm, segc_times *t) {
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    const segc_sam2_point pt = {img->width * 0.28f, img->height * 0.31f, 1};
    const segc_sam2_prompts pr = {.num_points = 1, .points = &pt};
    segc_sam2_embedding emb;
    segc_sam2_outputs out;
    double te[MAX_RUNS] = {0}, tp[MAX_RUNS] = {0};
    segc_status st = SEGC_OK;
    if (warm && !(st = segc_sam2_encode(model, &ctx, img, &emb))) st = segc_sam2_predict(model, &ctx, &emb, &pr, 1, 0, &out);
    for (int i = 0; i < runs && !st; i++) {
        segc_arena_reset(&arena);
        double t0 = segc_time_ms();
        st = segc_sam2_encode(model, &ctx, img, &emb);
        double t1 = segc_time_ms();
        if (!st) st = segc_sam2_predict(model, &ctx, &emb, &pr, 1, 0, &out);
        te[i] = t1 - t0;
        tp[i] = segc_time_ms() - t1;
    }
    t->arena_mb = (double)arena.peak / (1 << 20);
    if (!st) st = time_batch(model, &ctx, &emb, img, runs, &t->batch_ms, &t->single_ms);
    segc_arena_free(&arena);
    if (st) {
        fprintf(stderr, "segc: %s\n", segc_last_error());
        return 1;
    }
    t->enc_ms = bench_median(te, runs);
    t->pred_ms = bench_median(tp, runs);
    return 0;
}

/* Encoder taps -> files of tests/gen/make_sam2_large.py, with its sample steps. */
static const struct { const char *tap, *file; int64_t step[4]; } check_refs[] = {
    {"input", "000_input_1024", {1, 1, 8, 8}},
    {"image_encoder.trunk.stage1", "010_trunk_stage1", {1, 8, 4, 4}},
    {"image_encoder.trunk.stage2", "010_trunk_stage2", {1, 8, 4, 4}},
    {"image_encoder.trunk.stage3", "010_trunk_stage3", {1, 16, 2, 2}},
    {"image_encoder.trunk.stage4", "010_trunk_stage4", {1, 16, 2, 2}},
    {"image_encoder.neck.level0", "020_fpn_level0", {1, 16, 8, 8}},
    {"image_encoder.neck.level1", "020_fpn_level1", {1, 16, 4, 4}},
    {"image_encoder.neck.level2", "020_fpn_level2", {1, 16, 2, 2}},
    {"sam_mask_decoder.conv_s0", "030_high_res_feat0", {1, 4, 4, 4}},
    {"sam_mask_decoder.conv_s1", "030_high_res_feat1", {1, 4, 4, 4}},
    {"image_embed", "040_image_embed", {1, 4, 2, 2}},
};
#define N_CHECK ((int)(sizeof check_refs / sizeof check_refs[0]))

typedef struct tap_check {
    const char *dir;
    char stats[1 << 14];   /* stats.json */
    int checked, failed;
} tap_check;

/* max_abs of `file` in stats.json, or -1. */
static double stats_max_abs(const tap_check *c, const char *file) {
    char key[128];
    snprintf(key, sizeof key, "\"%s\"", file);
    const char *p = strstr(c->stats, key);
    p = p ? strstr(p, "\"max_abs\":") : NULL;
    return p ? strtod(p + strlen("\"max_abs\":"), NULL) : -1.0;
}

/* Compares one tap (any strides, f32) sampled [::s0, ::s1, ::s2, ::s3] with the stored sample. */
static segc_status on_check_tap(void *user, const char *name, const segc_tensor *t) {
    tap_check *c = user;
    for (int i = 0; i < N_CHECK; i++) {
        if (strcmp(check_refs[i].tap, name)) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.sample.npy", c->dir, check_refs[i].file);
        segc_npy want;
        const double max_abs = stats_max_abs(c, check_refs[i].file);
        if (t->ndim != 4 || t->dtype != SEGC_F32 || max_abs < 0 || segc_npy_read(path, &want)) {
            printf("  %-28s cannot compare (missing %s or its stats)\n", check_refs[i].file, path);
            c->failed++;
            return SEGC_OK;
        }
        const int64_t *st = check_refs[i].step;
        int64_t n[4], k = 0;
        for (int d = 0; d < 4; d++) n[d] = (t->shape[d] + st[d] - 1) / st[d];
        int ok = want.ndim == 4;
        for (int d = 0; ok && d < 4; d++) ok = want.shape[d] == n[d];
        double diff = 0;
        const float *g = t->data, *w = want.data;
        for (int64_t a = 0; ok && a < n[0]; a++)
            for (int64_t b = 0; b < n[1]; b++)
                for (int64_t y = 0; y < n[2]; y++)
                    for (int64_t x = 0; x < n[3]; x++, k++) {
                        const float v = g[a * st[0] * t->stride[0] + b * st[1] * t->stride[1] +
                                          y * st[2] * t->stride[2] + x * st[3] * t->stride[3]];
                        const double d = v > w[k] ? v - w[k] : w[k] - v;
                        if (!(d <= diff)) diff = d;   /* NaN counts as a failure */
                    }
        const double tol = (i == 0 ? 2e-5 : 1e-3 * max_abs);
        const int pass = ok && diff <= tol;
        printf("  %-28s max|diff| %.3g (tol %.3g)%s\n", check_refs[i].file, diff, tol,
               ok ? (pass ? "" : "  FAIL") : "  FAIL: shape");
        c->checked++;
        c->failed += !pass;
        segc_npy_free(&want);
    }
    return SEGC_OK;
}

/* Runs encode with taps against the files of `dir`; nonzero if any differs or is missing. */
static int check_taps(const void *model, const segc_image *img, const char *dir) {
    static tap_check c;
    char path[4096];
    snprintf(path, sizeof path, "%s/stats.json", dir);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "check-taps: cannot open %s\n", path);
        return 1;
    }
    size_t len = fread(c.stats, 1, sizeof c.stats - 1, fp);
    fclose(fp);
    c.stats[len] = 0;
    c.dir = dir;
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    ctx.tap = on_check_tap;
    ctx.tap_user = &c;
    segc_sam2_embedding emb;
    printf("encoder taps vs %s:\n", dir);
    segc_status st = segc_sam2_encode(model, &ctx, img, &emb);
    segc_arena_free(&arena);
    if (st) fprintf(stderr, "segc: %s\n", segc_last_error());
    printf("  %d taps compared, %d failed\n", c.checked, c.failed);
    return st || c.failed || c.checked != N_CHECK;
}

/* Runs the PyTorch script; 0 with its medians and peak RSS, or -1 (reason printed). */
static int time_torch(const char *weights, const char *image, const char *cfg, int threads, int runs, double *enc_ms,
                      double *pred_ms, long *rss_kb) {
    const char *src = getenv("SEGC_SAM2_SRC");
    if (!src || !*src) {
        printf("pytorch: skipped (set SEGC_SAM2_SRC to a checkout of facebookresearch/sam2)\n");
        return -1;
    }
    if (bench_ends_with(weights, ".segc")) {
        printf("pytorch: skipped (it needs the .pt checkpoint, not %s)\n", weights);
        return -1;
    }
    if (access(PYTHON, X_OK)) {
        printf("pytorch: skipped (%s not found)\n", PYTHON);
        return -1;
    }
    char script[256], cmd[16384];
    snprintf(script, sizeof script, "/tmp/segc_bench_sam2_%ld.py", (long)getpid());
    FILE *fp = fopen(script, "w");
    if (!fp || fputs(torch_script, fp) < 0) {
        if (fp) fclose(fp);
        printf("pytorch: skipped (cannot write %s)\n", script);
        return -1;
    }
    fclose(fp);
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d %s '%s' '%s' '%s' '%s' %d %d '%s' 2>/dev/null", threads, PYTHON,
             script, src, weights, image, threads, runs, cfg);
    FILE *p = popen(cmd, "r");
    int ok = 0;
    if (p) {
        char line[256];
        while (fgets(line, sizeof line, p))
            if (sscanf(line, "encode_ms %lf predict_ms %lf rss_kb %ld", enc_ms, pred_ms, rss_kb) == 3) ok = 1;
        ok = pclose(p) == 0 && ok;
    }
    remove(script);
    if (!ok) printf("pytorch: failed (command: %s)\n", cmd);
    return ok ? 0 : -1;
}

typedef struct bench_job {
    const char *weights, *segc_path, *image, *check_dir;
    int threads, runs;
} bench_job;

static int convert_job(void *arg) {
    const bench_job *j = arg;
    if (segc_convert_file(j->weights, j->segc_path, NULL)) {
        fprintf(stderr, "convert %s: %s\n", j->weights, segc_last_error());
        return 1;
    }
    return 0;
}

/* Everything for one checkpoint: optional tap check, segc times and RSS, then the PyTorch side. */
static int bench_job_run(void *arg) {
    const bench_job *j = arg;
    segc_file *f = NULL;
    void *model = NULL;
    segc_image img = {0};
    const char *variant = "unknown";
    char cfg[1024];
    int rc = 1;
    if (segc_file_open(j->segc_path, &f) || segc_sam2_load(f, &model) || segc_image_load(j->image, &img)) {
        fprintf(stderr, "%s\n", segc_last_error());
        goto done;
    }
    segc_file_get_str(f, "variant", &variant);
    bench_sam2_trunk_json(f, cfg, sizeof cfg);
    printf("sam2 %s, %dx%d input -> 1024x1024, %d threads, median of %d runs\n", variant, img.width, img.height,
           j->threads, j->runs);
    if (j->check_dir && check_taps(model, &img, j->check_dir)) goto done;
    segc_times t;   /* with --check-taps its encode was the warm-up */
    if (time_segc(model, &img, j->runs, j->check_dir == NULL, &t)) goto done;
    long segc_rss = bench_peak_rss_kb();
    const double enc = t.enc_ms, pred = t.pred_ms;
    printf("segc:    encode %9.1f ms  predict %7.1f ms   peak RSS %7.1f MB (activation arena peak %.1f MB)\n", enc,
           pred, segc_rss / 1024.0, t.arena_mb);
    printf("segc:    predict_batch of %d one-point sets %.1f ms (%.1f ms per set), %d predict() calls %.1f ms: %.2fx\n",
           BATCH_SETS, t.batch_ms, t.batch_ms / BATCH_SETS, BATCH_SETS, t.single_ms, t.single_ms / t.batch_ms);
    double tenc, tpred;
    long torch_rss;
    if (!time_torch(j->weights, j->image, cfg, j->threads, j->runs, &tenc, &tpred, &torch_rss)) {
        printf("pytorch: encode %9.1f ms  predict %7.1f ms   peak RSS %7.1f MB\n", tenc, tpred, torch_rss / 1024.0);
        printf("ratio (pytorch / segc): encode %.2fx, predict %.2fx, peak RSS %.2fx\n", tenc / enc, tpred / pred,
               (double)torch_rss / (double)segc_rss);
    }
    rc = 0;
done:
    segc_image_free(&img);
    segc_sam2_free(model);
    if (f) segc_file_close(f);
    return rc;
}

static const char usage[] =
    "usage: bench_sam2 [--threads N] [--runs K] [--check-taps DIR] [--image IMAGE] [WEIGHTS.pt|.segc ...]\n"
    "SAM 2 image encoder + prompt decoder in segc and in the official SAM2ImagePredictor (when\n"
    "SEGC_SAM2_SRC is set), same threads; prints wall/CPU times, ratios and peak RSS.\n";

int main(int argc, char **argv) {
    if (bench_help(argc, argv, usage)) return 0;
    int threads = 0, runs = 3, nweights = 0;
    const char *weights[MAX_MODELS], *image = NULL, *check_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--check-taps") && i + 1 < argc) check_dir = argv[++i];
        else if (!strcmp(argv[i], "--image") && i + 1 < argc) image = argv[++i];
        else if (argv[i][0] != '-' && nweights < MAX_MODELS) weights[nweights++] = argv[i];
        else {
            fprintf(stderr, "usage: %s [--threads N] [--runs K] [--check-taps DIR] [--image IMAGE] "
                    "[WEIGHTS.pt|.segc ...]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS) runs = 3;
    const char *shared = getenv("SEGC_SHARED") ? getenv("SEGC_SHARED") : "../shared";
    char wbuf[4096], ibuf[4096];
    if (!nweights) {
        snprintf(wbuf, sizeof wbuf, "%s/weights/sam2.1_hiera_tiny_random_bf16.pt", shared);
        weights[nweights++] = wbuf;
    }
    if (!image) {
        snprintf(ibuf, sizeof ibuf, "%s/reference/sam2.1_tiny/truck_point/input.png", shared);
        image = ibuf;
    }
    if (threads > 0) segc_set_threads(threads);
    threads = segc_get_threads();
    int rc = 0;
    for (int w = 0; w < nweights; w++) {
        char segc_path[4096];
        snprintf(segc_path, sizeof segc_path, "%s", weights[w]);
        if (!bench_ends_with(weights[w], ".segc"))
            snprintf(segc_path, sizeof segc_path, "/tmp/segc_bench_sam2_%ld_%d.segc", (long)getpid(), w);
        bench_job job = {weights[w], segc_path, image, check_dir, threads, runs};
        int r = strcmp(segc_path, weights[w]) ? bench_in_child(convert_job, &job) : 0;
        if (!r) r = bench_in_child(bench_job_run, &job);
        if (strcmp(segc_path, weights[w])) remove(segc_path);
        rc |= r;
    }
    return rc;
}
