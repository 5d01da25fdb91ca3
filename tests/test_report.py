"""`genjax report`: plots of every logged curve with the runs overlaid, the sample timeline, the
true modes of a 2-D run, one HTML page whose images all exist; and the page in a real headless
Chromium: no console errors, every image rendered."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genjax.cli import main

COMMON = ["--config.train.progress=false"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    extra = ["--config.train.eval_every=5", "--config.eval.metrics=('kid',)", "--config.eval.num=32",
             "--config.eval.kwargs.features=raw", "--config.eval.kwargs.kid_subset_size=16",
             "--config.train.sample_every=5"]  # fmt: skip
    for name, spec, more in (
        ("vae_a", "digits_vae:runlocal", extra),
        ("vae_b", "digits_vae:runlocal", [*extra, "--config.optim.lr=3e-3"]),
        ("ring", "ring8_gan:runlocal", []),
    ):
        assert main(["train", "--config", spec, "--workdir", str(root / name), *COMMON, *more]) == 0
    return root


@pytest.fixture(scope="module")
def page(runs):
    out = runs / "report"
    assert main(["report", str(runs / "vae_a"), str(runs / "vae_b"), str(runs / "ring"), "--out", str(out)]) == 0
    return out / "index.html"


def test_report_writes_plots_timeline_and_a_page_of_existing_images(page):
    text = page.read_text()
    sources = re.findall(r"<img src='([^']+)'", text)
    assert sources and all((page.parent / s).is_file() for s in sources)
    for s in sources:
        with Image.open(page.parent / s) as im:
            assert im.size[0] > 50 and im.size[1] > 50
    plots = {Path(s).name for s in sources if s.startswith("plots/")}
    for name in ("loss_loss_model.png", "lr_lr_model.png", "grad_norm_grad_norm_model.png",
                 "throughput_examples_per_sec.png", "eval_kid.png", "eval_kid_vs_time.png",
                 "modes_ring.png"):  # fmt: skip
        assert name in plots, (name, plots)
    assert any(n.startswith("loss_loss_generator") for n in plots)  # the GAN's players
    timeline = [s for s in sources if s.startswith("samples/vae_a/")]
    assert sorted(set(timeline)) == ["samples/vae_a/step_00000005.png", "samples/vae_a/step_00000010.png"]


def test_runs_are_overlaid_in_one_plot(runs, tmp_path):
    """The loss plot of two runs differs from the plot of either alone (two lines drawn)."""

    def loss_plot(*names):
        out = tmp_path / "_".join(names)
        assert main(["report", *[str(runs / n) for n in names], "--out", str(out)]) == 0
        return np.asarray(Image.open(out / "plots" / "loss_loss_model.png").convert("L"), np.float64)

    both, a, b = loss_plot("vae_a", "vae_b"), loss_plot("vae_a"), loss_plot("vae_b")
    assert np.abs(both - a).mean() > 0.1 and np.abs(both - b).mean() > 0.1


def test_report_of_a_folder_that_is_no_workdir_is_bad_input(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "has no config.json" in capsys.readouterr().err


def test_page_renders_in_headless_chromium(page):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            tab = browser.new_page()
            errors = []
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.goto(page.as_uri())
            tab.wait_for_load_state("load")
            widths = tab.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        finally:
            browser.close()
    assert errors == []
    assert len(widths) >= 8 and all(w > 0 for w in widths), widths


def test_audio_runs_get_players_and_spectrogram_grids(tmp_path):
    """The sample writer's audio branch (keyed on metadata.kind) writes 16-bit WAVs at the data's
    rate and a spectrogram grid; the report embeds an <audio controls> player per WAV."""
    import json
    import types

    from genjax.data.metadata import DatasetMetadata
    from genjax.data.wav import read_wav
    from genjax.train.actions import write_samples

    workdir = tmp_path / "wave_run"
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps({"data": {"source": "audio:digits"}}))
    t = np.arange(2048) / 8000
    waves = np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in (500, 1500, 2500)])[..., None].astype(np.float32)
    meta = DatasetMetadata("audio:digits", "audio", (2048, 1), 10, (-1.0, 1.0), 30, sample_rate=8000, num_samples=2048)
    pictures = []
    run = types.SimpleNamespace(
        config=types.SimpleNamespace(seed=0, sample=types.SimpleNamespace(num=3, use_ema=False, kwargs={})),
        sample=lambda num, seed, ema_index: waves[:num],
        state=types.SimpleNamespace(ema=None),
        is_chief=True,
        metadata=meta,
        workdir=workdir,
        objective=object(),
    )
    writer = types.SimpleNamespace(image=lambda step, tag, picture: pictures.append((tag, picture.shape)))
    for step in (5, 10):
        write_samples(run, writer, step)
    wavs = sorted((workdir / "samples" / "step_00000010").glob("*.wav"))
    assert [w.name for w in wavs] == ["sample_000.wav", "sample_001.wav", "sample_002.wav"]
    x, rate = read_wav(wavs[1])
    assert rate == 8000 and np.abs(x - waves[1, :, 0]).max() <= 1 / 32768
    assert pictures[0][0] == "spectrograms" and (workdir / "samples" / "step_00000010.png").is_file()
    assert main(["report", str(workdir), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "index.html").read_text()
    players = re.findall(r"<audio controls preload='none' src='([^']+)'>", text)
    assert players == [f"samples/wave_run/step_00000010/sample_00{i}.wav" for i in range(3)]
    assert all((tmp_path / "report" / p).read_bytes() == w.read_bytes() for p, w in zip(players, wavs))
    assert "step_00000005.png" in text and "Final samples (step 10): listen" in text


def test_wall_minutes_interpolate_the_logged_wall_times():
    from genjax.train.report import wall_minutes

    rows = [{"step": 10, "wall_time": 1000.0}, {"step": 20, "wall_time": 1060.0}, {"step": 40, "wall_time": 1300.0}]
    np.testing.assert_allclose(wall_minutes(rows, [10, 15, 20, 30, 40]), [0.0, 0.5, 1.0, 3.0, 5.0])
    assert wall_minutes([{"step": 1}], [1]) is None


def test_eval_rows_scored_with_other_likelihood_options_are_their_own_series(tmp_path):
    """Training's rows ("eval/nll") and `genjax eval`'s ("nll") are one metric; rows scored with
    other likelihood options are their own series of it."""
    from genjax.logging import append_row
    from genjax.train.report import eval_series

    for row in ({"step": 5, "eval/nll": 90.0}, {"step": 10, "eval/nll": 89.0},
                {"step": 10, "nll": 88.0, "likelihood_option/k": 5000, "likelihood_option/chunk": 250}):  # fmt: skip
        append_row(tmp_path / "eval.jsonl", row)
    evals, run_of = eval_series({"vae": tmp_path})
    assert {label: [r["nll"] for r in rows] for label, rows in evals.items()} == {
        "vae": [90.0, 89.0],
        "vae (chunk=250, k=5000)": [88.0],
    }
    assert run_of == {"vae": "vae", "vae (chunk=250, k=5000)": "vae"}
