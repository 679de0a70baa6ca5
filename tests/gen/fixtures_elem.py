#!/usr/bin/python3
"""Fixtures for the elem op suites (tests/test_ops_{act,norm,pool,softmax,nms,topk}.c).

Each fixture is the PyTorch / torchvision function itself on small random inputs:
  - activations: F.gelu (both forms), F.hardswish, F.silu, torch.sigmoid
  - norms: sam2/modeling/sam2_utils.py LayerNorm2d (restated below), F.layer_norm, F.group_norm
  - pooling: F.max_pool2d / F.avg_pool2d with ceil_mode and padding, F.adaptive_avg_pool2d
  - softmax over the last dim and over channels, torch.argmax(dim=1) with ties
  - torchvision.ops.nms / batched_nms on clustered boxes, torch.topk
Writes small .npy files into tests/data/elem/. Run with Debian's torch:
    /usr/bin/python3 tests/gen/fixtures_elem.py
NMS note: torchvision sorts scores with a non-stable sort, so the fixtures use either distinct
scores or at most 16 boxes (where the sort is an insertion sort, hence stable); the script checks
every NMS fixture against a plain stable re-implementation and refuses to write a mismatch.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "elem")


def save(name, t):
    a = t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    if a.dtype == np.int64:
        a = a.astype(np.int32)
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(a))


def activations():
    # a grid through the interesting points (hardswish kinks at -3 and 3) plus random values
    x = torch.cat([torch.linspace(-8, 8, 161), torch.randn(95) * 3]).float()
    save("act_x", x)
    save("act_gelu", F.gelu(x))
    save("act_gelu_tanh", F.gelu(x, approximate="tanh"))
    save("act_hardswish", F.hardswish(x))
    save("act_silu", F.silu(x))
    save("act_sigmoid", torch.sigmoid(x))


def layer_norm2d(x, w, b, eps):
    # sam2/modeling/sam2_utils.py LayerNorm2d.forward
    u = x.mean(1, keepdim=True)
    s = (x - u).pow(2).mean(1, keepdim=True)
    x = (x - u) / torch.sqrt(s + eps)
    return w[:, None, None] * x + b[:, None, None]


def norms():
    x = torch.randn(2, 7, 5, 6) * 2 + 0.5
    w, b = torch.randn(7), torch.randn(7)
    save("ln2d_x", x)
    save("ln2d_w", w)
    save("ln2d_b", b)
    save("ln2d_out", layer_norm2d(x, w, b, 1e-6))
    x = torch.randn(3, 5, 24) * 3 - 1
    w, b = torch.randn(24), torch.randn(24)
    save("ln_x", x)
    save("ln_w", w)
    save("ln_b", b)
    save("ln_out", F.layer_norm(x, (24,), w, b, 1e-5))
    x = torch.randn(2, 12, 5, 7) * 2 + 1
    w, b = torch.randn(12), torch.randn(12)
    save("gn_x", x)
    save("gn_w", w)
    save("gn_b", b)
    save("gn_out", F.group_norm(x, 4, w, b, 1e-5))


# (kernel, stride, pad, ceil_mode, count_include_pad) for max and avg pooling of pool_x
POOL_CASES = [
    (3, 2, 1, 1, 1),
    (3, 2, 1, 1, 0),
    (2, 2, 0, 1, 0),
    (3, 3, 1, 1, 0),
    (5, 3, 2, 1, 1),
    (4, 3, 2, 1, 0),
    (3, 2, 0, 0, 1),
]
ADAPTIVE_SIZES = [(4, 5), (3, 7), (6, 6), (1, 1), (13, 11)]


def pools():
    x = torch.randn(2, 3, 11, 10)
    save("pool_x", x)
    save("pool_cases", np.array(POOL_CASES, dtype=np.int32))
    for i, (k, s, p, c, cip) in enumerate(POOL_CASES):
        save("pool_max_%d" % i, F.max_pool2d(x, k, s, p, ceil_mode=bool(c)))
        save("pool_avg_%d" % i, F.avg_pool2d(x, k, s, p, ceil_mode=bool(c), count_include_pad=bool(cip)))
    x = torch.randn(1, 3, 11, 13)
    save("adapt_x", x)
    save("adapt_sizes", np.array(ADAPTIVE_SIZES, dtype=np.int32))
    for i, size in enumerate(ADAPTIVE_SIZES):
        save("adapt_out_%d" % i, F.adaptive_avg_pool2d(x, size))


def softmaxes():
    x = torch.randn(4, 37) * 5
    x[1, 3] = 80.0  # a large logit: the max subtraction matters
    save("softmax_x", x)
    save("softmax_out", F.softmax(x, dim=-1))
    x = torch.randn(2, 5, 3, 4) * 4
    save("softmax_ch_x", x)
    save("softmax_ch_out", F.softmax(x, dim=1))
    x = torch.randint(0, 3, (1, 6, 5, 7)).float()  # many ties
    save("argmax_x", x)
    save("argmax_out", torch.argmax(x, dim=1)[0].to(torch.int32))


def stable_nms(boxes, scores, idxs, thr):
    """Plain greedy NMS in float32 with torchvision's IoU arithmetic, stable order, per class."""
    b = boxes.numpy().astype(np.float32)
    s = scores.numpy()
    order = sorted(range(len(s)), key=lambda i: -float(s[i]))  # sorted() is stable
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    dead = np.zeros(len(s), bool)
    keep = []
    for a, i in enumerate(order):
        if dead[i]:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            if dead[j] or idxs[j] != idxs[i]:
                continue
            w = max(np.float32(0), min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]))
            h = max(np.float32(0), min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]))
            inter = np.float32(w * h)
            ovr = np.float32(inter / np.float32(area[i] + area[j] - inter))
            if float(ovr) > thr:
                dead[j] = True
    return keep


def clustered_boxes(n, centers, spread, size):
    c = torch.randint(0, centers, (n,))
    cx = (c * 37 % 200).float() + torch.randn(n) * spread
    cy = (c * 53 % 200).float() + torch.randn(n) * spread
    w = size * (0.6 + torch.rand(n))
    h = size * (0.6 + torch.rand(n))
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


def nms_case(name, boxes, scores, idxs, thr):
    thr = float(np.float32(thr))  # the C test reads it back as float32: use exactly that value
    if idxs is None:
        keep = torchvision.ops.nms(boxes, scores, thr)
        ref = stable_nms(boxes, scores, [0] * len(scores), thr)
    else:
        keep = torchvision.ops.batched_nms(boxes, scores, idxs, thr)
        ref = stable_nms(boxes, scores, idxs.tolist(), thr)
    assert keep.tolist() == ref, "%s: torchvision %s != stable %s" % (name, keep.tolist(), ref)
    save(name + "_boxes", boxes)
    save(name + "_scores", scores)
    if idxs is not None:
        save(name + "_ids", idxs.to(torch.int32))
    save(name + "_thr", np.array([thr], dtype=np.float32))
    save(name + "_keep", keep)


def nms_fixtures():
    # 16 boxes in 3 clusters, scores from 3 values: ties everywhere (insertion-sort range: stable)
    b = clustered_boxes(16, 3, 2.0, 20.0)
    s = torch.tensor([0.5, 0.7, 0.9])[torch.randint(0, 3, (16,))]
    nms_case("nms_ties", b, s, None, 0.5)
    # 300 boxes around 12 centres, distinct scores
    b = clustered_boxes(300, 12, 4.0, 24.0)
    s = torch.randperm(300).float() / 300.0
    nms_case("nms_many", b, s, None, 0.7)
    # batched: 300 boxes, 5 classes (coordinate-trick path of torchvision), distinct scores
    b = clustered_boxes(300, 12, 4.0, 24.0)
    s = torch.rand(300)
    nms_case("bnms_many", b, s, torch.randint(0, 5, (300,)), 0.5)
    # batched with ties, 16 boxes
    b = clustered_boxes(16, 2, 2.0, 20.0)
    s = torch.tensor([0.3, 0.6])[torch.randint(0, 2, (16,))]
    nms_case("bnms_ties", b, s, torch.randint(0, 3, (16,)), 0.3)


def topk():
    x = torch.randn(5000)
    v, i = torch.topk(x, 100)
    save("topk_x", x)
    save("topk_values", v)
    save("topk_indices", i)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    activations()
    norms()
    pools()
    softmaxes()
    nms_fixtures()
    topk()


if __name__ == "__main__":
    main()
