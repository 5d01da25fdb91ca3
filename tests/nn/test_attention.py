"""Attention with the hand-written derivative against jax.nn.dot_product_attention (autodiff) and a
numpy softmax(QK^T/sqrt(d))V: values, reverse and forward mode, second order, vmap, jit, with the
oneDNN kernels (where they build) and with XLA's lowering."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import native
from genjax.nn.attention import dot_product_attention

SHAPES = {  # q [B, Tq, H, D], k/v [B, Tk, H, D]
    "one head": ((2, 5, 1, 8), (2, 5, 1, 8)),
    "four heads": ((3, 7, 4, 6), (3, 7, 4, 6)),
    "cross, Tq != Tk": ((2, 3, 2, 4), (2, 9, 2, 4)),
}


def _operands(name):
    q_shape, kv_shape = SHAPES[name]
    q = jax.random.normal(jax.random.key(0), q_shape)
    k, v = (jax.random.normal(jax.random.key(i), kv_shape) for i in (1, 2))
    return q, k, v


def _numpy_attention(q, k, v):
    s = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bhqk,bkhd->bqhd", p, v)


@pytest.mark.parametrize("name", SHAPES)
def test_values_and_gradients_match_autodiff(name, backend):
    q, k, v = _operands(name)
    ours = jax.jit(dot_product_attention)
    np.testing.assert_allclose(ours(q, k, v), _numpy_attention(q, k, v), atol=1e-5)

    cot = jax.random.normal(jax.random.key(3), q.shape)
    loss = lambda f: lambda q, k, v: jnp.sum(f(q, k, v) * cot)  # noqa: E731
    grads = jax.jit(jax.grad(loss(dot_product_attention), argnums=(0, 1, 2)))(q, k, v)
    expected = jax.grad(loss(jax.nn.dot_product_attention), argnums=(0, 1, 2))(q, k, v)
    for a, b in zip(grads, expected):
        np.testing.assert_allclose(a, b, atol=1e-5)
    tangents = tuple(jax.random.normal(jax.random.key(10 + i), a.shape) for i, a in enumerate((q, k, v)))
    np.testing.assert_allclose(
        jax.jit(lambda *a: jax.jvp(dot_product_attention, a[:3], a[3:])[1])(q, k, v, *tangents),
        jax.jvp(jax.nn.dot_product_attention, (q, k, v), tangents)[1],
        atol=1e-5,
    )


def test_gradient_of_one_operand_only(backend):
    """Transposing with defined (non-linear) operands: only dV is asked for."""
    q, k, v = _operands("four heads")
    f = lambda f: lambda v: jnp.sum(jnp.sin(f(q, k, v)))  # noqa: E731
    np.testing.assert_allclose(
        jax.jit(jax.grad(f(dot_product_attention)))(v), jax.grad(f(jax.nn.dot_product_attention))(v), atol=1e-5
    )


def test_second_order_and_vmap(backend):
    q, k, v = _operands("four heads")
    f = lambda f: lambda q: jnp.sum(jnp.tanh(f(q, k, v)))  # noqa: E731
    hvp = lambda f, t: jax.jvp(jax.grad(f), (q,), (t,))[1]  # noqa: E731
    t = jax.random.normal(jax.random.key(7), q.shape)
    np.testing.assert_allclose(
        jax.jit(lambda t: hvp(f(dot_product_attention), t))(t), hvp(f(jax.nn.dot_product_attention), t), atol=1e-4
    )
    stacked = [jnp.stack([a, 2 * a]) for a in (q, k, v)]
    np.testing.assert_allclose(
        jax.jit(jax.vmap(dot_product_attention))(*stacked), jax.vmap(jax.nn.dot_product_attention)(*stacked), atol=1e-5
    )


def test_the_oneDNN_kernel_is_what_runs_on_cpu():
    """On a single-device CPU float32 program the forward and backward lower to the FFI kernels."""
    if not native.onednn():
        pytest.skip("the oneDNN kernels are not available here")
    q, k, v = _operands("one head")
    hlo = jax.jit(jax.grad(lambda q: jnp.sum(dot_product_attention(q, k, v)))).lower(q).as_text()
    assert "genjax_attention_fwd" in hlo and "genjax_attention_bwd" in hlo


def test_bfloat16_keeps_dtype_and_is_close():
    q, k, v = (jax.random.normal(jax.random.key(i), (2, 6, 2, 8)) for i in range(3))
    low = dot_product_attention(*(a.astype(jnp.bfloat16) for a in (q, k, v)))
    assert low.dtype == jnp.bfloat16
    np.testing.assert_allclose(low.astype(jnp.float32), dot_product_attention(q, k, v), atol=5e-2)


def _numpy_masked(q, k, v, mask):
    s = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(q.shape[-1])
    s = np.where(mask, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bhqk,bkhd->bqhd", p, v)


@pytest.mark.parametrize("shape", ["four heads", "cross, Tq != Tk"])
@pytest.mark.parametrize("implementation", ["auto", "xla"])
def test_causal_and_masked_attention_against_numpy(implementation, shape):
    """Causal: query i sees keys <= i; a boolean mask [B, 1, Tq, Tk] hides keys."""
    q, k, v = (np.asarray(a, np.float64) for a in _operands(shape))
    tq, tk = q.shape[1], k.shape[1]
    causal = np.tril(np.ones((tq, tk), bool))[None, None]
    f32 = lambda *a: tuple(jnp.asarray(x, jnp.float32) for x in a)  # noqa: E731
    got = dot_product_attention(*f32(q, k, v), is_causal=True, implementation=implementation)
    np.testing.assert_allclose(got, _numpy_masked(q, k, v, causal), atol=1e-5)
    mask = np.random.default_rng(0).random((q.shape[0], 1, tq, tk)) < 0.6
    mask[..., 0] = True  # every query sees at least one key
    got = dot_product_attention(*f32(q, k, v), mask=jnp.asarray(mask), implementation=implementation)
    np.testing.assert_allclose(got, _numpy_masked(q, k, v, mask), atol=1e-5)


def test_masked_attention_gradients_match_jax_nn():
    """The CPU path of masked and causal attention (heads-major matmuls) against
    jax.nn.dot_product_attention's XLA implementation, values and reverse-mode gradients, a mask
    and the causal flag together."""
    q, k, v = _operands("cross, Tq != Tk")
    mask = jax.random.bernoulli(jax.random.key(3), 0.7, (q.shape[0], 1, q.shape[1], k.shape[1])).at[..., 0].set(True)
    w = jax.random.normal(jax.random.key(4), q.shape)
    for kw in ({"is_causal": True}, {"mask": mask}, {"mask": mask, "is_causal": True}):
        loss = lambda impl: lambda *a: jnp.sum(w * dot_product_attention(*a, implementation=impl, **kw))  # noqa: E731
        np.testing.assert_allclose(loss("auto")(q, k, v), loss("xla")(q, k, v), rtol=1e-5)
        got, want = (jax.grad(loss(impl), argnums=(0, 1, 2))(q, k, v) for impl in ("auto", "xla"))
        for g, e in zip(got, want):
            np.testing.assert_allclose(g, e, atol=1e-5)


def test_implementations_agree_and_bad_choices_are_named():
    q, k, v = _operands("cross, Tq != Tk")
    native_out = dot_product_attention(q, k, v, implementation="native")
    np.testing.assert_allclose(dot_product_attention(q, k, v, implementation="xla"), native_out, atol=1e-5)
    with pytest.raises(ValueError, match="choose one of auto, native, xla, cudnn"):
        dot_product_attention(q, k, v, implementation="flash")
    with pytest.raises(ValueError, match="'native' takes no mask"):
        dot_product_attention(q, k, v, is_causal=True, implementation="native")
