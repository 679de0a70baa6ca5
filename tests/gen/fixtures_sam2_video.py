"""fixtures_sam2_video.py - SAM 2 video-tracking fixtures for tests/test_model_sam2_video.c, made with the
authors' own SAM2VideoPredictor (facebookresearch/sam2, checkout in $SEGC_SAM2_SRC, tested at commit 2b90b9f)
on the 8 frames of ../shared/reference/sam2.1_tiny/video_bedroom/frames and the random-weight checkpoint
../shared/weights/sam2.1_hiera_tiny_random_bf16.pt (bf16 values upcast exactly into the fp32 model).
Writes tests/data/sam2_video/.

Usage: SEGC_SAM2_SRC=/path/to/sam2 /usr/bin/python3 tests/gen/fixtures_sam2_video.py [shared_dir] [run ...]
(runs: fwd rev msk occ neg frames; default all; health.json is updated with the runs made)

The model is what build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", ckpt) builds, with its
apply_postprocessing overrides (dynamic multimask via stability 0.05 / 0.98, binarize_mask_from_pts_for_mem_enc,
fill_hole_area=8), constructed here class by class because hydra / omegaconf are not installed.
Runtime-only patches (none changes the arithmetic of the predictor):
  1. torch 1.13 has no F.scaled_dot_product_attention: softmax(q k^T / sqrt(d)) v (no dropout in eval).
  2. hydra, iopath and tqdm are only imported, never used on this path: stubbed when absent.
  3. load_video_frames only lists *.jpg; the frames here are PNG. The replacement lists *.png (sorted by
     integer stem) and then does exactly load_video_frames_from_jpg_images: PIL convert("RGB").resize((1024,
     1024)) (PIL's default BICUBIC), / 255.0 in float64, stored float32, (x - mean) / std in float32.
  4. fill_holes_in_mask_scores needs the CUDA-only sam2._C connected components; a CPU version of the same
     contract (8-connectivity labels of mask <= 0 and the area of each component) replaces it, so the
     fixture is what the GPU predictor computes (without it the official code warns and skips the step).
  5. The stored memory features are bfloat16 (maskmem_features.to(torch.bfloat16)); when a frame has object
     pointers torch.cat promotes the memory to float32, but with none (e.g. an object tracked before its
     prompt frame) the memory stays bf16 and fp32 nn.Linear fails on CPU ("mat1 and mat2 must have the
     same dtype"; on GPU the official examples run under bf16 autocast). MemoryAttention.forward gets the
     memory upcast to float32: the same values the promoted cat would give.

Runs (2 objects each; object ids are client ids):
  fwd: obj 1 = one positive click (200, 130) on frame 0 (single click: multimask on the init frame),
       obj 2 = box (250, 140, 420, 260) on frame 2;
       propagate_in_video() forward from frame 0 (obj 2 is tracked on frames 0-1 before its prompt frame).
  rev: reset_state; obj 1 = clicks (120, 200, +) and (60, 60, -) on frame 6, obj 2 = box (20, 120, 200, 260) on
       frame 7; propagate_in_video(reverse=True) from frame 6 down to 0.
  msk: reset_state; obj 5 = mask prompt (add_new_mask) of the rectangle 100 <= x < 300, 50 <= y < 200 on
       frame 3; propagate_in_video(max_frame_num_to_track=1): frames 3 and 4.
Occlusion runs (1 object each; the object-score <= 0 paths that random weights never reach from clicks):
  occ: obj 1 = one positive click (200, 130) on frame 0, then an all-zero mask (add_new_mask) on frame 1:
       _use_mask_as_output gives logits -10 and object score -10 (occluded), pointer = no_obj_ptr, memory
       + no_obj_embed_spatial; propagate_in_video(max_frame_num_to_track=2): frames 0, 1 and 2 (frame 2
       attends to the occluded memory of frame 1 and takes its no-object pointer).
  neg: the same checkpoint with sam_mask_decoder.pred_obj_score_head.layers.2.bias = NEG_SCORE_BIAS
       (4.0625 in the file), so the decoder itself says "no object" (score about -4): obj 1 = one positive
       click (200, 130) on frame 0; propagate_in_video(max_frame_num_to_track=1): frames 0 and 1 (masks
       NO_OBJ_SCORE = -1024, pointer no_obj_ptr, memory + no_obj_embed_spatial).
Per run, per processed frame (in processing order) and object:
  <run>_frames.npy       int32 [F]              frame index in processing order
  <run>_scores.npy       float32 [F, O]         object_score_logits
  <run>_logits.npy       float32 [F, O, 64, 64] stored low-res pred_masks [::4, ::4] (after hole filling)
  <run>_stats.npy        float32 [F, O, 4]      max|x|, sum(x), count(x > 0) of the full 256x256 logits, obj_ptr L2
  <run>_masks.npy        uint8 [F, O, ceil(H*W/8)] np.packbits of the video-resolution mask (> 0), H=270, W=480
  <run>_ptr.npy          float32 [F, O, 256]    object pointer (diagnostics; the C API does not expose it)
Frames (load_video_frames as patched above):
  frames_u8_sums.npy     int32 [8, 3]           PIL-resized 1024x1024 RGB u8 of each frame (recovered from the
                                                normalized tensor): s0 = sum(v), s1 = sum(v * (i % 251)) over the
                                                HWC index i, stored as s0, s1 >> 30, s1 & (2^30 - 1)
  frame0_sample.npy      float32 [3, 128, 128]  normalized frame 0 [:, ::8, ::8]
"""
import json
import os
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

SRC = os.environ.get("SEGC_SAM2_SRC")
if not SRC:
    sys.exit("set SEGC_SAM2_SRC to a checkout of facebookresearch/sam2")
sys.path.insert(0, SRC)


def _stub(name, **attrs):
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


try:
    import tqdm  # noqa: F401
except ImportError:
    _stub("tqdm", tqdm=lambda x, *a, **k: x)
try:
    import iopath  # noqa: F401
except ImportError:
    _stub("iopath")
    _stub("iopath.common")
    _stub("iopath.common.file_io", g_pathmgr=None)
try:
    import hydra  # noqa: F401
except ImportError:
    class _GlobalHydra:
        @staticmethod
        def instance():
            return types.SimpleNamespace(is_initialized=lambda: True)
    _stub("hydra", initialize_config_module=lambda *a, **k: None)
    _stub("hydra.core")
    _stub("hydra.core.global_hydra", GlobalHydra=_GlobalHydra)
if not hasattr(F, "scaled_dot_product_attention"):
    def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
        return (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1) @ v
    F.scaled_dot_product_attention = _sdpa

import sam2.sam2_video_predictor as svp  # noqa: E402
import sam2.utils.misc as misc  # noqa: E402
from sam2.modeling.backbones.hieradet import Hiera  # noqa: E402
from sam2.modeling.backbones.image_encoder import FpnNeck, ImageEncoder  # noqa: E402
from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer  # noqa: E402
from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder  # noqa: E402
from sam2.modeling.position_encoding import PositionEmbeddingSine  # noqa: E402
from sam2.modeling.sam.transformer import RoPEAttention  # noqa: E402

RUNS = ("frames", "fwd", "rev", "msk", "occ", "neg")
_DIRS = [a for a in sys.argv[1:] if a not in RUNS]
SHARED = _DIRS[0] if _DIRS else os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
FRAMES = os.path.join(SHARED, "reference", "sam2.1_tiny", "video_bedroom", "frames")
OUT = os.path.join(os.path.dirname(__file__), "..", "data", "sam2_video")
NEG_SCORE_BIAS = -3.9375   # exact in bf16; the tests set the same bias on the converted model


def load_png_frames(video_path, image_size, offload_video_to_cpu, img_mean=(0.485, 0.456, 0.406),
                    img_std=(0.229, 0.224, 0.225), async_loading_frames=False, compute_device=None):
    """Patch 3: load_video_frames_from_jpg_images on *.png."""
    names = sorted((p for p in os.listdir(video_path) if p.endswith(".png")), key=lambda p: int(p[:-4]))
    images = torch.zeros(len(names), 3, image_size, image_size, dtype=torch.float32)
    for n, name in enumerate(names):
        images[n], h, w = misc._load_img_as_tensor(os.path.join(video_path, name), image_size)
    mean = torch.tensor(img_mean, dtype=torch.float32)[:, None, None]
    std = torch.tensor(img_std, dtype=torch.float32)[:, None, None]
    images -= mean
    images /= std
    return images, h, w


def connected_components(mask):
    """Patch 4: (labels, areas) of 8-connected components of a [N, 1, H, W] binary mask (0 = background)."""
    m = mask.to(torch.uint8).cpu().numpy()
    labels = np.zeros(m.shape, np.int32)
    areas = np.zeros(m.shape, np.int32)
    N, _, H, W = m.shape
    for n in range(N):
        lab = labels[n, 0]
        cur = 0
        for y0 in range(H):
            for x0 in range(W):
                if not m[n, 0, y0, x0] or lab[y0, x0]:
                    continue
                cur += 1
                stack, pix = [(y0, x0)], []
                lab[y0, x0] = cur
                while stack:
                    y, x = stack.pop()
                    pix.append((y, x))
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            yy, xx = y + dy, x + dx
                            if 0 <= yy < H and 0 <= xx < W and m[n, 0, yy, xx] and not lab[yy, xx]:
                                lab[yy, xx] = cur
                                stack.append((yy, xx))
                ys, xs = zip(*pix)
                areas[n, 0, list(ys), list(xs)] = len(pix)
    return torch.from_numpy(labels), torch.from_numpy(areas)


def build_model(ckpt, score_bias=None):
    """sam2.1_hiera_t.yaml + build_sam2_video_predictor's apply_postprocessing overrides (score_bias: the
    object-score head's output bias replaced)."""
    def sine(n):
        return PositionEmbeddingSine(num_pos_feats=n, normalize=True, scale=None, temperature=10000)

    trunk = Hiera(embed_dim=96, num_heads=1, stages=[1, 2, 7, 2], global_att_blocks=[5, 7, 9],
                  window_pos_embed_bkg_spatial_size=[7, 7])
    neck = FpnNeck(position_encoding=sine(256), d_model=256, backbone_channel_list=[768, 384, 192, 96],
                   fpn_top_down_levels=[2, 3], fpn_interp_model="nearest")
    image_encoder = ImageEncoder(trunk=trunk, neck=neck, scalp=1)

    def rope(**kw):
        return RoPEAttention(rope_theta=10000.0, feat_sizes=[64, 64], embedding_dim=256, num_heads=1,
                             downsample_rate=1, dropout=0.1, **kw)
    layer = MemoryAttentionLayer(activation="relu", dim_feedforward=2048, dropout=0.1, pos_enc_at_attn=False,
                                 self_attention=rope(), d_model=256, pos_enc_at_cross_attn_keys=True,
                                 pos_enc_at_cross_attn_queries=False,
                                 cross_attention=rope(rope_k_repeat=True, kv_in_dim=64))
    memory_attention = MemoryAttention(d_model=256, pos_enc_at_input=True, layer=layer, num_layers=4)
    memory_encoder = MemoryEncoder(
        out_dim=64, position_encoding=sine(64),
        mask_downsampler=MaskDownSampler(kernel_size=3, stride=2, padding=1),
        fuser=Fuser(layer=CXBlock(dim=256, kernel_size=7, padding=3, layer_scale_init_value=1e-6, use_dwconv=True),
                    num_layers=2))
    model = svp.SAM2VideoPredictor(
        image_encoder=image_encoder, memory_attention=memory_attention, memory_encoder=memory_encoder,
        num_maskmem=7, image_size=1024, sigmoid_scale_for_mem_enc=20.0, sigmoid_bias_for_mem_enc=-10.0,
        use_mask_input_as_output_without_sam=True, directly_add_no_mem_embed=True, no_obj_embed_spatial=True,
        use_high_res_features_in_sam=True, multimask_output_in_sam=True, iou_prediction_use_sigmoid=True,
        use_obj_ptrs_in_encoder=True, add_tpos_enc_to_obj_ptrs=True, proj_tpos_enc_in_obj_ptrs=True,
        use_signed_tpos_enc_to_obj_ptrs=True, only_obj_ptrs_in_the_past_for_eval=True, pred_obj_scores=True,
        pred_obj_scores_mlp=True, fixed_no_obj_ptr=True, multimask_output_for_tracking=True,
        use_multimask_token_for_obj_ptr=True, multimask_min_pt_num=0, multimask_max_pt_num=1,
        use_mlp_for_obj_ptr_proj=True, compile_image_encoder=False,
        sam_mask_decoder_extra_args={"dynamic_multimask_via_stability": True,
                                     "dynamic_multimask_stability_delta": 0.05,
                                     "dynamic_multimask_stability_thresh": 0.98},
        binarize_mask_from_pts_for_mem_enc=True, fill_hole_area=8)
    sd = torch.load(ckpt, map_location="cpu")["model"]
    if score_bias is not None:
        sd["sam_mask_decoder.pred_obj_score_head.layers.2.bias"] = torch.tensor([score_bias])
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in sd.items()})
    if missing or unexpected:
        sys.exit(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    return model.eval()


def record(pred, state, gen, name):
    """Collects the per-frame outputs of one propagate_in_video generator."""
    frames, scores, logits, stats, masks, ptrs = [], [], [], [], [], []
    for frame_idx, obj_ids, video_res_masks in gen:
        frames.append(frame_idx)
        row_s, row_l, row_st, row_m, row_p = [], [], [], [], []
        for k, obj_id in enumerate(obj_ids):
            idx = state["obj_id_to_idx"][obj_id]
            od = state["output_dict_per_obj"][idx]
            out = od["cond_frame_outputs"].get(frame_idx) or od["non_cond_frame_outputs"][frame_idx]
            lr = out["pred_masks"][0, 0].float().numpy()
            ptr = out["obj_ptr"][0].float().numpy()
            row_s.append(float(out["object_score_logits"].reshape(-1)[0]))
            row_l.append(lr[::4, ::4])
            row_st.append([np.abs(lr).max(), lr.astype(np.float64).sum(), (lr > 0).sum(),
                           np.linalg.norm(ptr.astype(np.float64))])
            row_m.append(np.packbits((video_res_masks[k, 0] > 0.0).numpy().reshape(-1)))
            row_p.append(ptr)
        scores.append(row_s)
        logits.append(row_l)
        stats.append(row_st)
        masks.append(row_m)
        ptrs.append(row_p)
    np.save(os.path.join(OUT, f"{name}_frames.npy"), np.array(frames, np.int32))
    np.save(os.path.join(OUT, f"{name}_scores.npy"), np.array(scores, np.float32))
    np.save(os.path.join(OUT, f"{name}_logits.npy"), np.array(logits, np.float32))
    np.save(os.path.join(OUT, f"{name}_stats.npy"), np.array(stats, np.float32))
    np.save(os.path.join(OUT, f"{name}_masks.npy"), np.array(masks, np.uint8))
    np.save(os.path.join(OUT, f"{name}_ptr.npy"), np.array(ptrs, np.float32))
    return {"frames": frames, "scores": np.round(np.array(scores), 3).tolist(),
            "pos_px": np.array(stats)[:, :, 2].astype(int).tolist()}


def save_frames():
    images, _, _ = load_png_frames(FRAMES, 1024, True)
    mean = torch.tensor((0.485, 0.456, 0.406), dtype=torch.float32)[:, None, None]
    std = torch.tensor((0.229, 0.224, 0.225), dtype=torch.float32)[:, None, None]
    sums = []
    for img in images:
        u8 = torch.round((img * std + mean) * 255.0).clamp(0, 255).to(torch.int64).permute(1, 2, 0).reshape(-1)
        idx = torch.arange(u8.numel(), dtype=torch.int64) % 251
        s1 = int((u8 * idx).sum())
        sums.append([int(u8.sum()), s1 >> 30, s1 & ((1 << 30) - 1)])
    np.save(os.path.join(OUT, "frames_u8_sums.npy"), np.array(sums, np.int32))
    np.save(os.path.join(OUT, "frame0_sample.npy"), images[0, :, ::8, ::8].numpy().astype(np.float32))


def mask_run(pred, state):
    """The add_new_mask run (also callable alone: it only needs a fresh state)."""
    mask = np.zeros((270, 480), bool)
    mask[50:200, 100:300] = True
    pred.add_new_mask(state, frame_idx=3, obj_id=5, mask=mask)
    return record(pred, state, pred.propagate_in_video(state, max_frame_num_to_track=1), "msk")


def occlusion_run(pred, state):
    """occ: a clicked object declared absent (all-zero mask) on the next frame."""
    pred.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[200.0, 130.0]], labels=[1])
    pred.add_new_mask(state, frame_idx=1, obj_id=1, mask=np.zeros((270, 480), bool))
    return record(pred, state, pred.propagate_in_video(state, max_frame_num_to_track=2), "occ")


def negative_run(pred, state):
    """neg: (on the NEG_SCORE_BIAS model) the decoder's own score <= 0."""
    pred.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[200.0, 130.0]], labels=[1])
    return record(pred, state, pred.propagate_in_video(state, max_frame_num_to_track=1), "neg")


def main():
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    svp.load_video_frames = load_png_frames
    misc.get_connected_components = connected_components
    orig_attend = MemoryAttention.forward

    def attend_fp32(self, curr, memory, curr_pos=None, memory_pos=None, num_obj_ptr_tokens=0):
        return orig_attend(self, curr, memory.float(), curr_pos, memory_pos, num_obj_ptr_tokens)
    MemoryAttention.forward = attend_fp32
    os.makedirs(OUT, exist_ok=True)
    runs = [a for a in sys.argv[1:] if a in RUNS] or list(RUNS)
    if "frames" in runs:
        save_frames()
    ckpt = os.path.join(SHARED, "weights", "sam2.1_hiera_tiny_random_bf16.pt")
    pred = build_model(ckpt)
    health_path = os.path.join(OUT, "health.json")
    health = {}
    if os.path.exists(health_path):   # keep the entries of runs not made now, in their order
        with open(health_path) as f:
            health = json.load(f)
    with torch.inference_mode():
        state = pred.init_state(FRAMES)
        if "fwd" in runs:
            pred.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[200.0, 130.0]], labels=[1])
            pred.add_new_points_or_box(state, frame_idx=2, obj_id=2, box=[250.0, 140.0, 420.0, 260.0])
            health["fwd"] = record(pred, state, pred.propagate_in_video(state), "fwd")
            pred.reset_state(state)
        if "rev" in runs:
            pred.add_new_points_or_box(state, frame_idx=6, obj_id=1, points=[[120.0, 200.0], [60.0, 60.0]],
                                       labels=[1, 0])
            pred.add_new_points_or_box(state, frame_idx=7, obj_id=2, box=[20.0, 120.0, 200.0, 260.0])
            health["rev"] = record(pred, state, pred.propagate_in_video(state, reverse=True), "rev")
            pred.reset_state(state)
        if "msk" in runs:
            health["msk"] = mask_run(pred, state)
            pred.reset_state(state)
        if "occ" in runs:
            health["occ"] = occlusion_run(pred, state)
            pred.reset_state(state)
        if "neg" in runs:
            pred = build_model(ckpt, score_bias=NEG_SCORE_BIAS)
            state = pred.init_state(FRAMES)
            health["neg"] = negative_run(pred, state)
    with open(health_path, "w") as f:
        json.dump(health, f, indent=1)
    print(json.dumps(health))


if __name__ == "__main__":
    main()
