"""The workdir lock, Ctrl-C during training, and metrics.jsonl/eval.jsonl after a kill and resume."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from genjax import config as config_lib
from genjax.cli import main
from genjax.logging import MetricWriteError, MetricWriter, append_row
from genjax.train import run
from genjax.train.workdir import WorkdirBusy, WorkdirLock, keep_rows_through

OVERRIDES = [
    "--config.train.progress=false",
    "--config.train.sample_every=0",
    "--config.train.log_every=1",
]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "GENJAX_DEBUG": "0"}


def _config(steps, *overrides):
    config = config_lib.load_config("digits_vae:runlocal", [*OVERRIDES, *overrides])
    config.train.steps = steps
    return config


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _checkpoints(workdir):
    return sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())


def _wait_for_rows(proc, path, n, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"no {n} rows in {path}: {proc.communicate()[1][-3000:]}")


def test_a_second_holder_fails_at_once_naming_the_first(tmp_path):
    with WorkdirLock(tmp_path / "run") as first:
        holder = json.loads(first.path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"]
        with pytest.raises(WorkdirBusy, match=rf"in use by PID {os.getpid()} on host {holder['host']}"):
            WorkdirLock(tmp_path / "run").acquire()
    with WorkdirLock(tmp_path / "run"):  # released
        pass
    assert (tmp_path / "run" / ".lock").read_text() == ""


def test_train_and_eval_on_a_busy_workdir_exit_2(tmp_path, capsys):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text(config_lib.to_json(_config(3)))
    with WorkdirLock(workdir):
        with pytest.raises(WorkdirBusy, match=f"PID {os.getpid()}"):
            run(_config(3), workdir)
        assert main(["train", "--config", "digits_vae:runlocal", "--workdir", str(workdir)]) == 2
        assert main(["eval", "--workdir", str(workdir), "--metrics", "kid"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(f"is in use by PID {os.getpid()}" in line for line in err)
    assert err[0].startswith("genjax train: error: workdir") and err[1].startswith("genjax eval: error:")
    assert not (workdir / "checkpoints").exists()


@pytest.mark.slow
def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
    holder = (
        "import sys, time\nfrom genjax.train.workdir import WorkdirLock\n"
        "lock = WorkdirLock(sys.argv[1])\nlock.acquire()\nprint('held', flush=True)\ntime.sleep(300)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(WorkdirBusy, match=f"PID {proc.pid} on host"):
            WorkdirLock(tmp_path).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == proc.pid  # left behind by the dead holder
    with WorkdirLock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_rows_past_the_step_and_torn_lines_are_dropped(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [json.dumps({"step": s, "loss": s / 10}) for s in (1, 2, 3, 4)]
    path.write_text("\n".join([rows[0], rows[1], '{"step": 3, "lo' + rows[2], "not json", rows[3], '{"step": 5, "l']))
    path.chmod(0o640)
    assert keep_rows_through(path, 3) == 4
    assert path.read_text() == rows[0] + "\n" + rows[1] + "\n"
    assert path.stat().st_mode & 0o777 == 0o640
    inode = path.stat().st_ino
    assert keep_rows_through(path, 3) == 0 and path.stat().st_ino == inode  # nothing to drop: untouched
    assert keep_rows_through(tmp_path / "absent.jsonl", 3) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]  # no temp file left


def test_a_row_after_a_torn_line_starts_a_new_line(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text('{"step": 1}\n{"step": 2, "eval/k')
    append_row(path, {"step": 2, "eval/kid": 0.5})
    assert path.read_text().splitlines() == ['{"step": 1}', '{"step": 2, "eval/k', '{"step": 2, "eval/kid": 0.5}']


def test_a_full_disk_is_an_error_naming_the_file(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    (tmp_path / "metrics.jsonl").symlink_to("/dev/full")
    with pytest.raises(MetricWriteError, match=rf"cannot append a row to {tmp_path}/metrics.jsonl: No space left"):
        MetricWriter(tmp_path, tensorboard=False).write(1, {"loss": 1.0})


def test_resume_after_a_kill_repeats_no_row(tmp_path):
    """An 8-step run as if killed after its checkpoint at step 4, having logged and evaluated steps
    5 to 8 and torn the next rows, resumes to 8 with the rows of the uninterrupted run."""
    extra = [
        "--config.train.checkpoint_every=4",
        "--config.train.eval_every=2",
        "--config.eval.metrics=('kid',)",
        "--config.eval.num=32",
        "--config.eval.kwargs.features=raw",
        "--config.eval.kwargs.kid_subset_size=16",
    ]
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    run(_config(8, *extra), straight)
    shutil.copytree(straight, killed)
    shutil.rmtree(killed / "checkpoints" / "8")
    for name in ("metrics.jsonl", "eval.jsonl"):
        with open(killed / name, "a") as f:
            f.write('{"step": 9, "loss/mo')
    run(_config(8, *extra), killed)
    for name, steps in (("metrics.jsonl", list(range(1, 9))), ("eval.jsonl", [2, 4, 6, 8])):
        resumed, expected = _rows(killed / name), _rows(straight / name)
        assert [r["step"] for r in resumed] == [r["step"] for r in expected] == steps
        timing = ("steps_per_sec", "wall_time", "examples_per_sec", "data_wait_frac", "tflops_per_sec", "mfu")
        for r in resumed + expected:
            for key in timing:
                r.pop(key, None)
        assert resumed == expected


@pytest.mark.slow
def test_ctrl_c_saves_the_current_step_and_exits_130(tmp_path):
    workdir = tmp_path / "run"
    overrides = [*OVERRIDES, "--config.train.checkpoint_every=0"]
    cmd = [sys.executable, "-m", "genjax.cli", "train", "--config", "digits_vae:runlocal", "--workdir", str(workdir)]
    proc = subprocess.Popen(
        [*cmd, *overrides, "--config.train.steps=1000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    _wait_for_rows(proc, workdir / "metrics.jsonl", 3)
    t0 = time.time()
    with pytest.raises(WorkdirBusy, match=f"PID {proc.pid} on host"):  # a second trainer
        run(_config(5, "--config.train.checkpoint_every=0"), workdir)
    assert time.time() - t0 < 5
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    reached = _rows(workdir / "metrics.jsonl")[-1]["step"]
    assert _checkpoints(workdir) == [reached]
    assert err.strip().splitlines()[-1] == (
        f"genjax train: interrupted; saved a checkpoint at step {reached} in {workdir}; run the same command to resume"
    )
    state = run(_config(reached + 2, "--config.train.checkpoint_every=0"), workdir)
    assert int(state.step) == reached + 2
    assert [r["step"] for r in _rows(workdir / "metrics.jsonl")] == list(range(1, reached + 3))
