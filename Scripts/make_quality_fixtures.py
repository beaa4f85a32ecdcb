#!/usr/bin/env python3
"""Writes the data-quality fixtures under Tests/EmbedScopeTests/Fixtures/quality/.

    python3 Scripts/make_quality_fixtures.py     # needs numpy + Pillow (Scripts/setup.sh --bench)

  dups/      an image folder laid out as root/{train,val,test}/<class>/…: 3 classes (ring,
             stripes, blobs) of seeded 32x32 RGB pictures, 6 train, 2 val and 2 test per class,
             every one a different random pattern of its class, plus planted near-duplicates of
             train images:
               resized   train copy upscaled to 48x48 (bicubic)            within train
               jpeg      train copy re-encoded as JPEG, quality 90         in test  (leakage)
               resized   the same train image at 40x40                     in val   (leakage; a group of 3)
               cropped   train copy with a 1-pixel border cropped, 30x30   in val   (leakage)
               relabel   train copy saved under another class              in train (labels differ)
  dups.json  the planted pairs (path of the original, path of the copy, kind).
  lda_reduced.json
             LDA where the within-class scatter is singular: 60 seeded unit rows of 80 dims in 3
             classes (dim >= rows - classes). scikit-learn 1.9's
             make_pipeline(PCA(r, svd_solver="covariance_eigh"), LinearDiscriminantAnalysis(solver="eigen"))
             with r chosen by our rule (the fewest components keeping 95% of the variance, at
             most (rows - classes) // 2, at least classes - 1): r, the variance kept, the LDA
             explained_variance_ratio_ and transform() coordinates (signs arbitrary).
  uniqueness.json
             FiftyOne Brain's uniqueness of those 60 rows: sklearn NearestNeighbors (Euclidean)
             distances to the 3 nearest others, mean of (0.6, 0.3, 0.1)-weighted, / max.
  downweight.json
             FiftyOne Brain's cluster-center-downweight step (`_adjust_rankings` in
             fiftyone/brain/internal/core/representativeness.py, transcribed: a walk from the highest
             score down with scipy's cKDTree.query_ball_point, radius 0.5, factor 0.7, / max) on 400
             seeded float32 unit rows of 10 dims in 24 clusters (many pairs near distance 0.5)
             with seeded distinct initial scores: rows, initial, expected final scores.

  python3 Scripts/make_quality_fixtures.py downweight   # only that fixture

The test builds a pixel index of the folder and checks `duplicates` against a brute-force
Double all-pairs list of the stored rows, and that every planted pair is found.
"""
import json
import os
import shutil

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "EmbedScopeTests", "Fixtures", "quality")


def picture(kind, rng):
    y, x = np.mgrid[0:32, 0:32].astype(np.float64)
    base = rng.uniform(40, 200, size=3)
    if kind == "ring":
        cx, cy, r = rng.uniform(10, 22, size=2).tolist() + [rng.uniform(5, 12)]
        f = np.cos((np.hypot(x - cx, y - cy) - r) * rng.uniform(0.4, 0.9))
    elif kind == "stripes":
        a = rng.uniform(0, np.pi)
        f = np.sin((np.cos(a) * x + np.sin(a) * y) * rng.uniform(0.3, 0.8) + rng.uniform(0, 6.3))
    else:
        f = np.zeros_like(x)
        for _ in range(4):
            cx, cy, s = rng.uniform(0, 32), rng.uniform(0, 32), rng.uniform(3, 7)
            f += rng.choice([-1, 1]) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
    f = (f - f.mean()) / (f.std() + 1e-9)
    sign = rng.choice([-1.0, 1.0], size=3)
    img = base[None, None, :] + 90 * f[:, :, None] * sign[None, None, :]
    img += rng.normal(0, 6, size=img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def main():
    root = os.path.join(OUT, "dups")
    if os.path.exists(root):
        shutil.rmtree(root)
    rng = np.random.default_rng(12)
    classes = ["blobs", "ring", "stripes"]
    counts = {"train": 6, "val": 2, "test": 2}
    originals = {}
    for split, n in counts.items():
        for c in classes:
            d = os.path.join(root, split, c)
            os.makedirs(d)
            for i in range(n):
                img = picture(c, rng)
                name = f"{split}/{c}/{c}-{i}.png"
                img.save(os.path.join(root, name))
                originals[name] = img
    planted = []

    def plant(src, dst, img, kind, **save):
        img.save(os.path.join(root, dst), **save)
        planted.append({"original": src, "copy": dst, "kind": kind})

    plant("train/ring/ring-0.png", "train/ring/ring-0-big.png",
          originals["train/ring/ring-0.png"].resize((48, 48), Image.BICUBIC), "resized")
    plant("train/stripes/stripes-1.png", "test/stripes/stripes-1-copy.jpg",
          originals["train/stripes/stripes-1.png"], "jpeg", quality=90)
    plant("train/stripes/stripes-1.png", "val/stripes/stripes-1-small.png",
          originals["train/stripes/stripes-1.png"].resize((40, 40), Image.BILINEAR), "resized")
    plant("train/blobs/blobs-2.png", "val/blobs/blobs-2-crop.png",
          originals["train/blobs/blobs-2.png"].crop((1, 1, 31, 31)), "cropped")
    plant("train/ring/ring-3.png", "train/stripes/ring-3-as-stripes.png",
          originals["train/ring/ring-3.png"], "relabel")
    with open(os.path.join(OUT, "dups.json"), "w") as f:
        json.dump({"planted": planted}, f, indent=1)
        f.write("\n")
    print("wrote", root, len(originals) + len(planted), "images")


def lda_reduced():
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    rng = np.random.default_rng(5)
    n, d, classes, k = 60, 80, 3, 2
    y = np.repeat(np.arange(classes), n // classes)
    centres = rng.normal(0, 1, size=(classes, d))
    x = centres[y] + rng.normal(0, 0.65, size=(n, d)) * rng.uniform(0.2, 1.5, size=d)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x32 = x.astype(np.float32)
    xd = x32.astype(np.float64)
    cap = min(min(n, d), max(k, (n - classes) // 2))
    ratios = PCA(n_components=cap, svd_solver="covariance_eigh").fit(xd).explained_variance_ratio_
    cum = np.cumsum(ratios)
    hit = np.nonzero(cum >= 0.95)[0]
    r = int(hit[0]) + 1 if len(hit) else cap
    r = max(r, min(cap, max(k, classes - 1)))
    pca = PCA(n_components=r, svd_solver="covariance_eigh").fit(xd)
    z = pca.transform(xd)
    lda = LinearDiscriminantAnalysis(solver="eigen", n_components=k).fit(z, y)
    out = {"rows": n, "dim": d, "labels": y.tolist(), "x": x32.tolist(), "components": k, "reducedTo": r,
           "varianceKept": float(np.sum(pca.explained_variance_ratio_)),
           "explained_variance_ratio": lda.explained_variance_ratio_[:k].tolist(),
           "coordinates": lda.transform(z).tolist()}
    with open(os.path.join(OUT, "lda_reduced.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")
    print("lda_reduced: r =", r, "variance kept", out["varianceKept"])


def uniqueness():
    """FiftyOne Brain's uniqueness on the lda_reduced rows (Euclidean, sklearn NearestNeighbors)."""
    from sklearn.neighbors import NearestNeighbors
    with open(os.path.join(OUT, "lda_reduced.json")) as f:
        x = np.array(json.load(f)["x"], dtype=np.float32).astype(np.float64)
    dists, _ = NearestNeighbors(n_neighbors=4).fit(x).kneighbors(x)
    u = np.mean(dists[:, 1:] * [0.6, 0.3, 0.1], axis=1)
    u /= u.max()
    with open(os.path.join(OUT, "uniqueness.json"), "w") as f:
        json.dump({"uniqueness": u.tolist()}, f)
        f.write("\n")


def downweight():
    """FiftyOne's `_adjust_rankings` (transcribed), on seeded unit rows and initial scores."""
    from scipy.spatial import cKDTree
    rng = np.random.default_rng(12)
    n, d = 400, 10
    centres = rng.normal(0, 1, size=(24, d))
    x = centres[rng.integers(0, 24, size=n)] + rng.normal(0, 0.65, size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x = x.astype(np.float32)
    xd = x.astype(np.float64)
    initial = rng.permutation(n).astype(np.float64) / n + 0.5 / n   # distinct: no ties to order
    tree = cKDTree(xd)
    ranking = initial.copy()
    visited = set()
    for i in np.argsort(ranking)[::-1]:
        visited.add(i)
        near = [j for j in tree.query_ball_point(xd[i, :], 0.5, return_sorted=True) if j not in visited]
        visited |= set(near)
        ranking[near] = ranking[near] * 0.7
    ranking = ranking / ranking.max()
    d2 = ((xd[:, None, :] - xd[None, :, :]) ** 2).sum(-1)
    near_edge = int(np.sum(np.abs(np.sqrt(d2[np.triu_indices(n, 1)]) - 0.5) < 1e-3))
    with open(os.path.join(OUT, "downweight.json"), "w") as f:
        json.dump({"rows": n, "dim": d, "x": x.tolist(), "initial": initial.tolist(), "expected": ranking.tolist()}, f)
        f.write("\n")
    print("downweight:", int(np.sum(ranking < initial / initial.max() - 1e-12)), "of", n, "downweighted;", near_edge, "pairs within 1e-3 of the radius")


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["downweight"]:
        downweight()
        sys.exit(0)
    main()
    lda_reduced()
    uniqueness()
    downweight()
