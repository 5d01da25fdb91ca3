"""Images/s of jitted feature extraction (FID Inception-v3 and the MNIST domain classifier).

    python benchmarks/fid_throughput.py --extractor inception --num 512 --batch-size 64
    python benchmarks/fid_throughput.py --extractor mnist --num 10000 --batch-size 500

Inputs are random uint8 images of --size (28x28x1 by default, resized to 299 for Inception).
The first batch (compilation) is excluded from the timing.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import genjax
from genjax.metrics import extract, get_extractor

genjax.configure_cpu()  # the command line's CPU fast path, before JAX starts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extractor", default="inception")
    parser.add_argument("--num", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--size", default="28x28x1", help="HxWxC of the input images")
    args = parser.parse_args()
    shape = tuple(int(s) for s in args.size.split("x"))
    images = np.random.default_rng(0).integers(0, 256, (args.num,) + shape, dtype=np.uint8)
    extractor = get_extractor(args.extractor)
    extract(extractor, images[: args.batch_size], (0, 255), batch_size=args.batch_size)  # compile
    start = time.perf_counter()
    extract(extractor, images, (0, 255), batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    print(
        f"{args.extractor} {args.size} batch {args.batch_size} on {jax.device_count()} x "
        f"{jax.devices()[0].platform}: {args.num / seconds:.1f} images/s ({seconds:.1f} s for {args.num})"
    )


if __name__ == "__main__":
    main()
