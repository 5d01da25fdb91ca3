"""Spectral normalisation against numpy.linalg.svd."""

import jax
import jax.numpy as jnp
import numpy as np

from genjax.nn.spectral_norm import SNConv, SNDense, power_iteration
from flax.core.meta import unbox


def test_power_iteration_converges_to_top_singular_value():
    w = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    u = jnp.ones((5,)) / np.sqrt(5)
    sigma, u = power_iteration(jnp.asarray(w), u, n_steps=200)
    s, vt = np.linalg.svd(w)[1:]
    np.testing.assert_allclose(sigma, s[0], rtol=1e-5)
    np.testing.assert_allclose(np.abs(np.asarray(u) @ vt[0]), 1.0, rtol=1e-5)


def _sn_kernel(module, variables, x):
    """The effective (normalised) kernel: the layer applied to an identity/probe input."""
    return module.apply(variables, x, update_stats=False)


def test_sn_dense_estimate_and_state_updates():
    layer = SNDense(4, use_bias=False)
    x = jnp.eye(6)
    variables = unbox(layer.init(jax.random.key(0), x, update_stats=True))
    assert set(variables) == {"params", "spectral"}
    w = np.asarray(variables["params"]["kernel"])
    sigma_true = np.linalg.svd(w, compute_uv=False)[0]
    # Train mode refines u and writes it back; repeated steps converge to the SVD answer.
    u0 = np.asarray(variables["spectral"]["u"])
    for _ in range(30):
        _, upd = layer.apply(variables, x, update_stats=True, mutable=["spectral"])
        variables = {**variables, **upd}
    assert not np.allclose(np.asarray(variables["spectral"]["u"]), u0)
    w_sn = np.asarray(_sn_kernel(layer, variables, x))  # rows of I @ W/sigma
    np.testing.assert_allclose(w_sn, w / sigma_true, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.linalg.svd(w_sn, compute_uv=False)[0], 1.0, rtol=1e-4)
    # Eval mode leaves the state untouched.
    _, same = layer.apply(variables, x, update_stats=False, mutable=["spectral"])
    np.testing.assert_array_equal(same["spectral"]["u"], variables["spectral"]["u"])


def test_sn_conv_normalises_reshaped_kernel():
    layer = SNConv(3, kernel_size=(3, 3), use_bias=False, n_steps=50)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 5, 5, 2)), jnp.float32)
    variables = unbox(layer.init(jax.random.key(1), x, update_stats=True))
    _, upd = layer.apply(variables, x, update_stats=True, mutable=["spectral"])
    variables = {**variables, **upd}
    k = np.asarray(variables["params"]["kernel"])
    sigma_true = np.linalg.svd(k.reshape(-1, 3), compute_uv=False)[0]
    y = layer.apply(variables, x, update_stats=False)
    ref = jax.lax.conv_general_dilated(
        x, jnp.asarray(k / sigma_true), (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


def test_gradient_flows_through_kernel_not_vector():
    layer = SNDense(3)
    x = jnp.ones((2, 4))
    variables = unbox(layer.init(jax.random.key(2), x, update_stats=True))
    g = jax.grad(lambda p: layer.apply({**variables, "params": p}, x, update_stats=False).sum())(variables["params"])
    assert np.all(np.isfinite(g["kernel"])) and np.any(g["kernel"] != 0)
