"""fixtures_sam2_amg.py - fixtures for tests/test_model_sam2_amg.c, made with the authors' own code
(facebookresearch/sam2, checkout in $SEGC_SAM2_SRC): sam2/utils/amg.py helpers on small inputs, and
SAM2AutomaticMaskGenerator.generate() with the shared random-weight SAM 2.1 Hiera-tiny checkpoint on the
reference image ../shared/reference/sam2.1_tiny/groceries_points_maskinput/input.png at reduced settings
(E2E_CASES below; the C test uses the same numbers). Writes tests/data/sam2_amg/.

Usage: SEGC_SAM2_SRC=/path/to/sam2 /usr/bin/python3 tests/gen/fixtures_sam2_amg.py [shared_dir] [--utils-only]
       [--case=NAME ...]
Runtime adaptations, as the shared reference cases: torch < 2.0 gets a plain-math
scaled_dot_product_attention; the predictor's Resize uses antialias=True (torchvision >= 0.17 default);
hydra/iopath/tqdm are stubbed when absent and the model is built without hydra from the
sam2.1_hiera_t.yaml values; cv2 (only for remove_small_regions) is replaced by a plain 8-connected
flood fill with OpenCV's output layout, and so is the CUDA-only sam2._C.get_connected_componnets that the
predictor's hole/sprinkle filling (min_mask_region_area) calls. output_mode "uncompressed_rle" (pycocotools is absent): the C
test compares masks, not strings."""
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
try:
    import tqdm  # noqa: F401
except ImportError:
    m = types.ModuleType("tqdm")
    m.tqdm = lambda x, *a, **k: x
    sys.modules["tqdm"] = m
try:
    import iopath  # noqa: F401
except ImportError:  # hieradet.py imports g_pathmgr only to load pretrained trunks
    f = types.ModuleType("iopath.common.file_io")
    f.g_pathmgr = None
    sys.modules.update({"iopath": types.ModuleType("iopath"), "iopath.common": types.ModuleType("iopath.common"),
                        "iopath.common.file_io": f})
try:
    import hydra  # noqa: F401
except ImportError:
    h = types.ModuleType("hydra")
    h.initialize_config_module = lambda *a, **k: None
    g = types.ModuleType("hydra.core.global_hydra")
    g.GlobalHydra = types.SimpleNamespace(instance=lambda: types.SimpleNamespace(is_initialized=lambda: True))
    sys.modules.update({"hydra": h, "hydra.core": types.ModuleType("hydra.core"), "hydra.core.global_hydra": g})


def connected_components_with_stats(img, connectivity):
    """cv2.connectedComponentsWithStats(img, 8) for the outputs remove_small_regions reads: labels in
    raster order of first pixel, stats[:, -1] = areas (row 0: background)."""
    assert connectivity == 8
    h, w = img.shape
    labels = np.zeros((h, w), np.int32)
    areas = [int((img == 0).sum())]
    n = 0
    for y0 in range(h):
        for x0 in range(w):
            if img[y0, x0] == 0 or labels[y0, x0]:
                continue
            n += 1
            labels[y0, x0] = n
            stack, area = [(y0, x0)], 0
            while stack:
                y, x = stack.pop()
                area += 1
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        yy, xx = y + dy, x + dx
                        if 0 <= yy < h and 0 <= xx < w and img[yy, xx] and not labels[yy, xx]:
                            labels[yy, xx] = n
                            stack.append((yy, xx))
            areas.append(area)
    stats = np.zeros((n + 1, 5), np.int32)
    stats[:, -1] = areas
    return n + 1, labels, stats, None


def get_connected_componnets(masks):
    """sam2._C.get_connected_componnets (CUDA-only in the official build) on the CPU: for [N, 1, H, W] uint8
    masks, per-pixel component labels and component areas (0 on background), 8-connectivity."""
    labels = torch.zeros(masks.shape, dtype=torch.int32)
    counts = torch.zeros(masks.shape, dtype=torch.int32)
    for i in range(masks.shape[0]):
        n, lab, stats, _ = connected_components_with_stats(masks[i, 0].numpy(), 8)
        area = np.asarray(stats[:, -1]).copy()
        area[0] = 0
        labels[i, 0] = torch.from_numpy(lab)
        counts[i, 0] = torch.from_numpy(area[lab].astype(np.int32))
    return [labels, counts]


sys.modules["cv2"] = types.SimpleNamespace(connectedComponentsWithStats=connected_components_with_stats)
sys.modules["sam2._C"] = types.SimpleNamespace(get_connected_componnets=get_connected_componnets)
if not hasattr(F, "scaled_dot_product_attention"):
    F.scaled_dot_product_attention = lambda q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False: (
        (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1) @ v)

from PIL import Image  # noqa: E402
from torchvision.transforms import Normalize, Resize  # noqa: E402

from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator  # noqa: E402
from sam2.modeling.backbones.hieradet import Hiera  # noqa: E402
from sam2.modeling.backbones.image_encoder import FpnNeck, ImageEncoder  # noqa: E402
from sam2.modeling.position_encoding import PositionEmbeddingSine  # noqa: E402
from sam2.modeling.sam.mask_decoder import MaskDecoder  # noqa: E402
from sam2.modeling.sam.prompt_encoder import PromptEncoder  # noqa: E402
from sam2.modeling.sam.transformer import TwoWayTransformer  # noqa: E402
from sam2.modeling.sam2_base import SAM2Base  # noqa: E402
from sam2.utils import amg  # noqa: E402
from sam2.utils.transforms import SAM2Transforms  # noqa: E402

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
SHARED = ARGS[0] if ARGS else os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
OUT = os.path.join(os.path.dirname(__file__), "..", "data", "sam2_amg")
IMAGE = os.path.join(SHARED, "reference", "sam2.1_tiny", "groceries_points_maskinput", "input.png")
# the masks are stored as mask[::SAMPLE, ::SAMPLE], np.packbits along x (the full RLEs of the random model's
# ragged masks would take megabytes)
SAMPLE = 4
# name -> generator arguments (the C test: e2e_cases[] in test_model_sam2_amg.c)
E2E_CASES = {
    # the random-weight model's logits are small (|x| < 1 almost everywhere): a stability offset of 0.05 keeps
    # the score informative; its masks all span the image (equal boxes), so box NMS would keep one mask: 1.0
    "grid4": dict(points_per_side=4, pred_iou_thresh=0.523, stability_score_thresh=0.5, stability_score_offset=0.05,
                  box_nms_thresh=1.0),
    # m2m refinement and the predictor's hole/sprinkle filling (max_hole_area = max_sprinkle_area = 20)
    "m2m1": dict(points_per_side=1, pred_iou_thresh=0.3, stability_score_thresh=0.0, stability_score_offset=0.05,
                 box_nms_thresh=1.0, use_m2m=True, min_mask_region_area=20),
}


class Model(torch.nn.Module):
    """The parts of SAM2Base the image predictor uses, built as sam2.1_hiera_t.yaml says."""
    forward_image = SAM2Base.forward_image
    _prepare_backbone_features = SAM2Base._prepare_backbone_features

    def __init__(self):
        super().__init__()
        trunk = Hiera(embed_dim=96, num_heads=1, stages=[1, 2, 7, 2], global_att_blocks=[5, 7, 9],
                      window_pos_embed_bkg_spatial_size=[7, 7])
        neck = FpnNeck(PositionEmbeddingSine(256, normalize=True, scale=None, temperature=10000), d_model=256,
                       backbone_channel_list=[768, 384, 192, 96], fpn_top_down_levels=[2, 3],
                       fpn_interp_model="nearest")
        self.image_encoder = ImageEncoder(trunk, neck, scalp=1)
        self.sam_prompt_encoder = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64),
                                                input_image_size=(1024, 1024), mask_in_chans=16)
        self.sam_mask_decoder = MaskDecoder(
            num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048,
                                                                   num_heads=8),
            transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256, use_high_res_features=True,
            iou_prediction_use_sigmoid=True, pred_obj_scores=True, pred_obj_scores_mlp=True,
            use_multimask_token_for_obj_ptr=True, dynamic_multimask_via_stability=True,
            dynamic_multimask_stability_delta=0.05, dynamic_multimask_stability_thresh=0.98)
        self.no_mem_embed = torch.nn.Parameter(torch.zeros(1, 1, 256))
        self.use_high_res_features_in_sam, self.num_feature_levels, self.directly_add_no_mem_embed = True, 3, True
        self.image_size = 1024
        self.device = torch.device("cpu")


def save(name, a):
    np.save(os.path.join(OUT, name + ".npy"), a)


def utils_fixtures():
    """Small inputs through the official amg.py helpers."""
    rng = np.random.default_rng(7)
    for n in (1, 3, 7):
        save(f"grid_{n}", amg.build_point_grid(n))
    rows = []
    for (h, w, layers, ratio) in ((400, 600, 2, 512 / 1500), (1200, 900, 1, 0.25), (37, 101, 2, 512 / 1500)):
        boxes, idx = amg.generate_crop_boxes((h, w), layers, ratio)
        for b, i in zip(boxes, idx):
            rows.append([h, w, layers, int(ratio * 1e6), *b, i])
    save("crop_boxes", np.array(rows, np.int32))   # h, w, layers, ratio * 1e6, x0, y0, x1, y1, layer
    logits = (rng.standard_normal((4, 37, 53)) * 3).astype(np.float32)
    logits[3] = -5.0   # empty union: NaN
    save("stability_logits", logits)
    save("stability_0_1", amg.calculate_stability_score(torch.from_numpy(logits), 0.0, 1.0).numpy())
    save("stability_05_03", amg.calculate_stability_score(torch.from_numpy(logits), 0.5, 0.3).numpy())
    masks = rng.random((5, 19, 23)) > 0.97
    masks[3] = False
    masks[4] = False
    masks[4, 18, 22] = True
    save("box_masks", masks.astype(np.uint8))
    save("box_boxes", amg.batched_mask_to_box(torch.from_numpy(masks)).numpy().astype(np.int32))
    save("rle_counts_mask0", np.array(amg.mask_to_rle_pytorch(torch.from_numpy(masks[:1]))[0]["counts"], np.int32))
    # blobs with holes and islands for remove_small_regions
    yy, xx = np.mgrid[0:40, 0:50]
    blobs = np.zeros((3, 40, 50), bool)
    blobs[0] = ((yy - 20) ** 2 + (xx - 25) ** 2 < 150) & ~((yy - 20) ** 2 + (xx - 22) ** 2 < 6)
    blobs[0, 2:4, 2:4] = True   # island of 4
    blobs[1] = rng.random((40, 50)) > 0.8
    blobs[2, 5:8, 5:8] = True   # two islands of 9, both small
    blobs[2, 30:33, 40:43] = True
    save("regions_in", blobs.astype(np.uint8))
    out, flags = [], []
    for b in blobs:
        for mode in ("holes", "islands"):
            for thr in (5, 10, 30):
                m, changed = amg.remove_small_regions(b, thr, mode)
                out.append(m)
                flags.append(int(changed))
    save("regions_out", np.array(out, np.uint8))   # [mask][mode][thr] flattened
    save("regions_changed", np.array(flags, np.int32))
    # SAM2Transforms.postprocess_masks hole/sprinkle filling; resizing to the same size is the identity
    low = torch.from_numpy((np.cumsum(rng.standard_normal((2, 1, 24, 32)), axis=-1) * 0.5).astype(np.float32))
    save("fill_in", low.numpy())
    save("fill_out", SAM2Transforms(1024, 0.0, max_hole_area=8, max_sprinkle_area=5).postprocess_masks(low, (24, 32)).numpy())


def e2e_fixtures():
    sd = torch.load(os.path.join(SHARED, "weights", "sam2.1_hiera_tiny_random_bf16.pt"), map_location="cpu")["model"]
    model = Model()
    keep = ("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed")
    model.load_state_dict({k: v.float() for k, v in sd.items() if k.startswith(keep)})
    model.eval()
    img = np.asarray(Image.open(IMAGE).convert("RGB"))
    torch.set_num_threads(2)
    only = [a[len("--case="):] for a in sys.argv if a.startswith("--case=")]
    for name, args in E2E_CASES.items():
        if only and name not in only:
            continue
        gen = SAM2AutomaticMaskGenerator(model, output_mode="uncompressed_rle", **args)
        t = gen.predictor._transforms
        t.transforms = torch.nn.Sequential(Resize((1024, 1024), antialias=True), Normalize(t.mean, t.std))
        with torch.no_grad():
            recs = gen.generate(img)
        rows, masks = [], []
        for r in recs:
            rows.append([r["predicted_iou"], r["stability_score"], *r["bbox"], r["area"], *r["point_coords"][0],
                         *r["crop_box"]])
            masks.append(np.packbits(amg.rle_to_mask(r["segmentation"])[::SAMPLE, ::SAMPLE], axis=-1))
        print(name, len(recs), "records:", [(round(r[0], 4), round(r[1], 4)) for r in rows])
        save(f"e2e_{name}_records", np.array(rows, np.float64).reshape(-1, 13))
        save(f"e2e_{name}_masks_s{SAMPLE}", np.array(masks, np.uint8))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    utils_fixtures()
    if "--utils-only" not in sys.argv:
        e2e_fixtures()
