"""Fault injection through the `genjax` command line, as an unlucky operator or a hostile user
would: kill -9 during asynchronous saves, a second trainer on the workdir, a write failure in the
middle of a checkpoint, and malicious .npz/.png/.pth files. Nothing is lost, resumed runs equal
uninterrupted ones bit for bit, and every failure is one clear line with the documented exit
status. Bit flips in every file of a checkpoint: tests/train/test_checkpoint_integrity.py;
crafted PyTorch files: tests/metrics/test_torchfile.py."""

import io
import os
import signal
import subprocess
import sys
import time
import zipfile

import jax
import numpy as np
import pytest

from genjax import config as config_lib
from genjax.cli import main
from genjax.train import run

CONFIG = "digits_vae:runlocal"
OVERRIDES = [
    "--config.train.progress=false",
    "--config.train.sample_every=0",
    "--config.train.log_every=1",
    "--config.train.checkpoint_every=2",
    "--config.train.keep_checkpoints=3",
]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "GENJAX_DEBUG": "0"}


def _args(workdir, steps, *extra):
    return ["train", "--config", CONFIG, "--workdir", str(workdir), *OVERRIDES, f"--config.train.steps={steps}", *extra]


def _run(workdir, steps):
    return run(config_lib.load_config(CONFIG, [*OVERRIDES, f"--config.train.steps={steps}"]), workdir)


def _leaves(state):
    return jax.tree.leaves(jax.device_get((state.params, state.opt_state, state.ema, state.rng, state.step)))


def _assert_same_state(a, b):
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def _committed(workdir):
    d = workdir / "checkpoints"
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.is_dir() else []


def _in_flight(workdir):
    d = workdir / "checkpoints"
    return d.is_dir() and any("tmp" in p.name for p in d.iterdir())


def _train_process(workdir, steps, max_file_bytes=None):
    """`genjax train` in a child process; with `max_file_bytes`, under a file size limit (files
    may not grow past it; a write past it fails with EFBIG, as a write to a full disk fails)."""
    cmd = [sys.executable, "-m", "genjax.cli", *_args(workdir, steps)]
    if max_file_bytes:  # set by the shell: no fork-time callback in a multithreaded parent
        cmd = ["bash", "-c", f'trap "" XFSZ; ulimit -f {max_file_bytes // 1024}; exec "$@"', "limit", *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def _wait(proc, done, timeout=240):
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline and not done():
        time.sleep(0.002)
    return done()


@pytest.mark.slow
def test_kill_9_during_async_saves_and_a_second_trainer_lose_nothing(tmp_path, capsys):
    """Three `genjax train` processes, each killed with SIGKILL while a save is in flight once it
    has committed a checkpoint past the previous one; a second trainer started beside the first
    exits 2 naming it; the resumed run equals an uninterrupted one bit for bit."""
    steps, killed = 30, tmp_path / "killed"
    hits = 0
    for attempt in range(3):
        before = max(_committed(killed), default=0)
        proc = _train_process(killed, steps)
        _wait(proc, lambda: max(_committed(killed), default=0) > before)
        if attempt == 0 and proc.poll() is None:  # the workdir is busy: a second trainer fails at once
            assert main(_args(killed, steps)) == 2
            assert f"is in use by PID {proc.pid}" in capsys.readouterr().err
        hits += _wait(proc, lambda: _in_flight(killed))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert hits >= 1, "no kill hit an in-flight save"
    assert 0 < max(_committed(killed)) < steps
    _assert_same_state(_run(killed, steps), _run(tmp_path / "straight", steps))


@pytest.mark.slow
def test_a_failed_checkpoint_write_exits_1_and_keeps_the_committed_step(tmp_path):
    """The tiny run's logs stay below 32 kB, its checkpoint data files do not."""
    workdir = tmp_path / "run"
    _run(workdir, 2)
    proc = _train_process(workdir, 4, max_file_bytes=32 * 1024)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]
    assert "genjax train: runtime error: CheckpointSaveError: writing a checkpoint in" in err
    assert "the committed checkpoints are kept (latest: step 2)" in err and "File too large" in err
    assert _committed(workdir) == [2]
    _assert_same_state(_run(workdir, 4), _run(tmp_path / "straight", 4))


def _npz_with_objects(path):
    np.savez(path, x=np.array([{"__reduce__": "os.system"}], dtype=object))


def _png_bomb(folder):
    from PIL import Image

    (folder / "a").mkdir(parents=True)
    Image.new("L", (200, 200)).save(folder / "a" / "big.png")


def _short_pth(path):
    torch = pytest.importorskip("torch")
    buffer = io.BytesIO()
    torch.save({"w": torch.arange(16, dtype=torch.float32)}, buffer)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[:8] if item.filename.endswith("/data/0") else data)


def test_malicious_files_exit_2_and_change_nothing(tmp_path, capsys, monkeypatch):
    from PIL import Image

    _npz_with_objects(tmp_path / "evil.npz")
    assert main(_args(tmp_path / "a", 2, f"--config.data.source=npz:{tmp_path / 'evil.npz'}")) == 2
    assert "Object arrays cannot be loaded" in capsys.readouterr().err

    _png_bomb(tmp_path / "bomb")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 200 x 200 is a bomb > 2x the limit
    assert main(_args(tmp_path / "b", 2, f"--config.data.source=folder:{tmp_path / 'bomb'}")) == 2
    err = capsys.readouterr().err
    assert "big.png" in err and "decompression bomb" in err
    for workdir in ("a", "b"):
        assert not (tmp_path / workdir / "checkpoints").exists()

    (tmp_path / "cut.npz").write_bytes((tmp_path / "evil.npz").read_bytes()[:100])
    assert main(["fid", str(tmp_path / "cut.npz"), str(tmp_path / "evil.npz"), "--features", "raw"]) == 2
    assert f"genjax fid: error: {tmp_path / 'cut.npz'}: cannot read the images" in capsys.readouterr().err
    assert main(["fid", str(tmp_path / "evil.npz"), str(tmp_path / "cut.npz"), "--features", "raw"]) == 2
    assert "Object arrays cannot be loaded" in capsys.readouterr().err
    (tmp_path / "png" / "a").mkdir(parents=True)
    noise = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "png" / "a" / "ok.png")
    cut = (tmp_path / "png" / "a" / "ok.png").read_bytes()
    (tmp_path / "png" / "a" / "cut.png").write_bytes(cut[: len(cut) // 2])
    assert main(["fid", str(tmp_path / "png"), str(tmp_path / "png"), "--features", "raw"]) == 2
    assert "cut.png" in capsys.readouterr().err

    _short_pth(tmp_path / "short.pth")
    monkeypatch.setenv("GENJAX_CACHE", str(tmp_path / "cache"))
    assert main(["weights", "fetch", "inception", "--from", str(tmp_path / "short.pth")]) == 2
    assert "holds 8 bytes, but 16 elements of FloatStorage need 64" in capsys.readouterr().err
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_an_evaluation_error_keeps_the_steps_trained_since_the_last_checkpoint(tmp_path):
    """Evaluation fails at step 3 (mig needs data with known factors): the run stops with that
    error, and step 3 is checkpointed although checkpoint_every is 2."""
    overrides = [*OVERRIDES, "--config.train.steps=4", "--config.train.eval_every=3", "--config.eval.metrics=mig"]
    overrides.append("--config.eval.num=8")
    with pytest.raises(ValueError, match="known generative factors"):
        run(config_lib.load_config(CONFIG, overrides), tmp_path)
    assert _committed(tmp_path) == [2, 3]


def test_an_eval_num_larger_than_the_eval_split_fails_before_training(tmp_path):
    overrides = [
        *OVERRIDES,
        "--config.train.eval_every=2",
        "--config.eval.metrics=latent_kl",
        "--config.eval.num=100000",
    ]
    with pytest.raises(ValueError, match=r"config.eval.num=100000 exceeds the \d+ examples of the eval split"):
        run(config_lib.load_config(CONFIG, overrides), tmp_path)
    assert _committed(tmp_path) == []
