"""Run outputs: JSONL metrics, TensorBoard event files, PNG sample grids, a progress bar.

Only process 0 writes; other processes get a writer that does nothing. A JSONL row reaches the
file whole or not at all as far as this process can tell: one `write` of the full line (newline
included) straight to the kernel, no buffer; a failed append (a full disk) raises
`MetricWriteError` naming the file. A row cut short by such a failure is dropped when the run
resumes (`genjax.train.workdir.reconcile_logs`); until then, the next row starts on a new line.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image


class _StderrHandler(logging.StreamHandler):
    """Writes to the current `sys.stderr` (which tests and notebooks may replace)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        head = record.name if record.levelno < logging.WARNING else f"{record.levelname} {record.name}"
        return f"{head}: {record.getMessage()}"


def configure_logging(verbosity: int = 0) -> None:
    """Log to stderr: verbosity 0 shows genjax's progress messages (start banner, resumed step,
    compile time) and every library's warnings; 1 (-v) every library's INFO too; -1 (-q) errors
    only. Replaces absl's root handler (installed when absl is imported) and an earlier call's."""
    handler = _StderrHandler()
    handler.setFormatter(_Formatter())
    root = logging.getLogger()
    mine = lambda h: isinstance(h, _StderrHandler) or type(h).__name__ == "ABSLHandler"  # noqa: E731
    root.handlers[:] = [h for h in root.handlers if not mine(h)] + [handler]
    root.setLevel({1: logging.INFO, 0: logging.WARNING}.get(verbosity, logging.ERROR))
    logging.getLogger("genjax").setLevel(logging.INFO if verbosity >= 0 else logging.ERROR)


def to_uint8(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Images in `value_range` -> uint8 [0, 255], rounding to nearest."""
    lo, hi = value_range
    u = (np.asarray(x, np.float32) - lo) / (hi - lo)
    return np.clip(np.rint(u * 255.0), 0, 255).astype(np.uint8)


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 1) -> np.ndarray:
    """uint8 [N, H, W, C] -> one uint8 [rows*(H+pad)+pad, ncol*(W+pad)+pad, C] grid."""
    n, h, w, c = images.shape
    ncol = ncol or int(math.ceil(math.sqrt(n)))
    nrow = int(math.ceil(n / ncol))
    grid = np.zeros((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, ncol)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = image
    return grid


def points_image(points: np.ndarray, size: int = 512, extent: float | None = None) -> np.ndarray:
    """2D points [N, 2] -> a uint8 [size, size, 3] scatter plot (white background)."""
    points = np.asarray(points, np.float32)[:, :2]
    extent = extent or float(np.max(np.abs(points[np.isfinite(points)]), initial=1.0)) * 1.1
    canvas = np.full((size, size, 3), 255, np.uint8)
    finite = np.all(np.isfinite(points), axis=1)
    ij = np.rint((points[finite] / extent * 0.5 + 0.5) * (size - 1)).astype(int)
    ij = ij[np.all((ij >= 0) & (ij < size), axis=1)]
    for di in (-1, 0, 1):  # 3x3 dots
        for dj in (-1, 0, 1):
            rows = np.clip(size - 1 - ij[:, 1] + di, 0, size - 1)
            cols = np.clip(ij[:, 0] + dj, 0, size - 1)
            canvas[rows, cols] = (31, 119, 180)
    return canvas


def samples_to_png(
    samples: np.ndarray, kind: str, value_range: tuple[float, float], path: str | Path, ncol: int | None = None
) -> np.ndarray:
    """Writes a PNG of samples (an image grid of `ncol` columns, default about square, or a scatter
    plot for points); returns the image."""
    if kind == "image":
        picture = image_grid(to_uint8(samples, value_range), ncol)
    else:
        picture = points_image(samples)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(path)
    return picture


class MetricWriteError(OSError):
    """A JSONL row could not be appended (e.g. no space left on the device)."""


def append_row(path: str | Path, record: Mapping[str, Any]) -> None:
    """Appends `record` as one JSON line with a single write; when the file does not end in a
    newline (a row cut short), the line starts with one so that it parses on its own."""
    line = (json.dumps(record) + "\n").encode()
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            view = memoryview(line)
            while view:  # a regular file takes it all in one write unless the disk fills up
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as e:
        raise MetricWriteError(e.errno, f"cannot append a row to {path}: {e.strerror or e}") from e


class MetricWriter:
    """Appends flat metric dicts to `<workdir>/metrics.jsonl` (or another file) and TensorBoard."""

    def __init__(self, workdir: str | Path, enabled: bool = True, tensorboard: bool = True):
        self.workdir = Path(workdir)
        self.enabled = enabled
        self._tb = None
        if enabled and tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(self.workdir / "tb"))

    def write(self, step: int, metrics: Mapping[str, Any], file: str = "metrics.jsonl") -> None:
        if not self.enabled:
            return
        record = {"step": int(step), **{k: _scalar(v) for k, v in metrics.items()}}
        append_row(self.workdir / file, record)
        if self._tb is not None:
            for key, value in record.items():
                if key not in ("step", "wall_time") and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, step)

    def text(self, step: int, tag: str, text: str) -> None:
        """Markdown text in TensorBoard's Text tab (the run's config, at its first step)."""
        if self.enabled and self._tb is not None:
            self._tb.add_text(tag, text, step)

    def image(self, step: int, tag: str, picture: np.ndarray) -> None:
        if self.enabled and self._tb is not None:
            self._tb.add_image(tag, picture, step, dataformats="HWC")

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()


def _scalar(v: Any) -> Any:
    a = np.asarray(v)
    if a.dtype.kind in "US" and a.ndim == 0:  # a string as itself (e.g. an eval option, solver=heun)
        return a.item()
    if a.size == 1:
        f = float(a.reshape(()))
        return int(f) if a.dtype.kind in "iu" else f
    return a.tolist()


class Progress:
    """tqdm bar with step, loss, steps/s and ETA; silent when disabled."""

    def __init__(self, total: int, initial: int, enabled: bool):
        self._bar = None
        self._t0, self._s0 = time.perf_counter(), initial
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc="train", unit="step", dynamic_ncols=True)

    def advance(self, step: int) -> None:
        """Moves the bar to `step` (tqdm redraws it at most every 0.1 s)."""
        if self._bar is not None and step > self._bar.n:
            self._bar.update(step - self._bar.n)

    def update(self, step: int, metrics: Mapping[str, float]) -> float:
        rate = (step - self._s0) / max(time.perf_counter() - self._t0, 1e-9)
        if self._bar is not None:
            self._bar.n = step
            losses = {k.removeprefix("loss/"): f"{v:.4g}" for k, v in metrics.items() if k.startswith("loss/")}
            self._bar.set_postfix(losses, refresh=False)
            self._bar.refresh()
        return rate

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
