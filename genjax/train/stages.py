"""What a `TrainingPlan` (genjax.objectives.base) needs from the core: per-stage batch sizes and
optimizer resets, after the reference ProGAN code (tkarras/progressive_growing_of_gans, train.py:
TrainingSchedule's minibatch_dict and reset_opt_for_new_lod).

Batches: stage k trains with a global batch of b_k examples, b_k / P on each of P processes. One
stream of this process's examples (shuffled, repeated: `genjax.data.make_iterator`) is cut into
the stages' batches, stage k starting where stage k - 1 stopped, at example

    e_0 = 0,   e_{k+1} = e_k + (start_{k+1} - start_k) b_k / P,

so no example is skipped or repeated at a boundary. The iterator's state is (stage, position in
the stage), so a run resumed in the middle of a stage continues its batches exactly.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import jax
import optax

from genjax.data import DataIterator, make_iterator
from genjax.data.iterator_state import int_in, state_object
from genjax.train.state import TrainState


class StagedIterator(Iterator[dict]):
    """The training stream of a growing objective whose stages have their own batch sizes.

    `set_stage(k)` switches to stage k's batches (from its first one when the stage changes); the
    loop calls it when training crosses into a stage. State: {"stage": k, **stage k's
    `DataIterator` state}.
    """

    def __init__(
        self,
        data_cfg: Any,
        batch_sizes: Sequence[int],
        stage_starts: Sequence[int],
        *,
        seed: int,
        process_index: int = 0,
        process_count: int = 1,
    ):
        if len(stage_starts) != len(batch_sizes):
            raise ValueError(f"{len(batch_sizes)} batch sizes for {len(stage_starts)} stage starts")
        self._cfg, self._sizes, self._starts = data_cfg, tuple(batch_sizes), tuple(stage_starts)
        self._kw = dict(seed=seed, process_index=process_index, process_count=process_count)
        self._offsets = [0]
        for k in range(len(batch_sizes) - 1):
            steps = stage_starts[k + 1] - stage_starts[k]
            self._offsets.append(self._offsets[-1] + steps * (batch_sizes[k] // process_count))
        self.stage: int | None = None
        self._it: DataIterator | None = None

    def set_stage(self, stage: int) -> None:
        if stage == self.stage:
            return
        if not 0 <= stage < len(self._sizes):
            raise ValueError(f"stage {stage} out of range 0..{len(self._sizes) - 1}")
        self.close()
        self._it = make_iterator(
            self._cfg, batch_size=self._sizes[stage], start_example=self._offsets[stage], **self._kw
        )
        self.stage = stage

    def __next__(self) -> dict:
        if self._it is None:
            raise RuntimeError("StagedIterator: call set_stage(stage) before next()")
        return next(self._it)

    def get_state(self) -> dict:
        if self._it is None:
            raise RuntimeError("StagedIterator: call set_stage(stage) before get_state()")
        return {"stage": self.stage, **self._it.get_state()}

    def set_state(self, state: dict, *, step: int | None = None) -> None:
        """Continues from a saved state; with `step` (train steps completed when it was saved), its
        stage's position must be the max(0, step - start) batches that stage had given."""
        if "stage" not in state_object(state):
            raise ValueError(
                "the saved data-iterator state has no stage: it was saved by a run without "
                "per-stage batch sizes; resume with the config it was saved with"
            )
        state = dict(state)
        stage = int_in(state.pop("stage"), "stage", len(self._sizes))
        self.set_stage(stage)
        self._it.set_state(state, step=None if step is None else max(0, step - self._starts[stage]))

    def restart_at(self, step: int) -> None:
        """Continues at train step `step` of this process's streams, with no saved state to check."""
        stage = max(k for k, start in enumerate(self._starts) if start <= step)
        self.set_stage(stage)
        self._it.restart_at(step - self._starts[stage])

    def close(self) -> None:
        if self._it is not None:
            self._it.close()


def reset_opt_state(state: TrainState) -> TrainState:
    """`state` with every player's optimizer state re-initialised, `tx.init(params)` (Adam's
    moments and bias-correction count restart); learning-rate schedules
    (`optax.ScaleByScheduleState`) keep their step count, so config.optim.schedule continues."""
    is_schedule = lambda x: isinstance(x, optax.ScaleByScheduleState)  # noqa: E731

    def fresh(player: str) -> Any:
        new = state.tx(player).init(state.params[player])
        return jax.tree.map(lambda n, o: o if is_schedule(n) else n, new, state.opt_state[player], is_leaf=is_schedule)

    return state.replace(opt_state={p: fresh(p) for p in state.opt_state})
