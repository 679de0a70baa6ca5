#!/usr/bin/python3
"""Fixtures for tests/test_model_deeplab.c: DeepLab variants the shared reference does not cover
(ResNet-50 backbone, output stride 8, the DeepLabV3 head without decoder, MobileNetV2 at OS8),
computed with the authors' code (VainF/DeepLabV3Plus-Pytorch, network/).

Weights are not stored: every float tensor is filled from a formula of its name and element index
(fmix32 of FNV-1a(name) ^ index) that the C test reproduces exactly, so only a manifest (names and
shapes) and the sampled logits are committed. The input image is a formula too.

Usage: /usr/bin/python3 tests/gen/fixtures_deeplab.py VAINF_CHECKOUT [SHARED_DIR]
Writes tests/data/deeplab/<case>.manifest.txt and <case>.logits.npy (logits [1,K,H,W] sampled
[:, ::2, ::3, ::3]; Xception: 113x129 input, [:, ::4, ::6, ::6], also at OS8 from the same weights);
the mobilenet OS8 case needs SHARED_DIR (the shared VOC checkpoint)."""
import os
import sys

import numpy as np
import torch

IMG_H, IMG_W = 47, 61
XC_H, XC_W = 113, 129      # Xception shrinks more (unpadded stem, conv3/conv4 with padding 1 < dilation)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'deeplab')


def fnv1a(name):
    h = 2166136261
    for b in name.encode():
        h = ((h ^ b) * 16777619) & 0xffffffff
    return h


def uniform(name, n):
    """u in [-0.5, 0.5): fmix32(fnv1a(name) ^ i) / 2^32 - 0.5, as float32 (test_model_deeplab.c)."""
    h = (np.arange(n, dtype=np.uint64) ^ np.uint64(fnv1a(name))) & np.uint64(0xffffffff)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85ebca6b)) & np.uint64(0xffffffff)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xc2b2ae35)) & np.uint64(0xffffffff)
    h ^= h >> np.uint64(16)
    return (h.astype(np.float64) / 4294967296.0 - 0.5).astype(np.float32)


def value(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform(name, n)
    if name.endswith('running_var'):
        v = 1.0 + 0.5 * (u + 0.5)
    elif name.endswith('running_mean') or name.endswith('bias'):
        v = 0.2 * u
    elif len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        v = u * np.float32(2.0 * np.sqrt(6.0 / fan_in))
    else:
        v = 1.0 + 0.2 * u
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def image(h=IMG_H, w=IMG_W):
    """u8 RGB [H, W, 3]: (7 x + 13 y + 50 c + (x y) % 31) % 256."""
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing='ij')
    return ((7 * x + 13 * y + 50 * c + (x * y) % 31) % 256).astype(np.uint8)


def run(model, h=IMG_H, w=IMG_W):
    x = torch.from_numpy(image(h, w)).permute(2, 0, 1).float().div(255.0)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    x = ((x - mean) / std).unsqueeze(0)
    with torch.no_grad():
        return model.eval()(x)


def synthetic_case(network, case, builder, os_, h=IMG_H, w=IMG_W, extra_os=None, step=(2, 3, 3)):
    model = network.modeling.__dict__[builder](num_classes=21, output_stride=os_, pretrained_backbone=False)
    sd = model.state_dict()
    lines = []
    for k, t in sd.items():
        if not t.is_floating_point():
            continue
        sd[k] = value(k, tuple(t.shape))
        lines.append(k + ' ' + ' '.join(str(d) for d in t.shape))
    model.load_state_dict(sd)
    with open(os.path.join(OUT, case + '.manifest.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    save(case, run(model, h, w), step)
    if extra_os:
        # the same weights at another output stride (the C side overrides it at load)
        other = network.modeling.__dict__[builder](num_classes=21, output_stride=extra_os, pretrained_backbone=False)
        other.load_state_dict(sd)
        save('%s_as_os%d' % (case, extra_os), run(other, h, w), step)


def save(case, logits, step=(2, 3, 3)):
    sc, sh, sw = step
    np.save(os.path.join(OUT, case + '.logits.npy'), logits[:, ::sc, ::sh, ::sw].contiguous().numpy())
    print(case, tuple(logits.shape), 'max |logit| %.3f' % logits.abs().max().item())


def main():
    sys.path.insert(0, sys.argv[1])
    import network
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    synthetic_case(network, 'resnet50_v3plus_os8', 'deeplabv3plus_resnet50', 8)
    synthetic_case(network, 'resnet50_v3_os16', 'deeplabv3_resnet50', 16)
    synthetic_case(network, 'mobilenet_v3_os16', 'deeplabv3_mobilenet', 16)
    synthetic_case(network, 'xception_v3plus_os16', 'deeplabv3plus_xception', 16, XC_H, XC_W, extra_os=8,
                   step=(4, 6, 6))
    if len(sys.argv) > 2:
        model = network.modeling.deeplabv3plus_mobilenet(num_classes=21, output_stride=8, pretrained_backbone=False)
        ck = torch.load(os.path.join(sys.argv[2], 'weights', 'deeplabv3plus_mobilenet_voc_os16_random.pth'),
                        map_location='cpu')
        model.load_state_dict(ck['model_state'])
        save('mobilenet_v3plus_os8_shared', run(model))


if __name__ == '__main__':
    main()
