"""The fused group norm (input bias, per-example scale/shift, SiLU) with its hand-written derivative
against a float64 numpy brute force and against autodiff of the unfused composition written with
reshapes: values, reverse and forward mode, second order, vmap, with the native kernels (where they
build) and with XLA's lowering."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import native
from genjax.nn.group_norm import group_norm

CASES = {  # x shape, groups, per-example gamma/beta, input bias, activation
    "plain": ((3, 5, 4, 12), 4, False, False, None),
    "silu, 32 groups": ((2, 8, 8, 96), 32, False, False, "silu"),
    "scale/shift + silu": ((2, 4, 4, 16), 8, True, False, "silu"),
    "input bias + silu": ((3, 6, 6, 8), 2, False, True, "silu"),
    "tokens [B, N, C], all": ((2, 7, 6), 3, True, True, "silu"),
}


def _operands(name):
    shape, groups, per_example, with_add, act = CASES[name]
    b, c = shape[0], shape[-1]
    k = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(k[0], shape) * 3 + 2
    p_shape = (b, c) if per_example else (c,)
    gamma = 1 + 0.5 * jax.random.normal(k[1], p_shape)
    beta = jax.random.normal(k[2], p_shape)
    add = jax.random.normal(k[3], (b, c)) if with_add else None
    return x, groups, gamma, beta, add, act


def _numpy(x, groups, gamma, beta, add, act, eps=1e-6):
    x = np.asarray(x, np.float64)
    b, c = x.shape[0], x.shape[-1]
    u = x + (0 if add is None else np.asarray(add, np.float64).reshape(b, *[1] * (x.ndim - 2), c))
    ug = u.reshape(b, -1, groups, c // groups)
    xhat = (ug - ug.mean(axis=(1, 3), keepdims=True)) / np.sqrt(ug.var(axis=(1, 3), keepdims=True) + eps)
    per = lambda v: np.broadcast_to(np.asarray(v, np.float64), (b, c)).reshape(b, *[1] * (x.ndim - 2), c)  # noqa: E731
    z = xhat.reshape(x.shape) * per(gamma) + per(beta)
    return z / (1 + np.exp(-z)) if act == "silu" else z


def _unfused(x, groups, gamma, beta, add, act, eps=1e-6):
    """The same function in plain jnp, differentiated by JAX's autodiff."""
    b, c = x.shape[0], x.shape[-1]
    expand = lambda v: jnp.broadcast_to(v, (b, c)).reshape(b, *[1] * (x.ndim - 2), c)  # noqa: E731
    u = x + (0 if add is None else expand(add))
    ug = u.reshape(b, -1, groups, c // groups)
    mu = ug.mean(axis=(1, 3), keepdims=True)
    xhat = ((ug - mu) * jax.lax.rsqrt(((ug - mu) ** 2).mean(axis=(1, 3), keepdims=True) + eps)).reshape(x.shape)
    z = xhat * expand(gamma) + expand(beta)
    return jax.nn.silu(z) if act == "silu" else z


def _functions(name):
    x, groups, gamma, beta, add, act = _operands(name)
    ours = lambda x, g, b, a: group_norm(x, groups, g, b, add=a, activation=act)  # noqa: E731
    theirs = lambda x, g, b, a: _unfused(x, groups, g, b, a, act)  # noqa: E731
    return ours, theirs, (x, gamma, beta, add)


@pytest.mark.parametrize("name", CASES)
def test_values_gradients_and_jvp(name, backend):
    ours, theirs, args = _functions(name)
    x, groups, gamma, beta, add, act = _operands(name)
    np.testing.assert_allclose(jax.jit(ours)(*args), _numpy(x, groups, gamma, beta, add, act), atol=3e-5, rtol=1e-5)

    cot = jax.random.normal(jax.random.key(5), x.shape)
    diff = tuple(i for i, a in enumerate(args) if a is not None)
    loss = lambda f: lambda *a: jnp.sum(f(*a) * cot)  # noqa: E731
    g_ours = jax.jit(jax.grad(loss(ours), argnums=diff))(*args)
    g_theirs = jax.grad(loss(theirs), argnums=diff)(*args)
    for a, b in zip(g_ours, g_theirs):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)

    tangents = tuple(
        None if a is None else jax.random.normal(jax.random.key(6 + i), a.shape) for i, a in enumerate(args)
    )
    fix = lambda f: lambda *d: f(*[args[i] if i not in diff else d[diff.index(i)] for i in range(4)])  # noqa: E731
    primal = tuple(args[i] for i in diff)
    tan = tuple(tangents[i] for i in diff)
    np.testing.assert_allclose(
        jax.jit(lambda t: jax.jvp(fix(ours), primal, t)[1])(tan),
        jax.jvp(fix(theirs), primal, tan)[1],
        rtol=2e-4,
        atol=2e-4,
    )


def test_second_order_and_vmap(backend):
    ours, theirs, (x, gamma, beta, add) = _functions("tokens [B, N, C], all")
    f = lambda f: lambda x: jnp.sum(jnp.tanh(f(x, gamma, beta, add)))  # noqa: E731
    hvp = lambda f, t: jax.jvp(jax.grad(f), (x,), (t,))[1]  # noqa: E731
    t = jax.random.normal(jax.random.key(7), x.shape)
    np.testing.assert_allclose(jax.jit(lambda t: hvp(f(ours), t))(t), hvp(f(theirs), t), rtol=1e-3, atol=1e-4)
    stacked = [jnp.stack([a, 2 * a]) for a in (x, gamma, beta, add)]
    np.testing.assert_allclose(jax.jit(jax.vmap(ours))(*stacked), jax.vmap(theirs)(*stacked), atol=3e-5)


def test_the_native_kernel_is_what_runs_on_cpu():
    """On a single-device CPU float32 program the forward and backward lower to the FFI kernels."""
    if not native.onednn():
        pytest.skip("the native kernels are not available here")
    ours, _, (x, gamma, beta, add) = _functions("input bias + silu")
    hlo = jax.jit(jax.grad(lambda x: jnp.sum(ours(x, gamma, beta, add)))).lower(x).as_text()
    assert "genjax_group_norm_fwd" in hlo and "genjax_group_norm_bwd" in hlo


def test_large_offset_keeps_precision(backend):
    """Statistics of u = x + p with a large common offset (the kernel's variance is two-pass)."""
    x, groups, gamma, beta, add, act = _operands("input bias + silu")
    x = x * 0.1 + 50.0
    ours = jax.jit(lambda x: group_norm(x, groups, gamma, beta, add=add, activation=act))(x)
    np.testing.assert_allclose(ours, _numpy(x, groups, gamma, beta, add, act), atol=2e-2 if backend == "xla" else 1e-3)


def test_bfloat16_keeps_dtype_and_bad_arguments_are_clear():
    ours, _, (x, gamma, beta, add) = _functions("scale/shift + silu")
    low = ours(x.astype(jnp.bfloat16), gamma, beta, add)
    assert low.dtype == jnp.bfloat16
    np.testing.assert_allclose(low.astype(jnp.float32), ours(x, gamma, beta, add), atol=5e-2)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        group_norm(x, 8, gamma, beta, activation="gelu")
    with pytest.raises(ValueError, match="not divisible into 5 groups"):
        group_norm(x, 5, gamma, beta)
