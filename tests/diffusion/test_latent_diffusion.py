"""Latent diffusion end to end: a tiny VAE run is the frozen `autoencoder` component of a latent
diffusion run; the run holds the VAE's params in its train state (sharded, checkpointed, restored
without the VAE's workdir), encodes with the posterior mean, trains and decodes image samples."""

import os
import shutil
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from genjax.config import load_config
from genjax.data import load_examples, load_metadata
from genjax.testing import tiny
from genjax.train import run
from genjax.train.build import build_run
from genjax.train.loop import load_run


@pytest.fixture(scope="module")
def vae_workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vae")
    run(tiny(load_config("digits_vae:runlocal")), workdir)
    return str(workdir)


def _latent_config(vae_workdir, **objective):
    config = tiny(load_config("digits_latent_diffusion:runlocal"))
    config.components.autoencoder.workdir = vae_workdir
    config.objective.update(objective)
    return config


@pytest.mark.slow
def test_latent_diffusion_trains_and_samples_decoded_images(vae_workdir, tmp_path):
    config = _latent_config(vae_workdir, latent_scale=0.5)
    config.train.steps = 3
    config.train.checkpoint_every = 3
    state = run(config, tmp_path)
    assert int(state.step) == 3
    assert all(np.isfinite(np.asarray(v)).all() for v in jax.tree.leaves(state.params))
    png = np.asarray(Image.open(tmp_path / "samples" / "step_00000003.png"))
    assert png.shape[0] >= 16 and png.shape[1] >= 16

    vae = load_run(vae_workdir)
    vae_params = vae.state.sampling_params(0)
    # the frozen VAE is in the state, equal to the VAE run's EMA params, and never trained
    held = state.model_state["autoencoder"]["params"]
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), held, vae_params)
    assert "autoencoder" not in state.params and "autoencoder" not in state.opt_state

    # resuming needs neither the VAE's workdir nor its checkpoint: the run holds both
    moved = tmp_path.parent / (tmp_path.name + "_vae_moved")
    shutil.copytree(vae_workdir, moved)
    shutil.rmtree(vae_workdir)
    try:
        r = load_run(tmp_path)
    finally:
        shutil.copytree(moved, vae_workdir)
    obj = r.objective
    assert obj.shape == (16,)  # the VAE's latent_dim, not the image
    # the latent is the VAE's posterior mean times latent_scale; decoding divides it back out
    x = jnp.asarray(load_examples(config.data, 4)["x"])
    mu = vae.objective.encode(vae_params, x)
    ms = r.state.model_state
    np.testing.assert_allclose(obj.latent.encode(ms, x), 0.5 * mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        obj.latent.decode(ms, 0.5 * mu), vae.objective.decode(vae_params, mu), rtol=1e-5, atol=1e-6
    )
    samples = r.sample(3, seed=0, steps=2, label=7)
    assert samples.shape == (3, 16, 16, 1)
    lo, hi = load_metadata(config.data).value_range
    assert np.all((samples >= lo) & (samples <= hi))


def test_latent_diffusion_config_errors(vae_workdir, tmp_path):
    with pytest.raises(ValueError, match="components.autoencoder.workdir.*no config.json"):
        build_run(_latent_config(str(tmp_path / "missing")), tmp_path / "a")
    with pytest.raises(ValueError, match="latent_scale"):
        build_run(_latent_config(vae_workdir, latent_scale=0.0), tmp_path / "b")
    config = _latent_config(vae_workdir)
    config.data.image_size = 8
    with pytest.raises(ValueError, match="components.autoencoder.*shape"):
        build_run(config, tmp_path / "c")
    config = _latent_config(vae_workdir)
    config.components.classifier = dict(workdir=vae_workdir)
    with pytest.raises(ValueError, match="classifier.*does not use"):
        build_run(config, tmp_path / "d")


SHARDED = textwrap.dedent("""
    import sys, numpy as np, jax
    from genjax.config import load_config
    from genjax.testing import tiny
    from genjax.train.build import build_run
    config = tiny(load_config("digits_latent_diffusion:runlocal"))
    config.components.autoencoder.workdir = sys.argv[1]
    config.mesh.data, config.mesh.fsdp = 2, 4
    config.sharding.min_fsdp_size = 256
    r = build_run(config, sys.argv[2])
    held = r.state.model_state["autoencoder"]["params"]
    specs = [x.sharding.spec for x in jax.tree.leaves(held)]
    assert any("fsdp" in str(s) for s in specs), specs
    assert len(jax.tree.leaves(held)[0].sharding.device_set) == 8
    print("SHARDED", sum(1 for s in specs if "fsdp" in str(s)), len(specs))
""")


@pytest.mark.slow
def test_frozen_autoencoder_is_sharded_state_on_8_devices(vae_workdir, tmp_path):
    """On a data 2 x fsdp 4 mesh the VAE's params are held sharded over fsdp like trained params."""
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", SHARDED, vae_workdir, str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SHARDED" in out.stdout
