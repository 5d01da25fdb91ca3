"""Discriminator and generator regularisers of GAN training, as per-example penalties.

`d_fn` is a discriminator applied to a batch, [B, ...] -> [B], whose output i depends on input i
only (per-sample gradients are taken as the gradient of the sum, as in the reference code).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array


def grad_sq_norm(d_fn: Callable[[Array], Array], x: Array) -> Array:
    """||grad_x d_fn(x)_i||^2 for each example i: [B, ...] -> [B].

    On real data this is R1 (Mescheder et al. 2018, eq. 9 without gamma/2), on fakes R2 (eq. 10).
    """
    grad = jax.grad(lambda v: jnp.sum(d_fn(v)))(x)
    return jnp.sum(jnp.square(grad).reshape(grad.shape[0], -1), axis=-1)


r1_penalty = r2_penalty = grad_sq_norm


def gradient_penalty(
    d_fn: Callable[[Array], Array], real: Array, fake: Array, rng: Array, target: float = 1.0
) -> Array:
    """WGAN-GP (Gulrajani et al. 2017, eq. 3): (||grad D(x_hat)||_2 - target)^2 [B].

    x_hat = eps * x + (1 - eps) * G(z), eps ~ U[0, 1] per example. target=0 gives the
    zero-centred penalty of Thanh-Tung et al. (2019).
    """
    eps = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    x_hat = eps * real + (1.0 - eps) * fake
    sq = grad_sq_norm(d_fn, x_hat)
    # sqrt with a safe gradient at 0 (grad of sqrt is infinite there).
    norm = jnp.sqrt(sq + 1e-12)
    return jnp.square(norm - target)


def path_length_penalty(
    g_fn: Callable[[Array], Array],
    w: Array,
    rng: Array,
    pl_mean: Array,
    decay: float = 0.01,
) -> tuple[Array, Array, Array]:
    """StyleGAN2 path-length regulariser (Karras et al. 2020, eq. 4).

    g_fn: w [B, L, D] -> images [B, H, W, C]. With y ~ N(0, I) / sqrt(H W), the lengths are
    a_i = ||J_w^T y||_2 (squared norm summed over D, averaged over the L style inputs as in the
    reference code); pl_mean is their moving average a <- a + decay (mean_i a_i - a).

    Returns (penalty (a_i - a)^2 [B], new pl_mean [], lengths a_i [B]).
    """
    img, vjp = jax.vjp(g_fn, w)
    h, wd = img.shape[1], img.shape[2]
    y = jax.random.normal(rng, img.shape, img.dtype) / jnp.sqrt(h * wd).astype(img.dtype)
    (grad_w,) = vjp(y)
    lengths = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grad_w), axis=2), axis=1))  # [B, L, D] -> [B]
    new_mean = jax.lax.stop_gradient(pl_mean + decay * (jnp.mean(lengths) - pl_mean))
    return jnp.square(lengths - new_mean), new_mean, lengths
