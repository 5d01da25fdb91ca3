"""Classifier-free guidance (Ho & Salimans 2022, "Classifier-Free Diffusion Guidance").

Training drops each label to the null class with probability p_uncond; sampling combines the
conditional and unconditional predictions, D_w = D(y | null) + w (D(y | label) - D(y | null)).
The combination is affine with weights summing to one, so it is the same on eps, x0 or v.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array
CondDenoiser = Callable[[Array, Array, Array], Array]  # (y [B, ...], t, label [B]) -> x0 [B, ...]


def drop_labels(rng: Array, labels: Array, p_uncond: float, null_class: int) -> Array:
    """labels [B] with each entry replaced by `null_class` with probability p_uncond."""
    drop = jax.random.bernoulli(rng, p_uncond, labels.shape)
    return jnp.where(drop, null_class, labels)


def guided(denoise: CondDenoiser, labels: Array, scale: float, null_class: int):
    """Denoiser (y, t) -> x0 under guidance scale w. w = 1 is the conditional model (one network
    call); otherwise both predictions come from one call on the doubled batch."""
    if scale == 1.0:
        return lambda y, t: denoise(y, t, labels)

    def fn(y: Array, t: Array) -> Array:
        both = denoise(jnp.concatenate([y, y]), t, jnp.concatenate([labels, jnp.full_like(labels, null_class)]))
        cond, uncond = jnp.split(both, 2)
        return uncond + scale * (cond - uncond)

    return fn
