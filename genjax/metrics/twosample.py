"""Two-sample tests on features: a detector of synthetic data and a data-copying score."""

from __future__ import annotations

import numpy as np

from genjax.metrics.prdc import BLOCK, nearest_distances, squared_distances


def c2st_knn(fake: np.ndarray, real: np.ndarray) -> float:
    """Leave-one-out 1-nearest-neighbour classifier two-sample test (Lopez-Paz & Oquab 2017,
    "Revisiting Classifier Two-Sample Tests"; as a GAN metric: Xu et al. 2018).

    Each point of the pooled set is labelled by its nearest other point; returns the accuracy
    of telling fake from real: 0.5 when the sets are indistinguishable, 1.0 when separable
    (below 0.5 flags memorised, too-close samples). Use equal set sizes.
    """
    x = np.concatenate([fake, real]).astype(np.float64)
    labels = np.concatenate([np.ones(len(fake), bool), np.zeros(len(real), bool)])
    predicted = np.empty_like(labels)
    for start in range(0, len(x), BLOCK):
        d2 = squared_distances(x[start : start + BLOCK], x)
        rows = np.arange(d2.shape[0])
        d2[rows, start + rows] = np.inf  # leave the point itself out
        predicted[start : start + BLOCK] = labels[d2.argmin(1)]
    return float((predicted == labels).mean())


def c2st_logistic(fake: np.ndarray, real: np.ndarray, seed: int = 0) -> float:
    """Held-out accuracy of a logistic-regression detector trained on half of each set
    (standardised features), evaluated on the other half: 0.5 = undetectable."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    x = np.concatenate([fake, real]).astype(np.float64)
    y = np.concatenate([np.ones(len(fake)), np.zeros(len(real))])
    order = rng.permutation(len(x))
    train, test = order[: len(x) // 2], order[len(x) // 2 :]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x[train], y[train])
    return float(model.score(x[test], y[test]))


def mann_whitney_z(a: np.ndarray, b: np.ndarray) -> float:
    """Z-score of the Mann-Whitney U statistic of `a` vs `b` (normal approximation with tie
    correction): negative when values of `a` tend to be smaller."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    m, n = len(a), len(b)
    pooled = np.concatenate([a, b])
    _, inverse, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    # average ranks (1-based) for ties
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranks = (first + (counts + 1) / 2.0)[inverse]
    u = ranks[:m].sum() - m * (m + 1) / 2.0
    tie = (counts**3 - counts).sum() / ((m + n) * (m + n - 1))
    sigma = np.sqrt(m * n / 12.0 * ((m + n + 1) - tie))
    return float((u - m * n / 2.0) / sigma)


def memorization(fake: np.ndarray, train: np.ndarray, heldout: np.ndarray) -> dict[str, float]:
    """Data-copying test of Meehan et al. 2020 ("A Non-Parametric Test to Detect Data-Copying
    in Generative Models"), without the cell partition.

    With d(x) the distance from x to its nearest training example:
      z_u:   Mann-Whitney Z of d(fake) vs d(heldout); << 0 means samples sit closer to the
             training set than fresh data do (copying), >> 0 underfitting, ~0 neither;
      ratio: median d(fake) / median d(heldout) (1 ideal, -> 0 for copies).
    """
    d_fake, d_held = nearest_distances(fake, train), nearest_distances(heldout, train)
    return {
        "z_u": mann_whitney_z(d_fake, d_held),
        "ratio": float(np.median(d_fake) / max(np.median(d_held), 1e-12)),
    }
