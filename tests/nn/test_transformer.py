"""The decoder-only transformer: named params, causality, RoPE, the KV cache, scan and remat."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.transformer import Transformer, rope
from genjax.parallel import axes

KW = dict(vocab_size=13, max_len=12, num_layers=2, num_heads=2, dim=16)


def _init(model, batch=2, length=12):
    tokens = jax.random.randint(jax.random.PRNGKey(0), (batch, length), 0, model.vocab_size)
    return tokens, model.init(jax.random.PRNGKey(1), tokens)["params"]


@pytest.mark.parametrize("scan_layers", [False, True])
def test_every_param_has_logical_axis_names(scan_layers):
    _, params = _init(Transformer(**KW, scan_layers=scan_layers))
    leaves = jax.tree.leaves(params, is_leaf=lambda x: isinstance(x, nn.Partitioned))
    assert leaves and all(isinstance(p, nn.LogicallyPartitioned) for p in leaves)
    for p in leaves:
        assert len(p.names) == p.value.ndim
        assert {n for n in p.names if n is not None} <= set(axes.ALL)
        assert any(n is not None for n in p.names)


def test_logits_are_causal():
    model = Transformer(**KW)
    tokens, params = _init(model)
    logits, _ = model.apply({"params": params}, tokens)
    changed, _ = model.apply({"params": params}, tokens.at[:, 7].set((tokens[:, 7] + 1) % 13))
    np.testing.assert_array_equal(logits[:, :7], changed[:, :7])
    assert np.abs(logits[:, 7:] - changed[:, 7:]).max() > 1e-4


def test_rope_scores_depend_on_relative_position_only():
    """<R_m q, R_n k> = <R_{m+s} q, R_{n+s} k>: rotations by m theta and n theta (RoFormer eq. 16);
    for head size 2 the rotation by angle m is the 2x2 rotation matrix."""
    q, k = jax.random.normal(jax.random.PRNGKey(0), (2, 1, 1, 1, 8))
    score = lambda m, n: jnp.sum(rope(q, jnp.array([m])) * rope(k, jnp.array([n])))  # noqa: E731
    np.testing.assert_allclose(score(3, 1), score(10, 8), rtol=1e-5)
    assert abs(score(3, 1) - score(3, 2)) > 1e-3
    x = jnp.array([1.0, 0.0]).reshape(1, 1, 1, 2)
    np.testing.assert_allclose(rope(x, jnp.array([2]))[0, 0, 0], [np.cos(2.0), np.sin(2.0)], rtol=1e-6)


@pytest.mark.parametrize("scan_layers, remat", [(False, False), (True, False), (False, True), (True, True)])
def test_cached_decoding_equals_the_full_forward_pass(scan_layers, remat):
    model = Transformer(**KW, scan_layers=scan_layers, remat=remat)
    tokens, params = _init(model)
    params = nn.unbox(params)
    full, _ = model.apply({"params": params}, tokens)
    logits, cache = model.apply({"params": params}, tokens[:, :5], 0, model.init_cache(2))  # prefill
    steps = [logits]
    for t in range(5, 12):
        logits, cache = model.apply({"params": params}, tokens[:, t : t + 1], t, cache)
        steps.append(logits)
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, atol=1e-5, rtol=1e-5)


def test_scan_and_remat_compute_the_same_function_as_the_loop():
    loop, scanned = Transformer(**KW), Transformer(**KW, scan_layers=True, remat=True)
    tokens, params = _init(loop)
    params = nn.unbox(params)
    blocks = [params.pop(f"block_{i}") for i in range(KW["num_layers"])]
    stacked = {**params, "layers": jax.tree.map(lambda *b: jnp.stack(b), *blocks)}
    want, _ = loop.apply({"params": {**params, **{f"block_{i}": b for i, b in enumerate(blocks)}}}, tokens)
    got, _ = scanned.apply({"params": stacked}, tokens)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    grad = jax.grad(lambda p: scanned.apply({"params": p}, tokens)[0].sum())(stacked)
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grad))


@pytest.mark.parametrize("scan_layers", [False, True])
def test_dropout_acts_in_training_only(scan_layers):
    model = Transformer(**KW, dropout=0.5, scan_layers=scan_layers)
    tokens, params = _init(model)
    plain, _ = Transformer(**KW, scan_layers=scan_layers).apply({"params": params}, tokens)
    np.testing.assert_array_equal(model.apply({"params": params}, tokens)[0], plain)
    train = lambda seed: model.apply(  # noqa: E731
        {"params": params}, tokens, train=True, rngs={"dropout": jax.random.PRNGKey(seed)}
    )[0]
    assert np.abs(train(0) - plain).max() > 1e-3 and np.abs(train(0) - train(1)).max() > 1e-3
    np.testing.assert_array_equal(train(0), train(0))


def test_heads_must_split_dim_evenly():
    with pytest.raises(ValueError, match="heads of even size"):
        _init(Transformer(**{**KW, "dim": 18, "num_heads": 2}))  # heads of 9
