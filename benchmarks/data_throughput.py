"""Input-pipeline throughput: examples/s of `genjax.data.make_iterator` for a TFDS source.

    python benchmarks/data_throughput.py --data-dir DIR [--from IDX_DIR] [--batch 256] [--workers 0 2]

Without a prepared `mnist` in DIR, pass --from with the original idx .gz files to prepare it
first. Prints one line per worker count: examples/s after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import time

from genjax.config import data_config
from genjax.data import make_iterator
from genjax.data.prepare import prepare


def throughput(data_cfg, warmup: int, batches: int) -> float:
    it = make_iterator(data_cfg, seed=0)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    elapsed = time.perf_counter() - start
    it.close()
    return batches * data_cfg.batch_size / elapsed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default="tfds:mnist")
    p.add_argument("--data-dir", default=os.environ.get("TFDS_DATA_DIR"))
    p.add_argument("--from", dest="from_dir", help="idx .gz files to prepare mnist from when it is missing")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--batches", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--dequantize", action="store_true")
    p.add_argument("--cache", action="store_true", help="data.cache: decode the split into memory first")
    args = p.parse_args(argv)
    if args.from_dir:
        prepare(args.source.split(":")[1], args.from_dir, data_dir=args.data_dir)
    cfg = data_config()
    cfg.source, cfg.data_dir, cfg.batch_size, cfg.dequantize = args.source, args.data_dir, args.batch, args.dequantize
    cfg.cache = args.cache
    for workers in args.workers:
        cfg.num_workers = workers
        rate = throughput(cfg, args.warmup, args.batches)
        print(f"{args.source} batch {args.batch} workers {workers} cache {args.cache}: {rate:,.0f} examples/s")


if __name__ == "__main__":
    main()
