"""Averaged denoisers: the mean of several param sets' x0-predictions inside the sampler, against
the closed form of Gaussian denoisers, and through `Diffusion.sample(..., ensemble=...)`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from genjax.data.metadata import DatasetMetadata
from genjax.diffusion import samplers, schedules
from genjax.objectives import make_objective

POINTS = DatasetMetadata("builtin:grid25", "points", (2,), None, (-4.5, 4.5), 1000)


def test_average_of_gaussian_denoisers_is_the_formula(gaussian):
    process = schedules.make_process("ddpm")
    mu2, cov2 = np.array([-1.0, 2.0], np.float32), np.array([[0.5, 0.0], [0.0, 0.1]], np.float32)
    d = samplers.averaged_denoiser([gaussian.denoiser(process), gaussian.denoiser(process, mu2, cov2)], (0.25, 0.75))
    y = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    t = jnp.float32(300.0)
    s2 = float(process.sigma_e(t)) ** 2

    def formula(mu, cov):  # mu + Sigma (Sigma + s^2 I)^-1 (y - mu)
        return mu + (y - mu) @ (cov @ np.linalg.inv(cov + s2 * np.eye(2))).T

    want = 0.25 * formula(gaussian.MU, gaussian.COV) + 0.75 * formula(mu2, cov2)
    np.testing.assert_allclose(d(jnp.asarray(y), t), want, rtol=1e-4, atol=1e-5)


def test_averaging_shifted_means_samples_the_mean_gaussian(gaussian):
    """Same covariance, means mu +- delta: the average denoiser is exactly the denoiser of
    N(mu, Sigma), so the sampler draws that Gaussian."""
    process = schedules.make_process("ddpm")
    delta = np.array([1.0, -0.5], np.float32)
    d = samplers.averaged_denoiser(
        [gaussian.denoiser(process, gaussian.MU + delta), gaussian.denoiser(process, gaussian.MU - delta)]
    )
    x = np.asarray(jax.jit(lambda r: samplers.sample("ddim", d, process, r, (4000, 2), 50))(jax.random.key(0)))
    np.testing.assert_allclose(x.mean(0), gaussian.MU, atol=0.04)
    np.testing.assert_allclose(np.cov(x.T), gaussian.COV, atol=0.035)


@pytest.mark.parametrize(
    "weights, match",
    [((), "at least one"), ((0.5, 0.6), "sum to 1"), ((1.0,), "2 non"), ((1.5, -0.5), "non-negative")],
)
def test_bad_weights_raise(weights, match):
    ds = [lambda y, t: y] * (0 if match == "at least one" else 2)
    with pytest.raises(ValueError, match=match):
        samplers.averaged_denoiser(ds, weights or None)


def _params(obj, seed):
    params = {"model": obj.init(jax.random.key(0), {"x": jnp.zeros((2, 2))})["model"].params}
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(tree, [p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])


def test_sample_with_an_ensemble():
    obj = make_objective(
        ConfigDict({"objective": {"name": "diffusion", "backbone": "mlp", "net": dict(hidden=16, depth=1)}}), POINTS
    )
    a, b = _params(obj, 1), _params(obj, 2)
    run = jax.jit(lambda p, e: obj.sample(p, {}, jax.random.key(3), 8, sampler="ddim", steps=4, ensemble=e))
    one = run(a, ())
    np.testing.assert_allclose(run(a, (a, a)), one, rtol=1e-5, atol=1e-5)
    both = run(a, (b,))
    rng = jax.random.split(jax.random.key(3))[1]
    d = samplers.averaged_denoiser([obj.denoiser(a), obj.denoiser(b)])
    want = samplers.sample("ddim", d, obj.process, rng, (8, 2), 4)
    np.testing.assert_allclose(both, want, rtol=1e-4, atol=1e-4)
    assert not np.allclose(both, one, atol=1e-3)
