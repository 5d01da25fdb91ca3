"""Every packaged config (genjax/configs) loads, validates and trains one step at tiny size."""

import importlib
import re

import numpy as np
import pytest

from genjax import config as config_lib
from genjax.testing import tiny, write_spoken_digits, write_text_corpus
from genjax.train import run

CONFIGS = [name for name in config_lib.config_names() if name != "default"]
FAKE_TFDS = {"mnist": (28, 28), "fashion_mnist": (28, 28)}


def _tiny_unet(c):
    c.objective.update(
        net=dict(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(16,), dropout=0.1, num_heads=1),
        sample_steps=2,
    )


def _tiny_stylegan2(c):
    c.objective.update(
        z_dim=8,
        generator=dict(w_dim=8, mapping_layers=1, channel_base=128, channel_max=4),
        discriminator=dict(channel_base=128, channel_max=4, mbstd_group=4),
    )


# The GPU/TPU configs, stood in for: their data by random 32x32x3 8-bit images with 10 classes
# (an npz source: TFDS's cifar10 has fields that the fake TFDS writer does not write), their
# networks by tiny ones of the same architecture; every other setting is the config's own.
STAND_INS = {
    "cifar10_ddpm": _tiny_unet,
    "cifar10_stylegan2": _tiny_stylegan2,
    "cifar10_pixelcnnpp": lambda c: None,  # its runlocal variant is tiny already
}


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


@pytest.fixture(scope="module")
def fake_cifar10(tmp_path_factory):
    path = tmp_path_factory.mktemp("cifar10") / "cifar10.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8), y=np.arange(16) % 10, num_classes=10)
    return f"npz:{path}"


def test_every_gpu_config_has_a_stand_in():
    big = {n for n in CONFIGS if any(d not in FAKE_TFDS for d in re.findall(r"tfds:([^|:/]+)", _source(n)))}
    assert big == set(STAND_INS), "give each config on data without a fake TFDS dataset a stand-in in STAND_INS"


def _source(name):
    return config_lib.load_config(_spec(name)).data.source


@pytest.mark.parametrize("name", CONFIGS)
def test_config_trains_one_step(name, tmp_path, fake_tfds, fake_cifar10):
    config = config_lib.load_config(_spec(name))
    if "autoencoder" in config.components:  # latent diffusion: needs a trained autoencoder run
        config.components.autoencoder.workdir = str(tmp_path / "autoencoder")
        run(tiny(config_lib.load_config(_spec("digits_vae"))), tmp_path / "autoencoder")
    if "vqvae" in config.components:  # a prior over VQ-VAE codes: needs a trained VQ-VAE run
        config.components.vqvae.workdir = str(tmp_path / "vqvae")
        vqvae = tiny(config_lib.load_config(_spec("mnist_vqvae")))
        vqvae.data.data_dir = fake_tfds
        run(vqvae, tmp_path / "vqvae")
    if name in STAND_INS:
        assert config.data.source == "tfds:cifar10"
        config.data.source = fake_cifar10
        STAND_INS[name](config)
    elif re.search(r"tfds:", config.data.source):  # one, or two for unpaired:SRC_A|SRC_B
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
