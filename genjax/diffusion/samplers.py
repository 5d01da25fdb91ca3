"""Samplers, each one compiled `lax.scan` over its steps.

All samplers work in the EDM view of the process (Karras et al. 2022, sec. 2 and 4): the state
is y = x_t / alpha(t), whose noise level is sigma_e(t) = sigma(t) / alpha(t), and the model
enters only through its denoiser D(y, t) = E[x0 | x_t = alpha(t) y]. For a variance-preserving
process every step below equals the original paper's step in x-space (scaled by alpha).
The grid is the process's `sampling_times(steps)` (noisiest first), or any strictly decreasing
`timesteps` the caller chooses (DDIM's "any subsequence" of the training steps, Song et al. 2021,
sec. 4.2), followed by sigma = 0.

  ddpm      ancestral sampling from the posterior q(x_s | x_t, x0 = D) (Ho et al. 2020, eq. 6-7;
            on a sub-grid: Nichol & Dhariwal 2021, sec. 4)
  ddim      Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12, any eta
  dpmpp_2m  DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2), first order on the
            first and the final step
  euler     Karras et al. 2022, Algorithm 2 without the second-order correction
  heun      Karras et al. 2022, Algorithm 2, with stochastic churn (S_churn, S_tmin, S_tmax, S_noise)
"""

from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Array = jax.Array
Denoiser = Callable[[Array, Array], Array]  # (y [B, ...], t scalar) -> x0 prediction [B, ...]


def averaged_denoiser(denoisers: Sequence[Denoiser], weights: Sequence[float] | None = None) -> Denoiser:
    """D(y, t) = sum_i w_i D_i(y, t), w_i = 1/n by default: the average of the x0-predictions of
    several param sets (checkpoints, EMA decays) used as one denoiser inside any sampler. The
    x0-prediction is linear in the model, so the average of Bayes-optimal denoisers of data
    p_i is the Bayes-optimal denoiser of the mixture only when their posteriors agree; it is an
    ensemble of estimates of one E[x0 | x_t], as in averaging checkpoints of one run."""
    if not denoisers:
        raise ValueError("averaged_denoiser needs at least one denoiser")
    w = [1.0 / len(denoisers)] * len(denoisers) if weights is None else [float(v) for v in weights]
    if len(w) != len(denoisers) or min(w) < 0 or not math.isclose(sum(w), 1.0, rel_tol=1e-6):
        raise ValueError(f"weights {w} must be {len(denoisers)} non-negative numbers that sum to 1")
    if len(denoisers) == 1:
        return denoisers[0]
    return lambda y, t: sum(w_i * d(y, t) for w_i, d in zip(w, denoisers))


class Grid(NamedTuple):
    t: Array  # [N] process times, noisiest first
    sigma: Array  # [N + 1] sigma_e(t), then 0


def make_grid(process, steps: int | None = None, timesteps: Sequence[float] | None = None) -> Grid:
    """The grid of `steps` default times of `process`, or of the given `timesteps` [N]."""
    if timesteps is None:
        t = jnp.asarray(process.sampling_times(steps))
    else:
        t = jnp.asarray(check_timesteps(process, timesteps, steps))
    return Grid(t=t, sigma=jnp.concatenate([process.sigma_e(t), jnp.zeros((1,), t.dtype)]))


def check_timesteps(process, timesteps: Sequence[float], steps: int | None = None) -> np.ndarray:
    """`timesteps` as float32 [N] after checking that they are strictly decreasing process times
    with a positive noise level (DDPM: integer timesteps in [0, num_steps)); raises ValueError."""
    t = np.asarray(timesteps, np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ValueError(f"timesteps must be a non-empty list of finite numbers, got {list(timesteps)}")
    if steps is not None and int(steps) != t.size:
        raise ValueError(f"steps={steps} but {t.size} timesteps were given; pass one of the two")
    if np.any(np.diff(t) >= 0):
        raise ValueError(f"timesteps must be strictly decreasing (noisiest first), got {t.tolist()}")
    num_steps = getattr(process, "num_steps", None)
    if num_steps is not None and (np.any(t != np.round(t)) or t[0] > num_steps - 1 or t[-1] < 0):
        raise ValueError(
            f"timesteps of a {num_steps}-step DDPM must be integers in [0, {num_steps - 1}], got {t.tolist()}"
        )
    with jax.ensure_compile_time_eval():  # concrete even inside a jit-traced sampler
        sigma = np.asarray(process.sigma_e(jnp.asarray(t, jnp.float32)))
    if not np.all(np.isfinite(sigma) & (sigma > 0)):
        raise ValueError(f"timesteps {t.tolist()} leave the process's range: noise levels {sigma.tolist()}")
    return t.astype(np.float32)


def ddpm_step(y: Array, x0: Array, s: Array, s_next: Array, z: Array) -> Array:
    """y_next ~ q(y_next | y, x0): mean (s_n^2/s^2) y + (1 - s_n^2/s^2) x0,
    variance s_n^2 (s^2 - s_n^2) / s^2 (the posterior with beta-tilde variance)."""
    r = (s_next / s) ** 2
    return r * y + (1 - r) * x0 + jnp.sqrt(s_next**2 * (1 - r)) * z


def ddim_step(y: Array, x0: Array, s: Array, s_next: Array, z: Array, eta: float) -> Array:
    """y_next = x0 + sqrt(s_n^2 - c^2) eps_hat + c z with eps_hat = (y - x0)/s and
    c = eta * posterior std (DDIM eq. 12 and 16 in the EDM view)."""
    c = eta * jnp.sqrt(s_next**2 * (1 - (s_next / s) ** 2))
    eps_hat = (y - x0) / s
    return x0 + jnp.sqrt(jnp.maximum(s_next**2 - c**2, 0.0)) * eps_hat + c * z


def _xs(grid: Grid, rng: Array):
    n = grid.t.shape[0]
    t_next = jnp.concatenate([grid.t[1:], grid.t[-1:]])  # last entry unused (sigma_next = 0)
    return (jnp.arange(n), grid.t, t_next, grid.sigma[:-1], grid.sigma[1:], jax.random.split(rng, n))


def ddpm(denoise: Denoiser, y: Array, grid: Grid, rng: Array, **_) -> Array:
    def body(y, xs):
        _, t, _, s, s_next, key = xs
        z = jax.random.normal(key, y.shape, y.dtype)
        return ddpm_step(y, denoise(y, t), s, s_next, z), None

    return lax.scan(body, y, _xs(grid, rng))[0]


def ddim(denoise: Denoiser, y: Array, grid: Grid, rng: Array, eta: float = 0.0, **_) -> Array:
    def body(y, xs):
        _, t, _, s, s_next, key = xs
        z = jax.random.normal(key, y.shape, y.dtype)
        return ddim_step(y, denoise(y, t), s, s_next, z, eta), None

    return lax.scan(body, y, _xs(grid, rng))[0]


def ddim_invert(denoise: Denoiser, x0: Array, grid: Grid, fixed_point_iters: int = 0) -> Array:
    """Deterministic DDIM (eta = 0) run backwards, from data to the noisiest grid point.

    Each forward step is y_n = D(y) + (s_n / s)(y - D(y)). Plain inversion (iters = 0) evaluates
    D at the known, less noisy point: y = D(y_n) + (s / s_n)(y_n - D(y_n)), with error O(step).
    With iters > 0 each step instead solves the forward step for y by fixed-point iteration,
    y <- D(y) + (s / s_n)(y_n - D(y)) (as in exact-inversion methods, e.g. Pan et al. 2023,
    "Effective Real Image Editing with Accelerated Iterative Diffusion Inversion"); the final
    forward step y0 = D(y) is inverted the same way, y <- y + x0 - D(y).
    """
    t, s = grid.t[::-1], grid.sigma[:-1][::-1]

    def solve(update, y):
        return lax.fori_loop(0, fixed_point_iters, lambda _, v: update(v), y)

    y = solve(lambda v: v + x0 - denoise(v, t[0]), x0)

    def body(y_n, xs):
        t_n, s_n, t, s = xs  # the step goes from (t, s) down to (t_n, s_n)
        d = denoise(y_n, t_n)
        y = d + (s / s_n) * (y_n - d)

        def update(v):
            d = denoise(v, t)
            return d + (s / s_n) * (y_n - d)

        return solve(update, y), None

    return lax.scan(body, y, (t[:-1], s[:-1], t[1:], s[1:]))[0]


def dpmpp_2m(denoise: Denoiser, y: Array, grid: Grid, rng: Array, **_) -> Array:
    """Multistep second order in lambda = -log(sigma) with data prediction:
    y_n = (s_n/s) y - expm1(-h) D', D' = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1}, r = h_{i-1}/h_i.
    Deterministic: `rng` is unused."""

    def body(carry, xs):
        y, d_prev, h_prev = carry
        i, t, _, s, s_next, _ = xs
        d = denoise(y, t)
        last = s_next == 0
        s_safe = jnp.where(last, 1.0, s_next)  # pragma: no mutate (any value > 0: h discards it below)
        h = jnp.where(last, 1.0, jnp.log(s / s_safe))
        r = h_prev / h
        d2 = (1 + 1 / (2 * r)) * d - (1 / (2 * r)) * d_prev
        d_use = jnp.where((i == 0) | last, d, d2)
        y_next = jnp.where(last, d, (s_next / s) * y - jnp.expm1(-h) * d_use)
        return (y_next, d, h), None

    init = (y, jnp.zeros_like(y), jnp.ones((), grid.sigma.dtype))
    return lax.scan(body, init, _xs(grid, rng))[0][0]


def edm(
    denoise: Denoiser,
    y: Array,
    grid: Grid,
    rng: Array,
    t_of_sigma=None,
    *,
    second_order: bool,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
    **_,
) -> Array:
    """Karras et al. (2022), Algorithm 2: stochastic Euler (`euler`) or Heun (`heun`) steps.

    Churn gamma_i = min(S_churn / N, sqrt(2) - 1) for sigma_i in [S_tmin, S_tmax], else 0;
    sigma_hat = sigma_i (1 + gamma_i), y_hat = y + sqrt(sigma_hat^2 - sigma_i^2) S_noise z;
    d = (y_hat - D(y_hat; sigma_hat)) / sigma_hat, y_{i+1} = y_hat + (sigma_{i+1} - sigma_hat) d,
    and, for Heun while sigma_{i+1} > 0, the trapezoidal correction with d' at sigma_{i+1}.
    """
    n = grid.t.shape[0]
    gamma_max = min(s_churn / n, math.sqrt(2) - 1)

    def body(y, xs):
        _, t, t_next, s, s_next, key = xs
        gamma = jnp.where((s >= s_tmin) & (s <= s_tmax), gamma_max, 0.0)
        s_hat = s * (1 + gamma)
        t_hat = jnp.where(gamma > 0, t_of_sigma(s_hat), t)
        z = jax.random.normal(key, y.shape, y.dtype)
        y_hat = y + s * jnp.sqrt(gamma * (2 + gamma)) * s_noise * z  # sqrt(s_hat^2 - s^2)
        d = (y_hat - denoise(y_hat, t_hat)) / s_hat
        y_next = y_hat + (s_next - s_hat) * d
        if second_order:

            def correct(y_next):
                d_next = (y_next - denoise(y_next, t_next)) / s_next
                return y_hat + (s_next - s_hat) * 0.5 * (d + d_next)

            y_next = lax.cond(s_next > 0, correct, lambda v: v, y_next)
        return y_next, None

    return lax.scan(body, y, _xs(grid, rng))[0]


euler = functools.partial(edm, second_order=False)
heun = functools.partial(edm, second_order=True)


SAMPLERS: dict[str, Callable[..., Array]] = {
    "ddpm": ddpm,
    "ddim": ddim,
    "dpmpp_2m": dpmpp_2m,
    "euler": euler,
    "heun": heun,
}
SAMPLER_OPTIONS = {
    "ddpm": (),
    "ddim": ("eta",),
    "dpmpp_2m": (),
    "euler": ("s_churn", "s_tmin", "s_tmax", "s_noise"),
    "heun": ("s_churn", "s_tmin", "s_tmax", "s_noise"),
}


def check_sampler(name: str, steps: int, options: dict) -> None:
    """Raises ValueError for an unknown sampler, a bad step count or an option it lacks."""
    if name not in SAMPLERS:
        raise ValueError(f"sampler {name!r} is unknown; choose one of {sorted(SAMPLERS)}")
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    unknown = sorted(set(options) - set(SAMPLER_OPTIONS[name]))
    if unknown:
        raise ValueError(f"sampler {name!r} takes no option(s) {unknown}; it takes {list(SAMPLER_OPTIONS[name])}")


def sample(
    name: str,
    denoise: Denoiser,
    process,
    rng: Array,
    shape: tuple[int, ...],
    steps: int | None = None,
    *,
    timesteps: Sequence[float] | None = None,
    **options,
) -> Array:
    """Draws y_T ~ N(0, prior_std^2 I) at the first grid time and runs sampler `name` over
    `steps` default times or the given `timesteps` (static Python numbers, noisiest first).

    Returns x0 samples [shape] (at sigma = 0, y is x0). Pure and traceable: jit it whole.
    """
    if timesteps is not None:
        steps = len(check_timesteps(process, timesteps, steps))
    check_sampler(name, steps, options)
    grid = make_grid(process, steps, timesteps)
    rng_init, rng_loop = jax.random.split(rng)
    y = jax.random.normal(rng_init, shape) * process.prior_std(grid.t[0])
    return SAMPLERS[name](denoise, y, grid, rng_loop, t_of_sigma=process.t_of_sigma, **options)
