"""Multi-layer perceptrons."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax

from genjax.parallel import axes

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "gelu": nn.gelu,
    "silu": nn.silu,
    "leaky_relu": lambda x: nn.leaky_relu(x, 0.2),
    "tanh": nn.tanh,
}


class MLP(nn.Module):
    """x [B, D_in] -> [B, features[-1]]; activation between layers, none after the last.

    Params are named Megatron-style in pairs (genjax.parallel.axes): even layers split their
    output features over `tensor` (column-parallel), odd layers their input features (row)."""

    features: Sequence[int]
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r}; choose one of {sorted(ACTIVATIONS)}")
        act = ACTIVATIONS[self.activation]
        for i, width in enumerate(self.features):
            names = (axes.EMBED, axes.MLP) if i % 2 == 0 else (axes.MLP, axes.EMBED)
            x = nn.Dense(
                width,
                kernel_init=nn.with_logical_partitioning(nn.initializers.lecun_normal(), names),
                bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), names[1:]),
                name=f"dense_{i}",
            )(x)
            if i < len(self.features) - 1:
                x = act(x)
        return x
