"""Synthetic-image detection: the AUC against scikit-learn, the ECE against a loop over bins,
temperature scaling on an overconfident model, the detector on a known artifact and on one
distribution, and the `genjax detect` commands with their errors."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from genjax.cli import main
from genjax.metrics.detect import (
    expected_calibration_error,
    fit_temperature,
    roc_auc,
    sigmoid,
    train_detector,
)
from genjax.metrics.detect_cli import cross_family_table


def _smooth_images(rng: np.random.Generator, n: int, size: int = 12) -> np.ndarray:
    """uint8 [n, size, size, 1]: low-frequency random images (noise averaged over 3x3)."""
    z = rng.normal(size=(n, size + 2, size + 2))
    x = sum(z[:, i : i + size, j : j + size] for i in range(3) for j in range(3)) / 3.0
    return np.clip(128 + 40 * x, 0, 255).astype(np.uint8)[..., None]


def _checkerboard(x: np.ndarray, amplitude: int = 24) -> np.ndarray:
    h, w = x.shape[1:3]
    board = np.where((np.arange(h)[:, None] + np.arange(w)[None, :]) % 2 == 0, amplitude, -amplitude)
    return np.clip(x.astype(np.int32) + board[None, :, :, None], 0, 255).astype(np.uint8)


@pytest.mark.parametrize("ties", [False, True])
def test_auc_matches_scikit_learn(ties):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = rng.normal(size=200) + labels
    if ties:
        scores = np.round(scores)
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auc_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        roc_auc(np.ones(4), np.arange(4.0))


def _ece_brute_force(probs, labels, num_bins):
    total = 0.0
    for m in range(num_bins):
        lo, hi = m / num_bins, (m + 1) / num_bins
        members = [
            (max(p, 1 - p), float((p >= 0.5) == y))
            for p, y in zip(probs, labels)
            if (lo < max(p, 1 - p) <= hi) or (m == 0 and max(p, 1 - p) <= lo)
        ]
        if members:
            conf, acc = np.mean(members, axis=0)
            total += len(members) / len(probs) * abs(acc - conf)
    return total


@pytest.mark.parametrize("num_bins", [1, 5, 15])
def test_ece_matches_a_loop_over_bins(num_bins):
    rng = np.random.default_rng(1)
    probs = rng.uniform(size=300)
    labels = rng.uniform(size=300) < probs**2
    assert expected_calibration_error(probs, labels, num_bins) == pytest.approx(
        _ece_brute_force(probs, labels, num_bins), abs=1e-12
    )


def test_temperature_scaling_undoes_overconfidence():
    """Labels drawn from sigmoid(z); the model reports 4 z: T comes out near 4 and the ECE drops."""
    rng = np.random.default_rng(2)
    z = rng.normal(scale=1.5, size=20000)
    labels = rng.uniform(size=z.size) < sigmoid(z)
    t = fit_temperature(4.0 * z, labels)
    assert t == pytest.approx(4.0, rel=0.1)
    before = expected_calibration_error(sigmoid(4.0 * z), labels)
    after = expected_calibration_error(sigmoid(4.0 * z / t), labels)
    assert after < 0.3 * before and after < 0.02


def test_detector_finds_a_checkerboard_and_not_a_copy():
    rng = np.random.default_rng(3)
    real = _smooth_images(rng, 160)
    fake = _checkerboard(_smooth_images(rng, 160))
    _, found = train_detector(real, fake, steps=60, batch_size=32, seed=0)
    assert found["auc"] > 0.95 and found["accuracy"] > 0.85
    _, same = train_detector(real, _smooth_images(rng, 160), steps=60, batch_size=32, seed=0)
    assert abs(same["auc"] - 0.5) < 0.15


def test_cross_family_table_transfers_only_to_the_same_artifact():
    rng = np.random.default_rng(4)
    real = _smooth_images(rng, 120)
    fakes = {"board": _checkerboard(_smooth_images(rng, 120)), "copy": _smooth_images(rng, 120)}
    table = cross_family_table(real, fakes, steps=60, batch_size=32, seed=0)
    assert table["board"]["board"] > 0.95
    assert abs(table["board"]["copy"] - 0.5) < 0.2


def test_detect_commands(tmp_path, capsys):
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "real.npz", x=_smooth_images(rng, 96))
    np.savez(tmp_path / "fake.npz", x=_checkerboard(_smooth_images(rng, 96)))
    test = np.concatenate([_smooth_images(rng, 20), _checkerboard(_smooth_images(rng, 20))])
    np.savez(tmp_path / "test.npz", x=test)
    np.savetxt(tmp_path / "labels.txt", np.repeat([0, 1], 20), fmt="%d")
    common = ["--steps", "60", "--batch-size", "32"]
    real, fake = str(tmp_path / "real.npz"), str(tmp_path / "fake.npz")
    assert main(["detect", "train", "--real", real, "--fake", fake, "--out", str(tmp_path / "det"), *common]) == 0
    assert json.loads((tmp_path / "det" / "metrics.json").read_text())["auc"] > 0.9
    out = tmp_path / "scores.csv"
    args = ["--model", str(tmp_path / "det"), "--images", str(tmp_path / "test.npz")]
    assert main(["detect", "score", *args, "--labels", str(tmp_path / "labels.txt"), "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "index,p_fake,label" and len(rows) == 41
    assert float(capsys.readouterr().out.rsplit("auc: ", 1)[1]) > 0.9
    table = tmp_path / "table.json"
    assert main(["detect", "table", "--real", real, "--fake", f"a={fake}", "--fake", f"b={real}", "--out", str(table), *common]) == 0  # fmt: skip
    assert set(json.loads(table.read_text())) == {"a", "b"}


def test_detect_bad_input_exits_2(tmp_path, capsys):
    rng = np.random.default_rng(6)
    np.savez(tmp_path / "a.npz", x=_smooth_images(rng, 8, size=12))
    np.savez(tmp_path / "b.npz", x=_smooth_images(rng, 8, size=10))
    a, b = str(tmp_path / "a.npz"), str(tmp_path / "b.npz")
    cases = [
        (["train", "--real", str(tmp_path / "missing.npz"), "--fake", a], "missing.npz: no such file"),
        (["train", "--real", a, "--fake", b], "image shapes differ"),
        (["score", "--model", str(tmp_path / "none"), "--images", a], "no trained detector"),
        (["train", "--real", a, "--fake", a, "--val-fraction", "1.5"], "val_fraction=1.5"),
    ]
    for args, message in cases:
        assert main(["detect", *args, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("genjax detect ") and message in err
    assert main(["detect", "train", "--real", a, "--fake", a, "--out", str(tmp_path / "d"), "--steps", "2"]) == 0
    np.savetxt(tmp_path / "labels.txt", [0, 1, 2], fmt="%d")
    assert main(["detect", "score", "--model", str(tmp_path / "d"), "--images", a, "--labels", str(tmp_path / "labels.txt")]) == 2  # fmt: skip
    assert "expected 8 labels" in capsys.readouterr().err


def test_a_workdir_gives_its_samples(tmp_path):
    """A trained workdir as an image set: `--num` samples drawn from it (digits_vae, 16x16x1)."""
    w = tmp_path / "vae"
    train = ["train", "--config", "digits_vae:runlocal", "--workdir", str(w), "--config.train.progress=false"]
    assert main(train) == 0
    np.savez(tmp_path / "real.npz", x=_smooth_images(np.random.default_rng(7), 32, size=16))
    args = ["detect", "train", "--real", str(tmp_path / "real.npz"), "--fake", str(w), "--num", "32"]
    assert main([*args, "--steps", "5", "--out", str(tmp_path / "det")]) == 0
    assert (tmp_path / "det" / "detector.npz").is_file()
