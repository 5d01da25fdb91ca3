"""Domain classifier: idx reader, training on a tiny separable problem, cache round trip."""

import gzip
import struct

import numpy as np
import pytest

from genjax.metrics import domain


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def tiny_dataset(n, seed):
    """Two classes: a bright top half or a bright bottom half, with noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 60, (n, 28, 28))
    for i, y in enumerate(labels):
        images[i, :14] += 180 * (y == 0)
        images[i, 14:] += 180 * (y == 1)
    return images.astype(np.uint8), labels


def test_read_idx_round_trip(tmp_path):
    images, labels = tiny_dataset(5, 0)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    x, y = domain.load_idx_split(tmp_path, "test")
    np.testing.assert_array_equal(x[..., 0], images)
    np.testing.assert_array_equal(y, labels)
    assert x.shape == (5, 28, 28, 1) and y.dtype == np.int32


def test_build_trains_caches_and_serves_an_extractor(tmp_path, monkeypatch):
    monkeypatch.setenv("GENJAX_CACHE", str(tmp_path / "cache"))
    for split, prefix, n in (("train", "train", 256), ("test", "t10k", 64)):
        images, labels = tiny_dataset(n, seed=len(split))
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    with pytest.raises(FileNotFoundError, match="weights fetch mnist"):
        domain.extractor("mnist")
    path, acc = domain.build("mnist", tmp_path, steps=30)
    assert path.exists() and acc == 1.0
    ex = domain.extractor("mnist")
    from genjax.metrics.features import extract

    x, y = domain.load_idx_split(tmp_path, "test")
    out = extract(ex, x, (0, 255), batch_size=32)
    assert out["features"].shape == (64, 128)
    assert (out["logits"].argmax(1) == y).mean() == 1.0
    with pytest.raises(ValueError, match="no domain classifier"):
        domain.build("cifar10", tmp_path)
