"""The grain training stream: determinism, per-process shards, epochs, exact resume, workers."""

import json

import numpy as np
import pytest

from genjax.data import iterate_split, load_examples, local_batch_size, make_iterator


def _take(it, k):
    return [next(it) for _ in range(k)]


def _ids(batches):
    return np.concatenate([b["x"][:, 0] for b in batches]).astype(int)


def test_batch_format(cfg):
    it = make_iterator(cfg, seed=0, process_index=1, process_count=4)
    b = next(it)
    assert b["x"].shape == (32, 8, 8, 1) and b["x"].dtype == np.float32
    assert b["y"].shape == (32,) and b["y"].dtype == np.int32
    assert -1 <= b["x"].min() and b["x"].max() <= 1


def test_same_seed_same_batches(cfg):
    cfg.random_flip, cfg.dequantize = True, True
    a, b = _take(make_iterator(cfg, seed=3), 3), _take(make_iterator(cfg, seed=3), 3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u["x"], v["x"])
        np.testing.assert_array_equal(u["y"], v["y"])
    c = next(make_iterator(cfg, seed=4))
    assert not np.array_equal(a[0]["y"], c["y"])
    cfg.shuffle_seed = 3  # the order follows shuffle_seed, the augmentation noise follows seed
    d = next(make_iterator(cfg, seed=4))
    np.testing.assert_array_equal(a[0]["y"], d["y"])
    assert not np.array_equal(a[0]["x"], d["x"])


@pytest.mark.parametrize("shuffle", [True, False])
def test_two_processes_disjoint_shards_cover_the_epoch(cfg, ids_npz, shuffle):
    """40 examples, global batch 8, 2 processes: each reads its 20 in 5 batches per epoch."""
    cfg.source, cfg.batch_size, cfg.shuffle = ids_npz, 8, shuffle
    epochs = []
    for p in range(2):
        ids = _ids(_take(make_iterator(cfg, seed=0, process_index=p, process_count=2), 10))
        first, second = ids[:20], ids[20:]
        assert sorted(first) == sorted(second)  # each epoch is the whole shard once
        assert shuffle == (list(first) != list(second))  # reshuffled every epoch
        epochs.append(set(first.tolist()))
    assert not epochs[0] & epochs[1]
    assert epochs[0] | epochs[1] == set(range(40))


def test_uneven_shards_still_cover_the_epoch(cfg, ids_npz):
    cfg.source, cfg.batch_size, cfg.split = ids_npz, 3, "train[:37]"
    # Batch 1 per process; parts of 12, 12 and 13 examples.
    parts = [
        set(_ids(_take(make_iterator(cfg, seed=0, process_index=p, process_count=3), size)).tolist())
        for p, size in enumerate((12, 12, 13))
    ]
    assert sum(map(len, parts)) == 37 and set().union(*parts) == set(range(37))


def test_resume_gives_the_same_next_batches(cfg):
    cfg.random_flip, cfg.dequantize, cfg.batch_size = True, True, 512  # 1438 examples: crosses epochs
    it = make_iterator(cfg, seed=1)
    _take(it, 5)
    state = json.loads(json.dumps(it.get_state()))  # checkpoints store it as JSON
    expected = _take(it, 4)
    resumed = make_iterator(cfg, seed=1)
    resumed.set_state(state)
    for u, v in zip(expected, _take(resumed, 4)):
        np.testing.assert_array_equal(u["x"], v["x"])
        np.testing.assert_array_equal(u["y"], v["y"])


def test_restore_into_another_stream_is_refused(cfg):
    state = make_iterator(cfg, seed=0).get_state()
    cfg.batch_size = 64
    with pytest.raises(ValueError, match="batch_size: saved 128, now 64"):
        make_iterator(cfg, seed=0).set_state(state)


@pytest.mark.slow
def test_worker_processes_give_the_same_stream(cfg, ids_npz, tiny_mnist):
    """num_workers only changes who computes a batch: same batches, and states interchange."""
    cfg.source, cfg.data_dir, cfg.batch_size, cfg.dequantize = "tfds:mnist", tiny_mnist[0], 8, True
    ref = make_iterator(cfg, seed=0)
    expected = _take(ref, 6)
    cfg.num_workers = 2
    it = make_iterator(cfg, seed=0)
    got = _take(it, 3)
    state = it.get_state()
    it.close()
    cfg.num_workers = 0
    resumed = make_iterator(cfg, seed=0)
    resumed.set_state(state)
    for u, v in zip(expected, got + _take(resumed, 3)):
        np.testing.assert_array_equal(u["x"], v["x"])
        np.testing.assert_array_equal(u["y"], v["y"])


@pytest.mark.slow
def test_resume_into_worker_processes_continues_the_stream(cfg, ids_npz):
    """A state saved mid-epoch, restored into a new iterator with 2 worker processes, gives the
    batches an uninterrupted single-process stream gives next (across the epoch's end); restoring
    it again into that running iterator rewinds it."""
    cfg.source, cfg.batch_size = ids_npz, 8  # 5 batches an epoch
    expected = _ids(_take(make_iterator(cfg, seed=0), 9))
    it = make_iterator(cfg, seed=0)
    assert list(_ids(_take(it, 2))) == list(expected[:16])
    state = json.loads(json.dumps(it.get_state()))
    cfg.num_workers = 2
    resumed = make_iterator(cfg, seed=0)
    resumed.set_state(state)
    try:
        assert list(_ids(_take(resumed, 7))) == list(expected[16:])
        resumed.set_state(state)
        assert list(_ids(_take(resumed, 3))) == list(expected[16:40])
    finally:
        resumed.close()


@pytest.mark.slow
def test_multi_worker_state_resumes_in_workers_and_in_one_process(cfg, tiny_mnist):
    """A 2-worker iterator stopped after 4 batches (its workers already computing batches ahead),
    its state saved as JSON, continues in a NEW 2-worker iterator and in a single-process one with
    exactly the batches of one uninterrupted single-process stream: pixels (random flips,
    dequantization noise) and labels, across epoch ends (30 examples, 3 batches an epoch)."""
    cfg.source, cfg.data_dir, cfg.batch_size = "tfds:mnist", tiny_mnist[0], 8
    cfg.dequantize, cfg.random_flip = True, True
    expected = _take(make_iterator(cfg, seed=5), 10)
    assert not np.array_equal(expected[0]["x"], expected[3]["x"])  # the batches differ from each other
    cfg.num_workers = 2
    it = make_iterator(cfg, seed=5)
    try:
        got = _take(it, 4)
        state = json.loads(json.dumps(it.get_state()))
    finally:
        it.close()
    assert state["next_batch"] == 4
    resumed_workers = make_iterator(cfg, seed=5)
    resumed_workers.set_state(state)
    try:
        got_workers = _take(resumed_workers, 6)
    finally:
        resumed_workers.close()
    cfg.num_workers = 0
    resumed_single = make_iterator(cfg, seed=5)
    resumed_single.set_state(state)
    got_single = _take(resumed_single, 6)
    for name, stream in (("workers", got + got_workers), ("single", got + got_single)):
        for i, (u, v) in enumerate(zip(expected, stream, strict=True)):
            np.testing.assert_array_equal(v["x"], u["x"], err_msg=f"{name}: batch {i}")
            np.testing.assert_array_equal(v["y"], u["y"], err_msg=f"{name}: batch {i}")


def test_cache_gives_the_same_stream(cfg, tiny_mnist):
    cfg.source, cfg.data_dir, cfg.batch_size = "tfds:mnist", tiny_mnist[0], 8
    expected = _take(make_iterator(cfg, seed=0, process_index=1, process_count=2), 5)
    cfg.cache = True
    for u, v in zip(expected, _take(make_iterator(cfg, seed=0, process_index=1, process_count=2), 5)):
        np.testing.assert_array_equal(u["x"], v["x"])


def test_batch_not_divisible(cfg):
    cfg.batch_size = 10
    with pytest.raises(ValueError, match="data.batch_size=10: the global batch 10 is not divisible by the 4 processes"):
        make_iterator(cfg, seed=0, process_count=4)
    with pytest.raises(ValueError, match="not divisible by the 4 data shards"):
        local_batch_size(10, 2, num_data_shards=4)
    assert local_batch_size(16, 2, num_data_shards=8) == 8


@pytest.mark.parametrize("drop_remainder", [False, True])
def test_iterate_split_covers_the_split_once(cfg, ids_npz, drop_remainder):
    cfg.source, cfg.batch_size, cfg.drop_remainder = ids_npz, 6, drop_remainder
    seen, counts = [], []
    for p in range(2):
        batches = list(iterate_split(cfg, split="train[:37]", process_index=p, process_count=2))
        counts.append(len(batches))
        for b in batches:
            keep = b["mask"] > 0 if not drop_remainder else slice(None)
            seen += b["x"][keep, 0].astype(int).tolist()
            assert b["x"].shape == (3, 1)
    assert counts[0] == counts[1]  # processes step together
    if drop_remainder:
        assert len(seen) == 36 and len(set(seen)) == 36
    else:
        assert sorted(seen) == list(range(37))


def test_load_examples(cfg, ids_npz):
    cfg.source, cfg.random_flip = ids_npz, True
    ex = load_examples(cfg, 7)
    np.testing.assert_array_equal(ex["x"][:, 0], np.arange(7))
    np.testing.assert_array_equal(ex["y"], np.arange(7) % 4)
    with pytest.raises(ValueError, match="num=41"):
        load_examples(cfg, 41)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("batch_size", 0, "data.batch_size"),
        ("image_size", (8,), "data.image_size"),
        ("value_range", (1.0, -1.0), "data.value_range"),
        ("num_workers", -1, "data.num_workers"),
        ("binarize", True, "exclude each other"),
    ],
)
def test_bad_config(cfg, field, value, match):
    cfg.dequantize = field == "binarize"
    cfg[field] = value
    with pytest.raises(ValueError, match=match):
        make_iterator(cfg, seed=0)


@pytest.mark.parametrize("kind", ["text", "audio"])
def test_metadata_of_a_kind_read_at_run_time(kind):
    """A source's kind may come from a file (not an interned literal): text's value range is its
    token ids, audio's [-1, 1]."""
    from genjax.config import data_config
    from genjax.data.base import SourceInfo
    from genjax.data.pipeline import _metadata

    extra = dict(vocab_size=7) if kind == "text" else dict(sample_rate=8000)
    info = SourceInfo("".join(list(kind)), (9, 1), None, 5, **extra)
    meta = _metadata(data_config(), info)
    assert meta.value_range == ((0.0, 6.0) if kind == "text" else (-1.0, 1.0)) and meta.bits is None
