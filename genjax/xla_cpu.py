"""XLA:CPU compiler defaults for convolutional models, applied when genjax is imported.

XLA:CPU in jaxlib 0.10 hands convolutions and dots to YNNPACK ("individual convolution" and
"individual dot" library fusions). On x86 CPUs its Eigen kernels are faster for both: a 3x3 conv
at 16x16x64, batch 16, takes ~1.9x less time forward + backward, attention's Q K^T at 16x256x64
~2x less, and the UNet train step ~4% less (docs/benchmarks.md, "Diffusion"); an MLP's gradient
is unchanged. The flag below keeps YNNPACK for elementwise ops and reductions and takes
convolutions and dots away from it.

XLA reads XLA_FLAGS once, when the first backend starts, so this only takes effect if genjax is
imported before JAX runs anything. A flag already present in XLA_FLAGS is left as the user set
it; `GENJAX_XLA_CPU_DEFAULTS=0` disables the change. Other jaxlib versions are left alone because
XLA aborts on flags it does not know.
"""

from __future__ import annotations

import os

FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution,-individual_dot"
TESTED_JAXLIB = ((0, 10),)  # (major, minor) releases whose XLA knows FLAG


def configure() -> bool:
    """Appends FLAG to XLA_FLAGS unless disabled, already set, or jaxlib is untested; returns
    whether it did."""
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
    if (major, minor) not in TESTED_JAXLIB:
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
    return True
