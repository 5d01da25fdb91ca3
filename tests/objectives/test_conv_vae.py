"""The convolutional ResNet VAE (`backbone="resnet"`): its loss against the ELBO written out in
numpy with beta != 1, the KL warm-up's weight at chosen steps, the free-bits term against a
brute-force loop over dimensions, and clear errors for shapes it cannot take."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict
from scipy import stats

from genjax.data import DatasetMetadata
from genjax.objectives import make_objective
from genjax.objectives.base import Autoencoder, LikelihoodModel
from genjax.objectives.vae import free_bits_kl

LATENT = 5


def _meta(shape=(8, 8, 1)):
    return DatasetMetadata(
        name="t", kind="image", shape=shape, value_range=(0.0, 1.0), num_classes=None, bits=1, num_examples=64
    )


def _vae(**fields):
    cfg = dict(name="vae", backbone="resnet", latent_dim=LATENT, channels=(4, 8), num_blocks=1, **fields)
    return make_objective(ConfigDict(dict(objective=cfg)), _meta())


def _setup(vae, seed=0, batch=6):
    r = np.random.RandomState(seed)
    x = jnp.asarray(r.rand(batch, 8, 8, 1) > 0.5, jnp.float32)
    params = {"model": jax.tree.map(np.asarray, jax.jit(vae.init)(jax.random.key(seed), {"x": x})["model"].params)}
    params = jax.tree.map(lambda p: p + 0.05 * r.normal(size=p.shape).astype(np.float32), params)  # zero inits off
    return x, params


def _numpy_terms(vae, params, x, key):
    """(-log p(x|z) [B], KL per dimension [B, D]) from the net's encoder/decoder outputs, in float64."""
    variables = {"params": params["model"]}
    mu, log_var = (np.asarray(a, np.float64) for a in vae.net.apply(variables, x, method="encode"))
    eps = np.asarray(jax.random.normal(key, mu.shape), np.float64)
    z = mu + np.exp(log_var / 2) * eps
    logits = np.asarray(vae.net.apply(variables, jnp.asarray(z, jnp.float32), method="decode"), np.float64)
    recon = -stats.bernoulli.logpmf(np.asarray(x).reshape(len(x), -1), 1 / (1 + np.exp(-logits.reshape(len(x), -1))))
    sd = np.exp(log_var / 2)
    return recon.sum(-1), -np.log(sd) + (sd**2 + mu**2) / 2 - 0.5


def test_resnet_vae_is_an_autoencoder_and_likelihood_model():
    vae = _vae()
    x, params = _setup(vae)
    assert isinstance(vae, Autoencoder) and isinstance(vae, LikelihoodModel)
    z = vae.encode(params, x)
    assert z.shape == (6, LATENT) and vae.decode(params, z).shape == x.shape
    assert float(vae.decode(params, z).min()) >= 0 and float(vae.decode(params, z).max()) <= 1


def test_resnet_vae_loss_is_the_negative_elbo_with_beta():
    vae = _vae(beta=0.3)
    x, params = _setup(vae)
    key = jax.random.key(3)
    out = vae.loss("model", params, {}, {"x": x}, key, jnp.int32(7))
    recon, kl = _numpy_terms(vae, params, x, key)
    np.testing.assert_allclose(out.metrics["recon"], recon, rtol=1e-4)
    np.testing.assert_allclose(out.metrics["kl"], kl.sum(-1), rtol=1e-4)
    np.testing.assert_allclose(out.loss, recon + 0.3 * kl.sum(-1), rtol=1e-4)
    assert np.all(kl.sum(-1) > 1e-2)


@pytest.mark.parametrize("step, weight", [(0, 0.0), (1, 0.05), (10, 0.5), (20, 1.0), (500, 1.0)])
def test_kl_warmup_anneals_beta_linearly_from_zero(step, weight):
    """beta_t = beta min(1, t / kl_warmup_steps) with beta = 2, kl_warmup_steps = 20."""
    vae = _vae(beta=2.0, kl_warmup_steps=20)
    x, params = _setup(vae)
    key = jax.random.key(4)
    out = vae.loss("model", params, {}, {"x": x}, key, jnp.int32(step))
    recon, kl = _numpy_terms(vae, params, x, key)
    np.testing.assert_allclose(out.metrics["beta"], 2.0 * weight, rtol=1e-6)
    np.testing.assert_allclose(out.loss, recon + 2.0 * weight * kl.sum(-1), rtol=1e-4, atol=1e-4)


def _free_bits_brute_force(kl, lam):
    """sum_j max(lam, (1/B) sum_b kl[b, j]), a loop over dimensions and examples."""
    total = 0.0
    for j in range(kl.shape[1]):
        mean_j = sum(kl[b, j] for b in range(kl.shape[0])) / kl.shape[0]
        total += max(lam, mean_j)
    return total


def test_free_bits_term_against_brute_force():
    r = np.random.RandomState(0)
    kl = r.gamma(1.0, 0.5, size=(7, 6)) * np.array([0.1, 0.2, 1.0, 2.0, 0.05, 3.0])
    for lam in (0.0, 0.1, 0.5, 2.0):
        per_example = np.asarray(free_bits_kl(jnp.asarray(kl), lam), np.float64)
        assert per_example.shape == (7,)
        np.testing.assert_allclose(per_example.mean(), _free_bits_brute_force(kl, lam), rtol=1e-5)
    # the gradient reaches exactly the dimensions above the floor, 1/B per example
    lam = 0.5
    grad = np.asarray(jax.grad(lambda k: free_bits_kl(k, lam).mean())(jnp.asarray(kl)))
    above = kl.mean(0) > lam
    assert 0 < above.sum() < 6
    np.testing.assert_allclose(grad, np.broadcast_to(above / 7, kl.shape), rtol=1e-6)


def test_vae_loss_with_free_bits_against_brute_force():
    lam = 0.2
    vae = _vae(free_bits=lam)
    x, params = _setup(vae)
    key = jax.random.key(5)
    out = vae.loss("model", params, {}, {"x": x}, key, jnp.int32(0))
    recon, kl = _numpy_terms(vae, params, x, key)
    assert 0 < np.sum(kl.mean(0) > lam) < LATENT  # some dimensions on each side of the floor
    np.testing.assert_allclose(float(out.loss.mean()), recon.mean() + _free_bits_brute_force(kl, lam), rtol=1e-4)
    np.testing.assert_allclose(out.metrics["kl"], kl.sum(-1), rtol=1e-4)  # the true KL is still reported


def test_bad_shapes_and_options_are_clear_errors():
    cfg = dict(name="vae", backbone="resnet", channels=(4, 8, 16))
    with pytest.raises(ValueError, match="divisible by 4"):
        make_objective(ConfigDict(dict(objective=cfg)), _meta((10, 10, 1)))
    with pytest.raises(ValueError, match="free_bits"):
        make_objective(ConfigDict(dict(objective=dict(name="vae", iwae_k=5, free_bits=0.1))), _meta())
    with pytest.raises(ValueError, match="backbone"):
        make_objective(ConfigDict(dict(objective=dict(name="vae", backbone="vit"))), _meta())
