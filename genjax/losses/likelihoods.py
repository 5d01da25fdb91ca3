"""Log-likelihoods of observation models p(x | theta), as pure functions of the model's outputs.

Every `*_log_prob` returns log p(x) in nats per example, summed over all dimensions of x:
[B, ...] -> [B]; the core, not the term, reduces over the batch.

- Bernoulli: x in {0, 1}, logits l: log p = x l - softplus(l) (for x in [0, 1] this is minus the
  binary cross-entropy, a likelihood only for binary x).
- Gaussian: log N(x; mu, sigma^2) with a fixed sigma (a float log sigma) or a learned one (an
  array of log sigma, one per dimension).
- Discretized logistic (Kingma et al. 2016, "Improved Variational Inference with Inverse
  Autoregressive Flow"; Salimans et al. 2017, "PixelCNN++", sec. 2.1): L levels of
  b-bit data on the grid x_p = lo + p w, w = (hi - lo) / (L - 1), p = 0 .. L-1; level p is the bin
  [x_p - w/2, x_p + w/2] of a logistic(mu, s), with the edge bins extended to -inf (p = 0) and
  +inf (p = L-1) so that the L probabilities sum to 1:

      P(x_p) = sigma(a) - sigma(b),   a = (x_p + w/2 - mu) / s,   b = (x_p - w/2 - mu) / s,

  sigma(b) = 0 for p = 0 and sigma(a) = 1 for p = L-1. In log space, with the exact identity
  sigma(a) - sigma(b) = sigma(a) sigma(-b) (1 - e^-(a - b)) and a - b = w / s,

      log P(x_p) = log sigma(a) + log sigma(-b) + log(-expm1(-w / s))

  for the interior bins (log sigma(a) for p = 0, log sigma(-b) for p = L-1), which stays accurate where the difference of CDFs cancels (far tails, tiny s): it needs
  neither PixelCNN++'s thresholds nor its fallback to the density at the bin centre.
- Discretized logistic mixture (PixelCNN++, secs. 2.1 and 2.2): per pixel, K components with weights
  softmax(logit_probs); given component k the C channels are discretized logistics in order,
  channel c's mean shifted by the values of the previous channels, mu_ck + sum_{j<c} c_cjk x_j
  (for RGB: green from red, blue from red and green). log p = sum_pixels logsumexp_k
  (log pi_k + sum_c log P(x_c | k, x_<c)).

Samplers draw from the same distributions and return values on the grid.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Range = tuple[float, float]


def _per_example(v: Array) -> Array:
    """[B, ...] -> [B]: the sum over every dimension but the first."""
    return jnp.sum(v.reshape(v.shape[0], -1), axis=-1)


def bernoulli_log_prob(logits: Array, x: Array) -> Array:
    """log Bernoulli(x; sigmoid(logits)) per example: logits, x [B, ...] -> [B]."""
    return _per_example(x * logits - jax.nn.softplus(logits))


def gaussian_log_prob(mean: Array, log_scale: Array | float, x: Array) -> Array:
    """log N(x; mean, exp(log_scale)^2) per example: mean, x [B, ...], log_scale a float
    (fixed variance) or an array broadcasting to x (learned variance) -> [B]."""
    z = (x - mean) * jnp.exp(-log_scale)
    return _per_example(-0.5 * z**2 - log_scale - 0.5 * math.log(2 * math.pi))


def bin_width(num_bins: int, value_range: Range) -> float:
    """w: the spacing of the grid of `num_bins` levels on `value_range` (lo and hi included)."""
    if num_bins < 2:
        raise ValueError(f"num_bins must be >= 2, got {num_bins}")
    lo, hi = value_range
    return (hi - lo) / (num_bins - 1)


def quantize(x: Array, num_bins: int, value_range: Range) -> Array:
    """The grid value of the bin holding x: lo + p w, p = clip(round((x - lo) / w), 0, L-1),
    within [lo, hi] despite rounding."""
    w, (lo, hi) = bin_width(num_bins, value_range), value_range
    return jnp.clip(lo + w * jnp.clip(jnp.round((x - lo) / w), 0, num_bins - 1), lo, hi)


def discretized_logistic_bin_log_prob(
    mean: Array, log_scale: Array, x: Array, *, num_bins: int = 256, value_range: Range = (-1.0, 1.0)
) -> Array:
    """log P(x) of each value x on the grid under logistic(mean, exp(log_scale)) discretized
    into `num_bins` bins with open edge bins (see the module docstring); elementwise. The bin
    edges lo + (p -+ 1/2) w are computed from the level p of x, so neighbouring bins share their
    edge exactly (the probabilities sum to 1 at any scale) and x may be off the grid by rounding."""
    w, lo = bin_width(num_bins, value_range), value_range[0]
    level = jnp.clip(jnp.round((x - lo) / w), 0, num_bins - 1)
    first, last = level == 0, level == num_bins - 1
    inv_s = jnp.exp(-log_scale)
    a = inv_s * (lo + (level + 0.5) * w - mean)
    b = inv_s * (lo + (level - 0.5) * w - mean)
    log_cdf_upper, log_sf_lower = jax.nn.log_sigmoid(a), jax.nn.log_sigmoid(-b)
    log_width = jnp.log(-jnp.expm1(-w * inv_s))  # log(1 - e^-(a - b))
    return (
        jnp.where(last, 0.0, log_cdf_upper)
        + jnp.where(first, 0.0, log_sf_lower)
        + jnp.where(first | last, 0.0, log_width)
    )


def discretized_logistic_log_prob(
    mean: Array, log_scale: Array, x: Array, *, num_bins: int = 256, value_range: Range = (-1.0, 1.0)
) -> Array:
    """log P(x) per example of independent discretized logistics, one per dimension:
    mean, log_scale, x [B, ...] (x on the grid of `num_bins` levels of `value_range`) -> [B]."""
    return _per_example(
        discretized_logistic_bin_log_prob(mean, log_scale, x, num_bins=num_bins, value_range=value_range)
    )


def _check_coeffs(coeffs: Array | None, channels: int) -> None:
    if coeffs is not None and coeffs.shape[-2] != channels * (channels - 1) // 2:
        raise ValueError(
            f"coeffs need C (C - 1) / 2 = {channels * (channels - 1) // 2} entries for C = {channels} channels "
            f"on their second-to-last axis, got shape {coeffs.shape}"
        )


def conditional_means(means: Array, coeffs: Array | None, x: Array) -> Array:
    """mu_ck + sum_{j<c} coeff_(c,j),k x_j: means [..., C, K], x [..., C] -> [..., C, K].

    coeffs [..., C(C-1)/2, K] are in the order of np.tril_indices(C, -1): (1,0), (2,0), (2,1), ...,
    PixelCNN++'s (green <- red, blue <- red, blue <- green) for RGB; None: no coupling."""
    channels = means.shape[-2]
    _check_coeffs(coeffs, channels)
    if coeffs is None or channels == 1:
        return means
    rows, cols = np.tril_indices(channels, -1)
    shift = jnp.zeros((*coeffs.shape[:-2], channels, channels, coeffs.shape[-1]), coeffs.dtype)
    shift = shift.at[..., rows, cols, :].set(coeffs)  # [..., C (target), C (source), K]
    return means + jnp.einsum("...cjk,...j->...ck", shift, x)


def discretized_logistic_mixture_log_prob(
    logit_probs: Array,
    means: Array,
    log_scales: Array,
    x: Array,
    *,
    coeffs: Array | None = None,
    num_bins: int = 256,
    value_range: Range = (-1.0, 1.0),
) -> Array:
    """log p(x) per example of PixelCNN++'s mixture of discretized logistics.

    logit_probs [B, ..., K]; means, log_scales [B, ..., C, K]; coeffs [B, ..., C(C-1)/2, K] or
    None (see `conditional_means`); x [B, ..., C] on the grid (e.g. [B, H, W, C] images) -> [B]."""
    mu = conditional_means(means, coeffs, x)
    log_p = discretized_logistic_bin_log_prob(mu, log_scales, x[..., None], num_bins=num_bins, value_range=value_range)
    per_pixel = jax.nn.logsumexp(jax.nn.log_softmax(logit_probs, axis=-1) + jnp.sum(log_p, axis=-2), axis=-1)
    return _per_example(per_pixel)


def logistic_noise(rng: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
    """Standard logistic draws log u - log(1 - u), u ~ U(0, 1) (u >= the smallest normal float)."""
    u = jax.random.uniform(rng, shape, dtype, minval=jnp.finfo(dtype).tiny)
    return jnp.log(u) - jnp.log1p(-u)


def discretized_logistic_sample(
    rng: Array, mean: Array, log_scale: Array, *, num_bins: int = 256, value_range: Range = (-1.0, 1.0)
) -> Array:
    """Grid values drawn from the discretized logistics of `discretized_logistic_log_prob`."""
    y = mean + jnp.exp(log_scale) * logistic_noise(rng, jnp.shape(mean), jnp.result_type(mean))
    return quantize(y, num_bins, value_range)


def discretized_logistic_mixture_sample(
    rng: Array,
    logit_probs: Array,
    means: Array,
    log_scales: Array,
    *,
    coeffs: Array | None = None,
    num_bins: int = 256,
    value_range: Range = (-1.0, 1.0),
) -> Array:
    """Grid values x [..., C] drawn from the mixture of `discretized_logistic_mixture_log_prob`:
    a component per pixel, then the channels in order, each shifted by the drawn (quantized)
    values of the previous ones."""
    channels = means.shape[-2]
    _check_coeffs(coeffs, channels)
    key_k, key_x = jax.random.split(rng)
    one_hot = jax.nn.one_hot(jax.random.categorical(key_k, logit_probs), logit_probs.shape[-1], dtype=means.dtype)

    def pick(a: Array) -> Array:  # [..., n, K] -> [..., n], the drawn component
        return jnp.sum(a * one_hot[..., None, :], axis=-1)

    mu, s = pick(means), jnp.exp(pick(log_scales))
    c = pick(coeffs) if coeffs is not None else None
    noise = logistic_noise(key_x, mu.shape, mu.dtype)
    rows, cols = np.tril_indices(channels, -1)
    xs: list[Array] = []
    for ch in range(channels):
        mean_ch = mu[..., ch]
        for i in np.flatnonzero(rows == ch) if c is not None else ():
            mean_ch = mean_ch + c[..., i] * xs[cols[i]]
        xs.append(quantize(mean_ch + s[..., ch] * noise[..., ch], num_bins, value_range))
    return jnp.stack(xs, axis=-1)
