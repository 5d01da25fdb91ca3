"""Meshes, sharding rules, multi-process start-up."""

from genjax.parallel.distributed import global_batch, maybe_initialize, to_host
from genjax.parallel.mesh import batch_sharding, make_mesh, mesh_shape, num_batch_shards, replicated
from genjax.parallel.sharding import (
    activation_rules,
    constrain,
    logical_spec,
    opt_state_shardings,
    tree_shardings,
    unbox,
)

__all__ = [
    "activation_rules",
    "constrain",
    "batch_sharding",
    "global_batch",
    "logical_spec",
    "make_mesh",
    "maybe_initialize",
    "mesh_shape",
    "num_batch_shards",
    "opt_state_shardings",
    "replicated",
    "to_host",
    "tree_shardings",
    "unbox",
]
