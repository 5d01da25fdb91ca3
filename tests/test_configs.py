"""Every packaged config (genjax/configs) loads, validates and trains one step at tiny size."""

import importlib
import re

import numpy as np
import pytest

from genjax import config as config_lib
from genjax.testing import tiny
from genjax.train import run

CONFIGS = [name for name in config_lib.config_names() if name != "default"]
FAKE_TFDS = {"mnist": (28, 28), "fashion_mnist": (28, 28)}


def _spec(name: str) -> str:
    """`name:runlocal` when the config has that tiny variant, else `name`."""
    try:
        importlib.import_module(f"genjax.configs.{name}").get_config("runlocal")
        return f"{name}:runlocal"
    except ValueError as e:
        if "unknown variant 'runlocal'" not in str(e):
            raise
        return name


@pytest.fixture(scope="module")
def fake_tfds(tmp_path_factory):
    """Tiny TFDS datasets with the real names and shapes (random pixels), written like `prepare`."""
    from genjax.data.prepare import write_tfds

    data_dir = tmp_path_factory.mktemp("tfds")
    rng = np.random.default_rng(0)
    for name, hw in FAKE_TFDS.items():
        arrays = {
            split: (rng.integers(0, 256, (n, *hw), dtype=np.uint8), rng.integers(0, 10, n))
            for split, n in (("train", 32), ("test", 16))
        }
        write_tfds(name, arrays, data_dir=str(data_dir))
    return str(data_dir)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_trains_one_step(name, tmp_path, fake_tfds):
    config = config_lib.load_config(_spec(name))
    if "autoencoder" in config.components:  # latent diffusion: needs a trained autoencoder run
        config.components.autoencoder.workdir = str(tmp_path / "autoencoder")
        run(tiny(config_lib.load_config(_spec("digits_vae"))), tmp_path / "autoencoder")
    source = config.data.source
    datasets = re.findall(r"tfds:([^|:/]+)", source)  # one, or two for unpaired:SRC_A|SRC_B
    if datasets:
        if not set(datasets) <= set(FAKE_TFDS):
            pytest.skip(f"{name}: {source} is a GPU/TPU config; no tiny stand-in for it in the test suite")
        config.data.data_dir = fake_tfds
    state = run(tiny(config), tmp_path / "run")
    assert int(np.asarray(state.step)) == 1
    assert (tmp_path / "run" / "checkpoints" / "1").exists()
    assert (tmp_path / "run" / "samples" / "step_00000001.png").exists()


def test_default_config_is_valid():
    """`genjax train` with no --config (and `make demo`) uses genjax/configs/default.py."""
    config = config_lib.load_config("default")
    assert config.train.steps > 0 and config.data.source.startswith("builtin:")  # offline


@pytest.mark.slow
def test_sampling_sharded_over_8_devices_equals_1(tmp_path, sub, monkeypatch):
    """Every diffusion sampler, and the likelihood ODE, constrain their batch to (data, fsdp): the
    same samples and bits/dim on 8 devices as on 1."""
    from genjax.diffusion import SAMPLERS

    monkeypatch.setenv("GENJAX_TEST_SAMPLERS", ",".join(SAMPLERS))
    args = ["digits_ddpm:runlocal", "--config.objective.sample_steps=4"]
    sub.run_worker(["sample", tmp_path / "one.npz", *args, "--config.mesh.data=1"], devices=1)
    sub.run_worker(["sample", tmp_path / "eight.npz", *args, "--config.mesh.data=8"], devices=8)
    one, eight = sub.load(tmp_path / "one.npz"), sub.load(tmp_path / "eight.npz")
    assert sorted(one) == sorted(eight) == sorted([*SAMPLERS, "bits_per_dim"])
    assert np.isfinite(one["bits_per_dim"])
    np.testing.assert_allclose(eight["bits_per_dim"], one["bits_per_dim"], rtol=1e-4)
    for name in SAMPLERS:
        assert one[name].shape == (8, 16, 16, 1) and np.all(np.isfinite(one[name])), name
        np.testing.assert_allclose(eight[name], one[name], rtol=1e-4, atol=1e-4, err_msg=name)
