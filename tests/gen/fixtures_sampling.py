#!/usr/bin/python3
"""Fixtures for tests/test_ops_resize.c, tests/test_ops_grid_sample.c and tests/test_ops_roi_align.c.

Calls PyTorch 1.13 / torchvision 0.14 themselves (F.interpolate, F.grid_sample, torchvision.ops.roi_align)
and writes small .npy files into tests/data/sampling/. Resize inputs are not stored (the 300x200 one would not be small):
both sides compute them from the integer pattern in `pattern()` (exact in float32).
Scale factors are stored as integer ratios num/den so C and Python form the same double.
Run with Debian's torch:
    /usr/bin/python3 tests/gen/fixtures_sampling.py
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "sampling")

NEAREST, NEAREST_EXACT, BILINEAR, BICUBIC = 0, 1, 2, 3
MODE_NAMES = {NEAREST: "nearest", NEAREST_EXACT: "nearest-exact", BILINEAR: "bilinear", BICUBIC: "bicubic"}


def save(name, a):
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    np.save(os.path.join(OUT, name + ".npy"), a)


def pattern(n, c, h, w):
    """x[n,c,i,j] = ((i*7919 + j*104729 + c*1299709 + n*15485863) % 1000) / 500 - 1 (same formula in C)."""
    i = np.arange(h, dtype=np.int64).reshape(1, 1, h, 1)
    j = np.arange(w, dtype=np.int64).reshape(1, 1, 1, w)
    cc = np.arange(c, dtype=np.int64).reshape(1, c, 1, 1)
    nn = np.arange(n, dtype=np.int64).reshape(n, 1, 1, 1)
    k = (i * 7919 + j * 104729 + cc * 1299709 + nn * 15485863) % 1000
    return torch.from_numpy((k.astype(np.float64) / 500.0 - 1.0).astype(np.float32))


# ---- resize: rows [N, C, H, W, Ho, Wo, mode, align_corners, antialias, sh_num, sh_den, sw_num, sw_den];
# den 0 = called with size=(Ho, Wo). Output i is resize_<i>.npy.
RESIZE_CASES = [
    # (N, C, H, W, size or None, mode, align_corners, antialias, (sh_num, sh_den, sw_num, sw_den) or None)
    (1, 2, 7, 9, (12, 5), NEAREST, 0, 0, None),
    (1, 2, 5, 6, None, NEAREST, 0, 0, (2, 1, 2, 1)),            # FPN top-down: nearest, scale 2
    (1, 1, 7, 9, None, NEAREST, 0, 0, (17, 10, 3, 5)),          # 1.7, 0.6
    (1, 1, 13, 11, (5, 29), NEAREST, 0, 0, None),
    (1, 1, 5, 7, None, NEAREST, 0, 0, (1, 1, 41, 20)),         # out == 2 * in: PyTorch takes dst / 2
    (1, 2, 7, 9, (12, 5), NEAREST_EXACT, 0, 0, None),
    (1, 1, 13, 11, None, NEAREST_EXACT, 0, 0, (3, 10, 7, 3)),   # 0.3, 2.333...
    (1, 1, 4, 4, (1, 1), NEAREST_EXACT, 0, 0, None),
    (2, 2, 7, 9, (12, 5), BILINEAR, 0, 0, None),
    (1, 2, 7, 9, (12, 5), BILINEAR, 1, 0, None),
    (1, 1, 7, 9, None, BILINEAR, 0, 0, (5, 2, 9, 20)),          # 2.5, 0.45
    (1, 1, 7, 9, None, BILINEAR, 1, 0, (3, 1, 13, 10)),         # 3, 1.3
    (1, 2, 1, 9, (4, 13), BILINEAR, 0, 0, None),                # 1xN image
    (1, 2, 9, 1, (13, 4), BILINEAR, 1, 0, None),                # Nx1 image
    (1, 1, 6, 8, (1, 1), BILINEAR, 0, 0, None),
    (1, 1, 6, 8, (1, 3), BILINEAR, 1, 0, None),
    (1, 1, 64, 48, (15, 17), BILINEAR, 0, 0, None),             # plain downscale (aliasing)
    (1, 1, 12, 12, (48, 48), BILINEAR, 0, 0, None),             # HRNet-style upsample by 4
    (1, 2, 37, 53, (16, 16), BILINEAR, 0, 1, None),             # antialias downscale
    (1, 1, 300, 200, (64, 64), BILINEAR, 0, 1, None),           # SAM 2 preprocessing style
    (1, 2, 9, 7, (20, 17), BILINEAR, 0, 1, None),               # antialias upscale == bilinear
    (1, 1, 10, 40, (23, 11), BILINEAR, 0, 1, None),             # up in H, down in W
    (1, 1, 37, 53, None, BILINEAR, 0, 1, (3, 10, 3, 10)),       # antialias with scale_factor 0.3
    (1, 1, 20, 30, (7, 9), BILINEAR, 1, 1, None),               # antialias, align_corners=True
    (1, 2, 7, 9, (12, 5), BICUBIC, 0, 0, None),
    (1, 2, 7, 9, (12, 5), BICUBIC, 1, 0, None),
    (1, 1, 7, 9, None, BICUBIC, 0, 0, (23, 10, 2, 1)),          # 2.3, 2
    (1, 1, 1, 6, (3, 11), BICUBIC, 0, 0, None),
    # long rows: PyTorch keeps the source coordinate in double; rounding it to float moves weights by ~5e-6
    (1, 1, 2, 400, (3, 613), BILINEAR, 0, 0, None),
    (1, 1, 2, 250, (2, 613), BILINEAR, 1, 0, None),
    (1, 1, 1, 258, None, BICUBIC, 0, 0, (1, 1, 3, 2)),
]


def resize_fixtures():
    rows = []
    for i, (n, c, h, w, size, mode, ac, aa, sc) in enumerate(RESIZE_CASES):
        x = pattern(n, c, h, w)
        kw = {"mode": MODE_NAMES[mode], "antialias": bool(aa)}
        if mode in (BILINEAR, BICUBIC):
            kw["align_corners"] = bool(ac)
        if sc is None:
            y = F.interpolate(x, size=size, **kw)
            sc = (0, 0, 0, 0)
        else:
            y = F.interpolate(x, scale_factor=(sc[0] / sc[1], sc[2] / sc[3]), **kw)
        rows.append([n, c, h, w, y.shape[2], y.shape[3], mode, ac, aa, *sc])
        save("resize_%d" % i, y)
    save("resize_cases", np.array(rows))


# ---- grid_sample: one input, one grid; out[mode, padding, align_corners] for modes bilinear/nearest,
# paddings zeros/border/reflection.
def grid_fixtures():
    g = torch.Generator().manual_seed(7)
    x = pattern(2, 3, 5, 8)
    grid = torch.rand(2, 6, 7, 2, generator=g) * 2.6 - 1.3          # points outside [-1, 1] too
    # exact ties: x = k/8 - 1 lands on half pixels (align_corners=False, W=8): nearest rounds half to even
    grid[0, 0, :, 0] = torch.tensor([-1.0, -0.875, -0.75, -0.625, 0.125, 1.0, 0.875])
    grid[0, 0, :, 1] = torch.tensor([-1.0, 1.0, 0.0, 0.2, -0.2, 1.0, -1.0])
    grid[1, 1, :, 1] = torch.tensor([-0.6, -0.2, 0.2, 0.6, 1.0, -1.0, 0.0])   # y ties (H=5)
    outs = []
    for mode in ("bilinear", "nearest"):
        for pad in ("zeros", "border", "reflection"):
            for ac in (False, True):
                outs.append(F.grid_sample(x, grid, mode=mode, padding_mode=pad, align_corners=ac))
    save("grid_x", x)
    save("grid_grid", grid)
    save("grid_out", torch.stack(outs))   # [(mode * 3 + padding) * 2 + align_corners, N, C, Ho, Wo]
    # a long map: float rounding of the unnormalized coordinate matters at x ~ 500
    x = pattern(1, 1, 3, 517)
    grid = torch.rand(1, 2, 150, 2, generator=g) * 2.2 - 1.1
    outs = [F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=ac) for ac in (False, True)]
    save("grid_long_x", x)
    save("grid_long_grid", grid)
    save("grid_long_out", torch.stack(outs))   # [align_corners, 1, 1, 2, 150]


# ---- roi_align: x = pattern(2, 3, 13, 17); rois [K, 5] in image coords;
# cases [aligned, sampling_ratio, ph, pw, scale_num, scale_den], output i is roi_<i>.npy.
ROI_CASES = [
    (0, 2, 7, 7, 1, 2),      # Mask R-CNN box head style
    (0, 0, 3, 4, 1, 2),      # adaptive sampling
    (1, 2, 5, 3, 1, 2),
    (1, 0, 4, 4, 1, 4),
    (0, 1, 2, 5, 1, 1),
    (1, 3, 14, 14, 1, 1),    # mask head size
]


def roi_fixtures():
    x = pattern(2, 3, 13, 17)
    rois = torch.tensor([
        [0, 2.0, 3.0, 20.0, 15.0],
        [1, -5.0, -4.0, 8.5, 6.25],       # partly outside (top-left)
        [0, 25.0, 18.0, 40.0, 33.0],      # partly outside (bottom-right)
        [1, 10.2, 7.7, 10.9, 8.1],        # smaller than a pixel
        [0, 0.0, 0.0, 34.0, 26.0],        # whole map at scale 1/2
        [1, 30.0, 5.0, 12.0, 20.0],       # x2 < x1
        [0, -40.0, -40.0, -20.0, -20.0],  # entirely outside
        [1, 3.3, 1.1, 27.9, 24.6],
    ])
    for i, (al, sr, ph, pw, sn, sd) in enumerate(ROI_CASES):
        # torchvision fails ("cannot create std::vector larger than max_size()") on an inverted roi with
        # aligned=True and adaptive sampling (negative sample count); segc outputs zeros there.
        keep = torch.ones(len(rois), dtype=torch.bool)
        if al and sr <= 0:
            keep = (rois[:, 3] >= rois[:, 1]) & (rois[:, 4] >= rois[:, 2])
        y = torch.zeros(len(rois), x.shape[1], ph, pw)
        y[keep] = torchvision.ops.roi_align(x, rois[keep], (ph, pw), spatial_scale=sn / sd, sampling_ratio=sr,
                                            aligned=bool(al))
        save("roi_%d" % i, y)
    save("roi_x", x)
    save("roi_rois", rois)
    save("roi_cases", np.array(ROI_CASES))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    resize_fixtures()
    grid_fixtures()
    roi_fixtures()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d files, %d bytes into %s" % (len(os.listdir(OUT)), total, OUT))
