"""Probability-flow likelihood against the closed-form Gaussian density; Hutchinson vs exact
trace; classifier-free guidance."""

import math

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from genjax.diffusion import guidance, likelihood, schedules


def test_hutchinson_matches_exact_trace():
    w = jax.random.normal(jax.random.key(0), (6, 6))
    f = lambda y: jnp.tanh(y @ w)  # per-example map on [B, 6]
    y = jax.random.normal(jax.random.key(1), (3, 6))
    exact = likelihood.divergence(f, y, None)
    ref = jnp.stack([jnp.trace(jax.jacfwd(lambda v: jnp.tanh(v @ w))(y[b])) for b in range(3)])
    np.testing.assert_allclose(exact, ref, rtol=1e-5)
    zs = jax.random.rademacher(jax.random.key(2), (4000, 3, 6), jnp.float32)
    draws = jax.vmap(lambda z: likelihood.divergence(f, y, z))(zs)
    stderr = draws.std(0) / math.sqrt(zs.shape[0])
    assert bool(jnp.all(jnp.abs(draws.mean(0) - ref) < 4 * stderr)), (draws.mean(0), ref, stderr)


@pytest.mark.parametrize(
    "process", [schedules.EDM(), schedules.DDPM(schedule="cosine"), schedules.VP()], ids=["edm", "ddpm_cosine", "vp"]
)
def test_pf_ode_likelihood_of_correlated_gaussian_data(process, gaussian):
    """Against log N(x; mu, Sigma + s_min^2 I), s_min = sigma_e(t_min), for a correlated Sigma:
    the exact trace per example, Hutchinson's estimate on average over probes (diagonal data and
    the prior's mismatch are tests/diffusion/test_likelihood.py's)."""
    d = gaussian.denoiser(process)
    x = jnp.asarray(np.random.default_rng(0).multivariate_normal(gaussian.MU, gaussian.COV, 64), jnp.float32)
    run = jax.jit(lambda x, r, exact: likelihood.log_likelihood(d, process, x, r, exact_trace=exact), static_argnums=2)
    t_min = process.t_range[0]
    alpha = float(process.alpha_sigma(jnp.float32(t_min))[0])
    ref = gaussian.log_density(x / alpha, s=float(process.sigma_e(jnp.float32(t_min)))) - 2 * np.log(alpha)
    np.testing.assert_allclose(run(x, jax.random.key(0), True).log_p, ref, atol=5e-2)
    hutch = jnp.stack([run(x, jax.random.key(i), False).log_p for i in range(8)]).mean(0)
    np.testing.assert_allclose(hutch.mean(), ref.mean(), atol=0.1)


def test_guidance_scale_one_is_conditional_and_zero_unconditional():
    table = jax.random.normal(jax.random.key(0), (4, 3))  # class 3 is the null class

    def d(y, t, label):
        return y * t + table[label]

    y = jax.random.normal(jax.random.key(1), (5, 3))
    labels = jnp.array([0, 1, 2, 0, 1])
    np.testing.assert_array_equal(guidance.guided(d, labels, 1.0, 3)(y, 0.5), d(y, 0.5, labels))
    np.testing.assert_allclose(guidance.guided(d, labels, 0.0, 3)(y, 0.5), d(y, 0.5, jnp.full(5, 3)), atol=1e-6)
    w = 3.5
    ref = d(y, 0.5, jnp.full(5, 3)) + w * (d(y, 0.5, labels) - d(y, 0.5, jnp.full(5, 3)))
    np.testing.assert_allclose(guidance.guided(d, labels, w, 3)(y, 0.5), ref, atol=1e-5)


def test_label_dropout_rate():
    labels = jnp.zeros(20000, jnp.int32)
    dropped = guidance.drop_labels(jax.random.key(0), labels, 0.1, 10)
    assert set(np.unique(dropped)) == {0, 10}
    assert abs(float(jnp.mean(dropped == 10)) - 0.1) < 0.01
