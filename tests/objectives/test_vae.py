"""VAE loss terms against scipy, and the objective learns."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
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
