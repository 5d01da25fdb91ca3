"""grain input pipelines: the training iterator, finite evaluation passes and reference examples.

Training stream of process p of P (each process reads only its part of the split):

    indices of the split [0, N) -> this process's contiguous part [p N / P, (p + 1) N / P)
    -> shuffle (reseeded every epoch) -> repeat forever -> (epoch, index) of each example
    -> batches of batch_size // P -> read the batch from the source + preprocess (random_map,
    seeded by the batch's position; binarization keyed by (seed, epoch, index) of each example)

Every batch is a pure function of (config, seed, process, position), so the iterator's state is
the position of the next batch: restoring it reproduces exactly the batches an uninterrupted run
would have seen, with any number of worker processes.

Binarized data (data.binarize): training examples are binarized afresh every epoch, example i of
epoch e with the key (config.seed, e, i) (dynamic binarization); held-out passes
(`iterate_split`, `load_examples`) use one fixed binarization, the keys (EVAL_BINARIZATION_SEED = 0,
0, i), whatever the run's seed, so every run is evaluated on the same binary images.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import multiprocessing
from typing import Any, Iterator

import grain
import numpy as np

from genjax.data.base import ArraySource, Source, SourceInfo
from genjax.data.config import check_data_config, local_batch_size
from genjax.data.iterator_state import STATE_VERSION, restored_position
from genjax.data.metadata import DatasetMetadata
from genjax.data.preprocess import Preprocess, example_keys, image_hw
from genjax.data.sources import open_source, source_info


EVAL_BINARIZATION_SEED = 0  # the fixed binarization of held-out data, independent of config.seed


def _seed(*entropy: int) -> int:
    """A 32-bit seed (grain's range) derived from integers, e.g. (seed, process, purpose)."""
    return int(np.random.SeedSequence([int(e) for e in entropy]).generate_state(1, np.uint32)[0])


def eval_split(data_cfg: Any) -> str:
    """data.eval_split, or "test" when the source has it, else data.split."""
    if data_cfg.eval_split:
        return data_cfg.eval_split
    info = source_info(data_cfg, data_cfg.split)
    return "test" if "test" in info.splits else data_cfg.split


def _metadata(data_cfg: Any, info: SourceInfo) -> DatasetMetadata:
    shape = tuple(info.shape)
    if info.kind == "image":
        if data_cfg.image_size is not None:
            shape = (*image_hw(data_cfg.image_size), shape[-1])
        value_range = tuple(float(v) for v in data_cfg.value_range)
        bits = 1 if data_cfg.binarize else (8 if info.uint8 else None)
    elif info.kind == "text":
        value_range, bits = (0.0, float(info.vocab_size - 1)), None
    elif info.kind == "audio":
        value_range, bits = (-1.0, 1.0), None
    else:
        value_range, bits = info.point_range, None
    return DatasetMetadata(
        name=data_cfg.source,
        kind=info.kind,
        shape=shape,
        num_classes=info.num_classes,
        value_range=value_range,
        num_examples=info.num_examples,
        modes=info.modes,
        mode_std=info.mode_std,
        class_names=info.class_names,
        bits=bits,
        point_moments=info.point_moments,
        vocab=info.vocab,
        vocab_size=info.vocab_size,
        sample_rate=info.sample_rate,
        num_samples=shape[0] if info.kind == "audio" else None,
    )


def load_metadata(data_cfg: Any, split: str | None = None) -> DatasetMetadata:
    """Shape, classes, value range and size of `split` (default data.split), without iterating."""
    check_data_config(data_cfg)
    return _metadata(data_cfg, source_info(data_cfg, split or data_cfg.split))


def _preprocess(data_cfg: Any, info: SourceInfo) -> Preprocess:
    if info.kind == "image" and not info.uint8 and data_cfg.dequantize:
        raise ValueError(f"data.dequantize needs 8-bit images; {data_cfg.source} holds float images")
    if info.kind == "audio":
        image_only = [f for f in ("dequantize", "binarize", "random_flip", "image_size") if data_cfg[f]]
        if image_only:
            raise ValueError(f"data.{image_only[0]} applies to images; {data_cfg.source} holds audio: unset it")
    return Preprocess(
        kind=info.kind,
        uint8=info.uint8,
        hw=image_hw(data_cfg.image_size) if data_cfg.image_size is not None else None,
        value_range=tuple(float(v) for v in data_cfg.value_range),
        dequantize=bool(data_cfg.dequantize),
        binarize=bool(data_cfg.binarize),
        random_flip=bool(data_cfg.random_flip),
    )


class _EpochAndIndex:
    """grain map_with_index transform of the repeated stream: position k, example i -> [k // n, i]."""

    def __init__(self, examples_per_epoch: int):
        self.n = examples_per_epoch

    def __call__(self, position: int, index: int) -> np.ndarray:
        return np.array([position // self.n, index])


class _ReadBatch:
    """grain random_map transform: [b, 2] (epoch, index) rows -> preprocessed batch; source row i
    is example i + offset of the split. Picklable for workers."""

    def __init__(self, source: Source, preprocess: Preprocess, seed: int, offset: int = 0):
        self.source, self.preprocess, self.seed, self.offset = source, preprocess, seed, offset

    def __call__(self, rows: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        epoch, index = rows[:, 0], rows[:, 1]
        keys = example_keys(self.seed, epoch, index + self.offset)
        return self.preprocess(self.source.read(index), rng, keys=keys)


def _eval_keys(index: np.ndarray) -> np.ndarray:
    """The fixed binarization keys of held-out examples `index` of a split."""
    return example_keys(EVAL_BINARIZATION_SEED, np.zeros_like(index), index)


_WORKER_BATCHES: grain.MapDataset | None = None


def _worker_init(batches: grain.MapDataset) -> None:
    global _WORKER_BATCHES
    _WORKER_BATCHES = batches


def _worker_batch(position: int) -> dict[str, np.ndarray]:
    return _WORKER_BATCHES[position]


class DataIterator(Iterator[dict]):
    """Infinite iterator of {"x": float32 [B_local, ...], "y": int32 [B_local]} batches.

    Batch k is `batches[k]` of a grain MapDataset, a pure function of k. With num_workers = 0 grain
    computes the next `prefetch` batches in background threads; with num_workers > 0 a pool of
    worker processes computes them, up to num_workers * prefetch ahead, delivered in order.
    get_state() / set_state() hold the position of the next batch plus what the stream depends on,
    so a restored iterator continues exactly where the saved one was, with any worker count.
    """

    def __init__(self, batches: grain.MapDataset, fingerprint: dict, num_workers: int, prefetch: int):
        self._batches, self._fingerprint = batches, fingerprint
        self._num_workers, self._prefetch = num_workers, prefetch
        self._position, self._it, self._pool = 0, None, None
        self._pending: collections.deque = collections.deque()

    def _next_from_pool(self) -> dict[str, np.ndarray]:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._num_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(self._batches,),
            )
            self._submitted = self._position
        while len(self._pending) < self._num_workers * max(1, self._prefetch):
            self._pending.append(self._pool.submit(_worker_batch, self._submitted))
            self._submitted += 1
        return self._pending.popleft().result()

    def __next__(self) -> dict[str, np.ndarray]:
        if self._num_workers > 0:
            batch = self._next_from_pool()
        else:
            if self._it is None:
                threads = max(1, min(self._prefetch, 4))
                self._it = iter(
                    self._batches[self._position :].to_iter_dataset(
                        grain.ReadOptions(num_threads=threads, prefetch_buffer_size=self._prefetch)
                    )
                )
            batch = next(self._it)
        self._position += 1
        return {k: np.asarray(v) for k, v in batch.items()}

    def get_state(self) -> dict:
        return {"version": STATE_VERSION, "next_batch": self._position, **self._fingerprint}

    def set_state(self, state: dict, *, step: int | None = None) -> None:
        """Continues from a saved `state`, refused (DataError) unless it is a valid state of this
        stream; with `step`, the train steps taken from this stream when it was saved, its
        position must be `step` (see `genjax.data.iterator_state.restored_position`)."""
        position = restored_position(state, self._fingerprint, len(self._batches), step)
        self.close()
        self._position = position

    def restart_at(self, position: int) -> None:
        """Continues at batch `position` of this stream, with no saved state to check (a checkpoint
        whose stream had another process layout: see `genjax.train.build`)."""
        if position < 0:
            raise ValueError(f"position must be >= 0, got {position}")
        self.close()
        self._position = position

    def close(self) -> None:
        """Stops prefetching threads and worker processes; next() starts them again."""
        it, self._it = self._it, None
        if it is not None and hasattr(it, "close"):
            it.close()
        pool, self._pool = self._pool, None
        self._pending.clear()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


def cache_part(source: Source, start: int, stop: int, chunk: int = 4096) -> ArraySource:
    """Examples [start, stop) of `source` decoded into memory (raw, before preprocessing)."""
    if isinstance(source, ArraySource):
        return ArraySource(
            dataclasses.replace(source.info, num_examples=stop - start),
            source.x[start:stop],
            None if source.y is None else source.y[start:stop],
        )
    parts = [source.read(np.arange(i, min(i + chunk, stop))) for i in range(start, stop, chunk)]
    x = np.concatenate([p["x"] for p in parts])
    labelled = "y" in parts[0]  # pragma: no mutate (every part has the same keys)
    y = np.concatenate([p["y"] for p in parts]) if labelled else None
    return ArraySource(dataclasses.replace(source.info, num_examples=stop - start), x, y)


def make_iterator(
    data_cfg: Any,
    *,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
    split: str | None = None,
    batch_size: int | None = None,
    start_example: int = 0,
) -> DataIterator:
    """The infinite, shuffled, preprocessed training stream of this process.

    batch_size: the global batch (default data.batch_size). start_example: examples of this
    process's shuffled, repeated stream to skip before the first batch (a growing objective's
    stage continues the stream of the previous stages with its own batch size).
    """
    check_data_config(data_cfg)
    batch_size = data_cfg.batch_size if batch_size is None else batch_size
    if start_example < 0:
        raise ValueError(f"start_example must be >= 0, got {start_example}")
    b_local = local_batch_size(batch_size, process_count)
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index={process_index} must be in [0, process_count={process_count})")
    split = split or data_cfg.split
    source = open_source(data_cfg, split)
    n = len(source)
    start, stop = process_index * n // process_count, (process_index + 1) * n // process_count
    if stop - start < 1:
        raise ValueError(f"data.split {split!r} has {n} examples, fewer than the {process_count} processes")
    shuffle_seed = data_cfg.shuffle_seed if data_cfg.shuffle_seed is not None else seed
    offset = 0
    if data_cfg.cache:
        source, offset, start, stop = cache_part(source, start, stop), start, 0, stop - start
    ds = grain.MapDataset.range(start, stop)
    if data_cfg.shuffle:
        ds = ds.shuffle(seed=_seed(shuffle_seed, process_index, 0))
    ds = ds.repeat(None).map_with_index(_EpochAndIndex(stop - start))
    if start_example:
        ds = ds[start_example:]
    ds = ds.batch(b_local, drop_remainder=True, batch_fn=np.asarray)
    augment_seed = _seed(seed, process_index, 1, *([start_example] if start_example else []))
    ds = ds.random_map(_ReadBatch(source, _preprocess(data_cfg, source.info), seed, offset), seed=augment_seed)
    fingerprint = dict(
        source=data_cfg.source,
        split=split,
        batch_size=batch_size,
        process_index=process_index,
        process_count=process_count,
        shuffle=bool(data_cfg.shuffle),
        shuffle_seed=int(shuffle_seed),
        seed=int(seed),
    )
    if start_example:
        fingerprint["start_example"] = int(start_example)
    return DataIterator(ds, fingerprint, data_cfg.num_workers, data_cfg.prefetch)


def iterate_split(
    data_cfg: Any,
    *,
    split: str | None = None,
    batch_size: int | None = None,
    process_index: int = 0,
    process_count: int = 1,
    seed: int = 0,
) -> Iterator[dict[str, np.ndarray]]:
    """One pass over this process's part of `split` (default: eval_split), in order, no augmentation.

    Every process yields the same number of batches of batch_size // process_count examples (default
    data.batch_size). With data.drop_remainder the last partial batch is dropped; otherwise it is
    padded (repeating the last example) and "mask" (float32 [B_local]) is 0 on the padding.
    """
    check_data_config(data_cfg)
    b_local = local_batch_size(batch_size or data_cfg.batch_size, process_count)
    split = split or eval_split(data_cfg)
    source = open_source(data_cfg, split)
    preprocess = _preprocess(data_cfg, source.info)
    n = len(source)
    start, stop = process_index * n // process_count, (process_index + 1) * n // process_count
    if data_cfg.drop_remainder:
        num_batches = (n // process_count) // b_local
    else:
        per_process = -(-n // process_count)  # ceil: the largest part
        num_batches = -(-per_process // b_local)
    rng = np.random.default_rng([seed, process_index])
    for i in range(num_batches):
        idx = np.arange(start + i * b_local, start + (i + 1) * b_local)
        mask = (idx < stop).astype(np.float32)
        idx = np.minimum(idx, stop - 1)
        batch = preprocess(source.read(idx), rng, augment=False, keys=_eval_keys(idx))
        if not data_cfg.drop_remainder:
            batch["mask"] = mask
        yield batch


def load_examples(data_cfg: Any, num: int, *, split: str | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """The first `num` examples of `split` (default: eval_split), preprocessed without augmentation.

    Dequantization noise, which defines the data rather than augments it, is drawn from `seed`;
    binarization is the fixed one of held-out data (EVAL_BINARIZATION_SEED); random flips are not
    applied.
    """
    check_data_config(data_cfg)
    split = split or eval_split(data_cfg)
    source = open_source(data_cfg, split)
    if not 0 < num <= len(source):
        raise ValueError(f"load_examples: num={num} must be in [1, {len(source)}] (the size of split {split!r})")
    preprocess = _preprocess(data_cfg, source.info)
    index = np.arange(num)
    return preprocess(source.read(index), np.random.default_rng(seed), augment=False, keys=_eval_keys(index))
