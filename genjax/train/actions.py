"""Periodic actions of the training loop, one job each: log, sample, evaluate, checkpoint.

Each action is called after every train step as `action(run, step, metrics)` (1-based `step`,
the step's device metrics) and decides from its interval whether to act; `finish(run)` runs once
when the loop ends. `default_actions(config, writer)` is the loop's list, in order.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from genjax import config as config_lib
from genjax.data.spectrogram import spectrogram_images
from genjax.data.text import text_samples
from genjax.data.wav import write_wav
from genjax.logging import MetricWriter, Progress, samples_to_png
from genjax.objectives.base import Autoencoder, LatentModel
from genjax.parallel import to_host
from genjax.train import telemetry
from genjax.train.autoencode import interpolation_rows, num_eval_examples, reconstruction_rows, traversal_rows
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
        self._rate_from: tuple[int, float, float] | None = None  # (step, time, data seconds) rates start at

    def __call__(self, run: Any, step: int, metrics: dict) -> None:
        self.progress.advance(step)  # no device sync
        if self._rate_from is None:  # after the first step's dispatch: compilation stays out of the rates
            self._rate_from = (step, time.perf_counter(), run.data_seconds)
        if step % self.every and step != self.last_step:
            return
        host = {k: float(v) for k, v in to_host(metrics).items()}
        host["steps_per_sec"] = self.progress.update(step, host)
        (step0, t0, data0), now = self._rate_from, time.perf_counter()
        if step > step0:
            batch_size = run.plan.stages[run.stage].batch_size
            host |= telemetry.throughput(step - step0, now - t0, run.data_seconds - data0, batch_size, run.step_flops)
            host["steps_per_sec"] = (step - step0) / max(now - t0, 1e-9)  # since the last row, like the rates
        self._rate_from = (step, now, run.data_seconds)
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


def write_audio_samples(samples: np.ndarray, sample_rate: int, png: Path) -> np.ndarray:
    """Waveforms [N, T, 1] in [-1, 1] -> `<png without .png>/sample_<i>.wav` (16-bit PCM at
    `sample_rate`) and their spectrogram grid `png`; returns the grid."""
    for i, x in enumerate(samples):
        write_wav(png.with_suffix("") / f"sample_{i:03d}.wav", x, sample_rate)
    return samples_to_png(spectrogram_images(samples), "image", (0.0, 255.0), png)


def write_samples(run: Any, writer: MetricWriter, step: int) -> None:
    """config.sample.num samples in `<workdir>/samples/`: a PNG grid (also to TensorBoard); for
    audio `step_<step>/sample_<i>.wav` and a grid of their spectrograms (`write_audio_samples`); for
    text the decoded samples in a .txt file, separated by lines of dashes; for an `Autoencoder` of
    images also `reconstructions_<step>.png` (rows of eval examples, each followed by their
    reconstructions), `interpolations_<step>.png` (a row per pair of eval examples: their
    latents' slerp, decoded) and for vector-latent VAEs `traversals_<step>.png` (a row per latent
    unit swept over [-3, 3]), see `genjax.train.autoencode`."""
    cfg = run.config.sample
    samples = run.sample(
        cfg.num, seed=run.config.seed, ema_index=0 if cfg.use_ema and run.state.ema else None, **dict(cfg.kwargs)
    )
    if run.is_chief and run.metadata.kind == "text":
        path = run.workdir / "samples" / f"step_{step:08d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text_samples(samples, run.metadata.vocab), encoding="utf-8")
    elif run.is_chief and run.metadata.kind == "audio":
        png = run.workdir / "samples" / f"step_{step:08d}.png"
        picture = write_audio_samples(np.asarray(samples), run.metadata.sample_rate, png)
        writer.image(step, "spectrograms", picture)
    elif run.is_chief:
        picture = samples_to_png(
            samples, run.metadata.kind, run.metadata.value_range, run.workdir / "samples" / f"step_{step:08d}.png"
        )
        writer.image(step, "samples", picture)
    if isinstance(run.objective, Autoencoder) and run.metadata.kind == "image":
        write_autoencoder_grids(run, writer, step, ema_index=0 if cfg.use_ema and run.state.ema else None)


def write_autoencoder_grids(run: Any, writer: MetricWriter, step: int, *, ema_index: int | None) -> None:
    """Reconstructions of up to config.sample.num / 2 eval examples (8 a row) and up to 8
    interpolations of 8 steps, beside the sample grid of `step`; fewer when the eval split is small."""
    available = num_eval_examples(run)
    ncol = min(8, run.config.sample.num, available)
    rows = max(1, min(run.config.sample.num // (2 * ncol), available // ncol))
    grids = {"reconstructions": reconstruction_rows(run, ncol * rows, ncol, ema_index=ema_index)}
    if available >= 2:
        grids["interpolations"] = interpolation_rows(run, min(8, available // 2), ncol, ema_index=ema_index)
    if isinstance(run.objective, LatentModel):
        traversals = traversal_rows(run, ncol, ema_index=ema_index)
        if traversals is not None:
            grids["traversals"] = traversals
    if run.is_chief:
        for name, images in grids.items():
            path = run.workdir / "samples" / f"{name}_{step:08d}.png"
            writer.image(step, name, samples_to_png(images, "image", run.metadata.value_range, path, ncol=ncol))


@dataclasses.dataclass
class WriteSamples:
    """Every `every` steps, and at the end when the last step wrote none; never when `every` is 0."""

    writer: MetricWriter
    every: int

    def __call__(self, run: Any, step: int, metrics: dict) -> None:
        if self.every and step % self.every == 0:
            write_samples(run, self.writer, step)

    def finish(self, run: Any) -> None:
        if self.every and run.step % self.every:
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
