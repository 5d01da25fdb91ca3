"""Checkpoints: Orbax CheckpointManager over the train state, data-iterator state and config.

Layout: `<workdir>/checkpoints/<step>/{state,data,config}`; with `train.best_metric` set, the
best checkpoint by that metric is also kept in `<workdir>/best_checkpoint/<step>/`. Saves commit
atomically (a crash mid-save leaves the previous checkpoint usable) and may run asynchronously.
Every process takes part in saving; each process's data-iterator state is stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from genjax.parallel.distributed import to_host
from genjax.train.init import abstract_state
from genjax.train.state import TrainState


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be restored."""


def _state_tree(state: TrainState) -> dict[str, Any]:
    return {
        "step": state.step,
        "params": state.params,
        "opt_state": state.opt_state,
        "ema": list(state.ema),
        "model_state": state.model_state,
        "rng": state.rng,
        "nonfinite_steps": state.nonfinite_steps,
    }


def _from_tree(tree: dict[str, Any], like: TrainState) -> TrainState:
    return like.replace(
        step=tree["step"],
        params=tree["params"],
        opt_state=tree["opt_state"],
        ema=tuple(tree["ema"]),
        model_state=tree["model_state"],
        rng=tree["rng"],
        nonfinite_steps=tree["nonfinite_steps"],
    )


def gather_process_states(local: dict) -> dict[str, dict]:
    """{process_index: iterator state} of every process (JSON via a padded uint8 all-gather)."""
    if jax.process_count() == 1:
        return {"0": local}
    data = np.frombuffer(json.dumps(local).encode(), np.uint8)
    size = int(np.max(multihost_utils.process_allgather(np.array([data.size]))))
    padded = np.zeros(size, np.uint8)
    padded[: data.size] = data
    rows = np.asarray(multihost_utils.process_allgather(padded)).reshape(jax.process_count(), size)
    return {str(i): json.loads(bytes(row).rstrip(b"\0").decode()) for i, row in enumerate(rows)}


class Checkpointer:
    """Save/restore of (TrainState, per-process data state, config JSON) in a workdir."""

    def __init__(
        self,
        workdir: str | Path,
        *,
        keep: int = 3,
        async_save: bool = True,
        best_metric: str = "",
        best_mode: str = "min",
    ):
        self.dir = Path(workdir).absolute() / "checkpoints"
        items = ("state", "data", "config")
        self.manager = ocp.CheckpointManager(
            self.dir,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=async_save, create=True),
            item_names=items,
        )
        self.best_metric = best_metric
        self.best = None
        if best_metric:
            if best_mode not in ("min", "max"):
                raise ValueError(f"config.train.best_mode must be min or max, got {best_mode!r}")
            self.best = ocp.CheckpointManager(
                Path(workdir).absolute() / "best_checkpoint",
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=1,
                    best_fn=lambda m: m[best_metric],
                    best_mode=best_mode,
                    keep_checkpoints_without_metrics=False,
                    enable_async_checkpointing=False,
                    create=True,
                ),
                item_names=items,
            )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def _args(self, state: TrainState, data_state: dict, config_json: str) -> ocp.args.Composite:
        return ocp.args.Composite(
            state=ocp.args.StandardSave(_state_tree(state)),
            data=ocp.args.JsonSave(gather_process_states(data_state)),
            config=ocp.args.JsonSave(json.loads(config_json)),
        )

    def save(self, state: TrainState, data_state: dict, config_json: str, *, force: bool = False) -> bool:
        step = int(to_host(state.step))
        if step in self.manager.all_steps():
            return False
        return self.manager.save(step, args=self._args(state, data_state, config_json), force=force)

    def save_best(self, state: TrainState, data_state: dict, config_json: str, metrics: dict) -> None:
        """Offers the checkpoint to the best-by-metric manager (kept only if it is the best)."""
        if self.best is None or self.best_metric not in metrics:
            return
        step = int(to_host(state.step))
        if step not in self.best.all_steps():
            self.best.save(
                step,
                args=self._args(state, data_state, config_json),
                metrics={self.best_metric: float(metrics[self.best_metric])},
                force=True,
            )

    def restore(
        self, like: TrainState, shardings: TrainState, step: int | None = None, process_index: int | None = None
    ) -> tuple[TrainState, dict | None, dict]:
        """Restores onto `shardings` (any mesh); returns (state, this process's data state, config)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.dir}")
        abstract = _state_tree(abstract_state(like, shardings))
        try:
            out = self.manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore(), config=ocp.args.JsonRestore()
                ),
            )
        except Exception as e:  # noqa: BLE001 - Orbax raises many types for damaged files
            others = [s for s in self.manager.all_steps() if s != step]
            hint = (
                f" Move it away (e.g. `mv {self.dir / str(step)} {self.dir / str(step)}.bad`) to resume from "
                f"step {max(others)}"
                if others
                else " Remove it to start afresh"
            )
            raise CheckpointError(
                f"checkpoint at step {step} in {self.dir} cannot be restored: {type(e).__name__}: {e}.{hint}, "
                "or train into a new --workdir. Nothing was overwritten."
            ) from e
        states = out["data"] or {}
        index = jax.process_index() if process_index is None else process_index
        return _from_tree(out["state"], like), states.get(str(index)), out["config"]

    def wait(self) -> None:
        self.manager.wait_until_finished()
        if self.best is not None:
            self.best.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
        if self.best is not None:
            self.best.close()
