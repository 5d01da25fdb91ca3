"""Differentiable Augmentation (Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training"): the same random colour, translation and cutout transforms applied
to real and generated images before the discriminator, differentiably, so the generator learns
through them. Images are NHWC in [-1, 1]; each function below is the deterministic transform
given its random draws, and `diff_augment` draws them.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

Array = jax.Array
POLICIES = ("color", "translation", "cutout")


def brightness(x: Array, b: Array) -> Array:
    """x + b, b [N] in [-0.5, 0.5)."""
    return x + b[:, None, None, None].astype(x.dtype)


def saturation(x: Array, s: Array) -> Array:
    """Scale the deviation from the channel mean by s [N] in [0, 2)."""
    mean = x.mean(axis=-1, keepdims=True)
    return (x - mean) * s[:, None, None, None].astype(x.dtype) + mean


def contrast(x: Array, c: Array) -> Array:
    """Scale the deviation from the image mean by c [N] in [0.5, 1.5)."""
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) * c[:, None, None, None].astype(x.dtype) + mean


def translation(x: Array, tx: Array, ty: Array) -> Array:
    """out[n, i, j] = x[n, i + tx_n, j + ty_n], zero outside the image. tx, ty: int [N]."""
    _, h, w, _ = x.shape
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = jnp.clip(jnp.arange(h)[None] + tx[:, None] + 1, 0, h + 1)  # [N, H]
    cols = jnp.clip(jnp.arange(w)[None] + ty[:, None] + 1, 0, w + 1)  # [N, W]
    return jax.vmap(lambda im, r, c: im[r][:, c])(xp, rows, cols)


def cutout(x: Array, ox: Array, oy: Array, size: tuple[int, int]) -> Array:
    """Zero a size[0] x size[1] square centred at (ox_n, oy_n) (clipped to the image)."""
    _, h, w, _ = x.shape
    r0 = (ox - size[0] // 2)[:, None]
    c0 = (oy - size[1] // 2)[:, None]
    rows = (jnp.arange(h)[None] >= r0) & (jnp.arange(h)[None] < r0 + size[0])  # [N, H]
    cols = (jnp.arange(w)[None] >= c0) & (jnp.arange(w)[None] < c0 + size[1])  # [N, W]
    keep = ~(rows[:, :, None] & cols[:, None, :])
    return x * keep[..., None].astype(x.dtype)


def diff_augment(
    x: Array,
    rng: Array,
    policy: Sequence[str] = POLICIES,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
) -> Array:
    """Applies the policy's transforms in the reference order: color, translation, cutout.

    x: [N, H, W, C] -> [N, H, W, C]. Use the same `policy` (fresh draws are fine) for the real
    and the fake batch.
    """
    unknown = set(policy) - set(POLICIES)
    if unknown:
        raise ValueError(f"diffaugment policy has unknown entries {sorted(unknown)}; use {POLICIES}")
    if x.ndim != 4:
        raise ValueError(f"DiffAugment needs images [N, H, W, C], got shape {x.shape}")
    n, h, w, _ = x.shape
    keys = jax.random.split(rng, 7)
    if "color" in policy:
        x = brightness(x, jax.random.uniform(keys[0], (n,)) - 0.5)
        x = saturation(x, jax.random.uniform(keys[1], (n,)) * 2.0)
        x = contrast(x, jax.random.uniform(keys[2], (n,)) + 0.5)
    if "translation" in policy:
        sx, sy = int(h * translation_ratio + 0.5), int(w * translation_ratio + 0.5)
        tx = jax.random.randint(keys[3], (n,), -sx, sx + 1)
        ty = jax.random.randint(keys[4], (n,), -sy, sy + 1)
        x = translation(x, tx, ty)
    if "cutout" in policy:
        size = (int(h * cutout_ratio + 0.5), int(w * cutout_ratio + 0.5))
        ox = jax.random.randint(keys[5], (n,), 0, h + (1 - size[0] % 2))
        oy = jax.random.randint(keys[6], (n,), 0, w + (1 - size[1] % 2))
        x = cutout(x, ox, oy, size)
    return x
