"""The XLA:CPU defaults set on import: applied before the backend starts, respected when the user
sets the flag or opts out, and effective (convolutions compile to XLA's own kernels)."""

import os
import subprocess
import sys

import pytest

from genjax import xla_cpu

_PROBE = """
import os, jax, jax.numpy as jnp
import genjax
conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
hlo = jax.jit(conv).lower(jnp.ones((4, 16, 16, 64)), jnp.ones((3, 3, 64, 64))).compile().as_text()
print(os.environ.get("XLA_FLAGS", ""))
print("ynn" if "ynn_fusion" in hlo else "eigen")
"""


def _probe(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "GENJAX_XLA_CPU_DEFAULTS")}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**base, "JAX_PLATFORMS": "cpu", **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return out[-2], out[-1]


@pytest.fixture(scope="module")
def tested_jaxlib():
    import jaxlib

    if tuple(int(p) for p in jaxlib.__version__.split(".")[:2]) not in xla_cpu.TESTED_JAXLIB:
        pytest.skip(f"jaxlib {jaxlib.__version__} is not one genjax sets XLA:CPU flags for")


def test_import_sets_the_flag_and_convolutions_leave_ynnpack(tested_jaxlib):
    flags, kernel = _probe(XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert flags == f"--xla_force_host_platform_device_count=2 {xla_cpu.FLAG}"
    assert kernel == "eigen"


def test_opt_out_and_user_setting_are_respected(tested_jaxlib):
    flags, kernel = _probe(GENJAX_XLA_CPU_DEFAULTS="0")
    assert flags == "" and kernel == "ynn"
    user = "--xla_cpu_experimental_ynn_fusion_type=dot"
    assert _probe(XLA_FLAGS=user)[0] == user
