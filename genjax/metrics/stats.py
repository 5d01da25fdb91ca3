"""Distribution distances on feature vectors: FID, KID, Inception Score.

All functions take host numpy arrays ([N, D] features or [N, K] class probabilities) and
compute in float64.
"""

from __future__ import annotations

import numpy as np


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N, D] -> (mu [D], sigma [D, D]), the unbiased (N - 1) covariance like pytorch-fid."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must be [N >= 2, D], got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017, eq. 6):

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2}).

    Tr((sigma1 sigma2)^{1/2}) is computed as the sum of square roots of the eigenvalues of the
    symmetric PSD matrix sigma1^{1/2} sigma2 sigma1^{1/2} (same spectrum as sigma1 sigma2), which
    needs no complex arithmetic and no diagonal offset for singular covariances, unlike
    `scipy.linalg.sqrtm(sigma1 @ sigma2)`.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    s1 = _sqrt_psd(sigma1)
    eig = np.linalg.eigvalsh(s1 @ sigma2 @ s1)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid_from_features(fake: np.ndarray, real: np.ndarray) -> float:
    return frechet_distance(*gaussian_stats(fake), *gaussian_stats(real))


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    """k(x, y) = (x.y / d + coef0)^degree, the KID kernel (Binkowski et al. 2018)."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD^2 (Gretton et al. 2012, eq. 3): within-set means exclude the diagonal."""
    m, n = kxx.shape[0], kyy.shape[0]
    xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * kxy.mean())


def kernel_inception_distance(
    fake: np.ndarray,
    real: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    rng: np.random.Generator | int = 0,
) -> tuple[float, float]:
    """KID (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased polynomial-kernel
    MMD^2 averaged over `num_subsets` random subsets of min(subset_size, N) points of each set.

    Returns (mean, std over subsets). Its expectation is 0 when both sets share a distribution.
    """
    fake, real = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    m = min(subset_size, fake.shape[0], real.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {fake.shape[0]} and {real.shape[0]}")
    rng = np.random.default_rng(rng)
    values = []
    for _ in range(num_subsets):
        x = fake[rng.choice(fake.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        values.append(mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)))
    return float(np.mean(values)), float(np.std(values))


def inception_score(probs: np.ndarray, num_splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))) on each of
    `num_splits` consecutive splits, p(y) being the split's mean prediction.

    probs: [N, K] class probabilities. Returns (mean, std over splits).
    """
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2 or probs.shape[0] < num_splits:
        raise ValueError(f"probs must be [N >= num_splits={num_splits}, K], got shape {probs.shape}")
    scores = []
    for part in np.array_split(probs, num_splits):
        p_y = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(np.clip(part, 1e-30, None)) - np.log(np.clip(p_y, 1e-30, None))), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
