"""Denoising score-matching losses, per example.

The loss is w * mean((F(x_t) - target)^2) over the non-batch axes, with the target of the
chosen parameterization. Each weighting is defined by its weight on the x0-space error
|x0_pred - x0|^2 and divided by the parameterization's error scale (see
`parameterization.error_scale`):
  none     plain MSE on the parameterization's own target (Ho et al. 2020's L_simple for eps)
  min_snr  x0-space weight min(SNR, gamma) (Hang et al. 2023, "Efficient Diffusion Training via
           Min-SNR Weighting Strategy", eq. 5): eps -> min(SNR, gamma)/SNR, x0 -> min(SNR, gamma),
           v -> min(SNR, gamma)/(SNR + 1) for variance-preserving processes
  edm      x0-space weight lambda(sigma) = (sigma^2 + sd^2)/(sigma sd)^2 (Karras et al. 2022,
           eq. 8); with the edm parameterization this is unit weight on F
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genjax.diffusion import parameterization as param

Array = jax.Array
WEIGHTINGS = ("none", "min_snr", "edm")


def loss_weight(
    weighting: str, kind: str, alpha: Array, sigma: Array, sigma_data: float = 0.5, min_snr_gamma: float = 5.0
) -> Array:
    """Weight [B] on the squared error of parameterization `kind`'s target."""
    if weighting == "none":
        return jnp.ones_like(sigma)
    scale = param.error_scale(kind, alpha, sigma, sigma_data)
    if weighting == "min_snr":
        snr = (alpha / sigma) ** 2
        return jnp.minimum(snr, min_snr_gamma) / scale
    if weighting == "edm":
        return param.edm_weight(sigma / alpha, sigma_data) / scale
    raise ValueError(f"loss weighting {weighting!r} is unknown; choose one of {WEIGHTINGS}")


def denoising_loss(
    net: param.NetFn,
    process,
    kind: str,
    x0: Array,
    rng: Array,
    weighting: str = "none",
    sigma_data: float = 0.5,
    min_snr_gamma: float = 5.0,
) -> tuple[Array, dict[str, Array]]:
    """Per-example loss [B] and metrics for data x0 [B, ...].

    Draws t from the process's training distribution and eps ~ N(0, I), forms
    x_t = alpha x0 + sigma eps, and regresses the network output on the target.
    """
    rng_t, rng_eps = jax.random.split(rng)
    batch = x0.shape[0]
    t = process.sample_t(rng_t, (batch,))
    eps = jax.random.normal(rng_eps, x0.shape, x0.dtype)
    alpha, sigma = process.alpha_sigma(t)
    alpha, sigma = alpha.astype(x0.dtype), sigma.astype(x0.dtype)
    a, s = param._expand(alpha, x0), param._expand(sigma, x0)
    x_t = a * x0 + s * eps
    inp, c_noise = param.network_input(kind, process, x_t, t, a, s, sigma_data)
    out = net(inp, c_noise)
    tgt = param.target(kind, x0, eps, a, s, sigma_data)
    axes = tuple(range(1, x0.ndim))
    mse = jnp.mean(jnp.square(out.astype(jnp.float32) - tgt.astype(jnp.float32)), axis=axes)
    w = loss_weight(weighting, kind, alpha.astype(jnp.float32), sigma.astype(jnp.float32), sigma_data, min_snr_gamma)
    return w * mse, {"mse": mse, "log_snr": 2 * jnp.log(alpha / sigma).astype(jnp.float32)}
