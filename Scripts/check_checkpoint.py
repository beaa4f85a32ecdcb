#!/usr/bin/env python3
"""Checks the Swift checkpoint reader against torch.load on a real file (not a test: it needs the file).

    swift build -c release
    python3 Scripts/check_checkpoint.py path/to/model.pth [--embedscope .build/release/embedscope]

Runs `embedscope checkpoint FILE --export DIR --strip-prefix '' --json --repeat 5`, then loads the
file with torch.load(weights_only=True) and compares every tensor: same names, same shapes, and
float32 values bit-identical to tensor.float() (max abs diff must be 0). Prints the load times
of both (embedscope: median of 5 in-process loads; torch: median of 5 torch.load calls).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

NESTED = ["state_dict", "model", "model_state_dict", "module"]


def reference_state_dict(obj):
    """The same selection as TorchCheckpoint: a nested state dict if one holds tensors, else the top level."""
    if isinstance(obj, dict):
        for key in NESTED:
            inner = obj.get(key)
            if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    return {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--embedscope", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "embedscope"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as out:
        run = subprocess.run([args.embedscope, "checkpoint", args.file, "--export", out, "--strip-prefix", "",
                              "--json", "--repeat", str(args.repeat)], capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"embedscope failed:\n{run.stderr}")
        report = json.loads(run.stdout)

        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            obj = torch.load(args.file, map_location="cpu", weights_only=True)
            times.append((time.perf_counter() - t0) * 1e3)
        ref = reference_state_dict(obj)

        names = [t["name"] for t in report["tensors"]]
        assert sorted(names) == sorted(ref), f"names differ: {sorted(set(names) ^ set(ref))[:10]}"
        worst, mismatched, values = 0.0, 0, 0
        for name in names:
            want = ref[name].detach().float().contiguous().numpy()
            got = np.load(os.path.join(out, name.replace("/", "_") + ".npy"))
            assert list(got.shape) == list(want.shape), (name, got.shape, want.shape)
            values += want.size
            if want.size:
                same = got.view(np.uint32) == want.view(np.uint32)
                mismatched += int((~same).sum())
                with np.errstate(invalid="ignore"):
                    worst = max(worst, float(np.nanmax(np.abs(got.astype(np.float64) - want.astype(np.float64)))))
        strided = sum(1 for v in ref.values() if not v.is_contiguous())
        print(f"{len(names)} tensors ({strided} non-contiguous), {values} values: "
              f"max abs diff {worst}, {mismatched} values not bit-identical")
        print(f"load time: embedscope {report['loadMs']:.1f} ms (median of {report['repeats']}), "
              f"torch.load {sorted(times)[len(times) // 2]:.1f} ms (median of {len(times)})")
        if worst != 0 or mismatched:
            sys.exit(1)


if __name__ == "__main__":
    main()
