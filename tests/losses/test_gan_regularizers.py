"""Gradient penalties against brute-force (finite-difference) gradient norms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from genjax.losses import regularizers as reg

RNG = np.random.default_rng(0)
W1 = RNG.normal(size=(6, 5))
W2 = RNG.normal(size=(5,))


def d_fn(x):  # [B, 2, 3] -> [B], a smooth per-example critic
    return jnp.tanh(x.reshape(x.shape[0], -1) @ W1) @ W2


def fd_grad_norm_sq(x, h=1e-6):
    """Central finite differences of d_fn at each example separately."""
    out = []
    for xi in np.asarray(x, np.float64):
        flat = xi.reshape(-1)
        g = np.zeros_like(flat)
        for j in range(flat.size):
            e = np.zeros_like(flat)
            e[j] = h
            f = lambda v: float(d_fn(jnp.asarray(v.reshape(1, *xi.shape)))[0])
            g[j] = (f(flat + e) - f(flat - e)) / (2 * h)
        out.append(np.sum(g**2))
    return np.array(out)


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def test_r1_r2_match_brute_force(x64):
    real = RNG.normal(size=(4, 2, 3))
    fake = RNG.normal(size=(4, 2, 3))
    np.testing.assert_allclose(reg.r1_penalty(d_fn, jnp.asarray(real)), fd_grad_norm_sq(real), rtol=1e-6)
    np.testing.assert_allclose(reg.r2_penalty(d_fn, jnp.asarray(fake)), fd_grad_norm_sq(fake), rtol=1e-6)


@pytest.mark.parametrize("target", [1.0, 0.0])
def test_gradient_penalty_matches_brute_force(x64, target):
    real = jnp.asarray(RNG.normal(size=(3, 2, 3)))
    fake = jnp.asarray(RNG.normal(size=(3, 2, 3)))
    key = jax.random.key(3)
    gp = reg.gradient_penalty(d_fn, real, fake, key, target=target)
    eps = np.asarray(jax.random.uniform(key, (3, 1, 1), jnp.float64))
    x_hat = eps * np.asarray(real) + (1 - eps) * np.asarray(fake)
    assert np.all((eps > 0) & (eps < 1)) and len(np.unique(eps)) == 3
    np.testing.assert_allclose(gp, (np.sqrt(fd_grad_norm_sq(x_hat)) - target) ** 2, rtol=1e-6)


@pytest.mark.parametrize("target", [1.0, 0.0])
def test_gradient_penalty_of_a_flat_critic_is_finite(target):
    """Where grad D = 0 the norm is 0 (not NaN from a square root of a negative), and so is its gradient."""
    flat = lambda v: 0.0 * jnp.sum(v.reshape(v.shape[0], -1), -1)
    real, fake = jnp.ones((3, 2, 2)), jnp.zeros((3, 2, 2))
    gp = reg.gradient_penalty(flat, real, fake, jax.random.key(0), target=target)
    np.testing.assert_allclose(gp, target**2, atol=1e-5)
    g = jax.grad(lambda r: reg.gradient_penalty(flat, r, fake, jax.random.key(0), target=target).sum())(real)
    assert np.all(np.isfinite(g))


def test_penalty_is_differentiable_wrt_critic_params(x64):
    # Double back-propagation: d/dW of ||grad_x D_W(x)||^2 against finite differences in W.
    x = jnp.asarray(RNG.normal(size=(2, 3)))

    def penalty(w):
        return reg.r1_penalty(lambda v: jnp.tanh(v @ w).sum(-1), x).sum()

    w = jnp.asarray(RNG.normal(size=(3, 4)))
    check_grads(penalty, (w,), order=1, modes=["rev"], eps=1e-5)


def test_path_length_matches_explicit_jacobian(x64):
    a = jnp.asarray(RNG.normal(size=(3, 2 * 3 * 1)))

    def g_fn(w):  # [B, L=2, D=3] -> [B, H=2, W=3, 1]: y's scale 1 / sqrt(H W) tells H W from H + W
        return jnp.tanh(w.reshape(w.shape[0], -1) @ jnp.tile(a, (2, 1)) * 0.5).reshape(-1, 2, 3, 1)

    w = jnp.asarray(RNG.normal(size=(4, 2, 3)))
    key = jax.random.key(1)
    pen, new_mean, lengths = reg.path_length_penalty(g_fn, w, key, jnp.float64(0.5), decay=0.1)
    y = np.asarray(jax.random.normal(key, (4, 2, 3, 1), jnp.float64)) / np.sqrt(6.0)
    expect = []
    for i in range(4):
        jac = np.asarray(jax.jacrev(lambda wi: g_fn(wi[None])[0])(w[i]))  # [2,2,1,L,D]
        jty = np.tensordot(y[i], jac, axes=3)  # [L, D]
        expect.append(np.sqrt(np.mean(np.sum(jty**2, -1))))
    expect = np.array(expect)
    np.testing.assert_allclose(lengths, expect, rtol=1e-8)
    m = 0.5 + 0.1 * (expect.mean() - 0.5)
    np.testing.assert_allclose(new_mean, m, rtol=1e-8)
    np.testing.assert_allclose(pen, (expect - m) ** 2, rtol=1e-8)
