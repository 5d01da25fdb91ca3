"""DCGAN (Radford et al. 2016): transposed-convolution generator with batch norm and ReLU,
strided-convolution discriminator with leaky ReLU. Sized for 28x28 (7 -> 14 -> 28) and 32x32
(4 -> 8 -> 16 -> 32) images, or any H = W = s * 2^n with s <= 7."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.gan_layers import minibatch_stddev
from genjax.nn.spectral_norm import SNConv, SNDense, SNEmbed
from genjax.nn.named import batch_norm, conv, conv_transpose, dense, embed, layer_norm

Array = jax.Array


def num_upsamplings(size: int) -> tuple[int, int]:
    """(start size s <= 7, n) with size = s * 2^n, n >= 1: 28 -> (7, 2), 32 -> (4, 3)."""
    n = 0
    while size % 2 == 0 and size > 7:
        size, n = size // 2, n + 1
    if n == 0:
        raise ValueError(f"image size {size} must be s * 2^n with n >= 1 (e.g. 28 or 32)")
    return size, n


class DCGANGenerator(nn.Module):
    """z [B, z_dim] (+ labels y [B], concatenated as an embedding) -> images [B, H, W, C] in
    (-1, 1)."""

    out_shape: tuple[int, int, int]
    base: int = 64  # channels of the last hidden layer; doubles per lower resolution
    num_classes: int | None = None

    @nn.compact
    def __call__(self, z: Array, y: Array | None = None, train: bool = False) -> Array:
        h_out, _, c_out = self.out_shape
        s, n = num_upsamplings(h_out)
        if self.num_classes:
            z = jnp.concatenate([z, embed(self.num_classes, z.shape[-1])(y).astype(z.dtype)], -1)
        bn = lambda v: nn.relu(batch_norm(use_running_average=not train, momentum=0.9)(v))  # noqa: E731
        ch = self.base * 2 ** (n - 1)
        h = bn(dense(s * s * ch)(z)).reshape(z.shape[0], s, s, ch)
        for _ in range(n - 1):
            ch //= 2
            h = bn(conv_transpose(ch, (4, 4), (2, 2), padding="SAME")(h))
        h = conv_transpose(c_out, (4, 4), (2, 2), padding="SAME")(h)
        return jnp.tanh(h)


class DCGANDiscriminator(nn.Module):
    """images [B, H, W, C] -> logits [B]: 4x4 stride-2 convolutions doubling the channels, each
    followed by `norm` ("batch", "layer" or "none"; not after the first) and leaky ReLU 0.2.

    Use norm="layer" or "none" with gradient penalties (batch norm mixes examples)."""

    base: int = 64
    num_layers: int = 2
    norm: str = "batch"
    spectral_norm: bool = False
    minibatch_std: bool = False
    num_classes: int | None = None

    @nn.compact
    def __call__(self, x: Array, y: Array | None = None, train: bool = False) -> Array:
        if self.norm not in ("batch", "layer", "none"):
            raise ValueError(f"discriminator.norm={self.norm!r}; choose batch, layer or none")
        h = x
        for i in range(self.num_layers):
            ch = self.base * 2**i
            if self.spectral_norm:
                h = SNConv(ch, (4, 4), (2, 2), padding="SAME")(h, update_stats=train)
            else:
                h = conv(ch, (4, 4), (2, 2), padding="SAME")(h)
            if i > 0 and self.norm == "batch":
                h = batch_norm(use_running_average=not train, momentum=0.9)(h)
            elif i > 0 and self.norm == "layer":
                h = layer_norm()(h)
            h = nn.leaky_relu(h, 0.2)
        if self.minibatch_std:
            h = minibatch_stddev(h)
        h = h.reshape(h.shape[0], -1)
        if self.spectral_norm:
            out = SNDense(1)(h, update_stats=train)[:, 0]
        else:
            out = dense(1)(h)[:, 0]
        if self.num_classes:  # projection discriminator (Miyato & Koyama 2018)
            if self.spectral_norm:
                emb = SNEmbed(self.num_classes, h.shape[-1])(y, update_stats=train)
            else:
                emb = embed(self.num_classes, h.shape[-1])(y)
            out = out + jnp.sum(emb.astype(h.dtype) * h, axis=-1)
        return out
