"""Diagnostics of a latent-variable model's posterior over held-out examples: the KL per latent
unit and the number of active units.

With q(z|x) and p(z) per unit j, over N examples x_n:

    KL_j     = (1/N) sum_n KL(q(z_j|x_n) || p(z_j))     (nats; summed over j: the ELBO's KL term)
    A_u      = #{j : Cov_x(E_q[z_j|x]) > 0.01}           (Burda et al. 2016, "Importance Weighted
                                                          Autoencoders", sec. 5.2: active units)
    A_u(KL)  = #{j : KL_j > 0.01 nats}

An inactive unit's posterior ignores x (posterior collapse): its mean does not vary over the data
and its KL is near 0. The variance is the unbiased one (ddof = 1) over the examples.
"""

from __future__ import annotations

import numpy as np

ACTIVE_THRESHOLD = 0.01


def latent_summary(kl: np.ndarray, mean: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> dict[str, float]:
    """kl [N, J] (nats), mean [N, J] (E_q[z_j|x_n]) -> {"latent_kl": sum_j KL_j, "latent_kl/<j>":
    KL_j, "active_units": A_u (Burda's covariance criterion), "active_units_kl": #{KL_j > threshold}}."""
    kl, mean = np.asarray(kl, np.float64), np.asarray(mean, np.float64)
    if kl.ndim != 2 or kl.shape != mean.shape or len(kl) < 2:
        raise ValueError(f"kl and mean must both be [N >= 2, J], got {kl.shape} and {mean.shape}")
    kl_j = kl.mean(axis=0)
    out = {"latent_kl": float(kl_j.sum())}
    out |= {f"latent_kl/{j:03d}": float(v) for j, v in enumerate(kl_j)}
    out["active_units"] = float(np.sum(mean.var(axis=0, ddof=1) > threshold))
    out["active_units_kl"] = float(np.sum(kl_j > threshold))
    return out
