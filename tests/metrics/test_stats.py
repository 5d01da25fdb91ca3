"""FID, KID and Inception Score against brute-force numpy/scipy implementations."""

import numpy as np
import pytest
import scipy.linalg

from genjax.metrics import stats


def pytorch_fid_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm of sigma1 @ sigma2)."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = np.real(covmean)
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


@pytest.mark.parametrize("n,d", [(200, 8), (300, 32)])
def test_frechet_matches_scipy_sqrtm(n, d):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    b = rng.normal(size=(n, d)) * 2 + 0.5
    mu1, s1 = stats.gaussian_stats(a)
    mu2, s2 = stats.gaussian_stats(b)
    np.testing.assert_allclose(s1, np.cov(a.T), rtol=1e-12)
    expected = pytorch_fid_distance(mu1, s1, mu2, s2)
    assert stats.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_frechet_closed_form_diagonal():
    # diagonal covariances: d^2 = |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert stats.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_fid_of_a_set_against_itself_is_zero():
    x = np.random.default_rng(1).normal(size=(500, 64))
    assert abs(stats.fid_from_features(x, x)) < 1e-8


def test_frechet_is_stable_for_singular_covariances():
    # N < D: rank-deficient covariances; scipy needs the eps offset, ours needs none.
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(20, 50)), rng.normal(size=(20, 50)) + 0.1
    fid = stats.fid_from_features(a, b)
    assert np.isfinite(fid) and fid == pytest.approx(
        pytorch_fid_distance(*stats.gaussian_stats(a), *stats.gaussian_stats(b)), rel=1e-4
    )
    # null eigenvalues of size ~1e-15 contribute sqrt(1e-15) each: zero relative to the trace
    assert abs(stats.fid_from_features(a, a)) < 1e-6 * np.trace(np.cov(a.T))


def test_frechet_shape_errors():
    with pytest.raises(ValueError, match="shape"):
        stats.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    # each mismatch alone: the means, the covariances, a covariance that does not fit its mean
    for args in ((np.zeros(3), np.eye(3), np.zeros(4), np.eye(3)), (np.zeros(3), np.eye(3), np.zeros(3), np.eye(4)),
                 (np.zeros(3), np.eye(4), np.zeros(3), np.eye(4))):  # fmt: skip
        with pytest.raises(ValueError, match="shape mismatch"):
            stats.frechet_distance(*args)
    with pytest.raises(ValueError, match="features"):
        stats.gaussian_stats(np.zeros((1, 3)))


def brute_force_mmd2(x, y):
    k = lambda a, b: (a @ b / len(a) + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_matches_brute_force():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 6)), rng.normal(size=(30, 6)) + 0.3
    mean, std = stats.kernel_inception_distance(x, y, num_subsets=1, subset_size=30)
    assert mean == pytest.approx(brute_force_mmd2(x, y), rel=1e-10)
    assert std == 0.0
    # subsets: the mean over subsets is the mean of brute-force MMDs on the same draws
    r = np.random.default_rng(7)
    expected = []
    for _ in range(4):
        xi, yi = x[r.choice(30, 10, replace=False)], y[r.choice(30, 10, replace=False)]
        expected.append(brute_force_mmd2(xi, yi))
    mean, std = stats.kernel_inception_distance(x, y, num_subsets=4, subset_size=10, rng=7)
    assert mean == pytest.approx(np.mean(expected), rel=1e-10)
    assert std == pytest.approx(np.std(expected), rel=1e-10)


def test_kid_is_unbiased_under_the_null():
    rng = np.random.default_rng(4)
    draws = [
        stats.kernel_inception_distance(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)), num_subsets=1)[0]
        for _ in range(200)
    ]
    # mean over draws ~ 0 within 4 standard errors; a biased (V-statistic) estimator fails this
    assert abs(np.mean(draws)) < 4 * np.std(draws) / np.sqrt(len(draws))
    shifted = stats.kernel_inception_distance(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)) + 1)[0]
    assert shifted > 10 * np.std(draws)


def brute_force_is(probs, splits):
    scores = []
    for part in np.array_split(probs, splits):
        py = part.mean(0)
        kls = [sum(p[k] * np.log(p[k] / py[k]) for k in range(len(p)) if p[k] > 0) for p in part]
        scores.append(np.exp(np.mean(kls)))
    return np.mean(scores), np.std(scores)


def test_inception_score_matches_brute_force_and_closed_forms():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(100, 7)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mean, std = stats.inception_score(probs, num_splits=10)
    exp_mean, exp_std = brute_force_is(probs, 10)
    assert mean == pytest.approx(exp_mean, rel=1e-10) and std == pytest.approx(exp_std, rel=1e-8)
    # confident and balanced over K classes -> K; uninformative -> 1
    onehot = np.eye(5)[np.arange(100) % 5]
    assert stats.inception_score(onehot, 10)[0] == pytest.approx(5.0)
    assert stats.inception_score(np.full((100, 5), 0.2), 10)[0] == pytest.approx(1.0)


def test_inception_score_and_kid_reject_bad_shapes_with_their_sizes():
    probs = np.full((20, 4), 0.25)
    with pytest.raises(ValueError, match=r"got shape \(20,\)"):
        stats.inception_score(probs[:, 0], num_splits=2)  # one-dimensional, though N >= splits
    with pytest.raises(ValueError, match=r"N >= num_splits=10, K\], got shape \(5, 4\)"):
        stats.inception_score(probs[:5], num_splits=10)
    with pytest.raises(ValueError, match="got 1 and 7"):
        stats.kernel_inception_distance(np.zeros((1, 3)), np.zeros((7, 3)))
