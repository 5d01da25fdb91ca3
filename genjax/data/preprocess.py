"""Batch preprocessing in NumPy: resizing, value range, dequantization, binarization, flips.

Everything works on whole batches ([B, H, W, C] uint8 or float images, [B, D] points) so the
input pipeline costs a few vectorised NumPy calls per batch, not Python work per example.
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


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """Maps a raw batch to model inputs; `rng` drives dequantization, binarization and flips.

    Images: resize (8-bit data is rounded back to integers so it stays 8-bit), then to u in [0, 1]:
      u = x / 255, or u = (x + U[0, 1)) / 256 with uniform dequantization (Theis et al. 2016,
      "A note on the evaluation of generative models"), or u ~ Bernoulli(x / 255) with dynamic
      binarization (Salakhutdinov & Murray 2008), then x = low + (high - low) * u.
    Points pass through as float32.
    """

    kind: str
    uint8: bool = True
    hw: tuple[int, int] | None = None
    value_range: tuple[float, float] = (-1.0, 1.0)
    dequantize: bool = False
    binarize: bool = False
    random_flip: bool = False

    def __call__(self, batch: dict[str, np.ndarray], rng: np.random.Generator, *, augment: bool = True):
        out = dict(batch)
        x = batch["x"]
        if self.kind == "points":
            out["x"] = x.astype(np.float32)
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
            u = (rng.random(u.shape, dtype=np.float32) < u).astype(np.float32)
        if self.random_flip and augment:
            flip = rng.random(u.shape[0]) < 0.5
            u[flip] = u[flip, :, ::-1]
        low, high = self.value_range
        out["x"] = (low + (high - low) * u).astype(np.float32)
        return out
