"""Editing real data with a diffusion model: DDIM inversion and regeneration, SDEdit.

In the EDM view of `genjax.diffusion.samplers` (state y = x_t / alpha(t), noise level
sigma_e(t) = sigma(t) / alpha(t), denoiser D(y, t) = E[x0 | x_t = alpha(t) y]):

- Inversion (Song et al. 2021, "Denoising Diffusion Implicit Models", sec. 4.3; Dhariwal & Nichol
  2021, appendix F): deterministic DDIM run backwards from x0 to the noisiest grid point
  (`samplers.ddim_invert`, optionally solving each step by fixed-point iteration), then forwards
  again; the reconstruction error measures how well the probability-flow ODE's discretisation
  is inverted.
- SDEdit (Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing with Stochastic
  Differential Equations", Algorithm 1): perturb x0 with the forward process to an intermediate
  time t0, x_t0 = alpha(t0) x0 + sigma(t0) eps, i.e. y_t0 = x0 + sigma_e(t0) eps, and run the
  sampler from t0 down to 0. t0 trades faithfulness (small t0) for realism (large t0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genjax.diffusion import samplers

Array = jax.Array


def invert_and_regenerate(
    denoise: samplers.Denoiser, x0: Array, grid: samplers.Grid, fixed_point_iters: int = 0
) -> tuple[Array, Array]:
    """x0 [B, ...] -> (y_T [B, ...], x0_hat [B, ...]): the DDIM-inverted noise of x0 at the
    noisiest grid point and its deterministic DDIM (eta = 0) regeneration on the same grid."""
    y_T = samplers.ddim_invert(denoise, x0, grid, fixed_point_iters)
    x0_hat = samplers.ddim(denoise, y_T, grid, jax.random.PRNGKey(0), eta=0.0)  # eta = 0: no noise drawn
    return y_T, x0_hat


def start_time(process, strength: float) -> float:
    """SDEdit's t0 for `strength` in (0, 1]: the fraction of the process's time range, rounded
    to a timestep of a discrete (DDPM) process; raises ValueError outside (0, 1]."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"SDEdit strength must lie in (0, 1] (the fraction of the noising time), got {strength}")
    lo, hi = process.t_range
    t0 = lo + strength * (hi - lo)
    return float(np.round(t0)) if getattr(process, "num_steps", None) is not None else t0


def sdedit_times(process, t0: float, steps: int) -> np.ndarray:
    """The sampling grid of SDEdit from t0: t0, then the times of the process's `steps`-step grid
    below t0 (noisiest first) -> [N] float32."""
    below = [float(t) for t in process.sampling_times(steps) if t < t0]
    return samplers.check_timesteps(process, [t0, *below])


def sdedit_noise(process, x0: Array, t0: float, eps: Array) -> Array:
    """y_t0 = x0 + sigma_e(t0) eps [B, ...]: the forward process's x_t0 = alpha x0 + sigma eps
    divided by alpha(t0)."""
    return x0 + process.sigma_e(jnp.asarray(t0, jnp.float32)) * eps


def sdedit(
    name: str,
    denoise: samplers.Denoiser,
    process,
    x0: Array,
    rng: Array,
    strength: float,
    steps: int,
    **options,
) -> Array:
    """SDEdit of x0 [B, ...] at `strength` (`start_time`): noised to t0 and denoised by sampler
    `name` over t0 and the `steps`-step grid's times below it -> [B, ...]."""
    t0 = start_time(process, strength)
    times = sdedit_times(process, t0, steps)
    samplers.check_sampler(name, len(times), options)
    rng_noise, rng_loop = jax.random.split(rng)
    y = sdedit_noise(process, x0, t0, jax.random.normal(rng_noise, x0.shape, x0.dtype))
    grid = samplers.make_grid(process, timesteps=times)
    return samplers.SAMPLERS[name](denoise, y, grid, rng_loop, t_of_sigma=process.t_of_sigma, **options)


def mse_psnr(x: np.ndarray, x_hat: np.ndarray, value_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-example mean squared error [B] and PSNR [B] in dB, 10 log10((hi - lo)^2 / MSE)."""
    x, x_hat = np.asarray(x, np.float64), np.asarray(x_hat, np.float64)
    mse = np.mean((x - x_hat).reshape(len(x), -1) ** 2, axis=1)
    peak = (value_range[1] - value_range[0]) ** 2
    with np.errstate(divide="ignore"):
        return mse, 10.0 * np.log10(peak / mse)
