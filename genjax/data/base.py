"""What a data source is: `SourceInfo`, the `Source` interface and in-memory array sources.

A source yields raw examples: images as uint8 [N, H, W, C] (or float in [0, 1]), points as
float32 [N, D], labels as int32 [N]. Preprocessing (value range, dequantization, resizing,
augmentation) happens in `genjax.data.pipeline`.
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np

from genjax.data import checks
from genjax.data.splits import resolve_split


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """What a source knows about itself before any preprocessing."""

    kind: str  # "image" | "points" | "text" | "audio"
    shape: tuple[int | None, ...]  # per example; None for variable image sides
    num_classes: int | None
    num_examples: int  # in the selected split
    splits: tuple[str, ...] = ("train",)
    class_names: tuple[str, ...] | None = None
    modes: tuple[tuple[float, ...], ...] | None = None
    mode_std: float | None = None
    point_range: tuple[float, float] | None = None  # bounding box of points sources
    point_moments: tuple[float, float] | None = None  # (mean, std) of points sources, see point_stats
    uint8: bool = True  # images stored as 8-bit integers (else float in [0, 1])
    vocab: str | None = None  # text: the characters of the token ids, in order (None: bytes)
    vocab_size: int | None = None  # text: the number of token ids
    sample_rate: int | None = None  # audio: samples per second


class Source(abc.ABC):
    """Random access to the raw examples of one split. Must be picklable (worker processes)."""

    info: SourceInfo

    def __len__(self) -> int:
        return self.info.num_examples

    @abc.abstractmethod
    def read(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """{"x": [b, ...], "y": int32 [b] (when labelled)} for split-relative indices [b]."""


class ArraySource(Source):
    """Examples held in memory (builtin sets, npz files, image folders)."""

    def __init__(self, info: SourceInfo, x: np.ndarray, y: np.ndarray | None):
        self.info, self.x, self.y = info, x, y

    def read(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        out = {"x": self.x[indices]}
        if self.y is not None:
            out["y"] = self.y[indices]
        return out


def point_stats(x: np.ndarray) -> dict[str, tuple[float, float]]:
    """`SourceInfo` fields of points x [N, D]: the bounding box (min, max) over all coordinates,
    and the moments (mean, std): the mean over all coordinates and the root mean square of the
    per-axis standard deviations, sqrt(mean_d Var[x_d]). One scalar scale keeps distances
    isotropic."""
    x = np.asarray(x, np.float64)
    return dict(
        point_range=(float(x.min()), float(x.max())),
        point_moments=(float(x.mean()), float(np.sqrt(x.var(axis=0).mean()))),
    )


def select_split(x: np.ndarray, y: np.ndarray | None, split: str, sizes: dict[str, int], offsets: dict[str, int]):
    """Rows of the in-memory arrays that `split` selects; `offsets` gives each split's first row."""
    name, start, stop = resolve_split(split, sizes)
    rows = slice(offsets[name] + start, offsets[name] + stop)
    return x[rows], (None if y is None else y[rows])


def _checked_examples(x: np.ndarray, what: str) -> np.ndarray:
    """x as float32 points [N, D], or images [N, H, W, C] of uint8 or float32 in [0, 1]."""
    checks.check_real(x, what, "x")
    if x.ndim == 2:
        return checks.finite_float32(x, what, "x")
    if x.ndim not in (3, 4) or x.ndim == 4 and x.shape[-1] not in (1, 3, 4):
        raise checks.DataError(
            f"{what}: x must be points [N, D] or images [N, H, W] / [N, H, W, C] with C in (1, 3, 4), got shape {x.shape}"
        )
    if x.dtype != np.uint8 and x.dtype.kind != "f":
        raise checks.DataError(
            f"{what}: images must be uint8 in [0, 255] or floats in [0, 1], got {x.dtype}; convert them, "
            "e.g. x.astype(np.uint8) for integer pixel values"
        )
    x = x if x.dtype == np.uint8 else checks.float_images(x, what, "x")
    return x[..., None] if x.ndim == 3 else x


def array_source(
    x: np.ndarray, y: np.ndarray | None, split: str, *, what: str, num_classes: int | None = None, **info_kw
) -> ArraySource:
    """An in-memory source over arrays that hold a single "train" split. Every row is checked once
    here, rows named as in the arrays (see `genjax.data.checks`): real numbers, finite points and
    float images in [0, 1], labels in [0, int32 max] below `num_classes` (the declared class
    count) or a plausible inferred count."""
    x = _checked_examples(x, what)
    if y is not None:
        y = checks.check_labels(y, x.shape[0], what, "y", num_classes=num_classes)
        num_classes = num_classes or checks.class_count(y, what, "y")
    x, y = select_split(x, y, split, {"train": x.shape[0]}, {"train": 0})
    if x.ndim == 2:
        info = SourceInfo("points", x.shape[1:], num_classes, x.shape[0], **point_stats(x), **info_kw)
    else:
        info = SourceInfo("image", x.shape[1:], num_classes, x.shape[0], uint8=x.dtype == np.uint8, **info_kw)
    return ArraySource(info, x, y)
