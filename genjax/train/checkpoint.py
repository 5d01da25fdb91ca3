"""Checkpoints: Orbax CheckpointManager over the train state, data-iterator state and config.

Layout: `<workdir>/checkpoints/<step>/{state,data,config,digest}`; with `train.best_metric` set,
the best checkpoint by that metric is also kept in `<workdir>/best_checkpoint/<step>/`. Saves
commit atomically (a crash mid-save leaves the previous checkpoint usable) and may run
asynchronously. Every process takes part in saving; each process's data-iterator state is stored.

Integrity (`genjax.train.integrity`): `digest` holds a SHA-256 of every array of the state (its
dtype, shape and bytes as saved, whatever the mesh) and of the data and config items. It is
computed on the host before the save starts and written by the same Orbax save, so a step is
never complete without it. Restoring recomputes it from the restored values and raises a
CheckpointError naming the step and the first leaf that differs. With `fallback=True`
(`config.train.restore_fallback`, `genjax train --restore-fallback`) a step that fails to restore
or verify is skipped with a warning, moved aside to `<step>.damaged`, and the newest step that
verifies is restored. A checkpoint saved before digests existed restores with a warning that it
cannot be verified.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from genjax.parallel.distributed import to_host
from genjax.train import integrity
from genjax.train.init import abstract_state
from genjax.train.state import TrainState

log = logging.getLogger("genjax")

ITEMS = ("state", "data", "config", "digest")
FALLBACK = "--restore-fallback (config.train.restore_fallback=true)"


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be restored, or its values differ from those saved."""


class CheckpointSaveError(RuntimeError):
    """Writing a checkpoint failed (a full disk, a file size limit, a read-only directory)."""


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
    if jax.process_count() == 1:  # pragma: no mutate (a shortcut: the gather below gives the same)
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
        self.manager = ocp.CheckpointManager(
            self.dir,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=async_save, create=True),
            item_names=ITEMS,
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
                item_names=ITEMS,
            )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def _args(self, state: TrainState, data_state: dict, config_json: str) -> ocp.args.Composite:
        """The save's items; the digest is computed here, on the host, from the arrays being saved."""
        tree, data, config = _state_tree(state), gather_process_states(data_state), json.loads(config_json)
        return ocp.args.Composite(
            state=ocp.args.StandardSave(tree),
            data=ocp.args.JsonSave(data),
            config=ocp.args.JsonSave(config),
            digest=ocp.args.JsonSave(integrity.digest(tree, {"data": data, "config": config})),
        )

    def _committed(self) -> list[int]:
        return sorted(int(p.name) for p in self.dir.iterdir() if p.name.isdigit()) if self.dir.is_dir() else []

    @contextlib.contextmanager
    def _writing(self):
        """Turns a failure to write (raised by a save, or by a later call for an async one) into a
        CheckpointSaveError that says what is kept and how to go on."""
        try:
            yield
        except Exception as e:  # noqa: BLE001 - Orbax and TensorStore raise many types for I/O errors
            committed = self._committed()
            kept = f"latest: step {committed[-1]}" if committed else "none was committed yet"
            raise CheckpointSaveError(
                f"writing a checkpoint in {self.dir} failed; the committed checkpoints are kept ({kept}): "
                f"free space (or fix the directory) and run the same command to resume. "
                f"Cause: {type(e).__name__}: {e}"
            ) from e

    def save(self, state: TrainState, data_state: dict, config_json: str, *, force: bool = False) -> bool:
        step = int(to_host(state.step))
        if step in self.manager.all_steps():
            return False
        with self._writing():
            return self.manager.save(step, args=self._args(state, data_state, config_json), force=force)

    def save_best(self, state: TrainState, data_state: dict, config_json: str, metrics: dict) -> None:
        """Offers the checkpoint to the best-by-metric manager (kept only if it is the best)."""
        if self.best is None or self.best_metric not in metrics:
            return
        step = int(to_host(state.step))
        if step not in self.best.all_steps():
            with self._writing():
                self.best.save(
                    step,
                    args=self._args(state, data_state, config_json),
                    metrics={self.best_metric: float(metrics[self.best_metric])},
                    force=True,
                )

    def restore(
        self,
        like: TrainState,
        shardings: TrainState,
        step: int | None = None,
        process_index: int | None = None,
        *,
        fallback: bool = False,
    ) -> tuple[TrainState, dict | None, dict]:
        """Restores and verifies onto `shardings` (any mesh); returns (state, this process's data
        state, config). `step` None: the latest, or with `fallback` the newest that verifies."""
        steps = sorted(self.manager.all_steps(), reverse=True) if step is None else [step]
        if not steps:
            raise CheckpointError(f"no checkpoint in {self.dir}")
        abstract = _state_tree(abstract_state(like, shardings))
        out = self._newest_good(steps, abstract) if fallback else self._restore_step(steps[0], abstract)
        states = out["data"] or {}
        index = jax.process_index() if process_index is None else process_index
        return _from_tree(out["state"], like), states.get(str(index)), out["config"]

    def _newest_good(self, steps: list[int], abstract: dict) -> dict:
        """The newest of `steps` (newest first) that restores and verifies; the damaged newer
        ones are moved aside, so that training from the older step can save its steps again."""
        damaged = []
        for step in steps:
            try:
                out = self._restore_step(step, abstract)
            except CheckpointError as e:
                log.warning("restore_fallback: skipping the checkpoint at step %d: %s", step, e)
                damaged.append(step)
                continue
            if damaged:
                moved = self._set_aside(damaged)
                log.warning(
                    "restore_fallback: the checkpoint(s) at step(s) %s in %s are damaged; restored step %d "
                    "instead (the damaged ones are kept as %s)",
                    ", ".join(map(str, damaged)),
                    self.dir,
                    step,
                    ", ".join(moved),
                )
            return out
        raise CheckpointError(
            f"no checkpoint in {self.dir} restores and verifies (tried steps {', '.join(map(str, steps))}); "
            "train into a new --workdir. Nothing was overwritten."
        )

    def _set_aside(self, steps: list[int]) -> list[str]:
        """Renames the step directories to `<step>.damaged` (process 0), which Orbax ignores."""
        targets = []
        for step in steps:
            target, k = self.dir / f"{step}.damaged", 1
            while target.exists():
                k += 1
                target = self.dir / f"{step}.damaged{k}"
            targets.append(target)
        if jax.process_count() > 1:  # every process has named the targets before any rename
            multihost_utils.sync_global_devices("genjax_checkpoint_set_aside_names")
        if jax.process_index() == 0:
            for step, target in zip(steps, targets, strict=True):
                (self.dir / str(step)).rename(target)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("genjax_checkpoint_set_aside")
        self.manager.reload()
        return [t.name for t in targets]

    def _hint(self, step: int) -> str:
        older = [s for s in self.manager.all_steps() if s < step]
        where = self.dir / str(step)
        if not older:
            return " There is no earlier step: remove it to start afresh, or train into a new --workdir."
        return (
            f" The previous step is {max(older)}: rerun with {FALLBACK} to restore the newest step that verifies, "
            f"or move it away (e.g. `mv {where} {where}.bad`) to resume from step {max(older)}, or train into a "
            "new --workdir. Nothing was overwritten."
        )

    def _has_digest(self, step: int) -> bool:
        """Whether the step was saved with a digest (its item directory, or its step metadata
        naming one: a deleted digest directory is damage, not an old checkpoint)."""
        where = self.dir / str(step)
        if (where / "digest").exists():
            return True
        try:
            return '"digest"' in (where / "_CHECKPOINT_METADATA").read_text(errors="replace")
        except OSError:
            return False

    def _restore_step(self, step: int, abstract: dict) -> dict:
        """Orbax's restore of `step` (its errors become CheckpointErrors), verified by its digest."""
        verify = self._has_digest(step)
        args = dict(state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore())
        args.update(config=ocp.args.JsonRestore(), **({"digest": ocp.args.JsonRestore()} if verify else {}))
        try:
            out = self.manager.restore(step, args=ocp.args.Composite(**args))
        except Exception as e:  # noqa: BLE001 - Orbax raises many types for damaged files
            raise CheckpointError(
                f"checkpoint at step {step} in {self.dir} cannot be restored ({type(e).__name__}).{self._hint(step)} "
                f"Cause: {e}"
            ) from e
        if not verify:
            log.warning(
                "the checkpoint at step %d in %s has no digest (saved before genjax verified checkpoints) "
                "and cannot be verified: restored as it is",
                step,
                self.dir,
            )
            return out
        restored = integrity.digest(out["state"], {"data": out["data"], "config": out["config"]})
        problem = integrity.first_mismatch(out["digest"], restored)
        if problem:
            raise CheckpointError(
                f"checkpoint at step {step} in {self.dir} failed verification: {problem} (a damaged file)."
                f"{self._hint(step)}"
            )
        return out

    def wait(self) -> None:
        with self._writing():
            self.manager.wait_until_finished()
            if self.best is not None:
                self.best.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
        if self.best is not None:
            self.best.close()
