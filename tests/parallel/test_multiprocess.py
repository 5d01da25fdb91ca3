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


def _start(sub, workdir, overrides, env_extra=None, port=None, processes=2):
    port = port or sub.free_port()
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
        **(env_extra or {}),
    }
    return [
        subprocess.Popen(
            [sys.executable, str(sub.WORKER), "run", str(workdir), str(i), str(processes), str(port), *overrides],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]


@pytest.mark.slow
def test_sigterm_to_one_process_saves_the_same_step_everywhere_and_exits_zero(tmp_path, sub):
    """A preemption notice reaches one host only (SIGTERM to process 1): through JAX's preemption
    sync point both processes stop at the same step, write one checkpoint together and exit 0."""
    import signal
    import time

    overrides = ["--config.train.steps=100000", "--config.train.log_every=1", "--config.train.checkpoint_every=0"]
    procs = _start(sub, tmp_path, overrides, {"GENJAX_TEST_PREEMPTED": "1"})
    try:
        metrics = tmp_path / "metrics.jsonl"
        deadline = time.monotonic() + 240
        while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "no training progress"
            time.sleep(0.5)
        procs[1].send_signal(signal.SIGTERM)
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(e[-3000:] for _, e in outs)
    steps = {int(o.split("final step ")[1].split()[0]) for o, _ in outs}
    assert len(steps) == 1, steps  # the same step on both
    (step,) = steps
    assert 3 <= step < 100000
    assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == [step]


@pytest.mark.slow
@pytest.mark.parametrize("before, after", [(2, 1), (1, 2)])
def test_resume_with_another_process_count(tmp_path, sub, before, after):
    """A run checkpointed by `before` processes resumes with `after` (2 devices each): every process
    restores the exact state, restarts its data stream at the step with a warning, and trains on
    (before this, 2 -> 1 failed and 1 -> 2 hung process 1 in gloo until a 30 s timeout)."""
    for n, steps in ((before, 10), (after, 14)):
        procs = _start(
            sub, tmp_path, [f"--config.train.steps={steps}", "--config.train.checkpoint_every=10"], processes=n
        )
        try:
            outs = [p.communicate(timeout=240) for p in procs]
        finally:
            for p in procs:
                p.kill()
        assert [p.returncode for p in procs] == [0] * n, "\n".join(e[-3000:] for _, e in outs)
        assert {f"final step {steps}" in o for o, _ in outs} == {True}
    assert "the input order is new from step 10" in outs[0][1]
    lines = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == [5, 10, 14]
