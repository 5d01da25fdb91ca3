"""Every source: shapes, labels, metadata and content against what it is built from."""

import numpy as np
import pytest
from PIL import Image

from genjax.data import load_examples, load_metadata
from genjax.data.builtin import grid_modes, ring_modes


def test_digits_match_sklearn(cfg):
    """train + test are scikit-learn's 1797 digits, each once, in scikit-learn's order within a
    split; test holds round(N_c / 5) of each class c; the split is the same on every call."""
    from sklearn.datasets import load_digits

    d = load_digits()
    cfg.value_range = (0.0, 1.0)
    meta = load_metadata(cfg)
    assert (meta.kind, meta.shape, meta.num_classes, meta.num_examples) == ("image", (8, 8, 1), 10, 1438)
    parts = {}
    for split, n in (("train", 1438), ("test", 359)):
        cfg.split = split
        parts[split] = ex = load_examples(cfg, n, split=split)
        assert len(ex["y"]) == n and load_metadata(cfg).num_examples == n
    # Find each example's row in scikit-learn's arrays (images + label; duplicates matched in order).
    pixels = np.round(d.images * 255 / 16).reshape(len(d.target), -1)
    key = {}
    for i, row in enumerate(np.concatenate([pixels, d.target[:, None]], axis=1)):
        key.setdefault(row.tobytes(), []).append(i)
    rows = {}
    for split, ex in parts.items():
        got = np.concatenate([np.round(ex["x"].reshape(len(ex["y"]), -1) * 255), ex["y"][:, None]], axis=1)
        rows[split] = [key[r.astype(pixels.dtype).tobytes()].pop(0) for r in got]
    assert sorted(rows["train"] + rows["test"]) == list(range(len(d.target)))
    assert rows["train"] == sorted(rows["train"]) and rows["test"] == sorted(rows["test"])
    counts = np.bincount(d.target)
    np.testing.assert_array_equal(np.bincount(parts["test"]["y"], minlength=10), np.round(counts / 5))
    cfg.split = "train"
    np.testing.assert_array_equal(load_examples(cfg, 359)["y"], parts["test"]["y"])  # eval_split: test


@pytest.mark.parametrize("size", [16, 32])
def test_digits_resized(cfg, size):
    cfg.image_size = size
    assert load_metadata(cfg).shape == (size, size, 1)
    x = load_examples(cfg, 5)["x"]
    assert x.shape == (5, size, size, 1) and x.min() >= -1 and x.max() <= 1
    # 8-bit data stays 8-bit after resizing: (x + 1) / 2 * 255 is an integer.
    u = (x + 1) / 2 * 255
    np.testing.assert_allclose(u, np.round(u), atol=1e-3)


@pytest.mark.parametrize(
    "source, centres, std",
    [
        ("builtin:ring8", [(np.cos(2 * np.pi * k / 8), np.sin(2 * np.pi * k / 8)) for k in range(8)], 0.01),
        ("builtin:grid25", [(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)], 0.05),
        ("builtin:ring?modes=12&std=0.02", ring_modes(12, 1.0), 0.02),
        ("builtin:grid?modes=9&std=0.1&spacing=1", grid_modes(9, 1.0), 0.1),
    ],
)
def test_gaussian_mixtures(cfg, source, centres, std):
    """PacGAN's protocol: components at the given centres, std per coordinate, labels = component."""
    cfg.source = source
    meta = load_metadata(cfg)
    centres = np.asarray(centres, np.float64)
    assert meta.kind == "points" and meta.shape == (2,) and meta.num_classes == len(centres)
    np.testing.assert_allclose(np.asarray(meta.modes), centres, atol=1e-12)
    assert meta.mode_std == std and meta.num_examples == 50_000
    ex = load_examples(cfg, 20_000, split="train")
    resid = ex["x"] - centres[ex["y"]]
    np.testing.assert_allclose(resid.std(axis=0), std, rtol=0.05)
    np.testing.assert_allclose(resid.mean(axis=0), 0, atol=5 * std / np.sqrt(20_000 / len(centres)))
    counts = np.bincount(ex["y"], minlength=len(centres))
    assert counts.min() > 0.8 * 20_000 / len(centres)  # components are equally likely


@pytest.mark.parametrize("source", ["builtin:grid?modes=9&std=0.1&spacing=1", "npz"])
def test_point_moments_and_range(cfg, source, tmp_path):
    """metadata.point_moments = (mean of all coordinates, sqrt of the mean per-axis variance) and
    value_range = the bounding box, against NumPy on the whole split."""
    if source == "npz":
        x = np.random.default_rng(0).normal([1.0, -3.0, 0.5], [0.5, 2.0, 1.0], (400, 3))
        np.savez(tmp_path / "pts.npz", x=x)
        source = f"npz:{tmp_path / 'pts.npz'}"
    cfg.source = source
    meta = load_metadata(cfg)
    x = np.asarray(load_examples(cfg, meta.num_examples, split=cfg.split)["x"], np.float64)
    mean, std = meta.point_moments
    np.testing.assert_allclose(mean, x.mean(), rtol=1e-6, atol=1e-7)
    per_axis_var = ((x - x.mean(axis=0)) ** 2).sum(axis=0) / len(x)
    np.testing.assert_allclose(std, np.sqrt(per_axis_var.mean()), rtol=1e-6)
    np.testing.assert_allclose(meta.value_range, (x.min(), x.max()), rtol=1e-6)


def test_synthetic_train_and_test_differ(cfg):
    cfg.source = "builtin:moons"
    train, test = load_examples(cfg, 100, split="train"), load_examples(cfg, 100, split="test")
    assert not np.allclose(train["x"], test["x"])
    np.testing.assert_array_equal(load_examples(cfg, 100, split="train")["x"], train["x"])  # fixed sample


def test_moons_and_swissroll(cfg):
    from sklearn.datasets import make_moons

    cfg.source = "builtin:moons?noise=0&n=200"
    ex = load_examples(cfg, 200, split="train")
    clean, _ = make_moons(1000, noise=0)
    dist = np.min(np.linalg.norm(ex["x"][:, None] - clean[None], axis=-1), axis=1)
    assert dist.max() < 0.01 and load_metadata(cfg).num_classes == 2
    cfg.source = "builtin:swissroll?noise=0"
    ex = load_examples(cfg, 500, split="train")
    assert "y" not in ex and load_metadata(cfg).num_classes is None
    # (x, z) of the noiseless roll, times 0.2: t cos t, t sin t with t in [1.5 pi, 4.5 pi].
    t = np.linalg.norm(ex["x"], axis=1) / 0.2
    assert t.min() >= 1.5 * np.pi - 1e-3 and t.max() <= 4.5 * np.pi + 1e-3


def test_npz_images_and_points(cfg, tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (12, 5, 6), dtype=np.uint8)
    np.savez(tmp_path / "im.npz", x=images, y=np.arange(12) % 3)
    cfg.source, cfg.value_range = f"npz:{tmp_path / 'im.npz'}", (0.0, 255.0)
    meta = load_metadata(cfg)
    assert (meta.kind, meta.shape, meta.num_classes, meta.num_examples) == ("image", (5, 6, 1), 3, 12)
    np.testing.assert_allclose(load_examples(cfg, 12)["x"][..., 0], images, atol=1e-4)
    np.savez(tmp_path / "pts.npz", x=np.ones((7, 3)))
    cfg.source = f"npz:{tmp_path / 'pts.npz'}"
    meta = load_metadata(cfg)
    assert (meta.kind, meta.shape, meta.num_classes) == ("points", (3,), None)
    assert "y" not in load_examples(cfg, 7)


def _write_folder(root, shapes):
    rng = np.random.default_rng(1)
    arrays = []
    for i, (cls, shape) in enumerate(shapes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(a).save(root / cls / f"{i:03d}.png")
        arrays.append(a)
    return arrays


def test_folder(cfg, tmp_path):
    arrays = _write_folder(tmp_path, [("cat", (6, 4, 3)), ("dog", (6, 4, 3)), ("cat", (6, 4, 3))])
    cfg.source, cfg.value_range = f"folder:{tmp_path}", (0.0, 255.0)
    meta = load_metadata(cfg)
    assert (meta.shape, meta.num_classes, meta.class_names, meta.num_examples) == ((6, 4, 3), 2, ("cat", "dog"), 3)
    ex = load_examples(cfg, 3)
    # Files sorted per class: cat/000, cat/002, dog/001.
    np.testing.assert_allclose(ex["x"], np.stack([arrays[0], arrays[2], arrays[1]]), atol=1e-4)
    np.testing.assert_array_equal(ex["y"], [0, 0, 1])


def test_folder_mixed_shapes(cfg, tmp_path):
    _write_folder(tmp_path, [("a", (6, 4)), ("b", (5, 5))])
    cfg.source = f"folder:{tmp_path}"
    with pytest.raises(ValueError, match="mixed shapes.*data.image_size"):
        load_metadata(cfg)
    cfg.image_size = 8
    assert load_metadata(cfg).shape == (8, 8, 1)


def test_tfds_source(cfg, tiny_mnist):
    """A prepared array_record dataset reads back through tfds.data_source, record order included."""
    import tensorflow_datasets as tfds

    data_dir, arrays = tiny_mnist
    cfg.source, cfg.data_dir, cfg.value_range = "tfds:mnist", data_dir, (0.0, 255.0)
    meta = load_metadata(cfg)
    assert (meta.shape, meta.num_classes, meta.num_examples, meta.bits) == ((28, 28, 1), 10, 30, 8)
    ds = tfds.data_source("mnist", split="test", data_dir=data_dir)
    ex = load_examples(cfg, 10)  # eval split defaults to "test"
    np.testing.assert_allclose(ex["x"], np.stack([r["image"] for r in ds]), atol=1e-4)
    np.testing.assert_array_equal(ex["y"], [r["label"] for r in ds])
    # Same examples as written (TFDS stores them in hashed order).
    key = lambda x, y: sorted(zip(y.tolist(), [a.tobytes() for a in x.astype(np.uint8)]))
    assert key(np.round(ex["x"][..., 0]), ex["y"]) == key(*arrays["test"])
    assert load_metadata(cfg, split="train[:50%]").num_examples == 15


@pytest.mark.parametrize(
    "source, match",
    [
        ("mnist", "not a known source"),
        ("bogus:x", "not a known source"),
        ("builtin:cifar", "unknown builtin dataset"),
        ("builtin:ring8?sdt=0.1", "unknown parameter 'sdt'"),
        ("builtin:grid?modes=10", "perfect square"),
        ("npz:/nonexistent/file.npz", "no such file"),
        ("folder:/nonexistent/dir", "no such directory"),
        ("tfds:no_such_dataset_xyz", "TFDS knows no dataset"),
    ],
)
def test_bad_sources(cfg, source, match):
    cfg.source = source
    with pytest.raises(ValueError, match=match):
        load_metadata(cfg)


def test_tfds_not_prepared(cfg, tmp_path):
    cfg.source, cfg.data_dir = "tfds:fashion_mnist", str(tmp_path)
    with pytest.raises(ValueError, match="not prepared.*genjax data prepare fashion_mnist --from DIR"):
        load_metadata(cfg)
    cfg.source = "tfds:cifar10"
    with pytest.raises(ValueError, match="not prepared.*tfds build cifar10"):
        load_metadata(cfg)


@pytest.mark.parametrize(
    "split, match", [("validation", "no split"), ("train[5:2]", "selects no"), ("train[:x]", "not a split string")]
)
def test_bad_splits(cfg, split, match):
    cfg.split = split
    with pytest.raises(ValueError, match=match):
        load_metadata(cfg)


def test_split_slices_match_tfds_rounding(cfg):
    """'train[:90%]' of the 1438 training digits: TFDS rounds 1294.2 to 1294."""
    cfg.split = "train[:90%]"
    assert load_metadata(cfg).num_examples == 1294
    cfg.split = "train[90%:]"
    assert load_metadata(cfg).num_examples == 144
    cfg.split = "train[-10:]"
    assert load_metadata(cfg).num_examples == 10
