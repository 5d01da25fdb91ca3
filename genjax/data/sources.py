"""Data sources: random-access examples selected by a source string.

    builtin:NAME[?key=value&...]   offline sets (see `genjax.data.builtin`)
    tfds:NAME[/CONFIG][:VERSION]   a prepared TFDS dataset, read through `tfds.data_source`
    npz:PATH                       a NumPy .npz file with arrays `x` and optional `y`
    folder:PATH                    an image folder, one sub-folder per class
    unpaired:SRC_A|SRC_B           two image sources as unpaired domains (`genjax.data.unpaired`)
    text:PATH[?vocab=byte&val=F]   a UTF-8 text file or a folder with train.txt and val.txt, as
                                   windows of data.seq_len + 1 tokens (`genjax.data.text`)
    audio:PATH                     a folder of mono WAV files, as waveforms of data.num_samples
                                   samples (`genjax.data.audio`)

A source yields raw examples (see `genjax.data.base`); preprocessing happens in
`genjax.data.pipeline`.
"""

from __future__ import annotations

import os
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from genjax.data import audio, builtin, checks, text, tfds_source, unpaired
from genjax.data.base import ArraySource, Source, SourceInfo, array_source
from genjax.data.image_files import load_image, strict_decoding
from genjax.data.preprocess import image_hw

SCHEMES = ("builtin", "tfds", "npz", "folder", "unpaired", "text", "audio")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def parse_source(source: str) -> tuple[str, str, dict[str, str]]:
    """Splits "scheme:rest?k=v" into (scheme, rest, params); params only for builtin sources."""
    if not isinstance(source, str):
        raise ValueError(f"data.source must be a string such as 'builtin:digits', got {source!r}")
    scheme, sep, rest = source.partition(":")
    if not sep or scheme not in SCHEMES or not rest:
        raise ValueError(
            f"data.source {source!r} is not a known source; use builtin:NAME (digits, ring8, grid25, "
            "moons, swissroll, ring?modes=K&std=S, grid?modes=K&std=S), tfds:NAME[:VERSION], "
            "npz:PATH, folder:PATH, unpaired:SRC_A|SRC_B or text:PATH[?vocab=byte&val=FRACTION] (a UTF-8 "
            "file or a folder with train.txt and val.txt) or audio:PATH (a folder of .wav files)"
        )
    params: dict[str, str] = {}
    if scheme == "text":
        text.parse_text_source(rest)
    if scheme == "builtin":
        rest, _, query = rest.partition("?")
        for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
            params[key] = value
    return scheme, rest, params


def open_source(data_cfg: Any, split: str) -> Source:
    """The source named by `data_cfg.source`, restricted to `split` (a TFDS split string)."""
    scheme, rest, params = parse_source(data_cfg.source)
    if scheme == "builtin":
        return builtin.open_builtin(rest, params, split, source=data_cfg.source)
    if scheme == "tfds":
        return tfds_source.TfdsSource(
            rest, split, data_cfg.data_dir, data_cfg.image_size, data_cfg.num_samples, data_cfg.sample_rate
        )
    if scheme == "npz":
        return _open_npz(rest, split)
    if scheme == "text":
        return text.open_text(rest, split, data_cfg.seq_len, data_cfg.data_dir)
    if scheme == "audio":
        return audio.open_audio(
            rest, split, data_cfg.num_samples, data_cfg.sample_rate, data_cfg.data_dir, data_cfg.resample
        )
    if scheme == "unpaired":
        cfg_a, cfg_b = unpaired.domain_configs(data_cfg, rest)
        return unpaired.UnpairedSource(open_source(cfg_a, split), open_source(cfg_b, split), data_cfg.source)
    return _open_folder(rest, split, data_cfg.image_size)


def source_info(data_cfg: Any, split: str) -> SourceInfo:
    """`open_source(...).info` without reading examples where the source allows it (TFDS)."""
    scheme, rest, _ = parse_source(data_cfg.source)
    if scheme == "tfds":
        return tfds_source.tfds_info(rest, split, data_cfg.data_dir, data_cfg.num_samples, data_cfg.sample_rate)
    if scheme == "unpaired":
        cfg_a, cfg_b = unpaired.domain_configs(data_cfg, rest)
        return unpaired.unpaired_info(source_info(cfg_a, split), source_info(cfg_b, split), data_cfg.source)
    return open_source(data_cfg, split).info


def _open_npz(path: str, split: str) -> ArraySource:
    path = os.path.expanduser(path)
    what = f"data.source npz:{path}"
    if not os.path.isfile(path):
        raise ValueError(f"{what}: no such file")
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError("it holds one .npy array, not an .npz archive of named arrays")
        with f:
            arrays = {k: f[k] for k in ("x", "y", "num_classes") if k in f.files}
            files = f.files
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise checks.DataError(
            f"{what}: cannot read the arrays ({e}); save plain numeric arrays with np.savez (no object arrays)"
        ) from e
    if "x" not in arrays:
        raise ValueError(f"{what}: the file has no array 'x' (arrays: {files})")
    num_classes = None
    if "num_classes" in arrays:
        if "y" not in arrays:
            raise checks.DataError(
                f"{what}: the file declares 'num_classes' but no labels 'y'; add y or drop num_classes"
            )
        num_classes = checks.declared_classes(arrays["num_classes"], what)
    return array_source(arrays["x"], arrays.get("y"), split, what=what, num_classes=num_classes)


def _open_folder(path: str, split: str, image_size: Any) -> ArraySource:
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
    with strict_decoding():
        images = [load_image(p, hw, f"data.source folder:{path}") for p in files]
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
    return array_source(
        x, y, split, what=f"data.source folder:{path}", num_classes=len(classes), class_names=tuple(classes)
    )
