"""`genjax.metrics.compute`: registry, validation, points and image paths, reference cache."""

import types

import numpy as np
import pytest

from genjax.metrics import METRICS, compute, prdc, stats, twosample
from genjax.metrics import reference
from genjax.metrics.api import resolve_features
from genjax.metrics.features import RAW


def points_meta(modes=None):
    return types.SimpleNamespace(
        name="ring8", kind="points", shape=(2,), value_range=(-3.0, 3.0), num_classes=None,
        num_examples=1000, modes=modes, mode_std=0.02,
    )  # fmt: skip


def image_meta(name="digits", shape=(8, 8, 1)):
    return types.SimpleNamespace(
        name=name, kind="image", shape=shape, value_range=(-1.0, 1.0), num_classes=10,
        num_examples=100, modes=None, mode_std=None,
    )  # fmt: skip


def test_unknown_metric_lists_the_available_ones():
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"unknown metric\(s\) \['fdi'\]; available: .*'fid'"):
        compute(["fdi"], x, x, metadata=points_meta())
    with pytest.raises(ValueError, match="unknown option"):
        compute(["fid"], x, x, metadata=points_meta(), kid_subset=3)
    with pytest.raises(ValueError, match="fake must be"):
        compute(["fid"], np.zeros((4, 3)), x, metadata=points_meta())


def test_points_metrics_equal_the_direct_functions():
    rng = np.random.default_rng(0)
    angles = np.arange(8) * np.pi / 4
    modes = 2 * np.stack([np.cos(angles), np.sin(angles)], 1)
    real = modes[rng.integers(0, 8, 400)] + 0.02 * rng.normal(size=(400, 2))
    fake = modes[rng.integers(0, 4, 300)] + 0.02 * rng.normal(size=(300, 2))  # half the modes
    out = compute(
        ["fid", "kid", "pr", "dc", "c2st", "mode_coverage", "memorization"], fake, real,
        metadata=points_meta(modes), kid_subsets=5, kid_subset_size=100, train=real[:200],
    )  # fmt: skip
    assert out["fid"] == pytest.approx(stats.fid_from_features(fake, real))
    assert (out["kid"], out["kid_std"]) == pytest.approx(stats.kernel_inception_distance(fake, real, 5, 100, 0))
    assert (out["precision"], out["recall"]) == pytest.approx(prdc.precision_recall(fake, real, 3))
    assert (out["density"], out["coverage"]) == pytest.approx(prdc.density_coverage(fake, real, 5))
    assert out["c2st"] == pytest.approx(twosample.c2st_knn(fake, real))
    # P(|noise| > 3 std) = exp(-4.5) ~ 1.1% in 2D
    assert (
        out["modes"] == 4.0 and out["high_quality"] > 0.97 and out["reverse_kl"] == pytest.approx(np.log(2), abs=0.05)
    )
    assert out["memorization_z_u"] == pytest.approx(twosample.memorization(fake, real[:200], real)["z_u"])
    assert set(compute(["fid"], real, real, metadata=points_meta())) == {"fid"}
    assert abs(compute(["fid"], real, real, metadata=points_meta())["fid"]) < 1e-8


def test_metric_preconditions_raise_clear_errors():
    x = np.random.default_rng(1).normal(size=(20, 2))
    with pytest.raises(ValueError, match="metadata.modes"):
        compute(["mode_coverage"], x, x, metadata=points_meta(modes=None))
    with pytest.raises(ValueError, match="needs train="):
        compute(["memorization"], x, x, metadata=points_meta())
    with pytest.raises(ValueError, match="needs class logits"):
        compute(["is"], x, x, metadata=points_meta())


def test_image_metrics_in_raw_feature_space():
    rng = np.random.default_rng(2)
    real = rng.uniform(-1, 1, (60, 8, 8, 1)).astype(np.float32)
    fake = np.clip(real[::-1] + 0.3, -1, 1)
    out = compute(["fid", "pr"], fake, real, metadata=image_meta(), features="raw")
    fr, rr = ((fake + 1) / 2).reshape(60, -1), ((real + 1) / 2).reshape(60, -1)
    assert out["fid"] == pytest.approx(stats.fid_from_features(fr, rr), rel=1e-5)
    assert (out["precision"], out["recall"]) == pytest.approx(prdc.precision_recall(fr, rr, 3))
    same = compute(["pr"], real, real, metadata=image_meta(), features="raw")
    assert (same["precision"], same["recall"]) == (1.0, 1.0)


def test_reference_features_are_cached_by_dataset_split_shape_and_content(tmp_path, monkeypatch):
    monkeypatch.setenv("GENJAX_CACHE", str(tmp_path))
    real = np.random.default_rng(3).uniform(-1, 1, (30, 8, 8, 1)).astype(np.float32)
    first = reference.reference_features(RAW, real, (-1, 1), dataset="digits", split="test")
    (path,) = (tmp_path / "reference" / "raw").glob("digits_test_8x8x1_n30_*.npz")
    monkeypatch.setattr(reference, "extract", lambda *a, **k: pytest.fail("cache missed"))
    again = reference.reference_features(RAW, real, (-1, 1), dataset="digits", split="test")
    for key in ("features", "mu", "sigma"):
        np.testing.assert_array_equal(first[key], again[key])
    np.testing.assert_allclose(first["mu"], ((real + 1) / 2).reshape(30, -1).mean(0), rtol=1e-5)
    changed = real.copy()
    changed[0, 0, 0, 0] = 0.5
    assert reference.reference_path("raw", "digits", "test", changed) != path


def test_auto_feature_space():
    assert resolve_features(image_meta("mnist", (28, 28, 1))) == "mnist"
    assert resolve_features(image_meta("tfds:fashion_mnist", (28, 28, 1))) == "fashion_mnist"
    assert resolve_features(image_meta("tfds:mnist", (32, 32, 1))) == "inception"  # resized: no domain net
    assert resolve_features(image_meta("cifar10", (32, 32, 3))) == "inception"
    assert resolve_features(points_meta()) == "points"
    assert resolve_features(image_meta("mnist"), "raw") == "raw"
    assert {"fid", "kid", "is", "pr", "dc", "c2st", "memorization", "mode_coverage"} <= set(METRICS)


def test_with_the_real_dataset_metadata():
    from genjax.data.metadata import DatasetMetadata

    modes = ((2.0, 0.0), (0.0, 2.0), (-2.0, 0.0), (0.0, -2.0))
    meta = DatasetMetadata(
        name="builtin:ring4",
        kind="points",
        shape=(2,),
        num_classes=None,
        value_range=(-2.1, 2.1),
        num_examples=400,
        modes=modes,
        mode_std=0.02,
    )
    x = np.repeat(np.asarray(modes), 25, axis=0)
    out = compute(["mode_coverage", "fid"], x, x, metadata=meta)
    assert out["modes"] == 4.0 and out["high_quality"] == 1.0 and out["reverse_kl"] == pytest.approx(0.0)
    assert abs(out["fid"]) < 1e-8
