"""The exact optimal denoiser of Gaussian data, a closed-form stand-in for a trained network."""

import types

import jax.numpy as jnp
import pytest
import numpy as np

MU = np.array([0.6, -0.4], np.float32)
COV = np.array([[0.30, 0.12], [0.12, 0.20]], np.float32)


def denoiser(process, mu=MU, cov=COV):
    """D(y, t) = E[x0 | x0 + sigma_e(t) n = y] = mu + Sigma (Sigma + s^2 I)^-1 (y - mu)."""
    mu, cov = jnp.asarray(mu), jnp.asarray(cov)
    eye = jnp.eye(mu.shape[0])

    def d(y, t):
        s = process.sigma_e(t)
        gain = cov @ jnp.linalg.inv(cov + s**2 * eye)
        return mu + (y - mu) @ gain.T

    return d


def log_density(x, s=0.0, mu=MU, cov=COV):
    """log N(x; mu, Sigma + s^2 I), x [B, d]."""
    c = cov + s**2 * np.eye(len(mu))
    diff = np.asarray(x, np.float64) - mu
    quad = np.einsum("bi,ij,bj->b", diff, np.linalg.inv(c), diff)
    return -0.5 * (quad + np.log(np.linalg.det(2 * np.pi * c)))


@pytest.fixture
def gaussian():
    """The Gaussian-data oracle: MU, COV, denoiser(process), log_density(x, s)."""
    return types.SimpleNamespace(MU=MU, COV=COV, denoiser=denoiser, log_density=log_density)
