"""Native XLA:CPU kernels, an opt-in (`genjax.configure_cpu()` calls `enable()`), compiled on first
use and registered as XLA FFI targets for the CPU platform only.

Once enabled, `onednn()` builds `onednn_conv.cc` (2D convolutions and their gradients through oneDNN, Intel's deep
learning primitives, the library behind PyTorch's CPU convolutions) and `onednn_attention.cc`
(scaled dot-product attention and its gradient), with the helpers of `onednn_common.h`, against
the headers of the installed jaxlib and of the `onednn-devel-cpu-gomp` wheel, caches the shared
library under `$GENJAX_CACHE` (default `~/.cache/genjax`) keyed by a hash of the sources and the
toolchain, and registers its handlers for the CPU platform. It returns False, with one logged
warning saying why, when anything is missing (no C++ compiler, no oneDNN wheel, not Linux x86-64);
callers then keep XLA's own kernels. Not enabled, it returns False and builds nothing.
`genjax.native.primitives` turns the kernels into JAX primitives.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SOURCES = [Path(__file__).with_name(name) for name in ("onednn_conv.cc", "onednn_attention.cc", "group_norm.cc")]
HEADER = Path(__file__).with_name("onednn_common.h")
TARGETS = {
    "genjax_conv_fwd": "GenjaxConvFwd",
    "genjax_conv_bwd_data": "GenjaxConvBwdData",
    "genjax_conv_bwd_weights": "GenjaxConvBwdWeights",
    "genjax_attention_fwd": "GenjaxAttentionFwd",
    "genjax_attention_bwd": "GenjaxAttentionBwd",
    "genjax_group_norm_fwd": "GenjaxGroupNormFwd",
    "genjax_group_norm_bwd": "GenjaxGroupNormBwd",
}


def _onednn_prefix() -> Path | None:
    """The prefix the oneDNN wheels install into (their data goes to sys.prefix/{lib,include})."""
    for prefix in (Path(sys.prefix), Path(sys.base_prefix)):
        if (prefix / "include/oneapi/dnnl/dnnl.hpp").exists() and any((prefix / "lib").glob("libdnnl.so*")):
            return prefix
    return None


def _build(prefix: Path) -> Path:
    import jax

    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise RuntimeError("no C++ compiler (g++) on PATH")
    include = jax.ffi.include_dir()
    lib = next(p for p in sorted((prefix / "lib").glob("libdnnl.so*")))
    sources = [p.read_bytes() for p in (*SOURCES, HEADER)]
    key = hashlib.sha256(
        b"\0".join([*sources, jax.__version__.encode(), str(lib.resolve()).encode(), cxx.encode()])
    ).hexdigest()[:16]
    cache = Path(os.environ.get("GENJAX_CACHE", Path.home() / ".cache" / "genjax")) / "native"
    out = cache / f"libgenjax_onednn_{key}.so"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:  # build aside, then rename: safe for parallel builds
        tmp_out = Path(tmp) / out.name
        cmd = [
            cxx,
            "-O3",
            "-fno-trapping-math",
            "-fno-math-errno",
            "-std=c++17",
            "-shared",
            "-fPIC",
            "-fopenmp",
            "-w",
            *map(str, SOURCES),
            f"-I{include}",
            f"-I{prefix / 'include'}",
            f"-L{prefix / 'lib'}",
            "-l:" + lib.name,
            f"-Wl,-rpath,{prefix / 'lib'}",
            "-o",
            str(tmp_out),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"compiling {', '.join(p.name for p in SOURCES)} failed:\n{result.stderr[-2000:]}")
        os.replace(tmp_out, out)
    return out


_enabled = False


def enable() -> None:
    """Lets `onednn()` build and use the kernels (`genjax.configure_cpu`)."""
    global _enabled
    _enabled = True


def onednn() -> bool:
    """True when the kernels are enabled, JAX's default backend is the CPU, and they are usable
    (built and registered once). On other backends nothing is built or probed."""
    if not _enabled:
        return False
    import jax

    return jax.default_backend() == "cpu" and _load()


@functools.cache
def _load() -> bool:
    import jax

    try:
        if platform.system() != "Linux" or platform.machine() != "x86_64":
            raise RuntimeError(f"only built on Linux x86-64, not {platform.system()} {platform.machine()}")
        prefix = _onednn_prefix()
        if prefix is None:
            raise RuntimeError("oneDNN is not installed: pip install 'genjax[onednn]'")
        library = ctypes.cdll.LoadLibrary(str(_build(prefix)))
        for target, symbol in TARGETS.items():
            jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(library, symbol)), platform="cpu")
    except Exception as e:  # noqa: BLE001  (any failure: keep XLA's kernels, say why once)
        log.warning("genjax: oneDNN kernels unavailable (%s); using XLA's", e)
        return False
    return True
