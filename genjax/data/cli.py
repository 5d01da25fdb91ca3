"""`genjax data prepare NAME --from DIR [--data-dir D]`, `genjax data info SOURCE` and
`genjax data export SOURCE --out FILE.npz`.

`register(subparsers)` adds the `data` command to the genjax CLI (`genjax.cli`, whose error
boundary reports its failures).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from genjax.config import data_config
from genjax.data.pipeline import load_examples, load_metadata
from genjax.data.prepare import CHECKSUMS, prepare
from genjax.data.prepare_audio import NAME as SPOKEN_DIGIT
from genjax.data.prepare_audio import prepare_spoken_digit
from genjax.logging import to_uint8


def _prepare(args: argparse.Namespace) -> int:
    if args.name == SPOKEN_DIGIT:
        path = prepare_spoken_digit(args.from_dir, data_dir=args.data_dir, overwrite=args.overwrite)
    else:
        path = prepare(args.name, args.from_dir, data_dir=args.data_dir, overwrite=args.overwrite)
    print(
        f"prepared tfds:{args.name} in {path}; read it with data.source='tfds:{args.name}'"
        + (f" and data.data_dir='{args.data_dir}'" if args.data_dir else "")
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    cfg = data_config()
    cfg.source, cfg.data_dir, cfg.split = args.source, args.data_dir, args.split
    print(json.dumps(dataclasses.asdict(load_metadata(cfg)), indent=2))
    return 0


def export(
    source: str,
    out: str,
    *,
    split: str = "train",
    num: int = 0,
    seed: int = 0,
    data_dir: str | None = None,
    image_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Writes examples of a data source to an .npz that `genjax fid` and `genjax detect` read.

    `num` examples chosen at random without replacement with `seed`, in random order (split-based
    statistics such as the Inception Score assume exchangeable examples; a sorted split, e.g. audio
    files by digit, is not), or with `num` 0 the whole split in its order. Images are written as
    `x` uint8 [N, H, W, C] (resized to `image_size` as training would), audio as float32 waveforms
    [N, T, 1] in [-1, 1], points as float32 [N, D]; `y` too when the data has labels. Text has no
    export."""
    if not out.endswith(".npz"):
        raise ValueError(f"--out {out}: must end in .npz")
    cfg = data_config()
    cfg.source, cfg.data_dir, cfg.split, cfg.image_size = source, data_dir, split, image_size
    meta = load_metadata(cfg)
    if meta.kind == "text":
        raise ValueError(f"{source}: text has no array export; its files are the data")
    if not 0 <= num <= meta.num_examples:
        raise ValueError(f"--num {num}: split {split!r} of {source} has {meta.num_examples} examples")
    examples = load_examples(cfg, meta.num_examples, split=split)
    if num:
        keep = np.random.default_rng(seed).choice(meta.num_examples, num, replace=False)
        examples = {k: v[keep] for k, v in examples.items()}
    arrays = {"x": to_uint8(examples["x"], meta.value_range) if meta.kind == "image" else examples["x"]}
    if "y" in examples:
        arrays["y"] = np.asarray(examples["y"])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    return arrays


def _export(args: argparse.Namespace) -> int:
    arrays = export(args.source, args.out, split=args.split, num=args.num, seed=args.seed,
                    data_dir=args.data_dir, image_size=args.image_size)  # fmt: skip
    x = arrays["x"]
    print(f"wrote {args.out}: x {x.dtype} {list(x.shape)}" + (" and labels y" if "y" in arrays else ""))
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Adds `data prepare`, `data info` and `data export` to an argparse sub-parser set; each sets `func(args)`."""
    data = subparsers.add_parser("data", help="prepare and inspect datasets")
    sub = data.add_subparsers(dest="data_command", required=True)
    p = sub.add_parser("prepare", help="build a TFDS array_record dataset from the original files (no TensorFlow)")
    p.add_argument("name", choices=sorted([*CHECKSUMS, SPOKEN_DIGIT]))
    p.add_argument(
        "--from",
        dest="from_dir",
        required=True,
        metavar="DIR",
        help="folder with train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-... (MNIST), or with "
        "SHA256SUMS and recordings/ (spoken_digit)",
    )
    p.add_argument("--data-dir", default=None, help="TFDS data dir (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    p.add_argument("--overwrite", action="store_true", help="rebuild when the dataset is already prepared")
    p.set_defaults(func=_prepare)
    i = sub.add_parser("info", help="print the metadata of a data source")
    i.add_argument("source", help="e.g. builtin:ring8, tfds:mnist, npz:PATH, folder:PATH, audio:PATH")
    i.add_argument("--split", default="train")
    i.add_argument("--data-dir", default=None)
    i.set_defaults(func=_info)
    e = sub.add_parser("export", help="write examples of a data source to an .npz (for genjax fid / detect)")
    e.add_argument("source", help="e.g. builtin:digits, tfds:mnist, audio:PATH")
    e.add_argument("--out", required=True, help="FILE.npz: x (uint8 images, float audio/points) and y (labels)")
    e.add_argument("--split", default="train")
    e.add_argument(
        "--num",
        type=int,
        default=0,
        help="examples chosen at random with --seed, in random order (0: the whole split, in order)",
    )
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--image-size", type=int, default=None, help="resize images to this size, as training does")
    e.add_argument("--data-dir", default=None)
    e.set_defaults(func=_export)
    return data
