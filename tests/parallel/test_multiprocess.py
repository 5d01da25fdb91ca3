"""2 processes x 2 devices (gloo CPU collectives) equal 1 process x 4 devices."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


def _two_processes(sub, args):
    port = sub.free_port()
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(sub.WORKER), *map(str, args(i, port))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(e[-3000:] for e in errors)


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path, sub):
    sub.run_worker(["core", tmp_path / "single.npz", "2x2"], devices=4)
    _two_processes(sub, lambda i, port: ["core", tmp_path / "multi.npz", "2x2", i, 2, port])
    single, multi = sub.load(tmp_path / "single.npz"), sub.load(tmp_path / "multi.npz")
    assert any("fsdp" in s for s in multi["specs"])
    for key in single:
        if key != "specs":
            np.testing.assert_allclose(multi[key], single[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_two_process_training_run(tmp_path, sub):
    """genjax.train.run across 2 processes x 2 devices: one metrics file and sample grid, one checkpoint."""
    _two_processes(sub, lambda i, port: ["run", tmp_path, i, 2, port])
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [5, 10]  # written once, by process 0
    assert (tmp_path / "samples" / "step_00000010.png").exists()
    assert (tmp_path / "checkpoints" / "10" / "state").exists()
