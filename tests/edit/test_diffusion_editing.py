"""DDIM inversion and SDEdit against the exact denoiser of a Gaussian dataset and the forward
process's closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.diffusion import editing, samplers, schedules

MU, S0 = 0.3, 0.5  # data x0 ~ N(MU, S0^2 I)


def gaussian_denoiser(process, mu=MU, s0=S0):
    """E[x0 | y] for x0 ~ N(mu, s0^2 I), y = x0 + sigma_e(t) eps: mu + s0^2 / (s0^2 + s^2) (y - mu)."""

    def denoise(y, t):
        s = process.sigma_e(t)
        return mu + s0**2 / (s0**2 + s**2) * (y - mu)

    return denoise


def test_noising_is_the_forward_process_closed_form():
    process = schedules.DDPM(schedule="linear", num_steps=1000)
    x0 = jax.random.normal(jax.random.PRNGKey(0), (4, 8))
    eps = jax.random.normal(jax.random.PRNGKey(1), (4, 8))
    alpha_bar = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000, dtype=np.float64))
    for t0 in (0, 250, 999):
        x_t = np.sqrt(alpha_bar[t0]) * x0 + np.sqrt(1 - alpha_bar[t0]) * eps  # q(x_t | x0), Ho et al. eq. 4
        y = editing.sdedit_noise(process, x0, float(t0), eps)
        np.testing.assert_allclose(np.sqrt(alpha_bar[t0]) * np.asarray(y), x_t, rtol=2e-4, atol=2e-5)


def test_start_time_and_grid():
    process = schedules.DDPM(num_steps=1000)
    assert editing.start_time(process, 0.5) == 500.0
    np.testing.assert_array_equal(editing.sdedit_times(process, 500.0, 10), [500, 499, 399, 299, 199, 99])
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="strength"):
            editing.start_time(process, bad)


def test_sdedit_of_a_point_mass_returns_the_point():
    """Data concentrated at MU (s0 = 0): D(y) = MU, so every SDEdit lands on MU."""
    process = schedules.DDPM(num_steps=1000)
    x0 = jax.random.normal(jax.random.PRNGKey(0), (3, 5))
    out = editing.sdedit("ddim", gaussian_denoiser(process, s0=0.0), process, x0, jax.random.PRNGKey(1), 0.6, 10)
    np.testing.assert_allclose(out, MU, atol=1e-5)


def test_sdedit_small_strength_stays_close_and_large_strength_forgets():
    process = schedules.DDPM(num_steps=1000)
    x0 = 3.0 + jax.random.normal(jax.random.PRNGKey(0), (64, 4))  # far from the data's mean MU
    denoise = gaussian_denoiser(process)
    near = editing.sdedit("ddim", denoise, process, x0, jax.random.PRNGKey(1), 0.02, 20)
    far = editing.sdedit("ddim", denoise, process, x0, jax.random.PRNGKey(1), 1.0, 20)
    assert float(jnp.mean((near - x0) ** 2)) < 0.05
    assert abs(float(far.mean()) - MU) < 0.1  # the prior's draw: the input is forgotten


def test_exact_inversion_reconstructs_and_improves_with_fixed_point_iterations():
    process = schedules.DDPM(schedule="linear", num_steps=1000)
    grid = samplers.make_grid(process, 50)
    x0 = MU + S0 * jax.random.normal(jax.random.PRNGKey(0), (8, 16))
    denoise = gaussian_denoiser(process)
    errors = []
    for iters in (0, 1, 2, 5, 20):
        _, x_hat = editing.invert_and_regenerate(denoise, x0, grid, iters)
        errors.append(float(jnp.mean((x_hat - x0) ** 2)))
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[0] > 1e-4  # plain inversion's O(step) error is measurable ...
    assert errors[-1] < 1e-5 * errors[0]  # ... and the fixed-point variant inverts the steps


def test_mse_psnr():
    x = np.zeros((2, 4))
    x_hat = np.array([[0.1] * 4, [0.2] * 4])
    mse, psnr = editing.mse_psnr(x, x_hat, (-1.0, 1.0))
    np.testing.assert_allclose(mse, [0.01, 0.04])
    np.testing.assert_allclose(psnr, 10 * np.log10(4 / np.array([0.01, 0.04])))
