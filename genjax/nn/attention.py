"""Scaled dot-product attention (Vaswani et al. 2017, eq. 1) with a hand-written backward pass.

    S = Q K^T / sqrt(d),  P = softmax(S) (over keys),  O = P V

Backward (as in Dao et al. 2022, "FlashAttention", Algorithm 2, without tiling), given dO:

    dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dO * O)) / sqrt(d),
    dQ = dS K,  dK = dS^T Q

The residuals are Q, K, V, P and O, so the backward pass is four matmuls and one elementwise
pass over P. Autodiff of `jax.nn.dot_product_attention` computes the same but materialises more
[T, T] intermediates; on CPU this version's forward + backward is ~1.4x faster at T = 256
(docs/benchmarks.md). For long sequences on GPU/TPU a fused (flash) kernel is the better choice.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def _forward(q: Array, k: Array, v: Array) -> tuple[Array, tuple]:
    scale = q.shape[-1] ** -0.5
    s = jnp.einsum("bhqd,bhkd->bhqk", q, k, preferred_element_type=jnp.float32) * scale
    p = jax.nn.softmax(s, axis=-1).astype(q.dtype)
    o = jnp.einsum("bhqk,bhkd->bhqd", p, v)
    return o, (q, k, v, p, o)


def _backward(residuals: tuple, do: Array) -> tuple[Array, Array, Array]:
    q, k, v, p, o = residuals
    scale = q.shape[-1] ** -0.5
    dv = jnp.einsum("bhqk,bhqd->bhkd", p, do)
    dp = jnp.einsum("bhqd,bhkd->bhqk", do, v)
    delta = jnp.sum(do * o, axis=-1, keepdims=True)  # rowsum(dP * P) = rowsum(dO * O)
    ds = p * (dp - delta) * scale
    return jnp.einsum("bhqk,bhkd->bhqd", ds, k), jnp.einsum("bhqk,bhqd->bhkd", ds, q), dv


@jax.custom_vjp
def _attention(q: Array, k: Array, v: Array) -> Array:
    return _forward(q, k, v)[0]


_attention.defvjp(_forward, _backward)


def dot_product_attention(q: Array, k: Array, v: Array) -> Array:
    """q, k, v [B, T, heads, D] -> [B, T, heads, D], the layout of `jax.nn.dot_product_attention`."""
    heads_first = lambda a: a.transpose(0, 2, 1, 3)  # noqa: E731
    return heads_first(_attention(heads_first(q), heads_first(k), heads_first(v)))
