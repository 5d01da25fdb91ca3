"""Shape-first initialisation: eval_shape -> shardings -> jit(init, out_shardings).

Params are born sharded (never materialised on one device), and the same abstract state is the
target for restoring checkpoints onto any mesh.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from genjax.objectives.base import Objective
from genjax.parallel.sharding import opt_state_shardings, tree_shardings, unbox
from genjax.train.state import TrainState

PyTree = Any


def _variables(objective: Objective, rng: jax.Array, batch_spec: Mapping[str, jax.ShapeDtypeStruct]):
    batch = {k: jnp.zeros(s.shape, s.dtype) for k, s in batch_spec.items()}
    variables = objective.init(rng, batch)
    return ({p: v.params for p, v in variables.items()}, {p: dict(v.state) for p, v in variables.items()})


def batch_spec(metadata: Any, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
    """Shapes of a global batch of a dataset: {"x": [B, *shape] float32 (int32 tokens for text),
    "y": [B] int32 (labelled)}."""
    dtype = jnp.int32 if metadata.kind == "text" else jnp.float32
    spec = {"x": jax.ShapeDtypeStruct((batch_size, *metadata.shape), dtype)}
    if metadata.num_classes:
        spec["y"] = jax.ShapeDtypeStruct((batch_size,), jnp.int32)
    return spec


def init_train_state(
    objective: Objective,
    txs: Mapping[str, optax.GradientTransformation],
    rng: jax.Array,
    batch_spec: Mapping[str, jax.ShapeDtypeStruct],
    mesh: Mesh,
    *,
    rules: Any,
    min_fsdp_size: int,
    ema_decays: tuple[float, ...],
    abstract: bool = False,
    frozen: Mapping[str, tuple[PyTree, PyTree]] | None = None,
) -> tuple[TrainState, TrainState]:
    """Returns (state, state_shardings) with params sharded by the logical-axis rules.

    rng: a uint32 [2] key. The params come from `fold_in(rng, 0)`; the state keeps `rng` as the
    base of the per-step keys. abstract=True returns the state's shapes and dtypes only
    (ShapeDtypeStructs, nothing computed): the target for restoring a checkpoint.
    frozen: {component: (variables, shardings)} of frozen networks of other runs
    (`genjax.train.components`), held non-trainable in `model_state[component]`; passed to the
    compiled init as an argument (never baked in as constants).
    """
    missing = sorted(set(objective.players) - set(txs))
    if missing:
        raise ValueError(f"no optimizer for player(s) {missing}")
    frozen = dict(frozen or {})
    clash = sorted(set(frozen) & set(objective.players))
    if clash:
        raise ValueError(f"component name(s) {clash} are also player names of the objective; rename the component")
    txs = tuple((p, txs[p]) for p in objective.players)
    boxed_params, boxed_model_state = jax.eval_shape(
        lambda k: _variables(objective, jax.random.fold_in(k, 0), batch_spec), rng
    )
    param_sh = tree_shardings(boxed_params, mesh, rules, min_fsdp_size)
    model_state_sh = {
        **tree_shardings(boxed_model_state, mesh, rules, min_fsdp_size),
        **{name: sh for name, (_, sh) in frozen.items()},
    }
    frozen_values = {name: v for name, (v, _) in frozen.items()}
    abstract_params = unbox(boxed_params)
    repl = NamedSharding(mesh, P())
    shardings = TrainState(
        step=repl,
        params=param_sh,
        opt_state={p: opt_state_shardings(tx, abstract_params[p], param_sh[p], mesh) for p, tx in txs},
        ema=tuple(param_sh for _ in ema_decays),
        model_state=model_state_sh,
        rng=repl,
        nonfinite_steps=repl,
        txs=txs,
        ema_decays=tuple(ema_decays),
    )

    def init(key: jax.Array, frozen_values: dict[str, PyTree]) -> TrainState:
        # strong types: a weakly typed param (from a Python scalar) would retrace the step
        params, model_state = jax.tree.map(
            lambda x: jax.lax.convert_element_type(x, x.dtype),
            unbox(_variables(objective, jax.random.fold_in(key, 0), batch_spec)),
        )
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            opt_state={p: tx.init(params[p]) for p, tx in txs},
            ema=tuple(jax.tree.map(jnp.copy, params) for _ in ema_decays),
            model_state={**model_state, **frozen_values},
            rng=key,
            nonfinite_steps=jnp.zeros((), jnp.int32),
            txs=txs,
            ema_decays=tuple(ema_decays),
        )

    if abstract:
        return jax.eval_shape(init, rng, frozen_values), shardings
    return jax.jit(init, out_shardings=shardings)(rng, frozen_values), shardings


def abstract_state(state_or_shapes: TrainState, shardings: TrainState) -> TrainState:
    """ShapeDtypeStructs carrying the target shardings (a restore target)."""
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state_or_shapes, shardings)


def count_params(params: Any) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(params))
