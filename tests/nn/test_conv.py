"""genjax.nn.conv against lax.conv_general_dilated: values, reverse and forward mode, second order
and vmap, with the oneDNN kernels (when they build here) and without them."""

import logging
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import native
from genjax.nn import conv as C

DN = ("NHWC", "HWIO", "NHWC")
CASES = {  # x shape, kernel (kh, kw, c, o), strides, padding
    "3x3 same": ((4, 8, 8, 5), (3, 3, 5, 6), (1, 1), "SAME"),
    "3x3 stride 2 asym": ((3, 9, 8, 4), (3, 3, 4, 7), (2, 2), ((0, 1), (1, 0))),
    "5x3 valid": ((2, 10, 7, 3), (5, 3, 3, 2), (1, 2), "VALID"),
    "1x1": ((3, 6, 6, 8), (1, 1, 8, 4), (1, 1), "SAME"),
}


def _operands(case):
    x_shape, w_shape, strides, padding = CASES[case]
    x = jax.random.normal(jax.random.key(0), x_shape)
    w = jax.random.normal(jax.random.key(1), w_shape) * 0.3
    ours = lambda x, w: C.conv_general_dilated(x, w, strides, padding, dimension_numbers=DN)  # noqa: E731
    ref = lambda x, w: jax.lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=DN)  # noqa: E731
    return x, w, ours, ref


def close(a, b):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_value_gradient_and_forward_mode_match_lax(case, backend):
    x, w, ours, ref = _operands(case)
    close(jax.jit(ours)(x, w), ref(x, w))
    ct = jax.random.normal(jax.random.key(2), ref(x, w).shape)
    close(jax.jit(lambda x, w: jax.vjp(ours, x, w)[1](ct))(x, w), jax.vjp(ref, x, w)[1](ct))
    tx, tw = jax.random.normal(jax.random.key(3), x.shape), jax.random.normal(jax.random.key(4), w.shape)
    close(jax.jit(lambda *a: jax.jvp(ours, a[:2], a[2:]))(x, w, tx, tw), jax.jvp(ref, (x, w), (tx, tw)))


@pytest.mark.parametrize("case", ["3x3 same", "3x3 stride 2 asym"])
def test_second_order_and_vmap_match_lax(case, backend):
    """Every derivative is again conv / conv_dx / conv_dw: a gradient penalty (grad of a grad
    norm), forward-over-reverse, and vmap over a leading axis."""
    x, w, ours, ref = _operands(case)

    def penalty(f):
        return lambda x, w: jnp.sum(jax.grad(lambda x: jnp.sum(jnp.tanh(f(x, w))))(x) ** 2)

    close(jax.jit(jax.grad(penalty(ours), argnums=(0, 1)))(x, w), jax.grad(penalty(ref), argnums=(0, 1))(x, w))
    g = lambda f: jax.grad(lambda x, w: jnp.sum(f(x, w) ** 2), argnums=1)  # noqa: E731
    v = jax.random.normal(jax.random.key(5), x.shape)
    close(
        jax.jit(lambda x, w: jax.jvp(lambda x: g(ours)(x, w), (x,), (v,)))(x, w),
        jax.jvp(lambda x: g(ref)(x, w), (x,), (v,)),
    )
    xs = jnp.stack([x, -x, 2 * x])
    close(
        jax.jit(jax.vmap(jax.grad(lambda x, w: jnp.sum(ours(x, w) ** 2), argnums=(0, 1)), (0, None)))(xs, w),
        jax.vmap(jax.grad(lambda x, w: jnp.sum(ref(x, w) ** 2), argnums=(0, 1)), (0, None))(xs, w),
    )


def test_routing(backend):
    """Which path a convolution takes, read off the jaxpr."""
    x, w, ours, _ = _operands("3x3 same")

    def prims(f, *a):
        return {str(e.primitive) for e in jax.make_jaxpr(jax.grad(lambda *a: jnp.sum(f(*a)), argnums=(0, 1)))(*a).eqns}

    assert ("genjax_conv_dw" in prims(ours, x, w)) == (backend == "onednn")
    x1, w1, ours1, _ = _operands("1x1")
    assert "conv_general_dilated" not in prims(ours1, x1, w1) and "dot_general" in prims(ours1, x1, w1)
    dilated = lambda x, w: C.conv_general_dilated(x, w, (1, 1), "SAME", rhs_dilation=(2, 2), dimension_numbers=DN)  # noqa: E731,E501
    assert "genjax_conv" not in prims(dilated, x, w)
    nchw = jnp.transpose(x, (0, 3, 1, 2))
    y = C.conv_general_dilated(nchw, jnp.transpose(w, (3, 2, 0, 1)), (1, 1), "SAME")  # lax's default NCHW/OIHW
    close(jnp.transpose(y, (0, 2, 3, 1)), jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=DN))


@pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler")
def test_kernels_build_where_onednn_is_installed():
    """On Linux x86-64 with the `onednn` extra installed, the kernels must build (no silent fallback)."""
    if native._onednn_prefix() is None:
        pytest.skip("oneDNN wheels not installed")
    assert native.onednn()


def test_missing_onednn_is_a_warning_and_xla_kernels_remain(monkeypatch, caplog):
    monkeypatch.setattr(native, "_onednn_prefix", lambda: None)
    native._load.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="genjax.native"):
            assert native.onednn() is False
        assert "oneDNN is not installed" in caplog.text and "pip install" in caplog.text
        x, w, ours, ref = _operands("3x3 same")
        close(
            jax.jit(jax.grad(lambda x, w: jnp.sum(ours(x, w) ** 2)))(x, w),
            jax.grad(lambda x, w: jnp.sum(ref(x, w) ** 2))(x, w),
        )
    finally:
        native._load.cache_clear()
