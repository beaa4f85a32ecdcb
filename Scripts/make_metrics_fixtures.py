#!/usr/bin/env python3
"""Writes the cluster-metric fixtures: seeded synthetic clusters and scikit-learn's values.

    python3 Scripts/make_metrics_fixtures.py     # needs numpy + scikit-learn (Scripts/setup.sh --bench)

For each case, Tests/EmbedScopeTests/Fixtures/metrics/<case>.npy holds the rows (unit-normalized
in float64, stored as float32 — the form an index stores) and <case>.json the labels and
scikit-learn's silhouette_samples, silhouette_score, davies_bouldin_score and
calinski_harabasz_score, computed on the float32 rows converted to float64 (so the reference is
exact for the stored data). The silhouette is also recomputed here from direct differences
(no ‖a‖² − 2a·b + ‖b‖² shortcut), stored as `silhouette_samples_direct`, and must agree with
scikit-learn to 1e-6. (On the `tight` case scikit-learn's own float64 shortcut is off by ~1e-7
per sample: its cancellation error, not ours; the direct values are the sharper reference.)

Cases:
  blobs  600 × 32, 6 classes of sizes 230/150/100/70/49/1 (the size-1 class hits the
         "silhouette 0" convention), label values with gaps (0 1 2 4 7 9), rows shuffled.
  tight  400 × 64, near-duplicate geometry where float32 dot products cancel: two classes of
         spread 0.003 whose centres are 0.01 apart, a class of spread 1e-4 with exact
         duplicates, a diffuse class, and duplicate rows inside a tight class.
  tiny   5 × 3, 2 classes.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import (calinski_harabasz_score, davies_bouldin_score,
                             silhouette_samples, silhouette_score)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "EmbedScopeTests", "Fixtures", "metrics")


def unit32(x):
    x = np.asarray(x, dtype=np.float64)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def blobs(rng):
    d, sizes, ids = 32, [230, 150, 100, 70, 49, 1], [0, 1, 2, 4, 7, 9]
    centres = rng.standard_normal((len(sizes), d))
    spreads = [1.1, 1.4, 0.9, 1.7, 1.2, 0.0]
    rows, labels = [], []
    for c, (n, s) in enumerate(zip(sizes, spreads)):
        rows.append(centres[c] + s * rng.standard_normal((n, d)))
        labels += [ids[c]] * n
    x, y = np.concatenate(rows), np.array(labels)
    p = rng.permutation(len(y))
    return unit32(x[p]), y[p]


def tight(rng):
    d = 64
    c0 = rng.standard_normal(d)
    c0 /= np.linalg.norm(c0)
    c1 = c0 + 0.01 * rng.standard_normal(d) / np.sqrt(d)
    c2 = rng.standard_normal(d)
    c3 = rng.standard_normal(d)
    a = c0 + 0.003 * rng.standard_normal((150, d)) / np.sqrt(d)
    a[140:] = a[0]                                  # 10 copies of one row in a tight class
    b = c1 + 0.003 * rng.standard_normal((150, d)) / np.sqrt(d)
    c = c2 / np.linalg.norm(c2) + 1e-4 * rng.standard_normal((60, d)) / np.sqrt(d)
    c[50:] = c[3]                                   # exact duplicates in a very tight class
    e = c3 / np.linalg.norm(c3) + 0.5 * rng.standard_normal((40, d)) / np.sqrt(d)
    x = np.concatenate([a, b, c, e])
    y = np.array([0] * 150 + [1] * 150 + [2] * 60 + [3] * 40)
    p = rng.permutation(len(y))
    return unit32(x[p]), y[p]


def tiny(rng):
    x = np.array([[1, 0.1, 0], [0.9, 0.2, 0.1], [1, 0, 0.3], [0, 1, 0.2], [0.1, 0.8, 0.5]])
    return unit32(x), np.array([0, 0, 0, 1, 1])


def direct_silhouette(x, y):
    """Silhouette from direct differences in float64, as an independent check."""
    classes = np.unique(y)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    counts = np.array([(y == c).sum() for c in classes])
    sums = np.stack([d[:, y == c].sum(1) for c in classes], axis=1)
    own = np.searchsorted(classes, y)
    n = np.arange(len(y))
    with np.errstate(divide="ignore", invalid="ignore"):
        a = sums[n, own] / (counts[own] - 1)
        other = sums / counts
        other[n, own] = np.inf
        b = other.min(1)
        s = (b - a) / np.maximum(a, b)
    return np.nan_to_num(s)


def write_npy(path, x):
    np.save(path, np.ascontiguousarray(x, dtype=np.float32))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(20240611))
    for name, make in [("blobs", blobs), ("tight", tight), ("tiny", tiny)]:
        x32, y = make(rng)
        x = x32.astype(np.float64)
        samples = silhouette_samples(x, y)
        check = direct_silhouette(x, y)
        gap = np.abs(samples - check).max()
        assert gap < 1e-6, f"{name}: scikit-learn and the direct silhouette differ by {gap}"
        ref = {
            "sklearn_version": sklearn.__version__,
            "rows": int(x.shape[0]),
            "dim": int(x.shape[1]),
            "labels": [int(v) for v in y],
            "silhouette_samples": [float(v) for v in samples],
            "silhouette_samples_direct": [float(v) for v in check],
            "silhouette_score": float(silhouette_score(x, y)),
            "davies_bouldin_score": float(davies_bouldin_score(x, y)),
            "calinski_harabasz_score": float(calinski_harabasz_score(x, y)),
        }
        write_npy(os.path.join(OUT, f"{name}.npy"), x32)
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(ref, f, indent=0)
            f.write("\n")
        print(f"{name}: {x.shape[0]}×{x.shape[1]}, {len(np.unique(y))} classes, silhouette {ref['silhouette_score']:.6f}, "
              f"DB {ref['davies_bouldin_score']:.6f}, CH {ref['calinski_harabasz_score']:.3f} "
              f"(sklearn vs direct: {gap:.1e})")


if __name__ == "__main__":
    main()
