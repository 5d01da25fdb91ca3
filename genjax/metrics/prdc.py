"""k-nearest-neighbour manifold metrics: improved precision/recall, density/coverage.

Each set of feature vectors defines a manifold estimate: the union of balls around its points
whose radius is the distance to the point's k-th nearest neighbour within the set.
Distances are computed in blocks (float64 accumulation of squared norms) so 10k x 10k x 2048
fits in memory.
"""

from __future__ import annotations

import numpy as np

BLOCK = 2048  # pragma: no mutate (rows per block of distances: memory only, not the results)


def squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[M, D], [N, D] -> [M, N] squared Euclidean distances (clipped at 0)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return np.maximum(d2, 0.0)


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """[N, D] -> [N] squared distance of each point to its k-th nearest neighbour in x (itself
    excluded)."""
    x = np.asarray(x)
    if not 1 <= k < x.shape[0]:
        raise ValueError(f"k={k} must be in [1, N - 1] for N={x.shape[0]} points")
    out = np.empty(x.shape[0])
    for start in range(0, x.shape[0], BLOCK):
        d2 = squared_distances(x[start : start + BLOCK], x)
        out[start : start + BLOCK] = np.partition(d2, k, axis=1)[:, k]  # index 0 is the point itself
    return out


def _ball_counts(query: np.ndarray, centres: np.ndarray, radii2: np.ndarray) -> np.ndarray:
    """[M] number of balls B(centres_j, sqrt(radii2_j)) containing each query point."""
    counts = np.zeros(query.shape[0], np.int64)
    for start in range(0, query.shape[0], BLOCK):
        d2 = squared_distances(query[start : start + BLOCK], centres)
        counts[start : start + BLOCK] = (d2 <= radii2[None, :]).sum(1)
    return counts


def precision_recall(fake: np.ndarray, real: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019, eqs. 1-3), k = 3:

    precision = 1/M sum_j f(phi_fake_j; Phi_real),  recall = 1/N sum_i f(phi_real_i; Phi_fake),
    f(phi; Phi) = 1 if ||phi - phi'|| <= ||phi' - NN_k(phi')|| for some phi' in Phi.
    """
    precision = (_ball_counts(fake, real, knn_radii(real, k)) > 0).mean()
    recall = (_ball_counts(real, fake, knn_radii(fake, k)) > 0).mean()
    return float(precision), float(recall)


def density_coverage(fake: np.ndarray, real: np.ndarray, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020, eqs. 5-6), k = 5 as in the paper:

    density  = 1/(k M) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))],
    coverage = 1/N sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))],   X real (N), Y fake (M).
    """
    radii2 = knn_radii(real, k)
    density = _ball_counts(fake, real, radii2).sum() / (k * fake.shape[0])
    covered = np.zeros(real.shape[0], bool)
    for start in range(0, real.shape[0], BLOCK):
        d2 = squared_distances(real[start : start + BLOCK], fake)
        covered[start : start + BLOCK] = d2.min(1) <= radii2[start : start + BLOCK]
    return float(density), float(covered.mean())


def nearest_distances(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """[M] Euclidean distance from each query point to its nearest point of `reference`."""
    out = np.empty(query.shape[0])
    for start in range(0, query.shape[0], BLOCK):
        out[start : start + BLOCK] = squared_distances(query[start : start + BLOCK], reference).min(1)
    return np.sqrt(out)
