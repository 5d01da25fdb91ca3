"""Parameterization conversions are exact inverses; EDM preconditioning has the paper's properties."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import jax
import jax.numpy as jnp

from genjax.diffusion import parameterization as P

jax.config.update("jax_enable_x64", False)
KINDS = P.PARAMETERIZATIONS


def _pair(seed, vp):
    k = jax.random.split(jax.random.key(seed), 4)
    x0 = jax.random.normal(k[0], (5, 3))
    eps = jax.random.normal(k[1], (5, 3))
    sigma = jnp.exp(jax.random.uniform(k[2], (5, 1), minval=-3, maxval=2))
    alpha = jax.lax.rsqrt(1 + sigma**2) if vp else jnp.exp(jax.random.uniform(k[3], (5, 1), minval=-1, maxval=0.5))
    if vp:
        sigma = sigma * alpha
    return x0, eps, alpha, sigma


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), vp=st.booleans(), sd=st.floats(0.2, 2.0))
def test_conversions_are_exact_inverses(seed, vp, sd):
    x0, eps, alpha, sigma = _pair(seed, vp)
    x_t = alpha * x0 + sigma * eps
    for src, dst in itertools.product(KINDS, KINDS):
        out = P.target(src, x0, eps, alpha, sigma, sd)
        np.testing.assert_allclose(P.to_x0(src, out, x_t, alpha, sigma, sd), x0, rtol=1e-4, atol=1e-4)
        there = P.convert(out, src, dst, x_t, alpha, sigma, sd)
        np.testing.assert_allclose(there, P.target(dst, x0, eps, alpha, sigma, sd), rtol=1e-4, atol=2e-4)
        back = P.convert(there, dst, src, x_t, alpha, sigma, sd)
        np.testing.assert_allclose(back, out, rtol=1e-4, atol=2e-4)


def test_v_is_salimans_ho_and_edm_f_is_minus_v():
    x0, eps, alpha, sigma = _pair(1, vp=True)
    x_t = alpha * x0 + sigma * eps
    v = P.target("v", x0, eps, alpha, sigma)
    # Salimans & Ho 2022, sec. 4: x0 = alpha x_t - sigma v, eps = sigma x_t + alpha v (VP)
    np.testing.assert_allclose(alpha * x_t - sigma * v, x0, atol=1e-5)
    np.testing.assert_allclose(sigma * x_t + alpha * v, eps, atol=1e-5)
    # with sigma_data = 1 the EDM network output of a VP process is -v
    np.testing.assert_allclose(P.target("edm", x0, eps, alpha, sigma, 1.0), -v, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_error_scale_is_squared_jacobian(kind):
    x0, eps, alpha, sigma = _pair(2, vp=False)
    x_t = alpha * x0 + sigma * eps
    dx0 = 1e-2 * jax.random.normal(jax.random.key(9), x0.shape)
    eps2 = (x_t - alpha * (x0 + dx0)) / sigma  # same x_t, another x0
    d_target = P.target(kind, x0 + dx0, eps2, alpha, sigma, 0.7) - P.target(kind, x0, eps, alpha, sigma, 0.7)
    ratio = jnp.sum(d_target**2, axis=1) / jnp.sum(dx0**2, axis=1)
    np.testing.assert_allclose(ratio, P.error_scale(kind, alpha, sigma, 0.7)[:, 0], rtol=2e-3)


def test_edm_precond_unit_variance():
    """Karras et al. 2022, appendix B.6: c_in makes the input unit-variance, c_skip/c_out make
    the effective training target unit-variance, for data of std sigma_data."""
    sd = 0.5
    k = jax.random.split(jax.random.key(3))
    x0 = sd * jax.random.normal(k[0], (200_000,))
    n = jax.random.normal(k[1], (200_000,))
    for s in (0.01, 0.5, 3.0, 80.0):
        p = P.edm_precond(jnp.float32(s), sd)
        y = x0 + s * n
        assert abs(float(jnp.std(p.c_in * y)) - 1) < 0.01
        assert abs(float(jnp.std((x0 - p.c_skip * y) / p.c_out)) - 1) < 0.01
        np.testing.assert_allclose(p.c_noise, np.log(s) / 4, rtol=1e-6)
        np.testing.assert_allclose(P.edm_weight(jnp.float32(s), sd), 1 / p.c_out**2, rtol=1e-5)


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="parameterization"):
        P.to_x0("score", jnp.zeros(2), jnp.zeros(2), 1.0, 1.0)


def test_sigma_data_defaults_to_the_papers_half():
    """sigma_data = 0.5 (Karras et al. 2022, sec. 5) wherever it is left out."""
    rng = np.random.default_rng(5)
    x0, eps, out = (jnp.asarray(rng.normal(size=(3, 2))) for _ in range(3))
    alpha, sigma = jnp.full((3, 1), 0.9), jnp.asarray([[0.2], [1.0], [5.0]])
    x_t = alpha * x0 + sigma * eps
    np.testing.assert_allclose(P.target("edm", x0, eps, alpha, sigma), P.target("edm", x0, eps, alpha, sigma, 0.5))
    np.testing.assert_allclose(P.to_x0("edm", out, x_t, alpha, sigma), P.to_x0("edm", out, x_t, alpha, sigma, 0.5))
    np.testing.assert_allclose(
        P.convert(out, "edm", "eps", x_t, alpha, sigma), P.convert(out, "edm", "eps", x_t, alpha, sigma, 0.5)
    )
    np.testing.assert_allclose(P.error_scale("edm", alpha, sigma), P.error_scale("edm", alpha, sigma, 0.5))


@pytest.mark.parametrize("kind", ["score", "zeta", "a", "EDM"])
def test_unknown_parameterization_is_refused_by_every_function(kind):
    """Names on either side of the known ones in the alphabet, and the wrong case."""
    a, s = jnp.full((2, 1), 0.8), jnp.full((2, 1), 0.6)
    calls = (lambda: P.error_scale(kind, a, s), lambda: P.target(kind, a, a, a, s), lambda: P.to_x0(kind, a, a, a, s))
    for call in calls:
        with pytest.raises(ValueError, match="unknown"):
            call()
