"""Throughput telemetry of a run: examples/s, FLOP/s from the compiled train step's cost
analysis, MFU against a table of peak FLOP/s, the share of time spent waiting for data; the
profiler window and the persistent compilation cache.

    tflops_per_sec = flops_per_step * steps_per_sec / 1e12       (all devices)
    mfu            = tflops_per_sec / (peak_tflops_per_chip * devices)

`flops_per_step` is what XLA's cost analysis counts in the compiled (partitioned) step, per device,
times the devices: the FLOPs the hardware executes. Remat recomputation and compute duplicated
across a mesh axis count too, so with either this is hardware-FLOPs utilisation, an upper bound on
MFU proper (Chowdhery et al. 2022, "PaLM", appendix B); without them the two agree.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import jax

log = logging.getLogger("genjax")

# Dense bfloat16 peak TFLOP/s per chip, from the vendors' data sheets (GPUs: SXM, no sparsity).
PEAK_BF16_TFLOPS = {
    "TPU v4": 275.0,
    "TPU v5 lite": 197.0,  # v5e
    "TPU v5e": 197.0,
    "TPU v5p": 459.0,
    "TPU v5": 459.0,
    "TPU v6 lite": 918.0,  # v6e (Trillium)
    "TPU v6e": 918.0,
    "A100": 312.0,
    "H100": 989.0,
    "H200": 989.0,
}


def peak_tflops(device_kind: str) -> float | None:
    """The table's peak for a `jax.Device.device_kind` (the longest matching name), None if unknown
    (CPUs)."""
    for name in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):
        if name.lower() in device_kind.lower():
            return PEAK_BF16_TFLOPS[name]
    return None


def compiled_flops(compiled: Any) -> float | None:
    """FLOPs of one call of a compiled function on one device (XLA's cost analysis), or None when
    the backend reports none."""
    try:
        analysis = compiled.cost_analysis()
    except Exception:  # noqa: BLE001  (backends without a cost model)
        return None
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else None
    flops = (analysis or {}).get("flops")
    return float(flops) if flops and flops > 0 else None


def throughput(
    steps: int, seconds: float, data_seconds: float, batch_size: int, flops_per_device_step: float | None
) -> dict[str, float]:
    """The rates of `steps` train steps in `seconds` of wall time (`data_seconds` of it spent
    assembling batches): examples_per_sec, data_wait_frac, and with the step's FLOPs tflops_per_sec
    (all devices) and, on a device of the peak table, mfu."""
    seconds = max(seconds, 1e-9)
    row = {"examples_per_sec": steps * batch_size / seconds, "data_wait_frac": min(data_seconds / seconds, 1.0)}
    if flops_per_device_step:
        devices = jax.devices()
        row["tflops_per_sec"] = flops_per_device_step * len(devices) * steps / seconds / 1e12
        peak = peak_tflops(devices[0].device_kind)
        if peak:
            row["mfu"] = row["tflops_per_sec"] / (peak * len(devices))
    return row


class Profiler:
    """A jax.profiler trace of train steps [start, stop) (`config.train.profile_steps`) into
    `<workdir>/profile`, for TensorBoard's profile plugin or Perfetto."""

    def __init__(self, steps: tuple[int, ...], workdir: Path):
        self.start, self.stop = (int(steps[0]), int(steps[1])) if steps else (0, 0)
        self.dir, self.active = Path(workdir) / "profile", False

    def before(self, step: int) -> None:
        if self.start < self.stop and step == self.start and not self.active:
            jax.profiler.start_trace(str(self.dir))
            self.active = True

    def after(self, step: int, state: Any) -> None:
        if self.active and step + 1 >= self.stop:
            jax.block_until_ready(state)
            self.close()
            log.info("profiled train steps %d-%d into %s", self.start, self.stop - 1, self.dir)

    def close(self) -> None:
        if self.active:
            with contextlib.suppress(RuntimeError):
                jax.profiler.stop_trace()
            self.active = False


def use_compilation_cache(directory: str) -> None:
    """Persists compiled programs in `directory` (`config.train.compilation_cache_dir`): a rerun or
    a resumed run skips compiling what it compiled before."""
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(directory))
