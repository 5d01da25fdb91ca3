"""Disentanglement scores of a representation against known generative factors.

latents [N, D] (e.g. posterior means E_q[z | x]) and factors [N, K] (integer factor values):

- MIG, the mutual information gap (Chen et al. 2018, "Isolating Sources of Disentanglement in
  VAEs", eq. 6): 1/K sum_k (I(z_j(k); v_k) - max_{j != j(k)} I(z_j; v_k)) / H(v_k), j(k) the latent
  most informative about factor k. Latents are discretized into `bins` equal-width bins first,
  as in Locatello et al. 2019's reference implementation (disentanglement_lib).
- DCI (Eastwood & Williams 2018, "A Framework for the Quantitative Evaluation of Disentangled
  Representations", sec. 3): an importance matrix R [D, K] from one predictor per factor
  (gradient-boosted trees' feature importances, as in disentanglement_lib), then
    disentanglement  sum_i rho_i (1 - H_K(P_i.)),  P_ij = R_ij / sum_k R_ik,  rho_i = sum_j R_ij / sum R
    completeness     1/K sum_j (1 - H_D(P~_.j)),   P~_ij = R_ij / sum_d R_dj
    informativeness  the predictors' mean test accuracy
  with H_b the entropy in base b.
"""

from __future__ import annotations

import numpy as np


def discretize(latents: np.ndarray, bins: int = 20) -> np.ndarray:
    """Each column of latents [N, D] into `bins` equal-width bins over its own range -> int [N, D]."""
    latents = np.asarray(latents, np.float64)
    lo, hi = latents.min(axis=0), latents.max(axis=0)
    width = np.where(hi > lo, (hi - lo) / bins, 1.0)
    return np.clip(((latents - lo) / width).astype(np.int64), 0, bins - 1)


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two discrete variables from their paired samples [N] (plug-in estimate)."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log(joint[nz] / outer[nz])))


def mig(latents: np.ndarray, factors: np.ndarray, bins: int = 20) -> dict[str, float]:
    """{"mig": the mean gap, "mig/<k>": each factor's}; factors with one value are skipped."""
    codes = discretize(latents, bins)
    factors = np.asarray(factors)
    if codes.shape[1] < 2:
        raise ValueError(f"MIG compares the two most informative latents; got {codes.shape[1]} latent dimension")
    out, gaps = {}, []
    for k in range(factors.shape[1]):
        entropy = mutual_information(factors[:, k], factors[:, k])
        if entropy == 0:
            continue
        mi = np.sort([mutual_information(codes[:, j], factors[:, k]) for j in range(codes.shape[1])])
        gaps.append((mi[-1] - mi[-2]) / entropy)
        out[f"mig/{k}"] = float(gaps[-1])
    out["mig"] = float(np.mean(gaps))
    return out


def _entropy(p: np.ndarray, base: int, axis: int) -> np.ndarray:
    logs = np.log(np.where(p > 0, p, 1.0)) / np.log(base)
    return -np.sum(p * logs, axis=axis)


def dci_from_importance(importance: np.ndarray) -> dict[str, float]:
    """Disentanglement and completeness of an importance matrix R [D latents, K factors] >= 0."""
    r = np.abs(np.asarray(importance, np.float64))
    d, k = r.shape
    per_code = r / np.maximum(r.sum(1, keepdims=True), 1e-12)
    disentangled = 1.0 - _entropy(per_code, k, axis=1) if k > 1 else np.ones(d)
    rho = r.sum(1) / r.sum()
    per_factor = r / np.maximum(r.sum(0, keepdims=True), 1e-12)
    complete = 1.0 - _entropy(per_factor, d, axis=0) if d > 1 else np.ones(k)
    return {"dci_disentanglement": float(np.sum(rho * disentangled)), "dci_completeness": float(np.mean(complete))}


def dci(
    latents_train: np.ndarray,
    factors_train: np.ndarray,
    latents_test: np.ndarray,
    factors_test: np.ndarray,
    seed: int = 0,
) -> dict[str, float]:
    """DCI with gradient-boosted trees (scikit-learn's defaults, as disentanglement_lib) per factor."""
    from sklearn.ensemble import GradientBoostingClassifier

    factors_train, factors_test = np.asarray(factors_train), np.asarray(factors_test)
    importance, accuracy = [], []
    for k in range(factors_train.shape[1]):
        model = GradientBoostingClassifier(random_state=seed).fit(latents_train, factors_train[:, k])
        importance.append(model.feature_importances_)
        accuracy.append(model.score(latents_test, factors_test[:, k]))
    out = dci_from_importance(np.stack(importance, axis=1))
    out["dci_informativeness"] = float(np.mean(accuracy))
    return out
