"""Audio data: WAV reading and writing, `audio:PATH` (errors, split rule, length), the stream's
resumption, `genjax data prepare spoken_digit` and the STFT against scipy and a brute-force DFT."""

import hashlib
import wave
from pathlib import Path

import numpy as np
import pytest

from genjax.config import data_config
from genjax.data import load_metadata, make_iterator
from genjax.data.audio import open_audio, split_of
from genjax.data.checks import DataError
from genjax.data.pipeline import load_examples
from genjax.data.spectrogram import hann, magnitude_db, spectrogram_images, stft
from genjax.data.wav import conform, fit_length, pcm_to_float, read_wav, resample, wav_bytes, write_wav

SPOKEN = Path(__file__).resolve().parents[3] / "shared" / "data" / "spoken_digit"
needs_spoken = pytest.mark.skipif(
    not (SPOKEN / "SHA256SUMS").is_file(), reason=f"the Free Spoken Digit Dataset is not at {SPOKEN}"
)


def _wav(path: Path, frames: bytes, *, rate=8000, channels=1, width=2) -> Path:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(frames)
    return path


def _tone(n: int, freq: float, rate: int = 8000) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


def _fsdd(root: Path, speakers=("ann", "bob"), takes=7, digits=3, n=300) -> Path:
    """A spoken-digit-style folder: {digit}_{speaker}_{take}.wav, a tone whose pitch is the digit."""
    root.mkdir(parents=True, exist_ok=True)
    for d in range(digits):
        for s, speaker in enumerate(speakers):
            for t in range(takes):
                write_wav(root / f"{d}_{speaker}_{t}.wav", _tone(n + 37 * t, 300 + 200 * d + 10 * s), 8000)
    return root


def test_wav_round_trip_is_exact_for_16_bit(tmp_path):
    s = np.random.default_rng(0).integers(-32768, 32768, 500).astype("<i2")
    s[:2] = (-32768, 32767)
    path = _wav(tmp_path / "a.wav", s.tobytes())
    x, rate = read_wav(path)
    assert rate == 8000 and x.dtype == np.float32
    np.testing.assert_array_equal(x, s / 32768.0)
    assert write_wav(tmp_path / "b.wav", x[:, None], rate).read_bytes() == path.read_bytes()
    clipped, _ = read_wav(write_wav(tmp_path / "c.wav", np.array([2.0, -2.0, 0.25]), 16000))
    np.testing.assert_array_equal(clipped, [32767 / 32768, -1.0, 0.25])


@pytest.mark.parametrize("width", [1, 3, 4])
def test_pcm_widths_against_python_integers(width):
    data = np.random.default_rng(width).integers(0, 256, 60 * width, dtype=np.uint8).tobytes()
    chunks = [data[i : i + width] for i in range(0, len(data), width)]
    if width == 1:
        expected = [(c[0] - 128) / 128 for c in chunks]
    else:
        expected = [int.from_bytes(c, "little", signed=True) / 2 ** (8 * width - 1) for c in chunks]
    np.testing.assert_allclose(pcm_to_float(data, width), expected, rtol=1e-7, atol=0)


def test_read_errors_name_the_file_and_the_fix(tmp_path):
    ok = _tone(100, 440)
    cases = {
        "text.wav": lambda p: p.write_text("not audio"),
        "rate.wav": lambda p: _wav(p, wav_bytes(ok, 8000)[44:], rate=16000),
        "stereo.wav": lambda p: _wav(p, np.r_[np.zeros(199), 1].astype("<i2").tobytes(), channels=2),
        "empty.wav": lambda p: _wav(p, b""),
        "silent.wav": lambda p: _wav(p, np.zeros(100, "<i2").tobytes()),
        "cut.wav": lambda p: p.write_bytes(wav_bytes(ok, 8000)[:-50]),
    }
    messages = {
        "text.wav": "not a readable PCM WAV file",
        "rate.wav": "has sample rate 16000 Hz, not the 8000 Hz.*data.resample=True",
        "stereo.wav": "has 2 channels; audio sources are mono.*data.resample=True",
        "empty.wav": "holds no samples",
        "silent.wav": "is silent",
        "cut.wav": "is truncated: its header declares 100 samples, the file holds 75",
    }
    for name, make in cases.items():
        make(tmp_path / name)
        with pytest.raises(DataError, match=messages[name]) as e:
            read_wav(tmp_path / name, 8000)
        assert str(tmp_path / name) in str(e.value)
        assert "sox" in str(e.value) or "remove it" in str(e.value)


@pytest.mark.parametrize("rate, target, freq", [(16000, 8000, 440.0), (8000, 22050, 300.0), (44100, 8000, 1000.0)])
def test_resample_gives_the_band_limited_tone_at_the_new_rate(rate, target, freq):
    t_in = np.arange(2 * rate) / rate
    y = resample(np.sin(2 * np.pi * freq * t_in).astype(np.float32), rate, target)
    assert y.dtype == np.float32 and len(y) == -(-2 * rate * target // rate)
    t_out = np.arange(len(y)) / target
    inner = slice(len(y) // 10, -len(y) // 10)  # away from the filter's edge transients
    np.testing.assert_allclose(y[inner], np.sin(2 * np.pi * freq * t_out[inner]), atol=2e-3)


def test_resample_removes_what_the_new_rate_cannot_hold():
    """A 6 kHz tone at 16 kHz has no place at 8 kHz (Nyquist 4 kHz): it is filtered out, not
    folded to 2 kHz as taking every other sample would."""
    t = np.arange(16000) / 16000
    x = np.sin(2 * np.pi * 6000 * t)
    assert np.sqrt(np.mean(x[::2] ** 2)) > 0.7  # naive decimation aliases it at full power
    y = resample(x, 16000, 8000)[800:-800]
    assert np.sqrt(np.mean(y**2)) < 0.01


def test_conform_averages_channels_then_resamples():
    x = np.stack([_tone(800, 300), -0.5 * _tone(800, 300)], axis=1)
    np.testing.assert_allclose(conform(x, 8000, 8000), 0.25 * _tone(800, 300), atol=1e-7)
    np.testing.assert_allclose(conform(x, 8000, 16000), resample(0.25 * _tone(800, 300), 8000, 16000), atol=1e-7)


def test_audio_folders_convert_rates_and_channels_when_asked(tmp_path, caplog):
    root = _fsdd(tmp_path / "r", speakers=("ann",), takes=6, digits=1, n=400)
    write_wav(root / "0_ann_1.wav", _tone(800, 300, 16000), 16000)  # replaces a take, at twice the rate
    stereo = np.stack([_tone(400, 500), _tone(400, 700)], axis=1)
    _wav(root / "0_ann_2.wav", (stereo * 32768).astype("<i2").tobytes(), channels=2)
    with pytest.raises(DataError, match="0_ann_1.wav has sample rate 16000 Hz.*data.resample=True"):
        open_audio(str(root), "test", 400, None, None)
    with caplog.at_level("INFO", logger="genjax"):
        src = open_audio(str(root), "test", 400, None, None, resample=True)
    assert "resampled 1 of 5 files from 16000 Hz to 8000 Hz" in caplog.text
    assert "averaged 1 of 5 multi-channel files to mono" in caplog.text
    assert src.info.sample_rate == 8000 and src.x.shape == (5, 400, 1)
    np.testing.assert_allclose(src.x[1, 40:-40, 0], _tone(400, 300)[40:-40], atol=2e-3)
    np.testing.assert_allclose(src.x[2, :, 0], stereo.mean(1), atol=1e-4)
    np.testing.assert_array_equal(src.x[0, :, 0], read_wav(root / "0_ann_0.wav")[0])
    cfg = data_config()
    cfg.update(source=f"audio:{root}", split="test", num_samples=400, batch_size=5, resample=True)
    np.testing.assert_array_equal(np.sort(load_examples(cfg, 5, split="test")["x"], axis=0), np.sort(src.x, axis=0))


def test_fit_length_pads_with_silence_and_crops_the_tail():
    x = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(x, 8), [1, 2, 3, 4, 5, 0, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 3), [1, 2, 3])


def test_spoken_digit_split_rule_labels_and_speakers(tmp_path):
    assert [split_of(f"3_theo_{i}.wav") for i in (0, 4, 5, 49)] == ["test", "test", "train", "train"]
    root = _fsdd(tmp_path / "rec")
    test = open_audio(str(root), "test", 400, None, None)
    train = open_audio(str(root), "train", 400, None, None)
    assert (len(test), len(train)) == (3 * 2 * 5, 3 * 2 * 2)
    assert test.info.kind == "audio" and test.info.shape == (400, 1) and test.info.sample_rate == 8000
    assert test.info.num_classes == 3 and test.speaker_names == ("ann", "bob")
    batch = test.read(np.arange(len(test)))
    assert batch["x"].shape == (30, 400, 1) and batch["x"].dtype == np.float32
    # sorted paths: 0_ann_0..4, 0_bob_0..4, 1_ann_0.. ; example 6 is 0_bob_1
    np.testing.assert_array_equal(batch["y"], np.repeat(np.arange(3), 10))
    np.testing.assert_array_equal(test.speakers, np.tile(np.repeat([0, 1], 5), 3))
    x6, _ = read_wav(root / "0_bob_1.wav")
    np.testing.assert_array_equal(batch["x"][6, :, 0], fit_length(x6, 400))
    # a relative PATH under data.data_dir, and a split slice
    cfg = data_config()
    cfg.source, cfg.data_dir, cfg.split = "audio:rec", str(tmp_path), "train[:4]"
    cfg.num_samples = 256
    meta = load_metadata(cfg)
    assert (meta.kind, meta.shape, meta.sample_rate, meta.num_samples, meta.num_examples) == (
        "audio",
        (256, 1),
        8000,
        256,
        4,
    )
    assert meta.value_range == (-1.0, 1.0)


def test_other_folders_are_one_unlabelled_train_split(tmp_path):
    for i in range(3):
        write_wav(tmp_path / "a" / f"clip{i}.wav", _tone(120, 200 + i), 16000)
    src = open_audio(str(tmp_path / "a"), "train", 100, None, None)
    assert len(src) == 3 and src.y is None and src.info.num_classes is None and src.info.sample_rate == 16000
    with pytest.raises(ValueError, match="has no split 'test'"):
        open_audio(str(tmp_path / "a"), "test", 100, None, None)


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no .wav files"):
        open_audio(str(tmp_path / "empty"), "train", 100, None, None)
    with pytest.raises(FileNotFoundError, match="no folder at"):
        open_audio(str(tmp_path / "absent"), "train", 100, None, None)
    root = _fsdd(tmp_path / "r", speakers=("ann",), takes=6, digits=1)
    (root / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="notes.txt is not a .wav file"):
        open_audio(str(root), "train", 100, None, None)
    (root / "notes.txt").unlink()
    write_wav(root / "clip.wav", _tone(100, 300), 8000)
    with pytest.raises(DataError, match="clip.wav does not follow the folder's file names"):
        open_audio(str(root), "train", 100, None, None)
    (root / "clip.wav").unlink()
    write_wav(root / "0_ann_9.wav", _tone(100, 300), 16000)
    with pytest.raises(DataError, match="0_ann_9.wav has sample rate 16000 Hz"):
        open_audio(str(root), "train", 100, None, None)
    with pytest.raises(DataError, match="0_ann_0.wav has sample rate 8000 Hz, not the 22050"):
        open_audio(str(root), "test", 100, 22050, None)


def test_stream_resumes_exactly(tmp_path):
    cfg = data_config()
    cfg.source, cfg.num_samples, cfg.batch_size = f"audio:{_fsdd(tmp_path / 'rec')}", 128, 4
    it = make_iterator(cfg, seed=3)
    first = [next(it) for _ in range(2)]
    state = it.get_state()
    rest = [next(it) for _ in range(5)]  # crosses the epoch boundary (12 train examples)
    resumed = make_iterator(cfg, seed=3)
    resumed.set_state(state)
    for a, b in zip(rest, [next(resumed) for _ in range(5)]):
        assert a.keys() == b.keys() == {"x", "y"}
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["y"], b["y"])
    assert first[0]["x"].shape == (4, 128, 1) and first[0]["y"].dtype == np.int32
    cfg.random_flip = True
    with pytest.raises(ValueError, match="data.random_flip applies to images; .* holds audio"):
        make_iterator(cfg, seed=3)


def test_stft_matches_scipy_and_a_brute_force_dft():
    from scipy.signal import stft as scipy_stft

    x = np.random.default_rng(0).normal(size=(2, 1000))
    n_fft, hop = 64, 24
    X = stft(x, n_fft, hop)
    _, _, Z = scipy_stft(x, window="hann", nperseg=n_fft, noverlap=n_fft - hop, boundary=None, padded=False)
    np.testing.assert_allclose(X, np.swapaxes(Z, -1, -2) * hann(n_fft).sum(), rtol=1e-9, atol=1e-9)
    t, k = 5, 7  # one coefficient by the definition
    n = np.arange(n_fft)
    direct = np.sum(hann(n_fft) * x[1, t * hop + n] * np.exp(-2j * np.pi * k * n / n_fft))
    np.testing.assert_allclose(X[1, t, k], direct, rtol=1e-10)
    np.testing.assert_allclose(magnitude_db(x, n_fft, hop), 20 * np.log10(np.abs(X)), rtol=1e-10)


def test_spectrogram_image_puts_a_tone_at_its_frequency():
    rate, n_fft = 8000, 256
    images = spectrogram_images(np.stack([_tone(4000, 1000), _tone(4000, 3000)])[..., None], n_fft=n_fft)
    assert images.shape == (2, n_fft // 2 + 1, (4000 - n_fft) // 64 + 1, 1) and images.dtype == np.uint8
    for image, freq in zip(images, (1000, 3000)):
        row = int(np.argmax(image[:, :, 0].mean(axis=1)))  # top row is the highest bin
        assert n_fft // 2 - row == round(freq * n_fft / rate)


def _sums(root: Path) -> str:
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  recordings/{p.name}"
        for p in sorted((root / "recordings").iterdir())
    ]
    (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return hashlib.sha256((root / "SHA256SUMS").read_bytes()).hexdigest()


def test_prepare_spoken_digit_writes_what_the_folder_holds(tmp_path):
    from genjax.data.prepare_audio import check_recordings, prepare_spoken_digit

    root = tmp_path / "fsdd"
    _fsdd(root / "recordings", takes=6)
    with pytest.raises(ValueError, match="SHA256SUMS is missing"):
        check_recordings(root)
    digest = _sums(root)
    with pytest.raises(ValueError, match="is not the published list"):
        check_recordings(root)
    prepare_spoken_digit(root, str(tmp_path / "tfds"), sums_sha256=digest)
    for split in ("train", "test"):
        tfds_cfg, folder_cfg = data_config(), data_config()
        tfds_cfg.source, tfds_cfg.data_dir, tfds_cfg.num_samples = "tfds:spoken_digit", str(tmp_path / "tfds"), 512
        folder_cfg.source, folder_cfg.num_samples = f"audio:{root / 'recordings'}", 512
        meta = load_metadata(tfds_cfg, split)
        assert (meta.kind, meta.sample_rate, meta.num_classes) == ("audio", 8000, 10)
        n = meta.num_examples
        a, b = load_examples(tfds_cfg, n, split=split), load_examples(folder_cfg, n, split=split)
        assert sorted(r.tobytes() + bytes([y]) for r, y in zip(a["x"], a["y"])) == sorted(
            r.tobytes() + bytes([y]) for r, y in zip(b["x"], b["y"])
        )
    tfds_cfg.sample_rate = 16000
    with pytest.raises(ValueError, match="holds audio at 8000 Hz, not data.sample_rate=16000"):
        load_metadata(tfds_cfg)
    (root / "recordings" / "0_ann_3.wav").write_bytes(b"RIFF")
    with pytest.raises(ValueError, match="0_ann_3.wav fails the checksum"):
        check_recordings(root, digest)


@needs_spoken
def test_real_spoken_digit_folder_and_checksums():
    from genjax.data.prepare_audio import check_recordings

    assert len(check_recordings(SPOKEN)) == 3000
    cfg = data_config()
    cfg.source = f"audio:{SPOKEN / 'recordings'}"
    train, test = load_metadata(cfg, "train"), load_metadata(cfg, "test")
    assert (train.num_examples, test.num_examples, test.sample_rate, test.shape) == (2700, 300, 8000, (8000, 1))


def test_audio_metadata_is_checked():
    from genjax.data.metadata import DatasetMetadata

    ok = DatasetMetadata("a", "audio", (800, 1), 10, (-1.0, 1.0), 5, sample_rate=8000, num_samples=800)
    assert ok.kind == "audio" and ok.sample_rate == 8000
    with pytest.raises(ValueError, match="sample_rate is set exactly for audio data"):
        DatasetMetadata("a", "audio", (800, 1), 10, (-1.0, 1.0), 5, num_samples=800)
    with pytest.raises(ValueError, match="sample_rate is set exactly for audio data"):
        DatasetMetadata("a", "image", (8, 8, 1), 10, (-1.0, 1.0), 5, sample_rate=8000)
    with pytest.raises(ValueError, match=r"audio shape must be \(num_samples, 1\)"):
        DatasetMetadata("a", "audio", (800,), 10, (-1.0, 1.0), 5, sample_rate=8000, num_samples=800)


@needs_spoken
def test_real_spoken_digit_prepares_without_tensorflow(tmp_path):
    from genjax.cli import main

    data_dir = str(tmp_path / "tfds")
    assert main(["data", "prepare", "spoken_digit", "--from", str(SPOKEN), "--data-dir", data_dir]) == 0
    cfg, folder = data_config(), data_config()
    cfg.source, cfg.data_dir = "tfds:spoken_digit", data_dir
    folder.source = f"audio:{SPOKEN / 'recordings'}"
    assert (load_metadata(cfg, "train").num_examples, load_metadata(cfg, "test").num_examples) == (2700, 300)
    a, b = load_examples(cfg, 300, split="test"), load_examples(folder, 300, split="test")
    key = lambda batch: sorted(r.tobytes() + bytes([y]) for r, y in zip(batch["x"], batch["y"]))  # noqa: E731
    assert key(a) == key(b)
