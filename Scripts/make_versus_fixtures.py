#!/usr/bin/env python3
"""Writes the neighbour-quality, classification and linear-probe fixtures.

    python3 Scripts/make_versus_fixtures.py     # needs numpy + scikit-learn (Scripts/setup.sh --bench)
                                                # and dataset-fashion-mnist

Two cases under Tests/EmbedScopeTests/Fixtures/versus/:

  clusters   300 seeded rows, 5 overlapping classes, seen in two spaces: `clusters_a.npy`
             (16-d) and `clusters_b.npy` (24-d: a noisy random projection of the same points).
             The rows are small integers (not unit rows): every inner product is an integer
             that float32 GEMM computes exactly, so the many exact ties between different
             rows test the tie rule (the lower row is nearer) exactly. Rows 290..299 are
             copies of rows 0..9. Neighbours here rank by the inner product of the rows as
             given (which is the cosine for an index's unit rows).
  fmnist     200 Fashion-MNIST test images (20 per class), 2x2-mean-pooled to 14x14, x/255,
             flattened, unit-normalized in float64 and stored as float32 (`fmnist.npy`, 196-d).
             The sample is drawn with seeds 1, 2, ... until no neighbour list depends on a
             score difference below 2e-6 other than an exact tie (float32 GEMM rounding is
             ~1e-7 here), so the lists are reproducible exactly.

References are computed from the stored float32 rows converted to float64 (exactly in int64
for the integer rows).

For each case <case>.json holds:
  knn        for each k and space: the neighbour lists (the row itself excluded, cosine, ties
             to the lower row), same-class neighbour counts and precision@k = hits / (rows*k)
             per class and overall, k-NN votes (majority; tie: the class of the nearest tied
             neighbour) and their accuracy; for clusters also Jaccard@k per row between the
             two spaces, its mean and median (numpy). The script checks that no list depends
             on a score difference below 1e-5 other than an exact tie, so float32 GEMM
             rounding cannot reorder them.
  report     given predictions (the k-NN votes of space a, with one class's predictions
             moved to another so that class is never predicted): sklearn.metrics
             confusion_matrix and precision_recall_fscore_support(zero_division=0) per class.
  probe      sklearn.linear_model.LogisticRegression(C, lbfgs, tol=1e-10, max_iter=20000) on
             explicit stratified train/validation rows (train_test_split, random_state 0):
             coef_, intercept_, validation predictions and accuracy, the mean objective
             (sum of cross-entropy + 0.5/C*||W||^2) / n_train, and predict() on all rows
             with the smallest gap between the two largest logits (for exact argmax tests).
"""
import gzip
import json
import os

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import train_test_split

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "EmbedScopeTests", "Fixtures", "versus")
FMNIST = "/usr/share/datasets/fashion-mnist"


def unit32(x):
    x = np.asarray(x, dtype=np.float64)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def neighbours(x32, k, integer=False):
    """Leave-one-out k-NN by inner product, ties to the lower row; the smallest non-tie gap."""
    x = x32.astype(np.int64 if integer else np.float64)
    s = (x @ x.T).astype(np.float64)
    n = len(x)
    np.fill_diagonal(s, -np.inf)
    lists = np.zeros((n, k), dtype=np.int64)
    worst = np.inf
    for i in range(n):
        order = np.lexsort((np.arange(n), -s[i]))       # by -score, then by row
        lists[i] = order[:k]
        top = s[i, order[:k + 1]]
        gaps = top[:-1] - top[1:]
        gaps = gaps[gaps > 0]                             # exact ties are resolved by row
        if len(gaps):
            worst = min(worst, gaps.min())
    return lists, float(worst)


def vote(lst, y):
    counts = {}
    for r in lst:
        counts[y[r]] = counts.get(y[r], 0) + 1
    best, best_n = None, 0
    for r in lst:                                         # first class to reach the max count
        if counts[y[r]] > best_n:
            best, best_n = y[r], counts[y[r]]
    return best


def quality(lists, y):
    n, k = lists.shape
    classes = sorted(set(int(v) for v in y))
    hits = {c: 0 for c in classes}
    rows = {c: 0 for c in classes}
    correct = {c: 0 for c in classes}
    votes = []
    for i in range(n):
        c = int(y[i])
        hits[c] += int((y[lists[i]] == c).sum())
        rows[c] += 1
        v = int(vote(lists[i], y))
        votes.append(v)
        correct[c] += int(v == c)
    return {
        "lists": lists.reshape(-1).tolist(),
        "votes": votes,
        "classes": classes,
        "class_rows": [rows[c] for c in classes],
        "class_hits": [hits[c] for c in classes],
        "class_precision": [hits[c] / (rows[c] * k) for c in classes],
        "class_correct": [correct[c] for c in classes],
        "hits": sum(hits.values()),
        "precision": sum(hits.values()) / (n * k),
        "correct": sum(correct.values()),
        "accuracy": sum(correct.values()) / n,
    }


def report(y, pred, labels):
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    return {
        "truth": [int(v) for v in y],
        "predicted": [int(v) for v in pred],
        "labels": [int(v) for v in labels],
        "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
        "precision": p.tolist(), "recall": r.tolist(), "f1": f.tolist(), "support": s.tolist(),
    }


def probe(x32, y, c):
    x = x32.astype(np.float64)
    rows = np.arange(len(y))
    train, val = train_test_split(rows, test_size=0.2, stratify=y, random_state=0)
    train, val = np.sort(train), np.sort(val)
    m = LogisticRegression(C=c, solver="lbfgs", tol=1e-10, max_iter=20000).fit(x[train], y[train])
    w, b = m.coef_, m.intercept_
    z = x[train] @ w.T + b
    zmax = z.max(1, keepdims=True)
    lse = (zmax[:, 0] + np.log(np.exp(z - zmax).sum(1)))
    idx = np.searchsorted(m.classes_, y[train])
    objective = (np.sum(lse - z[np.arange(len(train)), idx]) + 0.5 / c * np.sum(w * w)) / len(train)
    zall = x @ w.T + b
    top2 = np.sort(zall, 1)[:, -2:]
    val_pred = m.predict(x[val])
    return {
        "C": c, "train": train.tolist(), "validation": val.tolist(),
        "classes": m.classes_.tolist(),
        "coef": [[float(f"{v:.8g}") for v in row] for row in w], "intercept": b.tolist(),
        "n_iter": int(m.n_iter_[0]),
        "objective": float(objective),
        "validation_predicted": val_pred.tolist(),
        "validation_accuracy": float((val_pred == y[val]).mean()),
        "all_predicted": m.predict(x).tolist(),
        "all_min_top2_gap": float((top2[:, 1] - top2[:, 0]).min()),
    }


def clusters(rng):
    n, k_cls, d = 290, 5, 12
    centres = rng.integers(-3, 4, (k_cls, d))
    y = rng.integers(0, k_cls, n)
    latent = centres[y] + rng.integers(-2, 3, (n, d))
    a = np.concatenate([latent, rng.integers(-1, 2, (n, 4))], 1)                # 16-d
    proj = rng.integers(-1, 2, (d, 24))
    b = latent @ proj + rng.integers(-3, 4, (n, 24))                              # 24-d
    a, b = np.concatenate([a, a[:10]]), np.concatenate([b, b[:10]])               # exact duplicates
    y = np.concatenate([y, y[:10]])
    assert (np.abs(a) @ np.abs(a).T).max() < 2 ** 24 and (np.abs(b) @ np.abs(b).T).max() < 2 ** 24
    return a.astype(np.float32), b.astype(np.float32), y


def fmnist(seed):
    rng = np.random.Generator(np.random.PCG64(seed))
    with gzip.open(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")) as f:
        img = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")) as f:
        lab = np.frombuffer(f.read(), np.uint8, offset=8)
    pick = np.sort(np.concatenate([rng.choice(np.flatnonzero(lab == c), 20, replace=False) for c in range(10)]))
    px = img[pick].astype(np.float64).reshape(-1, 14, 2, 14, 2).mean((2, 4)) / 255
    return unit32(px.reshape(len(pick), -1)), lab[pick].astype(np.int64), pick


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(20251123))

    a, b, y = clusters(rng)
    ref = {"sklearn_version": sklearn.__version__, "rows": len(y), "dim_a": a.shape[1], "dim_b": b.shape[1],
           "labels": y.tolist(), "knn": {}}
    for k in (1, 5, 10):
        la, _ = neighbours(a, k, integer=True)
        lb, _ = neighbours(b, k, integer=True)
        jac = [len(set(la[i]) & set(lb[i])) / len(set(la[i]) | set(lb[i])) for i in range(len(y))]
        ref["knn"][str(k)] = {"a": quality(la, y), "b": quality(lb, y), "jaccard": jac,
                              "jaccard_mean": float(np.mean(jac)), "jaccard_median": float(np.median(jac))}
    pred = np.array(ref["knn"]["5"]["a"]["votes"])
    pred[pred == 3] = 2                                   # class 3 is never predicted
    ref["report"] = report(y, pred, list(range(5)))
    ref["probe"] = probe(a, y, 10.0)
    np.save(os.path.join(OUT, "clusters_a.npy"), a)
    np.save(os.path.join(OUT, "clusters_b.npy"), b)
    with open(os.path.join(OUT, "clusters.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    p = ref["probe"]
    print(f"clusters: {len(y)} rows, P@5 a {ref['knn']['5']['a']['precision']:.4f} b {ref['knn']['5']['b']['precision']:.4f}, "
          f"Jaccard@5 mean {ref['knn']['5']['jaccard_mean']:.4f}; "
          f"probe val acc {p['validation_accuracy']:.4f}, objective {p['objective']:.8f}, {p['n_iter']} iterations, "
          f"min top-2 logit gap {p['all_min_top2_gap']:.2e}")

    for seed in range(1, 100):
        x, y, pick = fmnist(seed)
        found = [neighbours(x, k) for k in (5, 10)]
        gap = min(g for _, g in found)
        if gap > 2e-6:
            break
    ref = {"sklearn_version": sklearn.__version__, "rows": len(y), "dim": x.shape[1], "labels": y.tolist(),
           "sample_seed": seed, "smallest_gap": gap, "test_indices": pick.tolist(), "knn": {}}
    for k, (lx, _) in zip((5, 10), found):
        ref["knn"][str(k)] = {"a": quality(lx, y)}
    ref["probe"] = probe(x, y, 10.0)
    np.save(os.path.join(OUT, "fmnist.npy"), x)
    with open(os.path.join(OUT, "fmnist.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    p = ref["probe"]
    print(f"fmnist: {len(y)} rows × {x.shape[1]} (sample seed {seed}, smallest non-tie gap {gap:.1e}), P@5 {ref['knn']['5']['a']['precision']:.4f}, "
          f"kNN@5 acc {ref['knn']['5']['a']['accuracy']:.4f}; probe val acc {p['validation_accuracy']:.4f}, "
          f"objective {p['objective']:.8f}, {p['n_iter']} iterations, min top-2 logit gap {p['all_min_top2_gap']:.2e}")


if __name__ == "__main__":
    main()
