#!/usr/bin/python3
"""fixtures_hrnet.py - a tiny HRNet checkpoint and its outputs, made with the authors' own model code.

Covers what the shared W18-small-v2 case does not: a config unlike every published one (2 modules in
stage 2, uneven block counts per branch, FINAL_CONV_KERNEL 3, 19 classes), a 16-wide stem, an odd input size (odd branch
sizes in the fuse upsampling and the final concat), seeded random BN statistics, float16 storage.

Usage: /usr/bin/python3 tests/gen/fixtures_hrnet.py HRNET_SRC [OUT_DIR]
  HRNET_SRC: a checkout of HRNet/HRNet-Semantic-Segmentation, branch pytorch-v1.1 (lib/models/seg_hrnet.py)
  OUT_DIR:   default tests/data/hrnet
Writes tiny_hrnet.pth (the FullModel layout: "model.*" keys plus "loss.criterion.weight", float16),
tiny_image.npy (u8 [H, W, 3] RGB), tiny_logits_quarter.npy (f32 model(x)) and tiny_labels.npy (u8 argmax of
the logits upsampled to H x W, bilinear, align_corners=False). The model runs in float32 on the float16
values, preprocessing as lib/datasets/base_dataset.py input_transform (RGB, /255, ImageNet mean/std).
"""
import importlib.util
import os
import sys

import numpy as np

if not hasattr(np, "int"):
    np.int = int  # seg_hrnet.py uses np.int, removed in numpy 1.24
import torch
import torch.nn.functional as F

H, W = 37, 45
NUM_CLASSES = 19
STEM = 16


class Cfg(dict):
    __getattr__ = dict.__getitem__


def cfg_tree(x):
    return Cfg({k: cfg_tree(v) for k, v in x.items()}) if isinstance(x, dict) else x


CONFIG = cfg_tree({
    "DATASET": {"NUM_CLASSES": NUM_CLASSES},
    "MODEL": {"EXTRA": {
        "FINAL_CONV_KERNEL": 3,
        "STAGE1": {"NUM_MODULES": 1, "NUM_BRANCHES": 1, "BLOCK": "BOTTLENECK", "NUM_BLOCKS": [1],
                   "NUM_CHANNELS": [2], "FUSE_METHOD": "SUM"},
        "STAGE2": {"NUM_MODULES": 2, "NUM_BRANCHES": 2, "BLOCK": "BASIC", "NUM_BLOCKS": [1, 2],
                   "NUM_CHANNELS": [2, 4], "FUSE_METHOD": "SUM"},
        "STAGE3": {"NUM_MODULES": 1, "NUM_BRANCHES": 3, "BLOCK": "BASIC", "NUM_BLOCKS": [1, 1, 1],
                   "NUM_CHANNELS": [2, 4, 6], "FUSE_METHOD": "SUM"},
        "STAGE4": {"NUM_MODULES": 2, "NUM_BRANCHES": 4, "BLOCK": "BASIC", "NUM_BLOCKS": [1, 1, 1, 2],
                   "NUM_CHANNELS": [2, 4, 6, 8], "FUSE_METHOD": "SUM"},
    }},
})


def build_net(seg_hrnet):
    """The tiny HighResolutionNet with seeded random weights rounded to float16 (eval mode)."""
    torch.manual_seed(0)
    net = seg_hrnet.HighResolutionNet(CONFIG)
    # a 16-wide stem instead of seg_hrnet.py's fixed 64 keeps the fixture small (the C model reads the
    # stem width from the weights); layer1 is rebuilt by the class's own _make_layer for that width
    net.conv1 = torch.nn.Conv2d(3, STEM, kernel_size=3, stride=2, padding=1, bias=False)
    net.bn1 = torch.nn.BatchNorm2d(STEM)
    net.conv2 = torch.nn.Conv2d(STEM, STEM, kernel_size=3, stride=2, padding=1, bias=False)
    net.bn2 = torch.nn.BatchNorm2d(STEM)
    net.layer1 = net._make_layer(seg_hrnet.Bottleneck, STEM, 2, 1)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):   # unit-variance outputs keep the activations healthy
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / fan_in ** 0.5)
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
                m.running_mean.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
        for p in net.state_dict().values():   # the float16 values the file holds
            if p.is_floating_point():
                p.copy_(p.half().float())
    net.eval()
    return net


def main():
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "data", "hrnet")
    os.makedirs(out, exist_ok=True)
    spec = importlib.util.spec_from_file_location("seg_hrnet", os.path.join(src, "lib/models/seg_hrnet.py"))
    seg_hrnet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seg_hrnet)

    net = build_net(seg_hrnet)

    state = {"model." + k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
    state["loss.criterion.weight"] = torch.ones(NUM_CLASSES)
    # the legacy (torch < 1.6) container: much smaller than zip for hundreds of tiny tensors
    torch.save(state, os.path.join(out, "tiny_hrnet.pth"), _use_new_zipfile_serialization=False)

    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    np.save(os.path.join(out, "tiny_image.npy"), rgb)
    x = rgb.astype(np.float32) / 255.0
    x -= [0.485, 0.456, 0.406]
    x /= [0.229, 0.224, 0.225]
    x = torch.from_numpy(x.transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        logits = net(x)
        up = F.interpolate(logits, size=(H, W), mode="bilinear", align_corners=False)
    np.save(os.path.join(out, "tiny_logits_quarter.npy"), logits.numpy().astype(np.float32))
    np.save(os.path.join(out, "tiny_labels.npy"), up.argmax(1)[0].numpy().astype(np.uint8))
    print("logits", tuple(logits.shape), "max |logit| %.3f" % logits.abs().max().item())


if __name__ == "__main__":
    main()
