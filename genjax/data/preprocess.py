"""Batch preprocessing in NumPy: resizing, value range, dequantization, binarization, flips.

Everything works on whole batches ([B, H, W, C] uint8 or float images, [B, D] points) so the
input pipeline costs a few vectorised NumPy calls per batch, not Python work per example.

Binarization draws from a key per example (`example_keys`: a hash of the seed, the epoch and the
example's index) with a counter-based generator (`keyed_uniform`), so the binary image of an
example is a function of (seed, epoch, index) alone: fresh every epoch, and the same whatever the
batch size, the number of processes or workers, or where a resumed run starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


def image_hw(image_size: Any) -> tuple[int, int]:
    """(height, width) from data.image_size: an int (square) or a pair."""
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        hw = (int(image_size), int(image_size))
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        hw = tuple(int(s) for s in image_size)
    else:
        raise ValueError(f"data.image_size must be None, an int or (height, width), got {image_size!r}")
    if min(hw) < 1:
        raise ValueError(f"data.image_size must be positive, got {image_size!r}")
    return hw


def resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """[out_size, in_size] weights of antialiased linear resampling.

    The triangle kernel is widened by in_size / out_size when downsampling (a low-pass filter), as
    in `jax.image.resize(method="linear", antialias=True)` and Pillow's BILINEAR; rows sum to 1.
    """
    scale = out_size / in_size
    kernel_scale = max(1.0 / scale, 1.0)
    centre = (np.arange(out_size) + 0.5) / scale - 0.5  # input coordinate of each output pixel
    w = np.maximum(0.0, 1.0 - np.abs(centre[:, None] - np.arange(in_size)[None, :]) / kernel_scale)
    return w / w.sum(axis=1, keepdims=True)


def resize_images(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """[B, H, W, C] -> float32 [B, h, w, C] by separable antialiased linear resampling."""
    if x.shape[1:3] == tuple(hw):
        return x.astype(np.float32)
    rows = resize_matrix(x.shape[1], hw[0]).astype(np.float32)
    cols = resize_matrix(x.shape[2], hw[1]).astype(np.float32)
    return np.einsum("oh,bhwc,pw->bopc", rows, x.astype(np.float32), cols, optimize=True)


_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's increment, 2^64 / golden ratio (odd)


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Steele, Lea & Flood 2014, "Fast splittable pseudorandom
    number generators"; Stafford's mix 13), a bijection of uint64; arithmetic wraps mod 2^64."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def example_keys(seed: int, epoch: np.ndarray, index: np.ndarray) -> np.ndarray:
    """uint64 [B] keys of examples `index` [B] in epochs `epoch` [B] under `seed`: k <- mix(k + gamma (v + 1))
    over v = epoch, index from k = mix(seed); distinct for distinct (epoch, index) of one seed
    (each step is a bijection of its input), up to 64-bit collisions across seeds."""
    key = _mix64(np.full(np.shape(index), seed, np.uint64))
    for v in (epoch, index):
        key = _mix64(key + (np.asarray(v, np.uint64) + np.uint64(1)) * _GAMMA)
    return key


def keyed_uniform(keys: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """float32 [B, *shape] uniform in [0, 1): row b is the SplitMix64 stream of keys[b] (its j-th
    value mix(key + gamma (j + 1)), top 24 bits), a pure function of the key."""
    counter = (np.arange(int(np.prod(shape)), dtype=np.uint64) + np.uint64(1)) * _GAMMA
    bits = _mix64(keys[:, None] + counter[None, :]) >> np.uint64(40)
    return (bits.astype(np.float32) * np.float32(2.0**-24)).reshape(len(keys), *shape)


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """Maps a raw batch to model inputs; `rng` drives dequantization and flips, `keys` (one
    per example, `example_keys`) binarization.

    Images: resize (8-bit data is rounded back to integers so it stays 8-bit), then to u in [0, 1]:
      u = x / 255, or u = (x + U[0, 1)) / 256 with uniform dequantization (Theis et al. 2016,
      "A note on the evaluation of generative models"), or u ~ Bernoulli(x / 255) with dynamic
      binarization (Salakhutdinov & Murray 2008), then x = low + (high - low) * u.
    Points and audio waveforms (already in [-1, 1]) pass through as float32, text tokens as int32.
    """

    kind: str
    uint8: bool = True
    hw: tuple[int, int] | None = None
    value_range: tuple[float, float] = (-1.0, 1.0)
    dequantize: bool = False
    binarize: bool = False
    random_flip: bool = False

    def __call__(
        self,
        batch: dict[str, np.ndarray],
        rng: np.random.Generator,
        *,
        augment: bool = True,
        keys: np.ndarray | None = None,
    ):
        out = dict(batch)
        x = batch["x"]
        if self.kind in ("points", "audio"):
            out["x"] = x.astype(np.float32)
            return out
        if self.kind == "text":
            out["x"] = x.astype(np.int32)
            return out
        if self.hw is not None and x.shape[1:3] != tuple(self.hw):
            x = resize_images(x, self.hw)
            if self.uint8:
                x = np.clip(np.round(x), 0, 255)
        x = x.astype(np.float32)
        if self.uint8 and self.dequantize:
            u = (x + rng.random(x.shape, dtype=np.float32)) / 256.0
        else:
            u = x / 255.0 if self.uint8 else x
        if self.binarize:
            if keys is None:
                raise ValueError("binarization draws from a key per example; pass keys (see example_keys)")
            u = (keyed_uniform(keys, u.shape[1:]) < u).astype(np.float32)
        if self.random_flip and augment:
            flip = rng.random(u.shape[0]) < 0.5
            u[flip] = u[flip, :, ::-1]
        low, high = self.value_range
        out["x"] = (low + (high - low) * u).astype(np.float32)
        return out
