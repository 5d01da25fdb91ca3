"""The run as a straight line: build -> plan -> for each stage: compile, iterate, act.

`run(config, workdir)` trains until `config.train.steps`, resuming from the latest checkpoint in
`workdir` when there is one:

    run = build_run(config, workdir)              # components, objective, plan, sharded state, data
    for stage in run.plan.stages (from the one holding run.step):
        step_fn = compile_stage(run, stage)       # one compiled step per stage, traced once
        for each train step of the stage:
            reset the optimizer states where the stage says so
            state, metrics = step_fn(state, next batch)
            wait for step - max_in_flight to finish
            log, sample, evaluate, checkpoint     # genjax.train.actions

Steps dispatch asynchronously, at most `config.train.max_in_flight` ahead of the newest one known
finished. The bound caps the memory of queued batches on accelerators, and it keeps XLA:CPU
working with more (fake) devices than cores: there, ~100 queued data-parallel steps on 8 devices
and 2 cores stall an all-reduce until XLA aborts the process after 40 s ("only 7 of 8 arrived";
a plain jitted 8-device all-reduce loop does the same past 64-128 queued steps, and never with a
sync every 64). XLA:CPU runs every device's program on one thread pool of max(cores, devices)
threads, and a collective's participants hold their threads until all have arrived, so a deep
queue can leave a participant of an earlier step waiting for a thread held by later ones.

The whole run holds the workdir's lock (genjax.train.workdir: a second trainer fails at once), and
metrics.jsonl/eval.jsonl are cut back to the step it starts from, so a resume repeats no row.
SIGTERM (preemption) saves a checkpoint at the current step and returns cleanly. SIGINT (Ctrl-C)
does the same, then raises KeyboardInterrupt (the command line exits 130); a second Ctrl-C stops
at once. With several processes, SIGTERM to any one of them goes through JAX's preemption sync
point, so every process saves the same step and returns; SIGINT keeps Python's default (no
checkpoint: saving needs every process at the same step; send SIGTERM for that).
"""

from __future__ import annotations

import collections
import logging
import signal
import time
from pathlib import Path
from typing import Any

import jax
from ml_collections import ConfigDict

from genjax import config as config_lib
from genjax.logging import MetricWriter, Progress
from genjax.objectives.base import Stage
from genjax.parallel import maybe_initialize, replicated
from genjax.train import telemetry
from genjax.train.actions import default_actions
from genjax.train.build import Run, build_run, load_run
from genjax.train.compatible import check_resumable
from genjax.train.components import save_component_configs
from genjax.train.init import abstract_state
from genjax.train.stages import reset_opt_state
from genjax.train.state import TrainState
from genjax.train.step import make_train_step
from genjax.train.workdir import lock_workdir, reconcile_logs

log = logging.getLogger("genjax")

__all__ = ["Run", "compile_stage", "load_run", "run"]


def compile_stage(run: Run, stage: Stage) -> Any:
    """The jit-compiled train step of `stage`, sharded like the state and the batch (state
    donated); with config.train.aot_compile, compiled ahead of time (shape errors surface before
    the first batch) and the compile time logged. Tracing it twice is an error (chex)."""
    cfg = run.config.train
    step_fn = make_train_step(
        stage.objective,
        compute_dtype_name=cfg.compute_dtype,
        grad_accum=cfg.grad_accum,
        nonfinite_guard=cfg.nonfinite_guard,
        lr_scale=stage.lr_scale,
        max_traces=1,
        mesh=run.mesh,
        rules=tuple(tuple(r) for r in run.config.sharding.rules),  # activation constraints (tensor parallelism)
    )
    step_fn = jax.jit(
        step_fn,
        in_shardings=(run.shardings, run.batch_sharding),
        out_shardings=(run.shardings, replicated(run.mesh)),
        donate_argnums=0,
    )
    if not cfg.aot_compile:
        return step_fn
    t0 = time.perf_counter()
    batch = {k: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=run.batch_sharding) for k, s in run.batch_spec.items()}
    compiled = step_fn.lower(abstract_state(run.state, run.shardings), batch).compile()
    run.step_flops = telemetry.compiled_flops(compiled)
    log.info(
        "compiled the train step of stage %d in %.1f s (%s GFLOP per device and step)",
        run.stage,
        time.perf_counter() - t0,
        "?" if run.step_flops is None else f"{run.step_flops / 1e9:.3g}",
    )
    return compiled


def reset_optimizer(run: Run) -> None:
    """Re-initialises every player's optimizer state in place, with its shardings."""
    fn = jax.jit(reset_opt_state, in_shardings=(run.shardings,), out_shardings=run.shardings, donate_argnums=0)
    run.state = fn(run.state)


class _Preemption:
    """When to stop early. In a single-process job SIGTERM (preemption) and SIGINT set a flag that
    the loop checks after each step (`interrupted`: it was SIGINT; a second SIGINT raises
    KeyboardInterrupt at once). In a multi-process job SIGTERM stays with JAX's preemption
    notifier (a Python handler would replace it): a notice to any one process reaches every
    process through the coordination service, and `multihost_utils.reached_preemption_sync_point`
    turns true at the same step everywhere, so all save that step together and exit 0."""

    def __enter__(self):
        self.stop = self.interrupted = False
        self._previous = {}
        self._multi = jax.process_count() > 1
        for signum in [] if self._multi else [signal.SIGTERM, signal.SIGINT]:
            try:
                self._previous[signum] = signal.signal(signum, self._handler)
            except ValueError:  # not the main thread
                break
        return self

    def _handler(self, signum, frame):  # noqa: ARG002
        if signum == signal.SIGINT:
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True
            log.warning("interrupted: saving a checkpoint after this step (Ctrl-C again to stop now)")
        self.stop = True

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def at(self, step: int) -> bool:
        if self._multi:
            from jax.experimental import multihost_utils

            try:
                return bool(multihost_utils.reached_preemption_sync_point(step))
            except RuntimeError:  # the preemption service is off (jax_enable_preemption_service)
                return False
        return self.stop


def banner(run: Run) -> str:
    """One line on what a run trains: objective, data, devices and mesh, parameters per player,
    steps, workdir."""
    c, meta = run.config, run.metadata
    sizes = {p: sum(x.size for x in jax.tree.leaves(v)) for p, v in run.state.params.items()}
    devices = jax.devices()
    start = f"resumed at step {run.step}" if run.step else "from step 0"
    return (
        f"training {c.objective.name} on {meta.name} ({meta.num_examples or '?'} examples of shape "
        f"{tuple(meta.shape)}, batch {c.data.batch_size}) | {len(devices)} {devices[0].platform} device(s), "
        f"mesh {', '.join(f'{k}={v}' for k, v in run.mesh.shape.items())} | params "
        f"{', '.join(f'{p} {n:,}' for p, n in sizes.items())} | {c.train.steps} steps, {start} | {run.workdir}"
    )


def _train(run: Run, actions: list, preemption: _Preemption, profiler: telemetry.Profiler) -> None:
    total = run.config.train.steps
    in_flight: collections.deque = collections.deque()  # metrics of the steps not known finished
    for k in range(run.plan.stage_at(run.step), len(run.plan.stages)):
        stage = run.enter_stage(k)
        first, last = max(run.step, stage.start), total if stage.end is None else min(stage.end, total)
        if first >= last:
            continue
        step_fn = compile_stage(run, stage)
        for step in range(first + 1, last + 1):
            if step - 1 in stage.reset_optimizer:
                reset_optimizer(run)
                log.info("reset the optimizer states before train step %d (stage %d)", step - 1, k)
            profiler.before(step)
            run.state, metrics = step_fn(run.state, run.next_batch())
            profiler.after(step, run.state)
            in_flight.append(metrics)
            if len(in_flight) > run.config.train.max_in_flight:
                jax.block_until_ready(in_flight.popleft())
            try:
                for action in actions:
                    action(run, step, metrics)
            except Exception:
                _save_before_raising(run, step)
                raise
            if preemption.at(step):
                if not preemption.interrupted:  # an interrupt says it in the KeyboardInterrupt
                    log.warning("preempted at step %d: saving a checkpoint and stopping", step)
                run.save(force=True)
                return


def _save_before_raising(run: Run, step: int) -> None:
    """An action failed at `step` (evaluation, sampling, a stop on a non-finite loss): keep the
    steps trained since the last checkpoint, unless writing the checkpoint is what failed."""
    try:
        run.checkpointer.wait()
        run.save(force=True)
        run.checkpointer.wait()
    except Exception as e:  # noqa: BLE001 - the original error is the one to report
        log.error("could not save a checkpoint at step %d before stopping: %s", step, e)
    else:
        log.error("stopping on an error at step %d; saved a checkpoint there, so nothing trained is lost", step)


def run(config: ConfigDict, workdir: str | Path, *, force: bool = False) -> TrainState:
    """Trains `config` into `workdir` holding its lock; returns the final TrainState. Raises
    WorkdirBusy when another process holds the workdir, WorkdirConfigMismatch when the workdir's
    checkpoints belong to another experiment (unless `force`; see `genjax.train.compatible`),
    KeyboardInterrupt after saving on SIGINT."""
    config_lib.validate(config)
    maybe_initialize(config.distributed)
    telemetry.use_compilation_cache(config.train.compilation_cache_dir)
    with lock_workdir(workdir):
        forced = check_resumable(config, workdir, force=force)
        if forced:
            log.warning("--force: resuming %s with a config that differs in %s", workdir, ", ".join(forced))
        return _run(config, workdir)


def _run(config: ConfigDict, workdir: str | Path) -> TrainState:
    r = build_run(config, workdir)
    if r.is_chief:
        r.workdir.mkdir(parents=True, exist_ok=True)
        reconcile_logs(r.workdir, r.step)
        (r.workdir / "config.json").write_text(config_lib.to_json(config))
        save_component_configs(r.components, r.workdir)
        if r.step:
            log.info("resumed from step %d", r.step)
        log.info("%s", banner(r))
    writer = MetricWriter(r.workdir, enabled=r.is_chief)
    writer.text(r.step, "config", "```json\n" + config_lib.to_json(config) + "\n```")
    progress = Progress(config.train.steps, r.step, enabled=config.train.progress and r.is_chief)
    actions = default_actions(r, writer, progress)
    profiler = telemetry.Profiler(tuple(config.train.profile_steps), r.workdir)
    try:
        with _Preemption() as preemption:
            _train(r, actions, preemption, profiler)
        if not preemption.interrupted:
            for action in actions:
                action.finish(r)
    finally:
        profiler.close()
        r.checkpointer.wait()
        r.checkpointer.close()
        progress.close()
        writer.close()
    if preemption.interrupted:
        raise KeyboardInterrupt(f"saved a checkpoint at step {r.step} in {r.workdir}; run the same command to resume")
    return r.state
