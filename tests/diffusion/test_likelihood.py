"""The probability-flow likelihood against closed forms: the embedded Runge-Kutta solver on ODEs
with known solutions, and log p of 4-D Gaussian data x0 ~ N(mu, diag(sd^2)) under its exact
denoiser for every process, where both the model's density (the prior N(0, prior_std^2) carried
back by the exact flow) and the data's density at t_min are closed form."""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.diffusion import likelihood, ode, schedules
from genjax.objectives.diffusion import Diffusion

MU = np.array([0.6, -0.4, 0.1, 0.3])
SD = np.array([0.5, 0.3, 0.8, 0.1])
X = MU + SD * np.random.default_rng(0).standard_normal((32, 4))
PROCESSES = {
    "ddpm_linear": schedules.DDPM(),
    "ddpm_cosine": schedules.DDPM(schedule="cosine"),
    "ddpm_scaled_linear": schedules.DDPM(schedule="scaled_linear"),
    "vp": schedules.VP(),
    "ve": schedules.VE(),
    "edm": schedules.EDM(),
}


def _denoiser(process):
    """D(y, t) = mu + sd^2 / (sd^2 + s^2) (y - mu), s = sigma_e(t): E[x0 | x0 + s n = y]."""
    mu, var = jnp.asarray(MU, jnp.float32), jnp.asarray(SD**2, jnp.float32)
    return lambda y, t: mu + (y - mu) * var / (var + process.sigma_e(t) ** 2)


def _exact(process, x, t_min=None):
    """(the model's log p_{t_min}(x), the data's) [B] in float64: for the model, y = x / alpha0
    flows to y_T = mu + sqrt((sd^2 + s1^2) / (sd^2 + s0^2)) (y - mu), scored by the prior, plus
    the log-determinant of that linear map; the data's is log N(y; mu, sd^2 + s0^2), both less
    D log alpha0."""
    t0, t1 = process.t_range
    t0 = t0 if t_min is None else t_min
    alpha0 = float(process.alpha_sigma(jnp.float32(t0))[0])
    s0, s1 = (float(process.sigma_e(jnp.float32(t))) for t in (t0, t1))
    std = float(process.prior_std(jnp.float32(t1)))
    v0, v1 = SD**2 + s0**2, SD**2 + s1**2
    y = x / alpha0
    y_T = MU + np.sqrt(v1 / v0) * (y - MU)
    model = -0.5 * np.sum((y_T / std) ** 2 + math.log(2 * math.pi * std**2), 1) + 0.5 * np.sum(np.log(v1 / v0))
    data = -0.5 * np.sum((y - MU) ** 2 / v0 + np.log(2 * math.pi * v0), 1)
    return model - 4 * math.log(alpha0), data - 4 * math.log(alpha0)


@functools.cache
def _compiled(process, **options):
    """log_likelihood jitted once per process and options, with rtol and atol as arguments."""
    run = lambda x, rng, rtol, atol: likelihood.log_likelihood(
        _denoiser(process), process, x, rng, rtol=rtol, atol=atol, **options
    )
    return jax.jit(run)


def _run(process, x=X, rtol=1e-5, atol=1e-5, **options):
    out = _compiled(process, **options)(jnp.asarray(x, jnp.float32), jax.random.key(0), rtol, atol)
    return np.asarray(out.log_p, np.float64), np.asarray(out.error, np.float64), int(out.num_evals)


def _rotation(u, y):
    return jnp.stack([-y[:, 1], y[:, 0]], axis=1)


@pytest.mark.parametrize("method", sorted(ode.TABLEAUS))
def test_embedded_rk_solves_closed_form_odes(method):
    """A rotation (dy/du = J y) over 10 radians, adaptive, at two tolerances; dy/du = cos(u) y,
    y = y0 exp(sin u), backwards from u = 2 to 0 with fixed steps: halving the step divides the
    error by ~2^order."""
    y0 = jnp.array([[1.0, 0.0], [0.5, -2.0]])
    c, s = math.cos(10.0), math.sin(10.0)
    exact = np.stack([c * y0[:, 0] - s * y0[:, 1], s * y0[:, 0] + c * y0[:, 1]], axis=1)
    errors = []
    for tol in (1e-3, 1e-5):
        sol = jax.jit(lambda y: ode.solve(_rotation, 0.0, 10.0, y, method=method, rtol=tol, atol=tol, max_steps=10**5))(
            y0
        )
        assert bool(sol.success) and int(sol.num_evals) >= 1 + (len(ode.TABLEAUS[method].c) - 1) * int(sol.num_steps)
        errors.append(np.abs(np.asarray(sol.y) - exact).max())
        assert errors[-1] < 300 * tol
    assert errors[1] < errors[0] / 10

    growth = lambda u, y: jnp.cos(u) * y
    exact = np.asarray(y0, np.float64) * math.exp(-math.sin(4.0))
    with jax.enable_x64(True):  # float32 round-off would hide dopri5's order
        y0 = jnp.asarray(y0, jnp.float64)
        err = [np.abs(ode.solve(growth, 4.0, 0.0, y0, method=method, steps=n).y - exact).max() for n in (16, 32)]
    assert math.log2(err[0] / err[1]) > ode.TABLEAUS[method].order - 0.3, err


def test_solver_gives_up_after_max_steps():
    sol = ode.solve(lambda u, y: -y, 0.0, 30.0, jnp.ones((2, 3)), max_steps=5)
    assert not bool(sol.success) and int(sol.num_evals) == 1 + 6 * 5
    log_p, error, _ = _run(schedules.EDM(), max_steps=3)
    assert np.all(np.isnan(log_p)) and np.all(np.isinf(error))


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_likelihood_of_gaussian_data_at_the_defaults(name):
    """Default settings (t_min, dopri5 at rtol = atol = 1e-5, Hutchinson's trace, exact here as
    the covariance is diagonal): within 0.01 nats of the model's exact log p_{t_min} per example
    (measured: < 4e-4), within the reported error (measured: 2.6-8x the true error), and on average
    within 0.01 of the data's log-density at t_min (they differ by the prior's mismatch at t_max,
    mu . y_T / s_max^2 per example, whose mean is the KL divergence, < 1e-3 here)."""
    process = PROCESSES[name]
    log_p, error, _ = _run(process)
    model, data = _exact(process, X)
    assert np.abs(log_p - model).max() < 0.01
    assert np.all(np.abs(log_p - model) <= error) and error.max() < 0.01
    assert abs(np.mean(log_p - data)) < 0.01
    np.testing.assert_allclose(_run(process, exact_trace=True)[0], log_p, atol=1e-4)


def test_likelihood_does_not_depend_on_the_sampling_grid():
    """The ODE starts at t_min whatever `steps` is: fixed-step Heun converges to the adaptive
    solution as its steps grow, each within its reported error, and the objective's result does
    not change with its sampler's steps."""
    process = PROCESSES["ddpm_cosine"]
    model, _ = _exact(process, X)
    adaptive = _run(process)[0]
    previous = np.inf
    for steps in (64, 256):
        log_p, error, evals = _run(process, solver="heun", steps=steps)
        assert evals == 2 * steps + 1 and np.all(np.abs(log_p - model) <= error)
        assert np.abs(log_p - adaptive).max() < previous
        previous = np.abs(log_p - adaptive).max()

    results = [_objective(process, **steps)(X)[0] for steps in ({}, {"sample_steps": 1000})]
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("name", ["ddpm_cosine", "ve", "edm"])
def test_reported_error_is_honest(name):
    """Loosening rtol = atol from 1e-6 to 1e-3 increases the true error (against the model's exact
    log p) and the reported error bounds it within a factor 3 (measured: 2.2 at worst)."""
    process = PROCESSES[name]
    model, _ = _exact(process, X)
    true_errors = []
    for tol in (1e-6, 1e-4, 1e-3):
        log_p, error, _ = _run(process, rtol=tol, atol=tol)
        true = np.abs(log_p - model)
        assert np.all(true <= 3 * error), (tol, (true / error).max())
        true_errors.append(true.max())
    assert true_errors[0] < true_errors[1] < true_errors[2], true_errors


class _Oracle(nn.Module):
    """x0 prediction of the Gaussian data at DDPM's x_t, t (c_noise = t): no parameters."""

    process: schedules.DDPM

    def __call__(self, x, c_noise, labels=None, train=False):
        s = self.process.sigma_e(c_noise)[:, None]
        return _denoiser(self.process)(x * jnp.sqrt(1 + s**2), c_noise[0])


@functools.cache
def _objective(process, **fields):
    obj = Diffusion(net=_Oracle(process), process=process, shape=(4,), parameterization="x0", **fields)
    fn = jax.jit(lambda x: obj.log_likelihood_and_error({"model": {}}, {}, {"x": x}, jax.random.key(0)))
    return lambda x: tuple(np.asarray(a, np.float64) for a in fn(jnp.asarray(x, jnp.float32)))


def test_objective_uses_its_likelihood_hyper_parameters():
    """`likelihood_t_min` moves the start (the result follows the exact density at t = 100) and
    `likelihood_rtol`/`atol` loosen the solve (a larger reported error, still a bound)."""
    process = PROCESSES["ddpm_cosine"]
    log_p, error = _objective(process)(X)
    assert np.all(np.abs(log_p - _exact(process, X)[0]) <= error) and error.max() < 0.01
    fields = dict(likelihood_t_min=100.0, likelihood_rtol=1e-3, likelihood_atol=1e-3)
    log_p, loose = _objective(process, **fields)(X)
    assert np.all(np.abs(log_p - _exact(process, X, t_min=100.0)[0]) <= 3 * loose) and loose.max() > 5 * error.max()


def test_t_min_must_have_noise_and_be_below_t_max():
    with pytest.raises(ValueError, match="noise level > 0"):
        likelihood.check_t_min(schedules.EDM(), 0.0)
    with pytest.raises(ValueError, match="below t_max"):
        likelihood.check_t_min(schedules.VP(), 1.0)
    assert likelihood.check_t_min(schedules.VP(), None) == 1e-5


@pytest.mark.parametrize("name", sorted(ode.TABLEAUS))
def test_tableaus_satisfy_the_order_conditions_they_declare(name):
    """Butcher's conditions: c_i = sum_j a_ij; the quadrature conditions sum_i b_i c_i^(k-1) = 1/k
    hold for k <= order and fail at order + 1 (for b_low: up to order - 1), so the declared order
    (it sets the step-size control's exponent) is the coefficients' own."""
    tab = ode.TABLEAUS[name]
    np.testing.assert_allclose(tab.a.sum(1), tab.c, atol=1e-12)

    def exact_up_to(b):
        k = 1
        while abs(np.sum(b * tab.c ** (k - 1)) - 1 / k) < 1e-12:
            k += 1
        return k - 1

    assert exact_up_to(tab.b) == tab.order
    assert exact_up_to(tab.b_low) == tab.order - 1
