"""Spoken-digit classifier: training on sine tones of different pitch, the cache and extractor,
`genjax weights fetch spoken_digit` and `genjax fid --features spoken_digit`, feature selection."""

import types

import numpy as np
import pytest

from genjax.data.wav import write_wav
from genjax.metrics import audio_domain, cli
from genjax.metrics.api import compute, resolve_features
from genjax.metrics.features import extract

PITCHES = (300.0, 900.0, 2000.0)


def tones(n, length, seed):
    """n tones [n, length, 1] of a random class (pitch), random phase, amplitude and onset."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(PITCHES), n)
    t = np.arange(length) / audio_domain.SAMPLE_RATE
    x = np.zeros((n, length), np.float32)
    for i, y in enumerate(labels):
        onset = rng.integers(0, length // 4)
        x[i, onset:] = rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * PITCHES[y] * t[onset:] + rng.uniform(0, 6.3))
    return x[..., None], labels.astype(np.int32)


def test_classifier_learns_tones_and_gives_128_features():
    x, y = tones(96, 1024, seed=0)
    params = audio_domain.train_classifier(x, y, num_classes=3, steps=40, batch_size=32)
    x_test, y_test = tones(48, 1024, seed=1)
    assert (audio_domain.predict(params, x_test) == y_test).mean() >= 0.95
    features, logits = audio_domain.SpokenDigitClassifier(3).apply({"params": params}, x_test[:5])
    assert features.shape == (5, 128) and logits.shape == (5, 3)


def test_build_fetch_and_fid_on_audio(tmp_path, monkeypatch):
    monkeypatch.setenv("GENJAX_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="weights fetch spoken_digit"):
        audio_domain.extractor()
    x, y = tones(60, 8000, seed=2)
    rec = tmp_path / "fsdd" / "recordings"
    for i, (w, label) in enumerate(zip(x, y)):  # takes 0-4 of each speaker are the test split
        write_wav(rec / f"{label}_s{i % 6}_{i // 6}.wav", w, audio_domain.SAMPLE_RATE)
    assert cli.main(["weights", "fetch", "spoken_digit", "--from", str(rec.parent), "--steps", "25"]) is None
    with np.load(audio_domain.classifier_path()) as data:
        assert 0.0 <= float(data["test_accuracy"]) <= 1.0
    ex = audio_domain.extractor()
    out = extract(ex, x, (-1.0, 1.0), batch_size=16)
    assert out["features"].shape == (60, 128) and out["logits"].shape == (60, 10)
    np.savez(tmp_path / "fake.npz", x=x[:30, :, 0])
    result = cli.main(
        ["fid", str(tmp_path / "fake.npz"), str(rec), "--features", "spoken_digit", "--metrics", "fid,kid,is"]
    )
    assert set(result) >= {"fid", "kid", "is"} and np.isfinite(result["fid"])
    meta = types.SimpleNamespace(
        name="audio:rec", kind="audio", shape=(8000, 1), sample_rate=8000, value_range=(-1.0, 1.0)
    )
    assert resolve_features(meta) == "spoken_digit"
    same = compute(["fid"], x[:30], x[:30], metadata=meta, real_split=None)
    assert abs(same["fid"]) < 1e-3  # identical sets: FID 0 up to the matrix square root
    with pytest.raises(ValueError, match="no audio feature extractor for 4000 samples at 16000 Hz"):
        resolve_features(types.SimpleNamespace(name="a", kind="audio", shape=(4000, 1), sample_rate=16000))


def test_load_waveforms_errors(tmp_path):
    np.savez(tmp_path / "int.npz", x=np.zeros((3, 100), np.int16))
    with pytest.raises(ValueError, match=r"float waveforms \[N, T, 1\] in \[-1, 1\]"):
        cli.load_waveforms(str(tmp_path / "int.npz"), 100, 8000)
    np.savez(tmp_path / "loud.npz", x=np.full((3, 100), 2.0, np.float32))
    with pytest.raises(ValueError, match="in \\[-1, 1\\]"):
        cli.load_waveforms(str(tmp_path / "loud.npz"), 100, 8000)
    write_wav(tmp_path / "wavs" / "a.wav", np.full(50, 0.5), 16000)
    with pytest.raises(ValueError, match="a.wav has sample rate 16000 Hz, not the 8000 Hz"):
        cli.load_waveforms(str(tmp_path / "wavs"), 100, 8000)
    np.testing.assert_array_equal(cli.load_waveforms(str(tmp_path / "wavs"), 64, 16000)[0, :, 0], [0.5] * 50 + [0] * 14)
