"""MLP generator and discriminator for low-dimensional data (the 2D mixtures of the
mode-collapse literature), with optional spectral normalisation, minibatch standard deviation
and a projection head for class-conditional discrimination (Miyato & Koyama 2018)."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.gan_layers import minibatch_stddev
from genjax.nn.spectral_norm import SNDense, SNEmbed
from genjax.nn import named

Array = jax.Array
_ACTIVATIONS = {"relu": nn.relu, "leaky_relu": lambda x: nn.leaky_relu(x, 0.2), "elu": nn.elu}


def activation(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation={name!r}; choose one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


class MLPGenerator(nn.Module):
    """z [B, z_dim] (and labels y [B]) -> x [B, *out_shape]."""

    out_shape: tuple[int, ...]
    width: int = 256
    depth: int = 3
    act: str = "relu"
    num_classes: int | None = None

    @nn.compact
    def __call__(self, z: Array, y: Array | None = None, train: bool = False) -> Array:
        h = z
        if self.num_classes:
            h = jnp.concatenate([h, named.embed(self.num_classes, z.shape[-1])(y).astype(z.dtype)], -1)
        for _ in range(self.depth):
            h = activation(self.act)(named.dense(self.width)(h))
        out = named.dense(math.prod(self.out_shape))(h)
        return out.reshape(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """x [B, ...] (flattened) -> logits [B]; `minibatch_std` appends the group std before the
    last hidden layer; `spectral_norm` normalises every weight."""

    width: int = 256
    depth: int = 3
    act: str = "leaky_relu"
    spectral_norm: bool = False
    minibatch_std: bool = False
    mbstd_group: int = 4
    num_classes: int | None = None

    @nn.compact
    def __call__(self, x: Array, y: Array | None = None, train: bool = False) -> Array:
        def dense(features, name):
            if self.spectral_norm:
                return lambda v: SNDense(features, name=name)(v, update_stats=train)
            return named.dense(features, name=name)

        h = x.reshape(x.shape[0], -1)
        for i in range(self.depth):
            if self.minibatch_std and i == self.depth - 1:
                h = minibatch_stddev(h, self.mbstd_group)
            h = activation(self.act)(dense(self.width, f"hidden_{i}")(h))
        out = dense(1, "out")(h)[:, 0]
        if self.num_classes:  # projection: + <embed(y), phi(x)>
            if self.spectral_norm:
                emb = SNEmbed(self.num_classes, self.width, name="embed")(y, update_stats=train)
            else:
                emb = named.embed(self.num_classes, self.width, name="embed")(y)
            out = out + jnp.sum(emb.astype(h.dtype) * h, axis=-1)
        return out
