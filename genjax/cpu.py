"""genjax's CPU fast path, an explicit opt-in: `genjax.configure_cpu()` (the `genjax` command line
calls it and logs what it applied). Importing genjax changes no environment variable and no JAX
setting.

Two parts, each measured on x86 CPUs (docs/benchmarks.md, "Diffusion"):

- `xla_flags`: XLA:CPU in jaxlib 0.10 hands convolutions and dots to YNNPACK; its Eigen kernels
  are faster for both (a 3x3 conv at 16x16x64, batch 16, ~1.9x less time forward + backward;
  attention's Q K^T at 16x256x64 ~2x; the UNet train step ~4%). FLAG keeps YNNPACK for
  elementwise ops and reductions and takes convolutions and dots away from it. XLA reads
  XLA_FLAGS once, when the first backend starts, so the flag is appended only if no backend has
  started; never over a value the user set, and only for the jaxlib releases it was measured on
  (XLA aborts on flags it does not know).
- `onednn`: the oneDNN convolution, attention and group-norm kernels of `genjax.native`, used by
  float32 single-device CPU programs. Without the opt-in nothing is built, probed or lowered.

`GENJAX_XLA_CPU_DEFAULTS=0` and `GENJAX_ONEDNN=0` veto each part for the command line.
"""

from __future__ import annotations

import os

from genjax import native

FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution,-individual_dot"
TESTED_JAXLIB = ((0, 10),)  # (major, minor) releases whose XLA knows FLAG


def _backend_started() -> bool:
    from jax._src import xla_bridge  # no public query; read-only

    return bool(getattr(xla_bridge, "_backends", None))


def _set_xla_flag() -> bool:
    if os.environ.get("GENJAX_XLA_CPU_DEFAULTS", "1") == "0":
        return False
    flags = os.environ.get("XLA_FLAGS", "")
    if FLAG.split("=")[0] in flags:
        return False
    try:
        import jaxlib

        major, minor = (int(p) for p in jaxlib.__version__.split(".")[:2])
    except (ImportError, ValueError):
        return False
    if (major, minor) not in TESTED_JAXLIB or _backend_started():
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
    return True


def configure_cpu(*, xla_flags: bool = True, onednn: bool = True) -> dict[str, bool]:
    """Turns on genjax's CPU fast path for this process; returns which parts now apply
    ({"xla_flags": ..., "onednn": ...}; the oneDNN kernels are built on first use and report
    then if they cannot be). Call it before JAX runs anything for the flag to take effect."""
    applied = {"xla_flags": xla_flags and _set_xla_flag(), "onednn": False}
    if onednn and os.environ.get("GENJAX_ONEDNN", "1") != "0":
        native.enable()
        applied["onednn"] = True
    return applied
