"""The objective protocol: what a model family tells the training core.

An objective names its networks ("players"), initialises their variables, gives each player's
loss, says in which order players update inside one train step, and draws samples. The core
(`genjax.train.step.make_train_step`) knows nothing else about the family.

An objective whose samples imitate something other than the examples themselves (CycleGAN's
G(a) imitates domain B) may define `eval_reference(x) -> x_ref`: the loop's `evaluate` compares
samples with `eval_reference` of the eval split's examples instead of the examples.

Growing objectives (ProGAN) may add two methods, which the training loop uses when present:
`stage_at(step: int) -> int`, the static stage of a 0-based train step, and
`at_stage(stage: int) -> Objective`, a frozen copy of the objective at that stage. The loop
builds one compiled train step per stage from `at_stage(stage_at(state.step))`, so a run resumed
in the middle of a stage compiles that stage; anything that varies within a stage (a fade-in
coefficient) is computed in `loss` from its traced `step`. Every stage must share one set of
param shapes (`init` builds them all), so one train state and checkpoint layout serves all stages.

A growing objective may also schedule the training itself (ProGAN's per-resolution minibatch,
learning rate and optimizer reset, after the reference code's TrainingSchedule):
`batch_sizes: tuple[int | None, ...]`, the global batch size of each stage (None or an empty tuple:
config.data.batch_size), for which it also defines `stage_start(stage: int) -> int`, the first
train step of a stage. The loop checks every stage's size against the processes, the mesh's data
shards and config.train.grad_accum when the run starts, compiles each stage's step for its
batch, and cuts one stream of examples into the stages' batches (stage k continues where stage
k - 1 stopped; `genjax.train.stages.StagedIterator`).
`lr_scale(player: str) -> float` (of a stage's objective) multiplies the player's optimizer
updates inside the compiled step, i.e. its learning rate (the updates of adam, adamw, sgd and
lion are linear in it), so a resumed run continues with its stage's rate.
`reset_optimizer_at(step: int) -> bool`: the loop re-initialises every player's optimizer state
(`tx.init(params)`, with its shardings; learning-rate schedules keep their step count) right
before train step `step` when True. A run resumed at such a step resets; one resumed after it
does not, so resuming never changes the result.

Shapes: a batch is a dict of arrays with a shared leading batch axis, `{"x": [B, ...]}` and
optionally `{"y": [B]}` (int32 labels). Images are NHWC float32 in the data range of the
dataset metadata (usually [-1, 1]).
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Protocol, runtime_checkable

import jax

Array = jax.Array
PyTree = Any
# Flax variables of one player without the "params" collection, e.g. {"batch_stats": ...}.
Collections = Mapping[str, PyTree]


class PlayerVariables(NamedTuple):
    """What `Objective.init` returns for one player."""

    params: PyTree  # trainable, may carry flax logical-partitioning boxes
    state: Collections  # non-trainable collections (batch statistics, spectral-norm vectors)


class LossOutput(NamedTuple):
    """What `Objective.loss` returns.

    loss:    [B] per-example loss of the player. The core takes the mean (and averages over
             gradient-accumulation micro-batches); losses never reduce over the batch.
    metrics: flat dict of scalars or [B] arrays; the core averages them and prefixes the
             player's name (`loss/<player>`, `<player>/<name>`).
    state:   updated non-trainable collections, {player: collections}, for the players whose
             state changed in this forward pass (may be empty).
    """

    loss: Array
    metrics: dict[str, Array]
    state: dict[str, Collections]


@runtime_checkable
class Objective(Protocol):
    """A model family bound to its networks and losses.

    Attributes:
      players:  names of the networks with their own params and optimizer, e.g. ("model",)
                or ("generator", "discriminator").
      schedule: static order of player updates inside one compiled train step, e.g.
                ("discriminator",) * 5 + ("generator",) for WGAN's n_critic = 5. Every update
                sees the same batch with a fresh RNG key.
    """

    players: tuple[str, ...]
    schedule: tuple[str, ...]

    def init(self, rng: Array, batch: Mapping[str, Array]) -> dict[str, PlayerVariables]:
        """Variables of every player, built from an example batch (shapes only matter)."""
        ...

    def loss(
        self,
        player: str,
        params: Mapping[str, PyTree],
        state: Mapping[str, Collections],
        batch: Mapping[str, Array],
        rng: Array,
        step: Array,
    ) -> LossOutput:
        """Per-example loss of `player`. `params` and `state` hold every player's variables;
        gradients are taken w.r.t. `params[player]` only. `step` is the int32 train step
        (for lazy regularisation, schedules of loss weights, ...)."""
        ...

    def sample(
        self,
        params: Mapping[str, PyTree],
        state: Mapping[str, Collections],
        rng: Array,
        num: int,
        **kwargs: Any,
    ) -> Array:
        """`num` samples, [num, ...] in the data range of the dataset (images NHWC)."""
        ...
