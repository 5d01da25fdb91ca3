"""Attention with the hand-written derivative against jax.nn.dot_product_attention (autodiff), in
reverse and forward mode, and against a numpy softmax(QK^T/sqrt(d))V."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.attention import dot_product_attention


@pytest.mark.parametrize("shape", [(2, 5, 1, 8), (3, 7, 4, 6)])
def test_values_and_gradients_match_autodiff(shape):
    q, k, v, cot = (jax.random.normal(jax.random.key(i), shape) for i in range(4))
    s = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(shape[-1])
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(dot_product_attention(q, k, v), np.einsum("bhqk,bkhd->bqhd", p, v), atol=1e-5)

    loss = lambda f: lambda q, k, v: jnp.sum(f(q, k, v) * cot)  # noqa: E731
    ours = jax.grad(loss(dot_product_attention), argnums=(0, 1, 2))(q, k, v)
    theirs = jax.grad(loss(jax.nn.dot_product_attention), argnums=(0, 1, 2))(q, k, v)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=1e-5)
    tangents = tuple(jax.random.normal(jax.random.key(10 + i), shape) for i in range(3))
    np.testing.assert_allclose(jax.jvp(dot_product_attention, (q, k, v), tangents)[1],
                               jax.jvp(jax.nn.dot_product_attention, (q, k, v), tangents)[1], atol=1e-5)


def test_bfloat16_keeps_dtype_and_is_close():
    q, k, v = (jax.random.normal(jax.random.key(i), (2, 6, 2, 8)) for i in range(3))
    low = dot_product_attention(*(a.astype(jnp.bfloat16) for a in (q, k, v)))
    assert low.dtype == jnp.bfloat16
    np.testing.assert_allclose(low.astype(jnp.float32), dot_product_attention(q, k, v), atol=5e-2)
