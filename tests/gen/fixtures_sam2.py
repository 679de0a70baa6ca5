"""fixtures_sam2.py - SAM 2 prompt/decoder fixtures for tests/test_model_sam2.c, made with the authors' own
SAM2ImagePredictor.predict() (facebookresearch/sam2, checkout in $SEGC_SAM2_SRC) on the decoder weights of
../shared/weights/sam2.1_hiera_tiny_random_bf16.pt and a synthetic image embedding given by formulas that the
C test recomputes (so no encoder and no large input files are needed). Writes tests/data/sam2/.

Usage: SEGC_SAM2_SRC=/path/to/sam2 python3 tests/gen/fixtures_sam2.py [shared_dir]
torch < 2.0 has no F.scaled_dot_product_attention: the plain math version is installed (as the reference
cases did). tqdm and hydra are only imported by the package: stubbed when absent."""
import math
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
for name in ("tqdm",):
    if name not in sys.modules:
        try:
            __import__(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.tqdm = lambda x, *a, **k: x
            sys.modules[name] = stub
try:
    import hydra  # noqa: F401  (sam2/__init__.py initializes hydra's config module)
except ImportError:
    class _GlobalHydra:
        @staticmethod
        def instance():
            return types.SimpleNamespace(is_initialized=lambda: True)
    hydra = types.ModuleType("hydra")
    hydra.initialize_config_module = lambda *a, **k: None
    core = types.ModuleType("hydra.core")
    gh = types.ModuleType("hydra.core.global_hydra")
    gh.GlobalHydra = _GlobalHydra
    sys.modules.update({"hydra": hydra, "hydra.core": core, "hydra.core.global_hydra": gh})
if not hasattr(F, "scaled_dot_product_attention"):
    def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
        return (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1) @ v
    F.scaled_dot_product_attention = _sdpa

from sam2.modeling.sam.mask_decoder import MaskDecoder  # noqa: E402
from sam2.modeling.sam.prompt_encoder import PromptEncoder  # noqa: E402
from sam2.modeling.sam.transformer import TwoWayTransformer  # noqa: E402
from sam2.sam2_image_predictor import SAM2ImagePredictor  # noqa: E402
from sam2.utils.transforms import SAM2Transforms  # noqa: E402

SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
OUT = os.path.join(os.path.dirname(__file__), "..", "data", "sam2")
ORIG_H, ORIG_W = 120, 180   # small "original image" so the full-size masks stay small


def synth(shape, a, b, c, scale):
    """x[k, y, x] = scale * sin(a k + b y - c x + 0.3), in float64 then float32 (test_model_sam2.c: synth_map)."""
    k, y, x = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")
    return (scale * np.sin(a * k + b * y - c * x + 0.3)).astype(np.float32)


def main():
    sd = torch.load(os.path.join(SHARED, "weights", "sam2.1_hiera_tiny_random_bf16.pt"), map_location="cpu")["model"]
    sd = {k: v.float() for k, v in sd.items()}
    pe = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024), mask_in_chans=16)
    pe.load_state_dict({k[19:]: v for k, v in sd.items() if k.startswith("sam_prompt_encoder.")})
    md = MaskDecoder(num_multimask_outputs=3,
                     transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
                     transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256, use_high_res_features=True,
                     iou_prediction_use_sigmoid=True, pred_obj_scores=True, pred_obj_scores_mlp=True,
                     use_multimask_token_for_obj_ptr=True, dynamic_multimask_via_stability=True,
                     dynamic_multimask_stability_delta=0.05, dynamic_multimask_stability_thresh=0.98)
    md.load_state_dict({k[17:]: v for k, v in sd.items() if k.startswith("sam_mask_decoder.")})
    pe.eval()
    md.eval()
    obj = {}
    orig_forward = md.forward

    def forward(*a, **k):
        r = orig_forward(*a, **k)
        obj["logit"] = r[3]
        return r
    md.forward = forward

    p = object.__new__(SAM2ImagePredictor)
    p.model = types.SimpleNamespace(sam_prompt_encoder=pe, sam_mask_decoder=md, device=torch.device("cpu"))
    p._transforms = SAM2Transforms(resolution=1024, mask_threshold=0.0)
    p.mask_threshold = 0.0
    p._is_image_set, p._is_batch, p._orig_hw = True, False, [(ORIG_H, ORIG_W)]
    p._features = {
        "image_embed": torch.from_numpy(synth((256, 64, 64), 0.37, 0.11, 0.07, 1.5))[None],
        "high_res_feats": [torch.from_numpy(synth((32, 256, 256), 0.23, 0.05, 0.03, 0.8))[None],
                           torch.from_numpy(synth((64, 128, 128), 0.19, 0.09, 0.04, 0.8))[None]],
    }
    mask_in = synth((1, 256, 256), 0.0, 0.05, 0.07, 8.0)
    calls = [
        dict(point_coords=np.array([[50.0, 37.0]]), point_labels=np.array([1]), multimask_output=True),
        dict(box=np.array([42.0, 36.0, 112.0, 87.0]), multimask_output=False),
        dict(point_coords=np.array([[60.0, 45.0], [72.0, 42.0], [30.0, 60.0]]), point_labels=np.array([1, 1, 0]),
             mask_input=mask_in, multimask_output=False),
        dict(mask_input=mask_in, multimask_output=True),   # no sparse prompt at all
    ]
    os.makedirs(OUT, exist_ok=True)
    with torch.no_grad():
        for i, c in enumerate(calls):
            masks, iou, low = p.predict(**c)
            np.save(os.path.join(OUT, f"call{i}_iou.npy"), iou.astype(np.float32))
            np.save(os.path.join(OUT, f"call{i}_object_score_logits.npy"), obj["logit"].numpy().astype(np.float32))
            np.save(os.path.join(OUT, f"call{i}_low_res_logits_s4.npy"), np.ascontiguousarray(low[:, ::4, ::4]))
            np.save(os.path.join(OUT, f"call{i}_masks_packbits.npy"), np.packbits(masks.astype(bool), axis=-1))
            print(i, "iou", iou, "obj", obj["logit"].item(), "pos_frac", masks.mean(axis=(1, 2)))


if __name__ == "__main__":
    main()
