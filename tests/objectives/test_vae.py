"""VAE loss terms against scipy, the loss against the ELBO written out, and the objective learns."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from ml_collections import ConfigDict
from scipy import stats

from genjax.objectives.vae import VAE, VAENet, bernoulli_nll, gaussian_kl, gaussian_nll
from genjax.parallel import make_mesh
from genjax.train import init_train_state, make_train_step


def test_gaussian_kl_against_monte_carlo_and_closed_form():
    r = np.random.RandomState(0)
    mu, log_var = r.normal(size=(2, 3)), r.normal(size=(2, 3)) * 0.3
    kl = np.asarray(gaussian_kl(jnp.asarray(mu), jnp.asarray(log_var)))
    std = np.exp(0.5 * log_var)
    z = mu + std * r.normal(size=(200000, 2, 3))
    mc = np.mean(np.sum(stats.norm.logpdf(z, mu, std) - stats.norm.logpdf(z), axis=-1), axis=0)
    np.testing.assert_allclose(kl, mc, atol=0.02)
    # closed form for a univariate pair: log(s2/s1) + (s1^2 + m^2) / (2 s2^2) - 1/2 with s2 = 1
    exact = np.sum(-np.log(std) + (std**2 + mu**2) / 2 - 0.5, axis=-1)
    np.testing.assert_allclose(kl, exact, rtol=1e-5)


def test_likelihoods_against_scipy():
    r = np.random.RandomState(1)
    logits, target = r.normal(size=(4, 5)), (r.rand(4, 5) > 0.5).astype(np.float32)
    ref = -np.sum(stats.bernoulli.logpmf(target, 1 / (1 + np.exp(-logits))), axis=-1)
    np.testing.assert_allclose(bernoulli_nll(jnp.asarray(logits), jnp.asarray(target)), ref, rtol=1e-5)
    mean, x = r.normal(size=(4, 2, 3)), r.normal(size=(4, 2, 3))
    ref = -np.sum(stats.norm.logpdf(x, mean, 0.3).reshape(4, -1), axis=-1)
    np.testing.assert_allclose(gaussian_nll(jnp.asarray(mean), jnp.asarray(x), 0.3), ref, rtol=1e-5)


@pytest.mark.parametrize("likelihood, beta", [("bernoulli", 0.5), ("gaussian", 2.0)])
def test_loss_is_the_negative_elbo_with_beta_weighted_kl(likelihood, beta):
    """-log p(x|z) + beta KL(q(z|x) || N(0, I)) with z = mu + exp(log_var / 2) eps, eps the
    standard normals drawn from the loss's key, written out with scipy from the net's outputs."""
    objective = VAE(VAENet(shape=(2, 3), latent_dim=3, hidden=(16,)), (-1.0, 1.0), likelihood, 0.3, beta)
    r = np.random.RandomState(0)
    x = np.where(r.rand(4, 2, 3) > 0.5, 1.0, -1.0) if likelihood == "bernoulli" else r.uniform(-1, 1, (4, 2, 3))
    x = jnp.asarray(x, jnp.float32)
    params = {"model": objective.init(jax.random.key(0), {"x": x})["model"].params}
    key = jax.random.key(1)
    out = objective.loss("model", params, {}, {"x": x}, key, 0)

    variables = {"params": params["model"]}
    mu, log_var = (np.asarray(a, np.float64) for a in objective.net.apply(variables, x, method=VAENet.encode))
    eps = np.asarray(jax.random.normal(key, (4, 3)), np.float64)
    z = mu + np.exp(log_var / 2) * eps
    dec = np.asarray(objective.net.apply(variables, jnp.asarray(z, jnp.float32), method=VAENet.decode), np.float64)
    xs, dec = np.asarray(x, np.float64).reshape(4, -1), dec.reshape(4, -1)
    if likelihood == "bernoulli":
        recon = -stats.bernoulli.logpmf((xs + 1) / 2, 1 / (1 + np.exp(-dec))).sum(-1)
    else:
        recon = -stats.norm.logpdf(xs, dec, 0.3).sum(-1)
    sd = np.exp(log_var / 2)
    kl = np.sum(-np.log(sd) + (sd**2 + mu**2) / 2 - 0.5, axis=-1)
    np.testing.assert_allclose(out.metrics["recon"], recon, rtol=1e-5)
    np.testing.assert_allclose(out.metrics["kl"], kl, rtol=1e-5)
    np.testing.assert_allclose(out.loss, recon + beta * kl, rtol=1e-5)
    np.testing.assert_allclose(out.metrics["neg_elbo"], recon + kl, rtol=1e-5)
    np.testing.assert_allclose(out.metrics["nelbo_per_dim"], (recon + kl) / 6, rtol=1e-5)
    assert np.all(kl > 1e-3) and not np.allclose(z, mu, atol=1e-2)  # both terms are exercised
    # the Autoencoder view: the posterior mean, and the mean of p(x|z) in the data range [-1, 1]
    mean = lambda d: 2 / (1 + np.exp(-d)) - 1 if likelihood == "bernoulli" else d  # noqa: E731
    np.testing.assert_allclose(objective.encode(params, x), mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        objective.decode(params, jnp.asarray(z, jnp.float32)).reshape(4, -1), mean(dec), rtol=1e-5, atol=1e-6
    )
    # samples: that mean at z ~ N(0, I) drawn from the sampler's key
    z = jax.random.normal(jax.random.key(2), (5, 3))
    dec = np.asarray(objective.net.apply(variables, z, method=VAENet.decode), np.float64).reshape(5, -1)
    np.testing.assert_allclose(
        objective.sample(params, {}, jax.random.key(2), 5).reshape(5, -1), mean(dec), rtol=1e-5, atol=1e-6
    )


def test_vae_fits_a_small_batch():
    objective = VAE(VAENet(shape=(4, 4, 1), latent_dim=4, hidden=(64,)))
    x = jnp.asarray((np.random.RandomState(0).rand(8, 4, 4, 1) > 0.5) * 2.0 - 1.0, jnp.float32)
    mesh = make_mesh(ConfigDict(dict(data=1, fsdp=1, tensor=1)), jax.devices()[:1])
    state, _ = init_train_state(
        objective,
        {"model": optax.adam(3e-3)},
        jax.random.PRNGKey(0),
        {"x": jax.ShapeDtypeStruct(x.shape, x.dtype)},
        mesh,
        rules=(),
        min_fsdp_size=1 << 30,
        ema_decays=(),
    )
    step = jax.jit(make_train_step(objective))
    first = None
    for _ in range(300):
        state, m = step(state, {"x": x})
        first = float(m["model/recon"]) if first is None else first
    assert float(m["model/recon"]) < 0.25 * first
    samples = objective.sample(state.params, {}, jax.random.PRNGKey(1), 5)
    assert samples.shape == (5, 4, 4, 1) and float(samples.min()) >= -1 and float(samples.max()) <= 1
