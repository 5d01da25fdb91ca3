"""Interpretable directions in a generator's latent space, as pure functions of sampled latents.

- Unsupervised, GANSpace (Harkonen et al. 2020, "GANSpace: Discovering Interpretable GAN
  Controls", sec. 2): the principal components of N sampled latents (StyleGAN's w = M(z), a GAN's
  or VAE's z): the unit eigenvectors v_k of their sample covariance, largest eigenvalue first.
- Supervised, InterFaceGAN (Shen et al. 2020, "Interpreting the Latent Space of GANs for Semantic
  Face Editing", sec. 2.2): latents labelled by a binary attribute (a class, or a measured value
  above its median) are separated by a linear classifier; the edit direction is the unit normal
  n of its hyperplane, oriented towards the positive label. Here the classifier is L2-regularised
  logistic regression, fitted exactly by Newton's method (iteratively reweighted least squares).
  Conditional manipulation (sec. 2.3) removes from n its component along a second attribute's
  normal c, n' = (n - (n.c) c) / |n - (n.c) c|, so moving along n' leaves c's side unchanged.
- An edit moves a latent along a unit direction: z + alpha n for offsets alpha.
"""

from __future__ import annotations

import numpy as np


def _check_latents(latents: np.ndarray) -> np.ndarray:
    z = np.asarray(latents, np.float64)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"directions need latents [N, D] with N >= 2 (flatten spatial latents), got {z.shape}")
    return z


def pca_directions(latents: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `k` principal directions of latents [N, D] -> (v [k, D] unit rows, their
    variances [k]), each v_k's largest-magnitude entry made positive (a deterministic sign)."""
    z = _check_latents(latents)
    if not 1 <= k <= min(z.shape):
        raise ValueError(
            f"k={k} principal directions of {z.shape[0]} latents of dimension {z.shape[1]}: need 1 <= k <= {min(z.shape)}"
        )
    centred = z - z.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    v = vt[:k]
    v *= np.sign(v[np.arange(k), np.argmax(np.abs(v), axis=1)])[:, None]
    return v, s[:k] ** 2 / (len(z) - 1)


def median_labels(values: np.ndarray) -> np.ndarray:
    """A measured attribute [N] as binary labels: 1 above its median, else 0."""
    values = np.asarray(values, np.float64)
    return (values > np.median(values)).astype(np.int32)


def supervised_direction(latents: np.ndarray, labels: np.ndarray, l2: float = 1e-3, iters: int = 50) -> np.ndarray:
    """The unit normal [D] of the logistic-regression hyperplane separating latents [N, D] by
    binary labels [N], towards label 1: Newton's method on
    sum_i log(1 + exp(-s_i (w.z_i + b))) + (l2 / 2) |w|^2, s_i = 2 y_i - 1."""
    z = _check_latents(latents)
    y = np.asarray(labels).reshape(-1)
    if len(y) != len(z) or not np.isin(y, (0, 1)).all() or len(np.unique(y)) != 2:
        raise ValueError(
            f"supervised directions need one label in {{0, 1}} per latent, both present; got labels {np.unique(y)} "
            f"for {len(z)} latents"
        )
    x = np.concatenate([z, np.ones((len(z), 1))], axis=1)  # the bias as a last weight, not regularised
    reg = np.full(x.shape[1], l2)
    reg[-1] = 0.0
    w = np.zeros(x.shape[1])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-x @ w))
        grad = x.T @ (p - y) + reg * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(reg) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    normal = w[:-1]
    norm = np.linalg.norm(normal)
    if not norm > 0:
        raise ValueError("the labels do not depend on the latents: no direction separates them")
    return normal / norm


def conditional_direction(primal: np.ndarray, condition: np.ndarray) -> np.ndarray:
    """The unit direction [D] of `primal` [D] with its component along the unit normal
    `condition` [D] removed (InterFaceGAN's conditional manipulation)."""
    c = np.asarray(condition, np.float64)
    c = c / np.linalg.norm(c)
    n = np.asarray(primal, np.float64) - np.dot(primal, c) * c
    norm = np.linalg.norm(n)
    if not norm > 1e-12:
        raise ValueError("the two directions are parallel: nothing is left after conditioning")
    return n / norm


def move(latents: np.ndarray, direction: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """latents [B, D] moved along direction [D] by each offset [S] -> [B, S, D]."""
    z = np.asarray(latents)
    return z[:, None, :] + np.asarray(offsets)[None, :, None] * np.asarray(direction)[None, None, :]
