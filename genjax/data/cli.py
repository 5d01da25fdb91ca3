"""`genjax data prepare NAME --from DIR [--data-dir D]` and `genjax data info SOURCE`.

`register(subparsers)` adds the `data` command to the genjax CLI (`genjax.cli`, whose error
boundary reports its failures).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from genjax.config import data_config
from genjax.data.pipeline import load_metadata
from genjax.data.prepare import CHECKSUMS, prepare
from genjax.data.prepare_audio import NAME as SPOKEN_DIGIT
from genjax.data.prepare_audio import prepare_spoken_digit


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


def register(subparsers) -> argparse.ArgumentParser:
    """Adds `data prepare` and `data info` to an argparse sub-parser set; each sets `func(args)`."""
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
    return data
