"""Checkpoints: exact resume, restore onto another mesh, corrupt checkpoints, SIGTERM, NaNs."""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from genjax import config as config_lib
from genjax.train import run
from genjax.train.checkpoint import CheckpointError


def _config(steps, **train):
    config = config_lib.load_config(
        "digits_vae",
        [
            f"--config.train.steps={steps}",
            "--config.data.batch_size=16",
            "--config.objective.hidden=(32,)",
            "--config.train.progress=false",
            "--config.train.sample_every=0",
            "--config.train.log_every=50",
            "--config.train.checkpoint_every=50",
            "--config.train.ema_decays=(0.9,0.99)",
        ],
    )
    for key, value in train.items():
        config.train[key] = value
    return config


def _leaves(state):
    return jax.tree.leaves(jax.device_get((state.params, state.opt_state, state.ema, state.rng, state.step)))


def test_resume_is_exact(tmp_path):
    """100 steps, stop, resume to 200 == 200 uninterrupted steps, bit for bit."""
    run(_config(100), tmp_path / "a")
    resumed = run(_config(200), tmp_path / "a")
    straight = run(_config(200), tmp_path / "b")
    assert int(resumed.step) == 200
    for x, y in zip(_leaves(resumed), _leaves(straight), strict=True):
        np.testing.assert_array_equal(x, y)
    lines = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    assert [int(line.split(",")[0].split(":")[1]) for line in lines] == [50, 100, 150, 200]


def test_corrupt_checkpoint_is_reported_and_kept(tmp_path):
    run(_config(2, checkpoint_every=1, keep_checkpoints=5), tmp_path)
    step_dir = tmp_path / "checkpoints" / "2" / "state"
    victims = [p for p in step_dir.rglob("*") if p.is_file() and p.stat().st_size > 0]
    for p in victims:
        p.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"step 2 .*cannot be restored.*resume from step 1"):
        run(_config(4), tmp_path)
    assert all(p.read_bytes() == b"garbage" for p in victims)  # nothing overwritten
    assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == [1, 2]


def test_flipped_bit_stops_training_and_restore_fallback_resumes_from_the_step_before(tmp_path, capsys, caplog):
    """One bit of a saved array flipped: `genjax train` exits 2 naming the step; with
    --restore-fallback it warns, resumes from the step before and trains to the end."""
    from genjax.cli import main

    args = ["train", "--config", "digits_vae", "--workdir", str(tmp_path), "--config.data.batch_size=16"]
    args += ["--config.objective.hidden=(32,)", "--config.train.progress=false", "--config.train.sample_every=0"]
    args += ["--config.train.checkpoint_every=1", "--config.train.keep_checkpoints=5"]
    assert main([*args, "--config.train.steps=2"]) == 0
    data = max((p for p in (tmp_path / "checkpoints" / "2" / "state").rglob("*") if p.is_file()), key=os.path.getsize)
    damaged = bytearray(data.read_bytes())
    damaged[len(damaged) // 2] ^= 0x10
    data.write_bytes(bytes(damaged))
    capsys.readouterr()
    assert main([*args, "--config.train.steps=4"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint at step 2 " in err and "failed verification: array" in err and "--restore-fallback" in err
    assert main([*args, "--config.train.steps=4", "--restore-fallback"]) == 0
    assert "trained to step 4" in capsys.readouterr().out
    assert any("step(s) 2 " in r.getMessage() and "restored step 1" in r.getMessage() for r in caplog.records)
    names = {p.name for p in (tmp_path / "checkpoints").iterdir()}
    assert {"1", "2", "3", "4", "2.damaged"} <= names


def test_nonfinite_loss_stops_with_a_clear_error(tmp_path):
    with pytest.raises(FloatingPointError, match="non-finite.*config.optim.lr"):
        run(_lr(_config(200, log_every=10)), tmp_path)
    assert (tmp_path / "checkpoints").exists()


def _lr(config):
    config.optim.lr = 1e35
    return config


@pytest.mark.slow
def test_restore_onto_a_smaller_mesh(tmp_path, sub):
    common = [
        "--config.data.batch_size=16",
        "--config.objective.hidden=(32,)",
        "--config.train.progress=false",
        "--config.train.sample_every=0",
        "--config.train.checkpoint_every=10",
        "--config.sharding.min_fsdp_size=1",
        "--config.train.async_checkpoint=false",
    ]
    sub.run_worker(
        [
            "train",
            tmp_path / "a.npz",
            tmp_path / "run",
            *common,
            "--config.train.steps=10",
            "--config.mesh.data=1",
            "--config.mesh.fsdp=8",
        ],
        devices=8,
    )
    sub.run_worker(
        [
            "train",
            tmp_path / "b.npz",
            tmp_path / "run",
            *common,
            "--config.train.steps=20",
            "--config.mesh.data=1",
            "--config.mesh.fsdp=4",
        ],
        devices=4,
    )
    sub.run_worker(
        [
            "train",
            tmp_path / "c.npz",
            tmp_path / "straight",
            *common,
            "--config.train.steps=20",
            "--config.mesh.data=1",
            "--config.mesh.fsdp=8",
        ],
        devices=8,
    )
    resumed, straight = sub.load(tmp_path / "b.npz"), sub.load(tmp_path / "c.npz")
    for key in straight:
        if key != "specs":
            np.testing.assert_allclose(resumed[key], straight[key], rtol=2e-4, atol=2e-5, err_msg=key)


@pytest.mark.slow
def test_sigterm_saves_and_exits_cleanly(tmp_path):
    workdir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "genjax.cli",
        "train",
        "--config",
        "digits_vae",
        "--workdir",
        str(workdir),
        "--config.train.steps=1000000",
        "--config.train.log_every=1",
        "--config.train.checkpoint_every=0",
        "--config.data.batch_size=16",
        "--config.objective.hidden=(32,)",
        "--config.train.sample_every=0",
        "--config.train.progress=false",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"}
    )
    deadline = time.time() + 120
    while not (workdir / "metrics.jsonl").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    steps = [int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()]
    assert len(steps) == 1 and 0 < steps[0] < 1000000
    assert f"trained to step {steps[0]}" in out
