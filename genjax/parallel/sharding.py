"""Parameter and batch shardings from logical axis names and the config's rules.

Models box their large params with `flax.linen.with_logical_partitioning(init, names)`; each
logical name maps to mesh axes through `config.sharding.rules`. Params without names get the
default: replicated when small, else the largest dimension divisible by the `fsdp` size is
sharded over `fsdp` (ZeRO-3 style). Optimizer state and EMA follow their params.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Any, Iterator, Sequence

import flax.linen as nn
import jax
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from genjax.parallel.axes import BATCH_AXES

PyTree = Any
Rules = Sequence[tuple[str, Any]]
_RULES: contextvars.ContextVar[Rules | None] = contextvars.ContextVar("genjax_activation_rules", default=None)


def _axis_size(mesh: Mesh, axes: Any) -> int:
    if axes is None:
        return 1
    axes = (axes,) if isinstance(axes, str) else tuple(axes)
    return int(np.prod([mesh.shape[a] for a in axes]))


def logical_spec(names: Sequence[str | None], shape: Sequence[int], mesh: Mesh, rules: Rules) -> P:
    """PartitionSpec for one array whose axes carry logical `names`.

    A name maps to its rule's mesh axes unless those are already used by an earlier axis of the
    same array or do not divide the dimension; then that axis is replicated.
    """
    table = dict(rules)
    used: set[str] = set()
    spec = []
    for name, dim in zip(names, shape):
        axes = table.get(name) if name is not None else None
        flat = () if axes is None else ((axes,) if isinstance(axes, str) else tuple(axes))
        flat = tuple(a for a in flat if mesh.shape.get(a, 1) > 1)
        if not flat or used & set(flat) or dim % _axis_size(mesh, flat):
            spec.append(None)
            continue
        used |= set(flat)
        spec.append(flat[0] if len(flat) == 1 else flat)  # pragma: no mutate (one axis: [0] is [-1])
    return P(*spec)


def default_spec(shape: Sequence[int], mesh: Mesh, min_fsdp_size: int) -> P:
    """Unnamed params: the largest `fsdp`-divisible dimension over `fsdp` when big enough."""
    fsdp = mesh.shape.get("fsdp", 1)
    if fsdp == 1 or int(np.prod(shape, dtype=np.int64)) < min_fsdp_size:
        return P()
    for axis in sorted(range(len(shape)), key=lambda i: -shape[i]):
        if shape[axis] % fsdp == 0:
            spec = [None] * len(shape)
            spec[axis] = "fsdp"
            return P(*spec)
    return P()


def _is_box(x: Any) -> bool:
    return isinstance(x, nn.Partitioned)


def tree_shardings(tree: PyTree, mesh: Mesh, rules: Rules, min_fsdp_size: int) -> PyTree:
    """NamedShardings for a (possibly boxed) tree of arrays or ShapeDtypeStructs, unboxed."""

    def one(leaf):
        if isinstance(leaf, nn.LogicallyPartitioned):
            return NamedSharding(mesh, logical_spec(leaf.names, leaf.value.shape, mesh, rules))
        if _is_box(leaf):  # already names mesh axes
            return NamedSharding(mesh, P(*leaf.names))
        return NamedSharding(mesh, default_spec(np.shape(leaf), mesh, min_fsdp_size))

    return jax.tree.map(one, tree, is_leaf=_is_box)


def unbox(tree: PyTree) -> PyTree:
    return nn.meta.unbox(tree)


def opt_state_shardings(
    tx: optax.GradientTransformation, abstract_params: PyTree, param_shardings: PyTree, mesh: Mesh
) -> PyTree:
    """Optimizer-state shardings that follow their params (moments shaped like params)."""
    abstract_state = jax.eval_shape(tx.init, abstract_params)
    replicated = NamedSharding(mesh, P())
    return optax.tree_map_params(
        tx,
        lambda _, sharding: sharding,
        abstract_state,
        param_shardings,
        transform_non_params=lambda _: replicated,
    )


def shard_batch(x: jax.Array) -> jax.Array:
    """x [B, ...] constrained to be sharded over the batch axes of the mesh set by `jax.set_mesh`
    (inside jit); unchanged without such a mesh or when B does not divide over its batch axes."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or any(a not in mesh.axis_names for a in BATCH_AXES):
        return x
    if x.shape[0] % math.prod(mesh.shape[a] for a in BATCH_AXES):
        return x
    return jax.lax.with_sharding_constraint(x, P(BATCH_AXES))


def constrain(x: jax.Array, names: Sequence[str | None]) -> jax.Array:
    """x constrained to the sharding its axes' logical `names` map to, by `logical_spec` (the
    params' own mapping: a taken or non-dividing mesh axis leaves the dimension replicated), under
    the rules and mesh made active by `activation_rules` (the train step traces under them);
    unchanged without them. Models mark block
    boundaries and block interiors with it (Megatron's activation layout, genjax.parallel.axes)."""
    mesh, rules = jax.sharding.get_abstract_mesh(), _RULES.get()
    if mesh.empty or rules is None:
        return x
    if len(names) != x.ndim:
        raise ValueError(f"constrain: {len(names)} logical names {tuple(names)} for an array of shape {x.shape}")
    return jax.lax.with_sharding_constraint(x, logical_spec(names, x.shape, mesh, rules))


@contextlib.contextmanager
def activation_rules(mesh: Mesh, rules: Rules) -> Iterator[None]:
    """Makes `rules` and `mesh` active for `constrain` while a function is traced (usable inside
    jit, unlike `jax.set_mesh`): `with activation_rules(mesh, rules): loss = model(...)`. (Not
    flax's `logical_axis_rules`: under those, flax also constrains every boxed param it unboxes.)"""
    token = _RULES.set(tuple(rules))
    try:
        with jax.sharding.use_abstract_mesh(mesh.abstract_mesh):
            yield
    finally:
        _RULES.reset(token)
