"""What the network predicts, and exact conversions between the predictions.

With x_t = alpha x0 + sigma eps:
  eps  the noise (Ho et al. 2020)
  x0   the clean data
  v    v = alpha eps - sigma x0 (Salimans & Ho 2022, "Progressive Distillation", sec. 4)
  edm  the raw network F of Karras et al. 2022 (eq. 7): in the EDM view y = x_t / alpha,
       s = sigma / alpha, the denoiser is D(y) = c_skip(s) y + c_out(s) F(c_in(s) y, c_noise(s)).

The v formulas below hold for any (alpha, sigma), not only alpha^2 + sigma^2 = 1:
  x0 = (alpha x_t - sigma v) / (alpha^2 + sigma^2),  eps = (sigma x_t + alpha v) / (alpha^2 + sigma^2).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
PARAMETERIZATIONS = ("eps", "x0", "v", "edm")


class Precond(NamedTuple):
    """EDM preconditioning (Karras et al. 2022, Table 1, "Ours")."""

    c_skip: Array
    c_out: Array
    c_in: Array
    c_noise: Array


def edm_precond(sigma: Array, sigma_data: float) -> Precond:
    """c_skip = sd^2/(s^2+sd^2), c_out = s sd/sqrt(s^2+sd^2), c_in = 1/sqrt(s^2+sd^2), c_noise = ln(s)/4."""
    total = sigma**2 + sigma_data**2
    return Precond(
        c_skip=sigma_data**2 / total,
        c_out=sigma * sigma_data * jax.lax.rsqrt(total),
        c_in=jax.lax.rsqrt(total),
        c_noise=0.25 * jnp.log(sigma),
    )


def edm_weight(sigma: Array, sigma_data: float) -> Array:
    """lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2 = 1 / c_out^2 (Karras et al. 2022, Table 1)."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def target(kind: str, x0: Array, eps: Array, alpha: Array, sigma: Array, sigma_data: float = 0.5) -> Array:
    """The regression target of parameterization `kind` for the pair (x0, eps)."""
    if kind == "eps":
        return eps
    if kind == "x0":
        return x0
    if kind == "v":
        return alpha * eps - sigma * x0
    if kind == "edm":
        x_t = alpha * x0 + sigma * eps
        p = edm_precond(sigma / alpha, sigma_data)
        return (x0 - p.c_skip * (x_t / alpha)) / p.c_out
    raise ValueError(f"parameterization {kind!r} is unknown; choose one of {PARAMETERIZATIONS}")


def to_x0(kind: str, out: Array, x_t: Array, alpha: Array, sigma: Array, sigma_data: float = 0.5) -> Array:
    """x0 prediction from the network output `out` of parameterization `kind`."""
    if kind == "eps":
        return (x_t - sigma * out) / alpha
    if kind == "x0":
        return out
    if kind == "v":
        return (alpha * x_t - sigma * out) / (alpha**2 + sigma**2)
    if kind == "edm":
        p = edm_precond(sigma / alpha, sigma_data)
        return p.c_skip * (x_t / alpha) + p.c_out * out
    raise ValueError(f"parameterization {kind!r} is unknown; choose one of {PARAMETERIZATIONS}")


def convert(out: Array, src: str, dst: str, x_t: Array, alpha: Array, sigma: Array, sigma_data: float = 0.5) -> Array:
    """Rewrites a prediction of parameterization `src` as one of `dst` at the same x_t."""
    x0 = to_x0(src, out, x_t, alpha, sigma, sigma_data)
    eps = (x_t - alpha * x0) / sigma
    return target(dst, x0, eps, alpha, sigma, sigma_data)


def error_scale(kind: str, alpha: Array, sigma: Array, sigma_data: float = 0.5) -> Array:
    """k with |target error|^2 = k |x0 error|^2 at fixed x_t (a squared Jacobian of the map
    x0 -> target): eps: alpha^2/sigma^2 = SNR; x0: 1; v: ((alpha^2+sigma^2)/sigma)^2; edm: 1/c_out^2."""
    if kind == "eps":
        return (alpha / sigma) ** 2
    if kind == "x0":
        return jnp.ones_like(sigma)
    if kind == "v":
        return ((alpha**2 + sigma**2) / sigma) ** 2
    if kind == "edm":
        return edm_weight(sigma / alpha, sigma_data)
    raise ValueError(f"parameterization {kind!r} is unknown; choose one of {PARAMETERIZATIONS}")


NetFn = Callable[[Array, Array], Array]  # (network input [B, ...], c_noise [B]) -> output [B, ...]


def network_input(
    kind: str, process, x_t: Array, t: Array, alpha: Array, sigma: Array, sigma_data: float = 0.5
) -> tuple[Array, Array]:
    """(network input, c_noise [B]): EDM scales the input by c_in(s) and conditions on ln(s)/4;
    the other parameterizations see x_t and the process's own c_noise(t)."""
    if kind == "edm":
        p = edm_precond(sigma / alpha, sigma_data)
        return p.c_in * (x_t / alpha), p.c_noise.reshape(t.shape)
    return x_t, process.c_noise(t)


def denoise(net: NetFn, kind: str, process, x_t: Array, t: Array, sigma_data: float = 0.5) -> Array:
    """x0 prediction [B, ...] of network `net` at x_t [B, ...], times t [B]."""
    alpha, sigma = (_expand(a, x_t) for a in process.alpha_sigma(t))
    inp, c_noise = network_input(kind, process, x_t, t, alpha, sigma, sigma_data)
    return to_x0(kind, net(inp, c_noise), x_t, alpha, sigma, sigma_data)


def _expand(a: Array, like: Array) -> Array:
    """[B] -> [B, 1, ..., 1] to broadcast against `like`."""
    return jnp.reshape(a, a.shape + (1,) * (like.ndim - a.ndim))
