"""Scaled dot-product attention (Vaswani et al. 2017, eq. 1) with a hand-written derivative.

    S = Q K^T / sqrt(d),  P = softmax(S) (over keys),  O = P V

Its Jacobian-vector product, written once and transposed by JAX for the backward pass:

    dS = (dQ K^T + Q dK^T) / sqrt(d),  dP = P * (dS - rowsum(P * dS)),  dO = dP V + P dV

whose transpose is FlashAttention's backward (Dao et al. 2022, Algorithm 2, without tiling):
dV = P^T dO, dS = P * (dP - rowsum(P * dP)) / sqrt(d), dQ = dS K, dK = dS^T Q, with P the only
[T, T] residual. Autodiff of `jax.nn.dot_product_attention` computes the same with more [T, T]
intermediates: on CPU this forward + backward is ~1.4x faster at T = 256 (docs/benchmarks.md).
A custom JVP (rather than a custom VJP) keeps forward-mode autodiff working, which the
probability-flow likelihood's divergence needs. For long sequences on GPU/TPU a fused (flash)
kernel is the better choice.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def _scaled(q: Array) -> Array:
    """Q / sqrt(d): scaling the [T, D] queries, not the [T, T] logits (nor, transposed, dS)."""
    return q * jnp.asarray(q.shape[-1] ** -0.5, q.dtype)


def _probs(q: Array, k: Array) -> Array:
    """P = softmax(Q K^T / sqrt(d)) [B, heads, T, T], the logits and softmax in float32."""
    s = jnp.einsum("bhqd,bhkd->bhqk", _scaled(q), k, preferred_element_type=jnp.float32)
    return jax.nn.softmax(s, axis=-1).astype(q.dtype)


@jax.custom_jvp
def _attention(q: Array, k: Array, v: Array) -> Array:
    return jnp.einsum("bhqk,bhkd->bhqd", _probs(q, k), v)


@_attention.defjvp
def _attention_jvp(primals: tuple, tangents: tuple) -> tuple[Array, Array]:
    (q, k, v), (dq, dk, dv) = primals, tangents
    p = _probs(q, k)
    ds = jnp.einsum("bhqd,bhkd->bhqk", _scaled(dq), k) + jnp.einsum("bhqd,bhkd->bhqk", _scaled(q), dk)
    dp = p * (ds - jnp.sum(p * ds, axis=-1, keepdims=True))
    out = jnp.einsum("bhqk,bhkd->bhqd", p, v)
    return out, jnp.einsum("bhqk,bhkd->bhqd", dp, v) + jnp.einsum("bhqk,bhkd->bhqd", p, dv)


def dot_product_attention(q: Array, k: Array, v: Array) -> Array:
    """q, k, v [B, T, heads, D] -> [B, T, heads, D], the layout of `jax.nn.dot_product_attention`."""
    heads_first = lambda a: a.transpose(0, 2, 1, 3)  # noqa: E731
    return heads_first(_attention(heads_first(q), heads_first(k), heads_first(v)))
