"""Command line: `genjax detect train | score | table`, synthetic-image detection.

    genjax detect train --real real/ --fake samples.npz --out detector/
    genjax detect score --model detector/ --images more.npz --labels labels.txt --out scores.csv
    genjax detect table --real real.npz --fake gan=gan.npz --fake ddpm=ddpm.npz --out table.md

Image sets are what `genjax fid` reads: an .npz with `x` (uint8 [N, H, W, C]) or a folder of
images; `genjax.cli` adds trained workdirs, whose samples it draws. The detector (JAX, Flax)
is imported when a command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Callable

import numpy as np

from genjax.metrics.cli import load_images

Loader = Callable[[str, int, int], np.ndarray]  # (path, num (0: all), seed) -> uint8 [N, H, W, C]


def load_image_set(path: str, num: int = 0, seed: int = 0) -> np.ndarray:
    """An image set as `genjax fid` reads it, its first `num` images (0: all); `seed` is unused
    here (a workdir's samples take it)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such file or folder (an .npz with 'x' or a folder of images)")
    x = load_images(path)
    return x[:num] if num else x


def read_labels(path: str, n: int) -> np.ndarray:
    """0 (real) / 1 (fake) per image, from an .npy or a text file with one label a line."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--labels {path}: no such file (an .npy or text file of 0/1, one per image)")
    y = np.load(p) if p.suffix == ".npy" else np.loadtxt(p, ndmin=1)
    if y.shape != (n,) or not np.isin(y, (0, 1)).all():
        raise ValueError(f"--labels {path}: expected {n} labels of 0 (real) or 1 (fake), got shape {y.shape}")
    return y.astype(np.int32)


def _check_shapes(named: dict[str, np.ndarray]) -> None:
    shapes = {name: x.shape[1:] for name, x in named.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"image shapes differ: {shapes}; resize the sets to one shape")


def _train_kwargs(args: argparse.Namespace) -> dict:
    return dict(steps=args.steps, batch_size=args.batch_size, val_fraction=args.val_fraction, seed=args.seed)


def run_train(args: argparse.Namespace, load: Loader) -> dict[str, float]:
    from genjax.metrics.detect import train_detector

    real, fake = load(args.real, args.num, args.seed), load(args.fake, args.num, args.seed + 1)
    _check_shapes({args.real: real, args.fake: fake})
    detector, metrics = train_detector(real, fake, **_train_kwargs(args))
    detector.save(args.out)
    (Path(args.out) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    for key, value in metrics.items():
        print(f"{key}: {value:.6g}")
    return metrics


def run_score(args: argparse.Namespace, load: Loader) -> dict[str, float]:
    from genjax.metrics.detect import Detector, roc_auc

    detector = Detector.load(args.model)
    x = load(args.images, args.num, args.seed)
    labels = read_labels(args.labels, len(x)) if args.labels else None
    probs = detector.probabilities(x)
    out = Path(args.out)
    if out.suffix == ".csv":
        with out.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["index", "p_fake"] + (["label"] if labels is not None else []))
            for i, p in enumerate(probs):
                w.writerow([i, f"{p:.6g}"] + ([int(labels[i])] if labels is not None else []))
    else:
        out.write_text(json.dumps({"p_fake": probs.tolist()}))
    result = {"mean_p_fake": float(probs.mean())}
    if labels is not None:
        result["auc"] = roc_auc(labels, probs)
    for key, value in result.items():
        print(f"{key}: {value:.6g}")
    return result


def cross_family_table(real: np.ndarray, fakes: dict[str, np.ndarray], **train_kwargs) -> dict[str, dict[str, float]]:
    """AUC[trained on][tested on]: a detector per fake set, tested on the held-out real images
    against the held-out images of every fake set."""
    from genjax.metrics.detect import roc_auc, split, train_detector

    rng = np.random.default_rng(train_kwargs.get("seed", 0) + 12345)
    val_fraction = train_kwargs.get("val_fraction", 0.25)
    real_tr, real_te = split(len(real), val_fraction, rng)
    held = {name: split(len(x), val_fraction, rng) for name, x in fakes.items()}
    table = {}
    for name, x in fakes.items():
        detector, _ = train_detector(real[real_tr], x[held[name][0]], **train_kwargs)
        s_real = detector.logits(real[real_te])
        table[name] = {}
        for other, y in fakes.items():
            s_fake = detector.logits(y[held[other][1]])
            labels = np.concatenate([np.zeros(len(s_real)), np.ones(len(s_fake))])
            table[name][other] = roc_auc(labels, np.concatenate([s_real, s_fake]))
    return table


def markdown_table(table: dict[str, dict[str, float]]) -> str:
    names = list(table)
    rows = ["| trained on \\ tested on | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    rows += [f"| {a} | " + " | ".join(f"{table[a][b]:.3f}" for b in names) + " |" for a in names]
    return "\n".join(rows) + "\n"


def _named(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def run_table(args: argparse.Namespace, load: Loader) -> dict[str, dict[str, float]]:
    names = [n for n, _ in args.fake]
    if len(set(names)) != len(names):
        raise ValueError(f"--fake names must differ, got {names}")
    real = load(args.real, args.num, args.seed)
    fakes = {name: load(path, args.num, args.seed + 1 + i) for i, (name, path) in enumerate(args.fake)}
    _check_shapes({args.real: real, **fakes})
    table = cross_family_table(real, fakes, **_train_kwargs(args))
    text = markdown_table(table)
    if args.out:
        out = Path(args.out)
        out.write_text(json.dumps(table, indent=2) if out.suffix == ".json" else text)
    print(text, end="")
    return table


def register(subparsers, load: Loader = load_image_set) -> None:
    """Add `detect` to an argparse subparsers object; `load` reads an image set."""
    d = subparsers.add_parser("detect", help="train and apply a real-vs-synthetic image detector")
    dsub = d.add_subparsers(dest="detect_command", required=True)
    sets = "an .npz with 'x' uint8 [N, H, W, C], a folder of images, or a trained workdir (its samples)"

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--num", type=int, default=0, help="use NUM images of each set (0: all; workdirs: 1000)")
        p.add_argument("--seed", type=int, default=0)

    def training(p: argparse.ArgumentParser) -> None:
        p.add_argument("--steps", type=int, default=300)
        p.add_argument("--batch-size", type=int, default=64)
        p.add_argument("--val-fraction", type=float, default=0.25, help="held out to calibrate and report")

    t = dsub.add_parser("train", help="train a detector of real vs fake; writes DIR/detector.npz, metrics.json")
    t.add_argument("--real", required=True, help=sets)
    t.add_argument("--fake", required=True, help=sets)
    t.add_argument("--out", required=True, help="the detector's folder")
    common(t)
    training(t)
    t.set_defaults(func=lambda a: run_train(a, load))

    s = dsub.add_parser("score", help="calibrated P(fake) per image (.json or .csv); AUC with --labels")
    s.add_argument("--model", required=True, help="a folder written by `genjax detect train`")
    s.add_argument("--images", required=True, help=sets)
    s.add_argument("--labels", help="an .npy or text file of 0 (real) / 1 (fake), one per image")
    s.add_argument("--out", default="scores.json", help="FILE.json or FILE.csv")
    common(s)
    s.set_defaults(func=lambda a: run_score(a, load))

    tb = dsub.add_parser("table", help="cross-family AUCs: train on each fake set, test on every one")
    tb.add_argument("--real", required=True, help=sets)
    tb.add_argument("--fake", required=True, action="append", type=_named, metavar="NAME=PATH")
    tb.add_argument("--out", help="FILE.md or FILE.json (default: print only)")
    common(tb)
    training(tb)
    tb.set_defaults(func=lambda a: run_table(a, load))
