"""The pixelcnn objective: its loss against a numpy Bernoulli log-likelihood, normalisation of
the whole autoregressive model over every image of a tiny space, and the compiled sampler against
a Python-loop sampler with the same keys."""

import itertools
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.pixelcnn import PixelCNN as PixelCNNNet
from genjax.objectives.observation import Bernoulli, LogisticMixture
from genjax.objectives.pixelcnn import ConditionalPixelCNN, PixelCNN, make


def _init(obj, seed=0):
    variables = obj.init(jax.random.PRNGKey(seed), {"x": jnp.zeros((1, *obj.shape))})
    return {"model": nn.unbox(variables["model"].params)}


def test_loss_is_the_numpy_bernoulli_log_likelihood_of_the_logits():
    shape, labels = (4, 4, 1), jnp.array([0, 2, 1])
    net = PixelCNNNet(out_channels=1, features=4, num_layers=2, hidden=8, num_classes=3)
    obj = ConditionalPixelCNN(net, shape, Bernoulli((0.0, 1.0)), data_bits=1, num_classes=3)
    params = _init(obj)
    x = jax.random.bernoulli(jax.random.PRNGKey(1), 0.4, (3, *shape)).astype(jnp.float32)
    batch = {"x": x, "y": labels}
    loss = obj.loss("model", params, {}, batch, jax.random.PRNGKey(2), jnp.array(0)).loss

    logits = np.asarray(net.apply({"params": params["model"]}, x, labels), np.float64)
    p, xs = 1 / (1 + np.exp(-logits)), np.asarray(x, np.float64)
    expected = -np.sum(xs * np.log(p) + (1 - xs) * np.log(1 - p), axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(loss), expected, rtol=1e-5)
    np.testing.assert_allclose(obj.log_likelihood(params, {}, batch, jax.random.PRNGKey(3)), -expected, rtol=1e-5)
    # the label enters the network: another label, another likelihood
    other = obj.log_likelihood(params, {}, {"x": x, "y": (labels + 1) % 3}, jax.random.PRNGKey(3))
    assert np.abs(np.asarray(other) + expected).max() > 1e-4


@pytest.mark.parametrize(
    "shape, observation",
    [
        ((2, 2, 1), LogisticMixture(num_mix=3, channels=1, num_bins=4, value_range=(-1.0, 1.0))),
        ((1, 2, 2), LogisticMixture(num_mix=2, channels=2, num_bins=4, value_range=(-1.0, 1.0))),
        ((2, 3, 1), Bernoulli((0.0, 1.0))),
    ],
)
def test_the_model_sums_to_one_over_every_image(shape, observation):
    """sum_x p(x) = 1 over all L^(H W C) images: each factor is normalised and sees only the pixels
    before it (a network that peeked at its own pixel would not sum to 1)."""
    net = PixelCNNNet(out_channels=observation.outputs(shape[-1]), features=4, num_layers=2, hidden=8)
    obj = PixelCNN(net, shape, observation, data_bits=int(np.log2(observation.levels)))
    params = _init(obj, seed=3)
    lo, hi = observation.value_range
    grid = np.linspace(lo, hi, observation.levels)
    images = np.array(list(itertools.product(grid, repeat=int(np.prod(shape)))), np.float32).reshape(-1, *shape)
    log_p = obj.log_likelihood(params, {}, {"x": jnp.asarray(images)}, jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(jnp.sum(jnp.exp(log_p))), 1.0, rtol=1e-4)


class RasterSum(nn.Module):
    """A causal network with a known output: the logit of pixel t (raster order) is
    scale * (sum of the pixels before t) - 0.4 t + 0.8 + label, for every output channel."""

    out_channels: int = 1

    @nn.compact
    def __call__(self, x, labels=None):
        scale = self.param("scale", nn.initializers.constant(0.9), ())
        b, h, w, c = x.shape
        flat = x.reshape(b, h * w, c).sum(-1)
        logit = scale * (jnp.cumsum(flat, axis=1) - flat) - 0.4 * jnp.arange(h * w) + 0.8
        if labels is not None:
            logit = logit + labels[:, None]
        return jnp.broadcast_to(logit.reshape(b, h, w, 1), (b, h, w, self.out_channels))


def _raster_sum_logit(x, t, label):
    return 0.9 * x.reshape(-1)[:t].sum() - 0.4 * t + 0.8 + label


def test_sampler_equals_a_python_loop_with_the_same_keys():
    shape, num = (3, 3, 1), 6
    obj = ConditionalPixelCNN(RasterSum(), shape, Bernoulli((0.0, 1.0)), data_bits=1, num_classes=2)
    params, rng = _init(obj), jax.random.PRNGKey(7)
    samples = np.asarray(jax.jit(lambda p, k: obj.sample(p, {}, k, num))(params, rng))

    rng_labels, rng_pixels = jax.random.split(rng)
    labels = np.asarray(obj.sample_labels(rng_labels, num))
    expected = np.zeros((num, *shape), np.float32)
    for t in range(shape[0] * shape[1]):
        i, j = divmod(t, shape[1])
        logits = np.array([_raster_sum_logit(expected[b], t, labels[b]) for b in range(num)], np.float32)
        draw = jax.random.bernoulli(jax.random.fold_in(rng_pixels, t), jax.nn.sigmoid(logits[:, None]))
        expected[:, i, j, :] = np.asarray(draw, np.float32)
    np.testing.assert_array_equal(samples, expected)
    assert 0 < expected.mean() < 1  # the draws are not all one value


def test_mixture_sampler_equals_a_python_loop_with_the_same_keys():
    """Two coupled channels per pixel: the loop draws all channels of pixel t with the key of t."""
    shape, num = (2, 2, 2), 3
    observation = LogisticMixture(num_mix=2, channels=2, num_bins=16, value_range=(-1.0, 1.0))
    net = PixelCNNNet(out_channels=observation.outputs(2), features=4, num_layers=2, hidden=8)
    obj = PixelCNN(net, shape, observation, data_bits=4)
    params, rng = _init(obj, seed=5), jax.random.PRNGKey(11)
    samples = np.asarray(obj.sample(params, {}, rng, num))

    _, rng_pixels = jax.random.split(rng)
    x = np.zeros((num, *shape), np.float32)
    for t in range(shape[0] * shape[1]):
        i, j = divmod(t, shape[1])
        out = net.apply({"params": params["model"]}, jnp.asarray(x))[:, i, j, :]
        x[:, i, j, :] = np.asarray(observation.sample(jax.random.fold_in(rng_pixels, t), out))
    np.testing.assert_allclose(samples, x, atol=1e-6)
    assert len(np.unique(x)) > 2


def test_sample_options_and_labels():
    obj = ConditionalPixelCNN(RasterSum(), (2, 2, 1), Bernoulli((0.0, 1.0)), data_bits=1, num_classes=2)
    params = _init(obj)
    assert obj.sample(params, {}, jax.random.PRNGKey(0), 2, label=1).shape == (2, 2, 2, 1)
    with pytest.raises(ValueError, match="outside"):
        obj.sample(params, {}, jax.random.PRNGKey(0), 2, label=2)
    with pytest.raises(ValueError, match="only the option label"):
        obj.sample(params, {}, jax.random.PRNGKey(0), 2, temperature=0.5)
    unconditional = PixelCNN(RasterSum(), (2, 2, 1), Bernoulli((0.0, 1.0)))
    with pytest.raises(ValueError, match="unconditional"):
        unconditional.sample(params, {}, jax.random.PRNGKey(0), 2, label=1)
    with pytest.raises(ValueError, match="no 'y'"):
        obj.loss("model", params, {}, {"x": jnp.zeros((1, 2, 2, 1))}, jax.random.PRNGKey(0), jnp.array(0))


def _metadata(**kw):
    base = dict(name="tfds:mnist", kind="image", shape=(4, 4, 1), num_classes=10, value_range=(0.0, 1.0), bits=1)
    return types.SimpleNamespace(**{**base, **kw})


def test_make_checks_the_config():
    cfg = {"name": "pixelcnn", "features": 4, "num_layers": 1, "hidden": 8}
    obj = make(cfg, _metadata())
    assert isinstance(obj, ConditionalPixelCNN) and obj.num_classes == 10
    assert type(make({**cfg, "conditional": False}, _metadata())) is PixelCNN
    with pytest.raises(ValueError, match="must be odd"):
        make({**cfg, "kernel_size": 4}, _metadata())
    with pytest.raises(ValueError, match="has no labels"):
        make({**cfg, "conditional": True}, _metadata(num_classes=None))
    with pytest.raises(ValueError, match="data.binarize"):  # a Bernoulli likelihood on 8-bit data
        make(cfg, _metadata(bits=8))
    with pytest.raises(ValueError, match="holds points"):
        make(cfg, _metadata(kind="points", shape=(2,)))
    mixture = make(
        {**cfg, "likelihood": "logistic_mixture", "num_logistic_mix": 10}, _metadata(bits=8, shape=(4, 4, 3))
    )
    assert mixture.observation.num_mix == 10 and mixture.net.out_channels == 10 * (1 + 6 + 3)
