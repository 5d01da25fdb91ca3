"""Synthetic-image detection on scikit-learn's 8x8 digits with known artifacts: the real images
against three "fake" sets made from held-apart digits, (a) plus a +-16 checkerboard,
(b) blurred by a 3x3 box filter, (c) unchanged (a copy of the real distribution: AUC ~ 0.5).
Writes the four sets as .npz files into OUT and runs `genjax detect table` on them, so the
detector, the split and the numbers are the command line's.

    python benchmarks/detection_artifacts.py --out runs/detect_digits
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from genjax.cli import main as genjax_main


def artifact_sets(seed: int = 0) -> dict[str, np.ndarray]:
    """{"real", "checkerboard", "blur", "copy"}: uint8 [N, 8, 8, 1] each, disjoint digits."""
    x = np.round(load_digits().images * (255 / 16)).astype(np.int32)  # [1797, 8, 8] in 0..255
    x = x[np.random.default_rng(seed).permutation(len(x))]
    real, board, blur, copy = np.array_split(x, 4)
    sign = np.where((np.arange(8)[:, None] + np.arange(8)[None]) % 2 == 0, 16, -16)
    padded = np.pad(blur, ((0, 0), (1, 1), (1, 1)), mode="edge")
    blurred = sum(padded[:, i : i + 8, j : j + 8] for i in range(3) for j in range(3)) / 9
    sets = {"real": real, "checkerboard": board + sign, "blur": np.round(blurred), "copy": copy}
    return {k: np.clip(v, 0, 255).astype(np.uint8)[..., None] for k, v in sets.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/detect_digits")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, x in artifact_sets(args.seed).items():
        np.savez(out / f"{name}.npz", x=x)
    fakes = [f"--fake={n}={out / n}.npz" for n in ("checkerboard", "blur", "copy")]
    table = ["detect", "table", "--real", str(out / "real.npz"), *fakes, "--steps", str(args.steps)]
    return genjax_main([*table, "--seed", str(args.seed), "--out", str(out / "table.md")])


if __name__ == "__main__":
    raise SystemExit(main())
