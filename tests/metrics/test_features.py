"""Batched, sharded feature extraction: padding, value ranges, 8 fake devices vs 1."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.metrics import domain
from genjax.metrics.features import RAW, Extractor, extract


def _classifier_extractor():
    params = domain.DomainClassifier().init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))["params"]
    return Extractor("test", domain._domain_apply, params, domain.IMAGE_SHAPE)


def test_extract_matches_direct_application_with_padding():
    ex = _classifier_extractor()
    images = np.random.default_rng(0).integers(0, 256, (37, 28, 28, 1)).astype(np.uint8)
    out = extract(ex, images, (0, 255), batch_size=16)  # 3 batches, the last padded
    features, logits = domain.DomainClassifier().apply({"params": ex.variables}, images.astype(np.float32))
    np.testing.assert_allclose(out["features"], features, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["logits"], logits, rtol=1e-5, atol=1e-5)


def test_extract_maps_value_range_to_pixels():
    x = np.random.default_rng(1).uniform(-1, 1, (5, 4, 4, 3)).astype(np.float32)
    out = extract(RAW, x, (-1.0, 1.0), batch_size=4)["features"]
    np.testing.assert_allclose(out, ((x + 1) / 2).reshape(5, -1), rtol=1e-6, atol=1e-6)


def test_extract_validates_inputs():
    ex = _classifier_extractor()
    with pytest.raises(ValueError, match="needs images of shape"):
        extract(ex, np.zeros((2, 32, 32, 3)), (0, 255))
    with pytest.raises(ValueError, match="value_range"):
        extract(RAW, np.zeros((2, 4, 4, 1)), (1, 0))
    with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
        extract(RAW, np.zeros((2, 4, 4)), (0, 1))


SHARDED = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh
    from genjax.metrics import domain
    from genjax.metrics.features import Extractor, extract
    assert jax.device_count() == 8
    params = domain.DomainClassifier().init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))["params"]
    ex = Extractor("test", domain._domain_apply, params, domain.IMAGE_SHAPE)
    images = np.random.default_rng(0).integers(0, 256, (43, 28, 28, 1)).astype(np.uint8)
    devices = np.array(jax.devices())
    eight = extract(ex, images, (0, 255), batch_size=12, mesh=Mesh(devices.reshape(4, 2), ("data", "fsdp")))
    one = extract(ex, images, (0, 255), batch_size=12, mesh=Mesh(devices[:1].reshape(1, 1), ("data", "fsdp")))
    for k in one:
        np.testing.assert_allclose(eight[k], one[k], rtol=1e-5, atol=1e-5)
    print("OK", eight["features"].shape)
    """
)


@pytest.mark.slow
def test_sharded_extraction_on_8_devices_matches_1_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK (43, 128)" in result.stdout
