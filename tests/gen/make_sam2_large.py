"""make_sam2_large.py - a seeded random SAM 2.1 Hiera-*large* checkpoint in the official container
({'model': state_dict}, float32) built with the authors' own classes, plus encoder taps of the authors'
code on one image, for bench/sam2.c and the large-model check (no file of this goes into the repo).

The model is instantiated from the official config sam2/configs/sam2.1/sam2.1_hiera_l.yaml by a small
recursive `_target_` instantiator (no hydra needed). Random weights: PyTorch's default init, and every
tensor that init leaves constant (zeros, e.g. pos_embed, no_mem_embed) gets N(0, 0.02), so every weight
matters. Resize uses antialias=True as the tiny reference cases. torch < 2.0: F.scaled_dot_product_attention
is the plain math version (as the reference cases).

Usage: SEGC_SAM2_SRC=/path/to/sam2 python3 tests/gen/make_sam2_large.py OUT_DIR [IMAGE] [CONFIG]
Writes OUT_DIR/sam2.1_hiera_large_random.pt and, with IMAGE, OUT_DIR/large_taps/*.npy: the preprocessed
input sample, the trunk stages, backbone_fpn levels, high-res features and image embedding sampled like the
tiny reference cases ([:, ::c, ::s, ::s]), and stats.json with max|x| of every whole tensor.
Then: SEGC_SAM2_SRC=... build/bench/bench_sam2 --threads 2 --check-taps OUT_DIR/large_taps \
          --image IMAGE OUT_DIR/sam2.1_hiera_large_random.pt
(converts it, checks the taps within abs 1e-3 * max|x|, times segc and the authors' code side by side)."""
import importlib
import json
import os
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F
import yaml

SRC = os.environ.get("SEGC_SAM2_SRC")
if not SRC:
    sys.exit("set SEGC_SAM2_SRC to a checkout of facebookresearch/sam2")
sys.path.insert(0, SRC)
for name in ("tqdm",):
    try:
        __import__(name)
    except ImportError:
        stub = types.ModuleType(name)
        stub.tqdm = lambda x, *a, **k: x
        sys.modules[name] = stub
try:
    import hydra  # noqa: F401
except ImportError:  # sam2/__init__.py only initializes hydra's config module
    hydra = types.ModuleType("hydra")
    hydra.initialize_config_module = lambda *a, **k: None
    gh = types.ModuleType("hydra.core.global_hydra")
    gh.GlobalHydra = types.SimpleNamespace(instance=lambda: types.SimpleNamespace(is_initialized=lambda: True))
    sys.modules.update({"hydra": hydra, "hydra.core": types.ModuleType("hydra.core"), "hydra.core.global_hydra": gh})
try:
    import iopath  # noqa: F401
except ImportError:  # hieradet.py imports g_pathmgr only to load pretrained trunks
    f = types.ModuleType("iopath.common.file_io")
    f.g_pathmgr = None
    sys.modules.update({"iopath": types.ModuleType("iopath"), "iopath.common": types.ModuleType("iopath.common"),
                        "iopath.common.file_io": f})
if not hasattr(F, "scaled_dot_product_attention"):
    def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
        return (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1) @ v
    F.scaled_dot_product_attention = _sdpa

OUT = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
IMAGE = sys.argv[2] if len(sys.argv) > 2 else None
CONFIG = sys.argv[3] if len(sys.argv) > 3 else os.path.join(SRC, "sam2", "configs", "sam2.1", "sam2.1_hiera_l.yaml")


def instantiate(node):
    """hydra.utils.instantiate for the plain configs sam2 ships: dicts with _target_ become objects."""
    if isinstance(node, list):
        return [instantiate(x) for x in node]
    if isinstance(node, str):   # PyYAML reads "1e-6" (no dot) as a string; OmegaConf gives a float
        try:
            return float(node)
        except ValueError:
            return node
    if not isinstance(node, dict):
        return node
    args = {k: instantiate(v) for k, v in node.items() if k != "_target_"}
    if "_target_" not in node:
        return args
    mod, _, cls = node["_target_"].rpartition(".")
    return getattr(importlib.import_module(mod), cls)(**args)


def build():
    with open(CONFIG) as fh:
        cfg = yaml.safe_load(fh)["model"]
    torch.manual_seed(0)
    model = instantiate(cfg).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, p in model.state_dict().items():
            if p.is_floating_point() and p.numel() > 1 and bool((p == p.flatten()[0]).all()) and float(p.flatten()[0]) == 0:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return model


def sample(x, c, s):
    return x[:, ::c, ::s, ::s].contiguous().numpy()


def main():
    model = build()
    ckpt = os.path.join(OUT, "sam2.1_hiera_large_random.pt")
    torch.save({"model": model.state_dict()}, ckpt)
    print("wrote", ckpt, sum(v.numel() for v in model.state_dict().values()), "values")
    if not IMAGE:
        return
    from PIL import Image
    from sam2.sam2_image_predictor import SAM2ImagePredictor
    model.image_size = 1024
    pred = SAM2ImagePredictor(model)
    # the reference cases resize with antialias=True (torchvision >= 0.17 default; 0.14 has False)
    from torchvision.transforms import Normalize, Resize
    t = pred._transforms
    t.transforms = torch.nn.Sequential(Resize((t.resolution, t.resolution), antialias=True), Normalize(t.mean, t.std))
    img = np.asarray(Image.open(IMAGE).convert("RGB"))
    taps = {}
    trunk = model.image_encoder.trunk
    trunk.register_forward_hook(lambda m, i, o: taps.update({"trunk": [t.clone() for t in o]}))
    x_in = {}
    model.image_encoder.register_forward_pre_hook(lambda m, i: x_in.update({"x": i[0].clone()}))
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    with torch.no_grad():
        pred.set_image(img)
        # the neck's own output: SAM2Base.forward_image replaces levels 0/1 by conv_s0/conv_s1 in place
        out = model.image_encoder(x_in["x"])
    d = os.path.join(OUT, "large_taps")
    os.makedirs(d, exist_ok=True)
    stats = {}
    arrays = {"000_input_1024": (x_in["x"], 1, 8)}
    for i, t in enumerate(taps["trunk"]):
        arrays["010_trunk_stage%d" % (i + 1)] = (t, 8 if i < 2 else 16, 4 if i < 2 else 2)
    for i in range(3):
        arrays["020_fpn_level%d" % i] = (out["backbone_fpn"][i], 16, 8 >> i)
    feats = pred._features
    arrays["030_high_res_feat0"] = (feats["high_res_feats"][0], 4, 4)
    arrays["030_high_res_feat1"] = (feats["high_res_feats"][1], 4, 4)
    arrays["040_image_embed"] = (feats["image_embed"], 4, 2)
    for name, (t, c, s) in arrays.items():
        np.save(os.path.join(d, name + ".sample.npy"), sample(t.float(), c, s))
        stats[name] = {"shape": list(t.shape), "max_abs": float(t.abs().max()), "step": [1, c, s, s]}
    with open(os.path.join(d, "stats.json"), "w") as fh:
        json.dump(stats, fh, indent=1)
    print("wrote", d)


if __name__ == "__main__":
    main()
