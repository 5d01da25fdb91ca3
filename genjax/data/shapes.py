"""Procedural sprites with known generative factors, for disentanglement (like dSprites, Matthey
et al. 2017, made offline and smaller): `builtin:shapes`.

Every combination of five independent factors is rendered once, white on black, 32x32:

    shape     3   square, ellipse (axes 1 : 0.6), heart ((u^2 + v^2 - 1)^3 <= u^2 v^3)
    scale     4   half-size 0.20, 0.25, 0.30, 0.35 of the image's half-width
    rotation  8   k pi / 16, k = 0..7 (a quarter turn: the square repeats after it)
    x, y      8   sprite centre at 8 even steps of [-0.55, 0.55] (image coordinates in [-1, 1])

6,144 images, 2x2 supersampled (5 grey levels). The label is the shape. Splits: "test" is a fixed
10% of the combinations drawn with seed 0, "train" the rest, both in a seeded random order (any
prefix is a random subset); `factors(split)` gives each example's factor indices [N, 5] in order.
"""

from __future__ import annotations

import functools

import numpy as np

from genjax.data.base import ArraySource, SourceInfo, select_split

FACTORS = ("shape", "scale", "rotation", "x", "y")
SIZES = (3, 4, 8, 8, 8)
SHAPES = ("square", "ellipse", "heart")
SCALES = (0.20, 0.25, 0.30, 0.35)
ROTATIONS = tuple(k * np.pi / 16 for k in range(8))
POSITIONS = tuple(np.linspace(-0.55, 0.55, 8))
IMAGE_SIZE = 32
TEST_FRACTION, SPLIT_SEED = 0.1, 0


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether sprite coordinates (u, v) (unit half-size, v up) lie in the shape."""
    if shape == 0:
        return np.maximum(np.abs(u), np.abs(v)) <= 1.0
    if shape == 1:
        return u**2 + (v / 0.6) ** 2 <= 1.0
    u, v = u * 1.15, v * 1.15 + 0.1  # the heart curve spans about [-1.14, 1.14] x [-1, 1.25]
    return (u**2 + v**2 - 1.0) ** 3 - u**2 * v**3 <= 0.0


def render(shape: int, scale: int, rotation: int, x: int, y: int, size: int = IMAGE_SIZE) -> np.ndarray:
    """The uint8 image [size, size] of one combination of factor indices."""
    sub = (np.arange(2 * size) + 0.5) / size - 1.0  # 2x2 supersampled pixel centres in [-1, 1]
    px, py = np.meshgrid(sub, -sub)  # image x to the right, y up
    dx, dy = px - POSITIONS[x], py - POSITIONS[y]
    c, s = np.cos(ROTATIONS[rotation]), np.sin(ROTATIONS[rotation])
    u, v = (c * dx + s * dy) / SCALES[scale], (-s * dx + c * dy) / SCALES[scale]  # rotate by -theta
    hit = _inside(shape, u, v).reshape(size, 2, size, 2).mean(axis=(1, 3))
    return np.round(hit * 255).astype(np.uint8)


def all_factors() -> np.ndarray:
    """Every combination of factor indices [6144, 5], in row-major order of FACTORS."""
    return np.stack(np.meshgrid(*[np.arange(n) for n in SIZES], indexing="ij"), axis=-1).reshape(-1, len(SIZES))


@functools.lru_cache(maxsize=1)
def _dataset() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 32, 32, 1], factors [N, 5]), shuffled, the test combinations last."""
    factors = all_factors()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(factors))
    n_test = int(round(TEST_FRACTION * len(factors)))
    order = np.concatenate([order[n_test:], order[:n_test]])  # shuffled: any prefix is a random subset
    factors = factors[order]
    images = np.stack([render(*f) for f in factors])[..., None]
    return images, factors


def _sizes() -> dict[str, int]:
    n_test = int(round(TEST_FRACTION * int(np.prod(SIZES))))
    return {"train": int(np.prod(SIZES)) - n_test, "test": n_test}


def factors(split: str) -> np.ndarray:
    """Factor indices [N, 5] of the examples of `split` (e.g. "test", "train[:50%]"), in order."""
    _, f = _dataset()
    sizes = _sizes()
    return select_split(f, None, split, sizes, {"train": 0, "test": sizes["train"]})[0]


def open_shapes(split: str) -> ArraySource:
    images, f = _dataset()
    sizes = _sizes()
    x, y = select_split(images, f[:, 0].astype(np.int32), split, sizes, {"train": 0, "test": sizes["train"]})
    info = SourceInfo("image", x.shape[1:], len(SHAPES), x.shape[0], splits=("train", "test"), class_names=SHAPES)
    return ArraySource(info, x, y)
