#!/usr/bin/python3
"""Per-tensor checksums of the shared checkpoints (../shared/weights) for tests/test_convert.c, which
converts each one and checks that every tensor of the .segc file holds the checkpoint's values.
Writes tests/data/convert/shared_checksums.txt.gz (gzip text, small enough to commit):
  file NAME PREFIX NFLOAT     the checkpoint, its wrapper prefix ("-" if none), its float tensors
  NAME COUNT SUM SUMSQ WSUM FIRST LAST
                              one line per float tensor of the model subtree, NAME without the prefix;
                              sums in float64 over the values in row-major order, WSUM weights element
                              i by (i % 7) + 1 (catches transposed/permuted data), FIRST/LAST are the
                              float32 bit patterns (hex) of the first and last elements
Run with Debian's torch (SEGC_SHARED overrides the ../shared next to the repository):
    /usr/bin/python3 tests/gen/checkpoint_checksums.py
"""
import gzip
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("SEGC_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))
OUT = os.path.join(HERE, "..", "data", "convert", "shared_checksums.txt.gz")

# checkpoint -> the wrapper the converter must strip (the model subtree)
FILES = [
    ("deeplabv3plus_mobilenet_voc_os16_random.pth", "model_state."),
    ("hrnet_w18_small_v2_cityscapes_random.pth", "model."),
    ("maskrcnn_resnet50_fpn_random_fp16.pth", ""),
    ("sam2.1_hiera_tiny_random_bf16.pt", "model."),
]


def flatten(obj, prefix, out):
    """Nested dicts/lists flattened with '.', as tools/convert/checkpoint.h does."""
    if isinstance(obj, torch.Tensor):
        out[prefix[:-1]] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, prefix + str(k) + ".", out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, prefix + str(i) + ".", out)


def f32_hex(x):
    return "%08x" % struct.unpack("<I", struct.pack("<f", x))[0]


def main():
    lines = []
    for name, prefix in FILES:
        flat = {}
        flatten(torch.load(os.path.join(SHARED, "weights", name), map_location="cpu"), "", flat)
        keys = [k for k, v in flat.items() if k.startswith(prefix) and v.is_floating_point()]
        lines.append("file %s %s %d" % (name, prefix or "-", len(keys)))
        for k in keys:
            v = flat[k].detach().to(torch.float32).reshape(-1)
            d = v.double()
            w = (torch.arange(d.numel(), dtype=torch.float64) % 7) + 1
            first = f32_hex(v[0].item()) if v.numel() else "-"
            last = f32_hex(v[-1].item()) if v.numel() else "-"
            lines.append("%s %d %.13e %.13e %.13e %s %s" % (k[len(prefix):], d.numel(), d.sum().item(),
                                                             (d * d).sum().item(), (d * w).sum().item(), first, last))
    with gzip.GzipFile(OUT, "wb", mtime=0) as f:
        f.write(("\n".join(lines) + "\n").encode())


if __name__ == "__main__":
    main()
