"""`genjax data export`: a data source's examples as the .npz that `genjax fid` and `genjax detect` read."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from genjax.cli import main
from genjax.config import data_config
from genjax.data import load_metadata
from genjax.metrics.cli import load_images


def test_digits_test_split_is_the_held_out_part_of_sklearn_digits(tmp_path):
    out = tmp_path / "test.npz"
    assert main(["data", "export", "builtin:digits", "--split", "test", "--out", str(out)]) == 0
    with np.load(out) as f:
        x, y = f["x"], f["y"]
    assert x.dtype == np.uint8 and x.shape == (359, 8, 8, 1) and np.array_equal(load_images(str(out)), x)
    digits = load_digits()
    # sklearn's intensities 0..16 map to 0..255 (the pipeline's [-1, 1] range, rounded back)
    expected = {(d.astype(np.float64) / 16 * 255).round().astype(np.uint8).tobytes(): t
                for d, t in zip(digits.images, digits.target)}  # fmt: skip
    assert all(expected[img[..., 0].tobytes()] == label for img, label in zip(x, y))
    train = tmp_path / "train.npz"
    assert main(["data", "export", "builtin:digits", "--out", str(train)]) == 0
    x_train = np.load(train)["x"]
    both = {img.tobytes() for img in x_train} | {img.tobytes() for img in x}
    assert len(x_train) + len(x) == len(digits.images) and len(both) == len(set(expected))


def test_random_subset_is_seeded_and_resized(tmp_path):
    full, a, b, c = (tmp_path / f"{n}.npz" for n in "fabc")
    base = ["data", "export", "builtin:digits", "--split", "test", "--image-size", "16"]
    assert main([*base, "--out", str(full)]) == 0
    for path, seed in ((a, 1), (b, 1), (c, 2)):
        assert main([*base, "--num", "50", "--seed", str(seed), "--out", str(path)]) == 0
    x_full = np.load(full)["x"]
    x_a, x_b, x_c = (np.load(p)["x"] for p in (a, b, c))
    assert x_full.shape == (359, 16, 16, 1) and x_a.shape == (50, 16, 16, 1)
    assert np.array_equal(x_a, x_b) and not np.array_equal(x_a, x_c)
    rows = [next(i for i, img in enumerate(x_full) if np.array_equal(img, sub)) for sub in x_a]
    assert len(set(rows)) == 50 and rows != sorted(rows)  # distinct examples of the split, shuffled


def test_points_and_audio_keep_their_values(tmp_path):
    from genjax.testing import write_spoken_digits

    points = tmp_path / "p.npz"
    assert main(["data", "export", "builtin:ring8", "--num", "20", "--out", str(points)]) == 0
    x = np.load(points)["x"]
    assert x.dtype == np.float32 and x.shape == (20, 2)
    cfg = data_config()
    cfg.source = "builtin:ring8"
    radius = np.linalg.norm(load_metadata(cfg).modes, axis=1).mean()
    np.testing.assert_allclose(np.linalg.norm(x, axis=1).mean(), radius, rtol=0.1)  # points on the ring
    data_dir = write_spoken_digits(tmp_path / "audio")
    wav = tmp_path / "a.npz"
    args = ["data", "export", "audio:spoken_digit/recordings", "--data-dir", str(data_dir), "--split", "test"]
    assert main([*args, "--out", str(wav)]) == 0
    with np.load(wav) as f:
        assert f["x"].dtype == np.float32 and f["x"].ndim == 3 and f["x"].shape[2] == 1
        assert np.abs(f["x"]).max() <= 1.0 and f["y"].shape == (len(f["x"]),)


@pytest.mark.parametrize(
    "args,message",
    [
        (["builtin:digits", "--out", "x.png"], "must end in .npz"),
        (["builtin:digits", "--split", "test", "--num", "400", "--out", "x.npz"], "has 359 examples"),
        (["builtin:nope", "--out", "x.npz"], "nope"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["data", "export", *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
