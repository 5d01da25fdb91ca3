"""Data sources: random-access examples selected by a source string.

    builtin:NAME[?key=value&...]   offline sets (see `genjax.data.builtin`)
    tfds:NAME[/CONFIG][:VERSION]   a prepared TFDS dataset, read through `tfds.data_source`
    npz:PATH                       a NumPy .npz file with arrays `x` and optional `y`
    folder:PATH                    an image folder, one sub-folder per class
    unpaired:SRC_A|SRC_B           two image sources as unpaired domains (`genjax.data.unpaired`)

A source yields raw examples: images as uint8 [N, H, W, C] (or float in [0, 1]), points as
float32 [N, D], labels as int32 [N]. Preprocessing (value range, dequantization, resizing,
augmentation) happens in `genjax.data.pipeline`.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

from genjax.data.splits import resolve_split

SCHEMES = ("builtin", "tfds", "npz", "folder", "unpaired")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """What a source knows about itself before any preprocessing."""

    kind: str  # "image" | "points"
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


def parse_source(source: str) -> tuple[str, str, dict[str, str]]:
    """Splits "scheme:rest?k=v" into (scheme, rest, params); params only for builtin sources."""
    if not isinstance(source, str):
        raise ValueError(f"data.source must be a string such as 'builtin:digits', got {source!r}")
    scheme, sep, rest = source.partition(":")
    if not sep or scheme not in SCHEMES or not rest:
        raise ValueError(
            f"data.source {source!r} is not a known source; use builtin:NAME (digits, ring8, grid25, "
            "moons, swissroll, ring?modes=K&std=S, grid?modes=K&std=S), tfds:NAME[:VERSION], "
            "npz:PATH, folder:PATH or unpaired:SRC_A|SRC_B"
        )
    params: dict[str, str] = {}
    if scheme == "builtin":
        rest, _, query = rest.partition("?")
        for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
            params[key] = value
    return scheme, rest, params


def open_source(data_cfg: Any, split: str) -> Source:
    """The source named by `data_cfg.source`, restricted to `split` (a TFDS split string)."""
    scheme, rest, params = parse_source(data_cfg.source)
    if scheme == "builtin":
        from genjax.data import builtin

        return builtin.open_builtin(rest, params, split, source=data_cfg.source)
    if scheme == "tfds":
        from genjax.data import tfds_source

        return tfds_source.TfdsSource(rest, split, data_cfg.data_dir, data_cfg.image_size)
    if scheme == "npz":
        return _open_npz(rest, split)
    if scheme == "unpaired":
        from genjax.data import unpaired

        cfg_a, cfg_b = unpaired.domain_configs(data_cfg, rest)
        return unpaired.UnpairedSource(open_source(cfg_a, split), open_source(cfg_b, split), data_cfg.source)
    return _open_folder(rest, split, data_cfg.image_size)


def source_info(data_cfg: Any, split: str) -> SourceInfo:
    """`open_source(...).info` without reading examples where the source allows it (TFDS)."""
    scheme, rest, _ = parse_source(data_cfg.source)
    if scheme == "tfds":
        from genjax.data import tfds_source

        return tfds_source.tfds_info(rest, split, data_cfg.data_dir)
    if scheme == "unpaired":
        from genjax.data import unpaired

        cfg_a, cfg_b = unpaired.domain_configs(data_cfg, rest)
        return unpaired.unpaired_info(source_info(cfg_a, split), source_info(cfg_b, split), data_cfg.source)
    return open_source(data_cfg, split).info


def point_stats(x: np.ndarray) -> dict[str, tuple[float, float]]:
    """`SourceInfo` fields of points x [N, D]: the bounding box (min, max) over all coordinates,
    and the moments (mean, std): the mean over all coordinates and the root mean square of the
    per-axis standard deviations, sqrt(mean_d Var[x_d]). One scalar scale keeps distances
    isotropic."""
    x = np.asarray(x, np.float64)
    return dict(point_range=(float(x.min()), float(x.max())),
                point_moments=(float(x.mean()), float(np.sqrt(x.var(axis=0).mean()))))


def select_split(x: np.ndarray, y: np.ndarray | None, split: str, sizes: dict[str, int], offsets: dict[str, int]):
    """Rows of the in-memory arrays that `split` selects; `offsets` gives each split's first row."""
    name, start, stop = resolve_split(split, sizes)
    rows = slice(offsets[name] + start, offsets[name] + stop)
    return x[rows], (None if y is None else y[rows])


def array_source(
    x: np.ndarray, y: np.ndarray | None, split: str, *, what: str, num_classes: int | None = None, **info_kw
) -> ArraySource:
    """An in-memory source over arrays that hold a single "train" split."""
    if y is not None:
        if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{what}: y must be integer labels of shape [{x.shape[0]}], got {y.dtype} {y.shape}")
        if y.min(initial=0) < 0:
            raise ValueError(f"{what}: labels y must be >= 0, found {int(y.min())}")
        y = y.astype(np.int32)
        num_classes = num_classes or int(y.max()) + 1
    x, y = select_split(x, y, split, {"train": x.shape[0]}, {"train": 0})
    if x.ndim == 2:  # points
        x = x.astype(np.float32)
        info = SourceInfo("points", x.shape[1:], num_classes, x.shape[0], **point_stats(x), **info_kw)
        return ArraySource(info, x, y)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{what}: x must be points [N, D] or images [N, H, W] / [N, H, W, C] with C in "
                         f"(1, 3, 4), got shape {x.shape}")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.floating) or x.min() < 0 or x.max() > 1:
            raise ValueError(f"{what}: images must be uint8 in [0, 255] or floats in [0, 1]; got {x.dtype} "
                             f"with range [{x.min()}, {x.max()}]")
        x = x.astype(np.float32)
    info = SourceInfo("image", x.shape[1:], num_classes, x.shape[0], uint8=x.dtype == np.uint8, **info_kw)
    return ArraySource(info, x, y)


def _open_npz(path: str, split: str) -> ArraySource:
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise ValueError(f"data.source npz:{path}: no such file")
    with np.load(path, allow_pickle=False) as f:
        if "x" not in f.files:
            raise ValueError(f"data.source npz:{path}: the file has no array 'x' (arrays: {f.files})")
        x, y = f["x"], (f["y"] if "y" in f.files else None)
    return array_source(x, y, split, what=f"data.source npz:{path}")


def _load_image(path: Path, image_size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("L") if im.mode in ("1", "L", "I;16", "I", "F") else im.convert("RGB")
            if image_size is not None and im.size != (image_size[1], image_size[0]):
                im = im.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
    except OSError as e:
        raise ValueError(f"data.source folder: cannot read image {path}: {e}") from e
    return a[..., None] if a.ndim == 2 else a


def _open_folder(path: str, split: str, image_size: Any) -> ArraySource:
    from genjax.data.preprocess import image_hw

    root = Path(os.path.expanduser(path))
    if not root.is_dir():
        raise ValueError(f"data.source folder:{path}: no such directory")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not classes:
        raise ValueError(f"data.source folder:{path}: expected one sub-folder per class, found none")
    files, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [label] * len(found)
    if not files:
        raise ValueError(f"data.source folder:{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in {classes}")
    hw = image_hw(image_size) if image_size is not None else None
    images = [_load_image(p, hw) for p in files]
    shapes = {}
    for p, im in zip(files, images):
        shapes.setdefault(im.shape[:2], p)
    if len(shapes) > 1:
        (s0, p0), (s1, p1) = list(shapes.items())[:2]
        raise ValueError(
            f"data.source folder:{path}: images of mixed shapes, e.g. {p0} is {s0[0]}x{s0[1]} and {p1} is "
            f"{s1[0]}x{s1[1]}; set data.image_size to resize every image on loading"
        )
    channels = max(im.shape[-1] for im in images)
    if channels == 3:  # colour folders may hold a few grayscale images
        images = [np.repeat(im, 3, axis=-1) if im.shape[-1] == 1 else im for im in images]
    x = np.stack(images)
    y = np.asarray(labels, np.int32)
    return array_source(x, y, split, what=f"data.source folder:{path}", num_classes=len(classes),
                        class_names=tuple(classes))
