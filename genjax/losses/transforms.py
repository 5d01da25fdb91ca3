"""Input transforms of a GAN's discriminator: what D sees of a batch, real or generated alike.

Each transform is a frozen object called as `transform(x [N, ...], rng) -> [N', ...]`; a GAN
applies its tuple of transforms in order, with one key for the real batch and another for the
generated one, before every call of D (penalties then differentiate w.r.t. the transformed
inputs, as in StyleGAN2-ADA).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from genjax.losses.diffaugment import diff_augment

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class DiffAugment:
    """Differentiable augmentation (Zhao et al. 2020) with the given policy, e.g. ("color",
    "translation", "cutout"): [N, H, W, C] -> [N, H, W, C], fresh draws per call."""

    policy: tuple[str, ...]

    def __call__(self, x: Array, rng: Array) -> Array:
        return diff_augment(x, rng, self.policy)


@dataclasses.dataclass(frozen=True)
class Pack:
    """PacGAN (Lin et al. 2018, "PacGAN: The power of two samples in generative adversarial
    networks"): D judges m samples at once, [N, ...] -> [N / m, ...] (see `pack`)."""

    m: int

    def __call__(self, x: Array, rng: Array) -> Array:
        return pack(x, self.m)


def pack(x: Array, m: int) -> Array:
    """[N, ..., C] -> [N/m, ..., m C]: consecutive groups of m samples concatenated along the last
    (feature or channel) axis."""
    if m == 1:
        return x
    if x.shape[0] % m:
        raise ValueError(f"objective.pack={m} must divide the batch size {x.shape[0]}")
    g = x.reshape(x.shape[0] // m, m, *x.shape[1:])
    return jnp.moveaxis(g, 1, -2).reshape(x.shape[0] // m, *x.shape[1:-1], m * x.shape[-1])
