"""GAN networks: the projection discriminator written out by hand, DCGAN/SNGAN sizing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.dcgan import num_upsamplings
from genjax.nn.mlp_gan import MLPDiscriminator, MLPGenerator
from flax.core.meta import unbox


def test_projection_discriminator_matches_explicit_formula():
    # Miyato & Koyama 2018, eq. 3: D(x, y) = psi(phi(x)) + embed(y)^T phi(x).
    d = MLPDiscriminator(width=5, depth=2, act="relu", num_classes=3)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2)), jnp.float32)
    y = jnp.array([0, 2, 1, 2])
    p = unbox(d.init(jax.random.key(0), x, y))["params"]
    h = np.asarray(x)
    for i in range(2):
        h = np.maximum(h @ np.asarray(p[f"hidden_{i}"]["kernel"]) + np.asarray(p[f"hidden_{i}"]["bias"]), 0)
    out = h @ np.asarray(p["out"]["kernel"])[:, 0] + np.asarray(p["out"]["bias"])[0]
    out += np.sum(np.asarray(p["embed"]["embedding"])[np.asarray(y)] * h, axis=-1)
    np.testing.assert_allclose(d.apply({"params": p}, x, y), out, rtol=1e-5, atol=1e-6)


def test_mlp_generator_shape_and_conditioning():
    g = MLPGenerator((3, 2), width=8, depth=1, num_classes=4)
    z = jnp.ones((2, 5))
    p = unbox(g.init(jax.random.key(0), z, jnp.array([0, 1])))
    a = g.apply(p, z, jnp.array([0, 1]))
    assert a.shape == (2, 3, 2)
    assert not np.allclose(a[0], a[1])  # same z, different labels


def test_dcgan_sizes():
    assert num_upsamplings(28) == (7, 2)
    assert num_upsamplings(32) == (4, 3)
    assert num_upsamplings(64) == (4, 4)
    with pytest.raises(ValueError, match="image size"):
        num_upsamplings(7)
