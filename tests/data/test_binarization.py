"""Binarized data: the keyed generator, dynamic binarization of the training stream (fresh every
epoch, a function of (seed, epoch, index), resumable) and the fixed binarization of held-out data."""

import json

import numpy as np
import pytest
from scipy import stats

from genjax.data import iterate_split, load_examples, load_metadata, make_iterator
from genjax.data.pipeline import EVAL_BINARIZATION_SEED
from genjax.data.preprocess import Preprocess, example_keys, keyed_uniform

N = 40
INTENSITY = np.linspace(0, 255, 16).round().astype(np.uint8).reshape(4, 4, 1)  # 0 .. 255


@pytest.fixture
def grey_npz(tmp_path):
    """40 copies of one 4x4 image of 16 intensities from 0 to 255; label i identifies example i."""
    path = tmp_path / "grey.npz"
    np.savez(path, x=np.repeat(INTENSITY[None], N, axis=0), y=np.arange(N))
    return f"npz:{path}"


@pytest.fixture
def binarized(cfg, grey_npz):
    cfg.source, cfg.binarize, cfg.value_range, cfg.batch_size = grey_npz, True, (0.0, 1.0), 8
    return cfg


def _expected(seed, epoch, index):
    """The binary images of examples `index` in `epoch` under `seed`, computed from the keys."""
    u = keyed_uniform(example_keys(seed, np.broadcast_to(epoch, np.shape(index)), index), INTENSITY.shape)
    return (u < INTENSITY[None] / 255.0).astype(np.float32)


def _stream(it, batches, examples_per_epoch):
    """{(epoch, index): image} of the next `batches` batches of a fresh iterator."""
    seen, position = {}, 0
    for _ in range(batches):
        b = next(it)
        for x, y in zip(b["x"], b["y"]):
            seen[position // examples_per_epoch, int(y)] = x
            position += 1
    return seen


def test_the_stated_generator_never_changes():
    """The fixed binarization of held-out data is these numbers: pinned across releases and runs."""
    keys = example_keys(EVAL_BINARIZATION_SEED, np.zeros(3, int), np.arange(3))
    np.testing.assert_array_equal(
        keys, np.array([12035550249420947055, 12935080325729570654, 7141179953334974231], np.uint64)
    )
    np.testing.assert_array_equal(keyed_uniform(keys[:1], (3,)) * 2**24, [[2327157.0, 16292389.0, 4661262.0]])


def _column_correlations(a, b):
    a, b = ((v - v.mean(axis=0)) / v.std(axis=0) for v in (a, b))
    return (a * b).mean(axis=0)


def test_keyed_uniforms_are_uniform_and_independent():
    """50 epochs x 40 examples x 64 pixels: uniform (KS test), and uncorrelated between the next
    example, the next epoch and the next pixel."""
    keys = example_keys(3, np.repeat(np.arange(50), 40), np.tile(np.arange(40), 50))
    assert len(np.unique(keys)) == 2000
    u = keyed_uniform(keys, (8, 8)).reshape(2000, 64).astype(np.float64)
    assert np.all((0 <= u) & (u < 1)) and stats.kstest(u.ravel(), "uniform").pvalue > 1e-3
    for a, b in [(u[:-1], u[1:]), (u[:-40], u[40:]), (u[:, :-1].T, u[:, 1:].T)]:
        np.testing.assert_allclose(_column_correlations(a, b), 0.0, atol=4.5 / np.sqrt(len(a)))


def test_mean_of_fresh_draws_approaches_the_intensity():
    """Example 7 over 4000 epochs: each pixel is on with probability intensity / 255."""
    epochs = 4000
    x = np.repeat(INTENSITY[None], epochs, axis=0)
    keys = example_keys(0, np.arange(epochs), np.full(epochs, 7))
    out = Preprocess("image", value_range=(0.0, 1.0), binarize=True)({"x": x}, np.random.default_rng(0), keys=keys)["x"]
    p = INTENSITY[..., 0] / 255.0
    np.testing.assert_allclose(out[..., 0].mean(axis=0), p, atol=4 * np.sqrt(0.25 / epochs))


def test_training_examples_are_binarized_from_seed_epoch_and_index(binarized):
    """Each example of each epoch is the binarization keyed by (seed, epoch, index): binary,
    fresh every epoch, the same for any batch size, process layout or cache."""
    assert load_metadata(binarized).bits == 1
    stream = _stream(make_iterator(binarized, seed=5), 15, N)  # 3 epochs
    assert len(stream) == 3 * N
    for (epoch, index), x in stream.items():
        np.testing.assert_array_equal(x, _expected(5, epoch, np.array([index]))[0])
    assert all(not np.array_equal(stream[0, i], stream[1, i]) for i in range(N))  # fresh every epoch
    binarized.batch_size, binarized.cache = 4, True
    for p in range(2):
        part = _stream(make_iterator(binarized, seed=5, process_index=p, process_count=2), 10, N // 2)
        for key, x in part.items():
            np.testing.assert_array_equal(x, stream[key])


def test_binarized_stream_is_deterministic_and_resumes_exactly(binarized):
    take = lambda it, k: [next(it)["x"] for _ in range(k)]
    a, b = make_iterator(binarized, seed=2), make_iterator(binarized, seed=2)
    np.testing.assert_array_equal(take(a, 7), take(b, 7))
    state = json.loads(json.dumps(a.get_state()))
    expected = take(a, 6)  # into the next epochs
    resumed = make_iterator(binarized, seed=2)
    resumed.set_state(state)
    np.testing.assert_array_equal(take(resumed, 6), expected)
    binarized.shuffle_seed = 2  # same order, another seed: other binary images
    assert not np.array_equal(take(make_iterator(binarized, seed=3), 1), take(make_iterator(binarized, seed=2), 1))


def test_held_out_binarization_is_fixed(binarized):
    """load_examples and iterate_split give the binarization keyed by (EVAL_BINARIZATION_SEED, 0,
    index), whatever the seed, batch size or process layout, on every call."""
    expected = _expected(EVAL_BINARIZATION_SEED, 0, np.arange(N))
    for seed in (0, 9):
        np.testing.assert_array_equal(load_examples(binarized, N, split="train", seed=seed)["x"], expected)
    for batch_size, processes in [(8, 1), (6, 2)]:
        binarized.batch_size = batch_size
        parts = [
            b["x"][b["mask"] > 0]
            for p in range(processes)
            for b in iterate_split(binarized, split="train", process_index=p, process_count=processes, seed=4)
        ]
        np.testing.assert_array_equal(np.concatenate(parts), expected)


def test_binarized_mnist_from_tfds(cfg, tiny_mnist):
    """tfds:mnist with data.binarize: 1-bit metadata, binary training batches drawn from the
    intensities, and a fixed binarized test split."""
    data_dir, arrays = tiny_mnist
    cfg.source, cfg.data_dir, cfg.binarize, cfg.batch_size, cfg.value_range = (
        "tfds:mnist",
        data_dir,
        True,
        10,
        (0.0, 1.0),
    )
    meta = load_metadata(cfg)
    assert (meta.bits, meta.shape, meta.value_range) == (1, (28, 28, 1), (0.0, 1.0))
    batch = next(make_iterator(cfg, seed=0))
    assert set(np.unique(batch["x"])) == {0.0, 1.0}
    test = load_examples(cfg, 10)
    np.testing.assert_array_equal(test["x"], load_examples(cfg, 10)["x"])
    cfg.binarize = False
    grey = load_examples(cfg, 10)["x"]
    assert np.all(test["x"][grey == 0] == 0) and np.all(test["x"][grey == 1] == 1)
    assert abs(test["x"].mean() - grey.mean()) < 4 * np.sqrt(0.25 / grey.size)
