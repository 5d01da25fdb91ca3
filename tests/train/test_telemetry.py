"""Telemetry: the peak table, FLOPs from XLA's cost analysis against the closed form of a matmul,
the rates logged by a run, the profiler window and the persistent compilation cache."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import config as config_lib
from genjax.train import run, telemetry


@pytest.mark.parametrize(
    "kind, peak",
    [
        ("TPU v4", 275.0),
        ("TPU v5 lite", 197.0),
        ("TPU v5p", 459.0),
        ("TPU v6 lite", 918.0),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("NVIDIA H100 80GB HBM3", 989.0),
        ("NVIDIA H200", 989.0),
        ("cpu", None),
    ],
)
def test_peak_table(kind, peak):
    assert telemetry.peak_tflops(kind) == peak


def test_compiled_flops_of_a_matmul_is_2mnk():
    m, k, n = 64, 96, 32
    compiled = jax.jit(jnp.matmul).lower(jnp.ones((m, k)), jnp.ones((k, n))).compile()
    assert telemetry.compiled_flops(compiled) == pytest.approx(2 * m * n * k, rel=0.01)


def test_throughput_and_mfu(monkeypatch):
    row = telemetry.throughput(steps=10, seconds=2.0, data_seconds=0.5, batch_size=32, flops_per_device_step=4e12)
    devices = len(jax.devices())
    assert row["examples_per_sec"] == 160.0 and row["data_wait_frac"] == 0.25
    assert row["tflops_per_sec"] == pytest.approx(4.0 * devices * 10 / 2.0)
    assert "mfu" not in row  # a CPU has no entry in the peak table
    monkeypatch.setattr(telemetry, "peak_tflops", lambda kind: 100.0)
    row = telemetry.throughput(steps=10, seconds=2.0, data_seconds=0.0, batch_size=32, flops_per_device_step=4e12)
    assert row["mfu"] == pytest.approx(0.2)


def test_a_run_logs_rates_and_writes_a_profile(tmp_path):
    config = config_lib.load_config(
        "digits_vae:runlocal",
        ["--config.train.progress=false", "--config.train.log_every=5", "--config.train.profile_steps=(3,5)"],
    )
    run(config, tmp_path / "run")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10]
    for r in rows:
        assert r["examples_per_sec"] > 0 and 0 <= r["data_wait_frac"] <= 1 and r["tflops_per_sec"] > 0
        np.testing.assert_allclose(r["examples_per_sec"], r["steps_per_sec"] * config.data.batch_size, rtol=1e-6)
    assert list((tmp_path / "run" / "profile").rglob("*.xplane.pb")), "no profiler trace"


def test_the_command_line_fills_the_configured_compilation_cache(tmp_path):
    import os
    import subprocess
    import sys

    cache = tmp_path / "xla-cache"
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    cmd = [
        sys.executable,
        "-m",
        "genjax.cli",
        "train",
        "--config",
        "digits_vae:runlocal",
        "--workdir",
        str(tmp_path / "w"),
    ]
    cmd += ["--config.train.progress=false", f"--config.train.compilation_cache_dir={cache}"]
    proc = subprocess.run(
        cmd, env={**env, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert any(cache.iterdir()), "nothing in the compilation cache"


def test_profile_steps_are_checked():
    with pytest.raises(ValueError, match=r"profile_steps must be \(\) or \(start, stop\)"):
        config_lib.validate(config_lib.load_config("digits_vae:runlocal", ["--config.train.profile_steps=(5,5)"]))
