import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

# One persistent XLA compilation cache for the test session, its xdist workers and the processes
# they start: many tests compile the same tiny configs. Set before JAX is imported.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(tempfile.gettempdir()) / "genjax-tests-xla-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import numpy as np
import pytest

import genjax

# The command line's CPU fast path (XLA flag, oneDNN kernels), before JAX starts: the suite tests
# what users run. tests/test_cpu.py checks the opt-in itself in fresh processes.
genjax.configure_cpu()

WORKER = Path(__file__).parent / "parallel" / "worker.py"


def run_worker(args, devices: int = 1, timeout: int = 300) -> None:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, str(WORKER), *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def load(path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture
def sub():
    """Subprocess helpers: sub.run_worker, sub.free_port, sub.load, sub.WORKER."""
    import types

    return types.SimpleNamespace(run_worker=run_worker, free_port=free_port, load=load, WORKER=WORKER)
