"""The wavenet objective: the fast-WaveNet scan against the full causal pass, causality and the
receptive field, the loss against a numpy cross-entropy of the mu-law codes, and normalisation of
the whole model over every waveform of a tiny space."""

import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.data import mu_law
from genjax.nn.wavenet import WaveNet as WaveNetNet
from genjax.objectives.wavenet import ConditionalWaveNet, WaveNet, generate, make
from genjax.parallel.axes import ALL

TINY = dict(residual_channels=8, dilation_channels=8, skip_channels=16, num_layers=5, dilation_cycle=3)


def _meta(length=32, num_classes=10, kind="audio"):
    return types.SimpleNamespace(
        name="audio:test", kind=kind, shape=(length, 1), num_classes=num_classes, value_range=(-1.0, 1.0)
    )


def _params(obj, seed=0):
    return {"model": nn.unbox(obj.init(jax.random.PRNGKey(seed), {})["model"].params)}


def _tone(batch, length, seed=0):
    """Sine tones of random frequency and amplitude plus a little noise, [B, T, 1] in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 8000
    f, a = rng.uniform(100, 1000, (batch, 1)), rng.uniform(0.1, 0.9, (batch, 1))
    x = a * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal((batch, length))
    return jnp.asarray(np.clip(x, -1, 1)[..., None], jnp.float32)


def test_cached_generation_logits_equal_the_full_causal_pass():
    """Every step of the scan with queues gives the logits of the full pass on the drawn codes."""
    obj = make({**TINY, "name": "wavenet"}, _meta(48))
    assert isinstance(obj, ConditionalWaveNet)
    params = _params(obj)["model"]
    labels = jnp.array([0, 3, 7])
    codes, logits = jax.jit(lambda k: generate(obj.net, params, labels, k, 3, 48))(jax.random.PRNGKey(1))
    assert codes.shape == (3, 48) and codes.dtype == jnp.int32 and len(np.unique(codes)) > 10
    full = obj.net.apply({"params": params}, codes, labels)
    np.testing.assert_allclose(np.asarray(logits), np.asarray(full), atol=1e-5, rtol=1e-5)
    # the draws follow the logits: q_t is categorical(fold_in(rng, t), logits_t)
    t = 17
    expected = jax.random.categorical(jax.random.fold_in(jax.random.PRNGKey(1), t), logits[:, t])
    np.testing.assert_array_equal(np.asarray(codes[:, t]), np.asarray(expected))


def test_output_at_t_depends_exactly_on_the_receptive_field_before_t():
    net = WaveNetNet(**TINY)
    length, r = 40, net.receptive_field
    assert r == 2 + (1 + 2 + 4) + (1 + 2)
    codes = jax.random.randint(jax.random.PRNGKey(0), (1, length), 0, 256)
    params = net.init(jax.random.PRNGKey(1), codes)
    base = net.apply(params, codes)
    s = 20
    changed = net.apply(params, codes.at[0, s].set((codes[0, s] + 128) % 256))
    moved = np.abs(np.asarray(changed - base)).max(axis=(0, 2)) > 0
    np.testing.assert_array_equal(np.flatnonzero(moved), np.arange(s + 1, min(s + r, length - 1) + 1))


def test_loss_is_the_numpy_cross_entropy_of_the_mu_law_codes():
    obj = make({**TINY, "name": "wavenet"}, _meta(24))
    params = _params(obj)
    x, y = _tone(2, 24), jnp.array([1, 4])
    batch = {"x": x, "y": y}
    out = obj.loss("model", params, {}, batch, jax.random.PRNGKey(0), jnp.array(0))

    codes = np.asarray(mu_law.encode(x[..., 0]))
    logits = np.asarray(obj.net.apply({"params": params["model"]}, codes, y), np.float64)
    log_z = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    picked = np.take_along_axis(logits, codes[..., None], -1)[..., 0]
    expected = (log_z - picked).sum(-1)
    np.testing.assert_allclose(np.asarray(out.loss), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out.metrics["bits_per_sample"]), expected / (24 * np.log(2)), rtol=1e-5)
    np.testing.assert_allclose(obj.log_likelihood(params, {}, batch, jax.random.PRNGKey(1)), -expected, rtol=1e-5)
    other = obj.log_likelihood(params, {}, {"x": x, "y": (y + 1) % 10}, jax.random.PRNGKey(1))
    assert np.abs(np.asarray(other) + expected).max() > 1e-4  # the label enters the network


def test_probabilities_of_every_two_sample_waveform_sum_to_one():
    """sum over all 256^2 code pairs of P(q_1, q_2) = 1: the model is a normalised distribution
    over the waveforms' mu-law levels (decoded levels encode back to themselves)."""
    obj = WaveNet(WaveNetNet(**TINY), length=2)
    params = _params(obj)
    q = np.stack(np.meshgrid(np.arange(256), np.arange(256), indexing="ij"), -1).reshape(-1, 2)
    x = mu_law.decode(q)[..., None]
    np.testing.assert_array_equal(np.asarray(mu_law.encode(x[..., 0])), q)
    log_p = np.asarray(jax.jit(lambda p, x: obj.log_likelihood(p, {}, {"x": x}, None))(params, x), np.float64)
    np.testing.assert_allclose(np.exp(log_p).sum(), 1.0, rtol=1e-4)


def test_sample_draws_waveforms_of_the_requested_label():
    obj = make({**TINY, "name": "wavenet"}, _meta(16))
    params = _params(obj)
    x = obj.sample(params, {}, jax.random.PRNGKey(0), 2, label=3)
    assert x.shape == (2, 16, 1) and float(jnp.abs(x).max()) <= 1.0
    codes = mu_law.encode(x[..., 0])
    rng_labels, rng = jax.random.split(jax.random.PRNGKey(0))
    expected, _ = generate(obj.net, params["model"], jnp.full((2,), 3), rng, 2, 16)
    np.testing.assert_array_equal(np.asarray(codes), np.asarray(expected))
    with pytest.raises(ValueError, match="outside"):
        obj.sample(params, {}, jax.random.PRNGKey(0), 2, label=10)


def test_make_rejects_data_that_is_not_a_mono_waveform():
    cfg = {"name": "wavenet"}
    with pytest.raises(ValueError, match="mono waveforms"):
        make(cfg, types.SimpleNamespace(**{**vars(_meta()), "kind": "image", "shape": (28, 28, 1)}))
    with pytest.raises(ValueError, match="no labels"):
        make({"name": "wavenet", "conditional": True}, _meta(num_classes=None))


def test_every_param_has_logical_axis_names():
    net = WaveNetNet(**TINY, num_classes=10)
    boxed = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32), jnp.zeros((1,), jnp.int32))["params"]
    leaves = jax.tree.leaves(boxed, is_leaf=lambda a: isinstance(a, nn.Partitioned))
    assert len(leaves) == 1 + 2 + 5 * (2 + 2 + 2 + 1) + 2 + 2  # embed, causal, layers (+ labels), head
    for a in leaves:
        assert isinstance(a, nn.Partitioned) and len(a.names) == a.value.ndim
        assert set(a.names) <= set(ALL) | {None}
