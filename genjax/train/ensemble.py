"""Ensembles of trained runs: samples of a mixture of generators.

    p(x) = sum_k w_k p_k(x)

Each sample picks its generator k with probability w_k (k_i ~ Categorical(w), independently);
generator k then draws its n_k = #{i : k_i = k} samples in one call, and they fill the positions
that chose it, so the output interleaves the generators as the draws did.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def mixture_weights(weights: Sequence[float] | None, num_components: int) -> np.ndarray:
    """w [K]: `weights` normalised to sum 1, or uniform when None; non-negative with a positive sum."""
    if num_components < 1:
        raise ValueError("a mixture needs at least one generator")
    w = np.full(num_components, 1.0) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (num_components,) or not np.all(w >= 0) or not w.sum() > 0:
        raise ValueError(
            f"weights {list(np.atleast_1d(w))}: give {num_components} non-negative numbers, not all 0 "
            "(one per generator)"
        )
    return w / w.sum()


def mixture_components(seed: int, weights: Sequence[float], num: int) -> np.ndarray:
    """k_i ~ Categorical(w) for i < num, from numpy's generator seeded `seed` -> int [num]."""
    w = mixture_weights(weights, len(weights))
    return np.random.default_rng(seed).choice(len(w), size=num, p=w)


def sample_mixture(
    runs: Sequence[Any], weights: Sequence[float] | None, num: int, seed: int, **kwargs: Any
) -> np.ndarray:
    """`num` samples of the mixture of `runs` (each with `sample(n, seed, **kw)` and `metadata`,
    like `genjax.train.build.Run`): the components from `seed`, generator k drawing with seed
    `seed + 1 + k`; `kwargs` go to every run's `sample`. -> [num, ...] in the data range."""
    w = mixture_weights(weights, len(runs))
    shapes = {tuple(r.metadata.shape) for r in runs}
    if len(shapes) > 1:
        raise ValueError(f"the generators of a mixture must share the sample shape, got {sorted(shapes)}")
    k = mixture_components(seed, w, num)
    out = None
    for j, run in enumerate(runs):
        idx = np.flatnonzero(k == j)
        if not idx.size:
            continue
        x = np.asarray(run.sample(int(idx.size), seed + 1 + j, **kwargs))
        if out is None:
            out = np.empty((num, *x.shape[1:]), x.dtype)
        out[idx] = x
    return out
