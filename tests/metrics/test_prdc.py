"""Precision/recall, density/coverage, two-sample tests, memorization, mode coverage and
bits/dim against brute-force implementations and closed forms."""

import math

import numpy as np
import pytest
import scipy.stats

from genjax.metrics import likelihood, mixtures, prdc, twosample


def kth_radius(x, i, k):
    d = sorted(np.linalg.norm(x[i] - x[j]) for j in range(len(x)) if j != i)
    return d[k - 1]


def brute_pr(fake, real, k):
    rr = [kth_radius(real, i, k) for i in range(len(real))]
    rf = [kth_radius(fake, i, k) for i in range(len(fake))]
    p = np.mean([any(np.linalg.norm(f - real[i]) <= rr[i] for i in range(len(real))) for f in fake])
    r = np.mean([any(np.linalg.norm(x - fake[j]) <= rf[j] for j in range(len(fake))) for x in real])
    return p, r


def brute_dc(fake, real, k):
    rr = [kth_radius(real, i, k) for i in range(len(real))]
    inside = np.array([[np.linalg.norm(f - real[i]) <= rr[i] for i in range(len(real))] for f in fake])
    return inside.sum() / (k * len(fake)), inside.any(0).mean()


@pytest.fixture
def sets():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 4)) * 1.3 + 0.4, rng.normal(size=(50, 4))


def test_precision_recall_matches_brute_force(sets):
    fake, real = sets
    for k in (1, 3):
        assert prdc.precision_recall(fake, real, k) == pytest.approx(brute_pr(fake, real, k))


def test_density_coverage_matches_brute_force(sets):
    fake, real = sets
    assert prdc.density_coverage(fake, real, 5) == pytest.approx(brute_dc(fake, real, 5))


def test_identical_sets_have_precision_recall_and_coverage_one():
    x = np.random.default_rng(1).normal(size=(300, 16))
    assert prdc.precision_recall(x, x, 3) == (1.0, 1.0)
    assert prdc.density_coverage(x, x, 5)[1] == 1.0


def test_disjoint_sets_have_precision_recall_zero():
    rng = np.random.default_rng(2)
    assert prdc.precision_recall(rng.normal(size=(50, 3)) + 100, rng.normal(size=(50, 3)), 3) == (0.0, 0.0)


def test_knn_radius_rejects_bad_k():
    with pytest.raises(ValueError, match="k=5"):
        prdc.knn_radii(np.zeros((5, 2)), 5)
    with pytest.raises(ValueError, match="k=0"):  # the point itself is not its own neighbour
        prdc.knn_radii(np.zeros((5, 2)), 0)


def brute_c2st_knn(fake, real):
    x = np.concatenate([fake, real])
    y = [1] * len(fake) + [0] * len(real)
    hits = 0
    for i in range(len(x)):
        d = [np.linalg.norm(x[i] - x[j]) if j != i else np.inf for j in range(len(x))]
        hits += y[int(np.argmin(d))] == y[i]
    return hits / len(x)


def test_c2st_knn_matches_brute_force_and_detects_shift(sets):
    fake, real = sets
    assert twosample.c2st_knn(fake, real) == pytest.approx(brute_c2st_knn(fake, real))
    rng = np.random.default_rng(3)
    same = [twosample.c2st_knn(rng.normal(size=(100, 2)), rng.normal(size=(100, 2))) for _ in range(10)]
    assert abs(np.mean(same) - 0.5) < 0.06
    assert twosample.c2st_knn(rng.normal(size=(100, 2)) + 5, rng.normal(size=(100, 2))) == 1.0


def test_c2st_logistic_detects_a_shift_only():
    rng = np.random.default_rng(4)
    null = twosample.c2st_logistic(rng.normal(size=(400, 5)), rng.normal(size=(400, 5)))
    alt = twosample.c2st_logistic(rng.normal(size=(400, 5)) + 2.0, rng.normal(size=(400, 5)))
    assert abs(null - 0.5) < 0.08 and alt > 0.95


def test_c2st_logistic_reaches_the_bayes_accuracy_of_two_gaussians():
    """N(delta, I) against N(0, I): the best detector (linear, which logistic regression learns)
    has accuracy Phi(||delta|| / 2) on balanced held-out halves; 2000 + 2000 examples, 2000 held
    out: within 0.03 (3 standard errors, plus the fit's own error)."""
    rng = np.random.default_rng(6)
    delta = np.array([0.5, -0.3, 0.4, 0.0, 0.2])
    acc = twosample.c2st_logistic(rng.normal(size=(2000, 5)) + delta, rng.normal(size=(2000, 5)))
    bayes = scipy.stats.norm.cdf(np.linalg.norm(delta) / 2)
    assert abs(acc - bayes) < 0.03, (acc, bayes)


def test_mann_whitney_z_matches_scipy():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=37), rng.normal(size=51) + 0.3
    a[:5] = b[:5]  # ties
    res = scipy.stats.mannwhitneyu(a, b, use_continuity=False, method="asymptotic")
    m, n = len(a), len(b)
    # recover |z| from scipy's two-sided p-value; sign from U
    z_abs = -scipy.stats.norm.ppf(res.pvalue / 2)
    z = twosample.mann_whitney_z(a, b)
    assert abs(z) == pytest.approx(z_abs, rel=1e-8)
    assert np.sign(z) == np.sign(res.statistic - m * n / 2)


def test_memorization_flags_copies():
    rng = np.random.default_rng(6)
    train, heldout = rng.normal(size=(300, 4)), rng.normal(size=(200, 4))
    fresh = twosample.memorization(rng.normal(size=(200, 4)), train, heldout)
    copies = twosample.memorization(train[:200] + 1e-3 * rng.normal(size=(200, 4)), train, heldout)
    assert abs(fresh["z_u"]) < 3 and 0.7 < fresh["ratio"] < 1.4
    assert copies["z_u"] < -10 and copies["ratio"] < 0.05


def test_mode_coverage_closed_forms():
    angles = np.arange(8) * 2 * np.pi / 8
    modes = np.stack([np.cos(angles), np.sin(angles)], 1) * 2
    perfect = np.repeat(modes, 10, axis=0)
    assert mixtures.mode_coverage(perfect, modes, 0.02) == {"modes": 8.0, "high_quality": 1.0, "reverse_kl": 0.0}
    collapsed = np.repeat(modes[:1], 50, axis=0)
    out = mixtures.mode_coverage(collapsed, modes, 0.02)
    assert out["modes"] == 1.0 and out["reverse_kl"] == pytest.approx(math.log(8))
    far = np.concatenate([modes[:4] + 0.5, modes[4:]])  # 4 points outside 3 std
    out = mixtures.mode_coverage(far, modes, 0.02)
    assert out["high_quality"] == 0.5 and out["modes"] == 4.0 and out["reverse_kl"] == pytest.approx(0.0)
    assert mixtures.mode_coverage(perfect, modes, 0.02, min_count=11)["modes"] == 0.0


def test_bits_per_dim_closed_forms():
    shape = (4, 4, 3)
    d = 48
    # discrete uniform over 256 levels: 8 bits/dim
    assert likelihood.bits_per_dim(d * math.log(256), shape, discrete=True) == pytest.approx(8.0)
    # continuous uniform density on [-1, 1]: -log p = D log 2 -> also 8 bits/dim
    assert likelihood.bits_per_dim(d * math.log(2.0), shape) == pytest.approx(8.0)
    np.testing.assert_allclose(likelihood.bits_per_dim(np.full(3, d * math.log(256)), shape, discrete=True), 8.0)
    with pytest.raises(ValueError, match="shape"):
        likelihood.bits_per_dim(1.0, (0,))


def test_squared_distances_are_never_negative_for_duplicates():
    """x x + y y - 2 x y rounds to slightly below 0 for equal points far from the origin; the
    clip keeps it 0 (a negative value would make sqrt NaN and a k-NN radius wrong)."""
    x = np.random.default_rng(0).normal(size=(4, 7)) * 1e3 + 3e3
    raw = (x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2.0 * (x @ x.T)
    assert raw.min() < 0  # the rounding the clip is for happens here
    assert (prdc.squared_distances(x, x) >= 0).all()
