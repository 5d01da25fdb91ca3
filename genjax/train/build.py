"""Building a run from its config: components, objective, plan, mesh, sharded state, data.

`build_run(config, workdir)` gives a `Run`, the things a training or sampling session works on;
`genjax.train.loop.run` executes its plan. Nothing here trains.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from ml_collections import ConfigDict

from genjax import config as config_lib
from genjax import data as data_lib
from genjax.train.checkpoint import Checkpointer
from genjax.objectives import make_objective
from genjax.objectives.base import Objective, Stage, TrainingPlan, training_plan
from genjax.parallel import batch_sharding, global_batch, make_mesh, maybe_initialize, num_batch_shards, to_host
from genjax.train import evaluate as evaluate_lib
from genjax.train.components import component_variables, load_components
from genjax.train.init import batch_spec, init_train_state
from genjax.train.optim import make_optimizers
from genjax.train.stages import StagedIterator
from genjax.train.state import TrainState

log = logging.getLogger("genjax")


class Run:
    """What a session works on: config, mesh, dataset metadata, plan, train state and its
    shardings, data stream and checkpointer; `stage` is the index of the plan's current stage."""

    def __init__(
        self,
        config: ConfigDict,
        workdir: Path,
        metadata: Any,
        mesh: jax.sharding.Mesh,
        plan: TrainingPlan,
        state: TrainState,
        shardings: TrainState,
        data: Any,
        checkpointer: Checkpointer,
        components: dict,
    ):
        self.config, self.workdir, self.metadata, self.mesh, self.plan = config, workdir, metadata, mesh, plan
        self.state, self.shardings, self.data, self.checkpointer = state, shardings, data, checkpointer
        self.components = components
        self.is_chief = jax.process_index() == 0
        self.batch_sharding = batch_sharding(mesh)
        self.stage = plan.stage_at(self.step)
        self.data_seconds = 0.0  # host time spent assembling batches (telemetry)
        self.step_flops: float | None = None  # FLOPs of one compiled train step on one device
        self.jitted: dict = {}  # samplers and likelihoods, jitted once (genjax.train.evaluate.compiled)
        self.show_progress = False  # progress bars while sampling and scoring in chunks (the CLI's)

    @property
    def step(self) -> int:
        """Completed train steps."""
        return int(to_host(self.state.step))

    @property
    def objective(self) -> Objective:
        """The objective of the current stage."""
        return self.plan.stages[self.stage].objective

    @property
    def batch_spec(self) -> dict[str, jax.ShapeDtypeStruct]:
        return batch_spec(self.metadata, self.plan.stages[self.stage].batch_size)

    def enter_stage(self, stage: int) -> Stage:
        """Makes `stage` current: its objective, batch size and data stream."""
        self.stage = stage
        if isinstance(self.data, StagedIterator):
            self.data.set_stage(stage)
        return self.plan.stages[stage]

    def next_batch(self) -> dict[str, jax.Array]:
        """The next global batch, assembled from this process's slice and sharded over the mesh."""
        t0 = time.perf_counter()
        local = next(self.data)
        batch = global_batch({k: local[k] for k in self.batch_spec}, self.batch_sharding)
        self.data_seconds += time.perf_counter() - t0
        return batch

    def save(self, force: bool = False) -> None:
        self.checkpointer.save(
            self.state, self.data.get_state() if self.data else {}, config_lib.to_json(self.config), force=force
        )

    def sample(
        self, num: int, seed: int, *, ema_index: int | None = 0, average_ema: bool = False, **kwargs: Any
    ) -> np.ndarray:
        """`num` samples of the current stage (see `genjax.train.evaluate.sample`)."""
        return evaluate_lib.sample(self, num, seed, ema_index=ema_index, average_ema=average_ema, **kwargs)

    def evaluate(self, names: list[str], num: int, seed: int, **kwargs: Any) -> dict[str, float]:
        """Metrics of the current params (see `genjax.train.evaluate.evaluate`)."""
        return evaluate_lib.evaluate(self, names, num, seed, **kwargs)


def _check_batch_sizes(config: ConfigDict, plan: TrainingPlan, mesh: jax.sharding.Mesh) -> None:
    sizes = [(f"config.data.batch_size={config.data.batch_size}", config.data.batch_size)]
    if len(plan.stages) > 1:
        sizes += [
            (f"the batch size of stage {k} of objective {config.objective.name!r}", s.batch_size)
            for k, s in enumerate(plan.stages)
        ]
    for what, b in sizes:
        data_lib.check_batch_size(
            b,
            what,
            process_count=jax.process_count(),
            num_shards=num_batch_shards(mesh),
            grad_accum=config.train.grad_accum,
        )


def _check_eval_num(config: ConfigDict) -> None:
    """Periodic evaluation compares config.eval.num examples of the eval split: when the run will
    evaluate, fail before training if the split has fewer (rather than at the first evaluation)."""
    if not (config.eval.metrics and 0 < config.train.eval_every <= config.train.steps):
        return
    split = config.eval.split or data_lib.eval_split(config.data)
    size = data_lib.load_metadata(config.data, split).num_examples
    if config.eval.num > size:
        raise ValueError(
            f"config.eval.num={config.eval.num} exceeds the {size} examples of the eval split {split!r} of "
            f"{config.data.source}; set --config.eval.num={size} or less (or another config.eval.split)"
        )


def _make_data(config: ConfigDict, plan: TrainingPlan) -> data_lib.DataIterator | StagedIterator:
    kw = dict(seed=config.seed, process_index=jax.process_index(), process_count=jax.process_count())
    sizes = [s.batch_size for s in plan.stages]
    if all(b == config.data.batch_size for b in sizes):
        return data_lib.make_iterator(config.data, **kw)
    return StagedIterator(config.data, sizes, [s.start for s in plan.stages], **kw)


def _resume_stream(stream: data_lib.DataIterator | StagedIterator, data_state: dict | None, step: int) -> None:
    """Positions the training stream after `step` restored steps. A stream saved by another number
    of processes (or none saved for this process) cannot continue: each process read its own part
    of the data. Every process then decides alike from the saved layout and starts its stream of
    the new layout at `step` (the model state is exact; the input order after `step` is new)."""
    saved = data_state.get("process_count") if isinstance(data_state, dict) else None
    if saved == jax.process_count():
        stream.set_state(data_state, step=step)
        return
    if jax.process_index() == 0:
        log.warning(
            "the checkpoint's data stream was saved by %s process(es), this job has %d: the input order "
            "is new from step %d on (model and optimizer state restored exactly)",
            saved if saved is not None else "another number of",
            jax.process_count(),
            step,
        )
    stream.restart_at(step)


def build_run(config: ConfigDict, workdir: str | Path, *, restore: bool = True, data: bool = True) -> Run:
    """Builds everything of `config` for `workdir`, in order: components -> objective -> plan ->
    mesh -> shape-first sharded state (restored from the latest checkpoint when `restore` and one
    exists) -> data stream (positioned where the checkpoint left it)."""
    config_lib.validate(config)
    maybe_initialize(config.distributed)
    workdir = Path(workdir)
    metadata = data_lib.load_metadata(config.data)
    components = load_components(config, workdir)
    for c in components.values():
        if tuple(c.metadata.shape) != tuple(metadata.shape):
            raise ValueError(
                f"config.components.{c.name}: the run in {c.workdir} was trained on {c.metadata.name} "
                f"of shape {tuple(c.metadata.shape)}, but config.data gives {metadata.name} of shape "
                f"{tuple(metadata.shape)}; use that run's data settings"
            )
    objective = make_objective(config, metadata, {n: c.objective for n, c in components.items()})
    plan = training_plan(objective, config.data.batch_size)
    mesh = make_mesh(config.mesh)
    _check_batch_sizes(config, plan, mesh)
    if data:
        _check_eval_num(config)
    checkpointer = Checkpointer(
        workdir,
        keep=config.train.keep_checkpoints,
        async_save=config.train.async_checkpoint,
        best_metric=config.train.best_metric,
        best_mode=config.train.best_mode,
    )
    resume = restore and checkpointer.latest_step() is not None
    rules = tuple(tuple(r) for r in config.sharding.rules)
    frozen = {
        n: component_variables(c, mesh, rules=rules, min_fsdp_size=config.sharding.min_fsdp_size, restore=not resume)
        for n, c in components.items()
    }
    first = plan.stages[0]
    state, shardings = init_train_state(  # shapes only when a checkpoint will fill them
        first.objective,
        make_optimizers(config, first.objective.players),
        jax.random.PRNGKey(config.seed),
        batch_spec(metadata, first.batch_size),
        mesh,
        rules=rules,
        min_fsdp_size=config.sharding.min_fsdp_size,
        ema_decays=tuple(config.train.ema_decays),
        abstract=resume,
        frozen=frozen,
    )
    stream = _make_data(config, plan) if data else None
    if resume:
        state, data_state, _ = checkpointer.restore(state, shardings, fallback=config.train.restore_fallback)
        if stream is not None:
            _resume_stream(stream, data_state, int(to_host(state.step)))
    run = Run(config, workdir, metadata, mesh, plan, state, shardings, stream, checkpointer, components)
    if stream is not None:
        run.enter_stage(run.stage)
    return run


def saved_config(workdir: str | Path) -> ConfigDict:
    """The config.json of the run in `workdir`."""
    path = Path(workdir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{Path(workdir)} has no config.json: is it a genjax workdir?")
    return config_lib.from_json(path.read_text())


def load_run(workdir: str | Path) -> Run:
    """The run saved in `workdir` (its config.json and latest checkpoint), for sampling/eval. It
    writes nothing into the workdir and takes no lock (it may read a run that is training)."""
    run = build_run(saved_config(workdir), Path(workdir), data=False)
    if run.checkpointer.latest_step() is None:
        raise FileNotFoundError(f"{workdir}/checkpoints has no checkpoint to sample from")
    return run
