"""Flax layers whose params carry logical axis names (genjax.parallel.axes), so that
`config.sharding.rules` shards them. Each factory returns the flax module itself with its usual
initialisers boxed by `nn.with_logical_partitioning`: param names, shapes and initial values are
those of the plain module, so checkpoints load either way.

Defaults follow Megatron's column-parallel layout: a kernel's input features are `embed` /
`conv_in` (block boundary), its output features `mlp` / `conv_out` (split over tensor).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
from flax.linen.linear import default_embed_init, default_kernel_init

from genjax.parallel.axes import CONV_IN, CONV_OUT, EMBED, MLP, NORM, VOCAB

DENSE = (EMBED, MLP)
CONV = (None, None, CONV_IN, CONV_OUT)  # [kh, kw, in, out]


def named(init: nn.initializers.Initializer, names: tuple) -> nn.initializers.Initializer:
    return nn.with_logical_partitioning(init, names)


def dense(features: int, names: tuple = DENSE, kernel_init=default_kernel_init, **kw: Any) -> nn.Dense:
    return nn.Dense(
        features, kernel_init=named(kernel_init, names), bias_init=named(nn.initializers.zeros, names[-1:]), **kw
    )


def conv(
    features: int, kernel_size, *args: Any, names: tuple = CONV, kernel_init=default_kernel_init, **kw: Any
) -> nn.Conv:
    kernel_init, bias_init = named(kernel_init, names), named(nn.initializers.zeros, names[-1:])
    return nn.Conv(features, kernel_size, *args, kernel_init=kernel_init, bias_init=bias_init, **kw)


def conv_transpose(features: int, kernel_size, *args: Any, names: tuple = CONV, **kw: Any) -> nn.ConvTranspose:
    kernel_init, bias_init = named(default_kernel_init, names), named(nn.initializers.zeros, names[-1:])
    return nn.ConvTranspose(features, kernel_size, *args, kernel_init=kernel_init, bias_init=bias_init, **kw)


def embed(num_embeddings: int, features: int, embedding_init=default_embed_init, **kw: Any) -> nn.Embed:
    return nn.Embed(num_embeddings, features, embedding_init=named(embedding_init, (VOCAB, EMBED)), **kw)


def batch_norm(**kw: Any) -> nn.BatchNorm:
    return nn.BatchNorm(
        scale_init=named(nn.initializers.ones, (NORM,)), bias_init=named(nn.initializers.zeros, (NORM,)), **kw
    )


def layer_norm(**kw: Any) -> nn.LayerNorm:
    return nn.LayerNorm(
        scale_init=named(nn.initializers.ones, (NORM,)), bias_init=named(nn.initializers.zeros, (NORM,)), **kw
    )


def group_norm(**kw: Any) -> nn.GroupNorm:
    return nn.GroupNorm(
        scale_init=named(nn.initializers.ones, (NORM,)), bias_init=named(nn.initializers.zeros, (NORM,)), **kw
    )
