"""Noise-level and class embeddings for diffusion backbones."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.parallel.axes import EMBED, MLP, VOCAB

Array = jax.Array


def _boxed(init: nn.initializers.Initializer, names: tuple) -> nn.initializers.Initializer:
    """`init` with logical axis names (genjax.parallel.axes)."""
    return nn.with_logical_partitioning(init, names)


def _bias(name: str) -> nn.initializers.Initializer:
    return nn.with_logical_partitioning(nn.initializers.zeros, (name,))


def timestep_embedding(t: Array, dim: int, max_period: float = 10_000.0) -> Array:
    """Sinusoidal embedding [B, dim] of t [B]: [cos(t f_k), sin(t f_k)], f_k = max_period^(-k/half),
    k < half = dim // 2 (Vaswani et al. 2017 as used by ADM, Dhariwal & Nichol 2021); odd dim pads a zero."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    args = jnp.asarray(t, jnp.float32)[:, None] * freqs[None]
    emb = jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)
    return jnp.pad(emb, ((0, 0), (0, dim % 2)))


class TimeEmbedding(nn.Module):
    """c_noise [B] -> sinusoid(freq_dim) -> Dense -> SiLU -> Dense: [B, features]."""

    features: int
    freq_dim: int
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, t: Array, dtype: jnp.dtype = jnp.float32) -> Array:
        h = timestep_embedding(t, self.freq_dim).astype(dtype)
        h = nn.Dense(
            self.features, kernel_init=_boxed(self.kernel_init, (None, MLP)), bias_init=_bias(MLP), name="dense0"
        )(h)
        return nn.Dense(
            self.features, kernel_init=_boxed(self.kernel_init, (MLP, EMBED)), bias_init=_bias(EMBED), name="dense1"
        )(nn.silu(h))


class LabelEmbedding(nn.Module):
    """Labels [B] in [0, num_classes] -> [B, features]; index num_classes is the null class used
    by classifier-free guidance (Ho & Salimans 2022)."""

    num_classes: int
    features: int
    embedding_init: nn.initializers.Initializer = nn.initializers.normal(1.0)

    @nn.compact
    def __call__(self, y: Array) -> Array:
        return nn.Embed(
            self.num_classes + 1, self.features, embedding_init=_boxed(self.embedding_init, (VOCAB, EMBED))
        )(y)
