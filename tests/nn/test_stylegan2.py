"""StyleGAN2 generator/discriminator: style mixing, truncation, w_avg, noise, padding."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn import stylegan2 as S

KW = dict(w_dim=8, mapping_layers=2, channel_base=64, channel_max=4)


@pytest.fixture(scope="module")
def gen():
    g = S.StyleGAN2Generator((12, 12, 1), **KW)  # generated at 16x16, cropped to 12x12
    z = jax.random.normal(jax.random.key(0), (4, 8))
    init = jax.jit(g.init, static_argnames="train")
    variables = init({"params": jax.random.key(1), "noise": jax.random.key(2)}, z, train=True)
    return g, z, variables


def test_sizes():
    assert S.padded_resolution(28) == 32 and S.padded_resolution(32) == 32
    assert S.num_ws(32) == 8 and S.num_ws(1024) == 18  # the paper's 18 styles at 1024^2
    assert S.channels(32, 32768, 512) == 512 and S.channels(1024, 32768, 512) == 32


def test_style_mixing_and_truncation(gen):
    g, z, v = gen
    n = S.num_ws(16)
    ws = g.apply(v, z, None, False, method="map")
    assert ws.shape == (4, n, 8)
    np.testing.assert_array_equal(ws[:, 0], ws[:, -1])  # no mixing at eval
    mixed, _ = g.apply(v, z, None, True, 1.0, method="map", rngs={"noise": jax.random.key(3)}, mutable=["w_avg"])
    for i in range(4):  # one crossover per example: a prefix of w1, then w2
        same = np.all(np.isclose(mixed[i], ws[i]), axis=-1)
        k = int(np.argmin(same))
        assert 1 <= k < n and same[:k].all() and not same[k:].any()
    psi0 = g.apply(v, z, None, False, 1.0, 0.0, method="map")
    np.testing.assert_allclose(psi0, np.broadcast_to(v["w_avg"]["w_avg"], psi0.shape), atol=1e-6)


def test_w_avg_tracks_mapped_latents(gen):
    g, z, v = gen
    _, upd = g.apply(v, z, train=True, mutable=["w_avg"], rngs={"noise": jax.random.key(0)})
    w = g.apply(v, z, None, False, method="map")[:, 0]
    expect = v["w_avg"]["w_avg"] + (1 - 0.995) * (w.mean(0) - v["w_avg"]["w_avg"])
    np.testing.assert_allclose(upd["w_avg"]["w_avg"], expect, rtol=1e-5, atol=1e-7)


def test_noise_inputs_and_output_shape(gen):
    g, z, v = gen
    # Non-zero noise strengths so the noise inputs matter.
    params = jax.tree_util.tree_map_with_path(
        lambda p, a: a + 0.5 if "strength" in jax.tree_util.keystr(p) else a, v["params"]
    )
    v = {**v, "params": params}
    a = g.apply(v, z, rngs={"noise": jax.random.key(0)})
    b = g.apply(v, z, rngs={"noise": jax.random.key(1)})
    c = g.apply(v, z, noise_mode="const", rngs={"noise": jax.random.key(0)})
    d = g.apply(v, z, noise_mode="const", rngs={"noise": jax.random.key(1)})
    assert a.shape == (4, 12, 12, 1)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(c, d)


def test_discriminator_pads_and_projects():
    d = S.StyleGAN2Discriminator(64, 4, mbstd_group=2, num_classes=3)
    x = jax.random.normal(jax.random.key(0), (4, 12, 12, 1))
    y = jnp.array([0, 1, 2, 0])
    v = jax.jit(d.init)(jax.random.key(1), x, y)
    apply = jax.jit(d.apply)
    out = apply(v, x, y)
    assert out.shape == (4,)
    out2 = apply(v, x, jnp.array([1, 1, 1, 1]))
    assert not np.allclose(out, out2)
    assert math.isfinite(float(out.sum()))
