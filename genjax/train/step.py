"""One compiled train step for any objective.

`make_train_step(objective, ...)` returns a pure `step(state, batch) -> (state, metrics)`.
For each player in `objective.schedule`, in order:

    g      = mean over micro-batches of  grad_{theta_p} mean_b loss_p(theta, batch_b)
    u, s'  = tx_p.update(g, s_p, theta_p)
    u      = lr_scale[p] * u        (a stage's learning-rate factor, `Stage.lr_scale`; default 1)
    theta' = theta_p + u            (skipped, with s_p kept, when loss or g is not finite)

and after all updates, for each EMA decay d of a player that updated without fault:
    ema_p <- d * ema_p + (1 - d) * theta_p.
RNG: the step key is `fold_in(state.rng, state.step)`, then `fold_in(., update_index)` and
`fold_in(., micro_batch)`, so sharded and unsharded runs draw the same numbers.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from genjax.objectives.base import Objective
from genjax.parallel.sharding import activation_rules
from genjax.train.state import TrainState

PyTree = Any
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def compute_dtype(name: str) -> jnp.dtype:
    if name not in _DTYPES:
        raise ValueError(f"config.train.compute_dtype={name!r}; choose one of {sorted(_DTYPES)}")
    return _DTYPES[name]


def cast_floats(tree: PyTree, dtype: jnp.dtype) -> PyTree:
    """Casts the floating-point leaves of `tree` to `dtype` (the mixed-precision policy)."""
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def _mean_metrics(metrics: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    return {k: jnp.mean(v.astype(jnp.float32)) for k, v in metrics.items()}


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _select(pred: jax.Array, new: PyTree, old: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def _split_micro(batch: Mapping[str, jax.Array], n: int) -> dict[str, jax.Array]:
    def split(x):
        if x.shape[0] % n:
            raise ValueError(f"batch of {x.shape[0]} does not split into config.train.grad_accum={n} micro-batches")
        return x.reshape(n, x.shape[0] // n, *x.shape[1:])

    return {k: split(v) for k, v in batch.items()}


def player_grads(
    objective: Objective,
    player: str,
    params: dict,
    model_state: dict,
    batch: Mapping[str, jax.Array],
    rng: jax.Array,
    step: jax.Array,
    *,
    dtype: jnp.dtype,
    grad_accum: int,
):
    """Mean loss, metrics, gradients w.r.t. `params[player]` and the new model state,
    accumulated over `grad_accum` micro-batches with `lax.scan`."""

    def loss_fn(theta, state, micro, key):
        all_params = {**params, player: theta}
        out = objective.loss(player, cast_floats(all_params, dtype), state, cast_floats(micro, dtype), key, step)
        loss = jnp.mean(out.loss.astype(jnp.float32))
        return loss, (_mean_metrics(out.metrics), out.state)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    if grad_accum == 1:
        (loss, (metrics, new_state)), grads = grad_fn(params[player], model_state, dict(batch), rng)
        return loss, metrics, grads, {**model_state, **new_state}

    def body(carry, xs):
        state, grad_sum, loss_sum, metric_sum = carry
        micro, i = xs
        (loss, (metrics, new_state)), grads = grad_fn(params[player], state, micro, jax.random.fold_in(rng, i))
        state = {**state, **new_state}
        add = partial(jax.tree.map, jnp.add)
        return (state, add(grad_sum, grads), loss_sum + loss, add(metric_sum, metrics)), None

    micro = _split_micro(batch, grad_accum)
    first = jax.tree.map(lambda x: x[0], micro)
    metric_shapes = jax.eval_shape(lambda: loss_fn(params[player], model_state, first, rng)[1][0])
    zeros = lambda t: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), t)  # noqa: E731
    carry = (model_state, zeros(params[player]), jnp.zeros((), jnp.float32), zeros(metric_shapes))
    (state, grads, loss, metrics), _ = jax.lax.scan(body, carry, (micro, jnp.arange(grad_accum)))
    scale = lambda t: jax.tree.map(lambda x: x / grad_accum, t)  # noqa: E731
    return loss / grad_accum, scale(metrics), scale(grads), state


def train_step(
    state: TrainState,
    batch: Mapping[str, jax.Array],
    *,
    objective: Objective,
    dtype: jnp.dtype = jnp.float32,
    grad_accum: int = 1,
    nonfinite_guard: bool = True,
    lr_scale: Mapping[str, float] | None = None,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One step of every update in `objective.schedule`; see the module docstring. `lr_scale`
    ({player: factor}, static: a stage's `Stage.lr_scale`) multiplies a player's updates."""
    step_key = jax.random.fold_in(state.rng, state.step)
    params, opt_state, model_state = dict(state.params), dict(state.opt_state), dict(state.model_state)
    lr_scale = dict(lr_scale or {})
    player_ok = {p: jnp.array(True) for p in set(objective.schedule)}
    sums: dict[str, dict[str, jax.Array]] = {}
    counts: dict[str, int] = {}
    for i, player in enumerate(objective.schedule):
        key = jax.random.fold_in(step_key, i)
        loss, metrics, grads, new_model_state = player_grads(
            objective, player, params, model_state, batch, key, state.step, dtype=dtype, grad_accum=grad_accum
        )
        updates, new_opt = state.tx(player).update(grads, opt_state[player], params[player])
        scale = float(lr_scale.get(player, 1.0))
        if scale != 1.0:
            updates = jax.tree.map(lambda u: u * jnp.asarray(scale, u.dtype), updates)
        new_params = optax.apply_updates(params[player], updates)
        finite = jnp.isfinite(loss) & _all_finite(grads)
        if nonfinite_guard:
            new_params = _select(finite, new_params, params[player])
            new_opt = _select(finite, new_opt, opt_state[player])
            new_model_state = _select(finite, new_model_state, model_state)
        player_ok[player] = player_ok[player] & finite
        params[player], opt_state[player], model_state = new_params, new_opt, new_model_state
        entry = {
            f"loss/{player}": loss,
            **{f"{player}/{k}": v for k, v in metrics.items()},
            f"grad_norm/{player}": optax.global_norm(grads),
            f"update_norm/{player}": optax.global_norm(updates),
        }
        sums[player] = entry if player not in sums else jax.tree.map(jnp.add, sums[player], entry)
        counts[player] = counts.get(player, 0) + 1

    ema = []
    for decay, ema_params in zip(state.ema_decays, state.ema):
        ema_params = dict(ema_params)
        for player, ok in player_ok.items():
            moved = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema_params[player], params[player])
            ema_params[player] = _select(ok, moved, ema_params[player]) if nonfinite_guard else moved
        ema.append(ema_params)

    step_ok = jnp.all(jnp.stack(list(player_ok.values())))
    nonfinite = state.nonfinite_steps + (~step_ok).astype(jnp.int32)
    metrics = {}
    for player, entry in sums.items():
        metrics.update({k: v / counts[player] for k, v in entry.items()})
        metrics[f"param_norm/{player}"] = optax.global_norm(params[player])
    metrics["nonfinite_steps"] = nonfinite
    new_state = state.replace(
        step=state.step + 1,
        params=params,
        opt_state=opt_state,
        ema=tuple(ema),
        model_state=model_state,
        nonfinite_steps=nonfinite,
    )
    return new_state, metrics


def make_train_step(
    objective: Objective,
    *,
    compute_dtype_name: str = "float32",
    grad_accum: int = 1,
    nonfinite_guard: bool = True,
    lr_scale: Mapping[str, float] | None = None,
    max_traces: int | None = None,
    mesh: Mesh | None = None,
    rules: Any = None,
):
    """The pure step function `step(state, batch) -> (state, metrics)` for `objective`.

    mesh, rules: when both are given, the step is traced under `activation_rules(mesh, rules)`,
    so the models' activation constraints (genjax.parallel.constrain) apply: tensor parallelism
    inside blocks, the batch over (data, fsdp). Without them the constraints are no-ops.

    max_traces: when set, tracing the returned function more often raises an AssertionError: the
    run compiles each stage's step once, and a retrace (a weakly typed or reshaped input) is a bug.
    (`chex.assert_max_traces` counts per call site across the process, not per compiled step.)
    """
    if grad_accum < 1:
        raise ValueError(f"config.train.grad_accum must be >= 1, got {grad_accum}")
    unknown = sorted(set(objective.schedule) - set(objective.players))
    if unknown:
        raise ValueError(f"objective schedule names {unknown}, which are not players {objective.players}")
    unknown = sorted(set(lr_scale or {}) - set(objective.players))
    if unknown:
        raise ValueError(f"learning-rate factors for {unknown}, which are not players {objective.players}")
    step = partial(
        train_step,
        objective=objective,
        dtype=compute_dtype(compute_dtype_name),
        grad_accum=grad_accum,
        nonfinite_guard=nonfinite_guard,
        lr_scale=dict(lr_scale or {}),
    )
    if (mesh is None) != (rules is None):
        raise ValueError("make_train_step: give both mesh and rules (activation sharding) or neither")
    if mesh is not None:
        step = _under_rules(step, mesh, tuple(rules))
    if max_traces is None:
        return step

    traces = [0]

    def guarded_step(state: TrainState, batch: Mapping[str, jax.Array]):
        traces[0] += 1
        if traces[0] > max_traces:
            raise AssertionError(
                f"the train step was traced {traces[0]} times (at most {max_traces}): an input "
                "changed shape, dtype or weak type between steps"
            )
        return step(state, batch)

    return guarded_step


def _under_rules(step, mesh: Mesh, rules: Any):
    def constrained_step(state: TrainState, batch: Mapping[str, jax.Array]):
        with activation_rules(mesh, rules):
            return step(state, batch)

    return constrained_step
