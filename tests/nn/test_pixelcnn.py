"""The gated PixelCNN's receptive field, by brute force over every (output, input) pixel pair."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.pixelcnn import PixelCNN


def _dependencies(net, x, labels=None):
    """deps[i, j, k, l, c] = whether some output at pixel (i, j) has a nonzero gradient w.r.t. x[k, l, c]."""
    params = net.init(jax.random.PRNGKey(0), x, labels)
    jac = jax.jacrev(lambda x: net.apply(params, x, labels)[0])(x)  # [H, W, out, 1, H, W, C]
    return np.asarray(jnp.abs(jac).sum(axis=2)[:, :, 0] > 0)  # [H, W, H, W, C]


def _strictly_before(height, width, channels):
    before = np.zeros((height, width, height, width, channels), bool)
    for i in range(height):
        for j in range(width):
            for k in range(height):
                for m in range(width):
                    before[i, j, k, m, :] = (k, m) < (i, j)
    return before


@pytest.mark.parametrize("kernel_size, num_layers, conditional", [(3, 5, False), (5, 3, True)])
def test_output_depends_exactly_on_the_pixels_before_it(kernel_size, num_layers, conditional):
    """Every pixel strictly before (i, j) in raster order, up-right ones included (no blind spot),
    and none at or after it (all channels of the pixel itself excluded)."""
    height, width, channels = 4, 5, 2
    net = PixelCNN(out_channels=3, features=4, num_layers=num_layers, kernel_size=kernel_size, hidden=8,
                   num_classes=3 if conditional else None)  # fmt: skip
    x = jax.random.normal(jax.random.PRNGKey(1), (1, height, width, channels))
    labels = jnp.array([2]) if conditional else None
    deps = _dependencies(net, x, labels)
    np.testing.assert_array_equal(deps, _strictly_before(height, width, channels))


def test_the_receptive_field_grows_layer_by_layer():
    """One layer of 3x3 kernels: the 2 x 3 window above and the 2 pixels to the left (a check
    that the brute force distinguishes windows)."""
    net = PixelCNN(out_channels=1, features=4, num_layers=1, kernel_size=3, hidden=8)
    deps = _dependencies(net, jax.random.normal(jax.random.PRNGKey(1), (1, 5, 5, 1)))[2, 2, :, :, 0]
    expected = np.zeros((5, 5), bool)
    expected[0:2, 1:4] = True  # rows i-2, i-1; columns j-1 .. j+1
    expected[2, 0:2] = True  # columns j-2, j-1 of the row
    np.testing.assert_array_equal(deps, expected)


def test_params_carry_logical_axis_names():
    net = PixelCNN(out_channels=2, features=4, num_layers=2, hidden=8, num_classes=3)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 4, 4, 1)), jnp.zeros((1,), jnp.int32))["params"]
    specs = nn.get_partition_spec(params)
    assert tuple(specs["layer_1"]["vertical"]["kernel"]) == (None, None, "conv_in", "conv_out")
    assert tuple(specs["label_embedding"]["embedding"]) == ("vocab", "embed")
    assert all(
        isinstance(leaf, nn.Partitioned)
        for leaf in jax.tree.leaves(params, is_leaf=lambda v: isinstance(v, nn.Partitioned))
    )
