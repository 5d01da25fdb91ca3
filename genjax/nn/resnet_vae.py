"""Convolutional ResNet encoder and decoder of VAEs (the residual stacks of Kingma et al. 2016,
"Improved Variational Inference with Inverse Autoregressive Flow", and NVAE, Vahdat & Kautz 2020,
without their flows and squeeze-excitation).

    encoder:  x [B, H, W, C] -> conv 3x3 -> per level i: num_blocks ResBlocks of channels[i],
              then (all but the last level) a stride-2 3x3 conv to channels[i+1]
              -> features [B, H / 2^(L-1), W / 2^(L-1), channels[-1]]
    decoder:  the mirror image: ResBlocks, nearest-neighbour x2 upsampling and a 3x3 conv
    ResBlock: x + conv3x3(silu(GN(conv3x3(silu(GN(x)))))), the last conv initialised at zero so
              every block starts as the identity.

`ResNetVAENet` puts a dense Gaussian head on the encoder and a dense stem on the decoder: the same
encode/decode interface as the MLP `VAENet` (`genjax.objectives.vae`).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.conv import conv_general_dilated
from genjax.nn.gan_layers import upsample_nearest
from genjax.nn.norm import GroupNorm
from genjax.parallel import axes

Array = jax.Array


def conv(features: int, kernel: int = 3, stride: int = 1, zero: bool = False, name: str | None = None) -> nn.Conv:
    """A 'SAME' conv with logically partitioned kernel [k, k, in, out] and bias [out]."""
    init = nn.initializers.zeros_init() if zero else nn.initializers.lecun_normal()
    return nn.Conv(
        features,
        (kernel, kernel),
        (stride, stride),
        padding="SAME",
        kernel_init=nn.with_logical_partitioning(init, (None, None, axes.CONV_IN, axes.CONV_OUT)),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), (axes.CONV_OUT,)),
        conv_general_dilated=conv_general_dilated,
        name=name,
    )


def dense(features: int, name: str | None = None) -> nn.Dense:
    return nn.Dense(
        features,
        kernel_init=nn.with_logical_partitioning(nn.initializers.lecun_normal(), (axes.EMBED, axes.MLP)),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), (axes.MLP,)),
        name=name,
    )


def norm(channels: int) -> GroupNorm:
    return GroupNorm(num_groups=math.gcd(8, channels), epsilon=1e-5, activation="silu")


class ResBlock(nn.Module):
    """x [B, H, W, C] -> x + f(x) [B, H, W, C] (see the module docstring)."""

    @nn.compact
    def __call__(self, x: Array) -> Array:
        c = x.shape[-1]
        h = conv(c)(norm(c)(x))
        return x + conv(c, zero=True)(norm(c)(h))


def check_levels(shape: Sequence[int], levels: int) -> tuple[int, int]:
    """The spatial size (h, w) after `levels - 1` halvings of an image [H, W, C]; a clear error
    when H or W is not divisible by 2^(levels - 1)."""
    factor = 2 ** (levels - 1)
    h, w = shape[0], shape[1]
    if len(shape) != 3 or h % factor or w % factor:
        raise ValueError(
            f"a ResNet backbone with {levels} levels halves images {levels - 1} times: it needs [H, W, C] images "
            f"with H and W divisible by {factor}, got {tuple(shape)}; use fewer channels levels (e.g. 28x28: 3)"
        )
    return h // factor, w // factor


class ResNetEncoder(nn.Module):
    """x [B, H, W, C] -> features [B, H / 2^(L-1), W / 2^(L-1), channels[-1]], L = len(channels)."""

    channels: Sequence[int] = (32, 64)
    num_blocks: int = 1

    @nn.compact
    def __call__(self, x: Array) -> Array:
        h = conv(self.channels[0])(x)
        for i, ch in enumerate(self.channels):
            for _ in range(self.num_blocks):
                h = ResBlock()(h)
            if i + 1 < len(self.channels):
                h = conv(self.channels[i + 1], stride=2)(norm(ch)(h))
        return h


class ResNetDecoder(nn.Module):
    """features [B, h, w, channels[-1]] -> [B, h 2^(L-1), w 2^(L-1), channels[0]] (pre-activation:
    ends in GroupNorm and silu)."""

    channels: Sequence[int] = (32, 64)
    num_blocks: int = 1

    @nn.compact
    def __call__(self, h: Array) -> Array:
        rev = tuple(reversed(self.channels))
        for i, ch in enumerate(rev):
            for _ in range(self.num_blocks):
                h = ResBlock()(h)
            if i + 1 < len(rev):
                h = conv(rev[i + 1])(upsample_nearest(norm(ch)(h)))
        return norm(rev[-1])(h)


class ResNetVAENet(nn.Module):
    """Encoder x [B, H, W, C] -> (mu, log_var) [B, latent]; decoder z [B, latent] -> [B, H, W,
    out_channels] (the parameters of p(x|z) per pixel); `VAENet`'s interface."""

    shape: tuple[int, ...]
    latent_dim: int = 16
    channels: tuple[int, ...] = (32, 64)
    num_blocks: int = 1
    out_channels: int | None = None

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (*self.shape[:-1], self.out_channels or self.shape[-1])

    def setup(self):
        self.h, self.w = check_levels(self.shape, len(self.channels))
        self.encoder = ResNetEncoder(self.channels, self.num_blocks)
        self.head = dense(2 * self.latent_dim)
        self.stem = dense(self.h * self.w * self.channels[-1])
        self.decoder = ResNetDecoder(self.channels, self.num_blocks)
        self.out = conv(self.out_shape[-1])

    def encode(self, x: Array) -> tuple[Array, Array]:
        h = self.encoder(x)
        mu, log_var = jnp.split(self.head(h.reshape(x.shape[0], -1)), 2, axis=-1)
        return mu, log_var

    def decode(self, z: Array) -> Array:
        h = self.stem(z).reshape(z.shape[0], self.h, self.w, self.channels[-1])
        return self.out(self.decoder(h))

    def __call__(self, x: Array, eps: Array) -> tuple[Array, Array, Array]:
        mu, log_var = self.encode(x)
        z = mu + jnp.exp(0.5 * log_var) * eps
        return self.decode(z), mu, log_var


class VQVAENet(nn.Module):
    """VQ-VAE's encoder x [B, H, W, C] -> z_e [B, h, w, embedding_dim] (a 1x1 conv after the ResNet
    encoder) and decoder z_q [B, h, w, embedding_dim] -> [B, H, W, out_channels]."""

    shape: tuple[int, ...]
    embedding_dim: int = 16
    channels: tuple[int, ...] = (32, 64)
    num_blocks: int = 1
    out_channels: int | None = None

    def setup(self):
        check_levels(self.shape, len(self.channels))
        self.encoder = ResNetEncoder(self.channels, self.num_blocks)
        self.pre_quant = conv(self.embedding_dim, kernel=1)
        self.post_quant = conv(self.channels[-1])
        self.decoder = ResNetDecoder(self.channels, self.num_blocks)
        self.out = conv(self.out_channels or self.shape[-1])

    def encode(self, x: Array) -> Array:
        return self.pre_quant(self.encoder(x))

    def decode(self, z: Array) -> Array:
        return self.out(self.decoder(self.post_quant(z)))

    def __call__(self, x: Array) -> Array:
        return self.decode(self.encode(x))
