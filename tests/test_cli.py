"""The genjax command line on the tiny digits VAE."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genjax.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    assert (
        main(
            [
                "train",
                "--config",
                "digits_vae:runlocal",
                "--workdir",
                str(workdir),
                "--config.train.progress=false",
                "--config.train.eval_every=5",
                "--config.eval.metrics=('kid',)",
                "--config.eval.num=48",
                "--config.eval.kwargs.features=raw",
                "--config.eval.kwargs.kid_subset_size=16",
                "--config.train.best_metric=eval/kid",
            ]
        )
        == 0
    )
    return workdir


def test_train_writes_the_workdir_contract(workdir):
    for name in ("config.json", "metrics.jsonl", "samples/step_00000010.png", "checkpoints/10"):
        assert (workdir / name).exists(), name
    assert any((workdir / "tb").iterdir())
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 10 and "loss/model" in records[-1] and "steps_per_sec" in records[-1]
    assert [r["lr/model"] for r in records] == [1e-3] * len(records)  # runlocal: constant schedule
    times = [r["wall_time"] for r in records]
    assert times == sorted(times) and abs(times[-1] - time.time()) < 3600
    assert json.loads((workdir / "config.json").read_text())["train"]["steps"] == 10


def _tensorboard_tags(folder):
    """{tag: kinds} of the summaries in the TFRecord event files of `folder`."""
    import struct

    from tensorboardX.proto import event_pb2

    tags = {}
    for path in folder.iterdir():
        data, i = path.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
            for v in event.summary.value:
                tags.setdefault(v.tag, set()).add(v.WhichOneof("value") or v.metadata.plugin_data.plugin_name)
            i += 12 + n + 4
    return tags


def test_tensorboard_has_scalars_sample_grids_and_the_config(workdir):
    tags = _tensorboard_tags(workdir / "tb")
    assert tags["loss/model"] == {"simple_value"} and tags["samples"] == {"image"}
    assert "lr/model" in tags and "wall_time" not in tags
    assert any(t.startswith("config") for t in tags), sorted(tags)


def test_periodic_evaluation_and_best_checkpoint(workdir):
    records = [json.loads(line) for line in (workdir / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10] and all(np.isfinite(r["eval/kid"]) for r in records)
    best = min(records, key=lambda r: r["eval/kid"])["step"]
    assert [p.name for p in (workdir / "best_checkpoint").iterdir() if p.name.isdigit()] == [str(best)]


def test_eval_command(workdir, capsys):
    assert main(["eval", "--workdir", str(workdir), "--metrics", "kid,pr", "--num", "48"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["step"] == 10 and {"kid", "precision", "recall"} <= set(printed)
    last = json.loads((workdir / "eval.jsonl").read_text().splitlines()[-1])
    assert last["kid"] == printed["kid"]


def test_sample_png_and_npz(workdir, tmp_path):
    assert main(["sample", "--workdir", str(workdir), "--num", "9", "--out", str(tmp_path / "s.npz")]) == 0
    x = np.load(tmp_path / "s.npz")["x"]
    assert x.shape == (9, 16, 16, 1) and x.dtype == np.uint8
    assert main(["sample", "--workdir", str(workdir), "--num", "4", "--out", str(tmp_path / "s.png"), "--no-ema"]) == 0
    assert Image.open(tmp_path / "s.png").size == (35, 35)


def test_info(capsys):
    assert main(["info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["mesh"]["data"] >= 1 and info["versions"]["jax"] != "not installed"


def test_errors_are_reported(tmp_path, capsys):
    assert main(["train", "--config", "digits_vae", "--workdir", str(tmp_path), "--config.train.stepz=1"]) == 2
    assert "unknown config key 'train.stepz'" in capsys.readouterr().err
    assert main(["sample", "--workdir", str(tmp_path / "nothing"), "--out", "x.png"]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--config",
                "digits_vae:runlocal",
                "--workdir",
                str(tmp_path / "accum"),
                "--config.data.batch_size=6",
                "--config.train.grad_accum=4",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "config.data.batch_size=6: the global batch 6 is not divisible by the 4 micro-batches of "
        "config.train.grad_accum; use a multiple of 4"
    ) in err
    assert not (tmp_path / "accum" / "checkpoints").exists()
    with pytest.raises(SystemExit):
        main(["sample", "--workdir", str(tmp_path), "--out", "x.png", "--config.train.steps=3"])


def test_samples_are_drawn_in_chunks_of_the_sample_batch_size(workdir):
    import jax

    from genjax.train.loop import load_run

    r = load_run(workdir)
    params, model_state = r.state.sampling_params(0), r.state.model_state

    def direct(n, key):
        return np.asarray(jax.jit(lambda p, s, k: r.objective.sample(p, s, k, n))(params, model_state, key))

    key = jax.random.PRNGKey(3)
    np.testing.assert_allclose(r.sample(4, 3), direct(4, key), atol=1e-6)  # one chunk: the seed's key
    r.config.sample.batch_size = 4
    x = r.sample(9, 3)
    assert x.shape == (9, *direct(1, key).shape[1:])
    for i, start in enumerate(range(0, 9, 4)):
        want = direct(4, jax.random.fold_in(key, i))[: 9 - start]
        np.testing.assert_allclose(x[start : start + 4], want, atol=1e-6)


@pytest.mark.parametrize("command", ["sample", "eval"])
@pytest.mark.parametrize("num", ["0", "-1", "many"])
def test_sample_and_eval_counts_must_be_positive(workdir, tmp_path, capsys, command, num):
    out = ["--out", str(tmp_path / "s.png")] if command == "sample" else ["--metrics", "kid"]
    with pytest.raises(SystemExit) as exit:
        main([command, "--workdir", str(workdir), "--num", num, *out])
    assert exit.value.code == 2 and f"expected a whole number >= 1, got '{num}'" in capsys.readouterr().err
    assert not (tmp_path / "s.png").exists()


def test_start_banner_and_quiet(tmp_path, capsys):
    args = ["train", "--config", "digits_vae:runlocal", "--config.train.steps=2", "--config.train.sample_every=0"]
    assert main([*args, "--workdir", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "genjax: training vae on builtin:digits (1438 examples of shape (16, 16, 1), batch 16) | " in err
    assert f"| params model 18,272 | 2 steps, from step 0 | {tmp_path / 'a'}" in err
    assert "train: 100%" in err  # the progress bar
    assert main(["-q", *args, "--workdir", str(tmp_path / "a")]) == 0  # resumes at its end: no steps
    assert capsys.readouterr().err == ""


def test_sample_use_ema_false_in_the_config_samples_the_raw_params(workdir, tmp_path):
    import shutil

    copy = tmp_path / "raw"
    shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns(".lock"))
    config = json.loads((copy / "config.json").read_text())
    config["sample"]["use_ema"] = False
    (copy / "config.json").write_text(json.dumps(config))
    for w, extra, out in ((copy, [], "a"), (workdir, ["--no-ema"], "b"), (workdir, [], "c")):
        assert main(["sample", "--workdir", str(w), "--num", "4", "--out", str(tmp_path / f"{out}.npz"), *extra]) == 0
    a, b, c = (np.load(tmp_path / f"{n}.npz")["x"] for n in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sample_audio_writes_wavs_and_spectrograms(tmp_path, monkeypatch, capsys):
    """`genjax sample` of an audio run (the run stood in by its sampler and metadata): WAV files
    at the data's rate beside the spectrogram grid, float waveforms in .npz."""
    import types

    import genjax.train.loop
    from genjax.data.metadata import DatasetMetadata
    from genjax.data.wav import read_wav

    waves = np.sin(np.arange(3 * 1024).reshape(3, 1024, 1) * 0.3).astype(np.float32) * 0.5
    meta = DatasetMetadata("audio:x", "audio", (1024, 1), None, (-1.0, 1.0), 3, sample_rate=16000, num_samples=1024)
    run = types.SimpleNamespace(
        metadata=meta,
        config=types.SimpleNamespace(sample=types.SimpleNamespace(kwargs={}, use_ema=False)),
        sample=lambda num, seed, ema_index: waves[:num],
    )
    monkeypatch.setattr(genjax.train.loop, "load_run", lambda workdir: run)
    assert main(["sample", "--workdir", str(tmp_path), "--num", "2", "--out", str(tmp_path / "s.png")]) == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["sample_000.wav", "sample_001.wav"]
    x, rate = read_wav(tmp_path / "s" / "sample_001.wav")
    assert rate == 16000 and np.abs(x - waves[1, :, 0]).max() <= 1 / 32768
    assert Image.open(tmp_path / "s.png").size[1] > 100  # 129 frequency bins high
    assert main(["sample", "--workdir", str(tmp_path), "--num", "3", "--out", str(tmp_path / "s.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "s.npz")["x"], waves)
