#!/usr/bin/env python3
"""ResNet forward benchmark: EmbedScope vs PyTorch eager (NCHW and channels_last), in one run.

Same inputs (bench-data/forward_inputs.npy, [32, 3*224*224] float32, written by
Scripts/bench_all.sh or here) and the same shapes and FLOPs for both engines: EmbedScope runs the
pooled-weight fixtures (Tests/EmbedScopeTests/Fixtures/models/resnet18_legacy.pth, resnet50_zip.pt),
PyTorch runs torchvision's resnet18 / resnet50 (seeded random weights: the speed of a convolution
does not depend on its weights). Rounds alternate between the engines; medians and ratios of the
same run are printed.

Usage: python3 Scripts/bench_resnet.py [--models resnet18,resnet50] [--batch 32] [--runs 3] [--im2col]
(--im2col: also time ours with EMBEDSCOPE_CONV3X3=im2col, the path before Winograd, in the same rounds)
Needs: torch, torchvision (Scripts/setup.sh --torch) and a release build.
"""
import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "Tests/EmbedScopeTests/Fixtures/models"
WEIGHTS = {"resnet18": FIX / "resnet18_legacy.pth", "resnet50": FIX / "resnet50_zip.pt"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,resnet50")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=str(ROOT / ".build/release/embedscope-bench"))
    ap.add_argument("--im2col", action="store_true", help="also time ours with EMBEDSCOPE_CONV3X3=im2col")
    a = ap.parse_args()
    import torch
    import torchvision

    inputs = ROOT / "bench-data/forward_inputs.npy"
    inputs.parent.mkdir(exist_ok=True)
    if not inputs.exists():
        np.save(inputs, np.random.default_rng(10).standard_normal((32, 3 * 224 * 224), dtype=np.float32))
    x = np.load(inputs)
    n = x.shape[0]
    xt = torch.from_numpy(x.reshape(n, 3, 224, 224).copy())
    torch.manual_seed(0)
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__} ({threads} threads); {n} images, batch {a.batch}, medians of {a.runs} rounds")
    out = {}
    for name in a.models.split(","):
        model = getattr(torchvision.models, name)(weights=None).eval()
        model_cl = model.to(memory_format=torch.channels_last)
        xcl = xt.to(memory_format=torch.channels_last)

        def torch_time(m, inp):
            with torch.inference_mode():
                m(inp[: a.batch])  # warm-up
                t0 = time.perf_counter()
                for s in range(0, n, a.batch):
                    m(inp[s:s + a.batch])
                return n / (time.perf_counter() - t0)

        ours, pt, ptcl, im2col = [], [], [], []

        def ours_time(env=None):
            r = subprocess.run([a.binary, "extract", "--model", name, "--weights", str(WEIGHTS[name]),
                                "--inputs", str(inputs), "--batch", str(a.batch), "--runs", "1", "--json"],
                               check=True, capture_output=True, text=True, env=env)
            return json.loads(r.stdout)["rows"][0]["imagesPerSecond"]

        for _ in range(a.runs):
            ours.append(ours_time())
            if a.im2col:
                im2col.append(ours_time(dict(os.environ, EMBEDSCOPE_CONV3X3="im2col")))
            pt.append(torch_time(model, xt))
            ptcl.append(torch_time(model_cl, xcl))
        med = lambda v: sorted(v)[len(v) // 2]
        o, p, c = med(ours), med(pt), med(ptcl)
        print(f"{name} batch {a.batch}: EmbedScope {o:.1f} img/s; PyTorch eager NCHW {p:.1f} img/s; channels_last {c:.1f} img/s; "
              f"ours / channels_last {o / c:.2f}x, ours / NCHW {o / p:.2f}x")
        out[name] = {"embedscope": o, "torch_nchw": p, "torch_channels_last": c, "ratio_vs_channels_last": o / c}
        if im2col:
            i = med(im2col)
            print(f"{name} batch {a.batch}: EmbedScope with EMBEDSCOPE_CONV3X3=im2col {i:.1f} img/s "
                  f"(/ channels_last {i / c:.2f}x); Winograd / im2col {o / i:.2f}x")
            out[name]["embedscope_im2col"] = i
    print(json.dumps(out))


if __name__ == "__main__":
    main()
