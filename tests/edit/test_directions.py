"""GANSpace and InterFaceGAN directions against closed forms and a synthetic generator whose
latent has known brightness and class axes."""

import numpy as np
import pytest

from genjax.metrics import directions


def test_pca_recovers_the_covariance_eigenvectors():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    variances = np.array([9.0, 4.0, 1.0, 0.25, 0.04])
    z = (rng.normal(size=(20000, 5)) * np.sqrt(variances)) @ q.T + 1.5  # cov = Q diag(variances) Q^T
    v, var = directions.pca_directions(z, 3)
    np.testing.assert_allclose(np.abs(v @ q[:, :3]), np.eye(3), atol=0.02)  # up to sign
    np.testing.assert_allclose(var, variances[:3], rtol=0.05)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0)
    assert (v[np.arange(3), np.argmax(np.abs(v), 1)] > 0).all()
    with pytest.raises(ValueError, match="k=6"):
        directions.pca_directions(z, 6)


def test_supervised_direction_is_the_separating_normal():
    rng = np.random.default_rng(1)
    normal = np.array([3.0, -1.0, 0.0, 2.0])
    normal /= np.linalg.norm(normal)
    z = rng.normal(size=(4000, 4))
    logits = 4.0 * (z @ normal) + 0.5
    labels = (rng.uniform(size=4000) < 1 / (1 + np.exp(-logits))).astype(int)  # a logistic model's labels
    n = directions.supervised_direction(z, labels)
    assert np.dot(n, normal) > 0.99
    with pytest.raises(ValueError, match="both present"):
        directions.supervised_direction(z, np.ones(4000))


def synthetic_generator(z):
    """Images [N, 4, 4] whose brightness grows with z . a, and a class sign(z . b); a, b not orthogonal."""
    a = np.array([1.0, 0.0, 0.0, 0.0])
    b = np.array([0.6, 0.8, 0.0, 0.0])
    pattern = np.linspace(-1, 1, 16).reshape(4, 4)
    images = np.tanh(0.5 * (z @ a))[:, None, None] + 0.1 * (z[:, 2:3, None] * pattern)
    return images, (z @ b > 0).astype(int)


def test_moving_along_a_found_direction_changes_brightness_monotonically_and_keeps_the_class():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(3000, 4))
    images, classes = synthetic_generator(z)
    brightness = images.reshape(len(z), -1).mean(1)
    n_bright = directions.supervised_direction(z, directions.median_labels(brightness))
    n_class = directions.supervised_direction(z, classes)
    edit = directions.conditional_direction(n_bright, n_class)
    start = rng.normal(size=(16, 4))
    path = directions.move(start, edit, np.linspace(-3, 3, 9))  # [16, 9, 4]
    images_path, classes_path = synthetic_generator(path.reshape(-1, 4))
    b = images_path.reshape(16, 9, -1).mean(-1)
    assert (np.diff(b, axis=1) > 0).all()  # brighter at every step
    np.testing.assert_array_equal(classes_path.reshape(16, 9), synthetic_generator(start)[1][:, None].repeat(9, 1))
    # the unconditioned direction moves across the class boundary for some starts
    _, crossed = synthetic_generator(directions.move(start, n_bright, np.linspace(-3, 3, 9)).reshape(-1, 4))
    assert (crossed.reshape(16, 9) != synthetic_generator(start)[1][:, None]).any()


def test_pca_of_a_synthetic_generators_latents_finds_its_largest_axis():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(5000, 4)) * np.array([0.2, 3.0, 0.2, 0.2])  # "w" varies most along axis 1
    v, _ = directions.pca_directions(w, 1)
    assert abs(v[0, 1]) > 0.99


def test_conditional_direction_of_parallel_directions_is_refused():
    with pytest.raises(ValueError, match="parallel"):
        directions.conditional_direction(np.array([1.0, 0.0]), np.array([2.0, 0.0]))
