#!/usr/bin/env python3
"""Times the image layer (release build) beside Pillow doing the same work.

    python3 Scripts/bench_images.py        # needs numpy + Pillow (Scripts/setup.sh --bench)

Writes a ~1 MB JPEG to bench-data/ (git-ignored), times Pillow, then runs
`embedscope-bench images` on the same JPEG and prints its figures.
"""
import io
import os
import subprocess
import time

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "bench-data")


def median_ms(fn, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return sorted(times)[runs // 2]


def main():
    os.makedirs(DATA, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(5))
    h, w = 1500, 2000
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, ((x + y) & 255) ^ 0x55], axis=-1)
    img = np.clip(img + rng.integers(0, 24, size=img.shape), 0, 255).astype(np.uint8)
    jpeg_path = os.path.join(DATA, "bench_2000x1500.jpg")
    Image.fromarray(img).save(jpeg_path, quality=90)
    data = open(jpeg_path, "rb").read()
    print(f"Pillow {Image.__version__} baselines:")
    ms = median_ms(lambda: Image.open(io.BytesIO(data)).convert("RGB").load(), 7)
    print(f"  JPEG 2000x1500 ({len(data) / 1e6:.2f} MB): decode {ms:.1f} ms")
    big = Image.fromarray(np.clip(rng.integers(0, 256, (3000, 4000, 3)), 0, 255).astype(np.uint8))
    ms = median_ms(lambda: big.resize((341, 256), Image.Resampling.BILINEAR, reducing_gap=None), 5)
    print(f"  resize 4000x3000 -> 341x256 (uint8): {ms:.1f} ms")
    small = Image.fromarray(rng.integers(0, 256, (28, 28, 3)).astype(np.uint8))
    ms = median_ms(lambda: [small.resize((32, 32), Image.Resampling.BILINEAR, reducing_gap=None) for _ in range(1000)], 5)
    print(f"  resize 28x28 -> 32x32: {ms:.2f} µs per image")
    png = io.BytesIO()
    Image.fromarray(img).save(png, "PNG")
    png_bytes = png.getvalue()
    ms = median_ms(lambda: Image.open(io.BytesIO(png_bytes)).load(), 5)
    print(f"  PNG 2000x1500 ({len(png_bytes) / 1e6:.2f} MB, Pillow-encoded): decode {ms:.1f} ms")

    print("EmbedScope (release):")
    binary = os.path.join(ROOT, ".build/release/embedscope-bench")
    if not os.path.exists(binary):
        subprocess.run(["swift", "build", "-c", "release", "--product", "embedscope"], cwd=ROOT, check=True)
    out = subprocess.run([binary, "images", "--jpeg", jpeg_path], check=True, capture_output=True, text=True)
    print("\n".join("  " + l for l in out.stdout.splitlines()))


if __name__ == "__main__":
    main()
