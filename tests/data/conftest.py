import os
from pathlib import Path

import numpy as np
import pytest

from genjax.config import data_config

# The raw datasets shared by the project's checkouts: ../shared/data beside the repository.
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
REQUIRE_SHARED_DATA = "GENJAX_REQUIRE_SHARED_DATA"


def _need_shared_data(name: str, what: str, root: Path = SHARED_DATA) -> Path:
    """root / name when it is a folder; else the test is skipped, or fails when the environment
    sets GENJAX_REQUIRE_SHARED_DATA=1 (CI: a missing folder must not pass as a skip)."""
    path = root / name
    if path.is_dir():
        return path
    message = f"{what} not found: expected the folder {path} (../shared/data/{name} beside the repository)"
    if os.environ.get(REQUIRE_SHARED_DATA) == "1":
        pytest.fail(f"{message}; {REQUIRE_SHARED_DATA}=1 requires it", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def shared_data():
    """need(name, what) -> the folder of shared raw data `name` (see `_need_shared_data`)."""
    return _need_shared_data


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
