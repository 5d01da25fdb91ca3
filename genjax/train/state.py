"""The train state: everything a run needs to continue, as one pytree."""

from __future__ import annotations

from typing import Any, Mapping

import jax
import optax
from flax import struct

PyTree = Any


class TrainState(struct.PyTreeNode):
    """Immutable state of a run.

    step:            int32 [] — number of completed train steps.
    params:          {player: params} float32.
    opt_state:       {player: optax state}.
    ema:             one {player: params} per decay of `config.train.ema_decays`, in order.
    model_state:     {player: non-trainable collections} (batch statistics, spectral norm u).
    rng:             uint32 [2] base key; step keys are `fold_in(rng, step)`.
    nonfinite_steps: int32 [] — steps skipped because a loss or gradient was not finite.
    txs:             static ((player, optax transformation), ...).
    ema_decays:      static decays of `ema`, in order.
    """

    step: jax.Array
    params: dict[str, PyTree]
    opt_state: dict[str, PyTree]
    ema: tuple[dict[str, PyTree], ...]
    model_state: dict[str, Mapping[str, PyTree]]
    rng: jax.Array
    nonfinite_steps: jax.Array
    txs: tuple[tuple[str, optax.GradientTransformation], ...] = struct.field(pytree_node=False)
    ema_decays: tuple[float, ...] = struct.field(pytree_node=False, default=())

    def tx(self, player: str) -> optax.GradientTransformation:
        return dict(self.txs)[player]

    def sampling_params(self, ema_index: int | None = 0) -> dict[str, PyTree]:
        """Params to sample from: the EMA of `ema_decays[ema_index]`, or raw when None."""
        if ema_index is None or not self.ema:
            return self.params
        if not 0 <= ema_index < len(self.ema):
            raise ValueError(f"EMA index {ema_index} out of range: the run keeps {len(self.ema)} EMA(s)")
        return self.ema[ema_index]
