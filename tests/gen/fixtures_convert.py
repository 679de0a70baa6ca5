#!/usr/bin/python3
"""Fixtures for tests/test_convert.c: tiny checkpoints in three containers with awkward tensors
(non-contiguous views, storage offsets, every float dtype, rounding ties, overflow, subnormals, NaN,
integer buffers, optimizer state) and the exact values PyTorch gives for them in f32, f16 and bf16.
Writes into tests/data/convert/:
  tiny.pth          torch.save zip: {'model_state': {...}, 'optimizer_state': {...}, 'cur_itrs': 7}
  tiny_legacy.pth   torch.save legacy (_use_new_zipfile_serialization=False): {'state_dict': {'module.' + k}}
  tiny.safetensors  written by hand (the format is a JSON header + raw data): 'model.' + k, contiguous only
  tiny_expected.txt one "shape NAME NDIM D..." line and, per output dtype, one
                    "value NAME DTYPE HEX..." line (bit patterns) per model tensor;
                    "sha256 FILE HEX" per checkpoint
Run with Debian's torch:
    /usr/bin/python3 tests/gen/fixtures_convert.py
"""
import hashlib
import json
import os
import struct

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "convert")


def model_tensors():
    g = torch.Generator().manual_seed(11)
    special = torch.tensor([
        0.0, -0.0, 1.0, 65504.0, 65520.0, 70000.0, 1e-8, 6e-8, 2.0 ** -24, 3 * 2.0 ** -25,
        1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, -(1 + 2.0 ** -9),
        float("inf"), float("-inf"), float("nan"), 3.4e38, 1e-40], dtype=torch.float32)
    base = torch.randn(6, 4, generator=g)
    big = torch.randn(5, 7, generator=g)
    half = torch.tensor([0.5, -2.0, 6e-5, 6.1e-8, 65504, -0.0, 0.333], dtype=torch.float16)
    return {
        "conv.weight": torch.randn(2, 3, 3, 3, generator=g) * 3,
        "special.f32": special,
        "bn.running_mean": torch.randn(5, generator=g),
        "bn.num_batches_tracked": torch.tensor(12, dtype=torch.int64),
        "t.transposed": base.t(),                      # [4, 6], strides (1, 4)
        "s.sliced": big[2:, 1:4],                      # [3, 3], storage offset 15, strides (7, 1)
        "h.half": half,
        "b.bf16": (torch.randn(3, 3, generator=g) * 100).to(torch.bfloat16),
        "d.f64": torch.tensor([0.1, 1e-40, 1e39, 1 / 3, -2.5, 1 + 2.0 ** -24 + 2.0 ** -40], dtype=torch.float64),
        "z.scalar": torch.tensor(-1.25),
        "i.index": torch.arange(4, dtype=torch.int32),
        "u.bytes": torch.arange(3, dtype=torch.uint8),
        "m.mask": torch.tensor([True, False]),
    }


def float_names(tensors):
    return [k for k, v in tensors.items() if v.is_floating_point()]


def bits(t, dtype):
    c = t.to(dtype).contiguous().reshape(-1)
    if dtype == torch.float32:
        return ["%08x" % (v & 0xffffffff) for v in c.view(torch.int32).tolist()]
    return ["%04x" % (v & 0xffff) for v in c.view(torch.int16).tolist()]


ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
             torch.int32: "I32", torch.int64: "I64", torch.uint8: "U8", torch.bool: "BOOL"}


def save_safetensors(path, tensors):
    header, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for k, v in tensors.items():
        c = v.contiguous()
        raw = c.view(torch.uint8).numpy().tobytes() if c.dim() else c.reshape(1).view(torch.uint8).numpy().tobytes()
        header[k] = {"dtype": ST_DTYPES[v.dtype], "shape": list(v.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    os.makedirs(OUT, exist_ok=True)
    m = model_tensors()
    opt = {"state": {0: {"momentum_buffer": torch.ones(3)}}, "param_groups": [{"lr": 0.01, "params": [0]}]}
    torch.save({"model_state": m, "optimizer_state": opt, "scheduler_state": {"last_epoch": 3}, "cur_itrs": 7},
               os.path.join(OUT, "tiny.pth"))
    torch.save({"state_dict": {"module." + k: v for k, v in m.items()}}, os.path.join(OUT, "tiny_legacy.pth"),
               _use_new_zipfile_serialization=False)
    save_safetensors(os.path.join(OUT, "tiny.safetensors"), {"model." + k: v for k, v in m.items()})
    lines = []
    for name in ("tiny.pth", "tiny_legacy.pth", "tiny.safetensors"):
        with open(os.path.join(OUT, name), "rb") as f:
            lines.append("sha256 %s %s" % (name, hashlib.sha256(f.read()).hexdigest()))
    for k in float_names(m):
        t = m[k]
        lines.append("shape %s %d %s" % (k, t.dim(), " ".join(str(d) for d in t.shape)))
        for dn, dt in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)):
            lines.append("value %s %s %s" % (k, dn, " ".join(bits(t, dt))))
    with open(os.path.join(OUT, "tiny_expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
