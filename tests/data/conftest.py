import numpy as np
import pytest

from genjax.config import data_config


@pytest.fixture
def cfg():
    return data_config()


@pytest.fixture
def ids_npz(tmp_path):
    """npz of 40 one-dimensional points x = index, labels index % 4: each example is identifiable."""
    path = tmp_path / "ids.npz"
    np.savez(path, x=np.arange(40, dtype=np.float32)[:, None], y=np.arange(40) % 4)
    return f"npz:{path}"


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory):
    """A TFDS `mnist` dataset with 30 train / 10 test random images, written like `prepare` does."""
    from genjax.data.prepare import write_tfds

    rng = np.random.default_rng(0)
    arrays = {
        split: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n))
        for split, n in (("train", 30), ("test", 10))
    }
    data_dir = tmp_path_factory.mktemp("tfds")
    write_tfds("mnist", arrays, data_dir=str(data_dir))
    return str(data_dir), arrays
