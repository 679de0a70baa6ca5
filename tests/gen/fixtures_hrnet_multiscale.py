#!/usr/bin/python3
"""fixtures_hrnet_multiscale.py - flip + multi-scale inference of the tiny HRNet, by the authors' own test code.

Runs the official multi_scale_inference (lib/datasets/cityscapes.py and lib/datasets/base_dataset.py,
branch pytorch-v1.1) with BaseDataset.inference on tests/data/hrnet/tiny_hrnet.pth (made by
fixtures_hrnet.py) and tiny_image.npy, in two settings small enough for a unit test:
  cityscapes: Cityscapes.multi_scale_inference, base size 48, crop (h, w) = (24, 40), scales 0.75 (whole
              image) and 1.5 (3 x 2 sliding windows, the last ones aligned to the end), flip on;
  base:       BaseDataset.multi_scale_inference, base size 48, crop (32, 32), scales 0.5 (image padded to
              the crop) and 1.25 (2 x 3 windows, stride 21, border windows padded), flip on.
The dataset objects are made without their file lists (only the attributes these methods read).
No CUDA here: Tensor.cuda() and .to(cuda) are no-ops. cv2 is not installed: a stand-in gives the two
calls these methods make, cv2.resize(INTER_LINEAR) on float32 (OpenCV's formula: scale = in / out in
double, fx = (float)((dx + 0.5) * scale - 0.5), clamped at both borders, horizontal then vertical
pass) and cv2.copyMakeBorder(BORDER_CONSTANT) (bottom/right padding with a per-channel value).

Usage: /usr/bin/python3 tests/gen/fixtures_hrnet_multiscale.py HRNET_SRC [DATA_DIR]
  HRNET_SRC: a checkout of HRNet/HRNet-Semantic-Segmentation, branch pytorch-v1.1
  DATA_DIR:  default tests/data/hrnet (reads tiny_hrnet.pth and tiny_image.npy there)
Writes ms_<setting>_labels.npy (u8 [H, W] argmax of final_pred) and ms_<setting>_scores.npy (f32
final_pred[..., ::3, ::3], every class) for each setting.
"""
import importlib
import importlib.util
import os
import sys
import types

import numpy as np

if not hasattr(np, "int"):
    np.int = int  # the authors' code uses np.int, removed in numpy 1.24
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_hrnet  # noqa: E402  (the tiny config and its network builder)

SAMPLE = 3   # the stored scores are final_pred[..., ::SAMPLE, ::SAMPLE]
SETTINGS = {
    "cityscapes": dict(cls="Cityscapes", base_size=48, crop=(24, 40), scales=[0.75, 1.5], flip=True),
    "base": dict(cls="BaseDataset", base_size=48, crop=(32, 32), scales=[0.5, 1.25], flip=True),
}


def cv2_resize(img, dsize, interpolation=1):
    """cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR) for a float32 HxWxC image."""
    assert interpolation == 1, "only INTER_LINEAR is used on images by multi_scale_inference"
    new_w, new_h = dsize

    def taps(src, dst):
        scale = src / dst   # OpenCV: 1 / inv_scale, inv_scale = dst / src (double)
        idx, wts = [], []
        for d in range(dst):
            fx = np.float32((d + 0.5) * scale - 0.5)
            sx = int(np.floor(fx))
            fx = np.float32(fx - sx)
            if sx < 0:
                fx, sx = np.float32(0), 0
            if sx >= src - 1:
                fx, sx = np.float32(0), src - 1
            idx.append((sx, min(sx + 1, src - 1)))
            wts.append((np.float32(1) - fx, fx))
        return np.array(idx), np.array(wts, dtype=np.float32)

    img = img.astype(np.float32)
    xi, xw = taps(img.shape[1], new_w)
    yi, yw = taps(img.shape[0], new_h)
    rows = img[:, xi[:, 0]] * xw[None, :, 0:1] + img[:, xi[:, 1]] * xw[None, :, 1:2]
    out = rows[yi[:, 0]] * yw[:, 0, None, None] + rows[yi[:, 1]] * yw[:, 1, None, None]
    return out.astype(np.float32)


def cv2_copy_make_border(img, top, bottom, left, right, border_type, value):
    assert border_type == 0 and top == 0 and left == 0
    out = np.empty((img.shape[0] + bottom, img.shape[1] + right, img.shape[2]), dtype=img.dtype)
    out[...] = np.asarray(value, dtype=img.dtype)[: img.shape[2]]
    out[: img.shape[0], : img.shape[1]] = img
    return out


def install_stand_ins():
    cv2 = types.ModuleType("cv2")
    cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.BORDER_CONSTANT, cv2.IMREAD_COLOR, cv2.IMREAD_GRAYSCALE = 0, 1, 0, 1, 0
    cv2.resize = cv2_resize
    cv2.copyMakeBorder = cv2_copy_make_border
    sys.modules["cv2"] = cv2
    pil = types.ModuleType("PIL")
    pil.Image = types.ModuleType("PIL.Image")
    sys.modules.setdefault("PIL", pil)
    sys.modules.setdefault("PIL.Image", pil.Image)
    torch.Tensor.cuda = lambda self, *a, **k: self
    to = torch.Tensor.to

    def to_cpu(self, *a, **k):
        if a and isinstance(a[0], torch.device) and a[0].type == "cuda":
            return self
        return to(self, *a, **k)
    torch.Tensor.to = to_cpu


def main():
    src = sys.argv[1]
    data = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "data", "hrnet")
    install_stand_ins()
    pkg = types.ModuleType("hrnet_datasets")   # the package without its __init__ (it imports every dataset)
    pkg.__path__ = [os.path.join(src, "lib", "datasets")]
    sys.modules["hrnet_datasets"] = pkg
    base_dataset = importlib.import_module("hrnet_datasets.base_dataset")
    cityscapes = importlib.import_module("hrnet_datasets.cityscapes")
    spec = importlib.util.spec_from_file_location("seg_hrnet", os.path.join(src, "lib/models/seg_hrnet.py"))
    seg_hrnet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seg_hrnet)

    net = fixtures_hrnet.build_net(seg_hrnet)
    state = torch.load(os.path.join(data, "tiny_hrnet.pth"), map_location="cpu")
    net.load_state_dict({k[6:]: v.float() if v.is_floating_point() else v
                         for k, v in state.items() if k.startswith("model.")})
    net.eval()
    net.device_ids = [0]   # BaseDataset.multi_scale_inference reads model.device_ids (DataParallel)

    rgb = np.load(os.path.join(data, "tiny_image.npy"))
    for name, s in SETTINGS.items():
        cls = cityscapes.Cityscapes if s["cls"] == "Cityscapes" else base_dataset.BaseDataset
        ds = cls.__new__(cls)
        base_dataset.BaseDataset.__init__(ds, ignore_label=255, base_size=s["base_size"], crop_size=s["crop"],
                                          downsample_rate=1)
        ds.num_classes = fixtures_hrnet.NUM_CLASSES
        # tools/test.py's testval: the dataset's input_transform of the cv2 (BGR) image, CHW, batch 1
        image = ds.input_transform(rgb[:, :, ::-1].copy()).transpose((2, 0, 1))
        with torch.no_grad():
            pred = ds.multi_scale_inference(net, torch.from_numpy(image[None].copy()), scales=s["scales"],
                                            flip=s["flip"])
        pred = pred.numpy()
        np.save(os.path.join(data, "ms_%s_labels.npy" % name), pred[0].argmax(0).astype(np.uint8))
        np.save(os.path.join(data, "ms_%s_scores.npy" % name),
                np.ascontiguousarray(pred[:, :, ::SAMPLE, ::SAMPLE]).astype(np.float32))
        top2 = np.sort(pred[0], axis=0)[-2:]
        print(name, pred.shape, "max %.4g" % pred.max(), "min margin %.3g" % (top2[1] - top2[0]).min())


if __name__ == "__main__":
    main()
