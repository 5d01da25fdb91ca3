"""GAN losses against hand-computed values and finite differences."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from genjax.losses import gan

REAL = np.array([1.5, -0.3, 0.0, 2.0])
FAKE = np.array([-1.0, 0.4, 0.7, -2.5])


def _sig(t):
    return 1.0 / (1.0 + math.exp(-t))


def _hand(name):
    """(D loss, G loss) per example, written out from the papers' equations."""
    r, f = REAL, FAKE
    if name == "minimax":
        d = [-math.log(_sig(a)) - math.log(1 - _sig(b)) for a, b in zip(r, f)]
        g = [math.log(1 - _sig(b)) for b in f]
    elif name == "non_saturating":
        d = [-math.log(_sig(a)) - math.log(1 - _sig(b)) for a, b in zip(r, f)]
        g = [-math.log(_sig(b)) for b in f]
    elif name == "wasserstein":
        d = [b - a for a, b in zip(r, f)]
        g = [-b for b in f]
    elif name == "hinge":
        d = [max(0.0, 1 - a) + max(0.0, 1 + b) for a, b in zip(r, f)]
        g = [-b for b in f]
    elif name == "least_squares":
        d = [0.5 * (a - 1) ** 2 + 0.5 * b**2 for a, b in zip(r, f)]
        g = [0.5 * (b - 1) ** 2 for b in f]
    elif name == "relativistic_average":
        mr, mf = sum(r) / len(r), sum(f) / len(f)
        d = [-math.log(_sig(a - mf)) - math.log(1 - _sig(b - mr)) for a, b in zip(r, f)]
        g = [-math.log(_sig(b - mr)) - math.log(1 - _sig(a - mf)) for a, b in zip(r, f)]
    return np.array(d), np.array(g)


def test_registry_is_complete():
    assert set(gan.GAN_LOSSES) == {
        "minimax",
        "non_saturating",
        "wasserstein",
        "hinge",
        "least_squares",
        "relativistic_average",
    }
    with pytest.raises(ValueError, match="config.objective.loss"):
        gan.get_gan_loss("nope")


@pytest.mark.parametrize("name", sorted(gan.GAN_LOSSES))
def test_loss_matches_hand_computation(name):
    loss = gan.get_gan_loss(name)
    d_hand, g_hand = _hand(name)
    d = loss.discriminator(jnp.asarray(REAL), jnp.asarray(FAKE))
    g = loss.generator(jnp.asarray(FAKE), jnp.asarray(REAL))
    assert d.shape == g.shape == (4,)
    np.testing.assert_allclose(d, d_hand, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, g_hand, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(gan.GAN_LOSSES))
def test_loss_gradients_match_finite_differences(name):
    loss = gan.get_gan_loss(name)
    # Away from the hinge kinks (|D| = 1).
    r = np.array([1.7, -0.3, 0.2, 2.0])
    f = np.array([-1.3, 0.4, 0.7, -2.5])
    with jax.enable_x64(True):
        r64, f64 = jnp.asarray(r, jnp.float64), jnp.asarray(f, jnp.float64)
        check_grads(lambda a, b: loss.discriminator(a, b).sum(), (r64, f64), order=2, modes=["rev"], eps=1e-4)
        check_grads(lambda b, a: loss.generator(b, a).sum(), (f64, r64), order=2, modes=["rev"], eps=1e-4)


def test_discriminator_optimum_of_minimax_is_density_ratio():
    # Goodfellow et al. 2014, Prop. 1: for fixed G the optimal D = p_data / (p_data + p_g),
    # i.e. logit log(p_data / p_g), is where the expected discriminator loss is stationary.
    p_data, p_g = 0.7, 0.3
    loss = gan.Minimax()
    big = jnp.array([1e9])

    def expected(logit):
        return p_data * loss.discriminator(logit, -big) + p_g * loss.discriminator(big, logit)

    l_star = jnp.array([math.log(p_data / p_g)])
    assert abs(float(jax.grad(lambda logit: expected(logit).sum())(l_star)[0])) < 1e-6
    assert abs(float(jax.grad(lambda logit: expected(logit).sum())(l_star + 0.5)[0])) > 1e-2


def test_top_k_fraction_follows_the_papers_schedule():
    """Sinha et al. 2020: k / B = max(gamma^epoch, nu), one epoch per `every` steps."""
    for step in (0, 999, 1000, 5500, 200_000):
        expect = max(0.9 ** (step // 1000), 0.6)
        np.testing.assert_allclose(gan.top_k_fraction(jnp.int32(step), 0.9, 0.6, 1000), expect, rtol=1e-6)


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.3, 0.01])
def test_top_k_weights_keep_the_k_highest_scores(fraction):
    scores = jax.random.normal(jax.random.key(0), (40,))
    loss = jax.random.uniform(jax.random.key(1), (40,))
    w = jax.jit(gan.top_k_weights)(scores, fraction)
    k = max(1, math.ceil(fraction * 40))
    top = np.argsort(-np.asarray(scores))[:k]  # brute force: the k most realistic samples
    expect = np.zeros(40)
    expect[top] = 40 / k
    np.testing.assert_allclose(w, expect, rtol=1e-6)
    np.testing.assert_allclose(jnp.mean(w * loss), np.mean(np.asarray(loss)[top]), rtol=1e-5)
    # the weights are constants: the gradient reaches only the kept samples' losses
    g = jax.grad(lambda s: jnp.mean(gan.top_k_weights(s, fraction) * -s))(scores)
    np.testing.assert_allclose(g, -expect / 40, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(gan.GAN_LOSSES))
def test_losses_are_frozen_hashable_values(name):
    """Losses are static arguments of jitted steps: immutable, equal and hashed by their fields."""
    import dataclasses

    loss = gan.get_gan_loss(name)
    assert dataclasses.is_dataclass(loss) and type(loss).__dataclass_params__.frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        loss.needs_real_for_generator = True
    assert loss == gan.get_gan_loss(name) and hash(loss) == hash(gan.get_gan_loss(name))


def test_top_k_floors_at_half_the_batch_by_default():
    """Sinha et al. 2020 anneal k down to nu * batch with nu = 0.5 unless told otherwise."""
    schedule = gan.TopK(gamma=0.5)
    assert float(schedule.fraction(jnp.int32(10**6))) == 0.5
    assert float(schedule.fraction(jnp.int32(0))) == 1.0
