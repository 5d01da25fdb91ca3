"""Mode-collapse metrics on 2D Gaussian mixtures (ring8, grid25).

Protocol of VEEGAN (Srivastava et al. 2017) as used by PacGAN (Lin et al. 2018, Table 2):
each generated point is assigned to its nearest mode centre; it is *high quality* when it
lies within `num_std` standard deviations of that centre; a mode is *captured* when at least
`min_count` high-quality points are assigned to it; the *reverse KL* is KL(p_fake || p_real)
between the histogram of nearest-mode assignments of all generated points and the true
(uniform) mixture weights.
"""

from __future__ import annotations

import numpy as np


def mode_coverage(
    points: np.ndarray,
    modes: np.ndarray,
    mode_std: float,
    num_std: float = 3.0,
    min_count: int = 1,
    weights: np.ndarray | None = None,
) -> dict[str, float]:
    """points [N, 2], modes [K, 2] -> {"modes": captured count, "high_quality": fraction,
    "reverse_kl": nats}."""
    points, modes = np.asarray(points, np.float64), np.asarray(modes, np.float64)
    if points.ndim != 2 or modes.ndim != 2 or points.shape[1] != modes.shape[1]:
        raise ValueError(f"points [N, D] and modes [K, D] needed, got {points.shape} and {modes.shape}")
    k = modes.shape[0]
    d2 = ((points[:, None, :] - modes[None, :, :]) ** 2).sum(-1)
    nearest = d2.argmin(1)
    good = np.sqrt(d2[np.arange(len(points)), nearest]) <= num_std * mode_std
    captured = np.bincount(nearest[good], minlength=k) >= min_count
    p = np.bincount(nearest, minlength=k) / len(points)
    q = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
    nz = p > 0
    return {
        "modes": float(captured.sum()),
        "high_quality": float(good.mean()),
        "reverse_kl": float(np.sum(p[nz] * np.log(p[nz] / q[nz]))),
    }
