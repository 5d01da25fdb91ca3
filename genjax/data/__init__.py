"""Datasets and input pipelines: built-in sets, TFDS, local files; grain iterators per process.

source = "builtin:digits" | "builtin:ring8" | "tfds:mnist" | "npz:PATH" | "folder:PATH" | ...
meta = load_metadata(config.data)
it = make_iterator(config.data, seed=config.seed, process_index=jax.process_index(),
                   process_count=jax.process_count())
batch = next(it)            # {"x": float32 [B_local, ...], "y": int32 [B_local]}
state = it.get_state()      # JSON-serialisable; it.set_state(state) resumes exactly
Bad data (NaN, non-numeric arrays, bad labels, truncated images, tampered states): DataError.
"""

from genjax.data.checks import DataError
from genjax.data.config import check_batch_size, check_data_config, local_batch_size
from genjax.data.metadata import DatasetMetadata
from genjax.data.pipeline import (
    DataIterator,
    eval_split,
    iterate_split,
    load_examples,
    load_metadata,
    make_iterator,
)

__all__ = [
    "DataError",
    "DataIterator",
    "DatasetMetadata",
    "check_data_config",
    "eval_split",
    "iterate_split",
    "load_examples",
    "load_metadata",
    "check_batch_size",
    "local_batch_size",
    "make_iterator",
]
