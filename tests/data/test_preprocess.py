"""Preprocessing against closed forms and reference implementations (jax.image.resize, TFDS splits)."""

import numpy as np
import pytest

from genjax.data.preprocess import Preprocess, example_keys, resize_images, resize_matrix
from genjax.data.splits import resolve_split


@pytest.mark.parametrize(
    "shape, hw",
    [((2, 8, 8, 1), (16, 16)), ((2, 8, 8, 1), (32, 32)), ((1, 28, 28, 3), (16, 20)), ((3, 7, 9, 1), (7, 9))],
)
def test_resize_matches_jax(shape, hw):
    import jax

    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    ref = jax.image.resize(x, (shape[0], *hw, shape[3]), method="linear", antialias=True)
    np.testing.assert_allclose(resize_images(x, hw), np.asarray(ref), atol=1e-5)


def test_resize_rows_are_partitions_of_unity():
    for n_in, n_out in [(8, 32), (28, 16), (5, 5)]:
        np.testing.assert_allclose(resize_matrix(n_in, n_out).sum(axis=1), 1.0)


def test_value_range_and_dequantization():
    x = np.tile(np.arange(256, dtype=np.uint8), (64, 1)).reshape(64, 16, 16, 1)
    rng = np.random.default_rng(0)
    plain = Preprocess("image", value_range=(-1.0, 1.0))({"x": x}, rng)["x"]
    np.testing.assert_allclose(plain, -1 + 2 * x.astype(np.float64) / 255.0, atol=1e-6)
    deq = Preprocess("image", value_range=(0.0, 1.0), dequantize=True)({"x": x}, rng)["x"]
    # (x + u) / 256 with u ~ U[0, 1): inside the bin of x, mean at its centre.
    xf = x.astype(np.float64)
    assert np.all(deq >= xf / 256.0) and np.all(deq <= (xf + 1) / 256.0)  # <=: float32 rounding
    resid = deq * 256.0 - xf
    assert abs(resid.mean() - 0.5) < 0.01 and abs(resid.var() - 1 / 12) < 0.005


def test_dynamic_binarization_is_bernoulli_of_intensity():
    x = np.full((20000, 1, 4, 1), 0, np.uint8)
    x[:, 0, :, 0] = [0, 64, 191, 255]
    keys = example_keys(1, np.zeros(20000, int), np.arange(20000))
    out = Preprocess("image", value_range=(0.0, 1.0), binarize=True)({"x": x}, np.random.default_rng(1), keys=keys)["x"]
    assert set(np.unique(out)) <= {0.0, 1.0}
    p = np.array([0, 64, 191, 255]) / 255
    np.testing.assert_allclose(out.mean(axis=(0, 1, 3)), p, atol=4 * np.sqrt(0.25 / 20000))
    assert out[:, 0, 0].max() == 0 and out[:, 0, 3].min() == 1
    with pytest.raises(ValueError, match="key per example"):
        Preprocess("image", binarize=True)({"x": x}, np.random.default_rng(1))


def test_random_flip_only_when_augmenting():
    x = np.random.default_rng(0).integers(0, 256, (400, 3, 5, 1), dtype=np.uint8)
    pre = Preprocess("image", value_range=(0.0, 255.0), random_flip=True)
    out = pre({"x": x}, np.random.default_rng(0))["x"]
    same = np.all(np.isclose(out, x), axis=(1, 2, 3))
    flipped = np.all(np.isclose(out, x[:, :, ::-1]), axis=(1, 2, 3))
    assert np.all(same | flipped) and 0.4 < flipped.mean() < 0.6
    np.testing.assert_allclose(pre({"x": x}, np.random.default_rng(0), augment=False)["x"], x, atol=1e-4)


@pytest.mark.parametrize(
    "split", ["train", "train[:90%]", "train[33%:67%]", "train[-10%:]", "train[5:-5]", "train[:1%]", "train[-7:]"]
)
@pytest.mark.parametrize("n", [1797, 101, 60000])
def test_split_slices_match_tfds(split, n):
    import tensorflow_datasets as tfds

    info = tfds.core.SplitInfo(name="train", shard_lengths=[n], num_bytes=0)
    instr = tfds.core.ReadInstruction.from_spec(split).to_absolute({"train": info})
    name, start, stop = resolve_split(split, {"train": n})
    assert (start, stop) == slice(instr[0].from_, instr[0].to).indices(n)[:2]
