"""Rematerialisation and layer scanning for repeated blocks, chosen by name from a backbone's
config (`config.objective.net.remat`, `.scan`).

Remat (gradient checkpointing; Chen et al. 2016, "Training Deep Nets with Sublinear Memory
Cost") trades compute for memory: the backward pass recomputes a block's activations instead of
keeping them. A policy says which values the forward pass may keep
(`jax.checkpoint_policies`):

    none           keep everything (no remat)
    full           keep only the block's inputs; recompute the rest (~1 extra forward)
    dots_saveable  keep the outputs of matmuls without batch dimensions, recompute the cheap
                   elementwise work between them (attention's [T, T] products are recomputed)
    offload        like dots_saveable, but the kept values move to host memory
                   (pinned_host) until the backward pass needs them; backends with host
                   memory spaces only (GPU, TPU)

Scanning (`nn.scan`) traces and compiles one block for all `depth` layers, whose params gain a
leading "layers" axis (logical name LAYERS, replicated by the default rules): compile time stops
growing with depth.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax

from genjax.parallel.axes import LAYERS

POLICIES: dict[str, Callable | None] = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots_saveable": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
    "offload": jax.checkpoint_policies.offload_dot_with_no_batch_dims("device", "pinned_host"),
}


def check_policy(name: str) -> None:
    if name not in POLICIES:
        raise ValueError(f"remat policy {name!r} is not known; choose one of {', '.join(POLICIES)}")


def remat(block: type[nn.Module], policy: str, *, static_argnums: tuple[int, ...] = ()) -> type[nn.Module]:
    """`block` with the remat `policy` (see the module docstring); unchanged for "none"."""
    check_policy(policy)
    if policy == "none":
        return block
    return nn.remat(block, policy=POLICIES[policy], static_argnums=static_argnums)


def scan_layers(block: type[nn.Module], depth: int) -> type[nn.Module]:
    """`depth` copies of `block` (called as block(h, *broadcast) -> h') as one scanned module,
    called as scanned(h, *broadcast) -> (h, None); params stacked on a leading LAYERS axis."""
    return nn.scan(
        block,
        variable_axes={"params": 0},
        split_rngs={"params": True, "dropout": True},
        in_axes=nn.broadcast,
        length=depth,
        metadata_params={nn.PARTITION_NAME: LAYERS},
    )
