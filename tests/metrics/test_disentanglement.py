"""MIG and DCI against scikit-learn / scipy references and encoders whose scores are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import mutual_info_score

from genjax.data import shapes
from genjax.metrics import disentanglement as dis

RNG = np.random.default_rng(0)


def full_grid(sizes=(3, 4, 5)) -> np.ndarray:
    """Every combination of factor values: the factors are exactly independent."""
    return np.stack(np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij"), -1).reshape(-1, len(sizes))


def test_mutual_information_matches_scikit_learn():
    a, b = RNG.integers(0, 5, 500), RNG.integers(0, 3, 500)
    b = np.where(RNG.random(500) < 0.5, a % 3, b)  # dependent
    assert dis.mutual_information(a, b) == pytest.approx(mutual_info_score(a, b), rel=1e-10)
    assert dis.mutual_information(a, a) == pytest.approx(stats.entropy(np.bincount(a)), rel=1e-10)


def test_discretize_uses_equal_width_bins_over_each_columns_range():
    z = RNG.normal(size=(300, 3)) * [1.0, 10.0, 0.1]
    codes = dis.discretize(z, bins=7)
    for j in range(3):
        edges = np.histogram_bin_edges(z[:, j], bins=7)
        np.testing.assert_array_equal(codes[:, j], np.clip(np.digitize(z[:, j], edges[1:-1]), 0, 6))


def test_mig_is_one_for_an_axis_aligned_code_and_zero_for_a_duplicated_one():
    v = full_grid()
    z = np.concatenate([v * 1.7 + 3.0, np.zeros((len(v), 1))], axis=1)  # z_k = affine(v_k), plus a dead unit
    assert dis.mig(z, v)["mig"] == pytest.approx(1.0)
    z_dup = np.concatenate([v, v[:, :1]], axis=1)  # factor 0 in two latents: no gap for it
    out = dis.mig(z_dup, v)
    assert out["mig/0"] == pytest.approx(0.0) and out["mig/1"] == pytest.approx(1.0)
    assert out["mig"] == pytest.approx(2 / 3)


def test_mig_of_a_mixed_code_matches_a_brute_force_reference():
    v = full_grid()
    z = np.stack([v[:, 0] + 0.5 * v[:, 1], v[:, 1] - v[:, 2], RNG.normal(size=len(v))], 1)
    codes = np.stack([np.histogram_bin_edges(z[:, j], 20) for j in range(3)])
    binned = np.stack([np.clip(np.digitize(z[:, j], codes[j][1:-1]), 0, 19) for j in range(3)], 1)
    gaps = []
    for k in range(3):
        mi = sorted(mutual_info_score(binned[:, j], v[:, k]) for j in range(3))
        gaps.append((mi[-1] - mi[-2]) / stats.entropy(np.bincount(v[:, k])))
    assert dis.mig(z, v)["mig"] == pytest.approx(np.mean(gaps), rel=1e-9)


def test_dci_of_importance_matrices_with_known_scores():
    perfect = dis.dci_from_importance(np.eye(3))
    assert perfect == pytest.approx({"dci_disentanglement": 1.0, "dci_completeness": 1.0})
    flat = dis.dci_from_importance(np.ones((4, 3)))
    assert flat == pytest.approx({"dci_disentanglement": 0.0, "dci_completeness": 0.0}, abs=1e-12)
    r = np.array([[0.6, 0.2, 0.0], [0.1, 0.0, 0.5], [0.0, 0.3, 0.3], [0.0, 0.0, 0.0]])
    rho = r.sum(1) / r.sum()
    d = sum(rho[i] * (1 - stats.entropy(r[i], base=3)) for i in range(3))  # the all-zero code has weight 0
    c = np.mean([1 - stats.entropy(r[:, j], base=4) for j in range(3)])
    assert dis.dci_from_importance(r) == pytest.approx({"dci_disentanglement": d, "dci_completeness": c})


def test_dci_separates_an_axis_aligned_code_from_a_rotated_one():
    v = full_grid((4, 4, 4))
    noise = RNG.normal(scale=0.05, size=v.shape)
    aligned = v + noise
    rotation = stats.special_ortho_group.rvs(3, random_state=0)
    rotated = aligned @ rotation
    train, test = slice(0, 48), slice(48, 64)
    order = RNG.permutation(len(v))
    v, aligned, rotated = v[order], aligned[order], rotated[order]
    good = dis.dci(aligned[train], v[train], aligned[test], v[test])
    bad = dis.dci(rotated[train], v[train], rotated[test], v[test])
    assert good["dci_disentanglement"] > 0.9 and good["dci_completeness"] > 0.9
    assert bad["dci_disentanglement"] < good["dci_disentanglement"] - 0.3
    assert good["dci_informativeness"] > 0.9


def test_shapes_enumerates_every_factor_combination_once():
    train, test = shapes.factors("train"), shapes.factors("test")
    assert len(train) + len(test) == np.prod(shapes.SIZES) and len(test) == round(0.1 * np.prod(shapes.SIZES))
    every = np.concatenate([train, test])
    assert len(np.unique(every, axis=0)) == len(every)
    source = shapes.open_shapes("test")
    batch = source.read(np.arange(5))
    for image, label, f in zip(batch["x"], batch["y"], test[:5]):
        np.testing.assert_array_equal(image[..., 0], shapes.render(*f))
        assert label == f[0]
    # Each factor changes the picture (the square's quarter-turn symmetry is why rotations stop at pi/2).
    base = shapes.render(0, 2, 0, 3, 3)
    for k in range(5):
        other = [0, 2, 0, 3, 3]
        other[k] += 1
        assert not np.array_equal(shapes.render(*other), base), shapes.FACTORS[k]
