#!/usr/bin/env python3
"""Writes the projection fixtures: PCA and LDA from scikit-learn on rows an index would store.

    python3 Scripts/make_projection_fixtures.py     # needs numpy + scikit-learn (Scripts/setup.sh --bench)

For each case, Tests/EmbedScopeTests/Fixtures/projection/<case>.npy holds the rows
(unit-normalized in float64, stored as float32) and <case>.json the labels and scikit-learn's
results on the float32 rows converted to float64:

  pca: PCA(n_components=k, svd_solver="covariance_eigh") explained_variance_,
       explained_variance_ratio_, components_ (sign: svd_flip, largest entry of each axis
       positive) and transform() of every row;
  lda: LinearDiscriminantAnalysis(solver="eigen", shrinkage=s) explained_variance_ratio_ and
       transform() of every row (x · scalings_, uncentred; the sign of each axis is arbitrary).

Cases:
  blobs   300 × 12, 4 seeded Gaussian classes (sizes 120/80/60/40), rows shuffled; LDA without
          shrinkage (the within-class covariance is positive definite).
  fmnist  400 Fashion-MNIST test images (Debian package dataset-fashion-mnist) averaged to 7×7
          gray (49 dims): real, correlated data whose within-class covariance is near-singular;
          LDA with shrinkage 0.1 on both sides.
"""
import gzip
import json
import os

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "EmbedScopeTests", "Fixtures", "projection")


def unit32(x):
    x = np.asarray(x, dtype=np.float64)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def blobs(rng):
    d, sizes = 12, [120, 80, 60, 40]
    centres = 2.0 * rng.standard_normal((len(sizes), d))
    scales = rng.uniform(0.5, 2.0, (len(sizes), d))
    rows, labels = [], []
    for c, n in enumerate(sizes):
        rows.append(centres[c] + scales[c] * rng.standard_normal((n, d)))
        labels += [c] * n
    x, y = np.concatenate(rows), np.array(labels)
    p = rng.permutation(len(y))
    return unit32(x[p]), y[p]


def fmnist():
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:400]
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:400]
    small = images.astype(np.float64).reshape(400, 7, 4, 7, 4).mean(axis=(2, 4)).reshape(400, 49) / 255
    return unit32(small), labels.astype(np.int64)


def case(name, x32, y, k_pca, k_lda, shrinkage):
    x = x32.astype(np.float64)
    pca = PCA(n_components=k_pca, svd_solver="covariance_eigh").fit(x)
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage, n_components=k_lda).fit(x, y)
    np.save(os.path.join(OUT, f"{name}.npy"), x32)
    out = {
        "sklearn": sklearn.__version__,
        "labels": y.tolist(),
        "pca": {
            "components": k_pca,
            "explained_variance": pca.explained_variance_.tolist(),
            "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
            "axes": pca.components_.tolist(),
            "coordinates": pca.transform(x).tolist(),
        },
        "lda": {
            "components": k_lda,
            "shrinkage": shrinkage,
            "explained_variance_ratio": lda.explained_variance_ratio_.tolist(),
            "coordinates": lda.transform(x).tolist(),
        },
    }
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(11)
    x, y = blobs(rng)
    case("blobs", x, y, k_pca=5, k_lda=3, shrinkage=None)
    x, y = fmnist()
    case("fmnist", x, y, k_pca=6, k_lda=4, shrinkage=0.1)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {OUT} ({total / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
