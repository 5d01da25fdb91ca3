"""Scaled dot-product attention (Vaswani et al. 2017, eq. 1) with a hand-written derivative and,
on CPU, a oneDNN kernel.

    S = Q K^T / sqrt(d),  P = softmax(S) (over keys),  O = P V

Its Jacobian-vector product is the primitive `attention_jvp_p`, linear in (dQ, dK, dV):

    dS = (dQ K^T + Q dK^T) / sqrt(d),  dP = P * (dS - rowsum(P * dS)),  dO = dP V + P dV

and its transpose, `attention_bwd_p`, is FlashAttention's backward (Dao et al. 2022, Algorithm 2,
without tiling): dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(P * dP)), dQ = dS K / sqrt(d),
dK = dS^T Q / sqrt(d), with P the only [T, T] residual. Forward mode (which the probability-flow
likelihood's divergence needs) evaluates the JVP; reverse mode transposes it.

`attention_p` (-> O, P) and `attention_bwd_p` lower to oneDNN kernels (`genjax.native`) in a
single-device float32 CPU program: every (example, head) is computed from strided views of the
[B, T, H, D] arrays with its [T, T] matrices kept in cache, where XLA:CPU materialises each
[B, H, T, T] intermediate and computes P^T dO and dS^T Q with transposed operands 2-3x slower
than the plain products. Elsewhere (GPU, TPU, SPMD-partitioned programs, bfloat16, under vmap)
all three lower to the jnp reference below.

`dot_product_attention` picks an implementation: "auto" takes these primitives for unmasked CPU
attention, `masked_attention` (below) for masked or causal CPU attention, and
`jax.nn.dot_product_attention` on GPU and TPU, with cuDNN's fused flash attention for
bfloat16/float16 on GPU; "xla" and "cudnn" force `jax.nn.dot_product_attention`'s implementation,
"native" these primitives.

`masked_attention` is the same equation with masked logits set to the lowest float before the
softmax, computed heads-major ([B, H, T, D] operands, batched matmuls): XLA:CPU computes its
gradient about twice as fast as that of `jax.nn.dot_product_attention`'s XLA implementation,
whose [B, T, H, D] einsums it differentiates with transposed copies (causal, 12 x 64 tokens, 4
heads of 32, one thread: 2.0-2.5 ms against 4.3-7.7 ms; PyTorch's 1.9-2.2 ms). The oneDNN
kernels, one small matmul per (example, head), pay a per-call cost that makes them slower at
such short sequences.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from genjax.native.primitives import fused_op

Array = jax.Array


def _scaled(x: Array) -> Array:
    """x / sqrt(d), d = x.shape[-1]: scaling the [T, D] operands, never the [T, T] matrices."""
    return x * jnp.asarray(x.shape[-1] ** -0.5, x.dtype)


def _reference(q: Array, k: Array, v: Array) -> tuple[Array, Array]:
    """q [B, Tq, H, D], k, v [B, Tk, H, D] -> O [B, Tq, H, D], P [B, H, Tq, Tk] (logits in float32)."""
    s = jnp.einsum("bqhd,bkhd->bhqk", _scaled(q), k, preferred_element_type=jnp.float32)
    p = jax.nn.softmax(s, axis=-1).astype(q.dtype)
    return jnp.einsum("bhqk,bkhd->bqhd", p, v), p


def _softmax_jvp(p: Array, dp: Array) -> Array:
    """P * (dP - rowsum(P * dP)): softmax's Jacobian (symmetric) applied to dP."""
    return p * (dp - jnp.sum(p * dp, axis=-1, keepdims=True))


def _reference_jvp(q: Array, k: Array, v: Array, p: Array, dq: Array, dk: Array, dv: Array) -> Array:
    ds = jnp.einsum("bqhd,bkhd->bhqk", _scaled(dq), k) + jnp.einsum("bqhd,bkhd->bhqk", _scaled(q), dk)
    return jnp.einsum("bhqk,bkhd->bqhd", _softmax_jvp(p, ds), v) + jnp.einsum("bhqk,bkhd->bqhd", p, dv)


def _reference_bwd(q: Array, k: Array, v: Array, p: Array, do: Array) -> tuple[Array, Array, Array]:
    dv = jnp.einsum("bhqk,bqhd->bkhd", p, do)
    ds = _softmax_jvp(p, jnp.einsum("bqhd,bkhd->bhqk", do, v))
    dq = _scaled(jnp.einsum("bhqk,bkhd->bqhd", ds, k))
    dk = _scaled(jnp.einsum("bhqk,bqhd->bkhd", ds, q))
    return dq, dk, dv


attention_p, attention_jvp_p, attention_bwd_p = fused_op(
    "genjax_attention",
    _reference,
    _reference_jvp,
    _reference_bwd,
    num_residuals=4,  # (Q, K, V, P)
)


@jax.custom_jvp
def _attention(q: Array, k: Array, v: Array) -> Array:
    return attention_p.bind(q, k, v)[0]


@_attention.defjvp
def _attention_jvp(primals: tuple, tangents: tuple) -> tuple[Array, Array]:
    o, p = attention_p.bind(*primals)
    return o, attention_jvp_p.bind(*primals, p, *tangents)


def masked_attention(q: Array, k: Array, v: Array, mask: Array) -> Array:
    """q [B, Tq, H, D], k, v [B, Tk, H, D], mask (True: attend) broadcastable to [B, H, Tq, Tk]
    -> [B, Tq, H, D]: softmax(Q K^T / sqrt(D) masked) V with heads-major batched matmuls, the
    logits and softmax in float32."""
    qh, kh, vh = (jnp.swapaxes(x, 1, 2) for x in (_scaled(q), k, v))  # [B, H, T, D]
    s = jnp.matmul(qh, jnp.swapaxes(kh, -1, -2), preferred_element_type=jnp.float32)
    s = jnp.where(mask, s, jnp.finfo(jnp.float32).min)
    p = jax.nn.softmax(s, axis=-1).astype(q.dtype)
    return jnp.swapaxes(jnp.matmul(p, vh), 1, 2)


def causal_mask(tq: int, tk: int) -> Array:
    """[Tq, Tk] bool: query i attends to keys j <= i (aligned at the top left, as
    `jax.nn.dot_product_attention` and PyTorch's `is_causal` are)."""
    return jnp.arange(tq)[:, None] >= jnp.arange(tk)[None, :]


IMPLEMENTATIONS = ("auto", "native", "xla", "cudnn")


def dot_product_attention(
    q: Array,
    k: Array,
    v: Array,
    *,
    mask: Array | None = None,
    is_causal: bool = False,
    implementation: str = "auto",
) -> Array:
    """q [B, Tq, heads, D], k, v [B, Tk, heads, D] -> [B, Tq, heads, D], the layout of
    `jax.nn.dot_product_attention`; `mask` [B or 1, heads or 1, Tq, Tk] (True: attend), `is_causal`:
    query i attends to keys <= i. `implementation`: one of IMPLEMENTATIONS (above)."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"attention implementation {implementation!r}: choose one of {', '.join(IMPLEMENTATIONS)}")
    plain = mask is None and not is_causal
    if implementation == "native" and not plain:
        raise ValueError("attention implementation 'native' takes no mask and no causal flag; use 'auto' or 'xla'")
    if implementation == "native" or (implementation == "auto" and plain and jax.default_backend() == "cpu"):
        return _attention(q, k, v)
    if implementation == "auto" and jax.default_backend() == "cpu":
        causal = causal_mask(q.shape[1], k.shape[1]) if is_causal else True
        return masked_attention(q, k, v, causal if mask is None else mask & causal)
    if implementation == "auto":
        fused = jax.default_backend() == "gpu" and q.dtype in (jnp.bfloat16, jnp.float16)
        implementation = "cudnn" if fused else "xla"
    return jax.nn.dot_product_attention(q, k, v, mask=mask, is_causal=is_causal, implementation=implementation)
