#!/usr/bin/python3
"""make_hrnet_w48.py - a random HRNetV2-W48 Cityscapes checkpoint and reference taps, by the authors' code.

For checks and benchmarks outside `meson test` (the files are large: write them to /tmp, never the repo).
Builds HighResolutionNet from experiments/cityscapes/seg_hrnet_w48_train_512x1024_sgd_lr1e-2_wd5e-4_bs_12_
epoch484.yaml as tools/test.py does, fills it with seeded random weights (unit-variance convs, random BN
statistics), saves the FullModel layout of the published hrnet_w48_cityscapes_cls19_1024x2048_trainset.pth
("model.*" keys + "loss.criterion.weight", float32), writes two PNG images (a smooth synthetic scene) and
runs the small one through the network, saving taps named like segc's (segc dump file names):
layer1, stage4.branch0..3, last_layer (logits at 1/4).

Usage: /usr/bin/python3 tests/gen/make_hrnet_w48.py HRNET_SRC OUT_DIR [SMALL_WxH]
Writes OUT_DIR/hrnet_w48_cityscapes_random.pth, OUT_DIR/small.png (default 256x128),
OUT_DIR/city_2048x1024.png and OUT_DIR/ref/<tap>.npy.
"""
import importlib.util
import os
import struct
import sys
import zlib

import numpy as np

if not hasattr(np, "int"):
    np.int = int  # seg_hrnet.py uses np.int, removed in numpy 1.24
import torch
import yaml

YAML = "experiments/cityscapes/seg_hrnet_w48_train_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml"


class Cfg(dict):
    __getattr__ = dict.__getitem__


def cfg_tree(x):
    return Cfg({k: cfg_tree(v) for k, v in x.items()}) if isinstance(x, dict) else x


def write_png(path, rgb):
    """8-bit RGB PNG without PIL: filter 0 rows, zlib, three chunks."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[i].tobytes() for i in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def scene(w, h, seed):
    """Smooth colour gradients, a few blobs and mild noise: activations like a natural image's."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin(x / w * 6.0 + y / h * 3.0)], -1) * 200.0
    for _ in range(12):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.03, 0.2) * w
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    src, out = sys.argv[1], sys.argv[2]
    sw, sh = (int(v) for v in (sys.argv[3] if len(sys.argv) > 3 else "256x128").split("x"))
    os.makedirs(os.path.join(out, "ref"), exist_ok=True)
    spec = importlib.util.spec_from_file_location("seg_hrnet", os.path.join(src, "lib/models/seg_hrnet.py"))
    seg_hrnet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seg_hrnet)
    cfg = cfg_tree(yaml.safe_load(open(os.path.join(src, YAML))))
    torch.manual_seed(0)
    net = seg_hrnet.HighResolutionNet(cfg)
    g = torch.Generator().manual_seed(48)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.weight[0].numel() ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) * 0.5 + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
                m.running_mean.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    net.eval()
    state = {"model." + k: v for k, v in net.state_dict().items()}
    state["loss.criterion.weight"] = torch.ones(cfg.DATASET.NUM_CLASSES)
    torch.save(state, os.path.join(out, "hrnet_w48_cityscapes_random.pth"))
    small = scene(sw, sh, 1)
    write_png(os.path.join(out, "small.png"), small)
    write_png(os.path.join(out, "city_2048x1024.png"), scene(2048, 1024, 2))

    taps = {}
    net.layer1.register_forward_hook(lambda m, i, o: taps.__setitem__("layer1", o))

    def stage4_hook(module, inputs, outputs):   # returns None: the output is kept
        for b, t in enumerate(outputs):
            taps["stage4.branch%d" % b] = t
    net.stage4.register_forward_hook(stage4_hook)
    x = small.astype(np.float32) / 255.0   # input_transform (RGB order after the BGR flip)
    x = (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    with torch.no_grad():
        taps["last_layer"] = net(torch.from_numpy(x.astype(np.float32).transpose(2, 0, 1)[None].copy()))
    for k, v in taps.items():
        np.save(os.path.join(out, "ref", k + ".npy"), v.numpy())
        print(k, tuple(v.shape), "max|x| %.3g" % v.abs().max().item())


if __name__ == "__main__":
    main()
