"""The CPU fast path is an opt-in: importing genjax changes no environment variable and no JAX
setting; `genjax.configure_cpu()` sets the XLA:CPU flag before the backend starts (respecting the
user's setting and the opt-outs, and never once a backend runs) and enables the oneDNN kernels."""

import os
import subprocess
import sys

import pytest

from genjax import cpu

_PROBE = """
import json, os, sys
import jax, jax.numpy as jnp
before = (dict(os.environ), {k: str(v) for k, v in jax.config.values.items()})
import genjax, genjax.cli, genjax.train, genjax.nn.unet, genjax.nn.dit
after = (dict(os.environ), {k: str(v) for k, v in jax.config.values.items()})
changed = sorted(k for k in set(before[0]) | set(after[0]) if before[0].get(k) != after[0].get(k))
changed += sorted(k for k in before[1] if before[1][k] != after[1].get(k))
if sys.argv[1] == "configure":
    applied = genjax.configure_cpu()
elif sys.argv[1] == "late":
    jax.numpy.zeros(1).block_until_ready()  # the backend runs: too late for XLA_FLAGS
    applied = genjax.configure_cpu()
else:
    applied = {}
conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
hlo = jax.jit(conv).lower(jnp.ones((4, 16, 16, 64)), jnp.ones((3, 3, 64, 64))).compile().as_text()
from genjax import native
print(json.dumps(dict(changed=changed, applied=applied, flags=os.environ.get("XLA_FLAGS", ""),
                      kernel="ynn" if "ynn_fusion" in hlo else "eigen", onednn_enabled=native._enabled)))
"""


def _probe(mode: str, **env) -> dict:
    import json

    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "GENJAX_XLA_CPU_DEFAULTS", "GENJAX_ONEDNN")}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        env={**base, "JAX_PLATFORMS": "cpu", **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return json.loads(out[-1])


@pytest.fixture(scope="module")
def tested_jaxlib():
    import jaxlib

    if tuple(int(p) for p in jaxlib.__version__.split(".")[:2]) not in cpu.TESTED_JAXLIB:
        pytest.skip(f"jaxlib {jaxlib.__version__} is not one genjax sets XLA:CPU flags for")


def test_import_changes_nothing():
    got = _probe("import", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert got["changed"] == [] and got["flags"] == "--xla_force_host_platform_device_count=2"
    assert got["kernel"] == "ynn" and got["onednn_enabled"] is False


def test_configure_cpu_sets_the_flag_and_convolutions_leave_ynnpack(tested_jaxlib):
    got = _probe("configure", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert got["flags"] == f"--xla_force_host_platform_device_count=2 {cpu.FLAG}"
    assert got["applied"] == {"xla_flags": True, "onednn": True} and got["onednn_enabled"] is True
    assert got["kernel"] == "eigen"


def test_opt_outs_user_settings_and_a_started_backend_are_respected(tested_jaxlib):
    got = _probe("configure", GENJAX_XLA_CPU_DEFAULTS="0", GENJAX_ONEDNN="0")
    assert got["flags"] == "" and got["kernel"] == "ynn" and got["onednn_enabled"] is False
    user = "--xla_cpu_experimental_ynn_fusion_type=dot"
    assert _probe("configure", XLA_FLAGS=user)["flags"] == user
    late = _probe("late")
    assert late["applied"]["xla_flags"] is False and late["flags"] == "" and late["kernel"] == "ynn"
