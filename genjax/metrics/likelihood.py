"""Bits per dimension for likelihood models (VAEs' ELBO, autoregressive and diffusion NLLs)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def bits_per_dim(
    nll: np.ndarray | float,
    shape: Sequence[int],
    *,
    discrete: bool = False,
    value_range: tuple[float, float] = (-1.0, 1.0),
    num_bins: int = 256,
) -> np.ndarray | float:
    """Negative log-likelihood in nats per example -> bits per dimension.

    discrete=True: `nll` is -log P(x) of a discrete model over `num_bins` levels; bpd =
    nll / (D ln 2). discrete=False: `nll` is -log p(x) of a continuous density on data scaled
    to `value_range`; the probability of an 8-bit bin is p(x) * w^D with bin width
    w = (hi - lo) / num_bins (the uniform-dequantisation convention of Theis et al. 2016 and
    Dinh et al. 2017), so bpd = (nll - D ln w) / (D ln 2). D = prod(shape).
    """
    dims = int(np.prod(shape))
    if dims <= 0:
        raise ValueError(f"shape must have positive size, got {tuple(shape)}")
    nll = np.asarray(nll, np.float64)
    if not discrete:
        lo, hi = value_range
        nll = nll - dims * math.log((hi - lo) / num_bins)
    out = nll / (dims * math.log(2.0))
    return float(out) if out.ndim == 0 else out
