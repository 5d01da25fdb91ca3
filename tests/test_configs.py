"""Every packaged config (genjax/configs) loads, validates and trains one step of its tiny
`runlocal` variant, on stand-ins for the datasets a test machine lacks."""

import re

import numpy as np
import pytest

from genjax import config as config_lib
from genjax.testing import tiny, write_spoken_digits, write_text_corpus
from genjax.train import run

CONFIGS = [name for name in config_lib.config_names() if name != "default"]
# variants that change the network, smoke-tested like the configs
VARIANTS = ["mnist_binarized_hvae:mlp", "mnist_binarized_iwae:resnet", "shapes_vae:resnet"]
FAKE_TFDS = {"mnist": (28, 28), "fashion_mnist": (28, 28)}
# TFDS datasets stood in for by an npz source of random 8-bit images of their shape and classes
# (TFDS's cifar10 has fields that the fake TFDS writer does not write).
FAKE_NPZ = {"cifar10": ((32, 32, 3), 10)}


def _runlocal(name: str):
    return config_lib.load_config(config_lib.with_variant(name, "runlocal"))


def _tfds_names(source: str) -> list[str]:
    """The TFDS datasets of a source, one or two (unpaired:SRC_A|SRC_B)."""
    return re.findall(r"tfds:([^|:/]+)", source)


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


@pytest.fixture(scope="module")
def fake_npz(tmp_path_factory):
    """{dataset: npz source} of 16 random images of the dataset's shape, labels of its classes."""
    folder, rng, sources = tmp_path_factory.mktemp("npz"), np.random.default_rng(0), {}
    for name, (shape, classes) in FAKE_NPZ.items():
        x = rng.integers(0, 256, (16, *shape), dtype=np.uint8)
        np.savez(folder / f"{name}.npz", x=x, y=np.arange(16) % classes, num_classes=classes)
        sources[name] = f"npz:{folder / name}.npz"
    return sources


def test_every_config_has_a_runlocal_variant_and_stand_ins_for_its_data():
    """No config can skip the smoke test below: each has a runlocal variant, and each TFDS dataset
    it reads has a fake one here."""
    for name in CONFIGS:
        config = _runlocal(name)
        missing = set(_tfds_names(config.data.source)) - set(FAKE_TFDS) - set(FAKE_NPZ)
        assert not missing, f"{name}: give TFDS dataset(s) {sorted(missing)} a stand-in in FAKE_TFDS or FAKE_NPZ"


@pytest.mark.parametrize("name", CONFIGS + VARIANTS)
def test_config_trains_one_step(name, tmp_path, fake_tfds, fake_npz):
    config = _runlocal(name)
    if "autoencoder" in config.components:  # latent diffusion: needs a trained autoencoder run
        config.components.autoencoder.workdir = str(tmp_path / "autoencoder")
        run(tiny(_runlocal("digits_vae")), tmp_path / "autoencoder")
    if "vqvae" in config.components:  # a prior over VQ-VAE codes: needs a trained VQ-VAE run
        config.components.vqvae.workdir = str(tmp_path / "vqvae")
        vqvae = tiny(_runlocal("mnist_vqvae"))
        vqvae.data.data_dir = fake_tfds
        run(vqvae, tmp_path / "vqvae")
    names = _tfds_names(config.data.source)
    if names and names[0] in FAKE_NPZ:
        config.data.source = fake_npz[names[0]]
    elif names:  # one, or two for unpaired:SRC_A|SRC_B
        config.data.data_dir = fake_tfds
    elif config.data.source.startswith("text:"):  # a small corpus in place of the named text
        config.data.data_dir = str(tmp_path / "text")
        write_text_corpus(tmp_path / "text" / config.data.source.removeprefix("text:"))
    elif config.data.source.startswith("audio:"):  # a few FSDD-like recordings in place of the set
        config.data.data_dir = str(write_spoken_digits(tmp_path / "audio"))
    state = run(tiny(config), tmp_path / "run")
    assert int(np.asarray(state.step)) == 1
    assert (tmp_path / "run" / "checkpoints" / "1").exists()
    suffix = "txt" if config.data.source.startswith("text:") else "png"
    assert (tmp_path / "run" / "samples" / f"step_00000001.{suffix}").exists()


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
