"""Spectral normalisation (Miyato et al. 2018) as layers.

The kernel is divided by an estimate of its largest singular value, found by power iteration
(Miyato et al. 2018, Algorithm 1). The left singular-vector estimate `u` is a non-trainable
variable in the "spectral" collection: it is refined (and written back) only when the layer is
called with `update_stats=True` (training), so it lives in the train state, not in the params.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.named import CONV, DENSE, named
from genjax.parallel.axes import EMBED, VOCAB

Array = jax.Array
COLLECTION = "spectral"


def _l2_normalize(v: Array, eps: float = 1e-12) -> Array:
    return v * jax.lax.rsqrt(jnp.sum(jnp.square(v)) + eps)


def power_iteration(w: Array, u: Array, n_steps: int = 1) -> tuple[Array, Array]:
    """One or more power-iteration steps on w [m, n] from u [n].

    v = normalize(w u), u = normalize(w^T v), sigma = v^T w u (Miyato et al. 2018, Alg. 1).
    Returns (sigma [], u [n]); neither carries gradients through the vectors.
    """
    for _ in range(n_steps):
        v = _l2_normalize(w @ u)
        u = _l2_normalize(w.T @ v)
    u = jax.lax.stop_gradient(u)
    v = jax.lax.stop_gradient(_l2_normalize(w @ u))
    sigma = v @ (w @ u)
    return sigma, u


def spectral_normalize(module: nn.Module, kernel: Array, update_stats: bool, n_steps: int) -> Array:
    """kernel / sigma(kernel), with the kernel viewed as a [fan_in, features] matrix."""
    mat = kernel.reshape(-1, kernel.shape[-1])
    u_var = module.variable(
        COLLECTION,
        "u",
        lambda: _l2_normalize(jax.random.normal(module.make_rng("params"), (mat.shape[-1],))),
    )
    # Until the first update (e.g. at init) the estimate may be poor; init and training runs
    # use update_stats=True.
    sigma, u = power_iteration(mat, u_var.value.astype(mat.dtype), n_steps if update_stats else 0)
    if update_stats and not module.is_initializing():
        u_var.value = u.astype(u_var.value.dtype)
    return kernel / sigma


class SNDense(nn.Module):
    """Dense layer with a spectrally normalised kernel: y = x W / sigma(W) + b."""

    features: int
    use_bias: bool = True
    n_steps: int = 1
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: Array, update_stats: bool) -> Array:  # [..., fan_in] -> [..., features]
        kernel = self.param("kernel", named(self.kernel_init, DENSE), (x.shape[-1], self.features))
        kernel = spectral_normalize(self, kernel.astype(x.dtype), update_stats, self.n_steps)
        y = x @ kernel
        if self.use_bias:
            y = y + self.param("bias", named(nn.initializers.zeros, DENSE[1:]), (self.features,)).astype(x.dtype)
        return y


class SNConv(nn.Module):
    """2D convolution (NHWC) with a spectrally normalised kernel [kh, kw, c_in, c_out]."""

    features: int
    kernel_size: Sequence[int] = (3, 3)
    strides: Sequence[int] = (1, 1)
    padding: str | Sequence[tuple[int, int]] = "SAME"
    use_bias: bool = True
    n_steps: int = 1
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: Array, update_stats: bool) -> Array:  # [N, H, W, C] -> [N, H', W', F]
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", named(self.kernel_init, CONV), shape)
        kernel = spectral_normalize(self, kernel.astype(x.dtype), update_stats, self.n_steps)
        y = jax.lax.conv_general_dilated(
            x,
            kernel,
            tuple(self.strides),
            self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        if self.use_bias:
            y = y + self.param("bias", named(nn.initializers.zeros, CONV[-1:]), (self.features,)).astype(x.dtype)
        return y


class SNEmbed(nn.Module):
    """Embedding table [num_embeddings, features] with spectral normalisation (used by the
    projection discriminator, Miyato & Koyama 2018)."""

    num_embeddings: int
    features: int
    n_steps: int = 1

    @nn.compact
    def __call__(self, ids: Array, update_stats: bool) -> Array:  # [B] int -> [B, features]
        table = self.param(
            "embedding", named(nn.initializers.normal(1.0), (VOCAB, EMBED)), (self.num_embeddings, self.features)
        )
        return spectral_normalize(self, table, update_stats, self.n_steps)[ids]
