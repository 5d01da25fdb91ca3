"""Checks of `config.data` (its fields and defaults: `genjax.config.data_config`) and of batch sizes."""

from __future__ import annotations

from typing import Any

from genjax.config_schema import DataFields
from genjax.data.preprocess import image_hw
from genjax.data.sources import parse_source
from genjax.schema import check_section


def check_data_config(data_cfg: Any) -> None:
    """Raises ValueError naming the field for values no pipeline can use: a type or range that
    `genjax.config_schema.DataFields` does not allow, or fields that do not fit together."""
    check_section(DataFields, data_cfg, "config.data")
    scheme, _, _ = parse_source(data_cfg.source)
    if scheme == "text" and data_cfg.cache:
        raise ValueError(
            "config.data.cache=True would copy every window of a text source into memory; text tokens are "
            "memory-mapped already: set data.cache=False"
        )
    if not data_cfg.split:
        raise ValueError("config.data.split must be a split string such as 'train', got ''")
    if data_cfg.image_size is not None:
        image_hw(data_cfg.image_size)
    low, high = data_cfg.value_range
    if not low < high:
        raise ValueError(f"config.data.value_range must be (low, high) with low < high, got {data_cfg.value_range!r}")
    if data_cfg.dequantize and data_cfg.binarize:
        raise ValueError("data.dequantize and data.binarize exclude each other: binarized data is already discrete")


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
