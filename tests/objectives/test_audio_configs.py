"""The audio configs end to end on synthetic waveforms: each runlocal variant's objective, optimizer
and sharding rules in one compiled train step of the core, then samples (digit-conditional, with
classifier-free guidance for DiffWave). The configs' source, audio:spoken_digit, is stood in for by
sine tones of the configured length with digit labels."""

import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.config import load_config
from genjax.objectives import make_objective
from genjax.objectives.base import Conditional, LikelihoodModel
from genjax.parallel import make_mesh
from genjax.train import init_train_state, make_optimizers, make_train_step
from genjax.train.init import batch_spec


def _tones(batch, length, seed=0):
    """[B, T, 1] sine tones of random frequency and amplitude in [-1, 1], labels [B] in [0, 10)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 8000
    f, a = rng.uniform(100, 1000, (batch, 1)), rng.uniform(0.1, 0.9, (batch, 1))
    x = (a * np.sin(2 * np.pi * f * t))[..., None].astype(np.float32)
    return {"x": jnp.asarray(x), "y": jnp.asarray(rng.integers(0, 10, batch), jnp.int32)}


@pytest.mark.parametrize("name", ["spoken_digit_wavenet", "spoken_digit_diffwave"])
def test_runlocal_trains_one_step_and_samples_digits(name):
    config = load_config(f"{name}:runlocal", ["optim.warmup_steps=0"])
    assert config.data.source == "audio:spoken_digit/recordings"
    length = config.data.num_samples
    meta = types.SimpleNamespace(
        name="audio:spoken_digit/recordings", kind="audio", shape=(length, 1), num_classes=10, value_range=(-1.0, 1.0)
    )
    obj = make_objective(config, meta)
    assert isinstance(obj, Conditional) and isinstance(obj, LikelihoodModel)
    mesh = make_mesh(config.mesh)
    spec = batch_spec(meta, config.data.batch_size)
    state, _ = init_train_state(
        obj, make_optimizers(config, obj.players), jax.random.PRNGKey(0), spec, mesh,
        rules=config.sharding.rules, min_fsdp_size=config.sharding.min_fsdp_size, ema_decays=(),
    )  # fmt: skip
    batch = _tones(config.data.batch_size, length)
    with jax.set_mesh(mesh):
        new, metrics = jax.jit(make_train_step(obj))(state, batch)
    assert int(new.step) == 1 and np.isfinite(float(metrics["loss/model"]))
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), new.params["model"], state.params["model"])
    assert max(jax.tree.leaves(moved)) > 0

    options = {"label": 3} | ({"guidance_scale": 2.0} if obj.guidance else {})
    x = obj.sample(new.params, new.model_state, jax.random.PRNGKey(1), 2, **options)
    chex.assert_shape(x, (2, length, 1))
    chex.assert_tree_all_finite(x)
    if obj.likelihood_kind == "exact":  # WaveNet's; diffusion's ODE likelihood has its own tests
        log_p = obj.log_likelihood(state.params, state.model_state, batch, jax.random.PRNGKey(2))
        np.testing.assert_allclose(-np.asarray(log_p).mean(), float(metrics["loss/model"]), rtol=1e-5)


def test_diffusion_defaults_to_diffwave_on_audio_and_keeps_the_unet_for_images():
    from genjax.nn.diffwave import DiffWave
    from genjax.nn.unet import UNet
    from genjax.objectives.diffusion import make

    audio = types.SimpleNamespace(name="a", kind="audio", shape=(64, 1), num_classes=10, value_range=(-1.0, 1.0))
    image = types.SimpleNamespace(name="i", kind="image", shape=(8, 8, 1), num_classes=None, value_range=(-1.0, 1.0))
    obj = make({"name": "diffusion", "net": {"channels": 4, "num_layers": 2, "step_dim": 8}}, audio)
    assert isinstance(obj.net, DiffWave) and obj.net.num_classes == 10 and obj.shape == (64, 1)
    assert isinstance(make({"name": "diffusion"}, image).net, UNet)
