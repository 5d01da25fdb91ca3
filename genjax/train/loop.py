"""The run: data -> step -> log -> samples -> evaluation -> checkpoints.

`run(config, workdir)` trains until `config.train.steps`, resuming from the latest checkpoint in
`workdir` when there is one. SIGTERM (preemption) saves a checkpoint and returns cleanly.
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from genjax import config as config_lib
from genjax import data as data_lib
from genjax.train.checkpoint import Checkpointer
from genjax.logging import MetricWriter, Progress, samples_to_png
from genjax.objectives import make_objective
from genjax.parallel import (batch_sharding, global_batch, make_mesh, maybe_initialize, num_batch_shards, replicated,
                             to_host)
from genjax.train.init import abstract_state, init_train_state
from genjax.train.likelihood import evaluate_likelihood
from genjax.train.optim import make_optimizers
from genjax.train.stages import StagedIterator, reset_opt_state, stage_batch_sizes
from genjax.train.state import TrainState
from genjax.train.step import make_train_step

log = logging.getLogger("genjax")


class Run:
    """Everything built from a config for one workdir: mesh, objective, state, step, data."""

    def __init__(self, config: ConfigDict, workdir: str | Path, *, restore: bool = True, data: bool = True):
        config_lib.validate(config)
        maybe_initialize(config.distributed)
        self.config, self.workdir = config, Path(workdir)
        self.metadata = data_lib.load_metadata(config.data)
        # A growing objective (ProGAN) is rebuilt per stage by `set_stage`; others stay as built.
        self.base_objective = self.objective = make_objective(config, self.metadata)
        self.mesh = make_mesh(config.mesh)
        self.is_chief = jax.process_index() == 0
        batch_size = config.data.batch_size
        # a growing objective's per-stage batch sizes (the `batch_sizes` hook), () when none differ
        self.stage_batch_sizes = stage_batch_sizes(self.base_objective, batch_size)
        stages = [(f"stage {k} of objective {config.objective.name!r} (its per-stage batch sizes)", b)
                  for k, b in enumerate(self.stage_batch_sizes)]
        for what, b in [(f"config.data.batch_size={batch_size}", batch_size), *stages]:
            data_lib.check_batch_size(b, what, process_count=jax.process_count(),
                                      num_shards=num_batch_shards(self.mesh), grad_accum=config.train.grad_accum)
        self.txs = make_optimizers(config, self.objective.players)
        self.batch_spec = self._batch_spec(batch_size)
        self.checkpointer = Checkpointer(
            self.workdir, keep=config.train.keep_checkpoints, async_save=config.train.async_checkpoint,
            best_metric=config.train.best_metric, best_mode=config.train.best_mode)
        resume = restore and self.checkpointer.latest_step() is not None
        self.state, self.shardings = init_train_state(  # shapes only when a checkpoint will fill them
            self.objective, self.txs, jax.random.PRNGKey(config.seed), self.batch_spec, self.mesh,
            rules=tuple(tuple(r) for r in config.sharding.rules), min_fsdp_size=config.sharding.min_fsdp_size,
            ema_decays=tuple(config.train.ema_decays), abstract=resume)
        self.data = self._make_data() if data else None
        if resume:
            self.state, data_state, _ = self.checkpointer.restore(self.state, self.shardings)
            if self.data is not None and data_state is not None:
                self.data.set_state(data_state)
            log.info("resumed from step %d", int(to_host(self.state.step)))
        self.batch_sharding = batch_sharding(self.mesh)
        self.stage, self.step_fn, self._reset_fn = None, None, None
        self.set_stage(int(to_host(self.state.step)))

    def _batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        spec = {"x": jax.ShapeDtypeStruct((batch_size, *self.metadata.shape), jnp.float32)}
        if self.metadata.num_classes:
            spec["y"] = jax.ShapeDtypeStruct((batch_size,), jnp.int32)
        return spec

    def _make_data(self) -> data_lib.DataIterator | StagedIterator:
        kw = dict(seed=self.config.seed, process_index=jax.process_index(), process_count=jax.process_count())
        if not self.stage_batch_sizes:
            return data_lib.make_iterator(self.config.data, **kw)
        starts = [self.base_objective.stage_start(k) for k in range(len(self.stage_batch_sizes))]
        return StagedIterator(self.config.data, self.stage_batch_sizes, starts, **kw)

    def set_stage(self, step: int) -> bool:
        """Builds the train step (and `self.objective`) for the stage of 0-based train step
        `step` when the objective grows (the optional `stage_at` / `at_stage` hook of
        `genjax.objectives.base`): one step per stage, compiled on first use, and switches the
        batch spec and data stream to the stage's batch size (`batch_sizes` hook). Returns whether
        it built a new step; other objectives get theirs once."""
        base = self.base_objective
        stage = base.stage_at(step) if hasattr(base, "stage_at") else None
        if self.step_fn is not None and stage == self.stage:
            return False
        self.stage, self.objective = stage, base if stage is None else base.at_stage(stage)
        if self.stage_batch_sizes:
            self.batch_spec = self._batch_spec(self.stage_batch_sizes[stage])
            if self.data is not None:
                self.data.set_stage(stage)
        cfg = self.config.train
        step_fn = make_train_step(self.objective, compute_dtype_name=cfg.compute_dtype,
                                  grad_accum=cfg.grad_accum, nonfinite_guard=cfg.nonfinite_guard)
        self.step_fn = jax.jit(step_fn, in_shardings=(self.shardings, self.batch_sharding),
                               out_shardings=(self.shardings, replicated(self.mesh)), donate_argnums=0)
        return True

    def reset_optimizer_at(self, step: int) -> bool:
        """Whether the objective restarts the optimizer states before 0-based train step `step`
        (the optional `reset_optimizer_at` hook of `genjax.objectives.base`)."""
        hook = getattr(self.base_objective, "reset_optimizer_at", None)
        return bool(hook(step)) if hook is not None else False

    def reset_optimizer(self) -> None:
        """Re-initialises every player's optimizer state in place, with its shardings."""
        if self._reset_fn is None:
            self._reset_fn = jax.jit(reset_opt_state, in_shardings=(self.shardings,), out_shardings=self.shardings,
                                     donate_argnums=0)
        self.state = self._reset_fn(self.state)

    def compile(self) -> float:
        """Ahead-of-time compiles the step (fails early on shape errors); returns seconds."""
        t0 = time.perf_counter()
        abstract = abstract_state(self.state, self.shardings)
        batch = {k: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.batch_sharding)
                 for k, s in self.batch_spec.items()}
        self.step_fn = self.step_fn.lower(abstract, batch).compile()
        return time.perf_counter() - t0

    def next_batch(self) -> dict[str, jax.Array]:
        local = next(self.data)
        return global_batch({k: local[k] for k in self.batch_spec}, self.batch_sharding)

    def sample(self, num: int, seed: int, *, ema_index: int | None = 0, **kwargs: Any) -> np.ndarray:
        """`num` samples from the (EMA) params as a host numpy array, in the data range."""
        params = self.state.sampling_params(ema_index)
        fn = jax.jit(lambda p, s, k: self.objective.sample(p, s, k, num, **kwargs),
                     out_shardings=replicated(self.mesh))
        with jax.set_mesh(self.mesh):  # samplers may shard their batch over (data, fsdp)
            return to_host(fn(params, self.state.model_state, jax.random.PRNGKey(seed)))

    def evaluate(self, names: list[str], num: int, seed: int, *, ema_index: int | None = 0,
                 metric_seed: int | None = None, **sample_kwargs: Any) -> dict[str, float]:
        """Metrics `names` of `num` samples (drawn with `seed`) against as many real examples of
        the eval split; the metrics' own randomness uses `metric_seed` (default `seed`).
        "bits_per_dim" evaluates `num` eval examples under the model's likelihood instead."""
        from genjax import metrics as metrics_lib

        cfg = self.config
        results = {}
        if "bits_per_dim" in names:  # of held-out data under the model (genjax.train.likelihood)
            results |= evaluate_likelihood(self, num, seed, ema_index=ema_index)
            names = [n for n in names if n != "bits_per_dim"]
        if names:
            fake = self.sample(num, seed, ema_index=ema_index, **{**dict(cfg.sample.kwargs), **sample_kwargs})
            real = data_lib.load_examples(cfg.data, num, split=cfg.eval.split or cfg.data.eval_split)["x"]
            if hasattr(self.objective, "eval_reference"):  # e.g. CycleGAN: domain B
                real = np.asarray(self.objective.eval_reference(real))
            results |= metrics_lib.compute(names, fake, real, metadata=self.metadata,
                                           rng_seed=seed if metric_seed is None else metric_seed,
                                           **dict(cfg.eval.kwargs))
        return {k: float(v) for k, v in results.items()}

    def save(self, force: bool = False) -> None:
        self.checkpointer.save(self.state, self.data.get_state() if self.data else {},
                               config_lib.to_json(self.config), force=force)


def _install_sigterm() -> tuple[dict, Any]:
    flag = {"stop": False}

    def handler(signum, frame):  # noqa: ARG001
        flag["stop"] = True

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        previous = None
    return flag, previous


def _preempted(flag: dict, step: int) -> bool:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        try:  # every host stops at the same step
            return bool(multihost_utils.reached_preemption_sync_point(step))
        except RuntimeError:  # no preemption service in this job
            pass
    return flag["stop"]


def write_samples(run: Run, writer: MetricWriter, step: int) -> None:
    cfg = run.config.sample
    samples = run.sample(cfg.num, seed=run.config.seed, ema_index=0 if cfg.use_ema and run.state.ema else None,
                         **dict(cfg.kwargs))
    if run.is_chief:
        picture = samples_to_png(samples, run.metadata.kind, run.metadata.value_range,
                                 run.workdir / "samples" / f"step_{step:08d}.png")
        writer.image(step, "samples", picture)


def run(config: ConfigDict, workdir: str | Path) -> TrainState:
    """Trains `config` into `workdir`; returns the final TrainState."""
    workdir = Path(workdir)
    r = Run(config, workdir)
    if r.is_chief:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.json").write_text(config_lib.to_json(config))
    tc = config.train
    writer = MetricWriter(workdir, enabled=r.is_chief)
    if tc.aot_compile:
        log.info("compiled the train step in %.1f s", r.compile())
    start = int(to_host(r.state.step))
    progress = Progress(tc.steps, start, enabled=tc.progress and r.is_chief)
    flag, previous = _install_sigterm()
    last_logged, last_nonfinite = start, int(to_host(r.state.nonfinite_steps))
    try:
        for step in range(start + 1, tc.steps + 1):
            if r.set_stage(step - 1) and tc.aot_compile:
                log.info("compiled the train step of stage %d in %.1f s", r.stage, r.compile())
            if r.reset_optimizer_at(step - 1):
                r.reset_optimizer()
                log.info("reset the optimizer states before train step %d (stage %s)", step - 1, r.stage)
            r.state, metrics = r.step_fn(r.state, r.next_batch())
            if step % tc.log_every == 0 or step == tc.steps:
                host = {k: float(v) for k, v in to_host(metrics).items()}
                host["steps_per_sec"] = progress.update(step, host)
                writer.write(step, host)
                skipped = int(host["nonfinite_steps"]) - last_nonfinite
                if tc.nonfinite_guard and skipped == step - last_logged and step - last_logged >= 2:
                    r.save(force=True)
                    raise FloatingPointError(
                        f"every step from {last_logged + 1} to {step} had a non-finite loss or gradient and was "
                        f"skipped; the last finite params are checkpointed at step {step}. Lower "
                        "config.optim.lr, set config.optim.clip_norm, or check the data for NaNs.")
                last_logged, last_nonfinite = step, int(host["nonfinite_steps"])
            if tc.sample_every and step % tc.sample_every == 0:
                write_samples(r, writer, step)
            eval_metrics = None
            if tc.eval_every and config.eval.metrics and step % tc.eval_every == 0:
                eval_metrics = {f"eval/{k}": v for k, v in r.evaluate(
                    list(config.eval.metrics), config.eval.num, config.seed + 1 + step,
                    ema_index=0 if config.eval.use_ema else None, metric_seed=config.seed).items()}
                writer.write(step, eval_metrics, file="eval.jsonl")
            if (tc.checkpoint_every and step % tc.checkpoint_every == 0) or step == tc.steps:
                r.save()
            if eval_metrics:
                r.checkpointer.save_best(r.state, r.data.get_state(), config_lib.to_json(config), eval_metrics)
            if _preempted(flag, step):
                log.warning("preempted at step %d: saving a checkpoint and stopping", step)
                r.save(force=True)
                break
        final_step = int(to_host(r.state.step))
        if not tc.sample_every or final_step % tc.sample_every:
            write_samples(r, writer, final_step)
    finally:
        r.checkpointer.wait()
        r.checkpointer.close()
        progress.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        writer.close()
    return r.state


def load_run(workdir: str | Path) -> Run:
    """The run saved in `workdir` (its config.json and latest checkpoint), for sampling/eval."""
    workdir = Path(workdir)
    if not (workdir / "config.json").exists():
        raise FileNotFoundError(f"{workdir} has no config.json: is it a genjax workdir?")
    config = config_lib.from_json((workdir / "config.json").read_text())
    r = Run(config, workdir, data=False)
    if r.checkpointer.latest_step() is None:
        raise FileNotFoundError(f"{workdir}/checkpoints has no checkpoint to sample from")
    return r

