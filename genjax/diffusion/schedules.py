"""Noise processes x_t = alpha(t) x0 + sigma(t) eps, eps ~ N(0, I).

Every process also exposes the EDM view (Karras et al. 2022, "Elucidating the Design Space of
Diffusion-Based Generative Models", eq. 4): y = x_t / alpha(t) is x0 plus noise of standard
deviation sigma_e(t) = sigma(t) / alpha(t). The samplers integrate in that view, so one sampler
serves every process.

Processes:
  DDPM  discrete, T steps, beta schedules linear / cosine / scaled_linear
        (Ho et al. 2020; Nichol & Dhariwal 2021 for cosine; Rombach et al. 2022 for scaled_linear)
  VP    continuous variance preserving, linear beta(t) (Song et al. 2021, "Score-Based Generative
        Modeling through SDEs", eq. 11 / 33)
  VE    continuous variance exploding, geometric sigma(t) (Song et al. 2021, eq. 9 / 31)
  EDM   sigma itself is the time; log-normal training sigmas and the rho-spaced sampling
        grid (Karras et al. 2022, Table 1 and eq. 5)

`t_range` is (t_min, t_max): the least noisy time the model is trained on (EDM: sigma_min), where
the likelihood ODE starts, and the noisiest, where the prior N(0, prior_std^2 I) stands.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Union

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

BETA_SCHEDULES = ("linear", "cosine", "scaled_linear")


def beta_schedule(
    name: str,
    num_steps: int,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    cosine_s: float = 0.008,
    max_beta: float = 0.999,
) -> np.ndarray:
    """betas [T] in float64.

    linear:        betas = linspace(beta_start, beta_end, T)             (Ho et al. 2020)
    scaled_linear: betas = linspace(sqrt(beta_start), sqrt(beta_end), T)^2  (Stable Diffusion)
    cosine:        alpha_bar(t) = cos^2(((t/T + s)/(1 + s)) pi/2),
                   beta_t = min(1 - alpha_bar(t+1)/alpha_bar(t), max_beta)  (Nichol & Dhariwal 2021, eq. 17)
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if name == "linear":
        return np.linspace(beta_start, beta_end, num_steps, dtype=np.float64)
    if name == "scaled_linear":
        return np.linspace(beta_start**0.5, beta_end**0.5, num_steps, dtype=np.float64) ** 2
    if name == "cosine":
        f = lambda t: np.cos((t / num_steps + cosine_s) / (1 + cosine_s) * np.pi / 2) ** 2
        t = np.arange(num_steps, dtype=np.float64)
        return np.minimum(1 - f(t + 1) / f(t), max_beta)
    raise ValueError(f"beta schedule {name!r} is unknown; choose one of {BETA_SCHEDULES}")


@dataclasses.dataclass(frozen=True)
class DDPM:
    """Discrete process: t in {0, ..., T-1}, alpha_bar_t = prod_{s<=t} (1 - beta_s).

    alpha = sqrt(alpha_bar), sigma = sqrt(1 - alpha_bar). Fractional t (used only by the
    stochastic churn of Euler/Heun) interpolates log sigma_e linearly between the table's points,
    as k-diffusion's DiscreteSchedule does.
    """

    schedule: str = "linear"
    num_steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    variance_preserving = True

    @property
    def alpha_bar(self) -> np.ndarray:
        return np.cumprod(1.0 - beta_schedule(self.schedule, self.num_steps, self.beta_start, self.beta_end))

    @property
    def _log_sigma_e(self) -> np.ndarray:
        ab = self.alpha_bar
        return 0.5 * np.log((1 - ab) / ab)

    def sigma_e(self, t: Array) -> Array:
        table = jnp.asarray(self._log_sigma_e, jnp.float32)
        return jnp.exp(jnp.interp(jnp.asarray(t, jnp.float32), jnp.arange(self.num_steps), table))

    def alpha_sigma(self, t: Array) -> tuple[Array, Array]:
        s = self.sigma_e(t)
        alpha = jax.lax.rsqrt(1 + s**2)
        return alpha, s * alpha

    def t_of_sigma(self, sigma_e: Array) -> Array:
        table = jnp.asarray(self._log_sigma_e, jnp.float32)
        return jnp.interp(jnp.log(sigma_e), table, jnp.arange(self.num_steps, dtype=jnp.float32))

    def sample_t(self, rng: Array, shape: tuple[int, ...]) -> Array:
        return jax.random.randint(rng, shape, 0, self.num_steps).astype(jnp.float32)

    def c_noise(self, t: Array) -> Array:
        return t

    def sampling_times(self, steps: int) -> np.ndarray:
        """`steps` evenly spaced timesteps T-1, T-1-T/steps, ..., T/steps-1, the "trailing"
        spacing of Lin et al. 2024 ("Common Diffusion Noise Schedules and Sample Steps Are
        Flawed", Table 2); steps = T gives every timestep."""
        _check_steps(steps, self.num_steps)
        return (np.round(np.arange(self.num_steps, 0, -self.num_steps / steps)) - 1).astype(np.float32)

    def prior_std(self, t: Array) -> Array:
        """Std of y_T = x_T / alpha_T when x_T ~ N(0, I)."""
        return 1.0 / self.alpha_sigma(t)[0]

    @property
    def t_range(self) -> tuple[float, float]:
        """(0, T - 1)."""
        return 0.0, float(self.num_steps - 1)


@dataclasses.dataclass(frozen=True)
class VP:
    """Continuous VP-SDE with beta(t) = beta_min + t (beta_max - beta_min), t in [eps, 1].

    alpha(t) = exp(-t^2 (beta_max - beta_min)/4 - t beta_min/2), sigma = sqrt(1 - alpha^2).
    The network sees c_noise = (M - 1) t with M = 1000 (Karras et al. 2022, Table 1, VP column).
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    eps_train: float = 1e-5
    eps_sample: float = 1e-3

    variance_preserving = True

    def _log_alpha(self, t: Array) -> Array:
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def alpha_sigma(self, t: Array) -> tuple[Array, Array]:
        log_alpha = self._log_alpha(jnp.asarray(t, jnp.float32))
        return jnp.exp(log_alpha), jnp.sqrt(-jnp.expm1(2 * log_alpha))

    def sigma_e(self, t: Array) -> Array:
        return jnp.sqrt(jnp.expm1(-2 * self._log_alpha(jnp.asarray(t, jnp.float32))))

    def t_of_sigma(self, sigma_e: Array) -> Array:
        """Inverse of sigma_e(t) (Karras et al. 2022, Table 1: sigma^-1 for VP)."""
        d = self.beta_max - self.beta_min
        return (jnp.sqrt(self.beta_min**2 + 2 * d * jnp.log1p(sigma_e**2)) - self.beta_min) / d

    def sample_t(self, rng: Array, shape: tuple[int, ...]) -> Array:
        return jax.random.uniform(rng, shape, minval=self.eps_train, maxval=1.0)

    def c_noise(self, t: Array) -> Array:
        return 999.0 * t

    def sampling_times(self, steps: int) -> np.ndarray:
        _check_steps(steps)
        return np.linspace(1.0, self.eps_sample, steps).astype(np.float32)

    def prior_std(self, t: Array) -> Array:
        return 1.0 / self.alpha_sigma(t)[0]

    @property
    def t_range(self) -> tuple[float, float]:
        """(eps_train, 1): Song et al. 2021 start the likelihood at their training epsilon 1e-5."""
        return float(self.eps_train), 1.0


@dataclasses.dataclass(frozen=True)
class VE:
    """Continuous VE-SDE: alpha = 1, sigma(t) = sigma_min (sigma_max / sigma_min)^t, t in [0, 1]."""

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    variance_preserving = False

    def sigma_e(self, t: Array) -> Array:
        t = jnp.asarray(t, jnp.float32)
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def alpha_sigma(self, t: Array) -> tuple[Array, Array]:
        s = self.sigma_e(t)
        return jnp.ones_like(s), s

    def t_of_sigma(self, sigma_e: Array) -> Array:
        return jnp.log(sigma_e / self.sigma_min) / math.log(self.sigma_max / self.sigma_min)

    def sample_t(self, rng: Array, shape: tuple[int, ...]) -> Array:
        return jax.random.uniform(rng, shape)

    def c_noise(self, t: Array) -> Array:
        return jnp.log(0.5 * self.sigma_e(t))  # NCSN++ conditions on log sigma (Table 1)

    def sampling_times(self, steps: int) -> np.ndarray:
        _check_steps(steps)
        return np.linspace(1.0, 0.0, steps).astype(np.float32)

    def prior_std(self, t: Array) -> Array:
        return self.sigma_e(t)

    @property
    def t_range(self) -> tuple[float, float]:
        """(0, 1): sigma from sigma_min to sigma_max."""
        return 0.0, 1.0


@dataclasses.dataclass(frozen=True)
class EDM:
    """t = sigma, alpha = 1. Training: ln sigma ~ N(P_mean, P_std^2). Sampling: eq. 5,
    sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho."""

    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    p_mean: float = -1.2
    p_std: float = 1.2

    variance_preserving = False

    def sigma_e(self, t: Array) -> Array:
        return jnp.asarray(t, jnp.float32)

    def alpha_sigma(self, t: Array) -> tuple[Array, Array]:
        s = jnp.asarray(t, jnp.float32)
        return jnp.ones_like(s), s

    def t_of_sigma(self, sigma_e: Array) -> Array:
        return sigma_e

    def sample_t(self, rng: Array, shape: tuple[int, ...]) -> Array:
        return jnp.exp(self.p_mean + self.p_std * jax.random.normal(rng, shape))

    def c_noise(self, t: Array) -> Array:
        return 0.25 * jnp.log(t)

    def sampling_times(self, steps: int) -> np.ndarray:
        _check_steps(steps)
        i = np.arange(steps, dtype=np.float64) / max(steps - 1, 1)
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        return ((hi + i * (lo - hi)) ** self.rho).astype(np.float32)

    def prior_std(self, t: Array) -> Array:
        return jnp.asarray(t, jnp.float32)

    @property
    def t_range(self) -> tuple[float, float]:
        """(sigma_min, sigma_max)."""
        return float(self.sigma_min), float(self.sigma_max)


Process = Union[DDPM, VP, VE, EDM]
PROCESSES = {"ddpm": DDPM, "vp": VP, "ve": VE, "edm": EDM}


def _check_steps(steps: int, max_steps: int | None = None) -> None:
    if steps < 1 or (max_steps is not None and steps > max_steps):
        bound = f" and <= {max_steps}" if max_steps is not None else ""
        raise ValueError(f"steps must be >= 1{bound}, got {steps}")


def make_process(name: str, **kwargs) -> Process:
    """A process by name ('ddpm' | 'vp' | 've' | 'edm') with its dataclass fields."""
    if name not in PROCESSES:
        raise ValueError(f"process {name!r} is unknown; choose one of {sorted(PROCESSES)}")
    cls = PROCESSES[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(f"process {name!r} has no field(s) {unknown}; known: {sorted(fields)}")
    if name == "ddpm" and kwargs.get("schedule", "linear") not in BETA_SCHEDULES:
        raise ValueError(f"schedule {kwargs['schedule']!r} is unknown; choose one of {BETA_SCHEDULES}")
    return cls(**kwargs)
