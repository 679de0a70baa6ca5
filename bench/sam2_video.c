/* bench/sam2_video.c - SAM 2 video tracking throughput and memory, side by side with the authors' PyTorch
   SAM2VideoPredictor: frames/s tracking K objects through a synthetic clip (a textured background with K
   moving squares, each boxed on frame 0) at the model resolution (frames resized to 1024x1024), on the
   same thread count, each side in its own process so each peak RSS is its own. segc's peak RSS is also
   sampled along the clip (frames 10, 100, 1000, last) to show that the streaming tracker stays flat; a
   progress line (frame, frames/s, peak RSS) goes to stderr every 100 frames.
   Usage: bench_sam2_video MODEL.pt|MODEL.segc [--frames N] [--objects 1,3] [--size WxH] [--threads T]
                           [--pt CHECKPOINT.pt] [--torch-frames M]
   frames/s is steady state: from the output of frame 0 (the prompted frame) to the last output, over the
   frames after it. Wall time decides the ratio; process CPU time (all threads) is printed too.
   The PyTorch side runs when SEGC_SAM2_SRC points at a checkout of facebookresearch/sam2, /usr/bin/python3
   has torch and the .pt checkpoint is known (MODEL.pt, or --pt with a .segc); else it says it is skipped.
   It is used as a user times it: build_sam2_video_predictor's model (trunk from the .segc metadata, 2.0 or
   2.1 from the checkpoint's tensors, the postprocessing overrides: dynamic multimask, binarized click masks,
   fill_hole_area=8), init_state on a frame directory (not timed: it decodes and resizes every frame up front
   and keeps them all, 12 MB per frame), add_new_points_or_box per object on frame 0, propagate_in_video
   under inference_mode. The clip is written once as PNG (the same pixels segc's frame callback gives);
   runtime patches, none changing the arithmetic: the prelude of bench_util.h (torch 1.13 SDPA, stubbed
   hydra / iopath / tqdm), load_video_frames on *.png doing exactly what it does on *.jpg, tqdm's bar off,
   the connected components below.
   Hole filling (fill_hole_area=8): segc fills holes <= 8 px. On CPU the official code cannot load its
   CUDA connected-components kernel (sam2._C) and would warn and keep the mask, so both sides would no
   longer track the same masks (frame 0's filled mask goes into memory); without sam2._C the script gives
   it an exact CPU stand-in (same labels / areas contract) whose time is left out of PyTorch's frame times
   (on a GPU the kernel costs next to nothing). The last-frame mask sizes printed for each side show that
   both computed the same thing.
   The PyTorch side tracks min(N, 100) frames by default (its preloaded frames grow with the clip);
   --torch-frames 0 skips it. Not part of `meson test`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/status.h"
#include "core/timer.h"
#include "io/image.h"
#include "io/segc_file.h"
#include "models/sam2_video.h"
#include "segc.h"

#define PYTHON "/usr/bin/python3"
#define MAX_OBJECTS 4
#define MAX_RUNS 4              /* entries of --objects */
#define TORCH_FRAMES_DEFAULT 100
#define PROGRESS_EVERY 100

static const int rss_marks[3] = {10, 100, 1000};   /* frames at which peak RSS is sampled (and the last) */

typedef struct clip {
    int w, h, objects;
} clip;

/* What one side measured (written by the child into shared memory). */
typedef struct side_result {
    int ok, frames;
    double fps, cpu_s_per_frame, init_s;
    long rss_start_kb, rss_at_kb[3], rss_last_kb;   /* start: after load (segc) / init_state (pytorch) */
    long pos_px[MAX_OBJECTS];                       /* mask pixels > 0 per object on the last frame */
    char holes[160];
} side_result;

/* Square k at frame t: side h/5, moving right by 2 px per frame, rows spread over the height. */
static void square(const clip *c, int k, int t, int *x0, int *y0, int *side) {
    *side = c->h / 5;
    *x0 = (10 + 2 * t + 37 * k) % (c->w - *side);
    *y0 = (c->h / (c->objects + 1)) * (k + 1) - *side / 2;
}

/* Frame `index` of the clip: rgb [h, w, 3] u8. */
static void draw_frame(const clip *c, int index, uint8_t *rgb) {
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            uint8_t *p = rgb + ((size_t)y * c->w + x) * 3;
            p[0] = (uint8_t)(60 + ((x / 16 + y / 16) & 1) * 40);
            p[1] = (uint8_t)(80 + (x * 7 + y * 3) % 50);
            p[2] = (uint8_t)(100 + (y % 32));
        }
    for (int k = 0; k < c->objects; k++) {
        int x0, y0, s;
        square(c, k, index, &x0, &y0, &s);
        for (int y = y0; y < y0 + s; y++)
            for (int x = x0; x < x0 + s; x++) {
                uint8_t *p = rgb + ((size_t)y * c->w + x) * 3;
                p[0] = (uint8_t)(200 - 40 * k);
                p[1] = (uint8_t)(40 + 60 * k);
                p[2] = 30;
            }
    }
}

/* segc_sam2_frame_fn over the synthetic clip. */
static segc_status make_frame(void *user, int index, segc_image *out) {
    const clip *c = user;
    uint8_t *px = malloc((size_t)c->w * c->h * 3);
    if (!px) return segc_fail(SEGC_ERR_NOMEM, "out of memory");
    draw_frame(c, index, px);
    segc_status st = segc_image_from_rgb(px, c->w, c->h, out);
    free(px);
    return st;
}

/* ---- segc side ------------------------------------------------------------------------------------- */

typedef struct segc_job {
    const char *model_path;
    clip c;
    int frames;
    side_result *res;
} segc_job;

typedef struct progress {
    int n, done;
    double t_first_ms, cpu_first_ms;
    segc_sam2_video *state;
    segc_arena *arena;
    side_result *res;
} progress;

/* Per-frame callback: timing start at frame 0's output, RSS samples, progress lines, last-frame masks. */
static segc_status on_frame(void *user, const segc_sam2_video_frame *f) {
    progress *p = user;
    p->done++;
    if (p->done == 1) {
        p->t_first_ms = segc_time_ms();
        p->cpu_first_ms = bench_cpu_ms();
    }
    for (int i = 0; i < 3; i++)
        if (p->done == rss_marks[i]) p->res->rss_at_kb[i] = bench_peak_rss_kb();
    if (p->done % PROGRESS_EVERY == 0 && p->done > 1)
        fprintf(stderr, "segc: frame %d/%d, %.3f frames/s, peak RSS %.1f MB\n", p->done, p->n,
                (p->done - 1) / ((segc_time_ms() - p->t_first_ms) / 1e3), bench_peak_rss_kb() / 1024.0);
    if (p->done < p->n) return SEGC_OK;
    int h, w;
    segc_sam2_video_size(p->state, &h, &w);
    uint8_t *mask = malloc((size_t)h * w);
    if (!mask) return segc_fail(SEGC_ERR_NOMEM, "out of memory");
    segc_status st = SEGC_OK;
    for (int o = 0; o < f->num_objects && o < MAX_OBJECTS && st == SEGC_OK; o++) {
        const segc_arena_mark mark = segc_arena_get_mark(p->arena);
        st = segc_sam2_video_upscale(p->state, p->arena, f->low_res[o], mask);
        segc_arena_release(p->arena, mark);
        long n = 0;
        for (size_t i = 0; i < (size_t)h * w; i++) n += mask[i] != 0;
        p->res->pos_px[o] = n;
    }
    free(mask);
    return st;
}

/* Child process: load, box every square on frame 0, propagate through the clip (streaming state). */
static int segc_side(void *arg) {
    segc_job *j = arg;
    side_result *r = j->res;
    segc_file *f = NULL;
    void *model = NULL;
    segc_sam2_video *s = NULL;
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_ctx ctx = segc_ctx_plain(&arena);
    progress p = {.n = j->frames, .arena = &arena, .res = r};
    segc_status st = segc_file_open(j->model_path, &f);
    if (st == SEGC_OK) st = segc_sam2_video_load(f, &model);
    if (st == SEGC_OK) st = segc_sam2_video_init_fn(model, j->frames, make_frame, &j->c, 1, &s);
    r->rss_start_kb = bench_peak_rss_kb();
    p.state = s;
    for (int k = 0; k < j->c.objects && st == SEGC_OK; k++) {
        int x0, y0, side;
        square(&j->c, k, 0, &x0, &y0, &side);
        const float box[4] = {(float)x0, (float)y0, (float)(x0 + side), (float)(y0 + side)};
        st = segc_sam2_video_add_prompt(s, &ctx, 0, k + 1, NULL, 0, box, NULL);
    }
    if (st == SEGC_OK) st = segc_sam2_video_propagate(s, &ctx, 0, -1, 0, on_frame, &p);
    const double wall_s = (segc_time_ms() - p.t_first_ms) / 1e3, cpu_s = (bench_cpu_ms() - p.cpu_first_ms) / 1e3;
    if (st != SEGC_OK) {
        fprintf(stderr, "segc: %s\n", segc_last_error());
    } else {
        r->ok = 1;
        r->frames = j->frames;
        r->fps = (j->frames - 1) / wall_s;
        r->cpu_s_per_frame = cpu_s / (j->frames - 1);
        r->rss_last_kb = bench_peak_rss_kb();
        snprintf(r->holes, sizeof r->holes, "filled (<= 8 px)");
    }
    segc_sam2_video_free_state(s);
    segc_arena_free(&arena);
    segc_sam2_video_free(model);
    if (f) segc_file_close(f);
    return st == SEGC_OK ? 0 : 1;
}

/* ---- PyTorch side ---------------------------------------------------------------------------------- */

/* After bench_sam2_py_prelude. argv: weights frames_dir threads trunk_json boxes_json. Prints one
   "result ..." line on stdout; progress on stderr. */
static const char torch_script[] =
    "import json, resource, time, warnings\n"
    "warnings.simplefilter('ignore')  # deprecations; the hole-filling fallback is reported below\n"
    "weights, frames, threads, cfg, boxes = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4]), "
    "json.loads(sys.argv[5])\n"
    "torch.set_num_threads(threads)\n"
    "import sam2.sam2_video_predictor as svp\n"
    "import sam2.utils.misc as misc\n"
    "from sam2.modeling.backbones.hieradet import Hiera\n"
    "from sam2.modeling.backbones.image_encoder import FpnNeck, ImageEncoder\n"
    "from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer\n"
    "from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder\n"
    "from sam2.modeling.position_encoding import PositionEmbeddingSine\n"
    "from sam2.modeling.sam.transformer import RoPEAttention\n"
    "rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "def cpu():\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime\n"
    "cc_spent = [0.0, 0.0]  # wall, CPU in the stand-in below (not counted as the predictor's time)\n"
    "def connected_components(mask):  # sam2._C's contract: 8-connected labels > 0 of mask, their areas\n"
    "    w0, c0 = time.perf_counter(), cpu()\n"
    "    m = mask.to(torch.bool); N, _, H, W = m.shape\n"
    "    lab = torch.where(m, torch.arange(1, H * W + 1, dtype=torch.float32).reshape(1, 1, H, W), torch.zeros(()))\n"
    "    while True:  # every pixel takes the largest index of its component\n"
    "        nxt = torch.where(m, F.max_pool2d(lab, 3, 1, 1), lab)\n"
    "        if torch.equal(nxt, lab): break\n"
    "        lab = nxt\n"
    "    lab = lab.long()\n"
    "    areas = torch.stack([torch.bincount(l.flatten(), minlength=H * W + 1)[l] for l in lab]) * m\n"
    "    cc_spent[0] += time.perf_counter() - w0; cc_spent[1] += cpu() - c0\n"
    "    return lab.int(), areas.int()\n"
    "try:\n"
    "    from sam2 import _C  # noqa: F401\n"
    "    holes = 'filled (sam2._C)'\n"
    "except Exception:  # the official CPU fallback would warn and keep the mask\n"
    "    misc.get_connected_components = connected_components\n"
    "    holes = 'filled (<= 8 px) by an exact CPU stand-in for the CUDA-only sam2._C, its time not counted'\n"
    "def load_png_frames(video_path, image_size, offload_video_to_cpu, img_mean=(0.485, 0.456, 0.406),\n"
    "                    img_std=(0.229, 0.224, 0.225), async_loading_frames=False, compute_device=None):\n"
    "    names = sorted((p for p in os.listdir(video_path) if p.endswith('.png')), key=lambda p: int(p[:-4]))\n"
    "    images = torch.zeros(len(names), 3, image_size, image_size, dtype=torch.float32)\n"
    "    for n, name in enumerate(names):\n"
    "        images[n], h, w = misc._load_img_as_tensor(os.path.join(video_path, name), image_size)\n"
    "    images -= torch.tensor(img_mean, dtype=torch.float32)[:, None, None]\n"
    "    images /= torch.tensor(img_std, dtype=torch.float32)[:, None, None]\n"
    "    return images, h, w\n"
    "svp.load_video_frames = load_png_frames\n"
    "svp.tqdm = lambda x, *a, **k: x\n"
    "sd = torch.load(weights, map_location='cpu')['model']\n"
    "v21 = 'no_obj_embed_spatial' in sd  # sam2.1_hiera_*.yaml vs sam2_hiera_*.yaml\n"
    "sine = lambda n: PositionEmbeddingSine(num_pos_feats=n, normalize=True, scale=None, temperature=10000)\n"
    "trunk = Hiera(embed_dim=cfg['embed_dim'], num_heads=cfg['num_heads'], stages=cfg['stages'],\n"
    "    global_att_blocks=cfg['global_att_blocks'], window_spec=cfg['window_spec'],\n"
    "    window_pos_embed_bkg_spatial_size=cfg['bkg'])\n"
    "chans = [cfg['embed_dim'] * 2 ** i for i in range(3, -1, -1)]\n"
    "neck = FpnNeck(position_encoding=sine(256), d_model=256, backbone_channel_list=chans,\n"
    "    fpn_top_down_levels=[2, 3], fpn_interp_model='nearest')\n"
    "rope = lambda **kw: RoPEAttention(rope_theta=10000.0, feat_sizes=[64, 64], embedding_dim=256, num_heads=1,\n"
    "    downsample_rate=1, dropout=0.1, **kw)\n"
    "layer = MemoryAttentionLayer(activation='relu', dim_feedforward=2048, dropout=0.1, pos_enc_at_attn=False,\n"
    "    self_attention=rope(), d_model=256, pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=False,\n"
    "    cross_attention=rope(rope_k_repeat=True, kv_in_dim=64))\n"
    "memory_encoder = MemoryEncoder(out_dim=64, position_encoding=sine(64),\n"
    "    mask_downsampler=MaskDownSampler(kernel_size=3, stride=2, padding=1),\n"
    "    fuser=Fuser(layer=CXBlock(dim=256, kernel_size=7, padding=3, layer_scale_init_value=1e-6, use_dwconv=True),\n"
    "                num_layers=2))\n"
    "pred = svp.SAM2VideoPredictor(image_encoder=ImageEncoder(trunk=trunk, neck=neck, scalp=1),\n"
    "    memory_attention=MemoryAttention(d_model=256, pos_enc_at_input=True, layer=layer, num_layers=4),\n"
    "    memory_encoder=memory_encoder, num_maskmem=7, image_size=1024, sigmoid_scale_for_mem_enc=20.0,\n"
    "    sigmoid_bias_for_mem_enc=-10.0, use_mask_input_as_output_without_sam=True, directly_add_no_mem_embed=True,\n"
    "    no_obj_embed_spatial=v21, use_high_res_features_in_sam=True, multimask_output_in_sam=True,\n"
    "    iou_prediction_use_sigmoid=True, use_obj_ptrs_in_encoder=True, add_tpos_enc_to_obj_ptrs=v21,\n"
    "    proj_tpos_enc_in_obj_ptrs=v21, use_signed_tpos_enc_to_obj_ptrs=v21, only_obj_ptrs_in_the_past_for_eval=True,\n"
    "    pred_obj_scores=True, pred_obj_scores_mlp=True, fixed_no_obj_ptr=True, multimask_output_for_tracking=True,\n"
    "    use_multimask_token_for_obj_ptr=True, multimask_min_pt_num=0, multimask_max_pt_num=1,\n"
    "    use_mlp_for_obj_ptr_proj=True, compile_image_encoder=False,\n"
    "    sam_mask_decoder_extra_args={'dynamic_multimask_via_stability': True,\n"
    "        'dynamic_multimask_stability_delta': 0.05, 'dynamic_multimask_stability_thresh': 0.98},\n"
    "    binarize_mask_from_pts_for_mem_enc=True, fill_hole_area=8)\n"
    "missing, unexpected = pred.load_state_dict({k: v.float() for k, v in sd.items()})\n"
    "if missing or unexpected: sys.exit('state dict mismatch: %s %s' % (missing, unexpected))\n"
    "pred.eval(); del sd\n"
    "with torch.inference_mode():\n"
    "    t0 = time.perf_counter(); state = pred.init_state(frames); t_init = time.perf_counter() - t0\n"
    "    rss_init, n, done, rss_at = rss(), state['num_frames'], 0, {10: 0, 100: 0, 1000: 0}\n"
    "    for k, b in enumerate(boxes):\n"
    "        pred.add_new_points_or_box(state, frame_idx=0, obj_id=k + 1, box=b)\n"
    "    for f, ids, masks in pred.propagate_in_video(state):\n"
    "        done += 1\n"
    "        if done == 1: tw, tc, cc0 = time.perf_counter(), cpu(), list(cc_spent)\n"
    "        if done in rss_at: rss_at[done] = rss()\n"
    "        if done % 100 == 0:\n"
    "            print('pytorch: frame %d/%d, %.3f frames/s, peak RSS %.1f MB' % (done, n,\n"
    "                  (done - 1) / (time.perf_counter() - tw - cc_spent[0] + cc0[0]), rss() / 1024),\n"
    "                  file=sys.stderr, flush=True)\n"
    "        last = masks\n"
    "    tw, tc = time.perf_counter() - tw - cc_spent[0] + cc0[0], cpu() - tc - cc_spent[1] + cc0[1]\n"
    "pos = [int((last[k, 0] > 0).sum()) for k in range(last.shape[0])] + [0] * 4\n"
    "print('result %d %.6f %.6f %.3f %d %d %d %d %d %d %d %d %d %s' % ((done, (done - 1) / tw, tc / (done - 1),\n"
    "      t_init, rss_init, rss_at[10], rss_at[100], rss_at[1000], rss()) + tuple(pos[:4]) + (holes,)))\n";

typedef struct torch_job {
    const char *weights, *model_path;
    clip c;
    int frames, threads;
    side_result *res;
} torch_job;

/* Writes frames 0..n-1 of the clip as dir/%05d.png. */
static int write_clip(const clip *c, int n, const char *dir) {
    uint8_t *px = malloc((size_t)c->w * c->h * 3);
    if (!px || mkdir(dir, 0700)) {
        free(px);
        return -1;
    }
    char path[4096];
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        draw_frame(c, i, px);
        snprintf(path, sizeof path, "%s/%05d.png", dir, i);
        rc = segc_png_write(path, c->w, c->h, 3, px) == SEGC_OK ? 0 : -1;
    }
    free(px);
    return rc;
}

/* Removes dir/%05d.png for i < n and dir. */
static void remove_clip(const char *dir, int n) {
    char path[4096];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%05d.png", dir, i);
        remove(path);
    }
    rmdir(dir);
}

/* Why the PyTorch side cannot run, or NULL. */
static const char *torch_unavailable(const char *weights) {
    const char *src = getenv("SEGC_SAM2_SRC");
    if (!src || !*src) return "set SEGC_SAM2_SRC to a checkout of facebookresearch/sam2";
    if (!weights) return "it needs the .pt checkpoint: pass MODEL.pt or --pt";
    if (access(PYTHON, X_OK)) return PYTHON " not found";
    if (system(PYTHON " -c 'import torch' >/dev/null 2>&1")) return "torch not importable by " PYTHON;
    return NULL;
}

/* Writes the script and the clip, runs python (its own process), parses its result line. */
static int torch_side(const torch_job *j) {
    side_result *r = j->res;
    segc_file *f = NULL;
    char cfg[1024], boxes[512], dir[256], script[256], cmd[16384];
    if (segc_file_open(j->model_path, &f)) {
        fprintf(stderr, "pytorch: %s\n", segc_last_error());
        return -1;
    }
    bench_sam2_trunk_json(f, cfg, sizeof cfg);
    segc_file_close(f);
    size_t len = (size_t)snprintf(boxes, sizeof boxes, "[");
    for (int k = 0; k < j->c.objects; k++) {
        int x0, y0, side;
        square(&j->c, k, 0, &x0, &y0, &side);
        len += (size_t)snprintf(boxes + len, sizeof boxes - len, "%s[%d, %d, %d, %d]", k ? ", " : "", x0, y0,
                                x0 + side, y0 + side);
    }
    snprintf(boxes + len, sizeof boxes - len, "]");
    snprintf(dir, sizeof dir, "/tmp/segc_bench_sam2v_%ld_clip", (long)getpid());
    snprintf(script, sizeof script, "/tmp/segc_bench_sam2v_%ld.py", (long)getpid());
    FILE *fp = fopen(script, "w");
    int ok = fp && fputs(bench_sam2_py_prelude, fp) >= 0 && fputs(torch_script, fp) >= 0;
    if (fp) ok = fclose(fp) == 0 && ok;
    if (!ok || write_clip(&j->c, j->frames, dir)) {
        fprintf(stderr, "pytorch: cannot write %s or %s\n", script, dir);
        remove(script);
        remove_clip(dir, j->frames);
        return -1;
    }
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d %s '%s' '%s' '%s' %d '%s' '%s'", j->threads, PYTHON, script,
             j->weights, dir, j->threads, cfg, boxes);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (p) {
        char line[1024];
        while (fgets(line, sizeof line, p)) {
            side_result t = {0};
            int used = 0;
            if (sscanf(line, "result %d %lf %lf %lf %ld %ld %ld %ld %ld %ld %ld %ld %ld %n", &t.frames, &t.fps,
                       &t.cpu_s_per_frame, &t.init_s, &t.rss_start_kb, &t.rss_at_kb[0], &t.rss_at_kb[1],
                       &t.rss_at_kb[2], &t.rss_last_kb, &t.pos_px[0], &t.pos_px[1], &t.pos_px[2], &t.pos_px[3],
                       &used) == 13 && used > 0) {
                snprintf(t.holes, sizeof t.holes, "%s", line + used);
                t.holes[strcspn(t.holes, "\n")] = 0;
                t.ok = 1;
                *r = t;
            }
        }
        r->ok = pclose(p) == 0 && r->ok;
    }
    remove(script);
    remove_clip(dir, j->frames);
    if (!r->ok) fprintf(stderr, "pytorch: failed (command: %s)\n", cmd);
    return r->ok ? 0 : -1;
}

/* ---- report ---------------------------------------------------------------------------------------- */

static void print_side(const char *name, const side_result *r, int objects) {
    printf("%-8s %8.3f frames/s  (%.3f s/frame wall, %.3f s/frame CPU, steady over %d frames)\n", name, r->fps,
           1.0 / r->fps, r->cpu_s_per_frame, r->frames - 1);
    printf("%-8s peak RSS (MB): %s %.1f", name, r->init_s > 0 ? "after init_state" : "after load",
           r->rss_start_kb / 1024.0);
    for (int i = 0; i < 3; i++)
        if (r->frames >= rss_marks[i]) printf(", frame %d %.1f", rss_marks[i], r->rss_at_kb[i] / 1024.0);
    printf(", last (%d frames) %.1f\n", r->frames, r->rss_last_kb / 1024.0);
    printf("%-8s last-frame mask pixels per object:", name);
    for (int k = 0; k < objects && k < MAX_OBJECTS; k++) printf(" %ld", r->pos_px[k]);
    printf("; holes %s\n", r->holes);
    if (r->init_s > 0) printf("%-8s init_state %.1f s (not timed above)\n", name, r->init_s);
}

/* Parses "1,3" into objs; count or -1. */
static int parse_objects(const char *s, int *objs) {
    int n = 0;
    for (const char *p = s; *p && n < MAX_RUNS;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > MAX_OBJECTS) return -1;
        objs[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n ? n : -1;
}

int main(int argc, char **argv) {
    const char *usage = "usage: %s MODEL.pt|MODEL.segc [--frames N] [--objects 1,3] [--size WxH] [--threads T] "
                        "[--pt CHECKPOINT.pt] [--torch-frames M]\n";
    if (bench_help(argc, argv, "usage: bench_sam2_video MODEL.pt|MODEL.segc [--frames N] [--objects 1,3] [--size WxH]\n"
                   "       [--threads T] [--pt CHECKPOINT.pt] [--torch-frames M]\n"
                   "SAM 2 video tracking frames/s and peak RSS on a synthetic clip, side by side with the official\n"
                   "SAM2VideoPredictor when SEGC_SAM2_SRC is set (--torch-frames 0 skips it).\n"))
        return 0;
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, usage, argv[0]);
        return 2;
    }
    int n = 20, threads = 0, torch_frames = -1, objs[MAX_RUNS], nruns = parse_objects("1,3", objs);
    int w = 480, h = 270;
    const char *pt = bench_ends_with(argv[1], ".segc") ? NULL : argv[1];
    for (int i = 2; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) nruns = -1;
        else if (!strcmp(argv[i], "--frames")) n = atoi(v);
        else if (!strcmp(argv[i], "--objects")) nruns = parse_objects(v, objs);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(v);
        else if (!strcmp(argv[i], "--pt")) pt = v;
        else if (!strcmp(argv[i], "--torch-frames")) torch_frames = atoi(v);
        else if (strcmp(argv[i], "--size") || sscanf(v, "%dx%d", &w, &h) != 2) nruns = -1;
        if (nruns < 0) {
            fprintf(stderr, "bad option %s\n", argv[i]);
            fprintf(stderr, usage, argv[0]);
            return 2;
        }
    }
    if (n < 2 || w < 64 || h < 64 || w > 4096 || h > 4096) {
        fprintf(stderr, "need --frames >= 2, --size from 64x64 to 4096x4096\n");
        return 2;
    }
    if (torch_frames < 0) torch_frames = n < TORCH_FRAMES_DEFAULT ? n : TORCH_FRAMES_DEFAULT;
    if (threads > 0) segc_set_threads(threads);
    threads = segc_get_threads();
    char segc_path[4096];
    snprintf(segc_path, sizeof segc_path, "%s", argv[1]);
    if (!bench_ends_with(argv[1], ".segc")) {
        snprintf(segc_path, sizeof segc_path, "/tmp/segc_bench_sam2v_%ld.segc", (long)getpid());
        if (bench_convert_in_child("bench_sam2_video", argv[1], segc_path)) return 1;
    }
    const char *why = torch_frames < 2 ? "--torch-frames < 2" : torch_unavailable(pt);
    /* results live in shared memory: the segc child writes them, the parent reports */
    side_result *res = mmap(NULL, sizeof *res, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED) return 1;
    int rc = 0;
    for (int r = 0; r < nruns; r++) {
        const clip c = {w, h, objs[r]};
        printf("sam2 video: synthetic %dx%d clip -> 1024x1024, %d object(s) boxed on frame 0, %d threads\n", w, h,
               c.objects, threads);
        memset(res, 0, sizeof *res);
        segc_job sj = {segc_path, c, n, res};
        if (bench_in_child(segc_side, &sj) || !res->ok) {
            rc = 1;
            continue;
        }
        const side_result segc_res = *res;
        print_side("segc:", &segc_res, c.objects);
        if (why) {
            printf("pytorch: skipped (%s)\n", why);
            continue;
        }
        side_result torch_res = {0};
        torch_job tj = {pt, segc_path, c, torch_frames, threads, &torch_res};
        if (torch_side(&tj)) {
            rc = 1;
            continue;
        }
        print_side("pytorch:", &torch_res, c.objects);
        printf("ratio (segc / pytorch): %.2fx frames/s wall, %.2fx CPU time per frame; peak RSS %.2fx "
               "(pytorch %d frames, segc %d)\n",
               segc_res.fps / torch_res.fps, torch_res.cpu_s_per_frame / segc_res.cpu_s_per_frame,
               (double)segc_res.rss_last_kb / (double)torch_res.rss_last_kb, torch_res.frames, segc_res.frames);
    }
    munmap(res, sizeof *res);
    if (strcmp(segc_path, argv[1])) remove(segc_path);
    return rc;
}
