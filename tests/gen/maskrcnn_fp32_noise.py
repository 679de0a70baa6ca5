"""How far float32 itself moves Mask R-CNN's outputs: the measurement behind the mask-logit tolerance of
tests/test_model_maskrcnn.c (MASK_LOGITS_ATOL). No fixture is written.

For one reference case of ../shared/reference/maskrcnn_r50_fpn/ it runs torchvision's maskrcnn_resnet50_fpn
(FrozenBatchNorm2d, eval, defaults; the shared fp16 weights widened to fp32) in float32 on 1 and 2 threads
and in float64, and prints the max |diff| of the matched detections' mask logits (label + IoU >= 0.99)
between: torch fp32 and the reference, fp32 on 2 threads and 1, the reference and fp64; optionally segc.

usage: /usr/bin/python3 tests/gen/maskrcnn_fp32_noise.py SHARED_DIR CASE [SEGC_DUMP_DIR]
  SEGC_DUMP_DIR: from `segc dump -m maskrcnn.segc -i SHARED_DIR/reference/maskrcnn_r50_fpn/CASE/input.png
  -o DIR --tap 'detections.*' --tap roi_heads.mask_logits` (adds segc vs reference and segc vs fp64).
"""
import os
import sys

import numpy as np
import torch
from PIL import Image
from torchvision.models import resnet50
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

MIN_IOU = 0.99


def build(state_dict):
    # maskrcnn_resnet50_fpn(weights=None) would use BatchNorm2d; the reference used FrozenBatchNorm2d
    backbone = _resnet_fpn_extractor(resnet50(norm_layer=FrozenBatchNorm2d), 3)
    model = MaskRCNN(backbone, 91)
    model.load_state_dict(state_dict)
    return model.eval()


def run(state_dict, image, dtype, threads):
    """(boxes, labels, mask logits of each detection's class) in float64 numpy."""
    torch.set_num_threads(threads)
    model = build(state_dict).to(dtype)
    captured = {}
    model.roi_heads.mask_predictor.register_forward_hook(lambda mod, inp, out: captured.__setitem__("logits", out))
    with torch.no_grad():
        out = model([image.to(dtype) / 255])[0]
    labels = out["labels"]
    logits = captured["logits"][torch.arange(len(labels)), labels]
    return out["boxes"].double().numpy(), labels.numpy(), logits.double().numpy()


def iou(a, b):
    x1, y1 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x2, y2 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter)


def compare(name, a, b):
    """Greedy matching by label + IoU, then max |diff| of mask logits and boxes over matched pairs."""
    (ba, la, ma), (bb, lb, mb) = a, b
    used, per, worst_box = set(), [], 0.0
    for i in range(len(ba)):
        scores = iou(ba[i], bb)
        scores[lb != la[i]] = -1
        scores[list(used)] = -1
        j = int(scores.argmax()) if len(bb) else -1
        if j < 0 or scores[j] < MIN_IOU:
            continue
        used.add(j)
        per.append(np.abs(ma[i] - mb[j]).max())
        worst_box = max(worst_box, np.abs(ba[i] - bb[j]).max())
    per = np.array(per)
    print(f"{name:48s} matched {len(per)}/{len(ba)}  mask logits max {per.max():.2g} (median {np.median(per):.2g})"
          f"  boxes max {worst_box:.2g} px", flush=True)


def main():
    shared, case = sys.argv[1], sys.argv[2]
    ref_dir = os.path.join(shared, "reference", "maskrcnn_r50_fpn", case)
    weights = os.path.join(shared, "weights", "maskrcnn_resnet50_fpn_random_fp16.pth")
    state_dict = {k: v.float() for k, v in torch.load(weights).items()}
    image = torch.from_numpy(np.array(Image.open(os.path.join(ref_dir, "input.png")).convert("RGB")))
    image = image.permute(2, 0, 1).contiguous()
    load = lambda d, n: np.load(os.path.join(d, n)).astype(np.float64)
    ref = (load(ref_dir, "050_det_boxes.npy"), np.load(os.path.join(ref_dir, "051_det_labels.npy")),
           load(ref_dir, "053_det_mask_logits.npy"))
    fp32_1 = run(state_dict, image, torch.float32, 1)
    compare("torch fp32 1 thread vs the reference", fp32_1, ref)
    fp32_2 = run(state_dict, image, torch.float32, 2)
    compare("torch fp32 2 threads vs 1 thread", fp32_2, fp32_1)
    fp64 = run(state_dict, image, torch.float64, 2)
    compare("the reference vs torch fp64", ref, fp64)
    if len(sys.argv) > 3:
        d = sys.argv[3]
        segc = (load(d, "detections.boxes.npy"), np.load(os.path.join(d, "detections.labels.npy")).astype(np.int64),
                load(d, "roi_heads.mask_logits.npy"))
        compare("segc vs torch fp64", segc, fp64)
        compare("segc vs the reference", segc, ref)


if __name__ == "__main__":
    main()
