#!/usr/bin/python3
"""Fixtures for tests/test_ops_conv.c: pin PyTorch's padding / stride / dilation / groups semantics of
torch.nn.functional.conv2d and conv_transpose2d on a few small, deliberately awkward shapes (odd sizes,
asymmetric stride, padding and dilation). Writes <case>_{x,w,b,out}.npy into tests/data/conv/.
Run with Debian's torch:
    /usr/bin/python3 tests/gen/fixtures_conv.py
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "conv")


def save(name, t):
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(t.detach().numpy().astype(np.float32)))


def conv_case(g, name, x_shape, w_shape, stride, padding, dilation, groups):
    x = torch.randn(*x_shape, generator=g)
    w = torch.randn(*w_shape, generator=g)
    b = torch.randn(w_shape[0], generator=g)
    out = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    for k, v in (("x", x), ("w", w), ("b", b), ("out", out)):
        save(f"{name}_{k}", v)


def convt_case(g, name, x_shape, w_shape, stride, padding):
    x = torch.randn(*x_shape, generator=g)
    w = torch.randn(*w_shape, generator=g)   # [C, K, R, S]
    b = torch.randn(w_shape[1], generator=g)
    out = F.conv_transpose2d(x, w, b, stride=stride, padding=padding)
    for k, v in (("x", x), ("w", w), ("b", b), ("out", out)):
        save(f"{name}_{k}", v)


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    # grouped, asymmetric everything: 3x5 kernel, stride (2,1), padding (2,1), dilation (2,3), groups 2
    conv_case(g, "asym", (2, 4, 9, 11), (6, 2, 3, 5), (2, 1), (2, 1), (2, 3), 2)
    # atrous 3x3 with rate 3 on an input barely larger than the dilated kernel (DeepLab ASPP style)
    conv_case(g, "atrous", (1, 3, 8, 7), (4, 3, 3, 3), 1, 3, 3, 1)
    # depthwise 3x3 stride 2 pad 1 on odd sizes (MobileNetV2)
    conv_case(g, "dw", (1, 5, 7, 9), (5, 1, 3, 3), 2, 1, 1, 5)
    # transposed: SAM 2's k2s2 upscaling and a k4s2p1 deconvolution
    convt_case(g, "convt_k2s2", (1, 3, 4, 5), (3, 2, 2, 2), 2, 0)
    convt_case(g, "convt_k4s2p1", (2, 3, 5, 4), (3, 2, 4, 4), 2, 1)


if __name__ == "__main__":
    main()
