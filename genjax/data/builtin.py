"""Built-in offline datasets: scikit-learn's digits and the 2D sets of the mode-collapse literature.

    builtin:digits                8x8 handwritten digits (1797, 10 classes; Alpaydin & Kaynak 1998):
                                  "train" 1438, "test" 359 (a fixed stratified split, seed 0)
    builtin:ring8                 8 Gaussians on the unit circle, std 0.01  (PacGAN, Lin et al. 2018)
    builtin:grid25                25 Gaussians at {-4,-2,0,2,4}^2, std 0.05  (PacGAN, Lin et al. 2018)
    builtin:ring?modes=K&std=S    any ring (also ringK, radius=R)
    builtin:grid?modes=K&std=S    any square grid, K a perfect square (also gridK, spacing=D)
    builtin:moons                 scikit-learn's two moons (noise=0.05), 2 classes
    builtin:swissroll             2D swiss roll: (x, z) of scikit-learn's roll times scale=0.2, noise=0.5
    builtin:shapes                32x32 sprites of 5 known factors (dSprites-like; `genjax.data.shapes`)

The synthetic sets are fixed samples: "train" has n=50000 examples drawn with seed=0, "test" has
n_test=10000 drawn from an independent stream; mixture labels are the component index.
Digits are split once, by `digits_split`: per class, a fifth of the images (rounded) drawn with
seed 0 is "test", the rest "train", each in scikit-learn's order; its 17 grey levels 0..16 are
stored as 8-bit images round(v * 255 / 16).
"""

from __future__ import annotations

import math
import re

import numpy as np

from genjax.data import shapes
from genjax.data.base import ArraySource, SourceInfo, point_stats, select_split
from genjax.data.checks import finite_float32

_DEFAULTS = {
    "ring": dict(modes=8, std=0.01, radius=1.0),
    "grid": dict(modes=25, std=0.05, spacing=2.0),
    "moons": dict(noise=0.05),
    "swissroll": dict(noise=0.5, scale=0.2),
}
_COMMON = dict(n=50_000, n_test=10_000, seed=0)
DIGITS_SPLIT_SEED, DIGITS_TEST_FRACTION = 0, 0.2
NAMES = ("digits", "ring8", "grid25", "ring", "grid", "moons", "swissroll", "shapes")
_FIXED = ("digits", "shapes")  # no parameters


def ring_modes(modes: int, radius: float) -> np.ndarray:
    """[modes, 2] centres radius * (cos(2 pi k / K), sin(2 pi k / K))."""
    angle = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def grid_modes(modes: int, spacing: float) -> np.ndarray:
    """[modes, 2] centres of a square grid with `spacing`, centred at 0 (25 -> {-4,...,4}^2)."""
    side = int(round(np.sqrt(modes)))
    if side * side != modes:
        raise ValueError(f"data.source builtin:grid: modes={modes} must be a perfect square (e.g. 25, 49)")
    axis = spacing * (np.arange(side) - (side - 1) / 2)
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)


def digits_split(y: np.ndarray, seed: int = DIGITS_SPLIT_SEED, test_fraction: float = DIGITS_TEST_FRACTION):
    """A stratified train/test split of labels y [N]: for each class c in increasing order, a
    permutation of its rows drawn from one generator seeded with `seed` puts its first
    round(test_fraction * N_c) rows in "test". Returns the (train, test) row indices, each sorted."""
    rng = np.random.default_rng(seed)
    test = [rng.permutation(np.flatnonzero(y == c))[: round(test_fraction * np.sum(y == c))] for c in np.unique(y)]
    is_test = np.zeros(len(y), bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def _digits(split: str) -> ArraySource:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # [1797, 8, 8, 1]
    y = d.target.astype(np.int32)
    train, test = digits_split(y)
    rows = np.concatenate([train, test])
    x, y = select_split(
        x[rows], y[rows], split, {"train": len(train), "test": len(test)}, {"train": 0, "test": len(train)}
    )
    return ArraySource(SourceInfo("image", x.shape[1:], 10, x.shape[0], splits=("train", "test")), x, y)


def _params(name: str, params: dict[str, str], source: str) -> tuple[str, dict]:
    m = re.fullmatch(r"(ring|grid)(\d+)", name)
    base = m.group(1) if m else name
    if base not in _DEFAULTS and base not in _FIXED:
        raise ValueError(f"data.source {source!r}: unknown builtin dataset {name!r}; known: {', '.join(NAMES)}")
    defaults = {**_COMMON, **_DEFAULTS.get(base, {})} if base not in _FIXED else {}
    if m:
        defaults["modes"] = int(m.group(2))
    out = dict(defaults)
    for key, value in params.items():
        if key not in defaults:
            raise ValueError(f"data.source {source!r}: unknown parameter {key!r}; {base} takes {sorted(defaults)}")
        try:
            out[key] = type(defaults[key])(float(value) if isinstance(defaults[key], float) else int(value))
        except ValueError:
            raise ValueError(f"data.source {source!r}: parameter {key}={value!r} is not a number") from None
        if not math.isfinite(out[key]):
            raise ValueError(f"data.source {source!r}: parameter {key}={value!r} is not a finite number")
        if key in ("n", "n_test", "modes") and out[key] < 1 or key in ("std", "noise") and out[key] < 0:
            raise ValueError(f"data.source {source!r}: parameter {key}={value} is out of range")
    return base, out


def _mixture(centres: np.ndarray, std: float, n: int, rng: np.random.Generator):
    y = rng.integers(0, len(centres), size=n)
    x = centres[y] + std * rng.standard_normal((n, centres.shape[1]))
    return x, y.astype(np.int32)


def _generate(base: str, p: dict, n: int, rng: np.random.Generator):
    if base == "ring":
        return _mixture(ring_modes(p["modes"], p["radius"]), p["std"], n, rng)
    if base == "grid":
        return _mixture(grid_modes(p["modes"], p["spacing"]), p["std"], n, rng)
    from sklearn import datasets

    seed = int(rng.integers(2**31))
    if base == "moons":
        x, y = datasets.make_moons(n, noise=p["noise"], random_state=seed)
        return x, y.astype(np.int32)
    x, _ = datasets.make_swiss_roll(n, noise=p["noise"], random_state=seed)
    return p["scale"] * x[:, [0, 2]], None


def open_builtin(name: str, params: dict[str, str], split: str, *, source: str) -> ArraySource:
    base, p = _params(name, params, source)
    if base == "shapes":
        return shapes.open_shapes(split)
    if base == "digits":
        return _digits(split)
    # Independent streams per split: seed and split index both enter the generator's seed.
    parts = [_generate(base, p, n, np.random.default_rng([p["seed"], i])) for i, n in enumerate((p["n"], p["n_test"]))]
    x = np.concatenate([part[0] for part in parts])
    y = None if parts[0][1] is None else np.concatenate([part[1] for part in parts])
    x = finite_float32(x, source, "x")  # float64 points to float32, refusing overflows (e.g. std=1e39)
    x, y = select_split(x, y, split, {"train": p["n"], "test": p["n_test"]}, {"train": 0, "test": p["n"]})
    modes = mode_std = None
    if base in ("ring", "grid"):
        centres = ring_modes(p["modes"], p["radius"]) if base == "ring" else grid_modes(p["modes"], p["spacing"])
        modes, mode_std = tuple(tuple(float(v) for v in c) for c in centres), float(p["std"])
    num_classes = p["modes"] if base in ("ring", "grid") else (2 if base == "moons" else None)
    info = SourceInfo(
        "points",
        (2,),
        num_classes,
        x.shape[0],
        splits=("train", "test"),
        modes=modes,
        mode_std=mode_std,
        **point_stats(x),
    )
    return ArraySource(info, x, y)
