"""Checks of `config.data` (its fields and defaults: `genjax.config.data_config`) and of batch sizes."""

from __future__ import annotations

from typing import Any

from genjax.data.preprocess import image_hw
from genjax.data.sources import parse_source


def check_data_config(data_cfg: Any) -> None:
    """Raises ValueError naming the field for values no pipeline can use."""
    parse_source(data_cfg.source)
    for field in ("split",):
        if not isinstance(data_cfg[field], str) or not data_cfg[field]:
            raise ValueError(f"data.{field} must be a split string such as 'train', got {data_cfg[field]!r}")
    if data_cfg.eval_split is not None and not isinstance(data_cfg.eval_split, str):
        raise ValueError(f"data.eval_split must be None or a split string, got {data_cfg.eval_split!r}")
    if not isinstance(data_cfg.batch_size, int) or data_cfg.batch_size < 1:
        raise ValueError(f"data.batch_size must be a positive int (the global batch), got {data_cfg.batch_size!r}")
    if data_cfg.image_size is not None:
        image_hw(data_cfg.image_size)
    vr = tuple(data_cfg.value_range)
    if len(vr) != 2 or not vr[0] < vr[1]:
        raise ValueError(f"data.value_range must be (low, high) with low < high, got {data_cfg.value_range!r}")
    if data_cfg.dequantize and data_cfg.binarize:
        raise ValueError("data.dequantize and data.binarize exclude each other: binarized data is already discrete")
    if not isinstance(data_cfg.num_workers, int) or data_cfg.num_workers < 0:
        raise ValueError(f"data.num_workers must be an int >= 0, got {data_cfg.num_workers!r}")
    if not isinstance(data_cfg.prefetch, int) or data_cfg.prefetch < 0:
        raise ValueError(f"data.prefetch must be an int >= 0, got {data_cfg.prefetch!r}")
    if data_cfg.shuffle_seed is not None and (not isinstance(data_cfg.shuffle_seed, int) or data_cfg.shuffle_seed < 0):
        raise ValueError(f"data.shuffle_seed must be None or an int >= 0, got {data_cfg.shuffle_seed!r}")


def check_batch_size(
    batch_size: int, what: str, *, process_count: int, num_shards: int | None = None, grad_accum: int = 1
) -> None:
    """Raises a ValueError naming `what` unless the global batch splits evenly over the
    processes, the mesh's data shards (when known) and the gradient-accumulation micro-batches."""
    for n, name in (
        (process_count, "processes"),
        (num_shards, "data shards (mesh data x fsdp devices)"),
        (grad_accum, "micro-batches of config.train.grad_accum"),
    ):
        if n and batch_size % n:
            raise ValueError(
                f"{what}: the global batch {batch_size} is not divisible by the {n} {name}; use a multiple of {n}"
            )


def local_batch_size(batch_size: int, process_count: int, num_data_shards: int | None = None) -> int:
    """Per-process batch of a global `batch_size`; checks divisibility by processes and data shards.

    num_data_shards: devices the batch is split over (mesh data x fsdp), when known.
    """
    if process_count < 1:
        raise ValueError(f"process_count must be >= 1, got {process_count}")
    check_batch_size(
        batch_size, f"data.batch_size={batch_size}", process_count=process_count, num_shards=num_data_shards
    )
    return batch_size // process_count
