#!/usr/bin/env python3
"""Checkpoint-sweep fixtures (Tests/EmbedScopeTests/Fixtures/sweep/).

A tiny fine-tune, so that a sweep has real checkpoints of one run to compare:
  data/<class>/<i>.png      3 classes × 4 seeded 32×32 RGB pictures (a coloured shape on noise)
  lightning_logs/version_0/checkpoints/epoch=<e>-step=<s>.ckpt
                            three PyTorch-Lightning-style checkpoints of one ResNet-18 fine-tune
                            ({"epoch", "global_step", "pytorch-lightning_version", "state_dict":
                            {"model.<key>": …}}), saved after 3, 6 and 12 SGD steps
  features.npy              [12, 512] float32: PyTorch's (float64) penultimate features of the
                            last checkpoint on data/ in sorted order, preprocessed as
                            `--resize 64 --crop 64` with ImageNet mean/std (EmbedScope's recipe:
                            Pillow's resize on float planes, centre crop, (x/255 − mean)/std)
  expected.json             the checkpoints' epoch / step, the files in order, the recipe

The network is make_model_fixtures.pooled_resnet("resnet18", 3 classes): every conv and fc
weight is a strided view of one float16 pool of 32,768 values, so each checkpoint is ~100 kB.
Fine-tuning trains that pool (the views follow it; BatchNorm statistics are kept, eval mode) and
saves it back as float16 views, so the checkpoints keep the small-storage layout.

Usage: python3 Scripts/make_sweep_fixtures.py   (needs torch, torchvision, Pillow, numpy; ~20 s)
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_model_fixtures import pooled_resnet  # noqa: E402

OUT = os.path.join(HERE, "..", "Tests", "EmbedScopeTests", "Fixtures", "sweep")
CLASSES = ["blue-square", "green-stripes", "red-disc"]
PER_CLASS = 4
SIDE = 32
CROP = 64
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
SAVE_AT = [3, 6, 12]  # global steps; one epoch = 3 steps of 4 images


def picture(cls, rng):
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    img = rng.integers(0, 90, (SIDE, SIDE, 3)).astype(np.float64)
    cx, cy, r = rng.integers(10, 22), rng.integers(10, 22), rng.integers(6, 10)
    if cls == "red-disc":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        img[mask] = [220, 40, 40]
    elif cls == "blue-square":
        mask = (abs(xx - cx) <= r) & (abs(yy - cy) <= r)
        img[mask] = [40, 60, 220]
    else:
        mask = ((xx + rng.integers(0, 4)) // 3) % 2 == 0
        img[mask] = img[mask] * 0.3 + np.array([40, 200, 60]) * 0.7
    return np.clip(img, 0, 255).astype(np.uint8)


def preprocess(rgb):
    """EmbedScope's recipe: short side → CROP with Pillow's antialiased bilinear on float planes,
    centre crop CROP, (x/255 − mean)/std, CHW float64."""
    img = Image.fromarray(rgb).convert("RGB")
    w, h = img.size
    ow, oh = (CROP, int(CROP * h / w)) if w <= h else (int(CROP * w / h), CROP)
    planes = [c.convert("F").resize((ow, oh), Image.Resampling.BILINEAR) for c in img.split()]
    x = np.stack([np.asarray(c, dtype=np.float32) for c in planes], axis=-1).astype(np.float64)
    top, left = int(round((oh - CROP) / 2.0)), int(round((ow - CROP) / 2.0))
    x = x[top:top + CROP, left:left + CROP]
    return ((x / 255.0 - MEAN) / STD).transpose(2, 0, 1)


def features(m, sd, x):
    """Penultimate features with the state dict `sd` (views of the pools) in module `m`."""
    out = {}
    hook = m.avgpool.register_forward_hook(lambda mod, i, o: out.__setitem__("f", torch.flatten(o, 1)))
    logits = torch.func.functional_call(m, sd, (x,))
    hook.remove()
    return out["f"], logits


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    rng = np.random.default_rng(12)
    files, images, labels = [], [], []
    for c, name in enumerate(CLASSES):
        d = os.path.join(OUT, "data", name)
        os.makedirs(d, exist_ok=True)
        for i in range(PER_CLASS):
            rgb = picture(name, rng)
            Image.fromarray(rgb).save(os.path.join(d, f"{i}.png"), optimize=True)
            files.append(f"{name}/{i}.png")
            images.append(rgb)
            labels.append(c)
    x = torch.from_numpy(np.stack([preprocess(im) for im in images]))
    y = torch.tensor(labels)

    calib = torch.from_numpy(np.random.default_rng(0).standard_normal((4, 3, 224, 224)))
    m, sd = pooled_resnet("resnet18", len(CLASSES), calib)
    m = m.eval()  # BatchNorm uses the stored statistics; only the weight pool is trained
    pool16 = sd["conv1.weight"]._base
    assert pool16 is not None and pool16.dtype == torch.float16
    pooled = {k for k, v in sd.items() if v._base is pool16}
    pool = pool16.double().clone().requires_grad_(True)

    def state(p):
        return {k: (torch.as_strided(p, v.shape, v.stride(), v.storage_offset()) if k in pooled
                    else (v.double() if v.is_floating_point() else v)) for k, v in sd.items()}

    opt = torch.optim.SGD([pool], lr=0.5, momentum=0.9)
    log_dir = os.path.join(OUT, "lightning_logs", "version_0", "checkpoints")
    os.makedirs(log_dir, exist_ok=True)
    saved = []
    batches = [list(range(i, len(files), 3)) for i in range(3)]  # 3 interleaved batches of 4
    step = 0
    while step < SAVE_AT[-1]:
        b = batches[step % 3]
        _, logits = features(m, state(pool), x[b])
        loss = torch.nn.functional.cross_entropy(logits, y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step in SAVE_AT:
            epoch = (step - 1) // 3
            p16 = pool.detach().half()
            out = {k: (torch.as_strided(p16, v.shape, v.stride(), v.storage_offset()) if k in pooled else v) for k, v in sd.items()}
            ckpt = {"epoch": epoch, "global_step": step, "pytorch-lightning_version": "2.4.0",
                    "state_dict": {"model." + k: v for k, v in out.items()}}
            name = f"epoch={epoch}-step={step}.ckpt"
            torch.save(ckpt, os.path.join(log_dir, name))
            saved.append({"file": f"lightning_logs/version_0/checkpoints/{name}", "epoch": epoch, "global_step": step,
                          "loss": float(loss.detach())})
            print(f"step {step}: loss {float(loss.detach()):.4f} → {name} ({os.path.getsize(os.path.join(log_dir, name)) / 1e3:.0f} kB)", file=sys.stderr)
            last = out

    with torch.no_grad():
        f, _ = features(m, {k: (v.double() if v.is_floating_point() else v) for k, v in last.items()}, x)
    np.save(os.path.join(OUT, "features.npy"), f.numpy().astype(np.float32))
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump({"classes": CLASSES, "files": files, "checkpoints": saved, "resize": CROP, "crop": CROP,
                   "mean": MEAN.tolist(), "std": STD.tolist(), "features": "features.npy: last checkpoint, float64 PyTorch"}, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
