"""The accelerator benchmark's tiny CPU mode runs end to end and prints one complete row per
model (the full mode runs where a GPU or TPU is lent: docs/benchmarks.md)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_accelerator_benchmark_tiny_mode():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "accelerator.py"), "--tiny", "--steps", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["model"] for r in rows] == ["dit_b2", "unet_cifar10"]
    for r in rows:
        assert r["dtype"] == "bfloat16" and r["examples_per_sec"] > 0 and r["tflops_per_sec"] > 0
        assert r["peak_mem_GiB"] > 0 and r["step_ms"] > 0 and "mfu" not in r  # no CPU in the peak table
