"""GroupNorm against a numpy brute force (eq. 1-3 of Wu & He 2018) and against flax's GroupNorm,
values and gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.norm import GroupNorm
from flax.core.meta import unbox


def _numpy_group_norm(x, scale, bias, groups, eps):
    b, c = x.shape[0], x.shape[-1]
    xg = x.reshape(b, -1, groups, c // groups).astype(np.float64)
    mu = xg.mean(axis=(1, 3), keepdims=True)
    var = xg.var(axis=(1, 3), keepdims=True)
    return ((xg - mu) / np.sqrt(var + eps)).reshape(x.shape) * scale + bias


@pytest.mark.parametrize("shape,groups", [((3, 5, 4, 12), 4), ((2, 8, 8, 96), 32), ((4, 7, 6), 3), ((2, 6, 6, 8), 8)])
def test_matches_numpy_and_flax(shape, groups):
    x = jax.random.normal(jax.random.key(0), shape) * 3 + 2
    variables = unbox(GroupNorm(groups, 1e-6).init(jax.random.key(1), x))
    variables = jax.tree.map(lambda p: p + jax.random.normal(jax.random.key(2), p.shape), variables)
    p = variables["params"]
    y = GroupNorm(groups, 1e-6).apply(variables, x)
    np.testing.assert_allclose(y, _numpy_group_norm(np.asarray(x), p["scale"], p["bias"], groups, 1e-6), atol=2e-5)

    ref = nn.GroupNorm(num_groups=groups, epsilon=1e-6)
    cot = jax.random.normal(jax.random.key(3), shape)
    ours = jax.grad(lambda v, x: jnp.sum(GroupNorm(groups, 1e-6).apply(v, x) * cot), argnums=(0, 1))(variables, x)
    theirs = jax.grad(lambda v, x: jnp.sum(ref.apply(v, x) * cot), argnums=(0, 1))(variables, x)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_param_tree_equals_flax_and_bf16_keeps_dtype():
    x = jnp.ones((2, 4, 4, 16))
    ours = unbox(jax.eval_shape(GroupNorm(8).init, jax.random.key(0), x))  # names are metadata only
    theirs = jax.eval_shape(nn.GroupNorm(num_groups=8).init, jax.random.key(0), x)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    y = GroupNorm(8).apply(unbox(GroupNorm(8).init(jax.random.key(0), x)), x.astype(jnp.bfloat16))
    assert y.dtype == jnp.bfloat16


def test_indivisible_channels_is_a_clear_error():
    with pytest.raises(ValueError, match="not divisible into 4 groups"):
        GroupNorm(4).init(jax.random.key(0), jnp.ones((1, 2, 2, 6)))


def test_conditioning_and_activation_equal_the_unfused_composition():
    """GroupNorm(activation="silu")(x, add, scale, shift) = silu(GN(x + add) (1 + scale) + shift)."""
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 16))
    add, scale, shift = (jax.random.normal(jax.random.key(i), (2, 16)) for i in (1, 2, 3))
    variables = unbox(GroupNorm(8).init(jax.random.key(4), x))
    variables = jax.tree.map(lambda p: p + jax.random.normal(jax.random.key(5), p.shape), variables)
    ours = GroupNorm(8, activation="silu").apply(variables, x, add=add, scale=scale, shift=shift)
    ref = nn.GroupNorm(num_groups=8, epsilon=1e-6).apply(variables, x + add[:, None, None, :])
    ref = jax.nn.silu(ref * (1 + scale[:, None, None, :]) + shift[:, None, None, :])
    np.testing.assert_allclose(ours, ref, atol=2e-5)
