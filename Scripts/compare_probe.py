#!/usr/bin/env python3
"""scikit-learn's LogisticRegression on the same split as `embedscope probe`, for comparison.

    python3 Scripts/compare_probe.py X.npy rows.csv [--C 1.0] [--val 0.2] [--seed 0]

X.npy / rows.csv are what `embedscope import` read (path,class; classes numbered in sorted
order, as the catalog does). The stratified split is re-implemented here exactly as
LinearProbe.stratifiedSplit does it (SplitMix64, Fisher-Yates per class in ascending class
order, round(val * n) validation rows per class), so both sides train on the same rows.
Prints scikit-learn's validation accuracy, objective and time; compare with
`embedscope probe INDEX --C ... --val ... --seed ... --json`.
"""
import argparse
import csv
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, bound):
        m = self.next() * bound
        if (m & MASK) < bound:
            threshold = ((1 << 64) - bound) % bound
            while (m & MASK) < threshold:
                m = self.next() * bound
        return m >> 64


def split(labels, val, seed):
    g = SplitMix64(seed)
    train, valid = [], []
    for c in sorted(set(labels)):
        rs = [r for r, l in enumerate(labels) if l == c]
        for i in range(len(rs) - 1, 0, -1):
            j = g.below(i + 1)
            rs[i], rs[j] = rs[j], rs[i]
        n = len(rs)
        nv = 0 if n < 2 else min(n - 1, max(1, int(np.floor(val * n + 0.5))))
        valid += rs[:nv]
        train += rs[nv:]
    return np.array(sorted(train)), np.array(sorted(valid))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vectors")
    ap.add_argument("manifest")
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--val", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-iter", type=int, default=1000)
    a = ap.parse_args()
    x = np.load(a.vectors).astype(np.float32).astype(np.float64)
    with open(a.manifest) as f:
        names = [row["class"] for row in csv.DictReader(f)]
    classes = sorted(set(names))
    y = np.array([classes.index(n) for n in names])
    tr, va = split(list(y), a.val, a.seed)
    t = time.perf_counter()
    m = LogisticRegression(C=a.C, max_iter=a.max_iter, tol=1e-5).fit(x[tr], y[tr])
    dt = time.perf_counter() - t
    w, b = m.coef_, m.intercept_
    z = x[tr] @ w.T + b
    zm = z.max(1, keepdims=True)
    lse = zm[:, 0] + np.log(np.exp(z - zm).sum(1))
    obj = (np.sum(lse - z[np.arange(len(tr)), y[tr]]) + 0.5 / a.C * np.sum(w * w)) / len(tr)
    acc = (m.predict(x[va]) == y[va]).mean()
    print(f"scikit-learn: {len(tr)} train / {len(va)} validation rows, validation accuracy {acc:.4f}, "
          f"objective {obj:.6f}, {m.n_iter_[0]} iterations, {dt:.2f} s")


if __name__ == "__main__":
    main()
