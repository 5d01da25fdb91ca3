"""Reference features cached per dataset, split, resolution and extractor.

Features of the real data are computed once and stored as
`<cache>/reference/<extractor>/<dataset>_<split>_<H>x<W>x<C>_n<N>_<hash>.npz`; the content
hash of the images makes a stale file impossible to hit. The file keeps the features (KID,
precision/recall need them) and the Gaussian statistics (mu, sigma) that FID needs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from genjax.metrics.features import Extractor, extract
from genjax.metrics.stats import gaussian_stats
from genjax.metrics.weights import cache_dir


def content_hash(images: np.ndarray) -> str:
    h = hashlib.sha1()
    h.update(str((images.shape, images.dtype.str)).encode())
    h.update(np.ascontiguousarray(images).data)
    return h.hexdigest()[:12]


def reference_path(extractor: str, dataset: str, split: str, images: np.ndarray) -> Path:
    shape = "x".join(str(s) for s in images.shape[1:])
    name = f"{dataset}_{split}_{shape}_n{len(images)}_{content_hash(images)}.npz"
    return cache_dir() / "reference" / extractor / name


def reference_features(
    extractor: Extractor,
    images: np.ndarray,
    value_range: tuple[float, float],
    *,
    dataset: str,
    split: str,
    **extract_kw,
) -> dict[str, np.ndarray]:
    """Cached `extract(extractor, images, ...)` plus "mu" and "sigma" of the features."""
    images = np.asarray(images)
    path = reference_path(extractor.name, dataset, split, images)
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    out = extract(extractor, images, value_range, **extract_kw)
    out["mu"], out["sigma"] = gaussian_stats(out["features"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, path)
    return out
