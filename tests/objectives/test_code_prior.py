"""The transformer prior over a frozen VQ-VAE's codes: its loss against a numpy cross-entropy of
the codes, greedy sampling against a Python loop over full forward passes, and the decoding."""

import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.objectives.autoregressive import make
from genjax.objectives.code_prior import CodePrior
from genjax.objectives.observation import DiscretizedLogistic
from genjax.objectives.vae import VAE, VAENet

METADATA = types.SimpleNamespace(name="tfds:mnist", kind="image", shape=(8, 8, 1), num_classes=10,
                                 value_range=(-1.0, 1.0), bits=8, vocab=None)  # fmt: skip
PRIOR = {"name": "autoregressive", "num_layers": 1, "num_heads": 2, "dim": 16}


@pytest.fixture(scope="module")
def prior_and_state():
    from genjax.nn.resnet_vae import VQVAENet
    from genjax.objectives.vqvae import VQVAE

    net = VQVAENet((8, 8, 1), 4, (4, 8), 1, 2)
    vqvae = VQVAE(net, DiscretizedLogistic(256), num_codes=6)
    x = jax.random.uniform(jax.random.PRNGKey(0), (5, 8, 8, 1), minval=-1, maxval=1)
    variables = nn.unbox(vqvae.init(jax.random.PRNGKey(1), {"x": x}))
    state = {"vqvae": {"params": {p: v.params for p, v in variables.items()},
                       "state": {p: dict(v.state) for p, v in variables.items()}}}  # fmt: skip
    prior = make(PRIOR, METADATA, vqvae=vqvae)
    params = {"model": nn.unbox(prior.init(jax.random.PRNGKey(2), {"x": x})["model"].params)}
    return prior, params, state, x


def test_the_prior_models_the_codes_after_a_start_token(prior_and_state):
    prior, params, state, x = prior_and_state
    assert isinstance(prior, CodePrior) and prior.code_shape == (4, 4)
    assert prior.net.vocab_size == 7 and prior.net.max_len == 16  # 6 codes and the start token


def test_loss_is_the_numpy_cross_entropy_of_the_codes(prior_and_state):
    prior, params, state, x = prior_and_state
    vq = state["vqvae"]
    codes = np.asarray(prior.vqvae.encode_codes(vq["params"], vq["state"], x)).reshape(5, -1)
    assert len(np.unique(codes)) > 1
    tokens = np.concatenate([np.full((5, 1), 6), codes], axis=1)
    logits = np.asarray(prior.net.apply({"params": params["model"]}, jnp.asarray(tokens[:, :-1]))[0], np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_probs, codes[..., None], -1)[..., 0].mean(-1)
    out = prior.loss("model", params, state, {"x": x}, jax.random.PRNGKey(0), jnp.array(0))
    np.testing.assert_allclose(np.asarray(out.loss), expected, rtol=1e-5)


def test_greedy_sampling_equals_a_python_loop_and_decodes(prior_and_state):
    prior, params, state, _ = prior_and_state
    codes = np.asarray(prior.sample_codes(params, jax.random.PRNGKey(3), 3, temperature=0.0))
    tokens = np.full((3, 1), 6)
    for _ in range(16):  # the full forward pass per code, the start token excluded
        logits = np.array(prior.net.apply({"params": params["model"]}, jnp.asarray(tokens))[0][:, -1])
        logits[:, 6] = -np.inf
        tokens = np.concatenate([tokens, logits.argmax(-1)[:, None]], axis=1)
    np.testing.assert_array_equal(codes, tokens[:, 1:].reshape(3, 4, 4))

    rng, vq = jax.random.PRNGKey(4), state["vqvae"]
    images = prior.sample(params, state, rng, 3, top_k=3)
    drawn = prior.sample_codes(params, rng, 3, top_k=3)
    assert int(drawn.max()) < 6
    np.testing.assert_allclose(images, prior.vqvae.decode_codes(vq["params"], vq["state"], drawn), atol=1e-6)
    with pytest.raises(ValueError, match="options"):
        prior.sample(params, state, rng, 3, prompt="a")


def test_the_component_must_be_a_vqvae():
    vae = VAE(VAENet((8, 8, 1), latent_dim=2, hidden=(8,)))
    with pytest.raises(ValueError, match="needs a VQ-VAE run"):
        make(PRIOR, METADATA, vqvae=vae)
