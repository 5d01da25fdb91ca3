"""Periodic actions of the training loop, one job each: log, sample, evaluate, checkpoint.

Each action is called after every train step as `action(run, step, metrics)` (1-based `step`,
the step's device metrics) and decides from its interval whether to act; `finish(run)` runs once
when the loop ends. `default_actions(config, writer)` is the loop's list, in order.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Protocol

from genjax import config as config_lib
from genjax.data.text import text_samples
from genjax.logging import MetricWriter, Progress, samples_to_png
from genjax.parallel import to_host
from genjax.train.optim import lr_schedule, player_optim_config


class Action(Protocol):
    def __call__(self, run: Any, step: int, metrics: dict) -> None: ...

    def finish(self, run: Any) -> None: ...


@dataclasses.dataclass
class LogMetrics:
    """Every `every` steps (and the last): metrics to JSONL/TensorBoard and the progress bar. With
    the non-finite guard on, a stretch of >= 2 logged steps that were all skipped saves the last
    finite params and raises FloatingPointError."""

    writer: MetricWriter
    progress: Progress
    every: int
    last_step: int
    guard: bool
    start: int  # the step the loop starts after
    nonfinite_start: int  # skipped steps counted before it
    schedules: dict[str, Callable[[int], Any]]  # {player: learning rate at an update count}

    def __post_init__(self):
        self._last_logged, self._last_nonfinite = self.start, self.nonfinite_start

    def __call__(self, run: Any, step: int, metrics: dict) -> None:
        self.progress.advance(step)  # no device sync
        if step % self.every and step != self.last_step:
            return
        host = {k: float(v) for k, v in to_host(metrics).items()}
        host["steps_per_sec"] = self.progress.update(step, host)
        host |= {f"lr/{p}": float(schedule(step - 1)) for p, schedule in self.schedules.items()}
        host["wall_time"] = time.time()
        self.writer.write(step, host)
        skipped = int(host["nonfinite_steps"]) - self._last_nonfinite
        span = step - self._last_logged
        if self.guard and skipped == span and span >= 2:
            run.save(force=True)
            raise FloatingPointError(
                f"every step from {self._last_logged + 1} to {step} had a non-finite loss or gradient and was "
                f"skipped; the last finite params are checkpointed at step {step}. Lower config.optim.lr, set "
                "config.optim.clip_norm, or check the data for NaNs."
            )
        self._last_logged, self._last_nonfinite = step, int(host["nonfinite_steps"])

    def finish(self, run: Any) -> None:
        self.progress.close()


def write_samples(run: Any, writer: MetricWriter, step: int) -> None:
    """config.sample.num samples in `<workdir>/samples/`: a PNG grid (also to TensorBoard), or for
    text the decoded samples in a .txt file, separated by lines of dashes."""
    cfg = run.config.sample
    samples = run.sample(
        cfg.num, seed=run.config.seed, ema_index=0 if cfg.use_ema and run.state.ema else None, **dict(cfg.kwargs)
    )
    if run.is_chief and run.metadata.kind == "text":
        path = run.workdir / "samples" / f"step_{step:08d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text_samples(samples, run.metadata.vocab), encoding="utf-8")
    elif run.is_chief:
        picture = samples_to_png(
            samples, run.metadata.kind, run.metadata.value_range, run.workdir / "samples" / f"step_{step:08d}.png"
        )
        writer.image(step, "samples", picture)


@dataclasses.dataclass
class WriteSamples:
    """Every `every` steps, and at the end when the last step wrote none."""

    writer: MetricWriter
    every: int

    def __call__(self, run: Any, step: int, metrics: dict) -> None:
        if self.every and step % self.every == 0:
            write_samples(run, self.writer, step)

    def finish(self, run: Any) -> None:
        if not self.every or run.step % self.every:
            write_samples(run, self.writer, run.step)


@dataclasses.dataclass
class Evaluate:
    """Every `every` steps: config.eval.metrics to eval.jsonl (samples drawn with seed + 1 + step,
    metric randomness with the seed), offered to the best-checkpoint manager."""

    writer: MetricWriter
    every: int

    def __call__(self, run: Any, step: int, metrics: dict) -> None:
        cfg = run.config
        if not (self.every and cfg.eval.metrics and step % self.every == 0):
            return
        results = run.evaluate(
            list(cfg.eval.metrics),
            cfg.eval.num,
            cfg.seed + 1 + step,
            ema_index=0 if cfg.eval.use_ema else None,
            metric_seed=cfg.seed,
        )
        results = {f"eval/{k}": v for k, v in results.items()}
        self.writer.write(step, results, file="eval.jsonl")
        run.checkpointer.save_best(run.state, run.data.get_state(), config_lib.to_json(cfg), results)

    def finish(self, run: Any) -> None:
        pass


@dataclasses.dataclass
class Checkpoint:
    """Every `every` steps and at the last step."""

    every: int
    last_step: int

    def __call__(self, run: Any, step: int, metrics: dict) -> None:
        if (self.every and step % self.every == 0) or step == self.last_step:
            run.save()

    def finish(self, run: Any) -> None:
        pass


def default_actions(run: Any, writer: MetricWriter, progress: Progress) -> list[Action]:
    """The loop's actions for `run` (before its first step), in order: log, sample, evaluate,
    checkpoint."""
    tc = run.config.train
    schedules = {p: lr_schedule(player_optim_config(run.config, p), tc.steps) for p in run.objective.players}
    log_metrics = LogMetrics(
        writer,
        progress,
        tc.log_every,
        tc.steps,
        tc.nonfinite_guard,
        run.step,
        int(to_host(run.state.nonfinite_steps)),
        schedules,
    )
    return [
        log_metrics,
        WriteSamples(writer, tc.sample_every),
        Evaluate(writer, tc.eval_every),
        Checkpoint(tc.checkpoint_every, tc.steps),
    ]
