#!/usr/bin/python3
"""Fixtures for tests/test_ops_attention.c and tests/test_ops_deform_attn.c.

Re-states, in a few lines of torch, the formulas of
  - sam2/modeling/position_encoding.py  compute_axial_cis, apply_rotary_enc (CPU branch of repeat_freqs_k)
  - sam2/modeling/sam/transformer.py    RoPEAttention: rotate q and k[:, :, :Lk - num_k_exclude_rope]
  - sam2/modeling/backbones/utils.py    window_partition / window_unpartition
  - Deformable-DETR models/ops/functions/ms_deform_attn_func.py  ms_deform_attn_core_pytorch
and writes small .npy files into tests/data/attention/. Run with Debian's torch:
    /usr/bin/python3 tests/gen/fixtures_attention.py
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "attention")


def save(name, t):
    a = t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(a))


# ---- RoPE (sam2 position_encoding.py) ----

def axial_cis(dim, end_x, end_y, theta=10000.0):
    # one frequency per 4 channels, the same set for the x and the y half
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4)[: dim // 4].float() / dim))
    t = torch.arange(end_x * end_y, dtype=torch.float32)
    t_x = t % end_x
    t_y = torch.div(t, end_x, rounding_mode="floor")
    ang_x = torch.outer(t_x, freqs)
    ang_y = torch.outer(t_y, freqs)
    cis_x = torch.polar(torch.ones_like(ang_x), ang_x)
    cis_y = torch.polar(torch.ones_like(ang_y), ang_y)
    return torch.cat([cis_x, cis_y], dim=-1)  # complex [N, dim/2]


def rotate(x, cis, repeat):
    # x [B,H,L,D] as complex pairs times cis (broadcast over B,H; tiled along L when repeat)
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    c = cis.view(1, 1, *cis.shape)
    if repeat:
        r = xc.shape[-2] // cis.shape[0]
        c = c.unsqueeze(2).expand(-1, -1, r, -1, -1).flatten(2, 3)
    return torch.view_as_real(xc * c).flatten(3)


def rope_fixture(g):
    dim, end_x, end_y = 16, 5, 3             # non-square grid, N = 15 tokens
    n = end_x * end_y
    frames, n_excl = 2, 3                    # keys: 2 memory frames + 3 object pointers
    q = torch.randn(2, 2, n, dim, generator=g)
    k = torch.randn(2, 2, frames * n + n_excl, dim, generator=g)
    cis = axial_cis(dim, end_x, end_y)
    q_out = rotate(q, cis, False)
    k_out = k.clone()
    n_rope = k.shape[2] - n_excl
    k_out[:, :, :n_rope] = rotate(k[:, :, :n_rope], cis, True)
    save("rope_cis", torch.view_as_real(cis))   # [N, dim/2, 2] (cos, sin)
    save("rope_q", q)
    save("rope_k", k)
    save("rope_q_out", q_out)
    save("rope_k_out", k_out)


# ---- windows (sam2 backbones/utils.py) ----

def window_fixture(g):
    ws = 4
    x = torch.randn(2, 5, 7, 3, generator=g)   # pads to 8 x 8: 2 x 2 windows per image
    B, H, W, C = x.shape
    ph, pw = (ws - H % ws) % ws, (ws - W % ws) % ws
    xp = F.pad(x, (0, 0, 0, pw, 0, ph))
    Hp, Wp = H + ph, W + pw
    win = xp.view(B, Hp // ws, ws, Wp // ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws, ws, C)
    save("window_x", x)
    save("window_windows", win)


# ---- multi-scale deformable attention (Deformable-DETR) ----

def deform_core(value, shapes, loc, aw):
    B, S, M, D = value.shape
    _, Lq, _, L, P, _ = loc.shape
    per_level = value.split([h * w for h, w in shapes], dim=1)
    grids = 2 * loc - 1
    sampled = []
    for lvl, (h, w) in enumerate(shapes):
        v = per_level[lvl].flatten(2).transpose(1, 2).reshape(B * M, D, h, w)
        grid = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)          # [B*M, Lq, P, 2]
        sampled.append(F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    w_ = aw.transpose(1, 2).reshape(B * M, 1, Lq, L * P)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * w_).sum(-1).view(B, M * D, Lq)
    return out.transpose(1, 2).contiguous()


def deform_fixture(g):
    shapes = [(7, 9), (4, 5), (2, 3), (1, 1)]   # 4 levels, odd sizes
    B, M, D, Lq, P = 2, 2, 5, 6, 3
    S = sum(h * w for h, w in shapes)
    L = len(shapes)
    value = torch.randn(B, S, M, D, generator=g)
    # include points outside [0, 1] (zero padding) and near the borders
    loc = torch.rand(B, Lq, M, L, P, 2, generator=g) * 1.4 - 0.2
    aw = torch.softmax(torch.randn(B, Lq, M, L * P, generator=g), -1).view(B, Lq, M, L, P)
    out = deform_core(value, shapes, loc, aw)
    save("deform_value", value)
    save("deform_shapes", np.array(shapes, dtype=np.int32))
    save("deform_loc", loc)
    save("deform_weights", aw)
    save("deform_out", out)


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(20240611)
    rope_fixture(g)
    window_fixture(g)
    deform_fixture(g)


if __name__ == "__main__":
    main()
