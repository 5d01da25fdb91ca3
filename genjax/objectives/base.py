"""The capabilities a model family offers the training core, as typed protocols.

Every family is an `Objective` (players, init, per-example loss, sample). What it offers beyond
that is declared by implementing one of the protocols below; the core asks with `isinstance`
(they are `runtime_checkable`), never with `hasattr`:

- `Planned`: the family schedules its own training as a `TrainingPlan` of stages (ProGAN's
  resolutions): each stage has a step range, a frozen objective, a global batch size, per-player
  learning-rate factors and the steps before which every optimizer state restarts. The loop
  executes a plan and knows nothing of the family; every other objective trains as a one-stage
  plan (`single_stage_plan`).
- `LikelihoodModel`: log-likelihood per example in nats, and whether it is exact, a bound or an
  estimate, over a continuous density or the data's discrete values; bits/dim is computed from it
  in one place (`genjax.metrics.likelihood`). `IntegratedLikelihood`: one computed by a numerical
  integration also reports the integration's error estimate.
- `Autoencoder`: encode to a latent and decode its mean (VAEs; the frozen autoencoder of latent
  diffusion).
- `LatentModel`: a posterior over latent units whose KL to the prior and mean per unit are known
  (the eval metric `latent_kl`: KL per unit, active units).
- `Conditional`: class-conditional families (number of classes, label sampling, guidance).
- `PairedDomains`: families whose samples imitate a transformed example (CycleGAN's G(a) imitates
  domain B): evaluation compares samples with `eval_reference` of the eval examples.

Families that use frozen, pretrained networks of other runs (latent diffusion's autoencoder)
declare them when they register (`register("diffusion", components=("autoencoder",))`); the run
builder (`genjax.train.components`) loads each component named in config.components, passes its
objective to the factory, and holds its variables in the train state as non-trainable sharded
params, which `loss` and `sample` find in `state[<component>]`.

Shapes: a batch is a dict of arrays with a shared leading batch axis, `{"x": [B, ...]}` and
optionally `{"y": [B]}` (int32 labels). Images are NHWC float32 in the data range of the
dataset metadata (usually [-1, 1]).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Mapping, NamedTuple, Protocol, runtime_checkable

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


# ---- training plans ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Stage:
    """Train steps [start, end) of a plan (0-based; end=None: to the end of training).

    objective:       the objective trained in this stage (static: one compiled step per stage).
    batch_size:      the stage's global batch size.
    lr_scale:        {player: factor} on the player's optimizer updates, i.e. its learning rate;
                     players not named keep 1.
    reset_optimizer: 0-based train steps of this stage before which every player's optimizer
                     state restarts (`tx.init`; learning-rate schedules keep their count).
    """

    start: int
    end: int | None
    objective: Objective
    batch_size: int
    lr_scale: Mapping[str, float] = dataclasses.field(default_factory=dict)
    reset_optimizer: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class TrainingPlan:
    """Stages that tile the train steps: stages[0].start == 0, each stage ends where the next
    starts, the last one has end=None. All stages share one param layout (`init` of the first
    stage's objective builds them all), so one train state and checkpoint serve the whole run."""

    stages: tuple[Stage, ...]

    def __post_init__(self):
        if not self.stages or self.stages[0].start != 0 or self.stages[-1].end is not None:
            raise ValueError("a TrainingPlan's stages must start at step 0 and the last must have end=None")
        for a, b in zip(self.stages, self.stages[1:]):
            if a.end != b.start or not a.start < a.end:
                raise ValueError(
                    f"TrainingPlan stages must tile the steps: [{a.start}, {a.end}) then [{b.start}, {b.end})"
                )

    def stage_at(self, step: int) -> int:
        """Index of the stage that trains at 0-based train step `step`."""
        for k, s in enumerate(self.stages):
            if s.end is None or step < s.end:
                return k
        raise AssertionError("unreachable: the last stage has end=None")


@runtime_checkable
class Planned(Protocol):
    """A family that schedules its own training (ProGAN)."""

    def plan(self, batch_size: int) -> TrainingPlan:
        """The plan, given config.data.batch_size (the batch of stages that set none)."""
        ...


def single_stage_plan(objective: Objective, batch_size: int) -> TrainingPlan:
    """The plan of every objective that does not schedule its training: one stage."""
    return TrainingPlan((Stage(0, None, objective, batch_size),))


def training_plan(objective: Objective, batch_size: int) -> TrainingPlan:
    """`objective.plan(batch_size)` for a `Planned` objective, else one stage."""
    if isinstance(objective, Planned):
        return objective.plan(batch_size)
    return single_stage_plan(objective, batch_size)


# ---- likelihoods, autoencoders, conditioning, domains -------------------------------------
LikelihoodKind = Literal["exact", "bound", "estimate"]


@runtime_checkable
class LikelihoodModel(Protocol):
    """A family that scores examples.

    likelihood_kind:  "exact" (autoregressive, flows), "bound" (an ELBO: a lower bound on
                      log p) or "estimate" (a stochastic estimate, e.g. the probability-flow
                      ODE with Hutchinson's trace).
    discrete:         True when `log_likelihood` is a log-probability of the data's discrete
                      values (8-bit pixels, binary pixels); False when it is a log-density of x
                      in the data range, which the evaluation dequantizes for 8-bit data.
    """

    likelihood_kind: LikelihoodKind
    discrete: bool

    def log_likelihood(
        self,
        params: Mapping[str, PyTree],
        state: Mapping[str, Collections],
        batch: Mapping[str, Array],
        rng: Array,
        **options: Any,
    ) -> Array:
        """log p(x) [B] in nats for the batch's examples (conditioned on batch["y"] when the
        family is conditional)."""
        ...


@runtime_checkable
class IntegratedLikelihood(Protocol):
    """A `LikelihoodModel` whose log p is a numerical integral (the diffusion probability-flow
    ODE), reported with the integration's error estimate."""

    def log_likelihood_and_error(
        self,
        params: Mapping[str, PyTree],
        state: Mapping[str, Collections],
        batch: Mapping[str, Array],
        rng: Array,
        **options: Any,
    ) -> tuple[Array, Array]:
        """(log p(x) [B], the estimate of its integration error [B]), both in nats."""
        ...


@runtime_checkable
class Autoencoder(Protocol):
    """A family with an encoder and a decoder (params are {player: params})."""

    def encode(self, params: Mapping[str, PyTree], x: Array, state: Mapping[str, Collections] | None = None) -> Array:
        """x [B, *data shape] -> z [B, *latent shape]: the posterior mean (or the encoder's output).
        `state`: the family's non-trainable collections, for families that need them (VQ-VAE's
        codebook); the others ignore it."""
        ...

    def decode(self, params: Mapping[str, PyTree], z: Array, state: Mapping[str, Collections] | None = None) -> Array:
        """z [B, *latent shape] -> x [B, *data shape]: the mean of p(x|z), in the data range."""
        ...


@runtime_checkable
class LatentModel(Protocol):
    """A family with a posterior q(z|x) and a prior p(z) over latent units (VAEs): per unit, the KL
    between them and the posterior mean (hierarchical models: given one sample of the groups
    above; spatial latents: a unit is a channel, KL summed and mean averaged over positions)."""

    def latent_stats(
        self, params: Mapping[str, PyTree], state: Mapping[str, Collections], x: Array, rng: Array
    ) -> tuple[Array, Array]:
        """x [B, ...] -> (KL(q(z_j|x) || p(z_j)) [B, J] in nats, E_q[z_j|x] [B, J])."""
        ...


@runtime_checkable
class Conditional(Protocol):
    """A class-conditional family; `sample(..., label=k)` draws class k, `guidance_scale`
    (when `guidance` is True) applies classifier-free guidance (Ho and Salimans 2022)."""

    num_classes: int | None  # None when the model was built without labels
    guidance: bool

    def sample_labels(self, rng: Array, num: int) -> Array:
        """[num] int32 labels drawn as `sample` draws them when no label is given."""
        ...


@runtime_checkable
class PairedDomains(Protocol):
    """A translation family: samples imitate `eval_reference` of the eval examples."""

    def eval_reference(self, x: Array) -> Array:
        """Examples x [B, ...] -> the reference images samples are compared with."""
        ...
