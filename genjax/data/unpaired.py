"""Unpaired two-domain image data, `unpaired:SRC_A|SRC_B`, for translation models (CycleGAN)
between two datasets, e.g. `unpaired:tfds:mnist|tfds:fashion_mnist`.

Example i is image A[i] and image B[perm[i]] concatenated on the channel axis, [H, W, 2C], with
perm a fixed random permutation of B's split (seed 0). Nothing relates the two halves of an
example, so the domains stay unpaired while batches, shuffling, sharding and resumption are the
ones of a single source. The split has min(|A|, |B|) examples: a random subset of the larger
domain. Labels are dropped. Both domains need one image size and one channel count.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from genjax.data.base import Source, SourceInfo

SEPARATOR = "|"


def split_sources(rest: str) -> tuple[str, str]:
    """ "SRC_A|SRC_B" -> ("SRC_A", "SRC_B")."""
    parts = rest.split(SEPARATOR)
    if len(parts) != 2 or not all(parts):
        raise ValueError(
            f"data.source unpaired:{rest}: expected two sources, unpaired:SRC_A{SEPARATOR}SRC_B, "
            f"e.g. unpaired:tfds:mnist{SEPARATOR}tfds:fashion_mnist"
        )
    if any(p.startswith("unpaired:") for p in parts):
        raise ValueError(f"data.source unpaired:{rest}: the two domains must be plain sources, not unpaired ones")
    return parts[0], parts[1]


def unpaired_info(a: SourceInfo, b: SourceInfo, source: str) -> SourceInfo:
    """The info of the channel-concatenated source, with clear errors for domains that don't fit."""
    for name, info in (("A", a), ("B", b)):
        if info.kind != "image":
            raise ValueError(f"data.source {source}: domain {name} holds {info.kind}; unpaired data are images")
    if a.shape != b.shape or None in a.shape:
        raise ValueError(
            f"data.source {source}: domain A's images are {a.shape} and domain B's {b.shape} "
            "([H, W, C]); both domains need one fixed size and channel count (set data.image_size "
            "for image folders, or pick sources of one format)"
        )
    if a.uint8 != b.uint8:
        raise ValueError(f"data.source {source}: one domain holds 8-bit images and the other float images")
    splits = tuple(s for s in a.splits if s in b.splits)
    return SourceInfo(
        "image", (*a.shape[:2], 2 * a.shape[2]), None, min(a.num_examples, b.num_examples), splits=splits, uint8=a.uint8
    )


class UnpairedSource(Source):
    """x = concat(A[i], B[perm[i]]) on channels; see the module docstring."""

    def __init__(self, a: Source, b: Source, source: str):
        self.a, self.b = a, b
        self.info = unpaired_info(a.info, b.info, source)
        self.perm = np.random.default_rng(0).permutation(len(b))[: self.info.num_examples]

    def read(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = np.asarray(indices)
        x_a, x_b = self.a.read(indices)["x"], self.b.read(self.perm[indices])["x"]
        return {"x": np.concatenate([x_a, x_b], axis=-1)}


def domain_configs(data_cfg: Any, rest: str) -> tuple[Any, Any]:
    """Copies of the data config whose source is domain A's and domain B's."""
    out = []
    for src in split_sources(rest):
        c = copy.deepcopy(data_cfg)
        c.source = src
        out.append(c)
    return out[0], out[1]
