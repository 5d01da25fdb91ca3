"""Latent diffusion end to end: a tiny VAE run, then the latent objective configured with its
workdir encodes with the VAE's posterior mean, trains a few steps and decodes image samples."""

import numpy as np
import pytest
from PIL import Image

import jax
import jax.numpy as jnp

from genjax.config import load_config
from genjax.data import load_examples, load_metadata
from genjax.objectives import make_objective
from genjax.testing import tiny
from genjax.train import run
from genjax.train.loop import load_run


@pytest.fixture(scope="module")
def vae_workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vae")
    run(tiny(load_config("digits_vae:runlocal")), workdir)
    return str(workdir)


def _latent_config(vae_workdir, **objective):
    config = load_config("digits_latent_diffusion:runlocal")
    config.objective.autoencoder_workdir = vae_workdir
    config.objective.update(objective)
    return config


@pytest.mark.slow
def test_latent_diffusion_trains_and_samples_decoded_images(vae_workdir, tmp_path):
    config = tiny(_latent_config(vae_workdir, latent_scale=0.5))
    config.train.steps = 3
    config.train.checkpoint_every = 3
    state = run(config, tmp_path)
    assert int(state.step) == 3
    assert all(np.isfinite(np.asarray(v)).all() for v in jax.tree.leaves(state.params))
    png = np.asarray(Image.open(tmp_path / "samples" / "step_00000003.png"))
    assert png.shape[0] >= 16 and png.shape[1] >= 16

    meta = load_metadata(config.data)
    obj = make_objective(config, meta)
    assert obj.shape == (16,)  # the VAE's latent_dim, not the image
    # the latent is the VAE's posterior mean times latent_scale; decoding divides it back out
    vae = load_run(vae_workdir)
    vae_params = vae.state.sampling_params(0)
    x = jnp.asarray(load_examples(config.data, 4)["x"])
    mu = vae.objective.encode(vae_params, x)[0]
    np.testing.assert_allclose(obj.latent.encode(x), 0.5 * mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(obj.latent.decode(0.5 * mu), vae.objective.decode_mean(vae_params, mu),
                               rtol=1e-5, atol=1e-6)

    samples = jax.jit(lambda p, k: obj.sample(p, {}, k, 3, steps=2, label=7))(
        state.sampling_params(0), jax.random.key(0))
    assert samples.shape == (3, 16, 16, 1)
    lo, hi = meta.value_range
    assert np.all((np.asarray(samples) >= lo) & (np.asarray(samples) <= hi))


def test_latent_diffusion_config_errors(vae_workdir, tmp_path):
    meta = load_metadata(_latent_config(vae_workdir).data)
    with pytest.raises(ValueError, match="autoencoder_workdir"):
        make_objective(_latent_config(str(tmp_path / "missing")), meta)
    with pytest.raises(ValueError, match="latent_scale"):
        make_objective(_latent_config(vae_workdir, latent_scale=0.0), meta)
    config = _latent_config(vae_workdir)
    config.data.image_size = 8
    with pytest.raises(ValueError, match="autoencoder_workdir.*shape"):
        make_objective(config, load_metadata(config.data))
