"""GAN layers against explicit numpy / per-sample computations."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn import gan_layers as L
from flax.core.meta import unbox

RNG = np.random.default_rng(0)


def _np_conv_same(x, w):  # x [H, W, Ci], w [k, k, Ci, Co], 'SAME' zero padding
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x, ((p, p), (p, p), (0, 0)))
    h, wd = x.shape[:2]
    out = np.zeros((h, wd, w.shape[-1]))
    for i in range(h):
        for j in range(wd):
            out[i, j] = np.tensordot(xp[i : i + k, j : j + k], w, axes=3)
    return out


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_matches_explicit_per_sample_convolution(demodulate):
    x = RNG.normal(size=(3, 5, 5, 4))
    weight = RNG.normal(size=(3, 3, 4, 2))
    styles = RNG.normal(size=(3, 4)) + 1.0
    y = L.modulated_conv2d(
        jnp.asarray(x, jnp.float32), jnp.asarray(weight, jnp.float32), jnp.asarray(styles, jnp.float32), demodulate
    )
    for n in range(3):
        w_n = weight * styles[n][None, None, :, None]  # eq. 1: w' = s_i w
        if demodulate:  # eq. 3
            w_n = w_n / np.sqrt(np.sum(w_n**2, axis=(0, 1, 2), keepdims=True) + 1e-8)
        np.testing.assert_allclose(y[n], _np_conv_same(x[n], w_n), rtol=1e-4, atol=1e-4)


def test_demodulation_restores_unit_variance():
    # Karras et al. 2020 sec. 2.2: with unit-variance i.i.d. inputs the outputs have unit std.
    x = jax.random.normal(jax.random.key(0), (8, 16, 16, 32))
    w = jax.random.normal(jax.random.key(1), (3, 3, 32, 16))
    s = jax.random.uniform(jax.random.key(2), (8, 32), minval=0.1, maxval=3.0)
    y = L.modulated_conv2d(x, w, s)[:, 1:-1, 1:-1]
    assert abs(float(jnp.std(y)) - 1.0) < 0.05


def test_minibatch_stddev_matches_loops():
    x = RNG.normal(size=(8, 3, 3, 4)).astype(np.float32)
    g, f = 4, 2
    out = np.asarray(L.minibatch_stddev(jnp.asarray(x), group_size=g, num_channels=f))
    assert out.shape == (8, 3, 3, 6)
    np.testing.assert_array_equal(out[..., :4], x)
    m = 8 // g
    for i in range(8):
        members = [j for j in range(8) if j % m == i % m]
        for c in range(f):
            sl = x[members][..., c * 2 : (c + 1) * 2]  # [G, H, W, C/F]
            expect = np.sqrt(sl.var(axis=0) + 1e-8).mean()
            np.testing.assert_allclose(out[i, :, :, 4 + c], expect, rtol=1e-5)
    flat = L.minibatch_stddev(jnp.asarray(x[:, 0, 0]), group_size=2)
    assert flat.shape == (8, 5)
    with pytest.raises(ValueError, match="group size"):
        L.minibatch_stddev(jnp.zeros((6, 2)), group_size=4)


def test_equalized_dense_is_scaled_dense():
    layer = L.EqualizedDense(3, lr_multiplier=0.01, bias_init=1.0)
    x = jnp.asarray(RNG.normal(size=(2, 5)), jnp.float32)
    p = unbox(layer.init(jax.random.key(0), x))["params"]
    k, b = np.asarray(p["kernel"]), np.asarray(p["bias"])
    # Stored weights have std 1/lr_mult; effective weight is kernel * lr_mult / sqrt(fan_in).
    assert 30 < np.std(k) < 300
    ref = np.asarray(x) @ (k * 0.01 / math.sqrt(5)) + b * 0.01
    np.testing.assert_allclose(layer.apply({"params": p}, x), ref, rtol=1e-5)
    np.testing.assert_allclose(b * 0.01, 1.0, rtol=1e-6)


def _fir_1331(x, axis):  # [1, 3, 3, 1] upsampling along one axis, interior values only
    n = x.shape[axis]
    x = np.moveaxis(x, axis, 0)
    out = np.zeros((2 * n,) + x.shape[1:])
    for i in range(1, n):  # output 2i-1 and 2i lie between inputs i-1 and i
        out[2 * i - 1] = 0.75 * x[i - 1] + 0.25 * x[i]
        out[2 * i] = 0.25 * x[i - 1] + 0.75 * x[i]
    return np.moveaxis(out, 0, axis)


def test_resampling_filters():
    x = RNG.normal(size=(1, 6, 6, 2)).astype(np.float32)
    up = np.asarray(L.upsample2x(jnp.asarray(x)))
    ref = _fir_1331(_fir_1331(x, 1), 2)
    np.testing.assert_allclose(up[:, 1:-1, 1:-1], ref[:, 1:-1, 1:-1], rtol=1e-5, atol=1e-6)
    down = np.asarray(L.downsample2x(jnp.asarray(x)))
    f = np.array([1, 3, 3, 1]) / 8.0
    k = np.outer(f, f)
    # Output (i, j) covers inputs 2i-1 .. 2i+2 (interior outputs only).
    for i in range(1, 2):
        for j in range(1, 2):
            patch = x[0, 2 * i - 1 : 2 * i + 3, 2 * j - 1 : 2 * j + 3]
            np.testing.assert_allclose(down[0, i, j], np.tensordot(k, patch, axes=2), rtol=1e-5)


def test_noise_injection_and_pixel_norm():
    layer = L.NoiseInjection()
    x = jnp.ones((2, 4, 4, 3))
    p = unbox(layer.init({"params": jax.random.key(0), "noise": jax.random.key(1)}, x))
    p = jax.tree.map(lambda v: v + 0.5, p)
    y = layer.apply(p, x, rngs={"noise": jax.random.key(2)})
    assert y.shape == x.shape
    assert np.allclose(y[..., 0], y[..., 1])  # one noise image shared by all channels
    assert not np.allclose(y, x)
    np.testing.assert_allclose(layer.apply(p, x, noise=jnp.zeros((2, 4, 4, 1))), x)
    v = jnp.asarray(RNG.normal(size=(3, 5)), jnp.float32)
    np.testing.assert_allclose(jnp.mean(L.pixel_norm(v) ** 2, -1), 1.0, rtol=1e-5)
