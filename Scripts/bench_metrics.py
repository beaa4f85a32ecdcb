#!/usr/bin/env python3
"""Times EmbedScope's exact silhouette beside scikit-learn's on the same rows, in one run.

    python3 Scripts/bench_metrics.py                      # 10,000 × 1,280 (+ the 100,000-row timing)
    python3 Scripts/bench_metrics.py --big-rows 0         # skip the 100,000-row run
    python3 Scripts/bench_metrics.py --big-sklearn        # also time scikit-learn at 100,000 rows (~5 min)

Needs numpy + scikit-learn (Scripts/setup.sh --bench). `embedscope-bench metrics` generates
seeded clustered unit vectors (float32) and writes them to bench-data/ (git-ignored) as X.npy +
labels.txt; this script times scikit-learn's silhouette_score on them — on the float32 rows as
stored, and on their float64 copy (the accuracy reference) — compares the values (relative 1e-6)
and prints the time ratios. Machines drift: only ratios from the same run mean anything.
"""
import argparse
import json
import os
import resource
import subprocess
import time

import numpy as np
import sklearn
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SPREAD = 1.0


def median_seconds(fn, runs):
    """Median wall time of `runs` calls, and the last value."""
    times, value = [], None
    for _ in range(runs):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[runs // 2], value


def timed_in_process(fn):
    """(wall seconds, CPU seconds of this process over all its threads, value) of one call."""
    w, c = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - w, time.process_time() - c, value


def timed_child(cmd):
    """(wall seconds, CPU seconds of the child, stdout) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - w
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out


def whole_command(cli, data, x, y, repeat):
    """Imports the rows as an index once, then times `embedscope metrics INDEX --json` (open,
    finiteness check, exact silhouette, Davies-Bouldin, Calinski-Harabasz, metrics.json) against
    scikit-learn's silhouette_score on the same float32 rows, wall and CPU time, rounds interleaved."""
    index = os.path.join(data, "index")
    if not os.path.exists(os.path.join(index, ".embedscope-index")):
        manifest = os.path.join(data, "rows.csv")
        with open(manifest, "w") as f:
            f.write("path,class\n")
            f.writelines(f"synthetic/{i}.png,c{int(c)}\n" for i, c in enumerate(y))
        subprocess.run([cli, "import", "--vectors", os.path.join(data, "X.npy"), "--manifest", manifest, "--out", index,
                        "--no-pixels", "--force"], check=True, stdout=subprocess.DEVNULL)
    rounds = []
    for _ in range(repeat):
        ow, oc, out = timed_child([cli, "metrics", index, "--json"])
        sw, sc, sv = timed_in_process(lambda: silhouette_score(x, y))
        rounds.append((ow, oc, sw, sc))
        value = json.loads(out)["silhouette"]["mean"]
        print(f"  whole command: embedscope metrics {ow:.3f} s wall / {oc:.3f} s CPU, scikit-learn silhouette_score "
              f"{sw:.3f} s wall / {sc:.3f} s CPU: {sw / ow:.2f}× wall, {sc / oc:.2f}× CPU "
              f"(values {value:.9f} / {sv:.9f})")
    med = lambda i: sorted(r[i] for r in rounds)[len(rounds) // 2]
    print(f"  whole command, medians of {repeat}: ours {med(0):.3f} s, scikit-learn {med(2):.3f} s: "
          f"{med(2) / med(0):.2f}× wall; CPU {med(3) / med(1):.2f}×")


def ours(binary, rows, dim, seed, repeat, extra):
    cmd = [binary, "metrics", "--rows", str(rows), "--dim", str(dim), "--seed", str(seed), "--spread", str(SPREAD),
           "--repeat", str(repeat), "--json"] + extra
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def rel(a, b):
    return abs(a - b) / abs(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--spread", type=float, default=1.0, help="noise around the class centres (small: tight classes)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big-rows", type=int, default=100_000, help="rows of the large timing (0: skip)")
    ap.add_argument("--big-sklearn", action="store_true", help="also time scikit-learn on the large run")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/embedscope-bench"))
    ap.add_argument("--cli", default=os.path.join(ROOT, ".build/release/embedscope"))
    a = ap.parse_args()
    global SPREAD
    SPREAD = a.spread

    if not os.path.exists(a.binary):
        subprocess.run(["swift", "build", "-c", "release", "--product", "embedscope-bench"], cwd=ROOT, check=True)
    data = os.path.join(ROOT, "bench-data", f"metrics-{a.rows}x{a.dim}-seed{a.seed}-spread{a.spread:g}")

    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}; {a.rows} × {a.dim}, seed {a.seed}, spread {a.spread:g}")
    f = ours(a.binary, a.rows, a.dim, a.seed, 1, ["--save", data, "--compare-float64", "--sample", str(a.rows // 10)])
    x = np.load(os.path.join(data, "X.npy"))
    y = np.loadtxt(os.path.join(data, "labels.txt"), dtype=np.int64)
    assert x.shape == (a.rows, a.dim) and x.dtype == np.float32 and y.shape == (a.rows,)
    x64 = x.astype(np.float64)

    # Rounds of (ours, scikit-learn float32, scikit-learn float64), interleaved so that a slow
    # spell of the machine hits all three; medians over the rounds.
    mine, t32s, t64s = [f["silhouetteMedianSeconds"]], [], []
    for r in range(a.repeat):
        if r > 0:
            mine.append(ours(a.binary, a.rows, a.dim, a.seed, 1, [])["silhouetteMedianSeconds"])
        t32, s32 = median_seconds(lambda: silhouette_score(x, y), 1)
        t64, s64 = median_seconds(lambda: silhouette_score(x64, y), 1)
        t32s.append(t32)
        t64s.append(t64)
        print(f"  round {r + 1}: ours {mine[-1]:.3f} s, scikit-learn float32 {t32:.3f} s ({t32 / mine[-1]:.2f}×), "
              f"float64 {t64:.3f} s ({t64 / mine[-1]:.2f}×)")
    tdb, db = median_seconds(lambda: davies_bouldin_score(x64, y), 1)
    tch, ch = median_seconds(lambda: calinski_harabasz_score(x64, y), 1)
    med = lambda v: sorted(v)[len(v) // 2]
    t, t32, t64 = med(mine), med(t32s), med(t64s)

    print(f"  scikit-learn silhouette_score (float32 rows)  {s32:.9f}  {t32:8.3f} s  (median of {a.repeat})")
    print(f"  scikit-learn silhouette_score (float64 copy)  {s64:.9f}  {t64:8.3f} s  (median of {a.repeat})")
    print(f"  EmbedScope exact silhouette (float32 GEMM)    {f['silhouette']:.9f}  {t:8.3f} s  (median of {a.repeat}; "
          f"{f['refinedPairs']} near-duplicate distances refined in Double)")
    print(f"  EmbedScope exact silhouette (float64 GEMM)    {f['float64Silhouette']:.9f}  {f['float64Seconds']:8.3f} s  "
          f"({f['float64Seconds'] / t:.2f}× the float32 time)")
    print(f"  EmbedScope sampled ({f['sample']} rows vs all)       {f['sampledSilhouette']:.6f} ± {f['sampledStandardError']:.6f}  "
          f"{f['sampledSeconds']:8.3f} s  (exact is {abs(f['sampledSilhouette'] - s64) / f['sampledStandardError']:.1f} standard errors away)")
    print(f"  speed: {t32 / t:.2f}× scikit-learn on float32 rows, {t64 / t:.2f}× on float64 rows")
    e = rel(f["silhouette"], s64)
    print(f"  silhouette vs scikit-learn float64: relative {e:.1e} ({'ok' if e <= 1e-6 else 'FAIL'}, tolerance 1e-6); "
          f"vs its float32 run: {rel(f['silhouette'], s32):.1e}; float64 kernel: {rel(f['float64Silhouette'], s64):.1e}")
    print(f"  Davies-Bouldin {f['daviesBouldin']:.9f} vs {db:.9f} (relative {rel(f['daviesBouldin'], db):.1e}), "
          f"Calinski-Harabasz {f['calinskiHarabasz']:.6f} vs {ch:.6f} (relative {rel(f['calinskiHarabasz'], ch):.1e}); "
          f"ours {f['centroidMetricsSeconds']:.3f} s, scikit-learn {tdb + tch:.3f} s")

    if os.path.exists(a.cli):
        whole_command(a.cli, data, x, y, a.repeat)
    else:
        print(f"  (no {a.cli}: the whole-command rows need `swift build -c release --product embedscope`)")

    if a.big_rows > 0:
        print(f"{a.big_rows} × {a.dim}, seed {a.seed}")
        extra = ["--save", os.path.join(ROOT, "bench-data", f"metrics-{a.big_rows}x{a.dim}-seed{a.seed}-spread{a.spread:g}")] if a.big_sklearn else []
        b = ours(a.binary, a.big_rows, a.dim, a.seed, 1, extra)
        tb = b["silhouetteMedianSeconds"]
        print(f"  EmbedScope exact silhouette (float32 GEMM)    {b['silhouette']:.9f}  {tb:8.1f} s  "
              f"({b['silhouetteGflops']:.0f} effective GFLOP/s, {b['refinedPairs']} pairs refined)")
        scale = (a.big_rows / a.rows) ** 2
        if a.big_sklearn:
            xb = np.load(os.path.join(extra[1], "X.npy"))
            yb = np.loadtxt(os.path.join(extra[1], "labels.txt"), dtype=np.int64)
            tsb, sb = median_seconds(lambda: silhouette_score(xb, yb), 1)
            print(f"  scikit-learn silhouette_score (float32 rows)  {sb:.9f}  {tsb:8.1f} s  ({tsb / tb:.2f}× ours; "
                  f"relative difference {rel(b['silhouette'], sb):.1e})")
        else:
            print(f"  scikit-learn (float32 rows), extrapolated ×{scale:.0f} from the run above: ~{t32 * scale:.0f} s "
                  f"(~{t32 * scale / tb:.1f}× ours); --big-sklearn measures it")


if __name__ == "__main__":
    main()
